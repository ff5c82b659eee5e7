/* scram.c: SCRAM-SHA-1/-256 credentials, server and client (RFC 5802/7677). */
#include "xmppd/c2s/scram.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <limits.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <stringprep.h>

#define SCRAM_NONCE_RAW     24      /* random bytes in a nonce we make */
#define SCRAM_NONCE_MAX     255     /* longest client nonce we accept */
#define SCRAM_NAME_MAX      1023    /* longest username/authzid (decoded) */

static const char scram_client_key[] = "Client Key";
static const char scram_server_key[] = "Server Key";

/* ---- primitives ------------------------------------------------------ */

size_t
xs_scram_hash_len(enum xs_scram_hash h)
{
    return h == XS_SCRAM_SHA1 ? 20 : 32;
}

const char *
xs_scram_hash_mech(enum xs_scram_hash h)
{
    return h == XS_SCRAM_SHA1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
}

static const EVP_MD *
scram_md(enum xs_scram_hash h)
{
    return h == XS_SCRAM_SHA1 ? EVP_sha1() : EVP_sha256();
}

static xs_rc
scram_hmac(enum xs_scram_hash h, const unsigned char *key, size_t key_len,
    const void *data, size_t len, unsigned char *out)
{
    unsigned int out_len = 0;

    if (key_len > INT_MAX)
        return XS_EINVAL;
    if (HMAC(scram_md(h), key, (int)key_len, data, len, out,
            &out_len) == NULL || out_len != xs_scram_hash_len(h)) {
        xs_log_openssl(XS_LOG_ERR, "scram: HMAC failed");
        return XS_EIO;
    }
    return XS_OK;
}

static xs_rc
scram_digest(enum xs_scram_hash h, const void *data, size_t len,
    unsigned char *out)
{
    unsigned int out_len = 0;

    if (EVP_Digest(data, len, out, &out_len, scram_md(h), NULL) != 1
        || out_len != xs_scram_hash_len(h)) {
        xs_log_openssl(XS_LOG_ERR, "scram: digest failed");
        return XS_EIO;
    }
    return XS_OK;
}

xs_rc
xs_scram_salted_password(enum xs_scram_hash h, const char *password,
    size_t password_len, const unsigned char *salt, size_t salt_len,
    uint32_t iterations, unsigned char *out)
{
    if (h >= XS_SCRAM__COUNT || password_len > INT_MAX
        || salt_len == 0 || salt_len > INT_MAX
        || iterations == 0 || iterations > INT_MAX)
        return XS_EINVAL;
    if (PKCS5_PBKDF2_HMAC(password, (int)password_len, salt, (int)salt_len,
            (int)iterations, scram_md(h), (int)xs_scram_hash_len(h),
            out) != 1) {
        xs_log_openssl(XS_LOG_ERR, "scram: PBKDF2 failed");
        return XS_EIO;
    }
    return XS_OK;
}

xs_rc
xs_scram_keys_from_salted(enum xs_scram_hash h, const unsigned char *salted,
    unsigned char *stored_key, unsigned char *server_key)
{
    unsigned char client_key[XS_SCRAM_MAX_HASH];
    size_t hl = xs_scram_hash_len(h);
    xs_rc rc;

    if (h >= XS_SCRAM__COUNT)
        return XS_EINVAL;
    rc = scram_hmac(h, salted, hl, scram_client_key,
        sizeof(scram_client_key) - 1, client_key);
    if (rc == XS_OK)
        rc = scram_digest(h, client_key, hl, stored_key);
    if (rc == XS_OK)
        rc = scram_hmac(h, salted, hl, scram_server_key,
            sizeof(scram_server_key) - 1, server_key);
    sodium_memzero(client_key, sizeof(client_key));
    return rc;
}

/* A fresh NUL-terminated base64 (RFC 4648, padded) of n bytes. */
static char *
scram_b64(const unsigned char *bin, size_t n)
{
    size_t cap = sodium_base64_ENCODED_LEN(n,
        sodium_base64_VARIANT_ORIGINAL);
    char *s = xs_malloc(cap);

    sodium_bin2base64(s, cap, bin, n, sodium_base64_VARIANT_ORIGINAL);
    return s;
}

/* Strict: any character outside the alphabet or bad padding fails. */
static xs_rc
scram_unb64(const char *b64, size_t b64_len, unsigned char *out, size_t max,
    size_t *out_len)
{
    if (b64_len == 0)
        return XS_EINVAL;
    if (sodium_base642bin(out, max, b64, b64_len, NULL, out_len, NULL,
            sodium_base64_VARIANT_ORIGINAL) != 0)
        return XS_EINVAL;
    return XS_OK;
}

static void
scram_random_nonce(char **out)
{
    unsigned char raw[SCRAM_NONCE_RAW];

    randombytes_buf(raw, sizeof(raw));
    *out = scram_b64(raw, sizeof(raw));
}

