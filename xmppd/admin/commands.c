/* commands.c: the operator command table and its argument handling. */
#include "xmppd/admin/commands.h"

#include <ctype.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

/* A password read from stdin longer than this is refused, not cut. */
#define CMD_SECRET_MAX 4096

#define ARG_USER        { "user", false, XS_ARG_LOCAL_USER }
#define ARG_HOST        { "host", false, XS_ARG_LOCAL_HOST }
#define ARG_TEXT(n)     { (n), false, XS_ARG_TEXT }
#define ARG_SECRET(n)   { (n), true, XS_ARG_TEXT }
#define ARG_NAMED(n, mv) { (n), false, XS_ARG_TEXT, false, (mv) }
/* "--name VALUE" on the command line; may be absent from a body. */
#define ARG_OPTION(n, mv) { (n), false, XS_ARG_TEXT, true, (mv) }
/* A bare JID or a domain, local or remote: the handler parses it. */
#define ARG_SUBJECT     ARG_NAMED("jid", "JID")

/* Indexed by enum xs_cmd_id, so admin_http.c can bind handlers by id. */
const struct xs_cmd_spec xs_cmd_specs[XS_CMD__COUNT] = {
    [XS_CMD_REGISTER] = {
        .name = "register", .result = XS_CMD_RES_STRING, .nargs = 3,
        .args = { ARG_USER, ARG_HOST,
                  ARG_SECRET("password") },
        .help = "Register an account",
    },
    [XS_CMD_UNREGISTER] = {
        .name = "unregister", .result = XS_CMD_RES_RESCODE, .nargs = 2,
        .args = { ARG_USER, ARG_HOST },
        .help = "Delete an account and close its sessions",
    },
    [XS_CMD_REGISTERED_USERS] = {
        .name = "registered_users", .result = XS_CMD_RES_LIST, .nargs = 1,
        .args = { ARG_HOST },
        .help = "List the accounts of a host",
    },
    [XS_CMD_CHANGE_PASSWORD] = {
        .name = "change_password", .result = XS_CMD_RES_RESCODE,
        .nargs = 3,
        .args = { ARG_USER, ARG_HOST,
                  ARG_SECRET("newpass") },
        .help = "Set an account's password",
    },
    [XS_CMD_CONNECTED_USERS] = {
        .name = "connected_users", .result = XS_CMD_RES_LIST, .nargs = 0,
        .help = "List the full JIDs of all client sessions",
    },
    [XS_CMD_CONNECTED_USERS_NUMBER] = {
        .name = "connected_users_number", .result = XS_CMD_RES_INTEGER,
        .nargs = 0,
        .help = "Count the client sessions",
    },
    [XS_CMD_KICK_USER] = {
        .name = "kick_user", .result = XS_CMD_RES_INTEGER, .nargs = 2,
        .args = { ARG_USER, ARG_HOST },
        .help = "Close every session of an account; prints how many",
    },
    [XS_CMD_STATUS] = {
        .name = "status", .result = XS_CMD_RES_STRING, .nargs = 0,
        .help = "Show whether the server runs, its uptime and sessions",
    },
    [XS_CMD_GET_ROSTER] = {
        .name = "get_roster", .result = XS_CMD_RES_ROWS, .nargs = 2,
        .args = { ARG_USER, ARG_HOST },
        .help = "List an account's contacts",
        .columns = { "jid", "nick", "subscription", "ask", "groups" },
    },
    [XS_CMD_ADD_ROSTERITEM] = {
        .name = "add_rosteritem", .result = XS_CMD_RES_RESCODE, .nargs = 7,
        .args = {
            { "localuser", false, XS_ARG_LOCAL_USER },
            { "localhost", false, XS_ARG_LOCAL_HOST },
            ARG_TEXT("user"), ARG_TEXT("host"), ARG_TEXT("nick"),
            ARG_TEXT("group"), ARG_TEXT("subs"),
        },
        .help = "Add or change a contact (groups separated by ';', "
                "subs none|from|to|both)",
    },
    [XS_CMD_DELETE_ROSTERITEM] = {
        .name = "delete_rosteritem", .result = XS_CMD_RES_RESCODE,
        .nargs = 4,
        .args = {
            { "localuser", false, XS_ARG_LOCAL_USER },
            { "localhost", false, XS_ARG_LOCAL_HOST },
            ARG_TEXT("user"), ARG_TEXT("host"),
        },
        .help = "Remove a contact from an account's roster",
    },
    [XS_CMD_GET_OFFLINE_COUNT] = {
        .name = "get_offline_count", .result = XS_CMD_RES_INTEGER,
        .nargs = 2, .args = { ARG_USER, ARG_HOST },
        .help = "Count the messages stored for an account while offline",
    },
    [XS_CMD_GET_VCARD] = {
        .name = "get_vcard", .result = XS_CMD_RES_STRING, .nargs = 3,
        .args = { ARG_USER, ARG_HOST, ARG_TEXT("name") },
        .help = "Show one field of an account's vCard (FN, NICKNAME, ...)",
    },
    [XS_CMD_USER_ACTIVITY] = {
        .name = "user_activity", .result = XS_CMD_RES_OBJECT, .nargs = 2,
        .args = { ARG_USER, ARG_HOST },
        .help = "Show an account's activity record",
        .columns = { "created_at", "last_login", "last_logout",
                     "days_active", "msgs_to_contacts", "msgs_to_strangers",
                     "msgs_from_contacts", "msgs_from_strangers",
                     "subs_sent", "subs_accepted", "subs_refused",
                     "subs_received" },
    },
    [XS_CMD_S2S_CONNECTIONS] = {
        .name = "s2s_connections", .result = XS_CMD_RES_ROWS, .nargs = 0,
        .help = "List the live server-to-server streams",
        .columns = { "direction", "local", "remote", "auth", "tls",
                     "verified", "bidi", "age", "stanzas_in",
                     "stanzas_out" },
    },
    [XS_CMD_BLOCK_DOMAIN] = {
        .name = "block_domain", .result = XS_CMD_RES_INTEGER, .nargs = 2,
        .args = { ARG_TEXT("domain"), ARG_TEXT("reason") },
        .help = "Refuse federation with a domain and its subdomains now "
                "and after restarts; prints the streams closed",
    },
    [XS_CMD_UNBLOCK_DOMAIN] = {
        .name = "unblock_domain", .result = XS_CMD_RES_RESCODE, .nargs = 1,
        .args = { ARG_TEXT("domain") },
        .help = "Lift a block_domain block",
    },
    [XS_CMD_BLOCKED_DOMAINS] = {
        .name = "blocked_domains", .result = XS_CMD_RES_ROWS, .nargs = 0,
        .help = "List the blocked domains",
        .columns = { "domain", "reason", "since" },
    },
    [XS_CMD_REPUTATION] = {
        .name = "reputation", .result = XS_CMD_RES_OBJECT, .nargs = 1,
        .args = { ARG_SUBJECT },
        .help = "Show the reputation score (-100..100) and level of an "
                "account, a remote JID or a domain",
        .columns = { "jid", "score", "level", "local", "pinned",
                     "probation" },
    },
    [XS_CMD_REPUTATION_EXPLAIN] = {
        .name = "reputation_explain", .result = XS_CMD_RES_OBJECT,
        .nargs = 1, .args = { ARG_SUBJECT },
        .help = "Show a score and the evidence behind it: each item's "
                "source, age and points now (after decay)",
        .columns = { "jid", "score", "level", "raw", "pinned",
                     "probation" },
        .rows_member = "items",
        .row_columns = { "what", "source_kind", "source", "weight",
                         "points", "age", "note" },
    },
    [XS_CMD_REPUTATION_SET] = {
        .name = "reputation_set", .result = XS_CMD_RES_RESCODE, .nargs = 4,
        .args = { ARG_SUBJECT, ARG_NAMED("score", "SCORE"),
                  ARG_OPTION("reason", "REASON"),
                  ARG_OPTION("expires", "WHEN") },
        .help = "Pin a score (-100..100) that overrides the computed one; "
                "WHEN is 30d, 12h, 45m, 3600s, a number of seconds or an "
                "RFC 3339 time (default: until cleared)",
    },
    [XS_CMD_REPUTATION_CLEAR] = {
        .name = "reputation_clear", .result = XS_CMD_RES_RESCODE,
        .nargs = 1, .args = { ARG_SUBJECT },
        .help = "Remove a pinned score: the computed score applies again",
    },
    [XS_CMD_REPUTATION_LIST] = {
        .name = "reputation_list", .result = XS_CMD_RES_ROWS, .nargs = 2,
        .args = { ARG_OPTION("below", "SCORE"),
                  ARG_OPTION("max", "COUNT") },
        .help = "List the accounts to look at first: lowest score first, "
                "only those scoring under SCORE, at most COUNT",
        .columns = { "jid", "score", "level", "pinned", "probation" },
    },
    [XS_CMD_TRUST_KEY_ROTATE] = {
        .name = "trust_key_rotate", .result = XS_CMD_RES_STRING,
        .nargs = 1, .args = { ARG_HOST },
        .help = "Make a new trust-flag signing key for a domain; the old "
                "one keeps verifying until its flags expire",
    },
    [XS_CMD_AUDIT_TAIL] = {
        .name = "audit_tail", .result = XS_CMD_RES_ROWS, .nargs = 2,
        .args = { ARG_OPTION("n", "N"), ARG_OPTION("kind", "KIND") },
        .help = "Show the newest audit entries (automatic decisions), "
                "newest first: at most N (default 20, at most 1000), only "
                "those of KIND (subscription_gate, ...)",
        .columns = { "at", "kind", "subject", "recipient", "decision",
                     "reason", "score", "domain_score", "flag",
                     "explanation" },
    },
    [XS_CMD_AUDIT] = {
        .name = "audit", .result = XS_CMD_RES_ROWS, .nargs = 2,
        .args = { ARG_SUBJECT, ARG_OPTION("n", "N") },
        .help = "Show the audit entries about a JID or a domain, newest "
                "first: at most N (default 20, at most 1000)",
        .columns = { "at", "kind", "subject", "recipient", "decision",
                     "reason", "score", "domain_score", "flag",
                     "explanation" },
    },
    [XS_CMD_GATE_STATS] = {
        .name = "gate_stats", .result = XS_CMD_RES_OBJECT, .nargs = 0,
        .help = "Show the subscription gate's decisions since start: "
                "delivered, rejected, waiting for a key, and decisions by "
                "reason",
        .columns = { "since", "decided", "delivered", "rejected",
                     "pending", "reasons" },
    },
    [XS_CMD_DEBUG_CLOCK_ADVANCE] = {
        .name = "debug_clock_advance", .result = XS_CMD_RES_INTEGER,
        .nargs = 1, .args = { ARG_NAMED("seconds", "SECONDS") },
        .help = "Test only (xmppd --test-clock): move the server's wall "
                "clock forward; prints the new time (Unix seconds)",
    },
};

