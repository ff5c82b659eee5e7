/* tests/unit/test_xml.c: the element tree, its serializer and the stream
 * parser, with every hostile-input case RFC 6120 section 11 names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "xmppd/xml/elem.h"
#include "xmppd/xml/parser.h"
#include "xmppd/xml/stanza.h"

#define HDR "<?xml version='1.0'?><stream:stream to='example.com' " \
            "version='1.0' xml:lang='en' xmlns='jabber:client' "     \
            "xmlns:stream='http://etherx.jabber.org/streams'>"
#define HDR_NOXML "<stream:stream xmlns='jabber:client' " \
                  "xmlns:stream='http://etherx.jabber.org/streams'>"

/* Feeds a string literal. */
#define FEED(x, lit) xs_xml_feed((x), (lit), sizeof(lit) - 1)

static const struct xs_xml_limits lim_default = {
    .max_stanza = 65536, .max_depth = 32, .max_attrs = 32,
};

/* ---- helpers ------------------------------------------------------- */

static void
log_add(char **log, size_t *len, const char *s)
{
    size_t n = strlen(s);

    *log = realloc(*log, *len + n + 2);
    memcpy(*log + *len, s, n);
    (*log)[*len + n] = '\n';
    (*log)[*len + n + 1] = '\0';
    *len += n + 1;
}

/* Drains x into a text log: one line per event. */
static void
log_drain(struct xs_xml *x, char **log, size_t *len)
{
    struct xs_xml_ev ev;

    while (xs_xml_pop(x, &ev)) {
        char *s = NULL, *line;

        if (ev.type == XS_XEV_CLOSE) {
            log_add(log, len, "CLOSE");
            continue;
        }
        if (ev.type == XS_XEV_OPEN) {
            /* Attributes in order, so a change of order shows. */
            s = xs_strdup("");
            for (size_t i = 0; i < ev.el->nattrs; i++) {
                char *t = xs_asprintf("%s%s=%s;", s, ev.el->attrs[i].name,
                    ev.el->attrs[i].value);

                xs_free(s);
                s = t;
            }
            line = xs_asprintf("OPEN %s %s %s", ev.el->ns, ev.el->name, s);
        } else {
            s = xs_elem_to_string(ev.el, "jabber:client");
            line = xs_asprintf("ELEM %s", s);
        }
        log_add(log, len, line);
        xs_free(line);
        free(s);
        xs_elem_free(ev.el);
    }
}

/*
 * Parses doc (len bytes) fed in chunks of `chunk` bytes and returns the
 * log of events and the final status; the caller frees it.
 */
static char *
run_lim(const char *doc, size_t len, size_t chunk,
    const struct xs_xml_limits *lim)
{
    struct xs_xml *x = xs_xml_new(lim);
    enum xs_stream_err err = XS_STERR_NONE;
    char *log = calloc(1, 1), *end;
    size_t loglen = 0;

    for (size_t off = 0; off < len && err == XS_STERR_NONE; off += chunk) {
        size_t n = (len - off < chunk) ? len - off : chunk;

        err = xs_xml_feed(x, doc + off, n);
        log_drain(x, &log, &loglen);
    }
    end = xs_asprintf("END %s", err == XS_STERR_NONE ? "ok"
                                                     : xs_stream_err_name(err));
    log_add(&log, &loglen, end);
    xs_free(end);
    /* A dead parser stays dead with the same error. */
    if (err != XS_STERR_NONE)
        assert_int_equal(xs_xml_feed(x, "<a/>", 4), err);
    xs_xml_free(x);
    return log;
}

static char *
run(const char *doc, size_t chunk)
{
    return run_lim(doc, strlen(doc), chunk, &lim_default);
}

/* The final status of parsing doc whole, after checking that byte-by-byte
 * and a few odd chunk sizes give exactly the same log. */
static enum xs_stream_err
parse_status_lim(const char *doc, size_t len, const struct xs_xml_limits *lim)
{
    static const size_t chunks[] = { 1, 2, 3, 7, 64 };
    char *whole = run_lim(doc, len, len ? len : 1, lim);
    const char *status = strrchr(whole, ' ') + 1;
    enum xs_stream_err err = XS_STERR_NONE;

    for (size_t i = 0; i < XS_ARRAY_LEN(chunks); i++) {
        char *part = run_lim(doc, len, chunks[i], lim);

        assert_string_equal(part, whole);
        free(part);
    }
    if (strcmp(status, "ok\n") != 0) {
        for (int e = 1; e < XS_STERR__COUNT; e++) {
            size_t n = strlen(xs_stream_err_name(e));

            if (strncmp(status, xs_stream_err_name(e), n) == 0 &&
                status[n] == '\n')
                err = e;
        }
        assert_int_not_equal(err, XS_STERR_NONE);
    }
    free(whole);
    return err;
}

static enum xs_stream_err
parse_status(const char *doc)
{
    return parse_status_lim(doc, strlen(doc), &lim_default);
}

/* Parses one stanza inside a stream and returns it (the caller frees). */
static struct xs_elem *
parse_one(const char *stanza)
{
    struct xs_xml *x = xs_xml_new(&lim_default);
    struct xs_xml_ev ev;
    struct xs_elem *el;

    assert_int_equal(xs_xml_feed(x, HDR_NOXML, strlen(HDR_NOXML)),
        XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, stanza, strlen(stanza)), XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_OPEN);
    xs_elem_free(ev.el);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_ELEM);
    el = ev.el;
    assert_false(xs_xml_pop(x, &ev));
    xs_xml_free(x);
    return el;
}

