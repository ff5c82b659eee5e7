/*
 * trust_int.h: the parts of mod_trust, internal to reputation/.
 *
 * trust.c      the module: our domains' keys (load, prune, the rotation
 *              verb), options, timers, /metrics, the descriptor; flags
 *              on outgoing subscription requests (S2S_OUT); verification
 *              of inbound flags for the gate (trust.h)
 * egress.c     egress limits of our own accounts: the per-account window
 *              and the C2S_IN hook (egress.h)
 * discovery.c  key discovery: serving our <keys/>, fetching and caching
 *              others', pinned keys first, checks waiting for keys
 *              (discovery.h)
 * trust_map.c  the string-keyed hash table under egress and discovery
 *              (trust_map.h)
 */
#ifndef XMPPD_REPUTATION_TRUST_INT_H
#define XMPPD_REPUTATION_TRUST_INT_H

#include "reputation/policy.h"
#include "reputation/trust.h"
#include "xmppd/core/module.h"

#define TRUST_HOUR_S            3600

struct xs_trust_rot;
struct xs_trust_discovery;
struct xs_trust_egress;

/* The module's state (one per server; hooks, IQs and verbs get it). */
struct xs_trust_mod {
    struct xs_rep_policy       policy;  /* owned: mod_reputation's options */
    bool                       has_policy;
    struct xs_trustkey_store  *store;   /* owned */
    struct xs_replay          *replay;  /* owned */
    struct xs_trust_discovery *disco;   /* owned */
    struct xs_trust_egress    *egress;  /* owned */
    struct event              *prune_timer; /* owned */
    struct event              *key_timer;   /* owned */
    struct xs_trust_rot       *rots;    /* borrowed: they free themselves
                                           (trust.c) */
};

/* trust.c: the counters of /metrics, written by every part. */
extern struct xs_trust_stats xs_trust_counters;

/* trust.c */
/* The domain of a bare JID (the whole of it when it has no '@'). */
const char *xs_trust_domain_of(const char *bare);
bool        xs_trust_is_local(const char *domain);
/* Remove what anyone put in our namespaces (trust, XEP-0489) from the
 * stanza of ctx; returns how many elements went. */
size_t      xs_trust_strip(struct xs_stanza_ctx *ctx);
/* Verify f, sent from_bare to to_bare, with the pinned and cached keys;
 * a valid flag's nonce is recorded. */
enum xs_flag_result xs_trust_verify(struct xs_trust_mod *m,
                        const struct xs_flag *f, const char *from_bare,
                        const char *to_bare, int64_t now);
/* Set the result, count it: the end of every check (why NULL: the
 * result's text). */
void        xs_trust_decide(struct xs_trust_check *c,
                enum xs_flag_result r, const char *why);

#endif
