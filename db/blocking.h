/*
 * blocking.h: XEP-0191 block lists and XEP-0377 reports in PostgreSQL,
 * asynchronously on a pgq pool (tables of 004_blocking.sql).
 *
 * Every function follows the pgq contract: it returns an error now and
 * never calls cb (XS_EINVAL for bad arguments, XS_ELIMIT when the pool's
 * queue is full), or returns XS_OK and calls cb exactly once, later, from
 * the event loop.  In callbacks, XS_EIO means a database failure (already
 * logged by pgq).  JIDs arrive prepared from the callers.
 */
#ifndef XMPPD_DB_BLOCKING_H
#define XMPPD_DB_BLOCKING_H

#include "db/pgq.h"

/* Rows per page when the whole table is read at start. */
#define XS_BLOCKLIST_PAGE 5000

/* One XEP-0377 report, as stored in spam_reports. */
struct xs_spam_report {
    char   *reported;       /* owned: prepared JID of the blocked item */
    char   *reason;         /* owned: "spam", "abuse" or the URI's tail */
    char   *reason_uri;     /* owned: e.g. urn:xmpp:reporting:spam */
    char   *text;           /* owned; NULL when none was given */
    char  **stanza_ids;     /* owned: XEP-0359 ids, nstanza_ids of them */
    size_t  nstanza_ids;
    const char *ns;         /* borrowed static: urn:xmpp:reporting:1 or :0 */
};

/* Frees the members, not r itself; NULL-safe. */
void xs_spam_report_fini(struct xs_spam_report *r);

/* One row of a page; the strings are borrowed from the result. */
struct xs_blocklist_row {
    const char *host;
    const char *username;
    const char *jid;
};

typedef void xs_blocklist_done_cb(xs_rc rc, void *udata);
/* rows[0..n-1] valid during the callback only; n < limit: the last page. */
typedef void xs_blocklist_page_cb(xs_rc rc,
    const struct xs_blocklist_row *rows, size_t n, void *udata);

/*
 * Rows after (host, username, jid) in key order, at most limit of them
 * (keyset paging: pass "" three times for the first page, then the last
 * row seen).  cb rc: XS_OK, XS_EIO.
 */
xs_rc xs_blocklist_load_page(struct pgq *q, const char *host,
    const char *username, const char *jid, size_t limit,
    xs_blocklist_page_cb *cb, void *udata);

/*
 * Block jids[0..njids-1] for username@host and store reports[0..nreports-1]
 * (reporter: the owner's bare JID) in ONE statement: all of it is
 * committed or none.  Items already blocked are left as they are.
 * cb rc: XS_OK, XS_EIO.
 */
xs_rc xs_blocklist_insert(struct pgq *q, const char *host,
    const char *username, const char *const *jids, size_t njids,
    const char *reporter, const struct xs_spam_report *reports,
    size_t nreports, xs_blocklist_done_cb *cb, void *udata);

/* Unblock jids (absent ones are ignored).  cb rc: XS_OK, XS_EIO. */
xs_rc xs_blocklist_delete(struct pgq *q, const char *host,
    const char *username, const char *const *jids, size_t njids,
    xs_blocklist_done_cb *cb, void *udata);

/* Empty the whole list of username@host.  cb rc: XS_OK, XS_EIO. */
xs_rc xs_blocklist_delete_all(struct pgq *q, const char *host,
    const char *username, xs_blocklist_done_cb *cb, void *udata);

#endif
