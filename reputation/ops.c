/*
 * ops.c: the operator's side of the reputation engine: the verbs of the
 * admin API and xmppctl (their specs are rows of xmppd/admin/commands.c)
 * and the module's lines of /metrics.
 *
 *   reputation JID                 score, level, flags
 *   reputation_explain JID         ... and the items behind the score
 *   reputation_set JID SCORE [--reason R] [--expires T]   pin a score
 *   reputation_clear JID           remove the pin
 *   reputation_list [--below N] [--max M]   local accounts, lowest first
 *
 * Reads come from the engine's memory.  A pin is written to PostgreSQL
 * first and set in memory only once committed, so the score an operator
 * sees never claims a pin that a restart would lose; clear goes the same
 * way.  Every verb logs one info line (the admin layer adds its own
 * status line); a pin's reason is the operator's text and is not logged.
 */
#include "reputation/mod_reputation.h"

#include "db/reputation.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/core/server.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define OPS_SET_BY          "admin api"
#define OPS_REASON_DEFAULT  "set by operator"
#define OPS_BELOW_DEFAULT   10      /* below "normal": look here first */
#define OPS_MAX_DEFAULT     100
#define OPS_MAX_MAX         10000
/* The farthest expiry accepted (a century): keeps the arithmetic far from
 * int64 overflow; "never" is no --expires at all. */
#define OPS_EXPIRES_MAX_S   (100LL * 366 * 86400)

/* ---- arguments ---- */

/* The engine, or the call answered 503 and NULL: the start-up load has
 * not completed (scores would be wrong, not just incomplete). */
static struct xs_rep *
ops_engine(struct xs_admin_call *call, void *state)
{
    struct xs_mod_rep *m = state;

    if (m == NULL || m->rep == NULL || !m->is_loaded) {
        xs_admin_call_fail(call, 503, "Reputation state is still loading");
        return NULL;
    }
    return m->rep;
}

/*
 * The subject of the call's "jid" argument, prepared, as a bare JID or a
 * domain (*out, caller frees).  is_local: a JID with a local part on one
 * of our hosts.  With need_account, such a JID must be an account (404
 * otherwise).  On failure the call is answered and XS_EINVAL returned.
 */
static xs_rc
ops_subject(struct xs_admin_call *call, struct xs_rep *r, bool need_account,
    char **out, bool *is_local)
{
    const char *arg = xs_admin_call_arg(call, "jid");
    struct xs_jid *j = NULL;

    *out = NULL;
    *is_local = false;
    if (arg == NULL || xs_jid_new(arg, &j) != XS_OK) {
        xs_admin_call_fail(call, 400, "Bad argument jid: not a valid JID");
        return XS_EINVAL;
    }
    *is_local = j->local != NULL &&
        xs_conf_is_local_host(xs_server()->conf, j->domain);
    if (*is_local && need_account && !xs_rep_account_exists(r, j->bare)) {
        xs_admin_call_fail(call, 404, "No such account");
        xs_jid_free(j);
        return XS_EINVAL;
    }
    *out = xs_strdup(j->bare);
    xs_jid_free(j);
    return XS_OK;
}

