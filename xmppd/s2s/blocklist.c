/*
 * blocklist.c: the federation block list in memory, and the module
 * xs_mod_s2s_block that keeps it (see blocklist.h):
 *
 * - at start, every row of s2s_blocked_domains is loaded before the
 *   listeners open (xs_startup_hold), so no stream is accepted and no
 *   stanza leaves before the blocks apply;
 * - block_domain / unblock_domain write PostgreSQL first and change the
 *   memory when it has committed, so what the operator was told is what a
 *   restart finds.  Writes run one at a time, in the order they were
 *   asked: with a pool of connections, a block and an unblock of the same
 *   domain could otherwise commit in one order and apply in the other;
 * - a block closes the live streams of the domain and its subdomains
 *   (stream error policy-violation), and the ROUTE hook refuses outbound
 *   stanzas to refused domains (see blk_on_route for the error).
 */
#include "xmppd/s2s/blocklist.h"

#include "db/s2s_block.h"
#include "xmppd/admin/admin.h"
#include "xmppd/core/module.h"
#include "xmppd/router.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define BLK_BUCKETS_MIN 64
#define BLK_QUEUE_MAX   256             /* verbs waiting for their write */
#define BLK_CREATED_BY  "admin_api"
/* The stream error text peers see: never the operator's reason, which may
 * hold internal notes. */
#define BLK_CLOSE_TEXT  "domain blocked by this server's policy"

/* ---- the set ---- */

struct blk_entry {
    struct xs_s2s_block b;
    struct blk_entry   *hnext;      /* owned by the bucket chain */
};

static struct blk_entry **buckets;  /* owned */
static size_t nbuckets;
static size_t nentries;

static size_t
blk_hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;        /* FNV-1a */

    for (; *s != '\0'; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return (size_t)h;
}

const struct xs_s2s_block *
xs_s2s_block_lookup(const char *domain)
{
    struct blk_entry *e;

    if (nbuckets == 0 || domain == NULL)
        return NULL;
    for (e = buckets[blk_hash(domain) & (nbuckets - 1)]; e != NULL;
         e = e->hnext) {
        if (strcmp(e->b.domain, domain) == 0)
            return &e->b;
    }
    return NULL;
}

const struct xs_s2s_block *
xs_s2s_block_match(const char *domain)
{
    const char *d = domain;

    if (nentries == 0 || domain == NULL)
        return NULL;
    /* example.org, then each parent: a.b.example.org -> b.example.org ->
     * example.org -> org.  At most one lookup per label. */
    while (d != NULL && *d != '\0') {
        const struct xs_s2s_block *b = xs_s2s_block_lookup(d);
        const char *dot;

        if (b != NULL)
            return b;
        dot = strchr(d, '.');
        d = dot != NULL ? dot + 1 : NULL;
    }
    return NULL;
}

static void
blk_grow(void)
{
    size_t n = nbuckets ? nbuckets * 2 : BLK_BUCKETS_MIN;
    struct blk_entry **nb = xs_calloc(n, sizeof(*nb));

    for (size_t i = 0; i < nbuckets; i++) {
        struct blk_entry *e = buckets[i], *next;

        for (; e != NULL; e = next) {
            size_t k = blk_hash(e->b.domain) & (n - 1);

            next = e->hnext;
            e->hnext = nb[k];
            nb[k] = e;
        }
    }
    xs_free(buckets);
    buckets = nb;
    nbuckets = n;
}

static void
blk_entry_free(struct blk_entry *e)
{
    xs_free(e->b.domain);
    xs_free(e->b.reason);
    xs_free(e->b.created_by);
    xs_free(e);
}

