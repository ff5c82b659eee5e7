/*
 * blocking.c: XEP-0191 Blocking Command, with XEP-0377 reports (report.c)
 * stored alongside the block.
 *
 * Every block list lives in memory: a hash table keyed by the owner's bare
 * JID (SipHash with a per-process key, so that registered names cannot
 * aim at one bucket), each owner holding a sorted array of items, so a
 * check on the stanza path costs one hash and at most four binary
 * searches.  The lists are loaded at start, before the listeners open
 * (xs_startup_hold), and changed only after PostgreSQL has committed.
 *
 * Changes of one owner run one at a time, in arrival order (a queue per
 * owner): the limit check, the commit, the memory update and the pushes
 * of one change all happen before the next one starts, so memory and
 * database never disagree on order.  The requesting session is paused
 * meanwhile, so that what it sends after its block sees the block.
 *
 * Errors chosen where the XEP leaves a choice (docs/configuration.md):
 *   - inbound message or IQ get/set from a blocked JID: service-unavailable
 *     (XEP-0191 3.5); groupchat messages are dropped instead, as a bounce
 *     to a room may get the user removed from it; presence: dropped;
 *   - outbound to a blocked JID: not-acceptable + <blocked/>; presence and
 *     errors/results: dropped;
 *   - a list over max_items, a report over its limits: policy-violation
 *     (a local service policy the client can satisfy by asking for less;
 *     resource-constraint would tell it to retry the same thing later);
 *   - an invalid item JID: jid-malformed; no items, no 'jid', blocking
 *     oneself, a malformed report: bad-request; the whole command fails.
 */
#include "xmppd/im/blocking.h"

#include "db/blocking.h"
#include "xmppd/c2s/session.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/module.h"
#include "xmppd/core/observers.h"
#include "xmppd/core/server.h"
#include "xmppd/im/presence.h"
#include "xmppd/im/roster.h"
#include "xmppd/router.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#define BLK_MAX_ITEMS_DEFAULT  1000
#define BLK_MAX_TEXT_DEFAULT   4096
#define BLK_MAX_IDS_DEFAULT    20

/* ---- the in-memory store ---- */

struct blk_owner;
struct blk_state;
struct xs_spam_report;

enum blk_kind { BLK_BLOCK, BLK_UNBLOCK, BLK_UNBLOCK_ALL };

struct blk_op {
    struct blk_op         *next;        /* owned by the queue */
    enum blk_kind          kind;
    struct blk_state      *state;       /* borrowed */
    struct blk_owner      *owner;       /* borrowed: lives while queued */
    uint64_t               session_id;  /* paused requester; 0: none */
    struct xs_stanza      *st;          /* owned: the request */
    char                 **jids;        /* owned: prepared, sorted, unique */
    size_t                 njids;
    struct xs_spam_report *reports;     /* owned */
    size_t                 nreports;
    unsigned               epoch;
};

struct blk_owner {
    char             *bare;         /* owned: the key */
    uint64_t          hash;
    char            **items;        /* owned: prepared JIDs, strcmp order */
    size_t            nitems;
    size_t            cap;
    uint64_t         *interested;   /* owned: ids of sessions that asked
                                       for the list (they get pushes) */
    size_t            ninterested;
    struct blk_op    *ops;          /* owned queue; the head runs when
                                       is_busy */
    struct blk_op    *ops_tail;     /* borrowed */
    bool              is_busy;
    unsigned          epoch;        /* bumped when the account is deleted */
    struct blk_owner *next;         /* owned: bucket chain */
};

static struct {
    struct blk_owner **buckets;     /* owned */
    size_t             nbuckets;
    size_t             nowners;
    size_t             nitems;      /* over all owners, for the log */
    unsigned char      key[crypto_shorthash_KEYBYTES];
    bool               has_key;
} store;

/* xs_blocking_change_fn and xs_blocking_report_fn callbacks. */
static struct xs_observers observers;
static struct xs_observers report_observers;

static uint64_t
blk_hash(const char *s)
{
    unsigned char out[crypto_shorthash_BYTES];
    uint64_t h;

    if (!store.has_key) {
        randombytes_buf(store.key, sizeof(store.key));
        store.has_key = true;
    }
    crypto_shorthash(out, (const unsigned char *)s, strlen(s), store.key);
    memcpy(&h, out, sizeof(h));
    return h;
}

static struct blk_owner *
blk_owner_lookup(const char *bare)
{
    uint64_t h;

    if (store.nowners == 0 || bare == NULL)
        return NULL;
    h = blk_hash(bare);
    for (struct blk_owner *o = store.buckets[h % store.nbuckets]; o != NULL;
        o = o->next) {
        if (o->hash == h && strcmp(o->bare, bare) == 0)
            return o;
    }
    return NULL;
}

static void
blk_store_grow(void)
{
    size_t n = store.nbuckets == 0 ? 64 : store.nbuckets * 2;
    struct blk_owner **b = xs_calloc(n, sizeof(b[0]));

    for (size_t i = 0; i < store.nbuckets; i++) {
        struct blk_owner *o = store.buckets[i], *next;

        for (; o != NULL; o = next) {
            next = o->next;
            o->next = b[o->hash % n];
            b[o->hash % n] = o;
        }
    }
    xs_free(store.buckets);
    store.buckets = b;
    store.nbuckets = n;
}

