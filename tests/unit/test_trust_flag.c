/* tests/unit/test_trust_flag.c: trust flags (reputation/flag.c) and the
 * replay cache (reputation/replay.c): the test vector of
 * docs/trust-flags.md, sign and verify, every tampered attribute, replay,
 * clock windows, issuer and key checks, rotation, stripping, malformed
 * input, and a quick speed loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reputation/flag.h"
#include "reputation/replay.h"
#include "reputation/trustkey.h"
#include "xmppd/xml/parser.h"

#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SKEW        300
#define MAXVAL      86400
#define VALIDITY    3600

/* The specification's example (docs/trust-flags.md, "Test vector"). */
#define VEC_KEY_ID  "Vkdap1RjR0wC"
#define VEC_NONCE   "oKGio6SlpqeoqaqrrK2urw"
#define VEC_PUBLIC  "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
#define VEC_SIG     "puywAisdMUv5AV8WW+7Ic5mU7lTHlJtXN9n7tG8ZSk3F7AId01IL" \
                    "e24m1m3MrUL2IQVm6yyKkpHZHajr2ahdBw=="
#define VEC_CANON \
    "urn:xmppd:trust:0\n" \
    "v=1\n" \
    "issuer=a.example\n" \
    "key=" VEC_KEY_ID "\n" \
    "sender=alice@a.example\n" \
    "recipient=bob@b.example\n" \
    "affiliation=registered\n" \
    "since=2026-01-02T00:00:00Z\n" \
    "trust=72\n" \
    "issued=2026-11-27T10:00:00Z\n" \
    "expires=2026-11-28T10:00:00Z\n" \
    "nonce=" VEC_NONCE "\n"
#define VEC_ELEM \
    "<flag xmlns='urn:xmppd:trust:0' v='1' issuer='a.example' key='" \
    VEC_KEY_ID "' sender='alice@a.example' recipient='bob@b.example' " \
    "affiliation='registered' since='2026-01-02T00:00:00Z' trust='72' " \
    "issued='2026-11-27T10:00:00Z' expires='2026-11-28T10:00:00Z' " \
    "nonce='" VEC_NONCE "' sig='" VEC_SIG "'/>"

struct fx {
    char                     dir[64];
    struct xs_trustkey_store *keys;
    struct xs_replay         *replay;
    struct xs_flag_verifier  v;
    int64_t                  issued;    /* 2026-11-27T10:00:00Z */
    int64_t                  now;
};

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static int64_t
t_of(const char *s)
{
    int64_t t;

    xs_assert(xs_trust_time_parse(s, &t));
    return t;
}

static int
setup(void **state)
{
    struct fx *f = xs_calloc(1, sizeof(*f));
    const char *domains[] = { "a.example" };
    struct xs_trustkey_opts o = { NULL, MAXVAL, SKEW };
    char err[512];

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_trust_flag.XXXXXX");
    xs_assert(mkdtemp(f->dir) != NULL);
    o.dir = f->dir;
    f->issued = t_of("2026-11-27T10:00:00Z");
    f->now = f->issued + 10;
    if (xs_trustkey_store_load(&o, domains, 1, f->issued - 1000, &f->keys,
            err, sizeof(err)) != XS_OK) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    f->replay = xs_replay_new(10000);
    f->v.skew_s = SKEW;
    f->v.max_validity_s = MAXVAL;
    f->v.key_lookup = xs_flag_key_from_store;
    f->v.key_udata = f->keys;
    f->v.replay = f->replay;
    *state = f;
    return 0;
}

static int
teardown(void **state)
{
    struct fx *f = *state;

    xs_trustkey_store_free(f->keys);
    xs_replay_free(f->replay);
    nftw(f->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
    xs_free(f);
    return 0;
}

static struct xs_flag_claim
claim(const struct fx *f)
{
    struct xs_flag_claim c = {
        .issuer = "a.example",
        .sender = "alice@a.example",
        .recipient = "bob@b.example",
        .affiliation = "registered",
        .since = t_of("2026-01-02T13:14:15Z"),
        .trust = 72,
        .issued = f->issued,
        .expires = f->issued + VALIDITY,
    };
    return c;
}

/* A fresh flag element for claim c. */
static struct xs_elem *
flag_new(const struct fx *f, const struct xs_flag_claim *c)
{
    struct xs_elem *info, *flag;

    assert_int_equal(xs_flag_build(c, f->keys, &info, &flag, NULL), XS_OK);
    xs_elem_free(info);
    return flag;
}

/* Parse el and verify it as if from alice to bob over a.example's stream. */
static enum xs_flag_result
check_as(const struct fx *f, const struct xs_elem *el, const char *domain,
    const char *from, const char *to, int64_t now)
{
    struct xs_flag fl;
    enum xs_flag_result r = xs_flag_parse(el, &fl, NULL);

    if (r != XS_FLAG_OK)
        return r;
    return xs_flag_verify(&f->v, &fl, domain, from, to, now);
}

static enum xs_flag_result
check(const struct fx *f, const struct xs_elem *el, int64_t now)
{
    return check_as(f, el, "a.example", "alice@a.example", "bob@b.example",
        now);
}

static struct xs_elem *
stanza_parse(const char *stanza)
{
    static const struct xs_xml_limits lim = { 65536, 16, 32 };
    static const char hdr[] = "<stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_xml_ev ev;

    assert_int_equal(xs_xml_feed(x, hdr, strlen(hdr)), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, stanza, strlen(stanza)), XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_OPEN);
    xs_elem_free(ev.el);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_ELEM);
    xs_xml_free(x);
    return ev.el;
}

