/* tests/unit/test_jid.c: JID parsing and preparation (RFC 7622). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <stringprep.h>

#include "xmppd/xml/jid.h"

/* Parses s, expecting success, and checks the prepared full JID. */
static void
jid_ok(const char *s, const char *full)
{
    struct xs_jid *j = NULL;

    if (xs_jid_new(s, &j) != XS_OK)
        fail_msg("valid JID refused: %s", s);
    assert_string_equal(j->full, full);
    xs_jid_free(j);
}

static void
jid_bad(const char *s)
{
    struct xs_jid *j = (struct xs_jid *)&j;   /* must be reset to NULL */

    if (xs_jid_new(s, &j) != XS_EINVAL)
        fail_msg("invalid JID accepted: %s", s);
    assert_null(j);
}

static void
jid_parts(void **state)
{
    struct xs_jid *j;

    (void)state;
    assert_int_equal(xs_jid_new("juliet@example.com/balcony", &j), XS_OK);
    assert_string_equal(j->local, "juliet");
    assert_string_equal(j->domain, "example.com");
    assert_string_equal(j->resource, "balcony");
    assert_string_equal(j->bare, "juliet@example.com");
    assert_string_equal(j->full, "juliet@example.com/balcony");
    xs_jid_free(j);

    assert_int_equal(xs_jid_new("example.com", &j), XS_OK);
    assert_null(j->local);
    assert_null(j->resource);
    assert_string_equal(j->bare, "example.com");
    assert_string_equal(j->full, "example.com");
    xs_jid_free(j);

    /* RFC 7622 3.1: the resource is everything after the first '/', and
     * may hold '@' and '/'; the localpart ends at the first '@'. */
    assert_int_equal(xs_jid_new("a.example.com/b@example.net/c", &j), XS_OK);
    assert_null(j->local);
    assert_string_equal(j->domain, "a.example.com");
    assert_string_equal(j->resource, "b@example.net/c");
    xs_jid_free(j);
    xs_jid_free(NULL);
}

/* RFC 7622 section 3.5, with the results of the stringprep profiles (the
 * PRECIS profiles of RFC 7622 would keep "ß" and refuse "Ⅳ"). */
static void
jid_rfc7622_examples(void **state)
{
    (void)state;
    jid_ok("juliet@example.com", "juliet@example.com");
    jid_ok("juliet@example.com/foo", "juliet@example.com/foo");
    jid_ok("juliet@example.com/foo bar", "juliet@example.com/foo bar");
    jid_ok("juliet@example.com/foo@bar", "juliet@example.com/foo@bar");
    jid_ok("foo\\20bar@example.com", "foo\\20bar@example.com");
    jid_ok("fussball@example.com", "fussball@example.com");
    jid_ok("fu\xc3\x9f" "ball@example.com", "fussball@example.com");
    jid_ok("\xcf\x80@example.com", "\xcf\x80@example.com");            /* π */
    jid_ok("\xce\xa3@example.com", "\xcf\x83@example.com");            /* Σ */
    jid_ok("\xcf\x83@example.com", "\xcf\x83@example.com");            /* σ */
    jid_ok("\xcf\x82@example.com", "\xcf\x83@example.com");            /* ς */
    jid_ok("king@example.com/\xe2\x99\x9a", "king@example.com/\xe2\x99\x9a");
    jid_ok("example.com", "example.com");
    jid_ok("example.com/foobar", "example.com/foobar");
    jid_ok("a.example.com/b@example.net", "a.example.com/b@example.net");
    jid_ok("henry\xe2\x85\xa3@example.com", "henryiv@example.com");

    jid_bad("\"juliet\"@example.com");
    jid_bad("foo bar@example.com");
    jid_bad("juliet@example.com/");
    jid_bad("@example.com/");
    jid_bad("juliet@");
    jid_bad("/foobar");
}

static void
jid_invalid(void **state)
{
    static const char *const bad[] = {
        "", "@", "/", "@d", "d/", "a@", "a@/r", "@/", "a@@example.com",
        "a@b@example.com", "a:b@example.com", "a<b@example.com",
        "a&b@example.com", "a'b@example.com", "a>b@example.com",
        "ex ample.com", "example..com", ".example.com", "example.com..",
        ".", "-example.com", "example-.com", "exa<mple.com", "ex/",
        "exa\"mple.com", "xn--zz.example", "127.1", "1.2.3",
        "[::1", "[foo]", "[]", "[127.0.0.1]", "[::1%eth0]",
        "a@exa\tmple.com", "a@example.com/\x01", "a\x7f@example.com",
        "\xc3@example.com", "a@\xed\xa0\x80.com", "a@example.com/\xc0\xaf",
        "\xe2\x80\x8b@example.com",     /* zero width space: prohibited */
        "\xc2\xad@example.com",         /* maps to nothing: empty local */
        "a@\xf0\x9f\x98\x80.example",   /* emoji domain: IDNA disallowed */
        "a@xn--bmkple",                 /* A-label of disallowed symbols */
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++)
        jid_bad(bad[i]);
    jid_bad(NULL);
}

