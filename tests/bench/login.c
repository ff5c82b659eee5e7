/*
 * login.c: an open-loop login storm.  A 1 ms timer starts logins at rate
 * L/s (accounts round-robin over the pool); each is a fresh connection
 * doing the whole handshake through bind and initial presence, then
 * closing its stream cleanly.  Login time is from the connect to the bind
 * result.
 *
 * A step: warm-up, the measured window, then a drain until every login
 * of the step has finished.  Logins started inside the window are the
 * ones counted; completed/s counts binds inside the window.  When more
 * than --max-inflight connections are open a due login is skipped, which
 * fails the step (the server is not keeping up).
 *
 * Before the first step every account of the pool logs in once: that
 * fills the generator's SCRAM cache, so the storm measures the server
 * and not the generator's PBKDF2.
 *
 * A step passes when no login failed or was skipped, all logins of the
 * window completed, completed/s >= 95% of offered and p99 <= the limit.
 */
#include "tests/bench/loadgen.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#define STORM_TICK_US       1000
#define STORM_PAUSE_S       1.0
#define STORM_SETTLE_S      15.0
#define STORM_MIN_DONE      0.95
#define STORM_SLACK_S       8.0

struct storm_step {
    double   rate, started_rate, completed;
    double   p50, p99, pmax;
    struct lg_cpu_use cpu;
    uint64_t started_win, done_win, failed_win, skipped_win;
    bool     is_pass;
};

struct storm {
    struct lg_ctx      *ctx;        /* borrowed */
    struct event       *tick;       /* owned */
    unsigned            step;
    double              rate;
    uint64_t            t0, t_win0, t_win1, t_stop, t_drain_end;
    uint64_t            started, started_win, done_win, done_in_win;
    uint64_t            failed_win, skipped_win, close_failed;
    unsigned            inflight, next_user;
    bool                is_sending, is_step_done, in_window, is_win_done;
    bool                is_idle;    /* inflight reached 0 */
    struct lg_cpu_window cpu;
    struct lg_cpu_use   use;
    struct lg_samples   lat;
    struct storm_step   best;
    char                first_err[128];
};

/* c->idx holds the step (upper bits) and "started in the window". */
#define STORM_IDX(step, in_win)     (((step) << 1) | ((in_win) ? 1u : 0u))
#define STORM_IDX_STEP(idx)         ((idx) >> 1)
#define STORM_IDX_IN_WIN(idx)       (((idx) & 1u) != 0)

static void
storm_on_bound(struct lg_client *c)
{
    struct storm *st = c->udata;

    if (STORM_IDX_STEP(c->idx) == st->step) {
        if (STORM_IDX_IN_WIN(c->idx)) {
            st->done_win++;
            lg_samples_add_ns(&st->lat, c->t_bound - c->t_start);
        }
        if (c->t_bound >= st->t_win0 && c->t_bound < st->t_win1)
            st->done_in_win++;
    }
    lg_client_close(c);
}

static void
storm_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    (void)c, (void)el;
}

static void
storm_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct storm *st = c->udata;

    st->inflight--;
    if (c->t_bound == 0) {
        if (STORM_IDX_STEP(c->idx) == st->step &&
            STORM_IDX_IN_WIN(c->idx))
            st->failed_win++;
        if (st->first_err[0] == '\0')
            snprintf(st->first_err, sizeof(st->first_err), "%s", why);
    } else if (how != LG_END_OK) {
        st->close_failed++;
    }
    lg_client_free(c);
    if (st->inflight == 0)
        st->is_idle = true;
}

static const struct lg_client_ops storm_ops = {
    .on_bound = storm_on_bound,
    .on_stanza = storm_on_stanza,
    .on_end = storm_on_end,
};

static void
storm_start_one(struct storm *st, uint64_t now)
{
    const struct lg_opts *o = st->ctx->opts;
    bool in_win = now >= st->t_win0 && now < st->t_win1;
    struct lg_client *c;

    st->started++;
    if (in_win)
        st->started_win++;
    if (st->inflight >= o->max_inflight) {
        if (in_win)
            st->skipped_win++;
        return;
    }
    c = lg_client_new(st->ctx, o->user_first + st->next_user++ % o->nusers,
        &storm_ops, st);
    c->idx = STORM_IDX(st->step, in_win);
    st->inflight++;
    st->is_idle = false;
    (void)lg_client_start(c);       /* a failure comes via on_end */
}

