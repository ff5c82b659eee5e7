/*
 * router.h: where every stanza is routed, and where the hook chains run.
 *
 *   from a client: C2S_IN -> ROUTE -> (server | account | remote)
 *   to an account: DELIVER -> session(s) per RFC 6121 section 8.5
 *   to a client:   C2S_OUT (in xs_session_send)
 *
 * Verdicts other than PASS end a chain; the router then frees the stanza
 * (HANDLED, DROP), bounces an error built from ctx->err (BOUNCE), or
 * forgets it (STOLEN).  The routed-message path touches no database.
 */
#ifndef XMPPD_ROUTER_H
#define XMPPD_ROUTER_H

#include "xmppd/core/hooks.h"

struct xs_session;

/*
 * A stanza from a bound client session: 'from' already stamped with the
 * session's full JID.  to is the parsed 'to' (owned; NULL when absent).
 * Takes ownership of st and to.
 */
void xs_router_from_client(struct xs_session *s, struct xs_stanza *st,
         struct xs_jid *to);

/*
 * A stanza from a remote server, on an s2s stream that authenticated
 * from->domain: runs XS_HOOK_S2S_IN, then routes as for a local sender
 * (ctx->origin NULL).  Takes ownership of st, from and to.
 */
void xs_router_from_remote(struct xs_stanza *st, struct xs_jid *from,
         struct xs_jid *to);

/*
 * A stanza the server or a module originates (or an error reply): 'from'
 * and 'to' attributes must be set and valid.  Takes ownership of st.
 */
void xs_router_route(struct xs_stanza *st);

/* Send reply (a result or error for ctx->st) back to ctx->from; takes
 * ownership of reply.  For IQ handlers. */
void xs_router_reply(struct xs_stanza_ctx *ctx, struct xs_stanza *reply);

/* Apply a verdict to ctx->st: what the dispatcher does after a chain. */
void xs_router_finish(struct xs_stanza_ctx *ctx, enum xs_verdict v);

/* Stanzas routed, by what happened to them (for status and metrics). */
struct xs_router_stats {
    uint64_t routed;
    uint64_t delivered;
    uint64_t dropped;
    uint64_t bounced;
};
const struct xs_router_stats *xs_router_stats(void);

#endif
