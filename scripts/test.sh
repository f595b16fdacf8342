#!/usr/bin/env bash
# Runs every pgbk test on a Debian 12 machine, as root: installs the dependencies, builds the
# newer PostgreSQL servers from Debian's source packages (once, cached), then core unit tests
# (GoogleTest/CTest, also under AddressSanitizer+UBSan), the clang-format check, a short
# libFuzzer run over the parsers, the PGXS build with -Werror for every version, the Debian
# packages (checked from a clean root), and pg_regress plus the end-to-end TAP tests on real
# clusters of each tested version at once (run as the postgres user).
#   PGBK_TEST_PG=15,18   the versions tested end to end (default 15,18)
#   PGBK_BUILD_PG=17     versions only built against, with -Werror (default 17; empty: none)
set -euo pipefail
cd "$(dirname "$0")/.."
src=$(pwd)
IFS=, read -r -a test_versions <<<"${PGBK_TEST_PG:-15,18}"
IFS=, read -r -a build_versions <<<"${PGBK_BUILD_PG-17}"

if [ "$(id -u)" -ne 0 ]; then
	echo "run as root (it installs packages and runs the servers as the postgres user)" >&2
	exit 1
fi

# The wall time of each part, printed at the end.
started=$(date +%s) part_started=$started part_name="" timings=() skipped_versions=()
part() {
	local now
	now=$(date +%s)
	[ -z "$part_name" ] || timings+=("$(printf '%5ds  %s' $((now - part_started)) "$part_name")")
	part_name=$1 part_started=$now
	[ -z "$1" ] || echo "== $1"
}
report_timings() {
	part ""
	echo "== wall time of each part"
	printf '%s\n' "${timings[@]}"
	printf '%5ds  total\n' $(($(date +%s) - started))
	[ ${#skipped_versions[@]} -eq 0 ] || echo "not built: PostgreSQL ${skipped_versions[*]} (source package not on the mirror)"
}

part "dependencies (Debian packages)"
./scripts/install-deps.sh

# A real S3-compatible server on loopback for the S3 tests (strict SigV4).
export RGW_DIR=${RGW_DIR:-/tmp/pgbk-test-radosgw}
part "PostgreSQL ${test_versions[*]} ${build_versions[*]}: Debian's binaries, or built from Debian's source packages (cached)"
declare -A pg_config
for v in "${test_versions[@]}"; do pg_config[$v]=$(./scripts/build-pg.sh "$v"); done
# Built against where its source can be had: a mirror may list a source package it does not
# carry (build-pg.sh exits 3), and the run goes on without that version, saying so.
built_versions=() skipped_versions=()
for v in "${build_versions[@]}"; do
	rc=0
	pg_config[$v]=$(./scripts/build-pg.sh "$v" headers) || rc=$?
	case $rc in
	0) built_versions+=("$v") ;;
	3) skipped_versions+=("$v") && echo "PostgreSQL $v: its source package is not on this machine's mirror; not built" ;;
	*) exit $rc ;;
	esac
done

part "radosgw and Swift on loopback"
test/s3/radosgw.sh install
test/s3/radosgw.sh wipe
test/s3/make-test-ca.sh "$RGW_DIR-tls"
export RGW_TLS_PEM="$RGW_DIR-tls/server.pem" RGW_TLS_CA="$RGW_DIR-tls/ca.pem"
echo "starting radosgw (S3 on 127.0.0.1:7480, HTTPS on 7443 with a test CA)"
test/s3/radosgw.sh start
eval "$(test/s3/radosgw.sh env)"
# OpenStack Swift's S3 layer: a store without conditional writes (TAP 025).
test/s3/swift.sh install
echo "starting Swift with s3api (S3 on 127.0.0.1:7490)"
test/s3/swift.sh start
eval "$(test/s3/swift.sh env)"

# ccache: every build below (core, sanitizers, fuzzers, extension, packages) reuses what an
# earlier run, or an earlier part of this one, compiled with the same flags.
export PATH=/usr/lib/ccache:$PATH CCACHE_NOHASHDIR=1

part "formatting (clang-format) and the one source list"
files=$(find src test/unit test/fuzz -name '*.cpp' -o -name '*.hpp')
clang-format --dry-run --Werror $files
./scripts/check-sources.sh

