/*
 * sasl.h: the SASL layer of a c2s stream (RFC 6120 section 6): the
 * mechanisms SCRAM-SHA-256, SCRAM-SHA-1 and PLAIN behind one state object
 * that takes and gives the base64 text of <auth/>, <response/>,
 * <challenge/> and <success/> and names the <failure/> condition.
 *
 * Every call returns what the stream does next:
 *
 *   XS_SASL_NEED_CREDS  look up xs_sasl_username() (asynchronously), then
 *                       call xs_sasl_set_creds() with the credentials, or
 *                       with NULL when there is no such account;
 *   XS_SASL_CHALLENGE   send <challenge>xs_sasl_payload()</challenge>;
 *   XS_SASL_SUCCESS     send <success>payload</success>, or <success/> when
 *                       xs_sasl_payload() is NULL; the stream is now
 *                       authenticated as xs_sasl_username();
 *   XS_SASL_FAILURE     send <failure><xs_sasl_cond_name(...)/></failure>.
 *
 * The username is SASLprepped, not yet a JID localpart: the stream
 * nodepreps it (xs_jid_nodeprep) for the lookup and the bound JID, and
 * fails with not-authorized if that fails.  An authzid, if any, must
 * equal the user's own bare JID (the stream checks it at NEED_CREDS and
 * calls xs_sasl_fail(s, XS_SASL_COND_INVALID_AUTHZID) otherwise).
 *
 * Usage in the stream state machine (error handling trimmed):
 *
 *     // <auth mechanism='M'>text</auth>
 *     enum xs_sasl_mech m;
 *     if (xs_sasl_mech_by_name(mech_attr, &m) != XS_OK
 *         || !xs_sasl_mech_offered(m, conn_is_tls))
 *         return send_failure("invalid-mechanism");
 *     st->sasl = xs_sasl_new(m);
 *     sasl_act(st, xs_sasl_start(st->sasl, text));   // text may be NULL
 *
 *     // <response>text</response>
 *     sasl_act(st, xs_sasl_step(st->sasl, text));
 *
 *     // <abort/>
 *     sasl_act(st, xs_sasl_fail(st->sasl, XS_SASL_COND_ABORTED));
 *
 *     static void
 *     sasl_act(struct c2s *st, enum xs_sasl_status r)
 *     {
 *         const char *p = xs_sasl_payload(st->sasl);
 *
 *         switch (r) {
 *         case XS_SASL_NEED_CREDS:
 *             if (!authzid_ok(st, xs_sasl_authzid(st->sasl))) {
 *                 sasl_act(st, xs_sasl_fail(st->sasl,
 *                     XS_SASL_COND_INVALID_AUTHZID));
 *                 return;
 *             }
 *             c2s_pause(st);  // then, in the database callback:
 *             //   creds found:  sasl_act(st, xs_sasl_set_creds(sasl, &c));
 *             //   no account:   sasl_act(st, xs_sasl_set_creds(sasl, NULL));
 *             //   db error:     sasl_act(st, xs_sasl_fail(sasl,
 *             //                     XS_SASL_COND_TEMPORARY_AUTH_FAILURE));
 *             db_creds_by_user(st, xs_sasl_username(st->sasl), ...);
 *             return;
 *         case XS_SASL_CHALLENGE:
 *             send_elem(st, "challenge", p);
 *             return;
 *         case XS_SASL_SUCCESS:
 *             authenticated_as(st, xs_sasl_username(st->sasl));
 *             send_elem(st, "success", p);        // p may be NULL
 *             break;
 *         case XS_SASL_FAILURE:
 *             send_failure(xs_sasl_cond_name(xs_sasl_cond(st->sasl)));
 *             break;   // count the failure; the client may try again
 *         }
 *         xs_sasl_free(st->sasl);
 *         st->sasl = NULL;
 *     }
 *
 * Payloads are bounded: XS_SASL_DATA_MAX bytes decoded.  Text that is not
 * base64 fails with incorrect-encoding.  An absent or empty <auth/> text
 * means "no initial response" and yields an empty challenge ("=");
 * "=" means a zero-length response (RFC 6120 section 6.4.2).
 *
 * PLAIN verification (xs_sasl_set_creds) runs PBKDF2 with the stored
 * iteration count on the calling thread: about 1 ms at 4096 iterations.
 */
#ifndef XMPPD_C2S_SASL_H
#define XMPPD_C2S_SASL_H

#include "xmppd/core/xs.h"

#include "db/accounts.h"

