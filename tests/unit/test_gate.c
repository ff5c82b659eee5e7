/* tests/unit/test_gate.c: the subscription gate's pure decision
 * (reputation/gate.h): names, how each flag result is read, every step of
 * the decision in its order and at its boundaries, each no-flag and
 * invalid-flag policy, an exhaustive sweep of flag results and policies
 * for the invariants, and the points a valid flag is worth. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reputation/gate.h"

#include <math.h>
#include <string.h>

/* The documented defaults (docs/reputation.md, "Subscription gate"). */
static struct xs_gate_policy
pol_defaults(void)
{
    return (struct xs_gate_policy){
        .enabled = true, .reject_below = -10, .domain_reject_below = -40,
        .min_flag_trust = 20, .no_flag = XS_GATE_NOFLAG_SCORE,
        .invalid_flag = XS_GATE_INVALID_REJECT,
        .action = XS_GATE_ACT_UNSUBSCRIBED, .audit_deliveries = true,
    };
}

static struct xs_rep_score
score(int s)
{
    return (struct xs_rep_score){ .score = s, .level = XS_REP_UNKNOWN };
}

/* An input for pol: a stranger with no flag, unknown everywhere. */
static struct xs_gate_input
in_for(const struct xs_gate_policy *pol)
{
    return (struct xs_gate_input){
        .policy = pol, .flag = XS_FLAG_ABSENT, .trust = -1,
        .sender = score(0), .domain = score(0), .is_contact = false,
    };
}

static void
expect(const struct xs_gate_input *in, enum xs_gate_decision d,
    enum xs_gate_reason r)
{
    struct xs_gate_outcome o = xs_gate_decide(in);

    if (o.decision != d || o.reason != r)
        fail_msg("flag=%s trust=%d sender=%d domain=%d contact=%d: got "
            "%s/%s, want %s/%s", xs_flag_result_name(in->flag), in->trust,
            in->sender.score, in->domain.score, in->is_contact,
            xs_gate_decision_name(o.decision), xs_gate_reason_name(o.reason),
            xs_gate_decision_name(d), xs_gate_reason_name(r));
}

static void
names(void **state)
{
    (void)state;
    assert_string_equal(xs_gate_decision_name(XS_GATE_DELIVER), "deliver");
    assert_string_equal(xs_gate_decision_name(XS_GATE_REJECT), "reject");
    assert_null(xs_gate_decision_name(XS_GATE_DECISION__COUNT));
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_OK), "ok");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_CONTACT), "contact");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_DISABLED),
        "gate_disabled");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_SCORE_BELOW),
        "score_below");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_DOMAIN_BELOW),
        "domain_below");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_FLAG_LOW_TRUST),
        "flag_low_trust");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_FLAG_INVALID),
        "flag_invalid");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_NO_FLAG_REJECTED),
        "no_flag_rejected");
    assert_string_equal(xs_gate_reason_name(XS_GATE_R_BLOCKED), "blocked");
    assert_null(xs_gate_reason_name(XS_GATE_R__COUNT));
    assert_null(xs_gate_reason_name((enum xs_gate_reason)-1));
    for (int r = 0; r < XS_GATE_R__COUNT; r++)
        assert_non_null(xs_gate_reason_name((enum xs_gate_reason)r));
}

static void
flag_classes(void **state)
{
    (void)state;
    assert_int_equal(xs_gate_flag_class(XS_FLAG_OK), XS_GATE_FLAG_VALID);
    /* Nobody's fault: treated as no flag. */
    assert_int_equal(xs_gate_flag_class(XS_FLAG_ABSENT), XS_GATE_FLAG_NONE);
    assert_int_equal(xs_gate_flag_class(XS_FLAG_UNSUPPORTED),
        XS_GATE_FLAG_NONE);
    assert_int_equal(xs_gate_flag_class(XS_FLAG_UNKNOWN_KEY),
        XS_GATE_FLAG_NONE);
    assert_int_equal(xs_gate_flag_class(XS_FLAG_REPLAY_FULL),
        XS_GATE_FLAG_NONE);
    /* Stale flags are refused like replayed ones. */
    assert_int_equal(xs_gate_flag_class(XS_FLAG_EXPIRED),
        XS_GATE_FLAG_INVALID);
    assert_int_equal(xs_gate_flag_class(XS_FLAG_NOT_YET_VALID),
        XS_GATE_FLAG_INVALID);
    /* Everything that blames the issuer is invalid. */
    for (int r = 0; r < XS_FLAG__COUNT; r++) {
        if (xs_flag_result_blames_issuer((enum xs_flag_result)r))
            assert_int_equal(xs_gate_flag_class((enum xs_flag_result)r),
                XS_GATE_FLAG_INVALID);
    }
    assert_int_equal(xs_gate_flag_class(XS_FLAG_REPLAYED),
        XS_GATE_FLAG_INVALID);
    assert_int_equal(xs_gate_flag_class(XS_FLAG_BAD_SIGNATURE),
        XS_GATE_FLAG_INVALID);
    assert_int_equal(xs_gate_flag_class(XS_FLAG_MALFORMED),
        XS_GATE_FLAG_INVALID);
    assert_int_equal(xs_gate_flag_class((enum xs_flag_result)XS_FLAG__COUNT),
        XS_GATE_FLAG_INVALID);
}

