/*
 * vcard.c: vCard rows on pgq.  The search columns are lowercased by
 * PostgreSQL's lower(), on write and on the searched value alike, so the
 * two sides always agree on what "ignoring case" means.
 */
#include "db/vcard.h"

#include <stdio.h>
#include <string.h>

#define VCARD_PART_MAX 1023             /* bytes, RFC 7622 section 3 */

/* The account must exist: INSERT ... SELECT FROM accounts touches no row
 * otherwise, which the callback reports as XS_ENOTFOUND. */
#define SQL_VCARD_SET \
    "INSERT INTO vcards (host, username, vcard, fn, family, given, " \
    "nickname, email, locality, updated_at) " \
    "SELECT a.host, a.username, $3, lower($4), lower($5), lower($6), " \
    "lower($7), lower($8), lower($9), now() " \
    "FROM accounts a WHERE a.host = $1 AND a.username = $2 " \
    "ON CONFLICT (host, username) DO UPDATE SET vcard = EXCLUDED.vcard, " \
    "fn = EXCLUDED.fn, family = EXCLUDED.family, given = EXCLUDED.given, " \
    "nickname = EXCLUDED.nickname, email = EXCLUDED.email, " \
    "locality = EXCLUDED.locality, updated_at = now()"

/* One row per existing account; vcard NULL when it has none. */
#define SQL_VCARD_GET \
    "SELECT v.vcard FROM accounts a LEFT JOIN vcards v " \
    "ON v.host = a.host AND v.username = a.username " \
    "WHERE a.host = $1 AND a.username = $2"

/* A NULL parameter leaves its column out; $9 NULL means no LIMIT. */
#define SQL_VCARD_SEARCH \
    "SELECT username, vcard FROM vcards WHERE host = $1 " \
    "AND ($2::text IS NULL OR username LIKE lower($2) ESCAPE '\\') " \
    "AND ($3::text IS NULL OR fn LIKE lower($3) ESCAPE '\\') " \
    "AND ($4::text IS NULL OR family LIKE lower($4) ESCAPE '\\') " \
    "AND ($5::text IS NULL OR given LIKE lower($5) ESCAPE '\\') " \
    "AND ($6::text IS NULL OR nickname LIKE lower($6) ESCAPE '\\') " \
    "AND ($7::text IS NULL OR email LIKE lower($7) ESCAPE '\\') " \
    "AND ($8::text IS NULL OR locality LIKE lower($8) ESCAPE '\\') " \
    "ORDER BY username LIMIT $9::bigint"

enum vcard_kind { VCARD_DONE, VCARD_GET, VCARD_SEARCH };

struct vcard_op {
    enum vcard_kind     kind;
    xs_vcard_done_cb   *done_cb;
    xs_vcard_get_cb    *get_cb;
    xs_vcard_search_cb *search_cb;
    void               *udata;      /* borrowed, handed back */
};

static bool
vcard_part_ok(const char *s)
{
    return s != NULL && s[0] != '\0'
        && strnlen(s, VCARD_PART_MAX + 1) <= VCARD_PART_MAX;
}

static void
vcard_on_search(xs_rc rc, const PGresult *res, struct vcard_op *op)
{
    struct xs_vcard_hit *hits = NULL;
    size_t n = 0;

    if (rc == XS_OK && PQnfields(res) != 2)
        rc = XS_EIO;
    if (rc != XS_OK) {
        op->search_cb(XS_EIO, NULL, 0, op->udata);
        return;
    }
    n = (size_t)PQntuples(res);
    /* Pointers into res: valid during the callback, as promised. */
    hits = xs_calloc(n + 1, sizeof(hits[0]));
    for (size_t i = 0; i < n; i++) {
        hits[i].user = PQgetvalue(res, (int)i, 0);
        hits[i].vcard = PQgetvalue(res, (int)i, 1);
    }
    op->search_cb(XS_OK, hits, n, op->udata);
    xs_free(hits);
}

static void
vcard_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct vcard_op *op = udata;

    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* no unique key can clash here */
    switch (op->kind) {
    case VCARD_DONE:
        /* "INSERT 0 0": the SELECT found no account. */
        if (rc == XS_OK && strcmp(PQcmdTuples((PGresult *)res), "0") == 0)
            rc = XS_ENOTFOUND;
        op->done_cb(rc, op->udata);
        break;
    case VCARD_GET:
        if (rc == XS_OK && (PQnfields(res) != 1 || PQntuples(res) > 1))
            rc = XS_EIO;
        if (rc == XS_OK && PQntuples(res) == 0)
            rc = XS_ENOTFOUND;
        if (rc != XS_OK)
            op->get_cb(rc, NULL, op->udata);
        else
            op->get_cb(XS_OK, PQgetisnull(res, 0, 0) ? NULL
                : PQgetvalue(res, 0, 0), op->udata);
        break;
    case VCARD_SEARCH:
        vcard_on_search(rc, res, op);
        break;
    }
    xs_free(op);
}

