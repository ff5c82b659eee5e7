/*
 * pgq.c: a pool of non-blocking libpq connections on the event loop.
 *
 * Each connection is a small state machine:
 *
 *   DOWN --timer--> CONNECTING --PQconnectPoll OK--> IDLE <--> BUSY
 *     ^                 |  (failure, timeout)          |  (EOF, I/O error)
 *     +-----------------+------------------------------+
 *
 * A DOWN connection waits on its timer (backoff 100 ms doubling to 5 s)
 * before the next PQconnectStartParams.  CONNECTING follows
 * PQconnectPoll, re-creating the socket event at every step because libpq
 * may switch sockets (one per host or address it tries).  IDLE and BUSY
 * keep a persistent read event, so a server that goes away is noticed even
 * while idle, plus write interest while PQflush() has data left.
 *
 * Requests sit in one FIFO until a connection is idle.  Callbacks for
 * requests that fail without a result are never run from the stack of the
 * caller: they go to a "failed" list drained by a deferred event.
 */
#include "db/pgq.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>
#include <sys/queue.h>

#define PGQ_BACKOFF_MIN_MS 100u
#define PGQ_BACKOFF_MAX_MS 5000u
#define PGQ_MAX_POOL       64
#define PGQ_SQL_LOG_LEN    60      /* how much statement text a log shows */

enum pgq_conn_state {
    PGQ_C_DOWN,             /* no PGconn; timer armed for the next attempt */
    PGQ_C_CONNECTING,       /* PQconnectPoll in progress */
    PGQ_C_IDLE,
    PGQ_C_BUSY,             /* inflight != NULL */
};

struct pgq_req {
    TAILQ_ENTRY(pgq_req) link;
    char        *sql;       /* owned, inside this allocation */
    char       **params;    /* owned, inside this allocation */
    int          nparams;
    bool         is_script; /* PQsendQuery: several statements, no params */
    pgq_cb      *cb;        /* NULL: internal request (pool hygiene) */
    void        *udata;     /* borrowed, handed back to cb */
    uint64_t     t_queued;
    size_t       alloc_len; /* to wipe it all on free */
};

TAILQ_HEAD(pgq_req_list, pgq_req);

struct pgq_conn {
    struct pgq          *q;         /* borrowed: the pool we belong to */
    size_t               idx;
    enum pgq_conn_state  state;
    PGconn              *pg;        /* owned; NULL when DOWN */
    struct event        *ev_io;     /* owned; on PQsocket(pg) */
    evutil_socket_t      ev_fd;
    short                ev_what;
    struct event        *ev_timer;  /* owned: backoff or connect timeout */
    bool                 want_write;    /* PQflush() returned 1 */
    bool                 was_up;    /* a later success is a reconnect */
    bool                 failing;   /* in a streak of failed attempts */
    unsigned             backoff_ms;
    unsigned             attempts;  /* in the current failure streak */
    struct pgq_req      *inflight;  /* owned while BUSY */
    PGresult            *result;    /* owned: kept result of inflight */
};

struct pgq {
    struct event_base   *base;      /* borrowed */
    char                *conninfo;  /* owned; may hold a password */
    struct pgq_conn     *conns;     /* owned, pool_size of them */
    size_t               pool_size;
    size_t               nup;       /* conns IDLE or BUSY */
    struct pgq_req_list  waiting;   /* owned requests, FIFO */
    size_t               nwaiting;
    size_t               max_waiting;
    struct pgq_req_list  failed;    /* owned: to fail from ev_fail */
    struct event        *ev_fail;   /* owned: deferred failure callbacks */
    struct event        *ev_sweep;  /* owned: wait timeout while all down */
    uint64_t             wait_timeout_ms;
    uint64_t             connect_timeout_ms;
    int                  in_cb;     /* callbacks running: pgq_free forbidden */
    struct pgq_stats     st;
};

static void pgq_dispatch(struct pgq *q);
static void conn_lost(struct pgq_conn *c, const char *why);
static void conn_on_io(evutil_socket_t fd, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);

/* ---- requests ---- */

