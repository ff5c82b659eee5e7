/*
 * audit.h: the audit log of automatic decisions (today: the subscription
 * gate; later: incidents), in PostgreSQL (db/audit.c, migration
 * 009_audit.sql), written behind in batches like evidence, read by the
 * operator verbs audit_tail and audit JID.
 *
 * An entry says: at TIME, the server decided DECISION about SUBJECT's
 * stanza to RECIPIENT, for REASON, with the subject's SCORE, and the
 * EXPLANATION (the lines of the subject's reputation explanation that
 * decided, plus the flag's result).  Never a message body.
 */
#ifndef XMPPD_REPUTATION_AUDIT_H
#define XMPPD_REPUTATION_AUDIT_H

#include "xmppd/core/xs.h"

#include <jansson.h>

struct xs_audit_entry {
    int64_t     at;             /* wall seconds */
    const char *kind;           /* "subscription_gate" */
    const char *subject;        /* sender's bare JID */
    const char *recipient;      /* local bare JID */
    const char *decision;       /* "deliver", "reject" */
    const char *reason;         /* short token: "score_below",
                                   "domain_below", "flag_low_trust",
                                   "flag_invalid", "no_flag", "ok", ... */
    int         score;          /* the subject's score when decided */
    int         domain_score;
    const char *flag;           /* xs_flag_result_name(), or "absent" */
    json_t     *explanation;    /* borrowed: array of objects {what,
                                   source_kind, source, points, age, note} */
};

/* Queue an entry (copied) for PostgreSQL; never blocks.  XS_ELIMIT when
 * the queue is full (dropped, counted, logged). */
xs_rc xs_audit_record(const struct xs_audit_entry *e);

#endif
