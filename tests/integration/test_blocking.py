"""XEP-0191 Blocking Command and XEP-0377 reports attached to blocks.

Blocking in both directions for messages, presence and IQs, with the
errors XEP-0191 section 3.5 names; pushes to the resources that asked for
the list; JID matching (bare, full, domain, domain/resource); persistence
across a restart; reports stored next to the block; bad input refused with
nothing stored (mod_blocking limits, docs/configuration.md)."""

import asyncio
import uuid

from slixmpp.exceptions import IqError
from slixmpp.xmlstream import ET

from conftest import Clients, Users
from xmpp_util import (barrier, expect_nothing, next_item, psql_rows,
                       send_iq_expect_error)

NS_BLOCKING = "urn:xmpp:blocking"
NS_BLOCKING_ERRORS = "urn:xmpp:blocking:errors"
NS_REPORTING = "urn:xmpp:reporting:1"
NS_REPORTING_0 = "urn:xmpp:reporting:0"
NS_SID = "urn:xmpp:sid:0"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"


# --------------------------------------------------------------------------
# Helpers


def with_blocking(c):
    """slixmpp's XEP-0191 plugin plus queues for the pushes."""
    c.register_plugin("xep_0191")
    c.block_pushes = asyncio.Queue()
    c.unblock_pushes = asyncio.Queue()
    c.add_event_handler("blocked", c.block_pushes.put_nowait)
    c.add_event_handler("unblocked", c.unblock_pushes.put_nowait)
    return c


async def login(clients, user, resource=None, priority=0):
    return with_blocking(await clients.login(user, resource=resource,
                                             priority=priority))


async def blocklist(c):
    res = await c["xep_0191"].get_blocked(timeout=10)
    return sorted(str(j) for j in res["blocklist"]["items"])


def block_iq(c, items, op="block"):
    """An IQ-set <block/> (or <unblock/>) built by hand: items is a list
    of (jid, report_element_or_None); jid None leaves the attribute out."""
    iq = c.Iq()
    iq["type"] = "set"
    el = ET.Element("{%s}%s" % (NS_BLOCKING, op))
    for jid, report in items:
        item = ET.SubElement(el, "{%s}item" % NS_BLOCKING)
        if jid is not None:
            item.set("jid", jid)
        if report is not None:
            item.append(report)
    iq.append(el)
    return iq


def report_v1(reason="urn:xmpp:reporting:spam", text=None, ids=()):
    r = ET.Element("{%s}report" % NS_REPORTING)
    r.set("reason", reason)
    for by, sid in ids:
        s = ET.SubElement(r, "{%s}stanza-id" % NS_SID)
        s.set("by", by)
        s.set("id", sid)
    if text is not None:
        t = ET.SubElement(r, "{%s}text" % NS_REPORTING)
        t.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
        t.text = text
    return r


def report_v0(kind="spam", text=None):
    r = ET.Element("{%s}report" % NS_REPORTING_0)
    ET.SubElement(r, "{%s}%s" % (NS_REPORTING_0, kind))
    if text is not None:
        t = ET.SubElement(r, "{%s}text" % NS_REPORTING_0)
        t.text = text
    return r


def has_blocked_condition(stanza):
    err = stanza.xml.find("{jabber:client}error")
    return err is not None and \
        err.find("{%s}blocked" % NS_BLOCKING_ERRORS) is not None


def condition(stanza):
    """The defined condition of an error stanza, read from the XML:
    slixmpp 1.8 knows only RFC 3920's list (no policy-violation)."""
    err = stanza.xml.find("{jabber:client}error")
    for child in err:
        tag = child.tag.split("}", 1)[1]
        if child.tag.startswith("{%s}" % NS_STANZAS) and tag != "text":
            return tag
    return None


def error_type(stanza):
    return stanza.xml.find("{jabber:client}error").get("type")


async def iq_error(iq):
    """Send iq, which must fail; returns the error stanza."""
    try:
        res = await iq.send(timeout=10)
    except IqError as e:
        return e.iq
    raise AssertionError("expected an IQ error, got %s" % res)


