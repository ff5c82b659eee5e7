/*
 * tests/unit/test_subscription.c: the subscription state machine against
 * every row of RFC 6121 Appendix A (A.2 outbound, A.3 inbound) and the
 * pre-approval rules of 3.4.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/im/subscription.h"

#include <stdio.h>

/* The nine states of Appendix A, in its order. */
enum st { N, N_PO, N_PI, N_PO_PI, T, T_PI, F, F_PO, B, ST__COUNT };

static const struct xs_sub_state states[ST__COUNT] = {
    [N]       = { XS_SUB_NONE, false, false, false },
    [N_PO]    = { XS_SUB_NONE, true,  false, false },
    [N_PI]    = { XS_SUB_NONE, false, true,  false },
    [N_PO_PI] = { XS_SUB_NONE, true,  true,  false },
    [T]       = { XS_SUB_TO,   false, false, false },
    [T_PI]    = { XS_SUB_TO,   false, true,  false },
    [F]       = { XS_SUB_FROM, false, false, false },
    [F_PO]    = { XS_SUB_FROM, true,  false, false },
    [B]       = { XS_SUB_BOTH, false, false, false },
};

static const char *const state_names[ST__COUNT] = {
    "None", "None+PendingOut", "None+PendingIn", "None+PendingOut+In",
    "To", "To+PendingIn", "From", "From+PendingOut", "Both",
};

/* One table: for each existing state, the new state and whether the
 * stanza goes on (route for outbound, deliver for inbound). */
struct row {
    enum st next;
    bool    goes_on;
};

static void
check_table(enum xs_sub_dir dir, enum xs_sub_type type,
    const struct row rows[ST__COUNT], bool preapproval)
{
    unsigned on = dir == XS_SUB_OUTBOUND ? XS_SUBA_ROUTE : XS_SUBA_DELIVER;

    for (int i = 0; i < ST__COUNT; i++) {
        struct xs_sub_state st = states[i];
        const struct xs_sub_state *want = &states[rows[i].next];
        unsigned act = xs_sub_apply(&st, dir, type, preapproval);

        if (st.sub != want->sub || st.ask_out != want->ask_out ||
            st.ask_in != want->ask_in || !!(act & on) != rows[i].goes_on) {
            print_error("%s %s from %s: got sub=%s out=%d in=%d on=%d, "
                "want %s on=%d\n", dir == XS_SUB_OUTBOUND ? "outbound" :
                "inbound", xs_sub_type_name(type), state_names[i],
                xs_sub_name(st.sub), st.ask_out, st.ask_in, !!(act & on),
                state_names[rows[i].next], rows[i].goes_on);
            fail();
        }
        /* CHANGED exactly when the state moved. */
        assert_int_equal(!!(act & XS_SUBA_CHANGED), (int)rows[i].next != i);
    }
}

/* A.2.1: outbound subscribe; always routed (3.1.2). */
static void
outbound_subscribe(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N_PO, true }, [N_PO] = { N_PO, true },
        [N_PI] = { N_PO_PI, true }, [N_PO_PI] = { N_PO_PI, true },
        [T] = { T, true }, [T_PI] = { T_PI, true },
        [F] = { F_PO, true }, [F_PO] = { F_PO, true }, [B] = { B, true },
    };

    (void)state;
    check_table(XS_SUB_OUTBOUND, XS_SUBT_SUBSCRIBE, rows, true);
}

/* A.2.2: outbound unsubscribe; always routed. */
static void
outbound_unsubscribe(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N, true }, [N_PO] = { N, true },
        [N_PI] = { N_PI, true }, [N_PO_PI] = { N_PI, true },
        [T] = { N, true }, [T_PI] = { N_PI, true },
        [F] = { F, true }, [F_PO] = { F, true }, [B] = { F, true },
    };

    (void)state;
    check_table(XS_SUB_OUTBOUND, XS_SUBT_UNSUBSCRIBE, rows, true);
}

