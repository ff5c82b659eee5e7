/* tests/unit/test_trust.c: mod_trust (reputation/trust.c) without the
 * network: the <keys/> element of key discovery (build, strict parse),
 * XEP-0489 trust from a score, the egress window of accounts in
 * probation, and inbound checks against pinned keys with the module
 * loaded on a private event base (valid, replayed, misaddressed, no
 * flag, malformed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reputation/trust.h"

#include "reputation/discovery.h"
#include "reputation/engine.h"
#include "reputation/egress.h"
#include "reputation/policy.h"
#include "tests/unit/support/fake_server.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/xml/parser.h"

#include <event2/event.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

extern const struct xs_module xs_mod_trust;

#define NOW         ((int64_t)1795000000)   /* 2026-11-18 */
#define VEC_PUBLIC  "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg="
#define VEC_KEY_ID  "Vkdap1RjR0wC"

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void
rm_tree(const char *dir)
{
    (void)nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* One element from the wire, as an s2s stream would parse it. */
static struct xs_elem *
parse_xml(const char *xml)
{
    static const struct xs_xml_limits lim = { 65536, 16, 32 };
    static const char hdr[] = "<stream:stream xmlns='jabber:server' "
        "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>";
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_xml_ev ev;

    assert_int_equal(xs_xml_feed(x, hdr, strlen(hdr)), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, xml, strlen(xml)), XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_OPEN);
    xs_elem_free(ev.el);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_ELEM);
    xs_xml_free(x);
    return ev.el;
}

static struct xs_trust_pubkey
vec_key(void)
{
    struct xs_trust_pubkey k = { .created = NOW - 86400 };

    assert_true(xs_trust_b64_decode(VEC_PUBLIC, false, k.pk, sizeof(k.pk)));
    xs_trustkey_id_of(k.pk, k.id);
    assert_string_equal(k.id, VEC_KEY_ID);
    return k;
}

/* ---- <keys/> ---- */

static void
test_keys_roundtrip(void **state)
{
    struct xs_trust_pubkey in[2], out[4];
    struct xs_elem *el, *k;
    char *xml;

    (void)state;
    in[0] = vec_key();
    in[1] = vec_key();
    in[1].pk[0] ^= 1;
    xs_trustkey_id_of(in[1].pk, in[1].id);
    in[1].created = NOW - 10 * 86400;
    in[1].retired = NOW - 86400;
    in[1].valid_until = NOW - 86400 + 86700;
    el = xs_trust_keys_elem(in, 2);
    assert_string_equal(el->ns, XS_NS_TRUST);
    assert_string_equal(el->name, "keys");
    assert_int_equal(xs_elem_count_elems(el), 2);
    k = xs_elem_first_elem(el);
    assert_string_equal(xs_elem_attr(k, "id"), VEC_KEY_ID);
    assert_string_equal(xs_elem_attr(k, "alg"), "ed25519");
    assert_string_equal(xs_elem_attr(k, "public"), VEC_PUBLIC);
    assert_non_null(xs_elem_attr(k, "created"));
    assert_null(xs_elem_attr(k, "retired"));
    assert_null(xs_elem_attr(k, "until"));
    k = xs_elem_next_elem(k);
    assert_non_null(xs_elem_attr(k, "retired"));
    assert_non_null(xs_elem_attr(k, "until"));

    /* Through text and back: what a peer sees. */
    xml = xs_elem_to_string(el, NULL);
    xs_elem_free(el);
    el = parse_xml(xml);
    xs_free(xml);
    assert_int_equal(xs_trust_keys_parse(el, out, 4), 2);
    assert_string_equal(out[0].id, in[0].id);
    assert_memory_equal(out[0].pk, in[0].pk, 32);
    assert_int_equal(out[0].created, in[0].created);
    assert_int_equal(out[0].retired, 0);
    assert_int_equal(out[0].valid_until, 0);
    assert_string_equal(out[1].id, in[1].id);
    assert_int_equal(out[1].retired, in[1].retired);
    assert_int_equal(out[1].valid_until, in[1].valid_until);
    /* max bounds what is written. */
    assert_int_equal(xs_trust_keys_parse(el, out, 1), 1);
    xs_elem_free(el);

    el = xs_trust_keys_elem(NULL, 0);
    assert_int_equal(xs_elem_count_elems(el), 0);
    assert_int_equal(xs_trust_keys_parse(el, out, 4), 0);
    xs_elem_free(el);
}

