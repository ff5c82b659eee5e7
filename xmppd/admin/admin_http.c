/*
 * admin_http.c: the admin HTTP JSON API (evhttp on the server's loop).
 *
 * A request's way: admin_on_request() routes by path; /metrics (metrics.c)
 * and /api/<command> are authenticated (bearer token, constant-time
 * compare); a command's JSON body is
 * parsed and checked against the command's spec (commands.c), user and
 * host are prepared, then the command's handler runs.  A handler ends the
 * call exactly once, with xs_admin_call_ok() or xs_admin_call_fail(), either at
 * once or from a database callback.
 *
 * A client may go away while its call waits for the database.  evhttp
 * then either frees the request itself (the connection is freed with the
 * request still queued on it: xs_admin_http_stop) or detaches it (a
 * read error or timeout seen while we still owe the answer: the request
 * is then ours to free).  Either way it calls the connection's close
 * callback first, where we tell the two apart and forget the request, so
 * the late database callback touches only our own struct xs_admin_call.
 *
 * Database callbacks get the call's id, not its pointer: at stop the
 * waiting calls are freed (pgq_free() never calls back), and a callback
 * that still comes finds no call by that id and does nothing.
 */
#include "xmppd/admin/admin_http.h"

#include "xmppd/admin/admin.h"

#include "db/accounts.h"
#include "db/pgq.h"
#include "xmppd/admin/commands.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/c2s/scram.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/conf.h"
#include "xmppd/core/hooks.h"
#include "xmppd/core/server.h"
#include "xmppd/core/workers.h"
#include "xmppd/xml/jid.h"

#include <ctype.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <idn-free.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <stringprep.h>
#include <sys/queue.h>

/* PBKDF2 cost of stored credentials; what ejabberd and Prosody use. */
#define ADMIN_SCRAM_ITER   XS_SCRAM_ITER_DEFAULT
/* Longest argument value shown in a log line. */
#define ADMIN_LOG_VAL_MAX  64
/* debug_clock_advance moves at most this far in one call (100 years). */
#define ADMIN_CLOCK_ADVANCE_MAX ((int64_t)100 * 366 * 24 * 3600)

/* A verb served by a module (its row in xs_cmd_specs is in commands.c). */
struct mod_cmd {
    const char             *name;       /* borrowed (static) */
    xs_admin_cmd_fn        *fn;
    void                   *mod_state;  /* borrowed */
    const struct xs_module *owner;      /* borrowed */
};

struct admin_listener {
    struct evhttp               *http;  /* owned */
    const struct xs_listen_conf *lc;    /* borrowed from the server's conf */
    size_t                       token_len;
};

static struct {
    struct xs_server      *srv;         /* borrowed; NULL when stopped */
    struct admin_listener *ls;          /* owned */
    size_t                 nls;
    TAILQ_HEAD(, xs_admin_call) calls;     /* owned: every call not yet
                                           answered */
    uintptr_t              next_id;
    struct mod_cmd        *mod_cmds;    /* owned: verbs of loaded modules */
    size_t                 nmod_cmds;
    bool                   is_test_clock;   /* xmppd --test-clock */
} admin = { .calls = TAILQ_HEAD_INITIALIZER(admin.calls) };

/* One authenticated command, from its request to its answer. */
struct xs_admin_call {
    uintptr_t                 id;       /* udata of database callbacks */
    TAILQ_ENTRY(xs_admin_call)   link;     /* in admin.calls */
    struct evhttp_request    *req;      /* borrowed from evhttp; NULL once
                                           the client is gone */
    struct evhttp_connection *evcon;    /* borrowed; valid while req is */
    const struct xs_cmd_spec *spec;     /* borrowed (static) */
    json_t                   *args;     /* owned: the checked body */
    char                     *user;     /* owned: nodeprepped, or NULL */
    char                     *host;     /* owned: a local host, or NULL */
    uint64_t                  started_ms;
};

/* Ends with exactly one xs_admin_call_ok() or xs_admin_call_fail(), now or
 * from a callback. */
typedef void admin_cmd_fn(struct xs_admin_call *call);

struct admin_cmd {
    const struct xs_cmd_spec *spec;     /* borrowed (static): name, args */
    admin_cmd_fn             *fn;
};

static admin_cmd_fn admin_register;
static admin_cmd_fn admin_unregister;
static admin_cmd_fn admin_registered_users;
static admin_cmd_fn admin_change_password;
static admin_cmd_fn admin_connected_users;
static admin_cmd_fn admin_connected_users_number;
static admin_cmd_fn admin_kick_user;
static admin_cmd_fn admin_status;
static admin_cmd_fn admin_debug_clock_advance;

#define ADMIN_CMD(id, handler) \
    [id] = { .spec = &xs_cmd_specs[id], .fn = (handler) }