static struct blk_owner *
blk_owner_get(const char *bare)
{
    struct blk_owner *o = blk_owner_lookup(bare);
    size_t i;

    if (o != NULL)
        return o;
    if (store.nowners + 1 > store.nbuckets)
        blk_store_grow();
    o = xs_calloc(1, sizeof(*o));
    o->bare = xs_strdup(bare);
    o->hash = blk_hash(bare);
    i = o->hash % store.nbuckets;
    o->next = store.buckets[i];
    store.buckets[i] = o;
    store.nowners++;
    return o;
}

static void
blk_owner_free_items(struct blk_owner *o)
{
    for (size_t i = 0; i < o->nitems; i++)
        xs_free(o->items[i]);
    store.nitems -= o->nitems;
    xs_free(o->items);
    o->items = NULL;
    o->nitems = o->cap = 0;
}

static void blk_op_free(struct blk_op *op);

static void
blk_owner_unlink_free(struct blk_owner *o)
{
    struct blk_owner **pp = &store.buckets[o->hash % store.nbuckets];

    while (*pp != o)
        pp = &(*pp)->next;
    *pp = o->next;
    store.nowners--;
    blk_owner_free_items(o);
    while (o->ops != NULL) {
        struct blk_op *op = o->ops;

        o->ops = op->next;
        blk_op_free(op);
    }
    xs_free(o->interested);
    xs_free(o->bare);
    xs_free(o);
}

/* An owner with nothing left to remember goes away. */
static void
blk_owner_release(struct blk_owner *o)
{
    if (o->nitems == 0 && o->ninterested == 0 && o->ops == NULL &&
        !o->is_busy)
        blk_owner_unlink_free(o);
}

/* Binary search for the key prefix[/suffix] without building it.  Returns
 * the index of the match, or ~position where it would go. */
static int
blk_key_cmp(const char *item, const char *prefix, const char *suffix)
{
    size_t plen = strlen(prefix);
    int c = strncmp(item, prefix, plen);

    if (c != 0)
        return c;
    item += plen;
    if (suffix == NULL)
        return (unsigned char)item[0];      /* 0 when item ends here */
    if (item[0] != '/')
        return (unsigned char)item[0] - '/';
    return strcmp(item + 1, suffix);
}

static bool
blk_find(const struct blk_owner *o, const char *prefix, const char *suffix,
    size_t *pos)
{
    size_t lo = 0, hi = o->nitems;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = blk_key_cmp(o->items[mid], prefix, suffix);

        if (c == 0) {
            *pos = mid;
            return true;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *pos = lo;
    return false;
}

static bool
blk_owner_has(const struct blk_owner *o, const char *item)
{
    size_t pos;

    return blk_find(o, item, NULL, &pos);
}

/* XEP-0191 3.4: full, bare, domain/resource, domain.  Without a
 * localpart the bare JID is the domain and the full JID domain/resource. */
static bool
blk_owner_matches(const struct blk_owner *o, const struct xs_jid *j)
{
    size_t pos;

    if (o->nitems == 0)
        return false;
    if (blk_find(o, j->bare, NULL, &pos) ||
        (j->resource != NULL && blk_find(o, j->bare, j->resource, &pos)))
        return true;
    if (j->local == NULL)
        return false;
    return blk_find(o, j->domain, NULL, &pos) ||
        (j->resource != NULL && blk_find(o, j->domain, j->resource, &pos));
}

/* Is other (split in parts) the owner's own account? */
static bool
blk_is_self(const char *owner_bare, const char *local, const char *domain)
{
    size_t llen;

    if (local == NULL)
        return false;
    llen = strlen(local);
    return strncmp(owner_bare, local, llen) == 0 && owner_bare[llen] == '@'
        && strcmp(owner_bare + llen + 1, domain) == 0;
}

bool
xs_blocking_blocks(const char *owner_bare, const struct xs_jid *other)
{
    const struct blk_owner *o;

    if (other == NULL || (o = blk_owner_lookup(owner_bare)) == NULL ||
        o->nitems == 0)
        return false;
    if (blk_is_self(owner_bare, other->local, other->domain))
        return false;
    return blk_owner_matches(o, other);
}

bool
xs_blocking_blocks_str(const char *owner_bare, const char *other)
{
    const struct blk_owner *o;
    struct xs_jid *j;
    bool hit;

    if (other == NULL || (o = blk_owner_lookup(owner_bare)) == NULL ||
        o->nitems == 0)
        return false;
    if (xs_jid_new(other, &j) != XS_OK)
        return false;
    hit = xs_blocking_blocks(owner_bare, j);
    xs_jid_free(j);
    return hit;
}

size_t
xs_blocking_count(const char *owner_bare)
{
    const struct blk_owner *o = blk_owner_lookup(owner_bare);

    return o != NULL ? o->nitems : 0;
}

static xs_rc
blk_owner_add(struct blk_owner *o, const char *item)
{
    size_t pos;

    if (blk_find(o, item, NULL, &pos))
        return XS_EEXIST;
    if (o->nitems == o->cap) {
        o->cap = o->cap == 0 ? 4 : o->cap * 2;
        o->items = xs_reallocarray(o->items, o->cap, sizeof(o->items[0]));
    }
    memmove(&o->items[pos + 1], &o->items[pos],
        (o->nitems - pos) * sizeof(o->items[0]));
    o->items[pos] = xs_strdup(item);
    o->nitems++;
    store.nitems++;
    return XS_OK;
}

static xs_rc
blk_owner_remove(struct blk_owner *o, const char *item)
{
    size_t pos;

    if (!blk_find(o, item, NULL, &pos))
        return XS_ENOTFOUND;
    xs_free(o->items[pos]);
    memmove(&o->items[pos], &o->items[pos + 1],
        (o->nitems - pos - 1) * sizeof(o->items[0]));
    o->nitems--;
    store.nitems--;
    return XS_OK;
}

xs_rc
xs_blocking_mem_add(const char *owner_bare, const char *item)
{
    return blk_owner_add(blk_owner_get(owner_bare), item);
}

xs_rc
xs_blocking_mem_remove(const char *owner_bare, const char *item)
{
    struct blk_owner *o = blk_owner_lookup(owner_bare);
    xs_rc rc;

    if (o == NULL)
        return XS_ENOTFOUND;
    rc = blk_owner_remove(o, item);
    blk_owner_release(o);
    return rc;
}

void
xs_blocking_mem_clear(const char *owner_bare)
{
    struct blk_owner *o = blk_owner_lookup(owner_bare);

    if (o == NULL)
        return;
    blk_owner_free_items(o);
    blk_owner_release(o);
}

void
xs_blocking_mem_reset(void)
{
    for (size_t i = 0; i < store.nbuckets; i++) {
        while (store.buckets[i] != NULL)
            blk_owner_unlink_free(store.buckets[i]);
    }
    xs_free(store.buckets);
    store.buckets = NULL;
    store.nbuckets = 0;
    store.nitems = 0;
}

xs_rc
xs_blocking_observe(xs_blocking_change_fn *fn, void *ud)
{
    return xs_observers_add(&observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)fn, .ud = ud });
}

