/*
 * idle.c: N sessions logged in and held; the server's resident memory
 * before and after says what one idle authenticated session costs.
 *
 * RSS is read from /proc/PID/status (VmRSS) of --server-pid: once a few
 * base sessions are held (IDLE_BASE: what the first logins initialize
 * lazily, TLS and database state, is not a per-session cost), after all
 * N more are bound and a settling pause, and at the end of the hold
 * (allocator caches and a garbage collector may move it either way; both
 * figures are reported).  Memory freed by earlier sessions is reused by
 * the allocator without showing in RSS, so measure on a fresh server.
 */
#include "tests/bench/loadgen.h"

#include <stdio.h>

#define IDLE_BASE       10
#define IDLE_SETTLE_S   2.0
#define IDLE_CLOSE_S    30.0

struct idle {
    struct lg_client **v;       /* borrowed: the held sessions */
    unsigned           dropped;
    char               first_err[128];
};

static void
idle_on_bound(struct lg_client *c)
{
    (void)c;
}

static void
idle_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    (void)c, (void)el;          /* presence from the server: nothing to do */
}

static void
idle_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct idle *st = c->udata;

    (void)how;
    st->dropped++;
    if (st->first_err[0] == '\0')
        snprintf(st->first_err, sizeof(st->first_err), "%s", why);
    st->v[c->idx] = NULL;
    lg_client_free(c);
}

static const struct lg_client_ops idle_ops = {
    .on_bound = idle_on_bound,
    .on_stanza = idle_on_stanza,
    .on_end = idle_on_end,
};

static double
idle_per_session(long before, long after, unsigned n)
{
    if (before < 0 || after < 0 || n == 0)
        return -1;
    return (double)(after - before) / (double)n;
}

int
lg_run_idle(struct lg_ctx *ctx)
{
    const struct lg_opts *o = ctx->opts;
    unsigned n = o->sessions, failed = 0, held = 0, nbase = IDLE_BASE;
    struct lg_client **v = xs_calloc(n + IDLE_BASE, sizeof(*v));
    struct lg_client **base = v + n;
    struct idle st = { .v = v };
    struct lg_samples login_ms;
    struct lg_result r;
    long rss0 = -1, rss1 = -1, rss2 = -1;
    uint64_t t0;
    double login_s;
    struct lg_cpu_window w;
    struct lg_cpu_use use;

    lg_samples_init(&login_ms);
    if (lg_batch_login(ctx, nbase, o->user_first + n, nbase, false, base,
        NULL, &failed) != XS_OK) {
        lg_say("idle: the %u base sessions failed", nbase);
        lg_batch_close(ctx, base, nbase, IDLE_CLOSE_S);
        xs_free(v);
        return 1;
    }
    for (unsigned i = 0; i < nbase; i++) {
        base[i]->ops = &idle_ops;
        base[i]->udata = &st;
        base[i]->idx = n + i;
    }
    lg_sleep(ctx, IDLE_SETTLE_S);
    if (o->server_pid > 0)
        rss0 = lg_rss_kb(o->server_pid);
    lg_say("idle: logging in %u sessions (%u at a time)", n, o->concurrency);
    lg_cpu_window_start(ctx, &w);
    t0 = lg_now_ns();
    (void)lg_batch_login(ctx, n, o->user_first, o->concurrency, false, v,
        &login_ms, &failed);
    login_s = (double)(lg_now_ns() - t0) / 1e9;
    lg_cpu_window_end(ctx, &w, &use);
    for (unsigned i = 0; i < n; i++) {
        if (v[i] != NULL) {
            v[i]->ops = &idle_ops;
            v[i]->udata = &st;
            v[i]->idx = i;
        }
    }
    lg_sleep(ctx, IDLE_SETTLE_S);
    if (o->server_pid > 0)
        rss1 = lg_rss_kb(o->server_pid);
    lg_say("idle: %u bound in %.1f s; holding %.0f s", n - failed, login_s,
        o->hold);
    lg_sleep(ctx, o->hold);
    if (o->server_pid > 0)
        rss2 = lg_rss_kb(o->server_pid);
    for (unsigned i = 0; i < n; i++)
        held += v[i] != NULL;

    lg_result_init(&r, ctx, "idle");
    lg_result_int(&r, "sessions", n);
    lg_result_int(&r, "held", held);
    lg_result_int(&r, "failed", failed);
    lg_result_int(&r, "dropped", st.dropped);
    lg_result_num(&r, "login_s", login_s, 2);
    lg_result_num(&r, "login_p50_ms", lg_samples_pct_ms(&login_ms, 50), 2);
    lg_result_num(&r, "login_p99_ms", lg_samples_pct_ms(&login_ms, 99), 2);
    lg_result_int(&r, "rss_before_kb", rss0);
    lg_result_int(&r, "rss_after_kb", rss1);
    lg_result_int(&r, "rss_end_kb", rss2);
    lg_result_num(&r, "kb_per_session", idle_per_session(rss0, rss1, held),
        2);
    lg_result_num(&r, "kb_per_session_end",
        idle_per_session(rss0, rss2, held), 2);
    lg_result_num(&r, "setup_gen_cpu", use.gen, 2);
    lg_result_num(&r, "setup_server_cpu", use.server, 2);
    lg_result_str(&r, "tls", ctx->tls_info);
    lg_result_emit(&r);
    if (rss0 >= 0 && held > 0)
        lg_say("idle %s: %u sessions held, server RSS %ld -> %ld KB "
            "(%.1f KB/session; %.1f at the end of the hold)", o->label, held,
            rss0, rss1, idle_per_session(rss0, rss1, held),
            idle_per_session(rss0, rss2, held));
    if (st.dropped > 0)
        lg_say("idle: %u sessions dropped while held; first: %s",
            st.dropped, st.first_err);

    lg_batch_close(ctx, v, n + nbase, IDLE_CLOSE_S);
    xs_free(v);
    lg_samples_fini(&login_ms);
    return failed == 0 && st.dropped == 0 ? 0 : 1;
}