/* A decimal integer in [min, max], the whole string. */
static bool
ops_int_parse(const char *s, long long min, long long max, long long *out)
{
    char *end;
    long long v;

    /* strtoll would skip blanks and take a '+': the text must be the
     * number. */
    if (s == NULL || (s[0] != '-' && (s[0] < '0' || s[0] > '9')))
        return false;
    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || *end != '\0' || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* n decimal digits at *p into *out; advances *p. */
static bool
ops_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool
ops_expect(const char **p, const char *set)
{
    if (**p == '\0' || strchr(set, **p) == NULL)
        return false;
    (*p)++;
    return true;
}

/* RFC 3339 date-time ("2026-12-31T00:00:00Z", fractions and numeric
 * offsets accepted) as wall seconds. */
static bool
ops_rfc3339_parse(const char *s, int64_t *out)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31,
        30, 31 };
    const char *p = s;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    struct tm tm;
    time_t t;

    if (!ops_digits(&p, 4, &y) || !ops_expect(&p, "-") ||
        !ops_digits(&p, 2, &mo) || !ops_expect(&p, "-") ||
        !ops_digits(&p, 2, &d) || !ops_expect(&p, "Tt ") ||
        !ops_digits(&p, 2, &h) || !ops_expect(&p, ":") ||
        !ops_digits(&p, 2, &mi) || !ops_expect(&p, ":") ||
        !ops_digits(&p, 2, &sec))
        return false;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;                /* seconds are enough for an expiry */
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else {
        sign = *p == '+' ? 1 : *p == '-' ? -1 : 0;
        if (sign == 0)
            return false;
        p++;
        if (!ops_digits(&p, 2, &oh) || !ops_expect(&p, ":") ||
            !ops_digits(&p, 2, &om) || oh > 23 || om > 59)
            return false;
    }
    if (*p != '\0' || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
        h > 23 || mi > 59 || sec > 60)
        return false;
    if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
        return false;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec > 59 ? 59 : sec;    /* a leap second: close enough */
    t = timegm(&tm);
    if (t == (time_t)-1)
        return false;
    *out = (int64_t)t - sign * ((int64_t)oh * 3600 + (int64_t)om * 60);
    return true;
}

/*
 * --expires: a duration from now ("30d", "12h", "45m", "3600s", or plain
 * seconds) or an RFC 3339 time.  Must be in the future and at most a
 * century away.
 */
static bool
ops_expires_parse(const char *s, int64_t now, int64_t *out)
{
    size_t n = strlen(s);
    int64_t unit = 1, at;
    long long v;
    char num[24];

    if (n > 1 && n < sizeof(num) && strchr("smhd", s[n - 1]) != NULL) {
        switch (s[n - 1]) {
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default:  unit = 1; break;
        }
        memcpy(num, s, n - 1);
        num[n - 1] = '\0';
        if (!ops_int_parse(num, 1, OPS_EXPIRES_MAX_S / unit, &v))
            return false;
        at = now + (int64_t)v * unit;
    } else if (ops_int_parse(s, 1, OPS_EXPIRES_MAX_S, &v)) {
        at = now + (int64_t)v;
    } else if (!ops_rfc3339_parse(s, &at)) {
        return false;
    }
    if (at <= now || at - now > OPS_EXPIRES_MAX_S)
        return false;
    *out = at;
    return true;
}

/* ---- results ---- */

/* Points to two decimals: what an operator reads, not float noise. */
static json_t *
ops_points(double v)
{
    return json_real(round(v * 100.0) / 100.0);
}

/* A JSON string of s: NULL reads as "", and a text cut inside a UTF-8
 * sequence (notes are cut at XS_REP_NOTE_MAX bytes) loses the partial
 * character rather than the whole member. */
static json_t *
ops_str(const char *s)
{
    size_t n;
    json_t *v;

    if (s == NULL)
        return json_string("");
    n = strlen(s);
    for (size_t cut = 0; cut < 4 && cut <= n; cut++) {
        if ((v = json_stringn(s, n - cut)) != NULL)
            return v;
    }
    return json_string("");
}

/* "3d 4h", "4h 12m", "12m 5s", "5s": the two largest units of an age. */
static void
ops_age(int64_t s, char *buf, size_t len)
{
    int n;

    if (s < 0)
        s = 0;
    if (s >= 86400)
        n = snprintf(buf, len, "%" PRId64 "d %" PRId64 "h", s / 86400,
            s % 86400 / 3600);
    else if (s >= 3600)
        n = snprintf(buf, len, "%" PRId64 "h %" PRId64 "m", s / 3600,
            s % 3600 / 60);
    else if (s >= 60)
        n = snprintf(buf, len, "%" PRId64 "m %" PRId64 "s", s / 60, s % 60);
    else
        n = snprintf(buf, len, "%" PRId64 "s", s);
    xs_assert(n > 0 && (size_t)n < len);
}

