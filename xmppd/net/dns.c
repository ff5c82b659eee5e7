/* dns.c: c-ares on the libevent loop: SRV targets and addresses for s2s. */
#include "xmppd/net/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

/* Per try, and tries per name server: a dead resolver costs ~3 s. */
#define DNS_TIMEOUT_MS 1500
#define DNS_TRIES 2
/* Records kept from one answer: more is a hostile or broken zone. */
#define DNS_MAX_TARGETS 16
#define DNS_MAX_ADDRS 16

struct dns_sock {
    ares_socket_t  fd;
    struct event  *ev;          /* owned */
};

static ares_channel channel;
static bool is_ready;
static struct event_base *dns_base;     /* borrowed */
static struct event *timer_ev;          /* owned */
static struct dns_sock *socks;          /* owned array */
static size_t nsocks;

enum dns_kind {
    DNS_SRV,
    DNS_ADDR,
};

struct xs_dns_req {
    enum dns_kind       kind;
    bool                is_cancelled;
    unsigned            pending;        /* c-ares callbacks still due */
    struct event       *done_ev;        /* owned: delivers from the loop */
    char               *domain;         /* owned */
    int                 port;
    xs_dns_srv_fn      *srv_cb;
    xs_dns_addr_fn     *addr_cb;
    void               *udata;          /* borrowed, handed back */
    xs_rc               rc;
    /* DNS_SRV */
    struct xs_dns_srv_rec recs[2 * DNS_MAX_TARGETS];
    size_t              nrecs;
    bool                is_no_service;  /* "." target seen */
    struct xs_dns_target *targets;      /* owned: the ordered result */
    size_t              ntargets;
    /* DNS_ADDR */
    struct xs_dns_addr  addrs[DNS_MAX_ADDRS];
    size_t              naddrs;
    struct xs_dns_req  *live_prev, *live_next;  /* borrowed: live list */
};

/* Every request not yet freed: at exit the loop no longer delivers them. */
static struct xs_dns_req *live_reqs;

static void dns_rearm(void);
static void dns_srv_finish(struct xs_dns_req *r);
static void dns_req_free(struct xs_dns_req *r);

static void
dns_io_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)arg;
    ares_process_fd(channel,
        (what & EV_READ) ? (ares_socket_t)fd : ARES_SOCKET_BAD,
        (what & EV_WRITE) ? (ares_socket_t)fd : ARES_SOCKET_BAD);
    dns_rearm();
}

static void
dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    ares_process_fd(channel, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    dns_rearm();
}

static void
dns_rearm(void)
{
    struct timeval tv, *t;

    if (!is_ready)
        return;
    t = ares_timeout(channel, NULL, &tv);
    if (t != NULL)
        evtimer_add(timer_ev, t);
    else
        evtimer_del(timer_ev);
}

/* c-ares tells us which of its sockets to watch, and for what. */
static void
dns_sock_state_cb(void *data, ares_socket_t fd, int readable, int writable)
{
    size_t i;
    short what = (short)((readable ? EV_READ : 0) |
        (writable ? EV_WRITE : 0));

    (void)data;
    for (i = 0; i < nsocks && socks[i].fd != fd; i++)
        continue;
    if (i < nsocks) {
        event_free(socks[i].ev);
        if (what == 0) {
            socks[i] = socks[--nsocks];
            return;
        }
    } else {
        if (what == 0)
            return;
        socks = xs_reallocarray(socks, nsocks + 1, sizeof(*socks));
        socks[nsocks++].fd = fd;
    }
    socks[i].ev = event_new(dns_base, fd, what | EV_PERSIST, dns_io_cb,
        NULL);
    event_add(socks[i].ev, NULL);
}

