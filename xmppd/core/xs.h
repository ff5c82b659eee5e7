/*
 * xs.h: what every file of xmppd needs: the status type, allocation that
 * aborts on OOM, logging, and the monotonic clock.
 */
#ifndef XMPPD_CORE_XS_H
#define XMPPD_CORE_XS_H

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A function returns either a status or a value, never both in one int. */
typedef enum xs_rc {
    XS_OK        =  0,
    XS_EINVAL    = -1,      /* malformed input (usually from a peer) */
    XS_ELIMIT    = -2,      /* a configured limit was reached */
    XS_ENOMEM    = -3,      /* only from xs_try_* allocation paths */
    XS_EIO       = -4,      /* socket, TLS or database failure */
    XS_ENOTFOUND = -5,
    XS_EEXIST    = -6,      /* already there (an account, a row) */
    XS_EAUTH     = -7,      /* authentication failed */
    XS_ETIMEOUT  = -8,      /* no answer in time */
} xs_rc;

const char *xs_rc_str(xs_rc rc);

/* Allocation for our own small structures: aborts on OOM, never NULL. */
void *xs_malloc(size_t n);
void *xs_calloc(size_t nmemb, size_t size);
void *xs_realloc(void *p, size_t n);
void *xs_reallocarray(void *p, size_t nmemb, size_t size);
char *xs_strdup(const char *s);
char *xs_strndup(const char *s, size_t n);
void  xs_free(void *p);

/* Printf into a fresh string (aborts on OOM). */
char *xs_asprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Logging: the level is checked before any argument is evaluated. */
enum xs_log_level {
    XS_LOG_DEBUG, XS_LOG_INFO, XS_LOG_NOTICE, XS_LOG_WARN, XS_LOG_ERR,
};
extern enum xs_log_level xs_log_min;

void xs_log_write(enum xs_log_level lvl, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
/* Appends the OpenSSL error queue (and clears it) to the line. */
void xs_log_openssl_write(enum xs_log_level lvl, const char *file, int line,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
xs_rc xs_log_level_parse(const char *name, enum xs_log_level *out);

#define xs_log(lvl, ...)                                                \
    do {                                                                \
        if ((lvl) >= xs_log_min)                                        \
            xs_log_write((lvl), __FILE__, __LINE__, __VA_ARGS__);       \
    } while (0)

#define xs_log_openssl(lvl, ...)                                        \
    do {                                                                \
        if ((lvl) >= xs_log_min)                                        \
            xs_log_openssl_write((lvl), __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* Every line about a session carries its id (never body or password). */
#define xs_slog(s, lvl, fmt, ...)                                       \
    xs_log((lvl), "s=%" PRIu64 " " fmt, (s)->id, ##__VA_ARGS__)

/* Our own invariants only; never for peer input. Always compiled in. */
#define xs_assert(cond)                                                 \
    do {                                                                \
        if (!(cond))                                                    \
            xs_assert_fail(#cond, __FILE__, __LINE__);                  \
    } while (0)
void xs_assert_fail(const char *what, const char *file, int line)
    __attribute__((noreturn));

/* Monotonic milliseconds, for timeouts and rate limits. */
uint64_t xs_now_ms(void);
/* Wall clock seconds since the epoch (for stored times); tests may shift it. */
int64_t xs_wall_s(void);
void xs_wall_shift(int64_t seconds);

#define XS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

#endif