static const char *
ops_level(enum xs_rep_level l)
{
    const char *name = xs_rep_level_name(l);

    return name != NULL ? name : "unknown";
}

static json_t *
ops_score_json(const char *subject, const struct xs_rep_score *s)
{
    json_t *o = json_object();

    json_object_set_new(o, "jid", json_string(subject));
    json_object_set_new(o, "score", json_integer(s->score));
    json_object_set_new(o, "level", json_string(ops_level(s->level)));
    json_object_set_new(o, "pinned", json_boolean(s->is_pinned));
    json_object_set_new(o, "probation", json_boolean(s->in_probation));
    return o;
}

/* ---- reputation JID ---- */

static void
ops_reputation(struct xs_admin_call *call, void *state)
{
    struct xs_rep *r = ops_engine(call, state);
    struct xs_rep_score s;
    char *subject;
    bool is_local;
    json_t *o;

    if (r == NULL || ops_subject(call, r, true, &subject, &is_local) != XS_OK)
        return;
    s = xs_rep_score(r, subject, xs_wall_s());
    o = ops_score_json(subject, &s);
    json_object_set_new(o, "local", json_boolean(is_local));
    xs_log(XS_LOG_INFO, "reputation: operator query jid=%s score=%d "
        "level=%s", subject, s.score, ops_level(s.level));
    xs_free(subject);
    xs_admin_call_ok(call, o);
}

/* ---- reputation_explain JID ---- */

static json_t *
ops_line_json(const struct xs_rep_line *l, int64_t now)
{
    json_t *o = json_object();
    char age[48] = "";

    /* Features (age, contacts, ...) have no time: they are the account's
     * state now. */
    if (l->at != 0)
        ops_age(now - l->at, age, sizeof(age));
    json_object_set_new(o, "what", ops_str(l->what));
    json_object_set_new(o, "source_kind", ops_str(l->source_kind));
    json_object_set_new(o, "source", ops_str(l->source));
    json_object_set_new(o, "weight", ops_points(l->weight));
    json_object_set_new(o, "points", ops_points(l->points));
    json_object_set_new(o, "age", json_string(age));
    json_object_set_new(o, "note", ops_str(l->note));
    return o;
}

static void
ops_explain(struct xs_admin_call *call, void *state)
{
    struct xs_rep *r = ops_engine(call, state);
    struct xs_rep_explanation e;
    int64_t now = xs_wall_s();
    char *subject;
    bool is_local;
    json_t *o, *items;

    if (r == NULL || ops_subject(call, r, true, &subject, &is_local) != XS_OK)
        return;
    xs_rep_explain(r, subject, now, &e);
    o = ops_score_json(subject, &e.s);
    json_object_set_new(o, "local", json_boolean(is_local));
    json_object_set_new(o, "raw", ops_points(e.raw));
    items = json_array();
    for (size_t i = 0; i < e.nlines; i++)
        json_array_append_new(items, ops_line_json(&e.lines[i], now));
    json_object_set_new(o, "items", items);
    xs_log(XS_LOG_INFO, "reputation: operator explain jid=%s score=%d "
        "level=%s items=%zu", subject, e.s.score, ops_level(e.s.level),
        e.nlines);
    xs_rep_explanation_fini(&e);
    xs_free(subject);
    xs_admin_call_ok(call, o);
}

/* ---- reputation_set JID SCORE [--reason R] [--expires T] ---- */

/* A pin on its way to PostgreSQL; memory follows the commit, whether or
 * not the operator still waits. */
struct ops_pin_op {
    void    *call;          /* borrowed: the call's udata (an id) */
    char    *subject;       /* owned */
    char    *reason;        /* owned */
    int      score;
    int64_t  expires;       /* 0: never */
    int64_t  set_at;
};

static void
ops_pin_op_free(struct ops_pin_op *op)
{
    xs_free(op->subject);
    xs_free(op->reason);
    xs_free(op);
}

