/*
 * discovery.c: key discovery of mod_trust (discovery.h;
 * docs/trust-flags.md 5.6).  We answer <keys xmlns='urn:xmppd:trust:0'/>
 * for our domains; we fetch and cache the keys of others, pinned keys
 * first; a check whose issuer's key is not known waits for the answer,
 * and the waiters are verified a batch per loop iteration.
 */
#include "reputation/discovery.h"

#include "reputation/audit.h"
#include "reputation/reputation.h"
#include "reputation/trust_int.h"
#include "reputation/trust_map.h"
#include "xmppd/core/server.h"
#include "xmppd/router.h"

#include <event2/event.h>
#include <sodium.h>
#include <string.h>

#define TRUST_REFETCH_S         60      /* one discovery per domain a minute
                                           (docs/trust-flags.md 5.6) */
#define TRUST_DOMAINS_MAX       10000   /* domains with discovery state */
#define TRUST_KEYS_MAX          16      /* keys in one discovery answer */
#define TRUST_PK_B64_LEN        45      /* base64 of 32 bytes, NUL */
/* Waiters verified per loop iteration once keys arrive: a thousand
 * signature checks at once would stall the loop for tens of ms. */
#define TRUST_RESOLVE_BATCH     32

/* ---- the keys element (docs/trust-flags.md 5.6) ---- */

struct xs_elem *
xs_trust_keys_elem(const struct xs_trust_pubkey *keys, size_t n)
{
    struct xs_elem *el = xs_elem_new(XS_NS_TRUST, "keys");

    for (size_t i = 0; i < n; i++) {
        const struct xs_trust_pubkey *k = &keys[i];
        char pub[TRUST_PK_B64_LEN], created[XS_TRUST_TIME_LEN + 1];
        char retired[XS_TRUST_TIME_LEN + 1], until[XS_TRUST_TIME_LEN + 1];
        struct xs_elem *e;

        /* A time out of the format's range cannot be told: leave the
         * key out rather than tell it wrong. */
        if (!xs_trust_time_format(k->created, created) ||
            (k->retired != 0 &&
             (!xs_trust_time_format(k->retired, retired) ||
              !xs_trust_time_format(k->valid_until, until))))
            continue;
        xs_trust_b64_encode(k->pk, sizeof(k->pk), false, pub, sizeof(pub));
        e = xs_elem_add_child(el, XS_NS_TRUST, "key");
        xs_elem_set_attr(e, "id", k->id);
        xs_elem_set_attr(e, "alg", "ed25519");
        xs_elem_set_attr(e, "public", pub);
        xs_elem_set_attr(e, "created", created);
        if (k->retired != 0) {
            xs_elem_set_attr(e, "retired", retired);
            xs_elem_set_attr(e, "until", until);
        }
    }
    return el;
}

/* One <key/>, strictly: false for anything we would not verify with. */
static bool
disco_key_parse(const struct xs_elem *e, struct xs_trust_pubkey *k)
{
    const char *id = xs_elem_attr(e, "id");
    const char *alg = xs_elem_attr(e, "alg");
    const char *pub = xs_elem_attr(e, "public");
    const char *created = xs_elem_attr(e, "created");
    const char *retired = xs_elem_attr(e, "retired");
    const char *until = xs_elem_attr(e, "until");

    memset(k, 0, sizeof(*k));
    /* Another algorithm is a later version's: ignored, not an error. */
    if (id == NULL || alg == NULL || strcmp(alg, "ed25519") != 0 ||
        strlen(id) != XS_TRUSTKEY_ID_LEN || pub == NULL ||
        !xs_trust_b64_decode(pub, false, k->pk, sizeof(k->pk)))
        return false;
    /* The id is the key's hash: one that does not match names another
     * key (a confused or lying peer). */
    xs_trustkey_id_of(k->pk, k->id);
    if (strcmp(k->id, id) != 0)
        return false;
    if (created == NULL || !xs_trust_time_parse(created, &k->created))
        return false;
    if (retired == NULL && until == NULL)
        return true;
    /* Retired and until come together, in order. */
    if (retired == NULL || until == NULL ||
        !xs_trust_time_parse(retired, &k->retired) ||
        !xs_trust_time_parse(until, &k->valid_until) ||
        k->retired <= 0 || k->retired < k->created ||
        k->valid_until < k->retired)
        return false;
    return true;
}

