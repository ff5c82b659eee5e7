/* ping.c: XEP-0199 XMPP Ping, answered by the server for its domains. */
#include "xmppd/core/module.h"
#include "xmppd/router.h"

#define NS_PING "urn:xmpp:ping"

static enum xs_verdict
ping_on_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    (void)payload, (void)state;
    xs_router_reply(ctx, xs_stanza_iq_result(ctx->st));
    return XS_HANDLED;
}

static const struct xs_iq_spec ping_iqs[] = {
    { NS_PING, "ping", XS_IQ_GET, XS_IQ_HOST, ping_on_get },
    { 0 }
};

static const char *const ping_features[] = { NS_PING, NULL };

const struct xs_module xs_mod_ping = {
    .name = "ping",
    .abi = XS_MODULE_ABI,
    .iqs = ping_iqs,
    .features = ping_features,
};
