/*
 * tests/unit/test_pgarray.c: db/pgarray.c, PostgreSQL array literals in
 * text format, checked against the text array_in expects.  Pure: the
 * round trip through a real server is in test_batchq.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "db/pgarray.h"

static void
empty_is_braces(void **state)
{
    struct pgq_array a = PGQ_ARRAY_INIT;

    (void)state;
    assert_string_equal(pgq_array_end(&a), "{}");
    /* Ending again changes nothing. */
    assert_string_equal(pgq_array_end(&a), "{}");
    assert_int_equal(a.n, 0);
    pgq_array_fini(&a);
    assert_null(a.p);
    pgq_array_fini(&a);         /* twice, and on a zeroed one: fine */
}

static void
texts_are_quoted_and_escaped(void **state)
{
    struct pgq_array a = PGQ_ARRAY_INIT;

    (void)state;
    pgq_array_text(&a, "plain");
    pgq_array_text(&a, "");
    pgq_array_text(&a, "NULL");             /* the word, not a NULL */
    pgq_array_text(&a, "a \"quoted\" word");
    pgq_array_text(&a, "back\\slash\\");
    pgq_array_text(&a, "{braces},commas, spaces ");
    pgq_array_text(&a, NULL);
    pgq_array_text(&a, "\"\\\"");
    assert_string_equal(pgq_array_end(&a),
        "{\"plain\",\"\",\"NULL\",\"a \\\"quoted\\\" word\","
        "\"back\\\\slash\\\\\",\"{braces},commas, spaces \",NULL,"
        "\"\\\"\\\\\\\"\"}");
    assert_int_equal(a.n, 8);
    pgq_array_fini(&a);
}

static void
utf8_passes_through(void **state)
{
    struct pgq_array a = PGQ_ARRAY_INIT;

    (void)state;
    pgq_array_text(&a, "d\xc3\xa9j\xc3\xa0 \xe2\x82\xac \xf0\x9f\x98\x80");
    assert_string_equal(pgq_array_end(&a),
        "{\"d\xc3\xa9j\xc3\xa0 \xe2\x82\xac \xf0\x9f\x98\x80\"}");
    pgq_array_fini(&a);
}

static void
integers_and_nulls(void **state)
{
    struct pgq_array a = PGQ_ARRAY_INIT;

    (void)state;
    pgq_array_int(&a, 0);
    pgq_array_int(&a, -42);
    pgq_array_null(&a);
    pgq_array_int(&a, INT64_MAX);
    pgq_array_int(&a, INT64_MIN);
    assert_string_equal(pgq_array_end(&a),
        "{0,-42,NULL,9223372036854775807,-9223372036854775808}");
    pgq_array_fini(&a);
}

/* Splits a literal of plain numbers: "{a,b,c}". */
static size_t
split_numbers(const char *lit, double *out, size_t max)
{
    size_t n = 0;
    const char *p = lit;
    char *end;

    assert_int_equal(*p, '{');
    p++;
    while (*p != '}' && n < max) {
        out[n++] = strtod(p, &end);
        assert_true(end != p);
        p = end;
        if (*p == ',')
            p++;
    }
    assert_string_equal(p, "}");
    return n;
}

static void
doubles_round_trip(void **state)
{
    const double v[] = { 0.0, -0.0, 1.0, -5.0, 0.1, 1.0 / 3.0, 1e-300,
        -1.7976931348623157e308, 4.9e-324, 123456789.123456789 };
    double back[16];
    struct pgq_array a = PGQ_ARRAY_INIT;
    size_t n = sizeof(v) / sizeof(v[0]);

    (void)state;
    for (size_t i = 0; i < n; i++)
        pgq_array_double(&a, v[i]);
    assert_int_equal(split_numbers(pgq_array_end(&a), back, 16), n);
    for (size_t i = 0; i < n; i++) {
        /* Exactly the same double, sign of zero included. */
        assert_memory_equal(&back[i], &v[i], sizeof(double));
    }
    pgq_array_fini(&a);
}

static void
non_finite_doubles_are_spelled_for_float8(void **state)
{
    struct pgq_array a = PGQ_ARRAY_INIT;

    (void)state;
    pgq_array_double(&a, NAN);
    pgq_array_double(&a, INFINITY);
    pgq_array_double(&a, -INFINITY);
    assert_string_equal(pgq_array_end(&a), "{NaN,Infinity,-Infinity}");
    pgq_array_fini(&a);
}

/* Thousands of elements and a long text: the buffer grows, nothing is
 * lost at the seams. */
static void
grows_past_its_first_buffer(void **state)
{
    struct pgq_array a = PGQ_ARRAY_INIT;
    char *big = malloc(70001);
    const char *lit;
    size_t quotes = 0;

    (void)state;
    assert_non_null(big);
    for (size_t i = 0; i < 70000; i++)
        big[i] = i % 7 == 0 ? '"' : 'x';
    big[70000] = '\0';
    for (int i = 0; i < 5000; i++)
        pgq_array_int(&a, i);
    pgq_array_text(&a, big);
    lit = pgq_array_end(&a);
    assert_int_equal(a.n, 5001);
    assert_int_equal(strlen(lit), a.len);
    assert_true(a.len < a.cap);
    assert_true(strncmp(lit, "{0,1,2,3,", 9) == 0);
    assert_non_null(strstr(lit, ",4998,4999,\"\\\"xxxxxx\\\"x"));
    for (const char *p = lit; *p != '\0'; p++)
        quotes += *p == '"';
    /* 10000 escaped quotes in the text, plus its two delimiters. */
    assert_int_equal(quotes, 10000 + 2);
    assert_string_equal(lit + a.len - 3, "x\"}");
    pgq_array_fini(&a);
    free(big);
}

static void
take_hands_the_text_over(void **state)
{
    struct pgq_array a = PGQ_ARRAY_INIT;
    char *lit;

    (void)state;
    pgq_array_text(&a, "h1.test");
    pgq_array_text(&a, "h2.test");
    lit = pgq_array_take(&a);
    assert_string_equal(lit, "{\"h1.test\",\"h2.test\"}");
    assert_null(a.p);
    assert_int_equal(a.n, 0);
    /* a starts over. */
    assert_string_equal(pgq_array_end(&a), "{}");
    pgq_array_fini(&a);
    xs_free(lit);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_is_braces),
        cmocka_unit_test(texts_are_quoted_and_escaped),
        cmocka_unit_test(utf8_passes_through),
        cmocka_unit_test(integers_and_nulls),
        cmocka_unit_test(doubles_round_trip),
        cmocka_unit_test(non_finite_doubles_are_spelled_for_float8),
        cmocka_unit_test(grows_past_its_first_buffer),
        cmocka_unit_test(take_hands_the_text_over),
    };

    return cmocka_run_group_tests_name("pgarray", tests, NULL, NULL);
}
