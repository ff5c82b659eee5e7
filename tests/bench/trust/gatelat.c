/*
 * tests/bench/trust/gatelat.c: issue 6's second bench, the subscription
 * gate's decision latency without network (target: p99 < 200 us).
 *
 * What is timed, per inbound <presence type='subscribe'/>, is the whole
 * synchronous path of mod_gate's S2S_IN hook (reputation/gate.c,
 * gate_on_s2s_in and gate_judge) for a request whose flag's key is known
 * (pinned: no discovery), in the hook's order:
 *
 *   1. the recipient is an account (xs_rep_account_exists), the pending
 *      record (three strdup), the contact check (xs_roster_loaded: the
 *      recipients are offline, so no roster is loaded, as for most
 *      strangers' requests);
 *   2. xs_trust_check_start: mod_trust's own code (trust.c, initialized
 *      from a configuration with the issuer's key pinned): find and parse
 *      the flag, verify it (replay cache on, nonce recorded);
 *   3. evidence: the issuing domain's score, xs_gate_flag_points, the
 *      (sender, issuer) "seen in 10 minutes" set, xs_rep_submit and
 *      xs_rep_db_append (what xs_reputation_submit does: the item is
 *      queued for PostgreSQL);
 *   4. the sender's and its domain's scores, xs_gate_decide;
 *   5. xs_flag_strip and, for a delivery, the verified <info/> appended;
 *   6. the audit entry: the sender's explanation (xs_rep_explain) as JSON
 *      lines, the flag's line (the domain's lines too for domain_below),
 *      then xs_audit_record: mod_audit's own code (audit.c) dumps the
 *      JSON and queues the row for PostgreSQL.  Every decision is audited
 *      (audit_deliveries: true, the default).
 *
 * The hook needs the whole server (mod_reputation's engine loaded from
 * PostgreSQL, the router for an unsubscribed answer), so this program
 * calls the same functions in the same order, gate.c's own among them:
 * xs_gate_flag_item builds the evidence item, xs_gate_audit the audit
 * entry (gate.h), and the "seen recently" set is reputation/recent.h's,
 * as gate.c's is.  Not timed: the router's action (XS_PASS for a
 * delivery; an <presence type='unsubscribed'/> routed for a rejection)
 * and the log line (a file write at info level for a rejection).  The
 * database queues are real (pgq, never connected: a fresh pool per batch
 * keeps them from filling).  tests/bench/trust.sh's flood bench reads
 * xmppd's own histogram of the real hook, xmppd_gate_decision_seconds,
 * next to these figures.
 *
 * The engine is built as mod_reputation builds it at start, with the
 * default policy: 100,000 local accounts of b.bench, 100,000 remote JIDs
 * under 1,000 domains with 1 to 5 items each, and the senders: 20,000
 * JIDs of a.bench (half of them with items, 1% of those with many blocks
 * and reports), a.bench itself with a few items.  Requests: a random
 * sender of a.bench to a random local account, each with a fresh flag
 * (trust 30 to 95; 3% of the flags state a trust below min_flag_trust),
 * made beforehand in batches (untimed).
 *
 *   gatelat [--requests N] [--accounts N] [--remote N] [--batch N] [--json]
 *
 * Run it pinned to one core (tests/bench/trust.sh: taskset -c 0).  "# "
 * lines for people, RESULT lines like the load generator's.  Exit status
 * 0 when the p99 met the target and every flag verified, 1 when not, 2 for
 * a usage or set-up error.
 */
#include "reputation/gate.h"
#include "reputation/recent.h"
#include "reputation/trust.h"

#include "db/pgq.h"
#include "db/reputation.h"
#include "tests/bench/common/bench.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/im/roster.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <event2/event.h>
#include <sodium.h>

#define GL_TARGET_US        200.0   /* p99, issue 6 */
#define GL_ISSUER           "a.bench"
#define GL_HOST             "b.bench"
#define GL_DOMAINS          1000    /* other remote domains */
#define GL_SPAMMER_PCT      1       /* of the senders with items */
#define GL_LOW_TRUST_PCT    3       /* flags below min_flag_trust */
#define GL_DAY              86400
/* gate.c's (sender, issuer) set: GATE_FLAGGED_MAX, GATE_FLAGGED_WINDOW_S. */
#define GL_FLAGGED_MAX      65536
#define GL_FLAGGED_WINDOW_S 600

