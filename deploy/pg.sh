#!/bin/sh
# deploy/pg.sh: a private PostgreSQL cluster for development and tests.
#
#   deploy/pg.sh start  DIR [--fast]   init if needed, start, create db xmppd
#   deploy/pg.sh stop   DIR            fast shutdown (no-op when stopped)
#   deploy/pg.sh status DIR            exit 0 when running, 3 when stopped
#
# Data lives in DIR/data, the log in DIR/pg.log, and the unix socket in DIR
# itself (listen_addresses is empty: no TCP at all).  The superuser is
# `xmppd`, trusted on the socket only.  Connect with
#   psql -h DIR -U xmppd xmppd
# or, from xmppd, the conninfo "host=DIR dbname=xmppd user=xmppd".
#
# initdb refuses to run as root, so as root the cluster belongs to the
# `postgres` user: DIR is chowned to it and chmod 755 (other local users
# must be able to reach the socket), and every parent of DIR must be
# traversable by postgres (`chmod o+x`): a mkdtemp directory under /tmp is
# fine.  As any other user the cluster belongs to that user.
#
# --fast turns off fsync, synchronous_commit and full_page_writes: a crash
# may then lose or corrupt data.  It is for tests only; the default keeps
# PostgreSQL's durability.
set -eu

prog=deploy/pg.sh

die() {
    echo "$prog: $*" >&2
    exit 1
}

usage() {
    echo "usage: $prog start DIR [--fast] | stop DIR | status DIR" >&2
    exit 2
}

pg_bindir() {
    b=""
    if command -v pg_config >/dev/null 2>&1; then
        b=$(pg_config --bindir 2>/dev/null || true)
    fi
    if [ -n "$b" ] && [ -x "$b/initdb" ] && [ -x "$b/pg_ctl" ]; then
        echo "$b"
        return
    fi
    # Debian keeps the server binaries per major version; take the newest.
    b=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k5 -n |
        tail -n 1)
    [ -n "$b" ] && [ -x "$b/initdb" ] || die "no PostgreSQL server binaries" \
        "(install the postgresql package)"
    echo "$b"
}

# Run a server-side command as the cluster's owner.
as_owner() {
    if [ "$owner" = "" ]; then
        "$@"
    else
        runuser -u "$owner" -- "$@"
    fi
}

[ $# -ge 2 ] || usage
cmd=$1
dir=$2
shift 2
fast=no
for a in "$@"; do
    case "$a" in
        --fast) fast=yes ;;
        *) usage ;;
    esac
done
case "$cmd" in start|stop|status) ;; *) usage ;; esac

# The directory ends up inside pg_ctl's -o string (run by /bin/sh) and in a
# socket path: keep it to characters that need no quoting.
case "$dir" in
    *[!A-Za-z0-9._/+-]*)
        die "DIR may only hold letters, digits and ._/+-: $dir" ;;
esac
if [ "$cmd" = start ]; then
    mkdir -p "$dir"
fi
[ -d "$dir" ] || die "no such directory: $dir"
dir=$(cd "$dir" && pwd -P)
# sun_path holds 107 bytes; the socket is DIR/.s.PGSQL.5432.
[ ${#dir} -le 90 ] || die "DIR is too long for a unix socket path: $dir"

bin=$(pg_bindir)
data=$dir/data

owner=""
if [ "$(id -u)" = 0 ]; then
    owner=postgres
    if [ -d "$data" ]; then
        # Keep whoever created an existing cluster (unless that was root).
        o=$(stat -c %U "$data")
        [ "$o" = root ] || owner=$o
    fi
    id "$owner" >/dev/null 2>&1 || die "user $owner does not exist"
fi

is_running() {
    [ -f "$data/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$data" status \
        >/dev/null 2>&1
}

case "$cmd" in
status)
    if [ ! -f "$data/PG_VERSION" ]; then
        echo "$prog: no cluster in $dir"
        exit 4
    fi
    if is_running; then
        echo "$prog: running in $dir"
        exit 0
    fi
    echo "$prog: stopped ($dir)"
    exit 3
    ;;
stop)
    if is_running; then
        as_owner "$bin/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null
    fi
    exit 0
    ;;
esac

# start
if [ -n "$owner" ]; then
    chown "$owner:" "$dir"
    chmod 755 "$dir"
    as_owner test -w "$dir" -a -x "$dir" ||
        die "$owner cannot reach $dir: make its parents traversable (chmod o+x)"
fi

if [ ! -f "$data/PG_VERSION" ]; then
    sync_opt=""
    [ "$fast" = yes ] && sync_opt=--no-sync
    # Trust on the socket only; TCP is off anyway, and rejected if enabled.
    as_owner "$bin/initdb" -D "$data" -U xmppd --auth-local=trust \
        --auth-host=reject -E UTF8 --locale=C.UTF-8 $sync_opt \
        >"$dir/initdb.log" 2>&1 ||
        die "initdb failed, see $dir/initdb.log"
fi

if ! is_running; then
    opts="-c listen_addresses= -k $dir -c unix_socket_permissions=0777"
    if [ "$fast" = yes ]; then
        opts="$opts -c fsync=off -c synchronous_commit=off"
        opts="$opts -c full_page_writes=off"
    fi
    as_owner "$bin/pg_ctl" -D "$data" -l "$dir/pg.log" -w -t 60 \
        -o "$opts" start >/dev/null ||
        die "PostgreSQL did not start, see $dir/pg.log"
fi

# The client side needs no privileges: the socket is trusted for xmppd.
has_db=$("$bin/psql" -h "$dir" -U xmppd -d postgres -X -q -t -A \
    -c "SELECT 1 FROM pg_database WHERE datname = 'xmppd'") ||
    die "cannot connect to the cluster in $dir"
if [ "$has_db" != 1 ]; then
    # Another start may race us to it: only fail if it is still missing.
    "$bin/createdb" -h "$dir" -U xmppd -E UTF8 xmppd 2>/dev/null ||
        [ "$("$bin/psql" -h "$dir" -U xmppd -d postgres -X -q -t -A \
            -c "SELECT 1 FROM pg_database WHERE datname = 'xmppd'")" = 1 ] ||
        die "cannot create database xmppd"
fi
exit 0
