"""Helpers for the roster, subscription and presence tests (RFC 6121):
clients that answer nothing on their own, roster pushes kept in a queue,
and waits for one kind of presence.  Every wait is bounded."""

import asyncio

from slixmpp.exceptions import IqError, IqTimeout

from xmpp_util import TIMEOUT, connect_and_wait, next_item

NS_ROSTER = "jabber:iq:roster"
SHORT = 0.4             # seconds to wait for something that must not come


async def login(clients, user, resource=None, priority=None, roster=True,
                plugins=()):
    """Log user in with slixmpp's automatic subscription answers off,
    roster pushes queued on c.pushes, and (roster=True) the roster
    requested, which makes the resource 'interested' (RFC 6121 2.1.6).
    priority: send initial presence with it.  plugins: more slixmpp
    plugins to register."""
    c = clients.new(user, resource=resource)
    for p in plugins:
        c.register_plugin(p)
    c.auto_authorize = None         # never answer subscriptions for us
    c.auto_subscribe = False
    c.pushes = asyncio.Queue()

    def on_roster(iq):
        if iq["type"] == "set":
            c.pushes.put_nowait(iq)

    c.add_event_handler("roster_update", on_roster)
    await connect_and_wait(c, clients.srv.host, clients.srv.c2s_port)
    if roster:
        await roster_get(c)
    if priority is not None:
        c.send_presence(ppriority=priority)
        await barrier(c)
    return c


async def barrier(c, timeout=TIMEOUT):
    """Everything c sent before has been handled once this returns."""
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = c.boundjid.host
    iq.enable("ping")
    await iq.send(timeout=timeout)


async def roster_get(c, ver=None, timeout=TIMEOUT):
    """A roster get (with 'ver' when given); returns the result IQ."""
    iq = c.Iq()
    iq["type"] = "get"
    q = iq.enable("roster")
    if ver is not None:
        q.xml.set("ver", ver)
    return await iq.send(timeout=timeout)


def roster_items(res):
    """{bare jid: item dict} of a roster result or push."""
    return {str(j): dict(item) for j, item in res["roster"]["items"].items()}


def query_ver(res):
    q = res.xml.find("{%s}query" % NS_ROSTER)
    return None if q is None else q.get("ver")


async def roster_set(c, jid, name=None, groups=(), subscription=None,
                     timeout=TIMEOUT):
    iq = c.Iq()
    iq["type"] = "set"
    item = {"name": name or "", "groups": list(groups)}
    if subscription:
        item["subscription"] = subscription
    iq["roster"]["items"] = {jid: item}
    return await iq.send(timeout=timeout)


async def iq_error(iq, timeout=TIMEOUT):
    """Send an IQ that must fail; return its error condition."""
    try:
        res = await iq.send(timeout=timeout)
    except IqError as e:
        return e.iq["error"]["condition"]
    except IqTimeout:
        raise AssertionError("no answer to IQ %s" % iq["id"]) from None
    raise AssertionError("expected an IQ error, got %s" % res)


async def next_push(c, jid=None, timeout=TIMEOUT):
    """The next roster push on c (for jid, when given: others skipped).
    Returns (item dict, ver)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        iq = await next_item(c.pushes, max(left, 0.01),
                             "roster push on %s" % c.boundjid)
        assert iq["from"].bare in ("", c.boundjid.bare), iq
        items = roster_items(iq)
        assert len(items) == 1, iq
        got_jid, item = next(iter(items.items()))
        if jid is None or got_jid == jid:
            return item, query_ver(iq)


async def no_push(c, wait=SHORT):
    try:
        iq = await asyncio.wait_for(c.pushes.get(), wait)
    except asyncio.TimeoutError:
        return
    raise AssertionError("unexpected roster push: %s" % iq)


def _match(p, ptype, frm):
    if ptype is not None:
        want = "available" if ptype == "available" else ptype
        if p["type"] != want and not (want == "available" and
                                      p["type"] in p.showtypes):
            return False
    if frm is not None:
        if "/" in frm:
            return p["from"].full == frm
        return p["from"].bare == frm
    return True


async def expect_presence(c, ptype=None, frm=None, timeout=TIMEOUT):
    """The next presence on c of that type ('available' for none) from
    frm (a full JID, or a bare JID for any of its resources); others are
    skipped."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no presence type=%s from=%s on %s"
                                 % (ptype, frm, c.boundjid))
        p = await next_item(c.presences, left,
                            "presence %s from %s" % (ptype, frm))
        if _match(p, ptype, frm):
            return p


async def no_presence(c, ptype=None, frm=None, wait=SHORT):
    """No presence of that type from frm arrives on c within wait."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return
        try:
            p = await asyncio.wait_for(c.presences.get(), left)
        except asyncio.TimeoutError:
            return
        if _match(p, ptype, frm):
            raise AssertionError("unexpected presence on %s: %s"
                                 % (c.boundjid, p))


def drain(c):
    """Forget the presences and pushes queued so far."""
    for q in (c.presences, c.pushes):
        while not q.empty():
            q.get_nowait()


def admin_roster(server, user):
    """{jid: row} from the admin API's get_roster."""
    rows = server.api("get_roster", user=user.name, host=user.host)
    return {r["jid"]: r for r in rows}


def admin_add(server, owner, contact, subs, nick="", groups=""):
    server.api("add_rosteritem", localuser=owner.name, localhost=owner.host,
               user=contact.name, host=contact.host, nick=nick,
               group=groups, subs=subs)


def make_contacts(server, a, b):
    """a and b subscribed both ways (through the admin API)."""
    admin_add(server, a, b, "both")
    admin_add(server, b, a, "both")
