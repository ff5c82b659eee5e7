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
BENCH_NAME="rep bench"
# shellcheck source=tests/bench/lib.sh
. "$REPO/tests/bench/lib.sh"
BIN=$REPO/build/tests/bench/rep
LOADGEN=${BENCH_LOADGEN:-$REPO/build/tests/bench/loadgen}
XMPPD=${BENCH_XMPPD:-$REPO/build/xmppd}

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
XMPPD_C2S=35622
XMPPD_ADMIN=35680

# ---- checks --------------------------------------------------------------

bench_check_machine
check_score() { bench_need "make bench-rep" "$BIN/score"; }
check_ingest() {
    bench_need "make bench-rep" "$BIN/ingest"
    command -v pgbench >/dev/null || die "pgbench is missing" \
        "(postgresql-contrib / postgresql-client)"
}
check_lag() {
    bench_need "make bench-rep" "$BIN/evgen" "$BIN/lagprobe" "$XMPPD" \
        "$LOADGEN"
}
# shellcheck disable=SC2086 # one word per bench
bench_check REP_BENCHES $BENCHES

nofile_need $(( EV_USERS + 2 * PAIRS + 200 ))

XMPPD_PID="" PROBE_PID="" EVGEN_PID="" CHAT_PID="" LOCK_PID=""
BENCH_PIDS="LOCK_PID EVGEN_PID CHAT_PID XMPPD_PID PROBE_PID"
# Pinned to the generators' core: this script's helpers on core 0 would
# preempt xmppd (or score) and show up as its lag.
bench_init xmppd-rep rep- "$GEN_CORE"

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
    pg_stop "$d"
}

# ---- 3. loop lag while the database is slow or restarting ---------------

TOKEN=$(bench_token)

# Save xmppd's /metrics as $BASE/metrics-NAME.txt, the scheduler's
# figures of its loop thread (run time, time spent waiting for the CPU,
# ns) as sched-NAME.txt, and the probe's histogram as probe-NAME.txt.
scrape() {  # NAME
    metrics_get "$XMPPD_ADMIN" "$TOKEN" "$BASE/metrics-$1.txt"
    schedstat_get "$XMPPD_PID" "$BASE/sched-$1.txt"
    probe_dump "$1"
}

# Until the pool is back to full strength after a restart (at most S s).
wait_db_up() {  # SECONDS
    local pool up
    for _ in $(seq $(( $1 * 4 ))); do
        scrape poll
        pool=$(metric "$BASE/metrics-poll.txt" xmppd_db_pool_size)
        up=$(metric "$BASE/metrics-poll.txt" xmppd_db_connections_up)
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
    probe_start "$BIN/lagprobe" "$SERVER_CORE"
    if ! wait_port "$XMPPD_C2S" 30 || ! wait_port "$XMPPD_ADMIN" 5; then
        tail -n 20 "$BASE/xmppd.log" >&2 || true
        die "xmppd did not start (its log is above)"
    fi
    xmppd_register "$XMPPD_ADMIN" "$TOKEN" "$DOMAIN" bench $(( 2 * PAIRS ))
    xmppd_register "$XMPPD_ADMIN" "$TOKEN" "$DOMAIN" ev "$EV_USERS"
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
        "$(metric "$BASE/metrics-p2mid.txt" \
            xmppd_reputation_store_queued) items waiting"
    sleep 3         # the store catches up

    say "lag: phase 3, PostgreSQL stopped (fast shutdown), down 3 s," \
        "started again"
    scrape p3a
    t=$(date +%s.%N)
    pg_stop "$d"
    sleep 3
    scrape p3down
    pg_start "$d" "$PG_CORE"
    wait_db_up 30 || say "lag: warning: the pool was not back after 30 s"
    sleep 2
    scrape p3b
    say "lag: restart phase $(awk -v t="$t" -v n="$(date +%s.%N)" \
        'BEGIN {printf "%.1f", n - t}') s; the store held" \
        "$(metric "$BASE/metrics-p3down.txt" \
            xmppd_reputation_store_queued) items waiting" \
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

    py - "$BASE" <<'EOF' | tee -a "$RESULTS"
import sys
from benchlib import delta, lag_lines, load
base = sys.argv[1]
lag_lines(base, "rep_lag", (("steady", [("p1a", "p1b")]),
                            ("lock", [("p2a", "p2b")]),
                            ("restart", [("p3a", "p3b")]),
                            ("disruption", [("p2a", "p2b"), ("p3a", "p3b")])),
          2)
s, e = load(base, "metrics", "start"), load(base, "metrics", "end")
print("RESULT server=xmppd scenario=rep_lag_store appended=%d batches=%d "
      "retries=%d dropped=%d db_reconnects=%d db_failed=%d "
      "loop_lag_max_ms=%.2f" % (
      delta("xmppd_reputation_store_appended_total", s, e),
      delta("xmppd_reputation_store_batches_total", s, e),
      delta("xmppd_reputation_store_retries_total", s, e),
      delta("xmppd_reputation_store_dropped_total", s, e),
      delta("xmppd_db_reconnects_total", s, e),
      delta("xmppd_db_failed_total", s, e),
      e.get("xmppd_loop_lag_max_seconds", 0) * 1000))
EOF
    stop_pid "$XMPPD_PID"
    XMPPD_PID=""
    stop_pid "$PROBE_PID"
    PROBE_PID=""
    pg_stop "$d"
}

