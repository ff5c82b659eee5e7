/*
 * out.c: streams we open: one route per (local host, remote domain) with
 * a bounded queue while its stream comes up; resolution (static routes,
 * then SRV, then A/AAAA), connect with fail-over, STARTTLS, SASL EXTERNAL
 * or dialback; and the dedicated streams that carry a db:verify to an
 * authoritative server.
 */
#include "xmppd/s2s/s2s_int.h"
#include "xmppd/s2s/blocklist.h"

#include "xmppd/net/dns.h"
#include "xmppd/router.h"
#include "xmppd/s2s/dialback.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sodium.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

struct s2s_qitem {
    struct xs_stanza *st;           /* owned */
    struct s2s_qitem *next;         /* owned */
};

struct s2s_route {
    char               *local;      /* owned */
    char               *remote;     /* owned */
    uint64_t            conn_id;    /* 0: no stream */
    bool                is_up;      /* authenticated: write directly */
    uint64_t            bidi_id;    /* 0, or an inbound XEP-0288 stream
                                       authenticated for (remote, local):
                                       used before conn_id */
    struct s2s_qitem   *head;       /* owned FIFO */
    struct s2s_qitem  **tail;
    size_t              nqueued;
    struct s2s_route   *next;       /* owned list */
};

static struct s2s_route *routes;

static struct s2s_route *
out_route_find(const char *local, const char *remote, bool create)
{
    struct s2s_route *r;

    for (r = routes; r != NULL; r = r->next) {
        if (strcmp(r->local, local) == 0 && strcmp(r->remote, remote) == 0)
            return r;
    }
    if (!create)
        return NULL;
    r = xs_calloc(1, sizeof(*r));
    r->local = xs_strdup(local);
    r->remote = xs_strdup(remote);
    r->tail = &r->head;
    r->next = routes;
    routes = r;
    return r;
}

static void
out_route_free(struct s2s_route *r)
{
    struct s2s_route **pp;

    for (pp = &routes; *pp != NULL && *pp != r; pp = &(*pp)->next)
        continue;
    if (*pp == r)
        *pp = r->next;
    xs_free(r->local);
    xs_free(r->remote);
    xs_free(r);
}

/* Write st now (S2S_OUT already ran).  Takes st.  By connection id, not
 * route: a write over the output limit closes the connection, and that
 * frees its route. */
static void
out_write(uint64_t conn_id, struct xs_stanza *st)
{
    struct s2s_conn *c = s2s_conn_by_id(conn_id);

    if (c == NULL) {
        xs_stanza_unref(st);
        return;
    }
    s2s_conn_send_stanza(c, st);
}

/* Bounce every queued stanza with err (never an error to an error). */
static void
out_route_fail(struct s2s_route *r, enum xs_stanza_err err)
{
    struct s2s_qitem *q = r->head;

    r->head = NULL;
    r->tail = &r->head;
    r->nqueued = 0;
    r->conn_id = 0;
    r->is_up = false;
    if (q != NULL)
        xs_log(XS_LOG_INFO, "s2s: route local=%s remote=%s failed: %s",
            r->local, r->remote, xs_stanza_err_name(err));
    /* Before bouncing: bounces may re-route.  A route that still has a
     * bidirectional inbound stream stays for it. */
    if (r->bidi_id == 0)
        out_route_free(r);
    while (q != NULL) {
        struct s2s_qitem *next = q->next;

        if (xs_stanza_may_bounce(q->st)) {
            struct xs_stanza *reply = xs_stanza_error_reply(q->st, err);

            xs_router_route(reply);
        }
        xs_stanza_unref(q->st);
        xs_free(q);
        q = next;
    }
}

static void
out_route_flush(struct s2s_route *r)
{
    struct s2s_qitem *q = r->head;
    uint64_t conn_id = r->conn_id;

    r->head = NULL;
    r->tail = &r->head;
    r->nqueued = 0;
    r->is_up = true;
    /* r may be freed by any write below: only conn_id is used. */
    while (q != NULL) {
        struct s2s_qitem *next = q->next;

        out_write(conn_id, q->st);
        xs_free(q);
        q = next;
    }
}

/* ---- connecting ---- */

static void out_try_next(struct s2s_conn *c);

