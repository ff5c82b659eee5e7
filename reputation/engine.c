/*
 * engine.c: the reputation engine's memory (see engine.h for the rules).
 *
 * One hash table of subjects (prepared bare JIDs and domains), keyed with
 * a random SipHash key: subjects come from peers, and a fixed hash would
 * let them pick colliding names.  Each subject holds its evidence items
 * (sorted by source, so one source's items sit together), the features of
 * a local account, a pin, and its cached score.
 *
 * A remote JID is a member of its domain's subject: the domain's score
 * takes a share of its JIDs' evidence, and the JID's score takes a share
 * of its domain's score.  The cycle is broken by what flows: evidence up,
 * scores down.  A JID's cached score remembers the domain's generation it
 * was computed against; a domain bumps its generation whenever its score
 * changes, so a lookup costs a probe and a few compares, and a change to
 * a domain reaches every JID of it at their next lookup.
 *
 * The domain's share of its JIDs' evidence is kept as they change (struct
 * rep_dsum), not summed over them at each computation: a flood of
 * requests from many accounts of one domain adds an item about a new JID
 * each, and a walk over the domain's JIDs per item made the flood cost
 * O(N^2).  A change to one JID makes its domain stale, and the domain's
 * computation costs O(kinds + its own items); its siblings recompute
 * (their own items) only if the domain's score moved.
 */
#include "reputation/engine.h"

#include <inttypes.h>
#include <math.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REP_DAY_S           86400
#define REP_HOUR_S          3600
#define REP_PRUNE_POINTS    0.05    /* |contribution| below: forgotten */
#define REP_BUCKETS_MIN     64
/*
 * Items kept per (kind, source) of a non-user source (rate limits, s2s
 * refusals): more are folded, the oldest into the next.  Folding is exact
 * under decay (w1 2^-(t-t1)/h + w2 2^-(t-t2)/h = (w1 2^-(t2-t1)/h + w2)
 * 2^-(t-t2)/h), so a flood of throttling costs bounded memory and no
 * precision.
 */
#define REP_GROUP_MAX       8

/*
 * A domain's sum keeps each item of its JIDs as w 2^((at - t0) / hl),
 * which grows with the item's time: past REP_DSUM_HALVES half-lives (of
 * the shortest half-life) between its reference t0 and its newest item,
 * it is computed again with t0 at the newest item (a rebase, one walk
 * over the domain's JIDs).  Why: the factors must stay inside a double's
 * range (2^1023); 2^256 leaves room for any sum of weights, and after a
 * rebase every factor is at most 1 (items older than t0 underflow only
 * once they are worth nothing).  Taking an item out subtracts what adding
 * it added, so the rounding left is relative to that item's weight at
 * its own time, never to the larger factors of later items.  With the
 * default half-lives (7 days the shortest) a busy domain is walked once
 * in 4.9 years.
 */
#define REP_DSUM_HALVES     256.0

/* Units of budget (engine.h) a prune step spends per item it weighs,
 * beyond its subject's one: an exp2 and a compare, in the item array the
 * subject's visit already brought in.  Measured with
 * tests/bench/rep/score (prune slices). */
#define REP_PRUNE_ITEMS_PER_UNIT    4

/* Flags of an item's contribution in a computation. */
#define REP_CUT_SOURCE      0x1
#define REP_CUT_KIND        0x2

struct rep_item {
    int64_t   id;           /* database id; 0: not stored (yet) */
    char     *source;       /* owned */
    char     *note;         /* owned; NULL: none */
    double    weight;
    int64_t   at;
    uint32_t  n;            /* stored items folded into this one (>= 1) */
    uint8_t   kind;         /* enum xs_evk */
    uint8_t   src;          /* enum xs_evsrc */
};

struct rep_account {
    int64_t   created_at;   /* 0: unknown */
    bool      is_admin;
    uint64_t  counts[XS_ACT__COUNT];
    uint32_t  days_active;
    uint32_t  mutual;
};

struct rep_pin {
    struct xs_rep_pin pub;  /* reason and set_by point at the two below */
    char     *reason;       /* owned */
    char     *set_by;       /* owned */
};

/*
 * A domain's share of its JIDs' evidence, kept item by item (engine.h):
 * per kind k, a[k] = sum of w 2^((at - t0) / hl_k) over its JIDs' items
 * of that kind (the plain sum of w for a kind that does not decay), so
 * that the sum now is sum_k a[k] 2^(-(now - t0) / hl_k): an item added,
 * replaced, folded or removed costs O(1), and the sum is exact under
 * decay (items decay exponentially: the whole sum decays as one).
 * t0 <= max_at always, and items newer than now (a clock stepped back)
 * would grow with the formula where xs_evidence_decay counts them whole:
 * before max_at the sum is walked instead.
 */
struct rep_dsum {
    double    a[XS_EVK__COUNT];
    int64_t   t0;           /* the reference time of a[] */
    int64_t   max_at;       /* no item of its JIDs is newer */
    uint64_t  nitems;       /* stored items of its JIDs (folded count) */
    size_t    njids;        /* its JIDs with items */
    bool      is_stale;     /* a[] wants a rebase before use */
};

struct rep_subj {
    struct rep_subj *hnext;     /* borrowed: next in the bucket */
    uint64_t  hash;
    struct rep_item *items;     /* owned; sorted by rep_item_cmp */
    size_t    nitems;
    size_t    citems;
    struct rep_account *acct;   /* owned; NULL: not a local account */
    struct rep_pin *pin;        /* owned; NULL: none */

    /* A remote JID: its domain and its siblings there. */
    struct rep_subj *domain;    /* borrowed; NULL: not a member */
    struct rep_subj *mnext;     /* borrowed */
    struct rep_subj *mprev;     /* borrowed */
    uint32_t  dom_gen;          /* domain->gen behind the cached score */

    /* A domain: its remote JIDs. */
    struct rep_subj *members;   /* borrowed: first member */
    size_t    nmembers;
    uint32_t  gen;              /* bumped when the cached score changes */
    struct rep_dsum *dsum;      /* owned; NULL: no JID of it had items */

    /* As a user source: when its last negative items were admitted
     * (reports_per_hour), a ring of policy.reports_per_hour times. */
    int64_t  *ring;             /* owned; NULL: none */
    uint32_t  ring_head;        /* oldest */
    uint32_t  ring_n;

    struct xs_rep_score cached;
    int64_t   cached_at;        /* the `now` it was computed for */
    int64_t   valid_until;      /* recompute at or after this */
    bool      is_dirty;
    bool      is_prune_pending; /* a domain on the prune's list */
    char      key[];            /* the subject, in the same allocation:
                                   a lookup touches one block */
};

/* A contribution during a computation. */
struct rep_contrib {
    double    points;
    unsigned  cut;              /* REP_CUT_* */
};

/*
 * A walk's place in the table (engine.h, walks in slices): the table's
 * size when it began and the next bucket of that table.  Growth doubles
 * the table, so bucket b of the old one is now buckets b, b + nb0,
 * b + 2 nb0, ...: the walk visits those together.
 */
struct rep_cursor {
    size_t    nb0;          /* buckets when the walk began; 0: not begun */
    size_t    next;         /* next bucket of that table, <= nb0 */
};

/* What a census counts. */
struct rep_census {
    uint64_t  accounts_by_level[XS_REP_LEVEL__COUNT];
    uint64_t  items_by_kind[XS_EVK__COUNT];
    uint64_t  pins;
};

struct xs_rep {
    struct xs_rep_policy policy;    /* owned copy */
    struct rep_subj **buckets;      /* owned array; subjects owned */
    size_t    nbuckets;             /* a power of two */
    size_t    nsubjects;
    unsigned char hkey[crypto_shorthash_KEYBYTES];
    struct rep_contrib *scratch;    /* owned: per-item work space */
    size_t    nscratch;
    uint64_t  computations;
    uint64_t  admitted[XS_REP_INVALID + 1];
    int64_t   hl_min;               /* the shortest half-life; 0: none */

    /* The prune, in slices (engine.h). */
    struct rep_cursor prune_cur;
    bool      is_prune_running;
    struct rep_subj **pending;      /* owned array, subjects borrowed:
                                       domains whose last JID left during
                                       a prune's bucket */
    size_t    npending;
    size_t    cpending;

    /* The census of /metrics, in slices (engine.h). */
    struct rep_cursor census_cur;
    struct rep_census census_building;
    struct rep_census census;       /* the last published */
    uint64_t  censuses;
    int64_t   census_at;
    bool      is_census_running;
};

/* Explanation lines being built; NULL when only the score is wanted. */
struct rep_lines {
    struct xs_rep_line *v;          /* owned */
    size_t    n;
    size_t    cap;
};

static const char *const rep_admit_names[] = {
    [XS_REP_ADMITTED]        = "admitted",
    [XS_REP_REPLACED]        = "replaced",
    [XS_REP_RATE_LIMITED]    = "rate_limited",
    [XS_REP_SELF]            = "self",
    [XS_REP_UNKNOWN_SUBJECT] = "unknown_subject",
    [XS_REP_INVALID]         = "invalid",
};

const char *
xs_rep_admit_name(enum xs_rep_admit a)
{
    if ((unsigned)a >= XS_ARRAY_LEN(rep_admit_names))
        return NULL;
    return rep_admit_names[a];
}

/* ---- small helpers ---- */

static size_t
rep_key_len(const char *s)
{
    return s != NULL ? strnlen(s, XS_REP_SUBJECT_MAX + 1) : 0;
}

