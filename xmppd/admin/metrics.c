/*
 * metrics.c: the core's Prometheus families and the event-loop lag timer.
 *
 * Everything is read when /metrics is asked: counters from xs_core_stats
 * (bumped by net/stream.c and router.c), gauges from the structures that
 * know them (session manager, s2s streams, database pool).  Nothing here
 * allocates per request beyond the evbuffer the answer goes into.
 */
#include "xmppd/admin/metrics.h"

#include "db/pgq.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/core/stats.h"
#include "xmppd/router.h"
#include "xmppd/s2s/s2s.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <string.h>
#include <time.h>

/* The one definition of the core's counters (stats.h). */
struct xs_core_stats xs_core_stats;

/*
 * Upper bounds of the lag histogram's buckets, in microseconds; the last
 * bucket (+Inf) has none.  loop_lag_buckets[i] counts the samples in
 * (bound[i-1], bound[i]], not cumulatively: the text format's cumulative
 * counts are summed when written.
 */
static const uint64_t metrics_lag_bounds_us[] = {
    250, 500, 1000, 2000, 5000, 10000, 50000, 100000, 500000,
};
static const char *const metrics_lag_le[] = {
    "0.00025", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.05", "0.1",
    "0.5", "+Inf",
};
_Static_assert(XS_ARRAY_LEN(metrics_lag_bounds_us) + 1
    == XS_ARRAY_LEN(xs_core_stats.loop_lag_buckets),
    "one bound per bucket but +Inf");
_Static_assert(XS_ARRAY_LEN(metrics_lag_le)
    == XS_ARRAY_LEN(xs_core_stats.loop_lag_buckets), "one le per bucket");

static struct {
    struct event_base *base;        /* borrowed */
    struct event      *lag_ev;      /* owned */
    uint64_t           lag_due_us;  /* when the timer should fire */
    uint64_t           started_us;
} metrics;

/*
 * Microseconds of CLOCK_MONOTONIC.  xs_now_ms() is too coarse for a lag
 * whose interesting range starts at a quarter of a millisecond.
 */
static uint64_t
metrics_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

void
xs_metrics_lag_record(uint64_t lag_us)
{
    struct xs_core_stats *st = &xs_core_stats;
    size_t i = 0;

    while (i < XS_ARRAY_LEN(metrics_lag_bounds_us)
        && lag_us > metrics_lag_bounds_us[i])
        i++;
    st->loop_lag_buckets[i]++;
    st->loop_lag_count++;
    st->loop_lag_sum_us += lag_us;
    if (lag_us > st->loop_lag_max_us)
        st->loop_lag_max_us = lag_us;
}

static void
metrics_lag_arm(void)
{
    struct timeval tv = { .tv_usec = XS_METRICS_LAG_PERIOD_US };

    /* Inside a callback libevent measures timeouts from the time cached
     * when this loop pass began; refresh it so that its deadline and
     * ours are the same instant, or the callbacks that ran before this
     * one would hide as much lag. */
    event_base_update_cache_time(metrics.base);
    metrics.lag_due_us = metrics_now_us() + XS_METRICS_LAG_PERIOD_US;
    if (event_add(metrics.lag_ev, &tv) != 0)
        xs_log(XS_LOG_ERR, "metrics: cannot re-arm the loop-lag timer");
}

/* A one-shot timer re-armed each time: a persistent one would be due
 * relative to its previous deadline and skip ticks after a stall. */
static void
metrics_lag_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = metrics_now_us();

    (void)fd, (void)what, (void)arg;
    xs_metrics_lag_record(now > metrics.lag_due_us
        ? now - metrics.lag_due_us : 0);
    metrics_lag_arm();
}

xs_rc
xs_metrics_start(struct event_base *base)
{
    xs_assert(metrics.lag_ev == NULL);
    metrics.base = base;
    metrics.started_us = metrics_now_us();
    metrics.lag_ev = evtimer_new(base, metrics_lag_cb, NULL);
    if (metrics.lag_ev == NULL) {
        xs_log(XS_LOG_ERR, "metrics: cannot create the loop-lag timer");
        return XS_EIO;
    }
    metrics_lag_arm();
    return XS_OK;
}

