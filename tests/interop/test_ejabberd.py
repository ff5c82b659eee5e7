"""What is particular to ejabberd 23.01 (ejab.test) as xmppd's peer, issue 4;
the cases every peer runs are in test_peers.py."""

import pytest

import lab


@pytest.fixture
def peer(lab_env):
    return lab_env.ejabberd


async def test_s2s_auth(clients, lab_env, xmppd, peer):
    """The ejabberd side's log shows both streams with xmppd.test
    authenticated as the mode requires: xmppd offered and used SASL
    EXTERNAL with trusted certificates, dialback without."""
    await lab.exchange_both_ways(clients, xmppd, peer)
    lab.check_s2s_auth(peer, xmppd.domain, lab_env.mode)
