"""Fixtures for the xmppd integration suite.

A session starts one private PostgreSQL (deploy/pg.sh, --fast), makes a
dev CA and a certificate for localhost (deploy/gen-cert.sh), writes a
config with free ports and short timeouts, and runs build/xmppd.  With
XMPPD_TEST_EXTERNAL=host:c2sport:adminport:token the suite targets an
already running server instead (see tests/run-integration.sh).

Fixtures:
  server   (session) the running server: ports, token, CA, log, ctl(), api()
  start_xmppd (function) start_xmppd(extra_yaml) -> another private server
           with more config; srv.instance.restart(kill=True) restarts it
  users    (function) registers fresh, unique users through the admin API
  clients  (function) logs slixmpp clients in; all closed at teardown
  service_check (function) async: two fresh users log in and exchange a
           message (run after every hostile case)
Async tests (async def test_...) run on a fresh event loop per test, with
a hard time limit; no pytest-asyncio needed.
"""

import asyncio
import collections
import json
import os
import resource
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

import pytest

import xmpp_util
from xmpp_util import TIMEOUT, connect_and_wait, hard_close, make_client

REPO = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
# The build folder under test: XMPPD_BUILD, else make's BUILD (exported to
# recipes when set on make's command line, as `make asan` does).
BUILD_DIR = os.path.join(REPO, os.environ.get("XMPPD_BUILD")
                         or os.environ.get("BUILD") or "build")
XMPPD = os.path.join(BUILD_DIR, "xmppd")
XMPPCTL = os.path.join(BUILD_DIR, "xmppctl")
PG_SH = os.path.join(REPO, "deploy", "pg.sh")
GEN_CERT = os.path.join(REPO, "deploy", "gen-cert.sh")

DOMAIN = "localhost"
START_TIMEOUT = 20.0        # seconds for xmppd to accept and answer /health
STOP_TIMEOUT = 10.0         # seconds for xmppd to exit after SIGTERM
LOG_TAIL_LINES = 60

# Test settings the tests read back from `server` rather than hard-coding.
HANDSHAKE_TIMEOUT = 3
AUTH_FAILURE_DELAY_MS = 500
MAX_STANZA_SIZE_PREAUTH = 16384
SHAPER_RATE = 4000             # bytes/s on the policy listener
SHAPER_BURST = 4000


