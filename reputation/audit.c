/*
 * audit.c: mod_audit, the audit log of automatic decisions (audit.h):
 * recording an entry, the operator verbs that read the log, its metrics,
 * the shutdown drain and the daily prune past `retention_days`.
 *
 *   audit_tail [--n N] [--kind K]  the newest entries, newest first
 *   audit JID [--n N]              the entries about one subject
 *
 * xs_audit_record never waits: it copies the entry into db/audit.c's
 * write-behind queue (batches, one INSERT each) and logs one info line
 * without the explanation (the evidence lines may name third parties;
 * they are for the operator's verbs, not for every log reader).  The
 * verbs read PostgreSQL; each first waits (briefly, bounded) until the
 * entries queued before it are committed, so an operator who looks right
 * after a decision sees it.
 *
 * Time is xs_wall_s(): the test clock shifts it, so retention can be
 * shown without waiting.
 */
#include "reputation/audit.h"

#include "db/audit.h"
#include "xmppd/admin/admin.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/xml/jid.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#define AUD_RETENTION_DEFAULT   90      /* days */
#define AUD_RETENTION_MAX       36500   /* days: a century */
#define AUD_PRUNE_FIRST_S       60      /* after start: not in its rush */
#define AUD_PRUNE_S             86400   /* then daily */
#define AUD_DRAIN_POLL_MS       20
#define AUD_SYNC_POLL_MS        10
#define AUD_SYNC_MAX_MS         2000    /* a verb waits at most this for the
                                           queue, then reads anyway */
#define AUD_N_DEFAULT           20
#define AUD_LABELS_MAX          32      /* (kind, decision) pairs counted
                                           apart in /metrics */

/* Entries recorded, by (kind, decision). */
struct aud_count {
    char     *kind;         /* owned */
    char     *decision;     /* owned */
    uint64_t  n;
};

struct aud_read;
LIST_HEAD(aud_read_list, aud_read);

/* The module's state (one per server). */
struct aud_mod {
    int64_t               retention_s;  /* 0: keep forever */
    struct event         *prune_timer;  /* owned */
    struct event         *drain_timer;  /* owned: shutdown drain, or NULL */
    struct aud_count      counts[AUD_LABELS_MAX];
    size_t                ncounts;
    uint64_t              counted_other;    /* past AUD_LABELS_MAX pairs */
    uint64_t              invalid;      /* refused by xs_audit_record */
    bool                  is_drop_logged;
    struct aud_read_list  waiting;      /* verbs waiting for the queue */
};

/* The loaded module's state; xs_audit_record reads it. */
static struct aud_mod *aud_mod;         /* borrowed: owned by the loader */

/* Whether a prune runs; outside the state: its callback may come after
 * an unload. */
static bool aud_is_pruning;

/* ---- counting ---- */

static void
aud_count(struct aud_mod *m, const char *kind, const char *decision)
{
    for (size_t i = 0; i < m->ncounts; i++) {
        if (strcmp(m->counts[i].kind, kind) == 0
            && strcmp(m->counts[i].decision, decision) == 0) {
            m->counts[i].n++;
            return;
        }
    }
    /* Kinds and decisions are the callers' static tokens: a handful.  The
     * bound only keeps /metrics finite if a caller gets that wrong. */
    if (m->ncounts == AUD_LABELS_MAX) {
        m->counted_other++;
        return;
    }
    m->counts[m->ncounts++] = (struct aud_count){
        .kind = xs_strdup(kind), .decision = xs_strdup(decision), .n = 1,
    };
}

/* ---- recording ---- */

/* Compact JSON of v, the size of an explanation line (0: not JSON). */
static size_t
aud_json_len(const json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t n;

    if (text == NULL)
        return 0;
    n = strlen(text);
    free(text);                         /* jansson's allocator: malloc */
    return n;
}

/*
 * The explanation as compact JSON (caller frees with free()), at most
 * XS_AUDIT_DB_EXPL_MAX bytes: the leading lines that fit, then a line
 * saying how many did not.  The gate passes the lines that decided,
 * first: what comes last matters least.  NULL when expl is not an array.
 */
