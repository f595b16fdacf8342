#!/usr/bin/env bash
# Runs every pgbk test on a Debian 12 machine, as root: installs the dependencies,
# then core unit tests (GoogleTest/CTest, also under AddressSanitizer+UBSan), the
# clang-format check, a short libFuzzer run over the parsers, the PGXS build with -Werror, pg_regress and the end-to-end TAP
# tests on real PostgreSQL 15 clusters (run as the postgres user).
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)

if [ "$(id -u)" -ne 0 ]; then
	echo "run as root (it installs packages and runs the servers as the postgres user)" >&2
	exit 1
fi
./scripts/install-deps.sh

# A real S3-compatible server on loopback for the S3 tests (strict SigV4).
export RGW_DIR=${RGW_DIR:-/tmp/pgbk-test-radosgw}
test/s3/radosgw.sh install
test/s3/radosgw.sh wipe
test/s3/make-test-ca.sh "$RGW_DIR-tls"
export RGW_TLS_PEM="$RGW_DIR-tls/server.pem" RGW_TLS_CA="$RGW_DIR-tls/ca.pem"
echo "== starting radosgw (S3 on 127.0.0.1:7480, HTTPS on 7443 with a test CA)"
test/s3/radosgw.sh start
eval "$(test/s3/radosgw.sh env)"
# OpenStack Swift's S3 layer: a store without conditional writes (TAP 025).
test/s3/swift.sh install
echo "== starting Swift with s3api (S3 on 127.0.0.1:7490)"
test/s3/swift.sh start
eval "$(test/s3/swift.sh env)"

echo "== formatting (clang-format) and the one source list"
files=$(find src test/unit test/fuzz -name '*.cpp' -o -name '*.hpp')
clang-format --dry-run --Werror $files
./scripts/check-sources.sh

echo "== core unit tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGBK_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
ctest --test-dir build --output-on-failure

echo "== core unit tests under AddressSanitizer and UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPGBK_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" >/dev/null
ASAN_OPTIONS=detect_leaks=1 ctest --test-dir build-asan --output-on-failure

echo "== fuzzing the parsers of untrusted bytes (libFuzzer, briefly: longer runs with scripts/fuzz.sh SECONDS)"
./scripts/fuzz.sh 15

echo "== extension build (-Werror) and install"
make -s clean >/dev/null 2>&1 || true
./scripts/build.sh

echo "== the storage contract on each store (test/s3/contract.sh)"
for store in S3 SWIFT; do
	endpoint=PGBK_TEST_${store}_ENDPOINT access=PGBK_TEST_${store}_ACCESS_KEY secret=PGBK_TEST_${store}_SECRET_KEY
	PGBK_S3_ENDPOINT=${!endpoint} PGBK_S3_ACCESS_KEY_ID=${!access} PGBK_S3_SECRET_ACCESS_KEY=${!secret} \
		PGBK_S3_URI_STYLE=path test/s3/contract.sh "s3://pgbk-contract-$(echo $store | tr A-Z a-z)/check"
done

echo "== pg_regress and end-to-end tests (as postgres)"
work=$(mktemp -d /tmp/pgbk-test.XXXXXX)
# A small file system of its own for a local repository that fills up (TAP 024).
smallfs=$(mktemp -d /tmp/pgbk-smallfs.XXXXXX)
mount -t tmpfs -o size=96m,mode=0700 tmpfs "$smallfs"
chown postgres "$smallfs"
trap 'umount "$smallfs"; rmdir "$smallfs"; rm -rf "$work"; test/s3/radosgw.sh stop; test/s3/swift.sh stop' EXIT
cp -a "$src"/. "$work"/
rm -rf "$work"/build "$work"/build-asan "$work"/build-fuzz
chown -R postgres "$work"
status=0
runuser -u postgres -- env PGBK_TEST_S3_ENDPOINT="$PGBK_TEST_S3_ENDPOINT" PGBK_TEST_S3_REGION="$PGBK_TEST_S3_REGION" \
	PGBK_TEST_S3_ACCESS_KEY="$PGBK_TEST_S3_ACCESS_KEY" PGBK_TEST_S3_SECRET_KEY="$PGBK_TEST_S3_SECRET_KEY" \
	PGBK_TEST_SWIFT_ENDPOINT="$PGBK_TEST_SWIFT_ENDPOINT" PGBK_TEST_SWIFT_ACCESS_KEY="$PGBK_TEST_SWIFT_ACCESS_KEY" \
	PGBK_TEST_SWIFT_SECRET_KEY="$PGBK_TEST_SWIFT_SECRET_KEY" \
	PGBK_TEST_SMALL_FS="$smallfs" make -C "$work" -s installcheck PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config || status=$?
if [ $status -ne 0 ]; then
	[ -f "$work/regression.diffs" ] && cat "$work/regression.diffs"
	for f in "$work"/tmp_check/log/regress_log_*; do
		[ -f "$f" ] && { echo "---- $f (tail)"; tail -n 60 "$f"; }
	done
	exit $status
fi
echo "== all tests passed"
