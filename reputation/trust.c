/*
 * trust.c: mod_trust, signed trust flags in the server
 * (docs/trust-flags.md; the contract is trust.h).
 *
 * - Keys: each hosted domain's Ed25519 keys, loaded (or made) at start,
 *   pruned hourly, rotated by `xmppctl trust_key_rotate HOST` with the
 *   file writes on a worker thread.
 * - Egress (C2S_IN): what a client puts in our namespaces never leaves;
 *   an account at the worst levels may not ask other domains for
 *   subscriptions, and one in probation only so often.
 * - Flags (S2S_OUT): every subscription request of an account to another
 *   domain carries XEP-0489's <info/> and our signed <flag/>.
 * - Key discovery: we answer <keys xmlns='urn:xmppd:trust:0'/> for our
 *   domains; we fetch and cache the keys of others, pinned keys first.
 * - Verification for the gate (gate.c): xs_trust_check_start decides at
 *   once from pinned or cached keys, or parks the check until the
 *   issuer's keys arrive.
 *
 * Evidence is not submitted here: the gate decides what a flag's result
 * means for the sender and the issuer.  Options are mod_reputation's
 * (policy.h), parsed again here so that this module owns its copy.
 */
#include "reputation/trust.h"

#include "reputation/audit.h"
#include "reputation/reputation.h"
#include "xmppd/admin/admin.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/core/workers.h"
#include "xmppd/im/roster.h"
#include "xmppd/router.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <sodium.h>
#include <string.h>

#define TRUST_HOUR_S            3600
#define TRUST_REFETCH_S         60      /* one discovery per domain a minute
                                           (docs/trust-flags.md 5.6) */
#define TRUST_PRUNE_S           60      /* caches, windows, nonces */
#define TRUST_DOMAINS_MAX       10000   /* domains with discovery state */
#define TRUST_EGRESS_ACCOUNTS_MAX 100000    /* accounts with a window */
#define TRUST_KEYS_MAX          16      /* keys in one discovery answer */
#define TRUST_PK_B64_LEN        45      /* base64 of 32 bytes, NUL */
/* Waiters verified per loop iteration once keys arrive: a thousand
 * signature checks at once would stall the loop for tens of ms. */
#define TRUST_RESOLVE_BATCH     32

/* ---- a small string-keyed hash table ---- */

/*
 * Keys come from peers (issuer domains) and from accounts: SipHash with
 * a key drawn at start, so that nobody can aim collisions at a bucket.
 */
struct tmap_ent {
    struct tmap_ent *next;      /* owned: next in the bucket */
    uint64_t         hash;
    void            *val;       /* owned by the table's user */
    char             key[];
};

struct tmap {
    struct tmap_ent **b;        /* owned array */
    size_t           nb;        /* a power of two */
    size_t           n;
    unsigned char    hkey[crypto_shorthash_KEYBYTES];
};

static void
tmap_init(struct tmap *m)
{
    m->nb = 64;
    m->n = 0;
    m->b = xs_calloc(m->nb, sizeof(m->b[0]));
    randombytes_buf(m->hkey, sizeof(m->hkey));
}

static uint64_t
tmap_hash(const struct tmap *m, const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, (const unsigned char *)key, strlen(key), m->hkey);
    memcpy(&h, out, sizeof(h));
    return h;
}

