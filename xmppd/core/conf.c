/*
 * conf.c: load the YAML configuration (libyaml), shaped like ejabberd.yml.
 *
 * Two steps.  First the YAML events become a small tree of scalars, lists
 * and maps with line numbers; that step refuses aliases (no expansion
 * attacks), duplicate keys, non-scalar keys and NUL bytes.  Then the tree
 * is checked against what we know: every key must be known, every value
 * of the right type and range.  The first problem stops the load with one
 * line "file:line: key: why"; secrets (sql_password, tokens) never appear
 * in it.  This runs once at start, before the event loop: reading the file
 * here is not blocking anyone.
 */
#include "xmppd/core/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

#define CONF_FILE_MAX   (4u * 1024 * 1024)  /* a config is a few KiB */
#define CONF_DEPTH_MAX  64                  /* no option nests that deep */
#define CONF_MIB        (1024ull * 1024)

/* Module names that may appear under `modules:`; a typo is an error. */
static const char *const conf_known_modules[] = {
    "mod_disco", "mod_ping", "mod_version", "mod_register", "mod_vcard",
    "mod_roster", "mod_offline", "mod_blocking", "mod_last",
    "mod_pres_counter", "mod_muc", "mod_reputation", "mod_buddies",
    "mod_incidents", "mod_admin_extra", "mod_activity", "mod_audit",
};

/* ---- the node tree ---- */

static void
node_free(struct xs_conf_node *n)
{
    if (n == NULL)
        return;
    for (size_t i = 0; i < n->nitems; i++)
        node_free(n->items[i]);
    xs_free(n->items);
    xs_free(n->key);
    if (n->value != NULL)
        sodium_memzero(n->value, strlen(n->value)); /* may be a secret */
    xs_free(n->value);
    xs_free(n);
}

static struct xs_conf_node *
node_new(enum xs_conf_kind kind, int line)
{
    struct xs_conf_node *n = xs_calloc(1, sizeof(*n));

    n->kind = kind;
    n->line = line;
    return n;
}

static void
node_append(struct xs_conf_node *parent, struct xs_conf_node *child)
{
    parent->items = xs_reallocarray(parent->items, parent->nitems + 1,
        sizeof(*parent->items));
    parent->items[parent->nitems++] = child;
}

const struct xs_conf_node *
xs_conf_node_get(const struct xs_conf_node *map, const char *key)
{
    if (map == NULL || map->kind != XS_CONF_MAP)
        return NULL;
    for (size_t i = 0; i < map->nitems; i++) {
        if (map->items[i] != NULL && strcmp(map->items[i]->key, key) == 0)
            return map->items[i];
    }
    return NULL;
}

bool
xs_conf_node_is_null(const struct xs_conf_node *n)
{
    if (n == NULL)
        return true;
    if (n->kind != XS_CONF_SCALAR || !n->is_plain)
        return false;
    return n->value[0] == '\0' || strcmp(n->value, "~") == 0
        || strcmp(n->value, "null") == 0 || strcmp(n->value, "Null") == 0
        || strcmp(n->value, "NULL") == 0;
}

const char *
xs_conf_node_str(const struct xs_conf_node *n)
{
    if (n == NULL || n->kind != XS_CONF_SCALAR || xs_conf_node_is_null(n))
        return NULL;
    return n->value;
}

xs_rc
xs_conf_node_bool(const struct xs_conf_node *n, bool *out)
{
    const char *s = xs_conf_node_str(n);

    *out = false;
    if (s == NULL)
        return XS_EINVAL;
    if (strcasecmp(s, "true") == 0) {
        *out = true;
        return XS_OK;
    }
    if (strcasecmp(s, "false") == 0)
        return XS_OK;
    return XS_EINVAL;
}

xs_rc
xs_conf_node_int(const struct xs_conf_node *n, long long min, long long max,
    long long *out)
{
    const char *s = xs_conf_node_str(n);
    char *end;
    long long v;

    *out = 0;
    /* Decimal only: "0x10", "1e3", " 5" and "5k" are typos, not numbers. */
    if (s == NULL || !(isdigit((unsigned char)s[0])
        || (s[0] == '-' && isdigit((unsigned char)s[1]))))
        return XS_EINVAL;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (*end != '\0')
        return XS_EINVAL;
    if (errno == ERANGE || v < min || v > max)
        return XS_ELIMIT;
    *out = v;
    return XS_OK;
}

static char *
conf_vfmt(const char *file, int line, const char *key, const char *fmt,
    va_list ap)
{
    char *why = NULL, *msg;

    if (vasprintf(&why, fmt, ap) < 0)
        why = NULL;
    msg = xs_asprintf("%s:%d: %s: %s", file, line, key,
        why != NULL ? why : "invalid value");
    free(why);
    return msg;
}

char *
xs_conf_errmsg(const struct xs_conf *c, const struct xs_conf_node *n,
    const char *key, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = conf_vfmt(c->path != NULL ? c->path : "(config)",
        n != NULL ? n->line : 0, key, fmt, ap);
    va_end(ap);
    return msg;
}

xs_rc
xs_conf_node_check_keys(const struct xs_conf *c,
    const struct xs_conf_node *map, const char *path,
    const char *const *known, char **errmsg)
{
    *errmsg = NULL;
    if (map == NULL)
        return XS_OK;
    if (map->kind != XS_CONF_MAP) {
        *errmsg = xs_conf_errmsg(c, map, path, "must be a map");
        return XS_EINVAL;
    }
    for (size_t i = 0; i < map->nitems; i++) {
        const struct xs_conf_node *n = map->items[i];
        size_t k;

        for (k = 0; known[k] != NULL; k++) {
            if (strcmp(n->key, known[k]) == 0)
                break;
        }
        if (known[k] == NULL) {
            /* The key's own line: its value may start further down. */
            *errmsg = xs_asprintf("%s:%d: %s.%s: unknown key",
                c->path != NULL ? c->path : "(config)", n->key_line, path,
                n->key);
            return XS_EINVAL;
        }
    }
    return XS_OK;
}

/* ---- YAML events to tree ---- */

struct conf_yaml {
    yaml_parser_t parser;
    const char *text;           /* borrowed: the whole input */
    size_t   len;
    const char *file;           /* borrowed: name for messages */
    char    *err;               /* owned: first error */
};

