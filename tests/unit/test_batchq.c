/*
 * tests/unit/test_batchq.c: db/batchq.c, the write-behind queue, against
 * a private PostgreSQL cluster (tests/unit/support/pg_harness.h).
 *
 * A store of the test's own writes rows of bq_t (a text, a nullable
 * bigint, a float8) through the queue.  Each test makes its own pool, so
 * that each starts with no queue and ends with pgq_close / pgq_free; the
 * store counts the copies it made and the ones the queue released, and
 * every test ends with both equal (ASan checks the rest).
 *
 * Run from the repository root (make check-unit does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/batchq.h"
#include "db/pgq.h"
#include "tests/unit/support/pg_harness.h"

#define T_BUILDS_MAX 4096

/* The text PostgreSQL refuses (the table's CHECK): a data error, 23514. */
#define T_POISON "poison"
/* Items whose text starts so do not count in stats.appended. */
#define T_NOCOUNT "nc:"

#define SQL_T_CREATE \
    "CREATE TABLE IF NOT EXISTS bq_t (id bigserial PRIMARY KEY," \
    " v text NOT NULL CHECK (v NOT LIKE 'poison%'), n bigint, f float8);" \
    "TRUNCATE bq_t RESTART IDENTITY"

#define SQL_T_INSERT \
    "INSERT INTO bq_t (v, n, f) SELECT v, n, f FROM unnest($1::text[]," \
    " $2::bigint[], $3::float8[]) WITH ORDINALITY AS u(v, n, f, o)" \
    " ORDER BY o"

/* What the test store saw. */
static struct {
    size_t copies;              /* items copied into the queue */
    size_t releases;            /* and released by it */
    size_t builds[T_BUILDS_MAX];    /* k of each statement built */
    size_t nbuilds;
    char  *refused[16];         /* owned: texts of refused items */
    size_t nrefused;
} T;

/* ---- the test store ---- */

struct t_item {
    char   *v;                  /* owned */
    int64_t n;
    double  f;
    bool    has_n;
};

static void
t_copy(void *item, const void *src)
{
    struct t_item *it = item;
    const struct t_item *from = src;

    *it = *from;
    it->v = xs_strdup(from->v);
    T.copies++;
}

static void
t_release(void *item)
{
    struct t_item *it = item;

    xs_free(it->v);
    it->v = NULL;
    T.releases++;
}

static const char *
t_build(const struct pgq_batchq *bq, size_t k, struct pgq_array *cols,
    int *ncols)
{
    for (size_t i = 0; i < k; i++) {
        const struct t_item *it = pgq_batchq_at(bq, i);

        pgq_array_text(&cols[0], it->v);
        if (it->has_n)
            pgq_array_int(&cols[1], it->n);
        else
            pgq_array_null(&cols[1]);
        pgq_array_double(&cols[2], it->f);
    }
    if (T.nbuilds < T_BUILDS_MAX)
        T.builds[T.nbuilds++] = k;
    *ncols = 3;
    return SQL_T_INSERT;
}

static bool
t_counts(const void *item)
{
    const struct t_item *it = item;

    return strncmp(it->v, T_NOCOUNT, strlen(T_NOCOUNT)) != 0;
}

static void
t_refused(const void *item, const PGresult *res)
{
    const struct t_item *it = item;

    assert_string_equal(pgq_sqlstate(res), "23514");
    assert_true(T.nrefused < sizeof(T.refused) / sizeof(T.refused[0]));
    T.refused[T.nrefused++] = xs_strdup(it->v);
}

#define T_DEF_COMMON \
    .name = "test db", .items = "test rows", \
    .item_size = sizeof(struct t_item), .copy = t_copy, \
    .release = t_release, .build = t_build, .counts = t_counts, \
    .refused = t_refused

/* ---- helpers ---- */

