/*
 * presence.c: presence (RFC 6121 section 4), the module mod_presence.
 *
 *   initial presence   to the user's resources and to contacts with a
 *                      subscription 'from'/'both'; the presence of the
 *                      contacts the user is subscribed to ('to'/'both')
 *                      comes back (4.2, 4.3); XS_EV_SESSION_AVAILABLE fires
 *   updates            to the user's resources and 'from' contacts (4.4)
 *   unavailable        the same, plus every entity that got directed
 *                      presence from the session (4.5, 4.6); sent by the
 *                      server too when a session ends, however it ends
 *   directed presence  routed as it is, its recipients remembered (4.6)
 *   probes             answered from memory with the last presence of
 *                      each available resource (4.3.2)
 *
 * Everything here reads memory only (sessions, rosters of online users):
 * presence is the busiest traffic and never waits for the database.  A
 * local contact's presence is answered directly instead of probing it
 * through the router; remote contacts get a real probe (s2s, issue 4).
 * Each recipient gets its own copy, routed, so that the router's hooks
 * (blocking, policy) see every one.
 */
#include "xmppd/im/presence.h"

#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/im/roster.h"
#include "xmppd/router.h"

#include <search.h>
#include <stdlib.h>
#include <string.h>

/* Directed-presence recipients remembered per session (4.6.3); past it,
 * the oldest is forgotten (it gets no unavailable at logout). */
#define PRESENCE_DIRECTED_MAX 256

/* What a session sent directed available presence to. */
struct pres_sess {
    uint64_t  id;
    char    **directed;         /* owned: full or bare JIDs, owned */
    size_t    n;
};

static void *pres_sessions;     /* tsearch tree of struct pres_sess */

static int
pres_sess_cmp(const void *a, const void *b)
{
    const struct pres_sess *x = a, *y = b;

    return (x->id > y->id) - (x->id < y->id);
}

static struct pres_sess *
pres_sess_lookup(uint64_t id, bool create)
{
    struct pres_sess key = { .id = id }, *ps;
    void *found = tfind(&key, &pres_sessions, pres_sess_cmp);

    if (found != NULL)
        return *(struct pres_sess **)found;
    if (!create)
        return NULL;
    ps = xs_calloc(1, sizeof(*ps));
    ps->id = id;
    tsearch(ps, &pres_sessions, pres_sess_cmp);
    return ps;
}

static void
pres_sess_free(struct pres_sess *ps)
{
    tdelete(ps, &pres_sessions, pres_sess_cmp);
    for (size_t i = 0; i < ps->n; i++)
        xs_free(ps->directed[i]);
    xs_free(ps->directed);
    xs_free(ps);
}

static void
pres_directed_add(uint64_t id, const char *jid)
{
    struct pres_sess *ps = pres_sess_lookup(id, true);

    for (size_t i = 0; i < ps->n; i++) {
        if (strcmp(ps->directed[i], jid) == 0)
            return;
    }
    if (ps->n == PRESENCE_DIRECTED_MAX) {
        xs_free(ps->directed[0]);
        memmove(&ps->directed[0], &ps->directed[1],
            (ps->n - 1) * sizeof(ps->directed[0]));
        ps->n--;
    }
    ps->directed = xs_reallocarray(ps->directed, ps->n + 1,
        sizeof(ps->directed[0]));
    ps->directed[ps->n++] = xs_strdup(jid);
}

static void
pres_directed_remove(uint64_t id, const char *jid)
{
    struct pres_sess *ps = pres_sess_lookup(id, false);

    for (size_t i = 0; ps != NULL && i < ps->n; i++) {
        if (strcmp(ps->directed[i], jid) == 0) {
            xs_free(ps->directed[i]);
            ps->directed[i] = ps->directed[--ps->n];
            return;
        }
    }
}

/* ---- helpers ---- */

/* A list of owned strings. */
struct strv {
    char  **v;
    size_t  n;
};

static void
strv_add(struct strv *sv, const char *s)
{
    sv->v = xs_reallocarray(sv->v, sv->n + 1, sizeof(sv->v[0]));
    sv->v[sv->n++] = xs_strdup(s);
}

