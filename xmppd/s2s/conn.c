/*
 * conn.c: one s2s connection: bufferevent (plain, STARTTLS or direct TLS,
 * either side of the handshake), the input pump with a per-turn budget,
 * back-pressure and the listener's shaper, bounded output, close with a
 * stream error and a deferred reap.  in.c and out.c speak the protocol.
 */
#include "xmppd/s2s/s2s_int.h"

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

#define CONN_FEED_CHUNK 4096
#define CONN_STANZAS_PER_TURN 32
#define CONN_QUEUE_MAX 64
#define CONN_READ_HIWAT (64 * 1024)
#define CONN_CLOSE_GRACE_MS 2000

static void *conns_by_id;               /* tsearch tree of live conns */
static uint64_t next_id = 1;
static struct s2s_conn *reap_list;      /* borrowed links */
static struct event *reap_ev;           /* owned */
static SSL_CTX *client_ctx;             /* owned: outgoing TLS, and the
                                           trust store for peers' certs */

static void conn_pump(struct s2s_conn *c);

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

        if (c != NULL && !c->is_closing)
            fn(c, udata);
    }
    xs_free(ids);
}

static void
conn_free(struct s2s_conn *c)
{
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    if (!c->is_tls && c->fd >= 0)
        close(c->fd);           /* the plain bufferevent does not own it */
    xs_xml_free(c->xml);
    event_free(c->pump_ev);
    event_free(c->timer_ev);
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

static void
conn_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    while (reap_list != NULL) {
        struct s2s_conn *c = reap_list;

        reap_list = c->reap_next;
        conn_free(c);
    }
}

static void
conn_reap_later(struct s2s_conn *c)
{
    if (c->bev != NULL)
        bufferevent_disable(c->bev, EV_READ | EV_WRITE);
    event_del(c->timer_ev);
    event_del(c->pump_ev);
    c->reap_next = reap_list;
    reap_list = c;
    event_active(reap_ev, EV_TIMEOUT, 0);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct s2s_conn *c = arg;

    (void)fd, (void)what;
    if (c->is_closing) {
        conn_reap_later(c);
        return;
    }
    xs_slog(c, XS_LOG_INFO, "s2s: handshake timeout remote=%s ip=%s",
        c->remote ? c->remote : "?", c->peer_ip);
    if (c->kind != S2S_IN)
        s2s_out_on_gone(c, XS_SERR_REMOTE_SERVER_TIMEOUT);
    s2s_conn_close(c, XS_STERR_CONNECTION_TIMEOUT, NULL);
}

static void
conn_pump_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    conn_pump(arg);
}

struct s2s_conn *
s2s_conn_new(enum s2s_kind kind)
{
    struct event_base *base = xs_server()->base;
    struct s2s_conn *c = xs_calloc(1, sizeof(*c));

    if (reap_ev == NULL)
        reap_ev = event_new(base, -1, 0, conn_reap_cb, NULL);
    c->id = next_id++;
    c->kind = kind;
    c->fd = -1;
    c->state = kind == S2S_IN ? S2S_WAIT_STREAM : S2S_CONNECTING;
    c->started_ms = xs_now_ms();
    c->pump_ev = event_new(base, -1, 0, conn_pump_cb, c);
    c->timer_ev = event_new(base, -1, 0, conn_timer_cb, c);
    xs_random_id(c->stream_id);
    tsearch(c, &conns_by_id, conn_cmp);
    s2s_conn_handshake_timer(c);
    return c;
}

void
s2s_conn_handshake_timer(struct s2s_conn *c)
{
    struct timeval tv = {
        .tv_sec = xs_server()->conf->s2s_handshake_timeout,
    };

    event_del(c->timer_ev);
    event_add(c->timer_ev, &tv);
}

/* Authenticated: the handshake deadline gives way to the idle timeout. */
void
s2s_conn_idle_timer(struct s2s_conn *c)
{
    int idle = xs_server()->conf->s2s_idle_timeout;

    event_del(c->timer_ev);
    if (idle > 0 && c->bev != NULL) {
        struct timeval tv = { .tv_sec = idle };

        /* Inbound: no input; outbound: no output (we are the writer). */
        if (c->kind == S2S_IN)
            bufferevent_set_timeouts(c->bev, &tv, NULL);
        else
            bufferevent_set_timeouts(c->bev, NULL, &tv);
    }
}

