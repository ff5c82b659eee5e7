"""Rosters (RFC 6121 section 2): get, set, remove, pushes to every
interested resource, versioning (2.6), the errors of 2.3.3 and 2.5.3,
forged pushes (2.1.6), the mod_roster limits and the operator verbs."""

import pytest

from conftest import ApiError, Clients, Users
from im_util import (admin_roster, iq_error, login, next_push, no_push,
                     query_ver, roster_get, roster_items, roster_set)
from xmpp_util import hard_close, next_item


async def test_set_update_remove_pushed_to_every_resource(server, users,
                                                          clients):
    au, bu = users.new("a"), users.new("b")
    a1 = await login(clients, au, "one")
    a2 = await login(clients, au, "two")
    quiet = await login(clients, au, "quiet", roster=False)

    await roster_set(a1, bu.jid, name="Bee", groups=["Friends", "Work"])
    for c in (a1, a2):
        item, ver = await next_push(c, bu.jid)
        assert item["name"] == "Bee"
        assert sorted(item["groups"]) == ["Friends", "Work"]
        assert item["subscription"] == "none"
        assert ver
    await no_push(quiet)            # never asked for the roster
    rows = admin_roster(server, au)
    assert rows[bu.jid]["nick"] == "Bee"
    assert rows[bu.jid]["subscription"] == "none"
    assert rows[bu.jid]["ask"] == "none"
    assert sorted(rows[bu.jid]["groups"]) == ["Friends", "Work"]

    # Update: subscription and ask given by a client are ignored.
    await roster_set(a2, bu.jid, name="B", groups=[], subscription="both")
    for c in (a1, a2):
        item, _ = await next_push(c, bu.jid)
        assert item["name"] == "B" and item["subscription"] == "none"
        assert item["groups"] == []
    assert admin_roster(server, au)[bu.jid]["subscription"] == "none"

    await roster_set(a1, bu.jid, subscription="remove")
    for c in (a1, a2):
        item, _ = await next_push(c, bu.jid)
        assert item["subscription"] == "remove"
    assert admin_roster(server, au) == {}
    assert roster_items(await roster_get(a2)) == {}


async def test_roster_is_stored(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au)
    await roster_set(a, bu.jid, name="Stored", groups=["G;1", "x y"])
    await hard_close(a)
    a = await login(clients, au, roster=False)
    items = roster_items(await roster_get(a))
    assert items[bu.jid]["name"] == "Stored"
    assert sorted(items[bu.jid]["groups"]) == ["G;1", "x y"]


async def test_versioning(server, users, clients):
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    a = await login(clients, au, roster=False)
    first = await roster_get(a, ver="")
    ver0 = query_ver(first)
    assert ver0 is not None
    # The client's copy is current: an empty result, no items.
    same = await roster_get(a, ver=ver0)
    assert same.xml.find("{jabber:iq:roster}query") is None
    await roster_set(a, bu.jid, name="B")
    _, ver1 = await next_push(a, bu.jid)
    assert ver1 != ver0
    full = await roster_get(a, ver=ver0)
    assert query_ver(full) == ver1
    assert list(roster_items(full)) == [bu.jid]
    assert (await roster_get(a, ver=ver1)).xml.find(
        "{jabber:iq:roster}query") is None
    await roster_set(a, cu.jid)
    _, ver2 = await next_push(a, cu.jid)
    assert ver2 not in (ver0, ver1)
    # Without 'ver' the client gets the whole roster, unversioned.
    plain = await roster_get(a)
    assert query_ver(plain) is None
    assert sorted(roster_items(plain)) == sorted([bu.jid, cu.jid])


async def test_stream_features_announce_rosterver_and_preapproval(
        server, users, clients):
    a = await login(clients, users.new("a"), roster=False)
    assert "rosterver" in a.features
    assert "preapproval" in a.features


def roster_set_iq(c, items_xml):
    iq = c.Iq()
    iq["type"] = "set"
    q = iq.enable("roster")
    from xml.etree import ElementTree as ET
    for x in items_xml:
        q.xml.append(ET.fromstring(x))
    return iq


async def test_two_items_bad_request(server, users, clients):
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    a = await login(clients, au)
    iq = roster_set_iq(a, [
        "<item xmlns='jabber:iq:roster' jid='%s'/>" % bu.jid,
        "<item xmlns='jabber:iq:roster' jid='%s'/>" % cu.jid])
    assert await iq_error(iq) == "bad-request"
    await no_push(a)
    assert admin_roster(server, au) == {}


async def test_limits_and_bad_items(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au)
    item = "<item xmlns='jabber:iq:roster' jid='%s' %s>%s</item>"
    cases = [
        (item % (bu.jid, "name='%s'" % ("n" * 1024), ""), "not-acceptable"),
        (item % (bu.jid, "", "<group>%s</group>" % ("g" * 1024)),
         "not-acceptable"),
        (item % (bu.jid, "", "<group></group>"), "not-acceptable"),
        (item % (bu.jid, "", "<group>x</group><group>x</group>"),
         "bad-request"),
        (item % (au.jid, "", ""), "not-allowed"),
        ("<item xmlns='jabber:iq:roster' name='no jid'/>", "bad-request"),
        (item % ("a@b@c", "", ""), "jid-malformed"),
        (item % (bu.jid + "/res", "", ""), "bad-request"),
        ("<query xmlns='jabber:iq:roster'/>", "bad-request"),
    ]
    for xml, cond in cases:
        assert await iq_error(roster_set_iq(a, [xml])) == cond, xml
    # 2.5.3: removing what is not there.
    iq = roster_set_iq(a, [item % (bu.jid, "subscription='remove'", "")])
    assert await iq_error(iq) == "item-not-found"
    # A name of exactly the limit is fine.
    await roster_set(a, bu.jid, name="n" * 1023)
    await next_push(a, bu.jid)
    assert admin_roster(server, au)[bu.jid]["nick"] == "n" * 1023


