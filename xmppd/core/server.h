/*
 * server.h: the one process-wide context: the event loop, the loaded
 * configuration, the database pool and the TLS context.  Owned by main.c;
 * every other file borrows it through xs_server().
 */
#ifndef XMPPD_CORE_SERVER_H
#define XMPPD_CORE_SERVER_H

#include "xmppd/core/conf.h"
#include "xmppd/core/xs.h"

#include <openssl/ssl.h>

struct event_base;
struct pgq;

#define XS_VERSION "0.1.0"

struct xs_server {
    struct event_base *base;        /* owned */
    struct xs_conf    *conf;        /* owned */
    struct pgq        *db;          /* owned */
    SSL_CTX           *tls;         /* owned; NULL when no certfile loads */
    char              *conf_path;   /* owned */
    int64_t            started_wall;    /* xs_wall_s() at start */
    bool               is_stopping;     /* SIGTERM/SIGINT seen */
};

/* The process's server context; valid between start and exit. */
struct xs_server *xs_server(void);

/*
 * Startup barrier: a module whose state must be loaded before clients are
 * served (say, every block list) calls xs_startup_hold() from its init and
 * xs_startup_release() when its load completes; the listeners open once
 * every hold is released.  fail: the load failed, the start is abandoned.
 */
void xs_startup_hold(void);
void xs_startup_release(bool is_ok);

/*
 * Shutdown drain: on SIGTERM the listeners stop and every session closes;
 * then XS_EV_SERVER_DRAINING fires, and a module with write-behind state
 * (activity counters, reputation evidence) calls xs_shutdown_hold() from
 * its handler and xs_shutdown_release() once PostgreSQL has committed
 * it.  The loop ends when every hold is released, or after
 * XS_SHUTDOWN_DRAIN_MS whatever is left (logged), so a dead database
 * never keeps the process from exiting.
 */
#define XS_SHUTDOWN_DRAIN_MS 5000
void xs_shutdown_hold(void);
void xs_shutdown_release(void);
/* main.c: fire XS_EV_SERVER_DRAINING on base and call done (once) when
 * every hold is released or the time is up; free what it made after the
 * loop ended. */
void xs_shutdown_drain(struct event_base *base, void (*done)(void));
void xs_shutdown_drain_free(void);

#endif