static char *
aud_expl_dump(const json_t *expl)
{
    /* The marker line, with room for any count. */
    const size_t marker_max = 96;
    size_t total = 1, kept = 0, n = json_array_size(expl);
    json_t *copy, *marker;
    char *text;

    if (!json_is_array(expl))
        return NULL;
    text = json_dumps(expl, JSON_COMPACT);
    if (text == NULL || strlen(text) <= XS_AUDIT_DB_EXPL_MAX)
        return text;
    free(text);
    for (; kept < n; kept++) {
        size_t len = aud_json_len(json_array_get(expl, kept));

        /* '[' + items with their ',' + the marker + ']' */
        if (len == 0 || total + len + 1 + marker_max + 1
            > XS_AUDIT_DB_EXPL_MAX)
            break;
        total += len + 1;
    }
    copy = json_array();
    for (size_t i = 0; i < kept; i++)
        json_array_append(copy, json_array_get(expl, i));
    marker = json_pack("{s:s, s:s, s:s, s:i, s:s, s:o}", "what", "truncated",
        "source_kind", "", "source", "", "points", 0, "age", "",
        "note", json_sprintf("%zu more lines not recorded", n - kept));
    xs_assert(marker != NULL);
    json_array_append_new(copy, marker);
    text = json_dumps(copy, JSON_COMPACT);
    json_decref(copy);
    xs_assert(text == NULL || strlen(text) <= XS_AUDIT_DB_EXPL_MAX);
    return text;
}

/* A score for the log line: the number, or "-" for none. */
static void
aud_score_str(bool has, int v, char *buf, size_t len)
{
    int n = has ? snprintf(buf, len, "%d", v) : snprintf(buf, len, "-");

    xs_assert(n > 0 && (size_t)n < len);
}

xs_rc
xs_audit_record(const struct xs_audit_entry *e)
{
    struct aud_mod *m = aud_mod;
    struct pgq *q = xs_server() != NULL ? xs_server()->db : NULL;
    struct xs_audit_row r;
    char *expl = NULL;
    char score[16], dscore[16];
    xs_rc rc;

    if (m == NULL || e == NULL || e->kind == NULL || e->subject == NULL
        || e->decision == NULL || e->reason == NULL)
        return XS_EINVAL;
    if (e->explanation != NULL
        && (expl = aud_expl_dump(e->explanation)) == NULL) {
        m->invalid++;
        xs_log(XS_LOG_ERR, "audit: entry kind=%s subject=%s refused: its "
            "explanation is not a JSON array", e->kind, e->subject);
        return XS_EINVAL;
    }
    memset(&r, 0, sizeof(r));
    r.at = e->at != 0 ? e->at : xs_wall_s();
    r.kind = e->kind;
    r.subject = e->subject;
    r.recipient = e->recipient != NULL && e->recipient[0] != '\0'
        ? e->recipient : NULL;
    r.decision = e->decision;
    r.reason = e->reason;
    /* A score outside XEP-0275's scale is "none" (INT_MIN by convention:
     * an entry about a key, not a sender): stored as NULL. */
    r.has_score = e->score >= -100 && e->score <= 100;
    r.score = r.has_score ? e->score : 0;
    r.has_domain_score = e->domain_score >= -100 && e->domain_score <= 100;
    r.domain_score = r.has_domain_score ? e->domain_score : 0;
    r.flag = e->flag != NULL && e->flag[0] != '\0' ? e->flag : NULL;
    r.explanation = expl;
    rc = q != NULL ? xs_audit_db_append(q, &r) : XS_EIO;
    free(expl);                         /* jansson's allocator: malloc */
    if (rc == XS_EINVAL) {
        m->invalid++;
        xs_log(XS_LOG_ERR, "audit: entry kind=%s refused: a field is "
            "empty, too long or not UTF-8", e->kind);
        return rc;
    }
    if (rc != XS_OK) {
        /* The first drop of an outage is logged, the rest counted. */
        if (!m->is_drop_logged)
            xs_log(XS_LOG_WARN, "audit: entry not queued for the database: "
                "%s; further drops are counted, not logged",
                xs_rc_str(rc));
        m->is_drop_logged = true;
        return rc;
    }
    m->is_drop_logged = false;
    aud_count(m, r.kind, r.decision);
    aud_score_str(r.has_score, r.score, score, sizeof(score));
    aud_score_str(r.has_domain_score, r.domain_score, dscore,
        sizeof(dscore));
    xs_log(XS_LOG_INFO, "audit: kind=%s subject=%s recipient=%s "
        "decision=%s reason=%s score=%s domain_score=%s flag=%s", r.kind,
        r.subject, r.recipient != NULL ? r.recipient : "-", r.decision,
        r.reason, score, dscore, r.flag != NULL ? r.flag : "-");
    return XS_OK;
}

