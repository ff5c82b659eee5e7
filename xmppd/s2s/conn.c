/*
 * conn.c: one s2s connection on a shared stream (net/stream.c: plain,
 * STARTTLS or direct TLS on either side of the handshake, the input pump,
 * the shaper, bounded output, close and reap): its ids, TLS contexts,
 * header, stanza output and the s2s side of closing.  in.c and out.c
 * speak the protocol.
 */
#include "xmppd/s2s/s2s_int.h"

#include "xmppd/core/stats.h"
#include "xmppd/net/dns.h"
#include "xmppd/s2s/dialback.h"
#include "xmppd/net/tls.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <search.h>
#include <string.h>
#include <unistd.h>

static void *conns_by_id;               /* tsearch tree of live conns */
static uint64_t next_id = 1;
static SSL_CTX *client_ctx;             /* owned: outgoing TLS, and the
                                           trust store for peers' certs */

static const struct xs_stream_ops conn_ops;

static struct s2s_conn *
conn_of(struct xs_stream *st)
{
    return xs_container_of(st, struct s2s_conn, st);
}

static int
conn_cmp(const void *a, const void *b)
{
    const struct s2s_conn *x = a, *y = b;

    return (x->id > y->id) - (x->id < y->id);
}

struct s2s_conn *
s2s_conn_by_id(uint64_t id)
{
    struct s2s_conn key = { .id = id };
    void *found = tfind(&key, &conns_by_id, conn_cmp);

    return found != NULL ? *(struct s2s_conn **)found : NULL;
}

struct conn_walk {
    struct s2s_conn **v;
    size_t n, cap;
};

static struct conn_walk walk_acc;

static void
conn_walk_cb(const void *node, VISIT which, int depth)
{
    (void)depth;
    if (which != postorder && which != leaf)
        return;
    if (walk_acc.n == walk_acc.cap) {
        walk_acc.cap = walk_acc.cap ? 2 * walk_acc.cap : 16;
        walk_acc.v = xs_reallocarray(walk_acc.v, walk_acc.cap,
            sizeof(*walk_acc.v));
    }
    walk_acc.v[walk_acc.n++] = *(struct s2s_conn *const *)node;
}

void
s2s_conn_each(void (*fn)(struct s2s_conn *c, void *udata), void *udata)
{
    struct conn_walk w;
    uint64_t *ids;

    /* Ids first: fn may close (and so untree) connections. */
    walk_acc = (struct conn_walk){ 0 };
    twalk(conns_by_id, conn_walk_cb);
    w = walk_acc;
    walk_acc = (struct conn_walk){ 0 };
    ids = xs_calloc(w.n + 1, sizeof(*ids));
    for (size_t i = 0; i < w.n; i++)
        ids[i] = w.v[i]->id;
    xs_free(w.v);
    for (size_t i = 0; i < w.n; i++) {
        struct s2s_conn *c = s2s_conn_by_id(ids[i]);

        if (c != NULL && !c->st.is_closing)
            fn(c, udata);
    }
    xs_free(ids);
}

/* The one free path: the stream's reaper calls it. */
static void
conn_free(struct xs_stream *st)
{
    struct s2s_conn *c = conn_of(st);

    xs_stream_fini(&c->st);
    xs_dns_cancel(c->dns);
    for (size_t i = 0; i < c->ntargets; i++)
        xs_free(c->targets[i].host);
    xs_free(c->targets);
    xs_free(c->addrs);
    for (size_t i = 0; i < c->npairs; i++) {
        xs_free(c->pairs[i].remote);
        xs_free(c->pairs[i].local);
    }
    xs_free(c->pairs);
    xs_free(c->local);
    xs_free(c->remote);
    xs_free(c->verify_id);
    xs_free(c->verify_key);
    xs_free(c);
}

/* The handshake deadline passed: fail the route or the verification
 * (the stream then closes with connection-timeout). */
static void
conn_on_timeout(struct xs_stream *st)
{
    struct s2s_conn *c = conn_of(st);

    if (c->kind != S2S_IN)
        s2s_out_on_gone(c, XS_SERR_REMOTE_SERVER_TIMEOUT);
}

