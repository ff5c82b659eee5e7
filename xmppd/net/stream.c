/* stream.c: the connection half of c2s and s2s streams: I/O, input pump,
 * shaper, output limits, STARTTLS, close and reap. */
#include "xmppd/net/stream.h"

#include "xmppd/core/hooks.h"
#include "xmppd/core/server.h"
#include "xmppd/core/stats.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <string.h>
#include <unistd.h>

/* Bytes handed to expat at once: small enough to stop promptly at limits. */
#define STREAM_FEED_CHUNK 4096
/* How long a closing stream may take to flush its last bytes. */
#define STREAM_CLOSE_GRACE_MS 2000
/* At most one XS_EV_RATE_LIMITED per stream in this time: a shaped peer
 * waits many times a second, and each wait is not new evidence. */
#define STREAM_RATE_EVENT_MS 60000

static struct xs_stream *reap_list;     /* borrowed links */
static struct xs_stream *all_streams;   /* borrowed links: every stream */
static size_t nstreams;
static struct event *reap_ev;           /* owned */

static void stream_pump(struct xs_stream *st);
static void stream_read_cb(struct bufferevent *bev, void *arg);
static void stream_write_cb(struct bufferevent *bev, void *arg);
static void stream_event_cb(struct bufferevent *bev, short what, void *arg);

/* Which of the core's counters this stream bumps. */
static enum xs_stats_stream
stream_stats_kind(const struct xs_stream *st)
{
    return st->ops->is_s2s ? XS_STATS_S2S : XS_STATS_C2S;
}

/* " remote=<peer>" for log lines, or "" when the owner names no peer. */
static const char *
stream_tag(const struct xs_stream *st, char *buf, size_t len)
{
    const char *name;
    int n;

    if (st->ops->peer_name == NULL)
        return "";
    name = st->ops->peer_name(st);
    n = snprintf(buf, len, " remote=%s", name != NULL ? name : "?");
    if (n < 0 || (size_t)n >= len)
        return " remote=(long)";
    return buf;
}

static void
stream_reap_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    while (reap_list != NULL) {
        struct xs_stream *st = reap_list;

        reap_list = st->reap_next;
        st->ops->on_free(st);
    }
}

/* Free the owner once the current callbacks have returned (Redis
 * freeClientAsync). */
void
xs_stream_reap_later(struct xs_stream *st)
{
    if (st->is_reaping)
        return;
    st->is_reaping = true;
    if (reap_ev == NULL)
        reap_ev = event_new(xs_server()->base, -1, 0, stream_reap_cb, NULL);
    if (st->bev != NULL)
        bufferevent_disable(st->bev, EV_READ | EV_WRITE);
    event_del(st->timer_ev);
    event_del(st->pump_ev);
    st->reap_next = reap_list;
    reap_list = st;
    event_active(reap_ev, EV_TIMEOUT, 0);
}

void
xs_stream_reap_all(void)
{
    /* Streams in their close grace period are not on the reap list yet:
     * the loop is gone, so they never will be. */
    for (struct xs_stream *st = all_streams; st != NULL; st = st->all_next) {
        if (!st->is_reaping) {
            st->is_reaping = true;
            st->reap_next = reap_list;
            reap_list = st;
        }
    }
    stream_reap_cb(-1, 0, NULL);
    if (reap_ev != NULL) {
        event_free(reap_ev);
        reap_ev = NULL;
    }
}

static void
stream_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xs_stream *st = arg;
    char tag[300];

    (void)fd, (void)what;
    if (st->is_closing) {
        xs_slog(st, XS_LOG_DEBUG, "close grace period over");
        xs_stream_reap_later(st);
        return;
    }
    xs_slog(st, XS_LOG_INFO, "%s: handshake timeout%s ip=%s", st->ops->name,
        stream_tag(st, tag, sizeof(tag)), st->peer_ip);
    if (st->ops->on_timeout != NULL)
        st->ops->on_timeout(st);
    xs_stream_close(st, XS_STERR_CONNECTION_TIMEOUT, NULL);
}

