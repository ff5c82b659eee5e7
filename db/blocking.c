/*
 * blocking.c: block list rows and spam reports on pgq.
 *
 * Lists of values travel as one JSON parameter (built with jansson, so
 * every string is escaped by a library, never by us) and are unpacked by
 * PostgreSQL (jsonb_array_elements_text, jsonb_to_recordset).  A block
 * with its reports is a single statement with data-modifying CTEs: one
 * statement is one transaction, so the evidence is stored exactly when
 * the block is.
 */
#include "db/blocking.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

/* $1 host, $2 username, $3 jid: the last row of the previous page; $4
 * the page size.  The row comparison walks the primary key's index. */
#define SQL_BLOCKLIST_PAGE \
    "SELECT host, username, jid FROM blocklist" \
    " WHERE (host, username, jid) > ($1, $2, $3)" \
    " ORDER BY host, username, jid LIMIT $4::integer"

/* $1 host, $2 username, $3 jsonb array of jids, $4 reporter bare JID,
 * $5 jsonb array of report objects (may be empty). */
#define SQL_BLOCKLIST_INSERT \
    "WITH items AS (" \
    " INSERT INTO blocklist (host, username, jid)" \
    " SELECT $1, $2, j FROM jsonb_array_elements_text($3::jsonb) AS j" \
    " ON CONFLICT DO NOTHING RETURNING 1)," \
    " reports AS (" \
    " INSERT INTO spam_reports (reporter, reported, reason, reason_uri," \
    " text, stanza_ids, namespace)" \
    " SELECT $4, r.reported, r.reason, r.reason_uri, r.text," \
    " COALESCE(r.stanza_ids, '{}'), r.namespace" \
    " FROM jsonb_to_recordset($5::jsonb) AS r(reported text, reason text," \
    " reason_uri text, text text, stanza_ids text[], namespace text)" \
    " RETURNING 1)" \
    " SELECT (SELECT count(*) FROM items), (SELECT count(*) FROM reports)"

/* $1 host, $2 username, $3 jsonb array of jids. */
#define SQL_BLOCKLIST_DELETE \
    "DELETE FROM blocklist WHERE host = $1 AND username = $2" \
    " AND jid IN (SELECT jsonb_array_elements_text($3::jsonb))"

/* $1 host, $2 username. */
#define SQL_BLOCKLIST_DELETE_ALL \
    "DELETE FROM blocklist WHERE host = $1 AND username = $2"

#define BLK_PART_MAX 3071   /* a whole JID: three parts of 1023 bytes */

enum blkdb_kind { BLKDB_DONE, BLKDB_PAGE };

/* What travels through pgq as udata. */
struct blkdb_op {
    enum blkdb_kind        kind;
    xs_blocklist_done_cb  *done_cb;
    xs_blocklist_page_cb  *page_cb;
    void                  *udata;   /* borrowed, handed back */
};

void
xs_spam_report_fini(struct xs_spam_report *r)
{
    if (r == NULL)
        return;
    xs_free(r->reported);
    xs_free(r->reason);
    xs_free(r->reason_uri);
    xs_free(r->text);
    for (size_t i = 0; i < r->nstanza_ids; i++)
        xs_free(r->stanza_ids[i]);
    xs_free(r->stanza_ids);
    memset(r, 0, sizeof(*r));
}

static bool
blkdb_str_ok(const char *s)
{
    return s != NULL && s[0] != '\0'
        && strnlen(s, BLK_PART_MAX + 1) <= BLK_PART_MAX;
}

static void
blkdb_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct blkdb_op *op = udata;

    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* no unique key can be violated here */
    switch (op->kind) {
    case BLKDB_DONE:
        op->done_cb(rc, op->udata);
        break;
    case BLKDB_PAGE: {
        struct xs_blocklist_row *rows = NULL;
        size_t n = 0;

        if (rc == XS_OK && PQnfields(res) != 3)
            rc = XS_EIO;
        if (rc == XS_OK) {
            n = (size_t)PQntuples(res);
            rows = xs_calloc(n + 1, sizeof(rows[0]));
            for (size_t i = 0; i < n; i++) {
                rows[i].host = PQgetvalue(res, (int)i, 0);
                rows[i].username = PQgetvalue(res, (int)i, 1);
                rows[i].jid = PQgetvalue(res, (int)i, 2);
            }
        }
        op->page_cb(rc, rows, n, op->udata);
        xs_free(rows);
        break;
    }
    }
    xs_free(op);
}

static xs_rc
blkdb_submit(struct pgq *q, const char *sql, int nparams,
    const char *const *params, enum blkdb_kind kind,
    xs_blocklist_done_cb *done_cb, xs_blocklist_page_cb *page_cb,
    void *udata)
{
    struct blkdb_op *op = xs_calloc(1, sizeof(*op));
    xs_rc rc;

    op->kind = kind;
    op->done_cb = done_cb;
    op->page_cb = page_cb;
    op->udata = udata;
    rc = pgq_query(q, sql, nparams, params, blkdb_on_result, op);
    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

/* jansson allocates with malloc: aborting on its OOM keeps our contract. */
static char *
blkdb_json_dump(json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENSURE_ASCII);

    if (s == NULL)
        xs_assert_fail("json_dumps", __FILE__, __LINE__);
    return s;
}

static json_t *
blkdb_json_new(json_t *v)
{
    if (v == NULL)
        xs_assert_fail("jansson allocation", __FILE__, __LINE__);
    return v;
}

static void
blkdb_json_add(json_t *arr, const char *s)
{
    if (json_array_append_new(arr, blkdb_json_new(json_string(s))) != 0)
        xs_assert_fail("json_array_append", __FILE__, __LINE__);
}

