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
 * uses taskset).  Prints "# " lines for people and one RESULT line per
 * phase, like the load generator.  Exit status 0 when the cached and the
 * invalidated rates meet the target, 1 when not, 2 for a usage error.
 */
#include "reputation/engine.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SC_TARGET       1000000.0   /* lookups/s, issue 5 */
#define SC_DOMAINS      2000        /* remote domains the JIDs are under */
#define SC_LOCAL_HOST   "localhost"
#define SC_MIX_LOCAL    60          /* percent of the mix */
#define SC_MIX_REMOTE   25
#define SC_MIX_DOMAIN   5           /* the rest: unknown subjects */
#define SC_BLAMED_PCT   5           /* accounts with evidence against them */
#define SC_DAY          86400

/* Reproducible runs: the same seed builds the same engine and the same
 * mix.  Not for anything secret (a bench only), so not randombytes_buf. */
static uint64_t sc_rng_state = 0x9e3779b97f4a7c15u;

static uint64_t
sc_rand(void)
{
    uint64_t z = (sc_rng_state += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the modulo bias is irrelevant here). */
static uint64_t
sc_below(uint64_t n)
{
    return sc_rand() % n;
}

static uint64_t
sc_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/*
 * Every subject name in one arena, NUL-terminated one after the other,
 * with an offset table: 1.4 million small strings without 1.4 million
 * allocations, and a lookup pointer is arena + offset.
 */
struct sc_names {
    char   *arena;      /* owned */
    size_t  len, cap;
    size_t *off;        /* owned: offset of name i */
    size_t  n, ncap;
};

static void
sc_names_add(struct sc_names *s, const char *name)
{
    size_t l = strlen(name) + 1;

    if (s->len + l > s->cap) {
        s->cap = s->cap == 0 ? 1u << 20 : s->cap * 2;
        s->arena = xs_realloc(s->arena, s->cap);
    }
    if (s->n == s->ncap) {
        s->ncap = s->ncap == 0 ? 1024 : s->ncap * 2;
        s->off = xs_reallocarray(s->off, s->ncap, sizeof(s->off[0]));
    }
    memcpy(s->arena + s->len, name, l);
    s->off[s->n++] = s->len;
    s->len += l;
}

static const char *
sc_names_get(const struct sc_names *s, size_t i)
{
    return s->arena + s->off[i];
}

static void
sc_names_fini(struct sc_names *s)
{
    xs_free(s->arena);
    xs_free(s->off);
    memset(s, 0, sizeof(*s));
}

struct sc_opts {
    size_t   accounts;
    size_t   remote;
    size_t   lookups;
    uint64_t seed;
    bool     json;
};

struct sc_world {
    struct xs_rep   *rep;       /* owned */
    int64_t          now;       /* wall seconds the engine sees */
    struct sc_names  local;     /* u<i>@localhost */
    struct sc_names  remote;    /* r<i>@d<j>.remote.bench */
    struct sc_names  domains;   /* d<j>.remote.bench */
    struct sc_names  unknown;   /* subjects the engine never heard of */
    size_t           items;     /* evidence items restored */
};

static void
usage(FILE *f)
{
    fputs(
"usage: score [--accounts N] [--remote N] [--lookups N] [--seed S] [--json]\n"
"  --accounts N   local accounts (1000000)\n"
"  --remote N     remote JIDs with evidence (200000)\n"
"  --lookups N    timed lookups per phase (10000000)\n"
"  --seed S       random seed (1): the same seed, the same engine and mix\n"
"  --json         also print each result as a JSON object\n", f);
}

static bool
opt_size(const char *s, size_t min, size_t max, size_t *out)
{
    char *end;
    unsigned long long v = strtoull(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v < min || v > max)
        return false;
    *out = (size_t)v;
    return true;
}

static bool
opts_parse(int argc, char **argv, struct sc_opts *o)
{
    static const struct option longs[] = {
        { "accounts", required_argument, NULL, 'a' },
        { "remote", required_argument, NULL, 'r' },
        { "lookups", required_argument, NULL, 'n' },
        { "seed", required_argument, NULL, 's' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    size_t seed = 1;
    int c;

    o->accounts = 1000000;
    o->remote = 200000;
    o->lookups = 10000000;
    o->json = false;
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        switch (c) {
        case 'a':
            if (!opt_size(optarg, 1, 100000000, &o->accounts))
                goto bad;
            break;
        case 'r':
            if (!opt_size(optarg, 1, 100000000, &o->remote))
                goto bad;
            break;
        case 'n':
            if (!opt_size(optarg, 1000, 1000000000, &o->lookups))
                goto bad;
            break;
        case 's':
            if (!opt_size(optarg, 0, SIZE_MAX, &seed))
                goto bad;
            break;
        case 'j':
            o->json = true;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            goto bad;
        }
    }
    if (optind != argc)
        goto bad;
    o->seed = seed;
    return true;
bad:
    usage(stderr);
    return false;
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
    int64_t created = w->now - (int64_t)sc_below(3 * 365 * SC_DAY);
    uint64_t sent = sc_below(40);
    uint64_t accepted = sent == 0 ? 0 : sc_below(sent + 1);
    uint64_t refused = sent - accepted == 0 ? 0 :
        sc_below(sent - accepted + 1);
    int n = snprintf(bare, sizeof(bare), "u%zu@" SC_LOCAL_HOST, i);

    xs_assert(n > 0 && (size_t)n < sizeof(bare));
    sc_names_add(&w->local, bare);
    name = sc_names_get(&w->local, w->local.n - 1);
    counts[XS_ACT_MSGS_TO_CONTACTS] = sc_below(5000);
    counts[XS_ACT_MSGS_TO_STRANGERS] = sc_below(8) == 0 ? sc_below(2000) :
        sc_below(10);
    counts[XS_ACT_MSGS_FROM_CONTACTS] = sc_below(5000);
    counts[XS_ACT_MSGS_FROM_STRANGERS] = sc_below(50);
    counts[XS_ACT_SUBS_SENT] = sent;
    counts[XS_ACT_SUBS_ACCEPTED] = accepted;
    counts[XS_ACT_SUBS_REFUSED] = refused;
    counts[XS_ACT_SUBS_RECEIVED] = sc_below(40);
    xs_rep_account_set(w->rep, name, created, sc_below(10000) == 0);
    xs_rep_account_activity(w->rep, name, counts,
        (uint32_t)sc_below((uint64_t)(w->now - created) / SC_DAY + 1));
    xs_rep_account_mutual_set(w->rep, name, (uint32_t)sc_below(60));
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
    ev.at = w->now - (int64_t)sc_below(90 * SC_DAY);
    ev.note = NULL;
    if (is_domain) {
        ev.kind = system_kinds[sc_below(XS_ARRAY_LEN(system_kinds))];
        ev.src = XS_EVSRC_SYSTEM;
        ev.source = ev.kind == XS_EVK_RATE_LIMITED ? "shaper s2s" :
            "s2s in";
    } else {
        ev.kind = is_local ?
            local_kinds[sc_below(XS_ARRAY_LEN(local_kinds))] :
            user_kinds[sc_below(XS_ARRAY_LEN(user_kinds))];
        ev.src = XS_EVSRC_USER;
        ev.source = sc_names_get(&w->local, sc_below(w->local.n));
        if (strcmp(ev.source, subject) == 0)
            return;             /* nobody reports themselves */
    }
    /* Stored items carry the weight they had when admitted: the policy
     * weight scaled by a reporter's standing between the floor and 1. */
    ev.weight = p->weight[ev.kind];
    if (ev.src == XS_EVSRC_USER)
        ev.weight *= p->reporter_floor +
            (1 - p->reporter_floor) * (double)sc_below(101) / 100.0;
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
        sc_names_add(&w->domains, name);
    }
    /* Remote JIDs: 1 to 5 items each. */
    for (size_t i = 0; i < o->remote; i++) {
        const char *subject;
        uint64_t k = 1 + sc_below(5);
        int n = snprintf(name, sizeof(name), "r%zu@d%" PRIu64
            ".remote.bench", i, sc_below(SC_DOMAINS));

        xs_assert(n > 0 && (size_t)n < sizeof(name));
        sc_names_add(&w->remote, name);
        subject = sc_names_get(&w->remote, w->remote.n - 1);
        for (uint64_t j = 0; j < k; j++)
            world_restore(w, subject, false, false);
    }
    /* Domains: what the server saw of their streams, 0 to 3 items. */
    for (size_t j = 0; j < SC_DOMAINS; j++) {
        uint64_t k = sc_below(4);

        for (uint64_t i = 0; i < k; i++)
            world_restore(w, sc_names_get(&w->domains, j), false, true);
    }
    /* Some local accounts were blocked or reported: 1 to 3 items. */
    for (size_t i = 0; i < o->accounts; i++) {
        uint64_t k;

        if (sc_below(100) >= SC_BLAMED_PCT)
            continue;
        k = 1 + sc_below(3);
        for (uint64_t j = 0; j < k; j++)
            world_restore(w, sc_names_get(&w->local, i), true, false);
    }
    /* Subjects nobody knows: well-formed JIDs of other domains. */
    for (size_t i = 0; i < nunknown; i++) {
        int n = snprintf(name, sizeof(name), "x%zu@nowhere%" PRIu64
            ".example", i, sc_below(SC_DOMAINS));

        xs_assert(n > 0 && (size_t)n < sizeof(name));
        sc_names_add(&w->unknown, name);
    }
}

static void
world_fini(struct sc_world *w)
{
    xs_rep_free(w->rep);
    sc_names_fini(&w->local);
    sc_names_fini(&w->remote);
    sc_names_fini(&w->domains);
    sc_names_fini(&w->unknown);
}

/* ---- the mix and the timing ------------------------------------------ */

/* n subject pointers drawn by the mix's percentages; *touched: how many
 * distinct local accounts are among them. */
static const char **
mix_new(const struct sc_world *w, size_t n, size_t *touched)
{
    const char **v = xs_calloc(n, sizeof(*v));
    bool *seen = xs_calloc(w->local.n, sizeof(*seen));

    *touched = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t pick = sc_below(100);
        const struct sc_names *from;
        size_t k;

        if (pick < SC_MIX_LOCAL)
            from = &w->local;
        else if (pick < SC_MIX_LOCAL + SC_MIX_REMOTE)
            from = &w->remote;
        else if (pick < SC_MIX_LOCAL + SC_MIX_REMOTE + SC_MIX_DOMAIN)
            from = &w->domains;
        else
            from = &w->unknown;
        k = (size_t)sc_below(from->n);
        v[i] = sc_names_get(from, k);
        if (from == &w->local && !seen[k]) {
            seen[k] = true;
            (*touched)++;
        }
    }
    xs_free(seen);
    return v;
}

