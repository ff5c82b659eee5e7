/*
 * reputation.c: reputation_evidence and reputation_pins rows on pgq
 * (db/migrations/008_reputation.sql).
 *
 * Evidence is written behind, through a write-behind queue
 * (db/batchq.h): xs_rep_db_append and xs_rep_db_retract only copy the
 * item; a batch of up to XS_REP_DB_BATCH_MAX items from the head goes
 * out as ONE statement over unnest()ed arrays on pgq's background lane,
 * one batch in flight at a time and at most one batch per
 * XS_REP_DB_FLUSH_MS (at once when a full batch waits, or after a quiet
 * interval).  Ingestion then costs one statement and one commit per
 * batch, never one per item, and never fills the queue that interactive
 * requests wait in.  A failed batch stays at the head and is retried; the
 * queue holds XS_REP_DB_QUEUE_MAX items; a batch the server refuses for
 * its data is halved until the bad item is alone, and that one item is
 * discarded: validation here makes that a last resort.
 *
 * Retractions (unblocks) travel in the same FIFO so that order holds: a
 * batch holding both runs as one statement whose DELETE only sees rows
 * stored before it (a data-modifying CTE works on the statement's
 * snapshot), and an append of the batch that a later retraction of the
 * batch takes back is not inserted at all.  Same result as running them
 * one by one, in one commit.
 *
 * A batch that committed but whose answer was lost with the connection
 * is sent again: its items are then stored twice.  The engine keeps one
 * user item per (subject, kind, source) at load, so only system items
 * can count twice, after a connection loss at the wrong moment.
 *
 * Reads (loads at start, pins) are pgq_query requests, in text format,
 * paged with keysets of XS_REP_DB_PAGE rows so that no statement holds a
 * connection for long.  They go out with pgq_query_rel, so pgq_free
 * (which drops requests without callbacks) frees their state through the
 * release function; pgq_close calls them with XS_EIO, which ends each load
 * with done(XS_EIO).
 */
#include "db/reputation.h"

#include "db/batchq.h"
#include "xmppd/xml/elem.h"

#include <errno.h>
#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQL ---- */

/*
 * $1 subjects, $2 kinds, $3 weights, $4 source kinds, $5 sources, $6
 * notes (NULL elements), $7 times (unix seconds).  WITH ORDINALITY and
 * the ORDER BY make ids follow the queue's order: the order in which the
 * engine saw the items, which the load replays.
 */
#define SQL_REP_APPEND \
    "INSERT INTO reputation_evidence (subject, kind, weight, source_kind," \
    " source, note, created_at)" \
    " SELECT s, k, w, sk, src, n, to_timestamp(t) FROM unnest($1::text[]," \
    " $2::text[], $3::float8[], $4::text[], $5::text[], $6::text[]," \
    " $7::float8[]) WITH ORDINALITY AS v(s, k, w, sk, src, n, t, o)" \
    " ORDER BY o"

/* SQL_REP_APPEND with retractions: $8 subjects, $9 kinds, $10 sources of
 * user items to delete.  The DELETE sees only rows stored before the
 * statement, never the ones it inserts. */
#define SQL_REP_WRITE \
    "WITH r AS (DELETE FROM reputation_evidence e USING unnest($8::text[]," \
    " $9::text[], $10::text[]) AS r(s, k, src) WHERE e.subject = r.s" \
    " AND e.kind = r.k AND e.source = r.src AND e.source_kind = 'user')" \
    " " SQL_REP_APPEND

/* $1 since (unix seconds), $2 the last id of the previous page (0
 * first), $3 the page size. */
#define SQL_REP_LOAD_EVIDENCE \
    "SELECT id, subject, kind, weight, source_kind, source," \
    " extract(epoch FROM created_at)::bigint, note" \
    " FROM reputation_evidence" \
    " WHERE created_at >= to_timestamp($1::float8) AND id > $2::bigint" \
    " ORDER BY id LIMIT $3::integer"

/* $1 before (unix seconds), $2 chunk size. */
#define SQL_REP_PRUNE \
    "DELETE FROM reputation_evidence WHERE id IN (SELECT id" \
    " FROM reputation_evidence WHERE created_at < to_timestamp($1::float8)" \
    " ORDER BY created_at, id LIMIT $2::integer)"