/* RFC 5802 c-nonce / s-nonce: printable ASCII except ','. */
static bool
scram_nonce_valid(const char *p, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)p[i];

        if (ch < 0x21 || ch > 0x7e || ch == ',')
            return false;
    }
    return true;
}

/* Free a string that held a secret. */
static void
scram_str_wipe_free(char *s)
{
    if (s != NULL) {
        sodium_memzero(s, strlen(s));
        xs_free(s);
    }
}

bool
xs_scram_utf8_valid(const char *s, size_t len)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;

    while (i < len) {
        unsigned char c = p[i];
        size_t need;
        uint32_t cp;

        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xc2 && c <= 0xdf) {
            need = 1, cp = c & 0x1f;
        } else if (c >= 0xe0 && c <= 0xef) {
            need = 2, cp = c & 0x0f;
        } else if (c >= 0xf0 && c <= 0xf4) {
            need = 3, cp = c & 0x07;
        } else {
            return false;               /* continuation, overlong 2, > 0xf4 */
        }
        if (len - i - 1 < need)
            return false;
        for (size_t k = 1; k <= need; k++) {
            if ((p[i + k] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000)
            || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += need + 1;
    }
    return true;
}

xs_rc
xs_scram_saslprep(const char *in, size_t len, char **out)
{
    char *copy, *prepped = NULL;
    xs_rc rc = XS_EINVAL;
    int r;

    *out = NULL;
    if (len == 0 || memchr(in, '\0', len) != NULL
        || !xs_scram_utf8_valid(in, len))
        return XS_EINVAL;
    copy = xs_strndup(in, len);
    /* Flags 0: the query profile (RFC 4013 section 2.2, unassigned code
     * points allowed), as authentication input is not stored. */
    r = stringprep_profile(copy, &prepped, "SASLprep", 0);
    if (r == STRINGPREP_OK && prepped != NULL && prepped[0] != '\0') {
        *out = xs_strdup(prepped);
        rc = XS_OK;
    }
    if (prepped != NULL) {
        sodium_memzero(prepped, strlen(prepped));
        free(prepped);                  /* libidn allocates with malloc */
    }
    sodium_memzero(copy, len);
    xs_free(copy);
    return rc;
}

/* ---- stored credentials --------------------------------------------- */

/* Set at start-up (main thread), only read afterwards, also by workers. */
static unsigned char fake_key[32];
static bool fake_key_is_set;
static uint32_t fake_iter = XS_SCRAM_ITER_DEFAULT;

static xs_rc
scram_creds_half(enum xs_scram_hash h, const char *password,
    uint32_t iterations, unsigned char *salt, unsigned char *stored,
    unsigned char *server)
{
    unsigned char salted[XS_SCRAM_MAX_HASH];
    xs_rc rc;

    randombytes_buf(salt, XS_SCRAM_SALT_LEN);
    rc = xs_scram_salted_password(h, password, strlen(password), salt,
        XS_SCRAM_SALT_LEN, iterations, salted);
    if (rc == XS_OK)
        rc = xs_scram_keys_from_salted(h, salted, stored, server);
    sodium_memzero(salted, sizeof(salted));
    return rc;
}

xs_rc
xs_scram_creds_derive(const char *password, uint32_t iterations,
    struct xs_account_creds *out)
{
    xs_rc rc;

    memset(out, 0, sizeof(*out));
    if (password == NULL || password[0] == '\0'
        || iterations < XS_SCRAM_ITER_MIN || iterations > XS_SCRAM_ITER_MAX)
        return XS_EINVAL;

    rc = scram_creds_half(XS_SCRAM_SHA1, password, iterations,
        out->sha1_salt, out->sha1_stored, out->sha1_server);
    if (rc != XS_OK)
        goto fail;
    out->sha1_iter = iterations;
    rc = scram_creds_half(XS_SCRAM_SHA256, password, iterations,
        out->sha256_salt, out->sha256_stored, out->sha256_server);
    if (rc != XS_OK)
        goto fail;
    out->sha256_iter = iterations;
    return XS_OK;

fail:
    sodium_memzero(out, sizeof(*out));
    return rc;
}

