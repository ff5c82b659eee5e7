/*
 * tests/unit/test_observers.c: the evidence sources of the core, seen by
 * their observers: blocking reports, activity counts and days, roster
 * changes (registration), and the stream events (XS_EV_RATE_LIMITED,
 * XS_EV_S2S_MISBEHAVED) with the core's counters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/support/fake_server.h"
#include "xmppd/c2s/session.h"
#include "xmppd/core/conf.h"
#include "xmppd/core/hooks.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/core/stats.h"
#include "xmppd/im/activity.h"
#include "xmppd/im/blocking.h"
#include "xmppd/im/roster.h"
#include "xmppd/net/stream.h"

#include <event2/event.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define OBSERVERS_MAX 8     /* what each source allows */

extern const struct xs_module xs_mod_activity;

static const struct xs_module test_mod = { .name = "test_observers" };

static int
setup(void **state)
{
    char *err = NULL;

    (void)state;
    xs_server()->base = event_base_new();
    assert_non_null(xs_server()->base);
    if (xs_conf_load_string("hosts: [example.org]\n", "x.yml",
            &xs_server()->conf, &err) != XS_OK)
        fail_msg("conf: %s", err);
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    xs_event_remove_owner(&test_mod);
    xs_stream_reap_all();
    xs_conf_free(xs_server()->conf);
    xs_server()->conf = NULL;
    event_base_free(xs_server()->base);
    xs_server()->base = NULL;
    return 0;
}

/* ---- registration: the same contract for every source ---- */

static void
report_fn(const char *reporter, const char *reported, const char *reason,
    void *ud)
{
    (void)reporter, (void)reported, (void)reason, (void)ud;
}

static void
roster_fn(const char *owner, const char *contact, enum xs_sub before,
    enum xs_sub after, void *ud)
{
    (void)owner, (void)contact, (void)before, (void)after, (void)ud;
}

static void
blocking_report_registration(void **state)
{
    int tag[OBSERVERS_MAX + 1];

    (void)state;
    assert_int_equal(xs_blocking_report_observe(NULL, NULL), XS_EINVAL);
    for (size_t i = 0; i < OBSERVERS_MAX; i++)
        assert_int_equal(xs_blocking_report_observe(report_fn, &tag[i]),
            XS_OK);
    assert_int_equal(xs_blocking_report_observe(report_fn,
        &tag[OBSERVERS_MAX]), XS_ELIMIT);
    /* Removing one (by fn and ud) makes room for exactly one. */
    xs_blocking_report_unobserve(report_fn, &tag[3]);
    assert_int_equal(xs_blocking_report_observe(report_fn,
        &tag[OBSERVERS_MAX]), XS_OK);
    assert_int_equal(xs_blocking_report_observe(report_fn, &tag[3]),
        XS_ELIMIT);
    for (size_t i = 0; i <= OBSERVERS_MAX; i++)
        xs_blocking_report_unobserve(report_fn, &tag[i]);
    assert_int_equal(xs_blocking_report_observe(report_fn, NULL), XS_OK);
    xs_blocking_report_unobserve(report_fn, NULL);
}

static void
roster_registration(void **state)
{
    int tag[OBSERVERS_MAX + 1];

    (void)state;
    assert_int_equal(xs_roster_observe(NULL, NULL), XS_EINVAL);
    for (size_t i = 0; i < OBSERVERS_MAX; i++)
        assert_int_equal(xs_roster_observe(roster_fn, &tag[i]), XS_OK);
    assert_int_equal(xs_roster_observe(roster_fn, &tag[OBSERVERS_MAX]),
        XS_ELIMIT);
    xs_roster_unobserve(roster_fn, &tag[0]);
    assert_int_equal(xs_roster_observe(roster_fn, &tag[OBSERVERS_MAX]),
        XS_OK);
    for (size_t i = 0; i <= OBSERVERS_MAX; i++)
        xs_roster_unobserve(roster_fn, &tag[i]);
    assert_int_equal(xs_roster_observe(roster_fn, NULL), XS_OK);
    xs_roster_unobserve(roster_fn, NULL);
}

/* ---- activity: counts and days as the hooks see stanzas ---- */

struct act_seen {
    size_t counts[XS_ACT__COUNT];
    size_t days;
    char   last[64];
    bool   leave_on_day;    /* unobserve from inside the call */
};

