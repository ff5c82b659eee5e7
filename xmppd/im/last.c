/*
 * last.c: Last Activity (XEP-0012), answered by the server.
 *
 * - To the domain: the server's uptime (section 5).
 * - To an account's bare JID (or no 'to'): only for the account itself or
 *   an entity allowed to see its presence, a roster item with
 *   subscription 'from' or 'both' (section 7: "MUST NOT return last
 *   activity information to an entity that is not authorized to view the
 *   user's presence", else <forbidden/>).  The roster is read in memory
 *   when the account's is loaded, in PostgreSQL otherwise.  Then:
 *   seconds='0' when the account has an available resource (section 3:
 *   SHOULD), else the seconds since its last logout and the status text
 *   of its last unavailable presence.  No logout known (or no account):
 *   <service-unavailable/>, as ejabberd and Prosody answer.  A missing
 *   account is only told to those authorized, i.e. nobody: accounts
 *   cannot be probed this way.
 * Logouts are recorded by the activity module (activity.c).
 */
#include "xmppd/core/module.h"

#include "db/activity.h"
#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/server.h"
#include "xmppd/im/activity.h"
#include "xmppd/im/roster.h"
#include "xmppd/router.h"

#include <stdio.h>
#include <string.h>

#define NS_LAST "jabber:iq:last"

struct last_state {
    struct last_op *ops;        /* owned: waiting for the database */
};

struct last_op {
    struct last_state *ls;      /* borrowed */
    struct last_op    *prev;    /* borrowed */
    struct last_op    *next;    /* owned by the list */
    struct xs_stanza  *st;      /* owned: the IQ */
    char              *user;    /* owned: the account asked about */
    char              *host;    /* owned */
    char              *bare;    /* owned */
};

static void
last_op_free(struct last_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        op->ls->ops = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    xs_stanza_unref(op->st);
    xs_free(op->user);
    xs_free(op->host);
    xs_free(op->bare);
    xs_free(op);
}

/* <query xmlns='jabber:iq:last' seconds='N'>text</query> answering st. */
static struct xs_stanza *
last_result(const struct xs_stanza *st, int64_t seconds, const char *text)
{
    struct xs_stanza *r = xs_stanza_iq_result(st);
    struct xs_elem *q = xs_elem_add_child(r->el, NS_LAST, "query");
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%" PRId64, seconds < 0 ? 0 : seconds);

    xs_assert(n > 0 && (size_t)n < sizeof(buf));
    xs_elem_set_attr(q, "seconds", buf);
    if (text != NULL && text[0] != '\0')
        xs_elem_add_text(q, text, strlen(text));
    return r;
}

static void
last_send(struct last_op *op, struct xs_stanza *r)
{
    if (xs_elem_attr(r->el, "from") == NULL)
        xs_elem_set_attr(r->el, "from", op->bare);
    xs_router_route(r);
}

static void
last_fail(struct last_op *op, enum xs_stanza_err err)
{
    if (xs_stanza_may_bounce(op->st))
        last_send(op, xs_stanza_error_reply(op->st, err));
    last_op_free(op);
}

static bool
last_is_available(const char *bare)
{
    size_t n;
    struct xs_session *const *v = xs_sm_sessions(bare, &n);

    for (size_t i = 0; i < n; i++) {
        if (v[i]->is_available)
            return true;
    }
    return false;
}

static void
last_on_activity(xs_rc rc, const struct xs_activity *a, void *udata)
{
    struct last_op *op = udata;

    if (rc == XS_OK && last_is_available(op->bare)) {
        /* Came online while we read. */
        last_send(op, last_result(op->st, 0, NULL));
        last_op_free(op);
        return;
    }
    if (rc == XS_ENOTFOUND || (rc == XS_OK && a->last_logout == 0)) {
        last_fail(op, XS_SERR_SERVICE_UNAVAILABLE);
        return;
    }
    if (rc != XS_OK) {
        last_fail(op, XS_SERR_INTERNAL_SERVER_ERROR);
        return;
    }
    last_send(op, last_result(op->st, xs_wall_s() - a->last_logout,
        a->last_status));
    last_op_free(op);
}

