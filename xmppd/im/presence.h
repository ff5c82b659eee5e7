/*
 * presence.h: what the subscription code asks of the presence module
 * (RFC 6121 3.1.5, 3.2.2, 3.3.3: presence follows a subscription change).
 * Both read memory only and route through the router (hooks apply).
 */
#ifndef XMPPD_IM_PRESENCE_H
#define XMPPD_IM_PRESENCE_H

#include "xmppd/core/xs.h"

/* Route the last presence of each available resource of owner_bare to
 * contact (a JID); nothing when the owner has none. */
void xs_presence_send_current(const char *owner_bare, const char *contact);

/* Route unavailable presence from each available resource of owner_bare
 * to contact. */
void xs_presence_send_unavailable(const char *owner_bare,
         const char *contact);

#endif
