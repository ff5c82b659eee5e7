/*
 * conf.h: the YAML configuration (libyaml), shaped like ejabberd.yml so
 * that an operator's knowledge carries over.  An unknown key or a bad value
 * fails the load with one line naming the key and the file line.
 */
#ifndef XMPPD_CORE_CONF_H
#define XMPPD_CORE_CONF_H

#include "xmppd/core/xs.h"
#include "xmppd/core/acl.h"

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
    int      c2s_idle_timeout;          /* seconds without input; 600 */
    size_t   c2s_max_connections;       /* default 10000 */
    size_t   c2s_out_soft_limit;        /* output bytes; default 1 MiB */
    size_t   c2s_out_hard_limit;        /* default 8 MiB */
    int      c2s_out_soft_seconds;      /* default 30 */
    int      auth_failure_delay_ms;     /* default 1000 */

    struct xs_acl_conf acl;     /* acl, access_rules, shaper */
};

/* Load and validate; on failure *errmsg is one line ("file:line: key: why")
 * that the caller prints and frees. */
xs_rc xs_conf_load(const char *path, struct xs_conf **out, char **errmsg);
/* The same from a string (tests); name is used in messages. */
xs_rc xs_conf_load_string(const char *yaml, const char *name,
          struct xs_conf **out, char **errmsg);
void  xs_conf_free(struct xs_conf *c);

bool  xs_conf_is_local_host(const struct xs_conf *c, const char *domain);
/* libpq conninfo for the configured database; caller frees. */
char *xs_conf_pg_conninfo(const struct xs_conf *c);

#endif
