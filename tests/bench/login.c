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
 *
 * roster-login is the same storm over users with rosters (--contacts
 * each, written by run.sh), half of whom are held online meanwhile: the
 * accounts at odd offsets from --user-first stay logged in with
 * available presence, the storm cycles over the even ones.  A storm login
 * goes on after bind as a client does: roster get (the result must hold
 * --contacts items), then initial presence and a ping.  The ping's result
 * is the end of the login: the server handles a session's stanzas in
 * order, so by then it has broadcast the presence to the online contacts
 * and sent their presence back.  Login time runs from the connect to that
 * result; then the stream is closed (the server broadcasts unavailable).
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
#define ROSTER_ID           "lgroster"
#define PING_ID             "lgping"
#define NS_ROSTER           "jabber:iq:roster"

struct storm_step {
    double   rate, started_rate, completed;
    double   p50, p99, pmax;
    double   contact_pres;  /* roster-login: contacts' presence a login */
    struct lg_cpu_use cpu;
    uint64_t started_win, done_win, failed_win, skipped_win;
    unsigned held_dropped;
    bool     is_pass;
};

struct storm {
    struct lg_ctx      *ctx;        /* borrowed */
    struct event       *tick;       /* owned */
    bool                is_roster;  /* roster-login */
    unsigned            nstorm;     /* accounts the storm cycles over */
    uint64_t            pres_win;   /* contacts' presence, logins of the
                                       window */
    struct lg_client  **held;       /* owned: roster-login's online half */
    unsigned            nheld, held_dropped;
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

/* The end of a login (bind, or for roster-login the ping result). */
static uint64_t
storm_done_at(const struct storm *st, const struct lg_client *c)
{
    return st->is_roster ? c->t_done : c->t_bound;
}

static void
storm_done(struct storm *st, struct lg_client *c)
{
    uint64_t t = storm_done_at(st, c);

    if (STORM_IDX_STEP(c->idx) == st->step) {
        if (STORM_IDX_IN_WIN(c->idx)) {
            st->done_win++;
            st->pres_win += c->npres;
            lg_samples_add_ns(&st->lat, t - c->t_start);
        }
        if (t >= st->t_win0 && t < st->t_win1)
            st->done_in_win++;
    }
    lg_client_close(c);
}

static void
storm_on_bound(struct lg_client *c)
{
    struct storm *st = c->udata;
    static const char get[] = "<iq type='get' id='" ROSTER_ID "'><query "
        "xmlns='" NS_ROSTER "'/></iq>";

    if (!st->is_roster) {
        storm_done(st, c);
        return;
    }
    lg_client_send(c, get, sizeof(get) - 1);
}

static void
storm_fail(struct storm *st, struct lg_client *c, const char *why)
{
    if (st->first_err[0] == '\0')
        snprintf(st->first_err, sizeof(st->first_err), "%s", why);
    lg_client_close(c);         /* t_done stays 0: a failed login */
}

/* The roster result: check its size, then initial presence and a ping. */
static void
storm_on_roster(struct storm *st, struct lg_client *c,
    const struct xs_elem *el)
{
    const struct lg_opts *o = st->ctx->opts;
    const struct xs_elem *q = xs_elem_child(el, NS_ROSTER, "query");
    unsigned n = 0;
    char *xml;

    if (strcmp(xs_elem_attr(el, "type"), "result") != 0 || q == NULL) {
        storm_fail(st, c, "roster get refused");
        return;
    }
    for (const struct xs_elem *e = xs_elem_first_elem(q); e != NULL;
        e = xs_elem_next_elem(e))
        n += strcmp(e->name, "item") == 0;
    if (o->contacts > 0 && n != o->contacts) {
        char why[96];

        snprintf(why, sizeof(why), "roster of %s has %u items, not %u",
            c->user, n, o->contacts);
        storm_fail(st, c, why);
        return;
    }
    xml = xs_asprintf("<presence><priority>1</priority></presence>"
        "<iq type='get' id='" PING_ID "' to='%s'><ping xmlns='urn:xmpp:"
        "ping'/></iq>", lg_client_domain(c));
    lg_client_send(c, xml, strlen(xml));
    xs_free(xml);
}

/* Available presence from someone else: a contact's, in answer to ours. */
static bool
storm_is_contact_pres(const struct lg_client *c, const struct xs_elem *el)
{
    const char *from = xs_elem_attr(el, "from");
    size_t ul = strlen(c->user);

    if (xs_elem_attr(el, "type") != NULL || from == NULL)
        return false;
    return !(strncmp(from, c->user, ul) == 0 && from[ul] == '@');
}

static void
storm_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    struct storm *st = c->udata;
    const char *id;

