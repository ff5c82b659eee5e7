/* session.c: client sessions on a shared stream (net/stream.c): accept,
 * the c2s side of close and reap, output hooks, flush waits. */
#include "xmppd/c2s/session.h"

#include "xmppd/c2s/c2s_stream.h"
#include "xmppd/c2s/sasl.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/hooks.h"
#include "xmppd/core/server.h"
#include "xmppd/core/stats.h"

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
static void (*close_all_done)(void);
static struct event *close_all_ev;      /* owned: close_all deadline */

static const struct xs_stream_ops session_ops;

/* Every session is gone (or the deadline passed): tell the caller once. */
static void
session_close_all_finish(void)
{
    void (*done)(void) = close_all_done;

    close_all_done = NULL;
    if (close_all_ev != NULL) {
        event_free(close_all_ev);
        close_all_ev = NULL;
    }
    done();
}

static struct xs_session *
session_of(struct xs_stream *st)
{
    return xs_container_of(st, struct xs_session, st);
}

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
        (is_gone || s->flush_waits->target <= s->st.bytes_out)) {
        struct xs_session_flush *w = s->flush_waits;

        s->flush_waits = w->next;
        w->cb(w->target <= s->st.bytes_out, w->udata);
        xs_free(w);
    }
}

static void
session_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    session_flush_run(arg, false);
}

/* Output left the buffer (st.bytes_out grew); the waits run from the
 * loop. */
static void
session_on_written(struct xs_stream *st)
{
    struct xs_session *s = session_of(st);

    if (s->flush_waits != NULL && s->flush_waits->target <= st->bytes_out)
        event_active(s->flush_ev, EV_TIMEOUT, 0);
}

void
xs_session_on_flushed(struct xs_session *s, xs_session_flushed_fn *cb,
    void *udata)
{
    struct xs_session_flush *w = xs_calloc(1, sizeof(*w)), **tail;

    w->target = s->st.bytes_out;
    if (s->st.bev != NULL)
        w->target += evbuffer_get_length(bufferevent_get_output(s->st.bev));
    w->cb = cb;
    w->udata = udata;
    /* Targets never decrease: appending keeps the FIFO sorted. */
    for (tail = &s->flush_waits; *tail != NULL; tail = &(*tail)->next)
        ;
    *tail = w;
    if (s->flush_ev == NULL)
        s->flush_ev = event_new(xs_server()->base, -1, 0, session_flush_cb,
            s);
    if (w->target <= s->st.bytes_out)
        event_active(s->flush_ev, EV_TIMEOUT, 0);
}

/* The one free path: the stream's reaper calls it. */
static void
session_free(struct xs_stream *st)
{
    struct xs_session *s = session_of(st);

    session_flush_run(s, true);         /* before the buffer goes */
    if (s->flush_ev != NULL)
        event_free(s->flush_ev);
    xs_stream_fini(&s->st);
    if (s->delay_ev != NULL)
        event_free(s->delay_ev);
    xs_sasl_free(s->sasl);
    xs_free(s->host);
    xs_free(s->user);
    xs_jid_free(s->jid);
    xs_stanza_unref(s->presence);
    xs_free(s);
    nsessions--;
    if (nsessions == 0 && close_all_done != NULL)
        session_close_all_finish();
}

static void
session_xml_limits(const struct xs_stream *st, struct xs_xml_limits *lim)
{
    const struct xs_session *s =
        xs_container_of(st, const struct xs_session, st);
    const struct xs_conf *conf = xs_server()->conf;

    lim->max_stanza = conf->max_stanza_size_preauth;
    lim->max_depth = conf->max_xml_depth;
    lim->max_attrs = conf->max_xml_attrs;
    if (s->state >= XS_C2S_AUTHENTICATED)
        lim->max_stanza = s->lconf->max_stanza_size;
}

static SSL *
session_ssl_new(struct xs_stream *st)
{
    (void)st;
    if (xs_server()->tls == NULL)
        return NULL;
    return SSL_new(xs_server()->tls);
}

void
xs_session_accept(int fd, const struct sockaddr *sa, socklen_t salen,
    const struct xs_listen_conf *lconf)
{
    struct xs_server *srv = xs_server();
    struct xs_session *s;

    s = xs_calloc(1, sizeof(*s));
    s->id = next_id++;
    s->lconf = lconf;
    s->state = XS_C2S_WAIT_STREAM;
    xs_stream_init(&s->st, s->id, &session_ops, s->peer_ip);
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
    tsearch(s, &sessions_by_id, session_cmp);

    if (xs_stream_attach(&s->st, fd, lconf->is_tls, false) != XS_OK) {
        /* No TLS context: drop the connection without a word. */
        tdelete(s, &sessions_by_id, session_cmp);
        xs_stream_reap_later(&s->st);
        return;
    }
    xs_stream_set_deadline(&s->st, srv->conf->c2s_handshake_timeout);
    xs_slog(s, XS_LOG_DEBUG, "c2s: accepted ip=%s port=%d", s->peer_ip,
        lconf->port);

    if (nsessions > srv->conf->c2s_max_connections) {
        xs_slog(s, XS_LOG_NOTICE, "c2s: too many connections (%zu), refused",
            nsessions - 1);
        xs_session_close(s, XS_STERR_RESOURCE_CONSTRAINT, NULL);
    }
}