extern const struct xs_module xs_mod_trust;
extern const struct xs_module xs_mod_audit;

/* ---- the server context the modules borrow (main.c's, in xmppd) ---- */

static struct xs_server gl_server;

struct xs_server *
xs_server(void)
{
    return &gl_server;
}

void
xs_startup_hold(void)
{
}

void
xs_startup_release(bool is_ok)
{
    (void)is_ok;
}

/* ---- options ------------------------------------------------------- */

struct gl_opts {
    size_t requests;
    size_t accounts;
    size_t remote;
    size_t senders;
    size_t batch;
    bool   json;
};

static void
usage(FILE *f)
{
    fputs(
"usage: gatelat [--requests N] [--accounts N] [--remote N] [--senders N]\n"
"               [--batch N] [--json]\n"
"  --requests N   requests timed (50000; at most the replay cache, 200000)\n"
"  --accounts N   local accounts of " GL_HOST " (100000)\n"
"  --remote N     remote JIDs with evidence under other domains (100000)\n"
"  --senders N    JIDs of " GL_ISSUER " that send (20000)\n"
"  --batch N      requests flagged ahead, per batch (5000)\n"
"  --json         also print the result as a JSON object\n", f);
}

static bool
opts_parse(int argc, char **argv, struct gl_opts *o)
{
    const struct bench_opt opts[] = {
        { "requests", BENCH_OPT_SIZE, &o->requests, 100, 200000 },
        { "accounts", BENCH_OPT_SIZE, &o->accounts, 1, 10000000 },
        { "remote", BENCH_OPT_SIZE, &o->remote, 0, 10000000 },
        { "senders", BENCH_OPT_SIZE, &o->senders, 1, 1000000 },
        /* The audit queue holds 100,000 entries and 64 MiB. */
        { "batch", BENCH_OPT_SIZE, &o->batch, 1, 20000 },
        { "json", BENCH_OPT_FLAG, &o->json, 0, 0 },
        { NULL, 0, NULL, 0, 0 },
    };

    o->requests = 50000;
    o->accounts = 100000;
    o->remote = 100000;
    o->senders = 20000;
    o->batch = 5000;
    o->json = false;
    return bench_opts_parse(argc, argv, opts, usage);
}

/* ---- the world ------------------------------------------------------- */

struct gl_world {
    char                      dir[64];
    struct xs_conf           *conf;         /* owned */
    struct xs_rep_policy      policy;       /* owned */
    struct xs_rep            *rep;          /* owned */
    struct xs_trustkey_store *issuer_keys;  /* owned: a.bench's */
    void                     *trust_state;  /* owned by mod_trust */
    void                     *audit_state;  /* owned by mod_audit */
    int64_t                   now;
    struct bench_names           local;        /* u<i>@b.bench */
    struct bench_names           senders;      /* s<i>@a.bench */
    size_t                    items;
};

static struct xs_evidence
gl_item(const struct gl_world *w, const char *subject, enum xs_evk kind)
{
    struct xs_evidence ev;

    memset(&ev, 0, sizeof(ev));
    ev.subject = subject;
    ev.kind = kind;
    ev.at = w->now - (int64_t)bench_below(90 * GL_DAY);
    ev.src = XS_EVSRC_USER;
    ev.source = bench_names_get(&w->local, bench_below(w->local.n));
    ev.weight = w->policy.weight[kind] * (w->policy.reporter_floor +
        (1 - w->policy.reporter_floor) * (double)bench_below(101) / 100.0);
    return ev;
}

static void
gl_restore(struct gl_world *w, const char *subject, enum xs_evk kind)
{
    struct xs_evidence ev = gl_item(w, subject, kind);

    xs_rep_restore(w->rep, &ev, false, w->now);
    w->items++;
}

