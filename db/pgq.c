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
 * Requests sit in one FIFO until a connection is idle; background requests
 * (pgq_query_bg) sit in a second one, served only when the first is empty
 * and no other background request is in flight.  Callbacks for requests
 * that fail without a result are never run from the stack of the caller:
 * they go to a "failed" list drained by a deferred event.
 *
 * Prepared statements.  Each connection has a cache of PGQ_STMT_CACHE
 * statement texts it prepared, named "s<N>" (N counts up per connection,
 * so a name is never reused within a server session).  A hit is one
 * PQsendQueryPrepared, read exactly like PQsendQueryParams was.  A miss
 * runs in pipeline mode, one round trip:
 *
 *   [DEALLOCATE s<old> ... Sync]  Prepare s<N>  Execute s<N>  Sync
 *
 * The DEALLOCATE of the evicted (clock: not used since the hand last
 * passed) statement has its own Sync so that its failure cannot abort the
 * query.  The results arrive in that order, each command's ended by a NULL
 * from PQgetResult, each Sync as a PGRES_PIPELINE_SYNC result; c->steps
 * says what the next result belongs to.  A failed Prepare drops the cache
 * entry and is the query's error (the Execute then reports
 * PGRES_PIPELINE_ABORTED, which is dropped: the first error wins).  Why
 * DEALLOCATE rather than keep evicted statements until the connection
 * closes: a caller that builds texts (an IN list of varying length) would
 * otherwise grow the server's memory without bound.  Scripts (PQsendQuery,
 * several statements) never use pipeline mode: it only lasts from a
 * miss's send to its last Sync.
 */
#include "db/pgq.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sodium.h>
#include <errno.h>
#include <string.h>
#include <sys/queue.h>

#define PGQ_BACKOFF_MIN_MS 100u
#define PGQ_BACKOFF_MAX_MS 5000u
#define PGQ_MAX_POOL       64
#define PGQ_SQL_LOG_LEN    60      /* how much statement text a log shows */
#define PGQ_MAX_STEPS      6       /* results of one pipelined request */
#define PGQ_BG_AGE_MS      1000u   /* a background request goes ahead then */

enum pgq_conn_state {
    PGQ_C_DOWN,             /* no PGconn; timer armed for the next attempt */
    PGQ_C_CONNECTING,       /* PQconnectPoll in progress */
    PGQ_C_IDLE,
    PGQ_C_BUSY,             /* inflight != NULL */
};

/* What the next result of a pipelined request belongs to. */
enum pgq_step {
    PGQ_STEP_DEALLOC,       /* DEALLOCATE of an evicted statement */
    PGQ_STEP_SYNC,          /* a PGRES_PIPELINE_SYNC */
    PGQ_STEP_PREPARE,
    PGQ_STEP_EXECUTE,
};

struct pgq_req {
    TAILQ_ENTRY(pgq_req) link;
    char        *sql;       /* owned, inside this allocation */
    char       **params;    /* owned, inside this allocation */
    int          nparams;
    bool         is_script; /* PQsendQuery: several statements, no params */
    bool         is_bg;     /* pgq_query_bg: the background lane */
    bool         is_retry;  /* re-prepared once already (stale statement) */
    uint64_t     hash;      /* of sql: the statement cache's key */
    uint64_t     exec_id;   /* sent as cached "s<id>", 0: not a cache hit */
    uint64_t     stale_id;  /* a stale "s<id>" to DEALLOCATE on re-prepare */
    pgq_cb      *cb;        /* NULL: internal request (pool hygiene) */
    pgq_release_fn *release;    /* frees udata if pgq_free drops us */
    void        *udata;     /* handed back to cb, or to release */
    uint64_t     t_queued;
    size_t       alloc_len; /* to wipe it all on free */
};

TAILQ_HEAD(pgq_req_list, pgq_req);

/* One prepared statement of a connection; sql == NULL: a free slot. */
struct pgq_stmt {
    char        *sql;       /* owned */
    uint64_t     hash;
    uint64_t     id;        /* the server-side name is "s<id>" */
    bool         is_ref;    /* clock bit: used since the hand passed */
};

