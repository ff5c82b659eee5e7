#!/bin/bash
# tests/bench/rep.sh: issue 5's reputation benches (make bench runs it after
# run.sh; make bench-rep alone; make builds the programs, this builds
# nothing).  Three benches, each bounded to about a minute:
#
#   score   score lookups per second from memory, one core: an engine with
#           1,000,000 accounts and 200,000 remote JIDs with evidence
#           (build/tests/bench/rep/score, pinned with taskset).  Target:
#           >= 1,000,000 lookups/s.
#   ingest  evidence items committed per second through the write-behind
#           batches (build/tests/bench/rep/ingest: xs_rep_db_append on a
#           libevent loop with pgq) against the single-row INSERT rate
#           pgbench measures on the same private PostgreSQL
#           (tests/bench/rep/insert.sql).  Target: >= 10x.
#   lag     xmppd's event-loop lag (the xmppd_loop_lag_seconds histogram
#           of /metrics) while a chat load (loadgen) and a stream of
#           blocks and spam reports (build/tests/bench/rep/evgen) run and
#           the database is first locked (the evidence table, ACCESS
#           EXCLUSIVE, for a phase) and then restarted.  Target: p99 of
#           the lag samples taken during the disruption < 1 ms, and no chat
#           message lost.  build/tests/bench/rep/lagprobe, an idle loop
#           measuring itself the same way on the same core, is the
#           control: the lag the machine alone causes.
#
# A summary table at the end; RESULT lines in
# build/bench/rep-results-<UTC time>.txt, the table in
# build/bench/rep-summary-<UTC time>.txt.  See tests/bench/README.md.
#
# Knobs (environment):
#   REP_BENCHES="score ingest lag"  which benches to run
#   REP_ACCOUNTS=1000000            score: local accounts
#   REP_REMOTE=200000               score: remote JIDs with evidence
#   REP_LOOKUPS=10000000            score: timed lookups per phase
#   REP_INGEST_SECONDS=15           ingest: pgbench -T and the C program
#   REP_INGEST_ITEMS=1000000        ingest: the C program stops queueing here
#   REP_PG_DURABLE=0                ingest: 1 runs PostgreSQL with its
#                                   durable defaults instead of --fast
#   REP_PHASE=10                    lag: seconds of each measured phase
#   REP_CHAT_RATE=20000             lag: chat msgs/s (loadgen)
#   REP_PAIRS=50                    lag: chat pairs
#   REP_EV_USERS=1000               lag: evgen sessions
#   REP_EV_RATE=200                 lag: block/unblock stanzas/s
#   REP_PG_CORE=1                   lag: core of xmppd's PostgreSQL
#   BENCH_XMPPD, BENCH_LOADGEN      other binaries (build/...)
#   BENCH_KEEP=1                    keep the temporary folder
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$REPO/build/tests/bench/rep
LOADGEN=${BENCH_LOADGEN:-$REPO/build/tests/bench/loadgen}
XMPPD=${BENCH_XMPPD:-$REPO/build/xmppd}
OUT=$REPO/build/bench

BENCHES=${REP_BENCHES:-score ingest lag}
ACCOUNTS=${REP_ACCOUNTS:-1000000}
REMOTE=${REP_REMOTE:-200000}
LOOKUPS=${REP_LOOKUPS:-10000000}
INGEST_S=${REP_INGEST_SECONDS:-15}
INGEST_ITEMS=${REP_INGEST_ITEMS:-1000000}
PG_DURABLE=${REP_PG_DURABLE:-0}
PHASE=${REP_PHASE:-10}
CHAT_RATE=${REP_CHAT_RATE:-20000}
PAIRS=${REP_PAIRS:-50}
EV_USERS=${REP_EV_USERS:-1000}
EV_RATE=${REP_EV_RATE:-200}
PG_CORE=${REP_PG_CORE:-1}

DOMAIN=localhost
PASSWORD=benchpw
SERVER_CORE=0
GEN_CORE=1
XMPPD_C2S=35622
XMPPD_ADMIN=35680

say() { printf '== %s\n' "$*"; }
die() { printf 'rep bench: %s\n' "$*" >&2; exit 1; }

# ---- checks --------------------------------------------------------------