static xs_rc yaml_err(struct conf_yaml *y, int line, const char *key,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static xs_rc
yaml_err(struct conf_yaml *y, int line, const char *key, const char *fmt, ...)
{
    va_list ap;

    if (y->err != NULL)
        return XS_EINVAL;
    va_start(ap, fmt);
    y->err = conf_vfmt(y->file, line, key, fmt, ap);
    va_end(ap);
    return XS_EINVAL;
}

static xs_rc
yaml_next(struct conf_yaml *y, yaml_event_t *ev)
{
    const yaml_parser_t *p = &y->parser;

    if (yaml_parser_parse(&y->parser, ev))
        return XS_OK;
    memset(ev, 0, sizeof(*ev));
    if (p->error == YAML_READER_ERROR) {
        /* The reader knows only a byte offset: count the lines to it. */
        int line = 1;

        for (size_t i = 0; i < p->problem_offset && i < y->len; i++)
            line += y->text[i] == '\n';
        return yaml_err(y, line, "yaml", "%s at byte %zu",
            p->problem != NULL ? p->problem : "bad input",
            p->problem_offset);
    }
    if (p->context != NULL)
        return yaml_err(y, (int)p->problem_mark.line + 1, "yaml",
            "%s (%s)", p->problem != NULL ? p->problem : "syntax error",
            p->context);
    return yaml_err(y, (int)p->problem_mark.line + 1, "yaml", "%s",
        p->problem != NULL ? p->problem : "syntax error");
}

static int
ev_line(const yaml_event_t *ev)
{
    return (int)ev->start_mark.line + 1;
}

static char *
path_key(const char *parent, const char *key)
{
    return *parent == '\0' ? xs_strdup(key)
                           : xs_asprintf("%s.%s", parent, key);
}

static char *
path_idx(const char *parent, size_t i)
{
    return xs_asprintf("%s[%zu]", parent, i);
}

static const char *
path_show(const char *path)
{
    return *path == '\0' ? "(top)" : path;
}

static xs_rc yaml_node(struct conf_yaml *y, yaml_event_t *ev,
    const char *path, int depth, struct xs_conf_node **out);

static xs_rc
yaml_scalar_text(struct conf_yaml *y, const yaml_event_t *ev,
    const char *path, char **out)
{
    const char *v = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;

    *out = NULL;
    /* "\0" is legal YAML; in a C string it would silently cut the value. */
    if (memchr(v, '\0', len) != NULL)
        return yaml_err(y, ev_line(ev), path_show(path),
            "contains a NUL character");
    *out = xs_strndup(v, len);
    return XS_OK;
}

static xs_rc
yaml_seq(struct conf_yaml *y, struct xs_conf_node *n, const char *path,
    int depth)
{
    yaml_event_t ev;
    xs_rc rc;

    for (;;) {
        struct xs_conf_node *child;
        char *ipath;

        if ((rc = yaml_next(y, &ev)) != XS_OK)
            return rc;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return XS_OK;
        }
        ipath = path_idx(path, n->nitems);
        rc = yaml_node(y, &ev, ipath, depth + 1, &child);
        xs_free(ipath);
        if (rc != XS_OK)
            return rc;
        node_append(n, child);
    }
}

static xs_rc
yaml_map(struct conf_yaml *y, struct xs_conf_node *n, const char *path,
    int depth)
{
    yaml_event_t ev;
    xs_rc rc;

    for (;;) {
        struct xs_conf_node *child;
        char *key, *kpath;
        int key_line;

        if ((rc = yaml_next(y, &ev)) != XS_OK)
            return rc;
        if (ev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&ev);
            return XS_OK;
        }
        key_line = ev_line(&ev);
        if (ev.type == YAML_ALIAS_EVENT) {
            yaml_event_delete(&ev);
            return yaml_err(y, key_line, path_show(path),
                "YAML aliases are not allowed");
        }
        if (ev.type != YAML_SCALAR_EVENT) {
            yaml_event_delete(&ev);
            return yaml_err(y, key_line, path_show(path),
                "keys must be plain strings, not lists or maps");
        }
        rc = yaml_scalar_text(y, &ev, path, &key);
        yaml_event_delete(&ev);
        if (rc != XS_OK)
            return rc;
        kpath = path_key(path, key);
        if (xs_conf_node_get(n, key) != NULL) {
            rc = yaml_err(y, key_line, kpath, "duplicate key");
            xs_free(kpath);
            xs_free(key);
            return rc;
        }
        if ((rc = yaml_next(y, &ev)) == XS_OK)
            rc = yaml_node(y, &ev, kpath, depth + 1, &child);
        xs_free(kpath);
        if (rc != XS_OK) {
            xs_free(key);
            return rc;
        }
        child->key = key;
        child->key_line = key_line;
        node_append(n, child);
    }
}

/* Build the node that starts with *ev; consumes (deletes) *ev. */
static xs_rc
yaml_node(struct conf_yaml *y, yaml_event_t *ev, const char *path, int depth,
    struct xs_conf_node **out)
{
    struct xs_conf_node *n = NULL;
    int line = ev_line(ev);
    xs_rc rc;

    *out = NULL;
    if (depth > CONF_DEPTH_MAX) {
        yaml_event_delete(ev);
        return yaml_err(y, line, path_show(path), "nested deeper than %d",
            CONF_DEPTH_MAX);
    }
    switch (ev->type) {
    case YAML_SCALAR_EVENT:
        n = node_new(XS_CONF_SCALAR, line);
        n->is_plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
        rc = yaml_scalar_text(y, ev, path, &n->value);
        yaml_event_delete(ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
        yaml_event_delete(ev);
        n = node_new(XS_CONF_LIST, line);
        rc = yaml_seq(y, n, path, depth);
        break;
    case YAML_MAPPING_START_EVENT:
        yaml_event_delete(ev);
        n = node_new(XS_CONF_MAP, line);
        rc = yaml_map(y, n, path, depth);
        break;
    case YAML_ALIAS_EVENT:
        /* An alias makes the tree a graph; nested aliases expand
         * exponentially ("billion laughs").  Nobody needs them here. */
        yaml_event_delete(ev);
        return yaml_err(y, line, path_show(path),
            "YAML aliases (*name) are not allowed");
    default:
        yaml_event_delete(ev);
        return yaml_err(y, line, path_show(path), "unexpected YAML event");
    }
    if (rc != XS_OK) {
        node_free(n);
        return rc;
    }
    *out = n;
    return XS_OK;
}

/* Parse a whole document; *root is NULL for an empty file. */
static xs_rc
yaml_parse_tree(const char *text, size_t len, const char *file,
    struct xs_conf_node **root, char **errmsg)
{
    struct conf_yaml y = { .text = text, .len = len, .file = file };
    struct xs_conf_node *n = NULL;
    yaml_event_t ev;
    xs_rc rc;

    *root = NULL;
    *errmsg = NULL;
    if (!yaml_parser_initialize(&y.parser)) {
        *errmsg = xs_asprintf("%s: cannot initialize the YAML parser", file);
        return XS_ENOMEM;
    }
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)text, len);

    if ((rc = yaml_next(&y, &ev)) != XS_OK)        /* STREAM-START */
        goto fail;
    yaml_event_delete(&ev);
    if ((rc = yaml_next(&y, &ev)) != XS_OK)
        goto fail;
    if (ev.type == YAML_STREAM_END_EVENT) {         /* empty file */
        yaml_event_delete(&ev);
        goto done;
    }
    yaml_event_delete(&ev);                         /* DOCUMENT-START */
    if ((rc = yaml_next(&y, &ev)) != XS_OK)
        goto fail;
    if ((rc = yaml_node(&y, &ev, "", 0, &n)) != XS_OK)
        goto fail;
    if ((rc = yaml_next(&y, &ev)) != XS_OK)        /* DOCUMENT-END */
        goto fail;
    yaml_event_delete(&ev);
    if ((rc = yaml_next(&y, &ev)) != XS_OK)
        goto fail;
    if (ev.type != YAML_STREAM_END_EVENT) {
        rc = yaml_err(&y, ev_line(&ev), "yaml",
            "only one YAML document is allowed (remove the second '---')");
        yaml_event_delete(&ev);
        goto fail;
    }
    yaml_event_delete(&ev);
done:
    yaml_parser_delete(&y.parser);
    *root = n;
    return XS_OK;

fail:
    node_free(n);
    yaml_parser_delete(&y.parser);
    *errmsg = y.err != NULL ? y.err : xs_asprintf("%s: invalid YAML", file);
    return rc != XS_OK ? rc : XS_EINVAL;
}

/* ---- typed values ---- */

struct conf_ctx {
    struct xs_conf *c;          /* borrowed: being filled */
    const char *file;           /* borrowed */
    char    *base_dir;          /* owned: absolute folder of the file */
    char    *err;               /* owned: first error */
};

