"""The subscription gate (mod_gate, issue 6), end to end between two xmppd
domains (a.test and b.test, set up as test_s2s.py does).

A fresh a.test user asks a b.test user for a subscription: a.test flags
it, b.test fetches a.test's keys, verifies the flag and delivers the
request, with the verified XEP-0489 <info/> (probation trust) and without
the flag.  Then the operator of a.test pins the user at -80 (a.test's
levels keep that above "bad", which a.test itself would refuse to send):
the user's next request, to another b.test user, carries a flag with
trust 10, below b.test's min_flag_trust.  The gate rejects it: b's client
never sees it, the sender gets 'unsubscribed', and b.test's audit names
the reason (flag_low_trust) and the flag.  gate_stats and /metrics count
both."""

import asyncio
import json
import time

from conftest import Clients, Users, free_ports
from im_util import expect_presence, login, no_presence
from xmpp_util import TIMEOUT

NS_RAA = "urn:xmpp:raa:0"
NS_TRUST = "urn:xmppd:trust:0"
PROBATION_CAP = 5           # rep-context.md: a fresh account's score cap
PINNED = -80

# a.test refuses requests from its own accounts at the worst level
# (egress_refuse_level: bad), and with the default levels every score low
# enough for a flag below min_flag_trust (20, so score -62 or less) is
# "bad".  Here "bad" starts below -90, so a.test sends the -80 user's
# request, flagged with trust 10, and b.test's gate is the one to refuse.
A_OPTIONS = ("modules:\n  mod_reputation:\n    levels: {trusted: 40, "
             "normal: 10, probation: -10, suspicious: -90}\n")


def _yaml(peer, peer_port, cafile, extra=""):
    return ("s2s_routes: {%s: \"127.0.0.1:%d\"}\n"
            "s2s_cafile: %s\n"
            "s2s_dialback: true\n"
            "s2s_handshake_timeout: 5\n" % (peer, peer_port, cafile)
            + extra)


def _federation(start_xmppd, tmp_path):
    """a.test and b.test, each trusting both CAs (SASL EXTERNAL)."""
    pa, pb = free_ports(2)
    bundle = str(tmp_path / "bundle.pem")
    a = start_xmppd(_yaml("b.test", pb, bundle, A_OPTIONS),
                    domain="a.test", s2s_port=pa)
    b = start_xmppd(_yaml("a.test", pa, bundle), domain="b.test",
                    s2s_port=pb)
    # The client contexts load the CA lazily, at the first stream.
    with open(bundle, "w") as f:
        for s in (a, b):
            with open(s.ca) as ca:
                f.write(ca.read())
    return a, b


