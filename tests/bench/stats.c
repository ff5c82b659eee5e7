/*
 * stats.c: latency samples and percentiles, CPU and memory probes read
 * from /proc, and the result lines.
 */
#include "tests/bench/loadgen.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

/* ---- samples -------------------------------------------------------- */

void
lg_samples_init(struct lg_samples *s)
{
    memset(s, 0, sizeof(*s));
}

void
lg_samples_fini(struct lg_samples *s)
{
    xs_free(s->v);
    memset(s, 0, sizeof(*s));
}

void
lg_samples_reset(struct lg_samples *s)
{
    s->n = 0;
}

void
lg_samples_add_ns(struct lg_samples *s, uint64_t ns)
{
    uint64_t us = ns / 1000u;

    if (s->n == s->cap) {
        s->cap = s->cap == 0 ? 4096 : s->cap * 2;
        s->v = xs_reallocarray(s->v, s->cap, sizeof(s->v[0]));
    }
    s->v[s->n++] = us > UINT32_MAX ? UINT32_MAX : (uint32_t)us;
}

static int
samples_cmp(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return (x > y) - (x < y);
}

double
lg_samples_pct_ms(struct lg_samples *s, double pct)
{
    size_t rank;

    if (s->n == 0)
        return 0.0;
    qsort(s->v, s->n, sizeof(s->v[0]), samples_cmp);
    /* Nearest rank: the smallest value with at least pct% at or below. */
    rank = (size_t)ceil(pct / 100.0 * (double)s->n);
    if (rank < 1)
        rank = 1;
    if (rank > s->n)
        rank = s->n;
    return (double)s->v[rank - 1] / 1000.0;
}

/* ---- probes --------------------------------------------------------- */

