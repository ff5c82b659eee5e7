"""How users, peer servers and operators ask the reputation engine
(reputation/query.c and reputation/ops.c).

- XEP-0275 <score xmlns='urn:xmpp:reputation:0' jid='...'/> to the domain:
  a local user gets the score of a local account, item-not-found for a
  subject nothing is known about, jid-malformed and bad-request for bad
  input.
- XEP-0489 <query xmlns='urn:xmpp:raa:0'/> to an account's bare JID:
  affiliation, since (the creation day, midnight UTC), trust = (score +
  100) / 2 with halves rounded up.
- Both features in the domain's disco#info.
- The operator's verbs through xmppctl --json: reputation, _explain, _set
  (--reason, --expires), _clear, _list, and their refusals.

Not here: `forbidden` for a stranger.  Local users may always ask, so it
takes a remote server (the federation test of the operator's story covers
it).
"""

import json
import time
import uuid
from datetime import datetime, timedelta, timezone
from xml.etree import ElementTree as ET

from slixmpp.exceptions import IqError

from xmpp_util import TIMEOUT, send_iq_expect_error

NS_REP = "urn:xmpp:reputation:0"
NS_RAA = "urn:xmpp:raa:0"
OK, FAILED = 0, 1


def ctl_json(srv, *args, code=OK):
    """xmppctl --json VERB ARGS; the decoded result when code is OK."""
    r = srv.ctl("--json", *args)
    assert r.returncode == code, (
        "xmppctl %s: exit %d, want %d\nstdout: %s\nstderr: %s"
        % (" ".join(map(str, args)), r.returncode, code, r.stdout, r.stderr))
    return json.loads(r.stdout) if code == OK and r.stdout.strip() else r


def wait_known(srv, jid, timeout=TIMEOUT):
    """The `reputation` of a just registered account: the engine learns of
    it a moment after the admin API answered `register`."""
    deadline = time.monotonic() + timeout
    while True:
        r = srv.ctl("--json", "reputation", jid)
        if r.returncode == OK:
            return json.loads(r.stdout)
        if time.monotonic() > deadline:
            raise AssertionError("reputation %s: exit %d within %.0f s: %s"
                                 % (jid, r.returncode, timeout, r.stderr))
        time.sleep(0.05)


def score_iq(c, domain, subject=None):
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = domain
    el = ET.Element("{%s}score" % NS_REP)
    if subject is not None:
        el.set("jid", subject)
    iq.append(el)
    return iq


def raa_iq(c, account):
    iq = c.Iq()
    iq["type"] = "get"
    iq["to"] = account
    iq.append(ET.Element("{%s}query" % NS_RAA))
    return iq


def utc_midnight(t):
    return t.strftime("%Y-%m-%dT00:00:00Z")


# -- XEP-0275 ----------------------------------------------------------------


async def test_reputation_query_score_of_local_account(server, users,
                                                       clients):
    asker, subject = users.new("repq"), users.new("repq")
    known = wait_known(server, subject.jid)
    c = await clients.login(asker)
    # A full JID is asked about as its account.
    res = await score_iq(c, server.domain, subject.jid + "/laptop").send(
        timeout=TIMEOUT)
    assert res["type"] == "result"
    assert res["from"].full == server.domain
    el = res.xml.find("{%s}score" % NS_REP)
    assert el is not None, res
    assert el.get("jid") == subject.jid
    num = int(el.get("num"))
    assert -100 <= num <= 100
    assert num == known["score"]


async def test_reputation_query_score_errors(server, users, clients):
    c = await clients.login(users.new("repq"))
    stranger = "nobody%s@unknown-%s.example" % (uuid.uuid4().hex[:8],
                                               uuid.uuid4().hex[:8])
    assert await send_iq_expect_error(
        score_iq(c, server.domain, stranger)) == "item-not-found"
    assert await send_iq_expect_error(
        score_iq(c, server.domain, "not a jid@@")) == "jid-malformed"
    assert await send_iq_expect_error(
        score_iq(c, server.domain)) == "bad-request"
    # A local JID that is no account is not known either.
    assert await send_iq_expect_error(score_iq(
        c, server.domain, "nobody%s@%s" % (uuid.uuid4().hex[:8],
                                           server.domain))) \
        == "item-not-found"
    # The stream survives the errors.
    res = await c["xep_0199"].send_ping(server.domain, timeout=TIMEOUT)
    assert res["type"] == "result"