PY=/usr/bin/python3
[ -x "$PY" ] || die "/usr/bin/python3 is missing"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
[ "$(nproc)" -ge 2 ] || die "needs 2 cores"
for b in $BENCHES; do
    case $b in
    score)
        [ -x "$BIN/score" ] || die "$BIN/score is missing (make bench-rep)"
        ;;
    ingest)
        [ -x "$BIN/ingest" ] || die "$BIN/ingest is missing (make bench-rep)"
        command -v pgbench >/dev/null || die "pgbench is missing" \
            "(postgresql-contrib / postgresql-client)"
        ;;
    lag)
        for p in evgen lagprobe; do
            [ -x "$BIN/$p" ] || die "$BIN/$p is missing (make bench-rep)"
        done
        [ -x "$XMPPD" ] || die "$XMPPD is missing (make bench-rep)"
        [ -x "$LOADGEN" ] || die "$LOADGEN is missing (make bench-rep)"
        ;;
    *) die "unknown bench in REP_BENCHES: $b" ;;
    esac
done

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( EV_USERS + 2 * PAIRS + 200 ))
[ "$(ulimit -n)" -ge "$need" ] || die "ulimit -n is $(ulimit -n); $need needed"

BASE=$(mktemp -d /tmp/xmppd-rep.XXXXXX)
chmod 755 "$BASE"            # postgres must reach its folders
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$OUT/rep-results-$STAMP.txt
: >"$RESULTS"
T_START=$(date +%s)

XMPPD_PID=""
PROBE_PID=""
EVGEN_PID=""
CHAT_PID=""
LOCK_PID=""
PG_DIRS=""

stop_pid() {    # PID: SIGTERM, wait up to 15 s, then SIGKILL
    local pid=$1
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$LOCK_PID"
    stop_pid "$EVGEN_PID"
    stop_pid "$CHAT_PID"
    stop_pid "$XMPPD_PID"
    stop_pid "$PROBE_PID"
    for d in $PG_DIRS; do
        "$REPO/deploy/pg.sh" stop "$d" >/dev/null 2>&1 || true
    done
    if [ "${BENCH_KEEP:-}" = 1 ]; then
        echo "rep bench: kept $BASE"
    else
        rm -rf "$BASE"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {   # PORT SECONDS
    local port=$1
    for _ in $(seq $(( $2 * 10 ))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

pg_start() {    # DIR CORE [--fast]: the postmaster inherits the pinning
    local d=$1 core=$2
    shift 2
    taskset -c "$core" "$REPO/deploy/pg.sh" start "$d" "$@" ||
        die "PostgreSQL ($d) did not start"
    case " $PG_DIRS " in *" $d "*) ;; *) PG_DIRS="$PG_DIRS $d" ;; esac
}

psql_in() {     # DIR SQL: unaligned output
    psql -h "$1" -U xmppd -d xmppd -X -q -At -v ON_ERROR_STOP=1 -c "$2"
}

# This script's own helpers (curl, awk, psql, python) run on the
# generators' core: on core 0 they would preempt xmppd (or score) and show
# up as its lag.  Whatever must run elsewhere is started with taskset.
taskset -cp "$GEN_CORE" $$ >/dev/null || die "taskset -p failed"

say "machine: $(nproc --all) cores, $(grep -m1 'model name' /proc/cpuinfo |
    sed 's/.*: //'), $(free -g | awk '/Mem:/ {print $2}') GiB," \
    "kernel $(uname -r); load average $(cut -d' ' -f1-3 /proc/loadavg)"
say "temporary folder: $BASE; results: $RESULTS"

# ---- 1. score lookups ----------------------------------------------------

run_score() {
    say "score: $ACCOUNTS accounts, $REMOTE remote JIDs, $LOOKUPS lookups a" \
        "phase, pinned to core $SERVER_CORE"
    taskset -c "$SERVER_CORE" "$BIN/score" --accounts "$ACCOUNTS" \
        --remote "$REMOTE" --lookups "$LOOKUPS" | tee -a "$RESULTS" ||
        say "score: a phase missed its target"
}

# ---- 2. ingestion: batches against single-row inserts -------------------

