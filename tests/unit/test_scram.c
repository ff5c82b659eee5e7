/* tests/unit/test_scram.c: SCRAM vectors (RFC 5802, 7677), hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/c2s/scram.h"

#include <sodium.h>
#include <string.h>

/* RFC 5802 section 5 (SCRAM-SHA-1). */
#define V1_CFIRST "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL"
#define V1_CNONCE "fyko+d2lbbFgONRv9qkxdawL"
#define V1_SNONCE "3rfcNHYJY1ZVvWVs7j"
#define V1_SALT   "QSXCR+Q6sek8bf92"
#define V1_SFIRST "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j," \
                  "s=QSXCR+Q6sek8bf92,i=4096"
#define V1_CFINAL "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j," \
                  "p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="
#define V1_SFINAL "v=rmF9pqV8S7suAoZWja4dJRkFsKQ="

/* RFC 7677 section 3 (SCRAM-SHA-256). */
#define V2_CFIRST "n,,n=user,r=rOprNGfwEbeRWgbNEkqO"
#define V2_CNONCE "rOprNGfwEbeRWgbNEkqO"
#define V2_SNONCE "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0"
#define V2_SALT   "W22ZaJ0SNY7soEsUEjb6gQ=="
#define V2_SFIRST "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
                  "s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096"
#define V2_CFINAL "c=biws,r=rOprNGfwEbeRWgbNEkqO" \
                  "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0," \
                  "p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
#define V2_SFINAL "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="

struct keys {
    unsigned char salt[64];
    size_t        salt_len;
    unsigned char stored[XS_SCRAM_MAX_HASH];
    unsigned char server[XS_SCRAM_MAX_HASH];
};

static void
keys_make(enum xs_scram_hash h, const char *salt_b64, const char *pw,
    struct keys *k)
{
    unsigned char salted[XS_SCRAM_MAX_HASH];

    assert_int_equal(sodium_base642bin(k->salt, sizeof(k->salt), salt_b64,
        strlen(salt_b64), NULL, &k->salt_len, NULL,
        sodium_base64_VARIANT_ORIGINAL), 0);
    assert_int_equal(xs_scram_salted_password(h, pw, strlen(pw), k->salt,
        k->salt_len, 4096, salted), XS_OK);
    assert_int_equal(xs_scram_keys_from_salted(h, salted, k->stored,
        k->server), XS_OK);
}

/* A server past client-first and server-first, with the vector's keys. */
static struct xs_scram_server *
server_at_final(enum xs_scram_hash h)
{
    struct xs_scram_server *s = xs_scram_server_new(h);
    const char *first = h == XS_SCRAM_SHA1 ? V1_CFIRST : V2_CFIRST;
    const char *user, *authzid;
    struct keys k;
    char *sf;

    keys_make(h, h == XS_SCRAM_SHA1 ? V1_SALT : V2_SALT, "pencil", &k);
    assert_int_equal(xs_scram_server_set_nonce_for_test(s,
        h == XS_SCRAM_SHA1 ? V1_SNONCE : V2_SNONCE), XS_OK);
    assert_int_equal(xs_scram_server_client_first(s, first, strlen(first),
        &user, &authzid), XS_OK);
    assert_int_equal(xs_scram_server_set_keys(s, k.salt, k.salt_len, 4096,
        k.stored, k.server, &sf), XS_OK);
    xs_free(sf);
    return s;
}

static void
rfc5802_server_vector(void **state)
{
    struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA1);
    const char *user, *authzid;
    char *sf = NULL, *fin = NULL;
    struct keys k;

    (void)state;
    keys_make(XS_SCRAM_SHA1, V1_SALT, "pencil", &k);
    assert_int_equal(k.salt_len, 12);   /* not 16: set_keys, not set_creds */
    assert_int_equal(xs_scram_server_set_nonce_for_test(s, V1_SNONCE), XS_OK);
    assert_int_equal(xs_scram_server_client_first(s, V1_CFIRST,
        strlen(V1_CFIRST), &user, &authzid), XS_OK);
    assert_string_equal(user, "user");
    assert_null(authzid);
    assert_int_equal(xs_scram_server_set_keys(s, k.salt, k.salt_len, 4096,
        k.stored, k.server, &sf), XS_OK);
    assert_string_equal(sf, V1_SFIRST);
    assert_int_equal(xs_scram_server_client_final(s, V1_CFINAL,
        strlen(V1_CFINAL), &fin), XS_OK);
    assert_string_equal(fin, V1_SFINAL);
    xs_free(sf);
    xs_free(fin);
    xs_scram_server_free(s);
}

