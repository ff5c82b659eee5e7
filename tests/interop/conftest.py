"""Fixtures for the federation interop suite (tests/interop, issue 4).

Run it with tests/run-interop.sh: everything lives in a loopback-only
network namespace (TESTLAB.md).  See lab.py for the parts and README.md
for the layout.

Fixtures:
  lab_ports (session) the ports of every server, picked once
  dns       (session) dnsmasq on 127.0.0.1:5353 with the SRV records
  lab_env   (session, parametrized over lab.MODES: dialback, external)
            certificates of that mode, Prosody (peer.test) and ejabberd
            (ejab.test) running; lab_env.mode, .prosody, .ejabberd
  xmppd     (session, per mode) xmppd (xmppd.test) with s2s, on its own
            PostgreSQL; a config xmppd refuses fails the session
  clients   (function) slixmpp clients of any lab server, closed at the
            end of the test
Async tests (async def test_...) run on a fresh event loop per test, with
a hard time limit, as in tests/integration.

Environment: XMPPD_BUILD (build folder, default build), XMPPD_TEST_KEEP=1
(keep the lab's temp dir: configs, logs, data).
"""

import asyncio
import os
import shutil
import tempfile

import pytest

import lab


# The servers of the running lab, for log tails in failure reports.
_running = []


def _fail(e):
    pytest.fail(str(e), pytrace=False)


# --------------------------------------------------------------------------
# Async tests without plugins (as tests/integration/conftest.py)
# (tests/integration/async_tests.py: a fresh loop per test, a time limit)
from async_tests import event_loop, pytest_pyfunc_call  # noqa: F401,E402


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for srv in list(_running):
            rep.sections.append(("%s log tail (%s)" % (srv.kind, srv.log),
                                 srv.log_tail()))


# --------------------------------------------------------------------------
# The lab


def _check_tools():
    missing = [t for t in ("prosody", "prosodyctl", "ejabberdctl",
                           "dnsmasq", "setpriv", "openssl")
               if shutil.which(t) is None]
    if missing:
        _fail("missing: %s (deploy/install-deps.sh --all)"
              % " ".join(missing))


@pytest.fixture(scope="session")
def lab_base():
    _check_tools()
    base = tempfile.mkdtemp(prefix="xmppd-interop-")
    os.chmod(base, 0o755)       # prosody, ejabberd, postgres reach in
    yield base
    if os.environ.get("XMPPD_TEST_KEEP"):
        print("\ninterop lab dir kept: %s" % base)
    else:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def lab_ports():
    names = ("prosody_c2s", "prosody_s2s", "ejabberd_c2s", "ejabberd_s2s",
             "ejabberd_dist", "xmppd_c2s", "xmppd_s2s", "xmppd_admin",
             "xmppd2_c2s", "xmppd2_s2s", "xmppd2_admin")
    return dict(zip(names, lab.free_ports(len(names))))


@pytest.fixture(scope="session")
def dns(lab_base, lab_ports):
    if lab.port_accepts(lab.DNS_PORT):
        _fail("127.0.0.1:%d is taken: run the suite through "
              "tests/run-interop.sh (a private network namespace)"
              % lab.DNS_PORT)
    d = lab.Dnsmasq(lab_base, {
        lab.PROSODY_DOMAIN: lab_ports["prosody_s2s"],
        lab.EJABBERD_DOMAIN: lab_ports["ejabberd_s2s"],
        lab.XMPPD_DOMAIN: lab_ports["xmppd_s2s"],
        lab.XMPPD2_DOMAIN: lab_ports["xmppd2_s2s"],
    })
    try:
        d.start()
    except lab.LabError as e:
        d.stop()
        _fail(e)
    yield d
    d.stop()


class Lab:
    def __init__(self, mode, base, certs, dns):
        self.mode = mode
        self.base = base
        self.certs = certs
        self.dns = dns
        self.prosody = None
        self.ejabberd = None


def _stop_all(servers):
    errors = []
    for srv in servers:
        if srv is None:
            continue
        try:
            srv.stop()
        except lab.LabError as e:
            errors.append(str(e))
        if srv in _running:
            _running.remove(srv)
    return errors