struct s2s_conn *
s2s_conn_new(enum s2s_kind kind)
{
    struct s2s_conn *c = xs_calloc(1, sizeof(*c));

    c->id = next_id++;
    c->kind = kind;
    c->state = kind == S2S_IN ? S2S_WAIT_STREAM : S2S_CONNECTING;
    c->started_ms = xs_now_ms();
    xs_stream_init(&c->st, c->id, &conn_ops, c->peer_ip);
    xs_random_id(c->stream_id);
    tsearch(c, &conns_by_id, conn_cmp);
    s2s_conn_handshake_timer(c);
    return c;
}

void
s2s_conn_handshake_timer(struct s2s_conn *c)
{
    xs_stream_set_deadline(&c->st, xs_server()->conf->s2s_handshake_timeout);
}

/* Authenticated: the handshake deadline gives way to the idle timeout,
 * counted on traffic in both directions. */
void
s2s_conn_idle_timer(struct s2s_conn *c)
{
    xs_stream_set_deadline(&c->st, 0);
    if (c->st.idle_s == 0)
        xs_stream_set_idle(&c->st, xs_server()->conf->s2s_idle_timeout);
}

static void
conn_xml_limits(const struct xs_stream *st, struct xs_xml_limits *lim)
{
    const struct s2s_conn *c =
        xs_container_of(st, const struct s2s_conn, st);
    const struct xs_conf *conf = xs_server()->conf;

    lim->max_stanza = conf->max_stanza_size_preauth;
    lim->max_depth = conf->max_xml_depth;
    lim->max_attrs = conf->max_xml_attrs;
    if (c->kind != S2S_IN)
        lim->max_stanza = conf->s2s_max_stanza_size;
    else if (c->npairs > 0 && c->lconf != NULL)
        lim->max_stanza = c->lconf->max_stanza_size;
}

void
s2s_conn_restart_stream(struct s2s_conn *c)
{
    xs_stream_restart(&c->st);
}

static xs_rc
conn_client_ctx(void)
{
    if (client_ctx != NULL)
        return XS_OK;
    return xs_tls_client_ctx_new(xs_server()->conf->s2s_cafile, &client_ctx);
}

/* Accept everything during the handshake: we decide after it (a
 * certificate that does not verify still allows dialback). */
static int
conn_verify_any(int ok, X509_STORE_CTX *x)
{
    (void)ok, (void)x;
    return 1;
}

static SSL *
conn_ssl_new(struct xs_stream *st)
{
    struct s2s_conn *c = conn_of(st);
    SSL_CTX *server_ctx = xs_server()->tls;
    SSL *ssl;

    if (server_ctx == NULL || conn_client_ctx() != XS_OK)
        return NULL;
    if (c->kind == S2S_IN) {
        if ((ssl = SSL_new(server_ctx)) == NULL)
            return NULL;
        /* Ask for the peer's certificate, for SASL EXTERNAL. */
        SSL_set_verify(ssl, SSL_VERIFY_PEER, conn_verify_any);
        return ssl;
    }
    if ((ssl = SSL_new(client_ctx)) == NULL)
        return NULL;
    SSL_set_verify(ssl, SSL_VERIFY_NONE, NULL);
    SSL_set_tlsext_host_name(ssl, c->remote);
    /* The certificate of the stream's local domain (the default one when
     * no certfile names it), so that the peer can offer us SASL EXTERNAL
     * for that domain.  Without one, dialback may still work. */
    if (xs_tls_use_ctx_certificate(ssl, xs_tls_ctx_for_name(server_ctx,
            c->local)) == XS_EIO)
        ERR_clear_error();
    return ssl;
}

xs_rc
s2s_conn_attach(struct s2s_conn *c, int fd, bool is_tls)
{
    return xs_stream_attach(&c->st, fd, is_tls, c->kind != S2S_IN);
}

xs_rc
s2s_conn_start_tls(struct s2s_conn *c)
{
    return xs_stream_start_tls(&c->st, c->kind != S2S_IN);
}