/* The dispatch table: one row per verb, indexed like xs_cmd_specs. */
static const struct admin_cmd admin_cmds[XS_CMD__COUNT] = {
    ADMIN_CMD(XS_CMD_REGISTER, admin_register),
    ADMIN_CMD(XS_CMD_UNREGISTER, admin_unregister),
    ADMIN_CMD(XS_CMD_REGISTERED_USERS, admin_registered_users),
    ADMIN_CMD(XS_CMD_CHANGE_PASSWORD, admin_change_password),
    ADMIN_CMD(XS_CMD_CONNECTED_USERS, admin_connected_users),
    ADMIN_CMD(XS_CMD_CONNECTED_USERS_NUMBER, admin_connected_users_number),
    ADMIN_CMD(XS_CMD_KICK_USER, admin_kick_user),
    ADMIN_CMD(XS_CMD_STATUS, admin_status),
    ADMIN_CMD(XS_CMD_DEBUG_CLOCK_ADVANCE, admin_debug_clock_advance),
};

/* ---- Replies ----------------------------------------------------------- */

static const char *
admin_reason(int code)
{
    switch (code) {
    case HTTP_OK:               return "OK";
    case HTTP_BADREQUEST:       return "Bad Request";
    case 401:                   return "Unauthorized";
    case HTTP_NOTFOUND:         return "Not Found";
    case HTTP_BADMETHOD:        return "Method Not Allowed";
    case 409:                   return "Conflict";
    case HTTP_INTERNAL:         return "Internal Server Error";
    case HTTP_SERVUNAVAIL:      return "Service Unavailable";
    default:                    return "Error";
    }
}

/* Send body (a JSON value, any type) with code; frees nothing of req. */
static void
admin_send_json(struct evhttp_request *req, int code, const json_t *body)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    char *text;

    text = json_dumps(body, JSON_ENCODE_ANY | JSON_COMPACT);
    xs_assert(text != NULL);            /* only on OOM */
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evbuffer_add(out, text, strlen(text));
    evbuffer_add(out, "\n", 1);
    free(text);                         /* jansson's allocator: malloc */
    evhttp_send_reply(req, code, admin_reason(code), NULL);
}

/* {"status":"error","code":N,"message":"..."}; msg never holds a secret. */
static void
admin_send_error(struct evhttp_request *req, int code, const char *msg)
{
    json_t *body;

    body = json_pack("{s:s, s:i, s:s}", "status", "error", "code", code,
        "message", msg);
    if (body == NULL)                   /* msg not UTF-8: never ours */
        body = json_pack("{s:s, s:i, s:s}", "status", "error", "code", code,
            "message", admin_reason(code));
    xs_assert(body != NULL);
    admin_send_json(req, code, body);
    json_decref(body);
}

/*
 * A value as it may appear in a log line: at most ADMIN_LOG_VAL_MAX
 * bytes, cut on a UTF-8 boundary, with spaces, '=' and control bytes
 * replaced so that key=value parsing of our lines stays unambiguous.
 */
static void
admin_log_value(const char *in, char *out, size_t outlen)
{
    size_t n = strlen(in);
    size_t i;

    if (n > ADMIN_LOG_VAL_MAX)
        n = ADMIN_LOG_VAL_MAX;
    if (n >= outlen)
        n = outlen - 1;
    if (n < strlen(in)) {
        /* Cut before a partial UTF-8 sequence. */
        while (n > 0 && ((unsigned char)in[n] & 0xC0) == 0x80)
            n--;
    }
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)in[i];

        out[i] = (c <= ' ' || c == '=' || c == 0x7F) ? '?' : (char)c;
    }
    out[i] = '\0';
}

/* The waiting call with this id, or NULL once it is gone (stopped). */
struct xs_admin_call *
xs_admin_call_by_udata(void *udata)
{
    uintptr_t id = (uintptr_t)udata;
    struct xs_admin_call *call;

    TAILQ_FOREACH(call, &admin.calls, link) {
        if (call->id == id)
            return call;
    }
    return NULL;
}

void *
xs_admin_call_udata(const struct xs_admin_call *call)
{
    return (void *)call->id;
}

static void
admin_call_free(struct xs_admin_call *call)
{
    TAILQ_REMOVE(&admin.calls, call, link);
    json_decref(call->args);
    xs_free(call->user);
    xs_free(call->host);
    xs_free(call);
}