struct pgq_ext {
    const void      *key;   /* borrowed: identity only */
    void            *data;  /* owned through free_fn */
    pgq_ext_free_fn *free_fn;
};

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
    struct pgq_stmt     *stmts;     /* owned: PGQ_STMT_CACHE slots */
    size_t               nstmts;    /* slots in use */
    size_t               hand;      /* clock hand, for eviction */
    uint64_t             last_stmt_id;
    struct pgq_stmt     *preparing; /* borrowed: slot whose Prepare is out */
    enum pgq_step        steps[PGQ_MAX_STEPS];
    int                  nsteps;    /* 0: not in pipeline mode */
    int                  step;      /* index of the next expected result */
};

struct pgq {
    struct event_base   *base;      /* borrowed */
    char                *conninfo;  /* owned; may hold a password */
    struct pgq_conn     *conns;     /* owned, pool_size of them */
    size_t               pool_size;
    size_t               nup;       /* conns IDLE or BUSY */
    struct pgq_req_list  waiting;   /* owned requests, FIFO */
    size_t               nwaiting;
    size_t               max_waiting;   /* per lane */
    struct pgq_req_list  bg_waiting;    /* owned: pgq_query_bg, FIFO */
    size_t               nbg_waiting;
    size_t               nbg_inflight;  /* 0 or 1 */
    struct pgq_ext       ext[PGQ_MAX_EXT];
    struct pgq_req_list  failed;    /* owned: to fail from ev_fail */
    struct event        *ev_fail;   /* owned: deferred failure callbacks */
    struct event        *ev_sweep;  /* owned: wait timeout while all down */
    uint64_t             wait_timeout_ms;
    uint64_t             connect_timeout_ms;
    int                  in_cb;     /* callbacks running: pgq_free forbidden */
    bool                 is_closed; /* pgq_close ran: everything refused */
    struct pgq_stats     st;
};

static void pgq_dispatch(struct pgq *q);
static void conn_lost(struct pgq_conn *c, const char *why);
static void conn_on_io(evutil_socket_t fd, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);

/* ---- requests ---- */

/*
 * FNV-1a: the texts are ours (db/queries.h), never a peer's, and a hash
 * only saves strcmp calls in the cache scan, so no keyed hash is needed.
 */
static uint64_t
sql_hash(const char *sql)
{
    uint64_t h = 14695981039346656037u;

    for (const unsigned char *p = (const unsigned char *)sql; *p != '\0';
        p++) {
        h ^= *p;
        h *= 1099511628211u;
    }
    return h;
}

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
    r->hash = sql_hash(r->sql);
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

/* pgq_free: a request dies without its callback; its udata goes back to
 * the release function, if it has one. */
static void
req_drop(struct pgq_req *r)
{
    if (r == NULL)
        return;
    if (r->release != NULL)
        r->release(r->udata);
    req_free(r);
}