bool
s2s_conn_cert_ok(const struct s2s_conn *c, const char *domain)
{
    SSL *ssl;
    X509 *leaf;
    X509_STORE_CTX *sctx;
    bool ok = false;

    if (!c->st.is_tls || c->st.bev == NULL || domain == NULL ||
        conn_client_ctx() != XS_OK)
        return false;
    ssl = bufferevent_openssl_get_ssl(c->st.bev);
    if (ssl == NULL || (leaf = SSL_get1_peer_certificate(ssl)) == NULL)
        return false;
    sctx = X509_STORE_CTX_new();
    if (sctx != NULL &&
        X509_STORE_CTX_init(sctx, SSL_CTX_get_cert_store(client_ctx), leaf,
            SSL_get_peer_cert_chain(ssl)) == 1) {
        ok = X509_verify_cert(sctx) == 1 &&
            xs_tls_cert_matches(leaf, domain);
    }
    X509_STORE_CTX_free(sctx);
    X509_free(leaf);
    ERR_clear_error();
    return ok;
}

char *
s2s_conn_header(const struct s2s_conn *c)
{
    struct evbuffer *b = evbuffer_new();

    evbuffer_add_printf(b, "<?xml version='1.0'?><stream:stream "
        "xmlns='" XS_NS_SERVER "' xmlns:stream='" XS_NS_STREAMS "' "
        "xmlns:db='" S2S_NS_DIALBACK "'");
    if (c->local != NULL && *c->local != '\0')
        s2s_attr(b, "from", c->local);
    if (c->remote != NULL && *c->remote != '\0')
        s2s_attr(b, "to", c->remote);
    if (c->kind == S2S_IN)
        s2s_attr(b, "id", c->stream_id);
    evbuffer_add_printf(b, " version='1.0'>");
    return xs_evbuffer_take_string(b);
}

void
s2s_attr(struct evbuffer *b, const char *name, const char *value)
{
    evbuffer_add_printf(b, " %s='", name);
    xs_xml_escape(b, value, strlen(value), true);
    evbuffer_add(b, "'", 1);
}

static void
conn_check_output(struct s2s_conn *c)
{
    const struct xs_conf *conf = xs_server()->conf;

    xs_stream_check_output(&c->st, conf->s2s_out_soft_limit,
        conf->s2s_out_hard_limit, conf->s2s_out_soft_seconds);
}

void
s2s_conn_write(struct s2s_conn *c, const char *xml, size_t len)
{
    if (c->st.is_closing || c->st.bev == NULL)
        return;
    bufferevent_write(c->st.bev, xml, len);
    conn_check_output(c);
}

/* Our stanzas are jabber:client inside; on the wire they are
 * jabber:server.  Swap the namespace pointers for the serializer and
 * put them back: the stanza may be shared. */
static void
conn_serialize(struct xs_elem *root, struct evbuffer *out)
{
    static char server_ns[] = XS_NS_SERVER;
    struct xs_elem **swapped = NULL;
    char **orig = NULL;
    size_t n = 0, cap = 0;
    struct xs_elem *e = root;

    while (e != NULL) {
        if (e->type == XS_NODE_ELEM && e->ns != NULL &&
            strcmp(e->ns, XS_NS_CLIENT) == 0) {
            if (n == cap) {
                cap = cap ? 2 * cap : 16;
                swapped = xs_reallocarray(swapped, cap, sizeof(*swapped));
                orig = xs_reallocarray(orig, cap, sizeof(*orig));
            }
            orig[n] = e->ns;
            swapped[n++] = e;
            e->ns = server_ns;
        }
        if (e->first != NULL) {
            e = e->first;
            continue;
        }
        while (e != root && e->next == NULL)
            e = e->parent;
        e = e == root ? NULL : e->next;
    }
    xs_elem_serialize(root, XS_NS_SERVER, out);
    for (size_t i = 0; i < n; i++)
        swapped[i]->ns = orig[i];
    xs_free(orig);
    xs_free(swapped);
}

void
s2s_conn_send_stanza(struct s2s_conn *c, struct xs_stanza *st)
{
    if (c->st.is_closing || c->st.bev == NULL) {
        xs_stanza_unref(st);
        return;
    }
    conn_serialize(st->el, bufferevent_get_output(c->st.bev));
    c->stanzas_out++;
    xs_core_stats.stanzas_out[XS_STATS_S2S]++;
    xs_stanza_unref(st);
    conn_check_output(c);
}

void
s2s_conn_close(struct s2s_conn *c, enum xs_stream_err err, const char *text)
{
    xs_stream_close(&c->st, err, text);
}

