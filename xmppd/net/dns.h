/*
 * dns.h: asynchronous name resolution on the event loop, for s2s.
 *
 * Built on c-ares (Debian's libc-ares): libevent 2.1's evdns resolves
 * A/AAAA/PTR only and has no SRV API, and a hand-written DNS parser is
 * exactly what the house rule says not to write.  c-ares runs on our loop:
 * its sockets are watched with libevent events and its timeouts with one
 * timer, so nothing here blocks.
 *
 * Requests complete later, from the loop, exactly once, unless cancelled
 * first (then never).  Results are owned by the callee: copy what you keep.
 */
#ifndef XMPPD_NET_DNS_H
#define XMPPD_NET_DNS_H

#include "xmppd/core/xs.h"

#include <sys/socket.h>

struct event_base;
struct xs_dns_req;

/* Where to connect for a domain's s2s service (RFC 6120 3.2, XEP-0368). */
struct xs_dns_target {
    char    *host;              /* owned by the result */
    int      port;
    bool     is_direct_tls;     /* from _xmpps-server._tcp */
};

/*
 * Start the resolver: nameservers as "ip", "ip:port" or "[ip6]:port"
 * (n == 0: /etc/resolv.conf).  XS_EINVAL with a log line on a bad list.
 */
xs_rc xs_dns_init(struct event_base *base, const char *const *nameservers,
          size_t n);
/* Cancel everything pending (no callbacks) and stop. */
void  xs_dns_fini(void);

/*
 * The s2s targets of domain, in the order to try them: the SRV records of
 * _xmpps-server._tcp and _xmpp-server._tcp merged (RFC 2782 order:
 * priority, then a weighted random pick; direct TLS first on a tie of
 * priority), or the domain itself on port 5269 when neither has records.
 * rc: XS_OK (n >= 1), XS_ENOTFOUND (the domain says "no service": a single
 * "." target), XS_EIO (the lookups failed).
 */
typedef void xs_dns_srv_fn(xs_rc rc, const struct xs_dns_target *t,
    size_t n, void *udata);
struct xs_dns_req *xs_dns_s2s_targets(const char *domain, xs_dns_srv_fn *cb,
    void *udata);

/*
 * The A and AAAA addresses of host (an IP literal is returned as is), with
 * port set in each.  rc: XS_OK (n >= 1), XS_ENOTFOUND, XS_EIO.
 */
struct xs_dns_addr {
    struct sockaddr_storage ss;
    socklen_t               len;
};
typedef void xs_dns_addr_fn(xs_rc rc, const struct xs_dns_addr *a, size_t n,
    void *udata);
struct xs_dns_req *xs_dns_addrs(const char *host, int port,
    xs_dns_addr_fn *cb, void *udata);

/* Forget a pending request: its callback will not run.  NULL is fine. */
void xs_dns_cancel(struct xs_dns_req *r);

/*
 * Order SRV targets in place as RFC 2782 says (lowest priority first; in a
 * priority, a running-sum weighted random order; zero weights last, in
 * random order; direct TLS before plain at equal priority).  `rnd` gives a
 * uniform number in [0, bound); exposed for unit tests.
 */
struct xs_dns_srv_rec {
    struct xs_dns_target t;
    unsigned priority;
    unsigned weight;
};
void xs_dns_srv_order(struct xs_dns_srv_rec *v, size_t n,
    uint32_t (*rnd)(uint32_t bound));

#endif
