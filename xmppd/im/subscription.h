/*
 * subscription.h: the presence subscription state machine of RFC 6121
 * (section 3 and the tables of Appendix A), with pre-approval (3.4).
 *
 * Pure functions over one roster item's state: no I/O, no memory.  The
 * roster module (roster.c) applies them to its items, writes the result
 * and then routes, delivers and pushes as the returned actions say.
 */
#ifndef XMPPD_IM_SUBSCRIPTION_H
#define XMPPD_IM_SUBSCRIPTION_H

#include "xmppd/im/roster.h"

enum xs_sub_type {
    XS_SUBT_SUBSCRIBE,
    XS_SUBT_SUBSCRIBED,
    XS_SUBT_UNSUBSCRIBE,
    XS_SUBT_UNSUBSCRIBED,
    XS_SUBT__COUNT
};

/* Seen from the roster owner: a stanza the owner sends (outbound) or one
 * sent to the owner (inbound). */
enum xs_sub_dir { XS_SUB_OUTBOUND, XS_SUB_INBOUND };

struct xs_sub_state {
    enum xs_sub sub;
    bool        ask_out;        /* Pending Out */
    bool        ask_in;         /* Pending In */
    bool        approved;       /* pre-approved (3.4) */
};

/* What the server does once the new state is committed. */
enum {
    XS_SUBA_CHANGED   = 1u << 0,  /* the state changed: write it */
    XS_SUBA_ROUTE     = 1u << 1,  /* outbound: route it to the contact */
    XS_SUBA_DELIVER   = 1u << 2,  /* inbound: deliver it to the owner */
    XS_SUBA_PUSH      = 1u << 3,  /* the item as the owner sees it changed */
    XS_SUBA_AUTOREPLY = 1u << 4,  /* inbound subscribe: answer 'subscribed'
                                     for the owner (already approved) */
    XS_SUBA_SEND_PRESENCE = 1u << 5,  /* the contact now has 'from': send
                                         it the owner's available presence */
    XS_SUBA_SEND_UNAVAILABLE = 1u << 6, /* the contact lost 'from': send it
                                           unavailable from the owner */
    XS_SUBA_PREAPPROVE = 1u << 7, /* outbound subscribed made a pre-approval */
    XS_SUBA_GAINED_TO = 1u << 8,  /* the owner now sees the contact */
    XS_SUBA_LOST_TO   = 1u << 9,  /* the owner no longer sees the contact */
};

/* "subscribe" -> XS_SUBT_SUBSCRIBE; false for any other type. */
bool xs_sub_type_parse(const char *type, enum xs_sub_type *out);
const char *xs_sub_type_name(enum xs_sub_type t);

/* "none", "to", "from", "both" (and back; false for anything else). */
const char *xs_sub_name(enum xs_sub s);
bool        xs_sub_parse(const char *name, enum xs_sub *out);

/*
 * Apply one subscription stanza to st (RFC 6121 Appendix A, A.2 for
 * outbound and A.3 for inbound, plus pre-approval when has_preapproval):
 * st is updated in place; the XS_SUBA_* actions are returned.  Routing
 * and delivery follow the tables' "route"/"deliver" columns: only a
 * state change goes on (3.1.3: an inbound subscribe the owner already
 * approved is answered with XS_SUBA_AUTOREPLY instead).
 */
unsigned xs_sub_apply(struct xs_sub_state *st, enum xs_sub_dir dir,
             enum xs_sub_type type, bool has_preapproval);

#endif
