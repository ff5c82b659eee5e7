/*
 * parser.c: the XMPP stream parser on expat.
 *
 * Expat runs with namespace processing and triplets, so that every name
 * arrives as "uri SEP local SEP prefix".  SEP is U+0001: XML 1.0 forbids
 * that character anywhere in a document, even as a character reference
 * (&#1; is a well-formedness error), so it cannot occur in a namespace URI,
 * a local name or a prefix, and splitting at it is never ambiguous.  '|'
 * would not be safe: it is legal in a namespace name.
 *
 * Stream errors (RFC 6120 section 4.9.3), first reason wins:
 *   stream root in another namespace, or not named "stream"
 *                                            -> invalid-namespace
 *   stream root with a prefix other than "stream" (or none)
 *                                            -> bad-namespace-prefix
 *   DOCTYPE, comment, PI, entity or notation declaration, a reference to
 *   an entity that is not one of the five predefined ones (RFC 6120 11.1
 *   lists it), expat's amplification limit  -> restricted-xml
 *   invalid UTF-8 (checked here, before expat sees the bytes), or an XML
 *   declaration naming another encoding    -> unsupported-encoding
 *   an element deeper than max_depth, more than max_attrs attributes plus
 *   namespace declarations on one element, a stanza larger than
 *   max_stanza (counted from its '<', while its start tag is still being
 *   buffered too), more than max_stanza bytes of whitespace between two
 *   stanzas, a stream header larger than min(4 KiB, max_stanza)
 *                                            -> policy-violation
 *   non-whitespace text directly inside the stream -> not-well-formed
 *   (bad-format would describe it as well, but expat reports some such
 *   text itself, e.g. "x]]>", without handing us the text first when it
 *   arrives in one piece: the same condition keeps the outcome independent
 *   of chunking)
 *   out of memory inside expat               -> resource-constraint
 *   a NUL byte (checked here, like UTF-8), any other XML error
 *                                            -> not-well-formed
 *
 * All limits are checked at positions in the byte stream, inside the
 * handlers and after each feed, so feeding a stream byte by byte or all at
 * once gives the same events and the same error.
 */
#include "xmppd/xml/parser.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <expat.h>

#define XML_NS_SEP      '\x01'
#define XML_NS_XML      "http://www.w3.org/XML/1998/namespace"
#define XML_HEADER_MAX  4096u           /* bytes up to the end of <stream> */
#define XML_CHUNK_MAX   (1u << 30)      /* XML_Parse takes an int length */

struct xml_ev {
    struct xml_ev      *next;           /* owned */
    enum xs_xml_ev_type type;
    struct xs_elem     *el;             /* owned until popped */
};

struct xs_xml {
    XML_Parser           parser;        /* owned */
    struct xs_xml_limits lim;
    enum xs_stream_err   err;           /* set once; the parser is dead */
    bool                 has_root;      /* the stream header was accepted */
    bool                 closed;        /* </stream:stream> was seen */
    size_t               depth;         /* open elements, the stream included */
    size_t               ndecls;        /* ns declarations of the next start */
    struct xs_attr      *rdecls;        /* owned: the stream header's xmlns */
    size_t               nrdecls;
    struct xs_elem      *top;           /* owned: the stanza being built */
    struct xs_elem      *cur;           /* borrowed: its innermost open elem */
    char                *text;          /* owned: char data not yet in cur */
    size_t               text_len;
    size_t               text_cap;
    uint64_t             fed;           /* bytes handed to expat so far */
    uint64_t             unit_start;    /* stream offset: stanza '<' or gap */
    uint64_t             gap_end;       /* end of the last top-level text */
    struct xs_utf8       utf8;
    struct xml_ev       *head;          /* owned: the event FIFO */
    struct xml_ev       *tail;          /* borrowed */
    size_t               npending;
};

/* A name from expat, split at the separators; pointers into expat's name. */
struct xml_qname {
    const char *uri;        /* NULL: no namespace */
    size_t      uri_len;
    const char *local;
    size_t      local_len;
    const char *prefix;     /* NULL: unprefixed */
};

