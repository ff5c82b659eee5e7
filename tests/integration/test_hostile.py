"""Hostile input on the c2s port, over raw TCP before TLS.  Each case must
end the offending stream with the right stream error (RFC 6120 4.9.3),
and afterwards a normal client still logs in and exchanges messages."""

import errno
import re
import resource
import selectors
import socket
import time

import pytest

from xmpp_util import raw_exchange, stream_header

CLOSE_WITHIN = 5.0      # seconds: a hostile stream must be closed by then


def assert_stream_error(r, condition):
    assert r.has_stream_error(condition), \
        "no <%s/> stream error: %r" % (condition, r)
    assert r.closed, "stream not closed after <%s/>: %r" % (condition, r)
    # The error is sent inside a stream: a header came first.
    assert re.search(r"<(stream:)?stream[\s>]", r.text), r


BILLION_LAUGHS = (
    b"<?xml version='1.0'?>\n"
    b"<!DOCTYPE lolz [\n"
    b" <!ENTITY lol 'lol'>\n"
    + b"".join(
        b" <!ENTITY lol%d '%s'>\n" % (i, (b"&lol%s;" % (
            b"" if i == 1 else b"%d" % (i - 1))) * 10)
        for i in range(1, 10))
    + b"]>\n"
    b"<stream:stream to='localhost' xmlns='jabber:client'"
    b" xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    b"<message to='x@localhost'><body>&lol9;</body></message>"
)

XXE = (
    b"<?xml version='1.0'?>"
    b"<!DOCTYPE stream [<!ENTITY xxe SYSTEM 'file:///etc/passwd'>]>"
    b"<stream:stream to='localhost' xmlns='jabber:client'"
    b" xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"
    b"<message to='x@localhost'><body>&xxe;</body></message>"
)


@pytest.mark.parametrize("payload", [BILLION_LAUGHS, XXE],
                         ids=["billion-laughs", "external-entity"])
async def test_doctype_restricted_xml(server, service_check, payload):
    payload = payload.replace(b"'localhost'", b"'%s'" % server.domain.encode())
    r = raw_exchange(server.host, server.c2s_port, payload,
                     timeout=CLOSE_WITHIN)
    assert_stream_error(r, "restricted-xml")
    assert "lollol" not in r.text and "root:" not in r.text, r
    await service_check()


@pytest.mark.parametrize("chunk", [0, 1024], ids=["one-write", "1k-writes"])
async def test_oversized_stanza_policy_violation(server, service_check,
                                                 chunk):
    size = max(20000, server.max_stanza_size_preauth + 4096)
    # Never closed: only the size limit can end this stanza.
    big = (b"<message to='x@%s'><body>" % server.domain.encode()
           + b"A" * size)
    parts = [stream_header(server.domain)]
    if chunk:
        parts += [big[i:i + chunk] for i in range(0, len(big), chunk)]
    else:
        parts.append(big)
    r = raw_exchange(server.host, server.c2s_port, parts,
                     timeout=CLOSE_WITHIN)
    assert_stream_error(r, "policy-violation")
    await service_check()


async def test_unbalanced_xml_not_well_formed(server, service_check):
    r = raw_exchange(server.host, server.c2s_port,
                     stream_header(server.domain) + b"<a></b>",
                     timeout=CLOSE_WITHIN)
    assert_stream_error(r, "not-well-formed")
    await service_check()


async def test_invalid_utf8_unsupported_encoding(server, service_check):
    payload = (stream_header(server.domain)
               + b"<message to='x@" + server.domain.encode()
               + b"'><body>\xff\xfe\xc0\xaf bad</body></message>")
    r = raw_exchange(server.host, server.c2s_port, payload,
                     timeout=CLOSE_WITHIN)
    assert_stream_error(r, "unsupported-encoding")
    await service_check()


async def test_http_request_on_c2s_port(server, service_check):
    """RFC 6120 4.9.1.1: the server answers with a stream header, then
    <not-well-formed/>, then closes."""
    r = raw_exchange(server.host, server.c2s_port,
                     b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
                     timeout=CLOSE_WITHIN)
    assert_stream_error(r, "not-well-formed")
    assert "HTTP/1." not in r.text, r
    await service_check()


# --------------------------------------------------------------------------
# 1,000 connections that never finish the handshake


HALF_OPEN = 1000


def open_many(host, port, n, deadline):
    """n non-blocking TCP connections; returns the connected sockets."""
    sel = selectors.DefaultSelector()
    pending = {}
    done = []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            rc = s.connect_ex((host, port))
            if rc == 0:
                done.append(s)
            elif rc in (errno.EINPROGRESS, errno.EAGAIN):
                sel.register(s, selectors.EVENT_WRITE)
                pending[s.fileno()] = s
            else:
                s.close()
                raise AssertionError("connect: %s" % errno.errorcode[rc])
        while pending:
            left = deadline - time.monotonic()
            assert left > 0, "%d connections not established in time" % (
                len(pending))
            for key, _ in sel.select(left):
                s = key.fileobj
                sel.unregister(s)
                del pending[s.fileno()]
                err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    s.close()
                    raise AssertionError("connect: %s" % errno.errorcode[err])
                done.append(s)
    except BaseException:
        for s in list(pending.values()) + done:
            s.close()
        raise
    finally:
        sel.close()
    return done


def drain_until_closed(socks, deadline):
    """Read from every socket until the server closes it or the deadline
    passes.  Returns ({sock: bytes}, set of closed socks)."""
    sel = selectors.DefaultSelector()
    got = {s: bytearray() for s in socks}
    closed = set()
    for s in socks:
        sel.register(s, selectors.EVENT_READ)
    try:
        while len(closed) < len(socks):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            for key, _ in sel.select(min(left, 1.0)):
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    data = b""
                except BlockingIOError:
                    continue
                if data:
                    got[s] += data
                else:
                    closed.add(s)
                    sel.unregister(s)
    finally:
        sel.close()
    return got, closed


async def test_half_open_connections(server, service_check):
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < HALF_OPEN + 200:
        pytest.fail("RLIMIT_NOFILE %d is too low for %d connections: raise "
                    "the hard limit (ulimit -Hn)" % (soft, HALF_OPEN),
                    pytrace=False)
    start = time.monotonic()
    socks = open_many(server.host, server.c2s_port, HALF_OPEN, start + 15.0)
    try:
        # Half of them open a stream and stop there; the others never
        # send a byte.
        with_header = socks[::2]
        header = stream_header(server.domain)
        for s in with_header:
            s.setblocking(True)
            s.sendall(header)
            s.setblocking(False)
        opened = time.monotonic()

        # While they hang there, a real client logs in and chats.
        await service_check()

        deadline = opened + server.handshake_timeout + 10.0
        got, closed = drain_until_closed(socks, deadline)
        still_open = len(socks) - len(closed)
        assert still_open == 0, (
            "%d of %d half-open connections still open %.0f s after "
            "c2s_handshake_timeout (%d s)" % (
                still_open, len(socks), 10.0, server.handshake_timeout))
        missing = [s for s in with_header
                   if b"connection-timeout" not in got[s]]
        assert not missing, (
            "%d streams closed without <connection-timeout/>; one got %r"
            % (len(missing), bytes(got[missing[0]])[:500]))
        for s in socks[1::2]:
            data = bytes(got[s])
            assert not data or b"connection-timeout" in data, data[:500]
    finally:
        for s in socks:
            s.close()

    # And the server is still fine afterwards.
    await service_check()
