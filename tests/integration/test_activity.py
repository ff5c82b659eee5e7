"""Last Activity (XEP-0012) and the account activity record (counted in
memory, written in batches, shown by `xmppctl user_activity`)."""

import asyncio
import time
import xml.etree.ElementTree as ET

import pytest

from conftest import Clients, Users
from xmpp_util import (TIMEOUT, barrier, hard_close,
                       next_item, psql_rows, send_iq_expect_error)

NS_LAST = "jabber:iq:last"


def make_contacts(srv, a, b, sub_ab="both", sub_ba="both"):
    """Roster rows, written before either logs in: a has b with
    subscription sub_ab, b has a with sub_ba.  (Names are test-made
    [a-z0-9] only, safe to inline.)"""
    rows = []
    if sub_ab is not None:
        rows.append("('%s', '%s', '%s', '%s')" % (a.host, a.name, b.jid,
                                                  sub_ab))
    if sub_ba is not None:
        rows.append("('%s', '%s', '%s', '%s')" % (b.host, b.name, a.jid,
                                                  sub_ba))
    psql_rows(srv, "INSERT INTO roster_items (host, username, contact, "
              "subscription) VALUES " + ", ".join(rows))


def last_iq(c, to):
    iq = c.Iq()
    iq["type"] = "get"
    if to:
        iq["to"] = to
    iq.append(ET.Element("{%s}query" % NS_LAST))
    return iq


async def last_query(c, to):
    """(seconds, text) of a Last Activity result."""
    res = await last_iq(c, to).send(timeout=TIMEOUT)
    q = res.xml.find("{%s}query" % NS_LAST)
    assert q is not None, res
    return int(q.get("seconds")), (q.text or "")


# -- Last Activity ----------------------------------------------------------


async def test_last_server_uptime(server, users, clients):
    c = await clients.login(users.new("la"))
    info = await c["xep_0030"].get_info(jid=server.domain, local=False,
                                        timeout=TIMEOUT)
    assert NS_LAST in info["disco_info"]["features"]
    seconds, text = await last_query(c, server.domain)
    assert 0 <= seconds < 24 * 3600
    assert text == ""


async def test_last_online_and_offline_contact(server, users, clients):
    a_user, b_user = users.new("la"), users.new("lb")
    make_contacts(server, a_user, b_user)
    a = await clients.login(a_user, priority=0)
    b = await clients.login(b_user, priority=0)
    # b is available: seconds='0' (XEP-0012 section 3).
    assert await last_query(a, b_user.jid) == (0, "")
    # b leaves with a status: the time since and that status.
    b.send_presence(ptype="unavailable", pstatus="Heading Home")
    await barrier(b)
    await hard_close(b)
    deadline = time.monotonic() + TIMEOUT
    while True:
        seconds, text = await last_query(a, b_user.jid)
        if text or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)        # the close is processed async
    assert text == "Heading Home"
    assert 0 <= seconds < 60
    # Own account, from an available resource: 0.
    assert (await last_query(a, a_user.jid))[0] == 0


async def test_last_offline_contact_without_status(server, users, clients):
    a_user, b_user = users.new("la"), users.new("lb")
    make_contacts(server, a_user, b_user, sub_ab="to", sub_ba="from")
    b = await clients.login(b_user, priority=0)
    await hard_close(b)
    a = await clients.login(a_user)
    deadline = time.monotonic() + TIMEOUT
    while True:
        try:
            seconds, text = await last_query(a, b_user.jid)
            break
        except Exception:               # noqa: BLE001 (not recorded yet)
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.1)
    assert 0 <= seconds < 60 and text == ""


async def test_last_unauthorized(server, users, clients):
    a_user, b_user, c_user = users.new("la"), users.new("lb"), \
        users.new("lc")
    # a only sees nothing of b: b has a with 'to' (b sees a, not the
    # reverse).
    make_contacts(server, a_user, b_user, sub_ab="from", sub_ba="to")
    b = await clients.login(b_user, priority=0)
    a = await clients.login(a_user)
    c = await clients.login(c_user)
    assert await send_iq_expect_error(last_iq(c, b_user.jid)) == "forbidden"
    assert await send_iq_expect_error(last_iq(a, b_user.jid)) == "forbidden"
    await hard_close(b)
    await asyncio.sleep(0.2)
    # Offline (the database is asked): still forbidden.
    assert await send_iq_expect_error(last_iq(c, b_user.jid)) == "forbidden"
    assert await send_iq_expect_error(last_iq(a, b_user.jid)) == "forbidden"
    # An account that does not exist looks the same: no probing.
    assert await send_iq_expect_error(
        last_iq(c, "nobody%s@%s" % (c_user.name, server.domain))) \
        == "forbidden"


# -- the activity record ----------------------------------------------------


@pytest.fixture
def activity_server(start_xmppd):
    return start_xmppd("modules:\n  mod_activity: {flush_interval: 1}\n")


