/* tests/unit/test_tls.c: certfiles from gen-cert.sh, SNI, protocol floor. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/net/tls.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char dir[] = "/tmp/xs-test-tls.XXXXXX";
static char *path_a, *path_b, *path_lh, *path_ca;

/* The script, from the repository root (where make runs the tests). */
static char *
script_path(void)
{
    const char *root = getenv("XMPPD_SRCDIR");

    return xs_asprintf("%s/deploy/gen-cert.sh", root != NULL ? root : ".");
}

/* Run gen-cert.sh; its standard output goes to *out (may be NULL). */
static int
gen_cert(char **out)
{
    char *script = script_path(), *cmd, buf[4096];
    size_t n;
    FILE *p;
    int rc;

    if (access(script, R_OK) != 0) {
        print_error("cannot find %s: run from the repository root or set "
            "XMPPD_SRCDIR\n", script);
        xs_free(script);
        return -1;
    }
    cmd = xs_asprintf("sh '%s' '%s' a.test b.test localhost", script, dir);
    p = popen(cmd, "r");
    assert_non_null(p);
    n = fread(buf, 1, sizeof(buf) - 1, p);
    buf[n] = '\0';
    rc = pclose(p);
    if (out != NULL)
        *out = xs_strdup(buf);
    xs_free(cmd);
    xs_free(script);
    return rc;
}

static X509 *
cert_load(const char *path)
{
    FILE *f = fopen(path, "r");
    X509 *x;

    assert_non_null(f);
    x = PEM_read_X509(f, NULL, NULL, NULL);
    fclose(f);
    assert_non_null(x);
    return x;
}