static void
world_accounts(struct gl_world *w, size_t n)
{
    char bare[64];

    for (size_t i = 0; i < n; i++) {
        uint64_t counts[XS_ACT__COUNT] = { 0 };
        int64_t created = w->now - (int64_t)bench_below(3 * 365 * GL_DAY);
        const char *name;
        int k = snprintf(bare, sizeof(bare), "u%zu@" GL_HOST, i);

        xs_assert(k > 0 && (size_t)k < sizeof(bare));
        name = bench_names_add(&w->local, bare);
        counts[XS_ACT_MSGS_TO_CONTACTS] = bench_below(5000);
        counts[XS_ACT_MSGS_FROM_CONTACTS] = bench_below(5000);
        counts[XS_ACT_MSGS_TO_STRANGERS] = bench_below(10);
        counts[XS_ACT_SUBS_SENT] = bench_below(40);
        counts[XS_ACT_SUBS_ACCEPTED] = counts[XS_ACT_SUBS_SENT] / 2;
        counts[XS_ACT_SUBS_RECEIVED] = bench_below(40);
        xs_rep_account_set(w->rep, name, created, false);
        xs_rep_account_activity(w->rep, name, counts,
            (uint32_t)bench_below((uint64_t)(w->now - created) / GL_DAY + 1));
        xs_rep_account_mutual_set(w->rep, name, (uint32_t)bench_below(60));
    }
}

static void
world_remote(struct gl_world *w, const struct gl_opts *o)
{
    static const enum xs_evk kinds[] = { XS_EVK_BLOCK, XS_EVK_REPORT_SPAM,
        XS_EVK_SUB_REFUSED, XS_EVK_CONVERSED, XS_EVK_CONVERSED,
        XS_EVK_CONVERSED };
    struct bench_names other = { 0 };
    char name[128];
    int k;

    for (size_t i = 0; i < o->remote; i++) {
        const char *s;
        uint64_t m = 1 + bench_below(5);

        k = snprintf(name, sizeof(name), "r%zu@d%" PRIu64 ".remote.bench",
            i, bench_below(GL_DOMAINS));
        xs_assert(k > 0 && (size_t)k < sizeof(name));
        s = bench_names_add(&other, name);
        for (uint64_t j = 0; j < m; j++)
            gl_restore(w, s, kinds[bench_below(XS_ARRAY_LEN(kinds))]);
    }
    bench_names_fini(&other);
    /* The senders: half known (a spammer's worth of blocks and reports
     * for some), half strangers. */
    for (size_t i = 0; i < o->senders; i++) {
        const char *s;

        k = snprintf(name, sizeof(name), "s%zu@" GL_ISSUER, i);
        xs_assert(k > 0 && (size_t)k < sizeof(name));
        s = bench_names_add(&w->senders, name);
        if (bench_below(2) == 0)
            continue;
        if (bench_below(100) < GL_SPAMMER_PCT) {
            uint64_t m = 8 + bench_below(8);

            for (uint64_t j = 0; j < m; j++)
                gl_restore(w, s, j % 2 == 0 ? XS_EVK_BLOCK
                    : XS_EVK_REPORT_SPAM);
        } else {
            /* An ordinary account: our users talk to it, now and then
             * one refuses it. */
            uint64_t m = 1 + bench_below(4);

            for (uint64_t j = 0; j < m; j++)
                gl_restore(w, s, bench_below(6) == 0 ? XS_EVK_SUB_REFUSED
                    : XS_EVK_CONVERSED);
        }
    }
    /* The issuing domain: its users talk to ours. */
    for (int j = 0; j < 5; j++)
        gl_restore(w, GL_ISSUER, XS_EVK_CONVERSED);
}

/* A fresh pgq that never connects: the evidence and audit queues live on
 * it (db/reputation.c, db/audit.c).  Between batches, untimed. */
static bool
world_new_db(void)
{
    struct pgq *q = NULL;

    pgq_free(gl_server.db);
    gl_server.db = NULL;
    if (pgq_new(gl_server.base, "host=/nonexistent/xmppd-bench "
            "dbname=xmppd user=xmppd", 1, 1000000, &q) != XS_OK)
        return false;
    gl_server.db = q;
    return true;
}