static void
out_addrs_cb(xs_rc rc, const struct xs_dns_addr *a, size_t n, void *udata)
{
    struct s2s_conn *c = udata;

    c->dns = NULL;
    if (rc == XS_OK && n > 0) {
        c->addrs = xs_calloc(n, sizeof(*c->addrs));
        memcpy(c->addrs, a, n * sizeof(*a));
        c->naddrs = n;
        c->addr_i = 0;
    }
    out_try_next(c);
}

static void
out_targets_cb(xs_rc rc, const struct xs_dns_target *t, size_t n,
    void *udata)
{
    struct s2s_conn *c = udata;

    c->dns = NULL;
    if (rc == XS_OK) {
        c->targets = xs_calloc(n, sizeof(*c->targets));
        for (size_t i = 0; i < n; i++) {
            c->targets[i] = t[i];
            c->targets[i].host = xs_strdup(t[i].host);
        }
        c->ntargets = n;
    }
    if (c->ntargets == 0)
        xs_slog(c, XS_LOG_INFO, "s2s: no s2s service for remote=%s (%s)",
            c->remote, xs_rc_str(rc));
    out_try_next(c);
}

/* Connect to the next address, resolving the next target when the
 * current one's addresses are used up. */
static void
out_try_next(struct s2s_conn *c)
{
    while (c->addr_i < c->naddrs) {
        const struct xs_dns_addr *a = &c->addrs[c->addr_i++];
        int fd;

        /* Plain first: the socket connects, then TLS wraps it if direct. */
        xs_stream_detach(&c->st);
        fd = socket(a->ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK |
            SOCK_CLOEXEC, 0);
        if (fd < 0)
            continue;
        /* Small stanzas must not wait for the peer's delayed ACK. */
        if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &(int){ 1 },
            sizeof(int)) != 0)
            xs_log(XS_LOG_DEBUG, "s2s: TCP_NODELAY: %s", strerror(errno));
        if (a->ss.ss_family == AF_INET) {
            inet_ntop(AF_INET, &((const struct sockaddr_in *)&a->ss)->sin_addr,
                c->peer_ip, sizeof(c->peer_ip));
            c->peer_port = ntohs(((const struct sockaddr_in *)&a->ss)
                ->sin_port);
        } else {
            inet_ntop(AF_INET6,
                &((const struct sockaddr_in6 *)&a->ss)->sin6_addr,
                c->peer_ip, sizeof(c->peer_ip));
            c->peer_port = ntohs(((const struct sockaddr_in6 *)&a->ss)
                ->sin6_port);
        }
        memcpy(&c->peer_addr, &a->ss, a->len);
        if (s2s_conn_attach(c, fd, false) != XS_OK)
            continue;
        if (bufferevent_socket_connect(c->st.bev, (const struct sockaddr *)
            &a->ss, (int)a->len) == 0) {
            xs_slog(c, XS_LOG_DEBUG, "s2s: connecting remote=%s ip=%s "
                "port=%d", c->remote, c->peer_ip, c->peer_port);
            return;
        }
    }
    xs_free(c->addrs);
    c->addrs = NULL;
    c->naddrs = c->addr_i = 0;
    if (c->target_i < c->ntargets) {
        const struct xs_dns_target *t = &c->targets[c->target_i++];

        c->is_direct_tls = t->is_direct_tls;
        c->dns = xs_dns_addrs(t->host, t->port, out_addrs_cb, c);
        return;
    }
    xs_slog(c, XS_LOG_INFO, "s2s: cannot connect to remote=%s", c->remote);
    s2s_out_on_gone(c, XS_SERR_REMOTE_SERVER_NOT_FOUND);
    s2s_conn_close(c, XS_STERR_NONE, NULL);
}

void
s2s_out_connect_failed(struct s2s_conn *c)
{
    xs_slog(c, XS_LOG_DEBUG, "s2s: connect failed remote=%s ip=%s port=%d",
        c->remote, c->peer_ip, c->peer_port);
    out_try_next(c);
}

