#!/usr/bin/env bash
# Runs every libFuzzer target (test/fuzz/fuzz_*.cpp) for SECONDS each (default 30), from
# the seeds in test/fuzz/corpus/<target>/ plus what earlier runs found (kept in
# build-fuzz/corpus/). A finding stops the run with the crashing input saved in
# build-fuzz/ and its stack trace on stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-30}
cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DPGBK_FUZZ=ON \
	-DPGBK_WERROR=ON >/dev/null
cmake --build build-fuzz -j"$(nproc)" >/dev/null
for source in test/fuzz/fuzz_*.cpp; do
	target=$(basename "$source" .cpp)
	corpus=build-fuzz/corpus/$target
	mkdir -p "$corpus"
	seeds=()
	[ -d "test/fuzz/corpus/$target" ] && seeds=("test/fuzz/corpus/$target")
	echo "== $target for $seconds s"
	# libFuzzer exits non-zero on a finding (crash, leak, timeout, out of memory), leaving the
	# input in build-fuzz/ as crash-*, leak-*, timeout-* or oom-*.
	status=0
	(cd build-fuzz && ./"$target" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
		-print_final_stats=1 "../$corpus" "${seeds[@]/#/../}" >"$target.log" 2>&1) || status=$?
	grep -E "^(stat::number_of_executed_units|stat::peak_rss)" "build-fuzz/$target.log" || true
	if [ "$status" -ne 0 ]; then
		grep -vE "^(INFO|#[0-9])" "build-fuzz/$target.log" | head -60 >&2
		echo "$target: a finding (exit $status), log in build-fuzz/$target.log" >&2
		exit 1
	fi
done
echo "== fuzzing found nothing"
