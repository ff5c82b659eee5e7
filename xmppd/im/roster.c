/*
 * roster.c: rosters and presence subscriptions (RFC 6121 sections 2 and
 * 3), the module mod_roster.
 *
 * Memory.  A user's roster is in memory while the user has a bound
 * session, loaded from PostgreSQL at bind (one query) with the session
 * paused, and freed with the last session.  A roster is also loaded, for
 * the time it takes, when a subscription stanza or an operator command is
 * for an account that is offline: the state machine then runs on the same
 * code path, and the offline store is just "the roster, written back".
 *
 * Order and durability.  Every change goes through the owner's FIFO of
 * operations: an operation is decided against the roster in memory (the
 * state machine of subscription.c), its one row is written (the row and
 * the roster version bump in one statement), and only once that commits
 * does the server answer, push, route or deliver.  One write per account
 * is in flight at a time: pgq may run two queued statements on two
 * connections, and the rows are written whole.  A session whose stanza is
 * in the FIFO is paused until it is done, so its later stanzas keep their
 * order.  A write that fails drops the roster from memory and reloads it,
 * so memory never stays ahead of what is committed.
 *
 * Lifetime.  A struct roster_user lives while it has a bound session, an
 * operation, a load or a write in flight, or a caller on the stack
 * (busy); ru_maybe_free() frees it otherwise.  Callbacks from the database
 * get the roster_user itself: it cannot be freed while a query is out.
 */
#include "xmppd/im/roster.h"

#include "db/roster.h"
#include "xmppd/admin/admin.h"
#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/module.h"
#include "xmppd/core/observers.h"
#include "xmppd/core/server.h"
#include "xmppd/im/presence.h"
#include "xmppd/im/subscription.h"
#include "xmppd/router.h"
#include "xmppd/xml/parser.h"

#include <search.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_ROSTER "jabber:iq:roster"
#define NS_NICK   "http://jabber.org/protocol/nick"
#define NS_RAA    "urn:xmpp:raa:0"
#define NS_TRUST  "urn:xmppd:trust:0"

/* A stored subscription request larger than this keeps no payload. */
#define ROSTER_ASK_STANZA_MAX 4096

/* Defaults of the mod_roster options (docs/configuration.md). */
#define ROSTER_MAX_ITEMS_DEFAULT        1000
#define ROSTER_MAX_NAME_DEFAULT         1023
#define ROSTER_MAX_GROUP_DEFAULT        1023
#define ROSTER_MAX_GROUPS_DEFAULT       64
#define ROSTER_MAX_PENDING_DEFAULT      100

struct roster_limits {
    size_t max_items;           /* roster items (is_item) per account */
    size_t max_name;            /* bytes of an item's name */
    size_t max_group;           /* bytes of a group name */
    size_t max_groups;          /* groups per item */
    size_t max_pending;         /* unanswered inbound requests kept */
};

static struct roster_limits limits = {
    ROSTER_MAX_ITEMS_DEFAULT, ROSTER_MAX_NAME_DEFAULT,
    ROSTER_MAX_GROUP_DEFAULT, ROSTER_MAX_GROUPS_DEFAULT,
    ROSTER_MAX_PENDING_DEFAULT,
};

/* ---- the roster in memory: a hash of entries by contact ---- */

struct roster_entry {
    struct xs_roster_item item;     /* first: xs_roster_item() returns it */
    char                 *ask_in_stanza;    /* owned: their request, or NULL */
    struct roster_entry  *next;     /* owned: the bucket's chain */
};

struct xs_roster {
    struct roster_entry **buckets;  /* owned; nbuckets is a power of two */
    size_t                nbuckets;
    size_t                count;    /* entries */
    size_t                nitems;   /* entries with is_item */
    size_t                npending; /* entries with ask_in */
    int64_t               version;  /* committed roster version */
};

static uint64_t
roster_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull;    /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    return h;
}

static struct xs_roster *
roster_new(void)
{
    struct xs_roster *r = xs_calloc(1, sizeof(*r));

    r->nbuckets = 16;
    r->buckets = xs_calloc(r->nbuckets, sizeof(r->buckets[0]));
    return r;
}

static void
entry_free(struct roster_entry *e)
{
    xs_free(e->item.contact);
    xs_free(e->item.name);
    for (size_t i = 0; i < e->item.ngroups; i++)
        xs_free(e->item.groups[i]);
    xs_free(e->item.groups);
    xs_free(e->ask_in_stanza);
    xs_free(e);
}

static void
roster_free(struct xs_roster *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nbuckets; i++) {
        struct roster_entry *e = r->buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->next;
            entry_free(e);
        }
    }
    xs_free(r->buckets);
    xs_free(r);
}

static struct roster_entry *
roster_find(const struct xs_roster *r, const char *contact)
{
    struct roster_entry *e;

    e = r->buckets[roster_hash(contact) & (r->nbuckets - 1)];
    for (; e != NULL; e = e->next) {
        if (strcmp(e->item.contact, contact) == 0)
            return e;
    }
    return NULL;
}

static void
roster_grow(struct xs_roster *r)
{
    size_t n = r->nbuckets * 2;
    struct roster_entry **b = xs_calloc(n, sizeof(b[0]));

    for (size_t i = 0; i < r->nbuckets; i++) {
        struct roster_entry *e = r->buckets[i], *next;

        for (; e != NULL; e = next) {
            size_t k = roster_hash(e->item.contact) & (n - 1);

            next = e->next;
            e->next = b[k];
            b[k] = e;
        }
    }
    xs_free(r->buckets);
    r->buckets = b;
    r->nbuckets = n;
}

/* Keep the counters right: call with -1 before changing e, +1 after. */
static void
roster_count(struct xs_roster *r, const struct roster_entry *e, int sign)
{
    if (e->item.is_item)
        r->nitems += (size_t)(ptrdiff_t)sign;
    if (e->item.ask_in)
        r->npending += (size_t)(ptrdiff_t)sign;
}

/* A new, empty entry (not an item, no subscription), counted. */
static struct roster_entry *
roster_add(struct xs_roster *r, const char *contact)
{
    struct roster_entry *e = xs_calloc(1, sizeof(*e));
    size_t k;

    if (r->count >= r->nbuckets)
        roster_grow(r);
    e->item.contact = xs_strdup(contact);
    e->item.name = xs_strdup("");
    e->item.sub = XS_SUB_NONE;
    k = roster_hash(contact) & (r->nbuckets - 1);
    e->next = r->buckets[k];
    r->buckets[k] = e;
    r->count++;
    return e;
}

static void
roster_remove(struct xs_roster *r, const char *contact)
{
    struct roster_entry **pp;

    pp = &r->buckets[roster_hash(contact) & (r->nbuckets - 1)];
    for (; *pp != NULL; pp = &(*pp)->next) {
        struct roster_entry *e = *pp;

        if (strcmp(e->item.contact, contact) != 0)
            continue;
        roster_count(r, e, -1);
        *pp = e->next;
        r->count--;
        entry_free(e);
        return;
    }
}

static void
entry_set_groups(struct roster_entry *e, const char *const *groups,
    size_t n)
{
    for (size_t i = 0; i < e->item.ngroups; i++)
        xs_free(e->item.groups[i]);
    xs_free(e->item.groups);
    e->item.groups = n > 0 ? xs_calloc(n, sizeof(char *)) : NULL;
    for (size_t i = 0; i < n; i++)
        e->item.groups[i] = xs_strdup(groups[i]);
    e->item.ngroups = n;
}

static void
entry_set_name(struct roster_entry *e, const char *name)
{
    xs_free(e->item.name);
    e->item.name = xs_strdup(name != NULL ? name : "");
}

static struct xs_sub_state
entry_state(const struct roster_entry *e)
{
    struct xs_sub_state st = { XS_SUB_NONE, false, false, false };

    if (e != NULL) {
        st.sub = e->item.sub;
        st.ask_out = e->item.ask_out;
        st.ask_in = e->item.ask_in;
        st.approved = e->item.approved;
    }
    return st;
}

/* A non-item entry with nothing pending is not worth a row. */
static bool
entry_is_empty(const struct roster_entry *e)
{
    return !e->item.is_item && e->item.sub == XS_SUB_NONE &&
        !e->item.ask_out && !e->item.ask_in && !e->item.approved;
}

