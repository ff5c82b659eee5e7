/*
 * audit.c: audit_log rows on pgq (db/migrations/009_audit.sql).
 *
 * Entries are written behind, as evidence is (db/reputation.c): append
 * only copies the entry into a per-pool FIFO (a pgq extension); a batch
 * of up to XS_AUDIT_DB_BATCH_MAX entries (and about
 * XS_AUDIT_DB_BATCH_BYTES of text) from the head goes out as ONE
 * statement over unnest()ed arrays on pgq's background lane, one batch in
 * flight at a time and at most one per XS_AUDIT_DB_FLUSH_MS (at once when
 * a full batch waits, after a quiet interval, or when flush_soon asks).
 * The gate that records an entry never waits for the database, and a
 * flood of rejections costs one statement per batch.
 *
 * A batch leaves the queue only when it committed: a failed one stays at
 * the head and goes out again after an interval (the pool reconnects by
 * itself), while new entries queue behind it up to XS_AUDIT_DB_QUEUE_MAX
 * entries and XS_AUDIT_DB_QUEUE_BYTES of text (explanations are the bulk
 * of an entry and vary, so the count alone would not bound memory).  A
 * batch PostgreSQL refuses for its data (an explanation that is not JSON,
 * a \u0000 jsonb cannot hold) would fail forever: it is halved until the
 * bad entry is alone, and that one is discarded.
 *
 * A batch that committed but whose answer was lost with the connection
 * is sent again: its entries are then stored twice.  An audit log may
 * show a decision twice after a connection loss at the wrong moment; it
 * never loses one that way.
 *
 * Reads and prunes are pgq_query requests in text format.  Every one of
 * them is also on the extension's list, so pgq_free (which drops requests
 * without callbacks) frees them; pgq_close calls them with XS_EIO.
 */
#include "db/audit.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/queue.h>

/* ---- SQL ---- */

/*
 * $1 times (unix seconds), $2 kinds, $3 subjects, $4 recipients, $5
 * decisions, $6 reasons, $7 scores, $8 domain scores, $9 flags (NULL
 * elements where absent), $10 explanations (JSON text).  WITH ORDINALITY
 * and the ORDER BY make ids follow the queue's order.
 */
#define SQL_AUD_APPEND \
    "INSERT INTO audit_log (at, kind, subject, recipient, decision, reason," \
    " score, domain_score, flag, explanation)" \
    " SELECT to_timestamp(t), k, s, r, d, re, sc, ds, f, e::jsonb" \
    " FROM unnest($1::float8[], $2::text[], $3::text[], $4::text[]," \
    " $5::text[], $6::text[], $7::integer[], $8::integer[], $9::text[]," \
    " $10::text[]) WITH ORDINALITY AS v(t, k, s, r, d, re, sc, ds, f, e, o)" \
    " ORDER BY o"

#define SQL_AUD_COLS \
    "SELECT id, floor(extract(epoch FROM at))::bigint, kind, subject," \
    " recipient, decision, reason, score, domain_score, flag," \
    " explanation::text FROM audit_log"

/* $1 the number of rows; $2 the kind. */
#define SQL_AUD_TAIL \
    SQL_AUD_COLS " ORDER BY at DESC, id DESC LIMIT $1::integer"
#define SQL_AUD_TAIL_KIND \
    SQL_AUD_COLS " WHERE kind = $2 ORDER BY at DESC, id DESC" \
    " LIMIT $1::integer"

/* $1 the number of rows, $2 the subject. */
#define SQL_AUD_BY_SUBJECT \
    SQL_AUD_COLS " WHERE subject = $2 ORDER BY at DESC, id DESC" \
    " LIMIT $1::integer"

/* $1 before (unix seconds), $2 chunk size. */
#define SQL_AUD_PRUNE \
    "DELETE FROM audit_log WHERE id IN (SELECT id FROM audit_log" \
    " WHERE at < to_timestamp($1::float8) ORDER BY at, id" \
    " LIMIT $2::integer)"

#define AUD_NCOLS 10            /* of the append */
#define AUD_NFIELDS 11          /* of a read */
#define AUD_SHRINK_CAP 4096     /* an empty queue keeps at most this */

/* ---- per-pool state ---- */

