/*
 * walk.c: walks in slices over the table (engine.h): a bucket at a time
 * from a cursor that survives the table's growth (engine_int.h), for the
 * list walk behind reputation_list and the census behind /metrics, and
 * the counters.  The prune walks the same way (prune.c).
 */
#include "reputation/engine_int.h"

#include <stdint.h>
#include <string.h>

/* ---- walks in slices (engine.h) ---- */

/* What a walk does with each subject: returns the units it spent beyond
 * the subject's one and its computations.  It must not add or remove
 * subjects: the chain being walked would change under it. */
typedef size_t rep_visit_fn(struct xs_rep *r, struct rep_subj *s,
                    void *arg);

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
