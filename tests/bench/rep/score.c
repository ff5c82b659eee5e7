/*
 * tests/bench/rep/score.c: issue 5's first bench, score lookups per second
 * from memory on one core (target: at least 1,000,000/s).
 *
 * Builds one engine the way mod_reputation does at start (xs_rep_new with
 * the default policy, every account with its activity and mutual
 * contacts, stored evidence through xs_rep_restore), with 1,000,000 local
 * accounts and 200,000 remote JIDs holding a few items each (plus their
 * domains, and a share of accounts that were blocked or reported), then
 * times xs_rep_score over a precomputed random mix of subjects:
 *
 *   cached       every subject's score is cached (the steady state: a
 *                subject is looked up far more often than its cached
 *                score expires, XS_REP_CACHE_S)
 *   invalidated  the clock moved past XS_REP_CACHE_S: the first lookup of
 *                each subject recomputes it, later ones hit the cache
 *   recompute    every lookup recomputes: each known subject once, in a
 *                random order, right after the clock moved again
 *
 * The mix is uniform over each population (no hot set: the worst case for
 * the CPU caches): 60% local accounts, 25% remote JIDs, 5% remote domains,
 * 10% subjects nobody knows.  Run it pinned to one core (tests/bench/rep.sh
 * uses taskset).
 *
 * Then the walks over every account behind /metrics (the census) and
 * reputation_list: once whole (what they would stall the loop for), then
 * in slices of --budget as the server runs them (reputation/ops.c), with
 * scores cached and then stale, timing each slice in CPU time (target:
 * every slice under 1 ms).  The prune likewise: once whole
 * (xs_rep_prune, what mod_reputation's timer ran before it ran slices),
 * then in slices of --prune-budget (xs_rep_prune_step, as
 * mod_reputation.c runs it), with items to drop and then without.
 *
 * Last, a flood from one domain: --flood new JIDs of a fresh domain,
 * each with one item (a trust flag, as the subscription gate admits for
 * each new sender), each followed by the score of its JID (which scores
 * the domain, made stale by the item): per item, the time of both,
 * against the gate's target (p99 under 200 us for a whole decision).
 * A domain's share of its JIDs' items is kept as they change (dsum.c,
 * struct rep_dsum): before, it was summed over every JID of the domain
 * at each change, O(N) per item.
 *
 * Prints "# " lines for people and one RESULT line per phase, like the
 * load generator.  Exit status 0 when the cached and the invalidated rates
 * and the slices meet their targets, 1 when not, 2 for a usage error.
 */
#include "reputation/engine.h"

#include "tests/bench/common/bench.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SC_TARGET       1000000.0   /* lookups/s, issue 5 */
#define SC_DOMAINS      2000        /* remote domains the JIDs are under */
#define SC_LOCAL_HOST   "localhost"
#define SC_MIX_LOCAL    60          /* percent of the mix */
#define SC_MIX_REMOTE   25
#define SC_MIX_DOMAIN   5           /* the rest: unknown subjects */
#define SC_BLAMED_PCT   5           /* accounts with evidence against them */
#define SC_DAY          86400
/* Subjects per slice of the census and list walks: what ops.c gives a
 * slice (OPS_SLICE_BUDGET); the target is under 1 ms a slice. */
#define SC_SLICE_BUDGET 4000
#define SC_SLICE_MS     1.0
/* What mod_reputation.c gives a slice of the prune (REP_PRUNE_BUDGET). */
#define SC_PRUNE_BUDGET 4000
#define SC_FLOOD        20000       /* JIDs of the flooding domain */
#define SC_FLOOD_US     200.0       /* the gate's p99 target, issue 6 */

struct sc_opts {
    size_t   accounts;
    size_t   remote;
    size_t   lookups;
    size_t   budget;        /* subjects per slice of a walk */
    size_t   prune_budget;  /* units per slice of the prune */
    size_t   flood;         /* JIDs of the flooding domain */
    uint64_t seed;
    bool     json;
};

