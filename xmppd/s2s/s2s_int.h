/*
 * s2s_int.h: internal to xmppd/s2s/: one server-to-server connection
 * (conn.c: on a shared stream, net/stream.c: bufferevent, TLS, input
 * pump, output limits, close and reap)
 * and the protocol halves that drive it (in.c: streams peers open to us;
 * out.c: streams we open, their queues, and dialback verifications).
 *
 * Ownership: conn.c creates and frees connections; a closing connection
 * is freed by the stream reaper after the current callbacks return.  Deferred
 * work keeps c->id and calls s2s_conn_by_id().
 */
#ifndef XMPPD_S2S_S2S_INT_H
#define XMPPD_S2S_S2S_INT_H

#include "xmppd/net/stream.h"
#include "xmppd/s2s/s2s.h"
#include "xmppd/xml/parser.h"

#include <sys/socket.h>

struct bufferevent;
struct event;
struct s2s_route;

#define S2S_NS_DIALBACK "jabber:server:dialback"
#define S2S_NS_DB_FEATURE "urn:xmpp:features:dialback"
#define S2S_NS_TLS "urn:ietf:params:xml:ns:xmpp-tls"
#define S2S_NS_SASL "urn:ietf:params:xml:ns:xmpp-sasl"
#define S2S_NS_BIDI "urn:xmpp:bidi"
#define S2S_NS_BIDI_FEATURE "urn:xmpp:features:bidi"

enum s2s_kind {
    S2S_IN,                     /* a peer's stream to us */
    S2S_OUT,                    /* our stream for a route (stanzas) */
    S2S_VERIFY,                 /* our stream to an authoritative server,
                                   for one db:verify */
};

enum s2s_state {
    S2S_CONNECTING,             /* out: TCP (and direct TLS) */
    S2S_WAIT_STREAM,            /* waiting for the peer's header */
    S2S_WAIT_FEATURES,          /* out: header seen */
    S2S_TLS_SWITCH,             /* in: <proceed/> queued, flushing */
    S2S_WAIT_PROCEED,           /* out: <starttls/> sent */
    S2S_WAIT_SASL,              /* out: <auth/> sent */
    S2S_WAIT_DIALBACK,          /* out: db:result or db:verify sent */
    S2S_OPEN,                   /* in: features sent; out: authenticated */
};

/* An authenticated (remote, local) pair: on an inbound stream, the peer
 * may send from remote to local (and with XEP-0288 we may send back from
 * local to remote); on a bidirectional outbound stream, the reverse of
 * the pair we authenticated, which the peer may send us. */
struct s2s_pair {
    char *remote;               /* owned */
    char *local;                /* owned */
};

struct s2s_conn {
    uint64_t             id;
    enum s2s_kind        kind;
    enum s2s_state       state;
    struct xs_stream     st;        /* the connection: bufferevent,
                                       parser, pump, limits, close */
    const struct xs_listen_conf *lconf; /* borrowed; inbound only */
    char                 stream_id[128];    /* in: ours (32 chars);
                                               out: the peer's */
    char                *local;     /* owned: our domain ("" unknown) */
    char                *remote;    /* owned: the peer's domain */
    struct s2s_pair     *pairs;     /* owned; inbound, or outbound
                                       with is_bidi once authenticated */
    size_t               npairs;
    enum xs_s2s_auth     auth;
    bool                 is_cert_verified;  /* for `remote` */
    bool                 is_sasl_done;      /* in: EXTERNAL succeeded */
    bool                 peer_has_dialback; /* out: offered or declared */
    bool                 is_bidi;   /* XEP-0288 negotiated: in: the peer
                                       sent <bidi/>; out: we did */
    char                 peer_ip[64];
    int                  peer_port;
    struct sockaddr_storage peer_addr;
    uint64_t             started_ms;
    uint64_t             stanzas_in, stanzas_out;
    /* out and verify */
    struct s2s_route    *route;     /* borrowed; NULL once detached */
    struct xs_dns_req   *dns;       /* owned (cancel) */
    struct xs_dns_target *targets;  /* owned, with their hosts */
    size_t               ntargets, target_i;
    struct xs_dns_addr  *addrs;     /* owned */
    size_t               naddrs, addr_i;
    bool                 is_direct_tls;
    /* verify: the inbound stream and the request it answers */
    uint64_t             verify_for;    /* inbound conn id */
    char                *verify_id;     /* owned: the stream id */
    char                *verify_key;    /* owned */
    bool                 is_verify_sent;
};