static struct tmap_ent *
tmap_find(const struct tmap *m, const char *key)
{
    uint64_t h;

    if (m->b == NULL)
        return NULL;
    h = tmap_hash(m, key);
    for (struct tmap_ent *e = m->b[h & (m->nb - 1)]; e != NULL; e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

/* Doubling at load 1 keeps chains short; entries keep their hashes. */
static void
tmap_grow(struct tmap *m)
{
    size_t nb = m->nb * 2;
    struct tmap_ent **b = xs_calloc(nb, sizeof(b[0]));

    for (size_t i = 0; i < m->nb; i++) {
        struct tmap_ent *e = m->b[i];

        while (e != NULL) {
            struct tmap_ent *next = e->next;

            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    xs_free(m->b);
    m->b = b;
    m->nb = nb;
}

/* key must not be there yet. */
static struct tmap_ent *
tmap_add(struct tmap *m, const char *key, void *val)
{
    size_t len = strlen(key);
    struct tmap_ent *e = xs_malloc(sizeof(*e) + len + 1);

    if (m->n >= m->nb)
        tmap_grow(m);
    memcpy(e->key, key, len + 1);
    e->hash = tmap_hash(m, key);
    e->val = val;
    e->next = m->b[e->hash & (m->nb - 1)];
    m->b[e->hash & (m->nb - 1)] = e;
    m->n++;
    return e;
}

/* Remove (and free) every entry for which dead(val) is true; free_fn
 * frees its value.  Returns how many went. */
static size_t
tmap_prune(struct tmap *m, bool (*dead)(void *val, int64_t now),
    void (*free_fn)(void *val), int64_t now)
{
    size_t gone = 0;

    for (size_t i = 0; m->b != NULL && i < m->nb; i++) {
        struct tmap_ent **pp = &m->b[i];

        while (*pp != NULL) {
            struct tmap_ent *e = *pp;

            if (dead == NULL || dead(e->val, now)) {
                *pp = e->next;
                free_fn(e->val);
                xs_free(e);
                m->n--;
                gone++;
            } else {
                pp = &e->next;
            }
        }
    }
    return gone;
}

static void
tmap_fini(struct tmap *m, void (*free_fn)(void *val))
{
    (void)tmap_prune(m, NULL, free_fn, 0);
    xs_free(m->b);
    m->b = NULL;
    m->nb = 0;
}

/* ---- the module's state ---- */

/* A stanza waiting for its issuer's keys. */
struct trust_waiter {
    struct xs_trust_check *c;   /* borrowed: the caller's; NULL once
                                   cancelled */
    xs_trust_check_fn     *cb;
    void                  *ud;  /* borrowed: handed back */
    char                  *from_bare;   /* owned */
    char                  *to_bare;     /* owned */
};

struct trust_mod;

/* What we know of a remote domain's keys. */
struct trust_domain {
    struct trust_mod      *m;           /* borrowed: for the IQ answer */
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
    struct trust_waiter   *waiters;     /* owned array */
    size_t                 whead;
    size_t                 nwaiters;
    size_t                 cwaiters;
    size_t                 nlive;
    /* The answer is in: the waiters are being verified, a batch per loop
     * iteration (on m->ready). */
    bool                   is_queued;
    struct trust_domain   *rnext;       /* borrowed: next on m->ready */
};

/* A pinned key, its id computed once. */
struct trust_pin {
    const char *domain;         /* borrowed from the policy */
    char        id[XS_TRUSTKEY_ID_LEN + 1];
    uint8_t     pk[XS_TRUSTKEY_PK_LEN];
};

/* A rotation whose files a worker writes. */
struct trust_rot {
    struct trust_rot            *next;  /* borrowed: m->rots list */
    struct trust_mod            *m;     /* borrowed; NULL once the module
                                           is gone */
    struct xs_trustkey_rotation *rot;   /* owned */
    void                        *call;  /* borrowed: admin call udata */
    char                        *host;  /* owned */
    char                         id[XS_TRUSTKEY_ID_LEN + 1];
};

struct trust_mod {
    struct xs_rep_policy      policy;   /* owned: mod_reputation's options */
    bool                      has_policy;
    struct xs_trustkey_store *store;    /* owned */
    struct xs_replay         *replay;   /* owned */
    struct trust_pin         *pins;     /* owned array */
    size_t                    npins;
    struct tmap               domains;  /* values: struct trust_domain */
    struct xs_trust_egress   *egress;   /* owned */
    struct event             *prune_timer;  /* owned */
    struct event             *key_timer;    /* owned */
    struct event             *resolve_ev;   /* owned: works m->ready */
    struct trust_domain      *ready;    /* borrowed: domains whose waiters
                                           are due, first first */
    struct trust_domain     **ready_tail;   /* borrowed */
    struct trust_rot         *rots;     /* borrowed: they free themselves */
};

/* The module's state while it is loaded (xs_trust_check_start has no
 * state argument). */
static struct trust_mod *trust_mod;     /* borrowed: owned by the loader */
static struct xs_trust_stats trust_stats;

static const char *
trust_domain_of(const char *bare)
{
    const char *at = strchr(bare, '@');

    return at != NULL ? at + 1 : bare;
}

static bool
trust_is_local(const char *domain)
{
    return xs_conf_is_local_host(xs_server()->conf, domain);
}

/* XEP-0489's trust (0..100) from a XEP-0275 score (-100..100): the same
 * rounding as the affiliation query's answer (query.c): halves up. */
int
xs_trust_of_score(int score)
{
    if (score < -100)
        score = -100;
    if (score > 100)
        score = 100;
    return (score + 101) / 2;
}

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
trust_key_parse(const struct xs_elem *e, struct xs_trust_pubkey *k)
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
        if (!trust_key_parse(c, &out[n]))
            continue;
        for (size_t i = 0; i < n; i++)
            is_dup = is_dup || strcmp(out[i].id, out[n].id) == 0;
        if (!is_dup)
            n++;
    }
    return n;
}

/* ---- egress: a sliding hour per account in probation ---- */

struct egress_acct {
    uint32_t head;              /* oldest */
    uint32_t n;
    int64_t  at[];              /* a ring of per_hour request times */
};

struct xs_trust_egress {
    struct tmap accounts;       /* values: struct egress_acct */
    int         per_hour;
    size_t      max_accounts;
};

struct xs_trust_egress *
xs_trust_egress_new(int per_hour, size_t max_accounts)
{
    struct xs_trust_egress *w = xs_calloc(1, sizeof(*w));

    tmap_init(&w->accounts);
    w->per_hour = per_hour > 0 ? per_hour : 0;
    w->max_accounts = max_accounts;
    return w;
}

static void
egress_acct_free(void *val)
{
    xs_free(val);
}

void
xs_trust_egress_free(struct xs_trust_egress *w)
{
    if (w == NULL)
        return;
    tmap_fini(&w->accounts, egress_acct_free);
    xs_free(w);
}

/* Forget the times that left the hour.  A time ahead of now (the clock
 * went back) stays: it counts, rather than freeing a slot early. */
static void
egress_expire(struct egress_acct *a, int per_hour, int64_t now)
{
    while (a->n > 0 && a->at[a->head] <= now - TRUST_HOUR_S) {
        a->head = (a->head + 1) % (uint32_t)per_hour;
        a->n--;
    }
}

size_t
xs_trust_egress_count(const struct xs_trust_egress *w, const char *bare,
    int64_t now)
{
    const struct tmap_ent *e = tmap_find(&w->accounts, bare);
    const struct egress_acct *a;
    size_t n = 0;

    if (e == NULL)
        return 0;
    a = e->val;
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->at[(a->head + i) % (uint32_t)w->per_hour] > now - TRUST_HOUR_S)
            n++;
    }
    return n;
}

/* Called right after every window was expired: empty means the account
 * sent nothing in the last hour. */
static bool
egress_dead(void *val, int64_t now)
{
    const struct egress_acct *a = val;

    (void)now;
    return a->n == 0;
}

