/*
 * activity.c: the account activity record, counted in memory and added
 * to PostgreSQL in batches (activity.h says what is counted).
 *
 * Where things are counted, for local accounts only:
 * - C2S_IN (what a local user sends) and DELIVER (what a local account
 *   receives), at XS_PRIO_POLICY - 1: after every policy hook (a stanza
 *   blocked or bounced there never reaches us), and before the feature
 *   handlers, because the roster module consumes subscription presences
 *   (HANDLED) and a later hook would never see them; the roster still
 *   shows the state before the stanza, which is what we compare against.
 *   Hooks always PASS.
 * - Messages count when they carry a <body> and are not errors or
 *   groupchat: chat states and receipts are not conversation.
 * - Contact or stranger: the owner's roster in memory; for an offline
 *   recipient, the local sender's roster (subscriptions are mirrored);
 *   otherwise a stranger.
 * - Subscriptions: 'subscribe' sent (unless already pending or granted)
 *   and received (unless already pending or granted); 'subscribed' /
 *   'unsubscribed' count as accepted / refused for the requester only when
 *   it answers a pending request.  A local answerer is checked in its own
 *   roster at C2S_IN; a remote one at DELIVER against the requester's
 *   roster when it is loaded (an unverifiable answer is not counted, so
 *   that nobody can inflate another account's numbers).
 * - Days active: UTC days with a bind (login) or a counted message sent.
 * - Last logout and its status (the status of the last unavailable
 *   presence, if the session sent one) when an account's last session
 *   ends.
 *
 * Writes: every flush_interval seconds, one INSERT ... ON CONFLICT per
 * batch of up to XS_ACTIVITY_BATCH_MAX accounts.  A failed batch is put
 * back and retried.  Reads that merge memory with the database
 * (xs_activity_get) never overlap a batch write, so what they add up is
 * exact: reads run together, a write waits for them and holds new reads
 * back until it is done.
 *
 * Durability: up to flush_interval seconds of counts are lost if the
 * process dies.  At shutdown (SIGTERM) every session's close asks for an
 * immediate write, best effort: the loop may stop before it completes.
 */
#include "xmppd/im/activity.h"

#include "xmppd/admin/admin.h"
#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/module.h"
#include "xmppd/core/observers.h"
#include "xmppd/core/server.h"
#include "xmppd/im/roster.h"

#include <event2/event.h>
#include <string.h>
#include <time.h>

#define ACT_FLUSH_MAX      3600          /* seconds */
#define ACT_RECORDS_MAX    (1u << 20)    /* accounts held in memory */
#define ACT_BUCKETS_MIN    256

/* Deltas not yet written (pending) or being written (inflight). */
struct act_delta {
    uint64_t c[XS_ACT__COUNT];
    uint32_t ndays;             /* distinct days marked active */
    int32_t  first_day;         /* days since 1970-01-01 */
    int32_t  last_day;
    int64_t  logout;            /* unix seconds; 0: none */
    char    *status;            /* owned; NULL: none */
};

struct act_rec {
    struct act_rec  *hnext;     /* owned by the bucket chain */
    struct act_rec  *dnext;     /* borrowed: dirty list link */
    char            *bare;      /* owned: user@host, the key */
    char            *user;      /* owned */
    char            *host;      /* owned */
    struct act_delta pending;
    struct act_delta inflight;
    int32_t          marked_day;    /* last day marked; -1: none */
    bool             is_dirty;      /* on the dirty list */
    bool             is_inflight;   /* part of the batch being written */
};

/* An xs_activity_get waiting for (or in) the database. */
struct act_read {
    struct act_read *prev;      /* borrowed */
    struct act_read *next;      /* owned by its list */
    char            *user;      /* owned */
    char            *host;      /* owned */
    char            *bare;      /* owned */
    xs_activity_cb  *cb;
    void            *udata;     /* borrowed, handed back */
};

/* The batch being written. */
struct act_batch {
    char  **keys;               /* owned: bare JIDs of its records */
    size_t  n;
};

