"""The reputation engine as an operator checks it (issue 5): real clients
do what users do (register, befriend, talk, block and report), the clock
moves forward (`xmppd --test-clock`, debug_clock_advance), and the
operator reads the outcome with `xmppctl reputation`,
`reputation_explain`, `reputation_set` / `reputation_clear` /
`reputation_list`, XEP-0275 queries and the reputation_evidence table.

The numbers are mod_reputation's defaults (docs/configuration.md): a
fresh account is capped at 5 for 14 days; age is worth 12 a year up to
30; a mutual contact +2; ten messages from contacts +1; a block -5 and a
spam report -10, each scaled by the reporter's own score
(clamp(0.25 + 0.75 * s / 50, 0, 1)); one source adds at most 15 to a
subject; one user files at most 20 negative items an hour; blocks halve in 30
days, reports in 60.  Levels: trusted >= 40, normal >= 10, probation >=
-10, suspicious >= -40, else bad."""

import asyncio
import time

from conftest import free_ports
from rep_util import (ABUSE, BAD_LEVELS, DAY, HOUR, PER_SOURCE_CAP,
                      PROBATION_CAP, REPORT_WEIGHT, REPORTS_PER_HOUR, YEAR,
                      BLOCK_WEIGHT, Side, advance, assert_same, befriend,
                      block_iq, block_report, converse, count_evidence,
                      ctl_json, ctl_refused, explain, iq_condition, items,
                      points, rep, reporter_factor, score_query,
                      service_check, show, snapshot, sql_str, unblock,
                      wait_evidence, wait_explain, wait_rep)

CLOCK = ["--test-clock"]


# --------------------------------------------------------------------------
# Set-ups shared by the stories


async def strong_reporters(srv, side, n):
    """n accounts made three years old (the clock moves after they are
    registered) and, for n > 1, mutual contacts of each other through
    real subscription handshakes.  Returns (users, clients)."""
    users = [side.new("rep") for _ in range(n)]
    advance(srv, 3 * YEAR)
    cs = [await side.login(u) for u in users]
    for i in range(n):
        for j in range(i + 1, n):
            await befriend(srv, cs[i], cs[j])
    for u in users:
        r = rep(srv, u.jid)
        assert not r["probation"] and r["score"] >= 35, \
            show(explain(srv, u.jid))
    return users, cs


def fresh_spammer(srv, side):
    """An account registered now (after the clock moved): in probation."""
    su = side.new("spam")
    r = rep(srv, su.jid)
    assert r["level"] == "probation" and r["probation"] is True, \
        show(explain(srv, su.jid))
    assert r["score"] <= PROBATION_CAP, r
    return su, r


def user_items_by(ex, source):
    return items(ex, source=source, source_kind="user")


# --------------------------------------------------------------------------
# 1. A fresh account sits in probation


def test_fresh_account_sits_in_probation(server, users):
    u = users.new("fresh")
    r = rep(server, u.jid)
    assert r["jid"] == u.jid, r
    assert r["local"] is True and r["pinned"] is False, r
    assert r["level"] == "probation" and r["probation"] is True, r
    assert r["score"] <= PROBATION_CAP, r

    ex = explain(server, u.jid)
    assert ex["score"] == r["score"] and ex["level"] == "probation", \
        show(ex)
    reg = items(ex, "registered")
    assert len(reg) == 1 and float(reg[0]["points"]) > 0, show(ex)
    assert items(ex, ("probation_cap", "age")), show(ex)
    # Nobody has said anything about it: no user evidence.
    assert not items(ex, source_kind="user"), show(ex)


# --------------------------------------------------------------------------
# 2. An old account with mutual contacts and replies scores high