static struct pgq_req *
req_new(const char *sql, int nparams, const char *const *params,
    pgq_cb *cb, void *udata)
{
    size_t sql_len = strlen(sql) + 1;
    size_t len = sizeof(struct pgq_req) + (size_t)nparams * sizeof(char *)
        + sql_len;
    struct pgq_req *r;
    char *p;

    for (int i = 0; i < nparams; i++) {
        if (params[i] != NULL)
            len += strlen(params[i]) + 1;
    }
    /* One block: the struct, the param pointers, then the strings. */
    r = xs_calloc(1, len);
    r->alloc_len = len;
    r->params = (char **)(r + 1);
    p = (char *)(r->params + nparams);
    r->sql = p;
    memcpy(p, sql, sql_len);
    p += sql_len;
    for (int i = 0; i < nparams; i++) {
        if (params[i] == NULL) {
            r->params[i] = NULL;
        } else {
            size_t n = strlen(params[i]) + 1;

            r->params[i] = p;
            memcpy(p, params[i], n);
            p += n;
        }
    }
    r->nparams = nparams;
    r->cb = cb;
    r->udata = udata;
    r->t_queued = xs_now_ms();
    return r;
}

static void
req_free(struct pgq_req *r)
{
    if (r == NULL)
        return;
    /* Parameters may be credentials: leave nothing behind in the heap. */
    sodium_memzero(r, r->alloc_len);
    xs_free(r);
}

/* Runs a request's callback; pgq_free is forbidden meanwhile. */
static void
req_finish(struct pgq *q, struct pgq_req *r, xs_rc rc, const PGresult *res)
{
    if (r->cb != NULL) {
        q->in_cb++;
        r->cb(rc, res, r->udata);
        q->in_cb--;
    }
    req_free(r);
}

/* Fail a request with no result, from the loop, never from our caller. */
static void
req_fail_later(struct pgq *q, struct pgq_req *r)
{
    TAILQ_INSERT_TAIL(&q->failed, r, link);
    event_active(q->ev_fail, 0, 0);
}

static void
pgq_on_fail(evutil_socket_t fd, short what, void *arg)
{
    struct pgq *q = arg;
    struct pgq_req *r;

    (void)fd, (void)what;
    while ((r = TAILQ_FIRST(&q->failed)) != NULL) {
        TAILQ_REMOVE(&q->failed, r, link);
        if (r->cb != NULL)
            q->st.failed_io++;
        req_finish(q, r, XS_EIO, NULL);
    }
}

/* ---- logging helpers ---- */

/* libpq messages end in newlines and may span lines: keep the first one. */
static void
msg_first_line(const char *msg, char *out, size_t outlen)
{
    size_t n = 0;

    if (msg == NULL)
        msg = "";
    while (msg[n] != '\0' && msg[n] != '\n' && n + 1 < outlen)
        n++;
    memcpy(out, msg, n);
    out[n] = '\0';
}

static void
pgq_notice(void *arg, const char *message)
{
    struct pgq_conn *c = arg;
    char line[256];

    msg_first_line(message, line, sizeof(line));
    xs_log(XS_LOG_DEBUG, "pgq: conn=%zu server notice: %s", c->idx, line);
}

const char *
pgq_sqlstate(const PGresult *res)
{
    const char *s;

    if (res == NULL)
        return "";
    s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    return s != NULL ? s : "";
}

/* ---- connection events ---- */

static void
conn_unwatch(struct pgq_conn *c)
{
    if (c->ev_io != NULL) {
        event_free(c->ev_io);
        c->ev_io = NULL;
    }
}

/* (Re)arm the socket event; a changed socket or interest makes a new one. */
static bool
conn_watch(struct pgq_conn *c, short what, bool force_new)
{
    evutil_socket_t fd = PQsocket(c->pg);

    if (fd < 0)
        return false;
    if (c->ev_io != NULL && (force_new || c->ev_fd != fd || c->ev_what != what))
        conn_unwatch(c);
    if (c->ev_io == NULL) {
        c->ev_io = event_new(c->q->base, fd, what, conn_on_io, c);
        if (c->ev_io == NULL)
            return false;
        c->ev_fd = fd;
        c->ev_what = what;
    }
    return event_add(c->ev_io, NULL) == 0;
}

static void
conn_schedule(struct pgq_conn *c, uint64_t ms)
{
    struct timeval tv = {
        .tv_sec = (time_t)(ms / 1000),
        .tv_usec = (suseconds_t)((ms % 1000) * 1000),
    };

    evtimer_add(c->ev_timer, &tv);
}