static void
stream_pump_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    stream_pump(arg);
}

void
xs_stream_init(struct xs_stream *st, uint64_t id,
    const struct xs_stream_ops *ops, const char *peer_ip)
{
    struct event_base *base = xs_server()->base;

    memset(st, 0, sizeof(*st));
    st->id = id;
    st->ops = ops;
    st->peer_ip = peer_ip;
    st->fd = -1;
    st->pump_ev = event_new(base, -1, 0, stream_pump_cb, st);
    st->timer_ev = event_new(base, -1, 0, stream_timer_cb, st);
    st->all_next = all_streams;
    if (all_streams != NULL)
        all_streams->all_prev = st;
    all_streams = st;
    st->is_listed = true;
    nstreams++;
}

size_t
xs_stream_count(void)
{
    return nstreams;
}

void
xs_stream_detach(struct xs_stream *st)
{
    if (st->bev != NULL) {
        bufferevent_free(st->bev);
        st->bev = NULL;
    }
    if (!st->is_tls && st->fd >= 0)
        close(st->fd);          /* the plain bufferevent does not own it */
    st->fd = -1;
    st->is_tls = false;
    xs_xml_free(st->xml);
    st->xml = NULL;
}

void
xs_stream_fini(struct xs_stream *st)
{
    xs_stream_detach(st);
    xs_free(st->subject);
    st->subject = NULL;
    if (st->pump_ev != NULL)
        event_free(st->pump_ev);
    if (st->timer_ev != NULL)
        event_free(st->timer_ev);
    if (st->idle_ev != NULL)
        event_free(st->idle_ev);
    st->pump_ev = st->timer_ev = st->idle_ev = NULL;
    if (!st->is_listed)
        return;
    if (st->all_prev != NULL)
        st->all_prev->all_next = st->all_next;
    else
        all_streams = st->all_next;
    if (st->all_next != NULL)
        st->all_next->all_prev = st->all_prev;
    st->all_prev = st->all_next = NULL;
    st->is_listed = false;
    nstreams--;
}

/* Counts what leaves the output buffer (written to the socket or TLS). */
static void
stream_out_cb(struct evbuffer *buf, const struct evbuffer_cb_info *info,
    void *arg)
{
    struct xs_stream *st = arg;

    (void)buf;
    st->bytes_out += info->n_deleted;
    if (info->n_deleted > 0)
        st->last_io_ms = xs_now_ms();
    if (st->ops->on_written != NULL)
        st->ops->on_written(st);
}

static void
stream_setup_bev(struct xs_stream *st)
{
    bufferevent_setcb(st->bev, stream_read_cb, stream_write_cb,
        stream_event_cb, st);
    evbuffer_add_cb(bufferevent_get_output(st->bev), stream_out_cb, st);
    bufferevent_setwatermark(st->bev, EV_READ, 0, XS_READ_HIWAT);
    bufferevent_enable(st->bev, EV_READ | EV_WRITE);
}

void
xs_stream_restart(struct xs_stream *st)
{
    struct xs_xml_limits lim = { 0 };

    st->ops->xml_limits(st, &lim);
    xs_xml_free(st->xml);
    st->xml = xs_xml_new(&lim);
    st->is_stream_open = false;
}

/* Replace the bufferevent by a TLS one on the same socket. */
static xs_rc
stream_wrap_tls(struct xs_stream *st, bool is_client)
{
    SSL *ssl = st->ops->ssl_new(st);

    if (ssl == NULL) {
        xs_log_openssl(XS_LOG_ERR, "s=%" PRIu64 " %s: no TLS context",
            st->id, st->ops->name);
        return XS_EIO;
    }
    if (st->bev != NULL)
        bufferevent_free(st->bev);
    st->bev = bufferevent_openssl_socket_new(xs_server()->base, st->fd, ssl,
        is_client ? BUFFEREVENT_SSL_CONNECTING : BUFFEREVENT_SSL_ACCEPTING,
        BEV_OPT_CLOSE_ON_FREE);
    bufferevent_openssl_set_allow_dirty_shutdown(st->bev, 1);
    st->is_tls = true;
    stream_setup_bev(st);
    return XS_OK;
}

