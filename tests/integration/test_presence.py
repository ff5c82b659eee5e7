"""Presence (RFC 6121 section 4): broadcast to contacts, probes answered
at login, updates, unavailable on logout and on a dropped connection,
directed presence and its unavailable, and nothing for strangers."""

from im_util import (expect_presence, login, make_contacts, no_presence)
from xmpp_util import hard_close


async def test_login_sees_contacts_and_contacts_see_login(server, users,
                                                          clients):
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    make_contacts(server, au, bu)
    a = await login(clients, au, "home", priority=5)
    stranger = await login(clients, cu, priority=1)

    b = await login(clients, bu, "desk", priority=2)
    # 4.2: a sees b come online; 4.3: b gets a's presence (the probe).
    p = await expect_presence(a, "available", b.boundjid.full)
    assert p["priority"] == 2
    p = await expect_presence(b, "available", a.boundjid.full)
    assert p["priority"] == 5
    await no_presence(stranger, "available", bu.jid)

    # 4.4: an update goes to contacts, not to strangers.
    b.send_presence(pshow="away", pstatus="lunch", ppriority=2)
    p = await expect_presence(a, None, b.boundjid.full)
    assert p["show"] == "away" and p["status"] == "lunch"
    await no_presence(stranger, None, bu.jid)

    # 4.5: explicit unavailable.
    b.send_presence(ptype="unavailable")
    await expect_presence(a, "unavailable", b.boundjid.full)


async def test_unavailable_on_disconnect(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    make_contacts(server, au, bu)
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)
    await expect_presence(a, "available", b.boundjid.full)
    full = b.boundjid.full
    b.abort()                       # the connection drops, no goodbye
    await expect_presence(a, "unavailable", full)

    b = await login(clients, bu, priority=1)
    await expect_presence(a, "available", b.boundjid.full)
    full = b.boundjid.full
    await hard_close(b)             # a clean close
    await expect_presence(a, "unavailable", full)


async def test_only_to_subscribers(server, users, clients):
    """'to' sees the contact, 'from' is seen by it: one direction only."""
    au, bu = users.new("a"), users.new("b")
    from im_util import admin_add
    admin_add(server, au, bu, "to")         # a sees b
    admin_add(server, bu, au, "from")       # b lets a see it
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)
    await expect_presence(a, "available", b.boundjid.full)
    await no_presence(b, "available", au.jid)


async def test_probe_answered_when_contact_already_online(server, users,
                                                          clients):
    au, bu = users.new("a"), users.new("b")
    make_contacts(server, au, bu)
    b1 = await login(clients, bu, "one", priority=1)
    b2 = await login(clients, bu, "two", priority=-1)
    not_available = await login(clients, bu, "three")   # no presence
    a = await login(clients, au, priority=1)
    await expect_presence(a, "available", b1.boundjid.full)
    await expect_presence(a, "available", b2.boundjid.full)
    await no_presence(a, "available", not_available.boundjid.full)


async def test_offline_contact_probe_says_unavailable(server, users,
                                                      clients):
    au, bu = users.new("a"), users.new("b")
    make_contacts(server, au, bu)
    a = await login(clients, au, priority=1)
    p = await expect_presence(a, "unavailable", bu.jid)
    assert p["from"].full == bu.jid


async def test_own_resources_see_each_other(server, users, clients):
    au = users.new("a")
    a1 = await login(clients, au, "one", priority=1)
    a2 = await login(clients, au, "two", priority=3)
    await expect_presence(a1, "available", a2.boundjid.full)
    await expect_presence(a2, "available", a1.boundjid.full)
    await hard_close(a2)
    await expect_presence(a1, "unavailable", a2.boundjid.full)


async def test_directed_presence(server, users, clients):
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)
    c = await login(clients, cu, priority=1)
    await no_presence(b, "available", au.jid)       # not a contact

    # 4.6: directed presence reaches b only; the broadcast does not.
    a.send_presence(pto=bu.jid, pstatus="hi b")
    p = await expect_presence(b, "available", a.boundjid.full)
    assert p["status"] == "hi b"
    a.send_presence(pstatus="to everyone", ppriority=1)
    await no_presence(b, None, au.jid)
    await no_presence(c, None, au.jid)

    # 4.6.3: at logout, b (who got directed presence) learns a is gone;
    # c never heard of a.
    full = a.boundjid.full
    await hard_close(a)
    await expect_presence(b, "unavailable", full)
    await no_presence(c, "unavailable", au.jid)


async def test_directed_unavailable_forgets_recipient(server, users,
                                                      clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)
    a.send_presence(pto=b.boundjid.full)
    await expect_presence(b, "available", a.boundjid.full)
    a.send_presence(pto=b.boundjid.full, ptype="unavailable")
    await expect_presence(b, "unavailable", a.boundjid.full)
    await hard_close(a)
    await no_presence(b, "unavailable", au.jid)


async def test_presence_to_offline_contact_dropped(server, users, clients):
    """Presence to someone with no available resource is dropped: no
    error comes back, nothing is stored."""
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    a.send_presence(pto=bu.jid)
    await no_presence(a, "error", bu.jid)
    b = await login(clients, bu, priority=1)
    await no_presence(b, "available", au.jid)