static void
xml_split(const char *name, struct xml_qname *q)
{
    const char *s1 = strchr(name, XML_NS_SEP), *s2;

    if (s1 == NULL) {
        q->uri = NULL;
        q->uri_len = 0;
        q->local = name;
        q->local_len = strlen(name);
        q->prefix = NULL;
        return;
    }
    q->uri = name;
    q->uri_len = (size_t)(s1 - name);
    q->local = s1 + 1;
    s2 = strchr(q->local, XML_NS_SEP);
    if (s2 != NULL) {
        q->local_len = (size_t)(s2 - q->local);
        q->prefix = s2 + 1;
    } else {
        q->local_len = strlen(q->local);
        q->prefix = NULL;
    }
}

static bool
xml_qname_uri_is(const struct xml_qname *q, const char *uri)
{
    return q->uri != NULL && q->uri_len == strlen(uri) &&
        memcmp(q->uri, uri, q->uri_len) == 0;
}

static bool
xml_is_dead(const struct xs_xml *x)
{
    return x->err != XS_STERR_NONE || x->closed;
}

static void
xml_abort(struct xs_xml *x, enum xs_stream_err why)
{
    if (x->err == XS_STERR_NONE)
        x->err = why;                       /* first reason wins */
    XML_StopParser(x->parser, XML_FALSE);   /* XML_Parse() then fails */
}

/* Stream offset where the current expat event ends. */
static uint64_t
xml_pos_end(const struct xs_xml *x)
{
    XML_Index i = XML_GetCurrentByteIndex(x->parser);
    int c = XML_GetCurrentByteCount(x->parser);

    if (i < 0)
        return x->fed;
    return (uint64_t)i + (uint64_t)(c > 0 ? c : 0);
}

static uint64_t
xml_pos_start(const struct xs_xml *x)
{
    XML_Index i = XML_GetCurrentByteIndex(x->parser);

    return (i < 0) ? x->fed : (uint64_t)i;
}

static uint64_t
xml_header_max(const struct xs_xml *x)
{
    return x->lim.max_stanza < XML_HEADER_MAX ? x->lim.max_stanza
                                              : XML_HEADER_MAX;
}

static bool
xml_too_big(const struct xs_xml *x, uint64_t from, uint64_t to)
{
    return to > from && to - from > x->lim.max_stanza;
}

static void
xml_push(struct xs_xml *x, enum xs_xml_ev_type type, struct xs_elem *el)
{
    struct xml_ev *ev = xs_calloc(1, sizeof(*ev));

    ev->type = type;
    ev->el = el;
    if (x->tail != NULL)
        x->tail->next = ev;
    else
        x->head = ev;
    x->tail = ev;
    x->npending++;
}

static void
xml_attr_add(struct xs_attr *attrs, size_t *n, char *name, char *value)
{
    attrs[*n].name = name;
    attrs[*n].value = value;
    (*n)++;
}

static bool
xml_attr_has(const struct xs_attr *attrs, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(attrs[i].name, name) == 0)
            return true;
    }
    return false;
}

/*
 * An element from expat's start event.  A namespaced attribute keeps its
 * prefixed name; for a prefix other than "xml" the element also gets an
 * "xmlns:prefix" attribute, so that the serializer writes a document in
 * which that prefix is declared.  room_extra leaves space for more.
 */
static struct xs_elem *
xml_elem_build(const struct xml_qname *q, const char **atts, size_t natts,
    size_t room_extra)
{
    struct xs_elem *el = xs_calloc(1, sizeof(*el));
    size_t n = 0;

    el->type = XS_NODE_ELEM;
    el->name = xs_strndup(q->local, q->local_len);
    el->ns = (q->uri != NULL) ? xs_strndup(q->uri, q->uri_len) : xs_strdup("");
    if (natts + room_extra == 0)
        return el;
    /* At most two entries per attribute: itself and its prefix's xmlns. */
    el->attrs = xs_reallocarray(NULL, 2 * natts + room_extra,
        sizeof(el->attrs[0]));
    for (size_t i = 0; i < natts; i++) {
        struct xml_qname a;
        char *decl;

        xml_split(atts[2 * i], &a);
        if (a.uri == NULL || a.prefix == NULL) {
            xml_attr_add(el->attrs, &n, xs_strndup(a.local, a.local_len),
                xs_strdup(atts[2 * i + 1]));
            continue;
        }
        xml_attr_add(el->attrs, &n, xs_asprintf("%s:%.*s", a.prefix,
            (int)a.local_len, a.local), xs_strdup(atts[2 * i + 1]));
        if (xml_qname_uri_is(&a, XML_NS_XML))
            continue;
        decl = xs_asprintf("xmlns:%s", a.prefix);
        if (xml_attr_has(el->attrs, n, decl)) {
            xs_free(decl);
            continue;
        }
        xml_attr_add(el->attrs, &n, decl, xs_strndup(a.uri, a.uri_len));
    }
    el->nattrs = n;
    return el;
}