    if (!st->is_roster || c->t_done != 0)
        return;
    if (strcmp(el->name, "presence") == 0) {
        if (storm_is_contact_pres(c, el))
            c->npres++;
        return;
    }
    if (strcmp(el->name, "iq") != 0 || (id = xs_elem_attr(el, "id")) == NULL
        || xs_elem_attr(el, "type") == NULL)
        return;
    if (strcmp(id, ROSTER_ID) == 0) {
        storm_on_roster(st, c, el);
    } else if (strcmp(id, PING_ID) == 0) {
        if (strcmp(xs_elem_attr(el, "type"), "result") != 0) {
            storm_fail(st, c, "ping refused");
            return;
        }
        c->t_done = lg_now_ns();
        storm_done(st, c);
    }
}

static void
storm_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct storm *st = c->udata;

    st->inflight--;
    if (storm_done_at(st, c) == 0) {
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
    if (st->is_roster)      /* the offline half: even offsets */
        c = lg_client_new(st->ctx, o->user_first + 2 * (st->next_user++ %
            st->nstorm), &storm_ops, st);
    else
        c = lg_client_new(st->ctx, o->user_first + st->next_user++ %
            o->nusers, &storm_ops, st);
    c->no_presence = st->is_roster;
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
    if (st->is_roster) {
        lg_result_int(&r, "contacts", o->contacts);
        lg_result_int(&r, "online", st->nheld);
        lg_result_num(&r, "contact_pres", s->contact_pres, 1);
        lg_result_int(&r, "held_dropped", s->held_dropped);
    }
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
    unsigned held_dropped0 = st->held_dropped;
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
    st->failed_win = st->skipped_win = st->pres_win = 0;
    st->first_err[0] = '\0';
    st->is_sending = true;
    st->is_step_done = st->in_window = st->is_win_done = false;
    st->use.gen = st->use.server = st->use.aux = st->use.core = -1;
    st->use.server2 = -1;
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
    s.contact_pres = st->done_win > 0 ?
        (double)st->pres_win / (double)st->done_win : 0;
    s.held_dropped = st->held_dropped - held_dropped0;
    s.is_pass = s.failed_win == 0 && s.skipped_win == 0 &&
        s.held_dropped == 0 &&
        s.done_win > 0 && s.done_win == s.started_win &&
        s.completed >= STORM_MIN_DONE * rate && s.p99 <= o->p99_limit_ms;
    storm_emit(st, st->is_roster ? "roster_login" : "login", &s);
    if (s.cpu.aux >= 0)
        snprintf(aux, sizeof(aux), ", database %.0f%%", s.cpu.aux * 100);
    if (st->is_roster)
        lg_say("roster-login: %.1f contacts' presence a login; %u held "
            "sessions dropped", s.contact_pres, s.held_dropped);
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

/* roster-login's online half: held, their presence traffic ignored. */
static void
held_on_bound(struct lg_client *c)
{
    (void)c;
}

static void
held_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    (void)c, (void)el;
}

static void
held_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct storm *st = c->udata;

    (void)how;
    if (st->held_dropped++ == 0)
        lg_say("roster-login: a held session dropped: %s", why);
    st->held[c->idx] = NULL;
    lg_client_free(c);
}

