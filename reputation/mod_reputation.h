/*
 * mod_reputation.h: the parts of mod_reputation, internal to reputation/.
 *
 * mod_reputation.c  the module: options, the engine, loading it from
 *                   PostgreSQL before the listeners open, persisting
 *                   admitted evidence, pruning, the descriptor's tables
 * sources.c         evidence sources: observers of blocking, reports,
 *                   activity and rosters; hooks on subscription answers
 *                   and replies; rate-limit and s2s events
 * query.c           XEP-0275 score queries and XEP-0489 account
 *                   affiliation queries
 * ops.c             operator verbs (xmppctl, admin API) and /metrics
 * explain_json.c    an explanation's lines as JSON (ops.c, and the
 *                   subscription gate's audit entries, gate.c)
 */
#ifndef XMPPD_REPUTATION_MOD_REPUTATION_H
#define XMPPD_REPUTATION_MOD_REPUTATION_H

#include "reputation/reputation.h"
#include "xmppd/admin/admin.h"
#include "xmppd/core/module.h"

#include <event2/buffer.h>

/* The module's state (one per server). */
struct xs_mod_rep {
    struct xs_rep   *rep;           /* owned */
    struct xs_rep_policy policy;    /* owned: as configured */
    struct event    *prune_timer;   /* owned */
    struct event    *drain_timer;   /* owned: shutdown drain poll, or NULL */
    bool             is_loaded;     /* the start-up load completed */
};

/* sources.c: register / remove the observers (called from init / fini);
 * the hooks and events are in the descriptor tables below. */
xs_rc xs_rep_sources_start(struct xs_mod_rep *m);
void  xs_rep_sources_stop(struct xs_mod_rep *m);
extern const struct xs_hook_spec  xs_rep_source_hooks[];   /* NULL-fn ended */
extern const struct xs_event_spec xs_rep_source_events[];  /* NULL-fn ended */

/* mod_reputation.c: at shutdown (XS_EV_SERVER_DRAINING), hold the exit
 * until the evidence queue is committed. */
void  xs_rep_on_draining(enum xs_event ev, void *arg, void *mod_state);

/* query.c */
extern const struct xs_iq_spec    xs_rep_query_iqs[];      /* NULL-fn ended */
extern const char *const          xs_rep_query_features[]; /* NULL ended */

/* ops.c */
extern const struct xs_admin_cmd  xs_rep_ops_commands[];   /* NULL ended */
/* The timer of sliced walks (census for /metrics, reputation_list): start
 * with the engine, stop before it is freed (walks borrow it). */
xs_rc xs_rep_ops_start(struct xs_mod_rep *m);
void  xs_rep_ops_stop(struct xs_mod_rep *m);
void  xs_rep_ops_metrics(struct evbuffer *out, void *mod_state);

/* explain_json.c */
/* Points to two decimals: what an operator reads, not float noise. */
json_t *xs_rep_json_points(double v);
/* A JSON string of s: NULL reads as "", and a text cut inside a UTF-8
 * sequence loses the partial character rather than the whole member. */
json_t *xs_rep_json_str(const char *s);

/* Who reads a line: the members differ, and each reader's stay as they
 * were first shipped. */
enum xs_rep_line_style {
    XS_REP_LINE_OPERATOR,   /* reputation_explain: what, source_kind,
                               source, weight, points, age ("3d 4h"; ""
                               for a feature), note */
    XS_REP_LINE_AUDIT,      /* an audit entry: what, source_kind, source,
                               points, age (seconds; null for a feature),
                               note */
};
/* One line of an explanation taken at now, as a new JSON object. */
json_t *xs_rep_line_json(const struct xs_rep_line *l, int64_t now,
            enum xs_rep_line_style style);

#endif