/* Arm or disarm the wait-timeout sweep: it only runs while all is down. */
static void
pgq_sweep_arm(struct pgq *q)
{
    struct pgq_req *head = TAILQ_FIRST(&q->waiting);
    uint64_t now, deadline, delay;
    struct timeval tv;

    if (q->nup > 0 || head == NULL) {
        evtimer_del(q->ev_sweep);
        return;
    }
    now = xs_now_ms();
    deadline = head->t_queued + q->wait_timeout_ms;
    delay = deadline > now ? deadline - now : 0;
    tv.tv_sec = (time_t)(delay / 1000);
    tv.tv_usec = (suseconds_t)((delay % 1000) * 1000);
    evtimer_add(q->ev_sweep, &tv);
}

static void
pgq_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct pgq *q = arg;
    struct pgq_req *r;
    uint64_t now = xs_now_ms();
    size_t n = 0;

    (void)fd, (void)what;
    if (q->nup > 0)
        return;
    /* FIFO: the oldest are first.  Callbacks may queue more requests. */
    while ((r = TAILQ_FIRST(&q->waiting)) != NULL
        && r->t_queued + q->wait_timeout_ms <= now && q->nup == 0) {
        TAILQ_REMOVE(&q->waiting, r, link);
        q->nwaiting--;
        q->st.timeouts++;
        q->st.failed_io++;
        n++;
        req_finish(q, r, XS_EIO, NULL);
    }
    if (n > 0)
        xs_log(XS_LOG_WARN, "pgq: no database connection, failed=%zu "
            "timeout_ms=%" PRIu64, n, q->wait_timeout_ms);
    pgq_sweep_arm(q);
}

/* Drop the PGconn and plan the next attempt. */
static void
conn_down(struct pgq_conn *c)
{
    struct pgq *q = c->q;

    conn_unwatch(c);
    if (c->state == PGQ_C_IDLE || c->state == PGQ_C_BUSY)
        q->nup--;
    if (c->result != NULL) {
        PQclear(c->result);
        c->result = NULL;
    }
    if (c->inflight != NULL) {
        /* It may have run: never retry it, report it. */
        req_fail_later(q, c->inflight);
        c->inflight = NULL;
    }
    if (c->pg != NULL) {
        PQfinish(c->pg);        /* closes the socket; does not wait */
        c->pg = NULL;
    }
    c->state = PGQ_C_DOWN;
    c->want_write = false;
    c->attempts++;
    evtimer_del(c->ev_timer);
    conn_schedule(c, c->backoff_ms);
    c->backoff_ms = c->backoff_ms * 2 > PGQ_BACKOFF_MAX_MS
        ? PGQ_BACKOFF_MAX_MS : c->backoff_ms * 2;
    pgq_sweep_arm(q);
}

/* A connection attempt failed: log the first failure of a streak at ERR. */
static void
conn_fail(struct pgq_conn *c, const char *why)
{
    char line[256];

    msg_first_line(c->pg != NULL ? PQerrorMessage(c->pg) : why, line,
        sizeof(line));
    if (line[0] == '\0')
        msg_first_line(why, line, sizeof(line));
    if (!c->failing)
        xs_log(XS_LOG_ERR, "pgq: conn=%zu cannot connect: %s", c->idx, line);
    else
        xs_log(XS_LOG_DEBUG, "pgq: conn=%zu attempt=%u failed: %s", c->idx,
            c->attempts, line);
    c->failing = true;
    conn_down(c);
}

/* An established connection broke. */
static void
conn_lost(struct pgq_conn *c, const char *why)
{
    char line[256];

    msg_first_line(c->pg != NULL ? PQerrorMessage(c->pg) : "", line,
        sizeof(line));
    xs_log(XS_LOG_ERR, "pgq: conn=%zu lost (%s)%s%s", c->idx, why,
        line[0] != '\0' ? ": " : "", line);
    c->backoff_ms = PGQ_BACKOFF_MIN_MS;
    c->attempts = 0;
    c->failing = true;          /* the first failed retry stays quiet */
    conn_down(c);
}