run_ingest() {
    local d=$BASE/pg-ingest mode=--fast tps
    local label="--fast (fsync and synchronous_commit off, as in the tests)"
    if [ "$PG_DURABLE" = 1 ]; then
        mode=""
        label="durable defaults"
    fi
    say "ingest: private PostgreSQL, $label, on core $SERVER_CORE;" \
        "clients on core $GEN_CORE"
    # shellcheck disable=SC2086 # mode is one word or none
    pg_start "$d" "$SERVER_CORE" $mode
    taskset -c "$GEN_CORE" "$BIN/ingest" --pg "$d" --migrate-only ||
        die "ingest: migrations failed"
    psql_in "$d" "CHECKPOINT" >/dev/null

    say "ingest (a): pgbench, one single-row INSERT per transaction," \
        "$INGEST_S s"
    taskset -c "$GEN_CORE" pgbench -h "$d" -U xmppd -n -c 1 -M prepared \
        -T "$INGEST_S" -f "$REPO/tests/bench/rep/insert.sql" xmppd \
        >"$BASE/pgbench.log" 2>&1 || {
        cat "$BASE/pgbench.log" >&2
        die "pgbench failed"
    }
    sed 's/^/# /' "$BASE/pgbench.log"
    tps=$(awk '/^tps = / {print $3; exit}' "$BASE/pgbench.log")
    [ -n "$tps" ] || die "no tps in pgbench's output"
    echo "RESULT server=xmppd scenario=rep_single_insert seconds=$INGEST_S" \
        "rows=$(psql_in "$d" "SELECT count(*) FROM reputation_evidence")" \
        "rows_per_s=$tps" | tee -a "$RESULTS"

    # The same empty table for both.
    psql_in "$d" "TRUNCATE reputation_evidence" >/dev/null
    psql_in "$d" "CHECKPOINT" >/dev/null
    say "ingest (b): xs_rep_db_append through pgq, $INGEST_S s or" \
        "$INGEST_ITEMS items"
    taskset -c "$GEN_CORE" "$BIN/ingest" --pg "$d" --seconds "$INGEST_S" \
        --items "$INGEST_ITEMS" | tee -a "$RESULTS" ||
        say "ingest: not every item was committed and stored"
    "$REPO/deploy/pg.sh" stop "$d" >/dev/null
}

# ---- 3. loop lag while the database is slow or restarting ---------------

TOKEN=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')

# Register PREFIX1..PREFIXN through the admin API (as run.sh does).
xmppd_register() {  # PREFIX N
    taskset -c "$GEN_CORE" "$PY" - "$XMPPD_ADMIN" "$TOKEN" "$DOMAIN" "$@" \
        "$PASSWORD" <<'EOF' || die "registration failed"
import json, sys, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
port, token, host, prefix, n, pw = (int(sys.argv[1]), sys.argv[2],
    sys.argv[3], sys.argv[4], int(sys.argv[5]), sys.argv[6])
url = "http://127.0.0.1:%d/api/register" % port
def reg(i):
    body = json.dumps({"user": "%s%d" % (prefix, i), "host": host,
                       "password": pw}).encode()
    req = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json",
        "Authorization": "Bearer " + token})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
t = time.time()
with ThreadPoolExecutor(8) as ex:
    codes = list(ex.map(reg, range(1, n + 1)))
bad = [c for c in codes if c != 200]
print("== xmppd: %d accounts %s1.. at %s in %.1f s, %d failed" % (n, prefix,
      host, time.time() - t, len(bad)))
sys.exit(1 if bad else 0)
EOF
}

# The probe's histogram now as $BASE/probe-NAME.txt: SIGUSR1 makes it
# rewrite probe.txt; wait (at most 2 s) until its dump counter moves.
probe_dump() {  # NAME
    local before now
    before=$(awk '$1 == "probe_dumps_total" {print $2}' \
        "$BASE/probe.txt" 2>/dev/null || true)
    kill -USR1 "$PROBE_PID"
    for _ in $(seq 200); do
        now=$(awk '$1 == "probe_dumps_total" {print $2}' \
            "$BASE/probe.txt" 2>/dev/null || true)
        [ -n "$now" ] && [ "$now" != "$before" ] && break
        sleep 0.01
    done
    cp "$BASE/probe.txt" "$BASE/probe-$1.txt"
}

