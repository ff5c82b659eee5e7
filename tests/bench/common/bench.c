/*
 * tests/bench/common/bench.c: the helpers the one-program benches share
 * (bench.h).
 */
#include "tests/bench/common/bench.h"

#include <errno.h>
#include <ftw.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#define BENCH_OPTS_MAX  32      /* long options a program has, at most */
#define BENCH_OPT_HELP  1       /* getopt's value for --help */
#define BENCH_OPT_BASE  256     /* getopt's value for table entry 0 */

/* ---- clocks ---- */

static uint64_t
bench_clock_ns(clockid_t id)
{
    struct timespec ts;

    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t
bench_now_ns(void)
{
    return bench_clock_ns(CLOCK_MONOTONIC);
}

uint64_t
bench_cpu_ns(void)
{
    return bench_clock_ns(CLOCK_THREAD_CPUTIME_ID);
}

/* ---- random ---- */

static uint64_t bench_rng_state = 0x9e3779b97f4a7c15u;

uint64_t
bench_rand(void)
{
    uint64_t z = (bench_rng_state += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

uint64_t
bench_below(uint64_t n)
{
    return bench_rand() % n;
}

void
bench_rand_seed(uint64_t seed)
{
    bench_rng_state ^= seed * 0xd1b54a32d192ed03u;
}

/* ---- names ---- */

const char *
bench_names_add(struct bench_names *s, const char *name)
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
    return s->arena + s->off[s->n - 1];
}

const char *
bench_names_get(const struct bench_names *s, size_t i)
{
    return s->arena + s->off[i];
}

void
bench_names_fini(struct bench_names *s)
{
    xs_free(s->arena);
    xs_free(s->off);
    memset(s, 0, sizeof(*s));
}

/* ---- samples ---- */

void
bench_samples_add(struct bench_samples *s, uint64_t ns)
{
    if (s->n == s->cap) {
        s->cap = s->cap == 0 ? 65536 : s->cap * 2;
        s->ns = xs_reallocarray(s->ns, s->cap, sizeof(s->ns[0]));
    }
    s->ns[s->n++] = ns;
    s->sum += ns;
    s->is_sorted = false;
}

void
bench_samples_reset(struct bench_samples *s)
{
    s->n = 0;
    s->sum = 0;
    s->is_sorted = false;
}

void
bench_samples_fini(struct bench_samples *s)
{
    xs_free(s->ns);
    memset(s, 0, sizeof(*s));
}

static int
bench_cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

    return x < y ? -1 : x > y;
}

double
bench_samples_pct_us(struct bench_samples *s, double p)
{
    size_t i;

    if (s->n == 0)
        return 0;
    if (!s->is_sorted) {
        qsort(s->ns, s->n, sizeof(s->ns[0]), bench_cmp_u64);
        s->is_sorted = true;
    }
    i = (size_t)(p / 100.0 * (double)(s->n - 1) + 0.5);
    return (double)s->ns[i] / 1e3;
}

double
bench_samples_mean_us(const struct bench_samples *s)
{
    return s->n > 0 ? (double)s->sum / 1e3 / (double)s->n : 0;
}

/* ---- options ---- */

/* A whole decimal number in [min, max]. */
static bool
bench_opt_whole(const char *s, double min, double max, uint64_t *out)
{
    char *end;
    unsigned long long v;

    if (*s < '0' || *s > '9')
        return false;
    errno = 0;
    v = strtoull(s, &end, 10);
    if (*end != '\0' || errno == ERANGE || (double)v < min ||
        (double)v > max)
        return false;
    *out = v;
    return true;
}

static bool
bench_opt_set(const struct bench_opt *o, const char *arg)
{
    uint64_t u;
    double d;
    char *end;

    switch (o->type) {
    case BENCH_OPT_FLAG:
        *(bool *)o->out = true;
        return true;
    case BENCH_OPT_STR:
        *(const char **)o->out = arg;
        return true;
    case BENCH_OPT_DOUBLE:
        d = strtod(arg, &end);
        if (*arg == '\0' || *end != '\0' || !(d >= o->min && d <= o->max))
            return false;
        *(double *)o->out = d;
        return true;
    default:
        break;
    }
    if (!bench_opt_whole(arg, o->min, o->max, &u))
        return false;
    switch (o->type) {
    case BENCH_OPT_INT: *(int *)o->out = (int)u; break;
    case BENCH_OPT_UINT: *(unsigned *)o->out = (unsigned)u; break;
    case BENCH_OPT_SIZE: *(size_t *)o->out = (size_t)u; break;
    default: *(uint64_t *)o->out = u; break;
    }
    return true;
}

bool
bench_opts_parse(int argc, char **argv, const struct bench_opt *opts,
    void (*usage)(FILE *f))
{
    struct option longs[BENCH_OPTS_MAX + 2];
    size_t n = 0;
    int c;

    for (; opts[n].name != NULL; n++) {
        xs_assert(n < BENCH_OPTS_MAX);
        longs[n] = (struct option){ opts[n].name,
            opts[n].type == BENCH_OPT_FLAG ? no_argument
            : required_argument, NULL, BENCH_OPT_BASE + (int)n };
    }
    longs[n] = (struct option){ "help", no_argument, NULL, BENCH_OPT_HELP };
    longs[n + 1] = (struct option){ NULL, 0, NULL, 0 };
    while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
        if (c == BENCH_OPT_HELP) {
            usage(stdout);
            exit(0);
        }
        if (c < BENCH_OPT_BASE || c >= BENCH_OPT_BASE + (int)n ||
            !bench_opt_set(&opts[c - BENCH_OPT_BASE], optarg))
            goto bad;
    }
    if (optind != argc)
        goto bad;
    return true;
bad:
    usage(stderr);
    return false;
}

/* ---- a scratch folder ---- */

bool
bench_tmpdir_new(char *dir, size_t len, const char *name)
{
    int n = snprintf(dir, len, "/tmp/xmppd-bench-%s.XXXXXX", name);

    xs_assert(n > 0 && (size_t)n < len);
    if (mkdtemp(dir) == NULL) {
        fprintf(stderr, "xmppd-bench-%s: mkdtemp: %s\n", name,
            strerror(errno));
        dir[0] = '\0';
        return false;
    }
    return true;
}

static int
bench_rm_one(const char *path, const struct stat *st, int flag,
    struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

void
bench_tmpdir_free(const char *dir)
{
    if (dir[0] != '\0')
        (void)nftw(dir, bench_rm_one, 8, FTW_DEPTH | FTW_PHYS);
}
