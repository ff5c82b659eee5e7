/*
 * mod_reputation.c: the reputation module: its options, the one engine
 * of the server, the start-up load from PostgreSQL, persisting admitted
 * evidence, pruning, and the accessors of reputation.h.
 *
 * The engine is memory only.  At start, before the listeners open
 * (xs_startup_hold), it is rebuilt from the database in three steps, in
 * this order because each needs the one before: the accounts of every
 * configured host (evidence about a local subject is only kept for an
 * existing account), the evidence inside the horizon, and the operator
 * pins.  From then on every admitted item is queued for PostgreSQL
 * (db/reputation.c writes them behind, in batches): nothing on a
 * stanza's path waits for the database.
 *
 * Time is always xs_wall_s(): the test clock (`xmppd --test-clock`)
 * shifts it, so decay and pin expiry can be shown without waiting.
 */
#include "reputation/mod_reputation.h"

#include "db/reputation.h"
#include "xmppd/core/acl.h"
#include "xmppd/core/server.h"

#include <event2/event.h>
#include <inttypes.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define REP_PRUNE_S 600     /* seconds from one prune's start to the next */
/* An item or pin recorded this long before its account was created is
 * about an earlier account of the same name.  Not 0: the database rounds
 * created_at to the second (an item of the same second may read as
 * earlier), and its clock is not quite ours. */
#define REP_STALE_SLACK_S 60

/* The module's state while it is loaded; the accessors read it. */
static struct xs_mod_rep *rep_mod;      /* borrowed: owned by the loader */

/* What the start-up load has read so far, for its log line. */
static struct {
    uint64_t started_ms;
    size_t   accounts;
    size_t   admins;
    size_t   items;
    size_t   stale;         /* about an earlier account of the name */
    size_t   pins;
    size_t   pins_refused;
} rep_load;

/* ---- helpers ---- */

/* The domain of a prepared bare JID or domain. */
static const char *
rep_domain_of(const char *subject)
{
    const char *at = strchr(subject, '@');

    return at != NULL ? at + 1 : subject;
}

static bool
rep_is_local_domain(const char *subject)
{
    return xs_conf_is_local_host(xs_server()->conf, rep_domain_of(subject));
}

/* Whether the account user@host is in the `admin` acl (when one is
 * defined: without it nobody gets the admin points). */
static bool
rep_is_admin(const char *bare)
{
    const struct xs_acl_conf *acl = &xs_server()->conf->acl;
    char user[XS_JID_PART_MAX + 1];
    const char *at = strchr(bare, '@');
    size_t ulen;

    if (at == NULL || !xs_acl_is_defined(acl, "admin"))
        return false;
    ulen = (size_t)(at - bare);
    if (ulen >= sizeof(user))
        return false;
    memcpy(user, bare, ulen);
    user[ulen] = '\0';
    return xs_acl_match(acl, "admin",
        &(struct xs_acl_subject){ .user = user, .server = at + 1 });
}

/* ---- accessors (reputation.h) ---- */

struct xs_rep *
xs_reputation(void)
{
    if (rep_mod == NULL || !rep_mod->is_loaded)
        return NULL;
    return rep_mod->rep;
}

struct xs_rep_score
xs_reputation_score(const char *subject)
{
    struct xs_rep *r = xs_reputation();

    if (r == NULL || subject == NULL)
        return (struct xs_rep_score){ .level = XS_REP_UNKNOWN };
    return xs_rep_score(r, subject, xs_wall_s());
}

enum xs_rep_admit
xs_reputation_submit(const struct xs_evidence *ev)
{
    /* Log the first refused append of a database outage, not every one:
     * the queue's drops are counted in its stats. */
    static bool is_drop_logged;
    struct xs_rep *r = xs_reputation();
    struct xs_evidence stored;
    enum xs_rep_admit a;
    xs_rc rc;

    if (r == NULL || ev == NULL || ev->subject == NULL) {
        xs_log(XS_LOG_DEBUG, "reputation: evidence refused: engine not "
            "loaded or no subject");
        return XS_REP_INVALID;
    }
    a = xs_rep_submit(r, ev, rep_is_local_domain(ev->subject), xs_wall_s(),
        &stored);
    switch (a) {
    case XS_REP_ADMITTED:
    case XS_REP_REPLACED:
        rc = xs_rep_db_append(xs_server()->db, &stored);
        if (rc == XS_OK) {
            is_drop_logged = false;
        } else if (!is_drop_logged) {
            xs_log(XS_LOG_WARN, "reputation: evidence not queued for the "
                "database: %s; further drops are counted, not logged",
                xs_rc_str(rc));
            is_drop_logged = true;
        }
        xs_log(XS_LOG_DEBUG, "reputation: evidence %s subject=%s kind=%s "
            "src=%s source=%s weight=%.2f", xs_rep_admit_name(a),
            stored.subject, xs_evk_name(stored.kind),
            xs_evsrc_name(stored.src), stored.source, stored.weight);
        break;
    case XS_REP_RATE_LIMITED:
        xs_log(XS_LOG_INFO, "reputation: rate-limited source=%s kind=%s "
            "subject=%s", ev->source != NULL ? ev->source : "",
            xs_evk_name(ev->kind) != NULL ? xs_evk_name(ev->kind) : "?",
            ev->subject);
        break;
    default:
        xs_log(XS_LOG_DEBUG, "reputation: evidence %s subject=%s kind=%s "
            "source=%s", xs_rep_admit_name(a), ev->subject,
            xs_evk_name(ev->kind) != NULL ? xs_evk_name(ev->kind) : "?",
            ev->source != NULL ? ev->source : "");
        break;
    }
    return a;
}