size_t
xs_trust_keys_parse(const struct xs_elem *el, struct xs_trust_pubkey *out,
    size_t max)
{
    size_t n = 0, seen = 0;

    if (el == NULL || el->ns == NULL || strcmp(el->ns, XS_NS_TRUST) != 0 ||
        strcmp(el->name, "keys") != 0)
        return 0;
    /* At most TRUST_KEYS_MAX <key/> children are looked at: a domain has
     * one current key and a few retired ones, never a crowd. */
    for (const struct xs_elem *c = xs_elem_first_elem(el);
        c != NULL && seen < TRUST_KEYS_MAX && n < max;
        c = xs_elem_next_elem(c)) {
        bool is_dup = false;

        if (c->ns == NULL || strcmp(c->ns, XS_NS_TRUST) != 0 ||
            strcmp(c->name, "key") != 0)
            continue;
        seen++;
        if (!disco_key_parse(c, &out[n]))
            continue;
        for (size_t i = 0; i < n; i++)
            is_dup = is_dup || strcmp(out[i].id, out[n].id) == 0;
        if (!is_dup)
            n++;
    }
    return n;
}

/* ---- the state ---- */

/* A stanza waiting for its issuer's keys. */
struct disco_waiter {
    struct xs_trust_check *c;   /* borrowed: the caller's; NULL once
                                   cancelled */
    xs_trust_check_fn     *cb;
    void                  *ud;  /* borrowed: handed back */
    char                  *from_bare;   /* owned */
    char                  *to_bare;     /* owned */
};

/* What we know of a remote domain's keys. */
struct disco_domain {
    struct xs_trust_discovery *ds;      /* borrowed: for the IQ answer */
    char                  *name;        /* owned: the issuer domain */
    struct xs_trust_pubkey keys[TRUST_KEYS_MAX];
    size_t                 nkeys;
    int64_t                fetched_at;  /* wall s of the last answer with
                                           keys; 0: none yet */
    int64_t                attempt_at;  /* wall s the last discovery
                                           started; 0: never */
    bool                   has_failed;  /* ... and it failed */
    bool                   is_fetching;
    uint64_t               req;         /* its xs_iq_request handle */
    char                  *asker;       /* owned: our domain that asked,
                                           while fetching */
    /* Checks waiting, oldest first: waiters[whead..nwaiters) (cancelled
     * ones have c NULL), nlive of them not cancelled. */
    struct disco_waiter   *waiters;     /* owned array */
    size_t                 whead;
    size_t                 nwaiters;
    size_t                 cwaiters;
    size_t                 nlive;
    /* The answer is in: the waiters are being verified, a batch per loop
     * iteration (on ds->ready). */
    bool                   is_queued;
    struct disco_domain   *rnext;       /* borrowed: next on ds->ready */
};

/* A pinned key, its id computed once. */
struct disco_pin {
    const char *domain;         /* borrowed from the policy */
    char        id[XS_TRUSTKEY_ID_LEN + 1];
    uint8_t     pk[XS_TRUSTKEY_PK_LEN];
};

/* The module's discovery state. */
struct xs_trust_discovery {
    struct xs_trust_mod  *m;            /* borrowed: its options, the
                                           verifier */
    struct disco_pin     *pins;         /* owned array */
    size_t                npins;
    struct xs_trust_map   domains;      /* values: struct disco_domain */
    struct event         *resolve_ev;   /* owned: works ds->ready */
    struct disco_domain  *ready;        /* borrowed: domains whose waiters
                                           are due, first first */
    struct disco_domain **ready_tail;   /* borrowed */
};

/* ---- key lookup for the verifier: pinned, then discovered ---- */

/* Whether a discovered key still verifies at now: a current key while
 * the cache holds the answer, a retired one until its `until`. */
static bool
disco_cached_key_ok(const struct xs_trust_discovery *ds,
    const struct disco_domain *d, const struct xs_trust_pubkey *k,
    int64_t now)
{
    if (k->retired != 0)
        return now <= k->valid_until;
    return d->fetched_at != 0 &&
        now < d->fetched_at + ds->m->policy.trust.key_cache_s;
}

static bool
disco_is_pinned_domain(const struct xs_trust_discovery *ds,
    const char *domain)
{
    for (size_t i = 0; i < ds->npins; i++) {
        if (strcmp(ds->pins[i].domain, domain) == 0)
            return true;
    }
    return false;
}

