#!/bin/sh
# Install what xmppd needs to build, run and test, from Debian 12 packages.
# Idempotent: installs only what is missing; safe to run on every `make run`.
set -eu

BUILD="gcc make pkg-config libssl-dev libsodium-dev libexpat1-dev libpq-dev
libevent-dev libyaml-dev libjansson-dev libcmocka-dev libidn11-dev libidn2-dev
libc-ares-dev"
RUN="openssl postgresql python3 python3-pytest python3-slixmpp iproute2
util-linux procps"
PEERS="prosody prosody-modules lua-unbound ejabberd dnsmasq-base"

want="$BUILD $RUN"
case "${1:-}" in
    --all) want="$want $PEERS" ;;
    --build) want="$BUILD" ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
        missing="$missing $p"
    fi
done

if [ -z "$missing" ]; then
    exit 0
fi

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi
echo "install-deps: installing:$missing"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# Debian's prosody/ejabberd packages try to start their services; we run our own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
    $SUDO chmod +x /usr/sbin/policy-rc.d
    trap '$SUDO rm -f /usr/sbin/policy-rc.d' EXIT
fi
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