/* ---- conn.c ---- */
struct s2s_conn *s2s_conn_new(enum s2s_kind kind);
struct s2s_conn *s2s_conn_by_id(uint64_t id);
/* Take a connected (or accepted) socket; direct TLS when is_tls. */
xs_rc s2s_conn_attach(struct s2s_conn *c, int fd, bool is_tls);
/* Start TLS on the current socket (after <proceed/>). */
xs_rc s2s_conn_start_tls(struct s2s_conn *c);
void  s2s_conn_restart_stream(struct s2s_conn *c);
void  s2s_conn_write(struct s2s_conn *c, const char *xml, size_t len);
#define s2s_conn_write_lit(c, lit) s2s_conn_write((c), (lit), sizeof(lit) - 1)
/* Serialize a stanza (in jabber:server), counting it; checks limits. */
void  s2s_conn_send_stanza(struct s2s_conn *c, struct xs_stanza *st);
void  s2s_conn_close(struct s2s_conn *c, enum xs_stream_err err,
          const char *text);
/* Close for what the peer sent: once its domain has authenticated (the
 * stream's subject), XS_EV_S2S_MISBEHAVED about it first.  Not for our
 * own reasons (access policy, shutdown, limits on our side). */
void  s2s_conn_close_misbehaved(struct s2s_conn *c, enum xs_stream_err err,
          const char *text);
/* The header we send (caller frees). */
char *s2s_conn_header(const struct s2s_conn *c);
/* Whether the peer's certificate chains to s2s_cafile and names domain. */
bool  s2s_conn_cert_ok(const struct s2s_conn *c, const char *domain);
void  s2s_conn_handshake_timer(struct s2s_conn *c);
void  s2s_conn_idle_timer(struct s2s_conn *c);
/* Every live connection, for list/close_domain; fn may close c. */
void  s2s_conn_each(void (*fn)(struct s2s_conn *c, void *udata),
          void *udata);
/* Serialize the attribute safely: ` name='value'`. */
void  s2s_attr(struct evbuffer *b, const char *name, const char *value);

/* ---- in.c (and xs_s2s_accept) ---- */
void s2s_in_on_open(struct s2s_conn *c, struct xs_elem *el);
void s2s_in_on_elem(struct s2s_conn *c, struct xs_elem *el);
void s2s_in_after_tls(struct s2s_conn *c);
/* The answer to our db:verify for inbound stream id: type "valid",
 * "invalid", or NULL with err (verification failed). */
void s2s_in_verified(uint64_t in_id, const char *remote, const char *local,
         const char *type, enum xs_stanza_err err);
/* An untyped db:result or db:verify (a request) on c: an inbound stream,
 * or a bidirectional outbound one (verify answered, result refused with
 * a dialback error).  Takes el. */
void s2s_in_dialback(struct s2s_conn *c, struct xs_elem *el);
/* A stanza (jabber:server) from the peer on c: an inbound stream, or a
 * bidirectional outbound one; checks the authenticated pairs.  Takes el. */
void s2s_in_stanza(struct s2s_conn *c, struct xs_elem *el);

/* ---- out.c ---- */
void s2s_out_on_open(struct s2s_conn *c, struct xs_elem *el);
void s2s_out_on_elem(struct s2s_conn *c, struct xs_elem *el);
void s2s_out_connected(struct s2s_conn *c);
/* TCP connect (or direct TLS) failed: try the next address. */
void s2s_out_connect_failed(struct s2s_conn *c);
/* The connection failed or closed: fail over, or fail the route. */
void s2s_out_on_gone(struct s2s_conn *c, enum xs_stanza_err err);
/* XEP-0288: inbound stream c (is_bidi) authenticated (remote, local):
 * stanzas from local to remote go over c from now on. */
void s2s_out_bidi_attach(struct s2s_conn *c, const char *local,
         const char *remote);
/* Inbound bidi stream c is closing: its routes go back to outbound
 * streams. */
void s2s_out_bidi_detach(struct s2s_conn *c);
/* Start a db:verify towards the authoritative server of `remote`. */
void s2s_out_verify(uint64_t in_id, const char *local, const char *remote,
         const char *stream_id, const char *key);

#endif