static bool
strv_has(const struct strv *sv, const char *s)
{
    for (size_t i = 0; i < sv->n; i++) {
        if (strcmp(sv->v[i], s) == 0)
            return true;
    }
    return false;
}

static void
strv_free(struct strv *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        xs_free(sv->v[i]);
    xs_free(sv->v);
    sv->v = NULL;
    sv->n = 0;
}

static bool
sub_has_from(enum xs_sub s)
{
    return s == XS_SUB_FROM || s == XS_SUB_BOTH;
}

static bool
sub_has_to(enum xs_sub s)
{
    return s == XS_SUB_TO || s == XS_SUB_BOTH;
}

static void
pres_collect_from(const struct xs_roster_item *it, void *ud)
{
    if (it->is_item && sub_has_from(it->sub))
        strv_add(ud, it->contact);
}

static void
pres_collect_to(const struct xs_roster_item *it, void *ud)
{
    if (it->is_item && sub_has_to(it->sub))
        strv_add(ud, it->contact);
}

/* The owner's contacts that may see its presence, copied: routing may
 * close sessions and free the roster. */
static void
pres_contacts(const char *owner_bare, xs_roster_each_fn *fn,
    struct strv *out)
{
    xs_roster_each(xs_roster_loaded(owner_bare), fn, out);
}

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

/* A copy of el addressed to 'to', routed. */
static void
pres_route_copy(const struct xs_elem *el, const char *from, const char *to)
{
    struct xs_stanza *st = xs_stanza_new(xs_elem_copy(el));

    if (from != NULL)
        xs_elem_set_attr(st->el, "from", from);
    xs_elem_set_attr(st->el, "to", to);
    xs_router_route(st);
}

static void
pres_route_unavailable(const char *from, const char *to)
{
    struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, "presence");

    xs_elem_set_attr(el, "from", from);
    xs_elem_set_attr(el, "to", to);
    xs_elem_set_attr(el, "type", "unavailable");
    xs_router_route(xs_stanza_new(el));
}

/* st to every available resource of bare, and to self_id whatever. */
static void
pres_to_own(const char *bare, uint64_t self_id, struct xs_stanza *st)
{
    size_t n;
    uint64_t *ids = xs_sm_session_ids(bare, &n);

    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s != NULL && (s->is_available || s->id == self_id))
            xs_session_send(s, xs_stanza_ref(st));
    }
    xs_free(ids);
}

/* A copy of el (from a resource of the owner) to each contact. */
static void
pres_to_contacts(const struct strv *contacts, const struct xs_elem *el)
{
    for (size_t i = 0; i < contacts->n; i++)
        pres_route_copy(el, NULL, contacts->v[i]);
}

/* ---- presence.h ---- */

static size_t
pres_send_current(const char *owner_bare, const char *to)
{
    size_t n, sent = 0;
    uint64_t *ids = xs_sm_session_ids(owner_bare, &n);

    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s == NULL || !s->is_available || s->presence == NULL)
            continue;
        pres_route_copy(s->presence->el, s->jid->full, to);
        sent++;
    }
    xs_free(ids);
    return sent;
}

void
xs_presence_send_current(const char *owner_bare, const char *contact)
{
    (void)pres_send_current(owner_bare, contact);
}

void
xs_presence_send_unavailable(const char *owner_bare, const char *contact)
{
    size_t n;
    uint64_t *ids = xs_sm_session_ids(owner_bare, &n);

    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s != NULL && s->is_available)
            pres_route_unavailable(s->jid->full, contact);
    }
    xs_free(ids);
}

/* ---- probes (4.3) ---- */

/*
 * The owner's answer to a probe from prober_bare, sent to 'to': the last
 * presence of each available resource, or unavailable from the bare JID
 * when there is none.  Only for a prober the owner lets see its presence
 * ('from'), or, when the owner is offline and its roster not in memory,
 * when the caller vouches for it (a local prober whose own roster says
 * 'to': the two rosters are kept in step by this server).
 */
