/* tests/unit/test_buf.c: the bounded buffer never grows past its ceiling. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/core/buf.h"

static void
buf_append_stops_at_max(void **state)
{
    struct xs_buf b;
    uint8_t chunk[100] = { 0 };

    (void)state;
    xs_buf_init(&b, 250);
    assert_int_equal(xs_buf_append(&b, chunk, sizeof(chunk)), XS_OK);
    assert_int_equal(xs_buf_append(&b, chunk, sizeof(chunk)), XS_OK);
    assert_int_equal(xs_buf_append(&b, chunk, sizeof(chunk)), XS_ELIMIT);
    assert_int_equal(b.len, 200);       /* a refused append changes nothing */
    assert_true(b.cap <= b.max);
    xs_buf_fini(&b);
}

static void
buf_cstr_terminates_without_counting(void **state)
{
    struct xs_buf b;
    const char *s;

    (void)state;
    xs_buf_init(&b, 16);
    assert_int_equal(xs_buf_append_str(&b, "abc"), XS_OK);
    assert_int_equal(xs_buf_cstr(&b, &s), XS_OK);
    assert_string_equal(s, "abc");
    assert_int_equal(b.len, 3);
    xs_buf_fini(&b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(buf_append_stops_at_max),
        cmocka_unit_test(buf_cstr_terminates_without_counting),
    };

    return cmocka_run_group_tests_name("buf", tests, NULL, NULL);
}