static void
act_count_fn(const char *bare, enum xs_act_counter c, uint64_t n, void *ud)
{
    struct act_seen *s = ud;

    assert_true(c < XS_ACT__COUNT);
    assert_int_equal(n, 1);
    s->counts[c]++;
    snprintf(s->last, sizeof(s->last), "%s", bare);
}

static void act_day_fn(const char *bare, void *ud);

static void
act_day_fn(const char *bare, void *ud)
{
    struct act_seen *s = ud;

    s->days++;
    snprintf(s->last, sizeof(s->last), "%s", bare);
    if (s->leave_on_day)
        xs_activity_unobserve(act_count_fn, act_day_fn, ud);
}

static void
activity_registration(void **state)
{
    int tag[OBSERVERS_MAX + 1];

    (void)state;
    assert_int_equal(xs_activity_observe(NULL, NULL, NULL), XS_EINVAL);
    for (size_t i = 0; i < OBSERVERS_MAX; i++)
        assert_int_equal(xs_activity_observe(act_count_fn, NULL, &tag[i]),
            XS_OK);
    assert_int_equal(xs_activity_observe(NULL, act_day_fn,
        &tag[OBSERVERS_MAX]), XS_ELIMIT);
    /* Removal matches both functions: this one is not registered. */
    xs_activity_unobserve(act_count_fn, act_day_fn, &tag[0]);
    assert_int_equal(xs_activity_observe(NULL, act_day_fn,
        &tag[OBSERVERS_MAX]), XS_ELIMIT);
    for (size_t i = 0; i < OBSERVERS_MAX; i++)
        xs_activity_unobserve(act_count_fn, NULL, &tag[i]);
    assert_int_equal(xs_activity_observe(NULL, act_day_fn, NULL), XS_OK);
    xs_activity_unobserve(NULL, act_day_fn, NULL);
}

static struct xs_stanza *
stanza_of(const char *name, const char *type, bool has_body)
{
    struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, name);

    if (type != NULL)
        xs_elem_set_attr(el, "type", type);
    if (has_body)
        xs_elem_add_text(xs_elem_add_child(el, NULL, "body"), "hi", 2);
    return xs_stanza_new(el);
}

/* Run the activity module's C2S_IN hook as the router would. */
static void
act_send(void *mod_state, struct xs_session *s, const struct xs_jid *to,
    struct xs_stanza *st)
{
    struct xs_stanza_ctx ctx = {
        .origin = s, .st = st, .from = s->jid, .to = to, .kind = st->kind,
    };
    const struct xs_hook_spec *h = &xs_mod_activity.hooks[0];

    assert_int_equal(h->point, XS_HOOK_C2S_IN);
    assert_int_equal(h->fn(&ctx, mod_state), XS_PASS);
    xs_stanza_unref(st);
}