static void
entry_to_row(const struct roster_entry *e, struct xs_roster_row *row)
{
    *row = (struct xs_roster_row){
        .contact = e->item.contact, .name = e->item.name,
        .subscription = xs_sub_name(e->item.sub),
        .ask_out = e->item.ask_out, .ask_in = e->item.ask_in,
        .ask_in_stanza = e->ask_in_stanza, .approved = e->item.approved,
        .is_item = e->item.is_item,
        .groups = (const char *const *)e->item.groups,
        .ngroups = e->item.ngroups,
    };
}

/* ---- operations ---- */

enum op_kind {
    OP_IQ_GET,          /* roster get (2.2) */
    OP_IQ_SET,          /* roster set: add, update (2.3, 2.4), remove (2.5) */
    OP_OUT_SUB,         /* a subscription stanza from the owner */
    OP_IN_SUB,          /* a subscription stanza to the owner */
    OP_ADMIN_GET,       /* get_roster */
    OP_ADMIN_SET,       /* add_rosteritem */
    OP_ADMIN_DEL,       /* delete_rosteritem */
};

struct roster_op {
    struct roster_op  *next;        /* owned by the FIFO: the next op */
    enum op_kind       kind;
    uint64_t           sess_id;     /* paused while the op waits; 0: none */
    struct xs_stanza  *st;          /* owned: the IQ or presence, or NULL */
    void              *admin;       /* admin call udata, or NULL */
    char              *contact;     /* owned: prepared bare JID */
    char              *sender;      /* owned: inbound: the sender's JID */
    /* A set: */
    bool               is_remove;
    char              *name;        /* owned */
    char             **groups;      /* owned */
    size_t             ngroups;
    enum xs_sub        sub;         /* admin set */
    /* A subscription stanza: */
    enum xs_sub_type   type;
    /* Decided, for the completion: */
    unsigned           act;         /* XS_SUBA_* */
    struct xs_sub_state prev;       /* the state before (to revert) */
    bool               was_entry;   /* an entry existed before */
    bool               was_item;    /* ... and it was an item */
    bool               is_deleted;  /* the row went away */
    bool               bump;        /* the write bumps the version */
};

static struct roster_op *
op_new(enum op_kind kind)
{
    struct roster_op *op = xs_calloc(1, sizeof(*op));

    op->kind = kind;
    return op;
}

static void
op_free(struct roster_op *op)
{
    if (op->sess_id != 0) {
        struct xs_session *s = xs_session_by_id(op->sess_id);

        if (s != NULL)
            xs_session_resume(s);
    }
    if (op->admin != NULL) {
        struct xs_admin_call *call = xs_admin_call_by_udata(op->admin);

        if (call != NULL)
            xs_admin_call_fail(call, 500, "Roster operation abandoned");
    }
    xs_stanza_unref(op->st);
    xs_free(op->contact);
    xs_free(op->sender);
    xs_free(op->name);
    for (size_t i = 0; i < op->ngroups; i++)
        xs_free(op->groups[i]);
    xs_free(op->groups);
    xs_free(op);
}

/* The admin call of op, now answered by the caller (NULL if abandoned). */
static struct xs_admin_call *
op_admin_take(struct roster_op *op)
{
    struct xs_admin_call *call = xs_admin_call_by_udata(op->admin);

    op->admin = NULL;
    return call;
}

/* ---- users: the roster and the bound sessions of one account ---- */

enum ru_state { RU_UNLOADED, RU_LOADING, RU_LOADED };

struct roster_sess {
    uint64_t id;
    bool     is_interested;     /* asked for the roster: gets pushes */
    bool     is_waiting_load;   /* paused until the roster is loaded */
};

struct roster_op;

struct roster_user {
    char               *bare;       /* owned: user@host */
    char               *user;       /* owned */
    char               *host;       /* owned */
    struct xs_roster   *roster;     /* owned; non-NULL when RU_LOADED */
    enum ru_state       state;
    bool                exists;     /* the account exists (from the load) */
    bool                needs_reload;   /* drop memory once idle */
    struct roster_sess *sess;       /* owned array: bound sessions */
    size_t              nsess;
    struct roster_op   *head;       /* owned: FIFO of waiting operations */
    struct roster_op   *tail;       /* borrowed: its last */
    struct roster_op   *inflight;   /* owned: the one being written */
    unsigned            busy;       /* callers on the stack */
};

static void *users;                 /* tsearch tree of struct roster_user */

static int
ru_cmp(const void *a, const void *b)
{
    return strcmp(((const struct roster_user *)a)->bare,
        ((const struct roster_user *)b)->bare);
}

static struct roster_user *
ru_lookup(const char *bare)
{
    struct roster_user key = { .bare = (char *)bare };
    void *found = tfind(&key, &users, ru_cmp);

    return found != NULL ? *(struct roster_user **)found : NULL;
}

/* The user of a local bare JID, created (unloaded) when needed. */
static struct roster_user *
ru_get(const struct xs_jid *bare)
{
    struct roster_user *ru = ru_lookup(bare->bare);

    if (ru != NULL)
        return ru;
    ru = xs_calloc(1, sizeof(*ru));
    ru->bare = xs_strdup(bare->bare);
    ru->user = xs_strdup(bare->local);
    ru->host = xs_strdup(bare->domain);
    tsearch(ru, &users, ru_cmp);
    return ru;
}

static struct roster_sess *
ru_sess(struct roster_user *ru, uint64_t id)
{
    for (size_t i = 0; i < ru->nsess; i++) {
        if (ru->sess[i].id == id)
            return &ru->sess[i];
    }
    return NULL;
}

static void
ru_free(struct roster_user *ru)
{
    tdelete(ru, &users, ru_cmp);
    roster_free(ru->roster);
    while (ru->head != NULL) {
        struct roster_op *op = ru->head;

        ru->head = op->next;
        op_free(op);
    }
    if (ru->inflight != NULL)
        op_free(ru->inflight);
    xs_free(ru->sess);
    xs_free(ru->bare);
    xs_free(ru->user);
    xs_free(ru->host);
    xs_free(ru);
}

static void
ru_maybe_free(struct roster_user *ru)
{
    if (ru->busy == 0 && ru->nsess == 0 && ru->head == NULL &&
        ru->inflight == NULL && ru->state != RU_LOADING)
        ru_free(ru);
}

/* ---- stanzas the roster sends ---- */

static char *
roster_version_str(int64_t v)
{
    return xs_asprintf("%" PRId64, v);
}

static void
roster_item_elem(struct xs_elem *q, const struct xs_roster_item *it)
{
    struct xs_elem *el = xs_elem_add_child(q, NULL, "item");

    xs_elem_set_attr(el, "jid", it->contact);
    if (it->name[0] != '\0')
        xs_elem_set_attr(el, "name", it->name);
    xs_elem_set_attr(el, "subscription", xs_sub_name(it->sub));
    if (it->ask_out)
        xs_elem_set_attr(el, "ask", "subscribe");
    if (it->approved)
        xs_elem_set_attr(el, "approved", "true");
    for (size_t i = 0; i < it->ngroups; i++) {
        struct xs_elem *g = xs_elem_add_child(el, NULL, "group");

        xs_elem_add_text(g, it->groups[i], strlen(it->groups[i]));
    }
}

/*
 * Push one item (or its removal when it is NULL) to every interested
 * resource (RFC 6121 2.1.6): an IQ set from the bare JID, written to the
 * sessions directly.  Their results come back to the bare JID and end in
 * the IQ dispatcher, which drops results.
 */
static void
roster_push(struct roster_user *ru, const char *contact,
    const struct xs_roster_item *it)
{
    char *ver = roster_version_str(ru->roster != NULL ?
        ru->roster->version : 0);
    struct xs_elem *iq, *q;
    struct xs_stanza *st;
    uint64_t *ids;
    size_t n;
    char id[33];

    iq = xs_elem_new(XS_NS_CLIENT, "iq");
    xs_elem_set_attr(iq, "type", "set");
    xs_elem_set_attr(iq, "from", ru->bare);
    q = xs_elem_add_child(iq, NS_ROSTER, "query");
    xs_elem_set_attr(q, "ver", ver);
    if (it != NULL) {
        roster_item_elem(q, it);
    } else {
        struct xs_elem *el = xs_elem_add_child(q, NULL, "item");

        xs_elem_set_attr(el, "jid", contact);
        xs_elem_set_attr(el, "subscription", "remove");
    }
    st = xs_stanza_new(iq);
    ids = xs_sm_session_ids(ru->bare, &n);
    ru->busy++;
    for (size_t i = 0; i < n; i++) {
        struct roster_sess *rs = ru_sess(ru, ids[i]);
        struct xs_session *s = xs_session_by_id(ids[i]);
        struct xs_stanza *one;

        if (rs == NULL || !rs->is_interested || s == NULL)
            continue;
        /* Each push has its own id and 'to': a copy per resource. */
        one = xs_stanza_new(xs_elem_copy(st->el));
        xs_random_id(id);
        xs_elem_set_attr(one->el, "id", id);
        xs_elem_set_attr(one->el, "to", s->jid->full);
        xs_session_send(s, one);
    }
    ru->busy--;
    xs_stanza_unref(st);
    xs_free(ids);
    xs_free(ver);
}