static void
rfc7677_server_vector_via_creds(void **state)
{
    struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA256);
    struct xs_account_creds c;
    const char *user, *authzid;
    char *sf = NULL, *fin = NULL;
    struct keys k;

    (void)state;
    keys_make(XS_SCRAM_SHA256, V2_SALT, "pencil", &k);
    assert_int_equal(k.salt_len, sizeof(c.sha256_salt));
    memset(&c, 0, sizeof(c));
    memcpy(c.sha256_salt, k.salt, sizeof(c.sha256_salt));
    c.sha256_iter = 4096;
    memcpy(c.sha256_stored, k.stored, 32);
    memcpy(c.sha256_server, k.server, 32);

    assert_int_equal(xs_scram_server_set_nonce_for_test(s, V2_SNONCE), XS_OK);
    assert_int_equal(xs_scram_server_client_first(s, V2_CFIRST,
        strlen(V2_CFIRST), &user, &authzid), XS_OK);
    assert_string_equal(user, "user");
    assert_int_equal(xs_scram_server_set_creds(s, &c, &sf), XS_OK);
    assert_string_equal(sf, V2_SFIRST);
    assert_int_equal(xs_scram_server_client_final(s, V2_CFINAL,
        strlen(V2_CFINAL), &fin), XS_OK);
    assert_string_equal(fin, V2_SFINAL);
    xs_free(sf);
    xs_free(fin);
    xs_scram_server_free(s);
}

static void
client_vector(enum xs_scram_hash h, const char *cnonce, const char *cfirst,
    const char *sfirst, const char *cfinal, const char *sfinal)
{
    struct xs_scram_client *c = xs_scram_client_new(h, "user", "pencil");
    char *first, *fin = NULL;

    assert_non_null(c);
    assert_int_equal(xs_scram_client_set_nonce_for_test(c, cnonce), XS_OK);
    first = xs_scram_client_first(c);
    assert_string_equal(first, cfirst);
    assert_int_equal(xs_scram_client_final(c, sfirst, strlen(sfirst), &fin),
        XS_OK);
    assert_string_equal(fin, cfinal);
    assert_int_equal(xs_scram_client_verify(c, sfinal, strlen(sfinal)),
        XS_OK);
    xs_free(first);
    xs_free(fin);
    xs_scram_client_free(c);
}

static void
rfc_client_vectors(void **state)
{
    (void)state;
    client_vector(XS_SCRAM_SHA1, V1_CNONCE, V1_CFIRST, V1_SFIRST, V1_CFINAL,
        V1_SFINAL);
    client_vector(XS_SCRAM_SHA256, V2_CNONCE, V2_CFIRST, V2_SFIRST,
        V2_CFINAL, V2_SFINAL);
}

static void
client_rejects_forged_server_final(void **state)
{
    static const char *const bad[] = {
        "v=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",  /* wrong v */
        "e=invalid-proof",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        struct xs_scram_client *c = xs_scram_client_new(XS_SCRAM_SHA256,
            "user", "pencil");
        char *first, *fin = NULL;

        xs_scram_client_set_nonce_for_test(c, V2_CNONCE);
        first = xs_scram_client_first(c);
        assert_int_equal(xs_scram_client_final(c, V2_SFIRST,
            strlen(V2_SFIRST), &fin), XS_OK);
        assert_int_equal(xs_scram_client_verify(c, bad[i], strlen(bad[i])),
            XS_EAUTH);
        xs_free(first);
        xs_free(fin);
        xs_scram_client_free(c);
    }
}

