/*
 * scram.h: SCRAM-SHA-1 and SCRAM-SHA-256 (RFC 5802, RFC 7677) without
 * channel binding: stored credentials, the server side of the exchange
 * and a client side for the load generator and the tests.
 *
 * The server never sees or stores a password: the database holds salt,
 * iteration count, StoredKey and ServerKey per hash (struct
 * xs_account_creds).  Only xs_scram_creds_derive() and
 * xs_scram_creds_check_password() run PBKDF2; both are pure functions of
 * their arguments and may run on a worker thread.
 *
 * Server exchange, with the asynchronous credentials lookup in the middle:
 *
 *     s = xs_scram_server_new(XS_SCRAM_SHA256);
 *     rc = xs_scram_server_client_first(s, msg, len, &user, &authzid);
 *     ... XS_EINVAL: malformed-request.  Otherwise check authzid (NULL or
 *     ... the user's own bare JID), fetch the credentials of `user`, then:
 *     rc = found ? xs_scram_server_set_creds(s, &creds, &first)
 *                : xs_scram_server_set_fake_creds(s, &first);
 *     ... send `first` as a challenge, free it; on the client's response:
 *     rc = xs_scram_server_client_final(s, msg, len, &final);
 *     ... XS_OK: success with `final` (v=...) as additional data;
 *     ... XS_EAUTH: not-authorized; XS_EINVAL: malformed-request.
 *     xs_scram_server_free(s);
 *
 * Every message is (pointer, length) as decoded from base64; a message
 * holding a NUL byte is malformed.  Returned strings are NUL-terminated,
 * owned by the caller and freed with xs_free().
 */
#ifndef XMPPD_C2S_SCRAM_H
#define XMPPD_C2S_SCRAM_H

#include "xmppd/core/xs.h"

#include "db/accounts.h"

enum xs_scram_hash {
    XS_SCRAM_SHA1,
    XS_SCRAM_SHA256,
    XS_SCRAM__COUNT
};

#define XS_SCRAM_MAX_HASH       32          /* SHA-256 output */
#define XS_SCRAM_SALT_LEN       16          /* what we generate */
#define XS_SCRAM_SALT_MAX       64          /* what we accept from a server */
#define XS_SCRAM_ITER_DEFAULT   4096u
#define XS_SCRAM_ITER_MIN       4096u       /* RFC 7677 section 4 */
#define XS_SCRAM_ITER_MAX       1000000u    /* a server cannot make us spin */
#define XS_SCRAM_MSG_MAX        4096        /* any one SCRAM message */

/* 20 or 32. */
size_t      xs_scram_hash_len(enum xs_scram_hash h);
/* "SCRAM-SHA-1" or "SCRAM-SHA-256". */
const char *xs_scram_hash_mech(enum xs_scram_hash h);

/*
 * SASLprep (RFC 4013, query profile: unassigned code points allowed) of
 * len bytes of UTF-8.  XS_EINVAL for a NUL byte, invalid UTF-8, a
 * prohibited character or an empty result.  *out is new (xs_free; wipe
 * it first when it is a password).
 */
xs_rc xs_scram_saslprep(const char *in, size_t len, char **out);
/* Strict UTF-8 (no overlongs, no surrogates, nothing above U+10FFFF). */
bool  xs_scram_utf8_valid(const char *s, size_t len);

/* ---- Stored credentials -------------------------------------------- */

/*
 * Fill both the SHA-1 and SHA-256 halves of *out from a password that is
 * already SASLprepped, each with its own random 16-byte salt.  iterations
 * must be within [XS_SCRAM_ITER_MIN, XS_SCRAM_ITER_MAX] (XS_EINVAL
 * otherwise, and for an empty password).  Intermediates are wiped.
 */
xs_rc xs_scram_creds_derive(const char *password, uint32_t iterations,
    struct xs_account_creds *out);

/*
 * Check a plaintext password (already SASLprepped) against stored
 * credentials: SaltedPassword from the stored salt and iteration count,
 * then StoredKey, compared with sodium_memcmp.  Uses the SHA-256 half,
 * or the SHA-1 half when the account has no SHA-256 one (iter == 0).
 * XS_OK on a match, XS_EAUTH otherwise (also when no half is usable).
 * c == NULL means "no such user": the same PBKDF2 work is done against
 * fake credentials, so timing does not tell, and the answer is XS_EAUTH.
 */
xs_rc xs_scram_creds_check_password(const struct xs_account_creds *c,
    const char *password);

/*
 * The building block of both: SaltedPassword = Hi(password, salt, iter)
 * (out holds xs_scram_hash_len(h) bytes) and StoredKey/ServerKey from it.
 */
xs_rc xs_scram_salted_password(enum xs_scram_hash h, const char *password,
    size_t password_len, const unsigned char *salt, size_t salt_len,
    uint32_t iterations, unsigned char *out);
xs_rc xs_scram_keys_from_salted(enum xs_scram_hash h,
    const unsigned char *salted, unsigned char *stored_key,
    unsigned char *server_key);

/*
 * Unknown users get a salt that is stable per (hash, username), an HMAC
 * of the username under a secret key.  The key is random per process by
 * default; nodes of one domain sharing a database should share it too
 * (32 bytes from configuration), or a prober could compare answers from
 * two nodes.  The fake iteration count should match what real accounts
 * use (default XS_SCRAM_ITER_DEFAULT).  Call these at start-up only.
 */
