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
 * - domain: its evidence + domain_share * the items of its JIDs (at most
 *   domain_share_cap): each item decayed, none of the caps a JID's own
 *   score applies (per source, per kind).  Those caps protect the JID
 *   (one account cannot sink another); the domain's bound is the share
 *   cap.  Summing raw items lets the engine keep the domain's share as
 *   items come and go, O(1) per item and exact under decay, where the
 *   capped sums had to be computed again over every JID of the domain at
 *   each change (a flood from many accounts of one domain was O(N^2)).
 *   So a JID whose own items pass a cap weighs more in its domain than
 *   in its own score (the domain used to take the capped sums).
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
 * (ev->weight is ignored, except for kinds whose source gives it,
 * xs_evk_weight_is_given: operator notes and trust flags, clamped to the
 * kind's cap), scaled for XS_EVSRC_USER by the reporter's current
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
 * expired pins; returns how many items went.  Walks everything in one
 * call (tests): the loop uses xs_rep_prune_step. */
size_t xs_rep_prune(struct xs_rep *r, int64_t now);

/*
 * xs_rep_prune in slices (a walk, below; the census's cursor): a step
 * prunes at its now the buckets it reaches within about budget (one unit
 * per subject, one per 4 items weighed, one per XS_REP_WALK_BUCKETS
 * buckets), starting a prune if none is running, and sets *done on the
 * step that completes it (the next step starts another).  Returns the
 * items that went in this step.  What a step prunes stays pruned, so
 * starting over (the table grew sixteenfold) only costs time.  With one
 * step of SIZE_MAX it is xs_rep_prune.
 */
size_t xs_rep_prune_step(struct xs_rep *r, int64_t now, size_t budget,
           bool *done);
/* Whether a prune is in progress (started, not yet done). */
bool   xs_rep_prune_running(const struct xs_rep *r);

/* The sum of domain's JIDs' items at now, each decayed (what its "jids"
 * line weighs, before domain_share), as the engine keeps it (*kept) and
 * as a walk over the items computes it (*walked); false when domain is
 * not a domain subject.  Checks and tests: the walk is O(the items). */
bool xs_rep_domain_jids_sum(struct xs_rep *r, const char *domain,
         int64_t now, double *kept, double *walked);

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

/* XEP-0489's trust (0..100) for a score: (score + 100) / 2, halves
 * rounded up; what the affiliation query answers and what our trust
 * flags state. */
int xs_rep_trust_of_score(int score);

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

/*
 * Walks in slices.  A walk over every subject stalls the event loop at
 * scale (about 80 ms for 1,000,000 accounts, ten times that when their
 * cached scores are stale), so the server walks in steps that spend
 * about `budget` each and return.  A step spends one unit per subject it
 * examines, XS_REP_WALK_COMPUTE more per score it has to compute (a
 * computation costs that much more than a cached lookup), and one per
 * XS_REP_WALK_BUCKETS buckets (a table left large by removals is mostly
 * empty buckets).  It stops once budget is spent, so it overshoots by at
 * most one bucket's subjects, and always makes some progress (a budget
 * of 0 counts as 1).
 *
 * Between steps the engine may change.  A walk keeps only a position in
 * the table (and, for lists, copies of keys), so nothing dangles.  The
 * table only grows, by doubling (bucket b splits into b and b + n), and
 * a walk goes on across growth over what its unvisited buckets became:
 * every subject present from its start to its end is visited exactly
 * once; one added or removed meanwhile may be visited or not.  A walk
 * whose table grew sixteenfold starts over (it had done a sixteenth of
 * the work at most), as it would if the table ever shrank.
 */
#define XS_REP_WALK_BUCKETS 16
#define XS_REP_WALK_COMPUTE 8

/* Local accounts whose score is below `below`, lowest first (then by
 * JID), at most max of them.  *out (caller frees with xs_free, strings
 * owned by the array: free each .bare) and *n.  Walks everything in one
 * call: the loop uses xs_rep_list_walk_* instead. */
struct xs_rep_listed {
    char               *bare;
    struct xs_rep_score s;
};
void xs_rep_list_below(struct xs_rep *r, int below, size_t max,
         int64_t now, struct xs_rep_listed **out, size_t *n);

/*
 * xs_rep_list_below in slices.  The walk keeps the lowest max accounts
 * seen below `below` (copies of their JIDs, in a bounded heap); once the
 * table is walked, each is looked up again (dropped if it is no longer
 * an account or no longer scores below, its score refreshed at that
 * step's now), then they are sorted; both phases in slices too.  So the
 * answer holds accounts as they are at the end, but an account that fell
 * below after its bucket was visited is missed, and one dropped at the
 * end is not replaced by one the heap had let go: fewer than max rows
 * then.  With one step of SIZE_MAX it is xs_rep_list_below exactly.
 *
 * The walk borrows r: free it before r.
 */
struct xs_rep_list_walk;
struct xs_rep_list_walk *xs_rep_list_walk_new(struct xs_rep *r, int below,
                             size_t max);
/* One slice; true once the result is ready (later steps do nothing). */
bool xs_rep_list_walk_step(struct xs_rep_list_walk *w, int64_t now,
         size_t budget);
/* The result, as xs_rep_list_below gives it, handed over to the caller
 * (a second call, or a call before the walk is done, gives nothing). */
void xs_rep_list_walk_result(struct xs_rep_list_walk *w,
         struct xs_rep_listed **out, size_t *n);
void xs_rep_list_walk_free(struct xs_rep_list_walk *w);

/* ---- Counters for /metrics ---- */

struct xs_rep_stats {
    uint64_t accounts_by_level[XS_REP_LEVEL__COUNT];  /* local accounts */
    uint64_t items_by_kind[XS_EVK__COUNT];            /* held in memory */
    uint64_t subjects;                  /* every subject held */
    uint64_t pins;
    uint64_t computations;              /* scores computed since start */
    uint64_t admitted[XS_REP_INVALID + 1];  /* submits by outcome */
    uint64_t censuses;                  /* completed; 0: none yet */
    int64_t  census_at;                 /* `now` the last one completed */
};
/*
 * The counters: accounts_by_level, items_by_kind and pins as the last
 * census counted them (zeros before the first), the others live.  O(1):
 * now is unused (kept for the callers).
 */
void xs_rep_stats(struct xs_rep *r, int64_t now, struct xs_rep_stats *out);

/*
 * The census, a walk in slices (above): accounts by level (each scored
 * at the step's now), items by kind, live pins.  A step spends about
 * budget on the census in progress, starting one if none is; the step
 * that completes it publishes the counts (census_at = its now), and the
 * next starts over.  Returns the subjects examined.
 */
size_t xs_rep_census_step(struct xs_rep *r, int64_t now, size_t budget);
/* Whether a census is in progress (started, not yet published). */
bool   xs_rep_census_running(const struct xs_rep *r);
/* A whole census now, from the start (dropping one in progress), if it
 * costs at most budget, scores needing no computation: true if it ran
 * (and published).  Small engines get exact counts at every read. */
bool   xs_rep_census_run(struct xs_rep *r, int64_t now, size_t budget);

#endif