/* One queued entry: its copy. */
struct aud_item {
    char       *mem;            /* owned: every text, NUL-terminated */
    const char *kind;           /* borrowed from mem */
    const char *subject;        /* borrowed from mem */
    const char *recipient;      /* borrowed from mem, or NULL */
    const char *decision;       /* borrowed from mem */
    const char *reason;         /* borrowed from mem */
    const char *flag;           /* borrowed from mem, or NULL */
    const char *explanation;    /* borrowed from mem */
    size_t      bytes;          /* of mem */
    int64_t     at;
    int         score;
    int         domain_score;
    bool        has_score;
    bool        has_domain_score;
};

enum aud_op_kind { AUD_OP_READ, AUD_OP_PRUNE };

struct aud_db;

/* A read or a prune of ours in pgq (its udata). */
struct aud_op {
    enum aud_op_kind        kind;
    struct aud_db          *db;         /* borrowed: holds us in ops */
    TAILQ_ENTRY(aud_op)     link;
    xs_audit_db_row_fn     *row;
    xs_audit_db_done_cb    *done;
    xs_audit_db_pruned_cb  *pruned;
    void                   *udata;      /* borrowed, handed back */
    int64_t                 before;
    uint64_t                deleted;
};

TAILQ_HEAD(aud_op_list, aud_op);

/* Per pool (a pgq extension), made at the first call. */
struct aud_db {
    struct pgq          *q;         /* borrowed: owns us, frees us */
    struct event        *ev_flush;  /* owned */
    struct aud_item     *ring;      /* owned: the FIFO, n of cap (a power
                                       of two) from head */
    size_t               head;
    size_t               n;
    size_t               cap;
    size_t               bytes;     /* of the queued entries' texts */
    size_t               writing;   /* entries at the head in flight */
    size_t               limit;     /* entries in the next batch, at most */
    bool                 is_writing;
    bool                 is_urgent;     /* flush_soon: no interval */
    bool                 is_backoff;    /* the last batch failed */
    bool                 is_closed;     /* pgq refused: pgq_close ran */
    bool                 has_sent;
    uint64_t             sent_ms;   /* xs_now_ms() of the last batch sent */
    uint64_t             streak;    /* failures in a row */
    struct xs_audit_db_stats st;
    struct aud_op_list   ops;       /* reads and prunes out in pgq */
};

static const char aud_ext_key;      /* its address names the extension */

/* ---- validation ---- */

/* Whether s[0..len) is well-formed UTF-8 (no overlongs, no surrogates),
 * as PostgreSQL's UTF8 encoding requires. */
static bool
aud_utf8_ok(const unsigned char *s, size_t len)
{
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];
        size_t n;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf) {
            n = 1;
            cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            n = 2;
            cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            n = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (len - i <= n)
            return false;
        for (size_t k = 1; k <= n; k++) {
            if ((s[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + k] & 0x3f);
        }
        if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)
            || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += n + 1;
    }
    return true;
}

/* A text of 1..max bytes, valid UTF-8. */
static bool
aud_text_ok(const char *s, size_t max)
{
    size_t len;

    if (s == NULL)
        return false;
    len = strnlen(s, max + 1);
    return len > 0 && len <= max
        && aud_utf8_ok((const unsigned char *)s, len);
}

static bool
aud_row_ok(const struct xs_audit_row *r)
{
    return r != NULL
        && aud_text_ok(r->kind, XS_AUDIT_DB_TOKEN_MAX)
        && aud_text_ok(r->subject, XS_AUDIT_DB_JID_MAX)
        && (r->recipient == NULL
            || aud_text_ok(r->recipient, XS_AUDIT_DB_JID_MAX))
        && aud_text_ok(r->decision, XS_AUDIT_DB_TOKEN_MAX)
        && aud_text_ok(r->reason, XS_AUDIT_DB_TOKEN_MAX)
        && (r->flag == NULL || aud_text_ok(r->flag, XS_AUDIT_DB_TOKEN_MAX))
        && (r->explanation == NULL
            || aud_text_ok(r->explanation, XS_AUDIT_DB_EXPL_MAX))
        && (!r->has_score || (r->score >= -100 && r->score <= 100))
        && (!r->has_domain_score
            || (r->domain_score >= -100 && r->domain_score <= 100));
}

/* ---- PostgreSQL array literals, text format ---- */

struct aud_str {
    char  *p;           /* owned */
    size_t len;
    size_t cap;
};

