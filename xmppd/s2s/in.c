/*
 * in.c: streams other servers open to us (RFC 6120): header checks,
 * features (STARTTLS, SASL EXTERNAL, dialback), authentication of
 * (remote, local) pairs, and the stanzas they may then send.
 */
#include "xmppd/s2s/s2s_int.h"
#include "xmppd/s2s/blocklist.h"

#include "xmppd/core/stats.h"
#include "xmppd/router.h"
#include "xmppd/s2s/dialback.h"

#include <arpa/inet.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <netinet/in.h>
#include <sodium.h>
#include <string.h>

static bool
in_tls_missing(const struct s2s_conn *c)
{
    return !c->st.is_tls &&
        xs_server()->conf->s2s_use_starttls == XS_S2S_TLS_REQUIRED;
}

void
xs_s2s_accept(int fd, const struct sockaddr *sa, socklen_t salen,
    const struct xs_listen_conf *lconf)
{
    const struct xs_conf *conf = xs_server()->conf;
    struct s2s_conn *c = s2s_conn_new(S2S_IN);

    c->lconf = lconf;
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr,
            c->peer_ip, sizeof(c->peer_ip));
        c->peer_port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr,
            c->peer_ip, sizeof(c->peer_ip));
        c->peer_port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
    }
    if (salen > 0 && (size_t)salen <= sizeof(c->peer_addr))
        memcpy(&c->peer_addr, sa, (size_t)salen);
    if (lconf->shaper != NULL) {
        struct xs_acl_subject subj = {
            .ip = (const struct sockaddr *)&c->peer_addr,
        };

        xs_stream_set_shaper(&c->st,
            xs_shaper_for(&conf->acl, lconf->shaper, &subj));
    }
    if (s2s_conn_attach(c, fd, lconf->is_tls) != XS_OK) {
        s2s_conn_close(c, XS_STERR_INTERNAL_SERVER_ERROR, NULL);
        return;
    }
    xs_slog(c, XS_LOG_DEBUG, "s2s: accepted ip=%s port=%d", c->peer_ip,
        lconf->port);
}

static void
in_send_features(struct s2s_conn *c)
{
    const struct xs_conf *conf = xs_server()->conf;
    struct evbuffer *b = evbuffer_new();
    char *xml;

    evbuffer_add_printf(b, "<stream:features>");
    if (!c->st.is_tls && conf->s2s_use_starttls != XS_S2S_TLS_OFF &&
        xs_server()->tls != NULL) {
        evbuffer_add_printf(b, "<starttls xmlns='" S2S_NS_TLS "'>%s"
            "</starttls>", in_tls_missing(c) ? "<required/>" : "");
    }
    if (!in_tls_missing(c)) {
        /* EXTERNAL only when it would succeed (RFC 6120 6.4.1 lets us
         * choose); with it, the peer needs no dialback. */
        if (!c->is_sasl_done && c->remote != NULL &&
            s2s_conn_cert_ok(c, c->remote))
            evbuffer_add_printf(b, "<mechanisms xmlns='" S2S_NS_SASL "'>"
                "<mechanism>EXTERNAL</mechanism></mechanisms>");
        if (conf->s2s_dialback)
            evbuffer_add_printf(b, "<dialback xmlns='" S2S_NS_DB_FEATURE
                "'><errors/></dialback>");
        /* XEP-0288 2.1: offered until the peer authenticates (it asks
         * before SASL or dialback), and only once TLS is done when TLS
         * is required (STARTTLS comes first). */
        if (conf->s2s_bidi && c->npairs == 0 && !c->is_bidi)
            evbuffer_add_printf(b, "<bidi xmlns='" S2S_NS_BIDI_FEATURE
                "'/>");
    }
    evbuffer_add_printf(b, "</stream:features>");
    xml = xs_evbuffer_take_string(b);
    s2s_conn_write(c, xml, strlen(xml));
    xs_free(xml);
}