static const struct lg_client_ops held_ops = {
    .on_bound = held_on_bound,
    .on_stanza = held_on_stanza,
    .on_end = held_on_end,
};

/* roster-login: log the odd offsets in and keep them. */
static bool
storm_hold_online(struct lg_ctx *ctx, struct storm *st)
{
    const struct lg_opts *o = ctx->opts;
    unsigned failed = 0;
    uint64_t t0 = lg_now_ns();

    st->nheld = o->nusers / 2;
    st->held = xs_calloc(st->nheld + 1, sizeof(*st->held));
    lg_say("roster-login: logging in the online half, %u users with %u "
        "contacts each", st->nheld, o->contacts);
    if (lg_batch_login_stride(ctx, st->nheld, o->user_first + 1, 2,
        o->concurrency, false, st->held, NULL, &failed) != XS_OK) {
        lg_say("roster-login: %u of the online half failed", failed);
        return false;
    }
    for (unsigned i = 0; i < st->nheld; i++) {
        st->held[i]->ops = &held_ops;
        st->held[i]->udata = st;
        st->held[i]->idx = i;
    }
    lg_say("roster-login: %u online in %.1f s", st->nheld,
        (double)(lg_now_ns() - t0) / 1e9);
    /* The presence exchange of those logins is not part of the storm. */
    lg_sleep(ctx, 2.0);
    lg_settle(ctx, STORM_SETTLE_S);
    return true;
}

static int
storm_run(struct lg_ctx *ctx, bool is_roster)
{
    const struct lg_opts *o = ctx->opts;
    const char *max_name = is_roster ? "roster_login_max" : "login_max";
    struct storm st;
    unsigned failed = 0;
    int rc = 0;
    uint64_t t0;

    memset(&st, 0, sizeof(st));
    st.ctx = ctx;
    st.is_idle = true;
    st.is_roster = is_roster;
    st.nstorm = is_roster ? (o->nusers + 1) / 2 : o->nusers;
    lg_samples_init(&st.lat);
    if (is_roster && (o->nusers < 2 || !storm_hold_online(ctx, &st))) {
        rc = 1;
        goto done;
    }
    t0 = lg_now_ns();
    lg_say("login: priming %u accounts (one login each)", st.nstorm);
    if (lg_batch_login_stride(ctx, st.nstorm, o->user_first,
        is_roster ? 2 : 1, o->concurrency, true, NULL, NULL, &failed) !=
        XS_OK) {
        lg_say("login: priming failed (%u logins)", failed);
        rc = 1;
        goto done;
    }
    lg_say("login: primed in %.1f s", (double)(lg_now_ns() - t0) / 1e9);
    lg_sleep(ctx, STORM_PAUSE_S);
    lg_settle(ctx, STORM_SETTLE_S);
    st.tick = event_new(ctx->base, -1, EV_PERSIST, storm_tick_cb, &st);
    if (!o->find_max) {
        rc = storm_step_run(ctx, &st, o->rate) ? 0 : 1;
    } else {
        double best = lg_find_max(ctx, storm_step_run, &st);

        if (best > 0) {
            storm_emit(&st, max_name, &st.best);
            lg_say("%s %s: highest rate with p99 <= %.0f ms: %.0f "
                "logins/s (p50 %.1f ms, p99 %.1f ms)", is_roster ?
                "roster-login" : "login", o->label, o->p99_limit_ms,
                st.best.rate, st.best.p50, st.best.p99);
        } else {
            struct storm_step none;

            memset(&none, 0, sizeof(none));
            storm_emit(&st, max_name, &none);
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
done:
    if (st.held != NULL) {
        lg_batch_close(ctx, st.held, st.nheld, 30.0);
        xs_free(st.held);
    }
    lg_samples_fini(&st.lat);
    return rc;
}

int
lg_run_login(struct lg_ctx *ctx)
{
    return storm_run(ctx, false);
}

int
lg_run_roster_login(struct lg_ctx *ctx)
{
    return storm_run(ctx, true);
}
