/*
 * stats.h: the core's counters, for /metrics (xmppd/admin/metrics.c) and
 * `xmppctl stats`.  Plain integers bumped on the loop (one thread): no
 * atomics, no locks.  Gauges that a structure already knows (sessions,
 * s2s streams, database pool) are read from it when /metrics is asked,
 * not mirrored here.
 */
#ifndef XMPPD_CORE_STATS_H
#define XMPPD_CORE_STATS_H

#include <stdint.h>

enum xs_stats_stream {
    XS_STATS_C2S,
    XS_STATS_S2S,
    XS_STATS__STREAMS
};

struct xs_core_stats {
    uint64_t stanzas_in[XS_STATS__STREAMS];     /* parsed and accepted */
    uint64_t stanzas_out[XS_STATS__STREAMS];    /* serialized to a peer */
    uint64_t stream_errors[XS_STATS__STREAMS];  /* stream errors we sent */
    uint64_t stanza_errors;     /* error replies the server generated */
    uint64_t rate_limited[XS_STATS__STREAMS];   /* shaper waits begun */
    /* Event-loop lag: how late a periodic timer fires (metrics.c). */
    uint64_t loop_lag_buckets[10];  /* <= 0.25, 0.5, 1, 2, 5, 10, 50, 100,
                                       500 ms, +Inf */
    uint64_t loop_lag_count;
    uint64_t loop_lag_sum_us;
    uint64_t loop_lag_max_us;
};

extern struct xs_core_stats xs_core_stats;

#endif
