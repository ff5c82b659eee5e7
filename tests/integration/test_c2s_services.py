"""What the server itself answers: disco#info and #items (XEP-0030), ping
(XEP-0199), version (XEP-0092), and service-unavailable for the rest."""

import pytest

from xmpp_util import send_iq_expect_error

NEEDED_FEATURES = {
    "http://jabber.org/protocol/disco#info",
    "http://jabber.org/protocol/disco#items",
    "urn:xmpp:ping",
    "jabber:iq:version",
}


async def test_disco_info_on_domain(server, users, clients):
    c = await clients.login(users.new())
    res = await c["xep_0030"].get_info(jid=server.domain, local=False,
                                       timeout=10)
    assert res["type"] == "result"
    assert res["from"].full == server.domain
    info = res["disco_info"]
    identities = {(cat, typ) for cat, typ, _lang, _name in
                  info["identities"]}
    assert ("server", "im") in identities, identities
    features = set(info["features"])
    missing = NEEDED_FEATURES - features
    assert not missing, "missing features %s in %s" % (missing, features)


async def test_disco_items_on_domain(server, users, clients):
    c = await clients.login(users.new())
    res = await c["xep_0030"].get_items(jid=server.domain, local=False,
                                        timeout=10)
    assert res["type"] == "result"
    assert res["from"].full == server.domain
    # Items may be empty (no components yet), but each one has a JID.
    for item in res["disco_items"]["items"]:
        assert item[0], item


async def test_ping_server(server, users, clients):
    c = await clients.login(users.new())
    res = await c["xep_0199"].send_ping(server.domain, timeout=10)
    assert res["type"] == "result"
    assert res["from"].full == server.domain


async def test_version_of_server(server, users, clients):
    c = await clients.login(users.new())
    res = await c["xep_0092"].get_version(server.domain, timeout=10)
    assert res["type"] == "result"
    v = res["software_version"]
    assert v["name"] == "xmppd"
    assert v["version"] == "0.1.0"


@pytest.mark.parametrize("iq_type", ["get", "set"])
async def test_unknown_iq_namespace(server, users, clients, iq_type):
    c = await clients.login(users.new())
    iq = c.Iq()
    iq["type"] = iq_type
    iq["to"] = server.domain
    iq.append(_element("{urn:xmppd:test:nonexistent}query"))
    assert await send_iq_expect_error(iq) == "service-unavailable"
    # The stream survives the error.
    res = await c["xep_0199"].send_ping(server.domain, timeout=10)
    assert res["type"] == "result"


async def test_iq_to_own_bare_jid_unknown_namespace(server, users, clients):
    """An IQ to the user's own bare JID is handled by the server on the
    user's behalf (RFC 6120 10.3.3): unknown payloads are
    service-unavailable, never forwarded to the resources."""
    u = users.new()
    c = await clients.login(u)
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = u.jid
    iq.append(_element("{urn:xmppd:test:nonexistent}query"))
    assert await send_iq_expect_error(iq) == "service-unavailable"


def _element(tag):
    from xml.etree import ElementTree as ET
    return ET.Element(tag)
