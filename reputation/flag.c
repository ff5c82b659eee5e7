/*
 * flag.c: build, strip, parse and verify trust flags.  The wire format and
 * its reasons are in docs/trust-flags.md; this file follows it to the
 * letter and says where.
 */
#include "reputation/flag.h"

#include "xmppd/xml/jid.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#define FLAG_DAY_S  86400

/* ---- Results ---- */

static const struct {
    const char *name;
    const char *text;
    bool        blames_issuer;
} flag_results[XS_FLAG__COUNT] = {
    [XS_FLAG_OK]              = { "ok", "valid", false },
    [XS_FLAG_ABSENT]          = { "absent", "no flag", false },
    [XS_FLAG_MALFORMED]       = { "malformed", "malformed flag", true },
    [XS_FLAG_UNSUPPORTED]     = { "unsupported", "unsupported flag version",
                                  false },
    [XS_FLAG_WRONG_ISSUER]    = { "wrong_issuer",
                                  "issuer is not the sending server", true },
    [XS_FLAG_WRONG_RECIPIENT] = { "wrong_recipient",
                                  "flag is for another recipient", true },
    [XS_FLAG_WRONG_SENDER]    = { "wrong_sender",
                                  "flag is for another sender", true },
    [XS_FLAG_TOO_LONG]        = { "too_long",
                                  "validity longer than allowed", true },
    [XS_FLAG_NOT_YET_VALID]   = { "not_yet_valid",
                                  "issued in the future", false },
    [XS_FLAG_EXPIRED]         = { "expired", "expired", false },
    [XS_FLAG_REPLAYED]        = { "replayed", "nonce seen before (replay)",
                                  true },
    [XS_FLAG_UNKNOWN_KEY]     = { "unknown_key", "unknown signing key",
                                  false },
    [XS_FLAG_KEY_NOT_VALID]   = { "key_not_valid",
                                  "key was not valid when the flag was "
                                  "issued", true },
    [XS_FLAG_BAD_SIGNATURE]   = { "bad_signature",
                                  "signature does not verify", true },
    [XS_FLAG_REPLAY_FULL]     = { "replay_cache_full",
                                  "replay cache full: not verified", false },
};

const char *
xs_flag_result_name(enum xs_flag_result r)
{
    return (unsigned)r < XS_FLAG__COUNT ? flag_results[r].name : NULL;
}

const char *
xs_flag_result_text(enum xs_flag_result r)
{
    return (unsigned)r < XS_FLAG__COUNT ? flag_results[r].text : NULL;
}

bool
xs_flag_result_blames_issuer(enum xs_flag_result r)
{
    return (unsigned)r < XS_FLAG__COUNT && flag_results[r].blames_issuer;
}

/* ---- Field rules (docs/trust-flags.md, "Attributes") ---- */

static const char *const flag_affiliations[] = {
    "anonymous", "registered", "member", "admin",
};

static bool
flag_affiliation_valid(const char *s)
{
    for (size_t i = 0; i < XS_ARRAY_LEN(flag_affiliations); i++)
        if (strcmp(s, flag_affiliations[i]) == 0)
            return true;
    return false;
}

/* Printable: no C0 control character and no DEL.  Keeps the canonical
 * bytes one field per line whatever a JID library lets through. */
static bool
flag_printable(const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++)
        if (*p < 0x20 || *p == 0x7f)
            return false;
    return true;
}

/* "0".."100": decimal, no sign, no leading zero. */
static bool
flag_trust_parse(const char *s, int *out)
{
    size_t n = strlen(s);
    int v = 0;

    if (n == 0 || n > 3 || (n > 1 && s[0] == '0'))
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (v > 100)
        return false;
    *out = v;
    return true;
}

static bool
flag_domain_prepared(const char *s)
{
    char *p = NULL;
    bool ok;

    if (s[0] == '\0' || xs_jid_domainprep(s, &p) != XS_OK)
        return false;
    ok = strcmp(p, s) == 0;
    xs_free(p);
    return ok;
}

/* A prepared bare JID with a localpart (an account), at domain when
 * domain is not NULL. */