bool
xs_reputation_may_query(const struct xs_jid *asker)
{
    const struct xs_rep_policy *p;

    if (asker == NULL || rep_mod == NULL)
        return false;
    /* The caller passes the authenticated from: a local domain means a
     * local user (or the server itself). */
    if (xs_conf_is_local_host(xs_server()->conf, asker->domain))
        return true;
    p = &rep_mod->policy;
    for (size_t i = 0; i < p->nquery_domains; i++) {
        if (strcasecmp(p->query_domains[i], asker->domain) == 0)
            return true;
    }
    return false;
}

/* ---- the start-up load: accounts, then evidence, then pins ---- */

static void rep_load_done(struct xs_mod_rep *m, xs_rc rc, const char *what);

static void
rep_on_pin_row(const char *subject, int score, const char *reason,
    int64_t expires, const char *set_by, int64_t set_at, void *udata)
{
    struct xs_mod_rep *m = udata;
    struct xs_rep_pin pin = {
        .score = score, .reason = reason, .expires = expires,
        .set_by = set_by, .set_at = set_at,
    };
    int64_t created_at;
    bool is_admin;

    /* A pin the engine refuses (expired since the query, a score out of
     * range written by hand), or one set on an earlier account of the
     * same name, is skipped, not fatal. */
    if (!(xs_rep_account_info(m->rep, subject, &created_at, &is_admin) &&
          set_at < created_at - REP_STALE_SLACK_S) &&
        xs_rep_pin_set(m->rep, subject, &pin, xs_wall_s()) == XS_OK) {
        rep_load.pins++;
    } else {
        rep_load.pins_refused++;
        xs_log(XS_LOG_DEBUG, "reputation: stored pin skipped subject=%s",
            subject);
    }
}

static void
rep_on_pins_done(xs_rc rc, void *udata)
{
    rep_load_done(udata, rc, "pins");
}

static void
rep_on_evidence_row(const struct xs_evidence *ev, void *udata)
{
    struct xs_mod_rep *m = udata;
    int64_t created_at;
    bool is_admin;
    bool is_account = xs_rep_account_info(m->rep, ev->subject, &created_at,
        &is_admin);

    /* Rows about a deleted account stay until the horizon; if its name
     * was registered again, they are about someone else. */
    if (is_account && ev->at < created_at - REP_STALE_SLACK_S) {
        rep_load.stale++;
        return;
    }
    xs_rep_restore(m->rep, ev, is_account ||
        rep_is_local_domain(ev->subject), xs_wall_s());
    rep_load.items++;
}

static void
rep_on_evidence_done(xs_rc rc, void *udata)
{
    struct xs_mod_rep *m = udata;

    if (rc == XS_OK)
        rc = xs_rep_db_load_pins(xs_server()->db, xs_wall_s(),
            rep_on_pin_row, rep_on_pins_done, m);
    if (rc != XS_OK)
        rep_load_done(m, rc, "evidence");
}

static void
rep_on_account_row(const struct xs_rep_db_account *a, void *udata)
{
    struct xs_mod_rep *m = udata;
    bool is_admin = rep_is_admin(a->bare);

    xs_rep_account_set(m->rep, a->bare, a->created_at, is_admin);
    xs_rep_account_activity(m->rep, a->bare, a->counts, a->days_active);
    xs_rep_account_mutual_set(m->rep, a->bare, a->mutual);
    rep_load.accounts++;
    if (is_admin)
        rep_load.admins++;
}

static void
rep_on_accounts_done(xs_rc rc, void *udata)
{
    struct xs_mod_rep *m = udata;
    int64_t now = xs_wall_s();

    if (rc == XS_OK)
        rc = xs_rep_db_load_evidence(xs_server()->db,
            now - m->policy.horizon_s, rep_on_evidence_row,
            rep_on_evidence_done, m);
    if (rc != XS_OK)
        rep_load_done(m, rc, "accounts");
}