static struct xs_xml *
conn_parser_new(const struct s2s_conn *c)
{
    const struct xs_conf *conf = xs_server()->conf;
    struct xs_xml_limits lim = {
        .max_stanza = conf->max_stanza_size_preauth,
        .max_depth = conf->max_xml_depth,
        .max_attrs = conf->max_xml_attrs,
    };

    if (c->kind != S2S_IN)
        lim.max_stanza = conf->s2s_max_stanza_size;
    else if (c->npairs > 0 && c->lconf != NULL)
        lim.max_stanza = c->lconf->max_stanza_size;
    return xs_xml_new(&lim);
}

void
s2s_conn_restart_stream(struct s2s_conn *c)
{
    xs_xml_free(c->xml);
    c->xml = conn_parser_new(c);
    c->is_stream_open = false;
}

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static void
conn_count_out(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
    struct s2s_conn *c = arg;

    (void)buf;
    c->bytes_out += info->n_deleted;
}

static void
conn_setup_bev(struct s2s_conn *c)
{
    bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
    evbuffer_add_cb(bufferevent_get_output(c->bev), conn_count_out, c);
    bufferevent_setwatermark(c->bev, EV_READ, 0, CONN_READ_HIWAT);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
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
conn_ssl_new(struct s2s_conn *c)
{
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
    /* Our certificate (the default one), so that the peer can offer us
     * SASL EXTERNAL. */
    {
        X509 *cert = SSL_CTX_get0_certificate(server_ctx);
        EVP_PKEY *key = SSL_CTX_get0_privatekey(server_ctx);
        STACK_OF(X509) *chain = NULL;

        if (cert != NULL && key != NULL) {
            SSL_use_certificate(ssl, cert);
            SSL_use_PrivateKey(ssl, key);
            if (SSL_CTX_get0_chain_certs(server_ctx, &chain) == 1 &&
                chain != NULL)
                SSL_set1_chain(ssl, chain);
        }
    }
    return ssl;
}

static xs_rc
conn_wrap_tls(struct s2s_conn *c)
{
    SSL *ssl = conn_ssl_new(c);

    if (ssl == NULL) {
        xs_log_openssl(XS_LOG_ERR, "s=%" PRIu64 " s2s: no TLS context",
            c->id);
        return XS_EIO;
    }
    if (c->bev != NULL)
        bufferevent_free(c->bev);
    c->bev = bufferevent_openssl_socket_new(xs_server()->base, c->fd, ssl,
        c->kind == S2S_IN ? BUFFEREVENT_SSL_ACCEPTING
                          : BUFFEREVENT_SSL_CONNECTING,
        BEV_OPT_CLOSE_ON_FREE);
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    c->is_tls = true;
    conn_setup_bev(c);
    return XS_OK;
}

xs_rc
s2s_conn_attach(struct s2s_conn *c, int fd, bool is_tls)
{
    c->fd = fd;
    c->xml = conn_parser_new(c);
    if (is_tls)
        return conn_wrap_tls(c);
    /* Without CLOSE_ON_FREE: STARTTLS replaces this bufferevent on the
     * same socket, and conn_free() closes the fd itself. */
    c->bev = bufferevent_socket_new(xs_server()->base, fd, 0);
    conn_setup_bev(c);
    return XS_OK;
}

xs_rc
s2s_conn_start_tls(struct s2s_conn *c)
{
    if (evbuffer_get_length(bufferevent_get_input(c->bev)) != 0) {
        /* RFC 6120 5.4.3.3: nothing may follow in clear. */
        s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, NULL);
        return XS_EINVAL;
    }
    if (conn_wrap_tls(c) != XS_OK) {
        s2s_conn_close(c, XS_STERR_INTERNAL_SERVER_ERROR, NULL);
        return XS_EIO;
    }
    s2s_conn_restart_stream(c);
    xs_slog(c, XS_LOG_DEBUG, "s2s: starttls remote=%s",
        c->remote ? c->remote : "?");
    return XS_OK;
}

