/*
 * activity.h: the account activity record in PostgreSQL
 * (db/migrations/006_activity.sql): what an account does, counted in
 * memory by xmppd/im/activity.c and added here in batches, plus the one
 * roster question Last Activity (XEP-0012) asks about offline users.
 *
 * Same contract as every db/ file: an error now and no callback
 * (XS_EINVAL, XS_ELIMIT), or XS_OK and exactly one callback later, from
 * the event loop.  XS_EIO in a callback is a database failure.
 */
#ifndef XMPPD_DB_ACTIVITY_H
#define XMPPD_DB_ACTIVITY_H

#include "db/pgq.h"

/* The counters of an account, in the column order of the table. */
enum xs_act_counter {
    XS_ACT_MSGS_TO_CONTACTS,
    XS_ACT_MSGS_TO_STRANGERS,
    XS_ACT_MSGS_FROM_CONTACTS,
    XS_ACT_MSGS_FROM_STRANGERS,
    XS_ACT_SUBS_SENT,           /* subscription requests it sent */
    XS_ACT_SUBS_ACCEPTED,       /* of those, answered 'subscribed' */
    XS_ACT_SUBS_REFUSED,        /* of those, answered 'unsubscribed' */
    XS_ACT_SUBS_RECEIVED,       /* requests it received */
    XS_ACT__COUNT
};

/* Column names by enum xs_act_counter ("msgs_to_contacts", ...). */
extern const char *const xs_act_counter_names[XS_ACT__COUNT];

/* One account's record. */
struct xs_activity {
    int64_t     created_at;     /* unix seconds; 0: unknown */
    int64_t     last_login;     /* 0: never */
    int64_t     last_logout;    /* 0: never (or not known) */
    const char *last_status;    /* borrowed: status text of that logout;
                                   NULL: none */
    uint32_t    days_active;    /* distinct UTC days with a login or a
                                   sent message */
    int32_t     last_active_day;    /* days since 1970-01-01; -1: none */
    uint64_t    counts[XS_ACT__COUNT];
};

/* What one account did since the last write. */
struct xs_activity_delta {
    const char *user;           /* borrowed */
    const char *host;           /* borrowed */
    uint32_t    ndays;          /* distinct days marked active; 0: none */
    int32_t     first_day;      /* days since 1970-01-01, when ndays > 0 */
    int32_t     last_day;
    int64_t     logout;         /* unix seconds of the last logout; 0: none */
    const char *status;         /* borrowed: its status text; NULL: none */
    uint64_t    counts[XS_ACT__COUNT];
};

typedef void xs_activity_db_done_cb(xs_rc rc, void *udata);
/* a (rc XS_OK only) is borrowed for the callback.  XS_ENOTFOUND: no such
 * account. */
typedef void xs_activity_db_get_cb(xs_rc rc, const struct xs_activity *a,
    void *udata);
typedef void xs_activity_db_bool_cb(xs_rc rc, bool yes, void *udata);

#define XS_ACTIVITY_BATCH_MAX 5000      /* deltas in one statement */

/*
 * Add d[0..n) (1 <= n <= XS_ACTIVITY_BATCH_MAX, one per account) in ONE
 * statement: counters are added, active days counted once per day (a day
 * already stored is not counted again), the logout replaced when a delta
 * has one.  Deltas of accounts that no longer exist are skipped.
 */
xs_rc xs_activity_db_add(struct pgq *q, const struct xs_activity_delta *d,
    size_t n, xs_activity_db_done_cb *cb, void *udata);

/* The stored record of user@host (zeros when nothing was written yet). */
xs_rc xs_activity_db_get(struct pgq *q, const char *user, const char *host,
    xs_activity_db_get_cb *cb, void *udata);

/* Whether contact (a bare JID) may see user@host's presence: a roster
 * item with subscription 'from' or 'both'.  false for no account. */
xs_rc xs_activity_db_sees_presence(struct pgq *q, const char *user,
    const char *host, const char *contact, xs_activity_db_bool_cb *cb,
    void *udata);

#endif