struct act_state {
    int               flush_interval;   /* seconds */
    struct event     *timer;            /* owned: periodic flush */
    struct event     *soon;             /* owned: flush at once */
    struct act_rec  **buckets;          /* owned */
    size_t            nbuckets;
    size_t            nrecs;
    struct act_rec   *dirty;            /* borrowed: records with deltas */
    struct act_batch *batch;            /* owned: in flight, or NULL */
    bool              is_flush_wanted;  /* waiting for reads to end */
    bool              is_draining;      /* holds the shutdown (server.h) */
    bool              is_full_logged;
    struct act_read  *reading;          /* owned: reads in flight */
    size_t            nreading;
    struct act_read  *waiting;          /* owned: reads held back */
    struct act_read  *waiting_tail;     /* borrowed */
};

static struct act_state *act;           /* the loaded module's state */

/* Outside the module's state: observers may register before it loads.
 * fn is an xs_activity_count_fn, fn2 an xs_activity_day_fn (either may be
 * NULL). */
static struct xs_observers observers;

xs_rc
xs_activity_observe(xs_activity_count_fn *count, xs_activity_day_fn *day,
    void *ud)
{
    return xs_observers_add(&observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)count, .fn2 = (xs_observer_fn *)day,
        .ud = ud });
}

void
xs_activity_unobserve(xs_activity_count_fn *count, xs_activity_day_fn *day,
    void *ud)
{
    xs_observers_remove(&observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)count, .fn2 = (xs_observer_fn *)day,
        .ud = ud });
}

/* is_day: a new active day, else counter c grew by one. */
static void
act_notify(const char *bare, bool is_day, enum xs_act_counter c)
{
    /* A copy: an observer may unregister itself. */
    struct xs_observer copy[XS_OBSERVERS_MAX];
    size_t n = xs_observers_snapshot(&observers, copy);

    for (size_t i = 0; i < n; i++) {
        if (is_day && copy[i].fn2 != NULL)
            ((xs_activity_day_fn *)copy[i].fn2)(bare, copy[i].ud);
        else if (!is_day && copy[i].fn != NULL)
            ((xs_activity_count_fn *)copy[i].fn)(bare, c, 1, copy[i].ud);
    }
}

/* ---- time ---- */

static int32_t
act_today(void)
{
    int64_t now = xs_wall_s();

    return (int32_t)(now >= 0 ? now / 86400 : 0);
}

/* ---- deltas ---- */

static void
act_delta_clear(struct act_delta *d)
{
    xs_free(d->status);
    memset(d, 0, sizeof(*d));
}

/* Put older (a batch that failed) back in front of newer (pending). */
static void
act_delta_merge_older(struct act_delta *newer, struct act_delta *older)
{
    for (size_t i = 0; i < XS_ACT__COUNT; i++)
        newer->c[i] += older->c[i];
    if (older->ndays > 0) {
        if (newer->ndays == 0) {
            newer->ndays = older->ndays;
            newer->first_day = older->first_day;
            newer->last_day = older->last_day;
        } else {
            newer->ndays += older->ndays -
                (older->last_day >= newer->first_day ? 1 : 0);
            newer->first_day = older->first_day;
        }
    }
    if (newer->logout == 0 && older->logout != 0) {
        newer->logout = older->logout;
        newer->status = older->status;
        older->status = NULL;
    }
    act_delta_clear(older);
}

/* ---- the table of records ---- */

static size_t
act_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

static struct act_rec *
act_rec_lookup(const char *bare)
{
    struct act_rec *r;

    if (act == NULL || act->nbuckets == 0)
        return NULL;
    r = act->buckets[act_hash(bare) & (act->nbuckets - 1)];
    for (; r != NULL; r = r->hnext) {
        if (strcmp(r->bare, bare) == 0)
            return r;
    }
    return NULL;
}

static void
act_table_grow(void)
{
    size_t n = act->nbuckets ? act->nbuckets * 2 : ACT_BUCKETS_MIN;
    struct act_rec **b = xs_calloc(n, sizeof(*b));

    for (size_t i = 0; i < act->nbuckets; i++) {
        struct act_rec *r = act->buckets[i], *next;

        for (; r != NULL; r = next) {
            size_t k = act_hash(r->bare) & (n - 1);

            next = r->hnext;
            r->hnext = b[k];
            b[k] = r;
        }
    }
    xs_free(act->buckets);
    act->buckets = b;
    act->nbuckets = n;
}