static void
jid_case_folding(void **state)
{
    (void)state;
    /* Local and domain fold, the resource keeps its case. */
    jid_ok("JULIET@EXAMPLE.COM/Balcony", "juliet@example.com/Balcony");
    jid_ok("\xc3\x89lodie@Example.Org/R\xc3\x89S",
        "\xc3\xa9lodie@example.org/R\xc3\x89S");
    jid_ok("example.com./X", "example.com/X");      /* one trailing dot */
    jid_ok("a_b.example.com", "a_b.example.com");
}

static void
jid_idn_domain(void **state)
{
    struct xs_jid *a, *b;

    (void)state;
    jid_ok("user@B\xc3\xbc" "cher.Example", "user@b\xc3\xbc" "cher.example");
    jid_ok("user@xn--bcher-kva.example", "user@b\xc3\xbc" "cher.example");
    jid_ok("user@XN--BCHER-KVA.example", "user@b\xc3\xbc" "cher.example");
    /* U+3002 ideographic full stop separates labels too (UTS #46). */
    jid_ok("user@b\xc3\xbc" "cher\xe3\x80\x82" "example",
        "user@b\xc3\xbc" "cher.example");
    assert_int_equal(xs_jid_new("u@b\xc3\xbc" "cher.example/r", &a), XS_OK);
    assert_int_equal(xs_jid_new("U@xn--bcher-kva.EXAMPLE./r", &b), XS_OK);
    assert_true(xs_jid_equal(a, b));
    xs_jid_free(a);
    xs_jid_free(b);
}

static void
jid_ip_literals(void **state)
{
    (void)state;
    jid_ok("[::1]", "[::1]");
    jid_ok("u@[0:0:0:0:0:0:0:1]/r", "u@[::1]/r");
    jid_ok("[2001:DB8::1]", "[2001:db8::1]");
    jid_ok("127.0.0.1", "127.0.0.1");
    jid_ok("u@192.0.2.1/x", "u@192.0.2.1/x");
}

static char *
repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);

    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

static void
jid_length_limits(void **state)
{
    char *part, *s;
    struct xs_jid *j;

    (void)state;
    part = repeat("a", XS_JID_PART_MAX);
    s = xs_asprintf("%s@example.com/%s", part, part);
    assert_int_equal(xs_jid_new(s, &j), XS_OK);
    assert_int_equal(strlen(j->local), XS_JID_PART_MAX);
    assert_int_equal(strlen(j->resource), XS_JID_PART_MAX);
    xs_jid_free(j);
    xs_free(s);
    free(part);

    part = repeat("a", XS_JID_PART_MAX + 1);
    s = xs_asprintf("%s@example.com", part);
    jid_bad(s);
    xs_free(s);
    s = xs_asprintf("example.com/%s", part);
    jid_bad(s);
    xs_free(s);
    free(part);

    /* Bytes after preparation: 512 two-byte letters are 1024 bytes. */
    part = repeat("\xc3\xa9", 511);
    s = xs_asprintf("%s@example.com/%s", part, part);
    jid_ok(s, s);
    xs_free(s);
    free(part);
    part = repeat("\xc3\xa9", 512);
    s = xs_asprintf("%s@example.com", part);
    jid_bad(s);
    xs_free(s);
    s = xs_asprintf("example.com/%s", part);
    jid_bad(s);
    xs_free(s);
    free(part);
    /* Uppercase that folds still counts after folding, not before. */
    part = repeat("\xc3\x89", 511);
    s = xs_asprintf("%s@example.com", part);
    assert_int_equal(xs_jid_new(s, &j), XS_OK);
    xs_jid_free(j);
    xs_free(s);
    free(part);

    /* DNS limits: 63-octet labels, 253 octets in all. */
    part = repeat("a", 63);
    s = xs_asprintf("%s.example", part);
    jid_ok(s, s);
    xs_free(s);
    free(part);
    part = repeat("a", 64);
    s = xs_asprintf("%s.example", part);
    jid_bad(s);
    xs_free(s);
    free(part);
    part = repeat("abcdefghi.", 25);            /* 250 octets */
    s = xs_asprintf("%sabc", part);             /* 253 */
    jid_ok(s, s);
    xs_free(s);
    s = xs_asprintf("%sabcd", part);            /* 254 */
    jid_bad(s);
    xs_free(s);
    free(part);

    /* Huge input is refused without preparing it. */
    part = repeat("a", 100000);
    jid_bad(part);
    free(part);
}