void
xs_s2s_block_mem_put(const char *domain, const char *reason, int64_t since,
    const char *created_by)
{
    struct blk_entry *e;
    size_t k;

    xs_assert(domain != NULL && *domain != '\0');
    if (nbuckets != 0) {
        for (e = buckets[blk_hash(domain) & (nbuckets - 1)]; e != NULL;
             e = e->hnext) {
            if (strcmp(e->b.domain, domain) == 0) {
                xs_free(e->b.reason);
                xs_free(e->b.created_by);
                e->b.reason = xs_strdup(reason ? reason : "");
                e->b.created_by = xs_strdup(created_by ? created_by : "");
                return;
            }
        }
    }
    if (nentries >= nbuckets)
        blk_grow();
    e = xs_calloc(1, sizeof(*e));
    e->b.domain = xs_strdup(domain);
    e->b.reason = xs_strdup(reason ? reason : "");
    e->b.since = since;
    e->b.created_by = xs_strdup(created_by ? created_by : "");
    k = blk_hash(domain) & (nbuckets - 1);
    e->hnext = buckets[k];
    buckets[k] = e;
    nentries++;
}

bool
xs_s2s_block_mem_del(const char *domain)
{
    struct blk_entry **pp;

    if (nbuckets == 0 || domain == NULL)
        return false;
    for (pp = &buckets[blk_hash(domain) & (nbuckets - 1)]; *pp != NULL;
         pp = &(*pp)->hnext) {
        struct blk_entry *e = *pp;

        if (strcmp(e->b.domain, domain) == 0) {
            *pp = e->hnext;
            blk_entry_free(e);
            nentries--;
            return true;
        }
    }
    return false;
}

void
xs_s2s_block_mem_reset(void)
{
    for (size_t i = 0; i < nbuckets; i++) {
        struct blk_entry *e = buckets[i], *next;

        for (; e != NULL; e = next) {
            next = e->hnext;
            blk_entry_free(e);
        }
    }
    xs_free(buckets);
    buckets = NULL;
    nbuckets = 0;
    nentries = 0;
}

size_t
xs_s2s_block_count(void)
{
    return nentries;
}

void
xs_s2s_block_each(void (*fn)(const struct xs_s2s_block *b, void *udata),
    void *udata)
{
    for (size_t i = 0; i < nbuckets; i++) {
        for (struct blk_entry *e = buckets[i]; e != NULL; e = e->hnext)
            fn(&e->b, udata);
    }
}

/* ---- closing live streams ---- */

struct blk_victims {
    const char *domain;     /* borrowed: the block */
    size_t      dlen;
    char      **remotes;    /* owned */
    size_t      n;
};

/* remote is domain or one of its subdomains. */
static bool
blk_covers(const char *domain, size_t dlen, const char *remote)
{
    size_t rlen = strlen(remote);

    if (rlen == dlen)
        return strcasecmp(remote, domain) == 0;
    return rlen > dlen && remote[rlen - dlen - 1] == '.' &&
        strcasecmp(remote + rlen - dlen, domain) == 0;
}

static void
blk_victim_cb(const struct xs_s2s_info *info, void *udata)
{
    struct blk_victims *v = udata;

    if (!blk_covers(v->domain, v->dlen, info->remote_domain))
        return;
    for (size_t i = 0; i < v->n; i++) {
        if (strcasecmp(v->remotes[i], info->remote_domain) == 0)
            return;
    }
    v->remotes = xs_reallocarray(v->remotes, v->n + 1, sizeof(*v->remotes));
    v->remotes[v->n++] = xs_strdup(info->remote_domain);
}

/* Close every stream of domain and its subdomains; how many. */
static size_t
blk_close_streams(const char *domain)
{
    struct blk_victims v = { .domain = domain, .dlen = strlen(domain) };
    size_t closed;

    /* The visitor may not close: collect the names, then close.  The
     * domain itself also covers streams not listed (dialback verify). */
    xs_s2s_list(blk_victim_cb, &v);
    closed = xs_s2s_close_domain(domain, BLK_CLOSE_TEXT);
    for (size_t i = 0; i < v.n; i++) {
        closed += xs_s2s_close_domain(v.remotes[i], BLK_CLOSE_TEXT);
        xs_free(v.remotes[i]);
    }
    xs_free(v.remotes);
    return closed;
}