static bool
flag_account_prepared(const char *s, const char *domain)
{
    struct xs_jid *j = NULL;
    bool ok;

    if (s[0] == '\0' || xs_jid_new(s, &j) != XS_OK)
        return false;
    ok = j->local != NULL && j->resource == NULL &&
         strcmp(j->bare, s) == 0 &&
         (domain == NULL || strcmp(j->domain, domain) == 0);
    xs_jid_free(j);
    return ok;
}

/*
 * Everything about f's strings that does not need the stream: formats,
 * preparation, times in order.  Fills the decoded values.  Shared by
 * parsing and issuing, so that we never issue what we would refuse.
 */
static const char *
flag_check(struct xs_flag *f)
{
    if (strcmp(f->v, XS_FLAG_VERSION) != 0)
        return "unsupported version";
    if (!flag_printable(f->issuer) || !flag_printable(f->sender) ||
        !flag_printable(f->recipient))
        return "control character in a JID";
    if (!flag_domain_prepared(f->issuer))
        return "issuer is not a prepared domain";
    if (!xs_trust_b64_decode(f->key, true, (uint8_t[9]){ 0 }, 9))
        return "key is not a key id";
    if (!flag_account_prepared(f->sender, f->issuer))
        return "sender is not a prepared bare JID at the issuer";
    if (!flag_account_prepared(f->recipient, NULL))
        return "recipient is not a prepared bare JID";
    if (!flag_affiliation_valid(f->affiliation))
        return "unknown affiliation";
    f->has_since = f->since[0] != '\0';
    if (f->has_since && !xs_trust_time_parse(f->since, &f->since_t))
        return "since is not a UTC time";
    f->has_trust = f->trust[0] != '\0';
    if (f->has_trust && !flag_trust_parse(f->trust, &f->trust_n))
        return "trust is not an integer in 0..100";
    if (!xs_trust_time_parse(f->issued, &f->issued_t))
        return "issued is not a UTC time";
    if (!xs_trust_time_parse(f->expires, &f->expires_t))
        return "expires is not a UTC time";
    if (f->expires_t <= f->issued_t)
        return "expires is not after issued";
    if (!xs_trust_b64_decode(f->nonce, true, f->nonce_raw,
            XS_FLAG_NONCE_LEN))
        return "nonce is not 16 bytes in base64url";
    return NULL;
}

/* Copy an attribute value into a field of capacity cap (NUL included);
 * false if it does not fit. */
static bool
flag_copy(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);

    if (n >= cap)
        return false;
    memcpy(dst, src, n + 1);
    return true;
}

/* ---- Canonical bytes ---- */

size_t
xs_flag_canonical(const struct xs_flag *f, char *out, size_t cap)
{
    /* The order is the specification's; never sort or reorder. */
    const struct {
        const char *name;
        const char *value;
    } lines[] = {
        { "v", f->v },
        { "issuer", f->issuer },
        { "key", f->key },
        { "sender", f->sender },
        { "recipient", f->recipient },
        { "affiliation", f->affiliation },
        { "since", f->since },
        { "trust", f->trust },
        { "issued", f->issued },
        { "expires", f->expires },
        { "nonce", f->nonce },
    };
    size_t off;

    if (cap < sizeof(XS_NS_TRUST))
        return 0;
    memcpy(out, XS_NS_TRUST "\n", sizeof(XS_NS_TRUST));
    off = sizeof(XS_NS_TRUST);
    for (size_t i = 0; i < XS_ARRAY_LEN(lines); i++) {
        size_t nl = strlen(lines[i].name), vl = strlen(lines[i].value);

        if (cap - off < nl + vl + 2)
            return 0;
        memcpy(out + off, lines[i].name, nl);
        out[off + nl] = '=';
        memcpy(out + off + nl + 1, lines[i].value, vl);
        out[off + nl + 1 + vl] = '\n';
        off += nl + vl + 2;
    }
    return off;
}

/* ---- Issuing ---- */

xs_rc
xs_flag_fill(const struct xs_flag_claim *c,
    const uint8_t nonce[XS_FLAG_NONCE_LEN], const char *key_id,
    struct xs_flag *out)
{
    int n;

