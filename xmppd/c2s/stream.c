/*
 * stream.c: the client stream protocol (RFC 6120): headers, features,
 * STARTTLS, SASL, resource binding; bound sessions hand stanzas to the
 * router.  session.c owns the connection; this file owns the protocol.
 */
#include "xmppd/c2s/c2s_stream.h"

#include "db/accounts.h"
#include "xmppd/c2s/sasl.h"
#include "xmppd/c2s/sm.h"
#include "xmppd/core/server.h"
#include "xmppd/core/stats.h"
#include "xmppd/core/workers.h"
#include "xmppd/router.h"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <sodium.h>
#include <string.h>

#define NS_TLS     "urn:ietf:params:xml:ns:xmpp-tls"
#define NS_SASL    "urn:ietf:params:xml:ns:xmpp-sasl"
#define NS_BIND    "urn:ietf:params:xml:ns:xmpp-bind"
#define NS_SESSION "urn:ietf:params:xml:ns:xmpp-session"

/* SASL attempts allowed on one stream (RFC 6120 6.4.5: 2 to 5). */
#define C2S_MAX_AUTH_FAILURES 3

static void c2s_sasl_act(struct xs_session *s, enum xs_sasl_status r);

char *
xs_c2s_header(const struct xs_session *s)
{
    const char *from = s->host ? s->host : xs_server()->conf->hosts[0];

    return xs_asprintf("<?xml version='1.0'?><stream:stream "
        "xmlns='" XS_NS_CLIENT "' xmlns:stream='" XS_NS_STREAMS "' "
        "id='%s' from='%s' version='1.0' xml:lang='en'>",
        s->stream_id, from);
}

static bool
c2s_may_starttls(const struct xs_session *s)
{
    return !s->st.is_tls && s->lconf->has_starttls &&
        xs_server()->tls != NULL;
}

static bool
c2s_tls_missing(const struct xs_session *s)
{
    return !s->st.is_tls && s->lconf->is_starttls_required;
}

static void
c2s_send_features(struct xs_session *s)
{
    struct xs_elem *f = xs_elem_new(XS_NS_STREAMS, "features");
    char *xml;

    if (s->state == XS_C2S_AUTHENTICATED) {
        struct xs_elem *sess;

        xs_elem_add_child(f, NS_BIND, "bind");
        sess = xs_elem_add_child(f, NS_SESSION, "session");
        xs_elem_add_child(sess, NULL, "optional");
        /* mod_roster: roster versioning (RFC 6121 2.6) and subscription
         * pre-approval (3.4). */
        xs_elem_add_child(f, "urn:xmpp:features:rosterver", "ver");
        xs_elem_add_child(f, "urn:xmpp:features:pre-approval", "sub");
    } else {
        if (c2s_may_starttls(s)) {
            struct xs_elem *tls = xs_elem_add_child(f, NS_TLS, "starttls");

            if (s->lconf->is_starttls_required)
                xs_elem_add_child(tls, NULL, "required");
        }
        if (!c2s_tls_missing(s)) {
            struct xs_elem *m = xs_elem_add_child(f, NS_SASL, "mechanisms");

            for (int i = 0; i < XS_SASL_MECH__COUNT; i++) {
                struct xs_elem *me;

                if (!xs_sasl_mech_offered(i, s->st.is_tls))
                    continue;
                me = xs_elem_add_child(m, NULL, "mechanism");
                xs_elem_add_text(me, xs_sasl_mech_name(i),
                    strlen(xs_sasl_mech_name(i)));
            }
        }
    }
    /* Written with the stream prefix, as every client expects. */
    {
        struct evbuffer *out = evbuffer_new();

        evbuffer_add(out, "<stream:features>", 17);
        for (struct xs_elem *c = xs_elem_first_elem(f); c != NULL;
            c = xs_elem_next_elem(c))
            xs_elem_serialize(c, XS_NS_STREAMS, out);
        evbuffer_add(out, "</stream:features>", 18);
        xml = xs_evbuffer_take_string(out);
    }
    xs_session_send_raw(s, xml);
    xs_free(xml);
    xs_elem_free(f);
}

