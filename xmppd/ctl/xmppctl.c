/*
 * xmppctl.c: the operator CLI, like ejabberdctl and prosodyctl.  It turns
 * "xmppctl VERB ARGS..." into POST /api/VERB on the admin HTTP API
 * (xmppd/admin/admin_http.c) and prints the result.
 *
 * As a command-line program it writes to stdout and stderr directly: that
 * is its interface, not logging.
 *
 * Exit codes: 0 success; 1 the command failed (the server said no);
 * 2 usage error; 3 the server cannot be reached or refused the token.
 */
#include "xmppd/admin/commands.h"
#include "xmppd/core/conf.h"
#include "xmppd/core/xs.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>
#include <netdb.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

enum ctl_exit {
    CTL_EXIT_OK       = 0,
    CTL_EXIT_FAILED   = 1,
    CTL_EXIT_USAGE    = 2,
    CTL_EXIT_UNREACH  = 3,
};

#define CTL_TIMEOUT_S       30
#define CTL_MAX_REPLY       (64 * 1024 * 1024)
#define CTL_DEFAULT_CONFIG  "/etc/xmppd/xmppd.yml"
#define CTL_LOCAL_CONFIG    "./var/xmppd.yml"

/* Where the admin API is and how to prove who we are. */
struct ctl_target {
    char *host;         /* owned: address to connect to, no brackets */
    int   port;
    char *prefix;       /* owned: path before "/api/", "" or "/x" */
    char *token;        /* owned; wiped when freed */
    char *origin;       /* owned: for messages, "http://127.0.0.1:5280" */
    char *token_from;   /* owned: for messages, where the token came from */
};

struct ctl_reply {
    bool  has_response;
    int   code;
    bool  has_err;
    enum evhttp_request_error err;
    char *body;         /* owned (NUL-terminated) */
    size_t len;
    struct event_base *base;    /* borrowed */
};