# Save xmppd's /metrics as $BASE/metrics-NAME.txt, the scheduler's
# figures of its loop thread (run time, time spent waiting for the CPU,
# ns) as sched-NAME.txt, and the probe's histogram as probe-NAME.txt.
scrape() {  # NAME
    curl -sf -m 10 -H "Authorization: Bearer $TOKEN" \
        "http://127.0.0.1:$XMPPD_ADMIN/metrics" >"$BASE/metrics-$1.txt" ||
        die "GET /metrics failed"
    cat "/proc/$XMPPD_PID/schedstat" >"$BASE/sched-$1.txt" 2>/dev/null ||
        echo "0 0 0" >"$BASE/sched-$1.txt"
    probe_dump "$1"
}

metric() {  # NAME FAMILY: the value of an unlabelled sample, or 0
    awk -v f="$2" '$1 == f {print $2; found=1} END {if (!found) print 0}' \
        "$BASE/metrics-$1.txt"
}

# Until the pool is back to full strength after a restart (at most S s).
wait_db_up() {  # SECONDS
    local pool up
    for _ in $(seq $(( $1 * 4 ))); do
        scrape poll
        pool=$(metric poll xmppd_db_pool_size)
        up=$(metric poll xmppd_db_connections_up)
        [ "$pool" != 0 ] && [ "$up" = "$pool" ] && return 0
        sleep 0.25
    done
    return 1
}