/* The defaults deliver an ordinary Prosody or ejabberd user: no flag,
 * nothing known about it or its domain. */
static void
defaults_keep_federation(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.flag = XS_FLAG_UNKNOWN_KEY;      /* discovery failed */
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.flag = XS_FLAG_UNSUPPORTED;      /* a later version */
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.flag = XS_FLAG_REPLAY_FULL;      /* our own limit */
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    /* A valid flag with middling trust from an unknown domain. */
    in.flag = XS_FLAG_OK;
    in.trust = 52;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
}

static void
disabled_delivers_everything(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    pol.enabled = false;
    pol.no_flag = XS_GATE_NOFLAG_REJECT;
    in.sender = score(-100);
    in.domain = score(-100);
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_DISABLED);
    in.flag = XS_FLAG_BAD_SIGNATURE;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_DISABLED);
    in.flag = XS_FLAG_OK;
    in.trust = 0;
    in.is_contact = true;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_DISABLED);
}

static void
contact_always_delivered(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    in.is_contact = true;
    in.sender = score(-100);
    in.domain = score(-100);
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_CONTACT);
    in.flag = XS_FLAG_REPLAYED;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_CONTACT);
    in.flag = XS_FLAG_OK;
    in.trust = 0;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_CONTACT);
    pol.no_flag = XS_GATE_NOFLAG_REJECT;
    in.flag = XS_FLAG_ABSENT;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_CONTACT);
}

static void
invalid_flags_rejected(void **state)
{
    static const enum xs_flag_result bad[] = {
        XS_FLAG_MALFORMED, XS_FLAG_WRONG_ISSUER, XS_FLAG_WRONG_RECIPIENT,
        XS_FLAG_WRONG_SENDER, XS_FLAG_TOO_LONG, XS_FLAG_NOT_YET_VALID,
        XS_FLAG_EXPIRED, XS_FLAG_REPLAYED, XS_FLAG_KEY_NOT_VALID,
        XS_FLAG_BAD_SIGNATURE,
    };
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    /* Whatever the scores: a trusted sender's forged flag is refused. */
    in.sender = score(90);
    in.domain = score(90);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        in.flag = bad[i];
        expect(&in, XS_GATE_REJECT, XS_GATE_R_FLAG_INVALID);
    }
    /* Before the domain check: the flag is the reason given. */
    in.flag = XS_FLAG_BAD_SIGNATURE;
    in.domain = score(-100);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_FLAG_INVALID);
}

static void
invalid_flags_judged_by_score(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    pol.invalid_flag = XS_GATE_INVALID_SCORE;
    /* The no-flag policy does not apply: the scores judge. */
    pol.no_flag = XS_GATE_NOFLAG_REJECT;
    in.flag = XS_FLAG_EXPIRED;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.flag = XS_FLAG_WRONG_RECIPIENT;
    in.sender = score(-11);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_SCORE_BELOW);
    in.domain = score(-41);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_DOMAIN_BELOW);
}

static void
low_trust_rejected(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    in.flag = XS_FLAG_OK;
    in.sender = score(50);
    in.domain = score(50);
    in.trust = 19;
    expect(&in, XS_GATE_REJECT, XS_GATE_R_FLAG_LOW_TRUST);
    in.trust = 0;
    expect(&in, XS_GATE_REJECT, XS_GATE_R_FLAG_LOW_TRUST);
    /* The boundary is "below". */
    in.trust = 20;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.trust = 100;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    /* A flag that states no trust: the scores judge. */
    in.trust = -1;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.sender = score(-20);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_SCORE_BELOW);
    /* Low trust comes before the domain check. */
    in.trust = 10;
    in.domain = score(-90);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_FLAG_LOW_TRUST);
    /* min_flag_trust 0 turns the check off. */
    pol.min_flag_trust = 0;
    in.trust = 0;
    in.sender = score(0);
    in.domain = score(0);
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
}

static void
valid_flag_still_needs_scores(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    in.flag = XS_FLAG_OK;
    in.trust = 90;
    in.domain = score(-41);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_DOMAIN_BELOW);
    in.domain = score(0);
    in.sender = score(-11);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_SCORE_BELOW);
}

