/*
 * tests/bench/rep/evgen.c: a steady stream of reputation evidence for
 * issue 5's loop-lag bench (tests/bench/rep.sh): many logged-in accounts
 * that block remote JIDs (XEP-0191), half of the blocks with a spam report
 * (XEP-0377), and unblock them again, at a fixed aggregate rate.  Each
 * block becomes evidence items the server admits and queues for
 * PostgreSQL (mod_reputation, db/reputation.h); each unblock retracts
 * them.  The block list itself is written by mod_blocking as usual.
 *
 * Built from the load generator's client pieces (tests/bench/client.c,
 * batch.c, stats.c: the same login, TLS and SCRAM), not part of loadgen.
 *
 *   evgen --port N --users N [--user-prefix ev] [--rate R] [--duration S]
 *
 * Client i alternates: block a new subject, then unblock it.  Open loop:
 * a 1 ms timer sends what the schedule says is due, round-robin over the
 * clients, whatever the server answers.  Runs for --duration seconds, or
 * until SIGTERM / SIGINT when it is 0; prints "# evgen: sending" once every
 * client is bound (rep.sh waits for it), then at the end one RESULT line:
 * stanzas sent, answered with a result or an error, unanswered, and the
 * answer time (p50 / p99 / max: it grows while the database is slow, since
 * a block is committed before it is answered; the loop lag is what must
 * not).  Exit status 0 when every stanza was answered and no session
 * dropped, 1 otherwise, 2 for a usage or set-up error.
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

#define EG_TICK_US      1000
#define EG_DRAIN_S      15.0    /* wait for answers after the end */
#define EG_SUBJECT_DOMAINS 50   /* subjects spread over spamN.bench */
#define EG_ID_PREFIX    "eg"

struct eg_state {
    struct lg_ctx      *ctx;        /* borrowed */
    struct lg_client  **v;          /* owned array; clients owned */
    uint64_t           *blocked;    /* owned: per client, the subject
                                       number it blocks now; 0: none */
    unsigned            n;
    double              rate;
    double              duration;   /* 0: until a signal */
    struct event       *tick;       /* owned */
    uint64_t            t0;         /* ns: sending started */
    uint64_t            sent, blocks, unblocks, reports;
    uint64_t            results, errors;
    uint64_t            subject_seq;
    unsigned            next;       /* round-robin position */
    unsigned            dropped;
    bool                is_stopping;
    bool                is_drained;
    char                first_err[128];
    char                first_drop[128];
    struct lg_samples   answer;     /* ns, sent to answered */
};