void
s2s_in_on_open(struct s2s_conn *c, struct xs_elem *el)
{
    const struct xs_conf *conf = xs_server()->conf;
    const char *ns = xs_elem_attr(el, "xmlns");
    const char *version = xs_elem_attr(el, "version");
    const char *to = xs_elem_attr(el, "to");
    const char *from = xs_elem_attr(el, "from");
    char *host = NULL, *peer = NULL;
    char *hdr;

    xs_random_id(c->stream_id);        /* a fresh id per stream (restart) */
    if (to != NULL && xs_jid_domainprep(to, &host) == XS_OK &&
        xs_conf_is_local_host(conf, host)) {
        xs_free(c->local);
        c->local = host;
        host = NULL;
    }
    if (from != NULL && xs_jid_domainprep(from, &peer) == XS_OK) {
        xs_free(c->remote);
        c->remote = peer;
        peer = NULL;
    }
    /* A bad header after SASL EXTERNAL (the restarted stream) is the
     * authenticated peer's doing; before, the close says nothing. */
    if (ns == NULL || strcmp(ns, XS_NS_SERVER) != 0) {
        s2s_conn_close_misbehaved(c, XS_STERR_INVALID_NAMESPACE, NULL);
        goto done;
    }
    if (c->local == NULL) {
        xs_slog(c, XS_LOG_INFO, "s2s: stream to unknown host ip=%s",
            c->peer_ip);
        s2s_conn_close_misbehaved(c, XS_STERR_HOST_UNKNOWN, NULL);
        goto done;
    }
    if (version == NULL || strncmp(version, "1.", 2) != 0) {
        s2s_conn_close_misbehaved(c, XS_STERR_UNSUPPORTED_VERSION, NULL);
        goto done;
    }
    hdr = s2s_conn_header(c);
    s2s_conn_write(c, hdr, strlen(hdr));
    xs_free(hdr);
    c->st.is_stream_open = true;
    c->state = S2S_OPEN;
    in_send_features(c);
    /* After SASL EXTERNAL: the restarted stream is open, the peer knows
     * it is authenticated, our stanzas may go (XEP-0288). */
    for (size_t i = 0; c->is_bidi && i < c->npairs; i++)
        s2s_out_bidi_attach(c, c->pairs[i].local, c->pairs[i].remote);
done:
    xs_free(host);
    xs_free(peer);
    xs_elem_free(el);
}

void
s2s_in_after_tls(struct s2s_conn *c)
{
    c->state = S2S_WAIT_STREAM;
}

static bool
in_pair_find(const struct s2s_conn *c, const char *remote, const char *local)
{
    for (size_t i = 0; i < c->npairs; i++) {
        if (strcmp(c->pairs[i].remote, remote) == 0 &&
            (local == NULL || strcmp(c->pairs[i].local, local) == 0))
            return true;
    }
    return false;
}

static void
in_pair_add(struct s2s_conn *c, const char *remote, const char *local,
    enum xs_s2s_auth how)
{
    if (in_pair_find(c, remote, local))
        return;
    c->pairs = xs_reallocarray(c->pairs, c->npairs + 1, sizeof(*c->pairs));
    c->pairs[c->npairs].remote = xs_strdup(remote);
    c->pairs[c->npairs].local = xs_strdup(local);
    if (c->npairs++ == 0) {
        const struct xs_xml_limits lim = {
            .max_stanza = c->lconf->max_stanza_size,
            .max_depth = xs_server()->conf->max_xml_depth,
            .max_attrs = xs_server()->conf->max_xml_attrs,
        };

        xs_xml_set_limits(c->st.xml, &lim);
        s2s_conn_idle_timer(c);
        c->auth = how;
        if (c->remote != remote) {      /* SASL passes c->remote itself */
            xs_free(c->remote);
            c->remote = xs_strdup(remote);
        }
        /* Only now may the stream's faults count against a domain. */
        xs_stream_set_subject(&c->st, remote);
    }
    xs_slog(c, XS_LOG_INFO, "s2s: inbound authenticated remote=%s local=%s "
        "auth=%s bidi=%s ip=%s", remote, local,
        how == XS_S2S_AUTH_EXTERNAL ? "EXTERNAL" : "dialback",
        c->is_bidi ? "yes" : "no", c->peer_ip);
    /* XEP-0288 2.2: we may now send from local to remote on this stream
     * (SASL: the header's to -> from; dialback: the reverse of the
     * verified pair).  Not before the peer has read that it is
     * authenticated: after SASL, once the restarted stream is open. */
    if (c->is_bidi && c->state == S2S_OPEN)
        s2s_out_bidi_attach(c, local, remote);
}

