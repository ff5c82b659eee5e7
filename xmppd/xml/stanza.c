/*
 * stanza.c: refcounted stanzas, error conditions and their builders.
 */
#include "xmppd/xml/stanza.h"

#include <string.h>

#include <event2/buffer.h>
#include <sodium.h>

struct stanza_cond {
    const char *name;
    const char *type;
};

/* RFC 6120 section 8.3.3, with the default type of each condition. */
static const struct stanza_cond stanza_conds[XS_SERR__COUNT] = {
    [XS_SERR_NONE] = { "undefined-condition", "cancel" },
    [XS_SERR_BAD_REQUEST] = { "bad-request", "modify" },
    [XS_SERR_CONFLICT] = { "conflict", "cancel" },
    [XS_SERR_FEATURE_NOT_IMPLEMENTED] = { "feature-not-implemented",
                                          "cancel" },
    [XS_SERR_FORBIDDEN] = { "forbidden", "auth" },
    [XS_SERR_GONE] = { "gone", "cancel" },
    [XS_SERR_INTERNAL_SERVER_ERROR] = { "internal-server-error", "cancel" },
    [XS_SERR_ITEM_NOT_FOUND] = { "item-not-found", "cancel" },
    [XS_SERR_JID_MALFORMED] = { "jid-malformed", "modify" },
    [XS_SERR_NOT_ACCEPTABLE] = { "not-acceptable", "modify" },
    [XS_SERR_NOT_ALLOWED] = { "not-allowed", "cancel" },
    [XS_SERR_NOT_AUTHORIZED] = { "not-authorized", "auth" },
    [XS_SERR_POLICY_VIOLATION] = { "policy-violation", "modify" },
    [XS_SERR_RECIPIENT_UNAVAILABLE] = { "recipient-unavailable", "wait" },
    [XS_SERR_REDIRECT] = { "redirect", "modify" },
    [XS_SERR_REGISTRATION_REQUIRED] = { "registration-required", "auth" },
    [XS_SERR_REMOTE_SERVER_NOT_FOUND] = { "remote-server-not-found",
                                          "cancel" },
    [XS_SERR_REMOTE_SERVER_TIMEOUT] = { "remote-server-timeout", "wait" },
    [XS_SERR_RESOURCE_CONSTRAINT] = { "resource-constraint", "wait" },
    [XS_SERR_SERVICE_UNAVAILABLE] = { "service-unavailable", "cancel" },
    [XS_SERR_SUBSCRIPTION_REQUIRED] = { "subscription-required", "auth" },
    [XS_SERR_UNDEFINED_CONDITION] = { "undefined-condition", "cancel" },
    [XS_SERR_UNEXPECTED_REQUEST] = { "unexpected-request", "wait" },
};

/* RFC 6120 section 4.9.3. */
static const char *const stream_conds[XS_STERR__COUNT] = {
    [XS_STERR_NONE] = "undefined-condition",
    [XS_STERR_BAD_FORMAT] = "bad-format",
    [XS_STERR_BAD_NAMESPACE_PREFIX] = "bad-namespace-prefix",
    [XS_STERR_CONFLICT] = "conflict",
    [XS_STERR_CONNECTION_TIMEOUT] = "connection-timeout",
    [XS_STERR_HOST_GONE] = "host-gone",
    [XS_STERR_HOST_UNKNOWN] = "host-unknown",
    [XS_STERR_IMPROPER_ADDRESSING] = "improper-addressing",
    [XS_STERR_INTERNAL_SERVER_ERROR] = "internal-server-error",
    [XS_STERR_INVALID_FROM] = "invalid-from",
    [XS_STERR_INVALID_NAMESPACE] = "invalid-namespace",
    [XS_STERR_INVALID_XML] = "invalid-xml",
    [XS_STERR_NOT_AUTHORIZED] = "not-authorized",
    [XS_STERR_NOT_WELL_FORMED] = "not-well-formed",
    [XS_STERR_POLICY_VIOLATION] = "policy-violation",
    [XS_STERR_REMOTE_CONNECTION_FAILED] = "remote-connection-failed",
    [XS_STERR_RESET] = "reset",
    [XS_STERR_RESOURCE_CONSTRAINT] = "resource-constraint",
    [XS_STERR_RESTRICTED_XML] = "restricted-xml",
    [XS_STERR_SEE_OTHER_HOST] = "see-other-host",
    [XS_STERR_SYSTEM_SHUTDOWN] = "system-shutdown",
    [XS_STERR_UNDEFINED_CONDITION] = "undefined-condition",
    [XS_STERR_UNSUPPORTED_ENCODING] = "unsupported-encoding",
    [XS_STERR_UNSUPPORTED_FEATURE] = "unsupported-feature",
    [XS_STERR_UNSUPPORTED_STANZA_TYPE] = "unsupported-stanza-type",
    [XS_STERR_UNSUPPORTED_VERSION] = "unsupported-version",
};

/* NONE and out-of-range values give undefined-condition, never NULL. */
static const struct stanza_cond *
stanza_cond(enum xs_stanza_err e)
{
    if ((unsigned)e >= XS_SERR__COUNT || e == XS_SERR_NONE)
        e = XS_SERR_UNDEFINED_CONDITION;
    return &stanza_conds[e];
}

const char *
xs_stanza_err_name(enum xs_stanza_err e)
{
    return stanza_cond(e)->name;
}

const char *
xs_stanza_err_type(enum xs_stanza_err e)
{
    return stanza_cond(e)->type;
}

const char *
xs_stream_err_name(enum xs_stream_err e)
{
    if ((unsigned)e >= XS_STERR__COUNT)
        e = XS_STERR_UNDEFINED_CONDITION;
    return stream_conds[e];
}