/* Structural equality: names, namespaces, attributes, text. */
static bool
elem_equal(const struct xs_elem *a, const struct xs_elem *b)
{
    const struct xs_elem *ca, *cb;

    if (a->type != b->type)
        return false;
    if (a->type == XS_NODE_TEXT)
        return a->text_len == b->text_len &&
            memcmp(a->text, b->text, a->text_len) == 0;
    if (strcmp(a->name, b->name) != 0 || strcmp(a->ns, b->ns) != 0 ||
        a->nattrs != b->nattrs)
        return false;
    for (size_t i = 0; i < a->nattrs; i++) {
        const char *v = xs_elem_attr(b, a->attrs[i].name);

        if (v == NULL || strcmp(v, a->attrs[i].value) != 0)
            return false;
    }
    for (ca = a->first, cb = b->first; ca != NULL && cb != NULL;
         ca = ca->next, cb = cb->next) {
        if (!elem_equal(ca, cb))
            return false;
    }
    return ca == NULL && cb == NULL;
}

/* ---- the tree ------------------------------------------------------ */

static void
elem_attrs_set_replace_remove(void **state)
{
    struct xs_elem *e = xs_elem_new(XS_NS_CLIENT, "message");

    (void)state;
    xs_elem_set_attr(e, "to", "a@b");
    xs_elem_set_attr(e, "id", "1");
    xs_elem_set_attr(e, "to", "c@d");
    assert_int_equal(e->nattrs, 2);
    assert_string_equal(xs_elem_attr(e, "to"), "c@d");
    /* Setting an attribute to its own current value is safe. */
    xs_elem_set_attr(e, "to", xs_elem_attr(e, "to"));
    assert_string_equal(xs_elem_attr(e, "to"), "c@d");
    xs_elem_set_attr(e, "to", NULL);
    assert_null(xs_elem_attr(e, "to"));
    assert_string_equal(xs_elem_attr(e, "id"), "1");
    xs_elem_set_attr(e, "nope", NULL);
    assert_int_equal(e->nattrs, 1);
    xs_elem_free(e);
}

static void
elem_children_and_text(void **state)
{
    struct xs_elem *m = xs_elem_new(XS_NS_CLIENT, "message");
    struct xs_elem *body, *x, *free_el;
    char *s;

    (void)state;
    body = xs_elem_add_child(m, NULL, "body");
    assert_string_equal(body->ns, XS_NS_CLIENT);
    xs_elem_add_text(body, "Hello", 5);
    xs_elem_add_text(body, ", world", 7);
    assert_ptr_equal(body->first, body->last);      /* merged */
    xs_elem_add_text(m, "t1", 2);
    x = xs_elem_add_child(m, "urn:x", "x");
    xs_elem_add_text(m, "t2", 2);

    assert_ptr_equal(xs_elem_child(m, NULL, "body"), body);
    assert_ptr_equal(xs_elem_child(m, "urn:x", NULL), x);
    assert_null(xs_elem_child(m, "urn:y", "x"));
    assert_ptr_equal(xs_elem_first_elem(m), body);
    assert_ptr_equal(xs_elem_next_elem(body), x);
    assert_null(xs_elem_next_elem(x));
    assert_int_equal(xs_elem_count_elems(m), 2);

    s = xs_elem_text(m);
    assert_string_equal(s, "t1t2");
    xs_free(s);
    s = xs_elem_child_text(m, XS_NS_CLIENT, "body");
    assert_string_equal(s, "Hello, world");
    xs_free(s);
    assert_null(xs_elem_child_text(m, NULL, "subject"));

    /* A free-standing element without ns takes its parent's on append,
     * and so do its own ns-less children. */
    free_el = xs_elem_new(NULL, "thread");
    xs_elem_add_child(free_el, NULL, "inner");
    xs_elem_append(m, free_el);
    assert_string_equal(free_el->ns, XS_NS_CLIENT);
    assert_string_equal(free_el->first->ns, XS_NS_CLIENT);

    xs_elem_detach(m, x);
    assert_null(x->parent);
    assert_int_equal(xs_elem_count_elems(m), 2);
    xs_elem_free(x);
    xs_elem_remove(m, free_el);
    assert_int_equal(xs_elem_count_elems(m), 1);
    /* Removing the last child keeps last right for the next append. */
    x = xs_elem_add_child(m, NULL, "y");
    assert_ptr_equal(m->last, x);
    s = xs_elem_to_string(m, XS_NS_CLIENT);
    assert_string_equal(s,
        "<message><body>Hello, world</body>t1t2<y/></message>");
    xs_free(s);
    xs_elem_free(m);
    xs_elem_free(NULL);
}

static void
elem_copy_is_deep_and_equal(void **state)
{
    struct xs_elem *a = parse_one(
        "<iq type='get' id='1'><query xmlns='jabber:iq:roster' ver='v'>"
        "<item jid='a@b'><group>G1</group>x<group>G2</group></item>"
        "<item jid='c@d'/></query>tail</iq>");
    struct xs_elem *b = xs_elem_copy(a);

    (void)state;
    assert_true(elem_equal(a, b));
    assert_ptr_not_equal(a->first, b->first);
    assert_null(b->parent);
    assert_ptr_equal(b->first->parent, b);
    xs_elem_set_attr(b->first, "ver", "w");
    assert_false(elem_equal(a, b));
    xs_elem_free(a);
    xs_elem_free(b);
}

/* Free, copy and serialize never recurse: a very deep tree built by code
 * must not overflow the stack. */
