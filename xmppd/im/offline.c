/*
 * offline.c: offline messages (XEP-0160) with XEP-0203 delays, in
 * PostgreSQL (db/offline.h).
 *
 * Storing.  The router runs XS_HOOK_OFFLINE for a chat or normal message
 * to a local account with no available resource of non-negative priority.
 * A storable message gets our <delay/> and goes to the table in one
 * statement that also checks that the account exists, that its queue is
 * under max_user_messages and that it has not blocked the sender.  The
 * sender's session (a local client) is paused until that statement has
 * committed, so nothing it sends later overtakes the message, and a
 * message is acknowledged (not bounced) only once it is durable.
 * Refusals (no such account, queue full, sender blocked) all answer
 * service-unavailable, so a sender cannot tell them apart (XEP-0160
 * section 4, XEP-0191 section 3.5: no information leaks); a database
 * failure answers resource-constraint (type wait: try again later), never
 * silence.
 *
 * Delivering.  When a session sends available presence with a
 * non-negative priority, its stored messages are fetched oldest first in
 * batches (bounded in rows and in bytes, so the batch never pushes the
 * session past its output limits), written to it, and deleted only once
 * the batch has left the session's output buffer
 * (xs_session_on_flushed).  Send-then-delete is at-least-once: a crash
 * (kill -9) before the delete committed delivers the batch again at the
 * next login, and a session that closes before its batch was written
 * leaves the rows for the next available session.  Claim-then-send (DELETE
 * ... RETURNING first) would lose a batch whenever the connection dropped,
 * which the issue forbids.  One delivery per account runs at a time in
 * this process (the users tree), so two resources that become available
 * together do not both get the batch.  Written means handed to the
 * kernel: without XEP-0198 acknowledgements, a connection that dies with
 * the bytes still in the kernel's buffer loses them.
 */
#include "db/offline.h"
#include "xmppd/admin/admin.h"
#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/im/offline_msg.h"
#include "xmppd/router.h"
#include "xmppd/xml/jid.h"

#include <event2/event.h>
#include <search.h>
#include <string.h>
#include <sys/queue.h>

#define NS_MSGOFFLINE   "msgoffline"

/* ejabberd's max_user_offline_messages default. */
#define OFFLINE_MAX_DEFAULT 100
#define OFFLINE_MAX_LIMIT   1000000
#define OFFLINE_BATCH_ROWS  100
/* Batch bytes: half the output soft limit, so a batch alone never makes a
 * session a "slow reader"; at least this much. */
#define OFFLINE_BATCH_MIN_BYTES (16 * 1024)

/* ---- module state ---- */

/* A message on its way to the table. */
struct offline_store {
    TAILQ_ENTRY(offline_store) link;
    struct xs_stanza *st;       /* owned: the message as it came (bounces) */
    struct xs_jid    *from;     /* owned */
    struct xs_jid    *to;       /* owned; NULL: it had no 'to' */
    struct xs_jid    *owner;    /* owned: the recipient account, bare */
    uint64_t          origin_id;    /* the paused sender session, 0: none */
};

/* A delivery in progress: one per account at a time. */
struct offline_user {
    char    *bare;              /* owned: the tree's key */
    char    *user;              /* owned */
    char    *host;              /* owned */
    uint64_t sid;               /* the session written to */
    int64_t *ids;               /* owned: rows written, not yet deleted */
    size_t   nids;
    bool     again;             /* a store committed meanwhile: look again */
};

struct offline_state {
    long long max_user_messages;
    size_t    batch_bytes;
    TAILQ_HEAD(, offline_store) stores;
    void     *users;            /* owned: tsearch tree of struct
                                   offline_user, deliveries in progress */
};

/* The loaded module's state, for asynchronous completions (they arrive
 * only while the loop runs, before fini). */
static struct offline_state *offline;

static struct pgq *
offline_db(void)
{
    return xs_server()->db;
}

/* ---- delivery ---- */

static int
offline_user_cmp(const void *a, const void *b)
{
    const struct offline_user *x = a, *y = b;

    return strcmp(x->bare, y->bare);
}