/* "admin: command=register user=bob host=localhost status=ok" */
static void
admin_call_log(const struct xs_admin_call *call, int code)
{
    char fields[512] = "";
    size_t used = 0;

    for (size_t i = 0; i < call->spec->nargs; i++) {
        const struct xs_cmd_arg *a = &call->spec->args[i];
        char val[ADMIN_LOG_VAL_MAX + 1];
        const char *v;
        int n;

        if (a->is_secret)
            continue;                   /* never a password */
        v = xs_admin_call_arg(call, a->name);
        if (v == NULL && a->is_optional)
            continue;                   /* not given */
        admin_log_value(v != NULL ? v : "", val, sizeof(val));
        n = snprintf(fields + used, sizeof(fields) - used, " %s=%s",
            a->name, val);
        if (n < 0 || (size_t)n >= sizeof(fields) - used)
            break;
        used += (size_t)n;
    }
    if (code == HTTP_OK)
        xs_log(XS_LOG_INFO, "admin: command=%s%s status=ok ms=%" PRIu64,
            call->spec->name, fields, xs_now_ms() - call->started_ms);
    else
        xs_log(XS_LOG_INFO,
            "admin: command=%s%s status=error code=%d ms=%" PRIu64,
            call->spec->name, fields, code, xs_now_ms() - call->started_ms);
}

/* Forget the client side of call: no close notice is owed any more. */
static struct evhttp_request *
admin_call_detach(struct xs_admin_call *call)
{
    struct evhttp_request *req = call->req;

    if (req != NULL)
        evhttp_connection_set_closecb(call->evcon, NULL, NULL);
    call->req = NULL;
    call->evcon = NULL;
    return req;
}

/* Answer with result (a new reference, stolen) and end the call. */
void
xs_admin_call_ok(struct xs_admin_call *call, json_t *result)
{
    struct evhttp_request *req = admin_call_detach(call);

    xs_assert(result != NULL);
    admin_call_log(call, HTTP_OK);
    if (req != NULL)
        admin_send_json(req, HTTP_OK, result);
    json_decref(result);
    admin_call_free(call);
}


/* Answer with an error and end the call. */
void
xs_admin_call_fail(struct xs_admin_call *call, int code, const char *fmt, ...)
{
    struct evhttp_request *req = admin_call_detach(call);
    char msg[2 * XS_JID_PART_MAX + 256];    /* room for user@host */
    va_list ap;

    va_start(ap, fmt);
    if (vsnprintf(msg, sizeof(msg), fmt, ap) < 0)
        snprintf(msg, sizeof(msg), "%s", admin_reason(code));
    va_end(ap);
    admin_call_log(call, code);
    if (req != NULL)
        admin_send_error(req, code, msg);
    admin_call_free(call);
}

/* Map a failed database operation to an answer. */
void
xs_admin_call_fail_db(struct xs_admin_call *call, xs_rc rc)
{
    xs_log(XS_LOG_WARN, "admin: command=%s database: %s", call->spec->name,
        xs_rc_str(rc));
    if (rc == XS_ELIMIT)
        xs_admin_call_fail(call, HTTP_SERVUNAVAIL, "Database busy, try again");
    else if (admin.srv != NULL && admin.srv->db != NULL
        && !pgq_is_ready(admin.srv->db))
        xs_admin_call_fail(call, HTTP_SERVUNAVAIL, "Database unavailable");
    else
        xs_admin_call_fail(call, HTTP_INTERNAL, "Database error");
}

/*
 * The connection of a waiting call closes (client gone, or the listener
 * is being freed).  If evhttp detached the request from the connection it
 * will never free it: that is ours to do now.  If the request is still
 * on the connection, evhttp frees it right after this returns.
 */
static void
admin_on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct xs_admin_call *call = arg;

    if (call->req != NULL
        && evhttp_request_get_connection(call->req) != evcon)
        evhttp_request_free(call->req);
    call->req = NULL;
    call->evcon = NULL;
    xs_log(XS_LOG_DEBUG, "admin: command=%s client gone before the answer",
        call->spec->name);
}

/* ---- Helpers for the commands ------------------------------------------ */

/*
 * SASLprep (RFC 4013) for a stored password: unassigned code points are
 * refused.  *out is wiped and freed by admin_secret_free().
 */
static xs_rc
admin_saslprep(const char *password, char **out)
{
    char *p = NULL;

    *out = NULL;
    if (stringprep_profile(password, &p, "SASLprep",
        STRINGPREP_NO_UNASSIGNED) != STRINGPREP_OK) {
        idn_free(p);
        return XS_EINVAL;
    }
    if (p == NULL || p[0] == '\0') {
        idn_free(p);
        return XS_EINVAL;
    }
    *out = p;
    return XS_OK;
}

static void
admin_secret_free(char *s)
{
    if (s == NULL)
        return;
    sodium_memzero(s, strlen(s));
    idn_free(s);
}

/* What to do with fresh credentials, on the loop. */
typedef void admin_creds_fn(struct xs_admin_call *call,
    const struct xs_account_creds *creds);