bool
s2s_conn_cert_ok(const struct s2s_conn *c, const char *domain)
{
    SSL *ssl;
    X509 *leaf;
    X509_STORE_CTX *sctx;
    bool ok = false;

    if (!c->is_tls || c->bev == NULL || domain == NULL ||
        conn_client_ctx() != XS_OK)
        return false;
    ssl = bufferevent_openssl_get_ssl(c->bev);
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
    size_t len = evbuffer_get_length(bufferevent_get_output(c->bev));

    if (len > conf->s2s_out_hard_limit) {
        xs_slog(c, XS_LOG_NOTICE, "s2s: output over hard limit (%zu bytes) "
            "remote=%s", len, c->remote ? c->remote : "?");
        s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, "slow reader");
        return;
    }
    if (len <= conf->s2s_out_soft_limit) {
        c->out_soft_since = 0;
    } else if (c->out_soft_since == 0) {
        c->out_soft_since = xs_now_ms();
    } else if (xs_now_ms() - c->out_soft_since >
        (uint64_t)conf->s2s_out_soft_seconds * 1000u) {
        xs_slog(c, XS_LOG_NOTICE, "s2s: output over soft limit too long "
            "remote=%s", c->remote ? c->remote : "?");
        s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, "slow reader");
    }
}

void
s2s_conn_write(struct s2s_conn *c, const char *xml, size_t len)
{
    if (c->is_closing || c->bev == NULL)
        return;
    bufferevent_write(c->bev, xml, len);
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
    if (c->is_closing || c->bev == NULL) {
        xs_stanza_unref(st);
        return;
    }
    conn_serialize(st->el, bufferevent_get_output(c->bev));
    c->stanzas_out++;
    xs_stanza_unref(st);
    conn_check_output(c);
}

void
s2s_conn_close(struct s2s_conn *c, enum xs_stream_err err, const char *text)
{
    struct timeval tv = {
        .tv_sec = CONN_CLOSE_GRACE_MS / 1000,
        .tv_usec = (CONN_CLOSE_GRACE_MS % 1000) * 1000,
    };

    if (c->is_closing)
        return;
    if (err != XS_STERR_NONE)
        xs_slog(c, XS_LOG_INFO, "s2s: closing with stream error %s%s%s "
            "remote=%s ip=%s", xs_stream_err_name(err), text ? ": " : "",
            text ? text : "", c->remote ? c->remote : "?", c->peer_ip);
    else
        xs_slog(c, XS_LOG_DEBUG, "s2s: closing remote=%s",
            c->remote ? c->remote : "?");
    if (c->kind != S2S_IN)
        s2s_out_on_gone(c, XS_SERR_REMOTE_SERVER_NOT_FOUND);
    if (c->bev != NULL && c->state != S2S_TLS_SWITCH &&
        c->state != S2S_CONNECTING) {
        struct evbuffer *out = bufferevent_get_output(c->bev);

        if (!c->is_stream_open) {
            char *hdr = s2s_conn_header(c);

            evbuffer_add(out, hdr, strlen(hdr));
            xs_free(hdr);
            c->is_stream_open = true;
        }
        if (err != XS_STERR_NONE) {
            char *e = xs_stream_error_xml(err, text);

            evbuffer_add(out, e, strlen(e));
            xs_free(e);
        }
        evbuffer_add(out, "</stream:stream>", 16);
    }
    c->is_closing = true;
    tdelete(c, &conns_by_id, conn_cmp);
    if (c->bev == NULL ||
        evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        conn_reap_later(c);
        return;
    }
    bufferevent_disable(c->bev, EV_READ);
    bufferevent_set_timeouts(c->bev, NULL, NULL);
    event_del(c->timer_ev);
    event_add(c->timer_ev, &tv);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
    struct s2s_conn *c = arg;

    (void)bev;
    if (c->is_closing) {
        conn_reap_later(c);
        return;
    }
    if (c->state == S2S_TLS_SWITCH && s2s_conn_start_tls(c) == XS_OK)
        s2s_in_after_tls(c);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct s2s_conn *c = arg;

    if (what & BEV_EVENT_CONNECTED) {
        if (c->kind != S2S_IN && c->state == S2S_CONNECTING)
            s2s_out_connected(c);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        xs_slog(c, XS_LOG_INFO, "s2s: idle timeout remote=%s",
            c->remote ? c->remote : "?");
        s2s_conn_close(c, XS_STERR_NONE, NULL);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char buf[256] = "";

        if (e != 0)
            ERR_error_string_n(e, buf, sizeof(buf));
        xs_slog(c, XS_LOG_INFO, "s2s: connection error remote=%s ip=%s%s%s",
            c->remote ? c->remote : "?", c->peer_ip, e ? ": " : "", buf);
    } else if (what & BEV_EVENT_EOF) {
        xs_slog(c, XS_LOG_DEBUG, "s2s: peer closed the connection");
    }
    if ((what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) && !c->is_closing &&
        c->kind != S2S_IN && c->state == S2S_CONNECTING) {
        s2s_out_connect_failed(c);
        return;
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        if (!c->is_closing) {
            if (c->kind != S2S_IN)
                s2s_out_on_gone(c, c->state == S2S_CONNECTING
                    ? XS_SERR_REMOTE_SERVER_NOT_FOUND
                    : XS_SERR_REMOTE_SERVER_TIMEOUT);
            c->is_closing = true;
            tdelete(c, &conns_by_id, conn_cmp);
        }
        conn_reap_later(c);
    }
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    conn_pump(arg);
}

