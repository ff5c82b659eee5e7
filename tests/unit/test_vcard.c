/*
 * tests/unit/test_vcard.c: vCard parsing and fields, mod_vcard options,
 * LIKE escaping, and the vCard and activity stores against a private
 * PostgreSQL cluster (deploy/pg.sh; run from the repository root).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/activity.h"
#include "db/pgq.h"
#include "db/vcard.h"
#include "tests/unit/support/fake_server.h"
#include "tests/unit/support/pg_harness.h"
#include "xmppd/core/server.h"
#include "xmppd/im/vcard.h"

#define VCARD_XML \
    "<vCard xmlns='vcard-temp'><FN> Ada  Lovelace </FN>" \
    "<N><FAMILY>Lovelace</FAMILY><GIVEN>Ada</GIVEN></N>" \
    "<NICKNAME>ada</NICKNAME><EMAIL><HOME/><USERID/></EMAIL>" \
    "<EMAIL><INTERNET/><USERID>ada@example.org</USERID></EMAIL>" \
    "<ADR><WORK/></ADR><ADR><HOME/><LOCALITY>London</LOCALITY></ADR>" \
    "<ORG><ORGNAME>Analytical &amp; Co</ORGNAME></ORG>" \
    "<x xmlns='urn:example:ext'>kept</x></vCard>"

/* ---- pure functions ---- */

static void
test_like_contains(void **state)
{
    char *p;

    (void)state;
    p = xs_vcard_like_contains("a%b_c\\d");
    assert_string_equal(p, "%a\\%b\\_c\\\\d%");
    xs_free(p);
    p = xs_vcard_like_contains("");
    assert_string_equal(p, "%%");
    xs_free(p);
}

static void
test_parse_and_fields(void **state)
{
    struct xs_elem *v = NULL;
    struct xs_vcard_info vi;
    char *s = NULL, *again;

    (void)state;
    assert_int_equal(xs_vcard_parse(VCARD_XML, strlen(VCARD_XML), &v),
        XS_OK);
    xs_vcard_info_read(v, &vi);
    assert_string_equal(vi.fn, "Ada  Lovelace");
    assert_string_equal(vi.family, "Lovelace");
    assert_string_equal(vi.given, "Ada");
    assert_string_equal(vi.nickname, "ada");
    assert_string_equal(vi.email, "ada@example.org");  /* first non-empty */
    assert_string_equal(vi.locality, "London");
    xs_vcard_info_fini(&vi);

    assert_int_equal(xs_vcard_field(v, "FN", &s), XS_OK);
    assert_string_equal(s, "Ada  Lovelace");
    xs_free(s);
    assert_int_equal(xs_vcard_field(v, "n.family", &s), XS_OK);
    assert_string_equal(s, "Lovelace");
    xs_free(s);
    assert_int_equal(xs_vcard_field(v, "ORG ORGNAME", &s), XS_OK);
    assert_string_equal(s, "Analytical & Co");
    xs_free(s);
    assert_int_equal(xs_vcard_field(v, "TITLE", &s), XS_ENOTFOUND);
    assert_null(s);
    assert_int_equal(xs_vcard_field(v, "N.MIDDLE", &s), XS_ENOTFOUND);
    assert_int_equal(xs_vcard_field(v, "", &s), XS_EINVAL);
    assert_int_equal(xs_vcard_field(v, "N.", &s), XS_EINVAL);
    assert_int_equal(xs_vcard_field(v, "A.B.C", &s), XS_EINVAL);
    assert_int_equal(xs_vcard_field(v, "FN'; --", &s), XS_EINVAL);

    /* Serialized again it parses to the same text (what we store). */
    s = xs_elem_to_string(v, NULL);
    xs_elem_free(v);
    assert_int_equal(xs_vcard_parse(s, strlen(s), &v), XS_OK);
    again = xs_elem_to_string(v, NULL);
    assert_string_equal(s, again);
    assert_non_null(strstr(again, "urn:example:ext"));
    xs_free(s);
    xs_free(again);
    xs_elem_free(v);
}

static void
test_parse_refuses(void **state)
{
    static const char *const bad[] = {
        "<vCard xmlns='other'/>",
        "<foo xmlns='vcard-temp'/>",
        "<vCard xmlns='vcard-temp'>",
        "<vCard xmlns='vcard-temp'><!-- c --></vCard>",
        "<!DOCTYPE x><vCard xmlns='vcard-temp'/>",
        "",
        "text",
    };
    struct xs_elem *v;

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        v = (struct xs_elem *)1;
        assert_int_equal(xs_vcard_parse(bad[i], strlen(bad[i]), &v),
            XS_EINVAL);
        assert_null(v);
    }
}

