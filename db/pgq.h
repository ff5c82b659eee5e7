/*
 * pgq.h: the asynchronous PostgreSQL client.
 *
 * A pool of connections driven by non-blocking libpq on one event_base.
 * Each connection runs one command at a time; a request goes to any idle
 * connection, or waits in a bounded FIFO.  Lost connections come back by
 * themselves (exponential backoff, 100 ms doubling to 5 s); nothing here
 * ever blocks the loop, with one caveat: libpq resolves host names with
 * getaddrinfo(), so point `host` at a unix socket directory or an IP
 * address (or add `hostaddr`) in production; pgq_new() warns otherwise.
 *
 * The callback contract, for every function that takes a pgq_cb:
 *   - it either returns an error now and never calls cb, or returns XS_OK
 *     and calls cb exactly once, later, from the event loop (never from
 *     inside the call that queued it);
 *   - rc == XS_OK: res is the PGRES_COMMAND_OK or PGRES_TUPLES_OK result;
 *   - rc == XS_EEXIST: a unique violation (SQLSTATE 23505), res is the
 *     error result;
 *   - rc == XS_EIO with res != NULL: the statement failed (res holds the
 *     error, PQresultErrorField() gives the SQLSTATE);
 *   - rc == XS_EIO with res == NULL: the connection broke while the
 *     request was in flight (it may or may not have been committed), or it
 *     waited longer than the wait timeout while no connection was up.
 * res is borrowed and valid only during the callback.
 *
 * Shutdown, and who frees a udata: pgq_close runs every pending callback
 * with XS_EIO and res NULL, so the callback's usual path releases udata.
 * pgq_free drops whatever is still pending WITHOUT calling callbacks; a
 * request queued with pgq_query_rel has its release(udata) called then
 * instead, once, so a layer above needs no list of its own to free what
 * it handed to pgq.  A request that was completed, refused or failed
 * through its callback never sees its release function.
 *
 * Prepared statements, transparently: each connection remembers the texts
 * it has prepared (up to PGQ_STMT_CACHE of them, named "s<N>").  A query
 * whose text the connection knows runs with PQsendQueryPrepared (no parse
 * or plan on the server); an unknown text goes out as Prepare + Execute +
 * Sync in one pipeline (one round trip).  When the cache is full the least
 * recently used text (clock) is evicted and DEALLOCATEd in the same round
 * trip, so the server never holds more than PGQ_STMT_CACHE statements per
 * connection.  A reconnect starts with an empty cache.  A prepared
 * statement the server no longer knows (26000, e.g. after DISCARD ALL) or
 * whose result type changed with the schema (0A000, "cached plan must not
 * change result type") is prepared again and retried once, transparently:
 * both errors are raised before anything runs.
 */
#ifndef XMPPD_DB_PGQ_H
#define XMPPD_DB_PGQ_H

#include "xmppd/core/xs.h"

#include <event2/event.h>
#include <libpq-fe.h>

#define PGQ_MAX_PARAMS 64
#define PGQ_STMT_CACHE 128     /* prepared statements per connection */

/* Defaults, changed with pgq_set_timeouts(). */
#define PGQ_WAIT_TIMEOUT_MS    5000u   /* queued while no connection is up */
#define PGQ_CONNECT_TIMEOUT_MS 10000u  /* one connection attempt */

struct pgq;

typedef void pgq_cb(xs_rc rc, const PGresult *res, void *udata);

/* Frees a udata that pgq_free drops with its request (pgq_query_rel). */
typedef void pgq_release_fn(void *udata);

struct pgq_stats {
    uint64_t queries;       /* requests completed with a result (any rc) */
    uint64_t errors;        /* of those, statements that failed */
    uint64_t failed_io;     /* requests failed with no result (lost conn) */
    uint64_t timeouts;      /* of those, waited too long with no conn up */
    uint64_t rejected;      /* refused with XS_ELIMIT (queue full) */
    uint64_t reconnects;    /* connections re-established after a loss */
    uint64_t latency_ms_sum;    /* queued to completed, completed requests */
    uint64_t latency_ms_max;
    uint64_t prepares;      /* statements prepared (cache misses) */
    uint64_t executes_prepared;     /* queries run as prepared statements */
    uint64_t stmt_evictions;        /* statements DEALLOCATEd for room */
    uint64_t stmt_retries;  /* re-prepared after 26000 / 0A000 */
    uint64_t bg_rejected;   /* pgq_query_bg refused (its lane is full) */
    size_t   waiting;       /* in the FIFO now */
    size_t   bg_waiting;    /* in the background lane now */
    size_t   in_flight;     /* sent, not completed */
    size_t   conns_up;
    size_t   pool_size;
};

/*
 * A pool of pool_size (1..64) connections on base, made with conninfo (a
 * libpq "key=value" string or a postgresql:// URI; it may hold a password:
 * it is never logged).  At most max_waiting requests wait for a free
 * connection; more get XS_ELIMIT.  The first connections are started from
 * the loop: the pool is usable at once, requests wait until a connection
 * is up.  XS_EINVAL for a conninfo libpq cannot parse.
 */
