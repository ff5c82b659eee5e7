/*
 * tests/bench/rep/ingest.c: issue 5's second bench, evidence ingestion
 * through the write-behind store (db/reputation.h), the way the server
 * persists what the engine admits: one libevent loop, a pgq pool, items
 * queued with xs_rep_db_append as fast as the queue takes them, batches
 * committed on pgq's background lane.
 *
 * Against the private cluster tests/bench/rep.sh starts (the migrations
 * are applied here first, as the server does at start): for --seconds (or
 * until --items were queued) a 1 ms timer tops the queue up until it
 * refuses (XS_ELIMIT: full); then the rest is flushed and waited for.
 * The figure is committed items per second from the first append to the
 * last commit (xs_rep_db_stats' `appended`), checked against the rows
 * that arrived in reputation_evidence.  rep.sh compares it with the
 * single-row insert rate pgbench measures on the same cluster (target:
 * at least 10x).
 *
 * Prints "# " lines for people and one RESULT line.  Exit status 0 when
 * every queued item was committed and stored, 1 when not, 2 for a usage
 * or set-up error.
 */
#include "db/migrate.h"
#include "db/reputation.h"

#include "tests/bench/common/bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>

#define IN_TICK_US          1000    /* the producer's timer */
#define IN_TICK_MAX         50000   /* items queued per tick at most: the
                                       loop keeps serving the pool */
#define IN_SETUP_S          60      /* connect and migrate */
#define IN_DRAIN_S          120     /* flush what is queued at the end */
#define IN_USERS            100000  /* distinct reporters */
#define IN_DOMAINS          997     /* distinct subject domains */

struct in_opts {
    const char *pg_dir;     /* borrowed: the cluster's socket folder */
    double      seconds;
    uint64_t    items;
    int         pool;
    bool        json;
    bool        migrate_only;   /* apply the schema and stop */
};

struct in_state {
    const struct in_opts *o;        /* borrowed */
    struct event_base    *base;     /* owned */
    struct pgq           *q;        /* owned */
    struct event         *tick;     /* owned: the producer */
    struct event         *report;   /* owned: progress once a second */
    bool                  is_done;  /* whatever run_until waits for */
    xs_rc                 rc;       /* of the last set-up step */
    int64_t               count;    /* of the last count(*) */
    uint64_t              seq;      /* items made so far */
    uint64_t              queued;   /* accepted by xs_rep_db_append */
    uint64_t              refused;  /* XS_ELIMIT: the queue was full */
    uint64_t              t0;       /* ms: the first append */
    uint64_t              t_stop;   /* ms: the producer stopped */
    uint64_t              last_appended;    /* at the previous report */
    bool                  is_producing;
};

static void
usage(FILE *f)
{
    fputs(
"usage: ingest --pg DIR [--seconds S] [--items N] [--pool N] [--json]\n"
"       ingest --pg DIR --migrate-only\n"
"  --pg DIR       the PostgreSQL socket folder (deploy/pg.sh start DIR)\n"
"  --seconds S    how long to queue items (15)\n"
"  --items N      stop queueing after N items (1000000)\n"
"  --pool N       connections in the pgq pool (4, xmppd's default)\n"
"  --json         also print the result as a JSON object\n"
"  --migrate-only apply the migrations, as xmppd does at start, and exit\n",
        f);
}

static bool
opts_parse(int argc, char **argv, struct in_opts *o)
{
    const struct bench_opt opts[] = {
        { "pg", BENCH_OPT_STR, &o->pg_dir, 0, 0 },
        { "seconds", BENCH_OPT_DOUBLE, &o->seconds, 1, 600 },
        { "items", BENCH_OPT_U64, &o->items, 1, (double)UINT64_MAX },
        { "pool", BENCH_OPT_INT, &o->pool, 1, 64 },
        { "json", BENCH_OPT_FLAG, &o->json, 0, 0 },
        { "migrate-only", BENCH_OPT_FLAG, &o->migrate_only, 0, 0 },
        { NULL, 0, NULL, 0, 0 },
    };

    memset(o, 0, sizeof(*o));
    o->seconds = 15;
    o->items = 1000000;
    o->pool = 4;
    if (!bench_opts_parse(argc, argv, opts, usage))
        return false;
    if (o->pg_dir == NULL) {
        usage(stderr);
        return false;
    }
    return true;
}

