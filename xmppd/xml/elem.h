/*
 * elem.h: the XML element tree every stanza is made of, and its serializer.
 *
 * An element has a namespace URI (never NULL once in a tree), a local name,
 * plain attributes in document order, and children that are elements or
 * text, in document order.  Namespaced attributes keep their prefixed name
 * ("xml:lang"); namespace declarations are not attributes: the serializer
 * writes an xmlns where an element's namespace differs from its parent's.
 */
#ifndef XMPPD_XML_ELEM_H
#define XMPPD_XML_ELEM_H

#include "xmppd/core/xs.h"

struct evbuffer;

struct xs_attr {
    char *name;                 /* owned */
    char *value;                /* owned, unescaped */
};

enum xs_node_type { XS_NODE_ELEM, XS_NODE_TEXT };

struct xs_elem {
    enum xs_node_type type;
    char             *name;     /* owned; NULL for text nodes */
    char             *ns;       /* owned; NULL for text nodes */
    char             *text;     /* owned; text nodes only, unescaped */
    size_t            text_len;
    struct xs_attr   *attrs;    /* owned array */
    size_t            nattrs;
    struct xs_elem   *parent;   /* borrowed */
    struct xs_elem   *first;    /* owned: first child node */
    struct xs_elem   *last;     /* borrowed: last child node */
    struct xs_elem   *next;     /* owned by the parent's list */
};

/* Constructors abort on OOM and never return NULL. */
struct xs_elem *xs_elem_new(const char *ns, const char *name);
void            xs_elem_free(struct xs_elem *e);    /* frees the subtree */
struct xs_elem *xs_elem_copy(const struct xs_elem *e);

const char *xs_elem_attr(const struct xs_elem *e, const char *name);
/* value NULL removes the attribute. */
void        xs_elem_set_attr(struct xs_elem *e, const char *name,
                const char *value);

/* First child element with that namespace (NULL: any) and name (NULL: any). */
struct xs_elem *xs_elem_child(const struct xs_elem *e, const char *ns,
                    const char *name);
/* Iterate child elements (text nodes are skipped). */
struct xs_elem *xs_elem_first_elem(const struct xs_elem *e);
struct xs_elem *xs_elem_next_elem(const struct xs_elem *e);
size_t          xs_elem_count_elems(const struct xs_elem *e);

/* Appends a new child; ns NULL means the parent's namespace. */
struct xs_elem *xs_elem_add_child(struct xs_elem *e, const char *ns,
                    const char *name);
/* Appends an existing element (taking ownership) as the last child. */
void            xs_elem_append(struct xs_elem *e, struct xs_elem *child);
void            xs_elem_add_text(struct xs_elem *e, const char *text,
                    size_t len);
/* Unlinks child from e and frees it. */
void            xs_elem_remove(struct xs_elem *e, struct xs_elem *child);
/* Unlinks child from e without freeing it; the caller owns it. */
void            xs_elem_detach(struct xs_elem *e, struct xs_elem *child);

/* Concatenated direct text children; the caller frees the string. */
char *xs_elem_text(const struct xs_elem *e);
/* Text of the first child element ns/name, or NULL; caller frees. */
char *xs_elem_child_text(const struct xs_elem *e, const char *ns,
          const char *name);

/*
 * Serialize e.  parent_ns is the namespace in scope where e is written
 * (for a stanza: "jabber:client" or "jabber:server"); no xmlns is written
 * when e's namespace equals it.  Text and attribute values are escaped.
 */
void  xs_elem_serialize(const struct xs_elem *e, const char *parent_ns,
          struct evbuffer *out);
/* The same into a fresh NUL-terminated string (tests, logs); caller frees. */
char *xs_elem_to_string(const struct xs_elem *e, const char *parent_ns);
/* Drain b into a fresh NUL-terminated string and free b; caller frees. */
char *xs_evbuffer_take_string(struct evbuffer *b);

/*
 * Serializer details (added with elem.c):
 * - parent_ns NULL means no default namespace is in scope; an element whose
 *   ns is "" (no namespace) under a non-empty scope gets xmlns=''.
 * - An element with ns NULL (built with xs_elem_new(NULL, ...) and never
 *   appended) is written without xmlns: it inherits the scope.
 * - A name with a prefix ("stream:features") is written as-is with no
 *   xmlns: whoever writes the enclosing context declares the prefix; its
 *   children see the scope of that element's parent.
 * - An attribute named exactly "xmlns" is never written (the element's ns
 *   decides the default namespace); "xmlns:p" attributes are written as-is.
 */

/* Escape s[0..len) into out: text escapes & < > and CR; attribute values
 * (in_attr) also " ' TAB LF, so that they survive attribute normalization. */
void xs_xml_escape(struct evbuffer *out, const char *s, size_t len,
         bool in_attr);

/*
 * UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing
 * above U+10FFFF).  xs_utf8_scan() is incremental: a sequence may be split
 * across calls.  It returns how many bytes of p continue the input validly
 * (len when all do); a partial sequence at the end is valid so far, and
 * xs_utf8_scan_done() says whether the input ended on a character boundary.
 * Zero-initialize the state.
 */
struct xs_utf8 {
    uint8_t need;       /* continuation bytes still expected */
    uint8_t lo, hi;     /* bounds of the next continuation byte */
};
size_t xs_utf8_scan(struct xs_utf8 *st, const char *p, size_t len);
bool   xs_utf8_scan_done(const struct xs_utf8 *st);
/* The whole of s[0..len) is valid UTF-8 (NUL bytes count as valid). */
bool   xs_utf8_valid(const char *s, size_t len);

#endif
