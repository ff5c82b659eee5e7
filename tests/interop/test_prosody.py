"""xmppd (xmppd.test) federating with Prosody 0.12 (peer.test), issue 4.

Every case of lab.py runs both ways (an xmppd user starts, or a prosody
user does), in both certificate modes (lab_env: dialback with
unverifiable certificates, SASL EXTERNAL with the shared test CA).
Skipped while xmppd has no s2s (see conftest.py's xmppd fixture).

xmppd's extensions meet a peer that ignores them here: the signed trust
flag on outgoing subscription requests must leave an ordinary request
(test_subscription); nothing else of ours is visible to a peer yet.
"""

import pytest

import lab

DIRECTIONS = ["xmppd->prosody", "prosody->xmppd"]


@pytest.fixture
def peer(lab_env):
    return lab_env.prosody


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


async def test_s2s_auth(clients, lab_env, xmppd, peer):
    """The prosody side's log shows both streams with xmppd.test
    authenticated as the mode requires: xmppd offered and used SASL
    EXTERNAL with trusted certificates, dialback without."""
    await lab.exchange_both_ways(clients, xmppd, peer)
    lab.check_s2s_auth(peer, xmppd.domain, lab_env.mode)
