/*
 * tests/bench/trust/subflood.c: the sender of issue 6's flood bench
 * (tests/bench/trust.sh): a handful of logged-in accounts of one domain
 * send <presence type='subscribe'/> to many distinct accounts of another
 * domain, at a fixed aggregate rate.  Their server flags each request
 * (mod_trust) and sends it over s2s; the receiving server's gate decides
 * each one.
 *
 * Built from the load generator's client pieces (tests/bench/client.c,
 * batch.c, stats.c: the same login, TLS and SCRAM), not part of loadgen.
 *
 *   subflood --port N --domain a.bench --users 10 --to-domain b.bench
 *            --targets 10000 [--to-prefix t] [--rate 1000]
 *
 * Request i goes from sender i mod users to <to-prefix><i+1>@<to-domain>:
 * every target once.  Open loop: a 1 ms timer sends what the schedule
 * says is due, round-robin over the senders, whatever comes back.
 * Prints "# subflood: sending" when every sender is bound (trust.sh waits
 * for it) and "# subflood: sent" after the last request, then listens for
 * --drain seconds and prints one RESULT line: requests sent, the send
 * rate achieved, and what came back to the senders: <presence
 * type='unsubscribed'/> (the gate's rejections, with its default action),
 * presence errors (e.g. policy-violation from the sender's own server's
 * egress limit, or remote-server errors), and sessions dropped.  Exit
 * status 0 when every request was sent and no session dropped, 1
 * otherwise, 2 for a usage or set-up error.
 */
#include "tests/bench/loadgen.h"

#include "xmppd/c2s/scram.h"
#include "xmppd/net/tls.h"

#include <arpa/inet.h>
#include <getopt.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#define SF_TICK_US      1000

struct sf_state {
    struct lg_ctx      *ctx;        /* borrowed */
    struct lg_client  **v;          /* owned array; clients owned */
    unsigned            n;
    const char         *to_domain;  /* borrowed */
    const char         *to_prefix;  /* borrowed */
    uint64_t            targets;
    double              rate;
    struct event       *tick;       /* owned */
    uint64_t            t0, t_end;  /* ns */
    uint64_t            sent;
    uint64_t            unsubscribed, errors, other_presence;
    unsigned            next;
    unsigned            dropped;
    bool                is_done;
    char                first_err[128];
    char                first_drop[128];
};

static void
usage(FILE *f)
{
    fputs(
"usage: subflood --port N --to-domain D [options]\n"
"  --host ADDR        server address, loopback only (127.0.0.1)\n"
"  --port N           c2s port of the senders' server\n"
"  --domain D         the senders' domain (a.bench)\n"
"  --user-prefix P    senders are P<n> (s)\n"
"  --users N          senders P1..PN, one session each (10)\n"
"  --password PW      password of every sender (benchpw)\n"
"  --to-domain D      the receivers' domain\n"
"  --to-prefix P      receivers are P<n>@D (t)\n"
"  --targets N        requests, one per receiver P1..PN (10000)\n"
"  --rate R           requests per second, all senders together (1000)\n"
"  --drain S          seconds to listen after the last request (5)\n", f);
}

static bool
opt_num(const char *s, double min, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (*s == '\0' || *end != '\0' || !(v >= min && v <= max))
        return false;
    *out = v;
    return true;
}

static bool
opts_parse(int argc, char **argv, struct lg_opts *o, struct sf_state *st,
    double *drain)
{
    static const struct option longs[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "domain", required_argument, NULL, 'd' },
        { "user-prefix", required_argument, NULL, 'u' },
        { "users", required_argument, NULL, 'n' },
        { "password", required_argument, NULL, 'w' },
        { "to-domain", required_argument, NULL, 'D' },
        { "to-prefix", required_argument, NULL, 'P' },
        { "targets", required_argument, NULL, 'T' },
        { "rate", required_argument, NULL, 'r' },
        { "drain", required_argument, NULL, 'e' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    double v;
    int c;

    memset(o, 0, sizeof(*o));
    o->label = "xmppd";
    o->host = "127.0.0.1";
    o->domain = "a.bench";
    o->user_prefix = "s";
    o->user_first = 1;
    o->nusers = 10;
    o->password = "benchpw";
    o->mech = LG_MECH_SCRAM_SHA1;
    o->use_tls = true;
    o->server_core = -1;
    o->concurrency = 10;
    o->timeout = 15;
    st->to_prefix = "t";
    st->targets = 10000;
    st->rate = 1000;
    *drain = 5;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'H': o->host = optarg; break;
        case 'p':
            if (!opt_num(optarg, 1, 65535, &v))
                goto bad;
            o->port = (int)v;
            break;
        case 'd': o->domain = optarg; break;
        case 'u': o->user_prefix = optarg; break;
        case 'n':
            if (!opt_num(optarg, 1, 10000, &v))
                goto bad;
            o->nusers = (unsigned)v;
            break;
        case 'w': o->password = optarg; break;
        case 'D': st->to_domain = optarg; break;
        case 'P': st->to_prefix = optarg; break;
        case 'T':
            if (!opt_num(optarg, 1, 10000000, &v))
                goto bad;
            st->targets = (uint64_t)v;
            break;
        case 'r':
            if (!opt_num(optarg, 1, 1000000, &st->rate))
                goto bad;
            break;
        case 'e':
            if (!opt_num(optarg, 0, 600, drain))
                goto bad;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            goto bad;
        }
    }
    if (optind != argc || o->port == 0 || st->to_domain == NULL)
        goto bad;
    return true;
