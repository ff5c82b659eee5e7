/*
 * tests/unit/test_db_reputation.c: db/reputation.c (evidence written
 * behind in batches, pins, the start-up loads) against a private cluster
 * started by deploy/pg.sh, with the schema of the embedded migrations.
 *
 * Run from the repository root (make check-unit does).  The group setup
 * starts a throw-away cluster in a mkdtemp directory (blocking is fine in
 * a test) and the teardown stops it and removes the directory.  One test
 * stops and restarts the cluster under a queue of evidence.
 *
 * It also prints a first throughput figure: items per second committed
 * through the batches, next to single-row INSERTs on the same cluster
 * (which runs --fast: no fsync, so both are optimistic).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/pgq.h"
#include "db/reputation.h"
#include "tests/unit/support/pg_harness.h"

#define BASE_AT 1700000000      /* wall seconds of the generated items */

/* ---- helpers ---- */

static bool
queue_is_empty(void *arg)
{
    struct pgq_batchq_stats st;

    xs_rep_db_stats(arg, &st);
    return st.queued == 0;
}

/* Until every queued evidence write committed (or ms pass). */
static bool
run_until_drained(struct pgq *q, uint64_t ms)
{
    return pgh_run_until_cond(queue_is_empty, q, ms);
}

/* ---- collecting what the loads return ---- */

struct ev_copy {
    int64_t       id;
    char         *subject;
    enum xs_evk   kind;
    double        weight;
    enum xs_evsrc src;
    char         *source;
    int64_t       at;
    char         *note;         /* NULL: SQL NULL */
};

struct acc_copy {
    char     *bare;
    int64_t   created_at;
    uint64_t  counts[XS_ACT__COUNT];
    uint32_t  days_active;
    uint32_t  mutual;
};

struct pin_copy {
    char    *subject;
    int      score;
    char    *reason;
    int64_t  expires;
    char    *set_by;
    int64_t  set_at;
};

struct load {
    int              calls;     /* done calls */
    xs_rc            rc;
    struct ev_copy  *ev;
    size_t           nev;
    struct acc_copy *acc;
    size_t           nacc;
    struct pin_copy *pin;
    size_t           npin;
};

static void
load_done(xs_rc rc, void *udata)
{
    struct load *l = udata;

    l->calls++;
    l->rc = rc;
}

static void
load_ev(const struct xs_evidence *ev, void *udata)
{
    struct load *l = udata;
    struct ev_copy *c;

    l->ev = xs_reallocarray(l->ev, l->nev + 1, sizeof(l->ev[0]));
    c = &l->ev[l->nev++];
    c->id = ev->id;
    c->subject = xs_strdup(ev->subject);
    c->kind = ev->kind;
    c->weight = ev->weight;
    c->src = ev->src;
    c->source = xs_strdup(ev->source);
    c->at = ev->at;
    c->note = ev->note != NULL ? xs_strdup(ev->note) : NULL;
}

static void
load_acc(const struct xs_rep_db_account *a, void *udata)
{
    struct load *l = udata;
    struct acc_copy *c;

    l->acc = xs_reallocarray(l->acc, l->nacc + 1, sizeof(l->acc[0]));
    c = &l->acc[l->nacc++];
    c->bare = xs_strdup(a->bare);
    c->created_at = a->created_at;
    memcpy(c->counts, a->counts, sizeof(c->counts));
    c->days_active = a->days_active;
    c->mutual = a->mutual;
}

static void
load_pin(const char *subject, int score, const char *reason,
    int64_t expires, const char *set_by, int64_t set_at, void *udata)
{
    struct load *l = udata;
    struct pin_copy *c;

    l->pin = xs_reallocarray(l->pin, l->npin + 1, sizeof(l->pin[0]));
    c = &l->pin[l->npin++];
    c->subject = xs_strdup(subject);
    c->score = score;
    c->reason = xs_strdup(reason);
    c->expires = expires;
    c->set_by = xs_strdup(set_by);
    c->set_at = set_at;
}

static void
load_fini(struct load *l)
{
    for (size_t i = 0; i < l->nev; i++) {
        xs_free(l->ev[i].subject);
        xs_free(l->ev[i].source);
        xs_free(l->ev[i].note);
    }
    for (size_t i = 0; i < l->nacc; i++)
        xs_free(l->acc[i].bare);
    for (size_t i = 0; i < l->npin; i++) {
        xs_free(l->pin[i].subject);
        xs_free(l->pin[i].reason);
        xs_free(l->pin[i].set_by);
    }
    xs_free(l->ev);
    xs_free(l->acc);
    xs_free(l->pin);
    memset(l, 0, sizeof(*l));
}

