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
 * Reads come from the engine's memory; reputation_list and the census
 * behind /metrics walk it in slices from a timer (xs_rep_ops_start), so
 * neither stalls the loop on a large server.  A pin is written to
 * PostgreSQL first and set in memory only once committed, so the score an
 * operator sees never claims a pin that a restart would lose; clear goes
 * the same way.  Every verb logs one info line (the admin layer adds its own
 * status line); a pin's reason is the operator's text and is not logged.
 */
#include "reputation/mod_reputation.h"

#include "db/reputation.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/core/server.h"

#include <errno.h>
#include <event2/event.h>
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

/* ---- reputation JID, reputation_explain JID ---- */

/* The score of the call's JID; with is_explain, the items behind it too
 * (explained, not read from the score cache). */
static void
ops_score_verb(struct xs_admin_call *call, void *state, bool is_explain)
{
    struct xs_rep *r = ops_engine(call, state);
    struct xs_rep_explanation e;
    struct xs_rep_score s;
    int64_t now = xs_wall_s();
    char *subject;
    bool is_local;
    json_t *o, *items;

    if (r == NULL || ops_subject(call, r, true, &subject, &is_local) != XS_OK)
        return;
    if (is_explain) {
        xs_rep_explain(r, subject, now, &e);
        s = e.s;
    } else {
        s = xs_rep_score(r, subject, now);
    }
    o = ops_score_json(subject, &s);
    json_object_set_new(o, "local", json_boolean(is_local));
    if (!is_explain) {
        xs_log(XS_LOG_INFO, "reputation: operator query jid=%s score=%d "
            "level=%s", subject, s.score, ops_level(s.level));
    } else {
        json_object_set_new(o, "raw", xs_rep_json_points(e.raw));
        items = json_array();
        for (size_t i = 0; i < e.nlines; i++)
            json_array_append_new(items, xs_rep_line_json(&e.lines[i], now,
                XS_REP_LINE_OPERATOR));
        json_object_set_new(o, "items", items);
        xs_log(XS_LOG_INFO, "reputation: operator explain jid=%s score=%d "
            "level=%s items=%zu", subject, s.score, ops_level(s.level),
            e.nlines);
        xs_rep_explanation_fini(&e);
    }
    xs_free(subject);
    xs_admin_call_ok(call, o);
}

static void
ops_reputation(struct xs_admin_call *call, void *state)
{
    ops_score_verb(call, state, false);
}

static void
ops_explain(struct xs_admin_call *call, void *state)
{
    ops_score_verb(call, state, true);
}

/* ---- reputation_set JID SCORE [--reason R] [--expires T],
 *      reputation_clear JID ---- */

/* A pin, or its removal, on its way to PostgreSQL; memory follows the
 * commit, whether or not the operator still waits. */
struct ops_pin_op {
    void    *call;          /* borrowed: the call's udata (an id) */
    char    *subject;       /* owned */
    char    *reason;        /* owned; NULL for a removal */
    bool     is_clear;      /* a removal (reputation_clear) */
    int      score;
    int64_t  expires;       /* 0: never */
    int64_t  set_at;
};

/* An op for call about subject (taken: the op owns it). */
static struct ops_pin_op *
ops_pin_op_new(struct xs_admin_call *call, char *subject)
{
    struct ops_pin_op *op = xs_calloc(1, sizeof(*op));

    op->call = xs_admin_call_udata(call);
    op->subject = subject;
    return op;
}

static void
ops_pin_op_free(struct ops_pin_op *op)
{
    xs_free(op->subject);
    xs_free(op->reason);
    xs_free(op);
}

/* The write could not be queued (verb: "pin", "unpin"): logged, the call
 * answered, op freed. */
static void
ops_pin_op_refused(struct ops_pin_op *op, struct xs_admin_call *call,
    const char *verb, xs_rc rc)
{
    xs_log(XS_LOG_INFO, "reputation: operator %s refused jid=%s: %s", verb,
        op->subject, xs_rc_str(rc));
    ops_pin_op_free(op);
    xs_admin_call_fail_db(call, rc);
}

/* The write failed (done: "stored", "cleared"): logged, and the call
 * answered if the operator still waits. */