static void
client_rejects_bad_server_first(void **state)
{
    static const char *const bad[] = {
        "r=OTHERNONCE123,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* not ours */
        "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096", /* no
                                                         server part */
        "r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=100",
        "r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=99999999999",
        "r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=04096",
        "r=rOprNGfwEbeRWgbNEkqOxx,s=!!!!,i=4096",
        "r=rOprNGfwEbeRWgbNEkqOxx,i=4096",
        "m=x,r=rOprNGfwEbeRWgbNEkqOxx,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
        "",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        struct xs_scram_client *c = xs_scram_client_new(XS_SCRAM_SHA256,
            "user", "pencil");
        char *first, *fin = (char *)1;

        xs_scram_client_set_nonce_for_test(c, V2_CNONCE);
        first = xs_scram_client_first(c);
        assert_int_equal(xs_scram_client_final(c, bad[i], strlen(bad[i]),
            &fin), XS_EINVAL);
        assert_null(fin);
        xs_free(first);
        xs_scram_client_free(c);
    }
}

/* A full exchange between our client and our server. */
static xs_rc
login(enum xs_scram_hash h, const struct xs_account_creds *creds,
    const char *user, const char *pw, struct xs_scram_cache *cache)
{
    struct xs_scram_server *s = xs_scram_server_new(h);
    struct xs_scram_client *c = xs_scram_client_new(h, user, pw);
    const char *u, *z;
    char *cf, *sf = NULL, *cfin = NULL, *sfin = NULL;
    xs_rc rc;

    assert_non_null(c);
    xs_scram_client_set_cache(c, cache);
    cf = xs_scram_client_first(c);
    assert_int_equal(xs_scram_server_client_first(s, cf, strlen(cf), &u, &z),
        XS_OK);
    if (creds != NULL)
        rc = xs_scram_server_set_creds(s, creds, &sf);
    else
        rc = xs_scram_server_set_fake_creds(s, &sf);
    assert_int_equal(rc, XS_OK);
    assert_int_equal(xs_scram_client_final(c, sf, strlen(sf), &cfin), XS_OK);
    rc = xs_scram_server_client_final(s, cfin, strlen(cfin), &sfin);
    if (rc == XS_OK)
        assert_int_equal(xs_scram_client_verify(c, sfin, strlen(sfin)),
            XS_OK);
    else
        assert_null(sfin);
    xs_free(cf);
    xs_free(sf);
    xs_free(cfin);
    xs_free(sfin);
    xs_scram_client_free(c);
    xs_scram_server_free(s);
    return rc;
}

static void
derived_creds_log_in_with_both_hashes(void **state)
{
    struct xs_account_creds c;

    (void)state;
    assert_int_equal(xs_scram_creds_derive("pencil", 4096, &c), XS_OK);
    assert_int_equal(c.sha1_iter, 4096);
    assert_int_equal(c.sha256_iter, 4096);
    assert_memory_not_equal(c.sha1_salt, c.sha256_salt, 16);
    assert_int_equal(login(XS_SCRAM_SHA1, &c, "user", "pencil", NULL), XS_OK);
    assert_int_equal(login(XS_SCRAM_SHA256, &c, "user", "pencil", NULL),
        XS_OK);
    assert_int_equal(login(XS_SCRAM_SHA256, &c, "user", "pencil2", NULL),
        XS_EAUTH);
    assert_int_equal(login(XS_SCRAM_SHA1, &c, "user", "Pencil", NULL),
        XS_EAUTH);

    /* Plaintext check (PLAIN) against the same record. */
    assert_int_equal(xs_scram_creds_check_password(&c, "pencil"), XS_OK);
    assert_int_equal(xs_scram_creds_check_password(&c, "pencil "), XS_EAUTH);
    assert_int_equal(xs_scram_creds_check_password(NULL, "pencil"),
        XS_EAUTH);
    c.sha256_iter = 0;                  /* SHA-1 only: still checkable */
    assert_int_equal(xs_scram_creds_check_password(&c, "pencil"), XS_OK);
    /* An account without a SHA-256 half answers like an unknown user. */
    assert_int_equal(login(XS_SCRAM_SHA256, &c, "user", "pencil", NULL),
        XS_EAUTH);
    c.sha1_iter = 0;
    assert_int_equal(xs_scram_creds_check_password(&c, "pencil"), XS_EAUTH);

    assert_int_equal(xs_scram_creds_derive("pencil", 100, &c), XS_EINVAL);
    assert_int_equal(xs_scram_creds_derive("", 4096, &c), XS_EINVAL);
}

