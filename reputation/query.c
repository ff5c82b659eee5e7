/*
 * query.c: how users and peer servers ask the reputation engine.
 *
 * - XEP-0275 Entity Reputation: <iq type='get' to='domain'><score
 *   xmlns='urn:xmpp:reputation:0' jid='subject'/></iq> answers the
 *   subject's score from memory as <score jid='subject' num='N'/>.
 * - XEP-0489 Reporting Account Affiliations: <iq type='get'
 *   to='user@domain'><query xmlns='urn:xmpp:raa:0'/></iq> answers
 *   <info affiliation='registered|admin' since='day' trust='0..100'/>
 *   about one of our own accounts.
 *
 * Who may ask (both): local users and the servers (or users) of the
 * configured query_domains (xs_reputation_may_query); everyone else gets
 * <forbidden/> of type auth, checked before anything else so that a
 * stranger learns nothing, not even which accounts exist (XEP-0275's
 * "the Rater does not trust the Inquirer", XEP-0489's answer to untrusted
 * askers).  Nothing here touches the database: every answer comes from
 * the engine's memory.
 */
#include "reputation/mod_reputation.h"

#include "xmppd/router.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define QUERY_DAY_S 86400

/* Log the refusal and bounce with err. */
static enum xs_verdict
query_refuse(struct xs_stanza_ctx *ctx, enum xs_stanza_err err,
    const char *what, const char *why)
{
    xs_log(XS_LOG_DEBUG, "reputation: %s refused from=%s error=%s why=%s",
        what, ctx->from->full, xs_stanza_err_name(err), why);
    ctx->err = err;
    ctx->why = why;
    return XS_BOUNCE;
}

/* Why s is not a JID, for the log (never the value itself: it is the
 * asker's, and may be anything). */
static const char *
query_jid_problem(const char *s)
{
    size_t n = strlen(s);
    size_t bare = strcspn(s, "/");  /* a resource may hold anything */
    size_t ats = 0;

    if (n == 0)
        return "empty";
    if (n > XS_REP_SUBJECT_MAX + 1 + XS_JID_PART_MAX)
        return "too long";
    for (size_t i = 0; i < bare; i++)
        ats += s[i] == '@';
    if (ats > 1)
        return "more than one '@'";
    if (bare == 0 || s[0] == '@' || s[bare - 1] == '@')
        return "empty part";
    return "does not prepare (RFC 7622)";
}

/* ---- XEP-0275 ---- */

static enum xs_verdict
query_on_score(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    const char *attr = xs_elem_attr(payload, "jid");
    struct xs_jid *subject = NULL;
    struct xs_rep_score s;
    struct xs_stanza *r;
    struct xs_elem *e;
    char num[16];
    int n;

    (void)state;
    if (!xs_reputation_may_query(ctx->from))
        return query_refuse(ctx, XS_SERR_FORBIDDEN, "score query",
            "reputation: asker may not query scores");
    if (attr == NULL)
        return query_refuse(ctx, XS_SERR_BAD_REQUEST, "score query",
            "reputation: score query without a jid");
    if (xs_jid_new(attr, &subject) != XS_OK) {
        xs_log(XS_LOG_INFO, "reputation: score query from=%s "
            "error=jid-malformed reason=\"%s\" len=%zu", ctx->from->bare,
            query_jid_problem(attr), strlen(attr));
        ctx->err = XS_SERR_JID_MALFORMED;
        ctx->why = "reputation: score query for an invalid jid";
        return XS_BOUNCE;
    }
    /* A full JID is asked about as its account; a domain stays a domain
     * (the server's own reputation, XEP-0275 section 2). */
    s = xs_reputation_score(subject->bare);
    if (!s.is_known) {
        xs_log(XS_LOG_DEBUG, "reputation: score query from=%s subject=%s "
            "error=item-not-found", ctx->from->bare, subject->bare);
        xs_jid_free(subject);
        ctx->err = XS_SERR_ITEM_NOT_FOUND;
        ctx->why = "reputation: nothing known about the subject";
        return XS_BOUNCE;
    }
    n = snprintf(num, sizeof(num), "%d", s.score);
    xs_assert(n > 0 && (size_t)n < sizeof(num));
    r = xs_stanza_iq_result(ctx->st);
    e = xs_elem_add_child(r->el, XS_NS_REPUTATION, "score");
    xs_elem_set_attr(e, "jid", subject->bare);
    xs_elem_set_attr(e, "num", num);
    xs_log(XS_LOG_DEBUG, "reputation: score query from=%s subject=%s num=%d",
        ctx->from->bare, subject->bare, s.score);
    xs_jid_free(subject);
    xs_router_reply(ctx, r);
    return XS_HANDLED;
}

