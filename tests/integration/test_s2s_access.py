"""Federation access control between two private xmppd servers (a.test and
b.test): the `s2s_access` rule as a whitelist and as a blacklist, and the
run-time block list (block_domain / unblock_domain / blocked_domains /
s2s_connections).

Refusals: outbound, the local sender gets not-allowed with a text naming
the refused domain (no stream is opened); inbound, the peer's
authentication is refused, so the peer's user gets a bounce
(remote-server-not-found or -timeout); both are logged as
`s2s: refused domain=D rule=R dir=in|out`."""

import asyncio
import os
import subprocess
import time

import pytest

from conftest import (GEN_CERT, ApiError, Clients, Instance, Users,
                      free_ports)
from xmpp_util import exchange_message, next_item

WAIT = 10.0     # seconds for any federation event


def _yaml(peer, peer_port, cafile, extra=""):
    return ("s2s_routes: {%s: \"127.0.0.1:%d\"}\n"
            "s2s_cafile: %s\n"
            "s2s_handshake_timeout: 5\n" % (peer, peer_port, cafile)) + extra


@pytest.fixture
def launch():
    """launch(extra_yaml, acl="", rules="", **kw) -> a running server whose
    `acl` and `access_rules` maps get the given entries (the conftest
    template already defines both maps: appending them would duplicate
    the keys)."""
    made = []

    def start(extra_yaml="", acl="", rules="", **kw):
        inst = Instance(extra_yaml, **kw)
        made.append(inst)
        with open(inst.srv.config) as f:
            text = f.read()
        text = text.replace("\nacl:\n", "\nacl:\n" + acl, 1)
        text = text.replace("\naccess_rules:\n", "\naccess_rules:\n" + rules,
                            1)
        with open(inst.srv.config, "w") as f:
            f.write(text)
        return inst.start()

    yield start
    reports = []
    for inst in made:
        inst.destroy()
        if inst.sanitizer_report:
            reports.append(inst.sanitizer_report)
    if reports:
        pytest.fail("xmppd's log has a sanitizer report:\n%s" % reports[0],
                    pytrace=False)


@pytest.fixture
def pair(launch, tmp_path):
    """pair(a_extra="", a_acl="", a_rules="", mode="external") -> (a, b).
    external: both trust both CAs (SASL EXTERNAL); dialback: certificates
    do not verify."""
    def start(a_extra="", a_acl="", a_rules="", mode="external"):
        pa, pb = free_ports(2)
        bundle = str(tmp_path / "bundle.pem")
        if mode == "dialback":
            other = str(tmp_path / "other")
            subprocess.run([GEN_CERT, other, "unrelated.test"], check=True,
                           capture_output=True)
            bundle = os.path.join(other, "ca.pem")
        a = launch(_yaml("b.test", pb, bundle, a_extra), acl=a_acl,
                   rules=a_rules, domain="a.test", s2s_port=pa)
        b = launch(_yaml("a.test", pa, bundle), domain="b.test",
                   s2s_port=pb)
        if mode == "external":
            with open(bundle, "w") as f:
                for s in (a, b):
                    with open(s.ca) as ca:
                        f.write(ca.read())
        return a, b
    return start


class Side:
    def __init__(self, srv, loop):
        self.srv = srv
        self.users = Users(srv)
        self.clients = Clients(srv, loop)

    async def login(self, prefix):
        return await self.clients.login(self.users.new(prefix), priority=1)

    async def close(self):
        await self.clients.close_all()


def _log(srv):
    with open(srv.log, errors="replace") as f:
        return f.read()


