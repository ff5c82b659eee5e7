/* session.c: client connections: I/O, input pump, output limits, close, reap. */
#include "xmppd/c2s/session.h"

#include "xmppd/c2s/c2s_stream.h"
#include "xmppd/c2s/sasl.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/hooks.h"
#include "xmppd/core/server.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <search.h>
#include <string.h>
#include <unistd.h>

/* Bytes handed to expat at once: small enough to stop promptly at limits. */
#define SESSION_FEED_CHUNK 4096
/* How long a closing stream may take to flush its last bytes. */
#define SESSION_CLOSE_GRACE_MS 2000

/* One xs_session_on_flushed() wait: due once out_drained reaches target. */
struct xs_session_flush {
    uint64_t                 target;
    xs_session_flushed_fn   *cb;
    void                    *udata;     /* borrowed, handed back */
    struct xs_session_flush *next;      /* owned: the next (later) wait */
};

static void *sessions_by_id;            /* tsearch tree of live sessions */
static size_t nsessions;                /* every session not yet reaped */
static uint64_t next_id = 1;
static struct xs_session *reap_list;    /* borrowed links */
static struct event *reap_ev;           /* owned */
static void (*close_all_done)(void);
static struct event *close_all_ev;      /* owned: close_all deadline */

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_write_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void session_pump(struct xs_session *s);

static int
session_cmp(const void *a, const void *b)
{
    const struct xs_session *x = a, *y = b;

    return (x->id > y->id) - (x->id < y->id);
}

struct xs_session *
xs_session_by_id(uint64_t id)
{
    struct xs_session key = { .id = id };
    void *found = tfind(&key, &sessions_by_id, session_cmp);

    if (found == NULL)
        return NULL;
    return *(struct xs_session **)found;
}

size_t
xs_session_count(void)
{
    return nsessions;
}

/* Run the waits that are due, oldest first; with is_gone, all of them
 * (as failed if not due). */
static void
session_flush_run(struct xs_session *s, bool is_gone)
{
    while (s->flush_waits != NULL &&
        (is_gone || s->flush_waits->target <= s->out_drained)) {
        struct xs_session_flush *w = s->flush_waits;

        s->flush_waits = w->next;
        w->cb(w->target <= s->out_drained, w->udata);
        xs_free(w);
    }
}

static void
session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    session_flush_run(arg, false);
}

/* Counts what leaves the output buffer; the waits run from the loop. */
static void
session_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
    struct xs_session *s = arg;

    (void)buf;
    s->out_drained += info->n_deleted;
    if (s->flush_waits != NULL && s->flush_waits->target <= s->out_drained)
        event_active(s->flush_ev, EV_TIMEOUT, 0);
}

void
xs_session_on_flushed(struct xs_session *s, xs_session_flushed_fn *cb,
    void *udata)
{
    struct xs_session_flush *w = xs_calloc(1, sizeof(*w)), **tail;

    w->target = s->out_drained;
    if (s->bev != NULL)
        w->target += evbuffer_get_length(bufferevent_get_output(s->bev));
    w->cb = cb;
    w->udata = udata;
    /* Targets never decrease: appending keeps the FIFO sorted. */
    for (tail = &s->flush_waits; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = w;
    if (s->flush_ev == NULL)
        s->flush_ev = event_new(xs_server()->base, -1, 0, session_flush_cb,
            s);
    if (w->target <= s->out_drained)
        event_active(s->flush_ev, EV_TIMEOUT, 0);
}

static void
session_free(struct xs_session *s)
{
    session_flush_run(s, true);         /* before the buffer goes */
    if (s->flush_ev != NULL)
        event_free(s->flush_ev);
    if (s->bev != NULL)
        bufferevent_free(s->bev);
    if (!s->is_tls && s->fd >= 0)
        close(s->fd);           /* the plain bufferevent does not own it */
    xs_xml_free(s->xml);
    if (s->pump_ev != NULL)
        event_free(s->pump_ev);
    if (s->timer_ev != NULL)
        event_free(s->timer_ev);
    if (s->delay_ev != NULL)
        event_free(s->delay_ev);
    xs_sasl_free(s->sasl);
    xs_free(s->host);
    xs_free(s->user);
    xs_jid_free(s->jid);
    xs_stanza_unref(s->presence);
    xs_free(s);
    nsessions--;
}

static void
session_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    while (reap_list != NULL) {
        struct xs_session *s = reap_list;

        reap_list = s->reap_next;
        session_free(s);
    }
    if (nsessions == 0 && close_all_done != NULL) {
        void (*done)(void) = close_all_done;

        close_all_done = NULL;
        done();
    }
}