long
lg_rss_kb(pid_t pid)
{
    char path[64], line[256];
    long kb = -1;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

double
lg_proc_cpu_s(pid_t pid)
{
    char path[64], buf[1024];
    unsigned long long ut, st;
    const char *p;
    size_t n;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    if ((f = fopen(path, "r")) == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces: fields restart after its ')'. */
    if ((p = strrchr(buf, ')')) == NULL)
        return -1;
    /* After ')': state ppid pgrp session tty tpgid flags minflt cminflt
     * majflt cmajflt utime stime (fields 3..15 of proc(5)). */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu "
        "%llu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

double
lg_self_cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
        (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

bool
lg_core_snap(int core, struct lg_core_snap *out)
{
    char want[32], line[512];
    bool found = false;
    FILE *f;

    memset(out, 0, sizeof(*out));
    if (core < 0 || (f = fopen("/proc/stat", "r")) == NULL)
        return false;
    snprintf(want, sizeof(want), "cpu%d ", core);
    while (fgets(line, sizeof(line), f) != NULL) {
        unsigned long long v[8] = { 0 };

        if (strncmp(line, want, strlen(want)) != 0)
            continue;
        /* user nice system idle iowait irq softirq steal */
        if (sscanf(line + strlen(want), "%llu %llu %llu %llu %llu %llu "
            "%llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &v[6],
            &v[7]) >= 4) {
            for (int i = 0; i < 8; i++)
                out->total += v[i];
            out->busy = out->total - v[3] - v[4];
            found = true;
        }
        break;
    }
    fclose(f);
    return found;
}

double
lg_core_busy(const struct lg_core_snap *a, const struct lg_core_snap *b)
{
    if (b->total <= a->total)
        return -1;
    return (double)(b->busy - a->busy) / (double)(b->total - a->total);
}

/* CPU seconds of the aux processes together; -1 when there are none.  A
 * process that vanished mid-window is counted as 0 at both ends only if
 * it is gone at both: keep the set stable across a window. */
static double
stats_aux_cpu_s(const struct lg_opts *o)
{
    double sum = 0;

    if (o->naux == 0)
        return -1;
    for (unsigned i = 0; i < o->naux; i++) {
        double s = lg_proc_cpu_s(o->aux_pids[i]);

        if (s > 0)
            sum += s;
    }
    return sum;
}

void
lg_cpu_window_start(const struct lg_ctx *ctx, struct lg_cpu_window *w)
{
    memset(w, 0, sizeof(*w));
    w->t = lg_now_ns();
    w->self_s = lg_self_cpu_s();
    w->server_s = ctx->opts->server_pid > 0 ?
        lg_proc_cpu_s(ctx->opts->server_pid) : -1;
    w->aux_s = stats_aux_cpu_s(ctx->opts);
    w->server2_s = ctx->opts->server2_pid > 0 ?
        lg_proc_cpu_s(ctx->opts->server2_pid) : -1;
    w->has_core = lg_core_snap(ctx->opts->server_core, &w->core);
}

void
lg_cpu_window_end(const struct lg_ctx *ctx, const struct lg_cpu_window *w,
    struct lg_cpu_use *use)
{
    double wall = (double)(lg_now_ns() - w->t) / 1e9;
    struct lg_core_snap snap;

    use->gen = use->server = use->aux = use->core = use->server2 = -1;
    if (wall <= 0)
        return;
    use->gen = (lg_self_cpu_s() - w->self_s) / wall;
    if (w->server_s >= 0) {
        double s = lg_proc_cpu_s(ctx->opts->server_pid);

        if (s >= 0)
            use->server = (s - w->server_s) / wall;
    }
    if (w->aux_s >= 0)
        use->aux = (stats_aux_cpu_s(ctx->opts) - w->aux_s) / wall;
    if (w->server2_s >= 0) {
        double s = lg_proc_cpu_s(ctx->opts->server2_pid);

        if (s >= 0)
            use->server2 = (s - w->server2_s) / wall;
    }
    if (w->has_core && lg_core_snap(ctx->opts->server_core, &snap))
        use->core = lg_core_busy(&w->core, &snap);
}

double
lg_cpu_other(const struct lg_cpu_use *use)
{
    double other;

    if (use->core < 0 || use->server < 0)
        return -1;
    other = use->core - use->server - (use->aux > 0 ? use->aux : 0);
    return other > 0 ? other : 0;
}

void
lg_cpu_warn(struct lg_ctx *ctx, const struct lg_cpu_use *use)
{
    double other = lg_cpu_other(use);

    ctx->is_disturbed = other > LG_OTHER_WARN;
    if (other > LG_OTHER_WARN)
        lg_say("warning: core %d spent %.0f%% outside the server and its "
            "database (interrupts, other processes): the figure may be "
            "disturbed", ctx->opts->server_core, other * 100);
    if (use->gen > LG_GEN_WARN)
        lg_say("warning: the generator used %.0f%% of its core: the "
            "figure may be the generator's limit", use->gen * 100);
}

/* ---- output --------------------------------------------------------- */

const char *
lg_pct(double v, char *buf, size_t n)
{
    if (v < 0)
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.0f%%", v * 100);
    return buf;
}

void
lg_say(const char *fmt, ...)
{
    va_list ap;

    fputs("# ", stdout);
    va_start(ap, fmt);
    vfprintf(stdout, fmt, ap);
    va_end(ap);
    fputc('\n', stdout);
    fflush(stdout);
}

/* Append to one of the result's buffers; a result that would not fit is
 * marked and printed cut rather than overflowing. */
static void
result_put(struct lg_result *r, bool json, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
result_put(struct lg_result *r, bool json, const char *fmt, ...)
{
    char *buf = json ? r->json : r->text;
    size_t cap = json ? sizeof(r->json) : sizeof(r->text);
    size_t *len = json ? &r->jlen : &r->tlen;
    va_list ap;
    int n;

    if (*len >= cap - 1) {
        r->is_full = true;
        return;
    }
    va_start(ap, fmt);
    n = vsnprintf(buf + *len, cap - *len, fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= cap - *len) {
        r->is_full = true;
        *len = cap - 1;
        return;
    }
    *len += (size_t)n;
}

/* Values are written bare: keep them free of spaces and quotes. */
static void
result_clean(const char *in, char *out, size_t cap)
{
    size_t i;

    for (i = 0; in[i] != '\0' && i + 1 < cap; i++) {
        unsigned char ch = (unsigned char)in[i];

        out[i] = (ch <= ' ' || ch == '"' || ch == '\\' || ch >= 0x7f) ?
            '_' : (char)ch;
    }
    out[i] = '\0';
}

void
lg_result_init(struct lg_result *r, const struct lg_ctx *ctx,
    const char *scenario)
{
    const struct lg_opts *o = ctx->opts;
    static const char *const mech[LG_MECH__COUNT] = { "SCRAM-SHA-1",
        "SCRAM-SHA-256", "PLAIN" };

    memset(r, 0, sizeof(*r));
    r->is_json = o->json;
    result_put(r, false, "RESULT");
    result_put(r, true, "{");
    lg_result_str(r, "server", o->label);
    lg_result_str(r, "scenario", scenario);
    lg_result_str(r, "transport", o->use_tls ? "tls" : "plain");
    lg_result_str(r, "mech", mech[o->mech]);
}

void
lg_result_str(struct lg_result *r, const char *key, const char *val)
{
    char clean[256];

    result_clean(val != NULL && *val != '\0' ? val : "-", clean,
        sizeof(clean));
    result_put(r, false, " %s=%s", key, clean);
    result_put(r, true, "%s\"%s\":\"%s\"", r->jlen > 1 ? "," : "", key,
        clean);
}

void
lg_result_int(struct lg_result *r, const char *key, long long val)
{
    result_put(r, false, " %s=%lld", key, val);
    result_put(r, true, "%s\"%s\":%lld", r->jlen > 1 ? "," : "", key, val);
}

void
lg_result_num(struct lg_result *r, const char *key, double val,
    int decimals)
{
    if (!isfinite(val)) {
        lg_result_str(r, key, "nan");
        return;
    }
    result_put(r, false, " %s=%.*f", key, decimals, val);
    result_put(r, true, "%s\"%s\":%.*f", r->jlen > 1 ? "," : "", key,
        decimals, val);
}

void
lg_result_emit(struct lg_result *r)
{
    result_put(r, true, "}");
    if (r->is_full)
        lg_say("result line cut: too many fields");
    fwrite(r->text, 1, r->tlen, stdout);
    fputc('\n', stdout);
    if (r->is_json) {
        fwrite(r->json, 1, r->jlen, stdout);
        fputc('\n', stdout);
    }
    fflush(stdout);
}
