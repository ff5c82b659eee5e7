/*
 * tests/unit/support/pg_harness.c: the private cluster, its loop and pool,
 * and the loop and SQL helpers of the database unit tests (see
 * pg_harness.h).
 */
#include "tests/unit/support/pg_harness.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <event2/event.h>
#include <ftw.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db/migrate.h"
#include "db/pgq.h"

#define PGH_PG_SH "deploy/pg.sh"
#define PGH_TICK_MS 10          /* the longest loop turn: conditions poll */

struct pg_harness pgh;

/* The program's name, for messages and the directory. */
#define PGH_PROG program_invocation_short_name

/* ---- the cluster ---- */

/* deploy/pg.sh VERB DIR [--fast], without a shell; XS_OK when it exits 0. */
static xs_rc
pgh_pg_sh(const char *verb, bool is_fast)
{
    char prog[] = PGH_PG_SH, fast[] = "--fast", cmd[8];
    char *argv[] = { prog, cmd, pgh.dir, is_fast ? fast : NULL, NULL };
    pid_t pid;
    int n, status, err;

    n = snprintf(cmd, sizeof(cmd), "%s", verb);
    if (n < 0 || (size_t)n >= sizeof(cmd) || pgh.dir[0] == '\0')
        return XS_EINVAL;
    err = posix_spawn(&pid, prog, NULL, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "%s: cannot run %s: %s\n", PGH_PROG, prog,
            strerror(err));
        return XS_EIO;
    }
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR)
            return XS_EIO;
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: %s %s %s failed\n", PGH_PROG, prog, verb,
            pgh.dir);
        return XS_EIO;
    }
    return XS_OK;
}

static int
pgh_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    if (remove(path) != 0)
        fprintf(stderr, "%s: cannot remove %s: %s\n", PGH_PROG, path,
            strerror(errno));
    return 0;                   /* remove what else we can */
}

xs_rc
pgh_cluster_stop(void)
{
    return pgh_pg_sh("stop", false);
}

xs_rc
pgh_cluster_start(void)
{
    return pgh_pg_sh("start", true);
}

static void
pgh_migrate_cb(xs_rc rc, int version, void *udata)
{
    struct pgh_res *r = udata;

    (void)version;
    r->rc = rc;
    r->calls++;
}

static xs_rc
pgh_start(void)
{
    int n;

    if (access(PGH_PG_SH, X_OK) != 0) {
        fprintf(stderr, "%s: run from the repository root (%s)\n",
            PGH_PROG, PGH_PG_SH);
        return XS_EINVAL;
    }
    n = snprintf(pgh.dir, sizeof(pgh.dir), "/tmp/xs-%s-XXXXXX", PGH_PROG);
    if (n < 0 || (size_t)n >= sizeof(pgh.dir) || mkdtemp(pgh.dir) == NULL) {
        pgh.dir[0] = '\0';
        return XS_EIO;
    }
    if (pgh_cluster_start() != XS_OK)
        return XS_EIO;
    n = snprintf(pgh.conninfo, sizeof(pgh.conninfo),
        "host=%s dbname=xmppd user=xmppd", pgh.dir);
    if (n < 0 || (size_t)n >= sizeof(pgh.conninfo))
        return XS_EINVAL;
    pgh.base = event_base_new();
    if (pgh.base == NULL)
        return XS_ENOMEM;
    if (pgq_new(pgh.base, pgh.conninfo, 2, 64, &pgh.q) != XS_OK)
        return XS_EIO;
    if (!pgh_run_until_ready(pgh.q, 10000)) {
        fprintf(stderr, "%s: no connection to %s\n", PGH_PROG, pgh.dir);
        return XS_EIO;
    }
    return XS_OK;
}

xs_rc
pgh_setup(void)
{
    xs_rc rc = pgh_start();

    if (rc != XS_OK)
        pgh_teardown();
    return rc;
}

xs_rc
pgh_migrate(void)
{
    struct pgh_res m = { .rc = XS_EIO };

    if (pgq_migrate(pgh.q, pgh_migrate_cb, &m) != XS_OK
        || !pgh_run_until(&m.calls, 1, 20000) || m.rc != XS_OK) {
        fprintf(stderr, "%s: migrations failed\n", PGH_PROG);
        return XS_EIO;
    }
    return XS_OK;
}

