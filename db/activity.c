/*
 * activity.c: account_activity rows on pgq.
 *
 * A batch travels as one array parameter per column and is expanded with
 * unnest() into ONE INSERT ... ON CONFLICT DO UPDATE, whatever the number
 * of accounts: never one statement per account or per message.
 */
#include "db/activity.h"

#include "db/pgarray.h"

#include <stdlib.h>
#include <string.h>

#define ACT_PART_MAX 1023               /* bytes, RFC 7622 section 3 */

const char *const xs_act_counter_names[XS_ACT__COUNT] = {
    [XS_ACT_MSGS_TO_CONTACTS] = "msgs_to_contacts",
    [XS_ACT_MSGS_TO_STRANGERS] = "msgs_to_strangers",
    [XS_ACT_MSGS_FROM_CONTACTS] = "msgs_from_contacts",
    [XS_ACT_MSGS_FROM_STRANGERS] = "msgs_from_strangers",
    [XS_ACT_SUBS_SENT] = "subs_sent",
    [XS_ACT_SUBS_ACCEPTED] = "subs_accepted",
    [XS_ACT_SUBS_REFUSED] = "subs_refused",
    [XS_ACT_SUBS_RECEIVED] = "subs_received",
};

/*
 * $1 hosts, $2 users, $3 ndays, $4 first_day, $5 last_day (days since
 * 1970-01-01), $6 logout (unix seconds, 0: none), $7 status, $8..$15 the
 * counters in enum order.  A day already stored as last_active_day is not
 * counted twice: the batch's first day is looked up in d for the row being
 * updated (EXCLUDED only carries table columns).
 */
#define SQL_ACT_ADD \
    "WITH d AS (SELECT * FROM unnest($1::text[], $2::text[], $3::int[], " \
    "$4::int[], $5::int[], $6::bigint[], $7::text[], $8::bigint[], " \
    "$9::bigint[], $10::bigint[], $11::bigint[], $12::bigint[], " \
    "$13::bigint[], $14::bigint[], $15::bigint[]) AS d(host, username, " \
    "ndays, first_day, last_day, logout, status, c0, c1, c2, c3, c4, c5, " \
    "c6, c7) WHERE EXISTS (SELECT 1 FROM accounts x WHERE x.host = d.host " \
    "AND x.username = d.username)) " \
    "INSERT INTO account_activity AS a (host, username, days_active, " \
    "last_active_day, last_logout, last_status, msgs_to_contacts, " \
    "msgs_to_strangers, msgs_from_contacts, msgs_from_strangers, " \
    "subs_sent, subs_accepted, subs_refused, subs_received, updated_at) " \
    "SELECT host, username, ndays, CASE WHEN ndays > 0 THEN " \
    "DATE '1970-01-01' + last_day END, CASE WHEN logout > 0 THEN " \
    "to_timestamp(logout) END, status, c0, c1, c2, c3, c4, c5, c6, c7, " \
    "now() FROM d " \
    "ON CONFLICT (host, username) DO UPDATE SET " \
    "days_active = a.days_active + EXCLUDED.days_active - CASE WHEN " \
    "EXCLUDED.days_active > 0 AND a.last_active_day >= DATE '1970-01-01' " \
    "+ (SELECT d.first_day FROM d WHERE d.host = a.host AND " \
    "d.username = a.username) THEN 1 ELSE 0 END, " \
    "last_active_day = GREATEST(a.last_active_day, " \
    "EXCLUDED.last_active_day), " \
    "last_logout = COALESCE(EXCLUDED.last_logout, a.last_logout), " \
    "last_status = CASE WHEN EXCLUDED.last_logout IS NULL " \
    "THEN a.last_status ELSE EXCLUDED.last_status END, " \
    "msgs_to_contacts = a.msgs_to_contacts + EXCLUDED.msgs_to_contacts, " \
    "msgs_to_strangers = a.msgs_to_strangers + EXCLUDED.msgs_to_strangers, " \
    "msgs_from_contacts = a.msgs_from_contacts + " \
    "EXCLUDED.msgs_from_contacts, " \
    "msgs_from_strangers = a.msgs_from_strangers + " \
    "EXCLUDED.msgs_from_strangers, " \
    "subs_sent = a.subs_sent + EXCLUDED.subs_sent, " \
    "subs_accepted = a.subs_accepted + EXCLUDED.subs_accepted, " \
    "subs_refused = a.subs_refused + EXCLUDED.subs_refused, " \
    "subs_received = a.subs_received + EXCLUDED.subs_received, " \
    "updated_at = now()"

