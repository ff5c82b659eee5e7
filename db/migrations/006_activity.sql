-- 006_activity: what an account does, counted in memory and written in
-- batches: the raw material of the reputation engine (issue 5).  The
-- account's creation and last login times are in accounts.
CREATE TABLE account_activity (
    host                    text NOT NULL,
    username                text NOT NULL,
    days_active             integer NOT NULL DEFAULT 0,
    last_active_day         date NULL,
    last_logout             timestamptz NULL,   -- XEP-0012 last activity
    last_status             text NULL,          -- its status text
    msgs_to_contacts        bigint NOT NULL DEFAULT 0,
    msgs_to_strangers       bigint NOT NULL DEFAULT 0,
    msgs_from_contacts      bigint NOT NULL DEFAULT 0,
    msgs_from_strangers     bigint NOT NULL DEFAULT 0,
    subs_sent               bigint NOT NULL DEFAULT 0,
    subs_accepted           bigint NOT NULL DEFAULT 0,  -- they accepted ours
    subs_refused            bigint NOT NULL DEFAULT 0,  -- they refused ours
    subs_received           bigint NOT NULL DEFAULT 0,
    updated_at              timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username)
        ON DELETE CASCADE ON UPDATE CASCADE
);
