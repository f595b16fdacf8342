#!/usr/bin/env bash
# Makes a throwaway CA and a server certificate for localhost/127.0.0.1 signed by it,
# for the HTTPS tests: DIR/ca.pem (trust this) and DIR/server.pem (certificate + key,
# as radosgw's ssl_certificate wants).
set -euo pipefail
dir=$1
mkdir -p "$dir"
cd "$dir"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pgbk test CA" \
	-keyout ca.key -out ca.pem >/dev/null 2>&1
openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout server.key -out server.csr >/dev/null 2>&1
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' >san.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2 -extfile san.ext \
	-out server.crt >/dev/null 2>&1
cat server.crt server.key >server.pem