void
xs_c2s_on_open(struct xs_session *s, struct xs_elem *el)
{
    const struct xs_conf *conf = xs_server()->conf;
    const char *ns = xs_elem_attr(el, "xmlns");
    const char *version = xs_elem_attr(el, "version");
    const char *to = xs_elem_attr(el, "to");
    char *host = NULL;

    xs_random_id(s->stream_id);
    if (to != NULL && xs_jid_domainprep(to, &host) != XS_OK)
        host = NULL;
    if (s->host == NULL) {
        if (to == NULL && conf->nhosts == 1)
            host = xs_strdup(conf->hosts[0]);
        if (host != NULL && xs_conf_is_local_host(conf, host))
            s->host = xs_strdup(host);
    }
    if (ns == NULL || strcmp(ns, XS_NS_CLIENT) != 0) {
        xs_session_close(s, XS_STERR_INVALID_NAMESPACE, NULL);
        goto done;
    }
    if (s->host == NULL || host == NULL || strcmp(host, s->host) != 0) {
        xs_slog(s, XS_LOG_INFO, "c2s: stream to unknown host");
        xs_session_close(s, XS_STERR_HOST_UNKNOWN, NULL);
        goto done;
    }
    if (version == NULL || strncmp(version, "1.", 2) != 0) {
        xs_session_close(s, XS_STERR_UNSUPPORTED_VERSION, NULL);
        goto done;
    }
    {
        char *hdr = xs_c2s_header(s);

        xs_session_send_raw(s, hdr);
        xs_free(hdr);
    }
    s->st.is_stream_open = true;
    if (s->state == XS_C2S_WAIT_STREAM)
        s->state = XS_C2S_AUTHENTICATING;
    c2s_send_features(s);
done:
    xs_free(host);
    xs_elem_free(el);
}

void
xs_c2s_on_close(struct xs_session *s)
{
    xs_slog(s, XS_LOG_DEBUG, "c2s: client closed its stream");
    xs_session_close(s, XS_STERR_NONE, NULL);
}

/* ---- STARTTLS and SASL ---- */

static void
c2s_sasl_send(struct xs_session *s, const char *name, const char *payload)
{
    char *xml;

    if (payload == NULL)
        xml = xs_asprintf("<%s xmlns='" NS_SASL "'/>", name);
    else
        xml = xs_asprintf("<%s xmlns='" NS_SASL "'>%s</%s>", name, payload,
            name);          /* base64: nothing to escape */
    xs_session_send_raw(s, xml);
    xs_free(xml);
}

static void
c2s_sasl_failure_now(struct xs_session *s, enum xs_sasl_cond cond)
{
    char *xml = xs_asprintf("<failure xmlns='" NS_SASL "'><%s/></failure>",
        xs_sasl_cond_name(cond));

    xs_session_send_raw(s, xml);
    xs_free(xml);
    if (s->auth_failures >= C2S_MAX_AUTH_FAILURES) {
        xs_slog(s, XS_LOG_NOTICE, "c2s: too many failed authentications "
            "ip=%s", s->peer_ip);
        xs_session_close(s, XS_STERR_POLICY_VIOLATION,
            "too many failed authentications");
    }
}

static void
c2s_delay_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xs_session *s = arg;

    (void)fd, (void)what;
    c2s_sasl_failure_now(s, XS_SASL_COND_NOT_AUTHORIZED);
    xs_session_resume(s);
}

struct c2s_creds_req {
    uint64_t sid;               /* the session may be gone by then */
};

/*
 * PLAIN costs a PBKDF2 run with the stored iteration count: done by a
 * worker thread, not the loop.  The job owns the SASL state meanwhile (the
 * session is paused and has none), so a session closed in between frees
 * nothing the worker still uses.
 */
struct c2s_plain_job {
    uint64_t                sid;
    struct xs_sasl         *sasl;       /* owned while in the job */
    struct xs_account_creds creds;      /* wiped when done */
    bool                    has_creds;
    enum xs_sasl_status     status;
};

static void
c2s_plain_work(void *arg)
{
    struct c2s_plain_job *j = arg;

    j->status = xs_sasl_set_creds(j->sasl, j->has_creds ? &j->creds : NULL);
}

static void
c2s_plain_done(void *arg)
{
    struct c2s_plain_job *j = arg;
    struct xs_session *s = xs_session_by_id(j->sid);

    sodium_memzero(&j->creds, sizeof(j->creds));
    if (s == NULL || s->sasl != NULL) {
        xs_sasl_free(j->sasl);
        xs_free(j);
        return;
    }
    s->sasl = j->sasl;
    xs_session_resume(s);
    c2s_sasl_act(s, j->status);
    xs_free(j);
}

