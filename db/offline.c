/*
 * offline.c: offline_messages rows on pgq (XEP-0160 storage).
 *
 * Callers never see a PGresult: each operation decodes its result into
 * what its callback promises.  Every value travels as a parameter; the id
 * list of a delete is one text parameter in array syntax ("{1,2,3}").
 */
#include "db/offline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- SQL ---- */

/*
 * $1 host, $2 username, $3 sender (full JID), $4 stanza, $5 the cap,
 * $6..$9 the sender's block list forms.  One statement: it always returns
 * one row (account exists, messages queued (counted up to the cap),
 * sender blocked, rows inserted), so the caller learns why nothing was
 * stored.  The count stops at the cap: the index serves it, whatever the
 * queue's length.
 */
#define SQL_OFFLINE_STORE \
    "WITH acct AS (" \
    " SELECT host, username FROM accounts" \
    " WHERE host = $1 AND username = $2)," \
    " queued AS (" \
    " SELECT count(*) AS n FROM (SELECT 1 FROM offline_messages" \
    " WHERE host = $1 AND username = $2 LIMIT $5::bigint) AS q)," \
    " blocked AS (" \
    " SELECT EXISTS (SELECT 1 FROM blocklist" \
    " WHERE host = $1 AND username = $2" \
    " AND jid IN ($6, $7, $8, $9)) AS b)," \
    " ins AS (" \
    " INSERT INTO offline_messages (host, username, sender, stanza)" \
    " SELECT acct.host, acct.username, $3, $4 FROM acct, queued, blocked" \
    " WHERE queued.n < $5::bigint AND NOT blocked.b RETURNING id)" \
    " SELECT EXISTS (SELECT 1 FROM acct), (SELECT b FROM blocked)," \
    " (SELECT count(*) FROM ins)"

/*
 * $1 host, $2 username, $3 max rows, $4 max bytes: the oldest rows, while
 * the bytes before a row stay under $4 (so the first row always comes).
 */
#define SQL_OFFLINE_FETCH \
    "SELECT id, stanza FROM (" \
    " SELECT id, stanza, octet_length(stanza) AS len," \
    " sum(octet_length(stanza)) OVER (ORDER BY id) AS upto" \
    " FROM offline_messages WHERE host = $1 AND username = $2" \
    " ORDER BY id LIMIT $3::integer) AS b" \
    " WHERE upto - len < $4::bigint ORDER BY id"

/* $1 host, $2 username, $3 ids as a bigint array literal. */
#define SQL_OFFLINE_DELETE \
    "DELETE FROM offline_messages" \
    " WHERE host = $1 AND username = $2 AND id = ANY ($3::bigint[])"

/* $1 host, $2 username: no row when there is no such account. */
#define SQL_OFFLINE_COUNT \
    "SELECT (SELECT count(*) FROM offline_messages" \
    " WHERE host = $1 AND username = $2)" \
    " FROM accounts WHERE host = $1 AND username = $2"

/* ---- operations ---- */

#define OFF_PART_MAX 1023               /* bytes, RFC 7622 section 3 */

enum off_kind { OFF_STORE, OFF_FETCH, OFF_DONE, OFF_COUNT };

/* What travels through pgq as udata. */
struct off_op {
    enum off_kind        kind;
    xs_offline_store_cb *store_cb;
    xs_offline_fetch_cb *fetch_cb;
    xs_offline_done_cb  *done_cb;
    xs_offline_count_cb *count_cb;
    void                *udata;     /* borrowed, handed back */
};

static bool
off_part_ok(const char *s)
{
    return s != NULL && s[0] != '\0'
        && strnlen(s, OFF_PART_MAX + 1) <= OFF_PART_MAX;
}

static bool
off_bool(const PGresult *res, int col)
{
    return strcmp(PQgetvalue(res, 0, col), "t") == 0;
}

static xs_rc
off_decode_store(const PGresult *res, enum xs_offline_store_res *out)
{
    int64_t inserted;

    if (PQntuples(res) != 1 || PQnfields(res) != 3 ||
        !pgq_text_int64(PQgetvalue(res, 0, 2), &inserted))
        return XS_EIO;
    if (inserted == 1)
        *out = XS_OFFLINE_STORED;
    else if (!off_bool(res, 0))
        *out = XS_OFFLINE_NO_ACCOUNT;
    else if (off_bool(res, 1))
        *out = XS_OFFLINE_BLOCKED;
    else
        *out = XS_OFFLINE_FULL;
    return XS_OK;
}

static void
off_fetch_result(xs_rc rc, const PGresult *res, struct off_op *op)
{
    struct xs_offline_row *rows = NULL;
    size_t n = 0;

    if (rc == XS_OK && PQnfields(res) != 2)
        rc = XS_EIO;
    if (rc == XS_OK) {
        n = (size_t)PQntuples(res);
        rows = xs_calloc(n + 1, sizeof(rows[0]));
        for (size_t i = 0; i < n; i++) {
            if (!pgq_text_int64(PQgetvalue(res, (int)i, 0), &rows[i].id)) {
                rc = XS_EIO;
                break;
            }
            /* Pointers into res: valid for the callback, as promised. */
            rows[i].stanza = PQgetvalue(res, (int)i, 1);
            rows[i].len = (size_t)PQgetlength(res, (int)i, 1);
        }
    }
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "offline: fetch failed: %s", xs_rc_str(rc));
        rc = XS_EIO;
        n = 0;
        xs_free(rows);
        rows = NULL;
    }
    op->fetch_cb(rc, rows, n, op->udata);
    xs_free(rows);
}