/* ---- reading: the verbs ---- */

/* A verb's read: waits for the queue, then runs in pgq. */
struct aud_read {
    void                 *call;     /* borrowed: the call's udata (an id) */
    const char           *verb;     /* static: for the log line */
    char                 *subject;  /* owned: audit JID, or NULL */
    char                 *kind;     /* owned: audit_tail --kind, or NULL */
    size_t                n;
    uint64_t              target;   /* queued_total when asked */
    uint64_t              deadline_ms;
    struct event         *timer;    /* owned: while waiting */
    json_t               *rows;     /* owned */
    LIST_ENTRY(aud_read)  link;     /* in waiting, while waiting */
};

static void
aud_read_free(struct aud_read *rd)
{
    if (rd->timer != NULL)
        event_free(rd->timer);
    xs_free(rd->subject);
    xs_free(rd->kind);
    json_decref(rd->rows);
    xs_free(rd);
}

/* A JSON string of a database text (valid UTF-8, never NULL there). */
static json_t *
aud_str(const char *s)
{
    json_t *v = s != NULL ? json_string(s) : json_null();

    return v != NULL ? v : json_string("");
}

static void
aud_on_row(const struct xs_audit_row *r, void *udata)
{
    struct aud_read *rd = udata;
    json_t *o = json_object(), *expl;
    char at[32];
    time_t t = (time_t)r->at;
    struct tm tm;

    /* Operators read RFC 3339, not epoch seconds. */
    if (gmtime_r(&t, &tm) == NULL
        || strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        snprintf(at, sizeof(at), "%" PRId64, r->at);
    expl = json_loads(r->explanation, 0, NULL);
    if (expl == NULL)
        expl = aud_str(r->explanation);     /* jsonb always parses */
    json_object_set_new(o, "id", json_integer(r->id));
    json_object_set_new(o, "at", json_string(at));
    json_object_set_new(o, "kind", aud_str(r->kind));
    json_object_set_new(o, "subject", aud_str(r->subject));
    json_object_set_new(o, "recipient", aud_str(r->recipient));
    json_object_set_new(o, "decision", aud_str(r->decision));
    json_object_set_new(o, "reason", aud_str(r->reason));
    json_object_set_new(o, "score", r->has_score
        ? json_integer(r->score) : json_null());
    json_object_set_new(o, "domain_score", r->has_domain_score
        ? json_integer(r->domain_score) : json_null());
    json_object_set_new(o, "flag", aud_str(r->flag));
    json_object_set_new(o, "explanation", expl);
    json_array_append_new(rd->rows, o);
}

static void
aud_on_read(xs_rc rc, void *udata)
{
    struct aud_read *rd = udata;
    struct xs_admin_call *call = xs_admin_call_by_udata(rd->call);

    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "audit: operator %s failed: %s", rd->verb,
            xs_rc_str(rc));
        if (call != NULL)
            xs_admin_call_fail_db(call, rc);
        aud_read_free(rd);
        return;
    }
    xs_log(XS_LOG_INFO, "audit: operator %s%s%s%s%s n=%zu found=%zu",
        rd->verb, rd->subject != NULL ? " jid=" : "",
        rd->subject != NULL ? rd->subject : "",
        rd->kind != NULL ? " kind=" : "", rd->kind != NULL ? rd->kind : "",
        rd->n, json_array_size(rd->rows));
    if (call != NULL) {
        xs_admin_call_ok(call, rd->rows);
        rd->rows = NULL;
    }
    aud_read_free(rd);
}

/* The queue is past the entries queued before the verb. */
static bool
aud_is_synced(const struct aud_read *rd)
{
    struct pgq_batchq_stats st;

    xs_audit_db_stats(xs_server()->db, &st);
    return st.queued == 0 || st.appended + st.discarded >= rd->target;
}