/* xs_flag_key_fn: if the domain has pinned keys, only they count (a
 * fetched key that differs is never trusted); else the discovery
 * cache. */
bool
xs_trust_key_lookup(void *udata, const char *domain, const char *key_id,
    int64_t now, struct xs_trust_pubkey *out)
{
    const struct xs_trust_discovery *ds = udata;
    const struct xs_trust_map_ent *e;
    const struct disco_domain *d;
    bool is_pinned = false;

    for (size_t i = 0; i < ds->npins; i++) {
        const struct disco_pin *p = &ds->pins[i];

        if (strcmp(p->domain, domain) != 0)
            continue;
        is_pinned = true;
        if (strcmp(p->id, key_id) == 0) {
            /* No lifetime is known for a pinned key: it verifies until
             * the operator removes it. */
            memset(out, 0, sizeof(*out));
            memcpy(out->id, p->id, sizeof(out->id));
            memcpy(out->pk, p->pk, sizeof(out->pk));
            return true;
        }
    }
    if (is_pinned || (e = xs_trust_map_find(&ds->domains, domain)) == NULL)
        return false;
    d = e->val;
    for (size_t i = 0; i < d->nkeys; i++) {
        if (strcmp(d->keys[i].id, key_id) == 0 &&
            disco_cached_key_ok(ds, d, &d->keys[i], now)) {
            *out = d->keys[i];
            return true;
        }
    }
    return false;
}

/* ---- fetching and caching ---- */

static void
disco_domain_free(void *val)
{
    struct disco_domain *d = val;

    /* The module is going away: waiters are dropped without a call (their
     * owners cancel or free them), the request is cancelled. */
    if (d->is_fetching)
        xs_iq_request_cancel(d->req);
    xs_free(d->asker);
    for (size_t i = d->whead; i < d->nwaiters; i++) {
        xs_free(d->waiters[i].from_bare);
        xs_free(d->waiters[i].to_bare);
    }
    xs_free(d->waiters);
    xs_free(d->name);
    xs_free(d);
}

static struct disco_domain *
disco_domain_get(struct xs_trust_discovery *ds, const char *name)
{
    struct xs_trust_map_ent *e = xs_trust_map_find(&ds->domains, name);
    struct disco_domain *d;

    if (e != NULL)
        return e->val;
    if (ds->domains.n >= TRUST_DOMAINS_MAX)
        return NULL;
    d = xs_calloc(1, sizeof(*d));
    d->ds = ds;
    d->name = xs_strdup(name);
    xs_trust_map_add(&ds->domains, name, d);
    return d;
}

/* Nothing left worth keeping: no discovery running or recent, nobody
 * waiting, no key that still verifies. */
static bool
disco_domain_dead(void *val, int64_t now)
{
    const struct disco_domain *d = val;

    if (d->is_fetching || d->is_queued || d->nwaiters > 0 ||
        (now >= d->attempt_at && now - d->attempt_at < TRUST_REFETCH_S))
        return false;
    for (size_t i = 0; i < d->nkeys; i++) {
        if (disco_cached_key_ok(d->ds, d, &d->keys[i], now))
            return false;
    }
    return true;
}

/*
 * A pinned domain answered with keys we did not pin: the domain changed
 * its key, or someone speaks for it.  Never trusted (the lookup reads
 * only pins), and an operator must hear of it.
 */
static void
disco_pinned_check(struct xs_trust_discovery *ds,
    const struct disco_domain *d, const char *asker)
{
    json_t *expl = json_array();
    struct xs_rep_score s;
    size_t nbad = 0;

    for (size_t i = 0; i < d->nkeys; i++) {
        bool is_pinned = false;

        for (size_t j = 0; j < ds->npins && !is_pinned; j++)
            is_pinned = strcmp(ds->pins[j].domain, d->name) == 0 &&
                sodium_memcmp(ds->pins[j].pk, d->keys[i].pk,
                    sizeof(d->keys[i].pk)) == 0;
        if (is_pinned)
            continue;
        nbad++;
        json_array_append_new(expl, json_pack("{s:s, s:s, s:s, s:f, s:I, "
            "s:s}", "what", "unpinned_key", "source_kind", "system",
            "source", d->name, "points", 0.0, "age", (json_int_t)0,
            "note", d->keys[i].id));
    }
    if (nbad > 0) {
        s = xs_reputation_score(d->name);
        xs_trust_counters.pinned_key_mismatches++;
        xs_log(XS_LOG_WARN, "trust: pinned domain=%s published %zu key(s) "
            "that are not pinned; ignored (update trust_keys if the domain "
            "rotated)", d->name, nbad);
        if (xs_audit_record(&(struct xs_audit_entry){
                .at = xs_wall_s(), .kind = "pinned_key_mismatch",
                .subject = d->name, .recipient = asker,
                .decision = "ignored", .reason = "pinned_key_mismatch",
                .score = s.score, .domain_score = s.score,
                .flag = xs_flag_result_name(XS_FLAG_UNKNOWN_KEY),
                .explanation = expl }) != XS_OK)
            xs_log(XS_LOG_WARN, "trust: audit entry for domain=%s dropped",
                d->name);
    }
    json_decref(expl);
}

