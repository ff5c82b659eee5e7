"""Signed trust flags and the subscription gate next to Prosody 0.12
(issue 6), in both certificate modes of the lab.

- xmppd -> Prosody: our request carries XEP-0489 <info/> and our signed
  <flag/>.  Prosody knows neither, passes the stanza to its client as it
  came (RFC 6120 8.4: unknown children are kept), and the subscription
  handshake completes both ways; presence flows afterwards.
- Prosody -> xmppd: Prosody does not flag.  The gate's default no-flag
  policy (`score`) delivers a sender in no bad standing, and the audit
  records the decision with the flag `absent`.  A second xmppd
  (xmppd2.test) configured with `subscription_gate: {no_flag: reject}`
  refuses the same request: its client never sees it, the Prosody user
  gets `unsubscribed`, and the audit says `no_flag_rejected`.
"""

import asyncio
import re

import lab
from xmpp_util import hard_close

NS_TRUST = "urn:xmppd:trust:0"
NS_RAA = "urn:xmpp:raa:0"
WAIT = 10.0
QUIET = 1.5
AUDIT_WAIT = 8.0


async def audit_row(srv, subject, pred, what, timeout=AUDIT_WAIT):
    """Poll the admin API's `audit` of subject until a row satisfies
    pred; returns it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        rows = await loop.run_in_executor(
            None, lambda: srv.api("audit", jid=subject))
        for r in rows:
            if pred(r):
                return r
        if loop.time() > deadline:
            raise AssertionError("%s: no audit row of %s on %s within %.0f "
                                 "s; rows: %r" % (what, subject, srv.domain,
                                                  timeout, rows))
        await asyncio.sleep(0.2)


def gate_row(subject, recipient, decision):
    return lambda r: (r.get("kind") == "subscription_gate"
                      and r.get("subject") == subject
                      and r.get("recipient") == recipient
                      and r.get("decision") == decision)


async def no_request(c, frm, wait=QUIET):
    """c gets no subscription request from frm within wait seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        left = deadline - loop.time()
        if left <= 0:
            return
        try:
            p = await asyncio.wait_for(c.presences.get(), left)
        except asyncio.TimeoutError:
            return
        if p["type"] == "subscribe" and p["from"].bare == frm:
            raise AssertionError("the refused request reached %s: %s"
                                 % (c.boundjid, p))


async def test_trust_xmppd_to_prosody_flags_kept(clients, lab_env, xmppd):
    """Prosody's client receives our request with <info/> and <flag/> in
    it (Prosody keeps what it does not know), and everything after it
    works as with any server: both subscriptions, then presence."""
    peer = lab_env.prosody
    ux, up = await xmppd.new_user("a"), await peer.new_user("b")
    x = await clients.login(xmppd, ux)
    y = await clients.login(peer, up)

    x.send_presence(pto=up.jid, ptype="subscribe")
    req = await lab.expect_presence(y, "subscribe", ux.jid, WAIT)
    assert req["from"].full == ux.jid, req
    info = req.xml.find("{%s}info" % NS_RAA)
    assert info is not None, "no XEP-0489 <info/> at Prosody's client: %s" \
        % req
    assert info.get("affiliation") == "registered", req
    assert re.fullmatch(r"0|[1-9][0-9]?|100", info.get("trust", "")), req
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT00:00:00Z", info.get("since", "")), \
        req
    flag = req.xml.find("{%s}flag" % NS_TRUST)
    assert flag is not None, "Prosody dropped our <flag/>: %s" % req
    assert flag.get("issuer") == xmppd.domain, req
    assert flag.get("sender") == ux.jid and flag.get("recipient") == up.jid, \
        req
    assert flag.get("trust") == info.get("trust"), req

    # Prosody's user approves and asks back; ours approves: both ways.
    y.send_presence(pto=ux.jid, ptype="subscribed")
    await lab.expect_presence(x, "subscribed", up.jid, WAIT)
    await lab.subscribe(y, x)
    await lab.wait_roster(x, up.jid, "both")
    await lab.wait_roster(y, ux.jid, "both")

    # Presence flows both ways: a new resource on each side is seen by
    # the other, and goes away again.
    y2 = await clients.login(peer, up, resource="second", presence=False)
    y2.send_presence(pstatus="here")
    p = await lab.expect_presence(x, "available", y2.boundjid.full, WAIT)
    assert p["status"] == "here", p
    x2 = await clients.login(xmppd, ux, resource="second", presence=False)
    x2.send_presence(pstatus="there")
    p = await lab.expect_presence(y, "available", x2.boundjid.full, WAIT)
    assert p["status"] == "there", p
    await hard_close(y2)
    await lab.expect_presence(x, "unavailable", y2.boundjid.full, WAIT)

    # xmppd's audit has Prosody's request back (no flag), delivered.
    row = await audit_row(xmppd, up.jid, gate_row(up.jid, ux.jid, "deliver"),
                          "the gate's entry for Prosody's request")
    assert row["flag"] == "absent", row


async def test_trust_prosody_to_xmppd_no_flag_default(clients, lab_env,
                                                      xmppd):
    """No flag, default policy (score): delivered, and recorded."""
    peer = lab_env.prosody
    up, ux = await peer.new_user("b"), await xmppd.new_user("a")
    y = await clients.login(peer, up)
    x = await clients.login(xmppd, ux)
    y.send_presence(pto=ux.jid, ptype="subscribe")
    req = await lab.expect_presence(x, "subscribe", up.jid, WAIT)
    assert req.xml.find("{%s}flag" % NS_TRUST) is None, req
    row = await audit_row(xmppd, up.jid, gate_row(up.jid, ux.jid, "deliver"),
                          "the gate's deliver entry")
    assert row["flag"] == "absent" and row["reason"] == "ok", row
    x.send_presence(pto=up.jid, ptype="subscribed")
    await lab.expect_presence(y, "subscribed", ux.jid, WAIT)
    await lab.wait_roster(y, ux.jid, "to")


NO_FLAG_REJECT = ("modules:\n  mod_reputation:\n"
                  "    subscription_gate: {no_flag: reject}\n")


async def test_trust_prosody_to_xmppd_no_flag_reject(clients, lab_env,
                                                     start_xmppd2):
    """xmppd2.test with `subscription_gate: {no_flag: reject}`: Prosody's
    unflagged request is refused: xmppd2's client never sees it, the
    Prosody user gets `unsubscribed`, the audit says why.  Messages still
    flow (only subscription requests are gated)."""
    x2 = start_xmppd2(extra_yaml=NO_FLAG_REJECT)
    peer = lab_env.prosody
    up, ux = await peer.new_user("b"), await x2.new_user("a")
    y = await clients.login(peer, up)
    x = await clients.login(x2, ux)
    y.send_presence(pto=ux.jid, ptype="subscribe")
    await lab.expect_presence(y, "unsubscribed", ux.jid, WAIT)
    await no_request(x, up.jid)
    row = await audit_row(x2, up.jid, gate_row(up.jid, ux.jid, "reject"),
                          "the gate's reject entry")
    assert row["reason"] == "no_flag_rejected", row
    assert row["flag"] == "absent", row
    items = {r["jid"]: r for r in x2.api("get_roster", user=ux.name,
                                         host=x2.domain)}
    assert up.jid not in items, items
    # Chat is not affected: only subscription requests are gated.
    await lab.send_chat(y, ux.jid, x)