# shellcheck disable=SC2086 # one word per bench
bench_run $BENCHES

# ---- the summary ---------------------------------------------------------

say "done in $(( $(date +%s) - T_START )) s; load average now $(loadavg)"
py - "$RESULTS" <<'EOF' | tee "$OUT/rep-summary-$STAMP.txt"
import sys
from benchlib import Table, fmt, num, pick, results
rows = results(sys.argv[1])
t = Table(58, 20, 17)
c = pick(rows, "rep_score", phase="cached")
i = pick(rows, "rep_score", phase="invalidated")
r = pick(rows, "rep_score", phase="recompute")
w = pick(rows, "rep_walk")
for label, p in (("cached", c), ("after invalidation", i)):
    v = num(p, "lookups_per_s")
    t.row("score lookups/s, one core (%s)" % label,
          fmt(v) + (" (%s ns)" % fmt(num(p, "ns_per_lookup"), 1)
                    if v is not None else ""), ">= 1,000,000",
          None if v is None else v >= 1e6)
v = num(r, "lookups_per_s")
t.row("  score recomputations/s (every lookup computes)", fmt(v))
if w is not None:
    t.row("  walks of %s accounts (ms): /metrics, reputation_list" %
          fmt(num(w, "accounts")), "%s, %s" % (fmt(num(w, "stats_ms"), 1),
          fmt(num(w, "list_below_ms"), 1)), "one loop callback")
a = pick(rows, "rep_single_insert")
b = pick(rows, "rep_ingest")
va, vb = num(a, "rows_per_s"), num(b, "items_per_s")
t.row("single-row INSERTs/s (pgbench -c 1 -M prepared)", fmt(va))
t.row("evidence items/s committed through batches", fmt(vb))
ratio = None if va in (None, 0) or vb is None else vb / va
t.row("  ratio", "-" if ratio is None else "%.1fx" % ratio, ">= 10x",
      None if ratio is None else ratio >= 10 and b.get("check") == "ok")
for name in ("steady", "lock", "restart", "disruption"):
    l = pick(rows, "rep_lag", window=name)
    pr = pick(rows, "rep_lag_probe", window=name)
    v, vp = num(l, "p99_ms"), num(pr, "p99_ms")
    t.row("loop lag p99 (ms), %s (%s samples)" % (name, fmt(num(l,
          "samples"))), "-" if v is None else "%.3f (<= %s)" % (v,
          l.get("p99_bucket_ms")), "< 1 ms" if name == "disruption" else "",
          None if v is None or name != "disruption" else
          l.get("pass") == "yes")
    t.row("  idle probe on the same core, p99 (ms)", "-" if vp is None else
          "%.3f (<= %s)" % (vp, pr.get("p99_bucket_ms")), "machine noise")
    t.row("  samples <= 1 ms: xmppd, probe", "-" if v is None or vp is None
          else "%.1f%%, %.1f%%" % (100 * num(l, "within_1ms"),
          100 * num(pr, "within_1ms")), ">= 99%")
    t.row("  xmppd's loop thread: waited for the CPU (ms)",
          fmt(num(l, "runq_wait_ms"), 1), "other work")
ch = pick(rows, "chat")
if ch is not None:
    lost, dropped = num(ch, "lost"), num(ch, "dropped")
    t.row("chat messages lost during it (%s msgs/s)" % fmt(num(ch, "rate")),
          "%s lost, %s dropped" % (fmt(lost), fmt(dropped)), "0",
          lost == 0 and dropped == 0)
ev = pick(rows, "rep_evidence")
st = pick(rows, "rep_lag_store")
if ev is not None:
    t.row("  blocks/unblocks answered / sent", "%s / %s" % (fmt(num(ev,
          "results") + num(ev, "errors")), fmt(num(ev, "sent"))))
if st is not None:
    t.row("  evidence items committed, retried batches",
          "%s, %s" % (fmt(num(st, "appended")), fmt(num(st, "retries"))))
t.print()
d = pick(rows, "rep_lag", window="disruption")
p = pick(rows, "rep_lag_probe", window="disruption")
if p is not None and num(p, "within_1ms") is not None and \
        num(p, "within_1ms") < 0.99:
    print("\nnote: the idle probe on xmppd's core had only %.1f%% of its "
          "samples within 1 ms during the disruption (xmppd's loop thread "
          "waited %s ms for the CPU): the machine, not xmppd, sets that "
          "tail; re-run on a quiet machine" % (100 * num(p, "within_1ms"),
          fmt(num(d, "runq_wait_ms"))))
EOF
