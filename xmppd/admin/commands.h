/*
 * commands.h: the operator commands as data, shared by the admin HTTP API
 * (xmppd/admin/admin_http.c, which binds a handler to each row) and by
 * xmppctl (which turns positional arguments into the JSON body and prints
 * the result).  Names and argument names follow ejabberd's commands, so
 * that ejabberdctl and mod_http_api habits carry over.
 *
 * Adding a verb: add its XS_CMD_* id, a row in xs_cmd_specs[] (commands.c)
 * and its handler row in admin_http.c.  xmppctl learns it from the table.
 *
 * Nothing here touches the server: xmppctl links this file alone.
 */
#ifndef XMPPD_ADMIN_COMMANDS_H
#define XMPPD_ADMIN_COMMANDS_H

#include "xmppd/core/xs.h"

#include <jansson.h>
#include <stdio.h>

enum xs_cmd_id {
    XS_CMD_REGISTER,
    XS_CMD_UNREGISTER,
    XS_CMD_REGISTERED_USERS,
    XS_CMD_CHANGE_PASSWORD,
    XS_CMD_CONNECTED_USERS,
    XS_CMD_CONNECTED_USERS_NUMBER,
    XS_CMD_KICK_USER,
    XS_CMD_STATUS,
    /* Served by modules (xmppd/im/...): see admin.h. */
    XS_CMD_GET_ROSTER,
    XS_CMD_ADD_ROSTERITEM,
    XS_CMD_DELETE_ROSTERITEM,
    XS_CMD_GET_OFFLINE_COUNT,
    XS_CMD_GET_VCARD,
    XS_CMD_USER_ACTIVITY,
    /* Served by xs_mod_s2s_block (xmppd/s2s/blocklist.c). */
    XS_CMD_S2S_CONNECTIONS,
    XS_CMD_BLOCK_DOMAIN,
    XS_CMD_UNBLOCK_DOMAIN,
    XS_CMD_BLOCKED_DOMAINS,
    /* Served by mod_reputation (reputation/ops.c). */
    XS_CMD_REPUTATION,
    XS_CMD_REPUTATION_EXPLAIN,
    XS_CMD_REPUTATION_SET,
    XS_CMD_REPUTATION_CLEAR,
    XS_CMD_REPUTATION_LIST,
    /* Served by mod_trust (reputation/trust.c). */
    XS_CMD_TRUST_KEY_ROTATE,
    /* Served by mod_audit (reputation/audit.c). */
    XS_CMD_AUDIT_TAIL,
    XS_CMD_AUDIT,
    /* Served by the subscription gate (reputation/gate.c). */
    XS_CMD_GATE_STATS,
    /* Core, only with `xmppd --test-clock` (admin_http.c). */
    XS_CMD_DEBUG_CLOCK_ADVANCE,
    XS_CMD__COUNT
};

/* What a successful command returns, as ejabberd's result formats. */
enum xs_cmd_result {
    XS_CMD_RES_RESCODE,     /* integer 0; xmppctl prints nothing */
    XS_CMD_RES_INTEGER,     /* a count; xmppctl prints it */
    XS_CMD_RES_STRING,      /* xmppctl prints the string */
    XS_CMD_RES_LIST,        /* list of strings; one per line */
    XS_CMD_RES_ROWS,        /* list of objects; one line each, the spec's
                               columns separated by tabs */
    XS_CMD_RES_OBJECT,      /* one object; "column: value" lines, then
                               (with rows_member) a blank line and a
                               table of the rows with a header line */
};

/* How the server prepares an argument before the handler sees it. */
enum xs_cmd_arg_kind {
    XS_ARG_TEXT = 0,        /* as given */
    XS_ARG_LOCAL_USER,      /* nodeprepped account name (400 if invalid) */
    XS_ARG_LOCAL_HOST,      /* one of `hosts` (400 otherwise) */
};

/*
 * Required arguments come first in a spec, then the optional ones.  On
 * xmppctl's command line the required ones are positional and an optional
 * one is "--name VALUE" or "--name=VALUE", anywhere after the verb; in a
 * request body an optional one may be absent (or null).
 */