#define KEY_OK "id='" VEC_KEY_ID "' alg='ed25519' public='" VEC_PUBLIC "'"
#define T1 "2026-11-01T00:00:00Z"
#define T2 "2026-11-02T00:00:00Z"
#define T3 "2026-11-03T00:05:00Z"

static size_t
parse_keys(const char *inner)
{
    char *xml = xs_asprintf("<keys xmlns='urn:xmppd:trust:0'>%s</keys>",
        inner);
    struct xs_elem *el = parse_xml(xml);
    struct xs_trust_pubkey out[20];
    size_t n = xs_trust_keys_parse(el, out, 20);

    xs_elem_free(el);
    xs_free(xml);
    return n;
}

static void
test_keys_parse_strict(void **state)
{
    static const struct {
        const char *key;
        size_t      want;
    } cases[] = {
        { "<key " KEY_OK " created='" T1 "'/>", 1 },
        { "<key " KEY_OK " created='" T1 "' retired='" T2 "' until='" T3
              "'/>", 1 },
        /* Unknown attributes are a later version's: ignored. */
        { "<key " KEY_OK " created='" T1 "' note='x'/>", 1 },
        /* Another algorithm: ignored. */
        { "<key id='" VEC_KEY_ID "' alg='ed448' public='" VEC_PUBLIC
              "' created='" T1 "'/>", 0 },
        { "<key id='" VEC_KEY_ID "' public='" VEC_PUBLIC "' created='" T1
              "'/>", 0 },
        /* The id must be the key's. */
        { "<key id='AAAAAAAAAAAA' alg='ed25519' public='" VEC_PUBLIC
              "' created='" T1 "'/>", 0 },
        { "<key id='Vkdap1RjR0w' alg='ed25519' public='" VEC_PUBLIC
              "' created='" T1 "'/>", 0 },
        /* Canonical base64 of 32 bytes only. */
        { "<key id='" VEC_KEY_ID "' alg='ed25519' public='"
              "A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbh=' created='" T1
              "'/>", 0 },
        { "<key id='" VEC_KEY_ID "' alg='ed25519' public='"
              "A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg' created='" T1
              "'/>", 0 },
        { "<key id='" VEC_KEY_ID "' alg='ed25519' public=' " VEC_PUBLIC
              "' created='" T1 "'/>", 0 },
        { "<key id='" VEC_KEY_ID "' alg='ed25519' public='AAAA' created='"
              T1 "'/>", 0 },
        /* Times: XEP-0082 exactly, created required, retired and until
         * together and in order. */
        { "<key " KEY_OK "/>", 0 },
        { "<key " KEY_OK " created='2026-11-01T00:00:00.5Z'/>", 0 },
        { "<key " KEY_OK " created='2026-11-01T00:00:00+00:00'/>", 0 },
        { "<key " KEY_OK " created='" T1 "' retired='" T2 "'/>", 0 },
        { "<key " KEY_OK " created='" T1 "' until='" T3 "'/>", 0 },
        { "<key " KEY_OK " created='" T1 "' retired='" T3 "' until='" T2
              "'/>", 0 },
        { "<key " KEY_OK " created='" T2 "' retired='" T1 "' until='" T3
              "'/>", 0 },
        /* The same key twice counts once. */
        { "<key " KEY_OK " created='" T1 "'/><key " KEY_OK " created='" T2
              "'/>", 1 },
        /* Other children are skipped. */
        { "<x/><key xmlns='urn:other' " KEY_OK " created='" T1 "'/>"
              "<key " KEY_OK " created='" T1 "'/>", 1 },
    };
    struct xs_trust_pubkey out[2];
    struct xs_elem *el;

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(cases); i++) {
        size_t n = parse_keys(cases[i].key);

        if (n != cases[i].want)
            fail_msg("case %zu: got %zu keys, want %zu: %s", i, n,
                cases[i].want, cases[i].key);
    }
    /* The wrong element, or none. */
    el = parse_xml("<keys xmlns='urn:other'><key " KEY_OK " created='" T1
        "'/></keys>");
    assert_int_equal(xs_trust_keys_parse(el, out, 2), 0);
    xs_elem_free(el);
    assert_int_equal(xs_trust_keys_parse(NULL, out, 2), 0);
}

/* Only the first 16 <key/> children are looked at: 16 bad ones hide a
 * good 17th. */