static void
ops_pin_op_failed(struct ops_pin_op *op, struct xs_admin_call *call,
    const char *done, xs_rc rc)
{
    xs_log(XS_LOG_WARN, "reputation: pin not %s jid=%s: %s", done,
        op->subject, xs_rc_str(rc));
    if (call != NULL)
        xs_admin_call_fail_db(call, rc);
}

/* The pin is stored (or not): memory follows, then the answer. */
static void
ops_pin_set_done(struct ops_pin_op *op, struct xs_admin_call *call,
    struct xs_rep *r, xs_rc rc)
{
    struct xs_rep_pin pin = {
        .score = op->score, .reason = op->reason, .expires = op->expires,
        .set_by = OPS_SET_BY, .set_at = op->set_at,
    };

    if (rc != XS_OK) {
        ops_pin_op_failed(op, call, "stored", rc);
        return;
    }
    if (r != NULL && xs_rep_pin_set(r, op->subject, &pin, xs_wall_s())
        != XS_OK) {
        /* Only an expiry that passed while the write ran; the stored row
         * is dropped by the next start-up load. */
        xs_log(XS_LOG_INFO, "reputation: pin expired before it was set "
            "jid=%s", op->subject);
        if (call != NULL)
            xs_admin_call_fail(call, 400, "Bad argument expires: already "
                "passed");
        return;
    }
    xs_log(XS_LOG_INFO, "reputation: operator pin jid=%s score=%d "
        "expires=%" PRId64 " by=\"%s\"", op->subject, op->score, op->expires,
        OPS_SET_BY);
    if (call != NULL)
        xs_admin_call_ok(call, json_integer(0));
}

/* The pin's row is deleted (or was gone): memory too, then the answer. */
static void
ops_pin_clear_done(struct ops_pin_op *op, struct xs_admin_call *call,
    struct xs_rep *r, xs_rc rc)
{
    bool had;

    if (rc != XS_OK && rc != XS_ENOTFOUND) {
        ops_pin_op_failed(op, call, "cleared", rc);
        return;
    }
    /* Memory too, even when the row was already gone (an expired pin the
     * engine still held): after a clear there is no pin. */
    had = r != NULL && xs_rep_pin_clear(r, op->subject) == XS_OK;
    if (rc == XS_ENOTFOUND && !had) {
        xs_log(XS_LOG_INFO, "reputation: operator unpin jid=%s: no pin",
            op->subject);
        if (call != NULL)
            xs_admin_call_fail(call, 404, "No pin on this JID");
        return;
    }
    xs_log(XS_LOG_INFO, "reputation: operator unpin jid=%s", op->subject);
    if (call != NULL)
        xs_admin_call_ok(call, json_integer(0));
}

/* A pin's write, or its removal's, is over. */
static void
ops_on_pin_written(xs_rc rc, void *udata)
{
    struct ops_pin_op *op = udata;
    struct xs_admin_call *call = xs_admin_call_by_udata(op->call);
    /* Asked again: the module may have stopped while the write ran. */
    struct xs_rep *r = xs_reputation();

    if (op->is_clear)
        ops_pin_clear_done(op, call, r, rc);
    else
        ops_pin_set_done(op, call, r, rc);
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
    op = ops_pin_op_new(call, subject);
    op->reason = xs_strdup(reason);
    op->score = (int)score;
    op->expires = expires;
    op->set_at = now;
    rc = xs_rep_db_pin_set(xs_server()->db, op->subject, op->score,
        op->reason, op->expires, OPS_SET_BY, op->set_at, ops_on_pin_written,
        op);
    if (rc != XS_OK)
        ops_pin_op_refused(op, call, "pin", rc);
    return;

fail:
    xs_log(XS_LOG_INFO, "reputation: operator pin refused jid=%s: bad "
        "arguments", subject);
    xs_free(subject);
}