static void
score_boundaries(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    in.sender = score(-10);     /* at the threshold: not below */
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.sender = score(-11);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_SCORE_BELOW);
    in.sender = score(0);
    in.domain = score(-40);
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.domain = score(-41);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_DOMAIN_BELOW);
    /* Both below: the domain is named (it decided first). */
    in.sender = score(-100);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_DOMAIN_BELOW);
    /* A fractional threshold: -10.5 rejects -11, not -10. */
    pol.reject_below = -10.5;
    in.domain = score(0);
    in.sender = score(-10);
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    in.sender = score(-11);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_SCORE_BELOW);
    /* A threshold of -101 rejects nobody. */
    pol.reject_below = -101;
    pol.domain_reject_below = -101;
    in.sender = score(-100);
    in.domain = score(-100);
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
}

static void
no_flag_policies(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    pol.no_flag = XS_GATE_NOFLAG_REJECT;
    in.sender = score(90);
    in.domain = score(90);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_NO_FLAG_REJECTED);
    in.flag = XS_FLAG_UNKNOWN_KEY;
    expect(&in, XS_GATE_REJECT, XS_GATE_R_NO_FLAG_REJECTED);
    /* A valid flag is not subject to the no-flag policy. */
    in.flag = XS_FLAG_OK;
    in.trust = 70;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);

    pol.no_flag = XS_GATE_NOFLAG_DELIVER;
    in.flag = XS_FLAG_ABSENT;
    in.trust = -1;
    in.sender = score(-100);
    in.domain = score(-100);
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_OK);
    /* ... but an invalid flag is still refused. */
    in.flag = XS_FLAG_REPLAYED;
    expect(&in, XS_GATE_REJECT, XS_GATE_R_FLAG_INVALID);

    pol.no_flag = XS_GATE_NOFLAG_SCORE;
    in.flag = XS_FLAG_ABSENT;
    expect(&in, XS_GATE_REJECT, XS_GATE_R_DOMAIN_BELOW);
    in.domain = score(0);
    expect(&in, XS_GATE_REJECT, XS_GATE_R_SCORE_BELOW);
}

/* Every flag result under every policy: the invariants of the order. */
static void
sweep(void **state)
{
    static const int scores[] = { -100, -41, -40, -11, -10, 0, 50, 100 };
    static const int trusts[] = { -1, 0, 19, 20, 50, 100 };
    const size_t ns = sizeof(scores) / sizeof(scores[0]);
    const size_t nt = sizeof(trusts) / sizeof(trusts[0]);
    size_t n = 0;

    (void)state;
    for (int nf = 0; nf < 3; nf++)
    for (int inv = 0; inv < 2; inv++)
    for (int f = 0; f < XS_FLAG__COUNT; f++)
    for (size_t t = 0; t < nt; t++)
    for (size_t si = 0; si < ns; si++)
    for (size_t di = 0; di < ns; di++) {
        struct xs_gate_policy pol = pol_defaults();
        struct xs_gate_input in = in_for(&pol);
        struct xs_gate_outcome o;
        enum xs_gate_flag_class cls;

        pol.no_flag = (enum xs_gate_no_flag)nf;
        pol.invalid_flag = (enum xs_gate_invalid)inv;
        in.flag = (enum xs_flag_result)f;
        in.trust = trusts[t];
        in.sender = score(scores[si]);
        in.domain = score(scores[di]);
        cls = xs_gate_flag_class(in.flag);
        o = xs_gate_decide(&in);
        n++;
        /* Delivering reasons and rejecting reasons never mix. */
        if (o.decision == XS_GATE_DELIVER)
            assert_true(o.reason == XS_GATE_R_OK);
        else
            assert_true(o.reason != XS_GATE_R_OK &&
                o.reason != XS_GATE_R_CONTACT &&
                o.reason != XS_GATE_R_DISABLED);
        /* Each reason only where its cause is. */
        if (o.reason == XS_GATE_R_FLAG_INVALID)
            assert_true(cls == XS_GATE_FLAG_INVALID &&
                pol.invalid_flag == XS_GATE_INVALID_REJECT);
        if (cls == XS_GATE_FLAG_INVALID &&
            pol.invalid_flag == XS_GATE_INVALID_REJECT)
            assert_int_equal(o.reason, XS_GATE_R_FLAG_INVALID);
        if (o.reason == XS_GATE_R_FLAG_LOW_TRUST)
            assert_true(cls == XS_GATE_FLAG_VALID && in.trust >= 0 &&
                in.trust < pol.min_flag_trust);
        if (o.reason == XS_GATE_R_NO_FLAG_REJECTED)
            assert_true(cls == XS_GATE_FLAG_NONE &&
                pol.no_flag == XS_GATE_NOFLAG_REJECT);
        if (o.reason == XS_GATE_R_DOMAIN_BELOW)
            assert_true(in.domain.score < pol.domain_reject_below);
        if (o.reason == XS_GATE_R_SCORE_BELOW)
            assert_true(in.sender.score < pol.reject_below &&
                in.domain.score >= pol.domain_reject_below);
        /* Good scores and no flag trouble always deliver. */
        if (in.sender.score >= pol.reject_below &&
            in.domain.score >= pol.domain_reject_below &&
            (cls == XS_GATE_FLAG_VALID ? in.trust < 0 ||
                in.trust >= pol.min_flag_trust
             : cls == XS_GATE_FLAG_NONE ? pol.no_flag !=
                XS_GATE_NOFLAG_REJECT
             : pol.invalid_flag == XS_GATE_INVALID_SCORE))
            assert_int_equal(o.decision, XS_GATE_DELIVER);
        /* And a contact, always. */
        in.is_contact = true;
        o = xs_gate_decide(&in);
        assert_int_equal(o.decision, XS_GATE_DELIVER);
        assert_int_equal(o.reason, XS_GATE_R_CONTACT);        /* Unless the recipient blocks it: whatever the flag and the
         * scores say. */
        in.is_blocked = true;
        o = xs_gate_decide(&in);
        assert_int_equal(o.decision, XS_GATE_REJECT);
        assert_int_equal(o.reason, XS_GATE_R_BLOCKED);
    }
    assert_true(n > 10000);
}

