/*
 * migrate.c: bring the database schema to the version this binary knows.
 *
 * Two round trips, each one pgq_script (one implicit transaction):
 *   1. lock, create schema_migrations if missing, read the applied
 *      versions;
 *   2. lock, then for each pending migration: record its version, run it.
 * Advisory locks are per session, and a pooled request may land on any
 * connection, so nothing is held between the steps: pg_advisory_xact_lock
 * serializes each transaction instead.  Two processes that both read "v1
 * pending" in step 1 are then ordered by the lock in step 2; the second
 * one's INSERT of version 1 fails with a unique violation on
 * schema_migrations before it touches anything, its transaction rolls
 * back, and it starts over at step 1, where it finds nothing to do.
 */
#include "db/migrate.h"

#include <stdlib.h>
#include <string.h>

#include "db/migrations.h"
#include "db/queries.h"

#define MIGRATE_MAX_RETRIES 5

struct migrate_run {
    struct pgq      *q;         /* borrowed */
    pgq_migrate_cb  *cb;
    void            *udata;     /* borrowed, handed back to cb */
    int              retries;
    size_t           first;     /* pending: [first, count) of the list */
    int              db_version;
};

static void migrate_on_state(xs_rc rc, const PGresult *res, void *udata);

const struct pgq_migration *
pgq_migrations(size_t *count)
{
    *count = XS_ARRAY_LEN(pgq_embedded_migrations) - 1;   /* sentinel */
    return pgq_embedded_migrations;
}

static void
migrate_finish(struct migrate_run *m, xs_rc rc, int version)
{
    m->cb(rc, rc == XS_OK ? version : -1, m->udata);
    xs_free(m);
}

/* Never NULL: the primary message of an error result, or the status. */
static const char *
migrate_err(xs_rc rc, const PGresult *res)
{
    const char *msg = NULL;

    if (res != NULL)
        msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return msg != NULL ? msg : xs_rc_str(rc);
}

static void
str_append(char **s, size_t *len, const char *add)
{
    size_t n = strlen(add);

    *s = xs_realloc(*s, *len + n + 1);
    memcpy(*s + *len, add, n + 1);
    *len += n;
}

/* Does the unique violation come from schema_migrations (a race)? */
static bool
migrate_is_race(xs_rc rc, const PGresult *res)
{
    const char *table;

    if (rc != XS_EEXIST || res == NULL)
        return false;
    table = PQresultErrorField(res, PG_DIAG_TABLE_NAME);
    return table != NULL && strcmp(table, "schema_migrations") == 0;
}

static void
migrate_on_applied(xs_rc rc, const PGresult *res, void *udata)
{
    struct migrate_run *m = udata;
    size_t count;
    const struct pgq_migration *list = pgq_migrations(&count);
    xs_rc qrc;

    if (migrate_is_race(rc, res) && m->retries < MIGRATE_MAX_RETRIES) {
        m->retries++;
        xs_log(XS_LOG_INFO, "migrate: another process migrated meanwhile, "
            "re-reading the schema version");
        qrc = pgq_script(m->q, SQL_MIGRATE_PREPARE, migrate_on_state, m);
        if (qrc != XS_OK)
            migrate_finish(m, qrc, -1);
        return;
    }
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "migrate: applying %s..%s failed: %s",
            list[m->first].name, list[count - 1].name, migrate_err(rc, res));
        migrate_finish(m, rc, -1);
        return;
    }
    for (size_t i = m->first; i < count; i++)
        xs_log(XS_LOG_INFO, "migrate: applied version=%d name=%s",
            list[i].version, list[i].name);
    migrate_finish(m, XS_OK, list[count - 1].version > m->db_version
        ? list[count - 1].version : m->db_version);
}

static void
migrate_on_state(xs_rc rc, const PGresult *res, void *udata)
{
    struct migrate_run *m = udata;
    size_t count, napplied = 0;
    const struct pgq_migration *list = pgq_migrations(&count);
    char *script = NULL;
    size_t len = 0;
    int max = 0;
    xs_rc qrc;

    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "migrate: cannot read the schema version: %s",
            migrate_err(rc, res));
        migrate_finish(m, rc, -1);
        return;
    }
    /*
     * Versions come in order.  The embedded list is a prefix of what the
     * database may have (a newer binary adds versions at the end), so the
     * pending ones are the embedded versions above the database's last.
     */
    for (int i = 0; i < PQntuples(res); i++) {
        int v = atoi(PQgetvalue(res, i, 0));

        if (v > max)
            max = v;
    }
    m->db_version = max;
    for (m->first = 0; m->first < count && list[m->first].version <= max;
        m->first++)
        napplied++;
    if (m->first == count) {
        if (count > 0 && max > list[count - 1].version)
            xs_log(XS_LOG_WARN, "migrate: database schema version=%d is "
                "newer than this xmppd knows (%d)", max,
                list[count - 1].version);
        else
            xs_log(XS_LOG_INFO, "migrate: schema up to date version=%d",
                max);
        migrate_finish(m, XS_OK, max);
        return;
    }
    if ((size_t)PQntuples(res) != napplied)
        xs_log(XS_LOG_WARN, "migrate: schema_migrations has %d rows for "
            "%zu known versions up to %d", PQntuples(res), napplied, max);

    str_append(&script, &len, SQL_MIGRATE_LOCK ";\n");
    for (size_t i = m->first; i < count; i++) {
        str_append(&script, &len, list[i].record);
        str_append(&script, &len, ";\n");
        str_append(&script, &len, list[i].sql);
        /* A file may end without ';' or in a comment line. */
        str_append(&script, &len, "\n;\n");
    }
    xs_log(XS_LOG_INFO, "migrate: applying versions %d..%d (database at %d)",
        list[m->first].version, list[count - 1].version, max);
    qrc = pgq_script(m->q, script, migrate_on_applied, m);   /* copies it */
    xs_free(script);
    if (qrc != XS_OK)
        migrate_finish(m, qrc, -1);
}

xs_rc
pgq_migrate(struct pgq *q, pgq_migrate_cb *cb, void *udata)
{
    struct migrate_run *m;
    xs_rc rc;

    if (q == NULL || cb == NULL)
        return XS_EINVAL;
    m = xs_calloc(1, sizeof(*m));
    m->q = q;
    m->cb = cb;
    m->udata = udata;
    rc = pgq_script(q, SQL_MIGRATE_PREPARE, migrate_on_state, m);
    if (rc != XS_OK)
        xs_free(m);
    return rc;
}
