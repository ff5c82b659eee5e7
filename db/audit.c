/*
 * audit.c: audit_log rows on pgq (db/migrations/009_audit.sql).
 *
 * Entries are written behind, as evidence is (db/reputation.c), through
 * a write-behind queue (db/batchq.h): append only copies the entry; a
 * batch of up to XS_AUDIT_DB_BATCH_MAX entries (and about
 * XS_AUDIT_DB_BATCH_BYTES of text) goes out as ONE statement over
 * unnest()ed arrays on pgq's background lane, one batch in flight at a
 * time and at most one per XS_AUDIT_DB_FLUSH_MS.  The gate that records
 * an entry never waits for the database, and a flood of rejections costs
 * one statement per batch.
 *
 * The queue holds XS_AUDIT_DB_QUEUE_MAX entries and XS_AUDIT_DB_QUEUE_BYTES
 * of text: explanations are the bulk of an entry and vary, so the count
 * alone would not bound memory.  A batch PostgreSQL refuses for its data
 * (an explanation that is not JSON, a \u0000 jsonb cannot hold) is halved
 * until the bad entry is alone, and that one is discarded.
 *
 * A batch that committed but whose answer was lost with the connection
 * is sent again: its entries are then stored twice.  An audit log may
 * show a decision twice after a connection loss at the wrong moment; it
 * never loses one that way.
 *
 * Reads and prunes are pgq_query_rel requests in text format: pgq_free
 * (which drops requests without callbacks) frees their state through the
 * release function; pgq_close calls them with XS_EIO.
 */
#include "db/audit.h"

#include "db/batchq.h"
#include "xmppd/xml/elem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

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

/* ---- per-pool state ---- */

/* One queued entry: its copy, in a slot of the queue. */
struct aud_item {
    char       *mem;            /* owned: every text, NUL-terminated */
    const char *kind;           /* borrowed from mem */
    const char *subject;        /* borrowed from mem */
    const char *recipient;      /* borrowed from mem, or NULL */
    const char *decision;       /* borrowed from mem */
    const char *reason;         /* borrowed from mem */
    const char *flag;           /* borrowed from mem, or NULL */
    const char *explanation;    /* borrowed from mem */
    int64_t     at;
    int         score;
    int         domain_score;
    bool        has_score;
    bool        has_domain_score;
};

enum aud_op_kind { AUD_OP_READ, AUD_OP_PRUNE };

/* A read or a prune of ours in pgq (its udata; one block, so pgq_free
 * releases it with xs_free when it drops the request). */
struct aud_op {
    enum aud_op_kind        kind;
    struct pgq             *q;          /* borrowed */
    xs_audit_db_row_fn     *row;
    xs_audit_db_done_cb    *done;
    xs_audit_db_pruned_cb  *pruned;
    void                   *udata;      /* borrowed, handed back */
    int64_t                 before;
    uint64_t                deleted;
};

/* ---- validation ---- */

/* A text of 1..max bytes, valid UTF-8 (PostgreSQL's UTF8 encoding
 * refuses anything else, and one refused entry must not hold up a
 * batch). */
