/*
 * engine.h: the reputation engine's memory: every subject we know, its
 * evidence, the features of every local account, operator pins, and the
 * scores computed from them.
 *
 * Pure computation: no I/O, no loop, no clock of its own (every call that
 * needs the time takes `now`, wall seconds), so unit tests and benches
 * drive it directly.  mod_reputation (mod_reputation.c) owns the one
 * engine of the server, feeds it from the sources, persists what it
 * admits, and serves queries from it.
 *
 * Scores (integers in [-100, +100], XEP-0275's scale):
 * - local account: registered (or admin) + age + mutual contacts +
 *   replies + days active + subscriptions accepted - refused - ignored -
 *   messages to strangers + evidence; capped at probation_cap while the
 *   account is younger than probation_s.
 * - remote JID: its evidence + domain_weight * its domain's score.
 * - domain: its evidence + domain_share * the evidence of its JIDs
 *   (at most domain_share_cap).
 * - Evidence: each item decays with its kind's half-life; all items of a
 *   kind add at most kind_cap, all items of one source at most
 *   per_source_cap.  A pin (score, reason, expiry) replaces everything
 *   while it lasts.
 * Scores are cached per subject and recomputed when something about the
 * subject changes or the cached value is older than XS_REP_CACHE_S
 * (decay moves slowly), so a lookup is a hash probe.
 */
#ifndef XMPPD_REPUTATION_ENGINE_H
#define XMPPD_REPUTATION_ENGINE_H

#include "db/activity.h"
#include "reputation/evidence.h"
#include "reputation/policy.h"

#define XS_REP_CACHE_S      60
#define XS_REP_SUBJECT_MAX  3071    /* bytes of a bare JID */
#define XS_REP_NOTE_MAX     256     /* bytes of a note; longer is cut */
#define XS_REP_REASON_MAX   512     /* bytes of a pin's reason */

struct xs_rep;

/* policy is copied (query_domains included). */
struct xs_rep *xs_rep_new(const struct xs_rep_policy *policy);
void           xs_rep_free(struct xs_rep *r);
const struct xs_rep_policy *xs_rep_policy(const struct xs_rep *r);

/* ---- Local accounts (subject = prepared bare JID user@host) ---- */

/* Create or update an account: its creation time, whether it is an
 * admin. */
void xs_rep_account_set(struct xs_rep *r, const char *bare,
         int64_t created_at, bool is_admin);
/* Forget the account and every item about it (deleted account). */
void xs_rep_account_remove(struct xs_rep *r, const char *bare);
bool xs_rep_account_exists(const struct xs_rep *r, const char *bare);
/* The account's creation time and admin flag as last set; false (outs
 * untouched) when there is no such account.  XEP-0489 answers (query.c). */
bool xs_rep_account_info(const struct xs_rep *r, const char *bare,
         int64_t *created_at, bool *is_admin);
/* Replace its activity totals (from the database at start). */
void xs_rep_account_activity(struct xs_rep *r, const char *bare,
         const uint64_t counts[XS_ACT__COUNT], uint32_t days_active);
/* Add to them as the activity module counts (live). */
void xs_rep_account_count(struct xs_rep *r, const char *bare,
         enum xs_act_counter c, uint64_t n);
void xs_rep_account_day(struct xs_rep *r, const char *bare);
/* Mutual contacts (roster items with subscription both): set at load,
 * then +1 / -1 as they change. */
void xs_rep_account_mutual_set(struct xs_rep *r, const char *bare,
         uint32_t n);
void xs_rep_account_mutual_add(struct xs_rep *r, const char *bare,
         int delta);

/* ---- Evidence ---- */

enum xs_rep_admit {
    XS_REP_ADMITTED,        /* new item: persist it */
    XS_REP_REPLACED,        /* replaced the same source's older item of the
                               same kind about the subject: persist it */
    XS_REP_RATE_LIMITED,    /* the source is over reports_per_hour */
    XS_REP_SELF,            /* about the source itself */
    XS_REP_UNKNOWN_SUBJECT, /* a local subject that is not an account */
    XS_REP_INVALID,         /* empty subject, bad kind or weight */
};
const char *xs_rep_admit_name(enum xs_rep_admit a);

/*
 * A live item.  The engine fills in its weight: policy weight[kind]
 * (ev->weight is ignored, except for XS_EVK_OPERATOR, whose weight the
 * operator gives), scaled for XS_EVSRC_USER by the reporter's current
 * score.  User items are one per (subject, kind, source): a newer one
 * replaces the older.  *stored (may be NULL) gets the item as admitted
 * (strings borrowed from the engine until the next call), for the caller
 * to persist.  Subjects are prepared JIDs; is_local says whether the
 * subject is a local account (local subjects must exist).
 */