static void
out_resolve(struct s2s_conn *c)
{
    const struct xs_conf *conf = xs_server()->conf;

    for (size_t i = 0; i < conf->ns2s_routes; i++) {
        const struct xs_s2s_route_conf *rc = &conf->s2s_routes[i];

        if (strcmp(rc->domain, c->remote) == 0) {
            c->targets = xs_calloc(1, sizeof(*c->targets));
            c->targets[0].host = xs_strdup(rc->host);
            c->targets[0].port = rc->port;
            c->ntargets = 1;
            out_try_next(c);
            return;
        }
    }
    c->dns = xs_dns_s2s_targets(c->remote, out_targets_cb, c);
}

static struct s2s_conn *
out_conn_start(enum s2s_kind kind, const char *local, const char *remote)
{
    struct s2s_conn *c = s2s_conn_new(kind);

    c->local = xs_strdup(local);
    c->remote = xs_strdup(remote);
    out_resolve(c);
    return c;
}

void
s2s_out_connected(struct s2s_conn *c)
{
    char *hdr;

    if (c->is_direct_tls && !c->st.is_tls) {
        if (s2s_conn_start_tls(c) != XS_OK)
            return;
        /* BEV_EVENT_CONNECTED again once the handshake is done. */
        return;
    }
    c->state = S2S_WAIT_STREAM;
    hdr = s2s_conn_header(c);
    s2s_conn_write(c, hdr, strlen(hdr));
    xs_free(hdr);
    c->st.is_stream_open = true;
}

void
s2s_out_on_gone(struct s2s_conn *c, enum xs_stanza_err err)
{
    struct s2s_route *r = c->route;

    if (c->kind == S2S_VERIFY) {
        if (c->verify_for != 0) {
            s2s_in_verified(c->verify_for, c->remote, c->local, NULL,
                err == XS_SERR_REMOTE_SERVER_TIMEOUT
                ? XS_SERR_REMOTE_SERVER_TIMEOUT
                : XS_SERR_REMOTE_SERVER_NOT_FOUND);
            c->verify_for = 0;
        }
        return;
    }
    if (r == NULL)
        return;
    c->route = NULL;
    if (r->is_up) {
        /* An authenticated stream ended (idle, or the peer closed): the
         * next stanza opens a new one. */
        r->conn_id = 0;
        r->is_up = false;
        if (r->head == NULL && r->bidi_id == 0)
            out_route_free(r);
        return;
    }
    out_route_fail(r, err);
}

/* ---- the protocol on our streams ---- */

void
s2s_out_on_open(struct s2s_conn *c, struct xs_elem *el)
{
    const char *ns = xs_elem_attr(el, "xmlns");
    const char *id = xs_elem_attr(el, "id");
    const char *db = xs_elem_attr(el, "xmlns:db");

    if (ns == NULL || strcmp(ns, XS_NS_SERVER) != 0 || id == NULL) {
        xs_elem_free(el);
        s2s_conn_close(c, XS_STERR_INVALID_NAMESPACE, NULL);
        return;
    }
    /* The peer's id: the one dialback keys are made with. */
    if (strlen(id) >= sizeof(c->stream_id)) {
        xs_elem_free(el);
        s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, "stream id too long");
        return;
    }
    snprintf(c->stream_id, sizeof(c->stream_id), "%s", id);
    c->peer_has_dialback = db != NULL && strcmp(db, S2S_NS_DIALBACK) == 0;
    c->state = S2S_WAIT_FEATURES;
    xs_elem_free(el);
}

static void
out_send_db(struct s2s_conn *c)
{
    struct evbuffer *b = evbuffer_new();
    char key[XS_DIALBACK_KEY_LEN];
    char *xml;

    if (c->kind == S2S_VERIFY) {
        evbuffer_add_printf(b, "<db:verify");
        s2s_attr(b, "from", c->local);
        s2s_attr(b, "to", c->remote);
        s2s_attr(b, "id", c->verify_id);
        evbuffer_add(b, ">", 1);
        xs_xml_escape(b, c->verify_key, strlen(c->verify_key), false);
        evbuffer_add_printf(b, "</db:verify>");
    } else {
        xs_dialback_key(c->remote, c->local, c->stream_id, key);
        evbuffer_add_printf(b, "<db:result");
        s2s_attr(b, "from", c->local);
        s2s_attr(b, "to", c->remote);
        evbuffer_add_printf(b, ">%s</db:result>", key);
        sodium_memzero(key, sizeof(key));
    }
    xml = xs_evbuffer_take_string(b);
    s2s_conn_write(c, xml, strlen(xml));
    xs_free(xml);
    c->state = S2S_WAIT_DIALBACK;
}