static void
aud_str_add(struct aud_str *s, const char *p, size_t n)
{
    if (s->cap - s->len < n + 1) {
        size_t cap = s->cap != 0 ? s->cap : 256;

        while (cap - s->len < n + 1)
            cap *= 2;
        s->p = xs_realloc(s->p, cap);
        s->cap = cap;
    }
    memcpy(s->p + s->len, p, n);
    s->len += n;
    s->p[s->len] = '\0';
}

static void
aud_arr_sep(struct aud_str *s)
{
    aud_str_add(s, s->len == 0 ? "{" : ",", 1);
}

/* One element: "..." with '"' and '\' escaped (everything else, braces,
 * commas, spaces, is literal inside quotes), or an unquoted NULL. */
static void
aud_arr_text(struct aud_str *s, const char *v)
{
    const char *p = v, *run;

    aud_arr_sep(s);
    if (v == NULL) {
        aud_str_add(s, "NULL", 4);
        return;
    }
    aud_str_add(s, "\"", 1);
    for (;;) {
        run = p;
        p += strcspn(p, "\"\\");
        aud_str_add(s, run, (size_t)(p - run));
        if (*p == '\0')
            break;
        aud_str_add(s, "\\", 1);
        aud_str_add(s, p, 1);
        p++;
    }
    aud_str_add(s, "\"", 1);
}

/* An integer, or NULL when !has. */
static void
aud_arr_int(struct aud_str *s, int64_t v, bool has)
{
    char buf[24];
    int n;

    aud_arr_sep(s);
    if (!has) {
        aud_str_add(s, "NULL", 4);
        return;
    }
    n = snprintf(buf, sizeof(buf), "%" PRId64, v);
    xs_assert(n > 0 && (size_t)n < sizeof(buf));
    aud_str_add(s, buf, (size_t)n);
}

/* The literal, "{}" when nothing was added. */
static const char *
aud_arr_end(struct aud_str *s)
{
    if (s->len == 0)
        aud_str_add(s, "{", 1);
    aud_str_add(s, "}", 1);
    return s->p;
}

/* ---- the FIFO ---- */

static struct aud_item *
aud_at(const struct aud_db *db, size_t i)
{
    return &db->ring[(db->head + i) & (db->cap - 1)];
}

static struct aud_item *
aud_push(struct aud_db *db)
{
    struct aud_item *it;

    if (db->n == db->cap) {
        size_t cap = db->cap != 0 ? db->cap * 2 : 64;
        struct aud_item *ring = xs_calloc(cap, sizeof(ring[0]));

        /* Unwrapped in order: the batch in flight stays at the head. */
        for (size_t i = 0; i < db->n; i++)
            ring[i] = *aud_at(db, i);
        xs_free(db->ring);
        db->ring = ring;
        db->cap = cap;
        db->head = 0;
    }
    it = aud_at(db, db->n++);
    memset(it, 0, sizeof(*it));
    return it;
}

/* Drop k entries from the head. */
static void
aud_pop(struct aud_db *db, size_t k)
{
    xs_assert(k <= db->n);
    for (size_t i = 0; i < k; i++) {
        struct aud_item *it = aud_at(db, i);

        db->bytes -= it->bytes;
        xs_free(it->mem);
        it->mem = NULL;
    }
    if (db->cap > 0)
        db->head = (db->head + k) & (db->cap - 1);
    db->n -= k;
    if (db->n == 0 && db->cap > AUD_SHRINK_CAP) {
        /* A burst (a long outage) is over: give its memory back. */
        xs_free(db->ring);
        db->ring = NULL;
        db->cap = 0;
        db->head = 0;
    }
}

/* The bytes an entry's copy takes (its texts with their NULs). */
static size_t
aud_row_bytes(const struct xs_audit_row *r)
{
    const char *texts[] = { r->kind, r->subject, r->recipient, r->decision,
        r->reason, r->flag, r->explanation != NULL ? r->explanation : "[]" };
    size_t n = 0;

    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        n += texts[i] != NULL ? strlen(texts[i]) + 1 : 0;
    return n;
}

/* Append s (may be NULL) to the block at *pos; returns its copy. */
static const char *
aud_copy(char *mem, size_t *pos, const char *s)
{
    char *d;
    size_t n;

    if (s == NULL)
        return NULL;
    n = strlen(s) + 1;
    d = mem + *pos;
    memcpy(d, s, n);
    *pos += n;
    return d;
}

