-- 009_audit: the audit log of automatic decisions (issue 6): today the
-- subscription gate's (deliver or reject an inbound subscription
-- request), and pinned trust keys that changed; later incidents.
--
-- One row per decision, appended in batches by db/audit.c (one INSERT
-- over unnest()ed arrays per batch), read newest first by the operator
-- verbs audit_tail and audit JID, and deleted past mod_audit's
-- retention_days.  kind, decision, reason and flag are short tokens of
-- reputation/audit.h ("subscription_gate"; "deliver", "reject";
-- "score_below", ...; a flag result name or "absent"), kept as text
-- without a list of values so that a later kind needs no migration.
-- subject is who the decision was about (a prepared bare JID or a
-- domain), recipient the local bare JID the stanza was for (NULL when
-- there is none).  explanation is the JSON array of the evidence lines
-- that decided ({what, source_kind, source, points, age, note}): never a
-- message body.
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    at            timestamptz NOT NULL,
    kind          text NOT NULL,
    subject       text NOT NULL,
    recipient     text NULL,
    decision      text NOT NULL,
    reason        text NOT NULL,
    score         integer NULL,
    domain_score  integer NULL,
    flag          text NULL,
    explanation   jsonb NOT NULL DEFAULT '[]',
    CONSTRAINT audit_log_kind_check
        CHECK (kind <> '' AND octet_length(kind) <= 64),
    CONSTRAINT audit_log_subject_check
        CHECK (subject <> '' AND octet_length(subject) <= 3071),
    CONSTRAINT audit_log_recipient_check
        CHECK (recipient <> '' AND octet_length(recipient) <= 3071),
    CONSTRAINT audit_log_decision_check
        CHECK (decision <> '' AND octet_length(decision) <= 64),
    CONSTRAINT audit_log_reason_check
        CHECK (reason <> '' AND octet_length(reason) <= 64),
    -- XEP-0275's scale, as every score of the reputation engine.
    CONSTRAINT audit_log_score_check
        CHECK (score BETWEEN -100 AND 100),
    CONSTRAINT audit_log_domain_score_check
        CHECK (domain_score BETWEEN -100 AND 100),
    CONSTRAINT audit_log_flag_check
        CHECK (flag <> '' AND octet_length(flag) <= 64),
    -- mod_audit trims an explanation to 32 KiB of compact JSON before it
    -- is queued; jsonb prints it with a space after every ':' and ',',
    -- at most half again as long.  The bound keeps one row from growing
    -- without limit if something else writes here.
    CONSTRAINT audit_log_explanation_check
        CHECK (jsonb_typeof(explanation) = 'array'
               AND octet_length(explanation::text) <= 49152)
);

-- audit_tail reads the newest rows (at DESC, id DESC), and pruning
-- deletes the oldest past the retention.
CREATE INDEX audit_log_at_idx ON audit_log (at, id);

-- audit JID: one subject's decisions, newest first.
CREATE INDEX audit_log_subject_idx ON audit_log (subject, at);
