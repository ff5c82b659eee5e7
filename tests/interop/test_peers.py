"""xmppd (xmppd.test) federating with each peer, issue 4: Prosody 0.12
(peer.test) and ejabberd 23.01 (ejab.test).

Every case of lab.py runs both ways (an xmppd user starts, or the peer's
user does), with both peers, in both certificate modes (lab_env: dialback
with unverifiable certificates, SASL EXTERNAL with the shared test CA).
What is particular to one peer (how its log shows the authentication,
XEP-0288 with Prosody) is in test_prosody.py and test_ejabberd.py.

xmppd's extensions meet peers that ignore them here: the signed trust flag
on outgoing subscription requests must leave an ordinary request
(test_subscription); nothing else of ours is visible to a peer yet.
"""

import pytest

import lab

PEERS = ["prosody", "ejabberd"]
DIRECTIONS = ["xmppd->peer", "peer->xmppd"]


@pytest.fixture(params=PEERS)
def peer(request, lab_env):
    return getattr(lab_env, request.param)


def sides(xmppd, peer, direction):
    return (xmppd, peer) if direction.startswith("xmppd") else (peer, xmppd)


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_subscription(clients, xmppd, peer, direction):
    await lab.case_subscription(clients, *sides(xmppd, peer, direction))


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_presence(clients, xmppd, peer, direction):
    await lab.case_presence(clients, *sides(xmppd, peer, direction))


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_message(clients, xmppd, peer, direction):
    await lab.case_message(clients, *sides(xmppd, peer, direction))


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_iq(clients, xmppd, peer, direction):
    await lab.case_iq(clients, *sides(xmppd, peer, direction))


@pytest.mark.parametrize("direction", DIRECTIONS)
async def test_iq_errors(clients, xmppd, peer, direction):
    await lab.case_iq_errors(clients, *sides(xmppd, peer, direction))
