"""Helpers for the signed trust flag tests (issue 6, test_trust_flags.py):
two private xmppd domains a.test and b.test federating in dialback mode
with a man-in-the-middle relay between them (trust_relay.py), the
operator's view of the subscription gate (audit, audit_tail, gate_stats,
trust_key_rotate, reputation pins), /metrics, and edits of the flag on the
wire.

Every wait is bounded."""

import asyncio
import base64
import hashlib
import json
import os
import re
import subprocess
import tempfile
import shutil
import time
import xml.etree.ElementTree as ET

from conftest import GEN_CERT, Instance, free_ports
from rep_util import ctl_json, show
from trust_relay import TrustRelay

NS_TRUST = "urn:xmppd:trust:0"
NS_RAA = "urn:xmpp:raa:0"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
FEATURE_RAA_EMBED = "urn:xmpp:raa:0#embed-presence-sub"

A, B = "a.test", "b.test"
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
WAIT = 8.0                  # seconds for anything the servers must do
QUIET = 1.5                 # seconds during which nothing may arrive

# The defaults the tests rely on (reputation/policy.h, trust-flags.md).
MIN_FLAG_TRUST = 20


def trust_of(score):
    """The trust a.test writes in its flags for a local score
    (docs/trust-flags.md 4.1: (score + 100) / 2)."""
    return (score + 100) // 2


def s2s_yaml(peer, port, cafile):
    return ("s2s_routes: {%s: \"127.0.0.1:%d\"}\n"
            "s2s_cafile: %s\n"
            "s2s_dialback: true\n"
            "s2s_handshake_timeout: 5\n" % (peer, port, cafile))


def rep_yaml(**opts):
    """`modules: mod_reputation: {...}` from keyword options (values are
    YAML text)."""
    if not opts:
        return ""
    body = "".join("    %s: %s\n" % (k, v) for k, v in opts.items())
    return "modules:\n  mod_reputation:\n" + body


class Federation:
    """a.test and b.test, dialback mode (both trust an unrelated CA), with
    a.test's route to b.test through a TrustRelay (relay=True) or direct.
    b.test's route to a.test is always direct (dialback verification and
    b's own streams).  destroy() stops everything."""

    def __init__(self, a_rep=None, b_rep=None, a_args=(), b_args=(),
                 relay=True):
        self.dir = tempfile.mkdtemp(prefix="xmppd-trust-")
        self.insts = []
        self.relay = None
        self.a = self.b = None
        pa, pb = free_ports(2)
        other = os.path.join(self.dir, "other")
        subprocess.run([GEN_CERT, other, "unrelated.test"], check=True,
                       capture_output=True, timeout=60)
        cafile = os.path.join(other, "ca.pem")
        try:
            b_inst = Instance(s2s_yaml(A, pa, cafile) + rep_yaml(**(b_rep or
                                                                    {})),
                              domain=B, s2s_port=pb, args=b_args)
            self.insts.append(b_inst)
            self.b = b_inst.start()
            self.b.s2s_port = pb
            b_to = pb
            if relay:
                relay_dir = os.path.join(self.dir, "relay")
                subprocess.run([GEN_CERT, relay_dir, B], check=True,
                               capture_output=True, timeout=60)
                self.relay = TrustRelay(pb, os.path.join(relay_dir,
                                                         B + ".pem"))
                self.relay.start()
                b_to = self.relay.port
            a_inst = Instance(s2s_yaml(B, b_to, cafile) + rep_yaml(**(a_rep or
                                                                    {})),
                              domain=A, s2s_port=pa, args=a_args)
            self.insts.append(a_inst)
            self.a = a_inst.start()
            self.a.s2s_port = pa
        except BaseException:
            self.destroy()
            raise

    def destroy(self):
        reports = []
        if self.relay is not None:
            self.relay.stop()
            self.relay = None
        for inst in self.insts:
            inst.destroy()
            if inst.sanitizer_report:
                reports.append(inst.sanitizer_report)
        self.insts = []
        if os.environ.get("XMPPD_TEST_KEEP"):
            print("\ntrust federation dir kept: %s" % self.dir)
        else:
            shutil.rmtree(self.dir, ignore_errors=True)
        return reports

    def logs(self):
        out = []
        for srv in (self.a, self.b):
            if srv is not None:
                out.append("---- %s (%s)\n%s" % (srv.domain, srv.log,
                                                 srv.log_tail(40)))
        if self.relay is not None:
            out.append("---- relay errors: %r" % self.relay.errors)
        return "\n".join(out)


# --------------------------------------------------------------------------
# The operator's view


def wait_pin(srv, jid, score, timeout=WAIT):
    """reputation_set JID SCORE, retried while the engine has not learnt
    of a just registered account yet; returns `reputation JID`."""
    deadline = time.monotonic() + timeout
    while True:
        r = srv.ctl("--json", "reputation_set", jid, str(score), "--reason",
                    "trust flag test")
        if r.returncode == 0:
            break
        if time.monotonic() > deadline:
            raise AssertionError("reputation_set %s %s: exit %d\n%s%s"
                                 % (jid, score, r.returncode, r.stdout,
                                    r.stderr))
        time.sleep(0.1)
    got = ctl_json(srv, "reputation", jid)
    assert got["score"] == score and got["pinned"] is True, got
    return got


