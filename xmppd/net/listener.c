/* listener.c: accept client connections and hand them to c2s/session.c. */
#include "xmppd/net/listener.h"

#include "xmppd/c2s/session.h"
#include "xmppd/s2s/s2s.h"

#include <arpa/inet.h>
#include <errno.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

/* A full accept queue is the kernel's business; ours is a bounded pause. */
#define LISTENER_BACKLOG 1024
#define LISTENER_EMFILE_PAUSE_MS 100

struct listener {
    struct evconnlistener       *lev;   /* owned */
    struct event                *resume_ev;  /* owned */
    const struct xs_listen_conf *lconf; /* borrowed */
};

static struct listener *listeners;      /* owned array */
static size_t nlisteners;

static void
listener_accept_cb(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
    struct listener *l = arg;
    int one = 1;

    (void)lev;
    /* XMPP is request/response over TLS records: Nagle's algorithm with
     * delayed ACKs adds 40 ms to each round trip of a login. */
    if (setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) != 0)
        xs_log(XS_LOG_DEBUG, "listener: TCP_NODELAY: %s", strerror(errno));
    if (l->lconf->module == XS_LISTEN_S2S)
        xs_s2s_accept(fd, sa, (socklen_t)salen, l->lconf);
    else
        xs_session_accept(fd, sa, (socklen_t)salen, l->lconf);
}

static void
listener_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    struct listener *l = arg;

    (void)fd, (void)what;
    evconnlistener_enable(l->lev);
}

static void
listener_error_cb(struct evconnlistener *lev, void *arg)
{
    struct listener *l = arg;
    int err = EVUTIL_SOCKET_ERROR();
    struct timeval tv = { .tv_usec = LISTENER_EMFILE_PAUSE_MS * 1000 };

    /* Out of descriptors: stop accepting for a moment instead of spinning. */
    xs_log(XS_LOG_WARN, "c2s: accept failed on port %d: %s", l->lconf->port,
        evutil_socket_error_to_string(err));
    evconnlistener_disable(lev);
    event_add(l->resume_ev, &tv);
}

static xs_rc
listener_addr(const struct xs_listen_conf *lc, struct sockaddr_storage *ss,
    socklen_t *len)
{
    struct sockaddr_in *in4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)ss;

    memset(ss, 0, sizeof(*ss));
    if (inet_pton(AF_INET, lc->ip, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons((uint16_t)lc->port);
        *len = sizeof(*in4);
        return XS_OK;
    }
    if (inet_pton(AF_INET6, lc->ip, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons((uint16_t)lc->port);
        *len = sizeof(*in6);
        return XS_OK;
    }
    return XS_EINVAL;
}

xs_rc
xs_listeners_start(struct xs_server *srv)
{
    const struct xs_conf *conf = srv->conf;

    listeners = xs_calloc(conf->nlisten, sizeof(*listeners));
    for (size_t i = 0; i < conf->nlisten; i++) {
        const struct xs_listen_conf *lc = &conf->listen[i];
        struct listener *l = &listeners[nlisteners];
        struct sockaddr_storage ss;
        socklen_t len;

        if (lc->module != XS_LISTEN_C2S && lc->module != XS_LISTEN_S2S)
            continue;
        if (listener_addr(lc, &ss, &len) != XS_OK) {
            xs_log(XS_LOG_ERR, "c2s: bad listen address %s", lc->ip);
            return XS_EINVAL;
        }
        if ((lc->is_tls || lc->has_starttls) && srv->tls == NULL) {
            xs_log(XS_LOG_ERR, "c2s: port %d needs TLS but no certificate "
                "is loaded", lc->port);
            return XS_EINVAL;
        }
        l->lconf = lc;
        l->lev = evconnlistener_new_bind(srv->base, listener_accept_cb, l,
            LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
            LEV_OPT_CLOSE_ON_EXEC, LISTENER_BACKLOG, (struct sockaddr *)&ss,
            (int)len);
        if (l->lev == NULL) {
            xs_log(XS_LOG_ERR, "c2s: cannot listen on %s port %d: %s", lc->ip,
                lc->port, strerror(errno));
            return XS_EIO;
        }
        l->resume_ev = event_new(srv->base, -1, 0, listener_resume_cb, l);
        evconnlistener_set_error_cb(l->lev, listener_error_cb);
        nlisteners++;
        xs_log(XS_LOG_INFO, "%s: listening on %s port %d%s",
            lc->module == XS_LISTEN_S2S ? "s2s" : "c2s", lc->ip, lc->port,
            lc->is_tls ? " (direct TLS)" : "");
    }
    return XS_OK;
}

void
xs_listeners_stop(void)
{
    for (size_t i = 0; i < nlisteners; i++) {
        evconnlistener_free(listeners[i].lev);
        event_free(listeners[i].resume_ev);
    }
    xs_free(listeners);
    listeners = NULL;
    nlisteners = 0;
}
