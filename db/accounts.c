/*
 * accounts.c: account rows <-> struct xs_account_creds, on pgq.
 *
 * Callers never see a PGresult: each operation decodes its result into
 * what its callback promises.  Keys travel as hex text (encode/decode in
 * the SQL), and every copy of them we make is wiped after use.
 *
 * Last-login stamps are written behind: xs_accounts_touch_login only
 * records (user, host, time) in a per-pool set (coalesced: one entry per
 * account), and the whole set goes out as ONE UPDATE over unnest()ed
 * arrays, on pgq's background lane, one batch in flight at a time and at
 * most one batch a second (or at once when 512 wait).  A login after a
 * quiet second is written at once, so an idle server shows last_login
 * without delay; a login storm costs one statement and one commit a
 * second instead of one each per login, and never fills the queue that
 * credential lookups wait in.
 */
#include "db/accounts.h"

#include <errno.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db/queries.h"
#include "xmppd/core/buf.h"

enum acct_kind { ACCT_DONE, ACCT_CREDS, ACCT_LIST };

/* What travels through pgq as udata. */
struct acct_op {
    enum acct_kind           kind;
    bool                     need_row;  /* 0 rows touched: XS_ENOTFOUND */
    xs_accounts_done_cb     *done_cb;
    xs_accounts_creds_cb    *creds_cb;
    xs_accounts_list_cb     *list_cb;
    void                    *udata;     /* borrowed, handed back */
};

/* Hex text of the credential columns, for the 10 parameters. */
struct acct_hex {
    char sha1_salt[XS_ACCOUNT_SALT_LEN * 2 + 1];
    char sha1_iter[16];
    char sha1_stored[20 * 2 + 1];
    char sha1_server[20 * 2 + 1];
    char sha256_salt[XS_ACCOUNT_SALT_LEN * 2 + 1];
    char sha256_iter[16];
    char sha256_stored[32 * 2 + 1];
    char sha256_server[32 * 2 + 1];
};

static bool
acct_part_ok(const char *s)
{
    return s != NULL && s[0] != '\0'
        && strnlen(s, XS_ACCOUNT_PART_MAX + 1) <= XS_ACCOUNT_PART_MAX;
}

static bool
acct_creds_ok(const struct xs_account_creds *c)
{
    return c != NULL && (c->sha1_iter != 0 || c->sha256_iter != 0)
        && c->sha1_iter <= INT32_MAX && c->sha256_iter <= INT32_MAX;
}

static void
acct_hex_iter(char *out, size_t outlen, uint32_t iter)
{
    int n = snprintf(out, outlen, "%" PRIu32, iter);

    xs_assert(n > 0 && (size_t)n < outlen);
}

/* Params 3..10 (index 2..9) from creds; an absent half is four NULLs. */
static void
acct_hex_fill(struct acct_hex *h, const struct xs_account_creds *c,
    const char *params[10])
{
    sodium_bin2hex(h->sha1_salt, sizeof(h->sha1_salt), c->sha1_salt,
        sizeof(c->sha1_salt));
    acct_hex_iter(h->sha1_iter, sizeof(h->sha1_iter), c->sha1_iter);
    sodium_bin2hex(h->sha1_stored, sizeof(h->sha1_stored), c->sha1_stored,
        sizeof(c->sha1_stored));
    sodium_bin2hex(h->sha1_server, sizeof(h->sha1_server), c->sha1_server,
        sizeof(c->sha1_server));
    sodium_bin2hex(h->sha256_salt, sizeof(h->sha256_salt), c->sha256_salt,
        sizeof(c->sha256_salt));
    acct_hex_iter(h->sha256_iter, sizeof(h->sha256_iter), c->sha256_iter);
    sodium_bin2hex(h->sha256_stored, sizeof(h->sha256_stored),
        c->sha256_stored, sizeof(c->sha256_stored));
    sodium_bin2hex(h->sha256_server, sizeof(h->sha256_server),
        c->sha256_server, sizeof(c->sha256_server));

    params[2] = c->sha1_iter != 0 ? h->sha1_salt : NULL;
    params[3] = c->sha1_iter != 0 ? h->sha1_iter : NULL;
    params[4] = c->sha1_iter != 0 ? h->sha1_stored : NULL;
    params[5] = c->sha1_iter != 0 ? h->sha1_server : NULL;
    params[6] = c->sha256_iter != 0 ? h->sha256_salt : NULL;
    params[7] = c->sha256_iter != 0 ? h->sha256_iter : NULL;
    params[8] = c->sha256_iter != 0 ? h->sha256_stored : NULL;
    params[9] = c->sha256_iter != 0 ? h->sha256_server : NULL;
}