/* The columns of an account, in enum xs_act_counter order (as in
 * db/activity.c), then days_active and the mutual contacts. */
#define SQL_REP_ACCOUNT_COLS \
    "SELECT a.host, a.username, extract(epoch FROM a.created_at)::bigint," \
    " COALESCE(x.msgs_to_contacts, 0), COALESCE(x.msgs_to_strangers, 0)," \
    " COALESCE(x.msgs_from_contacts, 0)," \
    " COALESCE(x.msgs_from_strangers, 0), COALESCE(x.subs_sent, 0)," \
    " COALESCE(x.subs_accepted, 0), COALESCE(x.subs_refused, 0)," \
    " COALESCE(x.subs_received, 0), COALESCE(x.days_active, 0)," \
    " (SELECT count(*) FROM roster_items r WHERE r.host = a.host" \
    " AND r.username = a.username AND r.subscription = 'both')" \
    " FROM accounts a LEFT JOIN account_activity x" \
    " ON x.host = a.host AND x.username = a.username"

/* $1 hosts, $2 $3 the last (host, username) of the previous page ('', ''
 * first: no account has an empty host), $4 the page size.  The keyset
 * follows accounts_host_username_key. */
#define SQL_REP_LOAD_ACCOUNTS \
    SQL_REP_ACCOUNT_COLS \
    " WHERE a.host = ANY($1::text[]) AND (a.host, a.username) > ($2, $3)" \
    " ORDER BY a.host, a.username LIMIT $4::integer"

/* $1 host, $2 username. */
#define SQL_REP_LOAD_ACCOUNT \
    SQL_REP_ACCOUNT_COLS " WHERE a.host = $1 AND a.username = $2"

/* $1 subject, $2 score, $3 reason, $4 expires (NULL: never), $5 set_by,
 * $6 set_at. */
#define SQL_REP_PIN_SET \
    "INSERT INTO reputation_pins (subject, score, reason, expires_at," \
    " set_by, set_at) VALUES ($1, $2::integer, $3," \
    " to_timestamp($4::float8), $5, to_timestamp($6::float8))" \
    " ON CONFLICT (subject) DO UPDATE SET score = EXCLUDED.score," \
    " reason = EXCLUDED.reason, expires_at = EXCLUDED.expires_at," \
    " set_by = EXCLUDED.set_by, set_at = EXCLUDED.set_at"

/* $1 subject. */
#define SQL_REP_PIN_CLEAR \
    "DELETE FROM reputation_pins WHERE subject = $1 RETURNING 1"

/* $1 now (unix seconds). */
#define SQL_REP_PINS_EXPIRE \
    "DELETE FROM reputation_pins WHERE expires_at <= to_timestamp($1::float8)"

/* $1 now, $2 the last subject of the previous page ('' first), $3 the
 * page size. */
#define SQL_REP_LOAD_PINS \
    "SELECT subject, score, reason," \
    " extract(epoch FROM expires_at)::bigint, set_by," \
    " extract(epoch FROM set_at)::bigint FROM reputation_pins" \
    " WHERE (expires_at IS NULL OR expires_at > to_timestamp($1::float8))" \
    " AND subject > $2 ORDER BY subject LIMIT $3::integer"

#define REP_ACCOUNT_NFIELDS (4 + XS_ACT__COUNT + 1)
#define REP_EVIDENCE_NFIELDS 8
#define REP_PIN_NFIELDS 6
#define REP_PART_MAX 1023       /* bytes of a username or host (001) */
#define REP_NCOLS 10            /* of SQL_REP_WRITE; SQL_REP_APPEND: 7 */

/* ---- per-pool state ---- */

/* One queued write: an append (its copy) or a retraction. */
struct rep_item {
    char         *mem;          /* owned: subject, source, note, each
                                   NUL-terminated */
    const char   *subject;      /* borrowed from mem */
    const char   *source;       /* borrowed from mem */
    const char   *note;         /* borrowed from mem, or NULL */
    double        weight;
    int64_t       at;
    enum xs_evk   kind;
    enum xs_evsrc src;
    bool          is_retract;
};

enum rep_op_kind {
    REP_OP_PIN_SET, REP_OP_PIN_CLEAR, REP_OP_ACCOUNTS, REP_OP_ACCOUNT,
    REP_OP_EVIDENCE, REP_OP_PINS_EXPIRE, REP_OP_PINS, REP_OP_PRUNE,
};

