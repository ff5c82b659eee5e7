/*
 * search.c: Jabber Search (XEP-0055) over the stored vCards, served on the
 * server's domain itself (ejabberd uses a vjud.<host> component).
 *
 * Off by default, as ejabberd's mod_vcard {search: false}: then nothing is
 * advertised and every jabber:iq:search IQ gets <service-unavailable/>,
 * so a directory of the users is never exposed unless the operator asks
 * for one.  With {search: true} the domain advertises the feature and a
 * directory/user identity.
 *
 * The request is the legacy form (first, last, nick, email) or a XEP-0004
 * form (FORM_TYPE jabber:iq:search; fields user, fn, first, last, nick,
 * email, locality); the answer has the request's shape.  Each value must
 * occur in its field, ignoring case (a substring match; '%', '_' and '\'
 * are literal; one trailing '*', ejabberd's wildcard, is dropped).  All
 * given fields must match.  At most `matches` hits (default 30).  A
 * request with no non-empty field is refused with <not-acceptable/>: it
 * would dump the user base.
 */
#include "xmppd/im/vcard.h"

#include "db/vcard.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/router.h"

#include <string.h>

#define NS_SEARCH "jabber:iq:search"
#define NS_XDATA  "jabber:x:data"

/* A searched value longer than this (bytes) is refused. */
#define SEARCH_VALUE_MAX 255

#define SEARCH_INSTRUCTIONS \
    "Fill in one or more fields to search for users. Case does not " \
    "matter, and a value may be any part of the field."

/* Query members, in the order of struct xs_vcard_query. */
enum search_field {
    SF_USER, SF_FN, SF_LAST, SF_FIRST, SF_NICK, SF_EMAIL, SF_LOCALITY,
    SF__COUNT
};

/* Form vars and labels, by enum search_field; legacy element names are
 * the vars of the four that have one. */
static const struct {
    const char *var;
    const char *label;
    bool        is_legacy;
} search_fields[SF__COUNT] = {
    [SF_USER]     = { "user", "User", false },
    [SF_FN]       = { "fn", "Full name", false },
    [SF_LAST]     = { "last", "Family name", true },
    [SF_FIRST]    = { "first", "Given name", true },
    [SF_NICK]     = { "nick", "Nickname", true },
    [SF_EMAIL]    = { "email", "Email", true },
    [SF_LOCALITY] = { "locality", "City", false },
};

struct search_state {
    struct xs_vcard_opts opts;
    struct search_op    *ops;       /* owned: waiting for the database */
};

struct search_op {
    struct search_state *ss;        /* borrowed */
    struct search_op    *prev;      /* borrowed */
    struct search_op    *next;      /* owned by the list */
    struct xs_stanza    *st;        /* owned: the IQ */
    char                *domain;    /* owned: the searched host */
    bool                 is_form;   /* answer with a data form */
};

static void
search_op_free(struct search_op *op)
{
    if (op->prev != NULL)
        op->prev->next = op->next;
    else
        op->ss->ops = op->next;
    if (op->next != NULL)
        op->next->prev = op->prev;
    xs_stanza_unref(op->st);
    xs_free(op->domain);
    xs_free(op);
}

static void
search_add_text(struct xs_elem *parent, const char *ns, const char *name,
    const char *text)
{
    struct xs_elem *e = xs_elem_add_child(parent, ns, name);

    if (text != NULL && text[0] != '\0')
        xs_elem_add_text(e, text, strlen(text));
}

static struct xs_elem *
search_add_field(struct xs_elem *parent, const char *var, const char *type,
    const char *label, const char *value)
{
    struct xs_elem *f = xs_elem_add_child(parent, NS_XDATA, "field");

    xs_elem_set_attr(f, "var", var);
    if (type != NULL)
        xs_elem_set_attr(f, "type", type);
    if (label != NULL)
        xs_elem_set_attr(f, "label", label);
    if (value != NULL)
        search_add_text(f, NS_XDATA, "value", value);
    return f;
}

