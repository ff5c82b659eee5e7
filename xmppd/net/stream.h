/*
 * stream.h: the connection half of an XML stream, shared by c2s and s2s:
 * the bufferevent (plain, STARTTLS or direct TLS), the input pump that
 * feeds expat in chunks with a per-turn stanza budget, back-pressure and
 * a pause counter, the input shaper (token bucket), output limits, closing
 * with a stream error, and the deferred reap.
 *
 * A struct xs_stream is embedded in its owner (struct xs_session,
 * struct s2s_conn); the owner gives a static table of callbacks (ops) and
 * recovers itself from the stream pointer with xs_container_of().
 *
 * Ownership: the owner allocates itself and calls xs_stream_init(); it
 * never frees itself directly.  A closing (or failed) stream goes on the
 * reap list; the reaper, once the current callbacks have returned, calls
 * ops->on_free(), the owner's one free path, which calls xs_stream_fini().
 */
#ifndef XMPPD_NET_STREAM_H
#define XMPPD_NET_STREAM_H

#include "xmppd/core/acl.h"
#include "xmppd/core/xs.h"
#include "xmppd/xml/parser.h"
#include "xmppd/xml/stanza.h"

#include <stddef.h>

struct bufferevent;
struct event;
struct ssl_st;                  /* OpenSSL's SSL */
struct xs_stream;

/* Stanzas handled per stream per loop turn, for fairness. */
#define XS_STANZAS_PER_TURN 32
/* Parsed events kept before we stop reading the socket. */
#define XS_STREAM_QUEUE_MAX 64
/* Bytes of unparsed input buffered before libevent stops reading. */
#define XS_READ_HIWAT (64 * 1024)

/* The owner's struct from a pointer to its embedded member. */
#define xs_container_of(ptr, type, member)                              \
    ((type *)(void *)((char *)(ptr) - offsetof(type, member)))

struct xs_stream_ops {
    const char *name;           /* "c2s", "s2s": the log prefix */
    /* The parser limits for a new stream (attach, restart). */
    void  (*xml_limits)(const struct xs_stream *st,
              struct xs_xml_limits *lim);
    /* Parsed events, in order and outside expat; each takes el. */
    void  (*on_open)(struct xs_stream *st, struct xs_elem *el);
    void  (*on_elem)(struct xs_stream *st, struct xs_elem *el);
    void  (*on_close)(struct xs_stream *st);   /* the peer's end tag */
    /* Our stream header, written before a stream error if we have not
     * sent ours (caller frees); NULL when nothing may be written yet. */
    char *(*header)(const struct xs_stream *st);
    /* The stream started closing (once; is_closing is already set):
     * after xs_stream_close(), or is_peer_gone when the connection
     * failed or the peer closed it. */
    void  (*on_closing)(struct xs_stream *st, bool is_peer_gone);
    /* The reaper's call: free the owner (which calls xs_stream_fini). */
    void  (*on_free)(struct xs_stream *st);
    /* A new SSL for this stream (NULL: no TLS context). */
    struct ssl_st *(*ssl_new)(struct xs_stream *st);
    /* Optional.  The handshake deadline passed (before the close). */
    void  (*on_timeout)(struct xs_stream *st);
    /* Optional.  STARTTLS after <proceed/> is done (new parser). */
    void  (*on_tls)(struct xs_stream *st);
    /* Optional.  Outbound TCP (or TLS) connected. */
    void  (*on_connected)(struct xs_stream *st);
    /* Optional.  The connection failed or ended: true if the owner took
     * it (an outbound connect that fails over), false to close. */
    bool  (*on_connect_failed)(struct xs_stream *st);
    /* Optional.  Bytes left the output buffer (bytes_out grew). */
    void  (*on_written)(struct xs_stream *st);
    /* Optional.  The peer's name for log lines (" remote=..."). */
    const char *(*peer_name)(const struct xs_stream *st);
    /* The stream error for an idle timeout (bufferevent read/write). */
    enum xs_stream_err idle_err;
    /* Server to server: the core's counters (xs_core_stats) and events
     * say which kind of stream this is. */
    bool  is_s2s;
};

