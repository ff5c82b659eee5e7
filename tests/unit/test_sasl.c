/* tests/unit/test_sasl.c: the c2s SASL layer: PLAIN, SCRAM, base64, errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/c2s/sasl.h"

#include <sodium.h>
#include <string.h>

#include "xmppd/c2s/scram.h"

static struct xs_account_creds creds;  /* "pencil", made once in setup */

/* base64 of len bytes, for building <auth/> text from raw PLAIN data. */
static char *
b64(const char *data, size_t len)
{
    return xs_sasl_b64_encode(data, len);
}

static enum xs_sasl_status
plain_start(struct xs_sasl *s, const char *raw, size_t len)
{
    char *text = b64(raw, len);
    enum xs_sasl_status r = xs_sasl_start(s, text);

    xs_free(text);
    return r;
}

static void
mechanism_table(void **state)
{
    enum xs_sasl_mech m;

    (void)state;
    assert_int_equal(xs_sasl_mech_by_name("SCRAM-SHA-256", &m), XS_OK);
    assert_int_equal(m, XS_SASL_SCRAM_SHA256);
    assert_int_equal(xs_sasl_mech_by_name("SCRAM-SHA-1", &m), XS_OK);
    assert_int_equal(m, XS_SASL_SCRAM_SHA1);
    assert_int_equal(xs_sasl_mech_by_name("PLAIN", &m), XS_OK);
    assert_int_equal(m, XS_SASL_PLAIN);
    assert_int_equal(xs_sasl_mech_by_name("plain", &m), XS_ENOTFOUND);
    assert_int_equal(xs_sasl_mech_by_name("SCRAM-SHA-256-PLUS", &m),
        XS_ENOTFOUND);
    assert_int_equal(xs_sasl_mech_by_name("DIGEST-MD5", &m), XS_ENOTFOUND);
    assert_int_equal(xs_sasl_mech_by_name(NULL, &m), XS_ENOTFOUND);
    assert_false(xs_sasl_mech_offered(XS_SASL_PLAIN, false));
    assert_true(xs_sasl_mech_offered(XS_SASL_PLAIN, true));
    assert_true(xs_sasl_mech_offered(XS_SASL_SCRAM_SHA1, false));
    assert_true(xs_sasl_mech_offered(XS_SASL_SCRAM_SHA256, false));
    assert_string_equal(xs_sasl_mech_name(XS_SASL_SCRAM_SHA256),
        "SCRAM-SHA-256");
    assert_null(xs_sasl_new(XS_SASL_MECH__COUNT));
}

static void
condition_names(void **state)
{
    static const char *const want[XS_SASL_COND__COUNT] = {
        "aborted", "account-disabled", "credentials-expired",
        "encryption-required", "incorrect-encoding", "invalid-authzid",
        "invalid-mechanism", "malformed-request", "mechanism-too-weak",
        "not-authorized", "temporary-auth-failure",
    };

    (void)state;
    for (size_t i = 0; i < XS_SASL_COND__COUNT; i++)
        assert_string_equal(xs_sasl_cond_name((enum xs_sasl_cond)i),
            want[i]);
}

static void
base64_payloads(void **state)
{
    unsigned char *out;
    size_t n;
    char *big, *s;

    (void)state;
    s = xs_sasl_b64_encode("", 0);
    assert_string_equal(s, "=");        /* RFC 6120 6.4.2: zero-length */
    xs_free(s);
    s = xs_sasl_b64_encode("user", 4);
    assert_string_equal(s, "dXNlcg==");
    xs_free(s);

    assert_int_equal(xs_sasl_b64_decode("=", 100, &out, &n), XS_OK);
    assert_int_equal(n, 0);
    xs_free(out);
    assert_int_equal(xs_sasl_b64_decode(NULL, 100, &out, &n), XS_OK);
    assert_int_equal(n, 0);
    xs_free(out);
    assert_int_equal(xs_sasl_b64_decode(" dXNl\r\ncg== ", 100, &out, &n),
        XS_OK);
    assert_int_equal(n, 4);
    assert_memory_equal(out, "user", 4);
    xs_free(out);

    assert_int_equal(xs_sasl_b64_decode("dXNlcg", 100, &out, &n), XS_EINVAL);
    assert_int_equal(xs_sasl_b64_decode("dXN*cg==", 100, &out, &n),
        XS_EINVAL);
    assert_int_equal(xs_sasl_b64_decode("==", 100, &out, &n), XS_EINVAL);
    assert_int_equal(xs_sasl_b64_decode("dXNlcg==", 3, &out, &n), XS_ELIMIT);
    assert_null(out);

    /* Far over the limit: refused before decoding anything. */
    big = xs_malloc(100001);
    memset(big, 'A', 100000);
    big[100000] = '\0';
    assert_int_equal(xs_sasl_b64_decode(big, XS_SASL_DATA_MAX, &out, &n),
        XS_ELIMIT);
    xs_free(big);
}