static void
elem_deep_tree_no_recursion(void **state)
{
    struct xs_elem *root = xs_elem_new("urn:a", "a"), *e = root, *c;
    struct evbuffer *b = evbuffer_new();

    (void)state;
    for (int i = 0; i < 200000; i++)
        e = xs_elem_add_child(e, NULL, "a");
    xs_elem_add_text(e, "x", 1);
    c = xs_elem_copy(root);
    xs_elem_serialize(c, "urn:a", b);
    assert_int_equal(evbuffer_get_length(b), 200001 * 7 + 1);
    evbuffer_free(b);
    xs_elem_free(c);
    xs_elem_free(root);
}

/* ---- the serializer ------------------------------------------------ */

static void
ser_escapes_text_and_attrs(void **state)
{
    struct xs_elem *m = xs_elem_new(XS_NS_CLIENT, "message");
    struct xs_elem *body = xs_elem_add_child(m, NULL, "body");
    char *s;

    (void)state;
    xs_elem_set_attr(m, "to", "a'b\"c<d>e&f\tg\nh\ri");
    xs_elem_add_text(body, "1 < 2 && 3 > 2 'q' \"d\"\r\n", 24);
    s = xs_elem_to_string(m, XS_NS_CLIENT);
    assert_string_equal(s,
        "<message to='a&apos;b&quot;c&lt;d&gt;e&amp;f&#9;g&#10;h&#13;i'>"
        "<body>1 &lt; 2 &amp;&amp; 3 &gt; 2 'q' \"d\"&#13;\n</body>"
        "</message>");
    xs_free(s);
    xs_elem_free(m);
}

static void
ser_xmlns_only_where_it_changes(void **state)
{
    struct xs_elem *iq = xs_elem_new(XS_NS_CLIENT, "iq");
    struct xs_elem *q, *item, *none, *pre;
    char *s;

    (void)state;
    q = xs_elem_add_child(iq, "jabber:iq:roster", "query");
    item = xs_elem_add_child(q, NULL, "item");
    xs_elem_add_child(item, XS_NS_CLIENT, "back");
    none = xs_elem_add_child(iq, "", "plain");
    xs_elem_add_child(none, NULL, "inner");
    pre = xs_elem_add_child(iq, "urn:p", "p:thing");
    xs_elem_set_attr(pre, "xmlns:p", "urn:p");
    xs_elem_add_child(pre, XS_NS_CLIENT, "kid");
    xs_elem_set_attr(iq, "xmlns", "ignored");
    xs_elem_set_attr(iq, "xml:lang", "en");

    s = xs_elem_to_string(iq, XS_NS_CLIENT);
    assert_string_equal(s,
        "<iq xml:lang='en'><query xmlns='jabber:iq:roster'><item>"
        "<back xmlns='jabber:client'/></item></query>"
        "<plain xmlns=''><inner/></plain>"
        "<p:thing xmlns:p='urn:p'><kid/></p:thing></iq>");
    xs_free(s);
    s = xs_elem_to_string(iq, XS_NS_SERVER);
    assert_true(strncmp(s, "<iq xmlns='jabber:client' xml:lang='en'>",
        40) == 0);
    xs_free(s);
    s = xs_elem_to_string(none, NULL);
    assert_string_equal(s, "<plain><inner/></plain>");
    xs_free(s);
    xs_elem_free(iq);
}

/* <xml:x/> from a peer must not come out as xmlns='<the XML namespace>',
 * which every reader rejects (XML-Names section 3). */
static void
ser_xml_namespace_element(void **state)
{
    struct xs_elem *m = parse_one("<message><xml:x xml:lang='en'><y/>"
        "</xml:x></message>");
    struct xs_elem *back;
    char *s;

    (void)state;
    assert_string_equal(xs_elem_first_elem(m)->ns,
        "http://www.w3.org/XML/1998/namespace");
    s = xs_elem_to_string(m, XS_NS_CLIENT);
    assert_string_equal(s,
        "<message><xml:x xml:lang='en'><y/></xml:x></message>");
    back = parse_one(s);
    assert_true(elem_equal(m, back));
    xs_free(s);
    xs_elem_free(back);
    xs_elem_free(m);
}

/* serialize -> parse -> equal, with every character that needs care. */
static void
ser_round_trip(void **state)
{
    static const char *const texts[] = {
        "plain", "&amp; literal", "<tag>", "]]>", "a\r\nb\rc\td",
        "'\"'\"", "\xe2\x82\xac \xf0\x9f\x98\x80 \xc3\xa9", "   ",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(texts); i++) {
        struct xs_elem *m = xs_elem_new(XS_NS_CLIENT, "message");
        struct xs_elem *x, *back;
        char *s;

        xs_elem_set_attr(m, "id", texts[i]);
        xs_elem_set_attr(m, "xml:lang", "en");
        xs_elem_add_text(xs_elem_add_child(m, NULL, "body"), texts[i],
            strlen(texts[i]));
        x = xs_elem_add_child(m, "urn:x", "x");
        xs_elem_set_attr(x, "v", texts[i]);
        xs_elem_add_child(x, "", "nons");
        xs_elem_add_text(x, texts[i], strlen(texts[i]));
        s = xs_elem_to_string(m, XS_NS_CLIENT);
        back = parse_one(s);
        assert_true(elem_equal(m, back));
        xs_free(s);
        xs_elem_free(back);
        xs_elem_free(m);
    }
}