static void
usage(FILE *f)
{
    fputs(
"usage: evgen --port N [options]\n"
"  --host ADDR        server address, loopback only (127.0.0.1)\n"
"  --port N           c2s port\n"
"  --domain D         XMPP domain (localhost)\n"
"  --user-prefix P    accounts are P<n> (ev)\n"
"  --users N          accounts P1..PN, one session each (1000)\n"
"  --password PW      password of every account (benchpw)\n"
"  --rate R           block and unblock stanzas per second, all clients\n"
"                     together (200)\n"
"  --duration S       seconds to send; 0: until SIGTERM or SIGINT (0)\n", f);
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
opts_parse(int argc, char **argv, struct lg_opts *o, double *duration)
{
    static const struct option longs[] = {
        { "host", required_argument, NULL, 'H' },
        { "port", required_argument, NULL, 'p' },
        { "domain", required_argument, NULL, 'd' },
        { "user-prefix", required_argument, NULL, 'u' },
        { "users", required_argument, NULL, 'n' },
        { "password", required_argument, NULL, 'w' },
        { "rate", required_argument, NULL, 'r' },
        { "duration", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    double v;
    int c;

    memset(o, 0, sizeof(*o));
    o->label = "xmppd";
    o->host = "127.0.0.1";
    o->domain = "localhost";
    o->user_prefix = "ev";
    o->user_first = 1;
    o->nusers = 1000;
    o->password = "benchpw";
    o->mech = LG_MECH_SCRAM_SHA1;
    o->use_tls = true;
    o->server_core = -1;
    o->rate = 200;
    o->concurrency = 100;
    o->timeout = 15;
    *duration = 0;
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
            if (!opt_num(optarg, 1, 100000, &v))
                goto bad;
            o->nusers = (unsigned)v;
            break;
        case 'w': o->password = optarg; break;
        case 'r':
            if (!opt_num(optarg, 1, 1000000, &o->rate))
                goto bad;
            break;
        case 't':
            if (!opt_num(optarg, 0, 3600, duration))
                goto bad;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            goto bad;
        }
    }
    if (optind != argc || o->port == 0)
        goto bad;
    return true;
bad:
    usage(stderr);
    return false;
}

/* The load generator's context, as loadgen.c makes it (TLS without
 * verification or session resumption, a SCRAM cache, precise timers). */
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
        fprintf(stderr, "evgen: --host must be an IPv4 loopback address "
            "(127.0.0.0/8): %s\n", o->host);
        return false;
    }
    ctx->addr2 = ctx->addr;
    cfg = event_config_new();
    event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
    ctx->base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    if (ctx->base == NULL) {
        fprintf(stderr, "evgen: event_base_new failed\n");
        return false;
    }
    if (xs_tls_client_ctx_new(NULL, &ctx->ssl_ctx) != XS_OK) {
        fprintf(stderr, "evgen: cannot make the TLS context\n");
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

/* ---- the stream of blocks --------------------------------------------- */

static bool
eg_is_drained(const struct eg_state *st)
{
    return st->results + st->errors >= st->sent;
}

static void
eg_on_bound(struct lg_client *c)
{
    (void)c;
}

/* Answers: the id carries the send time ("eg<seq>-<ns>"). */
static void
eg_on_stanza(struct lg_client *c, const struct xs_elem *el)
{
    struct eg_state *st = c->udata;
    const char *id = xs_elem_attr(el, "id");
    const char *type = xs_elem_attr(el, "type");
    const char *dash;
    uint64_t t;

    if (strcmp(el->name, "iq") != 0 || id == NULL || type == NULL ||
        strncmp(id, EG_ID_PREFIX, strlen(EG_ID_PREFIX)) != 0 ||
        (dash = strchr(id, '-')) == NULL)
        return;
    t = strtoull(dash + 1, NULL, 10);
    if (strcmp(type, "result") == 0) {
        st->results++;
    } else if (strcmp(type, "error") == 0) {
        const struct xs_elem *e = xs_elem_child(el, NULL, "error");
        const struct xs_elem *cond = e != NULL ? xs_elem_first_elem(e) :
            NULL;

        st->errors++;
        if (st->first_err[0] == '\0')
            snprintf(st->first_err, sizeof(st->first_err), "%s",
                cond != NULL ? cond->name : "?");
    } else {
        return;
    }
    if (t > 0 && t <= lg_now_ns())
        lg_samples_add_ns(&st->answer, lg_now_ns() - t);
    if (st->is_stopping && eg_is_drained(st))
        st->is_drained = true;
}

static void
eg_on_end(struct lg_client *c, enum lg_end how, const char *why)
{
    struct eg_state *st = c->udata;

    (void)how;
    st->dropped++;
    if (st->first_drop[0] == '\0')
        snprintf(st->first_drop, sizeof(st->first_drop), "%s", why);
    st->v[c->idx] = NULL;
    lg_client_free(c);
}

static const struct lg_client_ops eg_ops = {
    .on_bound = eg_on_bound,
    .on_stanza = eg_on_stanza,
    .on_end = eg_on_end,
};

/* Client i's next stanza: unblock what it blocked, or block a new remote
 * JID (every other block with a spam report). */
static void
eg_send_one(struct eg_state *st, unsigned i)
{
    struct lg_client *c = st->v[i];
    char xml[512];
    uint64_t seq = ++st->sent;
    int n;

    if (st->blocked[i] != 0) {
        n = snprintf(xml, sizeof(xml), "<iq type='set' id='" EG_ID_PREFIX
            "%" PRIu64 "-%" PRIu64 "'><unblock xmlns='urn:xmpp:blocking'>"
            "<item jid='spam%" PRIu64 "@s%" PRIu64 ".spam.bench'/>"
            "</unblock></iq>", seq, lg_now_ns(), st->blocked[i],
            st->blocked[i] % EG_SUBJECT_DOMAINS);
        st->blocked[i] = 0;
        st->unblocks++;
    } else {
        uint64_t subj = ++st->subject_seq;
        bool is_report = (subj & 1u) == 0;

        n = snprintf(xml, sizeof(xml), "<iq type='set' id='" EG_ID_PREFIX
            "%" PRIu64 "-%" PRIu64 "'><block xmlns='urn:xmpp:blocking'>"
            "<item jid='spam%" PRIu64 "@s%" PRIu64 ".spam.bench'>%s</item>"
            "</block></iq>", seq, lg_now_ns(), subj,
            subj % EG_SUBJECT_DOMAINS, is_report ?
            "<report xmlns='urn:xmpp:reporting:1' "
            "reason='urn:xmpp:reporting:spam'/>" : "");
        st->blocked[i] = subj;
        st->blocks++;
        st->reports += is_report;
    }
    xs_assert(n > 0 && (size_t)n < sizeof(xml));
    lg_client_send(c, xml, (size_t)n);
}

static void
eg_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct eg_state *st = arg;
    uint64_t now = lg_now_ns();
    double elapsed = (double)(now - st->t0) / 1e9;
    uint64_t due;

    (void)fd, (void)what;
    if (st->duration > 0 && elapsed >= st->duration) {
        st->is_stopping = true;
        st->is_drained = eg_is_drained(st);
        event_del(st->tick);
        return;
    }
    due = (uint64_t)(elapsed * st->rate);
    /* Skip dropped sessions, but never loop forever over none. */
    for (unsigned tries = 0; st->sent < due && tries < st->n; ) {
        unsigned i = st->next;

        st->next = (st->next + 1) % st->n;
        if (st->v[i] == NULL || !lg_client_is_bound(st->v[i])) {
            tries++;
            continue;
        }
        tries = 0;
        eg_send_one(st, i);
    }
}