/* <bidi xmlns='urn:xmpp:bidi'/>: the initiating server asks to use this
 * stream both ways (XEP-0288 2.2), before it authenticates. */
static void
in_bidi(struct s2s_conn *c, struct xs_elem *el)
{
    xs_elem_free(el);
    if (!xs_server()->conf->s2s_bidi) {
        /* Not offered: as for any element we do not know. */
        s2s_conn_close_misbehaved(c, XS_STERR_UNSUPPORTED_STANZA_TYPE,
            NULL);
        return;
    }
    if (c->npairs > 0 || c->is_sasl_done) {
        /* Pairs authenticated before would have been one-way: the peer
         * and we would disagree about them. */
        s2s_conn_close_misbehaved(c, XS_STERR_POLICY_VIOLATION,
            "bidi after authentication");
        return;
    }
    c->is_bidi = true;
    xs_slog(c, XS_LOG_DEBUG, "s2s: peer asked for bidi remote=%s",
        c->remote != NULL ? c->remote : "");
}

static void
in_starttls(struct s2s_conn *c, struct xs_elem *el)
{
    static const char proceed[] = "<proceed xmlns='" S2S_NS_TLS "'/>";

    xs_elem_free(el);
    if (c->st.is_tls || xs_server()->tls == NULL ||
        xs_server()->conf->s2s_use_starttls == XS_S2S_TLS_OFF) {
        s2s_conn_write_lit(c, "<failure xmlns='" S2S_NS_TLS "'/>");
        s2s_conn_close(c, XS_STERR_NONE, NULL);
        return;
    }
    s2s_conn_write(c, proceed, sizeof(proceed) - 1);
    c->state = S2S_TLS_SWITCH;
    /* The peer's ClientHello waits in the kernel for the TLS bufferevent. */
    xs_stream_tls_pending(&c->st);
}

static void
in_sasl_failure(struct s2s_conn *c, const char *cond)
{
    char *xml = xs_asprintf("<failure xmlns='" S2S_NS_SASL "'><%s/>"
        "</failure>", cond);

    s2s_conn_write(c, xml, strlen(xml));
    xs_free(xml);
}

/* RFC 6120 6.3.9, XEP-0178: the certificate names the stream's 'from';
 * the authzid is empty ("=") or that same domain. */
static void
in_sasl_auth(struct s2s_conn *c, struct xs_elem *el)
{
    const char *mech = xs_elem_attr(el, "mechanism");
    char *text = xs_elem_text(el);
    char authzid[1024];
    size_t len = 0;
    bool ok = false;

    if (mech == NULL || strcmp(mech, "EXTERNAL") != 0) {
        in_sasl_failure(c, "invalid-mechanism");
        goto done;
    }
    if (c->is_sasl_done || c->remote == NULL) {
        in_sasl_failure(c, "not-authorized");
        goto done;
    }
    if (strcmp(text, "=") == 0 || *text == '\0') {
        ok = true;
    } else if (sodium_base642bin((unsigned char *)authzid,
        sizeof(authzid) - 1, text, strlen(text), NULL, &len, NULL,
        sodium_base64_VARIANT_ORIGINAL) == 0) {
        authzid[len] = '\0';
        ok = strlen(authzid) == len && strcmp(authzid, c->remote) == 0;
    }
    if (!ok) {
        in_sasl_failure(c, "invalid-authzid");
        goto done;
    }
    if (!s2s_conn_cert_ok(c, c->remote)) {
        in_sasl_failure(c, "not-authorized");
        goto done;
    }
    if (!xs_s2s_access_check(c->remote, XS_S2S_IN)) {   /* logs why */
        in_sasl_failure(c, "not-authorized");
        s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, NULL);
        goto done;
    }
    s2s_conn_write_lit(c, "<success xmlns='" S2S_NS_SASL "'/>");
    c->is_sasl_done = true;
    c->is_cert_verified = true;
    c->state = S2S_WAIT_STREAM;
    in_pair_add(c, c->remote, c->local, XS_S2S_AUTH_EXTERNAL);
    s2s_conn_restart_stream(c);