static void
ser_escape_api(void **state)
{
    struct evbuffer *b = evbuffer_new();
    char out[64] = { 0 };

    (void)state;
    xs_xml_escape(b, "a'<&>\"", 6, true);
    xs_xml_escape(b, "|a'<&>\"", 7, false);
    evbuffer_remove(b, out, sizeof(out) - 1);
    assert_string_equal(out, "a&apos;&lt;&amp;&gt;&quot;|a'&lt;&amp;&gt;\"");
    evbuffer_free(b);
}

/* ---- UTF-8 --------------------------------------------------------- */

static void
utf8_validator_cases(void **state)
{
    static const struct { const char *s; bool ok; } cases[] = {
        { "ascii", true },
        { "\xc3\xa9", true },                   /* U+00E9 */
        { "\xe2\x82\xac", true },               /* U+20AC */
        { "\xf0\x9f\x98\x80", true },           /* U+1F600 */
        { "\xf4\x8f\xbf\xbf", true },           /* U+10FFFF */
        { "\xed\x9f\xbf", true },               /* U+D7FF */
        { "\xee\x80\x80", true },               /* U+E000 */
        { "\xc0\x80", false },                  /* overlong NUL */
        { "\xc1\xbf", false },                  /* overlong */
        { "\xe0\x80\xaf", false },              /* overlong '/' */
        { "\xe0\x9f\xbf", false },              /* overlong */
        { "\xf0\x8f\xbf\xbf", false },          /* overlong */
        { "\xed\xa0\x80", false },              /* U+D800 surrogate */
        { "\xed\xbf\xbf", false },              /* U+DFFF surrogate */
        { "\xf4\x90\x80\x80", false },          /* U+110000 */
        { "\xf5\x80\x80\x80", false },
        { "\xff", false },
        { "\x80", false },                      /* lone continuation */
        { "\xe2\x82", false },                  /* truncated */
        { "\xe2\x82x", false },
        { "abcdefgh\xe2\x82\xacijklmnopq", true },
        { "abcdefghijklmnop\xc3", false },
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(cases); i++)
        assert_int_equal(xs_utf8_valid(cases[i].s, strlen(cases[i].s)),
            cases[i].ok);
}

/* ---- the parser ---------------------------------------------------- */

static void
parser_normal_stream(void **state)
{
    static const char doc[] = HDR
        " \n"
        "<message to='romeo@example.net' id='m1' type='chat'>"
        "<body>Wherefore &amp; why? &#x263A;</body>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/>"
        "</message>\t "
        "<presence/>"
        "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>"
        "</stream:stream>";
    struct xs_xml *x = xs_xml_new(&lim_default);
    struct xs_xml_ev ev;
    struct xs_elem *body;
    char *s;

    (void)state;
    assert_int_equal(xs_xml_feed(x, doc, sizeof(doc) - 1), XS_STERR_NONE);
    assert_int_equal(xs_xml_pending(x), 5);

    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_OPEN);
    assert_string_equal(ev.el->ns, XS_NS_STREAMS);
    assert_string_equal(ev.el->name, "stream");
    assert_string_equal(xs_elem_attr(ev.el, "to"), "example.com");
    assert_string_equal(xs_elem_attr(ev.el, "version"), "1.0");
    assert_string_equal(xs_elem_attr(ev.el, "xml:lang"), "en");
    assert_string_equal(xs_elem_attr(ev.el, "xmlns"), XS_NS_CLIENT);
    assert_string_equal(xs_elem_attr(ev.el, "xmlns:stream"), XS_NS_STREAMS);
    assert_null(ev.el->first);
    xs_elem_free(ev.el);

    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_ELEM);
    assert_string_equal(ev.el->name, "message");
    assert_string_equal(ev.el->ns, XS_NS_CLIENT);
    assert_string_equal(xs_elem_attr(ev.el, "id"), "m1");
    body = xs_elem_child(ev.el, XS_NS_CLIENT, "body");
    assert_non_null(body);
    s = xs_elem_text(body);
    assert_string_equal(s, "Wherefore & why? \xe2\x98\xba");
    xs_free(s);
    assert_non_null(xs_elem_child(ev.el,
        "http://jabber.org/protocol/chatstates", "active"));
    s = xs_elem_to_string(ev.el, XS_NS_CLIENT);
    assert_string_equal(s,
        "<message to='romeo@example.net' id='m1' type='chat'>"
        "<body>Wherefore &amp; why? \xe2\x98\xba</body>"
        "<active xmlns='http://jabber.org/protocol/chatstates'/>"
        "</message>");
    xs_free(s);
    xs_elem_free(ev.el);

    assert_true(xs_xml_pop(x, &ev));
    assert_string_equal(ev.el->name, "presence");
    xs_elem_free(ev.el);
    assert_true(xs_xml_pop(x, &ev));
    assert_string_equal(ev.el->name, "iq");
    assert_string_equal(xs_elem_first_elem(ev.el)->ns, "urn:xmpp:ping");
    xs_elem_free(ev.el);
    assert_true(xs_xml_pop(x, &ev));
    assert_int_equal(ev.type, XS_XEV_CLOSE);
    assert_null(ev.el);
    assert_false(xs_xml_pop(x, &ev));
    assert_int_equal(xs_xml_pending(x), 0);

    /* Nothing after </stream:stream> is read, not even garbage. */
    assert_int_equal(xs_xml_feed(x, "<junk", 5), XS_STERR_NONE);
    assert_false(xs_xml_pop(x, &ev));
    xs_xml_free(x);
}

/* Byte by byte, odd chunks and all at once give the same events, for good
 * streams and for every kind of bad one. */