void
xs_blocking_unobserve(xs_blocking_change_fn *fn, void *ud)
{
    xs_observers_remove(&observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)fn, .ud = ud });
}

static void
blk_notify(const char *owner, bool is_block, const char *const *jids,
    size_t n)
{
    /* A copy: an observer may unregister itself. */
    struct xs_observer copy[XS_OBSERVERS_MAX];
    size_t nc;

    if (n == 0)
        return;
    nc = xs_observers_snapshot(&observers, copy);
    for (size_t i = 0; i < nc; i++)
        ((xs_blocking_change_fn *)copy[i].fn)(owner, is_block, jids, n,
            copy[i].ud);
}

xs_rc
xs_blocking_report_observe(xs_blocking_report_fn *fn, void *ud)
{
    return xs_observers_add(&report_observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)fn, .ud = ud });
}

void
xs_blocking_report_unobserve(xs_blocking_report_fn *fn, void *ud)
{
    xs_observers_remove(&report_observers, &(struct xs_observer){
        .fn = (xs_observer_fn *)fn, .ud = ud });
}

static void
blk_notify_reports(const char *owner, const struct xs_spam_report *reports,
    size_t n)
{
    /* A copy: an observer may unregister itself. */
    struct xs_observer copy[XS_OBSERVERS_MAX];
    size_t nc;

    if (n == 0)
        return;
    nc = xs_observers_snapshot(&report_observers, copy);
    for (size_t r = 0; r < n; r++) {
        for (size_t i = 0; i < nc; i++)
            ((xs_blocking_report_fn *)copy[i].fn)(owner,
                reports[r].reported, reports[r].reason, copy[i].ud);
    }
}

/* ---- module state and options ---- */

struct blk_load;

struct blk_state {
    size_t                   max_items;
    struct xs_report_limits  rlim;
    struct blk_load         *load;      /* owned while the load runs */
};

struct blk_load {
    struct blk_state *state;            /* borrowed */
    size_t            rows;
    uint64_t          started_ms;
};

static xs_rc
blk_opt_size(const struct xs_conf *conf, const struct xs_conf_node *opts,
    const char *key, long long min, long long max, size_t *out)
{
    const struct xs_conf_node *n = xs_conf_node_get(opts, key);
    long long v;
    char *path, *err;

    if (n == NULL)
        return XS_OK;
    if (xs_conf_node_int(n, min, max, &v) == XS_OK) {
        *out = (size_t)v;
        return XS_OK;
    }
    path = xs_asprintf("modules.mod_blocking.%s", key);
    err = xs_conf_errmsg(conf, n, path, "must be an integer %lld..%lld", min,
        max);
    xs_log(XS_LOG_ERR, "%s", err);
    xs_free(err);
    xs_free(path);
    return XS_EINVAL;
}

static xs_rc
blk_options(const struct xs_conf *conf, struct blk_state *st)
{
    static const char *const known[] = {
        "max_items", "max_report_text", "max_report_stanza_ids", NULL
    };
    const struct xs_conf_node *opts = xs_conf_module_opts(conf,
        "mod_blocking");
    char *err = NULL;

    st->max_items = BLK_MAX_ITEMS_DEFAULT;
    st->rlim.max_text = BLK_MAX_TEXT_DEFAULT;
    st->rlim.max_stanza_ids = BLK_MAX_IDS_DEFAULT;
    if (opts == NULL)
        return XS_OK;
    if (xs_conf_node_check_keys(conf, opts, "modules.mod_blocking", known,
        &err) != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", err);
        xs_free(err);
        return XS_EINVAL;
    }
    if (blk_opt_size(conf, opts, "max_items", 1, 1000000,
            &st->max_items) != XS_OK ||
        blk_opt_size(conf, opts, "max_report_text", 0, 65536,
            &st->rlim.max_text) != XS_OK ||
        blk_opt_size(conf, opts, "max_report_stanza_ids", 0, 1000,
            &st->rlim.max_stanza_ids) != XS_OK)
        return XS_EINVAL;
    return XS_OK;
}

