"""The core's counters behind /metrics, bumped where the streams and the
router do their work: stanzas accepted from clients and peers, stanzas
serialized to peers, stream errors and stanza errors the server sent, and
shaper waits.  (The events the reputation engine takes from the same
places, XS_EV_RATE_LIMITED and XS_EV_S2S_MISBEHAVED, have their tests
with that module and in tests/unit/test_observers.c.)"""

import asyncio
import re
import time

from conftest import Clients, Users
from test_s2s_hostile import hostile, peer_open  # noqa: F401 (fixture)
from xmpp_util import (TIMEOUT, barrier, exchange_message, next_item,
                       raw_exchange, stream_header)

METRIC = re.compile(r"^([a-z_]+(?:\{[^}]*\})?) ([0-9.eE+-]+)$", re.M)


def metrics(srv):
    status, body = srv.http("GET", "/metrics")
    assert status == 200, (status, body[:200])
    return {m.group(1): float(m.group(2))
            for m in METRIC.finditer(body.decode())}


def stream(name, kind):
    return '%s{stream="%s"}' % (name, kind)


async def wait_metric(srv, key, above, timeout=TIMEOUT):
    """Poll /metrics until key is above `above`; return the value."""
    deadline = time.monotonic() + timeout
    while True:
        v = metrics(srv).get(key, 0)
        if v > above or time.monotonic() > deadline:
            return v
        await asyncio.sleep(0.1)


async def test_c2s_stanzas_and_errors_counted(server, users, clients):
    a = await clients.login(users.new("cnt"))
    b = await clients.login(users.new("cnt"))
    before = metrics(server)

    await exchange_message(a, b)
    # A groupchat message to a user is refused by the router (bounce).
    a.send_message(mto=b.boundjid.bare, mbody="x", mtype="groupchat")
    err = await next_item(a.errors, what="groupchat bounce")
    assert err["error"]["condition"] == "service-unavailable", err
    await barrier(a)

    after = metrics(server)
    key_in = stream("xmppd_stanzas_in_total", "c2s")
    # The message, the groupchat message and the ping at least.
    assert after[key_in] >= before[key_in] + 3, (before[key_in],
                                                 after[key_in])
    assert after["xmppd_stanza_errors_total"] >= \
        before["xmppd_stanza_errors_total"] + 1


async def test_c2s_stream_error_counted(server):
    key = stream("xmppd_stream_errors_total", "c2s")
    before = metrics(server)[key]
    r = raw_exchange(server.host, server.c2s_port,
                     stream_header(server.domain) + b"<a></b>",
                     until=b"</stream:stream>")
    assert r.has_stream_error("not-well-formed"), r
    assert await wait_metric(server, key, before) >= before + 1


async def test_c2s_shaper_waits_counted(server, users, clients):
    rx = await clients.login(users.new("rx"))
    slow = await clients.login(users.new("slow"),
                               port=server.c2s_policy_port)
    key = stream("xmppd_rate_limited_total", "c2s")
    before = metrics(server)[key]
    # Twice the burst: the bucket runs dry, the stream has to wait.
    filler = "y" * 1000
    count = 2 * server.shaper_burst // 1000 + 2
    for i in range(count):
        slow.send_message(mto=rx.boundjid.full, mtype="chat",
                          mbody="%d %s" % (i, filler))
    got = 0
    while got < count:
        msg = await next_item(rx.inbox, TIMEOUT, "shaped message %d" % got)
        if msg["body"].endswith(filler):
            got += 1
    assert metrics(server)[key] > before


async def test_s2s_stanzas_and_stream_errors_counted(hostile,  # noqa: F811
                                                     event_loop):
    srv, _, cctx = hostile
    users, clients = Users(srv), Clients(srv, event_loop)
    key_in = stream("xmppd_stanzas_in_total", "s2s")
    key_out = stream("xmppd_stanzas_out_total", "s2s")
    key_err = stream("xmppd_stream_errors_total", "s2s")
    try:
        local = await clients.login(users.new("s2s"), priority=1)
        before = metrics(srv)

        # Accepted from an authenticated peer: counted in.
        w = peer_open(srv, cctx)
        w.send("<message from='friend@fake.test' to='%s' type='chat'>"
               "<body>hi</body></message>" % local.boundjid.bare)
        msg = await next_item(local.inbox, what="message from fake.test")
        assert msg["body"] == "hi"
        assert metrics(srv)[key_in] >= before[key_in] + 1
        # A forged 'from' after authentication: a stream error, counted.
        w.send("<message from='boss@other.test' to='%s' type='chat'>"
               "<body>forged</body></message>" % local.boundjid.bare)
        w.stream_error("invalid-from")
        w.close()
        assert await wait_metric(srv, key_err, before[key_err]) >= \
            before[key_err] + 1

        # Sent to fake.test (its authority takes EXTERNAL): counted out.
        local.send_message(mto="friend@fake.test", mbody="back",
                           mtype="chat")
        assert await wait_metric(srv, key_out, before[key_out]) >= \
            before[key_out] + 1
    finally:
        await clients.close_all()
        users.cleanup()
