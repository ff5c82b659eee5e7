/*
 * jid.c: JIDs (RFC 7622), split once and prepared once.
 *
 * Localpart and resourcepart use the XMPP stringprep profiles of libidn
 * (Nodeprep, Resourceprep), as ejabberd and Prosody do; Debian has no C
 * PRECIS library.  Unassigned code points are allowed (flags 0), as in
 * Prosody's non-strict mode: libidn's tables are Unicode 3.2, and refusing
 * everything newer would refuse emoji resources that every client sends.
 *
 * The domainpart is an IP literal ("[::1]", "127.0.0.1", stored in
 * canonical form) or a DNS name: one trailing dot removed, converted with
 * libidn2 (UTS #46 non-transitional mapping, which also lowercases) to its
 * A-label form to validate it, and stored in its Unicode form.  Each label
 * is 1..63 octets of [a-z0-9_-] in A-label form, not starting or ending
 * with '-', the whole at most 253 octets, and the last label is not all
 * digits (so "127.1" is not taken for a host name).  The underscore is
 * tolerated because deployed XMPP domains use it.
 *
 * Pure ASCII parts (nearly all of them) skip the libraries: for ASCII,
 * Nodeprep is lowercasing plus prohibited characters, Resourceprep only
 * prohibits controls, and the IDN conversion is lowercasing.  The unit
 * tests check that these shortcuts agree with libidn for every ASCII byte.
 */
#include "xmppd/xml/jid.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <idn2.h>
#include <stringprep.h>

#include "xmppd/xml/elem.h"

/*
 * Longest input part we prepare at all.  Preparation may shrink a part
 * (characters mapped to nothing), so the 1023-byte limit applies to the
 * result; this bound only caps the work a peer can ask for.
 */
#define JID_INPUT_MAX (4 * XS_JID_PART_MAX)
#define JID_DNS_MAX   253
#define JID_LABEL_MAX 63

enum jid_prep { JID_PREP_NODE, JID_PREP_RESOURCE };

static bool
jid_is_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)s[i] >= 0x80)
            return false;
    }
    return true;
}

/* Characters Nodeprep prohibits in ASCII: RFC 3920 appendix A.5. */
static bool
jid_node_ascii_ok(unsigned char c)
{
    if (c <= 0x20 || c == 0x7f)
        return false;
    return strchr("\"&'/:<>@", c) == NULL;
}

static xs_rc
jid_stringprep(const char *in, size_t len, enum jid_prep kind, char **out)
{
    char *tmp = NULL, *res;
    size_t rlen;
    int rc;

    *out = NULL;
    if (len == 0 || len > JID_INPUT_MAX || !xs_utf8_valid(in, len) ||
        memchr(in, '\0', len) != NULL)
        return XS_EINVAL;
    if (jid_is_ascii(in, len)) {
        res = xs_strndup(in, len);
        for (size_t i = 0; i < len; i++) {
            unsigned char c = (unsigned char)res[i];

            if (kind == JID_PREP_NODE) {
                if (!jid_node_ascii_ok(c))
                    goto invalid;
                if (c >= 'A' && c <= 'Z')
                    res[i] = (char)(c - 'A' + 'a');
            } else if (c < 0x20 || c == 0x7f) {
                goto invalid;
            }
        }
        if (len > XS_JID_PART_MAX)
            goto invalid;
        *out = res;
        return XS_OK;
    }
    tmp = xs_strndup(in, len);
    rc = stringprep_profile(tmp, &res,
        kind == JID_PREP_NODE ? "Nodeprep" : "Resourceprep", 0);
    xs_free(tmp);
    if (rc != STRINGPREP_OK)
        return XS_EINVAL;
    rlen = strlen(res);
    if (rlen == 0 || rlen > XS_JID_PART_MAX) {
        free(res);                      /* libidn's allocation */
        return XS_EINVAL;
    }
    *out = xs_strdup(res);
    free(res);
    return XS_OK;

invalid:
    xs_free(res);
    return XS_EINVAL;
}

xs_rc
xs_jid_nodeprep(const char *in, char **out)
{
    return jid_stringprep(in, strlen(in), JID_PREP_NODE, out);
}

xs_rc
xs_jid_resourceprep(const char *in, char **out)
{
    return jid_stringprep(in, strlen(in), JID_PREP_RESOURCE, out);
}