xs_rc
xs_scram_creds_check_password(const struct xs_account_creds *c,
    const char *password)
{
    unsigned char salted[XS_SCRAM_MAX_HASH];
    unsigned char stored[XS_SCRAM_MAX_HASH], server[XS_SCRAM_MAX_HASH];
    const unsigned char *salt, *want;
    enum xs_scram_hash h;
    uint32_t iter;
    xs_rc rc;

    if (c == NULL) {
        /* Unknown user: spend the time a real check would, then fail. */
        static const unsigned char zero_salt[XS_SCRAM_SALT_LEN];

        rc = xs_scram_salted_password(XS_SCRAM_SHA256, password,
            strlen(password), zero_salt, sizeof(zero_salt), fake_iter,
            salted);
        if (rc == XS_OK)
            rc = xs_scram_keys_from_salted(XS_SCRAM_SHA256, salted, stored,
                server);
        sodium_memzero(salted, sizeof(salted));
        sodium_memzero(stored, sizeof(stored));
        sodium_memzero(server, sizeof(server));
        return rc == XS_OK || rc == XS_EINVAL ? XS_EAUTH : rc;
    }
    if (c->sha256_iter != 0) {
        h = XS_SCRAM_SHA256;
        salt = c->sha256_salt, iter = c->sha256_iter;
        want = c->sha256_stored;
    } else if (c->sha1_iter != 0) {
        h = XS_SCRAM_SHA1;
        salt = c->sha1_salt, iter = c->sha1_iter;
        want = c->sha1_stored;
    } else {
        return XS_EAUTH;
    }
    rc = xs_scram_salted_password(h, password, strlen(password), salt,
        XS_SCRAM_SALT_LEN, iter, salted);
    if (rc == XS_OK)
        rc = xs_scram_keys_from_salted(h, salted, stored, server);
    if (rc == XS_OK && sodium_memcmp(stored, want, xs_scram_hash_len(h)) != 0)
        rc = XS_EAUTH;
    sodium_memzero(salted, sizeof(salted));
    sodium_memzero(stored, sizeof(stored));
    sodium_memzero(server, sizeof(server));
    return rc == XS_EINVAL ? XS_EAUTH : rc;
}

/* ---- fake credentials for unknown users ----------------------------- */


void
xs_scram_fake_key_set(const unsigned char key[32])
{
    memcpy(fake_key, key, sizeof(fake_key));
    fake_key_is_set = true;
}

void
xs_scram_fake_iter_set(uint32_t iterations)
{
    if (iterations >= XS_SCRAM_ITER_MIN && iterations <= XS_SCRAM_ITER_MAX)
        fake_iter = iterations;
}

/* The salt a prober sees for `user`: the same on every attempt. */
static xs_rc
scram_fake_salt(enum xs_scram_hash h, const char *user,
    unsigned char salt[XS_SCRAM_SALT_LEN])
{
    unsigned char mac[32];
    const char *mech = xs_scram_hash_mech(h);
    size_t mech_len = strlen(mech), user_len = strlen(user);
    unsigned char *msg;
    xs_rc rc;

    if (!fake_key_is_set) {
        randombytes_buf(fake_key, sizeof(fake_key));
        fake_key_is_set = true;
    }
    /* mech NUL user: distinct salts per hash, unambiguous encoding. */
    msg = xs_malloc(mech_len + 1 + user_len);
    memcpy(msg, mech, mech_len);
    msg[mech_len] = '\0';
    memcpy(msg + mech_len + 1, user, user_len);
    rc = scram_hmac(XS_SCRAM_SHA256, fake_key, sizeof(fake_key), msg,
        mech_len + 1 + user_len, mac);
    xs_free(msg);
    if (rc == XS_OK)
        memcpy(salt, mac, XS_SCRAM_SALT_LEN);
    sodium_memzero(mac, sizeof(mac));
    return rc;
}

/* ---- server ---------------------------------------------------------- */

enum scram_server_state {
    SS_START,           /* waiting for client-first */
    SS_NEED_CREDS,      /* client-first parsed, waiting for the caller */
    SS_SENT_FIRST,      /* server-first produced, waiting for client-final */
    SS_DONE,            /* finished, successfully or not */
};

struct xs_scram_server {
    enum xs_scram_hash       h;
    enum scram_server_state  state;
    bool                     is_fake;       /* unknown user: always fail */
    char                    *gs2_header;    /* owned: exactly as received */
    char                    *first_bare;    /* owned: client-first-bare */
    char                    *username;      /* owned: SASLprepped */
    char                    *authzid;       /* owned; NULL when absent */
    char                    *client_nonce;  /* owned */
    char                    *test_nonce;    /* owned; NULL unless testing */
    char                    *nonce;         /* owned: client + server part */
    char                    *server_first;  /* owned: copy for AuthMessage */
    unsigned char            stored_key[XS_SCRAM_MAX_HASH];
    unsigned char            server_key[XS_SCRAM_MAX_HASH];
};

struct xs_scram_server *
xs_scram_server_new(enum xs_scram_hash h)
{
    struct xs_scram_server *s;

    if (h >= XS_SCRAM__COUNT)
        return NULL;
    s = xs_calloc(1, sizeof(*s));
    s->h = h;
    s->state = SS_START;
    return s;
}

void
xs_scram_server_free(struct xs_scram_server *s)
{
    if (s == NULL)
        return;
    xs_free(s->gs2_header);
    xs_free(s->first_bare);
    xs_free(s->username);
    xs_free(s->authzid);
    xs_free(s->client_nonce);
    xs_free(s->test_nonce);
    xs_free(s->nonce);
    xs_free(s->server_first);
    sodium_memzero(s, sizeof(*s));
    xs_free(s);
}