/* A request of ours in pgq (its udata, freed by pgq_free if it drops the
 * request), possibly one of several pages. */
struct rep_op {
    enum rep_op_kind       kind;
    struct pgq            *q;           /* borrowed */
    xs_rep_db_done_cb     *done;
    xs_rep_db_account_fn  *account_fn;
    xs_rep_db_evidence_fn *evidence_fn;
    xs_rep_db_pin_fn      *pin_fn;
    void                  *udata;       /* borrowed, handed back */
    char                  *hosts;       /* owned: text[] literal, or NULL */
    char                  *after_a;     /* owned: keyset (host, subject) */
    char                  *after_b;     /* owned: keyset (username) */
    int64_t                after_id;    /* keyset (evidence id) */
    int64_t                t;           /* since / now / before */
    size_t                 skipped;     /* rows with names we do not know */
};

/* ---- checks ---- */

/* A text of 1..max bytes (0..max when may_be_empty), valid UTF-8:
 * PostgreSQL refuses anything else in a UTF8 database, and one refused
 * item must not hold up a batch. */
static bool
rep_text_ok(const char *s, size_t max, bool may_be_empty)
{
    size_t len;

    if (s == NULL)
        return false;
    len = strnlen(s, max + 1);
    return len <= max && (may_be_empty || len > 0)
        && xs_utf8_valid(s, len);
}

static bool
rep_part_ok(const char *s)
{
    return rep_text_ok(s, REP_PART_MAX, false);
}

/* ---- the queue's items ---- */

/* src: a struct rep_item whose texts are borrowed; the copy owns them,
 * in one block. */
static void
rep_item_copy(void *item, const void *src)
{
    struct rep_item *it = item;
    const struct rep_item *from = src;
    size_t ls = strlen(from->subject) + 1, lr = strlen(from->source) + 1;
    size_t ln = from->note != NULL ? strlen(from->note) + 1 : 0;
    char *m = xs_malloc(ls + lr + ln);

    *it = *from;
    memcpy(m, from->subject, ls);
    memcpy(m + ls, from->source, lr);
    if (from->note != NULL)
        memcpy(m + ls + lr, from->note, ln);
    it->mem = m;
    it->subject = m;
    it->source = m + ls;
    it->note = from->note != NULL ? m + ls + lr : NULL;
}

static void
rep_item_release(void *item)
{
    struct rep_item *it = item;

    xs_free(it->mem);
    it->mem = NULL;
}

/* Only appends count as evidence written. */
static bool
rep_item_counts(const void *item)
{
    return !((const struct rep_item *)item)->is_retract;
}

static void
rep_item_refused(const void *item, const PGresult *res)
{
    const struct rep_item *it = item;

    xs_log(XS_LOG_ERR, "reputation db: evidence %s about %s refused (%s), "
        "discarded: %s", xs_evk_name(it->kind), it->subject,
        pgq_sqlstate(res), PQresultErrorMessage(res));
}

/* ---- retractions inside a batch ---- */

/* The retractions of a batch, by (subject, kind, source). */
struct rep_set {
    const struct rep_item **slots;  /* owned array; items borrowed */
    size_t                  nslots; /* a power of two */
    unsigned char           key[crypto_shorthash_KEYBYTES];
};

static uint64_t
rep_triple_hash(const struct rep_set *s, const struct rep_item *it)
{
    unsigned char a[crypto_shorthash_BYTES], b[crypto_shorthash_BYTES];
    uint64_t ha, hb;

    /* Keyed: subjects come from users, the table must not degrade. */
    crypto_shorthash(a, (const unsigned char *)it->subject,
        strlen(it->subject), s->key);
    crypto_shorthash(b, (const unsigned char *)it->source,
        strlen(it->source), s->key);
    memcpy(&ha, a, sizeof(ha));
    memcpy(&hb, b, sizeof(hb));
    return ha ^ (hb * 0x9e3779b97f4a7c15u) ^ (uint64_t)it->kind;
}

static bool
rep_triple_eq(const struct rep_item *x, const struct rep_item *y)
{
    return x->kind == y->kind && strcmp(x->subject, y->subject) == 0
        && strcmp(x->source, y->source) == 0;
}