static void
test_keys_parse_bounded(void **state)
{
    char *inner = xs_strdup(""), *next;

    (void)state;
    for (int i = 0; i < 16; i++) {
        next = xs_asprintf("%s<key id='AAAAAAAAAAAA' alg='ed25519' "
            "public='" VEC_PUBLIC "' created='" T1 "'/>", inner);
        xs_free(inner);
        inner = next;
    }
    next = xs_asprintf("%s<key " KEY_OK " created='" T1 "'/>", inner);
    assert_int_equal(parse_keys(next), 0);
    xs_free(next);
    xs_free(inner);
}

/* ---- trust from a score ---- */

static void
test_trust_of_score(void **state)
{
    (void)state;
    assert_int_equal(xs_rep_trust_of_score(-100), 0);
    assert_int_equal(xs_rep_trust_of_score(-99), 1);
    assert_int_equal(xs_rep_trust_of_score(-1), 50);
    assert_int_equal(xs_rep_trust_of_score(0), 50);
    assert_int_equal(xs_rep_trust_of_score(1), 51);
    assert_int_equal(xs_rep_trust_of_score(44), 72);
    assert_int_equal(xs_rep_trust_of_score(100), 100);
    assert_int_equal(xs_rep_trust_of_score(-500), 0);
    assert_int_equal(xs_rep_trust_of_score(500), 100);
}

/* ---- the egress window ---- */

static void
test_egress_window(void **state)
{
    struct xs_trust_egress *w = xs_trust_egress_new(3, 100);

    (void)state;
    assert_true(xs_trust_egress_allow(w, "new@a.test", NOW));
    assert_true(xs_trust_egress_allow(w, "new@a.test", NOW + 10));
    assert_true(xs_trust_egress_allow(w, "new@a.test", NOW + 20));
    assert_int_equal(xs_trust_egress_count(w, "new@a.test", NOW + 20), 3);
    /* The fourth in the hour is refused, and not counted. */
    assert_false(xs_trust_egress_allow(w, "new@a.test", NOW + 30));
    assert_false(xs_trust_egress_allow(w, "new@a.test", NOW + 3599));
    assert_int_equal(xs_trust_egress_count(w, "new@a.test", NOW + 3599), 3);
    /* Others have their own window. */
    assert_true(xs_trust_egress_allow(w, "other@a.test", NOW + 30));
    /* The window slides: a slot frees an hour after each request. */
    assert_true(xs_trust_egress_allow(w, "new@a.test", NOW + 3600));
    assert_false(xs_trust_egress_allow(w, "new@a.test", NOW + 3602));
    assert_true(xs_trust_egress_allow(w, "new@a.test", NOW + 3610));
    assert_int_equal(xs_trust_egress_count(w, "new@a.test", NOW + 3610), 3);
    /* Pruning forgets accounts silent for an hour, nobody else. */
    assert_int_equal(xs_trust_egress_prune(w, NOW + 3631), 1);
    assert_int_equal(xs_trust_egress_count(w, "other@a.test", NOW + 3631),
        0);
    assert_int_equal(xs_trust_egress_count(w, "new@a.test", NOW + 3631), 2);
    assert_int_equal(xs_trust_egress_prune(w, NOW + 9000), 1);
    assert_int_equal(xs_trust_egress_count(w, "new@a.test", NOW + 9000), 0);
    xs_trust_egress_free(w);

    /* 0 per hour: nothing goes while in probation. */
    w = xs_trust_egress_new(0, 100);
    assert_false(xs_trust_egress_allow(w, "new@a.test", NOW));
    xs_trust_egress_free(w);
    xs_trust_egress_free(NULL);
}

/* A full table fails closed, until pruning makes room. */
static void
test_egress_full(void **state)
{
    struct xs_trust_egress *w = xs_trust_egress_new(2, 3);

    (void)state;
    assert_true(xs_trust_egress_allow(w, "a@a.test", NOW));
    assert_true(xs_trust_egress_allow(w, "b@a.test", NOW + 1000));
    assert_true(xs_trust_egress_allow(w, "c@a.test", NOW + 2000));
    assert_false(xs_trust_egress_allow(w, "d@a.test", NOW + 2001));
    /* Known accounts still get their own window. */
    assert_true(xs_trust_egress_allow(w, "a@a.test", NOW + 2002));
    /* An hour after b's only request, b makes room for d. */
    assert_true(xs_trust_egress_allow(w, "d@a.test", NOW + 4601));
    assert_int_equal(xs_trust_egress_count(w, "b@a.test", NOW + 4601), 0);
    xs_trust_egress_free(w);
}

