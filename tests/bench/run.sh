#!/bin/bash
# tests/bench/run.sh: the benchmark behind `make bench` (make builds
# build/xmppd and build/tests/bench/loadgen first; this builds nothing).
#
# xmppd (with a private PostgreSQL, durable default settings) and then
# Prosody 0.12 run pinned to core 0; the load generator runs on core 1.
# For each server: idle sessions (server RSS per session, TLS and
# plaintext), the highest routed message rate with p99 <= 50 ms, and the
# highest login rate with p99 <= 100 ms.  The figures are printed side by
# side at the end and kept in build/bench/.  See tests/bench/README.md.
#
# Knobs (environment):
#   BENCH_SERVERS="xmppd prosody"   which servers to run
#   BENCH_IDLE=2000                 idle sessions (TLS and plaintext)
#   BENCH_IDLE_BIG=10000            a second TLS idle run; 0 skips it
#   BENCH_HOLD=3                    seconds to hold idle sessions
#   BENCH_PAIRS=50                  chat pairs
#   BENCH_CHAT_START=4000           chat --find-max start rate (msgs/s)
#   BENCH_LOGIN_START=200           login --find-max start rate (logins/s)
#   BENCH_LOGIN_USERS=500           accounts the login storm cycles over
#   BENCH_DURATION=4                measured seconds per step
#   BENCH_KEEP=1                    keep the temporary folder
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
LOADGEN=$REPO/build/tests/bench/loadgen
XMPPD=$REPO/build/xmppd
OUT=$REPO/build/bench

SERVERS=${BENCH_SERVERS:-xmppd prosody}
IDLE=${BENCH_IDLE:-2000}
IDLE_BIG=${BENCH_IDLE_BIG:-10000}
HOLD=${BENCH_HOLD:-3}
PAIRS=${BENCH_PAIRS:-50}
CHAT_START=${BENCH_CHAT_START:-4000}
LOGIN_START=${BENCH_LOGIN_START:-200}
LOGIN_USERS=${BENCH_LOGIN_USERS:-500}
DURATION=${BENCH_DURATION:-4}

DOMAIN=localhost
PASSWORD=benchpw
# Idle runs hold 10 base sessions on top of N, on accounts after the N.
NUSERS=$(( (IDLE_BIG > IDLE ? IDLE_BIG : IDLE) + 10 ))
SERVER_CORE=0
GEN_CORE=1
XMPPD_C2S=35222
XMPPD_PLAIN=35223
XMPPD_ADMIN=35280
PROSODY_C2S=35322

say() { printf '== %s\n' "$*"; }
die() { printf 'bench: %s\n' "$*" >&2; exit 1; }

# ---- checks --------------------------------------------------------------

[ -x "$XMPPD" ] || die "$XMPPD is missing (run make bench)"
[ -x "$LOADGEN" ] || die "$LOADGEN is missing (run make bench)"
command -v taskset >/dev/null || die "taskset is missing (util-linux)"
command -v setpriv >/dev/null || die "setpriv is missing (util-linux)"
PY=/usr/bin/python3
[ -x "$PY" ] || die "/usr/bin/python3 is missing"
case " $SERVERS " in
*" prosody "*)
    command -v prosody >/dev/null || die "prosody is not installed" \
        "(apt-get install prosody, or BENCH_SERVERS=xmppd)"
    id prosody >/dev/null 2>&1 || die "no prosody user"
    ;;
esac
[ "$(nproc)" -ge 2 ] || die "needs 2 cores: the server on core 0, the" \
    "generator on core 1"

# Every session is a descriptor on both sides.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
need=$(( NUSERS + 200 ))
[ "$(ulimit -n)" -ge "$need" ] || die "ulimit -n is $(ulimit -n);" \
    "$need needed (or lower BENCH_IDLE_BIG)"

BASE=$(mktemp -d /tmp/xmppd-bench.XXXXXX)
chmod 755 "$BASE"            # postgres and prosody must reach their dirs
mkdir -p "$OUT"
STAMP=$(date -u +%Y%m%dT%H%M%SZ)
RESULTS=$OUT/results-$STAMP.txt
: >"$RESULTS"
T_START=$(date +%s)

XMPPD_PID=""
PROSODY_PID=""
PG_UP=no

