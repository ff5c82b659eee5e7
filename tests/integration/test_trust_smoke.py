"""Trust flags, a quick look (mod_trust, reputation/trust.c): two private
xmppd domains (a.test, b.test) federating with SASL EXTERNAL, as in
test_s2s.py.  The full end-to-end suite is test_trust_flags.py; this one
checks the glue by itself:

- a user of a.test asks a user of b.test for a subscription: b's client
  gets it with XEP-0489 <info/> (b.test fetched a.test's keys over s2s to
  verify the flag; its gate may strip the <flag/> and keep the verified
  <info/>, or pass both);
- what a client puts in our namespaces never leaves a.test;
- the keys IQ of a domain answers its current key, to anyone;
- a.test advertises the two features;
- an account in probation is limited per hour toward other domains.
"""

import asyncio
import xml.etree.ElementTree as ET

import pytest

from conftest import Clients, Users, free_ports

NS_TRUST = "urn:xmppd:trust:0"
NS_RAA = "urn:xmpp:raa:0"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
PER_HOUR = 2


def _yaml(peer, peer_port, cafile):
    return ("s2s_routes: {%s: \"127.0.0.1:%d\"}\n"
            "s2s_cafile: %s\n"
            "s2s_handshake_timeout: 5\n"
            "modules:\n"
            "  mod_reputation:\n"
            "    egress_probation_per_hour: %d\n"
            % (peer, peer_port, cafile, PER_HOUR))


@pytest.fixture
def pair(start_xmppd, tmp_path):
    pa, pb = free_ports(2)
    bundle = str(tmp_path / "bundle.pem")
    a = start_xmppd(_yaml("b.test", pb, bundle), domain="a.test",
                    s2s_port=pa)
    b = start_xmppd(_yaml("a.test", pa, bundle), domain="b.test",
                    s2s_port=pb)
    # Both trust both CAs (the client contexts read the file lazily).
    with open(bundle, "w") as f:
        for s in (a, b):
            with open(s.ca) as ca:
                f.write(ca.read())
    return a, b


async def _wait(cond, what, tries=60):
    for _ in range(tries):
        if cond():
            return
        await asyncio.sleep(0.1)
    pytest.fail("timed out waiting for %s" % what)


def _log(srv):
    with open(srv.log, errors="replace") as f:
        return f.read()


async def test_flagged_request_reaches_peer(pair, event_loop):
    a, b = pair
    ua, ub = Users(a), Users(b)
    ca, cb = Clients(a, event_loop), Clients(b, event_loop)
    try:
        x = await ca.login(ua.new("ts"), priority=1)
        y = await cb.login(ub.new("ts"), priority=1)
        got = []
        y.add_event_handler("presence_subscribe", lambda p: got.append(p))
        # A forged flag and info from the client: stripped by a.test.
        p = x.make_presence(pto=y.boundjid.bare, ptype="subscribe")
        p.xml.append(ET.Element("{%s}flag" % NS_TRUST, {"trust": "100"}))
        p.xml.append(ET.Element("{%s}info" % NS_RAA,
                                {"affiliation": "admin", "trust": "100"}))
        p.send()
        await _wait(lambda: got, "the subscription request at b.test")
        st = got[0].xml
        infos = st.findall("{%s}info" % NS_RAA)
        assert len(infos) == 1, ET.tostring(st)
        info = infos[0]
        # A fresh account: registered, score 5, trust (5 + 101) // 2.
        assert info.get("affiliation") == "registered"
        assert info.get("trust") == "53"
        assert info.get("since", "").endswith("T00:00:00Z")
        flags = st.findall("{%s}flag" % NS_TRUST)
        # Before the gate, b passes the flag through; after it, b strips
        # it.  Either way it is ours, not the client's forgery.
        assert len(flags) <= 1
        for fl in flags:
            assert fl.get("issuer") == "a.test"
            assert fl.get("sender") == x.boundjid.bare
            assert fl.get("recipient") == y.boundjid.bare
            assert fl.get("trust") == "53"
        # b.test asked a.test for its keys over the s2s stream.
        await _wait(lambda: "trust: keys of domain=a.test fetched" in
                    _log(b), "b.test's key discovery")
    finally:
        await ca.close_all()
        await cb.close_all()