static void
out_authenticated(struct s2s_conn *c, enum xs_s2s_auth how)
{
    struct s2s_route *r = c->route;

    c->auth = how;
    c->state = S2S_OPEN;
    s2s_conn_idle_timer(c);
    /* The domain we reached through its own DNS (and, with EXTERNAL,
     * named by its certificate): the trust dialback gives an inbound
     * stream.  What it sends from now on may count against it. */
    xs_stream_set_subject(&c->st, c->remote);
    xs_slog(c, XS_LOG_INFO, "s2s: outbound authenticated local=%s "
        "remote=%s auth=%s bidi=%s", c->local, c->remote,
        how == XS_S2S_AUTH_EXTERNAL ? "EXTERNAL" : "dialback",
        c->is_bidi ? "yes" : "no");
    if (c->is_bidi && c->npairs == 0) {
        /* XEP-0288 2.2: the peer may send from the domain we connected
         * to (found by DNS or s2s_routes, and named by its certificate
         * with SASL EXTERNAL) to the domain we authenticated as. */
        c->pairs = xs_calloc(1, sizeof(*c->pairs));
        c->pairs[0].remote = xs_strdup(c->remote);
        c->pairs[0].local = xs_strdup(c->local);
        c->npairs = 1;
    }
    if (r != NULL)
        out_route_flush(r);
}

static void
out_features(struct s2s_conn *c, struct xs_elem *el)
{
    const struct xs_conf *conf = xs_server()->conf;
    struct xs_elem *tls = xs_elem_child(el, S2S_NS_TLS, "starttls");
    struct xs_elem *mechs = xs_elem_child(el, S2S_NS_SASL, "mechanisms");
    bool has_db = xs_elem_child(el, S2S_NS_DB_FEATURE, "dialback") != NULL;

    if (!c->st.is_tls && tls != NULL && conf->s2s_use_starttls !=
        XS_S2S_TLS_OFF && xs_server()->tls != NULL) {
        s2s_conn_write_lit(c, "<starttls xmlns='" S2S_NS_TLS "'/>");
        c->state = S2S_WAIT_PROCEED;
        return;
    }
    if (!c->st.is_tls && conf->s2s_use_starttls == XS_S2S_TLS_REQUIRED) {
        xs_slog(c, XS_LOG_NOTICE, "s2s: remote=%s offers no TLS",
            c->remote);
        s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, "TLS required");
        return;
    }
    if (c->is_sasl_done) {
        out_authenticated(c, XS_S2S_AUTH_EXTERNAL);
        return;
    }
    if (c->st.is_tls)
        c->is_cert_verified = s2s_conn_cert_ok(c, c->remote);
    if (c->kind == S2S_VERIFY) {
        out_send_db(c);
        return;
    }
    /* XEP-0288 2.2: after STARTTLS, before SASL or dialback. */
    if (conf->s2s_bidi && !c->is_bidi &&
        xs_elem_child(el, S2S_NS_BIDI_FEATURE, "bidi") != NULL) {
        s2s_conn_write_lit(c, "<bidi xmlns='" S2S_NS_BIDI "'/>");
        c->is_bidi = true;
    }
    if (c->is_cert_verified && mechs != NULL) {
        for (struct xs_elem *m = xs_elem_first_elem(mechs); m != NULL;
             m = xs_elem_next_elem(m)) {
            char *name = xs_elem_text(m);
            bool is_ext = strcmp(name, "EXTERNAL") == 0;

            xs_free(name);
            if (is_ext) {
                char b64[sodium_base64_ENCODED_LEN(1024,
                    sodium_base64_VARIANT_ORIGINAL)];
                char *xml;

                sodium_bin2base64(b64, sizeof(b64),
                    (const unsigned char *)c->local, strlen(c->local),
                    sodium_base64_VARIANT_ORIGINAL);
                xml = xs_asprintf("<auth xmlns='" S2S_NS_SASL "' "
                    "mechanism='EXTERNAL'>%s</auth>", b64);
                s2s_conn_write(c, xml, strlen(xml));
                xs_free(xml);
                c->state = S2S_WAIT_SASL;
                return;
            }
        }
    }
    if (conf->s2s_dialback && (has_db || c->peer_has_dialback)) {
        out_send_db(c);
        return;
    }
    xs_slog(c, XS_LOG_NOTICE, "s2s: no way to authenticate to remote=%s "
        "(cert %s, dialback %s)", c->remote,
        c->is_cert_verified ? "verified" : "not verified",
        conf->s2s_dialback ? "not offered" : "disabled here");
    s2s_conn_close(c, XS_STERR_NONE, NULL);
}