static void
parser_chunking_does_not_matter(void **state)
{
    static const char *const docs[] = {
        HDR "<message><body>h\xc3\xa9llo \xf0\x9f\x98\x80</body></message>"
            "  <presence type='unavailable'/></stream:stream>",
        HDR "<iq><query xmlns='jabber:iq:roster'><item jid='a'/></query>"
            "</iq>\r\n<message>a\r\nb<![CDATA[<x>&]]></message>",
        HDR "<message><!-- c --></message>",
        HDR "<message>\xed\xa0\x80</message>",
        HDR "<message/>hello",
        HDR "<message></iq>",
        HDR_NOXML "<a xmlns:p='urn:p' p:x='1' y='&lt;'><p:b><c/></p:b></a>",
        "<?xml version='1.0' encoding='UTF-8'?>" HDR_NOXML "<a/>",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(docs); i++)
        (void)parse_status(docs[i]);
}

static void
parser_nested_namespaces(void **state)
{
    struct xs_elem *iq = parse_one(
        "<iq type='set' xml:lang='fr'>"
        "<query xmlns='jabber:iq:roster'><item jid='a@b'>"
        "<group>Friends</group></item></query>"
        "<p:x xmlns:p='urn:p' xmlns:q='urn:q' p:attr='v' q:o='w'>"
        "<y/><p:z/><w xmlns=''><v/></w></p:x></iq>");
    struct xs_elem *q, *item, *x, *y, *w, *re;
    char *s;

    (void)state;
    assert_string_equal(iq->ns, XS_NS_CLIENT);
    assert_string_equal(xs_elem_attr(iq, "xml:lang"), "fr");
    q = xs_elem_child(iq, "jabber:iq:roster", "query");
    assert_non_null(q);
    item = xs_elem_child(q, "jabber:iq:roster", "item");
    assert_non_null(item);
    assert_non_null(xs_elem_child(item, "jabber:iq:roster", "group"));
    x = xs_elem_child(iq, "urn:p", "x");
    assert_non_null(x);
    assert_string_equal(xs_elem_attr(x, "p:attr"), "v");
    assert_string_equal(xs_elem_attr(x, "xmlns:p"), "urn:p");
    assert_string_equal(xs_elem_attr(x, "q:o"), "w");
    assert_string_equal(xs_elem_attr(x, "xmlns:q"), "urn:q");
    y = xs_elem_child(x, NULL, "y");
    assert_string_equal(y->ns, XS_NS_CLIENT);   /* the default ns, not p */
    assert_non_null(xs_elem_child(x, "urn:p", "z"));
    w = xs_elem_child(x, NULL, "w");
    assert_string_equal(w->ns, "");
    assert_string_equal(w->first->ns, "");

    /* What we write parses back to the same tree. */
    s = xs_elem_to_string(iq, XS_NS_CLIENT);
    re = parse_one(s);
    assert_true(elem_equal(iq, re));
    xs_free(s);
    xs_elem_free(re);
    xs_elem_free(iq);
}

static void
parser_restricted_xml(void **state)
{
    static const char *const docs[] = {
        "<!DOCTYPE stream:stream>" HDR_NOXML,
        "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>"
        "<!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>"
        "<!ENTITY lol3 '&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;'>"
        "]>" HDR_NOXML "<message><body>&lol3;</body></message>",
        "<!DOCTYPE x [<!ENTITY e SYSTEM 'file:///etc/passwd'>]>" HDR_NOXML,
        "<!-- hello -->" HDR_NOXML,
        HDR "<message><body>a<!-- c -->b</body></message>",
        HDR "<message><?php echo 1; ?></message>",
        "<?foo bar?>" HDR_NOXML,
        HDR "<message><body>&foo;</body></message>",
        HDR "<message to='&foo;'/>",
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(docs); i++)
        assert_int_equal(parse_status(docs[i]), XS_STERR_RESTRICTED_XML);
}

static void
parser_restricted_keeps_earlier_stanzas(void **state)
{
    char *log = run(HDR "<presence/><!-- x --><message/>", 1);

    (void)state;
    assert_non_null(strstr(log, "ELEM <presence/>\nEND restricted-xml\n"));
    assert_null(strstr(log, "message"));
    free(log);
}

static void
parser_depth_limit(void **state)
{
    struct xs_xml_limits lim = { .max_stanza = 4096, .max_depth = 3,
                                 .max_attrs = 8 };
    const char *ok = HDR "<message><a><b/></a></message>";
    const char *deep = HDR "<message><a><b><c/></b></a></message>";
    const char *flat = HDR "<message><a/><b/><c><d/></c></message>";

    (void)state;
    assert_int_equal(parse_status_lim(ok, strlen(ok), &lim), XS_STERR_NONE);
    assert_int_equal(parse_status_lim(deep, strlen(deep), &lim),
        XS_STERR_POLICY_VIOLATION);
    assert_int_equal(parse_status_lim(flat, strlen(flat), &lim),
        XS_STERR_NONE);
}

static void
parser_attr_limit(void **state)
{
    struct xs_xml_limits lim = { .max_stanza = 4096, .max_depth = 8,
                                 .max_attrs = 8 };
    const char *ok = HDR "<message a='1' b='2' c='3' d='4' e='5' f='6' "
                         "g='7' h='8'/>";
    const char *many = HDR "<message a='1' b='2' c='3' d='4' e='5' f='6' "
                           "g='7' h='8' i='9'/>";
    const char *decls = HDR "<message a='1' b='2' c='3' d='4' e='5' "
                            "xmlns:p1='u' xmlns:p2='u' xmlns:p3='u' "
                            "xmlns:p4='u'/>";
    const char *deep = HDR "<message><x a='1' b='2' c='3' d='4' e='5' f='6' "
                           "g='7' h='8' i='9'/></message>";

    (void)state;
    assert_int_equal(parse_status_lim(ok, strlen(ok), &lim), XS_STERR_NONE);
    assert_int_equal(parse_status_lim(many, strlen(many), &lim),
        XS_STERR_POLICY_VIOLATION);
    assert_int_equal(parse_status_lim(decls, strlen(decls), &lim),
        XS_STERR_POLICY_VIOLATION);
    assert_int_equal(parse_status_lim(deep, strlen(deep), &lim),
        XS_STERR_POLICY_VIOLATION);
}

