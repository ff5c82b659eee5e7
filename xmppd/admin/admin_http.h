/*
 * admin_http.h: the operator's HTTP JSON API, shaped like ejabberd's
 * mod_http_api: POST /api/<command> with a JSON object body and
 * "Authorization: Bearer <token>"; GET /metrics (Prometheus, metrics.h)
 * with the same token; GET /health without a token.
 * docs/admin-api.md is the reference.
 *
 * It serves every `listen` entry with `module: admin_http`, on the
 * server's event loop.  Database work is asynchronous; a client that goes
 * away before its answer is ready costs nothing but the wasted work.
 */
#ifndef XMPPD_ADMIN_ADMIN_HTTP_H
#define XMPPD_ADMIN_ADMIN_HTTP_H

#include "xmppd/core/xs.h"

struct xs_server;

/* Limits of one request; the same for every admin listener. */
#define XS_ADMIN_MAX_BODY       (64 * 1024)
#define XS_ADMIN_MAX_HEADERS    (8 * 1024)
#define XS_ADMIN_TIMEOUT_S      30

/*
 * Bind every admin_http listener of srv->conf on srv->base.  Call it
 * before the loop runs (and before dropping privileges).  XS_EIO when a
 * port cannot be bound, XS_EINVAL for a listener without a token; either
 * way one clear line is logged and nothing stays bound.  XS_OK (and
 * nothing bound) when no admin_http listener is configured.
 * srv must outlive xs_admin_http_stop().
 */
xs_rc xs_admin_http_start(struct xs_server *srv);

/*
 * Close the listeners and every admin connection.  Requests waiting for
 * the database are abandoned: their callbacks still run later and only
 * free their state.  Safe to call when nothing was started.
 */
void  xs_admin_http_stop(void);

/*
 * Test only (xmppd --test-clock): let the verb debug_clock_advance move
 * the wall clock.  Without this call the verb answers 404.
 */
void  xs_admin_http_test_clock_enable(void);

#endif
