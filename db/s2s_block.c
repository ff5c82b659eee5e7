/*
 * s2s_block.c: s2s_blocked_domains rows on pgq.
 */
#include "db/s2s_block.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* $1 the last domain of the previous page ("" first), $2 the page size. */
#define SQL_S2S_BLOCK_PAGE \
    "SELECT domain, reason, extract(epoch FROM created_at)::bigint," \
    " created_by FROM s2s_blocked_domains WHERE domain > $1" \
    " ORDER BY domain LIMIT $2::integer"

/* $1 domain, $2 reason, $3 created_by.  A second block of a domain keeps
 * the date of the first: "blocked since". */
#define SQL_S2S_BLOCK_PUT \
    "INSERT INTO s2s_blocked_domains (domain, reason, created_by)" \
    " VALUES ($1, $2, $3) ON CONFLICT (domain) DO UPDATE" \
    " SET reason = EXCLUDED.reason, created_by = EXCLUDED.created_by" \
    " RETURNING extract(epoch FROM created_at)::bigint"

/* $1 domain. */
#define SQL_S2S_BLOCK_DEL \
    "DELETE FROM s2s_blocked_domains WHERE domain = $1 RETURNING 1"

#define S2SB_PAGE_MAX 100000

enum s2sb_kind { S2SB_PAGE, S2SB_PUT, S2SB_DEL };

/* What travels through pgq as udata. */
struct s2sb_op {
    enum s2sb_kind        kind;
    xs_s2s_block_page_cb *page_cb;
    xs_s2s_block_put_cb  *put_cb;
    xs_s2s_block_del_cb  *del_cb;
    void                 *udata;    /* borrowed, handed back */
};

static void
s2sb_on_page(xs_rc rc, const PGresult *res, struct s2sb_op *op)
{
    struct xs_s2s_block_row *rows = NULL;
    size_t n = 0;

    if (rc == XS_OK && PQnfields(res) != 4)
        rc = XS_EIO;
    if (rc == XS_OK) {
        n = (size_t)PQntuples(res);
        rows = xs_calloc(n + 1, sizeof(rows[0]));
        for (size_t i = 0; i < n && rc == XS_OK; i++) {
            rows[i].domain = PQgetvalue(res, (int)i, 0);
            rows[i].reason = PQgetvalue(res, (int)i, 1);
            rows[i].created_by = PQgetvalue(res, (int)i, 3);
            if (!pgq_text_int64(PQgetvalue(res, (int)i, 2),
                &rows[i].created_at))
                rc = XS_EIO;
        }
        if (rc != XS_OK)
            n = 0;
    }
    op->page_cb(rc, rows, n, op->udata);
    xs_free(rows);
}

static void
s2sb_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct s2sb_op *op = udata;
    int64_t created_at = 0;

    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* ON CONFLICT: no violation can come */
    switch (op->kind) {
    case S2SB_PAGE:
        s2sb_on_page(rc, res, op);
        break;
    case S2SB_PUT:
        if (rc == XS_OK && (PQntuples(res) != 1 || PQnfields(res) != 1 ||
            !pgq_text_int64(PQgetvalue(res, 0, 0), &created_at)))
            rc = XS_EIO;
        op->put_cb(rc, created_at, op->udata);
        break;
    case S2SB_DEL:
        op->del_cb(rc, rc == XS_OK && PQntuples(res) > 0, op->udata);
        break;
    }
    xs_free(op);
}

static xs_rc
s2sb_submit(struct pgq *q, const char *sql, int nparams,
    const char *const *params, struct s2sb_op *tmpl)
{
    struct s2sb_op *op = xs_calloc(1, sizeof(*op));
    xs_rc rc;

    *op = *tmpl;
    rc = pgq_query(q, sql, nparams, params, s2sb_on_result, op);
    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

static bool
s2sb_domain_ok(const char *d)
{
    return d != NULL && d[0] != '\0' &&
        strnlen(d, XS_S2S_BLOCK_DOMAIN_MAX + 1) <= XS_S2S_BLOCK_DOMAIN_MAX;
}

xs_rc
xs_s2s_block_db_page(struct pgq *q, const char *after, size_t limit,
    xs_s2s_block_page_cb *cb, void *udata)
{
    struct s2sb_op op = { .kind = S2SB_PAGE, .page_cb = cb, .udata = udata };
    char lim[24];
    const char *params[2];

    if (q == NULL || after == NULL || cb == NULL || limit == 0 ||
        limit > S2SB_PAGE_MAX)
        return XS_EINVAL;
    snprintf(lim, sizeof(lim), "%zu", limit);   /* cannot truncate */
    params[0] = after;
    params[1] = lim;
    return s2sb_submit(q, SQL_S2S_BLOCK_PAGE, 2, params, &op);
}

xs_rc
xs_s2s_block_db_put(struct pgq *q, const char *domain, const char *reason,
    const char *created_by, xs_s2s_block_put_cb *cb, void *udata)
{
    struct s2sb_op op = { .kind = S2SB_PUT, .put_cb = cb, .udata = udata };
    const char *params[3] = { domain, reason, created_by };

    if (q == NULL || cb == NULL || !s2sb_domain_ok(domain) ||
        reason == NULL ||
        strnlen(reason, XS_S2S_BLOCK_REASON_MAX + 1) >
        XS_S2S_BLOCK_REASON_MAX ||
        created_by == NULL || created_by[0] == '\0')
        return XS_EINVAL;
    return s2sb_submit(q, SQL_S2S_BLOCK_PUT, 3, params, &op);
}

xs_rc
xs_s2s_block_db_del(struct pgq *q, const char *domain,
    xs_s2s_block_del_cb *cb, void *udata)
{
    struct s2sb_op op = { .kind = S2SB_DEL, .del_cb = cb, .udata = udata };
    const char *params[1] = { domain };

    if (q == NULL || cb == NULL || !s2sb_domain_ok(domain))
        return XS_EINVAL;
    return s2sb_submit(q, SQL_S2S_BLOCK_DEL, 1, params, &op);
}