/* The end of the load, good or bad: exactly one release of the hold. */
static void
rep_load_done(struct xs_mod_rep *m, xs_rc rc, const char *what)
{
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "reputation: loading the %s failed: %s", what,
            xs_rc_str(rc));
        xs_startup_release(false);
        return;
    }
    m->is_loaded = true;
    xs_log(XS_LOG_INFO, "reputation: loaded accounts=%zu admins=%zu "
        "items=%zu items_stale=%zu pins=%zu pins_skipped=%zu ms=%" PRIu64,
        rep_load.accounts, rep_load.admins, rep_load.items, rep_load.stale,
        rep_load.pins,
        rep_load.pins_refused, xs_now_ms() - rep_load.started_ms);
    xs_startup_release(true);
}

/* ---- pruning ---- */

/* The database's rows past the horizon go too, but not every tick: once
 * an hour is plenty for a horizon counted in days. */
#define REP_DB_PRUNE_S 3600

static struct {
    int64_t last;           /* wall seconds of the last start */
    bool    is_running;
} rep_db_prune;

static void
rep_on_db_pruned(xs_rc rc, void *udata)
{
    (void)udata;
    rep_db_prune.is_running = false;
    if (rc != XS_OK)
        xs_log(XS_LOG_WARN, "reputation: deleting evidence past the "
            "horizon failed: %s (retried later)", xs_rc_str(rc));
}

/*
 * The prune walks every subject: in one callback that stalls the loop at
 * scale (140 ms at 1,200,000 subjects), so it runs in slices
 * (xs_rep_prune_step), one per expiry of the prune timer, REP_PRUNE_GAP_MS
 * apart while a prune is running: the loop serves everything else in
 * between, and a prune of a million subjects takes about 2 s.
 */
#define REP_PRUNE_BUDGET    4000    /* units a slice spends (engine.h):
                                       0.4 ms, 0.5 at most, at 1,200,000
                                       subjects (tests/bench/rep/score) */
#define REP_PRUNE_GAP_MS    5       /* between two slices: a tenth of the
                                       loop at most */

static struct {
    uint64_t started_ms;    /* the running prune's first slice */
    uint64_t busy_us;       /* its slices' time on the loop */
    uint64_t max_us;        /* its longest slice */
    size_t   slices;
    size_t   gone;          /* items */
    bool     is_running;
} rep_prune;

/* Monotonic microseconds: a slice is well under a millisecond. */
static uint64_t
rep_now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000;
}

/* Arms the prune timer: the next slice soon, or the next prune. */
static void
rep_prune_arm(struct xs_mod_rep *m, bool is_running)
{
    struct timeval tv = { .tv_sec = REP_PRUNE_S };

    if (is_running) {
        tv.tv_sec = 0;
        tv.tv_usec = REP_PRUNE_GAP_MS * 1000;
    }
    /* A persistent timer added again takes the new interval. */
    event_add(m->prune_timer, &tv);
}

/* Decayed items and expired pins go, so memory follows what still
 * counts (and the level counts of /metrics stay cheap).  A slice per
 * call (above). */
static void
rep_on_prune(evutil_socket_t fd, short what, void *arg)
{
    struct xs_mod_rep *m = arg;
    uint64_t t0 = rep_now_us();
    int64_t now = xs_wall_s();
    uint64_t us;
    bool is_done;

    (void)fd, (void)what;
    if (!m->is_loaded)
        return;
    if (!rep_prune.is_running) {
        memset(&rep_prune, 0, sizeof(rep_prune));
        rep_prune.started_ms = xs_now_ms();
        rep_prune.is_running = true;
    }
    rep_prune.gone += xs_rep_prune_step(m->rep, now, REP_PRUNE_BUDGET,
        &is_done);
    us = rep_now_us() - t0;
    rep_prune.busy_us += us;
    if (us > rep_prune.max_us)
        rep_prune.max_us = us;
    rep_prune.slices++;
    if (!is_done) {
        rep_prune_arm(m, true);
        return;
    }
    rep_prune.is_running = false;
    rep_prune_arm(m, false);
    xs_log(rep_prune.gone > 0 ? XS_LOG_INFO : XS_LOG_DEBUG, "reputation: "
        "pruned items=%zu slices=%zu busy_ms=%.1f max_slice_ms=%.2f ms=%"
        PRIu64, rep_prune.gone, rep_prune.slices,
        (double)rep_prune.busy_us / 1000, (double)rep_prune.max_us / 1000,
        xs_now_ms() - rep_prune.started_ms);
    if (rep_db_prune.is_running || (now >= rep_db_prune.last &&
        now - rep_db_prune.last < REP_DB_PRUNE_S))
        return;
    rep_db_prune.last = now;
    if (xs_rep_db_prune(xs_server()->db, now - m->policy.horizon_s,
        rep_on_db_pruned, m) == XS_OK)
        rep_db_prune.is_running = true;
}