/* ---- replies and pushes ---- */

/* Replies on the account's behalf carry its bare JID (RFC 6120 8.1.2.1),
 * which the router needs as 'from'. */
static void
blk_reply(struct xs_stanza *reply, const char *owner)
{
    xs_elem_set_attr(reply->el, "from", owner);
    xs_router_route(reply);
}

static void
blk_reply_error(const struct xs_stanza *req, const char *owner,
    enum xs_stanza_err err, const char *text)
{
    if (xs_stanza_may_bounce(req))
        blk_reply(xs_stanza_error_reply_text(req, err, text), owner);
}

static void
blk_owner_add_interested(struct blk_owner *o, uint64_t id)
{
    for (size_t i = 0; i < o->ninterested; i++) {
        if (o->interested[i] == id)
            return;
    }
    o->interested = xs_reallocarray(o->interested, o->ninterested + 1,
        sizeof(o->interested[0]));
    o->interested[o->ninterested++] = id;
}

static void
blk_owner_drop_interested(struct blk_owner *o, uint64_t id)
{
    for (size_t i = 0; i < o->ninterested; i++) {
        if (o->interested[i] == id) {
            o->interested[i] = o->interested[--o->ninterested];
            return;
        }
    }
}

/* XEP-0191 3.2/3.3: the change as an IQ-set to every resource that asked
 * for the list (reports stripped: they are the requester's business). */
static void
blk_push(struct blk_owner *o, const char *what, const char *const *jids,
    size_t njids)
{
    size_t n = o->ninterested;
    uint64_t *ids;

    if (n == 0)
        return;
    /* A copy: sending may close a session, which edits the list. */
    ids = xs_reallocarray(NULL, n, sizeof(ids[0]));
    memcpy(ids, o->interested, n * sizeof(ids[0]));
    for (size_t i = 0; i < n; i++) {
        struct xs_session *s = xs_session_by_id(ids[i]);
        struct xs_elem *iq, *p;
        char id[33];

        if (s == NULL || s->jid == NULL)
            continue;
        iq = xs_elem_new(XS_NS_CLIENT, "iq");
        xs_random_id(id);
        xs_elem_set_attr(iq, "type", "set");
        xs_elem_set_attr(iq, "id", id);
        xs_elem_set_attr(iq, "from", o->bare);
        xs_elem_set_attr(iq, "to", s->jid->full);
        p = xs_elem_add_child(iq, XS_NS_BLOCKING, what);
        for (size_t k = 0; k < njids; k++)
            xs_elem_set_attr(xs_elem_add_child(p, NULL, "item"), "jid",
                jids[k]);
        xs_session_send(s, xs_stanza_new(iq));
    }
    xs_free(ids);
}

/* ---- changes: parse, queue, commit, apply ---- */

static void
blk_op_free(struct blk_op *op)
{
    for (size_t i = 0; i < op->njids; i++)
        xs_free(op->jids[i]);
    xs_free(op->jids);
    for (size_t i = 0; i < op->nreports; i++)
        xs_spam_report_fini(&op->reports[i]);
    xs_free(op->reports);
    xs_stanza_unref(op->st);
    xs_free(op);
}

static int
blk_strp_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates in place. */
static void
blk_jids_unique(char **v, size_t *n)
{
    size_t keep = 0;

    if (*n == 0)
        return;
    qsort(v, *n, sizeof(v[0]), blk_strp_cmp);
    for (size_t i = 0; i < *n; i++) {
        if (keep > 0 && strcmp(v[keep - 1], v[i]) == 0) {
            xs_free(v[i]);
            continue;
        }
        v[keep++] = v[i];
    }
    *n = keep;
}

/*
 * The <item/>s of a block or unblock into op->jids (and, for a block, the
 * reports into op->reports).  On failure, *err and *why say what to
 * answer; op may hold part of the items (blk_op_free frees them).
 */
