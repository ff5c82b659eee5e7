/*
 * crowd.c: a fixed set of logged-in sessions that an open-loop sender
 * drives round-robin (rep/evgen's blocks, trust/subflood's subscription
 * requests): log them in, hand what they receive to the scenario, count
 * the ones that drop and the errors they get, pick the next one still
 * bound.
 */
#include "tests/bench/loadgen.h"

#include <stdio.h>
#include <string.h>

static void
crowd_on_bound(struct lg_client *c)
{
    (void)c;
}

static void
crowd_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    struct lg_crowd *cr = c->udata;

    if (cr->on_stanza != NULL)
        cr->on_stanza(cr->udata, c, el);
}

static void
crowd_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct lg_crowd *cr = c->udata;

    (void)how;
    cr->dropped++;
    if (cr->first_drop[0] == '\0')
        snprintf(cr->first_drop, sizeof(cr->first_drop), "%s", why);
    cr->v[c->idx] = NULL;
    lg_client_free(c);
}

static const struct lg_client_ops crowd_ops = {
    .on_bound = crowd_on_bound,
    .on_stanza = crowd_on_stanza,
    .on_end = crowd_on_end,
};

xs_rc
lg_crowd_login(struct lg_crowd *cr, struct lg_ctx *ctx, unsigned n,
    lg_crowd_stanza_fn *on_stanza, void *udata, unsigned *failed)
{
    const struct lg_opts *o = ctx->opts;
    xs_rc rc;

    memset(cr, 0, sizeof(*cr));
    cr->ctx = ctx;
    cr->n = n;
    cr->on_stanza = on_stanza;
    cr->udata = udata;
    cr->v = xs_calloc(n, sizeof(*cr->v));
    *failed = 0;
    rc = lg_batch_login(ctx, n, o->user_first, o->concurrency, false, cr->v,
        NULL, failed);
    if (rc != XS_OK)
        return rc;
    for (unsigned i = 0; i < n; i++) {
        cr->v[i]->ops = &crowd_ops;
        cr->v[i]->udata = cr;
        cr->v[i]->idx = i;
    }
    return XS_OK;
}

struct lg_client *
lg_crowd_next(struct lg_crowd *cr)
{
    /* Skip dropped sessions, but never loop forever over none. */
    for (unsigned tries = 0; tries < cr->n; tries++) {
        struct lg_client *c = cr->v[cr->next];

        cr->next = (cr->next + 1) % cr->n;
        if (c != NULL && lg_client_is_bound(c))
            return c;
    }
    return NULL;
}

void
lg_crowd_close(struct lg_crowd *cr, double timeout_s)
{
    if (cr->v == NULL)
        return;
    lg_batch_close(cr->ctx, cr->v, cr->n, timeout_s);
    xs_free(cr->v);
    cr->v = NULL;
}

void
lg_crowd_error(struct lg_crowd *cr, const struct xs_elem *el)
{
    const struct xs_elem *e = xs_elem_child(el, NULL, "error");
    const struct xs_elem *cond = e != NULL ? xs_elem_first_elem(e) : NULL;

    cr->errors++;
    if (cr->first_err[0] == '\0')
        snprintf(cr->first_err, sizeof(cr->first_err), "%s",
            cond != NULL ? cond->name : "?");
}