static void
blkdb_json_set(json_t *obj, const char *key, const char *s)
{
    json_t *v = s != NULL ? json_string(s) : json_null();

    if (json_object_set_new(obj, key, blkdb_json_new(v)) != 0)
        xs_assert_fail("json_object_set", __FILE__, __LINE__);
}

/* A JSON array of jids, or NULL if one is not acceptable. */
static char *
blkdb_jids_json(const char *const *jids, size_t njids)
{
    json_t *arr = blkdb_json_new(json_array());
    char *s;

    for (size_t i = 0; i < njids; i++) {
        if (!blkdb_str_ok(jids[i])) {
            json_decref(arr);
            return NULL;
        }
        blkdb_json_add(arr, jids[i]);
    }
    s = blkdb_json_dump(arr);
    json_decref(arr);
    return s;
}

static char *
blkdb_reports_json(const struct xs_spam_report *reports, size_t n)
{
    json_t *arr = blkdb_json_new(json_array());
    char *s;

    for (size_t i = 0; i < n; i++) {
        const struct xs_spam_report *r = &reports[i];
        json_t *o, *ids;

        if (!blkdb_str_ok(r->reported) || r->reason == NULL ||
            r->reason_uri == NULL || r->ns == NULL ||
            (r->nstanza_ids > 0 && r->stanza_ids == NULL)) {
            json_decref(arr);
            return NULL;
        }
        o = blkdb_json_new(json_object());
        blkdb_json_set(o, "reported", r->reported);
        blkdb_json_set(o, "reason", r->reason);
        blkdb_json_set(o, "reason_uri", r->reason_uri);
        blkdb_json_set(o, "text", r->text);
        blkdb_json_set(o, "namespace", r->ns);
        ids = blkdb_json_new(json_array());
        for (size_t k = 0; k < r->nstanza_ids; k++)
            blkdb_json_add(ids, r->stanza_ids[k]);
        if (json_object_set_new(o, "stanza_ids", ids) != 0 ||
            json_array_append_new(arr, o) != 0)
            xs_assert_fail("jansson", __FILE__, __LINE__);
    }
    s = blkdb_json_dump(arr);
    json_decref(arr);
    return s;
}

xs_rc
xs_blocklist_load_page(struct pgq *q, const char *host, const char *username,
    const char *jid, size_t limit, xs_blocklist_page_cb *cb, void *udata)
{
    const char *params[4] = { host, username, jid, NULL };
    char lim[24];
    int len;

    if (q == NULL || cb == NULL || host == NULL || username == NULL ||
        jid == NULL || limit == 0 || limit > INT32_MAX)
        return XS_EINVAL;
    len = snprintf(lim, sizeof(lim), "%zu", limit);
    xs_assert(len > 0 && (size_t)len < sizeof(lim));
    params[3] = lim;
    return blkdb_submit(q, SQL_BLOCKLIST_PAGE, 4, params, BLKDB_PAGE, NULL,
        cb, udata);
}

xs_rc
xs_blocklist_insert(struct pgq *q, const char *host, const char *username,
    const char *const *jids, size_t njids, const char *reporter,
    const struct xs_spam_report *reports, size_t nreports,
    xs_blocklist_done_cb *cb, void *udata)
{
    const char *params[5];
    char *jids_json = NULL, *reports_json = NULL;
    xs_rc rc = XS_EINVAL;

    if (q == NULL || cb == NULL || !blkdb_str_ok(host) ||
        !blkdb_str_ok(username) || njids == 0 || jids == NULL ||
        !blkdb_str_ok(reporter) || (nreports > 0 && reports == NULL))
        return XS_EINVAL;
    if ((jids_json = blkdb_jids_json(jids, njids)) == NULL ||
        (reports_json = blkdb_reports_json(reports, nreports)) == NULL)
        goto fail;
    params[0] = host;
    params[1] = username;
    params[2] = jids_json;
    params[3] = reporter;
    params[4] = reports_json;
    rc = blkdb_submit(q, SQL_BLOCKLIST_INSERT, 5, params, BLKDB_DONE, cb,
        NULL, udata);           /* pgq copied the parameters */
fail:
    free(jids_json);            /* from jansson: plain free */
    free(reports_json);
    return rc;
}

xs_rc
xs_blocklist_delete(struct pgq *q, const char *host, const char *username,
    const char *const *jids, size_t njids, xs_blocklist_done_cb *cb,
    void *udata)
{
    const char *params[3];
    char *jids_json;
    xs_rc rc;

    if (q == NULL || cb == NULL || !blkdb_str_ok(host) ||
        !blkdb_str_ok(username) || njids == 0 || jids == NULL)
        return XS_EINVAL;
    if ((jids_json = blkdb_jids_json(jids, njids)) == NULL)
        return XS_EINVAL;
    params[0] = host;
    params[1] = username;
    params[2] = jids_json;
    rc = blkdb_submit(q, SQL_BLOCKLIST_DELETE, 3, params, BLKDB_DONE, cb,
        NULL, udata);
    free(jids_json);
    return rc;
}

xs_rc
xs_blocklist_delete_all(struct pgq *q, const char *host,
    const char *username, xs_blocklist_done_cb *cb, void *udata)
{
    const char *params[2] = { host, username };

    if (q == NULL || cb == NULL || !blkdb_str_ok(host) ||
        !blkdb_str_ok(username))
        return XS_EINVAL;
    return blkdb_submit(q, SQL_BLOCKLIST_DELETE_ALL, 2, params, BLKDB_DONE,
        cb, NULL, udata);
}