static void
ops_clear(struct xs_admin_call *call, void *state)
{
    struct xs_rep *r = ops_engine(call, state);
    struct ops_pin_op *op;
    char *subject;
    bool is_local;
    xs_rc rc;

    /* No account needed: a pin left on a deleted account can go too. */
    if (r == NULL || ops_subject(call, r, false, &subject, &is_local)
        != XS_OK)
        return;
    op = ops_pin_op_new(call, subject);
    op->is_clear = true;
    rc = xs_rep_db_pin_clear(xs_server()->db, op->subject,
        ops_on_pin_written, op);
    if (rc != XS_OK)
        ops_pin_op_refused(op, call, "unpin", rc);
}

/* ---- walks in slices: reputation_list and the census ---- */

/*
 * A walk over every account in one callback stalls the loop at scale
 * (about 80 ms at 1,000,000 accounts), so lists and the census of
 * /metrics walk in slices from one timer, a slice per expiry: the lists
 * waiting take turns, a slice each, then the census gets one.  The loop
 * serves everything else between two slices.
 */
#define OPS_SLICE_BUDGET    4000    /* units a slice spends (engine.h):
                                       about 0.4 ms, 0.7 at most, at
                                       1,000,000 accounts (the bench
                                       tests/bench/rep/score) */
#define OPS_ROWS_PER_SLICE  250     /* JSON rows a slice builds: 0.15 ms */
#define OPS_LISTS_MAX       8       /* lists walking at once; more: 503 */
/* A census this cheap runs whole at each /metrics read (exact counts on
 * small servers); a larger one comes from the timer, at most a census
 * period (plus the walk) old. */
#define OPS_CENSUS_SYNC_MAX 1000
#define OPS_CENSUS_PERIOD_MS 10000  /* from one census's end to the next */
#define OPS_CENSUS_GAP_MS   5       /* between two of its slices: the
                                       census takes a tenth of the loop at
                                       most */
#define OPS_LOAD_POLL_MS    100     /* no census before the load is done */

/* A reputation_list call while its walk runs. */
struct ops_list_job {
    struct ops_list_job *next;      /* the next in the queue (ops.head) */
    void     *call;                 /* borrowed: the call's udata (an id) */
    struct xs_rep_list_walk *walk;  /* owned; NULL once walked */
    struct xs_rep_listed *v;        /* owned, with each .bare: the rows */
    size_t    n;
    size_t    done;                 /* rows already in `rows` */
    json_t   *rows;                 /* owned: the answer being built */
    long long below;
    long long max;
    uint64_t  started_ms;
    size_t    slices;
};

static struct {
    struct xs_mod_rep   *m;         /* borrowed: the module's state */
    struct event        *timer;     /* owned: runs the slices; NULL:
                                       not started */
    struct ops_list_job *head;      /* owned: the lists, in turn */
    struct ops_list_job *tail;      /* borrowed: the last of them */
    size_t               njobs;
    uint64_t             census_due_ms; /* monotonic: the next census */
    uint64_t             census_started_ms;
    size_t               census_slices;
} ops;

static void
ops_list_job_free(struct ops_list_job *j)
{
    xs_rep_list_walk_free(j->walk);
    for (size_t i = 0; i < j->n; i++)
        xs_free(j->v[i].bare);
    xs_free(j->v);
    json_decref(j->rows);
    xs_free(j);
}

/* A slice of j's work: true once its rows are all built. */
static bool
ops_list_job_step(struct ops_list_job *j)
{
    j->slices++;
    if (j->walk != NULL) {
        if (!xs_rep_list_walk_step(j->walk, xs_wall_s(), OPS_SLICE_BUDGET))
            return false;
        xs_rep_list_walk_result(j->walk, &j->v, &j->n);
        xs_rep_list_walk_free(j->walk);
        j->walk = NULL;
    }
    for (size_t k = 0; k < OPS_ROWS_PER_SLICE && j->done < j->n; k++) {
        const struct xs_rep_listed *l = &j->v[j->done++];

        json_array_append_new(j->rows, ops_score_json(l->bare, &l->s));
    }
    return j->done == j->n;
}

/* Answers j's call (if it still waits) and frees j. */
static void
ops_list_job_finish(struct ops_list_job *j, struct xs_admin_call *call)
{
    xs_log(XS_LOG_INFO, "reputation: operator list below=%lld max=%lld "
        "found=%zu slices=%zu ms=%" PRIu64, j->below, j->max, j->n,
        j->slices, xs_now_ms() - j->started_ms);
    if (call != NULL) {
        xs_admin_call_ok(call, j->rows);
        j->rows = NULL;
    }
    ops_list_job_free(j);
}