/* The server-first for `user` from a fresh server with fake creds. */
static char *
fake_first(enum xs_scram_hash h, const char *user)
{
    struct xs_scram_server *s = xs_scram_server_new(h);
    char *cf = xs_asprintf("n,,n=%s,r=abcdef", user), *sf = NULL, *salt;
    const char *u, *z;

    assert_int_equal(xs_scram_server_client_first(s, cf, strlen(cf), &u, &z),
        XS_OK);
    assert_int_equal(xs_scram_server_set_fake_creds(s, &sf), XS_OK);
    salt = xs_strdup(strstr(sf, ",s="));    /* salt and iterations */
    xs_free(sf);
    xs_free(cf);
    xs_scram_server_free(s);
    return salt;
}

static void
fake_creds_are_stable_and_fail(void **state)
{
    char *a1 = fake_first(XS_SCRAM_SHA256, "ghost");
    char *a2 = fake_first(XS_SCRAM_SHA256, "ghost");
    char *b = fake_first(XS_SCRAM_SHA256, "phantom");
    char *a_sha1 = fake_first(XS_SCRAM_SHA1, "ghost");

    (void)state;
    assert_string_equal(a1, a2);        /* probing sees the same salt */
    assert_string_not_equal(a1, b);
    assert_string_not_equal(a1, a_sha1);
    assert_non_null(strstr(a1, ",i=4096"));
    assert_int_equal(login(XS_SCRAM_SHA256, NULL, "ghost", "pencil", NULL),
        XS_EAUTH);
    assert_int_equal(login(XS_SCRAM_SHA1, NULL, "ghost", "x", NULL),
        XS_EAUTH);
    xs_free(a1);
    xs_free(a2);
    xs_free(b);
    xs_free(a_sha1);
}

