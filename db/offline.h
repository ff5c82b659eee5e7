/*
 * offline.h: messages stored for accounts with no available resource
 * (XEP-0160), in the offline_messages table (003_offline.sql).
 *
 * Every function follows the pgq contract: it returns an error now and
 * never calls cb (XS_EINVAL for bad arguments, XS_ELIMIT when the pool's
 * queue is full), or returns XS_OK and calls cb exactly once, later, from
 * the event loop.  In callbacks, XS_EIO is a database failure (already
 * logged by pgq).  Usernames arrive nodeprepped and hosts prepared.
 */
#ifndef XMPPD_DB_OFFLINE_H
#define XMPPD_DB_OFFLINE_H

#include "db/pgq.h"

/* What a store did (with rc == XS_OK). */
enum xs_offline_store_res {
    XS_OFFLINE_STORED,
    XS_OFFLINE_NO_ACCOUNT,      /* no such account: nothing stored */
    XS_OFFLINE_FULL,            /* the account holds max messages already */
    XS_OFFLINE_BLOCKED,         /* the sender is on the owner's block list */
};

/* The block list forms of a sender's JID (XEP-0191 section 3.4): any of
 * them equal to a blocklist.jid blocks the sender.  Forms a JID lacks
 * repeat another one (a bare JID's full form is the bare JID). */
#define XS_OFFLINE_SENDER_FORMS 4

struct xs_offline_msg {
    const char *user;           /* borrowed: the recipient's localpart */
    const char *host;           /* borrowed: the recipient's domain */
    const char *sender;         /* borrowed: the sender's full JID */
    /* borrowed: full, bare, domain, domain/resource */
    const char *sender_forms[XS_OFFLINE_SENDER_FORMS];
    const char *stanza;         /* borrowed: the serialized <message/> */
};

/* One stored message; borrowed, valid during the callback only. */
struct xs_offline_row {
    int64_t     id;
    const char *stanza;
    size_t      len;
};

typedef void xs_offline_store_cb(xs_rc rc, enum xs_offline_store_res res,
    void *udata);
/* rows is NULL (and n 0) unless rc == XS_OK. */
typedef void xs_offline_fetch_cb(xs_rc rc, const struct xs_offline_row *rows,
    size_t n, void *udata);
typedef void xs_offline_done_cb(xs_rc rc, void *udata);
typedef void xs_offline_count_cb(xs_rc rc, int64_t n, void *udata);

/*
 * Store m for m->user@m->host if the account exists, holds fewer than max
 * messages and has not blocked the sender: the check and the insert are
 * one statement.  Under READ COMMITTED, stores for the same account that
 * run at the same moment on different connections may each see the same
 * count, so the cap may be passed by (concurrent stores - 1).
 */
xs_rc xs_offline_store(struct pgq *q, const struct xs_offline_msg *m,
    long long max, xs_offline_store_cb *cb, void *udata);

/*
 * The oldest stored messages of an account, by id: at most max_rows, and
 * no more once max_bytes are reached (the first always comes).
 */
xs_rc xs_offline_fetch(struct pgq *q, const char *user, const char *host,
    size_t max_rows, size_t max_bytes, xs_offline_fetch_cb *cb, void *udata);

/* Delete the messages ids[0..n-1] (1 <= n <= XS_OFFLINE_DELETE_MAX) of an
 * account.  cb rc: XS_OK (also when some were gone already), XS_EIO. */
#define XS_OFFLINE_DELETE_MAX 1000
xs_rc xs_offline_delete(struct pgq *q, const char *user, const char *host,
    const int64_t *ids, size_t n, xs_offline_done_cb *cb, void *udata);

/* How many messages an account holds.  cb rc: XS_OK, XS_ENOTFOUND (no such
 * account), XS_EIO. */
xs_rc xs_offline_count(struct pgq *q, const char *user, const char *host,
    xs_offline_count_cb *cb, void *udata);

#endif