static void
pres_answer_probe(const char *owner_bare, const char *prober_bare,
    const char *to, bool is_vouched)
{
    const struct xs_roster *r = xs_roster_loaded(owner_bare);

    if (r != NULL && strcmp(owner_bare, prober_bare) != 0) {
        const struct xs_roster_item *it = xs_roster_item(r, prober_bare);

        if (it == NULL || !it->is_item || !sub_has_from(it->sub))
            return;         /* 4.3.2: not subscribed: nothing revealed */
    } else if (r == NULL && !is_vouched) {
        return;
    }
    if (pres_send_current(owner_bare, to) == 0)
        pres_route_unavailable(owner_bare, to);
}

static bool
pres_is_local(const char *jid, char **bare_out)
{
    struct xs_jid *j = NULL;
    bool is_local;

    if (xs_jid_new(jid, &j) != XS_OK)
        return false;
    is_local = j->local != NULL &&
        xs_conf_is_local_host(xs_server()->conf, j->domain);
    if (bare_out != NULL)
        *bare_out = xs_strdup(j->bare);
    xs_jid_free(j);
    return is_local;
}

/* Initial presence of session s: the presence of everyone s may see. */
static void
pres_probe_contacts(const char *bare, const char *full, uint64_t self_id)
{
    struct strv to = { 0 };
    size_t n;
    uint64_t *ids;

    /* The user's other available resources (4.2.2). */
    ids = xs_sm_session_ids(bare, &n);
    for (size_t i = 0; i < n; i++) {
        struct xs_session *o = xs_session_by_id(ids[i]);
        struct xs_session *self = xs_session_by_id(self_id);

        if (o != NULL && self != NULL && o != self && o->is_available &&
            o->presence != NULL)
            xs_session_send(self, xs_stanza_ref(o->presence));
    }
    xs_free(ids);

    pres_contacts(bare, pres_collect_to, &to);
    for (size_t i = 0; i < to.n; i++) {
        if (pres_is_local(to.v[i], NULL)) {
            pres_answer_probe(to.v[i], bare, full, true);
        } else {
            struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, "presence");

            xs_elem_set_attr(el, "from", bare);
            xs_elem_set_attr(el, "to", to.v[i]);
            xs_elem_set_attr(el, "type", "probe");
            xs_router_route(xs_stanza_new(el));
        }
    }
    strv_free(&to);
}

/* A probe to a local account (from a client, or later over s2s). */
static enum xs_verdict
presence_on_deliver(struct xs_stanza_ctx *ctx, void *state)
{
    const struct xs_jid *to = ctx->to != NULL ? ctx->to : ctx->from;
    const struct xs_roster_item *it;
    bool is_vouched = false;

    (void)state;
    if (!xs_stanza_type_is(ctx->st, "probe"))
        return XS_PASS;
    if (to->local == NULL)
        return XS_DROP;
    if (pres_is_local(ctx->from->full, NULL)) {
        it = xs_roster_item(xs_roster_loaded(ctx->from->bare), to->bare);
        is_vouched = it != NULL && it->is_item && sub_has_to(it->sub);
    }
    pres_answer_probe(to->bare, ctx->from->bare, ctx->from->full,
        is_vouched);
    return XS_HANDLED;          /* probes are the server's business */
}

/* ---- broadcasts ---- */

/* Unavailable from session s to its contacts and directed recipients. */
static void
pres_unavailable_out(const char *bare, uint64_t id,
    const struct xs_elem *el, bool was_available)
{
    struct pres_sess *ps = pres_sess_lookup(id, false);
    struct strv from = { 0 };

    if (was_available) {
        pres_contacts(bare, pres_collect_from, &from);
        pres_to_contacts(&from, el);
    }
    if (ps != NULL) {
        /* 4.6.3: the entities that got directed presence. */
        struct strv directed = { .v = ps->directed, .n = ps->n };

        ps->directed = NULL;
        ps->n = 0;
        for (size_t i = 0; i < directed.n; i++) {
            char *dbare = NULL;

            (void)pres_is_local(directed.v[i], &dbare);
            if (dbare == NULL || !strv_has(&from, dbare))
                pres_route_copy(el, NULL, directed.v[i]);
            xs_free(dbare);
        }
        strv_free(&directed);
    }
    strv_free(&from);
}