/* Send a result or error for an IQ; when the IQ had no 'to' the answer
 * comes from the account (RFC 6120 10.5.4). */
static void
roster_iq_answer(struct xs_stanza *reply, const char *owner_bare)
{
    if (xs_stanza_attr(reply, "from") == NULL)
        xs_elem_set_attr(reply->el, "from", owner_bare);
    xs_router_route(reply);
}

static void
roster_iq_error(const struct xs_stanza *st, enum xs_stanza_err err,
    const char *owner_bare)
{
    roster_iq_answer(xs_stanza_error_reply(st, err), owner_bare);
}

/* A presence error to the session that sent st (which has no 'from'
 * issue: c2s stamped it). */
static void
roster_presence_error(const struct xs_stanza *st, enum xs_stanza_err err)
{
    if (xs_stanza_may_bounce(st))
        xs_router_route(xs_stanza_error_reply(st, err));
}

/* <presence type=type from=from to=to/>, routed. */
static void
roster_route_presence(const char *type, const char *from, const char *to)
{
    struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, "presence");

    xs_elem_set_attr(el, "from", from);
    xs_elem_set_attr(el, "to", to);
    if (type != NULL)
        xs_elem_set_attr(el, "type", type);
    xs_router_route(xs_stanza_new(el));
}

/* Deliver st to every available resource of the owner (the router's
 * hooks already ran for it). */
static void
roster_deliver(struct roster_user *ru, struct xs_stanza *st)
{
    size_t n;
    uint64_t *ids = xs_sm_session_ids(ru->bare, &n);

    ru->busy++;
    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s != NULL && s->is_available)
            xs_session_send(s, xs_stanza_ref(st));
    }
    ru->busy--;
    xs_free(ids);
}

/*
 * What is kept of an inbound subscription request to deliver again at
 * each login: the addresses, and the payload that matters to the owner
 * (status, XEP-0172 nick, XEP-0489 trust info and our signature), within
 * ROSTER_ASK_STANZA_MAX bytes.
 */
static char *
roster_ask_stanza(const struct xs_stanza *st, const char *from,
    const char *to)
{
    struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, "presence");
    char *xml;

    xs_elem_set_attr(el, "from", from);
    xs_elem_set_attr(el, "to", to);
    xs_elem_set_attr(el, "type", "subscribe");
    for (struct xs_elem *c = xs_elem_first_elem(st->el); c != NULL;
        c = xs_elem_next_elem(c)) {
        bool keep = (strcmp(c->ns, XS_NS_CLIENT) == 0 &&
                     strcmp(c->name, "status") == 0) ||
            (strcmp(c->ns, NS_NICK) == 0 && strcmp(c->name, "nick") == 0) ||
            strcmp(c->ns, NS_RAA) == 0 || strcmp(c->ns, NS_TRUST) == 0;

        if (keep)
            xs_elem_append(el, xs_elem_copy(c));
    }
    xml = xs_elem_to_string(el, XS_NS_CLIENT);
    if (strlen(xml) > ROSTER_ASK_STANZA_MAX) {
        while (xs_elem_first_elem(el) != NULL)
            xs_elem_remove(el, xs_elem_first_elem(el));
        xs_free(xml);
        xml = xs_elem_to_string(el, XS_NS_CLIENT);
    }
    xs_elem_free(el);
    return xml;
}

/* Parse a stored request back into a stanza (NULL if it does not parse:
 * stored by us, so only a damaged row gets there). */
static struct xs_stanza *
roster_ask_parse(const char *xml)
{
    static const char open[] = "<stream:stream xmlns='" XS_NS_CLIENT
        "' xmlns:stream='" XS_NS_STREAMS "'>";
    struct xs_xml_limits lim = {
        .max_stanza = 2 * ROSTER_ASK_STANZA_MAX + 1024,
        .max_depth = 16, .max_attrs = 32,
    };
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_stanza *st = NULL;
    struct xs_xml_ev ev;

    if (xs_xml_feed(x, open, strlen(open)) == XS_STERR_NONE &&
        xs_xml_feed(x, xml, strlen(xml)) == XS_STERR_NONE) {
        while (xs_xml_pop(x, &ev)) {
            if (ev.type == XS_XEV_ELEM && st == NULL &&
                strcmp(ev.el->name, "presence") == 0)
                st = xs_stanza_new(ev.el);
            else
                xs_elem_free(ev.el);
        }
    }
    xs_xml_free(x);
    return st;
}

static void ru_run(struct roster_user *ru);
static void ru_load_start(struct roster_user *ru);

/* Queue op on the owner; a session that sent it is paused until done. */
static void
ru_enqueue(struct roster_user *ru, struct roster_op *op)
{
    if (op->sess_id != 0) {
        struct xs_session *s = xs_session_by_id(op->sess_id);

        if (s != NULL)
            xs_session_pause(s);
        else
            op->sess_id = 0;
    }
    if (ru->tail != NULL)
        ru->tail->next = op;
    else
        ru->head = op;
    ru->tail = op;
    ru_run(ru);
}

static void ru_on_write(xs_rc rc, bool stored, int64_t version,
    void *udata);

/* Write entry e (or its deletion) for op: the op is in flight after. */
static xs_rc
ru_write(struct roster_user *ru, struct roster_op *op,
    const struct roster_entry *e, const char *const *forms, size_t nforms)
{
    struct pgq *db = xs_server()->db;
    struct xs_roster_row row;

    ru->inflight = op;
    if (op->is_deleted)
        return xs_roster_db_delete(db, ru->user, ru->host, op->contact,
            op->bump, ru_on_write, ru);
    entry_to_row(e, &row);
    return xs_roster_db_put(db, ru->user, ru->host, &row, op->bump, forms,
        nforms, ru_on_write, ru);
}

/* The forms of a sender's JID its owner may have blocked (XEP-0191 3.4). */
static size_t
roster_block_forms(const char *sender, char *forms[4])
{
    struct xs_jid *j = NULL;
    size_t n = 0;

    if (sender == NULL || xs_jid_new(sender, &j) != XS_OK)
        return 0;
    if (j->resource != NULL) {
        forms[n++] = xs_strdup(j->full);
        forms[n++] = xs_asprintf("%s/%s", j->domain, j->resource);
    }
    forms[n++] = xs_strdup(j->bare);
    if (j->local != NULL)
        forms[n++] = xs_strdup(j->domain);
    xs_jid_free(j);
    return n;
}

/* ---- deciding ---- */

enum op_step { OP_DONE, OP_WRITING };

static void
roster_result_query(struct roster_user *ru, struct roster_op *op)
{
    struct xs_elem *q = xs_elem_child(op->st->el, NS_ROSTER, "query");
    const char *client_ver = q != NULL ? xs_elem_attr(q, "ver") : NULL;
    char *ver = roster_version_str(ru->roster->version);
    struct xs_stanza *r = xs_stanza_iq_result(op->st);
    struct roster_sess *rs = ru_sess(ru, op->sess_id);

    if (rs != NULL)
        rs->is_interested = true;       /* 2.1.6: it gets pushes now */
    /* XEP-0237 / RFC 6121 2.6.3: the client's copy is current. */
    if (client_ver == NULL || strcmp(client_ver, ver) != 0) {
        struct xs_elem *res = xs_elem_add_child(r->el, NS_ROSTER, "query");

        if (client_ver != NULL)
            xs_elem_set_attr(res, "ver", ver);
        for (size_t i = 0; i < ru->roster->nbuckets; i++) {
            for (struct roster_entry *e = ru->roster->buckets[i]; e != NULL;
                e = e->next) {
                if (e->item.is_item)
                    roster_item_elem(res, &e->item);
            }
        }
    }
    xs_free(ver);
    roster_iq_answer(r, ru->bare);
}

