/*
 * db/roster.c: roster rows <-> struct xs_roster_row, on pgq.
 *
 * A change and the version bump it causes are one statement with
 * data-modifying CTEs, so they commit together whatever connection runs
 * them.  Groups travel as one text joined by U+001F (string_to_array and
 * array_to_string in the SQL), which spares us array-literal quoting.
 */
#include "db/roster.h"

#include <stdlib.h>
#include <string.h>

/* $1 host, $2 username.  One row at least (the LEFT JOIN), so an empty
 * roster still brings the version and whether the account exists. */
#define SQL_ROSTER_LOAD \
    "SELECT (SELECT count(*) FROM accounts" \
    "         WHERE host = $1 AND username = $2)," \
    " coalesce((SELECT version FROM roster_versions" \
    "           WHERE host = $1 AND username = $2), 0)," \
    " r.contact, r.name, r.subscription, r.ask_out, r.ask_in," \
    " r.ask_in_stanza, r.approved, r.is_item," \
    " array_to_string(r.groups, E'\\x1f')" \
    " FROM (SELECT 1) AS one" \
    " LEFT JOIN roster_items r ON r.host = $1 AND r.username = $2"

/*
 * $1 host, $2 username, $3 contact, $4 name, $5 subscription, $6 ask_out,
 * $7 ask_in, $8 ask_in_stanza, $9 approved, $10 is_item, $11 groups
 * (joined), $12 the sender's JID forms (joined) or NULL, $13 bump.
 * Returns (rows written, new version or 0).
 */
#define SQL_ROSTER_PUT \
    "WITH w AS (" \
    " INSERT INTO roster_items AS r (host, username, contact, name," \
    "  subscription, ask_out, ask_in, ask_in_stanza, approved, is_item," \
    "  groups)" \
    " SELECT $1, $2, $3, $4, $5, $6::boolean, $7::boolean, $8," \
    "  $9::boolean, $10::boolean, string_to_array($11, E'\\x1f')" \
    " WHERE $12::text IS NULL OR NOT EXISTS (" \
    "  SELECT 1 FROM blocklist b WHERE b.host = $1 AND b.username = $2" \
    "   AND b.jid = ANY (string_to_array($12, E'\\x1f')))" \
    " ON CONFLICT (host, username, contact) DO UPDATE SET" \
    "  name = EXCLUDED.name, subscription = EXCLUDED.subscription," \
    "  ask_out = EXCLUDED.ask_out, ask_in = EXCLUDED.ask_in," \
    "  ask_in_stanza = EXCLUDED.ask_in_stanza," \
    "  approved = EXCLUDED.approved, is_item = EXCLUDED.is_item," \
    "  groups = EXCLUDED.groups, updated_at = now()" \
    " RETURNING 1" \
    "), v AS (" \
    " INSERT INTO roster_versions AS rv (host, username, version)" \
    " SELECT $1, $2, 1 WHERE $13::boolean AND EXISTS (SELECT 1 FROM w)" \
    " ON CONFLICT (host, username) DO UPDATE SET version = rv.version + 1" \
    " RETURNING version" \
    ")" \
    " SELECT (SELECT count(*) FROM w), coalesce((SELECT version FROM v), 0)"

/* $1 host, $2 username, $3 contact, $4 bump.  Same result as PUT. */
#define SQL_ROSTER_DELETE \
    "WITH d AS (" \
    " DELETE FROM roster_items" \
    " WHERE host = $1 AND username = $2 AND contact = $3 RETURNING 1" \
    "), v AS (" \
    " INSERT INTO roster_versions AS rv (host, username, version)" \
    " SELECT $1, $2, 1 WHERE $4::boolean AND EXISTS (SELECT 1 FROM d)" \
    " ON CONFLICT (host, username) DO UPDATE SET version = rv.version + 1" \
    " RETURNING version" \
    ")" \
    " SELECT (SELECT count(*) FROM d), coalesce((SELECT version FROM v), 0)"