# Every component a test needs is up in this run, so a test that skips did not run: a failure.
ctest_without_skips() {
	local out rc=0
	out=$(mktemp)
	ctest "$@" --output-on-failure 2>&1 | tee "$out" || rc=$?
	if grep -q "(Skipped)" "$out"; then
		echo "== unit tests skipped (every component is up in this run, so a skip is a failure):"
		grep "(Skipped)" "$out"
		rc=1
	fi
	rm -f "$out"
	return $rc
}

part "core unit tests"
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPGBK_WERROR=ON >/dev/null
cmake --build build -j"$(nproc)" >/dev/null
ctest_without_skips --test-dir build

part "core unit tests under AddressSanitizer and UBSan"
cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DPGBK_SANITIZE=ON >/dev/null
cmake --build build-asan -j"$(nproc)" >/dev/null
ASAN_OPTIONS=detect_leaks=1 ctest_without_skips --test-dir build-asan

part "fuzzing the parsers of untrusted bytes (libFuzzer, briefly: longer runs with scripts/fuzz.sh SECONDS)"
./scripts/fuzz.sh 15

for v in "${test_versions[@]}" "${built_versions[@]}"; do
	part "extension build for PostgreSQL $v (-Werror) and make install"
	make -s clean PG_CONFIG="${pg_config[$v]}" >/dev/null 2>&1 || true
	PG_CONFIG=${pg_config[$v]} ./scripts/build.sh
done

part "Debian packages (dpkg-buildpackage), checked from a clean root"
packages=$(mktemp -d /tmp/pgbk-packages.XXXXXX)
git ls-files -z 2>/dev/null | tar --null -T - -cf - 2>/dev/null | tar -C "$packages" --one-top-level=pgbk -xf - ||
	{ mkdir -p "$packages/pgbk" && tar --exclude='./build*' -cf - . | tar -C "$packages/pgbk" -xf -; }
