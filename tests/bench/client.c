/*
 * client.c: one load-generator connection, logging in the way a real
 * client does (RFC 6120): stream header, STARTTLS and the TLS handshake,
 * stream restart, SASL (SCRAM-SHA-1, SCRAM-SHA-256 or PLAIN), restart,
 * resource binding, then initial presence with priority 1.
 *
 * The XML stream is parsed with our own parser (xmppd/xml/parser.h) and
 * SCRAM runs through xmppd/c2s/scram.h with the context's SaltedPassword
 * cache, so thousands of logins cost one PBKDF2 per account here.
 */
#include "tests/bench/loadgen.h"

#include "xmppd/c2s/scram.h"
#include "xmppd/xml/parser.h"
#include "xmppd/xml/stanza.h"

#include <errno.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <sodium.h>

#define NS_TLS      "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL     "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND     "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_PING     "urn:xmpp:ping"

#define BIND_ID     "lgbind"
#define CLOSE_WAIT_S  5     /* for the server's </stream:stream> */
#define EOF_WAIT_S    1     /* for its TCP close after that */

enum client_state {
    CS_NEW,
    CS_CONNECTING,      /* TCP */
    CS_FEATURES,        /* header sent, waiting for <stream:features/> */
    CS_PROCEED,         /* <starttls/> sent */
    CS_TLS,             /* TLS handshake */
    CS_SASL,            /* <auth/> sent */
    CS_BIND,            /* bind request sent */
    CS_BOUND,
    CS_CLOSING,         /* </stream:stream> sent */
    CS_DONE,
};

/* SASL progress for SCRAM. */
enum client_sasl {
    SASL_SENT_FIRST,
    SASL_SENT_FINAL,
    SASL_VERIFIED,
};

static const struct xs_xml_limits client_limits = {
    .max_stanza = 1u << 20,
    .max_depth = 64,
    .max_attrs = 128,
};

static void client_read_cb(struct bufferevent *bev, void *arg);
static void client_event_cb(struct bufferevent *bev, short what, void *arg);

uint64_t
lg_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- helpers -------------------------------------------------------- */

static char *
client_b64(const void *p, size_t len)
{
    size_t n = sodium_base64_ENCODED_LEN(len,
        sodium_base64_VARIANT_ORIGINAL);
    char *out = xs_malloc(n);

    sodium_bin2base64(out, n, p, len, sodium_base64_VARIANT_ORIGINAL);
    return out;
}

/* Decode the text of a SASL element; "=" and "" are empty.  *out is
 * NUL-terminated (SCRAM messages are text). */
static xs_rc
client_unb64(const char *text, char **out, size_t *outlen)
{
    size_t tl = strlen(text), n = 0;
    char *buf;

    *out = NULL;
    *outlen = 0;
    if (tl == 0 || strcmp(text, "=") == 0) {
        *out = xs_strdup("");
        return XS_OK;
    }
    buf = xs_malloc(tl + 1);
    if (sodium_base642bin((unsigned char *)buf, tl, text, tl, " \t\r\n", &n,
        NULL, sodium_base64_VARIANT_ORIGINAL) != 0) {
        xs_free(buf);
        return XS_EINVAL;
    }
    buf[n] = '\0';
    *out = buf;
    *outlen = n;
    return XS_OK;
}

static bool
client_is(const struct xs_elem *el, const char *ns, const char *name)
{
    return el->ns != NULL && strcmp(el->ns, ns) == 0 &&
        strcmp(el->name, name) == 0;
}

static void
client_write(struct lg_client *c, const char *s)
{
    bufferevent_write(c->bev, s, strlen(s));
}

/* Free the connection's resources; the struct and its strings stay. */
static void
client_release(struct lg_client *c)
{
    if (c->bev != NULL) {
        /* A TLS bufferevent owns the socket (and the SSL); a plain one
         * does not, so that STARTTLS can take the socket over. */
        bufferevent_free(c->bev);
        c->bev = NULL;
        if (c->is_tls)
            c->fd = -1;
    }
    if (c->fd >= 0) {
        close(c->fd);
        c->fd = -1;
    }
    xs_xml_free(c->xml);
    c->xml = NULL;
    xs_scram_client_free(c->scram);
    c->scram = NULL;
}