static void
eg_signal_cb(evutil_socket_t fd, short what, void *arg)
{
    struct eg_state *st = arg;

    (void)fd, (void)what;
    if (st->is_stopping)
        return;
    st->is_stopping = true;
    st->is_drained = eg_is_drained(st);
    event_del(st->tick);
}

int
main(int argc, char **argv)
{
    struct lg_opts o;
    struct lg_ctx ctx;
    struct eg_state st;
    struct event *sigterm = NULL, *sigint = NULL;
    struct timeval tv = { 0, EG_TICK_US };
    unsigned failed = 0;
    double secs, p50, p99, pmax;
    uint64_t unanswered;
    int rc = 2;

    memset(&st, 0, sizeof(st));
    if (!opts_parse(argc, argv, &o, &st.duration))
        return 2;
    xs_log_min = XS_LOG_WARN;
    if (sodium_init() < 0) {
        fprintf(stderr, "evgen: sodium_init failed\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    lg_samples_init(&st.answer);
    if (!ctx_init(&ctx, &o))
        goto out;
    st.ctx = &ctx;
    st.n = o.nusers;
    st.rate = o.rate;
    st.v = xs_calloc(st.n, sizeof(*st.v));
    st.blocked = xs_calloc(st.n, sizeof(*st.blocked));

    lg_say("evgen: logging in %u sessions %s1..%u at %s:%d", st.n,
        o.user_prefix, st.n, o.host, o.port);
    if (lg_batch_login(&ctx, st.n, o.user_first, o.concurrency, false, st.v,
        NULL, &failed) != XS_OK) {
        lg_say("evgen: set-up failed (%u logins)", failed);
        goto out;
    }
    for (unsigned i = 0; i < st.n; i++) {
        st.v[i]->ops = &eg_ops;
        st.v[i]->udata = &st;
        st.v[i]->idx = i;
    }
    sigterm = evsignal_new(ctx.base, SIGTERM, eg_signal_cb, &st);
    sigint = evsignal_new(ctx.base, SIGINT, eg_signal_cb, &st);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    st.tick = event_new(ctx.base, -1, EV_PERSIST, eg_tick_cb, &st);
    st.t0 = lg_now_ns();
    evtimer_add(st.tick, &tv);
    lg_say("evgen: sending %.0f block/unblock stanzas/s over %u sessions",
        st.rate, st.n);
    fflush(stdout);

    while (!st.is_stopping)
        lg_sleep(&ctx, 0.1);
    secs = (double)(lg_now_ns() - st.t0) / 1e9;
    if (!st.is_drained)
        (void)lg_run_until(&ctx, &st.is_drained, EG_DRAIN_S);

    unanswered = st.sent > st.results + st.errors ?
        st.sent - st.results - st.errors : 0;
    p50 = lg_samples_pct_ms(&st.answer, 50);
    p99 = lg_samples_pct_ms(&st.answer, 99);
    pmax = lg_samples_pct_ms(&st.answer, 100);
    lg_say("evgen: %" PRIu64 " stanzas in %.1f s (%" PRIu64 " blocks, %"
        PRIu64 " with a report, %" PRIu64 " unblocks): %" PRIu64
        " results, %" PRIu64 " errors%s%s, %" PRIu64 " unanswered; answer "
        "p50 %.2f ms, p99 %.2f ms, max %.1f ms; %u sessions dropped%s%s",
        st.sent, secs, st.blocks, st.reports, st.unblocks, st.results,
        st.errors, st.errors > 0 ? " (first: " : "",
        st.errors > 0 ? st.first_err : "", unanswered, p50, p99, pmax,
        st.dropped, st.dropped > 0 ? "; first: " : "",
        st.dropped > 0 ? st.first_drop : "");
    printf("RESULT server=xmppd scenario=rep_evidence sessions=%u rate=%.0f "
        "seconds=%.1f sent=%" PRIu64 " blocks=%" PRIu64 " reports=%" PRIu64
        " unblocks=%" PRIu64 " results=%" PRIu64 " errors=%" PRIu64
        " unanswered=%" PRIu64 " answer_p50_ms=%.3f answer_p99_ms=%.3f "
        "answer_max_ms=%.1f dropped=%u\n", st.n, st.rate, secs, st.sent,
        st.blocks, st.reports, st.unblocks, st.results, st.errors,
        unanswered, p50, p99, pmax, st.dropped);
    fflush(stdout);
    rc = unanswered == 0 && st.dropped == 0 ? 0 : 1;
out:
    if (st.tick != NULL)
        event_free(st.tick);
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    if (st.v != NULL) {
        lg_batch_close(&ctx, st.v, st.n, 10.0);
        xs_free(st.v);
    }
    xs_free(st.blocked);
    lg_samples_fini(&st.answer);
    ctx_fini(&ctx);
    return rc;
}