async def test_forged_roster_push_refused(server, users, clients):
    """2.1.6: only the server pushes.  A roster set from one client to
    another (full JID) never reaches it; one to another account's bare JID
    is refused; nothing changes in either roster."""
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    a = await login(clients, au)
    b = await login(clients, bu)
    for to in (b.boundjid.full, a.boundjid.full):
        iq = roster_set_iq(a, [
            "<item xmlns='jabber:iq:roster' jid='%s' subscription='both'/>"
            % cu.jid])
        iq["to"] = to
        assert await iq_error(iq) == "service-unavailable", to
    iq = roster_set_iq(a, [
        "<item xmlns='jabber:iq:roster' jid='%s'/>" % cu.jid])
    iq["to"] = bu.jid
    assert await iq_error(iq) == "forbidden"
    get = a.Iq()
    get["type"] = "get"
    get.enable("roster")
    get["to"] = bu.jid
    assert await iq_error(get) == "forbidden"
    await no_push(b)
    await no_push(a)
    assert admin_roster(server, bu) == {}
    assert admin_roster(server, au) == {}


async def test_max_items(start_xmppd, event_loop):
    srv = start_xmppd("modules:\n  mod_roster: {max_items: 2}\n")
    us, cs = Users(srv), Clients(srv, event_loop)
    try:
        au = us.new("a")
        others = [us.new("o") for _ in range(4)]
        a = await login(cs, au)
        await roster_set(a, others[0].jid)
        await roster_set(a, others[1].jid)
        item = "<item xmlns='jabber:iq:roster' jid='%s'/>"
        iq = roster_set_iq(a, [item % others[2].jid])
        assert await iq_error(iq) == "resource-constraint"
        # Updating an existing item still works at the limit.
        await roster_set(a, others[0].jid, name="still")
        # A subscription request would add an item: refused too.
        a.send_presence(pto=others[3].jid, ptype="subscribe")
        err = None
        while err is None:
            p = await next_item(a.presences, what="presence error")
            if p["type"] == "error":
                err = p
        assert err["error"]["condition"] == "resource-constraint"
        rows = admin_roster(srv, au)
        assert sorted(rows) == sorted([others[0].jid, others[1].jid])
        assert rows[others[0].jid]["nick"] == "still"
        # Nothing reached the contact either.
        o3 = await login(cs, others[3], priority=0)
        from im_util import no_presence
        await no_presence(o3, "subscribe", au.jid)
    finally:
        await cs.close_all()


async def test_ctl_verbs(server, users, clients):
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    # Offline owner: straight to the database.
    r = server.ctl("add_rosteritem", au.name, au.host, bu.name, bu.host,
                   "Bee", "Friends;Work", "both")
    assert r.returncode == 0, r.stderr
    r = server.ctl("get_roster", au.name, au.host)
    assert r.returncode == 0, r.stderr
    line = r.stdout.strip()
    assert line.split("\t")[:4] == [bu.jid, "Bee", "both", "none"], line
    assert sorted(line.split("\t")[4].split(";")) == ["Friends", "Work"]

    # Online owner: pushed to its interested resources.
    a = await login(clients, au)
    assert roster_items(await roster_get(a))[bu.jid]["subscription"] == \
        "both"
    r = server.ctl("add_rosteritem", au.name, au.host, cu.name, cu.host,
                   "", "", "to")
    assert r.returncode == 0, r.stderr
    item, _ = await next_push(a, cu.jid)
    assert item["subscription"] == "to"
    r = server.ctl("delete_rosteritem", au.name, au.host, bu.name, bu.host)
    assert r.returncode == 0, r.stderr
    item, _ = await next_push(a, bu.jid)
    assert item["subscription"] == "remove"
    assert list(admin_roster(server, au)) == [cu.jid]

    # Errors: unknown subs, unknown item, unknown account.
    with pytest.raises(ApiError) as e:
        server.api("add_rosteritem", localuser=au.name, localhost=au.host,
                   user=cu.name, host=cu.host, nick="", group="",
                   subs="maybe")
    assert e.value.status == 400
    with pytest.raises(ApiError) as e:
        server.api("delete_rosteritem", localuser=au.name,
                   localhost=au.host, user=bu.name, host=bu.host)
    assert e.value.status == 404
    with pytest.raises(ApiError) as e:
        server.api("get_roster", user="nosuch" + au.name, host=au.host)
    assert e.value.status == 404
    with pytest.raises(ApiError) as e:
        server.api("add_rosteritem", localuser="nosuch" + au.name,
                   localhost=au.host, user=cu.name, host=cu.host, nick="",
                   group="", subs="none")
    assert e.value.status == 404
