/* mem.c: allocation that aborts on OOM, for our own small structures. */
#include "xmppd/core/xs.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
mem_oom(size_t n)
{
    xs_log(XS_LOG_ERR, "out of memory allocating %zu bytes", n);
    abort();
}

void *
xs_malloc(size_t n)
{
    void *p = malloc(n ? n : 1);

    if (p == NULL)
        mem_oom(n);
    return p;
}

void *
xs_calloc(size_t nmemb, size_t size)
{
    void *p = calloc(nmemb ? nmemb : 1, size ? size : 1);

    if (p == NULL)
        mem_oom(nmemb * size);
    return p;
}

void *
xs_realloc(void *p, size_t n)
{
    void *np = realloc(p, n ? n : 1);

    if (np == NULL)
        mem_oom(n);
    return np;
}

void *
xs_reallocarray(void *p, size_t nmemb, size_t size)
{
    if (size != 0 && nmemb > SIZE_MAX / size)
        mem_oom(SIZE_MAX);
    return xs_realloc(p, nmemb * size);
}

char *
xs_strdup(const char *s)
{
    return xs_strndup(s, strlen(s));
}

char *
xs_strndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *d = xs_malloc(len + 1);

    memcpy(d, s, len);
    d[len] = '\0';
    return d;
}

void
xs_free(void *p)
{
    free(p);
}

char *
xs_asprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vasprintf(&s, fmt, ap);
    va_end(ap);
    if (n < 0)
        mem_oom(strlen(fmt));
    return s;
}

const char *
xs_rc_str(xs_rc rc)
{
    switch (rc) {
    case XS_OK:        return "ok";
    case XS_EINVAL:    return "invalid input";
    case XS_ELIMIT:    return "limit reached";
    case XS_ENOMEM:    return "out of memory";
    case XS_EIO:       return "i/o failure";
    case XS_ENOTFOUND: return "not found";
    case XS_EEXIST:    return "already exists";
    case XS_EAUTH:     return "authentication failed";
    case XS_ETIMEOUT:  return "timed out";
    }
    return "unknown status";
}
