#!/bin/sh
# deploy/run.sh: what `make run` runs after building.  Starts a private
# PostgreSQL (unless the config names a database) and xmppd on
# 127.0.0.1:5222 in the foreground, with everything kept under var/.
# The first run writes var/xmppd.yml, a dev certificate and an admin
# account, and prints how to use them.  Ctrl-C stops xmppd, then PostgreSQL.
set -eu

cd "$(dirname "$0")/.."

VAR=var
CONF=$VAR/xmppd.yml
CERTS=$VAR/certs
PGDIR=$VAR/pg
MARKER=$VAR/.admin-created
DOMAIN=localhost
XMPPD=build/xmppd
XMPPCTL=build/xmppctl
READY_TIMEOUT=20

say() {
    echo "run: $*" >&2
}

die() {
    echo "run: $*" >&2
    exit 1
}

# Random hex of $1 bytes from the kernel's CSPRNG.
random_hex() {
    od -An -tx1 -N"$1" /dev/urandom | tr -d ' \n'
}

for f in "$XMPPD" "$XMPPCTL" deploy/pg.sh deploy/gen-cert.sh; do
    [ -x "$f" ] || die "$f is missing or not executable (run 'make all')"
done

# PostgreSQL runs as its own user: var/ must be reachable by it.
mkdir -p "$VAR"
chmod 755 "$VAR"

if [ ! -e "$CONF" ]; then
    token=$(random_hex 16)
    tmp=$CONF.tmp.$$
    # The file holds the admin token: readable by its owner only.
    (
        umask 077
        cat >"$tmp" <<EOF
# xmppd configuration, written by the first \`make run\`.
# Shaped like ejabberd.yml; see README.md for every key.
hosts: [$DOMAIN]
loglevel: info
certfiles: [certs/$DOMAIN.pem]     # relative to this file's folder
# state_dir defaults to this file's folder.  No sql_* keys: the embedded
# PostgreSQL under var/pg, started by \`make run\`.
listen:
  - {port: 5222, ip: 127.0.0.1, module: c2s, starttls: true, starttls_required: true}
  - {port: 5280, ip: 127.0.0.1, module: admin_http, token: "$token"}
acl: {admin: {user: [admin@$DOMAIN]}}
access_rules: {configure: [{allow: admin}]}
EOF
    )
    mv "$tmp" "$CONF"
    say "wrote $CONF"
else
    say "using $CONF"
fi

# Idempotent: makes the CA and the certificate only when missing.
deploy/gen-cert.sh "$CERTS" "$DOMAIN" >/dev/null

xmppd_pid=""
pg_started=""

stop_all() {
    if [ -n "$xmppd_pid" ] && kill -0 "$xmppd_pid" 2>/dev/null; then
        say "stopping xmppd (pid $xmppd_pid)"
        kill -TERM "$xmppd_pid" 2>/dev/null || :
        # `wait` returns early when another signal arrives: loop until the
        # process is really gone.
        while kill -0 "$xmppd_pid" 2>/dev/null; do
            wait "$xmppd_pid" 2>/dev/null || :
        done
    fi
    xmppd_pid=""
    if [ -n "$pg_started" ]; then
        say "stopping PostgreSQL ($PGDIR)"
        deploy/pg.sh stop "$PGDIR" || say "PostgreSQL did not stop cleanly"
        pg_started=""
    fi
}

# shellcheck disable=SC2317 # called by the trap
on_signal() {
    trap '' INT TERM HUP
    echo >&2
    stop_all
    exit 0
}

trap on_signal INT TERM HUP
trap stop_all EXIT

# The embedded default: no sql_* key means a private cluster in var/pg.
# setsid: the terminal's Ctrl-C reaches this script only; it stops the
# server first and the database after, in that order.
if ! grep -Eq '^[[:space:]]*sql_[a-z_]+[[:space:]]*:' "$CONF"; then
    say "starting PostgreSQL in $PGDIR"
    setsid -w deploy/pg.sh start "$PGDIR" </dev/null
    pg_started=1
fi

# The admin listener's port, for the health check.
admin_port=$(sed -n '/module:[[:space:]]*admin_http/s/.*port:[[:space:]]*\([0-9][0-9]*\).*/\1/p' \
    "$CONF" | head -n 1)

health_ok() {
    if [ -z "$admin_port" ]; then
        # No admin listener we can see: ask xmppctl (exit 3: unreachable).
        "$XMPPCTL" --config "$CONF" status >/dev/null 2>&1
        return
    fi
    url="http://127.0.0.1:$admin_port/health"
    if command -v curl >/dev/null 2>&1; then
        curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null
    else
        /usr/bin/python3 -c 'import sys, urllib.request
urllib.request.urlopen(sys.argv[1], timeout=1)' "$url" 2>/dev/null
    fi
}

# Another xmppd on our ports would answer the health check for us.
if [ -n "$admin_port" ] && health_ok; then
    die "something already answers on 127.0.0.1:$admin_port" \
        "(another xmppd?); stop it first"
fi

say "starting $XMPPD --config $CONF"
setsid "$XMPPD" --config "$CONF" &
xmppd_pid=$!

tries=$((READY_TIMEOUT * 5))
until health_ok; do
    if ! kill -0 "$xmppd_pid" 2>/dev/null; then
        rc=0
        wait "$xmppd_pid" || rc=$?
        xmppd_pid=""
        die "xmppd exited with status $rc during start (see its log above)"
    fi
    tries=$((tries - 1))
    [ "$tries" -gt 0 ] || die "xmppd not ready within ${READY_TIMEOUT}s"
    sleep 0.2
done

if [ ! -e "$MARKER" ]; then
    password=$(random_hex 12)
    if printf '%s\n' "$password" |
        "$XMPPCTL" --config "$CONF" register admin "$DOMAIN" - >/dev/null
    then
        : >"$MARKER"
        cat >&2 <<EOF

==================================================================
 xmppd is running on 127.0.0.1:5222 (STARTTLS required).

 Admin account (shown only this once, keep it):
   JID:       admin@$DOMAIN
   password:  $password

 Your client must trust the dev CA: $PWD/$CERTS/ca.pem

 Operator CLI (reads the admin token from the config):
   $XMPPCTL --config $CONF status
   $XMPPCTL --config $CONF register alice $DOMAIN -     (password on stdin)
   $XMPPCTL --config $CONF registered_users $DOMAIN
   $XMPPCTL --config $CONF help
 or export XMPPD_CONFIG=$PWD/$CONF and drop --config.

 Ctrl-C stops xmppd and its PostgreSQL; \`make run\` again reuses all.
==================================================================

EOF
    else
        say "could not create admin@$DOMAIN (it may exist already);" \
            "set its password with: $XMPPCTL --config $CONF" \
            "change_password admin $DOMAIN NEWPASS"
    fi
else
    say "xmppd is running on 127.0.0.1:5222; CA: $CERTS/ca.pem;" \
        "admin CLI: $XMPPCTL --config $CONF help"
fi

# In the foreground until xmppd exits or Ctrl-C.
rc=0
wait "$xmppd_pid" || rc=$?
# A signal interrupts wait with status > 128 while the trap runs; reaching
# here means xmppd exited by itself.
xmppd_pid=""
say "xmppd exited with status $rc"
stop_all
trap - EXIT
exit "$rc"