stop_pid() {    # PID: SIGTERM, wait up to 15 s, then SIGKILL
    local pid=$1 i
    [ -n "$pid" ] || return 0
    kill "$pid" 2>/dev/null || return 0
    for i in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -9 "$pid" 2>/dev/null || true
}

cleanup() {
    stop_pid "$XMPPD_PID"
    stop_pid "$PROSODY_PID"
    if [ "$PG_UP" = yes ]; then
        "$REPO/deploy/pg.sh" stop "$BASE/pg" >/dev/null 2>&1 || true
    fi
    if [ "${BENCH_KEEP:-}" = 1 ]; then
        echo "bench: kept $BASE"
    else
        rm -rf "$BASE"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

wait_port() {   # PORT SECONDS
    local port=$1 i
    for i in $(seq $(( $2 * 10 ))); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    return 1
}

# Run the generator on its core; RESULT lines also go to $RESULTS.
loadgen() {
    taskset -c "$GEN_CORE" "$LOADGEN" --domain "$DOMAIN" \
        --password "$PASSWORD" --server-core "$SERVER_CORE" "$@" |
        tee -a "$RESULTS" | grep -v '^{' || true
}

say "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo |
    sed 's/.*: //'), $(free -g | awk '/Mem:/ {print $2}') GiB," \
    "kernel $(uname -r)"
say "temporary folder: $BASE; results: $RESULTS"
"$REPO/deploy/gen-cert.sh" "$BASE/certs" "$DOMAIN" >/dev/null

# ---- Prosody accounts (written in the background while xmppd runs) -----

# The accounts file prosodyctl would write (util.datamanager, store
# "accounts"): SCRAM-SHA-1 StoredKey and ServerKey in hex, a UUID salt.
# 4096 iterations like xmppd's default (Prosody's own is 10000): the
# server never runs PBKDF2 at login, only the generator does, once per
# account, so this only shortens the set-up.
prosody_accounts() {
    local dir=$BASE/prosody/data/$DOMAIN/accounts
    mkdir -p "$dir"
    taskset -c "$GEN_CORE" "$PY" - "$dir" "$NUSERS" "$PASSWORD" <<'EOF'
import hashlib, hmac, os, sys, uuid
from multiprocessing import Pool
d, n, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3].encode()
ITER = 4096
def one(i):
    salt = str(uuid.uuid4())
    salted = hashlib.pbkdf2_hmac("sha1", pw, salt.encode(), ITER)
    ck = hmac.new(salted, b"Client Key", "sha1").digest()
    sk = hmac.new(salted, b"Server Key", "sha1").digest()
    stored = hashlib.sha1(ck).hexdigest()
    with open(os.path.join(d, "bench%d.dat" % i), "w") as f:
        f.write('return {\n\t["iteration_count"] = %d;\n'
                '\t["server_key"] = "%s";\n\t["stored_key"] = "%s";\n'
                '\t["salt"] = "%s";\n};\n' % (ITER, sk.hex(), stored, salt))
with Pool(2) as p:
    p.map(one, range(1, n + 1), chunksize=256)
EOF
}

PROSODY_ACCOUNTS_PID=""
case " $SERVERS " in
*" prosody "*)
    prosody_accounts &
    PROSODY_ACCOUNTS_PID=$!
    ;;
esac

# ---- xmppd ---------------------------------------------------------------

xmppd_start() {
    ( cd "$BASE" && exec taskset -c "$SERVER_CORE" "$XMPPD" \
        --config "$BASE/xmppd.yml" >>"$BASE/xmppd.log" 2>&1 ) &
    XMPPD_PID=$!
    if ! wait_port "$XMPPD_C2S" 20 || ! wait_port "$XMPPD_ADMIN" 5; then
        tail -n 20 "$BASE/xmppd.log" >&2 || true
        die "xmppd did not start (its log is above)"
    fi
}

# --aux-pid for the postmaster and its children (xmppd's pool connects at
# start, so call this after each start): their CPU is xmppd's database.
pg_aux() {
    local pm
    pm=$(head -1 "$BASE/pg/data/postmaster.pid" 2>/dev/null) || return 0
    printf -- '--aux-pid %s ' "$pm" $(pgrep -P "$pm")
}

xmppd_restart() {   # a fresh process: freed memory is not reused
    stop_pid "$XMPPD_PID"
    XMPPD_PID=""
    xmppd_start
    sleep 1
}