/* Every subject name in an arena (1.4 million small strings without 1.4
 * million allocations); a lookup pointer is taken once all are in. */
struct sc_world {
    struct xs_rep      *rep;        /* owned */
    int64_t             now;        /* wall seconds the engine sees */
    struct bench_names  local;      /* u<i>@localhost */
    struct bench_names  remote;     /* r<i>@d<j>.remote.bench */
    struct bench_names  domains;    /* d<j>.remote.bench */
    struct bench_names  unknown;    /* subjects the engine never heard of */
    size_t              items;      /* evidence items restored */
};

static void
usage(FILE *f)
{
    fprintf(f,
"usage: score [--accounts N] [--remote N] [--lookups N] [--budget N]\n"
"             [--prune-budget N] [--flood N] [--seed S] [--json]\n"
"  --accounts N   local accounts (1000000)\n"
"  --remote N     remote JIDs with evidence (200000)\n"
"  --lookups N    timed lookups per phase (10000000)\n"
"  --budget N     subjects per slice of the census and list walks (%d)\n"
"  --prune-budget N  units per slice of the prune (%d)\n"
"  --flood N      JIDs of one domain, an item each (%d)\n"
"  --seed S       random seed (1): the same seed, the same engine and mix\n"
"  --json         also print each result as a JSON object\n",
        SC_SLICE_BUDGET, SC_PRUNE_BUDGET, SC_FLOOD);
}

static bool
opts_parse(int argc, char **argv, struct sc_opts *o)
{
    const struct bench_opt opts[] = {
        { "accounts", BENCH_OPT_SIZE, &o->accounts, 1, 100000000 },
        { "remote", BENCH_OPT_SIZE, &o->remote, 1, 100000000 },
        { "lookups", BENCH_OPT_SIZE, &o->lookups, 1000, 1000000000 },
        { "seed", BENCH_OPT_U64, &o->seed, 0, (double)UINT64_MAX },
        { "budget", BENCH_OPT_SIZE, &o->budget, 1, 100000000 },
        { "prune-budget", BENCH_OPT_SIZE, &o->prune_budget, 1, 100000000 },
        { "flood", BENCH_OPT_SIZE, &o->flood, 1, 10000000 },
        { "json", BENCH_OPT_FLAG, &o->json, 0, 0 },
        { NULL, 0, NULL, 0, 0 },
    };

    o->accounts = 1000000;
    o->remote = 200000;
    o->lookups = 10000000;
    o->budget = SC_SLICE_BUDGET;
    o->prune_budget = SC_PRUNE_BUDGET;
    o->flood = SC_FLOOD;
    o->seed = 1;
    o->json = false;
    return bench_opts_parse(argc, argv, opts, usage);
}

/* ---- building the engine --------------------------------------------- */

/* An account as the start-up load gives it: created up to 3 years ago
 * (so about 1 in 80 is still in probation), activity drawn so that the
 * scores spread over every level. */
static void
world_add_account(struct sc_world *w, size_t i)
{
    uint64_t counts[XS_ACT__COUNT];
    char bare[64];
    const char *name;
    int64_t created = w->now - (int64_t)bench_below(3 * 365 * SC_DAY);
    uint64_t sent = bench_below(40);
    uint64_t accepted = sent == 0 ? 0 : bench_below(sent + 1);
    uint64_t refused = sent - accepted == 0 ? 0 :
        bench_below(sent - accepted + 1);
    int n = snprintf(bare, sizeof(bare), "u%zu@" SC_LOCAL_HOST, i);

    xs_assert(n > 0 && (size_t)n < sizeof(bare));
    name = bench_names_add(&w->local, bare);
    counts[XS_ACT_MSGS_TO_CONTACTS] = bench_below(5000);
    counts[XS_ACT_MSGS_TO_STRANGERS] = bench_below(8) == 0 ? bench_below(2000) :
        bench_below(10);
    counts[XS_ACT_MSGS_FROM_CONTACTS] = bench_below(5000);
    counts[XS_ACT_MSGS_FROM_STRANGERS] = bench_below(50);
    counts[XS_ACT_SUBS_SENT] = sent;
    counts[XS_ACT_SUBS_ACCEPTED] = accepted;
    counts[XS_ACT_SUBS_REFUSED] = refused;
    counts[XS_ACT_SUBS_RECEIVED] = bench_below(40);
    xs_rep_account_set(w->rep, name, created, bench_below(10000) == 0);
    xs_rep_account_activity(w->rep, name, counts,
        (uint32_t)bench_below((uint64_t)(w->now - created) / SC_DAY + 1));
    xs_rep_account_mutual_set(w->rep, name, (uint32_t)bench_below(60));
}

