/* log.c: one line per event on stderr; the only file that writes to it. */
#include "xmppd/core/xs.h"

#include <openssl/err.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum xs_log_level xs_log_min = XS_LOG_INFO;

static const char *const log_names[] = {
    [XS_LOG_DEBUG] = "debug", [XS_LOG_INFO] = "info",
    [XS_LOG_NOTICE] = "notice", [XS_LOG_WARN] = "warning",
    [XS_LOG_ERR] = "error",
};

static void
log_vline(enum xs_log_level lvl, const char *file, int line, const char *tail,
    const char *fmt, va_list ap)
{
    char msg[2048];
    char stamp[32];
    struct timespec ts;
    struct tm tm;
    int n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S", &tm);
    n = vsnprintf(msg, sizeof(msg), fmt, ap);
    if (n < 0)
        snprintf(msg, sizeof(msg), "(log format error)");
    /* A truncated line is still one line: long lines are cut, not split. */
    for (char *p = msg; *p != '\0'; p++) {
        if (*p == '\n' || *p == '\r')
            *p = ' ';
    }
    if (lvl == XS_LOG_DEBUG)
        fprintf(stderr, "%s.%03ldZ %s %s%s [%s:%d]\n", stamp,
            ts.tv_nsec / 1000000, log_names[lvl], msg, tail, file, line);
    else
        fprintf(stderr, "%s.%03ldZ %s %s%s\n", stamp, ts.tv_nsec / 1000000,
            log_names[lvl], msg, tail);
}

void
xs_log_write(enum xs_log_level lvl, const char *file, int line,
    const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vline(lvl, file, line, "", fmt, ap);
    va_end(ap);
}

void
xs_log_openssl_write(enum xs_log_level lvl, const char *file, int line,
    const char *fmt, ...)
{
    char tail[512] = "";
    size_t used = 0;
    unsigned long e;
    va_list ap;

    while ((e = ERR_get_error()) != 0) {
        char one[256];

        ERR_error_string_n(e, one, sizeof(one));
        if (used + strlen(one) + 4 < sizeof(tail)) {
            used += (size_t)snprintf(tail + used, sizeof(tail) - used,
                " (%s)", one);
        }
    }
    va_start(ap, fmt);
    log_vline(lvl, file, line, tail, fmt, ap);
    va_end(ap);
}

xs_rc
xs_log_level_parse(const char *name, enum xs_log_level *out)
{
    static const struct { const char *name; enum xs_log_level lvl; } map[] = {
        { "debug", XS_LOG_DEBUG }, { "info", XS_LOG_INFO },
        { "notice", XS_LOG_NOTICE }, { "warning", XS_LOG_WARN },
        { "warn", XS_LOG_WARN }, { "error", XS_LOG_ERR },
        { "critical", XS_LOG_ERR },
    };

    for (size_t i = 0; i < XS_ARRAY_LEN(map); i++) {
        if (strcasecmp(name, map[i].name) == 0) {
            *out = map[i].lvl;
            return XS_OK;
        }
    }
    return XS_EINVAL;
}

void
xs_assert_fail(const char *what, const char *file, int line)
{
    xs_log_write(XS_LOG_ERR, file, line, "assertion failed: %s", what);
    abort();
}
