/*
 * tests/unit/test_db_audit.c: the audit log: db/audit.c (entries written
 * behind in batches, the tail and per-subject reads, pruning) against a
 * private cluster started by deploy/pg.sh with the schema of the embedded
 * migrations, then mod_audit (reputation/audit.c) on that pool: recording
 * through xs_audit_record, its explanation bound, /metrics, and the
 * shutdown drain.
 *
 * Run from the repository root (make check-unit does).  The group setup
 * starts a throw-away cluster in a mkdtemp directory (blocking is fine in
 * a test) and the teardown stops it and removes the directory.  Two tests
 * stop and restart the cluster under a queue of entries.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/audit.h"
#include "db/pgq.h"
#include "reputation/audit.h"
#include "tests/unit/support/fake_server.h"
#include "tests/unit/support/pg_harness.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"

#define BASE_AT 1700000000      /* wall seconds of the generated entries */

extern const struct xs_module xs_mod_audit;

/* ---- helpers ---- */

static bool
queue_is_empty(void *arg)
{
    struct pgq_batchq_stats st;

    xs_audit_db_stats(arg, &st);
    return st.queued == 0;
}

/* Until every queued entry is out of the queue (or ms pass). */
static bool
run_until_drained(struct pgq *q, uint64_t ms)
{
    return pgh_run_until_cond(queue_is_empty, q, ms);
}

static long
count_of(const char *sql)
{
    return pgh_count(sql, 0, NULL);
}

static void
clean_table(void)
{
    pgh_script("DELETE FROM audit_log");
}

/* ---- collecting what the reads return ---- */

struct row_copy {
    int64_t  id;
    int64_t  at;
    char    *kind;
    char    *subject;
    char    *recipient;         /* NULL: SQL NULL */
    char    *decision;
    char    *reason;
    int      score;
    int      domain_score;
    bool     has_score;
    bool     has_domain_score;
    char    *flag;              /* NULL: SQL NULL */
    char    *explanation;
};

struct read {
    int              calls;     /* done calls */
    xs_rc            rc;
    struct row_copy *rows;
    size_t           n;
};

static char *
dup_or_null(const char *s)
{
    return s != NULL ? xs_strdup(s) : NULL;
}

static void
read_row(const struct xs_audit_row *r, void *udata)
{
    struct read *l = udata;
    struct row_copy *c;

    l->rows = xs_reallocarray(l->rows, l->n + 1, sizeof(l->rows[0]));
    c = &l->rows[l->n++];
    c->id = r->id;
    c->at = r->at;
    c->kind = xs_strdup(r->kind);
    c->subject = xs_strdup(r->subject);
    c->recipient = dup_or_null(r->recipient);
    c->decision = xs_strdup(r->decision);
    c->reason = xs_strdup(r->reason);
    c->score = r->score;
    c->domain_score = r->domain_score;
    c->has_score = r->has_score;
    c->has_domain_score = r->has_domain_score;
    c->flag = dup_or_null(r->flag);
    c->explanation = xs_strdup(r->explanation);
}

static void
read_done(xs_rc rc, void *udata)
{
    struct read *l = udata;

    l->calls++;
    l->rc = rc;
}

static void
read_fini(struct read *l)
{
    for (size_t i = 0; i < l->n; i++) {
        struct row_copy *c = &l->rows[i];

        xs_free(c->kind);
        xs_free(c->subject);
        xs_free(c->recipient);
        xs_free(c->decision);
        xs_free(c->reason);
        xs_free(c->flag);
        xs_free(c->explanation);
    }
    xs_free(l->rows);
    memset(l, 0, sizeof(*l));
}

/* Start a read (call), check it calls back later, once. */
#define READ_WAIT(l, call) PGH_CALL_WAIT(l, call, 30000)

/* ---- generated entries ---- */

/* Strings PostgreSQL's array syntax and JSON treat specially, and others
 * ("" is left out: a subject is never empty). */
static const char *const tricky[] = {
    "it's a \"quote\"",
    "back\\slash and \\\" both",
    "{braces},{more}",
    "comma, separated, \"values\"",
    "NULL",                             /* text, not SQL NULL */
    "  padded  ",
    "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x99\x82",
    "\\",
    "\"",
    "tab\there\nnewline",
    "[\"not\", {\"an\": \"array\"}]",
    "plain",
};
#define NTRICKY (sizeof(tricky) / sizeof(tricky[0]))

static const char *const reasons[] = {
    "score_below", "domain_below", "flag_low_trust", "flag_invalid",
    "no_flag", "ok",
};
static const char *const flags[] = {
    "ok", "bad_signature", "expired", "replayed", "absent",
};

#define NSUBJECTS 50