/* A new stream on the same connection: back to waiting for its header. */
static void
session_state_restart(struct xs_session *s)
{
    if (s->state == XS_C2S_AUTHENTICATING || s->state == XS_C2S_TLS_SWITCH)
        s->state = XS_C2S_WAIT_STREAM;
}

void
xs_session_restart_stream(struct xs_session *s)
{
    xs_stream_restart(&s->st);
    session_state_restart(s);
}

void
xs_session_start_tls(struct xs_session *s)
{
    s->state = XS_C2S_TLS_SWITCH;
    /* The client sends its ClientHello only after <proceed/>; stop reading
     * so those bytes stay in the kernel for the TLS bufferevent. */
    xs_stream_tls_pending(&s->st);
}

/* The stream switched to TLS (and has a new parser). */
static void
session_on_tls(struct xs_stream *st)
{
    session_state_restart(session_of(st));
}

static void
session_on_open(struct xs_stream *st, struct xs_elem *el)
{
    xs_c2s_on_open(session_of(st), el);
}

static void
session_on_elem(struct xs_stream *st, struct xs_elem *el)
{
    xs_c2s_on_elem(session_of(st), el);
}

static void
session_on_close(struct xs_stream *st)
{
    xs_c2s_on_close(session_of(st));
}

static char *
session_header(const struct xs_stream *st)
{
    return xs_c2s_header(xs_container_of(st, const struct xs_session, st));
}

/* The stream is closing (is_closing is set): the session leaves. */
static void
session_on_closing(struct xs_stream *st, bool is_peer_gone)
{
    struct xs_session *s = session_of(st);

    (void)is_peer_gone;
    s->is_closing = true;
    tdelete(s, &sessions_by_id, session_cmp);
    xs_sm_unbind(s);
    xs_event_fire(XS_EV_SESSION_CLOSED, s);
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
    xs_stream_set_shaper(&s->st, xs_shaper_for(acl, s->lconf->shaper,
        &subj));
}

void
xs_session_pause(struct xs_session *s)
{
    xs_stream_pause(&s->st);
}

void
xs_session_resume(struct xs_session *s)
{
    xs_stream_resume(&s->st);
}

static void
session_check_output(struct xs_session *s)
{
    const struct xs_conf *conf = xs_server()->conf;

    xs_stream_check_output(&s->st, conf->c2s_out_soft_limit,
        conf->c2s_out_hard_limit, conf->c2s_out_soft_seconds);
}

void
xs_session_send(struct xs_session *s, struct xs_stanza *st)
{
    struct xs_stanza_ctx ctx = {
        .target = s, .st = st, .kind = st->kind,
    };

    if (s->st.is_closing || s->st.bev == NULL) {
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
    xs_elem_serialize(st->el, XS_NS_CLIENT,
        bufferevent_get_output(s->st.bev));
    xs_core_stats.stanzas_out[XS_STATS_C2S]++;
    xs_stanza_unref(st);
    session_check_output(s);
}

void
xs_session_send_raw(struct xs_session *s, const char *xml)
{
    if (s->st.is_closing || s->st.bev == NULL)
        return;
    bufferevent_write(s->st.bev, xml, strlen(xml));
}

void
xs_session_close(struct xs_session *s, enum xs_stream_err err,
    const char *text)
{
    xs_stream_close(&s->st, err, text);
}

static void
session_close_all_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (close_all_done != NULL) {
        xs_log(XS_LOG_NOTICE, "shutdown: %zu sessions did not close in time",
            nsessions);
        session_close_all_finish();
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
    if (nsessions == 0) {
        close_all_done = NULL;
        done();
        return;
    }
    close_all_ev = event_new(xs_server()->base, -1, 0, session_close_all_cb,
        NULL);
    event_add(close_all_ev, &tv);
}

static const struct xs_stream_ops session_ops = {
    .name = "c2s",
    .xml_limits = session_xml_limits,
    .on_open = session_on_open,
    .on_elem = session_on_elem,
    .on_close = session_on_close,
    .header = session_header,
    .on_closing = session_on_closing,
    .on_free = session_free,
    .ssl_new = session_ssl_new,
    .on_tls = session_on_tls,
    .on_written = session_on_written,
    .idle_err = XS_STERR_CONNECTION_TIMEOUT,
};
