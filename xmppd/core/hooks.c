/* hooks.c: the hook chains and the notification lists. */
#include "xmppd/core/hooks.h"

#include <string.h>

struct hook {
    int                     prio;
    unsigned                kinds;
    xs_hook_fn             *fn;
    void                   *mod_state;  /* borrowed from the module */
    const struct xs_module *owner;      /* borrowed */
};

struct chain {
    struct hook *v;                     /* owned */
    size_t       n;
    size_t       cap;
};

struct listener {
    xs_event_fn            *fn;
    void                   *mod_state;  /* borrowed */
    const struct xs_module *owner;      /* borrowed */
};

static struct chain chains[XS_HOOK__COUNT];
static struct {
    struct listener *v;                 /* owned */
    size_t           n;
} listeners[XS_EV__COUNT];

xs_rc
xs_hook_add(const struct xs_hook_spec *spec, const struct xs_module *owner,
    void *mod_state)
{
    struct chain *c;
    size_t i;

    if (spec->point >= XS_HOOK__COUNT || spec->fn == NULL || owner == NULL)
        return XS_EINVAL;
    c = &chains[spec->point];

    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 8;

        c->v = xs_reallocarray(c->v, ncap, sizeof(c->v[0]));
        c->cap = ncap;
    }

    /* Stable insert: after every hook whose priority is >= ours. */
    for (i = 0; i < c->n && c->v[i].prio >= spec->prio; i++)
        continue;
    memmove(&c->v[i + 1], &c->v[i], (c->n - i) * sizeof(c->v[0]));
    c->v[i] = (struct hook){
        .prio = spec->prio, .kinds = spec->kinds, .fn = spec->fn,
        .mod_state = mod_state, .owner = owner,
    };
    c->n++;
    return XS_OK;
}

void
xs_hook_remove_owner(const struct xs_module *owner)
{
    for (size_t p = 0; p < XS_HOOK__COUNT; p++) {
        struct chain *c = &chains[p];
        size_t keep = 0;

        for (size_t i = 0; i < c->n; i++) {
            if (c->v[i].owner != owner)
                c->v[keep++] = c->v[i];
        }
        c->n = keep;
        if (c->n == 0) {
            xs_free(c->v);
            c->v = NULL;
            c->cap = 0;
        }
    }
}

enum xs_verdict
xs_hook_run(enum xs_hook_point pt, struct xs_stanza_ctx *ctx)
{
    const struct chain *c = &chains[pt];

    for (size_t i = 0; i < c->n; i++) {
        const struct hook *h = &c->v[i];
        enum xs_verdict v;

        if ((h->kinds & ctx->kind) == 0)
            continue;
        v = h->fn(ctx, h->mod_state);
        if (v != XS_PASS)
            return v;           /* first non-PASS verdict wins */
    }
    return XS_PASS;
}

xs_rc
xs_event_add(const struct xs_event_spec *spec, const struct xs_module *owner,
    void *mod_state)
{
    size_t n;

    if (spec->ev >= XS_EV__COUNT || spec->fn == NULL || owner == NULL)
        return XS_EINVAL;
    n = listeners[spec->ev].n;
    listeners[spec->ev].v = xs_reallocarray(listeners[spec->ev].v, n + 1,
        sizeof(struct listener));
    listeners[spec->ev].v[n] = (struct listener){
        .fn = spec->fn, .mod_state = mod_state, .owner = owner,
    };
    listeners[spec->ev].n = n + 1;
    return XS_OK;
}

void
xs_event_remove_owner(const struct xs_module *owner)
{
    for (size_t e = 0; e < XS_EV__COUNT; e++) {
        size_t keep = 0;

        for (size_t i = 0; i < listeners[e].n; i++) {
            if (listeners[e].v[i].owner != owner)
                listeners[e].v[keep++] = listeners[e].v[i];
        }
        listeners[e].n = keep;
        if (keep == 0) {
            xs_free(listeners[e].v);
            listeners[e].v = NULL;
        }
    }
}

void
xs_event_fire(enum xs_event ev, void *arg)
{
    xs_assert(ev < XS_EV__COUNT);
    for (size_t i = 0; i < listeners[ev].n; i++)
        listeners[ev].v[i].fn(ev, arg, listeners[ev].v[i].mod_state);
}
