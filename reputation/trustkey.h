/*
 * trustkey.h: the Ed25519 keys with which each hosted domain signs its
 * trust flags (docs/trust-flags.md), and the shared pieces of the wire
 * format: key ids, XEP-0082 times, strict base64.
 *
 * A store holds, per hosted domain, one current key (signs) and the keys
 * it replaced (verify only), each until retired + keep_s, where keep_s is
 * the longest validity a flag may have plus the allowed clock skew: a flag
 * signed just before a rotation stays verifiable for as long as it is
 * valid, and not a second longer.
 *
 * On disk: <dir>/<domain>/ (mode 0700), one file <id>.key per key
 * (mode 0600, owned by the server's user; a key file that the group or
 * others may read is refused, as ssh refuses a private key), text:
 *
 *     # xmppd trust key (urn:xmppd:trust:0): keep it private
 *     version=1
 *     domain=a.example
 *     id=Ab3dEf7hIj_L
 *     created=2026-11-27T10:00:00Z
 *     retired=2026-12-01T00:00:00Z
 *     public=<base64 of the 32-byte Ed25519 public key>
 *     secret=<base64 of the 32-byte Ed25519 private key (RFC 8032 seed)>
 *
 * Lines are name=value, in any order, each at most once; '#' starts a
 * comment line; blank lines are ignored; any other line makes the file
 * corrupt.  `retired` is absent while the key is current; a retired key's
 * file carries no `secret` (it only verifies).  id must be the key id of
 * public, and public the key of secret.  A newer key's creation retires
 * an older one that is not marked (a rotation cut short by a crash).
 * Files named *.key.tmp are unfinished writes and are deleted at load.
 *
 * Threads: everything here runs on the loop except
 * xs_trustkey_rotation_write(), which is meant for a worker.  Loading
 * (at start, before the loop serves anyone) and pruning do plain file
 * I/O; signing, lookups and listing touch memory only.
 */
#ifndef XMPPD_REPUTATION_TRUSTKEY_H
#define XMPPD_REPUTATION_TRUSTKEY_H

#include "xmppd/core/xs.h"

#define XS_NS_TRUST             "urn:xmppd:trust:0"

#define XS_TRUSTKEY_ID_LEN      12  /* base64url of 9 bytes, no padding */
#define XS_TRUSTKEY_PK_LEN      32  /* crypto_sign_PUBLICKEYBYTES */
#define XS_TRUSTKEY_SIG_LEN     64  /* crypto_sign_BYTES */
#define XS_TRUST_TIME_LEN       20  /* "YYYY-MM-DDThh:mm:ssZ" */
#define XS_TRUST_DOMAIN_MAX     1023
#define XS_TRUSTKEY_FILE_MAX    4096

/* A public key with its validity: what the discovery IQ tells and what a
 * verifier needs. */
struct xs_trust_pubkey {
    char     id[XS_TRUSTKEY_ID_LEN + 1];
    uint8_t  pk[XS_TRUSTKEY_PK_LEN];
    int64_t  created;       /* wall seconds */
    int64_t  retired;       /* wall seconds; 0 while current */
    int64_t  valid_until;   /* retired + keep_s: it verifies until then;
                               0 while current */
};

struct xs_trustkey_opts {
    const char *dir;            /* borrowed: e.g. "var/keys" */
    int64_t     max_validity_s; /* longest flag validity (issued to
                                   expires) accepted and issued */
    int64_t     skew_s;         /* allowed clock skew */
};

struct xs_trustkey_store;

/*
 * Open the keys of every domain in domains[0..n) (prepared domain names),
 * creating directories and a first key where there is none, deleting key
 * files whose verification window has ended and stale *.key.tmp files.
 * For start-up only (file I/O).  On failure (XS_EINVAL: a corrupt file,
 * wrong permissions, a bad domain name; XS_EIO: a system call failed),
 * err gets one line naming the file and the problem, and *out is NULL.
 */
xs_rc xs_trustkey_store_load(const struct xs_trustkey_opts *opts,
          const char *const *domains, size_t ndomains, int64_t now,
          struct xs_trustkey_store **out, char *err, size_t errlen);
/* Wipes every secret; NULL is a no-op.  A rotation in flight keeps its
 * own copies and must still be finished or abandoned. */
void  xs_trustkey_store_free(struct xs_trustkey_store *s);

bool  xs_trustkey_store_has(const struct xs_trustkey_store *s,
          const char *domain);

/* The id of domain's current key: true and *id, or false for a domain
 * the store does not hold. */
