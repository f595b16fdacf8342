#!/usr/bin/env bash
# Differential/incremental backups: pgbk (page deltas) vs pgBackRest (file-level
# incremental), on the same pgbench data and the same changes in the same run.
#   1. full backup by each tool;
#   2. an UPDATE of one contiguous 1% of pgbench_accounts, then an incremental by each;
#   3. 60 s of uniform TPC-B (pgbench, 2 clients), then an incremental by each;
#   4. restore of the last incremental (the whole chain) by each.
# Reports wall time and stored size of each, and the incremental's share of the full.
# Not a test: run by hand, as root, on Debian 12.   SCALE=100 bench/run-incr.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-100}
PARALLEL=${PARALLEL:-2}
TPCB_SECONDS=${TPCB_SECONDS:-60}
B=${BENCH_DIR:-/tmp/pgbk-bench-incr}
PORT=${BENCH_PORT:-55441}

. bench/common.sh
stop_server() { stop_cluster "$B/data"; }
trap stop_server EXIT

start_pgbench_cluster "$B" "$PORT" "$SCALE" "$PARALLEL"
data_mb=$(du -sm --exclude=pg_wal "$B/data" | cut -f1)
echo "data directory without pg_wal: ${data_mb} MB"

pgbackrest_conf "$B" "$PORT" "$PARALLEL"

results="$B/results.tsv"
: >"$results"
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" >>"$results"; } # tool step seconds stored_mb

backup_both() {
	local step=$1 pgbk_type=$2 pbr_type=$3 t0 t1 label stored pbr_label
	t0=$(now)
	label=$(psql_b -c "SELECT pgbk_backup_now('$pgbk_type', wait => true)")
	t1=$(now)
	stored=$(psql_b -c "SELECT round(stored_bytes / 1e6, 2) FROM pgbk_backups WHERE label = '$label'")
	record pgbk "$step" "$(echo "$t1 - $t0" | bc)" "$stored"
	echo "$label" >"$B/pgbk_last"
	t0=$(now)
	as_pg "${PBR[@]}" --type="$pbr_type" backup
	t1=$(now)
	pbr_label=$(ls "$B/pgbr_repo/backup/bench" | grep -E '^[0-9]{8}-[0-9]{6}F' | sort | tail -1)
	stored=$(du -sb "$B/pgbr_repo/backup/bench/$pbr_label" | awk '{printf "%.2f", $1 / 1e6}')
	record pgbackrest "$step" "$(echo "$t1 - $t0" | bc)" "$stored"
	echo "$pbr_label" >"$B/pbr_last"
}

echo "== full backups"
backup_both full full full
echo "== UPDATE of 1% of pgbench_accounts (one contiguous range), then incrementals"
accounts=$((SCALE * 100000))
psql_b -c "UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid BETWEEN $((accounts / 2)) AND $((accounts / 2 + accounts / 100 - 1))" \
	-c "CHECKPOINT" >/dev/null
backup_both incr-1pct incr incr
pct_pages=$(psql_b -c "SELECT round(100.0 * $((accounts / 100)) / (pg_relation_size('pgbench_accounts') / 8192 * 61), 2)")
echo "== ${TPCB_SECONDS} s of uniform TPC-B, then incrementals"
as_pg pgbench -h "$B" -p "$PORT" -n -c 2 -j 2 -T "$TPCB_SECONDS" postgres 2>&1 | grep -E '^(tps|number of transactions actually)'
psql_b -c "CHECKPOINT" >/dev/null
backup_both incr-tpcb incr incr

echo "== restore of the last incremental (the whole chain)"
rm -rf "$B/restore_pgbk" "$B/restore_pgbr"
t0=$(now)
as_pg pgbk --repo "$B/pgbk_repo-data" restore --pgdata "$B/restore_pgbk" --backup "$(cat "$B/pgbk_last")" --parallel "$PARALLEL" >/dev/null
t1=$(now)
record pgbk restore-chain "$(echo "$t1 - $t0" | bc)" ""
t0=$(now)
as_pg "${PBR[@]}" --pg1-path="$B/restore_pgbr" --set="$(cat "$B/pbr_last")" restore
t1=$(now)
record pgbackrest restore-chain "$(echo "$t1 - $t0" | bc)" ""
rm -rf "$B/restore_pgbk" "$B/restore_pgbr"

echo
echo "== results: ${data_mb} MB of data (pgbench scale $SCALE, zstd 3, $PARALLEL threads)"
get() { awk -F'\t' -v t="$1" -v s="$2" -v c="$3" '$1 == t && $2 == s {print $c}' "$results"; }
printf '%-11s %-14s %9s %11s %16s\n' tool step "wall s" "stored MB" "% of full size"
for step in full incr-1pct incr-tpcb restore-chain; do
	for tool in pgbk pgbackrest; do
		secs=$(get $tool $step 3)
		stored=$(get $tool $step 4)
		share=-
		[ -n "$stored" ] && share=$(echo "100 * $stored / $(get $tool full 4)" | bc -l | xargs printf '%.2f')
		printf '%-11s %-14s %9.2f %11s %16s\n' $tool $step "$secs" "${stored:--}" "$share"
	done
done
echo
for step in incr-1pct incr-tpcb; do
	printf '%-10s pgbk stores %.1fx less than pgBackRest, %.2fx its speed; pgbk incremental = %.1f%% of its full in time\n' \
		"$step:" "$(echo "$(get pgbackrest $step 4) / $(get pgbk $step 4)" | bc -l)" \
		"$(echo "$(get pgbackrest $step 3) / $(get pgbk $step 3)" | bc -l)" \
		"$(echo "100 * $(get pgbk $step 3) / $(get pgbk full 3)" | bc -l)"
done
printf 'restore of the chain: pgbk is %.2fx pgBackRest\n' \
	"$(echo "$(get pgbackrest restore-chain 3) / $(get pgbk restore-chain 3)" | bc -l)"
echo "the 1% UPDATE touched about ${pct_pages}% of pgbench_accounts' pages; raw results: $results"