/* ---- inbound checks, with the module loaded ---- */

struct fx {
    char                      dir[64];      /* ours: a.test */
    char                      peer_dir[64]; /* the issuer's: peer.test */
    struct xs_trustkey_store *peer;
    struct xs_conf           *conf;
    void                     *mod;
};

static int
fx_setup(void **state)
{
    static const char *const peer_domains[] = { "peer.test" };
    const struct xs_trustkey_opts po = { .dir = NULL, .max_validity_s = 86400,
        .skew_s = 300 };
    struct xs_trustkey_opts opts = po;
    struct fx *f = xs_calloc(1, sizeof(*f));
    struct xs_trust_pubkey pk;
    char pub[64], err[256];
    char *yaml, *msg = NULL;
    int64_t now = xs_wall_s();

    snprintf(f->dir, sizeof(f->dir), "/tmp/test_trust.XXXXXX");
    snprintf(f->peer_dir, sizeof(f->peer_dir), "/tmp/test_trust_peer.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    assert_non_null(mkdtemp(f->peer_dir));
    opts.dir = f->peer_dir;
    assert_int_equal(xs_trustkey_store_load(&opts, peer_domains, 1, now,
        &f->peer, err, sizeof(err)), XS_OK);
    assert_int_equal(xs_trustkey_list(f->peer, "peer.test", now, &pk, 1), 1);
    xs_trust_b64_encode(pk.pk, sizeof(pk.pk), false, pub, sizeof(pub));
    yaml = xs_asprintf("hosts: [a.test]\n"
        "modules:\n"
        "  mod_reputation:\n"
        "    trust_keys_dir: %s/keys\n"
        "    trust_keys: {peer.test: [\"%s\"]}\n", f->dir, pub);
    if (xs_conf_load_string(yaml, "x.yml", &f->conf, &msg) != XS_OK)
        fail_msg("config: %s", msg);
    xs_free(yaml);
    xs_server()->conf = f->conf;
    xs_server()->base = event_base_new();
    assert_non_null(xs_server()->base);
    assert_int_equal(xs_mod_trust.init(f->conf, &f->mod), XS_OK);
    *state = f;
    return 0;
}

static int
fx_teardown(void **state)
{
    struct fx *f = *state;

    xs_mod_trust.fini(f->mod);
    event_base_free(xs_server()->base);
    xs_server()->base = NULL;
    xs_server()->conf = NULL;
    xs_conf_free(f->conf);
    xs_trustkey_store_free(f->peer);
    rm_tree(f->dir);
    rm_tree(f->peer_dir);
    xs_free(f);
    return 0;
}

/* A subscription request from bob@peer.test to to, flagged by peer.test
 * (for flag_to, which differs from to in the misaddressed case). */
static struct xs_stanza *
request(struct fx *f, const char *to, const char *flag_to)
{
    struct xs_elem *el = xs_elem_new(XS_NS_SERVER, "presence");
    int64_t now = xs_wall_s();
    const struct xs_flag_claim c = {
        .issuer = "peer.test", .sender = "bob@peer.test",
        .recipient = flag_to, .affiliation = "registered",
        .since = now - 100 * 86400, .trust = 60,
        .issued = now, .expires = now + 3600,
    };

    xs_elem_set_attr(el, "type", "subscribe");
    xs_elem_set_attr(el, "from", "bob@peer.test");
    xs_elem_set_attr(el, "to", to);
    if (flag_to != NULL)
        assert_int_equal(xs_flag_attach(el, &c, f->peer), XS_OK);
    return xs_stanza_new(el);
}

static void
never_called(struct xs_trust_check *c, void *ud)
{
    (void)c, (void)ud;
    fail_msg("a check decided at once called back");
}

static enum xs_flag_result
check(struct xs_stanza *st, const char *to)
{
    struct xs_trust_check c;

    assert_true(xs_trust_check_start(&c, st, "bob@peer.test", to,
        never_called, NULL));
    assert_non_null(c.why);
    assert_false(c.key_fetched);
    return c.result;
}

static void
test_check_pinned(void **state)
{
    struct fx *f = *state;
    struct xs_trust_stats before, after;
    struct xs_stanza *st, *st2;
    struct xs_trust_check c;

    xs_trust_stats(&before);
    st = request(f, "alice@a.test", "alice@a.test");
    assert_int_equal(check(st, "alice@a.test"), XS_FLAG_OK);
    /* The same flag again: its nonce is taken. */
    assert_int_equal(check(st, "alice@a.test"), XS_FLAG_REPLAYED);
    xs_stanza_unref(st);

    /* A flag for someone else, sent to alice. */
    st = request(f, "alice@a.test", "carol@a.test");
    assert_int_equal(check(st, "alice@a.test"), XS_FLAG_WRONG_RECIPIENT);
    xs_stanza_unref(st);

    /* No flag: the no-flag policy's (the gate's) business. */
    st = request(f, "alice@a.test", NULL);
    assert_int_equal(check(st, "alice@a.test"), XS_FLAG_ABSENT);
    xs_stanza_unref(st);

    /* Two flags: malformed, with a reason. */
    st = request(f, "alice@a.test", "alice@a.test");
    st2 = request(f, "alice@a.test", "alice@a.test");
    xs_elem_append(st->el, xs_elem_copy(xs_elem_child(st2->el, XS_NS_TRUST,
        "flag")));
    assert_true(xs_trust_check_start(&c, st, "bob@peer.test",
        "alice@a.test", never_called, NULL));
    assert_int_equal(c.result, XS_FLAG_MALFORMED);
    assert_non_null(c.why);
    xs_stanza_unref(st);
    xs_stanza_unref(st2);

    /* The stream (from's domain) is not the issuer. */
    st = request(f, "alice@a.test", "alice@a.test");
    assert_true(xs_trust_check_start(&c, st, "bob@other.test",
        "alice@a.test", never_called, NULL));
    assert_int_equal(c.result, XS_FLAG_WRONG_ISSUER);
    xs_stanza_unref(st);

    /* Cancelling a check that never waited is harmless. */
    xs_trust_check_cancel(&c);

    xs_trust_stats(&after);
    assert_int_equal(after.checked[XS_FLAG_OK] - before.checked[XS_FLAG_OK],
        1);
    assert_int_equal(after.checked[XS_FLAG_REPLAYED] -
        before.checked[XS_FLAG_REPLAYED], 1);
    assert_int_equal(after.checked[XS_FLAG_ABSENT] -
        before.checked[XS_FLAG_ABSENT], 1);
    assert_int_equal(after.checked[XS_FLAG_MALFORMED] -
        before.checked[XS_FLAG_MALFORMED], 1);
    assert_int_equal(after.key_fetches, before.key_fetches);
}

/* Our own keys were made at init, beside the flag cache. */
static void
test_init_made_keys(void **state)
{
    struct fx *f = *state;
    char *path = xs_asprintf("%s/keys/a.test", f->dir);
    struct stat sb;

    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 077, 0);
    xs_free(path);
}