enum xs_rep_admit xs_rep_submit(struct xs_rep *r,
                      const struct xs_evidence *ev, bool is_local,
                      int64_t now, struct xs_evidence *stored);

/* A stored item, as it is (at start): the same one-per-source rule, no
 * scaling, no rate limit.  Items past the horizon are ignored. */
void xs_rep_restore(struct xs_rep *r, const struct xs_evidence *ev,
         bool is_local, int64_t now);

/* Take back user items of kind from source about subject (an unblock):
 * true if one was removed (the caller deletes it from the database). */
bool xs_rep_retract(struct xs_rep *r, const char *subject, enum xs_evk kind,
         const char *source);

/* Drop items whose contribution has decayed below 0.05 points and
 * expired pins; returns how many items went.  Call now and then. */
size_t xs_rep_prune(struct xs_rep *r, int64_t now);

/* ---- Pins (operator overrides) ---- */

struct xs_rep_pin {
    int         score;
    const char *reason;     /* borrowed in arguments, owned inside */
    int64_t     expires;    /* wall seconds; 0: never */
    const char *set_by;
    int64_t     set_at;
};
/* XS_EINVAL for a score out of [-100, 100] or an expiry in the past. */
xs_rc xs_rep_pin_set(struct xs_rep *r, const char *subject,
          const struct xs_rep_pin *pin, int64_t now);
/* XS_ENOTFOUND if there was no pin. */
xs_rc xs_rep_pin_clear(struct xs_rep *r, const char *subject);
/* The live pin of subject (borrowed until the next call), or NULL. */
const struct xs_rep_pin *xs_rep_pin_get(struct xs_rep *r,
                             const char *subject, int64_t now);

/* ---- Scores ---- */

struct xs_rep_score {
    int               score;    /* [-100, 100] */
    enum xs_rep_level level;
    bool              is_known; /* an account, evidence or a pin */
    bool              is_local;
    bool              is_pinned;
    bool              in_probation;
};

/* The score of subject (a prepared bare JID or domain); unknown subjects
 * get score 0, level XS_REP_UNKNOWN, is_known false.  Memory only. */
struct xs_rep_score xs_rep_score(struct xs_rep *r, const char *subject,
                        int64_t now);

/* One line of an explanation. */
struct xs_rep_line {
    char         *what;     /* kind name or feature ("age", "mutual_contacts",
                               "domain", "pin", "probation_cap", ...) */
    char         *source_kind;  /* "user", "admin", "system", "buddy" */
    char         *source;   /* who; "" for features */
    double        weight;   /* points when recorded (features: value) */
    double        points;   /* contribution now, after decay and caps */
    int64_t       at;       /* when recorded; 0 for features */
    char         *note;     /* "" when none: "3 of them", "capped", ... */
};

struct xs_rep_explanation {
    struct xs_rep_score  s;
    double               raw;       /* before clamping and caps */
    struct xs_rep_line  *lines;     /* owned; strongest first */
    size_t               nlines;
};

/* Explain subject as xs_rep_score would score it now; free with
 * xs_rep_explanation_fini. */
void xs_rep_explain(struct xs_rep *r, const char *subject, int64_t now,
         struct xs_rep_explanation *out);
void xs_rep_explanation_fini(struct xs_rep_explanation *e);

/* Local accounts whose score is below `below`, lowest first, at most max
 * of them.  *out (caller frees with xs_free, strings owned by the array:
 * free each .bare) and *n. */
struct xs_rep_listed {
    char               *bare;
    struct xs_rep_score s;
};
void xs_rep_list_below(struct xs_rep *r, int below, size_t max,
         int64_t now, struct xs_rep_listed **out, size_t *n);

/* ---- Counters for /metrics ---- */

struct xs_rep_stats {
    uint64_t accounts_by_level[XS_REP_LEVEL__COUNT];  /* local accounts */
    uint64_t items_by_kind[XS_EVK__COUNT];            /* held in memory */
    uint64_t subjects;                  /* every subject held */
    uint64_t pins;
    uint64_t computations;              /* scores computed since start */
    uint64_t admitted[XS_REP_INVALID + 1];  /* submits by outcome */
};
/* Counts accounts by level as they score now (walks every account). */
void xs_rep_stats(struct xs_rep *r, int64_t now, struct xs_rep_stats *out);

#endif