static void
ops_on_pin_set(xs_rc rc, void *udata)
{
    struct ops_pin_op *op = udata;
    struct xs_admin_call *call = xs_admin_call_by_udata(op->call);
    /* Asked again: the module may have stopped while the write ran. */
    struct xs_rep *r = xs_reputation();
    struct xs_rep_pin pin = {
        .score = op->score, .reason = op->reason, .expires = op->expires,
        .set_by = OPS_SET_BY, .set_at = op->set_at,
    };
    xs_rc mrc = XS_OK;

    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "reputation: pin not stored jid=%s: %s",
            op->subject, xs_rc_str(rc));
        if (call != NULL)
            xs_admin_call_fail_db(call, rc);
        ops_pin_op_free(op);
        return;
    }
    if (r != NULL)
        mrc = xs_rep_pin_set(r, op->subject, &pin, xs_wall_s());
    if (mrc != XS_OK) {
        /* Only an expiry that passed while the write ran; the stored row
         * is dropped by the next start-up load. */
        xs_log(XS_LOG_INFO, "reputation: pin expired before it was set "
            "jid=%s", op->subject);
        if (call != NULL)
            xs_admin_call_fail(call, 400, "Bad argument expires: already "
                "passed");
        ops_pin_op_free(op);
        return;
    }
    xs_log(XS_LOG_INFO, "reputation: operator pin jid=%s score=%d "
        "expires=%" PRId64 " by=\"%s\"", op->subject, op->score, op->expires,
        OPS_SET_BY);
    if (call != NULL)
        xs_admin_call_ok(call, json_integer(0));
    ops_pin_op_free(op);
}

static void
ops_set(struct xs_admin_call *call, void *state)
{
    struct xs_rep *r = ops_engine(call, state);
    const char *score_arg = xs_admin_call_arg(call, "score");
    const char *reason = xs_admin_call_arg(call, "reason");
    const char *expires_arg = xs_admin_call_arg(call, "expires");
    struct ops_pin_op *op;
    int64_t now = xs_wall_s(), expires = 0;
    long long score;
    char *subject;
    bool is_local;
    xs_rc rc;

    if (r == NULL || ops_subject(call, r, true, &subject, &is_local) != XS_OK)
        return;
    if (!ops_int_parse(score_arg, -100, 100, &score)) {
        xs_admin_call_fail(call, 400, "Bad argument score: an integer "
            "from -100 to 100");
        goto fail;
    }
    if (reason == NULL || reason[0] == '\0')
        reason = OPS_REASON_DEFAULT;
    if (strlen(reason) > XS_REP_REASON_MAX) {
        xs_admin_call_fail(call, 400, "Bad argument reason: longer than %d "
            "bytes", XS_REP_REASON_MAX);
        goto fail;
    }
    if (expires_arg != NULL && !ops_expires_parse(expires_arg, now,
        &expires)) {
        xs_admin_call_fail(call, 400, "Bad argument expires: a duration "
            "(30d, 12h, 45m, 3600s) or an RFC 3339 time in the future");
        goto fail;
    }
    op = xs_calloc(1, sizeof(*op));
    op->call = xs_admin_call_udata(call);
    op->subject = subject;
    op->reason = xs_strdup(reason);
    op->score = (int)score;
    op->expires = expires;
    op->set_at = now;
    rc = xs_rep_db_pin_set(xs_server()->db, op->subject, op->score,
        op->reason, op->expires, OPS_SET_BY, op->set_at, ops_on_pin_set, op);
    if (rc != XS_OK) {
        xs_log(XS_LOG_INFO, "reputation: operator pin refused jid=%s: %s",
            op->subject, xs_rc_str(rc));
        ops_pin_op_free(op);
        xs_admin_call_fail_db(call, rc);
    }
    return;

fail:
    xs_log(XS_LOG_INFO, "reputation: operator pin refused jid=%s: bad "
        "arguments", subject);
    xs_free(subject);
}

/* ---- reputation_clear JID ---- */

struct ops_clear_op {
    void *call;             /* borrowed: the call's udata (an id) */
    char *subject;          /* owned */
};