static void
plain_success(void **state)
{
    static const char raw[] = "\0user\0pencil";
    struct xs_sasl *s = xs_sasl_new(XS_SASL_PLAIN);

    (void)state;
    assert_int_equal(plain_start(s, raw, sizeof(raw) - 1),
        XS_SASL_NEED_CREDS);
    assert_string_equal(xs_sasl_username(s), "user");
    assert_null(xs_sasl_authzid(s));
    assert_int_equal(xs_sasl_set_creds(s, &creds), XS_SASL_SUCCESS);
    assert_null(xs_sasl_payload(s));    /* <success/> without data */
    assert_string_equal(xs_sasl_username(s), "user");
    /* Anything after the end is out of order. */
    assert_int_equal(xs_sasl_step(s, "AAAA"), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
    xs_sasl_free(s);
}

static void
plain_authzid_and_prep(void **state)
{
    /* authcid with a soft hyphen (mapped to nothing by SASLprep) and a
     * password with a non-ASCII space (mapped to U+0020). */
    static const char raw[] = "user@example.com\0us\xc2\xad" "er\0pen\xc2\xa0x";
    struct xs_account_creds c;
    struct xs_sasl *s = xs_sasl_new(XS_SASL_PLAIN);

    (void)state;
    assert_int_equal(xs_scram_creds_derive("pen x", 4096, &c), XS_OK);
    assert_int_equal(plain_start(s, raw, sizeof(raw) - 1),
        XS_SASL_NEED_CREDS);
    assert_string_equal(xs_sasl_username(s), "user");
    assert_string_equal(xs_sasl_authzid(s), "user@example.com");
    assert_int_equal(xs_sasl_set_creds(s, &c), XS_SASL_SUCCESS);
    xs_sasl_free(s);

    /* The stream refuses the authzid: the exchange ends with its reason. */
    s = xs_sasl_new(XS_SASL_PLAIN);
    assert_int_equal(plain_start(s, raw, sizeof(raw) - 1),
        XS_SASL_NEED_CREDS);
    assert_int_equal(xs_sasl_fail(s, XS_SASL_COND_INVALID_AUTHZID),
        XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_INVALID_AUTHZID);
    xs_sasl_free(s);
}

static void
plain_wrong_password_and_unknown_user(void **state)
{
    static const char raw[] = "\0user\0pencil2";
    static const char good[] = "\0user\0pencil";
    struct xs_sasl *s = xs_sasl_new(XS_SASL_PLAIN);

    (void)state;
    assert_int_equal(plain_start(s, raw, sizeof(raw) - 1),
        XS_SASL_NEED_CREDS);
    assert_int_equal(xs_sasl_set_creds(s, &creds), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_NOT_AUTHORIZED);
    xs_sasl_free(s);

    s = xs_sasl_new(XS_SASL_PLAIN);
    assert_int_equal(plain_start(s, good, sizeof(good) - 1),
        XS_SASL_NEED_CREDS);
    assert_int_equal(xs_sasl_set_creds(s, NULL), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_NOT_AUTHORIZED);
    xs_sasl_free(s);
}

static void
plain_malformed(void **state)
{
    char long_field[300];
    struct { const char *raw; size_t len; } bad[8];
    char *c1, *c2;
    size_t nbad = 0;

    (void)state;
    memset(long_field, 'a', sizeof(long_field));
#define BAD(lit) (bad[nbad].raw = (lit), bad[nbad++].len = sizeof(lit) - 1)
    BAD("userpencil");                  /* no NUL */
    BAD("user\0pencil");                /* one NUL */
    BAD("\0\0pencil");                  /* empty authcid */
    BAD("\0user\0");                    /* empty password */
    BAD("\0user\0pen\0cil");            /* NUL in the password */
    BAD("\0\xff\0pencil");              /* not UTF-8 */
    BAD("\0us\x07" "er\0pencil");       /* prohibited by SASLprep */
#undef BAD
    for (size_t i = 0; i < nbad; i++) {
        struct xs_sasl *s = xs_sasl_new(XS_SASL_PLAIN);
        enum xs_sasl_status r = plain_start(s, bad[i].raw, bad[i].len);

        if (r != XS_SASL_FAILURE)
            print_message("PLAIN case %zu accepted\n", i);
        assert_int_equal(r, XS_SASL_FAILURE);
        assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
        xs_sasl_free(s);
    }

    /* 256-byte authcid, then 256-byte password; 255 is fine. */
    c1 = xs_malloc(2 + 256 + 7);
    c1[0] = '\0';
    memcpy(c1 + 1, long_field, 256);
    memcpy(c1 + 257, "\0pencil", 7);
    c2 = xs_malloc(6 + 256);
    memcpy(c2, "\0user\0", 6);
    memcpy(c2 + 6, long_field, 256);
    {
        struct xs_sasl *s = xs_sasl_new(XS_SASL_PLAIN);

        assert_int_equal(plain_start(s, c1, 264), XS_SASL_FAILURE);
        assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
        xs_sasl_free(s);
        s = xs_sasl_new(XS_SASL_PLAIN);
        assert_int_equal(plain_start(s, c2, 262), XS_SASL_FAILURE);
        xs_sasl_free(s);
        s = xs_sasl_new(XS_SASL_PLAIN);
        assert_int_equal(plain_start(s, c2, 261), XS_SASL_NEED_CREDS);
        xs_sasl_free(s);
    }
    xs_free(c1);
    xs_free(c2);

    /* An empty initial response ("=") is malformed for PLAIN. */
    {
        struct xs_sasl *s = xs_sasl_new(XS_SASL_PLAIN);

        assert_int_equal(xs_sasl_start(s, "="), XS_SASL_FAILURE);
        assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
        xs_sasl_free(s);
    }
}

static void
bad_base64_is_incorrect_encoding(void **state)
{
    struct xs_sasl *s = xs_sasl_new(XS_SASL_SCRAM_SHA256);

    (void)state;
    assert_int_equal(xs_sasl_start(s, "bixuPXVzZXIscj1hYmM*"),
        XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_INCORRECT_ENCODING);
    xs_sasl_free(s);
}

static void
oversized_payload_is_malformed(void **state)
{
    size_t n = XS_SASL_DATA_MAX + 1;
    char *raw = xs_malloc(n), *text;
    struct xs_sasl *s = xs_sasl_new(XS_SASL_PLAIN);

    (void)state;
    memset(raw, 'a', n);
    text = b64(raw, n);
    assert_int_equal(xs_sasl_start(s, text), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
    xs_free(text);
    xs_free(raw);
    xs_sasl_free(s);
}

/* A full SCRAM exchange through the SASL layer, driven by our client. */
static enum xs_sasl_status
scram_run(enum xs_sasl_mech m, const char *user, const char *pw,
    const struct xs_account_creds *c, bool use_initial_response)
{
    enum xs_scram_hash h = m == XS_SASL_SCRAM_SHA1 ? XS_SCRAM_SHA1
                                                    : XS_SCRAM_SHA256;
    struct xs_scram_client *cl = xs_scram_client_new(h, user, pw);
    struct xs_sasl *s = xs_sasl_new(m);
    char *first = xs_scram_client_first(cl), *text, *fin = NULL;
    unsigned char *data;
    size_t n;
    enum xs_sasl_status r;

    text = b64(first, strlen(first));
    if (use_initial_response) {
        r = xs_sasl_start(s, text);
    } else {
        assert_int_equal(xs_sasl_start(s, NULL), XS_SASL_CHALLENGE);
        assert_string_equal(xs_sasl_payload(s), "=");
        r = xs_sasl_step(s, text);
    }
    xs_free(text);
    assert_int_equal(r, XS_SASL_NEED_CREDS);
    assert_string_equal(xs_sasl_username(s), user);

    assert_int_equal(xs_sasl_set_creds(s, c), XS_SASL_CHALLENGE);
    assert_int_equal(xs_sasl_b64_decode(xs_sasl_payload(s), XS_SASL_DATA_MAX,
        &data, &n), XS_OK);
    assert_int_equal(xs_scram_client_final(cl, (char *)data, n, &fin), XS_OK);
    xs_free(data);

    text = b64(fin, strlen(fin));
    r = xs_sasl_step(s, text);
    xs_free(text);
    xs_free(fin);
    if (r == XS_SASL_SUCCESS) {
        assert_int_equal(xs_sasl_b64_decode(xs_sasl_payload(s),
            XS_SASL_DATA_MAX, &data, &n), XS_OK);
        assert_int_equal(xs_scram_client_verify(cl, (char *)data, n), XS_OK);
        xs_free(data);
    } else {
        assert_int_equal(r, XS_SASL_FAILURE);
        assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_NOT_AUTHORIZED);
    }
    xs_free(first);
    xs_scram_client_free(cl);
    xs_sasl_free(s);
    return r;
}

static void
scram_through_sasl(void **state)
{
    (void)state;
    assert_int_equal(scram_run(XS_SASL_SCRAM_SHA256, "user", "pencil",
        &creds, true), XS_SASL_SUCCESS);
    assert_int_equal(scram_run(XS_SASL_SCRAM_SHA1, "user", "pencil",
        &creds, false), XS_SASL_SUCCESS);
    assert_int_equal(scram_run(XS_SASL_SCRAM_SHA256, "user", "pencil2",
        &creds, true), XS_SASL_FAILURE);
    /* Unknown user: a challenge like any other, then not-authorized. */
    assert_int_equal(scram_run(XS_SASL_SCRAM_SHA256, "ghost", "pencil",
        NULL, true), XS_SASL_FAILURE);
    assert_int_equal(scram_run(XS_SASL_SCRAM_SHA1, "ghost", "pencil",
        NULL, false), XS_SASL_FAILURE);
}

static void
scram_malformed_and_out_of_order(void **state)
{
    struct xs_sasl *s;
    char *text;

    (void)state;
    /* p=: channel binding requested, which we never offer here. */
    s = xs_sasl_new(XS_SASL_SCRAM_SHA256);
    text = b64("p=tls-unique,,n=user,r=abc", 26);
    assert_int_equal(xs_sasl_start(s, text), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
    xs_free(text);
    xs_sasl_free(s);

    /* Client-final with a mismatched nonce. */
    s = xs_sasl_new(XS_SASL_SCRAM_SHA256);
    text = b64("n,,n=user,r=abc", 15);
    assert_int_equal(xs_sasl_start(s, text), XS_SASL_NEED_CREDS);
    xs_free(text);
    assert_int_equal(xs_sasl_set_creds(s, &creds), XS_SASL_CHALLENGE);
    text = b64("c=biws,r=abcX,p=AAAA", 20);
    assert_int_equal(xs_sasl_step(s, text), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
    xs_free(text);
    xs_sasl_free(s);

    /* A response before anything was asked, set_creds out of order. */
    s = xs_sasl_new(XS_SASL_SCRAM_SHA1);
    assert_int_equal(xs_sasl_step(s, "AAAA"), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_MALFORMED_REQUEST);
    xs_sasl_free(s);
    s = xs_sasl_new(XS_SASL_SCRAM_SHA1);
    assert_int_equal(xs_sasl_set_creds(s, &creds), XS_SASL_FAILURE);
    xs_sasl_free(s);

    /* Start twice. */
    s = xs_sasl_new(XS_SASL_SCRAM_SHA1);
    assert_int_equal(xs_sasl_start(s, NULL), XS_SASL_CHALLENGE);
    assert_int_equal(xs_sasl_start(s, NULL), XS_SASL_FAILURE);
    xs_sasl_free(s);

    /* <abort/> */
    s = xs_sasl_new(XS_SASL_SCRAM_SHA256);
    assert_int_equal(xs_sasl_start(s, NULL), XS_SASL_CHALLENGE);
    assert_int_equal(xs_sasl_fail(s, XS_SASL_COND_ABORTED), XS_SASL_FAILURE);
    assert_int_equal(xs_sasl_cond(s), XS_SASL_COND_ABORTED);
    assert_null(xs_sasl_payload(s));
    xs_sasl_free(s);
    xs_sasl_free(NULL);
}

static int
setup(void **state)
{
    (void)state;
    if (sodium_init() < 0)
        return -1;
    return xs_scram_creds_derive("pencil", 4096, &creds) == XS_OK ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(mechanism_table),
        cmocka_unit_test(condition_names),
        cmocka_unit_test(base64_payloads),
        cmocka_unit_test(plain_success),
        cmocka_unit_test(plain_authzid_and_prep),
        cmocka_unit_test(plain_wrong_password_and_unknown_user),
        cmocka_unit_test(plain_malformed),
        cmocka_unit_test(bad_base64_is_incorrect_encoding),
        cmocka_unit_test(oversized_payload_is_malformed),
        cmocka_unit_test(scram_through_sasl),
        cmocka_unit_test(scram_malformed_and_out_of_order),
    };

    return cmocka_run_group_tests_name("sasl", tests, setup, NULL);
}