/* Start a load (call), check it calls back later, once. */
#define LOAD_WAIT(l, call) PGH_CALL_WAIT(l, call, 30000)

/* ---- generated evidence ---- */

/* Strings PostgreSQL's array syntax treats specially, and others. */
static const char *const tricky[] = {
    "it's a \"quote\"",
    "back\\slash and \\\" both",
    "{braces},{more}",
    "comma, separated, \"values\"",
    "NULL",                             /* text, not SQL NULL */
    "  padded  ",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82",
    "",
    "\\",
    "\"",
    "tab\there\nnewline",
    "plain",
};

struct gen {
    char subject[96];
    char source[96];
    char note[96];
};

/* Item i: every kind and source, tricky texts, NULL notes. */
static void
gen_item(size_t i, struct gen *g, struct xs_evidence *ev)
{
    const char *t = tricky[i % XS_ARRAY_LEN(tricky)];
    int n;

    memset(ev, 0, sizeof(*ev));
    n = snprintf(g->subject, sizeof(g->subject), "s%zu@x.test/%s", i % 97,
        t);
    assert_true(n > 0 && (size_t)n < sizeof(g->subject));
    n = snprintf(g->source, sizeof(g->source), "%s#%zu",
        tricky[(i / 3) % XS_ARRAY_LEN(tricky)], i % 13);
    assert_true(n > 0 && (size_t)n < sizeof(g->source));
    n = snprintf(g->note, sizeof(g->note), "%s", t);
    assert_true(n >= 0 && (size_t)n < sizeof(g->note));
    ev->subject = g->subject;
    ev->kind = (enum xs_evk)(i % XS_EVK__COUNT);
    ev->src = (enum xs_evsrc)((i / 7) % XS_EVSRC__COUNT);
    ev->source = g->source;
    ev->weight = (i % 5 == 0) ? -10.0 / 3.0 : (double)i * 0.25 - 7;
    ev->at = BASE_AT + (int64_t)i;
    ev->note = (i % 4 == 1) ? NULL : g->note;
}

static void
check_item(size_t i, const struct ev_copy *c)
{
    struct gen g;
    struct xs_evidence ev;

    gen_item(i, &g, &ev);
    assert_true(c->id > 0);
    assert_string_equal(c->subject, ev.subject);
    assert_int_equal(c->kind, ev.kind);
    assert_true(c->weight == ev.weight);        /* exact round trip */
    assert_int_equal(c->src, ev.src);
    assert_string_equal(c->source, ev.source);
    assert_int_equal(c->at, ev.at);
    if (ev.note == NULL)
        assert_null(c->note);
    else
        assert_string_equal(c->note, ev.note);
}

static void
clean_tables(void)
{
    pgh_script("DELETE FROM reputation_evidence; DELETE FROM "
        "reputation_pins");
}

/* ---- setup ---- */

static int
group_setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    return pgh_group_setup(state);
}

/* ---- tests ---- */

static void
append_rejects_bad_items(void **state)
{
    char long_note[XS_REP_DB_NOTE_MAX + 2];
    struct xs_evidence ok = {
        .subject = "a@x.test", .kind = XS_EVK_BLOCK, .weight = -5,
        .src = XS_EVSRC_USER, .source = "b@x.test", .at = BASE_AT,
    };
    struct xs_evidence ev;
    struct pgq_batchq_stats st0, st;

    (void)state;
    xs_rep_db_stats(pgh.q, &st0);
    memset(long_note, 'n', sizeof(long_note) - 1);
    long_note[sizeof(long_note) - 1] = '\0';
    assert_int_equal(xs_rep_db_append(NULL, &ok), XS_EINVAL);
    assert_int_equal(xs_rep_db_append(pgh.q, NULL), XS_EINVAL);
    ev = ok, ev.subject = "";
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.subject = NULL;
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.source = "";
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.kind = XS_EVK__COUNT;
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.src = XS_EVSRC__COUNT;
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.weight = NAN;
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.weight = INFINITY;
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.note = long_note;
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.note = "bad \xc3\x28 utf-8";
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.subject = "overlong \xc0\xaf";
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    ev = ok, ev.source = "surrogate \xed\xa0\x80";
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_EINVAL);
    assert_int_equal(xs_rep_db_retract(pgh.q, "", XS_EVK_BLOCK, "b@x.test"),
        XS_EINVAL);
    assert_int_equal(xs_rep_db_retract(pgh.q, "a@x.test", XS_EVK__COUNT,
        "b@x.test"), XS_EINVAL);
    xs_rep_db_stats(pgh.q, &st);
    assert_int_equal(st.queued, st0.queued);
    assert_int_equal(st.dropped, st0.dropped);
}