def _ctl_json(srv, *args):
    r = srv.ctl("--json", *args)
    assert r.returncode == 0, "xmppctl %s: exit %d\n%s%s" % (
        " ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
    out = r.stdout.strip()
    return json.loads(out) if out else None


def _explanation(row):
    e = row.get("explanation")
    return json.loads(e) if isinstance(e, str) else e


async def _audit_entry(srv, subject, recipient, timeout=TIMEOUT):
    """The newest subscription_gate audit entry about subject for
    recipient (entries are written behind: wait for it)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = _ctl_json(srv, "audit_tail", "--n", "100", "--kind",
                         "subscription_gate") or []
        for row in rows:
            if row["subject"] == subject and row["recipient"] == recipient:
                return row
        if time.monotonic() > deadline:
            raise AssertionError("no audit entry %s -> %s in %r"
                                 % (subject, recipient, rows))
        await asyncio.sleep(0.1)


def _metric(srv, line_start):
    status, body = srv.http("GET", "/metrics")
    assert status == 200
    for line in body.decode().splitlines():
        if line.startswith(line_start + " "):
            return float(line.split()[-1])
    raise AssertionError("no metric line %s" % line_start)


def _log(srv):
    with open(srv.log, errors="replace") as f:
        return f.read()


async def test_gate_smoke(start_xmppd, tmp_path, event_loop):
    a, b = _federation(start_xmppd, tmp_path)
    ua, ub = Users(a), Users(b)
    ca, cb = Clients(a, event_loop), Clients(b, event_loop)
    try:
        x = await login(ca, ua.new("gx"), priority=1)
        y = await login(cb, ub.new("gy"), priority=1)
        z = await login(cb, ub.new("gz"), priority=1)
        xj, yj, zj = x.boundjid.bare, y.boundjid.bare, z.boundjid.bare

        # 1. A fresh account: flagged, verified (after a key fetch),
        # delivered with the verified <info/>, never with the flag.
        x.send_presence(pto=yj, ptype="subscribe")
        p = await expect_presence(y, "subscribe", xj)
        info = p.xml.find("{%s}info" % NS_RAA)
        assert info is not None, p
        assert p.xml.find("{%s}flag" % NS_TRUST) is None, p
        assert info.get("affiliation") == "registered"
        assert info.get("since", "").endswith("T00:00:00Z")
        trust = int(info.get("trust"))
        assert 0 <= trust <= (PROBATION_CAP + 101) // 2, trust
        seen = _ctl_json(a, "reputation", xj)
        assert seen["probation"] is True
        assert abs(trust - (seen["score"] + 101) // 2) <= 1, (trust, seen)

        row = await _audit_entry(b, xj, yj)
        assert (row["decision"], row["reason"], row["flag"]) == \
            ("deliver", "ok", "ok"), row
        # b.test had no key of a.test's yet: the request waited for the
        # discovery (the gate's pending path).
        flags = [e for e in _explanation(row) if e.get("what") == "flag"]
        assert flags and flags[0].get("key_fetched") is True, row

        # 2. Pinned at -80 on a.test: trust 10, below b's min_flag_trust.
        _ctl_json(a, "reputation_set", xj, str(PINNED), "--reason",
                  "gate test")
        x.send_presence(pto=zj, ptype="subscribe")
        await expect_presence(x, "unsubscribed", zj)
        await no_presence(z, "subscribe", xj, wait=0.5)

        row = await _audit_entry(b, xj, zj)
        assert (row["decision"], row["reason"], row["flag"]) == \
            ("reject", "flag_low_trust", "ok"), row
        flags = [e for e in _explanation(row) if e.get("what") == "flag"]
        assert len(flags) == 1, row
        assert flags[0]["result"] == "ok"
        assert flags[0]["issuer"] == "a.test"
        assert flags[0]["trust"] == (PINNED + 101) // 2
        assert "key_fetched" not in flags[0]     # cached: decided at once
        # The flag is evidence here too: its trust_flag item from a.test.
        items = [e for e in _explanation(row)
                 if e.get("what") == "trust_flag"]
        assert items and all(e["source"] == "a.test" for e in items), row
        assert "gate: reject from=%s to=%s reason=flag_low_trust" \
            % (xj, zj) in _log(b)

        # 3. The counters.
        st = _ctl_json(b, "gate_stats")
        assert st["delivered"] >= 1 and st["rejected"] >= 1, st
        assert st["decided"] == st["delivered"] + st["rejected"]
        assert st["reasons"]["flag_low_trust"] >= 1, st
        assert _metric(b, 'xmppd_gate_decisions_total{decision="reject",'
                       'reason="flag_low_trust"}') >= 1
        assert _metric(b, 'xmppd_gate_decisions_total{decision="deliver",'
                       'reason="ok"}') >= 1
        assert _metric(b, "xmppd_gate_decision_seconds_count") >= 2
        assert _metric(b, "xmppd_gate_pending") == 0
    finally:
        await ca.close_all()
        await cb.close_all()


async def test_gate_blocked_sender_dropped_silently(start_xmppd, tmp_path,
                                                   event_loop):
    """A b.test user blocks an a.test user: the a.test user's request is
    refused by the gate from the recipient's block list, whatever its flag
    and scores, silently (XEP-0191: a blocked entity must not learn of the
    block, so no 'unsubscribed' goes back), and b's audit says why."""
    from rep_util import block_iq

    a, b = _federation(start_xmppd, tmp_path)
    ua, ub = Users(a), Users(b)
    ca, cb = Clients(a, event_loop), Clients(b, event_loop)
    try:
        x = await login(ca, ua.new("bx"), priority=1)
        y = await login(cb, ub.new("by"), priority=1)
        xj, yj = x.boundjid.bare, y.boundjid.bare
        await block_iq(y, xj, None).send(timeout=TIMEOUT)

        x.send_presence(pto=yj, ptype="subscribe")
        row = await _audit_entry(b, xj, yj)
        assert (row["decision"], row["reason"]) == ("reject", "blocked"), row
        await no_presence(y, "subscribe", xj, wait=0.5)
        await no_presence(x, "unsubscribed", yj, wait=0.5)
        assert _ctl_json(b, "gate_stats")["reasons"]["blocked"] == 1
    finally:
        await ca.close_all()
        await cb.close_all()