static struct offline_user *
offline_user_lookup(const char *bare)
{
    struct offline_user key = { .bare = (char *)bare };
    void *found = tfind(&key, &offline->users, offline_user_cmp);

    return found != NULL ? *(struct offline_user **)found : NULL;
}

static void
offline_user_free(void *p)
{
    struct offline_user *u = p;

    xs_free(u->bare);
    xs_free(u->user);
    xs_free(u->host);
    xs_free(u->ids);
    xs_free(u);
}

/* The delivery is over (done, or left for the next login). */
static void
offline_user_end(struct offline_user *u)
{
    tdelete(u, &offline->users, offline_user_cmp);
    offline_user_free(u);
}

static bool
offline_session_ok(const struct xs_session *s)
{
    return s != NULL && !s->is_closing && s->jid != NULL &&
        s->is_available && s->priority >= 0;
}

/* The available session of bare with the highest non-negative priority
 * (where a message to the bare JID would go), or NULL. */
static struct xs_session *
offline_pick_session(const char *bare)
{
    size_t n;
    struct xs_session *const *v = xs_sm_sessions(bare, &n);
    struct xs_session *best = NULL;

    for (size_t i = 0; i < n; i++) {
        if (offline_session_ok(v[i]) &&
            (best == NULL || v[i]->priority > best->priority))
            best = v[i];
    }
    return best;
}

static void offline_fetch(struct offline_user *u);

static void
offline_deleted(xs_rc rc, void *udata)
{
    struct offline_user *u = udata;

    if (rc != XS_OK) {
        /* They were written: the next login gets them a second time. */
        xs_log(XS_LOG_WARN, "offline: delivered messages not deleted "
            "user=%s count=%zu: %s", u->bare, u->nids, xs_rc_str(rc));
        offline_user_end(u);
        return;
    }
    xs_log(XS_LOG_DEBUG, "offline: delivered user=%s count=%zu", u->bare,
        u->nids);
    xs_free(u->ids);
    u->ids = NULL;
    u->nids = 0;
    offline_fetch(u);           /* the next batch; an empty one ends it */
}

static void
offline_flushed(bool is_written, void *udata)
{
    struct offline_user *u = udata;
    struct xs_session *s;
    xs_rc rc;

    if (!is_written) {
        /* Not deleted: the rows wait for another resource or login. */
        xs_log(XS_LOG_INFO, "offline: session s=%" PRIu64 " ended before "
            "its messages were written user=%s count=%zu", u->sid, u->bare,
            u->nids);
        xs_free(u->ids);
        u->ids = NULL;
        u->nids = 0;
        if ((s = offline_pick_session(u->bare)) == NULL) {
            offline_user_end(u);
            return;
        }
        u->sid = s->id;
        offline_fetch(u);
        return;
    }
    rc = xs_offline_delete(offline_db(), u->user, u->host, u->ids, u->nids,
        offline_deleted, u);
    if (rc != XS_OK)
        offline_deleted(rc, u);
}

static void
offline_fetched(xs_rc rc, const struct xs_offline_row *rows, size_t n,
    void *udata)
{
    struct offline_user *u = udata;
    struct xs_session *s;

    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "offline: cannot fetch user=%s: %s", u->bare,
            xs_rc_str(rc));
        offline_user_end(u);    /* the next login tries again */
        return;
    }
    if (n == 0) {
        if (u->again) {
            u->again = false;
            offline_fetch(u);
        } else {
            offline_user_end(u);
        }
        return;
    }
    s = xs_session_by_id(u->sid);
    if (!offline_session_ok(s)) {
        if ((s = offline_pick_session(u->bare)) == NULL) {
            offline_user_end(u);
            return;
        }
        u->sid = s->id;
    }
    u->ids = xs_calloc(n, sizeof(u->ids[0]));
    for (size_t i = 0; i < n; i++) {
        struct xs_stanza *st;

        /* An unreadable row can never be delivered: it is deleted with
         * the batch rather than block the queue forever. */
        u->ids[u->nids++] = rows[i].id;
        if (xs_offline_parse(rows[i].stanza, rows[i].len, &st) != XS_OK) {
            xs_log(XS_LOG_WARN, "offline: unreadable stored message "
                "user=%s id=%" PRId64 " dropped", u->bare, rows[i].id);
            continue;
        }
        xs_session_send(s, st);
    }
    xs_session_on_flushed(s, offline_flushed, u);
}

