"""mod_audit's operator side, end to end: the verbs audit_tail and
audit JID over the admin API and xmppctl read audit_log (newest first,
at in RFC 3339, the explanation as JSON, NULL columns as null), refuse bad
arguments, and the module's /metrics families are there.

Entries are written here straight into the server's PostgreSQL: the only
producer in the server is the subscription gate, whose rejections showing
in audit_tail are the gate's own tests.  Every row of this file has a kind
and subjects of its own and is deleted at the end, so audit_tail on the
shared server is left as it was."""

import json
import re
import secrets

import pytest

from conftest import ApiError
from xmpp_util import psql_rows

OK, FAILED, USAGE = 0, 1, 2
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
COLUMNS = ["at", "kind", "subject", "recipient", "decision", "reason",
           "score", "domain_score", "flag", "explanation"]

# Texts that SQL, JSON and array literals treat specially.
AWKWARD = ["it's a \"quote\"", "back\\slash", "{braces},{more}",
           "caf\u00e9 \u65e5\u672c \U0001F642", "tab\there"]


def sql_str(s):
    return "'" + s.replace("'", "''") + "'"


def sql_json(v):
    return sql_str(json.dumps(v)) + "::jsonb"


@pytest.fixture
def audit_rows(server):
    """Three entries about one remote sender (one with no recipient, no
    scores and no flag) and one about its domain, one second apart, with
    a kind of their own.  Yields (kind, sender, domain, explanation)."""
    tag = secrets.token_hex(4)
    kind = "test_audit_" + tag
    domain = "spam-%s.example" % tag
    sender = "bot@" + domain
    expl = [{"what": w, "source_kind": "user", "source": "x@localhost",
             "points": -2.5, "age": "1d 2h", "note": w} for w in AWKWARD]
    values = []
    for i, (subject, recipient, score, dscore, flag, decision) in \
            enumerate([(sender, "alice@localhost", -40, 5, "absent",
                        "reject"),
                       (sender, None, None, None, None, "deliver"),
                       (domain, None, None, -30, None, "distrust"),
                       (sender, "bob@localhost", -41, 4, "bad_signature",
                        "reject")]):
        values.append("(now() - interval '%d seconds', %s, %s, %s, %s,"
                      " 'reason_%d', %s, %s, %s, %s)" % (
                          100 - i, sql_str(kind), sql_str(subject),
                          sql_str(recipient) if recipient else "NULL",
                          sql_str(decision), i,
                          score if score is not None else "NULL",
                          dscore if dscore is not None else "NULL",
                          sql_str(flag) if flag else "NULL",
                          sql_json(expl if i != 1 else [])))
    psql_rows(server, "INSERT INTO audit_log (at, kind, subject, recipient,"
              " decision, reason, score, domain_score, flag, explanation)"
              " VALUES " + ", ".join(values))
    yield kind, sender, domain, expl
    psql_rows(server, "DELETE FROM audit_log WHERE kind = %s"
              % sql_str(kind))


def test_audit_tail_newest_first(server, audit_rows):
    kind, sender, domain, expl = audit_rows
    rows = server.api("audit_tail", kind=kind)
    assert [r["reason"] for r in rows] == \
        ["reason_3", "reason_2", "reason_1", "reason_0"]
    newest = rows[0]
    assert RFC3339.match(newest["at"]), newest["at"]
    assert newest["at"] > rows[-1]["at"]
    assert newest["kind"] == kind
    assert newest["subject"] == sender
    assert newest["recipient"] == "bob@localhost"
    assert newest["decision"] == "reject"
    assert newest["score"] == -41 and newest["domain_score"] == 4
    assert newest["flag"] == "bad_signature"
    assert newest["explanation"] == expl
    assert isinstance(newest["id"], int)
    bare = rows[2]
    assert bare["recipient"] is None and bare["flag"] is None
    assert bare["score"] is None and bare["domain_score"] is None
    assert bare["explanation"] == []

    # --n cuts from the newest end.
    rows = server.api("audit_tail", kind=kind, n="2")
    assert [r["reason"] for r in rows] == ["reason_3", "reason_2"]
    # Without --kind: the newest entries of every kind (ours among them
    # unless something newer came in between).
    rows = server.api("audit_tail", n="1000")
    assert len(rows) <= 1000
    assert all(RFC3339.match(r["at"]) for r in rows)
    assert [r["at"] for r in rows] == sorted((r["at"] for r in rows),
                                             reverse=True)