static void
activity_observers_see_counts_and_days(void **state)
{
    struct act_seen seen = { 0 }, other = { 0 };
    struct xs_session s = { .id = 7 };
    struct xs_jid *bob;
    void *mod_state = NULL;
    const struct xs_event_spec *bound = &xs_mod_activity.events[0];

    (void)state;
    assert_int_equal(bound->ev, XS_EV_SESSION_BOUND);
    assert_int_equal(xs_mod_activity.init(xs_server()->conf, &mod_state),
        XS_OK);
    assert_int_equal(xs_jid_new("alice@example.org/phone", &s.jid), XS_OK);
    assert_int_equal(xs_jid_new("bob@example.org", &bob), XS_OK);
    assert_int_equal(xs_activity_observe(act_count_fn, act_day_fn, &seen),
        XS_OK);
    assert_int_equal(xs_activity_observe(act_count_fn, NULL, &other),
        XS_OK);

    /* A login marks the day once; the second one the same day does not. */
    bound->fn(XS_EV_SESSION_BOUND, &s, mod_state);
    assert_int_equal(seen.days, 1);
    assert_string_equal(seen.last, "alice@example.org");
    bound->fn(XS_EV_SESSION_BOUND, &s, mod_state);
    assert_int_equal(seen.days, 1);
    assert_int_equal(other.days, 0);        /* registered no day fn */

    /* A message with a body to a stranger (no roster loaded). */
    act_send(mod_state, &s, bob, stanza_of("message", "chat", true));
    assert_int_equal(seen.counts[XS_ACT_MSGS_TO_STRANGERS], 1);
    assert_int_equal(other.counts[XS_ACT_MSGS_TO_STRANGERS], 1);
    /* Chat states are not conversation: nothing counted, nothing said. */
    act_send(mod_state, &s, bob, stanza_of("message", "chat", false));
    assert_int_equal(seen.counts[XS_ACT_MSGS_TO_STRANGERS], 1);
    /* A subscription request. */
    act_send(mod_state, &s, bob, stanza_of("presence", "subscribe", false));
    assert_int_equal(seen.counts[XS_ACT_SUBS_SENT], 1);
    assert_string_equal(seen.last, "alice@example.org");

    /* Removed observers hear nothing more. */
    xs_activity_unobserve(act_count_fn, NULL, &other);
    act_send(mod_state, &s, bob, stanza_of("message", NULL, true));
    assert_int_equal(seen.counts[XS_ACT_MSGS_TO_STRANGERS], 2);
    assert_int_equal(other.counts[XS_ACT_MSGS_TO_STRANGERS], 1);

    /* An observer may leave from inside its call. */
    {
        struct xs_session s2 = { .id = 8 };

        assert_int_equal(xs_jid_new("carol@example.org/pc", &s2.jid),
            XS_OK);
        seen.leave_on_day = true;
        bound->fn(XS_EV_SESSION_BOUND, &s2, mod_state);
        assert_int_equal(seen.days, 2);
        act_send(mod_state, &s2, bob, stanza_of("message", NULL, true));
        assert_int_equal(seen.counts[XS_ACT_MSGS_TO_STRANGERS], 2);
        xs_jid_free(s2.jid);
    }

    xs_mod_activity.fini(mod_state);
    xs_jid_free(s.jid);
    xs_jid_free(bob);
}

/* ---- the stream base: shaper waits, stream errors ---- */

struct test_stream {
    struct xs_stream st;
    int              peer;      /* our end of the socket pair */
    bool             is_freed;
};

static void
ts_limits(const struct xs_stream *st, struct xs_xml_limits *lim)
{
    (void)st;
    lim->max_stanza = 65536;
    lim->max_depth = 16;
    lim->max_attrs = 32;
}

static void
ts_on_el(struct xs_stream *st, struct xs_elem *el)
{
    (void)st;
    xs_elem_free(el);
}

static void
ts_on_close(struct xs_stream *st)
{
    xs_stream_close(st, XS_STERR_NONE, NULL);
}

static char *
ts_header(const struct xs_stream *st)
{
    (void)st;
    return xs_strdup("<stream:stream>");
}

static void
ts_on_closing(struct xs_stream *st, bool is_peer_gone)
{
    (void)st, (void)is_peer_gone;
}

static void
ts_on_free(struct xs_stream *st)
{
    struct test_stream *t = xs_container_of(st, struct test_stream, st);

    xs_stream_fini(st);
    close(t->peer);
    t->is_freed = true;
}

static struct ssl_st *
ts_ssl_new(struct xs_stream *st)
{
    (void)st;
    return NULL;
}

static const struct xs_stream_ops c2s_ops = {
    .name = "c2s", .xml_limits = ts_limits, .on_open = ts_on_el,
    .on_elem = ts_on_el, .on_close = ts_on_close, .header = ts_header,
    .on_closing = ts_on_closing, .on_free = ts_on_free,
    .ssl_new = ts_ssl_new, .idle_err = XS_STERR_CONNECTION_TIMEOUT,
};

static const struct xs_stream_ops s2s_ops = {
    .name = "s2s", .xml_limits = ts_limits, .on_open = ts_on_el,
    .on_elem = ts_on_el, .on_close = ts_on_close, .header = ts_header,
    .on_closing = ts_on_closing, .on_free = ts_on_free,
    .ssl_new = ts_ssl_new, .idle_err = XS_STERR_NONE, .is_s2s = true,
};

static struct test_stream *
ts_new(const struct xs_stream_ops *ops)
{
    struct test_stream *t = xs_calloc(1, sizeof(*t));
    int fds[2];

    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    for (int i = 0; i < 2; i++)
        assert_int_equal(fcntl(fds[i], F_SETFL, O_NONBLOCK), 0);
    xs_stream_init(&t->st, 1, ops, "127.0.0.1");
    assert_int_equal(xs_stream_attach(&t->st, fds[0], false, false),
        XS_OK);
    t->peer = fds[1];
    return t;
}