run_lag() {
    local d=$BASE/pg chat_s t
    say "lag: xmppd on core $SERVER_CORE (alone), its PostgreSQL (durable" \
        "defaults) on core $PG_CORE, the generators on core $GEN_CORE"
    pg_start "$d" "$PG_CORE"
    "$REPO/deploy/gen-cert.sh" "$BASE/certs" "$DOMAIN" >/dev/null
    cat >"$BASE/xmppd.yml" <<EOF
# Written by tests/bench/rep.sh (like run.sh's).
hosts: [$DOMAIN]
loglevel: info
certfiles: [certs/$DOMAIN.pem]
state_dir: .
sql_server: $d
sql_database: xmppd
sql_username: xmppd
c2s_max_connections: $(( EV_USERS + 2 * PAIRS + 1000 ))
listen:
  - {port: $XMPPD_C2S, ip: 127.0.0.1, module: c2s}
  - {port: $XMPPD_ADMIN, ip: 127.0.0.1, module: admin_http, token: "$TOKEN"}
EOF
    ( cd "$BASE" && exec taskset -c "$SERVER_CORE" "$XMPPD" \
        --config "$BASE/xmppd.yml" >>"$BASE/xmppd.log" 2>&1 ) &
    XMPPD_PID=$!
    # The control: an idle loop measuring itself the same way, on the
    # same core.
    taskset -c "$SERVER_CORE" "$BIN/lagprobe" --out "$BASE/probe.txt" &
    PROBE_PID=$!
    if ! wait_port "$XMPPD_C2S" 30 || ! wait_port "$XMPPD_ADMIN" 5; then
        tail -n 20 "$BASE/xmppd.log" >&2 || true
        die "xmppd did not start (its log is above)"
    fi
    xmppd_register bench $(( 2 * PAIRS ))
    xmppd_register ev "$EV_USERS"
    scrape start
    grep -q '^xmppd_loop_lag_seconds_bucket' "$BASE/metrics-start.txt" ||
        die "no xmppd_loop_lag_seconds in /metrics (xmppd too old?)"
    grep -q '^xmppd_reputation_store_appended_total' \
        "$BASE/metrics-start.txt" ||
        say "lag: warning: no xmppd_reputation_* in /metrics:" \
            "mod_reputation is not loaded, blocks make no evidence"

    # The chat step must outlast every phase: the lead-in, steady, lock,
    # settle and restart phases and slack.
    chat_s=$(( 2 * PHASE + 30 ))
    say "lag: chat $PAIRS pairs at $CHAT_RATE msgs/s for $chat_s s," \
        "blocks/unblocks at $EV_RATE/s from $EV_USERS sessions"
    taskset -c "$GEN_CORE" "$LOADGEN" --label xmppd-rep --domain "$DOMAIN" \
        --password "$PASSWORD" --users $(( 2 * PAIRS )) --mode chat \
        --port "$XMPPD_C2S" --pairs "$PAIRS" --rate "$CHAT_RATE" \
        --duration "$chat_s" --server-pid "$XMPPD_PID" \
        --server-core "$SERVER_CORE" >"$BASE/chat.log" 2>&1 &
    CHAT_PID=$!
    taskset -c "$GEN_CORE" "$BIN/evgen" --port "$XMPPD_C2S" \
        --domain "$DOMAIN" --password "$PASSWORD" --users "$EV_USERS" \
        --rate "$EV_RATE" >"$BASE/evgen.log" 2>&1 &
    EVGEN_PID=$!
    for _ in $(seq 600); do
        grep -q 'evgen: sending' "$BASE/evgen.log" && break
        kill -0 "$EVGEN_PID" 2>/dev/null || break
        sleep 0.1
    done
    grep -q 'evgen: sending' "$BASE/evgen.log" || {
        cat "$BASE/evgen.log" >&2
        die "evgen did not start sending"
    }
    sleep 3         # past the chat's warm-up

    say "lag: phase 1, steady load ($PHASE s)"
    scrape p1a; sleep "$PHASE"; scrape p1b

    say "lag: phase 2, reputation_evidence locked ACCESS EXCLUSIVE for" \
        "$PHASE s"
    scrape p2a
    psql -h "$d" -U xmppd -d xmppd -X -q -v ON_ERROR_STOP=1 \
        -c "BEGIN" \
        -c "LOCK TABLE reputation_evidence IN ACCESS EXCLUSIVE MODE" \
        -c "SELECT pg_sleep($PHASE)" -c "COMMIT" >/dev/null &
    LOCK_PID=$!
    sleep $(( PHASE / 2 )); scrape p2mid
    wait "$LOCK_PID" || die "the lock session failed"
    LOCK_PID=""
    scrape p2b
    say "lag: during the lock the store held" \
        "$(metric p2mid xmppd_reputation_store_queued) items waiting"
    sleep 3         # the store catches up

    say "lag: phase 3, PostgreSQL stopped (fast shutdown), down 3 s," \
        "started again"
    scrape p3a
    t=$(date +%s.%N)
    "$REPO/deploy/pg.sh" stop "$d" >/dev/null
    sleep 3
    scrape p3down
    pg_start "$d" "$PG_CORE"
    wait_db_up 30 || say "lag: warning: the pool was not back after 30 s"
    sleep 2
    scrape p3b
    say "lag: restart phase $(awk -v t="$t" -v n="$(date +%s.%N)" \
        'BEGIN {printf "%.1f", n - t}') s; the store held" \
        "$(metric p3down xmppd_reputation_store_queued) items waiting" \
        "while the database was down"

    stop_pid "$EVGEN_PID"
    wait "$EVGEN_PID" 2>/dev/null || true
    EVGEN_PID=""
    say "lag: waiting for the chat step to end"
    wait "$CHAT_PID" || true
    CHAT_PID=""
    scrape end
    grep -v '^{' "$BASE/chat.log" | tee -a "$RESULTS" || true
    tee -a "$RESULTS" <"$BASE/evgen.log" || true

    "$PY" - "$BASE" <<'EOF' | tee -a "$RESULTS"
import sys
base = sys.argv[1]
INF = float("inf")
def load(kind, name):
    m = {}
    for line in open("%s/%s-%s.txt" % (base, kind, name)):
        if line.startswith("#") or not line.strip():
            continue
        key, _, val = line.rpartition(" ")
        try:
            m[key] = float(val)
        except ValueError:
            pass
    return m
def buckets(m, family):
    out = {}
    pre = family + '_bucket{le="'
    for k, v in m.items():
        if k.startswith(pre):
            le = k[len(pre):].split('"')[0]
            out[INF if le == "+Inf" else float(le)] = v
    return out
def window(kind, family, pairs):
    # The bucket counts of the samples between each (before, after) pair.
    acc = {}
    for a, b in pairs:
        ba = buckets(load(kind, a), family)
        for le, v in buckets(load(kind, b), family).items():
            acc[le] = acc.get(le, 0) + v - ba.get(le, 0)
    return sorted(acc.items())
def sched(pairs):
    # ms the loop thread ran and waited for the CPU (schedstat, ns).
    run = wait = 0
    for a, b in pairs:
        va, vb = ([int(x) for x in open("%s/sched-%s.txt" % (base, n)).read()
                   .split()] for n in (a, b))
        run += vb[0] - va[0]
        wait += vb[1] - va[1]
    return run / 1e6, wait / 1e6
def ms(s):
    return "inf" if s == INF else "%.2f" % (s * 1000)
def stats(scenario, name, cum, extra=""):
    n = cum[-1][1] if cum else 0
    if n <= 0:
        return "RESULT server=xmppd scenario=%s window=%s samples=0" % (
            scenario, name)
    rank = 0.99 * n
    # Linear inside the bucket, as Prometheus' histogram_quantile does.
    prev_le, prev_c, p99, p99_le = 0.0, 0.0, 0.0, INF
    for le, c in cum:
        if c >= rank:
            p99_le = le
            p99 = prev_le if le == INF else prev_le + (le - prev_le) * \
                (rank - prev_c) / max(c - prev_c, 1e-9)
            break
        prev_le, prev_c = le, c
    within = dict(cum).get(0.001, 0) / n
    top, prev = 0.0, 0
    for le, c in cum:
        if c > prev:
            top = le
        prev = c
    return ("RESULT server=xmppd scenario=%s window=%s samples=%d "
            "within_1ms=%.4f p99_bucket_ms=%s p99_ms=%.3f max_bucket_ms=%s%s "
            "pass=%s" % (scenario, name, n, within, ms(p99_le), p99 * 1000,
            ms(top), extra, "yes" if within >= 0.99 else "no"))
for name, pairs in (("steady", [("p1a", "p1b")]),
                    ("lock", [("p2a", "p2b")]),
                    ("restart", [("p3a", "p3b")]),
                    ("disruption", [("p2a", "p2b"), ("p3a", "p3b")])):
    run, wait = sched(pairs)
    print(stats("rep_lag", name, window("metrics", "xmppd_loop_lag_seconds",
        pairs), " cpu_ms=%.0f runq_wait_ms=%.1f" % (run, wait)))
    print(stats("rep_lag_probe", name, window("probe",
        "probe_loop_lag_seconds", pairs)))
s, e = load("metrics", "start"), load("metrics", "end")
d = lambda k: e.get(k, 0) - s.get(k, 0)
print("RESULT server=xmppd scenario=rep_lag_store appended=%d batches=%d "
      "retries=%d dropped=%d db_reconnects=%d db_failed=%d "
      "loop_lag_max_ms=%.2f" % (
      d("xmppd_reputation_store_appended_total"),
      d("xmppd_reputation_store_batches_total"),
      d("xmppd_reputation_store_retries_total"),
      d("xmppd_reputation_store_dropped_total"),
      d("xmppd_db_reconnects_total"), d("xmppd_db_failed_total"),
      e.get("xmppd_loop_lag_max_seconds", 0) * 1000))
EOF
    stop_pid "$XMPPD_PID"
    XMPPD_PID=""
    stop_pid "$PROBE_PID"
    PROBE_PID=""
    "$REPO/deploy/pg.sh" stop "$d" >/dev/null
}