def ping_iq(c, to):
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = to
    iq.enable("ping")
    return iq


def body():
    return "msg " + uuid.uuid4().hex


async def expect_body(c, text, what):
    while True:
        msg = await next_item(c.inbox, what=what)
        if msg["body"] == text:
            return msg


async def expect_no_presence_from(c, jid, wait=0.5):
    """No presence from jid (bare) arrives at c within wait seconds."""
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
        assert p["from"].bare != jid, "unexpected presence: %s" % p


async def expect_presence_from(c, jid, ptype=None):
    """The next presence from jid (bare), of ptype if given (others are
    skipped: probes answered at login, say)."""
    while True:
        p = await next_item(c.presences, what="presence from %s" % jid)
        if p["from"].bare == jid and ptype in (None, p["type"]):
            return p


def psql(srv, sql):
    """Rows of sql on the private server's database, '|'-separated."""
    return ["|".join(r) for r in psql_rows(srv, sql)]


# --------------------------------------------------------------------------
# Discovery and the list itself


async def test_disco_features(server, users, clients):
    c = await clients.login(users.new("d"))
    info = await c["xep_0030"].get_info(jid=server.domain, timeout=10)
    features = set(info["disco_info"]["features"])
    for f in (NS_BLOCKING, NS_REPORTING, NS_REPORTING_0,
              "urn:xmpp:reporting:reason:spam:0",
              "urn:xmpp:reporting:reason:abuse:0"):
        assert f in features, features


async def test_block_unblock_list(server, users, clients):
    a = await login(clients, users.new("a"))
    assert await blocklist(a) == []
    x, y = "x@spam.example", "spam2.example"
    await a["xep_0191"].block([x, y], timeout=10)
    assert await blocklist(a) == sorted([x, y])
    await a["xep_0191"].unblock([x], timeout=10)
    assert await blocklist(a) == [y]
    # An empty <unblock/> empties the list.
    await block_iq(a, [], op="unblock").send(timeout=10)
    assert await blocklist(a) == []


async def test_only_the_owner(server, users, clients):
    a_user = users.new("a")
    await login(clients, a_user)
    b = await login(clients, users.new("b"))
    iq = b.Iq()
    iq["type"] = "get"
    iq["to"] = a_user.jid
    iq.enable("blocklist")
    assert await send_iq_expect_error(iq) == "service-unavailable"
    iq = block_iq(b, [("x@spam.example", None)])
    iq["to"] = a_user.jid
    assert await send_iq_expect_error(iq) == "service-unavailable"


# --------------------------------------------------------------------------
# Stanzas in both directions


async def test_messages_both_directions(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)
    await a["xep_0191"].block([bu.jid], timeout=10)

    # Inbound: b's message never reaches a; b gets service-unavailable.
    b.send_message(mto=au.jid, mbody=body(), mtype="chat")
    err = await next_item(b.errors, what="error for b")
    assert err["error"]["condition"] == "service-unavailable", err
    await expect_nothing(a.inbox, wait=0.3, what="message from blocked b")

    # Outbound: a's message is refused with not-acceptable + <blocked/>.
    a.send_message(mto=b.boundjid.full, mbody=body(), mtype="chat")
    err = await next_item(a.errors, what="error for a")
    assert err["error"]["condition"] == "not-acceptable", err
    assert error_type(err) == "cancel"
    assert has_blocked_condition(err), err
    assert err["from"].full == b.boundjid.full
    await expect_nothing(b.inbox, wait=0.3, what="message to blocked b")

    # Unblocked: both directions flow again.
    await a["xep_0191"].unblock([bu.jid], timeout=10)
    text = body()
    b.send_message(mto=au.jid, mbody=text, mtype="chat")
    await expect_body(a, text, "message after unblock")
    text = body()
    a.send_message(mto=bu.jid, mbody=text, mtype="chat")
    await expect_body(b, text, "message after unblock")


