-- tests/bench/rep/insert.sql: the single-row side of issue 5's ingestion
-- bench (tests/bench/rep.sh runs `pgbench -n -c 1 -M prepared -T 15 -f`
-- this): ONE evidence row per transaction, committed each time, with the
-- columns and value shapes db/reputation.c writes (a new subject every
-- time, a reporter out of 100,000, the weight scaled by its standing).
\set s random(1, 1000000000)
\set u random(1, 100000)
INSERT INTO reputation_evidence (subject, kind, weight, source_kind, source, note, created_at) VALUES ('s' || :s || '@spam' || (:s % 997) || '.bench', 'block', -5 * (0.25 + 0.75 * random()), 'user', 'u' || :u || '@localhost', NULL, now());