run_xmppd() {
    local token
    token=$(od -An -tx1 -N16 /dev/urandom | tr -d ' \n')
    say "xmppd: private PostgreSQL (durable defaults) on core $SERVER_CORE"
    taskset -c "$SERVER_CORE" "$REPO/deploy/pg.sh" start "$BASE/pg" ||
        die "PostgreSQL did not start"
    PG_UP=yes
    cat >"$BASE/xmppd.yml" <<EOF
# Written by tests/bench/run.sh.
hosts: [$DOMAIN]
loglevel: info
certfiles: [certs/$DOMAIN.pem]
state_dir: .
sql_server: $BASE/pg
sql_database: xmppd
sql_username: xmppd
c2s_max_connections: $(( NUSERS + 1000 ))
listen:
  - {port: $XMPPD_C2S, ip: 127.0.0.1, module: c2s}
  - {port: $XMPPD_PLAIN, ip: 127.0.0.1, module: c2s, starttls: false}
  - {port: $XMPPD_ADMIN, ip: 127.0.0.1, module: admin_http, token: "$token"}
EOF
    xmppd_start
    say "xmppd: registering $NUSERS accounts through the admin API"
    taskset -c "$GEN_CORE" "$PY" - "$XMPPD_ADMIN" "$token" "$NUSERS" \
        "$DOMAIN" "$PASSWORD" <<'EOF' || die "registration failed"
import json, sys, time, urllib.error, urllib.request
from concurrent.futures import ThreadPoolExecutor
port, token, n, host, pw = (int(sys.argv[1]), sys.argv[2], int(sys.argv[3]),
                            sys.argv[4], sys.argv[5])
url = "http://127.0.0.1:%d/api/register" % port
def reg(i):
    body = json.dumps({"user": "bench%d" % i, "host": host,
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
print("== xmppd: %d accounts in %.1f s, %d failed" % (n, time.time() - t,
                                                      len(bad)))
sys.exit(1 if bad else 0)
EOF
    local common=(--label xmppd --users "$NUSERS")
    xmppd_restart
    say "xmppd: idle $IDLE sessions, STARTTLS"
    loadgen "${common[@]}" --mode idle --port "$XMPPD_C2S" \
        --sessions "$IDLE" --hold "$HOLD" --server-pid "$XMPPD_PID"
    xmppd_restart
    say "xmppd: idle $IDLE sessions, plaintext"
    loadgen "${common[@]}" --mode idle --port "$XMPPD_PLAIN" --plain \
        --sessions "$IDLE" --hold "$HOLD" --server-pid "$XMPPD_PID"
    if [ "$IDLE_BIG" -gt 0 ]; then
        xmppd_restart
        say "xmppd: idle $IDLE_BIG sessions, STARTTLS"
        loadgen "${common[@]}" --mode idle --port "$XMPPD_C2S" \
            --sessions "$IDLE_BIG" --hold "$HOLD" --server-pid "$XMPPD_PID"
    fi
    xmppd_restart
    say "xmppd: chat, $PAIRS pairs, highest rate with p99 <= 50 ms"
    # shellcheck disable=SC2046 # one word per option
    loadgen "${common[@]}" --mode chat --port "$XMPPD_C2S" \
        --pairs "$PAIRS" --find-max --rate "$CHAT_START" \
        --duration "$DURATION" --server-pid "$XMPPD_PID" $(pg_aux)
    say "xmppd: login storm over $LOGIN_USERS accounts"
    # shellcheck disable=SC2046
    loadgen --label xmppd --users "$LOGIN_USERS" --mode login \
        --port "$XMPPD_C2S" --find-max --rate "$LOGIN_START" \
        --duration "$DURATION" --server-pid "$XMPPD_PID" $(pg_aux)
    stop_pid "$XMPPD_PID"
    XMPPD_PID=""
    "$REPO/deploy/pg.sh" stop "$BASE/pg" >/dev/null
    PG_UP=no
}

# ---- Prosody -------------------------------------------------------------

prosody_start() {
    local i
    rm -f "$BASE/prosody/prosody.pid"
    # setpriv, not runuser: runuser's PAM session (pam_limits) would put
    # the descriptor limit back to 1024.
    HOME=$BASE/prosody taskset -c "$SERVER_CORE" setpriv --reuid prosody \
        --regid prosody --init-groups prosody -F \
        --config "$BASE/prosody/prosody.cfg.lua" \
        >>"$BASE/prosody/stdout.log" 2>&1 &
    for i in $(seq 200); do
        [ -s "$BASE/prosody/prosody.pid" ] && break
        sleep 0.1
    done
    PROSODY_PID=$(cat "$BASE/prosody/prosody.pid" 2>/dev/null || true)
    if [ -z "$PROSODY_PID" ] || ! wait_port "$PROSODY_C2S" 20; then
        tail -n 20 "$BASE/prosody/stdout.log" "$BASE/prosody/prosody.log" \
            >&2 || true
        die "Prosody did not start (its logs are above)"
    fi
    nofile=$(awk '/^Max open files/ {print $4}' "/proc/$PROSODY_PID/limits")
    [ "$nofile" -ge "$need" ] ||
        die "Prosody may open only $nofile files; $need needed"
}

prosody_restart() {
    stop_pid "$PROSODY_PID"
    PROSODY_PID=""
    prosody_start
    sleep 1
}

run_prosody() {
    local p=$BASE/prosody
    say "prosody: $(dpkg-query -W -f '${Version}' prosody 2>/dev/null ||
        echo '?'), core $SERVER_CORE"
    mkdir -p "$p/certs" "$p/data"
    openssl x509 -in "$BASE/certs/$DOMAIN.pem" -out "$p/certs/$DOMAIN.crt"
    openssl pkey -in "$BASE/certs/$DOMAIN.pem" -out "$p/certs/$DOMAIN.key"
    chmod 600 "$p/certs/$DOMAIN.key"
    sed -e "s|@BASE@|$p|g" -e "s|@PORT@|$PROSODY_C2S|g" \
        "$REPO/tests/bench/prosody.cfg.lua.in" >"$p/prosody.cfg.lua"
    if [ -n "$PROSODY_ACCOUNTS_PID" ]; then
        wait "$PROSODY_ACCOUNTS_PID" || die "writing Prosody accounts failed"
        PROSODY_ACCOUNTS_PID=""
    fi
    say "prosody: $(ls "$p/data/$DOMAIN/accounts" | wc -l) accounts written"
    chown -R prosody: "$p"
    local common=(--label prosody --users "$NUSERS")
    prosody_restart
    say "prosody: idle $IDLE sessions, STARTTLS"
    loadgen "${common[@]}" --mode idle --port "$PROSODY_C2S" \
        --sessions "$IDLE" --hold "$HOLD" --server-pid "$PROSODY_PID"
    prosody_restart
    say "prosody: idle $IDLE sessions, plaintext"
    loadgen "${common[@]}" --mode idle --port "$PROSODY_C2S" --plain \
        --sessions "$IDLE" --hold "$HOLD" --server-pid "$PROSODY_PID"
    if [ "$IDLE_BIG" -gt 0 ]; then
        prosody_restart
        say "prosody: idle $IDLE_BIG sessions, STARTTLS"
        loadgen "${common[@]}" --mode idle --port "$PROSODY_C2S" \
            --sessions "$IDLE_BIG" --hold "$HOLD" \
            --server-pid "$PROSODY_PID"
    fi
    prosody_restart
    say "prosody: chat, $PAIRS pairs, highest rate with p99 <= 50 ms"
    loadgen "${common[@]}" --mode chat --port "$PROSODY_C2S" \
        --pairs "$PAIRS" --find-max --rate "$CHAT_START" \
        --duration "$DURATION" --server-pid "$PROSODY_PID"
    say "prosody: login storm over $LOGIN_USERS accounts"
    loadgen --label prosody --users "$LOGIN_USERS" --mode login \
        --port "$PROSODY_C2S" --find-max --rate "$LOGIN_START" \
        --duration "$DURATION" --server-pid "$PROSODY_PID"
    stop_pid "$PROSODY_PID"
    PROSODY_PID=""
}

for s in $SERVERS; do
    case $s in
    xmppd) run_xmppd ;;
    prosody) run_prosody ;;
    *) die "unknown server in BENCH_SERVERS: $s" ;;
    esac
