/*
 * gate.c: the subscription gate (mod_gate).  Every inbound
 * <presence type='subscribe'/> from a remote JID to one of our accounts
 * is delivered or rejected here, before it is routed, so a rejected
 * request never reaches the roster module or the recipient's clients.
 *
 * For each request, in order:
 *  1. the contact check: a recipient who already has the sender (a
 *     subscription from/both), asked it first, or pre-approved it gets the
 *     request whatever else is known;
 *  2. the trust flag (trust.c): verified now (pinned or cached keys, or no
 *     flag), or later once the issuer's keys are fetched: the stanza is
 *     stolen and kept in a pending record until then;
 *  3. evidence: a valid flag counts for its sender (weighed by the issuing
 *     domain's own score), a forged or misaddressed one against the
 *     issuing domain; submitted before deciding, so the decision sees it;
 *  4. the decision (xs_gate_decide, pure: gate.h);
 *  5. acting: deliver (the flag and any unverified <info/> stripped, the
 *     verified XEP-0489 <info/> added), or reject (unsubscribed, a
 *     policy-violation error, or silence);
 *  6. an audit entry for every rejection (and every delivery with
 *     audit_deliveries), with the evidence lines that decided.
 *
 * Options are mod_reputation's `subscription_gate: {...}` (policy.h);
 * docs/reputation.md, "Subscription gate", is the operator's guide.
 */
#include "reputation/gate.h"

#include "reputation/audit.h"
#include "reputation/mod_reputation.h"
#include "reputation/recent.h"
#include "reputation/reputation.h"
#include "reputation/trust.h"
#include "xmppd/admin/admin.h"
#include "xmppd/admin/metrics.h"
#include "xmppd/core/module.h"
#include "xmppd/core/server.h"
#include "xmppd/im/blocking.h"
#include "xmppd/im/roster.h"
#include "xmppd/router.h"

#include <event2/buffer.h>
#include <math.h>
#include <string.h>
#include <time.h>

/* A valid flag is one trust_flag item per (sender, issuer) per ten
 * minutes: a flood of requests must not become a flood of evidence. */
#define GATE_FLAGGED_MAX        65536
#define GATE_FLAGGED_WINDOW_S   600
/* A refused flag: one flag_invalid item per (domain, result) per
 * minute. */
#define GATE_BLAMED_MAX         4096
#define GATE_BLAMED_WINDOW_S    60

/* ---- the module's state ---- */

/* Upper bounds of the decision-time histogram, in nanoseconds (25, 50,
 * 100, 200, 500 microseconds, 1 and 5 ms); the last bucket is +Inf. */
static const uint64_t gate_hist_bounds_ns[] = {
    25000, 50000, 100000, 200000, 500000, 1000000, 5000000,
};
static const char *const gate_hist_le[] = {
    "2.5e-05", "5e-05", "0.0001", "0.0002", "0.0005", "0.001", "0.005",
    "+Inf",
};
#define GATE_HIST_BUCKETS (XS_ARRAY_LEN(gate_hist_bounds_ns) + 1)
_Static_assert(XS_ARRAY_LEN(gate_hist_le) == GATE_HIST_BUCKETS,
    "one le per bucket");

struct gate_pending;

struct gate_state {
    struct xs_rep_policy  policy;       /* owned: mod_reputation's options */
    bool                  has_policy;
    struct gate_pending  *pending;      /* owned: waiting on key discovery */
    size_t                npending;
    struct xs_rep_recent  flagged;      /* (sender, issuer) */
    struct xs_rep_recent  blamed;       /* (domain, result) */
    int64_t               since;        /* wall seconds at init */
    uint64_t              decisions[XS_GATE_DECISION__COUNT]
                                       [XS_GATE_R__COUNT];
    uint64_t              hist[GATE_HIST_BUCKETS];  /* not cumulative */
    uint64_t              hist_count;
    uint64_t              hist_sum_ns;
};

/*
 * A request being judged: everything the decision and the action need,
 * self-contained, because it may outlive the hook (key discovery).
 */
