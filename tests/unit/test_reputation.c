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

/* The counters after a whole census at now: what a full walk counts. */
static void
stats_now(struct xs_rep *r, int64_t now, struct xs_rep_stats *st)
{
    assert_true(xs_rep_census_run(r, now, SIZE_MAX));
    assert_false(xs_rep_census_running(r));
    xs_rep_stats(r, now, st);
    assert_int_equal(st->census_at, now);
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
        "trust_flag", "flag_invalid",
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
    stats_now(r, NOW, &st);
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
    /* The kind cap protects the JID's own score, not its domain's: the
     * domain takes its share of the items as filed (engine.h), -50, not
     * of the JID's capped -40 (the share cap bounds it instead).
     * Domain: 0.2 * -50 = -10; JID: -40 + 0.5 * -10 = -45. */
    explain(r, "remote.example", NOW, &e);
    assert_non_null(l = find_line(&e, "jids", ""));
    assert_near(l->weight, -50);
    assert_near(l->points, -10);
    assert_string_equal(l->note, "1 JID, 10 items");
    xs_rep_explanation_fini(&e);
    assert_int_equal(score(r, "remote.example", NOW), -10);
    assert_int_equal(score(r, "x@remote.example", NOW), -45);
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
    stats_now(r, NOW + 1800, &st);
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
    stats_now(r, NOW + 3660, &st);
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
    stats_now(r, NOW, &st);
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

/* Trust flags: the source gives each item's weight (the flag's trust
 * scaled by the issuer's standing), clamped to the kind's cap; invalid
 * flags weigh what the policy says. */
static void
test_trust_flag_items(void **state)
{
    struct xs_rep *r = engine();
    struct xs_evidence e, stored;

    (void)state;
    assert_true(xs_evk_weight_is_given(XS_EVK_OPERATOR));
    assert_true(xs_evk_weight_is_given(XS_EVK_TRUST_FLAG));
    assert_false(xs_evk_weight_is_given(XS_EVK_FLAG_INVALID));
    assert_false(xs_evk_weight_is_given(XS_EVK_BLOCK));

    e = ev("bob@peer.example", XS_EVK_TRUST_FLAG, XS_EVSRC_SYSTEM,
        "trust_flag");
    e.weight = 7.5;
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, &stored),
        XS_REP_ADMITTED);
    assert_near(stored.weight, 7.5);
    /* 7.5 + 0.5 * its domain's score (0.2 * 7.5 = 1.5 -> 2) = 8.5 -> 9 */
    assert_int_equal(score(r, "bob@peer.example", NOW), 9);

    e = ev("carol@peer.example", XS_EVK_TRUST_FLAG, XS_EVSRC_SYSTEM,
        "trust_flag");
    e.weight = 80;          /* more than the kind's cap (20) */
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, &stored),
        XS_REP_ADMITTED);
    assert_near(stored.weight, 20);
    e.weight = -500;
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, &stored),
        XS_REP_ADMITTED);
    assert_near(stored.weight, -20);

    /* flag_invalid: the policy's -10, whatever the item says; it decays
     * with a 30-day half-life. */
    e = ev("liar.example", XS_EVK_FLAG_INVALID, XS_EVSRC_SYSTEM,
        "trust_flag");
    e.weight = 99;
    assert_int_equal(xs_rep_submit(r, &e, false, NOW, &stored),
        XS_REP_ADMITTED);
    assert_near(stored.weight, -10);
    assert_int_equal(score(r, "liar.example", NOW), -10);
    assert_int_equal(score(r, "liar.example", NOW + 30 * DAY), -5);
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
    assert_string_equal(l->note, "2 JIDs, 2 items");
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
    stats_now(r, NOW, &st);
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
    stats_now(r, NOW, &st);
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
    stats_now(r, NOW + 210 * DAY, &st);
    assert_int_equal(st.subjects, 3);   /* me, y, other.example */
    assert_int_equal(st.pins, 0);
    /* Past the horizon even what does not decay is forgotten. */
    assert_int_equal(xs_rep_prune(r, NOW + 366 * DAY), 1);
    stats_now(r, NOW + 366 * DAY, &st);
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
    stats_now(r, NOW, &st);
    before = st.computations;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(score(r, "t@example.org", NOW + i % 60), 18);
    for (int i = 0; i < 1000; i++)
        assert_false(xs_rep_score(r, "nobody@example.org", NOW).is_known);
    stats_now(r, NOW, &st);
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
    stats_now(r, NOW + 1, &st);
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
    stats_now(r, NOW, &st);
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

    stats_now(r, NOW, &st);
    assert_int_equal(st.accounts_by_level[XS_REP_TRUSTED], 3);
    assert_int_equal(st.accounts_by_level[XS_REP_NORMAL], 1);
    assert_int_equal(st.accounts_by_level[XS_REP_PROBATION], 2);
    assert_int_equal(st.items_by_kind[XS_EVK_REPORT_SPAM], 3);
    assert_int_equal(st.admitted[XS_REP_ADMITTED], 3);

    /* A deleted account goes with everything said about it. */
    xs_rep_account_remove(r, "spam@example.org");
    assert_false(xs_rep_account_exists(r, "spam@example.org"));
    assert_false(xs_rep_score(r, "spam@example.org", NOW).is_known);
    stats_now(r, NOW, &st);
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

/* ---- walks in slices: the census and lists ---- */

#define WALK_ACCOUNTS   300

static size_t walk_blames;  /* blocks and reports walk_world admitted */

static void
acct_name(char *buf, size_t len, const char *prefix, int i)
{
    int n = snprintf(buf, len, "%s%04d@example.org", prefix, i);

    assert_true(n > 0 && (size_t)n < len);
}

/*
 * An engine with a bit of everything: accounts of every level (ages and
 * activity varied, some blamed by reporters, a few pinned, one pin
 * expired), remote JIDs with items under a few domains.  Enough subjects
 * for the table to have grown several times.
 */
static struct xs_rep *
walk_world(void)
{
    struct xs_rep *r = engine();
    char name[64], who[64];

    walk_blames = 0;
    for (int i = 0; i < 5; i++) {
        acct_name(who, sizeof(who), "rep", i);
        reporter(r, who);
    }
    for (int i = 0; i < WALK_ACCOUNTS; i++) {
        acct_name(name, sizeof(name), "u", i);
        xs_rep_account_set(r, name, NOW - (int64_t)(i % 40) * 30 * DAY,
            i % 50 == 0);
        xs_rep_account_mutual_set(r, name, (uint32_t)(i % 7));
        for (int k = 0; k < i % 4; k++) {
            acct_name(who, sizeof(who), "rep", k);
            /* Under reports_per_hour: 5 at most from each per hour. */
            if (submit(r, name, i % 2 ? XS_EVK_BLOCK : XS_EVK_REPORT_SPAM,
                    XS_EVSRC_USER, who, true,
                    NOW - 30 * DAY + (int64_t)k * 60 + (i / 5) * 3600)
                == XS_REP_ADMITTED)
                walk_blames++;
        }
        if (i % 37 == 0) {
            struct xs_rep_pin pin = { .score = -50 + i % 100,
                .reason = "test", .expires = i % 74 == 0 ? NOW + 10 : 0 };

            assert_int_equal(xs_rep_pin_set(r, name, &pin, NOW - 100),
                XS_OK);
        }
    }
    for (int i = 0; i < 120; i++) {
        char jid[64], src[32];

        snprintf(jid, sizeof(jid), "x%03d@remote%d.example", i, i % 6);
        snprintf(src, sizeof(src), "s2s%d", i % 3);
        submit(r, jid, XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM, src, false,
            NOW - i);
        if (i % 5 == 0)
            submit(r, jid, XS_EVK_CONVERSED, XS_EVSRC_USER, "rep0000@"
                "example.org", false, NOW);
    }
    return r;
}