static void
opts_check(const char *yaml, xs_rc want, struct xs_vcard_opts *o)
{
    struct xs_conf *c = NULL;
    char *err = NULL;

    assert_int_equal(xs_conf_load_string(yaml, "t.yml", &c, &err), XS_OK);
    assert_int_equal(xs_vcard_opts_read(c, o, &err), want);
    if (want != XS_OK) {
        assert_non_null(err);
        assert_non_null(strstr(err, "mod_vcard"));
    }
    xs_free(err);
    xs_conf_free(c);
}

static void
test_opts(void **state)
{
    struct xs_vcard_opts o;

    (void)state;
    opts_check("hosts: [a.example]\n", XS_OK, &o);
    assert_false(o.is_search);      /* off by default, as ejabberd */
    assert_int_equal(o.matches, XS_VCARD_MATCHES_DEFAULT);
    assert_int_equal(o.max_size, XS_VCARD_MAX_SIZE_DEFAULT);
    opts_check("hosts: [a.example]\nmodules:\n  mod_vcard: {search: true, "
        "matches: infinity, max_size: 1000}\n", XS_OK, &o);
    assert_true(o.is_search);
    assert_int_equal(o.matches, 0);
    assert_int_equal(o.max_size, 1000);
    opts_check("hosts: [a.example]\nmodules:\n  mod_vcard:\n", XS_OK, &o);
    assert_false(o.is_search);
    opts_check("hosts: [a.example]\nmodules:\n  mod_vcard: {search: yes}\n",
        XS_EINVAL, &o);
    opts_check("hosts: [a.example]\nmodules:\n  mod_vcard: {matches: 0}\n",
        XS_EINVAL, &o);
    opts_check("hosts: [a.example]\nmodules:\n  mod_vcard: {max_size: 10}\n",
        XS_EINVAL, &o);
    opts_check("hosts: [a.example]\nmodules:\n  mod_vcard: {serach: true}\n",
        XS_EINVAL, &o);
}

/* ---- the stores, on a private cluster ---- */

struct res {
    int   calls;
    xs_rc rc;
    bool  yes;
    char  text[512];
    bool  is_null;
    size_t nhits;
    char  users[8][64];
    struct xs_activity a;
    char  status[64];
};

static void
on_done(xs_rc rc, void *udata)
{
    struct res *r = udata;

    r->calls++;
    r->rc = rc;
}

static void
on_get(xs_rc rc, const char *vcard, void *udata)
{
    struct res *r = udata;

    r->calls++;
    r->rc = rc;
    r->is_null = vcard == NULL;
    snprintf(r->text, sizeof(r->text), "%s", vcard ? vcard : "");
}

static void
on_search(xs_rc rc, const struct xs_vcard_hit *hits, size_t n, void *udata)
{
    struct res *r = udata;

    r->calls++;
    r->rc = rc;
    r->nhits = n;
    for (size_t i = 0; i < n && i < 8; i++)
        snprintf(r->users[i], sizeof(r->users[i]), "%s", hits[i].user);
}

static void
on_act(xs_rc rc, const struct xs_activity *a, void *udata)
{
    struct res *r = udata;

    r->calls++;
    r->rc = rc;
    if (a != NULL) {
        r->a = *a;
        snprintf(r->status, sizeof(r->status), "%s",
            a->last_status ? a->last_status : "(null)");
        r->a.last_status = NULL;
    }
}

static void
on_bool(xs_rc rc, bool yes, void *udata)
{
    struct res *r = udata;

    r->calls++;
    r->rc = rc;
    r->yes = yes;
}

#define WAIT(r) assert_true(pgh_run_until(&(r).calls, 1, 5000))

static void
add_account(const char *user)
{
    char sql[512];
    int n = snprintf(sql, sizeof(sql),
        "INSERT INTO accounts (username, host, scram_sha1_salt, "
        "scram_sha1_iterations, scram_sha1_stored_key, "
        "scram_sha1_server_key) VALUES ('%s', 'h.example', "
        "decode(repeat('00', 16), 'hex'), 1, decode(repeat('00', 20), "
        "'hex'), decode(repeat('00', 20), 'hex'))", user);

    assert_true(n > 0 && (size_t)n < sizeof(sql));
    pgh_query(sql, 0, NULL, NULL);
}

