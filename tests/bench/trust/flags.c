/*
 * tests/bench/trust/flags.c: issue 6's first bench, signed trust flags
 * (docs/trust-flags.md) made and checked per second on one core.
 *
 * A key store in a temporary folder (xs_trustkey_store_load creates the
 * domain's first key there, as xmppd does at its first start), a realistic
 * claim (a registered account of a.bench, created months ago, trust 52 to
 * 90, to a user of b.bench, valid an hour), then, each phase timing every
 * operation on its own:
 *
 *   sign     what the S2S_OUT hook does per request: a fresh
 *            <presence type='subscribe'/>, xs_flag_strip, xs_flag_attach
 *            (a random nonce, the canonical bytes, one Ed25519 signature,
 *            the <info/> and <flag/> elements); the element freed after
 *            the clock stops
 *   check    what the gate does per request: xs_flag_from_stanza (find
 *            and strictly parse the flag) and xs_flag_verify (issuer,
 *            recipient, sender, validity, the replay cache, the key, the
 *            signature, then the nonce recorded), on stanzas flagged
 *            beforehand (untimed), each flag with a fresh nonce
 *   verify   xs_flag_verify alone, on flags parsed beforehand
 *   wire     the check with the stanza's XML parse in front (the s2s
 *            stream's parser, from the bytes xmppd would receive)
 *   ed25519  crypto_sign_detached and crypto_sign_verify_detached alone
 *            over the same canonical bytes: the floor under sign and
 *            verify
 *
 * The replay cache is on, as in the server (policy default: 200,000
 * nonces), and fresh for each phase, so every flag is accepted once.
 * Flags are made and checked in batches (--batch), so that the pre-made
 * stanzas stay in memory a batch at a time.
 *
 *   flags [--ops N] [--batch N] [--json]
 *
 * Run it pinned to one core (tests/bench/trust.sh uses taskset -c 0).
 * Prints "# " lines for people and one RESULT line per phase, like the
 * load generator.  Exit status 0 when every operation succeeded, 1 when
 * one failed (a flag that did not verify), 2 for a usage or set-up error.
 */
#include "reputation/flag.h"

#include "tests/bench/common/bench.h"
#include "xmppd/xml/parser.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#define FB_ISSUER       "a.bench"
#define FB_RCPT_DOMAIN  "b.bench"
#define FB_SENDERS      1000        /* distinct senders and recipients */
#define FB_REPLAY_MAX   200000      /* the policy's replay_cache_max */
#define FB_DAY          86400

/* ---- the world ------------------------------------------------------- */

struct fb_opts {
    size_t ops;
    size_t batch;
    bool   json;
};

struct fb_world {
    char                      dir[64];
    struct xs_trustkey_store *keys;     /* owned */
    struct xs_flag_verifier   v;
    int64_t                   now;
    char                    (*senders)[64];     /* owned */
    char                    (*rcpts)[64];       /* owned */
    int64_t                  *since;            /* owned: per sender */
    int                      *trust;            /* owned: per sender */
};