xs_rc
xs_stream_attach(struct xs_stream *st, int fd, bool is_tls, bool is_client)
{
    st->fd = fd;
    xs_stream_restart(st);
    if (is_tls)
        return stream_wrap_tls(st, is_client);
    /* Without CLOSE_ON_FREE: STARTTLS replaces this bufferevent on the
     * same socket, and xs_stream_detach() closes the fd itself. */
    st->bev = bufferevent_socket_new(xs_server()->base, fd, 0);
    stream_setup_bev(st);
    return XS_OK;
}

void
xs_stream_tls_pending(struct xs_stream *st)
{
    st->is_tls_pending = true;
    bufferevent_disable(st->bev, EV_READ);
}

xs_rc
xs_stream_start_tls(struct xs_stream *st, bool is_client)
{
    char tag[300];

    if (evbuffer_get_length(bufferevent_get_input(st->bev)) != 0) {
        /* RFC 6120 5.4.3.3: nothing may follow <starttls/> in clear. */
        xs_stream_close(st, XS_STERR_POLICY_VIOLATION, NULL);
        return XS_EINVAL;
    }
    if (stream_wrap_tls(st, is_client) != XS_OK) {
        xs_stream_close(st, XS_STERR_INTERNAL_SERVER_ERROR, NULL);
        return XS_EIO;
    }
    st->is_tls_pending = false;
    xs_stream_restart(st);
    xs_slog(st, XS_LOG_DEBUG, "%s: starttls%s", st->ops->name,
        stream_tag(st, tag, sizeof(tag)));
    return XS_OK;
}

void
xs_stream_set_shaper(struct xs_stream *st, const struct xs_shaper *shaper)
{
    st->shaper = shaper;
    if (shaper != NULL && st->shaper_ms == 0) {
        st->shaper_tokens = (double)shaper->burst_size;
        st->shaper_ms = xs_now_ms();
    }
}

void
xs_stream_set_subject(struct xs_stream *st, const char *subject)
{
    xs_free(st->subject);
    st->subject = subject != NULL ? xs_strdup(subject) : NULL;
}

void
xs_stream_set_deadline(struct xs_stream *st, int seconds)
{
    struct timeval tv = { .tv_sec = seconds };

    event_del(st->timer_ev);
    if (seconds > 0)
        event_add(st->timer_ev, &tv);
}

static void
stream_idle_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xs_stream *st = arg;
    uint64_t idle_ms = (uint64_t)st->idle_s * 1000u;
    uint64_t quiet = xs_now_ms() - st->last_io_ms;
    char tag[300];

    (void)fd, (void)what;
    if (st->is_closing || st->idle_s <= 0)
        return;
    if (quiet < idle_ms) {
        uint64_t left = idle_ms - quiet;
        struct timeval tv = { .tv_sec = (time_t)(left / 1000u),
            .tv_usec = (suseconds_t)(left % 1000u) * 1000 };

        event_add(st->idle_ev, &tv);    /* there was traffic: look later */
        return;
    }
    xs_slog(st, XS_LOG_INFO, "%s: idle for %ds, closing%s", st->ops->name,
        st->idle_s, stream_tag(st, tag, sizeof(tag)));
    xs_stream_close(st, st->ops->idle_err, NULL);
}

void
xs_stream_set_idle(struct xs_stream *st, int seconds)
{
    struct timeval tv = { .tv_sec = seconds };

    st->idle_s = seconds;
    st->last_io_ms = xs_now_ms();
    if (st->idle_ev == NULL && seconds > 0)
        st->idle_ev = event_new(xs_server()->base, -1, 0, stream_idle_cb, st);
    if (st->idle_ev == NULL)
        return;
    event_del(st->idle_ev);
    if (seconds > 0)
        event_add(st->idle_ev, &tv);
}

