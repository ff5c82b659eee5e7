"""Federation between two private xmppd servers (a.test and b.test).

Each server has its own test CA; s2s_cafile decides what a server trusts:
a bundle of both CAs (SASL EXTERNAL), or an unrelated CA (certificates do
not verify, dialback authenticates).  s2s_routes point each domain at the
other's s2s port, so no DNS is involved."""

import asyncio
import os
import subprocess

import pytest
from slixmpp.exceptions import IqError

from conftest import GEN_CERT, Clients, Users, free_ports
from xmpp_util import exchange_message, next_item


def _yaml(peer, peer_port, cafile, dialback=True, bidi=None, idle=None):
    return ("s2s_routes: {%s: \"127.0.0.1:%d\"}\n"
            "s2s_cafile: %s\n"
            "s2s_dialback: %s\n"
            "s2s_handshake_timeout: 5\n"
            % (peer, peer_port, cafile, "true" if dialback else "false")
            + ("" if bidi is None
               else "s2s_bidi: %s\n" % ("true" if bidi else "false"))
            + ("" if idle is None else "s2s_idle_timeout: %d\n" % idle))


@pytest.fixture
def federation(start_xmppd, tmp_path):
    """start(mode, b_dialback=True) -> (a, b) servers.  mode: 'external'
    (both trust both CAs) or 'dialback' (both trust an unrelated CA)."""
    def start(mode, b_dialback=True, a_bidi=None, b_bidi=None, idle=None):
        pa, pb = free_ports(2)
        bundle = str(tmp_path / "bundle.pem")
        if mode == "dialback":
            other = str(tmp_path / "other")
            subprocess.run([GEN_CERT, other, "unrelated.test"], check=True,
                           capture_output=True)
            bundle = os.path.join(other, "ca.pem")
        a = start_xmppd(_yaml("b.test", pb, bundle, bidi=a_bidi, idle=idle),
                        domain="a.test", s2s_port=pa)
        b = start_xmppd(_yaml("a.test", pa, bundle, b_dialback, b_bidi,
                              idle=idle),
                        domain="b.test", s2s_port=pb)
        if mode == "external":
            # The client contexts load the CA lazily, at the first stream.
            with open(bundle, "w") as f:
                for s in (a, b):
                    with open(s.ca) as ca:
                        f.write(ca.read())
        return a, b
    return start


async def _login_both(a, b, event_loop):
    ua, ub = Users(a), Users(b)
    ca, cb = Clients(a, event_loop), Clients(b, event_loop)
    x = await ca.login(ua.new("fa"), priority=1)
    y = await cb.login(ub.new("fb"), priority=1)
    return (ua, ub, ca, cb), x, y


async def _close(things):
    ua, ub, ca, cb = things
    await ca.close_all()
    await cb.close_all()


def _log(srv):
    with open(srv.log, errors="replace") as f:
        return f.read()


@pytest.mark.parametrize("mode", ["external", "dialback"])
async def test_s2s_message_both_ways_and_iq(federation, event_loop, mode):
    a, b = federation(mode)
    things, x, y = await _login_both(a, b, event_loop)
    try:
        await exchange_message(x, y)
        await exchange_message(y, x)
        # An IQ to the remote domain (disco#info) and one it answers with an error.
        iq = x.make_iq_get(queryxmlns="http://jabber.org/protocol/disco#info",
                           ito="b.test")
        res = await iq.send(timeout=5)
        assert res["type"] == "result"
        iq = x.make_iq_get(queryxmlns="urn:xmpp:nothing-here", ito="b.test")
        with pytest.raises(IqError) as e:
            await iq.send(timeout=5)
        assert e.value.iq["error"]["condition"] == "service-unavailable"
        want = "auth=EXTERNAL" if mode == "external" else "auth=dialback"
        assert want in _log(a) and want in _log(b)
    finally:
        await _close(things)


async def test_s2s_subscription_handshake(federation, event_loop):
    a, b = federation("external")
    things, x, y = await _login_both(a, b, event_loop)
    try:
        got = []
        y.add_event_handler("presence_subscribe", lambda p: got.append(p))
        x.send_presence(pto=y.boundjid.bare, ptype="subscribe")
        for _ in range(50):
            if got:
                break
            await __import__("asyncio").sleep(0.1)
        assert got and got[0]["from"].bare == x.boundjid.bare
    finally:
        await _close(things)


async def test_s2s_dialback_refused_bounces(federation, event_loop):
    """b refuses dialback and a's certificate does not verify at b: a's
    message bounces with an error, nothing is delivered."""
    a, b = federation("dialback", b_dialback=False)
    things, x, y = await _login_both(a, b, event_loop)
    try:
        x.send_message(mto=y.boundjid.full, mbody="never", mtype="chat")
        err = await next_item(x.errors, 10, "bounce")
        assert err["error"]["condition"] in (
            "remote-server-not-found", "remote-server-timeout")
    finally:
        await _close(things)


