/*
 * elem.c: the element tree and its serializer.
 *
 * Every walk over a tree (free, copy, serialize) is iterative, using the
 * parent pointers: a tree built by code other than the parser has no depth
 * limit, and a recursive walk would turn a deep tree into a stack overflow.
 */
#include "xmppd/xml/elem.h"

#include <string.h>

#include <event2/buffer.h>

/* ---- nodes ---------------------------------------------------------- */

static struct xs_elem *
elem_node_new(enum xs_node_type type)
{
    struct xs_elem *e = xs_calloc(1, sizeof(*e));

    e->type = type;
    return e;
}

struct xs_elem *
xs_elem_new(const char *ns, const char *name)
{
    struct xs_elem *e = elem_node_new(XS_NODE_ELEM);

    xs_assert(name != NULL);
    e->name = xs_strdup(name);
    e->ns = (ns != NULL) ? xs_strdup(ns) : NULL;
    return e;
}

/* Frees one node's own storage, not its children. */
static void
elem_node_free(struct xs_elem *e)
{
    for (size_t i = 0; i < e->nattrs; i++) {
        xs_free(e->attrs[i].name);
        xs_free(e->attrs[i].value);
    }
    xs_free(e->attrs);
    xs_free(e->name);
    xs_free(e->ns);
    xs_free(e->text);
    xs_free(e);
}

void
xs_elem_free(struct xs_elem *e)
{
    struct xs_elem *n = e;

    if (e == NULL)
        return;
    /*
     * Post-order without a stack: go down to a leaf, free it, continue
     * with its next sibling or, after the last one, with its parent, which
     * has become a leaf.  e's own parent and siblings are never touched.
     */
    for (;;) {
        struct xs_elem *next, *parent;

        if (n->first != NULL) {
            n = n->first;
            continue;
        }
        if (n == e) {
            elem_node_free(n);
            return;
        }
        next = n->next;
        parent = n->parent;
        elem_node_free(n);
        if (next != NULL) {
            n = next;
        } else {
            parent->first = NULL;
            parent->last = NULL;
            n = parent;
        }
    }
}

/* Copy of one node without children, links or parent. */
static struct xs_elem *
elem_node_copy(const struct xs_elem *e)
{
    struct xs_elem *c = elem_node_new(e->type);

    if (e->type == XS_NODE_TEXT) {
        c->text = xs_malloc(e->text_len + 1);
        memcpy(c->text, e->text, e->text_len);
        c->text[e->text_len] = '\0';
        c->text_len = e->text_len;
        return c;
    }
    c->name = xs_strdup(e->name);
    c->ns = (e->ns != NULL) ? xs_strdup(e->ns) : NULL;
    if (e->nattrs > 0) {
        c->attrs = xs_reallocarray(NULL, e->nattrs, sizeof(c->attrs[0]));
        for (size_t i = 0; i < e->nattrs; i++) {
            c->attrs[i].name = xs_strdup(e->attrs[i].name);
            c->attrs[i].value = xs_strdup(e->attrs[i].value);
        }
        c->nattrs = e->nattrs;
    }
    return c;
}

static void
elem_link(struct xs_elem *parent, struct xs_elem *child)
{
    child->parent = parent;
    child->next = NULL;
    if (parent->last != NULL)
        parent->last->next = child;
    else
        parent->first = child;
    parent->last = child;
}

struct xs_elem *
xs_elem_copy(const struct xs_elem *e)
{
    const struct xs_elem *src = e;
    struct xs_elem *root, *dst;

    if (e == NULL)
        return NULL;
    root = dst = elem_node_copy(e);
    for (;;) {
        if (src->first != NULL) {
            struct xs_elem *c = elem_node_copy(src->first);

            elem_link(dst, c);
            src = src->first;
            dst = c;
            continue;
        }
        while (src != e && src->next == NULL) {
            src = src->parent;
            dst = dst->parent;
        }
        if (src == e)
            return root;
        src = src->next;
        {
            struct xs_elem *c = elem_node_copy(src);

            elem_link(dst->parent, c);
            dst = c;
        }
    }
}

