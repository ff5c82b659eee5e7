"""mod_reputation's glue, end to end: a block with a XEP-0377 report from
one local user about another becomes two evidence items (block and
report_spam, source the reporter) in PostgreSQL, written behind in a
batch; an unblock takes the block item back and leaves the report.  A
client throttled by its listener's shaper gets a rate_limited item from
the system.  After a kill -9 and a restart, the engine is rebuilt from
the database before clients are served.

The operator's story (scores, explanations, decay, pins, queries) is in
the reputation tests proper; this only shows that the sources reach the
engine and the engine reaches the database."""

from slixmpp.xmlstream import ET

import asyncio
import time

from conftest import Clients, Users
from xmpp_util import TIMEOUT, next_item, psql_rows, wait_for_rows

NS_BLOCKING = "urn:xmpp:blocking"
NS_REPORTING = "urn:xmpp:reporting:1"


def block_iq(c, jid, op="block", reason=None):
    """<block/> or <unblock/> of one item, with a :1 report when reason
    is given (as test_blocking builds them)."""
    iq = c.Iq()
    iq["type"] = "set"
    el = ET.Element("{%s}%s" % (NS_BLOCKING, op))
    item = ET.SubElement(el, "{%s}item" % NS_BLOCKING)
    item.set("jid", jid)
    if reason is not None:
        r = ET.SubElement(item, "{%s}report" % NS_REPORTING)
        r.set("reason", reason)
    iq.append(el)
    return iq


def evidence(srv, subject):
    return sorted(tuple(r) for r in psql_rows(
        srv, "SELECT kind, source_kind, source, note"
        " FROM reputation_evidence WHERE subject = '%s'" % subject))


async def wait_until(pred, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError("not within %.1f s: %s" % (timeout, what))
        await asyncio.sleep(0.05)


async def test_reputation_smoke_block_report(server, users, clients):
    au, bu = users.new("rep_a"), users.new("rep_b")
    a = await clients.login(au)
    await clients.login(bu)

    await block_iq(a, bu.jid, reason="urn:xmpp:reporting:spam").send(
        timeout=10)
    await wait_for_rows(server, "SELECT 1 FROM reputation_evidence WHERE"
                        " subject = '%s' AND kind = 'report_spam'" % bu.jid)
    assert evidence(server, bu.jid) == [
        ("block", "user", au.jid, ""),
        ("report_spam", "user", au.jid, "reason: spam"),
    ]
    # Weighted by the reporter's standing: negative, and less than the
    # full weight for a fresh account.
    for kind, weight in psql_rows(server, "SELECT kind, weight FROM"
                                  " reputation_evidence WHERE subject ="
                                  " '%s'" % bu.jid):
        assert -10 < float(weight) < 0, (kind, weight)

    await block_iq(a, bu.jid, op="unblock").send(timeout=10)
    await wait_until(lambda: evidence(server, bu.jid) == [
        ("report_spam", "user", au.jid, "reason: spam")],
        "the unblock retracted the block item")


async def test_reputation_smoke_shaper(server, users, clients):
    rx = await clients.login(users.new("rep_rx"))
    su = users.new("rep_slow")
    slow = await clients.login(su, port=server.c2s_policy_port)
    # Twice the shaper's burst: the stream has to wait, once at least.
    n, filler = 8, "x" * (server.shaper_burst // 4)
    for i in range(n):
        slow.send_message(mto=rx.boundjid.full, mtype="chat",
                          mbody="%d %s" % (i, filler))
    for i in range(n):
        await next_item(rx.inbox, TIMEOUT + 10, "shaped message %d" % i)
    rows = await wait_for_rows(
        server, "SELECT source_kind, source, note FROM reputation_evidence"
        " WHERE subject = '%s' AND kind = 'rate_limited'" % su.jid)
    # One episode, one item, however often the stream waited.
    assert rows == [["system", "c2s shaper", "shaper"]], rows


async def test_reputation_smoke_restart(start_xmppd, event_loop):
    srv = start_xmppd()
    us, cs = Users(srv), Clients(srv, event_loop)
    try:
        au, bu = us.new("rep_a"), us.new("rep_b")
        a = await cs.login(au)
        await block_iq(a, bu.jid, reason="urn:xmpp:reporting:abuse").send(
            timeout=10)
        await block_iq(a, "spam.example").send(timeout=10)
        await wait_for_rows(srv, "SELECT 1 FROM reputation_evidence WHERE"
                            " subject = 'spam.example'")
        await wait_for_rows(srv, "SELECT 1 FROM reputation_evidence WHERE"
                            " subject = '%s' AND kind = 'report_abuse'"
                            % bu.jid)
        before = srv.api("reputation_explain", jid=bu.jid)
        await cs.close_all()
        srv.instance.restart(kill=True)

        after = srv.api("reputation_explain", jid=bu.jid)
        assert after["score"] == before["score"] < 5, (before, after)
        assert sorted((i["what"], i["source"]) for i in after["items"]
                      if i["source"]) == [("block", au.jid),
                                          ("report_abuse", au.jid)], after
        remote = srv.api("reputation", jid="spam.example")
        assert remote["level"] != "unknown", remote
        with open(srv.log) as f:
            loaded = [l for l in f if "reputation: loaded" in l]
        assert len(loaded) == 2 and "accounts=2 " in loaded[-1] and \
            "items=3 " in loaded[-1], loaded
    finally:
        await cs.close_all()