static void
conn_up(struct pgq_conn *c)
{
    struct pgq *q = c->q;

    if (PQsetnonblocking(c->pg, 1) != 0) {
        conn_fail(c, "cannot set non-blocking mode");
        return;
    }
    evtimer_del(c->ev_timer);
    c->state = PGQ_C_IDLE;
    c->want_write = false;
    q->nup++;
    if (c->was_up) {
        q->st.reconnects++;
        xs_log(XS_LOG_NOTICE, "pgq: conn=%zu reconnected attempts=%u",
            c->idx, c->attempts);
    } else {
        xs_log(XS_LOG_INFO, "pgq: conn=%zu connected server_version=%d",
            c->idx, PQserverVersion(c->pg));
    }
    c->was_up = true;
    c->failing = false;
    c->attempts = 0;
    c->backoff_ms = PGQ_BACKOFF_MIN_MS;
    if (!conn_watch(c, EV_READ | EV_PERSIST, true)) {
        conn_lost(c, "cannot watch socket");
        return;
    }
    evtimer_del(q->ev_sweep);
    pgq_dispatch(q);
}

/* One PQconnectPoll step; the socket may differ from the previous one. */
static void
conn_poll(struct pgq_conn *c, PostgresPollingStatusType st)
{
    switch (st) {
    case PGRES_POLLING_OK:
        conn_up(c);
        return;
    case PGRES_POLLING_READING:
        if (!conn_watch(c, EV_READ, true))
            conn_fail(c, "no socket");
        return;
    case PGRES_POLLING_WRITING:
        if (!conn_watch(c, EV_WRITE, true))
            conn_fail(c, "no socket");
        return;
    case PGRES_POLLING_FAILED:
    default:
        conn_fail(c, "connection failed");
        return;
    }
}

static void
conn_start(struct pgq_conn *c)
{
    struct pgq *q = c->q;
    /* conninfo expands from dbname; client_encoding after it always wins. */
    const char *const keys[] = {
        "fallback_application_name", "dbname", "client_encoding", NULL
    };
    const char *const vals[] = { "xmppd", q->conninfo, "UTF8", NULL };

    c->pg = PQconnectStartParams(keys, vals, 1);
    if (c->pg == NULL) {
        conn_fail(c, "out of memory");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_fail(c, "connection failed");
        return;
    }
    /* Server notices go to our log, not to libpq's stderr default. */
    PQsetNoticeProcessor(c->pg, pgq_notice, c);
    c->state = PGQ_C_CONNECTING;
    conn_schedule(c, q->connect_timeout_ms);
    /* libpq: behave as if the last poll returned PGRES_POLLING_WRITING. */
    conn_poll(c, PGRES_POLLING_WRITING);
}

static void
conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct pgq_conn *c = arg;

    (void)fd, (void)what;
    if (c->state == PGQ_C_DOWN) {
        conn_start(c);
    } else if (c->state == PGQ_C_CONNECTING) {
        xs_log(XS_LOG_DEBUG, "pgq: conn=%zu connect timed out after %"
            PRIu64 " ms", c->idx, c->q->connect_timeout_ms);
        conn_fail(c, "connect timed out");
    }
}

/* ---- queries ---- */

/* Push buffered output; ask for write-readiness while libpq has more. */
static void
conn_flush(struct pgq_conn *c)
{
    int f = PQflush(c->pg);
    bool want = (f == 1);

    if (f < 0) {
        conn_lost(c, "flush failed");
        return;
    }
    if (want != c->want_write) {
        c->want_write = want;
        if (!conn_watch(c, want ? EV_READ | EV_WRITE | EV_PERSIST
            : EV_READ | EV_PERSIST, false))
            conn_lost(c, "cannot watch socket");
    }
}

/* False when nothing could be sent: then the request is still ours. */
static bool
conn_send(struct pgq_conn *c, struct pgq_req *r)
{
    int ok;

    xs_assert(c->state == PGQ_C_IDLE && c->inflight == NULL);
    if (r->is_script)
        ok = PQsendQuery(c->pg, r->sql);
    else
        ok = PQsendQueryParams(c->pg, r->sql, r->nparams, NULL,
            (const char *const *)r->params, NULL, NULL, 0);
    if (!ok)
        return false;
    c->inflight = r;
    c->state = PGQ_C_BUSY;
    conn_flush(c);              /* on failure r is failed from the loop */
    return true;
}