static void
stream_write_cb(struct bufferevent *bev, void *arg)
{
    struct xs_stream *st = arg;

    (void)bev;
    if (st->is_closing) {
        xs_stream_reap_later(st);
        return;
    }
    if (st->is_tls_pending && xs_stream_start_tls(st, false) == XS_OK &&
        st->ops->on_tls != NULL)
        st->ops->on_tls(st);
}

static void
stream_event_cb(struct bufferevent *bev, short what, void *arg)
{
    struct xs_stream *st = arg;
    char tag[300];

    if (what & BEV_EVENT_CONNECTED) {
        if (st->ops->on_connected != NULL)
            st->ops->on_connected(st);
        return;
    }
    if (what & BEV_EVENT_TIMEOUT) {
        xs_slog(st, XS_LOG_INFO, "%s: idle timeout%s", st->ops->name,
            stream_tag(st, tag, sizeof(tag)));
        xs_stream_close(st, st->ops->idle_err, NULL);
        return;
    }
    if (what & BEV_EVENT_ERROR) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char buf[256] = "";

        if (e != 0)
            ERR_error_string_n(e, buf, sizeof(buf));
        xs_slog(st, XS_LOG_INFO, "%s: %s error%s ip=%s%s%s", st->ops->name,
            e ? "tls" : "connection", stream_tag(st, tag, sizeof(tag)),
            st->peer_ip, e ? ": " : "", buf);
    } else if (what & BEV_EVENT_EOF) {
        xs_slog(st, XS_LOG_DEBUG, "%s: peer closed the connection",
            st->ops->name);
    }
    if (!(what & (BEV_EVENT_ERROR | BEV_EVENT_EOF)))
        return;
    if (!st->is_closing && st->ops->on_connect_failed != NULL &&
        st->ops->on_connect_failed(st))
        return;
    if (!st->is_closing) {
        /* Nothing more can be written: skip the goodbye. */
        st->is_closing = true;
        st->ops->on_closing(st, true);
    }
    xs_stream_reap_later(st);
}

static void
stream_read_cb(struct bufferevent *bev, void *arg)
{
    (void)bev;
    stream_pump(arg);
}

static void
stream_handle(struct xs_stream *st, struct xs_xml_ev *ev)
{
    switch (ev->type) {
    case XS_XEV_OPEN:
        st->ops->on_open(st, ev->el);
        break;
    case XS_XEV_ELEM:
        st->ops->on_elem(st, ev->el);
        break;
    case XS_XEV_CLOSE:
        st->ops->on_close(st);
        break;
    }
}

/*
 * A wait begins: counted always, reported (XS_EV_RATE_LIMITED) only about
 * a peer that proved who it is, and at most once a minute per stream.
 */
static void
stream_shaper_waits(struct xs_stream *st, uint64_t now)
{
    struct xs_ev_rate_limited ev;

    xs_core_stats.rate_limited[stream_stats_kind(st)]++;
    if (st->subject == NULL || (st->rate_event_ms != 0 &&
        now - st->rate_event_ms < STREAM_RATE_EVENT_MS))
        return;
    st->rate_event_ms = now;
    ev = (struct xs_ev_rate_limited){
        .subject = st->subject, .is_s2s = st->ops->is_s2s, .what = "shaper",
    };
    xs_event_fire(XS_EV_RATE_LIMITED, &ev);
}

/*
 * Token bucket on input bytes (ejabberd's shapers): returns how many bytes
 * may be read now, or 0 after scheduling the pump for when the bucket has
 * refilled (reading stays off meanwhile).
 */