/* Adds it (a retraction) unless an equal one is there; with add false,
 * only says whether one is there. */
static bool
rep_set_has(struct rep_set *s, const struct rep_item *it, bool add)
{
    size_t j = (size_t)rep_triple_hash(s, it) & (s->nslots - 1);

    for (; s->slots[j] != NULL; j = (j + 1) & (s->nslots - 1)) {
        if (rep_triple_eq(s->slots[j], it))
            return true;
    }
    if (add)
        s->slots[j] = it;
    return false;
}

/* Marks skip[i] for the retractions among the k items (they go to
 * cols[7..9], once per triple) and for the appends a later retraction of
 * the batch takes back. */
static void
rep_build_retractions(const struct pgq_batchq *bq, size_t k, size_t nretract,
    struct pgq_array *cols, bool *skip)
{
    struct rep_set set;

    set.nslots = 16;
    while (set.nslots < nretract * 2)
        set.nslots *= 2;
    set.slots = xs_calloc(set.nslots, sizeof(set.slots[0]));
    /* A fresh key per batch: as good as one per pool, and nothing to keep
     * between batches. */
    randombytes_buf(set.key, sizeof(set.key));
    /* Backwards: an append is taken back by a LATER retraction. */
    for (size_t i = k; i-- > 0;) {
        const struct rep_item *it = pgq_batchq_at(bq, i);

        if (it->is_retract) {
            if (!rep_set_has(&set, it, true)) {
                pgq_array_text(&cols[7], it->subject);
                pgq_array_text(&cols[8], xs_evk_name(it->kind));
                pgq_array_text(&cols[9], it->source);
            }
            skip[i] = true;
        } else if (it->src == XS_EVSRC_USER) {
            skip[i] = rep_set_has(&set, it, false);
        }
    }
    xs_free(set.slots);
    sodium_memzero(set.key, sizeof(set.key));
}

/* ---- the batch ---- */

/* The k items at the head as one statement: SQL_REP_APPEND, or
 * SQL_REP_WRITE when retractions are among them. */
static const char *
rep_build(const struct pgq_batchq *bq, size_t k, struct pgq_array *cols,
    int *ncols)
{
    bool *skip = xs_calloc(k, sizeof(bool));
    size_t nretract = 0;

    for (size_t i = 0; i < k; i++) {
        const struct rep_item *it = pgq_batchq_at(bq, i);

        nretract += it->is_retract ? 1 : 0;
    }
    if (nretract > 0)
        rep_build_retractions(bq, k, nretract, cols, skip);
    for (size_t i = 0; i < k; i++) {
        const struct rep_item *it = pgq_batchq_at(bq, i);

        if (skip[i])
            continue;
        pgq_array_text(&cols[0], it->subject);
        pgq_array_text(&cols[1], xs_evk_name(it->kind));
        pgq_array_double(&cols[2], it->weight);
        pgq_array_text(&cols[3], xs_evsrc_name(it->src));
        pgq_array_text(&cols[4], it->source);
        pgq_array_text(&cols[5], it->note);
        pgq_array_int(&cols[6], it->at);
    }
    xs_free(skip);
    *ncols = nretract > 0 ? REP_NCOLS : 7;
    return nretract > 0 ? SQL_REP_WRITE : SQL_REP_APPEND;
}

/* Its address names the evidence queue on every pool. */
static const struct pgq_batchq_def rep_batchq = {
    .name = "reputation db",
    .items = "evidence writes",
    .item_size = sizeof(struct rep_item),
    .batch_max = XS_REP_DB_BATCH_MAX,
    .queue_max = XS_REP_DB_QUEUE_MAX,
    .flush_ms = XS_REP_DB_FLUSH_MS,
    .copy = rep_item_copy,
    .release = rep_item_release,
    .build = rep_build,
    .counts = rep_item_counts,
    .refused = rep_item_refused,
};