/* ---- shutdown drain ---- */

#define REP_DRAIN_POLL_MS 20

/* The queue keeps a batch until it is committed, so an empty queue means
 * every admitted item is in PostgreSQL. */
static bool
rep_drained(void)
{
    struct pgq_batchq_stats st;

    xs_rep_db_stats(xs_server()->db, &st);
    return st.queued == 0;
}

static void
rep_on_drain_poll(evutil_socket_t fd, short what, void *arg)
{
    struct xs_mod_rep *m = arg;

    (void)fd, (void)what;
    if (!rep_drained())
        return;
    event_del(m->drain_timer);
    xs_shutdown_release();
}

void
xs_rep_on_draining(enum xs_event ev, void *arg, void *mod_state)
{
    struct xs_mod_rep *m = mod_state;
    struct timeval tv = { 0, REP_DRAIN_POLL_MS * 1000 };

    (void)ev, (void)arg;
    if (xs_server()->db == NULL || rep_drained())
        return;
    m->drain_timer = event_new(xs_server()->base, -1, EV_PERSIST,
        rep_on_drain_poll, m);
    if (m->drain_timer == NULL)
        return;
    xs_rep_db_flush_soon(xs_server()->db);
    xs_shutdown_hold();
    event_add(m->drain_timer, &tv);
}

/* ---- the module ---- */

static void
rep_fini(void *ptr)
{
    struct xs_mod_rep *m = ptr;

    if (m == NULL)
        return;
    /* After the loop has stopped (or an abandoned start): no database
     * callback comes any more.  Observers first, so nothing reaches a
     * freed engine. */
    xs_rep_sources_stop(m);
    if (xs_server()->db != NULL)
        xs_rep_db_flush_soon(xs_server()->db);
    if (m->prune_timer != NULL)
        event_free(m->prune_timer);
    if (m->drain_timer != NULL)
        event_free(m->drain_timer);
    xs_rep_ops_stop(m);
    xs_rep_free(m->rep);
    xs_rep_policy_fini(&m->policy);
    if (rep_mod == m)
        rep_mod = NULL;
    xs_free(m);
}

static xs_rc
rep_init(const struct xs_conf *conf, void **out)
{
    struct xs_mod_rep *m = xs_calloc(1, sizeof(*m));
    struct timeval tv = { .tv_sec = REP_PRUNE_S };
    char *err = NULL;
    xs_rc rc;

    *out = m;
    rc = xs_rep_policy_from_conf(conf,
        xs_conf_module_opts(conf, "mod_reputation"), &m->policy, &err);
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", err != NULL ? err
            : "reputation: bad options");
        xs_free(err);
        return rc;
    }
    m->rep = xs_rep_new(&m->policy);
    if ((rc = xs_rep_ops_start(m)) != XS_OK)
        return rc;
    m->prune_timer = event_new(xs_server()->base, -1, EV_PERSIST,
        rep_on_prune, m);
    if (m->prune_timer == NULL) {
        xs_log(XS_LOG_ERR, "reputation: cannot make its prune timer");
        return XS_EIO;
    }
    event_add(m->prune_timer, &tv);
    rep_mod = m;
    if ((rc = xs_rep_sources_start(m)) != XS_OK) {
        xs_log(XS_LOG_ERR, "reputation: cannot observe the evidence "
            "sources: %s", xs_rc_str(rc));
        return rc;
    }

    memset(&rep_load, 0, sizeof(rep_load));
    memset(&rep_db_prune, 0, sizeof(rep_db_prune));
    memset(&rep_prune, 0, sizeof(rep_prune));
    rep_load.started_ms = xs_now_ms();
    rc = xs_rep_db_load_accounts(xs_server()->db,
        (const char *const *)conf->hosts, conf->nhosts, rep_on_account_row,
        rep_on_accounts_done, m);
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "reputation: cannot queue the load: %s",
            xs_rc_str(rc));
        return rc;
    }
    xs_startup_hold();
    return XS_OK;
}

const struct xs_module xs_mod_reputation = {
    .name = "mod_reputation",
    .abi = XS_MODULE_ABI,
    .init = rep_init,
    .fini = rep_fini,
    .hooks = xs_rep_source_hooks,
    .iqs = xs_rep_query_iqs,
    .events = xs_rep_source_events,
    .features = xs_rep_query_features,
    .commands = xs_rep_ops_commands,
    .metrics = xs_rep_ops_metrics,
};
