#!/usr/bin/env bash
# Full backup and restore: pgbk vs pgBackRest (zst 3, process-max 2) vs
# pg_basebackup -Z server-zstd:3, on the same pgbench data in the same run.
# Reports median wall time, throughput, stored size and peak memory, and ratios.
# Not a test: run by hand, as root, on Debian 12.   SCALE=100 RUNS=3 bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-100}
RUNS=${RUNS:-3}
PARALLEL=${PARALLEL:-2}
B=${BENCH_DIR:-/tmp/pgbk-bench}
PORT=${BENCH_PORT:-55440}

. bench/common.sh
stop_server() { stop_cluster "$B/data"; }
trap stop_server EXIT

start_pgbench_cluster "$B" "$PORT" "$SCALE" "$PARALLEL"
data_mb=$(du -sm --exclude=pg_wal "$B/data" | cut -f1)
echo "data directory without pg_wal: ${data_mb} MB"

pgbackrest_conf "$B" "$PORT" "$PARALLEL"

results="$B/results.tsv"
: >"$results"
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" >>"$results"; } # tool phase seconds stored_mb peak_kb

# Peak RSS (anonymous + file-backed, not PostgreSQL's shared memory) of a process, sampled.
sample_rss() {
	local pid=$1 out=$2 peak=0 v
	while kill -0 "$pid" 2>/dev/null; do
		v=$(awk '/^RssAnon|^RssFile/ {s += $2} END {print s + 0}' "/proc/$pid/status" 2>/dev/null || echo 0)
		[ "$v" -gt "$peak" ] && peak=$v && echo "$peak" >"$out"
		sleep 0.02
	done
}

