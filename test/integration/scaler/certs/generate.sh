#!/usr/bin/env bash
# Regenerates the test PKI used by the scaler's TLS/mTLS integration test (checked in so tests
# need no openssl at run time). Valid for 100 years; never use these anywhere else.
set -euo pipefail
cd "$(dirname "$0")"
days=36500
openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.pem -days $days \
  -subj "/CN=lockstep test CA" 2>/dev/null
gen() {  # name, extensions
  openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1" 2>/dev/null
  printf '%s\n' "$2" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -out "$1.pem" \
    -days $days -extfile "$1.ext" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
gen server "subjectAltName=DNS:localhost,IP:127.0.0.1
extendedKeyUsage=serverAuth"
gen client "extendedKeyUsage=clientAuth"
# A second, unrelated CA and client: must be refused under mTLS.
openssl req -x509 -newkey rsa:2048 -nodes -keyout other-ca.key -out other-ca.pem -days $days \
  -subj "/CN=other CA" 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout stranger.key -out stranger.csr -subj "/CN=stranger" 2>/dev/null
openssl x509 -req -in stranger.csr -CA other-ca.pem -CAkey other-ca.key -CAcreateserial \
  -out stranger.pem -days $days 2>/dev/null
rm -f stranger.csr *.srl ca.key other-ca.key other-ca.pem
