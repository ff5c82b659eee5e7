/*
 * flag.h: signed trust flags on subscription requests (docs/trust-flags.md).
 *
 * Outgoing <presence type='subscribe'/> to another domain: strip what the
 * client put in our namespaces (xs_flag_strip), then add XEP-0489's
 * <info xmlns='urn:xmpp:raa:0'/> and our signed
 * <flag xmlns='urn:xmppd:trust:0'/> (xs_flag_attach).
 *
 * Incoming: xs_flag_from_stanza() finds and parses the flag (strictly:
 * bounded lengths, exact formats, JIDs already prepared), then
 * xs_flag_verify() checks it against the stream and the stanza, cheap
 * checks first, the signature before the nonce is recorded (so that bad
 * signatures cannot burn nonces).  Every outcome is a distinct result with
 * a static name (metrics) and text (logs, audit).
 *
 * Pure: no I/O, no loop, no clock of its own (`now` is wall seconds).
 */
#ifndef XMPPD_REPUTATION_FLAG_H
#define XMPPD_REPUTATION_FLAG_H

#include "reputation/replay.h"
#include "reputation/trustkey.h"
#include "xmppd/xml/elem.h"

#define XS_NS_RAA               "urn:xmpp:raa:0"
#define XS_FEATURE_TRUST        XS_NS_TRUST
#define XS_FEATURE_RAA_EMBED_SUB "urn:xmpp:raa:0#embed-presence-sub"

#define XS_FLAG_VERSION         "1"
#define XS_FLAG_JID_MAX         2047    /* bare JID: 1023 '@' 1023 */
#define XS_FLAG_AFFILIATION_MAX 10      /* "registered" */
#define XS_FLAG_NONCE_LEN       XS_REPLAY_NONCE_LEN
#define XS_FLAG_NONCE_B64_LEN   22      /* base64url, no padding */
#define XS_FLAG_SIG_B64_LEN     88      /* base64 with padding */
#define XS_FLAG_CANON_MAX       6144    /* canonical bytes, worst case */

/* Defaults for the options of the glue (docs/trust-flags.md, "Business
 * rules"). */
#define XS_FLAG_VALIDITY_S      3600    /* what we issue */
#define XS_FLAG_MAX_VALIDITY_S  86400   /* the longest we accept */
#define XS_FLAG_SKEW_S          300

enum xs_flag_result {
    XS_FLAG_OK,
    XS_FLAG_ABSENT,             /* no flag in the stanza */
    XS_FLAG_MALFORMED,          /* syntax, formats, lengths, two flags */
    XS_FLAG_UNSUPPORTED,        /* a version other than 1 */
    XS_FLAG_WRONG_ISSUER,       /* issuer is not the stream's domain */
    XS_FLAG_WRONG_RECIPIENT,    /* recipient is not the stanza's to */
    XS_FLAG_WRONG_SENDER,       /* sender is not the stanza's from */
    XS_FLAG_TOO_LONG,           /* expires - issued > max validity */
    XS_FLAG_NOT_YET_VALID,      /* issued > now + skew */
    XS_FLAG_EXPIRED,            /* expires + skew < now */
    XS_FLAG_REPLAYED,           /* (issuer, nonce) seen before */
    XS_FLAG_UNKNOWN_KEY,        /* no such key for the issuer */
    XS_FLAG_KEY_NOT_VALID,      /* issued outside the key's lifetime */
    XS_FLAG_BAD_SIGNATURE,
    XS_FLAG_REPLAY_FULL,        /* our replay cache is full: unverified */
    XS_FLAG__COUNT
};

/* "bad_signature" (metrics label); NULL out of range. */
const char *xs_flag_result_name(enum xs_flag_result r);
/* "signature does not verify" (logs, audit); NULL out of range. */
const char *xs_flag_result_text(enum xs_flag_result r);
/* Whether the result is the issuing domain's doing (a forged, altered,
 * misaddressed or replayed flag, sent over its authenticated stream):
 * evidence against it.  False for OK, ABSENT, UNSUPPORTED, UNKNOWN_KEY
 * (discovery may have failed), REPLAY_FULL (ours), and the two clock
 * results (skew and slow queues happen). */
bool        xs_flag_result_blames_issuer(enum xs_flag_result r);

/*
 * A flag: the attribute strings exactly as signed (each NUL-terminated;
 * "" for an absent optional one) and their decoded values.  Self-
 * contained (no pointer into the stanza), so the glue may keep it across
 * an asynchronous key discovery.  About 5.3 KB.
 */
struct xs_flag {
    char    v[2];
    char    issuer[XS_TRUST_DOMAIN_MAX + 1];
    char    key[XS_TRUSTKEY_ID_LEN + 1];
    char    sender[XS_FLAG_JID_MAX + 1];
    char    recipient[XS_FLAG_JID_MAX + 1];
    char    affiliation[XS_FLAG_AFFILIATION_MAX + 1];
    char    since[XS_TRUST_TIME_LEN + 1];       /* optional */
    char    trust[4];                           /* optional: "0".."100" */
    char    issued[XS_TRUST_TIME_LEN + 1];
    char    expires[XS_TRUST_TIME_LEN + 1];
    char    nonce[XS_FLAG_NONCE_B64_LEN + 1];
    char    sig[XS_FLAG_SIG_B64_LEN + 1];