/* A slice of j's work for call: true when j is queued for another turn
 * (at the tail: the lists take turns), false once answered and freed. */
static bool
ops_list_job_run(struct ops_list_job *j, struct xs_admin_call *call)
{
    if (ops_list_job_step(j)) {
        ops_list_job_finish(j, call);
        return false;
    }
    if (ops.tail != NULL)
        ops.tail->next = j;
    else
        ops.head = j;
    ops.tail = j;
    ops.njobs++;
    return true;
}

/* Arms the timer for what comes next: a list's slice at once, a census
 * slice after a gap, or the next census when it is due. */
static void
ops_schedule(void)
{
    struct xs_rep *r = ops.m != NULL ? ops.m->rep : NULL;
    uint64_t now = xs_now_ms(), delay = 0;
    struct timeval tv;

    if (ops.timer == NULL || r == NULL)
        return;
    if (ops.head == NULL) {
        if (xs_rep_census_running(r))
            delay = OPS_CENSUS_GAP_MS;
        else if (ops.census_due_ms > now)
            delay = ops.census_due_ms - now;
    }
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)(delay % 1000 * 1000);
    event_add(ops.timer, &tv);
}

static void
ops_list_slice(void)
{
    struct ops_list_job *j = ops.head;
    struct xs_admin_call *call = xs_admin_call_by_udata(j->call);

    ops.head = j->next;
    if (ops.head == NULL)
        ops.tail = NULL;
    j->next = NULL;
    ops.njobs--;
    if (call == NULL) {
        /* The operator stopped waiting: so does the walk. */
        xs_log(XS_LOG_INFO, "reputation: operator list below=%lld "
            "max=%lld abandoned after slices=%zu", j->below, j->max,
            j->slices);
        ops_list_job_free(j);
        return;
    }
    (void)ops_list_job_run(j, call);
}

static void
ops_census_slice(struct xs_rep *r)
{
    uint64_t now = xs_now_ms();

    if (!ops.m->is_loaded) {
        /* Scores would be wrong, not just incomplete. */
        ops.census_due_ms = now + OPS_LOAD_POLL_MS;
        return;
    }
    if (!xs_rep_census_running(r)) {
        if (now < ops.census_due_ms)
            return;
        ops.census_started_ms = now;
        ops.census_slices = 0;
    }
    (void)xs_rep_census_step(r, xs_wall_s(), OPS_SLICE_BUDGET);
    ops.census_slices++;
    if (xs_rep_census_running(r))
        return;
    now = xs_now_ms();
    ops.census_due_ms = now + OPS_CENSUS_PERIOD_MS;
    xs_log(XS_LOG_DEBUG, "reputation: census done slices=%zu ms=%" PRIu64,
        ops.census_slices, now - ops.census_started_ms);
}

static void
ops_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what, (void)arg;
    if (ops.m == NULL || ops.m->rep == NULL)
        return;
    if (ops.head != NULL)
        ops_list_slice();
    else
        ops_census_slice(ops.m->rep);
    ops_schedule();
}

void
xs_rep_ops_stop(struct xs_mod_rep *m)
{
    if (ops.m != m)
        return;     /* not started (an init that failed before) */
    /* At shutdown the loop has stopped and the admin layer is done with
     * the calls still waiting: the lists go unanswered. */
    while (ops.head != NULL) {
        struct ops_list_job *j = ops.head;

        ops.head = j->next;
        ops_list_job_free(j);
    }
    if (ops.timer != NULL)
        event_free(ops.timer);
    memset(&ops, 0, sizeof(ops));
}

xs_rc
xs_rep_ops_start(struct xs_mod_rep *m)
{
    if (ops.m == m && ops.timer != NULL)
        return XS_OK;
    xs_rep_ops_stop(ops.m);
    ops.m = m;
    ops.timer = event_new(xs_server()->base, -1, 0, ops_on_timer, NULL);
    if (ops.timer == NULL) {
        xs_log(XS_LOG_ERR, "reputation: cannot make the walk timer");
        ops.m = NULL;
        return XS_EIO;
    }
    ops_schedule();
    return XS_OK;
}