async def test_reputation_query_disco_features(server, users, clients):
    c = await clients.login(users.new("repq"))
    res = await c["xep_0030"].get_info(jid=server.domain, local=False,
                                       timeout=TIMEOUT)
    features = set(res["disco_info"]["features"])
    assert {NS_REP, NS_RAA} <= features, features


# -- XEP-0489 ----------------------------------------------------------------


async def test_reputation_query_raa_of_local_account(server, users, clients):
    days = {utc_midnight(datetime.now(timezone.utc))}
    asker, subject = users.new("repq"), users.new("repq")
    days.add(utc_midnight(datetime.now(timezone.utc)))   # midnight passed?
    known = wait_known(server, subject.jid)
    c = await clients.login(asker)
    res = await raa_iq(c, subject.jid).send(timeout=TIMEOUT)
    assert res["type"] == "result"
    assert res["from"].bare == subject.jid
    info = res.xml.find("{%s}info" % NS_RAA)
    assert info is not None, res
    assert info.get("affiliation") == "registered"
    assert info.get("since") in days, (info.get("since"), days)
    # (score + 100) / 2, a half rounded up.
    assert int(info.get("trust")) == (known["score"] + 101) // 2
    # About oneself (no 'to') too.
    own = await raa_iq(c, asker.jid).send(timeout=TIMEOUT)
    assert own.xml.find("{%s}info" % NS_RAA).get("affiliation") \
        == "registered"


async def test_reputation_query_raa_no_account(server, users, clients):
    c = await clients.login(users.new("repq"))
    ghost = "nobody%s@%s" % (uuid.uuid4().hex[:8], server.domain)
    try:
        await raa_iq(c, ghost).send(timeout=TIMEOUT)
    except IqError as e:
        assert e.iq["error"]["condition"] == "item-not-found"
    else:
        raise AssertionError("an affiliation for an account that is none")


# -- the operator's verbs ----------------------------------------------------


def test_reputation_query_ctl_fresh_account(server, users):
    u = users.new("repq")
    rep = wait_known(server, u.jid)
    assert rep["jid"] == u.jid
    assert rep["level"] == "probation", rep
    assert rep["local"] is True and rep["probation"] is True
    assert rep["pinned"] is False
    assert -100 <= rep["score"] < 10
    # A full JID is its account; case is prepared away.
    rep2 = ctl_json(server, "reputation", u.jid.upper() + "/desk")
    assert rep2["jid"] == u.jid and rep2["score"] == rep["score"]
    # The plain form prints "column: value" lines.
    r = server.ctl("reputation", u.jid)
    assert r.returncode == OK and "level: probation" in r.stdout, r.stdout

    exp = ctl_json(server, "reputation_explain", u.jid)
    assert exp["jid"] == u.jid and exp["score"] == rep["score"]
    assert isinstance(exp["items"], list) and exp["items"], exp
    for item in exp["items"]:
        assert set(item) >= {"what", "source_kind", "source", "weight",
                             "points", "age", "note"}, item


def test_reputation_query_ctl_unknown_subjects(server):
    remote = "nobody%s@unknown-%s.example" % (uuid.uuid4().hex[:8],
                                             uuid.uuid4().hex[:8])
    rep = ctl_json(server, "reputation", remote)
    assert rep["score"] == 0 and rep["level"] == "unknown", rep
    assert rep["local"] is False
    exp = ctl_json(server, "reputation_explain", remote)
    assert exp["level"] == "unknown" and exp["score"] == 0, exp
    # An account that does not exist here is an error, not a score.
    ghost = "nobody%s@%s" % (uuid.uuid4().hex[:8], server.domain)
    r = ctl_json(server, "reputation", ghost, code=FAILED)
    assert "account" in r.stderr.lower(), r.stderr
    ctl_json(server, "reputation_explain", ghost, code=FAILED)
    r = ctl_json(server, "reputation", "not a jid@@", code=FAILED)
    assert "jid" in r.stderr.lower(), r.stderr


