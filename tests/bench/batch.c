/*
 * batch.c: log many clients in with a bounded number of handshakes in
 * flight (the set-up of every scenario), close many cleanly, and run the
 * loop for a while or until a flag is set.
 */
#include "tests/bench/loadgen.h"

#include <stdio.h>
#include <string.h>

#include <event2/event.h>

/* ---- running the loop ---------------------------------------------- */

static void
run_wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;    /* only ends event_base_loop */
}

bool
lg_run_until(struct lg_ctx *ctx, const bool *flag, double s)
{
    uint64_t deadline = lg_now_ns() + (uint64_t)(s * 1e9);
    struct event *wake = evtimer_new(ctx->base, run_wake_cb, NULL);

    /* EVLOOP_ONCE returns after each batch of callbacks, so the flag is
     * seen as soon as a callback sets it (event_base_loopbreak() before
     * the loop starts would be lost). */
    while (flag == NULL || !*flag) {
        uint64_t now = lg_now_ns();
        struct timeval tv;

        if (now >= deadline)
            break;
        tv.tv_sec = (time_t)((deadline - now) / 1000000000u);
        tv.tv_usec = (suseconds_t)((deadline - now) % 1000000000u / 1000u);
        evtimer_add(wake, &tv);
        event_base_loop(ctx->base, EVLOOP_ONCE);
    }
    event_free(wake);
    return flag != NULL && *flag;
}

void
lg_sleep(struct lg_ctx *ctx, double s)
{
    (void)lg_run_until(ctx, NULL, s);
}

void
lg_settle(struct lg_ctx *ctx, double max_s)
{
    const struct lg_opts *o = ctx->opts;
    uint64_t end = lg_now_ns() + (uint64_t)(max_s * 1e9);

    if (o->server_pid <= 0)
        return;
    while (lg_now_ns() < end) {
        struct lg_cpu_window w;
        struct lg_cpu_use use;

        lg_cpu_window_start(ctx, &w);
        lg_sleep(ctx, 0.5);
        lg_cpu_window_end(ctx, &w, &use);
        if (use.server < 0 || (use.server < 0.1 &&
            (use.aux < 0 || use.aux < 0.1) &&
            (use.server2 < 0 || use.server2 < 0.1)))
            return;
    }
    lg_say("the server was still busy after %.0f s", max_s);
}

/* ---- logging many in ------------------------------------------------ */

#define BATCH_MAX_FAILED 10

struct batch {
    struct lg_ctx     *ctx;             /* borrowed */
    unsigned           n, first, stride, concurrency;
    bool               close_after;
    struct lg_client **v;               /* the caller's out, or owned */
    struct lg_samples *login_ms;        /* borrowed; may be NULL */
    unsigned           next, inflight, bound, failed, ended;
    bool               is_done;
    char               first_err[128];
};

static void batch_fill(struct batch *b);

static void
batch_check(struct batch *b)
{
    if (b->bound + b->failed < b->n)
        return;
    if (b->close_after && b->ended < b->n)
        return;
    b->is_done = true;
}

static void
batch_on_bound(struct lg_client *c)
{
    struct batch *b = c->udata;

    b->bound++;
    b->inflight--;
    if (b->login_ms != NULL)
        lg_samples_add_ns(b->login_ms, c->t_bound - c->t_start);
    if (b->close_after)
        lg_client_close(c);
    batch_fill(b);
    batch_check(b);
}

static void
batch_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    (void)c, (void)el;
}

static void
batch_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct batch *b = c->udata;

    b->ended++;
    if (c->t_bound == 0) {
        b->inflight--;
        b->failed++;
        if (b->first_err[0] == '\0')
            snprintf(b->first_err, sizeof(b->first_err), "%s", why);
    } else if (!b->close_after) {
        /* A held session that went away during the set-up. */
        b->bound--;
        b->failed++;
        if (b->first_err[0] == '\0')
            snprintf(b->first_err, sizeof(b->first_err), "dropped: %s",
                why);
    } else if (how != LG_END_OK && b->first_err[0] == '\0') {
        snprintf(b->first_err, sizeof(b->first_err), "close: %s", why);
    }
    b->v[c->idx] = NULL;
    lg_client_free(c);
    batch_fill(b);
    batch_check(b);
}

static const struct lg_client_ops batch_ops = {
    .on_bound = batch_on_bound,
    .on_stanza = batch_on_stanza,
    .on_end = batch_on_end,
};

