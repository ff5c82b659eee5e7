/*
 * offline_msg.c: which messages offline storage keeps, the XEP-0203 delay
 * it adds, and reading a stored message back (offline_msg.h).
 */
#include "xmppd/im/offline_msg.h"

#include "xmppd/xml/parser.h"

#include <string.h>
#include <strings.h>
#include <time.h>

#define NS_EVENT        "jabber:x:event"        /* XEP-0022, legacy */
#define NS_LEGACY_DELAY "jabber:x:delay"        /* XEP-0091, legacy */

/* Stored text is ours and was checked against the configured limits when
 * it arrived: parse it with the largest limits the configuration allows. */
#define OFFLINE_PARSE_DEPTH 1025
#define OFFLINE_PARSE_ATTRS 1100
#define OFFLINE_PARSE_HEADER \
    "<stream:stream xmlns='jabber:client'" \
    " xmlns:stream='http://etherx.jabber.org/streams'>"

static bool
offline_ns_ignorable(const char *ns)
{
    return strcmp(ns, XS_NS_CHATSTATES) == 0 || strcmp(ns, XS_NS_DELAY) == 0
        || strcmp(ns, XS_NS_HINTS) == 0 || strcmp(ns, NS_EVENT) == 0
        || strcmp(ns, NS_LEGACY_DELAY) == 0;
}

enum xs_offline_class
xs_offline_classify(const struct xs_elem *msg)
{
    bool has_content = false, has_store = false, has_no_store = false;

    for (const struct xs_elem *c = xs_elem_first_elem(msg); c != NULL;
        c = xs_elem_next_elem(c)) {
        const char *ns = c->ns != NULL ? c->ns : "";

        if (strcmp(ns, XS_NS_HINTS) == 0) {
            if (strcmp(c->name, "store") == 0)
                has_store = true;
            else if (strcmp(c->name, "no-store") == 0)
                has_no_store = true;
        } else if (msg->ns != NULL && strcmp(ns, msg->ns) == 0 &&
            strcmp(c->name, "thread") == 0) {
            continue;           /* a thread alone says nothing */
        } else if (!offline_ns_ignorable(ns)) {
            has_content = true; /* body, subject, receipts, payloads */
        }
    }
    /* XEP-0334 section 4: <store/> wins over everything (also a
     * contradictory <no-store/>). */
    if (has_store)
        return XS_OFFLINE_KEEP;
    if (has_no_store)
        return XS_OFFLINE_REFUSE;
    return has_content ? XS_OFFLINE_KEEP : XS_OFFLINE_DISCARD;
}

bool
xs_offline_add_delay(struct xs_elem *msg, const char *domain, int64_t wall_s)
{
    time_t t = (time_t)wall_s;
    struct xs_elem *d;
    char stamp[32];
    struct tm tm;

    for (const struct xs_elem *c = xs_elem_first_elem(msg); c != NULL;
        c = xs_elem_next_elem(c)) {
        const char *from = xs_elem_attr(c, "from");

        if (c->ns != NULL && strcmp(c->ns, XS_NS_DELAY) == 0 &&
            strcmp(c->name, "delay") == 0 && from != NULL &&
            strcasecmp(from, domain) == 0)
            return false;
    }
    if (gmtime_r(&t, &tm) == NULL ||
        strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        xs_assert(!"a wall clock time that strftime cannot write");
    d = xs_elem_add_child(msg, XS_NS_DELAY, "delay");
    xs_elem_set_attr(d, "from", domain);
    xs_elem_set_attr(d, "stamp", stamp);
    xs_elem_add_text(d, "Offline Storage", strlen("Offline Storage"));
    return true;
}

xs_rc
xs_offline_parse(const char *text, size_t len, struct xs_stanza **out)
{
    struct xs_xml_limits lim = {
        .max_stanza = len + 4096, .max_depth = OFFLINE_PARSE_DEPTH,
        .max_attrs = OFFLINE_PARSE_ATTRS,
    };
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_elem *el = NULL;
    struct xs_stanza *st;
    struct xs_xml_ev ev;
    size_t nelems = 0;
    xs_rc rc = XS_EINVAL;

    *out = NULL;
    if (xs_xml_feed(x, OFFLINE_PARSE_HEADER,
            strlen(OFFLINE_PARSE_HEADER)) != XS_STERR_NONE ||
        xs_xml_feed(x, text, len) != XS_STERR_NONE)
        goto fail;
    while (xs_xml_pop(x, &ev)) {
        if (ev.type == XS_XEV_ELEM && nelems++ == 0) {
            el = ev.el;
            continue;
        }
        xs_elem_free(ev.el);    /* the header, or an element too many */
    }
    if (el == NULL || nelems != 1 || strcmp(el->name, "message") != 0)
        goto fail;
    st = xs_stanza_new(el);
    el = NULL;
    if (st->kind != XS_K_MESSAGE) {
        xs_stanza_unref(st);
        goto fail;
    }
    *out = st;
    rc = XS_OK;
fail:
    xs_elem_free(el);
    xs_xml_free(x);
    return rc;
}