static void
ops_on_pin_clear(xs_rc rc, void *udata)
{
    struct ops_clear_op *op = udata;
    struct xs_admin_call *call = xs_admin_call_by_udata(op->call);
    struct xs_rep *r = xs_reputation();
    bool had = false;

    if (rc != XS_OK && rc != XS_ENOTFOUND) {
        xs_log(XS_LOG_WARN, "reputation: pin not cleared jid=%s: %s",
            op->subject, xs_rc_str(rc));
        if (call != NULL)
            xs_admin_call_fail_db(call, rc);
        goto done;
    }
    /* Memory too, even when the row was already gone (an expired pin the
     * engine still held): after a clear there is no pin. */
    if (r != NULL)
        had = xs_rep_pin_clear(r, op->subject) == XS_OK;
    if (rc == XS_ENOTFOUND && !had) {
        xs_log(XS_LOG_INFO, "reputation: operator unpin jid=%s: no pin",
            op->subject);
        if (call != NULL)
            xs_admin_call_fail(call, 404, "No pin on this JID");
        goto done;
    }
    xs_log(XS_LOG_INFO, "reputation: operator unpin jid=%s", op->subject);
    if (call != NULL)
        xs_admin_call_ok(call, json_integer(0));

done:
    xs_free(op->subject);
    xs_free(op);
}

static void
ops_clear(struct xs_admin_call *call, void *state)
{
    struct xs_rep *r = ops_engine(call, state);
    struct ops_clear_op *op;
    char *subject;
    bool is_local;
    xs_rc rc;

    /* No account needed: a pin left on a deleted account can go too. */
    if (r == NULL || ops_subject(call, r, false, &subject, &is_local)
        != XS_OK)
        return;
    op = xs_calloc(1, sizeof(*op));
    op->call = xs_admin_call_udata(call);
    op->subject = subject;
    rc = xs_rep_db_pin_clear(xs_server()->db, op->subject, ops_on_pin_clear,
        op);
    if (rc != XS_OK) {
        xs_log(XS_LOG_INFO, "reputation: operator unpin refused jid=%s: %s",
            op->subject, xs_rc_str(rc));
        xs_free(op->subject);
        xs_free(op);
        xs_admin_call_fail_db(call, rc);
    }
}

/* ---- reputation_list [--below N] [--max M] ---- */

static void
ops_list(struct xs_admin_call *call, void *state)
{
    struct xs_rep *r = ops_engine(call, state);
    const char *below_arg = xs_admin_call_arg(call, "below");
    const char *max_arg = xs_admin_call_arg(call, "max");
    long long below = OPS_BELOW_DEFAULT, max = OPS_MAX_DEFAULT;
    struct xs_rep_listed *v = NULL;
    size_t n = 0;
    json_t *rows;

    if (r == NULL)
        return;
    /* Scores are in [-100, 100]: below 101 lists every account. */
    if (below_arg != NULL && !ops_int_parse(below_arg, -100, 101, &below)) {
        xs_admin_call_fail(call, 400, "Bad argument below: an integer "
            "from -100 to 101");
        return;
    }
    if (max_arg != NULL && !ops_int_parse(max_arg, 1, OPS_MAX_MAX, &max)) {
        xs_admin_call_fail(call, 400, "Bad argument max: an integer from 1 "
            "to %d", OPS_MAX_MAX);
        return;
    }
    xs_rep_list_below(r, (int)below, (size_t)max, xs_wall_s(), &v, &n);
    rows = json_array();
    for (size_t i = 0; i < n; i++) {
        json_array_append_new(rows, ops_score_json(v[i].bare, &v[i].s));
        xs_free(v[i].bare);
    }
    xs_free(v);
    xs_log(XS_LOG_INFO, "reputation: operator list below=%lld max=%lld "
        "found=%zu", below, max, n);
    xs_admin_call_ok(call, rows);
}

const struct xs_admin_cmd xs_rep_ops_commands[] = {
    { "reputation", ops_reputation },
    { "reputation_explain", ops_explain },
    { "reputation_set", ops_set },
    { "reputation_clear", ops_clear },
    { "reputation_list", ops_list },
    { NULL, NULL }
};