static void
vcard_store(const char *user, const char *nick, const char *email,
    xs_rc want)
{
    struct xs_vcard_fields f = {
        .fn = "Full Name", .family = "", .given = "Given",
        .nickname = nick, .email = email, .locality = "Zürich",
    };
    struct res r = { 0 };

    assert_int_equal(xs_vcard_db_set(pgh.q, user, "h.example",
        "<vCard xmlns='vcard-temp'/>", &f, on_done, &r), XS_OK);
    WAIT(r);
    assert_int_equal(r.rc, want);
}

static size_t
search_nick(const char *nick, size_t limit, struct res *r)
{
    struct xs_vcard_query qry = { .nickname = nick };

    memset(r, 0, sizeof(*r));
    assert_int_equal(xs_vcard_db_search(pgh.q, "h.example", &qry, limit,
        on_search, r), XS_OK);
    WAIT(*r);
    assert_int_equal(r->rc, XS_OK);
    return r->nhits;
}

static void
test_vcard_store(void **state)
{
    struct xs_vcard_query none = { 0 };
    struct res r = { 0 };

    (void)state;
    add_account("v1");
    add_account("v2");
    add_account("v3");
    /* No vCard yet; no account at all. */
    assert_int_equal(xs_vcard_db_get(pgh.q, "v1", "h.example", on_get, &r),
        XS_OK);
    WAIT(r);
    assert_int_equal(r.rc, XS_OK);
    assert_true(r.is_null);
    memset(&r, 0, sizeof(r));
    assert_int_equal(xs_vcard_db_get(pgh.q, "nope", "h.example", on_get, &r),
        XS_OK);
    WAIT(r);
    assert_int_equal(r.rc, XS_ENOTFOUND);
    vcard_store("nope", "x", "", XS_ENOTFOUND);

    vcard_store("v1", "Ab%Cd", "one@EXAMPLE.org", XS_OK);
    vcard_store("v2", "AbXCd", "two@example.org", XS_OK);
    vcard_store("v3", "ab_cd", "three@example.org", XS_OK);
    vcard_store("v3", "ab_cd", "three@example.org", XS_OK);     /* again */
    memset(&r, 0, sizeof(r));
    assert_int_equal(xs_vcard_db_get(pgh.q, "v1", "h.example", on_get, &r),
        XS_OK);
    WAIT(r);
    assert_string_equal(r.text, "<vCard xmlns='vcard-temp'/>");

    /* Case-insensitive substrings; '%' and '_' literal. */
    assert_int_equal(search_nick("b%c", 0, &r), 1);
    assert_string_equal(r.users[0], "v1");
    assert_int_equal(search_nick("B_C", 0, &r), 1);
    assert_string_equal(r.users[0], "v3");
    assert_int_equal(search_nick("AB", 0, &r), 3);
    assert_string_equal(r.users[0], "v1");      /* ordered by user */
    assert_int_equal(search_nick("ab", 2, &r), 2);
    assert_int_equal(search_nick("zz", 0, &r), 0);
    {
        struct xs_vcard_query both = { .email = "EXAMPLE.ORG",
            .locality = "zür", .user = "v2" };

        memset(&r, 0, sizeof(r));
        assert_int_equal(xs_vcard_db_search(pgh.q, "h.example", &both, 0,
            on_search, &r), XS_OK);
        WAIT(r);
        assert_int_equal(r.nhits, 1);
        assert_string_equal(r.users[0], "v2");
    }
    /* Never the whole table. */
    assert_int_equal(xs_vcard_db_search(pgh.q, "h.example", &none, 0,
        on_search, &r), XS_EINVAL);
}

static void
act_add(const struct xs_activity_delta *d, size_t n)
{
    struct res r = { 0 };

    assert_int_equal(xs_activity_db_add(pgh.q, d, n, on_done, &r), XS_OK);
    WAIT(r);
    assert_int_equal(r.rc, XS_OK);
}

static void
act_get(const char *user, struct res *r)
{
    memset(r, 0, sizeof(*r));
    assert_int_equal(xs_activity_db_get(pgh.q, user, "h.example", on_act, r),
        XS_OK);
    WAIT(*r);
}

