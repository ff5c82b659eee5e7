/* sasl.c: SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN for c2s streams. */
#include "xmppd/c2s/sasl.h"

#include <sodium.h>
#include <string.h>

#include "xmppd/c2s/scram.h"

enum sasl_state {
    SA_START,           /* nothing received yet */
    SA_WAIT_FIRST,      /* sent an empty challenge, want the first message */
    SA_NEED_CREDS,      /* the stream is fetching credentials */
    SA_WAIT_FINAL,      /* SCRAM: sent server-first, want client-final */
    SA_DONE,            /* success or failure was returned */
};

struct xs_sasl {
    enum xs_sasl_mech        mech;
    enum sasl_state          state;
    enum xs_sasl_cond        cond;
    struct xs_scram_server  *scram;     /* owned; NULL for PLAIN */
    char                    *username;  /* owned; SASLprepped */
    char                    *authzid;   /* owned; NULL when absent */
    char                    *password;  /* owned; PLAIN only, wiped */
    char                    *payload;   /* owned: last base64 output */
};

static const char *const sasl_mech_names[XS_SASL_MECH__COUNT] = {
    [XS_SASL_SCRAM_SHA256] = "SCRAM-SHA-256",
    [XS_SASL_SCRAM_SHA1] = "SCRAM-SHA-1",
    [XS_SASL_PLAIN] = "PLAIN",
};

static const char *const sasl_cond_names[XS_SASL_COND__COUNT] = {
    [XS_SASL_COND_ABORTED] = "aborted",
    [XS_SASL_COND_ACCOUNT_DISABLED] = "account-disabled",
    [XS_SASL_COND_CREDENTIALS_EXPIRED] = "credentials-expired",
    [XS_SASL_COND_ENCRYPTION_REQUIRED] = "encryption-required",
    [XS_SASL_COND_INCORRECT_ENCODING] = "incorrect-encoding",
    [XS_SASL_COND_INVALID_AUTHZID] = "invalid-authzid",
    [XS_SASL_COND_INVALID_MECHANISM] = "invalid-mechanism",
    [XS_SASL_COND_MALFORMED_REQUEST] = "malformed-request",
    [XS_SASL_COND_MECHANISM_TOO_WEAK] = "mechanism-too-weak",
    [XS_SASL_COND_NOT_AUTHORIZED] = "not-authorized",
    [XS_SASL_COND_TEMPORARY_AUTH_FAILURE] = "temporary-auth-failure",
};

const char *
xs_sasl_mech_name(enum xs_sasl_mech m)
{
    return m < XS_SASL_MECH__COUNT ? sasl_mech_names[m] : "unknown";
}

xs_rc
xs_sasl_mech_by_name(const char *name, enum xs_sasl_mech *out)
{
    for (size_t i = 0; i < XS_SASL_MECH__COUNT; i++) {
        if (name != NULL && strcmp(name, sasl_mech_names[i]) == 0) {
            *out = (enum xs_sasl_mech)i;
            return XS_OK;
        }
    }
    return XS_ENOTFOUND;
}

bool
xs_sasl_mech_offered(enum xs_sasl_mech m, bool is_tls)
{
    if (m >= XS_SASL_MECH__COUNT)
        return false;
    /* A password in the clear only inside TLS (RFC 6120 section 13.8). */
    return m != XS_SASL_PLAIN || is_tls;
}

const char *
xs_sasl_cond_name(enum xs_sasl_cond c)
{
    return c < XS_SASL_COND__COUNT ? sasl_cond_names[c]
                                   : "temporary-auth-failure";
}

/* ---- base64 of the XML text ----------------------------------------- */

static bool
sasl_is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

