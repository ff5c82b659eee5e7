/*
 * batchq.c: the write-behind queue of batchq.h.
 *
 * The FIFO is a ring of fixed-size slots (a power of two of them), each a
 * small header (the item's weight in bytes) followed by the store's item
 * struct: one allocation for the whole queue, items in order, the batch
 * in flight always the first `writing` slots from the head.
 */
#include "db/batchq.h"

#include <event2/event.h>
#include <stdalign.h>
#include <string.h>

#define BQ_FIRST_CAP 64
#define BQ_SHRINK_CAP 4096      /* an empty queue keeps at most this */

#define BQ_ALIGN alignof(max_align_t)
#define BQ_ROUND(n) (((n) + BQ_ALIGN - 1) & ~(size_t)(BQ_ALIGN - 1))
#define BQ_HDR BQ_ROUND(sizeof(size_t))     /* a slot's weight, then item */

struct pgq_batchq {
    const struct pgq_batchq_def *def;   /* borrowed: static */
    struct pgq          *q;         /* borrowed: owns us, frees us */
    struct event        *ev_flush;  /* owned */
    unsigned char       *ring;      /* owned: n slots of cap (a power of
                                       two) from head */
    size_t               stride;    /* bytes of a slot */
    size_t               head;
    size_t               n;
    size_t               cap;
    size_t               bytes;     /* the queued items' weights */
    size_t               writing;   /* items at the head in flight, or 0 */
    size_t               limit;     /* items in the next batch, at most */
    bool                 is_writing;
    bool                 is_urgent;     /* flush_soon: no interval */
    bool                 is_backoff;    /* the last batch failed */
    bool                 is_closed;     /* pgq refused: pgq_close ran */
    bool                 has_sent;
    uint64_t             sent_ms;   /* xs_now_ms() of the last batch sent */
    uint64_t             streak;    /* failures in a row */
    struct pgq_batchq_stats st;
};

/* ---- the ring ---- */

static unsigned char *
bq_slot(const struct pgq_batchq *bq, size_t i)
{
    return bq->ring + ((bq->head + i) & (bq->cap - 1)) * bq->stride;
}

static size_t
bq_weight(const unsigned char *slot)
{
    size_t w;

    memcpy(&w, slot, sizeof(w));
    return w;
}

const void *
pgq_batchq_at(const struct pgq_batchq *bq, size_t i)
{
    xs_assert(i < bq->n);
    return bq_slot(bq, i) + BQ_HDR;
}

static void
bq_push(struct pgq_batchq *bq, const void *src, size_t bytes)
{
    unsigned char *slot;

    if (bq->n == bq->cap) {
        size_t cap = bq->cap != 0 ? bq->cap * 2 : BQ_FIRST_CAP;
        unsigned char *ring = xs_reallocarray(NULL, cap, bq->stride);

        /* Unwrapped in order: the batch in flight stays at the head. */
        for (size_t i = 0; i < bq->n; i++)
            memcpy(ring + i * bq->stride, bq_slot(bq, i), bq->stride);
        xs_free(bq->ring);
        bq->ring = ring;
        bq->cap = cap;
        bq->head = 0;
    }
    slot = bq_slot(bq, bq->n++);
    memset(slot, 0, bq->stride);
    memcpy(slot, &bytes, sizeof(bytes));
    bq->def->copy(slot + BQ_HDR, src);
    bq->bytes += bytes;
}

/* Drop k items from the head; returns how many of them count. */
static size_t
bq_pop(struct pgq_batchq *bq, size_t k)
{
    const struct pgq_batchq_def *def = bq->def;
    size_t counted = 0;

    xs_assert(k <= bq->n);
    for (size_t i = 0; i < k; i++) {
        unsigned char *slot = bq_slot(bq, i);

        bq->bytes -= bq_weight(slot);
        counted += def->counts == NULL || def->counts(slot + BQ_HDR);
        if (def->release != NULL)
            def->release(slot + BQ_HDR);
    }
    if (bq->cap > 0)
        bq->head = (bq->head + k) & (bq->cap - 1);
    bq->n -= k;
    if (bq->n == 0 && bq->cap > BQ_SHRINK_CAP) {
        /* A burst (a long outage) is over: give its memory back. */
        xs_free(bq->ring);
        bq->ring = NULL;
        bq->cap = 0;
        bq->head = 0;
    }
    return counted;
}

/* ---- the batch ---- */

static void bq_flush(struct pgq_batchq *bq);

/* Wake up when the current interval ends (at once if it has). */
static void
bq_arm(struct pgq_batchq *bq)
{
    uint64_t now = xs_now_ms();
    uint64_t due = bq->sent_ms + bq->def->flush_ms;
    uint64_t ms = (bq->has_sent && due > now) ? due - now : 0;
    struct timeval tv = {
        .tv_sec = (time_t)(ms / 1000),
        .tv_usec = (suseconds_t)((ms % 1000) * 1000),
    };

    if (!evtimer_pending(bq->ev_flush, NULL))
        evtimer_add(bq->ev_flush, &tv);
}

