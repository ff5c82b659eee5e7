"""Listener policy an operator sets in the config, as in ejabberd: an
`access` rule that decides who may log in on a c2s listener, and a
`shaper` that limits how fast a client may send."""

import time

import pytest

from xmpp_util import LoginFailed, TIMEOUT, connect_and_wait, next_item


async def test_access_rule_refuses_a_denied_user(server, users, clients):
    u = users.new("banned")
    c = clients.new(u, port=server.c2s_policy_port)
    with pytest.raises(LoginFailed):
        await connect_and_wait(c, server.host, server.c2s_policy_port)
    assert c.auth_failures and c.auth_failures[0] == "not-authorized", \
        c.auth_failures
    # The same account is welcome on the listener without the rule.
    ok = await clients.login(u)
    assert ok.boundjid.bare == u.jid


async def test_access_rule_lets_others_in(server, users, clients):
    u = users.new("member")
    c = await clients.login(u, port=server.c2s_policy_port)
    assert c.boundjid.bare == u.jid


async def send_burst(sender, receiver, count, size):
    """Send count messages of size bytes; return seconds until the last
    one arrived."""
    filler = "x" * size
    start = time.monotonic()
    for i in range(count):
        sender.send_message(mto=receiver.boundjid.full, mtype="chat",
                            mbody="%d %s" % (i, filler))
    got = 0
    while got < count:
        msg = await next_item(receiver.inbox, TIMEOUT + 10,
                              "shaped message %d" % got)
        if msg["body"].endswith(filler):
            got += 1
    return time.monotonic() - start


async def test_shaper_limits_a_client_send_rate(server, users, clients):
    rx = await clients.login(users.new("rx"))
    slow = await clients.login(users.new("slow"),
                               port=server.c2s_policy_port)
    fast = await clients.login(users.new("fast"),
                               port=server.c2s_policy_port)
    count, size = 12, 1000
    # About 12.5 KB of XML through a bucket of SHAPER_BURST bytes refilled
    # at SHAPER_RATE bytes/s: what is over the burst takes its time.
    want = (count * size - server.shaper_burst) / server.shaper_rate
    took_slow = await send_burst(slow, rx, count, size)
    assert took_slow >= 0.8 * want, \
        "shaped client sent %d bytes in %.2f s, want >= %.2f s" % (
            count * size, took_slow, 0.8 * want)
    # The shaper_rules exempt fast*: no waiting, and nobody else slowed.
    took_fast = await send_burst(fast, rx, count, size)
    assert took_fast < want / 2, "unshaped client took %.2f s" % took_fast
