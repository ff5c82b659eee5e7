"""Signed trust flags and the subscription gate, end to end (issue 6).

Two private xmppd domains federate in dialback mode (trust_util.Federation):
a.test's stream to b.test runs through a man in the middle
(trust_relay.TrustRelay) that forwards every byte and can edit, hold,
replay or strip the subscription requests a.test sends.  Real clients
(slixmpp) on both sides; the operator's view through xmppctl: `audit JID`,
`audit_tail`, `gate_stats`, `reputation_explain`, `reputation_set`,
`trust_key_rotate`.

What the issue asks to see:
- a user in good standing on a.test subscribes to b.test: delivered, with
  XEP-0489 <info/> (trust from the flag) visible to b's client and our
  <flag/> stripped; b's audit has a deliver entry;
- a low-score user on a.test is rejected at b.test: b's client never sees
  the request, the sender gets 'unsubscribed', b's audit names the flag;
- a flag altered in flight, replayed, expired, claiming another issuer:
  each refused and recorded (and the issuing domain blamed where the
  specification says it is its doing);
- no flag at all: the no-flag policy (score by default, reject by config);
- egress: our own bad accounts cannot send requests to other domains,
  fresh ones only a few an hour;
- key discovery over s2s, key rotation while a flag is in flight, a pinned
  key that does not match.

a.test's `levels` put `suspicious` at -90, so that an account pinned at
-80 is still allowed to send (egress refuses `bad`) and issues flags with
trust (−80 + 100) / 2 = 10, below b.test's default min_flag_trust (20).
"""

import asyncio
import calendar
import re
import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from im_util import admin_roster, barrier
from rep_util import Side, advance, explain, items, rep, show
from trust_util import (A, B, FEATURE_RAA_EMBED, NS_RAA, NS_TRUST,
                        TIME_RE, WAIT, Federation, audit, audit_tail,
                        check_key, condition, explanation_whats, flag_of,
                        gate_row, gate_stats, info_of, keys_of,
                        metric, next_presence, no_presence, ptype_from,
                        random_public_b64, rotate, set_flag_attr,
                        set_stanza_attr, show_audit, subscribe_from,
                        trust_of, wait_audit, wait_explain_item, wait_pin)
from xmpp_util import exchange_message

A_REP = {"levels": "{trusted: 40, normal: 10, probation: -10, "
                   "suspicious: -90}",
         "egress_probation_per_hour": "2"}
GOOD, LOW, BAD = 60, -80, -95
DAY = 86400


def _fail_reports(reports):
    if reports:
        pytest.fail("xmppd's log has a sanitizer report:\n%s" % reports[0],
                    pytrace=False)


@pytest.fixture(scope="module")
def fed():
    """One federation for the cases that leave a.test's standing at b.test
    alone (no invalid flags, no key rotation)."""
    f = Federation(a_rep=A_REP)
    try:
        yield f
    finally:
        reports = f.destroy()
    _fail_reports(reports)


@pytest.fixture
def federation():
    """federation(**Federation kwargs): a fresh pair for one test."""
    made = []

    def start(**kw):
        kw.setdefault("a_rep", A_REP)
        f = Federation(**kw)
        made.append(f)
        return f

    yield start
    reports = []
    for f in made:
        reports += f.destroy()
    _fail_reports(reports)


class Pair:
    """Users and clients on both sides of a federation."""

    def __init__(self, f, loop):
        self.f = f
        self.a = Side(f.a, loop)
        self.b = Side(f.b, loop)

    async def close(self):
        await self.a.close()
        await self.b.close()


async def _pair(f, event_loop):
    return Pair(f, event_loop)


def explain_or_none(srv, subject):
    """reputation_explain SUBJECT, or None when the server knows nothing
    of it (an error answer)."""
    r = srv.ctl("--json", "reputation_explain", subject)
    return explain(srv, subject) if r.returncode == 0 else None