static void
t_reset(void)
{
    for (size_t i = 0; i < T.nrefused; i++)
        xs_free(T.refused[i]);
    memset(&T, 0, sizeof(T));
    pgh_script(SQL_T_CREATE);
}

static struct pgq *
t_pool(void)
{
    struct pgq *q;

    assert_int_equal(pgq_new(pgh.base, pgh.conninfo, 1, 16, &q), XS_OK);
    assert_true(pgh_run_until_ready(q, 10000));
    return q;
}

static void
t_pool_end(struct pgq *q)
{
    pgq_close(q);
    pgq_free(q);
    assert_int_equal(T.copies, T.releases);
}

/* The i-th generated text: awkward on purpose for the array literals. */
static void
t_text(size_t i, char *buf, size_t size)
{
    static const char *const odd[] = {
        "", "NULL", "a \"quoted\" word", "back\\slash\\", "{x,y}",
        " spaced ", "d\xc3\xa9j\xc3\xa0 \xe2\x82\xac", "'single'", "\\\"",
    };
    int n;

    if (i % 10 == 3)
        n = snprintf(buf, size, "%s", odd[(i / 10) % 9]);
    else
        n = snprintf(buf, size, "i%zu", i);
    assert_true(n >= 0 && (size_t)n < size);
}

static xs_rc
t_add(struct pgq *q, const struct pgq_batchq_def *def, const char *v,
    int64_t n, size_t weight)
{
    struct t_item it = {
        .v = (char *)v, .n = n, .f = (double)n / 8.0, .has_n = n % 5 != 0,
    };

    return pgq_batchq_add(q, def, &it, weight);
}

struct t_drain {
    struct pgq                  *q;
    const struct pgq_batchq_def *def;
    size_t                       left;
};

static bool
t_is_drained(void *arg)
{
    struct t_drain *d = arg;
    struct pgq_batchq_stats st;

    pgq_batchq_stats(d->q, d->def, &st);
    return st.queued <= d->left;
}

/* Until at most `left` items are queued (or ms pass). */
static bool
t_run_until_queued(struct pgq *q, const struct pgq_batchq_def *def,
    size_t left, uint64_t ms)
{
    struct t_drain d = { q, def, left };

    return pgh_run_until_cond(t_is_drained, &d, ms);
}

static struct pgq_batchq_stats
t_stats(struct pgq *q, const struct pgq_batchq_def *def)
{
    struct pgq_batchq_stats st;

    pgq_batchq_stats(q, def, &st);
    return st;
}

/* Every row of bq_t in id order, checked against what was added. */
struct t_rows {
    int    calls;
    xs_rc  rc;
    int    ntuples;
    char **v;                   /* owned, ntuples of them */
    bool  *has_n;
    int64_t *n;
    double *f;
};

static void
t_rows_cb(xs_rc rc, const PGresult *res, void *udata)
{
    struct t_rows *r = udata;

    r->calls++;
    r->rc = rc;
    if (rc != XS_OK)
        return;
    r->ntuples = PQntuples(res);
    r->v = xs_calloc((size_t)r->ntuples + 1, sizeof(r->v[0]));
    r->has_n = xs_calloc((size_t)r->ntuples + 1, sizeof(r->has_n[0]));
    r->n = xs_calloc((size_t)r->ntuples + 1, sizeof(r->n[0]));
    r->f = xs_calloc((size_t)r->ntuples + 1, sizeof(r->f[0]));
    for (int i = 0; i < r->ntuples; i++) {
        r->v[i] = xs_strdup(PQgetvalue(res, i, 0));
        r->has_n[i] = !PQgetisnull(res, i, 1);
        if (r->has_n[i])
            assert_true(pgq_text_int64(PQgetvalue(res, i, 1), &r->n[i]));
        r->f[i] = strtod(PQgetvalue(res, i, 2), NULL);
    }
}