/* Copies every text of r into one block. */
static void
aud_item_fill(struct aud_item *it, const struct xs_audit_row *r,
    size_t bytes)
{
    size_t pos = 0;

    it->mem = xs_malloc(bytes);
    it->bytes = bytes;
    it->kind = aud_copy(it->mem, &pos, r->kind);
    it->subject = aud_copy(it->mem, &pos, r->subject);
    it->recipient = aud_copy(it->mem, &pos, r->recipient);
    it->decision = aud_copy(it->mem, &pos, r->decision);
    it->reason = aud_copy(it->mem, &pos, r->reason);
    it->flag = aud_copy(it->mem, &pos, r->flag);
    it->explanation = aud_copy(it->mem, &pos,
        r->explanation != NULL ? r->explanation : "[]");
    xs_assert(pos == bytes);
    it->at = r->at;
    it->score = r->score;
    it->domain_score = r->domain_score;
    it->has_score = r->has_score;
    it->has_domain_score = r->has_domain_score;
}

/* ---- the batch ---- */

static void aud_flush(struct aud_db *db);

/* Wake up when the current interval ends (at once if it has). */
static void
aud_arm(struct aud_db *db)
{
    uint64_t now = xs_now_ms();
    uint64_t due = db->sent_ms + XS_AUDIT_DB_FLUSH_MS;
    uint64_t ms = (db->has_sent && due > now) ? due - now : 0;
    struct timeval tv = {
        .tv_sec = (time_t)(ms / 1000),
        .tv_usec = (suseconds_t)((ms % 1000) * 1000),
    };

    if (!evtimer_pending(db->ev_flush, NULL))
        evtimer_add(db->ev_flush, &tv);
}

/*
 * After the queue changed or a batch came back: send now when a full
 * batch waits, when flush_soon asked, or when no batch went out during
 * the last interval (a lone entry after a quiet spell is written at
 * once); otherwise at the interval's end.  After a failure, always wait
 * the interval: a batch that fails at once must not spin.
 */
static void
aud_schedule(struct aud_db *db)
{
    bool is_due;

    if (db->n == 0 || db->is_writing || db->is_closed)
        return;
    is_due = !db->has_sent
        || xs_now_ms() - db->sent_ms >= XS_AUDIT_DB_FLUSH_MS;
    if (is_due || (!db->is_backoff && (db->is_urgent
        || db->n >= db->limit || db->bytes >= XS_AUDIT_DB_BATCH_BYTES)))
        aud_flush(db);
    else
        aud_arm(db);
}

static void aud_on_written(xs_rc rc, const PGresult *res, void *udata);

/* Send up to db->limit entries (and about XS_AUDIT_DB_BATCH_BYTES) from
 * the head as one statement. */
static void
aud_flush(struct aud_db *db)
{
    struct aud_str cols[AUD_NCOLS];
    const char *params[AUD_NCOLS];
    size_t k = 0, bytes = 0, max = db->n < db->limit ? db->n : db->limit;
    xs_rc rc;

    if (db->is_writing || max == 0 || db->is_closed)
        return;
    memset(cols, 0, sizeof(cols));
    /* At least one, however large: every entry is bounded. */
    while (k < max && (k == 0
        || bytes + aud_at(db, k)->bytes <= XS_AUDIT_DB_BATCH_BYTES)) {
        const struct aud_item *it = aud_at(db, k);

        aud_arr_int(&cols[0], it->at, true);
        aud_arr_text(&cols[1], it->kind);
        aud_arr_text(&cols[2], it->subject);
        aud_arr_text(&cols[3], it->recipient);
        aud_arr_text(&cols[4], it->decision);
        aud_arr_text(&cols[5], it->reason);
        aud_arr_int(&cols[6], it->score, it->has_score);
        aud_arr_int(&cols[7], it->domain_score, it->has_domain_score);
        aud_arr_text(&cols[8], it->flag);
        aud_arr_text(&cols[9], it->explanation);
        bytes += it->bytes;
        k++;
    }
    for (size_t c = 0; c < AUD_NCOLS; c++)
        params[c] = aud_arr_end(&cols[c]);
    rc = pgq_query_bg(db->q, SQL_AUD_APPEND, AUD_NCOLS, params,
        aud_on_written, db);
    for (size_t c = 0; c < AUD_NCOLS; c++)
        xs_free(cols[c].p);             /* pgq copied the params */
    db->sent_ms = xs_now_ms();
    db->has_sent = true;
    if (rc == XS_EIO) {
        /* pgq_close ran: nothing will be written any more. */
        db->is_closed = true;
        xs_log(XS_LOG_INFO, "audit db: pool closed, %zu audit entries not "
            "written", db->n);
        return;
    }
    if (rc != XS_OK) {
        /* The background lane is full: keep them, try again later. */
        xs_log(XS_LOG_NOTICE, "audit db: batch of %zu deferred: %s", k,
            xs_rc_str(rc));
        db->is_backoff = true;
        aud_arm(db);
        return;
    }
    db->is_writing = true;
    db->writing = k;
    evtimer_del(db->ev_flush);
}