xs_rc
xs_rep_db_append(struct pgq *q, const struct xs_evidence *ev)
{
    struct rep_item it;

    if (q == NULL || ev == NULL || xs_evk_name(ev->kind) == NULL
        || xs_evsrc_name(ev->src) == NULL || !isfinite(ev->weight)
        || !rep_text_ok(ev->subject, XS_REP_DB_TEXT_MAX, false)
        || !rep_text_ok(ev->source, XS_REP_DB_TEXT_MAX, false)
        || (ev->note != NULL
            && !rep_text_ok(ev->note, XS_REP_DB_NOTE_MAX, true)))
        return XS_EINVAL;
    memset(&it, 0, sizeof(it));
    it.subject = ev->subject;
    it.source = ev->source;
    it.note = ev->note;
    it.weight = ev->weight;
    it.at = ev->at;
    it.kind = ev->kind;
    it.src = ev->src;
    return pgq_batchq_add(q, &rep_batchq, &it, 0);
}

xs_rc
xs_rep_db_retract(struct pgq *q, const char *subject, enum xs_evk kind,
    const char *source)
{
    struct rep_item it;

    if (q == NULL || xs_evk_name(kind) == NULL
        || !rep_text_ok(subject, XS_REP_DB_TEXT_MAX, false)
        || !rep_text_ok(source, XS_REP_DB_TEXT_MAX, false))
        return XS_EINVAL;
    memset(&it, 0, sizeof(it));
    it.subject = subject;
    it.source = source;
    it.kind = kind;
    it.src = XS_EVSRC_USER;
    it.is_retract = true;
    return pgq_batchq_add(q, &rep_batchq, &it, 0);
}

void
xs_rep_db_flush_soon(struct pgq *q)
{
    pgq_batchq_flush_soon(q, &rep_batchq);
}

void
xs_rep_db_stats(const struct pgq *q, struct pgq_batchq_stats *out)
{
    pgq_batchq_stats(q, &rep_batchq, out);
}

/* ---- requests and their results ---- */

static void
rep_op_free(struct rep_op *op)
{
    xs_free(op->hosts);
    xs_free(op->after_a);
    xs_free(op->after_b);
    xs_free(op);
}

/* pgq_free dropped the op's request: nothing else holds it. */
static void
rep_op_release(void *udata)
{
    rep_op_free(udata);
}

static bool
rep_double(const PGresult *res, int row, int col, double *out)
{
    const char *s = PQgetvalue(res, row, col);
    char *end;

    if (PQgetisnull(res, row, col))
        return false;
    errno = 0;
    *out = strtod(s, &end);
    return errno == 0 && end != s && *end == '\0' && isfinite(*out);
}

/* The page size as a parameter: "10000". */
#define REP_STR(x) #x
#define REP_XSTR(x) REP_STR(x)
#define REP_PAGE_PARAM REP_XSTR(XS_REP_DB_PAGE)

static void rep_on_result(xs_rc rc, const PGresult *res, void *udata);

/* Send the op's (next) request. */
static xs_rc
rep_send(struct rep_op *op, const char *sql, int nparams,
    const char *const *params)
{
    return pgq_query_rel(op->q, sql, nparams, params, rep_on_result,
        rep_op_release, op);
}

static void
rep_set_after(char **slot, const char *v)
{
    xs_free(*slot);
    *slot = xs_strdup(v);
}

static xs_rc
rep_next_page(struct rep_op *op)
{
    char t[24], id[24];
    const char *p[4];

    snprintf(t, sizeof(t), "%" PRId64, op->t);          /* cannot truncate */
    snprintf(id, sizeof(id), "%" PRId64, op->after_id);
    switch (op->kind) {
    case REP_OP_ACCOUNTS:
        p[0] = op->hosts;
        p[1] = op->after_a;
        p[2] = op->after_b;
        p[3] = REP_PAGE_PARAM;
        return rep_send(op, SQL_REP_LOAD_ACCOUNTS, 4, p);
    case REP_OP_EVIDENCE:
        p[0] = t;
        p[1] = id;
        p[2] = REP_PAGE_PARAM;
        return rep_send(op, SQL_REP_LOAD_EVIDENCE, 3, p);
    case REP_OP_PINS_EXPIRE:
        p[0] = t;
        return rep_send(op, SQL_REP_PINS_EXPIRE, 1, p);
    case REP_OP_PINS:
        p[0] = t;
        p[1] = op->after_a;
        p[2] = REP_PAGE_PARAM;
        return rep_send(op, SQL_REP_LOAD_PINS, 3, p);
    case REP_OP_PRUNE:
        p[0] = t;
        p[1] = REP_PAGE_PARAM;
        return rep_send(op, SQL_REP_PRUNE, 2, p);
    default:
        xs_assert(false);       /* not a paged request */
        return XS_EINVAL;
    }
}