static void
conn_send_internal(struct pgq_conn *c, const char *sql)
{
    struct pgq_req *r = req_new(sql, 0, NULL, NULL, NULL);

    r->is_script = true;
    if (!conn_send(c, r)) {
        req_free(r);
        conn_lost(c, "send failed");
    }
}

static xs_rc
result_rc(const PGresult *res)
{
    switch (PQresultStatus(res)) {
    case PGRES_COMMAND_OK:
    case PGRES_TUPLES_OK:
        return XS_OK;
    default:
        return strcmp(pgq_sqlstate(res), "23505") == 0 ? XS_EEXIST : XS_EIO;
    }
}

static void
log_query_error(struct pgq_conn *c, const struct pgq_req *r,
    const PGresult *res, xs_rc rc)
{
    const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    char line[256];

    /*
     * The statement text is ours (constants from db/queries.h); the
     * parameters are never logged.  The primary message can quote a bad
     * value ("invalid input syntax ..."), never the other parameters.
     */
    msg_first_line(primary != NULL ? primary : PQresStatus(PQresultStatus(res)),
        line, sizeof(line));
    xs_log(rc == XS_EEXIST ? XS_LOG_DEBUG : XS_LOG_ERR,
        "pgq: conn=%zu query failed sqlstate=%s sql=\"%.*s\" error=%s",
        c->idx, pgq_sqlstate(res), PGQ_SQL_LOG_LEN, r->sql, line);
}

/* The in-flight command returned its last result (PQgetResult gave NULL). */
static void
conn_complete(struct pgq_conn *c)
{
    struct pgq *q = c->q;
    struct pgq_req *r = c->inflight;
    PGresult *res = c->result;
    xs_rc rc;

    c->inflight = NULL;
    c->result = NULL;
    c->state = PGQ_C_IDLE;
    if (r->cb != NULL) {
        uint64_t lat = xs_now_ms() - r->t_queued;

        rc = res != NULL ? result_rc(res) : XS_EIO;
        q->st.queries++;
        q->st.latency_ms_sum += lat;
        if (lat > q->st.latency_ms_max)
            q->st.latency_ms_max = lat;
        if (rc != XS_OK) {
            q->st.errors++;
            if (res != NULL)
                log_query_error(c, r, res, rc);
        }
        /*
         * A pooled connection must come back clean: a script that opened
         * a transaction and failed leaves it open (or aborted).
         */
        if (PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
            xs_log(XS_LOG_WARN, "pgq: conn=%zu transaction left open, "
                "rolling back sql=\"%.*s\"", c->idx, PGQ_SQL_LOG_LEN, r->sql);
            conn_send_internal(c, "ROLLBACK");
        }
        req_finish(q, r, rc, res);
    } else {
        req_free(r);
    }
    PQclear(res);
    pgq_dispatch(q);
}

/* Read every result that is complete; never blocks (PQisBusy first). */
static void
conn_drain(struct pgq_conn *c)
{
    PGnotify *n;

    while (c->pg != NULL && (n = PQnotifies(c->pg)) != NULL)
        PQfreemem(n);           /* we LISTEN to nothing; drop stray ones */
    while (c->state == PGQ_C_BUSY && !PQisBusy(c->pg)) {
        PGresult *res = PQgetResult(c->pg);
        ExecStatusType st;

        if (res == NULL) {
            conn_complete(c);   /* may start the next request on c */
            continue;
        }
        st = PQresultStatus(res);
        if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT
            || st == PGRES_COPY_BOTH) {
            PQclear(res);       /* not supported: drop the connection */
            conn_lost(c, "COPY is not supported");
            return;
        }
        /* Keep the first error, or else the latest result. */
        if (c->result == NULL || result_rc(c->result) == XS_OK) {
            PQclear(c->result);
            c->result = res;
        } else {
            PQclear(res);
        }
    }
}