async def test_old_account_with_contacts_and_replies_scores_high(
        start_xmppd, event_loop):
    srv = start_xmppd(args=CLOCK)
    side = Side(srv, event_loop)
    try:
        au = side.new("old")
        pals = [side.new("pal") for _ in range(3)]
        assert rep(srv, au.jid)["level"] == "probation"
        advance(srv, 3 * YEAR)
        a = await side.login(au)
        pcs = [await side.login(p) for p in pals]
        for p in pcs:
            await befriend(srv, a, p)
        await converse(a, pcs[0], 20)

        r = await wait_rep(srv, au.jid, lambda r: r["level"] == "trusted",
                           "an old account with 3 mutual contacts and 20 "
                           "replies reaches trusted")
        assert r["score"] >= 40 and r["probation"] is False, r
        assert r["pinned"] is False and r["local"] is True, r
        ex = explain(srv, au.jid)
        assert ex["score"] == r["score"], show(ex)
        for what in ("age", "mutual_contacts", "replies"):
            assert points(ex, what) > 0, "%s: %s" % (what, show(ex))
        # The defaults: 3 years of age hit the cap of 30; 3 mutual
        # contacts are +6; 20 messages from contacts are +2.
        assert abs(points(ex, "age") - 30) < 0.01, show(ex)
        assert abs(points(ex, "mutual_contacts") - 6) < 0.01, show(ex)
        assert abs(points(ex, "replies") - 2) < 0.01, show(ex)
        assert not items(ex, "probation_cap"), show(ex)
    finally:
        await side.close()


# --------------------------------------------------------------------------
# 3. Three accounts block and report a spammer


async def test_three_reporters_sink_a_spammer(start_xmppd, event_loop):
    srv = start_xmppd(args=CLOCK)
    side = Side(srv, event_loop)
    try:
        reporters, rcs = await strong_reporters(srv, side, 3)
        su, before = fresh_spammer(srv, side)
        factor = {u.jid: reporter_factor(rep(srv, u.jid)["score"])
                  for u in reporters}
        for c in rcs:
            await block_report(c, su.jid)

        ex = await wait_explain(
            srv, su.jid, lambda ex: all(
                len(user_items_by(ex, u.jid)) == 2 for u in reporters),
            "a block and a report from each of the three reporters")
        for u in reporters:
            mine = user_items_by(ex, u.jid)
            assert sorted(it["what"] for it in mine) == \
                ["block", "report_spam"], show(ex)
            f = factor[u.jid]
            blk = points(ex, "block", u.jid)
            rpt = points(ex, "report_spam", u.jid)
            assert abs(blk - BLOCK_WEIGHT * f) < 0.3, (u.jid, f, show(ex))
            assert abs(rpt - REPORT_WEIGHT * f) < 0.3, (u.jid, f, show(ex))

        after = rep(srv, su.jid)
        penalty = sum((BLOCK_WEIGHT + REPORT_WEIGHT) * f
                      for f in factor.values())
        assert after["score"] <= before["score"] - 30, (before, show(ex))
        assert abs(after["score"] - (PROBATION_CAP + penalty)) <= 1.0, \
            (penalty, show(ex))
        assert after["level"] in BAD_LEVELS, show(ex)
        assert ex["score"] == after["score"], show(ex)

        # The operator's list of accounts to look at shows it first.
        rows = ctl_json(srv, "reputation_list", "--below", "-10",
                        "--max", "10")
        assert [row["jid"] for row in rows] == [su.jid], rows
        assert rows[0]["score"] == after["score"], rows
        assert rows[0]["level"] == after["level"], rows
    finally:
        await side.close()


# --------------------------------------------------------------------------
# 4. One reporter cannot push a score past its cap


async def test_one_reporter_is_capped(start_xmppd, event_loop):
    srv = start_xmppd(args=CLOCK)
    side = Side(srv, event_loop)
    try:
        (ru,), (rc,) = await strong_reporters(srv, side, 1)
        su, before = fresh_spammer(srv, side)
        # Over and over: block with a spam report, unblock, block with an
        # abuse report, unblock, ... and finally blocks on top of blocks.
        for _ in range(3):
            await block_report(rc, su.jid)
            await unblock(rc, su.jid)
            await block_report(rc, su.jid, ABUSE)
            await unblock(rc, su.jid)
        await block_report(rc, su.jid)
        await block_report(rc, su.jid, ABUSE)
        await block_report(rc, su.jid)

        ex = await wait_explain(
            srv, su.jid, lambda ex: len(user_items_by(ex, ru.jid)) >= 3,
            "the reporter's block, spam and abuse items")
        mine = user_items_by(ex, ru.jid)
        kinds = [it["what"] for it in mine]
        # One item per (subject, kind, source): repeating counts once.
        assert sorted(kinds) == ["block", "report_abuse", "report_spam"], \
            show(ex)
        total = points(ex, source=ru.jid)
        raw = sum(float(it["weight"]) for it in mine)
        assert total >= -PER_SOURCE_CAP - 0.01, show(ex)
        # The reporter is strong enough that its items are worth more than
        # the cap: exactly the cap counts.
        assert raw < -PER_SOURCE_CAP, show(ex)
        assert abs(total + PER_SOURCE_CAP) < 0.05, show(ex)

        after = rep(srv, su.jid)
        assert after["score"] >= PROBATION_CAP - PER_SOURCE_CAP, show(ex)
        assert after["score"] < before["score"], show(ex)
        assert after["level"] not in BAD_LEVELS, show(ex)
    finally:
        await side.close()


