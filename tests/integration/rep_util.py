"""Helpers for the reputation story tests (test_reputation_story.py): the
operator's view through xmppctl, a test clock, real clients that befriend,
talk, block and report, XEP-0275 queries, and the evidence table.

Every wait is bounded.  Servers are private instances (start_xmppd), most
with `--test-clock`, so moving their clock never touches the session's
shared server."""

import asyncio
import json
import time
import uuid
from xml.etree import ElementTree as ET

from slixmpp.exceptions import IqError, IqTimeout

from conftest import Clients, User, Users
from im_util import admin_roster, barrier, expect_presence
from im_util import login as im_login
from xmpp_util import (TIMEOUT, exchange_message, hard_close, next_item,
                       psql_rows)

NS_REPUTATION = "urn:xmpp:reputation:0"
NS_BLOCKING = "urn:xmpp:blocking"
NS_REPORTING = "urn:xmpp:reporting:1"
NS_STANZAS = "urn:ietf:params:xml:ns:xmpp-stanzas"
SPAM = "urn:xmpp:reporting:spam"
ABUSE = "urn:xmpp:reporting:abuse"

HOUR = 3600
DAY = 24 * HOUR
YEAR = 365 * DAY

# The defaults the stories rely on (rep-context.md, policy.h).
LEVELS = ("trusted", "normal", "probation", "suspicious", "bad")
BAD_LEVELS = ("suspicious", "bad")
PROBATION_CAP = 5
PER_SOURCE_CAP = 15
REPORTS_PER_HOUR = 20
BLOCK_WEIGHT, REPORT_WEIGHT = -5.0, -10.0
REPORTER_FLOOR, REPORTER_FULL_AT = 0.25, 50.0


def reporter_factor(score):
    """How much a user's report counts, from the user's own score."""
    f = REPORTER_FLOOR + (1 - REPORTER_FLOOR) * score / REPORTER_FULL_AT
    return min(max(f, 0.0), 1.0)


# --------------------------------------------------------------------------
# The operator's view: xmppctl --json


def ctl_json(srv, *args):
    """xmppctl --json ARGS...: the decoded result; AssertionError (with
    what xmppctl said) on a non-zero exit."""
    r = srv.ctl("--json", *args)
    assert r.returncode == 0, "xmppctl %s: exit %d\nstdout: %s\nstderr: %s" \
        % (" ".join(map(str, args)), r.returncode, r.stdout, r.stderr)
    out = r.stdout.strip()
    try:
        return json.loads(out) if out else None
    except ValueError:
        raise AssertionError("xmppctl --json %s printed no JSON: %r"
                             % (" ".join(map(str, args)), out)) from None


def ctl_refused(srv, *args):
    """xmppctl ARGS... must fail: returns the CompletedProcess."""
    r = srv.ctl(*args)
    assert r.returncode != 0, "xmppctl %s succeeded: %r" % (
        " ".join(map(str, args)), r.stdout)
    return r


def rep(srv, jid):
    """`xmppctl reputation JID`: {jid, score, level, local, pinned,
    probation}."""
    r = ctl_json(srv, "reputation", jid)
    for k in ("jid", "score", "level", "local", "pinned", "probation"):
        assert k in r, "reputation %s: no %r in %r" % (jid, k, r)
    return r


def explain(srv, jid):
    """`xmppctl reputation_explain JID`: {jid, score, level, raw, pinned,
    probation, items: [{what, source_kind, source, weight, points, age,
    note}]}."""
    r = ctl_json(srv, "reputation_explain", jid)
    for k in ("jid", "score", "level", "raw", "pinned", "probation",
              "items"):
        assert k in r, "reputation_explain %s: no %r in %r" % (jid, k, r)
    return r


def items(ex, what=None, source=None, source_kind=None):
    """The explanation's items, filtered (what may be a tuple)."""
    out = []
    for it in ex["items"]:
        if what is not None:
            whats = (what,) if isinstance(what, str) else what
            if it.get("what") not in whats:
                continue
        if source is not None and it.get("source") != source:
            continue
        if source_kind is not None and it.get("source_kind") != source_kind:
            continue
        out.append(it)
    return out


def points(ex, what=None, source=None):
    """Sum of the points now of the matching items."""
    return sum(float(it["points"]) for it in items(ex, what, source))


def show(ex):
    """An explanation, one item a line, for assertion messages."""
    lines = ["%s score=%s level=%s raw=%s pinned=%s probation=%s" % (
        ex.get("jid"), ex.get("score"), ex.get("level"), ex.get("raw"),
        ex.get("pinned"), ex.get("probation"))]
    for it in ex.get("items", ()):
        lines.append("  %-16s %-6s %-32s weight=%-8s points=%-8s age=%-10s"
                     " %s" % (it.get("what"), it.get("source_kind"),
                              it.get("source"), it.get("weight"),
                              it.get("points"), it.get("age"),
                              it.get("note")))
    return "\n".join(lines)