struct gate_pending {
    struct xs_trust_check check;        /* the flag and its result */
    struct gate_state    *g;            /* borrowed */
    struct xs_stanza     *st;           /* owned once stolen; borrowed on
                                           the synchronous path */
    char                 *from_bare;    /* owned: the sender */
    char                 *to_bare;      /* owned: our account */
    char                 *domain;       /* owned: the sender's domain (its
                                           stream authenticated it) */
    bool                  is_contact;
    bool                  is_blocked;   /* the recipient blocks the sender */
    bool                  is_checked;   /* check.result is meaningful */
    struct gate_pending  *prev, *next;  /* borrowed: g->pending's list */
};

static uint64_t
gate_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
gate_hist_record(struct gate_state *g, uint64_t ns)
{
    size_t i = 0;

    while (i < XS_ARRAY_LEN(gate_hist_bounds_ns)
        && ns > gate_hist_bounds_ns[i])
        i++;
    g->hist[i]++;
    g->hist_count++;
    g->hist_sum_ns += ns;
}

static void
gate_pending_link(struct gate_state *g, struct gate_pending *p)
{
    p->prev = NULL;
    p->next = g->pending;
    if (g->pending != NULL)
        g->pending->prev = p;
    g->pending = p;
    g->npending++;
}

static void
gate_pending_unlink(struct gate_state *g, struct gate_pending *p)
{
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        g->pending = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    p->prev = p->next = NULL;
    g->npending--;
}

static void
gate_pending_free(struct gate_pending *p)
{
    if (p == NULL)
        return;
    xs_free(p->from_bare);
    xs_free(p->to_bare);
    xs_free(p->domain);
    xs_free(p);
}

/* ---- the contact check ---- */

/*
 * Whether to_bare already knows from_bare: a roster item with a
 * subscription from or both (the sender sees the recipient already: a
 * renewed request), a request of the recipient's own toward the sender
 * (they asked first: this is the answer's mirror), or a pre-approval.
 * Rosters are in memory only while their owner is online (roster.h): an
 * offline recipient's contacts are not known without the database, which
 * this path must not wait for, so the sender is judged as a stranger.
 */
static bool
gate_is_contact(const char *to_bare, const char *from_bare)
{
    const struct xs_roster *r = xs_roster_loaded(to_bare);
    const struct xs_roster_item *it;

    if (r == NULL || (it = xs_roster_item(r, from_bare)) == NULL)
        return false;
    return it->sub == XS_SUB_FROM || it->sub == XS_SUB_BOTH ||
        it->ask_out || it->approved;
}

/* ---- evidence ---- */

static bool
gate_flag_is_parsed(enum xs_flag_result r)
{
    return r != XS_FLAG_ABSENT && r != XS_FLAG_MALFORMED &&
        r != XS_FLAG_UNSUPPORTED;
}

/* The flag's trust, or -1 when it states none. */
static int
gate_flag_trust(const struct gate_pending *p)
{
    if (!p->is_checked || p->check.result != XS_FLAG_OK ||
        !p->check.flag.has_trust)
        return -1;
    return p->check.flag.trust_n;
}

struct xs_evidence
xs_gate_flag_item(const struct xs_trust_check *c, const char *sender,
    double points, int64_t now, char *note, size_t note_len)
{
    int n = snprintf(note, note_len, "trust %d, key %s", c->flag.trust_n,
        c->flag.key);

    xs_assert(n > 0 && (size_t)n < note_len);
    return (struct xs_evidence){
        .at = now, .src = XS_EVSRC_SYSTEM, .subject = sender,
        .kind = XS_EVK_TRUST_FLAG, .weight = points,
        .source = c->flag.issuer, .note = note,
    };
}

/*
 * What the flag says as evidence, before deciding (the engine admits an
 * item at once, so the scores read next include it).  A valid flag is
 * about its sender, from the issuing domain (the system relays the
 * domain's statement: XS_EVSRC_SYSTEM, source the issuer); a flag that
 * blames its issuer is about the domain whose stream carried it.
 */