/*
 * saslname (RFC 5802 section 7): ',' is "=2C", '=' is "=3D" (ABNF strings
 * are case-insensitive, so "=2c" too).  The result is non-empty UTF-8.
 */
static xs_rc
scram_saslname_decode(const char *p, size_t n, char **out)
{
    char *d;
    size_t j = 0;

    *out = NULL;
    if (n == 0)
        return XS_EINVAL;
    d = xs_malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        if (p[i] != '=') {
            d[j++] = p[i];
            continue;
        }
        if (n - i < 3)
            goto fail;
        if (p[i + 1] == '2' && (p[i + 2] == 'C' || p[i + 2] == 'c'))
            d[j++] = ',';
        else if (p[i + 1] == '3' && (p[i + 2] == 'D' || p[i + 2] == 'd'))
            d[j++] = '=';
        else
            goto fail;
        i += 2;
    }
    d[j] = '\0';
    if (j > SCRAM_NAME_MAX || !xs_scram_utf8_valid(d, j))
        goto fail;
    *out = d;
    return XS_OK;

fail:
    xs_free(d);
    return XS_EINVAL;
}

/* saslname encoding, for the client. */
static char *
scram_saslname_encode(const char *s)
{
    size_t n = 0;
    char *d, *q;

    for (const char *p = s; *p != '\0'; p++)
        n += (*p == ',' || *p == '=') ? 3 : 1;
    d = q = xs_malloc(n + 1);
    for (const char *p = s; *p != '\0'; p++) {
        if (*p == ',') {
            memcpy(q, "=2C", 3), q += 3;
        } else if (*p == '=') {
            memcpy(q, "=3D", 3), q += 3;
        } else {
            *q++ = *p;
        }
    }
    *q = '\0';
    return d;
}

/* The value of attribute `name` at *p ("x=value"), up to ',' or the end. */
static bool
scram_attr(const char **p, char name, const char **val, size_t *val_len)
{
    const char *s = *p, *e;

    if (s[0] != name || s[1] != '=')
        return false;
    s += 2;
    e = strchr(s, ',');
    if (e == NULL)
        e = s + strlen(s);
    *val = s;
    *val_len = (size_t)(e - s);
    *p = e;
    return true;
}

/* Extensions: ",x=value" ... to the end (RFC 5802 attr-val).  */
static bool
scram_extensions_valid(const char *p)
{
    while (*p == ',') {
        p++;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            || p[1] != '=')
            return false;
        p += 2;
        while (*p != '\0' && *p != ',')
            p++;
    }
    return *p == '\0';
}

/* A NUL-terminated copy of a message, or NULL when it holds a NUL. */
static char *
scram_msg_copy(const char *msg, size_t len)
{
    if (len == 0 || len > XS_SCRAM_MSG_MAX || memchr(msg, '\0', len) != NULL)
        return NULL;
    return xs_strndup(msg, len);
}

xs_rc
xs_scram_server_client_first(struct xs_scram_server *s, const char *msg,
    size_t len, const char **username, const char **authzid)
{
    const char *p, *val;
    char *m = NULL, *raw_user = NULL;
    size_t vlen;

    *username = NULL;
    *authzid = NULL;
    if (s->state != SS_START)
        goto fail;
    s->state = SS_DONE;             /* until this message parses */
    if ((m = scram_msg_copy(msg, len)) == NULL)
        goto fail;

    /* gs2-cbind-flag: "n" (client has no channel binding) or "y" (client
     * could, but thinks we cannot).  "p=" asks for a -PLUS mechanism that
     * we do not offer. */
    p = m;
    if ((p[0] != 'n' && p[0] != 'y') || p[1] != ',')
        goto fail;
    p += 2;
    if (p[0] == 'a' && p[1] == '=') {
        if (!scram_attr(&p, 'a', &val, &vlen) || *p != ',')
            goto fail;
        if (scram_saslname_decode(val, vlen, &s->authzid) != XS_OK)
            goto fail;
    } else if (*p != ',') {
        goto fail;
    }
    p++;
    s->gs2_header = xs_strndup(m, (size_t)(p - m));
    s->first_bare = xs_strdup(p);

    /* "m=" is reserved for mandatory extensions: none is defined. */
    if (!scram_attr(&p, 'n', &val, &vlen) || *p != ',')
        goto fail;
    if (scram_saslname_decode(val, vlen, &raw_user) != XS_OK)
        goto fail;
    if (xs_scram_saslprep(raw_user, strlen(raw_user), &s->username) != XS_OK)
        goto fail;
    p++;
    if (!scram_attr(&p, 'r', &val, &vlen) || vlen > SCRAM_NONCE_MAX
        || !scram_nonce_valid(val, vlen))
        goto fail;
    s->client_nonce = xs_strndup(val, vlen);
    if (!scram_extensions_valid(p))
        goto fail;

    xs_free(raw_user);
    xs_free(m);
    s->state = SS_NEED_CREDS;
    *username = s->username;
    *authzid = s->authzid;
    return XS_OK;

fail:
    xs_free(raw_user);
    xs_free(m);
    return XS_EINVAL;
}