/* Why a check that waited ends as UNKNOWN_KEY. */
static const char *
disco_unknown_why(const struct xs_trust_discovery *ds,
    const struct disco_domain *d)
{
    if (d->has_failed)
        return "key discovery failed";
    if (disco_is_pinned_domain(ds, d->name))
        return "key is not pinned for the domain";
    return "key is not published by the issuer";
}

/* Forget d's waiters (all done or cancelled). */
static void
disco_waiters_clear(struct disco_domain *d)
{
    for (size_t i = d->whead; i < d->nwaiters; i++) {
        xs_free(d->waiters[i].from_bare);
        xs_free(d->waiters[i].to_bare);
    }
    xs_free(d->waiters);
    d->waiters = NULL;
    d->whead = d->nwaiters = d->cwaiters = d->nlive = 0;
}

/* d's answer is in (or failed): its waiters are due. */
static void
disco_queue(struct xs_trust_discovery *ds, struct disco_domain *d)
{
    if (d->is_queued)
        return;
    d->is_queued = true;
    d->rnext = NULL;
    *ds->ready_tail = d;
    ds->ready_tail = &d->rnext;
    event_active(ds->resolve_ev, EV_TIMEOUT, 0);
}

/*
 * Verify again, and call back, at most TRUST_RESOLVE_BATCH waiters per
 * loop iteration, oldest domain first.  A callback may start, cancel or
 * add checks (the array may move): entries are read by index, and a
 * waiter leaves the array before its callback runs.
 */
static void
disco_on_resolve(evutil_socket_t fd, short what, void *arg)
{
    struct xs_trust_discovery *ds = arg;
    unsigned budget = TRUST_RESOLVE_BATCH;

    (void)fd, (void)what;
    while (ds->ready != NULL && budget > 0) {
        struct disco_domain *d = ds->ready;

        while (d->whead < d->nwaiters && budget > 0) {
            struct disco_waiter w = d->waiters[d->whead];
            enum xs_flag_result r;

            d->waiters[d->whead].from_bare = NULL;
            d->waiters[d->whead].to_bare = NULL;
            d->whead++;
            if (w.c != NULL) {
                d->nlive--;
                budget--;
                w.c->key_fetched = true;
                r = xs_trust_verify(ds->m, &w.c->flag, w.from_bare,
                    w.to_bare, xs_wall_s());
                xs_trust_decide(w.c, r, r == XS_FLAG_UNKNOWN_KEY
                    ? disco_unknown_why(ds, d) : NULL);
                w.cb(w.c, w.ud);
            }
            xs_free(w.from_bare);
            xs_free(w.to_bare);
        }
        if (d->whead < d->nwaiters)
            break;                  /* the budget ran out: next time */
        disco_waiters_clear(d);
        d->is_queued = false;
        ds->ready = d->rnext;
        if (ds->ready == NULL)
            ds->ready_tail = &ds->ready;
    }
    if (ds->ready != NULL)
        event_active(ds->resolve_ev, EV_TIMEOUT, 0);
}