static void
gate_submit_evidence(struct gate_state *g, const struct gate_pending *p,
    int64_t now)
{
    const struct xs_trust_check *c = &p->check;
    char note[XS_GATE_NOTE_MAX];
    struct xs_evidence ev = { .at = now, .src = XS_EVSRC_SYSTEM };
    int trust = gate_flag_trust(p);

    if (!p->is_checked)
        return;
    if (c->result == XS_FLAG_OK && trust >= 0) {
        struct xs_rep_score d = xs_reputation_score(c->flag.issuer);
        double w = xs_gate_flag_points(g->policy.trust.flag_weight, trust,
            d.score);

        /* Trust 50 is neutral, and a worthless domain's word is worth
         * nothing: no item for zero points. */
        if (fabs(w) < XS_GATE_POINTS_MIN ||
            xs_rep_recent_seen(&g->flagged, p->from_bare, c->flag.issuer,
                now))
            return;
        ev = xs_gate_flag_item(c, p->from_bare, w, now, note, sizeof(note));
        (void)xs_reputation_submit(&ev);
        return;
    }
    if (xs_flag_result_blames_issuer(c->result)) {
        const char *name = xs_flag_result_name(c->result);

        if (xs_rep_recent_seen(&g->blamed, p->domain, name, now))
            return;
        ev.subject = p->domain;
        ev.kind = XS_EVK_FLAG_INVALID;
        ev.source = "gate";
        ev.note = name;
        (void)xs_reputation_submit(&ev);
    }
}

/* ---- the audit entry ---- */

/* The explanation lines of subject (strongest first, at most max) onto
 * arr; about, when not NULL, names the subject in each line (the domain's
 * lines beside the sender's). */
static void
gate_json_lines(json_t *arr, struct xs_rep *r, const char *subject,
    const char *about, size_t max, int64_t now)
{
    struct xs_rep_explanation e;

    xs_rep_explain(r, subject, now, &e);
    for (size_t i = 0; i < e.nlines && i < max; i++) {
        json_t *o = xs_rep_line_json(&e.lines[i], now, XS_REP_LINE_AUDIT);

        if (about != NULL)
            json_object_set_new(o, "subject", json_string(about));
        json_array_append_new(arr, o);
    }
    xs_rep_explanation_fini(&e);
}

/* The flag's line of an audit entry; c NULL: no check ran. */
static json_t *
gate_json_flag(const struct xs_trust_check *c)
{
    json_t *o = json_object();
    int trust = -1;

    json_object_set_new(o, "what", json_string("flag"));
    if (c == NULL) {
        json_object_set_new(o, "result", json_string("unchecked"));
        json_object_set_new(o, "issuer", json_null());
        json_object_set_new(o, "trust", json_null());
        return o;
    }
    json_object_set_new(o, "result",
        json_string(xs_flag_result_name(c->result)));
    if (gate_flag_is_parsed(c->result)) {
        json_object_set_new(o, "issuer", xs_rep_json_str(c->flag.issuer));
        json_object_set_new(o, "key", xs_rep_json_str(c->flag.key));
        if (c->flag.has_trust)
            trust = c->flag.trust_n;
    } else {
        json_object_set_new(o, "issuer", json_null());
    }
    json_object_set_new(o, "trust", trust >= 0 ? json_integer(trust)
        : json_null());
    if (c->why != NULL)
        json_object_set_new(o, "detail", json_string(c->why));
    if (c->key_fetched)
        json_object_set_new(o, "key_fetched", json_true());
    return o;
}

/* The flag's check of p, or NULL when none ran (a contact). */
static const struct xs_trust_check *
gate_check(const struct gate_pending *p)
{
    return p->is_checked ? &p->check : NULL;
}

static const char *
gate_check_name(const struct xs_trust_check *c)
{
    return c != NULL ? xs_flag_result_name(c->result) : "unchecked";
}

