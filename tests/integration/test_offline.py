"""Offline messages (XEP-0160) with XEP-0203 delays: stored while the
recipient has no available resource, delivered exactly once at the next
available presence of non-negative priority, kept across a kill -9, capped
per account, refused for unknown accounts and blocked senders, never kept
for a chat state alone; get_offline_count through xmppctl."""

import asyncio
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from conftest import Clients, Users
from xmpp_util import barrier, expect_nothing, hard_close, next_item

NS_DELAY = "urn:xmpp:delay"
NS_CHATSTATES = "http://jabber.org/protocol/chatstates"
NS_HINTS = "urn:xmpp:hints"


def body():
    return "offline " + uuid.uuid4().hex


def need_db(srv):
    if getattr(srv, "instance", None) is None:
        pytest.skip("needs the test server's own PostgreSQL")


def psql(srv, sql, **params):
    """Run sql (with psql variables :'name' from params) against the
    server's database; returns stdout stripped."""
    need_db(srv)
    argv = ["psql", "-h", srv.instance.pgdir, "-U", "xmppd", "-d", "xmppd",
            "-X", "-q", "-At", "-v", "ON_ERROR_STOP=1"]
    for k, v in params.items():
        argv += ["-v", "%s=%s" % (k, v)]
    r = subprocess.run(argv, input=sql, capture_output=True, text=True,
                       timeout=20)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def stored(srv, user):
    return int(psql(srv, "SELECT count(*) FROM offline_messages "
                         "WHERE host = :'h' AND username = :'u';",
                    h=user.host, u=user.name))


def ctl_count(srv, user):
    r = srv.ctl("get_offline_count", user.name, user.host)
    assert r.returncode == 0, (r.stdout, r.stderr)
    return int(r.stdout.strip())


async def wait_count(srv, user, want, timeout=5.0):
    """Poll get_offline_count until it is want (deletes are async)."""
    deadline = time.monotonic() + timeout
    while True:
        n = ctl_count(srv, user)
        if n == want or time.monotonic() > deadline:
            assert n == want, "offline count %d, want %d" % (n, want)
            return
        await asyncio.sleep(0.05)


def delay_of(msg):
    return msg.xml.find("{%s}delay" % NS_DELAY)


async def send_and_settle(c, to, text):
    """Send a chat message and wait until the server has handled it: the
    sender's stream is paused until the message is committed, so the
    answer to a later ping proves it is stored (or refused)."""
    c.send_message(mto=to, mbody=text, mtype="chat")
    await barrier(c)


async def bodies(c, n, what):
    got = []
    for _ in range(n):
        msg = await next_item(c.inbox, what=what)
        got.append(msg)
    return got


