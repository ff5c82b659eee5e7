"""Presence subscriptions (RFC 6121 section 3) between local users: the
handshake both ways with its roster pushes on two resources of each
user, requests kept for offline users, refusal, cancellation,
pre-approval (3.4), and the requests that must store nothing."""

from xml.etree import ElementTree as ET

from conftest import User
from im_util import (admin_roster, drain, expect_presence, login,
                     next_push, no_presence, no_push, roster_get,
                     roster_items)
from xmpp_util import hard_close, wait_for_rows


async def two_each(clients, au, bu):
    a1 = await login(clients, au, "a1", priority=1)
    a2 = await login(clients, au, "a2", priority=1)
    b1 = await login(clients, bu, "b1", priority=1)
    b2 = await login(clients, bu, "b2", priority=1)
    for c in (a1, a2, b1, b2):
        drain(c)
    return a1, a2, b1, b2


async def pushes(cs, jid, **want):
    """Each client in cs gets a push for jid with the wanted fields."""
    for c in cs:
        item, ver = await next_push(c, jid)
        for k, v in want.items():
            assert item.get(k, "") == v, (c.boundjid, k, item)
        assert ver


async def test_full_handshake_both_ways(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a1, a2, b1, b2 = await two_each(clients, au, bu)

    # a asks: a's item shows the pending request; b gets the request,
    # stamped with a's bare JID (3.1.2).
    a1.send_presence(pto=bu.jid, ptype="subscribe")
    await pushes((a1, a2), bu.jid, subscription="none", ask="subscribe")
    for c in (b1, b2):
        p = await expect_presence(c, "subscribe", au.jid)
        assert p["from"].full == au.jid and p["to"].bare == bu.jid
    await no_push(b1)               # an inbound request is not an item

    # b approves: b gets 'from', a gets 'to' and b's presence.
    b1.send_presence(pto=au.jid, ptype="subscribed")
    await pushes((b1, b2), au.jid, subscription="from")
    await pushes((a1, a2), bu.jid, subscription="to", ask="")
    for c in (a1, a2):
        await expect_presence(c, "subscribed", bu.jid)
        await expect_presence(c, "available", b1.boundjid.full)
        await expect_presence(c, "available", b2.boundjid.full)

    # And the other way round.
    b2.send_presence(pto=au.jid, ptype="subscribe")
    await pushes((b1, b2), au.jid, subscription="from", ask="subscribe")
    for c in (a1, a2):
        await expect_presence(c, "subscribe", bu.jid)
    a2.send_presence(pto=bu.jid, ptype="subscribed")
    await pushes((a1, a2), bu.jid, subscription="both")
    await pushes((b1, b2), au.jid, subscription="both", ask="")
    for c in (b1, b2):
        await expect_presence(c, "subscribed", au.jid)
        await expect_presence(c, "available", a1.boundjid.full)

    assert admin_roster(server, au)[bu.jid]["subscription"] == "both"
    assert admin_roster(server, bu)[au.jid]["subscription"] == "both"
    assert roster_items(await roster_get(a1))[bu.jid]["subscription"] == \
        "both"


async def test_request_to_offline_user_waits_for_login(server, users,
                                                       clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    p = a.Presence()
    p["to"] = bu.jid
    p["type"] = "subscribe"
    p.xml.append(ET.fromstring(
        "<nick xmlns='http://jabber.org/protocol/nick'>Alice</nick>"))
    p.send()
    await next_push(a, bu.jid)
    assert admin_roster(server, bu) == {}       # pending, not an item

    # Delivered at login (initial presence), and again at the next one
    # while unanswered.
    for _ in range(2):
        b = await login(clients, bu, priority=0)
        p = await expect_presence(b, "subscribe", au.jid)
        nick = p.xml.find("{http://jabber.org/protocol/nick}nick")
        assert nick is not None and nick.text == "Alice", p
        await hard_close(b)

    b = await login(clients, bu, priority=0)
    await expect_presence(b, "subscribe", au.jid)
    b.send_presence(pto=au.jid, ptype="subscribed")
    await expect_presence(a, "subscribed", bu.jid)
    item, _ = await next_push(a, bu.jid)
    assert item["subscription"] == "to"
    await expect_presence(a, "available", b.boundjid.full)
    await hard_close(b)
    b = await login(clients, bu, priority=0)
    await no_presence(b, "subscribe", au.jid)   # answered: gone


async def test_refusal_and_cancellation(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)

    # b refuses: a is back to none, no ask.
    a.send_presence(pto=bu.jid, ptype="subscribe")
    await next_push(a, bu.jid)
    await expect_presence(b, "subscribe", au.jid)
    b.send_presence(pto=au.jid, ptype="unsubscribed")
    await expect_presence(a, "unsubscribed", bu.jid)
    item, _ = await next_push(a, bu.jid)
    assert item["subscription"] == "none" and item.get("ask", "") == ""
    await no_push(b)                # b never had an item

    # Both ways, then a cancels its subscription (unsubscribe) and b
    # cancels a's view of it (unsubscribed).
    for x, xu, y, yu in ((a, au, b, bu), (b, bu, a, au)):
        x.send_presence(pto=yu.jid, ptype="subscribe")
        await expect_presence(y, "subscribe", xu.jid)
        y.send_presence(pto=xu.jid, ptype="subscribed")
        await expect_presence(x, "subscribed", yu.jid)
    assert admin_roster(server, au)[bu.jid]["subscription"] == "both"
    drain(a), drain(b)

    a.send_presence(pto=bu.jid, ptype="unsubscribe")
    item, _ = await next_push(a, bu.jid)
    assert item["subscription"] == "from"
    await expect_presence(b, "unsubscribe", au.jid)
    item, _ = await next_push(b, au.jid)
    assert item["subscription"] == "to"
    # 3.3.3: a no longer sees b.
    await expect_presence(a, "unavailable", b.boundjid.full)

    # a takes back b's subscription to a.
    a.send_presence(pto=bu.jid, ptype="unsubscribed")
    item, _ = await next_push(a, bu.jid)
    assert item["subscription"] == "none"
    await expect_presence(b, "unsubscribed", au.jid)
    item, _ = await next_push(b, au.jid)
    assert item["subscription"] == "none"
    # 3.2.2: b stops seeing a.
    await expect_presence(b, "unavailable", a.boundjid.full)
    assert admin_roster(server, au)[bu.jid]["subscription"] == "none"
    assert admin_roster(server, bu)[au.jid]["subscription"] == "none"


async def test_preapproval(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)

    # b approves before a asks: an item with approved='true', nothing
    # sent to a (3.4).
    b.send_presence(pto=au.jid, ptype="subscribed")
    item, _ = await next_push(b, au.jid)
    assert item["subscription"] == "none" and item["approved"] == "true"
    await no_presence(a, "subscribed", bu.jid)

    # a asks: approved at once, b never sees the request.
    a.send_presence(pto=bu.jid, ptype="subscribe")
    await expect_presence(a, "subscribed", bu.jid)
    await expect_presence(a, "available", b.boundjid.full)
    item, _ = await next_push(b, au.jid)
    assert item["subscription"] == "from"
    await no_presence(b, "subscribe", au.jid)
    assert admin_roster(server, au)[bu.jid]["subscription"] == "to"

    # Pre-approval cancelled with unsubscribed: the request waits again.
    cu = users.new("c")
    b.send_presence(pto=cu.jid, ptype="subscribed")
    item, _ = await next_push(b, cu.jid)
    assert item["approved"] == "true"
    b.send_presence(pto=cu.jid, ptype="unsubscribed")
    item, _ = await next_push(b, cu.jid)
    assert item.get("approved", "") in ("", "false")
    c = await login(clients, cu, priority=1)
    c.send_presence(pto=bu.jid, ptype="subscribe")
    await expect_presence(b, "subscribe", cu.jid)
    await no_presence(c, "subscribed", bu.jid)


async def test_requests_that_store_nothing(server, users, clients):
    au = users.new("a")
    a = await login(clients, au, priority=1)

    # No such account: refused with unsubscribed (3.1.3), nothing kept
    # pending on our side.
    ghost = User("ghost" + au.name, au.host, "ghost%s@%s" % (au.name,
                 au.host), "")
    a.send_presence(pto=ghost.jid, ptype="subscribe")
    await expect_presence(a, "unsubscribed", ghost.jid)
    item, _ = await next_push(a, ghost.jid)
    assert item["ask"] == "subscribe"
    item, _ = await next_push(a, ghost.jid)
    assert item["subscription"] == "none" and item.get("ask", "") == ""

    # A JID that does not parse: jid-malformed, from the server (the bad
    # address cannot be the sender of anything).
    a.send_raw("<presence type='subscribe' to='bad@@jid'/>")
    err = await expect_presence(a, "error")
    assert err["error"]["condition"] == "jid-malformed", err
    assert err["from"] == a.boundjid.host, err

    # Oneself: not-allowed.
    a.send_presence(pto=au.jid, ptype="subscribe")
    err = await expect_presence(a, "error")
    assert err["error"]["condition"] == "not-allowed"
    rows = admin_roster(server, au)
    assert list(rows) == [ghost.jid]
    assert rows[ghost.jid]["ask"] == "none"


async def test_blocked_sender_request_not_stored(server, users, clients):
    """An offline owner who blocked the sender never gets the request:
    the pending request is written only if the sender is not blocked."""
    au, bu = users.new("a"), users.new("b")
    b = await login(clients, bu, priority=1, plugins=("xep_0191",))
    await b["xep_0191"].block([au.jid], timeout=10)
    await hard_close(b)
    a = await login(clients, au, priority=1)
    a.send_presence(pto=bu.jid, ptype="subscribe")
    await next_push(a, bu.jid)
    b = await login(clients, bu, priority=1, plugins=("xep_0191",))
    await no_presence(b, "subscribe", au.jid)
    await b["xep_0191"].unblock([au.jid], timeout=10)
    await hard_close(b)
    b = await login(clients, bu, priority=1)
    await no_presence(b, "subscribe", au.jid)


async def test_unanswered_request_survives_restart(start_xmppd, event_loop):
    """What the server confirmed is committed: a pending request and a
    roster item survive a kill -9."""
    from conftest import Clients, Users
    srv = start_xmppd()
    us, cs = Users(srv), Clients(srv, event_loop)
    try:
        au, bu = us.new("a"), us.new("b")
        a = await login(cs, au, priority=1)
        a.send_presence(pto=bu.jid, ptype="subscribe")
        await next_push(a, bu.jid)
        # The push confirms a's side; b's stored request is b's own write,
        # committed right after: wait for it, then crash the server.
        await wait_for_rows(srv, "SELECT 1 FROM roster_items WHERE "
                            "username = '%s' AND ask_in" % bu.name)
        srv.instance.restart(kill=True)
        b = await login(cs, bu, priority=1)
        await expect_presence(b, "subscribe", au.jid)
        assert admin_roster(srv, au)[bu.jid]["ask"] == "subscribe"
    finally:
        await cs.close_all()


async def test_subscribe_to_remote_domain_bounces(server, users, clients):
    """No s2s yet: the request is routed and bounced; the item remains
    pending as for any unanswered request."""
    au = users.new("a")
    a = await login(clients, au, priority=1)
    a.send_presence(pto="someone@remote.example", ptype="subscribe")
    item, _ = await next_push(a, "someone@remote.example")
    assert item["ask"] == "subscribe"
    err = await expect_presence(a, "error")
    assert err["error"]["condition"] == "remote-server-not-found"


async def test_request_not_stored_when_blocked_in_database(server, users,
                                                           clients):
    """The pending request's INSERT itself checks the owner's block list
    (whatever a module holds in memory): a block row written behind the
    server's back still keeps the request out."""
    import shutil
    import subprocess
    if server.external or shutil.which("psql") is None:
        raise AssertionError("needs the private PostgreSQL and psql")
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    sql = ("INSERT INTO blocklist (host, username, jid) VALUES "
           "('%s', '%s', '%s')" % (bu.host, bu.name, au.jid))
    r = subprocess.run(["psql", "-h", server.instance.pgdir, "-U", "xmppd",
                        "-d", "xmppd", "-v", "ON_ERROR_STOP=1", "-c", sql],
                       capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    a = await login(clients, au, priority=1)
    c = await login(clients, cu, priority=1)
    a.send_presence(pto=bu.jid, ptype="subscribe")      # blocked
    c.send_presence(pto=bu.jid, ptype="subscribe")
    await next_push(a, bu.jid)
    await next_push(c, bu.jid)
    b = await login(clients, bu, priority=1)
    # c's request arrives; a's (blocked) was never stored.  Requests come
    # in one burst at login: c's arriving means a's would have too.
    await expect_presence(b, "subscribe", cu.jid)
    await no_presence(b, "subscribe", au.jid)