bool  xs_trustkey_current(const struct xs_trustkey_store *s,
          const char *domain, char id[XS_TRUSTKEY_ID_LEN + 1]);

/*
 * Sign msg[0..len) with domain's key key_id, which must be the current
 * one (the id is part of what a flag signs, so the caller asks for it
 * first with xs_trustkey_current).  XS_ENOTFOUND for a domain the store
 * does not hold or a key that is not (or no longer) current.
 */
xs_rc xs_trustkey_sign(const struct xs_trustkey_store *s, const char *domain,
          const char *key_id, const void *msg, size_t len,
          uint8_t sig[XS_TRUSTKEY_SIG_LEN]);

/* The key (domain, id) if it verifies at `now` (current, or retired and
 * now <= valid_until): true and *out, else false. */
bool  xs_trustkey_lookup(const struct xs_trustkey_store *s,
          const char *domain, const char *id, int64_t now,
          struct xs_trust_pubkey *out);

/* domain's keys that verify at now, current first, at most max of them
 * into out; returns how many.  0 for a domain the store does not hold. */
size_t xs_trustkey_list(const struct xs_trustkey_store *s,
           const char *domain, int64_t now, struct xs_trust_pubkey *out,
           size_t max);

/*
 * Rotation, in three steps so that the file writes can run on a worker:
 * - begin (loop): generates the new key (created = now, or just after
 *   the current key's creation if the clock went back), and notes what
 *   to write; XS_ENOTFOUND for an unknown domain, XS_ELIMIT while another
 *   rotation of the domain is in flight.
 * - write (worker, or anywhere): writes the new key file, rewrites the
 *   old current key's file as retired (without its secret), deletes the
 *   domain's files whose window has ended.  Touches only *rot.
 * - finish (loop): if the new key's file was written, it becomes current
 *   and the old one verifies until now + keep_s.  Returns the write's
 *   status (err gets the line; XS_EIO if write never ran, which is how to
 *   abandon a rotation while the store lives); frees rot either way.
 * xs_trustkey_rotate() does the three at once (tests, start-up, xmppctl
 * against a stopped server).
 */
struct xs_trustkey_rotation;
xs_rc xs_trustkey_rotate_begin(struct xs_trustkey_store *s,
          const char *domain, int64_t now,
          struct xs_trustkey_rotation **out);
void  xs_trustkey_rotation_write(struct xs_trustkey_rotation *rot);
xs_rc xs_trustkey_rotate_finish(struct xs_trustkey_store *s,
          struct xs_trustkey_rotation *rot, char *err, size_t errlen);
/* The new key's id (valid between begin and finish). */
const char *xs_trustkey_rotation_id(const struct xs_trustkey_rotation *rot);
/* Abandon a rotation without finishing it (the store is gone: shutdown);
 * wipes the new secret.  Files it wrote stay, and the next load takes
 * them up.  NULL is a no-op. */
void  xs_trustkey_rotation_free(struct xs_trustkey_rotation *rot);
xs_rc xs_trustkey_rotate(struct xs_trustkey_store *s, const char *domain,
          int64_t now, char *err, size_t errlen);

/* Forget retired keys past their window and delete their files (a few
 * unlink(2) calls: call it rarely, e.g. from an hourly timer).  Returns
 * how many keys went. */
size_t xs_trustkey_prune(struct xs_trustkey_store *s, int64_t now);

/* ---- Wire format helpers (docs/trust-flags.md) ---- */

/* The key id of pk: base64url, no padding, of the first 9 bytes of
 * SHA-256(pk). */
void  xs_trustkey_id_of(const uint8_t pk[XS_TRUSTKEY_PK_LEN],
          char id[XS_TRUSTKEY_ID_LEN + 1]);

/* XEP-0082 UTC time exactly as "YYYY-MM-DDThh:mm:ssZ" (years 1970 to
 * 9999, no fractions, no offset, no leap second).  format: false out of
 * range. */
bool  xs_trust_time_format(int64_t t, char out[XS_TRUST_TIME_LEN + 1]);
bool  xs_trust_time_parse(const char *s, int64_t *out);

/*
 * Strict base64: s must be exactly the canonical encoding of exactly n
 * bytes (standard alphabet with padding when url is false; base64url
 * without padding when true).  No whitespace, no other length.
 */
bool  xs_trust_b64_decode(const char *s, bool url, uint8_t *out, size_t n);
/* out must hold the encoded length + 1 (sodium_base64_ENCODED_LEN). */
void  xs_trust_b64_encode(const uint8_t *in, size_t n, bool url, char *out,
          size_t outlen);

#endif
