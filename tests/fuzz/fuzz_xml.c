/*
 * tests/fuzz/fuzz_xml.c: the stream parser and the serializer.
 *
 * Differential: the input is parsed fed whole and fed in small chunks (the
 * chunk size comes from the input length); both must give the same events
 * and the same stream error, as a socket may cut a stream anywhere.  Every
 * element is serialized, and what we write must parse back to itself.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xmppd/xml/elem.h"
#include "xmppd/xml/parser.h"
#include "xmppd/xml/stanza.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct xs_xml_limits fuzz_lim = {
    .max_stanza = 2048, .max_depth = 16, .max_attrs = 16,
};

#define FUZZ_HDR "<stream:stream xmlns='jabber:client' " \
                 "xmlns:stream='http://etherx.jabber.org/streams'>"

struct fuzz_log {
    char  *s;       /* owned */
    size_t len;
};

static void
log_put(struct fuzz_log *l, const char *s, size_t n)
{
    l->s = xs_realloc(l->s, l->len + n + 1);
    memcpy(l->s + l->len, s, n);
    l->len += n;
    l->s[l->len] = '\0';
}

/* A serialized element parses back to the same serialization. */
static void
check_round_trip(const char *ser)
{
    struct xs_xml *x = xs_xml_new(&fuzz_lim);
    struct xs_xml_limits big = { 1u << 20, 64, 64 };
    struct xs_xml_ev ev;
    char *again;

    xs_xml_set_limits(x, &big);
    if (xs_xml_feed(x, FUZZ_HDR, strlen(FUZZ_HDR)) != XS_STERR_NONE ||
        xs_xml_feed(x, ser, strlen(ser)) != XS_STERR_NONE)
        abort();
    if (!xs_xml_pop(x, &ev) || ev.type != XS_XEV_OPEN)
        abort();
    xs_elem_free(ev.el);
    if (!xs_xml_pop(x, &ev) || ev.type != XS_XEV_ELEM)
        abort();
    again = xs_elem_to_string(ev.el, XS_NS_CLIENT);
    if (strcmp(again, ser) != 0)
        abort();
    xs_free(again);
    xs_elem_free(ev.el);
    xs_xml_free(x);
}

static void
drain(struct xs_xml *x, struct fuzz_log *l, int check)
{
    struct xs_xml_ev ev;

    while (xs_xml_pop(x, &ev)) {
        char *s;

        if (ev.type == XS_XEV_CLOSE) {
            log_put(l, "C\n", 2);
            continue;
        }
        s = xs_elem_to_string(ev.el, XS_NS_CLIENT);
        log_put(l, ev.type == XS_XEV_OPEN ? "O" : "E", 1);
        log_put(l, s, strlen(s));
        log_put(l, "\n", 1);
        if (check && ev.type == XS_XEV_ELEM)
            check_round_trip(s);
        xs_free(s);
        xs_elem_free(ev.el);
    }
}

static enum xs_stream_err
parse(const uint8_t *data, size_t size, size_t chunk, struct fuzz_log *l,
    int check)
{
    struct xs_xml *x = xs_xml_new(&fuzz_lim);
    enum xs_stream_err err = XS_STERR_NONE;

    for (size_t off = 0; off < size && err == XS_STERR_NONE; off += chunk) {
        size_t n = (size - off < chunk) ? size - off : chunk;

        err = xs_xml_feed(x, (const char *)data + off, n);
        drain(x, l, check);
    }
    xs_xml_free(x);
    return err;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_log whole = { 0 }, parts = { 0 };
    enum xs_stream_err e1, e2;

    e1 = parse(data, size, size ? size : 1, &whole, 1);
    e2 = parse(data, size, 1 + size % 5, &parts, 0);
    if (e1 != e2 || whole.len != parts.len ||
        (whole.len > 0 && memcmp(whole.s, parts.s, whole.len) != 0))
        abort();
    xs_free(whole.s);
    xs_free(parts.s);
    return 0;
}
