/*
 * recent.h: a bounded "seen recently" set of string pairs, so that a
 * source that fires again and again for one thing (a user writing to the
 * same contact, a flood of flagged requests from one sender) submits one
 * evidence item per window, not one per stanza.
 *
 * Pairs are kept as keyed 64-bit SipHash values (the key is random per
 * set, so chosen names cannot aim at one slot), in open addressing.  The
 * whole set is forgotten when its window has passed, when the wall clock
 * steps back, or when it holds max pairs: memory and an entry's age stay
 * bounded without a timestamp per slot.  A hash collision only means one
 * item is not submitted.
 *
 * Not thread-safe: one set belongs to the loop.
 */
#ifndef XMPPD_REPUTATION_RECENT_H
#define XMPPD_REPUTATION_RECENT_H

#include "xmppd/core/xs.h"

/* crypto_shorthash_KEYBYTES (checked in recent.c): the header need not
 * pull in sodium.h. */
#define XS_REP_RECENT_KEY_BYTES 16

struct xs_rep_recent {
    uint64_t *slots;        /* owned: 0 is an empty slot; NULL until the
                               first pair (and after fini) */
    size_t    nslots;       /* a power of two, at least twice max */
    size_t    n;            /* pairs held */
    size_t    max;          /* pairs held before the set starts over */
    int64_t   window_s;     /* how long a pair is remembered, at most */
    int64_t   started;      /* wall seconds of the window's start */
    unsigned char key[XS_REP_RECENT_KEY_BYTES];  /* drawn with the slots */
};

/* A static or automatic initializer; the same as xs_rep_recent_init. */
#define XS_REP_RECENT_INIT(max_, window_s_) \
    { .max = (max_), .window_s = (window_s_) }

/* An empty set of at most max pairs (max >= 1), each remembered for at
 * most window_s seconds.  Allocates nothing until the first pair. */
void xs_rep_recent_init(struct xs_rep_recent *s, size_t max,
         int64_t window_s);

/* true when (a, b) was seen inside the window; otherwise remember it and
 * return false.  now is wall seconds (xs_wall_s()).  "a\0b" is hashed,
 * each side cut at XS_REP_SUBJECT_MAX bytes. */
bool xs_rep_recent_seen(struct xs_rep_recent *s, const char *a,
         const char *b, int64_t now);

/* Frees the slots; the set stays usable (empty, rekeyed at next use). */
void xs_rep_recent_fini(struct xs_rep_recent *s);

#endif
