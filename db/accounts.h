/*
 * accounts.h: local accounts in PostgreSQL, asynchronously on a pgq pool.
 *
 * Usernames arrive nodeprepped and hosts nameprepped from the callers;
 * this layer only checks that they are non-empty and at most 1023 bytes
 * (RFC 7622).  Every function follows the pgq contract: it returns an
 * error now and never calls cb (XS_EINVAL for bad arguments, XS_ELIMIT
 * when the pool's queue is full), or returns XS_OK and calls cb exactly
 * once, later, from the event loop.  In callbacks, XS_EIO means a database
 * failure (already logged by pgq).
 */
#ifndef XMPPD_DB_ACCOUNTS_H
#define XMPPD_DB_ACCOUNTS_H

#include "db/pgq.h"

#define XS_ACCOUNT_SALT_LEN 16
#define XS_ACCOUNT_PART_MAX 1023        /* bytes, RFC 7622 section 3 */

/*
 * SCRAM stored keys, never a password.  A half whose iteration count is 0
 * is absent (an account imported with one hash only); at least one half
 * must be present.  Iteration counts are at most INT32_MAX.
 */
struct xs_account_creds {
    unsigned char sha1_salt[XS_ACCOUNT_SALT_LEN];
    uint32_t      sha1_iter;
    unsigned char sha1_stored[20];
    unsigned char sha1_server[20];
    unsigned char sha256_salt[XS_ACCOUNT_SALT_LEN];
    uint32_t      sha256_iter;
    unsigned char sha256_stored[32];
    unsigned char sha256_server[32];
};

typedef void xs_accounts_done_cb(xs_rc rc, void *udata);
/* c is borrowed, valid during the callback only, and wiped after it. */
typedef void xs_accounts_creds_cb(xs_rc rc, const struct xs_account_creds *c,
    void *udata);
/*
 * names[0..n-1] in byte order; the callback may reorder the array, but the
 * array and the strings are only valid during the callback (copy what you
 * keep).  names is NULL when rc != XS_OK.
 */
typedef void xs_accounts_list_cb(xs_rc rc, char **names, size_t n,
    void *udata);

/* cb rc: XS_OK, XS_EEXIST (the name is taken), XS_EIO. */
xs_rc xs_accounts_create(struct pgq *q, const char *user, const char *host,
    const struct xs_account_creds *creds, xs_accounts_done_cb *cb,
    void *udata);

/* cb rc: XS_OK, XS_ENOTFOUND, XS_EIO. */
xs_rc xs_accounts_delete(struct pgq *q, const char *user, const char *host,
    xs_accounts_done_cb *cb, void *udata);

/* For SASL.  cb rc: XS_OK with c, XS_ENOTFOUND (c NULL), XS_EIO (c NULL). */
xs_rc xs_accounts_get_creds(struct pgq *q, const char *user,
    const char *host, xs_accounts_creds_cb *cb, void *udata);

/* Change the password.  cb rc: XS_OK, XS_ENOTFOUND, XS_EIO. */
xs_rc xs_accounts_set_creds(struct pgq *q, const char *user,
    const char *host, const struct xs_account_creds *creds,
    xs_accounts_done_cb *cb, void *udata);

/* Every username of host.  cb rc: XS_OK (n may be 0), XS_EIO. */
xs_rc xs_accounts_list(struct pgq *q, const char *host,
    xs_accounts_list_cb *cb, void *udata);

/*
 * Records a login: last_login becomes the current time (xs_wall_s(); a
 * stamp never moves it back).  Written behind, in batches of ONE statement
 * on pgq's background lane, at most one batch a second: a login after a
 * quiet second goes out at once, later ones wait for the next second (or
 * until 512 wait), so under load a login costs no statement of its own
 * and never takes a place in the queue that credential lookups wait in.
 * Touches of one account before its batch goes out coalesce.  A reader of
 * last_login may thus see it up to about a second late.
 *
 * cb may be NULL: fire and forget.  Otherwise the usual contract: cb runs
 * exactly once, later, when the batch holding the stamp is written: XS_OK,
 * XS_ENOTFOUND (no such account), or XS_EIO (the batch failed; its stamps
 * are dropped, never retried).  Returns XS_EINVAL, XS_ELIMIT (16384
 * accounts or callbacks already wait: the database is far behind) or
 * XS_ENOMEM (no timer), with no callback.  Stamps not yet written when
 * pgq_free runs are dropped without callbacks (at most about a second of
 * logins at shutdown).
 */
xs_rc xs_accounts_touch_login(struct pgq *q, const char *user,
    const char *host, xs_accounts_done_cb *cb, void *udata);

#endif
