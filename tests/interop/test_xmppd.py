"""xmppd's own s2s behaviour in the lab (issue 4): unreachable domains,
the static route table, and two xmppd servers federating."""

import pytest

import lab


async def test_no_such_server(clients, xmppd):
    """nosuch.test resolves (no SRV, A 127.0.0.1) but nothing listens on
    5269: the IQ comes back with remote-server-not-found/-timeout."""
    await lab.case_no_such_server(clients, xmppd)


async def test_static_route(clients, lab_env, lab_ports, start_xmppd2):
    """s2s_routes: xmppd2.test reaches peer.test (Prosody) through its
    static route table alone: its DNS server is a closed port.  Both
    ways (Prosody finds xmppd2.test through the lab's DNS), and
    dialback's verification back to peer.test uses the route too."""
    x2 = start_xmppd2(
        routes={lab.PROSODY_DOMAIN: "127.0.0.1:%d"
                % lab_ports["prosody_s2s"]},
        nameservers=("127.0.0.1:1",))
    await lab.case_message(clients, x2, lab_env.prosody)
    await lab.case_iq(clients, x2, lab_env.prosody)


@pytest.mark.parametrize("direction", ["xmppd->xmppd2", "xmppd2->xmppd"])
async def test_xmppd_pair(clients, lab_env, xmppd, start_xmppd2, direction):
    """Two xmppd servers federate: subscription and a message, both
    found through SRV."""
    x2 = start_xmppd2()
    x, y = (xmppd, x2) if direction == "xmppd->xmppd2" else (x2, xmppd)
    await lab.case_subscription(clients, x, y)
    await lab.case_message(clients, x, y)
