/*
 * audit.h: the audit log in PostgreSQL (db/migrations/009_audit.sql):
 * entries written behind in batches, the two reads of the operator verbs
 * (the newest entries, one subject's entries), and pruning.
 *
 * Same contract as every db/ file: an error now and no callback
 * (XS_EINVAL, XS_ELIMIT, XS_EIO once the pool is closed), or XS_OK and
 * exactly one done callback later, from the event loop.  XS_EIO in a
 * callback is a database failure.
 */
#ifndef XMPPD_DB_AUDIT_H
#define XMPPD_DB_AUDIT_H

#include "db/batchq.h"
#include "db/pgq.h"

/* Bounds of what the table's CHECKs accept (XS_EINVAL beyond them).
 * Every text must also be valid UTF-8. */
#define XS_AUDIT_DB_TOKEN_MAX   64      /* bytes: kind, decision, reason,
                                           flag */
#define XS_AUDIT_DB_JID_MAX     3071    /* bytes: subject, recipient */
#define XS_AUDIT_DB_EXPL_MAX    32768   /* bytes of the compact JSON */

/* One entry.  For xs_audit_db_append, id is ignored and every pointer is
 * copied; in a read's row callback, everything is borrowed for the call. */
struct xs_audit_row {
    int64_t     id;
    int64_t     at;             /* wall seconds */
    const char *kind;           /* borrowed */
    const char *subject;        /* borrowed */
    const char *recipient;      /* borrowed, or NULL (none) */
    const char *decision;       /* borrowed */
    const char *reason;         /* borrowed */
    int         score;          /* -100..100, when has_score */
    int         domain_score;   /* -100..100, when has_domain_score */
    bool        has_score;
    bool        has_domain_score;
    const char *flag;           /* borrowed, or NULL (none) */
    const char *explanation;    /* borrowed: a JSON array's text; NULL
                                   appends "[]" */
};

/* ---- Entries, written behind ---- */

#define XS_AUDIT_DB_BATCH_MAX    1000   /* entries in one INSERT */
#define XS_AUDIT_DB_BATCH_BYTES  (4u << 20)     /* ... and at most about
                                                   this much text */
#define XS_AUDIT_DB_QUEUE_MAX    100000 /* entries waiting; more are
                                           dropped (and counted) while the
                                           database is down */
#define XS_AUDIT_DB_QUEUE_BYTES  (64u << 20)    /* ... and their text */
#define XS_AUDIT_DB_FLUSH_MS     500    /* at most one batch per interval,
                                           unless a full batch waits */

/*
 * Queue r for the next batch (copied).  Batches go out on pgq's
 * background lane, one at a time, as one INSERT ... SELECT FROM
 * unnest(...) statement; a failed batch is retried (kept at the head of
 * the queue) with the pool's backoff.  XS_ELIMIT when the queue is full
 * (the entry is dropped and counted).  Never blocks.  The explanation's
 * JSON is checked by PostgreSQL only: an entry it refuses is discarded
 * alone (and counted), never retried.
 */
xs_rc xs_audit_db_append(struct pgq *q, const struct xs_audit_row *r);
/* Send what waits now (the verbs, shutdown, tests), not waiting for the
 * timer. */
void  xs_audit_db_flush_soon(struct pgq *q);

/* Every entry accepted before a moment when queued_total was T is out of
 * the queue (committed or discarded) once appended + discarded >= T. */
void  xs_audit_db_stats(const struct pgq *q, struct pgq_batchq_stats *out);

/* ---- Reads and pruning ---- */

#define XS_AUDIT_DB_READ_MAX    1000    /* rows in one read, at most */
#define XS_AUDIT_DB_PAGE        10000   /* rows one prune statement deletes */

typedef void xs_audit_db_done_cb(xs_rc rc, void *udata);
typedef void xs_audit_db_row_fn(const struct xs_audit_row *r, void *udata);

/*
 * The n (1..XS_AUDIT_DB_READ_MAX) newest committed entries, newest first
 * (at, then id, descending), only those of kind when kind is not NULL:
 * row once per entry, then done once (XS_OK when every row came back
 * well-formed; no row is called after a malformed one).
 */
xs_rc xs_audit_db_tail(struct pgq *q, size_t n, const char *kind,
    xs_audit_db_row_fn *row, xs_audit_db_done_cb *done, void *udata);
/* The same for the entries about subject (exactly as recorded). */
xs_rc xs_audit_db_by_subject(struct pgq *q, const char *subject, size_t n,
    xs_audit_db_row_fn *row, xs_audit_db_done_cb *done, void *udata);

/*
 * Delete the entries recorded before `before` (wall seconds): past the
 * retention.  In chunks of XS_AUDIT_DB_PAGE rows, one statement each, so
 * no statement holds a connection long; done once at the end, with the
 * number of rows deleted (those of the chunks that committed).
 */
typedef void xs_audit_db_pruned_cb(xs_rc rc, uint64_t deleted, void *udata);
xs_rc xs_audit_db_prune(struct pgq *q, int64_t before,
    xs_audit_db_pruned_cb *done, void *udata);

#endif
