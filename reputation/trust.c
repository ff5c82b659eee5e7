/*
 * trust.c: mod_trust, signed trust flags in the server
 * (docs/trust-flags.md; the contract is trust.h, the parts are listed in
 * trust_int.h).
 *
 * - Keys: each hosted domain's Ed25519 keys, loaded (or made) at start,
 *   pruned hourly, rotated by `xmppctl trust_key_rotate HOST` with the
 *   file writes on a worker thread.
 * - Flags (S2S_OUT): every subscription request of an account to another
 *   domain carries XEP-0489's <info/> and our signed <flag/>.
 * - Verification for the gate (gate.c): xs_trust_check_start decides at
 *   once from pinned or cached keys, or parks the check until the
 *   issuer's keys arrive (discovery.c).
 * - Egress limits of our accounts (C2S_IN) are egress.c's; key discovery
 *   is discovery.c's.
 *
 * Evidence is not submitted here: the gate decides what a flag's result
 * means for the sender and the issuer.  Options are mod_reputation's
 * (policy.h), parsed again here so that this module owns its copy.
 */
#include "reputation/trust.h"

#include "reputation/discovery.h"
#include "reputation/egress.h"
#include "reputation/reputation.h"
#include "reputation/trust_int.h"
#include "xmppd/admin/admin.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/core/workers.h"
#include "xmppd/router.h"

#include <event2/buffer.h>
#include <event2/event.h>
#include <inttypes.h>
#include <string.h>

#define TRUST_PRUNE_S           60      /* caches, windows, nonces */
#define TRUST_EGRESS_ACCOUNTS_MAX 100000    /* accounts with a window */

/* ---- the module's state ---- */

/* A rotation whose files a worker writes. */
struct xs_trust_rot {
    struct xs_trust_rot         *next;  /* borrowed: m->rots list */
    struct xs_trust_mod         *m;     /* borrowed; NULL once the module
                                           is gone */
    struct xs_trustkey_rotation *rot;   /* owned */
    void                        *call;  /* borrowed: admin call udata */
    char                        *host;  /* owned */
    char                         id[XS_TRUSTKEY_ID_LEN + 1];
};

/* The module's state while it is loaded (xs_trust_check_start has no
 * state argument). */
static struct xs_trust_mod *trust_mod;  /* borrowed: owned by the loader */
struct xs_trust_stats xs_trust_counters;

const char *
xs_trust_domain_of(const char *bare)
{
    const char *at = strchr(bare, '@');

    return at != NULL ? at + 1 : bare;
}

bool
xs_trust_is_local(const char *domain)
{
    return xs_conf_is_local_host(xs_server()->conf, domain);
}

/* ---- inbound flags (trust.h) ---- */

enum xs_flag_result
xs_trust_verify(struct xs_trust_mod *m, const struct xs_flag *f,
    const char *from_bare, const char *to_bare, int64_t now)
{
    const struct xs_flag_verifier v = {
        .skew_s = m->policy.trust.flag_skew_s,
        .max_validity_s = m->policy.trust.flag_max_validity_s,
        .key_lookup = xs_trust_key_lookup,
        .key_udata = m->disco,
        .replay = m->replay,
    };

    /* The stream is authenticated for the from JID's domain: s2s refuses
     * a 'from' outside the domains a stream authenticated. */
    return xs_flag_verify(&v, f, xs_trust_domain_of(from_bare), from_bare,
        to_bare, now);
}

/* Set the result, count it: the end of every check. */
void
xs_trust_decide(struct xs_trust_check *c, enum xs_flag_result r,
    const char *why)
{
    c->result = r;
    c->why = why != NULL ? why : xs_flag_result_text(r);
    if ((unsigned)r < XS_FLAG__COUNT)
        xs_trust_counters.checked[r]++;
}

