/*
 * acl.c: ejabberd-style ACLs, access rules, shapers and shaper rules.
 *
 * Parsing turns the YAML tree into flat arrays; inline ACL specs in rules
 * become anonymous ACLs, so evaluation is one code path: a rule is a list
 * of (result, conditions) entries, the first entry whose conditions all
 * match wins (ejabberd's acl:match_rules), an ACL matches when any of its
 * items does (ejabberd's union of specs).
 */
#include "xmppd/core/acl.h"

#include "xmppd/core/conf.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum acl_pat_kind {
    ACL_PAT_ANY,                /* no condition on this part */
    ACL_PAT_LOCAL,              /* server: one of our hosts */
    ACL_PAT_EXACT,
    ACL_PAT_REGEXP,             /* POSIX extended, unanchored (as ejabberd) */
    ACL_PAT_GLOB,               /* fnmatch, whole string */
};

struct acl_pat {
    enum acl_pat_kind kind;
    char    *text;              /* owned: name, regexp source or glob */
    regex_t  re;                /* compiled when kind == ACL_PAT_REGEXP */
};

struct acl_cidr {
    int      family;            /* AF_INET or AF_INET6 */
    uint8_t  addr[16];          /* network address, host bits cleared */
    unsigned prefix;
};

struct acl_item {
    bool     is_ip;
    struct acl_cidr cidr;
    struct acl_pat user;
    struct acl_pat server;
    struct acl_pat resource;
};

struct xs_acl {
    char    *name;              /* owned; NULL for an inline ACL */
    struct acl_item *items;     /* owned */
    size_t   nitems;
};

/* A condition refers to an ACL by index, or to a built-in.  -1 is "not
 * found" from acl_index(), so the built-ins stay clear of it. */
#define ACL_REF_ALL  (-2L)
#define ACL_REF_NONE (-3L)

struct rule_entry {
    long     result;            /* enum xs_access, or a shaper index
                                   (-1: the built-in shaper "none") */
    long    *conds;             /* owned: all must match */
    size_t   nconds;
};

struct xs_access_rule {
    char    *name;              /* owned */
    struct rule_entry *entries; /* owned */
    size_t   nentries;
};

struct acl_ctx {
    struct xs_acl_conf *a;      /* borrowed */
    const char *file;           /* borrowed */
    char    *err;               /* owned until handed to the caller */
};

/* ---- errors and small helpers ---- */

