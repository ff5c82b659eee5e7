/* version.c: XEP-0092 Software Version of the server. */
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/router.h"

#include <string.h>

#define NS_VERSION "jabber:iq:version"

static void
version_add(struct xs_elem *q, const char *name, const char *text)
{
    xs_elem_add_text(xs_elem_add_child(q, NULL, name), text, strlen(text));
}

static enum xs_verdict
version_on_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    struct xs_stanza *r = xs_stanza_iq_result(ctx->st);
    struct xs_elem *q = xs_elem_add_child(r->el, NS_VERSION, "query");

    (void)payload, (void)state;
    /* No <os/>: the operating system is nobody's business (ejabberd's
     * show_os: false). */
    version_add(q, "name", "xmppd");
    version_add(q, "version", XS_VERSION);
    xs_router_reply(ctx, r);
    return XS_HANDLED;
}

static const struct xs_iq_spec version_iqs[] = {
    { NS_VERSION, "query", XS_IQ_GET, XS_IQ_HOST, version_on_get },
    { 0 }
};

static const char *const version_features[] = { NS_VERSION, NULL };

const struct xs_module xs_mod_version = {
    .name = "version",
    .abi = XS_MODULE_ABI,
    .iqs = version_iqs,
    .features = version_features,
};
