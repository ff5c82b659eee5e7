/*
 * gate.h: the subscription gate (mod_gate, gate.c): for each inbound
 * <presence type='subscribe'/> from a remote JID to a local account, deliver
 * it or reject it, from the trust flag, the sender's and its domain's scores
 * and whether the recipient already knows the sender; and record why
 * (audit.h).  docs/reputation.md, "Subscription gate", is the operator's
 * side.
 *
 * This header is mostly the pure part: the decision itself, no I/O, so
 * unit tests and benches drive it directly; and the pieces of the hook's
 * record of a decision (its evidence item, its audit entry), so that the
 * gate's latency bench (tests/bench/trust/gatelat.c) runs the same code.
 * Options are mod_reputation's (policy.h, struct xs_gate_policy).
 */
#ifndef XMPPD_REPUTATION_GATE_H
#define XMPPD_REPUTATION_GATE_H

#include "reputation/engine.h"
#include "reputation/flag.h"

enum xs_gate_decision {
    XS_GATE_DELIVER,
    XS_GATE_REJECT,
    XS_GATE_DECISION__COUNT
};

/* Why; the names are the audit's and the metrics' reason tokens, so they
 * never change once shipped. */
enum xs_gate_reason {
    XS_GATE_R_OK,               /* "ok": nothing against it */
    XS_GATE_R_CONTACT,          /* "contact": the recipient already has
                                   the sender (or asked it first) */
    XS_GATE_R_DISABLED,         /* "gate_disabled" */
    XS_GATE_R_SCORE_BELOW,      /* "score_below": sender < reject_below */
    XS_GATE_R_DOMAIN_BELOW,     /* "domain_below": its domain <
                                   domain_reject_below */
    XS_GATE_R_FLAG_LOW_TRUST,   /* "flag_low_trust": a valid flag whose
                                   trust < min_flag_trust */
    XS_GATE_R_FLAG_INVALID,     /* "flag_invalid": a refused flag */
    XS_GATE_R_NO_FLAG_REJECTED, /* "no_flag_rejected": no flag, and
                                   no_flag is reject */
    XS_GATE_R_BLOCKED,          /* "blocked": the recipient blocks the
                                   sender (XEP-0191); always silent */
    XS_GATE_R__COUNT
};

/* How the gate reads a flag's verification result. */
enum xs_gate_flag_class {
    XS_GATE_FLAG_VALID,     /* OK */
    XS_GATE_FLAG_NONE,      /* no usable flag, nobody's fault: ABSENT,
                               UNSUPPORTED, UNKNOWN_KEY (discovery may have
                               failed), REPLAY_FULL (our own limit) */
    XS_GATE_FLAG_INVALID,   /* refused: every result that blames the
                               issuer, and the clock results EXPIRED and
                               NOT_YET_VALID (a stale flag is refused like
                               a replayed one, but is not held against the
                               issuing domain) */
};

/* "deliver", "reject"; NULL out of range. */
const char *xs_gate_decision_name(enum xs_gate_decision d);
/* "ok", "score_below", ...; NULL out of range. */
const char *xs_gate_reason_name(enum xs_gate_reason r);
enum xs_gate_flag_class xs_gate_flag_class(enum xs_flag_result r);

/* Everything the decision looks at. */
struct xs_gate_input {
    const struct xs_gate_policy *policy;    /* borrowed */
    enum xs_flag_result flag;       /* the flag's verification result */
    int                 trust;      /* a valid flag's trust, 0..100; -1
                                       when it states none */
    struct xs_rep_score sender;     /* the sender's bare JID, now */
    struct xs_rep_score domain;     /* its domain, now */
    bool                is_contact; /* the recipient already has it */
    bool                is_blocked; /* the recipient blocks the sender */
};

struct xs_gate_outcome {
    enum xs_gate_decision decision;
    enum xs_gate_reason   reason;
};

/*
 * The decision, first match wins:
 *  1. gate disabled                                -> deliver gate_disabled
 *  2. a contact of the recipient                   -> deliver contact
 *  3. an invalid flag, invalid_flag reject         -> reject flag_invalid
 *     (invalid_flag score: judged by the scores below, step 6)
 *  4. a valid flag stating trust < min_flag_trust  -> reject flag_low_trust
 *  5. no flag: no_flag reject                      -> reject no_flag_rejected
 *              no_flag deliver                     -> deliver ok
 *              no_flag score                       -> step 6
 *  6. domain score < domain_reject_below           -> reject domain_below
 *     sender score < reject_below                  -> reject score_below
 *  7.                                              -> deliver ok
 */
struct xs_gate_outcome xs_gate_decide(const struct xs_gate_input *in);

/*
 * The points a valid flag is worth as evidence about its sender:
 * flag_weight * (trust - 50) / 50 * clamp(0.5 + domain_score / 100, 0, 1).
 * Trust 50 is neutral; the factor makes an unknown domain's flag (score 0)
 * count half, a trusted domain's (50 and up) in full, and a domain at -50
 * or below not at all: a domain's word is worth what the domain is.
 * trust < 0 (not stated): 0.
 */
double xs_gate_flag_points(double flag_weight, int trust,
           int domain_score);

/* ---- what the hook (gate.c) records; benches call these too ---- */

struct xs_trust_check;      /* trust.h */

/* A flag's item about its sender is submitted only from this many points
 * (either way): trust 50 is neutral, and a worthless domain's word is
 * worth nothing. */
#define XS_GATE_POINTS_MIN      0.01
/* Bytes of a trust_flag item's note ("trust N, key ID"). */
#define XS_GATE_NOTE_MAX        128
/* Lines of the sender's explanation kept in an audit entry. */
#define XS_GATE_AUDIT_LINES_MAX 20

/*
 * The trust_flag item a valid flag c (one that states a trust) is worth
 * about its sender: points from xs_gate_flag_points, from the system on
 * the issuer's word (source: the issuer), at now, with the note
 * "trust N, key ID" written into note (XS_GATE_NOTE_MAX bytes).  The item
 * borrows sender, c's strings and note.  The hook submits it at most once
 * per (sender, issuer) per ten minutes.
 */
struct xs_evidence xs_gate_flag_item(const struct xs_trust_check *c,
                       const char *sender, double points, int64_t now,
                       char *note, size_t note_len);

/* One decision, as its audit entry records it. */
struct xs_gate_audit_in {
    const char                  *sender;    /* borrowed: bare JID */
    const char                  *recipient; /* borrowed: our account */
    const char                  *domain;    /* borrowed: the sender's */
    const struct xs_trust_check *check;     /* borrowed: the flag's
                                               check; NULL when none ran
                                               (a contact's request) */
    struct xs_gate_outcome       outcome;
    int                          sender_score;
    int                          domain_score;
};

/*
 * Queue the audit entry of one decision (xs_audit_record): the
 * explanation is the sender's evidence lines in r (strongest first, at
 * most XS_GATE_AUDIT_LINES_MAX; none when r is NULL), the flag's line,
 * and for domain_below the domain's lines, each naming the domain.
 * What xs_audit_record returns (XS_OK: queued).
 */
xs_rc xs_gate_audit(struct xs_rep *r, const struct xs_gate_audit_in *a,
          int64_t now);

#endif
