/* tests/unit/test_blocking.c: XEP-0191 matching in memory, XEP-0377
 * report parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/im/blocking.h"

#include "db/blocking.h"
#include "tests/unit/support/fake_server.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define OWNER "alice@example.org"

static bool
blocks(const char *owner, const char *peer)
{
    struct xs_jid *j;
    bool hit;

    assert_int_equal(xs_jid_new(peer, &j), XS_OK);
    hit = xs_blocking_blocks(owner, j);
    xs_jid_free(j);
    assert_int_equal(hit, xs_blocking_blocks_str(owner, peer));
    return hit;
}

static int
reset(void **state)
{
    (void)state;
    xs_blocking_mem_reset();
    return 0;
}

static void
match_bare_item(void **state)
{
    (void)state;
    assert_int_equal(xs_blocking_mem_add(OWNER, "spam@x.example"), XS_OK);
    assert_true(blocks(OWNER, "spam@x.example"));
    assert_true(blocks(OWNER, "spam@x.example/any"));
    assert_false(blocks(OWNER, "other@x.example"));
    assert_false(blocks(OWNER, "x.example"));
    assert_false(blocks(OWNER, "spam@y.example"));
    /* Another owner's list is not ours. */
    assert_false(blocks("bob@example.org", "spam@x.example"));
}

static void
match_full_item(void **state)
{
    (void)state;
    assert_int_equal(xs_blocking_mem_add(OWNER, "spam@x.example/phone"),
        XS_OK);
    assert_true(blocks(OWNER, "spam@x.example/phone"));
    assert_false(blocks(OWNER, "spam@x.example/laptop"));
    assert_false(blocks(OWNER, "spam@x.example"));
    assert_false(blocks(OWNER, "spam@x.example/phone2"));
}

static void
match_domain_item(void **state)
{
    (void)state;
    assert_int_equal(xs_blocking_mem_add(OWNER, "x.example"), XS_OK);
    assert_true(blocks(OWNER, "x.example"));
    assert_true(blocks(OWNER, "x.example/res"));
    assert_true(blocks(OWNER, "anyone@x.example"));
    assert_true(blocks(OWNER, "anyone@x.example/res"));
    assert_false(blocks(OWNER, "sub.x.example"));
    assert_false(blocks(OWNER, "x.example.org"));
    assert_false(blocks(OWNER, "anyone@y.example"));
}

static void
match_domain_resource_item(void **state)
{
    (void)state;
    assert_int_equal(xs_blocking_mem_add(OWNER, "x.example/bot"), XS_OK);
    assert_true(blocks(OWNER, "x.example/bot"));
    assert_true(blocks(OWNER, "someone@x.example/bot"));
    assert_false(blocks(OWNER, "x.example"));
    assert_false(blocks(OWNER, "someone@x.example"));
    assert_false(blocks(OWNER, "someone@x.example/bot2"));
    assert_false(blocks(OWNER, "x.example/bo"));
}

/* Items that share prefixes with the key must not confuse the search. */
static void
match_prefix_neighbours(void **state)
{
    static const char *const items[] = {
        "a@x.example/", "a@x.example0", "a@x.example.", "a@x.exampl",
        "x.example/b", "x.example/bot/x", "a@x.example/phone0",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(items); i++)
        (void)xs_blocking_mem_add(OWNER, items[i]);
    assert_false(blocks(OWNER, "a@x.example"));
    assert_false(blocks(OWNER, "a@x.example/phone"));
    assert_false(blocks(OWNER, "x.example/bot"));
    assert_true(blocks(OWNER, "x.example/b"));
    assert_true(blocks(OWNER, "q@x.example/b"));
    assert_true(blocks(OWNER, "a@x.example/phone0"));
}

static void
never_blocks_self(void **state)
{
    (void)state;
    assert_int_equal(xs_blocking_mem_add(OWNER, "example.org"), XS_OK);
    assert_false(blocks(OWNER, "alice@example.org/other"));
    assert_false(blocks(OWNER, "alice@example.org"));
    assert_true(blocks(OWNER, "bob@example.org"));
    assert_true(blocks(OWNER, "example.org"));
}

static void
add_remove_clear(void **state)
{
    (void)state;
    assert_int_equal(xs_blocking_count(OWNER), 0);
    assert_int_equal(xs_blocking_mem_add(OWNER, "b@x.example"), XS_OK);
    assert_int_equal(xs_blocking_mem_add(OWNER, "a@x.example"), XS_OK);
    assert_int_equal(xs_blocking_mem_add(OWNER, "a@x.example"), XS_EEXIST);
    assert_int_equal(xs_blocking_count(OWNER), 2);
    assert_int_equal(xs_blocking_mem_remove(OWNER, "a@x.example"), XS_OK);
    assert_int_equal(xs_blocking_mem_remove(OWNER, "a@x.example"),
        XS_ENOTFOUND);
    assert_false(blocks(OWNER, "a@x.example"));
    assert_true(blocks(OWNER, "b@x.example"));
    xs_blocking_mem_clear(OWNER);
    assert_int_equal(xs_blocking_count(OWNER), 0);
    assert_false(blocks(OWNER, "b@x.example"));
    assert_int_equal(xs_blocking_mem_remove("nobody@example.org", "x"),
        XS_ENOTFOUND);
    assert_false(xs_blocking_blocks_str(OWNER, "not a jid@@"));
}