static bool
rep_key_ok(const char *s)
{
    size_t len = rep_key_len(s);

    return len > 0 && len <= XS_REP_SUBJECT_MAX;
}

static double
rep_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

static int
rep_round(double v)
{
    return (int)lround(rep_clamp(v, -100, 100));
}

static int64_t
rep_min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

/* A copy of s cut to at most max bytes, never inside a UTF-8 sequence. */
static char *
rep_cut_dup(const char *s, size_t max)
{
    size_t len = strnlen(s, max + 1);

    if (len > max) {
        len = max;
        while (len > 0 && ((unsigned char)s[len] & 0xC0) == 0x80)
            len--;
    }
    return xs_strndup(s, len);
}

/* An item's note: NULL for none or empty. */
static char *
rep_note_dup(const char *note)
{
    if (note == NULL || note[0] == '\0')
        return NULL;
    return rep_cut_dup(note, XS_REP_NOTE_MAX);
}

/* The domain part of a bare JID, or NULL for a domain (or "user@"). */
static const char *
rep_domain_of(const char *key)
{
    const char *at = strchr(key, '@');

    return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* A deep copy: every owned field of the policy (xs_rep_policy_fini frees
 * them). */
static void
rep_policy_copy(struct xs_rep_policy *dst, const struct xs_rep_policy *src)
{
    const struct xs_trust_policy *st = &src->trust;
    struct xs_trust_policy *dt = &dst->trust;

    *dst = *src;
    dst->query_domains = NULL;
    dst->nquery_domains = 0;
    dt->keys_dir = st->keys_dir != NULL ? xs_strdup(st->keys_dir) : NULL;
    dt->pinned = NULL;
    dt->npinned = 0;
    if (st->npinned > 0) {
        dt->pinned = xs_calloc(st->npinned, sizeof(dt->pinned[0]));
        for (size_t i = 0; i < st->npinned; i++) {
            dt->pinned[i] = st->pinned[i];
            dt->pinned[i].domain = xs_strdup(st->pinned[i].domain);
        }
        dt->npinned = st->npinned;
    }
    if (src->nquery_domains == 0)
        return;
    dst->query_domains = xs_calloc(src->nquery_domains, sizeof(char *));
    for (size_t i = 0; i < src->nquery_domains; i++)
        dst->query_domains[i] = xs_strdup(src->query_domains[i]);
    dst->nquery_domains = src->nquery_domains;
}

/* ---- the table ---- */

static uint64_t
rep_hash(const struct xs_rep *r, const char *key, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, (const unsigned char *)key, len, r->hkey);
    memcpy(&h, out, sizeof(h));
    return h;
}

static struct rep_subj *
rep_find_h(const struct xs_rep *r, const char *key, uint64_t h)
{
    struct rep_subj *s = r->buckets[h & (r->nbuckets - 1)];

    for (; s != NULL; s = s->hnext) {
        if (s->hash == h && strcmp(s->key, key) == 0)
            return s;
    }
    return NULL;
}

/* The subject, or NULL (also for a key that cannot be a subject). */
static struct rep_subj *
rep_find(const struct xs_rep *r, const char *key)
{
    size_t len = rep_key_len(key);

    if (len == 0 || len > XS_REP_SUBJECT_MAX)
        return NULL;
    return rep_find_h(r, key, rep_hash(r, key, len));
}