def _rows(res):
    """A verb's rows: a list, or the list inside an object."""
    if isinstance(res, list):
        return res
    if isinstance(res, dict):
        for k in ("rows", "entries", "items", "audit"):
            if isinstance(res.get(k), list):
                return res[k]
    raise AssertionError("expected rows, got %r" % (res,))


AUDIT_FIELDS = ("at", "kind", "subject", "recipient", "decision", "reason",
                "score", "domain_score", "flag", "explanation")


def audit(srv, jid, n=50):
    """`xmppctl --json audit JID --n N`: the rows, newest first."""
    rows = _rows(ctl_json(srv, "audit", jid, "--n", str(n)))
    for r in rows:
        missing = [f for f in AUDIT_FIELDS if f not in r]
        assert not missing, "audit row without %s: %r" % (missing, r)
    return rows


def audit_tail(srv, n=50, kind=None):
    args = ["audit_tail", "--n", str(n)]
    if kind:
        args += ["--kind", kind]
    return _rows(ctl_json(srv, *args))


def show_audit(rows):
    return "\n".join(json.dumps(r, sort_keys=True) for r in rows) or \
        "(no audit rows)"


async def wait_audit(srv, jid, pred, what, timeout=WAIT):
    """Poll `audit JID` (written behind, in batches) until a row
    satisfies pred; returns it."""
    deadline = time.monotonic() + timeout
    while True:
        rows = audit(srv, jid)
        for r in rows:
            if pred(r):
                return r
        if time.monotonic() > deadline:
            raise AssertionError("%s: no audit row of %s within %.0f s; "
                                 "rows:\n%s" % (what, jid, timeout,
                                                show_audit(rows)))
        await asyncio.sleep(0.1)


def gate_row(subject, recipient, decision=None, reason=None, flag=None):
    """A predicate over audit rows of the subscription gate."""
    def pred(r):
        return (r.get("kind") == "subscription_gate"
                and r.get("subject") == subject
                and r.get("recipient") == recipient
                and (decision is None or r.get("decision") == decision)
                and (reason is None or r.get("reason") == reason)
                and (flag is None or r.get("flag") == flag))
    return pred


def explanation_whats(row):
    ex = row.get("explanation") or []
    if isinstance(ex, str):
        ex = json.loads(ex)
    return [it.get("what") for it in ex if isinstance(it, dict)]


def gate_stats(srv):
    return ctl_json(srv, "gate_stats")


async def wait_explain_item(srv, subject, what, timeout=WAIT):
    """Poll `reputation_explain SUBJECT` until it has an item `what`;
    returns the explanation."""
    deadline = time.monotonic() + timeout
    while True:
        r = srv.ctl("--json", "reputation_explain", subject)
        if r.returncode == 0:
            ex = json.loads(r.stdout)
            if any(it.get("what") == what for it in ex.get("items", ())):
                return ex
        if time.monotonic() > deadline:
            raise AssertionError("reputation_explain %s: no %r item within "
                                 "%.0f s; now: %s" % (
                                     subject, what, timeout,
                                     show(ex) if r.returncode == 0
                                     else r.stdout + r.stderr))
        await asyncio.sleep(0.1)


def rotate(srv, host):
    """`xmppctl trust_key_rotate HOST`."""
    r = srv.ctl("--json", "trust_key_rotate", host)
    assert r.returncode == 0, "trust_key_rotate %s: exit %d\n%s%s" % (
        host, r.returncode, r.stdout, r.stderr)
    return r.stdout


def metrics(srv):
    status, body = srv.http("GET", "/metrics")
    assert status == 200, (status, body[:200])
    return body.decode()


def metric(srv, name, **labels):
    """Sum of the samples of metric `name` whose labels include labels
    (0 when there is none)."""
    total = 0.0
    for line in metrics(srv).splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^(\w+)(\{([^}]*)\})?\s+(\S+)", line)
        if not m or m.group(1) != name:
            continue
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(3) or ""))
        if all(have.get(k) == v for k, v in labels.items()):
            total += float(m.group(4))
    return total


# --------------------------------------------------------------------------
# The flag on the wire


FLAG_TAG_RE = re.compile(r"<flag\s[^>]*xmlns=(['\"])%s\1[^>]*/>"
                         % re.escape(NS_TRUST))


def parse_stanza(text):
    """The stanza as an element (namespaces of the children kept; the
    stanza's own default namespace is not declared on it, so its tag has
    none)."""
    return ET.fromstring(text)


def flag_of(text):
    """The attributes of the stanza's <flag/> (dict), or None."""
    el = parse_stanza(text)
    f = el.find("{%s}flag" % NS_TRUST)
    return None if f is None else dict(f.attrib)


def info_of(text):
    el = parse_stanza(text)
    i = el.find("{%s}info" % NS_RAA)
    return None if i is None else dict(i.attrib)