/* Every known subject once, in a random order (Fisher-Yates). */
static const char **
known_shuffled(const struct sc_world *w, size_t *n)
{
    size_t total = w->local.n + w->remote.n + w->domains.n, k = 0;
    const char **v = xs_calloc(total, sizeof(*v));

    for (size_t i = 0; i < w->local.n; i++)
        v[k++] = sc_names_get(&w->local, i);
    for (size_t i = 0; i < w->remote.n; i++)
        v[k++] = sc_names_get(&w->remote, i);
    for (size_t i = 0; i < w->domains.n; i++)
        v[k++] = sc_names_get(&w->domains, i);
    for (size_t i = total - 1; i > 0; i--) {
        size_t j = (size_t)sc_below(i + 1);
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

/*
 * The engine's computation counter.  xs_rep_stats counts accounts by
 * level by scoring every account at w->now, so it is read around the
 * timed loop, never inside it, and only at moments when it changes
 * nothing the next loop measures: before a phase (at the previous phase's
 * time, when every score it made is cached) and after it.
 */
static uint64_t
engine_computations(struct sc_world *w)
{
    struct xs_rep_stats st;

    xs_rep_stats(w->rep, w->now, &st);
    return st.computations;
}

/* Time n lookups of v at w->now.  c0 is the counter before the phase;
 * stale_missed the accounts whose score was stale and that v does not
 * look up (the closing stats walk recomputes those: not the loop's). */
static void
phase_run(struct sc_world *w, const char **v, size_t n, uint64_t c0,
    size_t stale_missed, struct sc_phase *ph)
{
    uint64_t c1, t0;
    uint64_t known = 0;
    int64_t sum = 0;

    t0 = sc_now_ns();
    for (size_t i = 0; i < n; i++) {
        struct xs_rep_score s = xs_rep_score(w->rep, v[i], w->now);

        sum += s.score + (int64_t)s.level;
        known += s.is_known;
    }
    ph->seconds = (double)(sc_now_ns() - t0) / 1e9;
    c1 = engine_computations(w);
    ph->computations = c1 - c0 > stale_missed ? c1 - c0 - stale_missed : 0;
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
    size_t nall, touched, nlisted = 0;
    double walk_stats, walk_list;
    uint64_t t0, c0;
    bool ok = true;

    if (!opts_parse(argc, argv, &o))
        return 2;
    xs_log_min = XS_LOG_WARN;
    sc_rng_state ^= o.seed * 0xd1b54a32d192ed03u;

    t0 = sc_now_ns();
    world_build(&w, &o);
    printf("# built: %zu accounts, %zu remote JIDs under %d domains, %zu "
        "evidence items in %.1f s; RSS %ld MiB\n", w.local.n, w.remote.n,
        SC_DOMAINS, w.items, (double)(sc_now_ns() - t0) / 1e9,
        self_rss_kb() / 1024);
    mix = mix_new(&w, o.lookups, &touched);
    all = known_shuffled(&w, &nall);

    /* Fill every cache with a first pass, then time the steady state. */
    memset(&cached, 0, sizeof(cached));
    cached.name = "warm-up";
    phase_run(&w, all, nall, engine_computations(&w), 0, &cached);
    cached.name = "cached";
    phase_run(&w, mix, o.lookups, engine_computations(&w), 0, &cached);
    ok &= phase_report(&cached, &w, &o, true);

    /* The cached scores are now stale: each subject recomputes once. */
    c0 = engine_computations(&w);
    w.now += XS_REP_CACHE_S + 1;
    memset(&inval, 0, sizeof(inval));
    inval.name = "invalidated";
    phase_run(&w, mix, o.lookups, c0, w.local.n - touched, &inval);
    ok &= phase_report(&inval, &w, &o, true);

    /* Stale again: every known subject recomputed, once each. */
    c0 = engine_computations(&w);
    w.now += XS_REP_CACHE_S + 1;
    memset(&recompute, 0, sizeof(recompute));
    recompute.name = "recompute";
    phase_run(&w, all, nall, c0, 0, &recompute);
    (void)phase_report(&recompute, &w, &o, false);

    /* What /metrics (xs_rep_stats) and `reputation_list` cost on the
     * loop: both walk every account, scores cached. */
    t0 = sc_now_ns();
    xs_rep_stats(w.rep, w.now, &st);
    walk_stats = (double)(sc_now_ns() - t0) / 1e6;
    t0 = sc_now_ns();
    xs_rep_list_below(w.rep, 0, 100, w.now, &listed, &nlisted);
    walk_list = (double)(sc_now_ns() - t0) / 1e6;
    for (size_t i = 0; i < nlisted; i++)
        xs_free(listed[i].bare);
    xs_free(listed);
    printf("# walks over %zu accounts (scores cached): xs_rep_stats "
        "(/metrics) %.1f ms, xs_rep_list_below(0, 100) %.1f ms: one loop "
        "callback each\n", w.local.n, walk_stats, walk_list);
    printf("RESULT server=xmppd scenario=rep_walk accounts=%zu "
        "stats_ms=%.1f list_below_ms=%.1f\n", w.local.n, walk_stats,
        walk_list);
    printf("# accounts by level:");
    for (int l = 0; l < XS_REP_LEVEL__COUNT; l++)
        printf(" %s %" PRIu64, xs_rep_level_name((enum xs_rep_level)l),
            st.accounts_by_level[l]);
    printf("; subjects %" PRIu64 "\n", st.subjects);

    xs_free(mix);
    xs_free(all);
    world_fini(&w);
    return ok ? 0 : 1;
}