static void
census_assert_equal(const struct xs_rep_stats *a, const struct xs_rep_stats *b)
{
    for (int l = 0; l < XS_REP_LEVEL__COUNT; l++)
        assert_int_equal(a->accounts_by_level[l], b->accounts_by_level[l]);
    for (int k = 0; k < XS_EVK__COUNT; k++)
        assert_int_equal(a->items_by_kind[k], b->items_by_kind[k]);
    assert_int_equal(a->pins, b->pins);
    assert_int_equal(a->subjects, b->subjects);
}

/* Steps a census at now with budget until it publishes; how many steps. */
static size_t
census_until_done(struct xs_rep *r, int64_t now, size_t budget)
{
    size_t steps = 0;
    uint64_t before;
    struct xs_rep_stats st;

    xs_rep_stats(r, now, &st);
    before = st.censuses;
    do {
        (void)xs_rep_census_step(r, now, budget);
        steps++;
        assert_true(steps < 1000000);
    } while (xs_rep_census_running(r));
    xs_rep_stats(r, now, &st);
    assert_int_equal(st.censuses, before + 1);
    assert_int_equal(st.census_at, now);
    return steps;
}

static void
test_census(void **state)
{
    static const size_t budgets[] = { 0, 1, 2, 3, 7, 64, 100000 };
    struct xs_rep *r = walk_world();
    struct xs_rep_stats full, st;
    uint64_t levels[XS_REP_LEVEL__COUNT] = { 0 };
    char name[64];
    size_t steps;

    (void)state;
    /* Nothing counted before the first census: zeros, live counters. */
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.censuses, 0);
    assert_int_equal(st.accounts_by_level[XS_REP_PROBATION], 0);
    assert_true(st.subjects > WALK_ACCOUNTS);
    assert_true(st.admitted[XS_REP_ADMITTED] > 0);
    assert_false(xs_rep_census_running(r));

    /* A whole census counts what the scores say, account by account. */
    stats_now(r, NOW, &full);
    for (int i = 0; i < WALK_ACCOUNTS + 5; i++) {
        if (i < WALK_ACCOUNTS)
            acct_name(name, sizeof(name), "u", i);
        else
            acct_name(name, sizeof(name), "rep", i - WALK_ACCOUNTS);
        levels[xs_rep_score(r, name, NOW).level]++;
    }
    for (int l = 0; l < XS_REP_LEVEL__COUNT; l++)
        assert_int_equal(full.accounts_by_level[l], levels[l]);
    assert_true(levels[XS_REP_TRUSTED] > 0 && levels[XS_REP_BAD] > 0);
    assert_int_equal(full.pins, 9);     /* i = 0, 37, ..., 296 */
    assert_int_equal(full.items_by_kind[XS_EVK_RATE_LIMITED], 120);
    assert_int_equal(full.items_by_kind[XS_EVK_CONVERSED], 24);
    assert_int_equal(full.items_by_kind[XS_EVK_BLOCK]
        + full.items_by_kind[XS_EVK_REPORT_SPAM], walk_blames);
    assert_int_equal(walk_blames, 450);

    /* In slices of any size: the same counts, published once at the
     * end, and the next step starts over. */
    for (size_t b = 0; b < XS_ARRAY_LEN(budgets); b++) {
        steps = census_until_done(r, NOW, budgets[b]);
        xs_rep_stats(r, NOW, &st);
        census_assert_equal(&st, &full);
        if (budgets[b] <= 1)
            assert_true(steps > WALK_ACCOUNTS / 2);
        if (budgets[b] >= 100000)
            assert_int_equal(steps, 1);
    }

    /* The counts stay as published while a census runs. */
    assert_true(xs_rep_census_step(r, NOW, 1) >= 1);
    assert_true(xs_rep_census_running(r));
    xs_rep_stats(r, NOW, &st);
    census_assert_equal(&st, &full);

    /* A run restarts whatever was in progress; one that costs more than
     * its budget does not run. */
    assert_false(xs_rep_census_run(r, NOW, 10));
    assert_true(xs_rep_census_running(r));
    assert_true(xs_rep_census_run(r, NOW + 20, SIZE_MAX));
    assert_false(xs_rep_census_running(r));
    xs_rep_stats(r, NOW + 20, &st);
    assert_int_equal(st.census_at, NOW + 20);
    assert_int_equal(st.pins, full.pins - 5);   /* 5 expired at NOW + 10 */
    xs_rep_free(r);
}

/* Accounts come and go and the table grows between slices: everything
 * present throughout is counted once, nothing twice. */
static void
test_census_growth(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_stats st;
    char name[64];
    size_t steps = 0;

    (void)state;
    /* 100 in probation (5 points) and 50 normal (18), to be removed. */
    for (int i = 0; i < 100; i++) {
        acct_name(name, sizeof(name), "p", i);
        xs_rep_account_set(r, name, NOW - DAY, false);
    }
    for (int i = 0; i < 50; i++) {
        acct_name(name, sizeof(name), "n", i);
        xs_rep_account_set(r, name, NOW - 400 * DAY, false);
    }
    (void)xs_rep_census_step(r, NOW, 20);
    assert_true(xs_rep_census_running(r));
    /* 6000 trusted ones (55) arrive: the table doubles five times, so
     * the census goes on over the split buckets, then starts over. */
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 2000; i++) {
            acct_name(name, sizeof(name), "t", round * 2000 + i);
            reporter(r, name);
        }
        (void)xs_rep_census_step(r, NOW, 7);
        steps++;
    }
    for (int i = 0; i < 50; i++) {
        acct_name(name, sizeof(name), "n", i);
        xs_rep_account_remove(r, name);
    }
    while (xs_rep_census_running(r)) {
        (void)xs_rep_census_step(r, NOW, 5);
        assert_true(++steps < 100000);
    }
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.censuses, 1);
    assert_int_equal(st.accounts_by_level[XS_REP_PROBATION], 100);
    assert_true(st.accounts_by_level[XS_REP_NORMAL] <= 50);
    assert_true(st.accounts_by_level[XS_REP_TRUSTED] <= 6000);
    assert_int_equal(st.subjects, 6100);
    /* The next census sees the table as it is. */
    census_until_done(r, NOW, 3);
    xs_rep_stats(r, NOW, &st);
    assert_int_equal(st.accounts_by_level[XS_REP_PROBATION], 100);
    assert_int_equal(st.accounts_by_level[XS_REP_NORMAL], 0);
    assert_int_equal(st.accounts_by_level[XS_REP_TRUSTED], 6000);
    xs_rep_free(r);
}

