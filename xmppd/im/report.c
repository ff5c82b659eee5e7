/*
 * report.c: XEP-0377 report intake: the <report/> a client attaches to an
 * XEP-0191 block item, read into a struct xs_spam_report for storage.
 *
 * Both generations are accepted, as Prosody does: urn:xmpp:reporting:1
 * (a required 'reason' URI) and the legacy urn:xmpp:reporting:0 (a
 * <spam/> or <abuse/> child).  Reports are unverified accusations kept as
 * evidence: what we store is bounded, and a report we cannot take fails
 * the whole block, so that nothing half-understood is stored.
 */
#include "xmppd/im/blocking.h"

#include "db/blocking.h"

#include <string.h>

#define REASON_SPAM  "urn:xmpp:reporting:spam"
#define REASON_ABUSE "urn:xmpp:reporting:abuse"

/* The <report/> child of item in either namespace; *n counts them. */
static const struct xs_elem *
report_find(const struct xs_elem *item, size_t *n)
{
    const struct xs_elem *found = NULL;

    *n = 0;
    for (const struct xs_elem *c = xs_elem_first_elem(item); c != NULL;
        c = xs_elem_next_elem(c)) {
        if (strcmp(c->name, "report") != 0)
            continue;
        if (strcmp(c->ns, XS_NS_REPORTING) != 0 &&
            strcmp(c->ns, XS_NS_REPORTING_0) != 0)
            continue;
        if (found == NULL)
            found = c;
        (*n)++;
    }
    return found;
}

/* The reason of a :1 report: the URI and its last ':'-separated part. */
static xs_rc
report_reason_1(const struct xs_elem *rep, char **reason, char **uri,
    const char **why)
{
    const char *r = xs_elem_attr(rep, "reason");
    const char *tail;

    if (r == NULL || r[0] == '\0') {
        *why = "a report needs a reason";
        return XS_EINVAL;
    }
    if (strnlen(r, XS_REPORT_URI_MAX + 1) > XS_REPORT_URI_MAX) {
        *why = "report reason too long";
        return XS_EINVAL;
    }
    /* Unknown reasons are kept: the XEP leaves room for a registry. */
    tail = strrchr(r, ':');
    if (tail == NULL || tail[1] == '\0') {
        *why = "report reason is not a URI";
        return XS_EINVAL;
    }
    *uri = xs_strdup(r);
    *reason = xs_strdup(tail + 1);
    return XS_OK;
}

/* COMPAT: the legacy <spam/> or <abuse/> child, mapped to :1's URIs. */
static xs_rc
report_reason_0(const struct xs_elem *rep, char **reason, char **uri,
    const char **why)
{
    bool spam = xs_elem_child(rep, XS_NS_REPORTING_0, "spam") != NULL;
    bool abuse = xs_elem_child(rep, XS_NS_REPORTING_0, "abuse") != NULL;

    if (spam == abuse) {
        *why = "a legacy report needs exactly one of <spam/> or <abuse/>";
        return XS_EINVAL;
    }
    *reason = xs_strdup(spam ? "spam" : "abuse");
    *uri = xs_strdup(spam ? REASON_SPAM : REASON_ABUSE);
    return XS_OK;
}

/* Every <text/> of the report, joined by newlines; bounded. */
static xs_rc
report_text(const struct xs_elem *rep, size_t max, char **out,
    const char **why)
{
    char *acc = NULL;
    size_t len = 0;

    for (const struct xs_elem *c = xs_elem_first_elem(rep); c != NULL;
        c = xs_elem_next_elem(c)) {
        char *t;
        size_t tlen, need;

        if (strcmp(c->name, "text") != 0 || strcmp(c->ns, rep->ns) != 0)
            continue;
        t = xs_elem_text(c);
        tlen = strlen(t);
        need = len + (acc != NULL ? 1 : 0) + tlen;
        if (need > max) {
            xs_free(t);
            xs_free(acc);
            *why = "report text too long";
            return XS_ELIMIT;
        }
        if (tlen > 0) {
            acc = xs_realloc(acc, need + 1);
            if (len > 0)
                acc[len++] = '\n';
            memcpy(acc + len, t, tlen + 1);
            len += tlen;
        }
        xs_free(t);
    }
    *out = acc;
    return XS_OK;
}

/* The ids of the XEP-0359 <stanza-id/> children; 'by' may be anything
 * (the XEP and its implementations disagree on it). */
static xs_rc
report_stanza_ids(const struct xs_elem *rep, size_t max,
    struct xs_spam_report *r, const char **why)
{
    size_t n = 0;

    for (const struct xs_elem *c = xs_elem_first_elem(rep); c != NULL;
        c = xs_elem_next_elem(c)) {
        if (strcmp(c->name, "stanza-id") == 0 &&
            strcmp(c->ns, XS_NS_SID) == 0)
            n++;
    }
    if (n > max) {
        *why = "too many stanza-id elements in the report";
        return XS_ELIMIT;
    }
    if (n == 0)
        return XS_OK;
    r->stanza_ids = xs_calloc(n, sizeof(r->stanza_ids[0]));
    for (const struct xs_elem *c = xs_elem_first_elem(rep); c != NULL;
        c = xs_elem_next_elem(c)) {
        const char *id;

        if (strcmp(c->name, "stanza-id") != 0 ||
            strcmp(c->ns, XS_NS_SID) != 0)
            continue;
        id = xs_elem_attr(c, "id");
        if (id == NULL || id[0] == '\0' ||
            strnlen(id, XS_REPORT_ID_MAX + 1) > XS_REPORT_ID_MAX) {
            *why = "a stanza-id needs an id of at most 256 bytes";
            return XS_EINVAL;
        }
        r->stanza_ids[r->nstanza_ids++] = xs_strdup(id);
    }
    return XS_OK;
}

xs_rc
xs_blocking_report_parse(const struct xs_elem *item, const char *reported,
    const struct xs_report_limits *lim, struct xs_spam_report *out,
    enum xs_stanza_err *err, const char **why)
{
    struct xs_spam_report r;
    const struct xs_elem *rep;
    bool is_legacy;
    size_t n;
    xs_rc rc;

    rep = report_find(item, &n);
    if (rep == NULL)
        return XS_ENOTFOUND;
    memset(&r, 0, sizeof(r));
    if (n > 1) {
        *why = "one report per item";
        rc = XS_EINVAL;
        goto fail;
    }
    is_legacy = strcmp(rep->ns, XS_NS_REPORTING_0) == 0;
    r.ns = is_legacy ? XS_NS_REPORTING_0 : XS_NS_REPORTING;
    rc = is_legacy ? report_reason_0(rep, &r.reason, &r.reason_uri, why)
                   : report_reason_1(rep, &r.reason, &r.reason_uri, why);
    if (rc != XS_OK)
        goto fail;
    if ((rc = report_text(rep, lim->max_text, &r.text, why)) != XS_OK)
        goto fail;
    if ((rc = report_stanza_ids(rep, lim->max_stanza_ids, &r, why)) != XS_OK)
        goto fail;
    r.reported = xs_strdup(reported);
    *out = r;
    return XS_OK;

fail:
    /* A limit is the server's policy; anything else is a bad request. */
    *err = rc == XS_ELIMIT ? XS_SERR_POLICY_VIOLATION : XS_SERR_BAD_REQUEST;
    xs_spam_report_fini(&r);
    return rc;
}