def test_audit_by_subject(server, audit_rows):
    kind, sender, domain, expl = audit_rows
    # The JID is prepared first: case and a resource do not matter.
    rows = server.api("audit", jid="BOT@" + domain.upper() + "/res")
    assert [r["reason"] for r in rows] == \
        ["reason_3", "reason_1", "reason_0"]
    assert all(r["subject"] == sender for r in rows)
    rows = server.api("audit", jid=sender, n="1")
    assert [r["reason"] for r in rows] == ["reason_3"]
    # A domain is a subject of its own.
    rows = server.api("audit", jid=domain)
    assert [(r["subject"], r["decision"], r["domain_score"])
            for r in rows] == [(domain, "distrust", -30)]
    assert server.api("audit", jid="nobody@" + domain) == []


def test_audit_xmppctl(server, audit_rows):
    kind, sender, domain, expl = audit_rows
    r = server.ctl("audit_tail", "--kind", kind, "--n", "2")
    assert r.returncode == OK, r.stderr
    lines = r.stdout.splitlines()
    assert len(lines) == 2
    cells = lines[0].split("\t")
    assert len(cells) == len(COLUMNS)
    row = dict(zip(COLUMNS, cells))
    assert RFC3339.match(row["at"])
    assert (row["kind"], row["subject"], row["recipient"], row["decision"],
            row["reason"], row["score"], row["domain_score"],
            row["flag"]) == (kind, sender, "bob@localhost", "reject",
                             "reason_3", "-41", "4", "bad_signature")
    # The explanation's lines, each as compact JSON, joined with ';'.
    assert row["explanation"].startswith('{"age":"1d 2h"')
    assert row["explanation"].count(';{"age"') == len(expl) - 1
    # Empty cells for NULL.
    cells = lines[1].split("\t")
    assert cells[3] == "" and cells[6] == "" and cells[8] == ""
    assert cells[9] != ""
    r = server.ctl("audit", domain)
    assert r.returncode == OK, r.stderr
    assert len(r.stdout.splitlines()) == 1
    assert r.stdout.split("\t")[4] == "distrust"
    r = server.ctl("audit", "nobody@" + domain, "--json")
    assert r.returncode == OK, r.stderr
    assert json.loads(r.stdout) == []
    r = server.ctl("help", "audit_tail")
    assert r.returncode == OK
    assert "audit_tail [--n N] [--kind KIND]" in r.stdout


@pytest.mark.parametrize("cmd,args", [
    ("audit_tail", {"n": "0"}),
    ("audit_tail", {"n": "1001"}),
    ("audit_tail", {"n": "ten"}),
    ("audit_tail", {"n": " 5"}),
    ("audit_tail", {"n": "5x"}),
    ("audit_tail", {"kind": ""}),
    ("audit_tail", {"kind": "k" * 65}),
    ("audit", {"jid": "a@b@c"}),
    ("audit", {"jid": ""}),
    ("audit", {"jid": "bot@example.org", "n": "-1"}),
])
def test_audit_bad_arguments(server, cmd, args):
    with pytest.raises(ApiError) as e:
        server.api(cmd, **args)
    assert e.value.status == 400, e.value.body


def test_audit_metrics(server):
    status, body = server.http("GET", "/metrics")
    assert status == 200
    text = body.decode()
    for line in ["# TYPE xmppd_audit_entries_total counter",
                 "# TYPE xmppd_audit_queue gauge",
                 "# TYPE xmppd_audit_written_total counter",
                 "# TYPE xmppd_audit_dropped_total counter"]:
        assert line in text.splitlines(), line
    assert re.search(r'^xmppd_audit_dropped_total\{reason="queue_full"\} '
                     r'\d+$', text, re.M)
    assert re.search(r"^xmppd_audit_queue \d+$", text, re.M)