static xs_rc
blk_parse_items(struct blk_op *op, const struct xs_elem *payload,
    const char *owner, enum xs_stanza_err *err, const char **why)
{
    size_t n = 0;

    for (const struct xs_elem *c = xs_elem_first_elem(payload); c != NULL;
        c = xs_elem_next_elem(c)) {
        if (strcmp(c->name, "item") == 0 &&
            strcmp(c->ns, XS_NS_BLOCKING) == 0)
            n++;
    }
    if (n == 0)
        return XS_OK;
    if (op->kind == BLK_BLOCK && n > op->state->max_items) {
        *err = XS_SERR_POLICY_VIOLATION;
        *why = "too many items for the block list";
        return XS_ELIMIT;
    }
    op->jids = xs_calloc(n, sizeof(op->jids[0]));
    if (op->kind == BLK_BLOCK)
        op->reports = xs_calloc(n, sizeof(op->reports[0]));
    for (const struct xs_elem *c = xs_elem_first_elem(payload); c != NULL;
        c = xs_elem_next_elem(c)) {
        const char *s;
        struct xs_jid *j;
        xs_rc rc;

        if (strcmp(c->name, "item") != 0 || strcmp(c->ns, XS_NS_BLOCKING) != 0)
            continue;
        if ((s = xs_elem_attr(c, "jid")) == NULL) {
            *err = XS_SERR_BAD_REQUEST;
            *why = "an item needs a jid";
            return XS_EINVAL;
        }
        if (xs_jid_new(s, &j) != XS_OK) {
            *err = XS_SERR_JID_MALFORMED;
            *why = "not a valid JID";
            return XS_EINVAL;
        }
        if (op->kind == BLK_BLOCK && blk_is_self(owner, j->local, j->domain)) {
            xs_jid_free(j);
            *err = XS_SERR_BAD_REQUEST;
            *why = "an account cannot block or report itself";
            return XS_EINVAL;
        }
        op->jids[op->njids++] = xs_strdup(j->full);
        xs_jid_free(j);
        if (op->kind != BLK_BLOCK)
            continue;
        rc = xs_blocking_report_parse(c, op->jids[op->njids - 1],
            &op->state->rlim, &op->reports[op->nreports], err, why);
        if (rc == XS_OK)
            op->nreports++;
        else if (rc != XS_ENOTFOUND)
            return rc;
    }
    blk_jids_unique(op->jids, &op->njids);
    return XS_OK;
}

static void blk_op_start(struct blk_owner *o);

/* The head op of o is done: answer, then run the next one. */
static void
blk_op_finish(struct blk_owner *o, struct blk_op *op)
{
    struct xs_session *s;

    xs_assert(o->ops == op);
    o->ops = op->next;
    if (o->ops == NULL)
        o->ops_tail = NULL;
    o->is_busy = false;
    if (op->session_id != 0 && (s = xs_session_by_id(op->session_id)) != NULL)
        xs_session_resume(s);
    blk_op_free(op);
    if (o->ops != NULL)
        blk_op_start(o);
    else
        blk_owner_release(o);
}

/* ---- presence follows a block (XEP-0191 3.2, 3.3) ---- */

struct blk_follow {
    const struct xs_jid *item;      /* borrowed: a domain item */
    char               **to;        /* owned: where presence goes */
    size_t               n;
};

static bool
blk_entitled(const struct xs_roster_item *it)
{
    /* RFC 6121: the contact receives the owner's presence. */
    return it != NULL && it->is_item &&
        (it->sub == XS_SUB_FROM || it->sub == XS_SUB_BOTH);
}

static void
blk_follow_collect(const struct xs_roster_item *it, void *ud)
{
    struct blk_follow *f = ud;
    const char *at = strchr(it->contact, '@');
    const char *domain = at != NULL ? at + 1 : it->contact;

    if (!blk_entitled(it) || strcmp(domain, f->item->domain) != 0)
        return;
    f->to = xs_reallocarray(f->to, f->n + 1, sizeof(f->to[0]));
    f->to[f->n++] = f->item->resource != NULL
        ? xs_asprintf("%s/%s", it->contact, f->item->resource)
        : xs_strdup(it->contact);
}

/*
 * The blocked JIDs that were entitled to the owner's presence get
 * unavailable presence; on unblock, the owner's current presence.  A
 * domain item covers every entitled contact at the domain.  Call with the
 * owner's list not yet blocking them (block) or no longer (unblock): the
 * presence code may consult it.
 */
static void
blk_presence_follow(const char *owner, const char *item, bool is_block)
{
    const struct xs_roster *r = xs_roster_loaded(owner);
    struct blk_follow f = { 0 };
    struct xs_jid *j;

    if (r == NULL || xs_jid_new(item, &j) != XS_OK)
        return;
    f.item = j;
    if (j->local != NULL) {
        if (blk_entitled(xs_roster_item(r, j->bare))) {
            f.to = xs_calloc(1, sizeof(f.to[0]));
            f.to[f.n++] = xs_strdup(j->full);
        }
    } else {
        xs_roster_each(r, blk_follow_collect, &f);  /* collect, then send */
    }
    for (size_t i = 0; i < f.n; i++) {
        if (is_block)
            xs_presence_send_unavailable(owner, f.to[i]);
        else
            xs_presence_send_current(owner, f.to[i]);
        xs_free(f.to[i]);
    }
    xs_free(f.to);
    xs_jid_free(j);
}