static void
ts_write(struct test_stream *t, const char *s)
{
    size_t len = strlen(s);

    assert_int_equal(write(t->peer, s, len), (ssize_t)len);
}

/* Run the loop for ms milliseconds. */
static void
loop_for(int ms)
{
    struct timeval tv = { .tv_sec = 0, .tv_usec = ms * 1000 };

    event_base_loopexit(xs_server()->base, &tv);
    event_base_dispatch(xs_server()->base);
}

struct ev_seen {
    size_t n;
    char   subject[64];
    char   reason[64];
    bool   is_s2s;
    char   what[16];
};

static void
on_rate_limited(enum xs_event ev, void *arg, void *mod_state)
{
    const struct xs_ev_rate_limited *r = arg;
    struct ev_seen *s = mod_state;

    assert_int_equal(ev, XS_EV_RATE_LIMITED);
    s->n++;
    snprintf(s->subject, sizeof(s->subject), "%s", r->subject);
    snprintf(s->what, sizeof(s->what), "%s", r->what);
    s->is_s2s = r->is_s2s;
}

static void
on_misbehaved(enum xs_event ev, void *arg, void *mod_state)
{
    const struct xs_ev_s2s_misbehaved *m = arg;
    struct ev_seen *s = mod_state;

    assert_int_equal(ev, XS_EV_S2S_MISBEHAVED);
    s->n++;
    snprintf(s->subject, sizeof(s->subject), "%s", m->domain);
    snprintf(s->reason, sizeof(s->reason), "%s", m->reason);
}

static const char stream_head[] = "<?xml version='1.0'?><stream:stream "
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "version='1.0'>";

static void
ts_flood(struct test_stream *t, size_t n)
{
    char buf[512];

    xs_assert(n < sizeof(buf));
    memset(buf, ' ', n);
    buf[n] = '\0';
    ts_write(t, buf);
}

static void
shaper_waits_counted_and_reported_once(void **state)
{
    static const struct xs_shaper slow = { .rate = 1000, .burst_size = 8 };
    struct ev_seen seen = { 0 };
    const struct xs_event_spec spec = { XS_EV_RATE_LIMITED,
        on_rate_limited };
    struct test_stream *t = ts_new(&c2s_ops);
    uint64_t before = xs_core_stats.rate_limited[XS_STATS_C2S];
    uint64_t mid;

    (void)state;
    assert_int_equal(xs_event_add(&spec, &test_mod, &seen), XS_OK);
    xs_stream_set_shaper(&t->st, &slow);

    /* Nobody yet (not bound): the waits count, nobody is reported. */
    ts_write(t, stream_head);
    loop_for(60);
    mid = xs_core_stats.rate_limited[XS_STATS_C2S];
    assert_true(mid > before);
    assert_int_equal(xs_core_stats.rate_limited[XS_STATS_S2S], 0);
    assert_int_equal(seen.n, 0);

    /* Bound: many waits, one event (at most one a minute). */
    xs_stream_set_subject(&t->st, "alice@example.org");
    ts_flood(t, 300);
    loop_for(150);
    assert_true(xs_core_stats.rate_limited[XS_STATS_C2S] > mid + 1);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.subject, "alice@example.org");
    assert_string_equal(seen.what, "shaper");
    assert_false(seen.is_s2s);

    xs_stream_close(&t->st, XS_STERR_NONE, NULL);
    loop_for(20);
    assert_true(t->is_freed);
    xs_free(t);
}

static void
s2s_shaper_reports_the_domain(void **state)
{
    static const struct xs_shaper slow = { .rate = 1000, .burst_size = 8 };
    struct ev_seen seen = { 0 };
    const struct xs_event_spec spec = { XS_EV_RATE_LIMITED,
        on_rate_limited };
    struct test_stream *t = ts_new(&s2s_ops);
    uint64_t before = xs_core_stats.rate_limited[XS_STATS_S2S];

    (void)state;
    assert_int_equal(xs_event_add(&spec, &test_mod, &seen), XS_OK);
    xs_stream_set_shaper(&t->st, &slow);
    xs_stream_set_subject(&t->st, "remote.example");
    ts_write(t, stream_head);
    loop_for(60);
    assert_true(xs_core_stats.rate_limited[XS_STATS_S2S] > before);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.subject, "remote.example");
    assert_true(seen.is_s2s);

    xs_stream_close(&t->st, XS_STERR_NONE, NULL);
    loop_for(20);
    assert_true(t->is_freed);
    xs_free(t);
}

