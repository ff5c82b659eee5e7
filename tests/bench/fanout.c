/*
 * fanout.c: presence broadcast.  N users (--users, from --user-first),
 * each with --contacts mutual contacts among the N (rosters written by
 * run.sh), all logged in with available presence.  Open loop: a 1 ms
 * timer makes the presence changes the schedule says are due (aggregate
 * rate R changes/s, round-robin over the users); each change is
 * <presence><status>lg STEP SEQ TIME</status></presence> and the server
 * broadcasts it to every online contact (RFC 6121 4.4.2), so one change
 * is --contacts deliveries.  The receivers compute the latency from the
 * stamp; deliveries to the sender's own resource are not counted.
 *
 * A step is the chat step: warm-up, the measured window, a drain.
 * Changes made in the window are the ones measured: expected deliveries =
 * changes x contacts, lost = expected - received by the end of the
 * drain, delivered/s = deliveries received inside the window.  A step
 * passes when nothing was lost, no session dropped, delivered >= 95% of
 * the offered deliveries and p99 <= the limit (50 ms by default).
 */
#include "tests/bench/loadgen.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#define FAN_TICK_US         1000
#define FAN_DRAIN_S         3.0
#define FAN_PAUSE_S         0.5
#define FAN_SETTLE_S        15.0
#define FAN_MIN_DELIVERED   0.95

struct fan_step {
    double   rate, delivered, sent_rate;
    double   p50, p99, pmax;
    struct lg_cpu_use cpu;
    uint64_t sent_win, expected, recv_win, lost;
    unsigned dropped;
    bool     is_pass;
};

struct fan {
    struct lg_ctx     *ctx;         /* borrowed */
    unsigned           n;
    struct lg_client **v;           /* owned array */
    struct event      *tick;        /* owned */
    unsigned           step;
    double             rate;
    uint64_t           t0, t_win0, t_win1, t_stop, t_drain_end;
    uint64_t           seq, sent, sent_win, recv, recv_win, recv_in_win;
    unsigned           rr, dropped;
    bool               is_sending, is_step_done, in_window, is_win_done;
    struct lg_cpu_window cpu;
    struct lg_cpu_use  use;
    struct lg_samples  lat;
    struct fan_step    best;
    char               first_err[128];
};

static void
fan_send_one(struct fan *f, uint64_t now)
{
    struct lg_client *c = f->v[f->rr++ % f->n];
    char buf[256];
    int n;

    f->sent++;
    f->seq++;
    if (now >= f->t_win0 && now < f->t_win1)
        f->sent_win++;
    if (c == NULL)
        return;                 /* dropped: its deliveries count as lost */
    n = snprintf(buf, sizeof(buf), "<presence><priority>1</priority>"
        "<status>lg %u %" PRIu64 " %" PRIu64 "</status></presence>",
        f->step, f->seq, now);
    xs_assert(n > 0 && (size_t)n < sizeof(buf));
    lg_client_send(c, buf, (size_t)n);
}

/* Expected deliveries: every change reaches every contact. */
static uint64_t
fan_expected(const struct fan *f, uint64_t changes)
{
    return changes * f->ctx->opts->contacts;
}

static void
fan_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct fan *f = arg;
    uint64_t now = lg_now_ns();

    (void)fd, (void)what;
    if (!f->in_window && !f->is_win_done && now >= f->t_win0) {
        f->in_window = true;
        lg_cpu_window_start(f->ctx, &f->cpu);
    }
    if (f->in_window && now >= f->t_win1) {
        f->in_window = false;
        f->is_win_done = true;
        lg_cpu_window_end(f->ctx, &f->cpu, &f->use);
    }
    if (f->is_sending) {
        if (now >= f->t_stop) {
            f->is_sending = false;
            f->t_drain_end = now + (uint64_t)(FAN_DRAIN_S * 1e9);
        } else {
            double due = f->rate * (double)(now - f->t0) / 1e9;

            while ((double)f->sent < due)
                fan_send_one(f, now);
        }
    }
    if (!f->is_sending && (f->recv >= fan_expected(f, f->sent) ||
        now >= f->t_drain_end))
        f->is_step_done = true;
}

static void
fan_on_bound(struct lg_client *c)
{
    (void)c;
}