bad:
    usage(stderr);
    return false;
}

/* The load generator's context, as loadgen.c makes it. */
static bool
ctx_init(struct lg_ctx *ctx, const struct lg_opts *o)
{
    struct event_config *cfg;

    memset(ctx, 0, sizeof(*ctx));
    ctx->opts = o;
    ctx->addr.sin_family = AF_INET;
    ctx->addr.sin_port = htons((uint16_t)o->port);
    if (inet_pton(AF_INET, o->host, &ctx->addr.sin_addr) != 1 ||
        (ntohl(ctx->addr.sin_addr.s_addr) >> 24) != 127) {
        fprintf(stderr, "subflood: --host must be an IPv4 loopback address "
            "(127.0.0.0/8): %s\n", o->host);
        return false;
    }
    ctx->addr2 = ctx->addr;
    cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    ctx->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (ctx->base == NULL) {
        fprintf(stderr, "subflood: event_base_new failed\n");
        return false;
    }
    if (xs_tls_client_ctx_new(NULL, &ctx->ssl_ctx) != XS_OK) {
        fprintf(stderr, "subflood: cannot make the TLS context\n");
        return false;
    }
    SSL_CTX_set_verify(ctx->ssl_ctx, SSL_VERIFY_NONE, NULL);
    SSL_CTX_set_cert_store(ctx->ssl_ctx, X509_STORE_new());
    SSL_CTX_set_session_cache_mode(ctx->ssl_ctx, SSL_SESS_CACHE_OFF);
    ctx->cache = xs_scram_cache_new((size_t)o->nusers * 4);
    return true;
}

static void
ctx_fini(struct lg_ctx *ctx)
{
    xs_scram_cache_free(ctx->cache);
    SSL_CTX_free(ctx->ssl_ctx);
    if (ctx->base != NULL)
        event_base_free(ctx->base);
}

/* ---- the flood --------------------------------------------------------- */

static void
sf_on_bound(struct lg_client *c)
{
    (void)c;
}

/* What comes back: rejections and errors about the requests. */
static void
sf_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    struct sf_state *st = c->udata;
    const char *type = xs_elem_attr(el, "type");

    if (strcmp(el->name, "presence") != 0 || type == NULL)
        return;
    if (strcmp(type, "unsubscribed") == 0) {
        st->unsubscribed++;
    } else if (strcmp(type, "error") == 0) {
        const struct xs_elem *e = xs_elem_child(el, NULL, "error");
        const struct xs_elem *cond = e != NULL ? xs_elem_first_elem(e) :
            NULL;

        st->errors++;
        if (st->first_err[0] == '\0')
            snprintf(st->first_err, sizeof(st->first_err), "%s",
                cond != NULL ? cond->name : "?");
    } else {
        st->other_presence++;
    }
}

static void
sf_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct sf_state *st = c->udata;

    (void)how;
    st->dropped++;
    if (st->first_drop[0] == '\0')
        snprintf(st->first_drop, sizeof(st->first_drop), "%s", why);
    st->v[c->idx] = NULL;
    lg_client_free(c);
}

static const struct lg_client_ops sf_ops = {
    .on_bound = sf_on_bound,
    .on_stanza = sf_on_stanza,
    .on_end = sf_on_end,
};

static void
sf_send_one(struct sf_state *st, unsigned i)
{
    char xml[512];
    uint64_t seq = ++st->sent;
    int n = snprintf(xml, sizeof(xml), "<presence type='subscribe' "
        "to='%s%" PRIu64 "@%s' id='sf%" PRIu64 "'/>", st->to_prefix, seq,
        st->to_domain, seq);

    xs_assert(n > 0 && (size_t)n < sizeof(xml));
    lg_client_send(st->v[i], xml, (size_t)n);
}