/* A PBKDF2 derivation on a worker thread (twice 4096 rounds: a few ms). */
struct admin_creds_job {
    void                   *call_udata;
    char                   *password;   /* owned, SASLprepped; wiped */
    struct xs_account_creds creds;      /* wiped */
    xs_rc                   rc;
    admin_creds_fn         *then;
};

static void
admin_creds_work(void *arg)
{
    struct admin_creds_job *j = arg;

    j->rc = xs_scram_creds_derive(j->password, ADMIN_SCRAM_ITER, &j->creds);
}

static void
admin_creds_done(void *arg)
{
    struct admin_creds_job *j = arg;
    struct xs_admin_call *call = xs_admin_call_by_udata(j->call_udata);

    admin_secret_free(j->password);
    if (call != NULL && j->rc != XS_OK) {
        xs_log(XS_LOG_ERR, "admin: command=%s cannot derive credentials: %s",
            call->spec->name, xs_rc_str(j->rc));
        xs_admin_call_fail(call, HTTP_INTERNAL, "Cannot derive credentials");
    } else if (call != NULL) {
        j->then(call, &j->creds);
    }
    sodium_memzero(&j->creds, sizeof(j->creds));
    xs_free(j);
}

/*
 * Stored credentials from the password argument named arg, derived off the
 * loop; then() gets them.  The call is answered here (400, 503) when the
 * password is unusable or the workers are saturated.
 */
static void
admin_creds_from_arg(struct xs_admin_call *call, const char *arg,
    admin_creds_fn *then)
{
    const char *pw = xs_cmd_arg_str(call->args, arg);
    struct admin_creds_job *j;
    char *prepped;
    xs_rc rc;

    if (pw[0] == '\0') {
        xs_admin_call_fail(call, HTTP_BADREQUEST, "Empty password");
        return;
    }
    if (admin_saslprep(pw, &prepped) != XS_OK) {
        xs_admin_call_fail(call, HTTP_BADREQUEST,
            "Invalid password: refused by SASLprep");
        return;
    }
    j = xs_calloc(1, sizeof(*j));
    j->call_udata = xs_admin_call_udata(call);
    j->password = prepped;
    j->then = then;
    rc = xs_work_submit(admin_creds_work, admin_creds_done, j);
    if (rc != XS_OK) {
        admin_secret_free(j->password);
        xs_free(j);
        xs_admin_call_fail(call, HTTP_SERVUNAVAIL, "Server busy, try again");
    }
}

static int
admin_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- Commands ---------------------------------------------------------- */

static void
admin_register_done(xs_rc rc, void *udata)
{
    struct xs_admin_call *call = xs_admin_call_by_udata(udata);
    if (call == NULL)
        return;                         /* abandoned at stop */

    if (rc == XS_EEXIST) {
        xs_admin_call_fail(call, 409, "User %s@%s already registered",
            call->user, call->host);
    } else if (rc != XS_OK) {
        xs_admin_call_fail_db(call, rc);
    } else {
        json_t *msg = json_sprintf("User %s@%s successfully registered",
            call->user, call->host);
        struct xs_jid *bare = NULL;

        /* Committed: modules start their record of the account (its
         * reputation's age and probation count from now). */
        if (xs_jid_from_parts(call->user, call->host, NULL, &bare)
            == XS_OK) {
            xs_event_fire(XS_EV_USER_CREATED, bare);
            xs_jid_free(bare);
        }
        xs_admin_call_ok(call, msg);
    }
}

static void
admin_register_store(struct xs_admin_call *call,
    const struct xs_account_creds *creds)
{
    xs_rc rc = xs_accounts_create(admin.srv->db, call->user, call->host,
        creds, admin_register_done, xs_admin_call_udata(call));

    if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
}

static void
admin_register(struct xs_admin_call *call)
{
    admin_creds_from_arg(call, "password", admin_register_store);
}

static void
admin_unregister_done(xs_rc rc, void *udata)
{
    struct xs_admin_call *call = xs_admin_call_by_udata(udata);
    struct xs_jid *bare = NULL;
    size_t closed;
    if (call == NULL)
        return;                         /* abandoned at stop */

    if (rc == XS_ENOTFOUND) {
        xs_admin_call_fail(call, HTTP_NOTFOUND, "User %s@%s does not exist",
            call->user, call->host);
        return;
    }
    if (rc != XS_OK) {
        xs_admin_call_fail_db(call, rc);
        return;
    }
    /* The account is gone from the database: its sessions go too. */
    closed = xs_sm_close_account(call->user, call->host);
    if (closed > 0)
        xs_log(XS_LOG_INFO, "admin: closed %zu session(s) of %s@%s", closed,
            call->user, call->host);
    if (xs_jid_from_parts(call->user, call->host, NULL, &bare) == XS_OK) {
        /* Modules drop what they cache about the account. */
        xs_event_fire(XS_EV_USER_DELETED, bare);
        xs_jid_free(bare);
    }
    xs_admin_call_ok(call, json_integer(0));
}