void
pgh_teardown(void)
{
    /* As at the daemon's shutdown: pending callbacks run, then the free. */
    pgq_close(pgh.q);
    pgq_free(pgh.q);
    pgh.q = NULL;
    if (pgh.base != NULL)
        event_base_free(pgh.base);
    pgh.base = NULL;
    if (pgh.dir[0] != '\0') {
        (void)pgh_cluster_stop();
        (void)nftw(pgh.dir, pgh_rm_one, 16, FTW_DEPTH | FTW_PHYS);
        pgh.dir[0] = '\0';
    }
}

int
pgh_group_setup(void **state)
{
    (void)state;
    if (pgh_setup() != XS_OK)
        return -1;
    if (pgh_migrate() != XS_OK) {
        pgh_teardown();
        return -1;
    }
    return 0;
}

int
pgh_group_teardown(void **state)
{
    (void)state;
    pgh_teardown();
    return 0;
}

/* ---- the loop ---- */

static void
pgh_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
}

bool
pgh_run_until_cond(pgh_cond_fn *cond, void *arg, uint64_t ms)
{
    struct event *ev = event_new(pgh.base, -1, EV_PERSIST, pgh_tick, NULL);
    struct timeval tv = { 0, PGH_TICK_MS * 1000 };
    uint64_t deadline = xs_now_ms() + ms;

    xs_assert(ev != NULL);
    event_add(ev, &tv);
    while (!cond(arg) && xs_now_ms() < deadline)
        event_base_loop(pgh.base, EVLOOP_ONCE);
    event_free(ev);
    return cond(arg);
}

struct pgh_count_want {
    const int *count;           /* borrowed */
    int        want;
};

static bool
pgh_count_reached(void *arg)
{
    const struct pgh_count_want *c = arg;

    return *c->count >= c->want;
}

bool
pgh_run_until(const int *count, int want, uint64_t ms)
{
    struct pgh_count_want c = { count, want };

    return pgh_run_until_cond(pgh_count_reached, &c, ms);
}

static bool
pgh_never(void *arg)
{
    (void)arg;
    return false;
}

void
pgh_run_for(uint64_t ms)
{
    (void)pgh_run_until_cond(pgh_never, NULL, ms);
}

static bool
pgh_is_ready(void *arg)
{
    return pgq_is_ready(arg);
}

bool
pgh_run_until_ready(struct pgq *q, uint64_t ms)
{
    return pgh_run_until_cond(pgh_is_ready, q, ms);
}

/* ---- SQL for setting up and inspecting ---- */

static void
pgh_res_cb(xs_rc rc, const PGresult *res, void *udata)
{
    struct pgh_res *r = udata;

    r->calls++;
    r->rc = rc;
    if (res == NULL || PQresultStatus(res) != PGRES_TUPLES_OK)
        return;
    r->ntuples = PQntuples(res);
    for (int i = 0; i < PQnfields(res) && i < PGH_COLS && r->ntuples > 0;
        i++) {
        r->isnull[i] = PQgetisnull(res, 0, i);
        snprintf(r->val[i], sizeof(r->val[i]), "%s", PQgetvalue(res, 0, i));
    }
}

static void
pgh_wait(const char *sql, struct pgh_res *r)
{
    assert_true(pgh_run_until(&r->calls, 1, 10000));
    assert_int_equal(r->calls, 1);
    if (r->rc != XS_OK)
        fprintf(stderr, "%s: query failed: %s\n", PGH_PROG, sql);
    assert_int_equal(r->rc, XS_OK);
}

void
pgh_query(const char *sql, int n, const char *const *params,
    struct pgh_res *r)
{
    struct pgh_res mine;

    if (r == NULL)
        r = &mine;
    memset(r, 0, sizeof(*r));
    assert_int_equal(pgq_query(pgh.q, sql, n, params, pgh_res_cb, r), XS_OK);
    pgh_wait(sql, r);
}

void
pgh_script(const char *sql)
{
    struct pgh_res r;

    memset(&r, 0, sizeof(r));
    assert_int_equal(pgq_script(pgh.q, sql, pgh_res_cb, &r), XS_OK);
    pgh_wait(sql, &r);
}

long
pgh_count(const char *sql, int n, const char *const *params)
{
    struct pgh_res r;

    pgh_query(sql, n, params, &r);
    assert_int_equal(r.ntuples, 1);
    return atol(r.val[0]);
}
