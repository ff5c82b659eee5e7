/*
 * egress.c: egress limits of our own accounts (mod_trust; egress.h).
 * What a client puts in our namespaces never leaves; an account at the
 * worst levels may not ask other domains for subscriptions, and one in
 * probation only so often.
 */
#include "reputation/egress.h"

#include "reputation/reputation.h"
#include "reputation/trust_int.h"
#include "reputation/trust_map.h"
#include "xmppd/im/roster.h"

#include <string.h>

/* ---- egress: a sliding hour per account in probation ---- */

struct egress_acct {
    uint32_t head;              /* oldest */
    uint32_t n;
    int64_t  at[];              /* a ring of per_hour request times */
};

struct xs_trust_egress {
    struct xs_trust_map accounts;   /* values: struct egress_acct */
    int                 per_hour;
    size_t              max_accounts;
};

struct xs_trust_egress *
xs_trust_egress_new(int per_hour, size_t max_accounts)
{
    struct xs_trust_egress *w = xs_calloc(1, sizeof(*w));

    xs_trust_map_init(&w->accounts);
    w->per_hour = per_hour > 0 ? per_hour : 0;
    w->max_accounts = max_accounts;
    return w;
}

static void
egress_acct_free(void *val)
{
    xs_free(val);
}

void
xs_trust_egress_free(struct xs_trust_egress *w)
{
    if (w == NULL)
        return;
    xs_trust_map_fini(&w->accounts, egress_acct_free);
    xs_free(w);
}

/* Forget the times that left the hour.  A time ahead of now (the clock
 * went back) stays: it counts, rather than freeing a slot early. */
static void
egress_expire(struct egress_acct *a, int per_hour, int64_t now)
{
    while (a->n > 0 && a->at[a->head] <= now - TRUST_HOUR_S) {
        a->head = (a->head + 1) % (uint32_t)per_hour;
        a->n--;
    }
}

size_t
xs_trust_egress_count(const struct xs_trust_egress *w, const char *bare,
    int64_t now)
{
    const struct xs_trust_map_ent *e = xs_trust_map_find(&w->accounts,
        bare);
    const struct egress_acct *a;
    size_t n = 0;

    if (e == NULL)
        return 0;
    a = e->val;
    for (uint32_t i = 0; i < a->n; i++) {
        if (a->at[(a->head + i) % (uint32_t)w->per_hour] > now - TRUST_HOUR_S)
            n++;
    }
    return n;
}

/* Called right after every window was expired: empty means the account
 * sent nothing in the last hour. */
static bool
egress_dead(void *val, int64_t now)
{
    const struct egress_acct *a = val;

    (void)now;
    return a->n == 0;
}

size_t
xs_trust_egress_prune(struct xs_trust_egress *w, int64_t now)
{
    /* Expire first (the ring needs per_hour), then drop the empty. */
    for (size_t i = 0; w->accounts.b != NULL && i < w->accounts.nb; i++) {
        for (struct xs_trust_map_ent *e = w->accounts.b[i]; e != NULL;
            e = e->next)
            egress_expire(e->val, w->per_hour, now);
    }
    return xs_trust_map_prune(&w->accounts, egress_dead, egress_acct_free,
        now);
}

/*
 * One more request to another domain by bare, now: true (and counted)
 * while it has sent fewer than per_hour in the last hour.  When the
 * table is full of accounts with live windows, it fails closed: only
 * accounts in probation come here, and a hundred thousand of them
 * sending at once is a spam run.
 */
bool
xs_trust_egress_allow(struct xs_trust_egress *w, const char *bare,
    int64_t now)
{
    struct xs_trust_map_ent *e;
    struct egress_acct *a;

    if (w->per_hour <= 0)
        return false;
    e = xs_trust_map_find(&w->accounts, bare);
    if (e == NULL) {
        if (w->accounts.n >= w->max_accounts &&
            (xs_trust_egress_prune(w, now) == 0 ||
             w->accounts.n >= w->max_accounts))
            return false;
        a = xs_calloc(1, sizeof(*a) + (size_t)w->per_hour * sizeof(a->at[0]));
        e = xs_trust_map_add(&w->accounts, bare, a);
    }
    a = e->val;
    egress_expire(a, w->per_hour, now);
    if (a->n >= (uint32_t)w->per_hour)
        return false;
    a->at[(a->head + a->n) % (uint32_t)w->per_hour] = now;
    a->n++;
    return true;
}

/* ---- the hook ---- */

/* Refuse with policy-violation and a text the user can read. */
static enum xs_verdict
egress_refuse(struct xs_stanza_ctx *ctx, const char *text, const char *why)
{
    ctx->err = XS_SERR_POLICY_VIOLATION;
    ctx->text = text;
    ctx->why = why;
    return XS_BOUNCE;
}

/*
 * C2S_IN, presence, before the roster module: a local user's
 * subscription request.  What the client put in our namespaces goes
 * (docs/trust-flags.md 7.1); toward another domain, an account at the
 * worst levels is refused, and one in probation is limited per hour.
 * Re-asking a contact already pending or subscribed costs nothing.
 */
enum xs_verdict
xs_trust_on_c2s_sub(struct xs_stanza_ctx *ctx, void *state)
{
    struct xs_trust_mod *m = state;
    const struct xs_trust_policy *t = &m->policy.trust;
    const struct xs_roster *roster;
    const struct xs_roster_item *it;
    struct xs_rep_score s;
    size_t stripped;

    if (ctx->origin == NULL || ctx->to == NULL ||
        !xs_stanza_type_is(ctx->st, "subscribe"))
        return XS_PASS;
    stripped = xs_trust_strip(ctx);
    if (stripped > 0)
        xs_log(XS_LOG_DEBUG, "trust: stripped %zu client element(s) from a "
            "subscription request from=%s", stripped, ctx->from->bare);
    if (xs_trust_is_local(ctx->to->domain) || ctx->from->local == NULL)
        return XS_PASS;
    s = xs_reputation_score(ctx->from->bare);
    if (s.level != XS_REP_UNKNOWN && s.level >= t->egress_refuse_level) {
        xs_trust_counters.egress_refused++;
        xs_log(XS_LOG_INFO, "trust: subscription request refused from=%s "
            "to=%s why=level level=%s score=%d", ctx->from->bare,
            ctx->to->bare, xs_rep_level_name(s.level), s.score);
        return egress_refuse(ctx, "your account may not send subscription "
            "requests to other servers now", "trust: egress refused: level");
    }
    if (!s.in_probation)
        return XS_PASS;
    roster = xs_roster_loaded(ctx->from->bare);
    it = roster != NULL ? xs_roster_item(roster, ctx->to->bare) : NULL;
    if (it != NULL && (it->ask_out || it->sub == XS_SUB_TO ||
                       it->sub == XS_SUB_BOTH))
        return XS_PASS;
    if (xs_trust_egress_allow(m->egress, ctx->from->bare, xs_wall_s()))
        return XS_PASS;
    xs_trust_counters.egress_limited++;
    xs_log(XS_LOG_INFO, "trust: subscription request refused from=%s to=%s "
        "why=probation_limit per_hour=%d", ctx->from->bare, ctx->to->bare,
        t->egress_probation_per_hour);
    return egress_refuse(ctx, "your account may send only a few "
        "subscription requests to other servers while it is new: limit "
        "reached; try again later", "trust: egress refused: probation limit");
}