bool
xs_trust_check_start(struct xs_trust_check *c, const struct xs_stanza *st,
    const char *from_bare, const char *to_bare, xs_trust_check_fn *cb,
    void *ud)
{
    struct xs_trust_mod *m = trust_mod;
    const char *why = NULL;
    enum xs_flag_result r;
    int64_t now = xs_wall_s();

    memset(c, 0, sizeof(*c));
    r = xs_flag_from_stanza(st->el, &c->flag, &why);
    if (r != XS_FLAG_OK) {
        xs_trust_decide(c, r, why);
        return true;
    }
    if (m == NULL) {
        xs_trust_decide(c, XS_FLAG_UNKNOWN_KEY, "trust flags not loaded");
        return true;
    }
    r = xs_trust_verify(m, &c->flag, from_bare, to_bare, now);
    if (r != XS_FLAG_UNKNOWN_KEY) {
        xs_trust_decide(c, r, NULL);
        return true;
    }
    return xs_trust_discovery_wait(m->disco, c, from_bare, to_bare, cb, ud,
        now);
}

void
xs_trust_check_cancel(struct xs_trust_check *c)
{
    struct xs_trust_mod *m = trust_mod;

    if (m != NULL)
        xs_trust_discovery_cancel(m->disco, c);
}

void
xs_trust_stats(struct xs_trust_stats *out)
{
    *out = xs_trust_counters;
}

/* ---- hooks ---- */

/* The hook may change the stanza: if anyone else holds it too (a
 * broadcast), work on a copy of our own. */
static struct xs_elem *
trust_own_el(struct xs_stanza_ctx *ctx)
{
    if (ctx->st->refs > 1) {
        struct xs_stanza *copy = xs_stanza_new(xs_elem_copy(ctx->st->el));

        xs_stanza_unref(ctx->st);
        ctx->st = copy;
    }
    return ctx->st->el;
}

size_t
xs_trust_strip(struct xs_stanza_ctx *ctx)
{
    const struct xs_elem *el = ctx->st->el;
    size_t n = 0;

    /* Look before copying: almost no request carries anything. */
    for (const struct xs_elem *c = xs_elem_first_elem(el); c != NULL;
        c = xs_elem_next_elem(c)) {
        if (c->ns != NULL && (strcmp(c->ns, XS_NS_TRUST) == 0 ||
                              strcmp(c->ns, XS_NS_RAA) == 0))
            n++;
    }
    if (n == 0)
        return 0;
    n = xs_flag_strip(trust_own_el(ctx));
    xs_trust_counters.flags_stripped += n;
    return n;
}

/*
 * S2S_OUT, presence: a subscription request leaving for another domain.
 * Stripped again (it may come from elsewhere than a client), then, from
 * one of our accounts, flagged: <info/> for XEP-0489 peers and our
 * signed <flag/>.  The server's own requests are not flagged.
 */
static enum xs_verdict
trust_on_s2s_out(struct xs_stanza_ctx *ctx, void *state)
{
    struct xs_trust_mod *m = state;
    struct xs_rep *rep = xs_reputation();
    struct xs_flag_claim claim;
    struct xs_rep_score s;
    int64_t created_at = 0, now;
    bool is_admin = false;
    xs_rc rc;

    if (ctx->to == NULL || !xs_stanza_type_is(ctx->st, "subscribe"))
        return XS_PASS;
    (void)xs_trust_strip(ctx);
    if (ctx->from->local == NULL || ctx->to->local == NULL ||
        !xs_trust_is_local(ctx->from->domain) || rep == NULL ||
        !xs_rep_account_info(rep, ctx->from->bare, &created_at, &is_admin))
        return XS_PASS;
    s = xs_reputation_score(ctx->from->bare);
    now = xs_wall_s();
    claim = (struct xs_flag_claim){
        .issuer = ctx->from->domain,
        .sender = ctx->from->bare,
        .recipient = ctx->to->bare,
        .affiliation = is_admin ? "admin" : "registered",
        .since = created_at > 0 ? created_at : -1,
        .trust = xs_rep_trust_of_score(s.score),
        .issued = now,
        .expires = now + m->policy.trust.flag_validity_s,
    };
    rc = xs_flag_attach(trust_own_el(ctx), &claim, m->store);
    if (rc != XS_OK) {
        /* Sent unflagged: the peer applies its no-flag policy. */
        xs_log(XS_LOG_WARN, "trust: no flag on a subscription request "
            "from=%s to=%s: %s", ctx->from->bare, ctx->to->bare,
            xs_rc_str(rc));
        return XS_PASS;
    }
    xs_trust_counters.flags_issued++;
    xs_log(XS_LOG_DEBUG, "trust: flagged subscription request from=%s "
        "to=%s trust=%d", ctx->from->bare, ctx->to->bare, claim.trust);
    return XS_PASS;
}