static void ctl_fail(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

/* "xmppctl: <message>" on stderr, one line. */
static void
ctl_fail(const char *fmt, ...)
{
    va_list ap;

    fputs("xmppctl: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static void
ctl_usage(FILE *out)
{
    fprintf(out,
        "usage: xmppctl [--config FILE] [--json] COMMAND [ARGS...] "
        "[--OPTION VALUE...]\n"
        "       xmppctl help [COMMAND]\n");
}

/* "usage: xmppctl [--config FILE] [--json] reputation_set JID SCORE ..." */
static void
ctl_usage_cmd(FILE *out, const struct xs_cmd_spec *spec)
{
    char *syn = xs_cmd_synopsis(spec);

    fprintf(out, "usage: xmppctl [--config FILE] [--json] %s\n", syn);
    xs_free(syn);
}

/* Synopses up to this width share their line with the help text. */
#define CTL_HELP_COL 38

static void
ctl_help(FILE *out, const struct xs_cmd_spec *only)
{
    if (only == NULL) {
        ctl_usage(out);
        fprintf(out,
            "\nOptions:\n"
            "  --config FILE  read the admin listener and token from FILE\n"
            "                 (default: $XMPPD_CONFIG, else %s,\n"
            "                 else %s)\n"
            "  --json         print the raw JSON result\n"
            "Environment: XMPPCTL_URL (http://127.0.0.1:5280) and "
            "XMPPCTL_TOKEN\n"
            "override the config file.  A PASSWORD or NEWPASS given as - "
            "is read\nfrom stdin (one line).  Options in [brackets] go "
            "anywhere after the\ncommand, as --name VALUE or "
            "--name=VALUE; --json may follow the command too.\n"
            "\nCommands:\n", CTL_LOCAL_CONFIG, CTL_DEFAULT_CONFIG);
    }
    for (size_t i = 0; i < XS_CMD__COUNT; i++) {
        const struct xs_cmd_spec *s = &xs_cmd_specs[i];
        char *syn;

        if (only != NULL && s != only)
            continue;
        syn = xs_cmd_synopsis(s);
        if (strlen(syn) <= CTL_HELP_COL)
            fprintf(out, "  %-*s %s\n", CTL_HELP_COL, syn, s->help);
        else
            fprintf(out, "  %s\n  %-*s %s\n", syn, CTL_HELP_COL, "",
                s->help);
        xs_free(syn);
    }
    if (only == NULL)
        fprintf(out, "  %-*s %s\n", CTL_HELP_COL, "help [COMMAND]",
            "Show this list, or one command");
}

/*
 * The words after the verb without the flags xmppctl itself takes there
 * (--json, --help), unless the verb has an option of that name or they
 * are an option's value or follow "--".  *nout: how many remain in out
 * (argc slots).
 */
static void
ctl_take_flags(const struct xs_cmd_spec *spec, int argc, char **argv,
    char **out, int *nout, bool *is_json, bool *is_help)
{
    bool is_rest = false;
    int n = 0;

    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        bool is_option = false;

        if (!is_rest && strncmp(w, "--", 2) == 0 && strchr(w, '=') == NULL) {
            for (size_t k = xs_cmd_nrequired(spec); k < spec->nargs; k++) {
                if (strcmp(spec->args[k].name, w + 2) == 0)
                    is_option = true;
            }
        }
        if (is_rest || is_option) {
            out[n++] = argv[i];
            if (is_option && i + 1 < argc)
                out[n++] = argv[++i];   /* its value, whatever it is */
            continue;
        }
        if (strcmp(w, "--") == 0)
            is_rest = true;
        if (strcmp(w, "--json") == 0)
            *is_json = true;
        else if (strcmp(w, "--help") == 0)
            *is_help = true;
        else
            out[n++] = argv[i];
    }
    *nout = n;
}

static void
ctl_target_free(struct ctl_target *t)
{
    if (t->token != NULL)
        sodium_memzero(t->token, strlen(t->token));
    xs_free(t->host);
    xs_free(t->prefix);
    xs_free(t->token);
    xs_free(t->origin);
    xs_free(t->token_from);
    memset(t, 0, sizeof(*t));
}

/* http://host[:port][/prefix] from XMPPCTL_URL. */
static xs_rc
ctl_target_from_url(struct ctl_target *t, const char *url)
{
    struct evhttp_uri *u = evhttp_uri_parse(url);
    const char *scheme, *host, *path;
    size_t hlen, plen;
    xs_rc rc = XS_EINVAL;

    if (u == NULL)
        goto fail;
    scheme = evhttp_uri_get_scheme(u);
    host = evhttp_uri_get_host(u);
    if (scheme == NULL || strcasecmp(scheme, "http") != 0 || host == NULL
        || host[0] == '\0')
        goto fail;
    hlen = strlen(host);
    if (host[0] == '[' && hlen > 2 && host[hlen - 1] == ']')
        t->host = xs_strndup(host + 1, hlen - 2);
    else
        t->host = xs_strdup(host);
    t->port = evhttp_uri_get_port(u);
    if (t->port <= 0)
        t->port = 80;
    path = evhttp_uri_get_path(u);
    if (path == NULL)
        path = "";
    plen = strlen(path);
    while (plen > 0 && path[plen - 1] == '/')
        plen--;
    t->prefix = xs_strndup(path, plen);
    t->origin = xs_strdup(url);
    rc = XS_OK;

fail:
    if (u != NULL)
        evhttp_uri_free(u);
    return rc;
}

static const char *
ctl_config_path(const char *opt)
{
    const char *env = getenv("XMPPD_CONFIG");

    if (opt != NULL)
        return opt;
    if (env != NULL && env[0] != '\0')
        return env;
    if (access(CTL_LOCAL_CONFIG, F_OK) == 0)
        return CTL_LOCAL_CONFIG;
    return CTL_DEFAULT_CONFIG;
}

/*
 * The target from the environment, then the config file for whatever the
 * environment left open.  On failure the message has been printed.
 */
static xs_rc
ctl_target_find(struct ctl_target *t, const char *config_opt)
{
    const char *env_url = getenv("XMPPCTL_URL");
    const char *env_token = getenv("XMPPCTL_TOKEN");
    const struct xs_listen_conf *lc = NULL;
    struct xs_conf *conf = NULL;
    char *errmsg = NULL;
    const char *path;
    xs_rc rc;

    memset(t, 0, sizeof(*t));
    if (env_url != NULL && env_url[0] != '\0') {
        if (ctl_target_from_url(t, env_url) != XS_OK) {
            ctl_fail("XMPPCTL_URL: not an http:// URL: %s", env_url);
            return XS_EINVAL;
        }
    }
    if (env_token != NULL && env_token[0] != '\0') {
        t->token = xs_strdup(env_token);
        t->token_from = xs_strdup("XMPPCTL_TOKEN");
    }
    if (t->host != NULL && t->token != NULL)
        return XS_OK;

    path = ctl_config_path(config_opt);
    rc = xs_conf_load(path, &conf, &errmsg);
    if (rc != XS_OK) {
        if (errmsg != NULL)
            ctl_fail("cannot load the configuration: %s", errmsg);
        else
            ctl_fail("cannot load the configuration %s: %s", path,
                xs_rc_str(rc));
        xs_free(errmsg);
        return rc;
    }
    for (size_t i = 0; i < conf->nlisten; i++) {
        if (conf->listen[i].module == XS_LISTEN_ADMIN_HTTP) {
            lc = &conf->listen[i];
            break;
        }
    }
    if (lc == NULL) {
        ctl_fail("no listener with module admin_http in %s", path);
        xs_conf_free(conf);
        return XS_ENOTFOUND;
    }
    if (t->host == NULL) {
        const char *ip = lc->ip != NULL ? lc->ip : "127.0.0.1";

        /* A wildcard listener is reached on loopback. */
        if (strcmp(ip, "0.0.0.0") == 0 || ip[0] == '\0')
            ip = "127.0.0.1";
        else if (strcmp(ip, "::") == 0)
            ip = "::1";
        t->host = xs_strdup(ip);
        t->port = lc->port;
        t->prefix = xs_strdup("");
        t->origin = strchr(ip, ':') != NULL
            ? xs_asprintf("http://[%s]:%d", ip, lc->port)
            : xs_asprintf("http://%s:%d", ip, lc->port);
    }
    if (t->token == NULL) {
        if (lc->token == NULL || lc->token[0] == '\0') {
            ctl_fail("the admin_http listener in %s has no token", path);
            xs_conf_free(conf);
            return XS_EINVAL;
        }
        t->token = xs_strdup(lc->token);
        t->token_from = xs_strdup(path);
    }
    xs_conf_free(conf);
    return XS_OK;
}

static void
ctl_on_error(enum evhttp_request_error err, void *arg)
{
    struct ctl_reply *r = arg;

    r->has_err = true;
    r->err = err;
}

static void
ctl_on_response(struct evhttp_request *req, void *arg)
{
    struct ctl_reply *r = arg;

    if (req != NULL && evhttp_request_get_response_code(req) != 0) {
        struct evbuffer *in = evhttp_request_get_input_buffer(req);
        size_t n = evbuffer_get_length(in);

        r->has_response = true;
        r->code = evhttp_request_get_response_code(req);
        r->body = xs_malloc(n + 1);
        if (n > 0)
            evbuffer_remove(in, r->body, n);
        r->body[n] = '\0';
        r->len = n;
    }
    event_base_loopbreak(r->base);
}

/*
 * Why no reply came.  libevent's error path clobbers errno, so on failure
 * try one plain connect to the same address: its errno names the cause
 * ("Connection refused"); if it connects, the HTTP exchange itself broke.
 */
static void
ctl_diagnose(const struct ctl_target *t, const struct ctl_reply *r,
    char *out, size_t outlen)
{
    struct addrinfo hints, *ai = NULL;
    struct timeval tv = { .tv_sec = 5 };
    char port[16];
    int fd = -1, e;

    if (r->has_err && r->err == EVREQ_HTTP_TIMEOUT) {
        snprintf(out, outlen, "no answer within %d s", CTL_TIMEOUT_S);
        return;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    snprintf(port, sizeof(port), "%d", t->port);
    e = getaddrinfo(t->host, port, &hints, &ai);
    if (e != 0) {
        snprintf(out, outlen, "%s", gai_strerror(e));
        return;
    }
    fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
    if (fd < 0) {
        snprintf(out, outlen, "%s", strerror(errno));
    } else {
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0)
            snprintf(out, outlen, "%s", strerror(errno));
        else
            snprintf(out, outlen, "the connection closed without a reply");
        close(fd);
    }
    freeaddrinfo(ai);
}

/* POST body to <prefix>/api/<verb>; blocking on a private event_base. */
static xs_rc
ctl_post(const struct ctl_target *t, const char *verb, const json_t *body,
    struct ctl_reply *r)
{
    struct event_base *base = NULL;
    struct evhttp_connection *evcon = NULL;
    struct evhttp_request *req;
    struct evkeyvalq *h;
    char *text = NULL, *path = NULL, *auth = NULL, *hosthdr = NULL;
    xs_rc rc = XS_EIO;

    memset(r, 0, sizeof(*r));
    base = event_base_new();
    if (base == NULL)
        goto out;
    r->base = base;
    evcon = evhttp_connection_base_new(base, NULL, t->host,
        (ev_uint16_t)t->port);
    if (evcon == NULL)
        goto out;
    evhttp_connection_set_timeout(evcon, CTL_TIMEOUT_S);
    evhttp_connection_set_retries(evcon, 0);
    evhttp_connection_set_max_body_size(evcon, CTL_MAX_REPLY);

    req = evhttp_request_new(ctl_on_response, r);
    if (req == NULL)
        goto out;
    evhttp_request_set_error_cb(req, ctl_on_error);
    text = json_dumps(body, JSON_COMPACT);
    xs_assert(text != NULL);
    path = xs_asprintf("%s/api/%s", t->prefix, verb);
    auth = xs_asprintf("Bearer %s", t->token);
    hosthdr = strchr(t->host, ':') != NULL
        ? xs_asprintf("[%s]:%d", t->host, t->port)
        : xs_asprintf("%s:%d", t->host, t->port);
    h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Host", hosthdr);
    evhttp_add_header(h, "Authorization", auth);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Accept", "application/json");
    evhttp_add_header(h, "Connection", "close");
    evbuffer_add(evhttp_request_get_output_buffer(req), text, strlen(text));
    if (evhttp_make_request(evcon, req, EVHTTP_REQ_POST, path) != 0)
        goto out;                       /* req is libevent's now */
    event_base_dispatch(base);
    rc = r->has_response ? XS_OK : XS_EIO;

out:
    if (text != NULL) {
        sodium_memzero(text, strlen(text));     /* it holds passwords */
        free(text);
    }
    if (auth != NULL) {
        sodium_memzero(auth, strlen(auth));
        xs_free(auth);
    }
    xs_free(path);
    xs_free(hosthdr);
    if (evcon != NULL)
        evhttp_connection_free(evcon);
    if (base != NULL)
        event_base_free(base);
    r->base = NULL;
    return rc;
}

/* The server's answer to an exit code, printing what the operator needs. */
static int
ctl_handle_reply(const struct xs_cmd_spec *spec, const struct ctl_target *t,
    const struct ctl_reply *r, bool is_json)
{
    json_error_t jerr;
    json_t *v;
    int code;

    v = json_loadb(r->body, r->len, JSON_DECODE_ANY, &jerr);
    if (r->code == 401) {
        ctl_fail("the server at %s refused the token (from %s)", t->origin,
            t->token_from);
        json_decref(v);
        return CTL_EXIT_UNREACH;
    }
    if (r->code != 200) {
        const char *msg = json_string_value(json_object_get(v, "message"));

        if (msg != NULL)
            ctl_fail("%s", msg);
        else
            ctl_fail("%s answered HTTP %d", t->origin, r->code);
        json_decref(v);
        return CTL_EXIT_FAILED;
    }
    if (v == NULL) {
        ctl_fail("%s answered with something that is not JSON", t->origin);
        return CTL_EXIT_UNREACH;
    }
    code = CTL_EXIT_OK;
    if (is_json || xs_cmd_result_print(spec, v, stdout) != XS_OK) {
        /* A result of an unexpected shape is still shown, as JSON. */
        char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

        xs_assert(s != NULL);
        printf("%s\n", s);
        free(s);
    }
    if (fflush(stdout) != 0)
        code = CTL_EXIT_FAILED;
    json_decref(v);
    return code;
}

int
main(int argc, char **argv)
{
    const char *config_opt = NULL;
    const struct xs_cmd_spec *spec;
    struct ctl_target target;
    struct ctl_reply reply;
    const char *vals[XS_CMD_MAX_ARGS];
    bool is_json = false, is_help = false;
    json_t *body = NULL;
    const char *verb;
    char **words;
    char err[160];
    int i, nwords, code;
    xs_rc rc;

    /* Configuration warnings are the daemon's business, not ours. */
    xs_log_min = XS_LOG_ERR;
    if (sodium_init() < 0) {
        ctl_fail("cannot initialise libsodium");
        return CTL_EXIT_FAILED;
    }

    /* xmppctl's options come before the verb (--json may follow it);
     * arguments after it may start with '-' (a password read from stdin
     * is "-", a score may be negative). */
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];

        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (a[0] != '-' || a[1] == '\0')
            break;
        if (strcmp(a, "--json") == 0) {
            is_json = true;
        } else if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (i + 1 >= argc) {
                ctl_fail("%s needs a file name", a);
                ctl_usage(stderr);
                return CTL_EXIT_USAGE;
            }
            config_opt = argv[++i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_opt = a + 9;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            ctl_help(stdout, NULL);
            return CTL_EXIT_OK;
        } else {
            ctl_fail("unknown option %s", a);
            ctl_usage(stderr);
            return CTL_EXIT_USAGE;
        }
    }
    if (i >= argc) {
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    verb = argv[i++];

    if (strcmp(verb, "help") == 0) {
        if (i == argc) {
            ctl_help(stdout, NULL);
            return CTL_EXIT_OK;
        }
        spec = i + 1 == argc ? xs_cmd_lookup(argv[i]) : NULL;
        if (spec == NULL) {
            ctl_fail("help: unknown command %s", argv[i]);
            ctl_usage(stderr);
            return CTL_EXIT_USAGE;
        }
        ctl_help(stdout, spec);
        return CTL_EXIT_OK;
    }
    spec = xs_cmd_lookup(verb);
    if (spec == NULL) {
        ctl_fail("unknown command %s (xmppctl help lists them)", verb);
        ctl_usage(stderr);
        return CTL_EXIT_USAGE;
    }
    words = xs_calloc((size_t)(argc - i) + 1, sizeof(words[0]));
    ctl_take_flags(spec, argc - i, argv + i, words, &nwords, &is_json,
        &is_help);
    if (is_help) {
        ctl_help(stdout, spec);
        xs_free(words);
        return CTL_EXIT_OK;
    }
    if (xs_cmd_argv_split(spec, nwords, words, vals, err, sizeof(err))
        != XS_OK) {
        ctl_fail("%s", err);
        ctl_usage_cmd(stderr, spec);
        xs_free(words);
        return CTL_EXIT_USAGE;
    }

    /* Find the server before asking for a password on the terminal. */
    if (ctl_target_find(&target, config_opt) != XS_OK) {
        ctl_target_free(&target);
        xs_free(words);
        return CTL_EXIT_UNREACH;
    }
    rc = xs_cmd_body_from_argv(spec, nwords, words, stdin, stderr, &body);
    xs_free(words);
    if (rc != XS_OK) {
        if (rc == XS_EIO)
            ctl_fail("cannot read the password from stdin");
        else if (rc == XS_ELIMIT)
            ctl_fail("the password read from stdin is too long");
        else
            ctl_fail("arguments must be valid UTF-8 without NUL bytes");
        ctl_target_free(&target);
        return CTL_EXIT_USAGE;
    }

    if (ctl_post(&target, spec->name, body, &reply) != XS_OK) {
        char why[160];

        ctl_diagnose(&target, &reply, why, sizeof(why));
        ctl_fail("cannot reach the server at %s: %s", target.origin, why);
        code = CTL_EXIT_UNREACH;
    } else {
        code = ctl_handle_reply(spec, &target, &reply, is_json);
    }
    xs_free(reply.body);
    json_decref(body);
    ctl_target_free(&target);
    return code;
}