for b in $BENCHES; do
    case $b in
    score) run_score ;;
    ingest) run_ingest ;;
    lag) run_lag ;;
    esac
done

# ---- the summary ---------------------------------------------------------

say "done in $(( $(date +%s) - T_START )) s; load average now" \
    "$(cut -d' ' -f1-3 /proc/loadavg)"
"$PY" - "$RESULTS" <<'EOF' | tee "$OUT/rep-summary-$STAMP.txt"
import sys
rows = []
for line in open(sys.argv[1]):
    if line.startswith("RESULT "):
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]
                         if "=" in kv))
def pick(scenario, **want):
    found = None
    for r in rows:
        if r.get("scenario") == scenario and \
                all(r.get(k) == v for k, v in want.items()):
            found = r
    return found
def num(r, k):
    try:
        return float(r[k])
    except (TypeError, KeyError, ValueError):
        return None
def fmt(v, nd=0):
    return "-" if v is None else "{:,.{}f}".format(v, nd)
def verdict(ok):
    return "-" if ok is None else ("met" if ok else "MISSED")
lines = []
def row(figure, value, target, ok):
    lines.append("| %-58s | %20s | %-17s | %-7s |" % (figure, value,
                                                        target, verdict(ok)))
c = pick("rep_score", phase="cached")
i = pick("rep_score", phase="invalidated")
r = pick("rep_score", phase="recompute")
w = pick("rep_walk")
for label, p in (("cached", c), ("after invalidation", i)):
    v = num(p, "lookups_per_s")
    row("score lookups/s, one core (%s)" % label,
        fmt(v) + (" (%s ns)" % fmt(num(p, "ns_per_lookup"), 1)
                  if v is not None else ""), ">= 1,000,000",
        None if v is None else v >= 1e6)