static void
client_first_parsing(void **state)
{
    static const struct {
        const char *msg;
        const char *user;
        const char *authzid;
    } good[] = {
        { "n,,n=user,r=abc", "user", NULL },
        { "y,,n=user,r=abc", "user", NULL },
        { "n,a=user@example.com,n=user,r=abc", "user", "user@example.com" },
        { "n,a=x=2Cy,n=user,r=abc", "user", "x,y" },
        { "n,,n=a=2Cb=3Dc,r=abc", "a,b=c", NULL },
        { "n,,n=a=2cb=3dc,r=abc", "a,b=c", NULL },  /* ABNF: any case */
        { "n,,n=I\xc2\xadX,r=abc", "IX", NULL },    /* SASLprep mapping */
        { "n,,n=\xe2\x85\xa8,r=abc", "IX", NULL },  /* NFKC */
        { "n,,n=user,r=abc,x=ext", "user", NULL },
    };
    static const char *const bad[] = {
        "",
        "n,,r=abc",                     /* no username */
        "n,,n=user",                    /* no nonce */
        "n,,n=user,r=",                 /* empty nonce */
        "n,,n=,r=abc",                  /* empty username */
        "x,,n=user,r=abc",              /* bad gs2 flag */
        "n,n=user,r=abc",               /* gs2 header cut short */
        "n,,,n=user,r=abc",
        "p=tls-unique,,n=user,r=abc",   /* channel binding: no -PLUS */
        "p,,n=user,r=abc",
        "n,,m=ext,n=user,r=abc",        /* reserved mandatory extension */
        "n,,n=us=2Xer,r=abc",           /* bad escape */
        "n,,n=user=,r=abc",
        "n,,n=\xff,r=abc",              /* not UTF-8 */
        "n,,n=\xc0\xaf,r=abc",          /* overlong */
        "n,,n=a\x07,r=abc",             /* SASLprep: prohibited */
        "n,,n=user,r=a b",              /* nonce not printable */
        "n,,n=user,r=abc,1",            /* junk extension */
        "n,,n=user,r=abc,",
        "n,a=,n=user,r=abc",            /* empty authzid */
    };
    const char *u, *z;

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(good); i++) {
        struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA256);

        assert_int_equal(xs_scram_server_client_first(s, good[i].msg,
            strlen(good[i].msg), &u, &z), XS_OK);
        assert_string_equal(u, good[i].user);
        if (good[i].authzid == NULL)
            assert_null(z);
        else
            assert_string_equal(z, good[i].authzid);
        /* A second client-first is out of order. */
        assert_int_equal(xs_scram_server_client_first(s, good[i].msg,
            strlen(good[i].msg), &u, &z), XS_EINVAL);
        xs_scram_server_free(s);
    }
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA256);

        xs_rc rc = xs_scram_server_client_first(s, bad[i], strlen(bad[i]),
            &u, &z);

        if (rc != XS_EINVAL)
            print_message("bad client-first %zu accepted\n", i);
        assert_int_equal(rc, XS_EINVAL);
        xs_scram_server_free(s);
    }
    {
        /* An embedded NUL. */
        static const char nul[] = "n,,n=us\0er,r=abc";
        struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA256);

        assert_int_equal(xs_scram_server_client_first(s, nul,
            sizeof(nul) - 1, &u, &z), XS_EINVAL);
        xs_scram_server_free(s);
    }
}

static void
client_final_malformed(void **state)
{
    static const char *const bad[] = {
        /* proof missing */
        "c=biws,r=" V2_CNONCE V2_SNONCE,
        /* not base64 */
        "c=biws,r=" V2_CNONCE V2_SNONCE ",p=!!!!",
        /* proof of the wrong length */
        "c=biws,r=" V2_CNONCE V2_SNONCE ",p=dHzbZapWIk4jUhN+Ute9yQ==",
        /* nonce mismatch */
        "c=biws,r=" V2_CNONCE "X"
            ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=biws,r=" V2_CNONCE ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        /* channel binding: base64("y,,") although we got "n,," */
        "c=eSws,r=" V2_CNONCE V2_SNONCE
            ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        /* channel binding data not base64 */
        "c=bi*s,r=" V2_CNONCE V2_SNONCE
            ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        /* fields out of order / missing */
        "r=" V2_CNONCE V2_SNONCE ",c=biws"
            ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        "c=biws,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
        /* something after the proof */
        "c=biws,r=" V2_CNONCE V2_SNONCE
            ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=,x=1",
        "",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        struct xs_scram_server *s = server_at_final(XS_SCRAM_SHA256);
        char *fin = (char *)1;
        xs_rc rc = xs_scram_server_client_final(s, bad[i], strlen(bad[i]),
            &fin);

        if (rc != XS_EINVAL)
            print_message("bad client-final %zu: %s\n", i, xs_rc_str(rc));
        assert_int_equal(rc, XS_EINVAL);
        assert_null(fin);
        /* One attempt only: the vector's good final now fails too. */
        assert_int_equal(xs_scram_server_client_final(s, V2_CFINAL,
            strlen(V2_CFINAL), &fin), XS_EINVAL);
        xs_scram_server_free(s);
    }
}

static void
client_final_wrong_proof_is_eauth(void **state)
{
    struct xs_scram_server *s = server_at_final(XS_SCRAM_SHA256);
    static const char wrong[] = "c=biws,r=" V2_CNONCE V2_SNONCE
        ",p=AHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    char *fin = NULL;

    (void)state;
    assert_int_equal(xs_scram_server_client_final(s, wrong,
        sizeof(wrong) - 1, &fin), XS_EAUTH);
    assert_null(fin);
    xs_scram_server_free(s);
}