/* ---- the module: load, serialized writes, verbs ---- */

enum blk_op_kind { BLK_OP_BLOCK, BLK_OP_UNBLOCK };

struct blk_op {
    enum blk_op_kind kind;
    char            *domain;        /* owned */
    char            *reason;        /* owned; block only */
    void            *call_udata;    /* borrowed token: xs_admin_call_by_udata */
    struct blk_op   *next;          /* owned by the queue */
};

struct blk_state {
    bool           is_loading;
    uint64_t       load_started_ms;
    size_t         loaded;
    char          *load_after;      /* owned: last domain of the page */
    struct blk_op *inflight;        /* owned: its write is in PostgreSQL */
    struct blk_op *head;            /* owned FIFO of waiting writes */
    struct blk_op **tail;
    size_t         nqueued;
};

static struct blk_state *blk;        /* the loaded module's state */

static void
blk_op_free(struct blk_op *op)
{
    if (op == NULL)
        return;
    xs_free(op->domain);
    xs_free(op->reason);
    xs_free(op);
}

static void blk_run_next(void);

static void
blk_put_done(xs_rc rc, int64_t created_at, void *udata)
{
    struct blk_op *op = udata;
    struct xs_admin_call *call = xs_admin_call_by_udata(op->call_udata);

    xs_assert(blk != NULL && blk->inflight == op);
    blk->inflight = NULL;
    if (rc == XS_OK) {
        size_t closed;

        xs_s2s_block_mem_put(op->domain, op->reason, created_at,
            BLK_CREATED_BY);
        closed = blk_close_streams(op->domain);
        xs_log(XS_LOG_NOTICE, "s2s: blocked domain=%s by=%s closed=%zu",
            op->domain, BLK_CREATED_BY, closed);
        if (call != NULL)
            xs_admin_call_ok(call, json_integer((json_int_t)closed));
    } else if (call != NULL) {
        xs_admin_call_fail_db(call, rc);
    }
    blk_op_free(op);
    blk_run_next();
}

static void
blk_del_done(xs_rc rc, bool existed, void *udata)
{
    struct blk_op *op = udata;
    struct xs_admin_call *call = xs_admin_call_by_udata(op->call_udata);

    xs_assert(blk != NULL && blk->inflight == op);
    blk->inflight = NULL;
    if (rc == XS_OK) {
        /* Memory follows the table, even if they had drifted. */
        bool was = xs_s2s_block_mem_del(op->domain);

        if (existed || was)
            xs_log(XS_LOG_NOTICE, "s2s: unblocked domain=%s by=%s",
                op->domain, BLK_CREATED_BY);
        if (call != NULL && (existed || was))
            xs_admin_call_ok(call, json_integer(0));
        else if (call != NULL)
            xs_admin_call_fail(call, 404, "Domain %s is not blocked",
                op->domain);
    } else if (call != NULL) {
        xs_admin_call_fail_db(call, rc);
    }
    blk_op_free(op);
    blk_run_next();
}

/* Start the next waiting write, if none is in flight. */
static void
blk_run_next(void)
{
    while (blk != NULL && blk->inflight == NULL && blk->head != NULL) {
        struct blk_op *op = blk->head;
        struct xs_admin_call *call;
        xs_rc rc;

        blk->head = op->next;
        if (blk->head == NULL)
            blk->tail = &blk->head;
        blk->nqueued--;
        op->next = NULL;
        blk->inflight = op;
        if (op->kind == BLK_OP_BLOCK)
            rc = xs_s2s_block_db_put(xs_server()->db, op->domain,
                op->reason, BLK_CREATED_BY, blk_put_done, op);
        else
            rc = xs_s2s_block_db_del(xs_server()->db, op->domain,
                blk_del_done, op);
        if (rc == XS_OK)
            return;
        blk->inflight = NULL;
        if ((call = xs_admin_call_by_udata(op->call_udata)) != NULL)
            xs_admin_call_fail_db(call, rc);
        blk_op_free(op);
    }
}