/* Exactly outlen bytes of hex, or false. */
static bool
acct_unhex(const PGresult *res, int col, unsigned char *out, size_t outlen)
{
    const char *hex = PQgetvalue(res, 0, col);
    size_t hexlen = (size_t)PQgetlength(res, 0, col);
    size_t binlen = 0;

    if (hexlen != outlen * 2)
        return false;
    return sodium_hex2bin(out, outlen, hex, hexlen, NULL, &binlen, NULL) == 0
        && binlen == outlen;
}

static bool
acct_uint(const PGresult *res, int col, uint32_t *out)
{
    const char *s = PQgetvalue(res, 0, col);
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > INT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

/* One half: columns col..col+3 are salt, iterations, stored, server. */
static bool
acct_decode_half(const PGresult *res, int col, unsigned char *salt,
    uint32_t *iter, unsigned char *stored, unsigned char *server,
    size_t keylen)
{
    bool all_null = true, any_null = false;

    for (int i = col; i < col + 4; i++) {
        bool n = PQgetisnull(res, 0, i);

        all_null = all_null && n;
        any_null = any_null || n;
    }
    if (all_null) {
        *iter = 0;              /* absent half */
        return true;
    }
    return !any_null && acct_unhex(res, col, salt, XS_ACCOUNT_SALT_LEN)
        && acct_uint(res, col + 1, iter)
        && acct_unhex(res, col + 2, stored, keylen)
        && acct_unhex(res, col + 3, server, keylen);
}

static xs_rc
acct_decode_creds(const PGresult *res, struct xs_account_creds *c)
{
    if (PQntuples(res) == 0)
        return XS_ENOTFOUND;
    if (PQntuples(res) != 1 || PQnfields(res) != 8)
        return XS_EIO;
    if (!acct_decode_half(res, 0, c->sha1_salt, &c->sha1_iter,
            c->sha1_stored, c->sha1_server, sizeof(c->sha1_stored))
        || !acct_decode_half(res, 4, c->sha256_salt, &c->sha256_iter,
            c->sha256_stored, c->sha256_server, sizeof(c->sha256_stored))
        || (c->sha1_iter == 0 && c->sha256_iter == 0)) {
        xs_log(XS_LOG_ERR, "accounts: stored credentials are malformed");
        return XS_EIO;
    }
    return XS_OK;
}

static void
acct_on_result(xs_rc rc, const PGresult *res, void *udata)
{
    struct acct_op *op = udata;

    switch (op->kind) {
    case ACCT_DONE:
        /* "UPDATE 0" / "DELETE 0": no such account. */
        if (rc == XS_OK && op->need_row && strcmp(PQcmdTuples(
            (PGresult *)res), "0") == 0)
            rc = XS_ENOTFOUND;
        op->done_cb(rc, op->udata);
        break;
    case ACCT_CREDS: {
        struct xs_account_creds c;

        memset(&c, 0, sizeof(c));
        if (rc == XS_OK)
            rc = acct_decode_creds(res, &c);
        else if (rc == XS_EEXIST)
            rc = XS_EIO;        /* cannot happen for a SELECT */
        op->creds_cb(rc, rc == XS_OK ? &c : NULL, op->udata);
        sodium_memzero(&c, sizeof(c));
        break;
    }
    case ACCT_LIST: {
        size_t n = 0;
        char **names = NULL;

        if (rc == XS_OK) {
            n = (size_t)PQntuples(res);
            /* Pointers into res: valid for the callback, as promised. */
            names = xs_calloc(n + 1, sizeof(names[0]));
            for (size_t i = 0; i < n; i++)
                names[i] = PQgetvalue(res, (int)i, 0);
        } else if (rc == XS_EEXIST) {
            rc = XS_EIO;
        }
        op->list_cb(rc, rc == XS_OK ? names : NULL, n, op->udata);
        xs_free(names);
        break;
    }
    }
    xs_free(op);
}

static xs_rc
acct_submit(struct pgq *q, const char *sql, int nparams,
    const char *const *params, struct acct_op *op)
{
    xs_rc rc = pgq_query(q, sql, nparams, params, acct_on_result, op);

    if (rc != XS_OK)
        xs_free(op);
    return rc;
}

static struct acct_op *
acct_op_new(enum acct_kind kind, void *udata)
{
    struct acct_op *op = xs_calloc(1, sizeof(*op));

    op->kind = kind;
    op->udata = udata;
    return op;
}

static xs_rc
acct_write_creds(struct pgq *q, const char *sql, bool need_row,
    const char *user, const char *host, const struct xs_account_creds *creds,
    xs_accounts_done_cb *cb, void *udata)
{
    const char *params[10];
    struct acct_hex hex;
    struct acct_op *op;
    xs_rc rc;

    if (q == NULL || cb == NULL || !acct_part_ok(user) || !acct_part_ok(host)
        || !acct_creds_ok(creds))
        return XS_EINVAL;
    params[0] = user;
    params[1] = host;
    acct_hex_fill(&hex, creds, params);
    op = acct_op_new(ACCT_DONE, udata);
    op->done_cb = cb;
    op->need_row = need_row;
    rc = acct_submit(q, sql, 10, params, op);   /* pgq copied the params */
    sodium_memzero(&hex, sizeof(hex));
    return rc;
}

xs_rc
xs_accounts_create(struct pgq *q, const char *user, const char *host,
    const struct xs_account_creds *creds, xs_accounts_done_cb *cb,
    void *udata)
{
    return acct_write_creds(q, SQL_ACCOUNT_CREATE, false, user, host, creds,
        cb, udata);
}

xs_rc
xs_accounts_set_creds(struct pgq *q, const char *user, const char *host,
    const struct xs_account_creds *creds, xs_accounts_done_cb *cb,
    void *udata)
{
    return acct_write_creds(q, SQL_ACCOUNT_SET_CREDS, true, user, host,
        creds, cb, udata);
}

static xs_rc
acct_by_name(struct pgq *q, const char *sql, const char *user,
    const char *host, xs_accounts_done_cb *cb, void *udata)
{
    const char *params[2] = { user, host };
    struct acct_op *op;

    if (q == NULL || cb == NULL || !acct_part_ok(user) || !acct_part_ok(host))
        return XS_EINVAL;
    op = acct_op_new(ACCT_DONE, udata);
    op->done_cb = cb;
    op->need_row = true;
    return acct_submit(q, sql, 2, params, op);
}

xs_rc
xs_accounts_delete(struct pgq *q, const char *user, const char *host,
    xs_accounts_done_cb *cb, void *udata)
{
    return acct_by_name(q, SQL_ACCOUNT_DELETE, user, host, cb, udata);
}

xs_rc
xs_accounts_get_creds(struct pgq *q, const char *user, const char *host,
    xs_accounts_creds_cb *cb, void *udata)
{
    const char *params[2] = { user, host };
    struct acct_op *op;

    if (q == NULL || cb == NULL || !acct_part_ok(user) || !acct_part_ok(host))
        return XS_EINVAL;
    op = acct_op_new(ACCT_CREDS, udata);
    op->creds_cb = cb;
    return acct_submit(q, SQL_ACCOUNT_GET_CREDS, 2, params, op);
}

xs_rc
xs_accounts_list(struct pgq *q, const char *host, xs_accounts_list_cb *cb,
    void *udata)
{
    const char *params[1] = { host };
    struct acct_op *op;

    if (q == NULL || cb == NULL || !acct_part_ok(host))
        return XS_EINVAL;
    op = acct_op_new(ACCT_LIST, udata);
    op->list_cb = cb;
    return acct_submit(q, SQL_ACCOUNT_LIST, 1, params, op);
}

/* ---- last login, written behind in batches ---- */

#define TOUCH_FLUSH_MS  1000u   /* at most one batch per interval */
#define TOUCH_FLUSH_AT  512u    /* or until this many accounts (or
                                   callbacks) wait */