async def test_iq_both_directions(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au)
    b = await login(clients, bu)
    await a["xep_0191"].block([bu.jid], timeout=10)

    err = await iq_error(ping_iq(b, a.boundjid.full))
    assert err["error"]["condition"] == "service-unavailable", err

    err = await iq_error(ping_iq(a, b.boundjid.full))
    assert err["error"]["condition"] == "not-acceptable", err
    assert has_blocked_condition(err), err

    # The account's own server is never cut off: a domain-wide block of
    # our own domain still lets the server answer.
    await barrier(a)

    await a["xep_0191"].unblock([bu.jid], timeout=10)
    await ping_iq(b, a.boundjid.full).send(timeout=10)
    await ping_iq(a, b.boundjid.full).send(timeout=10)


async def test_presence_both_directions(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)
    await a["xep_0191"].block([bu.jid], timeout=10)

    # Inbound directed presence and a subscription request: dropped
    # silently, no error to b.
    b.send_presence(pto=a.boundjid.full, pstatus="hi")
    b.send_presence(pto=au.jid, ptype="subscribe")
    await barrier(b)
    await expect_no_presence_from(a, bu.jid)
    await expect_nothing(b.errors, wait=0.1, what="error for b")

    # Outbound directed presence: dropped, no error either.
    a.send_presence(pto=b.boundjid.full, pstatus="hello")
    await barrier(a)
    await expect_no_presence_from(b, au.jid)

    await a["xep_0191"].unblock([bu.jid], timeout=10)
    b.send_presence(pto=a.boundjid.full, pstatus="again")
    p = await expect_presence_from(a, bu.jid)
    assert p["status"] == "again"
    a.send_presence(pto=b.boundjid.full, pstatus="back")
    p = await expect_presence_from(b, au.jid)
    assert p["status"] == "back"


async def test_own_resources_never_blocked(server, users, clients):
    au = users.new("a")
    a1 = await login(clients, au, resource="one", priority=1)
    a2 = await login(clients, au, resource="two", priority=1)
    # Blocking the own domain blocks other local users, never oneself.
    await a1["xep_0191"].block([server.domain], timeout=10)
    text = body()
    a2.send_message(mto=a1.boundjid.full, mbody=text, mtype="chat")
    await expect_body(a1, text, "message between own resources")
    await a1["xep_0191"].unblock([server.domain], timeout=10)


# --------------------------------------------------------------------------
# Matching


async def test_domain_wide_block(server, users, clients):
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    a = await login(clients, au, priority=1)
    b = await login(clients, bu, priority=1)
    c = await login(clients, cu, priority=1)
    await a["xep_0191"].block([server.domain], timeout=10)
    for peer in (b, c):
        peer.send_message(mto=au.jid, mbody=body(), mtype="chat")
        err = await next_item(peer.errors, what="error for a local peer")
        assert err["error"]["condition"] == "service-unavailable", err
    await expect_nothing(a.inbox, wait=0.3, what="message through a block")
    await barrier(a)        # the server itself still answers


async def test_full_and_domain_resource_items(server, users, clients):
    au, bu = users.new("a"), users.new("b")
    a = await login(clients, au, priority=1)
    evil = await login(clients, bu, resource="evil", priority=1)
    good = await login(clients, bu, resource="good", priority=1)
    await a["xep_0191"].block([evil.boundjid.full], timeout=10)
    evil.send_message(mto=au.jid, mbody=body(), mtype="chat")
    err = await next_item(evil.errors, what="error for the full JID")
    assert err["error"]["condition"] == "service-unavailable"
    text = body()
    good.send_message(mto=au.jid, mbody=text, mtype="chat")
    await expect_body(a, text, "message from the other resource")

    await a["xep_0191"].unblock([evil.boundjid.full], timeout=10)
    # domain/resource: that resource of any user at the domain.
    await a["xep_0191"].block(["%s/evil" % server.domain], timeout=10)
    evil.send_message(mto=au.jid, mbody=body(), mtype="chat")
    err = await next_item(evil.errors, what="error for domain/resource")
    assert err["error"]["condition"] == "service-unavailable"
    text = body()
    good.send_message(mto=au.jid, mbody=text, mtype="chat")
    await expect_body(a, text, "message from the other resource")