static bool
world_init(struct gl_world *w, const struct gl_opts *o)
{
    const char *issuer[] = { GL_ISSUER };
    struct xs_trustkey_opts ko = {
        .max_validity_s = XS_FLAG_MAX_VALIDITY_S, .skew_s = XS_FLAG_SKEW_S,
    };
    struct xs_trust_pubkey pk;
    char id[XS_TRUSTKEY_ID_LEN + 1];
    char pk64[64], adir[96], bdir[96], err[512];
    char *yaml, *msg = NULL;
    int n;

    memset(w, 0, sizeof(*w));
    if (!bench_tmpdir_new(w->dir, sizeof(w->dir), "gate"))
        return false;
    w->now = xs_wall_s();
    n = snprintf(adir, sizeof(adir), "%s/a-keys", w->dir);
    xs_assert(n > 0 && (size_t)n < sizeof(adir));
    n = snprintf(bdir, sizeof(bdir), "%s/b-keys", w->dir);
    xs_assert(n > 0 && (size_t)n < sizeof(bdir));
    ko.dir = adir;
    if (xs_trustkey_store_load(&ko, issuer, 1, w->now, &w->issuer_keys,
            err, sizeof(err)) != XS_OK) {
        fprintf(stderr, "gatelat: issuer keys: %s\n", err);
        return false;
    }
    xs_assert(xs_trustkey_current(w->issuer_keys, GL_ISSUER, id));
    xs_assert(xs_trustkey_lookup(w->issuer_keys, GL_ISSUER, id, w->now,
        &pk));
    xs_trust_b64_encode(pk.pk, sizeof(pk.pk), false, pk64, sizeof(pk64));

    /* b.bench's configuration: the issuer's key pinned (a key found
     * without discovery), everything else at its defaults. */
    yaml = xs_asprintf("hosts: [" GL_HOST "]\n"
        "modules:\n"
        "  mod_reputation:\n"
        "    trust_keys_dir: %s\n"
        "    trust_keys: {" GL_ISSUER ": [\"%s\"]}\n", bdir, pk64);
    if (xs_conf_load_string(yaml, "gatelat", &w->conf, &msg) != XS_OK) {
        fprintf(stderr, "gatelat: configuration: %s\n",
            msg != NULL ? msg : "?");
        xs_free(msg);
        xs_free(yaml);
        return false;
    }
    xs_free(yaml);
    if (xs_rep_policy_from_conf(w->conf, xs_conf_module_opts(w->conf,
            "mod_reputation"), &w->policy, &msg) != XS_OK) {
        fprintf(stderr, "gatelat: policy: %s\n", msg != NULL ? msg : "?");
        xs_free(msg);
        return false;
    }
    gl_server.base = event_base_new();
    gl_server.conf = w->conf;
    if (gl_server.base == NULL || !world_new_db()) {
        fprintf(stderr, "gatelat: cannot make the loop or the pool\n");
        return false;
    }
    if (xs_mod_trust.init(w->conf, &w->trust_state) != XS_OK ||
        xs_mod_audit.init(w->conf, &w->audit_state) != XS_OK) {
        fprintf(stderr, "gatelat: mod_trust or mod_audit did not start\n");
        return false;
    }

    w->rep = xs_rep_new(&w->policy);
    world_accounts(w, o->accounts);
    world_remote(w, o);
    return true;
}

static void
world_fini(struct gl_world *w)
{
    if (w->trust_state != NULL)
        xs_mod_trust.fini(w->trust_state);
    if (w->audit_state != NULL)
        xs_mod_audit.fini(w->audit_state);
    pgq_free(gl_server.db);
    gl_server.db = NULL;
    xs_rep_free(w->rep);
    if (w->conf != NULL)
        xs_rep_policy_fini(&w->policy);
    xs_conf_free(w->conf);
    if (gl_server.base != NULL)
        event_base_free(gl_server.base);
    xs_trustkey_store_free(w->issuer_keys);
    bench_tmpdir_free(w->dir);
    bench_names_fini(&w->local);
    bench_names_fini(&w->senders);
}

/* ---- requests -------------------------------------------------------- */

struct gl_req {
    struct xs_stanza *st;       /* owned */
    const char       *from;     /* borrowed: the world's names */
    const char       *to;
};

