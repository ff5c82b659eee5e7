/* tests/unit/test_reputation.c: the reputation engine in memory (scores,
 * evidence, caps, decay, pins, domains, restore, prune, caching) and the
 * options of mod_reputation. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "reputation/engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY     86400
#define NOW     ((int64_t)1700000000)

/* 400 days old, nothing else: 5 + 12 * 400 / 365 = 18.1507 -> 18. */
#define OLD_BASE    (5 + 12.0 * 400 / 365)

static void
assert_close(double got, double want, double eps)
{
    if (fabs(got - want) > eps)
        fail_msg("got %.12g, want %.12g", got, want);
}

static void
assert_near(double got, double want)
{
    assert_close(got, want, 1e-9);
}

static struct xs_rep *
engine(void)
{
    struct xs_rep_policy p;
    struct xs_rep *r;

    xs_rep_policy_defaults(&p);
    r = xs_rep_new(&p);
    xs_rep_policy_fini(&p);
    return r;
}

/* An account at full standing: 5 + 30 (age cap) + 20 (mutual cap) = 55,
 * so its items count whole. */
static void
reporter(struct xs_rep *r, const char *bare)
{
    xs_rep_account_set(r, bare, NOW - 1000 * DAY, false);
    xs_rep_account_mutual_set(r, bare, 10);
}

static struct xs_evidence
ev(const char *subject, enum xs_evk kind, enum xs_evsrc src,
    const char *source)
{
    return (struct xs_evidence){ .subject = subject, .kind = kind,
        .src = src, .source = source };
}

static enum xs_rep_admit
submit(struct xs_rep *r, const char *subject, enum xs_evk kind,
    enum xs_evsrc src, const char *source, bool is_local, int64_t now)
{
    struct xs_evidence e = ev(subject, kind, src, source);

    return xs_rep_submit(r, &e, is_local, now, NULL);
}

static int
score(struct xs_rep *r, const char *subject, int64_t now)
{
    return xs_rep_score(r, subject, now).score;
}

static const struct xs_rep_line *
find_line(const struct xs_rep_explanation *e, const char *what,
    const char *source)
{
    for (size_t i = 0; i < e->nlines; i++) {
        if (strcmp(e->lines[i].what, what) == 0
            && (source == NULL || strcmp(e->lines[i].source, source) == 0))
            return &e->lines[i];
    }
    return NULL;
}

/* Explains subject and checks what every explanation must hold: the
 * score is xs_rep_score's, lines are strongest first, and (unpinned,
 * unclamped) they add up to the score. */
static void
explain(struct xs_rep *r, const char *subject, int64_t now,
    struct xs_rep_explanation *e)
{
    struct xs_rep_score s = xs_rep_score(r, subject, now);
    double sum = 0;

    xs_rep_explain(r, subject, now, e);
    assert_int_equal(e->s.score, s.score);
    assert_int_equal(e->s.level, s.level);
    assert_int_equal(e->s.is_known, s.is_known);
    assert_int_equal(e->s.in_probation, s.in_probation);
    for (size_t i = 0; i < e->nlines; i++) {
        sum += e->lines[i].points;
        if (i > 0)
            assert_true(fabs(e->lines[i - 1].points)
                >= fabs(e->lines[i].points));
    }
    if (e->nlines > 0 && sum > -100 && sum < 100)
        assert_int_equal((int)lround(sum), e->s.score);
}

/* ---- names, decay, rates, levels ---- */

static void
test_names(void **state)
{
    static const char *const kinds[] = {
        "block", "report_spam", "report_abuse", "sub_refused", "conversed",
        "rate_limited", "s2s_refused", "captcha_passed", "operator",
    };
    static const char *const srcs[] = { "user", "admin", "system", "buddy" };
    enum xs_evk k;
    enum xs_evsrc s;

    (void)state;
    assert_int_equal(XS_ARRAY_LEN(kinds), XS_EVK__COUNT);
    for (size_t i = 0; i < XS_EVK__COUNT; i++) {
        assert_string_equal(xs_evk_name((enum xs_evk)i), kinds[i]);
        assert_int_equal(xs_evk_from_name(kinds[i], &k), XS_OK);
        assert_int_equal(k, i);
    }
    for (size_t i = 0; i < XS_EVSRC__COUNT; i++) {
        assert_string_equal(xs_evsrc_name((enum xs_evsrc)i), srcs[i]);
        assert_int_equal(xs_evsrc_from_name(srcs[i], &s), XS_OK);
        assert_int_equal(s, i);
    }
    assert_null(xs_evk_name(XS_EVK__COUNT));
    assert_null(xs_evsrc_name(XS_EVSRC__COUNT));
    assert_int_equal(xs_evk_from_name("Block", &k), XS_ENOTFOUND);
    assert_int_equal(xs_evk_from_name(NULL, &k), XS_ENOTFOUND);
    assert_int_equal(xs_evsrc_from_name("root", &s), XS_ENOTFOUND);
    assert_string_equal(xs_rep_level_name(XS_REP_TRUSTED), "trusted");
    assert_string_equal(xs_rep_level_name(XS_REP_UNKNOWN), "unknown");
    assert_null(xs_rep_level_name(XS_REP_LEVEL__COUNT));
    assert_string_equal(xs_rep_admit_name(XS_REP_RATE_LIMITED),
        "rate_limited");
    assert_string_equal(xs_rep_admit_name(XS_REP_INVALID), "invalid");
}

static void
test_decay(void **state)
{
    (void)state;
    assert_near(xs_evidence_decay(-10, NOW, NOW + 30 * DAY, 30 * DAY), -5);
    assert_near(xs_evidence_decay(-10, NOW, NOW + 60 * DAY, 30 * DAY),
        -2.5);
    assert_near(xs_evidence_decay(-10, NOW, NOW + 60 * DAY, 0), -10);
    /* From the future (a clock stepped back): never more than itself. */
    assert_near(xs_evidence_decay(-10, NOW, NOW - DAY, 30 * DAY), -10);
}

static void
test_rates_and_levels(void **state)
{
    struct xs_rep_policy p;

    (void)state;
    xs_rep_policy_defaults(&p);
    assert_near(xs_rep_rate_points(&p.age, 400), 12.0 * 400 / 365);
    assert_near(xs_rep_rate_points(&p.age, 5000), 30);
    assert_near(xs_rep_rate_points(&p.subs_ignored, 3), 0);
    assert_near(xs_rep_rate_points(&p.subs_ignored, 10), -5);
    assert_near(xs_rep_rate_points(&p.subs_ignored, 100), -20);
    assert_near(xs_rep_rate_points(&p.msgs_to_strangers, 20), 0);
    assert_near(xs_rep_rate_points(&p.msgs_to_strangers, 120), -10);
    assert_near(xs_rep_rate_points(&p.replies, 55), 5.5);
    assert_near(xs_rep_rate_points(&p.mutual_contacts, 100), 20);
    assert_int_equal(xs_rep_level_of(&p, 100), XS_REP_TRUSTED);
    assert_int_equal(xs_rep_level_of(&p, 40), XS_REP_TRUSTED);
    assert_int_equal(xs_rep_level_of(&p, 39), XS_REP_NORMAL);
    assert_int_equal(xs_rep_level_of(&p, 10), XS_REP_NORMAL);
    assert_int_equal(xs_rep_level_of(&p, 9), XS_REP_PROBATION);
    assert_int_equal(xs_rep_level_of(&p, -10), XS_REP_PROBATION);
    assert_int_equal(xs_rep_level_of(&p, -11), XS_REP_SUSPICIOUS);
    assert_int_equal(xs_rep_level_of(&p, -40), XS_REP_SUSPICIOUS);
    assert_int_equal(xs_rep_level_of(&p, -41), XS_REP_BAD);
    /* The documented defaults. */
    assert_near(p.weight[XS_EVK_BLOCK], -5);
    assert_int_equal(p.half_life_s[XS_EVK_REPORT_SPAM], 60 * DAY);
    assert_near(p.kind_cap[XS_EVK_S2S_REFUSED], 40);
    assert_int_equal(p.half_life_s[XS_EVK_CAPTCHA_PASSED], 0);
    assert_int_equal(p.probation_s, 14 * DAY);
    assert_int_equal(p.reports_per_hour, 20);
    assert_int_equal(p.horizon_s, 365 * DAY);
    xs_rep_policy_fini(&p);
}