def stable_items(ex, ndigits=2):
    """The explanation's items without their age (which moves with the
    clock), for comparing two explanations of the same state."""
    return sorted((it.get("what"), it.get("source_kind"), it.get("source"),
                   round(float(it.get("weight", 0)), ndigits),
                   round(float(it.get("points", 0)), ndigits),
                   it.get("note") or "") for it in ex["items"])


def advance(srv, seconds):
    """Move the server's wall clock forward (xmppd --test-clock); returns
    the server's new wall time."""
    before = time.time()
    now = ctl_json(srv, "debug_clock_advance", int(seconds))
    assert isinstance(now, int), now
    assert now >= before + seconds - 5, (now, before, seconds)
    return now


async def wait_rep(srv, jid, pred, what, timeout=5.0):
    """Poll `reputation JID` until pred(result) holds: what the server
    learns from a client's stanza is counted once it has handled it, not
    necessarily before the client hears back.  AssertionError with the
    explanation after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        r = rep(srv, jid)
        if pred(r):
            return r
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.0f s; now:\n%s"
                                 % (what, timeout, show(explain(srv, jid))))
        await asyncio.sleep(0.1)


async def wait_explain(srv, jid, pred, what, timeout=5.0):
    """Poll `reputation_explain JID` until pred(explanation) holds;
    returns it.  AssertionError with the explanation after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        ex = explain(srv, jid)
        if pred(ex):
            return ex
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %.0f s; now:\n%s"
                                 % (what, timeout, show(ex)))
        await asyncio.sleep(0.1)


def snapshot(srv, jid):
    """What an operator sees of jid: the score fields and the items
    without their age."""
    r = rep(srv, jid)
    ex = explain(srv, jid)
    return ({k: r[k] for k in ("score", "level", "local", "pinned",
                               "probation")}, ex)


def assert_same(before, after, jid, tol=0.01):
    """Two snapshots of jid show the same score and the same items (the
    points may move by decay over the few seconds between: tol)."""
    (r0, ex0), (r1, ex1) = before, after
    assert r0 == r1, "%s: %r, then %r\nbefore:\n%s\nafter:\n%s" % (
        jid, r0, r1, show(ex0), show(ex1))

    def key(it):
        return (it.get("what"), it.get("source_kind"), it.get("source"),
                it.get("note") or "")
    a = sorted(ex0["items"], key=key)
    b = sorted(ex1["items"], key=key)
    ok = len(a) == len(b) and all(
        key(x) == key(y)
        and abs(float(x["weight"]) - float(y["weight"])) <= tol
        and abs(float(x["points"]) - float(y["points"])) <= tol
        for x, y in zip(a, b))
    assert ok, "%s: the explanation changed\nbefore:\n%s\nafter:\n%s" % (
        jid, show(ex0), show(ex1))


# --------------------------------------------------------------------------
# The evidence table


def evidence(srv, where):
    """(subject, kind, weight, source_kind, source) rows of
    reputation_evidence matching the SQL condition `where`."""
    return psql_rows(srv, "SELECT subject, kind, weight, source_kind, source"
                     " FROM reputation_evidence WHERE %s ORDER BY id" % where)


def count_evidence(srv, where):
    return int(psql_rows(srv, "SELECT count(*) FROM reputation_evidence"
                         " WHERE %s" % where)[0][0])


async def wait_evidence(srv, where, n, timeout=5.0):
    """Poll until at least n rows match (batches are written behind,
    within about a second); returns the count."""
    deadline = time.monotonic() + timeout
    while True:
        got = count_evidence(srv, where)
        if got >= n:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%d evidence rows (want %d) within %.0f s"
                                 " for: %s" % (got, n, timeout, where))
        await asyncio.sleep(0.1)


def sql_str(s):
    return "'%s'" % s.replace("'", "''")


# --------------------------------------------------------------------------
# Clients on a private server


class Side:
    """Users and clients of one private server; close() at the end."""

    def __init__(self, srv, loop):
        self.srv = srv
        self.users = Users(srv)
        self.clients = Clients(srv, loop)

    def new(self, prefix):
        return self.users.new(prefix)

    async def login(self, user, resource=None):
        """A client that answers no subscription itself, queues roster
        pushes and presences, speaks XEP-0191, and is available (priority
        0) so messages to the bare JID reach it."""
        c = await im_login(self.clients, user, resource=resource,
                           priority=0)
        c.register_plugin("xep_0191")
        return c

    async def close(self):
        await self.clients.close_all()