/* ---- attributes ----------------------------------------------------- */

const char *
xs_elem_attr(const struct xs_elem *e, const char *name)
{
    if (e == NULL || e->type != XS_NODE_ELEM)
        return NULL;
    for (size_t i = 0; i < e->nattrs; i++) {
        if (strcmp(e->attrs[i].name, name) == 0)
            return e->attrs[i].value;
    }
    return NULL;
}

void
xs_elem_set_attr(struct xs_elem *e, const char *name, const char *value)
{
    size_t i;

    xs_assert(e->type == XS_NODE_ELEM);
    for (i = 0; i < e->nattrs; i++) {
        if (strcmp(e->attrs[i].name, name) == 0)
            break;
    }
    if (i < e->nattrs) {
        if (value != NULL) {
            /* Copy first: value may point into the string it replaces. */
            char *v = xs_strdup(value);

            xs_free(e->attrs[i].value);
            e->attrs[i].value = v;
            return;
        }
        xs_free(e->attrs[i].name);
        xs_free(e->attrs[i].value);
        memmove(&e->attrs[i], &e->attrs[i + 1],
            (e->nattrs - i - 1) * sizeof(e->attrs[0]));
        e->nattrs--;
        return;
    }
    if (value == NULL)
        return;
    e->attrs = xs_reallocarray(e->attrs, e->nattrs + 1, sizeof(e->attrs[0]));
    e->attrs[e->nattrs].name = xs_strdup(name);
    e->attrs[e->nattrs].value = xs_strdup(value);
    e->nattrs++;
}

/* ---- children ------------------------------------------------------- */

static bool
elem_matches(const struct xs_elem *c, const char *ns, const char *name)
{
    if (c->type != XS_NODE_ELEM)
        return false;
    if (name != NULL && strcmp(c->name, name) != 0)
        return false;
    if (ns != NULL && (c->ns == NULL || strcmp(c->ns, ns) != 0))
        return false;
    return true;
}

struct xs_elem *
xs_elem_child(const struct xs_elem *e, const char *ns, const char *name)
{
    if (e == NULL)
        return NULL;
    for (struct xs_elem *c = e->first; c != NULL; c = c->next) {
        if (elem_matches(c, ns, name))
            return c;
    }
    return NULL;
}

struct xs_elem *
xs_elem_first_elem(const struct xs_elem *e)
{
    struct xs_elem *c;

    if (e == NULL)
        return NULL;
    for (c = e->first; c != NULL && c->type != XS_NODE_ELEM; c = c->next)
        continue;
    return c;
}

struct xs_elem *
xs_elem_next_elem(const struct xs_elem *e)
{
    struct xs_elem *c;

    if (e == NULL)
        return NULL;
    for (c = e->next; c != NULL && c->type != XS_NODE_ELEM; c = c->next)
        continue;
    return c;
}

size_t
xs_elem_count_elems(const struct xs_elem *e)
{
    size_t n = 0;

    for (struct xs_elem *c = xs_elem_first_elem(e); c != NULL;
         c = xs_elem_next_elem(c))
        n++;
    return n;
}

struct xs_elem *
xs_elem_add_child(struct xs_elem *e, const char *ns, const char *name)
{
    struct xs_elem *c = xs_elem_new(ns != NULL ? ns : e->ns, name);

    xs_assert(e->type == XS_NODE_ELEM);
    elem_link(e, c);
    return c;
}

void
xs_elem_append(struct xs_elem *e, struct xs_elem *child)
{
    struct xs_elem *n;

    xs_assert(e->type == XS_NODE_ELEM);
    xs_assert(child->parent == NULL && child != e);
    elem_link(e, child);
    if (e->ns == NULL)
        return;
    /*
     * Elements of the appended subtree that were built without a namespace
     * (ns NULL: "whatever my parent has") take it now, so that lookups by
     * namespace see what a peer would parse.  Pre-order, so a parent is
     * fixed before its children copy its namespace.
     */
    n = child;
    for (;;) {
        if (n->type == XS_NODE_ELEM && n->ns == NULL)
            n->ns = xs_strdup(n->parent->ns);
        if (n->first != NULL) {
            n = n->first;
            continue;
        }
        while (n != child && n->next == NULL)
            n = n->parent;
        if (n == child)
            break;
        n = n->next;
    }
}

