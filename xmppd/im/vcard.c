/*
 * vcard.c: vCard-temp (XEP-0054).  A user gets and sets their own vCard
 * (IQ with no 'to', or to their own bare JID) and anyone gets another
 * account's (IQ get to its bare JID, answered by the server).
 *
 * Choices:
 * - A set is committed before the result goes out, and the session is
 *   paused meanwhile, so a get that follows the set sees it.
 * - A vCard larger than mod_vcard's max_size (bytes, serialized) gets
 *   <not-acceptable/> (RFC 6120 8.3.3.9: the server "understands the
 *   request but cannot process it because [it] does not meet criteria
 *   defined by the server"); XEP-0054 names no condition.  Nothing is
 *   stored.
 * - No vCard: an empty <vCard/> (XEP-0054 4.1 allows it; for another
 *   user's vCard ejabberd does the same and clients expect it).  An
 *   account that does not exist: <service-unavailable/> (4.3).
 * - A set to another JID: <forbidden/> (4.2).
 */
#include "xmppd/im/vcard.h"

#include "db/vcard.h"
#include "xmppd/admin/admin.h"
#include "xmppd/c2s/session.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/router.h"
#include "xmppd/xml/parser.h"

#include <string.h>

#define VCARD_MAX_SIZE_MIN  256
#define VCARD_MAX_SIZE_MAX  (16 * 1024 * 1024)
#define VCARD_MATCHES_MAX   1000000
#define VCARD_FIELD_NAME_MAX 64

/* ---- options ---- */

xs_rc
xs_vcard_opts_read(const struct xs_conf *conf, struct xs_vcard_opts *o,
    char **errmsg)
{
    static const char *const known[] = {
        "search", "matches", "max_size", NULL
    };
    const struct xs_conf_node *m = xs_conf_module_opts(conf, "mod_vcard");
    const struct xs_conf_node *n;
    long long v;

    *errmsg = NULL;
    o->max_size = XS_VCARD_MAX_SIZE_DEFAULT;
    o->is_search = false;
    o->matches = XS_VCARD_MATCHES_DEFAULT;
    if (m == NULL)
        return XS_OK;
    if (xs_conf_node_check_keys(conf, m, "modules.mod_vcard", known,
        errmsg) != XS_OK)
        return XS_EINVAL;
    if ((n = xs_conf_node_get(m, "search")) != NULL &&
        xs_conf_node_bool(n, &o->is_search) != XS_OK) {
        *errmsg = xs_conf_errmsg(conf, n, "modules.mod_vcard.search",
            "must be true or false");
        return XS_EINVAL;
    }
    if ((n = xs_conf_node_get(m, "matches")) != NULL) {
        const char *s = xs_conf_node_str(n);

        if (s != NULL && strcmp(s, "infinity") == 0) {
            o->matches = 0;
        } else if (xs_conf_node_int(n, 1, VCARD_MATCHES_MAX, &v) != XS_OK) {
            *errmsg = xs_conf_errmsg(conf, n, "modules.mod_vcard.matches",
                "must be an integer 1..%d or infinity", VCARD_MATCHES_MAX);
            return XS_EINVAL;
        } else {
            o->matches = (size_t)v;
        }
    }
    if ((n = xs_conf_node_get(m, "max_size")) != NULL) {
        if (xs_conf_node_int(n, VCARD_MAX_SIZE_MIN, VCARD_MAX_SIZE_MAX, &v)
            != XS_OK) {
            *errmsg = xs_conf_errmsg(conf, n, "modules.mod_vcard.max_size",
                "must be an integer %d..%d (bytes)", VCARD_MAX_SIZE_MIN,
                VCARD_MAX_SIZE_MAX);
            return XS_EINVAL;
        }
        o->max_size = (size_t)v;
    }
    return XS_OK;
}

/* ---- stored vCards ---- */

#define VCARD_STREAM_HEADER \
    "<stream:stream xmlns='jabber:client' " \
    "xmlns:stream='http://etherx.jabber.org/streams'>"

