/*
 * tests/bench/rep/evgen.c: a steady stream of reputation evidence for
 * issue 5's loop-lag bench (tests/bench/rep.sh): many logged-in accounts
 * that block remote JIDs (XEP-0191), half of the blocks with a spam report
 * (XEP-0377), and unblock them again, at a fixed aggregate rate.  Each
 * block becomes evidence items the server admits and queues for
 * PostgreSQL (mod_reputation, db/reputation.h); each unblock retracts
 * them.  The block list itself is written by mod_blocking as usual.
 *
 * Built from the load generator's client pieces (tests/bench/setup.c,
 * client.c, batch.c, crowd.c, stats.c: the same login, TLS and SCRAM),
 * not part of loadgen.
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

#include "tests/bench/common/bench.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#define EG_TICK_US      1000
#define EG_DRAIN_S      15.0    /* wait for answers after the end */
#define EG_SUBJECT_DOMAINS 50   /* subjects spread over spamN.bench */
#define EG_ID_PREFIX    "eg"
/* SCRAM cache slots per account: each logs in once. */
#define EG_CACHE_PER_USER 4

struct eg_state {
    struct lg_crowd     crowd;      /* the sessions */
    uint64_t           *blocked;    /* owned: per session, the subject
                                       number it blocks now; 0: none */
    double              rate;
    double              duration;   /* 0: until a signal */
    struct event       *tick;       /* owned */
    uint64_t            t0;         /* ns: sending started */
    uint64_t            sent, blocks, unblocks, reports;
    uint64_t            results;    /* errors: the crowd's */
    uint64_t            subject_seq;
    bool                is_stopping;
    bool                is_drained;
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
opts_parse(int argc, char **argv, struct lg_opts *o, double *duration)
{
    const struct bench_opt opts[] = {
        { "host", BENCH_OPT_STR, &o->host, 0, 0 },
        { "port", BENCH_OPT_INT, &o->port, 1, 65535 },
        { "domain", BENCH_OPT_STR, &o->domain, 0, 0 },
        { "user-prefix", BENCH_OPT_STR, &o->user_prefix, 0, 0 },
        { "users", BENCH_OPT_UINT, &o->nusers, 1, 100000 },
        { "password", BENCH_OPT_STR, &o->password, 0, 0 },
        { "rate", BENCH_OPT_DOUBLE, &o->rate, 1, 1000000 },
        { "duration", BENCH_OPT_DOUBLE, duration, 0, 3600 },
        { NULL, 0, NULL, 0, 0 },
    };

    lg_opts_defaults(o);
    o->label = "xmppd";
    o->user_prefix = "ev";
    o->rate = 200;
    *duration = 0;
    if (!bench_opts_parse(argc, argv, opts, usage))
        return false;
    if (o->port == 0) {
        usage(stderr);
        return false;
    }
    return true;
}

/* ---- the stream of blocks --------------------------------------------- */

static bool
eg_is_drained(const struct eg_state *st)
{
    return st->results + st->crowd.errors >= st->sent;
}

/* Answers: the id carries the send time ("eg<seq>-<ns>"). */
static void
eg_on_stanza(void *udata, struct lg_client *c, const struct xs_elem *el)
{
    struct eg_state *st = udata;
    const char *id = xs_elem_attr(el, "id");
    const char *type = xs_elem_attr(el, "type");
    const char *dash;
    uint64_t t;

    (void)c;
    if (strcmp(el->name, "iq") != 0 || id == NULL || type == NULL ||
        strncmp(id, EG_ID_PREFIX, strlen(EG_ID_PREFIX)) != 0 ||
        (dash = strchr(id, '-')) == NULL)
        return;
    t = strtoull(dash + 1, NULL, 10);
    if (strcmp(type, "result") == 0) {
        st->results++;
    } else if (strcmp(type, "error") == 0) {
        lg_crowd_error(&st->crowd, el);
    } else {
        return;
    }
    if (t > 0 && t <= lg_now_ns())
        lg_samples_add_ns(&st->answer, lg_now_ns() - t);
    if (st->is_stopping && eg_is_drained(st))
        st->is_drained = true;
}

/* Session c's next stanza: unblock what it blocked, or block a new remote
 * JID (every other block with a spam report). */
static void
eg_send_one(struct eg_state *st, struct lg_client *c)
{
    uint64_t *blocked = &st->blocked[c->idx];
    uint64_t seq = ++st->sent;

    if (*blocked != 0) {
        lg_client_sendf(c, "<iq type='set' id='" EG_ID_PREFIX
            "%" PRIu64 "-%" PRIu64 "'><unblock xmlns='urn:xmpp:blocking'>"
            "<item jid='spam%" PRIu64 "@s%" PRIu64 ".spam.bench'/>"
            "</unblock></iq>", seq, lg_now_ns(), *blocked,
            *blocked % EG_SUBJECT_DOMAINS);
        *blocked = 0;
        st->unblocks++;
    } else {
        uint64_t subj = ++st->subject_seq;
        bool is_report = (subj & 1u) == 0;

        lg_client_sendf(c, "<iq type='set' id='" EG_ID_PREFIX
            "%" PRIu64 "-%" PRIu64 "'><block xmlns='urn:xmpp:blocking'>"
            "<item jid='spam%" PRIu64 "@s%" PRIu64 ".spam.bench'>%s</item>"
            "</block></iq>", seq, lg_now_ns(), subj,
            subj % EG_SUBJECT_DOMAINS, is_report ?
            "<report xmlns='urn:xmpp:reporting:1' "
            "reason='urn:xmpp:reporting:spam'/>" : "");
        *blocked = subj;
        st->blocks++;
        st->reports += is_report;
    }
}

static void
eg_stop(struct eg_state *st)
{
    st->is_stopping = true;
    st->is_drained = eg_is_drained(st);
    event_del(st->tick);
}

static void
eg_tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct eg_state *st = arg;
    double elapsed = (double)(lg_now_ns() - st->t0) / 1e9;
    uint64_t due;