static void
t_rows_read(struct t_rows *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(pgq_query(pgh.q, "SELECT v, n, f::text FROM bq_t"
        " ORDER BY id", 0, NULL, t_rows_cb, r), XS_OK);
    assert_true(pgh_run_until(&r->calls, 1, 10000));
    assert_int_equal(r->rc, XS_OK);
}

static void
t_rows_fini(struct t_rows *r)
{
    for (int i = 0; i < r->ntuples; i++)
        xs_free(r->v[i]);
    xs_free(r->v);
    xs_free(r->has_n);
    xs_free(r->n);
    xs_free(r->f);
}

static long
t_count(void)
{
    return pgh_count("SELECT count(*) FROM bq_t", 0, NULL);
}

/* ---- tests ---- */

static void
bad_arguments(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 10, .queue_max = 10, .flush_ms = 100,
    };
    static const struct pgq_batchq_def no_batch = {
        T_DEF_COMMON, .batch_max = 0, .queue_max = 10, .flush_ms = 100,
    };
    struct t_item it = { .v = (char *)"x" };
    struct pgq_batchq_stats st;

    (void)state;
    t_reset();
    assert_int_equal(pgq_batchq_add(NULL, &def, &it, 0), XS_EINVAL);
    assert_int_equal(pgq_batchq_add(pgh.q, NULL, &it, 0), XS_EINVAL);
    assert_int_equal(pgq_batchq_add(pgh.q, &def, NULL, 0), XS_EINVAL);
    assert_int_equal(pgq_batchq_add(pgh.q, &no_batch, &it, 0), XS_EINVAL);
    /* No queue was made: nothing to flush, zeros. */
    pgq_batchq_flush_soon(pgh.q, &def);
    pgq_batchq_flush_soon(NULL, &def);
    pgq_batchq_flush_soon(pgh.q, NULL);
    pgq_batchq_stats(pgh.q, &def, &st);
    assert_int_equal(st.queued_total, 0);
    assert_int_equal(st.queued, 0);
    pgq_batchq_stats(NULL, &def, &st);
    assert_int_equal(st.appended, 0);
    assert_int_equal(T.copies, 0);
}

/* Texts that need quoting, NULLs and doubles come back as they went, in
 * the order they were added; items that do not count are stored but not
 * counted. */
static void
round_trip_in_order(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 100, .queue_max = 10000, .flush_ms = 50,
    };
    const size_t n = 1000;
    struct pgq *q;
    struct pgq_batchq_stats st;
    struct t_rows r;
    char v[64];

    (void)state;
    t_reset();
    q = t_pool();
    for (size_t i = 0; i < n; i++) {
        t_text(i, v, sizeof(v));
        if (i % 100 == 7)
            snprintf(v, sizeof(v), T_NOCOUNT "%zu", i);
        assert_int_equal(t_add(q, &def, v, (int64_t)i - 500, 0), XS_OK);
    }
    pgq_batchq_flush_soon(q, &def);
    assert_true(t_run_until_queued(q, &def, 0, 10000));
    st = t_stats(q, &def);
    assert_int_equal(st.queued_total, n);
    assert_int_equal(st.appended, n - 10);
    assert_int_equal(st.discarded, 0);
    assert_int_equal(st.dropped, 0);
    assert_int_equal(st.batches, T.nbuilds);
    assert_true(st.batches >= n / def.batch_max);
    for (size_t b = 0; b < T.nbuilds; b++)
        assert_true(T.builds[b] >= 1 && T.builds[b] <= def.batch_max);

    t_rows_read(&r);
    assert_int_equal(r.ntuples, n);
    for (size_t i = 0; i < n; i++) {
        int64_t want = (int64_t)i - 500;

        t_text(i, v, sizeof(v));
        if (i % 100 == 7)
            snprintf(v, sizeof(v), T_NOCOUNT "%zu", i);
        assert_string_equal(r.v[i], v);
        assert_int_equal(r.has_n[i], want % 5 != 0);
        if (r.has_n[i])
            assert_int_equal(r.n[i], want);
        assert_true(r.f[i] == (double)want / 8.0);
    }
    t_rows_fini(&r);
    t_pool_end(q);
}