/* The reference for lists: every account the test made, scored one by
 * one, sorted, cut. */
struct ref_row {
    char name[64];
    int  score;
};

static int
ref_row_cmp(const void *a, const void *b)
{
    const struct ref_row *x = a, *y = b;

    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    return strcmp(x->name, y->name);
}

static size_t
list_reference(struct xs_rep *r, int below, size_t max, int64_t now,
    struct ref_row *out)
{
    size_t n = 0;

    for (int i = 0; i < WALK_ACCOUNTS + 5; i++) {
        struct xs_rep_score s;

        if (i < WALK_ACCOUNTS)
            acct_name(out[n].name, sizeof(out[n].name), "u", i);
        else
            acct_name(out[n].name, sizeof(out[n].name), "rep",
                i - WALK_ACCOUNTS);
        if (!xs_rep_account_exists(r, out[n].name))
            continue;
        s = xs_rep_score(r, out[n].name, now);
        if (s.score >= below)
            continue;
        out[n].score = s.score;
        n++;
    }
    qsort(out, n, sizeof(*out), ref_row_cmp);
    return n < max ? n : max;
}

static void
list_assert(const struct xs_rep_listed *l, size_t n,
    const struct ref_row *ref, size_t nref)
{
    assert_int_equal(n, nref);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(l[i].bare, ref[i].name);
        assert_int_equal(l[i].s.score, ref[i].score);
    }
}

static void
listed_free(struct xs_rep_listed *l, size_t n)
{
    for (size_t i = 0; i < n; i++)
        xs_free(l[i].bare);
    xs_free(l);
}

static void
test_list_walk(void **state)
{
    static const struct { int below; size_t max; } cases[] = {
        { 10, 5 }, { 10, 100000 }, { 101, 1 }, { 101, 1000 },
        { -100, 10 }, { 0, 17 }, { 56, 3 }, { 20, 0 },
    };
    static const size_t budgets[] = { 0, 1, 2, 5, 64, SIZE_MAX };
    struct xs_rep *r = walk_world();
    struct ref_row *ref = xs_calloc(WALK_ACCOUNTS + 5, sizeof(*ref));
    struct xs_rep_listed *l;
    size_t n, nref;

    (void)state;
    for (size_t c = 0; c < XS_ARRAY_LEN(cases); c++) {
        nref = list_reference(r, cases[c].below, cases[c].max, NOW, ref);
        xs_rep_list_below(r, cases[c].below, cases[c].max, NOW, &l, &n);
        list_assert(l, n, ref, nref);
        listed_free(l, n);
        for (size_t b = 0; b < XS_ARRAY_LEN(budgets); b++) {
            struct xs_rep_list_walk *w = xs_rep_list_walk_new(r,
                cases[c].below, cases[c].max);
            size_t steps = 1;

            while (!xs_rep_list_walk_step(w, NOW, budgets[b])) {
                /* Nothing to take before the end. */
                xs_rep_list_walk_result(w, &l, &n);
                assert_null(l);
                assert_int_equal(n, 0);
                assert_true(++steps < 100000);
            }
            if (budgets[b] <= 1 && cases[c].max > 0)
                assert_true(steps > WALK_ACCOUNTS / 2);
            assert_true(xs_rep_list_walk_step(w, NOW, budgets[b]));
            xs_rep_list_walk_result(w, &l, &n);
            list_assert(l, n, ref, nref);
            listed_free(l, n);
            /* Handed over once. */
            xs_rep_list_walk_result(w, &l, &n);
            assert_null(l);
            assert_int_equal(n, 0);
            xs_rep_list_walk_free(w);
        }
    }
    /* Freed half way: nothing leaks (the sanitizers say). */
    {
        struct xs_rep_list_walk *w = xs_rep_list_walk_new(r, 101, 50);

        for (int i = 0; i < 40; i++)
            assert_false(xs_rep_list_walk_step(w, NOW, 3));
        xs_rep_list_walk_free(w);
        xs_rep_list_walk_free(NULL);
    }
    xs_free(ref);
    xs_rep_free(r);
}

/* Between slices, accounts are removed, pinned out of the list, added by
 * the thousand (the table grows 32 times): the answer holds the accounts
 * as they are at the end, each once. */