char *
xs_sasl_b64_encode(const void *data, size_t len)
{
    size_t cap;
    char *s;

    if (len == 0)
        return xs_strdup("=");
    cap = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_ORIGINAL);
    s = xs_malloc(cap);
    sodium_bin2base64(s, cap, data, len, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

xs_rc
xs_sasl_b64_decode(const char *text, size_t max, unsigned char **out,
    size_t *out_len)
{
    size_t chars = 0, text_len, cap, n = 0;
    unsigned char *bin;

    *out = NULL;
    *out_len = 0;
    if (text == NULL)
        text = "";
    text_len = strlen(text);
    for (size_t i = 0; i < text_len; i++)
        chars += !sasl_is_space(text[i]);
    if (chars == 0 || (chars == 1 && strchr(text, '=') != NULL)) {
        *out = xs_calloc(1, 1);         /* zero-length data */
        return XS_OK;
    }
    /* Every 4 characters make at most 3 bytes: refuse early what cannot
     * fit, before allocating anything a peer chose. */
    if (chars / 4 > max / 3 + 1)
        return XS_ELIMIT;
    cap = chars / 4 * 3 + 3;
    bin = xs_malloc(cap + 1);
    if (sodium_base642bin(bin, cap, text, text_len, " \t\r\n", &n, NULL,
            sodium_base64_VARIANT_ORIGINAL) != 0) {
        xs_free(bin);
        return XS_EINVAL;
    }
    if (n > max) {
        sodium_memzero(bin, n);
        xs_free(bin);
        return XS_ELIMIT;
    }
    bin[n] = '\0';
    *out = bin;
    *out_len = n;
    return XS_OK;
}

/* ---- state object ------------------------------------------------------ */

struct xs_sasl *
xs_sasl_new(enum xs_sasl_mech m)
{
    struct xs_sasl *s;

    if (m >= XS_SASL_MECH__COUNT)
        return NULL;
    s = xs_calloc(1, sizeof(*s));
    s->mech = m;
    s->state = SA_START;
    s->cond = XS_SASL_COND_TEMPORARY_AUTH_FAILURE;
    if (m == XS_SASL_SCRAM_SHA256)
        s->scram = xs_scram_server_new(XS_SCRAM_SHA256);
    else if (m == XS_SASL_SCRAM_SHA1)
        s->scram = xs_scram_server_new(XS_SCRAM_SHA1);
    return s;
}

static void
sasl_wipe_password(struct xs_sasl *s)
{
    if (s->password != NULL) {
        sodium_memzero(s->password, strlen(s->password));
        xs_free(s->password);
        s->password = NULL;
    }
}

void
xs_sasl_free(struct xs_sasl *s)
{
    if (s == NULL)
        return;
    xs_scram_server_free(s->scram);
    sasl_wipe_password(s);
    xs_free(s->username);
    xs_free(s->authzid);
    xs_free(s->payload);
    xs_free(s);
}

enum xs_sasl_mech
xs_sasl_mech(const struct xs_sasl *s)
{
    return s->mech;
}

const char *
xs_sasl_username(const struct xs_sasl *s)
{
    return s->username;
}

const char *
xs_sasl_authzid(const struct xs_sasl *s)
{
    return s->authzid;
}

const char *
xs_sasl_payload(const struct xs_sasl *s)
{
    return s->payload;
}

enum xs_sasl_cond
xs_sasl_cond(const struct xs_sasl *s)
{
    return s->cond;
}

enum xs_sasl_status
xs_sasl_fail(struct xs_sasl *s, enum xs_sasl_cond cond)
{
    s->state = SA_DONE;
    s->cond = cond < XS_SASL_COND__COUNT ? cond
                                         : XS_SASL_COND_TEMPORARY_AUTH_FAILURE;
    xs_free(s->payload);
    s->payload = NULL;
    sasl_wipe_password(s);
    return XS_SASL_FAILURE;
}

/* Set the payload to the base64 of msg (may be NULL: no data). */
static void
sasl_payload_set(struct xs_sasl *s, const char *msg)
{
    xs_free(s->payload);
    s->payload = msg != NULL ? xs_sasl_b64_encode(msg, strlen(msg)) : NULL;
}

/* The decoded data of one message, or a failure condition. */
static bool
sasl_decode(struct xs_sasl *s, const char *text, unsigned char **data,
    size_t *len)
{
    xs_rc rc = xs_sasl_b64_decode(text, XS_SASL_DATA_MAX, data, len);

    if (rc == XS_OK)
        return true;
    xs_sasl_fail(s, rc == XS_EINVAL ? XS_SASL_COND_INCORRECT_ENCODING
                                    : XS_SASL_COND_MALFORMED_REQUEST);
    return false;
}

static void
sasl_data_free(unsigned char *data, size_t len)
{
    if (data != NULL) {
        sodium_memzero(data, len);
        xs_free(data);
    }
}

/*
 * RFC 4616: [authzid] NUL authcid NUL passwd, each 1..255 bytes of UTF-8
 * (authzid may be empty), no further NUL.  The authcid and password are
 * SASLprepped.
 */
static bool
sasl_plain_parse(struct xs_sasl *s, const unsigned char *data, size_t len)
{
    const char *p = (const char *)data, *nul1, *nul2;
    size_t zid_len, cid_len, pw_len;

    if ((nul1 = memchr(p, '\0', len)) == NULL)
        return false;
    zid_len = (size_t)(nul1 - p);
    if ((nul2 = memchr(nul1 + 1, '\0', len - zid_len - 1)) == NULL)
        return false;
    cid_len = (size_t)(nul2 - nul1 - 1);
    pw_len = len - zid_len - cid_len - 2;
    if (zid_len > XS_SASL_FIELD_MAX || cid_len == 0
        || cid_len > XS_SASL_FIELD_MAX || pw_len == 0
        || pw_len > XS_SASL_FIELD_MAX
        || memchr(nul2 + 1, '\0', pw_len) != NULL)
        return false;
    if (zid_len > 0) {
        if (!xs_scram_utf8_valid(p, zid_len))
            return false;
        s->authzid = xs_strndup(p, zid_len);
    }
    if (xs_scram_saslprep(nul1 + 1, cid_len, &s->username) != XS_OK)
        return false;
    if (xs_scram_saslprep(nul2 + 1, pw_len, &s->password) != XS_OK)
        return false;
    return true;
}

/* The first message of either mechanism: it names the user. */
static enum xs_sasl_status
sasl_first(struct xs_sasl *s, const char *text)
{
    const char *user, *authzid;
    unsigned char *data = NULL;
    size_t len = 0;
    bool is_ok;

    if (!sasl_decode(s, text, &data, &len))
        return XS_SASL_FAILURE;
    if (len == 0) {
        sasl_data_free(data, len);
        return xs_sasl_fail(s, XS_SASL_COND_MALFORMED_REQUEST);
    }
    if (s->mech == XS_SASL_PLAIN) {
        is_ok = sasl_plain_parse(s, data, len);
    } else {
        is_ok = xs_scram_server_client_first(s->scram, (const char *)data,
            len, &user, &authzid) == XS_OK;
        if (is_ok) {
            s->username = xs_strdup(user);
            s->authzid = authzid != NULL ? xs_strdup(authzid) : NULL;
        }
    }
    sasl_data_free(data, len);
    if (!is_ok)
        return xs_sasl_fail(s, XS_SASL_COND_MALFORMED_REQUEST);
    s->state = SA_NEED_CREDS;
    xs_free(s->payload);
    s->payload = NULL;
    return XS_SASL_NEED_CREDS;
}

enum xs_sasl_status
xs_sasl_start(struct xs_sasl *s, const char *text)
{
    if (s->state != SA_START)
        return xs_sasl_fail(s, XS_SASL_COND_MALFORMED_REQUEST);
    if (text == NULL || text[0] == '\0') {
        /* No initial response: an empty challenge asks for it. */
        s->state = SA_WAIT_FIRST;
        xs_free(s->payload);
        s->payload = xs_strdup("=");
        return XS_SASL_CHALLENGE;
    }
    return sasl_first(s, text);
}

enum xs_sasl_status
xs_sasl_step(struct xs_sasl *s, const char *text)
{
    unsigned char *data = NULL;
    char *final = NULL;
    size_t len = 0;
    xs_rc rc;

    switch (s->state) {
    case SA_WAIT_FIRST:
        return sasl_first(s, text);
    case SA_WAIT_FINAL:
        break;
    default:
        /* A response nobody asked for. */
        return xs_sasl_fail(s, XS_SASL_COND_MALFORMED_REQUEST);
    }

    if (!sasl_decode(s, text, &data, &len))
        return XS_SASL_FAILURE;
    rc = xs_scram_server_client_final(s->scram, (const char *)data, len,
        &final);
    sasl_data_free(data, len);
    switch (rc) {
    case XS_OK:
        s->state = SA_DONE;
        sasl_payload_set(s, final);
        xs_free(final);
        return XS_SASL_SUCCESS;
    case XS_EAUTH:
        return xs_sasl_fail(s, XS_SASL_COND_NOT_AUTHORIZED);
    case XS_EINVAL:
        return xs_sasl_fail(s, XS_SASL_COND_MALFORMED_REQUEST);
    default:
        return xs_sasl_fail(s, XS_SASL_COND_TEMPORARY_AUTH_FAILURE);
    }
}

enum xs_sasl_status
xs_sasl_set_creds(struct xs_sasl *s, const struct xs_account_creds *c)
{
    char *first = NULL;
    xs_rc rc;

    if (s->state != SA_NEED_CREDS)
        return xs_sasl_fail(s, XS_SASL_COND_TEMPORARY_AUTH_FAILURE);

    if (s->mech == XS_SASL_PLAIN) {
        rc = xs_scram_creds_check_password(c, s->password);  /* c may be NULL */
        sasl_wipe_password(s);
        if (rc == XS_OK) {
            s->state = SA_DONE;
            sasl_payload_set(s, NULL);
            return XS_SASL_SUCCESS;
        }
        return xs_sasl_fail(s, rc == XS_EAUTH
                                   ? XS_SASL_COND_NOT_AUTHORIZED
                                   : XS_SASL_COND_TEMPORARY_AUTH_FAILURE);
    }

    if (c != NULL)
        rc = xs_scram_server_set_creds(s->scram, c, &first);
    else
        rc = xs_scram_server_set_fake_creds(s->scram, &first);
    if (rc != XS_OK)
        return xs_sasl_fail(s, XS_SASL_COND_TEMPORARY_AUTH_FAILURE);
    s->state = SA_WAIT_FINAL;
    sasl_payload_set(s, first);
    xs_free(first);
    return XS_SASL_CHALLENGE;
}