const struct xs_cmd_spec *
xs_cmd_lookup(const char *name)
{
    if (name == NULL)
        return NULL;
    for (size_t i = 0; i < XS_ARRAY_LEN(xs_cmd_specs); i++) {
        if (xs_cmd_specs[i].name != NULL
            && strcmp(xs_cmd_specs[i].name, name) == 0)
            return &xs_cmd_specs[i];
    }
    return NULL;
}

enum xs_cmd_id
xs_cmd_id_of(const struct xs_cmd_spec *spec)
{
    xs_assert(spec >= xs_cmd_specs && spec < xs_cmd_specs + XS_CMD__COUNT);
    return (enum xs_cmd_id)(spec - xs_cmd_specs);
}

xs_rc
xs_cmd_args_check(const struct xs_cmd_spec *spec, const json_t *body,
    char *err, size_t errlen)
{
    if (!json_is_object(body)) {
        snprintf(err, errlen, "Request body must be a JSON object");
        return XS_EINVAL;
    }
    for (size_t i = 0; i < spec->nargs; i++) {
        const struct xs_cmd_arg *a = &spec->args[i];
        const json_t *v = json_object_get(body, a->name);

        if (a->is_optional && (v == NULL || json_is_null(v)))
            continue;
        if (v == NULL) {
            snprintf(err, errlen, "Missing argument '%s'", a->name);
            return XS_EINVAL;
        }
        if (!json_is_string(v)) {
            snprintf(err, errlen, "Argument '%s' must be a string",
                a->name);
            return XS_EINVAL;
        }
        /* jansson refuses \u0000 unless asked; C strings end at NUL, so
         * make sure nothing hides behind one. */
        if (strlen(json_string_value(v)) != json_string_length(v)) {
            snprintf(err, errlen, "Argument '%s' holds a NUL byte",
                a->name);
            return XS_EINVAL;
        }
    }
    return XS_OK;
}