/* A stanza of exactly max_stanza bytes passes, one more byte does not. */
static void
parser_stanza_size_exact(void **state)
{
    struct xs_xml_limits lim = { .max_stanza = 200, .max_depth = 8,
                                 .max_attrs = 8 };
    char stanza[256], doc[512];

    (void)state;
    for (int extra = 0; extra <= 1; extra++) {
        size_t body = 200 - strlen("<message><body></body></message>") +
            (size_t)extra;

        memcpy(stanza, "<message><body>", 15);
        memset(stanza + 15, 'x', body);
        memcpy(stanza + 15 + body, "</body></message>", 18);
        assert_int_equal(strlen(stanza), 200 + (size_t)extra);
        snprintf(doc, sizeof(doc), "%s \n%s  <presence/>", HDR_NOXML, stanza);
        assert_int_equal(parse_status_lim(doc, strlen(doc), &lim),
            extra ? XS_STERR_POLICY_VIOLATION : XS_STERR_NONE);
    }
}

/* A 10 MB attribute value without '>' is refused once max_stanza bytes of
 * it have arrived, not after it has all been buffered. */
static void
parser_stanza_size_unfinished_start_tag(void **state)
{
    struct xs_xml_limits lim = { .max_stanza = 16384, .max_depth = 8,
                                 .max_attrs = 8 };
    struct xs_xml *x = xs_xml_new(&lim);
    char chunk[1000];
    size_t fed = 0;
    enum xs_stream_err err = XS_STERR_NONE;

    (void)state;
    memset(chunk, 'a', sizeof(chunk));
    assert_int_equal(xs_xml_feed(x, HDR, strlen(HDR)), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, "<message to='", 13), XS_STERR_NONE);
    fed = 13;
    while (fed < 10 * 1000 * 1000) {
        err = xs_xml_feed(x, chunk, sizeof(chunk));
        if (err != XS_STERR_NONE)
            break;
        fed += sizeof(chunk);
    }
    assert_int_equal(err, XS_STERR_POLICY_VIOLATION);
    assert_true(fed <= lim.max_stanza);
    assert_true(fed + sizeof(chunk) > lim.max_stanza);
    xs_xml_free(x);

    /* The same inside the stanza, in an unfinished child start tag. */
    x = xs_xml_new(&lim);
    assert_int_equal(FEED(x, HDR "<message><body b='"), XS_STERR_NONE);
    for (fed = 18; fed < 10 * 1000 * 1000; fed += sizeof(chunk)) {
        if ((err = xs_xml_feed(x, chunk, sizeof(chunk))) != XS_STERR_NONE)
            break;
    }
    assert_int_equal(err, XS_STERR_POLICY_VIOLATION);
    assert_true(fed <= lim.max_stanza);
    xs_xml_free(x);
}

static void
parser_stream_header_limit(void **state)
{
    char doc[8192];
    size_t n;

    (void)state;
    n = (size_t)snprintf(doc, sizeof(doc),
        "<stream:stream xmlns='jabber:client' xmlns:stream='%s' to='",
        XS_NS_STREAMS);
    memset(doc + n, 'a', 5000);
    memcpy(doc + n + 5000, "'>", 3);
    assert_int_equal(parse_status(doc), XS_STERR_POLICY_VIOLATION);
    /* Without the closing quote it is refused while still incomplete. */
    doc[n + 5000] = '\0';
    assert_int_equal(parse_status(doc), XS_STERR_POLICY_VIOLATION);
    /* A syntax error after the limit is never reached, whether the bytes
     * come in one feed or many: the limit fires at the same byte. */
    memcpy(doc + n + 5000, "<'>", 4);
    assert_int_equal(parse_status(doc), XS_STERR_POLICY_VIOLATION);
}

static void
parser_limit_before_later_error(void **state)
{
    struct xs_xml_limits lim = { .max_stanza = 1000, .max_depth = 8,
                                 .max_attrs = 8 };
    char doc[4096];
    size_t n;

    (void)state;
    n = (size_t)snprintf(doc, sizeof(doc), "%s<message to='", HDR_NOXML);
    memset(doc + n, 'a', 2000);
    memcpy(doc + n + 2000, "<'/>", 5);
    assert_int_equal(parse_status_lim(doc, strlen(doc), &lim),
        XS_STERR_POLICY_VIOLATION);
    memcpy(doc + n + 2000, "\xff'/>", 5);
    assert_int_equal(parse_status_lim(doc, strlen(doc), &lim),
        XS_STERR_POLICY_VIOLATION);
    /* Before the limit, the error itself wins. */
    memcpy(doc + n + 10, "<'/>", 5);
    assert_int_equal(parse_status_lim(doc, strlen(doc), &lim),
        XS_STERR_NOT_WELL_FORMED);
}

