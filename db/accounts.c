/*
 * accounts.c: account rows <-> struct xs_account_creds, on pgq.
 *
 * Callers never see a PGresult: each operation decodes its result into
 * what its callback promises.  Keys travel as hex text (encode/decode in
 * the SQL), and every copy of them we make is wiped after use.
 */
#include "db/accounts.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/queries.h"

enum acct_kind { ACCT_DONE, ACCT_CREDS, ACCT_LIST };

/* What travels through pgq as udata. */
struct acct_op {
    enum acct_kind           kind;
    bool                     need_row;  /* 0 rows touched: XS_ENOTFOUND */
    xs_accounts_done_cb     *done_cb;
    xs_accounts_creds_cb    *creds_cb;
    xs_accounts_list_cb     *list_cb;
    void                    *udata;     /* borrowed, handed back */
};

/* Hex text of the credential columns, for the 10 parameters. */
struct acct_hex {
    char sha1_salt[XS_ACCOUNT_SALT_LEN * 2 + 1];
    char sha1_iter[16];
    char sha1_stored[20 * 2 + 1];
    char sha1_server[20 * 2 + 1];
    char sha256_salt[XS_ACCOUNT_SALT_LEN * 2 + 1];
    char sha256_iter[16];
    char sha256_stored[32 * 2 + 1];
    char sha256_server[32 * 2 + 1];
};

static bool
acct_part_ok(const char *s)
{
    return s != NULL && s[0] != '\0'
        && strnlen(s, XS_ACCOUNT_PART_MAX + 1) <= XS_ACCOUNT_PART_MAX;
}

static bool
acct_creds_ok(const struct xs_account_creds *c)
{
    return c != NULL && (c->sha1_iter != 0 || c->sha256_iter != 0)
        && c->sha1_iter <= INT32_MAX && c->sha256_iter <= INT32_MAX;
}

static void
acct_hex_iter(char *out, size_t outlen, uint32_t iter)
{
    int n = snprintf(out, outlen, "%" PRIu32, iter);

    xs_assert(n > 0 && (size_t)n < outlen);
}

/* Params 3..10 (index 2..9) from creds; an absent half is four NULLs. */
static void
acct_hex_fill(struct acct_hex *h, const struct xs_account_creds *c,
    const char *params[10])
{
    sodium_bin2hex(h->sha1_salt, sizeof(h->sha1_salt), c->sha1_salt,
        sizeof(c->sha1_salt));
    acct_hex_iter(h->sha1_iter, sizeof(h->sha1_iter), c->sha1_iter);
    sodium_bin2hex(h->sha1_stored, sizeof(h->sha1_stored), c->sha1_stored,
        sizeof(c->sha1_stored));
    sodium_bin2hex(h->sha1_server, sizeof(h->sha1_server), c->sha1_server,
        sizeof(c->sha1_server));
    sodium_bin2hex(h->sha256_salt, sizeof(h->sha256_salt), c->sha256_salt,
        sizeof(c->sha256_salt));
    acct_hex_iter(h->sha256_iter, sizeof(h->sha256_iter), c->sha256_iter);
    sodium_bin2hex(h->sha256_stored, sizeof(h->sha256_stored),
        c->sha256_stored, sizeof(c->sha256_stored));
    sodium_bin2hex(h->sha256_server, sizeof(h->sha256_server),
        c->sha256_server, sizeof(c->sha256_server));

    params[2] = c->sha1_iter != 0 ? h->sha1_salt : NULL;
    params[3] = c->sha1_iter != 0 ? h->sha1_iter : NULL;
    params[4] = c->sha1_iter != 0 ? h->sha1_stored : NULL;
    params[5] = c->sha1_iter != 0 ? h->sha1_server : NULL;
    params[6] = c->sha256_iter != 0 ? h->sha256_salt : NULL;
    params[7] = c->sha256_iter != 0 ? h->sha256_iter : NULL;
    params[8] = c->sha256_iter != 0 ? h->sha256_stored : NULL;
    params[9] = c->sha256_iter != 0 ? h->sha256_server : NULL;
}