/* Roster set or admin set/delete: the new entry state.  Returns an error
 * condition (the op is then done) or XS_SERR_NONE. */
static enum xs_stanza_err
roster_decide_set(struct roster_user *ru, struct roster_op *op,
    struct roster_entry **out)
{
    struct xs_roster *r = ru->roster;
    struct roster_entry *e = roster_find(r, op->contact);

    *out = NULL;
    op->was_entry = e != NULL;
    op->was_item = e != NULL && e->item.is_item;
    op->prev = entry_state(e);
    if (op->is_remove) {
        if (!op->was_item)
            return XS_SERR_ITEM_NOT_FOUND;      /* 2.5.3 */
        op->is_deleted = true;
        op->bump = true;
        roster_remove(r, op->contact);
        return XS_SERR_NONE;
    }
    if (!op->was_item && r->nitems >= limits.max_items)
        return XS_SERR_RESOURCE_CONSTRAINT;
    if (e == NULL)
        e = roster_add(r, op->contact);
    roster_count(r, e, -1);
    e->item.is_item = true;
    entry_set_name(e, op->name);
    entry_set_groups(e, (const char *const *)op->groups, op->ngroups);
    if (op->kind == OP_ADMIN_SET) {
        /* An operator sets the state outright (ejabberd's
         * add_rosteritem); what it settles is no longer pending. */
        e->item.sub = op->sub;
        if (op->sub == XS_SUB_TO || op->sub == XS_SUB_BOTH)
            e->item.ask_out = false;
        if (op->sub == XS_SUB_FROM || op->sub == XS_SUB_BOTH) {
            e->item.ask_in = false;
            e->item.approved = false;
            xs_free(e->ask_in_stanza);
            e->ask_in_stanza = NULL;
        }
    }
    roster_count(r, e, +1);
    op->bump = true;
    *out = e;
    return XS_SERR_NONE;
}

/* A subscription stanza: apply the state machine to the entry. */
static enum xs_stanza_err
roster_decide_sub(struct roster_user *ru, struct roster_op *op,
    struct roster_entry **out)
{
    struct xs_roster *r = ru->roster;
    struct roster_entry *e = roster_find(r, op->contact);
    enum xs_sub_dir dir = op->kind == OP_OUT_SUB ? XS_SUB_OUTBOUND :
        XS_SUB_INBOUND;
    struct xs_sub_state st = entry_state(e);
    bool becomes_item;

    *out = NULL;
    op->was_entry = e != NULL;
    op->was_item = e != NULL && e->item.is_item;
    op->prev = st;
    op->act = xs_sub_apply(&st, dir, op->type, true);
    if (!(op->act & XS_SUBA_CHANGED))
        return XS_SERR_NONE;

    /* 3.1.2, 3.1.5, 3.4: what the owner asks or approves is on the
     * roster from then on; what others ask is not (3.1.3). */
    becomes_item = !op->was_item && dir == XS_SUB_OUTBOUND &&
        (op->type == XS_SUBT_SUBSCRIBE || op->type == XS_SUBT_SUBSCRIBED);
    if (becomes_item && r->nitems >= limits.max_items)
        return XS_SERR_RESOURCE_CONSTRAINT;
    if (dir == XS_SUB_INBOUND && st.ask_in && !op->prev.ask_in &&
        r->npending >= limits.max_pending)
        return XS_SERR_RESOURCE_CONSTRAINT;
    if (e == NULL)
        e = roster_add(r, op->contact);
    roster_count(r, e, -1);
    e->item.sub = st.sub;
    e->item.ask_out = st.ask_out;
    e->item.ask_in = st.ask_in;
    e->item.approved = st.approved;
    if (becomes_item)
        e->item.is_item = true;
    if (!st.ask_in) {
        xs_free(e->ask_in_stanza);
        e->ask_in_stanza = NULL;
    } else if (!op->prev.ask_in) {
        xs_free(e->ask_in_stanza);
        e->ask_in_stanza = roster_ask_stanza(op->st, op->contact, ru->bare);
    }
    roster_count(r, e, +1);
    op->bump = e->item.is_item && (op->act & XS_SUBA_PUSH);
    if (entry_is_empty(e)) {
        op->is_deleted = true;
        roster_remove(r, op->contact);
        e = NULL;
    }
    *out = e;
    return XS_SERR_NONE;
}

static void op_complete(struct roster_user *ru, struct roster_op *op,
    bool stored);

/* Start op: answer it now (OP_DONE) or start its write (OP_WRITING). */
static enum op_step
op_decide(struct roster_user *ru, struct roster_op *op)
{
    struct roster_entry *e = NULL;
    enum xs_stanza_err err = XS_SERR_NONE;
    char *forms[4];
    size_t nforms = 0;
    xs_rc rc;

    if (!ru->exists) {
        /* 3.1.3: a request to no account is refused, nothing stored. */
        if (op->kind == OP_IN_SUB && op->type == XS_SUBT_SUBSCRIBE)
            roster_route_presence("unsubscribed", ru->bare, op->contact);
        else if (op->kind == OP_IQ_GET || op->kind == OP_IQ_SET)
            roster_iq_error(op->st, XS_SERR_ITEM_NOT_FOUND, ru->bare);
        else if (op->admin != NULL) {
            struct xs_admin_call *call = op_admin_take(op);

            if (call != NULL)
                xs_admin_call_fail(call, 404, "User %s does not exist",
                    ru->bare);
        }
        return OP_DONE;
    }
    switch (op->kind) {
    case OP_IQ_GET:
        roster_result_query(ru, op);
        return OP_DONE;
    case OP_ADMIN_GET:
        op_complete(ru, op, true);
        return OP_DONE;
    case OP_IQ_SET:
    case OP_ADMIN_SET:
    case OP_ADMIN_DEL:
        err = roster_decide_set(ru, op, &e);
        break;
    case OP_OUT_SUB:
    case OP_IN_SUB:
        err = roster_decide_sub(ru, op, &e);
        if (err == XS_SERR_NONE && !(op->act & XS_SUBA_CHANGED)) {
            op_complete(ru, op, true);      /* nothing to write */
            return OP_DONE;
        }
        break;
    }
    if (err != XS_SERR_NONE) {
        struct xs_admin_call *call;

        switch (op->kind) {
        case OP_IQ_SET:
            roster_iq_error(op->st, err, ru->bare);
            break;
        case OP_OUT_SUB:
            roster_presence_error(op->st, err);
            break;
        case OP_IN_SUB:
            xs_log(XS_LOG_INFO, "roster: request dropped to=%s: too many "
                "pending requests", ru->bare);
            break;
        default:
            if ((call = op_admin_take(op)) == NULL)
                break;
            if (err == XS_SERR_ITEM_NOT_FOUND)
                xs_admin_call_fail(call, 404, "No such roster item");
            else
                xs_admin_call_fail(call, 409, "Roster is full");
            break;
        }
        return OP_DONE;
    }
    /* A new pending request is stored only if its sender is not blocked
     * (the blocking module stops blocked stanzas for online owners; this
     * holds for offline ones). */
    if (op->kind == OP_IN_SUB && op->type == XS_SUBT_SUBSCRIBE &&
        !op->is_deleted)
        nforms = roster_block_forms(op->sender, forms);
    rc = ru_write(ru, op, e, (const char *const *)forms, nforms);
    for (size_t i = 0; i < nforms; i++)
        xs_free(forms[i]);
    if (rc != XS_OK) {
        ru->inflight = NULL;
        xs_log(XS_LOG_WARN, "roster: write not queued user=%s: %s",
            ru->bare, xs_rc_str(rc));
        ru->needs_reload = true;
        switch (op->kind) {
        case OP_IQ_SET:
            roster_iq_error(op->st, XS_SERR_INTERNAL_SERVER_ERROR, ru->bare);
            break;
        case OP_OUT_SUB:
            roster_presence_error(op->st, XS_SERR_INTERNAL_SERVER_ERROR);
            break;
        default:
            if (op->admin != NULL) {
                struct xs_admin_call *call = op_admin_take(op);

                if (call != NULL)
                    xs_admin_call_fail_db(call, rc);
            }
            break;
        }
        return OP_DONE;
    }
    return OP_WRITING;
}

/* ---- observers of subscription changes ---- */

static struct xs_observers observers;

