/*
 * admin.h: how a module serves an operator command of the admin API (and
 * so of xmppctl).  The command's name, arguments and result shape are a
 * row of xs_cmd_specs (commands.c, shared with xmppctl); the module lists
 * its handlers in its descriptor (`.commands`), and they are registered
 * and removed with the module.
 *
 * A handler ends the call exactly once, with xs_admin_call_ok() or
 * xs_admin_call_fail*(), now or later.  Asynchronous work keeps
 * xs_admin_call_udata(call), never the pointer, and gets the call back
 * with xs_admin_call_by_udata() (NULL once the server stopped waiting).
 */
#ifndef XMPPD_ADMIN_ADMIN_H
#define XMPPD_ADMIN_ADMIN_H

#include "xmppd/core/xs.h"

#include <jansson.h>

struct xs_admin_call;
struct xs_module;
struct xs_server;

typedef void xs_admin_cmd_fn(struct xs_admin_call *call, void *mod_state);

struct xs_admin_cmd {
    const char      *name;      /* a row of xs_cmd_specs; NULL ends a table */
    xs_admin_cmd_fn *fn;
};

xs_rc xs_admin_cmd_add(const struct xs_admin_cmd *c,
          const struct xs_module *owner, void *mod_state);
void  xs_admin_cmd_remove_owner(const struct xs_module *owner);

/*
 * An argument of the call (a string; borrowed).  "user" and "host" come
 * prepared: nodeprepped, and a host this server serves (the call was
 * refused with 400 otherwise).  NULL for a name the command does not have.
 */
const char *xs_admin_call_arg(const struct xs_admin_call *call,
                const char *name);

void                 *xs_admin_call_udata(const struct xs_admin_call *call);
struct xs_admin_call *xs_admin_call_by_udata(void *udata);

/* Answer with result (a new reference, stolen). */
void xs_admin_call_ok(struct xs_admin_call *call, json_t *result);
/* Answer with an HTTP error (400, 404, 409, ...) and a message that never
 * holds a secret. */
void xs_admin_call_fail(struct xs_admin_call *call, int code,
         const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Answer a failed database operation (503 busy or down, 500 otherwise). */
void xs_admin_call_fail_db(struct xs_admin_call *call, xs_rc rc);

/* The server the API runs for (borrowed). */
struct xs_server *xs_admin_server(void);

#endif