/* The record of user@host, made if needed; NULL when the table is full. */
static struct act_rec *
act_rec_get(const char *user, const char *host, const char *bare)
{
    struct act_rec *r = act_rec_lookup(bare);
    size_t k;

    if (r != NULL)
        return r;
    if (act->nrecs >= ACT_RECORDS_MAX) {
        if (!act->is_full_logged)
            xs_log(XS_LOG_WARN, "activity: %u accounts in memory, not "
                "counting more until the next write", ACT_RECORDS_MAX);
        act->is_full_logged = true;
        return NULL;
    }
    if (act->nrecs >= act->nbuckets)
        act_table_grow();
    r = xs_calloc(1, sizeof(*r));
    r->bare = xs_strdup(bare);
    r->user = xs_strdup(user);
    r->host = xs_strdup(host);
    r->marked_day = -1;
    k = act_hash(bare) & (act->nbuckets - 1);
    r->hnext = act->buckets[k];
    act->buckets[k] = r;
    act->nrecs++;
    return r;
}

static struct act_rec *
act_rec_of(const struct xs_jid *j)
{
    if (j->local == NULL)
        return NULL;
    return act_rec_get(j->local, j->domain, j->bare);
}

static void
act_rec_unlink_dirty(struct act_rec *r)
{
    struct act_rec **p;

    if (!r->is_dirty)
        return;
    for (p = &act->dirty; *p != NULL; p = &(*p)->dnext) {
        if (*p == r) {
            *p = r->dnext;
            break;
        }
    }
    r->is_dirty = false;
    r->dnext = NULL;
}

static void
act_rec_remove(struct act_rec *r)
{
    struct act_rec **p = &act->buckets[act_hash(r->bare) &
        (act->nbuckets - 1)];

    for (; *p != NULL; p = &(*p)->hnext) {
        if (*p == r) {
            *p = r->hnext;
            break;
        }
    }
    act_rec_unlink_dirty(r);
    act_delta_clear(&r->pending);
    act_delta_clear(&r->inflight);
    xs_free(r->bare);
    xs_free(r->user);
    xs_free(r->host);
    xs_free(r);
    act->nrecs--;
    if (act->nrecs < ACT_RECORDS_MAX)
        act->is_full_logged = false;
}

static void
act_rec_dirty(struct act_rec *r)
{
    if (r->is_dirty)
        return;
    r->is_dirty = true;
    r->dnext = act->dirty;
    act->dirty = r;
}

static void
act_count(struct act_rec *r, enum xs_act_counter c)
{
    if (r == NULL)
        return;
    r->pending.c[c]++;
    act_rec_dirty(r);
    act_notify(r->bare, false, c);
}

static void
act_mark_day(struct act_rec *r)
{
    int32_t today = act_today();
    struct act_delta *d;

    if (r == NULL || r->marked_day == today)
        return;
    r->marked_day = today;
    d = &r->pending;
    if (d->ndays == 0) {
        d->ndays = 1;
        d->first_day = d->last_day = today;
    } else if (today != d->last_day) {
        d->ndays++;
        d->last_day = today;
    }
    act_rec_dirty(r);
    act_notify(r->bare, true, XS_ACT__COUNT);
}

/* ---- writing batches, and reads that never overlap them ---- */

static void act_flush_start(void);
static void act_drain_done(void);

static void
act_read_done(xs_rc rc, const struct xs_activity *db, void *udata)
{
    struct act_read *rd = udata;
    const struct act_rec *r;
    struct xs_activity a;

    if (rc == XS_OK) {
        a = *db;
        r = act_rec_lookup(rd->bare);
        if (r != NULL) {
            const struct act_delta *p = &r->pending;

            /* No batch is in flight during a read: pending is all that
             * the row lacks. */
            for (size_t i = 0; i < XS_ACT__COUNT; i++)
                a.counts[i] += p->c[i];
            if (p->ndays > 0) {
                a.days_active += p->ndays - (a.last_active_day >=
                    p->first_day ? 1 : 0);
                if (p->last_day > a.last_active_day)
                    a.last_active_day = p->last_day;
            }
            if (p->logout != 0) {
                a.last_logout = p->logout;
                a.last_status = p->status;
            }
        }
    }
    if (rd->prev != NULL)
        rd->prev->next = rd->next;
    else
        act->reading = rd->next;
    if (rd->next != NULL)
        rd->next->prev = rd->prev;
    act->nreading--;
    rd->cb(rc, rc == XS_OK ? &a : NULL, rd->udata);
    xs_free(rd->user);
    xs_free(rd->host);
    xs_free(rd->bare);
    xs_free(rd);
    if (act->nreading == 0 && act->is_flush_wanted)
        act_flush_start();
}