/* One stored item about subject by a random local account (or by the
 * server for a domain), recorded in the last 90 days. */
static void
world_restore(struct sc_world *w, const char *subject, bool is_local,
    bool is_domain)
{
    /* What local users say about others; what the server says about
     * domains. */
    static const enum xs_evk user_kinds[] = { XS_EVK_BLOCK,
        XS_EVK_REPORT_SPAM, XS_EVK_REPORT_ABUSE, XS_EVK_SUB_REFUSED,
        XS_EVK_CONVERSED, XS_EVK_CONVERSED };
    static const enum xs_evk local_kinds[] = { XS_EVK_BLOCK,
        XS_EVK_REPORT_SPAM, XS_EVK_REPORT_ABUSE };
    static const enum xs_evk system_kinds[] = { XS_EVK_RATE_LIMITED,
        XS_EVK_S2S_REFUSED };
    struct xs_evidence ev;
    const struct xs_rep_policy *p = xs_rep_policy(w->rep);

    memset(&ev, 0, sizeof(ev));
    ev.subject = subject;
    ev.at = w->now - (int64_t)bench_below(90 * SC_DAY);
    ev.note = NULL;
    if (is_domain) {
        ev.kind = system_kinds[bench_below(XS_ARRAY_LEN(system_kinds))];
        ev.src = XS_EVSRC_SYSTEM;
        ev.source = ev.kind == XS_EVK_RATE_LIMITED ? "shaper s2s" :
            "s2s in";
    } else {
        ev.kind = is_local ?
            local_kinds[bench_below(XS_ARRAY_LEN(local_kinds))] :
            user_kinds[bench_below(XS_ARRAY_LEN(user_kinds))];
        ev.src = XS_EVSRC_USER;
        ev.source = bench_names_get(&w->local, bench_below(w->local.n));
        if (strcmp(ev.source, subject) == 0)
            return;             /* nobody reports themselves */
    }
    /* Stored items carry the weight they had when admitted: the policy
     * weight scaled by a reporter's standing between the floor and 1. */
    ev.weight = p->weight[ev.kind];
    if (ev.src == XS_EVSRC_USER)
        ev.weight *= p->reporter_floor +
            (1 - p->reporter_floor) * (double)bench_below(101) / 100.0;
    xs_rep_restore(w->rep, &ev, is_local, w->now);
    w->items++;
}