xs_rc
xs_scram_server_set_nonce_for_test(struct xs_scram_server *s,
    const char *nonce)
{
    if (s->state == SS_SENT_FIRST || s->state == SS_DONE
        || !scram_nonce_valid(nonce, strlen(nonce)))
        return XS_EINVAL;
    xs_free(s->test_nonce);
    s->test_nonce = xs_strdup(nonce);
    return XS_OK;
}

xs_rc
xs_scram_server_set_keys(struct xs_scram_server *s, const unsigned char *salt,
    size_t salt_len, uint32_t iterations, const unsigned char *stored_key,
    const unsigned char *server_key, char **server_first)
{
    char *snonce = NULL, *salt_b64;
    size_t hl = xs_scram_hash_len(s->h);

    *server_first = NULL;
    if (s->state != SS_NEED_CREDS || salt_len == 0
        || salt_len > XS_SCRAM_SALT_MAX || iterations == 0)
        return XS_EINVAL;

    if (s->test_nonce != NULL)
        snonce = xs_strdup(s->test_nonce);
    else
        scram_random_nonce(&snonce);
    s->nonce = xs_asprintf("%s%s", s->client_nonce, snonce);
    xs_free(snonce);

    memcpy(s->stored_key, stored_key, hl);
    memcpy(s->server_key, server_key, hl);
    salt_b64 = scram_b64(salt, salt_len);
    s->server_first = xs_asprintf("r=%s,s=%s,i=%" PRIu32, s->nonce,
        salt_b64, iterations);
    xs_free(salt_b64);

    *server_first = xs_strdup(s->server_first);
    s->state = SS_SENT_FIRST;
    return XS_OK;
}

xs_rc
xs_scram_server_set_fake_creds(struct xs_scram_server *s,
    char **server_first)
{
    unsigned char salt[XS_SCRAM_SALT_LEN];
    unsigned char keys[2 * XS_SCRAM_MAX_HASH];
    xs_rc rc;

    *server_first = NULL;
    if (s->state != SS_NEED_CREDS)
        return XS_EINVAL;
    if ((rc = scram_fake_salt(s->h, s->username, salt)) != XS_OK)
        return rc;
    /* Random keys: the final step does the same work as for a real user
     * and its proof cannot match (is_fake makes sure of it). */
    randombytes_buf(keys, sizeof(keys));
    rc = xs_scram_server_set_keys(s, salt, sizeof(salt), fake_iter, keys,
        keys + XS_SCRAM_MAX_HASH, server_first);
    sodium_memzero(keys, sizeof(keys));
    s->is_fake = true;
    return rc;
}

xs_rc
xs_scram_server_set_creds(struct xs_scram_server *s,
    const struct xs_account_creds *c, char **server_first)
{
    *server_first = NULL;
    if (s->state != SS_NEED_CREDS)
        return XS_EINVAL;
    if (s->h == XS_SCRAM_SHA1) {
        if (c->sha1_iter == 0)
            return xs_scram_server_set_fake_creds(s, server_first);
        return xs_scram_server_set_keys(s, c->sha1_salt,
            sizeof(c->sha1_salt), c->sha1_iter, c->sha1_stored,
            c->sha1_server, server_first);
    }
    if (c->sha256_iter == 0)
        return xs_scram_server_set_fake_creds(s, server_first);
    return xs_scram_server_set_keys(s, c->sha256_salt,
        sizeof(c->sha256_salt), c->sha256_iter, c->sha256_stored,
        c->sha256_server, server_first);
}

/* AuthMessage = client-first-bare "," server-first "," final-without-proof */
static char *
scram_auth_message(const char *first_bare, const char *server_first,
    const char *final_wo_proof, size_t final_wo_proof_len)
{
    return xs_asprintf("%s,%s,%.*s", first_bare, server_first,
        (int)final_wo_proof_len, final_wo_proof);
}