static xs_rc conf_err(struct conf_ctx *x, const struct xs_conf_node *n,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Errors about a value name the value's line (NULL: line 1). */
static xs_rc
conf_err(struct conf_ctx *x, const struct xs_conf_node *n, const char *key,
    const char *fmt, ...)
{
    va_list ap;

    if (x->err != NULL)
        return XS_EINVAL;
    va_start(ap, fmt);
    x->err = conf_vfmt(x->file, n != NULL ? n->line : 1, key, fmt, ap);
    va_end(ap);
    return XS_EINVAL;
}

/* Errors about a key itself (unknown key, unknown module) name its line. */
static xs_rc
conf_err_key(struct conf_ctx *x, const struct xs_conf_node *n,
    const char *key, const char *why)
{
    if (x->err == NULL)
        x->err = xs_asprintf("%s:%d: %s: %s", x->file, n->key_line, key,
            why);
    return XS_EINVAL;
}

/* A string; never echoes the value (it may be a password). */
static xs_rc
conf_str(struct conf_ctx *x, const struct xs_conf_node *n, const char *key,
    bool is_empty_ok, char **out)
{
    const char *s = xs_conf_node_str(n);

    if (s == NULL) {
        if (n->kind == XS_CONF_SCALAR && n->is_plain && is_empty_ok) {
            s = "";             /* `sql_password:` with nothing after it */
        } else {
            return conf_err(x, n, key, "must be a string%s",
                n->kind == XS_CONF_SCALAR ? "" : n->kind == XS_CONF_LIST
                ? ", not a list" : ", not a map");
        }
    }
    if (*s == '\0' && !is_empty_ok)
        return conf_err(x, n, key, "must not be empty");
    xs_free(*out);
    *out = xs_strdup(s);
    return XS_OK;
}

static xs_rc
conf_bool(struct conf_ctx *x, const struct xs_conf_node *n, const char *key,
    bool *out)
{
    if (xs_conf_node_bool(n, out) != XS_OK)
        return conf_err(x, n, key, "must be true or false");
    return XS_OK;
}

static bool
conf_is_infinity(const struct xs_conf_node *n)
{
    const char *s = xs_conf_node_str(n);

    return s != NULL && strcasecmp(s, "infinity") == 0;
}

static xs_rc
conf_list(struct conf_ctx *x, const struct xs_conf_node *n, const char *key)
{
    if (n->kind != XS_CONF_LIST)
        return conf_err(x, n, key, "must be a list");
    return XS_OK;
}

static xs_rc
conf_map(struct conf_ctx *x, const struct xs_conf_node *n, const char *key)
{
    if (n->kind != XS_CONF_MAP)
        return conf_err(x, n, key, "must be a map");
    return XS_OK;
}

/* A path from the file, made absolute against dir (the config file's
 * folder). */
static char *
conf_path_in(const char *dir, const char *p)
{
    if (p[0] == '/')
        return xs_strdup(p);
    while (p[0] == '.' && p[1] == '/')
        p += 2;                 /* "./certs" reads better without "/./" */
    if (strcmp(p, ".") == 0 || *p == '\0')
        return xs_strdup(dir);
    return xs_asprintf("%s/%s", dir, p);
}

static char *
conf_abspath(const struct conf_ctx *x, const char *p)
{
    return conf_path_in(x->base_dir, p);
}

/* ---- sections ---- */

/* ASCII LDH labels; IDNs go in their A-label (xn--) form. */
static bool
conf_domain_is_valid(const char *d)
{
    size_t len = strlen(d), label = 0;

    if (len == 0 || len > 253)
        return false;
    for (size_t i = 0; i <= len; i++) {
        unsigned char ch = (unsigned char)d[i];

        if (ch == '.' || ch == '\0') {
            if (label == 0 || label > 63 || d[i - 1] == '-')
                return false;
            label = 0;
            continue;
        }
        if (!(isalnum(ch) || ch == '-') || (label == 0 && ch == '-'))
            return false;
        label++;
    }
    return true;
}

static xs_rc
conf_hosts(struct conf_ctx *x, const struct xs_conf_node *n)
{
    struct xs_conf *c = x->c;
    xs_rc rc = XS_OK;

    if ((rc = conf_list(x, n, "hosts")) != XS_OK)
        return rc;
    if (n->nitems == 0)
        return conf_err(x, n, "hosts", "at least one host is required");
    c->hosts = xs_calloc(n->nitems, sizeof(*c->hosts));
    for (size_t i = 0; i < n->nitems && rc == XS_OK; i++) {
        char *key = path_idx("hosts", i), *h = NULL;

        if ((rc = conf_str(x, n->items[i], key, false, &h)) == XS_OK) {
            for (char *p = h; *p != '\0'; p++)
                *p = (char)tolower((unsigned char)*p);
            if (!conf_domain_is_valid(h))
                rc = conf_err(x, n->items[i], key, "'%s' is not a valid "
                    "domain name (letters, digits, '-', '.'; IDNs as "
                    "xn--)", h);
            else if (xs_conf_is_local_host(c, h))
                rc = conf_err(x, n->items[i], key, "'%s' is listed twice",
                    h);
        }
        if (rc == XS_OK)
            c->hosts[c->nhosts++] = h;
        else
            xs_free(h);
        xs_free(key);
    }
    return rc;
}

static xs_rc
conf_loglevel(struct conf_ctx *x, const struct xs_conf_node *n)
{
    static const struct { const char *name; enum xs_log_level lvl; } map[] = {
        { "debug", XS_LOG_DEBUG }, { "info", XS_LOG_INFO },
        { "notice", XS_LOG_NOTICE }, { "warning", XS_LOG_WARN },
        { "error", XS_LOG_ERR },
    };
    const char *s = xs_conf_node_str(n);

    for (size_t i = 0; s != NULL && i < XS_ARRAY_LEN(map); i++) {
        if (strcmp(s, map[i].name) == 0) {
            x->c->loglevel = map[i].lvl;
            return XS_OK;
        }
    }
    return conf_err(x, n, "loglevel",
        "must be one of debug, info, notice, warning, error");
}

static xs_rc
conf_certfiles(struct conf_ctx *x, const struct xs_conf_node *n)
{
    struct xs_conf *c = x->c;
    xs_rc rc;

    if ((rc = conf_list(x, n, "certfiles")) != XS_OK)
        return rc;
    c->certfiles = xs_calloc(n->nitems, sizeof(*c->certfiles));
    for (size_t i = 0; i < n->nitems; i++) {
        char *key = path_idx("certfiles", i), *p = NULL;

        rc = conf_str(x, n->items[i], key, false, &p);
        xs_free(key);
        if (rc != XS_OK)
            return rc;
        c->certfiles[c->ncertfiles++] = conf_abspath(x, p);
        xs_free(p);
    }
    return XS_OK;
}

static xs_rc
conf_state_dir(struct conf_ctx *x, const struct xs_conf_node *n)
{
    char *p = NULL;
    xs_rc rc;

    if ((rc = conf_str(x, n, "state_dir", false, &p)) != XS_OK)
        return rc;
    xs_free(x->c->state_dir);
    x->c->state_dir = conf_abspath(x, p);
    xs_free(p);
    return XS_OK;
}

static xs_rc
conf_sql_type(struct conf_ctx *x, const struct xs_conf_node *n)
{
    const char *s = xs_conf_node_str(n);

    if (s == NULL || strcmp(s, "pgsql") != 0)
        return conf_err(x, n, "sql_type", "only pgsql is supported");
    return XS_OK;
}

/* Plain string options, by offset. */
struct conf_str_opt {
    const char *key;
    size_t   off;
    bool     is_empty_ok;
};

static const struct conf_str_opt conf_str_opts[] = {
    { "sql_server", offsetof(struct xs_conf, sql_server), false },
    { "sql_database", offsetof(struct xs_conf, sql_database), false },
    { "sql_username", offsetof(struct xs_conf, sql_username), false },
    { "sql_password", offsetof(struct xs_conf, sql_password), true },
    { "sql_dsn", offsetof(struct xs_conf, sql_dsn), false },
    { "s2s_access", offsetof(struct xs_conf, s2s_access), false },
};

/* Integer options, by offset; `infinity` where "no limit" is meaningful. */
enum conf_inf {
    CONF_INF_NO,                /* infinity refused */
    CONF_INF_MAX,               /* infinity stored as SIZE_MAX */
    CONF_INF_ZERO,              /* infinity stored as 0 ("none") */
};

struct conf_int_opt {
    const char *key;
    size_t   off;
    bool     is_size;           /* size_t field, else int */
    long long min;
    long long max;
    enum conf_inf inf;
};

static const struct conf_int_opt conf_int_opts[] = {
    { "sql_port", offsetof(struct xs_conf, sql_port), false, 1, 65535,
      CONF_INF_NO },
    { "sql_pool_size", offsetof(struct xs_conf, sql_pool_size), false, 1, 64,
      CONF_INF_NO },
    { "sql_queue_max", offsetof(struct xs_conf, sql_queue_max), false, 1,
      1000000, CONF_INF_NO },
    { "max_stanza_size_preauth",
      offsetof(struct xs_conf, max_stanza_size_preauth), true, 1024,
      64 * CONF_MIB, CONF_INF_NO },
    { "max_xml_depth", offsetof(struct xs_conf, max_xml_depth), true, 4,
      1024, CONF_INF_NO },
    { "max_xml_attrs", offsetof(struct xs_conf, max_xml_attrs), true, 1,
      1024, CONF_INF_NO },
    { "c2s_handshake_timeout",
      offsetof(struct xs_conf, c2s_handshake_timeout), false, 1, 3600,
      CONF_INF_NO },
    { "c2s_idle_timeout", offsetof(struct xs_conf, c2s_idle_timeout), false,
      1, 7 * 86400, CONF_INF_ZERO },
    { "c2s_max_connections", offsetof(struct xs_conf, c2s_max_connections),
      true, 1, 10000000, CONF_INF_MAX },
    { "c2s_out_soft_limit", offsetof(struct xs_conf, c2s_out_soft_limit),
      true, 4096, 1024 * CONF_MIB, CONF_INF_MAX },
    { "c2s_out_hard_limit", offsetof(struct xs_conf, c2s_out_hard_limit),
      true, 4096, 1024 * CONF_MIB, CONF_INF_NO },
    { "c2s_out_soft_seconds", offsetof(struct xs_conf, c2s_out_soft_seconds),
      false, 1, 3600, CONF_INF_NO },
    { "auth_failure_delay_ms",
      offsetof(struct xs_conf, auth_failure_delay_ms), false, 0, 60000,
      CONF_INF_NO },
    { "worker_threads", offsetof(struct xs_conf, worker_threads), false, 1,
      64, CONF_INF_NO },
    { "worker_queue_max", offsetof(struct xs_conf, worker_queue_max), true,
      1, 1000000, CONF_INF_NO },
    { "s2s_queue_max", offsetof(struct xs_conf, s2s_queue_max), true, 1,
      1000000, CONF_INF_NO },
    { "s2s_idle_timeout", offsetof(struct xs_conf, s2s_idle_timeout), false,
      1, 7 * 86400, CONF_INF_ZERO },
    { "s2s_handshake_timeout",
      offsetof(struct xs_conf, s2s_handshake_timeout), false, 1, 3600,
      CONF_INF_NO },
    { "s2s_max_stanza_size", offsetof(struct xs_conf, s2s_max_stanza_size),
      true, 1024, 64 * CONF_MIB, CONF_INF_NO },
    { "s2s_out_soft_limit", offsetof(struct xs_conf, s2s_out_soft_limit),
      true, 4096, 1024 * CONF_MIB, CONF_INF_MAX },
    { "s2s_out_hard_limit", offsetof(struct xs_conf, s2s_out_hard_limit),
      true, 4096, 1024 * CONF_MIB, CONF_INF_NO },
    { "s2s_out_soft_seconds", offsetof(struct xs_conf, s2s_out_soft_seconds),
      false, 1, 3600, CONF_INF_NO },
};

static xs_rc
conf_int_opt(struct conf_ctx *x, const struct conf_int_opt *o,
    const struct xs_conf_node *n)
{
    char *field = (char *)x->c + o->off;
    long long v;
    size_t sz;

    if (o->inf != CONF_INF_NO && conf_is_infinity(n)) {
        sz = o->inf == CONF_INF_MAX ? SIZE_MAX : 0;
        if (o->is_size)
            memcpy(field, &sz, sizeof(sz));
        else
            memset(field, 0, sizeof(int));
        return XS_OK;
    }
    if (xs_conf_node_int(n, o->min, o->max, &v) != XS_OK) {
        return conf_err(x, n, o->key, "must be an integer %lld..%lld%s",
            o->min, o->max, o->inf != CONF_INF_NO ? " or infinity" : "");
    }
    if (o->is_size) {
        sz = (size_t)v;
        memcpy(field, &sz, sizeof(sz));
    } else {
        int iv = (int)v;

        memcpy(field, &iv, sizeof(iv));
    }
    return XS_OK;
}

/* ---- listeners ---- */

struct conf_addr {
    int      family;
    uint8_t  bytes[16];
};

static bool
conf_addr_parse(const char *s, struct conf_addr *a)
{
    memset(a, 0, sizeof(*a));
    if (inet_pton(AF_INET, s, a->bytes) == 1) {
        a->family = AF_INET;
        return true;
    }
    if (inet_pton(AF_INET6, s, a->bytes) == 1) {
        a->family = AF_INET6;
        return true;
    }
    return false;
}

static bool
conf_addr_is_any(const struct conf_addr *a)
{
    static const uint8_t zero[16];

    return memcmp(a->bytes, zero, a->family == AF_INET ? 4 : 16) == 0;
}

static xs_rc
conf_listen_module(struct conf_ctx *x, const struct xs_conf_node *n,
    const char *key, enum xs_listen_module *out)
{
    static const struct {
        const char *name;
        enum xs_listen_module module;
    } map[] = {
        { "c2s", XS_LISTEN_C2S }, { "ejabberd_c2s", XS_LISTEN_C2S },
        { "s2s", XS_LISTEN_S2S }, { "ejabberd_s2s_in", XS_LISTEN_S2S },
        { "admin_http", XS_LISTEN_ADMIN_HTTP },
    };
    const char *s = xs_conf_node_str(n);

    for (size_t i = 0; s != NULL && i < XS_ARRAY_LEN(map); i++) {
        if (strcmp(s, map[i].name) == 0) {
            *out = map[i].module;
            return XS_OK;
        }
    }
    return conf_err(x, n, key, "must be c2s, s2s or admin_http "
        "(ejabberd_c2s and ejabberd_s2s_in are accepted too)");
}

/* RFC 6750 b64token characters: the token goes in an HTTP header. */
static bool
conf_token_is_valid(const char *t)
{
    size_t len = strlen(t);

    if (len < 16 || len > 512)
        return false;
    for (const char *p = t; *p != '\0'; p++) {
        if (!(isalnum((unsigned char)*p) || strchr("-._~+/=", *p) != NULL))
            return false;
    }
    return true;
}

static const char *const conf_listen_keys[] = {
    "port", "ip", "module", "starttls", "starttls_required", "tls",
    "max_stanza_size", "shaper", "access", "token", NULL,
};

static xs_rc
conf_listener(struct conf_ctx *x, const struct xs_conf_node *m,
    const char *path, struct xs_listen_conf *l)
{
    const struct xs_conf_node *v;
    const struct xs_acl_conf *a = &x->c->acl;
    struct conf_addr addr;
    long long n;
    char *key = NULL;
    xs_rc rc;

    l->ip = xs_strdup("127.0.0.1");
    l->has_starttls = true;
    l->is_starttls_required = true;
    l->max_stanza_size = 262144;
    if ((rc = conf_map(x, m, path)) != XS_OK)
        return rc;
    for (size_t i = 0; i < m->nitems; i++) {
        size_t k;

        for (k = 0; conf_listen_keys[k] != NULL; k++) {
            if (strcmp(m->items[i]->key, conf_listen_keys[k]) == 0)
                break;
        }
        if (conf_listen_keys[k] == NULL) {
            key = path_key(path, m->items[i]->key);
            rc = conf_err_key(x, m->items[i], key, "unknown key");
            goto done;
        }
    }

#define KEY(name) (xs_free(key), key = path_key(path, (name)))
    if ((v = xs_conf_node_get(m, "module")) == NULL) {
        KEY("module");
        rc = conf_err(x, m, key, "missing (c2s, s2s or admin_http)");
        goto done;
    }
    KEY("module");
    if ((rc = conf_listen_module(x, v, key, &l->module)) != XS_OK)
        goto done;

    KEY("port");
    if ((v = xs_conf_node_get(m, "port")) == NULL) {
        rc = conf_err(x, m, key, "missing");
        goto done;
    }
    if (xs_conf_node_int(v, 1, 65535, &n) != XS_OK) {
        rc = conf_err(x, v, key, "must be 1..65535");
        goto done;
    }
    l->port = (int)n;

    KEY("ip");
    if ((v = xs_conf_node_get(m, "ip")) != NULL) {
        if ((rc = conf_str(x, v, key, false, &l->ip)) != XS_OK)
            goto done;
        if (!conf_addr_parse(l->ip, &addr)) {
            rc = conf_err(x, v, key, "'%s' is not an IPv4 or IPv6 address",
                l->ip);
            goto done;
        }
    }

    KEY("tls");
    if ((v = xs_conf_node_get(m, "tls")) != NULL
        && (rc = conf_bool(x, v, key, &l->is_tls)) != XS_OK)
        goto done;

    if (l->module == XS_LISTEN_ADMIN_HTTP) {
        /* HTTP has no STARTTLS: the admin API is TLS (tls: true) or plain
         * on a loopback or otherwise protected address. */
        l->has_starttls = false;
        l->is_starttls_required = false;
        if ((v = xs_conf_node_get(m, "starttls")) != NULL
            || (v = xs_conf_node_get(m, "starttls_required")) != NULL) {
            KEY(v->key);
            rc = conf_err(x, v, key, "not valid for admin_http "
                "(use tls: true)");
            goto done;
        }
    } else {
        const struct xs_conf_node *req;

        KEY("starttls");
        if ((v = xs_conf_node_get(m, "starttls")) != NULL
            && (rc = conf_bool(x, v, key, &l->has_starttls)) != XS_OK)
            goto done;
        KEY("starttls_required");
        req = xs_conf_node_get(m, "starttls_required");
        if (req != NULL && (rc = conf_bool(x, req, key,
            &l->is_starttls_required)) != XS_OK)
            goto done;
        /* `starttls: false` alone means plain text is accepted. */
        if (!l->has_starttls && req == NULL)
            l->is_starttls_required = false;
        if (!l->has_starttls && l->is_starttls_required && !l->is_tls) {
            rc = conf_err(x, req, key, "needs starttls: true");
            goto done;
        }
    }

    KEY("max_stanza_size");
    if ((v = xs_conf_node_get(m, "max_stanza_size")) != NULL) {
        if (xs_conf_node_int(v, 1024, (long long)(64 * CONF_MIB), &n)
            != XS_OK) {
            rc = conf_err(x, v, key, "must be an integer 1024..%llu",
                64 * CONF_MIB);
            goto done;
        }
        l->max_stanza_size = (size_t)n;
    }

    KEY("shaper");
    if ((v = xs_conf_node_get(m, "shaper")) != NULL) {
        if ((rc = conf_str(x, v, key, false, &l->shaper)) != XS_OK)
            goto done;
        if (strcmp(l->shaper, "none") == 0) {
            xs_free(l->shaper);
            l->shaper = NULL;
        } else if (xs_shaper_lookup(a, l->shaper) == NULL
            && !xs_shaper_rule_is_defined(a, l->shaper)) {
            rc = conf_err(x, v, key, "unknown shaper '%s' (define it under "
                "shaper: or shaper_rules:)", l->shaper);
            goto done;
        }
    }

    KEY("access");
    if ((v = xs_conf_node_get(m, "access")) != NULL) {
        if ((rc = conf_str(x, v, key, false, &l->access)) != XS_OK)
            goto done;
        if (!xs_access_rule_is_defined(a, l->access)) {
            rc = conf_err(x, v, key, "unknown access rule '%s' (define it "
                "under access_rules:, or use all or none)", l->access);
            goto done;
        }
    }

    KEY("token");
    v = xs_conf_node_get(m, "token");
    if (l->module == XS_LISTEN_ADMIN_HTTP) {
        if (v == NULL) {
            rc = conf_err(x, m, key, "missing (admin_http needs a bearer "
                "token)");
            goto done;
        }
        if ((rc = conf_str(x, v, key, false, &l->token)) != XS_OK)
            goto done;
        if (!conf_token_is_valid(l->token)) {
            rc = conf_err(x, v, key, "must be 16..512 characters of "
                "A-Z a-z 0-9 - . _ ~ + / =");
            goto done;
        }
        /* deploy/xmppd.example.yml ships a placeholder: never serve it. */
        if (strstr(l->token, "CHANGE-ME") != NULL) {
            rc = conf_err(x, v, key, "still the example placeholder: "
                "generate one (openssl rand -hex 32)");
            goto done;
        }
    } else if (v != NULL) {
        rc = conf_err(x, v, key, "only valid for module admin_http");
        goto done;
    }
#undef KEY
    rc = XS_OK;
done:
    xs_free(key);
    return rc;
}

static xs_rc
conf_listen(struct conf_ctx *x, const struct xs_conf_node *n)
{
    struct xs_conf *c = x->c;
    xs_rc rc;

    if ((rc = conf_list(x, n, "listen")) != XS_OK)
        return rc;
    c->listen = xs_calloc(n->nitems, sizeof(*c->listen));
    for (size_t i = 0; i < n->nitems; i++) {
        struct xs_listen_conf *l = &c->listen[c->nlisten++];
        struct conf_addr ai, aj;
        char *path = path_idx("listen", i);

        rc = conf_listener(x, n->items[i], path, l);
        if (rc == XS_OK && (l->is_tls || (l->is_starttls_required
            && l->module != XS_LISTEN_ADMIN_HTTP)) && c->ncertfiles == 0)
            rc = conf_err(x, n->items[i], path, "%s needs certfiles",
                l->is_tls ? "tls: true" : "starttls_required: true");
        /* Two listeners on one address (or one on the wildcard of the
         * same family) cannot both bind. */
        conf_addr_parse(l->ip, &ai);
        for (size_t j = 0; rc == XS_OK && j + 1 < c->nlisten; j++) {
            const struct xs_listen_conf *o = &c->listen[j];

            conf_addr_parse(o->ip, &aj);
            if (o->port != l->port || ai.family != aj.family)
                continue;
            if (memcmp(ai.bytes, aj.bytes, sizeof(ai.bytes)) == 0
                || conf_addr_is_any(&ai) || conf_addr_is_any(&aj))
                rc = conf_err(x, n->items[i], path, "%s port %d is already "
                    "used by listen[%zu] (%s)", l->ip, l->port, j, o->ip);
        }
        xs_free(path);
        if (rc != XS_OK)
            return rc;
    }
    return XS_OK;
}

/* ---- modules ---- */

static xs_rc
conf_modules(struct conf_ctx *x, struct xs_conf_node *n)
{
    xs_rc rc;

    if ((rc = conf_map(x, n, "modules")) != XS_OK)
        return rc;
    for (size_t i = 0; i < n->nitems; i++) {
        struct xs_conf_node *m = n->items[i];
        char *key = path_key("modules", m->key);
        size_t k;

        for (k = 0; k < XS_ARRAY_LEN(conf_known_modules); k++) {
            if (strcmp(m->key, conf_known_modules[k]) == 0)
                break;
        }
        if (k == XS_ARRAY_LEN(conf_known_modules)) {
            rc = conf_err_key(x, m, key, "unknown module");
        } else if (xs_conf_node_is_null(m)) {
            /* `mod_ping:` or `mod_ping: ~` means default options. */
            xs_free(m->value);
            m->value = NULL;
            m->kind = XS_CONF_MAP;
            m->is_plain = false;
        } else if (m->kind != XS_CONF_MAP) {
            rc = conf_err(x, m, key, "must be a map of options ({} for "
                "the defaults)");
        }
        xs_free(key);
        if (rc != XS_OK)
            return rc;
    }
    return XS_OK;
}

const struct xs_conf_node *
xs_conf_module_opts(const struct xs_conf *c, const char *module)
{
    return xs_conf_node_get(c->modules, module);
}

/* ---- the whole file ---- */

static void
conf_defaults(struct xs_conf *c)
{
    c->loglevel = XS_LOG_INFO;
    c->sql_pool_size = 4;
    c->sql_queue_max = 1024;
    c->max_stanza_size_preauth = 16384;
    c->max_xml_depth = 32;
    c->max_xml_attrs = 64;
    c->c2s_handshake_timeout = 30;
    c->c2s_idle_timeout = 600;
    c->c2s_max_connections = 10000;
    c->c2s_out_soft_limit = 1 * CONF_MIB;
    c->c2s_out_hard_limit = 8 * CONF_MIB;
    c->c2s_out_soft_seconds = 30;
    c->auth_failure_delay_ms = 1000;
    c->worker_threads = 2;
    c->worker_queue_max = 1024;
    c->s2s_use_starttls = XS_S2S_TLS_REQUIRED;
    c->s2s_dialback = true;
    c->s2s_bidi = true;
    c->s2s_queue_max = 1000;
    c->s2s_idle_timeout = 600;
    c->s2s_handshake_timeout = 30;
    c->s2s_max_stanza_size = 65536;
    c->s2s_out_soft_limit = 1 * CONF_MIB;
    c->s2s_out_hard_limit = 8 * CONF_MIB;
    c->s2s_out_soft_seconds = 30;
}

/* ---- federation (s2s) ---- */

static void conf_free_secret(char *s);

static xs_rc
conf_s2s_use_starttls(struct conf_ctx *x, const struct xs_conf_node *n)
{
    const char *s = xs_conf_node_str(n);
    bool b;

    if (s != NULL && strcmp(s, "required") == 0) {
        x->c->s2s_use_starttls = XS_S2S_TLS_REQUIRED;
    } else if (s != NULL && strcmp(s, "optional") == 0) {
        x->c->s2s_use_starttls = XS_S2S_TLS_OPTIONAL;
    } else if (xs_conf_node_bool(n, &b) == XS_OK && !b) {
        x->c->s2s_use_starttls = XS_S2S_TLS_OFF;
    } else if (xs_conf_node_bool(n, &b) == XS_OK) {
        x->c->s2s_use_starttls = XS_S2S_TLS_OPTIONAL;  /* ejabberd's true */
    } else {
        return conf_err(x, n, "s2s_use_starttls",
            "must be required, optional or false");
    }
    return XS_OK;
}

/* "host:port" or "[v6]:port" into host and port (1..65535); a missing port
 * is def_port (0: required). */
static bool
conf_hostport(const char *s, int def_port, char **host, int *port)
{
    const char *colon, *end;
    long p = def_port;

    if (s[0] == '[') {
        if ((end = strchr(s, ']')) == NULL || end == s + 1)
            return false;
        colon = end[1] == ':' ? end + 1 : NULL;
        if (end[1] != '\0' && colon == NULL)
            return false;
        s++;
    } else {
        colon = strrchr(s, ':');
        if (colon != NULL && strchr(s, ':') != colon)
            return false;       /* a bare IPv6 address needs brackets */
        end = colon != NULL ? colon : s + strlen(s);
    }
    if (end == s)
        return false;
    if (colon != NULL) {
        char *e;

        errno = 0;
        p = strtol(colon + 1, &e, 10);
        if (errno != 0 || *e != '\0' || e == colon + 1)
            return false;
    }
    if (p < 1 || p > 65535)
        return false;
    *host = xs_strndup(s, (size_t)(end - s));
    *port = (int)p;
    return true;
}

static xs_rc
conf_s2s_routes(struct conf_ctx *x, const struct xs_conf_node *n)
{
    struct xs_conf *c = x->c;
    xs_rc rc;

    if ((rc = conf_map(x, n, "s2s_routes")) != XS_OK)
        return rc;
    c->s2s_routes = xs_calloc(n->nitems + 1, sizeof(*c->s2s_routes));
    for (size_t i = 0; i < n->nitems; i++) {
        const struct xs_conf_node *v = n->items[i];
        struct xs_s2s_route_conf *r = &c->s2s_routes[c->ns2s_routes];
        char *key = xs_asprintf("s2s_routes.%s", v->key);
        const char *hp = xs_conf_node_str(v);

        r->domain = xs_strdup(v->key);
        for (char *p = r->domain; *p != '\0'; p++)
            *p = (char)tolower((unsigned char)*p);
        c->ns2s_routes++;
        if (!conf_domain_is_valid(r->domain))
            rc = conf_err_key(x, v, key, "not a valid domain name");
        else if (hp == NULL || !conf_hostport(hp, 5269, &r->host, &r->port))
            rc = conf_err(x, v, key, "must be \"host:port\" (IPv6 as "
                "\"[addr]:port\")");
        xs_free(key);
        if (rc != XS_OK)
            return rc;
    }
    return XS_OK;
}

static xs_rc
conf_dns_nameservers(struct conf_ctx *x, const struct xs_conf_node *n)
{
    struct xs_conf *c = x->c;
    xs_rc rc;

    if ((rc = conf_list(x, n, "dns_nameservers")) != XS_OK)
        return rc;
    c->dns_nameservers = xs_calloc(n->nitems + 1, sizeof(char *));
    for (size_t i = 0; i < n->nitems; i++) {
        char *key = path_idx("dns_nameservers", i), *s = NULL, *h = NULL;
        unsigned char addr[16];
        int port;

        rc = conf_str(x, n->items[i], key, false, &s);
        if (rc == XS_OK && (!conf_hostport(s, 53, &h, &port) ||
            (inet_pton(AF_INET, h, addr) != 1 &&
             inet_pton(AF_INET6, h, addr) != 1)))
            rc = conf_err(x, n->items[i], key, "must be an IP address with "
                "an optional port (\"127.0.0.1:5353\", \"[::1]:53\")");
        xs_free(h);
        xs_free(key);
        if (rc != XS_OK) {
            xs_free(s);
            return rc;
        }
        c->dns_nameservers[c->ndns_nameservers++] = s;
    }
    return XS_OK;
}

/* The s2s keys that are not plain strings or integers; XS_ENOTFOUND: not
 * one of them. */
static xs_rc
conf_s2s_opt(struct conf_ctx *x, const struct xs_conf_node *v,
    const char *key)
{
    struct xs_conf *c = x->c;
    char *p = NULL;
    xs_rc rc;

    if (strcmp(key, "s2s_use_starttls") == 0)
        return conf_s2s_use_starttls(x, v);
    if (strcmp(key, "s2s_dialback") == 0)
        return conf_bool(x, v, key, &c->s2s_dialback);
    if (strcmp(key, "s2s_bidi") == 0)
        return conf_bool(x, v, key, &c->s2s_bidi);
    if (strcmp(key, "s2s_routes") == 0)
        return conf_s2s_routes(x, v);
    if (strcmp(key, "dns_nameservers") == 0)
        return conf_dns_nameservers(x, v);
    if (strcmp(key, "s2s_dialback_secret") == 0) {
        rc = conf_str(x, v, key, false, &p);
        if (rc == XS_OK && strlen(p) < 16)
            rc = conf_err(x, v, key, "must be at least 16 characters");
        if (rc != XS_OK) {
            conf_free_secret(p);
            return rc;
        }
        conf_free_secret(c->s2s_dialback_secret);
        c->s2s_dialback_secret = p;
        return XS_OK;
    }
    if (strcmp(key, "s2s_cafile") == 0) {
        if ((rc = conf_str(x, v, key, false, &p)) != XS_OK)
            return rc;
        xs_free(c->s2s_cafile);
        c->s2s_cafile = conf_abspath(x, p);
        xs_free(p);
        return XS_OK;
    }
    return XS_ENOTFOUND;
}

static void
conf_s2s_free(struct xs_conf *c)
{
    xs_free(c->s2s_cafile);
    conf_free_secret(c->s2s_dialback_secret);
    for (size_t i = 0; i < c->ns2s_routes; i++) {
        xs_free(c->s2s_routes[i].domain);
        xs_free(c->s2s_routes[i].host);
    }
    xs_free(c->s2s_routes);
    for (size_t i = 0; i < c->ndns_nameservers; i++)
        xs_free(c->dns_nameservers[i]);
    xs_free(c->dns_nameservers);
}

static xs_rc
conf_check_sql(struct conf_ctx *x, const struct xs_conf_node *root)
{
    static const char *const parts[] = {
        "sql_server", "sql_port", "sql_database", "sql_username",
        "sql_password",
    };
    const struct xs_conf_node *dsn = xs_conf_node_get(root, "sql_dsn");

    if (dsn == NULL)
        return XS_OK;
    for (size_t i = 0; i < XS_ARRAY_LEN(parts); i++) {
        if (xs_conf_node_get(root, parts[i]) != NULL)
            return conf_err(x, dsn, "sql_dsn", "cannot be combined with %s "
                "(put everything in the DSN)", parts[i]);
    }
    return XS_OK;
}

static xs_rc
conf_root(struct conf_ctx *x, struct xs_conf_node *root)
{
    static const char *const deferred[] = {
        "hosts", "listen", "acl", "access_rules", "shaper", "shaper_rules",
        "modules",
    };
    struct xs_conf *c = x->c;
    const struct xs_conf_node *n;
    char *err = NULL;
    xs_rc rc = XS_OK;

    if (root == NULL)
        return conf_err(x, NULL, "hosts", "missing (the file is empty)");
    if (root->kind != XS_CONF_MAP)
        return conf_err(x, root, "(top)", "must be a map of options");

    /* Pass 1: every key is known; simple values now, sections later. */
    for (size_t i = 0; i < root->nitems && rc == XS_OK; i++) {
        const struct xs_conf_node *v = root->items[i];
        const char *key = v->key;
        bool is_known = false;

        for (size_t k = 0; k < XS_ARRAY_LEN(deferred); k++)
            is_known = is_known || strcmp(key, deferred[k]) == 0;
        for (size_t k = 0; !is_known && k < XS_ARRAY_LEN(conf_str_opts);
             k++) {
            const struct conf_str_opt *o = &conf_str_opts[k];

            if (strcmp(key, o->key) == 0) {
                is_known = true;
                rc = conf_str(x, v, key, o->is_empty_ok,
                    (char **)(void *)((char *)c + o->off));
            }
        }
        for (size_t k = 0; !is_known && k < XS_ARRAY_LEN(conf_int_opts);
             k++) {
            if (strcmp(key, conf_int_opts[k].key) == 0) {
                is_known = true;
                rc = conf_int_opt(x, &conf_int_opts[k], v);
            }
        }
        if (is_known)
            continue;
        if (strcmp(key, "loglevel") == 0)
            rc = conf_loglevel(x, v);
        else if (strcmp(key, "certfiles") == 0)
            rc = conf_certfiles(x, v);
        else if (strcmp(key, "state_dir") == 0)
            rc = conf_state_dir(x, v);
        else if (strcmp(key, "sql_type") == 0)
            rc = conf_sql_type(x, v);
        else if ((rc = conf_s2s_opt(x, v, key)) == XS_ENOTFOUND)
            rc = conf_err_key(x, v, key, "unknown key");
    }
    if (rc != XS_OK)
        return rc;
    if ((rc = conf_check_sql(x, root)) != XS_OK)
        return rc;

    if ((n = xs_conf_node_get(root, "hosts")) == NULL)
        return conf_err(x, root, "hosts", "missing (at least one host is "
            "required)");
    if ((rc = conf_hosts(x, n)) != XS_OK)
        return rc;

    rc = xs_acl_conf_parse(&c->acl, x->file, c->hosts, c->nhosts,
        xs_conf_node_get(root, "acl"), xs_conf_node_get(root, "access_rules"),
        xs_conf_node_get(root, "shaper"),
        xs_conf_node_get(root, "shaper_rules"), &err);
    if (rc != XS_OK) {
        xs_free(x->err);
        x->err = err;
        return rc;
    }

    if ((n = xs_conf_node_get(root, "listen")) != NULL
        && (rc = conf_listen(x, n)) != XS_OK)
        return rc;

    if (c->s2s_access != NULL
        && !xs_access_rule_is_defined(&c->acl, c->s2s_access))
        return conf_err(x, xs_conf_node_get(root, "s2s_access"),
            "s2s_access", "unknown access rule '%s'", c->s2s_access);

    if (c->c2s_out_soft_limit != SIZE_MAX
        && c->c2s_out_soft_limit > c->c2s_out_hard_limit) {
        n = xs_conf_node_get(root, "c2s_out_soft_limit");
        return conf_err(x, n != NULL ? n
            : xs_conf_node_get(root, "c2s_out_hard_limit"),
            "c2s_out_soft_limit", "must not exceed c2s_out_hard_limit "
            "(%zu)", c->c2s_out_hard_limit);
    }

    /* Keep the modules subtree; the rest of the tree is dropped. */
    for (size_t i = 0; i < root->nitems; i++) {
        if (strcmp(root->items[i]->key, "modules") != 0)
            continue;
        if ((rc = conf_modules(x, root->items[i])) != XS_OK)
            return rc;
        c->modules = root->items[i];
        root->items[i] = node_new(XS_CONF_MAP, 0);   /* placeholder */
        root->items[i]->key = xs_strdup("modules");
    }
    if (c->modules == NULL)
        c->modules = node_new(XS_CONF_MAP, 0);
    return XS_OK;
}

/* The config file's folder, absolute (relative paths are based on it). */
static char *
conf_base_dir(const char *name)
{
    const char *slash = strrchr(name, '/');
    char cwd[PATH_MAX];
    char *dir;

    if (slash == name)
        return xs_strdup("/");
    dir = slash != NULL ? xs_strndup(name, (size_t)(slash - name))
                        : xs_strdup(".");
    if (dir[0] == '/')
        return dir;
    if (getcwd(cwd, sizeof(cwd)) == NULL) {
        /* Cannot know better: keep it relative to the working folder. */
        return dir;
    }
    if (strcmp(dir, ".") == 0) {
        xs_free(dir);
        return xs_strdup(cwd);
    }
    {
        char *abs = xs_asprintf("%s/%s", cwd, dir);

        xs_free(dir);
        return abs;
    }
}

char *
xs_conf_dir(const struct xs_conf *c)
{
    return conf_base_dir(c != NULL && c->path != NULL ? c->path : "");
}

char *
xs_conf_abspath(const struct xs_conf *c, const char *p)
{
    char *dir = xs_conf_dir(c);
    char *abs = conf_path_in(dir, p);

    xs_free(dir);
    return abs;
}

xs_rc
xs_conf_load_string(const char *yaml, const char *name, struct xs_conf **out,
    char **errmsg)
{
    struct conf_ctx x = { .file = name, .err = NULL };
    struct xs_conf_node *root = NULL;
    struct xs_conf *c;
    xs_rc rc;

    *out = NULL;
    *errmsg = NULL;
    c = xs_calloc(1, sizeof(*c));
    c->path = xs_strdup(name);
    xs_acl_conf_init(&c->acl);
    conf_defaults(c);
    x.c = c;
    x.base_dir = conf_base_dir(name);

    rc = yaml_parse_tree(yaml, strlen(yaml), name, &root, &x.err);
    if (rc != XS_OK)
        goto fail;
    if ((rc = conf_root(&x, root)) != XS_OK)
        goto fail;
    if (c->state_dir == NULL)
        c->state_dir = xs_strdup(x.base_dir);

    node_free(root);
    xs_free(x.base_dir);
    *out = c;
    return XS_OK;

fail:
    node_free(root);
    xs_free(x.base_dir);
    xs_conf_free(c);
    *errmsg = x.err != NULL ? x.err : xs_asprintf("%s: invalid configuration",
        name);
    return rc;
}

xs_rc
xs_conf_load(const char *path, struct xs_conf **out, char **errmsg)
{
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    FILE *f;
    xs_rc rc;

    *out = NULL;
    *errmsg = NULL;
    if ((f = fopen(path, "rb")) == NULL) {
        *errmsg = xs_asprintf("%s: cannot open: %s", path, strerror(errno));
        return XS_EIO;
    }
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        *errmsg = xs_asprintf("%s: not a regular file", path);
        fclose(f);
        return XS_EIO;
    }
    if ((uintmax_t)st.st_size > CONF_FILE_MAX) {
        *errmsg = xs_asprintf("%s: larger than %u bytes", path,
            CONF_FILE_MAX);
        fclose(f);
        return XS_ELIMIT;
    }
    text = xs_malloc((size_t)st.st_size + 1);
    len = fread(text, 1, (size_t)st.st_size, f);
    if (ferror(f)) {
        *errmsg = xs_asprintf("%s: read error", path);
        fclose(f);
        xs_free(text);
        return XS_EIO;
    }
    fclose(f);
    text[len] = '\0';
    if (memchr(text, '\0', len) != NULL) {
        *errmsg = xs_asprintf("%s: contains a NUL byte (not a text file?)",
            path);
        xs_free(text);
        return XS_EINVAL;
    }
    rc = xs_conf_load_string(text, path, out, errmsg);
    sodium_memzero(text, len);      /* it holds sql_password and tokens */
    xs_free(text);
    return rc;
}