static void
offline_fetch(struct offline_user *u)
{
    xs_rc rc = xs_offline_fetch(offline_db(), u->user, u->host,
        OFFLINE_BATCH_ROWS, offline->batch_bytes, offline_fetched, u);

    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "offline: cannot fetch user=%s: %s", u->bare,
            xs_rc_str(rc));
        offline_user_end(u);
    }
}

/* Deliver the stored messages of s's account to s, unless a delivery for
 * the account runs already (it then looks once more when done). */
static void
offline_deliver(const struct xs_session *s)
{
    struct offline_user *u = offline_user_lookup(s->jid->bare);

    if (u != NULL) {
        u->again = true;
        return;
    }
    u = xs_calloc(1, sizeof(*u));
    u->bare = xs_strdup(s->jid->bare);
    u->user = xs_strdup(s->jid->local);
    u->host = xs_strdup(s->jid->domain);
    u->sid = s->id;
    tsearch(u, &offline->users, offline_user_cmp);
    offline_fetch(u);
}

static void
offline_on_available(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;

    (void)ev, (void)state;
    /* XEP-0160 section 2: on available presence of non-negative
     * priority; a negative one waits for a later presence (below). */
    if (offline_session_ok(s) && s->jid->local != NULL)
        offline_deliver(s);
}

static void
offline_recheck_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xs_session *s = xs_session_by_id((uint64_t)(uintptr_t)arg);

    (void)fd, (void)what;
    if (offline != NULL && offline_session_ok(s) && s->jid->local != NULL)
        offline_deliver(s);
}

/*
 * An available session with a negative priority that sends presence
 * again may have become eligible.  The presence module applies the new
 * priority after this hook (it runs later in the chain): look on the next
 * loop turn, by session id.
 */
static enum xs_verdict
offline_on_presence(struct xs_stanza_ctx *ctx, void *state)
{
    struct xs_session *s = ctx->origin;
    struct timeval now = { 0, 0 };

    (void)state;
    if (s == NULL || ctx->to != NULL || !s->is_available || s->priority >= 0
        || xs_stanza_attr(ctx->st, "type") != NULL)
        return XS_PASS;
    if (event_base_once(xs_server()->base, -1, EV_TIMEOUT, offline_recheck_cb,
            (void *)(uintptr_t)s->id, &now) != 0)
        xs_slog(s, XS_LOG_WARN, "offline: cannot schedule a delivery check");
    return XS_PASS;
}

/* ---- storing ---- */

static void
offline_store_free(struct offline_store *op)
{
    xs_stanza_unref(op->st);
    xs_jid_free(op->from);
    xs_jid_free(op->to);
    xs_jid_free(op->owner);
    xs_free(op);
}

/* The router's verdict handling, now that the statement is done. */
static void
offline_store_finish(struct offline_store *op, enum xs_verdict v,
    enum xs_stanza_err err, const char *why)
{
    struct xs_stanza_ctx ctx = {
        .st = op->st, .from = op->from, .to = op->to,
        .kind = XS_K_MESSAGE, .err = err, .why = why,
    };

    op->st = NULL;
    xs_router_finish(&ctx, v);
}

static void
offline_stored(xs_rc rc, enum xs_offline_store_res res, void *udata)
{
    struct offline_store *op = udata;
    struct xs_session *s;

    TAILQ_REMOVE(&offline->stores, op, link);
    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "offline: cannot store to=%s from=%s: %s",
            op->owner->bare, op->from->full, xs_rc_str(rc));
        offline_store_finish(op, XS_BOUNCE, XS_SERR_RESOURCE_CONSTRAINT,
            "offline storage failed");
    } else if (res == XS_OFFLINE_STORED) {
        xs_log(XS_LOG_DEBUG, "offline: stored to=%s from=%s",
            op->owner->bare, op->from->full);
        offline_store_finish(op, XS_HANDLED, XS_SERR_NONE, NULL);
        /* The account may have come online while the statement ran. */
        if ((s = offline_pick_session(op->owner->bare)) != NULL)
            offline_deliver(s);
    } else {
        const char *why = res == XS_OFFLINE_NO_ACCOUNT ? "no such account"
            : res == XS_OFFLINE_FULL ? "offline queue full"
            : "sender blocked by the recipient";

        xs_log(XS_LOG_DEBUG, "offline: not stored to=%s from=%s: %s",
            op->owner->bare, op->from->full, why);
        offline_store_finish(op, XS_BOUNCE, XS_SERR_SERVICE_UNAVAILABLE,
            why);
    }
    if (op->origin_id != 0 && (s = xs_session_by_id(op->origin_id)) != NULL)
        xs_session_resume(s);
    offline_store_free(op);
}

