/*
 * sources.c: where the reputation engine's evidence comes from.
 *
 * Each source is a small function that turns something the server saw
 * into engine input: evidence items (xs_reputation_submit, which weighs,
 * admits and persists them) or the features of a local account (its
 * creation, activity counters, mutual contacts).  None of them blocks,
 * touches the database on the caller's path or changes what happens to
 * a stanza: the hooks always PASS.
 *
 * Rules that shape the sources (engine.h has the rest):
 * - User evidence is one item per (subject, kind, source), so blocking
 *   or reporting twice counts once; the engine enforces it.
 * - An account's own behaviour (refused subscriptions, messages to
 *   strangers) reaches the engine through the activity counters, not as
 *   evidence items; sub_refused and conversed items are about REMOTE
 *   subjects only.
 * - s2s evidence names only a domain that authenticated its stream (the
 *   S2S_MISBEHAVED event guarantees it): failing dialback "as"
 *   victim.example must cost victim.example nothing.
 * - Sources that fire again and again for one thing (a user writing to
 *   the same contact, a stream hitting its shaper) are damped by a small
 *   "seen recently" set, so one episode is one item, not one per stanza.
 */
#include "reputation/mod_reputation.h"

#include "db/reputation.h"
#include "reputation/recent.h"
#include "xmppd/c2s/session.h"
#include "xmppd/core/acl.h"
#include "xmppd/core/server.h"
#include "xmppd/im/activity.h"
#include "xmppd/im/blocking.h"
#include "xmppd/im/roster.h"

#include <stdio.h>
#include <string.h>

/* ---- "seen recently" (recent.h) ---- */

/* Users writing to remote JIDs: a conversed item per pair per hour. */
#define SRC_CONVERSED_MAX     65536
#define SRC_CONVERSED_WINDOW  3600
/* Throttled streams and misbehaving domains: one item per subject per
 * ten minutes (a throttled stream hits its shaper again and again). */
#define SRC_SYSTEM_MAX        4096
#define SRC_SYSTEM_WINDOW     600

#define SRC_NOTE_MAX          (XS_REP_NOTE_MAX + 1)

/* A hash collision only means one item is not resubmitted, which the
 * engine's one-per-source rule makes harmless. */
static struct xs_rep_recent src_conversed =
    XS_REP_RECENT_INIT(SRC_CONVERSED_MAX, SRC_CONVERSED_WINDOW);
static struct xs_rep_recent src_throttled =
    XS_REP_RECENT_INIT(SRC_SYSTEM_MAX, SRC_SYSTEM_WINDOW);
static struct xs_rep_recent src_refused =
    XS_REP_RECENT_INIT(SRC_SYSTEM_MAX, SRC_SYSTEM_WINDOW);

/* true when (a, b) was seen inside its window (the wall clock's: the
 * test clock only goes forward, but the wall clock may step back). */
static bool
src_recent_seen(struct xs_rep_recent *s, const char *a, const char *b)
{
    return xs_rep_recent_seen(s, a, b, xs_wall_s());
}

/* ---- helpers ---- */

static bool
src_is_local_host(const char *domain)
{
    return xs_conf_is_local_host(xs_server()->conf, domain);
}

/* The bare form of a prepared JID (a domain item stays the domain,
 * domain/resource becomes the domain); NULL for a string that is not a
 * JID.  Caller frees. */
static char *
src_bare_of(const char *jid)
{
    struct xs_jid *j;
    char *bare;

    if (jid == NULL || xs_jid_new(jid, &j) != XS_OK)
        return NULL;
    bare = xs_strdup(j->bare);
    xs_jid_free(j);
    return bare;
}

/* Whether user@host is in the `admin` acl (when one is defined). */
static bool
src_is_admin(const struct xs_jid *bare)
{
    const struct xs_acl_conf *acl = &xs_server()->conf->acl;

    if (bare->local == NULL || !xs_acl_is_defined(acl, "admin"))
        return false;
    return xs_acl_match(acl, "admin", &(struct xs_acl_subject){
        .user = bare->local, .server = bare->domain });
}

static enum xs_rep_admit
src_submit(const char *subject, enum xs_evk kind, enum xs_evsrc src,
    const char *source, const char *note)
{
    struct xs_evidence ev = {
        .subject = subject, .kind = kind, .src = src, .source = source,
        .at = xs_wall_s(), .note = note,
    };

    return xs_reputation_submit(&ev);
}

/* ---- blocks (XEP-0191) ---- */

/*
 * A local user blocked (or unblocked) JIDs.  A block is evidence about
 * the blocked entity's bare form: blocking a full JID or domain/resource
 * says something about the account or domain behind it.  An unblock
 * takes the user's block item back, unless the user still blocks the
 * subject through another item (a full JID and its bare JID blocked
 * separately, or the whole domain: the user still refuses the subject).
 */
