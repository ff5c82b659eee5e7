/* tls.c: server contexts with SNI over several certfiles, client contexts. */
#include "xmppd/net/tls.h"

#include "xmppd/xml/jid.h"

#include <idn2.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <string.h>

#define TLS_NAME_MAX 253                /* longest DNS name */

static const unsigned char tls_sid_ctx[] = "xmppd";

/*
 * SNI table, hung on the default context as ex_data so that
 * SSL_CTX_free() of the default context frees it and the others.
 */
struct tls_sni {
    size_t    n;
    SSL_CTX **ctx;          /* owned: ctx[1..n-1]; ctx[0] is the parent,
                               borrowed (owning it would be a cycle) */
};

static int tls_sni_idx = -1;

static void
tls_sni_free(struct tls_sni *sni)
{
    if (sni == NULL)
        return;
    for (size_t i = 1; i < sni->n; i++)
        SSL_CTX_free(sni->ctx[i]);
    xs_free(sni->ctx);
    xs_free(sni);
}

static void
tls_sni_on_free(void *parent, void *ptr, CRYPTO_EX_DATA *ad, int idx,
    long argl, void *argp)
{
    (void)parent, (void)ad, (void)idx, (void)argl, (void)argp;
    tls_sni_free(ptr);
}

/* Common settings of every context, server or client. */
static xs_rc
tls_ctx_configure(SSL_CTX *ctx)
{
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1)
        return XS_EIO;
    /* OpenSSL 3 refuses client-initiated renegotiation unless
     * SSL_OP_ALLOW_CLIENT_RENEGOTIATION; NO_RENEGOTIATION covers the rest. */
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
    SSL_CTX_clear_options(ctx, SSL_OP_ALLOW_CLIENT_RENEGOTIATION);
    /* TLS 1.3 suites are all AEAD with forward secrecy: keep OpenSSL's. */
    if (SSL_CTX_set_cipher_list(ctx, XS_TLS12_CIPHERS) != 1)
        return XS_EIO;
    /* Many idle XMPP connections: give the buffers back between reads.
     * bufferevent_openssl may retry a write from a moved buffer. */
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS
        | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    return XS_OK;
}

static void
tls_warn_expiry(X509 *leaf, const char *path)
{
    const ASN1_TIME *na = X509_get0_notAfter(leaf);
    const ASN1_TIME *nb = X509_get0_notBefore(leaf);

    if (na != NULL && X509_cmp_current_time(na) < 0)
        xs_log(XS_LOG_WARN, "tls: certificate expired certfile=%s", path);
    else if (nb != NULL && X509_cmp_current_time(nb) > 0)
        xs_log(XS_LOG_WARN, "tls: certificate not yet valid certfile=%s",
            path);
}

/* A server context holding one certfile (certificate, chain, key). */
static xs_rc
tls_server_ctx_load(const char *path, SSL_CTX **out)
{
    SSL_CTX *ctx;
    X509 *leaf;
    xs_rc rc = XS_EIO;

    *out = NULL;
    ERR_clear_error();
    if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
        goto fail;
    if ((rc = tls_ctx_configure(ctx)) != XS_OK)
        goto fail;
    rc = XS_EIO;
    if (SSL_CTX_set_session_id_context(ctx, tls_sid_ctx,
            sizeof(tls_sid_ctx) - 1) != 1)
        goto fail;
    if (SSL_CTX_use_certificate_chain_file(ctx, path) != 1)
        goto fail;
    if (SSL_CTX_use_PrivateKey_file(ctx, path, SSL_FILETYPE_PEM) != 1) {
        unsigned long e = ERR_peek_last_error();

        /* Loading checks the key against the certificate already. */
        if (ERR_GET_LIB(e) == ERR_LIB_X509
            && (ERR_GET_REASON(e) == X509_R_KEY_VALUES_MISMATCH
                || ERR_GET_REASON(e) == X509_R_KEY_TYPE_MISMATCH))
            rc = XS_EINVAL;
        goto fail;
    }
    if (SSL_CTX_check_private_key(ctx) != 1) {
        rc = XS_EINVAL;                 /* key does not match the cert */
        goto fail;
    }
    if ((leaf = SSL_CTX_get0_certificate(ctx)) != NULL)
        tls_warn_expiry(leaf, path);
    *out = ctx;
    return XS_OK;

fail:
    xs_log_openssl(XS_LOG_ERR, "tls: cannot load certfile=%s", path);
    SSL_CTX_free(ctx);
    return rc;
}