const char *
xs_cmd_arg_str(const json_t *body, const char *name)
{
    return json_string_value(json_object_get(body, name));  /* NULL-safe */
}

size_t
xs_cmd_nrequired(const struct xs_cmd_spec *spec)
{
    size_t n = 0;

    while (n < spec->nargs && !spec->args[n].is_optional)
        n++;
    return n;
}

/* Append s to line (cap bytes, used so far *used); false if it is full. */
static bool
cmd_line_add(char *line, size_t cap, size_t *used, const char *s,
    bool is_upper)
{
    size_t n = strlen(s);

    if (n >= cap - *used)
        return false;
    for (size_t i = 0; i < n; i++) {
        line[(*used)++] = is_upper ? (char)toupper((unsigned char)s[i])
                                   : s[i];
    }
    line[*used] = '\0';
    return true;
}

char *
xs_cmd_synopsis(const struct xs_cmd_spec *spec)
{
    char line[512];
    size_t used = 0;
    bool is_ok;

    line[0] = '\0';
    is_ok = cmd_line_add(line, sizeof(line), &used, spec->name, false);
    for (size_t i = 0; is_ok && i < spec->nargs; i++) {
        const struct xs_cmd_arg *a = &spec->args[i];
        /* The metavar, else the name: both static, so upper-case here. */
        const char *mv = a->metavar != NULL ? a->metavar : a->name;

        if (a->is_optional) {
            is_ok = cmd_line_add(line, sizeof(line), &used, " [--", false)
                && cmd_line_add(line, sizeof(line), &used, a->name, false)
                && cmd_line_add(line, sizeof(line), &used, " ", false)
                && cmd_line_add(line, sizeof(line), &used, mv, true)
                && cmd_line_add(line, sizeof(line), &used, "]", false);
        } else {
            is_ok = cmd_line_add(line, sizeof(line), &used, " ", false)
                && cmd_line_add(line, sizeof(line), &used, mv, true);
        }
    }
    xs_assert(is_ok);                   /* the table is ours: it fits */
    return xs_strdup(line);
}

