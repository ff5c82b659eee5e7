/*
 * loadgen.c: options, set-up and main of the load generator (see
 * loadgen.h and tests/bench/README.md).
 */
#include "tests/bench/loadgen.h"

#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#define LG_FIND_MAX_CLOSE   0.10    /* stop bisecting within 10% */
#define LG_FD_SPARE         64

double
lg_find_max(struct lg_ctx *ctx, lg_step_fn *fn, void *arg)
{
    const struct lg_opts *o = ctx->opts;
    double rate = o->rate, best = 0, bad = 0;
    int retries = 0;

    for (int i = 0; i < LG_FIND_MAX_STEPS; i++) {
        bool is_pass;

        ctx->is_disturbed = false;
        is_pass = fn(ctx, arg, rate);
        if (!is_pass && ctx->is_disturbed &&
            retries < LG_FIND_MAX_RETRIES) {
            retries++;
            lg_say("step at %.0f/s failed while the server's core was busy "
                "elsewhere: running it again", rate);
            ctx->is_disturbed = false;
            is_pass = fn(ctx, arg, rate);
        }
        if (is_pass)
            best = rate;
        else
            bad = rate;
        if (bad == 0) {
            if (rate >= o->rate_max)
                break;
            rate = fmin(rate * 2, o->rate_max);
        } else if (best == 0) {
            rate = floor(bad / 2);
            if (rate < 1)
                break;
        } else {
            if ((bad - best) / best <= LG_FIND_MAX_CLOSE)
                break;
            rate = floor((best + bad) / 2);
        }
    }
    return best;
}

static void
usage(FILE *f)
{
    fputs(
"usage: loadgen --mode idle|chat|login|roster-login|fanout --port N "
"[options]\n"
"\n"
"Connection:\n"
"  --host ADDR        server address, loopback only (127.0.0.1)\n"
"  --port N           c2s port\n"
"  --domain D         XMPP domain (localhost)\n"
"  --plain            no STARTTLS (default: STARTTLS, required)\n"
"  --cafile F         verify the server certificate against F\n"
"  --mech M           SCRAM-SHA-1 (default), SCRAM-SHA-256 or PLAIN\n"
"  --user-prefix P    accounts are P<n> (bench)\n"
"  --user-first N     first account number (1)\n"
"  --users N          accounts P<first>..P<first+N-1> exist (1000)\n"
"  --password PW      password of every account (benchpw)\n"
"  --label NAME       server name in results (server)\n"
"  --server-pid PID   read the server's RSS and CPU from /proc\n"
"  --server-core N    report how busy core N was (the server's)\n"
"  --aux-pid PID      a helper of the server (its database), repeatable:\n"
"                     their CPU is reported as aux_cpu\n"
"  --json             also print each result as a JSON object\n"
"  --port2 N          a second server on --host: the odd clients of each\n"
"                     batch log in there (chat: the receivers, so every\n"
"                     message crosses s2s)\n"
"  --domain2 D        its XMPP domain\n"
"  --server2-pid PID  read its CPU from /proc (server2_cpu)\n"
"Scenarios:\n"
"  --sessions N       idle: sessions to hold (1000)\n"
"  --hold S           idle: seconds to hold them (5)\n"
"  --pairs P          chat: sender/receiver pairs (50)\n"
"  --rate R           chat msgs/s, login and roster-login logins/s,\n"
"                     fanout presence changes/s; start rate with\n"
"                     --find-max (chat 1000, the others 100)\n"
"  --rate-max R       --find-max never offers more (1000000)\n"
"  --find-max         step the rate up, then bisect, to the highest\n"
"                     rate that passes\n"
"  --p99-limit MS     pass only with p99 <= MS (chat and fanout 50,\n"
"                     login and roster-login 100)\n"
"  --contacts K       roster-login, fanout: roster size of every user\n"
"                     (50); roster-login fails a login whose roster\n"
"                     differs\n"
"  --duration S       measured seconds per step (5)\n"
"  --warmup S         seconds before measuring, per step (1)\n"
"  --concurrency N    logins in flight during set-up (100)\n"
"  --max-inflight N   login: connections open at once (2000)\n"
"  --timeout S        seconds for one login (15)\n", f);
}