static const struct xs_hook_spec trust_hooks[] = {
    /* At the policy priority, before the activity module counts a
     * request sent (XS_PRIO_POLICY - 1): a refused one was never sent. */
    { XS_HOOK_C2S_IN, XS_K_PRESENCE, XS_PRIO_POLICY, xs_trust_on_c2s_sub },
    { XS_HOOK_S2S_OUT, XS_K_PRESENCE, XS_PRIO_DEFAULT, trust_on_s2s_out },
    { 0 }
};
static const char *const trust_features[] = {
    XS_FEATURE_TRUST,
    XS_FEATURE_RAA_EMBED_SUB,
    NULL
};

/* ---- trust_key_rotate HOST ---- */

static void
trust_rot_unlink(struct xs_trust_mod *m, struct xs_trust_rot *r)
{
    for (struct xs_trust_rot **pp = &m->rots; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == r) {
            *pp = r->next;
            return;
        }
    }
}

/* On a worker: the file writes (and fsyncs) of the rotation. */
static void
trust_rot_work(void *arg)
{
    struct xs_trust_rot *r = arg;

    xs_trustkey_rotation_write(r->rot);
}

/* On the loop: the new key becomes current, if its file was written. */
static void
trust_rot_done(void *arg)
{
    struct xs_trust_rot *r = arg;
    struct xs_admin_call *call = xs_admin_call_by_udata(r->call);
    char err[256] = "";
    xs_rc rc;

    if (r->m == NULL) {
        /* The module is gone: the files stay, the next start reads them. */
        xs_trustkey_rotation_free(r->rot);
        if (call != NULL)
            xs_admin_call_fail(call, 503, "The server is stopping");
    } else {
        trust_rot_unlink(r->m, r);
        rc = xs_trustkey_rotate_finish(r->m->store, r->rot, err,
            sizeof(err));
        if (rc == XS_OK) {
            xs_log(XS_LOG_NOTICE, "trust: key rotated domain=%s id=%s",
                r->host, r->id);
            if (call != NULL)
                xs_admin_call_ok(call, json_string(r->id));
        } else {
            xs_log(XS_LOG_ERR, "trust: key rotation of domain=%s failed: %s",
                r->host, err);
            if (call != NULL)
                xs_admin_call_fail(call, 500, "Key rotation failed: %s",
                    err);
        }
    }
    xs_free(r->host);
    xs_free(r);
}

static void
trust_cmd_rotate(struct xs_admin_call *call, void *state)
{
    struct xs_trust_mod *m = state;
    const char *host = xs_admin_call_arg(call, "host");
    struct xs_trustkey_rotation *rot = NULL;
    struct xs_trust_rot *r;
    char err[256];
    xs_rc rc;

    if (m == NULL || m->store == NULL || host == NULL) {
        xs_admin_call_fail(call, 503, "Trust flags are not loaded");
        return;
    }
    rc = xs_trustkey_rotate_begin(m->store, host, xs_wall_s(), &rot);
    if (rc == XS_ENOTFOUND) {
        xs_admin_call_fail(call, 404, "No trust keys for %s", host);
        return;
    }
    if (rc == XS_ELIMIT) {
        xs_admin_call_fail(call, 409, "A key rotation of %s is already "
            "in progress", host);
        return;
    }
    if (rc != XS_OK) {
        xs_admin_call_fail(call, 500, "Key rotation failed: %s",
            xs_rc_str(rc));
        return;
    }
    r = xs_calloc(1, sizeof(*r));
    r->m = m;
    r->rot = rot;
    r->call = xs_admin_call_udata(call);
    r->host = xs_strdup(host);
    memcpy(r->id, xs_trustkey_rotation_id(rot), sizeof(r->id));
    r->id[XS_TRUSTKEY_ID_LEN] = '\0';
    rc = xs_work_submit(trust_rot_work, trust_rot_done, r);
    if (rc != XS_OK) {
        /* Abandoned while the store lives: finish without the write. */
        (void)xs_trustkey_rotate_finish(m->store, rot, err, sizeof(err));
        xs_free(r->host);
        xs_free(r);
        xs_admin_call_fail(call, 503, "No worker free for the key files; "
            "try again");
        return;
    }
    r->next = m->rots;
    m->rots = r;
}

