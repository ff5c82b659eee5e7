"""Hostile federation peers over raw sockets, against a private server
h.test.  The peer plays fake.test: it has a certificate for fake.test from
a test CA that h.test trusts (s2s_cafile), so it can STARTTLS and SASL
EXTERNAL like a real server.  `s2s_routes` points fake.test at a tiny
authoritative server in this file (TLS, EXTERNAL or db:verify answers),
used when h.test connects back (dialback verification) or sends to
fake.test.  Every case ends with the named error or a close, and a local
user of h.test still logs in and chats afterwards."""

import asyncio
import os
import re
import socket
import ssl
import subprocess
import threading
import time

import pytest

from conftest import GEN_CERT, Clients, Instance, Users, free_ports
from xmpp_util import exchange_message

HANDSHAKE = 2           # s2s_handshake_timeout of the server under test
CLOSE_WITHIN = 6.0      # seconds: a hostile stream must be closed by then
NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"
NS_SASL = "urn:ietf:params:xml:ns:xmpp-sasl"


def header(frm, to, ident=None):
    return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            "xmlns:db='jabber:server:dialback' from='%s' to='%s'%s "
            "version='1.0'>" % (frm, to, " id='%s'" % ident if ident
                                else "")).encode()


class Wire:
    """A socket (plain or TLS) with a text buffer and bounded waits."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = ""
        self.closed = False

    def send(self, data):
        self.sock.sendall(data if isinstance(data, bytes) else data.encode())

    def expect(self, pattern, timeout=CLOSE_WITHIN):
        """Read until pattern matches the text received so far; return the
        match and consume the buffer up to its end."""
        deadline = time.monotonic() + timeout
        rx = re.compile(pattern, re.S)
        while True:
            m = rx.search(self.buf)
            if m:
                self.buf = self.buf[m.end():]
                return m
            left = deadline - time.monotonic()
            if left <= 0 or self.closed:
                raise AssertionError("no %r within %.1f s; got %r" % (
                    pattern, timeout, self.buf[-500:]))
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
            self.buf += data.decode("utf-8", "replace")

    def wait_closed(self, timeout=CLOSE_WITHIN):
        deadline = time.monotonic() + timeout
        while not self.closed and time.monotonic() < deadline:
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                continue
            except (ConnectionResetError, ssl.SSLError, OSError):
                data = b""
            if not data:
                self.closed = True
            self.buf += data.decode("utf-8", "replace")
        assert self.closed, "stream not closed: %r" % self.buf[-300:]

    def stream_error(self, cond):
        self.expect(r"<stream:error>\s*<%s[\s/>]" % cond)
        self.wait_closed()

    def starttls(self, ctx, server_side=False):
        self.sock = ctx.wrap_socket(self.sock, server_side=server_side,
                                    do_handshake_on_connect=True)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class FakeAuthority(threading.Thread):
    """fake.test's server as h.test sees it when it connects back: TLS,
    then EXTERNAL (accepted) or db:verify (answered `verify_answer`).
    After EXTERNAL, with never_read set, it stops reading."""

    def __init__(self, ctx):
        super().__init__(daemon=True)
        self.ctx = ctx
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        # A small receive window: a peer that never reads fills up fast.
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.verify_answer = "invalid"
        self.verifies = []
        self.never_read = False
        self.authenticated = threading.Event()
        self.stop = threading.Event()
        self.conns = []

    def run(self):
        self.lsock.settimeout(0.2)
        while not self.stop.is_set():
            try:
                s, _ = self.lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            w = Wire(s)
            self.conns.append(w)
            threading.Thread(target=self.serve, args=(w,),
                             daemon=True).start()

    def serve(self, w):
        try:
            m = w.expect(r"<stream:stream[^>]*>", 10)
            local = re.search(r"from='([^']+)'", m.group(0)).group(1)
            w.send(header("fake.test", local, "fakeid1")
                   + b"<stream:features><starttls xmlns='%s'><required/>"
                   b"</starttls></stream:features>" % NS_TLS.encode())
            w.expect(r"<starttls[^>]*/>", 10)
            w.send("<proceed xmlns='%s'/>" % NS_TLS)
            w.starttls(self.ctx, server_side=True)
            w.expect(r"<stream:stream[^>]*>", 10)
            w.send(header("fake.test", local, "fakeid2")
                   + ("<stream:features><mechanisms xmlns='%s'><mechanism>"
                      "EXTERNAL</mechanism></mechanisms><dialback xmlns="
                      "'urn:xmpp:features:dialback'><errors/></dialback>"
                      "</stream:features>" % NS_SASL).encode())
            m = w.expect(r"<db:verify[^>]*>[^<]*</db:verify>|<auth[^>]*>"
                         r"[^<]*</auth>", 10)
            el = m.group(0)
            if el.startswith("<db:verify"):
                ident = re.search(r"id='([^']+)'", el).group(1)
                key = re.search(r">([^<]*)<", el).group(1)
                self.verifies.append(key)
                w.send("<db:verify from='fake.test' to='%s' id='%s' "
                       "type='%s'/>" % (local, ident, self.verify_answer))
                w.wait_closed(10)
                return
            w.send("<success xmlns='%s'/>" % NS_SASL)
            w.expect(r"<stream:stream[^>]*>", 10)
            w.send(header("fake.test", local, "fakeid3")
                   + b"<stream:features/>")
            self.authenticated.set()
            if self.never_read:
                self.stop.wait(30)
                return
            while not w.closed and not self.stop.is_set():
                try:
                    w.expect(r"$^never", 1)
                except AssertionError:
                    pass
        except (AssertionError, OSError, ssl.SSLError):
            pass
        finally:
            w.close()

    def shutdown(self):
        self.stop.set()
        self.lsock.close()
        for w in self.conns:
            w.close()


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """(server h.test, fake authority, client TLS context, server TLS
    context for the authority)."""
    d = str(tmp_path_factory.mktemp("fakeca"))
    subprocess.run([GEN_CERT, d, "fake.test"], check=True,
                   capture_output=True)
    fake_pem = os.path.join(d, "fake.test.pem")
    sctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    sctx.load_cert_chain(fake_pem)
    cctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    cctx.check_hostname = False
    cctx.verify_mode = ssl.CERT_NONE
    cctx.load_cert_chain(fake_pem)
    auth = FakeAuthority(sctx)
    auth.start()
    (s2s_port,) = free_ports(1)
    extra = ("s2s_routes: {fake.test: \"127.0.0.1:%d\", other.test: "
             "\"127.0.0.1:%d\"}\n"
             "s2s_cafile: %s\n"
             "s2s_handshake_timeout: %d\n"
             "s2s_out_soft_limit: 65536\n"
             "s2s_out_hard_limit: 262144\n"
             "s2s_out_soft_seconds: 1\n"
             % (auth.port, auth.port, os.path.join(d, "ca.pem"), HANDSHAKE))
    inst = Instance(extra, domain="h.test", s2s_port=s2s_port)
    try:
        srv = inst.start()
        srv.s2s_port = s2s_port
        yield srv, auth, cctx
    finally:
        auth.shutdown()
        inst.destroy()
    if inst.sanitizer_report:
        pytest.fail("xmppd's log has a sanitizer report:\n%s"
                    % inst.sanitizer_report, pytrace=False)


def peer_open(srv, cctx, tls=True, external=True):
    """A raw stream from fake.test to h.test: through STARTTLS and SASL
    EXTERNAL unless told to stop earlier."""
    w = Wire(socket.create_connection((srv.host, srv.s2s_port), timeout=5))
    w.send(header("fake.test", "h.test"))
    w.expect(r"</stream:features>")
    if not tls:
        return w
    w.send("<starttls xmlns='%s'/>" % NS_TLS)
    w.expect(r"<proceed[^>]*/>")
    w.starttls(cctx)
    w.send(header("fake.test", "h.test"))
    feats = w.expect(r"<stream:features>.*?</stream:features>").group(0)
    if not external:
        return w
    assert "EXTERNAL" in feats, feats
    w.send("<auth xmlns='%s' mechanism='EXTERNAL'>=</auth>" % NS_SASL)
    w.expect(r"<success[^>]*/>")
    w.send(header("fake.test", "h.test"))
    w.expect(r"</stream:features>|<stream:features/>")
    return w


async def local_ok(srv, loop):
    """Two local users of srv log in and chat both ways."""
    users, clients = Users(srv), Clients(srv, loop)
    try:
        a = await clients.login(users.new("ok"))
        b = await clients.login(users.new("ok"))
        await exchange_message(a, b)
        await exchange_message(b, a)
    finally:
        await clients.close_all()
        users.cleanup()


def _log(srv):
    with open(srv.log, errors="replace") as f:
        return f.read()


async def test_forged_from_invalid_from(hostile, event_loop):
    srv, _, cctx = hostile
    users, clients = Users(srv), Clients(srv, event_loop)
    try:
        victim = await clients.login(users.new("v"), priority=1)
        w = peer_open(srv, cctx)
        w.send("<message from='boss@other.test' to='%s' type='chat'>"
               "<body>forged</body></message>" % victim.boundjid.bare)
        w.stream_error("invalid-from")
        w.close()
        await asyncio.sleep(0.3)
        assert victim.inbox.empty()
    finally:
        await clients.close_all()
        users.cleanup()
    await local_ok(srv, event_loop)


async def test_dialback_wrong_key_invalid(hostile, event_loop):
    """fake.test's authoritative server says the key is not its own:
    db:result type='invalid', then the stream closes."""
    srv, auth, cctx = hostile
    auth.verify_answer = "invalid"
    w = peer_open(srv, cctx, external=False)
    w.send("<db:result from='fake.test' to='h.test'>0123456789abcdef"
           "</db:result>")
    w.expect(r"<db:result[^>]*type='invalid'")
    w.wait_closed()
    w.close()
    assert "0123456789abcdef" in auth.verifies
    await local_ok(srv, event_loop)


async def test_stanza_before_auth_not_authorized(hostile, event_loop):
    srv, _, cctx = hostile
    w = peer_open(srv, cctx, external=False)
    w.send("<message from='x@fake.test' to='y@h.test'><body>early</body>"
           "</message>")
    w.stream_error("not-authorized")
    w.close()
    await local_ok(srv, event_loop)


async def test_stanza_before_tls_policy_violation(hostile, event_loop):
    srv, _, cctx = hostile
    w = peer_open(srv, cctx, tls=False)
    w.send("<message from='x@fake.test' to='y@h.test'><body>clear</body>"
           "</message>")
    w.stream_error("policy-violation")
    w.close()
    await local_ok(srv, event_loop)


async def test_tls_stall_closed_after_handshake_timeout(hostile, event_loop):
    srv, _, _ = hostile
    t0 = time.monotonic()
    w = peer_open(srv, None, tls=False)
    w.send("<starttls xmlns='%s'/>" % NS_TLS)
    w.expect(r"<proceed[^>]*/>")
    # ... and never a ClientHello.
    w.wait_closed(HANDSHAKE + 4)
    w.close()
    took = time.monotonic() - t0
    assert HANDSHAKE - 0.5 <= took <= HANDSHAKE + 4, took
    await local_ok(srv, event_loop)


async def test_big_stanza_policy_violation(hostile, event_loop):
    """After authentication the s2s listener's max_stanza_size (262144 by
    default) applies: a bigger stanza ends the stream."""
    srv, _, cctx = hostile
    w = peer_open(srv, cctx)
    w.send("<message from='x@fake.test' to='y@h.test'><body>")
    chunk = "A" * 16384
    try:
        for _ in range(20):
            w.send(chunk)
    except OSError:
        pass                    # closed while we were still writing
    w.stream_error("policy-violation")
    w.close()
    await local_ok(srv, event_loop)


async def test_peer_that_never_reads_is_closed(hostile, event_loop):
    """h.test sends to fake.test, whose server authenticates the stream
    and then never reads: the output limits close it (policy-violation),
    and the local sender is not stuck."""
    srv, auth, _ = hostile
    auth.never_read = True
    users, clients = Users(srv), Clients(srv, event_loop)
    try:
        x = await clients.login(users.new("flood"), priority=1)
        body = "B" * 8000
        for i in range(120):
            x.send_message(mto="sink@fake.test", mbody="%d %s" % (i, body),
                           mtype="chat")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if "slow reader" in _log(srv):
                break
            await asyncio.sleep(0.1)
        assert auth.authenticated.is_set()
        assert re.search(r"closing with stream error policy-violation: "
                         r"slow reader remote=fake\.test", _log(srv))
        rows = [r for r in srv.api("s2s_connections")
                if r["remote"] == "fake.test" and r["direction"] == "out"
                and r["auth"] != "none"]
        assert rows == [], rows
    finally:
        auth.never_read = False
        await clients.close_all()
        users.cleanup()
    await local_ok(srv, event_loop)
