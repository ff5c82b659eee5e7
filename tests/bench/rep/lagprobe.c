/*
 * tests/bench/rep/lagprobe.c: the control of issue 5's loop-lag bench.
 *
 * An event loop that does nothing but measure itself exactly as xmppd's
 * /metrics does (xmppd/admin/metrics.c: a one-shot timer due every 50 ms,
 * re-armed from its callback, on a base with precise timers; the lateness
 * in the same buckets).  tests/bench/rep.sh runs it on xmppd's core: its
 * lag is what the machine alone does to a loop there (other processes,
 * interrupts, the hypervisor), so a tail that xmppd and the probe share
 * is not xmppd's.
 *
 *   lagprobe --out FILE
 *
 * On SIGUSR1 it writes its histogram so far to FILE (through FILE.tmp and
 * a rename) in the Prometheus text format, as family
 * probe_loop_lag_seconds, plus probe_dumps_total (how many times it
 * wrote) so that a reader can tell a fresh dump from the last one.  Runs
 * until SIGTERM or SIGINT.
 */
#include "xmppd/core/xs.h"

#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define LP_PERIOD_US    50000   /* as XS_METRICS_LAG_PERIOD_US */
#define LP_USAGE        "usage: lagprobe --out FILE (SIGUSR1 writes FILE)\n"

/* The bounds of xmppd_loop_lag_seconds, in microseconds; the last bucket
 * (+Inf) has none. */
static const uint64_t lp_bounds_us[] = {
    250, 500, 1000, 2000, 5000, 10000, 50000, 100000, 500000,
};
static const char *const lp_le[] = {
    "0.00025", "0.0005", "0.001", "0.002", "0.005", "0.01", "0.05", "0.1",
    "0.5", "+Inf",
};
_Static_assert(XS_ARRAY_LEN(lp_bounds_us) + 1 == XS_ARRAY_LEN(lp_le),
    "one bound per bucket but +Inf");

static struct {
    const char        *out;     /* borrowed: argv */
    struct event_base *base;    /* owned */
    struct event      *timer;   /* owned */
    uint64_t           due_us;
    uint64_t           buckets[XS_ARRAY_LEN(lp_le)];
    uint64_t           count;
    uint64_t           sum_us;
    uint64_t           max_us;
    uint64_t           dumps;
} lp;

static uint64_t
lp_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void
lp_arm(void)
{
    struct timeval tv = { .tv_usec = LP_PERIOD_US };

    /* As metrics.c: libevent measures the timeout from the time cached
     * when the loop pass began; refresh it so both deadlines agree. */
    event_base_update_cache_time(lp.base);
    lp.due_us = lp_now_us() + LP_PERIOD_US;
    xs_assert(event_add(lp.timer, &tv) == 0);
}

static void
lp_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    uint64_t now = lp_now_us(), lag = now > lp.due_us ? now - lp.due_us : 0;
    size_t i = 0;

    (void)fd, (void)what, (void)arg;
    while (i < XS_ARRAY_LEN(lp_bounds_us) && lag > lp_bounds_us[i])
        i++;
    lp.buckets[i]++;
    lp.count++;
    lp.sum_us += lag;
    if (lag > lp.max_us)
        lp.max_us = lag;
    lp_arm();
}

static void
lp_dump_cb(evutil_socket_t fd, short what, void *arg)
{
    char tmp[4096];
    uint64_t cum = 0;
    FILE *f;
    int n;

    (void)fd, (void)what, (void)arg;
    n = snprintf(tmp, sizeof(tmp), "%s.tmp", lp.out);
    if (n < 0 || (size_t)n >= sizeof(tmp))
        return;
    if ((f = fopen(tmp, "w")) == NULL) {
        fprintf(stderr, "lagprobe: %s: cannot write\n", tmp);
        return;
    }
    fprintf(f, "# TYPE probe_loop_lag_seconds histogram\n");
    for (size_t i = 0; i < XS_ARRAY_LEN(lp_le); i++) {
        cum += lp.buckets[i];
        fprintf(f, "probe_loop_lag_seconds_bucket{le=\"%s\"} %" PRIu64 "\n",
            lp_le[i], cum);
    }
    fprintf(f, "probe_loop_lag_seconds_sum %.6f\n",
        (double)lp.sum_us / 1e6);
    fprintf(f, "probe_loop_lag_seconds_count %" PRIu64 "\n", lp.count);
    fprintf(f, "probe_loop_lag_max_seconds %.6f\n", (double)lp.max_us / 1e6);
    fprintf(f, "probe_dumps_total %" PRIu64 "\n", ++lp.dumps);
    if (fclose(f) != 0 || rename(tmp, lp.out) != 0)
        fprintf(stderr, "lagprobe: %s: cannot write\n", lp.out);
}

static void
lp_stop_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    event_base_loopbreak(lp.base);
}

int
main(int argc, char **argv)
{
    static const struct option longs[] = {
        { "out", required_argument, NULL, 'o' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    struct event_config *cfg;
    struct event *usr1, *term, *intr;
    int c;

    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'o':
            lp.out = optarg;
            break;
        case 'h':
            fputs(LP_USAGE, stdout);
            return 0;
        default:
            fputs(LP_USAGE, stderr);
            return 2;
        }
    }
    if (lp.out == NULL || optind != argc) {
        fputs(LP_USAGE, stderr);
        return 2;
    }
    /* xmppd's own base is made this way (core/main.c). */
    cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    lp.base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (lp.base == NULL) {
        fputs("lagprobe: event_base_new failed\n", stderr);
        return 2;
    }
    lp.timer = evtimer_new(lp.base, lp_timer_cb, NULL);
    usr1 = evsignal_new(lp.base, SIGUSR1, lp_dump_cb, NULL);
    term = evsignal_new(lp.base, SIGTERM, lp_stop_cb, NULL);
    intr = evsignal_new(lp.base, SIGINT, lp_stop_cb, NULL);
    xs_assert(lp.timer != NULL && usr1 != NULL && term != NULL &&
        intr != NULL);
    event_add(usr1, NULL);
    event_add(term, NULL);
    event_add(intr, NULL);
    lp_arm();
    event_base_dispatch(lp.base);
    event_free(lp.timer);
    event_free(usr1);
    event_free(term);
    event_free(intr);
    event_base_free(lp.base);
    return 0;
}
