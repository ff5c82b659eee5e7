/*
 * policy.c: the defaults of mod_reputation and its options.
 *
 * The defaults start from XEP-0275's rough point values, tuned for the
 * spam of today: fresh bot accounts that message and subscribe to
 * strangers.  A new account starts at +5 (registered) and sits in
 * probation, capped at +5, below "normal" (10); an account a year old
 * with a few mutual contacts that answer it reaches "trusted" (40).
 * docs/configuration.md lists every option with the reason for its
 * default.
 */
#include "reputation/policy.h"

#include "reputation/flag.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define POL_DAY_S        86400
#define POL_PATH         "modules.mod_reputation"
#define POL_DAYS_MAX     36500      /* a century: larger is a typo */
#define POL_REPORTS_MAX  10000      /* per hour; each costs 8 bytes */
#define POL_POINTS_MAX   100.0      /* XEP-0275's scale */

static const char *const pol_level_names[XS_REP_LEVEL__COUNT] = {
    [XS_REP_TRUSTED]    = "trusted",
    [XS_REP_NORMAL]     = "normal",
    [XS_REP_PROBATION]  = "probation",
    [XS_REP_SUSPICIOUS] = "suspicious",
    [XS_REP_BAD]        = "bad",
    [XS_REP_UNKNOWN]    = "unknown",
};

const char *
xs_rep_level_name(enum xs_rep_level l)
{
    if ((unsigned)l >= XS_REP_LEVEL__COUNT)
        return NULL;
    return pol_level_names[l];
}

static struct xs_rep_rate
pol_rate(double points, double unit, double free, double cap)
{
    return (struct xs_rep_rate){ .points = points, .unit = unit,
        .free = free, .cap = cap };
}

static void
pol_kind(struct xs_rep_policy *p, enum xs_evk k, double weight,
    int64_t half_life_days, double cap)
{
    p->weight[k] = weight;
    p->half_life_s[k] = half_life_days * POL_DAY_S;
    p->kind_cap[k] = cap;
}

void
xs_rep_policy_defaults(struct xs_rep_policy *p)
{
    memset(p, 0, sizeof(*p));
    p->registered = 5;
    p->admin = 15;
    p->age = pol_rate(12, 365, 0, 30);
    p->probation_s = 14 * POL_DAY_S;
    p->probation_cap = 5;
    p->probation_min_mutual = 0;
    p->mutual_contacts = pol_rate(2, 1, 0, 20);
    p->replies = pol_rate(1, 10, 0, 15);
    p->days_active = pol_rate(1, 2, 0, 15);
    p->subs_accepted = pol_rate(1, 1, 0, 10);
    p->subs_refused = pol_rate(-3, 1, 0, 30);
    /* A few unanswered requests are normal (people are away). */
    p->subs_ignored = pol_rate(-1, 1, 5, 20);
    /* Writing to someone new is normal; hundreds of strangers is a bot. */
    p->msgs_to_strangers = pol_rate(-1, 10, 20, 30);

    pol_kind(p, XS_EVK_BLOCK, -5, 30, 40);
    pol_kind(p, XS_EVK_REPORT_SPAM, -10, 60, 60);
    pol_kind(p, XS_EVK_REPORT_ABUSE, -10, 60, 60);
    pol_kind(p, XS_EVK_SUB_REFUSED, -2, 30, 30);
    pol_kind(p, XS_EVK_CONVERSED, 2, 30, 20);
    /* Throttling and refused streams are about a moment: a week. */
    pol_kind(p, XS_EVK_RATE_LIMITED, -5, 7, 30);
    pol_kind(p, XS_EVK_S2S_REFUSED, -10, 7, 40);
    /* A CAPTCHA proves a human once; it does not decay, and is small. */
    pol_kind(p, XS_EVK_CAPTCHA_PASSED, 5, 0, 5);
    /* The operator gives each note's weight; it stands until removed. */
    pol_kind(p, XS_EVK_OPERATOR, 0, 0, 100);
    /* A valid flag's weight comes from its trust and the issuer's
     * standing (given per item); a month of memory, and a cap below the
     * strongest local evidence: a peer's word is worth less than ours. */
    pol_kind(p, XS_EVK_TRUST_FLAG, 0, 30, 20);
    /* A forged or replayed flag is the issuing domain's doing: as heavy
     * as a spam report, and forty points of them at most. */
    pol_kind(p, XS_EVK_FLAG_INVALID, -10, 30, 40);

    p->reporter_floor = 0.25;
    p->reporter_full_at = 50;
    p->per_source_cap = 15;
    p->reports_per_hour = 20;
    p->domain_share = 0.2;
    p->domain_share_cap = 50;
    p->domain_weight = 0.5;
    p->threshold[XS_REP_TRUSTED] = 40;
    p->threshold[XS_REP_NORMAL] = 10;
    p->threshold[XS_REP_PROBATION] = -10;
    p->threshold[XS_REP_SUSPICIOUS] = -40;
    p->horizon_s = 365 * POL_DAY_S;
    p->query_domains = NULL;
    p->nquery_domains = 0;

    /* keys_dir stays NULL here (the defaults allocate nothing): the
     * options put it beside the configuration file. */
    p->trust.flag_validity_s = XS_FLAG_VALIDITY_S;
    p->trust.flag_max_validity_s = XS_FLAG_MAX_VALIDITY_S;
    p->trust.flag_skew_s = XS_FLAG_SKEW_S;
    p->trust.replay_cache_max = 200000;
    p->trust.key_cache_s = 3600;
    p->trust.key_fetch_timeout_ms = 5000;
    p->trust.key_fetch_waiters_max = 1000;
    p->trust.flag_weight = 20;
    p->trust.egress_refuse_level = XS_REP_BAD;
    p->trust.egress_probation_per_hour = 10;

    /* Defaults that keep federation with ordinary Prosody and ejabberd
     * users working: a request without a flag is judged by the scores. */
    p->gate.enabled = true;
    p->gate.reject_below = -10;
    p->gate.domain_reject_below = -40;
    /* 45 = a score of -10 at home: the sender's own server calls it
     * suspicious (the default levels), so we do not take it either. */
    p->gate.min_flag_trust = 45;
    p->gate.no_flag = XS_GATE_NOFLAG_SCORE;
    p->gate.invalid_flag = XS_GATE_INVALID_REJECT;
    p->gate.action = XS_GATE_ACT_UNSUBSCRIBED;
    p->gate.audit_deliveries = true;
}

