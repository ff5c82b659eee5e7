/*
 * stanza.h: a routed stanza (message, presence, iq): a refcounted element
 * tree, plus the error conditions of RFC 6120 and their builders.
 */
#ifndef XMPPD_XML_STANZA_H
#define XMPPD_XML_STANZA_H

#include "xmppd/core/xs.h"
#include "xmppd/xml/elem.h"

#define XS_NS_CLIENT  "jabber:client"
#define XS_NS_SERVER  "jabber:server"
#define XS_NS_STREAMS "http://etherx.jabber.org/streams"
#define XS_NS_STANZAS "urn:ietf:params:xml:ns:xmpp-stanzas"
#define XS_NS_STREAM_ERR "urn:ietf:params:xml:ns:xmpp-streams"

enum xs_kind {
    XS_K_NONE     = 0,
    XS_K_MESSAGE  = 1u << 0,
    XS_K_PRESENCE = 1u << 1,
    XS_K_IQ       = 1u << 2,
    XS_K_ANY      = XS_K_MESSAGE | XS_K_PRESENCE | XS_K_IQ,
};

/* RFC 6120 section 8.3.3; each has its default error type. */
enum xs_stanza_err {
    XS_SERR_NONE = 0,
    XS_SERR_BAD_REQUEST,                /* modify */
    XS_SERR_CONFLICT,                   /* cancel */
    XS_SERR_FEATURE_NOT_IMPLEMENTED,    /* cancel */
    XS_SERR_FORBIDDEN,                  /* auth */
    XS_SERR_GONE,                       /* cancel */
    XS_SERR_INTERNAL_SERVER_ERROR,      /* cancel */
    XS_SERR_ITEM_NOT_FOUND,             /* cancel */
    XS_SERR_JID_MALFORMED,              /* modify */
    XS_SERR_NOT_ACCEPTABLE,             /* modify */
    XS_SERR_NOT_ALLOWED,                /* cancel */
    XS_SERR_NOT_AUTHORIZED,             /* auth */
    XS_SERR_POLICY_VIOLATION,           /* modify */
    XS_SERR_RECIPIENT_UNAVAILABLE,      /* wait */
    XS_SERR_REDIRECT,                   /* modify */
    XS_SERR_REGISTRATION_REQUIRED,      /* auth */
    XS_SERR_REMOTE_SERVER_NOT_FOUND,    /* cancel */
    XS_SERR_REMOTE_SERVER_TIMEOUT,      /* wait */
    XS_SERR_RESOURCE_CONSTRAINT,        /* wait */
    XS_SERR_SERVICE_UNAVAILABLE,        /* cancel */
    XS_SERR_SUBSCRIPTION_REQUIRED,      /* auth */
    XS_SERR_UNDEFINED_CONDITION,        /* cancel */
    XS_SERR_UNEXPECTED_REQUEST,         /* wait */
    XS_SERR__COUNT
};

/* RFC 6120 section 4.9.3. */
enum xs_stream_err {
    XS_STERR_NONE = 0,
    XS_STERR_BAD_FORMAT,
    XS_STERR_BAD_NAMESPACE_PREFIX,
    XS_STERR_CONFLICT,
    XS_STERR_CONNECTION_TIMEOUT,
    XS_STERR_HOST_GONE,
    XS_STERR_HOST_UNKNOWN,
    XS_STERR_IMPROPER_ADDRESSING,
    XS_STERR_INTERNAL_SERVER_ERROR,
    XS_STERR_INVALID_FROM,
    XS_STERR_INVALID_NAMESPACE,
    XS_STERR_INVALID_XML,
    XS_STERR_NOT_AUTHORIZED,
    XS_STERR_NOT_WELL_FORMED,
    XS_STERR_POLICY_VIOLATION,
    XS_STERR_REMOTE_CONNECTION_FAILED,
    XS_STERR_RESET,
    XS_STERR_RESOURCE_CONSTRAINT,
    XS_STERR_RESTRICTED_XML,
    XS_STERR_SEE_OTHER_HOST,
    XS_STERR_SYSTEM_SHUTDOWN,
    XS_STERR_UNDEFINED_CONDITION,
    XS_STERR_UNSUPPORTED_ENCODING,
    XS_STERR_UNSUPPORTED_FEATURE,
    XS_STERR_UNSUPPORTED_STANZA_TYPE,
    XS_STERR_UNSUPPORTED_VERSION,
    XS_STERR__COUNT
};

const char *xs_stanza_err_name(enum xs_stanza_err e);   /* "item-not-found" */
const char *xs_stanza_err_type(enum xs_stanza_err e);   /* "cancel" */
const char *xs_stream_err_name(enum xs_stream_err e);   /* "not-well-formed" */

struct xs_stanza {
    unsigned        refs;
    enum xs_kind    kind;       /* from the element's name */
    struct xs_elem *el;         /* owned: the top-level element */
};

/* Takes ownership of el.  kind is XS_K_NONE for a non-stanza element. */
struct xs_stanza *xs_stanza_new(struct xs_elem *el);
struct xs_stanza *xs_stanza_ref(struct xs_stanza *st);
void              xs_stanza_unref(struct xs_stanza *st);   /* NULL-safe */

const char *xs_stanza_attr(const struct xs_stanza *st, const char *name);
bool        xs_stanza_type_is(const struct xs_stanza *st, const char *type);

/*
 * An error reply to st: same name and id, from/to swapped, type='error',
 * the original children kept (RFC 6120 8.3.1 allows it) and an <error/>
 * with the condition and its type.  Never call it for a stanza of
 * type='error' (callers check xs_stanza_may_bounce()).
 */
struct xs_stanza *xs_stanza_error_reply(const struct xs_stanza *st,
                      enum xs_stanza_err err);
/* The same with a human-readable <text/> (English). */
struct xs_stanza *xs_stanza_error_reply_text(const struct xs_stanza *st,
                      enum xs_stanza_err err, const char *text);
/* False for type='error' and for IQ results: those are never bounced. */
bool              xs_stanza_may_bounce(const struct xs_stanza *st);
/* An empty <iq type='result'/> answering the IQ st (from/to swapped). */
struct xs_stanza *xs_stanza_iq_result(const struct xs_stanza *st);

/* <stream:error><cond xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>
 * as text, for writing before </stream:stream>; caller frees. */
char *xs_stream_error_xml(enum xs_stream_err e, const char *text);

/* 16 random bytes from libsodium as 32 hex chars + NUL into out[33]. */
void xs_random_id(char out[33]);

#endif