    bool    has_since;
    bool    has_trust;
    int64_t since_t;                            /* wall seconds */
    int     trust_n;                            /* 0..100 */
    int64_t issued_t;
    int64_t expires_t;
    uint8_t nonce_raw[XS_FLAG_NONCE_LEN];
    uint8_t sig_raw[XS_TRUSTKEY_SIG_LEN];
};

/* ---- Issuing ---- */

/* What the issuer states: strings borrowed. */
struct xs_flag_claim {
    const char *issuer;         /* a domain of the key store */
    const char *sender;         /* prepared bare JID at issuer */
    const char *recipient;      /* prepared bare JID */
    const char *affiliation;    /* anonymous, registered, member, admin */
    int64_t     since;          /* account creation, wall s; written
                                   truncated to the day; < 0: omitted */
    int         trust;          /* 0..100; < 0: omitted */
    int64_t     issued;         /* wall seconds */
    int64_t     expires;        /* > issued */
};

/*
 * The unsigned flag for claim with the given nonce and key id (sig left
 * empty): XS_EINVAL for a claim this module would itself refuse (the
 * same rules as xs_flag_parse).  For tests and test vectors; the server
 * uses xs_flag_build.
 */
xs_rc xs_flag_fill(const struct xs_flag_claim *c,
          const uint8_t nonce[XS_FLAG_NONCE_LEN], const char *key_id,
          struct xs_flag *out);

/* The canonical bytes of f (docs/trust-flags.md, "Canonical bytes") into
 * out[0..cap): their length, or 0 if cap is too small (never with
 * XS_FLAG_CANON_MAX).  Not NUL-terminated. */
size_t xs_flag_canonical(const struct xs_flag *f, char *out, size_t cap);

/* The <info xmlns='urn:xmpp:raa:0'/> and <flag/> elements of a signed
 * (or verified) flag. */
struct xs_elem *xs_flag_info_elem(const struct xs_flag *f);
struct xs_elem *xs_flag_elem(const struct xs_flag *f);

/*
 * A fresh flag for claim: random nonce, signed with the issuer's current
 * key; *info and *flag are new elements (the caller owns them).
 * XS_EINVAL for a bad claim, XS_ENOTFOUND if keys holds no key for the
 * issuer.  *out (may be NULL) gets the flag as signed.
 */
xs_rc xs_flag_build(const struct xs_flag_claim *c,
          const struct xs_trustkey_store *keys, struct xs_elem **info,
          struct xs_elem **flag, struct xs_flag *out);
/* The same, appending both to presence (after what is there). */
xs_rc xs_flag_attach(struct xs_elem *presence,
          const struct xs_flag_claim *c, const struct xs_trustkey_store *keys);

/* Remove every direct child of stanza in urn:xmppd:trust:0 or
 * urn:xmpp:raa:0 (what a client put there must not pass); returns how
 * many went. */
size_t xs_flag_strip(struct xs_elem *stanza);

/* ---- Receiving ---- */

/*
 * Parse a <flag xmlns='urn:xmppd:trust:0'/> element into *out.  XS_FLAG_OK,
 * XS_FLAG_UNSUPPORTED (v is not "1"), or XS_FLAG_MALFORMED with *why (may
 * be NULL) set to a static reason ("trust out of 0..100").
 */
enum xs_flag_result xs_flag_parse(const struct xs_elem *el,
                        struct xs_flag *out, const char **why);
/* The stanza's one flag, parsed: XS_FLAG_ABSENT when it has none,
 * XS_FLAG_MALFORMED when it has more than one; else as xs_flag_parse. */
enum xs_flag_result xs_flag_from_stanza(const struct xs_elem *stanza,
                        struct xs_flag *out, const char **why);

/*
 * Public key lookup for verification: (issuer domain, key id) -> true and
 * *out (the key and its lifetime), or false when not known.  The glue
 * backs it with pinned keys, then the discovery cache.
 */
typedef bool xs_flag_key_fn(void *udata, const char *domain,
                 const char *key_id, int64_t now,
                 struct xs_trust_pubkey *out);
/* An xs_flag_key_fn over a key store (udata: the store): our own
 * domains' flags, tests. */
bool xs_flag_key_from_store(void *udata, const char *domain,
         const char *key_id, int64_t now, struct xs_trust_pubkey *out);

struct xs_flag_verifier {
    int64_t           skew_s;           /* allowed clock skew, >= 0 */
    int64_t           max_validity_s;   /* longest expires - issued */
    xs_flag_key_fn   *key_lookup;
    void             *key_udata;        /* borrowed */
    struct xs_replay *replay;           /* borrowed */
};

/*
 * Verify f, received in a stanza from from_bare to to_bare (both prepared
 * bare JIDs) over a stream authenticated for stream_domain.  In order:
 * issuer, recipient, sender, validity length, not yet valid, expired,
 * replay (look only), key, key lifetime, signature, then the nonce is
 * recorded (REPLAYED or REPLAY_FULL if that fails).  OK only when all
 * pass.
 */
enum xs_flag_result xs_flag_verify(const struct xs_flag_verifier *v,
                        const struct xs_flag *f, const char *stream_domain,
                        const char *from_bare, const char *to_bare,
                        int64_t now);

#endif