xs_rc
xs_scram_server_client_final(struct xs_scram_server *s, const char *msg,
    size_t len, char **server_final)
{
    unsigned char cbind[XS_SCRAM_MSG_MAX];
    unsigned char proof[XS_SCRAM_MAX_HASH + 1];
    unsigned char sig[XS_SCRAM_MAX_HASH], client_key[XS_SCRAM_MAX_HASH];
    unsigned char stored[XS_SCRAM_MAX_HASH];
    size_t hl = xs_scram_hash_len(s->h), vlen, n, wo_proof_len = 0;
    const char *p, *val;
    char *m = NULL, *auth = NULL, *b64;
    xs_rc rc = XS_EINVAL;

    *server_final = NULL;
    if (s->state != SS_SENT_FIRST)
        return XS_EINVAL;
    s->state = SS_DONE;             /* one attempt per exchange */
    if ((m = scram_msg_copy(msg, len)) == NULL)
        goto done;

    /* c=: the gs2 header we received, base64, byte for byte (no channel
     * binding data as we offer no -PLUS). */
    p = m;
    if (!scram_attr(&p, 'c', &val, &vlen) || *p != ',')
        goto done;
    if (scram_unb64(val, vlen, cbind, sizeof(cbind), &n) != XS_OK
        || n != strlen(s->gs2_header)
        || memcmp(cbind, s->gs2_header, n) != 0)
        goto done;
    p++;
    if (!scram_attr(&p, 'r', &val, &vlen) || vlen != strlen(s->nonce)
        || memcmp(val, s->nonce, vlen) != 0)
        goto done;

    /* Extensions may come before the proof, which is always last. */
    for (;;) {
        if (*p != ',')
            goto done;
        if (p[1] == 'p' && p[2] == '=') {
            wo_proof_len = (size_t)(p - m);
            p++;
            break;
        }
        p++;
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            || p[1] != '=')
            goto done;
        while (*p != '\0' && *p != ',')
            p++;
    }
    if (!scram_attr(&p, 'p', &val, &vlen) || *p != '\0')
        goto done;
    if (scram_unb64(val, vlen, proof, sizeof(proof), &n) != XS_OK || n != hl)
        goto done;

    /* ClientKey = proof XOR HMAC(StoredKey, AuthMessage);
     * accept iff H(ClientKey) == StoredKey. */
    auth = scram_auth_message(s->first_bare, s->server_first, m,
        wo_proof_len);
    if ((rc = scram_hmac(s->h, s->stored_key, hl, auth, strlen(auth),
            sig)) != XS_OK)
        goto done;
    for (size_t i = 0; i < hl; i++)
        client_key[i] = proof[i] ^ sig[i];
    if ((rc = scram_digest(s->h, client_key, hl, stored)) != XS_OK)
        goto done;
    if (sodium_memcmp(stored, s->stored_key, hl) != 0 || s->is_fake) {
        rc = XS_EAUTH;
        goto done;
    }

    /* ServerSignature = HMAC(ServerKey, AuthMessage) */
    if ((rc = scram_hmac(s->h, s->server_key, hl, auth, strlen(auth),
            sig)) != XS_OK)
        goto done;
    b64 = scram_b64(sig, hl);
    *server_final = xs_asprintf("v=%s", b64);
    xs_free(b64);
    rc = XS_OK;

done:
    sodium_memzero(client_key, sizeof(client_key));
    sodium_memzero(sig, sizeof(sig));
    sodium_memzero(stored, sizeof(stored));
    sodium_memzero(s->stored_key, sizeof(s->stored_key));
    sodium_memzero(s->server_key, sizeof(s->server_key));
    xs_free(auth);
    xs_free(m);
    return rc;
}

/* ---- client cache ------------------------------------------------------ */

struct scram_cache_slot {
    bool          is_used;
    unsigned char id[32];
    unsigned char salted[XS_SCRAM_MAX_HASH];
};

struct xs_scram_cache {
    size_t                   slots;
    unsigned char            key[crypto_generichash_KEYBYTES];
    struct scram_cache_slot *v;             /* owned: slots entries */
};

struct xs_scram_cache *
xs_scram_cache_new(size_t slots)
{
    struct xs_scram_cache *cache;

    if (slots == 0)
        slots = 1;
    cache = xs_calloc(1, sizeof(*cache));
    cache->slots = slots;
    randombytes_buf(cache->key, sizeof(cache->key));
    cache->v = xs_reallocarray(NULL, slots, sizeof(cache->v[0]));
    memset(cache->v, 0, slots * sizeof(cache->v[0]));
    return cache;
}

void
xs_scram_cache_free(struct xs_scram_cache *cache)
{
    if (cache == NULL)
        return;
    sodium_memzero(cache->v, cache->slots * sizeof(cache->v[0]));
    xs_free(cache->v);
    sodium_memzero(cache, sizeof(*cache));
    xs_free(cache);
}

static void
scram_cache_id(const struct xs_scram_cache *cache, enum xs_scram_hash h,
    const char *password, const unsigned char *salt, size_t salt_len,
    uint32_t iter, unsigned char id[32])
{
    crypto_generichash_state st;
    unsigned char hdr[9];

    hdr[0] = (unsigned char)h;
    for (int i = 0; i < 4; i++) {
        hdr[1 + i] = (unsigned char)(iter >> (24 - 8 * i));
        hdr[5 + i] = (unsigned char)((uint32_t)salt_len >> (24 - 8 * i));
    }
    crypto_generichash_init(&st, cache->key, sizeof(cache->key), 32);
    crypto_generichash_update(&st, hdr, sizeof(hdr));
    crypto_generichash_update(&st, salt, salt_len);
    crypto_generichash_update(&st, (const unsigned char *)password,
        strlen(password));
    crypto_generichash_final(&st, id, 32);
    sodium_memzero(&st, sizeof(st));
}

