"""GET /metrics on the admin listener: the Prometheus text format 0.0.4,
behind the API's bearer token, with the core's families, whose counters
move when clients log in and talk.  Also the admin-side pieces that came
with it: xmppctl's --options after the verb, and debug_clock_advance
refused on a server started without --test-clock."""

import math
import re
import urllib.error
import urllib.request

import xmpp_util
from xmpp_util import hard_close

OK, FAILED, USAGE = 0, 1, 2

CORE_FAMILIES = {
    "xmppd_build_info": "gauge",
    "xmppd_uptime_seconds": "gauge",
    "xmppd_c2s_sessions": "gauge",
    "xmppd_s2s_streams": "gauge",
    "xmppd_stanzas_in_total": "counter",
    "xmppd_stanzas_out_total": "counter",
    "xmppd_stream_errors_total": "counter",
    "xmppd_stanza_errors_total": "counter",
    "xmppd_rate_limited_total": "counter",
    "xmppd_routed_stanzas_total": "counter",
    "xmppd_db_queries_total": "counter",
    "xmppd_db_errors_total": "counter",
    "xmppd_db_failed_total": "counter",
    "xmppd_db_rejected_total": "counter",
    "xmppd_db_reconnects_total": "counter",
    "xmppd_db_waiting": "gauge",
    "xmppd_db_in_flight": "gauge",
    "xmppd_db_connections_up": "gauge",
    "xmppd_db_pool_size": "gauge",
    "xmppd_db_query_latency_seconds": "summary",
    "xmppd_db_query_latency_max_seconds": "gauge",
    "xmppd_loop_lag_seconds": "histogram",
    "xmppd_loop_lag_max_seconds": "gauge",
}

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(%s)(?:\{(.*)\})? (\S+)$" % METRIC_NAME)
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count", "")}


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        assert m, "bad labels %r" % text
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return tuple(sorted(labels.items()))


def parse(text):
    """The exposition as {family: type} and {(name, labels): value},
    checking the format on the way: HELP then TYPE once per family before
    its samples, every sample in a declared family, one line each."""
    types, samples, helped = {}, {}, set()
    assert text.endswith("\n")
    for line in text.splitlines():
        assert line, "empty line in the exposition"
        if line.startswith("# HELP "):
            name = line.split(" ", 3)[2]
            assert name not in helped, "HELP twice for %s" % name
            assert len(line.split(" ", 3)) == 4, "HELP without text"
            helped.add(name)
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split(" ")
            assert name in helped, "TYPE before HELP for %s" % name
            assert name not in types, "TYPE twice for %s" % name
            assert kind in ("counter", "gauge", "histogram", "summary",
                            "untyped")
            types[name] = kind
            continue
        assert not line.startswith("#"), line
        m = SAMPLE.match(line)
        assert m, "bad sample line %r" % line
        name, labels, value = m.group(1), m.group(2) or "", m.group(3)
        family = name
        if family not in types:
            for fam, kind in types.items():
                if any(name == fam + s for s in SUFFIXES.get(kind, ())):
                    family = fam
        assert family in types, "sample %s outside any family" % name
        key = (name, parse_labels(labels))
        assert key not in samples, "sample twice: %r" % (key,)
        samples[key] = float(value)
    return types, samples


def scrape(server):
    status, body = server.http("GET", "/metrics")
    assert status == 200, (status, body)
    return parse(body.decode("utf-8"))


def value(samples, name, **labels):
    key = (name, tuple(sorted(labels.items())))
    assert key in samples, "no sample %s%r" % (name, labels)
    return samples[key]