static xs_rc acl_err(struct acl_ctx *x, const struct xs_conf_node *n,
    const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static xs_rc
acl_err(struct acl_ctx *x, const struct xs_conf_node *n, const char *key,
    const char *fmt, ...)
{
    va_list ap;
    char *why = NULL;

    if (x->err != NULL)
        return XS_EINVAL;       /* the first error is the one reported */
    va_start(ap, fmt);
    if (vasprintf(&why, fmt, ap) < 0)
        why = NULL;
    va_end(ap);
    x->err = xs_asprintf("%s:%d: %s: %s", x->file, n != NULL ? n->line : 0,
        key, why != NULL ? why : "invalid value");
    free(why);
    return XS_EINVAL;
}

static char *
acl_path(const char *parent, const char *key)
{
    return xs_asprintf("%s.%s", parent, key);
}

static char *
acl_path_idx(const char *parent, size_t i)
{
    return xs_asprintf("%s[%zu]", parent, i);
}

/* A non-empty scalar, or an error naming key. */
static xs_rc
acl_scalar(struct acl_ctx *x, const struct xs_conf_node *n, const char *key,
    const char **out)
{
    const char *s = xs_conf_node_str(n);

    *out = NULL;
    if (s == NULL)
        return acl_err(x, n, key, "must be a string");
    if (*s == '\0')
        return acl_err(x, n, key, "must not be empty");
    *out = s;
    return XS_OK;
}

static void
acl_pat_fini(struct acl_pat *p)
{
    if (p->kind == ACL_PAT_REGEXP)
        regfree(&p->re);
    xs_free(p->text);
    p->text = NULL;
    p->kind = ACL_PAT_ANY;
}

static xs_rc
acl_pat_set(struct acl_ctx *x, struct acl_pat *p, enum acl_pat_kind kind,
    const char *text, const struct xs_conf_node *n, const char *key)
{
    int e;

    if (kind == ACL_PAT_REGEXP) {
        e = regcomp(&p->re, text, REG_EXTENDED | REG_NOSUB);
        if (e != 0) {
            char why[256];

            regerror(e, &p->re, why, sizeof(why));
            return acl_err(x, n, key, "invalid regexp: %s", why);
        }
    }
    /* Exact users and servers compare case-insensitively at match time,
     * so the text is kept as written (resources are case-sensitive). */
    p->kind = kind;
    p->text = xs_strdup(text);
    return XS_OK;
}

static void
acl_item_fini(struct acl_item *it)
{
    acl_pat_fini(&it->user);
    acl_pat_fini(&it->server);
    acl_pat_fini(&it->resource);
}

static void
acl_fini(struct xs_acl *acl)
{
    for (size_t i = 0; i < acl->nitems; i++)
        acl_item_fini(&acl->items[i]);
    xs_free(acl->items);
    xs_free(acl->name);
}

static void
rule_fini(struct xs_access_rule *r)
{
    for (size_t i = 0; i < r->nentries; i++)
        xs_free(r->entries[i].conds);
    xs_free(r->entries);
    xs_free(r->name);
}

void
xs_acl_conf_init(struct xs_acl_conf *a)
{
    memset(a, 0, sizeof(*a));
}

void
xs_acl_conf_fini(struct xs_acl_conf *a)
{
    if (a == NULL)
        return;
    for (size_t i = 0; i < a->nhosts; i++)
        xs_free(a->hosts[i]);
    xs_free(a->hosts);
    for (size_t i = 0; i < a->nacls; i++)
        acl_fini(&a->acls[i]);
    xs_free(a->acls);
    for (size_t i = 0; i < a->naccess_rules; i++)
        rule_fini(&a->access_rules[i]);
    xs_free(a->access_rules);
    for (size_t i = 0; i < a->nshapers; i++)
        xs_free(a->shapers[i].name);
    xs_free(a->shapers);
    for (size_t i = 0; i < a->nshaper_rules; i++)
        rule_fini(&a->shaper_rules[i]);
    xs_free(a->shaper_rules);
    memset(a, 0, sizeof(*a));
}

/* ---- lookups ---- */

static long
acl_index(const struct xs_acl_conf *a, const char *name)
{
    for (size_t i = 0; i < a->nacls; i++) {
        if (a->acls[i].name != NULL && strcmp(a->acls[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

static const struct xs_access_rule *
rule_lookup(const struct xs_access_rule *rules, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++) {
        if (strcmp(rules[i].name, name) == 0)
            return &rules[i];
    }
    return NULL;
}

static long
shaper_index(const struct xs_acl_conf *a, const char *name)
{
    for (size_t i = 0; i < a->nshapers; i++) {
        if (strcmp(a->shapers[i].name, name) == 0)
            return (long)i;
    }
    return -1;
}

bool
xs_acl_is_defined(const struct xs_acl_conf *a, const char *acl_name)
{
    if (acl_name == NULL)
        return false;
    return strcmp(acl_name, "all") == 0 || strcmp(acl_name, "none") == 0
        || acl_index(a, acl_name) >= 0;
}

bool
xs_access_rule_is_defined(const struct xs_acl_conf *a, const char *rule)
{
    if (rule == NULL)
        return false;
    return strcmp(rule, "all") == 0 || strcmp(rule, "none") == 0
        || rule_lookup(a->access_rules, a->naccess_rules, rule) != NULL;
}

const struct xs_shaper *
xs_shaper_lookup(const struct xs_acl_conf *a, const char *name)
{
    long i;

    if (name == NULL || (i = shaper_index(a, name)) < 0)
        return NULL;
    return &a->shapers[i];
}

bool
xs_shaper_rule_is_defined(const struct xs_acl_conf *a, const char *name)
{
    return name != NULL
        && rule_lookup(a->shaper_rules, a->nshaper_rules, name) != NULL;
}

/* ---- parsing: ACL specs ---- */

static bool
acl_cidr_parse(const char *text, struct acl_cidr *out)
{
    char addr[INET6_ADDRSTRLEN + 1];
    const char *slash = strchr(text, '/');
    size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    unsigned max, prefix;

    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(addr))
        return false;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return false;
    }
    prefix = max;
    if (slash != NULL) {
        const char *p = slash + 1;

        if (*p == '\0' || strlen(p) > 3)
            return false;
        prefix = 0;
        for (; *p != '\0'; p++) {
            if (!isdigit((unsigned char)*p))
                return false;
            prefix = prefix * 10 + (unsigned)(*p - '0');
        }
        if (prefix > max)
            return false;
    }
    out->prefix = prefix;
    /* ejabberd accepts 10.1.2.3/8 and means 10.0.0.0/8: clear host bits. */
    for (unsigned bit = prefix; bit < max; bit++)
        out->addr[bit / 8] &= (uint8_t)~(0x80u >> (bit % 8));
    return true;
}

static struct acl_item *
acl_item_add(struct xs_acl *acl)
{
    struct acl_item *it;

    acl->items = xs_reallocarray(acl->items, acl->nitems + 1,
        sizeof(*acl->items));
    it = &acl->items[acl->nitems++];
    memset(it, 0, sizeof(*it));
    return it;
}

/* `user` entry: "alice@host", "alice" (any local host) or {alice: host}.
 * user_regexp / user_glob: "pattern" (local hosts) or {pattern: host}. */
static xs_rc
acl_parse_user_like(struct acl_ctx *x, struct xs_acl *acl,
    enum acl_pat_kind ukind, const struct xs_conf_node *v, const char *key)
{
    const char *s, *host;
    struct acl_item *it;
    char *path;
    xs_rc rc;

    if (v->kind == XS_CONF_MAP) {
        for (size_t i = 0; i < v->nitems; i++) {
            const struct xs_conf_node *h = v->items[i];

            path = acl_path(key, h->key);
            rc = acl_scalar(x, h, path, &host);
            if (rc == XS_OK && *h->key == '\0')
                rc = acl_err(x, h, path, "user must not be empty");
            if (rc == XS_OK) {
                it = acl_item_add(acl);
                rc = acl_pat_set(x, &it->user, ukind, h->key, h, path);
                if (rc == XS_OK)
                    rc = acl_pat_set(x, &it->server, ACL_PAT_EXACT, host, h,
                        path);
            }
            xs_free(path);
            if (rc != XS_OK)
                return rc;
        }
        return XS_OK;
    }
    if ((rc = acl_scalar(x, v, key, &s)) != XS_OK)
        return rc;
    it = acl_item_add(acl);
    if (ukind == ACL_PAT_EXACT && strchr(s, '@') != NULL) {
        const char *at = strchr(s, '@');
        char *user = xs_strndup(s, (size_t)(at - s));

        if (*user == '\0' || at[1] == '\0' || strchr(at + 1, '@') != NULL
            || strchr(s, '/') != NULL) {
            xs_free(user);
            return acl_err(x, v, key, "'%s' is not user@host or user", s);
        }
        rc = acl_pat_set(x, &it->user, ACL_PAT_EXACT, user, v, key);
        xs_free(user);
        if (rc == XS_OK)
            rc = acl_pat_set(x, &it->server, ACL_PAT_EXACT, at + 1, v, key);
        return rc;
    }
    if (ukind == ACL_PAT_EXACT && strchr(s, '/') != NULL)
        return acl_err(x, v, key, "'%s' is not user@host or user", s);
    it->server.kind = ACL_PAT_LOCAL;
    return acl_pat_set(x, &it->user, ukind, s, v, key);
}

/* node_regexp / node_glob: {user_pattern: server_pattern}. */
static xs_rc
acl_parse_node(struct acl_ctx *x, struct xs_acl *acl, enum acl_pat_kind kind,
    const struct xs_conf_node *v, const char *key)
{
    const char *spat;
    struct acl_item *it;
    char *path;
    xs_rc rc = XS_OK;

    if (v->kind != XS_CONF_MAP || v->nitems == 0)
        return acl_err(x, v, key,
            "must be a map {user_pattern: server_pattern}");
    for (size_t i = 0; i < v->nitems && rc == XS_OK; i++) {
        const struct xs_conf_node *h = v->items[i];

        path = acl_path(key, h->key);
        rc = acl_scalar(x, h, path, &spat);
        if (rc == XS_OK) {
            it = acl_item_add(acl);
            rc = acl_pat_set(x, &it->user, kind, h->key, h, path);
            if (rc == XS_OK)
                rc = acl_pat_set(x, &it->server, kind, spat, h, path);
        }
        xs_free(path);
    }
    return rc;
}

static xs_rc
acl_parse_one(struct acl_ctx *x, struct xs_acl *acl, const char *type,
    const struct xs_conf_node *v, const char *key)
{
    static const struct {
        const char *type;
        enum acl_pat_kind kind;
        int part;               /* 0 user-like, 1 server, 2 resource, 3 node */
    } types[] = {
        { "user", ACL_PAT_EXACT, 0 },
        { "user_regexp", ACL_PAT_REGEXP, 0 },
        { "user_glob", ACL_PAT_GLOB, 0 },
        { "server", ACL_PAT_EXACT, 1 },
        { "server_regexp", ACL_PAT_REGEXP, 1 },
        { "server_glob", ACL_PAT_GLOB, 1 },
        { "resource", ACL_PAT_EXACT, 2 },
        { "resource_regexp", ACL_PAT_REGEXP, 2 },
        { "resource_glob", ACL_PAT_GLOB, 2 },
        { "node_regexp", ACL_PAT_REGEXP, 3 },
        { "node_glob", ACL_PAT_GLOB, 3 },
    };
    struct acl_item *it;
    const char *s;
    xs_rc rc;

    if (strcmp(type, "ip") == 0) {
        struct acl_cidr cidr;

        if ((rc = acl_scalar(x, v, key, &s)) != XS_OK)
            return rc;
        if (!acl_cidr_parse(s, &cidr))
            return acl_err(x, v, key,
                "'%s' is not an IPv4/IPv6 address or CIDR network", s);
        it = acl_item_add(acl);
        it->is_ip = true;
        it->cidr = cidr;
        return XS_OK;
    }
    for (size_t i = 0; i < XS_ARRAY_LEN(types); i++) {
        if (strcmp(type, types[i].type) != 0)
            continue;
        if (types[i].part == 0)
            return acl_parse_user_like(x, acl, types[i].kind, v, key);
        if (types[i].part == 3)
            return acl_parse_node(x, acl, types[i].kind, v, key);
        if ((rc = acl_scalar(x, v, key, &s)) != XS_OK)
            return rc;
        it = acl_item_add(acl);
        if (types[i].part == 1)
            return acl_pat_set(x, &it->server, types[i].kind, s, v, key);
        return acl_pat_set(x, &it->resource, types[i].kind, s, v, key);
    }
    return acl_err(x, v, key, "unknown acl type (known: user, server, "
        "resource, user_regexp, server_regexp, resource_regexp, "
        "node_regexp, user_glob, server_glob, resource_glob, node_glob, ip)");
}

/* The body of an ACL: {type: value-or-list, ...}. */
static xs_rc
acl_parse_body(struct acl_ctx *x, struct xs_acl *acl,
    const struct xs_conf_node *body, const char *path)
{
    xs_rc rc = XS_OK;

    if (body->kind != XS_CONF_MAP)
        return acl_err(x, body, path, "must be a map of acl types "
            "(user, server, ip, ...)");
    if (body->nitems == 0)
        return acl_err(x, body, path, "must not be empty");
    for (size_t i = 0; i < body->nitems && rc == XS_OK; i++) {
        const struct xs_conf_node *t = body->items[i];
        char *tpath = acl_path(path, t->key);

        if (t->kind == XS_CONF_LIST) {
            if (t->nitems == 0)
                rc = acl_err(x, t, tpath, "must not be empty");
            for (size_t j = 0; j < t->nitems && rc == XS_OK; j++) {
                char *ipath = acl_path_idx(tpath, j);

                rc = acl_parse_one(x, acl, t->key, t->items[j], ipath);
                xs_free(ipath);
            }
        } else {
            rc = acl_parse_one(x, acl, t->key, t, tpath);
        }
        xs_free(tpath);
    }
    return rc;
}

static long
acl_add(struct xs_acl_conf *a, const char *name)
{
    struct xs_acl *acl;

    a->acls = xs_reallocarray(a->acls, a->nacls + 1, sizeof(*a->acls));
    acl = &a->acls[a->nacls];
    memset(acl, 0, sizeof(*acl));
    acl->name = name != NULL ? xs_strdup(name) : NULL;
    return (long)a->nacls++;
}

static xs_rc
acl_parse_section(struct acl_ctx *x, const struct xs_conf_node *sec)
{
    struct xs_acl_conf *a = x->a;
    xs_rc rc = XS_OK;

    if (sec->kind != XS_CONF_MAP)
        return acl_err(x, sec, "acl", "must be a map of acl names");
    for (size_t i = 0; i < sec->nitems && rc == XS_OK; i++) {
        const struct xs_conf_node *body = sec->items[i];
        char *path = acl_path("acl", body->key);
        long idx;

        if (strcmp(body->key, "all") == 0 || strcmp(body->key, "none") == 0)
            rc = acl_err(x, body, path, "'all' and 'none' are built in");
        else if (*body->key == '\0')
            rc = acl_err(x, body, path, "acl name must not be empty");
        if (rc == XS_OK) {
            idx = acl_add(a, body->key);
            rc = acl_parse_body(x, &a->acls[idx], body, path);
        }
        xs_free(path);
    }
    return rc;
}

/* ---- parsing: rules ---- */

static void
entry_add_cond(struct rule_entry *e, long cond)
{
    e->conds = xs_reallocarray(e->conds, e->nconds + 1, sizeof(*e->conds));
    e->conds[e->nconds++] = cond;
}

/* One condition: an ACL name or an inline ACL spec. */
static xs_rc
rule_parse_cond1(struct acl_ctx *x, struct rule_entry *e,
    const struct xs_conf_node *c, const char *path)
{
    const char *name;
    long idx;
    xs_rc rc;

    if (c->kind == XS_CONF_MAP) {
        idx = acl_add(x->a, NULL);
        if ((rc = acl_parse_body(x, &x->a->acls[idx], c, path)) != XS_OK)
            return rc;
        entry_add_cond(e, idx);
        return XS_OK;
    }
    if ((rc = acl_scalar(x, c, path, &name)) != XS_OK)
        return rc;
    if (strcmp(name, "all") == 0)
        idx = ACL_REF_ALL;
    else if (strcmp(name, "none") == 0)
        idx = ACL_REF_NONE;
    else if ((idx = acl_index(x->a, name)) < 0)
        return acl_err(x, c, path, "unknown acl '%s'", name);
    entry_add_cond(e, idx);
    return XS_OK;
}

/* The conditions of an entry: one, or a list that must all match. */
static xs_rc
rule_parse_conds(struct acl_ctx *x, struct rule_entry *e,
    const struct xs_conf_node *c, const char *path)
{
    xs_rc rc = XS_OK;

    if (c->kind != XS_CONF_LIST)
        return rule_parse_cond1(x, e, c, path);
    if (c->nitems == 0)
        return acl_err(x, c, path, "must not be empty");
    for (size_t i = 0; i < c->nitems && rc == XS_OK; i++) {
        char *ipath = acl_path_idx(path, i);

        rc = rule_parse_cond1(x, e, c->items[i], ipath);
        xs_free(ipath);
    }
    return rc;
}

/* The result of an entry: allow/deny, or a shaper name ("none" built in). */
static xs_rc
rule_parse_result(struct acl_ctx *x, bool is_shaper, const char *word,
    const struct xs_conf_node *n, const char *path, long *out)
{
    if (!is_shaper) {
        if (strcmp(word, "allow") == 0)
            *out = XS_ALLOW;
        else if (strcmp(word, "deny") == 0)
            *out = XS_DENY;
        else
            return acl_err(x, n, path, "'%s' is not allow or deny", word);
        return XS_OK;
    }
    if (strcmp(word, "none") == 0) {
        *out = -1;
        return XS_OK;
    }
    if ((*out = shaper_index(x->a, word)) < 0)
        return acl_err(x, n, path, "unknown shaper '%s'", word);
    return XS_OK;
}

static struct rule_entry *
rule_entry_add(struct xs_access_rule *r, long result)
{
    struct rule_entry *e;

    r->entries = xs_reallocarray(r->entries, r->nentries + 1,
        sizeof(*r->entries));
    e = &r->entries[r->nentries++];
    memset(e, 0, sizeof(*e));
    e->result = result;
    return e;
}

/* An entry given as a pair "result: conditions". */
static xs_rc
rule_parse_pair(struct acl_ctx *x, struct xs_access_rule *r, bool is_shaper,
    const struct xs_conf_node *pair, const char *path)
{
    char *ppath = acl_path(path, pair->key);
    long result;
    xs_rc rc;

    rc = rule_parse_result(x, is_shaper, pair->key, pair, ppath, &result);
    if (rc == XS_OK)
        rc = rule_parse_conds(x, rule_entry_add(r, result), pair, ppath);
    xs_free(ppath);
    return rc;
}

/*
 * A rule is written in one of ejabberd's forms:
 *   NAME: allow                      (a bare result: applies to all)
 *   NAME: {allow: admin, deny: all}  (pairs, in file order)
 *   NAME: [{allow: admin}, {deny: all}, deny]
 */
static xs_rc
rule_parse(struct acl_ctx *x, struct xs_access_rule *r, bool is_shaper,
    const struct xs_conf_node *v, const char *path)
{
    const char *word;
    long result;
    xs_rc rc = XS_OK;

    switch (v->kind) {
    case XS_CONF_SCALAR:
        if ((rc = acl_scalar(x, v, path, &word)) != XS_OK)
            return rc;
        if ((rc = rule_parse_result(x, is_shaper, word, v, path, &result))
            != XS_OK)
            return rc;
        entry_add_cond(rule_entry_add(r, result), ACL_REF_ALL);
        return XS_OK;
    case XS_CONF_MAP:
        if (v->nitems == 0)
            return acl_err(x, v, path, "must not be empty");
        for (size_t i = 0; i < v->nitems && rc == XS_OK; i++)
            rc = rule_parse_pair(x, r, is_shaper, v->items[i], path);
        return rc;
    case XS_CONF_LIST:
        if (v->nitems == 0)
            return acl_err(x, v, path, "must not be empty");
        for (size_t i = 0; i < v->nitems && rc == XS_OK; i++) {
            const struct xs_conf_node *e = v->items[i];
            char *ipath = acl_path_idx(path, i);

            if (e->kind == XS_CONF_MAP && e->nitems == 1)
                rc = rule_parse_pair(x, r, is_shaper, e->items[0], ipath);
            else if (e->kind == XS_CONF_MAP)
                rc = acl_err(x, e, ipath, "each entry must be one pair "
                    "like '%s: ACL'", is_shaper ? "SHAPER" : "allow");
            else
                rc = rule_parse(x, r, is_shaper, e, ipath);
            xs_free(ipath);
        }
        return rc;
    }
    return acl_err(x, v, path, "invalid rule");
}

static xs_rc
rules_parse_section(struct acl_ctx *x, const struct xs_conf_node *sec,
    const char *secname, bool is_shaper)
{
    struct xs_access_rule **rules = is_shaper ? &x->a->shaper_rules
                                              : &x->a->access_rules;
    size_t *n = is_shaper ? &x->a->nshaper_rules : &x->a->naccess_rules;
    xs_rc rc = XS_OK;

    if (sec->kind != XS_CONF_MAP)
        return acl_err(x, sec, secname, "must be a map of rule names");
    for (size_t i = 0; i < sec->nitems && rc == XS_OK; i++) {
        const struct xs_conf_node *v = sec->items[i];
        char *path = acl_path(secname, v->key);
        struct xs_access_rule *r;

        if (*v->key == '\0')
            rc = acl_err(x, v, path, "rule name must not be empty");
        else if (!is_shaper && (strcmp(v->key, "all") == 0
            || strcmp(v->key, "none") == 0))
            rc = acl_err(x, v, path, "'all' and 'none' are built in");
        else if (is_shaper && (strcmp(v->key, "none") == 0
            || shaper_index(x->a, v->key) >= 0))
            rc = acl_err(x, v, path, "'%s' is already a shaper name",
                v->key);
        if (rc == XS_OK) {
            *rules = xs_reallocarray(*rules, *n + 1, sizeof(**rules));
            r = &(*rules)[(*n)++];
            memset(r, 0, sizeof(*r));
            r->name = xs_strdup(v->key);
            rc = rule_parse(x, r, is_shaper, v, path);
        }
        xs_free(path);
    }
    return rc;
}

/* ---- parsing: shapers ---- */

#define SHAPER_RATE_MAX (1ULL << 40)    /* 1 TiB/s: beyond any link */

static xs_rc
shaper_parse(struct acl_ctx *x, struct xs_shaper *sh,
    const struct xs_conf_node *v, const char *path)
{
    static const char *const keys[] = { "rate", "burst_size", NULL };
    const struct xs_conf_node *rate = v, *burst = NULL;
    long long n;
    char *p;
    xs_rc rc;

    if (v->kind == XS_CONF_MAP) {
        for (size_t i = 0; i < v->nitems; i++) {
            size_t k;

            for (k = 0; keys[k] != NULL; k++) {
                if (strcmp(v->items[i]->key, keys[k]) == 0)
                    break;
            }
            if (keys[k] == NULL) {
                p = acl_path(path, v->items[i]->key);
                rc = acl_err(x, v->items[i], p, "unknown key "
                    "(known: rate, burst_size)");
                xs_free(p);
                return rc;
            }
        }
        rate = xs_conf_node_get(v, "rate");
        burst = xs_conf_node_get(v, "burst_size");
        if (rate == NULL)
            return acl_err(x, v, path, "rate is required");
    }
    p = v->kind == XS_CONF_MAP ? acl_path(path, "rate") : xs_strdup(path);
    if (xs_conf_node_int(rate, 1, (long long)SHAPER_RATE_MAX, &n) != XS_OK)
        rc = acl_err(x, rate, p, "must be a rate in bytes/second, "
            "1..%llu", SHAPER_RATE_MAX);
    else
        rc = XS_OK;
    xs_free(p);
    if (rc != XS_OK)
        return rc;
    sh->rate = (uint64_t)n;
    sh->burst_size = sh->rate;
    if (burst != NULL) {
        if (xs_conf_node_int(burst, 1, (long long)SHAPER_RATE_MAX, &n)
            != XS_OK) {
            p = acl_path(path, "burst_size");
            rc = acl_err(x, burst, p, "must be a size in bytes, 1..%llu",
                SHAPER_RATE_MAX);
            xs_free(p);
            return rc;
        }
        sh->burst_size = (uint64_t)n;
    }
    return XS_OK;
}

static xs_rc
shaper_parse_section(struct acl_ctx *x, const struct xs_conf_node *sec)
{
    struct xs_acl_conf *a = x->a;
    xs_rc rc = XS_OK;

    if (sec->kind != XS_CONF_MAP)
        return acl_err(x, sec, "shaper", "must be a map of shaper names");
    for (size_t i = 0; i < sec->nitems && rc == XS_OK; i++) {
        const struct xs_conf_node *v = sec->items[i];
        char *path = acl_path("shaper", v->key);
        struct xs_shaper *sh;

        if (strcmp(v->key, "none") == 0)
            rc = acl_err(x, v, path, "'none' is built in (no shaping)");
        else if (*v->key == '\0')
            rc = acl_err(x, v, path, "shaper name must not be empty");
        if (rc == XS_OK) {
            a->shapers = xs_reallocarray(a->shapers, a->nshapers + 1,
                sizeof(*a->shapers));
            sh = &a->shapers[a->nshapers++];
            memset(sh, 0, sizeof(*sh));
            sh->name = xs_strdup(v->key);
            rc = shaper_parse(x, sh, v, path);
        }
        xs_free(path);
    }
    return rc;
}

xs_rc
xs_acl_conf_parse(struct xs_acl_conf *a, const char *file,
    char *const *hosts, size_t nhosts, const struct xs_conf_node *acl,
    const struct xs_conf_node *access_rules, const struct xs_conf_node *shaper,
    const struct xs_conf_node *shaper_rules, char **errmsg)
{
    struct acl_ctx x = { .a = a, .file = file, .err = NULL };
    xs_rc rc = XS_OK;

    *errmsg = NULL;
    a->hosts = xs_calloc(nhosts, sizeof(*a->hosts));
    for (size_t i = 0; i < nhosts; i++)
        a->hosts[i] = xs_strdup(hosts[i]);
    a->nhosts = nhosts;

    /* Shapers before shaper rules, named ACLs before any rule. */
    if (shaper != NULL && (rc = shaper_parse_section(&x, shaper)) != XS_OK)
        goto fail;
    if (acl != NULL && (rc = acl_parse_section(&x, acl)) != XS_OK)
        goto fail;
    if (access_rules != NULL && (rc = rules_parse_section(&x, access_rules,
        "access_rules", false)) != XS_OK)
        goto fail;
    if (shaper_rules != NULL && (rc = rules_parse_section(&x, shaper_rules,
        "shaper_rules", true)) != XS_OK)
        goto fail;
    return XS_OK;

fail:
    *errmsg = x.err;
    return rc;
}

/* ---- evaluation ---- */

static bool
acl_is_local(const struct xs_acl_conf *a, const char *server)
{
    for (size_t i = 0; i < a->nhosts; i++) {
        if (strcasecmp(a->hosts[i], server) == 0)
            return true;
    }
    return false;
}

static bool
pat_match(const struct xs_acl_conf *a, const struct acl_pat *p,
    const char *s, bool is_icase)
{
    if (p->kind == ACL_PAT_ANY)
        return true;
    if (s == NULL)
        return false;
    switch (p->kind) {
    case ACL_PAT_ANY:
        return true;
    case ACL_PAT_LOCAL:
        return acl_is_local(a, s);
    case ACL_PAT_EXACT:
        return is_icase ? strcasecmp(p->text, s) == 0
                        : strcmp(p->text, s) == 0;
    case ACL_PAT_REGEXP:
        return regexec(&p->re, s, 0, NULL, 0) == 0;
    case ACL_PAT_GLOB:
        return fnmatch(p->text, s, 0) == 0;
    }
    return false;
}

static bool
cidr_match(const struct acl_cidr *c, const struct sockaddr *sa)
{
    const uint8_t *addr;
    int family;

    if (sa == NULL)
        return false;
    if (sa->sa_family == AF_INET) {
        family = AF_INET;
        addr = (const uint8_t *)
            &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    } else if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a6 =
            &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;

        family = AF_INET6;
        addr = a6->s6_addr;
        /* A v4 client on a dual-stack socket is ::ffff:a.b.c.d. */
        if (IN6_IS_ADDR_V4MAPPED(a6)) {
            family = AF_INET;
            addr += 12;
        }
    } else {
        return false;
    }
    if (family != c->family)
        return false;
    for (unsigned bit = 0; bit < c->prefix; bit += 8) {
        unsigned left = c->prefix - bit;
        uint8_t mask = left >= 8 ? 0xff : (uint8_t)(0xff00u >> left);

        if ((addr[bit / 8] & mask) != c->addr[bit / 8])
            return false;
    }
    return true;
}

static bool
acl_item_match(const struct xs_acl_conf *a, const struct acl_item *it,
    const struct xs_acl_subject *s)
{
    if (it->is_ip)
        return cidr_match(&it->cidr, s->ip);
    return pat_match(a, &it->user, s->user, true)
        && pat_match(a, &it->server, s->server, true)
        && pat_match(a, &it->resource, s->resource, false);
}

static bool
acl_match_index(const struct xs_acl_conf *a, long idx,
    const struct xs_acl_subject *s)
{
    const struct xs_acl *acl;

    if (idx == ACL_REF_ALL)
        return true;
    if (idx < 0 || (size_t)idx >= a->nacls)
        return false;
    acl = &a->acls[idx];
    for (size_t i = 0; i < acl->nitems; i++) {
        if (acl_item_match(a, &acl->items[i], s))
            return true;
    }
    return false;
}

bool
xs_acl_match(const struct xs_acl_conf *a, const char *acl_name,
    const struct xs_acl_subject *s)
{
    long idx;

    if (acl_name == NULL || strcmp(acl_name, "none") == 0)
        return false;
    if (strcmp(acl_name, "all") == 0)
        return true;
    if ((idx = acl_index(a, acl_name)) < 0)
        return false;           /* unknown: matches nobody */
    return acl_match_index(a, idx, s);
}

/* The first entry whose conditions all match, or NULL. */
static const struct rule_entry *
rule_first_match(const struct xs_acl_conf *a, const struct xs_access_rule *r,
    const struct xs_acl_subject *s)
{
    for (size_t i = 0; i < r->nentries; i++) {
        const struct rule_entry *e = &r->entries[i];
        bool is_match = e->nconds > 0;

        for (size_t j = 0; j < e->nconds && is_match; j++)
            is_match = acl_match_index(a, e->conds[j], s);
        if (is_match)
            return e;
    }
    return NULL;
}

enum xs_access
xs_access_eval(const struct xs_acl_conf *a, const char *rule,
    const struct xs_acl_subject *s)
{
    const struct xs_access_rule *r;
    const struct rule_entry *e;

    if (rule == NULL || strcmp(rule, "all") == 0)
        return XS_ALLOW;
    if (strcmp(rule, "none") == 0)
        return XS_DENY;
    r = rule_lookup(a->access_rules, a->naccess_rules, rule);
    if (r == NULL || (e = rule_first_match(a, r, s)) == NULL)
        return XS_DENY;
    return e->result == XS_ALLOW ? XS_ALLOW : XS_DENY;
}

const struct xs_shaper *
xs_shaper_for(const struct xs_acl_conf *a, const char *name,
    const struct xs_acl_subject *s)
{
    const struct xs_access_rule *r;
    const struct rule_entry *e;

    if (name == NULL)
        return NULL;
    r = rule_lookup(a->shaper_rules, a->nshaper_rules, name);
    if (r == NULL)
        return xs_shaper_lookup(a, name);   /* "none" is never defined */
    if ((e = rule_first_match(a, r, s)) == NULL || e->result < 0
        || (size_t)e->result >= a->nshapers)
        return NULL;
    return &a->shapers[e->result];
}