/* 12,000 items with awkward texts: stored as given, loaded back in order
 * over two pages; one statement per batch. */
static void
append_round_trip(void **state)
{
    const size_t n = 12000;
    struct pgq_batchq_stats st0, st;
    struct pgq_stats ps0, ps;
    struct load l;
    const char *p[2];
    struct gen g;
    struct xs_evidence ev;

    (void)state;
    clean_tables();
    xs_rep_db_stats(pgh.q, &st0);
    pgq_stats(pgh.q, &ps0);
    for (size_t i = 0; i < n; i++) {
        gen_item(i, &g, &ev);
        assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    }
    xs_rep_db_flush_soon(pgh.q);
    assert_true(run_until_drained(pgh.q, 30000));
    xs_rep_db_stats(pgh.q, &st);
    pgq_stats(pgh.q, &ps);
    assert_int_equal(st.appended - st0.appended, n);
    assert_int_equal(st.retries - st0.retries, 0);
    assert_int_equal(st.discarded - st0.discarded, 0);
    /* 5000 + 5000 + 2000, or one more when the first went out alone. */
    assert_in_range(st.batches - st0.batches, 3, 4);
    assert_int_equal(ps.errors - ps0.errors, 0);
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_evidence", 0,
        NULL), (long)n);

    /* Straight from SQL: awkward texts landed as they are. */
    p[0] = "{braces},{more}";
    assert_true(pgh_count("SELECT count(*) FROM reputation_evidence WHERE"
        " note = $1", 1, p) > 0);
    p[0] = "NULL";
    assert_true(pgh_count("SELECT count(*) FROM reputation_evidence WHERE"
        " note = $1", 1, p) > 0);
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_evidence"
        " WHERE note IS NULL", 0, NULL), (long)(n / 4));
    p[0] = "s1@x.test/back\\slash and \\\" both";
    p[1] = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82#3";
    assert_true(pgh_count("SELECT count(*) FROM reputation_evidence WHERE"
        " subject = $1 OR source = $2", 2, p) > 0);

    /* Everything back, oldest first, across pages. */
    LOAD_WAIT(l, xs_rep_db_load_evidence(pgh.q, 0, load_ev, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.nev, n);
    for (size_t i = 0; i < l.nev; i++) {
        check_item(i, &l.ev[i]);
        if (i > 0)
            assert_true(l.ev[i].id > l.ev[i - 1].id);
    }
    load_fini(&l);

    /* since: only what was recorded at or after it. */
    LOAD_WAIT(l, xs_rep_db_load_evidence(pgh.q, BASE_AT + 7000, load_ev,
        load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.nev, n - 7000);
    check_item(7000, &l.ev[0]);
    check_item(n - 1, &l.ev[l.nev - 1]);
    load_fini(&l);
}

static void
ev_user(struct xs_evidence *ev, const char *subject, enum xs_evk kind,
    const char *source, const char *note)
{
    memset(ev, 0, sizeof(*ev));
    ev->subject = subject;
    ev->kind = kind;
    ev->weight = -5;
    ev->src = XS_EVSRC_USER;
    ev->source = source;
    ev->at = xs_wall_s();
    ev->note = note;
}

/* Retractions keep their place among appends, in one batch or across
 * batches, and only take back user items of that kind and source. */
static void
retract_keeps_order(void **state)
{
    static const char sp[] = "spammer@evil.test";
    static const char a[] = "alice@x.test", b[] = "bob@x.test";
    struct pgq_batchq_stats st0, st;
    struct xs_evidence ev;
    struct load l;
    const char *p[1] = { sp };

    (void)state;
    clean_tables();
    /* Stored before: alice's block, bob's block, a system item with the
     * same (subject, kind, source). */
    ev_user(&ev, sp, XS_EVK_BLOCK, a, "first");
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    ev_user(&ev, sp, XS_EVK_BLOCK, b, NULL);
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    ev_user(&ev, sp, XS_EVK_BLOCK, a, "system");
    ev.src = XS_EVSRC_SYSTEM;
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    ev_user(&ev, sp, XS_EVK_REPORT_SPAM, a, NULL);
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    xs_rep_db_flush_soon(pgh.q);
    assert_true(run_until_drained(pgh.q, 5000));
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_evidence", 0,
        NULL), 4);

    /* One batch: alice unblocks, blocks again, bob unblocks, blocks and
     * unblocks again, and a new carol block is taken back at once. */
    xs_rep_db_stats(pgh.q, &st0);
    assert_int_equal(xs_rep_db_retract(pgh.q, sp, XS_EVK_BLOCK, a), XS_OK);
    ev_user(&ev, sp, XS_EVK_BLOCK, a, "second");
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    assert_int_equal(xs_rep_db_retract(pgh.q, sp, XS_EVK_BLOCK, b), XS_OK);
    ev_user(&ev, sp, XS_EVK_BLOCK, b, "bob again");
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    assert_int_equal(xs_rep_db_retract(pgh.q, sp, XS_EVK_BLOCK, b), XS_OK);
    ev_user(&ev, sp, XS_EVK_BLOCK, "carol@x.test", NULL);
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    assert_int_equal(xs_rep_db_retract(pgh.q, sp, XS_EVK_BLOCK,
        "carol@x.test"), XS_OK);
    /* A retraction of nothing is fine. */
    assert_int_equal(xs_rep_db_retract(pgh.q, "nobody@x.test",
        XS_EVK_REPORT_ABUSE, a), XS_OK);
    xs_rep_db_flush_soon(pgh.q);
    assert_true(run_until_drained(pgh.q, 5000));
    xs_rep_db_stats(pgh.q, &st);
    assert_int_equal(st.batches - st0.batches, 1);
    assert_int_equal(st.appended - st0.appended, 3);
    assert_int_equal(st.retries - st0.retries, 0);

    LOAD_WAIT(l, xs_rep_db_load_evidence(pgh.q, 0, load_ev, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.nev, 3);
    /* Oldest first: the system item, alice's report, her new block. */
    assert_int_equal(l.ev[0].src, XS_EVSRC_SYSTEM);
    assert_string_equal(l.ev[0].note, "system");
    assert_int_equal(l.ev[1].kind, XS_EVK_REPORT_SPAM);
    assert_int_equal(l.ev[2].kind, XS_EVK_BLOCK);
    assert_int_equal(l.ev[2].src, XS_EVSRC_USER);
    assert_string_equal(l.ev[2].source, a);
    assert_string_equal(l.ev[2].note, "second");
    load_fini(&l);

    /* Across batches: the retraction waits behind the append. */
    ev_user(&ev, sp, XS_EVK_BLOCK, b, "late");
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    xs_rep_db_flush_soon(pgh.q);
    assert_int_equal(xs_rep_db_retract(pgh.q, sp, XS_EVK_BLOCK, b), XS_OK);
    assert_true(run_until_drained(pgh.q, 5000));
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_evidence"
        " WHERE subject = $1 AND kind = 'block' AND source_kind = 'user'",
        1, p), 1);              /* alice's "second" */
}