static bool
aud_text_ok(const char *s, size_t max)
{
    size_t len;

    if (s == NULL)
        return false;
    len = strnlen(s, max + 1);
    return len > 0 && len <= max && xs_utf8_valid(s, len);
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

/* ---- the queue's items ---- */

/* The bytes an entry's copy takes (its texts with their NULs): its
 * weight for the queue's byte bounds. */
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

/* Copies every text of the row src into one block. */
static void
aud_item_copy(void *item, const void *src)
{
    struct aud_item *it = item;
    const struct xs_audit_row *r = src;
    size_t bytes = aud_row_bytes(r), pos = 0;

    it->mem = xs_malloc(bytes);
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

static void
aud_item_release(void *item)
{
    struct aud_item *it = item;

    xs_free(it->mem);
    it->mem = NULL;
}

/* An integer, or NULL when !has. */
static void
aud_arr_score(struct pgq_array *a, int v, bool has)
{
    if (has)
        pgq_array_int(a, v);
    else
        pgq_array_null(a);
}

/* The k entries at the head as one INSERT. */
static const char *
aud_build(const struct pgq_batchq *bq, size_t k, struct pgq_array *cols,
    int *ncols)
{
    for (size_t i = 0; i < k; i++) {
        const struct aud_item *it = pgq_batchq_at(bq, i);

        pgq_array_int(&cols[0], it->at);
        pgq_array_text(&cols[1], it->kind);
        pgq_array_text(&cols[2], it->subject);
        pgq_array_text(&cols[3], it->recipient);
        pgq_array_text(&cols[4], it->decision);
        pgq_array_text(&cols[5], it->reason);
        aud_arr_score(&cols[6], it->score, it->has_score);
        aud_arr_score(&cols[7], it->domain_score, it->has_domain_score);
        pgq_array_text(&cols[8], it->flag);
        pgq_array_text(&cols[9], it->explanation);
    }
    *ncols = AUD_NCOLS;
    return SQL_AUD_APPEND;
}

static void
aud_refused(const void *item, const PGresult *res)
{
    const struct aud_item *it = item;

    xs_log(XS_LOG_ERR, "audit db: entry kind=%s subject=%s refused (%s), "
        "discarded: %s", it->kind, it->subject, pgq_sqlstate(res),
        PQresultErrorMessage(res));
}

/* Its address names the entries' queue on every pool. */
static const struct pgq_batchq_def aud_batchq = {
    .name = "audit db",
    .items = "audit entries",
    .item_size = sizeof(struct aud_item),
    .batch_max = XS_AUDIT_DB_BATCH_MAX,
    .batch_bytes = XS_AUDIT_DB_BATCH_BYTES,
    .queue_max = XS_AUDIT_DB_QUEUE_MAX,
    .queue_bytes = XS_AUDIT_DB_QUEUE_BYTES,
    .flush_ms = XS_AUDIT_DB_FLUSH_MS,
    .copy = aud_item_copy,
    .release = aud_item_release,
    .build = aud_build,
    .refused = aud_refused,
};

xs_rc
xs_audit_db_append(struct pgq *q, const struct xs_audit_row *r)
{
    if (q == NULL || !aud_row_ok(r))
        return XS_EINVAL;
    return pgq_batchq_add(q, &aud_batchq, r, aud_row_bytes(r));
}

void
xs_audit_db_flush_soon(struct pgq *q)
{
    pgq_batchq_flush_soon(q, &aud_batchq);
}

void
xs_audit_db_stats(const struct pgq *q, struct pgq_batchq_stats *out)
{
    pgq_batchq_stats(q, &aud_batchq, out);
}

/* ---- reads and prunes ---- */

/* The page size as a parameter: "10000". */
#define AUD_STR(x) #x
#define AUD_XSTR(x) AUD_STR(x)
#define AUD_PAGE_PARAM AUD_XSTR(XS_AUDIT_DB_PAGE)

static void aud_on_result(xs_rc rc, const PGresult *res, void *udata);

static xs_rc
aud_prune_next(struct aud_op *op)
{
    char t[24];
    const char *p[2];

    snprintf(t, sizeof(t), "%" PRId64, op->before);    /* cannot truncate */
    p[0] = t;
    p[1] = AUD_PAGE_PARAM;
    return pgq_query_rel(op->q, SQL_AUD_PRUNE, 2, p, aud_on_result,
        xs_free, op);
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
    if (!pgq_get_int64(res, row, col, &v) || v < -100 || v > 100)
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
    if (!pgq_get_int64(res, i, 0, &r.id) || !pgq_get_int64(res, i, 1, &r.at)
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
aud_op_new(struct pgq *q, enum aud_op_kind kind, void *udata)
{
    struct aud_op *op = xs_calloc(1, sizeof(*op));

    op->q = q;
    op->kind = kind;
    op->udata = udata;
    return op;
}

/* A read: n as the first parameter, then arg (if any). */
static xs_rc
aud_read(struct pgq *q, const char *sql, size_t n, const char *arg,
    xs_audit_db_row_fn *row, xs_audit_db_done_cb *done, void *udata)
{
    struct aud_op *op;
    char num[24];
    const char *p[2] = { num, arg };
    xs_rc rc;

    snprintf(num, sizeof(num), "%zu", n);       /* cannot truncate */
    op = aud_op_new(q, AUD_OP_READ, udata);
    op->row = row;
    op->done = done;
    if ((rc = pgq_query_rel(q, sql, arg != NULL ? 2 : 1, p, aud_on_result,
        xs_free, op)) != XS_OK)
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
    struct aud_op *op;
    xs_rc rc;

    if (q == NULL || done == NULL)
        return XS_EINVAL;
    op = aud_op_new(q, AUD_OP_PRUNE, udata);
    op->pruned = done;
    op->before = before;
    if ((rc = aud_prune_next(op)) != XS_OK)
        xs_free(op);
    return rc;
}