struct xs_stream {
    uint64_t                 id;        /* the owner's id, for log lines */
    const struct xs_stream_ops *ops;    /* borrowed: a static table */
    const char              *peer_ip;   /* borrowed: the owner's text */
    struct bufferevent      *bev;       /* owned */
    int                      fd;        /* closed by us unless is_tls
                                           (the TLS bufferevent owns it) */
    struct xs_xml           *xml;       /* owned: the current parser */
    struct event            *pump_ev;   /* owned: continues input later */
    struct event            *timer_ev;  /* owned: handshake, then close
                                           grace */
    unsigned                 pause;     /* pause counter: no draining */
    bool                     is_tls;
    bool                     is_tls_pending;    /* <proceed/> queued */
    bool                     is_stream_open;    /* we sent our header */
    bool                     is_closing;
    uint64_t                 bytes_in;  /* read from the connection */
    uint64_t                 bytes_out; /* taken from the output buffer */
    uint64_t                 out_soft_since;    /* ms; 0 when under */
    const struct xs_shaper  *shaper;    /* borrowed from the config */
    double                   shaper_tokens;     /* bytes we may read */
    uint64_t                 shaper_ms;         /* last refill */
    struct xs_stream        *reap_next; /* borrowed: reap list link */
    int                      idle_s;    /* 0: no idle timeout */
    uint64_t                 last_io_ms;        /* last byte in or out */
    struct event            *idle_ev;   /* owned: idle check, or NULL */
    bool                     is_reaping;        /* on the reap list */
    bool                     is_listed;         /* in the all-list */
    char                    *subject;   /* owned: who the peer proved to
                                           be (xs_stream_set_subject);
                                           NULL: nobody yet */
    uint64_t                 rate_event_ms;     /* last RATE_LIMITED
                                                   event; 0: none */
    struct xs_stream        *all_prev, *all_next;  /* borrowed: every
                                           stream not yet freed */
};

/* Set up an embedded stream (no connection yet); peer_ip is borrowed. */
void  xs_stream_init(struct xs_stream *st, uint64_t id,
          const struct xs_stream_ops *ops, const char *peer_ip);
/* Release what the stream holds (the owner's free path only). */
void  xs_stream_fini(struct xs_stream *st);

/* Take a connected or accepted socket (ours from now on) with a new
 * parser; direct TLS when is_tls (XS_EIO: no TLS context). */
xs_rc xs_stream_attach(struct xs_stream *st, int fd, bool is_tls,
          bool is_client);
/* Drop the connection (outbound fail-over): bufferevent, fd, parser. */
void  xs_stream_detach(struct xs_stream *st);
/* A new parser for a restarted stream; our header is to be sent again. */
void  xs_stream_restart(struct xs_stream *st);

/* <proceed/> is queued: stop reading (the ClientHello stays in the
 * kernel) and switch to TLS once it has been written; then on_tls. */
void  xs_stream_tls_pending(struct xs_stream *st);
/* Switch to TLS now: closes the stream on failure. */
xs_rc xs_stream_start_tls(struct xs_stream *st, bool is_client);

/* The shaper for input bytes (NULL: none); a first one starts full. */
void  xs_stream_set_shaper(struct xs_stream *st,
          const struct xs_shaper *shaper);
/* (Re)arm the handshake deadline; seconds <= 0 only cancels it. */
void  xs_stream_set_deadline(struct xs_stream *st, int seconds);
/* Close with ops->idle_err after seconds without a byte in either
 * direction (0: never).  Unlike a bufferevent timeout it also ends a
 * stream we only write to, once nothing is written. */
void  xs_stream_set_idle(struct xs_stream *st, int seconds);

/*
 * Who the peer has proved to be: the bound account's bare JID (c2s) or
 * the first authenticated remote domain (s2s).  From then on, a shaper
 * wait fires XS_EV_RATE_LIMITED and xs_stream_close_misbehaved() fires
 * XS_EV_S2S_MISBEHAVED about it.  subject is copied.
 */
void  xs_stream_set_subject(struct xs_stream *st, const char *subject);

void  xs_stream_pause(struct xs_stream *st);
void  xs_stream_resume(struct xs_stream *st);

/* Close with a stream error if over the output limits. */
void  xs_stream_check_output(struct xs_stream *st, size_t soft_limit,
          size_t hard_limit, int soft_seconds);

/*
 * End the stream: our header if not sent, the stream error (XS_STERR_NONE
 * for a clean close) and </stream:stream>; stop reading, and reap once
 * the output has drained or after a short grace.  Safe more than once
 * and from inside the stream's own callbacks.
 */
void  xs_stream_close(struct xs_stream *st, enum xs_stream_err err,
          const char *text);
/*
 * xs_stream_close() for a stream error caused by what the peer sent (bad
 * XML, a stanza it may not send).  On an s2s stream with a subject, that
 * is evidence against the authenticated domain: XS_EV_S2S_MISBEHAVED,
 * then the close.  Before authentication it is a plain close (see
 * hooks.h on why).
 */
void  xs_stream_close_misbehaved(struct xs_stream *st, enum xs_stream_err err,
          const char *text);
/* Reap without a goodbye (a stream that never got going). */
void  xs_stream_reap_later(struct xs_stream *st);
/* Free what is on the reap list now, and the reaper (at exit). */
/* At exit, after the loop: free every stream not yet freed, those still
 * in their close grace period included. */
void  xs_stream_reap_all(void);
/* Streams not yet freed (closing ones included). */
size_t xs_stream_count(void);

#endif