void
xs_rep_policy_fini(struct xs_rep_policy *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->nquery_domains; i++)
        xs_free(p->query_domains[i]);
    xs_free(p->query_domains);
    p->query_domains = NULL;
    p->nquery_domains = 0;
    xs_free(p->trust.keys_dir);
    p->trust.keys_dir = NULL;
    for (size_t i = 0; i < p->trust.npinned; i++)
        xs_free(p->trust.pinned[i].domain);
    xs_free(p->trust.pinned);
    p->trust.pinned = NULL;
    p->trust.npinned = 0;
}

double
xs_rep_rate_points(const struct xs_rep_rate *r, double n)
{
    double counted, v;

    if (r->unit <= 0 || !isfinite(n))
        return 0;
    counted = n - r->free;
    if (counted <= 0)
        return 0;
    v = fabs(r->points) * counted / r->unit;
    if (v > r->cap)
        v = r->cap;
    return r->points < 0 ? -v : v;
}

enum xs_rep_level
xs_rep_level_of(const struct xs_rep_policy *p, double score)
{
    for (int l = XS_REP_TRUSTED; l < XS_REP_BAD; l++) {
        if (score >= p->threshold[l])
            return (enum xs_rep_level)l;
    }
    return XS_REP_BAD;
}

/* ---- options ---- */

/* Parsing context: the config (for file names in messages) and the first
 * error. */
struct pol_ctx {
    const struct xs_conf *conf;
    char *err;                  /* owned: first error line */
};

static xs_rc
pol_fail(struct pol_ctx *x, const struct xs_conf_node *n, const char *key,
    const char *why)
{
    char *path = xs_asprintf(POL_PATH ".%s", key);

    if (x->err == NULL)
        x->err = xs_conf_errmsg(x->conf, n, path, "%s", why);
    xs_free(path);
    return XS_EINVAL;
}

static xs_rc
pol_keys(struct pol_ctx *x, const struct xs_conf_node *map, const char *key,
    const char *const *known)
{
    char *path = key != NULL ? xs_asprintf(POL_PATH ".%s", key)
        : xs_strdup(POL_PATH);
    char *err = NULL;
    xs_rc rc = xs_conf_node_check_keys(x->conf, map, path, known, &err);

    xs_free(path);
    if (rc != XS_OK) {
        if (x->err == NULL)
            x->err = err;
        else
            xs_free(err);
    }
    return rc;
}

/*
 * A decimal number (as the config writes weights: "-2.5", "10", "1e2") in
 * [min, max].  Hex, "inf" and "nan" are typos, not numbers: only digits,
 * a point, a sign and an exponent may appear.
 */