static void
test_list_walk_changes(void **state)
{
    struct xs_rep *r = walk_world();
    struct ref_row *ref = xs_calloc(WALK_ACCOUNTS + 5, sizeof(*ref));
    struct xs_rep_pin pin = { .score = 100, .reason = "fine" };
    struct xs_rep_list_walk *w, *w2;
    struct xs_rep_listed *l;
    char name[64];
    size_t n, nref, steps = 0;

    (void)state;
    /* The lowest few now; they go or move while the walks run. */
    nref = list_reference(r, 101, 6, NOW, ref);
    assert_int_equal(nref, 6);
    w = xs_rep_list_walk_new(r, 101, 100000);
    w2 = xs_rep_list_walk_new(r, 10, 4);
    for (int i = 0; i < 30; i++) {
        assert_false(xs_rep_list_walk_step(w, NOW, 4));
        assert_false(xs_rep_list_walk_step(w2, NOW, 4));
    }
    xs_rep_account_remove(r, ref[0].name);
    xs_rep_account_remove(r, ref[1].name);
    assert_int_equal(xs_rep_pin_set(r, ref[2].name, &pin, NOW), XS_OK);
    /* Doubling after doubling: the walks go on over the split buckets,
     * then (sixteenfold) start over. */
    for (int i = 0; i < 8000; i++) {
        acct_name(name, sizeof(name), "late", i);
        xs_rep_account_set(r, name, NOW - 3 * DAY, false);
        if (i % 100 == 0) {
            (void)xs_rep_list_walk_step(w, NOW, 4);
            (void)xs_rep_list_walk_step(w2, NOW, 4);
        }
    }
    while (!xs_rep_list_walk_step(w, NOW, 4))
        assert_true(++steps < 100000);
    while (!xs_rep_list_walk_step(w2, NOW, 4))
        assert_true(++steps < 200000);

    /* Everything at most once, sorted, as it is now: the latecomers may
     * or may not be there, the two removed are not, the pinned one
     * scores 100. */
    xs_rep_list_walk_result(w, &l, &n);
    assert_true(n >= WALK_ACCOUNTS + 5 - 2);
    for (size_t i = 0; i < n; i++) {
        assert_true(xs_rep_account_exists(r, l[i].bare));
        assert_int_equal(l[i].s.score, score(r, l[i].bare, NOW));
        assert_string_not_equal(l[i].bare, ref[0].name);
        assert_string_not_equal(l[i].bare, ref[1].name);
        if (i > 0) {
            assert_true(l[i - 1].s.score < l[i].s.score
                || (l[i - 1].s.score == l[i].s.score
                    && strcmp(l[i - 1].bare, l[i].bare) < 0));
        }
        if (strcmp(l[i].bare, ref[2].name) == 0)
            assert_int_equal(l[i].s.score, 100);
    }
    listed_free(l, n);

    /* Below 10, at most 4: those kept that still qualify (the two gone
     * and the pinned one had been among the lowest: fewer rows, never a
     * wrong one). */
    xs_rep_list_walk_result(w2, &l, &n);
    assert_true(n <= 4);
    nref = list_reference(r, 10, 100000, NOW, ref);
    for (size_t i = 0; i < n; i++) {
        bool found = false;

        assert_true(l[i].s.score < 10);
        for (size_t j = 0; j < nref && !found; j++)
            found = strcmp(ref[j].name, l[i].bare) == 0;
        assert_true(found);
    }
    listed_free(l, n);
    xs_rep_list_walk_free(w);
    xs_rep_list_walk_free(w2);

    /* A walk over the grown table again equals the reference. */
    nref = list_reference(r, 10, 20, NOW, ref);
    w = xs_rep_list_walk_new(r, 10, 20);
    while (!xs_rep_list_walk_step(w, NOW, 9))
        ;
    xs_rep_list_walk_result(w, &l, &n);
    /* The latecomers score 5: they sort in by name among the others. */
    assert_int_equal(n, 20);
    for (size_t i = 0; i + 1 < n; i++)
        assert_true(l[i].s.score <= l[i + 1].s.score);
    listed_free(l, n);
    xs_rep_list_walk_free(w);
    xs_free(ref);
    xs_rep_free(r);
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
        "    query_domains: [Buddy.Example, other.example]\n"
        "    trust_keys_dir: /var/lib/xmppd/keys\n"
        "    flag_validity: 600\n"
        "    flag_max_validity: 7200\n"
        "    flag_skew: 30\n"
        "    replay_cache_max: 5000\n"
        "    key_cache: 120\n"
        "    key_fetch_timeout_ms: 250\n"
        "    key_fetch_waiters_max: 7\n"
        "    trust_keys:\n"
        "      Peer.Example:\n"
        "        - A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=\n"
        "        - AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
        "      other.example: [A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=]\n"
        "    flag_weight: 12.5\n"
        "    egress_refuse_level: suspicious\n"
        "    egress_probation_per_hour: 3\n"
        "    subscription_gate:\n"
        "      enabled: false\n"
        "      reject_below: -20\n"
        "      domain_reject_below: -55.5\n"
        "      min_flag_trust: 35\n"
        "      no_flag: reject\n"
        "      invalid_flag: score\n"
        "      action: silent\n"
        "      audit_deliveries: false\n");
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
    assert_string_equal(p.trust.keys_dir, "/var/lib/xmppd/keys");
    assert_int_equal(p.trust.flag_validity_s, 600);
    assert_int_equal(p.trust.flag_max_validity_s, 7200);
    assert_int_equal(p.trust.flag_skew_s, 30);
    assert_int_equal(p.trust.replay_cache_max, 5000);
    assert_int_equal(p.trust.key_cache_s, 120);
    assert_int_equal(p.trust.key_fetch_timeout_ms, 250);
    assert_int_equal(p.trust.key_fetch_waiters_max, 7);
    assert_int_equal(p.trust.npinned, 3);
    assert_string_equal(p.trust.pinned[0].domain, "peer.example");
    assert_int_equal(p.trust.pinned[0].pk[0], 0x03);
    assert_int_equal(p.trust.pinned[0].pk[31], 0xb8);
    assert_string_equal(p.trust.pinned[1].domain, "peer.example");
    assert_int_equal(p.trust.pinned[1].pk[0], 0);
    assert_string_equal(p.trust.pinned[2].domain, "other.example");
    assert_near(p.trust.flag_weight, 12.5);
    assert_int_equal(p.trust.egress_refuse_level, XS_REP_SUSPICIOUS);
    assert_int_equal(p.trust.egress_probation_per_hour, 3);
    assert_false(p.gate.enabled);
    assert_near(p.gate.reject_below, -20);
    assert_near(p.gate.domain_reject_below, -55.5);
    assert_int_equal(p.gate.min_flag_trust, 35);
    assert_int_equal(p.gate.no_flag, XS_GATE_NOFLAG_REJECT);
    assert_int_equal(p.gate.invalid_flag, XS_GATE_INVALID_SCORE);
    assert_int_equal(p.gate.action, XS_GATE_ACT_SILENT);
    assert_false(p.gate.audit_deliveries);
    {
        /* The engine's copy is deep: it outlives the caller's policy. */
        struct xs_rep *r = xs_rep_new(&p);
        const struct xs_rep_policy *rp;

        xs_rep_policy_fini(&p);
        rp = xs_rep_policy(r);
        assert_string_equal(rp->trust.keys_dir, "/var/lib/xmppd/keys");
        assert_int_equal(rp->trust.npinned, 3);
        assert_string_equal(rp->trust.pinned[2].domain, "other.example");
        assert_int_equal(rp->trust.pinned[0].pk[0], 0x03);
        assert_int_equal(rp->gate.min_flag_trust, 35);
        xs_rep_free(r);
    }
    xs_conf_free(c);

    /* A relative folder is read beside the configuration file. */
    c = conf_of("hosts: [example.org]\nmodules:\n  mod_reputation:\n"
        "    trust_keys_dir: ./secret/keys\n");
    assert_int_equal(xs_rep_policy_from_conf(c,
        xs_conf_module_opts(c, "mod_reputation"), &p, &err), XS_OK);
    assert_non_null(p.trust.keys_dir);
    assert_int_equal(p.trust.keys_dir[0], '/');
    assert_non_null(strstr(p.trust.keys_dir, "/secret/keys"));
    assert_null(strstr(p.trust.keys_dir, "/./"));
    xs_rep_policy_fini(&p);
    xs_conf_free(c);
    c = conf_of("hosts: [example.org]\n");
    xs_free(c->path);
    c->path = xs_strdup("/etc/xmppd/xmppd.yml");
    assert_int_equal(xs_rep_policy_from_conf(c, NULL, &p, &err), XS_OK);
    assert_string_equal(p.trust.keys_dir, "/etc/xmppd/keys");
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
    /* The trust and gate defaults (policy.h). */
    assert_non_null(p.trust.keys_dir);
    assert_non_null(strstr(p.trust.keys_dir, "/keys"));
    assert_int_equal(p.trust.flag_validity_s, 3600);
    assert_int_equal(p.trust.flag_max_validity_s, 86400);
    assert_int_equal(p.trust.flag_skew_s, 300);
    assert_int_equal(p.trust.replay_cache_max, 200000);
    assert_int_equal(p.trust.key_cache_s, 3600);
    assert_int_equal(p.trust.key_fetch_timeout_ms, 5000);
    assert_int_equal(p.trust.key_fetch_waiters_max, 1000);
    assert_int_equal(p.trust.npinned, 0);
    assert_near(p.trust.flag_weight, 20);
    assert_int_equal(p.trust.egress_refuse_level, XS_REP_BAD);
    assert_int_equal(p.trust.egress_probation_per_hour, 10);
    assert_true(p.gate.enabled);
    assert_near(p.gate.reject_below, -10);
    assert_near(p.gate.domain_reject_below, -40);
    assert_int_equal(p.gate.min_flag_trust, 45);
    assert_int_equal(p.gate.no_flag, XS_GATE_NOFLAG_SCORE);
    assert_int_equal(p.gate.invalid_flag, XS_GATE_INVALID_REJECT);
    assert_int_equal(p.gate.action, XS_GATE_ACT_UNSUBSCRIBED);
    assert_true(p.gate.audit_deliveries);
    assert_near(p.weight[XS_EVK_FLAG_INVALID], -10);
    assert_int_equal(p.half_life_s[XS_EVK_FLAG_INVALID], 30 * DAY);
    assert_near(p.kind_cap[XS_EVK_FLAG_INVALID], 40);
    assert_int_equal(p.half_life_s[XS_EVK_TRUST_FLAG], 30 * DAY);
    assert_near(p.kind_cap[XS_EVK_TRUST_FLAG], 20);
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
        { "evidence: {trust_flag: {weight: 3}}",
            "x.yml:4: modules.mod_reputation.evidence.trust_flag.weight: "
            "each item's weight is given by its source" },
        { "flag_validity: 86401",
            "x.yml:4: modules.mod_reputation.flag_validity: must be an "
            "integer 60..86400" },
        { "flag_max_validity: 10",
            "x.yml:4: modules.mod_reputation.flag_max_validity" },
        { "flag_skew: -1", "x.yml:4: modules.mod_reputation.flag_skew" },
        { "replay_cache_max: 0",
            "x.yml:4: modules.mod_reputation.replay_cache_max" },
        { "key_cache: 1h", "x.yml:4: modules.mod_reputation.key_cache" },
        { "key_fetch_timeout_ms: 99",
            "x.yml:4: modules.mod_reputation.key_fetch_timeout_ms" },
        { "key_fetch_waiters_max: 0",
            "x.yml:4: modules.mod_reputation.key_fetch_waiters_max" },
        { "trust_keys_dir: [a]",
            "x.yml:4: modules.mod_reputation.trust_keys_dir: must be a "
            "folder name" },
        { "trust_keys: [a]",
            "x.yml:4: modules.mod_reputation.trust_keys: must be a map" },
        { "trust_keys: {a.example: AAAA}",
            "x.yml:4: modules.mod_reputation.trust_keys.a.example: must be "
            "a list of 1 to 16" },
        { "trust_keys: {a.example: []}",
            "x.yml:4: modules.mod_reputation.trust_keys.a.example: must be "
            "a list" },
        { "trust_keys: {u@a.example: "
              "[A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=]}",
            "x.yml:4: modules.mod_reputation.trust_keys.u@a.example: must "
            "be a domain" },
        { "trust_keys: {a.example: [A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJ"
              "VMbh=]}",
            "x.yml:4: modules.mod_reputation.trust_keys.a.example: must be "
            "standard base64 of a 32-byte Ed25519 public key" },
        { "trust_keys: {a.example: [A6EHv_POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJ"
              "VMbg]}",
            "x.yml:4: modules.mod_reputation.trust_keys.a.example: must be "
            "standard base64" },
        { "trust_keys: {a.example: [A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJ"
              "VMbg=, A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=]}",
            "x.yml:4: modules.mod_reputation.trust_keys.a.example: a key is "
            "listed twice" },
        { "flag_weight: 101", "x.yml:4: modules.mod_reputation.flag_weight" },
        { "egress_refuse_level: unknown",
            "x.yml:4: modules.mod_reputation.egress_refuse_level: must be a "
            "level: trusted, normal, probation, suspicious or bad" },
        { "egress_refuse_level: Bad",
            "x.yml:4: modules.mod_reputation.egress_refuse_level" },
        { "egress_probation_per_hour: -1",
            "x.yml:4: modules.mod_reputation.egress_probation_per_hour" },
        { "subscription_gate: true",
            "x.yml:4: modules.mod_reputation.subscription_gate: must be a "
            "map" },
        { "subscription_gate: {on: true}",
            "x.yml:4: modules.mod_reputation.subscription_gate.on: unknown "
            "key" },
        { "subscription_gate: {enabled: yes}",
            "x.yml:4: modules.mod_reputation.subscription_gate.enabled: "
            "must be true or false" },
        { "subscription_gate: {reject_below: -101}",
            "x.yml:4: modules.mod_reputation.subscription_gate.reject_below" },
        { "subscription_gate: {domain_reject_below: x}",
            "x.yml:4: modules.mod_reputation.subscription_gate."
            "domain_reject_below" },
        { "subscription_gate: {min_flag_trust: 101}",
            "x.yml:4: modules.mod_reputation.subscription_gate."
            "min_flag_trust: must be an integer 0..100" },
        { "subscription_gate: {no_flag: allow}",
            "x.yml:4: modules.mod_reputation.subscription_gate.no_flag: "
            "must be score, reject or deliver" },
        { "subscription_gate: {invalid_flag: deliver}",
            "x.yml:4: modules.mod_reputation.subscription_gate.invalid_flag:"
            " must be reject or score" },
        { "subscription_gate: {action: bounce}",
            "x.yml:4: modules.mod_reputation.subscription_gate.action: must "
            "be unsubscribed, error or silent" },
        { "subscription_gate: {audit_deliveries: 1}",
            "x.yml:4: modules.mod_reputation.subscription_gate."
            "audit_deliveries" },
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
        assert_int_equal(p.trust.npinned, 0);
        assert_null(p.trust.keys_dir);
        xs_rep_policy_fini(&p);
        xs_free(err);
        xs_conf_free(c);
        xs_free(yaml);
    }
}