/* One account row to the callback; false when the row is malformed. */
static bool
rep_account_row(const struct rep_op *op, const PGresult *res, int i)
{
    struct xs_rep_db_account a;
    const char *host = PQgetvalue(res, i, 0);
    const char *user = PQgetvalue(res, i, 1);
    char bare[2 * REP_PART_MAX + 2];
    int64_t v;
    int n;

    memset(&a, 0, sizeof(a));
    n = snprintf(bare, sizeof(bare), "%s@%s", user, host);
    if (n < 0 || (size_t)n >= sizeof(bare) || !pgq_get_int64(res, i, 2, &v))
        return false;
    a.bare = bare;
    a.created_at = v;
    for (int c = 0; c < XS_ACT__COUNT; c++) {
        if (!pgq_get_int64(res, i, 3 + c, &v) || v < 0)
            return false;
        a.counts[c] = (uint64_t)v;
    }
    if (!pgq_get_int64(res, i, 3 + XS_ACT__COUNT, &v) || v < 0 || v > UINT32_MAX)
        return false;
    a.days_active = (uint32_t)v;
    if (!pgq_get_int64(res, i, 4 + XS_ACT__COUNT, &v) || v < 0 || v > UINT32_MAX)
        return false;
    a.mutual = (uint32_t)v;
    op->account_fn(&a, op->udata);
    return true;
}

/* One evidence row; false when malformed.  A kind or source this binary
 * does not know (a newer one wrote it) is skipped and counted. */
static bool
rep_evidence_row(struct rep_op *op, const PGresult *res, int i)
{
    struct xs_evidence ev;

    memset(&ev, 0, sizeof(ev));
    if (!pgq_get_int64(res, i, 0, &ev.id) || !rep_double(res, i, 3, &ev.weight)
        || !pgq_get_int64(res, i, 6, &ev.at))
        return false;
    op->after_id = ev.id;
    if (xs_evk_from_name(PQgetvalue(res, i, 2), &ev.kind) != XS_OK
        || xs_evsrc_from_name(PQgetvalue(res, i, 4), &ev.src) != XS_OK) {
        op->skipped++;
        return true;
    }
    ev.subject = PQgetvalue(res, i, 1);
    ev.source = PQgetvalue(res, i, 5);
    ev.note = PQgetisnull(res, i, 7) ? NULL : PQgetvalue(res, i, 7);
    op->evidence_fn(&ev, op->udata);
    return true;
}

static bool
rep_pin_row(const struct rep_op *op, const PGresult *res, int i)
{
    int64_t score, expires = 0, set_at;

    if (!pgq_get_int64(res, i, 1, &score) || score < -100 || score > 100
        || (!PQgetisnull(res, i, 3) && !pgq_get_int64(res, i, 3, &expires))
        || !pgq_get_int64(res, i, 5, &set_at))
        return false;
    op->pin_fn(PQgetvalue(res, i, 0), (int)score, PQgetvalue(res, i, 2),
        expires, PQgetvalue(res, i, 4), set_at, op->udata);
    return true;
}

/* What a page of a load says. */
enum rep_page {
    REP_PAGE_MORE,          /* the next request is out */
    REP_PAGE_LAST,          /* finished: done(XS_OK) */
    REP_PAGE_NONE,          /* no such account: done(XS_ENOTFOUND) */
    REP_PAGE_FAIL,          /* a malformed row, or the next request was
                               refused (XS_ELIMIT, pool closed) */
};

static enum rep_page
rep_page_next(struct rep_op *op)
{
    return rep_next_page(op) == XS_OK ? REP_PAGE_MORE : REP_PAGE_FAIL;
}