done:
    xs_free(text);
    xs_elem_free(el);
}

/* <db:result/> or <db:verify/> with type='error' back to the peer. */
static void
in_db_error(struct s2s_conn *c, const char *elname, const char *from,
    const char *to, const char *id, const char *cond)
{
    struct evbuffer *b = evbuffer_new();
    char *xml;

    evbuffer_add_printf(b, "<db:%s", elname);
    s2s_attr(b, "from", from);
    s2s_attr(b, "to", to);
    if (id != NULL)
        s2s_attr(b, "id", id);
    evbuffer_add_printf(b, " type='error'><error type='cancel'><%s xmlns='"
        XS_NS_STANZAS "'/></error></db:%s>", cond, elname);
    xml = xs_evbuffer_take_string(b);
    s2s_conn_write(c, xml, strlen(xml));
    xs_free(xml);
}

static void
in_db_typed(struct s2s_conn *c, const char *elname, const char *from,
    const char *to, const char *id, const char *type)
{
    struct evbuffer *b = evbuffer_new();
    char *xml;

    evbuffer_add_printf(b, "<db:%s", elname);
    s2s_attr(b, "from", from);
    s2s_attr(b, "to", to);
    if (id != NULL)
        s2s_attr(b, "id", id);
    s2s_attr(b, "type", type);
    evbuffer_add(b, "/>", 2);
    xml = xs_evbuffer_take_string(b);
    s2s_conn_write(c, xml, strlen(xml));
    xs_free(xml);
}

/* Step 1 at R: the initiating server claims (from -> to) with a key. */
static void
in_db_result(struct s2s_conn *c, const char *from, const char *to,
    const char *key)
{
    const struct xs_conf *conf = xs_server()->conf;

    if (!xs_conf_is_local_host(conf, to)) {
        in_db_error(c, "result", to, from, NULL, "item-not-found");
        return;
    }
    if (!conf->s2s_dialback) {
        in_db_error(c, "result", to, from, NULL, "not-acceptable");
        return;
    }
    if (in_tls_missing(c)) {
        in_db_error(c, "result", to, from, NULL, "policy-violation");
        return;
    }
    if (!xs_s2s_access_check(from, XS_S2S_IN)) {        /* logs why */
        in_db_error(c, "result", to, from, NULL, "forbidden");
        return;
    }
    if (in_pair_find(c, from, to)) {
        in_db_typed(c, "result", to, from, NULL, "valid");
        return;
    }
    s2s_out_verify(c->id, to, from, c->stream_id, key);
}

/* Step 2 at A: is this key ours?  No authentication needed: the answer
 * only says whether we generated it. */
static void
in_db_verify(struct s2s_conn *c, const char *from, const char *to,
    const char *id, const char *key)
{
    const struct xs_conf *conf = xs_server()->conf;
    bool ok;

    if (!xs_conf_is_local_host(conf, to)) {
        in_db_error(c, "verify", to, from, id, "item-not-found");
        return;
    }
    if (in_tls_missing(c)) {
        in_db_error(c, "verify", to, from, id, "policy-violation");
        return;
    }
    ok = xs_dialback_key_ok(from, to, id, key);
    xs_slog(c, XS_LOG_DEBUG, "s2s: db:verify from=%s to=%s: %s", from, to,
        ok ? "valid" : "invalid");
    in_db_typed(c, "verify", to, from, id, ok ? "valid" : "invalid");
}