static enum xs_verdict
search_on_get(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    struct search_state *ss = state;
    struct xs_stanza *r;
    struct xs_elem *q, *x;

    (void)payload;
    if (!ss->opts.is_search) {
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        ctx->why = "search: disabled";
        return XS_BOUNCE;
    }
    r = xs_stanza_iq_result(ctx->st);
    q = xs_elem_add_child(r->el, NS_SEARCH, "query");
    search_add_text(q, NS_SEARCH, "instructions", SEARCH_INSTRUCTIONS);
    for (size_t i = 0; i < SF__COUNT; i++) {
        if (search_fields[i].is_legacy)
            xs_elem_add_child(q, NS_SEARCH, search_fields[i].var);
    }
    x = xs_elem_add_child(q, NS_XDATA, "x");
    xs_elem_set_attr(x, "type", "form");
    search_add_text(x, NS_XDATA, "title", "User search");
    search_add_text(x, NS_XDATA, "instructions", SEARCH_INSTRUCTIONS);
    search_add_field(x, "FORM_TYPE", "hidden", NULL, NS_SEARCH);
    for (size_t i = 0; i < SF__COUNT; i++)
        search_add_field(x, search_fields[i].var, "text-single",
            search_fields[i].label, NULL);
    xs_router_reply(ctx, r);
    return XS_HANDLED;
}

static int
search_field_by_var(const char *var)
{
    for (size_t i = 0; i < SF__COUNT; i++) {
        if (strcmp(search_fields[i].var, var) == 0)
            return (int)i;
    }
    return -1;
}

/* Store the trimmed raw value (without a trailing '*') in *slot;
 * XS_ELIMIT if it is too long. */
static xs_rc
search_value_set(char **slot, char *raw)
{
    size_t len;
    char *b = raw, *v;

    while (*b == ' ' || *b == '\t' || *b == '\r' || *b == '\n')
        b++;
    len = strlen(b);
    while (len > 0 && (b[len - 1] == ' ' || b[len - 1] == '\t' ||
           b[len - 1] == '\r' || b[len - 1] == '\n'))
        len--;
    if (len > 0 && b[len - 1] == '*')
        len--;                  /* ejabberd's prefix wildcard */
    if (len > SEARCH_VALUE_MAX) {
        xs_free(raw);
        return XS_ELIMIT;
    }
    v = len > 0 ? xs_strndup(b, len) : NULL;
    xs_free(raw);
    xs_free(*slot);
    *slot = v;
    return XS_OK;
}

/* Read the submitted data form x into vals. */
static enum xs_stanza_err
search_read_form(const struct xs_elem *x, char *vals[SF__COUNT])
{
    const char *type = xs_elem_attr(x, "type");

    if (type == NULL || strcmp(type, "submit") != 0)
        return XS_SERR_BAD_REQUEST;
    for (const struct xs_elem *f = xs_elem_first_elem(x); f != NULL;
         f = xs_elem_next_elem(f)) {
        const char *var = xs_elem_attr(f, "var");
        char *value;
        int i;

        if (strcmp(f->name, "field") != 0 || strcmp(f->ns, NS_XDATA) != 0 ||
            var == NULL)
            continue;
        value = xs_elem_child_text(f, NS_XDATA, "value");
        if (strcmp(var, "FORM_TYPE") == 0) {
            bool ok = value != NULL && strcmp(value, NS_SEARCH) == 0;

            xs_free(value);
            if (!ok)
                return XS_SERR_BAD_REQUEST;
            continue;
        }
        if ((i = search_field_by_var(var)) < 0 || value == NULL) {
            xs_free(value);     /* XEP-0004: unknown fields are ignored */
            continue;
        }
        if (search_value_set(&vals[i], value) != XS_OK)
            return XS_SERR_NOT_ACCEPTABLE;
    }
    return XS_SERR_NONE;
}