def subscribe_from(sender, recipient=None):
    """A predicate: a subscription request from sender's bare JID (to
    recipient)."""
    def pred(text):
        if not re.match(r"<presence\s", text):
            return False
        try:
            el = parse_stanza(text)
        except ET.ParseError:
            return False
        return (el.get("type") == "subscribe"
                and el.get("from", "").split("/")[0] == sender
                and (recipient is None
                     or el.get("to", "").split("/")[0] == recipient))
    return pred


def set_flag_attr(text, name, value):
    """text with the flag's attribute name set to value (added when
    absent); everything else byte for byte."""
    m = FLAG_TAG_RE.search(text)
    assert m, "no flag in %r" % text
    tag = m.group(0)
    rx = re.compile(r"(\s%s=)(['\"])([^'\"]*)\2" % re.escape(name))
    if rx.search(tag):
        new = rx.sub(lambda mm: "%s%s%s%s" % (mm.group(1), mm.group(2),
                                               value, mm.group(2)), tag, 1)
    else:
        new = tag[:-2] + " %s='%s'/>" % (name, value)
    return text[:m.start()] + new + text[m.end():]


def set_stanza_attr(text, name, value):
    """The stanza's own attribute (in its start tag) set to value."""
    m = re.match(r"<\w+(\s[^>]*)?>", text)
    assert m, text
    tag = m.group(0)
    rx = re.compile(r"(\s%s=)(['\"])([^'\"]*)\2" % re.escape(name))
    if rx.search(tag):
        new = rx.sub(lambda mm: "%s%s%s%s" % (mm.group(1), mm.group(2),
                                               value, mm.group(2)), tag, 1)
    else:
        end = -2 if tag.endswith("/>") else -1
        new = tag[:end] + " %s='%s'" % (name, value) + tag[end:]
    return new + text[m.end():]


def key_id(public):
    """docs/trust-flags.md section 3: base64url (no padding) of the first
    9 bytes of SHA-256 of the 32-byte public key."""
    return base64.urlsafe_b64encode(
        hashlib.sha256(public).digest()[:9]).decode().rstrip("=")


def keys_of(result_text_or_el):
    """The <key/> children of a <keys xmlns='urn:xmppd:trust:0'/> in an IQ
    result (text or element), as dicts, in order."""
    el = result_text_or_el
    if isinstance(el, str):
        el = parse_stanza(el)
    keys = el.find("{%s}keys" % NS_TRUST)
    assert keys is not None, "no <keys/> in %s" % ET.tostring(el)
    return [dict(k.attrib) for k in keys.findall("{%s}key" % NS_TRUST)]


def check_key(k, retired=False):
    """A <key/> as section 5.6 says: ed25519, canonical base64 of 32
    bytes, id computed from it, times in the one format."""
    assert k.get("alg") == "ed25519", k
    pub = base64.b64decode(k["public"], validate=True)
    assert len(pub) == 32 and base64.b64encode(pub).decode() == k["public"], k
    assert k.get("id") == key_id(pub), (k, key_id(pub))
    assert TIME_RE.match(k.get("created", "")), k
    if retired:
        assert TIME_RE.match(k.get("retired", "")), k
        assert TIME_RE.match(k.get("until", "")), k
    else:
        assert "retired" not in k and "until" not in k, k


def random_public_b64():
    """A valid Ed25519 public key that nobody uses, standard base64."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import (
        Ed25519PrivateKey)
    from cryptography.hazmat.primitives import serialization
    pub = Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return base64.b64encode(pub).decode()


def condition(stanza):
    """The defined condition of an error stanza (slixmpp), from the XML."""
    err = None
    for child in stanza.xml:
        if child.tag.endswith("}error") or child.tag == "error":
            err = child
    assert err is not None, "not an error: %s" % stanza
    for c in err:
        if c.tag.startswith("{%s}" % NS_STANZAS) and \
                not c.tag.endswith("}text"):
            return c.tag.split("}", 1)[1]
    return None


async def next_presence(c, pred, timeout=WAIT, what="presence"):
    """The next presence on c (its queue) for which pred holds; others
    are skipped."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            raise AssertionError("no %s on %s within %.0f s"
                                 % (what, c.boundjid, timeout))
        try:
            p = await asyncio.wait_for(c.presences.get(), left)
        except asyncio.TimeoutError:
            continue
        if pred(p):
            return p


async def no_presence(c, pred, wait=QUIET, what="presence"):
    """Nothing matching pred arrives on c within wait seconds."""
    deadline = asyncio.get_running_loop().time() + wait
    while True:
        left = deadline - asyncio.get_running_loop().time()
        if left <= 0:
            return
        try:
            p = await asyncio.wait_for(c.presences.get(), left)
        except asyncio.TimeoutError:
            return
        if pred(p):
            raise AssertionError("unexpected %s on %s: %s"
                                 % (what, c.boundjid, p))


def ptype_from(ptype, frm):
    """A predicate over slixmpp presences: of that type from frm's bare
    JID."""
    return lambda p: p["type"] == ptype and p["from"].bare == frm
