# tests/bench/lib.sh: what the bench scripts share (run.sh, rep.sh,
# trust.sh).  Sourced, not run; bash.  Before sourcing, the script sets
#   REPO         the repository's root
#   BENCH_NAME   its name in error messages ("bench", "rep bench", ...)
# and after it calls bench_init once.  The cleanup at exit stops the
# processes whose PIDs are in the variables named by BENCH_PIDS (in that
# order; a variable may be empty), then every PostgreSQL pg_start started,
# then removes the temporary folder (BENCH_KEEP=1 keeps it).
#
# The figures are computed by tests/bench/benchlib.py (histogram windows,
# quantiles, RESULT lines, summary tables); run Python through py so that
# it finds it.
# shellcheck shell=bash
# The variables set here are the sourcing script's (SC2034).
# shellcheck disable=SC2034

PY=/usr/bin/python3
BENCH_PIDS=""
PG_DIRS=""
# The servers under test on core 0, everything else on core 1; one
# password for every bench account.
SERVER_CORE=0
GEN_CORE=1
PASSWORD=benchpw

say() { printf '== %s\n' "$*"; }
die() { printf '%s: %s\n' "$BENCH_NAME" "$*" >&2; exit 1; }
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Debian's python3 (its python3-* packages are visible to it only), with
# benchlib.py importable and no bytecode left in the tree.
py() {
    PYTHONPATH="$REPO/tests/bench" PYTHONDONTWRITEBYTECODE=1 "$PY" "$@"
}

# The checks every script makes: python, taskset, two cores.
bench_check_machine() {
    [ -x "$PY" ] || die "$PY is missing"
    command -v taskset >/dev/null || die "taskset is missing (util-linux)"
    [ "$(nproc)" -ge 2 ] || die "needs 2 cores: the server on core 0, the" \
        "generators on core 1"
}

# Every session is a descriptor: raise the limit to the hard one, and die
# when that is below NEED.
nofile_need() {     # NEED [HINT]
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    [ "$(ulimit -n)" -ge "$1" ] || die "ulimit -n is $(ulimit -n); $1" \
        "needed${2:+ ($2)}"
}

# Die unless every PROGRAM is there and executable.
bench_need() {      # HOW_TO_BUILD PROGRAM...
    local how=$1 p
    shift
    for p in "$@"; do
        [ -x "$p" ] || die "$p is missing ($how)"
    done
}

# Each bench B the script knows has a function check_B (what it needs:
# dies when something is missing) and run_B.  Check every bench of the
# list (KNOB names it in messages); an unknown one dies.
bench_check() {     # KNOB BENCH...
    local knob=$1 b
    shift
    for b in "$@"; do
        declare -F "check_$b" >/dev/null || die "unknown bench in $knob: $b"
        "check_$b"
    done
}

# Run them, in the list's order.
bench_run() {       # BENCH...
    local b
    for b in "$@"; do
        "run_$b"
    done
}

# The temporary folder ($BASE, /tmp/TMPNAME.XXXXXX), the results file
# ($RESULTS, build/bench/PREFIXresults-<UTC time>.txt; $STAMP is the time,
# $OUT the folder), $T_START, the cleanup at exit; with PIN_CORE, this
# shell pinned there (its curl, awk, psql and python calls then stay off
# the measured server's core; what must run elsewhere uses taskset).
# Then the machine and the folders are said.
bench_init() {   # TMPNAME PREFIX [PIN_CORE]
    BASE=$(mktemp -d "/tmp/$1.XXXXXX")
    chmod 755 "$BASE"            # postgres (and prosody) must reach it
    OUT=$REPO/build/bench
    mkdir -p "$OUT"
    STAMP=$(date -u +%Y%m%dT%H%M%SZ)
    RESULTS=$OUT/$2results-$STAMP.txt
    : >"$RESULTS"
    T_START=$(date +%s)
    trap bench_cleanup EXIT
    trap 'exit 130' INT TERM
    if [ -n "${3:-}" ]; then
        taskset -cp "$3" $$ >/dev/null || die "taskset -p failed"
    fi
    say_machine
}

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

