"""A man in the middle for server-to-server streams, for the trust flag
tests (issue 6, test_trust_flags.py).

a.test's `s2s_routes` send b.test's traffic to the relay's port.  The relay
plays b.test toward a.test up to TLS (stream header, <stream:features>
with required STARTTLS, <proceed/>, then server-side TLS with a b.test
certificate from deploy/gen-cert.sh that a.test cannot verify: dialback
mode), and opens its own stream to the real b.test (header, STARTTLS,
client-side TLS).  From then on it forwards everything both ways, byte
for byte: a.test's restarted stream header reaches b.test, b.test's answer
(features, dialback results, stanzas) reaches a.test.  Dialback still
authenticates a.test, because b.test verifies the key by connecting to
a.test's real port, not through the relay.

The decrypted streams are cut into top-level elements by a small
tag-depth tokenizer (StanzaSplitter).  Everything that is not a complete
top-level element (headers, whitespace, the closing tag) is forwarded as
it came; each complete stanza is forwarded verbatim too, except that on
the a -> b direction a test's `edit` function may replace it by other
text, drop it, hold it for later, or send it twice.  Stanzas can also be
injected both ways, and every stanza is recorded per direction.

The relay runs its own asyncio loop in a thread, so that a test's
blocking calls (xmppctl, psql) never stall the streams.  The methods a
test calls are thread-safe.  Every wait is bounded.
"""

import asyncio
import re
import ssl
import threading
import time

NS_TLS = "urn:ietf:params:xml:ns:xmpp-tls"

HANDSHAKE_TIMEOUT = 10.0    # seconds for each step before TLS
WAIT_TIMEOUT = 10.0


class RelayError(Exception):
    pass


# --------------------------------------------------------------------------
# Cutting a stream into top-level elements


class StanzaSplitter:
    """Feed it the bytes of one direction of a stream; it returns a list
    of (kind, bytes): kind "raw" for bytes outside top-level elements
    (the XML declaration, stream headers, whitespace, the closing tag),
    "stanza" for one complete top-level element (a child of the stream
    element).  Concatenating every piece gives back the input exactly.

    Attribute values may contain '>' (quotes are tracked); comments,
    processing instructions and CDATA sections are skipped whole.  A new
    <stream:stream> (a restart) starts over at depth 1."""

    def __init__(self):
        self.buf = bytearray()
        self.depth = 0              # 1: inside the stream element
        self.start = None           # offset of the open top-level element
        self.scan = 0               # offset where scanning goes on

    @staticmethod
    def _tag_end(buf, i):
        """The offset just past the '>' of the tag starting at buf[i]
        ('<'), or -1 when it is not complete yet."""
        quote = None
        j = i + 1
        n = len(buf)
        while j < n:
            ch = buf[j]
            if quote is not None:
                if ch == quote:
                    quote = None
            elif ch in (0x22, 0x27):        # " '
                quote = ch
            elif ch == 0x3E:                # >
                return j + 1
            j += 1
        return -1

    def feed(self, data):
        buf = self.buf
        buf += data
        out = []
        pos = 0                 # first byte not yet handed out
        i = self.scan           # where scanning goes on
        while True:
            lt = buf.find(b"<", i)
            if lt < 0:
                i = len(buf)
                break
            skip = None
            for opener, closer in ((b"<!--", b"-->"),
                                   (b"<![CDATA[", b"]]>"), (b"<?", b"?>")):
                if buf.startswith(opener, lt):
                    skip = (opener, closer)
                    break
            if skip is not None:
                e = buf.find(skip[1], lt + len(skip[0]))
                if e < 0:
                    i = lt
                    break
                i = e + len(skip[1])
                continue
            end = self._tag_end(buf, lt)
            if end < 0:
                i = lt          # an incomplete tag: wait for more
                break
            tag = bytes(buf[lt:end])
            i = end
            if tag.startswith(b"</"):
                if self.depth <= 1:
                    self.depth = 0          # </stream:stream>
                    continue
                self.depth -= 1
                if self.depth == 1:
                    if self.start > pos:
                        out.append(("raw", bytes(buf[pos:self.start])))
                    out.append(("stanza", bytes(buf[self.start:end])))
                    pos = end
                    self.start = None
                continue
            m = re.match(rb"<([^\s/>]+)", tag)
            name = m.group(1) if m else b""
            selfclosing = tag.endswith(b"/>")
            if self.depth <= 1 and (name == b"stream" or
                                    name.endswith(b":stream")):
                self.depth = 1              # a header, or a restart
                continue
            if self.depth == 1:
                if selfclosing:
                    if lt > pos:
                        out.append(("raw", bytes(buf[pos:lt])))
                    out.append(("stanza", tag))
                    pos = end
                else:
                    self.start = lt
                    self.depth = 2
            elif self.depth >= 2 and not selfclosing:
                self.depth += 1
        # Outside an open element, what was scanned is complete: hand it
        # out as it came.
        limit = i if self.start is None else self.start
        if limit > pos:
            out.append(("raw", bytes(buf[pos:limit])))
            pos = limit
        del buf[:pos]
        if self.start is not None:
            self.start -= pos
        self.scan = i - pos
        return out