void
xs_metrics_stop(void)
{
    if (metrics.lag_ev != NULL)
        event_free(metrics.lag_ev);     /* deletes it if pending */
    metrics.lag_ev = NULL;
    metrics.base = NULL;
}

void
xs_metrics_family(struct evbuffer *out, const char *name, const char *type,
    const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help,
        name, type);
}

void
xs_metrics_label_value(struct evbuffer *out, const char *value)
{
    const char *p = value;

    while (*p != '\0') {
        size_t n = strcspn(p, "\\\"\n");

        evbuffer_add(out, p, n);
        p += n;
        if (*p == '\0')
            break;
        evbuffer_add(out, *p == '\n' ? "\\n" : *p == '"' ? "\\\"" : "\\\\",
            2);
        p++;
    }
}

/* "1.234567" from microseconds: exact, no floating point. */
static void
metrics_add_seconds(struct evbuffer *out, uint64_t us)
{
    evbuffer_add_printf(out, "%" PRIu64 ".%06" PRIu64, us / 1000000u,
        us % 1000000u);
}

/* A family with one label over the c2s and s2s streams. */
static void
metrics_by_stream(struct evbuffer *out, const char *name, const char *help,
    const uint64_t *v)
{
    static const char *const names[XS_STATS__STREAMS] = {
        [XS_STATS_C2S] = "c2s", [XS_STATS_S2S] = "s2s",
    };

    xs_metrics_family(out, name, "counter", help);
    for (size_t i = 0; i < XS_STATS__STREAMS; i++)
        evbuffer_add_printf(out, "%s{stream=\"%s\"} %" PRIu64 "\n", name,
            names[i], v[i]);
}

static void
metrics_counter(struct evbuffer *out, const char *name, const char *help,
    uint64_t v)
{
    xs_metrics_family(out, name, "counter", help);
    evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v);
}

static void
metrics_gauge(struct evbuffer *out, const char *name, const char *help,
    uint64_t v)
{
    xs_metrics_family(out, name, "gauge", help);
    evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v);
}

static void
metrics_s2s_count(const struct xs_s2s_info *info, void *udata)
{
    size_t *by_dir = udata;

    by_dir[info->dir == XS_S2S_IN ? 0 : 1]++;
}

static void
metrics_write_streams(struct evbuffer *out)
{
    const struct xs_core_stats *st = &xs_core_stats;
    const struct xs_router_stats *rs = xs_router_stats();
    size_t s2s[2] = { 0, 0 };

    metrics_gauge(out, "xmppd_c2s_sessions",
        "Client sessions with a bound resource", xs_sm_count());
    xs_s2s_list(metrics_s2s_count, s2s);
    xs_metrics_family(out, "xmppd_s2s_streams", "gauge",
        "Live server-to-server streams, by who opened them");
    evbuffer_add_printf(out, "xmppd_s2s_streams{direction=\"in\"} %zu\n"
        "xmppd_s2s_streams{direction=\"out\"} %zu\n", s2s[0], s2s[1]);

    metrics_by_stream(out, "xmppd_stanzas_in_total",
        "Stanzas received, parsed and accepted", st->stanzas_in);
    metrics_by_stream(out, "xmppd_stanzas_out_total",
        "Stanzas serialized to a peer", st->stanzas_out);
    metrics_by_stream(out, "xmppd_stream_errors_total",
        "Stream errors the server sent", st->stream_errors);
    metrics_counter(out, "xmppd_stanza_errors_total",
        "Stanza error replies the server generated", st->stanza_errors);
    metrics_by_stream(out, "xmppd_rate_limited_total",
        "Times a stream was slowed down by its shaper", st->rate_limited);

    xs_metrics_family(out, "xmppd_routed_stanzas_total", "counter",
        "Stanzas routed, by what happened to them");
    evbuffer_add_printf(out,
        "xmppd_routed_stanzas_total{outcome=\"routed\"} %" PRIu64 "\n"
        "xmppd_routed_stanzas_total{outcome=\"delivered\"} %" PRIu64 "\n"
        "xmppd_routed_stanzas_total{outcome=\"dropped\"} %" PRIu64 "\n"
        "xmppd_routed_stanzas_total{outcome=\"bounced\"} %" PRIu64 "\n",
        rs->routed, rs->delivered, rs->dropped, rs->bounced);
}

