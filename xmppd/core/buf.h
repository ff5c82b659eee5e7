/* buf.h: a byte buffer with a hard ceiling; a refused append changes nothing. */
#ifndef XMPPD_CORE_BUF_H
#define XMPPD_CORE_BUF_H

#include "xmppd/core/xs.h"

/* Invariant: len <= cap <= max. */
struct xs_buf {
    uint8_t *data;      /* owned */
    size_t   len;
    size_t   cap;
    size_t   max;       /* hard ceiling, fixed at xs_buf_init() */
};

void  xs_buf_init(struct xs_buf *b, size_t max);
void  xs_buf_fini(struct xs_buf *b);
void  xs_buf_reset(struct xs_buf *b);
xs_rc xs_buf_append(struct xs_buf *b, const void *p, size_t n);
xs_rc xs_buf_append_str(struct xs_buf *b, const char *s);
/* Appends a NUL that is not counted in len, so data reads as a C string. */
xs_rc xs_buf_cstr(struct xs_buf *b, const char **out);

#endif
