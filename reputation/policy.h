/*
 * policy.h: every weight, cap, half-life and threshold of the reputation
 * engine: the options of `modules: mod_reputation:` (docs/configuration.md
 * lists each one with its default and why).
 *
 * Defaults start from XEP-0275's rough point values and are tuned for
 * today's spam: fresh bot accounts that message and subscribe to
 * strangers.  A fresh account sits in probation (its score capped below
 * the "normal" level) until it is both old enough and known to others.
 */
#ifndef XMPPD_REPUTATION_POLICY_H
#define XMPPD_REPUTATION_POLICY_H

#include "reputation/evidence.h"
#include "xmppd/core/conf.h"

/* Levels, best first.  A subject with no evidence at all is "unknown". */
enum xs_rep_level {
    XS_REP_TRUSTED,
    XS_REP_NORMAL,
    XS_REP_PROBATION,
    XS_REP_SUSPICIOUS,
    XS_REP_BAD,
    XS_REP_UNKNOWN,
    XS_REP_LEVEL__COUNT
};

/* "trusted", ...; NULL out of range. */
const char *xs_rep_level_name(enum xs_rep_level l);

/* A feature of a local account worth `per` points per `unit`, capped. */
struct xs_rep_rate {
    double points;          /* per unit; negative for penalties */
    double unit;            /* how many of the thing make one `points` */
    double free;            /* how many are free before counting starts */
    double cap;             /* |total| never exceeds this */
};

/* Signed trust flags (issue 6; docs/trust-flags.md). */
struct xs_trust_pinned {
    char    *domain;            /* owned: prepared domain */
    uint8_t  pk[32];            /* Ed25519 public key */
};

enum xs_gate_no_flag { XS_GATE_NOFLAG_SCORE, XS_GATE_NOFLAG_REJECT,
                       XS_GATE_NOFLAG_DELIVER };
enum xs_gate_invalid { XS_GATE_INVALID_REJECT, XS_GATE_INVALID_SCORE };
enum xs_gate_action  { XS_GATE_ACT_UNSUBSCRIBED, XS_GATE_ACT_ERROR,
                       XS_GATE_ACT_SILENT };

struct xs_trust_policy {
    char    *keys_dir;          /* owned: trust_keys_dir; default: "keys"
                                   beside the configuration file */
    int64_t  flag_validity_s;   /* flags we issue: 3600 */
    int64_t  flag_max_validity_s;   /* longest we accept: 86400 */
    int64_t  flag_skew_s;       /* clock skew allowed: 300 */
    size_t   replay_cache_max;  /* nonces remembered: 200000 */
    int64_t  key_cache_s;       /* discovered keys kept: 3600 */
    int64_t  key_fetch_timeout_ms;  /* one discovery: 5000 */
    size_t   key_fetch_waiters_max; /* stanzas waiting on one domain's
                                       discovery: 1000 */
    struct xs_trust_pinned *pinned; /* owned: trust_keys: {domain: [..]} */
    size_t   npinned;
    double   flag_weight;       /* |points| of a valid flag at trust 0 or
                                   100, before the issuer's standing: 20 */
    /* Egress: our own accounts toward other domains. */
    enum xs_rep_level egress_refuse_level;  /* at or below: refused
                                               (policy-violation): bad */
    int      egress_probation_per_hour;     /* requests to other domains
                                               while in probation: 10 */
};

struct xs_gate_policy {
    bool     enabled;                   /* subscription_gate.enabled: true */
    double   reject_below;              /* sender's score: -10 */
    double   domain_reject_below;       /* its domain's score: -40 */
    int      min_flag_trust;            /* a valid flag below: 45 */
    enum xs_gate_no_flag no_flag;       /* score */
    enum xs_gate_invalid invalid_flag;  /* reject */
    enum xs_gate_action  action;        /* unsubscribed */
    bool     audit_deliveries;          /* audit every decision: true */
};

struct xs_rep_policy {
    /* Local accounts: computed from the account and its activity. */
    double             registered;      /* every account: +5 */
    double             admin;           /* an account in the `admin` acl */
    struct xs_rep_rate age;             /* unit: days */
    int64_t            probation_s;     /* new accounts: 14 days */
    double             probation_cap;   /* score cap while in probation */
    int                probation_min_mutual;   /* mutual contacts that end
                                                  probation early: 0 never */
    struct xs_rep_rate mutual_contacts;
    struct xs_rep_rate replies;         /* messages from contacts */
    struct xs_rep_rate days_active;
    struct xs_rep_rate subs_accepted;   /* their requests others accepted */
    struct xs_rep_rate subs_refused;    /* ... others refused */
    struct xs_rep_rate subs_ignored;    /* ... left unanswered */
    struct xs_rep_rate msgs_to_strangers;

    /* Evidence: weight when recorded and half-life, per kind. */
    double             weight[XS_EVK__COUNT];
    int64_t            half_life_s[XS_EVK__COUNT];
    /* Most |points| all items of one kind may add to one subject. */
    double             kind_cap[XS_EVK__COUNT];

    /* User evidence is scaled by the reporter's own score s:
     * clamp(floor + (1 - floor) * s / full_at, 0, 1). */
    double             reporter_floor;          /* 0.25 */
    double             reporter_full_at;        /* 50 */
    /* Most |points| one source's items may add to one subject. */
    double             per_source_cap;          /* 15 */
    /* Negative items one user may file per hour; more are dropped. */
    int                reports_per_hour;        /* 20 */

    /* Remote subjects. */
    double             domain_share;    /* of a JID's evidence that also
                                           counts for its domain: 0.2 */
    double             domain_share_cap;/* |points| from all its JIDs: 50 */
    double             domain_weight;   /* of its domain's score that counts
                                           for a remote JID: 0.5 */

    /* Levels: a score >= threshold[l] is level l (trusted, normal,
     * probation, suspicious); below suspicious is bad. */
    double             threshold[XS_REP_BAD];

    /* Evidence older than this is not loaded at start (and forgotten). */
    int64_t            horizon_s;       /* 365 days */

    /* Queries: domains whose servers may ask (XEP-0275 and XEP-0489),
     * besides local users.  Owned. */
    char             **query_domains;
    size_t             nquery_domains;

    struct xs_trust_policy trust;   /* flags, keys, egress limits */
    struct xs_gate_policy  gate;    /* subscription_gate: {...} */
};

/* The defaults (query_domains empty). */
void  xs_rep_policy_defaults(struct xs_rep_policy *p);
/*
 * The defaults overridden by the options map of mod_reputation (NULL:
 * defaults only).  Unknown keys and bad values fail with XS_EINVAL and
 * *errmsg (caller frees) one line naming the key, as the rest of the
 * configuration does.
 */
xs_rc xs_rep_policy_from_conf(const struct xs_conf *conf,
          const struct xs_conf_node *opts, struct xs_rep_policy *p,
          char **errmsg);
void  xs_rep_policy_fini(struct xs_rep_policy *p);

/* points for n of a thing under rate r: sign(points) * min(cap,
 * |points| * max(0, n - free) / unit). */
double xs_rep_rate_points(const struct xs_rep_rate *r, double n);

/* The level of score (subject known). */
enum xs_rep_level xs_rep_level_of(const struct xs_rep_policy *p,
                      double score);

#endif
