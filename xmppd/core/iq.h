/*
 * iq.h: IQ handlers registered by (namespace, element, get/set) and by
 * target: the server itself (to='domain') or an account on its owner's
 * behalf (to='user@domain' or no 'to').  An unhandled get or set is
 * answered with service-unavailable; results and errors are never bounced.
 */
#ifndef XMPPD_CORE_IQ_H
#define XMPPD_CORE_IQ_H

#include "xmppd/core/hooks.h"

enum xs_iq_type { XS_IQ_GET = 1u << 0, XS_IQ_SET = 1u << 1 };

enum xs_iq_target {
    XS_IQ_HOST    = 1u << 0,    /* to a hosted domain */
    XS_IQ_ACCOUNT = 1u << 1,    /* to a local bare JID (or no 'to') */
};

/*
 * Returns XS_HANDLED once a reply is queued (xs_router_reply), XS_BOUNCE
 * with ctx->err, or XS_STOLEN when it answers later (it then owns ctx->st).
 * payload is the IQ's child element, borrowed from ctx->st.
 */
typedef enum xs_verdict xs_iq_fn(struct xs_stanza_ctx *ctx,
    struct xs_elem *payload, void *mod_state);

struct xs_iq_spec {
    const char *ns;
    const char *name;
    unsigned    types;          /* XS_IQ_GET | XS_IQ_SET */
    unsigned    targets;        /* XS_IQ_HOST | XS_IQ_ACCOUNT */
    xs_iq_fn   *fn;             /* NULL terminates a spec table */
};

xs_rc xs_iq_add(const struct xs_iq_spec *spec, const struct xs_module *owner,
          void *mod_state);
void  xs_iq_remove_owner(const struct xs_module *owner);

/*
 * Dispatch an IQ get/set addressed to the server or to an account.
 * Returns XS_BOUNCE with service-unavailable when no handler matches.
 */
enum xs_verdict xs_iq_dispatch(struct xs_stanza_ctx *ctx,
                    enum xs_iq_target target);

#endif
