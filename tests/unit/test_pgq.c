/*
 * tests/unit/test_pgq.c: the async PostgreSQL client, migrations and the
 * accounts store, against a private cluster started by deploy/pg.sh.
 *
 * Prepared statements are checked through pgq_stats (prepares,
 * executes_prepared, stmt_evictions, stmt_retries) and through
 * pg_prepared_statements on a pool of one connection (same session).
 *
 * Run from the repository root (make check-unit does).  The group setup
 * starts a throw-away cluster in a mkdtemp directory (blocking is fine in
 * a test) and the teardown stops it and removes the directory.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/accounts.h"
#include "db/migrate.h"
#include "db/pgq.h"
#include "tests/unit/support/pg_harness.h"

/* ---- helpers ---- */

/* One query's outcome, copied out of the result during the callback. */
struct qres {
    bool    returned;       /* set right after pgq_query returned */
    bool    early;          /* the callback ran before that: a bug */
    int     calls;
    xs_rc   rc;
    bool    has_res;
    char    sqlstate[8];
    int     ntuples;
    char    val[4][128];
    bool    isnull[4];
    int    *counter;        /* optional: incremented on each callback */
};

static void
qres_cb(xs_rc rc, const PGresult *res, void *udata)
{
    struct qres *r = udata;

    if (!r->returned)
        r->early = true;
    r->calls++;
    r->rc = rc;
    r->has_res = res != NULL;
    snprintf(r->sqlstate, sizeof(r->sqlstate), "%s", pgq_sqlstate(res));
    if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK) {
        r->ntuples = PQntuples(res);
        for (int i = 0; i < PQnfields(res) && i < 4 && r->ntuples > 0; i++) {
            r->isnull[i] = PQgetisnull(res, 0, i);
            snprintf(r->val[i], sizeof(r->val[i]), "%s",
                PQgetvalue(res, 0, i));
        }
    }
    if (r->counter != NULL)
        (*r->counter)++;
}

/* Query, wait for the callback, check the contract. */
static void
query_wait(struct pgq *q, const char *sql, int n, const char *const *p,
    struct qres *r)
{
    int done = 0;

    memset(r, 0, sizeof(*r));
    r->counter = &done;
    assert_int_equal(pgq_query(q, sql, n, p, qres_cb, r), XS_OK);
    r->returned = true;
    assert_int_equal(r->calls, 0);
    assert_true(pgh_run_until(&done, 1, 5000));
    assert_false(r->early);
    assert_int_equal(r->calls, 1);
}

static void
script_wait(struct pgq *q, const char *sql, struct qres *r)
{
    int done = 0;

    memset(r, 0, sizeof(*r));
    r->counter = &done;
    assert_int_equal(pgq_script(q, sql, qres_cb, r), XS_OK);
    r->returned = true;
    assert_true(pgh_run_until(&done, 1, 5000));
    assert_false(r->early);
    assert_int_equal(r->calls, 1);
}

/* ---- setup ---- */

static int
group_setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    return pgh_setup() == XS_OK ? 0 : -1;
}

/* ---- pgq ---- */

static void
pgq_params_round_trip(void **state)
{
    const char *tricky = "it's a \"quote\" \\ ; -- DROP TABLE x; $1 \xc3\xa9";
    const char *p[] = { tricky, NULL, "41" };
    struct qres r;

    (void)state;
    query_wait(pgh.q,
        "SELECT $1::text, $2::text IS NULL, $3::int + 1, $2::text", 3, p,
        &r);
    assert_int_equal(r.rc, XS_OK);
    assert_true(r.has_res);
    assert_int_equal(r.ntuples, 1);
    assert_string_equal(r.val[0], tricky);
    assert_string_equal(r.val[1], "t");
    assert_string_equal(r.val[2], "42");
    assert_true(r.isnull[3]);
}

static void
pgq_rejects_bad_arguments(void **state)
{
    const char *p[] = { "x" };

    (void)state;
    assert_int_equal(pgq_query(pgh.q, "SELECT 1", -1, NULL, qres_cb, NULL),
        XS_EINVAL);
    assert_int_equal(pgq_query(pgh.q, "SELECT 1", PGQ_MAX_PARAMS + 1, p,
        qres_cb, NULL), XS_EINVAL);
    assert_int_equal(pgq_query(pgh.q, "SELECT 1", 0, NULL, NULL, NULL),
        XS_EINVAL);
    assert_int_equal(pgq_query(pgh.q, "SELECT $1", 1, NULL, qres_cb, NULL),
        XS_EINVAL);
}