struct gen {
    char  subject[128];
    char  recipient[96];
    char *expl;                 /* owned (malloc, jansson) */
};

/* The explanation of entry i: objects with tricky texts, numbers, an
 * empty array now and then. */
static json_t *
gen_expl(size_t i)
{
    json_t *a = json_array();

    for (size_t k = 0; k < i % 4; k++) {
        json_array_append_new(a, json_pack("{s:s, s:s, s:s, s:f, s:s, s:s}",
            "what", tricky[(i + k) % NTRICKY], "source_kind", "user",
            "source", tricky[(i + 2 * k + 1) % NTRICKY],
            "points", -2.5 * (double)k, "age", "3d 4h",
            "note", tricky[(i * 7 + k) % NTRICKY]));
    }
    return a;
}

/* Entry i: every optional field both ways, tricky subjects, two entries
 * per second (the id orders them). */
static void
gen_row(size_t i, struct gen *g, struct xs_audit_row *r)
{
    json_t *expl = gen_expl(i);

    snprintf(g->subject, sizeof(g->subject), "%zu %s@remote.test",
        i % NSUBJECTS, tricky[i % NSUBJECTS % NTRICKY]);
    snprintf(g->recipient, sizeof(g->recipient), "r%zu@local.test", i % 7);
    g->expl = json_dumps(expl, JSON_COMPACT);
    xs_assert(g->expl != NULL);
    json_decref(expl);
    memset(r, 0, sizeof(*r));
    r->at = BASE_AT + (int64_t)(i / 2);
    r->kind = i % 4 == 0 ? "trust_key" : "subscription_gate";
    r->subject = g->subject;
    r->recipient = i % 5 == 0 ? NULL : g->recipient;
    r->decision = i % 2 == 0 ? "deliver" : "reject";
    r->reason = reasons[i % 6];
    r->has_score = i % 7 != 0;
    r->score = r->has_score ? (int)(i % 201) - 100 : 0;
    r->has_domain_score = i % 3 != 0;
    r->domain_score = r->has_domain_score ? 100 - (int)(i % 201) : 0;
    r->flag = i % 3 == 0 ? NULL : flags[i % 5];
    r->explanation = g->expl;
}

static void
gen_fini(struct gen *g)
{
    free(g->expl);                      /* jansson's allocator: malloc */
    g->expl = NULL;
}

static void
assert_str_or_null(const char *want, const char *got)
{
    if (want == NULL)
        assert_null(got);
    else
        assert_string_equal(want, got);
}

/* The same JSON value (jsonb prints it with its own spacing). */
static void
assert_json_same(const char *want, const char *got)
{
    json_t *a = json_loads(want, 0, NULL), *b = json_loads(got, 0, NULL);

    assert_non_null(a);
    assert_non_null(b);
    if (!json_equal(a, b))
        fail_msg("explanation differs:\nwant %s\ngot  %s", want, got);
    json_decref(a);
    json_decref(b);
}

/* A read row against generated entry i. */
static void
assert_row_is(const struct row_copy *c, size_t i)
{
    struct xs_audit_row r;
    struct gen g;

    gen_row(i, &g, &r);
    assert_int_equal(c->at, r.at);
    assert_string_equal(c->kind, r.kind);
    assert_string_equal(c->subject, r.subject);
    assert_str_or_null(r.recipient, c->recipient);
    assert_string_equal(c->decision, r.decision);
    assert_string_equal(c->reason, r.reason);
    assert_int_equal(c->has_score, r.has_score);
    assert_int_equal(c->score, r.score);
    assert_int_equal(c->has_domain_score, r.has_domain_score);
    assert_int_equal(c->domain_score, r.domain_score);
    assert_str_or_null(r.flag, c->flag);
    assert_json_same(r.explanation, c->explanation);
    gen_fini(&g);
}

static void
append_range(size_t from, size_t to)
{
    struct xs_audit_row r;
    struct gen g;

    for (size_t i = from; i < to; i++) {
        gen_row(i, &g, &r);
        assert_int_equal(xs_audit_db_append(pgh.q, &r), XS_OK);
        gen_fini(&g);
    }
}

/* ---- setup ---- */

static int
group_setup(void **state)
{
    if (sodium_init() < 0 || pgh_group_setup(state) != 0)
        return -1;
    xs_server()->base = pgh.base;
    xs_server()->db = pgh.q;
    return 0;
}

static int
group_teardown(void **state)
{
    (void)state;
    xs_server()->base = NULL;
    xs_server()->db = NULL;
    pgh_teardown();
    return 0;
}

/* ---- db/audit.c ---- */