/* ---- The test vector ---- */

struct vec_key {
    uint8_t pk[XS_TRUSTKEY_PK_LEN];
};

static bool
vec_lookup(void *udata, const char *domain, const char *key_id, int64_t now,
    struct xs_trust_pubkey *out)
{
    const struct vec_key *k = udata;

    (void)now;
    if (strcmp(domain, "a.example") != 0 || strcmp(key_id, VEC_KEY_ID) != 0)
        return false;
    memset(out, 0, sizeof(*out));
    memcpy(out->pk, k->pk, sizeof(out->pk));
    memcpy(out->id, VEC_KEY_ID, sizeof(out->id));
    out->created = t_of("2026-01-01T00:00:00Z");
    return true;
}

static void
vector_exact(void **state)
{
    struct fx *f = *state;
    uint8_t seed[32], sk[64], nonce[16], sig[64];
    struct vec_key k;
    struct xs_flag_claim c = claim(f);
    struct xs_flag fl, parsed;
    struct xs_flag_verifier v = f->v;
    char canon[XS_FLAG_CANON_MAX], id[13], b64[128], *s;
    struct xs_elem *el;
    size_t n;

    for (size_t i = 0; i < sizeof(seed); i++)
        seed[i] = (uint8_t)i;
    for (size_t i = 0; i < sizeof(nonce); i++)
        nonce[i] = (uint8_t)(0xa0 + i);
    crypto_sign_seed_keypair(k.pk, sk, seed);
    xs_trust_b64_encode(k.pk, 32, false, b64, sizeof(b64));
    assert_string_equal(b64, VEC_PUBLIC);
    xs_trustkey_id_of(k.pk, id);
    assert_string_equal(id, VEC_KEY_ID);

    c.expires = t_of("2026-11-28T10:00:00Z");
    assert_int_equal(xs_flag_fill(&c, nonce, id, &fl), XS_OK);
    assert_string_equal(fl.since, "2026-01-02T00:00:00Z");  /* the day */
    n = xs_flag_canonical(&fl, canon, sizeof(canon));
    assert_int_equal(n, strlen(VEC_CANON));
    assert_memory_equal(canon, VEC_CANON, n);
    assert_int_equal(n, 248);
    assert_int_equal(xs_flag_canonical(&fl, canon, n - 1), 0);

    crypto_sign_detached(sig, NULL, (const uint8_t *)canon, n, sk);
    xs_trust_b64_encode(sig, 64, false, fl.sig, sizeof(fl.sig));
    assert_string_equal(fl.sig, VEC_SIG);
    memcpy(fl.sig_raw, sig, 64);

    el = xs_flag_elem(&fl);
    s = xs_elem_to_string(el, "jabber:server");
    assert_string_equal(s, VEC_ELEM);
    xs_free(s);
    xs_elem_free(el);
    el = xs_flag_info_elem(&fl);
    s = xs_elem_to_string(el, "jabber:server");
    assert_string_equal(s, "<info xmlns='urn:xmpp:raa:0' "
        "affiliation='registered' since='2026-01-02T00:00:00Z' "
        "trust='72'/>");
    xs_free(s);
    xs_elem_free(el);

    /* The vector's element, parsed from the wire, verifies. */
    el = stanza_parse("<presence type='subscribe' from='alice@a.example' "
        "to='bob@b.example'>" VEC_ELEM "</presence>");
    assert_int_equal(xs_flag_from_stanza(el, &parsed, NULL), XS_FLAG_OK);
    assert_memory_equal(parsed.sig_raw, sig, 64);
    assert_memory_equal(parsed.nonce_raw, nonce, 16);
    assert_int_equal(parsed.trust_n, 72);
    v.key_lookup = vec_lookup;
    v.key_udata = &k;
    assert_int_equal(xs_flag_verify(&v, &parsed, "a.example",
        "alice@a.example", "bob@b.example", t_of("2026-11-27T12:00:00Z")),
        XS_FLAG_OK);
    xs_elem_free(el);
    sodium_memzero(sk, sizeof(sk));
}

/* ---- Round trip ---- */

