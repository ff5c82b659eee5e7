/*
 * score.c: computing scores (engine.h says how they weigh): a subject's
 * evidence under its caps, an account's features, its domain's standing,
 * a pin; the cached score behind every lookup (the hot path); and
 * explanations, which are the same computation with its lines kept.
 */
#include "reputation/engine_int.h"

#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define REP_DAY_S           86400

/* Flags of an item's contribution in a computation. */
#define REP_CUT_SOURCE      0x1
#define REP_CUT_KIND        0x2

/* A contribution during a computation. */
struct rep_contrib {
    double    points;
    unsigned  cut;              /* REP_CUT_* */
};

/* Explanation lines being built; NULL when only the score is wanted. */
struct rep_lines {
    struct xs_rep_line *v;          /* owned */
    size_t    n;
    size_t    cap;
};

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
const struct xs_rep_score *
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

int
xs_rep_trust_of_score(int score)
{
    if (score < -100)
        score = -100;
    if (score > 100)
        score = 100;
    return (score + 101) / 2;
}
