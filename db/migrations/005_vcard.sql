-- 005_vcard: vCard-temp (XEP-0054), and the fields Jabber Search (XEP-0055)
-- looks in, lowercased for case-insensitive matching.
CREATE TABLE vcards (
    host        text NOT NULL,
    username    text NOT NULL,
    vcard       text NOT NULL,      -- the <vCard/> element, serialized
    fn          text NOT NULL DEFAULT '',
    family      text NOT NULL DEFAULT '',
    given       text NOT NULL DEFAULT '',
    nickname    text NOT NULL DEFAULT '',
    email       text NOT NULL DEFAULT '',
    locality    text NOT NULL DEFAULT '',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username)
        ON DELETE CASCADE ON UPDATE CASCADE
);