size_t
xs_trust_egress_prune(struct xs_trust_egress *w, int64_t now)
{
    /* Expire first (the ring needs per_hour), then drop the empty. */
    for (size_t i = 0; w->accounts.b != NULL && i < w->accounts.nb; i++) {
        for (struct tmap_ent *e = w->accounts.b[i]; e != NULL; e = e->next)
            egress_expire(e->val, w->per_hour, now);
    }
    return tmap_prune(&w->accounts, egress_dead, egress_acct_free, now);
}

/*
 * One more request to another domain by bare, now: true (and counted)
 * while it has sent fewer than per_hour in the last hour.  When the
 * table is full of accounts with live windows, it fails closed: only
 * accounts in probation come here, and a hundred thousand of them
 * sending at once is a spam run.
 */
bool
xs_trust_egress_allow(struct xs_trust_egress *w, const char *bare,
    int64_t now)
{
    struct tmap_ent *e;
    struct egress_acct *a;

    if (w->per_hour <= 0)
        return false;
    e = tmap_find(&w->accounts, bare);
    if (e == NULL) {
        if (w->accounts.n >= w->max_accounts &&
            (xs_trust_egress_prune(w, now) == 0 ||
             w->accounts.n >= w->max_accounts))
            return false;
        a = xs_calloc(1, sizeof(*a) + (size_t)w->per_hour * sizeof(a->at[0]));
        e = tmap_add(&w->accounts, bare, a);
    }
    a = e->val;
    egress_expire(a, w->per_hour, now);
    if (a->n >= (uint32_t)w->per_hour)
        return false;
    a->at[(a->head + a->n) % (uint32_t)w->per_hour] = now;
    a->n++;
    return true;
}

/* ---- key lookup for the verifier: pinned, then discovered ---- */

/* Whether a discovered key still verifies at now: a current key while
 * the cache holds the answer, a retired one until its `until`. */
static bool
trust_cached_key_ok(const struct trust_mod *m, const struct trust_domain *d,
    const struct xs_trust_pubkey *k, int64_t now)
{
    if (k->retired != 0)
        return now <= k->valid_until;
    return d->fetched_at != 0 &&
        now < d->fetched_at + m->policy.trust.key_cache_s;
}

static bool
trust_is_pinned_domain(const struct trust_mod *m, const char *domain)
{
    for (size_t i = 0; i < m->npins; i++) {
        if (strcmp(m->pins[i].domain, domain) == 0)
            return true;
    }
    return false;
}

/* xs_flag_key_fn: if the domain has pinned keys, only they count (a
 * fetched key that differs is never trusted); else the discovery
 * cache. */