xs_rc pgq_new(struct event_base *base, const char *conninfo, int pool_size,
    size_t max_waiting, struct pgq **out);

/*
 * Closes every connection and frees every request WITHOUT calling its
 * callback (in practice pgq_free runs at shutdown, after the loop
 * stopped).  For each request queued with pgq_query_rel it calls
 * release(udata) first, before any extension's free_fn (a udata may still
 * use its layer's per-pool state); a release function must not call pgq
 * (every request is refused with XS_EIO by then).  Callers that used the
 * other functions and own a udata must release it themselves.  Must not be
 * called from inside a pgq callback (asserted).  pgq_free(NULL) is a no-op.
 */
void pgq_free(struct pgq *q);

/*
 * At shutdown, before the state the callbacks use is freed: every pending
 * request's callback runs now, from inside this call, with XS_EIO and res
 * NULL (so callers release their udata), the connections close, and every
 * later request is refused with XS_EIO.  What was already sent may or may
 * not have committed.  Then pgq_free().
 */
void pgq_close(struct pgq *q);

/*
 * wait_ms: how long a request may wait while NO connection is up before it
 * fails with XS_EIO (requests waiting for a busy but live pool are never
 * timed out).  connect_ms: a connection attempt that takes longer is
 * abandoned and retried.  0 keeps the current value.
 */
void pgq_set_timeouts(struct pgq *q, uint64_t wait_ms, uint64_t connect_ms);

/*
 * One statement with text parameters $1..$n (nparams <= PGQ_MAX_PARAMS; a
 * NULL entry is SQL NULL).  sql and params are copied.  Results come back
 * in text format.  Returns XS_EINVAL (bad arguments) or XS_ELIMIT (the
 * queue is full), with no callback, or XS_OK and the callback later.
 */
xs_rc pgq_query(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, void *udata);

/*
 * pgq_query whose udata pgq_free releases with release(udata) when it
 * drops the request without its callback (see pgq_free).  Same arguments
 * and contract otherwise; release may be NULL (then it is pgq_query).
 * When it returns an error, release is not called: udata stays the
 * caller's.  For stores whose udata is a request state of their own.
 */
xs_rc pgq_query_rel(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, pgq_release_fn *release,
    void *udata);

/*
 * pgq_query for work nobody waits for (write-behind batches): same
 * arguments and contract, but a separate lane.  Background requests wait
 * in their own FIFO (at most max_waiting of them, then XS_ELIMIT) and at
 * most one of them is in flight at a time: they never make pgq_query
 * refuse a request and never hold more than one connection.  One is sent
 * when no pgq_query request is waiting, or ahead of them once it has
 * waited a second (a sustained load delays background work, it does not
 * starve it).  Use it for batches, not one request per event.
 */
xs_rc pgq_query_bg(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, void *udata);

/*
 * Several statements separated by ';', without parameters, sent in one
 * round trip (PQsendQuery) and run by PostgreSQL as one implicit
 * transaction: all of them or none.  The script must not hold BEGIN or
 * COMMIT.  The callback gets the first error, or else the result of the
 * last statement.  For compiled-in SQL only (migrations): never put a
 * value from outside into the text.  Same return contract as pgq_query.
 */
xs_rc pgq_script(struct pgq *q, const char *sql, pgq_cb *cb, void *udata);

/* The loop the pool runs on, for timers of the layers above. */
struct event_base *pgq_base(const struct pgq *q);

/*
 * Per-pool state of a layer above pgq (db/accounts' last-login batch): up
 * to PGQ_MAX_EXT keys (the address of a static object of that layer).
 * pgq_free calls free_fn(data) right after the release functions of the
 * requests it drops, before it closes anything; free_fn must free its own
 * events and must not call pgq (requests it queued are dropped by
 * pgq_free without callbacks, as always).  Not needed just to free the
 * udata of requests in flight: pgq_query_rel does that.  pgq_ext_set
 * returns XS_ELIMIT when every slot is taken; data NULL removes the key
 * (free_fn not called).  pgq_ext_get returns NULL for an unknown key.
 */
#define PGQ_MAX_EXT 8
typedef void pgq_ext_free_fn(void *data);
xs_rc pgq_ext_set(struct pgq *q, const void *key, void *data,
    pgq_ext_free_fn *free_fn);
void *pgq_ext_get(const struct pgq *q, const void *key);

/* True when at least one connection is up. */
bool pgq_is_ready(const struct pgq *q);

/* A snapshot of the counters, for /metrics and xmppctl stats. */
void pgq_stats(const struct pgq *q, struct pgq_stats *out);

/*
 * Helpers for callbacks.  pgq_sqlstate: the five-character SQLSTATE of an
 * error result, "" for NULL or a result without one.
 */
const char *pgq_sqlstate(const PGresult *res);
/* A text-format integer column value: false unless all of s is one. */
bool pgq_text_int64(const char *s, int64_t *out);
/* pgq_text_int64 of a cell of res: false when it is NULL or not one. */
bool pgq_get_int64(const PGresult *res, int row, int col, int64_t *out);

#endif
