/* router.c: routing stanzas between clients, the server and its modules. */
#include "xmppd/router.h"

#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/iq.h"
#include "xmppd/core/server.h"
#include "xmppd/core/stats.h"
#include "xmppd/s2s/s2s.h"

#include <string.h>

static struct xs_router_stats stats;

const struct xs_router_stats *
xs_router_stats(void)
{
    return &stats;
}

static void
router_bounce(struct xs_stanza_ctx *ctx)
{
    struct xs_stanza *reply;

    if (!xs_stanza_may_bounce(ctx->st))
        return;             /* never answer an error or a result */
    reply = xs_stanza_error_reply_text(ctx->st,
        ctx->err != XS_SERR_NONE ? ctx->err : XS_SERR_UNDEFINED_CONDITION,
        ctx->text);
    /* The error comes from the entity the stanza was for. */
    if (ctx->to == NULL && ctx->from != NULL)
        xs_elem_set_attr(reply->el, "from", ctx->from->bare);
    if (ctx->from != NULL)
        xs_elem_set_attr(reply->el, "to", ctx->from->full);
    xs_router_route(reply);
}

void
xs_router_finish(struct xs_stanza_ctx *ctx, enum xs_verdict v)
{
    switch (v) {
    case XS_PASS:
    case XS_HANDLED:
        stats.delivered++;
        xs_stanza_unref(ctx->st);
        break;
    case XS_DROP:
        stats.dropped++;
        if (ctx->why != NULL)
            xs_log(XS_LOG_DEBUG, "router: drop from=%s: %s",
                ctx->from ? ctx->from->full : "?", ctx->why);
        xs_stanza_unref(ctx->st);
        break;
    case XS_BOUNCE:
        stats.bounced++;
        if (ctx->why != NULL)
            xs_log(XS_LOG_DEBUG, "router: bounce from=%s %s: %s",
                ctx->from ? ctx->from->full : "?",
                xs_stanza_err_name(ctx->err), ctx->why);
        router_bounce(ctx);
        xs_stanza_unref(ctx->st);
        break;
    case XS_STOLEN:
        break;
    }
    ctx->st = NULL;
}

void
xs_router_reply(struct xs_stanza_ctx *ctx, struct xs_stanza *reply)
{
    /* A request with no 'to' went to the sender's own account (RFC 6120
     * 10.3.3): the answer comes from that account's bare JID. */
    if (xs_elem_attr(reply->el, "from") == NULL && ctx->from != NULL)
        xs_elem_set_attr(reply->el, "from", ctx->from->bare);
    if (xs_elem_attr(reply->el, "to") == NULL && ctx->from != NULL)
        xs_elem_set_attr(reply->el, "to", ctx->from->full);
    xs_router_route(reply);
}

static void
router_send(struct xs_session *s, struct xs_stanza *st)
{
    xs_session_send(s, xs_stanza_ref(st));
}

/* The available sessions of a bare JID with the highest non-negative
 * priority (RFC 6121 8.5.2.1.1); returns how many got st.  Sessions are
 * chosen first, then sent to: a send may close one. */
static size_t
router_to_best(const char *bare, struct xs_stanza *st, bool all_nonneg)
{
    size_t n, sent = 0;
    uint64_t *ids = xs_sm_session_ids(bare, &n);
    int best = -1;

    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s != NULL && s->is_available && s->priority > best)
            best = s->priority;
    }
    for (size_t i = 0; best >= 0 && i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s == NULL || !s->is_available || s->priority < 0)
            continue;
        if (all_nonneg || s->priority == best) {
            router_send(s, st);
            sent++;
        }
    }
    xs_free(ids);
    return sent;
}

/* Every available session of a bare JID (presence to a bare JID). */
static size_t
router_to_available(const char *bare, struct xs_stanza *st)
{
    size_t n, sent = 0;
    uint64_t *ids = xs_sm_session_ids(bare, &n);

    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s != NULL && s->is_available) {
            router_send(s, st);
            sent++;
        }
    }
    xs_free(ids);
    return sent;
}

static enum xs_verdict
router_message_to_account(struct xs_stanza_ctx *ctx, const struct xs_jid *to)
{
    const char *type = xs_stanza_attr(ctx->st, "type");
    struct xs_session *s;
    enum xs_verdict v;

    if (type == NULL)
        type = "normal";
    if (to->resource != NULL && (s = xs_sm_find(to)) != NULL) {
        router_send(s, ctx->st);
        return XS_HANDLED;
    }
    /* RFC 6121 8.5.3.2.1 and 8.5.2.1.1: no such resource. */
    if (strcmp(type, "error") == 0)
        return XS_DROP;
    if (strcmp(type, "groupchat") == 0) {
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        ctx->why = "groupchat to a user";
        return XS_BOUNCE;
    }
    if (router_to_best(to->bare, ctx->st, strcmp(type, "headline") == 0) > 0)
        return XS_HANDLED;
    if (strcmp(type, "headline") == 0)
        return XS_DROP;
    /* RFC 6121 8.5.2.2.1: stored (offline module) or refused. */
    v = xs_hook_run(XS_HOOK_OFFLINE, ctx);
    if (v != XS_PASS)
        return v;
    ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
    ctx->why = "recipient has no available resource";
    return XS_BOUNCE;
}