static void
disco_on_keys(xs_rc rc, const struct xs_stanza *answer, void *ud)
{
    struct disco_domain *d = ud;
    struct xs_trust_discovery *ds = d->ds;
    const struct xs_elem *el = NULL;
    const char *why = NULL;

    d->is_fetching = false;
    d->req = 0;
    if (rc == XS_OK && answer != NULL)
        el = xs_elem_child(answer->el, XS_NS_TRUST, "keys");
    if (el != NULL) {
        struct xs_trust_pubkey keys[TRUST_KEYS_MAX];
        size_t n = xs_trust_keys_parse(el, keys, TRUST_KEYS_MAX);

        memcpy(d->keys, keys, n * sizeof(keys[0]));
        d->nkeys = n;
        d->fetched_at = xs_wall_s();
        d->has_failed = false;
        xs_log(XS_LOG_INFO, "trust: keys of domain=%s fetched keys=%zu",
            d->name, n);
        if (disco_is_pinned_domain(ds, d->name))
            disco_pinned_check(ds, d, d->asker);
    } else {
        why = rc == XS_ETIMEOUT ? "no answer in time"
            : rc == XS_EIO ? "error answer" : "answer without <keys/>";
        d->has_failed = true;
        xs_trust_counters.key_fetch_failures++;
        xs_log(XS_LOG_INFO, "trust: key discovery for domain=%s failed: %s",
            d->name, why);
    }
    xs_free(d->asker);
    d->asker = NULL;
    disco_queue(ds, d);
}

/* Ask d for its keys, from our domain `asker`.  The answer may come
 * before this returns (an unroutable domain bounces at once): then
 * d->is_fetching is false again on return. */
static void
disco_fetch(struct xs_trust_discovery *ds, struct disco_domain *d,
    const char *asker, int64_t now)
{
    xs_rc rc;

    xs_free(d->asker);
    d->asker = xs_strdup(asker);
    d->attempt_at = now;
    d->is_fetching = true;
    xs_trust_counters.key_fetches++;
    rc = xs_iq_request(asker, d->name, "get",
        xs_elem_new(XS_NS_TRUST, "keys"),
        (uint64_t)ds->m->policy.trust.key_fetch_timeout_ms, disco_on_keys,
        d, &d->req);
    if (rc == XS_OK)
        return;
    /* Not sent: the callback will not run. */
    d->is_fetching = false;
    d->req = 0;
    d->has_failed = true;
    xs_trust_counters.key_fetch_failures++;
    xs_log(XS_LOG_WARN, "trust: key discovery for domain=%s not sent: %s",
        d->name, xs_rc_str(rc));
    xs_free(d->asker);
    d->asker = NULL;
}

/* ---- checks waiting for keys ---- */

/* UNKNOWN_KEY from the cache: fetch the issuer's keys (or join the fetch
 * running), unless one ran less than a minute ago. */
bool
xs_trust_discovery_wait(struct xs_trust_discovery *ds,
    struct xs_trust_check *c, const char *from_bare, const char *to_bare,
    xs_trust_check_fn *cb, void *ud, int64_t now)
{
    const struct xs_trust_policy *t = &ds->m->policy.trust;
    struct disco_domain *d = disco_domain_get(ds, c->flag.issuer);
    struct disco_waiter *w;

    if (d == NULL) {
        xs_trust_decide(c, XS_FLAG_UNKNOWN_KEY,
            "too many domains in key discovery");
        return true;
    }
    /* Join a discovery running, or the waiters it still has to answer
     * (they go first). */
    if (!d->is_fetching && !d->is_queued) {
        if (d->attempt_at != 0 && now >= d->attempt_at &&
            now - d->attempt_at < TRUST_REFETCH_S) {
            xs_trust_decide(c, XS_FLAG_UNKNOWN_KEY, d->has_failed
                ? "key discovery failed less than a minute ago"
                : disco_unknown_why(ds, d));
            return true;
        }
        disco_fetch(ds, d, xs_trust_domain_of(to_bare), now);
        if (!d->is_fetching) {
            enum xs_flag_result r;

            c->key_fetched = true;
            r = xs_trust_verify(ds->m, &c->flag, from_bare, to_bare,
                xs_wall_s());
            xs_trust_decide(c, r, r == XS_FLAG_UNKNOWN_KEY
                ? disco_unknown_why(ds, d) : NULL);
            return true;
        }
    }
    /* Cancelled entries stay until the answer passes them: bound those
     * too. */
    if (d->nlive >= t->key_fetch_waiters_max ||
        d->nwaiters - d->whead >= 2 * t->key_fetch_waiters_max) {
        xs_trust_decide(c, XS_FLAG_UNKNOWN_KEY,
            "too many requests wait on the domain's key discovery");
        return true;
    }
    if (d->nwaiters == d->cwaiters) {
        /* Room at the front first: answered waiters left it (their
         * strings are freed already). */
        if (d->whead > 0) {
            memmove(d->waiters, d->waiters + d->whead,
                (d->nwaiters - d->whead) * sizeof(d->waiters[0]));
            d->nwaiters -= d->whead;
            d->whead = 0;
        }
    }
    if (d->nwaiters == d->cwaiters) {
        d->cwaiters = d->cwaiters != 0 ? d->cwaiters * 2 : 4;
        d->waiters = xs_reallocarray(d->waiters, d->cwaiters,
            sizeof(d->waiters[0]));
    }
    w = &d->waiters[d->nwaiters++];
    *w = (struct disco_waiter){
        .c = c, .cb = cb, .ud = ud,
        .from_bare = xs_strdup(from_bare), .to_bare = xs_strdup(to_bare),
    };
    d->nlive++;
    return false;
}