/* A lone item after a quiet spell goes at once; the next one waits for
 * the interval. */
static void
interval_between_batches(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 100, .queue_max = 100, .flush_ms = 400,
    };
    struct pgq *q;
    uint64_t t0, waited;

    (void)state;
    t_reset();
    q = t_pool();
    t0 = xs_now_ms();
    assert_int_equal(t_add(q, &def, "first", 1, 0), XS_OK);
    assert_int_equal(T.nbuilds, 1);         /* sent from inside add */
    assert_true(t_run_until_queued(q, &def, 0, 5000));
    assert_int_equal(t_add(q, &def, "second", 2, 0), XS_OK);
    assert_int_equal(T.nbuilds, 1);
    pgh_run_for(100);
    if (xs_now_ms() - t0 < 300) {
        /* Still inside the interval: not sent. */
        assert_int_equal(T.nbuilds, 1);
        assert_int_equal(t_stats(q, &def).queued, 1);
    }
    assert_true(t_run_until_queued(q, &def, 0, 5000));
    waited = xs_now_ms() - t0;
    assert_true(waited >= 400 - 20);       /* timer granularity */
    assert_int_equal(T.nbuilds, 2);
    assert_int_equal(t_count(), 2);
    t_pool_end(q);
}

/* Full batches do not wait for the interval; the rest does, until
 * flush_soon. */
static void
full_batch_goes_at_once(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 10, .queue_max = 1000,
        .flush_ms = 60000,
    };
    struct pgq *q;
    char v[16];

    (void)state;
    t_reset();
    q = t_pool();
    for (size_t i = 0; i < 26; i++) {
        snprintf(v, sizeof(v), "i%zu", i);
        assert_int_equal(t_add(q, &def, v, 1, 0), XS_OK);
    }
    assert_true(t_run_until_queued(q, &def, 5, 5000));
    pgh_run_for(300);
    assert_int_equal(t_stats(q, &def).queued, 5);
    assert_int_equal(T.nbuilds, 3);
    assert_int_equal(T.builds[0], 1);       /* the first: after quiet */
    assert_int_equal(T.builds[1], 10);
    assert_int_equal(T.builds[2], 10);
    pgq_batchq_flush_soon(q, &def);
    assert_true(t_run_until_queued(q, &def, 0, 5000));
    assert_int_equal(T.nbuilds, 4);
    assert_int_equal(T.builds[3], 5);
    assert_int_equal(t_stats(q, &def).batches, 4);
    assert_int_equal(t_count(), 26);
    t_pool_end(q);
}

/* batch_bytes makes batches, queue_bytes refuses; one item heavier than
 * a batch still goes, alone. */
static void
byte_bounds(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 100, .batch_bytes = 300,
        .queue_max = 1000, .queue_bytes = 1000, .flush_ms = 60000,
    };
    struct pgq *q;
    struct pgq_batchq_stats st;
    char v[16];

    (void)state;
    t_reset();
    q = t_pool();
    for (size_t i = 0; i < 10; i++) {
        snprintf(v, sizeof(v), "i%zu", i);
        assert_int_equal(t_add(q, &def, v, 1, 100), XS_OK);
    }
    assert_int_equal(t_add(q, &def, "over", 1, 100), XS_ELIMIT);
    assert_int_equal(t_add(q, &def, "huge", 1, SIZE_MAX), XS_ELIMIT);
    st = t_stats(q, &def);
    assert_int_equal(st.queued, 10);
    assert_int_equal(st.queued_bytes, 1000);
    assert_int_equal(st.dropped, 2);
    assert_true(t_run_until_queued(q, &def, 0, 5000));
    assert_int_equal(T.nbuilds, 4);
    assert_int_equal(T.builds[0], 1);
    assert_int_equal(T.builds[1], 3);
    assert_int_equal(T.builds[2], 3);
    assert_int_equal(T.builds[3], 3);

    /* Heavier than a batch: full at once, and alone. */
    assert_int_equal(t_add(q, &def, "heavy", 1, 500), XS_OK);
    assert_int_equal(t_add(q, &def, "light", 1, 100), XS_OK);
    assert_true(t_run_until_queued(q, &def, 1, 5000));
    assert_int_equal(T.builds[4], 1);
    pgh_run_for(200);
    assert_int_equal(t_stats(q, &def).queued, 1);   /* waits: not full */
    pgq_batchq_flush_soon(q, &def);
    assert_true(t_run_until_queued(q, &def, 0, 5000));
    st = t_stats(q, &def);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(st.appended, 12);
    assert_int_equal(t_count(), 12);
    t_pool_end(q);
}