/* A typed db:result or db:verify: only as the answer we wait for. */
static void
out_dialback(struct s2s_conn *c, struct xs_elem *el)
{
    const char *from = xs_elem_attr(el, "from");
    const char *to = xs_elem_attr(el, "to");
    const char *type = xs_elem_attr(el, "type");
    bool is_verify = strcmp(el->name, "verify") == 0;

    if (c->state != S2S_WAIT_DIALBACK || type == NULL || from == NULL ||
        to == NULL || strcasecmp(from, c->remote) != 0 ||
        strcasecmp(to, c->local) != 0 ||
        is_verify != (c->kind == S2S_VERIFY) ||
        (is_verify && (xs_elem_attr(el, "id") == NULL ||
        strcmp(xs_elem_attr(el, "id"), c->verify_id) != 0))) {
        xs_slog(c, XS_LOG_NOTICE, "s2s: unsolicited dialback answer "
            "remote=%s", c->remote);
        return;                 /* XEP-0220 2.4: drop it */
    }
    if (c->kind == S2S_VERIFY) {
        uint64_t in_id = c->verify_for;

        c->verify_for = 0;
        s2s_in_verified(in_id, c->remote, c->local,
            strcmp(type, "error") == 0 ? NULL : type,
            XS_SERR_REMOTE_SERVER_NOT_FOUND);
        s2s_conn_close(c, XS_STERR_NONE, NULL);
        return;
    }
    if (strcmp(type, "valid") == 0) {
        out_authenticated(c, XS_S2S_AUTH_DIALBACK);
        return;
    }
    xs_slog(c, XS_LOG_NOTICE, "s2s: dialback %s from remote=%s", type,
        c->remote);
    s2s_out_on_gone(c, strcmp(type, "error") == 0
        ? XS_SERR_REMOTE_SERVER_TIMEOUT : XS_SERR_INTERNAL_SERVER_ERROR);
    s2s_conn_close(c, XS_STERR_NONE, NULL);
}

void
s2s_out_on_elem(struct s2s_conn *c, struct xs_elem *el)
{
    const char *ns = el->ns != NULL ? el->ns : "";

    if (strcmp(ns, XS_NS_STREAMS) == 0 && strcmp(el->name, "features") == 0
        && c->state == S2S_WAIT_FEATURES) {
        out_features(c, el);
    } else if (strcmp(ns, XS_NS_STREAMS) == 0 &&
        strcmp(el->name, "error") == 0) {
        struct xs_elem *cond = xs_elem_first_elem(el);

        xs_slog(c, XS_LOG_INFO, "s2s: stream error from remote=%s: %s",
            c->remote, cond != NULL ? cond->name : "?");
        s2s_conn_close(c, XS_STERR_NONE, NULL);
    } else if (strcmp(ns, S2S_NS_TLS) == 0 && c->state == S2S_WAIT_PROCEED
        && strcmp(el->name, "proceed") == 0) {
        if (s2s_conn_start_tls(c) == XS_OK)
            s2s_out_connected(c);     /* the new header goes out in TLS */
    } else if (strcmp(ns, S2S_NS_SASL) == 0 && c->state == S2S_WAIT_SASL &&
        strcmp(el->name, "success") == 0) {
        /* Authenticated once the restarted stream shows its features. */
        c->is_sasl_done = true;
        s2s_conn_restart_stream(c);
        s2s_out_connected(c);
    } else if (strcmp(ns, S2S_NS_SASL) == 0 && c->state == S2S_WAIT_SASL) {
        /* EXTERNAL refused: dialback may still work. */
        if (xs_server()->conf->s2s_dialback && c->peer_has_dialback) {
            out_send_db(c);
        } else {
            s2s_out_on_gone(c, XS_SERR_REMOTE_SERVER_NOT_FOUND);
            s2s_conn_close(c, XS_STERR_NONE, NULL);
        }
    } else if (strcmp(ns, S2S_NS_DIALBACK) == 0 && c->is_bidi &&
        c->state == S2S_OPEN && xs_elem_attr(el, "type") == NULL) {
        /* A request from the receiving server on our bidi stream. */
        s2s_in_dialback(c, el);
        return;
    } else if (strcmp(ns, S2S_NS_DIALBACK) == 0) {
        out_dialback(c, el);
    } else if (strcmp(ns, XS_NS_SERVER) == 0 && c->is_bidi &&
        c->state == S2S_OPEN) {
        s2s_in_stanza(c, el);       /* checks from/to against the pairs */
        return;
    } else {
        /* Nothing else may come (stanzas only on bidi streams). */
        xs_slog(c, XS_LOG_INFO, "s2s: unexpected <%s/> from remote=%s",
            el->name, c->remote);
        s2s_conn_close_misbehaved(c, XS_STERR_UNSUPPORTED_STANZA_TYPE,
            NULL);
    }
    xs_elem_free(el);
}