void
xs_elem_add_text(struct xs_elem *e, const char *text, size_t len)
{
    struct xs_elem *t;

    xs_assert(e->type == XS_NODE_ELEM);
    if (len == 0)
        return;
    t = e->last;
    if (t != NULL && t->type == XS_NODE_TEXT) {
        /* Adjacent text is one node, as a parser would see it. */
        t->text = xs_realloc(t->text, t->text_len + len + 1);
    } else {
        t = elem_node_new(XS_NODE_TEXT);
        t->text = xs_malloc(len + 1);
        elem_link(e, t);
    }
    memcpy(t->text + t->text_len, text, len);
    t->text_len += len;
    t->text[t->text_len] = '\0';
}

void
xs_elem_detach(struct xs_elem *e, struct xs_elem *child)
{
    struct xs_elem *prev = NULL, *c;

    for (c = e->first; c != NULL && c != child; c = c->next)
        prev = c;
    xs_assert(c != NULL);                /* child must be e's child */
    if (prev != NULL)
        prev->next = child->next;
    else
        e->first = child->next;
    if (e->last == child)
        e->last = prev;
    child->parent = NULL;
    child->next = NULL;
}

void
xs_elem_remove(struct xs_elem *e, struct xs_elem *child)
{
    xs_elem_detach(e, child);
    xs_elem_free(child);
}

char *
xs_elem_text(const struct xs_elem *e)
{
    size_t len = 0;
    char *s, *p;

    for (const struct xs_elem *c = e->first; c != NULL; c = c->next) {
        if (c->type == XS_NODE_TEXT)
            len += c->text_len;
    }
    s = p = xs_malloc(len + 1);
    for (const struct xs_elem *c = e->first; c != NULL; c = c->next) {
        if (c->type == XS_NODE_TEXT) {
            memcpy(p, c->text, c->text_len);
            p += c->text_len;
        }
    }
    *p = '\0';
    return s;
}

char *
xs_elem_child_text(const struct xs_elem *e, const char *ns, const char *name)
{
    const struct xs_elem *c = xs_elem_child(e, ns, name);

    return (c != NULL) ? xs_elem_text(c) : NULL;
}

/* ---- serializer ----------------------------------------------------- */

/*
 * Output is gathered in a stack buffer and handed to the evbuffer in large
 * pieces: one evbuffer_add() per few KiB instead of one per token.
 */
struct ser {
    struct evbuffer *out;       /* borrowed */
    size_t           len;
    char             buf[4096];
};

static void
ser_add(struct evbuffer *out, const void *p, size_t n)
{
    /* evbuffer_add only fails on OOM; we abort on OOM like xs_malloc. */
    if (evbuffer_add(out, p, n) != 0)
        xs_assert_fail("evbuffer_add", __FILE__, __LINE__);
}

static void
ser_flush(struct ser *w)
{
    if (w->len > 0) {
        ser_add(w->out, w->buf, w->len);
        w->len = 0;
    }
}

static void
ser_put(struct ser *w, const char *p, size_t n)
{
    if (n > sizeof(w->buf) - w->len) {
        ser_flush(w);
        if (n > sizeof(w->buf) / 2) {
            ser_add(w->out, p, n);      /* large runs go straight through */
            return;
        }
    }
    memcpy(w->buf + w->len, p, n);
    w->len += n;
}

static void
ser_str(struct ser *w, const char *s)
{
    ser_put(w, s, strlen(s));
}

enum {
    ESC_TEXT = 1u << 0,         /* escaped in character data */
    ESC_ATTR = 1u << 1,         /* escaped in attribute values */
};