# --------------------------------------------------------------------------
# 5. The penalty decays


async def test_penalty_decays(start_xmppd, event_loop):
    srv = start_xmppd(args=CLOCK)
    side = Side(srv, event_loop)
    try:
        reporters, rcs = await strong_reporters(srv, side, 2)
        su, _ = fresh_spammer(srv, side)
        for c in rcs:
            await block_report(c, su.jid)
        ex0 = await wait_explain(
            srv, su.jid, lambda ex: len(items(ex, source_kind="user")) == 4,
            "two blocks and two reports")
        r0 = rep(srv, su.jid)
        rpt0, blk0 = points(ex0, "report_spam"), points(ex0, "block")
        assert rpt0 < -10 and blk0 < -5, show(ex0)

        advance(srv, 60 * DAY)
        ex1 = explain(srv, su.jid)
        rpt1, blk1 = points(ex1, "report_spam"), points(ex1, "block")
        # One half-life of a report (60 days), two of a block (30 days).
        assert abs(rpt1 - rpt0 / 2) <= 0.03 * abs(rpt0), \
            (rpt0, rpt1, show(ex0), show(ex1))
        assert abs(blk1 - blk0 / 4) <= 0.03 * abs(blk0), \
            (blk0, blk1, show(ex0), show(ex1))
        for u in reporters:     # still named, worth less
            assert sorted(it["what"] for it in user_items_by(ex1, u.jid)) \
                == ["block", "report_spam"], show(ex1)
        r1 = rep(srv, su.jid)
        assert r1["score"] > r0["score"], (r0, r1, show(ex0), show(ex1))
        assert r1["probation"] is False, show(ex1)    # 60 days > 14
        assert ex1["score"] == r1["score"], show(ex1)
    finally:
        await side.close()


# --------------------------------------------------------------------------
# 6. An operator's pin overrides and expires


async def test_operator_pin_overrides_and_expires(start_xmppd, event_loop):
    srv = start_xmppd(args=CLOCK)
    side = Side(srv, event_loop)
    try:
        xu = side.new("pinned")
        base = rep(srv, xu.jid)
        assert base["pinned"] is False, base

        ctl_json(srv, "reputation_set", xu.jid, "-50",
                 "--reason", "known spammer", "--expires", "1h")
        r = rep(srv, xu.jid)
        assert r["score"] == -50 and r["pinned"] is True, r
        assert r["level"] == "bad", r
        ex = explain(srv, xu.jid)
        assert ex["score"] == -50 and ex["pinned"] is True, show(ex)
        pins = items(ex, "pin")
        assert len(pins) == 1, show(ex)
        assert "known spammer" in "%s %s" % (pins[0].get("note"),
                                             pins[0].get("source")), \
            show(ex)
        rows = ctl_json(srv, "reputation_list", "--below", "0",
                        "--max", "10")
        assert [(row["jid"], row["score"], row["pinned"]) for row in rows] \
            == [(xu.jid, -50, True)], rows

        # Two hours later the pin has expired: the computed score is back.
        advance(srv, 2 * HOUR)
        r = rep(srv, xu.jid)
        assert r["pinned"] is False, show(explain(srv, xu.jid))
        assert abs(r["score"] - base["score"]) <= 1, (base, r)
        assert r["level"] == base["level"], (base, r)
        assert not items(explain(srv, xu.jid), "pin")
        assert ctl_json(srv, "reputation_list", "--below", "0",
                        "--max", "10") == []

        # A pin without an expiry lasts until cleared.
        ctl_json(srv, "reputation_set", xu.jid, "80", "--reason",
                 "vouched for by the operator")
        advance(srv, 30 * DAY)
        r = rep(srv, xu.jid)
        assert r["score"] == 80 and r["pinned"] is True, r
        assert r["level"] == "trusted", r
        ctl_json(srv, "reputation_clear", xu.jid)
        r = rep(srv, xu.jid)
        assert r["pinned"] is False and r["score"] < 80, r
        assert not items(explain(srv, xu.jid), "pin")

        # Refused: out of XEP-0275's range, an unreadable expiry, clearing
        # a pin that is not there.
        ctl_refused(srv, "reputation_set", xu.jid, "101", "--reason", "x")
        ctl_refused(srv, "reputation_set", xu.jid, "-101", "--reason", "x")
        ctl_refused(srv, "reputation_set", xu.jid, "10", "--reason", "x",
                    "--expires", "soon")
        ctl_refused(srv, "reputation_clear", xu.jid)
        assert rep(srv, xu.jid)["pinned"] is False
    finally:
        await side.close()


