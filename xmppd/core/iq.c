/* iq.c: the IQ handler table. */
#include "xmppd/core/iq.h"

#include <string.h>

struct iq_handler {
    struct xs_iq_spec       spec;       /* strings borrowed from the module */
    void                   *mod_state;  /* borrowed */
    const struct xs_module *owner;      /* borrowed */
};

static struct iq_handler *handlers;     /* owned */
static size_t nhandlers;
/* iq_request.c's matcher, set when the first request goes out: through a
 * pointer so that code linking the dispatcher alone (unit tests) does not
 * pull in the router. */
static bool (*iq_answer_fn)(const struct xs_stanza_ctx *ctx);

void
xs_iq_set_answer_matcher(bool (*fn)(const struct xs_stanza_ctx *ctx))
{
    iq_answer_fn = fn;
}

xs_rc
xs_iq_add(const struct xs_iq_spec *spec, const struct xs_module *owner,
    void *mod_state)
{
    if (spec->fn == NULL || spec->ns == NULL || spec->name == NULL ||
        owner == NULL || spec->types == 0 || spec->targets == 0)
        return XS_EINVAL;
    for (size_t i = 0; i < nhandlers; i++) {
        const struct xs_iq_spec *o = &handlers[i].spec;

        if (strcmp(o->ns, spec->ns) == 0 && strcmp(o->name, spec->name) == 0 &&
            (o->types & spec->types) != 0 && (o->targets & spec->targets) != 0)
            return XS_EEXIST;           /* two owners for one IQ: a bug */
    }
    handlers = xs_reallocarray(handlers, nhandlers + 1, sizeof(*handlers));
    handlers[nhandlers++] = (struct iq_handler){
        .spec = *spec, .mod_state = mod_state, .owner = owner,
    };
    return XS_OK;
}

void
xs_iq_remove_owner(const struct xs_module *owner)
{
    size_t keep = 0;

    for (size_t i = 0; i < nhandlers; i++) {
        if (handlers[i].owner != owner)
            handlers[keep++] = handlers[i];
    }
    nhandlers = keep;
    if (nhandlers == 0) {
        xs_free(handlers);
        handlers = NULL;
    }
}

enum xs_verdict
xs_iq_dispatch(struct xs_stanza_ctx *ctx, enum xs_iq_target target)
{
    struct xs_elem *payload;
    unsigned type;

    if (xs_stanza_type_is(ctx->st, "get"))
        type = XS_IQ_GET;
    else if (xs_stanza_type_is(ctx->st, "set"))
        type = XS_IQ_SET;
    else {
        /* Results and errors to us: an answer to one of our requests,
         * or nothing anyone waits for. */
        if (iq_answer_fn != NULL)
            (void)iq_answer_fn(ctx);
        return XS_DROP;
    }

    /* RFC 6120 8.2.3: a get or set has exactly one payload child. */
    payload = xs_elem_first_elem(ctx->st->el);
    if (payload == NULL || xs_elem_next_elem(payload) != NULL) {
        ctx->err = XS_SERR_BAD_REQUEST;
        ctx->why = "iq get/set without exactly one child";
        return XS_BOUNCE;
    }
    for (size_t i = 0; i < nhandlers; i++) {
        const struct iq_handler *h = &handlers[i];

        if ((h->spec.types & type) == 0 || (h->spec.targets & target) == 0)
            continue;
        if (strcmp(h->spec.name, payload->name) != 0 ||
            strcmp(h->spec.ns, payload->ns) != 0)
            continue;
        return h->spec.fn(ctx, payload, h->mod_state);
    }
    ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
    ctx->why = "no handler for this iq";
    return XS_BOUNCE;
}