xs_rc
xs_dns_init(struct event_base *base, const char *const *nameservers,
    size_t n)
{
    struct ares_options opt = {
        .timeout = DNS_TIMEOUT_MS,
        .tries = DNS_TRIES,
        .sock_state_cb = dns_sock_state_cb,
    };
    int mask = ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_STATE_CB;
    int st;

    xs_assert(!is_ready);
    if ((st = ares_library_init(ARES_LIB_INIT_ALL)) != ARES_SUCCESS ||
        (st = ares_init_options(&channel, &opt, mask)) != ARES_SUCCESS) {
        xs_log(XS_LOG_ERR, "dns: cannot start the resolver: %s",
            ares_strerror(st));
        return XS_EIO;
    }
    if (n > 0) {
        size_t len = 1;
        char *csv, *p;

        for (size_t i = 0; i < n; i++)
            len += strlen(nameservers[i]) + 1;
        csv = p = xs_calloc(1, len);
        for (size_t i = 0; i < n; i++) {
            size_t l = strlen(nameservers[i]);

            if (i > 0)
                *p++ = ',';
            memcpy(p, nameservers[i], l);
            p += l;
        }
        st = ares_set_servers_ports_csv(channel, csv);
        xs_free(csv);
        if (st != ARES_SUCCESS) {
            xs_log(XS_LOG_ERR, "dns: bad dns_nameservers: %s",
                ares_strerror(st));
            ares_destroy(channel);
            return XS_EINVAL;
        }
    }
    dns_base = base;
    timer_ev = evtimer_new(base, dns_timer_cb, NULL);
    is_ready = true;
    return XS_OK;
}

void
xs_dns_fini(void)
{
    if (!is_ready)
        return;
    /* Runs every pending callback with ARES_EDESTRUCTION: the requests
     * then finish through their done events, which we free below by
     * never running the loop again (their owners are gone too). */
    ares_destroy(channel);
    is_ready = false;
    while (live_reqs != NULL)
        dns_req_free(live_reqs);    /* their owners are gone already */
    for (size_t i = 0; i < nsocks; i++)
        event_free(socks[i].ev);
    xs_free(socks);
    socks = NULL;
    nsocks = 0;
    event_free(timer_ev);
    timer_ev = NULL;
    ares_library_cleanup();
}

static void
dns_req_free(struct xs_dns_req *r)
{
    if (r->live_prev != NULL)
        r->live_prev->live_next = r->live_next;
    else
        live_reqs = r->live_next;
    if (r->live_next != NULL)
        r->live_next->live_prev = r->live_prev;
    for (size_t i = 0; i < r->nrecs; i++)
        xs_free(r->recs[i].t.host);
    xs_free(r->targets);        /* hosts moved from recs, freed above */
    event_free(r->done_ev);
    xs_free(r->domain);
    xs_free(r);
}

static void
dns_done_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xs_dns_req *r = arg;

    (void)fd, (void)what;
    if (!r->is_cancelled) {
        if (r->kind == DNS_SRV)
            dns_srv_finish(r);
        if (r->kind == DNS_SRV)
            r->srv_cb(r->rc, r->targets, r->ntargets, r->udata);
        else
            r->addr_cb(r->rc, r->addrs, r->naddrs, r->udata);
    }
    dns_req_free(r);
}

static struct xs_dns_req *
dns_req_new(enum dns_kind kind, const char *domain, int port, void *udata)
{
    struct xs_dns_req *r = xs_calloc(1, sizeof(*r));

    r->kind = kind;
    r->domain = xs_strdup(domain);
    r->port = port;
    r->udata = udata;
    r->done_ev = event_new(dns_base, -1, 0, dns_done_cb, r);
    r->live_next = live_reqs;
    if (live_reqs != NULL)
        live_reqs->live_prev = r;
    live_reqs = r;
    return r;
}

/* One c-ares callback is over; the last one completes the request. */
static void
dns_req_step(struct xs_dns_req *r)
{
    xs_assert(r->pending > 0);
    if (--r->pending == 0)
        event_active(r->done_ev, EV_TIMEOUT, 0);
}