static void
jid_from_parts_and_prep(void **state)
{
    struct xs_jid *j, *k;
    char *s;

    (void)state;
    assert_int_equal(xs_jid_from_parts("Romeo", "Example.NET.", "Orchard",
        &j), XS_OK);
    assert_string_equal(j->full, "romeo@example.net/Orchard");
    assert_int_equal(xs_jid_from_parts(NULL, "example.net", NULL, &k),
        XS_OK);
    assert_string_equal(k->full, "example.net");
    assert_false(xs_jid_bare_equal(j, k));
    xs_jid_free(k);
    assert_int_equal(xs_jid_from_parts("", "example.net", NULL, &k),
        XS_EINVAL);
    assert_null(k);
    assert_int_equal(xs_jid_from_parts("a", "example.net", "", &k),
        XS_EINVAL);
    assert_int_equal(xs_jid_from_parts("a", NULL, NULL, &k), XS_EINVAL);
    assert_int_equal(xs_jid_from_parts("a@b", "example.net", NULL, &k),
        XS_EINVAL);
    assert_int_equal(xs_jid_from_parts("a", "exa/mple.net", NULL, &k),
        XS_EINVAL);

    k = xs_jid_copy(j);
    assert_true(xs_jid_equal(j, k));
    assert_ptr_not_equal(k->full, j->full);
    xs_jid_free(k);
    k = xs_jid_bare_copy(j);
    assert_null(k->resource);
    assert_string_equal(k->full, "romeo@example.net");
    assert_false(xs_jid_equal(j, k));
    assert_true(xs_jid_bare_equal(j, k));
    xs_jid_free(k);
    xs_jid_free(j);
    assert_true(xs_jid_equal(NULL, NULL));

    assert_int_equal(xs_jid_nodeprep("Hello", &s), XS_OK);
    assert_string_equal(s, "hello");
    xs_free(s);
    assert_int_equal(xs_jid_nodeprep("a@b", &s), XS_EINVAL);
    assert_null(s);
    assert_int_equal(xs_jid_resourceprep("Hello World", &s), XS_OK);
    assert_string_equal(s, "Hello World");
    xs_free(s);
    assert_int_equal(xs_jid_domainprep("EXAMPLE.com.", &s), XS_OK);
    assert_string_equal(s, "example.com");
    xs_free(s);
    assert_int_equal(xs_jid_domainprep("", &s), XS_EINVAL);
}

/* The ASCII shortcuts give what libidn gives, for every ASCII byte. */
static void
jid_ascii_fast_path_matches_libidn(void **state)
{
    (void)state;
    for (int c = 1; c < 128; c++) {
        char in[4] = { 'a', (char)c, 'B', '\0' };
        char *ours, *ref = NULL;
        int rc;

        rc = stringprep_profile(in, &ref, "Nodeprep", 0);
        if (xs_jid_nodeprep(in, &ours) == XS_OK) {
            assert_int_equal(rc, STRINGPREP_OK);
            assert_string_equal(ours, ref);
            xs_free(ours);
        } else {
            assert_int_not_equal(rc, STRINGPREP_OK);
        }
        free(ref);
        ref = NULL;
        rc = stringprep_profile(in, &ref, "Resourceprep", 0);
        if (xs_jid_resourceprep(in, &ours) == XS_OK) {
            assert_int_equal(rc, STRINGPREP_OK);
            assert_string_equal(ours, ref);
            xs_free(ours);
        } else {
            assert_int_not_equal(rc, STRINGPREP_OK);
        }
        free(ref);
    }
}

/* What we produce parses back to itself. */
static void
jid_prepared_form_is_stable(void **state)
{
    static const char *const in[] = {
        "JULIET@EXAMPLE.COM/Balcony", "fu\xc3\x9f" "ball@B\xc3\xbc" "cher.de",
        "u@XN--BCHER-KVA.example./r/s", "[0::1]",
        "\xce\xa3@example.com/\xe2\x99\x9a",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(in); i++) {
        struct xs_jid *a, *b;

        assert_int_equal(xs_jid_new(in[i], &a), XS_OK);
        assert_int_equal(xs_jid_new(a->full, &b), XS_OK);
        assert_true(xs_jid_equal(a, b));
        xs_jid_free(a);
        xs_jid_free(b);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(jid_parts),
        cmocka_unit_test(jid_rfc7622_examples),
        cmocka_unit_test(jid_invalid),
        cmocka_unit_test(jid_case_folding),
        cmocka_unit_test(jid_idn_domain),
        cmocka_unit_test(jid_ip_literals),
        cmocka_unit_test(jid_length_limits),
        cmocka_unit_test(jid_from_parts_and_prep),
        cmocka_unit_test(jid_ascii_fast_path_matches_libidn),
        cmocka_unit_test(jid_prepared_form_is_stable),
    };

    return cmocka_run_group_tests_name("jid", tests, NULL, NULL);
}
