/*
 * tests/bench/common/bench.h: what the one-program benches of
 * tests/bench/rep and tests/bench/trust share (score, ingest, flags,
 * gatelat, and the options of evgen and subflood): clocks, a reproducible
 * random stream, names kept in one arena, per-operation samples with
 * their percentiles, a table-driven option parser and a scratch folder.
 *
 * Bench code, not the server's: it may print and exit.  Linked into each
 * program by the Makefile (tests/bench/common/bench.c), not into
 * libxmppd.a.
 */
#ifndef XMPPD_TESTS_BENCH_COMMON_BENCH_H
#define XMPPD_TESTS_BENCH_COMMON_BENCH_H

#include "xmppd/core/xs.h"

#include <stdio.h>

/* ---- clocks ------------------------------------------------------------ */

/* Monotonic nanoseconds. */
uint64_t bench_now_ns(void);
/* This thread's CPU time in nanoseconds: what a piece of work cost the
 * core, without the time another process had it. */
uint64_t bench_cpu_ns(void);

/* ---- a reproducible random stream -------------------------------------- */

/*
 * splitmix64 from a fixed start: the same program with the same seed
 * builds the same data and draws the same requests.  Not for anything
 * secret (which senders, trust values, subjects), so not randombytes_buf.
 */
uint64_t bench_rand(void);
/* Uniform in [0, n), n > 0 (the modulo bias is irrelevant here). */
uint64_t bench_below(uint64_t n);
/* Mix seed into the stream's state (before the first draw). */
void     bench_rand_seed(uint64_t seed);

/* ---- names in one arena -------------------------------------------------- */

/*
 * NUL-terminated names one after the other, with an offset table: a
 * million small strings without a million allocations.  A name's pointer
 * is only valid until the next add (the arena may move); keep indexes, or
 * take the pointers once every name is in.
 */
struct bench_names {
    char   *arena;      /* owned */
    size_t  len, cap;
    size_t *off;        /* owned: offset of name i */
    size_t  n, ncap;
};

/* Append name; returns its copy (valid until the next add). */
const char *bench_names_add(struct bench_names *s, const char *name);
const char *bench_names_get(const struct bench_names *s, size_t i);
void        bench_names_fini(struct bench_names *s);

/* ---- per-operation samples ---------------------------------------------- */

struct bench_samples {
    uint64_t *ns;       /* owned: one duration per operation */
    size_t    n, cap;
    uint64_t  sum;      /* ns */
    bool      is_sorted;
};

void   bench_samples_add(struct bench_samples *s, uint64_t ns);
/* Forget the samples, keep the memory. */
void   bench_samples_reset(struct bench_samples *s);
void   bench_samples_fini(struct bench_samples *s);
/* Percentile p (0..100) in microseconds, the sample of rank
 * round(p / 100 * (n - 1)); 0 when empty.  Sorts the samples once. */
double bench_samples_pct_us(struct bench_samples *s, double p);
/* The mean in microseconds; 0 when empty. */
double bench_samples_mean_us(const struct bench_samples *s);

/* ---- options ------------------------------------------------------------- */

enum bench_opt_type {
    BENCH_OPT_FLAG,     /* bool: true when given */
    BENCH_OPT_STR,      /* const char *: borrowed from argv */
    BENCH_OPT_DOUBLE,   /* double in [min, max] */
    BENCH_OPT_INT,      /* int in [min, max] */
    BENCH_OPT_UINT,     /* unsigned in [min, max] */
    BENCH_OPT_SIZE,     /* size_t in [min, max] */
    BENCH_OPT_U64,      /* uint64_t in [min, max] */
};

/* One long option (--name VALUE, or --name for a flag). */
struct bench_opt {
    const char          *name;      /* borrowed; NULL ends a table */
    enum bench_opt_type  type;
    void                *out;       /* borrowed: where the value goes */
    double               min, max;  /* numbers: the accepted range */
};

/*
 * Parse argv by the table.  --help prints usage to stdout and exits 0.  An
 * unknown option, a value that does not parse or is out of its range, or
 * a positional argument prints usage to stderr and returns false.  Whole
 * numbers are decimal digits only.  What is not given keeps the value the
 * caller set.
 */
bool bench_opts_parse(int argc, char **argv, const struct bench_opt *opts,
         void (*usage)(FILE *f));

/* ---- a scratch folder ---------------------------------------------------- */

/* A new folder /tmp/xmppd-bench-<name>.XXXXXX into dir (dir[0] is '\0'
 * when it failed, after a message). */
bool bench_tmpdir_new(char *dir, size_t len, const char *name);
/* Remove it and everything below; "" is a no-op. */
void bench_tmpdir_free(const char *dir);

#endif
