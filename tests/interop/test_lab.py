"""Lab self-tests: they prove the lab, not xmppd.

DNS and certificates are checked directly; then every federation case of
lab.py runs between Prosody (peer.test) and ejabberd (ejab.test), both
ways, in both certificate modes.  They pass without xmppd's s2s, and
they keep the cases honest: what they assert holds between two
independent, mature implementations.
"""

import subprocess

import pytest

import lab


def test_dns_answers(dns, lab_ports):
    """dnsmasq: SRV _xmpp-server._tcp for every lab domain, with the
    right port and target localhost; A 127.0.0.1 for any .test name and
    for localhost; no SRV for a domain without a server."""
    want = {lab.PROSODY_DOMAIN: lab_ports["prosody_s2s"],
            lab.EJABBERD_DOMAIN: lab_ports["ejabberd_s2s"],
            lab.XMPPD_DOMAIN: lab_ports["xmppd_s2s"],
            lab.XMPPD2_DOMAIN: lab_ports["xmppd2_s2s"]}
    for domain, port in want.items():
        rcode, ans = lab.dns_query("_xmpp-server._tcp." + domain, "SRV")
        assert rcode == 0 and ans == [(0, 0, port, "localhost")], \
            (domain, rcode, ans)
        assert lab.dns_query(domain, "A") == (0, ["127.0.0.1"])
    assert lab.dns_query("anything.else.test", "A") == (0, ["127.0.0.1"])
    assert lab.dns_query("localhost", "A") == (0, ["127.0.0.1"])
    _, ans = lab.dns_query("_xmpp-server._tcp." + lab.NO_SUCH_DOMAIN, "SRV")
    assert ans == []


def _verifies(ca, pem):
    r = subprocess.run(["openssl", "verify", "-CAfile", ca, pem],
                       capture_output=True, text=True, timeout=20)
    return r.returncode == 0


def test_certificates(lab_env):
    """external: one CA signs every domain; dialback: each domain's CA
    signs only that domain."""
    certs = lab_env.certs
    for d in lab.DOMAINS:
        assert _verifies(certs.ca(d), certs.pem(d)), d
        for other in lab.DOMAINS:
            if other != d:
                assert _verifies(certs.ca(other), certs.pem(d)) == \
                    (lab_env.mode == "external"), (d, other)


@pytest.mark.parametrize("case", sorted(lab.CASES))
@pytest.mark.parametrize("direction", ["prosody->ejabberd",
                                       "ejabberd->prosody"])
async def test_peers_federate(clients, lab_env, case, direction):
    x, y = lab_env.prosody, lab_env.ejabberd
    if direction == "ejabberd->prosody":
        x, y = y, x
    await lab.CASES[case](clients, x, y)


@pytest.mark.parametrize("peer", ["prosody", "ejabberd"])
async def test_peer_no_such_server(clients, lab_env, peer):
    await lab.case_no_such_server(clients, getattr(lab_env, peer))


async def test_peers_s2s_auth(clients, lab_env):
    """Both streams between the peers were authenticated the way the
    mode requires: dialback with unverifiable certificates, SASL
    EXTERNAL with the shared test CA."""
    p, e = lab_env.prosody, lab_env.ejabberd
    await lab.exchange_both_ways(clients, p, e)
    lab.check_s2s_auth(p, e.domain, lab_env.mode)
    lab.check_s2s_auth(e, p.domain, lab_env.mode)