static void
world_build(struct sc_world *w, const struct sc_opts *o)
{
    struct xs_rep_policy policy;
    char name[128];
    size_t nunknown = o->remote;

    memset(w, 0, sizeof(*w));
    w->now = xs_wall_s();
    xs_rep_policy_defaults(&policy);
    w->rep = xs_rep_new(&policy);
    xs_rep_policy_fini(&policy);

    for (size_t i = 0; i < o->accounts; i++)
        world_add_account(w, i);
    for (size_t j = 0; j < SC_DOMAINS; j++) {
        int n = snprintf(name, sizeof(name), "d%zu.remote.bench", j);

        xs_assert(n > 0 && (size_t)n < sizeof(name));
        bench_names_add(&w->domains, name);
    }
    /* Remote JIDs: 1 to 5 items each. */
    for (size_t i = 0; i < o->remote; i++) {
        const char *subject;
        uint64_t k = 1 + bench_below(5);
        int n = snprintf(name, sizeof(name), "r%zu@d%" PRIu64
            ".remote.bench", i, bench_below(SC_DOMAINS));

        xs_assert(n > 0 && (size_t)n < sizeof(name));
        subject = bench_names_add(&w->remote, name);
        for (uint64_t j = 0; j < k; j++)
            world_restore(w, subject, false, false);
    }
    /* Domains: what the server saw of their streams, 0 to 3 items. */
    for (size_t j = 0; j < SC_DOMAINS; j++) {
        uint64_t k = bench_below(4);

        for (uint64_t i = 0; i < k; i++)
            world_restore(w, bench_names_get(&w->domains, j), false, true);
    }
    /* Some local accounts were blocked or reported: 1 to 3 items. */
    for (size_t i = 0; i < o->accounts; i++) {
        uint64_t k;

        if (bench_below(100) >= SC_BLAMED_PCT)
            continue;
        k = 1 + bench_below(3);
        for (uint64_t j = 0; j < k; j++)
            world_restore(w, bench_names_get(&w->local, i), true, false);
    }
    /* Subjects nobody knows: well-formed JIDs of other domains. */
    for (size_t i = 0; i < nunknown; i++) {
        int n = snprintf(name, sizeof(name), "x%zu@nowhere%" PRIu64
            ".example", i, bench_below(SC_DOMAINS));

        xs_assert(n > 0 && (size_t)n < sizeof(name));
        bench_names_add(&w->unknown, name);
    }
}

static void
world_fini(struct sc_world *w)
{
    xs_rep_free(w->rep);
    bench_names_fini(&w->local);
    bench_names_fini(&w->remote);
    bench_names_fini(&w->domains);
    bench_names_fini(&w->unknown);
}

/* ---- the mix and the timing ------------------------------------------ */

/* n subject pointers drawn by the mix's percentages. */
static const char **
mix_new(const struct sc_world *w, size_t n)
{
    const char **v = xs_calloc(n, sizeof(*v));

    for (size_t i = 0; i < n; i++) {
        uint64_t pick = bench_below(100);
        const struct bench_names *from;
        size_t k;

        if (pick < SC_MIX_LOCAL)
            from = &w->local;
        else if (pick < SC_MIX_LOCAL + SC_MIX_REMOTE)
            from = &w->remote;
        else if (pick < SC_MIX_LOCAL + SC_MIX_REMOTE + SC_MIX_DOMAIN)
            from = &w->domains;
        else
            from = &w->unknown;
        k = (size_t)bench_below(from->n);
        v[i] = bench_names_get(from, k);
    }
    return v;
}

/* Every known subject once, in a random order (Fisher-Yates). */
static const char **
known_shuffled(const struct sc_world *w, size_t *n)
{
    size_t total = w->local.n + w->remote.n + w->domains.n, k = 0;
    const char **v = xs_calloc(total, sizeof(*v));

    for (size_t i = 0; i < w->local.n; i++)
        v[k++] = bench_names_get(&w->local, i);
    for (size_t i = 0; i < w->remote.n; i++)
        v[k++] = bench_names_get(&w->remote, i);
    for (size_t i = 0; i < w->domains.n; i++)
        v[k++] = bench_names_get(&w->domains, i);
    for (size_t i = total - 1; i > 0; i--) {
        size_t j = (size_t)bench_below(i + 1);
        const char *t = v[i];

        v[i] = v[j];
        v[j] = t;
    }
    *n = total;
    return v;
}

struct sc_phase {
    const char *name;
    size_t      lookups;
    double      seconds;
    uint64_t    computations;   /* scores the engine computed meanwhile */
    uint64_t    known;          /* lookups that found the subject */
    int64_t     checksum;       /* keeps the calls from being elided */
};

/* The engine's computation counter (xs_rep_stats reads it without a
 * walk: the census runs apart, in slices). */