static void
batch_fill(struct batch *b)
{
    const struct lg_opts *o = b->ctx->opts;

    /* Many failures mean a broken set-up (a limit, wrong accounts):
     * stop starting logins rather than wait out thousands of timeouts. */
    if (b->failed > BATCH_MAX_FAILED && b->failed * 10 > b->n) {
        b->n = b->next;
        return;
    }
    while (b->next < b->n && b->inflight < b->concurrency) {
        unsigned i = b->next++;
        unsigned user = o->user_first + (unsigned)(((uint64_t)b->first -
            o->user_first + (uint64_t)i * b->stride) % o->nusers);
        struct lg_client *c = lg_client_new(b->ctx, user, &batch_ops, b);

        c->idx = i;
        c->on_peer = o->port2 != 0 && (i & 1u) != 0;
        b->v[i] = c;
        b->inflight++;
        (void)lg_client_start(c);       /* a failure comes via on_end */
    }
}

xs_rc
lg_batch_login(struct lg_ctx *ctx, unsigned n, unsigned first,
    unsigned concurrency, bool close_after, struct lg_client **out,
    struct lg_samples *login_ms, unsigned *failed)
{
    return lg_batch_login_stride(ctx, n, first, 1, concurrency, close_after,
        out, login_ms, failed);
}

xs_rc
lg_batch_login_stride(struct lg_ctx *ctx, unsigned n, unsigned first,
    unsigned stride, unsigned concurrency, bool close_after,
    struct lg_client **out, struct lg_samples *login_ms, unsigned *failed)
{
    struct batch b;
    /* Every client has its own timeout; this only bounds the whole. */
    double limit = 60.0 + (double)n * 0.05;

    memset(&b, 0, sizeof(b));
    b.ctx = ctx;
    b.n = n;
    b.first = first;
    b.stride = stride > 0 ? stride : 1;
    b.concurrency = concurrency > 0 ? concurrency : 1;
    b.close_after = close_after;
    b.v = out != NULL ? out : xs_calloc(n, sizeof(*b.v));
    b.login_ms = login_ms;
    memset(b.v, 0, n * sizeof(b.v[0]));
    batch_fill(&b);
    batch_check(&b);
    if (!b.is_done && !lg_run_until(ctx, &b.is_done, limit))
        lg_say("login batch did not finish in %.0f s: %u of %u bound, "
            "%u failed", limit, b.bound, n, b.failed);
    if (b.n < n)
        lg_say("login batch stopped after %u failures", b.failed);
    /* Failed, unfinished or never started. */
    b.failed = n - b.bound;
    *failed = b.failed;
    if (b.failed > 0)
        lg_say("%u of %u logins failed; first: %s", b.failed, n,
            b.first_err);
    /* Held clients still point at b: the caller sets their ops next.
     * Anything else still open (unfinished, or closing after a timeout)
     * would call back into b: drop it now. */
    for (unsigned i = 0; i < n; i++) {
        if (b.v[i] != NULL && (out == NULL || close_after ||
            !lg_client_is_bound(b.v[i]))) {
            lg_client_free(b.v[i]);
            b.v[i] = NULL;
        }
    }
    if (out == NULL)
        xs_free(b.v);
    return b.failed == 0 ? XS_OK : XS_EIO;
}

/* ---- closing many --------------------------------------------------- */

struct closer {
    unsigned  left;
    unsigned  failed;
    bool      is_done;
    struct lg_client **v;       /* borrowed */
};

static void
closer_on_bound(struct lg_client *c)
{
    (void)c;
}

static void
closer_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct closer *cl = c->udata;

    (void)why;
    if (how != LG_END_OK)
        cl->failed++;
    cl->v[c->idx] = NULL;
    lg_client_free(c);
    if (--cl->left == 0)
        cl->is_done = true;
}

static const struct lg_client_ops closer_ops = {
    .on_bound = closer_on_bound,
    .on_stanza = batch_on_stanza,
    .on_end = closer_on_end,
};

void
lg_batch_close(struct lg_ctx *ctx, struct lg_client **v, unsigned n,
    double timeout_s)
{
    struct closer cl = { .v = v };

    for (unsigned i = 0; i < n; i++) {
        if (v[i] == NULL)
            continue;
        v[i]->ops = &closer_ops;
        v[i]->udata = &cl;
        v[i]->idx = i;
        cl.left++;
    }
    if (cl.left == 0)
        return;
    for (unsigned i = 0; i < n; i++) {
        if (v[i] != NULL)
            lg_client_close(v[i]);
    }
    if (cl.left > 0)
        (void)lg_run_until(ctx, &cl.is_done, timeout_s);
    if (cl.left > 0 || cl.failed > 0)
        lg_say("close: %u not closed in %.0f s, %u unclean", cl.left,
            timeout_s, cl.failed);
    for (unsigned i = 0; i < n; i++) {
        lg_client_free(v[i]);
        v[i] = NULL;
    }
}
