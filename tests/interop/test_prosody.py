"""What is particular to Prosody 0.12 (peer.test) as xmppd's peer, issue 4;
the cases every peer runs are in test_peers.py."""

import pytest

import lab


@pytest.fixture
def peer(lab_env):
    return lab_env.prosody


async def test_s2s_auth(clients, lab_env, xmppd, peer):
    """The prosody side's log shows both streams with xmppd.test
    authenticated as the mode requires: xmppd offered and used SASL
    EXTERNAL with trusted certificates, dialback without.  Both sides
    speak XEP-0288 (mod_s2s_bidi): when one stream carries both
    directions, it was authenticated once."""
    await lab.exchange_both_ways(clients, xmppd, peer)
    rows = lab.s2s_streams(xmppd, peer.domain)
    one = len(rows) == 1 and rows[0]["bidi"]
    lab.check_s2s_auth(peer, xmppd.domain, lab_env.mode, one_stream=one)


# --------------------------------------------------------------------------
# XEP-0288: Prosody 0.12's mod_s2s_bidi (enabled in lab.py) and xmppd's
# s2s_bidi (default true).  A fresh xmppd2 per case, so that no stream of
# an earlier test decides which one is used.


def _both_ways_on(row):
    return (row["bidi"] is True and row["stanzas_in"] >= 1
            and row["stanzas_out"] >= 1)


@pytest.mark.parametrize("direction", ["xmppd2->prosody", "prosody->xmppd2"])
async def test_bidi(clients, lab_env, start_xmppd2, peer, direction):
    """The first stanza opens one stream and the answers come back on it:
    xmppd2 lists one authenticated stream with peer.test, bidi, with
    stanzas both ways.  One exception, Prosody's and not the protocol's:
    in dialback mode Prosody verifies xmppd2's key over a stream it opens
    to xmppd2.test (XEP-0220 needs a connection to the authoritative
    server; XEP-0288 forbids using the one the key came on) and
    authenticates that stream as well, before xmppd2's own one is: then
    that bidi stream carries both directions (xmppd2's waiting stanzas
    included), and xmppd2's own stream, authenticated later, stays
    unused."""
    x2 = start_xmppd2()
    x, y = (x2, peer) if direction.startswith("xmppd2") else (peer, x2)
    await lab.case_message(clients, x, y)
    await lab.case_iq(clients, x, y)
    rows = lab.s2s_streams(x2, peer.domain)
    first = "out" if x is x2 else "in"
    mine = [r for r in rows if r["direction"] == first]
    assert len(mine) == 1, rows
    assert mine[0]["bidi"] is True, rows
    if lab_env.mode == "dialback" and first == "out":
        assert len(rows) <= 2, rows
        assert all(r["bidi"] for r in rows), rows
        assert any(_both_ways_on(r) for r in rows), rows
    else:
        assert len(rows) == 1, rows
        assert _both_ways_on(mine[0]), rows
    assert "bidi=yes" in x2.log_text()