static void
src_on_block_change(const char *owner_bare, bool is_block,
    const char *const *jids, size_t njids, void *ud)
{
    struct xs_mod_rep *m = ud;

    for (size_t i = 0; i < njids; i++) {
        char *subject = src_bare_of(jids[i]);

        if (subject == NULL)
            continue;
        if (is_block) {
            (void)src_submit(subject, XS_EVK_BLOCK, XS_EVSRC_USER,
                owner_bare, NULL);
        } else if (m->is_loaded &&
                   !xs_blocking_blocks_str(owner_bare, subject) &&
                   xs_rep_retract(m->rep, subject, XS_EVK_BLOCK,
                       owner_bare)) {
            /* An item the engine no longer holds (pruned after decay) may
             * still have its row: restored at the next start, it decays
             * away again. */
            if (xs_rep_db_retract(xs_server()->db, subject, XS_EVK_BLOCK,
                owner_bare) != XS_OK)
                xs_log(XS_LOG_WARN, "reputation: unblock not persisted "
                    "subject=%s source=%s", subject, owner_bare);
        }
        xs_free(subject);
    }
}

/* ---- reports (XEP-0377) ---- */

/* A local user reported a JID (with a block): spam or abuse (any other
 * reason weighs as abuse).  The reason is kept in the note; the report's
 * text never is. */
static void
src_on_report(const char *reporter_bare, const char *reported,
    const char *reason, void *ud)
{
    char note[SRC_NOTE_MAX];
    char *subject = src_bare_of(reported);
    bool is_spam = reason != NULL && strcmp(reason, "spam") == 0;

    (void)ud;
    if (subject == NULL)
        return;
    if (snprintf(note, sizeof(note), "reason: %s",
        reason != NULL ? reason : "") < 0)
        note[0] = '\0';
    (void)src_submit(subject, is_spam ? XS_EVK_REPORT_SPAM
        : XS_EVK_REPORT_ABUSE, XS_EVSRC_USER, reporter_bare, note);
    xs_free(subject);
}

/* ---- activity counters (the account's own behaviour) ---- */

/* The activity module counted n more of counter c for a local account. */
static void
src_on_activity_count(const char *bare, enum xs_act_counter c, uint64_t n,
    void *ud)
{
    struct xs_mod_rep *m = ud;

    xs_rep_account_count(m->rep, bare, c, n);
}

/* A local account was active on a new (UTC) day. */
static void
src_on_activity_day(const char *bare, void *ud)
{
    struct xs_mod_rep *m = ud;

    xs_rep_account_day(m->rep, bare);
}

/* ---- rosters: mutual contacts ---- */

/* A subscription of a local owner changed: a mutual contact (both) is
 * won or lost.  Only the owner's side counts here; a local contact's own
 * roster change comes as its own call. */
static void
src_on_roster_change(const char *owner_bare, const char *contact_bare,
    enum xs_sub before, enum xs_sub after, void *ud)
{
    struct xs_mod_rep *m = ud;

    (void)contact_bare;
    if ((before == XS_SUB_BOTH) == (after == XS_SUB_BOTH) ||
        !xs_rep_account_exists(m->rep, owner_bare))
        return;
    xs_rep_account_mutual_add(m->rep, owner_bare,
        after == XS_SUB_BOTH ? 1 : -1);
}

/* ---- accounts created and deleted at run time ---- */

static void
src_on_user_created(enum xs_event ev, void *arg, void *state)
{
    const struct xs_jid *bare = arg;
    struct xs_mod_rep *m = state;

    (void)ev;
    xs_rep_account_set(m->rep, bare->bare, xs_wall_s(), src_is_admin(bare));
}

/* The account and everything said about it go (its rows are gone). */
static void
src_on_user_deleted(enum xs_event ev, void *arg, void *state)
{
    const struct xs_jid *bare = arg;
    struct xs_mod_rep *m = state;

    (void)ev;
    xs_rep_account_remove(m->rep, bare->bare);
}

/* ---- what the server saw: shapers and s2s refusals ---- */

/* A stream was throttled: its subject (a local account for c2s, an
 * authenticated remote domain for s2s) sent faster than its shaper
 * allows.  One item per subject per episode window. */
static void
src_on_rate_limited(enum xs_event ev, void *arg, void *state)
{
    const struct xs_ev_rate_limited *rl = arg;
    const char *lane = rl->is_s2s ? "s2s" : "c2s";

    (void)ev, (void)state;
    if (rl->subject == NULL || rl->subject[0] == '\0' ||
        src_recent_seen(&src_throttled, lane, rl->subject))
        return;
    (void)src_submit(rl->subject, XS_EVK_RATE_LIMITED, XS_EVSRC_SYSTEM,
        rl->is_s2s ? "s2s shaper" : "c2s shaper", rl->what);
}

/* A stream with an authenticated remote domain was refused or closed for
 * misbehaving (policy, bad stanzas). */
