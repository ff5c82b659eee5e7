/* tests/unit/test_hooks.c: hook order, verdicts, owners, IQ dispatch. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "xmppd/core/hooks.h"
#include "xmppd/core/iq.h"
#include "xmppd/core/module.h"

#include <string.h>

static const struct xs_module owner_a = { .name = "a", .abi = XS_MODULE_ABI };
static const struct xs_module owner_b = { .name = "b", .abi = XS_MODULE_ABI };

static char trace[64];

static void
trace_add(char c)
{
    size_t n = strlen(trace);

    if (n + 1 < sizeof(trace)) {
        trace[n] = c;
        trace[n + 1] = '\0';
    }
}

/* mod_state carries the letter the hook writes to the trace. */
static enum xs_verdict
hook_pass(struct xs_stanza_ctx *ctx, void *state)
{
    (void)ctx;
    trace_add(*(const char *)state);
    return XS_PASS;
}

static enum xs_verdict
hook_drop(struct xs_stanza_ctx *ctx, void *state)
{
    (void)ctx;
    trace_add(*(const char *)state);
    return XS_DROP;
}

static struct xs_stanza *
message_new(void)
{
    return xs_stanza_new(xs_elem_new(XS_NS_CLIENT, "message"));
}

static int
reset(void **state)
{
    (void)state;
    xs_hook_remove_owner(&owner_a);
    xs_hook_remove_owner(&owner_b);
    xs_iq_remove_owner(&owner_a);
    xs_iq_remove_owner(&owner_b);
    trace[0] = '\0';
    return 0;
}

static void
hooks_run_by_priority_then_registration_order(void **state)
{
    static char l1 = '1', l2 = '2', l3 = '3', l4 = '4';
    struct xs_hook_spec lo = { XS_HOOK_ROUTE, XS_K_ANY, XS_PRIO_LAST,
        hook_pass };
    struct xs_hook_spec mid = { XS_HOOK_ROUTE, XS_K_ANY, XS_PRIO_DEFAULT,
        hook_pass };
    struct xs_hook_spec hi = { XS_HOOK_ROUTE, XS_K_ANY, XS_PRIO_POLICY,
        hook_pass };
    struct xs_stanza *st = message_new();
    struct xs_stanza_ctx ctx = { .st = st, .kind = st->kind };

    (void)state;
    assert_int_equal(xs_hook_add(&mid, &owner_a, &l1), XS_OK);
    assert_int_equal(xs_hook_add(&lo, &owner_a, &l2), XS_OK);
    assert_int_equal(xs_hook_add(&mid, &owner_b, &l3), XS_OK);
    assert_int_equal(xs_hook_add(&hi, &owner_b, &l4), XS_OK);
    assert_int_equal(xs_hook_run(XS_HOOK_ROUTE, &ctx), XS_PASS);
    /* 500 first, then the two 0s in registration order, then -1000. */
    assert_string_equal(trace, "4132");
    xs_stanza_unref(st);
}

static void
hooks_first_non_pass_verdict_ends_the_chain(void **state)
{
    static char l1 = '1', l2 = '2', l3 = '3';
    struct xs_hook_spec first = { XS_HOOK_C2S_IN, XS_K_ANY, 10, hook_pass };
    struct xs_hook_spec drop = { XS_HOOK_C2S_IN, XS_K_ANY, 5, hook_drop };
    struct xs_hook_spec after = { XS_HOOK_C2S_IN, XS_K_ANY, 1, hook_pass };
    struct xs_stanza *st = message_new();
    struct xs_stanza_ctx ctx = { .st = st, .kind = st->kind };

    (void)state;
    xs_hook_add(&after, &owner_a, &l3);
    xs_hook_add(&drop, &owner_a, &l2);
    xs_hook_add(&first, &owner_a, &l1);
    assert_int_equal(xs_hook_run(XS_HOOK_C2S_IN, &ctx), XS_DROP);
    assert_string_equal(trace, "12");
    xs_stanza_unref(st);
}

static void
hooks_skip_other_kinds(void **state)
{
    static char l1 = '1', l2 = '2';
    struct xs_hook_spec iq_only = { XS_HOOK_DELIVER, XS_K_IQ, 0, hook_drop };
    struct xs_hook_spec msg = { XS_HOOK_DELIVER, XS_K_MESSAGE, 0, hook_pass };
    struct xs_stanza *st = message_new();
    struct xs_stanza_ctx ctx = { .st = st, .kind = st->kind };

    (void)state;
    xs_hook_add(&iq_only, &owner_a, &l1);
    xs_hook_add(&msg, &owner_a, &l2);
    assert_int_equal(xs_hook_run(XS_HOOK_DELIVER, &ctx), XS_PASS);
    assert_string_equal(trace, "2");
    xs_stanza_unref(st);
}