/* X509_check_host on a DNS name without its trailing dot. */
static bool
tls_host_matches(X509 *cert, const char *name, unsigned int flags)
{
    char host[TLS_NAME_MAX + 2];
    size_t len;

    if (cert == NULL || name == NULL)
        return false;
    len = strnlen(name, sizeof(host));
    if (len > 0 && name[len - 1] == '.')
        len--;                          /* "example.org." is example.org */
    if (len == 0 || len > TLS_NAME_MAX)
        return false;
    memcpy(host, name, len);
    host[len] = '\0';
    return X509_check_host(cert, host, len, flags, NULL) == 1;
}

/* Index of the context whose leaf certificate serves `name`, or -1. */
static long
tls_sni_pick(const struct tls_sni *sni, const char *name)
{
    /* Two passes: an exact name beats a wildcard, whatever the order of
     * the certfiles. */
    static const unsigned int passes[] = {
        X509_CHECK_FLAG_NO_WILDCARDS,
        X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS,
    };

    for (size_t p = 0; p < XS_ARRAY_LEN(passes); p++) {
        for (size_t i = 0; i < sni->n; i++) {
            X509 *leaf = SSL_CTX_get0_certificate(sni->ctx[i]);

            if (tls_host_matches(leaf, name, passes[p]))
                return (long)i;
        }
    }
    return -1;
}

static int
tls_on_servername(SSL *ssl, int *alert, void *arg)
{
    const struct tls_sni *sni = arg;
    const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
    long i;

    (void)alert;
    if (name == NULL || sni == NULL)
        return SSL_TLSEXT_ERR_NOACK;    /* no SNI: the default certificate */
    i = tls_sni_pick(sni, name);
    if (i < 0)
        return SSL_TLSEXT_ERR_NOACK;    /* unknown name: default, and the
                                           client decides what it trusts */
    if (i > 0 && SSL_set_SSL_CTX(ssl, sni->ctx[i]) == NULL) {
        *alert = SSL_AD_INTERNAL_ERROR;
        return SSL_TLSEXT_ERR_ALERT_FATAL;
    }
    return SSL_TLSEXT_ERR_OK;
}

xs_rc
xs_tls_server_ctx_new(const char *const *certfiles, size_t n, SSL_CTX **out)
{
    struct tls_sni *sni = NULL;
    SSL_CTX *ctx = NULL;
    xs_rc rc = XS_EINVAL;

    *out = NULL;
    if (certfiles == NULL || n == 0) {
        xs_log(XS_LOG_ERR, "tls: no certfiles");
        return XS_EINVAL;
    }
    if (tls_sni_idx < 0) {
        tls_sni_idx = SSL_CTX_get_ex_new_index(0, NULL, NULL, NULL,
            tls_sni_on_free);
        if (tls_sni_idx < 0) {
            xs_log_openssl(XS_LOG_ERR, "tls: no ex_data index");
            return XS_EIO;
        }
    }

    if ((rc = tls_server_ctx_load(certfiles[0], &ctx)) != XS_OK)
        return rc;
    sni = xs_calloc(1, sizeof(*sni));
    sni->ctx = xs_calloc(n, sizeof(sni->ctx[0]));
    sni->ctx[0] = ctx;
    sni->n = 1;
    for (size_t i = 1; i < n; i++) {
        if ((rc = tls_server_ctx_load(certfiles[i], &sni->ctx[i])) != XS_OK)
            goto fail;
        sni->n++;
    }
    if (SSL_CTX_set_ex_data(ctx, tls_sni_idx, sni) != 1) {
        rc = XS_EIO;
        xs_log_openssl(XS_LOG_ERR, "tls: cannot attach SNI table");
        goto fail;
    }
    /* From here the table belongs to ctx and goes with SSL_CTX_free(). */
    SSL_CTX_set_tlsext_servername_callback(ctx, tls_on_servername);
    SSL_CTX_set_tlsext_servername_arg(ctx, sni);
    *out = ctx;
    return XS_OK;

fail:
    tls_sni_free(sni);
    SSL_CTX_free(ctx);
    return rc;
}

