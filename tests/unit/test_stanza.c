/* tests/unit/test_stanza.c: stanzas, error replies and stream errors. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "xmppd/xml/parser.h"
#include "xmppd/xml/stanza.h"

#define HDR "<stream:stream xmlns='jabber:client' " \
            "xmlns:stream='http://etherx.jabber.org/streams'>"

static const struct xs_xml_limits lim = {
    .max_stanza = 65536, .max_depth = 32, .max_attrs = 32,
};

/* Parses one top-level element inside a client stream. */
static struct xs_elem *
parse_el(const char *xml)
{
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_xml_ev ev;
    struct xs_elem *el;

    assert_int_equal(xs_xml_feed(x, HDR, strlen(HDR)), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, xml, strlen(xml)), XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    xs_elem_free(ev.el);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_ELEM);
    el = ev.el;
    xs_xml_free(x);
    return el;
}

static struct xs_stanza *
parse_st(const char *xml)
{
    return xs_stanza_new(parse_el(xml));
}

static void
assert_serializes_to(const struct xs_stanza *st, const char *want)
{
    char *s = xs_elem_to_string(st->el, XS_NS_CLIENT);

    assert_string_equal(s, want);
    xs_free(s);
}

static void
stanza_kinds_and_refs(void **state)
{
    struct xs_stanza *st;

    (void)state;
    st = parse_st("<message/>");
    assert_int_equal(st->kind, XS_K_MESSAGE);
    assert_int_equal(st->refs, 1);
    assert_ptr_equal(xs_stanza_ref(st), st);
    assert_int_equal(st->refs, 2);
    xs_stanza_unref(st);
    assert_int_equal(st->refs, 1);
    xs_stanza_unref(st);
    xs_stanza_unref(NULL);

    st = parse_st("<presence/>");
    assert_int_equal(st->kind, XS_K_PRESENCE);
    xs_stanza_unref(st);
    st = parse_st("<iq type='get' id='1'/>");
    assert_int_equal(st->kind, XS_K_IQ);
    xs_stanza_unref(st);
    st = parse_st("<message xmlns='urn:not:a:stanza'/>");
    assert_int_equal(st->kind, XS_K_NONE);
    xs_stanza_unref(st);
    st = parse_st("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    assert_int_equal(st->kind, XS_K_NONE);
    xs_stanza_unref(st);
    st = xs_stanza_new(xs_elem_new(XS_NS_SERVER, "iq"));
    assert_int_equal(st->kind, XS_K_IQ);
    xs_stanza_unref(st);
}

static void
stanza_attrs_and_types(void **state)
{
    struct xs_stanza *m = parse_st("<message to='a@b' id='x'/>");
    struct xs_stanza *c = parse_st("<message type='chat'/>");
    struct xs_stanza *p = parse_st("<presence/>");

    (void)state;
    assert_string_equal(xs_stanza_attr(m, "to"), "a@b");
    assert_null(xs_stanza_attr(m, "from"));
    assert_true(xs_stanza_type_is(m, "normal"));    /* RFC 6121 5.2.2 */
    assert_false(xs_stanza_type_is(m, "chat"));
    assert_true(xs_stanza_type_is(c, "chat"));
    assert_false(xs_stanza_type_is(c, "normal"));
    assert_false(xs_stanza_type_is(p, "normal"));
    assert_false(xs_stanza_type_is(p, "unavailable"));
    xs_stanza_unref(m);
    xs_stanza_unref(c);
    xs_stanza_unref(p);
}

static void
stanza_may_bounce(void **state)
{
    static const struct { const char *xml; bool bounce; } cases[] = {
        { "<message to='a@b'/>", true },
        { "<message type='chat'/>", true },
        { "<message type='error'/>", false },
        { "<presence type='subscribe'/>", true },
        { "<presence type='error'/>", false },
        { "<iq type='get' id='1'/>", true },
        { "<iq type='set' id='1'/>", true },
        { "<iq type='result' id='1'/>", false },
        { "<iq type='error' id='1'/>", false },
        { "<features xmlns='http://etherx.jabber.org/streams'/>", false },
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(cases); i++) {
        struct xs_stanza *st = parse_st(cases[i].xml);

        assert_int_equal(xs_stanza_may_bounce(st), cases[i].bounce);
        xs_stanza_unref(st);
    }
}

static void
stanza_error_reply_swaps_and_keeps(void **state)
{
    struct xs_stanza *st = parse_st(
        "<iq type='get' id='q1' from='juliet@example.com/balcony' "
        "to='romeo@example.net'><query xmlns='jabber:iq:version'/></iq>");
    struct xs_stanza *r = xs_stanza_error_reply(st,
        XS_SERR_SERVICE_UNAVAILABLE);
    struct xs_elem *err;

    (void)state;
    assert_int_equal(r->refs, 1);
    assert_int_equal(r->kind, XS_K_IQ);
    assert_string_equal(xs_stanza_attr(r, "type"), "error");
    assert_string_equal(xs_stanza_attr(r, "id"), "q1");
    assert_string_equal(xs_stanza_attr(r, "to"), "juliet@example.com/balcony");
    assert_string_equal(xs_stanza_attr(r, "from"), "romeo@example.net");
    assert_false(xs_stanza_may_bounce(r));
    err = xs_elem_child(r->el, XS_NS_CLIENT, "error");
    assert_non_null(err);
    assert_string_equal(xs_elem_attr(err, "type"), "cancel");
    assert_non_null(xs_elem_child(err, XS_NS_STANZAS,
        "service-unavailable"));
    assert_serializes_to(r,
        "<iq type='error' id='q1' from='romeo@example.net' "
        "to='juliet@example.com/balcony'>"
        "<query xmlns='jabber:iq:version'/>"
        "<error type='cancel'><service-unavailable "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    /* The original is untouched. */
    assert_string_equal(xs_stanza_attr(st, "type"), "get");
    assert_null(xs_elem_child(st->el, NULL, "error"));
    xs_stanza_unref(r);
    xs_stanza_unref(st);
}

static void
stanza_error_reply_missing_addresses(void **state)
{
    struct xs_stanza *st, *r;

    (void)state;
    /* No from: the reply has no to.  No to: the reply has no from. */
    st = parse_st("<message to='romeo@example.net' id='m'>"
        "<body>hi</body></message>");
    r = xs_stanza_error_reply(st, XS_SERR_POLICY_VIOLATION);
    assert_null(xs_stanza_attr(r, "to"));
    assert_string_equal(xs_stanza_attr(r, "from"), "romeo@example.net");
    assert_serializes_to(r,
        "<message id='m' from='romeo@example.net' type='error'>"
        "<body>hi</body><error type='modify'><policy-violation "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></message>");
    xs_stanza_unref(r);
    xs_stanza_unref(st);

    st = parse_st("<presence from='a@b/c' type='subscribe'/>");
    r = xs_stanza_error_reply(st, XS_SERR_FORBIDDEN);
    assert_null(xs_stanza_attr(r, "from"));
    assert_null(xs_stanza_attr(r, "id"));
    assert_string_equal(xs_stanza_attr(r, "to"), "a@b/c");
    assert_string_equal(xs_elem_attr(xs_elem_child(r->el, NULL, "error"),
        "type"), "auth");
    xs_stanza_unref(r);
    xs_stanza_unref(st);
}

static void
stanza_error_reply_text_is_escaped(void **state)
{
    struct xs_stanza *st = parse_st("<message from='a@b' to='c@d' id='1'/>");
    struct xs_stanza *r = xs_stanza_error_reply_text(st,
        XS_SERR_RESOURCE_CONSTRAINT, "too <many> & 'fast'");
    struct xs_elem *text, *back;
    char *s, *t;

    (void)state;
    text = xs_elem_child(xs_elem_child(r->el, NULL, "error"), XS_NS_STANZAS,
        "text");
    assert_non_null(text);
    assert_string_equal(xs_elem_attr(text, "xml:lang"), "en");
    s = xs_elem_to_string(r->el, XS_NS_CLIENT);
    assert_non_null(strstr(s, "<error type='wait'><resource-constraint "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text "
        "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>"
        "too &lt;many&gt; &amp; 'fast'</text></error>"));
    /* And it reads back as the same text. */
    back = parse_el(s);
    t = xs_elem_child_text(xs_elem_child(back, NULL, "error"), XS_NS_STANZAS,
        "text");
    assert_string_equal(t, "too <many> & 'fast'");
    xs_free(t);
    xs_free(s);
    xs_elem_free(back);
    xs_stanza_unref(r);
    xs_stanza_unref(st);
}

static void
stanza_iq_result(void **state)
{
    struct xs_stanza *st = parse_st("<iq type='get' id='p1' from='a@b/c' "
        "to='b'><ping xmlns='urn:xmpp:ping'/></iq>");
    struct xs_stanza *r = xs_stanza_iq_result(st);

    (void)state;
    assert_int_equal(r->kind, XS_K_IQ);
    assert_serializes_to(r,
        "<iq type='result' id='p1' to='a@b/c' from='b'/>");
    xs_stanza_unref(r);
    xs_stanza_unref(st);
}

static void
stanza_error_names(void **state)
{
    (void)state;
    assert_string_equal(xs_stanza_err_name(XS_SERR_ITEM_NOT_FOUND),
        "item-not-found");
    assert_string_equal(xs_stanza_err_type(XS_SERR_ITEM_NOT_FOUND), "cancel");
    assert_string_equal(xs_stanza_err_name(XS_SERR_UNEXPECTED_REQUEST),
        "unexpected-request");
    assert_string_equal(xs_stanza_err_type(XS_SERR_NOT_AUTHORIZED), "auth");
    assert_string_equal(xs_stanza_err_type(XS_SERR_RECIPIENT_UNAVAILABLE),
        "wait");
    assert_string_equal(xs_stanza_err_name(XS_SERR_NONE),
        "undefined-condition");
    assert_string_equal(xs_stanza_err_name(XS_SERR__COUNT),
        "undefined-condition");
    for (int e = 1; e < XS_SERR__COUNT; e++) {
        assert_non_null(xs_stanza_err_name(e));
        assert_non_null(xs_stanza_err_type(e));
    }
    assert_string_equal(xs_stream_err_name(XS_STERR_NOT_WELL_FORMED),
        "not-well-formed");
    assert_string_equal(xs_stream_err_name(XS_STERR_UNSUPPORTED_VERSION),
        "unsupported-version");
    assert_string_equal(xs_stream_err_name(XS_STERR__COUNT),
        "undefined-condition");
    for (int e = 1; e < XS_STERR__COUNT; e++)
        assert_non_null(xs_stream_err_name(e));
}

static void
stream_error_xml(void **state)
{
    char *s;

    (void)state;
    s = xs_stream_error_xml(XS_STERR_POLICY_VIOLATION, NULL);
    assert_string_equal(s, "<stream:error><policy-violation "
        "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    xs_free(s);
    s = xs_stream_error_xml(XS_STERR_HOST_UNKNOWN, "no <such> & host");
    assert_string_equal(s, "<stream:error><host-unknown "
        "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
        "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>no &lt;such&gt; "
        "&amp; host</text></stream:error>");
    /* It parses as a stream child in the streams namespace. */
    {
        struct xs_elem *el = parse_el(s);

        assert_string_equal(el->ns, XS_NS_STREAMS);
        assert_string_equal(el->name, "error");
        assert_non_null(xs_elem_child(el, XS_NS_STREAM_ERR, "host-unknown"));
        xs_elem_free(el);
    }
    xs_free(s);
}

static void
random_ids(void **state)
{
    char a[33], b[33];

    (void)state;
    xs_random_id(a);
    xs_random_id(b);
    assert_int_equal(strlen(a), 32);
    for (size_t i = 0; i < 32; i++)
        assert_true(isxdigit((unsigned char)a[i]));
    assert_string_not_equal(a, b);
}

/* serialize -> parse -> the same tree, through the stanza API. */
static void
stanza_serialize_round_trip(void **state)
{
    struct xs_elem *m = xs_elem_new(XS_NS_CLIENT, "message");
    struct xs_stanza *st, *back;
    char *s1, *s2;

    (void)state;
    xs_elem_set_attr(m, "to", "o'neil@example.com");
    xs_elem_set_attr(m, "id", "<\"&'>");
    xs_elem_add_text(xs_elem_add_child(m, NULL, "body"), "a<b>&c]]>\"'",
        11);
    xs_elem_add_child(m, "urn:xmpp:receipts", "request");
    st = xs_stanza_new(m);
    s1 = xs_elem_to_string(st->el, XS_NS_CLIENT);
    back = parse_st(s1);
    s2 = xs_elem_to_string(back->el, XS_NS_CLIENT);
    assert_string_equal(s1, s2);
    assert_string_equal(xs_stanza_attr(back, "id"), "<\"&'>");
    assert_string_equal(xs_stanza_attr(back, "to"), "o'neil@example.com");
    xs_free(s1);
    xs_free(s2);
    s1 = xs_elem_child_text(back->el, XS_NS_CLIENT, "body");
    assert_string_equal(s1, "a<b>&c]]>\"'");
    xs_free(s1);
    /* Written into a server stream, the client namespace is declared. */
    s1 = xs_elem_to_string(st->el, XS_NS_SERVER);
    assert_true(strncmp(s1, "<message xmlns='jabber:client' ", 31) == 0);
    xs_free(s1);
    xs_stanza_unref(back);
    xs_stanza_unref(st);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(stanza_kinds_and_refs),
        cmocka_unit_test(stanza_attrs_and_types),
        cmocka_unit_test(stanza_may_bounce),
        cmocka_unit_test(stanza_error_reply_swaps_and_keeps),
        cmocka_unit_test(stanza_error_reply_missing_addresses),
        cmocka_unit_test(stanza_error_reply_text_is_escaped),
        cmocka_unit_test(stanza_iq_result),
        cmocka_unit_test(stanza_error_names),
        cmocka_unit_test(stream_error_xml),
        cmocka_unit_test(random_ids),
        cmocka_unit_test(stanza_serialize_round_trip),
    };

    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests_name("stanza", tests, NULL, NULL);
}