/* Committed (or nothing to commit): memory, result, observers, pushes. */
static void
blk_op_apply(struct blk_owner *o, struct blk_op *op)
{
    const char *what = op->kind == BLK_BLOCK ? "block" : "unblock";
    char **changed = op->jids;
    size_t nchanged = op->njids;
    bool is_stale = op->epoch != o->epoch;

    if (op->kind == BLK_UNBLOCK_ALL) {
        /* Observers hear every item that was unblocked. */
        changed = o->items;
        nchanged = o->nitems;
        o->items = NULL;
        o->nitems = o->cap = 0;
        store.nitems -= nchanged;
        for (size_t i = 0; i < nchanged && !is_stale; i++)
            blk_presence_follow(o->bare, changed[i], false);
    } else if (!is_stale) {
        for (size_t i = 0; i < op->njids; i++) {
            if (op->kind == BLK_UNBLOCK) {
                if (blk_owner_remove(o, op->jids[i]) == XS_OK)
                    blk_presence_follow(o->bare, op->jids[i], false);
            } else if (!blk_owner_has(o, op->jids[i])) {
                blk_presence_follow(o->bare, op->jids[i], true);
                (void)blk_owner_add(o, op->jids[i]);
            }
        }
    }
    xs_log(XS_LOG_INFO, "blocking: %s owner=%s items=%zu reports=%zu",
        op->kind == BLK_UNBLOCK_ALL ? "unblock-all" : what, o->bare,
        op->kind == BLK_UNBLOCK_ALL ? nchanged : op->njids, op->nreports);
    blk_reply(xs_stanza_iq_result(op->st), o->bare);
    if (!is_stale) {
        blk_notify(o->bare, op->kind == BLK_BLOCK,
            (const char *const *)changed, nchanged);
        blk_notify_reports(o->bare, op->reports, op->nreports);
        blk_push(o, what, (const char *const *)op->jids, op->njids);
    }
    if (op->kind == BLK_UNBLOCK_ALL) {
        for (size_t i = 0; i < nchanged; i++)
            xs_free(changed[i]);
        xs_free(changed);
    }
}

static void
blk_op_on_commit(xs_rc rc, void *udata)
{
    struct blk_op *op = udata;
    struct blk_owner *o = op->owner;

    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "blocking: store failed owner=%s: %s", o->bare,
            xs_rc_str(rc));
        blk_reply_error(op->st, o->bare, XS_SERR_INTERNAL_SERVER_ERROR,
            NULL);
    } else {
        blk_op_apply(o, op);
    }
    blk_op_finish(o, op);
}

static size_t
blk_count_new(const struct blk_owner *o, const struct blk_op *op)
{
    size_t n = 0;

    for (size_t i = 0; i < op->njids; i++) {
        if (!blk_owner_has(o, op->jids[i]))
            n++;
    }
    return n;
}

static size_t
blk_count_present(const struct blk_owner *o, const struct blk_op *op)
{
    return op->njids - blk_count_new(o, op);
}

/* Run the head op of o: check the limit against the list as it is now,
 * then commit (or skip the database when nothing would change). */
static void
blk_op_start(struct blk_owner *o)
{
    struct blk_op *op = o->ops;
    struct pgq *db = xs_server()->db;
    const char *at = strchr(o->bare, '@');
    char *user;
    xs_rc rc = XS_OK;
    bool is_noop;

    xs_assert(op != NULL && !o->is_busy && at != NULL);
    o->is_busy = true;
    op->epoch = o->epoch;
    switch (op->kind) {
    case BLK_BLOCK: {
        size_t add = blk_count_new(o, op);

        if (o->nitems + add > op->state->max_items) {
            char text[96];

            snprintf(text, sizeof(text), "the block list holds at most %zu "
                "items", op->state->max_items);
            blk_reply_error(op->st, o->bare, XS_SERR_POLICY_VIOLATION, text);
            blk_op_finish(o, op);
            return;
        }
        is_noop = add == 0 && op->nreports == 0;
        break;
    }
    case BLK_UNBLOCK:
        is_noop = blk_count_present(o, op) == 0;
        break;
    default:
        is_noop = o->nitems == 0;
        break;
    }
    if (is_noop) {
        blk_op_apply(o, op);
        blk_op_finish(o, op);
        return;
    }
    user = xs_strndup(o->bare, (size_t)(at - o->bare));
    switch (op->kind) {
    case BLK_BLOCK:
        rc = xs_blocklist_insert(db, at + 1, user,
            (const char *const *)op->jids, op->njids, o->bare, op->reports,
            op->nreports, blk_op_on_commit, op);
        break;
    case BLK_UNBLOCK:
        rc = xs_blocklist_delete(db, at + 1, user,
            (const char *const *)op->jids, op->njids, blk_op_on_commit, op);
        break;
    case BLK_UNBLOCK_ALL:
        rc = xs_blocklist_delete_all(db, at + 1, user, blk_op_on_commit, op);
        break;
    }
    xs_free(user);
    if (rc != XS_OK) {
        xs_log(XS_LOG_WARN, "blocking: cannot queue owner=%s: %s", o->bare,
            xs_rc_str(rc));
        blk_reply_error(op->st, o->bare, rc == XS_ELIMIT
            ? XS_SERR_RESOURCE_CONSTRAINT : XS_SERR_INTERNAL_SERVER_ERROR,
            NULL);
        blk_op_finish(o, op);
    }
}

/* Only the account itself edits or reads its list (XEP-0191 is between a
 * client and its own server); anyone else sees no such service. */
static bool
blk_from_owner(const struct xs_stanza_ctx *ctx)
{
    return ctx->to == NULL || strcmp(ctx->to->bare, ctx->from->bare) == 0;
}