static bool
pol_parse_double(const char *s, double min, double max, double *out)
{
    char *end;
    double v;

    if (s == NULL || s[0] == '\0')
        return false;
    for (const char *c = s; *c != '\0'; c++) {
        if (!isdigit((unsigned char)*c) && strchr(".eE+-", *c) == NULL)
            return false;
    }
    v = strtod(s, &end);
    if (end == s || *end != '\0' || !isfinite(v) || v < min || v > max)
        return false;
    *out = v;
    return true;
}

/* key (a path below mod_reputation, for messages) in map, if present. */
static xs_rc
pol_num(struct pol_ctx *x, const struct xs_conf_node *map, const char *name,
    const char *key, double min, double max, double *out)
{
    const struct xs_conf_node *n = xs_conf_node_get(map, name);
    char *why;
    xs_rc rc;

    if (n == NULL)
        return XS_OK;
    if (pol_parse_double(xs_conf_node_str(n), min, max, out))
        return XS_OK;
    why = xs_asprintf("must be a number %g..%g", min, max);
    rc = pol_fail(x, n, key, why);
    xs_free(why);
    return rc;
}

static xs_rc
pol_int(struct pol_ctx *x, const struct xs_conf_node *map, const char *name,
    const char *key, long long min, long long max, long long *out)
{
    const struct xs_conf_node *n = xs_conf_node_get(map, name);
    char *why;
    xs_rc rc;

    if (n == NULL)
        return XS_OK;
    if (xs_conf_node_int(n, min, max, out) == XS_OK)
        return XS_OK;
    why = xs_asprintf("must be an integer %lld..%lld", min, max);
    rc = pol_fail(x, n, key, why);
    xs_free(why);
    return rc;
}

/*
 * A rate: {points, per, free, cap}, or for age {points, per_days, cap}.
 * Keys left out keep their defaults.
 */
static xs_rc
pol_rate_opt(struct pol_ctx *x, const struct xs_conf_node *opts,
    const char *name, struct xs_rep_rate *r)
{
    static const char *const known[] = {
        "points", "per", "free", "cap", NULL
    };
    static const char *const known_age[] = {
        "points", "per_days", "cap", NULL
    };
    const struct xs_conf_node *m = xs_conf_node_get(opts, name);
    bool is_age = strcmp(name, "age") == 0;
    const char *per = is_age ? "per_days" : "per";
    char *kp = NULL, *kf = NULL, *kc = NULL, *ku = NULL;
    xs_rc rc;

    if (m == NULL)
        return XS_OK;
    if (m->kind != XS_CONF_MAP)
        return pol_fail(x, m, name, is_age
            ? "must be a map {points, per_days, cap}"
            : "must be a map {points, per, free, cap}");
    if ((rc = pol_keys(x, m, name, is_age ? known_age : known)) != XS_OK)
        return rc;
    kp = xs_asprintf("%s.points", name);
    ku = xs_asprintf("%s.%s", name, per);
    kf = xs_asprintf("%s.free", name);
    kc = xs_asprintf("%s.cap", name);
    /* unit > 0: it divides; 1e-3 lets "per: 0.5" mean two points each. */
    if ((rc = pol_num(x, m, "points", kp, -POL_POINTS_MAX, POL_POINTS_MAX,
            &r->points)) == XS_OK &&
        (rc = pol_num(x, m, per, ku, 1e-3, 1e9, &r->unit)) == XS_OK &&
        (rc = pol_num(x, m, "free", kf, 0, 1e12, &r->free)) == XS_OK)
        rc = pol_num(x, m, "cap", kc, 0, POL_POINTS_MAX, &r->cap);
    xs_free(kp);
    xs_free(ku);
    xs_free(kf);
    xs_free(kc);
    return rc;
}