/* The end of the connection: tell the owner, who may free c. */
static void
client_end(struct lg_client *c, enum lg_end how, const char *why)
{
    c->state = CS_DONE;
    client_release(c);
    c->ops->on_end(c, how, why);
}

/* A new stream (first, after TLS, after SASL): new parser, our header. */
static void
client_stream_open(struct lg_client *c)
{
    char hdr[512];
    int n;

    xs_xml_free(c->xml);
    c->xml = xs_xml_new(&client_limits);
    n = snprintf(hdr, sizeof(hdr), "<?xml version='1.0'?><stream:stream "
        "to='%s' xmlns='" XS_NS_CLIENT "' xmlns:stream='" XS_NS_STREAMS
        "' version='1.0' xml:lang='en'>", lg_client_domain(c));
    xs_assert(n > 0 && (size_t)n < sizeof(hdr));
    bufferevent_write(c->bev, hdr, (size_t)n);
    c->state = CS_FEATURES;
}

static void
client_set_timeout(struct lg_client *c, double s)
{
    struct timeval tv;

    if (s <= 0) {
        bufferevent_set_timeouts(c->bev, NULL, NULL);
        return;
    }
    tv.tv_sec = (time_t)s;
    tv.tv_usec = (suseconds_t)((s - (double)tv.tv_sec) * 1e6);
    bufferevent_set_timeouts(c->bev, &tv, NULL);
}

/* ---- lifecycle ------------------------------------------------------ */

struct lg_client *
lg_client_new(struct lg_ctx *ctx, unsigned user_no,
    const struct lg_client_ops *ops, void *udata)
{
    struct lg_client *c = xs_calloc(1, sizeof(*c));

    c->ctx = ctx;
    c->ops = ops;
    c->udata = udata;
    c->user = xs_asprintf("%s%u", ctx->opts->user_prefix, user_no);
    c->fd = -1;
    c->state = CS_NEW;
    return c;
}

void
lg_client_free(struct lg_client *c)
{
    if (c == NULL)
        return;
    client_release(c);
    xs_free(c->user);
    xs_free(c->jid);
    xs_free(c);
}

bool
lg_client_is_bound(const struct lg_client *c)
{
    return c->state == CS_BOUND;
}

const char *
lg_client_domain(const struct lg_client *c)
{
    const struct lg_opts *o = c->ctx->opts;

    return c->on_peer && o->domain2 != NULL ? o->domain2 : o->domain;
}

xs_rc
lg_client_start(struct lg_client *c)
{
    struct lg_ctx *ctx = c->ctx;
    int one = 1;
    char why[128];

    xs_assert(c->state == CS_NEW);
    c->t_start = lg_now_ns();
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        snprintf(why, sizeof(why), "socket: %s", strerror(errno));
        client_end(c, LG_END_FAILED, why);
        return XS_EIO;
    }
    /* Stanzas are small and latency is what we measure. */
    (void)setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    c->bev = bufferevent_socket_new(ctx->base, c->fd, 0);
    if (c->bev == NULL) {
        client_end(c, LG_END_FAILED, "bufferevent_socket_new");
        return XS_EIO;
    }
    bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    client_set_timeout(c, ctx->opts->timeout);
    c->state = CS_CONNECTING;
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)(c->on_peer ?
        &ctx->addr2 : &ctx->addr), sizeof(ctx->addr)) != 0) {
        snprintf(why, sizeof(why), "connect: %s", strerror(errno));
        client_end(c, LG_END_FAILED, why);
        return XS_EIO;
    }
    return XS_OK;
}

