/*
 * observers.c: the fixed-capacity observer list (observers.h).
 */
#include "xmppd/core/observers.h"

#include <string.h>

static bool
observer_equal(const struct xs_observer *a, const struct xs_observer *b)
{
    return a->fn == b->fn && a->fn2 == b->fn2 && a->ud == b->ud;
}

xs_rc
xs_observers_add(struct xs_observers *l, const struct xs_observer *o)
{
    if (o->fn == NULL && o->fn2 == NULL)
        return XS_EINVAL;
    if (l->n == XS_OBSERVERS_MAX)
        return XS_ELIMIT;
    l->v[l->n++] = *o;
    return XS_OK;
}

void
xs_observers_remove(struct xs_observers *l, const struct xs_observer *o)
{
    size_t keep = 0;

    for (size_t i = 0; i < l->n; i++) {
        if (!observer_equal(&l->v[i], o))
            l->v[keep++] = l->v[i];
    }
    l->n = keep;
}

size_t
xs_observers_snapshot(const struct xs_observers *l,
    struct xs_observer out[XS_OBSERVERS_MAX])
{
    memcpy(out, l->v, l->n * sizeof(out[0]));
    return l->n;
}
