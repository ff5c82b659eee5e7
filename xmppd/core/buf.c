/* buf.c: bounded buffers for anything whose size a peer can drive. */
#include "xmppd/core/buf.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define XS_BUF_MIN 256

void
xs_buf_init(struct xs_buf *b, size_t max)
{
    b->data = NULL;
    b->len = 0;
    b->cap = 0;
    b->max = max;
}

void
xs_buf_fini(struct xs_buf *b)
{
    /* Buffers may have held SASL material: wipe before release. */
    if (b->data != NULL)
        sodium_memzero(b->data, b->cap);
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

void
xs_buf_reset(struct xs_buf *b)
{
    b->len = 0;
}

static xs_rc
buf_reserve(struct xs_buf *b, size_t n)
{
    size_t want;
    uint8_t *nd;

    if (n > b->max - b->len)            /* cannot wrap: len <= max */
        return XS_ELIMIT;
    if (n <= b->cap - b->len)
        return XS_OK;
    want = b->cap ? b->cap : XS_BUF_MIN;
    if (want > b->max)
        want = b->max;
    while (want - b->len < n)
        want = (want > b->max / 2) ? b->max : want * 2;
    nd = realloc(b->data, want);        /* peer-driven size: may fail */
    if (nd == NULL)
        return XS_ENOMEM;
    b->data = nd;
    b->cap = want;
    return XS_OK;
}

xs_rc
xs_buf_append(struct xs_buf *b, const void *p, size_t n)
{
    xs_rc rc;

    if (n == 0)
        return XS_OK;
    if ((rc = buf_reserve(b, n)) != XS_OK)
        return rc;
    memcpy(b->data + b->len, p, n);
    b->len += n;
    return XS_OK;
}

xs_rc
xs_buf_append_str(struct xs_buf *b, const char *s)
{
    return xs_buf_append(b, s, strlen(s));
}

xs_rc
xs_buf_cstr(struct xs_buf *b, const char **out)
{
    xs_rc rc;

    *out = NULL;
    if ((rc = buf_reserve(b, 1)) != XS_OK)
        return rc;
    b->data[b->len] = '\0';
    *out = (const char *)b->data;
    return XS_OK;
}