async def _wait_log(srv, needle, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if needle in _log(srv):
            return
        await asyncio.sleep(0.1)
    raise AssertionError("%r not in %s's log" % (needle, srv.domain))


async def _bounce(client, to, timeout=WAIT):
    """Send a message to `to`; return the error stanza that comes back."""
    client.send_message(mto=to, mbody="refused?", mtype="chat")
    while True:
        err = await next_item(client.errors, timeout, "bounce from %s" % to)
        if err["from"].bare == to.split("/")[0]:
            return err


def _conns(srv, remote):
    return [r for r in srv.api("s2s_connections") if r["remote"] == remote]


async def _wait_conns(srv, remote, want, timeout=WAIT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if bool(_conns(srv, remote)) == want:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("%s: streams with %s: %r" % (
        srv.domain, remote, srv.api("s2s_connections")))


async def test_whitelist_refuses_unlisted_domain_both_ways(pair, event_loop):
    """a federates only with trusted servers (b.test is not one): a's user
    learns that a refused b.test; b's stream to a is refused at dialback;
    nothing is delivered either way."""
    a, b = pair("s2s_access: trusted_servers\n",
                a_acl="  trusted: {server: [c.test]}\n",
                a_rules="  trusted_servers: [{allow: trusted}, "
                "{deny: all}]\n", mode="dialback")
    sa, sb = Side(a, event_loop), Side(b, event_loop)
    try:
        x, y = await sa.login("wa"), await sb.login("wb")
        err = await _bounce(x, y.boundjid.full)
        assert err["error"]["condition"] == "not-allowed"
        assert "b.test" in err["error"]["text"]
        await _wait_log(a, "s2s: refused domain=b.test rule=s2s_access "
                        "dir=out access=trusted_servers")
        assert _conns(a, "b.test") == []        # never connected

        err = await _bounce(y, x.boundjid.full)
        assert err["error"]["condition"] in ("remote-server-not-found",
                                             "remote-server-timeout")
        await _wait_log(a, "s2s: refused domain=b.test rule=s2s_access "
                        "dir=in")
        assert x.inbox.empty() and y.inbox.empty()
    finally:
        await sa.close()
        await sb.close()


async def test_blacklist_refuses_listed_keeps_others(pair, event_loop):
    """a denies the spammers ACL (a glob over *.c.test and c.test) and
    allows all others: b.test federates, c.test and its subdomains are
    refused without a connection attempt."""
    a, b = pair("s2s_access: s2s_policy\n",
                a_acl="  spammers: {server: c.test, "
                "server_glob: \"*.c.test\"}\n",
                a_rules="  s2s_policy: [{deny: spammers}, {allow: all}]\n")
    sa, sb = Side(a, event_loop), Side(b, event_loop)
    try:
        x, y = await sa.login("ba"), await sb.login("bb")
        await exchange_message(x, y)
        await exchange_message(y, x)
        for to in ("spam@c.test", "spam@chat.c.test"):
            err = await _bounce(x, to)
            assert err["error"]["condition"] == "not-allowed", err
        await _wait_log(a, "s2s: refused domain=chat.c.test "
                        "rule=s2s_access dir=out")
        await exchange_message(x, y)            # still federating with b
    finally:
        await sa.close()
        await sb.close()


async def test_block_domain_at_run_time(pair, event_loop):
    # Two one-way streams (no XEP-0288 bidi), so the block must close both.
    a, b = pair(a_extra="s2s_bidi: false\n")
    sa, sb = Side(a, event_loop), Side(b, event_loop)
    try:
        x, y = await sa.login("ra"), await sb.login("rb")
        await exchange_message(x, y)
        await exchange_message(y, x)
        rows = _conns(a, "b.test")
        assert {r["direction"] for r in rows} == {"in", "out"}, rows
        for r in rows:
            assert r["auth"] == "external" and r["verified"] is True, r
            assert r["tls"].startswith("TLS") and r["local"] == "a.test"
        # xmppctl: positional DOMAIN REASON; prints the streams closed.
        out = a.ctl("block_domain", "B.test", "spam wave")
        assert out.returncode == 0, out.stderr
        assert int(out.stdout.strip()) >= 2
        await _wait_conns(a, "b.test", False)
        await _wait_log(a, "s2s: blocked domain=b.test")
        listed = a.api("blocked_domains")
        assert [(r["domain"], r["reason"]) for r in listed] == \
            [("b.test", "spam wave")]
        assert listed[0]["since"].endswith("Z")
        out = a.ctl("blocked_domains")
        assert out.returncode == 0 and "b.test\tspam wave\t" in out.stdout

        # Both directions refused, subdomains too; nothing delivered.
        err = await _bounce(x, y.boundjid.full)
        assert err["error"]["condition"] == "not-allowed"
        err = await _bounce(x, "someone@chat.b.test")
        assert err["error"]["condition"] == "not-allowed"
        await _wait_log(a, "rule=block_domain dir=out blocked=b.test")
        err = await _bounce(y, x.boundjid.full)
        assert err["error"]["condition"] in ("remote-server-not-found",
                                             "remote-server-timeout")
        await _wait_log(a, "s2s: refused domain=b.test rule=block_domain "
                        "dir=in")
        assert x.inbox.empty() and y.inbox.empty()

        # Bad input.
        with pytest.raises(ApiError) as e:
            a.api("block_domain", domain="a.test", reason="self")
        assert e.value.status == 400
        with pytest.raises(ApiError) as e:
            a.api("block_domain", domain="bad domain!", reason="")
        assert e.value.status == 400

        # The block survives a kill -9 and restart.
        await sa.close()
        await sb.close()
        a.instance.restart(kill=True)
        sa, sb = Side(a, event_loop), Side(b, event_loop)
        x, y = await sa.login("ra2"), await sb.login("rb2")
        assert [r["domain"] for r in a.api("blocked_domains")] == ["b.test"]
        err = await _bounce(x, y.boundjid.full)
        assert err["error"]["condition"] == "not-allowed"

        # Unblock: federation comes back at once.
        assert a.api("unblock_domain", domain="b.test") == 0
        assert a.api("blocked_domains") == []
        await exchange_message(x, y)
        await exchange_message(y, x)
        with pytest.raises(ApiError) as e:
            a.api("unblock_domain", domain="b.test")
        assert e.value.status == 404
    finally:
        await sa.close()
        await sb.close()