/* A statement that fails for the data it carries fails every time. */
static bool
aud_is_data_error(const PGresult *res)
{
    const char *st = pgq_sqlstate(res);

    return strncmp(st, "22", 2) == 0 || strncmp(st, "23", 2) == 0
        || strncmp(st, "54", 2) == 0;
}

static void
aud_on_written(xs_rc rc, const PGresult *res, void *udata)
{
    struct aud_db *db = udata;
    size_t k = db->writing;

    db->is_writing = false;
    db->writing = 0;
    if (rc == XS_OK) {
        aud_pop(db, k);
        db->st.appended += k;
        db->st.batches++;
        /* Back up after a bisection (see below), not all at once. */
        db->limit = db->limit > XS_AUDIT_DB_BATCH_MAX / 2
            ? XS_AUDIT_DB_BATCH_MAX : db->limit * 2;
        if (db->streak > 0)
            xs_log(XS_LOG_NOTICE, "audit db: entries written again after "
                "%" PRIu64 " failed batches", db->streak);
        db->streak = 0;
        db->is_backoff = false;
        if (db->n == 0)
            db->is_urgent = false;
    } else if (res != NULL && aud_is_data_error(res)) {
        if (k == 1) {
            const struct aud_item *it = aud_at(db, 0);

            xs_log(XS_LOG_ERR, "audit db: entry kind=%s subject=%s "
                "refused (%s), discarded: %s", it->kind, it->subject,
                pgq_sqlstate(res), PQresultErrorMessage(res));
            aud_pop(db, 1);
            db->st.discarded++;
            db->limit = XS_AUDIT_DB_BATCH_MAX;
        } else {
            /* Halve until the bad entry is alone; the good ones before
             * it commit on the way. */
            db->limit = k / 2;
            db->st.retries++;
        }
    } else {
        db->st.retries++;
        db->is_backoff = true;
        if (db->streak++ == 0)
            xs_log(XS_LOG_WARN, "audit db: batch of %zu entries not "
                "written (%s), %zu waiting: retrying", k,
                res != NULL ? pgq_sqlstate(res) : "no connection", db->n);
    }
    aud_schedule(db);
}

static void
aud_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct aud_db *db = arg;

    (void)fd, (void)what;
    db->is_backoff = false;     /* the interval has passed */
    aud_flush(db);
}

/* pgq_free: what was not written is lost, requests die without
 * callbacks (pgq_free's contract): free them here. */
static void
aud_db_free(void *data)
{
    struct aud_db *db = data;
    struct aud_op *op;

    if (db->n > 0)
        xs_log(XS_LOG_INFO, "audit db: %zu audit entries dropped at "
            "shutdown", db->n);
    if (db->ev_flush != NULL)
        event_free(db->ev_flush);
    aud_pop(db, db->n);
    xs_free(db->ring);
    while ((op = TAILQ_FIRST(&db->ops)) != NULL) {
        TAILQ_REMOVE(&db->ops, op, link);
        xs_free(op);
    }
    xs_free(db);
}

static xs_rc
aud_db_get(struct pgq *q, struct aud_db **out)
{
    struct aud_db *db = pgq_ext_get(q, &aud_ext_key);
    xs_rc rc;

    *out = NULL;
    if (db == NULL) {
        db = xs_calloc(1, sizeof(*db));
        db->q = q;
        db->limit = XS_AUDIT_DB_BATCH_MAX;
        TAILQ_INIT(&db->ops);
        db->ev_flush = evtimer_new(pgq_base(q), aud_on_timer, db);
        if (db->ev_flush == NULL) {
            aud_db_free(db);
            return XS_ENOMEM;
        }
        if ((rc = pgq_ext_set(q, &aud_ext_key, db, aud_db_free)) != XS_OK) {
            aud_db_free(db);
            return rc;
        }
    }
    *out = db;
    return XS_OK;
}