def raise_nofile_limit():
    """Soft RLIMIT_NOFILE up to the hard limit: the 1,000-connection test
    needs it, and xmppd inherits it from us."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else 1 << 20
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            pass
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def pytest_configure(config):
    raise_nofile_limit()


# --------------------------------------------------------------------------
# Async tests without plugins
# (tests/integration/async_tests.py: a fresh loop per test, a time limit)
from async_tests import event_loop, pytest_pyfunc_call  # noqa: F401,E402


# --------------------------------------------------------------------------
# The server


class ApiError(Exception):
    def __init__(self, status, body):
        super().__init__("HTTP %d: %r" % (status, body))
        self.status = status
        self.body = body


class Server:
    """What a test needs to know about the server under test."""

    def __init__(self):
        self.host = "127.0.0.1"
        self.domain = DOMAIN
        self.c2s_port = 0
        self.admin_port = 0
        self.token = ""
        self.ca = None              # path of the CA file to trust
        self.log = None             # path of xmppd's log, None if external
        self.config = None          # path of xmppd.yml, None if unknown
        self.dir = None             # the session's temp dir
        self.proc = None            # subprocess.Popen of xmppd
        self.external = False
        self.handshake_timeout = HANDSHAKE_TIMEOUT
        self.auth_failure_delay_ms = AUTH_FAILURE_DELAY_MS
        self.max_stanza_size_preauth = MAX_STANZA_SIZE_PREAUTH
        # A second c2s listener with an access rule (users banned* are
        # refused) and a shaper (SHAPER_RATE bytes/s for all but fast*).
        self.c2s_policy_port = 0
        self.shaper_rate = SHAPER_RATE
        self.shaper_burst = SHAPER_BURST

    # -- logs --------------------------------------------------------------

    def log_tail(self, lines=LOG_TAIL_LINES):
        if not self.log or not os.path.exists(self.log):
            return "(no xmppd log)"
        with open(self.log, "rb") as f:
            data = f.read().decode("utf-8", "replace")
        return "\n".join(data.splitlines()[-lines:])

    # -- xmppctl -----------------------------------------------------------

    def ctl(self, *args, stdin=None, config="default", env=None,
            timeout=20):
        """Run build/xmppctl with the server's config (config=None: no
        --config flag; config=PATH: that file).  Returns the
        CompletedProcess (text) with returncode, stdout, stderr."""
        if config == "default":
            config = self.config
            if config is None:
                pytest.skip("no config file for xmppctl (external server "
                            "without XMPPD_TEST_CONFIG)")
        argv = [XMPPCTL]
        if config is not None:
            argv += ["--config", config]
        argv += [str(a) for a in args]
        run_env = dict(os.environ)
        run_env.pop("XMPPD_CONFIG", None)
        if env:
            run_env.update(env)
        return subprocess.run(argv, input=stdin, capture_output=True,
                              text=True, timeout=timeout, env=run_env)

    # -- admin HTTP API ----------------------------------------------------

    def http(self, method, path, body=None, token="default", timeout=10):
        """One raw request to the admin listener; returns (status, bytes).
        body: bytes, str, or an object sent as JSON."""
        if token == "default":
            token = self.token
        if body is not None and not isinstance(body, (bytes, str)):
            body = json.dumps(body)
        if isinstance(body, str):
            body = body.encode()
        url = "http://%s:%d%s" % (self.host, self.admin_port, path)
        req = urllib.request.Request(url, data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", "application/json")
        if token is not None:
            req.add_header("Authorization", "Bearer " + token)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def api(self, cmd, **args):
        """POST /api/<cmd> with args as JSON; returns the decoded JSON on
        2xx, raises ApiError(status, decoded body) otherwise."""
        status, data = self.http("POST", "/api/" + cmd, args)
        try:
            decoded = json.loads(data) if data else None
        except ValueError:
            decoded = data
        if not 200 <= status < 300:
            raise ApiError(status, decoded)
        return decoded


def free_ports(n):
    """n distinct free TCP ports on 127.0.0.1 (held until all are picked,
    so they differ)."""
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


CONFIG_TEMPLATE = """\
# Written by tests/integration/conftest.py for one test session.
hosts: [{domain}]
loglevel: debug
certfiles: [certs/{domain}.pem]
state_dir: .
sql_server: {pgdir}
sql_database: xmppd
sql_username: xmppd
max_stanza_size_preauth: {preauth}
c2s_handshake_timeout: {handshake}
auth_failure_delay_ms: {delay}
listen:
  - {{port: {c2s}, ip: 127.0.0.1, module: c2s, starttls: true, starttls_required: true, max_stanza_size: 262144}}
  - {{port: {admin}, ip: 127.0.0.1, module: admin_http, token: "{token}"}}
  - {{port: {c2s_policy}, ip: 127.0.0.1, module: c2s, access: c2s_policy, shaper: c2s_shaper}}
acl:
  admin: {{user: [admin@{domain}]}}
  banned: {{user_glob: ["banned*"]}}
  fast: {{user_glob: ["fast*"]}}
access_rules:
  configure: [{{allow: admin}}]
  c2s_policy: [{{deny: banned}}, {{allow: all}}]
shaper:
  slow: {{rate: {shaper_rate}, burst_size: {shaper_burst}}}
shaper_rules:
  c2s_shaper: [{{none: fast}}, {{slow: all}}]