static void
fan_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    struct fan *f = c->udata;
    const char *from;
    size_t ul = strlen(c->user);
    unsigned step;
    uint64_t seq, ts, now;

    if (strcmp(el->name, "presence") != 0 ||
        xs_elem_attr(el, "type") != NULL ||
        (from = xs_elem_attr(el, "from")) == NULL ||
        (strncmp(from, c->user, ul) == 0 && from[ul] == '@') ||
        !lg_stamp_parse(el, NULL, "status", &step, &seq, &ts))
        return;
    if (step != f->step)
        return;                 /* a late one from an earlier step */
    now = lg_now_ns();
    f->recv++;
    if (ts >= f->t_win0 && ts < f->t_win1) {
        f->recv_win++;
        lg_samples_add_ns(&f->lat, now - ts);
    }
    if (now >= f->t_win0 && now < f->t_win1)
        f->recv_in_win++;
}

static void
fan_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct fan *f = c->udata;

    (void)how;
    f->dropped++;
    if (f->first_err[0] == '\0')
        snprintf(f->first_err, sizeof(f->first_err), "%s", why);
    f->v[c->idx] = NULL;
    lg_client_free(c);
}

static const struct lg_client_ops fan_ops = {
    .on_bound = fan_on_bound,
    .on_stanza = fan_on_stanza,
    .on_end = fan_on_end,
};

static void
fan_emit(struct fan *f, const char *scenario, const struct fan_step *s)
{
    const struct lg_opts *o = f->ctx->opts;
    struct lg_result r;

    lg_result_init(&r, f->ctx, scenario);
    lg_result_int(&r, "users", f->n);
    lg_result_int(&r, "contacts", o->contacts);
    lg_result_num(&r, "rate", s->rate, 0);
    lg_result_num(&r, "offered", s->rate * o->contacts, 0);
    lg_result_num(&r, "sent_rate", s->sent_rate, 0);
    lg_result_num(&r, "delivered", s->delivered, 0);
    lg_result_num(&r, "p50_ms", s->p50, 3);
    lg_result_num(&r, "p99_ms", s->p99, 3);
    lg_result_num(&r, "max_ms", s->pmax, 3);
    lg_result_int(&r, "sent_win", (long long)s->sent_win);
    lg_result_int(&r, "expected", (long long)s->expected);
    lg_result_int(&r, "recv_win", (long long)s->recv_win);
    lg_result_int(&r, "lost", (long long)s->lost);
    lg_result_int(&r, "dropped", s->dropped);
    lg_result_num(&r, "gen_cpu", s->cpu.gen, 2);
    lg_result_num(&r, "server_cpu", s->cpu.server, 2);
    lg_result_num(&r, "aux_cpu", s->cpu.aux, 2);
    lg_result_num(&r, "core_busy", s->cpu.core, 2);
    lg_result_num(&r, "core_other", lg_cpu_other(&s->cpu), 2);
    lg_result_num(&r, "duration", o->duration, 1);
    lg_result_str(&r, "pass", s->is_pass ? "yes" : "no");
    lg_result_str(&r, "tls", f->ctx->tls_info);
    lg_result_emit(&r);
}

