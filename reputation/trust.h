/*
 * trust.h: signed trust flags in the server (mod_trust, trust.c): our
 * domains' keys, flags on outgoing subscription requests, the egress
 * limits of our own accounts, key discovery (serving ours, fetching and
 * caching theirs, pinned keys first), and verification of inbound flags
 * for the subscription gate (gate.c).
 *
 * The wire format and the rules are docs/trust-flags.md; the pure parts
 * are flag.h, trustkey.h and replay.h.  Options are mod_reputation's
 * (policy.h, struct xs_trust_policy).
 */
#ifndef XMPPD_REPUTATION_TRUST_H
#define XMPPD_REPUTATION_TRUST_H

#include "reputation/flag.h"
#include "xmppd/xml/stanza.h"

/* An inbound flag being checked; the caller owns it (it may outlive the
 * hook: keep it with the stolen stanza while keys are fetched). */
struct xs_trust_check {
    struct xs_flag      flag;       /* parsed (valid when result is not
                                       ABSENT / MALFORMED / UNSUPPORTED) */
    enum xs_flag_result result;
    bool                key_fetched;    /* a discovery ran for it */
    const char         *why;        /* static: detail for logs and audit */
};

typedef void xs_trust_check_fn(struct xs_trust_check *c, void *ud);

/*
 * Check the flag of st, a <presence type='subscribe'/> that arrived over
 * s2s from from_bare (its domain authenticated the stream) to to_bare (a
 * local account).  Returns true when decided now (c->result set; the
 * common case: pinned or cached keys, or no flag).  Returns false when
 * the issuer's keys must be fetched first: cb(c, ud) runs later, exactly
 * once, from the loop, with c->result set (UNKNOWN_KEY when the
 * discovery failed, timed out or too many wait on that domain).  A valid
 * flag's nonce is recorded (replay) before the result is reported.
 * Never blocks.
 */
bool xs_trust_check_start(struct xs_trust_check *c,
         const struct xs_stanza *st, const char *from_bare,
         const char *to_bare, xs_trust_check_fn *cb, void *ud);

/* Forget a pending check (its stanza is gone): cb will not run. */
void xs_trust_check_cancel(struct xs_trust_check *c);

/* Counters for /metrics (trust.c writes its own families). */
struct xs_trust_stats {
    uint64_t flags_issued;
    uint64_t flags_stripped;            /* client-supplied elements */
    uint64_t checked[XS_FLAG__COUNT];   /* inbound flags by result */
    uint64_t key_fetches;
    uint64_t key_fetch_failures;
    uint64_t pinned_key_mismatches;
    uint64_t egress_refused;            /* worst level */
    uint64_t egress_limited;            /* probation per hour */
};
void xs_trust_stats(struct xs_trust_stats *out);

/* ---- Pure pieces of mod_trust, for tests/unit/test_trust.c ----
 * The <keys/> element is discovery.h's (xs_trust_keys_elem,
 * xs_trust_keys_parse), the egress window egress.h's
 * (xs_trust_egress_*). */

#endif