xs_rc
xs_vcard_parse(const char *xml, size_t len, struct xs_elem **out)
{
    /* What we stored passed the c2s limits once; these only bound the
     * work if a row was edited by hand. */
    struct xs_xml_limits lim = {
        .max_stanza = len + 1, .max_depth = 64, .max_attrs = 256,
    };
    struct xs_xml *x = xs_xml_new(&lim);
    struct xs_xml_ev ev;
    struct xs_elem *el = NULL;
    xs_rc rc = XS_EINVAL;

    *out = NULL;
    if (xs_xml_feed(x, VCARD_STREAM_HEADER, strlen(VCARD_STREAM_HEADER))
        != XS_STERR_NONE || xs_xml_feed(x, xml, len) != XS_STERR_NONE)
        goto done;
    while (xs_xml_pop(x, &ev)) {
        if (ev.type == XS_XEV_ELEM && el == NULL)
            el = ev.el;
        else
            xs_elem_free(ev.el);
    }
    if (el == NULL || strcmp(el->name, "vCard") != 0 ||
        strcmp(el->ns, XS_NS_VCARD) != 0) {
        xs_elem_free(el);
        goto done;
    }
    *out = el;
    rc = XS_OK;
done:
    xs_xml_free(x);
    return rc;
}

static bool
vcard_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* s trimmed, in a new string. */
static char *
vcard_trim(const char *s)
{
    size_t len;

    while (vcard_is_space(*s))
        s++;
    len = strlen(s);
    while (len > 0 && vcard_is_space(s[len - 1]))
        len--;
    return xs_strndup(s, len);
}

/* Trimmed text of e's child name (any namespace of the vCard's), or
 * NULL when there is no such child. */
static char *
vcard_child_trimmed(const struct xs_elem *e, const char *name)
{
    char *raw, *t;

    if (e == NULL)
        return NULL;
    raw = xs_elem_child_text(e, XS_NS_VCARD, name);
    if (raw == NULL)
        return NULL;
    t = vcard_trim(raw);
    xs_free(raw);
    return t;
}

/* The first non-empty text of child/sub among the vCard's children named
 * child, or "". */
static char *
vcard_first_sub(const struct xs_elem *vcard, const char *child,
    const char *sub)
{
    for (const struct xs_elem *c = xs_elem_first_elem(vcard); c != NULL;
         c = xs_elem_next_elem(c)) {
        char *t;

        if (strcmp(c->name, child) != 0 || strcmp(c->ns, XS_NS_VCARD) != 0)
            continue;
        if ((t = vcard_child_trimmed(c, sub)) != NULL && t[0] != '\0')
            return t;
        xs_free(t);
    }
    return xs_strdup("");
}

static char *
vcard_trim_elem(const struct xs_elem *e)
{
    char *raw = xs_elem_text(e);
    char *t = vcard_trim(raw);

    xs_free(raw);
    return t;
}

static char *
vcard_or_empty(char *s)
{
    return s != NULL ? s : xs_strdup("");
}

void
xs_vcard_info_read(const struct xs_elem *vcard, struct xs_vcard_info *out)
{
    const struct xs_elem *n = xs_elem_child(vcard, XS_NS_VCARD, "N");

    out->fn = vcard_or_empty(vcard_child_trimmed(vcard, "FN"));
    out->family = vcard_or_empty(vcard_child_trimmed(n, "FAMILY"));
    out->given = vcard_or_empty(vcard_child_trimmed(n, "GIVEN"));
    out->nickname = vcard_or_empty(vcard_child_trimmed(vcard, "NICKNAME"));
    out->email = vcard_first_sub(vcard, "EMAIL", "USERID");
    if (out->email[0] == '\0') {
        /* COMPAT: old clients put the address as EMAIL's own text. */
        xs_free(out->email);
        out->email = vcard_or_empty(vcard_child_trimmed(vcard, "EMAIL"));
    }
    out->locality = vcard_first_sub(vcard, "ADR", "LOCALITY");
}

void
xs_vcard_info_fini(struct xs_vcard_info *i)
{
    xs_free(i->fn);
    xs_free(i->family);
    xs_free(i->given);
    xs_free(i->nickname);
    xs_free(i->email);
    xs_free(i->locality);
    memset(i, 0, sizeof(*i));
}