/* One step at `rate` presence changes/s; lg_step_fn. */
static bool
fan_step_run(struct lg_ctx *ctx, void *arg, double rate)
{
    const struct lg_opts *o = ctx->opts;
    struct fan *f = arg;
    struct fan_step s;
    struct timeval tv = { .tv_sec = 0, .tv_usec = FAN_TICK_US };
    uint64_t now = lg_now_ns();
    unsigned dropped0 = f->dropped;
    char g[16], sv[16];
    double limit = o->warmup + o->duration + FAN_DRAIN_S + 10.0;

    f->step++;
    f->rate = rate;
    f->t0 = now;
    f->t_win0 = now + (uint64_t)(o->warmup * 1e9);
    f->t_win1 = f->t_win0 + (uint64_t)(o->duration * 1e9);
    f->t_stop = f->t_win1;
    f->sent = f->recv = f->sent_win = f->recv_win = f->recv_in_win = 0;
    f->is_sending = true;
    f->is_step_done = f->in_window = f->is_win_done = false;
    f->use.gen = f->use.server = f->use.aux = f->use.core = -1;
    f->use.server2 = -1;
    lg_samples_reset(&f->lat);
    evtimer_add(f->tick, &tv);
    if (!lg_run_until(ctx, &f->is_step_done, limit))
        lg_say("fanout: step at %.0f/s did not finish in %.0f s", rate,
            limit);
    event_del(f->tick);

    memset(&s, 0, sizeof(s));
    s.rate = rate;
    s.sent_rate = (double)f->sent_win / o->duration;
    s.delivered = (double)f->recv_in_win / o->duration;
    s.p50 = lg_samples_pct_ms(&f->lat, 50);
    s.p99 = lg_samples_pct_ms(&f->lat, 99);
    s.pmax = lg_samples_pct_ms(&f->lat, 100);
    s.sent_win = f->sent_win;
    s.expected = fan_expected(f, f->sent_win);
    s.recv_win = f->recv_win;
    s.lost = s.expected > f->recv_win ? s.expected - f->recv_win : 0;
    s.dropped = f->dropped - dropped0;
    s.cpu = f->use;
    s.is_pass = s.lost == 0 && s.dropped == 0 && f->recv_win > 0 &&
        s.delivered >= FAN_MIN_DELIVERED * rate * o->contacts &&
        s.p99 <= o->p99_limit_ms;
    fan_emit(f, "fanout", &s);
    lg_say("fanout %s @ %.0f changes/s (%.0f deliveries/s offered): "
        "delivered %.0f/s, p50 %.2f ms, p99 %.2f ms, max %.1f ms, lost %"
        PRIu64 ", cpu: generator %s, server %s -> %s", o->label, rate,
        rate * o->contacts, s.delivered, s.p50, s.p99, s.pmax, s.lost,
        lg_pct(s.cpu.gen, g, sizeof(g)), lg_pct(s.cpu.server, sv,
        sizeof(sv)), s.is_pass ? "pass" : "FAIL");
    lg_cpu_warn(ctx, &s.cpu);
    if (s.dropped > 0)
        lg_say("fanout: %u sessions dropped; first: %s", s.dropped,
            f->first_err);
    if (s.is_pass && s.rate > f->best.rate)
        f->best = s;
    lg_sleep(ctx, FAN_PAUSE_S);
    lg_settle(ctx, FAN_SETTLE_S);
    return s.is_pass;
}

int
lg_run_fanout(struct lg_ctx *ctx)
{
    const struct lg_opts *o = ctx->opts;
    struct fan f;
    unsigned failed = 0;
    uint64_t t0 = lg_now_ns();
    int rc = 0;

    if (o->contacts == 0 || o->contacts >= o->nusers) {
        lg_say("fanout: --contacts must be 1..users-1");
        return 2;
    }
    memset(&f, 0, sizeof(f));
    f.ctx = ctx;
    f.n = o->nusers;
    f.v = xs_calloc(f.n, sizeof(*f.v));
    lg_samples_init(&f.lat);
    lg_say("fanout: logging in %u users with %u contacts each", f.n,
        o->contacts);
    if (lg_batch_login(ctx, f.n, o->user_first, o->concurrency, false, f.v,
        NULL, &failed) != XS_OK) {
        lg_say("fanout: set-up failed (%u logins)", failed);
        rc = 1;
        goto done;
    }
    for (unsigned i = 0; i < f.n; i++) {
        f.v[i]->ops = &fan_ops;
        f.v[i]->udata = &f;
        f.v[i]->idx = i;
    }
    lg_say("fanout: %u online in %.1f s", f.n,
        (double)(lg_now_ns() - t0) / 1e9);
    /* The presence exchange of the logins is not measured. */
    lg_sleep(ctx, 2.0);
    lg_settle(ctx, FAN_SETTLE_S);
    f.tick = event_new(ctx->base, -1, EV_PERSIST, fan_tick_cb, &f);
    if (!o->find_max) {
        rc = fan_step_run(ctx, &f, o->rate) ? 0 : 1;
    } else {
        double best = lg_find_max(ctx, fan_step_run, &f);

        if (best > 0) {
            fan_emit(&f, "fanout_max", &f.best);
            lg_say("fanout %s: highest rate with p99 <= %.0f ms: %.0f "
                "changes/s, %.0f deliveries/s (p50 %.2f ms, p99 %.2f ms)",
                o->label, o->p99_limit_ms, f.best.rate, f.best.delivered,
                f.best.p50, f.best.p99);
        } else {
            struct fan_step none;

            memset(&none, 0, sizeof(none));
            fan_emit(&f, "fanout_max", &none);
            lg_say("fanout %s: no rate passed", o->label);
            rc = 1;
        }
    }
    event_free(f.tick);
done:
    lg_batch_close(ctx, f.v, f.n, 30.0);
    xs_free(f.v);
    lg_samples_fini(&f.lat);
    return rc;
}