static void
aud_read_start(struct aud_read *rd)
{
    struct pgq *q = xs_server()->db;
    struct xs_admin_call *call;
    xs_rc rc;

    if (rd->subject != NULL)
        rc = xs_audit_db_by_subject(q, rd->subject, rd->n, aud_on_row,
            aud_on_read, rd);
    else
        rc = xs_audit_db_tail(q, rd->n, rd->kind, aud_on_row, aud_on_read,
            rd);
    if (rc == XS_OK)
        return;
    xs_log(XS_LOG_INFO, "audit: operator %s refused: %s", rd->verb,
        xs_rc_str(rc));
    if ((call = xs_admin_call_by_udata(rd->call)) != NULL) {
        if (rc == XS_EINVAL)
            xs_admin_call_fail(call, 400, "Bad argument: too long or not "
                "UTF-8");
        else
            xs_admin_call_fail_db(call, rc);
    }
    aud_read_free(rd);
}

static void
aud_on_sync_poll(evutil_socket_t fd, short what, void *arg)
{
    struct aud_read *rd = arg;

    (void)fd, (void)what;
    if (!aud_is_synced(rd) && xs_now_ms() < rd->deadline_ms)
        return;
    LIST_REMOVE(rd, link);
    event_free(rd->timer);
    rd->timer = NULL;
    aud_read_start(rd);
}

/* Read once the queue has committed what was recorded before now. */
static void
aud_read_begin(struct aud_mod *m, struct aud_read *rd)
{
    struct pgq *q = xs_server()->db;
    struct pgq_batchq_stats st;
    struct timeval tv = { 0, AUD_SYNC_POLL_MS * 1000 };

    xs_audit_db_stats(q, &st);
    rd->target = st.queued_total;
    rd->deadline_ms = xs_now_ms() + AUD_SYNC_MAX_MS;
    rd->rows = json_array();
    if (aud_is_synced(rd)) {
        aud_read_start(rd);
        return;
    }
    xs_audit_db_flush_soon(q);
    rd->timer = event_new(xs_server()->base, -1, EV_PERSIST,
        aud_on_sync_poll, rd);
    if (rd->timer == NULL) {
        aud_read_start(rd);             /* read what is there */
        return;
    }
    LIST_INSERT_HEAD(&m->waiting, rd, link);
    event_add(rd->timer, &tv);
}

/* --n: 1..XS_AUDIT_DB_READ_MAX, the whole string; the call is answered
 * 400 and false otherwise. */
static bool
aud_n_arg(struct xs_admin_call *call, size_t *out)
{
    const char *s = xs_admin_call_arg(call, "n");
    char *end;
    long v;

    *out = AUD_N_DEFAULT;
    if (s == NULL)
        return true;
    errno = 0;
    v = s[0] >= '0' && s[0] <= '9' ? strtol(s, &end, 10) : 0;
    if (v < 1 || v > XS_AUDIT_DB_READ_MAX || errno != 0 || *end != '\0') {
        xs_admin_call_fail(call, 400, "Bad argument n: an integer from 1 "
            "to %d", XS_AUDIT_DB_READ_MAX);
        return false;
    }
    *out = (size_t)v;
    return true;
}

static struct aud_read *
aud_read_new(struct xs_admin_call *call, const char *verb, size_t n)
{
    struct aud_read *rd = xs_calloc(1, sizeof(*rd));

    rd->call = xs_admin_call_udata(call);
    rd->verb = verb;
    rd->n = n;
    return rd;
}

/* audit_tail [--n N] [--kind K] */
static void
aud_cmd_tail(struct xs_admin_call *call, void *state)
{
    const char *kind = xs_admin_call_arg(call, "kind");
    struct aud_read *rd;
    size_t n;

    if (!aud_n_arg(call, &n))
        return;
    if (kind != NULL && (kind[0] == '\0'
        || strlen(kind) > XS_AUDIT_DB_TOKEN_MAX)) {
        xs_admin_call_fail(call, 400, "Bad argument kind: 1 to %d bytes",
            XS_AUDIT_DB_TOKEN_MAX);
        return;
    }
    rd = aud_read_new(call, "tail", n);
    rd->kind = kind != NULL ? xs_strdup(kind) : NULL;
    aud_read_begin(state, rd);
}