/* Free s once the current callbacks have returned (Redis freeClientAsync). */
static void
session_reap_later(struct xs_session *s)
{
    if (s->bev != NULL)
        bufferevent_disable(s->bev, EV_READ | EV_WRITE);
    if (s->timer_ev != NULL)
        event_del(s->timer_ev);
    if (s->delay_ev != NULL)
        event_del(s->delay_ev);
    if (s->pump_ev != NULL)
        event_del(s->pump_ev);
    s->reap_next = reap_list;
    reap_list = s;
    event_active(reap_ev, EV_TIMEOUT, 0);
}

static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xs_session *s = arg;

    (void)fd, (void)what;
    if (s->is_closing) {
        xs_slog(s, XS_LOG_DEBUG, "close grace period over");
        session_reap_later(s);
        return;
    }
    xs_slog(s, XS_LOG_INFO, "c2s: handshake timeout ip=%s", s->peer_ip);
    xs_session_close(s, XS_STERR_CONNECTION_TIMEOUT, NULL);
}

static void
session_pump_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    session_pump(arg);
}

static void
session_setup_bev(struct xs_session *s)
{
    const struct xs_conf *conf = xs_server()->conf;

    bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
        session_event_cb, s);
    evbuffer_add_cb(bufferevent_get_output(s->bev), session_out_cb, s);
    bufferevent_setwatermark(s->bev, EV_READ, 0, XS_READ_HIWAT);
    if (s->state == XS_C2S_BOUND && conf->c2s_idle_timeout > 0) {
        struct timeval tv = { .tv_sec = conf->c2s_idle_timeout };

        bufferevent_set_timeouts(s->bev, &tv, NULL);
    }
    bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static struct xs_xml *
session_parser_new(const struct xs_session *s)
{
    const struct xs_conf *conf = xs_server()->conf;
    struct xs_xml_limits lim = {
        .max_stanza = conf->max_stanza_size_preauth,
        .max_depth = conf->max_xml_depth,
        .max_attrs = conf->max_xml_attrs,
    };

    if (s->state >= XS_C2S_AUTHENTICATED)
        lim.max_stanza = s->lconf->max_stanza_size;
    return xs_xml_new(&lim);
}

static SSL *
session_ssl_new(struct xs_session *s)
{
    SSL *ssl;

    if (xs_server()->tls == NULL)
        return NULL;
    ssl = SSL_new(xs_server()->tls);
    if (ssl == NULL)
        xs_log_openssl(XS_LOG_ERR, "s=%" PRIu64 " tls: SSL_new failed", s->id);
    return ssl;
}

void
xs_session_accept(int fd, const struct sockaddr *sa, socklen_t salen,
    const struct xs_listen_conf *lconf)
{
    struct xs_server *srv = xs_server();
    struct xs_session *s;
    struct timeval tv;

    if (reap_ev == NULL)
        reap_ev = event_new(srv->base, -1, 0, session_reap_cb, NULL);

    s = xs_calloc(1, sizeof(*s));
    s->id = next_id++;
    s->fd = fd;
    s->lconf = lconf;
    s->state = XS_C2S_WAIT_STREAM;
    xs_random_id(s->stream_id);     /* also for an error before any header */
    nsessions++;
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
            s->peer_ip, sizeof(s->peer_ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
            s->peer_ip, sizeof(s->peer_ip));
    if (salen > 0 && (size_t)salen <= sizeof(s->peer_addr))
        memcpy(&s->peer_addr, sa, (size_t)salen);
    xs_session_apply_shaper(s);
    s->pump_ev = event_new(srv->base, -1, 0, session_pump_cb, s);
    s->timer_ev = event_new(srv->base, -1, 0, session_timer_cb, s);
    s->xml = session_parser_new(s);
    tsearch(s, &sessions_by_id, session_cmp);

    if (lconf->is_tls) {
        SSL *ssl = session_ssl_new(s);

        if (ssl == NULL) {
            close(fd);
            s->fd = -1;
            tdelete(s, &sessions_by_id, session_cmp);
            session_reap_later(s);
            return;
        }
        s->is_tls = true;
        s->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
            BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
        bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
    } else {
        /* Without CLOSE_ON_FREE: STARTTLS replaces this bufferevent on the
         * same socket, and session_free() closes the fd itself. */
        s->bev = bufferevent_socket_new(srv->base, fd, 0);
    }
    session_setup_bev(s);

    tv.tv_sec = srv->conf->c2s_handshake_timeout;
    tv.tv_usec = 0;
    event_add(s->timer_ev, &tv);
    xs_slog(s, XS_LOG_DEBUG, "c2s: accepted ip=%s port=%d", s->peer_ip,
        lconf->port);

    if (nsessions > srv->conf->c2s_max_connections) {
        xs_slog(s, XS_LOG_NOTICE, "c2s: too many connections (%zu), refused",
            nsessions - 1);
        xs_session_close(s, XS_STERR_RESOURCE_CONSTRAINT, NULL);
    }
}