static bool
opt_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v = strtod(s, &end);

    if (end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

static bool
opt_uint(const char *s, unsigned min, unsigned max, unsigned *out)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (end == s || *end != '\0' || s[0] == '-' || v < min || v > max)
        return false;
    *out = (unsigned)v;
    return true;
}

enum {
    OPT_MODE = 256, OPT_HOST, OPT_PORT, OPT_DOMAIN, OPT_PLAIN, OPT_CAFILE,
    OPT_MECH, OPT_PREFIX, OPT_FIRST, OPT_USERS, OPT_PASSWORD, OPT_LABEL,
    OPT_PID, OPT_CORE, OPT_JSON, OPT_SESSIONS, OPT_HOLD, OPT_PAIRS,
    OPT_RATE, OPT_RATE_MAX, OPT_FIND_MAX, OPT_P99, OPT_DURATION,
    OPT_WARMUP, OPT_CONC, OPT_INFLIGHT, OPT_TIMEOUT, OPT_AUX, OPT_HELP,
    OPT_CONTACTS, OPT_PORT2, OPT_DOMAIN2, OPT_PID2,
};

static const struct option long_opts[] = {
    { "mode", required_argument, NULL, OPT_MODE },
    { "host", required_argument, NULL, OPT_HOST },
    { "port", required_argument, NULL, OPT_PORT },
    { "domain", required_argument, NULL, OPT_DOMAIN },
    { "plain", no_argument, NULL, OPT_PLAIN },
    { "cafile", required_argument, NULL, OPT_CAFILE },
    { "mech", required_argument, NULL, OPT_MECH },
    { "user-prefix", required_argument, NULL, OPT_PREFIX },
    { "user-first", required_argument, NULL, OPT_FIRST },
    { "users", required_argument, NULL, OPT_USERS },
    { "password", required_argument, NULL, OPT_PASSWORD },
    { "label", required_argument, NULL, OPT_LABEL },
    { "server-pid", required_argument, NULL, OPT_PID },
    { "server-core", required_argument, NULL, OPT_CORE },
    { "aux-pid", required_argument, NULL, OPT_AUX },
    { "json", no_argument, NULL, OPT_JSON },
    { "sessions", required_argument, NULL, OPT_SESSIONS },
    { "hold", required_argument, NULL, OPT_HOLD },
    { "pairs", required_argument, NULL, OPT_PAIRS },
    { "rate", required_argument, NULL, OPT_RATE },
    { "rate-max", required_argument, NULL, OPT_RATE_MAX },
    { "find-max", no_argument, NULL, OPT_FIND_MAX },
    { "p99-limit", required_argument, NULL, OPT_P99 },
    { "duration", required_argument, NULL, OPT_DURATION },
    { "warmup", required_argument, NULL, OPT_WARMUP },
    { "concurrency", required_argument, NULL, OPT_CONC },
    { "max-inflight", required_argument, NULL, OPT_INFLIGHT },
    { "timeout", required_argument, NULL, OPT_TIMEOUT },
    { "contacts", required_argument, NULL, OPT_CONTACTS },
    { "port2", required_argument, NULL, OPT_PORT2 },
    { "domain2", required_argument, NULL, OPT_DOMAIN2 },
    { "server2-pid", required_argument, NULL, OPT_PID2 },
    { "help", no_argument, NULL, OPT_HELP },
    { NULL, 0, NULL, 0 },
};

