/*
 * gate_decide.c: the subscription gate's decision (gate.h): pure, no I/O,
 * so that unit tests and benches link it alone.  gate.c is the module
 * around it.
 */
#include "reputation/gate.h"

static const char *const gate_decision_names[XS_GATE_DECISION__COUNT] = {
    [XS_GATE_DELIVER] = "deliver",
    [XS_GATE_REJECT]  = "reject",
};

static const char *const gate_reason_names[XS_GATE_R__COUNT] = {
    [XS_GATE_R_OK]               = "ok",
    [XS_GATE_R_CONTACT]          = "contact",
    [XS_GATE_R_DISABLED]         = "gate_disabled",
    [XS_GATE_R_SCORE_BELOW]      = "score_below",
    [XS_GATE_R_DOMAIN_BELOW]     = "domain_below",
    [XS_GATE_R_FLAG_LOW_TRUST]   = "flag_low_trust",
    [XS_GATE_R_FLAG_INVALID]     = "flag_invalid",
    [XS_GATE_R_NO_FLAG_REJECTED] = "no_flag_rejected",
    [XS_GATE_R_BLOCKED]          = "blocked",
};

const char *
xs_gate_decision_name(enum xs_gate_decision d)
{
    return (unsigned)d < XS_GATE_DECISION__COUNT ? gate_decision_names[d]
        : NULL;
}

const char *
xs_gate_reason_name(enum xs_gate_reason r)
{
    return (unsigned)r < XS_GATE_R__COUNT ? gate_reason_names[r] : NULL;
}

enum xs_gate_flag_class
xs_gate_flag_class(enum xs_flag_result r)
{
    switch (r) {
    case XS_FLAG_OK:
        return XS_GATE_FLAG_VALID;
    case XS_FLAG_ABSENT:
    case XS_FLAG_UNSUPPORTED:
    case XS_FLAG_UNKNOWN_KEY:
    case XS_FLAG_REPLAY_FULL:
        return XS_GATE_FLAG_NONE;
    case XS_FLAG_EXPIRED:
    case XS_FLAG_NOT_YET_VALID:
        /* Refused (the issue asks that expired flags be), though not
         * held against the issuer: clocks drift and queues are slow. */
        return XS_GATE_FLAG_INVALID;
    default:
        /* Every other result is the issuer's doing; an unknown value is
         * no reason to believe a flag either. */
        return XS_GATE_FLAG_INVALID;
    }
}

static struct xs_gate_outcome
gate_outcome(enum xs_gate_decision d, enum xs_gate_reason r)
{
    return (struct xs_gate_outcome){ .decision = d, .reason = r };
}

/* Step 6 of the decision: the scores. */
static struct xs_gate_outcome
gate_decide_scores(const struct xs_gate_input *in)
{
    const struct xs_gate_policy *p = in->policy;

    if ((double)in->domain.score < p->domain_reject_below)
        return gate_outcome(XS_GATE_REJECT, XS_GATE_R_DOMAIN_BELOW);
    if ((double)in->sender.score < p->reject_below)
        return gate_outcome(XS_GATE_REJECT, XS_GATE_R_SCORE_BELOW);
    return gate_outcome(XS_GATE_DELIVER, XS_GATE_R_OK);
}

struct xs_gate_outcome
xs_gate_decide(const struct xs_gate_input *in)
{
    const struct xs_gate_policy *p = in->policy;

    if (!p->enabled)
        return gate_outcome(XS_GATE_DELIVER, XS_GATE_R_DISABLED);
    /* The recipient's own block list first: a contact it blocked is
     * still blocked (XEP-0191). */
    if (in->is_blocked)
        return gate_outcome(XS_GATE_REJECT, XS_GATE_R_BLOCKED);
    if (in->is_contact)
        return gate_outcome(XS_GATE_DELIVER, XS_GATE_R_CONTACT);
    switch (xs_gate_flag_class(in->flag)) {
    case XS_GATE_FLAG_INVALID:
        if (p->invalid_flag == XS_GATE_INVALID_REJECT)
            return gate_outcome(XS_GATE_REJECT, XS_GATE_R_FLAG_INVALID);
        /* "score": the flag is ignored, the scores judge (the issuer was
         * already charged with the evidence). */
        return gate_decide_scores(in);
    case XS_GATE_FLAG_VALID:
        /* A flag that states no trust vouches only for the account's
         * existence: the scores judge. */
        if (in->trust >= 0 && in->trust < p->min_flag_trust)
            return gate_outcome(XS_GATE_REJECT, XS_GATE_R_FLAG_LOW_TRUST);
        return gate_decide_scores(in);
    case XS_GATE_FLAG_NONE:
    default:
        break;
    }
    switch (p->no_flag) {
    case XS_GATE_NOFLAG_REJECT:
        return gate_outcome(XS_GATE_REJECT, XS_GATE_R_NO_FLAG_REJECTED);
    case XS_GATE_NOFLAG_DELIVER:
        return gate_outcome(XS_GATE_DELIVER, XS_GATE_R_OK);
    case XS_GATE_NOFLAG_SCORE:
    default:
        return gate_decide_scores(in);
    }
}

double
xs_gate_flag_points(double flag_weight, int trust, int domain_score)
{
    double factor;

    if (trust < 0)
        return 0;
    if (trust > 100)
        trust = 100;
    factor = 0.5 + (double)domain_score / 100.0;
    factor = factor < 0 ? 0 : factor > 1 ? 1 : factor;
    return flag_weight * (double)(trust - 50) / 50.0 * factor;
}