/* ---- /metrics ---- */

void
xs_rep_ops_metrics(struct evbuffer *out, void *mod_state)
{
    struct xs_mod_rep *m = mod_state;
    struct xs_rep_stats st;
    struct xs_rep_db_stats db;

    if (m != NULL && m->rep != NULL && m->is_loaded) {
        xs_rep_stats(m->rep, xs_wall_s(), &st);
        xs_metrics_family(out, "xmppd_reputation_accounts", "gauge",
            "Local accounts by reputation level.");
        for (size_t l = 0; l < XS_REP_LEVEL__COUNT; l++)
            evbuffer_add_printf(out, "xmppd_reputation_accounts{level=\"%s\"}"
                " %" PRIu64 "\n", ops_level((enum xs_rep_level)l),
                st.accounts_by_level[l]);
        xs_metrics_family(out, "xmppd_reputation_evidence_items", "gauge",
            "Evidence items held in memory, by kind.");
        for (size_t k = 0; k < XS_EVK__COUNT; k++)
            evbuffer_add_printf(out, "xmppd_reputation_evidence_items"
                "{kind=\"%s\"} %" PRIu64 "\n", xs_evk_name((enum xs_evk)k),
                st.items_by_kind[k]);
        xs_metrics_family(out, "xmppd_reputation_subjects", "gauge",
            "Subjects (accounts, remote JIDs, domains) held in memory.");
        evbuffer_add_printf(out, "xmppd_reputation_subjects %" PRIu64 "\n",
            st.subjects);
        xs_metrics_family(out, "xmppd_reputation_pins", "gauge",
            "Operator pins in force.");
        evbuffer_add_printf(out, "xmppd_reputation_pins %" PRIu64 "\n",
            st.pins);
        xs_metrics_family(out, "xmppd_reputation_score_computations_total",
            "counter", "Scores computed since start (cache misses).");
        evbuffer_add_printf(out, "xmppd_reputation_score_computations_total "
            "%" PRIu64 "\n", st.computations);
        xs_metrics_family(out, "xmppd_reputation_evidence_submitted_total",
            "counter", "Live evidence submitted, by outcome.");
        for (size_t a = 0; a <= XS_REP_INVALID; a++)
            evbuffer_add_printf(out, "xmppd_reputation_evidence_submitted_"
                "total{outcome=\"%s\"} %" PRIu64 "\n",
                xs_rep_admit_name((enum xs_rep_admit)a), st.admitted[a]);
    }
    if (xs_server() == NULL || xs_server()->db == NULL)
        return;
    xs_rep_db_stats(xs_server()->db, &db);
    xs_metrics_family(out, "xmppd_reputation_store_appended_total", "counter",
        "Evidence items committed to PostgreSQL.");
    evbuffer_add_printf(out, "xmppd_reputation_store_appended_total %" PRIu64
        "\n", db.appended);
    xs_metrics_family(out, "xmppd_reputation_store_batches_total", "counter",
        "Evidence INSERT batches committed.");
    evbuffer_add_printf(out, "xmppd_reputation_store_batches_total %" PRIu64
        "\n", db.batches);
    xs_metrics_family(out, "xmppd_reputation_store_dropped_total", "counter",
        "Evidence items dropped: the write queue was full.");
    evbuffer_add_printf(out, "xmppd_reputation_store_dropped_total %" PRIu64
        "\n", db.dropped);
    xs_metrics_family(out, "xmppd_reputation_store_retries_total", "counter",
        "Evidence batches that failed and were retried.");
    evbuffer_add_printf(out, "xmppd_reputation_store_retries_total %" PRIu64
        "\n", db.retries);
    xs_metrics_family(out, "xmppd_reputation_store_queued", "gauge",
        "Evidence items waiting to be written.");
    evbuffer_add_printf(out, "xmppd_reputation_store_queued %zu\n",
        db.queued);
}
