/*
 * prune.c: the prune, in slices (engine.h): items decayed to nothing or
 * past the horizon, expired pins, reporting windows past their hour, and
 * the subjects left with nothing, a bucket at a time (walks, walk.c).
 */
#include "reputation/engine_int.h"

#include <math.h>
#include <stdint.h>

#define REP_PRUNE_POINTS    0.05    /* |contribution| below: forgotten */

/* Units of budget (engine.h) a prune step spends per item it weighs,
 * beyond its subject's one: an exp2 and a compare, in the item array the
 * subject's visit already brought in.  Measured with
 * tests/bench/rep/score (prune slices). */
#define REP_PRUNE_ITEMS_PER_UNIT    4

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