static bool
trust_key_lookup(void *udata, const char *domain, const char *key_id,
    int64_t now, struct xs_trust_pubkey *out)
{
    const struct trust_mod *m = udata;
    const struct tmap_ent *e;
    const struct trust_domain *d;
    bool is_pinned = false;

    for (size_t i = 0; i < m->npins; i++) {
        const struct trust_pin *p = &m->pins[i];

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
    if (is_pinned || (e = tmap_find(&m->domains, domain)) == NULL)
        return false;
    d = e->val;
    for (size_t i = 0; i < d->nkeys; i++) {
        if (strcmp(d->keys[i].id, key_id) == 0 &&
            trust_cached_key_ok(m, d, &d->keys[i], now)) {
            *out = d->keys[i];
            return true;
        }
    }
    return false;
}

static enum xs_flag_result
trust_verify(struct trust_mod *m, const struct xs_flag *f,
    const char *from_bare, const char *to_bare, int64_t now)
{
    const struct xs_flag_verifier v = {
        .skew_s = m->policy.trust.flag_skew_s,
        .max_validity_s = m->policy.trust.flag_max_validity_s,
        .key_lookup = trust_key_lookup,
        .key_udata = m,
        .replay = m->replay,
    };

    /* The stream is authenticated for the from JID's domain: s2s refuses
     * a 'from' outside the domains a stream authenticated. */
    return xs_flag_verify(&v, f, trust_domain_of(from_bare), from_bare,
        to_bare, now);
}

/* Set the result, count it: the end of every check. */
static void
trust_decide(struct xs_trust_check *c, enum xs_flag_result r,
    const char *why)
{
    c->result = r;
    c->why = why != NULL ? why : xs_flag_result_text(r);
    if ((unsigned)r < XS_FLAG__COUNT)
        trust_stats.checked[r]++;
}

/* ---- key discovery: fetching ---- */

static void
trust_domain_free(void *val)
{
    struct trust_domain *d = val;

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

static struct trust_domain *
trust_domain_get(struct trust_mod *m, const char *name)
{
    struct tmap_ent *e = tmap_find(&m->domains, name);
    struct trust_domain *d;

    if (e != NULL)
        return e->val;
    if (m->domains.n >= TRUST_DOMAINS_MAX)
        return NULL;
    d = xs_calloc(1, sizeof(*d));
    d->m = m;
    d->name = xs_strdup(name);
    tmap_add(&m->domains, name, d);
    return d;
}

/* Nothing left worth keeping: no discovery running or recent, nobody
 * waiting, no key that still verifies. */
static bool
trust_domain_dead(void *val, int64_t now)
{
    const struct trust_domain *d = val;

    if (d->is_fetching || d->is_queued || d->nwaiters > 0 ||
        (now >= d->attempt_at && now - d->attempt_at < TRUST_REFETCH_S))
        return false;
    for (size_t i = 0; i < d->nkeys; i++) {
        if (trust_cached_key_ok(d->m, d, &d->keys[i], now))
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
trust_pinned_check(struct trust_mod *m, const struct trust_domain *d,
    const char *asker)
{
    json_t *expl = json_array();
    struct xs_rep_score s;
    size_t nbad = 0;

    for (size_t i = 0; i < d->nkeys; i++) {
        bool is_pinned = false;

        for (size_t j = 0; j < m->npins && !is_pinned; j++)
            is_pinned = strcmp(m->pins[j].domain, d->name) == 0 &&
                sodium_memcmp(m->pins[j].pk, d->keys[i].pk,
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
        trust_stats.pinned_key_mismatches++;
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
trust_unknown_why(const struct trust_mod *m, const struct trust_domain *d)
{
    if (d->has_failed)
        return "key discovery failed";
    if (trust_is_pinned_domain(m, d->name))
        return "key is not pinned for the domain";
    return "key is not published by the issuer";
}

/* Forget d's waiters (all done or cancelled). */
static void
trust_waiters_clear(struct trust_domain *d)
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
trust_queue(struct trust_mod *m, struct trust_domain *d)
{
    if (d->is_queued)
        return;
    d->is_queued = true;
    d->rnext = NULL;
    *m->ready_tail = d;
    m->ready_tail = &d->rnext;
    event_active(m->resolve_ev, EV_TIMEOUT, 0);
}

/*
 * Verify again, and call back, at most TRUST_RESOLVE_BATCH waiters per
 * loop iteration, oldest domain first.  A callback may start, cancel or
 * add checks (the array may move): entries are read by index, and a
 * waiter leaves the array before its callback runs.
 */
static void
trust_on_resolve(evutil_socket_t fd, short what, void *arg)
{
    struct trust_mod *m = arg;
    unsigned budget = TRUST_RESOLVE_BATCH;

    (void)fd, (void)what;
    while (m->ready != NULL && budget > 0) {
        struct trust_domain *d = m->ready;

        while (d->whead < d->nwaiters && budget > 0) {
            struct trust_waiter w = d->waiters[d->whead];
            enum xs_flag_result r;

            d->waiters[d->whead].from_bare = NULL;
            d->waiters[d->whead].to_bare = NULL;
            d->whead++;
            if (w.c != NULL) {
                d->nlive--;
                budget--;
                w.c->key_fetched = true;
                r = trust_verify(m, &w.c->flag, w.from_bare, w.to_bare,
                    xs_wall_s());
                trust_decide(w.c, r, r == XS_FLAG_UNKNOWN_KEY
                    ? trust_unknown_why(m, d) : NULL);
                w.cb(w.c, w.ud);
            }
            xs_free(w.from_bare);
            xs_free(w.to_bare);
        }
        if (d->whead < d->nwaiters)
            break;                  /* the budget ran out: next time */
        trust_waiters_clear(d);
        d->is_queued = false;
        m->ready = d->rnext;
        if (m->ready == NULL)
            m->ready_tail = &m->ready;
    }
    if (m->ready != NULL)
        event_active(m->resolve_ev, EV_TIMEOUT, 0);
}

static void
trust_on_keys(xs_rc rc, const struct xs_stanza *answer, void *ud)
{
    struct trust_domain *d = ud;
    struct trust_mod *m = d->m;
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
        if (trust_is_pinned_domain(m, d->name))
            trust_pinned_check(m, d, d->asker);
    } else {
        why = rc == XS_ETIMEOUT ? "no answer in time"
            : rc == XS_EIO ? "error answer" : "answer without <keys/>";
        d->has_failed = true;
        trust_stats.key_fetch_failures++;
        xs_log(XS_LOG_INFO, "trust: key discovery for domain=%s failed: %s",
            d->name, why);
    }
    xs_free(d->asker);
    d->asker = NULL;
    trust_queue(m, d);
}

/* Ask d for its keys, from our domain `asker`.  The answer may come
 * before this returns (an unroutable domain bounces at once): then
 * d->is_fetching is false again on return. */
static void
trust_fetch(struct trust_mod *m, struct trust_domain *d, const char *asker,
    int64_t now)
{
    xs_rc rc;

    xs_free(d->asker);
    d->asker = xs_strdup(asker);
    d->attempt_at = now;
    d->is_fetching = true;
    trust_stats.key_fetches++;
    rc = xs_iq_request(asker, d->name, "get",
        xs_elem_new(XS_NS_TRUST, "keys"),
        (uint64_t)m->policy.trust.key_fetch_timeout_ms, trust_on_keys, d,
        &d->req);
    if (rc == XS_OK)
        return;
    /* Not sent: the callback will not run. */
    d->is_fetching = false;
    d->req = 0;
    d->has_failed = true;
    trust_stats.key_fetch_failures++;
    xs_log(XS_LOG_WARN, "trust: key discovery for domain=%s not sent: %s",
        d->name, xs_rc_str(rc));
    xs_free(d->asker);
    d->asker = NULL;
}

/* ---- inbound flags (trust.h) ---- */

/* UNKNOWN_KEY from the cache: fetch the issuer's keys (or join the fetch
 * running), unless one ran less than a minute ago. */
static bool
trust_check_wait(struct trust_mod *m, struct xs_trust_check *c,
    const char *from_bare, const char *to_bare, xs_trust_check_fn *cb,
    void *ud, int64_t now)
{
    struct trust_domain *d = trust_domain_get(m, c->flag.issuer);
    struct trust_waiter *w;

    if (d == NULL) {
        trust_decide(c, XS_FLAG_UNKNOWN_KEY,
            "too many domains in key discovery");
        return true;
    }
    /* Join a discovery running, or the waiters it still has to answer
     * (they go first). */
    if (!d->is_fetching && !d->is_queued) {
        if (d->attempt_at != 0 && now >= d->attempt_at &&
            now - d->attempt_at < TRUST_REFETCH_S) {
            trust_decide(c, XS_FLAG_UNKNOWN_KEY, d->has_failed
                ? "key discovery failed less than a minute ago"
                : trust_unknown_why(m, d));
            return true;
        }
        trust_fetch(m, d, trust_domain_of(to_bare), now);
        if (!d->is_fetching) {
            enum xs_flag_result r;

            c->key_fetched = true;
            r = trust_verify(m, &c->flag, from_bare, to_bare, xs_wall_s());
            trust_decide(c, r, r == XS_FLAG_UNKNOWN_KEY
                ? trust_unknown_why(m, d) : NULL);
            return true;
        }
    }
    /* Cancelled entries stay until the answer passes them: bound those
     * too. */
    if (d->nlive >= m->policy.trust.key_fetch_waiters_max ||
        d->nwaiters - d->whead >= 2 * m->policy.trust.key_fetch_waiters_max) {
        trust_decide(c, XS_FLAG_UNKNOWN_KEY,
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
    *w = (struct trust_waiter){
        .c = c, .cb = cb, .ud = ud,
        .from_bare = xs_strdup(from_bare), .to_bare = xs_strdup(to_bare),
    };
    d->nlive++;
    return false;
}

bool
xs_trust_check_start(struct xs_trust_check *c, const struct xs_stanza *st,
    const char *from_bare, const char *to_bare, xs_trust_check_fn *cb,
    void *ud)
{
    struct trust_mod *m = trust_mod;
    const char *why = NULL;
    enum xs_flag_result r;
    int64_t now = xs_wall_s();

    memset(c, 0, sizeof(*c));
    r = xs_flag_from_stanza(st->el, &c->flag, &why);
    if (r != XS_FLAG_OK) {
        trust_decide(c, r, why);
        return true;
    }
    if (m == NULL) {
        trust_decide(c, XS_FLAG_UNKNOWN_KEY, "trust flags not loaded");
        return true;
    }
    r = trust_verify(m, &c->flag, from_bare, to_bare, now);
    if (r != XS_FLAG_UNKNOWN_KEY) {
        trust_decide(c, r, NULL);
        return true;
    }
    return trust_check_wait(m, c, from_bare, to_bare, cb, ud, now);
}

void
xs_trust_check_cancel(struct xs_trust_check *c)
{
    struct trust_mod *m = trust_mod;
    struct tmap_ent *e;
    struct trust_domain *d;

    /* A check that never waited names no domain we hold, or is not in
     * its lists: nothing to do. */
    if (m == NULL || c == NULL ||
        (e = tmap_find(&m->domains, c->flag.issuer)) == NULL)
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

void
xs_trust_stats(struct xs_trust_stats *out)
{
    *out = trust_stats;
}

/* ---- hooks ---- */

/* The hook may change the stanza: if anyone else holds it too (a
 * broadcast), work on a copy of our own. */
static struct xs_elem *
trust_own_el(struct xs_stanza_ctx *ctx)
{
    if (ctx->st->refs > 1) {
        struct xs_stanza *copy = xs_stanza_new(xs_elem_copy(ctx->st->el));

        xs_stanza_unref(ctx->st);
        ctx->st = copy;
    }
    return ctx->st->el;
}

static size_t
trust_strip(struct xs_stanza_ctx *ctx)
{
    const struct xs_elem *el = ctx->st->el;
    size_t n = 0;

    /* Look before copying: almost no request carries anything. */
    for (const struct xs_elem *c = xs_elem_first_elem(el); c != NULL;
        c = xs_elem_next_elem(c)) {
        if (c->ns != NULL && (strcmp(c->ns, XS_NS_TRUST) == 0 ||
                              strcmp(c->ns, XS_NS_RAA) == 0))
            n++;
    }
    if (n == 0)
        return 0;
    n = xs_flag_strip(trust_own_el(ctx));
    trust_stats.flags_stripped += n;
    return n;
}

/* Refuse with policy-violation and a text the user can read: the
 * dispatcher's bounce carries no text, so the error is sent here. */
static enum xs_verdict
trust_refuse(struct xs_stanza_ctx *ctx, const char *text, const char *why)
{
    struct xs_stanza *err;

    if (!xs_stanza_may_bounce(ctx->st)) {
        ctx->why = why;
        return XS_DROP;
    }
    err = xs_stanza_error_reply_text(ctx->st, XS_SERR_POLICY_VIOLATION,
        text);
    xs_elem_set_attr(err->el, "from", ctx->to->full);
    xs_elem_set_attr(err->el, "to", ctx->from->full);
    xs_router_route(err);
    ctx->why = why;
    return XS_DROP;
}

/*
 * C2S_IN, presence, before the roster module: a local user's
 * subscription request.  What the client put in our namespaces goes
 * (docs/trust-flags.md 7.1); toward another domain, an account at the
 * worst levels is refused, and one in probation is limited per hour.
 * Re-asking a contact already pending or subscribed costs nothing.
 */
static enum xs_verdict
trust_on_c2s_sub(struct xs_stanza_ctx *ctx, void *state)
{
    struct trust_mod *m = state;
    const struct xs_trust_policy *t = &m->policy.trust;
    const struct xs_roster *roster;
    const struct xs_roster_item *it;
    struct xs_rep_score s;
    size_t stripped;

    if (ctx->origin == NULL || ctx->to == NULL ||
        !xs_stanza_type_is(ctx->st, "subscribe"))
        return XS_PASS;
    stripped = trust_strip(ctx);
    if (stripped > 0)
        xs_log(XS_LOG_DEBUG, "trust: stripped %zu client element(s) from a "
            "subscription request from=%s", stripped, ctx->from->bare);
    if (trust_is_local(ctx->to->domain) || ctx->from->local == NULL)
        return XS_PASS;
    s = xs_reputation_score(ctx->from->bare);
    if (s.level != XS_REP_UNKNOWN && s.level >= t->egress_refuse_level) {
        trust_stats.egress_refused++;
        xs_log(XS_LOG_INFO, "trust: subscription request refused from=%s "
            "to=%s why=level level=%s score=%d", ctx->from->bare,
            ctx->to->bare, xs_rep_level_name(s.level), s.score);
        return trust_refuse(ctx, "your account may not send subscription "
            "requests to other servers now", "trust: egress refused: level");
    }
    if (!s.in_probation)
        return XS_PASS;
    roster = xs_roster_loaded(ctx->from->bare);
    it = roster != NULL ? xs_roster_item(roster, ctx->to->bare) : NULL;
    if (it != NULL && (it->ask_out || it->sub == XS_SUB_TO ||
                       it->sub == XS_SUB_BOTH))
        return XS_PASS;
    if (xs_trust_egress_allow(m->egress, ctx->from->bare, xs_wall_s()))
        return XS_PASS;
    trust_stats.egress_limited++;
    xs_log(XS_LOG_INFO, "trust: subscription request refused from=%s to=%s "
        "why=probation_limit per_hour=%d", ctx->from->bare, ctx->to->bare,
        t->egress_probation_per_hour);
    return trust_refuse(ctx, "your account may send only a few "
        "subscription requests to other servers while it is new: limit "
        "reached; try again later", "trust: egress refused: probation limit");
}

/*
 * S2S_OUT, presence: a subscription request leaving for another domain.
 * Stripped again (it may come from elsewhere than a client), then, from
 * one of our accounts, flagged: <info/> for XEP-0489 peers and our
 * signed <flag/>.  The server's own requests are not flagged.
 */
static enum xs_verdict
trust_on_s2s_out(struct xs_stanza_ctx *ctx, void *state)
{
    struct trust_mod *m = state;
    struct xs_rep *rep = xs_reputation();
    struct xs_flag_claim claim;
    struct xs_rep_score s;
    int64_t created_at = 0, now;
    bool is_admin = false;
    xs_rc rc;

    if (ctx->to == NULL || !xs_stanza_type_is(ctx->st, "subscribe"))
        return XS_PASS;
    (void)trust_strip(ctx);
    if (ctx->from->local == NULL || ctx->to->local == NULL ||
        !trust_is_local(ctx->from->domain) || rep == NULL ||
        !xs_rep_account_info(rep, ctx->from->bare, &created_at, &is_admin))
        return XS_PASS;
    s = xs_reputation_score(ctx->from->bare);
    now = xs_wall_s();
    claim = (struct xs_flag_claim){
        .issuer = ctx->from->domain,
        .sender = ctx->from->bare,
        .recipient = ctx->to->bare,
        .affiliation = is_admin ? "admin" : "registered",
        .since = created_at > 0 ? created_at : -1,
        .trust = xs_trust_of_score(s.score),
        .issued = now,
        .expires = now + m->policy.trust.flag_validity_s,
    };
    rc = xs_flag_attach(trust_own_el(ctx), &claim, m->store);
    if (rc != XS_OK) {
        /* Sent unflagged: the peer applies its no-flag policy. */
        xs_log(XS_LOG_WARN, "trust: no flag on a subscription request "
            "from=%s to=%s: %s", ctx->from->bare, ctx->to->bare,
            xs_rc_str(rc));
        return XS_PASS;
    }
    trust_stats.flags_issued++;
    xs_log(XS_LOG_DEBUG, "trust: flagged subscription request from=%s "
        "to=%s trust=%d", ctx->from->bare, ctx->to->bare, claim.trust);
    return XS_PASS;
}

static const struct xs_hook_spec trust_hooks[] = {
    /* At the policy priority, before the activity module counts a
     * request sent (XS_PRIO_POLICY - 1): a refused one was never sent. */
    { XS_HOOK_C2S_IN, XS_K_PRESENCE, XS_PRIO_POLICY, trust_on_c2s_sub },
    { XS_HOOK_S2S_OUT, XS_K_PRESENCE, XS_PRIO_DEFAULT, trust_on_s2s_out },
    { 0 }
};

/* ---- key discovery: serving ---- */

/* Our domain's keys that verify now, current first.  Public keys are
 * public: anyone may ask (a client checking its server, a peer). */
static enum xs_verdict
trust_on_keys_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    struct trust_mod *m = state;
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

static const struct xs_iq_spec trust_iqs[] = {
    { XS_NS_TRUST, "keys", XS_IQ_GET, XS_IQ_HOST, trust_on_keys_get },
    { 0 }
};

static const char *const trust_features[] = {
    XS_FEATURE_TRUST,
    XS_FEATURE_RAA_EMBED_SUB,
    NULL
};

/* ---- trust_key_rotate HOST ---- */

static void
trust_rot_unlink(struct trust_mod *m, struct trust_rot *r)
{
    for (struct trust_rot **pp = &m->rots; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            return;
        }
    }
}

/* On a worker: the file writes (and fsyncs) of the rotation. */
static void
trust_rot_work(void *arg)
{
    struct trust_rot *r = arg;

    xs_trustkey_rotation_write(r->rot);
}

/* On the loop: the new key becomes current, if its file was written. */
static void
trust_rot_done(void *arg)
{
    struct trust_rot *r = arg;
    struct xs_admin_call *call = xs_admin_call_by_udata(r->call);
    char err[256] = "";
    xs_rc rc;

    if (r->m == NULL) {
        /* The module is gone: the files stay, the next start reads them. */
        xs_trustkey_rotation_free(r->rot);
        if (call != NULL)
            xs_admin_call_fail(call, 503, "The server is stopping");
    } else {
        trust_rot_unlink(r->m, r);
        rc = xs_trustkey_rotate_finish(r->m->store, r->rot, err,
            sizeof(err));
        if (rc == XS_OK) {
            xs_log(XS_LOG_NOTICE, "trust: key rotated domain=%s id=%s",
                r->host, r->id);
            if (call != NULL)
                xs_admin_call_ok(call, json_string(r->id));
        } else {
            xs_log(XS_LOG_ERR, "trust: key rotation of domain=%s failed: %s",
                r->host, err);
            if (call != NULL)
                xs_admin_call_fail(call, 500, "Key rotation failed: %s",
                    err);
        }
    }
    xs_free(r->host);
    xs_free(r);
}

static void
trust_cmd_rotate(struct xs_admin_call *call, void *state)
{
    struct trust_mod *m = state;
    const char *host = xs_admin_call_arg(call, "host");
    struct xs_trustkey_rotation *rot = NULL;
    struct trust_rot *r;
    char err[256];
    xs_rc rc;

    if (m == NULL || m->store == NULL || host == NULL) {
        xs_admin_call_fail(call, 503, "Trust flags are not loaded");
        return;
    }
    rc = xs_trustkey_rotate_begin(m->store, host, xs_wall_s(), &rot);
    if (rc == XS_ENOTFOUND) {
        xs_admin_call_fail(call, 404, "No trust keys for %s", host);
        return;
    }
    if (rc == XS_ELIMIT) {
        xs_admin_call_fail(call, 409, "A key rotation of %s is already "
            "in progress", host);
        return;
    }
    if (rc != XS_OK) {
        xs_admin_call_fail(call, 500, "Key rotation failed: %s",
            xs_rc_str(rc));
        return;
    }
    r = xs_calloc(1, sizeof(*r));
    r->m = m;
    r->rot = rot;
    r->call = xs_admin_call_udata(call);
    r->host = xs_strdup(host);
    memcpy(r->id, xs_trustkey_rotation_id(rot), sizeof(r->id));
    r->id[XS_TRUSTKEY_ID_LEN] = '\0';
    rc = xs_work_submit(trust_rot_work, trust_rot_done, r);
    if (rc != XS_OK) {
        /* Abandoned while the store lives: finish without the write. */
        (void)xs_trustkey_rotate_finish(m->store, rot, err, sizeof(err));
        xs_free(r->host);
        xs_free(r);
        xs_admin_call_fail(call, 503, "No worker free for the key files; "
            "try again");
        return;
    }
    r->next = m->rots;
    m->rots = r;
}

static const struct xs_admin_cmd trust_commands[] = {
    { "trust_key_rotate", trust_cmd_rotate },
    { NULL, NULL }
};

/* ---- metrics ---- */

static void
trust_metrics(struct evbuffer *out, void *state)
{
    const struct xs_trust_stats *st = &trust_stats;

    (void)state;
    xs_metrics_family(out, "xmppd_trust_flags_issued_total", "counter",
        "Trust flags signed on outgoing subscription requests.");
    evbuffer_add_printf(out, "xmppd_trust_flags_issued_total %" PRIu64 "\n",
        st->flags_issued);
    xs_metrics_family(out, "xmppd_trust_flags_checked_total", "counter",
        "Inbound subscription requests checked for a flag, by result.");
    for (size_t r = 0; r < XS_FLAG__COUNT; r++)
        evbuffer_add_printf(out, "xmppd_trust_flags_checked_total"
            "{result=\"%s\"} %" PRIu64 "\n",
            xs_flag_result_name((enum xs_flag_result)r), st->checked[r]);
    xs_metrics_family(out, "xmppd_trust_key_fetches_total", "counter",
        "Key discoveries sent to other domains.");
    evbuffer_add_printf(out, "xmppd_trust_key_fetches_total %" PRIu64 "\n",
        st->key_fetches);
    xs_metrics_family(out, "xmppd_trust_key_fetch_failures_total", "counter",
        "Key discoveries that failed (error, timeout, not sent).");
    evbuffer_add_printf(out, "xmppd_trust_key_fetch_failures_total %" PRIu64
        "\n", st->key_fetch_failures);
    xs_metrics_family(out, "xmppd_trust_pinned_key_mismatches_total",
        "counter", "Discoveries in which a pinned domain published keys "
        "that are not pinned.");
    evbuffer_add_printf(out, "xmppd_trust_pinned_key_mismatches_total %"
        PRIu64 "\n", st->pinned_key_mismatches);
    xs_metrics_family(out, "xmppd_trust_egress_refused_total", "counter",
        "Subscription requests of local accounts to other domains refused.");
    evbuffer_add_printf(out, "xmppd_trust_egress_refused_total"
        "{why=\"level\"} %" PRIu64 "\n", st->egress_refused);
    evbuffer_add_printf(out, "xmppd_trust_egress_refused_total"
        "{why=\"probation_limit\"} %" PRIu64 "\n", st->egress_limited);
    xs_metrics_family(out, "xmppd_trust_client_elements_stripped_total",
        "counter", "Elements in the trust and XEP-0489 namespaces removed "
        "from subscription requests.");
    evbuffer_add_printf(out, "xmppd_trust_client_elements_stripped_total %"
        PRIu64 "\n", st->flags_stripped);
}

/* ---- timers ---- */

static void
trust_on_prune(evutil_socket_t fd, short what, void *arg)
{
    struct trust_mod *m = arg;
    int64_t now = xs_wall_s();
    size_t nonces, domains, accounts;

    (void)fd, (void)what;
    nonces = xs_replay_prune(m->replay, now);
    domains = tmap_prune(&m->domains, trust_domain_dead, trust_domain_free,
        now);
    accounts = xs_trust_egress_prune(m->egress, now);
    xs_log(XS_LOG_DEBUG, "trust: pruned nonces=%zu domains=%zu "
        "egress_accounts=%zu", nonces, domains, accounts);
}

static void
trust_on_key_prune(evutil_socket_t fd, short what, void *arg)
{
    struct trust_mod *m = arg;
    size_t n;

    (void)fd, (void)what;
    n = xs_trustkey_prune(m->store, xs_wall_s());
    if (n > 0)
        xs_log(XS_LOG_INFO, "trust: retired keys past their window "
            "deleted=%zu", n);
}

/* ---- the module ---- */

static void
trust_fini(void *state)
{
    struct trust_mod *m = state;

    if (m == NULL)
        return;
    if (trust_mod == m)
        trust_mod = NULL;
    for (struct trust_rot *r = m->rots; r != NULL; r = r->next)
        r->m = NULL;
    if (m->prune_timer != NULL)
        event_free(m->prune_timer);
    if (m->key_timer != NULL)
        event_free(m->key_timer);
    if (m->resolve_ev != NULL)
        event_free(m->resolve_ev);
    if (m->domains.b != NULL)
        tmap_fini(&m->domains, trust_domain_free);
    xs_trust_egress_free(m->egress);
    xs_replay_free(m->replay);
    xs_trustkey_store_free(m->store);
    xs_free(m->pins);
    if (m->has_policy)
        xs_rep_policy_fini(&m->policy);
    xs_free(m);
}

static xs_rc
trust_init(const struct xs_conf *conf, void **out)
{
    struct trust_mod *m = xs_calloc(1, sizeof(*m));
    const struct xs_trust_policy *t;
    struct xs_trustkey_opts ko;
    struct timeval prune_tv = { .tv_sec = TRUST_PRUNE_S };
    struct timeval key_tv = { .tv_sec = TRUST_HOUR_S };
    char err[512] = "";
    char *msg = NULL;
    xs_rc rc;

    *out = m;
    memset(&trust_stats, 0, sizeof(trust_stats));
    rc = xs_rep_policy_from_conf(conf,
        xs_conf_module_opts(conf, "mod_reputation"), &m->policy, &msg);
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", msg != NULL ? msg : "trust: bad options");
        xs_free(msg);
        return rc;
    }
    m->has_policy = true;
    t = &m->policy.trust;

    /* Plain file I/O, once: the listeners are not open yet.  A retired
     * key must verify as long as any flag we issued under it. */
    ko = (struct xs_trustkey_opts){
        .dir = t->keys_dir,
        .max_validity_s = t->flag_max_validity_s > t->flag_validity_s
            ? t->flag_max_validity_s : t->flag_validity_s,
        .skew_s = t->flag_skew_s,
    };
    rc = xs_trustkey_store_load(&ko, (const char *const *)conf->hosts,
        conf->nhosts, xs_wall_s(), &m->store, err, sizeof(err));
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "trust: cannot load the domain keys from %s: %s",
            t->keys_dir, err);
        return rc;
    }
    for (size_t i = 0; i < conf->nhosts; i++) {
        char id[XS_TRUSTKEY_ID_LEN + 1] = "";

        (void)xs_trustkey_current(m->store, conf->hosts[i], id);
        xs_log(XS_LOG_INFO, "trust: domain=%s signs with key=%s",
            conf->hosts[i], id);
    }

    m->replay = xs_replay_new(t->replay_cache_max);
    m->pins = xs_calloc(t->npinned + 1, sizeof(m->pins[0]));
    for (size_t i = 0; i < t->npinned; i++) {
        m->pins[i].domain = t->pinned[i].domain;
        memcpy(m->pins[i].pk, t->pinned[i].pk, sizeof(m->pins[i].pk));
        xs_trustkey_id_of(m->pins[i].pk, m->pins[i].id);
    }
    m->npins = t->npinned;
    tmap_init(&m->domains);
    m->egress = xs_trust_egress_new(t->egress_probation_per_hour,
        TRUST_EGRESS_ACCOUNTS_MAX);

    m->prune_timer = event_new(xs_server()->base, -1, EV_PERSIST,
        trust_on_prune, m);
    m->key_timer = event_new(xs_server()->base, -1, EV_PERSIST,
        trust_on_key_prune, m);
    m->resolve_ev = event_new(xs_server()->base, -1, 0, trust_on_resolve, m);
    m->ready_tail = &m->ready;
    if (m->prune_timer == NULL || m->key_timer == NULL ||
        m->resolve_ev == NULL) {
        xs_log(XS_LOG_ERR, "trust: cannot make its timers");
        return XS_EIO;
    }
    event_add(m->prune_timer, &prune_tv);
    event_add(m->key_timer, &key_tv);
    trust_mod = m;
    return XS_OK;
}

const struct xs_module xs_mod_trust = {
    .name = "mod_trust",
    .abi = XS_MODULE_ABI,
    .init = trust_init,
    .fini = trust_fini,
    .hooks = trust_hooks,
    .iqs = trust_iqs,
    .features = trust_features,
    .commands = trust_commands,
    .metrics = trust_metrics,
};