bench_cleanup() {
    local v d
    for v in $BENCH_PIDS; do
        stop_pid "${!v}"
    done
    for d in $PG_DIRS; do
        "$REPO/deploy/pg.sh" stop "$d" >/dev/null 2>&1 || true
    done
    if [ "${BENCH_KEEP:-}" = 1 ]; then
        echo "$BENCH_NAME: kept $BASE"
    else
        rm -rf "$BASE"
    fi
}

say_machine() {
    say "machine: $(nproc --all) cores, $(grep -m1 'model name' \
        /proc/cpuinfo | sed 's/.*: //'), $(free -g |
        awk '/Mem:/ {print $2}') GiB, kernel $(uname -r); load average" \
        "$(loadavg)"
    say "temporary folder: $BASE; results: $RESULTS"
}

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

# ---- PostgreSQL ------------------------------------------------------------

pg_start() {    # DIR CORE [--fast]: the postmaster inherits the pinning
    local d=$1 core=$2
    shift 2
    taskset -c "$core" "$REPO/deploy/pg.sh" start "$d" "$@" ||
        die "PostgreSQL ($d) did not start"
    case " $PG_DIRS " in *" $d "*) ;; *) PG_DIRS="$PG_DIRS $d" ;; esac
}

pg_stop() {     # DIR
    "$REPO/deploy/pg.sh" stop "$1" >/dev/null
}

psql_in() {     # DIR SQL: run it in the xmppd database, unaligned output
    psql -h "$1" -U xmppd -d xmppd -X -q -At -v ON_ERROR_STOP=1 -c "$2"
}

# ---- xmppd -----------------------------------------------------------------

bench_token() { od -An -tx1 -N16 /dev/urandom | tr -d ' \n'; }

# Start $XMPPD pinned to CORE, in DIR, with CONFIG, its output appended
# to LOG; its PID in SPAWNED_PID.
xmppd_spawn() {     # CORE DIR CONFIG LOG
    ( cd "$2" && exec taskset -c "$1" "$XMPPD" --config "$3" \
        >>"$4" 2>&1 ) &
    SPAWNED_PID=$!
}

# Until every PORT accepts (each within SECONDS); otherwise die with the
# tail of the LOGs.
ports_wait() {      # SECONDS "LOG..." PORT...
    local s=$1 logs=$2 p
    shift 2
    for p in "$@"; do
        wait_port "$p" "$s" && continue
        # shellcheck disable=SC2086 # one word per log
        tail -n 20 $logs >&2 || true
        die "the server of $logs did not start (its log is above)"
    done
}

# Register PREFIX1..PREFIXN at HOST through the admin API on PORT (8
# requests in flight), on the generators' core ($GEN_CORE); $PASSWORD for
# every account.
xmppd_register() {  # PORT TOKEN HOST PREFIX N
    taskset -c "$GEN_CORE" "$PY" - "$@" "$PASSWORD" <<'EOF' ||
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
        die "registration at $3 failed"
}

# xmppd's /metrics on the admin port into FILE.
metrics_get() {     # PORT TOKEN FILE
    curl -sf -m 10 -H "Authorization: Bearer $2" \
        "http://127.0.0.1:$1/metrics" >"$3" ||
        die "GET /metrics on port $1 failed"
}

# The scheduler's figures of a process's main thread (ns it ran, ns it
# waited for a CPU, time slices) into FILE.
schedstat_get() {   # PID FILE
    cat "/proc/$1/schedstat" >"$2" 2>/dev/null || echo "0 0 0" >"$2"
}

metric() {  # FILE FAMILY: the value of an unlabelled sample, or 0
    awk -v f="$2" '$1 == f {print $2; found=1} END {if (!found) print 0}' \
        "$1"
}

# ---- the idle-loop probe (build/tests/bench/rep/lagprobe) ------------------

# Start it on CORE writing $BASE/probe.txt; its PID in PROBE_PID.
probe_start() {     # LAGPROBE CORE
    taskset -c "$2" "$1" --out "$BASE/probe.txt" &
    PROBE_PID=$!
}

# Its histogram now as $BASE/probe-NAME.txt: SIGUSR1 makes it rewrite
# probe.txt; wait (at most 2 s) until its dump counter moves.
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