/* evidence: {KIND: {weight, half_life_days, cap}} */
static xs_rc
pol_evidence_opt(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    static const char *const known[] = {
        "weight", "half_life_days", "cap", NULL
    };
    const char *kinds[XS_EVK__COUNT + 1];
    const struct xs_conf_node *m = xs_conf_node_get(opts, "evidence");
    xs_rc rc;

    if (m == NULL)
        return XS_OK;
    for (size_t k = 0; k < XS_EVK__COUNT; k++)
        kinds[k] = xs_evk_name((enum xs_evk)k);
    kinds[XS_EVK__COUNT] = NULL;
    if ((rc = pol_keys(x, m, "evidence", kinds)) != XS_OK)
        return rc;
    for (size_t i = 0; i < m->nitems; i++) {
        const struct xs_conf_node *km = m->items[i];
        enum xs_evk k;
        char *kw, *kh, *kc, *path;
        double hl;

        (void)xs_evk_from_name(km->key, &k);    /* checked just above */
        path = xs_asprintf("evidence.%s", km->key);
        if (km->kind != XS_CONF_MAP) {
            rc = pol_fail(x, km, path,
                "must be a map {weight, half_life_days, cap}");
            xs_free(path);
            return rc;
        }
        rc = pol_keys(x, km, path, known);
        if (rc == XS_OK && xs_evk_weight_is_given(k)
            && xs_conf_node_get(km, "weight") != NULL) {
            char *kp = xs_asprintf("%s.weight", path);

            rc = pol_fail(x, xs_conf_node_get(km, "weight"), kp,
                k == XS_EVK_OPERATOR
                ? "the operator gives each note's weight"
                : "each item's weight is given by its source");
            xs_free(kp);
        }
        xs_free(path);
        if (rc != XS_OK)
            return rc;
        kw = xs_asprintf("evidence.%s.weight", km->key);
        kh = xs_asprintf("evidence.%s.half_life_days", km->key);
        kc = xs_asprintf("evidence.%s.cap", km->key);
        hl = (double)p->half_life_s[k] / POL_DAY_S;
        if ((rc = pol_num(x, km, "weight", kw, -POL_POINTS_MAX,
                POL_POINTS_MAX, &p->weight[k])) == XS_OK &&
            (rc = pol_num(x, km, "half_life_days", kh, 0, POL_DAYS_MAX,
                &hl)) == XS_OK &&
            (rc = pol_num(x, km, "cap", kc, 0, POL_POINTS_MAX,
                &p->kind_cap[k])) == XS_OK)
            p->half_life_s[k] = llround(hl * POL_DAY_S);
        xs_free(kw);
        xs_free(kh);
        xs_free(kc);
        if (rc != XS_OK)
            return rc;
    }
    return XS_OK;
}

/* levels: {trusted, normal, probation, suspicious}, strictly decreasing
 * once merged with the defaults. */
static xs_rc
pol_levels_opt(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    static const char *const known[] = {
        "trusted", "normal", "probation", "suspicious", NULL
    };
    const struct xs_conf_node *m = xs_conf_node_get(opts, "levels");
    xs_rc rc;

    if (m == NULL)
        return XS_OK;
    if (m->kind != XS_CONF_MAP)
        return pol_fail(x, m, "levels",
            "must be a map {trusted, normal, probation, suspicious}");
    if ((rc = pol_keys(x, m, "levels", known)) != XS_OK)
        return rc;
    for (int l = XS_REP_TRUSTED; l < XS_REP_BAD; l++) {
        char *key = xs_asprintf("levels.%s", known[l]);

        rc = pol_num(x, m, known[l], key, -POL_POINTS_MAX, POL_POINTS_MAX,
            &p->threshold[l]);
        xs_free(key);
        if (rc != XS_OK)
            return rc;
    }
    for (int l = XS_REP_NORMAL; l < XS_REP_BAD; l++) {
        if (p->threshold[l] < p->threshold[l - 1])
            continue;
        return pol_fail(x, m, "levels", "thresholds must decrease strictly "
            "(trusted > normal > probation > suspicious)");
    }
    return XS_OK;
}

/* A domain name as an operator writes it: lowercased; no JID parts. */
static xs_rc
pol_domains_opt(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    const struct xs_conf_node *m = xs_conf_node_get(opts, "query_domains");

    if (m == NULL || xs_conf_node_is_null(m))
        return XS_OK;
    if (m->kind != XS_CONF_LIST)
        return pol_fail(x, m, "query_domains", "must be a list of domains");
    p->query_domains = xs_calloc(m->nitems + 1, sizeof(char *));
    for (size_t i = 0; i < m->nitems; i++) {
        const char *s = xs_conf_node_str(m->items[i]);
        size_t len = s != NULL ? strlen(s) : 0;
        char *d;

        if (len == 0 || len > 1023 || strpbrk(s, "@/ \t") != NULL)
            return pol_fail(x, m->items[i], "query_domains",
                "must be a list of domains (no '@' or '/')");
        d = xs_strdup(s);
        for (char *c = d; *c != '\0'; c++)
            *c = (char)tolower((unsigned char)*c);
        p->query_domains[p->nquery_domains++] = d;
    }
    return XS_OK;
}

