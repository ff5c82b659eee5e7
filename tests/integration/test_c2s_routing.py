"""Routing between local clients (RFC 6121 section 8.5 for local users):
full JIDs, bare JIDs by priority, unavailable and unknown recipients,
IQs to full JIDs, and presence between a user's own resources."""

import uuid
import xml.etree.ElementTree as ET

from xmpp_util import (CLIENT_SOFTWARE, barrier, exchange_message,
                       expect_nothing, next_item, send_iq_expect_error)


def body():
    return "msg " + uuid.uuid4().hex


async def next_body(c, text, what):
    """The next message on c's inbox must carry text."""
    msg = await next_item(c.inbox, what=what)
    assert msg["body"] == text, msg
    return msg


async def test_message_to_full_jid(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    b1 = await clients.login(bu, resource="one", priority=5)
    b2 = await clients.login(bu, resource="two", priority=10)
    text = body()
    a.send_message(mto=b1.boundjid.full, mbody=text, mtype="chat")
    msg = await next_body(b1, text, "message on the addressed resource")
    assert msg["from"].full == a.boundjid.full
    assert msg["to"].full == b1.boundjid.full
    # Addressed to a full JID: the other (higher priority) resource does
    # not get it.
    await expect_nothing(b2.inbox, what="message on the other resource")


async def test_bare_jid_goes_to_highest_priority(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    low = await clients.login(bu, resource="low", priority=1)
    high = await clients.login(bu, resource="high", priority=7)
    text = body()
    a.send_message(mto=bu.jid, mbody=text, mtype="chat")
    msg = await next_body(high, text, "message on the highest priority")
    assert msg["from"].full == a.boundjid.full
    await expect_nothing(low.inbox, what="message on the lower priority")


async def test_bare_jid_equal_priorities_all_get_it(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    r1 = await clients.login(bu, resource="r1", priority=3)
    r2 = await clients.login(bu, resource="r2", priority=3)
    text = body()
    a.send_message(mto=bu.jid, mbody=text, mtype="chat")
    await next_body(r1, text, "message on r1")
    await next_body(r2, text, "message on r2")


async def test_negative_priority_gets_no_bare_message(server, users, clients):
    """RFC 6121 8.5.2.1.1: a negative priority never receives messages to
    the bare JID; with nothing else online the message is treated as for
    an offline user: stored (XEP-0160), not delivered to that resource."""
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    neg = await clients.login(bu, resource="neg", priority=-1)
    text = body()
    a.send_message(mto=bu.jid, mbody=text, mtype="chat")
    await barrier(a)
    await expect_nothing(neg.inbox, wait=0.2,
                         what="message on a negative priority")
    assert server.api("get_offline_count", user=bu.name, host=bu.host) == 1
    await expect_nothing(a.errors, wait=0.1, what="error to the sender")


async def test_message_to_offline_user_is_stored(server, users, clients):
    """RFC 6121 8.5.2.2.1: a message to an existing user with no available
    resource is stored (the offline module), not bounced."""
    a = await clients.login(users.new("a"))
    offline = users.new("off")
    a.send_message(mto=offline.jid, mbody=body(), mtype="chat")
    await barrier(a)
    await expect_nothing(a.errors, wait=0.1, what="error to the sender")
    assert server.api("get_offline_count", user=offline.name,
                      host=offline.host) == 1


async def test_unstorable_message_to_offline_user_bounces(server, users,
                                                          clients):
    """A message that may not be stored (XEP-0334 no-store) to a user with
    no available resource: service-unavailable from the user's JID."""
    a = await clients.login(users.new("a"))
    offline = users.new("off")
    m = a.make_message(mto=offline.jid, mbody=body(), mtype="chat")
    m.append(ET.Element("{urn:xmpp:hints}no-store"))
    m.send()
    err = await next_item(a.errors, what="message error")
    assert err["type"] == "error"
    assert err["error"]["condition"] == "service-unavailable", err
    assert err["from"].bare == offline.jid


async def test_message_to_unknown_user_bounces(server, users, clients):
    a = await clients.login(users.new("a"))
    nobody = "nobody-%s@%s" % (uuid.uuid4().hex[:10], server.domain)
    a.send_message(mto=nobody, mbody=body(), mtype="chat")
    err = await next_item(a.errors, what="message error")
    assert err["error"]["condition"] == "service-unavailable", err
    assert err["from"].bare == nobody


async def test_iq_to_full_jid_is_routed_and_answered(server, users, clients):
    a = await clients.login(users.new("a"))
    b = await clients.login(users.new("b"))
    # b's slixmpp answers jabber:iq:version with its own name: the answer
    # proves the IQ reached b and that b's result came back to a.
    res = await a["xep_0092"].get_version(b.boundjid.full, timeout=10)
    assert res["type"] == "result"
    assert res["from"].full == b.boundjid.full
    assert res["software_version"]["name"] == CLIENT_SOFTWARE
    # And a ping to b's full JID too.
    res = await a["xep_0199"].send_ping(b.boundjid.full, timeout=10)
    assert res["type"] == "result" and res["from"].full == b.boundjid.full


async def test_iq_to_offline_full_jid(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    b = await clients.login(bu, resource="here")
    iq = a.Iq()
    iq["type"] = "get"
    iq["to"] = bu.jid + "/not-here"
    iq.enable("ping")
    assert await send_iq_expect_error(iq) == "service-unavailable"
    # The resource that is online is not bothered.
    await expect_nothing(b.inbox, wait=0.2)


async def test_initial_presence_reaches_own_resources(server, users, clients):
    u = users.new("p")
    first = await clients.login(u, resource="first", priority=0)
    while not first.presences.empty():
        first.presences.get_nowait()
    second = await clients.login(u, resource="second", priority=4)
    while True:
        pres = await next_item(first.presences,
                               what="presence from the second resource")
        if pres["from"].full == second.boundjid.full:
            break
    assert pres["type"] in ("", "available"), pres
    assert pres["priority"] == 4, pres


async def test_messages_keep_order(server, users, clients):
    a = await clients.login(users.new("a"))
    b = await clients.login(users.new("b"))
    texts = [body() for _ in range(20)]
    for t in texts:
        a.send_message(mto=b.boundjid.full, mbody=t, mtype="chat")
    for t in texts:
        await next_body(b, t, "message %s" % t)
    await exchange_message(b, a)