static void
c2s_plain_check_later(struct xs_session *s, const struct xs_account_creds *c)
{
    struct c2s_plain_job *j = xs_calloc(1, sizeof(*j));
    xs_rc rc;

    j->sid = s->id;
    j->sasl = s->sasl;
    if (c != NULL) {
        j->creds = *c;
        j->has_creds = true;
    }
    s->sasl = NULL;
    rc = xs_work_submit(c2s_plain_work, c2s_plain_done, j);
    if (rc == XS_OK)
        return;
    /* Too many checks waiting: tell the client to come back later. */
    xs_slog(s, XS_LOG_NOTICE, "c2s: PLAIN check refused: %s", xs_rc_str(rc));
    s->sasl = j->sasl;
    sodium_memzero(&j->creds, sizeof(j->creds));
    xs_free(j);
    xs_session_resume(s);
    c2s_sasl_act(s, xs_sasl_fail(s->sasl,
        XS_SASL_COND_TEMPORARY_AUTH_FAILURE));
}

static void
c2s_creds_done(xs_rc rc, const struct xs_account_creds *c, void *udata)
{
    struct c2s_creds_req *req = udata;
    struct xs_session *s = xs_session_by_id(req->sid);

    xs_free(req);
    if (s == NULL || s->sasl == NULL)
        return;
    if ((rc == XS_OK || rc == XS_ENOTFOUND) &&
        xs_sasl_mech(s->sasl) == XS_SASL_PLAIN) {
        c2s_plain_check_later(s, rc == XS_OK ? c : NULL);
        return;                 /* still paused until the worker is done */
    }
    xs_session_resume(s);
    if (rc == XS_OK)
        c2s_sasl_act(s, xs_sasl_set_creds(s->sasl, c));
    else if (rc == XS_ENOTFOUND)
        c2s_sasl_act(s, xs_sasl_set_creds(s->sasl, NULL));
    else {
        xs_slog(s, XS_LOG_WARN, "c2s: credentials lookup failed: %s",
            xs_rc_str(rc));
        c2s_sasl_act(s, xs_sasl_fail(s->sasl,
            XS_SASL_COND_TEMPORARY_AUTH_FAILURE));
    }
}

static void
c2s_need_creds(struct xs_session *s)
{
    const char *authzid = xs_sasl_authzid(s->sasl);
    struct c2s_creds_req *req;
    char *user = NULL;
    xs_rc rc;

    if (xs_jid_nodeprep(xs_sasl_username(s->sasl), &user) != XS_OK) {
        /* Not a valid localpart: no such account, by the same path. */
        c2s_sasl_act(s, xs_sasl_set_creds(s->sasl, NULL));
        return;
    }
    if (authzid != NULL && *authzid != '\0') {
        char *bare = xs_asprintf("%s@%s", user, s->host);
        struct xs_jid *az = NULL;
        bool ok = xs_jid_new(authzid, &az) == XS_OK &&
            strcmp(az->full, bare) == 0;

        xs_jid_free(az);
        xs_free(bare);
        if (!ok) {
            xs_free(user);
            c2s_sasl_act(s, xs_sasl_fail(s->sasl,
                XS_SASL_COND_INVALID_AUTHZID));
            return;
        }
    }
    req = xs_calloc(1, sizeof(*req));
    req->sid = s->id;
    rc = xs_accounts_get_creds(xs_server()->db, user, s->host,
        c2s_creds_done, req);
    xs_free(user);
    if (rc != XS_OK) {
        xs_free(req);
        xs_slog(s, XS_LOG_WARN, "c2s: credentials lookup refused: %s",
            xs_rc_str(rc));
        c2s_sasl_act(s, xs_sasl_fail(s->sasl,
            XS_SASL_COND_TEMPORARY_AUTH_FAILURE));
        return;
    }
    xs_session_pause(s);        /* keep order: nothing drains meanwhile */
}

static void
c2s_sasl_done(struct xs_session *s)
{
    xs_sasl_free(s->sasl);
    s->sasl = NULL;
}

/* The listener's `access` rule (ejabberd's c2s access), for this user. */
static bool
c2s_access_allows(const struct xs_session *s)
{
    struct xs_acl_subject subj = {
        .user = s->user, .server = s->host,
        .ip = (const struct sockaddr *)&s->peer_addr,
    };

    if (s->lconf->access == NULL)
        return true;
    return xs_access_eval(&xs_server()->conf->acl, s->lconf->access,
        &subj) == XS_ALLOW;
}