static const struct xs_admin_cmd trust_commands[] = {
    { "trust_key_rotate", trust_cmd_rotate },
    { NULL, NULL }
};

/* ---- metrics ---- */

static void
trust_metrics(struct evbuffer *out, void *state)
{
    const struct xs_trust_stats *st = &xs_trust_counters;

    (void)state;
    xs_metrics_family(out, "xmppd_trust_flags_issued_total", "counter",
        "Trust flags signed on outgoing subscription requests.");
    evbuffer_add_printf(out, "xmppd_trust_flags_issued_total %" PRIu64 "\n",
        st->flags_issued);
    xs_metrics_family(out, "xmppd_trust_flags_checked_total", "counter",
        "Inbound subscription requests checked for a flag, by result.");
    for (size_t r = 0; r < XS_FLAG__COUNT; r++)
        evbuffer_add_printf(out, "xmppd_trust_flags_checked_total"
            "{result=\"%s\"} %" PRIu64 "\n",
            xs_flag_result_name((enum xs_flag_result)r), st->checked[r]);
    xs_metrics_family(out, "xmppd_trust_key_fetches_total", "counter",
        "Key discoveries sent to other domains.");
    evbuffer_add_printf(out, "xmppd_trust_key_fetches_total %" PRIu64 "\n",
        st->key_fetches);
    xs_metrics_family(out, "xmppd_trust_key_fetch_failures_total", "counter",
        "Key discoveries that failed (error, timeout, not sent).");
    evbuffer_add_printf(out, "xmppd_trust_key_fetch_failures_total %" PRIu64
        "\n", st->key_fetch_failures);
    xs_metrics_family(out, "xmppd_trust_pinned_key_mismatches_total",
        "counter", "Discoveries in which a pinned domain published keys "
        "that are not pinned.");
    evbuffer_add_printf(out, "xmppd_trust_pinned_key_mismatches_total %"
        PRIu64 "\n", st->pinned_key_mismatches);
    xs_metrics_family(out, "xmppd_trust_egress_refused_total", "counter",
        "Subscription requests of local accounts to other domains refused.");
    evbuffer_add_printf(out, "xmppd_trust_egress_refused_total"
        "{why=\"level\"} %" PRIu64 "\n", st->egress_refused);
    evbuffer_add_printf(out, "xmppd_trust_egress_refused_total"
        "{why=\"probation_limit\"} %" PRIu64 "\n", st->egress_limited);
    xs_metrics_family(out, "xmppd_trust_client_elements_stripped_total",
        "counter", "Elements in the trust and XEP-0489 namespaces removed "
        "from subscription requests.");
    evbuffer_add_printf(out, "xmppd_trust_client_elements_stripped_total %"
        PRIu64 "\n", st->flags_stripped);
}

/* ---- timers ---- */

static void
trust_on_prune(evutil_socket_t fd, short what, void *arg)
{
    struct xs_trust_mod *m = arg;
    int64_t now = xs_wall_s();
    size_t nonces, domains, accounts;

    (void)fd, (void)what;
    nonces = xs_replay_prune(m->replay, now);
    domains = xs_trust_discovery_prune(m->disco, now);
    accounts = xs_trust_egress_prune(m->egress, now);
    xs_log(XS_LOG_DEBUG, "trust: pruned nonces=%zu domains=%zu "
        "egress_accounts=%zu", nonces, domains, accounts);
}