/* ---- trust flags and the subscription gate (issue 6) ---- */

#define POL_TRUST_PINNED_MAX 16     /* pinned keys per domain */

/* seconds (or ms) in [min, max] into *out, if the key is present. */
static xs_rc
pol_int64(struct pol_ctx *x, const struct xs_conf_node *map,
    const char *name, const char *key, long long min, long long max,
    int64_t *out)
{
    long long v = *out;
    xs_rc rc = pol_int(x, map, name, key, min, max, &v);

    if (rc == XS_OK)
        *out = v;
    return rc;
}

static xs_rc
pol_size(struct pol_ctx *x, const struct xs_conf_node *map, const char *name,
    const char *key, long long min, long long max, size_t *out)
{
    long long v = (long long)*out;
    xs_rc rc = pol_int(x, map, name, key, min, max, &v);

    if (rc == XS_OK)
        *out = (size_t)v;
    return rc;
}

static xs_rc
pol_bool(struct pol_ctx *x, const struct xs_conf_node *map, const char *name,
    const char *key, bool *out)
{
    const struct xs_conf_node *n = xs_conf_node_get(map, name);
    bool v;

    if (n == NULL)
        return XS_OK;
    if (xs_conf_node_bool(n, &v) != XS_OK)
        return pol_fail(x, n, key, "must be true or false");
    *out = v;
    return XS_OK;
}

/* One of names[0..n) (NULL entries are not allowed values) into *out. */
static xs_rc
pol_enum(struct pol_ctx *x, const struct xs_conf_node *map, const char *name,
    const char *key, const char *const *names, size_t n, const char *help,
    int *out)
{
    const struct xs_conf_node *node = xs_conf_node_get(map, name);
    const char *s = node != NULL ? xs_conf_node_str(node) : NULL;

    if (node == NULL)
        return XS_OK;
    for (size_t i = 0; s != NULL && i < n; i++) {
        if (names[i] != NULL && strcmp(s, names[i]) == 0) {
            *out = (int)i;
            return XS_OK;
        }
    }
    return pol_fail(x, node, key, help);
}

/* trust_keys_dir (default: "keys" beside the configuration file). */
static xs_rc
pol_keys_dir_opt(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    const struct xs_conf_node *n = opts != NULL
        ? xs_conf_node_get(opts, "trust_keys_dir") : NULL;
    const char *s = n != NULL ? xs_conf_node_str(n) : "keys";

    if (s == NULL || s[0] == '\0')
        return pol_fail(x, n, "trust_keys_dir", "must be a folder name");
    xs_free(p->trust.keys_dir);
    /* Read as conf.c reads the file's own paths. */
    p->trust.keys_dir = xs_conf_abspath(x->conf, s);
    return XS_OK;
}

/* A domain as an operator writes it: lowercased; no JID parts.  NULL if
 * it is not one. */
static char *
pol_domain(const char *s)
{
    size_t len = s != NULL ? strlen(s) : 0;
    char *d;

    if (len == 0 || len > XS_TRUST_DOMAIN_MAX ||
        strpbrk(s, "@/ \t") != NULL)
        return NULL;
    d = xs_strdup(s);
    for (char *c = d; *c != '\0'; c++)
        *c = (char)tolower((unsigned char)*c);
    return d;
}

/* trust_keys: {domain: [base64 Ed25519 public key, ...]}: pinned keys,
 * which alone verify the domain's flags. */