async def test_s2s_unreachable_domain_bounces(server, users, clients):
    """No route and no DNS answer for nowhere.invalid: the message bounces
    (remote-server-not-found) and the local user is unaffected."""
    x = await clients.login(users.new("nr"), priority=1)
    x.send_message(mto="someone@nowhere.invalid", mbody="hi", mtype="chat")
    err = await next_item(x.errors, 10, "bounce")
    assert err["error"]["condition"] in ("remote-server-not-found",
                                         "remote-server-timeout")


# --------------------------------------------------------------------------
# XEP-0288 bidirectional streams (s2s_bidi, default true)


def _streams(srv, remote):
    """srv's authenticated streams with remote (s2s_connections rows);
    dialback's short verification streams never authenticate."""
    return [r for r in srv.api("s2s_connections")
            if r["remote"] == remote and r["auth"] != "none"]


@pytest.mark.parametrize("mode", ["external", "dialback"])
async def test_s2s_bidi_one_stream_both_ways(federation, event_loop, mode):
    """Both sides allow bidi (the default): a's stream to b carries b's
    answer too; no second stream is opened, and the peer's stanzas on our
    outbound stream are accepted (from b.test to a.test)."""
    a, b = federation(mode)
    things, x, y = await _login_both(a, b, event_loop)
    try:
        await exchange_message(x, y)
        await exchange_message(y, x)
        await exchange_message(x, y)
        iq = y.make_iq_get(queryxmlns="http://jabber.org/protocol/disco#info",
                           ito="a.test")
        assert (await iq.send(timeout=5))["type"] == "result"
        sa, sb = _streams(a, "b.test"), _streams(b, "a.test")
        assert len(sa) == 1 and len(sb) == 1, (sa, sb)
        ra, rb = sa[0], sb[0]
        assert ra["direction"] == "out" and rb["direction"] == "in"
        assert ra["bidi"] is True and rb["bidi"] is True
        want = "external" if mode == "external" else "dialback"
        assert ra["auth"] == want and rb["auth"] == want, (ra, rb)
        # Both directions on the one stream: y's message and the IQ
        # exchange went b -> a over it.
        assert ra["stanzas_out"] >= 3 and ra["stanzas_in"] >= 2, ra
        assert rb["stanzas_in"] >= 3 and rb["stanzas_out"] >= 2, rb
        assert "bidi=yes" in _log(a) and "bidi=yes" in _log(b)
    finally:
        await _close(things)


@pytest.mark.parametrize("off", ["initiator", "receiver"])
async def test_s2s_bidi_off_on_one_side(federation, event_loop, off):
    """s2s_bidi: false on one side (the initiator does not ask, or the
    receiver does not offer): two one-way streams, both work."""
    a, b = federation("external", a_bidi=(off != "initiator"),
                      b_bidi=(off != "receiver"))
    things, x, y = await _login_both(a, b, event_loop)
    try:
        await exchange_message(x, y)
        await exchange_message(y, x)
        sa = _streams(a, "b.test")
        assert sorted(r["direction"] for r in sa) == ["in", "out"], sa
        assert all(r["bidi"] is False for r in sa), sa
        assert "bidi=yes" not in _log(a) and "bidi=yes" not in _log(b)
    finally:
        await _close(things)


async def test_s2s_bidi_stream_gone_reopens(federation, event_loop):
    """When the peer's bidi stream goes (b blocks a.test, then unblocks
    it), b's next stanza to a.test opens a stream of its own."""
    a, b = federation("external")
    things, x, y = await _login_both(a, b, event_loop)
    try:
        await exchange_message(x, y)
        await exchange_message(y, x)
        assert [r["direction"] for r in _streams(b, "a.test")] == ["in"]
        assert b.api("block_domain", domain="a.test", reason="") >= 1
        b.api("unblock_domain", domain="a.test")
        await exchange_message(y, x)
        assert [r["direction"] for r in _streams(b, "a.test")] == ["out"]
    finally:
        await _close(things)


@pytest.mark.parametrize("bidi", [True, False])
async def test_s2s_idle_streams_close_and_reopen(federation, event_loop,
                                                 bidi):
    """Streams with no traffic either way close after s2s_idle_timeout
    (outbound ones included, which only we write to), and the next stanza
    opens a new one."""
    a, b = federation("external", a_bidi=bidi, b_bidi=bidi, idle=2)
    things, x, y = await _login_both(a, b, event_loop)
    try:
        await exchange_message(x, y)
        await exchange_message(y, x)
        assert _streams(a, "b.test") and _streams(b, "a.test")
        deadline = event_loop.time() + 8
        while _streams(a, "b.test") or _streams(b, "a.test"):
            assert event_loop.time() < deadline, (
                _streams(a, "b.test"), _streams(b, "a.test"))
            await asyncio.sleep(0.2)
        await exchange_message(x, y)
        await exchange_message(y, x)
    finally:
        await _close(things)