static uint64_t
engine_computations(struct sc_world *w)
{
    struct xs_rep_stats st;

    xs_rep_stats(w->rep, w->now, &st);
    return st.computations;
}

/* Time n lookups of v at w->now.  c0 is the counter before the phase. */
static void
phase_run(struct sc_world *w, const char **v, size_t n, uint64_t c0,
    struct sc_phase *ph)
{
    uint64_t c1, t0;
    uint64_t known = 0;
    int64_t sum = 0;

    t0 = bench_now_ns();
    for (size_t i = 0; i < n; i++) {
        struct xs_rep_score s = xs_rep_score(w->rep, v[i], w->now);

        sum += s.score + (int64_t)s.level;
        known += s.is_known;
    }
    ph->seconds = (double)(bench_now_ns() - t0) / 1e9;
    c1 = engine_computations(w);
    ph->computations = c1 - c0;
    ph->lookups = n;
    ph->known = known;
    ph->checksum = sum;
}

static bool
phase_report(const struct sc_phase *ph, const struct sc_world *w,
    const struct sc_opts *o, bool has_target)
{
    double rate = (double)ph->lookups / ph->seconds;
    double ns = ph->seconds * 1e9 / (double)ph->lookups;
    bool is_pass = rate >= SC_TARGET;

    printf("# %-11s %10zu lookups in %.3f s: %12.0f lookups/s, %7.1f "
        "ns/lookup, %" PRIu64 " scores computed, %.1f%% known%s\n",
        ph->name, ph->lookups, ph->seconds, rate, ns, ph->computations,
        100.0 * (double)ph->known / (double)ph->lookups,
        has_target ? (is_pass ? " -> met" : " -> MISSED") : "");
    printf("RESULT server=xmppd scenario=rep_score phase=%s accounts=%zu "
        "remote=%zu items=%zu lookups=%zu seconds=%.3f lookups_per_s=%.0f "
        "ns_per_lookup=%.1f computations=%" PRIu64 " known=%" PRIu64
        " target=%.0f pass=%s checksum=%" PRId64 "\n", ph->name,
        w->local.n, w->remote.n, w->items, ph->lookups, ph->seconds, rate,
        ns, ph->computations, ph->known, SC_TARGET,
        has_target ? (is_pass ? "yes" : "no") : "-", ph->checksum);
    if (o->json)
        printf("{\"server\":\"xmppd\",\"scenario\":\"rep_score\","
            "\"phase\":\"%s\",\"lookups\":%zu,\"seconds\":%.3f,"
            "\"lookups_per_s\":%.0f,\"ns_per_lookup\":%.1f,"
            "\"computations\":%" PRIu64 ",\"pass\":\"%s\"}\n", ph->name,
            ph->lookups, ph->seconds, rate, ns, ph->computations,
            has_target ? (is_pass ? "yes" : "no") : "-");
    fflush(stdout);
    return !has_target || is_pass;
}

/* ---- walks in slices (what /metrics and reputation_list cost) ---- */

/*
 * Each slice is timed twice: on the wall clock, and in this thread's CPU
 * time, which leaves out the time another process had the core (this
 * machine is shared with builds and tests): the CPU time is what the
 * slice costs the loop, and what the target is about.
 */
struct sc_slices {
    const char *name;
    size_t      n;          /* slices */
    double      max_ms;     /* CPU */
    size_t      max_at;     /* which slice (from 1) */
    double      sum_ms;     /* CPU */
    double      max_wall_ms;
    size_t      rows;       /* lists: rows in the answer */
};

struct sc_clocks {
    uint64_t wall, cpu;
};

static struct sc_clocks
sc_clocks(void)
{
    return (struct sc_clocks){ .wall = bench_now_ns(), .cpu = bench_cpu_ns() };
}