def test_reputation_query_ctl_pin_and_clear(server, users):
    u = users.new("repq")
    before = wait_known(server, u.jid)
    ctl_json(server, "reputation_set", u.jid, "42", "--reason",
             "checked by hand", "--expires", "30d")
    rep = ctl_json(server, "reputation", u.jid)
    assert rep["pinned"] is True and rep["score"] == 42, rep
    assert rep["level"] == "trusted", rep
    exp = ctl_json(server, "reputation_explain", u.jid)
    assert exp["pinned"] is True and exp["score"] == 42
    pins = [i for i in exp["items"] if i["what"] == "pin"]
    assert pins, exp["items"]

    # A pin is replaced by the next one; an RFC 3339 expiry works too.
    until = (datetime.now(timezone.utc) + timedelta(days=2)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    ctl_json(server, "reputation_set", u.jid, "-30", "--expires", until)
    rep = ctl_json(server, "reputation", u.jid)
    assert rep["pinned"] is True and rep["score"] == -30, rep

    ctl_json(server, "reputation_clear", u.jid)
    rep = ctl_json(server, "reputation", u.jid)
    assert rep["pinned"] is False and rep["score"] == before["score"], rep
    # Nothing left to clear.
    r = ctl_json(server, "reputation_clear", u.jid, code=FAILED)
    assert "pin" in r.stderr.lower(), r.stderr


def test_reputation_query_ctl_set_refusals(server, users):
    u = users.new("repq")
    wait_known(server, u.jid)
    for bad in ("101", "-101", "abc", "4.5", ""):
        r = ctl_json(server, "reputation_set", u.jid, bad, code=FAILED)
        assert "score" in r.stderr.lower(), (bad, r.stderr)
    past = (datetime.now(timezone.utc) - timedelta(days=1)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    for bad in ("yesterday", "0", "-5d", "10y", past, "2026-02-30T00:00:00Z"):
        r = ctl_json(server, "reputation_set", u.jid, "10", "--expires", bad,
                     code=FAILED)
        assert "expires" in r.stderr.lower(), (bad, r.stderr)
    ghost = "nobody%s@%s" % (uuid.uuid4().hex[:8], server.domain)
    ctl_json(server, "reputation_set", ghost, "10", code=FAILED)
    ctl_json(server, "reputation_set", "not a jid@@", "10", code=FAILED)
    # Nothing was pinned by any of them.
    assert ctl_json(server, "reputation", u.jid)["pinned"] is False


def test_reputation_query_ctl_list(server, users):
    u = users.new("repq")
    rep = wait_known(server, u.jid)
    rows = ctl_json(server, "reputation_list", "--below", "10", "--max",
                    "10000")
    mine = [row for row in rows if row["jid"] == u.jid]
    assert len(mine) == 1, rows
    assert mine[0]["score"] == rep["score"]
    assert mine[0]["level"] == "probation" and mine[0]["probation"] is True
    assert [row["score"] for row in rows] == sorted(
        row["score"] for row in rows), "lowest first"
    assert all(row["score"] < 10 for row in rows)
    # Nobody scores below -100; --max bounds the rows.
    assert ctl_json(server, "reputation_list", "--below", "-100") == []
    assert len(ctl_json(server, "reputation_list", "--below", "101",
                        "--max", "1")) == 1
    ctl_json(server, "reputation_list", "--max", "0", code=FAILED)
    ctl_json(server, "reputation_list", "--max", "10001", code=FAILED)
    ctl_json(server, "reputation_list", "--below", "ten", code=FAILED)


def test_reputation_query_metrics(server, users):
    u = users.new("repq")
    wait_known(server, u.jid)
    status, body = server.http("GET", "/metrics")
    assert status == 200, body
    text = body.decode()
    for name in ("xmppd_reputation_accounts", "xmppd_reputation_subjects",
                 "xmppd_reputation_evidence_items",
                 "xmppd_reputation_score_computations_total",
                 "xmppd_reputation_evidence_submitted_total",
                 "xmppd_reputation_store_appended_total",
                 "xmppd_reputation_store_queued"):
        assert "# TYPE %s " % name in text, name
    assert 'xmppd_reputation_accounts{level="probation"}' in text