    memset(out, 0, sizeof(*out));
    if (c->issuer == NULL || c->sender == NULL || c->recipient == NULL ||
        c->affiliation == NULL || key_id == NULL || c->trust > 100)
        return XS_EINVAL;
    memcpy(out->v, XS_FLAG_VERSION, sizeof(out->v));
    if (!flag_copy(out->issuer, sizeof(out->issuer), c->issuer) ||
        !flag_copy(out->key, sizeof(out->key), key_id) ||
        !flag_copy(out->sender, sizeof(out->sender), c->sender) ||
        !flag_copy(out->recipient, sizeof(out->recipient), c->recipient) ||
        !flag_copy(out->affiliation, sizeof(out->affiliation),
            c->affiliation))
        return XS_EINVAL;
    /* XEP-0489: since is approximate; the day is all a peer needs. */
    if (c->since >= 0 &&
        !xs_trust_time_format(c->since - c->since % FLAG_DAY_S, out->since))
        return XS_EINVAL;
    if (c->trust >= 0) {
        n = snprintf(out->trust, sizeof(out->trust), "%d", c->trust);
        xs_assert(n > 0 && (size_t)n < sizeof(out->trust));
    }
    if (!xs_trust_time_format(c->issued, out->issued) ||
        !xs_trust_time_format(c->expires, out->expires))
        return XS_EINVAL;
    xs_trust_b64_encode(nonce, XS_FLAG_NONCE_LEN, true, out->nonce,
        sizeof(out->nonce));
    memcpy(out->nonce_raw, nonce, XS_FLAG_NONCE_LEN);
    return flag_check(out) == NULL ? XS_OK : XS_EINVAL;
}

struct xs_elem *
xs_flag_info_elem(const struct xs_flag *f)
{
    struct xs_elem *e = xs_elem_new(XS_NS_RAA, "info");

    xs_elem_set_attr(e, "affiliation", f->affiliation);
    if (f->has_since)
        xs_elem_set_attr(e, "since", f->since);
    if (f->has_trust)
        xs_elem_set_attr(e, "trust", f->trust);
    return e;
}

struct xs_elem *
xs_flag_elem(const struct xs_flag *f)
{
    struct xs_elem *e = xs_elem_new(XS_NS_TRUST, "flag");

    xs_elem_set_attr(e, "v", f->v);
    xs_elem_set_attr(e, "issuer", f->issuer);
    xs_elem_set_attr(e, "key", f->key);
    xs_elem_set_attr(e, "sender", f->sender);
    xs_elem_set_attr(e, "recipient", f->recipient);
    xs_elem_set_attr(e, "affiliation", f->affiliation);
    if (f->has_since)
        xs_elem_set_attr(e, "since", f->since);
    if (f->has_trust)
        xs_elem_set_attr(e, "trust", f->trust);
    xs_elem_set_attr(e, "issued", f->issued);
    xs_elem_set_attr(e, "expires", f->expires);
    xs_elem_set_attr(e, "nonce", f->nonce);
    xs_elem_set_attr(e, "sig", f->sig);
    return e;
}

xs_rc
xs_flag_build(const struct xs_flag_claim *c,
    const struct xs_trustkey_store *keys, struct xs_elem **info,
    struct xs_elem **flag, struct xs_flag *out)
{
    struct xs_flag f;
    char key_id[XS_TRUSTKEY_ID_LEN + 1];
    uint8_t nonce[XS_FLAG_NONCE_LEN];
    char canon[XS_FLAG_CANON_MAX];
    size_t len;
    xs_rc rc;

    *info = NULL;
    *flag = NULL;
    if (c->issuer == NULL || !xs_trustkey_current(keys, c->issuer, key_id))
        return XS_ENOTFOUND;
    randombytes_buf(nonce, sizeof(nonce));
    rc = xs_flag_fill(c, nonce, key_id, &f);
    if (rc != XS_OK)
        return rc;
    len = xs_flag_canonical(&f, canon, sizeof(canon));
    xs_assert(len > 0);
    rc = xs_trustkey_sign(keys, c->issuer, key_id, canon, len, f.sig_raw);
    if (rc != XS_OK)
        return rc;
    xs_trust_b64_encode(f.sig_raw, sizeof(f.sig_raw), false, f.sig,
        sizeof(f.sig));
    *info = xs_flag_info_elem(&f);
    *flag = xs_flag_elem(&f);
    if (out != NULL)
        *out = f;
    return XS_OK;
}