# --------------------------------------------------------------------------
# Pushes


async def test_pushes_to_interested_resources(server, users, clients):
    au = users.new("a")
    a1 = await login(clients, au, resource="one")
    a2 = await login(clients, au, resource="two")
    a3 = await login(clients, au, resource="three")
    await blocklist(a1)
    await blocklist(a2)         # a3 never asks: it gets no pushes
    x = "x@spam.example"
    await a1["xep_0191"].block([x], timeout=10)
    for c in (a1, a2):
        push = await next_item(c.block_pushes, what="block push")
        assert [str(j) for j in push["block"]["items"]] == [x]
        assert push["from"].full in ("", au.jid)
    await a2["xep_0191"].unblock([x], timeout=10)
    for c in (a1, a2):
        push = await next_item(c.unblock_pushes, what="unblock push")
        assert [str(j) for j in push["unblock"]["items"]] == [x]
    await a2["xep_0191"].block([x], timeout=10)
    await block_iq(a2, [], op="unblock").send(timeout=10)
    for c in (a1, a2):
        await next_item(c.block_pushes, what="block push")
        push = await next_item(c.unblock_pushes, what="unblock-all push")
        assert list(push["unblock"]["items"]) == []
    await expect_nothing(a3.block_pushes, wait=0.2, what="push to a3")
    await expect_nothing(a3.unblock_pushes, wait=0.1, what="push to a3")


# --------------------------------------------------------------------------
# Bad input on the session server


async def test_bad_input(server, users, clients):
    au = users.new("a")
    a = await login(clients, au)
    assert await send_iq_expect_error(block_iq(a, [])) == "bad-request"
    assert await send_iq_expect_error(
        block_iq(a, [("x@spam.example", None), ("@@bad@", None)])) \
        == "jid-malformed"
    assert await send_iq_expect_error(block_iq(a, [(None, None)])) \
        == "bad-request"
    assert await send_iq_expect_error(block_iq(a, [(au.jid, None)])) \
        == "bad-request"
    assert await blocklist(a) == []


# --------------------------------------------------------------------------
# A private server: restarts, reports, limits


async def test_block_survives_restart(start_xmppd, event_loop):
    srv = start_xmppd()
    us, cs = Users(srv), Clients(srv, event_loop)
    try:
        au, bu = us.new("a"), us.new("b")
        a = await login(cs, au)
        await a["xep_0191"].block([bu.jid, "spam.example"], timeout=10)
        await cs.close_all()
        srv.instance.restart(kill=True)
        cs = Clients(srv, event_loop)
        a = await login(cs, au, priority=1)
        b = await login(cs, bu, priority=1)
        assert await blocklist(a) == sorted([bu.jid, "spam.example"])
        b.send_message(mto=au.jid, mbody=body(), mtype="chat")
        err = await next_item(b.errors, what="error after restart")
        assert err["error"]["condition"] == "service-unavailable"
        await expect_nothing(a.inbox, wait=0.3, what="blocked message")
    finally:
        await cs.close_all()


async def test_reports_stored(start_xmppd, event_loop):
    srv = start_xmppd()
    us, cs = Users(srv), Clients(srv, event_loop)
    try:
        au = us.new("a")
        a = await login(cs, au)
        spammer, rude = "spammer@x.example", "rude@y.example"
        r1 = report_v1(text="Crypto scam", ids=[(au.jid, "sid-1"),
                                               (spammer, "sid-2")])
        r0 = report_v0("abuse", text="legacy words")
        await block_iq(a, [(spammer, r1), (rude, r0),
                           ("quiet@z.example", None)]).send(timeout=10)
        assert await blocklist(a) == sorted(
            [spammer, rude, "quiet@z.example"])
        rows = psql(srv, "SELECT reported, reason, reason_uri, text,"
                    " array_to_string(stanza_ids, ','), namespace"
                    " FROM spam_reports WHERE reporter = '%s'"
                    " ORDER BY reported" % au.jid)
        assert rows == [
            "rude@y.example|abuse|urn:xmpp:reporting:abuse|legacy words||"
            + NS_REPORTING_0,
            "spammer@x.example|spam|urn:xmpp:reporting:spam|Crypto scam|"
            "sid-1,sid-2|" + NS_REPORTING,
        ], rows
    finally:
        await cs.close_all()