static xs_rc
act_read_start(struct act_read *rd)
{
    xs_rc rc = xs_activity_db_get(xs_server()->db, rd->user, rd->host,
        act_read_done, rd);

    if (rc != XS_OK)
        return rc;
    rd->prev = NULL;
    rd->next = act->reading;
    if (act->reading != NULL)
        act->reading->prev = rd;
    act->reading = rd;
    act->nreading++;
    return XS_OK;
}

static void
act_read_free(struct act_read *rd)
{
    xs_free(rd->user);
    xs_free(rd->host);
    xs_free(rd->bare);
    xs_free(rd);
}

/* Start the reads held back by a batch; a read the database refuses now
 * is answered now (we are in a callback: "later" holds). */
static void
act_reads_release(void)
{
    while (act->waiting != NULL && act->batch == NULL &&
           !act->is_flush_wanted) {
        struct act_read *rd = act->waiting;
        xs_rc rc;

        act->waiting = rd->next;
        if (act->waiting == NULL)
            act->waiting_tail = NULL;
        rd->next = NULL;
        if ((rc = act_read_start(rd)) != XS_OK) {
            rd->cb(rc, NULL, rd->udata);
            act_read_free(rd);
        }
    }
}

static void
act_batch_free(struct act_batch *b)
{
    if (b == NULL)
        return;
    for (size_t i = 0; i < b->n; i++)
        xs_free(b->keys[i]);
    xs_free(b->keys);
    xs_free(b);
}

/* After a batch: clear what was written or put it back; forget records
 * of accounts that are idle and offline. */
static void
act_batch_settle(struct act_batch *b, bool is_ok)
{
    for (size_t i = 0; i < b->n; i++) {
        struct act_rec *r = act_rec_lookup(b->keys[i]);
        size_t nsess;

        if (r == NULL || !r->is_inflight)
            continue;           /* deleted meanwhile (maybe made again) */
        r->is_inflight = false;
        if (!is_ok) {
            act_delta_merge_older(&r->pending, &r->inflight);
            act_rec_dirty(r);
            continue;
        }
        act_delta_clear(&r->inflight);
        (void)xs_sm_sessions(r->bare, &nsess);
        if (nsess == 0 && !r->is_dirty)
            act_rec_remove(r);
    }
}

static void
act_batch_done(xs_rc rc, void *udata)
{
    struct act_batch *b = udata;
    bool is_full = b->n == XS_ACTIVITY_BATCH_MAX;

    if (rc != XS_OK)
        xs_log(XS_LOG_WARN, "activity: write of %zu accounts failed (%s), "
            "kept for the next one", b->n, xs_rc_str(rc));
    act_batch_settle(b, rc == XS_OK);
    act_batch_free(b);
    act->batch = NULL;
    if (act->dirty != NULL && rc == XS_OK &&
        (is_full || xs_server()->is_stopping)) {
        act_flush_start();      /* more than one batch's worth */
        if (act->batch != NULL)
            return;
    }
    act_reads_release();
    act_drain_done();
}

/* The shutdown waited for our last batch: it is written (or failed,
 * logged: what failed is lost, there is no later write). */
static void
act_drain_done(void)
{
    if (act->is_draining && act->batch == NULL) {
        act->is_draining = false;
        xs_shutdown_release();
    }
}