static enum xs_verdict
offline_store(struct xs_stanza_ctx *ctx, const struct xs_jid *owner)
{
    const struct xs_jid *from = ctx->from;
    struct xs_elem *copy = xs_elem_copy(ctx->st->el);
    struct offline_store *op;
    struct xs_offline_msg m;
    char *text, *domres;
    xs_rc rc;

    /* Our delay goes on a copy: a bounce returns the message as sent. */
    if (xs_elem_attr(copy, "to") == NULL)
        xs_elem_set_attr(copy, "to", owner->bare);
    xs_offline_add_delay(copy, owner->domain, xs_wall_s());
    /* Written in its own namespace (no xmlns on it or its plain
     * children): read back inside a jabber:client stream. */
    text = xs_elem_to_string(copy, copy->ns);
    xs_elem_free(copy);
    domres = from->resource != NULL
        ? xs_asprintf("%s/%s", from->domain, from->resource)
        : xs_strdup(from->domain);
    m = (struct xs_offline_msg){
        .user = owner->local, .host = owner->domain, .sender = from->full,
        .sender_forms = { from->full, from->bare, from->domain, domres },
        .stanza = text,
    };
    op = xs_calloc(1, sizeof(*op));
    rc = xs_offline_store(offline_db(), &m, offline->max_user_messages,
        offline_stored, op);
    xs_free(text);
    xs_free(domres);
    if (rc != XS_OK) {
        xs_free(op);
        xs_log(XS_LOG_NOTICE, "offline: cannot store to=%s from=%s: %s",
            owner->bare, from->full, xs_rc_str(rc));
        ctx->err = XS_SERR_RESOURCE_CONSTRAINT;
        ctx->why = "offline storage busy";
        return XS_BOUNCE;
    }
    op->st = ctx->st;           /* the dispatcher's reference, stolen */
    op->from = xs_jid_copy(from);
    op->to = ctx->to != NULL ? xs_jid_copy(ctx->to) : NULL;
    op->owner = xs_jid_bare_copy(owner);
    if (ctx->origin != NULL) {
        /* Nothing the sender sends next is handled before the commit. */
        op->origin_id = ctx->origin->id;
        xs_session_pause(ctx->origin);
    }
    TAILQ_INSERT_TAIL(&offline->stores, op, link);
    return XS_STOLEN;
}

static enum xs_verdict
offline_on_message(struct xs_stanza_ctx *ctx, void *state)
{
    const struct xs_jid *owner = ctx->to != NULL ? ctx->to : ctx->from;
    const char *type = xs_stanza_attr(ctx->st, "type");

    (void)state;
    /* RFC 6121 8.5.2.2.1: only normal and chat are stored (the router
     * handles the other types before this hook). */
    if (type != NULL && strcmp(type, "chat") != 0 &&
        strcmp(type, "normal") != 0)
        return XS_PASS;
    if (owner == NULL || owner->local == NULL)
        return XS_PASS;
    switch (xs_offline_classify(ctx->st->el)) {
    case XS_OFFLINE_KEEP:
        return offline_store(ctx, owner);
    case XS_OFFLINE_REFUSE:
        /* XEP-0334 <no-store/>: the router's default, service-unavailable
         * (RFC 6121 8.5.2.2.1), tells the sender it was not kept. */
        return XS_PASS;
    case XS_OFFLINE_DISCARD:
        /* XEP-0085 section 5.8 and XEP-0160: a standalone chat state is
         * not stored, and bouncing it would only make noise for a
         * notification that is stale by the time anyone reads it. */
        ctx->why = "chat state alone for an offline account";
        return XS_DROP;
    }
    return XS_PASS;
}