async def test_stored_and_delivered_once_with_delay(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    texts = [body() for _ in range(3)]
    for t in texts:
        a.send_message(mto=bu.jid, mbody=t, mtype="chat")
    await barrier(a)
    await expect_nothing(a.errors, wait=0.2, what="error for a stored message")
    assert ctl_count(server, bu) == 3

    b = await clients.login(bu, resource="first", priority=0)
    got = await bodies(b, 3, "offline message")
    assert [m["body"] for m in got] == texts          # oldest first
    for m in got:
        assert m["from"].full == a.boundjid.full
        assert m["to"].bare == bu.jid
        d = delay_of(m)
        assert d is not None, m
        assert d.get("from") == server.domain
        assert time.strptime(d.get("stamp"), "%Y-%m-%dT%H:%M:%SZ")
    await expect_nothing(b.inbox, wait=0.3, what="a second copy")
    await wait_count(server, bu, 0)
    await hard_close(b)

    again = await clients.login(bu, resource="second", priority=0)
    await expect_nothing(again.inbox, wait=0.5,
                         what="an offline message delivered twice")


async def test_survives_kill_9(start_xmppd, event_loop):
    srv = start_xmppd()
    us, cl = Users(srv), Clients(srv, event_loop)
    try:
        au, bu = us.new("a"), us.new("b")
        a = await cl.login(au)
        text = body()
        await send_and_settle(a, bu.jid, text)
        srv.instance.restart(kill=True)
        await cl.close_all()

        b = await cl.login(bu, priority=1)
        msg = await next_item(b.inbox, what="message stored before kill -9")
        assert msg["body"] == text
        assert delay_of(msg) is not None
        await expect_nothing(b.inbox, wait=0.3, what="a second copy")
        await wait_count(srv, bu, 0)
        await hard_close(b)
        b2 = await cl.login(bu, resource="again", priority=1)
        await expect_nothing(b2.inbox, wait=0.5, what="a redelivery")
    finally:
        await cl.close_all()
        us.cleanup()


async def test_per_user_cap(start_xmppd, event_loop):
    srv = start_xmppd("modules:\n  mod_offline: {max_user_messages: 3}\n")
    us, cl = Users(srv), Clients(srv, event_loop)
    try:
        au, bu = us.new("a"), us.new("b")
        a = await cl.login(au)
        texts = [body() for _ in range(4)]
        for t in texts:
            a.send_message(mto=bu.jid, mbody=t, mtype="chat")
        err = await next_item(a.errors, what="error for the 4th message")
        assert err["error"]["condition"] == "service-unavailable", err
        assert err["error"]["type"] == "cancel"
        assert err["body"] == texts[3]
        assert err["from"].bare == bu.jid
        await barrier(a)
        await expect_nothing(a.errors, wait=0.2, what="another error")
        assert ctl_count(srv, bu) == 3

        b = await cl.login(bu, priority=0)
        got = await bodies(b, 3, "message under the cap")
        assert [m["body"] for m in got] == texts[:3]
        await expect_nothing(b.inbox, wait=0.3, what="the refused message")
    finally:
        await cl.close_all()
        us.cleanup()


async def test_nonexistent_user(server, users, clients):
    a = await clients.login(users.new("a"))
    name = "nobody" + uuid.uuid4().hex[:10]
    a.send_message(mto="%s@%s" % (name, server.domain), mbody=body(),
                   mtype="chat")
    err = await next_item(a.errors, what="message error")
    assert err["error"]["condition"] == "service-unavailable", err
    if getattr(server, "instance", None) is not None:
        assert psql(server, "SELECT count(*) FROM offline_messages "
                            "WHERE username = :'u';", u=name) == "0"
    r = server.ctl("get_offline_count", name, server.domain)
    assert r.returncode != 0
    assert "does not exist" in (r.stdout + r.stderr)


async def test_chat_state_alone_not_stored(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    m = a.make_message(mto=bu.jid, mtype="chat")
    m.xml.append(ET.Element("{%s}composing" % NS_CHATSTATES))
    m.send()
    await barrier(a)
    # Dropped silently (XEP-0085): neither stored nor bounced.
    await expect_nothing(a.errors, wait=0.3, what="error for a chat state")
    assert ctl_count(server, bu) == 0

    # A chat state with a body is a message: stored.
    m = a.make_message(mto=bu.jid, mbody=body(), mtype="chat")
    m.xml.append(ET.Element("{%s}active" % NS_CHATSTATES))
    m.send()
    await barrier(a)
    assert ctl_count(server, bu) == 1


async def test_no_store_hint_bounces(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    m = a.make_message(mto=bu.jid, mbody=body(), mtype="chat")
    m.xml.append(ET.Element("{%s}no-store" % NS_HINTS))
    m.send()
    err = await next_item(a.errors, what="error for a no-store message")
    assert err["error"]["condition"] == "service-unavailable", err
    assert ctl_count(server, bu) == 0
    # <no-permanent-store/> allows offline storage (XEP-0334).
    m = a.make_message(mto=bu.jid, mbody=body(), mtype="chat")
    m.xml.append(ET.Element("{%s}no-permanent-store" % NS_HINTS))
    m.send()
    await barrier(a)
    assert ctl_count(server, bu) == 1


async def test_blocked_sender_not_stored(server, users, clients):
    need_db(server)
    au, cu, bu = users.new("a"), users.new("c"), users.new("b")
    a = await clients.login(au)
    c = await clients.login(cu)
    psql(server, "INSERT INTO blocklist (host, username, jid) "
                 "VALUES (:'h', :'u', :'j');",
         h=bu.host, u=bu.name, j=au.jid)
    a.send_message(mto=bu.jid, mbody=body(), mtype="chat")
    err = await next_item(a.errors, what="error for a blocked sender")
    assert err["error"]["condition"] == "service-unavailable", err
    await send_and_settle(c, bu.jid, body())       # not blocked: stored
    await expect_nothing(c.errors, wait=0.2, what="error for c")
    assert ctl_count(server, bu) == 1

    # Blocking the whole domain covers every local sender.
    psql(server, "INSERT INTO blocklist (host, username, jid) "
                 "VALUES (:'h', :'u', :'j');",
         h=bu.host, u=bu.name, j=server.domain)
    c.send_message(mto=bu.jid, mbody=body(), mtype="chat")
    err = await next_item(c.errors, what="error for a blocked domain")
    assert err["error"]["condition"] == "service-unavailable", err
    assert ctl_count(server, bu) == 1


async def test_negative_priority_waits(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    text = body()
    await send_and_settle(a, bu.jid, text)
    b = await clients.login(bu, priority=-1)
    await expect_nothing(b.inbox, wait=0.3, what="delivery to priority -1")
    assert ctl_count(server, bu) == 1
    b.send_presence(ppriority=2)            # now eligible (XEP-0160 2)
    msg = await next_item(b.inbox, what="delivery after priority 2")
    assert msg["body"] == text
    await wait_count(server, bu, 0)


async def test_two_resources_at_once_get_one_copy(server, users, clients):
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    texts = [body() for _ in range(5)]
    for t in texts:
        a.send_message(mto=bu.jid, mbody=t, mtype="chat")
    await barrier(a)
    r1, r2 = await asyncio.gather(
        clients.login(bu, resource="r1", priority=0),
        clients.login(bu, resource="r2", priority=0))
    got = []
    deadline = time.monotonic() + 5.0
    while len(got) < len(texts) and time.monotonic() < deadline:
        for c in (r1, r2):
            while not c.inbox.empty():
                got.append(c.inbox.get_nowait()["body"])
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    for c in (r1, r2):
        while not c.inbox.empty():
            got.append(c.inbox.get_nowait()["body"])
    assert sorted(got) == sorted(texts)
    await wait_count(server, bu, 0)


async def test_disco_advertises_msgoffline(server, users, clients):
    a = await clients.login(users.new("a"))
    info = await a["xep_0030"].get_info(jid=server.domain, timeout=10)
    assert "msgoffline" in info["disco_info"]["features"]


async def test_db_failure_bounces_wait_error(server, users, clients):
    """A store that fails in the database is not lost silently: the sender
    gets resource-constraint (type wait: try again later)."""
    need_db(server)
    a = await clients.login(users.new("a"))
    bu = users.new("b")
    fn = "offline_test_fail_" + bu.name
    # A trigger that fails every insert for this one account.
    psql(server, """
        CREATE FUNCTION %(fn)s() RETURNS trigger LANGUAGE plpgsql AS
          $$BEGIN RAISE EXCEPTION 'test: refused'; END$$;
        CREATE TRIGGER %(fn)s BEFORE INSERT ON offline_messages
          FOR EACH ROW WHEN (NEW.username = :'u') EXECUTE FUNCTION %(fn)s();
        """ % {"fn": fn}, u=bu.name)
    try:
        text = body()
        a.send_message(mto=bu.jid, mbody=text, mtype="chat")
        err = await next_item(a.errors, what="error for a failed store")
        assert err["error"]["condition"] == "resource-constraint", err
        assert err["error"]["type"] == "wait"
        assert err["body"] == text
    finally:
        psql(server, "DROP TRIGGER %(fn)s ON offline_messages; "
                     "DROP FUNCTION %(fn)s();" % {"fn": fn})
    assert ctl_count(server, bu) == 0
    # The sender's stream goes on.
    await send_and_settle(a, bu.jid, body())
    assert ctl_count(server, bu) == 1