async def test_keys_iq_and_features(pair, event_loop):
    a, _ = pair
    ua = Users(a)
    ca = Clients(a, event_loop)
    try:
        x = await ca.login(ua.new("tk"), priority=1)
        iq = x.make_iq_get(ito="a.test")
        iq.append(ET.Element("{%s}keys" % NS_TRUST))
        res = await iq.send(timeout=5)
        keys = res.xml.find("{%s}keys" % NS_TRUST)
        assert keys is not None
        k = keys.findall("{%s}key" % NS_TRUST)
        assert len(k) == 1
        assert len(k[0].get("id")) == 12
        assert k[0].get("alg") == "ed25519"
        assert len(k[0].get("public")) == 44
        assert k[0].get("created", "").endswith("Z")
        assert k[0].get("retired") is None
        # The key id is the one the log says a.test signs with.
        assert "trust: domain=a.test signs with key=%s" % k[0].get("id") \
            in _log(a)

        iq = x.make_iq_get(queryxmlns="http://jabber.org/protocol/disco#info",
                           ito="a.test")
        res = await iq.send(timeout=5)
        feats = {f.get("var") for f in res.xml.iter(
            "{http://jabber.org/protocol/disco#info}feature")}
        assert NS_TRUST in feats
        assert NS_RAA + "#embed-presence-sub" in feats
    finally:
        await ca.close_all()


async def test_local_request_stripped(pair, event_loop):
    a, _ = pair
    ua = Users(a)
    ca = Clients(a, event_loop)
    try:
        x = await ca.login(ua.new("tl"), priority=1)
        y = await ca.login(ua.new("tl"), priority=1)
        got = []
        y.add_event_handler("presence_subscribe", lambda p: got.append(p))
        p = x.make_presence(pto=y.boundjid.bare, ptype="subscribe")
        p.xml.append(ET.Element("{%s}flag" % NS_TRUST, {"trust": "100"}))
        p.xml.append(ET.Element("{%s}info" % NS_RAA, {"trust": "100"}))
        p.send()
        await _wait(lambda: got, "the local subscription request")
        st = got[0].xml
        # Local to local: stripped, and not flagged.
        assert st.find("{%s}flag" % NS_TRUST) is None
        assert st.find("{%s}info" % NS_RAA) is None
    finally:
        await ca.close_all()


async def test_probation_limit(pair, event_loop):
    a, b = pair
    ua, ub = Users(a), Users(b)
    ca = Clients(a, event_loop)
    try:
        x = await ca.login(ua.new("tp"), priority=1)
        targets = [ub.new("tq") for _ in range(PER_HOUR + 1)]
        errors = []
        x.add_event_handler("presence_error", lambda p: errors.append(p))
        for t in targets[:PER_HOUR]:
            x.send_presence(pto=t.jid, ptype="subscribe")
        # Asking the same contact again is free.
        x.send_presence(pto=targets[0].jid, ptype="subscribe")
        await asyncio.sleep(0.5)
        assert not errors
        x.send_presence(pto=targets[-1].jid,
                        ptype="subscribe")
        await _wait(lambda: errors, "the policy-violation")
        e = errors[0]
        err = e.xml.find("{jabber:client}error")
        # Read from the XML: slixmpp 1.8 knows only RFC 3920's conditions.
        assert err.find("{%s}policy-violation" % NS_STANZAS) is not None
        assert "limit reached" in err.find("{%s}text" % NS_STANZAS).text
        assert e["from"].bare == targets[-1].jid
        assert "why=probation_limit" in _log(a)
    finally:
        await ca.close_all()
