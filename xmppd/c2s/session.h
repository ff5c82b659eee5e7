/*
 * session.h: a client connection and its stream, from accept to reaping.
 *
 * Ownership: a session is created in session.c and destroyed only there,
 * by the reaper, after xs_session_close() has queued the stream's end and
 * the current callbacks have returned.  Async work never keeps a session
 * pointer: it keeps s->id and calls xs_session_by_id(), which returns NULL
 * once the session is closing.
 */
#ifndef XMPPD_C2S_SESSION_H
#define XMPPD_C2S_SESSION_H

#include "xmppd/core/conf.h"
#include "xmppd/core/module.h"
#include "xmppd/net/stream.h"
#include "xmppd/xml/jid.h"
#include "xmppd/xml/parser.h"
#include "xmppd/xml/stanza.h"

#include <sys/socket.h>

struct bufferevent;
struct event;
struct xs_sasl;
struct xs_session_flush;

enum xs_c2s_state {
    XS_C2S_WAIT_STREAM,     /* waiting for the client's stream header */
    XS_C2S_TLS_SWITCH,      /* <proceed/> queued, waiting for it to flush */
    XS_C2S_AUTHENTICATING,  /* features sent, SASL not done */
    XS_C2S_AUTHENTICATED,   /* SASL done, waiting for bind */
    XS_C2S_BOUND,           /* resource bound: routing stanzas */
};

/* Parsed events kept before we stop reading the socket. */
#define XS_SESSION_QUEUE_MAX XS_STREAM_QUEUE_MAX

struct xs_session {
    uint64_t                 id;
    enum xs_c2s_state        state;
    struct xs_stream         st;        /* the connection: bufferevent,
                                           parser, pump, limits, close */
    const struct xs_listen_conf *lconf; /* borrowed from the config */
    struct event            *delay_ev;  /* owned: delayed SASL failure */
    char                     stream_id[33];
    char                    *host;      /* owned: the domain this stream is to */
    char                    *user;      /* owned: authenticated localpart */
    struct xs_jid           *jid;       /* owned: full JID once bound */
    struct xs_sasl          *sasl;      /* owned: during authentication */
    char                     peer_ip[64];
    unsigned                 auth_failures;
    bool                     is_closing;    /* mirrors st.is_closing (set
                                               in the same call) for the
                                               modules that read it */
    bool                     is_available;      /* sent available presence */
    int                      priority;
    struct xs_stanza        *presence;  /* owned: last broadcast presence */
    struct sockaddr_storage  peer_addr;
    struct xs_session_flush *flush_waits;   /* owned: FIFO of
                                               xs_session_on_flushed() */
    struct event            *flush_ev;  /* owned: runs the waits that
                                           are due; NULL until the first */
};

/* Accept a connection from a c2s listener (the fd is ours from now on). */
void xs_session_accept(int fd, const struct sockaddr *sa, socklen_t salen,
         const struct xs_listen_conf *lconf);

struct xs_session *xs_session_by_id(uint64_t id);
size_t             xs_session_count(void);      /* every connection */

/*
 * Queue a stanza to the client (runs XS_HOOK_C2S_OUT first).  Takes the
 * caller's reference to st.  Closes the session if its output is over the
 * configured limits.
 */
void xs_session_send(struct xs_session *s, struct xs_stanza *st);
/* Queue raw, already serialized XML (stream-level elements). */
void xs_session_send_raw(struct xs_session *s, const char *xml);

/*
 * Call cb(true, udata) once every byte queued to the client so far has
 * left the output buffer (written to the socket, or to TLS, which wrote
 * it to the socket), or cb(false, udata) if the session is freed first.
 * Bytes queued later do not delay it.  cb runs later from the event loop,
 * never from inside this call, exactly once; it gets no session pointer
 * (keep s->id).  Written means handed to the kernel, not acknowledged by
 * the client.
 */
typedef void xs_session_flushed_fn(bool is_written, void *udata);
void xs_session_on_flushed(struct xs_session *s, xs_session_flushed_fn *cb,
         void *udata);

/* Stop and restart draining stanzas while async work is pending. */
void xs_session_pause(struct xs_session *s);
void xs_session_resume(struct xs_session *s);

/*
 * End the stream: write the stream error (XS_STERR_NONE for a clean close)
 * and </stream:stream>, stop reading, and free the session once the output
 * has drained (or after a short timeout).  Safe to call more than once and
 * from inside the session's own callbacks.
 */
void xs_session_close(struct xs_session *s, enum xs_stream_err err,
         const char *text);

/* Close every session with system-shutdown; calls done() once all are
 * gone (or after a timeout). */
void xs_session_close_all(enum xs_stream_err err, void (*done)(void));

/* Choose the input shaper (listener `shaper`, evaluated for the peer's
 * address and, once known, its user). */
void xs_session_apply_shaper(struct xs_session *s);

/* Internal to c2s/: restart the stream (new parser) after TLS or SASL. */
void xs_session_restart_stream(struct xs_session *s);
/* Internal to c2s/: switch to TLS once <proceed/> has been written. */
void xs_session_start_tls(struct xs_session *s);

#endif