/* The optional argument called name (len bytes), or SIZE_MAX. */
static size_t
cmd_option_find(const struct xs_cmd_spec *spec, const char *name,
    size_t len)
{
    for (size_t i = 0; i < spec->nargs; i++) {
        const struct xs_cmd_arg *a = &spec->args[i];

        if (a->is_optional && strlen(a->name) == len
            && strncmp(a->name, name, len) == 0)
            return i;
    }
    return SIZE_MAX;
}

xs_rc
xs_cmd_argv_split(const struct xs_cmd_spec *spec, int argc,
    char *const *argv, const char **vals, char *err, size_t errlen)
{
    size_t nreq = xs_cmd_nrequired(spec);
    size_t npos = 0;
    bool is_opts_done = false;

    for (size_t i = 0; i < spec->nargs; i++)
        vals[i] = NULL;
    for (int i = 0; i < argc; i++) {
        const char *w = argv[i];
        const char *name, *eq, *val;
        size_t nlen, k;

        /* "-" (a secret from stdin) and "-5" (a score) are values. */
        if (is_opts_done || strncmp(w, "--", 2) != 0) {
            if (npos >= nreq) {
                snprintf(err, errlen, "%s takes %zu argument%s, and one "
                    "more was given: %.64s", spec->name, nreq,
                    nreq == 1 ? "" : "s", w);
                return XS_EINVAL;
            }
            vals[npos++] = w;
            continue;
        }
        if (w[2] == '\0') {
            is_opts_done = true;
            continue;
        }
        name = w + 2;
        eq = strchr(name, '=');
        nlen = eq != NULL ? (size_t)(eq - name) : strlen(name);
        k = cmd_option_find(spec, name, nlen);
        if (k == SIZE_MAX) {
            snprintf(err, errlen, "%s has no option --%.*s", spec->name,
                nlen > 64 ? 64 : (int)nlen, name);
            return XS_EINVAL;
        }
        if (eq != NULL) {
            val = eq + 1;
        } else if (i + 1 < argc) {
            val = argv[++i];            /* taken as it is, even "--x" */
        } else {
            snprintf(err, errlen, "--%s needs a value", spec->args[k].name);
            return XS_EINVAL;
        }
        if (vals[k] != NULL) {
            snprintf(err, errlen, "--%s given twice", spec->args[k].name);
            return XS_EINVAL;
        }
        vals[k] = val;
    }
    if (npos < nreq) {
        snprintf(err, errlen, "%s takes %zu argument%s, %zu given",
            spec->name, nreq, nreq == 1 ? "" : "s", npos);
        return XS_EINVAL;
    }
    return XS_OK;
}

