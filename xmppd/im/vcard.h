/*
 * vcard.h: vCard-temp (XEP-0054) pieces shared by the vCard module
 * (vcard.c) and Jabber Search (search.c): the mod_vcard options, parsing
 * a stored vCard back into a tree, and reading its fields.
 */
#ifndef XMPPD_IM_VCARD_H
#define XMPPD_IM_VCARD_H

#include "xmppd/core/conf.h"
#include "xmppd/xml/elem.h"

#define XS_NS_VCARD "vcard-temp"

#define XS_VCARD_MAX_SIZE_DEFAULT 65536     /* bytes, serialized */
#define XS_VCARD_MATCHES_DEFAULT  30        /* ejabberd's `matches` */

/* modules: {mod_vcard: {...}}. */
struct xs_vcard_opts {
    size_t max_size;            /* bytes of a serialized vCard */
    bool   is_search;           /* serve jabber:iq:search (off) */
    size_t matches;             /* search hits at most; 0: no limit */
};

/* Read and check mod_vcard's options (defaults when absent).  On
 * XS_EINVAL *errmsg is one line naming the key; caller frees. */
xs_rc xs_vcard_opts_read(const struct xs_conf *conf,
          struct xs_vcard_opts *o, char **errmsg);

/* Parse a stored vCard (as written by xs_elem_to_string) into *out, with
 * the stream parser's restrictions.  XS_EINVAL if it is not one
 * <vCard xmlns='vcard-temp'/> element. */
xs_rc xs_vcard_parse(const char *xml, size_t len, struct xs_elem **out);

/* The searchable fields of a vCard, trimmed; "" when absent. */
struct xs_vcard_info {
    char *fn;                   /* owned */
    char *family;               /* owned: N/FAMILY */
    char *given;                /* owned: N/GIVEN */
    char *nickname;             /* owned */
    char *email;                /* owned: the first EMAIL/USERID */
    char *locality;             /* owned: the first ADR/LOCALITY */
};

void xs_vcard_info_read(const struct xs_elem *vcard,
         struct xs_vcard_info *out);
void xs_vcard_info_fini(struct xs_vcard_info *i);

/*
 * One field by name, for operators: "FN", "NICKNAME", ... or a child of a
 * structured field as "N.FAMILY", "N FAMILY" or "ORG.ORGNAME" (case does
 * not matter).  *out is its trimmed text (caller frees).  XS_EINVAL for a
 * name that is not one or two tokens of [A-Za-z0-9_-]; XS_ENOTFOUND when
 * the vCard has no such element.
 */
xs_rc xs_vcard_field(const struct xs_elem *vcard, const char *name,
          char **out);

#endif