void
lg_client_send(struct lg_client *c, const char *xml, size_t len)
{
    if (c->state == CS_BOUND)
        bufferevent_write(c->bev, xml, len);
}

void
lg_client_sendf(struct lg_client *c, const char *fmt, ...)
{
    char xml[1024];
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(xml, sizeof(xml), fmt, ap);
    va_end(ap);
    xs_assert(n > 0 && (size_t)n < sizeof(xml));
    lg_client_send(c, xml, (size_t)n);
}

void
lg_client_close(struct lg_client *c)
{
    if (c->state == CS_CLOSING || c->state == CS_DONE)
        return;
    if (c->bev == NULL || c->state == CS_NEW) {
        client_end(c, LG_END_OK, "closed before connecting");
        return;
    }
    client_write(c, "</stream:stream>");
    c->state = CS_CLOSING;
    client_set_timeout(c, CLOSE_WAIT_S);
}

/* ---- the protocol --------------------------------------------------- */

static bool
client_starttls(struct lg_client *c)
{
    const struct lg_opts *o = c->ctx->opts;
    SSL *ssl = SSL_new(c->ctx->ssl_ctx);

    if (ssl == NULL) {
        client_end(c, LG_END_FAILED, "SSL_new");
        return false;
    }
    SSL_set_tlsext_host_name(ssl, lg_client_domain(c));
    if (o->cafile != NULL)
        SSL_set1_host(ssl, lg_client_domain(c));
    /* The plain bufferevent does not own the socket: free it (deferred
     * by libevent while we are inside its callback) and wrap the same
     * socket in TLS, which owns both the socket and ssl from now on. */
    bufferevent_free(c->bev);
    c->bev = bufferevent_openssl_socket_new(c->ctx->base, c->fd, ssl,
        BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        SSL_free(ssl);
        client_end(c, LG_END_FAILED, "bufferevent_openssl_socket_new");
        return false;
    }
    c->is_tls = true;
    /* Servers often close with TCP FIN and no close_notify. */
    bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
    bufferevent_setcb(c->bev, client_read_cb, NULL, client_event_cb, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    client_set_timeout(c, o->timeout);
    c->state = CS_TLS;
    return true;
}

static bool
client_mech_offered(const struct xs_elem *features, const char *mech)
{
    const struct xs_elem *m = xs_elem_child(features, NS_SASL,
        "mechanisms");

    if (m == NULL)
        return false;
    for (const struct xs_elem *e = xs_elem_first_elem(m); e != NULL;
        e = xs_elem_next_elem(e)) {
        char *t = xs_elem_text(e);
        bool is_it = strcmp(t, mech) == 0;

        xs_free(t);
        if (is_it)
            return true;
    }
    return false;
}

static const char *const mech_names[LG_MECH__COUNT] = {
    [LG_MECH_SCRAM_SHA1] = "SCRAM-SHA-1",
    [LG_MECH_SCRAM_SHA256] = "SCRAM-SHA-256",
    [LG_MECH_PLAIN] = "PLAIN",
};

static bool
client_sasl_start(struct lg_client *c, const struct xs_elem *features)
{
    const struct lg_opts *o = c->ctx->opts;
    const char *mech = mech_names[o->mech];
    char *payload, *b64, *xml;

    if (!client_mech_offered(features, mech)) {
        client_end(c, LG_END_FAILED, "mechanism not offered");
        return false;
    }
    if (o->mech == LG_MECH_PLAIN) {
        size_t ul = strlen(c->user), pl = strlen(o->password);

        payload = xs_malloc(ul + pl + 2);
        payload[0] = '\0';
        memcpy(payload + 1, c->user, ul);
        payload[ul + 1] = '\0';
        memcpy(payload + ul + 2, o->password, pl);
        b64 = client_b64(payload, ul + pl + 2);
        sodium_memzero(payload, ul + pl + 2);
        xs_free(payload);
    } else {
        c->scram = xs_scram_client_new(o->mech == LG_MECH_SCRAM_SHA1 ?
            XS_SCRAM_SHA1 : XS_SCRAM_SHA256, c->user, o->password);
        if (c->scram == NULL) {
            client_end(c, LG_END_FAILED, "bad user name or password");
            return false;
        }
        xs_scram_client_set_cache(c->scram, c->ctx->cache);
        payload = xs_scram_client_first(c->scram);
        b64 = client_b64(payload, strlen(payload));
        xs_free(payload);
    }
    xml = xs_asprintf("<auth xmlns='" NS_SASL "' mechanism='%s'>%s</auth>",
        mech, b64);
    client_write(c, xml);
    xs_free(xml);
    xs_free(b64);
    c->sasl_step = SASL_SENT_FIRST;
    c->state = CS_SASL;
    return true;
}

/* server-final (v=...) from a challenge or from <success/>. */
static bool
client_sasl_verify(struct lg_client *c, const char *msg, size_t len)
{
    if (xs_scram_client_verify(c->scram, msg, len) != XS_OK) {
        client_end(c, LG_END_FAILED, "bad server signature");
        return false;
    }
    c->sasl_step = SASL_VERIFIED;
    return true;
}

static bool
client_on_sasl(struct lg_client *c, const struct xs_elem *el)
{
    char *text = xs_elem_text(el), *msg = NULL, *out = NULL, *b64, *xml;
    size_t len = 0;
    bool ok = false;

    if (client_unb64(text, &msg, &len) != XS_OK) {
        client_end(c, LG_END_FAILED, "bad base64 from server");
        goto done;
    }
    if (strcmp(el->name, "challenge") == 0 && c->scram != NULL) {
        if (c->sasl_step == SASL_SENT_FIRST) {
            if (xs_scram_client_final(c->scram, msg, len, &out) != XS_OK) {
                client_end(c, LG_END_FAILED, "bad server-first-message");
                goto done;
            }
            b64 = client_b64(out, strlen(out));
            xml = xs_asprintf("<response xmlns='" NS_SASL "'>%s</response>",
                b64);
            client_write(c, xml);
            xs_free(xml);
            xs_free(b64);
            c->sasl_step = SASL_SENT_FINAL;
        } else if (c->sasl_step == SASL_SENT_FINAL) {
            /* Some servers send server-final as a challenge. */
            if (!client_sasl_verify(c, msg, len))
                goto done;
            client_write(c, "<response xmlns='" NS_SASL "'/>");
        } else {
            client_end(c, LG_END_FAILED, "unexpected challenge");
            goto done;
        }
        ok = true;
    } else if (strcmp(el->name, "success") == 0) {
        if (c->scram != NULL && c->sasl_step != SASL_VERIFIED &&
            !client_sasl_verify(c, msg, len))
            goto done;
        xs_scram_client_free(c->scram);
        c->scram = NULL;
        c->is_authed = true;
        client_stream_open(c);
        ok = true;
    } else {
        const struct xs_elem *cond = xs_elem_first_elem(el);
        char why[96];

        snprintf(why, sizeof(why), "sasl %s: %s", el->name,
            cond != NULL ? cond->name : "?");
        client_end(c, LG_END_FAILED, why);
    }
done:
    if (msg != NULL)
        sodium_memzero(msg, len);
    xs_free(msg);
    if (out != NULL)
        sodium_memzero(out, strlen(out));
    xs_free(out);
    xs_free(text);
    return ok;
}

static bool
client_on_features(struct lg_client *c, const struct xs_elem *el)
{
    const struct lg_opts *o = c->ctx->opts;
    char *xml;

    if (o->use_tls && !c->is_tls) {
        if (xs_elem_child(el, NS_TLS, "starttls") == NULL) {
            client_end(c, LG_END_FAILED, "STARTTLS not offered");
            return false;
        }
        client_write(c, "<starttls xmlns='" NS_TLS "'/>");
        c->state = CS_PROCEED;
        return true;
    }
    if (!c->is_authed)
        return client_sasl_start(c, el);
    if (xs_elem_child(el, NS_BIND, "bind") == NULL) {
        client_end(c, LG_END_FAILED, "bind not offered");
        return false;
    }
    xml = xs_asprintf("<iq type='set' id='" BIND_ID "'><bind xmlns='"
        NS_BIND "'><resource>lg%d-%" PRIu64 "</resource></bind></iq>",
        (int)getpid(), ++c->ctx->nclients);
    client_write(c, xml);
    xs_free(xml);
    c->state = CS_BIND;
    return true;
}

static bool
client_on_bind(struct lg_client *c, const struct xs_elem *el)
{
    const char *type = xs_elem_attr(el, "type");
    const char *id = xs_elem_attr(el, "id");
    const struct xs_elem *b;

    if (!client_is(el, XS_NS_CLIENT, "iq") || id == NULL ||
        strcmp(id, BIND_ID) != 0)
        return true;            /* not our answer: ignore */
    if (type == NULL || strcmp(type, "result") != 0 ||
        (b = xs_elem_child(el, NS_BIND, "bind")) == NULL) {
        client_end(c, LG_END_FAILED, "bind refused");
        return false;
    }
    c->jid = xs_elem_child_text(b, NS_BIND, "jid");
    if (c->jid == NULL) {
        client_end(c, LG_END_FAILED, "bind result without jid");
        return false;
    }
    c->t_bound = lg_now_ns();
    if (!c->no_presence)
        client_write(c, "<presence><priority>1</priority></presence>");
    c->state = CS_BOUND;
    client_set_timeout(c, 0);   /* idle sessions are meant to be idle */
    c->ops->on_bound(c);
    return c->state != CS_DONE;
}

/* Answer the server's IQs as a polite client would (XEP-0199 pings). */
static void
client_answer_iq(struct lg_client *c, const struct xs_elem *el)
{
    const char *type = xs_elem_attr(el, "type");
    const char *id = xs_elem_attr(el, "id");
    const char *from = xs_elem_attr(el, "from");
    struct xs_elem *r;
    char *xml;

    if (type == NULL || id == NULL ||
        (strcmp(type, "get") != 0 && strcmp(type, "set") != 0))
        return;
    r = xs_elem_new(XS_NS_CLIENT, "iq");
    xs_elem_set_attr(r, "id", id);
    if (from != NULL)
        xs_elem_set_attr(r, "to", from);
    if (xs_elem_child(el, NS_PING, "ping") != NULL) {
        xs_elem_set_attr(r, "type", "result");
    } else {
        struct xs_elem *e;

        xs_elem_set_attr(r, "type", "error");
        e = xs_elem_add_child(r, NULL, "error");
        xs_elem_set_attr(e, "type", "cancel");
        xs_elem_add_child(e, XS_NS_STANZAS, "service-unavailable");
    }
    xml = xs_elem_to_string(r, XS_NS_CLIENT);
    client_write(c, xml);
    xs_free(xml);
    xs_elem_free(r);
}

/* One top-level element.  false: the client has ended (maybe freed). */
static bool
client_on_elem(struct lg_client *c, const struct xs_elem *el)
{
    if (client_is(el, XS_NS_STREAMS, "error")) {
        const struct xs_elem *cond = xs_elem_first_elem(el);
        char why[96];

        snprintf(why, sizeof(why), "stream error: %s",
            cond != NULL ? cond->name : "?");
        client_end(c, LG_END_FAILED, why);
        return false;
    }
    switch (c->state) {
    case CS_FEATURES:
        if (client_is(el, XS_NS_STREAMS, "features"))
            return client_on_features(c, el);
        break;
    case CS_PROCEED:
        if (client_is(el, NS_TLS, "proceed"))
            return client_starttls(c);
        client_end(c, LG_END_FAILED, "STARTTLS refused");
        return false;
    case CS_SASL:
        if (el->ns != NULL && strcmp(el->ns, NS_SASL) == 0)
            return client_on_sasl(c, el);
        break;
    case CS_BIND:
        return client_on_bind(c, el);
    case CS_BOUND:
        if (client_is(el, XS_NS_CLIENT, "iq")) {
            const char *type = xs_elem_attr(el, "type");

            if (type == NULL || strcmp(type, "get") == 0 ||
                strcmp(type, "set") == 0) {
                client_answer_iq(c, el);
                return true;
            }
        }
        c->ops->on_stanza(c, el);
        return c->state != CS_DONE;
    default:
        return true;            /* closing: whatever comes is moot */
    }
    return true;                /* something else: not for us */
}

static void
client_read_cb(struct bufferevent *bev, void *arg)
{
    struct lg_client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_iovec iov[16];
    struct xs_xml_ev ev;
    enum xs_stream_err err = XS_STERR_NONE;
    int n;

    /* Feed everything first: the handlers may replace the bufferevent. */
    while (err == XS_STERR_NONE && (n = evbuffer_peek(in, -1, NULL, iov,
        XS_ARRAY_LEN(iov))) > 0) {
        size_t total = 0;

        if (n > (int)XS_ARRAY_LEN(iov))
            n = (int)XS_ARRAY_LEN(iov);
        for (int i = 0; i < n && err == XS_STERR_NONE; i++) {
            err = xs_xml_feed(c->xml, iov[i].iov_base, iov[i].iov_len);
            total += iov[i].iov_len;
        }
        evbuffer_drain(in, total);
    }
    /* Events before a parse error still count (a stream error element
     * says more than "not well-formed"). */
    while (xs_xml_pop(c->xml, &ev)) {
        bool alive = true;

        if (ev.type == XS_XEV_ELEM) {
            alive = client_on_elem(c, ev.el);
        } else if (ev.type == XS_XEV_CLOSE) {
            c->got_close = true;
            if (c->state == CS_CLOSING) {
                /* Wait a moment for the server's TCP close, so that the
                 * TIME_WAIT lands on its side and not on our ports. */
                client_set_timeout(c, EOF_WAIT_S);
            } else {
                client_end(c, LG_END_FAILED, "server closed the stream");
                alive = false;
            }
        }
        xs_elem_free(ev.el);
        if (!alive)
            return;
    }
    if (err != XS_STERR_NONE && c->state != CS_CLOSING)
        client_end(c, LG_END_FAILED, "XML from server not accepted");
}

static void
client_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct lg_client *c = arg;
    char why[160];

    if (what & BEV_EVENT_CONNECTED) {
        if (c->state == CS_CONNECTING) {
            client_stream_open(c);
        } else if (c->state == CS_TLS) {
            if (c->ctx->tls_info[0] == '\0') {
                SSL *ssl = bufferevent_openssl_get_ssl(bev);

                snprintf(c->ctx->tls_info, sizeof(c->ctx->tls_info),
                    "%s/%s", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
            }
            client_stream_open(c);
        }
        return;
    }
    if (c->state == CS_CLOSING) {
        /* EOF or an error after our </stream:stream>: closed; a timeout
         * after the server's </stream:stream> is fine too. */
        if ((what & BEV_EVENT_TIMEOUT) && !c->got_close)
            client_end(c, LG_END_FAILED, "no </stream:stream> from server");
        else
            client_end(c, LG_END_OK, "closed");
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        client_end(c, LG_END_FAILED, "timeout");
    } else if (what & BEV_EVENT_EOF) {
        client_end(c, LG_END_FAILED, "server closed the connection");
    } else {
        unsigned long e = c->is_tls ? bufferevent_get_openssl_error(bev) : 0;

        if (e != 0)
            snprintf(why, sizeof(why), "tls: %s",
                ERR_reason_error_string(e));
        else
            snprintf(why, sizeof(why), "socket: %s",
                evutil_socket_error_to_string(
                    EVUTIL_SOCKET_ERROR()));
        client_end(c, LG_END_FAILED, why);
    }
}