/* A.2.3: outbound subscribed; routed only when it approves something. */
static void
outbound_subscribed(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N, false }, [N_PO] = { N_PO, false },
        [N_PI] = { F, true }, [N_PO_PI] = { F_PO, true },
        [T] = { T, false }, [T_PI] = { B, true },
        [F] = { F, false }, [F_PO] = { F_PO, false }, [B] = { B, false },
    };

    (void)state;
    check_table(XS_SUB_OUTBOUND, XS_SUBT_SUBSCRIBED, rows, false);
}

/* A.2.4: outbound unsubscribed. */
static void
outbound_unsubscribed(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N, false }, [N_PO] = { N_PO, false },
        [N_PI] = { N, true }, [N_PO_PI] = { N_PO, true },
        [T] = { T, false }, [T_PI] = { T, true },
        [F] = { N, true }, [F_PO] = { N_PO, true }, [B] = { T, true },
    };

    (void)state;
    check_table(XS_SUB_OUTBOUND, XS_SUBT_UNSUBSCRIBED, rows, true);
}

/* A.3.1: inbound subscribe; From/Both answer for the owner instead. */
static void
inbound_subscribe(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N_PI, true }, [N_PO] = { N_PO_PI, true },
        [N_PI] = { N_PI, false }, [N_PO_PI] = { N_PO_PI, false },
        [T] = { T_PI, true }, [T_PI] = { T_PI, false },
        [F] = { F, false }, [F_PO] = { F_PO, false }, [B] = { B, false },
    };
    struct xs_sub_state st = states[B];

    (void)state;
    check_table(XS_SUB_INBOUND, XS_SUBT_SUBSCRIBE, rows, true);
    assert_true(xs_sub_apply(&st, XS_SUB_INBOUND, XS_SUBT_SUBSCRIBE, true)
        & XS_SUBA_AUTOREPLY);
    st = states[N];
    assert_false(xs_sub_apply(&st, XS_SUB_INBOUND, XS_SUBT_SUBSCRIBE, true)
        & (XS_SUBA_AUTOREPLY | XS_SUBA_PUSH));   /* 3.1.3: no push */
}

/* A.3.2: inbound unsubscribe. */
static void
inbound_unsubscribe(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N, false }, [N_PO] = { N_PO, false },
        [N_PI] = { N, true }, [N_PO_PI] = { N_PO, true },
        [T] = { T, false }, [T_PI] = { T, true },
        [F] = { N, true }, [F_PO] = { N_PO, true }, [B] = { T, true },
    };
    struct xs_sub_state st = states[B];

    (void)state;
    check_table(XS_SUB_INBOUND, XS_SUBT_UNSUBSCRIBE, rows, true);
    /* 3.3.3: the contact stops seeing the owner. */
    assert_true(xs_sub_apply(&st, XS_SUB_INBOUND, XS_SUBT_UNSUBSCRIBE, true)
        & XS_SUBA_SEND_UNAVAILABLE);
}

/* A.3.3: inbound subscribed. */
static void
inbound_subscribed(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N, false }, [N_PO] = { T, true },
        [N_PI] = { N_PI, false }, [N_PO_PI] = { T_PI, true },
        [T] = { T, false }, [T_PI] = { T_PI, false },
        [F] = { F, false }, [F_PO] = { B, true }, [B] = { B, false },
    };

    (void)state;
    check_table(XS_SUB_INBOUND, XS_SUBT_SUBSCRIBED, rows, true);
}

/* A.3.4: inbound unsubscribed. */
static void
inbound_unsubscribed(void **state)
{
    static const struct row rows[ST__COUNT] = {
        [N] = { N, false }, [N_PO] = { N, true },
        [N_PI] = { N_PI, false }, [N_PO_PI] = { N_PI, true },
        [T] = { N, true }, [T_PI] = { N_PI, true },
        [F] = { F, false }, [F_PO] = { F, true }, [B] = { F, true },
    };

    (void)state;
    check_table(XS_SUB_INBOUND, XS_SUBT_UNSUBSCRIBED, rows, true);
}