static void
src_on_s2s_misbehaved(enum xs_event ev, void *arg, void *state)
{
    const struct xs_ev_s2s_misbehaved *mb = arg;
    char note[SRC_NOTE_MAX];

    (void)ev, (void)state;
    if (mb->domain == NULL || mb->domain[0] == '\0' ||
        src_is_local_host(mb->domain) ||
        src_recent_seen(&src_refused, "s2s", mb->domain))
        return;
    if (snprintf(note, sizeof(note), "reason: %s",
        mb->reason != NULL ? mb->reason : "") < 0)
        note[0] = '\0';
    (void)src_submit(mb->domain, XS_EVK_S2S_REFUSED, XS_EVSRC_SYSTEM, "s2s",
        note);
}

/* ---- hooks: what local users do with remote entities ---- */

/* From a local client's session to a JID at another server? */
static bool
src_is_local_to_remote(const struct xs_stanza_ctx *ctx)
{
    return ctx->origin != NULL && ctx->from->local != NULL &&
        ctx->to != NULL && !src_is_local_host(ctx->to->domain);
}

/*
 * A local user answers a pending subscription request from a remote JID
 * with 'unsubscribed': a refusal, evidence about the remote JID (local
 * requesters get theirs through the activity counters).  Runs after the
 * blocking and activity hooks and before the roster module clears the
 * pending request, so ask_in still says whether there was one.
 */
static enum xs_verdict
src_on_presence_out(struct xs_stanza_ctx *ctx, void *state)
{
    const struct xs_roster *r;
    const struct xs_roster_item *it;

    (void)state;
    if (!src_is_local_to_remote(ctx) ||
        !xs_stanza_type_is(ctx->st, "unsubscribed") ||
        (r = xs_roster_loaded(ctx->from->bare)) == NULL ||
        (it = xs_roster_item(r, ctx->to->bare)) == NULL || !it->ask_in)
        return XS_PASS;
    (void)src_submit(ctx->to->bare, XS_EVK_SUB_REFUSED, XS_EVSRC_USER,
        ctx->from->bare, NULL);
    return XS_PASS;
}

/* A message that is conversation: a body, not an error or groupchat. */
static bool
src_is_conversation(const struct xs_stanza *st)
{
    if (xs_stanza_type_is(st, "error") || xs_stanza_type_is(st, "groupchat"))
        return false;
    return xs_elem_child(st->el, st->el->ns, "body") != NULL;
}

/*
 * A local user writes to a remote JID: someone here talks to it, a sign
 * that it is not a spammer.  One item per (user, remote) a window; the
 * body is never looked at beyond its presence.
 */
static enum xs_verdict
src_on_message_out(struct xs_stanza_ctx *ctx, void *state)
{
    (void)state;
    if (!src_is_local_to_remote(ctx) || !src_is_conversation(ctx->st) ||
        src_recent_seen(&src_conversed, ctx->from->bare, ctx->to->bare))
        return XS_PASS;
    (void)src_submit(ctx->to->bare, XS_EVK_CONVERSED, XS_EVSRC_USER,
        ctx->from->bare, NULL);
    return XS_PASS;
}

/* ---- registration ---- */

xs_rc
xs_rep_sources_start(struct xs_mod_rep *m)
{
    xs_rc rc;

    if ((rc = xs_blocking_observe(src_on_block_change, m)) != XS_OK ||
        (rc = xs_blocking_report_observe(src_on_report, m)) != XS_OK ||
        (rc = xs_activity_observe(src_on_activity_count,
            src_on_activity_day, m)) != XS_OK ||
        (rc = xs_roster_observe(src_on_roster_change, m)) != XS_OK)
        return rc;      /* xs_rep_sources_stop (from fini) undoes it */
    return XS_OK;
}

void
xs_rep_sources_stop(struct xs_mod_rep *m)
{
    /* Removing an observer that was never added is a no-op. */
    xs_blocking_unobserve(src_on_block_change, m);
    xs_blocking_report_unobserve(src_on_report, m);
    xs_activity_unobserve(src_on_activity_count, src_on_activity_day, m);
    xs_roster_unobserve(src_on_roster_change, m);
    xs_rep_recent_fini(&src_conversed);
    xs_rep_recent_fini(&src_throttled);
    xs_rep_recent_fini(&src_refused);
}

/* After the blocking (XS_PRIO_POLICY) and activity (- 1) hooks: what
 * they stop never counts; before the roster module (XS_PRIO_DEFAULT)
 * answers the subscription. */
const struct xs_hook_spec xs_rep_source_hooks[] = {
    { XS_HOOK_C2S_IN, XS_K_PRESENCE, XS_PRIO_POLICY - 2,
      src_on_presence_out },
    { XS_HOOK_C2S_IN, XS_K_MESSAGE, XS_PRIO_POLICY - 2, src_on_message_out },
    { 0 }
};

const struct xs_event_spec xs_rep_source_events[] = {
    { XS_EV_USER_CREATED, src_on_user_created },
    { XS_EV_USER_DELETED, src_on_user_deleted },
    { XS_EV_RATE_LIMITED, src_on_rate_limited },
    { XS_EV_S2S_MISBEHAVED, src_on_s2s_misbehaved },
    /* Not a source: the module's shutdown drain (mod_reputation.c). */
    { XS_EV_SERVER_DRAINING, xs_rep_on_draining },
    { 0 }
};
