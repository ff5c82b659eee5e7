/* test_dialback.c: XEP-0185 dialback keys against the XEP's vectors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/s2s/dialback.h"

#include <sodium.h>
#include <string.h>

struct vector {
    const char *secret, *receiving, *originating, *id, *key;
};

static const struct vector vectors[] = {
    { "s3cr3tf0rd14lb4ck", "xmpp.example.com", "example.org", "D60000229F",
      "37c69b1cf07a3f67c04a5ef5902fa5114f2c76fe4a2686482ba5b89323075643" },
    { "s3cr3tf0rd14lb4ck", "montague.example", "capulet.example",
      "D60000229F",
      "b4835385f37fe2895af6c196b59097b16862406db80559900d96bf6fa7d23df3" },
    { "d14lb4ck43v3r", "capulet.example", "montague.example", "417GAF25",
      "225cc5aa6a071133249d25fef42ae516fc7a86c523aa1c6980a7f73e784c972d" },
};

static void
dialback_xep0185_vectors(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        const struct vector *v = &vectors[i];
        char key[XS_DIALBACK_KEY_LEN];

        xs_dialback_key_with(v->secret, strlen(v->secret), v->receiving,
            v->originating, v->id, key);
        assert_string_equal(key, v->key);
    }
}

static void
dialback_process_secret_checks(void **state)
{
    const struct vector *v = &vectors[0];
    char key[XS_DIALBACK_KEY_LEN];
    char bad[XS_DIALBACK_KEY_LEN];

    (void)state;
    xs_dialback_set_secret(v->secret);
    xs_dialback_key(v->receiving, v->originating, v->id, key);
    assert_string_equal(key, v->key);
    assert_true(xs_dialback_key_ok(v->receiving, v->originating, v->id,
        v->key));
    /* Direction matters: swapped domains give another key. */
    assert_false(xs_dialback_key_ok(v->originating, v->receiving, v->id,
        v->key));
    /* Another stream id, a truncated key, one flipped digit, NULL. */
    assert_false(xs_dialback_key_ok(v->receiving, v->originating, "X",
        v->key));
    assert_false(xs_dialback_key_ok(v->receiving, v->originating, v->id,
        "37c69b"));
    memcpy(bad, v->key, sizeof(bad));
    bad[10] = bad[10] == '0' ? '1' : '0';
    assert_false(xs_dialback_key_ok(v->receiving, v->originating, v->id,
        bad));
    assert_false(xs_dialback_key_ok(v->receiving, v->originating, v->id,
        NULL));
    xs_dialback_clear_secret();
}

static void
dialback_random_secret_differs(void **state)
{
    char k1[XS_DIALBACK_KEY_LEN], k2[XS_DIALBACK_KEY_LEN];

    (void)state;
    xs_dialback_set_secret(NULL);
    xs_dialback_key("a.test", "b.test", "id1", k1);
    assert_true(xs_dialback_key_ok("a.test", "b.test", "id1", k1));
    xs_dialback_set_secret(NULL);
    xs_dialback_key("a.test", "b.test", "id1", k2);
    assert_string_not_equal(k1, k2);
    assert_false(xs_dialback_key_ok("a.test", "b.test", "id1", k1));
    xs_dialback_clear_secret();
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dialback_xep0185_vectors),
        cmocka_unit_test(dialback_process_secret_checks),
        cmocka_unit_test(dialback_random_secret_differs),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("dialback", tests, NULL, NULL);
}
