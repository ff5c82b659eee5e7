"""Helpers for the integration suite: slixmpp clients that never hang,
raw TCP exchanges for hostile input, and small wait utilities.

Every wait has a timeout.  Nothing here resolves names: slixmpp is given
the address directly and its DNS lookup is replaced (TESTLAB.md).
"""

import asyncio
import logging
import re
import socket
import time
import uuid

import slixmpp
from slixmpp.exceptions import IqError, IqTimeout

log = logging.getLogger("xmpp_util")

TIMEOUT = 10.0          # seconds: the longest any single wait may take

STREAM_NS = "http://etherx.jabber.org/streams"
STREAM_HEADER = (
    "<?xml version='1.0'?>"
    "<stream:stream to='{domain}' xmlns='jabber:client'"
    " xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
)


def unique(prefix="u"):
    """A fresh local part, unique across runs and tests."""
    return "%s%s" % (prefix, uuid.uuid4().hex[:12])


# --------------------------------------------------------------------------
# Raw sockets


class RawResult:
    """What came back on a raw TCP connection."""

    def __init__(self, data, closed, elapsed):
        self.data = data            # bytes received
        self.closed = closed        # the server closed (EOF or reset)
        self.elapsed = elapsed      # seconds until close or timeout

    @property
    def text(self):
        return self.data.decode("utf-8", "replace")

    def has_stream_error(self, condition):
        """True if a <stream:error> with this condition came back."""
        t = self.text
        m = re.search(r"<(\w+:)?error[\s>].*", t, re.S)
        if not m:
            return False
        return re.search(r"<%s[\s/>]" % re.escape(condition), m.group(0)) \
            is not None

    def __repr__(self):
        return "RawResult(closed=%r, elapsed=%.2f, data=%r)" % (
            self.closed, self.elapsed, self.data[:2000])


def raw_exchange(host, port, payload, timeout=5.0, until=None):
    """Connect over plain TCP, send payload (bytes, or a list of bytes sent
    one after another), read until the server closes, timeout passes, or
    (if until is given) one of the byte strings in until has arrived.
    Returns a RawResult.  Sending errors (the server closed early) are not
    errors here: what matters is what the server said."""
    if isinstance(until, bytes):
        until = [until]
    if isinstance(payload, (bytes, bytearray)):
        payload = [bytes(payload)]
    start = time.monotonic()
    s = socket.create_connection((host, port), timeout=TIMEOUT)
    data = bytearray()
    closed = False
    try:
        for part in payload:
            try:
                s.sendall(part)
            except (BrokenPipeError, ConnectionResetError):
                break
        deadline = start + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                got = s.recv(65536)
            except socket.timeout:
                break
            except ConnectionResetError:
                closed = True
                break
            if not got:
                closed = True
                break
            data += got
            if until and any(u in data for u in until):
                break
    finally:
        s.close()
    return RawResult(bytes(data), closed, time.monotonic() - start)


def stream_header(domain):
    return STREAM_HEADER.format(domain=domain).encode()


# --------------------------------------------------------------------------
# slixmpp clients


CLIENT_SOFTWARE = "xmppd-tests"
CLIENT_PLUGIN_CONFIG = {
    "xep_0092": {"software_name": CLIENT_SOFTWARE, "version": "1.0"},
}


class LoginFailed(AssertionError):
    pass


def make_client(jid, password, host, port, cafile, mech=None,
                plugins=("xep_0030", "xep_0092", "xep_0199")):
    """A slixmpp ClientXMPP that talks to host:port, verifies the server's
    certificate against cafile for the JID's domain, and never asks DNS.
    Call from inside the running event loop (slixmpp binds to it)."""
    c = slixmpp.ClientXMPP(jid, password, sasl_mech=mech)
    domain = c.boundjid.host

    async def no_dns(_domain, _port=None):
        return [(domain, host, port)]

    c.get_dns_records = no_dns
    c.use_aiodns = False
    c.use_ipv6 = False
    c.default_domain = domain
    c.ca_certs = cafile
    c.whitespace_keepalive = False
    # Ping and version are answered by the client too, so an IQ routed to
    # it gets a result that proves it reached this very client.
    for p in plugins:
        c.register_plugin(p, CLIENT_PLUGIN_CONFIG.get(p))

    # Queue everything from the start so no event is lost between actions
    # and the waits that follow them.
    c.inbox = asyncio.Queue()          # non-error messages
    c.errors = asyncio.Queue()         # message errors
    c.presences = asyncio.Queue()
    c.stream_errors = []               # conditions, in order
    c.auth_failures = []               # SASL failure conditions
    c.auth_failure_times = []          # monotonic time of each failure
    c.last_sent = 0.0                  # monotonic time of the last stanza out
    c.last_sent_before_failure = 0.0   # last_sent when SASL first failed
    c.closed = asyncio.Event()
    c.session_started = asyncio.Event()

    def on_message(msg):
        if msg["type"] != "error":
            c.inbox.put_nowait(msg)

    def on_failed_auth(stanza):
        c.auth_failure_times.append(time.monotonic())
        if not c.auth_failures:
            c.last_sent_before_failure = c.last_sent
        c.auth_failures.append(stanza["condition"])

    def on_out(stanza):
        c.last_sent = time.monotonic()
        return stanza

    c.add_event_handler("message", on_message)
    c.add_event_handler("message_error", c.errors.put_nowait)
    c.add_event_handler("presence", c.presences.put_nowait)
    c.add_event_handler(
        "stream_error", lambda e: c.stream_errors.append(e["condition"]))
    c.add_event_handler("failed_auth", on_failed_auth)
    c.add_event_handler("failed_all_auth", lambda _e: c.closed.set())
    c.add_event_handler("disconnected", lambda _e: c.closed.set())
    c.add_event_handler("connection_failed", lambda _e: c.closed.set())
    c.add_event_handler("session_start", lambda _e: c.session_started.set())
    c.add_filter("out", on_out)
    return c