/* One line from in without its line end, echo off on a terminal. */
static xs_rc
cmd_secret_read(const char *what, FILE *in, FILE *prompt_out, char **out)
{
    struct termios saved, quiet;
    bool is_tty = false;
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    xs_rc rc = XS_EIO;

    *out = NULL;
    if (isatty(fileno(in)) && tcgetattr(fileno(in), &saved) == 0) {
        quiet = saved;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        quiet.c_lflag |= ECHONL;
        if (tcsetattr(fileno(in), TCSAFLUSH, &quiet) == 0)
            is_tty = true;
        if (prompt_out != NULL) {
            fprintf(prompt_out, "%s: ", what);
            fflush(prompt_out);
        }
    }
    n = getline(&line, &cap, in);
    if (is_tty)
        tcsetattr(fileno(in), TCSAFLUSH, &saved);
    if (n <= 0)
        goto fail;
    if (line[n - 1] == '\n')
        line[--n] = '\0';
    if (n > 0 && line[n - 1] == '\r')
        line[--n] = '\0';
    if ((size_t)n != strlen(line)) {
        rc = XS_EINVAL;                 /* a NUL byte inside */
        goto fail;
    }
    if (n > CMD_SECRET_MAX) {
        rc = XS_ELIMIT;
        goto fail;
    }
    *out = line;
    return XS_OK;

fail:
    if (line != NULL) {
        sodium_memzero(line, cap);
        free(line);                     /* from getline: libc's malloc */
    }
    return rc;
}

xs_rc
xs_cmd_body_from_argv(const struct xs_cmd_spec *spec, int argc,
    char *const *argv, FILE *secret_in, FILE *prompt_out, json_t **out)
{
    const char *vals[XS_CMD_MAX_ARGS];
    char err[160];
    json_t *body;
    xs_rc rc;

    *out = NULL;
    if (argc < 0
        || xs_cmd_argv_split(spec, argc, argv, vals, err, sizeof(err))
            != XS_OK)
        return XS_EINVAL;
    body = json_object();
    xs_assert(body != NULL);
    for (size_t i = 0; i < spec->nargs; i++) {
        const struct xs_cmd_arg *a = &spec->args[i];
        json_t *v;

        if (vals[i] == NULL)
            continue;                   /* an option not given */
        if (a->is_secret && strcmp(vals[i], "-") == 0) {
            char *secret;

            rc = cmd_secret_read(a->name, secret_in, prompt_out, &secret);
            if (rc != XS_OK)
                goto fail;
            v = json_string(secret);
            sodium_memzero(secret, strlen(secret));
            free(secret);
        } else {
            v = json_string(vals[i]);
        }
        if (v == NULL) {                /* not UTF-8 */
            rc = XS_EINVAL;
            goto fail;
        }
        json_object_set_new(body, a->name, v);
    }
    *out = body;
    return XS_OK;

fail:
    json_decref(body);
    return rc;
}

/* A real number as an operator reads it: at most two decimals, no
 * trailing zeros ("-4.37", "2", "0.5"). */
static void
cmd_real_print(double d, FILE *out)
{
    char text[64];
    size_t n;
    int len;

    len = snprintf(text, sizeof(text), "%.2f", d);
    if (len < 0 || (size_t)len >= sizeof(text)) {
        fprintf(out, "%g", d);          /* out of any sensible range */
        return;
    }
    n = (size_t)len;
    while (n > 0 && text[n - 1] == '0')
        n--;
    if (n > 0 && text[n - 1] == '.')
        n--;
    text[n] = '\0';
    fputs(strcmp(text, "-0") == 0 ? "0" : text, out);
}