/* Drop every request of a list (pgq_free). */
static void
req_drop_all(struct pgq_req_list *list)
{
    struct pgq_req *r;

    while ((r = TAILQ_FIRST(list)) != NULL) {
        TAILQ_REMOVE(list, r, link);
        req_drop(r);
    }
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

bool
pgq_get_int64(const PGresult *res, int row, int col, int64_t *out)
{
    return !PQgetisnull(res, row, col)
        && pgq_text_int64(PQgetvalue(res, row, col), out);
}

bool
pgq_text_int64(const char *s, int64_t *out)
{
    char *end;
    long long v;

    errno = 0;
    v = strtoll(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return false;
    *out = (int64_t)v;
    return true;
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

/* ---- the statement cache ---- */

static void
stmt_name(char *out, size_t outlen, uint64_t id)
{
    int n = snprintf(out, outlen, "s%" PRIu64, id);

    xs_assert(n > 0 && (size_t)n < outlen);
}

static void
stmt_forget(struct pgq_conn *c, struct pgq_stmt *st)
{
    if (st == NULL || st->sql == NULL)
        return;
    xs_free(st->sql);
    memset(st, 0, sizeof(*st));
    c->nstmts--;
}

static struct pgq_stmt *
stmt_lookup(struct pgq_conn *c, const struct pgq_req *r)
{
    for (size_t i = 0; i < PGQ_STMT_CACHE; i++) {
        struct pgq_stmt *st = &c->stmts[i];

        if (st->sql != NULL && st->hash == r->hash
            && strcmp(st->sql, r->sql) == 0)
            return st;
    }
    return NULL;
}

static struct pgq_stmt *
stmt_by_id(struct pgq_conn *c, uint64_t id)
{
    for (size_t i = 0; i < PGQ_STMT_CACHE; i++) {
        if (c->stmts[i].sql != NULL && c->stmts[i].id == id)
            return &c->stmts[i];
    }
    return NULL;
}

/*
 * A free slot, or the clock's victim: the first slot whose bit is clear,
 * clearing bits on the way.  *evicted: the victim's id (to DEALLOCATE), or
 * 0 when a free slot was found.
 */
static struct pgq_stmt *
stmt_slot(struct pgq_conn *c, uint64_t *evicted)
{
    *evicted = 0;
    if (c->nstmts < PGQ_STMT_CACHE) {
        for (size_t i = 0; i < PGQ_STMT_CACHE; i++) {
            if (c->stmts[i].sql == NULL)
                return &c->stmts[i];
        }
    }
    for (;;) {
        struct pgq_stmt *st = &c->stmts[c->hand];

        c->hand = (c->hand + 1) % PGQ_STMT_CACHE;
        if (st->is_ref) {
            st->is_ref = false;
            continue;
        }
        *evicted = st->id;
        stmt_forget(c, st);
        return st;
    }
}

/* A new server session knows none of them. */
static void
stmts_clear(struct pgq_conn *c)
{
    for (size_t i = 0; i < PGQ_STMT_CACHE && c->stmts != NULL; i++)
        stmt_forget(c, &c->stmts[i]);
    c->hand = 0;
    c->last_stmt_id = 0;
    c->preparing = NULL;
    c->nsteps = 0;
    c->step = 0;
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
    struct pgq_req *bg = TAILQ_FIRST(&q->bg_waiting);
    uint64_t now, deadline, delay;
    struct timeval tv;

    /* Each lane is a FIFO: its head is its oldest request. */
    if (head == NULL || (bg != NULL && bg->t_queued < head->t_queued))
        head = bg;
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

/* Fail the expired requests of one lane; returns how many. */
static size_t
pgq_sweep_lane(struct pgq *q, struct pgq_req_list *lane, size_t *count,
    uint64_t now)
{
    struct pgq_req *r;
    size_t n = 0;

    /* FIFO: the oldest are first.  Callbacks may queue more requests. */
    while ((r = TAILQ_FIRST(lane)) != NULL
        && r->t_queued + q->wait_timeout_ms <= now && q->nup == 0) {
        TAILQ_REMOVE(lane, r, link);
        (*count)--;
        q->st.timeouts++;
        q->st.failed_io++;
        n++;
        req_finish(q, r, XS_EIO, NULL);
    }
    return n;
}

static void
pgq_on_sweep(evutil_socket_t fd, short what, void *arg)
{
    struct pgq *q = arg;
    uint64_t now = xs_now_ms();
    size_t n;

    (void)fd, (void)what;
    if (q->nup > 0)
        return;
    n = pgq_sweep_lane(q, &q->waiting, &q->nwaiting, now);
    n += pgq_sweep_lane(q, &q->bg_waiting, &q->nbg_waiting, now);
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
        if (c->inflight->is_bg)
            q->nbg_inflight--;
        req_fail_later(q, c->inflight);
        c->inflight = NULL;
    }
    if (c->pg != NULL) {
        PQfinish(c->pg);        /* closes the socket; does not wait */
        c->pg = NULL;
    }
    stmts_clear(c);             /* the server session and its statements */
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
    if (c->q->is_closed)
        return;
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

/*
 * A miss: [DEALLOCATE ... Sync] Prepare Execute Sync, in pipeline mode.
 * False when a send failed: the caller drops the connection (nothing that
 * can commit went out without its Sync, so the request is still ours).
 */
static bool
conn_send_prepare(struct pgq_conn *c, struct pgq_req *r)
{
    struct pgq *q = c->q;
    const char *const *params = (const char *const *)r->params;
    uint64_t drop[2] = { r->stale_id, 0 };
    struct pgq_stmt *st;
    char name[24];
    int n = 0;

    if (PQenterPipelineMode(c->pg) != 1)
        return false;
    st = stmt_slot(c, &drop[1]);
    if (drop[1] != 0)
        q->st.stmt_evictions++;
    for (size_t i = 0; i < 2; i++) {
        char sql[48];
        int len;

        if (drop[i] == 0)
            continue;
        len = snprintf(sql, sizeof(sql), "DEALLOCATE s%" PRIu64, drop[i]);
        xs_assert(len > 0 && (size_t)len < sizeof(sql));
        if (!PQsendQueryParams(c->pg, sql, 0, NULL, NULL, NULL, NULL, 0))
            return false;
        c->steps[n++] = PGQ_STEP_DEALLOC;
    }
    if (n > 0) {
        /* Its own Sync: a failed DEALLOCATE must not abort the query. */
        if (!PQpipelineSync(c->pg))
            return false;
        c->steps[n++] = PGQ_STEP_SYNC;
    }
    st->sql = xs_strdup(r->sql);
    st->hash = r->hash;
    st->id = ++c->last_stmt_id;
    st->is_ref = true;
    c->nstmts++;
    c->preparing = st;
    stmt_name(name, sizeof(name), st->id);
    /* No types: the server infers them, as with PQsendQueryParams. */
    if (!PQsendPrepare(c->pg, name, r->sql, 0, NULL))
        return false;
    c->steps[n++] = PGQ_STEP_PREPARE;
    if (!PQsendQueryPrepared(c->pg, name, r->nparams, params, NULL, NULL, 0))
        return false;
    c->steps[n++] = PGQ_STEP_EXECUTE;
    if (!PQpipelineSync(c->pg))
        return false;
    c->steps[n++] = PGQ_STEP_SYNC;
    xs_assert(n <= PGQ_MAX_STEPS);
    c->nsteps = n;
    c->step = 0;
    q->st.prepares++;
    r->exec_id = 0;             /* errors of a fresh prepare are real ones */
    return true;
}

/*
 * False when nothing could be sent, or a pipelined send failed half-way:
 * then the request is still ours and the caller drops the connection.
 */
static bool
conn_send(struct pgq_conn *c, struct pgq_req *r)
{
    struct pgq *q = c->q;
    struct pgq_stmt *st;
    int ok;

    xs_assert(c->state == PGQ_C_IDLE && c->inflight == NULL);
    if (r->is_script) {
        ok = PQsendQuery(c->pg, r->sql);
    } else if ((st = stmt_lookup(c, r)) != NULL) {
        char name[24];

        st->is_ref = true;
        stmt_name(name, sizeof(name), st->id);
        ok = PQsendQueryPrepared(c->pg, name, r->nparams,
            (const char *const *)r->params, NULL, NULL, 0);
        r->exec_id = st->id;
    } else {
        ok = conn_send_prepare(c, r);
    }
    if (!ok)
        return false;
    if (!r->is_script)
        q->st.executes_prepared++;
    if (r->is_bg)
        q->nbg_inflight++;
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

/*
 * A cached statement the server cannot run as it stands: it is gone
 * (26000: a script ran DEALLOCATE ALL or DISCARD ALL) or the schema
 * changed its result type (0A000 at bind time).  Both fail before
 * anything runs, so preparing again and retrying is safe.
 */
static bool
result_is_stale(const PGresult *res)
{
    const char *state = pgq_sqlstate(res);
    const char *msg;

    if (strcmp(state, "26000") == 0)
        return true;
    if (strcmp(state, "0A000") != 0)
        return false;
    msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
    return msg != NULL && strncmp(msg, "cached plan must not change",
        strlen("cached plan must not change")) == 0;
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

/* Put a request back at the head of its lane: it goes out next. */
static void
lane_push_head(struct pgq *q, struct pgq_req *r)
{
    if (r->is_bg) {
        TAILQ_INSERT_HEAD(&q->bg_waiting, r, link);
        q->nbg_waiting++;
    } else {
        TAILQ_INSERT_HEAD(&q->waiting, r, link);
        q->nwaiting++;
    }
}

/* The cached statement of the in-flight request is stale: prepare again. */
static void
conn_retry_stale(struct pgq_conn *c, struct pgq_req *r, PGresult *res)
{
    struct pgq *q = c->q;

    xs_log(XS_LOG_NOTICE, "pgq: conn=%zu statement s%" PRIu64 " is stale "
        "(sqlstate=%s), preparing it again sql=\"%.*s\"", c->idx, r->exec_id,
        pgq_sqlstate(res), PGQ_SQL_LOG_LEN, r->sql);
    PQclear(res);
    stmt_forget(c, stmt_by_id(c, r->exec_id));
    r->stale_id = r->exec_id;   /* 0A000: the old one still exists */
    r->exec_id = 0;
    r->is_retry = true;
    q->st.stmt_retries++;
    if (r->is_bg)
        q->nbg_inflight--;
    if (!conn_send(c, r)) {
        lane_push_head(q, r);   /* the failed run changed nothing */
        conn_lost(c, "send failed");
    }
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
    if (r->exec_id != 0 && !r->is_retry && res != NULL
        && result_is_stale(res)) {
        conn_retry_stale(c, r, res);
        return;
    }
    if (r->is_bg)
        q->nbg_inflight--;
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

/*
 * Keep the first error, or else the latest result.  False (and the
 * connection dropped) for COPY, which pgq does not support.
 */
static bool
conn_keep_result(struct pgq_conn *c, PGresult *res)
{
    ExecStatusType st = PQresultStatus(res);

    if (st == PGRES_COPY_IN || st == PGRES_COPY_OUT
        || st == PGRES_COPY_BOTH) {
        PQclear(res);
        conn_lost(c, "COPY is not supported");
        return false;
    }
    if (c->result == NULL || result_rc(c->result) == XS_OK) {
        PQclear(c->result);
        c->result = res;
    } else {
        PQclear(res);
    }
    return true;
}

/*
 * One result (or end-of-command NULL) of a pipelined miss; c->steps says
 * whose it is.  False when the connection was dropped.
 */
static bool
conn_pipeline_result(struct pgq_conn *c, PGresult *res)
{
    enum pgq_step step;

    if (c->step >= c->nsteps) {
        PQclear(res);
        conn_lost(c, "unexpected result in pipeline");
        return false;
    }
    step = c->steps[c->step];
    if (res == NULL) {                  /* a command's results are over */
        if (step == PGQ_STEP_SYNC) {
            conn_lost(c, "pipeline out of step");
            return false;
        }
        c->step++;
        return true;
    }
    if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
        PQclear(res);
        if (step != PGQ_STEP_SYNC) {
            conn_lost(c, "pipeline out of step");
            return false;
        }
        if (++c->step < c->nsteps)
            return true;
        c->nsteps = 0;
        c->step = 0;
        if (PQexitPipelineMode(c->pg) != 1) {
            conn_lost(c, "cannot leave pipeline mode");
            return false;
        }
        conn_complete(c);               /* may start the next request */
        return true;
    }
    switch (step) {
    case PGQ_STEP_DEALLOC:
        if (PQresultStatus(res) != PGRES_COMMAND_OK)
            xs_log(XS_LOG_DEBUG, "pgq: conn=%zu DEALLOCATE failed "
                "sqlstate=%s", c->idx, pgq_sqlstate(res));
        PQclear(res);
        return true;
    case PGQ_STEP_PREPARE:
        if (result_rc(res) == XS_OK) {
            PQclear(res);
        } else {
            /* Not prepared: never send an Execute for it again. */
            stmt_forget(c, c->preparing);
            if (!conn_keep_result(c, res))
                return false;
        }
        c->preparing = NULL;
        return true;
    case PGQ_STEP_EXECUTE:
        return conn_keep_result(c, res);
    case PGQ_STEP_SYNC:
    default:
        PQclear(res);
        conn_lost(c, "pipeline out of step");
        return false;
    }
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

        if (c->nsteps > 0) {
            if (!conn_pipeline_result(c, res))
                return;
        } else if (res == NULL) {
            conn_complete(c);   /* may start the next request on c */
        } else if (!conn_keep_result(c, res)) {
            return;
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

/*
 * The next request to send: the FIFO first; a background request when the
 * FIFO is empty, or ahead of it once it has waited PGQ_BG_AGE_MS (so a
 * sustained load cannot starve it); never two background ones at once.
 */
static struct pgq_req *
pgq_next_req(struct pgq *q)
{
    struct pgq_req *r = TAILQ_FIRST(&q->waiting);
    struct pgq_req *bg = TAILQ_FIRST(&q->bg_waiting);

    if (bg != NULL && q->nbg_inflight == 0
        && (r == NULL || xs_now_ms() - bg->t_queued >= PGQ_BG_AGE_MS)) {
        TAILQ_REMOVE(&q->bg_waiting, bg, link);
        q->nbg_waiting--;
        return bg;
    }
    if (r != NULL) {
        TAILQ_REMOVE(&q->waiting, r, link);
        q->nwaiting--;
    }
    return r;
}

static void
pgq_dispatch(struct pgq *q)
{
    struct pgq_conn *c;
    struct pgq_req *r;

    if (q->is_closed)
        return;
    while ((c = pgq_idle_conn(q)) != NULL && (r = pgq_next_req(q)) != NULL) {
        if (!conn_send(c, r)) {
            /* Nothing that commits went out: it can wait for another. */
            lane_push_head(q, r);
            conn_lost(c, "send failed");
        }
    }
    pgq_sweep_arm(q);
}

static xs_rc
pgq_submit(struct pgq *q, struct pgq_req *r)
{
    if (q->is_closed) {
        req_free(r);
        return XS_EIO;
    }
    if (r->is_bg) {
        /* Its own bound: background work never fills the FIFO. */
        if (q->nbg_waiting >= q->max_waiting) {
            q->st.bg_rejected++;
            req_free(r);
            return XS_ELIMIT;
        }
        TAILQ_INSERT_TAIL(&q->bg_waiting, r, link);
        q->nbg_waiting++;
    } else {
        if (q->nwaiting >= q->max_waiting && pgq_idle_conn(q) == NULL) {
            q->st.rejected++;
            req_free(r);
            return XS_ELIMIT;   /* back-pressure: the caller decides */
        }
        TAILQ_INSERT_TAIL(&q->waiting, r, link);
        q->nwaiting++;
    }
    /* Sending now never runs a callback: failures go through ev_fail. */
    pgq_dispatch(q);
    return XS_OK;
}

static xs_rc
pgq_query_lane(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, pgq_release_fn *release,
    void *udata, bool is_bg)
{
    struct pgq_req *r;

    if (q == NULL || sql == NULL || cb == NULL || nparams < 0
        || nparams > PGQ_MAX_PARAMS || (nparams > 0 && params == NULL))
        return XS_EINVAL;
    r = req_new(sql, nparams, params, cb, udata);
    r->is_bg = is_bg;
    /* Set now: a refusal frees r with req_free, udata stays the caller's. */
    r->release = release;
    return pgq_submit(q, r);
}

xs_rc
pgq_query(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, void *udata)
{
    return pgq_query_lane(q, sql, nparams, params, cb, NULL, udata, false);
}

xs_rc
pgq_query_rel(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, pgq_release_fn *release,
    void *udata)
{
    return pgq_query_lane(q, sql, nparams, params, cb, release, udata,
        false);
}

xs_rc
pgq_query_bg(struct pgq *q, const char *sql, int nparams,
    const char *const *params, pgq_cb *cb, void *udata)
{
    return pgq_query_lane(q, sql, nparams, params, cb, NULL, udata, true);
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
    TAILQ_INIT(&q->bg_waiting);
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
        c->stmts = xs_calloc(PGQ_STMT_CACHE, sizeof(c->stmts[0]));
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

/* Move every request of list to out (callbacks run by pgq_close). */
static void
pgq_take_all(struct pgq_req_list *list, struct pgq_req_list *out)
{
    struct pgq_req *r;

    while ((r = TAILQ_FIRST(list)) != NULL) {
        TAILQ_REMOVE(list, r, link);
        TAILQ_INSERT_TAIL(out, r, link);
    }
}

void
pgq_close(struct pgq *q)
{
    struct pgq_req_list all = TAILQ_HEAD_INITIALIZER(all);
    struct pgq_req *r;

    if (q == NULL || q->is_closed)
        return;
    q->is_closed = true;
    for (size_t i = 0; i < q->pool_size && q->conns != NULL; i++) {
        struct pgq_conn *c = &q->conns[i];

        if (c->inflight != NULL) {
            TAILQ_INSERT_TAIL(&all, c->inflight, link);
            c->inflight = NULL;
        }
        conn_unwatch(c);
        if (c->ev_timer != NULL)
            event_del(c->ev_timer);     /* no reconnect after this */
        if (c->pg != NULL) {
            PQfinish(c->pg);    /* what was sent may or may not commit */
            c->pg = NULL;
        }
        c->state = PGQ_C_DOWN;
    }
    if (q->ev_sweep != NULL)
        event_del(q->ev_sweep);
    if (q->ev_fail != NULL)
        event_del(q->ev_fail);
    pgq_take_all(&q->waiting, &all);
    pgq_take_all(&q->bg_waiting, &all);
    pgq_take_all(&q->failed, &all);
    q->nwaiting = q->nbg_waiting = q->nbg_inflight = 0;
    q->nup = 0;
    while ((r = TAILQ_FIRST(&all)) != NULL) {
        TAILQ_REMOVE(&all, r, link);
        if (r->cb != NULL) {
            q->in_cb++;
            r->cb(XS_EIO, NULL, r->udata);
            q->in_cb--;
        }
        req_free(r);
    }
}

void
pgq_free(struct pgq *q)
{
    if (q == NULL)
        return;
    xs_assert(q->in_cb == 0);
    /* A release or free_fn that calls us anyway is refused, not queued. */
    q->is_closed = true;
    /*
     * Every request goes first, its udata back to its release function
     * while the layers' per-pool state (the extensions) still exists.
     */
    for (size_t i = 0; i < q->pool_size && q->conns != NULL; i++) {
        req_drop(q->conns[i].inflight);
        q->conns[i].inflight = NULL;
    }
    req_drop_all(&q->waiting);
    req_drop_all(&q->bg_waiting);
    req_drop_all(&q->failed);
    q->nwaiting = q->nbg_waiting = q->nbg_inflight = 0;
    /* Then the layers above; no request of ours points into them now. */
    for (size_t i = 0; i < PGQ_MAX_EXT; i++) {
        struct pgq_ext *x = &q->ext[i];

        if (x->key != NULL && x->free_fn != NULL)
            x->free_fn(x->data);
        memset(x, 0, sizeof(*x));
    }
    for (size_t i = 0; i < q->pool_size && q->conns != NULL; i++) {
        struct pgq_conn *c = &q->conns[i];

        conn_unwatch(c);
        stmts_clear(c);
        xs_free(c->stmts);
        if (c->ev_timer != NULL)
            event_free(c->ev_timer);
        PQclear(c->result);
        if (c->pg != NULL)
            PQfinish(c->pg);
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
    out->bg_waiting = q->nbg_waiting;
    out->in_flight = 0;
    for (size_t i = 0; i < q->pool_size; i++) {
        if (q->conns[i].inflight != NULL && q->conns[i].inflight->cb != NULL)
            out->in_flight++;
    }
    out->conns_up = q->nup;
    out->pool_size = q->pool_size;
}

struct event_base *
pgq_base(const struct pgq *q)
{
    return q->base;
}

xs_rc
pgq_ext_set(struct pgq *q, const void *key, void *data,
    pgq_ext_free_fn *free_fn)
{
    struct pgq_ext *slot = NULL;

    if (q == NULL || key == NULL)
        return XS_EINVAL;
    for (size_t i = 0; i < PGQ_MAX_EXT; i++) {
        if (q->ext[i].key == key) {
            slot = &q->ext[i];
            break;
        }
        if (slot == NULL && q->ext[i].key == NULL)
            slot = &q->ext[i];
    }
    if (data == NULL) {
        if (slot != NULL && slot->key == key)
            memset(slot, 0, sizeof(*slot));
        return XS_OK;
    }
    if (slot == NULL)
        return XS_ELIMIT;
    slot->key = key;
    slot->data = data;
    slot->free_fn = free_fn;
    return XS_OK;
}

void *
pgq_ext_get(const struct pgq *q, const void *key)
{
    for (size_t i = 0; q != NULL && i < PGQ_MAX_EXT; i++) {
        if (q->ext[i].key == key)
            return q->ext[i].data;
    }
    return NULL;
}