def test_metrics_format_and_core_families(server):
    url = "http://%s:%d/metrics" % (server.host, server.admin_port)
    req = urllib.request.Request(url)
    req.add_header("Authorization", "Bearer " + server.token)
    with urllib.request.urlopen(req, timeout=10) as r:
        ctype = r.headers["Content-Type"]
        text = r.read().decode("utf-8")
    assert ctype.startswith("text/plain; version=0.0.4"), ctype
    types, samples = parse(text)
    for fam, kind in CORE_FAMILIES.items():
        assert types.get(fam) == kind, (fam, types.get(fam))
    for d in ("in", "out"):
        assert value(samples, "xmppd_s2s_streams", direction=d) >= 0
    for st in ("c2s", "s2s"):
        for fam in ("xmppd_stanzas_in_total", "xmppd_stanzas_out_total",
                    "xmppd_stream_errors_total", "xmppd_rate_limited_total"):
            assert value(samples, fam, stream=st) >= 0
    for outcome in ("routed", "delivered", "dropped", "bounced"):
        value(samples, "xmppd_routed_stanzas_total", outcome=outcome)
    assert value(samples, "xmppd_db_connections_up") >= 1
    assert value(samples, "xmppd_uptime_seconds") > 0

    # The lag histogram: cumulative buckets ending at +Inf == count.
    buckets = sorted(
        ((float(dict(lbl)["le"]), v) for (n, lbl), v in samples.items()
         if n == "xmppd_loop_lag_seconds_bucket"),
        key=lambda b: b[0])
    assert len(buckets) == 10 and math.isinf(buckets[-1][0])
    counts = [v for _, v in buckets]
    assert counts == sorted(counts)
    count = value(samples, "xmppd_loop_lag_seconds_count")
    assert counts[-1] == count
    assert count > 0                # the timer runs every 50 ms
    assert value(samples, "xmppd_loop_lag_seconds_sum") >= 0
    assert value(samples, "xmppd_loop_lag_max_seconds") * count >= \
        value(samples, "xmppd_loop_lag_seconds_sum") - 1e-6


async def test_metrics_counters_move_with_traffic(server, users, clients):
    _, before = scrape(server)
    a_user, b_user = users.new("met"), users.new("met")
    a = await clients.login(a_user)
    b = await clients.login(b_user)
    await xmpp_util.exchange_message(a, b)
    _, during = scrape(server)
    await hard_close(a)
    await hard_close(b)

    def moved(name, **labels):
        return value(during, name, **labels) - value(before, name, **labels)

    assert value(during, "xmppd_c2s_sessions") >= 2
    assert moved("xmppd_stanzas_in_total", stream="c2s") >= 1
    assert moved("xmppd_stanzas_out_total", stream="c2s") >= 1
    assert moved("xmppd_routed_stanzas_total", outcome="routed") >= 1
    assert moved("xmppd_routed_stanzas_total", outcome="delivered") >= 1
    # Registering and logging in read and write accounts.
    assert moved("xmppd_db_queries_total") >= 2
    assert moved("xmppd_db_query_latency_seconds_count") >= 2
    assert moved("xmppd_loop_lag_seconds_count") >= 1
    assert moved("xmppd_uptime_seconds") > 0


def test_metrics_needs_the_token(server):
    for token in (None, "wrong-token-0123456789abcdef"):
        status, body = server.http("GET", "/metrics", token=token)
        assert status == 401, (status, body)
        assert b"xmppd_" not in body
    status, _ = server.http("POST", "/metrics", b"")
    assert status == 405
    status, _ = server.http("HEAD", "/metrics")
    assert status == 200


def test_debug_clock_advance_needs_test_clock(server):
    status, body = server.http("POST", "/api/debug_clock_advance",
                               {"seconds": "86400"})
    assert status == 404, (status, body)
    assert b"not enabled" in body
    r = server.ctl("debug_clock_advance", "60")
    assert r.returncode == FAILED, (r.stdout, r.stderr)
    assert "not enabled" in r.stderr


def test_xmppctl_options_after_the_verb(server):
    # --json may follow the verb.
    r = server.ctl("connected_users_number", "--json")
    assert r.returncode == OK, r.stderr
    assert r.stdout.strip().isdigit()
    # An unknown option is a usage error with the verb's synopsis.
    r = server.ctl("reputation_list", "--colour", "red")
    assert r.returncode == USAGE, (r.stdout, r.stderr)
    assert "no option --colour" in r.stderr
    assert "reputation_list [--below SCORE] [--max COUNT]" in r.stderr
    r = server.ctl("reputation_set", "a@b", "--reason")
    assert r.returncode == USAGE
    assert "--reason needs a value" in r.stderr
    r = server.ctl("help", "reputation_set")
    assert r.returncode == OK
    assert "reputation_set JID SCORE [--reason REASON] [--expires WHEN]" \
        in r.stdout
