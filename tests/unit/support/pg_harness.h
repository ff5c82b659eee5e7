/*
 * tests/unit/support/pg_harness.h: a private PostgreSQL cluster for the
 * unit tests that need a real one, with an event base and a pgq pool on
 * it, and the loop helpers those tests share.  Include it after cmocka.h.
 *
 * One cluster per test program: pgh_setup() runs `deploy/pg.sh start DIR
 * --fast` in a fresh mkdtemp directory (blocking is fine in a test), makes
 * an event base and a pool of 2 connections (64 waiting) and waits until
 * the pool is up; pgh_migrate() applies the embedded migrations;
 * pgh_teardown() closes and frees the pool and the base, stops the cluster
 * and removes the directory.  Call them from a cmocka group setup and
 * teardown (pgh_group_setup and pgh_group_teardown are both, ready-made),
 * from the repository root (make check-unit runs there).
 *
 * The pgh_run_* helpers turn the loop of pgh.base until a condition holds
 * or a timeout passes: a 10 ms tick keeps each turn short, so a condition
 * set outside a callback is seen too.  The pgh_query family runs one SQL
 * statement on pgh.q and waits for it, for setting up and inspecting
 * tables; it fails the running cmocka test when the statement fails, so
 * call it from a test, not from a group setup.
 */
#ifndef TESTS_UNIT_SUPPORT_PG_HARNESS_H
#define TESTS_UNIT_SUPPORT_PG_HARNESS_H

#include "xmppd/core/xs.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

struct event_base;
struct pgq;

struct pg_harness {
    char               dir[64];         /* the cluster's mkdtemp directory */
    char               conninfo[160];   /* for more pools on the cluster */
    struct event_base *base;            /* owned */
    struct pgq        *q;               /* owned: 2 connections, 64 waiting */
};

/* The program's cluster; zeroed until pgh_setup(). */
extern struct pg_harness pgh;

/*
 * Starts the cluster in /tmp/xs-PROGRAM-XXXXXX and connects pgh.q to it.
 * On failure it says why on stderr and leaves nothing behind (cmocka runs
 * no group teardown after a failed group setup).
 */
xs_rc pgh_setup(void);

/* Applies the embedded migrations on pgh.q and waits for them. */
xs_rc pgh_migrate(void);

/* Frees what pgh_setup() made, whatever point it reached. */
void pgh_teardown(void);

/*
 * cmocka group fixtures: pgh_setup() and pgh_migrate() (torn down again
 * when the migrations fail); pgh_teardown().
 */
int pgh_group_setup(void **state);
int pgh_group_teardown(void **state);

/* Stops and starts the cluster again under a live pool (deploy/pg.sh). */
xs_rc pgh_cluster_stop(void);
xs_rc pgh_cluster_start(void);

typedef bool pgh_cond_fn(void *arg);

/* Runs the loop until cond(arg) or ms pass; returns cond(arg). */
bool pgh_run_until_cond(pgh_cond_fn *cond, void *arg, uint64_t ms);

/* Until *count reaches want (a callback counts) or ms pass. */
bool pgh_run_until(const int *count, int want, uint64_t ms);

/* Runs the loop for ms. */
void pgh_run_for(uint64_t ms);

/* Until q has a connection up or ms pass. */
bool pgh_run_until_ready(struct pgq *q, uint64_t ms);

/*
 * Zeroes r, starts an asynchronous call whose callback counts itself in
 * (r).calls, asserts it returned XS_OK without calling back from inside,
 * then that exactly one callback came within ms.
 */
#define PGH_CALL_WAIT(r, call, ms)                                      \
    do {                                                                \
        memset(&(r), 0, sizeof(r));                                     \
        assert_int_equal((call), XS_OK);                                \
        assert_int_equal((r).calls, 0);                                 \
        assert_true(pgh_run_until(&(r).calls, 1, (ms)));                \
        assert_int_equal((r).calls, 1);                                 \
    } while (0)

#define PGH_COLS 8

/* One statement's outcome: the first row, copied during the callback. */
struct pgh_res {
    int   calls;
    xs_rc rc;
    int   ntuples;
    char  val[PGH_COLS][256];   /* "" for NULL, as PQgetvalue */
    bool  isnull[PGH_COLS];
};

/*
 * pgq_query() on pgh.q, then waits: asserts one callback within 10 s with
 * XS_OK.  r may be NULL when only success matters.
 */
void pgh_query(const char *sql, int n, const char *const *params,
    struct pgh_res *r);

/* pgq_script() on pgh.q (several statements, one transaction), likewise. */
void pgh_script(const char *sql);

/* A query returning one row whose first column is a number: that number. */
long pgh_count(const char *sql, int n, const char *const *params);

#endif