done

# ---- the figures side by side --------------------------------------------

say "done in $(( $(date +%s) - T_START )) s"
"$PY" - "$RESULTS" "$IDLE" "$IDLE_BIG" <<'EOF' | tee "$OUT/summary-$STAMP.txt"
import sys
path, idle, big = sys.argv[1], sys.argv[2], sys.argv[3]
rows = []
for line in open(path):
    if line.startswith("RESULT "):
        rows.append(dict(kv.split("=", 1) for kv in line.split()[1:]))

def pick(server, scenario, **want):
    found = None
    for r in rows:
        if r.get("server") == server and r.get("scenario") == scenario and \
                all(r.get(k) == v for k, v in want.items()):
            found = r
    return found

def num(r, key):
    try:
        v = float(r[key]) if r is not None else None
    except (KeyError, ValueError):
        return None
    return None if v is None or v < 0 else v

def fmt(v, nd=1):
    return "-" if v is None else "%.*f" % (nd, v)

servers = ["xmppd", "prosody"]
lines = []
def row(label, vals, nd=1, note=""):
    lines.append("| %-44s | %12s | %12s | %s" % (
        label, fmt(vals[0], nd), fmt(vals[1], nd), note))

idle_tls = [pick(s, "idle", transport="tls", sessions=idle) for s in servers]
idle_pl = [pick(s, "idle", transport="plain", sessions=idle) for s in servers]
idle_big = [pick(s, "idle", transport="tls", sessions=big) for s in servers]
chat = [pick(s, "chat_max") for s in servers]
login = [pick(s, "login_max") for s in servers]