static void
round_trip_over_the_wire(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_elem *pres = xs_elem_new(XS_NS_SERVER, "presence");
    struct xs_elem *back;
    struct xs_flag fl, signed_fl;
    struct xs_elem *info, *flag;
    const char *why = "unset";
    char *wire;

    xs_elem_set_attr(pres, "type", "subscribe");
    xs_elem_set_attr(pres, "from", "alice@a.example");
    xs_elem_set_attr(pres, "to", "bob@b.example");
    assert_int_equal(xs_flag_build(&c, f->keys, &info, &flag, &signed_fl),
        XS_OK);
    xs_elem_free(info);
    xs_elem_free(flag);
    assert_int_equal(xs_flag_attach(pres, &c, f->keys), XS_OK);
    assert_int_equal(xs_elem_count_elems(pres), 2);
    assert_non_null(xs_elem_child(pres, XS_NS_RAA, "info"));
    assert_string_equal(xs_elem_attr(xs_elem_child(pres, XS_NS_RAA, "info"),
        "trust"), "72");

    wire = xs_elem_to_string(pres, XS_NS_SERVER);
    back = stanza_parse(wire);
    assert_int_equal(xs_flag_from_stanza(back, &fl, &why), XS_FLAG_OK);
    assert_null(why);
    assert_string_equal(fl.sender, "alice@a.example");
    assert_true(fl.has_since && fl.has_trust);
    assert_int_equal(fl.expires_t - fl.issued_t, VALIDITY);
    assert_int_equal(xs_flag_verify(&f->v, &fl, "a.example",
        "alice@a.example", "bob@b.example", f->now), XS_FLAG_OK);
    /* Two builds never share a nonce. */
    assert_string_not_equal(fl.nonce, signed_fl.nonce);
    xs_free(wire);
    xs_elem_free(back);
    xs_elem_free(pres);
}

static void
optional_fields_omitted(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_elem *el;
    struct xs_flag fl;

    c.since = -1;
    c.trust = -1;
    c.affiliation = "member";
    el = flag_new(f, &c);
    assert_null(xs_elem_attr(el, "since"));
    assert_null(xs_elem_attr(el, "trust"));
    assert_int_equal(xs_flag_parse(el, &fl, NULL), XS_FLAG_OK);
    assert_false(fl.has_since || fl.has_trust);
    assert_int_equal(xs_flag_verify(&f->v, &fl, "a.example",
        "alice@a.example", "bob@b.example", f->now), XS_FLAG_OK);
    xs_elem_free(el);
    /* Adding an optional attribute in flight changes the signed bytes. */
    el = flag_new(f, &c);
    xs_elem_set_attr(el, "trust", "100");
    assert_int_equal(check(f, el, f->now), XS_FLAG_BAD_SIGNATURE);
    xs_elem_free(el);
}

/* ---- Tampering ---- */

static void
tampered_attributes(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    static const struct {
        const char         *attr;
        const char         *value;
        const char         *from;   /* NULL: alice */
        const char         *to;     /* NULL: bob */
        enum xs_flag_result want;
    } cases[] = {
        { "trust", "99", NULL, NULL, XS_FLAG_BAD_SIGNATURE },
        { "trust", "7", NULL, NULL, XS_FLAG_BAD_SIGNATURE },
        { "affiliation", "admin", NULL, NULL, XS_FLAG_BAD_SIGNATURE },
        { "since", "2020-01-01T00:00:00Z", NULL, NULL,
          XS_FLAG_BAD_SIGNATURE },
        { "sender", "mallory@a.example", NULL, NULL, XS_FLAG_WRONG_SENDER },
        { "sender", "mallory@a.example", "mallory@a.example", NULL,
          XS_FLAG_BAD_SIGNATURE },
        { "recipient", "carol@b.example", NULL, NULL,
          XS_FLAG_WRONG_RECIPIENT },
        { "recipient", "carol@b.example", NULL, "carol@b.example",
          XS_FLAG_BAD_SIGNATURE },
        { "expires", "2026-11-27T12:00:00Z", NULL, NULL,
          XS_FLAG_BAD_SIGNATURE },
        { "expires", "2026-11-29T10:00:00Z", NULL, NULL, XS_FLAG_TOO_LONG },
        { "issued", "2026-11-27T09:50:00Z", NULL, NULL,
          XS_FLAG_BAD_SIGNATURE },
        { "nonce", "AAAAAAAAAAAAAAAAAAAAAA", NULL, NULL,
          XS_FLAG_BAD_SIGNATURE },
        { "sig", "AAAAAisdMUv5AV8WW+7Ic5mU7lTHlJtXN9n7tG8ZSk3F7AId01IL"
                 "e24m1m3MrUL2IQVm6yyKkpHZHajr2ahdBw==", NULL, NULL,
          XS_FLAG_BAD_SIGNATURE },
        { "key", "AAAAAAAAAAAA", NULL, NULL, XS_FLAG_UNKNOWN_KEY },
        /* The sender no longer belongs to the issuer: refused unread. */
        { "issuer", "b.example", NULL, NULL, XS_FLAG_MALFORMED },
    };

    for (size_t i = 0; i < XS_ARRAY_LEN(cases); i++) {
        struct xs_elem *el = flag_new(f, &c);
        enum xs_flag_result got;

        xs_elem_set_attr(el, cases[i].attr, cases[i].value);
        got = check_as(f, el, "a.example",
                  cases[i].from != NULL ? cases[i].from : "alice@a.example",
                  cases[i].to != NULL ? cases[i].to : "bob@b.example",
                  f->now);
        if (got != cases[i].want)
            fail_msg("%s=%s: got %s, want %s", cases[i].attr,
                cases[i].value, xs_flag_result_name(got),
                xs_flag_result_name(cases[i].want));
        xs_elem_free(el);
    }
}