void
s2s_conn_close_misbehaved(struct s2s_conn *c, enum xs_stream_err err,
    const char *text)
{
    xs_stream_close_misbehaved(&c->st, err, text);
}

/* Nothing may be written before the connection is up. */
static char *
conn_header(const struct xs_stream *st)
{
    const struct s2s_conn *c =
        xs_container_of(st, const struct s2s_conn, st);

    return c->state == S2S_CONNECTING ? NULL : s2s_conn_header(c);
}

/* The stream is closing (is_closing is set): fail over or fail the route
 * (or the verification), and leave the tree. */
static void
conn_on_closing(struct xs_stream *st, bool is_peer_gone)
{
    struct s2s_conn *c = conn_of(st);

    if (c->kind != S2S_IN)
        s2s_out_on_gone(c, is_peer_gone && c->state != S2S_CONNECTING
            ? XS_SERR_REMOTE_SERVER_TIMEOUT
            : XS_SERR_REMOTE_SERVER_NOT_FOUND);
    else if (c->is_bidi)
        s2s_out_bidi_detach(c);
    tdelete(c, &conns_by_id, conn_cmp);
}

static void
conn_on_tls(struct xs_stream *st)
{
    s2s_in_after_tls(conn_of(st));
}

static void
conn_on_connected(struct xs_stream *st)
{
    struct s2s_conn *c = conn_of(st);

    if (c->kind != S2S_IN && c->state == S2S_CONNECTING)
        s2s_out_connected(c);
}

/* An outbound connect that fails tries the next address. */
static bool
conn_on_connect_failed(struct xs_stream *st)
{
    struct s2s_conn *c = conn_of(st);

    if (c->kind == S2S_IN || c->state != S2S_CONNECTING)
        return false;
    s2s_out_connect_failed(c);
    return true;
}

static void
conn_on_open(struct xs_stream *st, struct xs_elem *el)
{
    struct s2s_conn *c = conn_of(st);

    if (c->kind == S2S_IN)
        s2s_in_on_open(c, el);
    else
        s2s_out_on_open(c, el);
}

static void
conn_on_elem(struct xs_stream *st, struct xs_elem *el)
{
    struct s2s_conn *c = conn_of(st);

    if (c->kind == S2S_IN)
        s2s_in_on_elem(c, el);
    else
        s2s_out_on_elem(c, el);
}

/* The peer ended its stream: end ours. */
static void
conn_on_close(struct xs_stream *st)
{
    s2s_conn_close(conn_of(st), XS_STERR_NONE, NULL);
}

static const char *
conn_peer_name(const struct xs_stream *st)
{
    return xs_container_of(st, const struct s2s_conn, st)->remote;
}

static const struct xs_stream_ops conn_ops = {
    .name = "s2s",
    .xml_limits = conn_xml_limits,
    .on_open = conn_on_open,
    .on_elem = conn_on_elem,
    .on_close = conn_on_close,
    .header = conn_header,
    .on_closing = conn_on_closing,
    .on_free = conn_free,
    .ssl_new = conn_ssl_new,
    .on_timeout = conn_on_timeout,
    .on_tls = conn_on_tls,
    .on_connected = conn_on_connected,
    .on_connect_failed = conn_on_connect_failed,
    .peer_name = conn_peer_name,
    .idle_err = XS_STERR_NONE,
    .is_s2s = true,
};

xs_rc
xs_s2s_start(struct xs_server *srv)
{
    const struct xs_conf *conf = srv->conf;

    xs_dialback_set_secret(conf->s2s_dialback_secret);
    return xs_dns_init(srv->base, (const char *const *)conf->dns_nameservers,
        conf->ndns_nameservers);
}

static void
conn_shutdown_cb(struct s2s_conn *c, void *udata)
{
    (void)udata;
    s2s_conn_close(c, XS_STERR_SYSTEM_SHUTDOWN, NULL);
}

void
xs_s2s_close_all(void)
{
    s2s_conn_each(conn_shutdown_cb, NULL);
}

void
xs_s2s_free(void)
{
    xs_dns_fini();
    xs_dialback_clear_secret();
    SSL_CTX_free(client_ctx);
    client_ctx = NULL;
    xs_stream_reap_all();
}
