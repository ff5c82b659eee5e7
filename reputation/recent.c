/*
 * recent.c: the bounded "seen recently" set of string pairs (recent.h),
 * shared by the evidence sources (sources.c) and the subscription gate
 * (gate.c).
 */
#include "reputation/recent.h"

#include "reputation/engine.h"

#include <sodium.h>
#include <string.h>

_Static_assert(XS_REP_RECENT_KEY_BYTES == crypto_shorthash_KEYBYTES,
    "the set's key is a SipHash key");

void
xs_rep_recent_init(struct xs_rep_recent *s, size_t max, int64_t window_s)
{
    *s = (struct xs_rep_recent)XS_REP_RECENT_INIT(max, window_s);
}

static uint64_t
recent_pair_hash(const struct xs_rep_recent *s, const char *a,
    const char *b)
{
    unsigned char buf[2 * (XS_REP_SUBJECT_MAX + 1)];
    unsigned char out[crypto_shorthash_BYTES];
    size_t alen = strnlen(a, XS_REP_SUBJECT_MAX);
    size_t blen = strnlen(b, XS_REP_SUBJECT_MAX);
    uint64_t h;

    /* "a\0b": bare JIDs are far shorter than the bound, which only keeps
     * a hostile string from overrunning the buffer. */
    memcpy(buf, a, alen);
    buf[alen] = '\0';
    memcpy(buf + alen + 1, b, blen);
    crypto_shorthash(out, buf, alen + 1 + blen, s->key);
    memcpy(&h, out, sizeof(h));
    /* 0 marks an empty slot. */
    return h != 0 ? h : 1;
}

static void
recent_clear(struct xs_rep_recent *s, int64_t now)
{
    memset(s->slots, 0, s->nslots * sizeof(s->slots[0]));
    s->n = 0;
    s->started = now;
}

bool
xs_rep_recent_seen(struct xs_rep_recent *s, const char *a, const char *b,
    int64_t now)
{
    uint64_t h;
    size_t i;

    xs_assert(s->max > 0);
    if (s->slots == NULL) {
        s->nslots = 1;
        while (s->nslots < s->max * 2)
            s->nslots <<= 1;
        s->slots = xs_calloc(s->nslots, sizeof(s->slots[0]));
        s->n = 0;
        s->started = now;
        randombytes_buf(s->key, sizeof(s->key));
    }
    /* A wall clock stepped back starts a new window too; so does a full
     * set (half its slots: probing stays short). */
    if (now - s->started >= s->window_s || now < s->started ||
        s->n >= s->max)
        recent_clear(s, now);
    h = recent_pair_hash(s, a, b);
    for (i = h & (s->nslots - 1); s->slots[i] != 0;
        i = (i + 1) & (s->nslots - 1)) {
        if (s->slots[i] == h)
            return true;
    }
    s->slots[i] = h;
    s->n++;
    return false;
}

void
xs_rep_recent_fini(struct xs_rep_recent *s)
{
    xs_free(s->slots);
    s->slots = NULL;
    s->nslots = 0;
    s->n = 0;
    sodium_memzero(s->key, sizeof(s->key));
}