/* A page came back: rows to the callback, then the next page. */
static enum rep_page
rep_on_page(struct rep_op *op, const PGresult *res)
{
    int nfields = op->kind == REP_OP_EVIDENCE ? REP_EVIDENCE_NFIELDS
        : op->kind == REP_OP_PINS ? REP_PIN_NFIELDS : REP_ACCOUNT_NFIELDS;
    int ntuples = PQntuples(res);

    if (op->kind == REP_OP_PINS_EXPIRE) {
        op->kind = REP_OP_PINS;
        return rep_page_next(op);
    }
    if (op->kind == REP_OP_PRUNE) {
        /* "DELETE n": a full chunk may leave more behind. */
        int64_t n = 0;

        if (!pgq_text_int64(PQcmdTuples((PGresult *)res), &n))
            return REP_PAGE_FAIL;
        return n < XS_REP_DB_PAGE ? REP_PAGE_LAST : rep_page_next(op);
    }
    if (PQnfields(res) != nfields)
        return REP_PAGE_FAIL;
    for (int i = 0; i < ntuples; i++) {
        bool ok;

        switch (op->kind) {
        case REP_OP_ACCOUNTS:
        case REP_OP_ACCOUNT:
            ok = rep_account_row(op, res, i);
            break;
        case REP_OP_EVIDENCE:
            ok = rep_evidence_row(op, res, i);
            break;
        default:
            ok = rep_pin_row(op, res, i);
            break;
        }
        if (!ok) {
            xs_log(XS_LOG_ERR, "reputation db: malformed row in a load");
            return REP_PAGE_FAIL;
        }
    }
    if (op->kind == REP_OP_ACCOUNT)
        return ntuples == 0 ? REP_PAGE_NONE : REP_PAGE_LAST;
    if (ntuples < XS_REP_DB_PAGE)
        return REP_PAGE_LAST;
    if (op->kind == REP_OP_ACCOUNTS) {
        rep_set_after(&op->after_a, PQgetvalue(res, ntuples - 1, 0));
        rep_set_after(&op->after_b, PQgetvalue(res, ntuples - 1, 1));
    } else if (op->kind == REP_OP_PINS) {
        rep_set_after(&op->after_a, PQgetvalue(res, ntuples - 1, 0));
    }
    return rep_page_next(op);
}

/* Every request of this file comes back here. */
static void
rep_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    static const xs_rc page_rc[] = {
        [REP_PAGE_LAST] = XS_OK,
        [REP_PAGE_NONE] = XS_ENOTFOUND,
        [REP_PAGE_FAIL] = XS_EIO,
    };
    struct rep_op *op = udata;
    enum rep_page pg;

    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* no statement here can clash */
    if (rc == XS_OK) {
        switch (op->kind) {
        case REP_OP_PIN_SET:
            break;
        case REP_OP_PIN_CLEAR:
            if (PQntuples(res) == 0)
                rc = XS_ENOTFOUND;
            break;
        default:
            if ((pg = rep_on_page(op, res)) == REP_PAGE_MORE)
                return;         /* op is out again */
            rc = page_rc[pg];
            break;
        }
    } else if (res != NULL) {
        xs_log(XS_LOG_WARN, "reputation db: request failed: %s",
            PQresultErrorMessage(res));
    }
    if (op->skipped > 0)
        xs_log(XS_LOG_WARN, "reputation db: %zu evidence items of unknown "
            "kinds or sources skipped (written by a newer xmppd?)",
            op->skipped);
    op->done(rc, op->udata);
    rep_op_free(op);
}

/*
 * A new request like tmpl (its owned strings are handed over: freed here
 * on failure) on q, started with sql, or with its first page when sql is
 * NULL.
 */
static xs_rc
rep_start(struct pgq *q, const struct rep_op *tmpl, const char *sql,
    int nparams, const char *const *params)
{
    struct rep_op *op = xs_calloc(1, sizeof(*op));
    xs_rc rc;

    *op = *tmpl;
    op->q = q;
    if (q == NULL || op->done == NULL)
        rc = XS_EINVAL;
    else
        rc = sql != NULL ? rep_send(op, sql, nparams, params)
            : rep_next_page(op);
    if (rc != XS_OK)
        rep_op_free(op);
    return rc;
}

/* ---- pins ---- */

