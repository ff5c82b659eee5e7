/*
 * replay.c: the replay cache of trust-flag nonces: open addressing with
 * linear probing, backward-shift deletion (no tombstones, so probe chains
 * never rot), a keyed hash, expiry.
 */
#include "reputation/replay.h"

#include <sodium.h>
#include <string.h>

#define REPLAY_MIN_SLOTS    1024
#define REPLAY_PRUNE_STEP   4       /* slots visited per insert */
#define REPLAY_ID_LEN       16

struct replay_slot {
    uint8_t id[REPLAY_ID_LEN];      /* keyed BLAKE2b of (issuer, nonce) */
    int64_t until;                  /* 0: empty */
};

struct xs_replay {
    struct replay_slot *slots;      /* owned; nslots is a power of two */
    size_t              nslots;
    size_t              count;      /* occupied slots */
    size_t              max_entries;
    size_t              max_slots;  /* 2 * max_entries, rounded up */
    size_t              cursor;     /* of the amortized prune */
    int64_t             full_prune_at;  /* last full prune when full */
    uint8_t             key[crypto_generichash_KEYBYTES];
    uint64_t            added, replays, refused_full, pruned;
};

static size_t
replay_pow2(size_t n)
{
    size_t p = REPLAY_MIN_SLOTS;

    while (p < n)
        p <<= 1;
    return p;
}

struct xs_replay *
xs_replay_new(size_t max_entries)
{
    struct xs_replay *r = xs_calloc(1, sizeof(*r));

    xs_assert(max_entries >= 1 && max_entries <= SIZE_MAX / 4);
    r->max_entries = max_entries;
    r->max_slots = replay_pow2(2 * max_entries);
    r->nslots = REPLAY_MIN_SLOTS;
    r->slots = xs_calloc(r->nslots, sizeof(*r->slots));
    r->full_prune_at = INT64_MIN;
    randombytes_buf(r->key, sizeof(r->key));
    return r;
}

void
xs_replay_free(struct xs_replay *r)
{
    if (r == NULL)
        return;
    xs_free(r->slots);
    sodium_memzero(r->key, sizeof(r->key));
    xs_free(r);
}

static void
replay_id(const struct xs_replay *r, const char *issuer,
    const uint8_t nonce[XS_REPLAY_NONCE_LEN], uint8_t id[REPLAY_ID_LEN])
{
    crypto_generichash_state st;
    static const uint8_t sep = 0;

    /* The separator keeps (issuer, nonce) pairs apart: a domain name
     * never holds a NUL byte. */
    crypto_generichash_init(&st, r->key, sizeof(r->key), REPLAY_ID_LEN);
    crypto_generichash_update(&st, (const uint8_t *)issuer, strlen(issuer));
    crypto_generichash_update(&st, &sep, 1);
    crypto_generichash_update(&st, nonce, XS_REPLAY_NONCE_LEN);
    crypto_generichash_final(&st, id, REPLAY_ID_LEN);
}

static size_t
replay_home(const uint8_t id[REPLAY_ID_LEN], size_t mask)
{
    uint64_t h;

    memcpy(&h, id, sizeof(h));
    return (size_t)h & mask;
}

/* Empty slot i, shifting back the entries of its cluster that would
 * otherwise no longer be reachable from their home slot. */
static void
replay_delete(struct xs_replay *r, size_t i)
{
    size_t mask = r->nslots - 1, j = i;

    for (;;) {
        size_t k;

        j = (j + 1) & mask;
        if (r->slots[j].until == 0)
            break;
        k = replay_home(r->slots[j].id, mask);
        /* Entry j stays if its home lies cyclically in (i, j]. */
        if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
            continue;
        r->slots[i] = r->slots[j];
        i = j;
    }
    memset(&r->slots[i], 0, sizeof(r->slots[i]));
    r->count--;
}

/* Visit n slots from the cursor, dropping expired entries. */
static size_t
replay_sweep(struct xs_replay *r, size_t n, int64_t now)
{
    size_t gone = 0;

    while (n-- > 0) {
        struct replay_slot *s = &r->slots[r->cursor];

        if (s->until != 0 && s->until < now) {
            /* Something may shift into this slot: look at it again. */
            replay_delete(r, r->cursor);
            gone++;
            continue;
        }
        r->cursor = (r->cursor + 1) & (r->nslots - 1);
    }
    r->pruned += gone;
    return gone;
}