void
s2s_out_verify(uint64_t in_id, const char *local, const char *remote,
    const char *stream_id, const char *key)
{
    struct s2s_conn *c = s2s_conn_new(S2S_VERIFY);

    c->local = xs_strdup(local);
    c->remote = xs_strdup(remote);
    c->verify_for = in_id;
    c->verify_id = xs_strdup(stream_id);
    c->verify_key = xs_strdup(key != NULL ? key : "");
    out_resolve(c);
}

/* ---- XEP-0288: inbound streams that carry our stanzas too ---- */

void
s2s_out_bidi_attach(struct s2s_conn *c, const char *local,
    const char *remote)
{
    struct s2s_route *r = out_route_find(local, remote, true);
    struct s2s_qitem *q;
    uint64_t in_id = c->id;

    r->bidi_id = in_id;
    if (r->is_up || r->head == NULL)
        return;
    /* Stanzas waiting for an outbound stream still coming up go now, in
     * order; that stream, once up, idles out unused. */
    q = r->head;
    r->head = NULL;
    r->tail = &r->head;
    r->nqueued = 0;
    /* r and c may go by any write below (output limits): ids only. */
    while (q != NULL) {
        struct s2s_qitem *next = q->next;

        out_write(in_id, q->st);
        xs_free(q);
        q = next;
    }
}

void
s2s_out_bidi_detach(struct s2s_conn *c)
{
    for (size_t i = 0; i < c->npairs; i++) {
        struct s2s_route *r = out_route_find(c->pairs[i].local,
            c->pairs[i].remote, false);

        if (r == NULL || r->bidi_id != c->id)
            continue;
        r->bidi_id = 0;
        if (r->conn_id == 0 && r->head == NULL)
            out_route_free(r);
    }
}

/* ---- the router's branch ---- */