static void
misbehaved_only_after_authentication(void **state)
{
    struct ev_seen seen = { 0 };
    const struct xs_event_spec spec = { XS_EV_S2S_MISBEHAVED,
        on_misbehaved };
    struct test_stream *anon = ts_new(&s2s_ops);
    struct test_stream *authed = ts_new(&s2s_ops);
    struct test_stream *client = ts_new(&c2s_ops);
    uint64_t s2s_errors = xs_core_stats.stream_errors[XS_STATS_S2S];
    uint64_t c2s_errors = xs_core_stats.stream_errors[XS_STATS_C2S];

    (void)state;
    assert_int_equal(xs_event_add(&spec, &test_mod, &seen), XS_OK);

    /* Before authentication: an error, but nobody to blame. */
    xs_stream_close_misbehaved(&anon->st, XS_STERR_INVALID_FROM, NULL);
    assert_int_equal(seen.n, 0);
    assert_int_equal(xs_core_stats.stream_errors[XS_STATS_S2S],
        s2s_errors + 1);

    /* After: the authenticated domain, the condition as the reason. */
    xs_stream_set_subject(&authed->st, "bad.example");
    xs_stream_close_misbehaved(&authed->st, XS_STERR_INVALID_FROM,
        "pair not authenticated");
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.subject, "bad.example");
    assert_string_equal(seen.reason, "invalid-from");
    assert_int_equal(xs_core_stats.stream_errors[XS_STATS_S2S],
        s2s_errors + 2);
    /* Once closing, nothing more (neither event nor error). */
    xs_stream_close_misbehaved(&authed->st, XS_STERR_POLICY_VIOLATION,
        NULL);
    assert_int_equal(seen.n, 1);
    assert_int_equal(xs_core_stats.stream_errors[XS_STATS_S2S],
        s2s_errors + 2);

    /* A client stream is never an s2s misbehaviour. */
    xs_stream_set_subject(&client->st, "alice@example.org");
    xs_stream_close_misbehaved(&client->st, XS_STERR_NOT_WELL_FORMED, NULL);
    assert_int_equal(seen.n, 1);
    assert_int_equal(xs_core_stats.stream_errors[XS_STATS_C2S],
        c2s_errors + 1);

    loop_for(20);
    assert_true(anon->is_freed && authed->is_freed && client->is_freed);
    xs_free(anon);
    xs_free(authed);
    xs_free(client);
}

/* Bad XML from an authenticated peer, through the input pump. */
static void
bad_xml_after_authentication_is_misbehaviour(void **state)
{
    struct ev_seen seen = { 0 };
    const struct xs_event_spec spec = { XS_EV_S2S_MISBEHAVED,
        on_misbehaved };
    struct test_stream *t = ts_new(&s2s_ops);
    struct test_stream *anon = ts_new(&s2s_ops);

    (void)state;
    assert_int_equal(xs_event_add(&spec, &test_mod, &seen), XS_OK);
    xs_stream_set_subject(&t->st, "broken.example");
    ts_write(t, stream_head);
    ts_write(t, "<message><</message>");
    ts_write(anon, stream_head);
    ts_write(anon, "<message><</message>");
    loop_for(30);
    assert_int_equal(seen.n, 1);
    assert_string_equal(seen.subject, "broken.example");
    assert_string_equal(seen.reason, "not-well-formed");
    assert_true(t->is_freed && anon->is_freed);
    xs_free(t);
    xs_free(anon);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(blocking_report_registration),
        cmocka_unit_test(roster_registration),
        cmocka_unit_test(activity_registration),
        cmocka_unit_test_setup_teardown(
            activity_observers_see_counts_and_days, setup, teardown),
        cmocka_unit_test_setup_teardown(
            shaper_waits_counted_and_reported_once, setup, teardown),
        cmocka_unit_test_setup_teardown(s2s_shaper_reports_the_domain,
            setup, teardown),
        cmocka_unit_test_setup_teardown(
            misbehaved_only_after_authentication, setup, teardown),
        cmocka_unit_test_setup_teardown(
            bad_xml_after_authentication_is_misbehaviour, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