static void
conn_on_io(evutil_socket_t fd, short what, void *arg)
{
    struct pgq_conn *c = arg;

    (void)fd;
    if (c->state == PGQ_C_CONNECTING) {
        conn_poll(c, PQconnectPoll(c->pg));
        return;
    }
    if (c->pg == NULL)
        return;
    if ((what & EV_READ) && PQconsumeInput(c->pg) == 0) {
        conn_lost(c, "read failed");
        return;
    }
    if (PQstatus(c->pg) == CONNECTION_BAD) {
        conn_lost(c, "connection bad");
        return;
    }
    if ((what & EV_WRITE) && c->want_write) {
        conn_flush(c);
        if (c->pg == NULL)
            return;
    }
    conn_drain(c);
}

/* ---- the pool ---- */

static struct pgq_conn *
pgq_idle_conn(struct pgq *q)
{
    for (size_t i = 0; i < q->pool_size; i++) {
        if (q->conns[i].state == PGQ_C_IDLE)
            return &q->conns[i];
    }
    return NULL;
}

static void
pgq_dispatch(struct pgq *q)
{
    struct pgq_conn *c;
    struct pgq_req *r;

    while ((r = TAILQ_FIRST(&q->waiting)) != NULL
        && (c = pgq_idle_conn(q)) != NULL) {
        TAILQ_REMOVE(&q->waiting, r, link);
        q->nwaiting--;
        if (!conn_send(c, r)) {
            /* Nothing went out: the request can safely wait for another. */
            TAILQ_INSERT_HEAD(&q->waiting, r, link);
            q->nwaiting++;
            conn_lost(c, "send failed");
        }
    }
    pgq_sweep_arm(q);
}

static xs_rc
pgq_submit(struct pgq *q, struct pgq_req *r)
{
    if (q->nwaiting >= q->max_waiting && pgq_idle_conn(q) == NULL) {
        q->st.rejected++;
        req_free(r);
        return XS_ELIMIT;       /* back-pressure: the caller decides */
    }
    TAILQ_INSERT_TAIL(&q->waiting, r, link);
    q->nwaiting++;
    /* Sending now never runs a callback: failures go through ev_fail. */
    pgq_dispatch(q);
    return XS_OK;
}

xs_rc
pgq_query(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, void *udata)
{
    if (q == NULL || sql == NULL || cb == NULL || nparams < 0
        || nparams > PGQ_MAX_PARAMS || (nparams > 0 && params == NULL))
        return XS_EINVAL;
    return pgq_submit(q, req_new(sql, nparams, params, cb, udata));
}

xs_rc
pgq_script(struct pgq *q, const char *sql, pgq_cb *cb, void *udata)
{
    struct pgq_req *r;

    if (q == NULL || sql == NULL || cb == NULL)
        return XS_EINVAL;
    r = req_new(sql, 0, NULL, cb, udata);
    r->is_script = true;
    return pgq_submit(q, r);
}

/* Warn about a host name: libpq would resolve it with blocking getaddrinfo. */
static void
pgq_check_host(const PQconninfoOption *opts)
{
    const char *host = NULL, *hostaddr = NULL;

    for (const PQconninfoOption *o = opts; o->keyword != NULL; o++) {
        if (strcmp(o->keyword, "host") == 0)
            host = o->val;
        else if (strcmp(o->keyword, "hostaddr") == 0)
            hostaddr = o->val;
    }
    if (host == NULL || host[0] == '\0' || host[0] == '/' || host[0] == '@'
        || (hostaddr != NULL && hostaddr[0] != '\0'))
        return;
    /* A list "h1,h2" is checked as a whole: one name among them is enough. */
    for (const char *p = host; *p != '\0';) {
        size_t n = strcspn(p, ",");
        char one[256];
        unsigned char addr[sizeof(struct in6_addr)];

        if (n < sizeof(one)) {
            memcpy(one, p, n);
            one[n] = '\0';
            if (one[0] != '/' && inet_pton(AF_INET, one, addr) != 1
                && inet_pton(AF_INET6, one, addr) != 1) {
                xs_log(XS_LOG_WARN, "pgq: sql host %s is a name: libpq "
                    "resolves it with a blocking lookup on the event loop; "
                    "prefer an address or a unix socket", one);
                return;
            }
        }
        p += n;
        if (*p == ',')
            p++;
    }
}