/* Parse argv into *o; false (after a message) on a bad option. */
static bool
opts_parse(int argc, char **argv, struct lg_opts *o)
{
    bool has_mode = false, has_rate = false, has_p99 = false;
    double rate = 0, p99 = 0;
    unsigned u;
    int ch;

    lg_opts_defaults(o);

#define BAD(what)                                                       \
    do {                                                                \
        fprintf(stderr, "loadgen: bad --%s: %s\n", what, optarg);       \
        return false;                                                   \
    } while (0)
    while ((ch = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
        switch (ch) {
        case OPT_MODE:
            has_mode = true;
            if (strcmp(optarg, "idle") == 0)
                o->mode = LG_MODE_IDLE;
            else if (strcmp(optarg, "chat") == 0)
                o->mode = LG_MODE_CHAT;
            else if (strcmp(optarg, "login") == 0)
                o->mode = LG_MODE_LOGIN;
            else if (strcmp(optarg, "roster-login") == 0)
                o->mode = LG_MODE_ROSTER_LOGIN;
            else if (strcmp(optarg, "fanout") == 0)
                o->mode = LG_MODE_FANOUT;
            else
                BAD("mode");
            break;
        case OPT_HOST: o->host = optarg; break;
        case OPT_PORT:
            if (!opt_uint(optarg, 1, 65535, &u))
                BAD("port");
            o->port = (int)u;
            break;
        case OPT_DOMAIN: o->domain = optarg; break;
        case OPT_PLAIN: o->use_tls = false; break;
        case OPT_CAFILE: o->cafile = optarg; break;
        case OPT_MECH:
            if (strcmp(optarg, "SCRAM-SHA-1") == 0)
                o->mech = LG_MECH_SCRAM_SHA1;
            else if (strcmp(optarg, "SCRAM-SHA-256") == 0)
                o->mech = LG_MECH_SCRAM_SHA256;
            else if (strcmp(optarg, "PLAIN") == 0)
                o->mech = LG_MECH_PLAIN;
            else
                BAD("mech");
            break;
        case OPT_PREFIX: o->user_prefix = optarg; break;
        case OPT_FIRST:
            if (!opt_uint(optarg, 0, 100000000, &o->user_first))
                BAD("user-first");
            break;
        case OPT_USERS:
            if (!opt_uint(optarg, 1, 10000000, &o->nusers))
                BAD("users");
            break;
        case OPT_PASSWORD: o->password = optarg; break;
        case OPT_LABEL: o->label = optarg; break;
        case OPT_PID:
            if (!opt_uint(optarg, 1, 1u << 30, &u))
                BAD("server-pid");
            o->server_pid = (pid_t)u;
            break;
        case OPT_AUX:
            if (!opt_uint(optarg, 1, 1u << 30, &u) || o->naux >= LG_AUX_MAX)
                BAD("aux-pid");
            o->aux_pids[o->naux++] = (pid_t)u;
            break;
        case OPT_CORE:
            if (!opt_uint(optarg, 0, 4096, &u))
                BAD("server-core");
            o->server_core = (int)u;
            break;
        case OPT_JSON: o->json = true; break;
        case OPT_SESSIONS:
            if (!opt_uint(optarg, 1, 1000000, &o->sessions))
                BAD("sessions");
            break;
        case OPT_HOLD:
            if (!opt_double(optarg, 0, 3600, &o->hold))
                BAD("hold");
            break;
        case OPT_PAIRS:
            if (!opt_uint(optarg, 1, 100000, &o->pairs))
                BAD("pairs");
            break;
        case OPT_RATE:
            if (!opt_double(optarg, 1, 1e7, &rate))
                BAD("rate");
            has_rate = true;
            break;
        case OPT_RATE_MAX:
            if (!opt_double(optarg, 1, 1e7, &o->rate_max))
                BAD("rate-max");
            break;
        case OPT_FIND_MAX: o->find_max = true; break;
        case OPT_P99:
            if (!opt_double(optarg, 0.01, 1e6, &p99))
                BAD("p99-limit");
            has_p99 = true;
            break;
        case OPT_DURATION:
            if (!opt_double(optarg, 0.5, 3600, &o->duration))
                BAD("duration");
            break;
        case OPT_WARMUP:
            if (!opt_double(optarg, 0, 3600, &o->warmup))
                BAD("warmup");
            break;
        case OPT_CONC:
            if (!opt_uint(optarg, 1, 100000, &o->concurrency))
                BAD("concurrency");
            break;
        case OPT_INFLIGHT:
            if (!opt_uint(optarg, 1, 1000000, &o->max_inflight))
                BAD("max-inflight");
            break;
        case OPT_TIMEOUT:
            if (!opt_double(optarg, 0.1, 600, &o->timeout))
                BAD("timeout");
            break;
        case OPT_CONTACTS:
            if (!opt_uint(optarg, 0, 100000, &o->contacts))
                BAD("contacts");
            break;
        case OPT_PORT2:
            if (!opt_uint(optarg, 1, 65535, &u))
                BAD("port2");
            o->port2 = (int)u;
            break;
        case OPT_DOMAIN2: o->domain2 = optarg; break;
        case OPT_PID2:
            if (!opt_uint(optarg, 1, 1u << 30, &u))
                BAD("server2-pid");
            o->server2_pid = (pid_t)u;
            break;
        case OPT_HELP:
            usage(stdout);
            exit(0);
        default:
            usage(stderr);
            return false;
        }
    }
#undef BAD
    if (optind < argc || !has_mode || o->port == 0) {
        usage(stderr);
        return false;
    }
    if (o->port2 != 0 && o->domain2 == NULL)
        o->domain2 = o->domain;
    o->rate = has_rate ? rate : o->mode == LG_MODE_CHAT ||
        o->mode == LG_MODE_IDLE ? 1000 : 100;
    o->p99_limit_ms = has_p99 ? p99 : o->mode == LG_MODE_LOGIN ||
        o->mode == LG_MODE_ROSTER_LOGIN ? 100 : 50;
    if (o->rate > o->rate_max)
        o->rate = o->rate_max;
    return true;
}

/* Raise the descriptor limit to the hard limit; false when even that is
 * below what the run needs. */
static bool
nofile_raise(rlim_t need)
{
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return false;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
        (void)getrlimit(RLIMIT_NOFILE, &rl);
    }
    if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < need) {
        fprintf(stderr, "loadgen: needs %llu descriptors, the limit is %llu "
            "(raise ulimit -n)\n", (unsigned long long)need,
            (unsigned long long)rl.rlim_cur);
        return false;
    }
    return true;
}