static struct scram_cache_slot *
scram_cache_slot(struct xs_scram_cache *cache, const unsigned char id[32])
{
    uint64_t x = 0;

    for (int i = 0; i < 8; i++)
        x = (x << 8) | id[i];
    return &cache->v[x % cache->slots];
}

/* ---- client ------------------------------------------------------------ */

enum scram_client_state {
    SC_START, SC_SENT_FIRST, SC_SENT_FINAL, SC_DONE,
};

struct xs_scram_client {
    enum xs_scram_hash       h;
    enum scram_client_state  state;
    char                    *user;          /* owned: prepped, escaped */
    char                    *password;      /* owned: prepped; wiped */
    char                    *nonce;         /* owned: our client nonce */
    char                    *first_bare;    /* owned */
    struct xs_scram_cache   *cache;         /* borrowed; may be NULL */
    unsigned char            server_sig[XS_SCRAM_MAX_HASH];
};

struct xs_scram_client *
xs_scram_client_new(enum xs_scram_hash h, const char *user,
    const char *password)
{
    struct xs_scram_client *c;
    char *prepped_user = NULL, *prepped_pw = NULL;

    if (h >= XS_SCRAM__COUNT)
        return NULL;
    if (xs_scram_saslprep(user, strlen(user), &prepped_user) != XS_OK)
        return NULL;
    if (xs_scram_saslprep(password, strlen(password), &prepped_pw) != XS_OK) {
        xs_free(prepped_user);
        return NULL;
    }
    c = xs_calloc(1, sizeof(*c));
    c->h = h;
    c->state = SC_START;
    c->user = scram_saslname_encode(prepped_user);
    c->password = prepped_pw;
    xs_free(prepped_user);
    return c;
}

void
xs_scram_client_free(struct xs_scram_client *c)
{
    if (c == NULL)
        return;
    xs_free(c->user);
    scram_str_wipe_free(c->password);
    xs_free(c->nonce);
    xs_free(c->first_bare);
    sodium_memzero(c, sizeof(*c));
    xs_free(c);
}

void
xs_scram_client_set_cache(struct xs_scram_client *c,
    struct xs_scram_cache *cache)
{
    c->cache = cache;
}

xs_rc
xs_scram_client_set_nonce_for_test(struct xs_scram_client *c,
    const char *nonce)
{
    if (c->state != SC_START || !scram_nonce_valid(nonce, strlen(nonce)))
        return XS_EINVAL;
    xs_free(c->nonce);
    c->nonce = xs_strdup(nonce);
    return XS_OK;
}

char *
xs_scram_client_first(struct xs_scram_client *c)
{
    if (c->nonce == NULL)
        scram_random_nonce(&c->nonce);
    xs_free(c->first_bare);
    c->first_bare = xs_asprintf("n=%s,r=%s", c->user, c->nonce);
    c->state = SC_SENT_FIRST;
    return xs_asprintf("n,,%s", c->first_bare);
}

/* SaltedPassword, through the cache when there is one. */
static xs_rc
scram_client_salted(struct xs_scram_client *c, const unsigned char *salt,
    size_t salt_len, uint32_t iter, unsigned char *out)
{
    struct scram_cache_slot *slot = NULL;
    unsigned char id[32];
    size_t hl = xs_scram_hash_len(c->h);
    xs_rc rc;

    if (c->cache != NULL) {
        scram_cache_id(c->cache, c->h, c->password, salt, salt_len, iter, id);
        slot = scram_cache_slot(c->cache, id);
        if (slot->is_used && sodium_memcmp(slot->id, id, sizeof(id)) == 0) {
            memcpy(out, slot->salted, hl);
            return XS_OK;
        }
    }
    rc = xs_scram_salted_password(c->h, c->password, strlen(c->password),
        salt, salt_len, iter, out);
    if (rc == XS_OK && slot != NULL) {
        memcpy(slot->id, id, sizeof(id));
        memcpy(slot->salted, out, hl);
        slot->is_used = true;
    }
    return rc;
}

/* A decimal iteration count, no sign, no leading zero. */
static bool
scram_parse_iter(const char *p, size_t n, uint32_t *out)
{
    uint64_t v = 0;

    if (n == 0 || n > 10 || p[0] == '0')
        return false;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    if (v > UINT32_MAX)
        return false;
    *out = (uint32_t)v;
    return true;
}

