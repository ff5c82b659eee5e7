/*
 * engine_int.h: the reputation engine's internals, shared by the files
 * that make it up (engine.h is the API; nothing outside these includes
 * this):
 *
 *   engine.c  the table of subjects, local accounts, evidence (submit,
 *             restore, retract, a subject's items), pins
 *   dsum.c    a domain's share of its JIDs' evidence (struct rep_dsum)
 *   score.c   computing and caching scores, explanations
 *   walk.c    walks in slices: the list walk, the census, the counters
 *   prune.c   the prune, in slices
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
 * The table's probe and the small helpers every file uses are static
 * inline here: a score lookup (the hot path, >= 1,000,000 a second,
 * tests/bench/rep/score) must not pay a call for the split.
 */
#ifndef XMPPD_REPUTATION_ENGINE_INT_H
#define XMPPD_REPUTATION_ENGINE_INT_H

#include "reputation/engine.h"

#include <sodium.h>
#include <string.h>

#define REP_HOUR_S          3600

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

/* A contribution during a computation (score.c). */
struct rep_contrib;

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

/* ---- small helpers ---- */

static inline size_t
rep_key_len(const char *s)
{
    return s != NULL ? strnlen(s, XS_REP_SUBJECT_MAX + 1) : 0;
}

static inline bool
rep_key_ok(const char *s)
{
    size_t len = rep_key_len(s);

    return len > 0 && len <= XS_REP_SUBJECT_MAX;
}

static inline double
rep_clamp(double v, double lo, double hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* The domain part of a bare JID, or NULL for a domain (or "user@"). */
static inline const char *
rep_domain_of(const char *key)
{
    const char *at = strchr(key, '@');

    return at != NULL && at[1] != '\0' ? at + 1 : NULL;
}

/* ---- the table ---- */

static inline uint64_t
rep_hash(const struct xs_rep *r, const char *key, size_t len)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, (const unsigned char *)key, len, r->hkey);
    memcpy(&h, out, sizeof(h));
    return h;
}

static inline struct rep_subj *
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
static inline struct rep_subj *
rep_find(const struct xs_rep *r, const char *key)
{
    size_t len = rep_key_len(key);

    if (len == 0 || len > XS_REP_SUBJECT_MAX)
        return NULL;
    return rep_find_h(r, key, rep_hash(r, key, len));
}

/* Something about s changed: its score, and its domain's share. */
static inline void
rep_changed(struct rep_subj *s)
{
    s->is_dirty = true;
    if (s->domain != NULL)
        s->domain->is_dirty = true;
}

static inline bool
rep_is_empty(const struct rep_subj *s)
{
    return s->acct == NULL && s->nitems == 0 && s->pin == NULL
        && s->nmembers == 0 && s->ring == NULL;
}

static inline bool
rep_pin_live(const struct rep_pin *p, int64_t now)
{
    return p != NULL && (p->pub.expires == 0 || p->pub.expires > now);
}

/* ---- walks in slices (engine.h; walk.c, prune.c) ---- */

static inline void
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

static inline bool
rep_cursor_fits(const struct xs_rep *r, const struct rep_cursor *c)
{
    return c->nb0 != 0 && r->nbuckets >= c->nb0
        && r->nbuckets / c->nb0 <= REP_WALK_SPLIT_MAX;
}

/* What a walk has spent, in the units of a budget (engine.h). */
static inline size_t
rep_walk_spent(size_t subjects, size_t buckets, uint64_t computations)
{
    return subjects + buckets / XS_REP_WALK_BUCKETS
        + (size_t)computations * XS_REP_WALK_COMPUTE;
}

/* ---- engine.c ---- */

/* A copy of s cut to at most max bytes, never inside a UTF-8 sequence. */
char *rep_cut_dup(const char *s, size_t max);
/* Takes s out of its domain's members (and its items out of the domain's
 * share). */
void  rep_unlink(struct xs_rep *r, struct rep_subj *s);
void  rep_pin_free(struct rep_pin *p);
/* Frees s (already out of the table and of its domain). */
void  rep_subj_free(struct rep_subj *s);
/* Takes s out of the table and frees it.  Its domain's members must have
 * left first (a domain with members is never removed). */
void  rep_remove(struct xs_rep *r, struct rep_subj *s);
/* Deletes s's item i, and takes it out of its domain's share. */
void  rep_item_delete(struct xs_rep *r, struct rep_subj *s, size_t i);

/* ---- dsum.c ---- */

/* Adds (sign 1) or takes out (sign -1) item it of s to or from its
 * domain's sum; nothing when s is not a member. */
void   rep_dsum_item(struct xs_rep *r, const struct rep_subj *s,
           const struct rep_item *it, int sign);
/* s, a member, got its first item (delta 1) or lost its last (-1). */
void   rep_dsum_jids(struct rep_subj *s, int delta);
/* The sum of d's JIDs' items at now (each item decayed, no caps). */
double rep_dsum_now(const struct xs_rep *r, struct rep_subj *d,
           int64_t now);

/* ---- score.c ---- */

/* The score of s at now: the cached one while it holds. */
const struct xs_rep_score *rep_score(struct xs_rep *r, struct rep_subj *s,
                               int64_t now);

#endif