async def test_limits_and_refusals_store_nothing(start_xmppd, event_loop):
    srv = start_xmppd("modules:\n  mod_blocking: {max_items: 3}\n")
    us, cs = Users(srv), Clients(srv, event_loop)
    try:
        au = us.new("a")
        a = await login(cs, au)

        def stored():
            return (psql(srv, "SELECT jid FROM blocklist WHERE username"
                         " = '%s' ORDER BY jid" % au.name),
                    psql(srv, "SELECT reported FROM spam_reports WHERE"
                         " reporter = '%s'" % au.jid))

        four = [("s%d@spam.example" % i, None) for i in range(4)]
        err = await iq_error(block_iq(a, four))
        assert condition(err) == "policy-violation"
        assert stored() == ([], [])
        await block_iq(a, four[:3]).send(timeout=10)
        err = await iq_error(block_iq(a, [("s9@spam.example",
                                           report_v1())]))
        assert condition(err) == "policy-violation"
        # Blocking again what is already there stays within the limit.
        await block_iq(a, four[:1]).send(timeout=10)
        await a["xep_0191"].unblock(["s0@spam.example"], timeout=10)
        base = sorted(j for j, _ in four[1:3])
        assert stored() == (base, [])

        # Invalid JID, a report against oneself, a report too long, a
        # report without a reason: each refused, nothing stored.
        cases = [
            ([("n@spam.example", report_v1()), ("bad@@jid", None)],
             "jid-malformed"),
            ([(au.jid, report_v1())], "bad-request"),
            ([("n@spam.example", report_v1(text="x" * 5000))],
             "policy-violation"),
            ([("n@spam.example", report_v1(reason=""))], "bad-request"),
            ([("n@spam.example", report_v1(ids=[("a", str(i)) for i in
                                               range(21)]))],
             "policy-violation"),
        ]
        for items, cond in cases:
            err = await iq_error(block_iq(a, items))
            assert condition(err) == cond, (items, err)
            assert stored() == (base, []), cond
        assert await blocklist(a) == base
    finally:
        await cs.close_all()


# --------------------------------------------------------------------------
# Presence follows the block (XEP-0191 3.2, 3.3)


async def test_block_sends_unavailable_to_entitled(server, users, clients):
    """A contact with a subscription to the user's presence sees the user
    go offline when blocked, and sees the current presence again when
    unblocked; one without it sees nothing."""
    au, bu, cu = users.new("a"), users.new("b"), users.new("c")
    server.api("add_rosteritem", localuser=au.name, localhost=au.host,
               user=bu.name, host=bu.host, nick="b", group="", subs="both")
    server.api("add_rosteritem", localuser=bu.name, localhost=bu.host,
               user=au.name, host=au.host, nick="a", group="", subs="both")
    b = await login(clients, bu, priority=1)
    c = await login(clients, cu, priority=1)
    a = await login(clients, au, priority=1)
    await expect_presence_from(b, au.jid, "available")  # a came online

    await a["xep_0191"].block([bu.jid, cu.jid], timeout=10)
    p = await expect_presence_from(b, au.jid)
    assert p["type"] == "unavailable", p
    assert p["from"].full == a.boundjid.full
    await expect_no_presence_from(c, au.jid, wait=0.3)

    await a["xep_0191"].unblock([bu.jid], timeout=10)
    p = await expect_presence_from(b, au.jid)
    assert p["type"] == "available", p