/* In order of preference: offer them in this order. */
enum xs_sasl_mech {
    XS_SASL_SCRAM_SHA256,
    XS_SASL_SCRAM_SHA1,
    XS_SASL_PLAIN,
    XS_SASL_MECH__COUNT
};

/* RFC 6120 section 6.5. */
enum xs_sasl_cond {
    XS_SASL_COND_ABORTED,
    XS_SASL_COND_ACCOUNT_DISABLED,
    XS_SASL_COND_CREDENTIALS_EXPIRED,
    XS_SASL_COND_ENCRYPTION_REQUIRED,
    XS_SASL_COND_INCORRECT_ENCODING,
    XS_SASL_COND_INVALID_AUTHZID,
    XS_SASL_COND_INVALID_MECHANISM,
    XS_SASL_COND_MALFORMED_REQUEST,
    XS_SASL_COND_MECHANISM_TOO_WEAK,
    XS_SASL_COND_NOT_AUTHORIZED,
    XS_SASL_COND_TEMPORARY_AUTH_FAILURE,
    XS_SASL_COND__COUNT
};

enum xs_sasl_status {
    XS_SASL_NEED_CREDS,
    XS_SASL_CHALLENGE,
    XS_SASL_SUCCESS,
    XS_SASL_FAILURE,
};

#define XS_SASL_DATA_MAX    4096    /* decoded bytes in one message */
#define XS_SASL_FIELD_MAX   255     /* PLAIN authzid/authcid/passwd bytes */

/* "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN". */
const char *xs_sasl_mech_name(enum xs_sasl_mech m);
/* Exact (case-sensitive) name; XS_ENOTFOUND for anything else. */
xs_rc       xs_sasl_mech_by_name(const char *name, enum xs_sasl_mech *out);
/* PLAIN only over TLS; the SCRAM ones always. */
bool        xs_sasl_mech_offered(enum xs_sasl_mech m, bool is_tls);
/* The element name: "not-authorized", "malformed-request", ... */
const char *xs_sasl_cond_name(enum xs_sasl_cond c);

struct xs_sasl;

/* NULL for an unknown mechanism. */
struct xs_sasl *xs_sasl_new(enum xs_sasl_mech m);
/* Wipes passwords and keys; NULL is a no-op. */
void            xs_sasl_free(struct xs_sasl *s);

/* The text of <auth/>: NULL or "" when there is no initial response. */
enum xs_sasl_status xs_sasl_start(struct xs_sasl *s, const char *text);
/* The text of <response/> (NULL, "" and "=" are all zero-length). */
enum xs_sasl_status xs_sasl_step(struct xs_sasl *s, const char *text);
/*
 * After XS_SASL_NEED_CREDS: the account's credentials, or NULL when it
 * does not exist.  An unknown user is told apart from a wrong password
 * by nothing but the database: both end in not-authorized, at the same
 * step, after the same work.
 */
enum xs_sasl_status xs_sasl_set_creds(struct xs_sasl *s,
                        const struct xs_account_creds *c);
/* End the exchange with a condition the stream decided on. */
enum xs_sasl_status xs_sasl_fail(struct xs_sasl *s, enum xs_sasl_cond cond);

enum xs_sasl_mech   xs_sasl_mech(const struct xs_sasl *s);
/* SASLprepped username once known (NEED_CREDS on), else NULL. */
const char         *xs_sasl_username(const struct xs_sasl *s);
/* Requested authzid, decoded; NULL when the client sent none. */
const char         *xs_sasl_authzid(const struct xs_sasl *s);
/*
 * Base64 text for the last CHALLENGE or SUCCESS ("=" for zero-length
 * data), NULL when a SUCCESS carries no data.  Valid until the next call
 * on s.
 */
const char         *xs_sasl_payload(const struct xs_sasl *s);
/* The condition of the last XS_SASL_FAILURE. */
enum xs_sasl_cond   xs_sasl_cond(const struct xs_sasl *s);

/*
 * Base64 of the XML payloads, exposed for the stream's client side and
 * tests.  Encoding: zero bytes give "=".  Decoding: NULL, "" and "=" give
 * zero bytes; whitespace is ignored; at most `max` bytes.  XS_EINVAL for
 * text that is not base64, XS_ELIMIT when it decodes to more than max.
 * *out is new (xs_free), NUL-terminated past *out_len, never NULL on
 * success.
 */
char  *xs_sasl_b64_encode(const void *data, size_t len);
xs_rc  xs_sasl_b64_decode(const char *text, size_t max, unsigned char **out,
           size_t *out_len);

#endif