/* Exactly outlen bytes of hex, or false. */
static bool
acct_unhex(const PGresult *res, int col, unsigned char *out, size_t outlen)
{
    const char *hex = PQgetvalue(res, 0, col);
    size_t hexlen = (size_t)PQgetlength(res, 0, col);
    size_t binlen = 0;

    if (hexlen != outlen * 2)
        return false;
    return sodium_hex2bin(out, outlen, hex, hexlen, NULL, &binlen, NULL) == 0
        && binlen == outlen;
}

static bool
acct_uint(const PGresult *res, int col, uint32_t *out)
{
    const char *s = PQgetvalue(res, 0, col);
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > INT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* One half: columns col..col+3 are salt, iterations, stored, server. */
static bool
acct_decode_half(const PGresult *res, int col, unsigned char *salt,
    uint32_t *iter, unsigned char *stored, unsigned char *server,
    size_t keylen)
{
    bool all_null = true, any_null = false;

    for (int i = col; i < col + 4; i++) {
        bool n = PQgetisnull(res, 0, i);

        all_null = all_null && n;
        any_null = any_null || n;
    }
    if (all_null) {
        *iter = 0;              /* absent half */
        return true;
    }
    return !any_null && acct_unhex(res, col, salt, XS_ACCOUNT_SALT_LEN)
        && acct_uint(res, col + 1, iter)
        && acct_unhex(res, col + 2, stored, keylen)
        && acct_unhex(res, col + 3, server, keylen);
}

static xs_rc
acct_decode_creds(const PGresult *res, struct xs_account_creds *c)
{
    if (PQntuples(res) == 0)
        return XS_ENOTFOUND;
    if (PQntuples(res) != 1 || PQnfields(res) != 8)
        return XS_EIO;
    if (!acct_decode_half(res, 0, c->sha1_salt, &c->sha1_iter,
            c->sha1_stored, c->sha1_server, sizeof(c->sha1_stored))
        || !acct_decode_half(res, 4, c->sha256_salt, &c->sha256_iter,
            c->sha256_stored, c->sha256_server, sizeof(c->sha256_stored))
        || (c->sha1_iter == 0 && c->sha256_iter == 0)) {
        xs_log(XS_LOG_ERR, "accounts: stored credentials are malformed");
        return XS_EIO;
    }
    return XS_OK;
}

static void
acct_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct acct_op *op = udata;

    switch (op->kind) {
    case ACCT_DONE:
        /* "UPDATE 0" / "DELETE 0": no such account. */
        if (rc == XS_OK && op->need_row && strcmp(PQcmdTuples(
            (PGresult *)res), "0") == 0)
            rc = XS_ENOTFOUND;
        op->done_cb(rc, op->udata);
        break;
    case ACCT_CREDS: {
        struct xs_account_creds c;

        memset(&c, 0, sizeof(c));
        if (rc == XS_OK)
            rc = acct_decode_creds(res, &c);
        else if (rc == XS_EEXIST)
            rc = XS_EIO;        /* cannot happen for a SELECT */
        op->creds_cb(rc, rc == XS_OK ? &c : NULL, op->udata);
        sodium_memzero(&c, sizeof(c));
        break;
    }
    case ACCT_LIST: {
        size_t n = 0;
        char **names = NULL;

        if (rc == XS_OK) {
            n = (size_t)PQntuples(res);
            /* Pointers into res: valid for the callback, as promised. */
            names = xs_calloc(n + 1, sizeof(names[0]));
            for (size_t i = 0; i < n; i++)
                names[i] = PQgetvalue(res, (int)i, 0);
        } else if (rc == XS_EEXIST) {
            rc = XS_EIO;
        }
        op->list_cb(rc, rc == XS_OK ? names : NULL, n, op->udata);
        xs_free(names);
        break;
    }
    }
    xs_free(op);
}

