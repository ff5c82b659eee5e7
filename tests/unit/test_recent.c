/*
 * tests/unit/test_recent.c: the bounded "seen recently" set of pairs
 * (reputation/recent.h) that damps evidence sources and the gate: a pair
 * is seen once per window, the set forgets at the window's end, when the
 * clock steps back and when full, and its memory stays bounded.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reputation/recent.h"

#include "reputation/engine.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define T0 1700000000

static void
recent_pair_is_seen_once_per_window(void **state)
{
    struct xs_rep_recent s;

    (void)state;
    xs_rep_recent_init(&s, 16, 600);
    assert_false(xs_rep_recent_seen(&s, "alice@a.example", "b.example", T0));
    assert_true(xs_rep_recent_seen(&s, "alice@a.example", "b.example", T0));
    assert_true(xs_rep_recent_seen(&s, "alice@a.example", "b.example",
        T0 + 599));
    /* The window is over: forgotten, and remembered again. */
    assert_false(xs_rep_recent_seen(&s, "alice@a.example", "b.example",
        T0 + 600));
    assert_true(xs_rep_recent_seen(&s, "alice@a.example", "b.example",
        T0 + 601));
    xs_rep_recent_fini(&s);
}

static void
recent_pairs_are_ordered_and_separated(void **state)
{
    struct xs_rep_recent s = XS_REP_RECENT_INIT(16, 600);

    (void)state;
    assert_false(xs_rep_recent_seen(&s, "a", "b", T0));
    assert_false(xs_rep_recent_seen(&s, "b", "a", T0));
    /* "ab\0c" and "a\0bc": the separator keeps them apart. */
    assert_false(xs_rep_recent_seen(&s, "ab", "c", T0));
    assert_false(xs_rep_recent_seen(&s, "a", "bc", T0));
    assert_false(xs_rep_recent_seen(&s, "", "", T0));
    assert_true(xs_rep_recent_seen(&s, "", "", T0));
    assert_int_equal(s.n, 5);
    xs_rep_recent_fini(&s);
}

static void
recent_clock_stepping_back_starts_over(void **state)
{
    struct xs_rep_recent s = XS_REP_RECENT_INIT(16, 600);

    (void)state;
    assert_false(xs_rep_recent_seen(&s, "x", "y", T0));
    assert_false(xs_rep_recent_seen(&s, "x", "y", T0 - 1));
    assert_true(xs_rep_recent_seen(&s, "x", "y", T0 - 1));
    xs_rep_recent_fini(&s);
}

static void
recent_full_set_starts_over(void **state)
{
    struct xs_rep_recent s = XS_REP_RECENT_INIT(4, 600);
    char a[16];

    (void)state;
    for (int i = 0; i < 3; i++) {
        snprintf(a, sizeof(a), "u%d", i);
        assert_false(xs_rep_recent_seen(&s, a, "d", T0));
    }
    assert_true(s.nslots >= 8);
    assert_int_equal(s.nslots & (s.nslots - 1), 0);
    assert_true(xs_rep_recent_seen(&s, "u0", "d", T0));
    assert_false(xs_rep_recent_seen(&s, "u3", "d", T0));
    assert_int_equal(s.n, 4);
    /* Full: the next call starts over, with its own pair only. */
    assert_false(xs_rep_recent_seen(&s, "u0", "d", T0));
    assert_int_equal(s.n, 1);
    assert_false(xs_rep_recent_seen(&s, "u1", "d", T0));
    assert_true(xs_rep_recent_seen(&s, "u0", "d", T0));
    xs_rep_recent_fini(&s);
}

static void
recent_many_pairs_stay_bounded(void **state)
{
    struct xs_rep_recent s;
    char a[32];
    size_t nslots;

    (void)state;
    xs_rep_recent_init(&s, 1000, 3600);
    assert_false(xs_rep_recent_seen(&s, "first", "pair", T0));
    nslots = s.nslots;
    for (int i = 0; i < 100000; i++) {
        snprintf(a, sizeof(a), "user%d@spam.example", i);
        (void)xs_rep_recent_seen(&s, a, "victim@here.example", T0 + i / 50);
        assert_true(s.n <= s.max);
    }
    assert_int_equal(s.nslots, nslots);
    xs_rep_recent_fini(&s);
}

static void
recent_long_strings_are_cut_not_overrun(void **state)
{
    struct xs_rep_recent s = XS_REP_RECENT_INIT(16, 600);
    size_t len = XS_REP_SUBJECT_MAX + 100;
    char *a = malloc(len + 1), *b = malloc(len + 1);

    (void)state;
    assert_non_null(a);
    assert_non_null(b);
    memset(a, 'a', len);
    a[len] = '\0';
    memcpy(b, a, len + 1);
    b[len - 1] = 'b';       /* differs past the bound only */
    assert_false(xs_rep_recent_seen(&s, a, a, T0));
    assert_true(xs_rep_recent_seen(&s, b, b, T0));
    free(a);
    free(b);
    xs_rep_recent_fini(&s);
}

static void
recent_fini_leaves_a_usable_empty_set(void **state)
{
    struct xs_rep_recent s = XS_REP_RECENT_INIT(16, 600);

    (void)state;
    xs_rep_recent_fini(&s);         /* never used: nothing to free */
    assert_false(xs_rep_recent_seen(&s, "p", "q", T0));
    xs_rep_recent_fini(&s);
    assert_null(s.slots);
    assert_int_equal(s.n, 0);
    assert_false(xs_rep_recent_seen(&s, "p", "q", T0));
    assert_true(xs_rep_recent_seen(&s, "p", "q", T0));
    xs_rep_recent_fini(&s);
    xs_rep_recent_fini(&s);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(recent_pair_is_seen_once_per_window),
        cmocka_unit_test(recent_pairs_are_ordered_and_separated),
        cmocka_unit_test(recent_clock_stepping_back_starts_over),
        cmocka_unit_test(recent_full_set_starts_over),
        cmocka_unit_test(recent_many_pairs_stay_bounded),
        cmocka_unit_test(recent_long_strings_are_cut_not_overrun),
        cmocka_unit_test(recent_fini_leaves_a_usable_empty_set),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("recent", tests, NULL, NULL);
}
