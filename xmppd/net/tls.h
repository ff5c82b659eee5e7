/*
 * tls.h: OpenSSL contexts for c2s/s2s listeners (server side, with SNI
 * over several certificates) and for outgoing s2s (client side).
 *
 * Server: certfiles in ejabberd's style, each PEM file holding a
 * certificate, its chain and its private key.  The first file is the
 * default; a ClientHello whose server name matches another file's leaf
 * certificate (SAN dNSName, or CN when there is no dNSName; exact names
 * before wildcards) switches the connection to that file's certificate.
 * TLS 1.2 minimum, ECDHE+AEAD suites for 1.2, OpenSSL's defaults for 1.3,
 * no compression, no renegotiation, session tickets on.
 *
 * Contexts are built at start-up (file I/O) and are reference counted by
 * OpenSSL: free with SSL_CTX_free(), which also frees the per-certificate
 * contexts behind SNI.  Build them on the main thread.
 */
#ifndef XMPPD_NET_TLS_H
#define XMPPD_NET_TLS_H

#include "xmppd/core/xs.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

/* Cipher list for TLS 1.2: forward secrecy and AEAD only. */
#define XS_TLS12_CIPHERS "ECDHE+AESGCM:ECDHE+CHACHA20"

/*
 * n >= 1 files.  On success *out is a new context owned by the caller;
 * on failure *out is NULL, the reason is logged with the file name, and
 * the result is XS_EINVAL (no n, a key that does not match its
 * certificate) or XS_EIO (unreadable or not PEM).
 */
xs_rc xs_tls_server_ctx_new(const char *const *certfiles, size_t n,
    SSL_CTX **out);

/*
 * For outgoing s2s: TLS 1.2 minimum, peer verification against cafile (or
 * the system store when cafile is NULL).  The connection sets the name to
 * check with SSL_set1_host() and SNI with SSL_set_tlsext_host_name(); a
 * stream that accepts unauthenticated peers (dialback) overrides the
 * verify mode per connection.
 */
xs_rc xs_tls_client_ctx_new(const char *cafile, SSL_CTX **out);

/*
 * Whether cert is valid for the server domain `name` (RFC 6120 13.7.1.2,
 * RFC 6125): SAN XmppAddr (id-on-xmppAddr, the bare domain, compared
 * after domainprep), SRVName (id-on-dnsSRV, "_xmpp-server.<name>"), or
 * dNSName (a wildcard only as the whole leftmost label); the CN only
 * when the certificate has none of these.  Case-insensitive; a trailing
 * dot is ignored.  `name` is a prepared domain (A-labels).
 */
bool xs_tls_cert_matches(X509 *cert, const char *name);

/*
 * The per-certificate context (borrowed) of a server context from
 * xs_tls_server_ctx_new whose leaf certificate serves `name` (DNS names
 * as for SNI, then XmppAddr/SRVName), else ctx itself (the default).
 */
SSL_CTX *xs_tls_ctx_for_name(SSL_CTX *ctx, const char *name);

/*
 * Present `from`'s certificate, chain and key on ssl (a client SSL that
 * offers a certificate, e.g. for SASL EXTERNAL).  XS_ENOTFOUND: from has
 * none; XS_EIO: OpenSSL refused (logged).
 */
xs_rc xs_tls_use_ctx_certificate(SSL *ssl, SSL_CTX *from);

#endif