static void
conf_free_secret(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        xs_free(s);
    }
}

void
xs_conf_free(struct xs_conf *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->nhosts; i++)
        xs_free(c->hosts[i]);
    xs_free(c->hosts);
    for (size_t i = 0; i < c->ncertfiles; i++)
        xs_free(c->certfiles[i]);
    xs_free(c->certfiles);
    xs_free(c->state_dir);
    for (size_t i = 0; i < c->nlisten; i++) {
        xs_free(c->listen[i].ip);
        xs_free(c->listen[i].shaper);
        xs_free(c->listen[i].access);
        conf_free_secret(c->listen[i].token);
    }
    xs_free(c->listen);
    xs_free(c->sql_server);
    xs_free(c->sql_database);
    xs_free(c->sql_username);
    conf_free_secret(c->sql_password);
    conf_free_secret(c->sql_dsn);   /* may carry a password */
    xs_acl_conf_fini(&c->acl);
    xs_free(c->s2s_access);
    conf_s2s_free(c);
    node_free(c->modules);
    xs_free(c->path);
    xs_free(c);
}

bool
xs_conf_is_local_host(const struct xs_conf *c, const char *domain)
{
    if (domain == NULL)
        return false;
    for (size_t i = 0; i < c->nhosts; i++) {
        if (strcasecmp(c->hosts[i], domain) == 0)
            return true;
    }
    return false;
}