"""


def write_config(path, **kw):
    with open(path, "w") as f:
        f.write(CONFIG_TEMPLATE.format(**kw))


def run_checked(argv, what, timeout=120):
    r = subprocess.run(argv, capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        pytest.fail("%s failed (exit %d):\n%s%s" % (
            what, r.returncode, r.stdout, r.stderr), pytrace=False)
    return r


def port_accepts(host, port):
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def wait_ready(srv):
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if srv.proc is not None and srv.proc.poll() is not None:
            pytest.fail("xmppd exited with %d during start; log tail:\n%s"
                        % (srv.proc.returncode, srv.log_tail()),
                        pytrace=False)
        if port_accepts(srv.host, srv.c2s_port):
            try:
                status, _ = srv.http("GET", "/health", token=None,
                                     timeout=2)
            except OSError:
                status = 0
            if status == 200:
                return
        time.sleep(0.1)
    pytest.fail("xmppd not ready within %.0f s (c2s port %d accepting and "
                "GET /health 200); log tail:\n%s"
                % (START_TIMEOUT, srv.c2s_port, srv.log_tail()),
                pytrace=False)


def external_server(spec):
    parts = spec.split(":", 3)
    if len(parts) != 4:
        pytest.exit("XMPPD_TEST_EXTERNAL must be host:c2sport:adminport:"
                    "token, got %r" % spec, returncode=2)
    srv = Server()
    srv.external = True
    srv.host, c2s, admin, srv.token = parts
    srv.c2s_port, srv.admin_port = int(c2s), int(admin)
    srv.domain = os.environ.get("XMPPD_TEST_DOMAIN", DOMAIN)
    srv.ca = os.environ.get("XMPPD_TEST_CA") or None
    srv.config = os.environ.get("XMPPD_TEST_CONFIG") or None
    srv.handshake_timeout = int(
        os.environ.get("XMPPD_TEST_HANDSHAKE_TIMEOUT", "30"))
    srv.auth_failure_delay_ms = int(
        os.environ.get("XMPPD_TEST_AUTH_FAILURE_DELAY_MS", "1000"))
    srv.max_stanza_size_preauth = int(
        os.environ.get("XMPPD_TEST_MAX_STANZA_SIZE_PREAUTH", "16384"))
    return srv


_current_server = None


class Instance:
    """One private xmppd with its own PostgreSQL, for the session's
    `server` or for a test that needs another configuration (start_xmppd).
    """

    def __init__(self, extra_yaml="", domain=DOMAIN, s2s_port=0, args=()):
        srv = Server()
        srv.domain = domain
        srv.s2s_port = s2s_port
        srv.dir = tempfile.mkdtemp(prefix="xmppd-it-")
        # PostgreSQL runs as the postgres user: it must reach DIR/pg.
        os.chmod(srv.dir, 0o755)
        self.pgdir = os.path.join(srv.dir, "pg")
        certdir = os.path.join(srv.dir, "certs")
        srv.config = os.path.join(srv.dir, "xmppd.yml")
        srv.log = os.path.join(srv.dir, "xmppd.log")
        srv.ca = os.path.join(certdir, "ca.pem")
        srv.token = secrets.token_hex(16)
        srv.c2s_port, srv.admin_port, srv.c2s_policy_port = free_ports(3)
        srv.instance = self
        self.srv = srv
        # More command-line flags for xmppd (e.g. "--test-clock").
        self.args = [str(a) for a in args]
        self.pg_started = False
        self.logf = None
        self.sanitizer_report = ""
        run_checked([PG_SH, "start", self.pgdir, "--fast"],
                    "deploy/pg.sh start")
        self.pg_started = True
        run_checked([GEN_CERT, certdir, domain], "deploy/gen-cert.sh")
        write_config(srv.config, domain=domain, pgdir=self.pgdir,
                     preauth=srv.max_stanza_size_preauth,
                     handshake=srv.handshake_timeout,
                     delay=srv.auth_failure_delay_ms,
                     c2s=srv.c2s_port, admin=srv.admin_port,
                     token=srv.token, c2s_policy=srv.c2s_policy_port,
                     shaper_rate=srv.shaper_rate,
                     shaper_burst=srv.shaper_burst)
        if s2s_port:
            with open(srv.config) as f:
                text = f.read()
            text = text.replace("listen:\n", "listen:\n  - {port: %d, ip: "
                                "127.0.0.1, module: s2s}\n" % s2s_port, 1)
            with open(srv.config, "w") as f:
                f.write(text)
        if extra_yaml:
            with open(srv.config, "a") as f:
                f.write(extra_yaml)

    def start(self):
        srv = self.srv
        self.logf = open(srv.log, "ab")
        srv.proc = subprocess.Popen(
            [XMPPD, "--config", srv.config] + self.args, cwd=srv.dir,
            stdin=subprocess.DEVNULL, stdout=self.logf, stderr=self.logf)
        wait_ready(srv)
        return srv

    def stop(self, kill=False):
        """SIGTERM (or SIGKILL with kill=True) and wait; returns the exit
        status as stop_xmppd does."""
        srv = self.srv
        if kill and srv.proc is not None and srv.proc.poll() is None:
            srv.proc.kill()
            srv.proc.wait()
            rc = None
        else:
            rc = stop_xmppd(srv)
        srv.proc = None
        if self.logf is not None:
            self.logf.close()
            self.logf = None
        found = find_sanitizer_report(srv.log)
        if found:
            self.sanitizer_report = found
        return rc

    def restart(self, kill=False):
        """Stop xmppd (kill -9 with kill=True) and start it again on the
        same database and ports."""
        self.stop(kill=kill)
        return self.start()

    def destroy(self):
        rc = self.stop()
        if self.pg_started:
            subprocess.run([PG_SH, "stop", self.pgdir], capture_output=True,
                           timeout=60)
            self.pg_started = False
        keep = os.environ.get("XMPPD_TEST_KEEP")
        if keep:
            print("\nxmppd test dir kept: %s" % self.srv.dir)
        else:
            shutil.rmtree(self.srv.dir, ignore_errors=True)
        return rc


def check_tools():
    for tool in (XMPPD, XMPPCTL, PG_SH, GEN_CERT):
        if not os.access(tool, os.X_OK):
            pytest.fail("%s is missing or not executable (run `make all` "
                        "first)" % tool, pytrace=False)


@pytest.fixture(scope="session")
def server():
    global _current_server
    spec = os.environ.get("XMPPD_TEST_EXTERNAL")
    if spec:
        srv = external_server(spec)
        _current_server = srv
        wait_ready(srv)
        yield srv
        return

    check_tools()
    inst = None
    rc = None
    try:
        inst = Instance()
        _current_server = inst.srv
        yield inst.start()
    finally:
        if inst is not None:
            rc = inst.destroy()
        _current_server = None
    if inst is not None and inst.sanitizer_report:
        pytest.fail("xmppd's log has a sanitizer report:\n%s"
                    % inst.sanitizer_report, pytrace=False)
    # Reached only when the tests ran: a clean shutdown is part of the
    # contract (SIGTERM -> exit 0).
    if rc not in (None, 0):
        pytest.fail("xmppd exited with %r after SIGTERM" % rc,
                    pytrace=False)


@pytest.fixture
def start_xmppd():
    """Start extra private servers for one test: start_xmppd(extra_yaml)
    returns a running Server whose config has extra_yaml appended (e.g.
    "modules:\n  mod_vcard: {search: true}\n"); args=[...] passes more
    command-line flags to xmppd (e.g. ["--test-clock"]), kept across
    restarts; domain= and s2s_port= as Instance; srv.instance.restart()
    and .restart(kill=True) restart it on the same database.  Everything
    is stopped at the end of the test."""
    if os.environ.get("XMPPD_TEST_EXTERNAL"):
        pytest.fail("this test starts its own xmppd: not possible with "
                    "XMPPD_TEST_EXTERNAL", pytrace=False)
    check_tools()
    made = []

    def start(extra_yaml="", **kw):
        inst = Instance(extra_yaml, **kw)
        made.append(inst)
        return inst.start()

    yield start
    reports = []
    for inst in made:
        inst.destroy()
        if inst.sanitizer_report:
            reports.append(inst.sanitizer_report)
    if reports:
        pytest.fail("xmppd's log has a sanitizer report:\n%s" % reports[0],
                    pytrace=False)


SANITIZER_MARKS = (b"ERROR: AddressSanitizer", b"ERROR: LeakSanitizer",
                   b"runtime error:")


def find_sanitizer_report(log):
    """The first lines of an ASan/LSan/UBSan report in xmppd's log (make
    asan runs the suite against a sanitized build), or ""."""
    if not log or not os.path.exists(log):
        return ""
    with open(log, "rb") as f:
        data = f.read()
    for mark in SANITIZER_MARKS:
        i = data.find(mark)
        if i >= 0:
            return data[max(0, i - 200):i + 3000].decode(errors="replace")
    return ""


def stop_xmppd(srv):
    """SIGTERM, wait, SIGKILL if it hangs.  Returns the exit status."""
    p = srv.proc
    if p is None:
        return None
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return "killed after %.0f s" % STOP_TIMEOUT
    return p.returncode


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    srv = _current_server
    if rep.failed and srv is not None and srv.log:
        rep.sections.append(("xmppd log tail (%s)" % srv.log,
                             srv.log_tail()))


# --------------------------------------------------------------------------
# Users and clients


User = collections.namedtuple("User", "name host jid password")


class Users:
    def __init__(self, srv):
        self.srv = srv
        self.made = []

    def new(self, prefix="u", password=None):
        """Register a fresh user through the admin API."""
        name = xmpp_util.unique(prefix)
        password = password or secrets.token_urlsafe(12)
        res = self.srv.api("register", user=name, host=self.srv.domain,
                           password=password)
        assert "successfully registered" in str(res), res
        u = User(name, self.srv.domain, "%s@%s" % (name, self.srv.domain),
                 password)
        self.made.append(u)
        return u

    def cleanup(self):
        for u in self.made:
            try:
                self.srv.api("unregister", user=u.name, host=u.host)
            except (ApiError, OSError):
                pass


@pytest.fixture
def users(server):
    u = Users(server)
    yield u
    u.cleanup()


class Clients:
    """Makes slixmpp clients on the test's loop; closes them all at the
    end of the test."""

    def __init__(self, srv, loop):
        self.srv = srv
        self.loop = loop
        self.all = []

    def new(self, user, resource=None, password=None, mech=None, port=None):
        """An unconnected client for user (a User or a JID string), for
        the main c2s listener or the given port."""
        jid = user.jid if isinstance(user, User) else str(user)
        if resource:
            jid += "/" + resource
        if password is None:
            password = user.password if isinstance(user, User) else ""
        c = make_client(jid, password, self.srv.host,
                        port or self.srv.c2s_port, self.srv.ca, mech=mech)
        self.all.append(c)
        return c

    async def login(self, user, resource=None, password=None, mech=None,
                    priority=None, timeout=TIMEOUT, port=None):
        """Log in and wait for session_start.  With priority (an int),
        also send initial presence with that priority and wait until the
        server has processed it."""
        c = self.new(user, resource=resource, password=password, mech=mech,
                     port=port)
        await connect_and_wait(c, self.srv.host, port or self.srv.c2s_port,
                               timeout=timeout)
        if priority is not None:
            c.send_presence(ppriority=priority)
            await xmpp_util.barrier(c)
        return c

    async def close_all(self):
        await asyncio.gather(*(hard_close(c) for c in self.all),
                             return_exceptions=True)


@pytest.fixture
def clients(server, event_loop):
    cs = Clients(server, event_loop)
    yield cs
    event_loop.run_until_complete(
        asyncio.wait_for(cs.close_all(), 15.0))


@pytest.fixture
def service_check(users, clients):
    """Async: two fresh users log in and exchange a message both ways."""
    async def check():
        a_user, b_user = users.new("ok"), users.new("ok")
        a = await clients.login(a_user)
        b = await clients.login(b_user)
        await xmpp_util.exchange_message(a, b)
        await xmpp_util.exchange_message(b, a)
        await hard_close(a)
        await hard_close(b)
    return check