async def befriend(srv, a, b):
    """A real subscription handshake both ways (RFC 6121 3.1): a asks b,
    b approves and asks back, a approves.  Both rosters end with
    subscription 'both' (checked through the admin API)."""
    aj, bj = a.boundjid.bare, b.boundjid.bare
    a.send_presence(pto=bj, ptype="subscribe")
    await expect_presence(b, "subscribe", aj)
    b.send_presence(pto=aj, ptype="subscribed")
    await expect_presence(a, "subscribed", bj)
    b.send_presence(pto=aj, ptype="subscribe")
    await expect_presence(a, "subscribe", bj)
    a.send_presence(pto=bj, ptype="subscribed")
    await expect_presence(b, "subscribed", aj)
    await barrier(a)
    await barrier(b)
    for owner, contact in ((a, bj), (b, aj)):
        j = owner.boundjid
        row = admin_roster(srv, User(j.user, j.host, j.bare, "")).get(contact)
        assert row is not None and row["subscription"] == "both", \
            (j.bare, contact, row)


async def converse(a, b, n):
    """a and b each send the other n chat messages with a body (to the
    bare JID); waits until all 2n have arrived."""
    tag = uuid.uuid4().hex[:8]
    for i in range(n):
        a.send_message(mto=b.boundjid.bare, mbody="%s a%d" % (tag, i),
                       mtype="chat")
        b.send_message(mto=a.boundjid.bare, mbody="%s b%d" % (tag, i),
                       mtype="chat")
    for rcpt in (a, b):
        got = 0
        while got < n:
            msg = await next_item(rcpt.inbox, what="message %d of %d to %s"
                                  % (got + 1, n, rcpt.boundjid))
            if str(msg["body"]).startswith(tag + " "):
                got += 1
    await barrier(a)
    await barrier(b)


# --------------------------------------------------------------------------
# Blocks with reports (XEP-0191 + XEP-0377)


def block_iq(c, jid, reason=SPAM, op="block"):
    """An IQ-set <block/> (or <unblock/>) of one JID, with a XEP-0377
    report of that reason inside the item (reason None: no report)."""
    iq = c.Iq()
    iq["type"] = "set"
    el = ET.Element("{%s}%s" % (NS_BLOCKING, op))
    item = ET.SubElement(el, "{%s}item" % NS_BLOCKING)
    item.set("jid", jid)
    if reason is not None and op == "block":
        r = ET.SubElement(item, "{%s}report" % NS_REPORTING)
        r.set("reason", reason)
    iq.append(el)
    return iq


async def block_report(c, jid, reason=SPAM):
    """c blocks jid and reports it; the block must be accepted."""
    await block_iq(c, jid, reason).send(timeout=TIMEOUT)


async def unblock(c, jid):
    await block_iq(c, jid, None, op="unblock").send(timeout=TIMEOUT)


def condition(stanza):
    """The defined condition of an error stanza, read from the XML."""
    err = stanza.xml.find("{jabber:client}error")
    assert err is not None, stanza
    for child in err:
        tag = child.tag.split("}", 1)[1]
        if child.tag.startswith("{%s}" % NS_STANZAS) and tag != "text":
            return tag
    return None


async def iq_condition(iq, timeout=TIMEOUT):
    """Send an IQ that must fail; returns its error condition."""
    try:
        res = await iq.send(timeout=timeout)
    except IqError as e:
        return condition(e.iq)
    except IqTimeout:
        raise AssertionError("no answer to IQ %s" % iq["id"]) from None
    raise AssertionError("expected an IQ error, got %s" % res)


# --------------------------------------------------------------------------
# XEP-0275


async def score_query(c, to, jid, timeout=TIMEOUT):
    """Ask `to` for jid's score: ("num", int) for a result, ("error",
    condition) for an error."""
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = to
    el = ET.Element("{%s}score" % NS_REPUTATION)
    el.set("jid", jid)
    iq.append(el)
    try:
        res = await iq.send(timeout=timeout)
    except IqError as e:
        return ("error", condition(e.iq))
    except IqTimeout:
        raise AssertionError("no answer to the score query %s" % iq["id"]) \
            from None
    s = res.xml.find("{%s}score" % NS_REPUTATION)
    assert s is not None, "no <score/> in %s" % res
    assert s.get("jid") == jid, res
    num = s.get("num")
    assert num is not None and num.lstrip("-").isdigit(), res
    return ("num", int(num))


# --------------------------------------------------------------------------
# The server still serves


async def service_check(side):
    """Two fresh users of side's server log in and exchange a message
    both ways."""
    a_user, b_user = side.new("ok"), side.new("ok")
    a = await side.clients.login(a_user)
    b = await side.clients.login(b_user)
    await exchange_message(a, b)
    await exchange_message(b, a)
    await hard_close(a)
    await hard_close(b)