static void
trust_on_key_prune(evutil_socket_t fd, short what, void *arg)
{
    struct xs_trust_mod *m = arg;
    size_t n;

    (void)fd, (void)what;
    n = xs_trustkey_prune(m->store, xs_wall_s());
    if (n > 0)
        xs_log(XS_LOG_INFO, "trust: retired keys past their window "
            "deleted=%zu", n);
}

/* ---- the module ---- */

static void
trust_fini(void *state)
{
    struct xs_trust_mod *m = state;

    if (m == NULL)
        return;
    if (trust_mod == m)
        trust_mod = NULL;
    for (struct xs_trust_rot *r = m->rots; r != NULL; r = r->next)
        r->m = NULL;
    if (m->prune_timer != NULL)
        event_free(m->prune_timer);
    if (m->key_timer != NULL)
        event_free(m->key_timer);
    xs_trust_discovery_free(m->disco);
    xs_trust_egress_free(m->egress);
    xs_replay_free(m->replay);
    xs_trustkey_store_free(m->store);
    if (m->has_policy)
        xs_rep_policy_fini(&m->policy);
    xs_free(m);
}

static xs_rc
trust_init(const struct xs_conf *conf, void **out)
{
    struct xs_trust_mod *m = xs_calloc(1, sizeof(*m));
    const struct xs_trust_policy *t;
    struct xs_trustkey_opts ko;
    struct timeval prune_tv = { .tv_sec = TRUST_PRUNE_S };
    struct timeval key_tv = { .tv_sec = TRUST_HOUR_S };
    char err[512] = "";
    char *msg = NULL;
    xs_rc rc;

    *out = m;
    memset(&xs_trust_counters, 0, sizeof(xs_trust_counters));
    rc = xs_rep_policy_from_conf(conf,
        xs_conf_module_opts(conf, "mod_reputation"), &m->policy, &msg);
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "%s", msg != NULL ? msg : "trust: bad options");
        xs_free(msg);
        return rc;
    }
    m->has_policy = true;
    t = &m->policy.trust;

    /* Plain file I/O, once: the listeners are not open yet.  A retired
     * key must verify as long as any flag we issued under it. */
    ko = (struct xs_trustkey_opts){
        .dir = t->keys_dir,
        .max_validity_s = t->flag_max_validity_s > t->flag_validity_s
            ? t->flag_max_validity_s : t->flag_validity_s,
        .skew_s = t->flag_skew_s,
    };
    rc = xs_trustkey_store_load(&ko, (const char *const *)conf->hosts,
        conf->nhosts, xs_wall_s(), &m->store, err, sizeof(err));
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "trust: cannot load the domain keys from %s: %s",
            t->keys_dir, err);
        return rc;
    }
    for (size_t i = 0; i < conf->nhosts; i++) {
        char id[XS_TRUSTKEY_ID_LEN + 1] = "";

        (void)xs_trustkey_current(m->store, conf->hosts[i], id);
        xs_log(XS_LOG_INFO, "trust: domain=%s signs with key=%s",
            conf->hosts[i], id);
    }

    m->replay = xs_replay_new(t->replay_cache_max);
    m->egress = xs_trust_egress_new(t->egress_probation_per_hour,
        TRUST_EGRESS_ACCOUNTS_MAX);

    m->prune_timer = event_new(xs_server()->base, -1, EV_PERSIST,
        trust_on_prune, m);
    m->key_timer = event_new(xs_server()->base, -1, EV_PERSIST,
        trust_on_key_prune, m);
    m->disco = xs_trust_discovery_new(m);
    if (m->prune_timer == NULL || m->key_timer == NULL ||
        m->disco == NULL) {
        xs_log(XS_LOG_ERR, "trust: cannot make its timers");
        return XS_EIO;
    }
    event_add(m->prune_timer, &prune_tv);
    event_add(m->key_timer, &key_tv);
    trust_mod = m;
    return XS_OK;
}

const struct xs_module xs_mod_trust = {
    .name = "mod_trust",
    .abi = XS_MODULE_ABI,
    .init = trust_init,
    .fini = trust_fini,
    .hooks = trust_hooks,
    .iqs = xs_trust_discovery_iqs,
    .features = trust_features,
    .commands = trust_commands,
    .metrics = trust_metrics,
};
