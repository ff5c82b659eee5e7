/*
 * conf.h: the YAML configuration (libyaml), shaped like ejabberd.yml so
 * that an operator's knowledge carries over.  An unknown key or a bad value
 * fails the load with one line naming the key and the file line.
 */
#ifndef XMPPD_CORE_CONF_H
#define XMPPD_CORE_CONF_H

#include "xmppd/core/xs.h"
#include "xmppd/core/acl.h"

/*
 * The parsed YAML, kept as a small tree so that modules can read (and
 * validate) their own options later.  Scalars keep their text; numbers and
 * booleans are interpreted by the accessors below.
 */
enum xs_conf_kind {
    XS_CONF_SCALAR,
    XS_CONF_LIST,
    XS_CONF_MAP,
};

struct xs_conf_node {
    enum xs_conf_kind kind;
    int      line;              /* 1-based line of the value */
    char    *key;               /* owned: key in the parent map, or NULL */
    int      key_line;          /* line of the key (0 outside a map) */
    char    *value;             /* owned: scalar text ("" for null) */
    bool     is_plain;          /* unquoted scalar: may read as null */
    struct xs_conf_node **items;    /* owned: list items or map values,
                                       in file order */
    size_t   nitems;
};

enum xs_listen_module {
    XS_LISTEN_C2S,
    XS_LISTEN_S2S,              /* parsed now; served from issue 4 on */
    XS_LISTEN_ADMIN_HTTP,
};

struct xs_listen_conf {
    enum xs_listen_module module;
    char    *ip;                /* owned; default "127.0.0.1" */
    int      port;
    bool     is_tls;            /* direct TLS (XEP-0368), "tls: true" */
    bool     has_starttls;      /* "starttls", default true */
    bool     is_starttls_required;  /* default true */
    size_t   max_stanza_size;   /* after auth; default 262144 */
    char    *shaper;            /* owned; NULL: none (name of a shaper) */
    char    *access;            /* owned; NULL: all (name of an access rule) */
    char    *token;             /* owned; admin_http bearer token */
};

/* s2s_use_starttls, as in ejabberd. */
enum xs_s2s_tls {
    XS_S2S_TLS_REQUIRED,        /* nothing else before TLS, either way */
    XS_S2S_TLS_OPTIONAL,        /* offered and used when offered */
    XS_S2S_TLS_OFF,             /* `false`: never */
};

/* s2s_routes: {domain: "host:port"} (an IPv6 address as "[addr]:port"). */
struct xs_s2s_route_conf {
    char    *domain;            /* owned, lowercase */
    char    *host;              /* owned: an IP address or a host name */
    int      port;
};

struct xs_conf {
    char   **hosts;             /* owned; nhosts >= 1 */
    size_t   nhosts;
    enum xs_log_level loglevel;
    char   **certfiles;         /* owned: PEM files with cert and key */
    size_t   ncertfiles;
    char    *state_dir;         /* owned; default: the config file's folder */

    struct xs_listen_conf *listen;  /* owned */
    size_t   nlisten;

    /* sql_*: all NULL/0 means the embedded default (unix socket under
     * <state_dir>/pg, database and user "xmppd"). */
    char    *sql_server;        /* owned: host name or socket directory */
    int      sql_port;          /* 0: libpq default */
    char    *sql_database;      /* owned */
    char    *sql_username;      /* owned */
    char    *sql_password;      /* owned; never logged */
    char    *sql_dsn;           /* owned: a libpq conninfo, wins if set */
    int      sql_pool_size;     /* default 4 */
    int      sql_queue_max;     /* waiting queries per pool; default 1024 */

    /* Stream limits (c2s), with safe defaults. */
    size_t   max_stanza_size_preauth;   /* default 16384 */
    size_t   max_xml_depth;             /* default 32 */
    size_t   max_xml_attrs;             /* default 64 */
    int      c2s_handshake_timeout;     /* seconds to finish auth; 30 */
    int      c2s_idle_timeout;          /* seconds without input; 600;
                                           0: never ("infinity") */
    size_t   c2s_max_connections;       /* default 10000; SIZE_MAX:
                                           "infinity" */
    size_t   c2s_out_soft_limit;        /* output bytes; default 1 MiB;
                                           SIZE_MAX: "infinity" (off) */
    size_t   c2s_out_hard_limit;        /* default 8 MiB */
    int      c2s_out_soft_seconds;      /* default 30 */
    int      auth_failure_delay_ms;     /* default 1000 */
    /* Threads for CPU-heavy work off the loop (PBKDF2 of PLAIN logins and
     * password changes); jobs waiting beyond the queue are refused. */
    int      worker_threads;            /* default 2 */
    size_t   worker_queue_max;          /* default 1024 */