static void
slices_add(struct sc_slices *s, struct sc_clocks t0)
{
    struct sc_clocks t1 = sc_clocks();
    double ms = (double)(t1.cpu - t0.cpu) / 1e6;
    double wall = (double)(t1.wall - t0.wall) / 1e6;

    s->n++;
    s->sum_ms += ms;
    if (ms > s->max_ms) {
        s->max_ms = ms;
        s->max_at = s->n;
    }
    if (wall > s->max_wall_ms)
        s->max_wall_ms = wall;
}

/* One whole census in slices of budget at w->now. */
static void
slices_census(struct sc_world *w, size_t budget, struct sc_slices *out)
{
    struct sc_clocks t0;

    do {
        t0 = sc_clocks();
        (void)xs_rep_census_step(w->rep, w->now, budget);
        slices_add(out, t0);
    } while (xs_rep_census_running(w->rep));
}

/* One whole list walk in slices of budget at w->now, its answer freed
 * (inside the timing: the server frees it too). */
static void
slices_list(struct sc_world *w, int below, size_t max, size_t budget,
    struct sc_slices *out)
{
    struct xs_rep_list_walk *lw = xs_rep_list_walk_new(w->rep, below, max);
    struct xs_rep_listed *v;
    struct sc_clocks t0;
    bool is_done;

    do {
        t0 = sc_clocks();
        is_done = xs_rep_list_walk_step(lw, w->now, budget);
        if (is_done) {
            xs_rep_list_walk_result(lw, &v, &out->rows);
            for (size_t i = 0; i < out->rows; i++)
                xs_free(v[i].bare);
            xs_free(v);
        }
        slices_add(out, t0);
    } while (!is_done);
    xs_rep_list_walk_free(lw);
}

/* One whole prune in slices of budget at now; the items that went. */
static size_t
slices_prune(struct sc_world *w, int64_t now, size_t budget,
    struct sc_slices *out)
{
    struct sc_clocks t0;
    size_t gone = 0;
    bool is_done;

    do {
        t0 = sc_clocks();
        gone += xs_rep_prune_step(w->rep, now, budget, &is_done);
        slices_add(out, t0);
    } while (!is_done);
    out->rows = gone;
    return gone;
}

static int
sc_double_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;

    return x < y ? -1 : x > y;
}

/* The flood from one domain (above): true if its p99 met the target. */
static bool
flood_run(struct sc_world *w, size_t n)
{
    const char *dom = "flood.remote.bench";
    double *us = xs_calloc(n, sizeof(*us)), sum = 0;
    uint64_t c0 = engine_computations(w);
    struct xs_rep_score sc = { 0 };
    char jid[64];
    bool is_pass;

    for (size_t i = 0; i < n; i++) {
        struct xs_evidence ev = {
            .subject = jid, .kind = XS_EVK_TRUST_FLAG,
            .weight = 2 + (double)bench_below(8), .src = XS_EVSRC_SYSTEM,
            .source = "trust_flag",
        };
        int len = snprintf(jid, sizeof(jid), "f%zu@%s", i, dom);
        uint64_t t0;

        xs_assert(len > 0 && (size_t)len < sizeof(jid));
        t0 = bench_now_ns();
        (void)xs_rep_submit(w->rep, &ev, false, w->now, NULL);
        sc = xs_rep_score(w->rep, jid, w->now);
        us[i] = (double)(bench_now_ns() - t0) / 1e3;
        sum += us[i];
    }
    qsort(us, n, sizeof(*us), sc_double_cmp);
    is_pass = us[n * 99 / 100] < SC_FLOOD_US;
    printf("# flood: %zu new JIDs of %s, an item and a score each: mean "
        "%.2f us, p50 %.2f, p99 %.2f, max %.2f us; %" PRIu64 " scores "
        "computed; the domain scores %d -> %s\n", n, dom, sum / (double)n,
        us[n / 2], us[n * 99 / 100], us[n - 1],
        engine_computations(w) - c0,
        xs_rep_score(w->rep, dom, w->now).score,
        is_pass ? "met" : "MISSED");
    printf("RESULT server=xmppd scenario=rep_domain_flood jids=%zu "
        "mean_us=%.2f p50_us=%.2f p99_us=%.2f max_us=%.2f target_us=%.0f "
        "pass=%s\n", n, sum / (double)n, us[n / 2], us[n * 99 / 100],
        us[n - 1], SC_FLOOD_US, is_pass ? "yes" : "no");
    fflush(stdout);
    xs_free(us);
    (void)sc;
    return is_pass;
}

