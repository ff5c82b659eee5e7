/*
 * c2s_stream.h: the client stream protocol (RFC 6120) that session.c
 * feeds: stream headers, features, STARTTLS, SASL, resource binding, and
 * handing stanzas to the router.  Internal to xmppd/c2s/.
 */
#ifndef XMPPD_C2S_C2S_STREAM_H
#define XMPPD_C2S_C2S_STREAM_H

#include "xmppd/c2s/session.h"

/* Each takes ownership of el. */
void xs_c2s_on_open(struct xs_session *s, struct xs_elem *el);
void xs_c2s_on_elem(struct xs_session *s, struct xs_elem *el);
void xs_c2s_on_close(struct xs_session *s);

/* The stream header we send, for the client's stream (never NULL). */
char *xs_c2s_header(const struct xs_session *s);

#endif