static void
y_flag_binds_to_its_own_header(void **state)
{
    struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA256);
    static const char first[] = "y,,n=user,r=" V2_CNONCE;
    /* c=biws is base64("n,,"): a downgrade from "y,,". */
    static const char biws[] = "c=biws,r=" V2_CNONCE V2_SNONCE
        ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    static const char eSws[] = "c=eSws,r=" V2_CNONCE V2_SNONCE
        ",p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    const char *u, *z;
    char *sf, *fin = NULL;
    struct keys k;

    (void)state;
    keys_make(XS_SCRAM_SHA256, V2_SALT, "pencil", &k);
    xs_scram_server_set_nonce_for_test(s, V2_SNONCE);
    assert_int_equal(xs_scram_server_client_first(s, first,
        sizeof(first) - 1, &u, &z), XS_OK);
    assert_int_equal(xs_scram_server_set_keys(s, k.salt, k.salt_len, 4096,
        k.stored, k.server, &sf), XS_OK);
    xs_free(sf);
    assert_int_equal(xs_scram_server_client_final(s, biws, sizeof(biws) - 1,
        &fin), XS_EINVAL);
    xs_scram_server_free(s);

    /* With the matching c= the binding passes and the proof decides (this
     * proof was made for another AuthMessage). */
    s = xs_scram_server_new(XS_SCRAM_SHA256);
    xs_scram_server_set_nonce_for_test(s, V2_SNONCE);
    assert_int_equal(xs_scram_server_client_first(s, first,
        sizeof(first) - 1, &u, &z), XS_OK);
    assert_int_equal(xs_scram_server_set_keys(s, k.salt, k.salt_len, 4096,
        k.stored, k.server, &sf), XS_OK);
    xs_free(sf);
    assert_int_equal(xs_scram_server_client_final(s, eSws, sizeof(eSws) - 1,
        &fin), XS_EAUTH);
    xs_scram_server_free(s);
}

static void
out_of_order_calls(void **state)
{
    struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA1);
    struct xs_account_creds c;
    char *out = NULL;

    (void)state;
    memset(&c, 0, sizeof(c));
    assert_int_equal(xs_scram_server_set_creds(s, &c, &out), XS_EINVAL);
    assert_int_equal(xs_scram_server_set_fake_creds(s, &out), XS_EINVAL);
    assert_int_equal(xs_scram_server_client_final(s, V1_CFINAL,
        strlen(V1_CFINAL), &out), XS_EINVAL);
    assert_null(out);
    assert_null(xs_scram_server_new((enum xs_scram_hash)7));
    xs_scram_server_free(s);
    xs_scram_server_free(NULL);
    xs_scram_client_free(NULL);
    xs_scram_cache_free(NULL);
}

static void
saslprep_cases(void **state)
{
    static const struct { const char *in, *out; } good[] = {
        { "user", "user" },
        { "I\xc2\xadX", "IX" },         /* RFC 4013 section 3 examples */
        { "\xc2\xaa", "a" },
        { "\xe2\x85\xa8", "IX" },
        { "a\xc2\xa0" "b", "a b" },     /* non-ASCII space to space */
    };
    /* RFC 3454 section 6: RandALCat text must end with RandALCat. */
    static const char *const bad[] = { "", "a\x07", "\xd8\xa7\x31" };
    char *out;

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(good); i++) {
        assert_int_equal(xs_scram_saslprep(good[i].in, strlen(good[i].in),
            &out), XS_OK);
        assert_string_equal(out, good[i].out);
        xs_free(out);
    }
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        assert_int_equal(xs_scram_saslprep(bad[i], strlen(bad[i]), &out),
            XS_EINVAL);
        assert_null(out);
    }
    assert_true(xs_scram_utf8_valid("\xf0\x9f\x98\x80", 4));
    assert_false(xs_scram_utf8_valid("\xed\xa0\x80", 3));  /* surrogate */
    assert_false(xs_scram_utf8_valid("\xf4\x90\x80\x80", 4)); /* > 10FFFF */
    assert_false(xs_scram_utf8_valid("\xe2\x85", 2));      /* truncated */
    assert_null(xs_scram_client_new(XS_SCRAM_SHA256, "user", ""));
    assert_null(xs_scram_client_new(XS_SCRAM_SHA256, "\xff", "pw"));
}

