/*
 * reputation.h: the reputation engine's durable state in PostgreSQL
 * (db/migrations/008_reputation.sql): evidence items, appended in
 * batches; operator pins; and the reads that rebuild the engine's memory
 * at start (accounts with their activity and mutual contacts, evidence
 * inside the horizon, pins).
 *
 * Same contract as every db/ file: an error now and no callback
 * (XS_EINVAL, XS_ELIMIT), or XS_OK and exactly one callback later, from
 * the event loop.  XS_EIO in a callback is a database failure.
 */
#ifndef XMPPD_DB_REPUTATION_H
#define XMPPD_DB_REPUTATION_H

#include "db/activity.h"
#include "db/batchq.h"
#include "db/pgq.h"
#include "reputation/evidence.h"

typedef void xs_rep_db_done_cb(xs_rc rc, void *udata);

/* Bounds of what the table's CHECKs accept (XS_EINVAL beyond them).
 * Every text must also be valid UTF-8. */
#define XS_REP_DB_TEXT_MAX    3071  /* bytes: subject, source, set_by */
#define XS_REP_DB_NOTE_MAX    1024  /* bytes: a note, a pin's reason */

/* ---- Evidence, written behind ---- */

#define XS_REP_DB_BATCH_MAX   5000  /* items in one INSERT */
#define XS_REP_DB_QUEUE_MAX   200000 /* items waiting; more are dropped
                                        (and counted) while the database
                                        is down */
#define XS_REP_DB_FLUSH_MS    500   /* at most one batch per interval,
                                       unless a full batch waits */

/*
 * Queue ev for the next batch (copied).  Batches go out on pgq's
 * background lane, one at a time, as one INSERT ... SELECT FROM
 * unnest($1::text[], ...) statement; a failed batch is retried (kept at
 * the head of the queue) with the pool's backoff.  XS_ELIMIT when the
 * queue is full (the item is dropped and counted).  Never blocks.
 */
xs_rc xs_rep_db_append(struct pgq *q, const struct xs_evidence *ev);
/* Delete user items (subject, kind, source): an unblock.  Written behind
 * too, after every append queued before it. */
xs_rc xs_rep_db_retract(struct pgq *q, const char *subject,
    enum xs_evk kind, const char *source);
/* Send what waits now (tests, shutdown), not waiting for the timer. */
void  xs_rep_db_flush_soon(struct pgq *q);

/* The queue's counters (db/batchq.h; appended counts appends only). */
void  xs_rep_db_stats(const struct pgq *q, struct pgq_batchq_stats *out);

/*
 * Delete evidence recorded before `before` (wall seconds): what is past
 * the horizon.  In chunks of XS_REP_DB_PAGE rows, one statement each, so
 * no statement holds a connection long; done once at the end.
 */
xs_rc xs_rep_db_prune(struct pgq *q, int64_t before, xs_rep_db_done_cb *done,
    void *udata);

/* ---- Pins ---- */

/* Insert or replace subject's pin; expires 0: never.  Committed before
 * the callback. */
xs_rc xs_rep_db_pin_set(struct pgq *q, const char *subject, int score,
    const char *reason, int64_t expires, const char *set_by, int64_t set_at,
    xs_rep_db_done_cb *cb, void *udata);
/* XS_ENOTFOUND in the callback when there was none. */
xs_rc xs_rep_db_pin_clear(struct pgq *q, const char *subject,
    xs_rep_db_done_cb *cb, void *udata);

/* ---- Loads at start (pages of XS_REP_DB_PAGE rows, keyset order) ---- */

#define XS_REP_DB_PAGE 10000

/* One local account as the engine needs it. */
struct xs_rep_db_account {
    const char *bare;           /* user@host */
    int64_t     created_at;
    uint64_t    counts[XS_ACT__COUNT];
    uint32_t    days_active;
    uint32_t    mutual;         /* roster items with subscription both */
};

/*
 * The loads call row once per row (borrowed for the call), then done once
 * (rc XS_OK when every page came back).  Every load pages through the
 * table with separate queries, so no statement holds a connection long.
 */
typedef void xs_rep_db_account_fn(const struct xs_rep_db_account *a,
    void *udata);
typedef void xs_rep_db_evidence_fn(const struct xs_evidence *ev,
    void *udata);
typedef void xs_rep_db_pin_fn(const char *subject, int score,
    const char *reason, int64_t expires, const char *set_by, int64_t set_at,
    void *udata);

/* Every account of every host in hosts[0..nhosts). */
xs_rc xs_rep_db_load_accounts(struct pgq *q, const char *const *hosts,
    size_t nhosts, xs_rep_db_account_fn *row, xs_rep_db_done_cb *done,
    void *udata);
/* Evidence recorded at or after since (wall seconds), oldest first. */
xs_rc xs_rep_db_load_evidence(struct pgq *q, int64_t since,
    xs_rep_db_evidence_fn *row, xs_rep_db_done_cb *done, void *udata);
/* Pins that have not expired at now (expired ones are deleted). */
xs_rc xs_rep_db_load_pins(struct pgq *q, int64_t now, xs_rep_db_pin_fn *row,
    xs_rep_db_done_cb *done, void *udata);

/* One account's fresh row (an account created at run time, or an
 * operator's query that wants the stored activity); XS_ENOTFOUND in done
 * when there is no such account (row is not called). */
xs_rc xs_rep_db_load_account(struct pgq *q, const char *user,
    const char *host, xs_rep_db_account_fn *row, xs_rep_db_done_cb *done,
    void *udata);

#endif