xs_rc
xs_tls_client_ctx_new(const char *cafile, SSL_CTX **out)
{
    SSL_CTX *ctx;
    xs_rc rc = XS_EIO;

    *out = NULL;
    ERR_clear_error();
    if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
        goto fail;
    if ((rc = tls_ctx_configure(ctx)) != XS_OK)
        goto fail;
    rc = XS_EIO;
    if (cafile != NULL) {
        if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
            goto fail;
    } else if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
        goto fail;
    }
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    *out = ctx;
    return XS_OK;

fail:
    xs_log_openssl(XS_LOG_ERR, "tls: cannot make client context cafile=%s",
        cafile != NULL ? cafile : "(system)");
    SSL_CTX_free(ctx);
    return rc;
}

/* `name` without a trailing dot, lowercased, into out; false if empty
 * or too long. */
static bool
tls_name_norm(const char *name, char *out, size_t outlen)
{
    size_t len = strnlen(name, outlen);

    if (len > 0 && name[len - 1] == '.')
        len--;
    if (len == 0 || len > TLS_NAME_MAX || len >= outlen)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)name[i];

        out[i] = (char)(ch >= 'A' && ch <= 'Z' ? ch + ('a' - 'A') : ch);
    }
    out[len] = '\0';
    return true;
}

/* An otherName's string value (UTF8String for XmppAddr, IA5String for
 * SRVName) as a normalized DNS name, or false (wrong type, NUL inside,
 * not a bare domain). */
static bool
tls_other_value(const ASN1_TYPE *v, int want_type, char *out, size_t outlen)
{
    const ASN1_STRING *s;
    char raw[TLS_NAME_MAX + 2];
    int len;

    if (v == NULL || v->type != want_type)
        return false;
    s = v->value.asn1_string;
    len = ASN1_STRING_length(s);
    if (len <= 0 || (size_t)len >= sizeof(raw))
        return false;
    memcpy(raw, ASN1_STRING_get0_data(s), (size_t)len);
    raw[len] = '\0';
    if (strlen(raw) != (size_t)len)
        return false;                   /* an embedded NUL: a forgery */
    return tls_name_norm(raw, out, outlen);
}

/*
 * RFC 6120 13.7.1.2 and RFC 6125 for a server: XmppAddr (id-on-xmppAddr,
 * a bare domain JID, no wildcards) and SRVName (id-on-dnsSRV,
 * "_xmpp-server." + domain).  *has_ids tells whether the certificate
 * carries any of them: then the CN is no identity (RFC 6125 6.4.4).
 * The XmppAddr (a UTF-8 JID) is compared after domainprep on both sides
 * (RFC 6120 13.7.1.4: U-labels and A-labels name the same domain); the
 * SRVName (ASCII) with the A-label form of the name.
 */