/* ---- a domain's share of its JIDs' items, kept as they change ---- */

/* What the engine keeps and what a walk over the items gives agree at
 * now (rounding apart), and so does want (NAN: not checked). */
static void
dsum_check(struct xs_rep *r, const char *domain, int64_t now, double want)
{
    double kept, walked;

    if (!xs_rep_domain_jids_sum(r, domain, now, &kept, &walked)) {
        /* Gone with its last JID: nothing to share. */
        if (!isnan(want))
            assert_close(want, 0, 1e-9);
        return;
    }
    assert_true(isfinite(kept));
    assert_close(kept, walked, 1e-7 + 1e-12 * fabs(walked));
    if (!isnan(want))
        assert_close(kept, want, 1e-7 + 1e-12 * fabs(want));
}

/* The test's own account of the items under a domain. */
struct dmodel {
    struct {
        char     jid[32];
        char     source[32];
        int      kind;
        double   weight;
        int64_t  at;
        bool     is_live;
    } v[64];
    size_t n;
};

static void
dmodel_add(struct dmodel *m, const char *jid, const char *source,
    enum xs_evk kind, double weight, int64_t at)
{
    assert_true(m->n < XS_ARRAY_LEN(m->v));
    snprintf(m->v[m->n].jid, sizeof(m->v[m->n].jid), "%s", jid);
    snprintf(m->v[m->n].source, sizeof(m->v[m->n].source), "%s", source);
    m->v[m->n].kind = (int)kind;
    m->v[m->n].weight = weight;
    m->v[m->n].at = at;
    m->v[m->n].is_live = true;
    m->n++;
}