@pytest.fixture(scope="session", params=lab.MODES)
def lab_env(request, lab_base, lab_ports, dns):
    mode = request.param
    base = os.path.join(lab_base, mode)
    os.makedirs(base, exist_ok=True)
    os.chmod(base, 0o755)
    env = None
    try:
        env = Lab(mode, base, lab.Certs(base, mode), dns)
        env.prosody = lab.Prosody(base, env.certs, lab_ports["prosody_c2s"],
                                  lab_ports["prosody_s2s"])
        env.ejabberd = lab.Ejabberd(base, env.certs,
                                    lab_ports["ejabberd_c2s"],
                                    lab_ports["ejabberd_s2s"],
                                    lab_ports["ejabberd_dist"])
        for srv in (env.prosody, env.ejabberd):
            _running.append(srv)
            srv.start()
    except lab.LabError as e:
        if env is not None:
            _stop_all([env.prosody, env.ejabberd])
        _fail(e)
    yield env
    errors = _stop_all([env.prosody, env.ejabberd])
    if errors:
        _fail("\n".join(errors))


@pytest.fixture(scope="session")
def xmppd_pg(lab_base):
    """xmppd's PostgreSQL, one for the session (users are unique); it is
    started by the first xmppd that passes its config check."""
    if not os.access(lab.XMPPD, os.X_OK):
        _fail("%s is missing: run `make all` first" % lab.XMPPD)
    pg = lab.Postgres(lab_base, "pg-xmppd")
    yield pg
    pg.stop()


def _start_pg(pg):
    if pg.started:
        return
    try:
        pg.start()
    except lab.LabError as e:
        pg.stop()
        _fail(e)


def _start_xmppd(srv, pg):
    ok, msg = srv.check_config()
    if not ok:
        _fail("xmppd --check-config %s: %s" % (srv.config, msg))
    _start_pg(pg)
    _running.append(srv)
    try:
        srv.start()
    except lab.LabError as e:
        srv.stop()
        _fail(e)


def _stop_xmppd(srv):
    if srv in _running:
        _running.remove(srv)
    rc = srv.stop()
    report = srv.sanitizer_report()
    if report:
        _fail("xmppd's log has a sanitizer report:\n%s" % report)
    if rc not in (None, 0):
        _fail("xmppd (%s) exited with %r after SIGTERM; log tail:\n%s"
              % (srv.domain, rc, srv.log_tail()))


@pytest.fixture(scope="session")
def xmppd(lab_env, lab_ports, xmppd_pg):
    srv = lab.Xmppd(lab_env.base, lab_env.certs, lab_ports["xmppd_c2s"],
                    lab_ports["xmppd_s2s"], lab_ports["xmppd_admin"],
                    xmppd_pg.dir)
    _start_xmppd(srv, xmppd_pg)
    yield srv
    _stop_xmppd(srv)


@pytest.fixture
def start_xmppd2(lab_env, lab_ports, lab_base):
    """start_xmppd2(**kw) -> a second xmppd, xmppd2.test, on its own
    PostgreSQL, with lab.Xmppd's keyword arguments (routes=...,
    nameservers=...); stopped at the end of the test."""
    made = []

    def start(**kw):
        pg = lab.Postgres(lab_env.base, "pg-xmppd2")
        made.append(pg)
        srv = lab.Xmppd(lab_env.base, lab_env.certs,
                        lab_ports["xmppd2_c2s"], lab_ports["xmppd2_s2s"],
                        lab_ports["xmppd2_admin"], pg.dir,
                        domain=lab.XMPPD2_DOMAIN, **kw)
        made.append(srv)
        _start_xmppd(srv, pg)
        return srv

    yield start
    for part in reversed(made):
        if isinstance(part, lab.Xmppd):
            _stop_xmppd(part)
        else:
            part.stop()
            shutil.rmtree(part.dir, ignore_errors=True)


@pytest.fixture
def clients(event_loop):
    cs = lab.Clients()
    yield cs
    event_loop.run_until_complete(asyncio.wait_for(cs.close_all(), 15.0))
