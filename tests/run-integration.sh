#!/bin/sh
# Run the pytest integration suites (tests/integration, ...) against xmppd.
#
#   tests/run-integration.sh DIR...
#
# By default everything (PostgreSQL, xmppd, the clients) runs inside a
# private network namespace that has only loopback (unshare -n), so no
# packet can leave the machine whatever a library decides to resolve.
#
# Environment:
#   PYTEST_ARGS          extra pytest arguments, shell-quoted, e.g.
#                        PYTEST_ARGS="-x -k 'ping or version'"
#   XMPPD_TEST_EXTERNAL  host:c2sport:adminport:token: test a server that is
#                        already running (no namespace, no private PG).  With
#                        it: XMPPD_TEST_CA (CA file to trust), XMPPD_TEST_CONFIG
#                        (its config, for xmppctl and --check-config tests),
#                        XMPPD_TEST_DOMAIN (default localhost),
#                        XMPPD_TEST_HANDSHAKE_TIMEOUT (default 30),
#                        XMPPD_TEST_AUTH_FAILURE_DELAY_MS (default 1000).
#   XMPPD_TEST_KEEP=1    keep the session's temp dir (config, logs, PG).
#   XMPPD_BUILD          the build folder to test (default: $BUILD or build),
#                        e.g. build-asan.
set -eu

PY=/usr/bin/python3        # Debian's: python3-pytest and python3-slixmpp

die() {
    echo "run-integration: $*" >&2
    exit 1
}

if [ "$#" -eq 0 ]; then
    echo "usage: tests/run-integration.sh DIR..." >&2
    exit 2
fi

cd "$(dirname "$0")/.."

for d in "$@"; do
    [ -e "$d" ] || die "no such test directory: $d"
done

[ -x "$PY" ] || die "$PY not found (apt-get install python3)"
"$PY" -c 'import pytest' 2>/dev/null ||
    die "pytest missing for $PY (apt-get install python3-pytest, or run deploy/install-deps.sh)"
"$PY" -c 'import slixmpp' 2>/dev/null ||
    die "slixmpp missing for $PY (apt-get install python3-slixmpp, or run deploy/install-deps.sh)"

# PYTEST_ARGS holds several arguments, with shell quoting as typed:
# PYTEST_ARGS="-k 'ping or version'".  eval keeps the quotes meaningful.
# -p no:cacheprovider: leave no .pytest_cache in the tree.
eval "set -- -m pytest -p no:cacheprovider -ra ${PYTEST_ARGS:-} \"\$@\""

if [ -n "${XMPPD_TEST_EXTERNAL:-}" ]; then
    echo "run-integration: against the running server $(echo \
        "$XMPPD_TEST_EXTERNAL" | cut -d: -f1-3) (no namespace)"
    exec "$PY" "$@"
fi

command -v unshare >/dev/null 2>&1 ||
    die "unshare not found (apt-get install util-linux)"
command -v ip >/dev/null 2>&1 ||
    die "ip not found (apt-get install iproute2)"
build=${XMPPD_BUILD:-${BUILD:-build}}
if [ ! -x "$build/xmppd" ] || [ ! -x "$build/xmppctl" ]; then
    die "$build/xmppd or $build/xmppctl missing: run 'make all' first"
fi

# Probe the namespace first, so a missing privilege is reported as such
# and not as a test failure.
if ! unshare -n sh -c 'ip link set lo up' 2>/dev/null; then
    die "cannot create a network namespace (unshare -n needs root or
user namespaces; run as root, or set XMPPD_TEST_EXTERNAL)"
fi

echo "run-integration: $PY $* (in a loopback-only network namespace)"
# shellcheck disable=SC2016 # expanded by the inner shell
exec unshare -n sh -c 'ip link set lo up && exec "$0" "$@"' "$PY" "$@"