static bool
bq_is_full(const struct pgq_batchq *bq)
{
    return bq->n >= bq->limit
        || (bq->def->batch_bytes != 0 && bq->bytes >= bq->def->batch_bytes);
}

/*
 * After the queue changed or a batch came back: send now when a full
 * batch waits, when flush_soon asked, or when no batch went out during
 * the last interval (a lone item after a quiet spell is written at once);
 * otherwise at the interval's end.  After a failure, always wait the
 * interval: a batch that fails at once must not spin.
 */
static void
bq_schedule(struct pgq_batchq *bq)
{
    bool is_due;

    if (bq->n == 0 || bq->is_writing || bq->is_closed)
        return;
    is_due = !bq->has_sent
        || xs_now_ms() - bq->sent_ms >= bq->def->flush_ms;
    if (is_due || (!bq->is_backoff && (bq->is_urgent || bq_is_full(bq))))
        bq_flush(bq);
    else
        bq_arm(bq);
}

/* How many items from the head the next batch takes: up to limit, and
 * about batch_bytes (at least one, however large: every item is
 * bounded by its store). */
static size_t
bq_batch_len(const struct pgq_batchq *bq)
{
    size_t max = bq->n < bq->limit ? bq->n : bq->limit;
    size_t k = 0, bytes = 0, budget = bq->def->batch_bytes;

    if (budget == 0)
        return max;
    while (k < max && (k == 0
        || bytes + bq_weight(bq_slot(bq, k)) <= budget)) {
        bytes += bq_weight(bq_slot(bq, k));
        k++;
    }
    return k;
}

static void bq_on_written(xs_rc rc, const PGresult *res, void *udata);

/* Send the next batch from the head as one statement. */
static void
bq_flush(struct pgq_batchq *bq)
{
    const struct pgq_batchq_def *def = bq->def;
    struct pgq_array cols[PGQ_BATCHQ_MAX_COLS];
    const char *params[PGQ_BATCHQ_MAX_COLS];
    const char *sql;
    size_t k;
    int ncols = 0;
    xs_rc rc;

    if (bq->is_writing || bq->n == 0 || bq->is_closed)
        return;
    k = bq_batch_len(bq);
    memset(cols, 0, sizeof(cols));
    sql = def->build(bq, k, cols, &ncols);
    xs_assert(sql != NULL && ncols > 0 && ncols <= PGQ_BATCHQ_MAX_COLS);
    for (int c = 0; c < ncols; c++)
        params[c] = pgq_array_end(&cols[c]);
    rc = pgq_query_bg(bq->q, sql, ncols, params, bq_on_written, bq);
    for (size_t c = 0; c < PGQ_BATCHQ_MAX_COLS; c++)
        pgq_array_fini(&cols[c]);       /* pgq copied the params */
    bq->sent_ms = xs_now_ms();
    bq->has_sent = true;
    if (rc == XS_EIO) {
        /* pgq_close ran: nothing will be written any more. */
        bq->is_closed = true;
        xs_log(XS_LOG_INFO, "%s: pool closed, %zu %s not written",
            def->name, bq->n, def->items);
        return;
    }
    if (rc != XS_OK) {
        /* The background lane is full: keep them, try again later. */
        xs_log(XS_LOG_NOTICE, "%s: batch of %zu deferred: %s", def->name, k,
            xs_rc_str(rc));
        bq->is_backoff = true;
        bq_arm(bq);
        return;
    }
    bq->is_writing = true;
    bq->writing = k;
    evtimer_del(bq->ev_flush);
}

/* A statement that fails for the data it carries fails every time. */
static bool
bq_is_data_error(const PGresult *res)
{
    const char *st = pgq_sqlstate(res);

    return strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0
        || strncmp(st, "54", 2) == 0;
}