static void
admin_unregister(struct xs_admin_call *call)
{
    xs_rc rc;

    rc = xs_accounts_delete(admin.srv->db, call->user, call->host,
        admin_unregister_done, xs_admin_call_udata(call));
    if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
}

static void
admin_registered_users_done(xs_rc rc, char **users, size_t n, void *udata)
{
    struct xs_admin_call *call = xs_admin_call_by_udata(udata);
    json_t *list;
    if (call == NULL)
        return;                         /* abandoned at stop */

    if (rc != XS_OK) {
        xs_admin_call_fail_db(call, rc);
        return;
    }
    /* Byte order, whatever the database's collation. */
    if (n > 1)
        qsort(users, n, sizeof(users[0]), admin_strcmp);
    list = json_array();
    xs_assert(list != NULL);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_string(users[i]);

        if (s != NULL)                  /* stored names are UTF-8 */
            json_array_append_new(list, s);
    }
    xs_admin_call_ok(call, list);
}

static void
admin_registered_users(struct xs_admin_call *call)
{
    xs_rc rc;

    rc = xs_accounts_list(admin.srv->db, call->host,
        admin_registered_users_done, xs_admin_call_udata(call));
    if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
}

static void
admin_change_password_done(xs_rc rc, void *udata)
{
    struct xs_admin_call *call = xs_admin_call_by_udata(udata);
    if (call == NULL)
        return;                         /* abandoned at stop */

    if (rc == XS_ENOTFOUND)
        xs_admin_call_fail(call, HTTP_NOTFOUND, "User %s@%s does not exist",
            call->user, call->host);
    else if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
    else
        xs_admin_call_ok(call, json_integer(0));
}

static void
admin_change_password_store(struct xs_admin_call *call,
    const struct xs_account_creds *creds)
{
    xs_rc rc = xs_accounts_set_creds(admin.srv->db, call->user, call->host,
        creds, admin_change_password_done, xs_admin_call_udata(call));

    if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
}

static void
admin_change_password(struct xs_admin_call *call)
{
    admin_creds_from_arg(call, "newpass", admin_change_password_store);
}

static void
admin_connected_users(struct xs_admin_call *call)
{
    json_t *list = json_array();
    char **jids;
    size_t n = 0;

    xs_assert(list != NULL);
    jids = xs_sm_list(&n);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_string(jids[i]);

        if (s != NULL)                  /* prepared JIDs are UTF-8 */
            json_array_append_new(list, s);
        xs_free(jids[i]);
    }
    xs_free(jids);
    xs_admin_call_ok(call, list);
}

static void
admin_connected_users_number(struct xs_admin_call *call)
{
    xs_admin_call_ok(call, json_integer((json_int_t)xs_sm_count()));
}

static void
admin_kick_user(struct xs_admin_call *call)
{
    size_t n = xs_sm_kick_user(call->user, call->host);

    xs_admin_call_ok(call, json_integer((json_int_t)n));
}

static void
admin_status(struct xs_admin_call *call)
{
    int64_t up = xs_wall_s() - admin.srv->started_wall;

    if (up < 0)
        up = 0;
    xs_admin_call_ok(call, json_sprintf(
        "xmppd %s is running: uptime %" PRId64 "s, %zu client sessions",
        XS_VERSION, up, xs_sm_count()));
}

/*
 * Test only: move the wall clock (xs_wall_s) forward, so that tests see
 * evidence decay and pins expire without waiting.  Refused unless xmppd
 * was started with --test-clock: on a real server it would corrupt every
 * stored time.
 */
static void
admin_debug_clock_advance(struct xs_admin_call *call)
{
    const char *arg = xs_cmd_arg_str(call->args, "seconds");
    char *end = NULL;
    long long n;

    if (!admin.is_test_clock) {
        xs_log(XS_LOG_WARN, "admin: debug_clock_advance refused: xmppd "
            "was not started with --test-clock");
        xs_admin_call_fail(call, HTTP_NOTFOUND, "debug_clock_advance is not "
            "enabled (xmppd runs without --test-clock)");
        return;
    }
    errno = 0;
    if (isdigit((unsigned char)arg[0]))
        n = strtoll(arg, &end, 10);
    else
        n = -1;
    if (n < 0 || end == NULL || *end != '\0' || errno != 0
        || n > ADMIN_CLOCK_ADVANCE_MAX) {
        xs_admin_call_fail(call, HTTP_BADREQUEST, "seconds must be a whole "
            "number from 0 to %" PRId64, ADMIN_CLOCK_ADVANCE_MAX);
        return;
    }
    xs_wall_shift((int64_t)n);
    xs_log(XS_LOG_WARN, "admin: test clock moved forward %lld s, wall time "
        "now %" PRId64, n, xs_wall_s());
    xs_admin_call_ok(call, json_integer((json_int_t)xs_wall_s()));
}