static void
blk_enqueue(struct xs_admin_call *call, enum blk_op_kind kind,
    char *domain, const char *reason)
{
    struct blk_op *op;

    if (blk->nqueued >= BLK_QUEUE_MAX) {
        xs_free(domain);
        xs_admin_call_fail(call, 503, "Server busy, try again");
        return;
    }
    op = xs_calloc(1, sizeof(*op));
    op->kind = kind;
    op->domain = domain;
    op->reason = reason != NULL ? xs_strdup(reason) : NULL;
    op->call_udata = xs_admin_call_udata(call);
    *blk->tail = op;
    blk->tail = &op->next;
    blk->nqueued++;
    blk_run_next();
}

/* The prepared domain argument, or NULL after failing the call. */
static char *
blk_domain_arg(struct xs_admin_call *call)
{
    const char *arg = xs_admin_call_arg(call, "domain");
    char *domain = NULL;

    if (arg == NULL || xs_jid_domainprep(arg, &domain) != XS_OK ||
        strlen(domain) > XS_S2S_BLOCK_DOMAIN_MAX) {
        xs_free(domain);
        xs_admin_call_fail(call, 400, "Invalid domain");
        return NULL;
    }
    return domain;
}

static void
blk_cmd_block(struct xs_admin_call *call, void *state)
{
    const char *reason = xs_admin_call_arg(call, "reason");
    char *domain;

    (void)state;
    if ((domain = blk_domain_arg(call)) == NULL)
        return;
    if (xs_conf_is_local_host(xs_server()->conf, domain)) {
        xs_admin_call_fail(call, 400, "%s is one of our hosts", domain);
        xs_free(domain);
        return;
    }
    if (reason == NULL || strlen(reason) > XS_S2S_BLOCK_REASON_MAX) {
        xs_admin_call_fail(call, 400, "The reason is longer than %d bytes",
            XS_S2S_BLOCK_REASON_MAX);
        xs_free(domain);
        return;
    }
    blk_enqueue(call, BLK_OP_BLOCK, domain, reason);
}

static void
blk_cmd_unblock(struct xs_admin_call *call, void *state)
{
    char *domain;

    (void)state;
    if ((domain = blk_domain_arg(call)) == NULL)
        return;
    blk_enqueue(call, BLK_OP_UNBLOCK, domain, NULL);
}

static json_t *
blk_json(json_t *v)
{
    if (v == NULL)
        xs_assert_fail("jansson allocation", __FILE__, __LINE__);
    return v;
}

static void
blk_json_set(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, blk_json(v)) != 0)
        xs_assert_fail("json_object_set", __FILE__, __LINE__);
}

static void
blk_json_append(json_t *arr, json_t *v)
{
    if (json_array_append_new(arr, blk_json(v)) != 0)
        xs_assert_fail("json_array_append", __FILE__, __LINE__);
}

struct blk_list {
    const struct xs_s2s_block **v;  /* borrowed entries */
    size_t n;
};

static void
blk_list_cb(const struct xs_s2s_block *b, void *udata)
{
    struct blk_list *l = udata;

    l->v = xs_reallocarray(l->v, l->n + 1, sizeof(*l->v));
    l->v[l->n++] = b;
}

static int
blk_cmp(const void *a, const void *b)
{
    const struct xs_s2s_block *x = *(const struct xs_s2s_block *const *)a;
    const struct xs_s2s_block *y = *(const struct xs_s2s_block *const *)b;

    return strcmp(x->domain, y->domain);
}