/* n requests with fresh flags (untimed). */
static void
batch_make(struct gl_world *w, struct gl_req *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        struct xs_elem *el = xs_elem_new(XS_NS_SERVER, "presence");
        struct xs_flag_claim c;

        v[i].from = bench_names_get(&w->senders, bench_below(w->senders.n));
        v[i].to = bench_names_get(&w->local, bench_below(w->local.n));
        c = (struct xs_flag_claim){
            .issuer = GL_ISSUER, .sender = v[i].from, .recipient = v[i].to,
            .affiliation = "registered",
            .since = w->now - GL_DAY * (int64_t)(1 + bench_below(700)),
            .trust = bench_below(100) < GL_LOW_TRUST_PCT
                ? (int)bench_below(20) : 30 + (int)bench_below(66),
            .issued = w->now - 1, .expires = w->now - 1 + XS_FLAG_VALIDITY_S,
        };
        xs_elem_set_attr(el, "from", v[i].from);
        xs_elem_set_attr(el, "to", v[i].to);
        xs_elem_set_attr(el, "type", "subscribe");
        xs_elem_set_attr(el, "id", "s1");
        xs_assert(xs_flag_attach(el, &c, w->issuer_keys) == XS_OK);
        v[i].st = xs_stanza_new(el);
    }
}

/* ---- one request: the hook's synchronous path --------------------------- */

struct gl_run {
    struct xs_rep_recent  flagged;  /* gate.c's (sender, issuer) set */
    struct bench_samples  ns;       /* per request */
    uint64_t          stage_ns[4];  /* check, judge, audit, other */
    uint64_t          outcomes[XS_GATE_DECISION__COUNT][XS_GATE_R__COUNT];
    uint64_t          not_ok, async, submitted, audited, audit_failed;
    uint64_t          evidence_dropped;
};

static void
gl_on_checked(struct xs_trust_check *c, void *ud)
{
    (void)c, (void)ud;
}

static void
gl_one(struct gl_world *w, struct gl_run *run, struct gl_req *q)
{
    const struct xs_gate_policy *pol = &w->policy.gate;
    struct xs_trust_check *check;
    struct xs_gate_input in = { .policy = pol };
    struct xs_gate_outcome o;
    struct xs_rep_score d;
    char *from, *to, *domain;
    int64_t now;
    int trust;
    uint64_t t0, t1, t2, t3, t4;

    t0 = bench_now_ns();
    /* 1. gate_on_s2s_in: an account, the pending record, contacts. */
    xs_assert(xs_rep_account_exists(w->rep, q->to));
    check = xs_calloc(1, sizeof(*check));
    from = xs_strdup(q->from);
    to = xs_strdup(q->to);
    domain = xs_strdup(GL_ISSUER);
    in.is_contact = xs_roster_loaded(to) != NULL;
    /* 2. The flag. */
    t1 = bench_now_ns();
    if (!xs_trust_check_start(check, q->st, from, to, gl_on_checked, NULL))
        run->async++;
    t2 = bench_now_ns();
    if (check->result != XS_FLAG_OK)
        run->not_ok++;
    /* 3. gate_judge: evidence before deciding. */
    now = xs_wall_s();
    trust = check->result == XS_FLAG_OK && check->flag.has_trust
        ? check->flag.trust_n : -1;
    if (trust >= 0) {
        double pts;

        d = xs_rep_score(w->rep, check->flag.issuer, now);
        pts = xs_gate_flag_points(w->policy.trust.flag_weight, trust,
            d.score);
        if (fabs(pts) >= XS_GATE_POINTS_MIN &&
            !xs_rep_recent_seen(&run->flagged, from, check->flag.issuer,
                now)) {
            char note[XS_GATE_NOTE_MAX];
            struct xs_evidence ev = xs_gate_flag_item(check, from, pts, now,
                note, sizeof(note));
            struct xs_evidence stored;
            /* What xs_reputation_submit does with the server's engine. */
            enum xs_rep_admit a = xs_rep_submit(w->rep, &ev, false, now,
                &stored);

            if (a == XS_REP_ADMITTED || a == XS_REP_REPLACED) {
                run->submitted++;
                if (xs_rep_db_append(gl_server.db, &stored) != XS_OK)
                    run->evidence_dropped++;
            }
        }
    }
    /* 4. Scores and the decision. */
    in.flag = check->result;
    in.trust = trust;
    in.sender = xs_rep_score(w->rep, from, now);
    in.domain = xs_rep_score(w->rep, domain, now);
    o = xs_gate_decide(&in);
    /* 5. The stanza for delivery. */
    (void)xs_flag_strip(q->st->el);
    if (o.decision == XS_GATE_DELIVER && check->result == XS_FLAG_OK)
        xs_elem_append(q->st->el, xs_flag_info_elem(&check->flag));
    run->outcomes[o.decision][o.reason]++;
    t3 = bench_now_ns();
    /* 6. The audit entry. */
    if (o.decision == XS_GATE_REJECT || pol->audit_deliveries) {
        const struct xs_gate_audit_in a = {
            .sender = from, .recipient = to, .domain = domain,
            .check = check, .outcome = o, .sender_score = in.sender.score,
            .domain_score = in.domain.score,
        };

        if (xs_gate_audit(w->rep, &a, now) == XS_OK)
            run->audited++;
        else
            run->audit_failed++;
    }
    xs_free(from);
    xs_free(to);
    xs_free(domain);
    xs_free(check);
    t4 = bench_now_ns();
    bench_samples_add(&run->ns, t4 - t0);
    run->stage_ns[0] += t2 - t1;
    run->stage_ns[1] += t3 - t2;
    run->stage_ns[2] += t4 - t3;
    run->stage_ns[3] += t1 - t0;
}