xs_rc
xs_audit_db_append(struct pgq *q, const struct xs_audit_row *r)
{
    struct aud_db *db;
    size_t bytes;
    xs_rc rc;

    if (q == NULL || !aud_row_ok(r))
        return XS_EINVAL;
    if ((rc = aud_db_get(q, &db)) != XS_OK)
        return rc;
    if (db->is_closed)
        return XS_EIO;
    bytes = aud_row_bytes(r);
    if (db->n >= XS_AUDIT_DB_QUEUE_MAX
        || db->bytes + bytes > XS_AUDIT_DB_QUEUE_BYTES) {
        if (db->st.dropped++ == 0 || db->st.dropped % 10000 == 0)
            xs_log(XS_LOG_WARN, "audit db: queue full (%zu entries, %zu "
                "bytes): %" PRIu64 " entries dropped so far", db->n,
                db->bytes, db->st.dropped);
        return XS_ELIMIT;
    }
    aud_item_fill(aud_push(db), r, bytes);
    db->bytes += bytes;
    db->st.queued_total++;
    aud_schedule(db);
    return XS_OK;
}

void
xs_audit_db_flush_soon(struct pgq *q)
{
    struct aud_db *db;

    if (q == NULL || (db = pgq_ext_get(q, &aud_ext_key)) == NULL
        || db->n == 0)
        return;
    db->is_urgent = true;
    aud_schedule(db);
}

void
xs_audit_db_stats(const struct pgq *q, struct xs_audit_db_stats *out)
{
    const struct aud_db *db = q != NULL ? pgq_ext_get(q, &aud_ext_key)
        : NULL;

    memset(out, 0, sizeof(*out));
    if (db == NULL)
        return;
    *out = db->st;
    out->queued = db->n;
    out->queued_bytes = db->bytes;
}

/* ---- reads and prunes ---- */

/* The page size as a parameter: "10000". */
#define AUD_STR(x) #x
#define AUD_XSTR(x) AUD_STR(x)
#define AUD_PAGE_PARAM AUD_XSTR(XS_AUDIT_DB_PAGE)

static void aud_on_result(xs_rc rc, const PGresult *res, void *udata);

/* Send the op's (next) request: on the list while it is out. */
static xs_rc
aud_send(struct aud_op *op, const char *sql, int nparams,
    const char *const *params)
{
    xs_rc rc = pgq_query(op->db->q, sql, nparams, params, aud_on_result,
        op);

    if (rc == XS_OK)
        TAILQ_INSERT_TAIL(&op->db->ops, op, link);
    return rc;
}

static xs_rc
aud_prune_next(struct aud_op *op)
{
    char t[24];
    const char *p[2];

    snprintf(t, sizeof(t), "%" PRId64, op->before);    /* cannot truncate */
    p[0] = t;
    p[1] = AUD_PAGE_PARAM;
    return aud_send(op, SQL_AUD_PRUNE, 2, p);
}

static bool
aud_int(const PGresult *res, int row, int col, int64_t *out)
{
    return !PQgetisnull(res, row, col)
        && pgq_text_int64(PQgetvalue(res, row, col), out);
}