static void
storm_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct storm *st = arg;
    uint64_t now = lg_now_ns();

    (void)fd, (void)what;
    if (!st->in_window && !st->is_win_done && now >= st->t_win0) {
        st->in_window = true;
        lg_cpu_window_start(st->ctx, &st->cpu);
    }
    if (st->in_window && now >= st->t_win1) {
        st->in_window = false;
        st->is_win_done = true;
        lg_cpu_window_end(st->ctx, &st->cpu, &st->use);
    }
    if (st->is_sending) {
        if (now >= st->t_stop) {
            st->is_sending = false;
        } else {
            double due = st->rate * (double)(now - st->t0) / 1e9;

            while ((double)st->started < due)
                storm_start_one(st, now);
        }
    }
    if (!st->is_sending && (st->inflight == 0 || now >= st->t_drain_end))
        st->is_step_done = true;
}

static void
storm_emit(struct storm *st, const char *scenario,
    const struct storm_step *s)
{
    const struct lg_opts *o = st->ctx->opts;
    struct lg_result r;

    lg_result_init(&r, st->ctx, scenario);
    lg_result_num(&r, "rate", s->rate, 0);
    lg_result_num(&r, "started_rate", s->started_rate, 0);
    lg_result_num(&r, "completed", s->completed, 0);
    lg_result_num(&r, "p50_ms", s->p50, 2);
    lg_result_num(&r, "p99_ms", s->p99, 2);
    lg_result_num(&r, "max_ms", s->pmax, 2);
    lg_result_int(&r, "started_win", (long long)s->started_win);
    lg_result_int(&r, "done_win", (long long)s->done_win);
    lg_result_int(&r, "failed", (long long)s->failed_win);
    lg_result_int(&r, "skipped", (long long)s->skipped_win);
    lg_result_num(&r, "gen_cpu", s->cpu.gen, 2);
    lg_result_num(&r, "server_cpu", s->cpu.server, 2);
    lg_result_num(&r, "aux_cpu", s->cpu.aux, 2);
    lg_result_num(&r, "core_busy", s->cpu.core, 2);
    lg_result_num(&r, "core_other", lg_cpu_other(&s->cpu), 2);
    lg_result_int(&r, "users", o->nusers);
    lg_result_num(&r, "duration", o->duration, 1);
    lg_result_str(&r, "pass", s->is_pass ? "yes" : "no");
    lg_result_str(&r, "tls", st->ctx->tls_info);
    lg_result_emit(&r);
}