/* ---- running the loop ------------------------------------------------ */

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;    /* only ends event_base_loop */
}

/* Run the loop until st->is_done or s seconds pass; true when done. */
static bool
run_until_done(struct in_state *st, double s)
{
    uint64_t deadline = xs_now_ms() + (uint64_t)(s * 1000);
    struct event *wake = evtimer_new(st->base, wake_cb, NULL);
    struct timeval tv = { 0, 10 * 1000 };

    while (!st->is_done && xs_now_ms() < deadline) {
        evtimer_add(wake, &tv);
        event_base_loop(st->base, EVLOOP_ONCE);
    }
    event_free(wake);
    return st->is_done;
}

static void
migrated_cb(xs_rc rc, int version, void *udata)
{
    struct in_state *st = udata;

    st->rc = rc;
    if (rc == XS_OK)
        printf("# schema at version %d\n", version);
    st->is_done = true;
}

static void
count_cb(xs_rc rc, const PGresult *res, void *udata)
{
    struct in_state *st = udata;

    st->rc = rc;
    if (rc == XS_OK && (PQntuples(res) != 1 ||
        !pgq_text_int64(PQgetvalue(res, 0, 0), &st->count)))
        st->rc = XS_EIO;
    st->is_done = true;
}

/* Rows in reputation_evidence now, or -1. */
static int64_t
rows_count(struct in_state *st)
{
    st->is_done = false;
    st->count = -1;
    if (pgq_query(st->q, "SELECT count(*) FROM reputation_evidence", 0,
        NULL, count_cb, st) != XS_OK)
        return -1;
    if (!run_until_done(st, IN_SETUP_S) || st->rc != XS_OK)
        return -1;
    return st->count;
}

/* ---- the producer ----------------------------------------------------- */

/* Item number n: a different subject each (a stream of new items, as a
 * server sees them), kinds and reporters in rotation, a short note now
 * and then. */
static xs_rc
item_append(struct in_state *st, uint64_t n, int64_t now)
{
    static const enum xs_evk kinds[] = { XS_EVK_BLOCK, XS_EVK_REPORT_SPAM,
        XS_EVK_SUB_REFUSED, XS_EVK_CONVERSED, XS_EVK_BLOCK,
        XS_EVK_REPORT_ABUSE };
    static const double weights[] = { -5, -10, -2, 2, -5, -10 };
    struct xs_evidence ev;
    char subject[64], source[64];
    int k = (int)(n % XS_ARRAY_LEN(kinds));
    int a = snprintf(subject, sizeof(subject), "s%" PRIu64 "@spam%" PRIu64
        ".bench", n, n % IN_DOMAINS);
    int b = snprintf(source, sizeof(source), "u%" PRIu64 "@localhost",
        (n * 7919) % IN_USERS);

    xs_assert(a > 0 && (size_t)a < sizeof(subject));
    xs_assert(b > 0 && (size_t)b < sizeof(source));
    memset(&ev, 0, sizeof(ev));
    ev.subject = subject;
    ev.kind = kinds[k];
    /* As admitted: the policy weight scaled by the reporter's standing. */
    ev.weight = weights[k] * (0.25 + 0.75 * (double)(n % 101) / 100.0);
    ev.src = XS_EVSRC_USER;
    ev.source = source;
    ev.at = now;
    ev.note = n % 10 == 0 ? "reason: spam" : NULL;
    return xs_rep_db_append(st->q, &ev);
}