/* SQLSTATE foreign_key_violation: the account row is gone. */
#define SQLSTATE_FK_VIOLATION "23503"

/* What travels through pgq as udata. */
struct rdb_op {
    xs_roster_db_load_cb  *load_cb;     /* one of the two is set */
    xs_roster_db_write_cb *write_cb;
    void                  *udata;       /* borrowed, handed back */
};

static struct rdb_op *
rdb_op_new(xs_roster_db_load_cb *load_cb, xs_roster_db_write_cb *write_cb,
    void *udata)
{
    struct rdb_op *op = xs_calloc(1, sizeof(*op));

    op->load_cb = load_cb;
    op->write_cb = write_cb;
    op->udata = udata;
    return op;
}

static bool
rdb_bool(const PGresult *res, int row, int col)
{
    const char *v = PQgetvalue(res, row, col);

    return v[0] == 't';
}

static int64_t
rdb_int(const PGresult *res, int row, int col)
{
    return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* Split a joined group list into v (pointers into the copy *buf). */
static size_t
rdb_split_groups(const char *joined, char **buf, const char ***v)
{
    size_t n = 0, i = 0;
    char *p;

    *buf = NULL;
    *v = NULL;
    if (joined == NULL || joined[0] == '\0')
        return 0;
    *buf = xs_strdup(joined);
    for (p = *buf; *p != '\0'; p++)
        n += *p == XS_ROSTER_DB_GROUP_SEP;
    n++;
    *v = xs_calloc(n, sizeof(**v));
    (*v)[i++] = *buf;
    for (p = *buf; *p != '\0'; p++) {
        if (*p == XS_ROSTER_DB_GROUP_SEP) {
            *p = '\0';
            (*v)[i++] = p + 1;
        }
    }
    return n;
}

static char *
rdb_join(const char *const *v, size_t n)
{
    size_t len = 1;
    char *out, *p;

    for (size_t i = 0; i < n; i++)
        len += strlen(v[i]) + 1;
    out = p = xs_malloc(len);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(v[i]);

        if (i > 0)
            *p++ = XS_ROSTER_DB_GROUP_SEP;
        memcpy(p, v[i], l);
        p += l;
    }
    *p = '\0';
    return out;
}

static void
rdb_on_load(xs_rc rc, const PGresult *res, void *udata)
{
    struct rdb_op *op = udata;
    struct xs_roster_row *rows = NULL;
    char **bufs = NULL;
    const char ***groups = NULL;
    size_t n = 0;
    bool exists = false;
    int64_t version = 0;

    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* cannot happen for a SELECT */
    if (rc == XS_OK && (PQntuples(res) < 1 || PQnfields(res) != 11))
        rc = XS_EIO;
    if (rc == XS_OK) {
        int nt = PQntuples(res);

        exists = rdb_int(res, 0, 0) > 0;
        version = rdb_int(res, 0, 1);
        rows = xs_calloc((size_t)nt, sizeof(*rows));
        bufs = xs_calloc((size_t)nt, sizeof(*bufs));
        groups = xs_calloc((size_t)nt, sizeof(*groups));
        for (int i = 0; i < nt; i++) {
            struct xs_roster_row *r = &rows[n];

            if (PQgetisnull(res, i, 2))
                continue;       /* the LEFT JOIN's row of an empty roster */
            r->contact = PQgetvalue(res, i, 2);
            r->name = PQgetvalue(res, i, 3);
            r->subscription = PQgetvalue(res, i, 4);
            r->ask_out = rdb_bool(res, i, 5);
            r->ask_in = rdb_bool(res, i, 6);
            r->ask_in_stanza = PQgetisnull(res, i, 7) ? NULL :
                PQgetvalue(res, i, 7);
            r->approved = rdb_bool(res, i, 8);
            r->is_item = rdb_bool(res, i, 9);
            r->ngroups = rdb_split_groups(PQgetisnull(res, i, 10) ? NULL :
                PQgetvalue(res, i, 10), &bufs[n], &groups[n]);
            r->groups = groups[n];
            n++;
        }
    }
    op->load_cb(rc, exists, version, rows, n, op->udata);
    for (size_t i = 0; i < n; i++) {
        xs_free(bufs[i]);
        xs_free(groups[i]);
    }
    xs_free(bufs);
    xs_free(groups);
    xs_free(rows);
    xs_free(op);
}