/* A signature flipped in one bit of its last byte (still canonical). */
static void
tampered_sig_bit(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_elem *el = flag_new(f, &c);
    struct xs_flag fl;

    assert_int_equal(xs_flag_parse(el, &fl, NULL), XS_FLAG_OK);
    fl.sig_raw[10] ^= 0x01;
    assert_int_equal(xs_flag_verify(&f->v, &fl, "a.example",
        "alice@a.example", "bob@b.example", f->now), XS_FLAG_BAD_SIGNATURE);
    fl.sig_raw[10] ^= 0x01;
    assert_int_equal(xs_flag_verify(&f->v, &fl, "a.example",
        "alice@a.example", "bob@b.example", f->now), XS_FLAG_OK);
    xs_elem_free(el);
}

/* ---- Replay ---- */

static void
replay_refused_and_bad_sig_burns_nothing(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_elem *el = flag_new(f, &c);
    struct xs_elem *forged = xs_elem_copy(el);
    struct xs_replay_stats st;

    /* A forgery with the genuine flag's nonce first: refused, and the
     * nonce is still unspent. */
    xs_elem_set_attr(forged, "trust", "100");
    assert_int_equal(check(f, forged, f->now), XS_FLAG_BAD_SIGNATURE);
    assert_int_equal(check(f, el, f->now), XS_FLAG_OK);
    assert_int_equal(check(f, el, f->now + 5), XS_FLAG_REPLAYED);
    /* Replayed to another of the issuer's peers' users: still caught by
     * the recipient check first. */
    assert_int_equal(check_as(f, el, "a.example", "alice@a.example",
        "carol@b.example", f->now), XS_FLAG_WRONG_RECIPIENT);
    /* Until it expires (plus skew); then it is expired anyway. */
    assert_int_equal(check(f, el, c.expires + SKEW), XS_FLAG_REPLAYED);
    assert_int_equal(check(f, el, c.expires + SKEW + 1), XS_FLAG_EXPIRED);
    xs_replay_stats(f->replay, &st);
    assert_int_equal(st.added, 1);
    xs_elem_free(forged);
    xs_elem_free(el);
}

/* ---- Clocks ---- */

static void
clock_windows(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_elem *el = flag_new(f, &c);

    assert_int_equal(check(f, el, c.issued - SKEW - 1),
        XS_FLAG_NOT_YET_VALID);
    assert_int_equal(check(f, el, c.expires + SKEW + 1), XS_FLAG_EXPIRED);
    assert_int_equal(check(f, el, c.expires + 100000), XS_FLAG_EXPIRED);
    /* Both edges are inside. */
    assert_int_equal(check(f, el, c.issued - SKEW), XS_FLAG_OK);
    xs_elem_free(el);
    el = flag_new(f, &c);
    assert_int_equal(check(f, el, c.expires + SKEW), XS_FLAG_OK);
    xs_elem_free(el);

    /* Validity at exactly the maximum passes; a second more does not. */
    c.expires = c.issued + MAXVAL;
    el = flag_new(f, &c);
    assert_int_equal(check(f, el, f->now), XS_FLAG_OK);
    xs_elem_free(el);
    c.expires = c.issued + MAXVAL + 1;
    el = flag_new(f, &c);
    assert_int_equal(check(f, el, f->now), XS_FLAG_TOO_LONG);
    xs_elem_free(el);
}

/* ---- Issuer, keys ---- */

static void
wrong_issuer_and_unknown_key(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_elem *el = flag_new(f, &c);
    struct xs_trustkey_store *other;
    struct xs_trustkey_opts o = { f->dir, MAXVAL, SKEW };
    const char *domains[] = { "b.example" };
    struct xs_flag_verifier v = f->v;
    struct xs_flag fl;
    char err[256];

    /* Sent over b.example's stream: b.example relays a.example's flag. */
    assert_int_equal(check_as(f, el, "b.example", "alice@a.example",
        "bob@b.example", f->now), XS_FLAG_WRONG_ISSUER);
    assert_int_equal(check_as(f, el, "A.example", "alice@a.example",
        "bob@b.example", f->now), XS_FLAG_WRONG_ISSUER);

    /* A verifier that knows none of a.example's keys. */
    assert_int_equal(xs_trustkey_store_load(&o, domains, 1, f->now, &other,
        err, sizeof(err)), XS_OK);
    v.key_udata = other;
    assert_int_equal(xs_flag_parse(el, &fl, NULL), XS_FLAG_OK);
    assert_int_equal(xs_flag_verify(&v, &fl, "a.example", "alice@a.example",
        "bob@b.example", f->now), XS_FLAG_UNKNOWN_KEY);
    /* Unknown key recorded nothing: with the right keys it verifies. */
    assert_int_equal(xs_flag_verify(&f->v, &fl, "a.example",
        "alice@a.example", "bob@b.example", f->now), XS_FLAG_OK);

    /* The issuer may only vouch for its own users. */
    c.sender = "mallory@b.example";
    {
        struct xs_elem *info, *flag;

        assert_int_equal(xs_flag_build(&c, f->keys, &info, &flag, NULL),
            XS_EINVAL);
        assert_null(info);
        assert_null(flag);
        c.issuer = "b.example";
        assert_int_equal(xs_flag_build(&c, f->keys, &info, &flag, NULL),
            XS_ENOTFOUND);
    }
    xs_trustkey_store_free(other);
    xs_elem_free(el);
}