/* audit JID [--n N]: a bare JID or a domain, as recorded (prepared). */
static void
aud_cmd_subject(struct xs_admin_call *call, void *state)
{
    const char *arg = xs_admin_call_arg(call, "jid");
    struct xs_jid *j = NULL;
    struct aud_read *rd;
    size_t n;

    if (arg == NULL || xs_jid_new(arg, &j) != XS_OK) {
        xs_admin_call_fail(call, 400, "Bad argument jid: not a valid JID");
        return;
    }
    if (!aud_n_arg(call, &n)) {
        xs_jid_free(j);
        return;
    }
    rd = aud_read_new(call, "query", n);
    rd->subject = xs_strdup(j->bare);
    xs_jid_free(j);
    aud_read_begin(state, rd);
}

static const struct xs_admin_cmd aud_commands[] = {
    { "audit_tail", aud_cmd_tail },
    { "audit", aud_cmd_subject },
    { NULL, NULL }
};

/* ---- /metrics ---- */

static void
aud_metrics(struct evbuffer *out, void *state)
{
    struct aud_mod *m = state;
    struct pgq_batchq_stats st;

    if (m == NULL)
        return;
    xs_audit_db_stats(xs_server() != NULL ? xs_server()->db : NULL, &st);
    xs_metrics_family(out, "xmppd_audit_entries_total", "counter",
        "Audit entries recorded (queued for PostgreSQL), by kind and "
        "decision.");
    for (size_t i = 0; i < m->ncounts; i++) {
        evbuffer_add_printf(out, "xmppd_audit_entries_total{kind=\"");
        xs_metrics_label_value(out, m->counts[i].kind);
        evbuffer_add_printf(out, "\",decision=\"");
        xs_metrics_label_value(out, m->counts[i].decision);
        evbuffer_add_printf(out, "\"} %" PRIu64 "\n", m->counts[i].n);
    }
    if (m->counted_other > 0)
        evbuffer_add_printf(out, "xmppd_audit_entries_total{kind=\"other\","
            "decision=\"other\"} %" PRIu64 "\n", m->counted_other);
    xs_metrics_family(out, "xmppd_audit_queue", "gauge",
        "Audit entries waiting to be written to PostgreSQL.");
    evbuffer_add_printf(out, "xmppd_audit_queue %zu\n", st.queued);
    xs_metrics_family(out, "xmppd_audit_written_total", "counter",
        "Audit entries committed to PostgreSQL.");
    evbuffer_add_printf(out, "xmppd_audit_written_total %" PRIu64 "\n",
        st.appended);
    xs_metrics_family(out, "xmppd_audit_dropped_total", "counter",
        "Audit entries lost: the write queue was full, PostgreSQL refused "
        "the data, or the entry was malformed.");
    evbuffer_add_printf(out, "xmppd_audit_dropped_total{reason=\"queue_full"
        "\"} %" PRIu64 "\n", st.dropped);
    evbuffer_add_printf(out, "xmppd_audit_dropped_total{reason=\"refused\"}"
        " %" PRIu64 "\n", st.discarded);
    evbuffer_add_printf(out, "xmppd_audit_dropped_total{reason=\"invalid\"}"
        " %" PRIu64 "\n", m->invalid);
}

/* ---- pruning ---- */

static void
aud_on_pruned(xs_rc rc, uint64_t deleted, void *udata)
{
    (void)udata;
    aud_is_pruning = false;
    if (rc != XS_OK)
        xs_log(XS_LOG_WARN, "audit: deleting entries past the retention "
            "failed: %s (retried tomorrow)", xs_rc_str(rc));
    else
        xs_log(deleted > 0 ? XS_LOG_INFO : XS_LOG_DEBUG, "audit: pruned "
            "entries=%" PRIu64, deleted);
}

static void
aud_on_prune(evutil_socket_t fd, short what, void *arg)
{
    struct aud_mod *m = arg;
    struct timeval tv = { .tv_sec = AUD_PRUNE_S };

    (void)fd, (void)what;
    event_add(m->prune_timer, &tv);
    if (m->retention_s == 0 || aud_is_pruning)
        return;
    if (xs_audit_db_prune(xs_server()->db, xs_wall_s() - m->retention_s,
        aud_on_pruned, NULL) == XS_OK)
        aud_is_pruning = true;
}

/* ---- shutdown drain ---- */