static void
parser_whitespace_keepalives(void **state)
{
    struct xs_xml_limits lim = { .max_stanza = 100, .max_depth = 8,
                                 .max_attrs = 8 };
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_xml_ev ev;
    char ws[101];

    (void)state;
    assert_int_equal(xs_xml_feed(x, HDR_NOXML, strlen(HDR_NOXML)),
        XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    xs_elem_free(ev.el);
    for (int i = 0; i < 50; i++)
        assert_int_equal(xs_xml_feed(x, " ", 1), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, "\r\n\t", 3), XS_STERR_NONE);
    assert_false(xs_xml_pop(x, &ev));               /* keepalives: nothing */
    assert_int_equal(xs_xml_feed(x, "<presence/>", 11), XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    assert_string_equal(ev.el->name, "presence");
    xs_elem_free(ev.el);
    /* The count restarts after each stanza. */
    for (int i = 0; i < 99; i++)
        assert_int_equal(xs_xml_feed(x, " ", 1), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, "<presence/>", 11), XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    xs_elem_free(ev.el);
    xs_xml_free(x);

    /* More than max_stanza bytes of whitespace in one run are refused. */
    memset(ws, ' ', 100);
    ws[100] = '\0';
    {
        char doc[512];

        snprintf(doc, sizeof(doc), "%s%s<presence/>", HDR_NOXML, ws);
        assert_int_equal(parse_status_lim(doc, strlen(doc), &lim),
            XS_STERR_NONE);
        snprintf(doc, sizeof(doc), "%s%s <presence/>", HDR_NOXML, ws);
        assert_int_equal(parse_status_lim(doc, strlen(doc), &lim),
            XS_STERR_POLICY_VIOLATION);
    }
}

static void
parser_set_limits_mid_stream(void **state)
{
    struct xs_xml_limits small = { .max_stanza = 100, .max_depth = 8,
                                   .max_attrs = 8 };
    struct xs_xml_limits big = small;
    struct xs_xml *x = xs_xml_new(&small);
    char stanza[300];

    (void)state;
    big.max_stanza = 1000;
    memcpy(stanza, "<message>", 9);
    memset(stanza + 9, 'z', 200);
    memcpy(stanza + 209, "</message>", 11);
    assert_int_equal(xs_xml_feed(x, HDR_NOXML, strlen(HDR_NOXML)),
        XS_STERR_NONE);
    xs_xml_set_limits(x, &big);
    assert_int_equal(xs_xml_feed(x, stanza, strlen(stanza)), XS_STERR_NONE);
    assert_int_equal(xs_xml_pending(x), 2);
    xs_xml_set_limits(x, &small);
    assert_int_equal(xs_xml_feed(x, stanza, strlen(stanza)),
        XS_STERR_POLICY_VIOLATION);
    xs_xml_free(x);
}

static void
parser_invalid_utf8(void **state)
{
    static const char *const bad[] = {
        "\xc0\xbc",                 /* overlong '<' */
        "\xe0\x80\xbc",             /* overlong '<' */
        "\xf0\x80\x80\xbc",         /* overlong '<' */
        "\xed\xa0\x80",             /* surrogate */
        "\xed\xbf\xbf",             /* surrogate */
        "\xf4\x90\x80\x80",         /* > U+10FFFF */
        "\xf8\x88\x80\x80\x80",     /* 5-byte form */
        "\xfe\xff",
        "\x80",
        "\xe2\x82<",                /* truncated before markup */
        "\xc3",                     /* truncated before the end tag */
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(bad); i++) {
        char doc[512];

        snprintf(doc, sizeof(doc), HDR "<message><body>a%sb</body>"
            "</message>", bad[i]);
        assert_int_equal(parse_status(doc), XS_STERR_UNSUPPORTED_ENCODING);
        snprintf(doc, sizeof(doc), HDR "<message to='%s'/>", bad[i]);
        assert_int_equal(parse_status(doc), XS_STERR_UNSUPPORTED_ENCODING);
    }
}

/* A sequence split across feeds: valid ones pass, bad ones are caught in
 * the feed that completes them. */
static void
parser_utf8_split_across_feeds(void **state)
{
    struct xs_xml *x = xs_xml_new(&lim_default);
    struct xs_xml_ev ev;
    char *s;

    (void)state;
    assert_int_equal(FEED(x, HDR "<message><body>\xe2"), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, "\x82", 1), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, "\xac\xf0\x9f", 3), XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, "\x98\x80</body></message>", 19),
        XS_STERR_NONE);
    assert_true(xs_xml_pop(x, &ev));
    xs_elem_free(ev.el);
    assert_true(xs_xml_pop(x, &ev));
    s = xs_elem_child_text(ev.el, NULL, "body");
    assert_string_equal(s, "\xe2\x82\xac\xf0\x9f\x98\x80");
    xs_free(s);
    xs_elem_free(ev.el);

    assert_int_equal(xs_xml_feed(x, "<message><body>\xed", 16),
        XS_STERR_NONE);
    assert_int_equal(xs_xml_feed(x, "\xa0\x80", 2),
        XS_STERR_UNSUPPORTED_ENCODING);
    assert_int_equal(xs_xml_feed(x, "ok", 2), XS_STERR_UNSUPPORTED_ENCODING);
    xs_xml_free(x);
}

static void
parser_encoding_declaration(void **state)
{
    (void)state;
    assert_int_equal(parse_status("<?xml version='1.0' encoding='utf-8'?>"
        HDR_NOXML "<a/>"), XS_STERR_NONE);
    assert_int_equal(parse_status("<?xml version='1.0' "
        "encoding='ISO-8859-1'?>" HDR_NOXML), XS_STERR_UNSUPPORTED_ENCODING);
    assert_int_equal(parse_status("<?xml version='1.0' encoding='UTF-16'?>"
        HDR_NOXML), XS_STERR_UNSUPPORTED_ENCODING);
    /* A UTF-16 byte order mark is not UTF-8 either. */
    assert_int_equal(parse_status_lim("\xff\xfe<\0s\0", 6, &lim_default),
        XS_STERR_UNSUPPORTED_ENCODING);
}