static const unsigned char esc_class[256] = {
    ['&'] = ESC_TEXT | ESC_ATTR,
    ['<'] = ESC_TEXT | ESC_ATTR,
    ['>'] = ESC_TEXT | ESC_ATTR,
    ['\r'] = ESC_TEXT | ESC_ATTR,      /* else the reader turns it into LF */
    ['"'] = ESC_ATTR,
    ['\''] = ESC_ATTR,
    ['\t'] = ESC_ATTR,                 /* else normalized to a space */
    ['\n'] = ESC_ATTR,
};

static const char *
esc_entity(unsigned char c, size_t *len)
{
    const char *s;

    switch (c) {
    case '&':  s = "&amp;";  break;
    case '<':  s = "&lt;";   break;
    case '>':  s = "&gt;";   break;
    case '"':  s = "&quot;"; break;
    case '\'': s = "&apos;"; break;
    case '\t': s = "&#9;";   break;
    case '\n': s = "&#10;";  break;
    default:   s = "&#13;";  break;
    }
    *len = strlen(s);
    return s;
}

static void
ser_escape(struct ser *w, const char *s, size_t n, unsigned mask)
{
    const unsigned char *p = (const unsigned char *)s;
    const unsigned char *end = p + n, *run = p;

    for (; p < end; p++) {
        const char *ent;
        size_t elen;

        if ((esc_class[*p] & mask) == 0)
            continue;
        if (p > run)
            ser_put(w, (const char *)run, (size_t)(p - run));
        ent = esc_entity(*p, &elen);
        ser_put(w, ent, elen);
        run = p + 1;
    }
    if (p > run)
        ser_put(w, (const char *)run, (size_t)(p - run));
}

#define ELEM_NS_XML "http://www.w3.org/XML/1998/namespace"

/*
 * The XML namespace may not be the default namespace (XML-Names 1.0
 * section 3): an element in it ("<xml:x/>" from a peer) is written with
 * the "xml" prefix, which is always bound, or a recipient would reject the
 * whole stream.
 */
static bool
elem_in_xml_ns(const struct xs_elem *e)
{
    return e->ns != NULL && strcmp(e->ns, ELEM_NS_XML) == 0;
}

/* Written with a prefix: no xmlns of its own, scope passes through. */
static bool
elem_is_prefixed(const struct xs_elem *e)
{
    return strchr(e->name, ':') != NULL || elem_in_xml_ns(e);
}

static void
ser_name(struct ser *w, const struct xs_elem *e)
{
    if (elem_in_xml_ns(e) && strchr(e->name, ':') == NULL)
        ser_put(w, "xml:", 4);
    ser_str(w, e->name);
}

/* The default namespace in scope where n is written (root: parent_ns). */
static const char *
ser_scope(const struct xs_elem *n, const struct xs_elem *root,
    const char *parent_ns)
{
    while (n != root) {
        const struct xs_elem *p = n->parent;

        if (p->ns != NULL && !elem_is_prefixed(p))
            return p->ns;
        n = p;
    }
    return parent_ns;
}

static void
ser_open(struct ser *w, const struct xs_elem *e, const char *scope)
{
    ser_put(w, "<", 1);
    ser_name(w, e);
    if (e->ns != NULL && !elem_is_prefixed(e) &&
        strcmp(e->ns, scope != NULL ? scope : "") != 0) {
        ser_put(w, " xmlns='", 8);
        ser_escape(w, e->ns, strlen(e->ns), ESC_ATTR);
        ser_put(w, "'", 1);
    }
    for (size_t i = 0; i < e->nattrs; i++) {
        const struct xs_attr *a = &e->attrs[i];

        if (strcmp(a->name, "xmlns") == 0)
            continue;
        ser_put(w, " ", 1);
        ser_str(w, a->name);
        ser_put(w, "='", 2);
        ser_escape(w, a->value, strlen(a->value), ESC_ATTR);
        ser_put(w, "'", 1);
    }
    ser_put(w, e->first != NULL ? ">" : "/>", e->first != NULL ? 1 : 2);
}

