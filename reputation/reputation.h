/*
 * reputation.h: what other modules may ask of the reputation engine
 * (mod_reputation): scores from memory, and evidence from new sources.
 *
 * An evidence source (today: blocks, reports, subscriptions, replies,
 * rate limits and stream refusals, wired in sources.c; next: trust flags
 * on subscription requests, buddy incidents) builds a struct xs_evidence
 * and calls xs_reputation_submit(): the engine weighs and admits it, and
 * the module persists it.  Nothing here blocks or touches the database
 * on the caller's path.
 */
#ifndef XMPPD_REPUTATION_REPUTATION_H
#define XMPPD_REPUTATION_REPUTATION_H

#include "reputation/engine.h"
#include "xmppd/xml/jid.h"

#define XS_NS_REPUTATION  "urn:xmpp:reputation:0"
#define XS_NS_RAA         "urn:xmpp:raa:0"

/* The server's engine (borrowed), or NULL when mod_reputation is not
 * loaded (or not loaded yet). */
struct xs_rep *xs_reputation(void);

/* Score of a prepared bare JID or domain, now (memory only).  An
 * unknown subject, or no engine: score 0, XS_REP_UNKNOWN. */
struct xs_rep_score xs_reputation_score(const char *subject);

/* Submit live evidence (see xs_rep_submit): admitted items are queued for
 * PostgreSQL.  Whether the subject is local is decided from `hosts`.  The
 * outcome is logged at debug level and counted; a rate-limited item is
 * logged at info level with the source. */
enum xs_rep_admit xs_reputation_submit(const struct xs_evidence *ev);

/* Whether `asker` (the stanza's authenticated from) may query scores:
 * a local user, or a server (or user) of one of query_domains. */
bool xs_reputation_may_query(const struct xs_jid *asker);

#endif