static void
conn_handle(struct s2s_conn *c, struct xs_xml_ev *ev)
{
    switch (ev->type) {
    case XS_XEV_OPEN:
        if (c->kind == S2S_IN)
            s2s_in_on_open(c, ev->el);
        else
            s2s_out_on_open(c, ev->el);
        break;
    case XS_XEV_ELEM:
        if (c->kind == S2S_IN)
            s2s_in_on_elem(c, ev->el);
        else
            s2s_out_on_elem(c, ev->el);
        break;
    case XS_XEV_CLOSE:
        s2s_conn_close(c, XS_STERR_NONE, NULL);
        break;
    }
}

/* ejabberd's s2s_shaper: a token bucket on input bytes. */
static size_t
conn_shaper_allow(struct s2s_conn *c, size_t want)
{
    uint64_t now = xs_now_ms();
    double rate = (double)c->shaper->rate;
    double burst = (double)c->shaper->burst_size;
    double wait_ms;
    struct timeval tv;

    c->shaper_tokens += rate * (double)(now - c->shaper_ms) / 1000.0;
    if (c->shaper_tokens > burst)
        c->shaper_tokens = burst;
    c->shaper_ms = now;
    if (c->shaper_tokens >= 1.0)
        return c->shaper_tokens < (double)want ? (size_t)c->shaper_tokens
                                                : want;
    wait_ms = (1.0 - c->shaper_tokens) * 1000.0 / rate + 1.0;
    tv.tv_sec = (time_t)(wait_ms / 1000.0);
    tv.tv_usec = (suseconds_t)((uint64_t)wait_ms % 1000u) * 1000;
    bufferevent_disable(c->bev, EV_READ);
    event_add(c->pump_ev, &tv);
    return 0;
}

static void
conn_pump(struct s2s_conn *c)
{
    unsigned budget = CONN_STANZAS_PER_TURN;
    struct evbuffer *in;

    while (budget > 0 && !c->is_closing && c->state != S2S_TLS_SWITCH &&
        c->bev != NULL) {
        struct xs_xml_ev ev;
        char chunk[CONN_FEED_CHUNK];
        enum xs_stream_err err;
        size_t want = sizeof(chunk);
        int n;

        if (xs_xml_pop(c->xml, &ev)) {
            conn_handle(c, &ev);
            budget--;
            continue;
        }
        in = bufferevent_get_input(c->bev);
        if (c->shaper != NULL && evbuffer_get_length(in) > 0 &&
            (want = conn_shaper_allow(c, want)) == 0)
            return;
        n = evbuffer_remove(in, chunk, want);
        if (n <= 0)
            break;
        c->bytes_in += (uint64_t)n;
        if (c->shaper != NULL)
            c->shaper_tokens -= n;
        err = xs_xml_feed(c->xml, chunk, (size_t)n);
        if (err != XS_STERR_NONE) {
            struct xs_xml *x = c->xml;

            xs_slog(c, XS_LOG_INFO, "s2s: bad xml from ip=%s: %s",
                c->peer_ip, xs_stream_err_name(err));
            while (!c->is_closing && c->xml == x && xs_xml_pop(x, &ev))
                conn_handle(c, &ev);
            s2s_conn_close(c, err, NULL);
            return;
        }
    }
    if (c->is_closing || c->state == S2S_TLS_SWITCH || c->bev == NULL)
        return;
    in = bufferevent_get_input(c->bev);
    if (xs_xml_pending(c->xml) > 0 || evbuffer_get_length(in) > 0)
        event_active(c->pump_ev, EV_TIMEOUT, 0);
    if (xs_xml_pending(c->xml) >= CONN_QUEUE_MAX)
        bufferevent_disable(c->bev, EV_READ);
    else
        bufferevent_enable(c->bev, EV_READ);
}

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
    if (reap_ev != NULL) {
        conn_reap_cb(-1, 0, NULL);
        event_free(reap_ev);
        reap_ev = NULL;
    }
}