/* Without the module, a flag cannot be verified: unknown key, at once. */
static void
test_check_unloaded(void **state)
{
    struct fx f = { .dir = "" };
    struct xs_trustkey_store *peer;
    static const char *const peer_domains[] = { "peer.test" };
    struct xs_trustkey_opts opts = { .max_validity_s = 86400, .skew_s = 300 };
    struct xs_stanza *st;
    char err[256];

    (void)state;
    snprintf(f.peer_dir, sizeof(f.peer_dir), "/tmp/test_trust_peer.XXXXXX");
    assert_non_null(mkdtemp(f.peer_dir));
    opts.dir = f.peer_dir;
    assert_int_equal(xs_trustkey_store_load(&opts, peer_domains, 1,
        xs_wall_s(), &peer, err, sizeof(err)), XS_OK);
    f.peer = peer;
    st = request(&f, "alice@a.test", "alice@a.test");
    assert_int_equal(check(st, "alice@a.test"), XS_FLAG_UNKNOWN_KEY);
    xs_stanza_unref(st);
    xs_trustkey_store_free(peer);
    rm_tree(f.peer_dir);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_roundtrip),
        cmocka_unit_test(test_keys_parse_strict),
        cmocka_unit_test(test_keys_parse_bounded),
        cmocka_unit_test(test_trust_of_score),
        cmocka_unit_test(test_egress_window),
        cmocka_unit_test(test_egress_full),
        cmocka_unit_test(test_check_unloaded),
        cmocka_unit_test_setup_teardown(test_check_pinned, fx_setup,
            fx_teardown),
        cmocka_unit_test_setup_teardown(test_init_made_keys, fx_setup,
            fx_teardown),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