static size_t
stream_shaper_allow(struct xs_stream *st, size_t want)
{
    uint64_t now = xs_now_ms();
    double rate = (double)st->shaper->rate;
    double burst = (double)st->shaper->burst_size;
    double wait_ms;
    struct timeval tv;

    st->shaper_tokens += rate * (double)(now - st->shaper_ms) / 1000.0;
    if (st->shaper_tokens > burst)
        st->shaper_tokens = burst;
    st->shaper_ms = now;
    if (st->shaper_tokens >= 1.0)
        return st->shaper_tokens < (double)want ? (size_t)st->shaper_tokens
                                                 : want;
    wait_ms = (1.0 - st->shaper_tokens) * 1000.0 / rate + 1.0;
    tv.tv_sec = (time_t)(wait_ms / 1000.0);
    tv.tv_usec = (suseconds_t)((uint64_t)wait_ms % 1000u) * 1000;
    bufferevent_disable(st->bev, EV_READ);
    event_add(st->pump_ev, &tv);
    stream_shaper_waits(st, now);
    return 0;
}

/* Whether the pump may handle input now. */
static bool
stream_may_pump(const struct xs_stream *st)
{
    return !st->is_closing && st->pause == 0 && !st->is_tls_pending &&
        st->bev != NULL;
}

/*
 * Feed input to the parser and handle its events, at most
 * XS_STANZAS_PER_TURN per call; what is left continues on the next loop
 * turn, so one busy peer cannot starve the others.
 */
static void
stream_pump(struct xs_stream *st)
{
    unsigned budget = XS_STANZAS_PER_TURN;
    struct evbuffer *in;

    while (budget > 0 && stream_may_pump(st)) {
        struct xs_xml_ev ev;
        char chunk[STREAM_FEED_CHUNK];
        enum xs_stream_err err;
        size_t want = sizeof(chunk);
        int n;

        if (xs_xml_pop(st->xml, &ev)) {
            stream_handle(st, &ev);
            budget--;
            continue;
        }
        in = bufferevent_get_input(st->bev);
        if (st->shaper != NULL && evbuffer_get_length(in) > 0 &&
            (want = stream_shaper_allow(st, want)) == 0)
            return;             /* shaped: the pump runs again later */
        n = evbuffer_remove(in, chunk, want);
        if (n <= 0)
            break;
        st->bytes_in += (uint64_t)n;
        st->last_io_ms = xs_now_ms();
        if (st->shaper != NULL)
            st->shaper_tokens -= n;
        err = xs_xml_feed(st->xml, chunk, (size_t)n);
        if (err != XS_STERR_NONE) {
            struct xs_xml *x = st->xml;

            xs_slog(st, XS_LOG_INFO, "%s: bad xml from ip=%s: %s",
                st->ops->name, st->peer_ip, xs_stream_err_name(err));
            /* What was complete before the fault is the peer's: handle
             * it (the FIFO is bounded by what one chunk can hold). */
            while (!st->is_closing && st->pause == 0 && st->xml == x &&
                xs_xml_pop(x, &ev))
                stream_handle(st, &ev);
            xs_stream_close_misbehaved(st, err, NULL);
            return;
        }
    }
    if (st->is_closing || st->is_tls_pending || st->bev == NULL)
        return;
    in = bufferevent_get_input(st->bev);
    if (st->pause == 0 &&
        (xs_xml_pending(st->xml) > 0 || evbuffer_get_length(in) > 0))
        event_active(st->pump_ev, EV_TIMEOUT, 0);
    /* Back-pressure: a full queue stops reading until it drains. */
    if (xs_xml_pending(st->xml) >= XS_STREAM_QUEUE_MAX)
        bufferevent_disable(st->bev, EV_READ);
    else
        bufferevent_enable(st->bev, EV_READ);
}

void
xs_stream_pause(struct xs_stream *st)
{
    st->pause++;
}

void
xs_stream_resume(struct xs_stream *st)
{
    xs_assert(st->pause > 0);
    if (--st->pause == 0 && !st->is_closing)
        event_active(st->pump_ev, EV_TIMEOUT, 0);
}

