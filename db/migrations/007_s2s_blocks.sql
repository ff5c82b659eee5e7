-- 007_s2s_blocks: the operator's run-time federation block list
-- (block_domain / unblock_domain / blocked_domains).  A row blocks the
-- domain and every subdomain of it, both directions, on top of the
-- `s2s_access` rule of the configuration.
--
-- domain is prepared (lowercase, A-labels) as xs_jid_domainprep gives it.
CREATE TABLE s2s_blocked_domains (
    domain      text PRIMARY KEY,
    reason      text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    created_by  text NOT NULL               -- who asked: "admin_api", ...
);