static xs_rc
pol_trust_keys_opt(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    const struct xs_conf_node *m = xs_conf_node_get(opts, "trust_keys");
    struct xs_trust_policy *t = &p->trust;
    size_t total = 0;

    if (m == NULL || xs_conf_node_is_null(m))
        return XS_OK;
    if (m->kind != XS_CONF_MAP)
        return pol_fail(x, m, "trust_keys", "must be a map {domain: "
            "[base64 Ed25519 public keys]}");
    for (size_t i = 0; i < m->nitems; i++)
        total += m->items[i]->kind == XS_CONF_LIST ? m->items[i]->nitems : 1;
    t->pinned = xs_calloc(total + 1, sizeof(t->pinned[0]));
    for (size_t i = 0; i < m->nitems; i++) {
        const struct xs_conf_node *l = m->items[i];
        char *path = xs_asprintf("trust_keys.%s", l->key);
        char *domain = pol_domain(l->key);
        size_t first = t->npinned;
        xs_rc rc = XS_OK;

        if (domain == NULL)
            rc = pol_fail(x, l, path, "must be a domain (no '@' or '/')");
        else if (l->kind != XS_CONF_LIST || l->nitems == 0 ||
                 l->nitems > POL_TRUST_PINNED_MAX)
            rc = pol_fail(x, l, path, "must be a list of 1 to 16 base64 "
                "Ed25519 public keys");
        for (size_t k = 0; rc == XS_OK && k < l->nitems; k++) {
            struct xs_trust_pinned *pin = &t->pinned[t->npinned];

            if (!xs_trust_b64_decode(xs_conf_node_str(l->items[k]), false,
                    pin->pk, sizeof(pin->pk))) {
                rc = pol_fail(x, l->items[k], path, "must be standard "
                    "base64 of a 32-byte Ed25519 public key");
                break;
            }
            for (size_t j = first; j < t->npinned; j++) {
                if (memcmp(t->pinned[j].pk, pin->pk, sizeof(pin->pk)) == 0)
                    rc = pol_fail(x, l->items[k], path, "a key is listed "
                        "twice");
            }
            if (rc == XS_OK) {
                pin->domain = xs_strdup(domain);
                t->npinned++;
            }
        }
        xs_free(domain);
        xs_free(path);
        if (rc != XS_OK)
            return rc;
    }
    return XS_OK;
}

static xs_rc
pol_trust_opts(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    static const char *const levels[] = {
        [XS_REP_TRUSTED] = "trusted", [XS_REP_NORMAL] = "normal",
        [XS_REP_PROBATION] = "probation", [XS_REP_SUSPICIOUS] = "suspicious",
        [XS_REP_BAD] = "bad",
    };
    struct xs_trust_policy *t = &p->trust;
    int level = (int)t->egress_refuse_level;
    long long v;
    xs_rc rc;

    /* Issued validity: the spec's maximum is a day (docs/trust-flags.md
     * 6.2); accepted: a verifier should not go below an hour, but tests
     * and tight operators may. */
    if ((rc = pol_keys_dir_opt(x, opts, p)) != XS_OK ||
        (rc = pol_int64(x, opts, "flag_validity", "flag_validity", 60,
            XS_FLAG_MAX_VALIDITY_S, &t->flag_validity_s)) != XS_OK ||
        (rc = pol_int64(x, opts, "flag_max_validity", "flag_max_validity",
            60, XS_FLAG_MAX_VALIDITY_S, &t->flag_max_validity_s)) != XS_OK ||
        (rc = pol_int64(x, opts, "flag_skew", "flag_skew", 0, 3600,
            &t->flag_skew_s)) != XS_OK ||
        /* 24 bytes a slot, 2 slots an entry: 10^8 is 4.8 GB, the most
         * any sane setting could mean. */
        (rc = pol_size(x, opts, "replay_cache_max", "replay_cache_max", 1,
            100000000, &t->replay_cache_max)) != XS_OK ||
        (rc = pol_int64(x, opts, "key_cache", "key_cache", 60,
            7 * POL_DAY_S, &t->key_cache_s)) != XS_OK ||
        (rc = pol_int64(x, opts, "key_fetch_timeout_ms",
            "key_fetch_timeout_ms", 100, 60000,
            &t->key_fetch_timeout_ms)) != XS_OK ||
        (rc = pol_size(x, opts, "key_fetch_waiters_max",
            "key_fetch_waiters_max", 1, 100000,
            &t->key_fetch_waiters_max)) != XS_OK ||
        (rc = pol_trust_keys_opt(x, opts, p)) != XS_OK ||
        (rc = pol_num(x, opts, "flag_weight", "flag_weight", 0,
            POL_POINTS_MAX, &t->flag_weight)) != XS_OK ||
        (rc = pol_enum(x, opts, "egress_refuse_level", "egress_refuse_level",
            levels, XS_ARRAY_LEN(levels), "must be a level: trusted, normal, "
            "probation, suspicious or bad", &level)) != XS_OK)
        return rc;
    t->egress_refuse_level = (enum xs_rep_level)level;
    v = t->egress_probation_per_hour;
    if ((rc = pol_int(x, opts, "egress_probation_per_hour",
            "egress_probation_per_hour", 0, POL_REPORTS_MAX, &v)) != XS_OK)
        return rc;
    t->egress_probation_per_hour = (int)v;
    return XS_OK;
}

/* subscription_gate: {enabled, reject_below, domain_reject_below,
 * min_flag_trust, no_flag, invalid_flag, action, audit_deliveries} */