/* Many owners and items: the table grows, every lookup still answers. */
static void
many_owners(void **state)
{
    char owner[64], item[64];

    (void)state;
    for (int i = 0; i < 2000; i++) {
        snprintf(owner, sizeof(owner), "u%d@example.org", i);
        for (int k = 0; k < 5; k++) {
            snprintf(item, sizeof(item), "s%d@spam%d.example", k, i % 7);
            assert_int_equal(xs_blocking_mem_add(owner, item), XS_OK);
        }
    }
    for (int i = 0; i < 2000; i++) {
        snprintf(owner, sizeof(owner), "u%d@example.org", i);
        assert_int_equal(xs_blocking_count(owner), 5);
        snprintf(item, sizeof(item), "s4@spam%d.example/r", i % 7);
        assert_true(blocks(owner, item));
        snprintf(item, sizeof(item), "s5@spam%d.example", i % 7);
        assert_false(blocks(owner, item));
    }
}

/* ---- reports ---- */

static const struct xs_report_limits lim = {
    .max_text = 16, .max_stanza_ids = 2,
};

static struct xs_elem *
item_new(void)
{
    struct xs_elem *it = xs_elem_new(XS_NS_BLOCKING, "item");

    xs_elem_set_attr(it, "jid", "spam@x.example");
    return it;
}

static struct xs_elem *
report_add(struct xs_elem *item, const char *ns, const char *reason)
{
    struct xs_elem *r = xs_elem_add_child(item, ns, "report");

    if (reason != NULL)
        xs_elem_set_attr(r, "reason", reason);
    return r;
}

static void
text_add(struct xs_elem *rep, const char *text)
{
    struct xs_elem *t = xs_elem_add_child(rep, NULL, "text");

    xs_elem_set_attr(t, "xml:lang", "en");
    xs_elem_add_text(t, text, strlen(text));
}

static void
sid_add(struct xs_elem *rep, const char *id)
{
    struct xs_elem *s = xs_elem_add_child(rep, XS_NS_SID, "stanza-id");

    xs_elem_set_attr(s, "by", "alice@example.org");
    if (id != NULL)
        xs_elem_set_attr(s, "id", id);
}

static xs_rc
parse(struct xs_elem *item, struct xs_spam_report *r,
    enum xs_stanza_err *err)
{
    const char *why = NULL;
    xs_rc rc;

    memset(r, 0, sizeof(*r));
    *err = XS_SERR_NONE;
    rc = xs_blocking_report_parse(item, "spam@x.example", &lim, r, err,
        &why);
    if (rc != XS_OK && rc != XS_ENOTFOUND)
        assert_non_null(why);
    return rc;
}

static void
report_none(void **state)
{
    struct xs_elem *it = item_new();
    struct xs_spam_report r;
    enum xs_stanza_err err;

    (void)state;
    xs_elem_add_child(it, "urn:example:other", "report");
    assert_int_equal(parse(it, &r, &err), XS_ENOTFOUND);
    xs_elem_free(it);
}

static void
report_v1(void **state)
{
    struct xs_elem *it = item_new();
    struct xs_elem *rep = report_add(it, XS_NS_REPORTING,
        "urn:xmpp:reporting:spam");
    struct xs_spam_report r;
    enum xs_stanza_err err;

    (void)state;
    sid_add(rep, "id-1");
    sid_add(rep, "id-2");
    text_add(rep, "scam");
    text_add(rep, "again");
    xs_elem_add_child(rep, NULL, "third-party");
    assert_int_equal(parse(it, &r, &err), XS_OK);
    assert_string_equal(r.reported, "spam@x.example");
    assert_string_equal(r.reason, "spam");
    assert_string_equal(r.reason_uri, "urn:xmpp:reporting:spam");
    assert_string_equal(r.text, "scam\nagain");
    assert_string_equal(r.ns, XS_NS_REPORTING);
    assert_int_equal(r.nstanza_ids, 2);
    assert_string_equal(r.stanza_ids[0], "id-1");
    assert_string_equal(r.stanza_ids[1], "id-2");
    xs_spam_report_fini(&r);
    xs_elem_free(it);
}

static void
report_v1_other_reason(void **state)
{
    struct xs_elem *it = item_new();
    struct xs_spam_report r;
    enum xs_stanza_err err;

    (void)state;
    report_add(it, XS_NS_REPORTING, "urn:xmpp:reporting:abuse");
    assert_int_equal(parse(it, &r, &err), XS_OK);
    assert_string_equal(r.reason, "abuse");
    assert_null(r.text);
    assert_int_equal(r.nstanza_ids, 0);
    xs_spam_report_fini(&r);
    xs_elem_free(it);
}