void
s2s_in_verified(uint64_t in_id, const char *remote, const char *local,
    const char *type, enum xs_stanza_err err)
{
    struct s2s_conn *c = s2s_conn_by_id(in_id);

    if (c == NULL || c->st.is_closing)
        return;
    if (type == NULL) {
        in_db_error(c, "result", local, remote, NULL,
            xs_stanza_err_name(err));
        return;
    }
    if (strcmp(type, "valid") == 0) {
        /* Access control may have changed while we asked. */
        if (!xs_s2s_access_check(remote, XS_S2S_IN)) {
            in_db_error(c, "result", local, remote, NULL, "forbidden");
            return;
        }
        /* The answer first: with bidi, our stanzas may follow at once. */
        in_db_typed(c, "result", local, remote, NULL, "valid");
        in_pair_add(c, remote, local, XS_S2S_AUTH_DIALBACK);
        return;
    }
    xs_slog(c, XS_LOG_NOTICE, "s2s: dialback key invalid remote=%s "
        "local=%s ip=%s", remote, local, c->peer_ip);
    in_db_typed(c, "result", local, remote, NULL, "invalid");
    if (c->npairs == 0)
        s2s_conn_close(c, XS_STERR_NONE, NULL);
}

void
s2s_in_dialback(struct s2s_conn *c, struct xs_elem *el)
{
    const char *from_s = xs_elem_attr(el, "from");
    const char *to_s = xs_elem_attr(el, "to");
    const char *type = xs_elem_attr(el, "type");
    const char *id = xs_elem_attr(el, "id");
    char *from = NULL, *to = NULL, *key = NULL;

    /* Typed answers belong on our outbound streams only (the 2012
     * unsolicited-dialback attacks). */
    if (type != NULL || from_s == NULL || to_s == NULL ||
        xs_jid_domainprep(from_s, &from) != XS_OK ||
        xs_jid_domainprep(to_s, &to) != XS_OK) {
        s2s_conn_close_misbehaved(c, XS_STERR_INVALID_XML,
            "bad dialback element");
        goto done;
    }
    key = xs_elem_text(el);
    if (strcmp(el->name, "result") == 0 && c->kind != S2S_IN)
        /* The receiving server of our bidirectional stream claims
         * another of its domains (XEP-0288 2.2, target piggybacking):
         * not done; a dialback error leaves the stream as it is. */
        in_db_error(c, "result", to, from, NULL, "feature-not-implemented");
    else if (strcmp(el->name, "result") == 0)
        in_db_result(c, from, to, key);
    else if (strcmp(el->name, "verify") == 0 && id != NULL)
        in_db_verify(c, from, to, id, key);
    else
        s2s_conn_close_misbehaved(c, XS_STERR_UNSUPPORTED_STANZA_TYPE,
            NULL);
done:
    xs_free(from);
    xs_free(to);
    xs_free(key);
    xs_elem_free(el);
}

/* Received stanzas are jabber:server; inside we speak jabber:client. */
static void
in_normalize_ns(struct xs_elem *root)
{
    struct xs_elem *e = root;

    while (e != NULL) {
        if (e->type == XS_NODE_ELEM && e->ns != NULL &&
            strcmp(e->ns, XS_NS_SERVER) == 0) {
            xs_free(e->ns);
            e->ns = xs_strdup(XS_NS_CLIENT);
        }
        if (e->first != NULL) {
            e = e->first;
            continue;
        }
        while (e != root && e->next == NULL)
            e = e->parent;
        e = e == root ? NULL : e->next;
    }
}