/* The queue keeps a batch until it is committed: empty means written. */
static bool
aud_drained(void)
{
    struct pgq_batchq_stats st;

    xs_audit_db_stats(xs_server()->db, &st);
    return st.queued == 0;
}

static void
aud_on_drain_poll(evutil_socket_t fd, short what, void *arg)
{
    struct aud_mod *m = arg;

    (void)fd, (void)what;
    if (!aud_drained())
        return;
    event_del(m->drain_timer);
    xs_shutdown_release();
}

static void
aud_on_draining(enum xs_event ev, void *arg, void *state)
{
    struct aud_mod *m = state;
    struct timeval tv = { 0, AUD_DRAIN_POLL_MS * 1000 };

    (void)ev, (void)arg;
    if (xs_server()->db == NULL || aud_drained() || m->drain_timer != NULL)
        return;
    m->drain_timer = event_new(xs_server()->base, -1, EV_PERSIST,
        aud_on_drain_poll, m);
    if (m->drain_timer == NULL)
        return;
    xs_audit_db_flush_soon(xs_server()->db);
    xs_shutdown_hold();
    event_add(m->drain_timer, &tv);
}

static const struct xs_event_spec aud_events[] = {
    { XS_EV_SERVER_DRAINING, aud_on_draining },
    { 0 }
};

/* ---- the module ---- */

static void
aud_fini(void *state)
{
    struct aud_mod *m = state;
    struct aud_read *rd;

    if (m == NULL)
        return;
    if (aud_mod == m)
        aud_mod = NULL;
    /* Verbs still waiting for the queue: nobody waits for them any more
     * (the admin API stops first).  Reads already in pgq are its. */
    while ((rd = LIST_FIRST(&m->waiting)) != NULL) {
        LIST_REMOVE(rd, link);
        aud_read_free(rd);
    }
    if (xs_server() != NULL && xs_server()->db != NULL)
        xs_audit_db_flush_soon(xs_server()->db);
    if (m->prune_timer != NULL)
        event_free(m->prune_timer);
    if (m->drain_timer != NULL)
        event_free(m->drain_timer);
    for (size_t i = 0; i < m->ncounts; i++) {
        xs_free(m->counts[i].kind);
        xs_free(m->counts[i].decision);
    }
    xs_free(m);
}

static xs_rc
aud_init(const struct xs_conf *conf, void **out)
{
    static const char *const known[] = { "retention_days", NULL };
    const struct xs_conf_node *opts = xs_conf_module_opts(conf, "mod_audit");
    const struct xs_conf_node *n;
    struct aud_mod *m = xs_calloc(1, sizeof(*m));
    struct timeval tv = { .tv_sec = AUD_PRUNE_FIRST_S };
    char *err = NULL;
    long long v = AUD_RETENTION_DEFAULT;

    *out = m;
    LIST_INIT(&m->waiting);
    if (opts != NULL && xs_conf_node_check_keys(conf, opts,
        "modules.mod_audit", known, &err) != XS_OK)
        goto fail;
    if (opts != NULL && (n = xs_conf_node_get(opts, "retention_days"))
        != NULL && xs_conf_node_int(n, 0, AUD_RETENTION_MAX, &v) != XS_OK) {
        err = xs_conf_errmsg(conf, n, "modules.mod_audit.retention_days",
            "must be an integer 0..%d (days; 0: keep forever)",
            AUD_RETENTION_MAX);
        goto fail;
    }
    m->retention_s = (int64_t)v * 86400;
    m->prune_timer = event_new(xs_server()->base, -1, 0, aud_on_prune, m);
    if (m->prune_timer == NULL) {
        err = xs_strdup("audit: cannot make its prune timer");
        goto fail;
    }
    event_add(m->prune_timer, &tv);
    aud_is_pruning = false;
    aud_mod = m;
    return XS_OK;

fail:
    xs_log(XS_LOG_ERR, "%s", err != NULL ? err : "audit: bad options");
    xs_free(err);
    return XS_EINVAL;
}

const struct xs_module xs_mod_audit = {
    .name = "mod_audit",
    .abi = XS_MODULE_ABI,
    .init = aud_init,
    .fini = aud_fini,
    .events = aud_events,
    .commands = aud_commands,
    .metrics = aud_metrics,
};