static void
act_flush_start(void)
{
    struct xs_activity_delta *d;
    struct act_batch *b;
    size_t n = 0;
    xs_rc rc;

    if (act == NULL || act->batch != NULL)
        return;
    if (act->dirty == NULL) {
        act->is_flush_wanted = false;
        act_reads_release();
        return;
    }
    if (act->nreading > 0) {
        act->is_flush_wanted = true;    /* holds new reads back */
        return;
    }
    act->is_flush_wanted = false;
    d = xs_calloc(XS_ACTIVITY_BATCH_MAX, sizeof(*d));
    b = xs_calloc(1, sizeof(*b));
    b->keys = xs_calloc(XS_ACTIVITY_BATCH_MAX, sizeof(b->keys[0]));
    while (act->dirty != NULL && n < XS_ACTIVITY_BATCH_MAX) {
        struct act_rec *r = act->dirty;

        act->dirty = r->dnext;
        r->dnext = NULL;
        r->is_dirty = false;
        /* Move pending to inflight (inflight is empty between batches). */
        r->inflight = r->pending;
        memset(&r->pending, 0, sizeof(r->pending));
        r->is_inflight = true;
        d[n] = (struct xs_activity_delta){
            .user = r->user, .host = r->host, .ndays = r->inflight.ndays,
            .first_day = r->inflight.first_day,
            .last_day = r->inflight.last_day,
            .logout = r->inflight.logout, .status = r->inflight.status,
        };
        memcpy(d[n].counts, r->inflight.c, sizeof(d[n].counts));
        b->keys[n] = xs_strdup(r->bare);
        n++;
    }
    b->n = n;
    rc = xs_activity_db_add(xs_server()->db, d, n, act_batch_done, b);
    xs_free(d);
    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "activity: cannot queue a write of %zu "
            "accounts (%s), retrying later", n, xs_rc_str(rc));
        act_batch_settle(b, false);
        act_batch_free(b);
        act_reads_release();
        act_drain_done();
        return;
    }
    act->batch = b;
}

static void
act_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    act_flush_start();
}

void
xs_activity_flush_soon(void)
{
    if (act != NULL && act->soon != NULL)
        event_active(act->soon, EV_TIMEOUT, 0);
}

/* ---- public lookups ---- */

bool
xs_activity_pending(const char *bare, struct xs_activity *out)
{
    const struct act_rec *r = act_rec_lookup(bare);
    const struct act_delta *p;

    memset(out, 0, sizeof(*out));
    out->last_active_day = -1;
    if (r == NULL)
        return false;
    /* A batch in flight is not in the database yet either. */
    for (int k = 0; k < 2; k++) {
        p = k == 0 ? &r->inflight : &r->pending;
        for (size_t i = 0; i < XS_ACT__COUNT; i++)
            out->counts[i] += p->c[i];
        if (p->ndays > 0) {
            out->days_active += p->ndays - (out->last_active_day >=
                p->first_day ? 1 : 0);
            out->last_active_day = p->last_day;
        }
        if (p->logout != 0) {
            out->last_logout = p->logout;
            out->last_status = p->status;
        }
    }
    return true;
}

xs_rc
xs_activity_get(const char *user, const char *host, xs_activity_cb *cb,
    void *udata)
{
    struct act_read *rd;
    xs_rc rc;

    if (act == NULL || cb == NULL || user == NULL || host == NULL)
        return XS_EINVAL;
    rd = xs_calloc(1, sizeof(*rd));
    rd->user = xs_strdup(user);
    rd->host = xs_strdup(host);
    rd->bare = xs_asprintf("%s@%s", user, host);
    rd->cb = cb;
    rd->udata = udata;
    if (act->batch != NULL || act->is_flush_wanted) {
        if (act->waiting_tail != NULL)
            act->waiting_tail->next = rd;
        else
            act->waiting = rd;
        act->waiting_tail = rd;
        return XS_OK;
    }
    if ((rc = act_read_start(rd)) != XS_OK)
        act_read_free(rd);
    return rc;
}

/* ---- what passes ---- */

static bool
act_is_local(const struct xs_jid *j)
{
    return j != NULL && j->local != NULL &&
        xs_conf_is_local_host(xs_server()->conf, j->domain);
}

/* A message that is conversation: a body, not an error or groupchat. */
static bool
act_message_counts(const struct xs_stanza *st)
{
    const char *type = xs_stanza_attr(st, "type");

    if (type != NULL && (strcmp(type, "error") == 0 ||
        strcmp(type, "groupchat") == 0))
        return false;
    return xs_elem_child(st->el, st->el->ns, "body") != NULL;
}