/* ---- local accounts ---- */

static void
test_fresh_account_probation(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;
    struct xs_rep_score s;

    (void)state;
    assert_false(xs_rep_account_exists(r, "new@example.org"));
    xs_rep_account_set(r, "new@example.org", NOW - DAY, false);
    assert_true(xs_rep_account_exists(r, "new@example.org"));
    s = xs_rep_score(r, "new@example.org", NOW);
    assert_int_equal(s.score, 5);
    assert_int_equal(s.level, XS_REP_PROBATION);
    assert_true(s.is_known && s.is_local && s.in_probation);
    assert_false(s.is_pinned);

    /* Friends do not lift it above the cap while it is new. */
    xs_rep_account_mutual_set(r, "new@example.org", 5);
    s = xs_rep_score(r, "new@example.org", NOW);
    assert_int_equal(s.score, 5);
    assert_int_equal(s.level, XS_REP_PROBATION);
    explain(r, "new@example.org", NOW, &e);
    assert_near(e.raw, 15 + 12.0 / 365);
    l = find_line(&e, "probation_cap", NULL);
    assert_non_null(l);
    assert_near(l->points, 5 - e.raw);
    assert_non_null(l = find_line(&e, "mutual_contacts", NULL));
    assert_near(l->weight, 5);
    assert_near(l->points, 10);
    assert_non_null(l = find_line(&e, "age", NULL));
    assert_string_equal(l->note, "1 days");
    xs_rep_explanation_fini(&e);

    /* Probation ends at 14 days, even within the cache period. */
    s = xs_rep_score(r, "new@example.org", NOW + 13 * DAY - 1);
    assert_int_equal(s.score, 5);
    s = xs_rep_score(r, "new@example.org", NOW + 13 * DAY);
    assert_false(s.in_probation);
    /* 5 + 12 * 14 / 365 + 10 = 15.46 */
    assert_int_equal(s.score, 15);
    assert_int_equal(s.level, XS_REP_NORMAL);
    xs_rep_free(r);
}

static void
test_probation_min_mutual(void **state)
{
    struct xs_rep_policy p;
    struct xs_rep *r;
    struct xs_rep_score s;

    (void)state;
    xs_rep_policy_defaults(&p);
    p.probation_min_mutual = 3;
    r = xs_rep_new(&p);
    xs_rep_policy_fini(&p);
    xs_rep_account_set(r, "new@example.org", NOW - DAY, false);
    xs_rep_account_mutual_set(r, "new@example.org", 2);
    s = xs_rep_score(r, "new@example.org", NOW);
    assert_true(s.in_probation);
    assert_int_equal(s.score, 5);
    xs_rep_account_mutual_add(r, "new@example.org", 1);
    s = xs_rep_score(r, "new@example.org", NOW);
    assert_false(s.in_probation);
    assert_int_equal(s.score, 11);      /* 5 + 0 + 6 */
    xs_rep_account_mutual_add(r, "new@example.org", -10);  /* floors at 0 */
    s = xs_rep_score(r, "new@example.org", NOW);
    assert_true(s.in_probation);
    assert_int_equal(s.score, 5);
    xs_rep_free(r);
}

static void
test_old_account_trusted(void **state)
{
    struct xs_rep *r = engine();
    uint64_t counts[XS_ACT__COUNT] = { 0 };
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;
    struct xs_rep_score s;
    const char *me = "old@example.org";

    (void)state;
    xs_rep_account_set(r, me, NOW - 400 * DAY, false);
    xs_rep_account_mutual_set(r, me, 8);                 /* +16 */
    counts[XS_ACT_MSGS_FROM_CONTACTS] = 100;            /* +10 */
    counts[XS_ACT_SUBS_SENT] = 12;
    counts[XS_ACT_SUBS_ACCEPTED] = 4;                   /* +4 */
    counts[XS_ACT_SUBS_REFUSED] = 1;                    /* -3 */
    counts[XS_ACT_MSGS_TO_STRANGERS] = 40;              /* -2 */
    xs_rep_account_activity(r, me, counts, 60);         /* +15 (cap) */
    /* 5 + 13.15 + 16 + 10 + 15 + 4 - 3 - 2 (7 ignored, 5 free) - 2 */
    s = xs_rep_score(r, me, NOW);
    assert_int_equal(s.score, 56);
    assert_int_equal(s.level, XS_REP_TRUSTED);
    assert_false(s.in_probation);
    explain(r, me, NOW, &e);
    assert_near(e.raw, OLD_BASE + 16 + 10 + 15 + 4 - 3 - 2 - 2);
    assert_non_null(l = find_line(&e, "age", NULL));
    assert_near(l->weight, 400);
    assert_near(l->points, 12.0 * 400 / 365);
    assert_string_equal(l->note, "400 days");
    assert_non_null(l = find_line(&e, "subs_ignored", NULL));
    assert_near(l->weight, 7);
    assert_near(l->points, -2);
    assert_non_null(l = find_line(&e, "days_active", NULL));
    assert_string_equal(l->note, "capped at 15");
    assert_non_null(find_line(&e, "registered", NULL));
    assert_null(find_line(&e, "probation_cap", NULL));
    assert_string_equal(e.lines[0].what, "mutual_contacts");
    xs_rep_explanation_fini(&e);

    /* Live counting, and the admin bonus instead of registered. */
    /* Two more refused: -6, and two fewer ignored: +2. */
    xs_rep_account_count(r, me, XS_ACT_SUBS_REFUSED, 2);
    assert_int_equal(score(r, me, NOW), 52);
    xs_rep_account_set(r, me, NOW - 400 * DAY, true);          /* +10 */
    assert_int_equal(score(r, me, NOW), 62);
    xs_rep_account_day(r, me);                  /* capped already */
    assert_int_equal(score(r, me, NOW), 62);
    xs_rep_free(r);
}

/* ---- evidence ---- */

