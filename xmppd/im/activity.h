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

#endif
