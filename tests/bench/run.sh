#!/bin/bash
# tests/bench/run.sh: the benchmark behind `make bench` (make builds
# build/xmppd and build/tests/bench/loadgen first; this builds nothing).
#
# xmppd (with a private PostgreSQL, durable default settings) and then
# Prosody 0.12 run pinned to core 0; the load generator runs on core 1.
# For each server: idle sessions (server RSS per session, TLS and
# plaintext), the highest routed message rate with p99 <= 50 ms, and the
# highest login rate with p99 <= 100 ms; then (issue 3) the login rate of
# users with 50-contact rosters, half of the contacts online, and the
# presence fan-out rate, and (issue 4) the routed message rate across s2s
# between two servers of the same kind, each on its own core.  The
# figures are printed side by side at the end and kept in build/bench/.
# See tests/bench/README.md.
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
#   BENCH_BASIC=1                   0 skips the issue-2 scenarios (idle,
#                                   chat, login)
#   BENCH_ROSTER=1                  0 skips roster-login and fanout
#   BENCH_ROSTER_USERS=2000         users with rosters (half held online)
#   BENCH_CONTACTS=50               contacts per roster (even)
#   BENCH_ROSTER_LOGIN_START=100    roster-login start rate (logins/s)
#   BENCH_FANOUT_START=200          fanout start rate (presence changes/s)
#   BENCH_S2S=1                     0 skips the s2s chat
#   BENCH_S2S_PAIRS=50              s2s chat pairs
#   BENCH_S2S_START=2000            s2s chat start rate (msgs/s)
#   BENCH_DBCHECK=1                 0 skips counting xmppd's database work
#                                   during chat
#   BENCH_XMPPD=path                the xmppd binary (build/xmppd)
#   BENCH_LOADGEN=path              the generator (build/tests/bench/loadgen)
#   BENCH_KEEP=1                    keep the temporary folder
set -euo pipefail

REPO=$(cd "$(dirname "$0")/../.." && pwd)
BENCH_NAME=bench
# shellcheck source=tests/bench/lib.sh
. "$REPO/tests/bench/lib.sh"
LOADGEN=${BENCH_LOADGEN:-$REPO/build/tests/bench/loadgen}
XMPPD=${BENCH_XMPPD:-$REPO/build/xmppd}

SERVERS=${BENCH_SERVERS:-xmppd prosody}
IDLE=${BENCH_IDLE:-2000}
IDLE_BIG=${BENCH_IDLE_BIG:-10000}
HOLD=${BENCH_HOLD:-3}
PAIRS=${BENCH_PAIRS:-50}
CHAT_START=${BENCH_CHAT_START:-4000}
LOGIN_START=${BENCH_LOGIN_START:-200}
LOGIN_USERS=${BENCH_LOGIN_USERS:-500}
DURATION=${BENCH_DURATION:-4}
BASIC=${BENCH_BASIC:-1}
ROSTER=${BENCH_ROSTER:-1}
RUSERS=${BENCH_ROSTER_USERS:-2000}
CONTACTS=${BENCH_CONTACTS:-50}
RLOGIN_START=${BENCH_ROSTER_LOGIN_START:-100}
FANOUT_START=${BENCH_FANOUT_START:-200}
S2S=${BENCH_S2S:-1}
S2S_PAIRS=${BENCH_S2S_PAIRS:-50}
S2S_START=${BENCH_S2S_START:-2000}
DBCHECK=${BENCH_DBCHECK:-1}

DOMAIN=localhost
# Idle runs hold 10 base sessions on top of N, on accounts after the N.
NUSERS=$(( (IDLE_BIG > IDLE ? IDLE_BIG : IDLE) + 10 ))
XMPPD_C2S=35222
XMPPD_PLAIN=35223
XMPPD_ADMIN=35280
PROSODY_C2S=35322
# Roster users are r1..rN, apart from the bench accounts, so that the
# issue-2 scenarios keep their empty rosters.
RPREFIX=r
# s2s: two domains, two servers of each kind.
S2S_A=a.bench
S2S_B=b.bench
XA_C2S=35422; XA_S2S=35469; XA_ADMIN=35481
XB_C2S=35432; XB_S2S=35479; XB_ADMIN=35491
PA_C2S=35522; PA_S2S=35569
PB_C2S=35532; PB_S2S=35579
DNS_PORT=35353