static void
test_activity_store(void **state)
{
    struct xs_activity_delta d[3];
    struct res r;

    (void)state;
    add_account("a1");
    add_account("a2");
    act_get("a1", &r);
    assert_int_equal(r.rc, XS_OK);      /* an account, nothing written */
    assert_int_equal(r.a.days_active, 0);
    assert_int_equal(r.a.last_active_day, -1);
    assert_true(r.a.created_at > 0);
    act_get("zz", &r);
    assert_int_equal(r.rc, XS_ENOTFOUND);

    memset(d, 0, sizeof(d));
    d[0] = (struct xs_activity_delta){ .user = "a1", .host = "h.example",
        .ndays = 1, .first_day = 20000, .last_day = 20000,
        .logout = 1700000000, .status = "bye \"now\" \\ {x,y}" };
    d[0].counts[XS_ACT_MSGS_TO_CONTACTS] = 2;
    d[0].counts[XS_ACT_SUBS_SENT] = 1;
    d[1] = (struct xs_activity_delta){ .user = "a2", .host = "h.example" };
    d[1].counts[XS_ACT_MSGS_FROM_STRANGERS] = 5;
    /* A deleted account in the batch is skipped, not an error. */
    d[2] = (struct xs_activity_delta){ .user = "gone", .host = "h.example",
        .ndays = 1, .first_day = 1, .last_day = 1 };
    act_add(d, 3);

    /* Same day again plus the next one: one more day, not two. */
    memset(d, 0, sizeof(d));
    d[0] = (struct xs_activity_delta){ .user = "a1", .host = "h.example",
        .ndays = 2, .first_day = 20000, .last_day = 20001 };
    d[0].counts[XS_ACT_MSGS_TO_CONTACTS] = 1;
    act_add(d, 1);

    act_get("a1", &r);
    assert_int_equal(r.rc, XS_OK);
    assert_int_equal(r.a.days_active, 2);
    assert_int_equal(r.a.last_active_day, 20001);
    assert_int_equal(r.a.counts[XS_ACT_MSGS_TO_CONTACTS], 3);
    assert_int_equal(r.a.counts[XS_ACT_SUBS_SENT], 1);
    assert_int_equal(r.a.last_logout, 1700000000);   /* kept: no logout */
    assert_string_equal(r.status, "bye \"now\" \\ {x,y}");
    act_get("a2", &r);
    assert_int_equal(r.a.counts[XS_ACT_MSGS_FROM_STRANGERS], 5);
    assert_int_equal(r.a.days_active, 0);
    assert_int_equal(r.a.last_logout, 0);
    assert_string_equal(r.status, "(null)");

    /* A logout without status replaces the old one and its status. */
    d[0] = (struct xs_activity_delta){ .user = "a1", .host = "h.example",
        .logout = 1700000100 };
    act_add(d, 1);
    act_get("a1", &r);
    assert_int_equal(r.a.last_logout, 1700000100);
    assert_string_equal(r.status, "(null)");
    assert_int_equal(r.a.days_active, 2);

    assert_int_equal(xs_activity_db_add(pgh.q, d, 0, on_done, &r), XS_EINVAL);
}

static void
test_sees_presence(void **state)
{
    struct res r;
    static const char *const who[] = {
        "b@x.example", "c@x.example", "d@x.example", "e@x.example",
    };
    static const bool want[] = { true, true, false, false };

    (void)state;
    add_account("p1");
    pgh_query("INSERT INTO roster_items (host, username, contact, "
        "subscription) VALUES ('h.example', 'p1', 'b@x.example', 'from'), "
        "('h.example', 'p1', 'c@x.example', 'both'), "
        "('h.example', 'p1', 'd@x.example', 'to')", 0, NULL, NULL);
    for (size_t i = 0; i < XS_ARRAY_LEN(who); i++) {
        memset(&r, 0, sizeof(r));
        assert_int_equal(xs_activity_db_sees_presence(pgh.q, "p1",
            "h.example", who[i], on_bool, &r), XS_OK);
        WAIT(r);
        assert_int_equal(r.rc, XS_OK);
        assert_int_equal(r.yes, want[i]);
    }
}

int
main(void)
{
    const struct CMUnitTest pure[] = {
        cmocka_unit_test(test_like_contains),
        cmocka_unit_test(test_parse_and_fields),
        cmocka_unit_test(test_parse_refuses),
        cmocka_unit_test(test_opts),
    };
    const struct CMUnitTest db[] = {
        cmocka_unit_test(test_vcard_store),
        cmocka_unit_test(test_activity_store),
        cmocka_unit_test(test_sees_presence),
    };
    int failed = cmocka_run_group_tests_name("vcard", pure, NULL, NULL);

    failed += cmocka_run_group_tests_name("vcard_db", db, pgh_group_setup,
        pgh_group_teardown);
    return failed;
}
