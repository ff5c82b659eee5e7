-- 001_accounts: local accounts and their SCRAM credentials.
--
-- No password is ever stored, in any form that can be reversed: only what
-- SCRAM (RFC 5802, RFC 7677) needs, for SHA-1 and SHA-256: the salt, the
-- iteration count, StoredKey = H(ClientKey) and ServerKey.  The keys are
-- bytea (raw bytes; db/accounts.c moves them as hex with encode/decode so
-- that bytea_output does not matter).  A hash's four columns are NULL
-- together when the account has no credentials for it (an import).
--
-- username is the nodeprepped localpart, host the served domain; both
-- arrive prepared from the callers.  The unique key is (host, username):
-- the same uniqueness as (username, host), but its index also serves the
-- per-host listing ordered by username.
CREATE TABLE accounts (
    id                      bigserial PRIMARY KEY,
    username                text NOT NULL,
    host                    text NOT NULL,
    created_at              timestamptz NOT NULL DEFAULT now(),
    last_login              timestamptz NULL,
    creds_changed_at        timestamptz NOT NULL DEFAULT now(),
    scram_sha1_salt         bytea NULL,
    scram_sha1_iterations   integer NULL,
    scram_sha1_stored_key   bytea NULL,
    scram_sha1_server_key   bytea NULL,
    scram_sha256_salt       bytea NULL,
    scram_sha256_iterations integer NULL,
    scram_sha256_stored_key bytea NULL,
    scram_sha256_server_key bytea NULL,
    CONSTRAINT accounts_host_username_key UNIQUE (host, username),
    CONSTRAINT accounts_username_check
        CHECK (username <> '' AND octet_length(username) <= 1023),
    CONSTRAINT accounts_host_check
        CHECK (host <> '' AND octet_length(host) <= 1023),
    -- Each half is all there or all NULL, and one half at least is there.
    CONSTRAINT accounts_sha1_check CHECK (
        (scram_sha1_salt IS NULL AND scram_sha1_iterations IS NULL
         AND scram_sha1_stored_key IS NULL AND scram_sha1_server_key IS NULL)
        OR (octet_length(scram_sha1_salt) = 16
            AND scram_sha1_iterations > 0
            AND octet_length(scram_sha1_stored_key) = 20
            AND octet_length(scram_sha1_server_key) = 20)),
    CONSTRAINT accounts_sha256_check CHECK (
        (scram_sha256_salt IS NULL AND scram_sha256_iterations IS NULL
         AND scram_sha256_stored_key IS NULL
         AND scram_sha256_server_key IS NULL)
        OR (octet_length(scram_sha256_salt) = 16
            AND scram_sha256_iterations > 0
            AND octet_length(scram_sha256_stored_key) = 32
            AND octet_length(scram_sha256_server_key) = 32)),
    CONSTRAINT accounts_creds_check CHECK (
        scram_sha1_iterations IS NOT NULL
        OR scram_sha256_iterations IS NOT NULL)
);