# ---- checks --------------------------------------------------------------

bench_check_machine
bench_need "run make bench" "$XMPPD" "$LOADGEN"
command -v setpriv >/dev/null || die "setpriv is missing (util-linux)"
case " $SERVERS " in
*" prosody "*)
    command -v prosody >/dev/null || die "prosody is not installed" \
        "(apt-get install prosody, or BENCH_SERVERS=xmppd)"
    id prosody >/dev/null 2>&1 || die "no prosody user"
    ;;
esac
if [ $(( CONTACTS % 2 )) != 0 ] || [ "$CONTACTS" -ge "$RUSERS" ]; then
    die "BENCH_CONTACTS must be even and below BENCH_ROSTER_USERS"
fi
if [ "$S2S" = 1 ]; then
    case " $SERVERS " in
    *" prosody "*)
        command -v dnsmasq >/dev/null || die "dnsmasq is missing (Prosody" \
            "s2s needs SRV records; apt-get install dnsmasq-base, or" \
            "BENCH_S2S=0)"
        ;;
    esac
fi

# Every session is a descriptor on both sides.
need=$(( (NUSERS > RUSERS ? NUSERS : RUSERS) + 200 ))
nofile_need "$need" "or lower BENCH_IDLE_BIG"

XMPPD_PID="" PROSODY_PID="" XA_PID="" XB_PID="" PA_PID="" PB_PID=""
DNS_PID=""
BENCH_PIDS="XMPPD_PID PROSODY_PID XA_PID XB_PID PA_PID PB_PID DNS_PID"
bench_init xmppd-bench ""

# Run the generator on its core; RESULT lines also go to $RESULTS.
loadgen() {
    taskset -c "$GEN_CORE" "$LOADGEN" --domain "$DOMAIN" \
        --password "$PASSWORD" --server-core "$SERVER_CORE" "$@" |
        tee -a "$RESULTS" | grep -v '^{' || true
}

"$REPO/deploy/gen-cert.sh" "$BASE/certs" "$DOMAIN" "$S2S_A" "$S2S_B" \
    >/dev/null

# ---- Prosody accounts (written in the background while xmppd runs) -----