static void
ser_close(struct ser *w, const struct xs_elem *e)
{
    ser_put(w, "</", 2);
    ser_name(w, e);
    ser_put(w, ">", 1);
}

void
xs_elem_serialize(const struct xs_elem *e, const char *parent_ns,
    struct evbuffer *out)
{
    struct ser w;
    const struct xs_elem *n = e;

    w.out = out;
    w.len = 0;
    for (;;) {
        if (n->type == XS_NODE_TEXT) {
            ser_escape(&w, n->text, n->text_len, ESC_TEXT);
        } else {
            ser_open(&w, n, ser_scope(n, e, parent_ns));
            if (n->first != NULL) {
                n = n->first;
                continue;
            }
        }
        /* n is finished: close the ancestors it was the last child of. */
        while (n != e && n->next == NULL) {
            n = n->parent;
            ser_close(&w, n);
        }
        if (n == e)
            break;
        n = n->next;
    }
    ser_flush(&w);
}

char *
xs_evbuffer_take_string(struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);
    char *s = xs_malloc(len + 1);

    evbuffer_remove(b, s, len);
    s[len] = '\0';
    evbuffer_free(b);
    return s;
}

char *
xs_elem_to_string(const struct xs_elem *e, const char *parent_ns)
{
    struct evbuffer *b = evbuffer_new();

    if (b == NULL)
        xs_assert_fail("evbuffer_new", __FILE__, __LINE__);
    xs_elem_serialize(e, parent_ns, b);
    return xs_evbuffer_take_string(b);
}

void
xs_xml_escape(struct evbuffer *out, const char *s, size_t len, bool in_attr)
{
    struct ser w;

    w.out = out;
    w.len = 0;
    ser_escape(&w, s, len, in_attr ? ESC_ATTR : ESC_TEXT);
    ser_flush(&w);
}

/* ---- UTF-8 ---------------------------------------------------------- */

/*
 * The well-formed byte sequences of Unicode 15, table 3-7.  The bounds of
 * the second byte carry the exceptions: E0 A0..BF (no overlongs), ED 80..9F
 * (no surrogates), F0 90..BF (no overlongs), F4 80..8F (<= U+10FFFF).
 */
size_t
xs_utf8_scan(struct xs_utf8 *st, const char *p, size_t len)
{
    const unsigned char *s = (const unsigned char *)p;
    size_t i = 0;

    while (i < len) {
        unsigned char c = s[i];

        if (st->need > 0) {
            if (c < st->lo || c > st->hi)
                return i;
            st->need--;
            st->lo = 0x80;
            st->hi = 0xbf;
            i++;
            continue;
        }
        if (c < 0x80) {
            /* ASCII runs are the common case: eight bytes at a time. */
            while (i + 8 <= len) {
                uint64_t v;

                memcpy(&v, s + i, 8);
                if ((v & UINT64_C(0x8080808080808080)) != 0)
                    break;
                i += 8;
            }
            while (i < len && s[i] < 0x80)
                i++;
            continue;
        }
        st->lo = 0x80;
        st->hi = 0xbf;
        if (c >= 0xc2 && c <= 0xdf) {
            st->need = 1;
        } else if (c >= 0xe0 && c <= 0xef) {
            st->need = 2;
            if (c == 0xe0)
                st->lo = 0xa0;
            else if (c == 0xed)
                st->hi = 0x9f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            st->need = 3;
            if (c == 0xf0)
                st->lo = 0x90;
            else if (c == 0xf4)
                st->hi = 0x8f;
        } else {
            return i;           /* 80..C1 as a lead byte, or F5..FF */
        }
        i++;
    }
    return len;
}

bool
xs_utf8_scan_done(const struct xs_utf8 *st)
{
    return st->need == 0;
}

bool
xs_utf8_valid(const char *s, size_t len)
{
    struct xs_utf8 st = { 0 };

    return xs_utf8_scan(&st, s, len) == len && xs_utf8_scan_done(&st);
}