/* A key's lifetime bounds the flags it may sign. */
static void
key_lifetime_bounds_issue_time(void **state)
{
    struct fx *f = *state;
    uint8_t seed[32] = { 7 }, sk[64], nonce[16] = { 1 };
    struct vec_key k;
    struct xs_flag_claim c = claim(f);
    struct xs_flag_verifier v = f->v;
    struct xs_flag fl;
    char canon[XS_FLAG_CANON_MAX];
    size_t n;

    crypto_sign_seed_keypair(k.pk, sk, seed);
    /* vec_lookup answers for VEC_KEY_ID created 2026-01-01 with k.pk. */
    v.key_lookup = vec_lookup;
    v.key_udata = &k;
    c.issued = t_of("2025-12-31T23:00:00Z");    /* before the key */
    c.expires = c.issued + 600;
    assert_int_equal(xs_flag_fill(&c, nonce, VEC_KEY_ID, &fl), XS_OK);
    n = xs_flag_canonical(&fl, canon, sizeof(canon));
    crypto_sign_detached(fl.sig_raw, NULL, (uint8_t *)canon, n, sk);
    assert_int_equal(xs_flag_verify(&v, &fl, "a.example", "alice@a.example",
        "bob@b.example", c.issued + 10), XS_FLAG_KEY_NOT_VALID);
    sodium_memzero(sk, sizeof(sk));
}

static void
rotation_keeps_flags_in_flight(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_trust_pubkey keys[4];
    struct xs_elem *old_flag, *new_flag, *late;
    char old_id[13], new_id[13], err[256];
    int64_t rotated = f->issued + 60;

    c.expires = c.issued + MAXVAL;          /* the longest flag */
    old_flag = flag_new(f, &c);
    assert_true(xs_trustkey_current(f->keys, "a.example", old_id));
    assert_int_equal(xs_trustkey_rotate(f->keys, "a.example", rotated, err,
        sizeof(err)), XS_OK);
    assert_true(xs_trustkey_current(f->keys, "a.example", new_id));
    assert_string_not_equal(old_id, new_id);
    assert_int_equal(xs_trustkey_list(f->keys, "a.example", rotated, keys,
        4), 2);
    assert_string_equal(keys[0].id, new_id);
    assert_int_equal(keys[1].retired, rotated);
    assert_int_equal(keys[1].valid_until, rotated + MAXVAL + SKEW);

    c.issued = rotated + 1;
    c.expires = c.issued + VALIDITY;
    new_flag = flag_new(f, &c);
    assert_string_equal(xs_elem_attr(new_flag, "key"), new_id);
    assert_string_equal(xs_elem_attr(old_flag, "key"), old_id);
    assert_int_equal(check(f, new_flag, rotated + 10), XS_FLAG_OK);
    /* The old flag verifies up to its own last second... */
    assert_int_equal(check(f, old_flag, f->issued + MAXVAL + SKEW),
        XS_FLAG_OK);

    /* ... and its key only until retired + max validity + skew. */
    {
        struct xs_trust_pubkey pk;

        assert_true(xs_trustkey_lookup(f->keys, "a.example", old_id,
            rotated + MAXVAL + SKEW, &pk));
        assert_false(xs_trustkey_lookup(f->keys, "a.example", old_id,
            rotated + MAXVAL + SKEW + 1, &pk));
    }

    /* A flag with the old key id that claims an issue time after the
     * rotation: the old key could not have signed it. */
    late = xs_elem_copy(old_flag);
    xs_elem_set_attr(late, "issued", "2026-11-27T11:00:00Z");
    xs_elem_set_attr(late, "nonce", "AAAAAAAAAAAAAAAAAAAAAA");
    assert_int_equal(check(f, late, f->issued + 3700),
        XS_FLAG_KEY_NOT_VALID);
    xs_elem_free(late);

    /* After the window, the pruned key is gone from disk too. */
    assert_int_equal(xs_trustkey_prune(f->keys, rotated + MAXVAL + SKEW), 0);
    assert_int_equal(xs_trustkey_prune(f->keys, rotated + MAXVAL + SKEW + 1),
        1);
    {
        char path[256];

        snprintf(path, sizeof(path), "%s/a.example/%s.key", f->dir, old_id);
        assert_int_not_equal(access(path, F_OK), 0);
    }
    xs_elem_free(old_flag);
    xs_elem_free(new_flag);
}

/* ---- Strip ---- */

static void
strip_client_supplied(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_elem *pres = stanza_parse("<presence type='subscribe' "
        "to='bob@b.example'><status>hi</status>"
        "<info xmlns='urn:xmpp:raa:0' affiliation='admin' trust='100'/>"
        "<flag xmlns='urn:xmppd:trust:0' v='1'/>"
        "<nick xmlns='http://jabber.org/protocol/nick'>A</nick>"
        "<keys xmlns='urn:xmppd:trust:0'/>"
        "<info xmlns='urn:xmpp:raa:0'/></presence>");
    struct xs_flag fl;

    assert_int_equal(xs_flag_strip(pres), 4);
    assert_int_equal(xs_elem_count_elems(pres), 2);
    assert_non_null(xs_elem_child(pres, NULL, "status"));
    assert_non_null(xs_elem_child(pres, "http://jabber.org/protocol/nick",
        "nick"));
    assert_int_equal(xs_flag_from_stanza(pres, &fl, NULL), XS_FLAG_ABSENT);
    assert_int_equal(xs_flag_strip(pres), 0);

    assert_int_equal(xs_flag_attach(pres, &c, f->keys), XS_OK);
    assert_int_equal(xs_elem_count_elems(pres), 4);
    assert_int_equal(xs_flag_strip(pres), 2);
    assert_int_equal(xs_elem_count_elems(pres), 2);
    xs_elem_free(pres);
}