static bool
world_init(struct fb_world *w)
{
    const char *domains[] = { FB_ISSUER };
    struct xs_trustkey_opts o = {
        .max_validity_s = XS_FLAG_MAX_VALIDITY_S, .skew_s = XS_FLAG_SKEW_S,
    };
    char err[512];
    int n;

    memset(w, 0, sizeof(*w));
    if (!bench_tmpdir_new(w->dir, sizeof(w->dir), "flags"))
        return false;
    o.dir = w->dir;
    w->now = xs_wall_s();
    if (xs_trustkey_store_load(&o, domains, 1, w->now, &w->keys, err,
            sizeof(err)) != XS_OK) {
        fprintf(stderr, "flags: key store: %s\n", err);
        return false;
    }
    /* The verifier finds the issuer's key in memory, as the server does
     * with a pinned or cached key. */
    w->v.skew_s = XS_FLAG_SKEW_S;
    w->v.max_validity_s = XS_FLAG_MAX_VALIDITY_S;
    w->v.key_lookup = xs_flag_key_from_store;
    w->v.key_udata = w->keys;
    w->senders = xs_calloc(FB_SENDERS, sizeof(*w->senders));
    w->rcpts = xs_calloc(FB_SENDERS, sizeof(*w->rcpts));
    w->since = xs_calloc(FB_SENDERS, sizeof(*w->since));
    w->trust = xs_calloc(FB_SENDERS, sizeof(*w->trust));
    for (size_t i = 0; i < FB_SENDERS; i++) {
        n = snprintf(w->senders[i], sizeof(w->senders[i]),
            "user%zu@" FB_ISSUER, 100000 + i * 7);
        xs_assert(n > 0 && (size_t)n < sizeof(w->senders[i]));
        n = snprintf(w->rcpts[i], sizeof(w->rcpts[i]),
            "contact%zu@" FB_RCPT_DOMAIN, 200000 + i * 13);
        xs_assert(n > 0 && (size_t)n < sizeof(w->rcpts[i]));
        w->since[i] = w->now - FB_DAY * (int64_t)(30 + bench_rand() % 1000);
        w->trust[i] = 52 + (int)(bench_rand() % 39);
    }
    return true;
}

static void
world_fini(struct fb_world *w)
{
    xs_trustkey_store_free(w->keys);
    bench_tmpdir_free(w->dir);
    xs_free(w->senders);
    xs_free(w->rcpts);
    xs_free(w->since);
    xs_free(w->trust);
}

/* The claim of request i: sender and recipient in rotation. */
static struct xs_flag_claim
world_claim(const struct fb_world *w, size_t i)
{
    size_t s = i % FB_SENDERS, r = (i * 7 + 3) % FB_SENDERS;
    struct xs_flag_claim c = {
        .issuer = FB_ISSUER, .sender = w->senders[s],
        .recipient = w->rcpts[r], .affiliation = "registered",
        .since = w->since[s], .trust = w->trust[s], .issued = w->now,
        .expires = w->now + XS_FLAG_VALIDITY_S,
    };
    return c;
}

/* A subscription request as a client sends it (from its full JID). */
static struct xs_elem *
presence_new(const struct xs_flag_claim *c)
{
    struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, "presence");
    char from[96];
    int n = snprintf(from, sizeof(from), "%s/phone", c->sender);

    xs_assert(n > 0 && (size_t)n < sizeof(from));
    xs_elem_set_attr(el, "from", from);
    xs_elem_set_attr(el, "to", c->recipient);
    xs_elem_set_attr(el, "type", "subscribe");
    xs_elem_set_attr(el, "id", "sub1");
    return el;
}

/* ---- phases ---------------------------------------------------------- */

struct fb_phase {
    const char           *name;     /* borrowed */
    const char           *what;     /* borrowed */
    struct bench_samples  s;        /* one per operation */
    size_t                failed;
    enum xs_flag_result   first_bad;
};

static void
phase_report(struct fb_phase *ph, const struct fb_opts *o)
{
    double secs = (double)ph->s.sum / 1e9;
    double rate = secs > 0 ? (double)ph->s.n / secs : 0;
    double us = ph->s.n > 0 ? secs * 1e6 / (double)ph->s.n : 0;
    double p50 = bench_samples_pct_us(&ph->s, 50);
    double p99 = bench_samples_pct_us(&ph->s, 99);
    double pmax = bench_samples_pct_us(&ph->s, 100);

    printf("# %-8s %8zu ops in %.3f s: %9.0f/s, %7.2f us each (p50 %.2f, "
        "p99 %.2f, max %.1f us)%s%s  [%s]\n", ph->name, ph->s.n, secs, rate,
        us, p50, p99, pmax, ph->failed > 0 ? "; FAILED: " : "",
        ph->failed > 0 ? xs_flag_result_name(ph->first_bad) : "", ph->what);
    printf("RESULT server=xmppd scenario=trust_flags phase=%s ops=%zu "
        "seconds=%.3f per_s=%.0f us_each=%.3f p50_us=%.3f p99_us=%.3f "
        "max_us=%.1f failed=%zu\n", ph->name, ph->s.n, secs, rate, us, p50,
        p99, pmax, ph->failed);
    if (o->json)
        printf("{\"server\":\"xmppd\",\"scenario\":\"trust_flags\","
            "\"phase\":\"%s\",\"ops\":%zu,\"per_s\":%.0f,\"us_each\":%.3f,"
            "\"p50_us\":%.3f,\"p99_us\":%.3f,\"failed\":%zu}\n", ph->name,
            ph->s.n, rate, us, p50, p99, ph->failed);
    fflush(stdout);
}