# --------------------------------------------------------------------------
# 7. XEP-0275: local users are answered, strangers are not


def _s2s_yaml(peer, peer_port, cafile, extra=""):
    return ("s2s_routes: {%s: \"127.0.0.1:%d\"}\n"
            "s2s_cafile: %s\n"
            "s2s_handshake_timeout: 5\n" % (peer, peer_port, cafile)) \
        + extra


async def _query_over_s2s(c, to, jid, timeout=10.0):
    """A score query to a remote domain; while the stream to it is being
    (re)built, the bounce of a remote-server-* error is retried."""
    deadline = time.monotonic() + timeout
    while True:
        got = await score_query(c, to, jid)
        if not (got[0] == "error" and got[1].startswith("remote-server")):
            return got
        assert time.monotonic() < deadline, got
        await asyncio.sleep(0.3)


async def test_xep0275_local_users_and_strangers(start_xmppd, event_loop,
                                                 tmp_path):
    pa, pb = free_ports(2)
    bundle = str(tmp_path / "bundle.pem")
    a = start_xmppd(_s2s_yaml("b.test", pb, bundle,
                              "modules:\n  mod_reputation:"
                              " {query_domains: [c.test]}\n"),
                    domain="a.test", s2s_port=pa)
    b = start_xmppd(_s2s_yaml("a.test", pa, bundle), domain="b.test",
                    s2s_port=pb)
    # Both trust both CAs (the client contexts load the file lazily).
    with open(bundle, "w") as f:
        for s in (a, b):
            with open(s.ca) as ca:
                f.write(ca.read())
    sa, sb = Side(a, event_loop), Side(b, event_loop)
    try:
        xu, zu = sa.new("local"), sa.new("subject")
        yu = sb.new("stranger")
        # A distinctive score, so that equal means the same number.
        ctl_json(a, "reputation_set", zu.jid, "-17", "--reason", "test")
        x = await sa.login(xu)
        y = await sb.login(yu)

        # A local user asks its own server: the number xmppctl shows.
        assert await score_query(x, "a.test", zu.jid) == \
            ("num", rep(a, zu.jid)["score"]) == ("num", -17)
        assert await score_query(x, "a.test", xu.jid) == \
            ("num", rep(a, xu.jid)["score"])
        assert await score_query(x, "a.test", "nobody@nowhere.example") \
            == ("error", "item-not-found")

        # A stranger (a user of b.test, over s2s) is refused: b.test is
        # not in query_domains (only c.test is).
        assert await _query_over_s2s(y, "a.test", zu.jid) == \
            ("error", "forbidden")

        # The operator trusts b.test: its users are answered.
        with open(a.config) as f:
            text = f.read()
        assert "query_domains: [c.test]" in text
        with open(a.config, "w") as f:
            f.write(text.replace("query_domains: [c.test]",
                                 "query_domains: [b.test]"))
        await sa.close()
        a.instance.restart()
        assert await _query_over_s2s(y, "a.test", zu.jid) == \
            ("num", rep(a, zu.jid)["score"]) == ("num", -17)
        assert await _query_over_s2s(y, "a.test", "nobody@nowhere.example") \
            == ("error", "item-not-found")
    finally:
        await sa.close()
        await sb.close()


# --------------------------------------------------------------------------
# 8. The score survives a restart


