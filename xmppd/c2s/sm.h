/*
 * sm.h: the session manager: which client sessions are bound to which
 * JIDs, and the operator's view of them.
 */
#ifndef XMPPD_C2S_SM_H
#define XMPPD_C2S_SM_H

#include "xmppd/core/xs.h"

/* Number of bound (resource-bound) client sessions. */
size_t xs_sm_count(void);

/* Full JIDs of every bound session, sorted; the caller frees each string
 * and the array (xs_free). */
char **xs_sm_list(size_t *n);

/* Close every session of user@host with the stream error
 * <policy-violation/> and the text "kicked by an operator";
 * returns how many sessions were closed. */
size_t xs_sm_kick_user(const char *user, const char *host);

/* Close every session of user@host because the account is gone
 * (<not-authorized/>, RFC 6120 4.9.3.12); returns how many. */
size_t xs_sm_close_account(const char *user, const char *host);

/* Internal to xmppd/: binding and lookups for the router. */
struct xs_session;
struct xs_jid;

/* Index s under s->jid (full JID).  An older session with the same full
 * JID is closed with <conflict/> (RFC 6120 7.7.2.2). */
void xs_sm_bind(struct xs_session *s);
/* Remove s from the index; a no-op if it was never bound. */
void xs_sm_unbind(struct xs_session *s);
/* The bound session of a full JID, or NULL. */
struct xs_session *xs_sm_find(const struct xs_jid *full);
/* Bound sessions of a bare JID (borrowed array, valid until the next bind
 * or unbind); NULL and *n = 0 when none.  Do not send while walking it:
 * a send may close a session, which changes the array. */
struct xs_session *const *xs_sm_sessions(const char *bare, size_t *n);
/* The ids of those sessions, copied (xs_free the array; NULL when none):
 * for loops that send, looking each up with xs_session_by_id(). */
uint64_t *xs_sm_session_ids(const char *bare, size_t *n);

#endif
