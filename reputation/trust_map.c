/*
 * trust_map.c: the string-keyed hash table of mod_trust (trust_map.h).
 */
#include "reputation/trust_map.h"

#include <string.h>

void
xs_trust_map_init(struct xs_trust_map *m)
{
    m->nb = 64;
    m->n = 0;
    m->b = xs_calloc(m->nb, sizeof(m->b[0]));
    randombytes_buf(m->hkey, sizeof(m->hkey));
}

static uint64_t
map_hash(const struct xs_trust_map *m, const char *key)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;

    crypto_shorthash(out, (const unsigned char *)key, strlen(key), m->hkey);
    memcpy(&h, out, sizeof(h));
    return h;
}

struct xs_trust_map_ent *
xs_trust_map_find(const struct xs_trust_map *m, const char *key)
{
    uint64_t h;

    if (m->b == NULL)
        return NULL;
    h = map_hash(m, key);
    for (struct xs_trust_map_ent *e = m->b[h & (m->nb - 1)]; e != NULL;
        e = e->next) {
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    }
    return NULL;
}

/* Doubling at load 1 keeps chains short; entries keep their hashes. */
static void
map_grow(struct xs_trust_map *m)
{
    size_t nb = m->nb * 2;
    struct xs_trust_map_ent **b = xs_calloc(nb, sizeof(b[0]));

    for (size_t i = 0; i < m->nb; i++) {
        struct xs_trust_map_ent *e = m->b[i];

        while (e != NULL) {
            struct xs_trust_map_ent *next = e->next;

            e->next = b[e->hash & (nb - 1)];
            b[e->hash & (nb - 1)] = e;
            e = next;
        }
    }
    xs_free(m->b);
    m->b = b;
    m->nb = nb;
}

/* key must not be there yet. */
struct xs_trust_map_ent *
xs_trust_map_add(struct xs_trust_map *m, const char *key, void *val)
{
    size_t len = strlen(key);
    struct xs_trust_map_ent *e = xs_malloc(sizeof(*e) + len + 1);

    if (m->n >= m->nb)
        map_grow(m);
    memcpy(e->key, key, len + 1);
    e->hash = map_hash(m, key);
    e->val = val;
    e->next = m->b[e->hash & (m->nb - 1)];
    m->b[e->hash & (m->nb - 1)] = e;
    m->n++;
    return e;
}

size_t
xs_trust_map_prune(struct xs_trust_map *m,
    bool (*dead)(void *val, int64_t now), void (*free_fn)(void *val),
    int64_t now)
{
    size_t gone = 0;

    for (size_t i = 0; m->b != NULL && i < m->nb; i++) {
        struct xs_trust_map_ent **pp = &m->b[i];

        while (*pp != NULL) {
            struct xs_trust_map_ent *e = *pp;

            if (dead == NULL || dead(e->val, now)) {
                *pp = e->next;
                free_fn(e->val);
                xs_free(e);
                m->n--;
                gone++;
            } else {
                pp = &e->next;
            }
        }
    }
    return gone;
}

void
xs_trust_map_fini(struct xs_trust_map *m, void (*free_fn)(void *val))
{
    (void)xs_trust_map_prune(m, NULL, free_fn, 0);
    xs_free(m->b);
    m->b = NULL;
    m->nb = 0;
}
