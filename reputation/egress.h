/*
 * egress.h: egress limits of our own accounts (mod_trust, egress.c),
 * internal to reputation/: an account at the worst levels may not ask
 * other domains for subscriptions, and one in probation only so often,
 * counted in a sliding hour per account.
 */
#ifndef XMPPD_REPUTATION_EGRESS_H
#define XMPPD_REPUTATION_EGRESS_H

#include "xmppd/core/module.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The windows: at most max_accounts accounts, per_hour requests each. */
struct xs_trust_egress;
struct xs_trust_egress *xs_trust_egress_new(int per_hour,
                            size_t max_accounts);
void   xs_trust_egress_free(struct xs_trust_egress *w);
bool   xs_trust_egress_allow(struct xs_trust_egress *w, const char *bare,
           int64_t now);
size_t xs_trust_egress_count(const struct xs_trust_egress *w,
           const char *bare, int64_t now);
size_t xs_trust_egress_prune(struct xs_trust_egress *w, int64_t now);

/* C2S_IN, presence (state: the module's, trust_int.h): a local user's
 * subscription request. */
enum xs_verdict xs_trust_on_c2s_sub(struct xs_stanza_ctx *ctx,
                    void *state);

#endif