static void
phase_fail(struct fb_phase *ph, enum xs_flag_result r)
{
    if (ph->failed++ == 0)
        ph->first_bad = r;
}

/* sign: strip and attach on a fresh presence, per request. */
static void
run_sign(struct fb_world *w, const struct fb_opts *o, struct fb_phase *ph)
{
    for (size_t i = 0; i < o->ops; i++) {
        struct xs_flag_claim c = world_claim(w, i);
        struct xs_elem *el = presence_new(&c);
        uint64_t t0 = bench_now_ns();
        xs_rc rc;

        (void)xs_flag_strip(el);
        rc = xs_flag_attach(el, &c, w->keys);
        bench_samples_add(&ph->s, bench_now_ns() - t0);
        if (rc != XS_OK)
            phase_fail(ph, XS_FLAG_MALFORMED);
        xs_elem_free(el);
    }
}

/* n flagged stanzas for requests first..first+n (untimed). */
static struct xs_elem **
batch_make(struct fb_world *w, size_t first, size_t n)
{
    struct xs_elem **v = xs_calloc(n, sizeof(*v));

    for (size_t i = 0; i < n; i++) {
        struct xs_flag_claim c = world_claim(w, first + i);

        v[i] = presence_new(&c);
        xs_elem_set_attr(v[i], "from", c.sender);   /* the bare from */
        xs_assert(xs_flag_attach(v[i], &c, w->keys) == XS_OK);
    }
    return v;
}

static void
batch_free(struct xs_elem **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xs_elem_free(v[i]);
    xs_free(v);
}

/* check: find, parse and verify, per request. */
static void
run_check(struct fb_world *w, const struct fb_opts *o, struct fb_phase *ph)
{
    struct xs_flag_verifier v = w->v;
    struct xs_flag f;

    v.replay = xs_replay_new(FB_REPLAY_MAX);
    for (size_t done = 0; done < o->ops; ) {
        size_t n = o->ops - done < o->batch ? o->ops - done : o->batch;
        struct xs_elem **b = batch_make(w, done, n);

        for (size_t i = 0; i < n; i++) {
            const char *from = xs_elem_attr(b[i], "from");
            const char *to = xs_elem_attr(b[i], "to");
            uint64_t t0 = bench_now_ns();
            enum xs_flag_result r = xs_flag_from_stanza(b[i], &f, NULL);

            if (r == XS_FLAG_OK)
                r = xs_flag_verify(&v, &f, FB_ISSUER, from, to, w->now);
            bench_samples_add(&ph->s, bench_now_ns() - t0);
            if (r != XS_FLAG_OK)
                phase_fail(ph, r);
        }
        batch_free(b, n);
        done += n;
    }
    xs_replay_free(v.replay);
}

