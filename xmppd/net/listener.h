/* listener.h: the c2s listening sockets of the configuration. */
#ifndef XMPPD_NET_LISTENER_H
#define XMPPD_NET_LISTENER_H

#include "xmppd/core/server.h"

/* Bind every c2s listener; one clear log line and XS_EIO if one fails. */
xs_rc xs_listeners_start(struct xs_server *srv);
/* Stop accepting (at shutdown, before streams are closed). */
void  xs_listeners_stop(void);

#endif