static void
pgq_sql_error(void **state)
{
    struct qres r;

    (void)state;
    query_wait(pgh.q, "SELECT * FROM no_such_table_xyz", 0, NULL, &r);
    assert_int_equal(r.rc, XS_EIO);
    assert_true(r.has_res);
    assert_string_equal(r.sqlstate, "42P01");
    /* The pool still works afterwards. */
    query_wait(pgh.q, "SELECT 1", 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_equal(r.val[0], "1");
}

static void
pgq_script_is_all_or_nothing(void **state)
{
    struct qres r;

    (void)state;
    script_wait(pgh.q, "CREATE TABLE t_script (a int); SELECT 1/0", &r);
    assert_int_equal(r.rc, XS_EIO);
    assert_string_equal(r.sqlstate, "22012");
    query_wait(pgh.q, "SELECT to_regclass('t_script') IS NULL", 0, NULL, &r);
    assert_string_equal(r.val[0], "t");
    /* The last statement's result comes back. */
    script_wait(pgh.q, "SELECT 1; SELECT 2, 3", &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_equal(r.val[0], "2");
    assert_string_equal(r.val[1], "3");
}

static void
pgq_rolls_back_a_transaction_left_open(void **state)
{
    struct qres r;

    (void)state;
    script_wait(pgh.q, "BEGIN; CREATE TABLE t_open (a int)", &r);
    assert_int_equal(r.rc, XS_OK);
    /* Whatever connection answers, it must not see the table. */
    for (int i = 0; i < 4; i++) {
        query_wait(pgh.q, "SELECT to_regclass('t_open') IS NULL, "
            "pg_current_xact_id_if_assigned() IS NULL", 0, NULL, &r);
        assert_int_equal(r.rc, XS_OK);
        assert_string_equal(r.val[0], "t");
        assert_string_equal(r.val[1], "t");
    }
}

static void
pgq_unique_violation_is_eexist(void **state)
{
    const char *p[] = { "k1" };
    struct qres r;

    (void)state;
    script_wait(pgh.q, "DROP TABLE IF EXISTS t_uniq;"
        " CREATE TABLE t_uniq (k text PRIMARY KEY)", &r);
    assert_int_equal(r.rc, XS_OK);
    query_wait(pgh.q, "INSERT INTO t_uniq (k) VALUES ($1)", 1, p, &r);
    assert_int_equal(r.rc, XS_OK);
    query_wait(pgh.q, "INSERT INTO t_uniq (k) VALUES ($1)", 1, p, &r);
    assert_int_equal(r.rc, XS_EEXIST);
    assert_true(r.has_res);
    assert_string_equal(r.sqlstate, "23505");
}

static void
pgq_queue_limit(void **state)
{
    struct pgq *q;
    struct qres r[4];
    struct pgq_stats st;
    int done = 0;

    (void)state;
    assert_int_equal(pgq_new(pgh.base, pgh.conninfo, 1, 2, &q), XS_OK);
    assert_true(pgh_run_until_ready(q, 5000));
    memset(r, 0, sizeof(r));
    for (int i = 0; i < 3; i++) {
        r[i].counter = &done;
        assert_int_equal(pgq_query(q, "SELECT pg_sleep(0.2)", 0, NULL,
            qres_cb, &r[i]), XS_OK);
        r[i].returned = true;
    }
    /* One in flight, two waiting: the fourth is refused now, no callback. */
    r[3].counter = &done;
    assert_int_equal(pgq_query(q, "SELECT 1", 0, NULL, qres_cb, &r[3]),
        XS_ELIMIT);
    pgq_stats(q, &st);
    assert_int_equal(st.waiting, 2);
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(st.rejected, 1);
    assert_true(pgh_run_until(&done, 3, 5000));
    for (int i = 0; i < 3; i++) {
        assert_false(r[i].early);
        assert_int_equal(r[i].calls, 1);
        assert_int_equal(r[i].rc, XS_OK);
    }
    assert_int_equal(r[3].calls, 0);
    pgq_stats(q, &st);
    assert_int_equal(st.queries, 3);
    assert_int_equal(st.waiting, 0);
    assert_true(st.latency_ms_max >= 200);
    pgq_free(q);
}

static void
pgq_fails_waiting_requests_when_no_server(void **state)
{
    struct pgq *q;
    struct qres r;
    int done = 0;
    uint64_t t0;

    (void)state;
    assert_int_equal(pgq_new(pgh.base, "host=/nonexistent/xs-pgq dbname=x",
        1, 4, &q), XS_OK);
    pgq_set_timeouts(q, 300, 0);
    memset(&r, 0, sizeof(r));
    r.counter = &done;
    t0 = xs_now_ms();
    assert_int_equal(pgq_query(q, "SELECT 1", 0, NULL, qres_cb, &r), XS_OK);
    r.returned = true;
    assert_true(pgh_run_until(&done, 1, 3000));
    assert_false(r.early);
    assert_int_equal(r.rc, XS_EIO);
    assert_false(r.has_res);
    assert_true(xs_now_ms() - t0 >= 290);
    assert_false(pgq_is_ready(q));
    pgq_free(q);
}

static void
pgq_bad_conninfo(void **state)
{
    struct pgq *q = (struct pgq *)1;

    (void)state;
    assert_int_equal(pgq_new(pgh.base, "nonsense_key=1", 1, 4, &q), XS_EINVAL);
    assert_null(q);
    pgq_free(NULL);
}

/* ---- migrations ---- */

struct mres {
    int     calls;
    xs_rc   rc;
    int     version;
    int    *counter;
};

static void
mres_cb(xs_rc rc, int version, void *udata)
{
    struct mres *m = udata;

    m->calls++;
    m->rc = rc;
    m->version = version;
    (*m->counter)++;
}

static void
migrate_wait(struct mres *m, int n)
{
    int done = 0;

    memset(m, 0, sizeof(*m) * (size_t)n);
    for (int i = 0; i < n; i++) {
        m[i].counter = &done;
        assert_int_equal(pgq_migrate(pgh.q, mres_cb, &m[i]), XS_OK);
        assert_int_equal(m[i].calls, 0);
    }
    assert_true(pgh_run_until(&done, n, 10000));
}

static void
migrate_applies_once(void **state)
{
    size_t count;
    const struct pgq_migration *list = pgq_migrations(&count);
    int latest;
    struct mres m[2];
    struct qres r;
    char want[16];

    (void)state;
    assert_true(count >= 1);
    assert_int_equal(list[0].version, 1);
    assert_string_equal(list[0].name, "001_accounts");
    latest = list[count - 1].version;
    snprintf(want, sizeof(want), "%zu", count);

    migrate_wait(m, 1);
    assert_int_equal(m[0].rc, XS_OK);
    assert_int_equal(m[0].version, latest);
    /* A second run is a no-op. */
    migrate_wait(m, 1);
    assert_int_equal(m[0].rc, XS_OK);
    assert_int_equal(m[0].version, latest);
    query_wait(pgh.q, "SELECT count(*), max(version) FROM schema_migrations",
        0, NULL, &r);
    assert_string_equal(r.val[0], want);

    /* From scratch, two at once (both connections): both succeed, once.
     * Every migration's tables go, whatever depends on what. */
    script_wait(pgh.q, "DROP SCHEMA public CASCADE; CREATE SCHEMA public", &r);
    assert_int_equal(r.rc, XS_OK);
    migrate_wait(m, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(m[i].calls, 1);
        assert_int_equal(m[i].rc, XS_OK);
        assert_int_equal(m[i].version, latest);
    }
    query_wait(pgh.q, "SELECT count(*) FROM schema_migrations", 0, NULL, &r);
    assert_string_equal(r.val[0], want);
    query_wait(pgh.q, "SELECT to_regclass('accounts') IS NOT NULL", 0, NULL,
        &r);
    assert_string_equal(r.val[0], "t");
}

/* ---- accounts ---- */

struct ares {
    int                     calls;
    xs_rc                   rc;
    struct xs_account_creds creds;
    bool                    has_creds;
    size_t                  n;
    char                    names[8][32];
};

static void
ares_done(xs_rc rc, void *udata)
{
    struct ares *a = udata;

    a->calls++;
    a->rc = rc;
}

static void
ares_creds(xs_rc rc, const struct xs_account_creds *c, void *udata)
{
    struct ares *a = udata;

    a->calls++;
    a->rc = rc;
    a->has_creds = c != NULL;
    if (c != NULL)
        a->creds = *c;
}

static void
ares_list(xs_rc rc, char **names, size_t n, void *udata)
{
    struct ares *a = udata;

    a->calls++;
    a->rc = rc;
    a->n = n;
    for (size_t i = 0; i < n && i < 8; i++)
        snprintf(a->names[i], sizeof(a->names[i]), "%s", names[i]);
}

static void
fake_creds(struct xs_account_creds *c)
{
    randombytes_buf(c, sizeof(*c));
    c->sha1_iter = 4096;
    c->sha256_iter = 8192;
}

#define A_WAIT(a, call) PGH_CALL_WAIT(a, call, 5000)

static void
accounts_lifecycle(void **state)
{
    static const char host[] = "example.test";
    const char *order[] = { "carol", "alice", "bob" };
    struct xs_account_creds c1, c2, c3;
    struct ares a;

    (void)state;
    fake_creds(&c1);
    fake_creds(&c2);
    for (size_t i = 0; i < 3; i++) {
        A_WAIT(a, xs_accounts_create(pgh.q, order[i], host, &c1, ares_done,
            &a));
        assert_int_equal(a.rc, XS_OK);
    }
    A_WAIT(a, xs_accounts_create(pgh.q, "alice", host, &c2, ares_done, &a));
    assert_int_equal(a.rc, XS_EEXIST);
    /* Same name on another host is another account. */
    A_WAIT(a, xs_accounts_create(pgh.q, "alice", "other.test", &c2, ares_done,
        &a));
    assert_int_equal(a.rc, XS_OK);

    A_WAIT(a, xs_accounts_get_creds(pgh.q, "alice", host, ares_creds, &a));
    assert_int_equal(a.rc, XS_OK);
    assert_true(a.has_creds);
    assert_memory_equal(&a.creds, &c1, sizeof(c1));
    A_WAIT(a, xs_accounts_get_creds(pgh.q, "nobody", host, ares_creds, &a));
    assert_int_equal(a.rc, XS_ENOTFOUND);
    assert_false(a.has_creds);

    A_WAIT(a, xs_accounts_set_creds(pgh.q, "alice", host, &c2, ares_done, &a));
    assert_int_equal(a.rc, XS_OK);
    A_WAIT(a, xs_accounts_get_creds(pgh.q, "alice", host, ares_creds, &a));
    assert_memory_equal(&a.creds, &c2, sizeof(c2));
    A_WAIT(a, xs_accounts_set_creds(pgh.q, "nobody", host, &c2, ares_done,
        &a));
    assert_int_equal(a.rc, XS_ENOTFOUND);

    /* A SHA-256-only account (an import): the SHA-1 half comes back 0. */
    fake_creds(&c3);
    c3.sha1_iter = 0;
    A_WAIT(a, xs_accounts_create(pgh.q, "dave", host, &c3, ares_done, &a));
    assert_int_equal(a.rc, XS_OK);
    A_WAIT(a, xs_accounts_get_creds(pgh.q, "dave", host, ares_creds, &a));
    assert_int_equal(a.rc, XS_OK);
    assert_int_equal(a.creds.sha1_iter, 0);
    assert_int_equal(a.creds.sha256_iter, 8192);
    assert_memory_equal(a.creds.sha256_stored, c3.sha256_stored, 32);

    A_WAIT(a, xs_accounts_list(pgh.q, host, ares_list, &a));
    assert_int_equal(a.rc, XS_OK);
    assert_int_equal(a.n, 4);
    assert_string_equal(a.names[0], "alice");
    assert_string_equal(a.names[1], "bob");
    assert_string_equal(a.names[2], "carol");
    assert_string_equal(a.names[3], "dave");
    A_WAIT(a, xs_accounts_list(pgh.q, "empty.test", ares_list, &a));
    assert_int_equal(a.rc, XS_OK);
    assert_int_equal(a.n, 0);

    A_WAIT(a, xs_accounts_touch_login(pgh.q, "alice", host, ares_done, &a));
    assert_int_equal(a.rc, XS_OK);
    A_WAIT(a, xs_accounts_touch_login(pgh.q, "nobody", host, ares_done, &a));
    assert_int_equal(a.rc, XS_ENOTFOUND);

    A_WAIT(a, xs_accounts_delete(pgh.q, "bob", host, ares_done, &a));
    assert_int_equal(a.rc, XS_OK);
    A_WAIT(a, xs_accounts_delete(pgh.q, "bob", host, ares_done, &a));
    assert_int_equal(a.rc, XS_ENOTFOUND);
    A_WAIT(a, xs_accounts_list(pgh.q, host, ares_list, &a));
    assert_int_equal(a.n, 3);
    assert_string_equal(a.names[1], "carol");

    /* Refused at once, no callback. */
    c3.sha256_iter = 0;
    assert_int_equal(xs_accounts_create(pgh.q, "erin", host, &c3, ares_done,
        &a), XS_EINVAL);
    assert_int_equal(xs_accounts_create(pgh.q, "", host, &c1, ares_done, &a),
        XS_EINVAL);
    assert_int_equal(xs_accounts_get_creds(pgh.q, "alice", NULL, ares_creds,
        &a), XS_EINVAL);
}

/* ---- prepared statements ---- */

/* A pool of one: every request runs on the same server session. */
static struct pgq *
pool_of_one(size_t max_waiting)
{
    struct pgq *q;

    assert_int_equal(pgq_new(pgh.base, pgh.conninfo, 1, max_waiting, &q),
        XS_OK);
    assert_true(pgh_run_until_ready(q, 5000));
    return q;
}

static void
pgq_prepared_statements_are_reused(void **state)
{
    static const char sql[] = "SELECT $1::int + 1";
    const char *p[] = { "41" };
    const char *text[] = { sql };
    struct pgq *q = pool_of_one(8);
    struct pgq_stats st;
    struct qres r;

    (void)state;
    for (int i = 0; i < 3; i++) {
        query_wait(q, sql, 1, p, &r);
        assert_int_equal(r.rc, XS_OK);
        assert_string_equal(r.val[0], "42");
    }
    pgq_stats(q, &st);
    assert_int_equal(st.prepares, 1);           /* once, then executed */
    assert_int_equal(st.executes_prepared, 3);
    /* The server holds it under our name, on this session. */
    query_wait(q, "SELECT name FROM pg_prepared_statements"
        " WHERE statement = $1", 1, text, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_int_equal(r.ntuples, 1);
    assert_string_equal(r.val[0], "s1");
    pgq_stats(q, &st);
    assert_int_equal(st.prepares, 2);
    assert_int_equal(st.executes_prepared, 4);
    pgq_free(q);
}

static void
pgq_statement_cache_evicts_and_deallocates(void **state)
{
    struct pgq *q = pool_of_one(8);
    struct pgq_stats st;
    struct qres r;
    char sql[64];
    int extra = 10;

    (void)state;
    for (int i = 0; i < PGQ_STMT_CACHE + extra; i++) {
        snprintf(sql, sizeof(sql), "SELECT %d AS v", i);
        query_wait(q, sql, 0, NULL, &r);
        assert_int_equal(r.rc, XS_OK);
        assert_int_equal(atoi(r.val[0]), i);
    }
    pgq_stats(q, &st);
    assert_int_equal(st.prepares, PGQ_STMT_CACHE + extra);
    assert_int_equal(st.stmt_evictions, extra);
    /* Server memory is bounded: evicted statements were DEALLOCATEd. */
    query_wait(q, "SELECT count(*) FROM pg_prepared_statements", 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_int_equal(atoi(r.val[0]), PGQ_STMT_CACHE);
    /* The oldest text was evicted: it is prepared again, and works. */
    query_wait(q, "SELECT 0 AS v", 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_equal(r.val[0], "0");
    pgq_stats(q, &st);
    assert_int_equal(st.prepares, PGQ_STMT_CACHE + extra + 2);
    assert_int_equal(st.stmt_retries, 0);
    assert_int_equal(st.errors, 0);
    pgq_free(q);
}

static void
pgq_prepared_statement_errors(void **state)
{
    static const char div[] = "SELECT 10 / $1::int";
    const char *zero[] = { "0" };
    const char *two[] = { "2" };
    struct pgq *q = pool_of_one(8);
    struct pgq_stats st;
    struct qres r;

    (void)state;
    /* A runtime error, on the prepare round trip and then on the cache. */
    for (int i = 0; i < 2; i++) {
        query_wait(q, div, 1, zero, &r);
        assert_int_equal(r.rc, XS_EIO);
        assert_true(r.has_res);
        assert_string_equal(r.sqlstate, "22012");
    }
    query_wait(q, div, 1, two, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_equal(r.val[0], "5");
    pgq_stats(q, &st);
    assert_int_equal(st.prepares, 1);
    /* A failed prepare is the query's error, and is not cached. */
    for (int i = 0; i < 2; i++) {
        query_wait(q, "SELEC 1", 0, NULL, &r);
        assert_int_equal(r.rc, XS_EIO);
        assert_true(r.has_res);
        assert_string_equal(r.sqlstate, "42601");
    }
    /* Parameters the text does not use: bind fails, as before. */
    query_wait(q, "SELECT 1", 1, two, &r);
    assert_int_equal(r.rc, XS_EIO);
    assert_true(r.has_res);
    pgq_stats(q, &st);
    assert_int_equal(st.prepares, 4);
    assert_int_equal(st.errors, 5);
    query_wait(q, div, 1, two, &r);
    assert_int_equal(r.rc, XS_OK);
    pgq_free(q);
}

static void
pgq_stale_statement_is_prepared_again(void **state)
{
    static const char sel[] = "SELECT * FROM t_stale";
    struct pgq *q = pool_of_one(8);
    struct pgq_stats st;
    struct qres r;

    (void)state;
    script_wait(q, "DROP TABLE IF EXISTS t_stale;"
        " CREATE TABLE t_stale (a int); INSERT INTO t_stale VALUES (1)", &r);
    assert_int_equal(r.rc, XS_OK);
    query_wait(q, sel, 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    /* The result type changes under the cached plan: 0A000, retried. */
    script_wait(q, "ALTER TABLE t_stale ADD COLUMN b int DEFAULT 7", &r);
    assert_int_equal(r.rc, XS_OK);
    query_wait(q, sel, 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_equal(r.val[0], "1");
    assert_string_equal(r.val[1], "7");
    /* The server forgot every statement: 26000, retried. */
    script_wait(q, "DEALLOCATE ALL", &r);
    assert_int_equal(r.rc, XS_OK);
    query_wait(q, sel, 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_equal(r.val[1], "7");
    pgq_stats(q, &st);
    assert_int_equal(st.stmt_retries, 2);
    assert_int_equal(st.errors, 0);
    assert_int_equal(st.prepares, 3);
    pgq_free(q);
}

static void
pgq_reconnect_clears_statement_cache(void **state)
{
    static const char sql[] = "SELECT pg_backend_pid()";
    struct pgq *q = pool_of_one(8);
    struct pgq_stats st;
    struct qres r;
    char pid[sizeof(((struct qres *)0)->val[0])];
    const char *p[] = { pid };
    uint64_t deadline;

    (void)state;
    query_wait(q, sql, 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    snprintf(pid, sizeof(pid), "%s", r.val[0]);
    query_wait(pgh.q, "SELECT pg_terminate_backend($1::int)", 1, p, &r);
    assert_string_equal(r.val[0], "t");
    deadline = xs_now_ms() + 5000;
    do {
        pgh_run_for(20);
        pgq_stats(q, &st);
    } while ((st.reconnects == 0 || !pgq_is_ready(q))
        && xs_now_ms() < deadline);
    assert_int_equal(st.reconnects, 1);
    /* A new session: prepared again (no stale-statement retry needed). */
    query_wait(q, sql, 0, NULL, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_not_equal(r.val[0], pid);
    pgq_stats(q, &st);
    assert_int_equal(st.prepares, 2);
    assert_int_equal(st.stmt_retries, 0);
    pgq_free(q);
}

/* Completion order, for the lanes. */
static int order_next;
static int order_of[8];

static void
order_cb(xs_rc rc, const PGresult *res, void *udata)
{
    int i = (int)(intptr_t)udata;

    (void)res;
    order_of[i] = rc == XS_OK ? ++order_next : -1;
}

static void
pgq_background_lane(void **state)
{
    struct pgq *q = pool_of_one(2);
    struct pgq_stats st;

    (void)state;
    order_next = 0;
    memset(order_of, 0, sizeof(order_of));
    /* Background first, while the connection is busy with a foreground. */
    assert_int_equal(pgq_query(q, "SELECT pg_sleep(0.1)", 0, NULL, order_cb,
        (void *)0), XS_OK);
    assert_int_equal(pgq_query_bg(q, "SELECT 'bg1'", 0, NULL, order_cb,
        (void *)1), XS_OK);
    assert_int_equal(pgq_query_bg(q, "SELECT 'bg2'", 0, NULL, order_cb,
        (void *)2), XS_OK);
    assert_int_equal(pgq_query_bg(q, "SELECT 'bg3'", 0, NULL, order_cb,
        (void *)7), XS_ELIMIT);     /* its own bound */
    /* The background lane does not take places in the FIFO. */
    assert_int_equal(pgq_query(q, "SELECT 'fg1'", 0, NULL, order_cb,
        (void *)3), XS_OK);
    assert_int_equal(pgq_query(q, "SELECT 'fg2'", 0, NULL, order_cb,
        (void *)4), XS_OK);
    assert_int_equal(pgq_query(q, "SELECT 'fg3'", 0, NULL, order_cb,
        (void *)5), XS_ELIMIT);
    pgq_stats(q, &st);
    assert_int_equal(st.waiting, 2);
    assert_int_equal(st.bg_waiting, 2);
    assert_int_equal(st.rejected, 1);
    assert_int_equal(st.bg_rejected, 1);
    assert_true(pgh_run_until(&order_next, 5, 5000));
    /* Foreground first, then the background ones in their order. */
    assert_int_equal(order_of[0], 1);
    assert_int_equal(order_of[3], 2);
    assert_int_equal(order_of[4], 3);
    assert_int_equal(order_of[1], 4);
    assert_int_equal(order_of[2], 5);
    assert_int_equal(order_of[5], 0);
    assert_int_equal(order_of[7], 0);
    pgq_free(q);
}

/* pgq_get_int64: a number, a NULL, a text that is not one. */
static void
int_cells_cb(xs_rc rc, const PGresult *res, void *udata)
{
    int *done = udata;
    int64_t v = 0;

    assert_int_equal(rc, XS_OK);
    assert_true(pgq_get_int64(res, 0, 0, &v));
    assert_int_equal(v, -9007199254740993LL);
    assert_false(pgq_get_int64(res, 0, 1, &v));
    assert_false(pgq_get_int64(res, 0, 2, &v));
    assert_false(pgq_get_int64(res, 0, 3, &v));
    (*done)++;
}

static void
pgq_get_int64_cells(void **state)
{
    int done = 0;

    (void)state;
    assert_int_equal(pgq_query(pgh.q, "SELECT -9007199254740993::bigint,"
        " NULL::bigint, '12x', ''", 0, NULL, int_cells_cb, &done), XS_OK);
    assert_true(pgh_run_until(&done, 1, 5000));
}

/* ---- releasing the udata of dropped requests ---- */

/*
 * A udata of pgq_query_rel: heap-allocated, so that under ASan a release
 * that does not come (or comes twice) is a leak (or a double free).  The
 * counters live outside it.
 */
struct rel_counts {
    int          calls;         /* callbacks */
    int          released;      /* release functions */
    int          last_rc;
    struct pgq  *q;             /* for the release that calls pgq anyway */
    xs_rc        late_rc;       /* what pgq_query said to it */
};

struct rel_op {
    struct rel_counts *n;       /* borrowed */
    char              *blob;    /* owned: something to leak */
};

static struct rel_op *
rel_op_new(struct rel_counts *n)
{
    struct rel_op *op = xs_calloc(1, sizeof(*op));

    op->n = n;
    op->blob = xs_strdup("owned by the request");
    return op;
}

static void
rel_op_free(struct rel_op *op)
{
    xs_free(op->blob);
    xs_free(op);
}

static void
rel_cb(xs_rc rc, const PGresult *res, void *udata)
{
    struct rel_op *op = udata;

    (void)res;
    op->n->calls++;
    op->n->last_rc = rc;
    rel_op_free(op);
}

static void
rel_release(void *udata)
{
    struct rel_op *op = udata;

    op->n->released++;
    if (op->n->q != NULL)
        op->n->late_rc = pgq_query(op->n->q, "SELECT 1", 0, NULL, qres_cb,
            NULL);
    rel_op_free(op);
}

/* In flight, waiting, refused: pgq_free releases exactly the dropped ones,
 * and calls no callback; a plain pgq_query's udata is not touched. */
static void
pgq_free_releases_dropped_requests(void **state)
{
    struct pgq *q = pool_of_one(2);
    struct rel_counts n;
    struct rel_op *refused;
    struct qres plain;
    struct pgq_stats st;

    (void)state;
    memset(&n, 0, sizeof(n));
    memset(&plain, 0, sizeof(plain));
    /* One that completes first: its callback frees it, no release later. */
    assert_int_equal(pgq_query_rel(q, "SELECT 1", 0, NULL, rel_cb,
        rel_release, rel_op_new(&n)), XS_OK);
    assert_true(pgh_run_until(&n.calls, 1, 5000));
    assert_int_equal(n.last_rc, XS_OK);
    /* One in flight for a while, two waiting behind it. */
    assert_int_equal(pgq_query_rel(q, "SELECT pg_sleep(2)", 0, NULL, rel_cb,
        rel_release, rel_op_new(&n)), XS_OK);
    assert_int_equal(pgq_query_rel(q, "SELECT 2", 0, NULL, rel_cb,
        rel_release, rel_op_new(&n)), XS_OK);
    assert_int_equal(pgq_query(q, "SELECT 3", 0, NULL, qres_cb, &plain),
        XS_OK);
    /* Refused: no callback, no release; the caller keeps its udata. */
    refused = rel_op_new(&n);
    assert_int_equal(pgq_query_rel(q, "SELECT 4", 0, NULL, rel_cb,
        rel_release, refused), XS_ELIMIT);
    rel_op_free(refused);
    assert_int_equal(pgq_query_rel(q, "SELECT 1", PGQ_MAX_PARAMS + 1, NULL,
        rel_cb, rel_release, &n), XS_EINVAL);
    pgh_run_for(100);
    pgq_stats(q, &st);
    assert_int_equal(st.in_flight, 1);
    assert_int_equal(st.waiting, 2);
    /* A release that calls pgq anyway is refused, not queued. */
    n.q = q;
    n.late_rc = XS_OK;
    pgq_free(q);
    assert_int_equal(n.released, 2);
    assert_int_equal(n.calls, 1);
    assert_int_equal(n.late_rc, XS_EIO);
    assert_int_equal(plain.calls, 0);
}

/* pgq_close runs the callbacks (they free the udata): nothing is left for
 * a release, then or at pgq_free. */
static void
pgq_close_calls_back_instead_of_releasing(void **state)
{
    struct pgq *q = pool_of_one(4);
    struct rel_counts n;

    (void)state;
    memset(&n, 0, sizeof(n));
    assert_int_equal(pgq_query_rel(q, "SELECT pg_sleep(2)", 0, NULL, rel_cb,
        rel_release, rel_op_new(&n)), XS_OK);
    assert_int_equal(pgq_query_rel(q, "SELECT 2", 0, NULL, rel_cb,
        rel_release, rel_op_new(&n)), XS_OK);
    pgh_run_for(100);
    pgq_close(q);
    assert_int_equal(n.calls, 2);
    assert_int_equal(n.last_rc, XS_EIO);
    assert_int_equal(n.released, 0);
    assert_int_equal(pgq_query_rel(q, "SELECT 3", 0, NULL, rel_cb,
        rel_release, &n), XS_EIO);
    pgq_free(q);
    assert_int_equal(n.calls, 2);
    assert_int_equal(n.released, 0);
}

/* A pool that never connects, with nreq pgq_query_rel requests waiting
 * (they fail after 200 ms). */
static struct pgq *
pool_without_server(struct rel_counts *n, int nreq)
{
    struct pgq *q;

    memset(n, 0, sizeof(*n));
    assert_int_equal(pgq_new(pgh.base, "host=/nonexistent/xs-pgq dbname=x",
        1, 4, &q), XS_OK);
    pgq_set_timeouts(q, 200, 0);
    for (int i = 0; i < nreq; i++)
        assert_int_equal(pgq_query_rel(q, "SELECT 1", 0, NULL, rel_cb,
            rel_release, rel_op_new(n)), XS_OK);
    return q;
}

/* With no server: requests that wait for a connection are released; once
 * the wait timeout failed them through their callbacks, nothing is. */
static void
pgq_free_releases_waiting_requests(void **state)
{
    struct rel_counts n;
    struct pgq *q = pool_without_server(&n, 2);

    (void)state;
    pgq_free(q);
    assert_int_equal(n.calls, 0);
    assert_int_equal(n.released, 2);

    q = pool_without_server(&n, 1);
    assert_true(pgh_run_until(&n.calls, 1, 3000));
    assert_int_equal(n.last_rc, XS_EIO);
    pgq_free(q);
    assert_int_equal(n.released, 0);
}

/* ---- last login, batched ---- */

struct touch_res {
    int     calls;
    xs_rc   rc;
    int    *done;
};

static void
touch_cb(xs_rc rc, void *udata)
{
    struct touch_res *t = udata;

    t->calls++;
    t->rc = rc;
    (*t->done)++;
}

/*
 * One touch and its batch: after a quiet interval it goes out at once,
 * and it starts an interval during which the next touches wait.
 */
static void
touch_one_now(const char *user, const char *host, xs_rc want)
{
    struct touch_res t;
    struct pgq_stats st;
    int done = 0;

    memset(&t, 0, sizeof(t));
    t.done = &done;
    assert_int_equal(xs_accounts_touch_login(pgh.q, user, host, touch_cb, &t),
        XS_OK);
    pgq_stats(pgh.q, &st);
    assert_int_equal(st.bg_waiting + st.in_flight, 1);  /* not the timer */
    assert_true(pgh_run_until(&done, 1, 5000));
    assert_int_equal(t.rc, want);
}

static void
accounts_touch_login_is_batched(void **state)
{
    static const char host[] = "example.test";
    const char *users[] = { "alice", "carol", "dave", "nobody" };
    struct touch_res t[50];
    struct pgq_stats st0, st;
    struct qres r;
    char now[32];
    const char *p[] = { now };
    int done = 0;

    (void)state;
    script_wait(pgh.q, "UPDATE accounts SET last_login = NULL;"
        " UPDATE accounts SET last_login = now() + interval '1 day'"
        " WHERE username = 'alice' AND host = 'other.test'", &r);
    assert_int_equal(r.rc, XS_OK);
    /* Wait out the interval of earlier tests' touches. */
    pgh_run_until(&done, 1, 1100);
    touch_one_now("bob", "nowhere.test", XS_ENOTFOUND);
    pgq_stats(pgh.q, &st0);
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 50; i++) {
        t[i].done = &done;
        assert_int_equal(xs_accounts_touch_login(pgh.q, users[i % 4], host,
            touch_cb, &t[i]), XS_OK);
    }
    /* Fire and forget, and a stamp that must not move last_login back. */
    assert_int_equal(xs_accounts_touch_login(pgh.q, "carol", host, NULL,
        NULL), XS_OK);
    assert_int_equal(xs_accounts_touch_login(pgh.q, "alice", "other.test",
        NULL, NULL), XS_OK);
    assert_int_equal(xs_accounts_touch_login(pgh.q, "", host, NULL, NULL),
        XS_EINVAL);
    assert_int_equal(done, 0);          /* later, never from the call */
    pgq_stats(pgh.q, &st);
    assert_int_equal(st.bg_waiting + st.in_flight, 0);  /* the interval's */
    assert_true(pgh_run_until(&done, 50, 5000));
    for (int i = 0; i < 50; i++) {
        assert_int_equal(t[i].calls, 1);
        assert_int_equal(t[i].rc, i % 4 == 3 ? XS_ENOTFOUND : XS_OK);
    }
    pgq_stats(pgh.q, &st);
    assert_int_equal(st.queries - st0.queries, 1);     /* ONE statement */
    assert_int_equal(st.errors - st0.errors, 0);
    snprintf(now, sizeof(now), "%" PRId64, xs_wall_s());
    query_wait(pgh.q, "SELECT count(*) FILTER (WHERE host = 'example.test'"
        " AND abs(extract(epoch FROM last_login) - $1::bigint) <= 5),"
        " count(*) FILTER (WHERE host = 'other.test'"
        " AND last_login > now() + interval '12 hours'),"
        " count(*) FILTER (WHERE last_login IS NULL) FROM accounts",
        1, p, &r);
    assert_int_equal(r.rc, XS_OK);
    assert_string_equal(r.val[0], "3");     /* alice, carol, dave */
    assert_string_equal(r.val[1], "1");     /* not moved back */
    assert_string_equal(r.val[2], "0");
}

static void
accounts_touch_login_flushes_when_full(void **state)
{
    struct touch_res t[600];
    struct pgq_stats st0, st;
    char user[32];
    int done = 0;

    (void)state;
    pgh_run_until(&done, 1, 1100);
    touch_one_now("ghost", "example.test", XS_ENOTFOUND);
    pgq_stats(pgh.q, &st0);
    memset(t, 0, sizeof(t));
    for (int i = 0; i < 600; i++) {
        snprintf(user, sizeof(user), "ghost%d", i);
        t[i].done = &done;
        assert_int_equal(xs_accounts_touch_login(pgh.q, user, "example.test",
            touch_cb, &t[i]), XS_OK);
    }
    /* 512 waiting sent one batch at once, without waiting for the timer. */
    pgq_stats(pgh.q, &st);
    assert_int_equal(st.bg_waiting + st.in_flight, 1);
    assert_true(pgh_run_until(&done, 600, 5000));
    for (int i = 0; i < 600; i++) {
        assert_int_equal(t[i].calls, 1);
        assert_int_equal(t[i].rc, XS_ENOTFOUND);
    }
    pgq_stats(pgh.q, &st);
    assert_int_equal(st.queries - st0.queries, 2);
}

/* ---- reconnect ---- */

static void
pgq_reconnects_after_server_restart(void **state)
{
    struct qres r[3];
    struct pgq_stats st;
    int done = 0;
    uint64_t t0;

    (void)state;
    pgq_set_timeouts(pgh.q, 1000, 0);
    assert_int_equal(pgh_cluster_stop(), XS_OK);

    /* In flight on a dead connection or waiting with none up: XS_EIO. */
    memset(r, 0, sizeof(r));
    t0 = xs_now_ms();
    for (int i = 0; i < 3; i++) {
        r[i].counter = &done;
        assert_int_equal(pgq_query(pgh.q, "SELECT 1", 0, NULL, qres_cb, &r[i]),
            XS_OK);
        r[i].returned = true;
    }
    assert_true(pgh_run_until(&done, 3, 4000));
    assert_true(xs_now_ms() - t0 < 3000);
    for (int i = 0; i < 3; i++) {
        assert_false(r[i].early);
        assert_int_equal(r[i].rc, XS_EIO);
        assert_false(r[i].has_res);
    }
    assert_false(pgq_is_ready(pgh.q));

    /* Queued while down, within the wait timeout: served after restart. */
    pgq_set_timeouts(pgh.q, 8000, 0);
    done = 0;
    memset(r, 0, sizeof(r));
    r[0].counter = &done;
    assert_int_equal(pgq_query(pgh.q, "SELECT count(*) FROM accounts", 0, NULL,
        qres_cb, &r[0]), XS_OK);
    r[0].returned = true;
    assert_int_equal(pgh_cluster_start(), XS_OK);
    assert_true(pgh_run_until(&done, 1, 7000));
    assert_true(pgq_is_ready(pgh.q));
    assert_false(r[0].early);
    assert_int_equal(r[0].rc, XS_OK);
    assert_string_equal(r[0].val[0], "4");     /* durable across restart */
    query_wait(pgh.q, "SELECT 1", 0, NULL, &r[1]);
    assert_int_equal(r[1].rc, XS_OK);
    pgq_stats(pgh.q, &st);
    assert_true(st.reconnects >= 1);
    assert_true(st.failed_io >= 3);
    pgq_set_timeouts(pgh.q, PGQ_WAIT_TIMEOUT_MS, 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pgq_params_round_trip),
        cmocka_unit_test(pgq_rejects_bad_arguments),
        cmocka_unit_test(pgq_sql_error),
        cmocka_unit_test(pgq_script_is_all_or_nothing),
        cmocka_unit_test(pgq_rolls_back_a_transaction_left_open),
        cmocka_unit_test(pgq_unique_violation_is_eexist),
        cmocka_unit_test(pgq_queue_limit),
        cmocka_unit_test(pgq_fails_waiting_requests_when_no_server),
        cmocka_unit_test(pgq_bad_conninfo),
        cmocka_unit_test(pgq_prepared_statements_are_reused),
        cmocka_unit_test(pgq_statement_cache_evicts_and_deallocates),
        cmocka_unit_test(pgq_prepared_statement_errors),
        cmocka_unit_test(pgq_stale_statement_is_prepared_again),
        cmocka_unit_test(pgq_reconnect_clears_statement_cache),
        cmocka_unit_test(pgq_background_lane),
        cmocka_unit_test(pgq_get_int64_cells),
        cmocka_unit_test(pgq_free_releases_dropped_requests),
        cmocka_unit_test(pgq_close_calls_back_instead_of_releasing),
        cmocka_unit_test(pgq_free_releases_waiting_requests),
        cmocka_unit_test(migrate_applies_once),
        cmocka_unit_test(accounts_lifecycle),
        cmocka_unit_test(accounts_touch_login_is_batched),
        cmocka_unit_test(accounts_touch_login_flushes_when_full),
        cmocka_unit_test(pgq_reconnects_after_server_restart),
    };

    return cmocka_run_group_tests_name("pgq", tests, group_setup,
        pgh_group_teardown);
}