#define SQL_ACT_GET \
    "SELECT extract(epoch FROM x.created_at)::bigint, " \
    "extract(epoch FROM x.last_login)::bigint, " \
    "extract(epoch FROM a.last_logout)::bigint, a.last_status, " \
    "a.days_active, a.last_active_day - DATE '1970-01-01', " \
    "a.msgs_to_contacts, a.msgs_to_strangers, a.msgs_from_contacts, " \
    "a.msgs_from_strangers, a.subs_sent, a.subs_accepted, " \
    "a.subs_refused, a.subs_received " \
    "FROM accounts x LEFT JOIN account_activity a " \
    "ON a.host = x.host AND a.username = x.username " \
    "WHERE x.host = $1 AND x.username = $2"

#define SQL_ACT_SEES_PRESENCE \
    "SELECT 1 FROM roster_items WHERE host = $1 AND username = $2 " \
    "AND contact = $3 AND subscription IN ('from', 'both')"

#define ACT_GET_NFIELDS (6 + XS_ACT__COUNT)
#define ACT_ADD_NPARAMS (7 + XS_ACT__COUNT)

enum act_kind { ACT_DONE, ACT_GET, ACT_BOOL };

struct act_op {
    enum act_kind           kind;
    xs_activity_db_done_cb *done_cb;
    xs_activity_db_get_cb  *get_cb;
    xs_activity_db_bool_cb *bool_cb;
    void                   *udata;      /* borrowed, handed back */
};

static bool
act_part_ok(const char *s)
{
    return s != NULL && s[0] != '\0'
        && strnlen(s, ACT_PART_MAX + 1) <= ACT_PART_MAX;
}

/* ---- results ---- */

static int64_t
act_int(const PGresult *res, int col, int64_t dflt)
{
    int64_t v;

    if (PQgetisnull(res, 0, col))
        return dflt;
    if (!pgq_text_int64(PQgetvalue(res, 0, col), &v))
        return dflt;
    return v;
}

static void
act_on_get(xs_rc rc, const PGresult *res, struct act_op *op)
{
    struct xs_activity a;
    int64_t v;

    if (rc == XS_OK && (PQnfields(res) != ACT_GET_NFIELDS ||
        PQntuples(res) > 1))
        rc = XS_EIO;
    if (rc == XS_OK && PQntuples(res) == 0)
        rc = XS_ENOTFOUND;
    if (rc != XS_OK) {
        op->get_cb(rc, NULL, op->udata);
        return;
    }
    memset(&a, 0, sizeof(a));
    a.created_at = act_int(res, 0, 0);
    a.last_login = act_int(res, 1, 0);
    a.last_logout = act_int(res, 2, 0);
    a.last_status = PQgetisnull(res, 0, 3) ? NULL : PQgetvalue(res, 0, 3);
    v = act_int(res, 4, 0);
    a.days_active = v > 0 && v <= UINT32_MAX ? (uint32_t)v : 0;
    v = act_int(res, 5, -1);
    a.last_active_day = v >= 0 && v <= INT32_MAX ? (int32_t)v : -1;
    for (int i = 0; i < XS_ACT__COUNT; i++) {
        v = act_int(res, 6 + i, 0);
        a.counts[i] = v > 0 ? (uint64_t)v : 0;
    }
    op->get_cb(XS_OK, &a, op->udata);
}