/* ---- operator command ---- */

static void
offline_count_done(xs_rc rc, int64_t n, void *udata)
{
    struct xs_admin_call *call = xs_admin_call_by_udata(udata);

    if (call == NULL)
        return;                 /* abandoned at stop */
    if (rc == XS_ENOTFOUND)
        xs_admin_call_fail(call, 404, "User %s@%s does not exist",
            xs_admin_call_arg(call, "user"), xs_admin_call_arg(call, "host"));
    else if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
    else
        xs_admin_call_ok(call, json_integer((json_int_t)n));
}

static void
offline_cmd_count(struct xs_admin_call *call, void *state)
{
    xs_rc rc;

    (void)state;
    rc = xs_offline_count(offline_db(), xs_admin_call_arg(call, "user"),
        xs_admin_call_arg(call, "host"), offline_count_done,
        xs_admin_call_udata(call));
    if (rc != XS_OK)
        xs_admin_call_fail_db(call, rc);
}

/* ---- module ---- */

static void
offline_fini(void *state)
{
    struct offline_state *st = state;
    struct offline_store *op;

    if (st == NULL)
        return;
    /* The loop has stopped: no completion will come (pgq_free drops the
     * requests); the paused senders are gone with it. */
    while ((op = TAILQ_FIRST(&st->stores)) != NULL) {
        TAILQ_REMOVE(&st->stores, op, link);
        offline_store_free(op);
    }
    tdestroy(st->users, offline_user_free);
    if (offline == st)
        offline = NULL;
    xs_free(st);
}

static xs_rc
offline_init(const struct xs_conf *conf, void **state)
{
    static const char *const known[] = { "max_user_messages", NULL };
    const struct xs_conf_node *o = xs_conf_module_opts(conf, "mod_offline");
    const struct xs_conf_node *n;
    struct offline_state *st;
    long long max = OFFLINE_MAX_DEFAULT;
    char *err = NULL;

    *state = NULL;
    if (xs_conf_node_check_keys(conf, o, "modules.mod_offline", known,
            &err) != XS_OK)
        goto fail;
    n = xs_conf_node_get(o, "max_user_messages");
    if (n != NULL &&
        xs_conf_node_int(n, 1, OFFLINE_MAX_LIMIT, &max) != XS_OK) {
        err = xs_conf_errmsg(conf, n, "modules.mod_offline.max_user_messages",
            "must be an integer 1..%d", OFFLINE_MAX_LIMIT);
        goto fail;
    }
    st = xs_calloc(1, sizeof(*st));
    st->max_user_messages = max;
    st->batch_bytes = conf->c2s_out_soft_limit / 2;
    if (st->batch_bytes < OFFLINE_BATCH_MIN_BYTES)
        st->batch_bytes = OFFLINE_BATCH_MIN_BYTES;
    TAILQ_INIT(&st->stores);
    offline = st;
    *state = st;
    return XS_OK;

fail:
    xs_log(XS_LOG_ERR, "%s", err);
    xs_free(err);
    return XS_EINVAL;
}

static const struct xs_hook_spec offline_hooks[] = {
    { XS_HOOK_OFFLINE, XS_K_MESSAGE, XS_PRIO_DEFAULT, offline_on_message },
    /* Before the presence module applies the new priority. */
    { XS_HOOK_C2S_IN, XS_K_PRESENCE, XS_PRIO_DEFAULT + 1,
      offline_on_presence },
    { 0 }
};

static const struct xs_event_spec offline_events[] = {
    { XS_EV_SESSION_AVAILABLE, offline_on_available },
    { 0 }
};

static const char *const offline_features[] = { NS_MSGOFFLINE, NULL };

static const struct xs_admin_cmd offline_commands[] = {
    { "get_offline_count", offline_cmd_count },
    { 0 }
};

const struct xs_module xs_mod_offline = {
    .name = "offline",
    .abi = XS_MODULE_ABI,
    .init = offline_init,
    .fini = offline_fini,
    .hooks = offline_hooks,
    .events = offline_events,
    .features = offline_features,
    .commands = offline_commands,
};