/* The recipient's block list decides before anything else the gate
 * knows, contacts included; a disabled gate leaves it to the blocking
 * module. */
static void
blocked_rejected(void **state)
{
    struct xs_gate_policy pol = pol_defaults();
    struct xs_gate_input in = in_for(&pol);

    (void)state;
    in.is_blocked = true;
    expect(&in, XS_GATE_REJECT, XS_GATE_R_BLOCKED);
    in.flag = XS_FLAG_OK;
    in.trust = 100;
    in.sender = score(100);
    in.is_contact = true;
    expect(&in, XS_GATE_REJECT, XS_GATE_R_BLOCKED);
    pol.enabled = false;
    expect(&in, XS_GATE_DELIVER, XS_GATE_R_DISABLED);
}

static void
flag_points(void **state)
{
    (void)state;
    /* Neutral at 50. */
    assert_true(fabs(xs_gate_flag_points(20, 50, 0)) < 1e-9);
    /* An unknown domain's flag counts half. */
    assert_true(fabs(xs_gate_flag_points(20, 100, 0) - 10) < 1e-9);
    assert_true(fabs(xs_gate_flag_points(20, 0, 0) + 10) < 1e-9);
    /* A domain at 50 or more: in full (clamped at 1). */
    assert_true(fabs(xs_gate_flag_points(20, 100, 50) - 20) < 1e-9);
    assert_true(fabs(xs_gate_flag_points(20, 100, 100) - 20) < 1e-9);
    assert_true(fabs(xs_gate_flag_points(20, 0, 80) + 20) < 1e-9);
    /* A suspicious domain's for little, a bad one's for nothing. */
    assert_true(fabs(xs_gate_flag_points(20, 100, -30) - 4) < 1e-9);
    assert_true(fabs(xs_gate_flag_points(20, 100, -50)) < 1e-9);
    assert_true(fabs(xs_gate_flag_points(20, 0, -100)) < 1e-9);
    /* Proportional in between. */
    assert_true(fabs(xs_gate_flag_points(20, 75, 0) - 5) < 1e-9);
    assert_true(fabs(xs_gate_flag_points(10, 10, 25) + 6) < 1e-9);
    /* No stated trust: nothing; out of range is clamped. */
    assert_true(fabs(xs_gate_flag_points(20, -1, 100)) < 1e-9);
    assert_true(fabs(xs_gate_flag_points(20, 1000, 100) - 20) < 1e-9);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(names),
        cmocka_unit_test(flag_classes),
        cmocka_unit_test(defaults_keep_federation),
        cmocka_unit_test(disabled_delivers_everything),
        cmocka_unit_test(contact_always_delivered),
        cmocka_unit_test(blocked_rejected),
        cmocka_unit_test(invalid_flags_rejected),
        cmocka_unit_test(invalid_flags_judged_by_score),
        cmocka_unit_test(low_trust_rejected),
        cmocka_unit_test(valid_flag_still_needs_scores),
        cmocka_unit_test(score_boundaries),
        cmocka_unit_test(no_flag_policies),
        cmocka_unit_test(sweep),
        cmocka_unit_test(flag_points),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