def _since_ok(since):
    """The account's creation day, truncated: today (or yesterday, when
    the test runs across midnight UTC)."""
    now = time.time()
    days = {time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(now - d))
            for d in (0, 120)}
    return since in days


def _ts(s):
    return calendar.timegm(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ"))


async def _wait_flagged(f, sender, recipient, what="flagged request"):
    """The request as a.test sent it (seen by the relay)."""
    return await f.relay.wait_for(subscribe_from(sender, recipient),
                                  what="%s %s -> %s" % (what, sender,
                                                        recipient))


async def _refused(p, x, y, sender, recipient, unsubscribed=True):
    """y (recipient's client) never sees sender's request; with
    unsubscribed, x (sender's client) gets 'unsubscribed' from the
    recipient (the gate's default answer)."""
    if unsubscribed:
        await next_presence(x, ptype_from("unsubscribed", recipient),
                            what="'unsubscribed' from %s" % recipient)
    await no_presence(y, ptype_from("subscribe", sender),
                      what="request from %s" % sender)
    row = admin_roster(p.f.b, _user(recipient)).get(sender)
    assert row is None, "a refused request left a roster item: %r" % row


def _user(jid):
    from conftest import User
    name, host = jid.split("@", 1)
    return User(name, host, jid, "")


# --------------------------------------------------------------------------
# Delivered: a user in good standing


async def test_trust_flags_good_standing_delivered(fed, event_loop):
    p = await _pair(fed, event_loop)
    try:
        au, bu = p.a.new("good"), p.b.new("bob")
        wait_pin(fed.a, au.jid, GOOD)
        x = await p.a.login(au)
        y = await p.b.login(bu)
        # The client's own claims in our namespaces must not leave a.test.
        pres = x.make_presence(pto=bu.jid, ptype="subscribe")
        pres.xml.append(ET.Element("{%s}info" % NS_RAA, {
            "affiliation": "admin", "trust": "100",
            "since": "2000-01-01T00:00:00Z"}))
        pres.xml.append(ET.Element("{%s}flag" % NS_TRUST, {
            "v": "1", "issuer": A, "trust": "100"}))
        pres.send()

        sent = await _wait_flagged(fed, au.jid, bu.jid)
        el = ET.fromstring(sent)
        assert len(el.findall("{%s}flag" % NS_TRUST)) == 1, sent
        assert len(el.findall("{%s}info" % NS_RAA)) == 1, sent
        flag, info = flag_of(sent), info_of(sent)
        want_trust = str(trust_of(GOOD))
        assert flag["v"] == "1" and flag["issuer"] == A, flag
        assert flag["sender"] == au.jid and flag["recipient"] == bu.jid, flag
        assert flag["affiliation"] == "registered", flag
        assert flag["trust"] == want_trust, flag
        assert _since_ok(flag["since"]), flag
        for k in ("issued", "expires"):
            assert TIME_RE.match(flag[k]), flag
        assert _ts(flag["expires"]) - _ts(flag["issued"]) == 3600, flag
        assert abs(_ts(flag["issued"]) - time.time()) < 120, flag
        assert len(flag["key"]) == 12 and len(flag["nonce"]) == 22, flag
        assert len(flag["sig"]) == 88, flag
        assert info == {"affiliation": "registered", "trust": want_trust,
                        "since": flag["since"]}, info

        req = await next_presence(y, ptype_from("subscribe", au.jid),
                                  what="request from %s" % au.jid)
        assert req.xml.find("{%s}flag" % NS_TRUST) is None, \
            "b.test passed our <flag/> to its client: %s" % req
        infos = req.xml.findall("{%s}info" % NS_RAA)
        assert len(infos) == 1, req
        got = dict(infos[0].attrib)
        assert got.get("affiliation") == "registered", req
        assert got.get("trust") == want_trust, req
        assert got.get("since") == flag["since"], req

        row = await wait_audit(fed.b, au.jid,
                               gate_row(au.jid, bu.jid, "deliver"),
                               "the gate's deliver entry")
        assert row["flag"] == "ok" and row["reason"] == "ok", row
        assert TIME_RE.match(row["at"]), row
        # The valid flag is evidence for the sender at b.test.
        ex = await wait_explain_item(fed.b, au.jid, "trust_flag")
        tf = items(ex, "trust_flag")
        assert tf and all(float(it["points"]) > 0 for it in tf), show(ex)
        stats = gate_stats(fed.b)
        assert stats["delivered"] >= 1 and stats["reasons"]["ok"] >= 1, \
            stats
    finally:
        await p.close()


async def test_trust_flags_disco_features(fed, event_loop):
    """Both features on each hosted domain, to local clients and across
    s2s."""
    p = await _pair(fed, event_loop)
    try:
        x = await p.a.login(p.a.new("disco"))
        for to in (A, B):
            iq = x.make_iq_get(
                queryxmlns="http://jabber.org/protocol/disco#info", ito=to)
            res = await iq.send(timeout=WAIT)
            feats = set(res["disco_info"]["features"])
            assert {NS_TRUST, FEATURE_RAA_EMBED} <= feats, (to, feats)
    finally:
        await p.close()


# --------------------------------------------------------------------------
# Rejected: a low-score user


async def test_trust_flags_low_trust_rejected(fed, event_loop):
    p = await _pair(fed, event_loop)
    try:
        lu, bu = p.a.new("low"), p.b.new("bob")
        r = wait_pin(fed.a, lu.jid, LOW)
        assert r["level"] == "suspicious", r
        x = await p.a.login(lu)
        y = await p.b.login(bu)
        x.send_presence(pto=bu.jid, ptype="subscribe")
        sent = await _wait_flagged(fed, lu.jid, bu.jid)
        assert flag_of(sent)["trust"] == str(trust_of(LOW)), sent
        await _refused(p, x, y, lu.jid, bu.jid)

        row = await wait_audit(fed.b, lu.jid,
                               gate_row(lu.jid, bu.jid, "reject"),
                               "the gate's reject entry")
        assert row["reason"] == "flag_low_trust", show_audit([row])
        assert row["flag"] == "ok", show_audit([row])
        assert "trust_flag" in explanation_whats(row), show_audit([row])
        assert not [r for r in audit(fed.b, lu.jid)
                    if r["decision"] == "deliver"], audit(fed.b, lu.jid)
        stats = gate_stats(fed.b)
        assert stats["rejected"] >= 1, stats
        assert stats["reasons"]["flag_low_trust"] >= 1, stats
    finally:
        await p.close()


# --------------------------------------------------------------------------
# Egress: our own accounts


async def test_trust_flags_egress_bad_level_refused(fed, event_loop):
    p = await _pair(fed, event_loop)
    try:
        eu, bu = p.a.new("bad"), p.b.new("bob")
        r = wait_pin(fed.a, eu.jid, BAD)
        assert r["level"] == "bad", r
        x = await p.a.login(eu)
        y = await p.b.login(bu)
        x.send_presence(pto=bu.jid, ptype="subscribe")
        err = await next_presence(x, lambda s: s["type"] == "error",
                                  what="presence error")
        assert condition(err) == "policy-violation", err
        assert err["from"].bare in (bu.jid, ""), err
        await no_presence(y, ptype_from("subscribe", eu.jid))
        assert not [s for s in fed.relay.snapshot()
                    if subscribe_from(eu.jid)(s)], \
            "a refused request left a.test"
    finally:
        await p.close()


async def test_trust_flags_egress_probation_limit(fed, event_loop):
    """egress_probation_per_hour: 2 on a.test: a fresh account's third
    request to another domain within the hour is refused; requests to
    local users are not counted."""
    p = await _pair(fed, event_loop)
    try:
        fu = p.a.new("fresh")
        r = rep(fed.a, fu.jid)
        assert r["level"] == "probation" and r["probation"] is True, r
        bus = [p.b.new("bob") for _ in range(3)]
        local = p.a.new("pal")
        x = await p.a.login(fu)
        z = await p.a.login(local)
        for bu in bus[:2]:
            x.send_presence(pto=bu.jid, ptype="subscribe")
            await _wait_flagged(fed, fu.jid, bu.jid)
        await barrier(x)
        await no_presence(x, lambda s: s["type"] == "error", wait=0.5)
        x.send_presence(pto=bus[2].jid, ptype="subscribe")
        err = await next_presence(x, lambda s: s["type"] == "error",
                                  what="presence error")
        assert condition(err) == "policy-violation", err
        await asyncio.sleep(0.5)
        assert not [s for s in fed.relay.snapshot()
                    if subscribe_from(fu.jid, bus[2].jid)(s)], \
            "the request over the limit left a.test"
        # Local users: not limited.
        x.send_presence(pto=local.jid, ptype="subscribe")
        await next_presence(z, ptype_from("subscribe", fu.jid),
                            what="local request")
        await no_presence(x, lambda s: s["type"] == "error", wait=0.5)
    finally:
        await p.close()


# --------------------------------------------------------------------------
# Tampering in flight


def _edit_requests_of(sender, fn):
    """A relay edit applying fn(text) to sender's subscription requests
    only."""
    pred = subscribe_from(sender)

    def edit(text):
        if pred(text):
            return fn(text)
        return None
    return edit


async def _tamper(federation, event_loop, fn, flag_result,
                  blames_issuer=True, b_rep=None):
    """A request from a fresh user of a.test to b.test, edited in flight
    by fn: refused at b.test with reason flag_invalid and the flag's
    result; the issuing domain gets flag_invalid evidence when the
    result is its doing."""
    f = federation(b_rep=b_rep)
    p = await _pair(f, event_loop)
    try:
        su, bu = p.a.new("src"), p.b.new("bob")
        x = await p.a.login(su)
        y = await p.b.login(bu)
        f.relay.edit = _edit_requests_of(su.jid, fn)
        x.send_presence(pto=bu.jid, ptype="subscribe")
        await _wait_flagged(f, su.jid, bu.jid)
        await _refused(p, x, y, su.jid, bu.jid)
        row = await wait_audit(f.b, su.jid,
                               gate_row(su.jid, bu.jid, "reject"),
                               "the gate's reject entry")
        assert row["reason"] == "flag_invalid", show_audit([row])
        assert row["flag"] == flag_result, show_audit([row])
        if blames_issuer:
            ex = await wait_explain_item(f.b, A, "flag_invalid")
            fi = items(ex, "flag_invalid")
            assert all(float(it["points"]) < 0 for it in fi), show(ex)
        # No evidence for the sender from a flag that did not verify.
        ex = explain_or_none(f.b, su.jid)
        if ex is not None:
            assert not items(ex, "trust_flag"), show(ex)
        return f, p, row
    finally:
        await p.close()


async def test_trust_flags_altered_trust_refused(federation, event_loop):
    """The relay raises trust in the flag (and the <info/>): the signature
    no longer verifies."""
    def fn(text):
        out = set_flag_attr(text, "trust", "99")
        return [re.sub(r"(<info\s[^>]*\strust=)(['\"])[^'\"]*\2",
                       r"\g<1>\g<2>99\g<2>", out, count=1)]
    await _tamper(federation, event_loop, fn, "bad_signature")


@pytest.mark.parametrize("how,result", [
    ("issuer_and_sender", "wrong_issuer"),
    ("issuer_only", "malformed"),
])
async def test_trust_flags_wrong_issuer_refused(federation, event_loop, how,
                                                result):
    """A flag that claims another issuer than the stream's domain: with
    the sender moved along it is wrong_issuer; alone, the sender is no
    longer at the issuer: malformed.  Both are a.test's doing (it sent
    them over its authenticated stream)."""
    def fn(text):
        flag = flag_of(text)
        out = set_flag_attr(text, "issuer", "c.test")
        if how == "issuer_and_sender":
            out = set_flag_attr(out, "sender",
                                flag["sender"].split("@")[0] + "@c.test")
        return [out]
    await _tamper(federation, event_loop, fn, result)


async def test_trust_flags_replayed_refused(federation, event_loop):
    """The relay sends the request twice (the copy with another id): the
    first is delivered, the copy is refused as replayed."""
    f = federation()
    p = await _pair(f, event_loop)
    try:
        su, bu = p.a.new("src"), p.b.new("bob")
        x = await p.a.login(su)
        y = await p.b.login(bu)
        f.relay.edit = _edit_requests_of(su.jid, lambda t: [
            t, set_stanza_attr(t, "id", "replay-" + uuid.uuid4().hex[:8])])
        x.send_presence(pto=bu.jid, ptype="subscribe")
        await _wait_flagged(f, su.jid, bu.jid)
        await next_presence(y, ptype_from("subscribe", su.jid),
                            what="the first copy")
        rej = await wait_audit(f.b, su.jid,
                               gate_row(su.jid, bu.jid, "reject"),
                               "the copy's reject entry")
        assert rej["reason"] == "flag_invalid", show_audit([rej])
        assert rej["flag"] == "replayed", show_audit([rej])
        rows = audit(f.b, su.jid)
        dl = [r for r in rows if r["decision"] == "deliver"]
        assert len(dl) == 1 and dl[0]["flag"] == "ok", show_audit(rows)
        await no_presence(y, ptype_from("subscribe", su.jid),
                          what="the replayed copy")
        ex = await wait_explain_item(f.b, A, "flag_invalid")
        assert all(float(it["points"]) < 0
                   for it in items(ex, "flag_invalid")), show(ex)
    finally:
        await p.close()


async def test_trust_flags_expired_refused(federation, event_loop):
    """A flag that expired on the way: the relay holds the request while
    b.test's clock moves two days.  Refused (flag_invalid, expired) and
    recorded, but not held against a.test: clocks drift and queues are
    slow (docs/trust-flags.md 5.5)."""
    f = federation(b_args=["--test-clock"])
    p = await _pair(f, event_loop)
    try:
        su, bu = p.a.new("src"), p.b.new("bob")
        x = await p.a.login(su)
        y = await p.b.login(bu)
        f.relay.edit = _edit_requests_of(su.jid, f.relay.hold)
        x.send_presence(pto=bu.jid, ptype="subscribe")
        await f.relay.wait_held(1)
        advance(f.b, 2 * DAY)
        assert f.relay.release() == 1
        await _refused(p, x, y, su.jid, bu.jid)
        row = await wait_audit(f.b, su.jid,
                               gate_row(su.jid, bu.jid, "reject"),
                               "the gate's reject entry")
        assert row["reason"] == "flag_invalid", show_audit([row])
        assert row["flag"] == "expired", show_audit([row])
        ex = explain_or_none(f.b, A)
        if ex is not None:
            assert not items(ex, "flag_invalid"), show(ex)
    finally:
        await p.close()


@pytest.mark.parametrize("no_flag", ["reject", "score"])
async def test_trust_flags_stripped_no_flag_policy(federation, event_loop,
                                                   no_flag):
    """The relay removes the flag (a downgrade, or any server that does
    not flag): the no-flag policy decides.  `no_flag: reject` refuses
    (no_flag_rejected); the default (`score`) delivers a sender in no bad
    standing.  Either way the audit says the flag was absent, and the
    unsigned <info/> that came with it does not reach the client."""
    f = federation(b_rep={"subscription_gate": "{no_flag: %s}" % no_flag})
    p = await _pair(f, event_loop)
    try:
        su, bu = p.a.new("src"), p.b.new("bob")
        x = await p.a.login(su)
        y = await p.b.login(bu)

        def strip(text):
            i = text.index("<flag ")
            j = text.index("/>", i) + 2
            return [text[:i] + text[j:]]
        f.relay.edit = _edit_requests_of(su.jid, strip)
        x.send_presence(pto=bu.jid, ptype="subscribe")
        await _wait_flagged(f, su.jid, bu.jid)
        if no_flag == "reject":
            await _refused(p, x, y, su.jid, bu.jid)
            row = await wait_audit(f.b, su.jid,
                                   gate_row(su.jid, bu.jid, "reject"),
                                   "the no-flag reject entry")
            assert row["reason"] == "no_flag_rejected", show_audit([row])
        else:
            req = await next_presence(y, ptype_from("subscribe", su.jid),
                                      what="the unflagged request")
            assert req.xml.find("{%s}flag" % NS_TRUST) is None, req
            assert req.xml.find("{%s}info" % NS_RAA) is None, \
                "unsigned <info/> passed to the client: %s" % req
            row = await wait_audit(f.b, su.jid,
                                   gate_row(su.jid, bu.jid, "deliver"),
                                   "the no-flag deliver entry")
            assert row["reason"] == "ok", show_audit([row])
        assert row["flag"] == "absent", show_audit([row])
        ex = explain_or_none(f.b, A)
        if ex is not None:
            assert not items(ex, "flag_invalid"), show(ex)
    finally:
        await p.close()


# --------------------------------------------------------------------------
# Keys: discovery, rotation, pins


def _keys_iq(ident):
    return ("<iq type='get' from='%s' to='%s' id='%s'><keys xmlns='%s'/>"
            "</iq>" % (B, A, ident, NS_TRUST))


async def _ask_keys(f):
    """Ask a.test for its keys as b.test would (an IQ from b.test on the
    authenticated stream, injected by the relay); the answer is kept from
    b.test."""
    ident = "keys-" + uuid.uuid4().hex[:8]
    start = len(f.relay.snapshot())
    prev = f.relay.edit

    def edit(text):
        if ("id='%s'" % ident) in text or ('id="%s"' % ident) in text:
            return []
        return prev(text) if prev is not None else None
    f.relay.edit = edit
    try:
        f.relay.inject_b2a(_keys_iq(ident))
        ans = await f.relay.wait_for(
            lambda s: s.startswith("<iq") and ident in s, start=start,
            what="answer to the keys request")
    finally:
        f.relay.edit = prev
    el = ET.fromstring(ans)
    assert el.get("type") == "result", ans
    assert el.get("from") == A and el.get("to") == B, ans
    return keys_of(el)


async def test_trust_flags_key_discovery_and_rotation(federation,
                                                      event_loop):
    """a.test answers <keys/> over s2s with its current key; after
    trust_key_rotate it lists two, the current first and the retired one
    with its validity.  b.test fetches a.test's keys at the first flag and
    caches them: a request signed before the rotation and held by the
    relay until after it is delivered (the cached old key verifies it);
    the next request carries the new key id, which b.test does not know,
    so it fetches again (once its minute between fetches has passed: b's
    clock is moved) and delivers it with a valid flag."""
    f = federation(b_args=["--test-clock"])
    p = await _pair(f, event_loop)
    fetches = "xmppd_trust_key_fetches_total"
    try:
        # Bring the stream up (a message a -> b), then ask as b.test.
        x0 = await p.a.login(p.a.new("m"))
        y0 = await p.b.login(p.b.new("m"))
        await exchange_message(x0, y0)
        keys = await _ask_keys(f)
        assert len(keys) == 1, keys
        check_key(keys[0])
        old = keys[0]["id"]

        u0, u1, u2 = p.a.new("before"), p.a.new("inflight"), p.a.new("after")
        bu = p.b.new("bob")
        xs = [await p.a.login(u) for u in (u0, u1, u2)]
        y = await p.b.login(bu)

        async def delivered(u, key, what):
            sent = await _wait_flagged(f, u.jid, bu.jid)
            assert flag_of(sent)["key"] == key, (what, sent)
            await next_presence(y, ptype_from("subscribe", u.jid),
                                what="the request %s" % what)
            row = await wait_audit(f.b, u.jid,
                                   gate_row(u.jid, bu.jid, "deliver"),
                                   "deliver entry of the request %s" % what)
            assert row["flag"] == "ok", show_audit([row])

        assert metric(f.b, fetches) == 0
        xs[0].send_presence(pto=bu.jid, ptype="subscribe")
        await delivered(u0, old, "before the rotation")
        assert metric(f.b, fetches) == 1

        f.relay.edit = _edit_requests_of(u1.jid, f.relay.hold)
        xs[1].send_presence(pto=bu.jid, ptype="subscribe")
        held = (await f.relay.wait_held(1))[0]
        assert flag_of(held)["key"] == old, held

        rotate(f.a, A)
        keys = await _ask_keys(f)
        assert len(keys) == 2, keys
        check_key(keys[0])
        check_key(keys[1], retired=True)
        new = keys[0]["id"]
        assert new != old and keys[1]["id"] == old, keys
        assert _ts(keys[1]["retired"]) >= _ts(keys[0]["created"]) - 1, keys
        assert _ts(keys[1]["until"]) > _ts(keys[1]["retired"]), keys

        assert f.relay.release() == 1
        await delivered(u1, old, "signed before the rotation, held")
        assert metric(f.b, fetches) == 1, "the old key was cached"

        advance(f.b, 120)
        xs[2].send_presence(pto=bu.jid, ptype="subscribe")
        await delivered(u2, new, "signed after the rotation")
        assert metric(f.b, fetches) == 2, "a new key id is fetched"
    finally:
        await p.close()


async def test_trust_flags_keys_iq_from_client(fed, event_loop):
    """A client asks its own server for the domain's keys
    (<keys xmlns='urn:xmppd:trust:0'/> to a.test)."""
    p = await _pair(fed, event_loop)
    try:
        x = await p.a.login(p.a.new("keys"))
        iq = x.Iq()
        iq["type"] = "get"
        iq["to"] = A
        iq.append(ET.Element("{%s}keys" % NS_TRUST))
        res = await iq.send(timeout=WAIT)
        keys = keys_of(res.xml)
        assert keys, res
        check_key(keys[0])
    finally:
        await p.close()


async def test_trust_flags_pinned_key_mismatch(federation, event_loop):
    """b.test pins another key for a.test: a.test's flags are not trusted
    (their key is not the pinned one), the request goes to the no-flag
    policy, and the mismatch is on record."""
    f = federation(b_rep={"trust_keys": "{%s: [\"%s\"]}"
                          % (A, random_public_b64())})
    p = await _pair(f, event_loop)
    try:
        before = metric(f.b, "xmppd_trust_pinned_key_mismatches_total")
        su, bu = p.a.new("src"), p.b.new("bob")
        x = await p.a.login(su)
        y = await p.b.login(bu)
        x.send_presence(pto=bu.jid, ptype="subscribe")
        await _wait_flagged(f, su.jid, bu.jid)
        row = await wait_audit(f.b, su.jid, gate_row(su.jid, bu.jid),
                               "the gate's entry")
        assert row["flag"] == "unknown_key", show_audit([row])
        # Default no-flag policy (score): a fresh remote sender is
        # delivered, without the flag's evidence.
        assert row["decision"] == "deliver", show_audit([row])
        await next_presence(y, ptype_from("subscribe", su.jid))
        ex = explain_or_none(f.b, su.jid)
        if ex is not None:
            assert not items(ex, "trust_flag"), show(ex)
        deadline = time.monotonic() + WAIT
        while True:
            tail = audit_tail(f.b, 100)
            mism = [r for r in tail if "pinned_key_mismatch" in
                    (r.get("kind"), r.get("reason"))]
            after = metric(f.b, "xmppd_trust_pinned_key_mismatches_total")
            if mism and after > before:
                break
            if time.monotonic() > deadline:
                raise AssertionError(
                    "pinned key mismatch: audit rows %r, metric %s -> %s;"
                    "\naudit_tail:\n%s" % (mism, before, after,
                                           show_audit(tail)))
            await asyncio.sleep(0.2)
        assert mism[0]["subject"] == A, show_audit(mism)
    finally:
        await p.close()