static void
append_rejects_bad_rows(void **state)
{
    char long_token[XS_AUDIT_DB_TOKEN_MAX + 2];
    char long_jid[XS_AUDIT_DB_JID_MAX + 2];
    char *long_expl = xs_malloc(XS_AUDIT_DB_EXPL_MAX + 2);
    const struct xs_audit_row ok = {
        .at = BASE_AT, .kind = "subscription_gate", .subject = "a@x.test",
        .recipient = "b@y.test", .decision = "reject", .reason = "no_flag",
        .score = -100, .has_score = true, .domain_score = 100,
        .has_domain_score = true, .flag = "absent", .explanation = "[]",
    };
    struct pgq_batchq_stats st0, st;
    struct xs_audit_row r;

    (void)state;
    memset(long_token, 'k', sizeof(long_token) - 1);
    long_token[sizeof(long_token) - 1] = '\0';
    memset(long_jid, 'j', sizeof(long_jid) - 1);
    long_jid[sizeof(long_jid) - 1] = '\0';
    memset(long_expl, ' ', XS_AUDIT_DB_EXPL_MAX + 1);
    long_expl[0] = '[';
    long_expl[XS_AUDIT_DB_EXPL_MAX] = ']';
    long_expl[XS_AUDIT_DB_EXPL_MAX + 1] = '\0';
    xs_audit_db_stats(pgh.q, &st0);

    assert_int_equal(xs_audit_db_append(NULL, &ok), XS_EINVAL);
    assert_int_equal(xs_audit_db_append(pgh.q, NULL), XS_EINVAL);
#define BAD(field, value)                                               \
    do {                                                                \
        r = ok;                                                         \
        r.field = (value);                                              \
        assert_int_equal(xs_audit_db_append(pgh.q, &r), XS_EINVAL);     \
    } while (0)
    BAD(kind, NULL);
    BAD(kind, "");
    BAD(kind, long_token);
    BAD(subject, NULL);
    BAD(subject, "");
    BAD(subject, long_jid);
    BAD(subject, "bad \xc3\x28 utf-8");
    BAD(subject, "overlong \xc0\xaf");
    BAD(subject, "surrogate \xed\xa0\x80");
    BAD(recipient, "");
    BAD(recipient, long_jid);
    BAD(decision, NULL);
    BAD(decision, "");
    BAD(reason, long_token);
    BAD(flag, "");
    BAD(flag, "cut \xe6\x97");
    BAD(explanation, "");
    BAD(explanation, long_expl);
    BAD(score, 101);
    BAD(score, -101);
    BAD(domain_score, INT_MIN);
#undef BAD
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.queued_total, st0.queued_total);
    assert_int_equal(st.queued, st0.queued);

    /* The limits themselves are fine; no score needs no range. */
    r = ok;
    long_token[XS_AUDIT_DB_TOKEN_MAX] = '\0';
    long_jid[XS_AUDIT_DB_JID_MAX] = '\0';
    r.kind = long_token;
    r.subject = long_jid;
    r.recipient = long_jid;
    r.has_score = false;
    r.score = INT_MIN;
    clean_table();
    assert_int_equal(xs_audit_db_append(pgh.q, &r), XS_OK);
    xs_audit_db_flush_soon(pgh.q);
    assert_true(run_until_drained(pgh.q, 5000));
    assert_int_equal(count_of("SELECT count(*) FROM audit_log WHERE score"
        " IS NULL AND domain_score = 100 AND explanation = '[]'"), 1);
    xs_free(long_expl);
}

/*
 * Many entries in several batches, every optional field both ways,
 * awkward texts in every column and in the JSON: the reads give them
 * back exactly, newest first, ties by id.
 */
