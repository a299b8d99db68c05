#!/usr/bin/env bash
# Creates a local development CA and a TLS server certificate signed by it, for kvws's HTTPS/WebSocket port.
#
#   certs-dev/ca.pem, certs-dev/ca.key          dev CA (EC P-256, CA:true, 10 years,
#                                                name-constrained to localhost and loopback addresses)
#   certs-dev/server.pem, certs-dev/server.key  leaf for localhost, 127.0.0.1, ::1 (EC P-256,
#                                                serverAuth, 825 days); server.pem holds leaf then CA
#
# Usage: certs-dev/make-dev-certs.sh [--force]
# Idempotent: does nothing when all four files exist. If only the CA exists, issues a new leaf from it
# (so a CA you already trust keeps working). --force replaces all four.
# Private keys are created mode 600. Never commit them (.gitignore excludes *.key, *.pem, *.srl, *.csr).
set -euo pipefail

DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
CA_DAYS=3650
LEAF_DAYS=825 # the most Apple platforms and Chrome accept for a TLS server certificate

force=0
case "${1:-}" in
  '') ;;
  --force) force=1 ;;
  -h | --help)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "usage: $0 [--force]" >&2
    exit 2
    ;;
esac

command -v openssl >/dev/null || {
  echo "make-dev-certs: openssl is required" >&2
  exit 1
}

ca_pem="$DIR/ca.pem" ca_key="$DIR/ca.key" srv_pem="$DIR/server.pem" srv_key="$DIR/server.key"

if [[ $force -eq 0 && -f $ca_pem && -f $ca_key && -f $srv_pem && -f $srv_key ]]; then
  echo "make-dev-certs: certificates already exist in $DIR (use --force to replace them)"
  exit 0
fi

umask 077
work="$(mktemp -d "$DIR/.tmp.XXXXXX")"
trap 'rm -rf "$work"' EXIT

new_ca=0
if [[ $force -eq 1 || ! -f $ca_pem || ! -f $ca_key ]]; then
  new_ca=1
  cat >"$work/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
x509_extensions = v3_ca
[dn]
O = kvws development
CN = kvws local development CA
[v3_ca]
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
# Even if this CA's key leaks, it can only vouch for this machine's own names.
nameConstraints = critical, permitted;DNS:localhost, permitted;IP:127.0.0.0/255.0.0.0, permitted;IP:::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff
EOF
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/ca.key"
  openssl req -x509 -new -sha256 -days "$CA_DAYS" -config "$work/ca.cnf" \
    -key "$work/ca.key" -out "$work/ca.pem"
  ca_in_pem="$work/ca.pem" ca_in_key="$work/ca.key"
else
  ca_in_pem="$ca_pem" ca_in_key="$ca_key"
fi

cat >"$work/leaf.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
O = kvws development
CN = localhost
[v3_leaf]
basicConstraints = critical, CA:false
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1, IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid, issuer
EOF
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$work/server.key"
openssl req -new -sha256 -config "$work/leaf.cnf" -key "$work/server.key" -out "$work/server.csr"
# A random serial avoids leaving a ca.srl file behind.
openssl x509 -req -sha256 -days "$LEAF_DAYS" -in "$work/server.csr" \
  -CA "$ca_in_pem" -CAkey "$ca_in_key" -set_serial "0x$(openssl rand -hex 16)" \
  -extfile "$work/leaf.cnf" -extensions v3_leaf -out "$work/server.crt" 2>/dev/null
openssl verify -CAfile "$ca_in_pem" "$work/server.crt" >/dev/null
cat "$work/server.crt" "$ca_in_pem" >"$work/server.pem"

# Move into place only after everything succeeded; keys first so a .pem never exists without its key.
if [[ $new_ca -eq 1 ]]; then
  mv -f "$work/ca.key" "$ca_key"
  mv -f "$work/ca.pem" "$ca_pem"
fi
mv -f "$work/server.key" "$srv_key"
mv -f "$work/server.pem" "$srv_pem"
chmod 600 "$ca_key" "$srv_key"
chmod 644 "$ca_pem" "$srv_pem"

if [[ $new_ca -eq 1 ]]; then
  echo "make-dev-certs: created a new dev CA ($ca_pem) and server certificate ($srv_pem)"
  echo "make-dev-certs: to make browsers trust it, see certs-dev/README.md"
else
  echo "make-dev-certs: issued a new server certificate ($srv_pem) from the existing CA"
fi
