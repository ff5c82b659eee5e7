/*
 * tests/unit/test_observer_list.c: the core's fixed-capacity observer
 * list (xmppd/core/observers.h): order, limits, removal of every equal
 * entry, and snapshots that survive observers leaving while called.
 * tests/unit/test_observers.c drives the lists through the roster,
 * blocking and activity modules.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/core/observers.h"

#include <string.h>

/* A callback type of the test's own: the list stores it as any other. */
typedef void ol_fn(int who, void *ud);

struct ol_log {
    int calls[16];          /* who was called, in order */
    size_t n;
};

static struct xs_observers ol_list;

static void
ol_record(int who, void *ud)
{
    struct ol_log *log = ud;

    if (log->n < XS_ARRAY_LEN(log->calls))
        log->calls[log->n++] = who;
}

static void
ol_other(int who, void *ud)
{
    ol_record(who + 100, ud);
}

/* Leaves the list while it is called (the roster's pattern). */
static void
ol_leaver(int who, void *ud)
{
    ol_record(who + 200, ud);
    xs_observers_remove(&ol_list, &(struct xs_observer){
        .fn = (xs_observer_fn *)ol_leaver, .ud = ud });
}

/* A pointer to an observer of ol_fn callbacks (NULL: none). */
#define OL_OBS(f1, f2, u) (&(struct xs_observer){ \
    .fn = (xs_observer_fn *)(ol_fn *)(f1), \
    .fn2 = (xs_observer_fn *)(ol_fn *)(f2), .ud = (u) })

/* Calls every observer's fn in a snapshot, the way the modules do. */
static void
ol_notify(int who)
{
    struct xs_observer copy[XS_OBSERVERS_MAX];
    size_t n = xs_observers_snapshot(&ol_list, copy);

    for (size_t i = 0; i < n; i++) {
        if (copy[i].fn != NULL)
            ((ol_fn *)copy[i].fn)(who, copy[i].ud);
    }
}

static int
ol_setup(void **state)
{
    (void)state;
    memset(&ol_list, 0, sizeof(ol_list));
    return 0;
}

static void
ol_calls_in_registration_order(void **state)
{
    struct ol_log log = { 0 };

    (void)state;
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_record, NULL, &log)), XS_OK);
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_other, NULL, &log)), XS_OK);
    /* The same observer twice is called twice. */
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_record, NULL, &log)), XS_OK);
    ol_notify(1);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.calls[0], 1);
    assert_int_equal(log.calls[1], 101);
    assert_int_equal(log.calls[2], 1);
}

static void
ol_refuses_empty_and_full(void **state)
{
    struct ol_log log = { 0 };

    (void)state;
    assert_int_equal(xs_observers_add(&ol_list, OL_OBS(NULL, NULL, &log)),
        XS_EINVAL);
    /* fn2 alone is an observer (activity's day-only observers). */
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(NULL, ol_record, &log)), XS_OK);
    for (int i = 1; i < XS_OBSERVERS_MAX; i++)
        assert_int_equal(xs_observers_add(&ol_list,
            OL_OBS(ol_record, NULL, &log)), XS_OK);
    assert_int_equal(ol_list.n, XS_OBSERVERS_MAX);
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_other, NULL, &log)), XS_ELIMIT);
    assert_int_equal(ol_list.n, XS_OBSERVERS_MAX);
    /* A place freed is a place again. */
    xs_observers_remove(&ol_list, OL_OBS(NULL, ol_record, &log));
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_other, NULL, &log)), XS_OK);
}

static void
ol_remove_takes_every_equal_entry(void **state)
{
    struct ol_log log = { 0 }, log2 = { 0 };
    struct xs_observer copy[XS_OBSERVERS_MAX];
    size_t n;

    (void)state;
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_record, NULL, &log)), XS_OK);
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_record, NULL, &log2)), XS_OK);
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_other, NULL, &log)), XS_OK);
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_record, ol_other, &log)), XS_OK);
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_record, NULL, &log)), XS_OK);
    /* Not there (another fn2, another ud): nothing moves. */
    xs_observers_remove(&ol_list, OL_OBS(ol_other, ol_record, &log));
    xs_observers_remove(&ol_list, OL_OBS(ol_other, NULL, &log2));
    assert_int_equal(ol_list.n, 5);
    /* fn, fn2 and ud must all match; the rest keep their order. */
    xs_observers_remove(&ol_list, OL_OBS(ol_record, NULL, &log));
    n = xs_observers_snapshot(&ol_list, copy);
    assert_int_equal(n, 3);
    assert_ptr_equal(copy[0].ud, &log2);
    assert_ptr_equal(copy[1].fn, (xs_observer_fn *)ol_other);
    assert_ptr_equal(copy[2].fn2, (xs_observer_fn *)ol_other);
    xs_observers_remove(&ol_list, OL_OBS(ol_record, ol_other, &log));
    xs_observers_remove(&ol_list, OL_OBS(ol_other, NULL, &log));
    xs_observers_remove(&ol_list, OL_OBS(ol_record, NULL, &log2));
    assert_int_equal(ol_list.n, 0);
    assert_int_equal(xs_observers_snapshot(&ol_list, copy), 0);
    xs_observers_remove(&ol_list, OL_OBS(ol_record, NULL, &log2));
    assert_int_equal(ol_list.n, 0);
}

static void
ol_snapshot_survives_leaving(void **state)
{
    struct ol_log log = { 0 };

    (void)state;
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_leaver, NULL, &log)), XS_OK);
    assert_int_equal(xs_observers_add(&ol_list,
        OL_OBS(ol_record, NULL, &log)), XS_OK);
    /* The leaver leaves during the first call; the one after it is still
     * called, and neither is called twice. */
    ol_notify(1);
    assert_int_equal(log.n, 2);
    assert_int_equal(log.calls[0], 201);
    assert_int_equal(log.calls[1], 1);
    assert_int_equal(ol_list.n, 1);
    ol_notify(2);
    assert_int_equal(log.n, 3);
    assert_int_equal(log.calls[2], 2);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(ol_calls_in_registration_order, ol_setup),
        cmocka_unit_test_setup(ol_refuses_empty_and_full, ol_setup),
        cmocka_unit_test_setup(ol_remove_takes_every_equal_entry, ol_setup),
        cmocka_unit_test_setup(ol_snapshot_survives_leaving, ol_setup),
    };

    return cmocka_run_group_tests_name("observer_list", tests, NULL, NULL);
}
