/*
 * evidence.h: what the reputation engine knows about a subject, as items.
 *
 * An item says: about SUBJECT (a prepared bare JID or a domain), KIND of
 * thing happened, worth WEIGHT points when it happened, said by SOURCE (a
 * local user's bare JID, an operator, the server itself, later a buddy
 * server), AT a wall-clock time.  Its contribution decays with the kind's
 * half-life: weight * 2^(-age / half_life).
 *
 * Kinds are a closed list (their names are stored in PostgreSQL and
 * shown to operators, so they never change once shipped); a new evidence
 * source (trust flags, buddy incidents) adds its kinds at the end.
 */
#ifndef XMPPD_REPUTATION_EVIDENCE_H
#define XMPPD_REPUTATION_EVIDENCE_H

#include "xmppd/core/xs.h"

enum xs_evk {
    XS_EVK_BLOCK,           /* a local user blocked the subject (XEP-0191) */
    XS_EVK_REPORT_SPAM,     /* ... and reported it as spam (XEP-0377) */
    XS_EVK_REPORT_ABUSE,    /* ... as abuse, or with another reason */
    XS_EVK_SUB_REFUSED,     /* a local user refused the subject's
                               subscription request (remote subjects) */
    XS_EVK_CONVERSED,       /* a local user wrote to the subject (remote
                               subjects): someone talks to it */
    XS_EVK_RATE_LIMITED,    /* the server throttled the subject's stream */
    XS_EVK_S2S_REFUSED,     /* a stream with the domain was refused
                               (failed authentication, policy) */
    XS_EVK_CAPTCHA_PASSED,  /* passed a CAPTCHA at registration */
    XS_EVK_OPERATOR,        /* an operator's note with a weight */
    XS_EVK_TRUST_FLAG,      /* the subject's home server vouched for it
                               with a valid signed flag (issue 6): weight
                               from the flag's trust, scaled by the
                               issuing domain's standing; "trust_flag" */
    XS_EVK_FLAG_INVALID,    /* a forged, altered, misaddressed or replayed
                               flag came over the subject domain's
                               authenticated stream; "flag_invalid" */
    XS_EVK__COUNT
};

/* Who said it.  Stored by name ("user", "admin", "system", "buddy"). */
enum xs_evsrc {
    XS_EVSRC_USER,          /* a local account: source is its bare JID */
    XS_EVSRC_ADMIN,         /* an operator: source names them */
    XS_EVSRC_SYSTEM,        /* the server itself: source says what part */
    XS_EVSRC_BUDDY,         /* a buddy server (issue 7): its domain */
    XS_EVSRC__COUNT
};

/* "block", "report_spam", ...; NULL for an out-of-range value. */
const char *xs_evk_name(enum xs_evk k);
const char *xs_evsrc_name(enum xs_evsrc s);
/* By name; XS_ENOTFOUND for a name that is not a kind / source. */
xs_rc xs_evk_from_name(const char *name, enum xs_evk *out);
xs_rc xs_evsrc_from_name(const char *name, enum xs_evsrc *out);

/*
 * One item.  Strings are borrowed in arguments and owned (copied) inside
 * the engine.  weight is what the item was worth when it was recorded
 * (already scaled by the reporter's standing for user evidence); note is
 * a short operator-readable text ("reason: spam", "shaper c2s"), never a
 * message body, or NULL.
 */
struct xs_evidence {
    int64_t       id;       /* database id; 0 until stored */
    const char   *subject;
    enum xs_evk   kind;
    double        weight;
    enum xs_evsrc src;
    const char   *source;
    int64_t       at;       /* wall seconds (xs_wall_s()) */
    const char   *note;
};

/* Whether the source gives an item's weight (operator notes, trust
 * flags) rather than the policy's weight of its kind. */
bool xs_evk_weight_is_given(enum xs_evk k);

/* weight * 2^(-(now - at) / half_life_s); the weight itself when
 * half_life_s is 0 (no decay) or the item is from the future. */
double xs_evidence_decay(double weight, int64_t at, int64_t now,
    int64_t half_life_s);

#endif
