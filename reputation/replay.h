/*
 * replay.h: the nonces of trust flags already accepted, per issuer, each
 * until its flag's expiry plus the clock skew (docs/trust-flags.md,
 * "Replay cache").  A flag whose (issuer, nonce) is here is a replay.
 *
 * A hash set with expiry, bounded: at most max_entries live nonces.  When
 * it is full of live nonces, new flags are refused (XS_ELIMIT) instead of
 * forgetting old ones, because forgetting is exactly what a replay needs:
 * an attacker who holds one captured flag would push enough fresh flags
 * of its own to evict that nonce, then replay the flag while it is still
 * valid.  Refusing fails closed: the gate treats such a flag as
 * unverified (no evidence either way) and counts it.
 *
 * Entries are keyed by a 128-bit BLAKE2b of (issuer, nonce) under a
 * random key drawn at creation, so that peers cannot aim collisions at
 * the table (hash flooding) and no issuer string is stored.  Expired
 * entries are pruned a few slots per insert, and all at once (at most
 * once a second) when the table is full.  Memory: 24 bytes per slot, at
 * most 2 slots per entry, grown on demand.  Pure memory, no clock of its
 * own: every call takes now (wall seconds).
 */
#ifndef XMPPD_REPUTATION_REPLAY_H
#define XMPPD_REPUTATION_REPLAY_H

#include "xmppd/core/xs.h"

#define XS_REPLAY_NONCE_LEN 16

struct xs_replay;

/* max_entries >= 1. */
struct xs_replay *xs_replay_new(size_t max_entries);
void              xs_replay_free(struct xs_replay *r);      /* NULL-safe */

/* Whether (issuer, nonce) is held and its time has not passed. */
bool  xs_replay_seen(const struct xs_replay *r, const char *issuer,
          const uint8_t nonce[XS_REPLAY_NONCE_LEN], int64_t now);

/*
 * Record (issuer, nonce) until `until` (the flag's expiry plus the skew).
 * XS_OK; XS_EEXIST if it is held already (a replay); XS_ELIMIT when
 * max_entries live nonces are held (nothing is forgotten).  until <= now
 * records nothing (the flag could not be accepted again anyway): XS_OK.
 */
xs_rc xs_replay_add(struct xs_replay *r, const char *issuer,
          const uint8_t nonce[XS_REPLAY_NONCE_LEN], int64_t until,
          int64_t now);

/* Drop every expired entry now; returns how many. */
size_t xs_replay_prune(struct xs_replay *r, int64_t now);

struct xs_replay_stats {
    size_t   entries;       /* held, expired ones not yet pruned included */
    size_t   max_entries;
    size_t   slots;         /* table size */
    uint64_t added;
    uint64_t replays;       /* XS_EEXIST answers */
    uint64_t refused_full;  /* XS_ELIMIT answers */
    uint64_t pruned;
};
void xs_replay_stats(const struct xs_replay *r, struct xs_replay_stats *out);

#endif
