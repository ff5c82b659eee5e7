/*
 * parser.h: the XML stream parser (expat), restricted to XMPP's subset
 * (RFC 6120 section 11): no DOCTYPE, DTD, entity declarations, comments or
 * processing instructions; UTF-8 only.  It never dispatches: it turns bytes
 * into a FIFO of events that the session drains outside expat.
 */
#ifndef XMPPD_XML_PARSER_H
#define XMPPD_XML_PARSER_H

#include "xmppd/core/xs.h"
#include "xmppd/xml/elem.h"
#include "xmppd/xml/stanza.h"

struct xs_xml_limits {
    size_t max_stanza;      /* bytes of one top-level element, open to close */
    size_t max_depth;       /* element depth inside a stanza (stream = 0) */
    size_t max_attrs;       /* attributes on one element */
};

enum xs_xml_ev_type {
    XS_XEV_OPEN,            /* <stream:stream ...>: el holds its attributes */
    XS_XEV_ELEM,            /* a complete top-level element */
    XS_XEV_CLOSE,           /* </stream:stream> */
};

struct xs_xml_ev {
    enum xs_xml_ev_type type;
    struct xs_elem     *el;     /* owned by the receiver; NULL for CLOSE */
};

struct xs_xml;

struct xs_xml *xs_xml_new(const struct xs_xml_limits *lim);
void           xs_xml_free(struct xs_xml *x);      /* frees queued events */

/* Change limits mid-stream (the larger post-authentication stanza size). */
void xs_xml_set_limits(struct xs_xml *x, const struct xs_xml_limits *lim);

/*
 * Feed bytes.  Completed events go on the parser's FIFO.  Returns
 * XS_STERR_NONE, or the stream error to send; after an error the parser is
 * dead and every later feed returns the same error.  Mapping:
 * bad XML -> not-well-formed; DOCTYPE/comment/PI/entity -> restricted-xml;
 * invalid UTF-8 or a non-UTF-8 encoding -> unsupported-encoding;
 * too deep, too many attributes, too large -> policy-violation;
 * a root that is not <stream> in the streams namespace -> invalid-namespace;
 * that root with a prefix other than "stream" -> bad-namespace-prefix;
 * non-whitespace text between stanzas -> not-well-formed.
 * Events completed before an error stay on the FIFO.  Nothing after
 * </stream:stream> is read.  parser.c has the complete mapping.
 */
enum xs_stream_err xs_xml_feed(struct xs_xml *x, const char *data, size_t len);

/* Pop the oldest event; false when the FIFO is empty. */
bool   xs_xml_pop(struct xs_xml *x, struct xs_xml_ev *ev);
size_t xs_xml_pending(const struct xs_xml *x);

#endif