v = num(r, "lookups_per_s")
row("  score recomputations/s (every lookup computes)", fmt(v), "", None)
if w is not None:
    row("  walks of %s accounts (ms): /metrics, reputation_list" %
        fmt(num(w, "accounts")), "%s, %s" % (fmt(num(w, "stats_ms"), 1),
        fmt(num(w, "list_below_ms"), 1)), "one loop callback", None)
a = pick("rep_single_insert")
b = pick("rep_ingest")
va, vb = num(a, "rows_per_s"), num(b, "items_per_s")
row("single-row INSERTs/s (pgbench -c 1 -M prepared)", fmt(va), "", None)
row("evidence items/s committed through batches", fmt(vb), "", None)
ratio = None if va in (None, 0) or vb is None else vb / va
row("  ratio", "-" if ratio is None else "%.1fx" % ratio, ">= 10x",
    None if ratio is None else ratio >= 10 and b.get("check") == "ok")
for name in ("steady", "lock", "restart", "disruption"):
    l = pick("rep_lag", window=name)
    pr = pick("rep_lag_probe", window=name)
    v, vp = num(l, "p99_ms"), num(pr, "p99_ms")
    row("loop lag p99 (ms), %s (%s samples)" % (name, fmt(num(l,
        "samples"))), "-" if v is None else "%.3f (<= %s)" % (v,
        l.get("p99_bucket_ms")), "< 1 ms" if name == "disruption" else "",
        None if v is None or name != "disruption" else
        l.get("pass") == "yes")
    row("  idle probe on the same core, p99 (ms)", "-" if vp is None else
        "%.3f (<= %s)" % (vp, pr.get("p99_bucket_ms")), "machine noise",
        None)
    row("  samples <= 1 ms: xmppd, probe", "-" if v is None or vp is None
        else "%.1f%%, %.1f%%" % (100 * num(l, "within_1ms"),
        100 * num(pr, "within_1ms")), ">= 99%", None)
    row("  xmppd's loop thread: waited for the CPU (ms)",
        fmt(num(l, "runq_wait_ms"), 1), "other work", None)
ch = pick("chat")
if ch is not None:
    lost, dropped = num(ch, "lost"), num(ch, "dropped")
    row("chat messages lost during it (%s msgs/s)" % fmt(num(ch, "rate")),
        "%s lost, %s dropped" % (fmt(lost), fmt(dropped)), "0",
        lost == 0 and dropped == 0)
ev = pick("rep_evidence")
st = pick("rep_lag_store")
if ev is not None:
    row("  blocks/unblocks answered / sent", "%s / %s" % (fmt(num(ev,
        "results") + num(ev, "errors")), fmt(num(ev, "sent"))), "",
        None)
if st is not None:
    row("  evidence items committed, retried batches",
        "%s, %s" % (fmt(num(st, "appended")), fmt(num(st, "retries"))), "",
        None)
print("| %-58s | %20s | %-17s | %-7s |" % ("figure", "value", "target",
                                            "verdict"))
print("|" + "-" * 60 + "|" + "-" * 22 + "|" + "-" * 19 + "|" + "-" * 9 + "|")
print("\n".join(lines))
d, p = pick("rep_lag", window="disruption"), \
    pick("rep_lag_probe", window="disruption")
if p is not None and num(p, "within_1ms") is not None and \
        num(p, "within_1ms") < 0.99:
    print("\nnote: the idle probe on xmppd's core had only %.1f%% of its "
          "samples within 1 ms during the disruption (xmppd's loop thread "
          "waited %s ms for the CPU): the machine, not xmppd, sets that "
          "tail; re-run on a quiet machine" % (100 * num(p, "within_1ms"),
          fmt(num(d, "runq_wait_ms"))))
EOF
