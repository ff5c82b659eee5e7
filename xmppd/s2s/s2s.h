/*
 * s2s.h: server-to-server streams (RFC 6120), the public face of
 * xmppd/s2s/ for the router, main.c, the admin verbs and access control.
 *
 * Outgoing streams are opened on demand, one per (local host, remote
 * domain) pair, when the router has a stanza for a remote domain; stanzas
 * wait in a bounded queue while the stream comes up (DNS, TCP, STARTTLS,
 * SASL EXTERNAL or dialback).  Incoming streams arrive on `listen` entries
 * with `module: s2s`.  Every stanza in either direction runs its hook
 * chain (XS_HOOK_S2S_IN / XS_HOOK_S2S_OUT).
 *
 * Stable API: the admin verbs and access control code against it.
 */
#ifndef XMPPD_S2S_S2S_H
#define XMPPD_S2S_S2S_H

#include "xmppd/core/hooks.h"
#include "xmppd/core/server.h"

#include <sys/socket.h>

enum xs_s2s_dir {
    XS_S2S_IN,                  /* the peer connected to us */
    XS_S2S_OUT,                 /* we connected to the peer */
};

enum xs_s2s_auth {
    XS_S2S_AUTH_NONE,           /* not (yet) authenticated */
    XS_S2S_AUTH_EXTERNAL,       /* SASL EXTERNAL with a verified cert */
    XS_S2S_AUTH_DIALBACK,       /* XEP-0220 */
};

/* One live stream, as seen by xs_s2s_list(): every pointer is borrowed
 * and valid only during the callback. */
struct xs_s2s_info {
    uint64_t          id;               /* unique per process */
    enum xs_s2s_dir   dir;
    const char       *local_domain;     /* our host */
    const char       *remote_domain;    /* the peer's domain (for an
                                           inbound stream: the first one
                                           it authenticated, or the
                                           header's 'from'; may be "") */
    enum xs_s2s_auth  auth;
    bool              is_authenticated;
    const char       *tls_version;      /* "TLSv1.3"..., NULL: plain */
    bool              is_cert_verified; /* the peer's certificate verified
                                           for remote_domain */
    const char       *peer_ip;          /* "" before connect */
    int               peer_port;
    uint64_t          bytes_in;
    uint64_t          bytes_out;
    uint64_t          stanzas_in;
    uint64_t          stanzas_out;
    int64_t           age_s;            /* seconds since the TCP connect
                                           or accept started */
    size_t            queued;           /* stanzas waiting (outbound) */
    bool              is_bidi;          /* XEP-0288: stanzas go both
                                           ways on this stream */
};

typedef void xs_s2s_visit_fn(const struct xs_s2s_info *info, void *udata);

/*
 * Call fn once per live stream (not closing), in no particular order;
 * returns how many.  fn must not open or close streams.
 */
size_t xs_s2s_list(xs_s2s_visit_fn *fn, void *udata);

/*
 * Close every stream with remote_domain (in or out, case-insensitive),
 * with the stream error policy-violation and `reason` as its text (may be
 * NULL); stanzas queued for that domain bounce with
 * remote-server-not-found.  Returns how many streams were closed.  Safe
 * from any callback on the loop (closing is deferred as for c2s).
 */
size_t xs_s2s_close_domain(const char *remote_domain, const char *reason);

/*
 * Access control: whether we federate with remote_domain at all.  Called
 * before an outbound stream is opened and before an inbound stream's
 * authentication (SASL EXTERNAL or a dialback pair) is accepted.  Defined
 * in s2s/access.c (default: the `s2s_access` rule with xs_access_eval,
 * subject server = remote_domain).  Must not block.
 */
bool xs_s2s_domain_allowed(const char *remote_domain);

/*
 * The router's remote-domain branch: ctx->to->domain is not one of our
 * hosts.  Runs XS_HOOK_S2S_OUT (now, or when the stream is up) and queues
 * or writes the stanza: XS_STOLEN.  XS_BOUNCE with ctx->err when it cannot
 * be sent (remote-server-not-found: no route, refused by access control,
 * queue full: resource-constraint).
 */
enum xs_verdict xs_s2s_route(struct xs_stanza_ctx *ctx);

/* A connection accepted on a `module: s2s` listener (the fd is ours). */
void  xs_s2s_accept(int fd, const struct sockaddr *sa, socklen_t salen,
          const struct xs_listen_conf *lconf);

/* Start federation: the resolver (dns_nameservers) and the dialback
 * secret.  XS_EINVAL with a log line on a bad setting. */
xs_rc xs_s2s_start(struct xs_server *srv);
/* Close every stream with system-shutdown (queued stanzas bounce). */
void  xs_s2s_close_all(void);
/* Free what is left (after the loop has ended). */
void  xs_s2s_free(void);

#endif