(cd "$packages/pgbk" && DEB_BUILD_OPTIONS="parallel=$(nproc) nocheck" PG_SUPPORTED_VERSIONS="${test_versions[*]}" \
	dpkg-buildpackage -us -uc -b >"$packages/build.log" 2>&1) || {
	tail -40 "$packages/build.log"
	exit 1
}
ls "$packages"/*.deb | xargs -n1 basename
./scripts/check-packages.sh "$packages" "${test_versions[@]}"

part "the storage contract on each store (test/s3/contract.sh)"
for store in S3 SWIFT; do
	endpoint=PGBK_TEST_${store}_ENDPOINT access=PGBK_TEST_${store}_ACCESS_KEY secret=PGBK_TEST_${store}_SECRET_KEY
	PGBK_S3_ENDPOINT=${!endpoint} PGBK_S3_ACCESS_KEY_ID=${!access} PGBK_S3_SECRET_ACCESS_KEY=${!secret} \
		PGBK_S3_URI_STYLE=path test/s3/contract.sh "s3://pgbk-contract-$(echo $store | tr A-Z a-z)/check"
done

part "pg_regress and end-to-end tests on PostgreSQL ${test_versions[*]}, at once (as postgres)"
work=$(mktemp -d /tmp/pgbk-test.XXXXXX)
# mktemp makes it 0700 and root's; the suites run as postgres below it.
chmod 755 "$work"
# A small file system of its own for a local repository that fills up (TAP 024), one per version.
mounts=()
trap 'for m in "${mounts[@]}"; do umount "$m"; done; rm -rf "$work" "$packages"; test/s3/radosgw.sh stop; test/s3/swift.sh stop' EXIT
# The suites run side by side: the cluster ports they pick are locked in one place.
mkdir -p "$work/portlock"
chmod 1777 "$work/portlock"
# A failed TAP test's log: an assertion that failed, a plan not reached or a death.
failure_lines='not ok\|Bail out\|Looks like your test\|Looks like you failed\|timed out waiting\|died'
failed_test() { [ -f "$1" ] && grep -q "$failure_lines" "$1"; }
# The name of the test whose regress_log is $1.
test_name_of() { basename "$1" | sed 's/^regress_log_//'; }
# The servers' logs of the test whose regress_log is $1 (each named after the test).
test_logs() { ls "$(dirname "$1")/$(test_name_of "$1")"_*.log 2>/dev/null || true; }
# At most ~20 lines: the failed assertions, the test's last words, its servers' last errors.
brief_failure() {
	local version=$1 f=$2
	echo "-- PostgreSQL $version: $(test_name_of "$f")"
	{ grep -h -A3 "^\[[^]]*\]([^)]*) not ok\|^not ok" "$f" || true; } | head -n 8
	{ grep -v "^\[[^]]*\]([^)]*) ok \|^# Checking port\|^# Found port" "$f" || true; } | tail -n 4
	for server_log in $(test_logs "$f"); do
		{ grep -H "ERROR\|FATAL\|PANIC\|pgbk: error" "$server_log" |
			grep -v "due to administrator command\|the database system is" || true; } | tail -n 2
	done | tail -n 6
}
declare -A pids
for v in "${test_versions[@]}"; do
	tree=$work/$v
	mkdir -p "$tree/smallfs"
	mount -t tmpfs -o size=96m,mode=0700 tmpfs "$tree/smallfs"
	mounts+=("$tree/smallfs")
	cp -a "$src"/. "$tree/src"
	rm -rf "$tree/src"/build "$tree/src"/build-asan "$tree/src"/build-fuzz
	chown -R postgres "$tree"
	# TAP 027 runs a cluster of another tested version beside this one.
	other=""
	for o in "${test_versions[@]}"; do [ "$o" = "$v" ] || { other=$(dirname "$(dirname "${pg_config[$o]}")"); break; }; done
	runuser -u postgres -- env PGBK_TEST_S3_ENDPOINT="$PGBK_TEST_S3_ENDPOINT" PGBK_TEST_S3_REGION="$PGBK_TEST_S3_REGION" \
		PGBK_TEST_S3_ACCESS_KEY="$PGBK_TEST_S3_ACCESS_KEY" PGBK_TEST_S3_SECRET_KEY="$PGBK_TEST_S3_SECRET_KEY" \
		PGBK_TEST_SWIFT_ENDPOINT="$PGBK_TEST_SWIFT_ENDPOINT" PGBK_TEST_SWIFT_ACCESS_KEY="$PGBK_TEST_SWIFT_ACCESS_KEY" \
		PGBK_TEST_SWIFT_SECRET_KEY="$PGBK_TEST_SWIFT_SECRET_KEY" PGBK_TEST_SMALL_FS="$tree/smallfs" \
		PGBK_TEST_PG_OTHER="$other" PG_TEST_PORT_DIR="$work/portlock" \
		make -C "$tree/src" -s installcheck PG_CONFIG="${pg_config[$v]}" >"$tree/test.log" 2>&1 &
	pids[$v]=$!
done
status=0
for v in "${test_versions[@]}"; do
	rc=0
	wait "${pids[$v]}" || rc=$?
	tree=$work/$v
	echo "---- PostgreSQL $v: pg_regress and TAP (exit $rc)"
	cat "$tree/test.log"
	# prove counts a file that ends in skip_all as passed; here every component is up.
	if grep -q "\.pl \.* *skipped" "$tree/test.log"; then
		echo "---- PostgreSQL $v: TAP files skipped (every component is up in this run, so a skip is a failure)"
		grep "\.pl \.* *skipped" "$tree/test.log" | tee -a "$work/failures"
		[ $rc -ne 0 ] || rc=1
		status=1
	fi
	if [ $rc -ne 0 ]; then
		status=$rc
		if [ -f "$tree/src/regression.diffs" ]; then
			cat "$tree/src/regression.diffs"
			{ echo "-- PostgreSQL $v: pg_regress"; head -n 12 "$tree/src/regression.diffs"; } >>"$work/failures"
		fi
		# Each failed test: its failures with what led to them, its last lines, and the
		# end of each of its servers' logs (the reason is usually there).
		for f in "$tree"/src/tmp_check/log/regress_log_*; do
			failed_test "$f" || continue
			echo "---- $f (failures)"
			grep -n -B12 -A8 "$failure_lines" "$f" | head -n 200
			echo "---- $f (tail)"
			tail -n 40 "$f"
			for server_log in $(test_logs "$f"); do
				echo "---- $server_log (tail)"
				tail -n 60 "$server_log"
			done
			brief_failure "$v" "$f" >>"$work/failures"
		done
	fi
done
report_timings
if [ $status -ne 0 ]; then
	# Last, where a reader of only the end of the output sees it.
	echo "== what failed (details above)"
	cat "$work/failures" 2>/dev/null
	exit $status
fi
echo "== all tests passed"