/* The timer runs for m: started at init (xs_rep_ops_start), or here at
 * the first call that needs it. */
static bool
ops_started(struct xs_mod_rep *m)
{
    return xs_rep_ops_start(m) == XS_OK;
}

/* ---- reputation_list [--below N] [--max M] ---- */

static void
ops_list(struct xs_admin_call *call, void *state)
{
    struct xs_rep *r = ops_engine(call, state);
    const char *below_arg = xs_admin_call_arg(call, "below");
    const char *max_arg = xs_admin_call_arg(call, "max");
    long long below = OPS_BELOW_DEFAULT, max = OPS_MAX_DEFAULT;
    struct ops_list_job *j;

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
    if (!ops_started(state)) {
        xs_admin_call_fail(call, 503, "Reputation lists are not running");
        return;
    }
    if (ops.njobs >= OPS_LISTS_MAX) {
        xs_log(XS_LOG_INFO, "reputation: operator list refused below=%lld "
            "max=%lld: %zu lists running", below, max, ops.njobs);
        xs_admin_call_fail(call, 503, "Too many reputation lists running, "
            "try again");
        return;
    }
    j = xs_calloc(1, sizeof(*j));
    j->call = xs_admin_call_udata(call);
    j->walk = xs_rep_list_walk_new(r, (int)below, (size_t)max);
    j->rows = json_array();
    j->below = below;
    j->max = max;
    j->started_ms = xs_now_ms();
    /* A first slice now: on a small server, that is the whole list. */
    if (ops_list_job_run(j, call))
        ops_schedule();
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

/* A family of one unlabelled line: "name value". */
static void
ops_metric(struct evbuffer *out, const char *name, const char *type,
    const char *help, uint64_t v)
{
    xs_metrics_family(out, name, type, help);
    evbuffer_add_printf(out, "%s %" PRIu64 "\n", name, v);
}

void
xs_rep_ops_metrics(struct evbuffer *out, void *mod_state)
{
    struct xs_mod_rep *m = mod_state;
    struct xs_rep_stats st;
    struct pgq_batchq_stats db;

    if (m != NULL && m->rep != NULL && m->is_loaded) {
        int64_t now = xs_wall_s();

        /* A small engine is counted now; a larger one comes from the
         * census the timer runs in slices. */
        (void)ops_started(m);
        (void)xs_rep_census_run(m->rep, now, OPS_CENSUS_SYNC_MAX);
        xs_rep_stats(m->rep, now, &st);
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
        ops_metric(out, "xmppd_reputation_subjects", "gauge",
            "Subjects (accounts, remote JIDs, domains) held in memory.",
            st.subjects);
        ops_metric(out, "xmppd_reputation_pins", "gauge",
            "Operator pins in force.", st.pins);
        xs_metrics_family(out, "xmppd_reputation_census_timestamp_seconds",
            "gauge", "When the census behind the accounts, evidence items "
            "and pins lines completed (0: not yet).");
        evbuffer_add_printf(out, "xmppd_reputation_census_timestamp_seconds "
            "%" PRId64 "\n", st.censuses > 0 ? st.census_at : 0);
        ops_metric(out, "xmppd_reputation_score_computations_total",
            "counter", "Scores computed since start (cache misses).",
            st.computations);
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
    ops_metric(out, "xmppd_reputation_store_appended_total", "counter",
        "Evidence items committed to PostgreSQL.", db.appended);
    ops_metric(out, "xmppd_reputation_store_batches_total", "counter",
        "Evidence INSERT batches committed.", db.batches);
    ops_metric(out, "xmppd_reputation_store_dropped_total", "counter",
        "Evidence items dropped: the write queue was full.", db.dropped);
    ops_metric(out, "xmppd_reputation_store_retries_total", "counter",
        "Evidence batches that failed and were retried.", db.retries);
    ops_metric(out, "xmppd_reputation_store_queued", "gauge",
        "Evidence items waiting to be written.", (uint64_t)db.queued);
}