/* ---- stanzas -------------------------------------------------------- */

static bool
stanza_ns_ok(const char *ns)
{
    /* NULL: built by code, takes the stream's namespace when written. */
    return ns == NULL || strcmp(ns, XS_NS_CLIENT) == 0 ||
        strcmp(ns, XS_NS_SERVER) == 0 ||
        strcmp(ns, "jabber:component:accept") == 0;
}

static enum xs_kind
stanza_kind(const struct xs_elem *el)
{
    if (el->type != XS_NODE_ELEM || !stanza_ns_ok(el->ns))
        return XS_K_NONE;
    if (strcmp(el->name, "message") == 0)
        return XS_K_MESSAGE;
    if (strcmp(el->name, "presence") == 0)
        return XS_K_PRESENCE;
    if (strcmp(el->name, "iq") == 0)
        return XS_K_IQ;
    return XS_K_NONE;
}

struct xs_stanza *
xs_stanza_new(struct xs_elem *el)
{
    struct xs_stanza *st = xs_calloc(1, sizeof(*st));

    xs_assert(el != NULL);
    st->refs = 1;
    st->el = el;
    st->kind = stanza_kind(el);
    return st;
}

struct xs_stanza *
xs_stanza_ref(struct xs_stanza *st)
{
    xs_assert(st->refs > 0);
    st->refs++;
    return st;
}

void
xs_stanza_unref(struct xs_stanza *st)
{
    if (st == NULL)
        return;
    xs_assert(st->refs > 0);
    if (--st->refs > 0)
        return;
    xs_elem_free(st->el);
    xs_free(st);
}

const char *
xs_stanza_attr(const struct xs_stanza *st, const char *name)
{
    return xs_elem_attr(st->el, name);
}

bool
xs_stanza_type_is(const struct xs_stanza *st, const char *type)
{
    const char *t = xs_elem_attr(st->el, "type");

    if (t == NULL)  /* RFC 6121 5.2.2: a message without type is normal */
        return st->kind == XS_K_MESSAGE && strcmp(type, "normal") == 0;
    return strcmp(t, type) == 0;
}

bool
xs_stanza_may_bounce(const struct xs_stanza *st)
{
    if (st->kind == XS_K_NONE || xs_stanza_type_is(st, "error"))
        return false;
    if (st->kind == XS_K_IQ && xs_stanza_type_is(st, "result"))
        return false;
    return true;
}

/* Sets to/from on reply from the original's from/to; absent stays absent. */
static void
stanza_swap_addresses(struct xs_elem *reply, const struct xs_elem *orig)
{
    xs_elem_set_attr(reply, "to", xs_elem_attr(orig, "from"));
    xs_elem_set_attr(reply, "from", xs_elem_attr(orig, "to"));
}

struct xs_stanza *
xs_stanza_error_reply_text(const struct xs_stanza *st,
    enum xs_stanza_err err, const char *text)
{
    const struct stanza_cond *c = stanza_cond(err);
    struct xs_elem *el, *e;

    el = xs_elem_copy(st->el);
    stanza_swap_addresses(el, st->el);
    xs_elem_set_attr(el, "type", "error");
    e = xs_elem_add_child(el, NULL, "error");
    xs_elem_set_attr(e, "type", c->type);
    xs_elem_add_child(e, XS_NS_STANZAS, c->name);
    if (text != NULL) {
        struct xs_elem *t = xs_elem_add_child(e, XS_NS_STANZAS, "text");

        xs_elem_set_attr(t, "xml:lang", "en");
        xs_elem_add_text(t, text, strlen(text));
    }
    return xs_stanza_new(el);
}

struct xs_stanza *
xs_stanza_error_reply(const struct xs_stanza *st, enum xs_stanza_err err)
{
    return xs_stanza_error_reply_text(st, err, NULL);
}

struct xs_stanza *
xs_stanza_iq_result(const struct xs_stanza *st)
{
    struct xs_elem *el = xs_elem_new(st->el->ns, st->el->name);
    const char *id = xs_elem_attr(st->el, "id");

    xs_elem_set_attr(el, "type", "result");
    if (id != NULL)
        xs_elem_set_attr(el, "id", id);
    stanza_swap_addresses(el, st->el);
    return xs_stanza_new(el);
}

char *
xs_stream_error_xml(enum xs_stream_err e, const char *text)
{
    struct evbuffer *b = evbuffer_new();
    struct xs_elem *cond;

    if (b == NULL)
        xs_assert_fail("evbuffer_new", __FILE__, __LINE__);
    if (e == XS_STERR_NONE)
        e = XS_STERR_UNDEFINED_CONDITION;
    /* The stream header declares the "stream" prefix; the children carry
     * their own namespace whatever the stream's default one is. */
    evbuffer_add(b, "<stream:error>", 14);
    cond = xs_elem_new(XS_NS_STREAM_ERR, xs_stream_err_name(e));
    xs_elem_serialize(cond, NULL, b);
    xs_elem_free(cond);
    if (text != NULL) {
        evbuffer_add(b, "<text xmlns='" XS_NS_STREAM_ERR "'>",
            strlen("<text xmlns='" XS_NS_STREAM_ERR "'>"));
        xs_xml_escape(b, text, strlen(text), false);
        evbuffer_add(b, "</text>", 7);
    }
    evbuffer_add(b, "</stream:error>", 15);
    return xs_evbuffer_take_string(b);
}

void
xs_random_id(char out[33])
{
    unsigned char raw[16];

    randombytes_buf(raw, sizeof(raw));
    sodium_bin2hex(out, 33, raw, sizeof(raw));
}
