/*
 * vcard.h: vCards (XEP-0054) and their search columns (XEP-0055) in
 * PostgreSQL, on a pgq pool (db/migrations/005_vcard.sql).
 *
 * Users arrive nodeprepped and hosts prepared from the callers.  Every
 * function follows the pgq contract: an error now and no callback
 * (XS_EINVAL for bad arguments, XS_ELIMIT when the pool's queue is full),
 * or XS_OK and exactly one callback later, from the event loop.  In
 * callbacks XS_EIO is a database failure (already logged by pgq).
 */
#ifndef XMPPD_DB_VCARD_H
#define XMPPD_DB_VCARD_H

#include "db/pgq.h"

/* What a search matches on, as the user wrote it (stored lowercased). */
struct xs_vcard_fields {
    const char *fn;             /* borrowed; "" when absent */
    const char *family;
    const char *given;
    const char *nickname;
    const char *email;
    const char *locality;
};

/*
 * A search: each non-NULL member must occur in that column, ignoring case
 * (a substring match; LIKE's '%', '_' and '\' are taken literally).
 * user matches the account name.  At least one member is non-NULL.
 */
struct xs_vcard_query {
    const char *user;           /* borrowed; NULL: not searched */
    const char *fn;
    const char *family;
    const char *given;
    const char *nickname;
    const char *email;
    const char *locality;
};

/* One search hit; both strings borrowed for the callback's duration. */
struct xs_vcard_hit {
    const char *user;
    const char *vcard;          /* the stored <vCard/>, serialized */
};

typedef void xs_vcard_done_cb(xs_rc rc, void *udata);
/* rc XS_OK: vcard is the stored text, or NULL when the account has none;
 * XS_ENOTFOUND: no such account; XS_EIO.  vcard is borrowed. */
typedef void xs_vcard_get_cb(xs_rc rc, const char *vcard, void *udata);
/* rc XS_OK with hits[0..n) (n may be 0), or XS_EIO (hits NULL). */
typedef void xs_vcard_search_cb(xs_rc rc, const struct xs_vcard_hit *hits,
    size_t n, void *udata);

xs_rc xs_vcard_db_get(struct pgq *q, const char *user, const char *host,
    xs_vcard_get_cb *cb, void *udata);

/* Store (replace) the vCard and its search columns in one statement.
 * cb rc: XS_OK, XS_ENOTFOUND (no such account), XS_EIO. */
xs_rc xs_vcard_db_set(struct pgq *q, const char *user, const char *host,
    const char *vcard, const struct xs_vcard_fields *f,
    xs_vcard_done_cb *cb, void *udata);

/* At most limit hits (0: no limit), ordered by user name. */
xs_rc xs_vcard_db_search(struct pgq *q, const char *host,
    const struct xs_vcard_query *qry, size_t limit, xs_vcard_search_cb *cb,
    void *udata);

/* "%" + s with '\', '%' and '_' escaped by '\' + "%": a LIKE pattern that
 * finds s anywhere.  Caller frees. */
char *xs_vcard_like_contains(const char *s);

#endif