static enum xs_verdict
router_presence_to_account(struct xs_stanza_ctx *ctx, const struct xs_jid *to)
{
    struct xs_session *s;

    if (to->resource != NULL) {
        if ((s = xs_sm_find(to)) != NULL) {
            router_send(s, ctx->st);
            return XS_HANDLED;
        }
        return XS_DROP;     /* presence never bounces for absence */
    }
    router_to_available(to->bare, ctx->st);
    return XS_HANDLED;
}

static enum xs_verdict
router_iq_to_account(struct xs_stanza_ctx *ctx, const struct xs_jid *to)
{
    bool is_request = xs_stanza_type_is(ctx->st, "get") ||
        xs_stanza_type_is(ctx->st, "set");
    struct xs_session *s;

    if (to == NULL || to->resource == NULL) {
        /* Handled by the server on the account's behalf (RFC 6120 10.5.4). */
        return xs_iq_dispatch(ctx, XS_IQ_ACCOUNT);
    }
    if ((s = xs_sm_find(to)) != NULL) {
        router_send(s, ctx->st);
        return XS_HANDLED;
    }
    if (!is_request)
        return XS_DROP;
    ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
    ctx->why = "iq to a resource that is not online";
    return XS_BOUNCE;
}

static enum xs_verdict
router_to_account(struct xs_stanza_ctx *ctx)
{
    const struct xs_jid *to = ctx->to != NULL ? ctx->to : ctx->from;
    enum xs_verdict v;

    v = xs_hook_run(XS_HOOK_DELIVER, ctx);
    if (v != XS_PASS)
        return v;
    switch (ctx->kind) {
    case XS_K_MESSAGE:
        return router_message_to_account(ctx, to);
    case XS_K_PRESENCE:
        return router_presence_to_account(ctx, to);
    case XS_K_IQ:
        return router_iq_to_account(ctx, ctx->to);
    default:
        return XS_DROP;
    }
}

static enum xs_verdict
router_to_server(struct xs_stanza_ctx *ctx)
{
    switch (ctx->kind) {
    case XS_K_IQ:
        return xs_iq_dispatch(ctx, XS_IQ_HOST);
    case XS_K_MESSAGE:
        if (xs_stanza_type_is(ctx->st, "error") ||
            xs_stanza_type_is(ctx->st, "headline"))
            return XS_DROP;
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        ctx->why = "message to the server";
        return XS_BOUNCE;
    default:
        return XS_DROP;     /* presence to the server: nothing to do yet */
    }
}

static enum xs_verdict
router_dispatch(struct xs_stanza_ctx *ctx)
{
    enum xs_verdict v;

    stats.routed++;
    v = xs_hook_run(XS_HOOK_ROUTE, ctx);
    if (v != XS_PASS)
        return v;
    if (ctx->to == NULL)
        return router_to_account(ctx);
    if (!xs_conf_is_local_host(xs_server()->conf, ctx->to->domain))
        return xs_s2s_route(ctx);
    if (ctx->to->local == NULL)
        return router_to_server(ctx);
    return router_to_account(ctx);
}

void
xs_router_from_client(struct xs_session *s, struct xs_stanza *st,
    struct xs_jid *to)
{
    struct xs_stanza_ctx ctx = {
        .origin = s, .st = st, .from = s->jid, .to = to, .kind = st->kind,
    };
    enum xs_verdict v;

    v = xs_hook_run(XS_HOOK_C2S_IN, &ctx);
    if (v == XS_PASS)
        v = router_dispatch(&ctx);
    xs_router_finish(&ctx, v);
    xs_jid_free(to);
}

void
xs_router_from_remote(struct xs_stanza *st, struct xs_jid *from,
    struct xs_jid *to)
{
    struct xs_stanza_ctx ctx = {
        .st = st, .from = from, .to = to, .kind = st->kind,
    };
    enum xs_verdict v;

    v = xs_hook_run(XS_HOOK_S2S_IN, &ctx);
    if (v == XS_PASS)
        v = router_dispatch(&ctx);
    xs_router_finish(&ctx, v);
    xs_jid_free(from);
    xs_jid_free(to);
}

void
xs_router_route(struct xs_stanza *st)
{
    const char *from_s = xs_stanza_attr(st, "from");
    const char *to_s = xs_stanza_attr(st, "to");
    struct xs_jid *from = NULL, *to = NULL;
    struct xs_stanza_ctx ctx = { .st = st, .kind = st->kind };

    if (from_s == NULL || to_s == NULL || xs_jid_new(from_s, &from) != XS_OK ||
        xs_jid_new(to_s, &to) != XS_OK) {
        xs_log(XS_LOG_WARN, "router: internal stanza without valid from/to");
        xs_stanza_unref(st);
        goto done;
    }
    ctx.from = from;
    ctx.to = to;
    /* Every error the server generates comes this way: bounces
     * (router_bounce), IQ replies (xs_router_reply), modules' answers.
     * Clients' and peers' own errors enter by from_client/from_remote. */
    if (xs_stanza_type_is(st, "error"))
        xs_core_stats.stanza_errors++;
    xs_router_finish(&ctx, router_dispatch(&ctx));
done:
    xs_jid_free(from);
    xs_jid_free(to);
}
