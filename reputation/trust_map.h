/*
 * trust_map.h: a small string-keyed hash table for mod_trust, internal
 * to reputation/: the egress windows by account (egress.c) and the key
 * discovery state by issuer domain (discovery.c).
 *
 * Keys come from peers (issuer domains) and from accounts: SipHash with
 * a key drawn at start, so that nobody can aim collisions at a bucket.
 */
#ifndef XMPPD_REPUTATION_TRUST_MAP_H
#define XMPPD_REPUTATION_TRUST_MAP_H

#include "xmppd/core/xs.h"

#include <sodium.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct xs_trust_map_ent {
    struct xs_trust_map_ent *next;  /* owned: next in the bucket */
    uint64_t                 hash;
    void                    *val;   /* owned by the table's user */
    char                     key[];
};

struct xs_trust_map {
    struct xs_trust_map_ent **b;    /* owned array */
    size_t                    nb;   /* a power of two */
    size_t                    n;
    unsigned char             hkey[crypto_shorthash_KEYBYTES];
};

void xs_trust_map_init(struct xs_trust_map *m);
/* Frees every entry (free_fn frees its value) and the buckets. */
void xs_trust_map_fini(struct xs_trust_map *m, void (*free_fn)(void *val));
struct xs_trust_map_ent *xs_trust_map_find(const struct xs_trust_map *m,
                             const char *key);
/* key must not be there yet. */
struct xs_trust_map_ent *xs_trust_map_add(struct xs_trust_map *m,
                             const char *key, void *val);
/* Remove (and free) every entry for which dead(val, now) is true (every
 * entry when dead is NULL); free_fn frees its value.  Returns how many
 * went. */
size_t xs_trust_map_prune(struct xs_trust_map *m,
           bool (*dead)(void *val, int64_t now),
           void (*free_fn)(void *val), int64_t now);

#endif
