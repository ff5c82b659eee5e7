/*
 * observers.h: a fixed-capacity list of callbacks and their user data,
 * behind the core's "tell me when it changes" registrations (roster
 * subscriptions, blocks, spam reports, activity).  Observers register
 * from a module's init and leave from its fini: a handful at most, so a
 * small array in static storage, no allocation.
 *
 * A notification walks a snapshot (xs_observers_snapshot), not the list:
 * an observer may unregister itself, or another, while it is called.
 * Not thread-safe: lists belong to the loop.
 */
#ifndef XMPPD_CORE_OBSERVERS_H
#define XMPPD_CORE_OBSERVERS_H

#include "xmppd/core/xs.h"

#define XS_OBSERVERS_MAX 8

/*
 * Any callback type: the list only stores and compares it, and the owner
 * casts it back to its own type before calling.  void (*)(void) is the
 * type that C (and -Wcast-function-type) sets aside for that.
 */
typedef void xs_observer_fn(void);

/* An observer: a callback, a second one for owners with two kinds of
 * news (activity's counts and days), and their user data. */
struct xs_observer {
    xs_observer_fn *fn;     /* may be NULL when fn2 is not */
    xs_observer_fn *fn2;    /* may be NULL */
    void           *ud;     /* borrowed */
};

/* Zero-initialized is empty: static storage needs no init. */
struct xs_observers {
    struct xs_observer v[XS_OBSERVERS_MAX];   /* registration order */
    size_t             n;
};

/* Appends o (the same observer twice is called twice).  XS_EINVAL when
 * o has no callback, XS_ELIMIT when the list is full. */
xs_rc  xs_observers_add(struct xs_observers *l, const struct xs_observer *o);
/* Removes every entry equal to o (fn, fn2 and ud); none is a no-op.  The
 * others keep their order. */
void   xs_observers_remove(struct xs_observers *l,
           const struct xs_observer *o);
/* Copies the entries, in order, into out; returns how many. */
size_t xs_observers_snapshot(const struct xs_observers *l,
           struct xs_observer out[XS_OBSERVERS_MAX]);

#endif