static void
rep_grow(struct xs_rep *r)
{
    size_t n = r->nbuckets * 2;
    struct rep_subj **b = xs_calloc(n, sizeof(*b));

    for (size_t i = 0; i < r->nbuckets; i++) {
        struct rep_subj *s = r->buckets[i], *next;

        for (; s != NULL; s = next) {
            next = s->hnext;
            s->hnext = b[s->hash & (n - 1)];
            b[s->hash & (n - 1)] = s;
        }
    }
    xs_free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

/* The subject, created empty if new; key must satisfy rep_key_ok. */
static struct rep_subj *
rep_get(struct xs_rep *r, const char *key)
{
    size_t len = rep_key_len(key);
    uint64_t h = rep_hash(r, key, len);
    struct rep_subj *s = rep_find_h(r, key, h);
    size_t b;

    if (s != NULL)
        return s;
    if (r->nsubjects >= r->nbuckets)
        rep_grow(r);
    s = xs_calloc(1, sizeof(*s) + len + 1);
    s->hash = h;
    memcpy(s->key, key, len);
    s->is_dirty = true;
    b = h & (r->nbuckets - 1);
    s->hnext = r->buckets[b];
    r->buckets[b] = s;
    r->nsubjects++;
    return s;
}

/* Something about s changed: its score, and its domain's share. */
static void
rep_changed(struct rep_subj *s)
{
    s->is_dirty = true;
    if (s->domain != NULL)
        s->domain->is_dirty = true;
}

/* ---- a domain's share of its JIDs' evidence (struct rep_dsum) ---- */

/* The term of an item in a[] for the reference time t0. */
static double
rep_dsum_term(const struct xs_rep *r, unsigned kind, double weight,
    int64_t at, int64_t t0)
{
    int64_t hl = r->policy.half_life_s[kind];

    if (hl <= 0)
        return weight;
    return weight * exp2(((double)at - (double)t0) / (double)hl);
}

static void
rep_dsum_reset(struct rep_dsum *ds)
{
    memset(ds->a, 0, sizeof(ds->a));
    ds->t0 = ds->max_at = 0;
    ds->is_stale = false;
}

/*
 * Adds (sign 1) or takes out (sign -1) item it of s to or from its
 * domain's sum; nothing when s is not a member.  Taking out the last
 * item resets the sum exactly, so rounding never outlives the items.
 */
static void
rep_dsum_item(struct xs_rep *r, const struct rep_subj *s,
    const struct rep_item *it, int sign)
{
    struct rep_dsum *ds;

    if (s->domain == NULL)
        return;
    if (s->domain->dsum == NULL)
        s->domain->dsum = xs_calloc(1, sizeof(*s->domain->dsum));
    ds = s->domain->dsum;
    if (sign > 0) {
        if (ds->nitems == 0) {
            rep_dsum_reset(ds);
            ds->t0 = ds->max_at = it->at;
        } else if (it->at > ds->max_at) {
            ds->max_at = it->at;
            /* Its term would grow out of range: a rebase at the next
             * computation (the item may not be in place yet). */
            if (r->hl_min > 0 && ((double)ds->max_at - (double)ds->t0)
                / (double)r->hl_min > REP_DSUM_HALVES)
                ds->is_stale = true;
        }
        ds->nitems += it->n;
    } else {
        xs_assert(ds->nitems >= it->n);
        ds->nitems -= it->n;
        if (ds->nitems == 0) {
            rep_dsum_reset(ds);
            return;
        }
    }
    if (!ds->is_stale)
        ds->a[it->kind] += sign * rep_dsum_term(r, it->kind, it->weight,
            it->at, ds->t0);
}

/* s, a member, got its first item (delta 1) or lost its last (-1). */
static void
rep_dsum_jids(struct rep_subj *s, int delta)
{
    if (s->domain == NULL || s->domain->dsum == NULL)
        return;
    if (delta > 0)
        s->domain->dsum->njids++;
    else
        s->domain->dsum->njids--;
}

/* The sum of d's JIDs' items at now, walked: each item decayed as
 * xs_evidence_decay does. */
static double
rep_dsum_walk(const struct xs_rep *r, const struct rep_subj *d,
    int64_t now)
{
    double sum = 0;

    for (const struct rep_subj *m = d->members; m != NULL; m = m->mnext) {
        for (size_t i = 0; i < m->nitems; i++) {
            const struct rep_item *it = &m->items[i];

            sum += xs_evidence_decay(it->weight, it->at, now,
                r->policy.half_life_s[it->kind]);
        }
    }
    return sum;
}

/* a[] computed again from d's JIDs' items, t0 at the newest of them
 * (REP_DSUM_HALVES says when). */
static void
rep_dsum_rebase(const struct xs_rep *r, struct rep_subj *d)
{
    struct rep_dsum *ds = d->dsum;
    int64_t newest = INT64_MIN;

    for (const struct rep_subj *m = d->members; m != NULL; m = m->mnext) {
        for (size_t i = 0; i < m->nitems; i++)
            if (m->items[i].at > newest)
                newest = m->items[i].at;
    }
    rep_dsum_reset(ds);
    if (newest == INT64_MIN)
        return;
    ds->t0 = ds->max_at = newest;
    for (const struct rep_subj *m = d->members; m != NULL; m = m->mnext) {
        for (size_t i = 0; i < m->nitems; i++) {
            const struct rep_item *it = &m->items[i];

            ds->a[it->kind] += rep_dsum_term(r, it->kind, it->weight,
                it->at, ds->t0);
        }
    }
}

/* The sum of d's JIDs' items at now (each item decayed, no caps): O(kinds)
 * unless a rebase is due or now is before the newest item. */
static double
rep_dsum_now(const struct xs_rep *r, struct rep_subj *d, int64_t now)
{
    struct rep_dsum *ds = d->dsum;
    double sum = 0;

    if (ds == NULL || ds->nitems == 0)
        return 0;
    if (ds->is_stale)
        rep_dsum_rebase(r, d);
    if (now < ds->max_at)
        return rep_dsum_walk(r, d, now);
    for (unsigned k = 0; k < XS_EVK__COUNT; k++) {
        int64_t hl = r->policy.half_life_s[k];

        if (ds->a[k] == 0)
            continue;
        /* now >= t0: the factor is at most 1, and underflows to 0 only
         * when every item is worth nothing (none is newer than t0 by
         * more than REP_DSUM_HALVES half-lives). */
        sum += hl <= 0 ? ds->a[k]
            : ds->a[k] * exp2(-((double)now - (double)ds->t0)
                / (double)hl);
    }
    return sum;
}

/* A remote JID with something to say joins its domain's members. */
static void
rep_link(struct xs_rep *r, struct rep_subj *s)
{
    const char *dom;
    struct rep_subj *d;

    if (s->acct != NULL || s->domain != NULL
        || (dom = rep_domain_of(s->key)) == NULL)
        return;
    d = rep_get(r, dom);
    s->domain = d;
    s->mprev = NULL;
    s->mnext = d->members;
    if (d->members != NULL)
        d->members->mprev = s;
    d->members = s;
    d->nmembers++;
    s->dom_gen = d->gen;
    for (size_t i = 0; i < s->nitems; i++)
        rep_dsum_item(r, s, &s->items[i], 1);
    if (s->nitems > 0)
        rep_dsum_jids(s, 1);
    rep_changed(s);
}

static void
rep_unlink(struct xs_rep *r, struct rep_subj *s)
{
    struct rep_subj *d = s->domain;

    if (d == NULL)
        return;
    rep_changed(s);
    if (s->nitems > 0)
        rep_dsum_jids(s, -1);
    for (size_t i = 0; i < s->nitems; i++)
        rep_dsum_item(r, s, &s->items[i], -1);
    if (s->mprev != NULL)
        s->mprev->mnext = s->mnext;
    else
        d->members = s->mnext;
    if (s->mnext != NULL)
        s->mnext->mprev = s->mprev;
    d->nmembers--;
    s->domain = s->mnext = s->mprev = NULL;
}

static void
rep_item_clear(struct rep_item *it)
{
    xs_free(it->source);
    xs_free(it->note);
}

static void
rep_pin_free(struct rep_pin *p)
{
    if (p == NULL)
        return;
    xs_free(p->reason);
    xs_free(p->set_by);
    xs_free(p);
}

/* Frees s (already out of the table and of its domain). */
static void
rep_subj_free(struct rep_subj *s)
{
    for (size_t i = 0; i < s->nitems; i++)
        rep_item_clear(&s->items[i]);
    xs_free(s->items);
    xs_free(s->acct);
    rep_pin_free(s->pin);
    xs_free(s->ring);
    xs_free(s->dsum);
    xs_free(s);
}

/* Takes s out of the table and frees it.  Its domain's members must have
 * left first (a domain with members is never removed). */
static void
rep_remove(struct xs_rep *r, struct rep_subj *s)
{
    struct rep_subj **pp = &r->buckets[s->hash & (r->nbuckets - 1)];

    xs_assert(s->nmembers == 0);
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    rep_unlink(r, s);
    r->nsubjects--;
    rep_subj_free(s);
}

static bool
rep_is_empty(const struct rep_subj *s)
{
    return s->acct == NULL && s->nitems == 0 && s->pin == NULL
        && s->nmembers == 0 && s->ring == NULL;
}

/* Removes s if nothing is left of it, then its domain likewise. */
static void
rep_gc(struct xs_rep *r, struct rep_subj *s)
{
    struct rep_subj *d = s->domain;

    if (s->domain != NULL && s->nitems == 0 && s->pin == NULL)
        rep_unlink(r, s);   /* nothing left to say about the domain */
    if (!rep_is_empty(s))
        return;
    rep_remove(r, s);
    if (d != NULL && rep_is_empty(d))
        rep_remove(r, d);
}

/* ---- items ---- */

/* Items sort by (src, source, kind, at): one source's items together,
 * its items of one kind together and oldest first. */
static int
rep_item_cmp(const struct rep_item *it, unsigned src, const char *source,
    unsigned kind, int64_t at)
{
    int c;

    if (it->src != src)
        return it->src < src ? -1 : 1;
    if ((c = strcmp(it->source, source)) != 0)
        return c;
    if (it->kind != kind)
        return it->kind < kind ? -1 : 1;
    if (it->at != at)
        return it->at < at ? -1 : 1;
    return 0;
}

static bool
rep_item_same(const struct rep_item *it, unsigned src, const char *source,
    unsigned kind)
{
    return it->src == src && it->kind == kind
        && strcmp(it->source, source) == 0;
}

/* The first index whose item is not below (src, source, kind, at). */
static size_t
rep_item_lower(const struct rep_subj *s, unsigned src, const char *source,
    unsigned kind, int64_t at)
{
    size_t lo = 0, hi = s->nitems;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (rep_item_cmp(&s->items[mid], src, source, kind, at) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static void
rep_item_delete(struct xs_rep *r, struct rep_subj *s, size_t i)
{
    rep_dsum_item(r, s, &s->items[i], -1);
    if (s->nitems == 1)
        rep_dsum_jids(s, -1);
    rep_item_clear(&s->items[i]);
    memmove(&s->items[i], &s->items[i + 1],
        (s->nitems - i - 1) * sizeof(s->items[0]));
    s->nitems--;
}

/* Fold items[j] into the newer items[j + 1] of the same group. */
static void
rep_item_fold(struct xs_rep *r, struct rep_subj *s, size_t j)
{
    struct rep_item *a = &s->items[j], *b = &s->items[j + 1];

    rep_dsum_item(r, s, b, -1);
    b->weight += xs_evidence_decay(a->weight, a->at, b->at,
        r->policy.half_life_s[a->kind]);
    b->n += a->n;
    rep_dsum_item(r, s, b, 1);
    rep_item_delete(r, s, j);
}

enum rep_put {
    REP_PUT_NEW,
    REP_PUT_REPLACED,
    REP_PUT_OLDER,          /* a user item older than the one held */
};

/*
 * Puts an item about s.  User items are one per (subject, kind, source):
 * blocking twice or reporting twice counts once, and the newest wins.
 * Other sources accumulate (the kind cap bounds what they add), folded
 * beyond REP_GROUP_MAX.  is_stored: a restored item (which loses to a
 * newer one held).  *index gets where the item is.
 */
static enum rep_put
rep_item_put(struct xs_rep *r, struct rep_subj *s,
    const struct xs_evidence *ev, double weight, int64_t at,
    bool is_stored, size_t *index)
{
    unsigned src = ev->src, kind = ev->kind;
    size_t i = rep_item_lower(s, src, ev->source, kind, INT64_MIN);
    struct rep_item *it;

    if (src == XS_EVSRC_USER && i < s->nitems
        && rep_item_same(&s->items[i], src, ev->source, kind)) {
        it = &s->items[i];
        *index = i;
        /* A stored item older than the one held lost already; a live one
         * is the newest, whatever the clock says. */
        if (is_stored && at < it->at)
            return REP_PUT_OLDER;
        rep_dsum_item(r, s, it, -1);
        xs_free(it->note);
        it->note = rep_note_dup(ev->note);
        it->weight = weight;
        it->at = at;
        it->id = ev->id;
        it->n = 1;
        rep_dsum_item(r, s, it, 1);
        return REP_PUT_REPLACED;
    }
    if (src != XS_EVSRC_USER) {
        /* After the group's items of the same time or older. */
        while (i < s->nitems && rep_item_same(&s->items[i], src,
                ev->source, kind) && s->items[i].at <= at)
            i++;
    }
    if (s->nitems == s->citems) {
        s->citems = s->citems == 0 ? 2 : s->citems * 2;
        s->items = xs_reallocarray(s->items, s->citems, sizeof(*s->items));
    }
    memmove(&s->items[i + 1], &s->items[i],
        (s->nitems - i) * sizeof(s->items[0]));
    s->nitems++;
    it = &s->items[i];
    *it = (struct rep_item){
        .id = ev->id, .source = xs_strdup(ev->source),
        .note = rep_note_dup(ev->note), .weight = weight, .at = at, .n = 1,
        .kind = (uint8_t)kind, .src = (uint8_t)src,
    };
    rep_dsum_item(r, s, it, 1);
    if (s->nitems == 1)
        rep_dsum_jids(s, 1);
    if (src != XS_EVSRC_USER) {
        size_t lo = rep_item_lower(s, src, ev->source, kind, INT64_MIN);
        size_t hi = lo;

        while (hi < s->nitems && rep_item_same(&s->items[hi], src,
                ev->source, kind))
            hi++;
        if (hi - lo > REP_GROUP_MAX) {
            /* The two oldest, unless one is the new item (whose strings
             * the caller hands out): then the two after it. */
            size_t j = i >= lo + 2 ? lo : i + 1;

            rep_item_fold(r, s, j);
            if (j < i)
                i--;
        }
    }
    *index = i;
    return REP_PUT_NEW;
}

/* ---- computing ---- */

static struct rep_contrib *
rep_scratch(struct xs_rep *r, size_t n)
{
    if (n > r->nscratch) {
        size_t m = r->nscratch == 0 ? 16 : r->nscratch;

        while (m < n)
            m *= 2;
        r->scratch = xs_reallocarray(r->scratch, m, sizeof(*r->scratch));
        r->nscratch = m;
    }
    return r->scratch;
}

/*
 * The evidence of s at now: each item decayed, then one user source's
 * items together capped at per_source_cap (so one account cannot sink
 * another), then each kind's items capped at kind_cap.  A cap scales the
 * items it cuts in proportion, so their contributions still add up to the
 * total.  Leaves each item's contribution in r->scratch.
 */
static double
rep_evidence(struct xs_rep *r, const struct rep_subj *s, int64_t now)
{
    const struct xs_rep_policy *p = &r->policy;
    struct rep_contrib *c = rep_scratch(r, s->nitems);
    double ksum[XS_EVK__COUNT] = { 0 }, total = 0;
    size_t i = 0;

    for (i = 0; i < s->nitems; i++) {
        const struct rep_item *it = &s->items[i];

        c[i].points = xs_evidence_decay(it->weight, it->at, now,
            p->half_life_s[it->kind]);
        c[i].cut = 0;
    }
    /* User items sort first, one source's together. */
    for (i = 0; i < s->nitems && s->items[i].src == XS_EVSRC_USER;) {
        size_t end = i + 1;
        double sum = c[i].points;

        while (end < s->nitems && s->items[end].src == XS_EVSRC_USER
            && strcmp(s->items[end].source, s->items[i].source) == 0)
            sum += c[end++].points;
        if (fabs(sum) > p->per_source_cap) {
            double f = p->per_source_cap / fabs(sum);

            for (size_t j = i; j < end; j++) {
                c[j].points *= f;
                c[j].cut |= REP_CUT_SOURCE;
            }
        }
        i = end;
    }
    for (i = 0; i < s->nitems; i++)
        ksum[s->items[i].kind] += c[i].points;
    for (i = 0; i < s->nitems; i++) {
        unsigned k = s->items[i].kind;

        if (fabs(ksum[k]) > p->kind_cap[k]) {
            c[i].points *= p->kind_cap[k] / fabs(ksum[k]);
            c[i].cut |= REP_CUT_KIND;
        }
        total += c[i].points;
    }
    return total;
}

/* Adds a line (owning copies of the strings) to L, if lines are wanted. */
static void
rep_line(struct rep_lines *L, const char *what, const char *source_kind,
    const char *source, double weight, double points, int64_t at,
    const char *note)
{
    struct xs_rep_line *l;

    if (L == NULL)
        return;
    if (L->n == L->cap) {
        L->cap = L->cap == 0 ? 16 : L->cap * 2;
        L->v = xs_reallocarray(L->v, L->cap, sizeof(*L->v));
    }
    l = &L->v[L->n++];
    l->what = xs_strdup(what);
    l->source_kind = xs_strdup(source_kind);
    l->source = xs_strdup(source != NULL ? source : "");
    l->weight = weight;
    l->points = points;
    l->at = at;
    l->note = rep_cut_dup(note != NULL ? note : "", XS_REP_NOTE_MAX);
}

/* A feature of an account: a line when it says anything. */
static double
rep_feature(struct rep_lines *L, const char *what,
    const struct xs_rep_rate *rate, double n)
{
    double pts = xs_rep_rate_points(rate, n);
    char *note;

    if (L == NULL || (n == 0 && pts == 0))
        return pts;
    if (rate->cap > 0 && fabs(pts) >= rate->cap)
        note = xs_asprintf("capped at %g", rate->cap);
    else if (rate->free > 0 && n <= rate->free)
        note = xs_asprintf("%g free", rate->free);
    else
        note = xs_strdup("");
    rep_line(L, what, "system", "", n, pts, 0, note);
    xs_free(note);
    return pts;
}

/* The features of a local account (engine.h), and whether it is in
 * probation (until when, in *until). */
static double
rep_account_points(const struct xs_rep *r, const struct rep_subj *s,
    int64_t now, struct rep_lines *L, bool *in_probation, int64_t *until)
{
    const struct xs_rep_policy *p = &r->policy;
    const struct rep_account *a = s->acct;
    uint64_t sent = a->counts[XS_ACT_SUBS_SENT];
    uint64_t answered = a->counts[XS_ACT_SUBS_ACCEPTED]
        + a->counts[XS_ACT_SUBS_REFUSED];
    double base = a->is_admin ? p->admin : p->registered, raw = base;

    *in_probation = false;
    rep_line(L, a->is_admin ? "admin" : "registered", "system", "", base,
        base, 0, "");
    if (a->created_at > 0) {
        int64_t age = now > a->created_at ? now - a->created_at : 0;
        int64_t days = age / REP_DAY_S;
        double pts = xs_rep_rate_points(&p->age, (double)days);

        raw += pts;
        if (L != NULL) {
            char *note = xs_asprintf("%lld days", (long long)days);

            rep_line(L, "age", "system", "", (double)days, pts, 0, note);
            xs_free(note);
        }
        /* New accounts are where today's spam comes from: capped until
         * they are old enough (or, if configured, known to enough
         * people). */
        if (age < p->probation_s && (p->probation_min_mutual <= 0
            || a->mutual < (uint32_t)p->probation_min_mutual)) {
            *in_probation = true;
            *until = rep_min64(*until, a->created_at + p->probation_s);
        }
    } else {
        /* Unknown creation time (an account older than the activity
         * record): no age points, and no probation either. */
        rep_line(L, "age", "system", "", 0, 0, 0, "unknown");
    }
    raw += rep_feature(L, "mutual_contacts", &p->mutual_contacts,
        (double)a->mutual);
    raw += rep_feature(L, "replies", &p->replies,
        (double)a->counts[XS_ACT_MSGS_FROM_CONTACTS]);
    raw += rep_feature(L, "days_active", &p->days_active,
        (double)a->days_active);
    raw += rep_feature(L, "subs_accepted", &p->subs_accepted,
        (double)a->counts[XS_ACT_SUBS_ACCEPTED]);
    raw += rep_feature(L, "subs_refused", &p->subs_refused,
        (double)a->counts[XS_ACT_SUBS_REFUSED]);
    raw += rep_feature(L, "subs_ignored", &p->subs_ignored,
        sent > answered ? (double)(sent - answered) : 0);
    raw += rep_feature(L, "msgs_to_strangers", &p->msgs_to_strangers,
        (double)a->counts[XS_ACT_MSGS_TO_STRANGERS]);
    return raw;
}

/* Lines for s's items, from the contributions rep_evidence left. */
static void
rep_item_lines(const struct xs_rep *r, const struct rep_subj *s,
    struct rep_lines *L)
{
    for (size_t i = 0; i < s->nitems; i++) {
        const struct rep_item *it = &s->items[i];
        const struct rep_contrib *c = &r->scratch[i];
        char *folded = it->n > 1 ? xs_asprintf("; %u items", it->n)
            : xs_strdup("");
        char *note;

        note = xs_asprintf("%s%s%s%s", it->note != NULL ? it->note : "",
            folded,
            (c->cut & REP_CUT_SOURCE) ? "; capped per source" : "",
            (c->cut & REP_CUT_KIND) ? "; capped per kind" : "");
        rep_line(L, xs_evk_name(it->kind), xs_evsrc_name(it->src),
            it->source, it->weight, c->points, it->at,
            note[0] == ';' ? note + 2 : note);
        xs_free(note);
        xs_free(folded);
    }
}

static bool
rep_pin_live(const struct rep_pin *p, int64_t now)
{
    return p != NULL && (p->pub.expires == 0 || p->pub.expires > now);
}

struct rep_calc {
    struct xs_rep_score s;
    double    raw;
    int64_t   valid_until;
};

/*
 * The score of s at now, and its lines if L.  A remote JID's domain must
 * be fresh (rep_score refreshes it first): its cached score is used as it
 * is, so that an explanation reproduces what was cached.
 */
static void
rep_compute(struct xs_rep *r, struct rep_subj *s, int64_t now,
    struct rep_lines *L, struct rep_calc *out)
{
    const struct xs_rep_policy *p = &r->policy;
    struct xs_rep_score sc = { .level = XS_REP_UNKNOWN };
    int64_t until = now + XS_REP_CACHE_S;
    double raw = 0, unpinned;

    r->computations++;
    if (s->acct != NULL) {
        raw += rep_account_points(r, s, now, L, &sc.in_probation, &until);
        sc.is_known = true;
        sc.is_local = true;
    }
    if (s->domain != NULL && s->domain->cached.is_known) {
        const struct xs_rep_score *ds = &s->domain->cached;
        double pts = p->domain_weight * ds->score;

        raw += pts;
        sc.is_known = true;
        rep_line(L, "domain", "system", s->domain->key, ds->score, pts, 0,
            xs_rep_level_name(ds->level));
    }
    if (s->dsum != NULL && s->dsum->njids > 0) {
        /* Its JIDs' items as they are, each decayed, without the caps
         * each JID's own score applies (engine.h): the share cap bounds
         * them all. */
        const struct rep_dsum *ds = s->dsum;
        double sum = rep_dsum_now(r, s, now);
        double pts = rep_clamp(p->domain_share * sum, -p->domain_share_cap,
            p->domain_share_cap);

        raw += pts;
        sc.is_known = true;
        if (L != NULL) {
            char *note = xs_asprintf("%zu JID%s, %" PRIu64 " item%s%s",
                ds->njids, ds->njids == 1 ? "" : "s", ds->nitems,
                ds->nitems == 1 ? "" : "s",
                fabs(p->domain_share * sum) > p->domain_share_cap
                ? "; capped" : "");

            rep_line(L, "jids", "system", "", sum, pts, 0, note);
            xs_free(note);
        }
    }
    if (s->nitems > 0) {
        raw += rep_evidence(r, s, now);
        sc.is_known = true;
        if (L != NULL)
            rep_item_lines(r, s, L);
    }
    unpinned = raw;
    if (sc.in_probation && raw > p->probation_cap) {
        rep_line(L, "probation_cap", "system", "", p->probation_cap,
            p->probation_cap - raw, 0, "new account");
        unpinned = p->probation_cap;
    }
    unpinned = rep_clamp(unpinned, -100, 100);
    sc.score = rep_round(unpinned);
    if (rep_pin_live(s->pin, now)) {
        const struct xs_rep_pin *pin = &s->pin->pub;

        sc.is_pinned = true;
        sc.is_known = true;
        sc.score = pin->score;
        if (pin->expires != 0)
            until = rep_min64(until, pin->expires);
        if (L != NULL) {
            char when[32] = "";
            time_t t = (time_t)pin->expires;
            struct tm tm;

            /* Operators read RFC 3339, not epoch seconds. */
            if (pin->expires != 0 && gmtime_r(&t, &tm) != NULL)
                (void)strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ",
                    &tm);
            char *note = pin->expires != 0
                ? xs_asprintf("%s; expires %s", pin->reason, when)
                : xs_asprintf("%s; never expires", pin->reason);

            rep_line(L, "pin", "admin", pin->set_by, pin->score,
                pin->score - unpinned, pin->set_at,
                note[0] == ';' ? note + 2 : note);
            xs_free(note);
        }
    }
    sc.level = sc.is_known ? xs_rep_level_of(p, sc.score) : XS_REP_UNKNOWN;
    out->s = sc;
    out->raw = raw;
    out->valid_until = until;
}

/* The score of s at now: the cached one while it holds. */
static const struct xs_rep_score *
rep_score(struct xs_rep *r, struct rep_subj *s, int64_t now)
{
    struct rep_calc c;

    if (s->domain != NULL)
        (void)rep_score(r, s->domain, now);
    if (!s->is_dirty && now >= s->cached_at && now < s->valid_until
        && (s->domain == NULL || s->dom_gen == s->domain->gen))
        return &s->cached;
    rep_compute(r, s, now, NULL, &c);
    if (c.s.score != s->cached.score || c.s.is_known != s->cached.is_known
        || c.s.level != s->cached.level)
        s->gen++;
    s->cached = c.s;
    s->cached_at = now;
    s->valid_until = c.valid_until;
    s->dom_gen = s->domain != NULL ? s->domain->gen : 0;
    s->is_dirty = false;
    return &s->cached;
}

static const struct xs_rep_score rep_unknown = {
    .score = 0, .level = XS_REP_UNKNOWN,
};

/* A remote JID we hold nothing about stands with its domain. */
static struct xs_rep_score
rep_score_by_domain(struct xs_rep *r, const char *key, int64_t now,
    struct rep_subj **dom)
{
    const char *d = rep_domain_of(key);
    struct rep_subj *ds;
    struct xs_rep_score sc = rep_unknown;
    const struct xs_rep_score *dsc;

    *dom = NULL;
    if (d == NULL || (ds = rep_find(r, d)) == NULL)
        return sc;
    dsc = rep_score(r, ds, now);
    if (!dsc->is_known)
        return sc;
    *dom = ds;
    sc.is_known = true;
    sc.score = rep_round(r->policy.domain_weight * dsc->score);
    sc.level = xs_rep_level_of(&r->policy, sc.score);
    return sc;
}

/* The subject if it has a score of its own: an account, a domain, a
 * remote JID with items or a pin.  A JID held only for its reporting
 * window stands with its domain, like any stranger. */
static struct rep_subj *
rep_find_scored(const struct xs_rep *r, const char *key)
{
    struct rep_subj *s = rep_find(r, key);

    if (s != NULL && s->acct == NULL && s->domain == NULL
        && rep_domain_of(s->key) != NULL)
        return NULL;
    return s;
}

struct xs_rep_score
xs_rep_score(struct xs_rep *r, const char *subject, int64_t now)
{
    struct rep_subj *s = rep_find_scored(r, subject), *dom;

    if (s != NULL)
        return *rep_score(r, s, now);
    if (!rep_key_ok(subject))
        return rep_unknown;
    return rep_score_by_domain(r, subject, now, &dom);
}

/* ---- the engine ---- */

struct xs_rep *
xs_rep_new(const struct xs_rep_policy *policy)
{
    struct xs_rep *r = xs_calloc(1, sizeof(*r));

    rep_policy_copy(&r->policy, policy);
    for (unsigned k = 0; k < XS_EVK__COUNT; k++) {
        int64_t hl = r->policy.half_life_s[k];

        if (hl > 0 && (r->hl_min == 0 || hl < r->hl_min))
            r->hl_min = hl;
    }
    r->nbuckets = REP_BUCKETS_MIN;
    r->buckets = xs_calloc(r->nbuckets, sizeof(*r->buckets));
    randombytes_buf(r->hkey, sizeof(r->hkey));
    return r;
}

void
xs_rep_free(struct xs_rep *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct rep_subj *s = r->buckets[i], *next;

        for (; s != NULL; s = next) {
            next = s->hnext;
            rep_subj_free(s);
        }
    }
    xs_free(r->buckets);
    xs_free(r->scratch);
    xs_free(r->pending);
    xs_rep_policy_fini(&r->policy);
    sodium_memzero(r->hkey, sizeof(r->hkey));
    xs_free(r);
}

const struct xs_rep_policy *
xs_rep_policy(const struct xs_rep *r)
{
    return &r->policy;
}

/* ---- local accounts ---- */

static struct rep_account *
rep_account(struct xs_rep *r, const char *bare)
{
    struct rep_subj *s = rep_find(r, bare);

    if (s == NULL || s->acct == NULL)
        return NULL;
    s->is_dirty = true;
    return s->acct;
}

void
xs_rep_account_set(struct xs_rep *r, const char *bare, int64_t created_at,
    bool is_admin)
{
    struct rep_subj *s;

    if (!rep_key_ok(bare))
        return;
    s = rep_get(r, bare);
    if (s->acct == NULL) {
        s->acct = xs_calloc(1, sizeof(*s->acct));
        /* Its items were about a remote JID until now: no longer part of
         * the domain's standing. */
        rep_unlink(r, s);
    }
    s->acct->created_at = created_at;
    s->acct->is_admin = is_admin;
    s->is_dirty = true;
}

void
xs_rep_account_remove(struct xs_rep *r, const char *bare)
{
    struct rep_subj *s = rep_find(r, bare);

    if (s == NULL || s->acct == NULL)
        return;
    xs_assert(s->domain == NULL);   /* an account is nobody's member */
    for (size_t i = 0; i < s->nitems; i++)
        rep_item_clear(&s->items[i]);
    s->nitems = 0;
    xs_free(s->acct);
    s->acct = NULL;
    rep_pin_free(s->pin);
    s->pin = NULL;
    xs_free(s->ring);
    s->ring = NULL;
    s->ring_n = s->ring_head = 0;
    rep_gc(r, s);
}

bool
xs_rep_account_exists(const struct xs_rep *r, const char *bare)
{
    const struct rep_subj *s = rep_find(r, bare);

    return s != NULL && s->acct != NULL;
}

bool
xs_rep_account_info(const struct xs_rep *r, const char *bare,
    int64_t *created_at, bool *is_admin)
{
    const struct rep_subj *s = rep_find(r, bare);

    if (s == NULL || s->acct == NULL)
        return false;
    *created_at = s->acct->created_at;
    *is_admin = s->acct->is_admin;
    return true;
}

void
xs_rep_account_activity(struct xs_rep *r, const char *bare,
    const uint64_t counts[XS_ACT__COUNT], uint32_t days_active)
{
    struct rep_account *a = rep_account(r, bare);

    if (a == NULL)
        return;
    memcpy(a->counts, counts, sizeof(a->counts));
    a->days_active = days_active;
}

void
xs_rep_account_count(struct xs_rep *r, const char *bare,
    enum xs_act_counter c, uint64_t n)
{
    struct rep_account *a;

    if ((unsigned)c >= XS_ACT__COUNT || (a = rep_account(r, bare)) == NULL)
        return;
    a->counts[c] = a->counts[c] > UINT64_MAX - n ? UINT64_MAX
        : a->counts[c] + n;
}

void
xs_rep_account_day(struct xs_rep *r, const char *bare)
{
    struct rep_account *a = rep_account(r, bare);

    if (a != NULL && a->days_active < UINT32_MAX)
        a->days_active++;
}

void
xs_rep_account_mutual_set(struct xs_rep *r, const char *bare, uint32_t n)
{
    struct rep_account *a = rep_account(r, bare);

    if (a != NULL)
        a->mutual = n;
}

void
xs_rep_account_mutual_add(struct xs_rep *r, const char *bare, int delta)
{
    struct rep_account *a = rep_account(r, bare);
    int64_t v;

    if (a == NULL)
        return;
    v = (int64_t)a->mutual + delta;
    a->mutual = v < 0 ? 0 : v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

/* ---- evidence ---- */

static bool
rep_evidence_ok(const struct xs_evidence *ev)
{
    size_t slen;

    if (ev == NULL || !rep_key_ok(ev->subject) || ev->source == NULL
        || (unsigned)ev->kind >= XS_EVK__COUNT
        || (unsigned)ev->src >= XS_EVSRC__COUNT || !isfinite(ev->weight))
        return false;
    slen = rep_key_len(ev->source);
    if (slen > XS_REP_SUBJECT_MAX)
        return false;
    /* A user item needs its user: one per (subject, kind, source). */
    return ev->src != XS_EVSRC_USER || slen > 0;
}

/* How much of a user's item counts: clamp(floor + (1 - floor) * s /
 * full_at, 0, 1) of its score s now, so that fresh (bot) accounts and
 * accounts in bad standing weigh little. */
static double
rep_reporter_factor(struct xs_rep *r, const char *source, int64_t now)
{
    const struct xs_rep_policy *p = &r->policy;
    struct xs_rep_score s = xs_rep_score(r, source, now);

    return rep_clamp(p->reporter_floor + (1 - p->reporter_floor)
        * s.score / p->reporter_full_at, 0, 1);
}

/* Whether source has filed reports_per_hour negative items within the
 * last hour. */
static bool
rep_over_rate(const struct xs_rep *r, const char *source, int64_t now)
{
    const struct rep_subj *s = rep_find(r, source);
    uint32_t max = (uint32_t)r->policy.reports_per_hour;

    if (s == NULL || s->ring == NULL || s->ring_n < max)
        return false;
    return now - s->ring[s->ring_head] < REP_HOUR_S;
}

static void
rep_rate_note(struct xs_rep *r, const char *source, int64_t now)
{
    struct rep_subj *s = rep_get(r, source);
    uint32_t max = (uint32_t)r->policy.reports_per_hour;

    if (s->ring == NULL)
        s->ring = xs_calloc(max, sizeof(*s->ring));
    if (s->ring_n < max) {
        s->ring[(s->ring_head + s->ring_n) % max] = now;
        s->ring_n++;
    } else {
        s->ring[s->ring_head] = now;
        s->ring_head = (s->ring_head + 1) % max;
    }
}

enum xs_rep_admit
xs_rep_submit(struct xs_rep *r, const struct xs_evidence *ev, bool is_local,
    int64_t now, struct xs_evidence *stored)
{
    const struct xs_rep_policy *p = &r->policy;
    enum xs_rep_admit res;
    struct rep_subj *s;
    const struct rep_item *it;
    double weight, base;
    size_t idx;

    if (stored != NULL)
        memset(stored, 0, sizeof(*stored));
    if (!rep_evidence_ok(ev)) {
        res = XS_REP_INVALID;
        goto out;
    }
    if (ev->src == XS_EVSRC_USER && strcmp(ev->source, ev->subject) == 0) {
        res = XS_REP_SELF;
        goto out;
    }
    s = rep_find(r, ev->subject);
    if (s != NULL && s->acct != NULL) {
        /* An account's own subscriptions and conversations are counted
         * by the activity record, not as items: these kinds are about
         * remote subjects only. */
        if (ev->kind == XS_EVK_SUB_REFUSED || ev->kind == XS_EVK_CONVERSED) {
            res = XS_REP_INVALID;
            goto out;
        }
    } else if (is_local) {
        res = XS_REP_UNKNOWN_SUBJECT;
        goto out;
    }
    if (xs_evk_weight_is_given(ev->kind)) {
        base = rep_clamp(ev->weight, -100, 100);
        /* A flag's weight comes from a peer's statement: one item never
         * weighs more than the whole kind may. */
        if (ev->kind == XS_EVK_TRUST_FLAG)
            base = rep_clamp(base, -p->kind_cap[ev->kind],
                p->kind_cap[ev->kind]);
    } else {
        base = p->weight[ev->kind];
    }
    weight = base;
    if (ev->src == XS_EVSRC_USER) {
        /* A flood from one account is dropped whole, before it changes
         * anything (reports_per_hour). */
        if (base < 0 && rep_over_rate(r, ev->source, now)) {
            res = XS_REP_RATE_LIMITED;
            goto out;
        }
        weight *= rep_reporter_factor(r, ev->source, now);
        if (base < 0)
            rep_rate_note(r, ev->source, now);
    }
    s = rep_get(r, ev->subject);
    res = rep_item_put(r, s, ev, weight, now, false, &idx) == REP_PUT_REPLACED
        ? XS_REP_REPLACED : XS_REP_ADMITTED;
    s->items[idx].id = 0;
    rep_link(r, s);
    rep_changed(s);
    if (stored != NULL) {
        it = &s->items[idx];
        *stored = (struct xs_evidence){
            .id = 0, .subject = s->key, .kind = ev->kind,
            .weight = it->weight, .src = ev->src, .source = it->source,
            .at = it->at, .note = it->note,
        };
    }
out:
    r->admitted[res]++;
    return res;
}

void
xs_rep_restore(struct xs_rep *r, const struct xs_evidence *ev, bool is_local,
    int64_t now)
{
    struct rep_subj *s;
    size_t idx;

    if (!rep_evidence_ok(ev) || ev->at < now - r->policy.horizon_s)
        return;
    s = rep_find(r, ev->subject);
    if (is_local && (s == NULL || s->acct == NULL))
        return;     /* the account went: so does what was said of it */
    s = rep_get(r, ev->subject);
    (void)rep_item_put(r, s, ev, ev->weight, ev->at, true, &idx);
    rep_link(r, s);
    rep_changed(s);
}

bool
xs_rep_retract(struct xs_rep *r, const char *subject, enum xs_evk kind,
    const char *source)
{
    struct rep_subj *s = rep_find(r, subject);
    size_t i;

    if (s == NULL || source == NULL || (unsigned)kind >= XS_EVK__COUNT)
        return false;
    i = rep_item_lower(s, XS_EVSRC_USER, source, kind, INT64_MIN);
    if (i >= s->nitems || !rep_item_same(&s->items[i], XS_EVSRC_USER,
            source, kind))
        return false;
    rep_item_delete(r, s, i);
    rep_changed(s);
    rep_gc(r, s);
    return true;
}

/* ---- pins ---- */

xs_rc
xs_rep_pin_set(struct xs_rep *r, const char *subject,
    const struct xs_rep_pin *pin, int64_t now)
{
    struct rep_subj *s;
    struct rep_pin *p;

    if (!rep_key_ok(subject) || pin == NULL || pin->score < -100
        || pin->score > 100 || (pin->expires != 0 && pin->expires <= now)
        || (pin->reason != NULL
            && strnlen(pin->reason, XS_REP_REASON_MAX + 1)
                > XS_REP_REASON_MAX)
        || (pin->set_by != NULL && rep_key_len(pin->set_by)
            > XS_REP_SUBJECT_MAX))
        return XS_EINVAL;
    p = xs_calloc(1, sizeof(*p));
    p->reason = xs_strdup(pin->reason != NULL ? pin->reason : "");
    p->set_by = xs_strdup(pin->set_by != NULL ? pin->set_by : "");
    p->pub = (struct xs_rep_pin){
        .score = pin->score, .reason = p->reason, .expires = pin->expires,
        .set_by = p->set_by, .set_at = pin->set_at != 0 ? pin->set_at : now,
    };
    s = rep_get(r, subject);
    rep_pin_free(s->pin);
    s->pin = p;
    rep_link(r, s);
    rep_changed(s);
    return XS_OK;
}

xs_rc
xs_rep_pin_clear(struct xs_rep *r, const char *subject)
{
    struct rep_subj *s = rep_find(r, subject);

    if (s == NULL || s->pin == NULL)
        return XS_ENOTFOUND;
    rep_pin_free(s->pin);
    s->pin = NULL;
    rep_changed(s);
    rep_gc(r, s);
    return XS_OK;
}

const struct xs_rep_pin *
xs_rep_pin_get(struct xs_rep *r, const char *subject, int64_t now)
{
    struct rep_subj *s = rep_find(r, subject);

    if (s == NULL || !rep_pin_live(s->pin, now))
        return NULL;
    return &s->pin->pub;
}

/* ---- explanations ---- */

static int
rep_line_cmp(const void *a, const void *b)
{
    const struct xs_rep_line *x = a, *y = b;
    double ax = fabs(x->points), ay = fabs(y->points);
    int c;

    if (ax != ay)
        return ax > ay ? -1 : 1;
    if ((c = strcmp(x->what, y->what)) != 0)
        return c;
    if ((c = strcmp(x->source, y->source)) != 0)
        return c;
    return x->at < y->at ? -1 : x->at > y->at;
}

void
xs_rep_explain(struct xs_rep *r, const char *subject, int64_t now,
    struct xs_rep_explanation *out)
{
    struct rep_lines L = { 0 };
    struct rep_subj *s = rep_find_scored(r, subject), *dom;
    struct rep_calc c;

    memset(out, 0, sizeof(*out));
    out->s = rep_unknown;
    if (s == NULL) {
        if (!rep_key_ok(subject))
            return;
        out->s = rep_score_by_domain(r, subject, now, &dom);
        if (dom == NULL)
            return;
        out->raw = r->policy.domain_weight * dom->cached.score;
        rep_line(&L, "domain", "system", dom->key, dom->cached.score,
            out->raw, 0, xs_rep_level_name(dom->cached.level));
    } else {
        /* What xs_rep_score answers now was computed at cached_at (at
         * most XS_REP_CACHE_S ago, from what s holds now): explain that
         * computation, so the lines add up to the score given. */
        out->s = *rep_score(r, s, now);
        rep_compute(r, s, s->cached_at, &L, &c);
        out->raw = c.raw;
    }
    if (L.n > 1)
        qsort(L.v, L.n, sizeof(*L.v), rep_line_cmp);
    out->lines = L.v;
    out->nlines = L.n;
}

void
xs_rep_explanation_fini(struct xs_rep_explanation *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->nlines; i++) {
        xs_free(e->lines[i].what);
        xs_free(e->lines[i].source_kind);
        xs_free(e->lines[i].source);
        xs_free(e->lines[i].note);
    }
    xs_free(e->lines);
    e->lines = NULL;
    e->nlines = 0;
}

/* ---- walks in slices (engine.h) ---- */

/* What a walk does with each subject: returns the units it spent beyond
 * the subject's one and its computations.  It must not add or remove
 * subjects: the chain being walked would change under it. */
typedef size_t rep_visit_fn(struct xs_rep *r, struct rep_subj *s,
                    void *arg);

static void
rep_cursor_begin(const struct xs_rep *r, struct rep_cursor *c)
{
    c->nb0 = r->nbuckets;
    c->next = 0;
}

/*
 * Whether c can go on over r's table as it is: begun, and the table no
 * smaller (sizes are powers of two, so the new one is a multiple of the
 * old) nor so much larger that one bucket of the old would make a slice
 * long.  Otherwise the walk starts over: after growing REP_WALK_SPLIT_MAX
 * times, what it had done is at most a sixteenth of the walk now, so
 * starting over costs little and cannot go on forever.  (The table never
 * shrinks today.)
 */
#define REP_WALK_SPLIT_MAX  16

static bool
rep_cursor_fits(const struct xs_rep *r, const struct rep_cursor *c)
{
    return c->nb0 != 0 && r->nbuckets >= c->nb0
        && r->nbuckets / c->nb0 <= REP_WALK_SPLIT_MAX;
}

/* What a walk has spent, in the units of a budget (engine.h). */
static size_t
rep_walk_spent(size_t subjects, size_t buckets, uint64_t computations)
{
    return subjects + buckets / XS_REP_WALK_BUCKETS
        + (size_t)computations * XS_REP_WALK_COMPUTE;
}

/* What a whole walk costs if no score needs computing. */
static size_t
rep_walk_cost(const struct xs_rep *r)
{
    return rep_walk_spent(r->nsubjects, r->nbuckets, 0);
}

/*
 * Calls fn on the subjects from c on, a bucket of the walk's first table
 * (with what it split into) at a time, until budget is spent or the
 * table is walked (then true).  *nvisited: the subjects; *spent: the
 * cost, which overshoots budget by at most one such bucket.
 */
static bool
rep_cursor_step(struct xs_rep *r, struct rep_cursor *c, size_t budget,
    rep_visit_fn *fn, void *arg, size_t *nvisited, size_t *spent)
{
    size_t subjects = 0, buckets = 0, extra = 0;
    uint64_t c0 = r->computations;

    if (budget == 0)
        budget = 1;
    while (c->next < c->nb0 && extra + rep_walk_spent(subjects, buckets,
            r->computations - c0) < budget) {
        for (size_t b = c->next; b < r->nbuckets; b += c->nb0) {
            buckets++;
            for (struct rep_subj *s = r->buckets[b]; s != NULL;
                s = s->hnext) {
                extra += fn(r, s, arg);
                subjects++;
            }
        }
        c->next++;
    }
    *nvisited = subjects;
    *spent = extra + rep_walk_spent(subjects, buckets,
        r->computations - c0);
    return c->next >= c->nb0;
}

/* ---- lists ---- */

static int
rep_listed_cmp(const void *a, const void *b)
{
    const struct xs_rep_listed *x = a, *y = b;

    if (x->s.score != y->s.score)
        return x->s.score < y->s.score ? -1 : 1;
    return strcmp(x->bare, y->bare);
}

static void
rep_listed_swap(struct xs_rep_listed *a, struct xs_rep_listed *b)
{
    struct xs_rep_listed t = *a;

    *a = *b;
    *b = t;
}

/* A list walk's heap: the entry to let go first (the highest score, then
 * the last JID) on top, so keeping the lowest max costs O(log max) per
 * account, not a sort of every account below. */
static void
rep_heap_up(struct xs_rep_listed *v, size_t i)
{
    while (i > 0) {
        size_t parent = (i - 1) / 2;

        if (rep_listed_cmp(&v[parent], &v[i]) >= 0)
            return;
        rep_listed_swap(&v[parent], &v[i]);
        i = parent;
    }
}

static void
rep_heap_down(struct xs_rep_listed *v, size_t n, size_t i)
{
    for (;;) {
        size_t left = 2 * i + 1, right = left + 1, top = i;

        if (left < n && rep_listed_cmp(&v[left], &v[top]) > 0)
            top = left;
        if (right < n && rep_listed_cmp(&v[right], &v[top]) > 0)
            top = right;
        if (top == i)
            return;
        rep_listed_swap(&v[i], &v[top]);
        i = top;
    }
}

/* Units of budget (engine.h) a list walk spends beyond a subject's one:
 * on each account it takes into the heap (a copy of the JID and a path
 * through the heap, comparing JIDs far apart in memory), on each entry
 * it looks up again and puts back (a hash, a probe far from the last, a
 * path up), on each pop of its sort (a path down).  Measured against a
 * subject of the walk with tests/bench/rep/score. */
#define REP_LIST_KEEP_COST  3
#define REP_LIST_CHECK_COST 5
#define REP_LIST_POP_COST   3

enum rep_list_phase {
    REP_LIST_WALK,          /* over the table, keeping the lowest max */
    REP_LIST_CHECK,         /* each kept account looked up again, the
                               heap rebuilt with its score now */
    REP_LIST_SORT,          /* heapsort, one pop per unit of budget */
    REP_LIST_DONE,
};

struct xs_rep_list_walk {
    struct xs_rep *r;               /* borrowed: outlives the walk */
    int       below;
    size_t    max;
    struct rep_cursor cur;
    struct xs_rep_listed *v;        /* owned, with each .bare: the heap,
                                       then the result */
    size_t    n;
    size_t    cap;
    size_t    i;                    /* CHECK: the next entry; SORT: the
                                       heap's size */
    size_t    kept;                 /* CHECK: entries kept so far */
    int64_t   now;                  /* the step's */
    enum rep_list_phase phase;
};

static void
rep_list_clear(struct xs_rep_list_walk *w)
{
    for (size_t i = 0; i < w->n; i++)
        xs_free(w->v[i].bare);
    w->n = 0;
}

static size_t
rep_list_visit(struct xs_rep *r, struct rep_subj *s, void *arg)
{
    struct xs_rep_list_walk *w = arg;
    const struct xs_rep_score *sc;
    struct xs_rep_listed cand;

    if (s->acct == NULL)
        return 0;
    sc = rep_score(r, s, w->now);
    if (sc->score >= w->below)
        return 0;
    if (w->n < w->max) {
        if (w->n == w->cap) {
            w->cap = w->cap == 0 ? 16 : w->cap * 2;
            if (w->cap > w->max)
                w->cap = w->max;
            w->v = xs_reallocarray(w->v, w->cap, sizeof(*w->v));
        }
        w->v[w->n].bare = xs_strdup(s->key);
        w->v[w->n].s = *sc;
        rep_heap_up(w->v, w->n++);
        return REP_LIST_KEEP_COST;
    }
    /* Full: the account takes the top's place if it comes before it.
     * Only then is its JID copied. */
    cand.bare = s->key;
    cand.s = *sc;
    if (rep_listed_cmp(&cand, &w->v[0]) >= 0)
        return 0;
    xs_free(w->v[0].bare);
    w->v[0].bare = xs_strdup(s->key);
    w->v[0].s = *sc;
    rep_heap_down(w->v, w->n, 0);
    return REP_LIST_KEEP_COST;
}

struct xs_rep_list_walk *
xs_rep_list_walk_new(struct xs_rep *r, int below, size_t max)
{
    struct xs_rep_list_walk *w = xs_calloc(1, sizeof(*w));

    w->r = r;
    w->below = below;
    w->max = max;
    w->phase = max == 0 ? REP_LIST_DONE : REP_LIST_WALK;
    return w;
}

bool
xs_rep_list_walk_step(struct xs_rep_list_walk *w, int64_t now, size_t budget)
{
    struct xs_rep *r = w->r;
    size_t spent = 0, nvisited;

    if (budget == 0)
        budget = 1;
    w->now = now;
    if (w->phase == REP_LIST_WALK) {
        if (!rep_cursor_fits(r, &w->cur)) {
            rep_list_clear(w);
            rep_cursor_begin(r, &w->cur);
        }
        if (!rep_cursor_step(r, &w->cur, budget, rep_list_visit, w,
                &nvisited, &spent))
            return false;
        w->phase = REP_LIST_CHECK;
        w->i = w->kept = 0;
    }
    if (w->phase == REP_LIST_CHECK) {
        /* The kept JIDs are copies: each may have gone (a deleted
         * account) or moved since its bucket was visited. */
        for (; w->i < w->n && spent < budget; w->i++) {
            struct xs_rep_listed *e = &w->v[w->i];
            struct rep_subj *s = rep_find(r, e->bare);
            uint64_t c0 = r->computations;

            if (s != NULL && s->acct != NULL)
                e->s = *rep_score(r, s, now);
            spent += REP_LIST_CHECK_COST
                + rep_walk_spent(0, 0, r->computations - c0);
            if (s == NULL || s->acct == NULL || e->s.score >= w->below) {
                xs_free(e->bare);
                continue;
            }
            /* Scores may have moved: the entries kept so far make a new
             * heap in front of those not yet looked up. */
            w->v[w->kept] = *e;
            rep_heap_up(w->v, w->kept++);
        }
        if (w->i < w->n)
            return false;
        w->n = w->kept;
        w->i = w->n;
        w->phase = REP_LIST_SORT;
    }
    if (w->phase == REP_LIST_SORT) {
        /* Each pop puts the greatest left at the end: lowest first. */
        for (; w->i > 1 && spent < budget; spent += REP_LIST_POP_COST) {
            w->i--;
            rep_listed_swap(&w->v[0], &w->v[w->i]);
            rep_heap_down(w->v, w->i, 0);
        }
        if (w->i > 1)
            return false;
        w->phase = REP_LIST_DONE;
    }
    return true;
}

void
xs_rep_list_walk_result(struct xs_rep_list_walk *w,
    struct xs_rep_listed **out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (w->phase != REP_LIST_DONE || w->n == 0)
        return;
    *out = w->v;
    *n = w->n;
    w->v = NULL;
    w->n = w->cap = 0;
}

void
xs_rep_list_walk_free(struct xs_rep_list_walk *w)
{
    if (w == NULL)
        return;
    rep_list_clear(w);
    xs_free(w->v);
    xs_free(w);
}

void
xs_rep_list_below(struct xs_rep *r, int below, size_t max, int64_t now,
    struct xs_rep_listed **out, size_t *n)
{
    struct xs_rep_list_walk *w = xs_rep_list_walk_new(r, below, max);
    bool is_done = xs_rep_list_walk_step(w, now, SIZE_MAX);

    xs_assert(is_done);
    xs_rep_list_walk_result(w, out, n);
    xs_rep_list_walk_free(w);
}

/* ---- the census and the counters ---- */

static size_t
rep_census_visit(struct xs_rep *r, struct rep_subj *s, void *arg)
{
    const int64_t *now = arg;
    struct rep_census *c = &r->census_building;

    if (s->acct != NULL)
        c->accounts_by_level[rep_score(r, s, *now)->level]++;
    for (size_t i = 0; i < s->nitems; i++)
        c->items_by_kind[s->items[i].kind] += s->items[i].n;
    if (rep_pin_live(s->pin, *now))
        c->pins++;
    return 0;
}

static void
rep_census_begin(struct xs_rep *r)
{
    memset(&r->census_building, 0, sizeof(r->census_building));
    rep_cursor_begin(r, &r->census_cur);
    r->is_census_running = true;
}

size_t
xs_rep_census_step(struct xs_rep *r, int64_t now, size_t budget)
{
    size_t nvisited, spent;

    if (!r->is_census_running || !rep_cursor_fits(r, &r->census_cur))
        rep_census_begin(r);
    if (rep_cursor_step(r, &r->census_cur, budget, rep_census_visit, &now,
            &nvisited, &spent)) {
        r->census = r->census_building;
        r->census_at = now;
        r->censuses++;
        r->is_census_running = false;
    }
    return nvisited;
}

bool
xs_rep_census_running(const struct xs_rep *r)
{
    return r->is_census_running;
}

bool
xs_rep_census_run(struct xs_rep *r, int64_t now, size_t budget)
{
    if (rep_walk_cost(r) > budget)
        return false;
    rep_census_begin(r);
    (void)xs_rep_census_step(r, now, SIZE_MAX);
    xs_assert(!r->is_census_running);
    return true;
}

void
xs_rep_stats(struct xs_rep *r, int64_t now, struct xs_rep_stats *out)
{
    (void)now;
    memset(out, 0, sizeof(*out));
    memcpy(out->accounts_by_level, r->census.accounts_by_level,
        sizeof(out->accounts_by_level));
    memcpy(out->items_by_kind, r->census.items_by_kind,
        sizeof(out->items_by_kind));
    out->pins = r->census.pins;
    out->subjects = r->nsubjects;
    out->computations = r->computations;
    memcpy(out->admitted, r->admitted, sizeof(out->admitted));
    out->censuses = r->censuses;
    out->census_at = r->census_at;
}

/* ---- the prune, in slices ---- */

/*
 * Prunes s at now: its items worth less than REP_PRUNE_POINTS or past the
 * horizon, an expired pin, a reports ring past its hour.  A member left
 * with nothing to say leaves its domain; a domain left empty by that is
 * put on r->pending (it may sit in a bucket the prune is walking, or one
 * it passed).  Returns the stored items that went; *weighed gets the
 * items it looked at.
 */
static size_t
rep_prune_subj(struct xs_rep *r, struct rep_subj *s, int64_t now,
    size_t *weighed)
{
    const struct xs_rep_policy *p = &r->policy;
    size_t gone = 0;
    bool changed = false;

    *weighed = s->nitems;
    for (size_t i = 0; i < s->nitems;) {
        const struct rep_item *it = &s->items[i];
        double c = xs_evidence_decay(it->weight, it->at, now,
            p->half_life_s[it->kind]);

        if (fabs(c) >= REP_PRUNE_POINTS && it->at >= now - p->horizon_s) {
            i++;
            continue;
        }
        gone += it->n;
        rep_item_delete(r, s, i);
        changed = true;
    }
    if (s->pin != NULL && !rep_pin_live(s->pin, now)) {
        rep_pin_free(s->pin);
        s->pin = NULL;
        changed = true;
    }
    if (s->ring != NULL && s->ring_n > 0) {
        uint32_t max = (uint32_t)p->reports_per_hour;
        int64_t newest = s->ring[(s->ring_head + s->ring_n - 1) % max];

        if (now - newest >= REP_HOUR_S) {
            xs_free(s->ring);
            s->ring = NULL;
            s->ring_n = s->ring_head = 0;
        }
    }
    if (changed)
        rep_changed(s);
    if (s->domain != NULL && s->nitems == 0 && s->pin == NULL) {
        struct rep_subj *d = s->domain;

        rep_unlink(r, s);
        if (rep_is_empty(d) && !d->is_prune_pending) {
            if (r->npending == r->cpending) {
                r->cpending = r->cpending == 0 ? 16 : r->cpending * 2;
                r->pending = xs_reallocarray(r->pending, r->cpending,
                    sizeof(*r->pending));
            }
            r->pending[r->npending++] = d;
            d->is_prune_pending = true;
        }
    }
    return gone;
}

/*
 * Prunes bucket c->next of the walk's first table (with what it split
 * into), then moves c on.  Subjects are removed only once every chain of
 * the bucket is walked, and pending domains last: a domain may sit in
 * the chain being walked, before or after the JID that emptied it.
 */
static size_t
rep_prune_bucket(struct xs_rep *r, struct rep_cursor *c, int64_t now,
    size_t *subjects, size_t *buckets, size_t *weighed)
{
    size_t gone = 0, w;

    for (size_t b = c->next; b < r->nbuckets; b += c->nb0) {
        (*buckets)++;
        for (struct rep_subj *s = r->buckets[b]; s != NULL; s = s->hnext) {
            gone += rep_prune_subj(r, s, now, &w);
            *weighed += w;
            (*subjects)++;
        }
    }
    for (size_t b = c->next; b < r->nbuckets; b += c->nb0) {
        struct rep_subj **pp = &r->buckets[b];

        while (*pp != NULL) {
            struct rep_subj *s = *pp;

            if (!rep_is_empty(s) || s->is_prune_pending) {
                pp = &s->hnext;
                continue;
            }
            xs_assert(s->domain == NULL);
            *pp = s->hnext;
            r->nsubjects--;
            rep_subj_free(s);
        }
    }
    for (size_t i = 0; i < r->npending; i++) {
        struct rep_subj *d = r->pending[i];

        d->is_prune_pending = false;
        if (rep_is_empty(d))
            rep_remove(r, d);
    }
    r->npending = 0;
    c->next++;
    return gone;
}

size_t
xs_rep_prune_step(struct xs_rep *r, int64_t now, size_t budget, bool *done)
{
    struct rep_cursor *c = &r->prune_cur;
    size_t subjects = 0, buckets = 0, weighed = 0, gone = 0;

    if (budget == 0)
        budget = 1;
    /* Starting over after much growth costs nothing but time: what was
     * pruned stays pruned. */
    if (!r->is_prune_running || !rep_cursor_fits(r, c)) {
        rep_cursor_begin(r, c);
        r->is_prune_running = true;
    }
    while (c->next < c->nb0 && rep_walk_spent(subjects, buckets, 0)
        + weighed / REP_PRUNE_ITEMS_PER_UNIT < budget)
        gone += rep_prune_bucket(r, c, now, &subjects, &buckets, &weighed);
    *done = c->next >= c->nb0;
    if (*done)
        r->is_prune_running = false;
    return gone;
}

bool
xs_rep_prune_running(const struct xs_rep *r)
{
    return r->is_prune_running;
}

size_t
xs_rep_prune(struct xs_rep *r, int64_t now)
{
    bool is_done;
    size_t gone;

    r->is_prune_running = false;
    gone = xs_rep_prune_step(r, now, SIZE_MAX, &is_done);
    xs_assert(is_done);
    return gone;
}

bool
xs_rep_domain_jids_sum(struct xs_rep *r, const char *domain, int64_t now,
    double *kept, double *walked)
{
    struct rep_subj *d = rep_find(r, domain);

    if (d == NULL || rep_domain_of(d->key) != NULL)
        return false;
    *kept = rep_dsum_now(r, d, now);
    *walked = rep_dsum_walk(r, d, now);
    return true;
}