void
xs_stream_check_output(struct xs_stream *st, size_t soft_limit,
    size_t hard_limit, int soft_seconds)
{
    size_t len = evbuffer_get_length(bufferevent_get_output(st->bev));
    char tag[300];

    if (len > hard_limit) {
        xs_slog(st, XS_LOG_NOTICE, "%s: output over hard limit (%zu bytes)%s",
            st->ops->name, len, stream_tag(st, tag, sizeof(tag)));
        xs_stream_close(st, XS_STERR_POLICY_VIOLATION, "slow reader");
        return;
    }
    if (len <= soft_limit) {
        st->out_soft_since = 0;
    } else if (st->out_soft_since == 0) {
        st->out_soft_since = xs_now_ms();
    } else if (xs_now_ms() - st->out_soft_since >
        (uint64_t)soft_seconds * 1000u) {
        xs_slog(st, XS_LOG_NOTICE, "%s: output over soft limit too long "
            "(%zu bytes)%s", st->ops->name, len,
            stream_tag(st, tag, sizeof(tag)));
        xs_stream_close(st, XS_STERR_POLICY_VIOLATION, "slow reader");
    }
}

/* Our header (if not sent), the stream error, and our end tag. */
static void
stream_write_goodbye(struct xs_stream *st, enum xs_stream_err err,
    const char *text)
{
    struct evbuffer *out = bufferevent_get_output(st->bev);

    if (!st->is_stream_open) {
        /* RFC 6120 4.9.1.1: open our stream before the error. */
        char *hdr = st->ops->header(st);

        if (hdr == NULL)
            return;             /* not connected yet: nothing to say */
        evbuffer_add(out, hdr, strlen(hdr));
        xs_free(hdr);
        st->is_stream_open = true;
    }
    if (err != XS_STERR_NONE) {
        char *e = xs_stream_error_xml(err, text);

        evbuffer_add(out, e, strlen(e));
        xs_free(e);
        xs_core_stats.stream_errors[stream_stats_kind(st)]++;
    }
    evbuffer_add(out, "</stream:stream>", 16);
}

void
xs_stream_close(struct xs_stream *st, enum xs_stream_err err,
    const char *text)
{
    struct timeval tv = {
        .tv_sec = STREAM_CLOSE_GRACE_MS / 1000,
        .tv_usec = (STREAM_CLOSE_GRACE_MS % 1000) * 1000,
    };
    char tag[300];

    if (st->is_closing)
        return;
    if (err != XS_STERR_NONE)
        xs_slog(st, XS_LOG_INFO, "%s: closing with stream error %s%s%s%s "
            "ip=%s", st->ops->name, xs_stream_err_name(err),
            text ? ": " : "", text ? text : "",
            stream_tag(st, tag, sizeof(tag)), st->peer_ip);
    else
        xs_slog(st, XS_LOG_DEBUG, "%s: closing%s", st->ops->name,
            stream_tag(st, tag, sizeof(tag)));
    if (st->bev != NULL && !st->is_tls_pending)
        stream_write_goodbye(st, err, text);
    st->is_closing = true;
    st->ops->on_closing(st, false);

    if (st->bev == NULL ||
        evbuffer_get_length(bufferevent_get_output(st->bev)) == 0) {
        xs_stream_reap_later(st);
        return;
    }
    bufferevent_disable(st->bev, EV_READ);
    bufferevent_set_timeouts(st->bev, NULL, NULL);
    event_del(st->timer_ev);
    event_add(st->timer_ev, &tv);
}

void
xs_stream_close_misbehaved(struct xs_stream *st, enum xs_stream_err err,
    const char *text)
{
    if (!st->is_closing && st->ops->is_s2s && st->subject != NULL &&
        err != XS_STERR_NONE) {
        struct xs_ev_s2s_misbehaved ev = {
            .domain = st->subject, .reason = xs_stream_err_name(err),
        };

        xs_event_fire(XS_EV_S2S_MISBEHAVED, &ev);
    }
    xs_stream_close(st, err, text);
}
