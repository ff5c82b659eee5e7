#!/bin/sh
# gen-cert.sh OUTDIR HOST [HOST...]
#
# Test and development certificates.  Creates, when missing, a CA
# (OUTDIR/ca.pem, OUTDIR/ca.key) and for each HOST a certificate signed by
# it, with subjectAltName DNS:HOST (plus IP:127.0.0.1 for "localhost", and
# IP:HOST for an IPv4 literal), written with its key to OUTDIR/HOST.pem
# (mode 0600): the ejabberd "certfiles" shape that xmppd loads.
#
# EC P-256 keys (fast).  Idempotent: an existing file is never replaced.
# Prints one line per file it created, nothing otherwise.
set -eu

usage() {
    echo "usage: $0 OUTDIR HOST [HOST...]" >&2
    exit 2
}

[ $# -ge 2 ] || usage
outdir=$1
shift
command -v openssl >/dev/null 2>&1 || {
    echo "gen-cert.sh: openssl not found (apt-get install openssl)" >&2
    exit 1
}

# The folder is readable (ca.pem is public); the keys are not.
(umask 022 && mkdir -p "$outdir")
umask 077
tmp=$(mktemp -d "$outdir/.gen-cert.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

# Run openssl quietly; show what it said only when it fails.
ossl() {
    if ! openssl "$@" >"$tmp/log" 2>&1; then
        echo "gen-cert.sh: openssl $1 failed:" >&2
        cat "$tmp/log" >&2
        exit 1
    fi
}

days_ca=3650
days_host=825

if [ ! -e "$outdir/ca.pem" ] || [ ! -e "$outdir/ca.key" ]; then
    if [ -e "$outdir/ca.pem" ] || [ -e "$outdir/ca.key" ]; then
        echo "gen-cert.sh: $outdir has only one of ca.pem and ca.key" >&2
        exit 1
    fi
    cat >"$tmp/ca.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = xmppd test CA
[v3_ca]
basicConstraints = critical, CA:TRUE, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
EOF
    ossl req -x509 -new -config "$tmp/ca.cnf" -extensions v3_ca \
        -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -days "$days_ca" -keyout "$tmp/ca.key" -out "$tmp/ca.pem"
    chmod 600 "$tmp/ca.key"
    chmod 644 "$tmp/ca.pem"
    # The key first: a ca.pem without its key would block every later run.
    mv "$tmp/ca.key" "$outdir/ca.key"
    mv "$tmp/ca.pem" "$outdir/ca.pem"
    echo "created $outdir/ca.pem $outdir/ca.key"
fi

for host in "$@"; do
    case $host in
    "" | .* | *..* | *[!A-Za-z0-9.-]*)
        echo "gen-cert.sh: not a host name: '$host'" >&2
        exit 1
        ;;
    esac
    [ -e "$outdir/$host.pem" ] && continue

    san="DNS:$host"
    if [ "$host" = localhost ]; then
        san="$san,IP:127.0.0.1"
    elif expr "$host" : '[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*\.[0-9][0-9]*$' \
        >/dev/null; then
        san="IP:$host"
    fi
    cat >"$tmp/host.cnf" <<EOF
[req]
distinguished_name = dn
prompt = no
[dn]
CN = $host
[v3_host]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    ossl req -new -config "$tmp/host.cnf" -newkey ec \
        -pkeyopt ec_paramgen_curve:P-256 -nodes -sha256 \
        -keyout "$tmp/host.key" -out "$tmp/host.csr"
    ossl x509 -req -in "$tmp/host.csr" -CA "$outdir/ca.pem" \
        -CAkey "$outdir/ca.key" -set_serial "0x$(openssl rand -hex 16)" \
        -sha256 -days "$days_host" -extfile "$tmp/host.cnf" \
        -extensions v3_host -out "$tmp/host.crt"
    cat "$tmp/host.crt" "$tmp/host.key" >"$tmp/host.pem"
    chmod 600 "$tmp/host.pem"
    mv "$tmp/host.pem" "$outdir/$host.pem"
    rm -f "$tmp/host.key" "$tmp/host.csr" "$tmp/host.crt"
    echo "created $outdir/$host.pem"
done