static void
pins_set_replace_clear_expire(void **state)
{
    struct load l;
    int64_t now = xs_wall_s();

    (void)state;
    clean_tables();
    assert_int_equal(xs_rep_db_pin_set(pgh.q, "x@y", 101, "r", 0, "op", now,
        load_done, &l), XS_EINVAL);
    assert_int_equal(xs_rep_db_pin_set(pgh.q, "", 1, "r", 0, "op", now,
        load_done, &l), XS_EINVAL);
    assert_int_equal(xs_rep_db_pin_set(pgh.q, "x@y", 1, "r", -1, "op", now,
        load_done, &l), XS_EINVAL);
    assert_int_equal(xs_rep_db_pin_set(pgh.q, "x@y", 1, NULL, 0, "op", now,
        load_done, &l), XS_EINVAL);
    assert_int_equal(xs_rep_db_pin_clear(pgh.q, "", load_done, &l), XS_EINVAL);

    LOAD_WAIT(l, xs_rep_db_pin_set(pgh.q, "bad@spam.test", -80,
        "caught \"spamming\", {badly}", 0, "admin_api", now - 100,
        load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    LOAD_WAIT(l, xs_rep_db_pin_set(pgh.q, "ok@x.test", 50, "vouched", now +
        3600, "xmppctl", now - 50, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    LOAD_WAIT(l, xs_rep_db_pin_set(pgh.q, "old@x.test", -100, "", now - 10,
        "xmppctl", now - 1000, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    LOAD_WAIT(l, xs_rep_db_pin_set(pgh.q, "gone@x.test", 10, "r", 0,
        "xmppctl", now, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    /* Replaced, not added. */
    LOAD_WAIT(l, xs_rep_db_pin_set(pgh.q, "bad@spam.test", -90,
        "worse", now + 7200, "admin_api", now, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    LOAD_WAIT(l, xs_rep_db_pin_clear(pgh.q, "gone@x.test", load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    LOAD_WAIT(l, xs_rep_db_pin_clear(pgh.q, "gone@x.test", load_done, &l));
    assert_int_equal(l.rc, XS_ENOTFOUND);
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_pins", 0,
        NULL), 3);

    LOAD_WAIT(l, xs_rep_db_load_pins(pgh.q, now, load_pin, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.npin, 2);
    assert_string_equal(l.pin[0].subject, "bad@spam.test");
    assert_int_equal(l.pin[0].score, -90);
    assert_string_equal(l.pin[0].reason, "worse");
    assert_int_equal(l.pin[0].expires, now + 7200);
    assert_string_equal(l.pin[0].set_by, "admin_api");
    assert_int_equal(l.pin[0].set_at, now);
    assert_string_equal(l.pin[1].subject, "ok@x.test");
    assert_int_equal(l.pin[1].score, 50);
    assert_int_equal(l.pin[1].expires, now + 3600);
    assert_int_equal(l.pin[1].set_at, now - 50);
    load_fini(&l);
    /* The expired one was deleted by the load. */
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_pins", 0,
        NULL), 2);
    /* A pin that never expires reads back as 0. */
    LOAD_WAIT(l, xs_rep_db_pin_set(pgh.q, "ok@x.test", 0, "r", 0, "op", now,
        load_done, &l));
    LOAD_WAIT(l, xs_rep_db_load_pins(pgh.q, now + 3 * 86400, load_pin,
        load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.npin, 1);
    assert_string_equal(l.pin[0].subject, "ok@x.test");
    assert_int_equal(l.pin[0].expires, 0);
    load_fini(&l);
}

#define SQL_ADD_ACCOUNTS(values) \
    "INSERT INTO accounts (username, host, created_at, scram_sha256_salt," \
    " scram_sha256_iterations, scram_sha256_stored_key," \
    " scram_sha256_server_key) SELECT u, h, to_timestamp(t)," \
    " decode(repeat('00', 16), 'hex'), 4096, decode(repeat('00', 32)," \
    " 'hex'), decode(repeat('00', 32), 'hex') FROM " values

static void
load_accounts_with_activity(void **state)
{
    const char *hosts[] = { "b.test", "a.test" };
    struct load l;

    (void)state;
    pgh_script(
        SQL_ADD_ACCOUNTS("(VALUES ('alice', 'a.test', 1600000000),"
            " ('bob', 'a.test', 1600000100), ('carol', 'a.test', 1600000200),"
            " ('dave', 'b.test', 1600000300), ('eve', 'c.test', 1600000400))"
            " AS v(u, h, t)") ";"
        "INSERT INTO account_activity (host, username, days_active,"
        " msgs_to_contacts, msgs_to_strangers, msgs_from_contacts,"
        " msgs_from_strangers, subs_sent, subs_accepted, subs_refused,"
        " subs_received) VALUES ('a.test', 'alice', 42, 1, 2, 3, 4, 5, 6,"
        " 7, 8), ('b.test', 'dave', 1, 0, 9000000000, 0, 0, 0, 0, 0, 0);"
        "INSERT INTO roster_items (host, username, contact, subscription)"
        " VALUES ('a.test', 'alice', 'bob@a.test', 'both'),"
        " ('a.test', 'alice', 'carol@a.test', 'both'),"
        " ('a.test', 'alice', 'dave@b.test', 'to'),"
        " ('a.test', 'alice', 'x@remote.test', 'from'),"
        " ('a.test', 'alice', 'y@remote.test', 'none'),"
        " ('a.test', 'bob', 'alice@a.test', 'both'),"
        " ('c.test', 'eve', 'alice@a.test', 'both')");

    assert_int_equal(xs_rep_db_load_accounts(pgh.q, hosts, 0, load_acc,
        load_done, &l), XS_EINVAL);
    LOAD_WAIT(l, xs_rep_db_load_accounts(pgh.q, hosts, 2, load_acc, load_done,
        &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.nacc, 4);
    assert_string_equal(l.acc[0].bare, "alice@a.test");
    assert_int_equal(l.acc[0].created_at, 1600000000);
    for (int c = 0; c < XS_ACT__COUNT; c++)
        assert_int_equal(l.acc[0].counts[c], (uint64_t)c + 1);
    assert_int_equal(l.acc[0].days_active, 42);
    assert_int_equal(l.acc[0].mutual, 2);
    assert_string_equal(l.acc[1].bare, "bob@a.test");
    assert_int_equal(l.acc[1].mutual, 1);
    assert_int_equal(l.acc[1].days_active, 0);     /* no activity row */
    assert_string_equal(l.acc[2].bare, "carol@a.test");
    assert_int_equal(l.acc[2].mutual, 0);
    assert_string_equal(l.acc[3].bare, "dave@b.test");
    assert_int_equal(l.acc[3].created_at, 1600000300);
    assert_int_equal(l.acc[3].counts[XS_ACT_MSGS_TO_STRANGERS], 9000000000u);
    load_fini(&l);

    LOAD_WAIT(l, xs_rep_db_load_account(pgh.q, "alice", "a.test", load_acc,
        load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.nacc, 1);
    assert_string_equal(l.acc[0].bare, "alice@a.test");
    assert_int_equal(l.acc[0].mutual, 2);
    assert_int_equal(l.acc[0].counts[XS_ACT_SUBS_RECEIVED], 8);
    load_fini(&l);
    LOAD_WAIT(l, xs_rep_db_load_account(pgh.q, "eve", "a.test", load_acc,
        load_done, &l));
    assert_int_equal(l.rc, XS_ENOTFOUND);
    assert_int_equal(l.nacc, 0);
    load_fini(&l);
}

/* More accounts than a page: keyset paging, no row twice, none lost. */
static void
load_accounts_pages(void **state)
{
    const size_t n = XS_REP_DB_PAGE + 57;
    const char *hosts[] = { "many.test" };
    struct load l;
    bool *seen;

    (void)state;
    pgh_script(SQL_ADD_ACCOUNTS("(SELECT 'u' || g AS u, 'many.test' AS h,"
        " 1600000000 + g AS t FROM generate_series(1, 10057) g) v"));
    LOAD_WAIT(l, xs_rep_db_load_accounts(pgh.q, hosts, 1, load_acc, load_done,
        &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.nacc, n);
    seen = xs_calloc(n + 1, sizeof(seen[0]));
    for (size_t i = 0; i < l.nacc; i++) {
        unsigned long k = strtoul(l.acc[i].bare + 1, NULL, 10);

        assert_true(k >= 1 && k <= n);
        assert_false(seen[k]);
        seen[k] = true;
        assert_int_equal(l.acc[i].created_at, 1600000000 + (int64_t)k);
    }
    xs_free(seen);
    load_fini(&l);
}

/* A batch PostgreSQL refuses for one item's data: the others commit, the
 * bad one alone is discarded, nothing is stuck. */
static void
refused_item_is_isolated(void **state)
{
    struct pgq_batchq_stats st0, st;
    struct xs_evidence ev;
    char subj[32];

    (void)state;
    clean_tables();
    pgh_script("ALTER TABLE reputation_evidence ADD CONSTRAINT t_poison"
        " CHECK (subject <> 'poison@x.test')");
    xs_rep_db_stats(pgh.q, &st0);
    for (int i = 0; i < 300; i++) {
        if (i == 217)
            snprintf(subj, sizeof(subj), "poison@x.test");
        else
            snprintf(subj, sizeof(subj), "u%d@x", i);
        ev_user(&ev, subj, XS_EVK_BLOCK, "a@x.test", NULL);
        assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    }
    xs_rep_db_flush_soon(pgh.q);
    assert_true(run_until_drained(pgh.q, 20000));
    xs_rep_db_stats(pgh.q, &st);
    assert_int_equal(st.discarded - st0.discarded, 1);
    assert_int_equal(st.appended - st0.appended, 299);
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_evidence", 0,
        NULL), 299);
    pgh_script("ALTER TABLE reputation_evidence DROP CONSTRAINT t_poison");
}

static void
prune_deletes_old_evidence(void **state)
{
    struct xs_evidence ev;
    struct load l;

    (void)state;
    clean_tables();
    for (int i = 0; i < 100; i++) {
        ev_user(&ev, "s@x.test", XS_EVK_CONVERSED, "a@x.test", NULL);
        ev.at = BASE_AT + i;
        assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    }
    xs_rep_db_flush_soon(pgh.q);
    assert_true(run_until_drained(pgh.q, 5000));
    LOAD_WAIT(l, xs_rep_db_prune(pgh.q, BASE_AT + 60, load_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(pgh_count("SELECT count(*) FROM reputation_evidence", 0,
        NULL), 40);
}

/*
 * The cluster stops under a queue: batches fail and stay, the queue
 * grows to its bound and then refuses (counted), and everything queued is
 * delivered once the cluster is back.
 */
static void
queue_survives_restart(void **state)
{
    struct pgq_batchq_stats st0, st;
    struct xs_evidence ev;
    struct gen g;
    long stored;
    uint64_t t0;

    (void)state;
    clean_tables();
    xs_rep_db_stats(pgh.q, &st0);
    pgq_set_timeouts(pgh.q, 500, 0);
    assert_int_equal(pgh_cluster_stop(), XS_OK);
    for (size_t i = 0; i < 3000; i++) {
        gen_item(i, &g, &ev);
        assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    }
    pgh_run_for(2500);
    xs_rep_db_stats(pgh.q, &st);
    assert_true(st.retries - st0.retries >= 1);
    assert_int_equal(st.queued, 3000);
    assert_int_equal(st.appended, st0.appended);

    /* Fill it: the bound holds, the rest is refused and counted. */
    for (size_t i = 3000; i < XS_REP_DB_QUEUE_MAX; i++) {
        gen_item(i, &g, &ev);
        assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    }
    gen_item(0, &g, &ev);
    assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_ELIMIT);
    assert_int_equal(xs_rep_db_retract(pgh.q, "a@x", XS_EVK_BLOCK, "b@x"),
        XS_ELIMIT);
    xs_rep_db_stats(pgh.q, &st);
    assert_int_equal(st.queued, XS_REP_DB_QUEUE_MAX);
    assert_int_equal(st.dropped - st0.dropped, 2);

    assert_int_equal(pgh_cluster_start(), XS_OK);
    t0 = xs_now_ms();
    pgq_set_timeouts(pgh.q, PGQ_WAIT_TIMEOUT_MS, 0);
    assert_true(run_until_drained(pgh.q, 120000));
    xs_rep_db_stats(pgh.q, &st);
    assert_int_equal(st.appended - st0.appended, XS_REP_DB_QUEUE_MAX);
    /* The closed pools of survives_close_and_free may commit their last
     * batch late (the server finishes what it got): not ours. */
    stored = pgh_count("SELECT count(*) FROM reputation_evidence"
        " WHERE subject <> 'closed@x.test'", 0, NULL);
    assert_int_equal(stored, XS_REP_DB_QUEUE_MAX);
    printf("# restart: %d queued items delivered %.1f s after the cluster "
        "came back (%" PRIu64 " failed batches retried)\n",
        XS_REP_DB_QUEUE_MAX, (double)(xs_now_ms() - t0) / 1000.0,
        st.retries - st0.retries);
}

/* The first figure for the bench: batched items/s vs single-row INSERTs. */
static void
append_throughput(void **state)
{
    const size_t n = 100000, singles = 2000;
    struct pgq_batchq_stats st0, st;
    struct xs_evidence ev;
    struct gen g;
    struct pgh_res r;
    char w[24];
    const char *p[4];
    uint64_t t0, ms_batched, ms_single;
    double batched, single;

    (void)state;
    clean_tables();
    xs_rep_db_stats(pgh.q, &st0);
    t0 = xs_now_ms();
    for (size_t i = 0; i < n; i++) {
        gen_item(i, &g, &ev);
        assert_int_equal(xs_rep_db_append(pgh.q, &ev), XS_OK);
    }
    assert_true(run_until_drained(pgh.q, 120000));
    ms_batched = xs_now_ms() - t0;
    xs_rep_db_stats(pgh.q, &st);
    assert_int_equal(st.appended - st0.appended, n);

    /* One INSERT and one commit per item, one after the other. */
    t0 = xs_now_ms();
    for (size_t i = 0; i < singles; i++) {
        gen_item(i, &g, &ev);
        snprintf(w, sizeof(w), "%.17g", ev.weight);
        p[0] = ev.subject;
        p[1] = w;
        p[2] = ev.source;
        p[3] = ev.note;
        pgh_query("INSERT INTO reputation_evidence (subject, kind, weight,"
            " source_kind, source, note, created_at) VALUES ($1, 'block',"
            " $2::float8, 'user', $3, $4, now())", 4, p, &r);
    }
    ms_single = xs_now_ms() - t0;
    batched = (double)n * 1000.0 / (double)(ms_batched ? ms_batched : 1);
    single = (double)singles * 1000.0 / (double)(ms_single ? ms_single : 1);
    printf("# throughput: %zu items batched in %" PRIu64 " ms = %.0f items/s"
        " (%" PRIu64 " batches); single-row INSERT %.0f rows/s; ratio %.1fx"
        " (cluster runs --fast)\n", n, ms_batched, batched,
        st.batches - st0.batches, single, batched / single);
}

/* pgq_close with batches and loads out: every load ends with XS_EIO,
 * pgq_free frees the rest; pgq_free alone frees everything too. */
static void
survives_close_and_free(void **state)
{
    struct pgq *q;
    struct xs_evidence ev;
    struct load l1, l2;
    struct pgq_batchq_stats st;

    (void)state;
    for (int round = 0; round < 2; round++) {
        assert_int_equal(pgq_new(pgh.base, pgh.conninfo, 1, 8, &q), XS_OK);
        assert_true(pgh_run_until_ready(q, 5000));
        for (int i = 0; i < 50; i++) {
            ev_user(&ev, "closed@x.test", XS_EVK_BLOCK, "a@x.test", "n");
            assert_int_equal(xs_rep_db_append(q, &ev), XS_OK);
        }
        assert_int_equal(xs_rep_db_retract(q, "closed@x.test", XS_EVK_BLOCK,
            "a@x.test"), XS_OK);
        memset(&l1, 0, sizeof(l1));
        memset(&l2, 0, sizeof(l2));
        assert_int_equal(xs_rep_db_load_evidence(q, 0, load_ev, load_done,
            &l1), XS_OK);
        assert_int_equal(xs_rep_db_pin_set(q, "p@x", 1, "r", 0, "op", 1,
            load_done, &l2), XS_OK);
        if (round == 0) {
            pgq_close(q);
            assert_int_equal(l1.calls, 1);
            assert_int_equal(l1.rc, XS_EIO);
            assert_int_equal(l2.calls, 1);
            assert_int_equal(l2.rc, XS_EIO);
            /* Refused from now on. */
            assert_int_equal(xs_rep_db_pin_clear(q, "p@x", load_done, &l2),
                XS_EIO);
            pgh_run_for(700);       /* the retry timer finds the pool closed */
            ev_user(&ev, "closed@x.test", XS_EVK_BLOCK, "a@x.test", NULL);
            assert_int_equal(xs_rep_db_append(q, &ev), XS_EIO);
            xs_rep_db_stats(q, &st);
            assert_true(st.queued > 0);
        }
        pgq_free(q);
        if (round == 1) {
            assert_int_equal(l1.calls, 0);
            assert_int_equal(l2.calls, 0);
        }
        load_fini(&l1);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_rejects_bad_items),
        cmocka_unit_test(append_round_trip),
        cmocka_unit_test(retract_keeps_order),
        cmocka_unit_test(pins_set_replace_clear_expire),
        cmocka_unit_test(load_accounts_with_activity),
        cmocka_unit_test(load_accounts_pages),
        cmocka_unit_test(refused_item_is_isolated),
        cmocka_unit_test(prune_deletes_old_evidence),
        cmocka_unit_test(append_throughput),
        cmocka_unit_test(survives_close_and_free),
        cmocka_unit_test(queue_survives_restart),
    };

    return cmocka_run_group_tests_name("db_reputation", tests, group_setup,
        pgh_group_teardown);
}