xs_rc
xs_roster_observe(xs_roster_change_fn *fn, void *ud)
{
    return xs_observers_add(&observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)fn, .ud = ud });
}

void
xs_roster_unobserve(xs_roster_change_fn *fn, void *ud)
{
    xs_observers_remove(&observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)fn, .ud = ud });
}

static void
roster_notify(const char *owner, const char *contact, enum xs_sub before,
    enum xs_sub after)
{
    /* A copy: an observer may unregister itself. */
    struct xs_observer copy[XS_OBSERVERS_MAX];
    size_t n;

    if (before == after)
        return;
    n = xs_observers_snapshot(&observers, copy);
    for (size_t i = 0; i < n; i++)
        ((xs_roster_change_fn *)copy[i].fn)(owner, contact, before, after,
            copy[i].ud);
}

/* ---- completing (after the commit) ---- */

static bool
roster_is_local(const char *contact)
{
    struct xs_jid *j = NULL;
    bool is_local;

    if (xs_jid_new(contact, &j) != XS_OK)
        return false;
    is_local = j->local != NULL &&
        xs_conf_is_local_host(xs_server()->conf, j->domain);
    xs_jid_free(j);
    return is_local;
}

/*
 * The presence that follows a subscription change (3.1.5, 3.2.2, 3.3.3)
 * is the contact's server's to send.  When the contact is local this
 * server is both, and the owner's side sends it once its own stanza is
 * delivered: the owner sees 'subscribed' before the presence it allows,
 * in the order an s2s stream would keep.
 */
static void
roster_sub_presence(struct roster_user *ru, const struct roster_op *op)
{
    if (!roster_is_local(op->contact)) {
        if (op->act & XS_SUBA_SEND_PRESENCE)
            xs_presence_send_current(ru->bare, op->contact);
        if (op->act & XS_SUBA_SEND_UNAVAILABLE)
            xs_presence_send_unavailable(ru->bare, op->contact);
        return;
    }
    if (op->act & XS_SUBA_GAINED_TO)
        xs_presence_send_current(op->contact, ru->bare);
    if (op->act & XS_SUBA_LOST_TO)
        xs_presence_send_unavailable(op->contact, ru->bare);
}

static void
roster_admin_rows(struct roster_user *ru, struct xs_admin_call *call)
{
    json_t *rows = json_array();

    xs_assert(rows != NULL);
    for (size_t i = 0; i < ru->roster->nbuckets; i++) {
        for (struct roster_entry *e = ru->roster->buckets[i]; e != NULL;
            e = e->next) {
            json_t *row, *groups;

            if (!e->item.is_item)
                continue;
            groups = json_array();
            for (size_t g = 0; g < e->item.ngroups; g++)
                json_array_append_new(groups,
                    json_string(e->item.groups[g]));
            row = json_pack("{s:s, s:s, s:s, s:s, s:o}",
                "jid", e->item.contact, "nick", e->item.name,
                "subscription", xs_sub_name(e->item.sub),
                "ask", e->item.ask_out ? "subscribe" : "none",
                "groups", groups);
            if (row != NULL)
                json_array_append_new(rows, row);
        }
    }
    xs_admin_call_ok(call, rows);
}

/* Put back what a refused write had changed in memory. */
static void
roster_revert(struct roster_user *ru, struct roster_op *op)
{
    struct roster_entry *e = roster_find(ru->roster, op->contact);

    if (e == NULL)
        return;
    if (!op->was_entry) {
        roster_remove(ru->roster, op->contact);
        return;
    }
    roster_count(ru->roster, e, -1);
    e->item.sub = op->prev.sub;
    e->item.ask_out = op->prev.ask_out;
    e->item.ask_in = op->prev.ask_in;
    e->item.approved = op->prev.approved;
    if (!op->prev.ask_in) {
        xs_free(e->ask_in_stanza);
        e->ask_in_stanza = NULL;
    }
    roster_count(ru->roster, e, +1);
}

/*
 * After the commit (or with nothing to write): answer, push, route,
 * deliver.  stored is false when the block list refused the row.
 */
static void
op_complete(struct roster_user *ru, struct roster_op *op, bool stored)
{
    struct roster_entry *e = roster_find(ru->roster, op->contact != NULL ?
        op->contact : "");
    const struct xs_roster_item *it = e != NULL && e->item.is_item ?
        &e->item : NULL;
    /* The state this op committed (the op decided it in memory; no other
     * op of this owner ran since).  Read now: what follows may route. */
    enum xs_sub after = e != NULL ? e->item.sub : XS_SUB_NONE;
    bool is_committed = op->kind != OP_IQ_GET && op->kind != OP_ADMIN_GET;
    struct xs_admin_call *call;

    switch (op->kind) {
    case OP_IQ_GET:
        break;
    case OP_ADMIN_GET:
        if ((call = op_admin_take(op)) != NULL)
            roster_admin_rows(ru, call);
        break;
    case OP_IQ_SET:
        if (op->is_remove) {
            /* 2.5.2: cancel both directions with the contact. */
            if (op->prev.sub == XS_SUB_TO || op->prev.sub == XS_SUB_BOTH ||
                op->prev.ask_out)
                roster_route_presence("unsubscribe", ru->bare, op->contact);
            if (op->prev.sub == XS_SUB_FROM || op->prev.sub == XS_SUB_BOTH ||
                op->prev.ask_in)
                roster_route_presence("unsubscribed", ru->bare,
                    op->contact);
        }
        roster_iq_answer(xs_stanza_iq_result(op->st), ru->bare);
        roster_push(ru, op->contact, it);
        if (op->is_remove) {
            /* Presence stops both ways (see roster_sub_presence). */
            op->act = 0;
            if (op->prev.sub == XS_SUB_TO || op->prev.sub == XS_SUB_BOTH)
                op->act |= XS_SUBA_LOST_TO;
            if (op->prev.sub == XS_SUB_FROM || op->prev.sub == XS_SUB_BOTH)
                op->act |= XS_SUBA_SEND_UNAVAILABLE;
            roster_sub_presence(ru, op);
        }
        break;
    case OP_ADMIN_SET:
    case OP_ADMIN_DEL:
        if ((call = op_admin_take(op)) != NULL)
            xs_admin_call_ok(call, json_integer(0));
        roster_push(ru, op->contact, it);
        break;
    case OP_OUT_SUB:
        if (op->act & XS_SUBA_ROUTE) {
            /* 3.1.2: stamped with the bare JIDs, whatever the client
             * wrote. */
            struct xs_stanza *out = xs_stanza_new(xs_elem_copy(op->st->el));

            xs_elem_set_attr(out->el, "from", ru->bare);
            xs_elem_set_attr(out->el, "to", op->contact);
            xs_router_route(out);
        }
        if ((op->act & XS_SUBA_PUSH) && (it != NULL || op->was_item))
            roster_push(ru, op->contact, it);
        roster_sub_presence(ru, op);
        break;
    case OP_IN_SUB:
        if (!stored && !op->is_deleted) {
            is_committed = false;
            roster_revert(ru, op);      /* blocked: as if never sent */
            xs_log(XS_LOG_DEBUG, "roster: request from a blocked sender "
                "not stored to=%s", ru->bare);
            break;
        }
        if (op->act & XS_SUBA_AUTOREPLY)
            roster_route_presence("subscribed", ru->bare, op->contact);
        if (op->act & XS_SUBA_DELIVER)
            roster_deliver(ru, op->st);
        if ((op->act & XS_SUBA_PUSH) && (it != NULL || op->was_item))
            roster_push(ru, op->contact, it);
        roster_sub_presence(ru, op);
        break;
    }
    if (is_committed)
        roster_notify(ru->bare, op->contact, op->prev.sub, after);
}

/* A write failed: answer its op, then forget the roster in memory. */
static void
op_fail(struct roster_user *ru, struct roster_op *op, xs_rc rc)
{
    struct xs_admin_call *call;

    switch (op->kind) {
    case OP_IQ_SET:
        roster_iq_error(op->st, XS_SERR_INTERNAL_SERVER_ERROR, ru->bare);
        break;
    case OP_OUT_SUB:
        roster_presence_error(op->st, XS_SERR_INTERNAL_SERVER_ERROR);
        break;
    case OP_ADMIN_SET:
    case OP_ADMIN_DEL:
        if ((call = op_admin_take(op)) == NULL)
            break;
        if (rc == XS_ENOTFOUND)
            xs_admin_call_fail(call, 404, "User %s does not exist",
                ru->bare);
        else
            xs_admin_call_fail_db(call, rc);
        break;
    default:
        break;
    }
}