/* ---- Requests ---------------------------------------------------------- */

/* Bearer token from the Authorization header, compared in constant time
 * (for a given length; the length itself is not a secret worth hiding). */
static bool
admin_is_authorized(const struct admin_listener *l,
    struct evhttp_request *req)
{
    const char *v = evhttp_find_header(evhttp_request_get_input_headers(req),
        "Authorization");
    size_t n;

    if (v == NULL || strncasecmp(v, "Bearer", 6) != 0
        || (v[6] != ' ' && v[6] != '\t'))
        return false;
    v += 6;
    while (*v == ' ' || *v == '\t')
        v++;
    n = strlen(v);
    while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
        n--;
    if (n != l->token_len)
        return false;
    return sodium_memcmp(v, l->lc->token, n) == 0;
}

static void
admin_peer_str(struct evhttp_request *req, char *out, size_t outlen)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port = 0;

    if (evcon != NULL)
        evhttp_connection_get_peer(evcon, &addr, &port);
    snprintf(out, outlen, "%s:%u", addr != NULL ? addr : "?",
        (unsigned)port);
}

/*
 * The account and host arguments (XS_ARG_LOCAL_USER / _HOST), prepared
 * once for every command that has them.  false when the call was
 * answered (400).
 */
static bool
admin_call_prepare(struct xs_admin_call *call)
{
    const char *user = NULL, *host = NULL;

    for (size_t i = 0; i < call->spec->nargs; i++) {
        const struct xs_cmd_arg *a = &call->spec->args[i];

        if (a->kind == XS_ARG_LOCAL_USER && user == NULL)
            user = xs_cmd_arg_str(call->args, a->name);
        else if (a->kind == XS_ARG_LOCAL_HOST && host == NULL)
            host = xs_cmd_arg_str(call->args, a->name);
    }
    if (host != NULL) {
        if (xs_jid_domainprep(host, &call->host) != XS_OK
            || !xs_conf_is_local_host(admin.srv->conf, call->host)) {
            xs_free(call->host);
            call->host = NULL;
            xs_admin_call_fail(call, HTTP_BADREQUEST, "Unknown host");
            return false;
        }
    }
    if (user != NULL) {
        if (xs_jid_nodeprep(user, &call->user) != XS_OK
            || call->user[0] == '\0') {
            xs_free(call->user);
            call->user = NULL;
            xs_admin_call_fail(call, HTTP_BADREQUEST, "Invalid user name");
            return false;
        }
    }
    return true;
}

/* 401 for a request without the listener's token. */
static void
admin_refuse(struct evhttp_request *req)
{
    char peer[80];

    admin_peer_str(req, peer, sizeof(peer));
    xs_log(XS_LOG_NOTICE, "admin: refused request peer=%s: %s", peer,
        evhttp_find_header(evhttp_request_get_input_headers(req),
            "Authorization") == NULL ? "no token" : "wrong token");
    evhttp_add_header(evhttp_request_get_output_headers(req),
        "WWW-Authenticate", "Bearer realm=\"xmppd\"");
    admin_send_error(req, 401, "Unauthorized");
}