static void
bq_on_written(xs_rc rc, const PGresult *res, void *udata)
{
    struct pgq_batchq *bq = udata;
    const struct pgq_batchq_def *def = bq->def;
    size_t k = bq->writing;

    bq->is_writing = false;
    bq->writing = 0;
    if (rc == XS_OK) {
        bq->st.appended += bq_pop(bq, k);
        bq->st.batches++;
        /* Back up after a bisection (see below), not all at once. */
        bq->limit = bq->limit > def->batch_max / 2
            ? def->batch_max : bq->limit * 2;
        if (bq->streak > 0)
            xs_log(XS_LOG_NOTICE, "%s: %s written again after %" PRIu64
                " failed batches", def->name, def->items, bq->streak);
        bq->streak = 0;
        bq->is_backoff = false;
        if (bq->n == 0)
            bq->is_urgent = false;
    } else if (res != NULL && bq_is_data_error(res)) {
        if (k == 1) {
            if (def->refused != NULL)
                def->refused(pgq_batchq_at(bq, 0), res);
            else
                xs_log(XS_LOG_ERR, "%s: one of the %s refused (%s), "
                    "discarded: %s", def->name, def->items,
                    pgq_sqlstate(res), PQresultErrorMessage(res));
            bq_pop(bq, 1);
            bq->st.discarded++;
            bq->limit = def->batch_max;
        } else {
            /* Halve until the bad item is alone; the good ones before it
             * commit on the way. */
            bq->limit = k / 2;
            bq->st.retries++;
        }
    } else {
        bq->st.retries++;
        bq->is_backoff = true;
        if (bq->streak++ == 0)
            xs_log(XS_LOG_WARN, "%s: batch of %zu %s not written (%s), %zu "
                "waiting: retrying", def->name, k, def->items,
                res != NULL ? pgq_sqlstate(res) : "no connection", bq->n);
    }
    bq_schedule(bq);
}

static void
bq_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pgq_batchq *bq = arg;

    (void)fd, (void)what;
    bq->is_backoff = false;     /* the interval has passed */
    bq_flush(bq);
}

/* pgq_free: what was not written is lost; the batch in flight dies
 * without its callback (pgq_free's contract). */
static void
bq_free(void *data)
{
    struct pgq_batchq *bq = data;

    if (bq->n > 0)
        xs_log(XS_LOG_INFO, "%s: %zu %s dropped at shutdown", bq->def->name,
            bq->n, bq->def->items);
    if (bq->ev_flush != NULL)
        event_free(bq->ev_flush);
    bq_pop(bq, bq->n);
    xs_free(bq->ring);
    xs_free(bq);
}

static xs_rc
bq_get(struct pgq *q, const struct pgq_batchq_def *def,
    struct pgq_batchq **out)
{
    struct pgq_batchq *bq = pgq_ext_get(q, def);
    xs_rc rc;

    *out = NULL;
    if (bq == NULL) {
        bq = xs_calloc(1, sizeof(*bq));
        bq->def = def;
        bq->q = q;
        bq->stride = BQ_HDR + BQ_ROUND(def->item_size);
        bq->limit = def->batch_max;
        bq->ev_flush = evtimer_new(pgq_base(q), bq_on_timer, bq);
        if (bq->ev_flush == NULL) {
            bq_free(bq);
            return XS_ENOMEM;
        }
        if ((rc = pgq_ext_set(q, def, bq, bq_free)) != XS_OK) {
            bq_free(bq);
            return rc;
        }
    }
    *out = bq;
    return XS_OK;
}

/* ---- the API ---- */

xs_rc
pgq_batchq_add(struct pgq *q, const struct pgq_batchq_def *def,
    const void *src, size_t bytes)
{
    struct pgq_batchq *bq;
    xs_rc rc;

    if (q == NULL || def == NULL || src == NULL || def->copy == NULL
        || def->build == NULL || def->item_size == 0
        || def->batch_max == 0 || def->queue_max == 0)
        return XS_EINVAL;
    if ((rc = bq_get(q, def, &bq)) != XS_OK)
        return rc;
    if (bq->is_closed)
        return XS_EIO;
    if (bq->n >= def->queue_max || (def->queue_bytes != 0
        && (bytes > def->queue_bytes
            || bq->bytes > def->queue_bytes - bytes))) {
        if (bq->st.dropped++ == 0 || bq->st.dropped % 10000 == 0)
            xs_log(XS_LOG_WARN, "%s: queue full (%zu %s, %zu bytes): "
                "%" PRIu64 " dropped so far", def->name, bq->n, def->items,
                bq->bytes, bq->st.dropped);
        return XS_ELIMIT;
    }
    bq_push(bq, src, bytes);
    bq->st.queued_total++;
    bq_schedule(bq);
    return XS_OK;
}

void
pgq_batchq_flush_soon(struct pgq *q, const struct pgq_batchq_def *def)
{
    struct pgq_batchq *bq;

    if (q == NULL || def == NULL || (bq = pgq_ext_get(q, def)) == NULL
        || bq->n == 0)
        return;
    bq->is_urgent = true;
    bq_schedule(bq);
}

void
pgq_batchq_stats(const struct pgq *q, const struct pgq_batchq_def *def,
    struct pgq_batchq_stats *out)
{
    const struct pgq_batchq *bq = q != NULL && def != NULL
        ? pgq_ext_get(q, def) : NULL;

    memset(out, 0, sizeof(*out));
    if (bq == NULL)
        return;
    *out = bq->st;
    out->queued = bq->n;
    out->queued_bytes = bq->bytes;
}
