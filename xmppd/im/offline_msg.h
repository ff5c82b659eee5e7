/*
 * offline_msg.h: the message rules of the offline module (xmppd/im/offline.c,
 * XEP-0160 storage with XEP-0203 delays).
 */
#ifndef XMPPD_IM_OFFLINE_MSG_H
#define XMPPD_IM_OFFLINE_MSG_H

#include "xmppd/core/xs.h"
#include "xmppd/xml/elem.h"
#include "xmppd/xml/stanza.h"

#define XS_NS_DELAY      "urn:xmpp:delay"
#define XS_NS_HINTS      "urn:xmpp:hints"
#define XS_NS_CHATSTATES "http://jabber.org/protocol/chatstates"

/* What to do with a chat or normal message for an offline account. */
enum xs_offline_class {
    XS_OFFLINE_KEEP,        /* store it */
    XS_OFFLINE_REFUSE,      /* <no-store/> hint: not stored, and the sender
                               learns it (service-unavailable) */
    XS_OFFLINE_DISCARD,     /* nothing worth keeping (a chat state alone,
                               an empty message): dropped silently */
};

/*
 * XEP-0334 hints first: <store/> keeps, <no-store/> refuses
 * (<no-permanent-store/> allows temporary storage, which offline storage
 * is).  Otherwise a message is kept when it carries anything besides chat
 * states (XEP-0085), delays, hints, legacy message events and <thread/>:
 * a <body/>, a <subject/>, a receipt, an encrypted payload...
 */
enum xs_offline_class xs_offline_classify(const struct xs_elem *msg);

/*
 * Add <delay xmlns='urn:xmpp:delay' from='domain' stamp='...'>Offline
 * Storage</delay> (XEP-0203, XEP-0160 section 3) stamped wall_s (UTC,
 * XEP-0082), unless msg already has a delay from domain (the first delay
 * by our server is the one that counts).  Returns whether it added one.
 */
bool xs_offline_add_delay(struct xs_elem *msg, const char *domain,
         int64_t wall_s);

/* A stored message text back into a stanza (XS_EINVAL if it is not one
 * <message/> element). */
xs_rc xs_offline_parse(const char *text, size_t len, struct xs_stanza **out);

#endif