static void
ru_unload(struct roster_user *ru)
{
    roster_free(ru->roster);
    ru->roster = NULL;
    ru->state = RU_UNLOADED;
    ru->needs_reload = false;
}

static void
ru_on_write(xs_rc rc, bool stored, int64_t version, void *udata)
{
    struct roster_user *ru = udata;
    struct roster_op *op = ru->inflight;

    ru->inflight = NULL;
    ru->busy++;
    if (rc == XS_OK) {
        if (version > 0)
            ru->roster->version = version;
        op_complete(ru, op, stored);
    } else {
        xs_log(XS_LOG_WARN, "roster: write failed user=%s: %s", ru->bare,
            xs_rc_str(rc));
        op_fail(ru, op, rc);
        ru->needs_reload = true;
    }
    op_free(op);
    ru->busy--;
    ru_run(ru);
}

/* ---- loading ---- */

static void
ru_load_row(struct xs_roster *r, const struct xs_roster_row *row)
{
    struct roster_entry *e = roster_find(r, row->contact);
    enum xs_sub sub = XS_SUB_NONE;

    if (e == NULL)
        e = roster_add(r, row->contact);
    (void)xs_sub_parse(row->subscription, &sub);
    e->item.sub = sub;
    e->item.ask_out = row->ask_out;
    e->item.ask_in = row->ask_in;
    e->item.approved = row->approved;
    e->item.is_item = row->is_item;
    entry_set_name(e, row->name);
    entry_set_groups(e, row->groups, row->ngroups);
    e->ask_in_stanza = row->ask_in_stanza != NULL ?
        xs_strdup(row->ask_in_stanza) : NULL;
    roster_count(r, e, +1);
}

/* A user whose roster cannot be loaded cannot be served safely: their
 * sessions end (they may come back), their waiting operations fail. */
static void
ru_load_failed(struct roster_user *ru, xs_rc rc)
{
    size_t n;
    uint64_t *ids = xs_sm_session_ids(ru->bare, &n);

    xs_log(XS_LOG_ERR, "roster: cannot load user=%s: %s", ru->bare,
        xs_rc_str(rc));
    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);

        if (s != NULL)
            xs_session_close(s, XS_STERR_INTERNAL_SERVER_ERROR,
                "roster unavailable");
    }
    xs_free(ids);
    while (ru->head != NULL) {
        struct roster_op *op = ru->head;

        ru->head = op->next;
        if (ru->head == NULL)
            ru->tail = NULL;
        op_fail(ru, op, rc);
        op_free(op);
    }
}

static void
ru_on_load(xs_rc rc, bool exists, int64_t version,
    const struct xs_roster_row *rows, size_t n, void *udata)
{
    struct roster_user *ru = udata;

    ru->busy++;
    if (rc != XS_OK) {
        ru->state = RU_UNLOADED;
        ru_load_failed(ru, rc);
    } else {
        ru->roster = roster_new();
        ru->roster->version = version;
        ru->exists = exists;
        for (size_t i = 0; i < n; i++)
            ru_load_row(ru->roster, &rows[i]);
        ru->state = RU_LOADED;
        xs_log(XS_LOG_DEBUG, "roster: loaded user=%s items=%zu version=%"
            PRId64, ru->bare, ru->roster->nitems, version);
        for (size_t i = 0; i < ru->nsess; i++) {
            struct xs_session *s;

            if (!ru->sess[i].is_waiting_load)
                continue;
            ru->sess[i].is_waiting_load = false;
            if ((s = xs_session_by_id(ru->sess[i].id)) != NULL)
                xs_session_resume(s);
        }
    }
    ru->busy--;
    ru_run(ru);
}

static void
ru_load_start(struct roster_user *ru)
{
    xs_rc rc;

    if (ru->state != RU_UNLOADED)
        return;
    ru->state = RU_LOADING;
    rc = xs_roster_db_load(xs_server()->db, ru->user, ru->host, ru_on_load,
        ru);
    if (rc != XS_OK) {
        ru->state = RU_UNLOADED;
        ru->busy++;
        ru_load_failed(ru, rc);
        ru->busy--;
    }
}

/* Run what can run now, in order; free the user if nothing is left. */
static void
ru_run(struct roster_user *ru)
{
    if (ru->busy > 0)
        return;             /* the caller on the stack continues */
    ru->busy++;
    while (ru->inflight == NULL) {
        struct roster_op *op;

        if (ru->needs_reload && ru->state == RU_LOADED)
            ru_unload(ru);
        if (ru->head == NULL) {
            /* Bound sessions need their roster even when idle. */
            if (ru->state == RU_UNLOADED && ru->nsess > 0)
                ru_load_start(ru);
            break;
        }
        if (ru->state != RU_LOADED) {
            ru_load_start(ru);
            break;
        }
        op = ru->head;
        ru->head = op->next;
        if (ru->head == NULL)
            ru->tail = NULL;
        op->next = NULL;
        if (op_decide(ru, op) == OP_WRITING)
            break;
        op_free(op);
    }
    ru->busy--;
    ru_maybe_free(ru);
}

/* ---- the public memory interface (roster.h) ---- */

const struct xs_roster *
xs_roster_loaded(const char *owner_bare)
{
    struct roster_user *ru = ru_lookup(owner_bare);

    return ru != NULL && ru->state == RU_LOADED ? ru->roster : NULL;
}

const struct xs_roster_item *
xs_roster_item(const struct xs_roster *r, const char *contact_bare)
{
    const struct roster_entry *e;

    if (r == NULL || contact_bare == NULL)
        return NULL;
    e = roster_find(r, contact_bare);
    return e != NULL ? &e->item : NULL;
}

bool
xs_roster_is_contact(const char *owner_bare, const char *contact_bare)
{
    const struct xs_roster_item *it =
        xs_roster_item(xs_roster_loaded(owner_bare), contact_bare);

    return it != NULL && it->is_item && it->sub != XS_SUB_NONE;
}

void
xs_roster_each(const struct xs_roster *r, xs_roster_each_fn *fn, void *ud)
{
    for (size_t i = 0; r != NULL && i < r->nbuckets; i++) {
        for (const struct roster_entry *e = r->buckets[i]; e != NULL;
            e = e->next)
            fn(&e->item, ud);
    }
}

/* ---- the roster IQ (RFC 6121 section 2) ---- */

static bool
roster_has_ctl(const char *s)
{
    for (; *s != '\0'; s++) {
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return true;
    }
    return false;
}

/*
 * Check the item of a roster set (2.3.3): one item, a valid bare JID
 * that is not the owner's, a name and groups within the limits.  Fills
 * op; returns the stanza error, or XS_SERR_NONE.
 */
static enum xs_stanza_err
roster_parse_set(struct xs_elem *q, const struct xs_jid *owner,
    struct roster_op *op)
{
    struct xs_elem *item = NULL;
    const char *jid_s, *name, *sub;
    struct xs_jid *jid = NULL;
    size_t nitems = 0;