/* Takes out jid's items (of kind from source; any: NULL / -1). */
static void
dmodel_drop(struct dmodel *m, const char *jid, const char *source, int kind)
{
    for (size_t i = 0; i < m->n; i++) {
        if (strcmp(m->v[i].jid, jid) == 0
            && (source == NULL || strcmp(m->v[i].source, source) == 0)
            && (kind < 0 || m->v[i].kind == kind))
            m->v[i].is_live = false;
    }
}

/* The brute-force sum at now: every live item decayed, no caps. */
static double
dmodel_sum(const struct dmodel *m, const struct xs_rep_policy *p,
    int64_t now)
{
    double sum = 0;

    for (size_t i = 0; i < m->n; i++) {
        if (m->v[i].is_live)
            sum += xs_evidence_decay(m->v[i].weight, m->v[i].at, now,
                p->half_life_s[m->v[i].kind]);
    }
    return sum;
}

/* What a prune at now drops (prune.c's rule). */
static void
dmodel_prune(struct dmodel *m, const struct xs_rep_policy *p, int64_t now)
{
    for (size_t i = 0; i < m->n; i++) {
        double c = xs_evidence_decay(m->v[i].weight, m->v[i].at, now,
            p->half_life_s[m->v[i].kind]);

        if (fabs(c) < 0.05 || m->v[i].at < now - p->horizon_s)
            m->v[i].is_live = false;
    }
}

static void
dmodel_check(struct xs_rep *r, const struct dmodel *m, const char *domain,
    int64_t from)
{
    static const int64_t later[] = { 0, 1, 3599, DAY, 7 * DAY, 30 * DAY,
        100 * DAY };

    for (size_t i = 0; i < XS_ARRAY_LEN(later); i++)
        dsum_check(r, domain, from + later[i],
            dmodel_sum(m, xs_rep_policy(r), from + later[i]));
}

/*
 * The domain's sum against the test's own brute-force sum of the items
 * it submitted, at many times, through every way an item comes or goes:
 * adds, a replacement, folds, a restore, a retraction, a JID that
 * becomes an account (and is removed), a pin on a member, prunes.
 */
static void
test_domain_sum(void **state)
{
    const char *me = "me@example.org", *d = "far.example";
    struct xs_rep *r = engine();
    const struct xs_rep_policy *p = xs_rep_policy(r);
    struct xs_rep_explanation e;
    const struct xs_rep_line *l;
    struct xs_rep_pin pin = { .score = 20, .reason = "ok" };
    struct dmodel *m = xs_calloc(1, sizeof(*m));
    struct xs_evidence stored;
    char jid[32];
    double want;

    (void)state;
    reporter(r, me);
    for (int i = 0; i < 5; i++) {
        snprintf(jid, sizeof(jid), "j%d@%s", i, d);
        assert_int_equal(submit(r, jid, XS_EVK_BLOCK, XS_EVSRC_USER, me,
            false, NOW), XS_REP_ADMITTED);
        dmodel_add(m, jid, me, XS_EVK_BLOCK, -5, NOW);
    }
    dmodel_check(r, m, d, NOW);
    submit(r, "j5@far.example", XS_EVK_CONVERSED, XS_EVSRC_USER, me, false,
        NOW - 2 * DAY);
    dmodel_add(m, "j5@far.example", me, XS_EVK_CONVERSED, 2, NOW - 2 * DAY);
    /* Twelve throttlings an hour apart: folded beyond 8, same sum. */
    for (int i = 0; i < 12; i++) {
        submit(r, "j6@far.example", XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM,
            "c2s", false, NOW - 12 * 3600 + i * 3600);
        dmodel_add(m, "j6@far.example", "c2s", XS_EVK_RATE_LIMITED, -5,
            NOW - 12 * 3600 + i * 3600);
    }
    submit(r, "j7@far.example", XS_EVK_CAPTCHA_PASSED, XS_EVSRC_SYSTEM,
        "register", false, NOW - DAY);
    dmodel_add(m, "j7@far.example", "register", XS_EVK_CAPTCHA_PASSED, 5,
        NOW - DAY);
    dmodel_check(r, m, d, NOW);

    /* The newer block replaces the older. */
    assert_int_equal(submit(r, "j0@far.example", XS_EVK_BLOCK,
        XS_EVSRC_USER, me, false, NOW + 3600), XS_REP_REPLACED);
    dmodel_drop(m, "j0@far.example", me, XS_EVK_BLOCK);
    dmodel_add(m, "j0@far.example", me, XS_EVK_BLOCK, -5, NOW + 3600);
    /* A restored item, at its time, as stored. */
    stored = ev("j8@far.example", XS_EVK_REPORT_SPAM, XS_EVSRC_USER,
        "old@example.org");
    stored.weight = -7.5;
    stored.at = NOW - 10 * DAY;
    xs_rep_restore(r, &stored, false, NOW + 3600);
    dmodel_add(m, "j8@far.example", "old@example.org", XS_EVK_REPORT_SPAM,
        -7.5, NOW - 10 * DAY);
    dmodel_check(r, m, d, NOW + 3600);

    /* An unblock. */
    assert_true(xs_rep_retract(r, "j1@far.example", XS_EVK_BLOCK, me));
    dmodel_drop(m, "j1@far.example", NULL, -1);
    /* A pin on a member changes nothing of the sum; an account is no
     * member: j2's items leave the domain's sum, and stay out when the
     * account is removed. */
    assert_int_equal(xs_rep_pin_set(r, "j3@far.example", &pin, NOW + 3600),
        XS_OK);
    xs_rep_account_set(r, "j2@far.example", NOW, false);
    dmodel_drop(m, "j2@far.example", NULL, -1);
    dmodel_check(r, m, d, NOW + 3600);
    xs_rep_account_remove(r, "j2@far.example");
    dmodel_check(r, m, d, NOW + 3600);

    /* The explanation's "jids" line weighs the sum (a time the domain's
     * cached score cannot hold: computed there). */
    want = dmodel_sum(m, p, NOW + 2 * DAY);
    explain(r, d, NOW + 2 * DAY, &e);
    assert_non_null(l = find_line(&e, "jids", ""));
    assert_near(l->weight, want);
    assert_near(l->points, 0.2 * want);
    /* j0, j3, j4, j5, j6, j7, j8; j6's twelve throttlings held as 8. */
    assert_string_equal(l->note, "7 JIDs, 18 items");
    xs_rep_explanation_fini(&e);
    assert_int_equal(score(r, d, NOW + 2 * DAY), (int)lround(0.2 * want));

    /* Prunes: the throttlings go first (7-day half-life), then the
     * blocks; the captcha stays until the horizon. */
    for (int64_t t = NOW + 30 * DAY; t <= NOW + 400 * DAY; t += 37 * DAY) {
        (void)xs_rep_prune(r, t);
        dmodel_prune(m, p, t);
        dmodel_check(r, m, d, t);
    }
    assert_false(xs_rep_score(r, d, NOW + 400 * DAY).is_known);
    xs_free(m);
    xs_rep_free(r);
}

/* A small PRNG: the same run every time. */
static uint64_t drand_state;

static uint64_t
drand_below(uint64_t n)
{
    uint64_t z = (drand_state += 0x9e3779b97f4a7c15u);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return (z ^ (z >> 31)) % n;
}