#define TOUCH_MAX       16384u  /* accounts (or callbacks) waiting, at most */

struct touch_waiter {
    xs_accounts_done_cb *cb;
    void                *udata;     /* borrowed, handed back */
};

struct touch_entry {
    char                *user;      /* owned */
    char                *host;      /* owned */
    uint64_t             hash;
    int64_t              t;         /* latest login, unix seconds */
    bool                 is_missing;    /* the batch found no such row */
    struct touch_waiter *waiters;   /* owned, nwaiters of capwaiters */
    size_t               nwaiters;
    size_t               capwaiters;
};

/* Accounts to stamp: the batch filling up, or the one being written. */
struct touch_set {
    struct touch_entry  *e;         /* owned, n of cap */
    size_t               n;
    size_t               cap;
    size_t              *slots;     /* owned: index + 1 into e, 0: empty */
    size_t               nslots;    /* a power of two, or 0 */
    size_t               nwaiters;  /* over all entries */
};

/* Per pool (a pgq extension), made at the first touch. */
struct touch_batch {
    struct pgq          *q;         /* borrowed: owns us, frees us */
    struct event        *ev_flush;  /* owned */
    unsigned char        key[crypto_shorthash_KEYBYTES];
    struct touch_set     pending;
    struct touch_set    *writing;   /* owned: the batch in flight, or NULL */
    uint64_t             sent_ms;   /* xs_now_ms() of the last batch sent */
    bool                 has_sent;
};