/* The requester may know: answer now (online) or read the record. */
static void
last_answer(struct last_op *op)
{
    xs_rc rc;

    if (last_is_available(op->bare)) {
        last_send(op, last_result(op->st, 0, NULL));
        last_op_free(op);
        return;
    }
    rc = xs_activity_get(op->user, op->host, last_on_activity, op);
    if (rc != XS_OK)
        last_fail(op, rc == XS_ELIMIT ? XS_SERR_RESOURCE_CONSTRAINT
            : XS_SERR_INTERNAL_SERVER_ERROR);
}

static void
last_on_sees(xs_rc rc, bool yes, void *udata)
{
    struct last_op *op = udata;

    if (rc != XS_OK)
        last_fail(op, XS_SERR_INTERNAL_SERVER_ERROR);
    else if (!yes)
        last_fail(op, XS_SERR_FORBIDDEN);
    else
        last_answer(op);
}

static enum xs_verdict
last_on_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    const struct xs_jid *who = ctx->to != NULL ? ctx->to : ctx->from;
    const struct xs_roster *roster;
    struct last_op *op;
    struct last_state *ls = state;
    int sees = -1;              /* -1: ask the database */
    xs_rc rc;

    (void)payload;
    if (who->local == NULL) {
        xs_router_reply(ctx, last_result(ctx->st,
            xs_wall_s() - xs_server()->started_wall, NULL));
        return XS_HANDLED;
    }
    if (xs_jid_bare_equal(who, ctx->from)) {
        sees = 1;
    } else if ((roster = xs_roster_loaded(who->bare)) != NULL) {
        const struct xs_roster_item *it = xs_roster_item(roster,
            ctx->from->bare);

        sees = it != NULL && (it->sub == XS_SUB_FROM ||
            it->sub == XS_SUB_BOTH);
    }
    if (sees == 0) {
        ctx->err = XS_SERR_FORBIDDEN;
        ctx->why = "last: requester may not see the presence";
        return XS_BOUNCE;
    }
    op = xs_calloc(1, sizeof(*op));
    op->ls = ls;
    op->user = xs_strdup(who->local);
    op->host = xs_strdup(who->domain);
    op->bare = xs_strdup(who->bare);
    op->next = ls->ops;
    if (ls->ops != NULL)
        ls->ops->prev = op;
    ls->ops = op;
    op->st = xs_stanza_ref(ctx->st);
    if (sees == 1) {
        /* Answered now or later: either way the op holds the IQ. */
        last_answer(op);
        return XS_HANDLED;
    }
    rc = xs_activity_db_sees_presence(xs_server()->db, who->local,
        who->domain, ctx->from->bare, last_on_sees, op);
    if (rc != XS_OK) {
        last_op_free(op);
        ctx->err = rc == XS_ELIMIT ? XS_SERR_RESOURCE_CONSTRAINT
            : XS_SERR_INTERNAL_SERVER_ERROR;
        ctx->why = "last: cannot query the database";
        return XS_BOUNCE;
    }
    return XS_HANDLED;
}

static xs_rc
last_init(const struct xs_conf *conf, void **state)
{
    static const char *const known[] = { NULL };
    const struct xs_conf_node *m = xs_conf_module_opts(conf, "mod_last");
    char *err = NULL;

    *state = xs_calloc(1, sizeof(struct last_state));
    if (m != NULL && xs_conf_node_check_keys(conf, m, "modules.mod_last",
        known, &err) != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", err);
        xs_free(err);
        return XS_EINVAL;
    }
    return XS_OK;
}

static void
last_fini(void *state)
{
    struct last_state *ls = state;

    if (ls == NULL)
        return;
    while (ls->ops != NULL)
        last_op_free(ls->ops);
    xs_free(ls);
}

static const struct xs_iq_spec last_iqs[] = {
    { NS_LAST, "query", XS_IQ_GET, XS_IQ_HOST | XS_IQ_ACCOUNT, last_on_get },
    { 0 }
};

static const char *const last_features[] = { NS_LAST, NULL };

const struct xs_module xs_mod_last = {
    .name = "last",
    .abi = XS_MODULE_ABI,
    .init = last_init,
    .fini = last_fini,
    .iqs = last_iqs,
    .features = last_features,
};