xs_rc
pgq_new(struct event_base *base, const char *conninfo, int pool_size,
    size_t max_waiting, struct pgq **out)
{
    PQconninfoOption *opts;
    char *err = NULL;
    struct pgq *q;

    *out = NULL;
    if (base == NULL || conninfo == NULL || pool_size < 1
        || pool_size > PGQ_MAX_POOL)
        return XS_EINVAL;
    opts = PQconninfoParse(conninfo, &err);
    if (opts == NULL) {
        char line[256];

        /* libpq's message names the bad keyword, never the values. */
        msg_first_line(err != NULL ? err : "out of memory", line,
            sizeof(line));
        xs_log(XS_LOG_ERR, "pgq: bad connection string: %s", line);
        PQfreemem(err);
        return XS_EINVAL;
    }
    pgq_check_host(opts);
    PQconninfoFree(opts);

    q = xs_calloc(1, sizeof(*q));
    q->base = base;
    q->conninfo = xs_strdup(conninfo);
    q->pool_size = (size_t)pool_size;
    q->max_waiting = max_waiting;
    q->wait_timeout_ms = PGQ_WAIT_TIMEOUT_MS;
    q->connect_timeout_ms = PGQ_CONNECT_TIMEOUT_MS;
    TAILQ_INIT(&q->waiting);
    TAILQ_INIT(&q->failed);
    q->ev_fail = event_new(base, -1, 0, pgq_on_fail, q);
    q->ev_sweep = evtimer_new(base, pgq_on_sweep, q);
    q->conns = xs_calloc(q->pool_size, sizeof(q->conns[0]));
    if (q->ev_fail == NULL || q->ev_sweep == NULL)
        goto fail;
    for (size_t i = 0; i < q->pool_size; i++) {
        struct pgq_conn *c = &q->conns[i];

        c->q = q;
        c->idx = i;
        c->state = PGQ_C_DOWN;
        c->backoff_ms = PGQ_BACKOFF_MIN_MS;
        c->ev_timer = evtimer_new(base, conn_on_timer, c);
        if (c->ev_timer == NULL)
            goto fail;
        conn_schedule(c, 0);    /* connect from the loop */
    }
    *out = q;
    return XS_OK;

fail:
    xs_log(XS_LOG_ERR, "pgq: cannot create events");
    pgq_free(q);
    return XS_ENOMEM;
}

void
pgq_free(struct pgq *q)
{
    struct pgq_req *r;

    if (q == NULL)
        return;
    xs_assert(q->in_cb == 0);
    for (size_t i = 0; i < q->pool_size && q->conns != NULL; i++) {
        struct pgq_conn *c = &q->conns[i];

        conn_unwatch(c);
        if (c->ev_timer != NULL)
            event_free(c->ev_timer);
        PQclear(c->result);
        req_free(c->inflight);
        if (c->pg != NULL)
            PQfinish(c->pg);
    }
    while ((r = TAILQ_FIRST(&q->waiting)) != NULL) {
        TAILQ_REMOVE(&q->waiting, r, link);
        req_free(r);
    }
    while ((r = TAILQ_FIRST(&q->failed)) != NULL) {
        TAILQ_REMOVE(&q->failed, r, link);
        req_free(r);
    }
    if (q->ev_fail != NULL)
        event_free(q->ev_fail);
    if (q->ev_sweep != NULL)
        event_free(q->ev_sweep);
    xs_free(q->conns);
    if (q->conninfo != NULL) {
        sodium_memzero(q->conninfo, strlen(q->conninfo));
        xs_free(q->conninfo);
    }
    xs_free(q);
}

void
pgq_set_timeouts(struct pgq *q, uint64_t wait_ms, uint64_t connect_ms)
{
    if (wait_ms != 0)
        q->wait_timeout_ms = wait_ms;
    if (connect_ms != 0)
        q->connect_timeout_ms = connect_ms;
    pgq_sweep_arm(q);
}

bool
pgq_is_ready(const struct pgq *q)
{
    return q != NULL && q->nup > 0;
}

void
pgq_stats(const struct pgq *q, struct pgq_stats *out)
{
    *out = q->st;
    out->waiting = q->nwaiting;
    out->in_flight = 0;
    for (size_t i = 0; i < q->pool_size; i++) {
        if (q->conns[i].inflight != NULL && q->conns[i].inflight->cb != NULL)
            out->in_flight++;
    }
    out->conns_up = q->nup;
    out->pool_size = q->pool_size;
}
