/*
 * chat.c: P pairs of sessions; each sender sends to its partner's full
 * JID.  Open loop: a 1 ms timer sends whatever the schedule (aggregate
 * rate R, round-robin over the senders) says is due, whatever the server
 * answers.  Each message carries its step, sequence number and send time
 * (monotonic ns) in its body; the receiver computes the latency.
 *
 * A step: warm-up, then the measured window, then a drain (no sending)
 * until every message of the step arrived or DRAIN_S passed.  Messages
 * sent inside the window are the ones counted: latency percentiles, and
 * lost = sent in window - received by the end of the drain.  Delivered
 * msgs/s counts receptions inside the window.
 *
 * A step passes when nothing was lost, no session dropped, delivered >=
 * 95% of offered and p99 <= the limit (50 ms by default).  --find-max
 * steps the rate up (and bisects) to the highest passing rate.
 */
#include "tests/bench/loadgen.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#define CHAT_TICK_US        1000
#define CHAT_DRAIN_S        3.0
#define CHAT_PAUSE_S        0.5
#define CHAT_SETTLE_S       15.0
#define CHAT_MIN_DELIVERED  0.95

struct chat_step {
    double   rate, delivered, sent_rate;
    double   p50, p99, pmax;
    struct lg_cpu_use cpu;
    double   max_lag_ms;
    uint64_t sent_win, recv_win, lost, late;
    unsigned dropped;
    bool     is_pass;
};

struct chat {
    struct lg_ctx     *ctx;         /* borrowed */
    unsigned           pairs;
    struct lg_client **v;           /* owned array: 2i sends to 2i+1 */
    struct event      *tick;        /* owned */
    unsigned           step;
    double             rate;
    uint64_t           t0, t_win0, t_win1, t_stop, t_drain_end;
    uint64_t           seq, sent, recv, sent_win, recv_win, recv_in_win;
    uint64_t           late;        /* from earlier steps */
    double             max_lag;     /* messages overdue at a tick */
    unsigned           rr, dropped;
    bool               is_sending, is_step_done, in_window, is_win_done;
    struct lg_cpu_window cpu;
    struct lg_cpu_use  use;
    struct lg_samples  lat;
    struct chat_step   best;
    char               first_err[128];
};

static void
chat_send_one(struct chat *ch, uint64_t now)
{
    unsigned i = ch->rr++ % ch->pairs;
    struct lg_client *s = ch->v[2 * i], *d = ch->v[2 * i + 1];
    char buf[512];
    int n;

    ch->sent++;
    ch->seq++;
    if (now >= ch->t_win0 && now < ch->t_win1)
        ch->sent_win++;
    if (s == NULL || d == NULL)
        return;                 /* a dropped pair: counts as lost */
    n = snprintf(buf, sizeof(buf), "<message to='%s' type='chat' "
        "id='m%" PRIu64 "'><body>lg %u %" PRIu64 " %" PRIu64
        "</body></message>", d->jid, ch->seq, ch->step, ch->seq, now);
    xs_assert(n > 0 && (size_t)n < sizeof(buf));
    lg_client_send(s, buf, (size_t)n);
}

static void
chat_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct chat *ch = arg;
    uint64_t now = lg_now_ns();

    (void)fd, (void)what;
    if (!ch->in_window && !ch->is_win_done && now >= ch->t_win0) {
        ch->in_window = true;
        lg_cpu_window_start(ch->ctx, &ch->cpu);
    }
    if (ch->in_window && now >= ch->t_win1) {
        ch->in_window = false;
        ch->is_win_done = true;
        lg_cpu_window_end(ch->ctx, &ch->cpu, &ch->use);
    }
    if (ch->is_sending) {
        double due;

        if (now >= ch->t_stop) {
            ch->is_sending = false;
            ch->t_drain_end = now + (uint64_t)(CHAT_DRAIN_S * 1e9);
        } else {
            due = ch->rate * (double)(now - ch->t0) / 1e9;
            if (due - (double)ch->sent > ch->max_lag)
                ch->max_lag = due - (double)ch->sent;
            while ((double)ch->sent < due)
                chat_send_one(ch, now);
            /* now is per tick: messages of one tick share a send time,
             * which is when they were handed to the socket. */
        }
    }
    if (!ch->is_sending && (ch->recv >= ch->sent || now >= ch->t_drain_end))
        ch->is_step_done = true;
}

static void
chat_on_bound(struct lg_client *c)
{
    (void)c;
}