/* Split "N.FAMILY" / "N FAMILY" / "FN" into upper-case tokens. */
static xs_rc
vcard_field_name(const char *name, char top[VCARD_FIELD_NAME_MAX + 1],
    char sub[VCARD_FIELD_NAME_MAX + 1])
{
    char *dst = top;
    size_t n = 0;

    top[0] = sub[0] = '\0';
    for (const char *p = name;; p++) {
        char c = *p;

        if (c == '\0' || ((c == '.' || c == ' ') && dst == top)) {
            if (n == 0)
                return XS_EINVAL;
            dst[n] = '\0';
            if (c == '\0')
                return XS_OK;
            dst = sub;
            n = 0;
            continue;
        }
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return XS_EINVAL;
        if (n == VCARD_FIELD_NAME_MAX)
            return XS_EINVAL;
        dst[n++] = c;
    }
}

xs_rc
xs_vcard_field(const struct xs_elem *vcard, const char *name, char **out)
{
    char top[VCARD_FIELD_NAME_MAX + 1], sub[VCARD_FIELD_NAME_MAX + 1];
    const struct xs_elem *e;
    xs_rc rc;

    *out = NULL;
    if ((rc = vcard_field_name(name, top, sub)) != XS_OK)
        return rc;
    e = xs_elem_child(vcard, XS_NS_VCARD, top);
    if (e != NULL && sub[0] != '\0')
        e = xs_elem_child(e, XS_NS_VCARD, sub);
    if (e == NULL)
        return XS_ENOTFOUND;
    *out = vcard_trim_elem(e);
    return XS_OK;
}

/* ---- the module ---- */

struct vcard_state {
    struct xs_vcard_opts opts;
    struct vcard_op     *ops;       /* owned: waiting for the database */
};

/* One IQ (or admin call) waiting for the database. */
struct vcard_op {
    struct vcard_state *vs;         /* borrowed */
    struct vcard_op    *prev;       /* borrowed */
    struct vcard_op    *next;       /* owned by the list */
    struct xs_stanza   *st;         /* owned: the IQ; NULL for admin */
    char               *owner;      /* owned: bare JID answered for */
    uint64_t            session_id; /* paused session; 0: none */
    void               *admin;      /* admin call udata, or NULL */
    char               *field;      /* owned: admin get_vcard name */
};

static struct vcard_op *
vcard_op_new(struct vcard_state *vs)
{
    struct vcard_op *op = xs_calloc(1, sizeof(*op));

    op->vs = vs;
    op->next = vs->ops;
    if (vs->ops != NULL)
        vs->ops->prev = op;
    vs->ops = op;
    return op;
}

static void
vcard_op_free(struct vcard_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        op->vs->ops = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    xs_stanza_unref(op->st);
    xs_free(op->owner);
    xs_free(op->field);
    xs_free(op);
}

/* Route a reply to op->st; an IQ without 'to' is answered from the
 * account's bare JID. */
static void
vcard_reply(struct vcard_op *op, struct xs_stanza *r)
{
    if (xs_elem_attr(r->el, "from") == NULL)
        xs_elem_set_attr(r->el, "from", op->owner);
    xs_router_route(r);
}

static void
vcard_reply_error(struct vcard_op *op, enum xs_stanza_err err)
{
    if (xs_stanza_may_bounce(op->st))
        vcard_reply(op, xs_stanza_error_reply(op->st, err));
}

static enum xs_stanza_err
vcard_db_err(xs_rc rc)
{
    return rc == XS_ELIMIT ? XS_SERR_RESOURCE_CONSTRAINT
        : XS_SERR_INTERNAL_SERVER_ERROR;
}