static void
report_v1_bad(void **state)
{
    static const char *const reasons[] = { NULL, "", "spam", "urn:x:" };
    struct xs_spam_report r;
    enum xs_stanza_err err;

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(reasons); i++) {
        struct xs_elem *it = item_new();

        report_add(it, XS_NS_REPORTING, reasons[i]);
        assert_int_equal(parse(it, &r, &err), XS_EINVAL);
        assert_int_equal(err, XS_SERR_BAD_REQUEST);
        xs_elem_free(it);
    }
}

static void
report_limits(void **state)
{
    struct xs_elem *it, *rep;
    struct xs_spam_report r;
    enum xs_stanza_err err;

    (void)state;
    /* Exactly at the limits: taken. */
    it = item_new();
    rep = report_add(it, XS_NS_REPORTING, "urn:xmpp:reporting:spam");
    sid_add(rep, "a");
    sid_add(rep, "b");
    text_add(rep, "0123456789abcdef");
    assert_int_equal(parse(it, &r, &err), XS_OK);
    xs_spam_report_fini(&r);
    xs_elem_free(it);

    it = item_new();
    rep = report_add(it, XS_NS_REPORTING, "urn:xmpp:reporting:spam");
    text_add(rep, "0123456789abcdef!");
    assert_int_equal(parse(it, &r, &err), XS_ELIMIT);
    assert_int_equal(err, XS_SERR_POLICY_VIOLATION);
    xs_elem_free(it);

    it = item_new();
    rep = report_add(it, XS_NS_REPORTING, "urn:xmpp:reporting:spam");
    sid_add(rep, "a");
    sid_add(rep, "b");
    sid_add(rep, "c");
    assert_int_equal(parse(it, &r, &err), XS_ELIMIT);
    assert_int_equal(err, XS_SERR_POLICY_VIOLATION);
    xs_elem_free(it);

    it = item_new();
    rep = report_add(it, XS_NS_REPORTING, "urn:xmpp:reporting:spam");
    sid_add(rep, NULL);
    assert_int_equal(parse(it, &r, &err), XS_EINVAL);
    assert_int_equal(err, XS_SERR_BAD_REQUEST);
    xs_elem_free(it);

    it = item_new();
    report_add(it, XS_NS_REPORTING, "urn:xmpp:reporting:spam");
    report_add(it, XS_NS_REPORTING_0, NULL);
    assert_int_equal(parse(it, &r, &err), XS_EINVAL);
    xs_elem_free(it);
}

static void
report_legacy(void **state)
{
    struct xs_elem *it, *rep;
    struct xs_spam_report r;
    enum xs_stanza_err err;

    (void)state;
    it = item_new();
    rep = report_add(it, XS_NS_REPORTING_0, NULL);
    xs_elem_add_child(rep, NULL, "abuse");
    text_add(rep, "rude");
    assert_int_equal(parse(it, &r, &err), XS_OK);
    assert_string_equal(r.reason, "abuse");
    assert_string_equal(r.reason_uri, "urn:xmpp:reporting:abuse");
    assert_string_equal(r.ns, XS_NS_REPORTING_0);
    assert_string_equal(r.text, "rude");
    xs_spam_report_fini(&r);
    xs_elem_free(it);

    it = item_new();
    rep = report_add(it, XS_NS_REPORTING_0, NULL);
    assert_int_equal(parse(it, &r, &err), XS_EINVAL);
    assert_int_equal(err, XS_SERR_BAD_REQUEST);
    xs_elem_free(it);

    it = item_new();
    rep = report_add(it, XS_NS_REPORTING_0, NULL);
    xs_elem_add_child(rep, NULL, "abuse");
    xs_elem_add_child(rep, NULL, "spam");
    assert_int_equal(parse(it, &r, &err), XS_EINVAL);
    xs_elem_free(it);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(match_bare_item, reset),
        cmocka_unit_test_setup(match_full_item, reset),
        cmocka_unit_test_setup(match_domain_item, reset),
        cmocka_unit_test_setup(match_domain_resource_item, reset),
        cmocka_unit_test_setup(match_prefix_neighbours, reset),
        cmocka_unit_test_setup(never_blocks_self, reset),
        cmocka_unit_test_setup(add_remove_clear, reset),
        cmocka_unit_test_setup(many_owners, reset),
        cmocka_unit_test(report_none),
        cmocka_unit_test(report_v1),
        cmocka_unit_test(report_v1_other_reason),
        cmocka_unit_test(report_v1_bad),
        cmocka_unit_test(report_limits),
        cmocka_unit_test(report_legacy),
    };
    int rc;

    if (sodium_init() < 0)
        return 1;
    rc = cmocka_run_group_tests_name("blocking", tests, NULL, NULL);
    xs_blocking_mem_reset();
    return rc;
}
