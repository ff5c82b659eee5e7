"""c2s authentication: STARTTLS first, then SASL (SCRAM-SHA-256,
SCRAM-SHA-1, PLAIN), the failure delay, and resource conflicts."""

import re
import time

import pytest

from xmpp_util import (LoginFailed, TIMEOUT, connect_and_wait, first_of,
                       exchange_message, raw_exchange, stream_header)


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"])
async def test_login_with_mechanism(server, users, clients, mech):
    u = users.new()
    c = await clients.login(u, mech=mech)
    assert c["feature_mechanisms"].mech.name == mech
    # Over STARTTLS, with the server's certificate verified by the test CA.
    ssl_obj = c.transport.get_extra_info("ssl_object")
    assert ssl_obj is not None, "session is not encrypted"
    assert c.boundjid.bare == u.jid
    assert c.boundjid.resource, "no resource bound"


async def test_server_generates_resource(server, users, clients):
    u = users.new()
    a = await clients.login(u)
    b = await clients.login(u)
    assert a.boundjid.resource and b.boundjid.resource
    assert a.boundjid.resource != b.boundjid.resource
    await exchange_message(a, b)


async def test_requested_resource_is_bound(server, users, clients):
    u = users.new()
    c = await clients.login(u, resource="laptop")
    assert c.boundjid.full == u.jid + "/laptop"


@pytest.mark.parametrize("mech", ["SCRAM-SHA-256", "PLAIN"])
async def test_wrong_password_is_delayed(server, users, clients, mech):
    u = users.new()
    c = clients.new(u, password="wrong-" + u.password, mech=mech)
    with pytest.raises(LoginFailed):
        await connect_and_wait(c, server.host, server.c2s_port)
    assert c.auth_failures and c.auth_failures[0] == "not-authorized", \
        c.auth_failures
    # The failure comes only after the configured delay (measured from the
    # last thing the client sent before it).
    delay = c.auth_failure_times[0] - c.last_sent_before_failure
    want = 0.8 * server.auth_failure_delay_ms / 1000.0
    assert delay >= want, "failure after %.3f s, want >= %.3f s" % (
        delay, want)


async def test_unknown_user_is_not_authorized(server, users, clients):
    c = clients.new("nosuch-%d@%s" % (time.time_ns(), server.domain),
                    password="whatever", mech="PLAIN")
    with pytest.raises(LoginFailed):
        await connect_and_wait(c, server.host, server.c2s_port)
    assert c.auth_failures[:1] == ["not-authorized"], c.auth_failures


def test_only_starttls_offered_before_tls(server):
    """Before TLS the features hold <starttls><required/></starttls> and
    nothing else: no SASL mechanisms, so no plaintext auth."""
    r = raw_exchange(server.host, server.c2s_port,
                     stream_header(server.domain), timeout=5.0,
                     until=[b"features>", b"</stream:stream>"])
    text = r.text
    assert "<stream:stream" in text or "<stream " in text, r
    m = re.search(r"<(?:stream:)?features[^>]*>(.*?)</(?:stream:)?features>",
                  text, re.S)
    assert m, "no stream features before TLS: %r" % r
    features = m.group(1)
    assert "urn:ietf:params:xml:ns:xmpp-tls" in features
    assert re.search(r"<starttls[^>]*>\s*<required\s*/>\s*</starttls>",
                     features), features
    assert "mechanisms" not in features and "PLAIN" not in features, features
    # Only one child element: <starttls/>.
    tops = re.findall(r"<([A-Za-z][\w:.-]*)", features)
    assert tops == ["starttls", "required"], tops


def test_auth_before_tls_is_refused(server):
    """A client that ignores STARTTLS and tries PLAIN gets no session."""
    payload = stream_header(server.domain) + (
        b"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>"
        b"AGJvYgBzZWNyZXQ=</auth>")
    r = raw_exchange(server.host, server.c2s_port, payload, timeout=5.0,
                     until=[b"</failure>", b"</stream:stream>"])
    assert "<success" not in r.text, r
    assert r.closed or "<failure" in r.text, r


async def test_same_resource_conflict(server, users, clients):
    """RFC 6120 7.7.2.2: the old session gets <conflict/>; the new one
    keeps the resource."""
    u = users.new()
    old = await clients.login(u, resource="phone")
    new = await clients.login(u, resource="phone")
    assert new.boundjid.full == u.jid + "/phone"
    got = await first_of(old.closed, timeout=TIMEOUT)
    assert got is old.closed, "old session was not closed"
    assert "conflict" in old.stream_errors, old.stream_errors
    # The new session works: a message to the full JID reaches it.
    other = await clients.login(users.new())
    await exchange_message(other, new)