static void
c2s_sasl_act(struct xs_session *s, enum xs_sasl_status r)
{
    const char *payload = xs_sasl_payload(s->sasl);
    enum xs_sasl_cond cond;

    switch (r) {
    case XS_SASL_NEED_CREDS:
        c2s_need_creds(s);
        return;
    case XS_SASL_CHALLENGE:
        c2s_sasl_send(s, "challenge", payload);
        return;
    case XS_SASL_SUCCESS:
        if (xs_jid_nodeprep(xs_sasl_username(s->sasl), &s->user) != XS_OK) {
            /* Cannot happen: the lookup used the same preparation. */
            c2s_sasl_done(s);
            xs_session_close(s, XS_STERR_INTERNAL_SERVER_ERROR, NULL);
            return;
        }
        if (!c2s_access_allows(s)) {
            xs_slog(s, XS_LOG_NOTICE, "c2s: access rule %s denies "
                "user=%s@%s ip=%s", s->lconf->access, s->user, s->host,
                s->peer_ip);
            xs_free(s->user);
            s->user = NULL;
            c2s_sasl_done(s);
            s->auth_failures++;
            c2s_sasl_failure_now(s, XS_SASL_COND_NOT_AUTHORIZED);
            return;
        }
        xs_slog(s, XS_LOG_INFO, "c2s: authenticated user=%s@%s mech=%s "
            "ip=%s", s->user, s->host, xs_sasl_mech_name(
            xs_sasl_mech(s->sasl)), s->peer_ip);
        xs_session_apply_shaper(s);     /* shaper rules may name users */
        c2s_sasl_send(s, "success", payload);
        c2s_sasl_done(s);
        s->state = XS_C2S_AUTHENTICATED;
        xs_session_restart_stream(s);
        return;
    case XS_SASL_FAILURE:
        cond = xs_sasl_cond(s->sasl);
        c2s_sasl_done(s);
        s->auth_failures++;
        xs_slog(s, XS_LOG_INFO, "c2s: authentication failed ip=%s: %s",
            s->peer_ip, xs_sasl_cond_name(cond));
        if (cond == XS_SASL_COND_NOT_AUTHORIZED &&
            xs_server()->conf->auth_failure_delay_ms > 0) {
            /* Slow down password guessing without blocking anyone. */
            int ms = xs_server()->conf->auth_failure_delay_ms;
            struct timeval tv = { .tv_sec = ms / 1000,
                .tv_usec = (ms % 1000) * 1000 };

            if (s->delay_ev == NULL)
                s->delay_ev = event_new(xs_server()->base, -1, 0,
                    c2s_delay_cb, s);
            xs_session_pause(s);
            event_add(s->delay_ev, &tv);
            return;
        }
        c2s_sasl_failure_now(s, cond);
        return;
    }
}

static void
c2s_on_sasl(struct xs_session *s, struct xs_elem *el)
{
    char *text = xs_elem_text(el);

    if (strcmp(el->name, "auth") == 0) {
        const char *mname = xs_elem_attr(el, "mechanism");
        enum xs_sasl_mech m;

        if (s->sasl != NULL) {
            /* A new <auth/> aborts the running exchange (RFC 6120 6.4.1) */
            c2s_sasl_done(s);
        }
        if (c2s_tls_missing(s)) {
            c2s_sasl_failure_now(s, XS_SASL_COND_ENCRYPTION_REQUIRED);
        } else if (mname == NULL || xs_sasl_mech_by_name(mname, &m) != XS_OK ||
            !xs_sasl_mech_offered(m, s->st.is_tls)) {
            c2s_sasl_failure_now(s, XS_SASL_COND_INVALID_MECHANISM);
        } else {
            s->sasl = xs_sasl_new(m);
            c2s_sasl_act(s, xs_sasl_start(s->sasl, text));
        }
    } else if (strcmp(el->name, "response") == 0 && s->sasl != NULL) {
        c2s_sasl_act(s, xs_sasl_step(s->sasl, text));
    } else if (strcmp(el->name, "abort") == 0 && s->sasl != NULL) {
        c2s_sasl_act(s, xs_sasl_fail(s->sasl, XS_SASL_COND_ABORTED));
    } else {
        c2s_sasl_failure_now(s, XS_SASL_COND_MALFORMED_REQUEST);
    }
    xs_free(text);
}