void
xs_dns_cancel(struct xs_dns_req *r)
{
    if (r != NULL)
        r->is_cancelled = true;     /* freed when its callbacks are over */
}

/* ---- SRV ---- */

static uint32_t
dns_rnd(uint32_t bound)
{
    return bound > 0 ? randombytes_uniform(bound) : 0;
}

static int
dns_srv_cmp(const void *a, const void *b)
{
    const struct xs_dns_srv_rec *x = a, *y = b;

    if (x->priority != y->priority)
        return x->priority < y->priority ? -1 : 1;
    return (int)y->t.is_direct_tls - (int)x->t.is_direct_tls;
}

void
xs_dns_srv_order(struct xs_dns_srv_rec *v, size_t n,
    uint32_t (*rnd)(uint32_t bound))
{
    size_t lo = 0;

    qsort(v, n, sizeof(*v), dns_srv_cmp);
    /* Within each run of one priority, pick by running weight sums. */
    while (lo < n) {
        size_t hi = lo + 1;

        while (hi < n && v[hi].priority == v[lo].priority)
            hi++;
        for (size_t k = lo; k + 1 < hi; k++) {
            uint64_t sum = 0, pick;
            size_t j;

            for (j = k; j < hi; j++)
                sum += v[j].weight;
            if (sum == 0) {
                j = k + rnd((uint32_t)(hi - k));
            } else {
                pick = rnd((uint32_t)(sum > UINT32_MAX ? UINT32_MAX : sum));
                for (j = k; j < hi; j++) {
                    if (pick < v[j].weight)
                        break;
                    pick -= v[j].weight;
                }
                if (j == hi)
                    j = hi - 1;
            }
            if (j != k) {
                struct xs_dns_srv_rec tmp = v[k];

                v[k] = v[j];
                v[j] = tmp;
            }
        }
        lo = hi;
    }
}

struct dns_srv_query {
    struct xs_dns_req *r;       /* borrowed */
    bool               is_direct_tls;
};

static void
dns_srv_cb(void *arg, int status, int timeouts, unsigned char *abuf,
    int alen)
{
    struct dns_srv_query *q = arg;
    struct xs_dns_req *r = q->r;
    struct ares_srv_reply *srv = NULL;
    size_t kept = 0;

    (void)timeouts;
    if (status == ARES_SUCCESS &&
        ares_parse_srv_reply(abuf, alen, &srv) == ARES_SUCCESS) {
        for (struct ares_srv_reply *s = srv; s != NULL; s = s->next) {
            struct xs_dns_srv_rec *rec;

            if (strcmp(s->host, ".") == 0 || s->host[0] == '\0') {
                /* RFC 2782: "decidedly not available" (only alone). */
                if (srv->next == NULL && !q->is_direct_tls)
                    r->is_no_service = true;
                continue;
            }
            if (kept == DNS_MAX_TARGETS || s->port == 0)
                continue;
            rec = &r->recs[r->nrecs++];
            rec->t.host = xs_strdup(s->host);
            rec->t.port = s->port;
            rec->t.is_direct_tls = q->is_direct_tls;
            rec->priority = s->priority;
            rec->weight = s->weight;
            kept++;
        }
        ares_free_data(srv);
    } else if (status != ARES_ENOTFOUND && status != ARES_ENODATA &&
        status != ARES_EDESTRUCTION && status != ARES_ECANCELLED) {
        xs_log(XS_LOG_DEBUG, "dns: SRV %s for %s: %s",
            q->is_direct_tls ? "_xmpps-server" : "_xmpp-server", r->domain,
            ares_strerror(status));
    }
    xs_free(q);
    dns_req_step(r);
}