bool
lg_stamp_parse(const struct xs_elem *el, const char *ns, const char *name,
    unsigned *step, uint64_t *seq, uint64_t *ts)
{
    const struct xs_elem *b = xs_elem_child(el, ns, name), *t;
    char *text = NULL;
    const char *p;
    bool ok;

    if (b == NULL)
        return false;
    t = b->first;
    if (t != NULL && t->type == XS_NODE_TEXT && t->next == NULL)
        p = t->text;
    else
        p = text = xs_elem_text(b);
    ok = sscanf(p, "lg %u %" SCNu64 " %" SCNu64, step, seq, ts) == 3;
    xs_free(text);
    return ok;
}

static void
chat_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    struct chat *ch = c->udata;
    unsigned step;
    uint64_t seq, ts, now;

    if (strcmp(el->name, "message") != 0 ||
        !lg_stamp_parse(el, NULL, "body", &step, &seq, &ts))
        return;
    now = lg_now_ns();
    if (step != ch->step) {
        ch->late++;
        return;
    }
    ch->recv++;
    if (ts >= ch->t_win0 && ts < ch->t_win1) {
        ch->recv_win++;
        lg_samples_add_ns(&ch->lat, now - ts);
    }
    if (now >= ch->t_win0 && now < ch->t_win1)
        ch->recv_in_win++;
}

static void
chat_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct chat *ch = c->udata;

    (void)how;
    ch->dropped++;
    if (ch->first_err[0] == '\0')
        snprintf(ch->first_err, sizeof(ch->first_err), "%s", why);
    ch->v[c->idx] = NULL;
    lg_client_free(c);
}

static const struct lg_client_ops chat_ops = {
    .on_bound = chat_on_bound,
    .on_stanza = chat_on_stanza,
    .on_end = chat_on_end,
};

static void
chat_emit(struct chat *ch, const char *scenario, const struct chat_step *s)
{
    const struct lg_opts *o = ch->ctx->opts;
    struct lg_result r;

    lg_result_init(&r, ch->ctx, scenario);
    lg_result_int(&r, "pairs", ch->pairs);
    lg_result_num(&r, "rate", s->rate, 0);
    lg_result_num(&r, "sent_rate", s->sent_rate, 0);
    lg_result_num(&r, "delivered", s->delivered, 0);
    lg_result_num(&r, "p50_ms", s->p50, 3);
    lg_result_num(&r, "p99_ms", s->p99, 3);
    lg_result_num(&r, "max_ms", s->pmax, 3);
    lg_result_int(&r, "sent_win", (long long)s->sent_win);
    lg_result_int(&r, "recv_win", (long long)s->recv_win);
    lg_result_int(&r, "lost", (long long)s->lost);
    lg_result_int(&r, "dropped", s->dropped);
    lg_result_num(&r, "gen_cpu", s->cpu.gen, 2);
    lg_result_num(&r, "server_cpu", s->cpu.server, 2);
    lg_result_num(&r, "aux_cpu", s->cpu.aux, 2);
    if (o->port2 != 0) {
        lg_result_str(&r, "route", "s2s");
        lg_result_num(&r, "server2_cpu", s->cpu.server2, 2);
    }
    lg_result_num(&r, "core_busy", s->cpu.core, 2);
    lg_result_num(&r, "core_other", lg_cpu_other(&s->cpu), 2);
    lg_result_num(&r, "gen_lag_ms", s->max_lag_ms, 1);
    lg_result_num(&r, "duration", o->duration, 1);
    lg_result_str(&r, "pass", s->is_pass ? "yes" : "no");
    lg_result_str(&r, "tls", ch->ctx->tls_info);
    lg_result_emit(&r);
}