static void
metrics_write_db(const struct pgq *db, struct evbuffer *out)
{
    struct pgq_stats ps;

    pgq_stats(db, &ps);
    metrics_counter(out, "xmppd_db_queries_total",
        "Database requests completed with a result", ps.queries);
    metrics_counter(out, "xmppd_db_errors_total",
        "Database statements that failed (of the completed requests)",
        ps.errors);
    metrics_counter(out, "xmppd_db_failed_total",
        "Database requests failed without a result (connection lost or "
        "none up in time)", ps.failed_io);
    metrics_counter(out, "xmppd_db_rejected_total",
        "Database requests refused because the wait queue was full",
        ps.rejected + ps.bg_rejected);
    metrics_counter(out, "xmppd_db_reconnects_total",
        "Database connections re-established after a loss", ps.reconnects);
    metrics_gauge(out, "xmppd_db_waiting",
        "Database requests waiting for a connection", ps.waiting
        + ps.bg_waiting);
    metrics_gauge(out, "xmppd_db_in_flight",
        "Database requests sent and not yet completed", ps.in_flight);
    metrics_gauge(out, "xmppd_db_connections_up",
        "Database connections up", ps.conns_up);
    metrics_gauge(out, "xmppd_db_pool_size",
        "Database connections configured (sql_pool_size)", ps.pool_size);

    xs_metrics_family(out, "xmppd_db_query_latency_seconds", "summary",
        "Database request latency, from queued to completed");
    evbuffer_add_printf(out, "xmppd_db_query_latency_seconds_sum ");
    metrics_add_seconds(out, ps.latency_ms_sum * 1000u);
    evbuffer_add_printf(out, "\nxmppd_db_query_latency_seconds_count %"
        PRIu64 "\n", ps.queries);
    xs_metrics_family(out, "xmppd_db_query_latency_max_seconds", "gauge",
        "Slowest database request since start");
    evbuffer_add_printf(out, "xmppd_db_query_latency_max_seconds ");
    metrics_add_seconds(out, ps.latency_ms_max * 1000u);
    evbuffer_add(out, "\n", 1);
}

static void
metrics_write_loop(struct evbuffer *out)
{
    const struct xs_core_stats *st = &xs_core_stats;
    uint64_t cum = 0;

    xs_metrics_family(out, "xmppd_loop_lag_seconds", "histogram",
        "How late a timer due every 50 ms fires: time the event loop "
        "was busy or blocked");
    for (size_t i = 0; i < XS_ARRAY_LEN(st->loop_lag_buckets); i++) {
        cum += st->loop_lag_buckets[i];
        evbuffer_add_printf(out,
            "xmppd_loop_lag_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
            metrics_lag_le[i], cum);
    }
    evbuffer_add_printf(out, "xmppd_loop_lag_seconds_sum ");
    metrics_add_seconds(out, st->loop_lag_sum_us);
    evbuffer_add_printf(out, "\nxmppd_loop_lag_seconds_count %" PRIu64 "\n",
        st->loop_lag_count);
    xs_metrics_family(out, "xmppd_loop_lag_max_seconds", "gauge",
        "Largest event-loop lag since start");
    evbuffer_add_printf(out, "xmppd_loop_lag_max_seconds ");
    metrics_add_seconds(out, st->loop_lag_max_us);
    evbuffer_add(out, "\n", 1);
}

void
xs_metrics_write(const struct xs_server *srv, struct evbuffer *out)
{
    xs_metrics_family(out, "xmppd_build_info", "gauge",
        "Always 1; the version is a label");
    evbuffer_add_printf(out, "xmppd_build_info{version=\"%s\"} 1\n",
        XS_VERSION);
    xs_metrics_family(out, "xmppd_uptime_seconds", "gauge",
        "Seconds since xmppd started");
    evbuffer_add_printf(out, "xmppd_uptime_seconds ");
    metrics_add_seconds(out, metrics.started_us != 0
        ? metrics_now_us() - metrics.started_us : 0);
    evbuffer_add(out, "\n", 1);

    metrics_write_streams(out);
    if (srv != NULL && srv->db != NULL)
        metrics_write_db(srv->db, out);
    metrics_write_loop(out);
    xs_modules_each_metrics(out);
}