/* Both answers are in: order them, or fall back to the domain itself. */
static void
dns_srv_finish(struct xs_dns_req *r)
{
    if (r->nrecs > 0) {
        xs_dns_srv_order(r->recs, r->nrecs, dns_rnd);
        r->targets = xs_calloc(r->nrecs, sizeof(*r->targets));
        for (size_t i = 0; i < r->nrecs; i++)
            r->targets[i] = r->recs[i].t;       /* hosts stay in recs */
        r->ntargets = r->nrecs;
        r->rc = XS_OK;
    } else if (r->is_no_service) {
        r->rc = XS_ENOTFOUND;
    } else {
        r->recs[0].t.host = xs_strdup(r->domain);
        r->recs[0].t.port = 5269;
        r->nrecs = 1;
        r->targets = xs_calloc(1, sizeof(*r->targets));
        r->targets[0] = r->recs[0].t;
        r->ntargets = 1;
        r->rc = XS_OK;
    }
}

static void
dns_srv_start(struct xs_dns_req *r, bool is_direct_tls)
{
    struct dns_srv_query *q = xs_calloc(1, sizeof(*q));
    char *name = xs_asprintf("%s.%s", is_direct_tls ? "_xmpps-server._tcp"
        : "_xmpp-server._tcp", r->domain);

    q->r = r;
    q->is_direct_tls = is_direct_tls;
    ares_query(channel, name, ns_c_in, ns_t_srv, dns_srv_cb, q);
    xs_free(name);
}

struct xs_dns_req *
xs_dns_s2s_targets(const char *domain, xs_dns_srv_fn *cb, void *udata)
{
    struct xs_dns_req *r;

    xs_assert(is_ready);
    r = dns_req_new(DNS_SRV, domain, 0, udata);
    r->srv_cb = cb;
    r->rc = XS_EIO;
    /* Count both before starting either: a callback may run at once. */
    r->pending = 2;
    dns_srv_start(r, true);
    dns_srv_start(r, false);
    dns_rearm();
    return r;
}

/* ---- A / AAAA ---- */

static void
dns_addr_cb(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    struct xs_dns_req *r = arg;

    (void)timeouts;
    if (status == ARES_SUCCESS && res != NULL) {
        for (struct ares_addrinfo_node *a = res->nodes;
             a != NULL && r->naddrs < DNS_MAX_ADDRS; a = a->ai_next) {
            struct xs_dns_addr *d = &r->addrs[r->naddrs];

            if (a->ai_family == AF_INET &&
                a->ai_addrlen >= sizeof(struct sockaddr_in)) {
                memcpy(&d->ss, a->ai_addr, sizeof(struct sockaddr_in));
                ((struct sockaddr_in *)&d->ss)->sin_port =
                    htons((uint16_t)r->port);
                d->len = sizeof(struct sockaddr_in);
            } else if (a->ai_family == AF_INET6 &&
                a->ai_addrlen >= sizeof(struct sockaddr_in6)) {
                memcpy(&d->ss, a->ai_addr, sizeof(struct sockaddr_in6));
                ((struct sockaddr_in6 *)&d->ss)->sin6_port =
                    htons((uint16_t)r->port);
                d->len = sizeof(struct sockaddr_in6);
            } else {
                continue;
            }
            r->naddrs++;
        }
        r->rc = r->naddrs > 0 ? XS_OK : XS_ENOTFOUND;
    } else {
        r->rc = (status == ARES_ENOTFOUND || status == ARES_ENODATA ||
            status == ARES_ENONAME) ? XS_ENOTFOUND : XS_EIO;
    }
    if (res != NULL)
        ares_freeaddrinfo(res);
    dns_req_step(r);
}

struct xs_dns_req *
xs_dns_addrs(const char *host, int port, xs_dns_addr_fn *cb, void *udata)
{
    struct ares_addrinfo_hints hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
    };
    struct xs_dns_req *r;

    xs_assert(is_ready);
    r = dns_req_new(DNS_ADDR, host, port, udata);
    r->addr_cb = cb;
    r->rc = XS_EIO;
    r->pending = 1;
    ares_getaddrinfo(channel, host, NULL, &hints, dns_addr_cb, r);
    dns_rearm();
    return r;
}