static void
queue_max_bound(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 100, .queue_max = 5, .flush_ms = 60000,
    };
    struct pgq *q;
    struct pgq_batchq_stats st;

    (void)state;
    t_reset();
    q = t_pool();
    for (int i = 0; i < 5; i++)
        assert_int_equal(t_add(q, &def, "x", i, 0), XS_OK);
    assert_int_equal(t_add(q, &def, "x", 5, 0), XS_ELIMIT);
    assert_int_equal(t_add(q, &def, "x", 6, 0), XS_ELIMIT);
    st = t_stats(q, &def);
    assert_int_equal(st.queued, 5);
    assert_int_equal(st.dropped, 2);
    assert_int_equal(st.queued_total, 5);
    pgq_batchq_flush_soon(q, &def);
    assert_true(t_run_until_queued(q, &def, 0, 5000));
    assert_int_equal(t_count(), 5);
    t_pool_end(q);
}

/* Refused rows (a CHECK: SQLSTATE 23514) are bisected out one by one:
 * the first item, and two in the middle of full batches. */
static void
refused_items_are_isolated(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 64, .queue_max = 1000, .flush_ms = 50,
    };
    struct pgq *q;
    struct pgq_batchq_stats st;
    struct t_rows r;
    char v[32];
    size_t j = 0;

    (void)state;
    t_reset();
    q = t_pool();
    for (size_t i = 0; i < 200; i++) {
        if (i == 0 || i == 37 || i == 150)
            snprintf(v, sizeof(v), T_POISON "%zu", i);
        else
            snprintf(v, sizeof(v), "i%zu", i);
        assert_int_equal(t_add(q, &def, v, 1, 0), XS_OK);
    }
    pgq_batchq_flush_soon(q, &def);
    assert_true(t_run_until_queued(q, &def, 0, 20000));
    st = t_stats(q, &def);
    assert_int_equal(st.discarded, 3);
    assert_int_equal(st.appended, 197);
    assert_true(st.retries >= 2);           /* the halvings */
    assert_int_equal(T.nrefused, 3);
    assert_string_equal(T.refused[0], T_POISON "0");
    assert_string_equal(T.refused[1], T_POISON "37");
    assert_string_equal(T.refused[2], T_POISON "150");
    t_rows_read(&r);
    assert_int_equal(r.ntuples, 197);
    for (size_t i = 0; i < 200; i++) {
        if (i == 0 || i == 37 || i == 150)
            continue;
        snprintf(v, sizeof(v), "i%zu", i);
        assert_string_equal(r.v[j++], v);
    }
    t_rows_fini(&r);
    t_pool_end(q);
}

/* A batch failing for another reason (the table is gone: 42P01) stays
 * at the head and is retried after each interval; what comes meanwhile
 * queues behind it; all of it lands, in order, once the table is back. */
