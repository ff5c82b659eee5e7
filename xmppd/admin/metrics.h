/*
 * metrics.h: GET /metrics on the admin HTTP listener, in the Prometheus
 * text exposition format 0.0.4: the core's families (sessions, s2s
 * streams, stanza and error counters from xmppd/core/stats.h, routing,
 * the database pool, uptime, event-loop lag), then those of every loaded
 * module whose descriptor has `.metrics` (xs_modules_each_metrics).
 *
 * The event-loop lag is measured here: a timer due every 50 ms records
 * how late it fires into xs_core_stats.loop_lag_*.  A loop stalled by a
 * blocking call or a long callback shows up in the high buckets.
 */
#ifndef XMPPD_ADMIN_METRICS_H
#define XMPPD_ADMIN_METRICS_H

#include "xmppd/core/xs.h"

struct evbuffer;
struct event_base;
struct xs_server;

/* The Content-Type of the text format. */
#define XS_METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

/* How often the lag timer is due. */
#define XS_METRICS_LAG_PERIOD_US 50000

/*
 * Start measuring the loop lag on base (and the uptime).  XS_EIO if the
 * timer cannot be added.  Call once the base exists; base must outlive
 * xs_metrics_stop().
 */
xs_rc xs_metrics_start(struct event_base *base);
/* Stop the timer and free it; safe when not started. */
void  xs_metrics_stop(void);

/* Record one lag sample (microseconds) in xs_core_stats. */
void  xs_metrics_lag_record(uint64_t lag_us);

/*
 * Append every family to out: the core's, read from srv and the core's
 * counters now, then the loaded modules'.
 */
void  xs_metrics_write(const struct xs_server *srv, struct evbuffer *out);

/*
 * For modules' `.metrics`: the "# HELP" and "# TYPE" lines of a family
 * (type: "counter", "gauge", "histogram", "summary" or "untyped"; help is
 * static text without backslashes or newlines).
 */
void  xs_metrics_family(struct evbuffer *out, const char *name,
          const char *type, const char *help);

/*
 * For label values that come from data (a domain, a level name): append
 * value to out escaped as the text format wants inside double quotes
 * (backslash, double quote and newline escaped).
 */
void  xs_metrics_label_value(struct evbuffer *out, const char *value);

#endif
