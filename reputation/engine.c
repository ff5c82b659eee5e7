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
 */
#include "reputation/engine.h"

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

    /* As a user source: when its last negative items were admitted
     * (reports_per_hour), a ring of policy.reports_per_hour times. */
    int64_t  *ring;             /* owned; NULL: none */
    uint32_t  ring_head;        /* oldest */
    uint32_t  ring_n;

    struct xs_rep_score cached;
    int64_t   cached_at;        /* the `now` it was computed for */
    int64_t   valid_until;      /* recompute at or after this */
    bool      is_dirty;
    char      key[];            /* the subject, in the same allocation:
                                   a lookup touches one block */
};

/* A contribution during a computation. */
struct rep_contrib {
    double    points;
    unsigned  cut;              /* REP_CUT_* */
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

static void
rep_policy_copy(struct xs_rep_policy *dst, const struct xs_rep_policy *src)
{
    *dst = *src;
    dst->query_domains = NULL;
    dst->nquery_domains = 0;
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
    rep_changed(s);
}

static void
rep_unlink(struct rep_subj *s)
{
    struct rep_subj *d = s->domain;

    if (d == NULL)
        return;
    rep_changed(s);
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
    rep_unlink(s);
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
        rep_unlink(s);  /* nothing left to say about the domain */
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
rep_item_delete(struct rep_subj *s, size_t i)
{
    rep_item_clear(&s->items[i]);
    memmove(&s->items[i], &s->items[i + 1],
        (s->nitems - i - 1) * sizeof(s->items[0]));
    s->nitems--;
}

/* Fold items[j] into the newer items[j + 1] of the same group. */
static void
rep_item_fold(const struct xs_rep *r, struct rep_subj *s, size_t j)
{
    struct rep_item *a = &s->items[j], *b = &s->items[j + 1];

    b->weight += xs_evidence_decay(a->weight, a->at, b->at,
        r->policy.half_life_s[a->kind]);
    b->n += a->n;
    rep_item_delete(s, j);
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
        xs_free(it->note);
        it->note = rep_note_dup(ev->note);
        it->weight = weight;
        it->at = at;
        it->id = ev->id;
        it->n = 1;
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
rep_compute(struct xs_rep *r, const struct rep_subj *s, int64_t now,
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
    if (s->nmembers > 0) {
        double sum = 0, pts;
        size_t nj = 0;

        for (const struct rep_subj *m = s->members; m != NULL;
            m = m->mnext) {
            if (m->nitems == 0)
                continue;
            sum += rep_evidence(r, m, now);
            nj++;
        }
        if (nj > 0) {
            pts = rep_clamp(p->domain_share * sum, -p->domain_share_cap,
                p->domain_share_cap);
            raw += pts;
            sc.is_known = true;
            if (L != NULL) {
                char *note = xs_asprintf("%zu JIDs%s", nj,
                    fabs(p->domain_share * sum) > p->domain_share_cap
                    ? "; capped" : "");

                rep_line(L, "jids", "system", "", sum, pts, 0, note);
                xs_free(note);
            }
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
        rep_unlink(s);
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
    base = ev->kind == XS_EVK_OPERATOR ? rep_clamp(ev->weight, -100, 100)
        : p->weight[ev->kind];
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
    rep_item_delete(s, i);
    rep_changed(s);
    rep_gc(r, s);
    return true;
}

/* Removes every subject with nothing left (members first: a domain goes
 * once its last JID went, on the second pass). */
static void
rep_sweep(struct xs_rep *r)
{
    for (int pass = 0; pass < 2; pass++) {
        for (size_t b = 0; b < r->nbuckets; b++) {
            struct rep_subj **pp = &r->buckets[b];

            while (*pp != NULL) {
                struct rep_subj *s = *pp;

                if (s->domain != NULL && s->nitems == 0 && s->pin == NULL)
                    rep_unlink(s);
                if (!rep_is_empty(s)) {
                    pp = &s->hnext;
                    continue;
                }
                *pp = s->hnext;
                r->nsubjects--;
                rep_subj_free(s);
            }
        }
    }
}

size_t
xs_rep_prune(struct xs_rep *r, int64_t now)
{
    const struct xs_rep_policy *p = &r->policy;
    size_t gone = 0;

    for (size_t b = 0; b < r->nbuckets; b++) {
        for (struct rep_subj *s = r->buckets[b]; s != NULL; s = s->hnext) {
            bool changed = false;

            for (size_t i = 0; i < s->nitems;) {
                const struct rep_item *it = &s->items[i];
                double c = xs_evidence_decay(it->weight, it->at, now,
                    p->half_life_s[it->kind]);

                if (fabs(c) >= REP_PRUNE_POINTS
                    && it->at >= now - p->horizon_s) {
                    i++;
                    continue;
                }
                gone += it->n;
                rep_item_delete(s, i);
                changed = true;
            }
            if (s->pin != NULL && !rep_pin_live(s->pin, now)) {
                rep_pin_free(s->pin);
                s->pin = NULL;
                changed = true;
            }
            if (s->ring != NULL && s->ring_n > 0) {
                uint32_t max = (uint32_t)p->reports_per_hour;
                int64_t newest = s->ring[(s->ring_head + s->ring_n - 1)
                    % max];

                if (now - newest >= REP_HOUR_S) {
                    xs_free(s->ring);
                    s->ring = NULL;
                    s->ring_n = s->ring_head = 0;
                }
            }
            if (changed)
                rep_changed(s);
        }
    }
    rep_sweep(r);
    return gone;
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

/* ---- lists and counters ---- */

static int
rep_listed_cmp(const void *a, const void *b)
{
    const struct xs_rep_listed *x = a, *y = b;

    if (x->s.score != y->s.score)
        return x->s.score < y->s.score ? -1 : 1;
    return strcmp(x->bare, y->bare);
}

void
xs_rep_list_below(struct xs_rep *r, int below, size_t max, int64_t now,
    struct xs_rep_listed **out, size_t *n)
{
    struct xs_rep_listed *v = NULL;
    size_t nv = 0, cap = 0;

    *out = NULL;
    *n = 0;
    if (max == 0)
        return;
    for (size_t b = 0; b < r->nbuckets; b++) {
        for (struct rep_subj *s = r->buckets[b]; s != NULL; s = s->hnext) {
            const struct xs_rep_score *sc;

            if (s->acct == NULL)
                continue;
            sc = rep_score(r, s, now);
            if (sc->score >= below)
                continue;
            if (nv == cap) {
                cap = cap == 0 ? 16 : cap * 2;
                v = xs_reallocarray(v, cap, sizeof(*v));
            }
            /* Strings come after the walk: bare points into s for now. */
            v[nv].bare = s->key;
            v[nv].s = *sc;
            nv++;
        }
    }
    if (nv > 1)
        qsort(v, nv, sizeof(*v), rep_listed_cmp);
    if (nv > max)
        nv = max;
    for (size_t i = 0; i < nv; i++)
        v[i].bare = xs_strdup(v[i].bare);
    if (nv == 0) {
        xs_free(v);
        v = NULL;
    }
    *out = v;
    *n = nv;
}

void
xs_rep_stats(struct xs_rep *r, int64_t now, struct xs_rep_stats *out)
{
    memset(out, 0, sizeof(*out));
    for (size_t b = 0; b < r->nbuckets; b++) {
        for (struct rep_subj *s = r->buckets[b]; s != NULL; s = s->hnext) {
            if (s->acct != NULL)
                out->accounts_by_level[rep_score(r, s, now)->level]++;
            for (size_t i = 0; i < s->nitems; i++)
                out->items_by_kind[s->items[i].kind] += s->items[i].n;
            if (rep_pin_live(s->pin, now))
                out->pins++;
        }
    }
    out->subjects = r->nsubjects;
    out->computations = r->computations;
    memcpy(out->admitted, r->admitted, sizeof(out->admitted));
}
