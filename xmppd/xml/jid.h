/*
 * jid.h: JIDs (RFC 7622), parsed and prepared once.
 *
 * Preparation: localpart with stringprep Nodeprep, resourcepart with
 * Resourceprep (libidn, as ejabberd does), domainpart lowercased and
 * IDN-converted with libidn2 (U-labels to the Unicode form; a trailing dot
 * removed).  Each part is at most 1023 bytes after preparation.
 */
#ifndef XMPPD_XML_JID_H
#define XMPPD_XML_JID_H

#include "xmppd/core/xs.h"

struct xs_jid {
    char *local;        /* owned; NULL when there is none */
    char *domain;       /* owned; never NULL */
    char *resource;     /* owned; NULL when there is none */
    char *bare;         /* owned: local@domain or domain */
    char *full;         /* owned: bare or bare/resource */
};

#define XS_JID_PART_MAX 1023

/* XS_EINVAL for anything that is not a valid JID after preparation. */
xs_rc          xs_jid_new(const char *s, struct xs_jid **out);
/* Build from parts (each already untrusted: prepared here); resource may be NULL. */
xs_rc          xs_jid_from_parts(const char *local, const char *domain,
                   const char *resource, struct xs_jid **out);
struct xs_jid *xs_jid_copy(const struct xs_jid *j);
/* The bare JID of j as a new JID. */
struct xs_jid *xs_jid_bare_copy(const struct xs_jid *j);
void           xs_jid_free(struct xs_jid *j);

bool xs_jid_equal(const struct xs_jid *a, const struct xs_jid *b);
bool xs_jid_bare_equal(const struct xs_jid *a, const struct xs_jid *b);

/* Prepare one part alone; out is a new string the caller frees. */
xs_rc xs_jid_nodeprep(const char *in, char **out);
xs_rc xs_jid_resourceprep(const char *in, char **out);
xs_rc xs_jid_domainprep(const char *in, char **out);

#endif