async def test_score_survives_restart(start_xmppd, event_loop):
    srv = start_xmppd()
    side = Side(srv, event_loop)
    try:
        r1u, r2u, r3u = side.new("rep"), side.new("rep"), side.new("rep")
        su, pu, qu = side.new("spam"), side.new("pin"), side.new("pin")
        r1, r2 = await side.login(r1u), await side.login(r2u)
        await block_report(r1, su.jid)
        await block_report(r2, su.jid, ABUSE)
        await wait_explain(srv, su.jid,
                           lambda ex: len(items(ex, source_kind="user")) == 4,
                           "two blocks and two reports")
        ctl_json(srv, "reputation_set", pu.jid, "-30", "--reason",
                 "operator says so", "--expires", "30d")
        subjects = (su.jid, pu.jid)
        before = {j: snapshot(srv, j) for j in subjects}
        assert before[su.jid][0]["score"] < PROBATION_CAP, before
        assert before[pu.jid][0]["pinned"] is True, before

        # A clean stop right after the reports: nothing is lost.
        await side.close()
        srv.instance.restart()
        for j in subjects:
            assert_same(before[j], snapshot(srv, j), j)

        # kill -9 once the batch is committed.
        side = Side(srv, event_loop)
        r3 = await side.login(r3u)
        await block_report(r3, su.jid)
        ctl_json(srv, "reputation_set", qu.jid, "25", "--reason",
                 "vouched for")
        await wait_evidence(srv, "subject = %s AND source = %s" % (
            sql_str(su.jid), sql_str(r3u.jid)), 2)
        subjects += (qu.jid,)
        before = {j: snapshot(srv, j) for j in subjects}
        assert len(items(before[su.jid][1], source_kind="user")) == 6
        await side.close()
        srv.instance.restart(kill=True)
        for j in subjects:
            assert_same(before[j], snapshot(srv, j), j)
    finally:
        await side.close()


# --------------------------------------------------------------------------
# 9. Bad input: invalid JIDs, reporting oneself, a flood of reports


async def test_bad_input_and_a_flood_of_reports(start_xmppd, event_loop):
    srv = start_xmppd(args=CLOCK)
    side = Side(srv, event_loop)
    try:
        au = side.new("flood")
        a = await side.login(au)

        assert await score_query(a, srv.domain, "not@@valid") == \
            ("error", "jid-malformed")
        assert await score_query(a, srv.domain, "nobody@nowhere.example") \
            == ("error", "item-not-found")
        r = rep(srv, "nobody@nowhere.example")
        assert r["level"] == "unknown" and r["score"] == 0, r
        ctl_refused(srv, "reputation", "not@@valid")

        # Blocking and reporting oneself: the blocking module's error, and
        # nothing recorded about oneself.
        own = rep(srv, au.jid)
        assert await iq_condition(block_iq(a, au.jid)) == "bad-request"

        # 50 block+report pairs against 50 subjects on 50 domains (so no
        # domain share links them).  reports_per_hour bounds every negative
        # item one user files (a block is an accusation too): 20 items, so
        # the first 10 pairs are admitted and nothing after them.
        pairs = REPORTS_PER_HOUR // 2
        subjects = ["s%d@flood%d.example" % (i, i) for i in range(50)]
        for s in subjects:
            await block_report(a, s)
        mine = "source = %s" % sql_str(au.jid)
        negative = mine + " AND weight < 0"
        reports = mine + " AND kind LIKE 'report%'"
        await wait_evidence(srv, negative, REPORTS_PER_HOUR)
        await asyncio.sleep(1.5)        # a later batch would be in by now
        assert count_evidence(srv, negative) == REPORTS_PER_HOUR
        assert count_evidence(srv, reports) == pairs
        assert count_evidence(srv, "subject = %s" % sql_str(au.jid)) == 0
        assert rep(srv, au.jid) == own

        for i, s in enumerate(subjects):
            if i not in (0, pairs - 1, pairs, 35, 49):
                continue
            ex = explain(srv, s)
            reported = items(ex, ("report_spam", "report_abuse"), au.jid)
            blocked = items(ex, "block", au.jid)
            if i < pairs:
                assert len(reported) == 1 and len(blocked) == 1, \
                    (i, show(ex))
                assert count_evidence(srv, mine + " AND subject = %s"
                                      % sql_str(s)) == 2, i
            else:
                # Past the limit: neither the block nor the report counts.
                assert reported == [] and blocked == [], (i, show(ex))
                assert ex["score"] == 0, (i, show(ex))
                assert count_evidence(srv, mine + " AND subject = %s"
                                      % sql_str(s)) == 0, i

        # The server kept serving; an hour later the reporter may report
        # again.
        await service_check(side)
        advance(srv, HOUR + 60)
        late = "s50@flood50.example"
        await block_report(a, late)
        await wait_evidence(srv, reports + " AND subject = %s"
                            % sql_str(late), 1)
        assert items(explain(srv, late), "report_spam", au.jid)
    finally:
        await side.close()