static void
test_three_reporters(void **state)
{
    static const char *const who[] = {
        "ann@example.org", "bob@example.org", "cat@example.org",
    };
    struct xs_rep *r = engine();
    struct xs_rep_explanation e;
    struct xs_rep_stats st;
    struct xs_evidence stored;
    struct xs_evidence in;
    const char *spam = "spam@example.org";

    (void)state;
    xs_rep_account_set(r, spam, NOW - 400 * DAY, false);
    assert_int_equal(score(r, spam, NOW), 18);
    for (size_t i = 0; i < 3; i++) {
        reporter(r, who[i]);
        assert_int_equal(score(r, who[i], NOW), 55);
        assert_int_equal(submit(r, spam, XS_EVK_BLOCK, XS_EVSRC_USER,
            who[i], true, NOW), XS_REP_ADMITTED);
        in = ev(spam, XS_EVK_REPORT_SPAM, XS_EVSRC_USER, who[i]);
        in.note = "reason: spam";
        in.weight = -1000;      /* ignored: the policy weighs it */
        assert_int_equal(xs_rep_submit(r, &in, true, NOW, &stored),
            XS_REP_ADMITTED);
        assert_string_equal(stored.subject, spam);
        assert_string_equal(stored.source, who[i]);
        assert_string_equal(stored.note, "reason: spam");
        assert_int_equal(stored.kind, XS_EVK_REPORT_SPAM);
        assert_int_equal(stored.at, NOW);
        assert_near(stored.weight, -10);
    }
    /* 18.15 - 3 * (5 + 10) */
    assert_int_equal(score(r, spam, NOW), -27);
    assert_int_equal(xs_rep_score(r, spam, NOW).level, XS_REP_SUSPICIOUS);
    explain(r, spam, NOW, &e);
    for (size_t i = 0; i < 3; i++) {
        const struct xs_rep_line *l = find_line(&e, "report_spam", who[i]);

        assert_non_null(l);
        assert_string_equal(l->source_kind, "user");
        assert_near(l->points, -10);
        assert_string_equal(l->note, "reason: spam");
        assert_int_equal(l->at, NOW);
        assert_non_null(l = find_line(&e, "block", who[i]));
        assert_near(l->points, -5);
    }
    assert_string_equal(e.lines[0].what, "age");
    assert_string_equal(e.lines[1].what, "report_spam");
    xs_rep_explanation_fini(&e);
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.items_by_kind[XS_EVK_BLOCK], 3);
    assert_int_equal(st.items_by_kind[XS_EVK_REPORT_SPAM], 3);
    assert_int_equal(st.admitted[XS_REP_ADMITTED], 6);

    /* A fresh account's word weighs little: 0.25 + 0.75 * 5 / 50. */
    xs_rep_account_set(r, "bot@example.org", NOW - DAY, false);
    assert_int_equal(xs_rep_submit(r, &(struct xs_evidence){
        .subject = spam, .kind = XS_EVK_BLOCK, .src = XS_EVSRC_USER,
        .source = "bot@example.org" }, true, NOW, &stored),
        XS_REP_ADMITTED);
    assert_near(stored.weight, -5 * 0.325);
    /* An unknown reporter counts at the floor. */
    xs_rep_submit(r, &(struct xs_evidence){ .subject = "x@remote.example",
        .kind = XS_EVK_BLOCK, .src = XS_EVSRC_USER,
        .source = "ghost@example.org" }, false, NOW, &stored);
    assert_near(stored.weight, -5 * 0.25);
    /* Held only for its reporting window, it stands with its domain
     * (accounts do not). */
    submit(r, "example.org", XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM, "s2s",
        false, NOW);
    assert_int_equal(score(r, "ghost@example.org", NOW), -5);
    assert_int_equal(score(r, who[0], NOW), 55);
    xs_rep_free(r);
}

static void
test_one_reporter_cap(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;
    const char *t = "target@example.org", *me = "grudge@example.org";

    (void)state;
    xs_rep_account_set(r, t, NOW - 400 * DAY, false);
    reporter(r, me);
    assert_int_equal(submit(r, t, XS_EVK_BLOCK, XS_EVSRC_USER, me, true,
        NOW), XS_REP_ADMITTED);
    assert_int_equal(submit(r, t, XS_EVK_REPORT_SPAM, XS_EVSRC_USER, me,
        true, NOW), XS_REP_ADMITTED);
    assert_int_equal(submit(r, t, XS_EVK_REPORT_ABUSE, XS_EVSRC_USER, me,
        true, NOW), XS_REP_ADMITTED);
    /* -25 filed, -15 counted. */
    assert_int_equal(score(r, t, NOW), 3);
    /* Filing again replaces, never adds. */
    for (int i = 0; i < 5; i++) {
        assert_int_equal(submit(r, t, XS_EVK_BLOCK, XS_EVSRC_USER, me,
            true, NOW + i), XS_REP_REPLACED);
        assert_int_equal(submit(r, t, XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
            me, true, NOW + i), XS_REP_REPLACED);
    }
    assert_int_equal(score(r, t, NOW + 10), 3);
    explain(r, t, NOW + 10, &e);
    /* (Seconds of decay apart from the scaling.) */
    assert_non_null(l = find_line(&e, "report_spam", me));
    assert_close(l->points, -6, 1e-4);  /* -10 * 15 / 25 */
    assert_string_equal(l->note, "capped per source");
    assert_non_null(l = find_line(&e, "block", me));
    assert_close(l->points, -3, 1e-4);
    assert_int_equal(l->at, NOW + 4);   /* the newest won */
    xs_rep_explanation_fini(&e);
    xs_rep_free(r);
}

static void
test_kind_cap(void **state)
{
    struct xs_rep *r = engine();
    char who[64];
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;

    (void)state;
    /* Ten full-standing blockers: -50 filed, block's cap is 40. */
    for (int i = 0; i < 10; i++) {
        snprintf(who, sizeof(who), "u%d@example.org", i);
        reporter(r, who);
        assert_int_equal(submit(r, "x@remote.example", XS_EVK_BLOCK,
            XS_EVSRC_USER, who, false, NOW), XS_REP_ADMITTED);
    }
    explain(r, "x@remote.example", NOW, &e);
    assert_non_null(l = find_line(&e, "block", "u3@example.org"));
    assert_near(l->points, -4);
    assert_string_equal(l->note, "capped per kind");
    xs_rep_explanation_fini(&e);
    /* Domain: 0.2 * -40 = -8; JID: -40 + 0.5 * -8 = -44. */
    assert_int_equal(score(r, "remote.example", NOW), -8);
    assert_int_equal(score(r, "x@remote.example", NOW), -44);
    xs_rep_free(r);
}