static void
vcard_on_got(xs_rc rc, const char *vcard, void *udata)
{
    struct vcard_op *op = udata;
    struct xs_elem *el = NULL;
    struct xs_stanza *r;

    if (rc == XS_ENOTFOUND) {
        vcard_reply_error(op, XS_SERR_SERVICE_UNAVAILABLE);
        goto done;
    }
    if (rc != XS_OK) {
        vcard_reply_error(op, vcard_db_err(rc));
        goto done;
    }
    if (vcard != NULL && xs_vcard_parse(vcard, strlen(vcard), &el)
        != XS_OK) {
        xs_log(XS_LOG_ERR, "vcard: stored vCard unreadable jid=%s",
            op->owner);
        vcard_reply_error(op, XS_SERR_INTERNAL_SERVER_ERROR);
        goto done;
    }
    r = xs_stanza_iq_result(op->st);
    if (el == NULL)
        el = xs_elem_new(XS_NS_VCARD, "vCard");
    xs_elem_append(r->el, el);
    vcard_reply(op, r);
done:
    vcard_op_free(op);
}

static enum xs_verdict
vcard_on_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    const struct xs_jid *who = ctx->to != NULL ? ctx->to : ctx->from;
    struct vcard_op *op;
    xs_rc rc;

    (void)payload;
    if (who->local == NULL) {
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        return XS_BOUNCE;
    }
    op = vcard_op_new(state);
    op->owner = xs_strdup(who->bare);
    rc = xs_vcard_db_get(xs_server()->db, who->local, who->domain,
        vcard_on_got, op);
    if (rc != XS_OK) {
        vcard_op_free(op);
        ctx->err = vcard_db_err(rc);
        ctx->why = "vcard: database queue full";
        return XS_BOUNCE;
    }
    op->st = ctx->st;           /* XS_STOLEN: ours now */
    return XS_STOLEN;
}

static void
vcard_on_stored(xs_rc rc, void *udata)
{
    struct vcard_op *op = udata;
    struct xs_session *s;

    if (op->session_id != 0 && (s = xs_session_by_id(op->session_id))
        != NULL)
        xs_session_resume(s);
    if (rc == XS_OK)
        vcard_reply(op, xs_stanza_iq_result(op->st));
    else if (rc == XS_ENOTFOUND)
        vcard_reply_error(op, XS_SERR_ITEM_NOT_FOUND);  /* account gone */
    else
        vcard_reply_error(op, vcard_db_err(rc));
    vcard_op_free(op);
}

static enum xs_verdict
vcard_on_set(struct xs_stanza_ctx *ctx, struct xs_elem *payload, void *state)
{
    struct vcard_state *vs = state;
    struct xs_vcard_info info;
    struct xs_vcard_fields f;
    struct vcard_op *op;
    char *xml;
    size_t len;
    xs_rc rc;

    if (ctx->to != NULL && !xs_jid_bare_equal(ctx->to, ctx->from)) {
        ctx->err = XS_SERR_FORBIDDEN;
        ctx->why = "vcard: set for another account";
        return XS_BOUNCE;
    }
    if (ctx->from->local == NULL || ctx->origin == NULL) {
        ctx->err = XS_SERR_FORBIDDEN;
        ctx->why = "vcard: set not from a local client";
        return XS_BOUNCE;
    }
    xml = xs_elem_to_string(payload, NULL);
    len = strlen(xml);
    if (len > vs->opts.max_size) {
        xs_slog(ctx->origin, XS_LOG_INFO, "vcard: refused size=%zu max=%zu",
            len, vs->opts.max_size);
        xs_free(xml);
        ctx->err = XS_SERR_NOT_ACCEPTABLE;
        ctx->why = "vcard: larger than max_size";
        return XS_BOUNCE;
    }
    xs_vcard_info_read(payload, &info);
    f = (struct xs_vcard_fields){
        .fn = info.fn, .family = info.family, .given = info.given,
        .nickname = info.nickname, .email = info.email,
        .locality = info.locality,
    };
    op = vcard_op_new(vs);
    op->owner = xs_strdup(ctx->from->bare);
    rc = xs_vcard_db_set(xs_server()->db, ctx->from->local,
        ctx->from->domain, xml, &f, vcard_on_stored, op);
    xs_vcard_info_fini(&info);
    xs_free(xml);
    if (rc != XS_OK) {
        vcard_op_free(op);
        ctx->err = vcard_db_err(rc);
        ctx->why = "vcard: database queue full";
        return XS_BOUNCE;
    }
    /* Keep the session's order: what it sends next sees the new vCard. */
    xs_session_pause(ctx->origin);
    op->session_id = ctx->origin->id;
    op->st = ctx->st;           /* XS_STOLEN: ours now */
    return XS_STOLEN;
}