/* 3.4: subscribed before any request pre-approves; the request that
 * follows is approved at once and never delivered. */
static void
preapproval_round_trip(void **state)
{
    struct xs_sub_state st = states[N];
    unsigned act;

    (void)state;
    act = xs_sub_apply(&st, XS_SUB_OUTBOUND, XS_SUBT_SUBSCRIBED, true);
    assert_true(st.approved);
    assert_true(act & XS_SUBA_PREAPPROVE);
    assert_true(act & XS_SUBA_PUSH);
    assert_false(act & XS_SUBA_ROUTE);

    act = xs_sub_apply(&st, XS_SUB_INBOUND, XS_SUBT_SUBSCRIBE, true);
    assert_int_equal(st.sub, XS_SUB_FROM);
    assert_false(st.approved);
    assert_false(st.ask_in);
    assert_true(act & XS_SUBA_AUTOREPLY);
    assert_true(act & XS_SUBA_SEND_PRESENCE);
    assert_true(act & XS_SUBA_PUSH);
    assert_false(act & XS_SUBA_DELIVER);
}

static void
preapproval_cancelled(void **state)
{
    struct xs_sub_state st = states[T];
    unsigned act;

    (void)state;
    (void)xs_sub_apply(&st, XS_SUB_OUTBOUND, XS_SUBT_SUBSCRIBED, true);
    assert_true(st.approved);
    act = xs_sub_apply(&st, XS_SUB_OUTBOUND, XS_SUBT_UNSUBSCRIBED, true);
    assert_false(st.approved);
    assert_int_equal(st.sub, XS_SUB_TO);
    assert_true(act & XS_SUBA_PUSH);
    assert_false(act & XS_SUBA_ROUTE);
    /* Without pre-approval support, nothing is remembered. */
    st = states[N];
    act = xs_sub_apply(&st, XS_SUB_OUTBOUND, XS_SUBT_SUBSCRIBED, false);
    assert_false(st.approved);
    assert_int_equal(act, 0);
}

/* Approving gives the contact the owner's presence; cancelling takes it
 * away (3.1.5, 3.2.2). */
static void
presence_follows_from(void **state)
{
    struct xs_sub_state st = states[N_PI];

    (void)state;
    assert_true(xs_sub_apply(&st, XS_SUB_OUTBOUND, XS_SUBT_SUBSCRIBED, true)
        & XS_SUBA_SEND_PRESENCE);
    assert_true(xs_sub_apply(&st, XS_SUB_OUTBOUND, XS_SUBT_UNSUBSCRIBED,
        true) & XS_SUBA_SEND_UNAVAILABLE);
}

static void
names_parse(void **state)
{
    enum xs_sub_type t;
    enum xs_sub s;

    (void)state;
    assert_true(xs_sub_type_parse("unsubscribed", &t));
    assert_int_equal(t, XS_SUBT_UNSUBSCRIBED);
    assert_false(xs_sub_type_parse("probe", &t));
    assert_false(xs_sub_type_parse(NULL, &t));
    assert_true(xs_sub_parse("both", &s));
    assert_int_equal(s, XS_SUB_BOTH);
    assert_false(xs_sub_parse("remove", &s));
    assert_string_equal(xs_sub_name(XS_SUB_FROM), "from");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(outbound_subscribe),
        cmocka_unit_test(outbound_unsubscribe),
        cmocka_unit_test(outbound_subscribed),
        cmocka_unit_test(outbound_unsubscribed),
        cmocka_unit_test(inbound_subscribe),
        cmocka_unit_test(inbound_unsubscribe),
        cmocka_unit_test(inbound_subscribed),
        cmocka_unit_test(inbound_unsubscribed),
        cmocka_unit_test(preapproval_round_trip),
        cmocka_unit_test(preapproval_cancelled),
        cmocka_unit_test(presence_follows_from),
        cmocka_unit_test(names_parse),
    };

    return cmocka_run_group_tests_name("subscription", tests, NULL, NULL);
}
