/*
 * db/roster.h: rosters and subscription states in PostgreSQL (tables of
 * db/migrations/002_roster.sql), asynchronously on a pgq pool.
 *
 * One row per (account, contact).  Writes are absolute (the whole row as
 * the caller computed it) and one statement each: a row and the roster
 * version bump it causes commit together.  Callers serialize their writes
 * per account (pgq may run two queued statements on two connections).
 *
 * Every function follows the pgq contract: an error now and no callback
 * (XS_EINVAL, XS_ELIMIT), or XS_OK and exactly one callback later.
 */
#ifndef XMPPD_DB_ROSTER_H
#define XMPPD_DB_ROSTER_H

#include "db/pgq.h"

/* One row.  Strings are borrowed (in a load callback: valid during the
 * callback only). */
struct xs_roster_row {
    const char        *contact;         /* prepared bare JID */
    const char        *name;            /* "" when none */
    const char        *subscription;    /* none, to, from, both */
    bool               ask_out;
    bool               ask_in;
    const char        *ask_in_stanza;   /* NULL when none */
    bool               approved;
    bool               is_item;
    const char *const *groups;
    size_t             ngroups;
};

/*
 * Group names travel joined by this byte (U+001F, which XML cannot carry,
 * so no group name holds it; callers refuse control characters anyway).
 */
#define XS_ROSTER_DB_GROUP_SEP '\x1f'

/*
 * exists: the account exists.  version: the roster version (0 before the
 * first change).  rows[0..n-1]: every row of the account.
 */
typedef void xs_roster_db_load_cb(xs_rc rc, bool exists, int64_t version,
    const struct xs_roster_row *rows, size_t n, void *udata);

/*
 * rc XS_OK: stored says whether the row was written (false: the block
 * list refused it, or a delete found nothing); version is the new roster
 * version when the write bumped it, else 0.  XS_ENOTFOUND: the account
 * does not exist (any more).  XS_EIO: database failure.
 */
typedef void xs_roster_db_write_cb(xs_rc rc, bool stored, int64_t version,
    void *udata);

/* The whole roster of user@host, its version, and whether the account
 * exists: one query. */
xs_rc xs_roster_db_load(struct pgq *q, const char *user, const char *host,
    xs_roster_db_load_cb *cb, void *udata);

/*
 * Insert or replace a row.  bump: bump the roster version with it (the
 * owner sees the change).  block_forms[0..nforms-1] (nforms 0: no check):
 * the forms of the sender's JID (full, bare, domain, domain/resource);
 * the row is written only if none is on the owner's block list (XEP-0191),
 * in the same statement.
 */
xs_rc xs_roster_db_put(struct pgq *q, const char *user, const char *host,
    const struct xs_roster_row *row, bool bump,
    const char *const *block_forms, size_t nforms,
    xs_roster_db_write_cb *cb, void *udata);

/* Delete the row of contact; bump as for xs_roster_db_put. */
xs_rc xs_roster_db_delete(struct pgq *q, const char *user, const char *host,
    const char *contact, bool bump, xs_roster_db_write_cb *cb, void *udata);

#endif