static void
c2s_on_starttls(struct xs_session *s)
{
    if (!c2s_may_starttls(s)) {
        /* RFC 6120 5.4.2.2: failure, then close the stream. */
        xs_session_send_raw(s, "<failure xmlns='" NS_TLS "'/>");
        xs_session_close(s, XS_STERR_NONE, NULL);
        return;
    }
    xs_session_send_raw(s, "<proceed xmlns='" NS_TLS "'/>");
    xs_session_start_tls(s);
}

/* ---- binding ---- */

static void
c2s_iq_reply(struct xs_session *s, struct xs_elem *iq, struct xs_elem *child)
{
    struct xs_elem *r = xs_elem_new(XS_NS_CLIENT, "iq");
    const char *id = xs_elem_attr(iq, "id");

    xs_elem_set_attr(r, "type", "result");
    if (id != NULL)
        xs_elem_set_attr(r, "id", id);
    if (child != NULL)
        xs_elem_append(r, child);
    xs_session_send(s, xs_stanza_new(r));
}

static void
c2s_iq_error(struct xs_session *s, struct xs_elem *iq, enum xs_stanza_err e)
{
    struct xs_stanza *st = xs_stanza_new(xs_elem_copy(iq));
    struct xs_stanza *reply = xs_stanza_error_reply(st, e);

    xs_core_stats.stanza_errors++;
    xs_session_send(s, reply);
    xs_stanza_unref(st);
}

static void
c2s_touch_done(xs_rc rc, void *udata)
{
    (void)udata;
    if (rc != XS_OK)
        xs_log(XS_LOG_DEBUG, "c2s: last login not recorded: %s",
            xs_rc_str(rc));
}

static void
c2s_bind(struct xs_session *s, struct xs_elem *iq, struct xs_elem *bind)
{
    char *want = xs_elem_child_text(bind, NS_BIND, "resource");
    struct xs_jid *jid = NULL;
    struct xs_elem *res;
    char rid[33];

    if (want == NULL || *want == '\0') {
        xs_free(want);
        xs_random_id(rid);
        rid[16] = '\0';         /* 64 random bits are plenty */
        want = xs_asprintf("xmppd-%s", rid);
    }
    if (xs_jid_from_parts(s->user, s->host, want, &jid) != XS_OK) {
        xs_free(want);
        c2s_iq_error(s, iq, XS_SERR_BAD_REQUEST);
        return;
    }
    xs_free(want);
    s->jid = jid;
    s->state = XS_C2S_BOUND;
    /* From now on the shaper's waits are this account's (reputation). */
    xs_stream_set_subject(&s->st, jid->bare);
    xs_sm_bind(s);
    xs_stream_set_deadline(&s->st, 0);     /* the handshake is over */
    if (xs_server()->conf->c2s_idle_timeout > 0) {
        struct timeval tv = { .tv_sec = xs_server()->conf->c2s_idle_timeout };

        bufferevent_set_timeouts(s->st.bev, &tv, NULL);
    }
    res = xs_elem_new(NS_BIND, "bind");
    xs_elem_add_text(xs_elem_add_child(res, NULL, "jid"), jid->full,
        strlen(jid->full));
    c2s_iq_reply(s, iq, res);
    xs_slog(s, XS_LOG_INFO, "c2s: bound jid=%s", jid->full);
    /* Best effort: a lost last-login stamp is not worth failing a login. */
    (void)xs_accounts_touch_login(xs_server()->db, s->user, s->host,
        c2s_touch_done, NULL);
    xs_event_fire(XS_EV_SESSION_BOUND, s);
}

static bool
c2s_is_iq_set_of(const struct xs_elem *el, const char *ns, const char *name,
    struct xs_elem **child)
{
    const char *type = xs_elem_attr(el, "type");
    struct xs_elem *c;

    *child = NULL;
    if (strcmp(el->name, "iq") != 0 || strcmp(el->ns, XS_NS_CLIENT) != 0 ||
        type == NULL || strcmp(type, "set") != 0)
        return false;
    c = xs_elem_first_elem(el);
    if (c == NULL || strcmp(c->ns, ns) != 0 || strcmp(c->name, name) != 0)
        return false;
    *child = c;
    return true;
}

/* ---- stanzas from a bound session ---- */