/* A DNS name in lowercase A-label form, rules in the comment at the top. */
static bool
jid_dns_ok(const char *s)
{
    size_t len = strlen(s), label = 0;
    const char *last = s;
    bool digits = true;

    if (len == 0 || len > JID_DNS_MAX)
        return false;
    for (size_t i = 0; i <= len; i++) {
        char c = s[i];

        if (c == '.' || c == '\0') {
            if (label == 0 || label > JID_LABEL_MAX || s[i - 1] == '-')
                return false;
            if (c == '.') {
                label = 0;
                last = s + i + 1;
            }
            continue;
        }
        if (label == 0 && c == '-')
            return false;
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '_'))
            return false;
        label++;
    }
    for (const char *p = last; *p != '\0'; p++) {
        if (*p < '0' || *p > '9')
            digits = false;
    }
    return !digits;
}

static bool
jid_has_alabel(const char *s)
{
    const char *p = s;

    for (;;) {
        if (strncasecmp(p, "xn--", 4) == 0)
            return true;
        p = strchr(p, '.');
        if (p == NULL)
            return false;
        p++;
    }
}

static xs_rc
jid_domainprep(const char *in, size_t len, char **out)
{
    char ipbuf[INET6_ADDRSTRLEN + 2], addr[sizeof(struct in6_addr)];
    char *d = NULL, *ascii = NULL, *uni = NULL, *check = NULL;
    xs_rc rc = XS_EINVAL;

    *out = NULL;
    if (len == 0 || len > JID_INPUT_MAX || memchr(in, '\0', len) != NULL ||
        !xs_utf8_valid(in, len))
        return XS_EINVAL;

    if (in[0] == '[') {                 /* IPv6 literal, RFC 3986 style */
        if (len < 3 || in[len - 1] != ']' || len - 2 >= sizeof(ipbuf))
            return XS_EINVAL;
        memcpy(ipbuf, in + 1, len - 2);
        ipbuf[len - 2] = '\0';
        if (inet_pton(AF_INET6, ipbuf, addr) != 1 ||
            inet_ntop(AF_INET6, addr, ipbuf + 1, INET6_ADDRSTRLEN) == NULL)
            return XS_EINVAL;
        ipbuf[0] = '[';
        *out = xs_asprintf("%s]", ipbuf);
        return XS_OK;
    }

    if (len > 1 && in[len - 1] == '.')  /* RFC 7622 3.2: strip one dot */
        len--;
    d = xs_strndup(in, len);
    if (inet_pton(AF_INET, d, addr) == 1) {
        if (inet_ntop(AF_INET, addr, ipbuf, sizeof(ipbuf)) == NULL)
            goto done;
        *out = xs_strdup(ipbuf);
        rc = XS_OK;
        goto done;
    }
    if (jid_is_ascii(d, len) && !jid_has_alabel(d)) {
        for (size_t i = 0; i < len; i++) {
            if (d[i] >= 'A' && d[i] <= 'Z')
                d[i] = (char)(d[i] - 'A' + 'a');
        }
        if (!jid_dns_ok(d))
            goto done;
        *out = d;
        return XS_OK;
    }
    if (idn2_to_ascii_8z(d, &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL) !=
        IDN2_OK || !jid_dns_ok(ascii))
        goto done;
    if (idn2_to_unicode_8z8z(ascii, &uni, 0) != IDN2_OK)
        goto done;
    if (strlen(uni) == 0 || strlen(uni) > XS_JID_PART_MAX)
        goto done;
    /* libidn2 lets an A-label through without checking what it decodes
     * to ("xn--bmkple" is four disallowed symbols): the Unicode form must
     * convert back to the same A-labels, so what we store parses again. */
    if (idn2_to_ascii_8z(uni, &check, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL)
        != IDN2_OK || strcmp(check, ascii) != 0)
        goto done;
    *out = xs_strdup(uni);
    rc = XS_OK;

done:
    idn2_free(ascii);                   /* NULL-safe, libidn2's allocations */
    idn2_free(uni);
    idn2_free(check);
    xs_free(d);
    return rc;
}

xs_rc
xs_jid_domainprep(const char *in, char **out)
{
    return jid_domainprep(in, strlen(in), out);
}

/* ---- JIDs ----------------------------------------------------------- */