static void
xml_rdecls_free(struct xs_xml *x)
{
    for (size_t i = 0; i < x->nrdecls; i++) {
        xs_free(x->rdecls[i].name);
        xs_free(x->rdecls[i].value);
    }
    xs_free(x->rdecls);
    x->rdecls = NULL;
    x->nrdecls = 0;
}

/* Moves pending character data into the element it belongs to. */
static void
xml_text_flush(struct xs_xml *x)
{
    if (x->text_len > 0 && x->cur != NULL)
        xs_elem_add_text(x->cur, x->text, x->text_len);
    x->text_len = 0;
}

/* ---- handlers ------------------------------------------------------- */

static void
xml_root_start(struct xs_xml *x, const char *name, const char **atts,
    size_t natts)
{
    struct xml_qname q;
    struct xs_elem *el;
    uint64_t end = xml_pos_end(x);

    if (end > xml_header_max(x)) {
        xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    xml_split(name, &q);
    if (!xml_qname_uri_is(&q, XS_NS_STREAMS) || q.local_len != 6 ||
        memcmp(q.local, "stream", 6) != 0) {
        xml_abort(x, XS_STERR_INVALID_NAMESPACE);
        return;
    }
    if (q.prefix == NULL || strcmp(q.prefix, "stream") != 0) {
        xml_abort(x, XS_STERR_BAD_NAMESPACE_PREFIX);
        return;
    }
    el = xml_elem_build(&q, atts, natts, x->nrdecls);
    /* The declarations (xmlns='jabber:client', xmlns:db=...) as attributes:
     * the stream layer checks the content namespace and dialback. */
    for (size_t i = 0; i < x->nrdecls; i++) {
        if (xml_attr_has(el->attrs, el->nattrs, x->rdecls[i].name))
            continue;
        xml_attr_add(el->attrs, &el->nattrs, x->rdecls[i].name,
            x->rdecls[i].value);
        x->rdecls[i].name = x->rdecls[i].value = NULL;
    }
    xml_rdecls_free(x);
    xml_push(x, XS_XEV_OPEN, el);
    x->has_root = true;
    x->depth = 1;
    x->unit_start = x->gap_end = end;
}

static void XMLCALL
xml_on_start(void *ud, const XML_Char *name, const XML_Char **atts)
{
    struct xs_xml *x = ud;
    struct xml_qname q;
    struct xs_elem *el;
    size_t natts = 0, ndecls;
    uint64_t end;

    if (xml_is_dead(x))
        return;
    while (atts[2 * natts] != NULL)
        natts++;
    ndecls = x->ndecls;
    x->ndecls = 0;
    if (natts + ndecls > x->lim.max_attrs) {
        xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    if (!x->has_root) {
        xml_root_start(x, name, atts, natts);
        return;
    }
    if (x->depth > x->lim.max_depth) {      /* this element's depth */
        xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    end = xml_pos_end(x);
    if (x->depth == 1)
        x->unit_start = xml_pos_start(x);   /* a stanza starts at its '<' */
    if (xml_too_big(x, x->unit_start, end)) {
        xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    xml_split(name, &q);
    el = xml_elem_build(&q, atts, natts, 0);
    if (x->top == NULL) {
        x->top = el;
    } else {
        xml_text_flush(x);
        xs_elem_append(x->cur, el);
    }
    x->cur = el;
    x->depth++;
}

static void XMLCALL
xml_on_end(void *ud, const XML_Char *name)
{
    struct xs_xml *x = ud;
    uint64_t end;

    (void)name;
    if (xml_is_dead(x))
        return;
    if (x->depth == 1) {
        /* </stream:stream>: nothing after it is read. */
        x->depth = 0;
        x->closed = true;
        xml_push(x, XS_XEV_CLOSE, NULL);
        XML_StopParser(x->parser, XML_FALSE);
        return;
    }
    end = xml_pos_end(x);
    if (xml_too_big(x, x->unit_start, end)) {
        xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    xml_text_flush(x);
    x->depth--;
    if (x->depth > 1) {
        x->cur = x->cur->parent;
        return;
    }
    xml_push(x, XS_XEV_ELEM, x->top);
    x->top = x->cur = NULL;
    x->unit_start = x->gap_end = end;
}

static bool
xml_is_space(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r')
            return false;
    }
    return true;
}

static void XMLCALL
xml_on_text(void *ud, const XML_Char *s, int len)
{
    struct xs_xml *x = ud;
    uint64_t end;
    size_t n = (size_t)len;

    if (xml_is_dead(x) || len <= 0)
        return;
    end = xml_pos_end(x);
    if (x->depth <= 1) {
        /* Between stanzas: whitespace keepalives, counted and dropped. */
        if (!xml_is_space(s, n)) {
            xml_abort(x, XS_STERR_NOT_WELL_FORMED);
            return;
        }
        x->gap_end = end;
        if (xml_too_big(x, x->unit_start, end))
            xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    if (xml_too_big(x, x->unit_start, end)) {
        xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    if (n > x->text_cap - x->text_len) {
        size_t cap = x->text_cap ? x->text_cap : 256;
        char *t;

        while (cap - x->text_len < n)
            cap *= 2;
        t = realloc(x->text, cap);      /* peer-driven size: may fail */
        if (t == NULL) {
            xml_abort(x, XS_STERR_RESOURCE_CONSTRAINT);
            return;
        }
        x->text = t;
        x->text_cap = cap;
    }
    memcpy(x->text + x->text_len, s, n);
    x->text_len += n;
}

static void XMLCALL
xml_on_ns_start(void *ud, const XML_Char *prefix, const XML_Char *uri)
{
    struct xs_xml *x = ud;
    struct xs_attr *a;

    if (xml_is_dead(x))
        return;
    /* Declarations count as attributes: a flood of them costs the same. */
    if (++x->ndecls > x->lim.max_attrs) {
        xml_abort(x, XS_STERR_POLICY_VIOLATION);
        return;
    }
    if (x->has_root)
        return;                 /* inside the stream expat resolves them */
    x->rdecls = xs_reallocarray(x->rdecls, x->nrdecls + 1,
        sizeof(x->rdecls[0]));
    a = &x->rdecls[x->nrdecls++];
    a->name = (prefix != NULL) ? xs_asprintf("xmlns:%s", prefix)
                               : xs_strdup("xmlns");
    a->value = xs_strdup(uri != NULL ? uri : "");
}

static void XMLCALL
xml_on_decl(void *ud, const XML_Char *version, const XML_Char *encoding,
    int standalone)
{
    struct xs_xml *x = ud;

    (void)version, (void)standalone;
    /* The parser was created for UTF-8, which overrides the declaration:
     * a peer that declares anything else is refused, not misread. */
    if (encoding != NULL && strcasecmp(encoding, "UTF-8") != 0)
        xml_abort(x, XS_STERR_UNSUPPORTED_ENCODING);
}

/* RFC 6120 section 11.1: no DTD, comments, PIs or entity declarations. */
static void XMLCALL
xml_no_doctype(void *ud, const XML_Char *name, const XML_Char *sysid,
    const XML_Char *pubid, int has_internal_subset)
{
    (void)name, (void)sysid, (void)pubid, (void)has_internal_subset;
    xml_abort(ud, XS_STERR_RESTRICTED_XML);
}

static void XMLCALL
xml_no_comment(void *ud, const XML_Char *data)
{
    (void)data;
    xml_abort(ud, XS_STERR_RESTRICTED_XML);
}

static void XMLCALL
xml_no_pi(void *ud, const XML_Char *target, const XML_Char *data)
{
    (void)target, (void)data;
    xml_abort(ud, XS_STERR_RESTRICTED_XML);
}

static void XMLCALL
xml_no_entity(void *ud, const XML_Char *name, int is_param,
    const XML_Char *value, int value_len, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid, const XML_Char *notation)
{
    (void)name, (void)is_param, (void)value, (void)value_len, (void)base;
    (void)sysid, (void)pubid, (void)notation;
    xml_abort(ud, XS_STERR_RESTRICTED_XML);
}

static void XMLCALL
xml_no_notation(void *ud, const XML_Char *name, const XML_Char *base,
    const XML_Char *sysid, const XML_Char *pubid)
{
    (void)name, (void)base, (void)sysid, (void)pubid;
    xml_abort(ud, XS_STERR_RESTRICTED_XML);
}

static void XMLCALL
xml_no_skipped(void *ud, const XML_Char *name, int is_param)
{
    (void)name, (void)is_param;
    xml_abort(ud, XS_STERR_RESTRICTED_XML);
}

static enum xs_stream_err
xml_map_error(enum XML_Error code)
{
    switch (code) {
    case XML_ERROR_NO_MEMORY:
        return XS_STERR_RESOURCE_CONSTRAINT;
    case XML_ERROR_UNKNOWN_ENCODING:
    case XML_ERROR_INCORRECT_ENCODING:
        return XS_STERR_UNSUPPORTED_ENCODING;
    case XML_ERROR_UNDEFINED_ENTITY:
    case XML_ERROR_RECURSIVE_ENTITY_REF:
    case XML_ERROR_BINARY_ENTITY_REF:
    case XML_ERROR_ATTRIBUTE_EXTERNAL_ENTITY_REF:
    case XML_ERROR_EXTERNAL_ENTITY_HANDLING:
    case XML_ERROR_PARAM_ENTITY_REF:
    case XML_ERROR_NOT_STANDALONE:
    case XML_ERROR_ENTITY_DECLARED_IN_PE:
    case XML_ERROR_FEATURE_REQUIRES_XML_DTD:
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4)
    case XML_ERROR_AMPLIFICATION_LIMIT_BREACH:
#endif
        return XS_STERR_RESTRICTED_XML;
    default:
        return XS_STERR_NOT_WELL_FORMED;
    }
}

/* ---- public --------------------------------------------------------- */

struct xs_xml *
xs_xml_new(const struct xs_xml_limits *lim)
{
    struct xs_xml *x = xs_calloc(1, sizeof(*x));

    x->lim = *lim;
    /* "UTF-8" overrides whatever the document declares; xml_on_decl
     * refuses a declaration that disagrees. */
    x->parser = XML_ParserCreateNS("UTF-8", XML_NS_SEP);
    if (x->parser == NULL)
        xs_assert_fail("XML_ParserCreateNS", __FILE__, __LINE__);
    XML_SetReturnNSTriplet(x->parser, XML_TRUE);
    XML_SetUserData(x->parser, x);
    XML_SetElementHandler(x->parser, xml_on_start, xml_on_end);
    XML_SetCharacterDataHandler(x->parser, xml_on_text);
    XML_SetStartNamespaceDeclHandler(x->parser, xml_on_ns_start);
    XML_SetXmlDeclHandler(x->parser, xml_on_decl);
    XML_SetStartDoctypeDeclHandler(x->parser, xml_no_doctype);
    XML_SetCommentHandler(x->parser, xml_no_comment);
    XML_SetProcessingInstructionHandler(x->parser, xml_no_pi);
    XML_SetEntityDeclHandler(x->parser, xml_no_entity);
    XML_SetNotationDeclHandler(x->parser, xml_no_notation);
    XML_SetSkippedEntityHandler(x->parser, xml_no_skipped);
    XML_SetParamEntityParsing(x->parser, XML_PARAM_ENTITY_PARSING_NEVER);
#if defined(XML_DTD) && (XML_MAJOR_VERSION > 2 || \
    (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 4))
    /* Belt and braces: a DOCTYPE already stops the parser. */
    XML_SetBillionLaughsAttackProtectionMaximumAmplification(x->parser,
        10.0f);
#endif
#if XML_MAJOR_VERSION > 2 || (XML_MAJOR_VERSION == 2 && XML_MINOR_VERSION >= 6)
    /* A stream must be parsed as it arrives: reparse deferral (2.6) would
     * hold a complete stanza back until more bytes come. */
    XML_SetReparseDeferralEnabled(x->parser, XML_FALSE);
#endif
    /* No XML_SetHashSalt(): expat seeds itself from the OS. */
    return x;
}

void
xs_xml_free(struct xs_xml *x)
{
    struct xml_ev *ev, *next;

    if (x == NULL)
        return;
    for (ev = x->head; ev != NULL; ev = next) {
        next = ev->next;
        xs_elem_free(ev->el);
        xs_free(ev);
    }
    xs_elem_free(x->top);
    xml_rdecls_free(x);
    free(x->text);
    XML_ParserFree(x->parser);
    xs_free(x);
}

void
xs_xml_set_limits(struct xs_xml *x, const struct xs_xml_limits *lim)
{
    x->lim = *lim;
}

/*
 * The bytes expat holds without having reported them are measured from
 * base(): the stream start before the header is accepted, the end of the
 * last top-level text or element between stanzas (an unfinished start tag),
 * the stanza's '<' inside one.  At most `limit` of them are allowed.
 */
static void
xml_budget(const struct xs_xml *x, uint64_t *base, uint64_t *limit)
{
    if (!x->has_root) {
        *base = 0;
        *limit = xml_header_max(x);
    } else if (x->depth <= 1) {
        *base = x->gap_end;
        *limit = x->lim.max_stanza;
    } else {
        *base = x->unit_start;
        *limit = x->lim.max_stanza;
    }
}

/*
 * How many bytes expat may be given now: up to the first byte that would
 * break the budget.  Feeding in such slices makes the limit fire at the
 * same byte however the input is chunked, and expat never buffers more
 * than the budget plus one byte.  The base only moves forward while expat
 * parses, so a slice never overshoots.
 */
static size_t
xml_room(const struct xs_xml *x)
{
    uint64_t base, limit, stop;

    xml_budget(x, &base, &limit);
    stop = base + limit + 1;
    if (stop <= x->fed)
        return 1;
    return (stop - x->fed > XML_CHUNK_MAX) ? XML_CHUNK_MAX
                                           : (size_t)(stop - x->fed);
}

static enum xs_stream_err
xml_check_pending(struct xs_xml *x)
{
    uint64_t base, limit;

    xml_budget(x, &base, &limit);
    if (x->fed > base && x->fed - base > limit)
        x->err = XS_STERR_POLICY_VIOLATION;
    return x->err;
}

/* A dead parser keeps its events but not the stanza it was building. */
static enum xs_stream_err
xml_fail(struct xs_xml *x)
{
    xs_elem_free(x->top);
    x->top = x->cur = NULL;
    free(x->text);
    x->text = NULL;
    x->text_len = x->text_cap = 0;
    xml_rdecls_free(x);
    return x->err;
}

enum xs_stream_err
xs_xml_feed(struct xs_xml *x, const char *data, size_t len)
{
    const char *nul;
    size_t ok, off = 0;

    if (x->err != XS_STERR_NONE)
        return x->err;
    if (x->closed)
        return XS_STERR_NONE;   /* nothing after </stream:stream> counts */

    /*
     * Only the valid prefix reaches expat; what precedes a bad byte is
     * parsed, so chunking never changes which events come out.  NUL is
     * valid UTF-8 but never XML; it is refused here too, because expat's
     * encoding sniffing at the document start waits on "x\0" (UTF-16?)
     * and would report it at a position that depends on the chunking.
     */
    ok = xs_utf8_scan(&x->utf8, data, len);
    nul = memchr(data, '\0', ok);
    if (nul != NULL)
        ok = (size_t)(nul - data);
    while (off < ok) {
        size_t n = ok - off, room = xml_room(x);

        if (n > room)
            n = room;
        x->fed += n;
        if (XML_Parse(x->parser, data + off, (int)n, XML_FALSE) !=
            XML_STATUS_OK) {
            if (x->closed && x->err == XS_STERR_NONE)
                return XS_STERR_NONE;
            if (x->err == XS_STERR_NONE)
                x->err = xml_map_error(XML_GetErrorCode(x->parser));
            return xml_fail(x);
        }
        off += n;
        if (xml_check_pending(x) != XS_STERR_NONE)
            return xml_fail(x);
    }
    if (nul != NULL) {
        x->err = XS_STERR_NOT_WELL_FORMED;
        return xml_fail(x);
    }
    if (ok < len) {
        x->err = XS_STERR_UNSUPPORTED_ENCODING;
        return xml_fail(x);
    }
    return XS_STERR_NONE;
}

bool
xs_xml_pop(struct xs_xml *x, struct xs_xml_ev *ev)
{
    struct xml_ev *h = x->head;

    if (h == NULL) {
        ev->type = XS_XEV_CLOSE;
        ev->el = NULL;
        return false;
    }
    x->head = h->next;
    if (x->head == NULL)
        x->tail = NULL;
    x->npending--;
    ev->type = h->type;
    ev->el = h->el;
    xs_free(h);
    return true;
}

size_t
xs_xml_pending(const struct xs_xml *x)
{
    return x->npending;
}
