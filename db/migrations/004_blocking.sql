-- 004_blocking: XEP-0191 block lists and XEP-0377 spam and abuse reports.
--
-- jid is a prepared JID as the user gave it: full, bare, domain/resource
-- or domain (XEP-0191 section 3.4 matching applies).
CREATE TABLE blocklist (
    host        text NOT NULL,
    username    text NOT NULL,
    jid         text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (host, username, jid),
    FOREIGN KEY (host, username) REFERENCES accounts (host, username)
        ON DELETE CASCADE ON UPDATE CASCADE
);

-- Reports are evidence for the reputation engine: they outlive the
-- reporter's account (no foreign key), and keep who reported.
CREATE TABLE spam_reports (
    id              bigserial PRIMARY KEY,
    reporter        text NOT NULL,      -- bare JID of the local reporter
    reported        text NOT NULL,      -- the JID blocked and reported
    reason          text NOT NULL,      -- 'spam', 'abuse' (or the reason
                                        -- URI's last part for others)
    reason_uri      text NOT NULL,      -- e.g. urn:xmpp:reporting:spam
    text            text NULL,          -- the reporter's words
    stanza_ids      text[] NOT NULL DEFAULT '{}',   -- XEP-0359 ids given
    namespace       text NOT NULL,      -- urn:xmpp:reporting:1 or :0
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX spam_reports_reported_idx ON spam_reports (reported, created_at);
CREATE INDEX spam_reports_reporter_idx ON spam_reports (reporter, created_at);