/* Append " key='value'" with libpq's quoting: \ and ' get a backslash. */
static char *
conninfo_add(char *acc, const char *key, const char *value)
{
    size_t vlen = strlen(value), n = 0;
    char *q = xs_malloc(2 * vlen + 1), *res;

    for (size_t i = 0; i < vlen; i++) {
        if (value[i] == '\\' || value[i] == '\'')
            q[n++] = '\\';
        q[n++] = value[i];
    }
    q[n] = '\0';
    res = xs_asprintf("%s%s%s='%s'", acc != NULL ? acc : "",
        acc != NULL ? " " : "", key, q);
    sodium_memzero(q, n);
    xs_free(q);
    conf_free_secret(acc);
    return res;
}

char *
xs_conf_pg_conninfo(const struct xs_conf *c)
{
    char *ci = NULL, *pg;

    if (c->sql_dsn != NULL)
        return xs_strdup(c->sql_dsn);
    if (c->sql_server == NULL && c->sql_port == 0 && c->sql_database == NULL
        && c->sql_username == NULL && c->sql_password == NULL) {
        /* The embedded default: the private cluster under state_dir. */
        pg = xs_asprintf("%s/pg", c->state_dir);
        ci = conninfo_add(ci, "host", pg);
        xs_free(pg);
        ci = conninfo_add(ci, "dbname", "xmppd");
        return conninfo_add(ci, "user", "xmppd");
    }
    if (c->sql_server != NULL)
        ci = conninfo_add(ci, "host", c->sql_server);
    if (c->sql_port != 0) {
        char port[16];
        int n = snprintf(port, sizeof(port), "%d", c->sql_port);

        xs_assert(n > 0 && (size_t)n < sizeof(port));
        ci = conninfo_add(ci, "port", port);
    }
    ci = conninfo_add(ci, "dbname",
        c->sql_database != NULL ? c->sql_database : "xmppd");
    ci = conninfo_add(ci, "user",
        c->sql_username != NULL ? c->sql_username : "xmppd");
    if (c->sql_password != NULL)
        ci = conninfo_add(ci, "password", c->sql_password);
    return ci;
}