enum xs_verdict
xs_s2s_route(struct xs_stanza_ctx *ctx)
{
    const struct xs_conf *conf = xs_server()->conf;
    const char *remote = ctx->to->domain;
    const char *local = ctx->from->domain;
    struct s2s_route *r;
    struct s2s_qitem *q;
    enum xs_verdict v;

    if (!xs_conf_is_local_host(conf, local)) {
        /* A remote sender's stanza to another remote domain: no relay. */
        ctx->err = XS_SERR_NOT_ALLOWED;
        ctx->why = "no relaying between remote domains";
        return XS_BOUNCE;
    }
    if (!xs_s2s_access_check(remote, XS_S2S_OUT)) {
        /* RFC 6120 8.3.3.10: our policy, not a broken remote domain. */
        ctx->err = XS_SERR_NOT_ALLOWED;
        ctx->why = "remote domain refused by s2s access";
        return XS_BOUNCE;
    }
    v = xs_hook_run(XS_HOOK_S2S_OUT, ctx);
    if (v != XS_PASS)
        return v == XS_HANDLED ? XS_DROP : v;
    r = out_route_find(local, remote, true);
    if (r->bidi_id != 0) {
        struct s2s_conn *bc = s2s_conn_by_id(r->bidi_id);

        if (bc != NULL && !bc->st.is_closing) {
            s2s_conn_send_stanza(bc, ctx->st);
            return XS_STOLEN;
        }
        r->bidi_id = 0;
    }
    if (r->is_up && s2s_conn_by_id(r->conn_id) != NULL) {
        out_write(r->conn_id, ctx->st);
        return XS_STOLEN;
    }
    if (xs_server()->is_stopping) {
        /* No new connection at shutdown (the unavailable presences of the
         * last sessions would open one): nothing could be delivered. */
        ctx->why = "shutting down";
        return XS_DROP;
    }
    if (r->nqueued >= conf->s2s_queue_max) {
        ctx->err = XS_SERR_RESOURCE_CONSTRAINT;
        ctx->why = "s2s queue full";
        return XS_BOUNCE;
    }
    q = xs_calloc(1, sizeof(*q));
    q->st = ctx->st;
    *r->tail = q;
    r->tail = &q->next;
    r->nqueued++;
    if (r->conn_id == 0) {
        struct s2s_conn *c = out_conn_start(S2S_OUT, local, remote);

        r->conn_id = c->id;
        c->route = r;
        r->is_up = false;
    }
    return XS_STOLEN;
}

/* ---- admin API ---- */

struct out_visit {
    xs_s2s_visit_fn *fn;
    void            *udata;
    size_t           n;
};

static void
out_list_cb(struct s2s_conn *c, void *udata)
{
    struct out_visit *v = udata;
    struct xs_s2s_info info = {
        .id = c->id,
        .dir = c->kind == S2S_IN ? XS_S2S_IN : XS_S2S_OUT,
        .local_domain = c->local != NULL ? c->local : "",
        .remote_domain = c->remote != NULL ? c->remote : "",
        .auth = c->auth,
        .is_authenticated = c->kind == S2S_IN ? c->npairs > 0
                                              : c->state == S2S_OPEN,
        .is_cert_verified = c->is_cert_verified,
        .peer_ip = c->peer_ip,
        .peer_port = c->peer_port,
        .bytes_in = c->st.bytes_in,
        .bytes_out = c->st.bytes_out,
        .stanzas_in = c->stanzas_in,
        .stanzas_out = c->stanzas_out,
        .age_s = (int64_t)((xs_now_ms() - c->started_ms) / 1000u),
        .queued = c->route != NULL ? c->route->nqueued : 0,
        .is_bidi = c->is_bidi,
    };

    if (c->kind == S2S_VERIFY)
        return;                 /* short-lived helpers, not federation */
    if (c->st.is_tls && c->st.bev != NULL) {
        SSL *ssl = bufferevent_openssl_get_ssl(c->st.bev);

        info.tls_version = ssl != NULL ? SSL_get_version(ssl) : NULL;
    }
    v->fn(&info, v->udata);
    v->n++;
}

size_t
xs_s2s_list(xs_s2s_visit_fn *fn, void *udata)
{
    struct out_visit v = { .fn = fn, .udata = udata };

    s2s_conn_each(out_list_cb, &v);
    return v.n;
}

struct out_close {
    const char *domain;
    const char *reason;
    size_t      n;
};

static void
out_close_cb(struct s2s_conn *c, void *udata)
{
    struct out_close *oc = udata;
    bool match = c->remote != NULL && strcasecmp(c->remote, oc->domain) == 0;

    for (size_t i = 0; !match && i < c->npairs; i++)
        match = strcasecmp(c->pairs[i].remote, oc->domain) == 0;
    if (!match)
        return;
    if (c->route != NULL)
        s2s_out_on_gone(c, XS_SERR_REMOTE_SERVER_NOT_FOUND);
    s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, oc->reason);
    oc->n++;
}

size_t
xs_s2s_close_domain(const char *remote_domain, const char *reason)
{
    struct out_close oc = { .domain = remote_domain, .reason = reason };

    s2s_conn_each(out_close_cb, &oc);
    return oc.n;
}