/* One step at `rate`; lg_step_fn. */
static bool
chat_step_run(struct lg_ctx *ctx, void *arg, double rate)
{
    const struct lg_opts *o = ctx->opts;
    struct chat *ch = arg;
    struct chat_step s;
    struct timeval tv = { .tv_sec = 0, .tv_usec = CHAT_TICK_US };
    uint64_t now = lg_now_ns();
    unsigned dropped0 = ch->dropped;
    char g[16], sv[16], s2[16];
    /* The warm-up, the window, the drain and some slack. */
    double limit = o->warmup + o->duration + CHAT_DRAIN_S + 10.0;

    ch->step++;
    ch->rate = rate;
    ch->t0 = now;
    ch->t_win0 = now + (uint64_t)(o->warmup * 1e9);
    ch->t_win1 = ch->t_win0 + (uint64_t)(o->duration * 1e9);
    ch->t_stop = ch->t_win1;
    ch->sent = ch->recv = ch->sent_win = ch->recv_win = ch->recv_in_win = 0;
    ch->max_lag = 0;
    ch->is_sending = true;
    ch->is_step_done = ch->in_window = ch->is_win_done = false;
    ch->use.gen = ch->use.server = ch->use.aux = ch->use.core = -1;
    ch->use.server2 = -1;
    lg_samples_reset(&ch->lat);
    evtimer_add(ch->tick, &tv);
    if (!lg_run_until(ctx, &ch->is_step_done, limit))
        lg_say("chat: step at %.0f/s did not finish in %.0f s", rate, limit);
    event_del(ch->tick);

    memset(&s, 0, sizeof(s));
    s.rate = rate;
    s.sent_rate = (double)ch->sent_win / o->duration;
    s.delivered = (double)ch->recv_in_win / o->duration;
    s.p50 = lg_samples_pct_ms(&ch->lat, 50);
    s.p99 = lg_samples_pct_ms(&ch->lat, 99);
    s.pmax = lg_samples_pct_ms(&ch->lat, 100);
    s.sent_win = ch->sent_win;
    s.recv_win = ch->recv_win;
    s.lost = ch->sent_win > ch->recv_win ? ch->sent_win - ch->recv_win : 0;
    s.late = ch->late;
    s.dropped = ch->dropped - dropped0;
    s.cpu = ch->use;
    s.max_lag_ms = ch->max_lag / rate * 1000.0;
    s.is_pass = s.lost == 0 && s.dropped == 0 && ch->recv_win > 0 &&
        s.delivered >= CHAT_MIN_DELIVERED * rate && s.p99 <= o->p99_limit_ms;
    chat_emit(ch, "chat", &s);
    lg_say("chat %s @ %.0f msg/s: delivered %.0f/s, p50 %.2f ms, p99 %.2f "
        "ms, max %.1f ms, lost %" PRIu64 ", cpu: generator %s, server %s%s%s"
        " -> %s", o->label, rate, s.delivered, s.p50, s.p99, s.pmax, s.lost,
        lg_pct(s.cpu.gen, g, sizeof(g)), lg_pct(s.cpu.server, sv,
        sizeof(sv)), o->port2 != 0 ? ", second server " : "",
        o->port2 != 0 ? lg_pct(s.cpu.server2, s2, sizeof(s2)) : "",
        s.is_pass ? "pass" : "FAIL");
    lg_cpu_warn(ctx, &s.cpu);
    if (s.dropped > 0)
        lg_say("chat: %u sessions dropped; first: %s", s.dropped,
            ch->first_err);
    if (s.is_pass && s.rate > ch->best.rate)
        ch->best = s;
    lg_sleep(ctx, CHAT_PAUSE_S);
    lg_settle(ctx, CHAT_SETTLE_S);
    return s.is_pass;
}

int
lg_run_chat(struct lg_ctx *ctx)
{
    const struct lg_opts *o = ctx->opts;
    struct chat ch;
    unsigned n = 2 * o->pairs, failed = 0;
    int rc = 0;

    memset(&ch, 0, sizeof(ch));
    ch.ctx = ctx;
    ch.pairs = o->pairs;
    ch.v = xs_calloc(n, sizeof(*ch.v));
    lg_samples_init(&ch.lat);
    lg_say("chat: logging in %u pairs", o->pairs);
    if (lg_batch_login(ctx, n, o->user_first, o->concurrency, false, ch.v,
        NULL, &failed) != XS_OK) {
        lg_say("chat: set-up failed (%u logins)", failed);
        rc = 1;
        goto done;
    }
    for (unsigned i = 0; i < n; i++) {
        const char *j = ch.v[i]->jid;

        /* Written into an attribute unescaped: refuse anything odd. */
        if (strpbrk(j, "'\"&<>") != NULL) {
            lg_say("chat: unexpected characters in bound JID %s", j);
            rc = 1;
            goto done;
        }
        ch.v[i]->ops = &chat_ops;
        ch.v[i]->udata = &ch;
        ch.v[i]->idx = i;
    }
    ch.tick = event_new(ctx->base, -1, EV_PERSIST, chat_tick_cb, &ch);
    lg_sleep(ctx, 1.0);         /* let initial presence settle */
    if (!o->find_max) {
        rc = chat_step_run(ctx, &ch, o->rate) ? 0 : 1;
    } else {
        double best = lg_find_max(ctx, chat_step_run, &ch);

        if (best > 0) {
            chat_emit(&ch, "chat_max", &ch.best);
            lg_say("chat %s: highest rate with p99 <= %.0f ms: %.0f msg/s "
                "(p50 %.2f ms, p99 %.2f ms)", o->label, o->p99_limit_ms,
                ch.best.rate, ch.best.p50, ch.best.p99);
        } else {
            struct chat_step none;

            memset(&none, 0, sizeof(none));
            chat_emit(&ch, "chat_max", &none);
            lg_say("chat %s: no rate passed", o->label);
            rc = 1;
        }
    }
    event_free(ch.tick);
    ch.tick = NULL;
done:
    lg_batch_close(ctx, ch.v, n, 10.0);
    xs_free(ch.v);
    lg_samples_fini(&ch.lat);
    return rc;
}
