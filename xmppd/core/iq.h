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

/*
 * Server-originated requests (iq_request.c): the server asks another
 * entity (a peer server's key discovery, say) and gets the answer back.
 * The request goes out through the router from `from` (one of our
 * domains) with a fresh random id; the answer is the result or error
 * whose id matches, from the entity asked (`to`), to `from`.  cb runs
 * exactly once, later, from the loop: XS_OK with the result, XS_EIO with
 * the error stanza, or XS_ETIMEOUT (answer NULL) when nothing matching
 * came within timeout_ms (an unroutable request bounces back as an error
 * or times out).  payload is taken.  *handle (may be NULL) names the
 * request for xs_iq_request_cancel.
 */
typedef void xs_iq_answer_fn(xs_rc rc, const struct xs_stanza *answer,
    void *ud);
xs_rc xs_iq_request(const char *from, const char *to, const char *type,
          struct xs_elem *payload, uint64_t timeout_ms, xs_iq_answer_fn *cb,
          void *ud, uint64_t *handle);
/* The request's cb will not run (its owner is going away). */
void  xs_iq_request_cancel(uint64_t handle);
/* For results and errors to a host (xs_iq_dispatch, once a request was
 * made): true when the stanza answered one of our requests (cb ran). */
bool  xs_iq_request_answer(const struct xs_stanza_ctx *ctx);
void  xs_iq_set_answer_matcher(bool (*fn)(const struct xs_stanza_ctx *ctx));
/* Requests still waiting (metrics, tests). */
size_t xs_iq_requests_pending(void);
/* At exit, after the modules unloaded: forget the rest, no callbacks. */
void   xs_iq_requests_free(void);

#endif