/* The identity of struct touch_batch among a pool's extensions. */
static const char touch_ext_key = 't';

static uint64_t
touch_hash(const struct touch_batch *b, const char *user, const char *host)
{
    /* Both parts are at most XS_ACCOUNT_PART_MAX bytes (checked). */
    unsigned char in[2 * XS_ACCOUNT_PART_MAX + 2];
    unsigned char out[crypto_shorthash_BYTES];
    size_t ulen = strlen(user), hlen = strlen(host);
    uint64_t h;

    memcpy(in, user, ulen + 1);
    memcpy(in + ulen + 1, host, hlen + 1);
    crypto_shorthash(out, in, ulen + hlen + 2, b->key);
    memcpy(&h, out, sizeof(h));
    return h;
}

static void
touch_set_fini(struct touch_set *s)
{
    for (size_t i = 0; i < s->n; i++) {
        xs_free(s->e[i].user);
        xs_free(s->e[i].host);
        xs_free(s->e[i].waiters);
    }
    xs_free(s->e);
    xs_free(s->slots);
    memset(s, 0, sizeof(*s));
}

static void
touch_set_rehash(struct touch_set *s, size_t nslots)
{
    xs_free(s->slots);
    s->slots = xs_calloc(nslots, sizeof(s->slots[0]));
    s->nslots = nslots;
    for (size_t i = 0; i < s->n; i++) {
        size_t j = (size_t)s->e[i].hash & (nslots - 1);

        while (s->slots[j] != 0)
            j = (j + 1) & (nslots - 1);
        s->slots[j] = i + 1;
    }
}

/* The entry of (user, host), or NULL; *slot: where to insert it. */
static struct touch_entry *
touch_set_find(struct touch_set *s, uint64_t hash, const char *user,
    const char *host, size_t *slot)
{
    size_t j;

    *slot = 0;
    if (s->nslots == 0)
        return NULL;
    for (j = (size_t)hash & (s->nslots - 1); s->slots[j] != 0;
        j = (j + 1) & (s->nslots - 1)) {
        struct touch_entry *e = &s->e[s->slots[j] - 1];

        if (e->hash == hash && strcmp(e->user, user) == 0
            && strcmp(e->host, host) == 0)
            return e;
    }
    *slot = j;
    return NULL;
}

static struct touch_entry *
touch_set_add(struct touch_set *s, uint64_t hash, const char *user,
    const char *host)
{
    struct touch_entry *e;
    size_t slot;

    /* Keep the table at most half full. */
    if ((s->n + 1) * 2 > s->nslots)
        touch_set_rehash(s, s->nslots == 0 ? 64 : s->nslots * 2);
    (void)touch_set_find(s, hash, user, host, &slot);
    if (s->n == s->cap) {
        s->cap = s->cap == 0 ? 32 : s->cap * 2;
        s->e = xs_reallocarray(s->e, s->cap, sizeof(s->e[0]));
    }
    e = &s->e[s->n];
    memset(e, 0, sizeof(*e));
    e->user = xs_strdup(user);
    e->host = xs_strdup(host);
    e->hash = hash;
    s->slots[slot] = ++s->n;
    return e;
}

/* The ceilings fit TOUCH_MAX entries of the worst case: never refused. */
static void
touch_put(struct xs_buf *buf, const char *p, size_t n)
{
    xs_rc rc = xs_buf_append(buf, p, n);

    xs_assert(rc == XS_OK);
}

