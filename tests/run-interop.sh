#!/bin/sh
# Run the federation interop suite (tests/interop, issue 4): xmppd next to
# Prosody 0.12 and ejabberd 23.01, with dnsmasq answering the .test names,
# all inside a private network namespace that has only loopback.
#
#   tests/run-interop.sh [DIR...]        (default: tests/interop)
#
# Environment:
#   PYTEST_ARGS       extra pytest arguments, shell-quoted, e.g.
#                     PYTEST_ARGS="-x -k 'prosody and message'"
#   XMPPD_BUILD       the build folder to test (default: $BUILD or build)
#   XMPPD_TEST_KEEP=1 keep the lab's temp dir (configs, logs, data)
#   XMPPD_INTEROP_REQUIRE_S2S=1
#                     fail (instead of skip) the xmppd tests when xmppd's
#                     config loader does not know the s2s keys yet
# Needs root (unshare -n; the peers run as the prosody and ejabberd users).
set -eu

PY=/usr/bin/python3        # Debian's: python3-pytest and python3-slixmpp

die() {
    echo "run-interop: $*" >&2
    exit 1
}

cd "$(dirname "$0")/.."
[ "$#" -gt 0 ] || set -- tests/interop
for d in "$@"; do
    [ -e "$d" ] || die "no such test directory: $d"
done

deps="deploy/install-deps.sh --all"
[ -x "$PY" ] || die "$PY not found (apt-get install python3)"
"$PY" -c 'import pytest' 2>/dev/null || die "pytest missing for $PY ($deps)"
"$PY" -c 'import slixmpp' 2>/dev/null || die "slixmpp missing for $PY ($deps)"
for tool in prosody prosodyctl ejabberdctl dnsmasq openssl setpriv unshare ip; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool not found ($deps)"
done
# Prosody 0.12 resolves s2s names with libunbound only when lua-unbound is
# there; its fallback resolver reads /etc/resolv.conf and cannot be
# pointed at the lab's dnsmasq.
prosodyctl about 2>/dev/null | grep -q '^luaunbound:' ||
    die "Prosody cannot find lua-unbound (apt-get install lua-unbound)"
[ "$(id -u)" = 0 ] ||
    die "run as root (unshare -n; Prosody and ejabberd run as their users)"
build=${XMPPD_BUILD:-${BUILD:-build}}
[ -x "$build/xmppd" ] || die "$build/xmppd missing: run 'make all' first"
export XMPPD_BUILD="$build"

unshare -n sh -c 'ip link set lo up' 2>/dev/null ||
    die "cannot create a network namespace (unshare -n)"

# -p no:cacheprovider: leave no .pytest_cache in the tree.
eval "set -- -m pytest -p no:cacheprovider -ra ${PYTEST_ARGS:-} \"\$@\""
echo "run-interop: $PY $* (in a loopback-only network namespace)"
# shellcheck disable=SC2016 # expanded by the inner shell
exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$PY" "$@"