async def first_of(*events, timeout=TIMEOUT):
    """Wait until one of the asyncio.Events is set; returns it or None."""
    waiters = [asyncio.ensure_future(e.wait()) for e in events]
    try:
        done, _ = await asyncio.wait(
            waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
    for e in events:
        if e.is_set():
            return e
    return None


async def connect_and_wait(c, host, port, timeout=TIMEOUT):
    """Connect and wait for session_start.  Raises LoginFailed (with the
    reason) on an auth failure, a closed stream or a timeout."""
    c.connect((host, port))
    got = await first_of(c.session_started, c.closed, timeout=timeout)
    if got is c.session_started:
        return c
    c.cancel_connection_attempt()
    if got is None:
        await hard_close(c)
        raise LoginFailed("%s: no session_start within %.0f s"
                          % (c.boundjid, timeout))
    offered = sorted(getattr(c["feature_mechanisms"], "mech_list", ()))
    raise LoginFailed("%s: login failed (auth failures %r, stream errors %r, "
                      "mechanisms offered %r, wanted %r)"
                      % (c.boundjid, c.auth_failures, c.stream_errors,
                         offered, c["feature_mechanisms"].use_mechs))


async def hard_close(c, wait=2.0):
    """Close the stream politely and wait (bounded) until it is closed."""
    c.cancel_connection_attempt()
    if c.transport is None:
        c.closed.set()
        return
    try:
        await asyncio.wait_for(c.disconnect(wait=wait), wait + 1.0)
    except (asyncio.TimeoutError, Exception) as e:   # noqa: BLE001
        log.debug("disconnect of %s: %r", c.boundjid, e)
    if c.transport is not None:
        c.abort()
    c.closed.set()


async def next_item(queue, timeout=TIMEOUT, what="stanza"):
    """The next item of an asyncio.Queue, or AssertionError on timeout."""
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError("no %s within %.1f s" % (what, timeout)) \
            from None


async def expect_nothing(queue, wait=0.5, what="stanza"):
    """Assert no item arrives on queue within wait seconds."""
    try:
        item = await asyncio.wait_for(queue.get(), wait)
    except asyncio.TimeoutError:
        return
    raise AssertionError("unexpected %s: %s" % (what, item))


async def barrier(c, timeout=TIMEOUT):
    """Round-trip a ping to the server: everything c sent before has been
    processed by the server once this returns (streams are ordered)."""
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = c.boundjid.host
    iq.enable("ping")
    await iq.send(timeout=timeout)


async def send_iq_expect_error(iq, timeout=TIMEOUT):
    """Send an IQ that must fail; return its error condition."""
    try:
        res = await iq.send(timeout=timeout)
    except IqError as e:
        return e.iq["error"]["condition"]
    except IqTimeout:
        raise AssertionError("no answer to IQ %s" % iq["id"]) from None
    raise AssertionError("expected an IQ error, got a result: %s" % res)


async def exchange_message(a, b, timeout=TIMEOUT):
    """a sends b (full JID) a message with a unique body; b must get it
    from a's full JID.  Returns the received stanza."""
    body = "hello " + uuid.uuid4().hex
    a.send_message(mto=b.boundjid.full, mbody=body, mtype="chat")
    while True:
        msg = await next_item(b.inbox, timeout, "message to %s" % b.boundjid)
        if msg["body"] == body:
            assert msg["from"].full == a.boundjid.full, msg
            return msg


def psql_rows(srv, sql):
    """Rows of sql run on the private PostgreSQL of a server started by the
    suite (srv.instance), each a list of column strings."""
    import subprocess
    assert getattr(srv, "instance", None) is not None, \
        "needs a server with its own database (not XMPPD_TEST_EXTERNAL)"
    r = subprocess.run(
        ["psql", "-h", srv.instance.pgdir, "-U", "xmppd", "-d", "xmppd",
         "-v", "ON_ERROR_STOP=1", "-AtX", "-F", "\t", "-c", sql],
        capture_output=True, text=True, timeout=20)
    assert r.returncode == 0, r.stderr
    return [line.split("\t") for line in r.stdout.splitlines() if line]


async def wait_for_rows(srv, sql, timeout=TIMEOUT):
    """Poll sql until it returns a row (the server commits asynchronously);
    AssertionError after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        rows = psql_rows(srv, sql)
        if rows:
            return rows
        if time.monotonic() > deadline:
            raise AssertionError("no row within %.1f s for: %s"
                                 % (timeout, sql))
        await asyncio.sleep(0.05)