/* Whether other is a contact of owner (a local account), from whichever
 * roster is in memory. */
static bool
act_is_contact(const struct xs_jid *owner, const struct xs_jid *other)
{
    if (xs_roster_loaded(owner->bare) != NULL)
        return xs_roster_is_contact(owner->bare, other->bare);
    if (act_is_local(other) && xs_roster_loaded(other->bare) != NULL)
        return xs_roster_is_contact(other->bare, owner->bare);
    return false;
}

static const struct xs_roster_item *
act_item(const struct xs_jid *owner, const struct xs_jid *contact)
{
    const struct xs_roster *r = xs_roster_loaded(owner->bare);

    return r != NULL ? xs_roster_item(r, contact->bare) : NULL;
}

static enum xs_verdict
act_on_sent(struct xs_stanza_ctx *ctx, void *state)
{
    const struct xs_jid *from = ctx->from, *to = ctx->to;
    const struct xs_roster_item *it;
    const char *type;

    (void)state;
    if (ctx->origin == NULL || from->local == NULL || to == NULL ||
        to->local == NULL || xs_jid_bare_equal(from, to))
        return XS_PASS;
    if (ctx->kind == XS_K_MESSAGE) {
        struct act_rec *r;

        if (!act_message_counts(ctx->st))
            return XS_PASS;
        r = act_rec_of(from);
        act_mark_day(r);
        act_count(r, xs_roster_is_contact(from->bare, to->bare)
            ? XS_ACT_MSGS_TO_CONTACTS : XS_ACT_MSGS_TO_STRANGERS);
        return XS_PASS;
    }
    if ((type = xs_stanza_attr(ctx->st, "type")) == NULL)
        return XS_PASS;
    it = act_item(from, to);
    if (strcmp(type, "subscribe") == 0) {
        if (it != NULL && (it->ask_out || it->sub == XS_SUB_TO ||
            it->sub == XS_SUB_BOTH))
            return XS_PASS;     /* asked already, or granted */
        act_count(act_rec_of(from), XS_ACT_SUBS_SENT);
    } else if (strcmp(type, "subscribed") == 0 ||
               strcmp(type, "unsubscribed") == 0) {
        /* The answer to a pending request from `to`: its outcome. */
        if (it == NULL || !it->ask_in || !act_is_local(to))
            return XS_PASS;
        act_count(act_rec_of(to), type[0] == 's' ? XS_ACT_SUBS_ACCEPTED
            : XS_ACT_SUBS_REFUSED);
    }
    return XS_PASS;
}

static enum xs_verdict
act_on_deliver(struct xs_stanza_ctx *ctx, void *state)
{
    const struct xs_jid *from = ctx->from, *to = ctx->to;
    const struct xs_roster_item *it;
    const char *type;

    (void)state;
    if (to == NULL || to->local == NULL || from->local == NULL ||
        xs_jid_bare_equal(from, to))
        return XS_PASS;
    if (ctx->kind == XS_K_MESSAGE) {
        if (act_message_counts(ctx->st))
            act_count(act_rec_of(to), act_is_contact(to, from)
                ? XS_ACT_MSGS_FROM_CONTACTS : XS_ACT_MSGS_FROM_STRANGERS);
        return XS_PASS;
    }
    if ((type = xs_stanza_attr(ctx->st, "type")) == NULL)
        return XS_PASS;
    it = act_item(to, from);
    if (strcmp(type, "subscribe") == 0) {
        if (it != NULL && (it->ask_in || it->sub == XS_SUB_FROM ||
            it->sub == XS_SUB_BOTH))
            return XS_PASS;     /* pending already, or granted */
        act_count(act_rec_of(to), XS_ACT_SUBS_RECEIVED);
    } else if ((strcmp(type, "subscribed") == 0 ||
                strcmp(type, "unsubscribed") == 0) && !act_is_local(from)) {
        /* Local answerers were counted when they sent it. */
        if (it == NULL || !it->ask_out)
            return XS_PASS;
        act_count(act_rec_of(to), type[0] == 's' ? XS_ACT_SUBS_ACCEPTED
            : XS_ACT_SUBS_REFUSED);
    }
    return XS_PASS;
}