void xs_scram_fake_key_set(const unsigned char key[32]);
void xs_scram_fake_iter_set(uint32_t iterations);

/* ---- Server side ----------------------------------------------------- */

struct xs_scram_server;

/* NULL for an unknown hash. */
struct xs_scram_server *xs_scram_server_new(enum xs_scram_hash h);
/* Wipes the keys it held; NULL is a no-op. */
void xs_scram_server_free(struct xs_scram_server *s);

/*
 * Parse client-first-message.  gs2 header "n,," or "y,," (optionally with
 * "a=authzid"), never "p=" (we offer no -PLUS mechanism), no "m=".  On
 * XS_OK *username is the SASLprepped username and *authzid the decoded
 * authzid or NULL; both stay owned by s and valid until it is freed.
 * XS_EINVAL for a malformed message (or one arriving out of order).
 */
xs_rc xs_scram_server_client_first(struct xs_scram_server *s,
    const char *msg, size_t len, const char **username,
    const char **authzid);

/*
 * Continue with the user's stored credentials (the half matching the
 * server's hash).  *server_first is the next challenge, owned by the
 * caller.  An account without that half (iter == 0) is answered like an
 * unknown user.  XS_EINVAL when called out of order.
 */
xs_rc xs_scram_server_set_creds(struct xs_scram_server *s,
    const struct xs_account_creds *c, char **server_first);

/*
 * The same with explicit keys, for salts of other lengths (credentials
 * imported from other servers).  stored_key and server_key hold
 * xs_scram_hash_len() bytes; salt_len is 1..XS_SCRAM_SALT_MAX.
 */
xs_rc xs_scram_server_set_keys(struct xs_scram_server *s,
    const unsigned char *salt, size_t salt_len, uint32_t iterations,
    const unsigned char *stored_key, const unsigned char *server_key,
    char **server_first);

/*
 * Continue for a user that does not exist: a server-first message that
 * looks like a real one (stable fake salt, same iteration count); the
 * final step then fails with XS_EAUTH, as for a wrong password.
 */
xs_rc xs_scram_server_set_fake_creds(struct xs_scram_server *s,
    char **server_first);

/*
 * Parse client-final-message, check channel binding and nonce, verify
 * the proof.  XS_OK with *server_final ("v=...", owned by the caller);
 * XS_EAUTH for a wrong proof or a fake user; XS_EINVAL for a malformed
 * message.  The exchange is over after this call, whatever its result.
 */
xs_rc xs_scram_server_client_final(struct xs_scram_server *s,
    const char *msg, size_t len, char **server_final);

/*
 * TEST ONLY: use this server nonce part (printable, no ',') instead of
 * 24 random bytes, to reproduce published test vectors.  Call before
 * set_creds.  Never call it from the server.
 */
xs_rc xs_scram_server_set_nonce_for_test(struct xs_scram_server *s,
    const char *nonce);

/* ---- Client side ----------------------------------------------------- */

/*
 * A cache of SaltedPassword values keyed by (hash, password, salt,
 * iterations), so a load generator logging in thousands of times runs
 * PBKDF2 once per account.  Direct-mapped with `slots` entries: a
 * collision evicts.  The key is a keyed BLAKE2b of those inputs, so the
 * cache holds no password.  Not thread-safe; one per thread.
 */
struct xs_scram_cache;

struct xs_scram_cache *xs_scram_cache_new(size_t slots);
void xs_scram_cache_free(struct xs_scram_cache *cache);    /* wipes */

struct xs_scram_client;

/*
 * user and password are SASLprepped here (query profile); NULL when either
 * fails preparation or is empty, or for an unknown hash.
 */
struct xs_scram_client *xs_scram_client_new(enum xs_scram_hash h,
    const char *user, const char *password);
/* Wipes; NULL is a no-op. */
void xs_scram_client_free(struct xs_scram_client *c);

/* Use cache (borrowed; must outlive c) for SaltedPassword. */
void xs_scram_client_set_cache(struct xs_scram_client *c,
    struct xs_scram_cache *cache);

/* client-first-message "n,,n=user,r=nonce", owned by the caller. */
char *xs_scram_client_first(struct xs_scram_client *c);

/*
 * From server-first-message to client-final-message (owned by the
 * caller).  XS_EINVAL for a malformed server-first, a nonce that does not
 * extend ours, or an iteration count outside
 * [XS_SCRAM_ITER_MIN, XS_SCRAM_ITER_MAX].
 */
xs_rc xs_scram_client_final(struct xs_scram_client *c,
    const char *server_first, size_t len, char **client_final);

/*
 * Check server-final-message: XS_OK when v= proves the server knew our
 * ServerKey, XS_EAUTH for a wrong v= or an "e=" error, XS_EINVAL when
 * malformed or out of order.
 */
xs_rc xs_scram_client_verify(struct xs_scram_client *c,
    const char *server_final, size_t len);

/* TEST ONLY: use this client nonce; call before xs_scram_client_first. */
xs_rc xs_scram_client_set_nonce_for_test(struct xs_scram_client *c,
    const char *nonce);

#endif