    for (struct xs_elem *c = xs_elem_first_elem(q); c != NULL;
        c = xs_elem_next_elem(c)) {
        if (strcmp(c->ns, NS_ROSTER) == 0 && strcmp(c->name, "item") == 0) {
            item = c;
            nitems++;
        }
    }
    if (nitems != 1)
        return XS_SERR_BAD_REQUEST;
    if ((jid_s = xs_elem_attr(item, "jid")) == NULL)
        return XS_SERR_BAD_REQUEST;
    if (xs_jid_new(jid_s, &jid) != XS_OK)
        return XS_SERR_JID_MALFORMED;
    if (jid->resource != NULL) {
        xs_jid_free(jid);
        return XS_SERR_BAD_REQUEST;     /* contacts are bare JIDs */
    }
    if (strcmp(jid->bare, owner->bare) == 0) {
        xs_jid_free(jid);
        return XS_SERR_NOT_ALLOWED;     /* no subscription to oneself */
    }
    op->contact = xs_strdup(jid->bare);
    xs_jid_free(jid);
    /* 2.1.2.5: any subscription value but 'remove' is ignored. */
    sub = xs_elem_attr(item, "subscription");
    if (sub != NULL && strcmp(sub, "remove") == 0) {
        op->is_remove = true;
        return XS_SERR_NONE;
    }
    name = xs_elem_attr(item, "name");
    if (name != NULL && strlen(name) > limits.max_name)
        return XS_SERR_NOT_ACCEPTABLE;
    op->name = xs_strdup(name != NULL ? name : "");
    for (struct xs_elem *g = xs_elem_first_elem(item); g != NULL;
        g = xs_elem_next_elem(g)) {
        char *text;

        if (strcmp(g->ns, NS_ROSTER) != 0 || strcmp(g->name, "group") != 0)
            continue;
        if (op->ngroups >= limits.max_groups)
            return XS_SERR_NOT_ACCEPTABLE;
        text = xs_elem_text(g);
        if (text[0] == '\0' || strlen(text) > limits.max_group ||
            roster_has_ctl(text)) {
            xs_free(text);
            return XS_SERR_NOT_ACCEPTABLE;
        }
        for (size_t i = 0; i < op->ngroups; i++) {
            if (strcmp(op->groups[i], text) == 0) {
                xs_free(text);
                return XS_SERR_BAD_REQUEST;     /* duplicate group */
            }
        }
        op->groups = xs_reallocarray(op->groups, op->ngroups + 1,
            sizeof(op->groups[0]));
        op->groups[op->ngroups++] = text;
    }
    return XS_SERR_NONE;
}

static enum xs_verdict
roster_on_iq(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    bool is_set = xs_stanza_type_is(ctx->st, "set");
    struct roster_op *op;
    struct xs_jid *owner;
    enum xs_stanza_err err;

    (void)state;
    /* 2.1.5, 2.3.3: only the account's own resources read or change it. */
    if (ctx->origin == NULL || ctx->origin->jid == NULL ||
        (ctx->to != NULL && strcmp(ctx->to->bare, ctx->from->bare) != 0)) {
        ctx->err = XS_SERR_FORBIDDEN;
        ctx->why = "roster of another account";
        return XS_BOUNCE;
    }
    op = op_new(is_set ? OP_IQ_SET : OP_IQ_GET);
    if (is_set &&
        (err = roster_parse_set(payload, ctx->from, op)) != XS_SERR_NONE) {
        op_free(op);
        ctx->err = err;
        ctx->why = "invalid roster set";
        return XS_BOUNCE;
    }
    owner = xs_jid_bare_copy(ctx->from);
    op->sess_id = ctx->origin->id;
    op->st = ctx->st;               /* ours now: XS_STOLEN */
    ru_enqueue(ru_get(owner), op);
    xs_jid_free(owner);
    return XS_STOLEN;
}

/*
 * Only the server pushes rosters (2.1.6): a roster get or set addressed
 * to a resource is a forged push, refused before it reaches the client.
 */
static enum xs_verdict
roster_on_deliver_iq(struct xs_stanza_ctx *ctx, void *state)
{
    struct xs_elem *q;

    (void)state;
    if (ctx->to == NULL || ctx->to->resource == NULL ||
        (!xs_stanza_type_is(ctx->st, "set") &&
         !xs_stanza_type_is(ctx->st, "get")))
        return XS_PASS;
    q = xs_elem_first_elem(ctx->st->el);
    if (q == NULL || strcmp(q->ns, NS_ROSTER) != 0)
        return XS_PASS;
    ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
    ctx->why = "roster push from a client";
    return XS_BOUNCE;
}

/* ---- subscription stanzas (RFC 6121 section 3) ---- */

/* From a local client, with a 'to': the outbound half (3.1.2 ...). */
static enum xs_verdict
roster_on_outbound_sub(struct xs_stanza_ctx *ctx, void *state)
{
    enum xs_sub_type type;
    struct roster_op *op;
    struct xs_jid *owner;

    (void)state;
    if (ctx->origin == NULL || ctx->to == NULL ||
        !xs_sub_type_parse(xs_stanza_attr(ctx->st, "type"), &type))
        return XS_PASS;
    if (strcmp(ctx->to->bare, ctx->from->bare) == 0) {
        ctx->err = XS_SERR_NOT_ALLOWED;
        ctx->why = "subscription to oneself";
        return XS_BOUNCE;
    }
    op = op_new(OP_OUT_SUB);
    op->type = type;
    op->contact = xs_strdup(ctx->to->bare);
    op->sess_id = ctx->origin->id;
    op->st = ctx->st;
    owner = xs_jid_bare_copy(ctx->from);
    ru_enqueue(ru_get(owner), op);
    xs_jid_free(owner);
    return XS_STOLEN;
}

/* To a local account: the inbound half (3.1.3, 3.1.6, 3.2.3, 3.3.3). */
static enum xs_verdict
roster_on_inbound_sub(struct xs_stanza_ctx *ctx, void *state)
{
    const struct xs_jid *to = ctx->to != NULL ? ctx->to : ctx->from;
    enum xs_sub_type type;
    struct roster_op *op;
    struct xs_jid *owner;

    (void)state;
    if (!xs_sub_type_parse(xs_stanza_attr(ctx->st, "type"), &type))
        return XS_PASS;
    if (to->local == NULL || strcmp(to->bare, ctx->from->bare) == 0)
        return XS_DROP;
    op = op_new(OP_IN_SUB);
    op->type = type;
    op->contact = xs_strdup(ctx->from->bare);
    op->sender = xs_strdup(ctx->from->full);
    op->st = ctx->st;
    owner = xs_jid_bare_copy(to);
    ru_enqueue(ru_get(owner), op);
    xs_jid_free(owner);
    return XS_STOLEN;
}

/* ---- sessions ---- */

static void
roster_on_bound(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;
    struct roster_user *ru;
    struct xs_jid *bare;

    (void)ev, (void)state;
    bare = xs_jid_bare_copy(s->jid);
    ru = ru_get(bare);
    xs_jid_free(bare);
    ru->sess = xs_reallocarray(ru->sess, ru->nsess + 1, sizeof(ru->sess[0]));
    ru->sess[ru->nsess++] = (struct roster_sess){ .id = s->id };
    if (ru->state != RU_LOADED) {
        /* Nothing the client sends is handled before its roster is in. */
        ru->sess[ru->nsess - 1].is_waiting_load = true;
        xs_session_pause(s);
    }
    ru_run(ru);
}

static void
roster_on_closed(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;
    struct roster_user *ru;

    (void)ev, (void)state;
    if (s->jid == NULL || (ru = ru_lookup(s->jid->bare)) == NULL)
        return;
    for (size_t i = 0; i < ru->nsess; i++) {
        if (ru->sess[i].id == s->id) {
            ru->sess[i] = ru->sess[--ru->nsess];
            break;
        }
    }
    ru_maybe_free(ru);
}

/* 3.1.3: unanswered requests are delivered again at each login. */
static void
roster_on_available(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;
    struct roster_user *ru = ru_lookup(s->jid->bare);
    struct xs_stanza **v = NULL;
    uint64_t id = s->id;
    size_t n = 0;

    (void)ev, (void)state;
    if (ru == NULL || ru->state != RU_LOADED || ru->roster->npending == 0)
        return;
    for (size_t i = 0; i < ru->roster->nbuckets; i++) {
        for (struct roster_entry *e = ru->roster->buckets[i]; e != NULL;
            e = e->next) {
            struct xs_stanza *st;

            if (!e->item.ask_in || e->ask_in_stanza == NULL ||
                (st = roster_ask_parse(e->ask_in_stanza)) == NULL)
                continue;
            v = xs_reallocarray(v, n + 1, sizeof(v[0]));
            v[n++] = st;
        }
    }
    /* Sent after the walk: a send may close the session. */
    for (size_t i = 0; i < n; i++) {
        if ((s = xs_session_by_id(id)) != NULL)
            xs_session_send(s, v[i]);
        else
            xs_stanza_unref(v[i]);
    }
    xs_free(v);
}

static void
roster_on_user_deleted(enum xs_event ev, void *arg, void *state)
{
    const struct xs_jid *bare = arg;
    struct roster_user *ru = ru_lookup(bare->bare);

    (void)ev, (void)state;
    if (ru == NULL)
        return;
    ru->needs_reload = true;        /* the rows are gone */
    ru_run(ru);
}

/* ---- operator commands ---- */