/* ---- operator verb get_vcard USER HOST NAME ---- */

static void
vcard_admin_got(xs_rc rc, const char *vcard, void *udata)
{
    struct vcard_op *op = udata;
    struct xs_admin_call *call = xs_admin_call_by_udata(op->admin);
    struct xs_elem *el = NULL;
    char *text = NULL;

    if (call == NULL)
        goto done;              /* the server stopped waiting */
    if (rc == XS_ENOTFOUND) {
        xs_admin_call_fail(call, 404, "No such account");
    } else if (rc != XS_OK) {
        xs_admin_call_fail_db(call, rc);
    } else if (vcard == NULL) {
        xs_admin_call_fail(call, 404, "The account has no vCard");
    } else if (xs_vcard_parse(vcard, strlen(vcard), &el) != XS_OK) {
        xs_admin_call_fail(call, 500, "The stored vCard is unreadable");
    } else if (xs_vcard_field(el, op->field, &text) != XS_OK) {
        xs_admin_call_fail(call, 404, "The vCard has no such field");
    } else {
        xs_admin_call_ok(call, json_string(text));
    }
done:
    xs_free(text);
    xs_elem_free(el);
    vcard_op_free(op);
}

static void
vcard_admin_get(struct xs_admin_call *call, void *state)
{
    const char *user = xs_admin_call_arg(call, "user");
    const char *host = xs_admin_call_arg(call, "host");
    const char *name = xs_admin_call_arg(call, "name");
    char top[VCARD_FIELD_NAME_MAX + 1], sub[VCARD_FIELD_NAME_MAX + 1];
    struct vcard_op *op;
    xs_rc rc;

    if (name == NULL || vcard_field_name(name, top, sub) != XS_OK) {
        xs_admin_call_fail(call, 400, "Bad field name: use FN, NICKNAME, "
            "... or N.FAMILY, EMAIL.USERID, ORG.ORGNAME, ...");
        return;
    }
    op = vcard_op_new(state);
    op->admin = xs_admin_call_udata(call);
    op->field = xs_strdup(name);
    rc = xs_vcard_db_get(xs_server()->db, user, host, vcard_admin_got, op);
    if (rc != XS_OK) {
        vcard_op_free(op);
        xs_admin_call_fail_db(call, rc);
    }
}

static xs_rc
vcard_init(const struct xs_conf *conf, void **state)
{
    struct vcard_state *vs = xs_calloc(1, sizeof(*vs));
    char *err = NULL;

    *state = vs;
    if (xs_vcard_opts_read(conf, &vs->opts, &err) != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", err);
        xs_free(err);
        return XS_EINVAL;
    }
    return XS_OK;
}

static void
vcard_fini(void *state)
{
    struct vcard_state *vs = state;

    if (vs == NULL)
        return;
    /* pgq_free (later) drops their requests without calling back. */
    while (vs->ops != NULL)
        vcard_op_free(vs->ops);
    xs_free(vs);
}

static const struct xs_iq_spec vcard_iqs[] = {
    { XS_NS_VCARD, "vCard", XS_IQ_GET, XS_IQ_ACCOUNT, vcard_on_get },
    { XS_NS_VCARD, "vCard", XS_IQ_SET, XS_IQ_ACCOUNT, vcard_on_set },
    { 0 }
};

static const char *const vcard_features[] = { XS_NS_VCARD, NULL };

static const struct xs_admin_cmd vcard_commands[] = {
    { "get_vcard", vcard_admin_get },
    { 0 }
};

const struct xs_module xs_mod_vcard = {
    .name = "vcard",
    .abi = XS_MODULE_ABI,
    .init = vcard_init,
    .fini = vcard_fini,
    .iqs = vcard_iqs,
    .features = vcard_features,
    .commands = vcard_commands,
};