static xs_rc
pol_gate_opt(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    static const char *const known[] = {
        "enabled", "reject_below", "domain_reject_below", "min_flag_trust",
        "no_flag", "invalid_flag", "action", "audit_deliveries", NULL
    };
    static const char *const no_flag[] = {
        [XS_GATE_NOFLAG_SCORE] = "score", [XS_GATE_NOFLAG_REJECT] = "reject",
        [XS_GATE_NOFLAG_DELIVER] = "deliver",
    };
    static const char *const invalid[] = {
        [XS_GATE_INVALID_REJECT] = "reject",
        [XS_GATE_INVALID_SCORE] = "score",
    };
    static const char *const action[] = {
        [XS_GATE_ACT_UNSUBSCRIBED] = "unsubscribed",
        [XS_GATE_ACT_ERROR] = "error", [XS_GATE_ACT_SILENT] = "silent",
    };
    const struct xs_conf_node *m = xs_conf_node_get(opts,
        "subscription_gate");
    struct xs_gate_policy *g = &p->gate;
    int nf = (int)g->no_flag, inv = (int)g->invalid_flag;
    int act = (int)g->action;
    long long v = g->min_flag_trust;
    xs_rc rc;

    if (m == NULL || xs_conf_node_is_null(m))
        return XS_OK;
    if (m->kind != XS_CONF_MAP)
        return pol_fail(x, m, "subscription_gate", "must be a map {enabled, "
            "reject_below, domain_reject_below, min_flag_trust, no_flag, "
            "invalid_flag, action, audit_deliveries}");
    if ((rc = pol_keys(x, m, "subscription_gate", known)) != XS_OK ||
        (rc = pol_bool(x, m, "enabled", "subscription_gate.enabled",
            &g->enabled)) != XS_OK ||
        (rc = pol_num(x, m, "reject_below", "subscription_gate.reject_below",
            -POL_POINTS_MAX, POL_POINTS_MAX, &g->reject_below)) != XS_OK ||
        (rc = pol_num(x, m, "domain_reject_below",
            "subscription_gate.domain_reject_below", -POL_POINTS_MAX,
            POL_POINTS_MAX, &g->domain_reject_below)) != XS_OK ||
        (rc = pol_int(x, m, "min_flag_trust",
            "subscription_gate.min_flag_trust", 0, 100, &v)) != XS_OK ||
        (rc = pol_enum(x, m, "no_flag", "subscription_gate.no_flag", no_flag,
            XS_ARRAY_LEN(no_flag), "must be score, reject or deliver",
            &nf)) != XS_OK ||
        (rc = pol_enum(x, m, "invalid_flag", "subscription_gate.invalid_flag",
            invalid, XS_ARRAY_LEN(invalid), "must be reject or score",
            &inv)) != XS_OK ||
        (rc = pol_enum(x, m, "action", "subscription_gate.action", action,
            XS_ARRAY_LEN(action), "must be unsubscribed, error or silent",
            &act)) != XS_OK ||
        (rc = pol_bool(x, m, "audit_deliveries",
            "subscription_gate.audit_deliveries",
            &g->audit_deliveries)) != XS_OK)
        return rc;
    g->min_flag_trust = (int)v;
    g->no_flag = (enum xs_gate_no_flag)nf;
    g->invalid_flag = (enum xs_gate_invalid)inv;
    g->action = (enum xs_gate_action)act;
    return XS_OK;
}

static xs_rc
pol_parse(struct pol_ctx *x, const struct xs_conf_node *opts,
    struct xs_rep_policy *p)
{
    static const char *const known[] = {
        "registered", "admin", "age", "probation_days", "probation_cap",
        "probation_min_mutual", "mutual_contacts", "replies", "days_active",
        "subs_accepted", "subs_refused", "subs_ignored", "msgs_to_strangers",
        "evidence", "reporter_floor", "reporter_full_at", "per_source_cap",
        "reports_per_hour", "domain_share", "domain_share_cap",
        "domain_weight", "levels", "horizon_days", "query_domains",
        "trust_keys_dir", "flag_validity", "flag_max_validity", "flag_skew",
        "replay_cache_max", "key_cache", "key_fetch_timeout_ms",
        "key_fetch_waiters_max", "trust_keys", "flag_weight",
        "egress_refuse_level", "egress_probation_per_hour",
        "subscription_gate", NULL
    };
    static const char *const rates[] = {
        "age", "mutual_contacts", "replies", "days_active", "subs_accepted",
        "subs_refused", "subs_ignored", "msgs_to_strangers",
    };
    struct xs_rep_rate *rate_of[] = {
        &p->age, &p->mutual_contacts, &p->replies, &p->days_active,
        &p->subs_accepted, &p->subs_refused, &p->subs_ignored,
        &p->msgs_to_strangers,
    };
    long long v;
    xs_rc rc;