void
xs_session_restart_stream(struct xs_session *s)
{
    xs_xml_free(s->xml);
    s->xml = session_parser_new(s);
    s->is_stream_open = false;
    if (s->state == XS_C2S_AUTHENTICATING || s->state == XS_C2S_TLS_SWITCH)
        s->state = XS_C2S_WAIT_STREAM;
}

void
xs_session_start_tls(struct xs_session *s)
{
    s->state = XS_C2S_TLS_SWITCH;
    /* The client sends its ClientHello only after <proceed/>; stop reading
     * so those bytes stay in the kernel for the TLS bufferevent. */
    bufferevent_disable(s->bev, EV_READ);
}

static void
session_switch_tls(struct xs_session *s)
{
    struct event_base *base = xs_server()->base;
    SSL *ssl;

    if (evbuffer_get_length(bufferevent_get_input(s->bev)) != 0) {
        /* RFC 6120 5.4.3.3: nothing may follow <starttls/> in clear. */
        xs_session_close(s, XS_STERR_POLICY_VIOLATION, NULL);
        return;
    }
    ssl = session_ssl_new(s);
    if (ssl == NULL) {
        xs_session_close(s, XS_STERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    bufferevent_free(s->bev);
    s->bev = bufferevent_openssl_socket_new(base, s->fd, ssl,
        BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_openssl_set_allow_dirty_shutdown(s->bev, 1);
    s->is_tls = true;
    xs_session_restart_stream(s);
    session_setup_bev(s);
    xs_slog(s, XS_LOG_DEBUG, "c2s: starttls");
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
    struct xs_session *s = arg;

    (void)bev;
    if (s->is_closing) {
        session_reap_later(s);
        return;
    }
    if (s->state == XS_C2S_TLS_SWITCH)
        session_switch_tls(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct xs_session *s = arg;

    (void)bev;
    if (what & BEV_EVENT_TIMEOUT) {
        xs_slog(s, XS_LOG_INFO, "c2s: idle timeout");
        xs_session_close(s, XS_STERR_CONNECTION_TIMEOUT, NULL);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(bev);

        if (e != 0) {
            char buf[256];

            ERR_error_string_n(e, buf, sizeof(buf));
            xs_slog(s, XS_LOG_INFO, "c2s: tls error ip=%s: %s", s->peer_ip,
                buf);
        } else {
            xs_slog(s, XS_LOG_INFO, "c2s: connection error ip=%s",
                s->peer_ip);
        }
    } else if (what & BEV_EVENT_EOF) {
        xs_slog(s, XS_LOG_DEBUG, "c2s: peer closed the connection");
    }
    if (what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)) {
        if (!s->is_closing) {
            /* Nothing more can be written: skip the goodbye. */
            s->is_closing = true;
            tdelete(s, &sessions_by_id, session_cmp);
            xs_sm_unbind(s);
            xs_event_fire(XS_EV_SESSION_CLOSED, s);
        }
        session_reap_later(s);
    }
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    session_pump(arg);
}

static void
session_handle_event(struct xs_session *s, struct xs_xml_ev *ev)
{
    switch (ev->type) {
    case XS_XEV_OPEN:
        xs_c2s_on_open(s, ev->el);
        break;
    case XS_XEV_ELEM:
        xs_c2s_on_elem(s, ev->el);
        break;
    case XS_XEV_CLOSE:
        xs_c2s_on_close(s);
        break;
    }
}

void
xs_session_apply_shaper(struct xs_session *s)
{
    const struct xs_acl_conf *acl = &xs_server()->conf->acl;
    struct xs_acl_subject subj = {
        .user = s->user, .server = s->host,
        .ip = (const struct sockaddr *)&s->peer_addr,
    };

    if (s->lconf->shaper == NULL)
        return;
    s->shaper = xs_shaper_for(acl, s->lconf->shaper, &subj);
    if (s->shaper != NULL && s->shaper_ms == 0) {
        s->shaper_tokens = (double)s->shaper->burst_size;
        s->shaper_ms = xs_now_ms();
    }
}

/*
 * Token bucket on input bytes (ejabberd's shapers): returns how many bytes
 * may be read now, or 0 after scheduling the pump for when the bucket has
 * refilled (reading stays off meanwhile).
 */
static size_t
session_shaper_allow(struct xs_session *s, size_t want)
{
    uint64_t now = xs_now_ms();
    double rate = (double)s->shaper->rate;
    double burst = (double)s->shaper->burst_size;

    s->shaper_tokens += rate * (double)(now - s->shaper_ms) / 1000.0;
    if (s->shaper_tokens > burst)
        s->shaper_tokens = burst;
    s->shaper_ms = now;
    if (s->shaper_tokens >= 1.0)
        return s->shaper_tokens < (double)want ? (size_t)s->shaper_tokens
                                                : want;
    {
        double wait_ms = (1.0 - s->shaper_tokens) * 1000.0 / rate + 1.0;
        struct timeval tv = {
            .tv_sec = (time_t)(wait_ms / 1000.0),
            .tv_usec = (suseconds_t)((uint64_t)wait_ms % 1000u) * 1000,
        };

        bufferevent_disable(s->bev, EV_READ);
        event_add(s->pump_ev, &tv);
    }
    return 0;
}

/*
 * Feed input to the parser and handle its events, at most
 * XS_STANZAS_PER_TURN per call; what is left continues on the next loop
 * turn, so one busy client cannot starve the others.
 */
static void
session_pump(struct xs_session *s)
{
    unsigned budget = XS_STANZAS_PER_TURN;
    struct evbuffer *in;

    while (budget > 0 && !s->is_closing && s->pause == 0 &&
        s->state != XS_C2S_TLS_SWITCH) {
        struct xs_xml_ev ev;
        char chunk[SESSION_FEED_CHUNK];
        enum xs_stream_err err;
        size_t want;
        int n;

        if (xs_xml_pop(s->xml, &ev)) {
            session_handle_event(s, &ev);
            budget--;
            continue;
        }
        in = bufferevent_get_input(s->bev);
        want = sizeof(chunk);
        if (s->shaper != NULL && evbuffer_get_length(in) > 0 &&
            (want = session_shaper_allow(s, want)) == 0)
            return;             /* shaped: the pump runs again later */
        n = evbuffer_remove(in, chunk, want);
        if (n <= 0)
            break;
        if (s->shaper != NULL)
            s->shaper_tokens -= n;
        err = xs_xml_feed(s->xml, chunk, (size_t)n);
        if (err != XS_STERR_NONE) {
            struct xs_xml *x = s->xml;

            xs_slog(s, XS_LOG_INFO, "c2s: bad xml from ip=%s: %s", s->peer_ip,
                xs_stream_err_name(err));
            /* What was complete before the fault is the client's: handle
             * it (the FIFO is bounded by what one chunk can hold). */
            while (!s->is_closing && s->pause == 0 && s->xml == x &&
                xs_xml_pop(x, &ev))
                session_handle_event(s, &ev);
            xs_session_close(s, err, NULL);
            return;
        }
    }
    if (s->is_closing || s->state == XS_C2S_TLS_SWITCH)
        return;
    in = bufferevent_get_input(s->bev);
    if (s->pause == 0 &&
        (xs_xml_pending(s->xml) > 0 || evbuffer_get_length(in) > 0)) {
        event_active(s->pump_ev, EV_TIMEOUT, 0);
    }
    /* Back-pressure: a full queue stops reading until it drains. */
    if (xs_xml_pending(s->xml) >= XS_SESSION_QUEUE_MAX)
        bufferevent_disable(s->bev, EV_READ);
    else
        bufferevent_enable(s->bev, EV_READ);
}

void
xs_session_pause(struct xs_session *s)
{
    s->pause++;
}

void
xs_session_resume(struct xs_session *s)
{
    xs_assert(s->pause > 0);
    if (--s->pause == 0 && !s->is_closing)
        event_active(s->pump_ev, EV_TIMEOUT, 0);
}

static void
session_check_output(struct xs_session *s)
{
    const struct xs_conf *conf = xs_server()->conf;
    size_t len = evbuffer_get_length(bufferevent_get_output(s->bev));

    if (len > conf->c2s_out_hard_limit) {
        xs_slog(s, XS_LOG_NOTICE, "c2s: output over hard limit (%zu bytes)",
            len);
        xs_session_close(s, XS_STERR_POLICY_VIOLATION, "slow reader");
        return;
    }
    if (len <= conf->c2s_out_soft_limit) {
        s->out_soft_since = 0;
        return;
    }
    if (s->out_soft_since == 0) {
        s->out_soft_since = xs_now_ms();
    } else if (xs_now_ms() - s->out_soft_since >
        (uint64_t)conf->c2s_out_soft_seconds * 1000u) {
        xs_slog(s, XS_LOG_NOTICE, "c2s: output over soft limit too long "
            "(%zu bytes)", len);
        xs_session_close(s, XS_STERR_POLICY_VIOLATION, "slow reader");
    }
}

void
xs_session_send(struct xs_session *s, struct xs_stanza *st)
{
    struct xs_stanza_ctx ctx = {
        .target = s, .st = st, .kind = st->kind,
    };

    if (s->is_closing || s->bev == NULL) {
        xs_stanza_unref(st);
        return;
    }
    switch (xs_hook_run(XS_HOOK_C2S_OUT, &ctx)) {
    case XS_PASS:
    case XS_HANDLED:
        break;
    case XS_STOLEN:
        return;
    case XS_DROP:
    case XS_BOUNCE:             /* nothing to bounce to on the way out */
        xs_stanza_unref(st);
        return;
    }
    xs_elem_serialize(st->el, XS_NS_CLIENT, bufferevent_get_output(s->bev));
    xs_stanza_unref(st);
    session_check_output(s);
}

void
xs_session_send_raw(struct xs_session *s, const char *xml)
{
    if (s->is_closing || s->bev == NULL)
        return;
    bufferevent_write(s->bev, xml, strlen(xml));
}

void
xs_session_close(struct xs_session *s, enum xs_stream_err err,
    const char *text)
{
    struct timeval tv = {
        .tv_sec = SESSION_CLOSE_GRACE_MS / 1000,
        .tv_usec = (SESSION_CLOSE_GRACE_MS % 1000) * 1000,
    };

    if (s->is_closing)
        return;
    if (err != XS_STERR_NONE)
        xs_slog(s, XS_LOG_INFO, "c2s: closing with stream error %s%s%s",
            xs_stream_err_name(err), text ? ": " : "", text ? text : "");
    else
        xs_slog(s, XS_LOG_DEBUG, "c2s: closing");

    if (s->bev != NULL && s->state != XS_C2S_TLS_SWITCH) {
        struct evbuffer *out = bufferevent_get_output(s->bev);

        if (!s->is_stream_open) {
            /* RFC 6120 4.9.1.1: open our stream before the error. */
            char *hdr = xs_c2s_header(s);

            evbuffer_add(out, hdr, strlen(hdr));
            xs_free(hdr);
            s->is_stream_open = true;
        }
        if (err != XS_STERR_NONE) {
            char *e = xs_stream_error_xml(err, text);

            evbuffer_add(out, e, strlen(e));
            xs_free(e);
        }
        evbuffer_add(out, "</stream:stream>", 16);
    }
    s->is_closing = true;
    tdelete(s, &sessions_by_id, session_cmp);
    xs_sm_unbind(s);
    xs_event_fire(XS_EV_SESSION_CLOSED, s);

    if (s->bev == NULL) {
        session_reap_later(s);
        return;
    }
    bufferevent_disable(s->bev, EV_READ);
    bufferevent_set_timeouts(s->bev, NULL, NULL);
    if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
        session_reap_later(s);
        return;
    }
    event_del(s->timer_ev);
    event_add(s->timer_ev, &tv);
}

static void
session_close_all_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (close_all_done != NULL) {
        void (*done)(void) = close_all_done;

        xs_log(XS_LOG_NOTICE, "shutdown: %zu sessions did not close in time",
            nsessions);
        close_all_done = NULL;
        done();
    }
}

void
xs_session_close_all(enum xs_stream_err err, void (*done)(void))
{
    struct timeval tv = { .tv_sec = 3 };

    close_all_done = done;
    /* Closing removes a session from the tree: take the root until empty. */
    while (sessions_by_id != NULL)
        xs_session_close(*(struct xs_session **)sessions_by_id, err, NULL);
    if (nsessions == 0 || reap_ev == NULL) {
        close_all_done = NULL;
        done();
        return;
    }
    close_all_ev = event_new(xs_server()->base, -1, 0, session_close_all_cb,
        NULL);
    event_add(close_all_ev, &tv);
}