/*
 * Random changes to the JIDs of two domains over years (clock jumps of up
 * to weeks, and a minute's half-life for throttlings, so the sum's
 * reference time is rebased again and again; items restored from the
 * future of the queries too), the kept sum checked against a walk over
 * the items after every change, at several times.
 */
static void
test_domain_sum_random(void **state)
{
    static const enum xs_evk user_kinds[] = { XS_EVK_BLOCK,
        XS_EVK_REPORT_SPAM, XS_EVK_SUB_REFUSED, XS_EVK_CONVERSED };
    static const char *const domains[] = { "one.example", "two.example" };
    struct xs_rep_policy p;
    struct xs_rep *r;
    char jid[48], who[48];
    int64_t t = NOW;
    size_t pruned = 0, accounts = 0;

    (void)state;
    drand_state = 42;
    xs_rep_policy_defaults(&p);
    p.half_life_s[XS_EVK_RATE_LIMITED] = 60;
    p.reports_per_hour = 1000;
    r = xs_rep_new(&p);
    xs_rep_policy_fini(&p);
    for (int i = 0; i < 6; i++) {
        acct_name(who, sizeof(who), "rep", i);
        reporter(r, who);
    }
    for (int step = 0; step < 3000; step++) {
        int j = (int)drand_below(40);
        const char *d = domains[drand_below(2)];
        uint64_t op = drand_below(100);

        snprintf(jid, sizeof(jid), "j%02d@%s", j, d);
        acct_name(who, sizeof(who), "rep", (int)drand_below(6));
        if (drand_below(10) == 0)
            t += (int64_t)drand_below(14 * DAY);
        else
            t += (int64_t)drand_below(600);
        if (op < 35) {
            submit(r, jid, user_kinds[drand_below(4)], XS_EVSRC_USER, who,
                false, t);
        } else if (op < 60) {
            submit(r, jid, drand_below(3) ? XS_EVK_RATE_LIMITED
                : XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM,
                drand_below(2) ? "c2s" : "s2s", false, t);
        } else if (op < 68) {
            struct xs_evidence e = ev(jid, user_kinds[drand_below(4)],
                XS_EVSRC_USER, who);

            /* Restored: older, or from after the queries below. */
            e.weight = -1 - (double)drand_below(9);
            e.at = t - (int64_t)drand_below(60 * DAY) + 3 * DAY
                * (drand_below(8) == 0);
            xs_rep_restore(r, &e, false, t);
        } else if (op < 80) {
            (void)xs_rep_retract(r, jid, user_kinds[drand_below(4)], who);
        } else if (op < 84) {
            struct xs_rep_pin pin = { .score = -30, .reason = "x" };

            if (drand_below(2))
                (void)xs_rep_pin_set(r, jid, &pin, t);
            else
                (void)xs_rep_pin_clear(r, jid);
        } else if (op < 87) {
            /* The JID registers here (leaves its domain), or goes. */
            if (xs_rep_account_exists(r, jid)) {
                xs_rep_account_remove(r, jid);
            } else {
                xs_rep_account_set(r, jid, t, false);
                accounts++;
            }
        } else if (op < 92) {
            pruned += xs_rep_prune(r, t);
        } else if (op < 96) {
            bool is_done;

            pruned += xs_rep_prune_step(r, t, 1 + drand_below(40),
                &is_done);
        } else {
            /* Lookups: each domain's score and a JID's, cached. */
            (void)xs_rep_score(r, d, t);
            (void)xs_rep_score(r, jid, t);
        }
        for (size_t i = 0; i < XS_ARRAY_LEN(domains); i++) {
            dsum_check(r, domains[i], t, NAN);
            dsum_check(r, domains[i], t - 3600, NAN);
            dsum_check(r, domains[i], t + 5 * DAY, NAN);
            dsum_check(r, domains[i], t + 400 * DAY, NAN);
        }
    }
    /* Years went by; both kinds of clean-up happened. */
    assert_true(t - NOW > 2 * 365 * DAY);
    assert_true(pruned > 100);
    assert_true(accounts > 10);
    xs_rep_free(r);
}

/* The score of a domain with nothing of its own is its share of its JIDs'
 * items, and a change to a JID reaches its siblings through the domain
 * only when the domain's score moves. */
static void
test_domain_sum_siblings(void **state)
{
    struct xs_rep *r = engine();
    struct xs_rep_stats st;
    char jid[48];
    uint64_t before;

    (void)state;
    for (int i = 0; i < 200; i++) {
        struct xs_evidence e;

        snprintf(jid, sizeof(jid), "s%03d@flood.example", i);
        e = ev(jid, XS_EVK_TRUST_FLAG, XS_EVSRC_SYSTEM, "trust_flag");
        e.weight = 0.25;
        assert_int_equal(xs_rep_submit(r, &e, false, NOW, NULL),
            XS_REP_ADMITTED);
        /* 0.2 * 0.25 * (i + 1), rounded */
        assert_int_equal(score(r, "flood.example", NOW),
            (int)lround(0.05 * (i + 1)));
    }
    /* 0.2 * 50 = 10 */
    assert_int_equal(score(r, "flood.example", NOW), 10);
    for (int i = 0; i < 200; i++) {
        snprintf(jid, sizeof(jid), "s%03d@flood.example", i);
        assert_int_equal(score(r, jid, NOW), 5);   /* 0.25 + 0.5 * 10 */
    }
    stats_now(r, NOW, &st);
    before = st.computations;
    /* One more JID, the domain's score unmoved: the domain is computed
     * again (its share kept, not walked), its siblings are not. */
    submit(r, "new@flood.example", XS_EVK_CONVERSED, XS_EVSRC_USER,
        "me@example.org", false, NOW);
    for (int i = 0; i < 200; i++) {
        snprintf(jid, sizeof(jid), "s%03d@flood.example", i);
        assert_int_equal(score(r, jid, NOW), 5);
    }
    stats_now(r, NOW, &st);
    assert_int_equal(st.computations - before, 1);
    xs_rep_free(r);
}

/* ---- the prune in slices ---- */

/* walk_world and, for the prune: JIDs of four domains throttled long ago
 * (all to go; some with a captcha that stays until the horizon, some
 * with a pin that expires), and their domains' own items. */
static struct xs_rep *
prune_world(void)
{
    struct xs_rep *r = walk_world();
    char jid[64], dom[32];

    for (int i = 0; i < 400; i++) {
        snprintf(dom, sizeof(dom), "gone%d.example", i % 4);
        snprintf(jid, sizeof(jid), "old%03d@%s", i, dom);
        submit(r, jid, XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM, "c2s", false,
            NOW - 200 * DAY + i);
        if (i % 9 == 0)
            submit(r, jid, XS_EVK_CAPTCHA_PASSED, XS_EVSRC_SYSTEM,
                "register", false, NOW - 300 * DAY);
        if (i % 13 == 0) {
            struct xs_rep_pin pin = { .score = 1, .reason = "t",
                .expires = NOW + 50 * DAY };

            assert_int_equal(xs_rep_pin_set(r, jid, &pin, NOW), XS_OK);
        }
        if (i < 4)
            submit(r, dom, XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM, "s2s",
                false, NOW - i * 40 * DAY);
    }
    return r;
}