static void
producer_stop(struct in_state *st)
{
    st->is_producing = false;
    st->t_stop = xs_now_ms();
    event_del(st->tick);
    xs_rep_db_flush_soon(st->q);
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct in_state *st = arg;
    const struct in_opts *o = st->o;
    int64_t now = xs_wall_s();
    struct pgq_batchq_stats s;
    size_t room;

    (void)fd, (void)what;
    if (!st->is_producing)
        return;
    if (st->t0 == 0)
        st->t0 = xs_now_ms();
    /* Top the queue up to its bound, not past it: items refused when it
     * is full would be dropped (and logged) by the store. */
    xs_rep_db_stats(st->q, &s);
    room = s.queued < XS_REP_DB_QUEUE_MAX ? XS_REP_DB_QUEUE_MAX - s.queued :
        0;
    if (room > IN_TICK_MAX)
        room = IN_TICK_MAX;
    if (st->queued >= o->items ||
        (double)(xs_now_ms() - st->t0) >= o->seconds * 1000) {
        producer_stop(st);
        return;
    }
    for (size_t i = 0; i < room; i++) {
        xs_rc rc;

        if (st->queued >= o->items ||
            (double)(xs_now_ms() - st->t0) >= o->seconds * 1000) {
            producer_stop(st);
            return;
        }
        rc = item_append(st, st->seq, now);
        if (rc == XS_ELIMIT) {
            /* Full after all (the bound counts differently): the item
             * is dropped and counted by the store; the next tick tries
             * again. */
            st->refused++;
            st->seq++;
            return;
        }
        if (rc != XS_OK) {
            fprintf(stderr, "ingest: xs_rep_db_append: %s\n",
                xs_rc_str(rc));
            st->rc = rc;
            producer_stop(st);
            return;
        }
        st->queued++;
        st->seq++;
    }
}

static void
report_cb(evutil_socket_t fd, short what, void *arg)
{
    struct in_state *st = arg;
    struct pgq_batchq_stats s;

    (void)fd, (void)what;
    if (st->t0 == 0)
        return;
    xs_rep_db_stats(st->q, &s);
    printf("# %5.1f s: committed %" PRIu64 " (+%" PRIu64 "/s), %zu waiting, "
        "%" PRIu64 " batches, %" PRIu64 " retries\n",
        (double)(xs_now_ms() - st->t0) / 1000.0, s.appended,
        s.appended - st->last_appended, s.queued, s.batches, s.retries);
    fflush(stdout);
    st->last_appended = s.appended;
    if (!st->is_producing && s.appended >= st->queued)
        st->is_done = true;
}

static void
drain_cb(evutil_socket_t fd, short what, void *arg)
{
    struct in_state *st = arg;
    struct pgq_batchq_stats s;

    (void)fd, (void)what;
    if (st->is_producing || st->is_done)
        return;
    xs_rep_db_stats(st->q, &s);
    if (s.appended >= st->queued)
        st->is_done = true;
}