def activity(srv, user):
    r = srv.ctl("user_activity", user.name, user.host)
    assert r.returncode == 0, r.stderr
    out = {}
    for line in r.stdout.splitlines():
        k, _, v = line.partition(": ")
        out[k] = v
    return out


def wait_row(srv, user, column, want, timeout=TIMEOUT):
    """Poll the table until the batch writer has stored want."""
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        rows = psql_rows(srv, "SELECT %s FROM account_activity WHERE host = '%s'"
                         " AND username = '%s'" % (column, user.host,
                                                   user.name))
        got = rows[0][0] if rows else None
        if got == str(want):
            return
        time.sleep(0.1)
    raise AssertionError("%s of %s is %r, want %r" % (column, user.jid,
                                                      got, want))


async def test_activity_counters(activity_server, event_loop):
    srv = activity_server
    users, clients = Users(srv), Clients(srv, event_loop)
    try:
        await activity_checks(srv, users, clients)
    finally:
        await clients.close_all()
        users.cleanup()


async def activity_checks(srv, users, clients):
    a_user, b_user, s_user = users.new("aa"), users.new("ab"), \
        users.new("as")
    t_user = users.new("at")
    make_contacts(srv, a_user, b_user)
    a = await clients.login(a_user, priority=0)
    b = await clients.login(b_user, priority=0)
    s = await clients.login(s_user, priority=0)
    t = await clients.login(t_user, priority=0)
    for c in (s, t):
        # Answer subscription requests by hand, not automatically.
        c.auto_authorize = None
        c.auto_subscribe = False

    # Two messages to a contact, one to a stranger, one chat state (no
    # body: not counted).
    for _ in range(2):
        a.send_message(mto=b_user.jid, mbody="hi", mtype="chat")
    a.send_message(mto=s_user.jid, mbody="buy now", mtype="chat")
    cs = a.make_message(mto=b_user.jid, mtype="chat")
    cs.xml.append(ET.Element(
        "{http://jabber.org/protocol/chatstates}composing"))
    cs.send()
    for _ in range(2):
        await next_item(b.inbox)
    await next_item(s.inbox)

    # Subscriptions: a asks s (accepted) and t (refused).
    a.send_presence(pto=s_user.jid, ptype="subscribe")
    a.send_presence(pto=t_user.jid, ptype="subscribe")
    await barrier(a)
    await wait_pending_in(s, a_user)
    await wait_pending_in(t, a_user)
    s.send_presence(pto=a_user.jid, ptype="subscribed")
    t.send_presence(pto=a_user.jid, ptype="unsubscribed")
    await barrier(s)
    await barrier(t)

    # Memory and database together, at once.
    act = activity(srv, a_user)
    assert act["msgs_to_contacts"] == "2", act
    assert act["msgs_to_strangers"] == "1", act
    assert act["subs_sent"] == "2", act
    assert act["subs_accepted"] == "1", act
    assert act["subs_refused"] == "1", act
    assert act["days_active"] == "1", act
    assert act["last_login"] and act["created_at"], act
    assert act["last_logout"] == "", act
    assert activity(srv, b_user)["msgs_from_contacts"] == "2"
    s_act = activity(srv, s_user)
    assert s_act["msgs_from_strangers"] == "1", s_act
    assert s_act["subs_received"] == "1", s_act

    # The batch writer stored them (flush_interval 1 s).
    wait_row(srv, a_user, "msgs_to_contacts", 2)
    wait_row(srv, a_user, "subs_accepted", 1)
    wait_row(srv, s_user, "msgs_from_strangers", 1)
    wait_row(srv, a_user, "days_active", 1)

    # After the write, more counting adds to the row; no double count.
    a.send_message(mto=b_user.jid, mbody="again", mtype="chat")
    await next_item(b.inbox)
    assert activity(srv, a_user)["msgs_to_contacts"] == "3"
    wait_row(srv, a_user, "msgs_to_contacts", 3)
    assert activity(srv, a_user)["msgs_to_contacts"] == "3"
    assert activity(srv, a_user)["days_active"] == "1"

    # A second login the same day is not a second active day; the
    # logout is recorded.
    await hard_close(a)
    a = await clients.login(a_user)
    await hard_close(a)
    deadline = time.monotonic() + TIMEOUT
    while activity(srv, a_user)["last_logout"] == "" and \
            time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    act = activity(srv, a_user)
    assert act["last_logout"] != "", act
    assert act["days_active"] == "1", act
    wait_row(srv, a_user, "last_logout IS NOT NULL", "t")

    r = srv.ctl("user_activity", "nobody" + a_user.name, a_user.host)
    assert r.returncode != 0


async def wait_pending_in(c, requester):
    """Wait until c has received the subscription request from
    requester."""
    while True:
        p = await next_item(c.presences, what="subscribe to %s"
                            % c.boundjid)
        if p["type"] == "subscribe" and p["from"].bare == requester.jid:
            return