# The accounts file prosodyctl would write (util.datamanager, store
# "accounts"): SCRAM-SHA-1 StoredKey and ServerKey in hex, a UUID salt.
# 4096 iterations like xmppd's default (Prosody's own is 10000): the
# server never runs PBKDF2 at login, only the generator does, once per
# account, so this only shortens the set-up.
#
# With CONTACTS > 0 also the roster files (store "roster", what
# core.rostermanager saves after a subscription: the metadata under the
# key false, then one item per contact JID), account i having the
# contacts i-C/2 .. i+C/2 (but i) modulo N, all with subscription "both".
prosody_accounts() {   # DATA_PATH HOST PREFIX N CONTACTS
    taskset -c "$GEN_CORE" "$PY" - "$@" "$PASSWORD" <<'EOF'
import hashlib, hmac, os, re, sys, uuid
from multiprocessing import Pool
data, host, prefix, n, contacts, pw = (sys.argv[1], sys.argv[2],
    sys.argv[3], int(sys.argv[4]), int(sys.argv[5]), sys.argv[6].encode())
ITER = 4096
# util.datamanager escapes every non-alphanumeric byte of a path part.
def enc(s):
    return re.sub(r"\W", lambda m: "%%%02x" % ord(m.group(0)), s)
hdir = os.path.join(data, enc(host))
os.makedirs(os.path.join(hdir, "accounts"), exist_ok=True)
if contacts:
    os.makedirs(os.path.join(hdir, "roster"), exist_ok=True)
def one(i):
    salt = str(uuid.uuid4())
    salted = hashlib.pbkdf2_hmac("sha1", pw, salt.encode(), ITER)
    ck = hmac.new(salted, b"Client Key", "sha1").digest()
    sk = hmac.new(salted, b"Server Key", "sha1").digest()
    stored = hashlib.sha1(ck).hexdigest()
    user = "%s%d" % (prefix, i)
    with open(os.path.join(hdir, "accounts", enc(user) + ".dat"), "w") as f:
        f.write('return {\n\t["iteration_count"] = %d;\n'
                '\t["server_key"] = "%s";\n\t["stored_key"] = "%s";\n'
                '\t["salt"] = "%s";\n};\n' % (ITER, sk.hex(), stored, salt))
    if not contacts:
        return
    out = ['return {\n\t[false] = {\n\t\t["version"] = 1;\n'
           '\t\t["pending"] = {};\n\t};\n']
    for d in range(-(contacts // 2), contacts // 2 + 1):
        if d == 0:
            continue
        j = (i - 1 + d) % n + 1
        out.append('\t["%s%d@%s"] = {\n\t\t["groups"] = {};\n'
                   '\t\t["subscription"] = "both";\n\t};\n' % (prefix, j, host))
    out.append('};\n')
    with open(os.path.join(hdir, "roster", enc(user) + ".dat"), "w") as f:
        f.write("".join(out))
with Pool(2) as p:
    p.map(one, range(1, n + 1), chunksize=256)
EOF
}

prosody_all_accounts() {
    local d=$BASE/prosody/data
    prosody_accounts "$d" "$DOMAIN" bench "$NUSERS" 0
    if [ "$ROSTER" = 1 ]; then
        prosody_accounts "$d" "$DOMAIN" "$RPREFIX" "$RUSERS" "$CONTACTS"
    fi
    if [ "$S2S" = 1 ]; then
        prosody_accounts "$BASE/prosody-a/data" "$S2S_A" bench "$S2S_PAIRS" 0
        prosody_accounts "$BASE/prosody-b/data" "$S2S_B" bench "$S2S_PAIRS" 0
    fi
}

PROSODY_ACCOUNTS_PID=""
case " $SERVERS " in
*" prosody "*)
    prosody_all_accounts &
    PROSODY_ACCOUNTS_PID=$!
    ;;
esac

# ---- xmppd ---------------------------------------------------------------

xmppd_start() {
    xmppd_spawn "$SERVER_CORE" "$BASE" "$BASE/xmppd.yml" "$BASE/xmppd.log"
    XMPPD_PID=$SPAWNED_PID
    ports_wait 20 "$BASE/xmppd.log" "$XMPPD_C2S" "$XMPPD_ADMIN"
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

psql_x() {  # SQL: run it in xmppd's database, unaligned output
    psql_in "$BASE/pg" "$1"
}

# The rosters, straight into roster_items (db/migrations/002_roster.sql):
# account i has the contacts i-C/2 .. i+C/2 (but i) modulo N, every one a
# mutual subscription ('both', is_item).  The same graph as Prosody's.
xmppd_rosters() {
    psql_x "INSERT INTO roster_items (host, username, contact,
            subscription, is_item)
        SELECT '$DOMAIN', '$RPREFIX' || u,
            '$RPREFIX' || ((u - 1 + d + $RUSERS) % $RUSERS + 1) || '@$DOMAIN',
            'both', true
        FROM generate_series(1, $RUSERS) AS u,
            generate_series(-$(( CONTACTS / 2 )), $(( CONTACTS / 2 ))) AS d
        WHERE d <> 0"
    say "xmppd: $(psql_x "SELECT count(*) FROM roster_items WHERE
        username LIKE '$RPREFIX%'") roster items written"
}

# Transactions and rows of xmppd's database so far: "xacts fetched
# returned written".  The statistics reach pg_stat_database when a backend
# has been idle for a moment; the caller waits first.
db_counters() {
    psql_x "SELECT xact_commit + xact_rollback, tup_fetched, tup_returned,
        tup_inserted + tup_updated + tup_deleted FROM pg_stat_database
        WHERE datname = 'xmppd'"
}

# The routed-message path must not touch the database: the same chat run
# twice, at 1 msg/s and at a real rate, with the same logins and
# durations; the difference in database work divided by the difference
# in messages is the work per message.  xmppd is restarted before each
# reading: its database connections end, and an ending backend reports
# its statistics at once (an idle one may hold them for up to 10 s).
# The restarts, the psql calls and the logins are the same in both runs.
xmppd_dbcheck() {
    local rate=20000 a b c
    local args=(--label xmppd-db --users "$NUSERS" --mode chat
        --port "$XMPPD_C2S" --pairs "$PAIRS" --duration "$DURATION")
    stop_pid "$XMPPD_PID"; XMPPD_PID=""
    sleep 0.5; a=$(db_counters)
    xmppd_start; loadgen "${args[@]}" --rate 1 >/dev/null
    stop_pid "$XMPPD_PID"; XMPPD_PID=""
    sleep 0.5; b=$(db_counters)
    xmppd_start; loadgen "${args[@]}" --rate "$rate" >/dev/null
    stop_pid "$XMPPD_PID"; XMPPD_PID=""
    sleep 0.5; c=$(db_counters)
    xmppd_start
    py - "$a" "$b" "$c" "$rate" "$DURATION" <<'EOF' | tee -a "$RESULTS"
import sys
a, b, c = ([int(x) for x in v.split("|")] for v in sys.argv[1:4])
rate, dur = float(sys.argv[4]), float(sys.argv[5])
base = [y - x for x, y in zip(a, b)]
chat = [y - x for x, y in zip(b, c)]
# Both runs send for 1 s of warm-up plus the measured window.
msgs = rate * (1 + dur) - 1 * (1 + dur)
per = [(y - x) / msgs for x, y in zip(base, chat)]
names = ["xacts", "fetched", "returned", "written"]
print("RESULT server=xmppd scenario=chat_db messages=%d %s %s %s" % (msgs,
    " ".join("base_%s=%d" % (n, v) for n, v in zip(names, base)),
    " ".join("chat_%s=%d" % (n, v) for n, v in zip(names, chat)),
    " ".join("per_msg_%s=%.5f" % (n, v) for n, v in zip(names, per))))
EOF
}

# ---- xmppd across s2s: a.bench on core 0, b.bench on core 1 -------------

xmppd_s2s_conf() {  # HOST C2S S2S ADMIN PEER PEER_S2S TOKEN DB
    cat <<EOF
# Written by tests/bench/run.sh: one of the two s2s bench servers.
hosts: [$1]
loglevel: info
certfiles: [certs/$1.pem]
state_dir: s2s-$1
sql_server: $BASE/pg
sql_database: $8
sql_username: xmppd
s2s_cafile: certs/ca.pem
s2s_routes: {$5: "127.0.0.1:$6"}
listen:
  - {port: $2, ip: 127.0.0.1, module: c2s}
  - {port: $3, ip: 127.0.0.1, module: s2s}
  - {port: $4, ip: 127.0.0.1, module: admin_http, token: "$7"}
EOF
}

xmppd_s2s_start() {     # NAME CORE: its PID in SPAWNED_PID
    xmppd_spawn "$2" "$BASE" "$BASE/xmppd-$1.yml" "$BASE/xmppd-$1.log"
}

run_xmppd_s2s() {
    local token
    token=$(bench_token)
    psql_x "CREATE DATABASE xmppd_a" && psql_x "CREATE DATABASE xmppd_b"
    mkdir -p "$BASE/s2s-$S2S_A" "$BASE/s2s-$S2S_B"
    xmppd_s2s_conf "$S2S_A" $XA_C2S $XA_S2S $XA_ADMIN "$S2S_B" $XB_S2S \
        "$token" xmppd_a >"$BASE/xmppd-a.yml"
    xmppd_s2s_conf "$S2S_B" $XB_C2S $XB_S2S $XB_ADMIN "$S2S_A" $XA_S2S \
        "$token" xmppd_b >"$BASE/xmppd-b.yml"
    xmppd_s2s_start a "$SERVER_CORE"; XA_PID=$SPAWNED_PID
    xmppd_s2s_start b "$GEN_CORE"; XB_PID=$SPAWNED_PID
    ports_wait 20 "$BASE/xmppd-a.log $BASE/xmppd-b.log" $XA_C2S $XA_ADMIN \
        $XB_C2S $XB_ADMIN
    xmppd_register $XA_ADMIN "$token" "$S2S_A" bench "$S2S_PAIRS"
    xmppd_register $XB_ADMIN "$token" "$S2S_B" bench "$S2S_PAIRS"
    say "xmppd s2s: chat from $S2S_A (core $SERVER_CORE) to $S2S_B (core" \
        "$GEN_CORE, shared with the generator), $S2S_PAIRS pairs"
    loadgen --label xmppd-s2s --users "$S2S_PAIRS" --mode chat \
        --domain "$S2S_A" --port $XA_C2S --domain2 "$S2S_B" \
        --port2 $XB_C2S --pairs "$S2S_PAIRS" --find-max --rate "$S2S_START" \
        --duration "$DURATION" --server-pid "$XA_PID" \
        --server2-pid "$XB_PID"
    stop_pid "$XA_PID"; XA_PID=""
    stop_pid "$XB_PID"; XB_PID=""
}

run_xmppd_basic() {
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
}

run_xmppd() {
    local token
    token=$(bench_token)
    say "xmppd: private PostgreSQL (durable defaults) on core $SERVER_CORE"
    pg_start "$BASE/pg" "$SERVER_CORE"
    cat >"$BASE/xmppd.yml" <<EOF
# Written by tests/bench/run.sh.
hosts: [$DOMAIN]
loglevel: info
certfiles: [certs/$DOMAIN.pem]
state_dir: .
sql_server: $BASE/pg
sql_database: xmppd
sql_username: xmppd
c2s_max_connections: $(( (NUSERS > RUSERS ? NUSERS : RUSERS) + 1000 ))
listen:
  - {port: $XMPPD_C2S, ip: 127.0.0.1, module: c2s}
  - {port: $XMPPD_PLAIN, ip: 127.0.0.1, module: c2s, starttls: false}
  - {port: $XMPPD_ADMIN, ip: 127.0.0.1, module: admin_http, token: "$token"}
EOF
    xmppd_start
    say "xmppd: registering $NUSERS accounts through the admin API"
    xmppd_register "$XMPPD_ADMIN" "$token" "$DOMAIN" bench "$NUSERS"
    if [ "$ROSTER" = 1 ]; then
        xmppd_register "$XMPPD_ADMIN" "$token" "$DOMAIN" "$RPREFIX" "$RUSERS"
        xmppd_rosters
    fi
    if [ "$BASIC" = 1 ]; then
        run_xmppd_basic
    fi
    if [ "$ROSTER" = 1 ]; then
        xmppd_restart
        say "xmppd: roster-login storm, $RUSERS users with $CONTACTS" \
            "contacts, half of them online"
        # shellcheck disable=SC2046
        loadgen --label xmppd --user-prefix "$RPREFIX" --users "$RUSERS" \
            --contacts "$CONTACTS" --mode roster-login --port "$XMPPD_C2S" \
            --find-max --rate "$RLOGIN_START" --duration "$DURATION" \
            --server-pid "$XMPPD_PID" $(pg_aux)
        xmppd_restart
        say "xmppd: presence fan-out, $RUSERS users online with" \
            "$CONTACTS contacts each"
        # shellcheck disable=SC2046
        loadgen --label xmppd --user-prefix "$RPREFIX" --users "$RUSERS" \
            --contacts "$CONTACTS" --mode fanout --port "$XMPPD_C2S" \
            --find-max --rate "$FANOUT_START" --duration "$DURATION" \
            --server-pid "$XMPPD_PID" $(pg_aux)
    fi
    if [ "$DBCHECK" = 1 ]; then
        xmppd_restart
        say "xmppd: database work of the routed-message path (chat at 1" \
            "and at 20,000 msgs/s)"
        xmppd_dbcheck
    fi
    stop_pid "$XMPPD_PID"
    XMPPD_PID=""
    if [ "$S2S" = 1 ]; then
        run_xmppd_s2s
    fi
    pg_stop "$BASE/pg"
}

# ---- Prosody -------------------------------------------------------------

prosody_start() {
    rm -f "$BASE/prosody/prosody.pid"
    # setpriv, not runuser: runuser's PAM session (pam_limits) would put
    # the descriptor limit back to 1024.
    HOME=$BASE/prosody taskset -c "$SERVER_CORE" setpriv --reuid prosody \
        --regid prosody --init-groups prosody -F \
        --config "$BASE/prosody/prosody.cfg.lua" \
        >>"$BASE/prosody/stdout.log" 2>&1 &
    for _ in $(seq 200); do
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

# ---- Prosody across s2s: two instances, DNS SRV from a private dnsmasq ---

prosody_s2s_start() {   # DIR CORE C2S: prints the pid
    local d=$1
    rm -f "$d/prosody.pid"
    HOME=$d taskset -c "$2" setpriv --reuid prosody --regid prosody \
        --init-groups prosody -F --config "$d/prosody.cfg.lua" \
        >>"$d/stdout.log" 2>&1 &
    for _ in $(seq 200); do
        [ -s "$d/prosody.pid" ] && break
        sleep 0.1
    done
    if [ ! -s "$d/prosody.pid" ] || ! wait_port "$3" 20; then
        tail -n 20 "$d/stdout.log" "$d/prosody.log" >&2 || true
        die "Prosody ($d) did not start (its logs are above)"
    fi
    cat "$d/prosody.pid"
}

prosody_s2s_dir() {     # DIR HOST C2S S2S
    local d=$1
    mkdir -p "$d/certs" "$d/data"
    openssl x509 -in "$BASE/certs/$2.pem" -out "$d/certs/$2.crt"
    openssl pkey -in "$BASE/certs/$2.pem" -out "$d/certs/$2.key"
    cp "$BASE/certs/ca.pem" "$d/certs/ca.pem"
    chmod 600 "$d/certs/$2.key"
    sed -e "s|@BASE@|$d|g" -e "s|@HOST@|$2|g" -e "s|@C2S@|$3|g" \
        -e "s|@S2S@|$4|g" -e "s|@DNS@|$DNS_PORT|g" \
        "$REPO/tests/bench/prosody-s2s.cfg.lua.in" >"$d/prosody.cfg.lua"
    chown -R prosody: "$d"
}

run_prosody_s2s() {
    local dns=$BASE/dnsmasq.conf
    cat >"$dns" <<EOF
port=$DNS_PORT
listen-address=127.0.0.1
bind-interfaces
no-resolv
no-hosts
local=/bench/
host-record=$S2S_A,127.0.0.1
host-record=$S2S_B,127.0.0.1
srv-host=_xmpp-server._tcp.$S2S_A,localhost,$PA_S2S,0,0
srv-host=_xmpp-server._tcp.$S2S_B,localhost,$PB_S2S,0,0
EOF
    dnsmasq --conf-file="$dns" --keep-in-foreground \
        --pid-file="$BASE/dnsmasq.pid" --user=root \
        >>"$BASE/dnsmasq.log" 2>&1 &
    DNS_PID=$!
    prosody_s2s_dir "$BASE/prosody-a" "$S2S_A" $PA_C2S $PA_S2S
    prosody_s2s_dir "$BASE/prosody-b" "$S2S_B" $PB_C2S $PB_S2S
    PA_PID=$(prosody_s2s_start "$BASE/prosody-a" "$SERVER_CORE" $PA_C2S)
    PB_PID=$(prosody_s2s_start "$BASE/prosody-b" "$GEN_CORE" $PB_C2S)
    say "prosody s2s: chat from $S2S_A (core $SERVER_CORE) to $S2S_B" \
        "(core $GEN_CORE, shared with the generator), $S2S_PAIRS pairs"
    loadgen --label prosody-s2s --users "$S2S_PAIRS" --mode chat \
        --domain "$S2S_A" --port $PA_C2S --domain2 "$S2S_B" \
        --port2 $PB_C2S --pairs "$S2S_PAIRS" --find-max --rate "$S2S_START" \
        --duration "$DURATION" --server-pid "$PA_PID" \
        --server2-pid "$PB_PID"
    stop_pid "$PA_PID"; PA_PID=""
    stop_pid "$PB_PID"; PB_PID=""
    stop_pid "$DNS_PID"; DNS_PID=""
}

run_prosody_basic() {
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
    say "prosody: $(find "$p/data/$DOMAIN/accounts" -name '*.dat' |
        wc -l) accounts and $(find "$p/data/$DOMAIN/roster" -name '*.dat' \
        2>/dev/null | wc -l) rosters written"
    chown -R prosody: "$p"
    if [ "$BASIC" = 1 ]; then
        run_prosody_basic
    fi
    if [ "$ROSTER" = 1 ]; then
        prosody_restart
        say "prosody: roster-login storm, $RUSERS users with $CONTACTS" \
            "contacts, half of them online"
        loadgen --label prosody --user-prefix "$RPREFIX" --users "$RUSERS" \
            --contacts "$CONTACTS" --mode roster-login \
            --port "$PROSODY_C2S" --find-max --rate "$RLOGIN_START" \
            --duration "$DURATION" --server-pid "$PROSODY_PID"
        prosody_restart
        say "prosody: presence fan-out, $RUSERS users online with" \
            "$CONTACTS contacts each"
        loadgen --label prosody --user-prefix "$RPREFIX" --users "$RUSERS" \
            --contacts "$CONTACTS" --mode fanout --port "$PROSODY_C2S" \
            --find-max --rate "$FANOUT_START" --duration "$DURATION" \
            --server-pid "$PROSODY_PID"
    fi
    stop_pid "$PROSODY_PID"
    PROSODY_PID=""
    if [ "$S2S" = 1 ]; then
        run_prosody_s2s
    fi
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
py - "$RESULTS" "$IDLE" "$IDLE_BIG" <<'EOF' | tee "$OUT/summary-$STAMP.txt"
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

# Issues 3 and 4: rosters, presence, s2s.
rl = [pick(s, "roster_login_max") for s in servers]
fo = [pick(s, "fanout_max") for s in servers]
s2 = [pick(s + "-s2s", "chat_max") for s in servers]
db = pick("xmppd", "chat_db")
if any(r is not None for r in rl + fo + s2) or db is not None:
    lines = []
    print()
    print("| %-44s | %12s | %12s | %s" % ("figure", "xmppd", "prosody",
                                          "target / note"))
    print("|" + "-" * 46 + "|" + "-" * 14 + "|" + "-" * 14 + "|" + "-" * 20)
    row("logins/s, 50-contact roster, p99 <= 100 ms",
        [num(r, "rate") for r in rl], 0, "xmppd >= 3x prosody")
    row("  p50 login time at that rate (ms)", [num(r, "p50_ms") for r in rl])
    row("  p99 login time at that rate (ms)", [num(r, "p99_ms") for r in rl])
    row("  contacts' presence received a login",
        [num(r, "contact_pres") for r in rl], 1, "online contacts")
    row("  generator CPU at that rate", [num(r, "gen_cpu") for r in rl], 2,
        ">= 0.95: generator-bound")
    row("  server CPU at that rate", [num(r, "server_cpu") for r in rl], 2)
    row("  its PostgreSQL CPU at that rate", [num(r, "aux_cpu") for r in rl],
        2, "xmppd only")
    row("  core 0 busy with other work", [num(r, "core_other") for r in rl],
        2, "> 0.15: disturbed")
    row("presence deliveries/s, p99 <= 50 ms",
        [num(r, "delivered") for r in fo], 0, "xmppd >= 3x prosody")
    row("  presence changes/s at that rate", [num(r, "rate") for r in fo], 0,
        "x contacts = deliveries")
    row("  p50 latency at that rate (ms)", [num(r, "p50_ms") for r in fo], 2)
    row("  p99 latency at that rate (ms)", [num(r, "p99_ms") for r in fo], 2)
    row("  generator CPU at that rate", [num(r, "gen_cpu") for r in fo], 2,
        ">= 0.95: generator-bound")
    row("  server CPU at that rate", [num(r, "server_cpu") for r in fo], 2)
    row("  core 0 busy with other work", [num(r, "core_other") for r in fo],
        2, "> 0.15: disturbed")
    # Capacity whatever the latency: the most any step got through
    # without loss or failure, and the server CPU it took (Prosody's p99
    # can fail the latency rule at a few % CPU).
    def peak(server, scenario, key, ok):
        best = None
        for r in rows:
            if r.get("server") == server and r.get("scenario") == scenario \
                    and ok(r) and (best is None or
                                   num(r, key) > num(best, key)):
                best = r
        return best
    rl_pk = [peak(s, "roster_login", "completed",
                  lambda r: r.get("failed") == "0" and
                  r.get("skipped") == "0") for s in servers]
    fo_pk = [peak(s, "fanout", "delivered", lambda r: r.get("lost") == "0")
             for s in servers]
    s2_pk = [peak(s + "-s2s", "chat", "delivered",
                  lambda r: r.get("lost") == "0") for s in servers]
    row("roster logins/s completed, any p99 (peak)",
        [num(r, "completed") for r in rl_pk], 0, "no login failed")
    row("  server (+ PostgreSQL) CPU at that step",
        [None if r is None else num(r, "server_cpu") +
         max(num(r, "aux_cpu") or 0, 0) for r in rl_pk], 2)
    row("presence deliveries/s, any p99 (peak)",
        [num(r, "delivered") for r in fo_pk], 0, "none lost")
    row("  server CPU at that step", [num(r, "server_cpu") for r in fo_pk],
        2)
    row("s2s msgs/s, any p99 (peak)", [num(r, "delivered") for r in s2_pk],
        0, "none lost")
    row("  servers' CPU at that step (A + B)",
        [None if r is None else num(r, "server_cpu") +
         (num(r, "server2_cpu") or 0) for r in s2_pk], 2)
    row("msgs/s across s2s, p99 <= 50 ms", [num(r, "rate") for r in s2], 0,
        "two servers, a core each")
    row("  p50 latency at that rate (ms)", [num(r, "p50_ms") for r in s2], 2)
    row("  p99 latency at that rate (ms)", [num(r, "p99_ms") for r in s2], 2)
    row("  sending server CPU (core 0)", [num(r, "server_cpu") for r in s2],
        2)
    row("  receiving server CPU (core 1)",
        [num(r, "server2_cpu") for r in s2], 2, "shares core 1 with:")
    row("  generator CPU (core 1)", [num(r, "gen_cpu") for r in s2], 2)
    row("  core 0 busy with other work", [num(r, "core_other") for r in s2],
        2, "> 0.15: disturbed")
    print("\n".join(lines))
    if db is not None:
        print("\nxmppd database work during chat, per message (%s messages): "
              "%s transactions, %s rows fetched, %s returned, %s written "
              "(must be ~0)" % (db.get("messages"), db.get("per_msg_xacts"),
              db.get("per_msg_fetched"), db.get("per_msg_returned"),
              db.get("per_msg_written")))
    rr = ratio(num(rl[0], "rate"), num(rl[1], "rate"))
    fr = ratio(num(fo[0], "delivered"), num(fo[1], "delivered"))
    sr = ratio(num(s2[0], "rate"), num(s2[1], "rate"))
    print("targets: roster logins/s %sx Prosody (>= 3x: %s); presence "
          "deliveries/s %sx Prosody (>= 3x: %s); s2s msgs/s %sx Prosody" % (
          fmt(rr, 2), verdict(None if rr is None else rr >= 3),
          fmt(fr, 2), verdict(None if fr is None else fr >= 3), fmt(sr, 2)))
    pr = ratio(num(rl_pk[0], "completed"), num(rl_pk[1], "completed"))
    pf = ratio(num(fo_pk[0], "delivered"), num(fo_pk[1], "delivered"))
    print("peaks (any p99): roster logins/s %sx, presence deliveries/s %sx; "
          "a p99-rule figure far below its peak at low server CPU is "
          "latency-bound (stalls), not capacity" % (fmt(pr, 2), fmt(pf, 2)))
EOF