static bool
tls_other_names_match(X509 *cert, const char *want_prepped,
    const char *want_dns, bool *has_ids)
{
    static const char srv_prefix[] = "_xmpp-server.";
    GENERAL_NAMES *sans;
    bool ok = false;

    *has_ids = false;
    sans = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
    if (sans == NULL)
        return false;
    for (int i = 0; !ok && i < sk_GENERAL_NAME_num(sans); i++) {
        const GENERAL_NAME *gn = sk_GENERAL_NAME_value(sans, i);
        char got[TLS_NAME_MAX + 2];
        int nid;

        if (gn->type != GEN_OTHERNAME)
            continue;
        nid = OBJ_obj2nid(gn->d.otherName->type_id);
        if (nid == NID_XmppAddr) {
            char *prepped = NULL;

            *has_ids = true;
            if (!tls_other_value(gn->d.otherName->value, V_ASN1_UTF8STRING,
                    got, sizeof(got)))
                continue;
            if (strchr(got, '@') != NULL || strchr(got, '/') != NULL)
                continue;               /* a user's or a resource's JID */
            if (xs_jid_domainprep(got, &prepped) == XS_OK)
                ok = strcmp(prepped, want_prepped) == 0;
            xs_free(prepped);
        } else if (nid == NID_SRVName) {
            *has_ids = true;
            if (!tls_other_value(gn->d.otherName->value, V_ASN1_IA5STRING,
                    got, sizeof(got)))
                continue;
            ok = strncmp(got, srv_prefix, sizeof(srv_prefix) - 1) == 0 &&
                strcmp(got + sizeof(srv_prefix) - 1, want_dns) == 0;
        }
    }
    GENERAL_NAMES_free(sans);
    return ok;
}

bool
xs_tls_cert_matches(X509 *cert, const char *name)
{
    char want[TLS_NAME_MAX + 2];
    char *prepped, *ascii;
    bool has_ids, ok;

    if (cert == NULL || name == NULL ||
        !tls_name_norm(name, want, sizeof(want)))
        return false;
    /* XmppAddr values are compared as prepared domains (U-labels, as
     * xs_jid_domainprep gives them), DNS names and SRVNames in A-labels,
     * whatever form `name` comes in. */
    if (xs_jid_domainprep(want, &prepped) != XS_OK)
        prepped = NULL;
    if (idn2_to_ascii_8z(want, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)
        != IDN2_OK)
        ascii = NULL;
    ok = tls_other_names_match(cert, prepped != NULL ? prepped : want,
        ascii != NULL ? ascii : want, &has_ids) ||
        tls_host_matches(cert, ascii != NULL ? ascii : want,
            X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS
            | (has_ids ? X509_CHECK_FLAG_NEVER_CHECK_SUBJECT : 0));
    xs_free(prepped);
    idn2_free(ascii);                   /* libidn2's allocation */
    return ok;
}

SSL_CTX *
xs_tls_ctx_for_name(SSL_CTX *ctx, const char *name)
{
    const struct tls_sni *sni;
    long i;

    if (ctx == NULL || name == NULL || tls_sni_idx < 0 ||
        (sni = SSL_CTX_get_ex_data(ctx, tls_sni_idx)) == NULL)
        return ctx;
    if ((i = tls_sni_pick(sni, name)) >= 0)
        return sni->ctx[i];
    /* A certificate that names the domain only as XmppAddr or SRVName. */
    for (size_t k = 0; k < sni->n; k++) {
        if (xs_tls_cert_matches(SSL_CTX_get0_certificate(sni->ctx[k]), name))
            return sni->ctx[k];
    }
    return ctx;
}

xs_rc
xs_tls_use_ctx_certificate(SSL *ssl, SSL_CTX *from)
{
    X509 *cert = SSL_CTX_get0_certificate(from);
    EVP_PKEY *key = SSL_CTX_get0_privatekey(from);
    STACK_OF(X509) *chain = NULL;

    if (cert == NULL || key == NULL)
        return XS_ENOTFOUND;
    if (SSL_use_certificate(ssl, cert) != 1 ||
        SSL_use_PrivateKey(ssl, key) != 1)
        goto fail;
    if (SSL_CTX_get0_chain_certs(from, &chain) == 1 && chain != NULL &&
        SSL_set1_chain(ssl, chain) != 1)
        goto fail;
    return XS_OK;

fail:
    xs_log_openssl(XS_LOG_WARN, "tls: cannot use the certificate");
    return XS_EIO;
}