xs_rc
xs_scram_client_final(struct xs_scram_client *c, const char *server_first,
    size_t len, char **client_final)
{
    unsigned char salt[XS_SCRAM_SALT_MAX];
    unsigned char salted[XS_SCRAM_MAX_HASH], client_key[XS_SCRAM_MAX_HASH];
    unsigned char stored[XS_SCRAM_MAX_HASH], server_key[XS_SCRAM_MAX_HASH];
    unsigned char sig[XS_SCRAM_MAX_HASH], proof[XS_SCRAM_MAX_HASH];
    size_t hl = xs_scram_hash_len(c->h), vlen, salt_len, nonce_len;
    const char *p, *val, *nonce;
    char *m = NULL, *wo_proof = NULL, *auth = NULL, *proof_b64 = NULL;
    uint32_t iter;
    xs_rc rc = XS_EINVAL;

    *client_final = NULL;
    if (c->state != SC_SENT_FIRST)
        return XS_EINVAL;
    c->state = SC_DONE;
    if ((m = scram_msg_copy(server_first, len)) == NULL)
        goto done;

    p = m;
    if (!scram_attr(&p, 'r', &nonce, &nonce_len) || *p != ',')
        goto done;
    /* The server's nonce must extend ours, by something. */
    if (nonce_len <= strlen(c->nonce) || nonce_len > 2 * SCRAM_NONCE_MAX
        || memcmp(nonce, c->nonce, strlen(c->nonce)) != 0
        || !scram_nonce_valid(nonce, nonce_len))
        goto done;
    p++;
    if (!scram_attr(&p, 's', &val, &vlen) || *p != ',')
        goto done;
    if (scram_unb64(val, vlen, salt, sizeof(salt), &salt_len) != XS_OK
        || salt_len == 0)
        goto done;
    p++;
    if (!scram_attr(&p, 'i', &val, &vlen) || !scram_parse_iter(val, vlen,
            &iter) || iter < XS_SCRAM_ITER_MIN || iter > XS_SCRAM_ITER_MAX)
        goto done;
    if (!scram_extensions_valid(p))
        goto done;

    if ((rc = scram_client_salted(c, salt, salt_len, iter, salted)) != XS_OK)
        goto done;
    if ((rc = scram_hmac(c->h, salted, hl, scram_client_key,
            sizeof(scram_client_key) - 1, client_key)) != XS_OK)
        goto done;
    if ((rc = scram_digest(c->h, client_key, hl, stored)) != XS_OK)
        goto done;
    if ((rc = scram_hmac(c->h, salted, hl, scram_server_key,
            sizeof(scram_server_key) - 1, server_key)) != XS_OK)
        goto done;

    /* "biws" is base64("n,,"): we never ask for channel binding. */
    wo_proof = xs_asprintf("c=biws,r=%.*s", (int)nonce_len, nonce);
    auth = scram_auth_message(c->first_bare, m, wo_proof, strlen(wo_proof));
    if ((rc = scram_hmac(c->h, stored, hl, auth, strlen(auth), sig)) != XS_OK)
        goto done;
    for (size_t i = 0; i < hl; i++)
        proof[i] = client_key[i] ^ sig[i];
    if ((rc = scram_hmac(c->h, server_key, hl, auth, strlen(auth),
            c->server_sig)) != XS_OK)
        goto done;

    proof_b64 = scram_b64(proof, hl);
    *client_final = xs_asprintf("%s,p=%s", wo_proof, proof_b64);
    c->state = SC_SENT_FINAL;
    rc = XS_OK;

done:
    sodium_memzero(salted, sizeof(salted));
    sodium_memzero(client_key, sizeof(client_key));
    sodium_memzero(stored, sizeof(stored));
    sodium_memzero(server_key, sizeof(server_key));
    sodium_memzero(sig, sizeof(sig));
    sodium_memzero(proof, sizeof(proof));
    xs_free(proof_b64);
    xs_free(auth);
    xs_free(wo_proof);
    xs_free(m);
    return rc;
}

xs_rc
xs_scram_client_verify(struct xs_scram_client *c, const char *server_final,
    size_t len)
{
    unsigned char v[XS_SCRAM_MAX_HASH + 1];
    size_t hl = xs_scram_hash_len(c->h), vlen, n;
    const char *p, *val;
    char *m;
    xs_rc rc = XS_EINVAL;

    if (c->state != SC_SENT_FINAL)
        return XS_EINVAL;
    c->state = SC_DONE;
    if ((m = scram_msg_copy(server_final, len)) == NULL)
        return XS_EINVAL;
    p = m;
    if (m[0] == 'e' && m[1] == '=') {
        rc = XS_EAUTH;                  /* server-error: it refused us */
    } else if (scram_attr(&p, 'v', &val, &vlen) && scram_extensions_valid(p)
        && scram_unb64(val, vlen, v, sizeof(v), &n) == XS_OK && n == hl) {
        rc = sodium_memcmp(v, c->server_sig, hl) == 0 ? XS_OK : XS_EAUTH;
    }
    sodium_memzero(c->server_sig, sizeof(c->server_sig));
    xs_free(m);
    return rc;
}