/* verify: xs_flag_verify alone on flags parsed beforehand. */
static void
run_verify(struct fb_world *w, const struct fb_opts *o, struct fb_phase *ph)
{
    struct xs_flag_verifier v = w->v;
    struct xs_flag *fl = xs_calloc(o->batch, sizeof(*fl));

    v.replay = xs_replay_new(FB_REPLAY_MAX);
    for (size_t done = 0; done < o->ops; ) {
        size_t n = o->ops - done < o->batch ? o->ops - done : o->batch;
        struct xs_elem **b = batch_make(w, done, n);

        for (size_t i = 0; i < n; i++)
            xs_assert(xs_flag_from_stanza(b[i], &fl[i], NULL) ==
                XS_FLAG_OK);
        for (size_t i = 0; i < n; i++) {
            uint64_t t0 = bench_now_ns();
            enum xs_flag_result r = xs_flag_verify(&v, &fl[i], FB_ISSUER,
                fl[i].sender, fl[i].recipient, w->now);

            bench_samples_add(&ph->s, bench_now_ns() - t0);
            if (r != XS_FLAG_OK)
                phase_fail(ph, r);
        }
        batch_free(b, n);
        done += n;
    }
    xs_free(fl);
    xs_replay_free(v.replay);
}

/* wire: the stanza's bytes through the stream parser, then the check. */
static void
run_wire(struct fb_world *w, const struct fb_opts *o, struct fb_phase *ph)
{
    static const struct xs_xml_limits lim = { 65536, 16, 32 };
    static const char hdr[] = "<stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    struct xs_flag_verifier v = w->v;
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_xml_ev ev;
    struct xs_flag f;
    char **wire = xs_calloc(o->batch, sizeof(*wire));

    xs_assert(xs_xml_feed(x, hdr, strlen(hdr)) == XS_STERR_NONE);
    xs_assert(xs_xml_pop(x, &ev) && ev.type == XS_XEV_OPEN);
    xs_elem_free(ev.el);
    v.replay = xs_replay_new(FB_REPLAY_MAX);
    for (size_t done = 0; done < o->ops; ) {
        size_t n = o->ops - done < o->batch ? o->ops - done : o->batch;
        struct xs_elem **b = batch_make(w, done, n);

        for (size_t i = 0; i < n; i++)
            wire[i] = xs_elem_to_string(b[i], "jabber:server");
        batch_free(b, n);
        for (size_t i = 0; i < n; i++) {
            uint64_t t0 = bench_now_ns();
            enum xs_flag_result r = XS_FLAG_MALFORMED;
            const char *from, *to;

            if (xs_xml_feed(x, wire[i], strlen(wire[i])) == XS_STERR_NONE &&
                xs_xml_pop(x, &ev) && ev.type == XS_XEV_ELEM) {
                from = xs_elem_attr(ev.el, "from");
                to = xs_elem_attr(ev.el, "to");
                r = xs_flag_from_stanza(ev.el, &f, NULL);
                if (r == XS_FLAG_OK && from != NULL && to != NULL)
                    r = xs_flag_verify(&v, &f, FB_ISSUER, from, to,
                        w->now);
                xs_elem_free(ev.el);
            }
            bench_samples_add(&ph->s, bench_now_ns() - t0);
            if (r != XS_FLAG_OK)
                phase_fail(ph, r);
            xs_free(wire[i]);
        }
        done += n;
    }
    xs_free(wire);
    xs_replay_free(v.replay);
    xs_xml_free(x);
}

/* ed25519: libsodium alone over one flag's canonical bytes. */
static void
run_ed25519(struct fb_world *w, const struct fb_opts *o,
    struct fb_phase *sign, struct fb_phase *verify)
{
    unsigned char pk[crypto_sign_PUBLICKEYBYTES];
    unsigned char sk[crypto_sign_SECRETKEYBYTES];
    unsigned char sig[crypto_sign_BYTES];
    struct xs_flag_claim c = world_claim(w, 0);
    struct xs_elem *info, *flag;
    struct xs_flag f;
    char canon[XS_FLAG_CANON_MAX];
    size_t len;