xs_rc
xs_flag_attach(struct xs_elem *presence, const struct xs_flag_claim *c,
    const struct xs_trustkey_store *keys)
{
    struct xs_elem *info, *flag;
    xs_rc rc = xs_flag_build(c, keys, &info, &flag, NULL);

    if (rc != XS_OK)
        return rc;
    xs_elem_append(presence, info);
    xs_elem_append(presence, flag);
    return XS_OK;
}

size_t
xs_flag_strip(struct xs_elem *stanza)
{
    struct xs_elem *e = xs_elem_first_elem(stanza);
    size_t gone = 0;

    while (e != NULL) {
        struct xs_elem *next = xs_elem_next_elem(e);

        if (e->ns != NULL && (strcmp(e->ns, XS_NS_TRUST) == 0 ||
                              strcmp(e->ns, XS_NS_RAA) == 0)) {
            xs_elem_remove(stanza, e);
            gone++;
        }
        e = next;
    }
    return gone;
}

/* ---- Parsing ---- */

#define FLAG_FIELD(name, member) \
    { name, offsetof(struct xs_flag, member), \
      sizeof(((struct xs_flag *)0)->member) }

static const struct {
    const char *name;
    size_t      off;
    size_t      cap;        /* NUL included */
} flag_fields[] = {
    FLAG_FIELD("issuer", issuer),
    FLAG_FIELD("key", key),
    FLAG_FIELD("sender", sender),
    FLAG_FIELD("recipient", recipient),
    FLAG_FIELD("affiliation", affiliation),
    FLAG_FIELD("since", since),
    FLAG_FIELD("trust", trust),
    FLAG_FIELD("issued", issued),
    FLAG_FIELD("expires", expires),
    FLAG_FIELD("nonce", nonce),
    FLAG_FIELD("sig", sig),
};

/* Which attributes must be there (since and trust are optional). */
static bool
flag_field_required(const char *name)
{
    return strcmp(name, "since") != 0 && strcmp(name, "trust") != 0;
}

static enum xs_flag_result
flag_malformed(const char **why, const char *reason)
{
    if (why != NULL)
        *why = reason;
    return XS_FLAG_MALFORMED;
}

enum xs_flag_result
xs_flag_parse(const struct xs_elem *el, struct xs_flag *out,
    const char **why)
{
    const char *v, *reason;
    bool seen[XS_ARRAY_LEN(flag_fields)] = { false };

    memset(out, 0, sizeof(*out));
    if (why != NULL)
        *why = NULL;
    if (el->type != XS_NODE_ELEM || el->ns == NULL ||
        strcmp(el->ns, XS_NS_TRUST) != 0 || strcmp(el->name, "flag") != 0)
        return flag_malformed(why, "not a flag element");

    /* The version first: a later version may look different. */
    v = xs_elem_attr(el, "v");
    if (v == NULL)
        return flag_malformed(why, "no version");
    if (strcmp(v, XS_FLAG_VERSION) != 0) {
        if (why != NULL)
            *why = "unsupported version";
        return XS_FLAG_UNSUPPORTED;
    }
    memcpy(out->v, XS_FLAG_VERSION, sizeof(out->v));

    for (size_t i = 0; i < el->nattrs; i++) {
        const struct xs_attr *a = &el->attrs[i];
        size_t k;

        if (strcmp(a->name, "v") == 0)
            continue;
        for (k = 0; k < XS_ARRAY_LEN(flag_fields); k++)
            if (strcmp(a->name, flag_fields[k].name) == 0)
                break;
        if (k == XS_ARRAY_LEN(flag_fields))
            return flag_malformed(why, "unknown attribute");
        if (seen[k])
            return flag_malformed(why, "attribute given twice");
        seen[k] = true;
        if (a->value[0] == '\0')
            return flag_malformed(why, "empty attribute");
        if (!flag_copy((char *)out + flag_fields[k].off, flag_fields[k].cap,
                a->value))
            return flag_malformed(why, "attribute too long");
    }
    for (size_t k = 0; k < XS_ARRAY_LEN(flag_fields); k++)
        if (!seen[k] && flag_field_required(flag_fields[k].name))
            return flag_malformed(why, "required attribute missing");
    /* Empty: children would be unsigned, so nothing may ride along. */
    for (const struct xs_elem *c = el->first; c != NULL; c = c->next) {
        if (c->type == XS_NODE_ELEM)
            return flag_malformed(why, "flag has children");
        for (size_t i = 0; i < c->text_len; i++)
            if (strchr(" \t\r\n", c->text[i]) == NULL)
                return flag_malformed(why, "flag has text");
    }

    reason = flag_check(out);
    if (reason != NULL)
        return flag_malformed(why, reason);
    if (!xs_trust_b64_decode(out->sig, false, out->sig_raw,
            sizeof(out->sig_raw)))
        return flag_malformed(why, "sig is not 64 bytes in base64");
    return XS_FLAG_OK;
}

