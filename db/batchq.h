/*
 * batchq.h: a write-behind queue on pgq, for rows nobody waits for
 * (reputation evidence, audit entries).
 *
 * Adding an item only copies it into a per-pool FIFO (a pgq extension,
 * one per store, keyed by the store's static definition); a batch from
 * the head goes out as ONE statement, built by the store, on pgq's
 * background lane, one batch in flight at a time and at most one batch
 * per flush_ms: at once when a full batch waits (batch_max items or
 * batch_bytes), after a quiet interval (a lone item is written at once),
 * or when flush_soon asks.  The caller never waits for the database,
 * ingestion costs one statement and one commit per batch, never one per
 * item, and never fills the queue that interactive requests wait in.
 *
 * A batch leaves the queue only when it committed: a failed one stays at
 * the head and goes out again after an interval (the pool reconnects by
 * itself), while new items queue behind it up to queue_max items (and
 * queue_bytes, when the store sets it: items that vary in size are not
 * bounded by a count alone); beyond that, add refuses with XS_ELIMIT and
 * counts the item as dropped.  A batch PostgreSQL refuses for its data
 * (SQLSTATE classes 22, 23, 54) would fail forever and block everything
 * behind it: it is halved until the bad item is alone, and that one item
 * is discarded (and counted); the good ones before it commit on the way.
 *
 * A batch that committed but whose answer was lost with the connection
 * is sent again: its items are then stored twice.  Stores must tolerate
 * that (or say what it means for them).
 *
 * pgq_close: the batch in flight fails (and stays), the next send finds
 * the pool closed, and from then on add returns XS_EIO; what was not
 * written is logged and released by pgq_free.  pgq_free frees the queue
 * (releasing every item) whatever state it is in.
 *
 * Not thread-safe, like pgq: everything runs on the pool's loop.
 */
#ifndef XMPPD_DB_BATCHQ_H
#define XMPPD_DB_BATCHQ_H

#include "db/pgarray.h"
#include "db/pgq.h"

#define PGQ_BATCHQ_MAX_COLS 16  /* array parameters of one statement */

/* A store's queue on one pool; opaque. */
struct pgq_batchq;

/* Fill item (item_size zeroed bytes in the ring) with a copy of src, the
 * pointer handed to pgq_batchq_add. */
typedef void pgq_batchq_copy_fn(void *item, const void *src);
/* Free what copy allocated (the slot itself belongs to the queue). */
typedef void pgq_batchq_release_fn(void *item);
/*
 * The statement for the k (>= 1) items at the head, read with
 * pgq_batchq_at(bq, 0 .. k-1): add elements to cols[0 ..) (zeroed,
 * PGQ_BATCHQ_MAX_COLS of them), set *ncols to the number of parameters
 * ($1 = cols[0], ...), return the SQL text (static).  The queue ends and
 * frees the arrays.
 */
typedef const char *pgq_batchq_build_fn(const struct pgq_batchq *bq,
    size_t k, struct pgq_array *cols, int *ncols);
/* Whether a committed item counts in stats.appended. */
typedef bool pgq_batchq_counts_fn(const void *item);
/* Log the item PostgreSQL refused (res: the error), before it is
 * discarded. */
typedef void pgq_batchq_refused_fn(const void *item, const PGresult *res);

/* What a store supplies: a static const object, whose address names its
 * queue on every pool. */
struct pgq_batchq_def {
    const char *name;           /* logs: "audit db" */
    const char *items;          /* logs, plural: "audit entries" */
    size_t      item_size;      /* bytes of the store's item struct */
    size_t      batch_max;      /* items in one statement, at most */
    size_t      batch_bytes;    /* ... and about this many bytes (at least
                                   one item, however large); 0: no bound */
    size_t      queue_max;      /* items waiting, at most */
    size_t      queue_bytes;    /* ... and their bytes; 0: no bound */
    uint64_t    flush_ms;       /* at most one batch per interval, unless
                                   a full batch waits */
    pgq_batchq_copy_fn    *copy;
    pgq_batchq_release_fn *release;     /* NULL: nothing to free */
    pgq_batchq_build_fn   *build;
    pgq_batchq_counts_fn  *counts;      /* NULL: every item counts */
    pgq_batchq_refused_fn *refused;     /* NULL: a generic line */
};

struct pgq_batchq_stats {
    uint64_t queued_total;  /* items ever accepted by add */
    uint64_t appended;      /* items committed (those that count) */
    uint64_t batches;       /* statements committed */
    uint64_t dropped;       /* refused: queue full */
    uint64_t retries;       /* batches failed and retried */
    uint64_t discarded;     /* items PostgreSQL refused for their data */
    size_t   queued;        /* waiting now (including a batch in flight) */
    size_t   queued_bytes;
};

/*
 * Queue a copy of src (def->copy) that weighs bytes (for the byte
 * bounds; any measure of the copy's size).  XS_EINVAL for a bad
 * argument, XS_ELIMIT when the queue is full (dropped and counted),
 * XS_EIO once the pool was found closed, XS_ENOMEM when the queue could
 * not be made (its timer); XS_OK otherwise.  Never blocks; may send a
 * batch before it returns (never calls a callback).
 */
xs_rc pgq_batchq_add(struct pgq *q, const struct pgq_batchq_def *def,
    const void *src, size_t bytes);
/* Send what waits now (tests, shutdown, an operator's read), not waiting
 * for the interval. */
void  pgq_batchq_flush_soon(struct pgq *q, const struct pgq_batchq_def *def);
/* Zeros when q has no queue of def. */
void  pgq_batchq_stats(const struct pgq *q, const struct pgq_batchq_def *def,
    struct pgq_batchq_stats *out);

/* For build and friends: the i-th item from the head (i < queued). */
const void *pgq_batchq_at(const struct pgq_batchq *bq, size_t i);

#endif