static enum xs_verdict
presence_on_c2s(struct xs_stanza_ctx *ctx, void *state)
{
    struct xs_session *s = ctx->origin;
    const char *type = xs_stanza_attr(ctx->st, "type");
    struct strv from = { 0 };
    char *bare, *full;
    uint64_t id;
    bool was_available;

    (void)state;
    if (s == NULL)
        return XS_PASS;
    if (ctx->to != NULL) {
        /* Directed presence (4.6): routed; its recipients remembered. */
        if (strcmp(ctx->to->bare, ctx->from->bare) == 0)
            return XS_PASS;
        if (type == NULL)
            pres_directed_add(s->id, ctx->to->full);
        else if (strcmp(type, "unavailable") == 0)
            pres_directed_remove(s->id, ctx->to->full);
        return XS_PASS;
    }
    if (type != NULL && strcmp(type, "unavailable") != 0)
        return XS_DROP;         /* subscriptions and probes need a 'to' */

    /* s may be closed by any send below: work from copies. */
    bare = xs_strdup(s->jid->bare);
    full = xs_strdup(s->jid->full);
    id = s->id;
    was_available = s->is_available;
    s->is_available = type == NULL;
    if (type == NULL)
        s->priority = presence_priority(ctx->st->el);
    xs_stanza_unref(s->presence);
    s->presence = xs_stanza_ref(ctx->st);

    pres_to_own(bare, id, ctx->st);
    if (type == NULL) {
        pres_contacts(bare, pres_collect_from, &from);
        pres_to_contacts(&from, ctx->st->el);
        strv_free(&from);
        if (!was_available) {
            pres_probe_contacts(bare, full, id);
            if ((s = xs_session_by_id(id)) != NULL)
                xs_event_fire(XS_EV_SESSION_AVAILABLE, s);
        }
    } else {
        pres_unavailable_out(bare, id, ctx->st->el, was_available);
    }
    xs_free(bare);
    xs_free(full);
    return XS_HANDLED;
}

/* A session ended (closed, stream error, lost connection): 4.5.2. */
static void
presence_on_closed(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;
    struct pres_sess *ps;
    struct xs_elem *el;
    struct xs_stanza *st;
    bool was_available;
    char *bare;

    (void)ev, (void)state;
    if (s->jid == NULL)
        return;
    was_available = s->is_available;
    ps = pres_sess_lookup(s->id, false);
    if (!was_available && ps == NULL)
        return;
    s->is_available = false;
    el = xs_elem_new(XS_NS_CLIENT, "presence");
    xs_elem_set_attr(el, "from", s->jid->full);
    xs_elem_set_attr(el, "type", "unavailable");
    st = xs_stanza_new(el);
    bare = xs_strdup(s->jid->bare);
    if (was_available)
        pres_to_own(bare, 0, st);       /* s is unbound: not included */
    pres_unavailable_out(bare, s->id, st->el, was_available);
    if ((ps = pres_sess_lookup(s->id, false)) != NULL)
        pres_sess_free(ps);
    xs_stanza_unref(st);
    xs_free(bare);
}

static void
presence_fini(void *state)
{
    (void)state;
    while (pres_sessions != NULL)
        pres_sess_free(*(struct pres_sess **)pres_sessions);
}

static const struct xs_hook_spec presence_hooks[] = {
    { XS_HOOK_C2S_IN, XS_K_PRESENCE, XS_PRIO_DEFAULT, presence_on_c2s },
    { XS_HOOK_DELIVER, XS_K_PRESENCE, XS_PRIO_DEFAULT, presence_on_deliver },
    { 0 }
};

static const struct xs_event_spec presence_events[] = {
    { XS_EV_SESSION_CLOSED, presence_on_closed },
    { 0 }
};

const struct xs_module xs_mod_presence = {
    .name = "presence",
    .abi = XS_MODULE_ABI,
    .fini = presence_fini,
    .hooks = presence_hooks,
    .events = presence_events,
};