/* A nullable column: NULL, or a string. */
static const char *
aud_text(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* A nullable score: false when it is there and not in -100..100. */
static bool
aud_score(const PGresult *res, int row, int col, int *out, bool *has)
{
    int64_t v;

    *out = 0;
    *has = false;
    if (PQgetisnull(res, row, col))
        return true;
    if (!aud_int(res, row, col, &v) || v < -100 || v > 100)
        return false;
    *out = (int)v;
    *has = true;
    return true;
}

/* One row to the callback; false when it is malformed. */
static bool
aud_read_row(const struct aud_op *op, const PGresult *res, int i)
{
    struct xs_audit_row r;

    memset(&r, 0, sizeof(r));
    if (!aud_int(res, i, 0, &r.id) || !aud_int(res, i, 1, &r.at)
        || !aud_score(res, i, 7, &r.score, &r.has_score)
        || !aud_score(res, i, 8, &r.domain_score, &r.has_domain_score))
        return false;
    r.kind = aud_text(res, i, 2);
    r.subject = aud_text(res, i, 3);
    r.recipient = aud_text(res, i, 4);
    r.decision = aud_text(res, i, 5);
    r.reason = aud_text(res, i, 6);
    r.flag = aud_text(res, i, 9);
    r.explanation = aud_text(res, i, 10);
    if (r.kind == NULL || r.subject == NULL || r.decision == NULL
        || r.reason == NULL || r.explanation == NULL)
        return false;
    op->row(&r, op->udata);
    return true;
}

/* Every request of this file comes back here. */
static void
aud_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct aud_op *op = udata;
    int64_t n = 0;

    TAILQ_REMOVE(&op->db->ops, op, link);
    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* no statement here can clash */
    if (rc != XS_OK) {
        if (res != NULL)
            xs_log(XS_LOG_WARN, "audit db: request failed: %s",
                PQresultErrorMessage(res));
    } else if (op->kind == AUD_OP_PRUNE) {
        /* "DELETE n": a full chunk may leave more behind. */
        if (!pgq_text_int64(PQcmdTuples((PGresult *)res), &n) || n < 0) {
            rc = XS_EIO;
        } else {
            op->deleted += (uint64_t)n;
            if (n >= XS_AUDIT_DB_PAGE) {
                if ((rc = aud_prune_next(op)) == XS_OK)
                    return;     /* op is out again */
            }
        }
    } else if (PQnfields(res) != AUD_NFIELDS) {
        rc = XS_EIO;
    } else {
        for (int i = 0; i < PQntuples(res); i++) {
            if (!aud_read_row(op, res, i)) {
                xs_log(XS_LOG_ERR, "audit db: malformed row in a read");
                rc = XS_EIO;
                break;
            }
        }
    }
    if (op->kind == AUD_OP_PRUNE)
        op->pruned(rc, op->deleted, op->udata);
    else
        op->done(rc, op->udata);
    xs_free(op);
}

static struct aud_op *
aud_op_new(struct aud_db *db, enum aud_op_kind kind, void *udata)
{
    struct aud_op *op = xs_calloc(1, sizeof(*op));

    op->db = db;
    op->kind = kind;
    op->udata = udata;
    return op;
}

/* A read: n as the first parameter, then arg (if any). */
static xs_rc
aud_read(struct pgq *q, const char *sql, size_t n, const char *arg,
    xs_audit_db_row_fn *row, xs_audit_db_done_cb *done, void *udata)
{
    struct aud_db *db;
    struct aud_op *op;
    char num[24];
    const char *p[2] = { num, arg };
    xs_rc rc;

    if ((rc = aud_db_get(q, &db)) != XS_OK)
        return rc;
    snprintf(num, sizeof(num), "%zu", n);       /* cannot truncate */
    op = aud_op_new(db, AUD_OP_READ, udata);
    op->row = row;
    op->done = done;
    if ((rc = aud_send(op, sql, arg != NULL ? 2 : 1, p)) != XS_OK)
        xs_free(op);
    return rc;
}

xs_rc
xs_audit_db_tail(struct pgq *q, size_t n, const char *kind,
    xs_audit_db_row_fn *row, xs_audit_db_done_cb *done, void *udata)
{
    if (q == NULL || row == NULL || done == NULL || n == 0
        || n > XS_AUDIT_DB_READ_MAX
        || (kind != NULL && !aud_text_ok(kind, XS_AUDIT_DB_TOKEN_MAX)))
        return XS_EINVAL;
    return aud_read(q, kind != NULL ? SQL_AUD_TAIL_KIND : SQL_AUD_TAIL, n,
        kind, row, done, udata);
}

xs_rc
xs_audit_db_by_subject(struct pgq *q, const char *subject, size_t n,
    xs_audit_db_row_fn *row, xs_audit_db_done_cb *done, void *udata)
{
    if (q == NULL || row == NULL || done == NULL || n == 0
        || n > XS_AUDIT_DB_READ_MAX
        || !aud_text_ok(subject, XS_AUDIT_DB_JID_MAX))
        return XS_EINVAL;
    return aud_read(q, SQL_AUD_BY_SUBJECT, n, subject, row, done, udata);
}

xs_rc
xs_audit_db_prune(struct pgq *q, int64_t before,
    xs_audit_db_pruned_cb *done, void *udata)
{
    struct aud_db *db;
    struct aud_op *op;
    xs_rc rc;

    if (q == NULL || done == NULL)
        return XS_EINVAL;
    if ((rc = aud_db_get(q, &db)) != XS_OK)
        return rc;
    op = aud_op_new(db, AUD_OP_PRUNE, udata);
    op->pruned = done;
    op->before = before;
    if ((rc = aud_prune_next(op)) != XS_OK)
        xs_free(op);
    return rc;
}