static void
admin_api(struct admin_listener *l, struct evhttp_request *req,
    const char *name)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    const struct xs_cmd_spec *spec;
    struct xs_admin_call *call;
    json_error_t jerr;
    json_t *body;
    char err[160];
    size_t len;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
            "POST");
        admin_send_error(req, HTTP_BADMETHOD, "Use POST");
        return;
    }
    if (!admin_is_authorized(l, req)) {
        admin_refuse(req);
        return;
    }
    spec = xs_cmd_lookup(name);
    if (spec == NULL) {
        char shown[ADMIN_LOG_VAL_MAX + 1];

        admin_log_value(name, shown, sizeof(shown));
        xs_log(XS_LOG_INFO, "admin: command=%s status=error code=404",
            shown);
        admin_send_error(req, HTTP_NOTFOUND, "Unknown command");
        return;
    }

    len = evbuffer_get_length(in);
    if (len == 0) {
        body = json_object();           /* curl -X POST without -d */
    } else {
        body = json_loadb((const char *)evbuffer_pullup(in, -1), len,
            JSON_REJECT_DUPLICATES, &jerr);
        if (body == NULL) {
            /* jerr.text may quote the input (a password): not shown. */
            snprintf(err, sizeof(err), "Malformed JSON at line %d column %d",
                jerr.line, jerr.column);
            xs_log(XS_LOG_INFO, "admin: command=%s status=error code=400",
                spec->name);
            admin_send_error(req, HTTP_BADREQUEST, err);
            return;
        }
    }
    xs_assert(body != NULL);
    if (xs_cmd_args_check(spec, body, err, sizeof(err)) != XS_OK) {
        json_decref(body);
        xs_log(XS_LOG_INFO, "admin: command=%s status=error code=400",
            spec->name);
        admin_send_error(req, HTTP_BADREQUEST, err);
        return;
    }

    call = xs_calloc(1, sizeof(*call));
    call->id = ++admin.next_id;
    TAILQ_INSERT_TAIL(&admin.calls, call, link);
    call->req = req;
    call->evcon = evhttp_request_get_connection(req);
    call->spec = spec;
    call->args = body;
    call->started_ms = xs_now_ms();
    /* Until the answer goes out, a closing connection must tell us. */
    evhttp_connection_set_closecb(call->evcon, admin_on_conn_close, call);

    if (!admin_call_prepare(call))
        return;
    if (admin_cmds[xs_cmd_id_of(spec)].fn != NULL) {
        admin_cmds[xs_cmd_id_of(spec)].fn(call);
        return;
    }
    for (size_t i = 0; i < admin.nmod_cmds; i++) {
        if (strcmp(admin.mod_cmds[i].name, spec->name) == 0) {
            admin.mod_cmds[i].fn(call, admin.mod_cmds[i].mod_state);
            return;
        }
    }
    xs_admin_call_fail(call, HTTP_NOTFOUND,
        "Command %s is not available (its module is not loaded)",
        spec->name);
}

static void
admin_health(struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    bool is_ready;

    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        evhttp_add_header(h, "Allow", "GET, HEAD");
        admin_send_error(req, HTTP_BADMETHOD, "Use GET");
        return;
    }
    is_ready = admin.srv->db != NULL && pgq_is_ready(admin.srv->db);
    evhttp_add_header(h, "Content-Type", "text/plain; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    if (is_ready) {
        evbuffer_add_printf(out, "ok\n");
        evhttp_send_reply(req, HTTP_OK, "OK", NULL);
    } else {
        evbuffer_add_printf(out, "database unavailable\n");
        evhttp_send_reply(req, HTTP_SERVUNAVAIL, "Service Unavailable",
            NULL);
    }
}

/* GET /metrics: Prometheus scrapes it with "Authorization: Bearer". */
static void
admin_metrics(struct admin_listener *l, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    enum evhttp_cmd_type m = evhttp_request_get_command(req);

    if (m != EVHTTP_REQ_GET && m != EVHTTP_REQ_HEAD) {
        evhttp_add_header(h, "Allow", "GET, HEAD");
        admin_send_error(req, HTTP_BADMETHOD, "Use GET");
        return;
    }
    if (!admin_is_authorized(l, req)) {
        admin_refuse(req);
        return;
    }
    evhttp_add_header(h, "Content-Type", XS_METRICS_CONTENT_TYPE);
    evhttp_add_header(h, "Cache-Control", "no-store");
    xs_metrics_write(admin.srv, evhttp_request_get_output_buffer(req));
    evhttp_send_reply(req, HTTP_OK, "OK", NULL);
}

static void
admin_on_request(struct evhttp_request *req, void *arg)
{
    struct admin_listener *l = arg;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;

    if (path == NULL) {
        admin_send_error(req, HTTP_BADREQUEST, "Bad request");
        return;
    }
    if (strcmp(path, "/health") == 0)
        admin_health(req);
    else if (strcmp(path, "/metrics") == 0)
        admin_metrics(l, req);
    else if (strncmp(path, "/api/", 5) == 0)
        admin_api(l, req, path + 5);
    else
        admin_send_error(req, HTTP_NOTFOUND, "Not found");
}

/* ---- Verbs of modules -------------------------------------------------- */

xs_rc
xs_admin_cmd_add(const struct xs_admin_cmd *c, const struct xs_module *owner,
    void *mod_state)
{
    if (c->name == NULL || c->fn == NULL || owner == NULL)
        return XS_EINVAL;
    if (xs_cmd_lookup(c->name) == NULL) {
        xs_log(XS_LOG_ERR, "admin: command %s has no row in commands.c",
            c->name);
        return XS_EINVAL;
    }
    for (size_t i = 0; i < admin.nmod_cmds; i++) {
        if (strcmp(admin.mod_cmds[i].name, c->name) == 0)
            return XS_EEXIST;
    }
    admin.mod_cmds = xs_reallocarray(admin.mod_cmds, admin.nmod_cmds + 1,
        sizeof(admin.mod_cmds[0]));
    admin.mod_cmds[admin.nmod_cmds++] = (struct mod_cmd){
        .name = c->name, .fn = c->fn, .mod_state = mod_state, .owner = owner,
    };
    return XS_OK;
}