static xs_rc
acct_submit(struct pgq *q, const char *sql, int nparams,
    const char *const *params, struct acct_op *op)
{
    xs_rc rc = pgq_query(q, sql, nparams, params, acct_on_result, op);

    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

static struct acct_op *
acct_op_new(enum acct_kind kind, void *udata)
{
    struct acct_op *op = xs_calloc(1, sizeof(*op));

    op->kind = kind;
    op->udata = udata;
    return op;
}

static xs_rc
acct_write_creds(struct pgq *q, const char *sql, bool need_row,
    const char *user, const char *host, const struct xs_account_creds *creds,
    xs_accounts_done_cb *cb, void *udata)
{
    const char *params[10];
    struct acct_hex hex;
    struct acct_op *op;
    xs_rc rc;

    if (q == NULL || cb == NULL || !acct_part_ok(user) || !acct_part_ok(host)
        || !acct_creds_ok(creds))
        return XS_EINVAL;
    params[0] = user;
    params[1] = host;
    acct_hex_fill(&hex, creds, params);
    op = acct_op_new(ACCT_DONE, udata);
    op->done_cb = cb;
    op->need_row = need_row;
    rc = acct_submit(q, sql, 10, params, op);   /* pgq copied the params */
    sodium_memzero(&hex, sizeof(hex));
    return rc;
}

xs_rc
xs_accounts_create(struct pgq *q, const char *user, const char *host,
    const struct xs_account_creds *creds, xs_accounts_done_cb *cb,
    void *udata)
{
    return acct_write_creds(q, SQL_ACCOUNT_CREATE, false, user, host, creds,
        cb, udata);
}

xs_rc
xs_accounts_set_creds(struct pgq *q, const char *user, const char *host,
    const struct xs_account_creds *creds, xs_accounts_done_cb *cb,
    void *udata)
{
    return acct_write_creds(q, SQL_ACCOUNT_SET_CREDS, true, user, host,
        creds, cb, udata);
}

static xs_rc
acct_by_name(struct pgq *q, const char *sql, const char *user,
    const char *host, xs_accounts_done_cb *cb, void *udata)
{
    const char *params[2] = { user, host };
    struct acct_op *op;

    if (q == NULL || cb == NULL || !acct_part_ok(user) || !acct_part_ok(host))
        return XS_EINVAL;
    op = acct_op_new(ACCT_DONE, udata);
    op->done_cb = cb;
    op->need_row = true;
    return acct_submit(q, sql, 2, params, op);
}

xs_rc
xs_accounts_delete(struct pgq *q, const char *user, const char *host,
    xs_accounts_done_cb *cb, void *udata)
{
    return acct_by_name(q, SQL_ACCOUNT_DELETE, user, host, cb, udata);
}

xs_rc
xs_accounts_touch_login(struct pgq *q, const char *user, const char *host,
    xs_accounts_done_cb *cb, void *udata)
{
    return acct_by_name(q, SQL_ACCOUNT_TOUCH_LOGIN, user, host, cb, udata);
}

xs_rc
xs_accounts_get_creds(struct pgq *q, const char *user, const char *host,
    xs_accounts_creds_cb *cb, void *udata)
{
    const char *params[2] = { user, host };
    struct acct_op *op;

    if (q == NULL || cb == NULL || !acct_part_ok(user) || !acct_part_ok(host))
        return XS_EINVAL;
    op = acct_op_new(ACCT_CREDS, udata);
    op->creds_cb = cb;
    return acct_submit(q, SQL_ACCOUNT_GET_CREDS, 2, params, op);
}

xs_rc
xs_accounts_list(struct pgq *q, const char *host, xs_accounts_list_cb *cb,
    void *udata)
{
    const char *params[1] = { host };
    struct acct_op *op;

    if (q == NULL || cb == NULL || !acct_part_ok(host))
        return XS_EINVAL;
    op = acct_op_new(ACCT_LIST, udata);
    op->list_cb = cb;
    return acct_submit(q, SQL_ACCOUNT_LIST, 1, params, op);
}