/* Every subject prune_world names, scored and explained alike in a and
 * b at now; their domains' sums kept right. */
static void
prune_assert_same(struct xs_rep *a, struct xs_rep *b, int64_t now)
{
    char name[64];
    struct xs_rep_stats sa, sb;

    stats_now(a, now, &sa);
    stats_now(b, now, &sb);
    census_assert_equal(&sa, &sb);
    for (int i = 0; i < WALK_ACCOUNTS + 400 + 120; i++) {
        struct xs_rep_explanation ea, eb;
        struct xs_rep_score x, y;

        if (i < WALK_ACCOUNTS)
            acct_name(name, sizeof(name), "u", i);
        else if (i < WALK_ACCOUNTS + 400)
            snprintf(name, sizeof(name), "old%03d@gone%d.example",
                i - WALK_ACCOUNTS, (i - WALK_ACCOUNTS) % 4);
        else
            snprintf(name, sizeof(name), "x%03d@remote%d.example",
                i - WALK_ACCOUNTS - 400, (i - WALK_ACCOUNTS - 400) % 6);
        x = xs_rep_score(a, name, now);
        y = xs_rep_score(b, name, now);
        assert_int_equal(x.score, y.score);
        assert_int_equal(x.is_known, y.is_known);
        xs_rep_explain(a, name, now, &ea);
        xs_rep_explain(b, name, now, &eb);
        assert_int_equal(ea.nlines, eb.nlines);
        assert_near(ea.raw, eb.raw);
        xs_rep_explanation_fini(&ea);
        xs_rep_explanation_fini(&eb);
    }
    for (int i = 0; i < 6; i++) {
        snprintf(name, sizeof(name), i < 4 ? "gone%d.example"
            : "remote%d.example", i < 4 ? i : i - 4);
        assert_int_equal(xs_rep_score(a, name, now).score,
            xs_rep_score(b, name, now).score);
        dsum_check(a, name, now, NAN);
        dsum_check(b, name, now, NAN);
    }
}

/* Prunes r at now in steps of budget; the items that went. */
static size_t
prune_until_done(struct xs_rep *r, int64_t now, size_t budget,
    size_t *steps)
{
    size_t gone = 0;
    bool is_done = false;

    *steps = 0;
    while (!is_done) {
        gone += xs_rep_prune_step(r, now, budget, &is_done);
        assert_int_equal(xs_rep_prune_running(r), !is_done);
        assert_true(++*steps < 1000000);
    }
    return gone;
}

/* A prune in slices of any budget leaves what a whole prune leaves. */
static void
test_prune_sliced(void **state)
{
    static const size_t budgets[] = { 0, 1, 5, 64, 1000, SIZE_MAX };
    static const int64_t when[] = { NOW + 11, NOW + 60 * DAY,
        NOW + 100 * DAY, NOW + 400 * DAY };
    struct xs_rep *full = prune_world();
    size_t want[XS_ARRAY_LEN(when)];
    struct xs_rep_stats st;

    (void)state;
    for (size_t w = 0; w < XS_ARRAY_LEN(when); w++)
        want[w] = xs_rep_prune(full, when[w]);
    assert_true(want[0] > 400);             /* the old throttlings */
    assert_true(want[1] + want[2] > 100);
    for (size_t i = 0; i < XS_ARRAY_LEN(budgets); i++) {
        struct xs_rep *r = prune_world(), *ref = prune_world();
        size_t steps;

        for (size_t w = 0; w < XS_ARRAY_LEN(when); w++) {
            size_t gone = prune_until_done(r, when[w], budgets[i], &steps);

            assert_int_equal(gone, want[w]);
            assert_int_equal(xs_rep_prune(ref, when[w]), want[w]);
            if (budgets[i] <= 5 && w == 0)
                assert_true(steps > 100);
            else if (budgets[i] == SIZE_MAX)
                assert_int_equal(steps, 1);
            prune_assert_same(r, ref, when[w]);
        }
        xs_rep_free(r);
        xs_rep_free(ref);
    }
    /* Everything went but the reporters past the horizon. */
    stats_now(full, NOW + 400 * DAY, &st);
    assert_int_equal(st.subjects, WALK_ACCOUNTS + 5);
    xs_rep_free(full);
}

/*
 * The engine changes between two slices: new subjects grow the table
 * (the walk goes on over what its buckets split into), accounts and
 * items go.  Whatever was there from the prune's start to its end is
 * pruned; the engine stays whole (ASan, the domain sums).
 */
static void
test_prune_sliced_changes(void **state)
{
    struct xs_rep *r = prune_world();
    struct xs_rep_stats st, before;
    char name[64];
    size_t steps = 0, added = 0;
    bool is_done = false;
    int64_t now = NOW + 11;

    (void)state;
    stats_now(r, now, &before);
    while (!is_done) {
        (void)xs_rep_prune_step(r, now, 7, &is_done);
        steps++;
        /* 40 subjects a step: the table doubles several times. */
        for (int i = 0; i < 20 && !is_done; i++, added++) {
            snprintf(name, sizeof(name), "n%05zu@new%zu.example", added,
                added % 50);
            submit(r, name, XS_EVK_CONVERSED, XS_EVSRC_USER,
                "rep0000@example.org", false, now);
        }
        if (steps % 3 == 0 && steps / 3 < WALK_ACCOUNTS) {
            acct_name(name, sizeof(name), "u", (int)(steps / 3));
            xs_rep_account_remove(r, name);
        }
        if (steps % 5 == 0) {
            snprintf(name, sizeof(name), "x%03zu@remote%zu.example",
                steps / 5 % 120, steps / 5 % 120 % 6);
            (void)xs_rep_retract(r, name, XS_EVK_CONVERSED,
                "rep0000@example.org");
        }
        assert_true(steps < 100000);
    }
    stats_now(r, now, &st);
    assert_true(st.subjects > before.subjects + added / 2);
    /* The old throttlings were all there from start to end: all gone. */
    assert_int_equal(st.items_by_kind[XS_EVK_RATE_LIMITED],
        before.items_by_kind[XS_EVK_RATE_LIMITED] - 400);
    for (int i = 0; i < 4; i++) {
        snprintf(name, sizeof(name), "gone%d.example", i);
        dsum_check(r, name, now, NAN);
    }
    for (size_t i = 0; i < 50; i++) {
        snprintf(name, sizeof(name), "new%zu.example", i);
        dsum_check(r, name, now, NAN);
    }
    /* Nothing more to prune at the same time. */
    assert_int_equal(xs_rep_prune(r, now), 0);
    xs_rep_free(r);
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
        cmocka_unit_test(test_trust_flag_items),
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
        cmocka_unit_test(test_domain_sum),
        cmocka_unit_test(test_domain_sum_random),
        cmocka_unit_test(test_domain_sum_siblings),
        cmocka_unit_test(test_prune_sliced),
        cmocka_unit_test(test_prune_sliced_changes),
        cmocka_unit_test(test_census),
        cmocka_unit_test(test_census_growth),
        cmocka_unit_test(test_list_walk),
        cmocka_unit_test(test_list_walk_changes),
        cmocka_unit_test(test_policy_conf),
        cmocka_unit_test(test_policy_conf_bad),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