/* ---- sessions and accounts ---- */

static void
act_on_bound(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;

    (void)ev, (void)state;
    if (s->jid != NULL)
        act_mark_day(act_rec_of(s->jid));
}

/* The status text of the session's last presence if it was unavailable,
 * cut at XS_ACTIVITY_STATUS_MAX bytes on a character boundary. */
static char *
act_logout_status(const struct xs_session *s)
{
    char *text;
    size_t len;

    if (s->presence == NULL || !xs_stanza_type_is(s->presence,
        "unavailable"))
        return NULL;
    text = xs_elem_child_text(s->presence->el, s->presence->el->ns,
        "status");
    if (text == NULL)
        return NULL;
    len = strlen(text);
    if (len > XS_ACTIVITY_STATUS_MAX) {
        len = XS_ACTIVITY_STATUS_MAX;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80)
            len--;
        text[len] = '\0';
    }
    return text;
}

/* Shutting down, every session closed: write what is counted now and
 * hold the exit until it is committed. */
static void
act_on_draining(enum xs_event ev, void *arg, void *state)
{
    (void)ev, (void)arg, (void)state;
    if (act == NULL || (act->dirty == NULL && act->batch == NULL))
        return;
    act->is_draining = true;
    xs_shutdown_hold();
    if (act->batch == NULL)
        act_flush_start();
    if (act->batch == NULL && !act->is_flush_wanted)
        act_drain_done();   /* could not even queue it */
}

static void
act_on_closed(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;
    struct xs_session *const *v;
    struct act_rec *r;
    size_t n, left = 0;

    (void)ev, (void)state;
    if (s->jid == NULL)
        return;                 /* never bound: not a login */
    /* The closing session is normally unbound already; skip it anyway. */
    v = xs_sm_sessions(s->jid->bare, &n);
    for (size_t i = 0; i < n; i++)
        left += v[i] != s;
    if (left > 0 || (r = act_rec_of(s->jid)) == NULL)
        return;
    xs_free(r->pending.status);
    r->pending.status = act_logout_status(s);
    r->pending.logout = xs_wall_s();
    act_rec_dirty(r);
    if (xs_server()->is_stopping)
        xs_activity_flush_soon();
}

static void
act_on_user_deleted(enum xs_event ev, void *arg, void *state)
{
    const struct xs_jid *bare = arg;
    struct act_rec *r;

    (void)ev, (void)state;
    if (bare != NULL && (r = act_rec_lookup(bare->bare)) != NULL)
        act_rec_remove(r);      /* a batch in flight skips it */
}

/* ---- operator verb user_activity USER HOST ---- */