int
main(int argc, char **argv)
{
    static const char *const modes[] = { "idle", "chat", "login",
        "roster-login", "fanout" };
    struct lg_opts o;
    struct lg_ctx ctx;
    rlim_t need;
    int rc;

    if (!opts_parse(argc, argv, &o) || !lg_process_init("loadgen"))
        return 2;
    switch (o.mode) {
    case LG_MODE_IDLE: need = o.sessions; break;
    case LG_MODE_CHAT: need = 2 * (rlim_t)o.pairs; break;
    case LG_MODE_FANOUT: need = o.nusers; break;
    case LG_MODE_ROSTER_LOGIN:
        need = o.nusers / 2 + (rlim_t)(o.max_inflight > o.concurrency ?
            o.max_inflight : o.concurrency);
        break;
    default: need = o.max_inflight > o.concurrency ? o.max_inflight :
        o.concurrency; break;
    }
    if (!nofile_raise(need + LG_FD_SPARE))
        return 2;
    /* Direct-mapped: with 64 slots per account a login storm over the
     * pool almost never evicts (a miss costs a whole PBKDF2 here). */
    if (!lg_ctx_init(&ctx, &o, "loadgen", 64)) {
        lg_ctx_fini(&ctx);
        return 2;
    }
    lg_say("loadgen: %s %s:%d (%s) mode=%s transport=%s users=%s%u..%u",
        o.label, o.host, o.port, o.domain, modes[o.mode],
        o.use_tls ? "starttls" : "plain", o.user_prefix, o.user_first,
        o.user_first + o.nusers - 1);
    if (o.port2 != 0)
        lg_say("loadgen: second server %s:%d (%s)", o.host, o.port2,
            o.domain2);
    switch (o.mode) {
    case LG_MODE_IDLE: rc = lg_run_idle(&ctx); break;
    case LG_MODE_CHAT: rc = lg_run_chat(&ctx); break;
    case LG_MODE_ROSTER_LOGIN: rc = lg_run_roster_login(&ctx); break;
    case LG_MODE_FANOUT: rc = lg_run_fanout(&ctx); break;
    default: rc = lg_run_login(&ctx); break;
    }
    lg_ctx_fini(&ctx);
    return rc;
}