static void
act_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct act_op *op = udata;

    if (rc == XS_EEXIST)
        rc = XS_EIO;            /* the upsert cannot clash */
    switch (op->kind) {
    case ACT_DONE:
        op->done_cb(rc, op->udata);
        break;
    case ACT_GET:
        act_on_get(rc, res, op);
        break;
    case ACT_BOOL:
        op->bool_cb(rc, rc == XS_OK && PQntuples(res) > 0, op->udata);
        break;
    }
    xs_free(op);
}

static xs_rc
act_query(struct pgq *q, const char *sql, int nparams,
    const char *const *params, struct act_op *op)
{
    xs_rc rc = pgq_query(q, sql, nparams, params, act_on_result, op);

    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

xs_rc
xs_activity_db_add(struct pgq *q, const struct xs_activity_delta *d,
    size_t n, xs_activity_db_done_cb *cb, void *udata)
{
    struct pgq_array cols[ACT_ADD_NPARAMS];
    const char *params[ACT_ADD_NPARAMS];
    struct act_op *op;
    xs_rc rc;

    if (q == NULL || cb == NULL || d == NULL || n == 0 ||
        n > XS_ACTIVITY_BATCH_MAX)
        return XS_EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (!act_part_ok(d[i].user) || !act_part_ok(d[i].host))
            return XS_EINVAL;
    }
    memset(cols, 0, sizeof(cols));
    for (size_t i = 0; i < n; i++) {
        pgq_array_text(&cols[0], d[i].host);
        pgq_array_text(&cols[1], d[i].user);
        pgq_array_int(&cols[2], d[i].ndays);
        pgq_array_int(&cols[3], d[i].ndays > 0 ? d[i].first_day : 0);
        pgq_array_int(&cols[4], d[i].ndays > 0 ? d[i].last_day : 0);
        pgq_array_int(&cols[5], d[i].logout > 0 ? d[i].logout : 0);
        pgq_array_text(&cols[6], d[i].logout > 0 ? d[i].status : NULL);
        for (size_t c = 0; c < XS_ACT__COUNT; c++) {
            /* bigint holds what a counter can reach in practice; clamp
             * rather than send a value PostgreSQL refuses. */
            uint64_t v = d[i].counts[c];

            pgq_array_int(&cols[7 + c],
                v > INT64_MAX ? INT64_MAX : (int64_t)v);
        }
    }
    for (size_t c = 0; c < ACT_ADD_NPARAMS; c++)
        params[c] = pgq_array_end(&cols[c]);
    op = xs_calloc(1, sizeof(*op));
    op->kind = ACT_DONE;
    op->done_cb = cb;
    op->udata = udata;
    rc = act_query(q, SQL_ACT_ADD, ACT_ADD_NPARAMS, params, op);
    for (size_t c = 0; c < ACT_ADD_NPARAMS; c++)
        pgq_array_fini(&cols[c]);
    return rc;
}

xs_rc
xs_activity_db_get(struct pgq *q, const char *user, const char *host,
    xs_activity_db_get_cb *cb, void *udata)
{
    const char *params[2] = { host, user };
    struct act_op *op;

    if (q == NULL || cb == NULL || !act_part_ok(user) || !act_part_ok(host))
        return XS_EINVAL;
    op = xs_calloc(1, sizeof(*op));
    op->kind = ACT_GET;
    op->get_cb = cb;
    op->udata = udata;
    return act_query(q, SQL_ACT_GET, 2, params, op);
}

xs_rc
xs_activity_db_sees_presence(struct pgq *q, const char *user,
    const char *host, const char *contact, xs_activity_db_bool_cb *cb,
    void *udata)
{
    const char *params[3] = { host, user, contact };
    struct act_op *op;

    if (q == NULL || cb == NULL || !act_part_ok(user) ||
        !act_part_ok(host) || contact == NULL || contact[0] == '\0')
        return XS_EINVAL;
    op = xs_calloc(1, sizeof(*op));
    op->kind = ACT_BOOL;
    op->bool_cb = cb;
    op->udata = udata;
    return act_query(q, SQL_ACT_SEES_PRESENCE, 3, params, op);
}
