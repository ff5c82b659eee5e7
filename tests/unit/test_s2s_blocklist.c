/* tests/unit/test_s2s_blocklist.c: the federation block list in memory
 * (xmppd/s2s/blocklist.c) and the access decision (xmppd/s2s/access.c)
 * with no s2s_access rule configured. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/s2s/blocklist.h"

#include "tests/unit/support/fake_server.h"

#include <stdio.h>
#include <string.h>

/* The server blocklist.o asks for; s2s_access NULL: allow all. */
static struct xs_conf fake_conf;

static int
reset(void **state)
{
    (void)state;
    xs_s2s_block_mem_reset();
    return 0;
}

static void
block_covers_domain_and_subdomains(void **state)
{
    const struct xs_s2s_block *b;

    (void)state;
    xs_s2s_block_mem_put("example.org", "spam", 1700000000, "admin_api");
    assert_int_equal(xs_s2s_block_count(), 1);
    for (size_t i = 0; i < 3; i++) {
        static const char *const hit[] = {
            "example.org", "chat.example.org", "a.b.example.org",
        };

        b = xs_s2s_block_match(hit[i]);
        assert_non_null(b);
        assert_string_equal(b->domain, "example.org");
        assert_string_equal(b->reason, "spam");
        assert_int_equal(b->since, 1700000000);
    }
    /* A suffix that is not a label boundary is another domain. */
    assert_null(xs_s2s_block_match("badexample.org"));
    assert_null(xs_s2s_block_match("org"));
    assert_null(xs_s2s_block_match("example.org.evil"));
    assert_null(xs_s2s_block_match(""));
    assert_null(xs_s2s_block_match(NULL));
    assert_null(xs_s2s_block_lookup("chat.example.org"));
    assert_non_null(xs_s2s_block_lookup("example.org"));
}

static void
nearest_block_wins_and_unblock_is_exact(void **state)
{
    (void)state;
    xs_s2s_block_mem_put("example.org", "parent", 1, "a");
    xs_s2s_block_mem_put("chat.example.org", "child", 2, "b");
    assert_string_equal(xs_s2s_block_match("x.chat.example.org")->reason,
        "child");
    /* Unblocking the subdomain leaves the parent's block in force. */
    assert_true(xs_s2s_block_mem_del("chat.example.org"));
    assert_false(xs_s2s_block_mem_del("chat.example.org"));
    assert_string_equal(xs_s2s_block_match("chat.example.org")->reason,
        "parent");
    assert_true(xs_s2s_block_mem_del("example.org"));
    assert_null(xs_s2s_block_match("chat.example.org"));
    assert_int_equal(xs_s2s_block_count(), 0);
}

static void
put_again_replaces_reason_keeps_since(void **state)
{
    const struct xs_s2s_block *b;

    (void)state;
    xs_s2s_block_mem_put("spam.example", "first", 100, "a");
    xs_s2s_block_mem_put("spam.example", "second", 200, "b");
    assert_int_equal(xs_s2s_block_count(), 1);
    b = xs_s2s_block_lookup("spam.example");
    assert_string_equal(b->reason, "second");
    assert_string_equal(b->created_by, "b");
    assert_int_equal(b->since, 100);
}

static void
count_each(const struct xs_s2s_block *b, void *udata)
{
    (void)b;
    (*(size_t *)udata)++;
}

static void
many_blocks_grow_the_table(void **state)
{
    char name[64];
    size_t n = 0;

    (void)state;
    for (int i = 0; i < 5000; i++) {
        snprintf(name, sizeof(name), "d%d.example", i);
        xs_s2s_block_mem_put(name, "", i, "t");
    }
    assert_int_equal(xs_s2s_block_count(), 5000);
    xs_s2s_block_each(count_each, &n);
    assert_int_equal(n, 5000);
    for (int i = 0; i < 5000; i += 7) {
        snprintf(name, sizeof(name), "mail.d%d.example", i);
        assert_non_null(xs_s2s_block_match(name));
    }
    assert_null(xs_s2s_block_match("d5000.example"));
}

static void
access_refuses_blocked_both_ways(void **state)
{
    (void)state;
    assert_true(xs_s2s_domain_allowed("example.net"));
    assert_true(xs_s2s_access_check("example.net", XS_S2S_OUT));
    xs_s2s_block_mem_put("example.net", "", 0, "t");
    assert_false(xs_s2s_domain_allowed("example.net"));
    assert_false(xs_s2s_access_check("sub.example.net", XS_S2S_OUT));
    assert_false(xs_s2s_access_check("sub.example.net", XS_S2S_IN));
    assert_true(xs_s2s_access_check("example.com", XS_S2S_OUT));
    /* No domain: never federate. */
    assert_false(xs_s2s_domain_allowed(""));
    assert_false(xs_s2s_domain_allowed(NULL));
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(block_covers_domain_and_subdomains,
            reset, reset),
        cmocka_unit_test_setup_teardown(
            nearest_block_wins_and_unblock_is_exact, reset, reset),
        cmocka_unit_test_setup_teardown(
            put_again_replaces_reason_keeps_since, reset, reset),
        cmocka_unit_test_setup_teardown(many_blocks_grow_the_table, reset,
            reset),
        cmocka_unit_test_setup_teardown(access_refuses_blocked_both_ways,
            reset, reset),
    };

    xs_server()->conf = &fake_conf;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
