/*
 * activity.h: the account activity record (issue 5's raw material): last
 * login and logout, days active, messages to and from contacts and
 * strangers, subscription requests sent, accepted, refused and received.
 *
 * Counted in memory by the activity module (activity.c) as stanzas pass,
 * after every policy hook, and added to PostgreSQL in batches every
 * mod_activity `flush_interval` seconds (one statement per batch).  A
 * contact is a roster item with a subscription in either direction.
 *
 * For the reputation engine and Last Activity (XEP-0012).
 */
#ifndef XMPPD_IM_ACTIVITY_H
#define XMPPD_IM_ACTIVITY_H

#include "db/activity.h"

#define XS_ACTIVITY_FLUSH_DEFAULT 10        /* seconds */
#define XS_ACTIVITY_STATUS_MAX    1024      /* bytes of a logout status */

/*
 * Memory only, never blocks: what user@host (bare) did that is not in the
 * database yet.  out's counters are deltas, days_active the days to add
 * (a day may already be stored), last_logout/last_status the newest
 * logout not yet written (0/NULL: none; last_status borrowed until the
 * next stanza or event).  false when nothing is held.
 */
bool  xs_activity_pending(const char *bare, struct xs_activity *out);

/*
 * The record as it stands: the database's row plus what memory holds, so
 * it is current to the stanza.  cb gets XS_OK and the record (borrowed
 * for the callback), XS_ENOTFOUND (no such account) or XS_EIO; always
 * later, from the loop.  Returns XS_ELIMIT (database queue full) or
 * XS_EINVAL (module not loaded, bad names) with no callback.
 */
typedef void xs_activity_cb(xs_rc rc, const struct xs_activity *a,
    void *udata);
xs_rc xs_activity_get(const char *user, const char *host, xs_activity_cb *cb,
          void *udata);

/* Write what memory holds now, without waiting for the timer. */
void  xs_activity_flush_soon(void);

/*
 * Observers of the counting itself (the reputation engine), called on the
 * stanza path as it happens, before anything is written: count when
 * counter c of the local account bare grew by n (1 today), day when bare
 * became active on a UTC day not marked before in this process (after a
 * restart, a day already stored may be reported again).  Either may be
 * NULL.  Observers must not block; at most a few (XS_ELIMIT).  Register
 * from a module's init, remove in its fini with the same arguments.
 */
typedef void xs_activity_count_fn(const char *bare, enum xs_act_counter c,
    uint64_t n, void *ud);
typedef void xs_activity_day_fn(const char *bare, void *ud);

xs_rc xs_activity_observe(xs_activity_count_fn *count,
          xs_activity_day_fn *day, void *ud);
void  xs_activity_unobserve(xs_activity_count_fn *count,
          xs_activity_day_fn *day, void *ud);

#endif