/* ---- Malformed input ---- */

static void
malformed_inputs(void **state)
{
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    char big[4000];
    const struct {
        const char         *attr;
        const char         *value;   /* NULL: remove it */
        enum xs_flag_result want;
    } cases[] = {
        { "v", "2", XS_FLAG_UNSUPPORTED },
        { "v", NULL, XS_FLAG_MALFORMED },
        { "issuer", NULL, XS_FLAG_MALFORMED },
        { "sig", NULL, XS_FLAG_MALFORMED },
        { "nonce", NULL, XS_FLAG_MALFORMED },
        { "bogus", "1", XS_FLAG_MALFORMED },
        { "trust", "101", XS_FLAG_MALFORMED },
        { "trust", "-1", XS_FLAG_MALFORMED },
        { "trust", "07", XS_FLAG_MALFORMED },
        { "trust", " 7", XS_FLAG_MALFORMED },
        { "trust", "7.0", XS_FLAG_MALFORMED },
        { "trust", "1000", XS_FLAG_MALFORMED },
        { "trust", "", XS_FLAG_MALFORMED },
        { "since", "", XS_FLAG_MALFORMED },
        { "affiliation", "guest", XS_FLAG_MALFORMED },
        { "affiliation", "Registered", XS_FLAG_MALFORMED },
        { "issued", "2026-11-27T10:00:00.5Z", XS_FLAG_MALFORMED },
        { "issued", "2026-11-27T10:00:00+00:00", XS_FLAG_MALFORMED },
        { "issued", "2026-11-27 10:00:00Z", XS_FLAG_MALFORMED },
        { "issued", "2026-02-29T10:00:00Z", XS_FLAG_MALFORMED },
        { "issued", "2026-11-27T24:00:00Z", XS_FLAG_MALFORMED },
        { "issued", "2026-11-27T10:00:60Z", XS_FLAG_MALFORMED },
        { "issued", "1969-12-31T23:59:59Z", XS_FLAG_MALFORMED },
        { "expires", "2026-11-27t11:00:00z", XS_FLAG_MALFORMED },
        { "expires", "2026-11-27T10:00:00Z", XS_FLAG_MALFORMED },
        { "nonce", "AAAAAAAAAAAAAAAAAAAAAA==", XS_FLAG_MALFORMED },
        { "nonce", "AAAAAAAAAAAAAAAAAAAAA+", XS_FLAG_MALFORMED },
        { "nonce", "AAAAAAAAAAAAAAAAAAAAAB", XS_FLAG_MALFORMED },
        { "nonce", "AAAAAAAAAAAAAAAAAAAA", XS_FLAG_MALFORMED },
        { "sig", "AAAA", XS_FLAG_MALFORMED },
        { "sig", VEC_SIG "AAAA", XS_FLAG_MALFORMED },
        { "sig", "puywAisdMUv5AV8WW-7Ic5mU7lTHlJtXN9n7tG8ZSk3F7AId01IL"
                 "e24m1m3MrUL2IQVm6yyKkpHZHajr2ahdBw==", XS_FLAG_MALFORMED },
        { "key", "Vkdap1RjR0w", XS_FLAG_MALFORMED },
        { "key", "Vkdap1RjR0wC=", XS_FLAG_MALFORMED },
        { "key", "Vkdap1RjR0w/", XS_FLAG_MALFORMED },
        { "sender", "Alice@a.example", XS_FLAG_MALFORMED },
        { "sender", "alice@a.example/phone", XS_FLAG_MALFORMED },
        { "sender", "a.example", XS_FLAG_MALFORMED },
        { "sender", "alice@b.example", XS_FLAG_MALFORMED },
        { "sender", "alice@a.example\nrecipient=x", XS_FLAG_MALFORMED },
        { "recipient", "bob@B.EXAMPLE", XS_FLAG_MALFORMED },
        { "recipient", "b.example", XS_FLAG_MALFORMED },
        { "issuer", "A.example", XS_FLAG_MALFORMED },
        { "issuer", "a.example.", XS_FLAG_MALFORMED },
        { "sender", big, XS_FLAG_MALFORMED },
        { "recipient", big, XS_FLAG_MALFORMED },
        { "issuer", big, XS_FLAG_MALFORMED },
        { "affiliation", "registeredx", XS_FLAG_MALFORMED },
    };

    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    big[10] = '@';
    for (size_t i = 0; i < XS_ARRAY_LEN(cases); i++) {
        struct xs_elem *el = flag_new(f, &c);
        struct xs_flag fl;
        const char *why = NULL;
        enum xs_flag_result got;

        xs_elem_set_attr(el, cases[i].attr, cases[i].value);
        got = xs_flag_parse(el, &fl, &why);
        if (got != cases[i].want)
            fail_msg("case %zu %s: got %s, want %s", i, cases[i].attr,
                xs_flag_result_name(got), xs_flag_result_name(cases[i].want));
        if (got != XS_FLAG_OK)
            assert_non_null(why);
        xs_elem_free(el);
    }

    /* Children and text: nothing unsigned rides along. */
    {
        struct xs_elem *el = flag_new(f, &c);
        struct xs_flag fl;

        xs_elem_add_text(el, " \n", 2);
        assert_int_equal(xs_flag_parse(el, &fl, NULL), XS_FLAG_OK);
        xs_elem_add_text(el, "x", 1);
        assert_int_equal(xs_flag_parse(el, &fl, NULL), XS_FLAG_MALFORMED);
        xs_elem_free(el);
        el = flag_new(f, &c);
        xs_elem_add_child(el, NULL, "extra");
        assert_int_equal(xs_flag_parse(el, &fl, NULL), XS_FLAG_MALFORMED);
        xs_elem_free(el);
    }
    /* Two flags in one stanza. */
    {
        struct xs_elem *pres = xs_elem_new(XS_NS_SERVER, "presence");
        struct xs_flag fl;
        const char *why = NULL;

        xs_elem_append(pres, flag_new(f, &c));
        xs_elem_append(pres, flag_new(f, &c));
        assert_int_equal(xs_flag_from_stanza(pres, &fl, &why),
            XS_FLAG_MALFORMED);
        assert_string_equal(why, "more than one flag");
        xs_elem_free(pres);
    }
    /* Another element in our namespace is not a flag. */
    {
        struct xs_elem *el = xs_elem_new(XS_NS_TRUST, "keys");
        struct xs_flag fl;

        assert_int_equal(xs_flag_parse(el, &fl, NULL), XS_FLAG_MALFORMED);
        xs_elem_free(el);
    }
    /* Claims we refuse to issue. */
    {
        struct xs_flag_claim bad = c;
        struct xs_elem *info, *flag;

        bad.trust = 101;
        assert_int_equal(xs_flag_build(&bad, f->keys, &info, &flag, NULL),
            XS_EINVAL);
        bad = c;
        bad.expires = bad.issued;
        assert_int_equal(xs_flag_build(&bad, f->keys, &info, &flag, NULL),
            XS_EINVAL);
        bad = c;
        bad.recipient = "Bob@b.example";
        assert_int_equal(xs_flag_build(&bad, f->keys, &info, &flag, NULL),
            XS_EINVAL);
        bad = c;
        bad.affiliation = "guest";
        assert_int_equal(xs_flag_build(&bad, f->keys, &info, &flag, NULL),
            XS_EINVAL);
    }
}