xs_rc
xs_gate_audit(struct xs_rep *r, const struct xs_gate_audit_in *a,
    int64_t now)
{
    json_t *expl = json_array();
    struct xs_audit_entry e = {
        .at = now, .kind = "subscription_gate", .subject = a->sender,
        .recipient = a->recipient,
        .decision = xs_gate_decision_name(a->outcome.decision),
        .reason = xs_gate_reason_name(a->outcome.reason),
        .score = a->sender_score, .domain_score = a->domain_score,
        .flag = gate_check_name(a->check), .explanation = expl,
    };
    xs_rc rc;

    if (r != NULL)
        gate_json_lines(expl, r, a->sender, NULL, XS_GATE_AUDIT_LINES_MAX,
            now);
    json_array_append_new(expl, gate_json_flag(a->check));
    if (r != NULL && a->outcome.reason == XS_GATE_R_DOMAIN_BELOW)
        gate_json_lines(expl, r, a->domain, a->domain,
            XS_GATE_AUDIT_LINES_MAX, now);
    rc = xs_audit_record(&e);
    json_decref(expl);
    return rc;
}

static void
gate_audit(const struct gate_pending *p, struct xs_gate_outcome o,
    const struct xs_rep_score *sender, const struct xs_rep_score *domain,
    int64_t now)
{
    const struct xs_gate_audit_in a = {
        .sender = p->from_bare, .recipient = p->to_bare,
        .domain = p->domain, .check = gate_check(p), .outcome = o,
        .sender_score = sender->score, .domain_score = domain->score,
    };

    if (xs_gate_audit(xs_reputation(), &a, now) != XS_OK)
        xs_log(XS_LOG_DEBUG, "gate: audit entry dropped from=%s to=%s",
            p->from_bare, p->to_bare);
}

/* ---- judging and acting ---- */

/*
 * Evidence, the decision, the audit entry, the log line and the counters
 * for p; and the stanza's trust elements fixed for delivery (the flag
 * never reaches a client; the <info/> a client sees is the verified
 * flag's, or none).
 */
static struct xs_gate_outcome
gate_judge(struct gate_state *g, struct gate_pending *p)
{
    const struct xs_gate_policy *pol = &g->policy.gate;
    int64_t now = xs_wall_s();
    struct xs_gate_input in = {
        .policy = pol,
        .flag = p->is_checked ? p->check.result : XS_FLAG_ABSENT,
        .trust = gate_flag_trust(p), .is_contact = p->is_contact,
        .is_blocked = p->is_blocked,
    };
    struct xs_gate_outcome o;

    gate_submit_evidence(g, p, now);
    in.sender = xs_reputation_score(p->from_bare);
    in.domain = xs_reputation_score(p->domain);
    o = xs_gate_decide(&in);

    (void)xs_flag_strip(p->st->el);
    if (o.decision == XS_GATE_DELIVER && p->is_checked &&
        p->check.result == XS_FLAG_OK)
        xs_elem_append(p->st->el, xs_flag_info_elem(&p->check.flag));

    g->decisions[o.decision][o.reason]++;
    if (o.decision == XS_GATE_REJECT) {
        xs_log(XS_LOG_INFO, "gate: reject from=%s to=%s reason=%s score=%d "
            "flag=%s", p->from_bare, p->to_bare, xs_gate_reason_name(o.reason),
            in.sender.score, gate_check_name(gate_check(p)));
    } else {
        xs_log(XS_LOG_DEBUG, "gate: deliver from=%s to=%s reason=%s "
            "score=%d flag=%s", p->from_bare, p->to_bare,
            xs_gate_reason_name(o.reason), in.sender.score,
            gate_check_name(gate_check(p)));
    }
    if (o.decision == XS_GATE_REJECT || pol->audit_deliveries)
        gate_audit(p, o, &in.sender, &in.domain, now);
    return o;
}

/* <presence type='unsubscribed'/> from our account to the sender: the
 * sender's server clears its pending request (RFC 6121 3.2). */
static void
gate_send_unsubscribed(const struct gate_pending *p)
{
    struct xs_elem *el = xs_elem_new(XS_NS_CLIENT, "presence");

    xs_elem_set_attr(el, "from", p->to_bare);
    xs_elem_set_attr(el, "to", p->from_bare);
    xs_elem_set_attr(el, "type", "unsubscribed");
    xs_router_route(xs_stanza_new(el));
}