static struct roster_user *
roster_admin_user(struct xs_admin_call *call, const char *user_arg,
    const char *host_arg)
{
    struct xs_jid *bare = NULL;
    struct roster_user *ru;

    if (xs_jid_from_parts(xs_admin_call_arg(call, user_arg),
            xs_admin_call_arg(call, host_arg), NULL, &bare) != XS_OK) {
        xs_admin_call_fail(call, 400, "Invalid account");
        return NULL;
    }
    ru = ru_get(bare);
    xs_jid_free(bare);
    return ru;
}

static char *
roster_admin_contact(struct xs_admin_call *call)
{
    struct xs_jid *j = NULL;
    char *bare;

    if (xs_jid_from_parts(xs_admin_call_arg(call, "user"),
            xs_admin_call_arg(call, "host"), NULL, &j) != XS_OK) {
        xs_admin_call_fail(call, 400, "Invalid contact JID");
        return NULL;
    }
    bare = xs_strdup(j->bare);
    xs_jid_free(j);
    return bare;
}

static void
roster_cmd_get(struct xs_admin_call *call, void *state)
{
    struct roster_user *ru = roster_admin_user(call, "user", "host");
    struct roster_op *op;

    (void)state;
    if (ru == NULL)
        return;
    op = op_new(OP_ADMIN_GET);
    op->admin = xs_admin_call_udata(call);
    ru_enqueue(ru, op);
}

/* "a;b;c" -> groups, checked like a roster set's. */
static bool
roster_admin_groups(struct xs_admin_call *call, struct roster_op *op)
{
    const char *s = xs_admin_call_arg(call, "group");
    char *copy, *save = NULL;

    if (s == NULL || s[0] == '\0')
        return true;
    copy = xs_strdup(s);
    for (char *g = strtok_r(copy, ";", &save); g != NULL;
        g = strtok_r(NULL, ";", &save)) {
        bool dup = false;

        if (op->ngroups >= limits.max_groups || strlen(g) > limits.max_group
            || roster_has_ctl(g)) {
            xs_free(copy);
            xs_admin_call_fail(call, 400, "Invalid group list");
            return false;
        }
        for (size_t i = 0; i < op->ngroups && !dup; i++)
            dup = strcmp(op->groups[i], g) == 0;
        if (dup)
            continue;
        op->groups = xs_reallocarray(op->groups, op->ngroups + 1,
            sizeof(op->groups[0]));
        op->groups[op->ngroups++] = xs_strdup(g);
    }
    xs_free(copy);
    return true;
}

static void
roster_cmd_add(struct xs_admin_call *call, void *state)
{
    const char *nick = xs_admin_call_arg(call, "nick");
    struct roster_user *ru;
    struct roster_op *op;
    enum xs_sub sub;
    char *contact;

    (void)state;
    if (!xs_sub_parse(xs_admin_call_arg(call, "subs"), &sub)) {
        xs_admin_call_fail(call, 400, "subs must be none, from, to or both");
        return;
    }
    if (nick == NULL || strlen(nick) > limits.max_name) {
        xs_admin_call_fail(call, 400, "Invalid nick");
        return;
    }
    if ((contact = roster_admin_contact(call)) == NULL)
        return;
    op = op_new(OP_ADMIN_SET);
    op->contact = contact;
    op->name = xs_strdup(nick);
    op->sub = sub;
    if (!roster_admin_groups(call, op)) {
        op_free(op);
        return;
    }
    if ((ru = roster_admin_user(call, "localuser", "localhost")) == NULL) {
        op_free(op);
        return;
    }
    if (strcmp(ru->bare, contact) == 0) {
        xs_admin_call_fail(call, 400, "An account is not its own contact");
        op_free(op);
        ru_maybe_free(ru);
        return;
    }
    op->admin = xs_admin_call_udata(call);
    ru_enqueue(ru, op);
}

static void
roster_cmd_delete(struct xs_admin_call *call, void *state)
{
    struct roster_user *ru;
    struct roster_op *op;
    char *contact;

    (void)state;
    if ((contact = roster_admin_contact(call)) == NULL)
        return;
    if ((ru = roster_admin_user(call, "localuser", "localhost")) == NULL) {
        xs_free(contact);
        return;
    }
    op = op_new(OP_ADMIN_DEL);
    op->contact = contact;
    op->is_remove = true;
    op->admin = xs_admin_call_udata(call);
    ru_enqueue(ru, op);
}

/* ---- the module ---- */

static xs_rc
roster_opt(const struct xs_conf *conf, const struct xs_conf_node *o,
    const char *key, long long max, size_t *out)
{
    const struct xs_conf_node *n = xs_conf_node_get(o, key);
    long long v;

    if (n == NULL)
        return XS_OK;
    if (xs_conf_node_int(n, 1, max, &v) != XS_OK) {
        char *path = xs_asprintf("modules.mod_roster.%s", key);
        char *err = xs_conf_errmsg(conf, n, path,
            "must be an integer 1..%lld", max);

        xs_log(XS_LOG_ERR, "%s", err);
        xs_free(err);
        xs_free(path);
        return XS_EINVAL;
    }
    *out = (size_t)v;
    return XS_OK;
}

static xs_rc
roster_init(const struct xs_conf *conf, void **state)
{
    static const char *const known[] = { "max_items", "max_name_length",
        "max_group_length", "max_groups_per_item", "max_pending_requests",
        NULL };
    const struct xs_conf_node *o = xs_conf_module_opts(conf, "mod_roster");
    char *err = NULL;

    *state = NULL;
    limits = (struct roster_limits){
        ROSTER_MAX_ITEMS_DEFAULT, ROSTER_MAX_NAME_DEFAULT,
        ROSTER_MAX_GROUP_DEFAULT, ROSTER_MAX_GROUPS_DEFAULT,
        ROSTER_MAX_PENDING_DEFAULT,
    };
    if (o == NULL)
        return XS_OK;
    if (xs_conf_node_check_keys(conf, o, "modules.mod_roster", known, &err)
        != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", err);
        xs_free(err);
        return XS_EINVAL;
    }
    if (roster_opt(conf, o, "max_items", 1000000, &limits.max_items) != XS_OK
        || roster_opt(conf, o, "max_name_length", 65535, &limits.max_name)
            != XS_OK
        || roster_opt(conf, o, "max_group_length", 65535, &limits.max_group)
            != XS_OK
        || roster_opt(conf, o, "max_groups_per_item", 10000,
            &limits.max_groups) != XS_OK
        || roster_opt(conf, o, "max_pending_requests", 1000000,
            &limits.max_pending) != XS_OK)
        return XS_EINVAL;
    return XS_OK;
}

static void
roster_fini(void *state)
{
    (void)state;
    /* The loop has stopped: no callback comes any more (pgq_free never
     * calls back).  Take the tree's root until it is empty. */
    while (users != NULL)
        ru_free(*(struct roster_user **)users);
}

static const struct xs_hook_spec roster_hooks[] = {
    { XS_HOOK_C2S_IN, XS_K_PRESENCE, XS_PRIO_DEFAULT, roster_on_outbound_sub },
    { XS_HOOK_DELIVER, XS_K_PRESENCE, XS_PRIO_DEFAULT,
      roster_on_inbound_sub },
    { XS_HOOK_DELIVER, XS_K_IQ, XS_PRIO_DEFAULT, roster_on_deliver_iq },
    { 0 }
};

static const struct xs_iq_spec roster_iqs[] = {
    { NS_ROSTER, "query", XS_IQ_GET | XS_IQ_SET, XS_IQ_ACCOUNT,
      roster_on_iq },
    { 0 }
};

static const struct xs_event_spec roster_events[] = {
    { XS_EV_SESSION_BOUND, roster_on_bound },
    { XS_EV_SESSION_AVAILABLE, roster_on_available },
    { XS_EV_SESSION_CLOSED, roster_on_closed },
    { XS_EV_USER_DELETED, roster_on_user_deleted },
    { 0 }
};

static const struct xs_admin_cmd roster_cmds[] = {
    { "get_roster", roster_cmd_get },
    { "add_rosteritem", roster_cmd_add },
    { "delete_rosteritem", roster_cmd_delete },
    { NULL, NULL }
};

static const char *const roster_features[] = { NS_ROSTER, NULL };

const struct xs_module xs_mod_roster = {
    .name = "roster",
    .abi = XS_MODULE_ABI,
    .init = roster_init,
    .fini = roster_fini,
    .hooks = roster_hooks,
    .iqs = roster_iqs,
    .events = roster_events,
    .features = roster_features,
    .commands = roster_cmds,
};