/* ---- XEP-0489 ---- */

/* XEP-0082 DateTime of the start of t's day (UTC) into out: the account's
 * creation time, rounded down to the day as XEP-0489 asks for privacy. */
static xs_rc
query_day_start(int64_t t, char *out, size_t outlen)
{
    time_t day;
    struct tm tm;

    if (t < 0)
        t = 0;
    day = (time_t)(t - t % QUERY_DAY_S);
    if (gmtime_r(&day, &tm) == NULL ||
        strftime(out, outlen, "%Y-%m-%dT00:00:00Z", &tm) == 0)
        return XS_EINVAL;
    return XS_OK;
}

static enum xs_verdict
query_on_raa(struct xs_stanza_ctx *ctx, struct xs_elem *payload,
    void *state)
{
    const struct xs_jid *who = ctx->to != NULL ? ctx->to : ctx->from;
    struct xs_mod_rep *m = state;
    struct xs_rep_score s;
    struct xs_stanza *r;
    struct xs_elem *e;
    int64_t created_at = 0;
    bool is_admin = false;
    char since[32];
    char trust[8];
    int n;

    (void)payload;
    /* Forbidden first: an untrusted asker must not learn which accounts
     * exist from item-not-found. */
    if (!xs_reputation_may_query(ctx->from))
        return query_refuse(ctx, XS_SERR_FORBIDDEN, "affiliation query",
            "reputation: asker may not query affiliations");
    if (m == NULL || m->rep == NULL || !m->is_loaded)
        return query_refuse(ctx, XS_SERR_SERVICE_UNAVAILABLE,
            "affiliation query", "reputation: engine not loaded");
    if (who->local == NULL ||
        !xs_rep_account_info(m->rep, who->bare, &created_at, &is_admin))
        return query_refuse(ctx, XS_SERR_ITEM_NOT_FOUND,
            "affiliation query", "reputation: no such account");
    if (query_day_start(created_at, since, sizeof(since)) != XS_OK)
        return query_refuse(ctx, XS_SERR_INTERNAL_SERVER_ERROR,
            "affiliation query", "reputation: creation time unprintable");
    s = xs_reputation_score(who->bare);
    n = snprintf(trust, sizeof(trust), "%d", xs_rep_trust_of_score(s.score));
    xs_assert(n > 0 && (size_t)n < sizeof(trust));
    r = xs_stanza_iq_result(ctx->st);
    e = xs_elem_add_child(r->el, XS_NS_RAA, "info");
    xs_elem_set_attr(e, "affiliation", is_admin ? "admin" : "registered");
    xs_elem_set_attr(e, "since", since);
    xs_elem_set_attr(e, "trust", trust);
    xs_log(XS_LOG_DEBUG, "reputation: affiliation query from=%s subject=%s "
        "affiliation=%s since=%s trust=%s", ctx->from->bare, who->bare,
        is_admin ? "admin" : "registered", since, trust);
    xs_router_reply(ctx, r);
    return XS_HANDLED;
}

const struct xs_iq_spec xs_rep_query_iqs[] = {
    { XS_NS_REPUTATION, "score", XS_IQ_GET, XS_IQ_HOST, query_on_score },
    { XS_NS_RAA, "query", XS_IQ_GET, XS_IQ_ACCOUNT, query_on_raa },
    { 0 }
};

const char *const xs_rep_query_features[] = {
    XS_NS_REPUTATION,
    XS_NS_RAA,
    NULL
};