static enum xs_verdict
blk_on_change(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    struct blk_state *state, bool is_block)
{
    const char *owner = ctx->from->bare;
    enum xs_stanza_err err = XS_SERR_NONE;
    const char *why = NULL;
    struct blk_owner *o;
    struct blk_op *op;

    if (!blk_from_owner(ctx) || ctx->from->local == NULL) {
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        ctx->why = "blocking command not from the owner";
        return XS_BOUNCE;
    }
    op = xs_calloc(1, sizeof(*op));
    op->state = state;
    op->kind = is_block ? BLK_BLOCK : BLK_UNBLOCK;
    if (blk_parse_items(op, payload, owner, &err, &why) != XS_OK)
        goto fail;
    if (op->njids == 0) {
        if (is_block) {
            err = XS_SERR_BAD_REQUEST;      /* XEP-0191 3.2 */
            why = "a block needs at least one item";
            goto fail;
        }
        op->kind = BLK_UNBLOCK_ALL;         /* XEP-0191 3.4 */
    }
    op->st = ctx->st;                       /* stolen below */
    o = blk_owner_get(owner);
    op->owner = o;
    if (ctx->origin != NULL) {
        op->session_id = ctx->origin->id;
        xs_session_pause(ctx->origin);
    }
    if (o->ops_tail != NULL)
        o->ops_tail->next = op;
    else
        o->ops = op;
    o->ops_tail = op;
    if (!o->is_busy)
        blk_op_start(o);
    return XS_STOLEN;

fail:
    blk_op_free(op);
    xs_log(XS_LOG_DEBUG, "blocking: refused owner=%s: %s", owner, why);
    blk_reply_error(ctx->st, owner, err, why);
    return XS_HANDLED;
}

static enum xs_verdict
blk_on_block(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    return blk_on_change(ctx, payload, state, true);
}

static enum xs_verdict
blk_on_unblock(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    return blk_on_change(ctx, payload, state, false);
}

static enum xs_verdict
blk_on_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    const char *owner = ctx->from->bare;
    struct blk_owner *o;
    struct xs_stanza *r;
    struct xs_elem *list;

    (void)payload, (void)state;
    if (!blk_from_owner(ctx) || ctx->from->local == NULL) {
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        ctx->why = "blocklist request not from the owner";
        return XS_BOUNCE;
    }
    /* XEP-0191 3.1: this resource now gets the pushes. */
    if (ctx->origin != NULL)
        blk_owner_add_interested(blk_owner_get(owner), ctx->origin->id);
    r = xs_stanza_iq_result(ctx->st);
    list = xs_elem_add_child(r->el, XS_NS_BLOCKING, "blocklist");
    o = blk_owner_lookup(owner);
    for (size_t i = 0; o != NULL && i < o->nitems; i++)
        xs_elem_set_attr(xs_elem_add_child(list, NULL, "item"), "jid",
            o->items[i]);
    blk_reply(r, owner);        /* may close the session: o not used after */
    return XS_HANDLED;
}

/* ---- stanza hooks ---- */

/*
 * The account's own server (a hosted domain, no resource) answers and asks
 * on its behalf: a user who blocks a whole local domain blocks its users,
 * not the server that carries the session (pings, disco, this very list).
 */
static bool
blk_is_own_server(const struct xs_jid *j)
{
    return j->local == NULL && j->resource == NULL &&
        xs_conf_is_local_host(xs_server()->conf, j->domain);
}

/* A stanza to a blocked JID (XEP-0191 3.5): not routed.  Requests get
 * not-acceptable with <blocked/>, sent straight back to the session: a
 * routed error would come "from" the blocked JID and be filtered. */
static enum xs_verdict
blk_on_outbound(struct xs_stanza_ctx *ctx, void *state)
{
    struct xs_stanza *err;
    struct xs_elem *e;

    (void)state;
    if (ctx->to == NULL || blk_is_own_server(ctx->to) ||
        !xs_blocking_blocks(ctx->from->bare, ctx->to))
        return XS_PASS;
    ctx->why = "to a blocked JID";
    if (ctx->kind == XS_K_PRESENCE || !xs_stanza_may_bounce(ctx->st))
        return XS_DROP;
    err = xs_stanza_error_reply(ctx->st, XS_SERR_NOT_ACCEPTABLE);
    e = xs_elem_child(err->el, NULL, "error");
    xs_assert(e != NULL);
    xs_elem_add_child(e, XS_NS_BLOCKING_ERRORS, "blocked");
    /* RFC 6120 8.3.1: cancel, whatever not-acceptable's default is; the
     * XEP's example says so too. */
    xs_elem_set_attr(e, "type", "cancel");
    if (ctx->origin != NULL)
        xs_session_send(ctx->origin, err);
    else
        xs_router_route(err);
    return XS_DROP;
}

/* A stanza from a blocked JID to the owner (XEP-0191 3.5): the owner
 * looks unavailable. */
static enum xs_verdict
blk_on_inbound(struct xs_stanza_ctx *ctx, void *state)
{
    (void)state;
    if (ctx->to == NULL || blk_is_own_server(ctx->from) ||
        !xs_blocking_blocks(ctx->to->bare, ctx->from))
        return XS_PASS;
    ctx->why = "from a blocked JID";
    switch (ctx->kind) {
    case XS_K_MESSAGE:
        if (xs_stanza_type_is(ctx->st, "error") ||
            xs_stanza_type_is(ctx->st, "groupchat"))
            return XS_DROP;
        break;
    case XS_K_IQ:
        if (!xs_stanza_type_is(ctx->st, "get") &&
            !xs_stanza_type_is(ctx->st, "set"))
            return XS_DROP;
        break;
    default:
        return XS_DROP;     /* presence of any kind: silently */
    }
    ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
    return XS_BOUNCE;
}