size_t
xs_replay_prune(struct xs_replay *r, int64_t now)
{
    size_t gone = 0;

    /* A full turn, plus what deletions made us look at twice. */
    r->cursor = 0;
    for (size_t i = 0; i < r->nslots; i++) {
        struct replay_slot *s = &r->slots[i];

        while (s->until != 0 && s->until < now) {
            replay_delete(r, i);
            gone++;
        }
    }
    r->pruned += gone;
    return gone;
}

/* The slot holding id, or the empty slot where it would go. */
static size_t
replay_find(const struct xs_replay *r, const uint8_t id[REPLAY_ID_LEN],
    size_t *first_expired, int64_t now)
{
    size_t mask = r->nslots - 1, i = replay_home(id, mask);

    if (first_expired != NULL)
        *first_expired = SIZE_MAX;
    /* Load stays <= 1/2, so an empty slot always ends the probe. */
    for (;; i = (i + 1) & mask) {
        const struct replay_slot *s = &r->slots[i];

        if (s->until == 0 || memcmp(s->id, id, REPLAY_ID_LEN) == 0)
            return i;
        if (first_expired != NULL && *first_expired == SIZE_MAX &&
            s->until < now)
            *first_expired = i;
    }
}

bool
xs_replay_seen(const struct xs_replay *r, const char *issuer,
    const uint8_t nonce[XS_REPLAY_NONCE_LEN], int64_t now)
{
    uint8_t id[REPLAY_ID_LEN];
    const struct replay_slot *s;

    replay_id(r, issuer, nonce, id);
    s = &r->slots[replay_find(r, id, NULL, now)];
    return s->until != 0 && s->until >= now;
}

static void
replay_grow(struct xs_replay *r)
{
    struct replay_slot *old = r->slots;
    size_t nold = r->nslots;

    r->nslots = nold * 2;
    r->slots = xs_calloc(r->nslots, sizeof(*r->slots));
    r->cursor = 0;
    for (size_t i = 0; i < nold; i++) {
        size_t j;

        if (old[i].until == 0)
            continue;
        j = replay_find(r, old[i].id, NULL, 0);
        r->slots[j] = old[i];
    }
    xs_free(old);
}

xs_rc
xs_replay_add(struct xs_replay *r, const char *issuer,
    const uint8_t nonce[XS_REPLAY_NONCE_LEN], int64_t until, int64_t now)
{
    uint8_t id[REPLAY_ID_LEN];
    size_t i, expired;

    replay_id(r, issuer, nonce, id);
    (void)replay_sweep(r, REPLAY_PRUNE_STEP, now);
    for (;;) {
        i = replay_find(r, id, &expired, now);
        if (r->slots[i].until != 0) {
            if (r->slots[i].until >= now) {
                r->replays++;
                return XS_EEXIST;
            }
            break;                      /* our own expired entry: reuse */
        }
        if (until <= now)
            return XS_OK;
        if (expired != SIZE_MAX) {
            i = expired;                /* on our probe path: reuse */
            break;
        }
        if (r->count < r->max_entries) {
            if (2 * (r->count + 1) > r->nslots && r->nslots < r->max_slots) {
                replay_grow(r);
                continue;
            }
            r->count++;
            break;
        }
        /* Full.  Expired entries may be waiting for the sweep: look for
         * them once a second at most (a full pass costs O(slots)). */
        if (now == r->full_prune_at ||
            xs_replay_prune(r, now) == 0) {
            r->full_prune_at = now;
            r->refused_full++;
            return XS_ELIMIT;
        }
        r->full_prune_at = now;
    }
    if (until <= now) {
        /* Only reachable for our own expired entry: let it go. */
        replay_delete(r, i);
        return XS_OK;
    }
    memcpy(r->slots[i].id, id, REPLAY_ID_LEN);
    r->slots[i].until = until;
    r->added++;
    return XS_OK;
}

void
xs_replay_stats(const struct xs_replay *r, struct xs_replay_stats *out)
{
    memset(out, 0, sizeof(*out));
    out->entries = r->count;
    out->max_entries = r->max_entries;
    out->slots = r->nslots;
    out->added = r->added;
    out->replays = r->replays;
    out->refused_full = r->refused_full;
    out->pruned = r->pruned;
}