static void
result_names(void **state)
{
    (void)state;
    for (int i = 0; i < XS_FLAG__COUNT; i++) {
        assert_non_null(xs_flag_result_name(i));
        assert_non_null(xs_flag_result_text(i));
        for (int j = 0; j < i; j++)
            assert_string_not_equal(xs_flag_result_name(i),
                xs_flag_result_name(j));
    }
    assert_null(xs_flag_result_name(XS_FLAG__COUNT));
    assert_true(xs_flag_result_blames_issuer(XS_FLAG_BAD_SIGNATURE));
    assert_true(xs_flag_result_blames_issuer(XS_FLAG_REPLAYED));
    assert_false(xs_flag_result_blames_issuer(XS_FLAG_REPLAY_FULL));
    assert_false(xs_flag_result_blames_issuer(XS_FLAG_UNKNOWN_KEY));
    assert_false(xs_flag_result_blames_issuer(XS_FLAG_ABSENT));
}

/* ---- The replay cache alone ---- */

static void
replay_cache_basics(void **state)
{
    struct xs_replay *r = xs_replay_new(3);
    uint8_t n[4][16];
    struct xs_replay_stats st;

    (void)state;
    for (int i = 0; i < 4; i++)
        memset(n[i], i + 1, 16);
    assert_int_equal(xs_replay_add(r, "a.example", n[0], 200, 100), XS_OK);
    assert_true(xs_replay_seen(r, "a.example", n[0], 150));
    assert_false(xs_replay_seen(r, "b.example", n[0], 150)); /* per issuer */
    assert_int_equal(xs_replay_add(r, "b.example", n[0], 200, 100), XS_OK);
    assert_int_equal(xs_replay_add(r, "a.example", n[0], 300, 150),
        XS_EEXIST);
    assert_int_equal(xs_replay_add(r, "a.example", n[1], 150, 100), XS_OK);
    /* Full of live nonces: refuse, forget nothing. */
    assert_int_equal(xs_replay_add(r, "a.example", n[2], 300, 120),
        XS_ELIMIT);
    assert_int_equal(xs_replay_add(r, "a.example", n[2], 300, 120),
        XS_ELIMIT);
    assert_true(xs_replay_seen(r, "a.example", n[0], 120));
    assert_true(xs_replay_seen(r, "a.example", n[1], 120));
    /* n[1] expired at 150: its place frees. */
    assert_false(xs_replay_seen(r, "a.example", n[1], 151));
    assert_int_equal(xs_replay_add(r, "a.example", n[2], 300, 151), XS_OK);
    assert_int_equal(xs_replay_add(r, "a.example", n[1], 300, 151),
        XS_ELIMIT);
    /* Nothing to remember for a flag already past its time. */
    assert_int_equal(xs_replay_add(r, "c.example", n[3], 151, 151), XS_OK);
    assert_false(xs_replay_seen(r, "c.example", n[3], 151));
    xs_replay_stats(r, &st);
    assert_int_equal(st.entries, 3);
    assert_int_equal(st.replays, 1);
    assert_int_equal(st.refused_full, 3);
    assert_int_equal(xs_replay_prune(r, 1000), 3);
    xs_replay_stats(r, &st);
    assert_int_equal(st.entries, 0);
    xs_replay_free(r);
}