static void
client_escapes_username(void **state)
{
    struct xs_scram_client *c = xs_scram_client_new(XS_SCRAM_SHA256,
        "a,b=c", "pencil");
    struct xs_scram_server *s = xs_scram_server_new(XS_SCRAM_SHA256);
    const char *u, *z;
    char *first;

    (void)state;
    xs_scram_client_set_nonce_for_test(c, "nonce");
    first = xs_scram_client_first(c);
    assert_string_equal(first, "n,,n=a=2Cb=3Dc,r=nonce");
    assert_int_equal(xs_scram_server_client_first(s, first, strlen(first),
        &u, &z), XS_OK);
    assert_string_equal(u, "a,b=c");
    xs_free(first);
    xs_scram_client_free(c);
    xs_scram_server_free(s);
}

static void
client_cache_keeps_logins_right(void **state)
{
    struct xs_scram_cache *cache = xs_scram_cache_new(1);  /* evicts */
    struct xs_account_creds a, b;
    uint64_t t0, t1, t2;

    (void)state;
    assert_int_equal(xs_scram_creds_derive("alpha", 100000, &a), XS_OK);
    assert_int_equal(xs_scram_creds_derive("beta", 4096, &b), XS_OK);

    t0 = xs_now_ms();
    assert_int_equal(login(XS_SCRAM_SHA256, &a, "a", "alpha", cache), XS_OK);
    t1 = xs_now_ms();
    assert_int_equal(login(XS_SCRAM_SHA256, &a, "a", "alpha", cache), XS_OK);
    t2 = xs_now_ms();
    /* The cached login skips 100000 PBKDF2 rounds. */
    if (t1 - t0 >= 20)
        assert_true(t2 - t1 < (t1 - t0) / 2);
    /* The cache is keyed by password too: a wrong one still fails. */
    assert_int_equal(login(XS_SCRAM_SHA256, &a, "a", "alphA", cache),
        XS_EAUTH);
    assert_int_equal(login(XS_SCRAM_SHA256, &b, "b", "beta", cache), XS_OK);
    assert_int_equal(login(XS_SCRAM_SHA256, &a, "a", "alpha", cache), XS_OK);
    assert_int_equal(login(XS_SCRAM_SHA1, &a, "a", "alpha", cache), XS_OK);
    xs_scram_cache_free(cache);

    cache = xs_scram_cache_new(64);
    for (int i = 0; i < 3; i++) {
        assert_int_equal(login(XS_SCRAM_SHA256, &b, "b", "beta", cache),
            XS_OK);
        assert_int_equal(login(XS_SCRAM_SHA1, &b, "b", "beta", cache),
            XS_OK);
    }
    xs_scram_cache_free(cache);
}

static int
setup(void **state)
{
    (void)state;
    return sodium_init() < 0 ? -1 : 0;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc5802_server_vector),
        cmocka_unit_test(rfc7677_server_vector_via_creds),
        cmocka_unit_test(rfc_client_vectors),
        cmocka_unit_test(client_rejects_forged_server_final),
        cmocka_unit_test(client_rejects_bad_server_first),
        cmocka_unit_test(derived_creds_log_in_with_both_hashes),
        cmocka_unit_test(fake_creds_are_stable_and_fail),
        cmocka_unit_test(client_first_parsing),
        cmocka_unit_test(client_final_malformed),
        cmocka_unit_test(client_final_wrong_proof_is_eauth),
        cmocka_unit_test(y_flag_binds_to_its_own_header),
        cmocka_unit_test(out_of_order_calls),
        cmocka_unit_test(saslprep_cases),
        cmocka_unit_test(client_escapes_username),
        cmocka_unit_test(client_cache_keeps_logins_right),
    };

    return cmocka_run_group_tests_name("scram", tests, setup, NULL);
}
