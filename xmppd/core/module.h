/*
 * module.h: feature modules, linked in statically and listed in
 * modules.c.  A module declares static tables of hooks, IQ handlers, event
 * handlers, disco features and operator commands; loading registers all of them under the
 * module as owner, and unloading removes them by owner (Prosody's
 * bookkeeping, in C).
 */
#ifndef XMPPD_CORE_MODULE_H
#define XMPPD_CORE_MODULE_H

#include "xmppd/core/conf.h"
#include "xmppd/core/hooks.h"
#include "xmppd/core/iq.h"

#define XS_MODULE_ABI 1
#define XS_MODULES_MAX 64

struct evbuffer;
struct xs_admin_cmd;

/* A disco identity (XEP-0030) the server's domains show for a module. */
struct xs_disco_identity {
    const char *category;       /* NULL ends a table */
    const char *type;
    const char *name;           /* NULL: none */
};

struct xs_module {
    const char                 *name;
    int                         abi;
    /* Create the module's state from the configuration; fini must accept a
     * partially initialized state (or NULL). */
    xs_rc                     (*init)(const struct xs_conf *conf, void **state);
    void                      (*fini)(void *state);
    const struct xs_hook_spec  *hooks;      /* NULL-fn terminated, or NULL */
    const struct xs_iq_spec    *iqs;        /* NULL-fn terminated, or NULL */
    const struct xs_event_spec *events;     /* NULL-fn terminated, or NULL */
    const char *const          *features;   /* disco features, NULL ended */
    const struct xs_admin_cmd  *commands;   /* admin verbs (admin.h) */
    /* Disco identities of the server's domains, category-NULL ended, or
     * NULL. */
    const struct xs_disco_identity *identities;
    /* Optional: whether this module's features and identities are
     * advertised, given the state init made (a service an option turns
     * on, such as vCard search); NULL: always. */
    bool                      (*is_advertised)(void *state);
    /* Optional: append the module's families to GET /metrics, in the
     * Prometheus text format (xmppd/admin/metrics.h has helpers); every
     * family with its HELP and TYPE lines, names starting "xmppd_". */
    void                      (*metrics)(struct evbuffer *out, void *state);
};

/* Load every module of the static registry; on failure, unload what was
 * loaded and return the error. */
xs_rc xs_modules_load_all(const struct xs_conf *conf);
void  xs_modules_unload_all(void);

/* Every disco feature of the loaded modules, in load order: call fn for
 * each one. */
void  xs_modules_each_feature(void (*fn)(const char *feature, void *ud),
          void *ud);
/* Every disco identity of the loaded modules, in load order (the same
 * is_advertised filter). */
void  xs_modules_each_identity(
          void (*fn)(const struct xs_disco_identity *id, void *ud), void *ud);
/* The `.metrics` families of every loaded module, in load order. */
void  xs_modules_each_metrics(struct evbuffer *out);

#endif
