/*
 * blocking.h: what other modules may ask of the blocking module (XEP-0191
 * Blocking Command, with XEP-0377 reports attached to blocks).
 *
 * Every account's block list is in memory from start to exit (loaded
 * before the listeners open, kept in step with PostgreSQL on every
 * change), so these lookups never touch the database, never block, and
 * answer for offline owners too.
 *
 * Matching (XEP-0191 section 3.4, the XEP-0016 order): an item is a full
 * JID, a bare JID, domain/resource or a domain; a peer is blocked when
 * its full JID, its bare JID, domain/resource or its domain is an item.
 * A domain item therefore blocks the domain and every JID at it.  An
 * account never blocks itself: traffic between its own resources passes.
 */
#ifndef XMPPD_IM_BLOCKING_H
#define XMPPD_IM_BLOCKING_H

#include "xmppd/core/xs.h"
#include "xmppd/xml/elem.h"
#include "xmppd/xml/jid.h"
#include "xmppd/xml/stanza.h"

#define XS_NS_BLOCKING        "urn:xmpp:blocking"
#define XS_NS_BLOCKING_ERRORS "urn:xmpp:blocking:errors"
#define XS_NS_REPORTING       "urn:xmpp:reporting:1"
#define XS_NS_REPORTING_0     "urn:xmpp:reporting:0"   /* COMPAT: legacy */
#define XS_NS_SID             "urn:xmpp:sid:0"

/*
 * Whether the local account owner_bare (a prepared bare JID) blocks
 * other.  Use it wherever the server sends on the owner's behalf without
 * passing the owner's C2S_IN hook: the presence broadcast must skip every
 * contact for which this is true, and so must presence probes answered
 * for the owner.
 */
bool xs_blocking_blocks(const char *owner_bare, const struct xs_jid *other);

/* The same for a prepared JID string (a roster contact's bare JID, say);
 * false for a string that is not a JID. */
bool xs_blocking_blocks_str(const char *owner_bare, const char *other);

/* How many items owner_bare's block list holds (0 when none). */
size_t xs_blocking_count(const char *owner_bare);

/*
 * Observers of committed changes (the reputation engine, say), called
 * after the memory is updated and before the pushes go out.  jids are
 * the prepared items that changed (for an "unblock all", every item the
 * list held).  The blocking module itself already sends unavailable
 * presence to blocked contacts entitled to the owner's presence, and the
 * current presence on unblock (XEP-0191 3.2, 3.3).  Register from a
 * module's init, remove in its fini.
 */
typedef void xs_blocking_change_fn(const char *owner_bare, bool is_block,
    const char *const *jids, size_t njids, void *ud);

xs_rc xs_blocking_observe(xs_blocking_change_fn *fn, void *ud);
void  xs_blocking_unobserve(xs_blocking_change_fn *fn, void *ud);

/*
 * Observers of committed XEP-0377 reports: called once per report, after
 * the block that carries them is committed and after the change
 * observers.  reporter_bare is the local account that reported,
 * reported the prepared JID of the blocked item, reason "spam", "abuse"
 * or the last ':'-separated part of the reason URI.  Not called for a
 * block that failed, nor when the account was deleted meanwhile.  At
 * most a few observers (XS_ELIMIT); register from a module's init,
 * remove in its fini.
 */
typedef void xs_blocking_report_fn(const char *reporter_bare,
    const char *reported, const char *reason, void *ud);

xs_rc xs_blocking_report_observe(xs_blocking_report_fn *fn, void *ud);
void  xs_blocking_report_unobserve(xs_blocking_report_fn *fn, void *ud);

/* ---- Internal to the blocking module (blocking.c, report.c) and its
 * unit tests: these change memory only, never the database. ---- */

/* Add or remove one prepared item of owner_bare; XS_EEXIST/XS_ENOTFOUND
 * when there was nothing to do. */
xs_rc xs_blocking_mem_add(const char *owner_bare, const char *item);
xs_rc xs_blocking_mem_remove(const char *owner_bare, const char *item);
/* Forget owner_bare's items (unblock all, account deleted). */
void  xs_blocking_mem_clear(const char *owner_bare);
/* Forget everything (module unload, tests). */
void  xs_blocking_mem_reset(void);

/* Limits on one XEP-0377 report (mod_blocking options). */
struct xs_report_limits {
    size_t max_text;            /* bytes of <text/>, all of them */
    size_t max_stanza_ids;      /* <stanza-id/> children */
};

/* Longest reason URI and XEP-0359 id we keep, in bytes. */
#define XS_REPORT_URI_MAX 256
#define XS_REPORT_ID_MAX  256

struct xs_spam_report;

/*
 * The report attached to a block <item/> (urn:xmpp:reporting:1, or the
 * legacy urn:xmpp:reporting:0), for the item's prepared JID reported.
 * XS_ENOTFOUND: the item carries no report (out untouched).  XS_OK: out
 * is filled (the caller frees it with xs_spam_report_fini).  XS_EINVAL
 * or XS_ELIMIT: *err is the stanza error to answer (bad-request for a
 * malformed report, policy-violation over a limit) and *why a static
 * text for the client; out is untouched.
 */
xs_rc xs_blocking_report_parse(const struct xs_elem *item,
    const char *reported, const struct xs_report_limits *lim,
    struct xs_spam_report *out, enum xs_stanza_err *err, const char **why);

#endif
