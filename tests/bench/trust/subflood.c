/*
 * tests/bench/trust/subflood.c: the sender of issue 6's flood bench
 * (tests/bench/trust.sh): a handful of logged-in accounts of one domain
 * send <presence type='subscribe'/> to many distinct accounts of another
 * domain, at a fixed aggregate rate.  Their server flags each request
 * (mod_trust) and sends it over s2s; the receiving server's gate decides
 * each one.
 *
 * Built from the load generator's client pieces (tests/bench/setup.c,
 * client.c, batch.c, crowd.c, stats.c: the same login, TLS and SCRAM),
 * not part of loadgen.
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

#include "tests/bench/common/bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#define SF_TICK_US      1000
/* SCRAM cache slots per account: each logs in once. */
#define SF_CACHE_PER_USER 4

struct sf_state {
    struct lg_crowd     crowd;      /* the senders */
    const char         *to_domain;  /* borrowed */
    const char         *to_prefix;  /* borrowed */
    uint64_t            targets;
    double              rate;
    double              drain;      /* seconds to listen at the end */
    struct event       *tick;       /* owned */
    uint64_t            t0, t_end;  /* ns */
    uint64_t            sent;
    uint64_t            unsubscribed;   /* errors: the crowd's */
    uint64_t            other_presence;
    bool                is_done;
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
opts_parse(int argc, char **argv, struct lg_opts *o, struct sf_state *st)
{
    const struct bench_opt opts[] = {
        { "host", BENCH_OPT_STR, &o->host, 0, 0 },
        { "port", BENCH_OPT_INT, &o->port, 1, 65535 },
        { "domain", BENCH_OPT_STR, &o->domain, 0, 0 },
        { "user-prefix", BENCH_OPT_STR, &o->user_prefix, 0, 0 },
        { "users", BENCH_OPT_UINT, &o->nusers, 1, 10000 },
        { "password", BENCH_OPT_STR, &o->password, 0, 0 },
        { "to-domain", BENCH_OPT_STR, &st->to_domain, 0, 0 },
        { "to-prefix", BENCH_OPT_STR, &st->to_prefix, 0, 0 },
        { "targets", BENCH_OPT_U64, &st->targets, 1, 10000000 },
        { "rate", BENCH_OPT_DOUBLE, &st->rate, 1, 1000000 },
        { "drain", BENCH_OPT_DOUBLE, &st->drain, 0, 600 },
        { NULL, 0, NULL, 0, 0 },
    };

    lg_opts_defaults(o);
    o->label = "xmppd";
    o->domain = "a.bench";
    o->user_prefix = "s";
    o->nusers = o->concurrency = 10;
    *st = (struct sf_state){ .to_prefix = "t", .targets = 10000,
        .rate = 1000, .drain = 5 };
    if (!bench_opts_parse(argc, argv, opts, usage))
        return false;
    if (o->port == 0 || st->to_domain == NULL) {
        usage(stderr);
        return false;
    }
    return true;
}

/* ---- the flood --------------------------------------------------------- */

/* What comes back: rejections and errors about the requests. */
static void
sf_on_stanza(void *udata, struct lg_client *c, const struct xs_elem *el)
{
    struct sf_state *st = udata;
    const char *type = xs_elem_attr(el, "type");

    (void)c;
    if (strcmp(el->name, "presence") != 0 || type == NULL)
        return;
    if (strcmp(type, "unsubscribed") == 0) {
        st->unsubscribed++;
    } else if (strcmp(type, "error") == 0) {
        lg_crowd_error(&st->crowd, el);
    } else {
        st->other_presence++;
    }
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
    while (st->sent < due) {
        struct lg_client *c = lg_crowd_next(&st->crowd);
        uint64_t seq = st->sent + 1;

        if (c == NULL)
            break;
        st->sent = seq;
        lg_client_sendf(c, "<presence type='subscribe' to='%s%" PRIu64
            "@%s' id='sf%" PRIu64 "'/>", st->to_prefix, seq, st->to_domain,
            seq);
    }
    if (st->sent >= st->targets || st->crowd.dropped >= st->crowd.n) {
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
    unsigned failed = 0, n;
    unsigned dropped;
    uint64_t errors;
    double secs;
    int rc = 2;

    memset(&st, 0, sizeof(st));
    memset(&ctx, 0, sizeof(ctx));
    if (!opts_parse(argc, argv, &o, &st) || !lg_process_init("subflood"))
        return 2;
    if (!lg_ctx_init(&ctx, &o, "subflood", SF_CACHE_PER_USER))
        goto out;
    n = o.nusers;

    lg_say("subflood: logging in %u senders %s1..%u@%s at %s:%d", n,
        o.user_prefix, n, o.domain, o.host, o.port);
    if (lg_crowd_login(&st.crowd, &ctx, n, sf_on_stanza, &st, &failed) !=
        XS_OK) {
        lg_say("subflood: set-up failed (%u logins)", failed);
        goto out;
    }
    st.tick = event_new(ctx.base, -1, EV_PERSIST, sf_tick_cb, &st);
    st.t0 = lg_now_ns();
    evtimer_add(st.tick, &tv);
    lg_say("subflood: sending %" PRIu64 " subscription requests to "
        "%s1..%" PRIu64 "@%s at %.0f/s over %u senders", st.targets,
        st.to_prefix, st.targets, st.to_domain, st.rate, n);
    fflush(stdout);
    while (!st.is_done)
        lg_sleep(&ctx, 0.05);
    secs = (double)(st.t_end - st.t0) / 1e9;
    lg_say("subflood: sent %" PRIu64 " in %.2f s (%.0f/s)", st.sent, secs,
        secs > 0 ? (double)st.sent / secs : 0);
    fflush(stdout);
    lg_sleep(&ctx, st.drain);

    dropped = st.crowd.dropped;
    errors = st.crowd.errors;
    lg_say("subflood: back to the senders: %" PRIu64 " unsubscribed, %"
        PRIu64 " presence errors%s%s%s, %" PRIu64 " other presence; %u "
        "sessions dropped%s%s", st.unsubscribed, errors,
        errors > 0 ? " (first: " : "", errors > 0 ? st.crowd.first_err : "",
        errors > 0 ? ")" : "", st.other_presence, dropped,
        dropped > 0 ? "; first: " : "",
        dropped > 0 ? st.crowd.first_drop : "");
    printf("RESULT server=xmppd scenario=trust_flood_send senders=%u "
        "targets=%" PRIu64 " rate=%.0f sent=%" PRIu64 " seconds=%.2f "
        "sent_per_s=%.0f unsubscribed=%" PRIu64 " errors=%" PRIu64
        " dropped=%u\n", n, st.targets, st.rate, st.sent, secs,
        secs > 0 ? (double)st.sent / secs : 0, st.unsubscribed, errors,
        dropped);
    fflush(stdout);
    rc = st.sent == st.targets && dropped == 0 ? 0 : 1;
out:
    if (st.tick != NULL)
        event_free(st.tick);
    lg_crowd_close(&st.crowd, 10.0);
    lg_ctx_fini(&ctx);
    return rc;
}
