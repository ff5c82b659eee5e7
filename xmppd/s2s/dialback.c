/* dialback.c: XEP-0185 dialback keys with OpenSSL's HMAC-SHA256. */
#include "xmppd/s2s/dialback.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <string.h>

#define DIALBACK_RANDOM_SECRET 32

static char *secret;            /* owned; wiped when replaced */
static size_t secret_len;

void
xs_dialback_clear_secret(void)
{
    if (secret != NULL) {
        sodium_memzero(secret, secret_len);
        xs_free(secret);
    }
    secret = NULL;
    secret_len = 0;
}

void
xs_dialback_set_secret(const char *s)
{
    xs_dialback_clear_secret();
    if (s != NULL) {
        secret_len = strlen(s);
        secret = xs_malloc(secret_len + 1);
        memcpy(secret, s, secret_len + 1);
        return;
    }
    /* Hex, so that a random secret is used exactly as a configured one. */
    {
        unsigned char raw[DIALBACK_RANDOM_SECRET];

        randombytes_buf(raw, sizeof(raw));
        secret_len = 2 * sizeof(raw);
        secret = xs_malloc(secret_len + 1);
        sodium_bin2hex(secret, secret_len + 1, raw, sizeof(raw));
        sodium_memzero(raw, sizeof(raw));
    }
}

void
xs_dialback_key_with(const char *sec, size_t sec_len, const char *receiving,
    const char *originating, const char *stream_id,
    char out[XS_DIALBACK_KEY_LEN])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    char hkey[2 * SHA256_DIGEST_LENGTH + 1];
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned int mac_len = 0;
    char *data;

    SHA256((const unsigned char *)sec, sec_len, digest);
    sodium_bin2hex(hkey, sizeof(hkey), digest, sizeof(digest));
    data = xs_asprintf("%s %s %s", receiving, originating, stream_id);
    HMAC(EVP_sha256(), hkey, (int)strlen(hkey), (const unsigned char *)data,
        strlen(data), mac, &mac_len);
    xs_assert(mac_len == SHA256_DIGEST_LENGTH);
    sodium_bin2hex(out, XS_DIALBACK_KEY_LEN, mac, mac_len);
    sodium_memzero(hkey, sizeof(hkey));
    sodium_memzero(digest, sizeof(digest));
    xs_free(data);
}

void
xs_dialback_key(const char *receiving, const char *originating,
    const char *stream_id, char out[XS_DIALBACK_KEY_LEN])
{
    if (secret == NULL)
        xs_dialback_set_secret(NULL);
    xs_dialback_key_with(secret, secret_len, receiving, originating,
        stream_id, out);
}

bool
xs_dialback_key_ok(const char *receiving, const char *originating,
    const char *stream_id, const char *key)
{
    char want[XS_DIALBACK_KEY_LEN];
    bool ok;

    if (key == NULL || strlen(key) != XS_DIALBACK_KEY_LEN - 1)
        return false;
    xs_dialback_key(receiving, originating, stream_id, want);
    ok = sodium_memcmp(want, key, XS_DIALBACK_KEY_LEN - 1) == 0;
    sodium_memzero(want, sizeof(want));
    return ok;
}