void
xs_admin_cmd_remove_owner(const struct xs_module *owner)
{
    size_t keep = 0;

    for (size_t i = 0; i < admin.nmod_cmds; i++) {
        if (admin.mod_cmds[i].owner != owner)
            admin.mod_cmds[keep++] = admin.mod_cmds[i];
    }
    admin.nmod_cmds = keep;
    if (keep == 0) {
        xs_free(admin.mod_cmds);
        admin.mod_cmds = NULL;
    }
}

const char *
xs_admin_call_arg(const struct xs_admin_call *call, const char *name)
{
    for (size_t i = 0; i < call->spec->nargs; i++) {
        const struct xs_cmd_arg *a = &call->spec->args[i];

        if (strcmp(a->name, name) != 0)
            continue;
        if (a->kind == XS_ARG_LOCAL_USER && call->user != NULL)
            return call->user;
        if (a->kind == XS_ARG_LOCAL_HOST && call->host != NULL)
            return call->host;
        return xs_cmd_arg_str(call->args, name);
    }
    return NULL;                        /* not an argument of this verb */
}

struct xs_server *
xs_admin_server(void)
{
    return admin.srv;
}

void
xs_admin_http_test_clock_enable(void)
{
    admin.is_test_clock = true;
}

/* ---- Start and stop ---------------------------------------------------- */

xs_rc
xs_admin_http_start(struct xs_server *srv)
{
    const struct xs_conf *conf = srv->conf;
    size_t n = 0;
    xs_rc rc = XS_EIO;

    xs_assert(admin.srv == NULL);
    for (size_t i = 0; i < XS_ARRAY_LEN(admin_cmds); i++)
        xs_assert(admin_cmds[i].fn == NULL || admin_cmds[i].spec != NULL);

    for (size_t i = 0; i < conf->nlisten; i++) {
        if (conf->listen[i].module == XS_LISTEN_ADMIN_HTTP)
            n++;
    }
    if (n == 0)
        return XS_OK;

    admin.srv = srv;
    admin.ls = xs_calloc(n, sizeof(admin.ls[0]));
    admin.nls = 0;
    for (size_t i = 0; i < conf->nlisten; i++) {
        const struct xs_listen_conf *lc = &conf->listen[i];
        struct admin_listener *l;
        const char *ip;

        if (lc->module != XS_LISTEN_ADMIN_HTTP)
            continue;
        ip = lc->ip != NULL ? lc->ip : "127.0.0.1";
        if (lc->token == NULL || lc->token[0] == '\0') {
            xs_log(XS_LOG_ERR, "admin: listener %s:%d (admin_http) has no "
                "token", ip, lc->port);
            rc = XS_EINVAL;
            goto fail;
        }
        l = &admin.ls[admin.nls];
        l->lc = lc;
        l->token_len = strlen(lc->token);
        l->http = evhttp_new(srv->base);
        if (l->http == NULL) {
            xs_log(XS_LOG_ERR, "admin: cannot create an HTTP server");
            goto fail;
        }
        admin.nls++;
        evhttp_set_max_body_size(l->http, XS_ADMIN_MAX_BODY);
        evhttp_set_max_headers_size(l->http, XS_ADMIN_MAX_HEADERS);
        evhttp_set_timeout(l->http, XS_ADMIN_TIMEOUT_S);
        evhttp_set_allowed_methods(l->http,
            EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
        evhttp_set_gencb(l->http, admin_on_request, l);
        errno = 0;
        if (evhttp_bind_socket_with_handle(l->http, ip,
            (ev_uint16_t)lc->port) == NULL) {
            int e = errno;

            xs_log(XS_LOG_ERR, "admin: cannot listen on %s:%d: %s", ip,
                lc->port, e != 0 ? strerror(e) : "bind failed");
            goto fail;
        }
        xs_log(XS_LOG_INFO, "admin: listening on http://%s:%d/api/", ip,
            lc->port);
    }
    return XS_OK;

fail:
    xs_admin_http_stop();
    return rc;
}

void
xs_admin_http_stop(void)
{
    /* evhttp_free closes every connection; the close callbacks of waiting
     * calls run from here and make those calls forget their request. */
    for (size_t i = 0; i < admin.nls; i++)
        evhttp_free(admin.ls[i].http);
    /* What still waits for the database is abandoned: its callback, if
     * one still comes, finds no call. */
    while (!TAILQ_EMPTY(&admin.calls)) {
        struct xs_admin_call *call = TAILQ_FIRST(&admin.calls);

        xs_log(XS_LOG_INFO, "admin: command=%s abandoned at stop",
            call->spec->name);
        admin_call_free(call);
    }
    xs_free(admin.ls);
    admin.ls = NULL;
    admin.nls = 0;
    admin.srv = NULL;
}