static void
test_rate_limit(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_stats st;
    char subj[64];
    const char *me = "angry@example.org";

    (void)state;
    reporter(r, me);
    for (int i = 0; i < 20; i++) {
        snprintf(subj, sizeof(subj), "s%d@remote.example", i);
        assert_int_equal(submit(r, subj, XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
            me, false, NOW + i * 60), XS_REP_ADMITTED);
    }
    assert_int_equal(submit(r, "late@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, me, false, NOW + 1800), XS_REP_RATE_LIMITED);
    /* Nothing changed: no subject, no item. */
    xs_rep_stats(r, NOW + 1800, &st);
    assert_int_equal(st.subjects, 22);  /* me, 20 JIDs, remote.example */
    assert_int_equal(st.items_by_kind[XS_EVK_REPORT_SPAM], 20);
    assert_int_equal(st.items_by_kind[XS_EVK_BLOCK], 0);
    /* Re-filing an old item is a filing too. */
    assert_int_equal(submit(r, "s0@remote.example", XS_EVK_REPORT_SPAM,
        XS_EVSRC_USER, me, false, NOW + 1800), XS_REP_RATE_LIMITED);
    /* Positive items are not reports. */
    assert_int_equal(submit(r, "friend@remote.example", XS_EVK_CONVERSED,
        XS_EVSRC_USER, me, false, NOW + 1800), XS_REP_ADMITTED);
    /* Others are not affected. */
    reporter(r, "calm@example.org");
    assert_int_equal(submit(r, "late@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, "calm@example.org", false, NOW + 1800),
        XS_REP_ADMITTED);
    /* The window slides: the first filing is an hour old. */
    assert_int_equal(submit(r, "late@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, me, false, NOW + 3599), XS_REP_RATE_LIMITED);
    assert_int_equal(submit(r, "late@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, me, false, NOW + 3600), XS_REP_ADMITTED);
    assert_int_equal(submit(r, "later@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, me, false, NOW + 3601), XS_REP_RATE_LIMITED);
    assert_int_equal(submit(r, "later@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, me, false, NOW + 3660), XS_REP_ADMITTED);
    xs_rep_stats(r, NOW + 3660, &st);
    assert_int_equal(st.admitted[XS_REP_RATE_LIMITED], 4);
    xs_rep_free(r);
}

static void
test_bad_submissions(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_stats st;
    struct xs_evidence e;
    char *big = xs_malloc(XS_REP_SUBJECT_MAX + 2);

    (void)state;
    reporter(r, "me@example.org");
    assert_int_equal(submit(r, "me@example.org", XS_EVK_REPORT_SPAM,
        XS_EVSRC_USER, "me@example.org", true, NOW), XS_REP_SELF);
    assert_int_equal(submit(r, "ghost@example.org", XS_EVK_BLOCK,
        XS_EVSRC_USER, "me@example.org", true, NOW),
        XS_REP_UNKNOWN_SUBJECT);
    assert_int_equal(submit(r, "", XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW), XS_REP_INVALID);
    memset(big, 'a', XS_REP_SUBJECT_MAX + 1);
    big[XS_REP_SUBJECT_MAX + 1] = '\0';
    assert_int_equal(submit(r, big, XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW), XS_REP_INVALID);
    big[XS_REP_SUBJECT_MAX] = '\0';     /* exactly the limit: fine */
    assert_int_equal(submit(r, big, XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW), XS_REP_ADMITTED);
    assert_int_equal(submit(r, "x@remote.example", XS_EVK__COUNT,
        XS_EVSRC_USER, "me@example.org", false, NOW), XS_REP_INVALID);
    assert_int_equal(submit(r, "x@remote.example", XS_EVK_BLOCK,
        XS_EVSRC__COUNT, "me@example.org", false, NOW), XS_REP_INVALID);
    assert_int_equal(submit(r, "x@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, NULL, false, NOW), XS_REP_INVALID);
    assert_int_equal(submit(r, "x@remote.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, "", false, NOW), XS_REP_INVALID);
    e = ev("x@remote.example", XS_EVK_OPERATOR, XS_EVSRC_ADMIN, "op");
    e.weight = NAN;
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, NULL),
        XS_REP_INVALID);
    e.weight = INFINITY;
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, NULL),
        XS_REP_INVALID);
    /* An account's own subscriptions come from its activity record. */
    reporter(r, "you@example.org");
    assert_int_equal(submit(r, "you@example.org", XS_EVK_SUB_REFUSED,
        XS_EVSRC_USER, "me@example.org", true, NOW), XS_REP_INVALID);
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.admitted[XS_REP_INVALID], 9);
    assert_int_equal(st.admitted[XS_REP_SELF], 1);
    assert_int_equal(st.admitted[XS_REP_UNKNOWN_SUBJECT], 1);
    assert_int_equal(st.items_by_kind[XS_EVK_BLOCK], 1);
    assert_false(xs_rep_score(r, "x@remote.example", NOW).is_known);
    /* Lookups of nonsense are unknown, not errors. */
    assert_false(xs_rep_score(r, "", NOW).is_known);
    assert_false(xs_rep_score(r, NULL, NOW).is_known);
    big[XS_REP_SUBJECT_MAX] = 'a';
    assert_false(xs_rep_score(r, big, NOW).is_known);
    xs_free(big);
    xs_rep_free(r);
}

static void
test_operator_items(void **state)
{
    struct xs_rep *r = engine();
    struct xs_evidence e, stored;

    (void)state;
    e = ev("evil.example", XS_EVK_OPERATOR, XS_EVSRC_ADMIN, "admin@ops");
    e.weight = -250;        /* clamped to the scale */
    e.note = "known spam host";
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, &stored),
        XS_REP_ADMITTED);
    assert_near(stored.weight, -100);
    assert_int_equal(score(r, "evil.example", NOW), -100);
    /* Admin items accumulate (the kind cap holds them). */
    e.weight = -30;
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, NULL),
        XS_REP_ADMITTED);
    assert_int_equal(score(r, "evil.example", NOW + 100 * DAY), -100);
    assert_int_equal(score(r, "a@evil.example", NOW), -50);
    xs_rep_free(r);
}

static void
test_decay_of_penalty(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;

    (void)state;
    assert_int_equal(submit(r, "bad.example", XS_EVK_S2S_REFUSED,
        XS_EVSRC_SYSTEM, "s2s dialback", false, NOW), XS_REP_ADMITTED);
    assert_int_equal(score(r, "bad.example", NOW), -10);
    assert_int_equal(score(r, "bad.example", NOW + 7 * DAY), -5);
    assert_int_equal(score(r, "bad.example", NOW + 21 * DAY), -1);

    /* A user's block, on an account: the line halves in 30 days. */
    xs_rep_account_set(r, "t@example.org", NOW - 400 * DAY, false);
    reporter(r, "b@example.org");
    submit(r, "t@example.org", XS_EVK_BLOCK, XS_EVSRC_USER,
        "b@example.org", true, NOW);
    assert_int_equal(score(r, "t@example.org", NOW), 13);
    explain(r, "t@example.org", NOW + 30 * DAY, &e);
    assert_non_null(l = find_line(&e, "block", "b@example.org"));
    assert_near(l->weight, -5);
    assert_near(l->points, -2.5);
    assert_int_equal(l->at, NOW);
    xs_rep_explanation_fini(&e);
    /* 5 + 12 * 430 / 365 - 2.5 = 16.64 */
    assert_int_equal(score(r, "t@example.org", NOW + 30 * DAY), 17);
    xs_rep_free(r);
}

static void
test_pin(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_pin pin = { .score = -80, .reason = "spam wave",
        .expires = NOW + 3600, .set_by = "admin@example.org" };
    const struct xs_rep_pin *got;
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;
    struct xs_rep_score s;
    char reason[XS_REP_REASON_MAX + 2];

    (void)state;
    xs_rep_account_set(r, "u@example.org", NOW - 400 * DAY, false);
    assert_int_equal(score(r, "u@example.org", NOW), 18);
    assert_int_equal(xs_rep_pin_set(r, "u@example.org", &pin, NOW), XS_OK);
    s = xs_rep_score(r, "u@example.org", NOW + 1);
    assert_int_equal(s.score, -80);
    assert_true(s.is_pinned);
    assert_int_equal(s.level, XS_REP_BAD);
    assert_non_null(got = xs_rep_pin_get(r, "u@example.org", NOW + 1));
    assert_string_equal(got->reason, "spam wave");
    assert_string_equal(got->set_by, "admin@example.org");
    assert_int_equal(got->set_at, NOW);
    assert_int_equal(got->expires, NOW + 3600);
    explain(r, "u@example.org", NOW + 1, &e);
    assert_non_null(l = find_line(&e, "pin", "admin@example.org"));
    assert_near(l->weight, -80);
    assert_near(l->points, -80 - OLD_BASE);
    assert_non_null(strstr(l->note, "spam wave"));
    assert_string_equal(e.lines[0].what, "pin");
    xs_rep_explanation_fini(&e);
    /* It expires on time, cached or not. */
    assert_int_equal(score(r, "u@example.org", NOW + 3599), -80);
    s = xs_rep_score(r, "u@example.org", NOW + 3600);
    assert_false(s.is_pinned);
    assert_int_equal(s.score, 18);
    assert_null(xs_rep_pin_get(r, "u@example.org", NOW + 3600));

    /* A pin makes an unknown subject known, for as long as it lasts. */
    pin.score = 70;
    pin.expires = 0;
    assert_int_equal(xs_rep_pin_set(r, "vip@remote.example", &pin, NOW),
        XS_OK);
    s = xs_rep_score(r, "vip@remote.example", NOW + 400 * DAY);
    assert_int_equal(s.score, 70);
    assert_int_equal(s.level, XS_REP_TRUSTED);
    assert_int_equal(xs_rep_pin_clear(r, "vip@remote.example"), XS_OK);
    assert_int_equal(xs_rep_pin_clear(r, "vip@remote.example"),
        XS_ENOTFOUND);
    assert_false(xs_rep_score(r, "vip@remote.example", NOW).is_known);

    /* Bad pins. */
    pin.score = 101;
    assert_int_equal(xs_rep_pin_set(r, "a@b.example", &pin, NOW),
        XS_EINVAL);
    pin.score = -101;
    assert_int_equal(xs_rep_pin_set(r, "a@b.example", &pin, NOW),
        XS_EINVAL);
    pin.score = 0;
    pin.expires = NOW;
    assert_int_equal(xs_rep_pin_set(r, "a@b.example", &pin, NOW),
        XS_EINVAL);
    pin.expires = 0;
    memset(reason, 'x', sizeof(reason) - 1);
    reason[sizeof(reason) - 1] = '\0';
    pin.reason = reason;
    assert_int_equal(xs_rep_pin_set(r, "a@b.example", &pin, NOW),
        XS_EINVAL);
    assert_int_equal(xs_rep_pin_set(r, "", &pin, NOW), XS_EINVAL);
    reason[XS_REP_REASON_MAX] = '\0';
    assert_int_equal(xs_rep_pin_set(r, "a@b.example", &pin, NOW), XS_OK);
    assert_int_equal(xs_rep_pin_clear(r, "nobody@b.example"),
        XS_ENOTFOUND);
    xs_rep_free(r);
}

static void
test_domains(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;
    struct xs_rep_score s;
    struct xs_rep_pin pin = { .score = -100, .reason = "bad host" };

    (void)state;
    reporter(r, "me@example.org");
    submit(r, "a@remote.example", XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW);
    submit(r, "b@remote.example", XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW);
    submit(r, "remote.example", XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM,
        "s2s", false, NOW);
    /* Domain: -10 + 0.2 * (-5 - 5) = -12.  JID: -5 + 0.5 * -12 = -11. */
    assert_int_equal(score(r, "remote.example", NOW), -12);
    assert_int_equal(score(r, "a@remote.example", NOW), -11);
    /* A JID we know nothing of stands with its domain. */
    s = xs_rep_score(r, "c@remote.example", NOW);
    assert_true(s.is_known);
    assert_false(s.is_local);
    assert_int_equal(s.score, -6);
    assert_int_equal(s.level, XS_REP_PROBATION);
    explain(r, "c@remote.example", NOW, &e);
    assert_int_equal(e.nlines, 1);
    assert_string_equal(e.lines[0].what, "domain");
    assert_string_equal(e.lines[0].source, "remote.example");
    xs_rep_explanation_fini(&e);

    explain(r, "a@remote.example", NOW, &e);
    assert_non_null(l = find_line(&e, "domain", "remote.example"));
    assert_near(l->weight, -12);
    assert_near(l->points, -6);
    assert_non_null(l = find_line(&e, "block", "me@example.org"));
    assert_near(l->points, -5);
    xs_rep_explanation_fini(&e);
    explain(r, "remote.example", NOW, &e);
    assert_non_null(l = find_line(&e, "jids", ""));
    assert_near(l->weight, -10);
    assert_near(l->points, -2);
    assert_string_equal(l->note, "2 JIDs");
    assert_non_null(find_line(&e, "s2s_refused", "s2s"));
    xs_rep_explanation_fini(&e);

    /* A change to the domain reaches its JIDs' cached scores at once. */
    submit(r, "remote.example", XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM,
        "s2s", false, NOW);
    assert_int_equal(score(r, "remote.example", NOW), -22);
    assert_int_equal(score(r, "a@remote.example", NOW), -16);
    /* ... and a change to a JID reaches its domain and siblings. */
    submit(r, "b@remote.example", XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
        "me@example.org", false, NOW);
    assert_int_equal(score(r, "remote.example", NOW), -24);
    assert_int_equal(score(r, "a@remote.example", NOW), -17);
    assert_int_equal(score(r, "b@remote.example", NOW), -27);
    /* A pinned domain: its JIDs take half of the pin. */
    assert_int_equal(xs_rep_pin_set(r, "remote.example", &pin, NOW), XS_OK);
    assert_int_equal(score(r, "a@remote.example", NOW), -55);
    assert_int_equal(score(r, "zz@remote.example", NOW), -50);
    /* A local account is not its domain's member. */
    submit(r, "example.org", XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM, "s2s",
        false, NOW);
    assert_int_equal(score(r, "me@example.org", NOW), 55);
    xs_rep_free(r);
}

static void
test_domain_share_cap(void **state)
{
    struct xs_rep_policy p;
    struct xs_rep *r;
    char subj[64];

    (void)state;
    xs_rep_policy_defaults(&p);
    p.domain_share_cap = 3;
    r = xs_rep_new(&p);
    xs_rep_policy_fini(&p);
    for (int i = 0; i < 5; i++) {
        snprintf(subj, sizeof(subj), "bot%d@spam.example", i);
        submit(r, subj, XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM, "c2s", false,
            NOW);
    }
    /* 0.2 * -25 = -5, capped at 3. */
    assert_int_equal(score(r, "spam.example", NOW), -3);
    xs_rep_free(r);
}

/* An item with its strings copied (submit's are borrowed). */
struct kept {
    struct xs_evidence ev;
    char *subject, *source, *note;
    bool is_local;
};

static void
keep(struct kept *k, const struct xs_evidence *ev, bool is_local)
{
    k->subject = xs_strdup(ev->subject);
    k->source = xs_strdup(ev->source);
    k->note = ev->note != NULL ? xs_strdup(ev->note) : NULL;
    k->ev = *ev;
    k->ev.subject = k->subject;
    k->ev.source = k->source;
    k->ev.note = k->note;
    k->is_local = is_local;
}

static void
test_restore(void **state)
{
    static const char *const subjects[] = {
        "spam@example.org", "x@remote.example", "y@remote.example",
        "remote.example", "clean@example.org", "bad.example",
    };
    struct xs_rep *a = engine(), *b = engine();
    struct kept kept[64];
    size_t nkept = 0;
    struct xs_evidence stored, old;

    (void)state;
    for (int pass = 0; pass < 2; pass++) {
        struct xs_rep *r = pass == 0 ? a : b;

        reporter(r, "ann@example.org");
        reporter(r, "bob@example.org");
        xs_rep_account_set(r, "bot@example.org", NOW - DAY, false);
        xs_rep_account_set(r, "spam@example.org", NOW - 400 * DAY, false);
        xs_rep_account_set(r, "clean@example.org", NOW - 20 * DAY, false);
    }
    struct {
        const char *subject, *source;
        enum xs_evk kind;
        enum xs_evsrc src;
        bool is_local;
        int64_t at;
    } in[] = {
        { "spam@example.org", "ann@example.org", XS_EVK_BLOCK,
            XS_EVSRC_USER, true, NOW - 20 * DAY },
        { "spam@example.org", "ann@example.org", XS_EVK_REPORT_SPAM,
            XS_EVSRC_USER, true, NOW - 20 * DAY },
        { "spam@example.org", "bob@example.org", XS_EVK_BLOCK,
            XS_EVSRC_USER, true, NOW - 10 * DAY },
        { "spam@example.org", "bot@example.org", XS_EVK_BLOCK,
            XS_EVSRC_USER, true, NOW - 9 * DAY },
        { "spam@example.org", "ann@example.org", XS_EVK_BLOCK,
            XS_EVSRC_USER, true, NOW - 5 * DAY },       /* replaces */
        { "x@remote.example", "ann@example.org", XS_EVK_SUB_REFUSED,
            XS_EVSRC_USER, false, NOW - 4 * DAY },
        { "y@remote.example", "bob@example.org", XS_EVK_CONVERSED,
            XS_EVSRC_USER, false, NOW - 3 * DAY },
        { "remote.example", "s2s", XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM,
            false, NOW - 2 * DAY },
        { "remote.example", "s2s", XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM,
            false, NOW - DAY },
        { "clean@example.org", "register", XS_EVK_CAPTCHA_PASSED,
            XS_EVSRC_SYSTEM, true, NOW - 20 * DAY },
        { "bad.example", "c2s", XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM,
            false, NOW - DAY },
    };

    for (size_t i = 0; i < XS_ARRAY_LEN(in); i++) {
        struct xs_evidence e = ev(in[i].subject, in[i].kind, in[i].src,
            in[i].source);
        enum xs_rep_admit res;

        e.note = i % 2 ? "n" : NULL;
        res = xs_rep_submit(a, &e, in[i].is_local, in[i].at, &stored);
        assert_true(res == XS_REP_ADMITTED || res == XS_REP_REPLACED);
        keep(&kept[nkept++], &stored, in[i].is_local);
    }
    /* Restore replays what was persisted, oldest first. */
    for (size_t i = 0; i < nkept; i++)
        xs_rep_restore(b, &kept[i].ev, kept[i].is_local, NOW);
    for (size_t i = 0; i < XS_ARRAY_LEN(subjects); i++) {
        for (int64_t t = NOW; t < NOW + 90 * DAY; t += 13 * DAY) {
            struct xs_rep_score sa = xs_rep_score(a, subjects[i], t);
            struct xs_rep_score sb = xs_rep_score(b, subjects[i], t);
            struct xs_rep_explanation ea, eb;

            assert_int_equal(sa.score, sb.score);
            assert_int_equal(sa.level, sb.level);
            assert_int_equal(sa.is_known, sb.is_known);
            explain(a, subjects[i], t, &ea);
            explain(b, subjects[i], t, &eb);
            assert_int_equal(ea.nlines, eb.nlines);
            assert_near(ea.raw, eb.raw);
            xs_rep_explanation_fini(&ea);
            xs_rep_explanation_fini(&eb);
        }
    }
    assert_true(score(b, "spam@example.org", NOW) < 18);

    /* Restore is not weighed again, and keeps the newest user item. */
    old = ev("spam@example.org", XS_EVK_BLOCK, XS_EVSRC_USER,
        "ann@example.org");
    old.weight = -5;
    old.at = NOW - 30 * DAY;
    xs_rep_restore(b, &old, true, NOW);
    assert_int_equal(score(b, "spam@example.org", NOW),
        score(a, "spam@example.org", NOW));
    /* Past the horizon, or about a vanished account: ignored. */
    old.subject = "v@far.example";
    old.at = NOW - 366 * DAY;
    xs_rep_restore(b, &old, false, NOW);
    assert_false(xs_rep_score(b, "v@far.example", NOW).is_known);
    old.subject = "gone@example.org";
    old.at = NOW;
    xs_rep_restore(b, &old, true, NOW);
    assert_false(xs_rep_score(b, "gone@example.org", NOW).is_known);
    old.weight = NAN;
    old.subject = "v@far.example";
    xs_rep_restore(b, &old, false, NOW);
    assert_false(xs_rep_score(b, "v@far.example", NOW).is_known);

    for (size_t i = 0; i < nkept; i++) {
        xs_free(kept[i].subject);
        xs_free(kept[i].source);
        xs_free(kept[i].note);
    }
    xs_rep_free(a);
    xs_rep_free(b);
}

static void
test_retract(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_stats st;

    (void)state;
    reporter(r, "me@example.org");
    xs_rep_account_set(r, "t@example.org", NOW - 400 * DAY, false);
    submit(r, "t@example.org", XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", true, NOW);
    submit(r, "x@remote.example", XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW);
    submit(r, "x@remote.example", XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM,
        "c2s", false, NOW);
    assert_int_equal(score(r, "t@example.org", NOW), 13);
    assert_true(xs_rep_retract(r, "t@example.org", XS_EVK_BLOCK,
        "me@example.org"));
    assert_int_equal(score(r, "t@example.org", NOW), 18);
    assert_false(xs_rep_retract(r, "t@example.org", XS_EVK_BLOCK,
        "me@example.org"));
    assert_false(xs_rep_retract(r, "x@remote.example", XS_EVK_RATE_LIMITED,
        "c2s"));    /* only user items are taken back */
    assert_false(xs_rep_retract(r, "nobody@remote.example", XS_EVK_BLOCK,
        "me@example.org"));
    assert_true(xs_rep_retract(r, "x@remote.example", XS_EVK_BLOCK,
        "me@example.org"));
    /* -5 + 0.5 * (0.2 * -5) = -5.5, rounded away from zero */
    assert_int_equal(score(r, "x@remote.example", NOW), -6);
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.items_by_kind[XS_EVK_BLOCK], 0);
    xs_rep_free(r);
}

static void
test_prune(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_stats st;
    struct xs_rep_pin pin = { .score = 10, .reason = "ok",
        .expires = NOW + DAY };

    (void)state;
    reporter(r, "me@example.org");
    submit(r, "x@remote.example", XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW);
    submit(r, "y@other.example", XS_EVK_CAPTCHA_PASSED, XS_EVSRC_SYSTEM,
        "register", false, NOW);
    assert_int_equal(xs_rep_pin_set(r, "p@third.example", &pin, NOW),
        XS_OK);
    xs_rep_stats(r, NOW, &st);
    /* me, its reports ring... x, remote.example, y, other.example, p,
     * third.example */
    assert_int_equal(st.subjects, 7);
    assert_int_equal(st.pins, 1);
    assert_int_equal(xs_rep_prune(r, NOW), 0);
    /* -5 after 7 half-lives is -0.039: gone, and with it x and its
     * domain.  The captcha does not decay; the pin expired. */
    assert_int_equal(xs_rep_prune(r, NOW + 210 * DAY), 1);
    assert_false(xs_rep_score(r, "x@remote.example", NOW + 210 * DAY)
        .is_known);
    assert_false(xs_rep_score(r, "remote.example", NOW + 210 * DAY)
        .is_known);
    assert_false(xs_rep_score(r, "p@third.example", NOW + 210 * DAY)
        .is_known);
    /* 5 + 0.5 * (0.2 * 5) */
    assert_int_equal(score(r, "y@other.example", NOW + 210 * DAY), 6);
    xs_rep_stats(r, NOW + 210 * DAY, &st);
    assert_int_equal(st.subjects, 3);   /* me, y, other.example */
    assert_int_equal(st.pins, 0);
    /* Past the horizon even what does not decay is forgotten. */
    assert_int_equal(xs_rep_prune(r, NOW + 366 * DAY), 1);
    xs_rep_stats(r, NOW + 366 * DAY, &st);
    assert_int_equal(st.subjects, 1);
    xs_rep_free(r);
}

static void
test_cache(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_stats st;
    uint64_t before;

    (void)state;
    xs_rep_account_set(r, "t@example.org", NOW - 400 * DAY, false);
    reporter(r, "me@example.org");
    assert_int_equal(score(r, "t@example.org", NOW), 18);
    xs_rep_stats(r, NOW, &st);
    before = st.computations;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(score(r, "t@example.org", NOW + i % 60), 18);
    for (int i = 0; i < 1000; i++)
        assert_false(xs_rep_score(r, "nobody@example.org", NOW).is_known);
    xs_rep_stats(r, NOW, &st);
    /* The stats walk scored the reporter once; nothing else was
     * computed. */
    assert_true(st.computations - before <= 1);
    before = st.computations;
    /* A submit changes the next lookup at once. */
    submit(r, "t@example.org", XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
        "me@example.org", true, NOW + 1);
    assert_int_equal(score(r, "t@example.org", NOW + 1), 8);
    xs_rep_account_count(r, "t@example.org", XS_ACT_SUBS_ACCEPTED, 3);
    assert_int_equal(score(r, "t@example.org", NOW + 1), 11);
    /* Past XS_REP_CACHE_S it is computed again. */
    score(r, "t@example.org", NOW + 1 + XS_REP_CACHE_S);
    xs_rep_stats(r, NOW + 1, &st);
    assert_true(st.computations - before >= 3);
    xs_rep_free(r);
}

static void
test_fold(void **state)
{
    struct xs_rep_policy p;
    struct xs_rep *r;
    struct xs_rep_explanation e;
    struct xs_rep_stats st;
    double want = 0, sum = 0;

    (void)state;
    xs_rep_policy_defaults(&p);
    p.kind_cap[XS_EVK_RATE_LIMITED] = 1000;
    r = xs_rep_new(&p);
    xs_rep_policy_fini(&p);
    /* Fifty throttlings, an hour apart: held as a few items, same sum. */
    for (int i = 0; i < 50; i++) {
        submit(r, "busy.example", XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM,
            "c2s", false, NOW + i * 3600);
        want += -5 * exp2(-(double)(49 - i) * 3600 / (7.0 * DAY));
    }
    explain(r, "busy.example", NOW + 49 * 3600, &e);
    assert_true(e.nlines <= 8);
    for (size_t i = 0; i < e.nlines; i++)
        sum += e.lines[i].points;
    assert_true(fabs(sum - want) < 1e-6);
    for (size_t i = 0; i < e.nlines; i++) {
        if (strstr(e.lines[i].note, "43 items") != NULL)
            break;
        if (i + 1 == e.nlines)
            fail_msg("no line for the 43 folded items");
    }
    assert_int_equal(e.s.score, -100);
    xs_rep_explanation_fini(&e);
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.items_by_kind[XS_EVK_RATE_LIMITED], 50);
    xs_rep_free(r);
}

static void
test_note_cut(void **state)
{
    struct xs_rep *r = engine();
    struct xs_evidence e, stored;
    char note[512] = "a";
    size_t len;

    (void)state;
    for (int i = 0; i < 150; i++)
        memcpy(note + 1 + 2 * i, "\xc3\xa9", 3);   /* é: 2 bytes */
    e = ev("z@remote.example", XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM, "c2s");
    e.note = note;
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, &stored),
        XS_REP_ADMITTED);
    len = strlen(stored.note);
    assert_true(len <= XS_REP_NOTE_MAX);
    assert_int_equal(len, 255);         /* not inside the 128th é */
    assert_int_equal(memcmp(stored.note, note, len), 0);
    xs_rep_free(r);
}

static void
test_list_and_stats(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_listed *l;
    struct xs_rep_stats st;
    size_t n;

    (void)state;
    xs_rep_account_set(r, "new@example.org", NOW - DAY, false);     /* 5 */
    xs_rep_account_set(r, "old@example.org", NOW - 400 * DAY, false);
    reporter(r, "good@example.org");                                /* 55 */
    xs_rep_account_set(r, "spam@example.org", NOW - 400 * DAY, false);
    reporter(r, "a@example.org");
    reporter(r, "b@example.org");
    submit(r, "spam@example.org", XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
        "a@example.org", true, NOW);
    submit(r, "spam@example.org", XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
        "b@example.org", true, NOW);                                /* -2 */
    submit(r, "far@remote.example", XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
        "b@example.org", false, NOW);

    xs_rep_list_below(r, 10, 10, NOW, &l, &n);
    assert_int_equal(n, 2);
    assert_string_equal(l[0].bare, "spam@example.org");
    assert_int_equal(l[0].s.score, -2);
    assert_string_equal(l[1].bare, "new@example.org");
    assert_true(l[1].s.in_probation);
    for (size_t i = 0; i < n; i++)
        xs_free(l[i].bare);
    xs_free(l);
    xs_rep_list_below(r, 100, 1, NOW, &l, &n);
    assert_int_equal(n, 1);
    assert_string_equal(l[0].bare, "spam@example.org");
    xs_free(l[0].bare);
    xs_free(l);
    xs_rep_list_below(r, -100, 10, NOW, &l, &n);
    assert_int_equal(n, 0);
    assert_null(l);

    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.accounts_by_level[XS_REP_TRUSTED], 3);
    assert_int_equal(st.accounts_by_level[XS_REP_NORMAL], 1);
    assert_int_equal(st.accounts_by_level[XS_REP_PROBATION], 2);
    assert_int_equal(st.items_by_kind[XS_EVK_REPORT_SPAM], 3);
    assert_int_equal(st.admitted[XS_REP_ADMITTED], 3);

    /* A deleted account goes with everything said about it. */
    xs_rep_account_remove(r, "spam@example.org");
    assert_false(xs_rep_account_exists(r, "spam@example.org"));
    assert_false(xs_rep_score(r, "spam@example.org", NOW).is_known);
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.items_by_kind[XS_EVK_REPORT_SPAM], 1);
    xs_rep_free(r);
}

/* A remote JID that registers here (or is found to be local) leaves its
 * domain's standing. */
static void
test_account_leaves_domain(void **state)
{
    struct xs_rep *r = engine();

    (void)state;
    reporter(r, "me@example.org");
    submit(r, "x@remote.example", XS_EVK_BLOCK, XS_EVSRC_USER,
        "me@example.org", false, NOW);
    assert_int_equal(score(r, "remote.example", NOW), -1);
    xs_rep_account_set(r, "x@remote.example", NOW - DAY, false);
    assert_false(xs_rep_score(r, "remote.example", NOW).is_known);
    assert_int_equal(score(r, "x@remote.example", NOW), 0);  /* 5 - 5 */
    xs_rep_free(r);
}

/* ---- options ---- */

static struct xs_conf *
conf_of(const char *yaml)
{
    struct xs_conf *c = NULL;
    char *err = NULL;

    if (xs_conf_load_string(yaml, "x.yml", &c, &err) != XS_OK)
        fail_msg("config: %s", err);
    return c;
}

static void
test_policy_conf(void **state)
{
    struct xs_conf *c;
    struct xs_rep_policy p;
    char *err = (char *)"x";

    (void)state;
    c = conf_of("hosts: [example.org]\n"
        "modules:\n"
        "  mod_reputation:\n"
        "    registered: 3\n"
        "    admin: 20.5\n"
        "    age: {points: 10, per_days: 100, cap: 25}\n"
        "    probation_days: 7\n"
        "    probation_cap: 0\n"
        "    probation_min_mutual: 3\n"
        "    mutual_contacts: {points: 1.5, per: 1, free: 2, cap: 12}\n"
        "    subs_ignored: {free: 10}\n"
        "    evidence:\n"
        "      block: {weight: -7, half_life_days: 10, cap: 35}\n"
        "      report_spam: {half_life_days: 0.5}\n"
        "      operator: {half_life_days: 0, cap: 90}\n"
        "    reporter_floor: 0.1\n"
        "    reporter_full_at: 40\n"
        "    per_source_cap: 12\n"
        "    reports_per_hour: 5\n"
        "    domain_share: 0.3\n"
        "    domain_share_cap: 40\n"
        "    domain_weight: 0.25\n"
        "    levels: {trusted: 50, normal: 20, probation: -5, "
        "suspicious: -30}\n"
        "    horizon_days: 90\n"
        "    query_domains: [Buddy.Example, other.example]\n");
    assert_int_equal(xs_rep_policy_from_conf(c,
        xs_conf_module_opts(c, "mod_reputation"), &p, &err), XS_OK);
    assert_null(err);
    assert_near(p.registered, 3);
    assert_near(p.admin, 20.5);
    assert_near(p.age.points, 10);
    assert_near(p.age.unit, 100);
    assert_near(p.age.cap, 25);
    assert_int_equal(p.probation_s, 7 * DAY);
    assert_near(p.probation_cap, 0);
    assert_int_equal(p.probation_min_mutual, 3);
    assert_near(p.mutual_contacts.points, 1.5);
    assert_near(p.mutual_contacts.free, 2);
    assert_near(p.mutual_contacts.cap, 12);
    assert_near(p.subs_ignored.free, 10);
    assert_near(p.subs_ignored.points, -1);     /* default kept */
    assert_near(p.weight[XS_EVK_BLOCK], -7);
    assert_int_equal(p.half_life_s[XS_EVK_BLOCK], 10 * DAY);
    assert_near(p.kind_cap[XS_EVK_BLOCK], 35);
    assert_int_equal(p.half_life_s[XS_EVK_REPORT_SPAM], DAY / 2);
    assert_near(p.weight[XS_EVK_REPORT_SPAM], -10);
    assert_near(p.kind_cap[XS_EVK_OPERATOR], 90);
    assert_near(p.reporter_floor, 0.1);
    assert_near(p.reporter_full_at, 40);
    assert_near(p.per_source_cap, 12);
    assert_int_equal(p.reports_per_hour, 5);
    assert_near(p.domain_share, 0.3);
    assert_near(p.domain_share_cap, 40);
    assert_near(p.domain_weight, 0.25);
    assert_near(p.threshold[XS_REP_TRUSTED], 50);
    assert_near(p.threshold[XS_REP_SUSPICIOUS], -30);
    assert_int_equal(p.horizon_s, 90 * DAY);
    assert_int_equal(p.nquery_domains, 2);
    assert_string_equal(p.query_domains[0], "buddy.example");
    assert_string_equal(p.query_domains[1], "other.example");
    xs_rep_policy_fini(&p);
    xs_conf_free(c);

    /* No options, or an empty map: the defaults. */
    c = conf_of("hosts: [example.org]\nmodules:\n  mod_reputation: {}\n");
    assert_int_equal(xs_rep_policy_from_conf(c,
        xs_conf_module_opts(c, "mod_reputation"), &p, &err), XS_OK);
    assert_near(p.registered, 5);
    assert_int_equal(p.nquery_domains, 0);
    xs_rep_policy_fini(&p);
    assert_int_equal(xs_rep_policy_from_conf(c, NULL, &p, &err), XS_OK);
    assert_near(p.domain_weight, 0.5);
    xs_rep_policy_fini(&p);
    xs_conf_free(c);
}

static void
test_policy_conf_bad(void **state)
{
    static const struct {
        const char *opts;
        const char *want;       /* the whole line, or its start */
    } cases[] = {
        { "frobnicate: 1",
            "x.yml:4: modules.mod_reputation.frobnicate: unknown key" },
        { "registered: abc",
            "x.yml:4: modules.mod_reputation.registered: must be a number "
            "-100..100" },
        { "registered: nan", "x.yml:4: modules.mod_reputation.registered" },
        { "registered: .inf", "x.yml:4: modules.mod_reputation.registered" },
        { "registered: 0x10", "x.yml:4: modules.mod_reputation.registered" },
        { "registered: 101", "x.yml:4: modules.mod_reputation.registered" },
        { "registered: [1]", "x.yml:4: modules.mod_reputation.registered" },
        { "reporter_floor: 1.5",
            "x.yml:4: modules.mod_reputation.reporter_floor: must be a "
            "number 0..1" },
        { "reporter_full_at: 0",
            "x.yml:4: modules.mod_reputation.reporter_full_at" },
        { "domain_share: -0.1",
            "x.yml:4: modules.mod_reputation.domain_share" },
        { "domain_weight: 2",
            "x.yml:4: modules.mod_reputation.domain_weight" },
        { "per_source_cap: -1",
            "x.yml:4: modules.mod_reputation.per_source_cap" },
        { "levels: {normal: 50}",
            "x.yml:4: modules.mod_reputation.levels: thresholds must "
            "decrease strictly (trusted > normal > probation > "
            "suspicious)" },
        { "levels: {probation: 10}",
            "x.yml:4: modules.mod_reputation.levels: thresholds" },
        { "levels: {best: 90}",
            "x.yml:4: modules.mod_reputation.levels.best: unknown key" },
        { "levels: 5", "x.yml:4: modules.mod_reputation.levels: must be" },
        { "evidence: {nonsense: {weight: 1}}",
            "x.yml:4: modules.mod_reputation.evidence.nonsense: unknown "
            "key" },
        { "evidence: {block: {weight: -5, decay: 3}}",
            "x.yml:4: modules.mod_reputation.evidence.block.decay: "
            "unknown key" },
        { "evidence: {block: {half_life_days: -1}}",
            "x.yml:4: modules.mod_reputation.evidence.block.half_life_days:"
            " must be a number 0..36500" },
        { "evidence: {block: {cap: -1}}",
            "x.yml:4: modules.mod_reputation.evidence.block.cap" },
        { "evidence: {block: 5}",
            "x.yml:4: modules.mod_reputation.evidence.block: must be a map" },
        { "evidence: {operator: {weight: 3}}",
            "x.yml:4: modules.mod_reputation.evidence.operator.weight: the "
            "operator gives each note's weight" },
        { "age: {points: 1, per: 3}",
            "x.yml:4: modules.mod_reputation.age.per: unknown key" },
        { "age: 3", "x.yml:4: modules.mod_reputation.age: must be a map" },
        { "mutual_contacts: {per: 0}",
            "x.yml:4: modules.mod_reputation.mutual_contacts.per" },
        { "mutual_contacts: {cap: -1}",
            "x.yml:4: modules.mod_reputation.mutual_contacts.cap" },
        { "replies: {free: -1}",
            "x.yml:4: modules.mod_reputation.replies.free" },
        { "reports_per_hour: 0",
            "x.yml:4: modules.mod_reputation.reports_per_hour: must be an "
            "integer 1..10000" },
        { "probation_days: 2.5",
            "x.yml:4: modules.mod_reputation.probation_days: must be an "
            "integer" },
        { "horizon_days: 0",
            "x.yml:4: modules.mod_reputation.horizon_days" },
        { "query_domains: [a@b.example]",
            "x.yml:4: modules.mod_reputation.query_domains: must be a list "
            "of domains" },
        { "query_domains: b.example",
            "x.yml:4: modules.mod_reputation.query_domains: must be a list" },
    };

    (void)state;
    for (size_t i = 0; i < XS_ARRAY_LEN(cases); i++) {
        char *yaml = xs_asprintf("hosts: [example.org]\nmodules:\n"
            "  mod_reputation:\n    %s\n", cases[i].opts);
        struct xs_conf *c = conf_of(yaml);
        struct xs_rep_policy p;
        char *err = NULL;

        assert_int_equal(xs_rep_policy_from_conf(c,
            xs_conf_module_opts(c, "mod_reputation"), &p, &err), XS_EINVAL);
        assert_non_null(err);
        assert_null(strchr(err, '\n'));
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("%s\ngot  \"%s\"\nwant \"%s\"", cases[i].opts, err,
                cases[i].want);
        /* What is left is the defaults, safe to fini. */
        assert_near(p.registered, 5);
        assert_int_equal(p.nquery_domains, 0);
        xs_rep_policy_fini(&p);
        xs_free(err);
        xs_conf_free(c);
        xs_free(yaml);
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_decay),
        cmocka_unit_test(test_rates_and_levels),
        cmocka_unit_test(test_fresh_account_probation),
        cmocka_unit_test(test_probation_min_mutual),
        cmocka_unit_test(test_old_account_trusted),
        cmocka_unit_test(test_three_reporters),
        cmocka_unit_test(test_one_reporter_cap),
        cmocka_unit_test(test_kind_cap),
        cmocka_unit_test(test_rate_limit),
        cmocka_unit_test(test_bad_submissions),
        cmocka_unit_test(test_operator_items),
        cmocka_unit_test(test_decay_of_penalty),
        cmocka_unit_test(test_pin),
        cmocka_unit_test(test_domains),
        cmocka_unit_test(test_domain_share_cap),
        cmocka_unit_test(test_restore),
        cmocka_unit_test(test_retract),
        cmocka_unit_test(test_prune),
        cmocka_unit_test(test_cache),
        cmocka_unit_test(test_fold),
        cmocka_unit_test(test_note_cut),
        cmocka_unit_test(test_list_and_stats),
        cmocka_unit_test(test_account_leaves_domain),
        cmocka_unit_test(test_policy_conf),
        cmocka_unit_test(test_policy_conf_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
