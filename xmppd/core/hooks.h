/*
 * hooks.h: stanza hook chains with priorities and verdicts, and
 * notifications (events) that return nothing.
 *
 * A chain runs its hooks from the highest priority down; equal priorities
 * run in registration order.  The first verdict other than XS_PASS ends the
 * chain.  Hooks are added only while modules load or unload, never from
 * inside a running hook (the chain array may move).
 */
#ifndef XMPPD_CORE_HOOKS_H
#define XMPPD_CORE_HOOKS_H

#include "xmppd/core/xs.h"
#include "xmppd/xml/jid.h"
#include "xmppd/xml/stanza.h"

struct xs_module;
struct xs_session;

enum xs_verdict {
    XS_PASS = 0,    /* not mine, or allowed: run the next hook */
    XS_HANDLED,     /* fully handled (reply queued); dispatcher frees st */
    XS_DROP,        /* discard silently; dispatcher frees st */
    XS_BOUNCE,      /* dispatcher sends an error built from ctx->err, frees st */
    XS_STOLEN,      /* hook now owns st (async work); dispatcher forgets it */
};

enum xs_hook_point {
    XS_HOOK_C2S_IN,     /* from a local client, before routing */
    XS_HOOK_ROUTE,      /* every routed stanza, local or remote origin */
    XS_HOOK_DELIVER,    /* addressed to a local account, before delivery */
    XS_HOOK_C2S_OUT,    /* about to be written to a local client */
    XS_HOOK_OFFLINE,    /* a message to an account with no available
                           resource (offline storage takes it here) */
    XS_HOOK_S2S_IN,     /* from a remote server (its domain authenticated),
                           before routing: trust flags, the gate */
    XS_HOOK_S2S_OUT,    /* about to be sent to a remote server: trust flags
                           are added here */
    XS_HOOK__COUNT
};

/* Higher runs first; equal priorities run in registration order. */
enum {
    XS_PRIO_FIRST   =  1000,    /* validation, sanity */
    XS_PRIO_POLICY  =   500,    /* blocking, reputation, rate limits */
    XS_PRIO_DEFAULT =     0,    /* feature handlers */
    XS_PRIO_LAST    = -1000,    /* fallbacks, archiving */
};

struct xs_stanza_ctx {
    struct xs_session   *origin;    /* borrowed; NULL if not a local client */
    struct xs_session   *target;    /* borrowed; C2S_OUT: the receiving session */
    struct xs_stanza    *st;        /* borrowed unless a hook returns XS_STOLEN */
    const struct xs_jid *from;      /* borrowed; validated, never NULL */
    const struct xs_jid *to;        /* borrowed; NULL: the sender's own account */
    enum xs_kind         kind;      /* XS_K_MESSAGE, XS_K_PRESENCE or XS_K_IQ */
    enum xs_stanza_err   err;       /* set together with XS_BOUNCE */
    const char          *why;       /* static string for the log line */
    const char          *text;      /* static: the <text/> of the bounce
                                       (English, for the sender), or NULL */
};

/* A function type, not a pointer type. */
typedef enum xs_verdict xs_hook_fn(struct xs_stanza_ctx *ctx, void *mod_state);

struct xs_hook_spec {
    enum xs_hook_point  point;
    unsigned            kinds;      /* XS_K_* mask; other kinds skip this hook */
    int                 prio;
    xs_hook_fn         *fn;         /* NULL terminates a spec table */
};

xs_rc           xs_hook_add(const struct xs_hook_spec *spec,
                    const struct xs_module *owner, void *mod_state);
void            xs_hook_remove_owner(const struct xs_module *owner);
enum xs_verdict xs_hook_run(enum xs_hook_point pt, struct xs_stanza_ctx *ctx);

/* Notifications: every handler runs; none can stop the others. */
enum xs_event {
    XS_EV_SESSION_BOUND,    /* arg: struct xs_session * (resource bound) */
    XS_EV_SESSION_AVAILABLE,/* arg: struct xs_session * (initial presence
                               sent: offline messages and pending
                               subscription requests are due) */
    XS_EV_SESSION_CLOSED,   /* arg: struct xs_session * (still readable) */
    XS_EV_USER_DELETED,     /* arg: const struct xs_jid * (bare); the
                               account's rows are already gone */
    XS_EV_USER_CREATED,     /* arg: const struct xs_jid * (bare); fired
                               after the account is committed */
    XS_EV_RATE_LIMITED,     /* arg: const struct xs_ev_rate_limited * */
    XS_EV_S2S_MISBEHAVED,   /* arg: const struct xs_ev_s2s_misbehaved * */
    XS_EV_SERVER_DRAINING,  /* arg: NULL.  Shutting down: every client
                               session is closed; write what is held
                               behind (batches) now.  A module that needs
                               time calls xs_shutdown_hold() here and
                               xs_shutdown_release() when done (server.h) */
    XS_EV__COUNT
};

/*
 * XS_EV_RATE_LIMITED: a stream's input shaper began making it wait (at
 * most once per stream per minute).  Only for a bound c2s session or an
 * authenticated s2s stream: before that the peer is nobody we could
 * hold to account.
 */
struct xs_ev_rate_limited {
    const char *subject;    /* borrowed: the bare JID of a local account
                               (c2s) or the authenticated remote domain
                               (s2s) */
    bool        is_s2s;
    const char *what;       /* borrowed static: "shaper" */
};

/*
 * XS_EV_S2S_MISBEHAVED: we are closing an s2s stream with a stream error
 * because of what the peer sent after its domain authenticated (a bad
 * 'from', an oversized stanza, XML that is not well-formed, ...).  Never
 * for failures before authentication: anyone can fail dialback "as"
 * victim.example, and that must not cost victim.example anything.  Nor
 * for what is not the peer's doing (our shutdown, idle timeouts, a slow
 * reader, an operator closing the domain).
 */
struct xs_ev_s2s_misbehaved {
    const char *domain;     /* borrowed: the authenticated remote domain */
    const char *reason;     /* borrowed: the stream error condition
                               ("invalid-from", "policy-violation", ...) */
};

typedef void xs_event_fn(enum xs_event ev, void *arg, void *mod_state);

struct xs_event_spec {
    enum xs_event  ev;
    xs_event_fn   *fn;              /* NULL terminates a spec table */
};

xs_rc xs_event_add(const struct xs_event_spec *spec,
          const struct xs_module *owner, void *mod_state);
void  xs_event_remove_owner(const struct xs_module *owner);
void  xs_event_fire(enum xs_event ev, void *arg);

#endif