    if ((rc = pol_keys(x, opts, NULL, known)) != XS_OK)
        return rc;
    if ((rc = pol_num(x, opts, "registered", "registered", -POL_POINTS_MAX,
            POL_POINTS_MAX, &p->registered)) != XS_OK ||
        (rc = pol_num(x, opts, "admin", "admin", -POL_POINTS_MAX,
            POL_POINTS_MAX, &p->admin)) != XS_OK)
        return rc;
    for (size_t i = 0; i < XS_ARRAY_LEN(rates); i++) {
        if ((rc = pol_rate_opt(x, opts, rates[i], rate_of[i])) != XS_OK)
            return rc;
    }
    v = p->probation_s / POL_DAY_S;
    if ((rc = pol_int(x, opts, "probation_days", "probation_days", 0,
            POL_DAYS_MAX, &v)) != XS_OK)
        return rc;
    p->probation_s = v * POL_DAY_S;
    if ((rc = pol_num(x, opts, "probation_cap", "probation_cap",
            -POL_POINTS_MAX, POL_POINTS_MAX, &p->probation_cap)) != XS_OK)
        return rc;
    v = p->probation_min_mutual;
    if ((rc = pol_int(x, opts, "probation_min_mutual",
            "probation_min_mutual", 0, 1000000, &v)) != XS_OK)
        return rc;
    p->probation_min_mutual = (int)v;
    if ((rc = pol_evidence_opt(x, opts, p)) != XS_OK)
        return rc;
    /* full_at > 0: it divides. */
    if ((rc = pol_num(x, opts, "reporter_floor", "reporter_floor", 0, 1,
            &p->reporter_floor)) != XS_OK ||
        (rc = pol_num(x, opts, "reporter_full_at", "reporter_full_at", 1,
            POL_POINTS_MAX, &p->reporter_full_at)) != XS_OK ||
        (rc = pol_num(x, opts, "per_source_cap", "per_source_cap", 0,
            POL_POINTS_MAX, &p->per_source_cap)) != XS_OK)
        return rc;
    v = p->reports_per_hour;
    if ((rc = pol_int(x, opts, "reports_per_hour", "reports_per_hour", 1,
            POL_REPORTS_MAX, &v)) != XS_OK)
        return rc;
    p->reports_per_hour = (int)v;
    if ((rc = pol_num(x, opts, "domain_share", "domain_share", 0, 1,
            &p->domain_share)) != XS_OK ||
        (rc = pol_num(x, opts, "domain_share_cap", "domain_share_cap", 0,
            POL_POINTS_MAX, &p->domain_share_cap)) != XS_OK ||
        (rc = pol_num(x, opts, "domain_weight", "domain_weight", 0, 1,
            &p->domain_weight)) != XS_OK)
        return rc;
    if ((rc = pol_levels_opt(x, opts, p)) != XS_OK)
        return rc;
    v = p->horizon_s / POL_DAY_S;
    if ((rc = pol_int(x, opts, "horizon_days", "horizon_days", 1,
            POL_DAYS_MAX, &v)) != XS_OK)
        return rc;
    p->horizon_s = v * POL_DAY_S;
    if ((rc = pol_domains_opt(x, opts, p)) != XS_OK ||
        (rc = pol_trust_opts(x, opts, p)) != XS_OK)
        return rc;
    return pol_gate_opt(x, opts, p);
}

xs_rc
xs_rep_policy_from_conf(const struct xs_conf *conf,
    const struct xs_conf_node *opts, struct xs_rep_policy *p, char **errmsg)
{
    struct pol_ctx x = { .conf = conf, .err = NULL };
    xs_rc rc;

    *errmsg = NULL;
    xs_rep_policy_defaults(p);
    if (opts == NULL || xs_conf_node_is_null(opts))
        rc = pol_keys_dir_opt(&x, NULL, p);     /* its default */
    else
        rc = pol_parse(&x, opts, p);
    if (rc != XS_OK) {
        /* Leave the defaults: the caller refuses to start anyway. */
        xs_rep_policy_fini(p);
        xs_rep_policy_defaults(p);
        *errmsg = x.err != NULL ? x.err
            : xs_strdup(POL_PATH ": invalid options");
        return XS_EINVAL;
    }
    xs_free(x.err);
    return XS_OK;
}