/* How to refuse: as configured, except a blocked sender, whose presence
 * the recipient's server drops without a word (XEP-0191 3.4: a blocked
 * entity must not learn of the block). */
static enum xs_gate_action
gate_action(const struct gate_state *g, struct xs_gate_outcome o)
{
    return o.reason == XS_GATE_R_BLOCKED ? XS_GATE_ACT_SILENT
        : g->policy.gate.action;
}

/* Act on a decision taken after a key discovery: p->st is ours. */
static void
gate_act_async(struct gate_state *g, struct gate_pending *p,
    struct xs_gate_outcome o)
{
    struct xs_stanza *st = p->st;

    p->st = NULL;
    if (o.decision == XS_GATE_DELIVER) {
        /* On to ROUTE and dispatch: the S2S_IN chain does not run again,
         * which is why the gate is the last S2S_IN hook. */
        xs_router_route(st);
        return;
    }
    switch (gate_action(g, o)) {
    case XS_GATE_ACT_UNSUBSCRIBED:
        gate_send_unsubscribed(p);
        break;
    case XS_GATE_ACT_ERROR:
        if (xs_stanza_may_bounce(st))
            xs_router_route(xs_stanza_error_reply(st,
                XS_SERR_POLICY_VIOLATION));
        break;
    case XS_GATE_ACT_SILENT:
    default:
        break;
    }
    xs_stanza_unref(st);
}

/* Act on a decision taken in the hook: the dispatcher applies the
 * verdict to ctx->st. */
static enum xs_verdict
gate_act_sync(struct gate_state *g, struct gate_pending *p,
    struct xs_stanza_ctx *ctx, struct xs_gate_outcome o)
{
    if (o.decision == XS_GATE_DELIVER)
        return XS_PASS;
    switch (gate_action(g, o)) {
    case XS_GATE_ACT_UNSUBSCRIBED:
        gate_send_unsubscribed(p);
        return XS_HANDLED;
    case XS_GATE_ACT_ERROR:
        ctx->err = XS_SERR_POLICY_VIOLATION;
        ctx->why = "gate: subscription request rejected";
        return XS_BOUNCE;
    case XS_GATE_ACT_SILENT:
    default:
        ctx->why = "gate: subscription request rejected";
        return XS_DROP;
    }
}

/* Key discovery is over: judge, act, forget. */
static void
gate_on_checked(struct xs_trust_check *c, void *ud)
{
    struct gate_pending *p = ud;
    struct gate_state *g = p->g;
    uint64_t t0 = gate_now_ns();

    (void)c;
    gate_pending_unlink(g, p);
    p->is_checked = true;
    gate_act_async(g, p, gate_judge(g, p));
    /* The loop's time, not the wait for the keys. */
    gate_hist_record(g, gate_now_ns() - t0);
    gate_pending_free(p);
}

/* ---- the hook ---- */

static bool
gate_is_local(const char *domain)
{
    return xs_conf_is_local_host(xs_server()->conf, domain);
}

/*
 * S2S_IN, presence.  Registered at XS_PRIO_LAST + 1: the gate decides
 * after every other S2S_IN filter, because a decision taken after a key
 * discovery resumes with xs_router_route(), which runs the ROUTE hooks
 * and dispatch but not the S2S_IN chain again: anything after the gate
 * in that chain would be skipped for those stanzas.
 */