static void
sf_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct sf_state *st = arg;
    uint64_t now = lg_now_ns();
    uint64_t due = (uint64_t)((double)(now - st->t0) / 1e9 * st->rate);

    (void)fd, (void)what;
    if (due > st->targets)
        due = st->targets;
    for (unsigned tries = 0; st->sent < due && tries < st->n; ) {
        unsigned i = st->next;

        st->next = (st->next + 1) % st->n;
        if (st->v[i] == NULL || !lg_client_is_bound(st->v[i])) {
            tries++;
            continue;
        }
        tries = 0;
        sf_send_one(st, i);
    }
    if (st->sent >= st->targets || st->dropped >= st->n) {
        st->t_end = lg_now_ns();
        st->is_done = true;
        event_del(st->tick);
    }
}

int
main(int argc, char **argv)
{
    struct lg_opts o;
    struct lg_ctx ctx;
    struct sf_state st;
    struct timeval tv = { 0, SF_TICK_US };
    unsigned failed = 0;
    double drain, secs;
    int rc = 2;

    memset(&st, 0, sizeof(st));
    memset(&ctx, 0, sizeof(ctx));
    if (!opts_parse(argc, argv, &o, &st, &drain))
        return 2;
    xs_log_min = XS_LOG_WARN;
    if (sodium_init() < 0) {
        fprintf(stderr, "subflood: sodium_init failed\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    if (!ctx_init(&ctx, &o))
        goto out;
    st.ctx = &ctx;
    st.n = o.nusers;
    st.v = xs_calloc(st.n, sizeof(*st.v));

    lg_say("subflood: logging in %u senders %s1..%u@%s at %s:%d", st.n,
        o.user_prefix, st.n, o.domain, o.host, o.port);
    if (lg_batch_login(&ctx, st.n, o.user_first, o.concurrency, false, st.v,
        NULL, &failed) != XS_OK) {
        lg_say("subflood: set-up failed (%u logins)", failed);
        goto out;
    }
    for (unsigned i = 0; i < st.n; i++) {
        st.v[i]->ops = &sf_ops;
        st.v[i]->udata = &st;
        st.v[i]->idx = i;
    }
    st.tick = event_new(ctx.base, -1, EV_PERSIST, sf_tick_cb, &st);
    st.t0 = lg_now_ns();
    evtimer_add(st.tick, &tv);
    lg_say("subflood: sending %" PRIu64 " subscription requests to "
        "%s1..%" PRIu64 "@%s at %.0f/s over %u senders", st.targets,
        st.to_prefix, st.targets, st.to_domain, st.rate, st.n);
    fflush(stdout);
    while (!st.is_done)
        lg_sleep(&ctx, 0.05);
    secs = (double)(st.t_end - st.t0) / 1e9;
    lg_say("subflood: sent %" PRIu64 " in %.2f s (%.0f/s)", st.sent, secs,
        secs > 0 ? (double)st.sent / secs : 0);
    fflush(stdout);
    lg_sleep(&ctx, drain);

    lg_say("subflood: back to the senders: %" PRIu64 " unsubscribed, %"
        PRIu64 " presence errors%s%s%s, %" PRIu64 " other presence; %u "
        "sessions dropped%s%s", st.unsubscribed, st.errors,
        st.errors > 0 ? " (first: " : "", st.errors > 0 ? st.first_err : "",
        st.errors > 0 ? ")" : "", st.other_presence, st.dropped,
        st.dropped > 0 ? "; first: " : "",
        st.dropped > 0 ? st.first_drop : "");
    printf("RESULT server=xmppd scenario=trust_flood_send senders=%u "
        "targets=%" PRIu64 " rate=%.0f sent=%" PRIu64 " seconds=%.2f "
        "sent_per_s=%.0f unsubscribed=%" PRIu64 " errors=%" PRIu64
        " dropped=%u\n", st.n, st.targets, st.rate, st.sent, secs,
        secs > 0 ? (double)st.sent / secs : 0, st.unsubscribed, st.errors,
        st.dropped);
    fflush(stdout);
    rc = st.sent == st.targets && st.dropped == 0 ? 0 : 1;
out:
    if (st.tick != NULL)
        event_free(st.tick);
    if (st.v != NULL) {
        lg_batch_close(&ctx, st.v, st.n, 10.0);
        xs_free(st.v);
    }
    ctx_fini(&ctx);
    return rc;
}