static enum xs_stanza_err
search_read_legacy(const struct xs_elem *q, char *vals[SF__COUNT])
{
    for (size_t i = 0; i < SF__COUNT; i++) {
        char *value;

        if (!search_fields[i].is_legacy)
            continue;
        value = xs_elem_child_text(q, NS_SEARCH, search_fields[i].var);
        if (value != NULL && search_value_set(&vals[i], value) != XS_OK)
            return XS_SERR_NOT_ACCEPTABLE;
    }
    return XS_SERR_NONE;
}

static void
search_item_legacy(struct xs_elem *q, const char *jid,
    const struct xs_vcard_info *vi)
{
    struct xs_elem *item = xs_elem_add_child(q, NS_SEARCH, "item");

    xs_elem_set_attr(item, "jid", jid);
    search_add_text(item, NS_SEARCH, "first", vi->given);
    search_add_text(item, NS_SEARCH, "last", vi->family);
    search_add_text(item, NS_SEARCH, "nick", vi->nickname);
    search_add_text(item, NS_SEARCH, "email", vi->email);
}

static void
search_item_form(struct xs_elem *x, const char *jid, const char *user,
    const struct xs_vcard_info *vi)
{
    struct xs_elem *item = xs_elem_add_child(x, NS_XDATA, "item");
    const char *vals[SF__COUNT] = {
        [SF_USER] = user, [SF_FN] = vi->fn, [SF_LAST] = vi->family,
        [SF_FIRST] = vi->given, [SF_NICK] = vi->nickname,
        [SF_EMAIL] = vi->email, [SF_LOCALITY] = vi->locality,
    };

    search_add_field(item, "jid", NULL, NULL, jid);
    for (size_t i = 0; i < SF__COUNT; i++)
        search_add_field(item, search_fields[i].var, NULL, NULL, vals[i]);
}

static void
search_on_hits(xs_rc rc, const struct xs_vcard_hit *hits, size_t n,
    void *udata)
{
    struct search_op *op = udata;
    struct xs_stanza *r;
    struct xs_elem *q, *x = NULL;

    if (rc != XS_OK) {
        if (xs_stanza_may_bounce(op->st))
            xs_router_route(xs_stanza_error_reply(op->st,
                XS_SERR_INTERNAL_SERVER_ERROR));
        search_op_free(op);
        return;
    }
    r = xs_stanza_iq_result(op->st);
    q = xs_elem_add_child(r->el, NS_SEARCH, "query");
    if (op->is_form) {
        struct xs_elem *rep;

        x = xs_elem_add_child(q, NS_XDATA, "x");
        xs_elem_set_attr(x, "type", "result");
        search_add_field(x, "FORM_TYPE", "hidden", NULL, NS_SEARCH);
        rep = xs_elem_add_child(x, NS_XDATA, "reported");
        search_add_field(rep, "jid", "jid-single", "JID", NULL);
        for (size_t i = 0; i < SF__COUNT; i++)
            search_add_field(rep, search_fields[i].var, "text-single",
                search_fields[i].label, NULL);
    }
    for (size_t i = 0; i < n; i++) {
        struct xs_vcard_info vi;
        struct xs_elem *el;
        char *jid;

        if (xs_vcard_parse(hits[i].vcard, strlen(hits[i].vcard), &el)
            != XS_OK) {
            xs_log(XS_LOG_WARN, "search: stored vCard unreadable user=%s",
                hits[i].user);
            continue;
        }
        xs_vcard_info_read(el, &vi);
        jid = xs_asprintf("%s@%s", hits[i].user, op->domain);
        if (op->is_form)
            search_item_form(x, jid, hits[i].user, &vi);
        else
            search_item_legacy(q, jid, &vi);
        xs_free(jid);
        xs_vcard_info_fini(&vi);
        xs_elem_free(el);
    }
    xs_router_route(r);
    search_op_free(op);
}