/* Fills bare and full from the prepared parts. */
static void
jid_finish(struct xs_jid *j)
{
    j->bare = (j->local != NULL) ? xs_asprintf("%s@%s", j->local, j->domain)
                                 : xs_strdup(j->domain);
    j->full = (j->resource != NULL)
        ? xs_asprintf("%s/%s", j->bare, j->resource)
        : xs_strdup(j->bare);
}

static xs_rc
jid_build(const char *local, size_t llen, const char *domain, size_t dlen,
    const char *res, size_t rlen, struct xs_jid **out)
{
    struct xs_jid *j = xs_calloc(1, sizeof(*j));
    xs_rc rc;

    *out = NULL;
    if (local != NULL &&
        (rc = jid_stringprep(local, llen, JID_PREP_NODE, &j->local)) != XS_OK)
        goto fail;
    if ((rc = jid_domainprep(domain, dlen, &j->domain)) != XS_OK)
        goto fail;
    if (res != NULL && (rc = jid_stringprep(res, rlen, JID_PREP_RESOURCE,
        &j->resource)) != XS_OK)
        goto fail;
    jid_finish(j);
    *out = j;
    return XS_OK;

fail:
    xs_jid_free(j);
    return rc;
}

/*
 * RFC 7622 section 3.1: the resourcepart is everything after the first
 * '/'; of what precedes it, the localpart is everything before the first
 * '@', the domainpart the rest.  An empty part that is present ("@d",
 * "d/", "a@", "a@/r") makes the JID invalid.
 */
xs_rc
xs_jid_new(const char *s, struct xs_jid **out)
{
    const char *slash, *at, *dom, *dend;
    size_t len;

    *out = NULL;
    if (s == NULL)
        return XS_EINVAL;
    len = strnlen(s, 3 * JID_INPUT_MAX + 3);
    if (len > 3 * JID_INPUT_MAX + 2)
        return XS_EINVAL;
    slash = memchr(s, '/', len);
    dend = (slash != NULL) ? slash : s + len;
    at = memchr(s, '@', (size_t)(dend - s));
    dom = (at != NULL) ? at + 1 : s;
    return jid_build(at != NULL ? s : NULL, at != NULL ? (size_t)(at - s) : 0,
        dom, (size_t)(dend - dom),
        slash != NULL ? slash + 1 : NULL,
        slash != NULL ? len - (size_t)(slash + 1 - s) : 0, out);
}

xs_rc
xs_jid_from_parts(const char *local, const char *domain, const char *resource,
    struct xs_jid **out)
{
    *out = NULL;
    if (domain == NULL)
        return XS_EINVAL;
    return jid_build(local, local != NULL ? strlen(local) : 0,
        domain, strlen(domain),
        resource, resource != NULL ? strlen(resource) : 0, out);
}

struct xs_jid *
xs_jid_copy(const struct xs_jid *j)
{
    struct xs_jid *c = xs_calloc(1, sizeof(*c));

    c->local = (j->local != NULL) ? xs_strdup(j->local) : NULL;
    c->domain = xs_strdup(j->domain);
    c->resource = (j->resource != NULL) ? xs_strdup(j->resource) : NULL;
    c->bare = xs_strdup(j->bare);
    c->full = xs_strdup(j->full);
    return c;
}

struct xs_jid *
xs_jid_bare_copy(const struct xs_jid *j)
{
    struct xs_jid *c = xs_calloc(1, sizeof(*c));

    c->local = (j->local != NULL) ? xs_strdup(j->local) : NULL;
    c->domain = xs_strdup(j->domain);
    c->bare = xs_strdup(j->bare);
    c->full = xs_strdup(j->bare);
    return c;
}

void
xs_jid_free(struct xs_jid *j)
{
    if (j == NULL)
        return;
    xs_free(j->local);
    xs_free(j->domain);
    xs_free(j->resource);
    xs_free(j->bare);
    xs_free(j->full);
    xs_free(j);
}

bool
xs_jid_equal(const struct xs_jid *a, const struct xs_jid *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a->full, b->full) == 0;
}

bool
xs_jid_bare_equal(const struct xs_jid *a, const struct xs_jid *b)
{
    if (a == NULL || b == NULL)
        return a == b;
    return strcmp(a->bare, b->bare) == 0;
}