static void
blk_cmd_list(struct xs_admin_call *call, void *state)
{
    struct blk_list l = { 0 };
    json_t *rows = blk_json(json_array());

    (void)state;
    xs_s2s_block_each(blk_list_cb, &l);
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), blk_cmp);
    for (size_t i = 0; i < l.n; i++) {
        const struct xs_s2s_block *b = l.v[i];
        json_t *o = blk_json(json_object());
        json_t *reason;
        time_t t = (time_t)b->since;
        struct tm tm;
        char since[32] = "";

        if (gmtime_r(&t, &tm) != NULL)
            strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
        blk_json_set(o, "domain", json_string(b->domain));
        /* A reason from the database is valid UTF-8: PostgreSQL checked
         * it; json_string only refuses invalid UTF-8. */
        reason = json_string(b->reason);
        blk_json_set(o, "reason", reason != NULL ? reason
            : json_string(""));
        blk_json_set(o, "since", json_string(since));
        blk_json_set(o, "since_unix", json_integer((json_int_t)b->since));
        blk_json_set(o, "created_by", json_string(b->created_by));
        blk_json_append(rows, o);
    }
    xs_free(l.v);
    xs_admin_call_ok(call, rows);
}

static const char *
blk_auth_name(enum xs_s2s_auth a)
{
    switch (a) {
    case XS_S2S_AUTH_EXTERNAL:
        return "external";
    case XS_S2S_AUTH_DIALBACK:
        return "dialback";
    case XS_S2S_AUTH_NONE:
        break;
    }
    return "none";
}

static void
blk_conn_cb(const struct xs_s2s_info *i, void *udata)
{
    json_t *rows = udata;
    json_t *o = blk_json(json_object());

    blk_json_set(o, "id", json_integer((json_int_t)i->id));
    blk_json_set(o, "direction", json_string(i->dir == XS_S2S_IN
        ? "in" : "out"));
    blk_json_set(o, "local", json_string(i->local_domain));
    blk_json_set(o, "remote", json_string(i->remote_domain));
    blk_json_set(o, "auth", json_string(i->is_authenticated
        ? blk_auth_name(i->auth) : "none"));
    blk_json_set(o, "tls", json_string(i->tls_version != NULL
        ? i->tls_version : "none"));
    blk_json_set(o, "verified", json_boolean(i->is_cert_verified));
    blk_json_set(o, "bidi", json_boolean(i->is_bidi));
    blk_json_set(o, "age", json_integer((json_int_t)i->age_s));
    blk_json_set(o, "stanzas_in", json_integer((json_int_t)i->stanzas_in));
    blk_json_set(o, "stanzas_out",
        json_integer((json_int_t)i->stanzas_out));
    blk_json_set(o, "bytes_in", json_integer((json_int_t)i->bytes_in));
    blk_json_set(o, "bytes_out", json_integer((json_int_t)i->bytes_out));
    blk_json_set(o, "ip", json_string(i->peer_ip));
    blk_json_set(o, "port", json_integer(i->peer_port));
    blk_json_set(o, "queued", json_integer((json_int_t)i->queued));
    blk_json_append(rows, o);
}

static void
blk_cmd_connections(struct xs_admin_call *call, void *state)
{
    json_t *rows = blk_json(json_array());

    (void)state;
    xs_s2s_list(blk_conn_cb, rows);
    xs_admin_call_ok(call, rows);
}

/*
 * Outbound refusal, before the router's s2s branch: a local user's stanza
 * to a refused domain never opens a stream.  The error is not-allowed
 * (RFC 6120 8.3.3.10: "the recipient or server does not allow any entity
 * to perform the action (e.g., sending to entities at a blacklisted
 * domain)"), with a text, so the user learns that this server refused
 * the domain: remote-server-not-found would say the domain is broken.
 * Errors and IQ results are dropped, never answered.
 */