void
xs_trust_discovery_cancel(struct xs_trust_discovery *ds,
    const struct xs_trust_check *c)
{
    struct xs_trust_map_ent *e;
    struct disco_domain *d;

    /* A check that never waited names no domain we hold, or is not in
     * its lists: nothing to do. */
    if (ds == NULL || c == NULL ||
        (e = xs_trust_map_find(&ds->domains, c->flag.issuer)) == NULL)
        return;
    d = e->val;
    /* Marked, not removed: the array may be being worked through. */
    for (size_t i = d->whead; i < d->nwaiters; i++) {
        if (d->waiters[i].c == c) {
            d->waiters[i].c = NULL;
            d->nlive--;
            return;
        }
    }
}

/* ---- serving ---- */

/* Our domain's keys that verify now, current first.  Public keys are
 * public: anyone may ask (a client checking its server, a peer). */
static enum xs_verdict
disco_on_keys_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    struct xs_trust_mod *m = state;
    struct xs_trust_pubkey keys[TRUST_KEYS_MAX];
    struct xs_stanza *r;
    size_t n;

    (void)payload;
    n = xs_trustkey_list(m->store, ctx->to->domain, xs_wall_s(), keys,
        TRUST_KEYS_MAX);
    if (n == 0) {
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        ctx->why = "trust: no keys for the domain";
        return XS_BOUNCE;
    }
    r = xs_stanza_iq_result(ctx->st);
    xs_elem_append(r->el, xs_trust_keys_elem(keys, n));
    xs_log(XS_LOG_DEBUG, "trust: keys of domain=%s sent to=%s keys=%zu",
        ctx->to->domain, ctx->from->full, n);
    xs_router_reply(ctx, r);
    return XS_HANDLED;
}

const struct xs_iq_spec xs_trust_discovery_iqs[] = {
    { XS_NS_TRUST, "keys", XS_IQ_GET, XS_IQ_HOST, disco_on_keys_get },
    { 0 }
};

/* ---- the discovery ---- */

struct xs_trust_discovery *
xs_trust_discovery_new(struct xs_trust_mod *m)
{
    const struct xs_trust_policy *t = &m->policy.trust;
    struct xs_trust_discovery *ds = xs_calloc(1, sizeof(*ds));

    ds->m = m;
    ds->pins = xs_calloc(t->npinned + 1, sizeof(ds->pins[0]));
    for (size_t i = 0; i < t->npinned; i++) {
        ds->pins[i].domain = t->pinned[i].domain;
        memcpy(ds->pins[i].pk, t->pinned[i].pk, sizeof(ds->pins[i].pk));
        xs_trustkey_id_of(ds->pins[i].pk, ds->pins[i].id);
    }
    ds->npins = t->npinned;
    xs_trust_map_init(&ds->domains);
    ds->resolve_ev = event_new(xs_server()->base, -1, 0, disco_on_resolve,
        ds);
    ds->ready_tail = &ds->ready;
    if (ds->resolve_ev == NULL) {
        xs_trust_discovery_free(ds);
        return NULL;
    }
    return ds;
}

void
xs_trust_discovery_free(struct xs_trust_discovery *ds)
{
    if (ds == NULL)
        return;
    if (ds->resolve_ev != NULL)
        event_free(ds->resolve_ev);
    xs_trust_map_fini(&ds->domains, disco_domain_free);
    xs_free(ds->pins);
    xs_free(ds);
}

size_t
xs_trust_discovery_prune(struct xs_trust_discovery *ds, int64_t now)
{
    return xs_trust_map_prune(&ds->domains, disco_domain_dead,
        disco_domain_free, now);
}