/* One value in a table cell: strings as they are, numbers, lists joined
 * with ';', objects as compact JSON, null and missing as "". */
static void
cmd_value_print(const json_t *v, FILE *out)
{
    size_t i;
    const json_t *item;

    if (json_is_string(v)) {
        fputs(json_string_value(v), out);
    } else if (json_is_integer(v)) {
        fprintf(out, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    } else if (json_is_real(v)) {
        cmd_real_print(json_real_value(v), out);
    } else if (json_is_boolean(v)) {
        fputs(json_is_true(v) ? "true" : "false", out);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, item) {
            if (i > 0)
                fputc(';', out);
            cmd_value_print(item, out);
        }
    } else if (json_is_object(v)) {
        /* 15 digits: the points an explanation rounds to two decimals
         * print as "-4.9", not as "-4.9000000000000004". */
        char *text = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS
            | JSON_REAL_PRECISION(15));

        xs_assert(text != NULL);        /* only on OOM */
        fputs(text, out);
        free(text);                     /* jansson's allocator: malloc */
    }
}

/* rows: every element an object. */
static bool
cmd_is_rows(const json_t *rows)
{
    size_t i;
    const json_t *item;

    if (!json_is_array(rows))
        return false;
    json_array_foreach(rows, i, item) {
        if (!json_is_object(item))
            return false;
    }
    return true;
}

/* One tab-separated line per row, the columns in order. */
static void
cmd_rows_print(const char *const *columns, const json_t *rows, FILE *out)
{
    size_t i;
    const json_t *item;

    json_array_foreach(rows, i, item) {
        for (size_t c = 0; columns[c] != NULL; c++) {
            if (c > 0)
                fputc('\t', out);
            cmd_value_print(json_object_get(item, columns[c]), out);
        }
        fputc('\n', out);
    }
}

xs_rc
xs_cmd_result_print(const struct xs_cmd_spec *spec, const json_t *result,
    FILE *out)
{
    size_t i;
    const json_t *item, *rows = NULL;

    switch (spec->result) {
    case XS_CMD_RES_RESCODE:
        if (!json_is_integer(result))
            return XS_EINVAL;
        return XS_OK;                   /* ejabberdctl prints nothing */
    case XS_CMD_RES_INTEGER:
        if (!json_is_integer(result))
            return XS_EINVAL;
        fprintf(out, "%" JSON_INTEGER_FORMAT "\n",
            json_integer_value(result));
        return XS_OK;
    case XS_CMD_RES_STRING:
        if (!json_is_string(result))
            return XS_EINVAL;
        fprintf(out, "%s\n", json_string_value(result));
        return XS_OK;
    case XS_CMD_RES_LIST:
        if (!json_is_array(result))
            return XS_EINVAL;
        json_array_foreach(result, i, item) {
            if (!json_is_string(item))
                return XS_EINVAL;
        }
        json_array_foreach(result, i, item)
            fprintf(out, "%s\n", json_string_value(item));
        return XS_OK;
    case XS_CMD_RES_ROWS:
        if (!cmd_is_rows(result))
            return XS_EINVAL;
        cmd_rows_print(spec->columns, result, out);
        return XS_OK;
    case XS_CMD_RES_OBJECT:
        if (!json_is_object(result))
            return XS_EINVAL;
        if (spec->rows_member != NULL) {
            rows = json_object_get(result, spec->rows_member);
            if (!cmd_is_rows(rows))
                return XS_EINVAL;
        }
        for (size_t c = 0; spec->columns[c] != NULL; c++) {
            fprintf(out, "%s: ", spec->columns[c]);
            cmd_value_print(json_object_get(result, spec->columns[c]), out);
            fputc('\n', out);
        }
        if (rows == NULL)
            return XS_OK;
        /* The header keeps an empty table readable as one. */
        fputc('\n', out);
        for (size_t c = 0; spec->row_columns[c] != NULL; c++)
            fprintf(out, "%s%s", c > 0 ? "\t" : "", spec->row_columns[c]);
        fputc('\n', out);
        cmd_rows_print(spec->row_columns, rows, out);
        return XS_OK;
    }
    return XS_EINVAL;
}
