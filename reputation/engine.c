/*
 * engine.c: the reputation engine's memory (see engine.h for the rules):
 * the table of subjects, local accounts, evidence (submit, restore,
 * retract, the items of a subject), pins.  engine_int.h says how the
 * engine is split across files.
 */
#include "reputation/engine.h"
#include "reputation/engine_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define REP_BUCKETS_MIN     64
/*
 * Items kept per (kind, source) of a non-user source (rate limits, s2s
 * refusals): more are folded, the oldest into the next.  Folding is exact
 * under decay (w1 2^-(t-t1)/h + w2 2^-(t-t2)/h = (w1 2^-(t2-t1)/h + w2)
 * 2^-(t-t2)/h), so a flood of throttling costs bounded memory and no
 * precision.
 */
#define REP_GROUP_MAX       8

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

/* A copy of s cut to at most max bytes, never inside a UTF-8 sequence. */
char *
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

void
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

void
rep_pin_free(struct rep_pin *p)
{
    if (p == NULL)
        return;
    xs_free(p->reason);
    xs_free(p->set_by);
    xs_free(p);
}

/* Frees s (already out of the table and of its domain). */
void
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
void
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

void
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
