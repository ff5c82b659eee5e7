/*
 * dsum.c: a domain's share of its JIDs' evidence (struct rep_dsum in
 * engine_int.h; engine.h says how it weighs).
 *
 * The domain's share of its JIDs' evidence is kept as they change (struct
 * rep_dsum), not summed over them at each computation: a flood of
 * requests from many accounts of one domain adds an item about a new JID
 * each, and a walk over the domain's JIDs per item made the flood cost
 * O(N^2).  A change to one JID makes its domain stale, and the domain's
 * computation costs O(kinds + its own items); its siblings recompute
 * (their own items) only if the domain's score moved.
 */
#include "reputation/engine_int.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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
void
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
void
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
double
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