xs_rc
xs_rep_db_pin_set(struct pgq *q, const char *subject, int score,
    const char *reason, int64_t expires, const char *set_by, int64_t set_at,
    xs_rep_db_done_cb *cb, void *udata)
{
    struct rep_op op = { .kind = REP_OP_PIN_SET, .done = cb, .udata = udata };
    char sc[16], ex[24], at[24];
    const char *p[6];

    if (score < -100 || score > 100 || expires < 0
        || !rep_text_ok(subject, XS_REP_DB_TEXT_MAX, false)
        || !rep_text_ok(reason, XS_REP_DB_NOTE_MAX, true)
        || !rep_text_ok(set_by, XS_REP_DB_TEXT_MAX, false))
        return XS_EINVAL;
    snprintf(sc, sizeof(sc), "%d", score);      /* cannot truncate */
    snprintf(ex, sizeof(ex), "%" PRId64, expires);
    snprintf(at, sizeof(at), "%" PRId64, set_at);
    p[0] = subject;
    p[1] = sc;
    p[2] = reason;
    p[3] = expires > 0 ? ex : NULL;
    p[4] = set_by;
    p[5] = at;
    return rep_start(q, &op, SQL_REP_PIN_SET, 6, p);
}

xs_rc
xs_rep_db_pin_clear(struct pgq *q, const char *subject,
    xs_rep_db_done_cb *cb, void *udata)
{
    struct rep_op op = {
        .kind = REP_OP_PIN_CLEAR, .done = cb, .udata = udata,
    };
    const char *p[1] = { subject };

    if (!rep_text_ok(subject, XS_REP_DB_TEXT_MAX, false))
        return XS_EINVAL;
    return rep_start(q, &op, SQL_REP_PIN_CLEAR, 1, p);
}

/* ---- loads ---- */

xs_rc
xs_rep_db_load_accounts(struct pgq *q, const char *const *hosts,
    size_t nhosts, xs_rep_db_account_fn *row, xs_rep_db_done_cb *done,
    void *udata)
{
    struct rep_op op = {
        .kind = REP_OP_ACCOUNTS, .account_fn = row, .done = done,
        .udata = udata,
    };
    struct pgq_array lit = PGQ_ARRAY_INIT;

    if (hosts == NULL || nhosts == 0 || row == NULL)
        return XS_EINVAL;
    for (size_t i = 0; i < nhosts; i++) {
        if (!rep_part_ok(hosts[i]))
            return XS_EINVAL;
    }
    for (size_t i = 0; i < nhosts; i++)
        pgq_array_text(&lit, hosts[i]);
    op.hosts = pgq_array_take(&lit);
    op.after_a = xs_strdup("");
    op.after_b = xs_strdup("");
    return rep_start(q, &op, NULL, 0, NULL);
}

xs_rc
xs_rep_db_load_account(struct pgq *q, const char *user, const char *host,
    xs_rep_db_account_fn *row, xs_rep_db_done_cb *done, void *udata)
{
    struct rep_op op = {
        .kind = REP_OP_ACCOUNT, .account_fn = row, .done = done,
        .udata = udata,
    };
    const char *p[2] = { host, user };

    if (row == NULL || !rep_part_ok(user) || !rep_part_ok(host))
        return XS_EINVAL;
    return rep_start(q, &op, SQL_REP_LOAD_ACCOUNT, 2, p);
}

xs_rc
xs_rep_db_load_evidence(struct pgq *q, int64_t since,
    xs_rep_db_evidence_fn *row, xs_rep_db_done_cb *done, void *udata)
{
    struct rep_op op = {
        .kind = REP_OP_EVIDENCE, .evidence_fn = row, .t = since,
        .done = done, .udata = udata,
    };

    return row == NULL ? XS_EINVAL : rep_start(q, &op, NULL, 0, NULL);
}

xs_rc
xs_rep_db_load_pins(struct pgq *q, int64_t now, xs_rep_db_pin_fn *row,
    xs_rep_db_done_cb *done, void *udata)
{
    /* The expired ones go first; the pages then skip them anyway. */
    struct rep_op op = {
        .kind = REP_OP_PINS_EXPIRE, .pin_fn = row, .t = now, .done = done,
        .udata = udata,
    };

    if (row == NULL)
        return XS_EINVAL;
    op.after_a = xs_strdup("");
    return rep_start(q, &op, NULL, 0, NULL);
}

xs_rc
xs_rep_db_prune(struct pgq *q, int64_t before, xs_rep_db_done_cb *done,
    void *udata)
{
    struct rep_op op = {
        .kind = REP_OP_PRUNE, .t = before, .done = done, .udata = udata,
    };

    return rep_start(q, &op, NULL, 0, NULL);
}