/* One text[] literal element: "..." with \ and " escaped. */
static void
touch_array_elem(struct xs_buf *buf, const char *s, bool first)
{
    touch_put(buf, first ? "\"" : ",\"", first ? 1 : 2);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            touch_put(buf, "\\", 1);
        touch_put(buf, p, 1);
    }
    touch_put(buf, "\"", 1);
}

static const char *
touch_cstr(struct xs_buf *buf)
{
    const char *out = NULL;
    xs_rc rc;

    touch_put(buf, "}", 1);
    rc = xs_buf_cstr(buf, &out);
    xs_assert(rc == XS_OK);
    return out;
}

/* Wake up when the current interval ends (at once if it has). */
static void
touch_arm(struct touch_batch *b)
{
    uint64_t now = xs_now_ms(), due = b->sent_ms + TOUCH_FLUSH_MS;
    uint64_t ms = (b->has_sent && due > now) ? due - now : 0;
    struct timeval tv = {
        .tv_sec = (time_t)(ms / 1000),
        .tv_usec = (suseconds_t)((ms % 1000) * 1000),
    };

    if (!evtimer_pending(b->ev_flush, NULL))
        evtimer_add(b->ev_flush, &tv);
}

/*
 * What to do after the pending set changed: send it when it is big enough
 * or when no batch went out during the last interval (a lone login after
 * a quiet second is written at once); otherwise wait for the interval's
 * end.  One batch in flight at most: its completion comes back here.
 */
static void touch_flush(struct touch_batch *b);

static void
touch_schedule(struct touch_batch *b)
{
    if (b->pending.n == 0 || b->writing != NULL)
        return;
    if (b->pending.n >= TOUCH_FLUSH_AT
        || b->pending.nwaiters >= TOUCH_FLUSH_AT || !b->has_sent
        || xs_now_ms() - b->sent_ms >= TOUCH_FLUSH_MS)
        touch_flush(b);         /* sends now; callbacks come later */
    else
        touch_arm(b);
}

static void touch_on_written(xs_rc rc, const PGresult *res, void *udata);

/* Send the pending set as one statement, unless one is out already. */
static void
touch_flush(struct touch_batch *b)
{
    /* Worst case per element: every byte escaped, quotes and a comma. */
    const size_t max = (size_t)TOUCH_MAX * (2 * XS_ACCOUNT_PART_MAX + 3) + 3;
    struct xs_buf users, hosts, times;
    const char *params[3];
    xs_rc rc;

    if (b->writing != NULL || b->pending.n == 0)
        return;
    xs_buf_init(&users, max);
    xs_buf_init(&hosts, max);
    xs_buf_init(&times, (size_t)TOUCH_MAX * 22 + 3);
    touch_put(&users, "{", 1);
    touch_put(&hosts, "{", 1);
    touch_put(&times, "{", 1);
    for (size_t i = 0; i < b->pending.n; i++) {
        const struct touch_entry *e = &b->pending.e[i];
        char t[24];
        int n = snprintf(t, sizeof(t), "%s%" PRId64, i > 0 ? "," : "", e->t);

        xs_assert(n > 0 && (size_t)n < sizeof(t));
        touch_array_elem(&users, e->user, i == 0);
        touch_array_elem(&hosts, e->host, i == 0);
        touch_put(&times, t, (size_t)n);
    }
    params[0] = touch_cstr(&users);
    params[1] = touch_cstr(&hosts);
    params[2] = touch_cstr(&times);
    rc = pgq_query_bg(b->q, SQL_ACCOUNT_TOUCH_BATCH, 3, params,
        touch_on_written, b);           /* pgq copied the params */
    xs_buf_fini(&users);
    xs_buf_fini(&hosts);
    xs_buf_fini(&times);
    if (rc != XS_OK) {
        /* The background lane is full: keep them, try again later. */
        xs_log(XS_LOG_NOTICE, "accounts: last-login batch of %zu deferred: "
            "%s", b->pending.n, xs_rc_str(rc));
        b->sent_ms = xs_now_ms();   /* retry in an interval, not at once */
        b->has_sent = true;
        touch_arm(b);
        return;
    }
    b->writing = xs_calloc(1, sizeof(*b->writing));
    *b->writing = b->pending;
    memset(&b->pending, 0, sizeof(b->pending));
    b->sent_ms = xs_now_ms();
    b->has_sent = true;
    evtimer_del(b->ev_flush);
}

static void
touch_on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    touch_flush(arg);
}