static json_t *
act_json_time(int64_t t)
{
    char buf[32];
    struct tm tm;
    time_t tt = (time_t)t;

    if (t <= 0 || gmtime_r(&tt, &tm) == NULL ||
        strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        return json_null();
    return json_string(buf);
}

static void
act_admin_got(xs_rc rc, const struct xs_activity *a, void *udata)
{
    struct xs_admin_call *call = xs_admin_call_by_udata(udata);
    json_t *o;

    if (call == NULL)
        return;                 /* the server stopped waiting */
    if (rc == XS_ENOTFOUND) {
        xs_admin_call_fail(call, 404, "No such account");
        return;
    }
    if (rc != XS_OK) {
        xs_admin_call_fail_db(call, rc);
        return;
    }
    o = json_object();
    json_object_set_new(o, "created_at", act_json_time(a->created_at));
    json_object_set_new(o, "last_login", act_json_time(a->last_login));
    json_object_set_new(o, "last_logout", act_json_time(a->last_logout));
    json_object_set_new(o, "days_active",
        json_integer((json_int_t)a->days_active));
    for (size_t i = 0; i < XS_ACT__COUNT; i++)
        json_object_set_new(o, xs_act_counter_names[i],
            json_integer(a->counts[i] > INT64_MAX ? INT64_MAX
                : (json_int_t)a->counts[i]));
    xs_admin_call_ok(call, o);
}

static void
act_admin_activity(struct xs_admin_call *call, void *state)
{
    xs_rc rc;

    (void)state;
    rc = xs_activity_get(xs_admin_call_arg(call, "user"),
        xs_admin_call_arg(call, "host"), act_admin_got,
        xs_admin_call_udata(call));
    if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
}

/* ---- the module ---- */

static xs_rc
act_init(const struct xs_conf *conf, void **state)
{
    static const char *const known[] = { "flush_interval", NULL };
    const struct xs_conf_node *m = xs_conf_module_opts(conf, "mod_activity");
    const struct xs_conf_node *n;
    struct act_state *st = xs_calloc(1, sizeof(*st));
    struct timeval tv;
    char *err = NULL;
    long long v;

    *state = st;
    st->flush_interval = XS_ACTIVITY_FLUSH_DEFAULT;
    if (m != NULL && xs_conf_node_check_keys(conf, m, "modules.mod_activity",
        known, &err) != XS_OK)
        goto fail;
    if (m != NULL && (n = xs_conf_node_get(m, "flush_interval")) != NULL) {
        if (xs_conf_node_int(n, 1, ACT_FLUSH_MAX, &v) != XS_OK) {
            err = xs_conf_errmsg(conf, n,
                "modules.mod_activity.flush_interval",
                "must be an integer 1..%d (seconds)", ACT_FLUSH_MAX);
            goto fail;
        }
        st->flush_interval = (int)v;
    }
    st->timer = event_new(xs_server()->base, -1, EV_PERSIST, act_on_timer,
        NULL);
    st->soon = event_new(xs_server()->base, -1, 0, act_on_timer, NULL);
    if (st->timer == NULL || st->soon == NULL) {
        err = xs_strdup("activity: cannot make its timer");
        goto fail;
    }
    tv = (struct timeval){ .tv_sec = st->flush_interval };
    event_add(st->timer, &tv);
    act = st;
    return XS_OK;

fail:
    xs_log(XS_LOG_ERR, "%s", err);
    xs_free(err);
    return XS_EINVAL;
}

static void
act_fini(void *state)
{
    struct act_state *st = state;

    if (st == NULL)
        return;
    if (st->timer != NULL)
        event_free(st->timer);
    if (st->soon != NULL)
        event_free(st->soon);
    /* pgq_free (later) drops the requests without calling back: free
     * what they point to here. */
    while (st->reading != NULL) {
        struct act_read *rd = st->reading;

        st->reading = rd->next;
        act_read_free(rd);
    }
    while (st->waiting != NULL) {
        struct act_read *rd = st->waiting;

        st->waiting = rd->next;
        act_read_free(rd);
    }
    act_batch_free(st->batch);
    for (size_t i = 0; i < st->nbuckets; i++) {
        struct act_rec *r = st->buckets[i], *next;

        for (; r != NULL; r = next) {
            next = r->hnext;
            act_delta_clear(&r->pending);
            act_delta_clear(&r->inflight);
            xs_free(r->bare);
            xs_free(r->user);
            xs_free(r->host);
            xs_free(r);
        }
    }
    xs_free(st->buckets);
    if (act == st)
        act = NULL;
    xs_free(st);
}

static const struct xs_hook_spec act_hooks[] = {
    { XS_HOOK_C2S_IN, XS_K_MESSAGE | XS_K_PRESENCE, XS_PRIO_POLICY - 1,
      act_on_sent },
    { XS_HOOK_DELIVER, XS_K_MESSAGE | XS_K_PRESENCE, XS_PRIO_POLICY - 1,
      act_on_deliver },
    { 0 }
};

static const struct xs_event_spec act_events[] = {
    { XS_EV_SESSION_BOUND, act_on_bound },
    { XS_EV_SESSION_CLOSED, act_on_closed },
    { XS_EV_SERVER_DRAINING, act_on_draining },
    { XS_EV_USER_DELETED, act_on_user_deleted },
    { 0 }
};

static const struct xs_admin_cmd act_commands[] = {
    { "user_activity", act_admin_activity },
    { 0 }
};

const struct xs_module xs_mod_activity = {
    .name = "activity",
    .abi = XS_MODULE_ABI,
    .init = act_init,
    .fini = act_fini,
    .hooks = act_hooks,
    .events = act_events,
    .commands = act_commands,
};