    (void)fd, (void)what;
    if (st->duration > 0 && elapsed >= st->duration) {
        eg_stop(st);
        return;
    }
    due = (uint64_t)(elapsed * st->rate);
    while (st->sent < due) {
        struct lg_client *c = lg_crowd_next(&st->crowd);

        if (c == NULL)
            break;
        eg_send_one(st, c);
    }
}

static void
eg_signal_cb(evutil_socket_t fd, short what, void *arg)
{
    struct eg_state *st = arg;

    (void)fd, (void)what;
    if (!st->is_stopping)
        eg_stop(st);
}

int
main(int argc, char **argv)
{
    struct lg_opts o;
    struct lg_ctx ctx;
    struct eg_state st;
    struct event *sigterm = NULL, *sigint = NULL;
    struct timeval tv = { 0, EG_TICK_US };
    unsigned failed = 0, n;
    double secs, p50, p99, pmax;
    uint64_t unanswered, errors;
    int rc = 2;

    memset(&st, 0, sizeof(st));
    memset(&ctx, 0, sizeof(ctx));
    if (!opts_parse(argc, argv, &o, &st.duration) ||
        !lg_process_init("evgen"))
        return 2;
    lg_samples_init(&st.answer);
    if (!lg_ctx_init(&ctx, &o, "evgen", EG_CACHE_PER_USER))
        goto out;
    n = o.nusers;
    st.rate = o.rate;
    st.blocked = xs_calloc(n, sizeof(*st.blocked));

    lg_say("evgen: logging in %u sessions %s1..%u at %s:%d", n,
        o.user_prefix, n, o.host, o.port);
    if (lg_crowd_login(&st.crowd, &ctx, n, eg_on_stanza, &st, &failed) !=
        XS_OK) {
        lg_say("evgen: set-up failed (%u logins)", failed);
        goto out;
    }
    sigterm = evsignal_new(ctx.base, SIGTERM, eg_signal_cb, &st);
    sigint = evsignal_new(ctx.base, SIGINT, eg_signal_cb, &st);
    event_add(sigterm, NULL);
    event_add(sigint, NULL);
    st.tick = event_new(ctx.base, -1, EV_PERSIST, eg_tick_cb, &st);
    st.t0 = lg_now_ns();
    evtimer_add(st.tick, &tv);
    lg_say("evgen: sending %.0f block/unblock stanzas/s over %u sessions",
        st.rate, n);
    fflush(stdout);

    while (!st.is_stopping)
        lg_sleep(&ctx, 0.1);
    secs = (double)(lg_now_ns() - st.t0) / 1e9;
    if (!st.is_drained)
        (void)lg_run_until(&ctx, &st.is_drained, EG_DRAIN_S);

    errors = st.crowd.errors;
    unanswered = st.sent > st.results + errors ?
        st.sent - st.results - errors : 0;
    p50 = lg_samples_pct_ms(&st.answer, 50);
    p99 = lg_samples_pct_ms(&st.answer, 99);
    pmax = lg_samples_pct_ms(&st.answer, 100);
    lg_say("evgen: %" PRIu64 " stanzas in %.1f s (%" PRIu64 " blocks, %"
        PRIu64 " with a report, %" PRIu64 " unblocks): %" PRIu64
        " results, %" PRIu64 " errors%s%s%s, %" PRIu64 " unanswered; answer "
        "p50 %.2f ms, p99 %.2f ms, max %.1f ms; %u sessions dropped%s%s",
        st.sent, secs, st.blocks, st.reports, st.unblocks, st.results,
        errors, errors > 0 ? " (first: " : "",
        errors > 0 ? st.crowd.first_err : "", errors > 0 ? ")" : "",
        unanswered, p50, p99, pmax,
        st.crowd.dropped, st.crowd.dropped > 0 ? "; first: " : "",
        st.crowd.dropped > 0 ? st.crowd.first_drop : "");
    printf("RESULT server=xmppd scenario=rep_evidence sessions=%u rate=%.0f "
        "seconds=%.1f sent=%" PRIu64 " blocks=%" PRIu64 " reports=%" PRIu64
        " unblocks=%" PRIu64 " results=%" PRIu64 " errors=%" PRIu64
        " unanswered=%" PRIu64 " answer_p50_ms=%.3f answer_p99_ms=%.3f "
        "answer_max_ms=%.1f dropped=%u\n", n, st.rate, secs, st.sent,
        st.blocks, st.reports, st.unblocks, st.results, errors,
        unanswered, p50, p99, pmax, st.crowd.dropped);
    fflush(stdout);
    rc = unanswered == 0 && st.crowd.dropped == 0 ? 0 : 1;
out:
    if (st.tick != NULL)
        event_free(st.tick);
    if (sigterm != NULL)
        event_free(sigterm);
    if (sigint != NULL)
        event_free(sigint);
    lg_crowd_close(&st.crowd, 10.0);
    xs_free(st.blocked);
    lg_samples_fini(&st.answer);
    lg_ctx_fini(&ctx);
    return rc;
}