static void
parser_stream_namespace_and_prefix(void **state)
{
    (void)state;
    assert_int_equal(parse_status("<stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streamz'>"),
        XS_STERR_INVALID_NAMESPACE);
    assert_int_equal(parse_status("<stream:stream xmlns='jabber:client' "
        "xmlns:stream='urn:other'>"), XS_STERR_INVALID_NAMESPACE);
    assert_int_equal(parse_status("<stream xmlns='jabber:client'>"),
        XS_STERR_INVALID_NAMESPACE);
    assert_int_equal(parse_status("<message xmlns='jabber:client'/>"),
        XS_STERR_INVALID_NAMESPACE);
    assert_int_equal(parse_status("<stream:features xmlns:stream="
        "'http://etherx.jabber.org/streams'>"), XS_STERR_INVALID_NAMESPACE);
    assert_int_equal(parse_status("<foo:stream xmlns='jabber:client' "
        "xmlns:foo='http://etherx.jabber.org/streams'>"),
        XS_STERR_BAD_NAMESPACE_PREFIX);
    assert_int_equal(parse_status("<stream xmlns="
        "'http://etherx.jabber.org/streams'>"),
        XS_STERR_BAD_NAMESPACE_PREFIX);
    /* An undeclared prefix breaks XML-Names: not well-formed. */
    assert_int_equal(parse_status("<stream:stream xmlns='jabber:client'>"),
        XS_STERR_NOT_WELL_FORMED);
}

static void
parser_stream_without_default_ns(void **state)
{
    char *log = run("<stream:stream xmlns:stream='"
        "http://etherx.jabber.org/streams' xmlns:db='jabber:server:dialback'"
        "><db:result to='a' from='b'>key</db:result><x/>", 1);

    (void)state;
    assert_string_equal(log,
        "OPEN http://etherx.jabber.org/streams stream "
        "xmlns:stream=http://etherx.jabber.org/streams;"
        "xmlns:db=jabber:server:dialback;\n"
        "ELEM <result xmlns='jabber:server:dialback' to='a' from='b'>key"
        "</result>\n"
        "ELEM <x xmlns=''/>\n"
        "END ok\n");
    free(log);
}

static void
parser_top_level_text_and_garbage(void **state)
{
    (void)state;
    assert_int_equal(parse_status(HDR "hello"), XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "  <presence/> x"),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "&amp;"), XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "<a/>hell]]><b/>"),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "<message></iq>"),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "<message a='1' a='2'/>"),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "<message>&#0;</message>"),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "<message>\x01</message>"),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status(HDR "<p:message xmlns:p=''/>"),
        XS_STERR_NOT_WELL_FORMED);
    /* NUL is never XML, wherever it is and however it is fed. */
    assert_int_equal(parse_status_lim("e\0\0\xfd", 4, &lim_default),
        XS_STERR_NOT_WELL_FORMED);
    assert_int_equal(parse_status_lim(HDR "<a>\0</a>", strlen(HDR) + 8,
        &lim_default), XS_STERR_NOT_WELL_FORMED);
}

static void
parser_empty_stream(void **state)
{
    char *log = run(HDR_NOXML "</stream:stream>", 1);

    (void)state;
    assert_non_null(strstr(log, "\nCLOSE\nEND ok\n"));
    free(log);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(elem_attrs_set_replace_remove),
        cmocka_unit_test(elem_children_and_text),
        cmocka_unit_test(elem_copy_is_deep_and_equal),
        cmocka_unit_test(elem_deep_tree_no_recursion),
        cmocka_unit_test(ser_escapes_text_and_attrs),
        cmocka_unit_test(ser_xmlns_only_where_it_changes),
        cmocka_unit_test(ser_xml_namespace_element),
        cmocka_unit_test(ser_round_trip),
        cmocka_unit_test(ser_escape_api),
        cmocka_unit_test(utf8_validator_cases),
        cmocka_unit_test(parser_normal_stream),
        cmocka_unit_test(parser_chunking_does_not_matter),
        cmocka_unit_test(parser_nested_namespaces),
        cmocka_unit_test(parser_restricted_xml),
        cmocka_unit_test(parser_restricted_keeps_earlier_stanzas),
        cmocka_unit_test(parser_depth_limit),
        cmocka_unit_test(parser_attr_limit),
        cmocka_unit_test(parser_stanza_size_exact),
        cmocka_unit_test(parser_stanza_size_unfinished_start_tag),
        cmocka_unit_test(parser_stream_header_limit),
        cmocka_unit_test(parser_limit_before_later_error),
        cmocka_unit_test(parser_whitespace_keepalives),
        cmocka_unit_test(parser_set_limits_mid_stream),
        cmocka_unit_test(parser_invalid_utf8),
        cmocka_unit_test(parser_utf8_split_across_feeds),
        cmocka_unit_test(parser_encoding_declaration),
        cmocka_unit_test(parser_stream_namespace_and_prefix),
        cmocka_unit_test(parser_stream_without_default_ns),
        cmocka_unit_test(parser_top_level_text_and_garbage),
        cmocka_unit_test(parser_empty_stream),
    };

    return cmocka_run_group_tests_name("xml", tests, NULL, NULL);
}
