/*
 * disco.c: XEP-0030 Service Discovery for the server's domains (identity
 * server/im, every loaded module's features) and for accounts, asked by
 * their owner (identity account/registered).
 */
#include "xmppd/core/module.h"
#include "xmppd/router.h"

#include <string.h>

#define NS_DISCO_INFO  "http://jabber.org/protocol/disco#info"
#define NS_DISCO_ITEMS "http://jabber.org/protocol/disco#items"

static void
disco_add_feature(const char *feature, void *ud)
{
    struct xs_elem *q = ud;

    xs_elem_set_attr(xs_elem_add_child(q, NULL, "feature"), "var", feature);
}

static void
disco_add_identity(struct xs_elem *q, const char *category, const char *type,
    const char *name)
{
    struct xs_elem *id = xs_elem_add_child(q, NULL, "identity");

    xs_elem_set_attr(id, "category", category);
    xs_elem_set_attr(id, "type", type);
    if (name != NULL)
        xs_elem_set_attr(id, "name", name);
}

static void
disco_add_module_identity(const struct xs_disco_identity *id, void *ud)
{
    disco_add_identity(ud, id->category, id->type, id->name);
}

static bool
disco_from_owner(const struct xs_stanza_ctx *ctx)
{
    return ctx->to == NULL ||
        strcmp(ctx->to->bare, ctx->from->bare) == 0;
}

/* What both queries refuse: nodes (none exist yet), and an account's
 * disco from anyone but its owner. */
static enum xs_verdict
disco_check(struct xs_stanza_ctx *ctx, const struct xs_elem *payload,
    bool is_host)
{
    if (xs_elem_attr(payload, "node") != NULL) {
        ctx->err = XS_SERR_ITEM_NOT_FOUND;
        return XS_BOUNCE;
    }
    if (!is_host && !disco_from_owner(ctx)) {
        /* TODO: contacts with a subscription (RFC 6121 roster). */
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        return XS_BOUNCE;
    }
    return XS_PASS;
}

static enum xs_verdict
disco_on_info(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    bool is_host = ctx->to != NULL && ctx->to->local == NULL;
    struct xs_stanza *r;
    struct xs_elem *q;

    enum xs_verdict v = disco_check(ctx, payload, is_host);

    (void)state;
    if (v != XS_PASS)
        return v;
    r = xs_stanza_iq_result(ctx->st);
    q = xs_elem_add_child(r->el, NS_DISCO_INFO, "query");
    if (is_host) {
        disco_add_identity(q, "server", "im", "xmppd");
        xs_modules_each_identity(disco_add_module_identity, q);
        xs_modules_each_feature(disco_add_feature, q);
    } else {
        disco_add_identity(q, "account", "registered", NULL);
        disco_add_feature(NS_DISCO_INFO, q);
    }
    xs_router_reply(ctx, r);
    return XS_HANDLED;
}

static enum xs_verdict
disco_on_items(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    bool is_host = ctx->to != NULL && ctx->to->local == NULL;
    struct xs_stanza *r;

    enum xs_verdict v = disco_check(ctx, payload, is_host);

    (void)state;
    if (v != XS_PASS)
        return v;
    /* No items yet: components (MUC) will list themselves here. */
    r = xs_stanza_iq_result(ctx->st);
    xs_elem_add_child(r->el, NS_DISCO_ITEMS, "query");
    xs_router_reply(ctx, r);
    return XS_HANDLED;
}

static const struct xs_iq_spec disco_iqs[] = {
    { NS_DISCO_INFO, "query", XS_IQ_GET, XS_IQ_HOST | XS_IQ_ACCOUNT,
      disco_on_info },
    { NS_DISCO_ITEMS, "query", XS_IQ_GET, XS_IQ_HOST | XS_IQ_ACCOUNT,
      disco_on_items },
    { 0 }
};

static const char *const disco_features[] = {
    NS_DISCO_INFO, NS_DISCO_ITEMS, NULL
};

const struct xs_module xs_mod_disco = {
    .name = "disco",
    .abi = XS_MODULE_ABI,
    .iqs = disco_iqs,
    .features = disco_features,
};