enum xs_flag_result
xs_flag_from_stanza(const struct xs_elem *stanza, struct xs_flag *out,
    const char **why)
{
    const struct xs_elem *found = NULL;

    if (why != NULL)
        *why = NULL;
    for (const struct xs_elem *e = xs_elem_first_elem(stanza); e != NULL;
         e = xs_elem_next_elem(e)) {
        if (e->ns == NULL || strcmp(e->ns, XS_NS_TRUST) != 0 ||
            strcmp(e->name, "flag") != 0)
            continue;
        if (found != NULL) {
            memset(out, 0, sizeof(*out));
            return flag_malformed(why, "more than one flag");
        }
        found = e;
    }
    if (found == NULL) {
        memset(out, 0, sizeof(*out));
        return XS_FLAG_ABSENT;
    }
    return xs_flag_parse(found, out, why);
}

/* ---- Verification ---- */

bool
xs_flag_key_from_store(void *udata, const char *domain, const char *key_id,
    int64_t now, struct xs_trust_pubkey *out)
{
    return xs_trustkey_lookup(udata, domain, key_id, now, out);
}

enum xs_flag_result
xs_flag_verify(const struct xs_flag_verifier *v, const struct xs_flag *f,
    const char *stream_domain, const char *from_bare, const char *to_bare,
    int64_t now)
{
    struct xs_trust_pubkey pk;
    char canon[XS_FLAG_CANON_MAX];
    size_t len;
    xs_rc rc;

    xs_assert(v->replay != NULL && v->key_lookup != NULL);
    /* 1. Who: string compares against what the stream established. */
    if (stream_domain == NULL || strcmp(f->issuer, stream_domain) != 0)
        return XS_FLAG_WRONG_ISSUER;
    if (to_bare == NULL || strcmp(f->recipient, to_bare) != 0)
        return XS_FLAG_WRONG_RECIPIENT;
    if (from_bare == NULL || strcmp(f->sender, from_bare) != 0)
        return XS_FLAG_WRONG_SENDER;

    /* 2. When: integer compares (parse made expires > issued). */
    if (f->expires_t - f->issued_t > v->max_validity_s)
        return XS_FLAG_TOO_LONG;
    if (f->issued_t > now + v->skew_s)
        return XS_FLAG_NOT_YET_VALID;
    if (f->expires_t + v->skew_s < now)
        return XS_FLAG_EXPIRED;

    /* 3. Seen before: a hash probe, recording nothing yet. */
    if (xs_replay_seen(v->replay, f->issuer, f->nonce_raw, now))
        return XS_FLAG_REPLAYED;

    /* 4. The key, and whether it could sign at the flag's issue time: a
     * retired key (perhaps leaked since) signs nothing newer. */
    if (!v->key_lookup(v->key_udata, f->issuer, f->key, now, &pk))
        return XS_FLAG_UNKNOWN_KEY;
    if (f->issued_t + v->skew_s < pk.created ||
        (pk.retired != 0 && f->issued_t > pk.retired + v->skew_s))
        return XS_FLAG_KEY_NOT_VALID;

    /* 5. The signature: the expensive step, before anything is kept. */
    len = xs_flag_canonical(f, canon, sizeof(canon));
    xs_assert(len > 0);
    if (crypto_sign_verify_detached(f->sig_raw, (const unsigned char *)canon,
            len, pk.pk) != 0)
        return XS_FLAG_BAD_SIGNATURE;

    /* 6. Only a genuine flag spends its nonce. */
    rc = xs_replay_add(v->replay, f->issuer, f->nonce_raw,
             f->expires_t + v->skew_s, now);
    if (rc == XS_EEXIST)
        return XS_FLAG_REPLAYED;
    if (rc == XS_ELIMIT)
        return XS_FLAG_REPLAY_FULL;
    xs_assert(rc == XS_OK);
    return XS_FLAG_OK;
}