static bool
slices_report(const struct sc_slices *s, const struct sc_world *w,
    size_t budget)
{
    bool is_pass = s->max_ms < SC_SLICE_MS;

    printf("# %-22s %5zu slices of %zu: CPU max %.3f ms (slice %zu), mean "
        "%.3f ms, total %.1f ms (wall max %.3f ms), %zu rows -> %s\n",
        s->name, s->n, budget, s->max_ms, s->max_at,
        s->sum_ms / (double)s->n, s->sum_ms, s->max_wall_ms, s->rows,
        is_pass ? "met" : "MISSED");
    printf("RESULT server=xmppd scenario=rep_slices walk=%s accounts=%zu "
        "budget=%zu slices=%zu max_ms=%.3f mean_ms=%.3f total_ms=%.1f "
        "max_wall_ms=%.3f rows=%zu target_ms=%.1f pass=%s\n", s->name,
        w->local.n, budget, s->n, s->max_ms, s->sum_ms / (double)s->n,
        s->sum_ms, s->max_wall_ms, s->rows, SC_SLICE_MS,
        is_pass ? "yes" : "no");
    fflush(stdout);
    return is_pass;
}

static long
self_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;

    if (f == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

int
main(int argc, char **argv)
{
    struct sc_opts o;
    struct sc_world w;
    struct sc_phase cached, inval, recompute;
    struct xs_rep_stats st;
    const char **mix, **all;
    struct xs_rep_listed *listed = NULL;
    size_t nall, nlisted = 0;
    double walk_stats, walk_list;
    uint64_t t0, c0;
    bool ok = true;

    if (!opts_parse(argc, argv, &o))
        return 2;
    xs_log_min = XS_LOG_WARN;
    bench_rand_seed(o.seed);

    t0 = bench_now_ns();
    world_build(&w, &o);
    printf("# built: %zu accounts, %zu remote JIDs under %d domains, %zu "
        "evidence items in %.1f s; RSS %ld MiB\n", w.local.n, w.remote.n,
        SC_DOMAINS, w.items, (double)(bench_now_ns() - t0) / 1e9,
        self_rss_kb() / 1024);
    mix = mix_new(&w, o.lookups);
    all = known_shuffled(&w, &nall);

    /* Fill every cache with a first pass, then time the steady state. */
    memset(&cached, 0, sizeof(cached));
    cached.name = "warm-up";
    phase_run(&w, all, nall, engine_computations(&w), &cached);
    cached.name = "cached";
    phase_run(&w, mix, o.lookups, engine_computations(&w), &cached);
    ok &= phase_report(&cached, &w, &o, true);

    /* The cached scores are now stale: each subject recomputes once. */
    c0 = engine_computations(&w);
    w.now += XS_REP_CACHE_S + 1;
    memset(&inval, 0, sizeof(inval));
    inval.name = "invalidated";
    phase_run(&w, mix, o.lookups, c0, &inval);
    ok &= phase_report(&inval, &w, &o, true);

    /* Stale again: every known subject recomputed, once each. */
    c0 = engine_computations(&w);
    w.now += XS_REP_CACHE_S + 1;
    memset(&recompute, 0, sizeof(recompute));
    recompute.name = "recompute";
    phase_run(&w, all, nall, c0, &recompute);
    (void)phase_report(&recompute, &w, &o, false);

    /* What /metrics (the census) and `reputation_list` would cost on the
     * loop walking every account in one callback, scores cached. */
    t0 = bench_now_ns();
    (void)xs_rep_census_run(w.rep, w.now, SIZE_MAX);
    walk_stats = (double)(bench_now_ns() - t0) / 1e6;
    xs_rep_stats(w.rep, w.now, &st);
    t0 = bench_now_ns();
    xs_rep_list_below(w.rep, 0, 100, w.now, &listed, &nlisted);
    walk_list = (double)(bench_now_ns() - t0) / 1e6;
    for (size_t i = 0; i < nlisted; i++)
        xs_free(listed[i].bare);
    xs_free(listed);
    printf("# whole walks over %zu accounts (scores cached): census "
        "(/metrics) %.1f ms, xs_rep_list_below(0, 100) %.1f ms: what the "
        "slices below avoid\n", w.local.n, walk_stats, walk_list);
    printf("RESULT server=xmppd scenario=rep_walk accounts=%zu "
        "stats_ms=%.1f list_below_ms=%.1f\n", w.local.n, walk_stats,
        walk_list);
    printf("# accounts by level:");
    for (int l = 0; l < XS_REP_LEVEL__COUNT; l++)
        printf(" %s %" PRIu64, xs_rep_level_name((enum xs_rep_level)l),
            st.accounts_by_level[l]);
    printf("; subjects %" PRIu64 "\n", st.subjects);

    /* The same walks in slices, as the server runs them: scores cached,
     * then stale (every account recomputed by the walk: the census runs
     * every few seconds, the cache lasts XS_REP_CACHE_S). */
    {
        struct sc_slices sl[] = {
            { .name = "census-cached" },
            { .name = "list-0-100-cached" },
            { .name = "list-101-10000-cached" },
            { .name = "census-stale" },
            { .name = "list-101-10000-stale" },
        };

        slices_census(&w, o.budget, &sl[0]);
        slices_list(&w, 0, 100, o.budget, &sl[1]);
        slices_list(&w, 101, 10000, o.budget, &sl[2]);
        w.now += XS_REP_CACHE_S + 1;
        slices_census(&w, o.budget, &sl[3]);
        w.now += XS_REP_CACHE_S + 1;
        slices_list(&w, 101, 10000, o.budget, &sl[4]);
        for (size_t i = 0; i < sizeof(sl) / sizeof(sl[0]); i++)
            ok &= slices_report(&sl[i], &w, o.budget);
    }

    /* The prune: whole (the old timer's stall), then in slices as
     * mod_reputation runs it, a month later (items and subjects to drop:
     * throttlings decay in days), then again at once (nothing to drop:
     * the walk alone). */
    {
        struct sc_slices sl[] = {
            { .name = "prune-dropping" },
            { .name = "prune-nothing" },
        };
        size_t gone;
        double whole;

        t0 = bench_now_ns();
        gone = xs_rep_prune(w.rep, w.now);
        whole = (double)(bench_now_ns() - t0) / 1e6;
        xs_rep_stats(w.rep, w.now, &st);
        printf("# whole prune (xs_rep_prune): %.1f ms, %zu items went, "
            "%" PRIu64 " subjects left: what the slices below avoid\n",
            whole, gone, st.subjects);
        printf("RESULT server=xmppd scenario=rep_prune_whole subjects=%"
            PRIu64 " ms=%.1f items_gone=%zu\n", st.subjects, whole, gone);
        w.now += 30 * SC_DAY;
        (void)slices_prune(&w, w.now, o.prune_budget, &sl[0]);
        (void)slices_prune(&w, w.now, o.prune_budget, &sl[1]);
        xs_rep_stats(w.rep, w.now, &st);
        printf("# prune slices: %" PRIu64 " subjects left; \"rows\" below "
            "are the items that went\n", st.subjects);
        for (size_t i = 0; i < sizeof(sl) / sizeof(sl[0]); i++)
            ok &= slices_report(&sl[i], &w, o.prune_budget);
    }

    ok &= flood_run(&w, o.flood);

    xs_free(mix);
    xs_free(all);
    world_fini(&w);
    return ok ? 0 : 1;
}