static void
rdb_on_write(xs_rc rc, const PGresult *res, void *udata)
{
    struct rdb_op *op = udata;
    bool stored = false;
    int64_t version = 0;

    if (rc == XS_EIO && res != NULL &&
        strcmp(pgq_sqlstate(res), SQLSTATE_FK_VIOLATION) == 0)
        rc = XS_ENOTFOUND;
    else if (rc == XS_EEXIST)
        rc = XS_EIO;            /* ON CONFLICT: cannot happen */
    if (rc == XS_OK && (PQntuples(res) != 1 || PQnfields(res) != 2))
        rc = XS_EIO;
    if (rc == XS_OK) {
        stored = rdb_int(res, 0, 0) > 0;
        version = rdb_int(res, 0, 1);
    }
    op->write_cb(rc, stored, version, op->udata);
    xs_free(op);
}

static bool
rdb_args_ok(const char *user, const char *host)
{
    return user != NULL && host != NULL && user[0] != '\0' &&
        host[0] != '\0';
}

xs_rc
xs_roster_db_load(struct pgq *q, const char *user, const char *host,
    xs_roster_db_load_cb *cb, void *udata)
{
    const char *params[2] = { host, user };
    struct rdb_op *op;
    xs_rc rc;

    if (q == NULL || cb == NULL || !rdb_args_ok(user, host))
        return XS_EINVAL;
    op = rdb_op_new(cb, NULL, udata);
    rc = pgq_query(q, SQL_ROSTER_LOAD, 2, params, rdb_on_load, op);
    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

xs_rc
xs_roster_db_put(struct pgq *q, const char *user, const char *host,
    const struct xs_roster_row *row, bool bump,
    const char *const *block_forms, size_t nforms,
    xs_roster_db_write_cb *cb, void *udata)
{
    char *groups, *forms = NULL;
    const char *params[13];
    struct rdb_op *op;
    xs_rc rc;

    if (q == NULL || cb == NULL || row == NULL || row->contact == NULL ||
        row->subscription == NULL || !rdb_args_ok(user, host))
        return XS_EINVAL;
    groups = rdb_join(row->groups, row->ngroups);
    if (nforms > 0)
        forms = rdb_join(block_forms, nforms);
    params[0] = host;
    params[1] = user;
    params[2] = row->contact;
    params[3] = row->name != NULL ? row->name : "";
    params[4] = row->subscription;
    params[5] = row->ask_out ? "true" : "false";
    params[6] = row->ask_in ? "true" : "false";
    params[7] = row->ask_in_stanza;
    params[8] = row->approved ? "true" : "false";
    params[9] = row->is_item ? "true" : "false";
    params[10] = groups;
    params[11] = forms;
    params[12] = bump ? "true" : "false";
    op = rdb_op_new(NULL, cb, udata);
    rc = pgq_query(q, SQL_ROSTER_PUT, 13, params, rdb_on_write, op);
    if (rc != XS_OK)
        xs_free(op);
    xs_free(groups);
    xs_free(forms);
    return rc;
}

xs_rc
xs_roster_db_delete(struct pgq *q, const char *user, const char *host,
    const char *contact, bool bump, xs_roster_db_write_cb *cb, void *udata)
{
    const char *params[4] = { host, user, contact, bump ? "true" : "false" };
    struct rdb_op *op;
    xs_rc rc;

    if (q == NULL || cb == NULL || contact == NULL ||
        !rdb_args_ok(user, host))
        return XS_EINVAL;
    op = rdb_op_new(NULL, cb, udata);
    rc = pgq_query(q, SQL_ROSTER_DELETE, 4, params, rdb_on_write, op);
    if (rc != XS_OK)
        xs_free(op);
    return rc;
}