static bool
c2s_type_valid(const struct xs_elem *el)
{
    static const char *const msg[] = { "chat", "error", "groupchat",
        "headline", "normal", NULL };
    static const char *const pres[] = { "error", "probe", "subscribe",
        "subscribed", "unavailable", "unsubscribe", "unsubscribed", NULL };
    static const char *const iq[] = { "get", "set", "result", "error",
        NULL };
    const char *type = xs_elem_attr(el, "type");
    const char *const *v;

    if (strcmp(el->name, "iq") == 0) {
        if (type == NULL || xs_elem_attr(el, "id") == NULL)
            return false;
        v = iq;
    } else {
        if (type == NULL)
            return true;
        v = strcmp(el->name, "message") == 0 ? msg : pres;
    }
    for (; *v != NULL; v++) {
        if (strcmp(*v, type) == 0)
            return true;
    }
    return false;
}

static void
c2s_on_stanza(struct xs_session *s, struct xs_elem *el)
{
    const char *from = xs_elem_attr(el, "from");
    const char *to_s = xs_elem_attr(el, "to");
    struct xs_stanza *st;
    struct xs_jid *to = NULL;
    struct xs_elem *child;

    if (c2s_is_iq_set_of(el, NS_SESSION, "session", &child)) {
        c2s_iq_reply(s, el, NULL);  /* RFC 3921 session: a no-op now */
        xs_elem_free(el);
        return;
    }
    if (from != NULL && strcmp(from, s->jid->full) != 0 &&
        strcmp(from, s->jid->bare) != 0) {
        /* RFC 6120 8.1.2.1: a client may not speak for someone else. */
        xs_slog(s, XS_LOG_INFO, "c2s: forged from");
        xs_elem_free(el);
        xs_session_close(s, XS_STERR_INVALID_FROM, NULL);
        return;
    }
    xs_elem_set_attr(el, "from", s->jid->full);
    st = xs_stanza_new(el);
    if (!c2s_type_valid(el)) {
        if (xs_stanza_may_bounce(st)) {
            xs_core_stats.stanza_errors++;
            xs_session_send(s, xs_stanza_error_reply(st,
                XS_SERR_BAD_REQUEST));
        }
        xs_stanza_unref(st);
        return;
    }
    if (to_s != NULL && xs_jid_new(to_s, &to) != XS_OK) {
        if (xs_stanza_may_bounce(st)) {
            struct xs_stanza *err;

            /* The error is the server's: it cannot come from the
             * unparsable address, which no client could read back. */
            xs_elem_set_attr(el, "to", NULL);
            err = xs_stanza_error_reply(st, XS_SERR_JID_MALFORMED);
            xs_elem_set_attr(err->el, "from", s->host);
            xs_core_stats.stanza_errors++;
            xs_session_send(s, err);
        }
        xs_stanza_unref(st);
        return;
    }
    if (to != NULL) {
        /* Canonical form on the wire from here on. */
        xs_elem_set_attr(el, "to", to->full);
    }
    xs_core_stats.stanzas_in[XS_STATS_C2S]++;
    xs_router_from_client(s, st, to);
}

void
xs_c2s_on_elem(struct xs_session *s, struct xs_elem *el)
{
    struct xs_elem *child;

    switch (s->state) {
    case XS_C2S_AUTHENTICATING:
        if (strcmp(el->ns, NS_TLS) == 0 && strcmp(el->name, "starttls") == 0)
            c2s_on_starttls(s);
        else if (strcmp(el->ns, NS_SASL) == 0)
            c2s_on_sasl(s, el);
        else if (c2s_tls_missing(s))
            xs_session_close(s, XS_STERR_POLICY_VIOLATION,
                "STARTTLS is required");
        else
            xs_session_close(s, XS_STERR_NOT_AUTHORIZED, NULL);
        break;
    case XS_C2S_AUTHENTICATED:
        if (c2s_is_iq_set_of(el, NS_BIND, "bind", &child))
            c2s_bind(s, el, child);
        else if (c2s_is_iq_set_of(el, NS_SESSION, "session", &child))
            c2s_iq_reply(s, el, NULL);
        else
            xs_session_close(s, XS_STERR_NOT_AUTHORIZED, NULL);
        break;
    case XS_C2S_BOUND:
        if (strcmp(el->ns, XS_NS_CLIENT) != 0 ||
            (strcmp(el->name, "message") != 0 &&
             strcmp(el->name, "presence") != 0 &&
             strcmp(el->name, "iq") != 0)) {
            xs_session_close(s, XS_STERR_UNSUPPORTED_STANZA_TYPE, NULL);
            break;
        }
        c2s_on_stanza(s, el);
        return;                 /* the stanza owns el now */
    default:
        xs_session_close(s, XS_STERR_NOT_AUTHORIZED, NULL);
        break;
    }
    xs_elem_free(el);
}
