/*
 * discovery.h: key discovery of mod_trust (discovery.c), internal to
 * reputation/ (docs/trust-flags.md 5.6): we answer
 * <keys xmlns='urn:xmppd:trust:0'/> for our domains; we fetch and cache
 * the keys of others, pinned keys first; checks whose issuer's keys are
 * unknown wait for the discovery's answer.
 */
#ifndef XMPPD_REPUTATION_DISCOVERY_H
#define XMPPD_REPUTATION_DISCOVERY_H

#include "reputation/trust.h"
#include "xmppd/core/module.h"

/* The <keys/> element: built from keys (a key whose times cannot be
 * told is left out), and parsed strictly (at most max keys, duplicates
 * and anything we would not verify with skipped). */
struct xs_elem *xs_trust_keys_elem(const struct xs_trust_pubkey *keys,
                    size_t n);
size_t xs_trust_keys_parse(const struct xs_elem *el,
           struct xs_trust_pubkey *out, size_t max);

struct xs_trust_mod;
struct xs_trust_discovery;

/* The discovery state of the module m (borrowed: its options and the
 * verifier), pinned keys from its options; NULL when its event cannot
 * be made. */
struct xs_trust_discovery *xs_trust_discovery_new(struct xs_trust_mod *m);
/* Waiters are dropped without a call, discoveries running cancelled. */
void   xs_trust_discovery_free(struct xs_trust_discovery *ds);
/* Forget the domains with nothing worth keeping; returns how many. */
size_t xs_trust_discovery_prune(struct xs_trust_discovery *ds, int64_t now);

/* An xs_flag_key_fn (udata: the discovery): if the domain has pinned
 * keys, only they count; else the discovery cache. */
bool   xs_trust_key_lookup(void *udata, const char *domain,
           const char *key_id, int64_t now, struct xs_trust_pubkey *out);

/* c's issuer's key is not known: decide now (true, c->result set) or
 * park c until the issuer's keys arrive (false: cb(c, ud) runs later,
 * once, from the loop), as xs_trust_check_start says. */
bool   xs_trust_discovery_wait(struct xs_trust_discovery *ds,
           struct xs_trust_check *c, const char *from_bare,
           const char *to_bare, xs_trust_check_fn *cb, void *ud,
           int64_t now);
/* Forget c if it waits: its callback will not run. */
void   xs_trust_discovery_cancel(struct xs_trust_discovery *ds,
           const struct xs_trust_check *c);

/* Serving our keys (state: the module's); NULL-fn ended. */
extern const struct xs_iq_spec xs_trust_discovery_iqs[];

#endif