static enum xs_verdict
gate_on_s2s_in(struct xs_stanza_ctx *ctx, void *state)
{
    struct gate_state *g = state;
    struct xs_rep *r = xs_reputation();
    struct gate_pending *p;
    struct xs_gate_outcome o;
    enum xs_verdict v;
    uint64_t t0;

    if (g == NULL || !xs_stanza_type_is(ctx->st, "subscribe") ||
        ctx->to == NULL || ctx->to->local == NULL ||
        !gate_is_local(ctx->to->domain) || gate_is_local(ctx->from->domain))
        return XS_PASS;
    /* A request to a name that is no account passes: the router answers
     * it.  Without an engine (still loading: listeners open only after
     * the load) there is nothing to judge with. */
    if (r == NULL || !xs_rep_account_exists(r, ctx->to->bare))
        return XS_PASS;

    t0 = gate_now_ns();
    p = xs_calloc(1, sizeof(*p));
    p->g = g;
    p->st = ctx->st;
    p->from_bare = xs_strdup(ctx->from->bare);
    p->to_bare = xs_strdup(ctx->to->bare);
    p->domain = xs_strdup(ctx->from->domain);
    p->is_contact = gate_is_contact(p->to_bare, p->from_bare);
    p->is_blocked = xs_blocking_blocks(p->to_bare, ctx->from);
    /* A contact is delivered whatever the flag says, a blocked sender
     * refused whatever it says: neither is verified (no signature to
     * check, no key to fetch), only stripped. */
    if (!p->is_contact && !p->is_blocked) {
        gate_pending_link(g, p);
        if (!xs_trust_check_start(&p->check, ctx->st, p->from_bare,
                p->to_bare, gate_on_checked, p)) {
            /* The callback judges and acts; the stanza is the record's. */
            ctx->st = NULL;
            return XS_STOLEN;
        }
        gate_pending_unlink(g, p);
        p->is_checked = true;
    }
    o = gate_judge(g, p);
    v = gate_act_sync(g, p, ctx, o);
    p->st = NULL;
    gate_pending_free(p);
    gate_hist_record(g, gate_now_ns() - t0);
    return v;
}

static const struct xs_hook_spec gate_hooks[] = {
    { XS_HOOK_S2S_IN, XS_K_PRESENCE, XS_PRIO_LAST + 1, gate_on_s2s_in },
    { 0 }
};

/* ---- gate_stats ---- */

static void
gate_cmd_stats(struct xs_admin_call *call, void *state)
{
    struct gate_state *g = state;
    json_t *o, *reasons;
    uint64_t delivered = 0, rejected = 0;
    time_t t;
    struct tm tm;
    char since[32] = "";

    if (g == NULL) {
        xs_admin_call_fail(call, 503, "The subscription gate is not loaded");
        return;
    }
    reasons = json_object();
    for (size_t r = 0; r < XS_GATE_R__COUNT; r++) {
        uint64_t n = g->decisions[XS_GATE_DELIVER][r] +
            g->decisions[XS_GATE_REJECT][r];

        delivered += g->decisions[XS_GATE_DELIVER][r];
        rejected += g->decisions[XS_GATE_REJECT][r];
        json_object_set_new(reasons,
            xs_gate_reason_name((enum xs_gate_reason)r),
            json_integer((json_int_t)n));
    }
    t = (time_t)g->since;
    if (gmtime_r(&t, &tm) != NULL)
        strftime(since, sizeof(since), "%Y-%m-%dT%H:%M:%SZ", &tm);
    o = json_object();
    json_object_set_new(o, "since", json_string(since));
    json_object_set_new(o, "decided",
        json_integer((json_int_t)(delivered + rejected)));
    json_object_set_new(o, "delivered", json_integer((json_int_t)delivered));
    json_object_set_new(o, "rejected", json_integer((json_int_t)rejected));
    json_object_set_new(o, "pending", json_integer((json_int_t)g->npending));
    json_object_set_new(o, "reasons", reasons);
    xs_log(XS_LOG_INFO, "gate: operator stats delivered=%" PRIu64
        " rejected=%" PRIu64, delivered, rejected);
    xs_admin_call_ok(call, o);
}

static const struct xs_admin_cmd gate_commands[] = {
    { "gate_stats", gate_cmd_stats },
    { NULL, NULL }
};

/* ---- /metrics ---- */

/* Whether a (decision, reason) pair can happen: the only lines worth
 * printing. */
static bool
gate_pair_exists(enum xs_gate_decision d, enum xs_gate_reason r)
{
    bool delivers = r == XS_GATE_R_OK || r == XS_GATE_R_CONTACT ||
        r == XS_GATE_R_DISABLED;

    return (d == XS_GATE_DELIVER) == delivers;
}

