-- 008_reputation: the reputation engine's durable state (issue 5):
-- evidence items and operator pins.  Scores themselves are never stored:
-- they are computed in memory from these rows and the activity record
-- (006) at start, then kept up to date as things happen.
--
-- One row per evidence item, appended in batches by db/reputation.c (one
-- INSERT over unnest()ed arrays per batch).  subject is a prepared bare
-- JID or a domain; kind and source_kind are the names of reputation/
-- evidence.h ("block", "report_spam", ...; "user", "admin", "system",
-- "buddy"), kept as text without a CHECK so that a later kind or source
-- needs no migration (a binary skips names it does not know).  source is
-- who said it: a local user's bare JID, an operator, a part of the
-- server, a buddy domain.  weight is what the item was worth when it was
-- recorded; its decay is computed from created_at at read time.
CREATE TABLE reputation_evidence (
    id          bigserial PRIMARY KEY,
    subject     text NOT NULL,
    kind        text NOT NULL,
    weight      double precision NOT NULL,
    source_kind text NOT NULL,
    source      text NOT NULL,
    note        text NULL,          -- short operator-readable text, never a
                                    -- message body
    created_at  timestamptz NOT NULL,
    CONSTRAINT reputation_evidence_subject_check
        CHECK (subject <> '' AND octet_length(subject) <= 3071),
    CONSTRAINT reputation_evidence_kind_check
        CHECK (kind <> '' AND octet_length(kind) <= 64),
    CONSTRAINT reputation_evidence_source_kind_check
        CHECK (source_kind <> '' AND octet_length(source_kind) <= 64),
    CONSTRAINT reputation_evidence_source_check
        CHECK (source <> '' AND octet_length(source) <= 3071),
    CONSTRAINT reputation_evidence_note_check
        CHECK (octet_length(note) <= 1024),
    -- Finite: NaN sorts above 'Infinity' in PostgreSQL, so this refuses it
    -- too.  One NaN would poison every score it touches.
    CONSTRAINT reputation_evidence_weight_check
        CHECK (weight > '-Infinity' AND weight < 'Infinity')
);

-- The start-up load reads what is inside the horizon (created_at >= ...),
-- and pruning deletes what is past it, oldest first.
CREATE INDEX reputation_evidence_created_idx
    ON reputation_evidence (created_at, id);

-- An unblock retracts a user's items of one kind about one subject.  Only
-- user items are ever retracted: the others (rate limits, s2s refusals,
-- operators' notes) cost no upkeep here.
CREATE INDEX reputation_evidence_retract_idx
    ON reputation_evidence (subject, kind, source)
    WHERE source_kind = 'user';

-- An operator's override: the subject's score is `score` whatever the
-- evidence says, until expires_at (NULL: until cleared).  Expired rows are
-- deleted by the start-up load.  set_by names the operator ("admin_api",
-- "xmppctl", ...).
CREATE TABLE reputation_pins (
    subject     text PRIMARY KEY,
    score       integer NOT NULL,
    reason      text NOT NULL,
    expires_at  timestamptz NULL,
    set_by      text NOT NULL,
    set_at      timestamptz NOT NULL,
    CONSTRAINT reputation_pins_subject_check
        CHECK (subject <> '' AND octet_length(subject) <= 3071),
    -- XEP-0275's scale.
    CONSTRAINT reputation_pins_score_check
        CHECK (score BETWEEN -100 AND 100),
    CONSTRAINT reputation_pins_reason_check
        CHECK (octet_length(reason) <= 1024),
    CONSTRAINT reputation_pins_set_by_check
        CHECK (set_by <> '' AND octet_length(set_by) <= 3071)
);