static bool
storm_step_run(struct lg_ctx *ctx, void *arg, double rate)
{
    const struct lg_opts *o = ctx->opts;
    struct storm *st = arg;
    struct storm_step s;
    struct timeval tv = { .tv_sec = 0, .tv_usec = STORM_TICK_US };
    uint64_t now = lg_now_ns();
    double drain = o->timeout + STORM_SLACK_S;
    char aux[48] = "", g[16], sv[16];
    double limit = o->warmup + o->duration + drain + 5.0;

    st->step++;
    st->rate = rate;
    st->t0 = now;
    st->t_win0 = now + (uint64_t)(o->warmup * 1e9);
    st->t_win1 = st->t_win0 + (uint64_t)(o->duration * 1e9);
    st->t_stop = st->t_win1;
    st->t_drain_end = st->t_stop + (uint64_t)(drain * 1e9);
    st->started = st->started_win = st->done_win = st->done_in_win = 0;
    st->failed_win = st->skipped_win = 0;
    st->first_err[0] = '\0';
    st->is_sending = true;
    st->is_step_done = st->in_window = st->is_win_done = false;
    st->use.gen = st->use.server = st->use.aux = st->use.core = -1;
    lg_samples_reset(&st->lat);
    evtimer_add(st->tick, &tv);
    if (!lg_run_until(ctx, &st->is_step_done, limit))
        lg_say("login: step at %.0f/s did not finish in %.0f s", rate,
            limit);
    event_del(st->tick);

    memset(&s, 0, sizeof(s));
    s.rate = rate;
    s.started_rate = (double)st->started_win / o->duration;
    s.completed = (double)st->done_in_win / o->duration;
    s.p50 = lg_samples_pct_ms(&st->lat, 50);
    s.p99 = lg_samples_pct_ms(&st->lat, 99);
    s.pmax = lg_samples_pct_ms(&st->lat, 100);
    s.started_win = st->started_win;
    s.done_win = st->done_win;
    s.failed_win = st->failed_win;
    s.skipped_win = st->skipped_win;
    s.cpu = st->use;
    s.is_pass = s.failed_win == 0 && s.skipped_win == 0 &&
        s.done_win > 0 && s.done_win == s.started_win &&
        s.completed >= STORM_MIN_DONE * rate && s.p99 <= o->p99_limit_ms;
    storm_emit(st, "login", &s);
    if (s.cpu.aux >= 0)
        snprintf(aux, sizeof(aux), ", database %.0f%%", s.cpu.aux * 100);
    lg_say("login %s @ %.0f/s: completed %.0f/s, p50 %.1f ms, p99 %.1f ms, "
        "failed %" PRIu64 ", skipped %" PRIu64 ", cpu: generator %s, "
        "server %s%s -> %s", o->label, rate, s.completed, s.p50, s.p99,
        s.failed_win, s.skipped_win, lg_pct(s.cpu.gen, g, sizeof(g)),
        lg_pct(s.cpu.server, sv, sizeof(sv)), aux,
        s.is_pass ? "pass" : "FAIL");
    lg_cpu_warn(ctx, &s.cpu);
    if (st->first_err[0] != '\0')
        lg_say("login: first failure: %s", st->first_err);
    if (s.is_pass && s.rate > st->best.rate)
        st->best = s;
    lg_sleep(ctx, STORM_PAUSE_S);
    lg_settle(ctx, STORM_SETTLE_S);
    return s.is_pass;
}

int
lg_run_login(struct lg_ctx *ctx)
{
    const struct lg_opts *o = ctx->opts;
    struct storm st;
    unsigned failed = 0;
    int rc = 0;
    uint64_t t0 = lg_now_ns();

    memset(&st, 0, sizeof(st));
    st.ctx = ctx;
    st.is_idle = true;
    lg_samples_init(&st.lat);
    lg_say("login: priming %u accounts (one login each)", o->nusers);
    if (lg_batch_login(ctx, o->nusers, o->user_first, o->concurrency, true,
        NULL, NULL, &failed) != XS_OK) {
        lg_say("login: priming failed (%u logins)", failed);
        lg_samples_fini(&st.lat);
        return 1;
    }
    lg_say("login: primed in %.1f s", (double)(lg_now_ns() - t0) / 1e9);
    lg_sleep(ctx, STORM_PAUSE_S);
    st.tick = event_new(ctx->base, -1, EV_PERSIST, storm_tick_cb, &st);
    if (!o->find_max) {
        rc = storm_step_run(ctx, &st, o->rate) ? 0 : 1;
    } else {
        double best = lg_find_max(ctx, storm_step_run, &st);

        if (best > 0) {
            storm_emit(&st, "login_max", &st.best);
            lg_say("login %s: highest rate with p99 <= %.0f ms: %.0f "
                "logins/s (p50 %.1f ms, p99 %.1f ms)", o->label,
                o->p99_limit_ms, st.best.rate, st.best.p50, st.best.p99);
        } else {
            struct storm_step none;

            memset(&none, 0, sizeof(none));
            storm_emit(&st, "login_max", &none);
            lg_say("login %s: no rate passed", o->label);
            rc = 1;
        }
    }
    event_free(st.tick);
    /* Logins still open end by their own timeouts. */
    if (!st.is_idle)
        (void)lg_run_until(ctx, &st.is_idle, o->timeout + STORM_SLACK_S);
    if (st.close_failed > 0)
        lg_say("login: %" PRIu64 " streams did not close cleanly",
            st.close_failed);
    if (!st.is_idle)
        lg_say("login: %u connections left open at exit", st.inflight);
    lg_samples_fini(&st.lat);
    return rc;
}