static void
touch_on_written(xs_rc rc, const PGresult *res, void *udata)
{
    struct touch_batch *b = udata;
    struct touch_set *s = b->writing;

    /* Detached first: callbacks may touch again and start the next one. */
    b->writing = NULL;
    if (rc == XS_OK) {
        for (int i = 0; i < PQntuples(res) && PQnfields(res) == 2; i++) {
            const char *user = PQgetvalue(res, i, 0);
            const char *host = PQgetvalue(res, i, 1);
            struct touch_entry *e;
            size_t slot;

            if (!acct_part_ok(user) || !acct_part_ok(host))
                continue;       /* not one of ours: touch_hash's bound */
            e = touch_set_find(s, touch_hash(b, user, host), user, host,
                &slot);
            if (e != NULL)
                e->is_missing = true;
        }
    } else {
        rc = XS_EIO;            /* a unique violation cannot happen here */
        xs_log(XS_LOG_WARN, "accounts: %zu last-login stamps not written",
            s->n);
    }
    for (size_t i = 0; i < s->n; i++) {
        const struct touch_entry *e = &s->e[i];
        xs_rc erc = (rc == XS_OK && e->is_missing) ? XS_ENOTFOUND : rc;

        for (size_t k = 0; k < e->nwaiters; k++)
            e->waiters[k].cb(erc, e->waiters[k].udata);
    }
    touch_set_fini(s);
    xs_free(s);
    touch_schedule(b);
}

/* pgq_free: stamps not written yet are dropped, without callbacks. */
static void
touch_batch_free(void *data)
{
    struct touch_batch *b = data;
    size_t lost = b->pending.n + (b->writing != NULL ? b->writing->n : 0);

    if (lost > 0)
        xs_log(XS_LOG_INFO, "accounts: %zu last-login stamps dropped at "
            "shutdown", lost);
    if (b->ev_flush != NULL)
        event_free(b->ev_flush);
    touch_set_fini(&b->pending);
    if (b->writing != NULL) {
        touch_set_fini(b->writing);
        xs_free(b->writing);
    }
    sodium_memzero(b->key, sizeof(b->key));
    xs_free(b);
}

static xs_rc
touch_batch_get(struct pgq *q, struct touch_batch **out)
{
    struct touch_batch *b = pgq_ext_get(q, &touch_ext_key);
    xs_rc rc;

    *out = NULL;
    if (b == NULL) {
        b = xs_calloc(1, sizeof(*b));
        b->q = q;
        randombytes_buf(b->key, sizeof(b->key));
        b->ev_flush = evtimer_new(pgq_base(q), touch_on_timer, b);
        if (b->ev_flush == NULL) {
            touch_batch_free(b);
            return XS_ENOMEM;
        }
        if ((rc = pgq_ext_set(q, &touch_ext_key, b, touch_batch_free))
            != XS_OK) {
            touch_batch_free(b);
            return rc;
        }
    }
    *out = b;
    return XS_OK;
}

xs_rc
xs_accounts_touch_login(struct pgq *q, const char *user, const char *host,
    xs_accounts_done_cb *cb, void *udata)
{
    struct touch_batch *b;
    struct touch_entry *e;
    uint64_t hash;
    int64_t now = xs_wall_s();
    size_t slot;
    xs_rc rc;

    if (q == NULL || !acct_part_ok(user) || !acct_part_ok(host))
        return XS_EINVAL;
    if ((rc = touch_batch_get(q, &b)) != XS_OK)
        return rc;
    hash = touch_hash(b, user, host);
    e = touch_set_find(&b->pending, hash, user, host, &slot);
    if ((e == NULL && b->pending.n >= TOUCH_MAX)
        || (cb != NULL && b->pending.nwaiters >= TOUCH_MAX))
        return XS_ELIMIT;       /* the database is far behind */
    if (e == NULL)
        e = touch_set_add(&b->pending, hash, user, host);
    if (now > e->t)
        e->t = now;
    if (cb != NULL) {
        if (e->nwaiters == e->capwaiters) {
            e->capwaiters = e->capwaiters == 0 ? 1 : e->capwaiters * 2;
            e->waiters = xs_reallocarray(e->waiters, e->capwaiters,
                sizeof(e->waiters[0]));
        }
        e->waiters[e->nwaiters].cb = cb;
        e->waiters[e->nwaiters].udata = udata;
        e->nwaiters++;
        b->pending.nwaiters++;
    }
    touch_schedule(b);
    return XS_OK;
}