/* ---- events ---- */

static void
blk_on_session_closed(enum xs_event ev, void *arg, void *state)
{
    struct xs_session *s = arg;
    struct blk_owner *o;

    (void)ev, (void)state;
    if (s->jid == NULL || (o = blk_owner_lookup(s->jid->bare)) == NULL)
        return;
    blk_owner_drop_interested(o, s->id);
    blk_owner_release(o);
}

static void
blk_on_user_deleted(enum xs_event ev, void *arg, void *state)
{
    const struct xs_jid *bare = arg;
    struct blk_owner *o;

    (void)ev, (void)state;
    if ((o = blk_owner_lookup(bare->bare)) == NULL)
        return;
    /* The rows are gone (ON DELETE CASCADE); a change in flight must not
     * bring its items back into memory. */
    o->epoch++;
    blk_owner_free_items(o);
    o->ninterested = 0;
    blk_owner_release(o);
}

/* ---- start: every list into memory before clients are served ---- */

static void
blk_load_page_cb(xs_rc rc, const struct xs_blocklist_row *rows, size_t n,
    void *udata)
{
    struct blk_load *l = udata;
    struct blk_state *state = l->state;

    if (rc == XS_OK) {
        for (size_t i = 0; i < n; i++) {
            char *bare = xs_asprintf("%s@%s", rows[i].username,
                rows[i].host);

            (void)xs_blocking_mem_add(bare, rows[i].jid);
            xs_free(bare);
        }
        l->rows += n;
        if (n == XS_BLOCKLIST_PAGE) {
            const struct xs_blocklist_row *last = &rows[n - 1];

            rc = xs_blocklist_load_page(xs_server()->db, last->host,
                last->username, last->jid, XS_BLOCKLIST_PAGE,
                blk_load_page_cb, l);
            if (rc == XS_OK)
                return;
        }
    }
    if (rc == XS_OK) {
        xs_log(XS_LOG_INFO, "blocking: loaded owners=%zu items=%zu ms=%"
            PRIu64, store.nowners, store.nitems,
            xs_now_ms() - l->started_ms);
    } else {
        xs_log(XS_LOG_ERR, "blocking: loading the block lists failed: %s",
            xs_rc_str(rc));
    }
    state->load = NULL;
    xs_free(l);
    xs_startup_release(rc == XS_OK);
}

static void
blk_fini(void *ptr)
{
    struct blk_state *state = ptr;

    if (state == NULL)
        return;
    /* Runs after the loop has stopped (or when the start is abandoned):
     * no database callback can come any more, so pending work is freed
     * here, stolen stanzas included. */
    xs_free(state->load);
    xs_blocking_mem_reset();
    xs_free(state);
}

static xs_rc
blk_init(const struct xs_conf *conf, void **out)
{
    struct blk_state *state = xs_calloc(1, sizeof(*state));
    struct blk_load *l;
    xs_rc rc;

    *out = state;
    if ((rc = blk_options(conf, state)) != XS_OK)
        return rc;
    xs_blocking_mem_reset();
    l = xs_calloc(1, sizeof(*l));
    l->state = state;
    l->started_ms = xs_now_ms();
    rc = xs_blocklist_load_page(xs_server()->db, "", "", "",
        XS_BLOCKLIST_PAGE, blk_load_page_cb, l);
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "blocking: cannot queue the load: %s",
            xs_rc_str(rc));
        xs_free(l);
        return rc;
    }
    state->load = l;
    xs_startup_hold();
    return XS_OK;
}

static const struct xs_hook_spec blk_hooks[] = {
    { XS_HOOK_C2S_IN, XS_K_ANY, XS_PRIO_POLICY, blk_on_outbound },
    { XS_HOOK_DELIVER, XS_K_ANY, XS_PRIO_POLICY, blk_on_inbound },
    { 0 }
};

static const struct xs_iq_spec blk_iqs[] = {
    { XS_NS_BLOCKING, "blocklist", XS_IQ_GET, XS_IQ_ACCOUNT, blk_on_get },
    { XS_NS_BLOCKING, "block", XS_IQ_SET, XS_IQ_ACCOUNT, blk_on_block },
    { XS_NS_BLOCKING, "unblock", XS_IQ_SET, XS_IQ_ACCOUNT, blk_on_unblock },
    { 0 }
};

static const struct xs_event_spec blk_events[] = {
    { XS_EV_SESSION_CLOSED, blk_on_session_closed },
    { XS_EV_USER_DELETED, blk_on_user_deleted },
    { 0 }
};

/* XEP-0377 section 4 and, COMPAT, the legacy features Prosody also
 * announces for urn:xmpp:reporting:0. */
static const char *const blk_features[] = {
    XS_NS_BLOCKING,
    XS_NS_REPORTING,
    XS_NS_REPORTING_0,
    "urn:xmpp:reporting:reason:spam:0",
    "urn:xmpp:reporting:reason:abuse:0",
    NULL
};

const struct xs_module xs_mod_blocking = {
    .name = "blocking",
    .abi = XS_MODULE_ABI,
    .init = blk_init,
    .fini = blk_fini,
    .hooks = blk_hooks,
    .iqs = blk_iqs,
    .events = blk_events,
    .features = blk_features,
};