print("| %-44s | %12s | %12s | %s" % ("figure", "xmppd", "prosody",
                                      "target / note"))
print("|" + "-" * 46 + "|" + "-" * 14 + "|" + "-" * 14 + "|" + "-" * 20)
row("KB per idle session, TLS (%s)" % idle,
    [num(r, "kb_per_session") for r in idle_tls], 1, "xmppd <= 32")
row("KB per idle session, plaintext (%s)" % idle,
    [num(r, "kb_per_session") for r in idle_pl], 1, "xmppd <= 16")
if big != "0":
    row("KB per idle session, TLS (%s)" % big,
        [num(r, "kb_per_session") for r in idle_big], 1, "xmppd <= 32")
row("msgs/s at p99 <= 50 ms (one core)", [num(r, "rate") for r in chat], 0,
    "xmppd >= 5x prosody")
row("  p50 latency at that rate (ms)", [num(r, "p50_ms") for r in chat], 2)
row("  p99 latency at that rate (ms)", [num(r, "p99_ms") for r in chat], 2)
row("  generator CPU at that rate", [num(r, "gen_cpu") for r in chat], 2,
    ">= 0.95: generator-bound")
row("  server CPU at that rate", [num(r, "server_cpu") for r in chat], 2,
    "xmppd process / prosody process")
row("  core 0 busy with other work", [num(r, "core_other") for r in chat], 2,
    "> 0.15: disturbed")
row("logins/s at p99 <= 100 ms (one core)",
    [num(r, "rate") for r in login], 0, "xmppd >= 3x prosody")
row("  p50 login time at that rate (ms)", [num(r, "p50_ms") for r in login])
row("  p99 login time at that rate (ms)", [num(r, "p99_ms") for r in login])
row("  generator CPU at that rate", [num(r, "gen_cpu") for r in login], 2,
    ">= 0.95: generator-bound")
row("  server CPU at that rate", [num(r, "server_cpu") for r in login], 2,
    "the server process")
row("  its PostgreSQL CPU at that rate", [num(r, "aux_cpu") for r in login],
    2, "xmppd only (pinned to the same core)")
row("  core 0 busy with other work", [num(r, "core_other") for r in login],
    2, "> 0.15: disturbed")
print("\n".join(lines))

def ratio(a, b):
    return None if a is None or b in (None, 0) else a / b
print()
kt, kp = num(idle_tls[0], "kb_per_session"), num(idle_pl[0], "kb_per_session")
mr = ratio(num(chat[0], "rate"), num(chat[1], "rate"))
lr = ratio(num(login[0], "rate"), num(login[1], "rate"))
def verdict(ok):
    return "-" if ok is None else ("met" if ok else "MISSED")
print("targets: TLS %s KB (<= 32: %s); plaintext %s KB (<= 16: %s); "
      "msgs/s %sx Prosody (>= 5x: %s); logins/s %sx Prosody (>= 3x: %s)" % (
      fmt(kt), verdict(None if kt is None else kt <= 32),
      fmt(kp), verdict(None if kp is None else kp <= 16),
      fmt(mr, 2), verdict(None if mr is None else mr >= 5),
      fmt(lr, 2), verdict(None if lr is None else lr >= 3)))
EOF