static void
gate_metrics(struct evbuffer *out, void *state)
{
    struct gate_state *g = state;
    uint64_t cum = 0;

    if (g == NULL)
        return;
    xs_metrics_family(out, "xmppd_gate_decisions_total", "counter",
        "Inbound subscription requests decided by the gate, by decision "
        "and reason.");
    for (size_t d = 0; d < XS_GATE_DECISION__COUNT; d++) {
        for (size_t r = 0; r < XS_GATE_R__COUNT; r++) {
            if (!gate_pair_exists((enum xs_gate_decision)d,
                    (enum xs_gate_reason)r))
                continue;
            evbuffer_add_printf(out, "xmppd_gate_decisions_total"
                "{decision=\"%s\",reason=\"%s\"} %" PRIu64 "\n",
                xs_gate_decision_name((enum xs_gate_decision)d),
                xs_gate_reason_name((enum xs_gate_reason)r),
                g->decisions[d][r]);
        }
    }
    xs_metrics_family(out, "xmppd_gate_pending", "gauge",
        "Subscription requests waiting on the discovery of their "
        "issuer's keys.");
    evbuffer_add_printf(out, "xmppd_gate_pending %zu\n", g->npending);
    xs_metrics_family(out, "xmppd_gate_decision_seconds", "histogram",
        "Event-loop time of one gate decision (flag check, evidence, "
        "decision, audit), without waiting for keys.");
    for (size_t i = 0; i < GATE_HIST_BUCKETS; i++) {
        cum += g->hist[i];
        evbuffer_add_printf(out, "xmppd_gate_decision_seconds_bucket"
            "{le=\"%s\"} %" PRIu64 "\n", gate_hist_le[i], cum);
    }
    evbuffer_add_printf(out, "xmppd_gate_decision_seconds_sum %" PRIu64
        ".%09" PRIu64 "\n", g->hist_sum_ns / 1000000000u,
        g->hist_sum_ns % 1000000000u);
    evbuffer_add_printf(out, "xmppd_gate_decision_seconds_count %" PRIu64
        "\n", g->hist_count);
}

/* ---- the module ---- */

static void
gate_fini(void *state)
{
    struct gate_state *g = state;

    if (g == NULL)
        return;
    /* Requests still waiting for keys are dropped: their checks must not
     * call back into freed state. */
    while (g->pending != NULL) {
        struct gate_pending *p = g->pending;

        gate_pending_unlink(g, p);
        xs_trust_check_cancel(&p->check);
        xs_stanza_unref(p->st);
        gate_pending_free(p);
    }
    xs_rep_recent_fini(&g->flagged);
    xs_rep_recent_fini(&g->blamed);
    if (g->has_policy)
        xs_rep_policy_fini(&g->policy);
    xs_free(g);
}

static xs_rc
gate_init(const struct xs_conf *conf, void **out)
{
    struct gate_state *g = xs_calloc(1, sizeof(*g));
    char *err = NULL;
    xs_rc rc;

    *out = g;
    rc = xs_rep_policy_from_conf(conf,
        xs_conf_module_opts(conf, "mod_reputation"), &g->policy, &err);
    if (rc != XS_OK) {
        xs_log(XS_LOG_ERR, "gate: %s", err != NULL ? err
            : "bad mod_reputation options");
        xs_free(err);
        return rc;
    }
    g->has_policy = true;
    xs_rep_recent_init(&g->flagged, GATE_FLAGGED_MAX, GATE_FLAGGED_WINDOW_S);
    xs_rep_recent_init(&g->blamed, GATE_BLAMED_MAX, GATE_BLAMED_WINDOW_S);
    g->since = xs_wall_s();
    xs_log(XS_LOG_INFO, "gate: subscription gate %s reject_below=%.0f "
        "domain_reject_below=%.0f min_flag_trust=%d",
        g->policy.gate.enabled ? "on" : "off", g->policy.gate.reject_below,
        g->policy.gate.domain_reject_below, g->policy.gate.min_flag_trust);
    return XS_OK;
}

const struct xs_module xs_mod_gate = {
    .name = "mod_gate",
    .abi = XS_MODULE_ABI,
    .init = gate_init,
    .fini = gate_fini,
    .hooks = gate_hooks,
    .commands = gate_commands,
    .metrics = gate_metrics,
};