    crypto_sign_keypair(pk, sk);
    xs_assert(xs_flag_build(&c, w->keys, &info, &flag, &f) == XS_OK);
    xs_elem_free(info);
    xs_elem_free(flag);
    len = xs_flag_canonical(&f, canon, sizeof(canon));
    for (size_t i = 0; i < o->ops; i++) {
        uint64_t t0 = bench_now_ns();

        crypto_sign_detached(sig, NULL, (unsigned char *)canon, len, sk);
        bench_samples_add(&sign->s, bench_now_ns() - t0);
        canon[len - 2] = (char)('a' + i % 26);     /* another nonce */
    }
    crypto_sign_detached(sig, NULL, (unsigned char *)canon, len, sk);
    for (size_t i = 0; i < o->ops; i++) {
        uint64_t t0 = bench_now_ns();
        int bad = crypto_sign_verify_detached(sig, (unsigned char *)canon,
            len, pk);

        bench_samples_add(&verify->s, bench_now_ns() - t0);
        if (bad != 0)
            phase_fail(verify, XS_FLAG_BAD_SIGNATURE);
    }
    sodium_memzero(sk, sizeof(sk));
}

/* ---- main ------------------------------------------------------------ */

static void
usage(FILE *f)
{
    fputs(
"usage: flags [--ops N] [--batch N] [--json]\n"
"  --ops N     operations timed per phase (100000)\n"
"  --batch N   stanzas flagged ahead of a check, per batch (10000)\n"
"  --json      also print each result as a JSON object\n", f);
}

static bool
opts_parse(int argc, char **argv, struct fb_opts *o)
{
    const struct bench_opt opts[] = {
        /* A phase's nonces must all fit the replay cache. */
        { "ops", BENCH_OPT_SIZE, &o->ops, 100, FB_REPLAY_MAX },
        { "batch", BENCH_OPT_SIZE, &o->batch, 1, 1000000 },
        { "json", BENCH_OPT_FLAG, &o->json, 0, 0 },
        { NULL, 0, NULL, 0, 0 },
    };

    o->ops = 100000;
    o->batch = 10000;
    o->json = false;
    return bench_opts_parse(argc, argv, opts, usage);
}

int
main(int argc, char **argv)
{
    struct fb_opts o;
    struct fb_world w;
    struct fb_phase sign = { .name = "sign", .what = "strip + "
        "xs_flag_attach on a fresh presence" };
    struct fb_phase check = { .name = "check", .what =
        "xs_flag_from_stanza + xs_flag_verify, replay cache on" };
    struct fb_phase verify = { .name = "verify", .what =
        "xs_flag_verify alone" };
    struct fb_phase wire = { .name = "wire", .what = "XML parse + "
        "xs_flag_from_stanza + xs_flag_verify" };
    struct fb_phase esign = { .name = "ed_sign", .what =
        "crypto_sign_detached alone" };
    struct fb_phase ever = { .name = "ed_verify", .what =
        "crypto_sign_verify_detached alone" };
    struct fb_phase *all[] = { &sign, &check, &verify, &wire, &esign,
        &ever };
    bool ok = true;

    if (!opts_parse(argc, argv, &o))
        return 2;
    xs_log_min = XS_LOG_WARN;
    if (sodium_init() < 0) {
        fprintf(stderr, "flags: sodium_init failed\n");
        return 2;
    }
    if (!world_init(&w)) {
        world_fini(&w);
        return 2;
    }
    printf("# flags: issuer %s, %d senders and recipients, %zu operations "
        "a phase, batches of %zu, replay cache of %d nonces\n", FB_ISSUER,
        FB_SENDERS, o.ops, o.batch, FB_REPLAY_MAX);
    fflush(stdout);
    run_sign(&w, &o, &sign);
    run_check(&w, &o, &check);
    run_verify(&w, &o, &verify);
    run_wire(&w, &o, &wire);
    run_ed25519(&w, &o, &esign, &ever);
    for (size_t i = 0; i < XS_ARRAY_LEN(all); i++) {
        phase_report(all[i], &o);
        ok &= all[i]->failed == 0;
        bench_samples_fini(&all[i]->s);
    }
    world_fini(&w);
    return ok ? 0 : 1;
}