static void
failed_batch_stays_at_head(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 100, .queue_max = 1000, .flush_ms = 150,
    };
    struct pgq *q;
    struct pgq_batchq_stats st;
    struct t_rows r;
    char v[16];

    (void)state;
    t_reset();
    q = t_pool();
    pgh_script("ALTER TABLE bq_t RENAME TO bq_t_away");
    for (size_t i = 0; i < 20; i++) {
        snprintf(v, sizeof(v), "i%zu", i);
        assert_int_equal(t_add(q, &def, v, 1, 0), XS_OK);
    }
    pgh_run_for(700);
    for (size_t i = 20; i < 25; i++) {
        snprintf(v, sizeof(v), "i%zu", i);
        assert_int_equal(t_add(q, &def, v, 1, 0), XS_OK);
    }
    pgh_run_for(300);
    st = t_stats(q, &def);
    assert_true(st.retries >= 2);
    assert_int_equal(st.queued, 25);
    assert_int_equal(st.appended, 0);
    assert_int_equal(st.discarded, 0);
    /* Retried after intervals, not in a loop. */
    assert_true(T.nbuilds >= 3 && T.nbuilds <= 12);

    pgh_script("ALTER TABLE bq_t_away RENAME TO bq_t");
    assert_true(t_run_until_queued(q, &def, 0, 5000));
    st = t_stats(q, &def);
    assert_int_equal(st.appended, 25);
    t_rows_read(&r);
    assert_int_equal(r.ntuples, 25);
    for (size_t i = 0; i < 25; i++) {
        snprintf(v, sizeof(v), "i%zu", i);
        assert_string_equal(r.v[i], v);
    }
    t_rows_fini(&r);
    t_pool_end(q);
}

/* pgq_close with a batch in flight: it fails and stays, the next send
 * finds the pool closed, add refuses with XS_EIO; pgq_free releases every
 * item.  pgq_free alone, with a batch in flight, too. */
static void
survives_close_and_free(void **state)
{
    static const struct pgq_batchq_def def = {
        T_DEF_COMMON, .batch_max = 100, .queue_max = 1000, .flush_ms = 100,
    };
    struct pgq *q;
    struct pgq_batchq_stats st;

    (void)state;
    for (int round = 0; round < 2; round++) {
        t_reset();
        q = t_pool();
        for (int i = 0; i < 50; i++)
            assert_int_equal(t_add(q, &def, "closed", i, 0), XS_OK);
        assert_int_equal(T.nbuilds, 1);     /* one in flight */
        if (round == 0) {
            pgq_close(q);
            st = t_stats(q, &def);
            assert_int_equal(st.queued, 50);
            assert_int_equal(st.retries, 1);
            pgh_run_for(300);   /* the retry timer finds the pool closed */
            assert_int_equal(t_add(q, &def, "late", 1, 0), XS_EIO);
            pgq_batchq_flush_soon(q, &def);     /* harmless */
            st = t_stats(q, &def);
            assert_int_equal(st.queued, 50);
            assert_int_equal(st.appended, 0);
        }
        pgq_free(q);
        assert_int_equal(T.copies, 50);
        assert_int_equal(T.releases, 50);
    }
    /* The first batch of the freed pool may still commit (the server
     * finishes what it got): let it, before the next test. */
    pgh_run_for(200);
}

static int
group_teardown(void **state)
{
    for (size_t i = 0; i < T.nrefused; i++)
        xs_free(T.refused[i]);
    return pgh_group_teardown(state);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_arguments),
        cmocka_unit_test(round_trip_in_order),
        cmocka_unit_test(interval_between_batches),
        cmocka_unit_test(full_batch_goes_at_once),
        cmocka_unit_test(byte_bounds),
        cmocka_unit_test(queue_max_bound),
        cmocka_unit_test(refused_items_are_isolated),
        cmocka_unit_test(failed_batch_stays_at_head),
        cmocka_unit_test(survives_close_and_free),
    };

    return cmocka_run_group_tests_name("batchq", tests, pgh_group_setup,
        group_teardown);
}