static void
off_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct off_op *op = udata;

    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* no statement here inserts a unique key */
    switch (op->kind) {
    case OFF_STORE: {
        enum xs_offline_store_res r = XS_OFFLINE_NO_ACCOUNT;

        if (rc == XS_OK && (rc = off_decode_store(res, &r)) != XS_OK)
            xs_log(XS_LOG_ERR, "offline: unexpected store result");
        op->store_cb(rc, r, op->udata);
        break;
    }
    case OFF_FETCH:
        off_fetch_result(rc, res, op);
        break;
    case OFF_DONE:
        op->done_cb(rc, op->udata);
        break;
    case OFF_COUNT: {
        int64_t n = 0;

        if (rc == XS_OK) {
            if (PQntuples(res) == 0)
                rc = XS_ENOTFOUND;
            else if (PQntuples(res) != 1 || PQnfields(res) != 1 ||
                !pgq_text_int64(PQgetvalue(res, 0, 0), &n))
                rc = XS_EIO;
        }
        op->count_cb(rc, rc == XS_OK ? n : 0, op->udata);
        break;
    }
    }
    xs_free(op);
}

static xs_rc
off_submit(struct pgq *q, const char *sql, int nparams,
    const char *const *params, struct off_op *op)
{
    xs_rc rc = pgq_query(q, sql, nparams, params, off_on_result, op);

    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

static struct off_op *
off_op_new(enum off_kind kind, void *udata)
{
    struct off_op *op = xs_calloc(1, sizeof(*op));

    op->kind = kind;
    op->udata = udata;
    return op;
}

xs_rc
xs_offline_store(struct pgq *q, const struct xs_offline_msg *m,
    long long max, xs_offline_store_cb *cb, void *udata)
{
    const char *params[5 + XS_OFFLINE_SENDER_FORMS];
    char max_s[24];
    struct off_op *op;
    int len;

    if (q == NULL || cb == NULL || m == NULL || !off_part_ok(m->user) ||
        !off_part_ok(m->host) || m->sender == NULL || m->stanza == NULL ||
        max < 0)
        return XS_EINVAL;
    len = snprintf(max_s, sizeof(max_s), "%lld", max);
    if (len < 0 || (size_t)len >= sizeof(max_s))
        return XS_EINVAL;
    params[0] = m->host;
    params[1] = m->user;
    params[2] = m->sender;
    params[3] = m->stanza;
    params[4] = max_s;
    for (size_t i = 0; i < XS_OFFLINE_SENDER_FORMS; i++) {
        if (m->sender_forms[i] == NULL)
            return XS_EINVAL;
        params[5 + i] = m->sender_forms[i];
    }
    op = off_op_new(OFF_STORE, udata);
    op->store_cb = cb;
    return off_submit(q, SQL_OFFLINE_STORE, (int)XS_ARRAY_LEN(params),
        params, op);
}

xs_rc
xs_offline_fetch(struct pgq *q, const char *user, const char *host,
    size_t max_rows, size_t max_bytes, xs_offline_fetch_cb *cb, void *udata)
{
    char rows_s[24], bytes_s[24];
    const char *params[4] = { host, user, rows_s, bytes_s };
    struct off_op *op;
    int a, b;

    if (q == NULL || cb == NULL || !off_part_ok(user) || !off_part_ok(host)
        || max_rows == 0 || max_rows > INT32_MAX || max_bytes == 0)
        return XS_EINVAL;
    a = snprintf(rows_s, sizeof(rows_s), "%zu", max_rows);
    b = snprintf(bytes_s, sizeof(bytes_s), "%zu", max_bytes);
    if (a < 0 || (size_t)a >= sizeof(rows_s) || b < 0 ||
        (size_t)b >= sizeof(bytes_s))
        return XS_EINVAL;
    op = off_op_new(OFF_FETCH, udata);
    op->fetch_cb = cb;
    return off_submit(q, SQL_OFFLINE_FETCH, 4, params, op);
}

xs_rc
xs_offline_delete(struct pgq *q, const char *user, const char *host,
    const int64_t *ids, size_t n, xs_offline_done_cb *cb, void *udata)
{
    /* "{" + n * (20 digits, a sign and a comma) + "}" + NUL */
    size_t cap, used = 0;
    char *list;
    const char *params[3];
    struct off_op *op;
    xs_rc rc;

    if (q == NULL || cb == NULL || !off_part_ok(user) || !off_part_ok(host)
        || ids == NULL || n == 0 || n > XS_OFFLINE_DELETE_MAX)
        return XS_EINVAL;
    cap = n * 22 + 3;
    list = xs_malloc(cap);
    list[used++] = '{';
    for (size_t i = 0; i < n; i++) {
        int len = snprintf(list + used, cap - used, "%s%" PRId64,
            i > 0 ? "," : "", ids[i]);

        xs_assert(len > 0 && (size_t)len < cap - used);
        used += (size_t)len;
    }
    xs_assert(used + 2 <= cap);
    list[used++] = '}';
    list[used] = '\0';
    params[0] = host;
    params[1] = user;
    params[2] = list;
    op = off_op_new(OFF_DONE, udata);
    op->done_cb = cb;
    rc = off_submit(q, SQL_OFFLINE_DELETE, 3, params, op);  /* copied */
    xs_free(list);
    return rc;
}

xs_rc
xs_offline_count(struct pgq *q, const char *user, const char *host,
    xs_offline_count_cb *cb, void *udata)
{
    const char *params[2] = { host, user };
    struct off_op *op;

    if (q == NULL || cb == NULL || !off_part_ok(user) || !off_part_ok(host))
        return XS_EINVAL;
    op = off_op_new(OFF_COUNT, udata);
    op->count_cb = cb;
    return off_submit(q, SQL_OFFLINE_COUNT, 2, params, op);
}