static void
hooks_removed_by_owner_only(void **state)
{
    static char l1 = '1', l2 = '2';
    struct xs_hook_spec h = { XS_HOOK_ROUTE, XS_K_ANY, 0, hook_pass };
    struct xs_stanza *st = message_new();
    struct xs_stanza_ctx ctx = { .st = st, .kind = st->kind };

    (void)state;
    xs_hook_add(&h, &owner_a, &l1);
    xs_hook_add(&h, &owner_b, &l2);
    xs_hook_remove_owner(&owner_a);
    xs_hook_run(XS_HOOK_ROUTE, &ctx);
    assert_string_equal(trace, "2");
    xs_stanza_unref(st);
}

static void
hooks_refuse_bad_specs(void **state)
{
    struct xs_hook_spec no_fn = { XS_HOOK_ROUTE, XS_K_ANY, 0, NULL };
    struct xs_hook_spec bad_point = { XS_HOOK__COUNT, XS_K_ANY, 0, hook_pass };

    (void)state;
    assert_int_equal(xs_hook_add(&no_fn, &owner_a, NULL), XS_EINVAL);
    assert_int_equal(xs_hook_add(&bad_point, &owner_a, NULL), XS_EINVAL);
}

static enum xs_verdict
iq_ping(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    (void)ctx, (void)state;
    trace_add(payload->name[0]);
    return XS_HANDLED;
}

static struct xs_stanza *
iq_new(const char *type, const char *ns, const char *name)
{
    struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, "iq");

    xs_elem_set_attr(el, "type", type);
    xs_elem_set_attr(el, "id", "x1");
    if (ns != NULL)
        xs_elem_add_child(el, ns, name);
    return xs_stanza_new(el);
}

static void
iq_dispatch_matches_namespace_type_and_target(void **state)
{
    struct xs_iq_spec spec = { "urn:xmpp:ping", "ping", XS_IQ_GET,
        XS_IQ_HOST, iq_ping };
    struct xs_stanza *get = iq_new("get", "urn:xmpp:ping", "ping");
    struct xs_stanza *set = iq_new("set", "urn:xmpp:ping", "ping");
    struct xs_stanza *other = iq_new("get", "urn:other", "ping");
    struct xs_stanza_ctx ctx = { .kind = XS_K_IQ };

    (void)state;
    assert_int_equal(xs_iq_add(&spec, &owner_a, NULL), XS_OK);
    assert_int_equal(xs_iq_add(&spec, &owner_b, NULL), XS_EEXIST);

    ctx.st = get;
    assert_int_equal(xs_iq_dispatch(&ctx, XS_IQ_HOST), XS_HANDLED);
    assert_string_equal(trace, "p");

    /* The same IQ to an account: nobody handles it. */
    ctx.err = XS_SERR_NONE;
    assert_int_equal(xs_iq_dispatch(&ctx, XS_IQ_ACCOUNT), XS_BOUNCE);
    assert_int_equal(ctx.err, XS_SERR_SERVICE_UNAVAILABLE);

    ctx.st = set;
    assert_int_equal(xs_iq_dispatch(&ctx, XS_IQ_HOST), XS_BOUNCE);
    assert_int_equal(ctx.err, XS_SERR_SERVICE_UNAVAILABLE);

    ctx.st = other;
    assert_int_equal(xs_iq_dispatch(&ctx, XS_IQ_HOST), XS_BOUNCE);
    xs_stanza_unref(get);
    xs_stanza_unref(set);
    xs_stanza_unref(other);
}

static void
iq_dispatch_refuses_no_payload_and_ends_results(void **state)
{
    struct xs_stanza *empty = iq_new("get", NULL, NULL);
    struct xs_stanza *result = iq_new("result", NULL, NULL);
    struct xs_stanza_ctx ctx = { .kind = XS_K_IQ };

    (void)state;
    ctx.st = empty;
    assert_int_equal(xs_iq_dispatch(&ctx, XS_IQ_HOST), XS_BOUNCE);
    assert_int_equal(ctx.err, XS_SERR_BAD_REQUEST);
    ctx.st = result;
    assert_int_equal(xs_iq_dispatch(&ctx, XS_IQ_HOST), XS_DROP);
    xs_stanza_unref(empty);
    xs_stanza_unref(result);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(hooks_run_by_priority_then_registration_order,
            reset),
        cmocka_unit_test_setup(hooks_first_non_pass_verdict_ends_the_chain,
            reset),
        cmocka_unit_test_setup(hooks_skip_other_kinds, reset),
        cmocka_unit_test_setup(hooks_removed_by_owner_only, reset),
        cmocka_unit_test_setup(hooks_refuse_bad_specs, reset),
        cmocka_unit_test_setup(iq_dispatch_matches_namespace_type_and_target,
            reset),
        cmocka_unit_test_setup(iq_dispatch_refuses_no_payload_and_ends_results,
            reset),
    };

    return cmocka_run_group_tests_name("hooks", tests, NULL, reset);
}