static void
script_is_idempotent_and_private(void **state)
{
    struct stat st;
    char *out = NULL;
    X509 *before, *after;

    (void)state;
    assert_int_equal(stat(path_a, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    assert_int_equal(stat(path_ca, &st), 0);
    before = cert_load(path_a);

    assert_int_equal(gen_cert(&out), 0);
    assert_string_equal(out, "");       /* nothing created, nothing said */
    after = cert_load(path_a);
    assert_int_equal(X509_cmp(before, after), 0);
    X509_free(before);
    X509_free(after);
    xs_free(out);
}

static void
cert_matches_names(void **state)
{
    X509 *a = cert_load(path_a), *lh = cert_load(path_lh);

    (void)state;
    assert_true(xs_tls_cert_matches(a, "a.test"));
    assert_true(xs_tls_cert_matches(a, "A.Test"));
    assert_true(xs_tls_cert_matches(a, "a.test."));
    assert_false(xs_tls_cert_matches(a, "b.test"));
    assert_false(xs_tls_cert_matches(a, "x.a.test"));
    assert_false(xs_tls_cert_matches(a, "test"));
    assert_false(xs_tls_cert_matches(a, ""));
    assert_false(xs_tls_cert_matches(a, "."));
    assert_false(xs_tls_cert_matches(a, NULL));
    assert_false(xs_tls_cert_matches(NULL, "a.test"));
    assert_true(xs_tls_cert_matches(lh, "localhost"));
    assert_false(xs_tls_cert_matches(lh, "a.test"));
    X509_free(a);
    X509_free(lh);
}

static void
server_ctx_load_errors(void **state)
{
    const char *missing[] = { "/nonexistent/x.pem" };
    char *mixed = xs_asprintf("%s/mixed.pem", dir);
    const char *mixed_v[] = { mixed };
    SSL_CTX *ctx = (SSL_CTX *)1;
    char *cmd;

    (void)state;
    assert_int_equal(xs_tls_server_ctx_new(missing, 1, &ctx), XS_EIO);
    assert_null(ctx);
    assert_int_equal(xs_tls_server_ctx_new(missing, 0, &ctx), XS_EINVAL);
    assert_null(ctx);

    /* a.test's certificate with b.test's key. */
    cmd = xs_asprintf("{ sed -n '/BEGIN CERT/,/END CERT/p' '%s'; "
        "sed -n '/BEGIN PRIV/,/END PRIV/p' '%s'; } > '%s'", path_a, path_b,
        mixed);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(xs_tls_server_ctx_new(mixed_v, 1, &ctx), XS_EINVAL);
    assert_null(ctx);
    unlink(mixed);
    xs_free(cmd);
    xs_free(mixed);
}

struct hs {
    SSL *s;
    SSL *c;
};

static bool
hs_wants_io(SSL *ssl, int r)
{
    int e = SSL_get_error(ssl, r);

    return e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE;
}

/*
 * An in-memory handshake over a BIO pair.  sni may be NULL; verify says
 * whether the client checks the chain against the test CA and sni.
 */
static bool
handshake(SSL_CTX *sctx, const char *sni, int client_max, bool verify,
    struct hs *hs)
{
    SSL_CTX *cctx;
    BIO *sbio, *cbio;
    bool s_done = false, c_done = false;

    assert_int_equal(xs_tls_client_ctx_new(path_ca, &cctx), XS_OK);
    if (client_max != 0)
        SSL_CTX_set_max_proto_version(cctx, client_max);
    if (client_max != 0 && client_max < TLS1_2_VERSION) {
        /* Let the client try: the floor under test is the server's. */
        SSL_CTX_set_min_proto_version(cctx, 0);
        SSL_CTX_set_security_level(cctx, 0);
        SSL_CTX_set_cipher_list(cctx, "ALL:@SECLEVEL=0");
    }
    hs->s = SSL_new(sctx);
    hs->c = SSL_new(cctx);
    SSL_CTX_free(cctx);                 /* the SSL keeps a reference */
    assert_int_equal(BIO_new_bio_pair(&sbio, 0, &cbio, 0), 1);
    SSL_set_bio(hs->s, sbio, sbio);
    SSL_set_bio(hs->c, cbio, cbio);
    SSL_set_accept_state(hs->s);
    SSL_set_connect_state(hs->c);
    if (sni != NULL) {
        SSL_set_tlsext_host_name(hs->c, sni);
        SSL_set1_host(hs->c, sni);
    }
    if (!verify)
        SSL_set_verify(hs->c, SSL_VERIFY_NONE, NULL);

    for (int i = 0; i < 50 && !(s_done && c_done); i++) {
        int r;

        if (!c_done) {
            r = SSL_do_handshake(hs->c);
            if (r == 1)
                c_done = true;
            else if (!hs_wants_io(hs->c, r))
                break;
        }
        if (!s_done) {
            r = SSL_do_handshake(hs->s);
            if (r == 1)
                s_done = true;
            else if (!hs_wants_io(hs->s, r))
                break;
        }
    }
    ERR_clear_error();
    return s_done && c_done;
}

static void
hs_free(struct hs *hs)
{
    SSL_free(hs->s);
    SSL_free(hs->c);
}

static SSL_CTX *
server_ctx(void)
{
    const char *files[] = { path_a, path_b, path_lh };
    SSL_CTX *ctx = NULL;

    assert_int_equal(xs_tls_server_ctx_new(files, XS_ARRAY_LEN(files), &ctx),
        XS_OK);
    assert_non_null(ctx);
    return ctx;
}

static void
sni_picks_the_certificate(void **state)
{
    static const char *const names[] = { "a.test", "b.test", "localhost",
        "B.TEST" };
    SSL_CTX *ctx = server_ctx();

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(names); i++) {
        struct hs hs;

        assert_true(handshake(ctx, names[i], 0, true, &hs));
        assert_true(xs_tls_cert_matches(SSL_get_certificate(hs.s),
            names[i]));
        assert_int_equal(SSL_get_verify_result(hs.c), X509_V_OK);
        assert_int_equal(SSL_version(hs.c), TLS1_3_VERSION);
        hs_free(&hs);
    }
    SSL_CTX_free(ctx);
}

static void
no_or_unknown_sni_gets_the_default(void **state)
{
    SSL_CTX *ctx = server_ctx();
    struct hs hs;

    (void)state;
    assert_true(handshake(ctx, NULL, 0, false, &hs));
    assert_true(xs_tls_cert_matches(SSL_get_certificate(hs.s), "a.test"));
    hs_free(&hs);

    assert_true(handshake(ctx, "c.test", 0, false, &hs));
    assert_true(xs_tls_cert_matches(SSL_get_certificate(hs.s), "a.test"));
    hs_free(&hs);

    /* A verifying client refuses the default certificate for c.test. */
    assert_false(handshake(ctx, "c.test", 0, true, &hs));
    hs_free(&hs);
    SSL_CTX_free(ctx);
}

static void
tls12_uses_ecdhe_aead(void **state)
{
    SSL_CTX *ctx = server_ctx();
    const SSL_CIPHER *ciph;
    struct hs hs;

    (void)state;
    assert_true(handshake(ctx, "b.test", TLS1_2_VERSION, true, &hs));
    assert_int_equal(SSL_version(hs.s), TLS1_2_VERSION);
    assert_true(xs_tls_cert_matches(SSL_get_certificate(hs.s), "b.test"));
    ciph = SSL_get_current_cipher(hs.s);
    assert_non_null(ciph);
    assert_true(SSL_CIPHER_is_aead(ciph));
    assert_int_equal(SSL_CIPHER_get_kx_nid(ciph), NID_kx_ecdhe);
    assert_null(SSL_get_current_compression(hs.s));
    hs_free(&hs);
    SSL_CTX_free(ctx);
}

static void
tls11_is_refused(void **state)
{
    SSL_CTX *ctx = server_ctx();
    struct hs hs;

    (void)state;
    assert_false(handshake(ctx, "a.test", TLS1_1_VERSION, false, &hs));
    hs_free(&hs);
    SSL_CTX_free(ctx);
}

static void
client_ctx_errors(void **state)
{
    SSL_CTX *ctx = (SSL_CTX *)1;

    (void)state;
    assert_int_equal(xs_tls_client_ctx_new("/nonexistent/ca.pem", &ctx),
        XS_EIO);
    assert_null(ctx);
    assert_int_equal(xs_tls_client_ctx_new(NULL, &ctx), XS_OK);
    assert_int_equal(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
    SSL_CTX_free(ctx);
}

/* ---- XmppAddr and SRVName (RFC 6120 13.7.1.2) ---- */

/* A self-signed certificate and its key in dir/<file>.pem, made with the
 * openssl CLI; alt: the lines of its subjectAltName section ("DNS.1 =
 * x", "otherName.1 = OID;TYPE:value"), NULL for none.  A config file, not
 * -addext: a value may hold a comma (FORMAT:UTF8,UTF8:...). */
static char *
mkcert(const char *file, const char *cn, const char *alt)
{
    char *path = xs_asprintf("%s/%s.pem", dir, file);
    char *cnf = xs_asprintf("%s/%s.cnf", dir, file);
    char *key = xs_asprintf("%s/%s.key", dir, file);
    char *crt = xs_asprintf("%s/%s.crt", dir, file);
    char *cmd;
    FILE *f = fopen(cnf, "w");

    assert_non_null(f);
    fprintf(f, "[req]\ndistinguished_name = dn\nprompt = no\n"
        "[dn]\nCN = %s\n[ext]\n%s", cn,
        alt != NULL ? "subjectAltName = @alt\n[alt]\n" : "");
    if (alt != NULL)
        fprintf(f, "%s\n", alt);
    assert_int_equal(fclose(f), 0);
    cmd = xs_asprintf("openssl req -x509 -newkey ec -pkeyopt "
        "ec_paramgen_curve:P-256 -nodes -days 2 -config '%s' "
        "-extensions ext -keyout '%s' -out '%s' 2>/dev/null && "
        "cat '%s' '%s' > '%s' && rm -f '%s' '%s' '%s'", cnf, key, crt,
        crt, key, path, key, crt, cnf);
    assert_int_equal(system(cmd), 0);
    xs_free(cmd);
    xs_free(key);
    xs_free(crt);
    xs_free(cnf);
    return path;
}

#define XMPPADDR(n) "otherName." #n " = 1.3.6.1.5.5.7.8.5;FORMAT:UTF8,UTF8:"
#define SRVNAME "otherName.1 = 1.3.6.1.5.5.7.8.7;IA5:"

static void
cert_matches_xmppaddr(void **state)
{
    char *p1 = mkcert("xa", "cn.test", XMPPADDR(1) "xmpp.test");
    char *p2 = mkcert("xa-user", "xmpp.test", XMPPADDR(1) "u@xmpp.test\n"
        XMPPADDR(2) "xmpp.test/res");
    char *p3 = mkcert("xa-idn", "idn", XMPPADDR(1) "B\xc3\xbc" "cher.test");
    char *p4 = mkcert("xa-ia5", "ia5", "otherName.1 = 1.3.6.1.5.5.7.8.5;IA5:"
        "ia5.test");
    char *p5 = mkcert("xa-dns", "cn.test", "DNS.1 = dns.test\n" XMPPADDR(1)
        "other.test");
    X509 *x1 = cert_load(p1), *x2 = cert_load(p2), *x3 = cert_load(p3);
    X509 *x4 = cert_load(p4), *x5 = cert_load(p5);

    (void)state;
    assert_true(xs_tls_cert_matches(x1, "xmpp.test"));
    assert_true(xs_tls_cert_matches(x1, "XMPP.test."));
    assert_false(xs_tls_cert_matches(x1, "x.xmpp.test"));
    assert_false(xs_tls_cert_matches(x1, "other.test"));
    /* An XmppAddr is an identity: the CN no longer counts (RFC 6125). */
    assert_false(xs_tls_cert_matches(x1, "cn.test"));
    /* A user's or a resource's JID does not name the server. */
    assert_false(xs_tls_cert_matches(x2, "xmpp.test"));
    /* UTF-8 JID, compared in A-labels after domainprep. */
    assert_true(xs_tls_cert_matches(x3, "xn--bcher-kva.test"));
    assert_true(xs_tls_cert_matches(x3, "b\xc3\xbc" "cher.test"));
    assert_false(xs_tls_cert_matches(x3, "bucher.test"));
    /* id-on-xmppAddr must be a UTF8String. */
    assert_false(xs_tls_cert_matches(x4, "ia5.test"));
    assert_false(xs_tls_cert_matches(x4, "ia5"));
    /* Together with a dNSName, each names the server. */
    assert_true(xs_tls_cert_matches(x5, "dns.test"));
    assert_true(xs_tls_cert_matches(x5, "other.test"));
    assert_false(xs_tls_cert_matches(x5, "cn.test"));
    X509_free(x1);
    X509_free(x2);
    X509_free(x3);
    X509_free(x4);
    X509_free(x5);
    xs_free(p1);
    xs_free(p2);
    xs_free(p3);
    xs_free(p4);
    xs_free(p5);
}

static void
cert_matches_srvname(void **state)
{
    char *p1 = mkcert("srv", "cn.test", SRVNAME "_xmpp-server.srv.test");
    char *p2 = mkcert("srv-client", "cli.test", SRVNAME
        "_xmpp-client.cli.test");
    char *p3 = mkcert("srv-case", "x", SRVNAME "_XMPP-Server.Case.Test");
    char *p4 = mkcert("srv-utf8", "x", "otherName.1 = 1.3.6.1.5.5.7.8.7;UTF8:"
        "_xmpp-server.utf.test");
    X509 *x1 = cert_load(p1), *x2 = cert_load(p2), *x3 = cert_load(p3);
    X509 *x4 = cert_load(p4);

    (void)state;
    assert_true(xs_tls_cert_matches(x1, "srv.test"));
    assert_true(xs_tls_cert_matches(x1, "srv.test."));
    assert_true(xs_tls_cert_matches(x1, "SRV.test"));
    assert_false(xs_tls_cert_matches(x1, "_xmpp-server.srv.test"));
    assert_false(xs_tls_cert_matches(x1, "other.test"));
    assert_false(xs_tls_cert_matches(x1, "cn.test"));
    /* The client service does not name a server. */
    assert_false(xs_tls_cert_matches(x2, "cli.test"));
    assert_true(xs_tls_cert_matches(x3, "case.test"));
    /* id-on-dnsSRV must be an IA5String. */
    assert_false(xs_tls_cert_matches(x4, "utf.test"));
    X509_free(x1);
    X509_free(x2);
    X509_free(x3);
    X509_free(x4);
    xs_free(p1);
    xs_free(p2);
    xs_free(p3);
    xs_free(p4);
}

/* Outgoing s2s presents the certificate of the stream's local domain. */
static void
ctx_for_name_picks_the_certificate(void **state)
{
    char *p_xa = mkcert("pick-xa", "pick", XMPPADDR(1) "xa.test");
    const char *files[] = { path_a, path_b, p_xa };
    SSL_CTX *ctx, *client;
    SSL *ssl;
    X509 *want;

    (void)state;
    assert_int_equal(xs_tls_server_ctx_new(files, 3, &ctx), XS_OK);
    assert_true(xs_tls_ctx_for_name(ctx, "a.test") == ctx);
    assert_true(xs_tls_cert_matches(SSL_CTX_get0_certificate(
        xs_tls_ctx_for_name(ctx, "b.test")), "b.test"));
    assert_true(xs_tls_ctx_for_name(ctx, "b.test") != ctx);
    assert_true(xs_tls_cert_matches(SSL_CTX_get0_certificate(
        xs_tls_ctx_for_name(ctx, "xa.test")), "xa.test"));
    /* Unknown: the default (first) certificate. */
    assert_true(xs_tls_ctx_for_name(ctx, "nobody.test") == ctx);
    assert_true(xs_tls_ctx_for_name(ctx, NULL) == ctx);

    assert_int_equal(xs_tls_client_ctx_new(NULL, &client), XS_OK);
    ssl = SSL_new(client);
    assert_non_null(ssl);
    assert_null(SSL_get_certificate(ssl));
    assert_int_equal(xs_tls_use_ctx_certificate(ssl,
        xs_tls_ctx_for_name(ctx, "b.test")), XS_OK);
    want = SSL_CTX_get0_certificate(xs_tls_ctx_for_name(ctx, "b.test"));
    assert_int_equal(X509_cmp(SSL_get_certificate(ssl), want), 0);
    assert_int_equal(SSL_check_private_key(ssl), 1);
    /* A context without a certificate has nothing to give. */
    assert_int_equal(xs_tls_use_ctx_certificate(ssl, client), XS_ENOTFOUND);
    SSL_free(ssl);
    SSL_CTX_free(client);
    SSL_CTX_free(ctx);
    xs_free(p_xa);
}

static int
setup(void **state)
{
    (void)state;
    /* The error paths log on purpose: keep the output to cmocka's. */
    xs_log_min = (enum xs_log_level)(XS_LOG_ERR + 1);
    if (mkdtemp(dir) == NULL)
        return -1;
    path_a = xs_asprintf("%s/a.test.pem", dir);
    path_b = xs_asprintf("%s/b.test.pem", dir);
    path_lh = xs_asprintf("%s/localhost.pem", dir);
    path_ca = xs_asprintf("%s/ca.pem", dir);
    return gen_cert(NULL) == 0 ? 0 : -1;
}

static int
teardown(void **state)
{
    char *cmd = xs_asprintf("rm -rf '%s'", dir);
    int rc = system(cmd);

    (void)state;
    xs_free(cmd);
    xs_free(path_a);
    xs_free(path_b);
    xs_free(path_lh);
    xs_free(path_ca);
    return rc == 0 ? 0 : -1;
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(script_is_idempotent_and_private),
        cmocka_unit_test(cert_matches_names),
        cmocka_unit_test(server_ctx_load_errors),
        cmocka_unit_test(sni_picks_the_certificate),
        cmocka_unit_test(no_or_unknown_sni_gets_the_default),
        cmocka_unit_test(tls12_uses_ecdhe_aead),
        cmocka_unit_test(tls11_is_refused),
        cmocka_unit_test(client_ctx_errors),
        cmocka_unit_test(cert_matches_xmppaddr),
        cmocka_unit_test(cert_matches_srvname),
        cmocka_unit_test(ctx_for_name_picks_the_certificate),
    };

    return cmocka_run_group_tests_name("tls", tests, setup, teardown);
}
