-- 002_roster: rosters and presence subscriptions (RFC 6121 sections 2, 3).
--
-- One row per (account, contact).  A row exists for every roster item the
-- user sees (is_item) and also, with is_item false, for a contact that only
-- asked for a subscription we have not answered yet (RFC 6121 3.1.3: an
-- inbound request creates no roster item).  contact is a prepared bare JID.
CREATE TABLE roster_items (
    host          text NOT NULL,
    username      text NOT NULL,
    contact       text NOT NULL,
    name          text NOT NULL DEFAULT '',
    subscription  text NOT NULL DEFAULT 'none',
    ask_out       boolean NOT NULL DEFAULT false,  -- we asked, no answer yet
    ask_in        boolean NOT NULL DEFAULT false,  -- they asked, no answer yet
    ask_in_stanza text NULL,        -- their <presence type='subscribe'/>,
                                    -- delivered again at each login
    approved      boolean NOT NULL DEFAULT false,  -- pre-approved (3.4)
    is_item       boolean NOT NULL DEFAULT true,
    groups        text[] NOT NULL DEFAULT '{}',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username, contact),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username)
        ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT roster_items_subscription_check
        CHECK (subscription IN ('none', 'to', 'from', 'both')),
    CONSTRAINT roster_items_contact_check
        CHECK (contact <> '' AND octet_length(contact) <= 3071)
);

-- Who has whom as a contact: presence probes and "is a contact of" checks
-- from the other side.
CREATE INDEX roster_items_contact_idx ON roster_items (contact);

-- XEP-0237 style roster versioning: one counter per account, bumped by
-- every change that a roster push announces.
CREATE TABLE roster_versions (
    host      text NOT NULL,
    username  text NOT NULL,
    version   bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username)
        ON DELETE CASCADE ON UPDATE CASCADE
);