struct xs_cmd_arg {
    const char *name;       /* borrowed (static): JSON member name */
    bool        is_secret;  /* never logged, never echoed in errors;
                               "-" on the xmppctl command line reads it
                               from stdin */
    enum xs_cmd_arg_kind kind;
    bool        is_optional;
    const char *metavar;    /* borrowed (static): the value's name in the
                               synopsis; NULL: the name upper-cased */
};

#define XS_CMD_MAX_ARGS 8
#define XS_CMD_MAX_COLUMNS 16

/* Every argument is a JSON string for now; a typed argument gets a type
 * field here when the first one arrives. */
struct xs_cmd_spec {
    const char        *name;    /* borrowed (static) */
    enum xs_cmd_result result;
    size_t             nargs;
    struct xs_cmd_arg  args[XS_CMD_MAX_ARGS];
    const char        *help;    /* borrowed (static): one line */
    /* ROWS and OBJECT results: the members printed, in order (NULL
     * ended).  A member whose value is a list prints joined with ';'. */
    const char        *columns[XS_CMD_MAX_COLUMNS + 1];
    /* OBJECT results that explain themselves: the member holding a list
     * of objects (borrowed, static; NULL: none), printed as a table of
     * row_columns (NULL ended) after the object's columns. */
    const char        *rows_member;
    const char        *row_columns[XS_CMD_MAX_COLUMNS + 1];
};

extern const struct xs_cmd_spec xs_cmd_specs[XS_CMD__COUNT];

/* The command named name, or NULL. */
const struct xs_cmd_spec *xs_cmd_lookup(const char *name);
enum xs_cmd_id xs_cmd_id_of(const struct xs_cmd_spec *spec);

/*
 * Check a request body against spec: an object holding every required
 * argument as a string, and each optional one as a string or not at all
 * (null counts as absent).  Members the command does not know are
 * ignored, as ejabberd does.  On XS_EINVAL, err (errlen bytes) says which
 * argument is wrong, by name only: never its value.
 */
xs_rc xs_cmd_args_check(const struct xs_cmd_spec *spec, const json_t *body,
    char *err, size_t errlen);

/* The string value of argument name in a checked body (borrowed), NULL
 * for an optional argument not given. */
const char *xs_cmd_arg_str(const json_t *body, const char *name);

/* How many of spec's arguments are required (they come first). */
size_t xs_cmd_nrequired(const struct xs_cmd_spec *spec);

/*
 * "reputation_set JID SCORE [--reason REASON] [--expires WHEN]": the
 * synopsis of a command, the verb then its arguments' metavars.  Caller
 * frees.
 */
char *xs_cmd_synopsis(const struct xs_cmd_spec *spec);

/*
 * Sort the command-line words after the verb into spec's arguments:
 * required ones by position, optional ones as "--name VALUE" or
 * "--name=VALUE" anywhere; after "--" every word is positional (a value
 * that starts with "--").  vals (spec->nargs slots) gets borrowed
 * pointers into argv, NULL for an optional argument not given.  On
 * XS_EINVAL err says what is wrong: an unknown option, an option without
 * its value or given twice, too few or too many positional arguments.
 */
xs_rc xs_cmd_argv_split(const struct xs_cmd_spec *spec, int argc,
    char *const *argv, const char **vals, char *err, size_t errlen);

/*
 * Build the JSON body from the command-line words after the verb (as
 * xs_cmd_argv_split sorts them; XS_EINVAL if it refuses them).  A secret
 * argument given as "-" is read as one line from secret_in (the newline
 * stripped); when secret_in is a terminal, a prompt goes to prompt_out
 * and echo is off.  XS_EIO when no line can be read.  Optional arguments
 * not given are absent from the body.  *out is a new object.
 */
xs_rc xs_cmd_body_from_argv(const struct xs_cmd_spec *spec, int argc,
    char *const *argv, FILE *secret_in, FILE *prompt_out, json_t **out);

/*
 * Print a successful result the way ejabberdctl does: a string on one
 * line, list items one per line, an integer count as a number, nothing
 * for a rescode 0; an object as "column: value" lines, followed, when the
 * spec names a rows_member, by a blank line, a header line and one
 * tab-separated line per row.  XS_EINVAL if the value does not have the
 * expected shape (nothing is printed then).
 */
xs_rc xs_cmd_result_print(const struct xs_cmd_spec *spec,
    const json_t *result, FILE *out);

#endif