static xs_rc
vcard_query(struct pgq *q, const char *sql, int nparams,
    const char *const *params, struct vcard_op *op)
{
    xs_rc rc = pgq_query(q, sql, nparams, params, vcard_on_result, op);

    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

xs_rc
xs_vcard_db_get(struct pgq *q, const char *user, const char *host,
    xs_vcard_get_cb *cb, void *udata)
{
    const char *params[2] = { host, user };
    struct vcard_op *op;

    if (q == NULL || cb == NULL || !vcard_part_ok(user) ||
        !vcard_part_ok(host))
        return XS_EINVAL;
    op = xs_calloc(1, sizeof(*op));
    op->kind = VCARD_GET;
    op->get_cb = cb;
    op->udata = udata;
    return vcard_query(q, SQL_VCARD_GET, 2, params, op);
}

xs_rc
xs_vcard_db_set(struct pgq *q, const char *user, const char *host,
    const char *vcard, const struct xs_vcard_fields *f,
    xs_vcard_done_cb *cb, void *udata)
{
    const char *params[9];
    struct vcard_op *op;

    if (q == NULL || cb == NULL || vcard == NULL || f == NULL ||
        !vcard_part_ok(user) || !vcard_part_ok(host))
        return XS_EINVAL;
    params[0] = host;
    params[1] = user;
    params[2] = vcard;
    params[3] = f->fn != NULL ? f->fn : "";
    params[4] = f->family != NULL ? f->family : "";
    params[5] = f->given != NULL ? f->given : "";
    params[6] = f->nickname != NULL ? f->nickname : "";
    params[7] = f->email != NULL ? f->email : "";
    params[8] = f->locality != NULL ? f->locality : "";
    op = xs_calloc(1, sizeof(*op));
    op->kind = VCARD_DONE;
    op->done_cb = cb;
    op->udata = udata;
    return vcard_query(q, SQL_VCARD_SET, 9, params, op);
}

char *
xs_vcard_like_contains(const char *s)
{
    size_t n = strlen(s);
    char *out = xs_malloc(2 * n + 3);
    size_t j = 0;

    out[j++] = '%';
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '%' || s[i] == '_')
            out[j++] = '\\';
        out[j++] = s[i];
    }
    out[j++] = '%';
    out[j] = '\0';
    return out;
}

xs_rc
xs_vcard_db_search(struct pgq *q, const char *host,
    const struct xs_vcard_query *qry, size_t limit, xs_vcard_search_cb *cb,
    void *udata)
{
    const char *in[7];
    char *pat[7] = { NULL };
    const char *params[9];
    char limit_s[24];
    struct vcard_op *op;
    bool any = false;
    xs_rc rc;
    int n;

    if (q == NULL || cb == NULL || qry == NULL || !vcard_part_ok(host))
        return XS_EINVAL;
    in[0] = qry->user;
    in[1] = qry->fn;
    in[2] = qry->family;
    in[3] = qry->given;
    in[4] = qry->nickname;
    in[5] = qry->email;
    in[6] = qry->locality;
    params[0] = host;
    for (size_t i = 0; i < XS_ARRAY_LEN(in); i++) {
        if (in[i] != NULL) {
            pat[i] = xs_vcard_like_contains(in[i]);
            any = true;
        }
        params[i + 1] = pat[i];
    }
    n = snprintf(limit_s, sizeof(limit_s), "%zu", limit);
    xs_assert(n > 0 && (size_t)n < sizeof(limit_s));
    params[8] = limit > 0 ? limit_s : NULL;
    if (!any) {
        rc = XS_EINVAL;         /* never list the whole user base */
    } else {
        op = xs_calloc(1, sizeof(*op));
        op->kind = VCARD_SEARCH;
        op->search_cb = cb;
        op->udata = udata;
        rc = vcard_query(q, SQL_VCARD_SEARCH, 9, params, op);
    }
    for (size_t i = 0; i < XS_ARRAY_LEN(pat); i++)
        xs_free(pat[i]);
    return rc;
}