static void
replay_cache_many(void **state)
{
    enum { N = 60000 };
    struct xs_replay *r = xs_replay_new(N);
    uint8_t (*nonces)[16] = xs_calloc(N, 16);
    struct xs_replay_stats st;

    (void)state;
    randombytes_buf(nonces, (size_t)N * 16);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(xs_replay_add(r, "a.example", nonces[i],
            1000 + (int64_t)(i % 2) * 1000, 10), XS_OK);
    for (size_t i = 0; i < N; i++)
        assert_true(xs_replay_seen(r, "a.example", nonces[i], 500));
    xs_replay_stats(r, &st);
    assert_int_equal(st.entries, N);
    assert_true(st.slots >= 2 * N);
    /* Half expire at 1000: the amortized sweep and the prune drop them,
     * and the rest stay findable across the shifts. */
    for (size_t i = 0; i < 1000; i++) {
        uint8_t fresh[16];

        randombytes_buf(fresh, sizeof(fresh));
        assert_int_equal(xs_replay_add(r, "b.example", fresh, 3000, 1001),
            XS_OK);
    }
    xs_replay_stats(r, &st);
    assert_true(st.pruned > 0);
    (void)xs_replay_prune(r, 1001);
    xs_replay_stats(r, &st);
    assert_int_equal(st.entries, N / 2 + 1000);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(xs_replay_seen(r, "a.example", nonces[i], 1001),
            i % 2 == 1);
    xs_free(nonces);
    xs_replay_free(r);
}

/* ---- Speed (the bench measures properly; this is a sanity print) ---- */

static double
secs_since(const struct timespec *t0)
{
    struct timespec t1;

    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) +
           (double)(t1.tv_nsec - t0->tv_nsec) / 1e9;
}

static void
speed(void **state)
{
    enum { N = 2000 };
    struct fx *f = *state;
    struct xs_flag_claim c = claim(f);
    struct xs_flag *flags = xs_calloc(N, sizeof(*flags));
    struct timespec t0;
    double ts, tp, tv;

    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < N; i++) {
        struct xs_elem *info, *flag;

        assert_int_equal(xs_flag_build(&c, f->keys, &info, &flag, &flags[i]),
            XS_OK);
        xs_elem_free(info);
        xs_elem_free(flag);
    }
    ts = secs_since(&t0);
    {
        struct xs_elem *el = xs_flag_elem(&flags[0]);
        struct xs_flag tmp;

        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (size_t i = 0; i < N; i++)
            assert_int_equal(xs_flag_parse(el, &tmp, NULL), XS_FLAG_OK);
        tp = secs_since(&t0);
        xs_elem_free(el);
    }
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (size_t i = 0; i < N; i++)
        assert_int_equal(xs_flag_verify(&f->v, &flags[i], "a.example",
            "alice@a.example", "bob@b.example", f->now), XS_FLAG_OK);
    tv = secs_since(&t0);
    printf("trust flags (one core, %d each): build+sign %.0f/s, "
        "parse %.0f/s, verify %.0f/s\n", N, N / ts, N / tp, N / tv);
    xs_free(flags);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(vector_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(round_trip_over_the_wire, setup,
            teardown),
        cmocka_unit_test_setup_teardown(optional_fields_omitted, setup,
            teardown),
        cmocka_unit_test_setup_teardown(tampered_attributes, setup, teardown),
        cmocka_unit_test_setup_teardown(tampered_sig_bit, setup, teardown),
        cmocka_unit_test_setup_teardown(
            replay_refused_and_bad_sig_burns_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(clock_windows, setup, teardown),
        cmocka_unit_test_setup_teardown(wrong_issuer_and_unknown_key, setup,
            teardown),
        cmocka_unit_test_setup_teardown(key_lifetime_bounds_issue_time,
            setup, teardown),
        cmocka_unit_test_setup_teardown(rotation_keeps_flags_in_flight,
            setup, teardown),
        cmocka_unit_test_setup_teardown(strip_client_supplied, setup,
            teardown),
        cmocka_unit_test_setup_teardown(malformed_inputs, setup, teardown),
        cmocka_unit_test(result_names),
        cmocka_unit_test(replay_cache_basics),
        cmocka_unit_test(replay_cache_many),
        cmocka_unit_test_setup_teardown(speed, setup, teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("trust_flag", tests, NULL, NULL);
}
