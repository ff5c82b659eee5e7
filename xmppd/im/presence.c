/*
 * presence.c: a session's own presence (RFC 6121 section 4): availability
 * and priority from the broadcast presence, shared with the user's other
 * resources, and unavailable when a session ends.  Rosters and
 * subscriptions (issue 3) extend the broadcast to contacts.
 */
#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/module.h"

#include <stdlib.h>
#include <string.h>

static int
presence_priority(const struct xs_elem *el)
{
    char *text = xs_elem_child_text(el, XS_NS_CLIENT, "priority");
    char *end;
    long v;

    if (text == NULL)
        return 0;
    v = strtol(text, &end, 10);
    if (end == text || *end != '\0' || v < -128 || v > 127)
        v = 0;          /* RFC 6121 4.7.2.3: an integer in -128..127 */
    xs_free(text);
    return (int)v;
}

/* Send st to every available resource of the user (the sender too). */
static void
presence_to_own_resources(const struct xs_session *from, struct xs_stanza *st)
{
    size_t n;
    struct xs_session *const *v = xs_sm_sessions(from->jid->bare, &n);

    for (size_t i = 0; i < n; i++) {
        if (v[i]->is_available || v[i] == from)
            xs_session_send(v[i], xs_stanza_ref(st));
    }
}

static enum xs_verdict
presence_on_broadcast(struct xs_stanza_ctx *ctx, void *state)
{
    struct xs_session *s = ctx->origin;
    const char *type = xs_stanza_attr(ctx->st, "type");

    (void)state;
    if (ctx->to != NULL || s == NULL)
        return XS_PASS;         /* directed presence: routed */
    if (type == NULL) {
        bool was_available = s->is_available;

        s->priority = presence_priority(ctx->st->el);
        s->is_available = true;
        if (!was_available) {
            xs_stanza_unref(s->presence);
            s->presence = xs_stanza_ref(ctx->st);
            presence_to_own_resources(s, ctx->st);
            xs_event_fire(XS_EV_SESSION_AVAILABLE, s);
            return XS_HANDLED;
        }
    } else if (strcmp(type, "unavailable") == 0) {
        s->is_available = false;
    } else {
        return XS_DROP;         /* subscriptions need a 'to' */
    }
    xs_stanza_unref(s->presence);
    s->presence = xs_stanza_ref(ctx->st);
    presence_to_own_resources(s, ctx->st);
    return XS_HANDLED;
}

static void
presence_on_closed(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;
    struct xs_elem *el;
    struct xs_stanza *st;

    (void)ev, (void)state;
    if (s->jid == NULL || !s->is_available)
        return;
    s->is_available = false;
    el = xs_elem_new(XS_NS_CLIENT, "presence");
    xs_elem_set_attr(el, "from", s->jid->full);
    xs_elem_set_attr(el, "type", "unavailable");
    st = xs_stanza_new(el);
    presence_to_own_resources(s, st);   /* s is unbound: not included */
    xs_stanza_unref(st);
}

static const struct xs_hook_spec presence_hooks[] = {
    { XS_HOOK_C2S_IN, XS_K_PRESENCE, XS_PRIO_DEFAULT, presence_on_broadcast },
    { 0 }
};

static const struct xs_event_spec presence_events[] = {
    { XS_EV_SESSION_CLOSED, presence_on_closed },
    { 0 }
};

const struct xs_module xs_mod_presence = {
    .name = "presence",
    .abi = XS_MODULE_ABI,
    .hooks = presence_hooks,
    .events = presence_events,
};