/* ---- main ------------------------------------------------------------ */

int
main(int argc, char **argv)
{
    struct gl_opts o;
    struct gl_world w;
    struct gl_run run;
    struct gl_req *batch;
    struct xs_trust_stats ts;
    uint64_t t0, delivered = 0, rejected = 0;
    double p50, p90, p99, p999, pmax, mean, secs;
    size_t nreq;
    bool ok;
    int rc = 2;

    if (!opts_parse(argc, argv, &o))
        return 2;
    xs_log_min = XS_LOG_WARN;
    if (sodium_init() < 0) {
        fprintf(stderr, "gatelat: sodium_init failed\n");
        return 2;
    }
    memset(&run, 0, sizeof(run));
    xs_rep_recent_init(&run.flagged, GL_FLAGGED_MAX, GL_FLAGGED_WINDOW_S);
    t0 = bench_now_ns();
    if (!world_init(&w, &o))
        goto out;
    printf("# gatelat: engine built in %.1f s: %zu accounts of " GL_HOST
        ", %zu remote JIDs under %d domains, %zu senders of " GL_ISSUER
        " (its score %d), %zu evidence items; policy defaults "
        "(reject_below %.0f, domain_reject_below %.0f, min_flag_trust %d, "
        "audit_deliveries "
        "%s); the issuer's key pinned\n", (double)(bench_now_ns() - t0) / 1e9,
        w.local.n, o.remote, GL_DOMAINS, w.senders.n,
        xs_rep_score(w.rep, GL_ISSUER, w.now).score, w.items,
        w.policy.gate.reject_below, w.policy.gate.domain_reject_below,
        w.policy.gate.min_flag_trust,
        w.policy.gate.audit_deliveries ? "true" : "false");
    fflush(stdout);

    batch = xs_calloc(o.batch, sizeof(*batch));
    /* A first batch untimed: the allocator and the caches warm up. */
    for (size_t pass = 0, done = 0; done < o.requests; pass++) {
        size_t n = pass == 0 ? o.batch < 1000 ? o.batch : 1000
            : o.requests - done < o.batch ? o.requests - done : o.batch;

        batch_make(&w, batch, n);
        for (size_t i = 0; i < n; i++)
            gl_one(&w, &run, &batch[i]);
        for (size_t i = 0; i < n; i++)
            xs_stanza_unref(batch[i].st);
        if (pass == 0) {
            bench_samples_reset(&run.ns);
            memset(run.stage_ns, 0, sizeof(run.stage_ns));
            memset(run.outcomes, 0, sizeof(run.outcomes));
            run.not_ok = run.async = run.submitted = run.audited = 0;
            run.audit_failed = run.evidence_dropped = 0;
        } else {
            done += n;
        }
        /* Empty the database queues (they would send now). */
        if (!world_new_db()) {
            fprintf(stderr, "gatelat: cannot make the pool\n");
            goto out;
        }
    }
    xs_free(batch);

    nreq = run.ns.n;
    secs = (double)run.ns.sum / 1e9;
    p50 = bench_samples_pct_us(&run.ns, 50);
    p90 = bench_samples_pct_us(&run.ns, 90);
    p99 = bench_samples_pct_us(&run.ns, 99);
    p999 = bench_samples_pct_us(&run.ns, 99.9);
    pmax = bench_samples_pct_us(&run.ns, 100);
    mean = bench_samples_mean_us(&run.ns);
    for (size_t r = 0; r < XS_GATE_R__COUNT; r++) {
        delivered += run.outcomes[XS_GATE_DELIVER][r];
        rejected += run.outcomes[XS_GATE_REJECT][r];
    }
    xs_trust_stats(&ts);
    ok = p99 < GL_TARGET_US && run.not_ok == 0 && run.async == 0 &&
        run.audit_failed == 0;
    printf("# %zu requests: mean %.1f us, p50 %.1f, p90 %.1f, p99 %.1f, "
        "p99.9 %.1f, max %.1f us (%.0f decisions/s on one core) -> %s\n",
        nreq, mean, p50, p90, p99, p999, pmax, (double)nreq / secs,
        p99 < GL_TARGET_US ? "met" : "MISSED");
    printf("# mean per stage: account+record+contact %.1f us, flag check "
        "(xs_trust_check_start) %.1f us, evidence+scores+decision+strip "
        "%.1f us, audit entry (explanation JSON + xs_audit_record) %.1f us\n",
        (double)run.stage_ns[3] / 1e3 / (double)nreq,
        (double)run.stage_ns[0] / 1e3 / (double)nreq,
        (double)run.stage_ns[1] / 1e3 / (double)nreq,
        (double)run.stage_ns[2] / 1e3 / (double)nreq);
    printf("# decisions: %" PRIu64 " delivered, %" PRIu64 " rejected (",
        delivered, rejected);
    for (size_t r = 0, first = 1; r < XS_GATE_R__COUNT; r++) {
        uint64_t nr = run.outcomes[XS_GATE_REJECT][r];

        if (nr == 0)
            continue;
        printf("%s%s %" PRIu64, first ? "" : ", ",
            xs_gate_reason_name((enum xs_gate_reason)r), nr);
        first = 0;
    }
    printf("); flags not valid %" PRIu64 ", waited for keys %" PRIu64
        "; trust_flag items admitted %" PRIu64 " (%" PRIu64 " not queued); "
        "audit entries queued %" PRIu64 " (%" PRIu64 " refused); mod_trust "
        "counted %" PRIu64 " valid\n", run.not_ok, run.async, run.submitted,
        run.evidence_dropped, run.audited, run.audit_failed,
        ts.checked[XS_FLAG_OK]);
    printf("RESULT server=xmppd scenario=trust_gate requests=%zu "
        "accounts=%zu remote=%zu senders=%zu mean_us=%.2f p50_us=%.2f "
        "p90_us=%.2f p99_us=%.2f p999_us=%.2f max_us=%.1f "
        "decisions_per_s=%.0f check_us=%.2f judge_us=%.2f audit_us=%.2f "
        "delivered=%" PRIu64 " rejected=%" PRIu64 " not_ok=%" PRIu64
        " async=%" PRIu64 " audit_failed=%" PRIu64 " target_us=%.0f "
        "pass=%s\n", nreq, w.local.n, o.remote, w.senders.n, mean, p50,
        p90, p99, p999, pmax, (double)nreq / secs,
        (double)run.stage_ns[0] / 1e3 / (double)nreq,
        (double)run.stage_ns[1] / 1e3 / (double)nreq,
        (double)run.stage_ns[2] / 1e3 / (double)nreq, delivered, rejected,
        run.not_ok, run.async, run.audit_failed, GL_TARGET_US,
        ok ? "yes" : "no");
    if (o.json)
        printf("{\"server\":\"xmppd\",\"scenario\":\"trust_gate\","
            "\"requests\":%zu,\"p50_us\":%.2f,\"p99_us\":%.2f,"
            "\"max_us\":%.1f,\"pass\":\"%s\"}\n", nreq, p50, p99, pmax,
            ok ? "yes" : "no");
    fflush(stdout);
    rc = ok ? 0 : 1;
out:
    bench_samples_fini(&run.ns);
    xs_rep_recent_fini(&run.flagged);
    world_fini(&w);
    return rc;
}