worker_pid=$(psql_b -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'pgbk backup worker'")
for run in $(seq 1 "$RUNS"); do
	echo "== run $run of $RUNS"
	# pgbk: the worker backs up; peak memory is the worker's.
	echo 0 >"$B/rss"
	sample_rss "$worker_pid" "$B/rss" &
	sampler=$!
	t0=$(now)
	label=$(psql_b -c "SELECT pgbk_backup_now(wait => true)")
	t1=$(now)
	kill $sampler 2>/dev/null || true
	wait $sampler 2>/dev/null || true
	stored=$(psql_b -c "SELECT round(stored_bytes / 1e6, 1) FROM pgbk_backups WHERE label = '$label'")
	record pgbk backup "$(echo "$t1 - $t0" | bc)" "$stored" "$(cat "$B/rss")"
	rm -rf "$B/restore_pgbk"
	t0=$(now)
	peak=$(as_pg /usr/bin/time -f %M pgbk --repo "$B/pgbk_repo-data" restore --pgdata "$B/restore_pgbk" --backup "$label" --parallel "$PARALLEL" 2>&1 >/dev/null | tail -1)
	t1=$(now)
	record pgbk restore "$(echo "$t1 - $t0" | bc)" "" "$peak"
	rm -rf "$B/restore_pgbk"

	# pgBackRest
	t0=$(now)
	peak=$(as_pg /usr/bin/time -f %M "${PBR[@]}" --type=full backup 2>&1 | tail -1)
	t1=$(now)
	pbr_label=$(ls "$B/pgbr_repo/backup/bench" | grep -E '^[0-9]{8}-[0-9]{6}F$' | sort | tail -1)
	stored=$(du -sb "$B/pgbr_repo/backup/bench/$pbr_label" | awk '{printf "%.1f", $1 / 1e6}')
	record pgbackrest backup "$(echo "$t1 - $t0" | bc)" "$stored" "$peak"
	rm -rf "$B/restore_pgbr"
	t0=$(now)
	peak=$(as_pg /usr/bin/time -f %M "${PBR[@]}" --pg1-path="$B/restore_pgbr" --set="$pbr_label" restore 2>&1 | tail -1)
	t1=$(now)
	record pgbackrest restore "$(echo "$t1 - $t0" | bc)" "" "$peak"
	rm -rf "$B/restore_pgbr"

	# pg_basebackup, server-side zstd 3; "restore" is extracting the tar.
	rm -rf "$B/bb"
	t0=$(now)
	peak=$(as_pg /usr/bin/time -f %M pg_basebackup -h "$B" -p "$PORT" -D "$B/bb" -Ft -X stream -c fast -Z server-zstd:3 2>&1 | tail -1)
	t1=$(now)
	stored=$(du -sb "$B/bb" | awk '{printf "%.1f", $1 / 1e6}')
	record pg_basebackup backup "$(echo "$t1 - $t0" | bc)" "$stored" "$peak"
	rm -rf "$B/restore_bb"
	mkdir -p "$B/restore_bb" && chown postgres "$B/restore_bb"
	t0=$(now)
	peak=$(as_pg /usr/bin/time -f %M tar -I 'zstd -d' -xf "$B/bb/base.tar.zst" -C "$B/restore_bb" 2>&1 | tail -1)
	as_pg sync
	t1=$(now)
	record pg_basebackup restore "$(echo "$t1 - $t0" | bc)" "" "$peak"
	rm -rf "$B/restore_bb" "$B/bb"
done

# WAL archive drain, after the backups (its bulk table must not enlarge them): pgbk's
# archive module vs pgBackRest archive-push --archive-async.
for run in $(seq 1 "$RUNS"); do
	echo "== drain $run of $RUNS"
	read -r n secs <<<"$(wal_drain "$B/data" psql_b "ALTER SYSTEM SET archive_library = 'pgbk'")"
	record pgbk drain "$secs" "$n" ""
	read -r n secs <<<"$(wal_drain "$B/data" psql_b "ALTER SYSTEM RESET archive_library" \
		"ALTER SYSTEM SET archive_command = 'pgbackrest --config=$B/pgbackrest.conf --stanza=bench --archive-async archive-push %p'")"
	record pgbackrest drain "$secs" "$n" ""
	psql_b -c "ALTER SYSTEM RESET archive_command" -c "ALTER SYSTEM SET archive_library = 'pgbk'" \
		-c "SELECT pg_reload_conf()" -c "DROP TABLE bulk" >/dev/null
done

echo
echo "== results: median of $RUNS runs, ${data_mb} MB of data (pgbench scale $SCALE, zstd 3, $PARALLEL threads)"
printf '%-14s %-8s %9s %9s %11s %12s\n' tool phase "wall s" "MB/s" "stored MB" "peak RSS MB"
for phase in backup restore; do
	for tool in pgbk pgbackrest pg_basebackup; do
		secs=$(awk -F'\t' -v t=$tool -v p=$phase '$1 == t && $2 == p {print $3}' "$results" | median)
		stored=$(awk -F'\t' -v t=$tool -v p=$phase '$1 == t && $2 == p {print $4}' "$results" | median)
		peak=$(awk -F'\t' -v t=$tool -v p=$phase '$1 == t && $2 == p {print $5}' "$results" | median)
		printf '%-14s %-8s %9.2f %9.0f %11s %12.1f\n' $tool $phase "$secs" "$(echo "$data_mb / $secs" | bc -l)" \
			"${stored:--}" "$(echo "$peak / 1024" | bc -l)"
		eval "${tool}_${phase}=$secs"
	done
done
for tool in pgbk pgbackrest; do
	rate=$(awk -F'\t' -v t=$tool '$1 == t && $2 == "drain" {print $4 / $3}' "$results" | median)
	eval "${tool}_rate=$rate"
	printf '%-14s %-8s %9s   %.1f segments/s\n' $tool drain "" "$rate"
done
echo
printf 'drain:   pgbk is %.2fx pgBackRest archive-push --archive-async (process-max %s)\n' \
	"$(echo "$pgbk_rate / $pgbackrest_rate" | bc -l)" "$PARALLEL"
printf 'backup:  pgbk is %.2fx pgBackRest, %.2fx pg_basebackup (speed ratio, >1 = pgbk faster)\n' \
	"$(echo "$pgbackrest_backup / $pgbk_backup" | bc -l)" "$(echo "$pg_basebackup_backup / $pgbk_backup" | bc -l)"
printf 'restore: pgbk is %.2fx pgBackRest, %.2fx tar|zstd of the pg_basebackup output\n' \
	"$(echo "$pgbackrest_restore / $pgbk_restore" | bc -l)" "$(echo "$pg_basebackup_restore / $pgbk_restore" | bc -l)"
echo "raw results: $results"