static enum xs_verdict
blk_on_route(struct xs_stanza_ctx *ctx, void *state)
{
    const struct xs_conf *conf = xs_server()->conf;
    struct xs_stanza *reply;
    char *text;

    (void)state;
    if (ctx->to == NULL || ctx->from == NULL ||
        xs_conf_is_local_host(conf, ctx->to->domain) ||
        !xs_conf_is_local_host(conf, ctx->from->domain))
        return XS_PASS;        /* relaying is the s2s branch's refusal */
    if (xs_s2s_access_check(ctx->to->domain, XS_S2S_OUT))
        return XS_PASS;
    if (xs_stanza_may_bounce(ctx->st)) {
        text = xs_asprintf("Federation with %s is refused by this server's "
            "policy", ctx->to->domain);
        reply = xs_stanza_error_reply_text(ctx->st, XS_SERR_NOT_ALLOWED,
            text);
        xs_free(text);
        xs_elem_set_attr(reply->el, "to", ctx->from->full);
        xs_router_route(reply);
    }
    xs_stanza_unref(ctx->st);
    ctx->st = NULL;
    return XS_STOLEN;
}

static void
blk_load_page_cb(xs_rc rc, const struct xs_s2s_block_row *rows, size_t n,
    void *udata)
{
    struct blk_state *st = udata;

    if (rc == XS_OK) {
        for (size_t i = 0; i < n; i++)
            xs_s2s_block_mem_put(rows[i].domain, rows[i].reason,
                rows[i].created_at, rows[i].created_by);
        st->loaded += n;
        if (n == XS_S2S_BLOCK_PAGE) {
            xs_free(st->load_after);
            st->load_after = xs_strdup(rows[n - 1].domain);
            rc = xs_s2s_block_db_page(xs_server()->db, st->load_after,
                XS_S2S_BLOCK_PAGE, blk_load_page_cb, st);
            if (rc == XS_OK)
                return;
        }
    }
    st->is_loading = false;
    if (rc == XS_OK)
        xs_log(XS_LOG_INFO, "s2s: block list loaded domains=%zu ms=%"
            PRIu64, st->loaded, xs_now_ms() - st->load_started_ms);
    else
        xs_log(XS_LOG_ERR, "s2s: loading the block list failed: %s",
            xs_rc_str(rc));
    xs_startup_release(rc == XS_OK);
}

static void
blk_fini(void *ptr)
{
    struct blk_state *st = ptr;

    if (st == NULL)
        return;
    /* After the loop (or an abandoned start): no callback can come, and
     * pgq_free drops requests without calling back. */
    blk_op_free(st->inflight);
    while (st->head != NULL) {
        struct blk_op *op = st->head;

        st->head = op->next;
        blk_op_free(op);
    }
    xs_free(st->load_after);
    xs_s2s_block_mem_reset();
    if (blk == st)
        blk = NULL;
    xs_free(st);
}

static xs_rc
blk_init(const struct xs_conf *conf, void **out)
{
    struct blk_state *st = xs_calloc(1, sizeof(*st));
    xs_rc rc;

    (void)conf;
    *out = st;
    st->tail = &st->head;
    xs_s2s_block_mem_reset();
    st->load_started_ms = xs_now_ms();
    rc = xs_s2s_block_db_page(xs_server()->db, "", XS_S2S_BLOCK_PAGE,
        blk_load_page_cb, st);
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "s2s: cannot queue the block list load: %s",
            xs_rc_str(rc));
        return rc;
    }
    st->is_loading = true;
    blk = st;
    xs_startup_hold();
    return XS_OK;
}

static const struct xs_hook_spec blk_hooks[] = {
    /* Before the other policy hooks: nothing else needs to look at a
     * stanza that cannot leave. */
    { XS_HOOK_ROUTE, XS_K_ANY, XS_PRIO_POLICY + 10, blk_on_route },
    { 0 }
};

static const struct xs_admin_cmd blk_commands[] = {
    { "s2s_connections", blk_cmd_connections },
    { "block_domain", blk_cmd_block },
    { "unblock_domain", blk_cmd_unblock },
    { "blocked_domains", blk_cmd_list },
    { 0 }
};

const struct xs_module xs_mod_s2s_block = {
    .name = "s2s_block",
    .abi = XS_MODULE_ABI,
    .init = blk_init,
    .fini = blk_fini,
    .hooks = blk_hooks,
    .commands = blk_commands,
};
