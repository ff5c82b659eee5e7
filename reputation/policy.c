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
        if (rc == XS_OK && k == XS_EVK_OPERATOR
            && xs_conf_node_get(km, "weight") != NULL) {
            char *kp = xs_asprintf("%s.weight", path);

            rc = pol_fail(x, xs_conf_node_get(km, "weight"), kp,
                "the operator gives each note's weight");
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
        "domain_weight", "levels", "horizon_days", "query_domains", NULL
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
    return pol_domains_opt(x, opts, p);
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
        return XS_OK;
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