static enum xs_verdict
search_on_set(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    struct search_state *ss = state;
    const struct xs_elem *x = xs_elem_child(payload, NS_XDATA, "x");
    char *vals[SF__COUNT] = { NULL };
    struct xs_vcard_query qry;
    struct search_op *op;
    enum xs_stanza_err err;
    bool any = false;
    xs_rc rc;

    if (!ss->opts.is_search) {
        ctx->err = XS_SERR_SERVICE_UNAVAILABLE;
        ctx->why = "search: disabled";
        return XS_BOUNCE;
    }
    err = x != NULL ? search_read_form(x, vals)
        : search_read_legacy(payload, vals);
    for (size_t i = 0; i < SF__COUNT; i++)
        any = any || vals[i] != NULL;
    if (err == XS_SERR_NONE && !any) {
        err = XS_SERR_NOT_ACCEPTABLE;
        ctx->why = "search: no field to search";
    }
    if (err != XS_SERR_NONE) {
        for (size_t i = 0; i < SF__COUNT; i++)
            xs_free(vals[i]);
        ctx->err = err;
        if (ctx->why == NULL)
            ctx->why = "search: bad request";
        return XS_BOUNCE;
    }
    qry = (struct xs_vcard_query){
        .user = vals[SF_USER], .fn = vals[SF_FN], .family = vals[SF_LAST],
        .given = vals[SF_FIRST], .nickname = vals[SF_NICK],
        .email = vals[SF_EMAIL], .locality = vals[SF_LOCALITY],
    };
    op = xs_calloc(1, sizeof(*op));
    op->ss = ss;
    op->domain = xs_strdup(ctx->to->domain);
    op->is_form = x != NULL;
    rc = xs_vcard_db_search(xs_server()->db, ctx->to->domain, &qry,
        ss->opts.matches, search_on_hits, op);
    for (size_t i = 0; i < SF__COUNT; i++)
        xs_free(vals[i]);
    if (rc != XS_OK) {
        xs_free(op->domain);
        xs_free(op);
        ctx->err = rc == XS_ELIMIT ? XS_SERR_RESOURCE_CONSTRAINT
            : XS_SERR_INTERNAL_SERVER_ERROR;
        ctx->why = "search: cannot query the database";
        return XS_BOUNCE;
    }
    op->next = ss->ops;
    if (ss->ops != NULL)
        ss->ops->prev = op;
    ss->ops = op;
    op->st = ctx->st;           /* XS_STOLEN: ours now */
    return XS_STOLEN;
}

static bool
search_is_advertised(void *state)
{
    const struct search_state *ss = state;

    return ss != NULL && ss->opts.is_search;
}

static xs_rc
search_init(const struct xs_conf *conf, void **state)
{
    struct search_state *ss = xs_calloc(1, sizeof(*ss));
    char *err = NULL;

    *state = ss;
    if (xs_vcard_opts_read(conf, &ss->opts, &err) != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", err);
        xs_free(err);
        return XS_EINVAL;
    }
    return XS_OK;
}

static void
search_fini(void *state)
{
    struct search_state *ss = state;

    if (ss == NULL)
        return;
    while (ss->ops != NULL)
        search_op_free(ss->ops);
    xs_free(ss);
}

static const struct xs_iq_spec search_iqs[] = {
    { NS_SEARCH, "query", XS_IQ_GET, XS_IQ_HOST, search_on_get },
    { NS_SEARCH, "query", XS_IQ_SET, XS_IQ_HOST, search_on_set },
    { 0 }
};

static const char *const search_features[] = { NS_SEARCH, NULL };

static const struct xs_disco_identity search_identities[] = {
    { "directory", "user", "User search" },
    { 0 }
};

const struct xs_module xs_mod_search = {
    .name = "search",
    .abi = XS_MODULE_ABI,
    .init = search_init,
    .fini = search_fini,
    .iqs = search_iqs,
    .features = search_features,
    .identities = search_identities,
    .is_advertised = search_is_advertised,
};