int
main(int argc, char **argv)
{
    struct in_opts o;
    struct in_state st;
    struct pgq_batchq_stats s;
    struct event *drain = NULL;
    struct timeval tick = { 0, IN_TICK_US }, sec = { 1, 0 };
    char conninfo[256];
    int64_t rows0, rows1;
    uint64_t t_end;
    double secs, per_s, win_s;
    bool is_ok;
    int n, rc = 2;

    if (!opts_parse(argc, argv, &o))
        return 2;
    xs_log_min = XS_LOG_WARN;
    memset(&st, 0, sizeof(st));
    st.o = &o;
    n = snprintf(conninfo, sizeof(conninfo),
        "host=%s dbname=xmppd user=xmppd", o.pg_dir);
    if (n < 0 || (size_t)n >= sizeof(conninfo)) {
        fprintf(stderr, "ingest: --pg is too long\n");
        return 2;
    }
    st.base = event_base_new();
    if (st.base == NULL || pgq_new(st.base, conninfo, o.pool, 1024,
        &st.q) != XS_OK) {
        fprintf(stderr, "ingest: cannot make the pgq pool\n");
        goto out;
    }
    /* The schema, as xmppd applies it at start. */
    if (pgq_migrate(st.q, migrated_cb, &st) != XS_OK ||
        !run_until_done(&st, IN_SETUP_S) || st.rc != XS_OK) {
        fprintf(stderr, "ingest: migrations failed (%s)\n",
            xs_rc_str(st.rc));
        goto out;
    }
    if (o.migrate_only) {
        rc = 0;
        goto out;
    }
    if ((rows0 = rows_count(&st)) < 0) {
        fprintf(stderr, "ingest: cannot count reputation_evidence\n");
        goto out;
    }
    printf("# queueing evidence for %.0f s (at most %" PRIu64 " items), "
        "pool of %d; batches of up to %d, queue of %d\n", o.seconds,
        o.items, o.pool, XS_REP_DB_BATCH_MAX, XS_REP_DB_QUEUE_MAX);
    fflush(stdout);

    st.is_done = false;
    st.is_producing = true;
    st.rc = XS_OK;
    st.tick = event_new(st.base, -1, EV_PERSIST, tick_cb, &st);
    st.report = event_new(st.base, -1, EV_PERSIST, report_cb, &st);
    drain = event_new(st.base, -1, EV_PERSIST, drain_cb, &st);
    evtimer_add(st.tick, &tick);
    evtimer_add(st.report, &sec);
    evtimer_add(drain, &tick);
    if (!run_until_done(&st, o.seconds + IN_DRAIN_S))
        fprintf(stderr, "ingest: not everything was committed within %d s "
            "of the end\n", IN_DRAIN_S);
    t_end = xs_now_ms();
    event_del(st.report);
    event_del(drain);
    if (st.is_producing)
        producer_stop(&st);

    xs_rep_db_stats(st.q, &s);
    rows1 = rows_count(&st);
    secs = (double)(t_end - st.t0) / 1000.0;
    win_s = (double)(st.t_stop - st.t0) / 1000.0;
    per_s = secs > 0 ? (double)s.appended / secs : 0;
    is_ok = st.rc == XS_OK && s.appended == st.queued && rows1 >= 0 &&
        (uint64_t)(rows1 - rows0) == s.appended;
    printf("# %" PRIu64 " items queued in %.1f s (%" PRIu64 " refused while "
        "the queue was full), %" PRIu64 " committed in %" PRIu64
        " batches (%.0f items a batch), %" PRIu64 " retries, in %.1f s: "
        "%.0f items/s; %" PRId64 " rows arrived%s\n", st.queued, win_s,
        st.refused, s.appended, s.batches, s.batches > 0 ?
        (double)s.appended / (double)s.batches : 0.0, s.retries, secs,
        per_s, rows1 - rows0, is_ok ? "" : " -> MISMATCH");
    printf("RESULT server=xmppd scenario=rep_ingest pool=%d queued=%" PRIu64
        " refused=%" PRIu64 " appended=%" PRIu64 " batches=%" PRIu64
        " retries=%" PRIu64 " dropped=%" PRIu64 " rows=%" PRId64
        " seconds=%.2f items_per_s=%.0f check=%s\n", o.pool, st.queued,
        st.refused, s.appended, s.batches, s.retries, s.dropped,
        rows1 - rows0, secs, per_s, is_ok ? "ok" : "mismatch");
    if (o.json)
        printf("{\"server\":\"xmppd\",\"scenario\":\"rep_ingest\","
            "\"appended\":%" PRIu64 ",\"batches\":%" PRIu64 ",\"seconds\":"
            "%.2f,\"items_per_s\":%.0f,\"check\":\"%s\"}\n", s.appended,
            s.batches, secs, per_s, is_ok ? "ok" : "mismatch");
    rc = is_ok ? 0 : 1;
out:
    if (drain != NULL)
        event_free(drain);
    if (st.tick != NULL)
        event_free(st.tick);
    if (st.report != NULL)
        event_free(st.report);
    pgq_free(st.q);
    if (st.base != NULL)
        event_base_free(st.base);
    return rc;
}
