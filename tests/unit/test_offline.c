/* test_offline.c: the offline module's message rules (offline_msg.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "xmppd/im/offline_msg.h"

/* A message element from its text (through the same parser as stored
 * messages). */
static struct xs_stanza *
msg(const char *text)
{
    struct xs_stanza *st = NULL;

    assert_int_equal(xs_offline_parse(text, strlen(text), &st), XS_OK);
    assert_non_null(st);
    return st;
}

static enum xs_offline_class
classify(const char *text)
{
    struct xs_stanza *st = msg(text);
    enum xs_offline_class c = xs_offline_classify(st->el);

    xs_stanza_unref(st);
    return c;
}

static void
classify_keeps_content(void **state)
{
    (void)state;
    assert_int_equal(classify("<message to='a@x'><body>hi</body></message>"),
        XS_OFFLINE_KEEP);
    assert_int_equal(classify("<message><subject>s</subject></message>"),
        XS_OFFLINE_KEEP);
    /* A body with a chat state is a message, not a standalone state. */
    assert_int_equal(classify("<message><body>hi</body><active "
        "xmlns='http://jabber.org/protocol/chatstates'/></message>"),
        XS_OFFLINE_KEEP);
    /* Any other payload (a receipt here) is worth keeping. */
    assert_int_equal(classify("<message><received xmlns='urn:xmpp:receipts' "
        "id='1'/></message>"), XS_OFFLINE_KEEP);
    /* <no-permanent-store/> allows offline storage (XEP-0334 3.3). */
    assert_int_equal(classify("<message><body>b</body><no-permanent-store "
        "xmlns='urn:xmpp:hints'/></message>"), XS_OFFLINE_KEEP);
}

static void
classify_discards_chat_states(void **state)
{
    (void)state;
    assert_int_equal(classify("<message type='chat'><composing "
        "xmlns='http://jabber.org/protocol/chatstates'/></message>"),
        XS_OFFLINE_DISCARD);
    assert_int_equal(classify("<message type='chat'><thread>t</thread>"
        "<paused xmlns='http://jabber.org/protocol/chatstates'/>"
        "<no-copy xmlns='urn:xmpp:hints'/></message>"), XS_OFFLINE_DISCARD);
    assert_int_equal(classify("<message/>"), XS_OFFLINE_DISCARD);
    /* A foreign element named body is not a body. */
    assert_int_equal(classify("<message><body xmlns='urn:x:other'/>"
        "</message>"), XS_OFFLINE_KEEP);
}

static void
classify_follows_hints(void **state)
{
    (void)state;
    assert_int_equal(classify("<message><body>b</body><no-store "
        "xmlns='urn:xmpp:hints'/></message>"), XS_OFFLINE_REFUSE);
    assert_int_equal(classify("<message><gone xmlns='http://jabber.org/"
        "protocol/chatstates'/><store xmlns='urn:xmpp:hints'/></message>"),
        XS_OFFLINE_KEEP);
    assert_int_equal(classify("<message><body>b</body><no-store "
        "xmlns='urn:xmpp:hints'/><store xmlns='urn:xmpp:hints'/></message>"),
        XS_OFFLINE_KEEP);
}

static void
delay_added_once_per_domain(void **state)
{
    struct xs_stanza *st = msg("<message><body>b</body></message>");
    struct xs_elem *d;
    char *text;

    (void)state;
    /* 2002-09-10T23:08:25Z, XEP-0203's example. */
    assert_true(xs_offline_add_delay(st->el, "capulet.com", 1031699305));
    d = xs_elem_child(st->el, XS_NS_DELAY, "delay");
    assert_non_null(d);
    assert_string_equal(xs_elem_attr(d, "from"), "capulet.com");
    assert_string_equal(xs_elem_attr(d, "stamp"), "2002-09-10T23:08:25Z");
    text = xs_elem_text(d);
    assert_string_equal(text, "Offline Storage");
    xs_free(text);
    /* A second time (or one from the same domain): nothing added. */
    assert_false(xs_offline_add_delay(st->el, "Capulet.com", 1031699999));
    assert_int_equal(xs_elem_count_elems(st->el), 2);
    xs_stanza_unref(st);
}

static void
delay_kept_from_elsewhere(void **state)
{
    struct xs_stanza *st = msg("<message><body>b</body><delay "
        "xmlns='urn:xmpp:delay' from='montague.net' "
        "stamp='2002-09-10T23:05:37Z'/></message>");
    size_t n = 0;

    (void)state;
    assert_true(xs_offline_add_delay(st->el, "capulet.com", 1031699305));
    for (struct xs_elem *c = xs_elem_first_elem(st->el); c != NULL;
        c = xs_elem_next_elem(c)) {
        if (strcmp(c->name, "delay") == 0)
            n++;
    }
    assert_int_equal(n, 2);
    xs_stanza_unref(st);
}

static void
parse_round_trip(void **state)
{
    struct xs_stanza *st = msg("<message from='a@x/r' to='b@x' type='chat' "
        "id='m1'><body>caf\xc3\xa9 &amp; &lt;tea&gt;</body></message>");
    struct xs_stanza *back = NULL;
    char *text, *text2, *body;

    (void)state;
    xs_offline_add_delay(st->el, "x", 0);
    text = xs_elem_to_string(st->el, st->el->ns);
    assert_null(strstr(text, "xmlns='jabber:client'"));
    assert_int_equal(xs_offline_parse(text, strlen(text), &back), XS_OK);
    assert_int_equal(back->kind, XS_K_MESSAGE);
    assert_string_equal(back->el->ns, "jabber:client");
    body = xs_elem_child_text(back->el, "jabber:client", "body");
    assert_string_equal(body, "caf\xc3\xa9 & <tea>");
    text2 = xs_elem_to_string(back->el, back->el->ns);
    assert_string_equal(text, text2);
    xs_free(body);
    xs_free(text);
    xs_free(text2);
    xs_stanza_unref(st);
    xs_stanza_unref(back);
}

static void
parse_refuses_what_is_not_one_message(void **state)
{
    static const char *const bad[] = {
        "", "<message>", "<iq type='get' id='1'/>", "not xml",
        "<message/><message/>", "<message><!-- c --></message>",
        "</stream:stream>",
    };
    struct xs_stanza *st;

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        st = (struct xs_stanza *)1;
        assert_int_equal(xs_offline_parse(bad[i], strlen(bad[i]), &st),
            XS_EINVAL);
        assert_null(st);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(classify_keeps_content),
        cmocka_unit_test(classify_discards_chat_states),
        cmocka_unit_test(classify_follows_hints),
        cmocka_unit_test(delay_added_once_per_domain),
        cmocka_unit_test(delay_kept_from_elsewhere),
        cmocka_unit_test(parse_round_trip),
        cmocka_unit_test(parse_refuses_what_is_not_one_message),
    };

    return cmocka_run_group_tests_name("offline", tests, NULL, NULL);
}
