-- 003_offline: messages stored while the recipient has no available
-- resource (XEP-0160), delivered at the next initial presence.
CREATE TABLE offline_messages (
    id          bigserial PRIMARY KEY,
    host        text NOT NULL,
    username    text NOT NULL,
    sender      text NOT NULL,      -- full JID of the sender
    stanza      text NOT NULL,      -- the <message/>, serialized, with its
                                    -- XEP-0203 <delay/> already added
    created_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username)
        ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE INDEX offline_messages_owner_idx
    ON offline_messages (host, username, id);