void
s2s_in_stanza(struct s2s_conn *c, struct xs_elem *el)
{
    const char *from_s = xs_elem_attr(el, "from");
    const char *to_s = xs_elem_attr(el, "to");
    struct xs_jid *from = NULL, *to = NULL;
    struct xs_stanza *st;

    if (c->npairs == 0) {
        xs_slog(c, XS_LOG_INFO, "s2s: stanza before authentication ip=%s",
            c->peer_ip);
        s2s_conn_close(c, XS_STERR_NOT_AUTHORIZED, NULL);
        goto fail;
    }
    if (from_s == NULL || xs_jid_new(from_s, &from) != XS_OK ||
        !in_pair_find(c, from->domain, NULL)) {
        xs_slog(c, XS_LOG_NOTICE, "s2s: invalid from=%s remote=%s ip=%s",
            from_s ? from_s : "(none)", c->remote, c->peer_ip);
        s2s_conn_close_misbehaved(c, XS_STERR_INVALID_FROM, NULL);
        goto fail;
    }
    if (to_s == NULL || xs_jid_new(to_s, &to) != XS_OK) {
        xs_slog(c, XS_LOG_NOTICE, "s2s: bad to remote=%s", c->remote);
        s2s_conn_close_misbehaved(c, XS_STERR_IMPROPER_ADDRESSING, NULL);
        goto fail;
    }
    if (!xs_conf_is_local_host(xs_server()->conf, to->domain)) {
        xs_slog(c, XS_LOG_NOTICE, "s2s: stanza to foreign host to=%s "
            "remote=%s", to->domain, c->remote);
        s2s_conn_close_misbehaved(c, XS_STERR_HOST_UNKNOWN, NULL);
        goto fail;
    }
    if (!in_pair_find(c, from->domain, to->domain)) {
        s2s_conn_close_misbehaved(c, XS_STERR_INVALID_FROM,
            "pair not authenticated");
        goto fail;
    }
    in_normalize_ns(el);
    st = xs_stanza_new(el);
    el = NULL;
    if (st->kind == XS_K_NONE) {
        xs_stanza_unref(st);
        s2s_conn_close_misbehaved(c, XS_STERR_UNSUPPORTED_STANZA_TYPE,
            NULL);
        goto fail;
    }
    c->stanzas_in++;
    xs_core_stats.stanzas_in[XS_STATS_S2S]++;
    xs_router_from_remote(st, from, to);    /* takes all three */
    return;
fail:
    xs_jid_free(from);
    xs_jid_free(to);
    xs_elem_free(el);
}

void
s2s_in_on_elem(struct s2s_conn *c, struct xs_elem *el)
{
    if (el->ns != NULL && strcmp(el->ns, S2S_NS_TLS) == 0 &&
        strcmp(el->name, "starttls") == 0) {
        in_starttls(c, el);
        return;
    }
    if (in_tls_missing(c)) {
        /* s2s_use_starttls: required: nothing before TLS. */
        xs_slog(c, XS_LOG_INFO, "s2s: %s before TLS ip=%s", el->name,
            c->peer_ip);
        xs_elem_free(el);
        s2s_conn_close(c, XS_STERR_POLICY_VIOLATION, "TLS required");
        return;
    }
    if (el->ns != NULL && strcmp(el->ns, S2S_NS_SASL) == 0 &&
        strcmp(el->name, "auth") == 0) {
        in_sasl_auth(c, el);
        return;
    }
    if (el->ns != NULL && strcmp(el->ns, S2S_NS_DIALBACK) == 0) {
        s2s_in_dialback(c, el);
        return;
    }
    if (el->ns != NULL && strcmp(el->ns, S2S_NS_BIDI) == 0 &&
        strcmp(el->name, "bidi") == 0) {
        in_bidi(c, el);
        return;
    }
    if (el->ns != NULL && strcmp(el->ns, XS_NS_SERVER) == 0) {
        s2s_in_stanza(c, el);
        return;
    }
    xs_elem_free(el);
    s2s_conn_close_misbehaved(c, XS_STERR_UNSUPPORTED_STANZA_TYPE, NULL);
}