# --------------------------------------------------------------------------
# The relay


def is_presence(stanza, ptype=None):
    m = re.match(r"<presence(\s[^>]*)?/?>", stanza)
    if not m:
        return False
    if ptype is None:
        return True
    attrs = m.group(1) or ""
    return re.search(r"\stype=(['\"])%s\1" % re.escape(ptype), attrs) \
        is not None


class Conn:
    """One stream a.test opened to the relay, and its twin to b.test."""

    def __init__(self, relay, num):
        self.relay = relay
        self.num = num
        self.a_writer = None
        self.b_writer = None
        self.authenticated = False      # b.test said db:result valid
        self.closed = False
        self.stanzas_a2b = 0


class TrustRelay:
    """Start with TrustRelay(b_port, pem).start(); a.test's s2s_routes
    name relay.port for b.test.

    edit: None, or fn(stanza: str) -> list of str (sent in order instead
    of the stanza; [] drops or holds it) or None (forward unchanged).
    Runs in the relay's thread for every complete top-level element on
    the a -> b direction (after the TLS restart), dialback included; use
    is_presence() to pick.  hold(stanza) keeps one for release()."""

    def __init__(self, upstream_port, pem, upstream_host="127.0.0.1",
                 local_domain="b.test"):
        self.upstream = (upstream_host, upstream_port)
        self.local_domain = local_domain
        self.server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.server_ctx.load_cert_chain(pem)
        self.client_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        self.client_ctx.check_hostname = False
        self.client_ctx.verify_mode = ssl.CERT_NONE
        self.port = 0
        self.loop = None
        self.thread = None
        self.server = None
        self.edit = None
        self.lock = threading.Lock()
        self.a2b = []               # every stanza a -> b, as a.test sent it
        self.b2a = []               # every stanza b -> a
        self.forwarded_a2b = []     # what b.test got, after the edit
        self.held = []
        self.errors = []            # what went wrong, for assertion messages
        self.conns = []
        self._ready = threading.Event()

    # -- life ---------------------------------------------------------------

    def start(self):
        self.thread = threading.Thread(target=self._run, daemon=True,
                                       name="trust-relay")
        self.thread.start()
        if not self._ready.wait(10):
            raise RelayError("relay did not start: %r" % self.errors)
        if not self.port:
            raise RelayError("relay did not listen: %r" % self.errors)
        return self

    def _run(self):
        self.loop = asyncio.new_event_loop()
        asyncio.set_event_loop(self.loop)
        try:
            self.server = self.loop.run_until_complete(asyncio.start_server(
                self._serve, "127.0.0.1", 0))
            self.port = self.server.sockets[0].getsockname()[1]
        except Exception as e:     # noqa: BLE001
            self.errors.append("listen: %r" % e)
            self._ready.set()
            return
        self._ready.set()
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = [t for t in asyncio.all_tasks(self.loop)
                           if not t.done()]
                for t in pending:
                    t.cancel()
                if pending:
                    self.loop.run_until_complete(
                        asyncio.wait(pending, timeout=2.0))
            finally:
                self.loop.close()

    def stop(self):
        if self.loop is None or self.loop.is_closed():
            return

        async def shut():
            self.server.close()
            for c in list(self.conns):
                for w in (c.a_writer, c.b_writer):
                    if w is not None:
                        w.close()
            await asyncio.sleep(0)

        try:
            asyncio.run_coroutine_threadsafe(shut(), self.loop).result(5)
        except Exception:          # noqa: BLE001
            pass
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)

    # -- what a test calls --------------------------------------------------

    def hold(self, stanza):
        """For edit functions: keep stanza (str) for release()."""
        with self.lock:
            self.held.append(stanza)
        return []

    def release(self, stanzas=None):
        """Send the held stanzas (or the given ones) to b.test now, on the
        newest authenticated stream; returns how many."""
        with self.lock:
            if stanzas is None:
                stanzas, self.held = self.held, []
        for s in stanzas:
            self.inject_a2b(s)
        return len(stanzas)

    def inject_a2b(self, text):
        """Write text to b.test as if a.test had sent it (on the newest
        authenticated stream)."""
        self._inject(text, "b")

    def inject_b2a(self, text):
        """Write text to a.test as if b.test had sent it (on the newest
        authenticated stream: a.test accepts it there with XEP-0288)."""
        self._inject(text, "a")

    def _inject(self, text, side):
        data = text.encode() if isinstance(text, str) else text

        def go():
            conn = self._newest_conn()
            if conn is None:
                self.errors.append("inject: no authenticated stream")
                return False
            w = conn.b_writer if side == "b" else conn.a_writer
            w.write(data)
            if side == "b":
                with self.lock:
                    self.forwarded_a2b.append(data.decode("utf-8",
                                                          "replace"))
            return True

        fut = asyncio.run_coroutine_threadsafe(self._call(go), self.loop)
        if not fut.result(5):
            raise RelayError("no authenticated stream through the relay "
                             "to inject into: %r" % self.errors)

    async def _call(self, fn):
        return fn()

    def _newest_conn(self):
        for c in reversed(self.conns):
            if c.authenticated and not c.closed:
                return c
        return None

    def snapshot(self, direction="a2b"):
        with self.lock:
            return list(getattr(self, direction))

    async def wait_for(self, pred, direction="a2b", timeout=WAIT_TIMEOUT,
                       what="stanza", start=0):
        """(From the test's loop.)  The first stanza of that direction,
        from index start on, for which pred(stanza) holds."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.snapshot(direction)
            for s in got[start:]:
                if pred(s):
                    return s
            if time.monotonic() > deadline:
                raise AssertionError(
                    "relay: no %s on %s within %.0f s; errors %r; last "
                    "stanzas: %r" % (what, direction, timeout, self.errors,
                                     got[-5:]))
            await asyncio.sleep(0.05)

    async def wait_held(self, n=1, timeout=WAIT_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if len(self.held) >= n:
                    return list(self.held)
            if time.monotonic() > deadline:
                raise AssertionError("relay: %d stanza(s) held within %.0f "
                                     "s, wanted %d; errors %r"
                                     % (len(self.held), timeout, n,
                                        self.errors))
            await asyncio.sleep(0.05)

    # -- the streams ---------------------------------------------------------

    @staticmethod
    async def _read_until(reader, buf, pattern, what):
        rx = re.compile(pattern, re.S)
        deadline = time.monotonic() + HANDSHAKE_TIMEOUT
        while True:
            m = rx.search(buf)
            if m:
                return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise RelayError("no %s within %.0f s; got %r"
                                 % (what, HANDSHAKE_TIMEOUT, bytes(buf)))
            data = await asyncio.wait_for(reader.read(65536), left)
            if not data:
                raise RelayError("closed while waiting for %s; got %r"
                                 % (what, bytes(buf)))
            buf += data

    async def _serve(self, a_reader, a_writer):
        conn = Conn(self, len(self.conns))
        conn.a_writer = a_writer
        self.conns.append(conn)
        b_writer = None
        try:
            buf = bytearray()
            m = await self._read_until(a_reader, buf,
                                       rb"<(stream:)?stream\s[^>]*>",
                                       "stream header from a.test")
            head = m.group(0).decode()
            frm = re.search(r"\sfrom=(['\"])([^'\"]*)\1", head)
            to = re.search(r"\sto=(['\"])([^'\"]*)\1", head)
            frm = frm.group(2) if frm else ""
            to = to.group(2) if to else self.local_domain
            # Our own stream to the real b.test, up to TLS.
            b_reader, b_writer = await asyncio.wait_for(
                asyncio.open_connection(*self.upstream), HANDSHAKE_TIMEOUT)
            conn.b_writer = b_writer
            b_writer.write(header(frm, to))
            bbuf = bytearray()
            await self._read_until(b_reader, bbuf,
                                   rb"</stream:features>|<stream:features/>",
                                   "features from b.test")
            if b"starttls" not in bbuf:
                raise RelayError("b.test offers no STARTTLS: %r"
                                 % bytes(bbuf))
            b_writer.write(b"<starttls xmlns='%s'/>" % NS_TLS.encode())
            bbuf.clear()
            await self._read_until(b_reader, bbuf, rb"<proceed[^>]*/>",
                                   "<proceed/> from b.test")
            await asyncio.wait_for(b_writer.start_tls(self.client_ctx),
                                   HANDSHAKE_TIMEOUT)
            # a.test's side: we are b.test until TLS.
            a_writer.write(header(to, frm, "relay%d" % conn.num)
                           + ("<stream:features><starttls xmlns='%s'>"
                              "<required/></starttls></stream:features>"
                              % NS_TLS).encode())
            buf.clear()
            await self._read_until(a_reader, buf, rb"<starttls[^>]*/>",
                                   "<starttls/> from a.test")
            a_writer.write(b"<proceed xmlns='%s'/>" % NS_TLS.encode())
            await a_writer.drain()
            await asyncio.wait_for(a_writer.start_tls(self.server_ctx),
                                   HANDSHAKE_TIMEOUT)
            await asyncio.gather(self._pump(conn, a_reader, b_writer, True),
                                 self._pump(conn, b_reader, a_writer, False))
        except (RelayError, OSError, ssl.SSLError, asyncio.TimeoutError,
                asyncio.IncompleteReadError) as e:
            self.errors.append("conn %d: %r" % (conn.num, e))
        finally:
            conn.closed = True
            for w in (a_writer, b_writer):
                if w is not None:
                    try:
                        w.close()
                    except Exception:      # noqa: BLE001
                        pass

    async def _pump(self, conn, reader, writer, a2b):
        split = StanzaSplitter()
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                for kind, piece in split.feed(data):
                    if kind == "raw":
                        writer.write(piece)
                        continue
                    text = piece.decode("utf-8", "replace")
                    if a2b:
                        self._a2b(conn, writer, text, piece)
                    else:
                        with self.lock:
                            self.b2a.append(text)
                        if re.match(r"<db:result[^>]*\stype=(['\"])valid"
                                    r"\1", text):
                            conn.authenticated = True
                        writer.write(piece)
                await writer.drain()
        except (OSError, ssl.SSLError) as e:
            self.errors.append("pump %s %d: %r"
                               % ("a2b" if a2b else "b2a", conn.num, e))
        finally:
            # One side went: end the other one too.
            try:
                writer.close()
            except Exception:      # noqa: BLE001
                pass

    def _a2b(self, conn, writer, text, raw):
        with self.lock:
            self.a2b.append(text)
        conn.stanzas_a2b += 1
        out = None
        edit = self.edit
        if edit is not None:
            try:
                out = edit(text)
            except Exception as e:     # noqa: BLE001
                self.errors.append("edit: %r" % e)
                out = None
        if out is None:
            out = [text]
            writer.write(raw)
            with self.lock:
                self.forwarded_a2b.append(text)
            return
        for s in out:
            writer.write(s.encode() if isinstance(s, str) else s)
            with self.lock:
                self.forwarded_a2b.append(s if isinstance(s, str)
                                          else s.decode())


def header(frm, to, ident=None):
    return ("<?xml version='1.0'?><stream:stream xmlns='jabber:server' "
            "xmlns:stream='http://etherx.jabber.org/streams' "
            "xmlns:db='jabber:server:dialback' from='%s' to='%s'%s "
            "version='1.0'>" % (frm, to, " id='%s'" % ident if ident
                                else "")).encode()