static void
append_round_trip(void **state)
{
    const size_t n = 2500;
    struct pgq_batchq_stats st0, st;
    struct read l;
    size_t k;

    (void)state;
    clean_table();
    xs_audit_db_stats(pgh.q, &st0);
    append_range(0, n);
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.queued_total - st0.queued_total, n);
    assert_true(st.queued_bytes > 0);
    assert_true(run_until_drained(pgh.q, 20000));
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.appended - st0.appended, n);
    assert_int_equal(st.discarded, st0.discarded);
    assert_int_equal(st.queued_bytes, 0);
    /* Batches, not one statement per entry. */
    assert_true(st.batches - st0.batches <= 10);
    assert_int_equal(count_of("SELECT count(*) FROM audit_log"), (long)n);

    /* The newest 1000, newest first. */
    READ_WAIT(l, xs_audit_db_tail(pgh.q, XS_AUDIT_DB_READ_MAX, NULL,
        read_row, read_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.n, XS_AUDIT_DB_READ_MAX);
    for (size_t i = 0; i < l.n; i++) {
        assert_row_is(&l.rows[i], n - 1 - i);
        if (i > 0)
            assert_true(l.rows[i].id < l.rows[i - 1].id);
    }
    read_fini(&l);

    /* One kind only: every fourth entry. */
    READ_WAIT(l, xs_audit_db_tail(pgh.q, 10, "trust_key", read_row,
        read_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.n, 10);
    k = n - 1;
    for (size_t i = 0; i < l.n; i++) {
        while (k % 4 != 0)
            k--;
        assert_row_is(&l.rows[i], k);
        k--;
    }
    read_fini(&l);

    READ_WAIT(l, xs_audit_db_tail(pgh.q, 5, "no such kind", read_row,
        read_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.n, 0);
    read_fini(&l);

    /* One subject (with quotes, braces, backslashes in it): entries
     * i = s (mod NSUBJECTS), newest first, all of them when n allows. */
    for (size_t s = 0; s < NSUBJECTS; s += 7) {
        struct xs_audit_row r;
        struct gen g;
        size_t want = n / NSUBJECTS;

        gen_row(s, &g, &r);
        READ_WAIT(l, xs_audit_db_by_subject(pgh.q, r.subject, 1000, read_row,
            read_done, &l));
        gen_fini(&g);
        assert_int_equal(l.rc, XS_OK);
        assert_int_equal(l.n, want);
        for (size_t i = 0; i < l.n; i++)
            assert_row_is(&l.rows[i], s + (want - 1 - i) * NSUBJECTS);
        read_fini(&l);
    }

    /* n cuts; an unknown subject has nothing. */
    READ_WAIT(l, xs_audit_db_by_subject(pgh.q, "3 \"@remote.test", 3,
        read_row, read_done, &l));
    assert_int_equal(l.rc, XS_OK);
    assert_int_equal(l.n, 0);
    read_fini(&l);
    {
        struct xs_audit_row r;
        struct gen g;

        gen_row(8, &g, &r);
        READ_WAIT(l, xs_audit_db_by_subject(pgh.q, r.subject, 3, read_row,
            read_done, &l));
        gen_fini(&g);
        assert_int_equal(l.n, 3);
        assert_row_is(&l.rows[0], n - NSUBJECTS + 8);
        read_fini(&l);
    }
}

static void
reads_reject_bad_arguments(void **state)
{
    char long_token[XS_AUDIT_DB_TOKEN_MAX + 2];
    struct read l;

    (void)state;
    memset(&l, 0, sizeof(l));
    memset(long_token, 'k', sizeof(long_token) - 1);
    long_token[sizeof(long_token) - 1] = '\0';
    assert_int_equal(xs_audit_db_tail(pgh.q, 0, NULL, read_row, read_done,
        &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_tail(pgh.q, XS_AUDIT_DB_READ_MAX + 1, NULL,
        read_row, read_done, &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_tail(pgh.q, 1, long_token, read_row,
        read_done, &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_tail(pgh.q, 1, "", read_row, read_done, &l),
        XS_EINVAL);
    assert_int_equal(xs_audit_db_tail(pgh.q, 1, NULL, NULL, read_done, &l),
        XS_EINVAL);
    assert_int_equal(xs_audit_db_tail(NULL, 1, NULL, read_row, read_done,
        &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_by_subject(pgh.q, "", 1, read_row,
        read_done, &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_by_subject(pgh.q, NULL, 1, read_row,
        read_done, &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_by_subject(pgh.q, "a@b", 0, read_row,
        read_done, &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_by_subject(pgh.q, "a\xff@b", 1, read_row,
        read_done, &l), XS_EINVAL);
    assert_int_equal(xs_audit_db_prune(pgh.q, 0, NULL, NULL), XS_EINVAL);
    pgh_run_for(50);
    assert_int_equal(l.calls, 0);
}

/*
 * An entry PostgreSQL refuses (an explanation that is not JSON, a JSON
 * string where an array belongs) fails its batch: the batch is halved
 * until the bad one is alone, which is discarded; all the others commit.
 */
static void
refused_entry_is_isolated(void **state)
{
    struct pgq_batchq_stats st0, st;
    struct xs_audit_row r;
    struct gen g;

    (void)state;
    clean_table();
    xs_audit_db_stats(pgh.q, &st0);
    for (size_t i = 0; i < 300; i++) {
        gen_row(i, &g, &r);
        if (i == 123)
            r.explanation = "[{\"what\": not json}]";
        else if (i == 250)
            r.explanation = "\"a string\"";
        assert_int_equal(xs_audit_db_append(pgh.q, &r), XS_OK);
        gen_fini(&g);
    }
    xs_audit_db_flush_soon(pgh.q);
    assert_true(run_until_drained(pgh.q, 20000));
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.discarded - st0.discarded, 2);
    assert_int_equal(st.appended - st0.appended, 298);
    assert_int_equal(count_of("SELECT count(*) FROM audit_log"), 298);
}

struct prune_res {
    int      done;
    xs_rc    rc;
    uint64_t deleted;
};

static void
prune_cb(xs_rc rc, uint64_t deleted, void *udata)
{
    struct prune_res *p = udata;

    p->rc = rc;
    p->deleted = deleted;
    p->done++;
}

/* More than a chunk (XS_AUDIT_DB_PAGE) past the cut: several
 * statements, one callback with the total. */
static void
prune_deletes_old_entries(void **state)
{
    struct prune_res p = { 0, XS_EIO, 0 };
    struct read l;

    (void)state;
    clean_table();
    pgh_script("INSERT INTO audit_log (at, kind, subject, decision, reason)"
        " SELECT to_timestamp(1700000000 + g), 'subscription_gate',"
        " 's' || (g % 10) || '@x.test', 'reject', 'no_flag'"
        " FROM generate_series(0, 24999) AS g");
    assert_int_equal(xs_audit_db_prune(pgh.q, BASE_AT + 22000, prune_cb, &p),
        XS_OK);
    assert_int_equal(p.done, 0);
    assert_true(pgh_run_until(&p.done, 1, 30000));
    assert_int_equal(p.rc, XS_OK);
    assert_int_equal(p.deleted, 22000);
    assert_int_equal(count_of("SELECT count(*) FROM audit_log"), 3000);
    assert_int_equal(count_of("SELECT count(*) FROM audit_log WHERE"
        " at < to_timestamp(1700022000)"), 0);

    /* Nothing left to delete: 0. */
    memset(&p, 0, sizeof(p));
    assert_int_equal(xs_audit_db_prune(pgh.q, BASE_AT + 22000, prune_cb, &p),
        XS_OK);
    assert_true(pgh_run_until(&p.done, 1, 10000));
    assert_int_equal(p.rc, XS_OK);
    assert_int_equal(p.deleted, 0);

    /* The reads still work on what is left. */
    READ_WAIT(l, xs_audit_db_by_subject(pgh.q, "s4@x.test", 2, read_row,
        read_done, &l));
    assert_int_equal(l.n, 2);
    assert_int_equal(l.rows[0].at, BASE_AT + 24994);
    assert_int_equal(l.rows[1].at, BASE_AT + 24984);
    assert_null(l.rows[0].recipient);
    assert_null(l.rows[0].flag);
    assert_false(l.rows[0].has_score);
    assert_string_equal(l.rows[0].explanation, "[]");
    read_fini(&l);
}

/*
 * The cluster stops under a queue: batches fail and stay, the queue
 * grows to its bound and then refuses (counted), and everything queued
 * is delivered once the cluster is back.
 */
static void
queue_survives_restart(void **state)
{
    struct pgq_batchq_stats st0, st;
    struct xs_audit_row r;
    struct gen g;
    uint64_t t0;

    (void)state;
    clean_table();
    xs_audit_db_stats(pgh.q, &st0);
    pgq_set_timeouts(pgh.q, 500, 0);
    assert_int_equal(pgh_cluster_stop(), XS_OK);
    append_range(0, 3000);
    pgh_run_for(2500);
    xs_audit_db_stats(pgh.q, &st);
    assert_true(st.retries - st0.retries >= 1);
    assert_int_equal(st.queued, 3000);
    assert_int_equal(st.appended, st0.appended);

    /* Fill it: the bound holds, the rest is refused and counted. */
    append_range(3000, XS_AUDIT_DB_QUEUE_MAX);
    gen_row(0, &g, &r);
    assert_int_equal(xs_audit_db_append(pgh.q, &r), XS_ELIMIT);
    assert_int_equal(xs_audit_db_append(pgh.q, &r), XS_ELIMIT);
    gen_fini(&g);
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.queued, XS_AUDIT_DB_QUEUE_MAX);
    assert_int_equal(st.dropped - st0.dropped, 2);

    assert_int_equal(pgh_cluster_start(), XS_OK);
    t0 = xs_now_ms();
    pgq_set_timeouts(pgh.q, PGQ_WAIT_TIMEOUT_MS, 0);
    assert_true(run_until_drained(pgh.q, 120000));
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.appended - st0.appended, XS_AUDIT_DB_QUEUE_MAX);
    assert_int_equal(count_of("SELECT count(*) FROM audit_log"
        " WHERE subject <> 'closed@x.test'"), XS_AUDIT_DB_QUEUE_MAX);
    printf("# restart: %d queued entries delivered %.1f s after the cluster "
        "came back (%" PRIu64 " failed batches retried)\n",
        XS_AUDIT_DB_QUEUE_MAX, (double)(xs_now_ms() - t0) / 1000.0,
        st.retries - st0.retries);
}

/* Large explanations: the byte bound refuses before the count bound. */
static void
queue_bytes_bound(void **state)
{
    struct pgq_batchq_stats st0, st;
    struct xs_audit_row r;
    struct gen g;
    char *big = xs_malloc(XS_AUDIT_DB_EXPL_MAX + 1);
    size_t accepted = 0, len;
    xs_rc rc;

    (void)state;
    /* A JSON array of one long string, exactly the largest allowed. */
    len = XS_AUDIT_DB_EXPL_MAX;
    memset(big, 'x', len);
    memcpy(big, "[\"", 2);
    memcpy(big + len - 2, "\"]", 2);
    big[len] = '\0';
    clean_table();
    xs_audit_db_stats(pgh.q, &st0);
    pgq_set_timeouts(pgh.q, 500, 0);
    assert_int_equal(pgh_cluster_stop(), XS_OK);
    gen_row(1, &g, &r);
    r.explanation = big;
    while ((rc = xs_audit_db_append(pgh.q, &r)) == XS_OK)
        accepted++;
    assert_int_equal(rc, XS_ELIMIT);
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.queued, accepted);
    assert_true(st.queued < XS_AUDIT_DB_QUEUE_MAX);
    assert_true(st.queued_bytes <= XS_AUDIT_DB_QUEUE_BYTES);
    assert_true(st.queued_bytes > XS_AUDIT_DB_QUEUE_BYTES
        - 2 * (XS_AUDIT_DB_EXPL_MAX + 256));
    /* A small one still fits in what is left. */
    r.explanation = "[]";
    assert_int_equal(xs_audit_db_append(pgh.q, &r), XS_OK);
    accepted++;
    gen_fini(&g);

    assert_int_equal(pgh_cluster_start(), XS_OK);
    pgq_set_timeouts(pgh.q, PGQ_WAIT_TIMEOUT_MS, 0);
    assert_true(run_until_drained(pgh.q, 120000));
    xs_audit_db_stats(pgh.q, &st);
    assert_int_equal(st.appended - st0.appended, accepted);
    assert_int_equal(st.queued_bytes, 0);
    assert_int_equal(count_of("SELECT count(*) FROM audit_log WHERE"
        " octet_length(explanation::text) = 32768"), (long)accepted - 1);
    xs_free(big);
}

/* pgq_close with batches and reads out: every read ends with XS_EIO,
 * pgq_free frees the rest; pgq_free alone frees everything too. */
static void
survives_close_and_free(void **state)
{
    struct pgq *q;
    struct xs_audit_row r = {
        .at = BASE_AT, .kind = "subscription_gate",
        .subject = "closed@x.test", .decision = "reject",
        .reason = "no_flag",
    };
    struct read l1, l2;
    struct prune_res p = { 0, XS_OK, 0 };

    (void)state;
    memset(&l1, 0, sizeof(l1));
    memset(&l2, 0, sizeof(l2));
    assert_int_equal(pgq_new(pgh.base, pgh.conninfo, 1, 16, &q), XS_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(xs_audit_db_append(q, &r), XS_OK);
    assert_int_equal(xs_audit_db_tail(q, 10, NULL, read_row, read_done,
        &l1), XS_OK);
    assert_int_equal(xs_audit_db_by_subject(q, "closed@x.test", 10,
        read_row, read_done, &l2), XS_OK);
    assert_int_equal(xs_audit_db_prune(q, 0, prune_cb, &p), XS_OK);
    pgq_close(q);
    assert_int_equal(l1.calls, 1);
    assert_int_equal(l1.rc, XS_EIO);
    assert_int_equal(l2.calls, 1);
    assert_int_equal(p.done, 1);
    assert_int_equal(p.rc, XS_EIO);
    /* Closed: a read is refused now, no callback. */
    assert_int_equal(xs_audit_db_tail(q, 1, NULL, read_row, read_done,
        &l1), XS_EIO);
    assert_int_equal(l1.calls, 1);
    pgq_free(q);
    read_fini(&l1);
    read_fini(&l2);

    /* pgq_free alone: the queue and the reads are freed, no callback. */
    assert_int_equal(pgq_new(pgh.base, pgh.conninfo, 1, 16, &q), XS_OK);
    for (int i = 0; i < 50; i++)
        assert_int_equal(xs_audit_db_append(q, &r), XS_OK);
    assert_int_equal(xs_audit_db_tail(q, 10, NULL, read_row, read_done,
        &l1), XS_OK);
    pgq_free(q);
    assert_int_equal(l1.calls, 0);
}

/* ---- mod_audit ---- */

struct module {
    struct xs_conf *conf;
    void           *state;
};

static void
module_load(struct module *m, const char *yaml)
{
    char *err = NULL;

    memset(m, 0, sizeof(*m));
    if (xs_conf_load_string(yaml, "test.yml", &m->conf, &err) != XS_OK)
        fail_msg("config: %s", err);
    xs_server()->conf = m->conf;
    assert_int_equal(xs_mod_audit.init(m->conf, &m->state), XS_OK);
    assert_int_equal(xs_event_add(&xs_mod_audit.events[0], &xs_mod_audit,
        m->state), XS_OK);
}

static void
module_unload(struct module *m)
{
    xs_event_remove_owner(&xs_mod_audit);
    xs_mod_audit.fini(m->state);
    xs_server()->conf = NULL;
    xs_conf_free(m->conf);
    memset(m, 0, sizeof(*m));
}

static json_t *
expl_line(const char *what, const char *source, double points,
    const char *note)
{
    return json_pack("{s:s, s:s, s:s, s:f, s:s, s:s}", "what", what,
        "source_kind", "user", "source", source, "points", points,
        "age", "1d 2h", "note", note);
}

static int is_drained;

static void
on_drained(void)
{
    is_drained++;
}

static void
module_rejects_bad_options(void **state)
{
    static const char *const bad[] = {
        "hosts: [example.org]\nmodules:\n  mod_audit: {retention_days: -1}\n",
        "hosts: [example.org]\nmodules:\n  mod_audit: {retention: 3}\n",
        "hosts: [example.org]\nmodules:\n  mod_audit: {retention_days: x}\n",
    };
    char *err = NULL;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct xs_conf *c = NULL;
        void *st = NULL;

        assert_int_equal(xs_conf_load_string(bad[i], "t.yml", &c, &err),
            XS_OK);
        xs_server()->conf = c;
        assert_int_not_equal(xs_mod_audit.init(c, &st), XS_OK);
        xs_mod_audit.fini(st);
        xs_conf_free(c);
        xs_server()->conf = NULL;
    }
}

/*
 * xs_audit_record: refused before the module loads and after it unloads;
 * entries land in PostgreSQL with their explanation (a long one trimmed
 * to the bound with a last line saying so), a score outside the scale
 * as none; /metrics counts them; the shutdown drain holds until the queue
 * is committed.
 */
static void
module_records_and_drains(void **state)
{
    struct xs_audit_entry e = {
        .at = BASE_AT, .kind = "subscription_gate",
        .subject = "spam@remote.test", .recipient = "alice@example.org",
        .decision = "reject", .reason = "score_below", .score = -45,
        .domain_score = 3, .flag = "absent",
    };
    struct evbuffer *out;
    struct module m;
    struct read l;
    json_t *expl, *big, *stored, *last;
    char *text;
    size_t n;

    (void)state;
    clean_table();
    expl = json_array();
    json_array_append_new(expl, expl_line("report_spam", "bob@example.org",
        -9.5, "it's \"spam\" {really}"));
    json_array_append_new(expl, expl_line("block", "caf\xc3\xa9@example.org",
        -4.9, ""));
    e.explanation = expl;
    assert_int_equal(xs_audit_record(&e), XS_EINVAL);   /* not loaded */

    module_load(&m, "hosts: [example.org]\n"
        "modules:\n  mod_audit: {retention_days: 30}\n");
    assert_int_equal(xs_audit_record(NULL), XS_EINVAL);
    for (int i = 0; i < 3; i++) {
        e.at = BASE_AT + i;
        assert_int_equal(xs_audit_record(&e), XS_OK);
    }
    /* A key's entry: no recipient, no scores, no explanation. */
    assert_int_equal(xs_audit_record(&(struct xs_audit_entry){
        .at = BASE_AT + 10, .kind = "trust_key", .subject = "remote.test",
        .decision = "distrust", .reason = "pinned_key_changed",
        .score = INT_MIN, .domain_score = INT_MIN }), XS_OK);
    /* An explanation that is not an array, and a bad subject: refused. */
    e.explanation = json_object();
    assert_int_equal(xs_audit_record(&e), XS_EINVAL);
    json_decref(e.explanation);
    e.explanation = expl;
    e.subject = "bad \xff utf-8";
    assert_int_equal(xs_audit_record(&e), XS_EINVAL);
    e.subject = "spam@remote.test";

    /* Far too long: the leading lines that fit, then the marker. */
    big = json_array();
    for (int i = 0; i < 2000; i++)
        json_array_append_new(big, expl_line("conversed", "someone@x.test",
            (double)i, "a note long enough to make the whole thing large"));
    e.explanation = big;
    e.at = BASE_AT + 20;
    e.decision = "deliver";
    e.reason = "ok";
    assert_int_equal(xs_audit_record(&e), XS_OK);

    /* The drain: held until the queue is committed. */
    is_drained = 0;
    xs_shutdown_drain(pgh.base, on_drained);
    assert_true(pgh_run_until(&is_drained, 1, 10000));
    assert_int_equal(is_drained, 1);
    assert_true(run_until_drained(pgh.q, 1));
    xs_shutdown_drain_free();

    assert_int_equal(count_of("SELECT count(*) FROM audit_log"
        " WHERE subject <> 'closed@x.test'"), 5);
    READ_WAIT(l, xs_audit_db_by_subject(pgh.q, "spam@remote.test", 10,
        read_row, read_done, &l));
    assert_int_equal(l.n, 4);
    /* The long one: cut, its last line says how many are missing. */
    assert_string_equal(l.rows[0].decision, "deliver");
    assert_true(strlen(l.rows[0].explanation) <= 49152);
    stored = json_loads(l.rows[0].explanation, 0, NULL);
    assert_non_null(stored);
    n = json_array_size(stored);
    assert_true(n > 10 && n < 2000);
    assert_true(json_equal(json_array_get(stored, 0),
        json_array_get(big, 0)));
    assert_true(json_equal(json_array_get(stored, n - 2),
        json_array_get(big, n - 2)));
    last = json_array_get(stored, n - 1);
    assert_string_equal(json_string_value(json_object_get(last, "what")),
        "truncated");
    text = xs_asprintf("%zu more lines not recorded", 2000 - (n - 1));
    assert_string_equal(json_string_value(json_object_get(last, "note")),
        text);
    xs_free(text);
    json_decref(stored);
    /* The others as given. */
    assert_int_equal(l.rows[1].at, BASE_AT + 2);
    assert_string_equal(l.rows[1].recipient, "alice@example.org");
    assert_string_equal(l.rows[1].reason, "score_below");
    assert_int_equal(l.rows[1].score, -45);
    assert_int_equal(l.rows[1].domain_score, 3);
    assert_string_equal(l.rows[1].flag, "absent");
    text = json_dumps(expl, JSON_COMPACT);
    assert_json_same(text, l.rows[1].explanation);
    free(text);
    read_fini(&l);
    READ_WAIT(l, xs_audit_db_tail(pgh.q, 1, "trust_key", read_row, read_done,
        &l));
    assert_int_equal(l.n, 1);
    assert_string_equal(l.rows[0].subject, "remote.test");
    assert_null(l.rows[0].recipient);
    assert_null(l.rows[0].flag);
    assert_false(l.rows[0].has_score);
    assert_false(l.rows[0].has_domain_score);
    assert_string_equal(l.rows[0].explanation, "[]");
    read_fini(&l);

    /* /metrics */
    out = evbuffer_new();
    xs_mod_audit.metrics(out, m.state);
    evbuffer_add(out, "", 1);
    text = (char *)evbuffer_pullup(out, -1);
    assert_non_null(strstr(text, "# TYPE xmppd_audit_entries_total counter"
        "\n"));
    assert_non_null(strstr(text, "xmppd_audit_entries_total{kind="
        "\"subscription_gate\",decision=\"reject\"} 3\n"));
    assert_non_null(strstr(text, "xmppd_audit_entries_total{kind="
        "\"subscription_gate\",decision=\"deliver\"} 1\n"));
    assert_non_null(strstr(text, "xmppd_audit_entries_total{kind="
        "\"trust_key\",decision=\"distrust\"} 1\n"));
    assert_non_null(strstr(text, "\nxmppd_audit_queue 0\n"));
    assert_non_null(strstr(text, "xmppd_audit_dropped_total{reason="
        "\"invalid\"} 2\n"));
    evbuffer_free(out);

    module_unload(&m);
    e.explanation = expl;
    assert_int_equal(xs_audit_record(&e), XS_EINVAL);   /* unloaded */
    json_decref(expl);
    json_decref(big);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(append_rejects_bad_rows),
        cmocka_unit_test(append_round_trip),
        cmocka_unit_test(reads_reject_bad_arguments),
        cmocka_unit_test(refused_entry_is_isolated),
        cmocka_unit_test(prune_deletes_old_entries),
        cmocka_unit_test(survives_close_and_free),
        cmocka_unit_test(queue_survives_restart),
        cmocka_unit_test(queue_bytes_bound),
        cmocka_unit_test(module_rejects_bad_options),
        cmocka_unit_test(module_records_and_drains),
    };

    return cmocka_run_group_tests_name("db_audit", tests, group_setup,
        group_teardown);
}