    struct xs_acl_conf acl;     /* acl, access_rules, shaper, shaper_rules */
    char    *s2s_access;        /* owned: access rule name; NULL: all */
    /* Federation (s2s); see docs/federation.md. */
    enum xs_s2s_tls s2s_use_starttls;   /* default required */
    char    *s2s_cafile;        /* owned: CA bundle; NULL: system store */
    bool     s2s_dialback;      /* offer and use XEP-0220; default true */
    bool     s2s_bidi;          /* offer and use XEP-0288; default true */
    char    *s2s_dialback_secret;   /* owned; NULL: random per process;
                                       never logged */
    struct xs_s2s_route_conf *s2s_routes;   /* owned: static routes,
                                               consulted before DNS */
    size_t   ns2s_routes;
    char   **dns_nameservers;   /* owned: "ip" or "ip:port" (IPv6 as
                                   "[ip]:port"); none: /etc/resolv.conf */
    size_t   ndns_nameservers;
    size_t   s2s_queue_max;     /* stanzas per remote domain while its
                                   stream comes up; default 1000 */
    int      s2s_idle_timeout;  /* seconds; 600; 0: never */
    int      s2s_handshake_timeout; /* seconds from connect (or accept)
                                       to authenticated; default 30 */
    size_t   s2s_max_stanza_size;   /* input on outgoing streams; 65536 */
    size_t   s2s_out_soft_limit;    /* as c2s_out_*; 1 MiB, 8 MiB, 30 s */
    size_t   s2s_out_hard_limit;
    int      s2s_out_soft_seconds;
    struct xs_conf_node *modules;   /* owned: map module name -> options
                                       map (a null value reads as {}) */
    char    *path;              /* owned: file name used in messages */
};

/* Load and validate; on failure *errmsg is one line ("file:line: key: why")
 * that the caller prints and frees. */
xs_rc xs_conf_load(const char *path, struct xs_conf **out, char **errmsg);
/* The same from a string (tests); name is used in messages. */
xs_rc xs_conf_load_string(const char *yaml, const char *name,
          struct xs_conf **out, char **errmsg);
void  xs_conf_free(struct xs_conf *c);

bool  xs_conf_is_local_host(const struct xs_conf *c, const char *domain);
/* The folder of the file c was read from, absolute (relative to the
 * working folder only when that cannot be known); c NULL: the working
 * folder.  Caller frees. */
char *xs_conf_dir(const struct xs_conf *c);
/* A path as the file's own paths are read (certfiles, state_dir): an
 * absolute p as is, else against xs_conf_dir(c) ("./keys" is "keys",
 * "." the folder itself).  For modules' path options; caller frees. */
char *xs_conf_abspath(const struct xs_conf *c, const char *p);
/* libpq conninfo for the configured database; caller frees. */
char *xs_conf_pg_conninfo(const struct xs_conf *c);

/* The options map of a module, or NULL when the module is not enabled. */
const struct xs_conf_node *xs_conf_module_opts(const struct xs_conf *c,
          const char *module);

/* Node accessors, for modules reading their options. */
const struct xs_conf_node *xs_conf_node_get(const struct xs_conf_node *map,
          const char *key);
bool  xs_conf_node_is_null(const struct xs_conf_node *n);
/* The scalar text, or NULL if n is not a non-null scalar. */
const char *xs_conf_node_str(const struct xs_conf_node *n);
/* true/false (any case); XS_EINVAL otherwise. */
xs_rc xs_conf_node_bool(const struct xs_conf_node *n, bool *out);
/* A decimal integer in [min, max]; XS_EINVAL (bad text) or XS_ELIMIT. */
xs_rc xs_conf_node_int(const struct xs_conf_node *n, long long min,
          long long max, long long *out);
/* XS_OK if every key of map is in known (NULL-terminated); otherwise
 * *errmsg names the first unknown key as "<path>.<key>". */
xs_rc xs_conf_node_check_keys(const struct xs_conf *c,
          const struct xs_conf_node *map, const char *path,
          const char *const *known, char **errmsg);
/* One error line "file:line: key: why" about n (caller frees). */
char *xs_conf_errmsg(const struct xs_conf *c, const struct xs_conf_node *n,
          const char *key, const char *fmt, ...)
          __attribute__((format(printf, 4, 5)));

#endif
