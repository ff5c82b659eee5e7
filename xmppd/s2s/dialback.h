/*
 * dialback.h: Server Dialback keys (XEP-0220 with XEP-0185 generation).
 *
 *   key = HEX(HMAC-SHA256(HEX(SHA256(secret)),
 *                         receiving + " " + originating + " " + stream_id))
 *
 * The secret is `s2s_dialback_secret` (shared by a cluster) or 32 random
 * bytes drawn once per process.
 */
#ifndef XMPPD_S2S_DIALBACK_H
#define XMPPD_S2S_DIALBACK_H

#include "xmppd/core/xs.h"

/* 64 lowercase hex digits and a NUL. */
#define XS_DIALBACK_KEY_LEN 65

/* Set the process secret (NULL: random).  Copies it. */
void xs_dialback_set_secret(const char *secret);
/* Forget (and wipe) the secret. */
void xs_dialback_clear_secret(void);

/* The key under an explicit secret (tests, and the above). */
void xs_dialback_key_with(const char *secret, size_t secret_len,
    const char *receiving, const char *originating, const char *stream_id,
    char out[XS_DIALBACK_KEY_LEN]);
/* The key under the process secret. */
void xs_dialback_key(const char *receiving, const char *originating,
    const char *stream_id, char out[XS_DIALBACK_KEY_LEN]);
/* Whether key is the right one, in constant time (sodium_memcmp). */
bool xs_dialback_key_ok(const char *receiving, const char *originating,
    const char *stream_id, const char *key);

#endif
