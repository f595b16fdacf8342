#!/usr/bin/env bash
# pgbk vs pgBackRest on the same S3 store (a local radosgw over TLS, which pgBackRest
# requires), same data, same run: full backup, restore, and the drain of a WAL backlog.
# Not a test: run by hand, as root, on Debian 12.   SCALE=100 RUNS=2 bench/run-s3.sh
set -euo pipefail
cd "$(dirname "$0")/.."

SCALE=${SCALE:-100}
RUNS=${RUNS:-2}
PARALLEL=${PARALLEL:-2}
B=${BENCH_DIR:-/tmp/pgbk-bench-s3}
PORT=${BENCH_PORT:-55450}
export RGW_DIR=$B/radosgw

. bench/common.sh
cleanup() {
	stop_cluster "$B/data"
	test/s3/radosgw.sh stop || true
}
trap cleanup EXIT
cleanup
fresh_pg_dir "$B"

echo "== radosgw with TLS on localhost:7443 (test CA)"
start_bench_radosgw "$B"

echo "== cluster: pgbench scale $SCALE"
new_pgbk_cluster "$B/data" "$B" "$PORT"
cat >>"$B/data/postgresql.conf" <<CONF
pgbk.parallel = $PARALLEL
$(bench_s3_settings s3://pgbk-bench/pgbk)
max_wal_size = 16GB
checkpoint_timeout = 30min
shared_buffers = 1GB
CONF
as_pg pgbk --config "$B/data/postgresql.conf" create-bucket >/dev/null
as_pg pg_ctl -D "$B/data" -l "$B/server.log" -w start >/dev/null
psql_b -c "CREATE EXTENSION pgbk" >/dev/null
as_pg pgbench -h "$B" -p "$PORT" -i -s "$SCALE" -q postgres 2>&1 | tail -1
psql_b -c "CHECKPOINT" >/dev/null
data_mb=$(du -sm --exclude=pg_wal "$B/data" | cut -f1)

pgbackrest_conf "$B" "$PORT" "$PARALLEL" "$(bench_pgbackrest_s3_repo pgbk-bench)"

results=$B/results.tsv
: >"$results"
record() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >>"$results"; }

for run in $(seq 1 "$RUNS"); do
	echo "== run $run of $RUNS"
	t0=$(now); label=$(psql_b -c "SELECT pgbk_backup_now(wait => true)"); t1=$(now)
	record pgbk backup "$(echo "$t1 - $t0" | bc)"
	rm -rf "$B/r1"
	t0=$(now); as_pg pgbk --config "$B/data/postgresql.conf" restore --pgdata "$B/r1" --backup "$label" >/dev/null; t1=$(now)
	record pgbk restore "$(echo "$t1 - $t0" | bc)"
	rm -rf "$B/r1"
	t0=$(now); as_pg "${PBR[@]}" --type=full backup; t1=$(now)
	record pgbackrest backup "$(echo "$t1 - $t0" | bc)"
	rm -rf "$B/r2"
	t0=$(now); as_pg "${PBR[@]}" --pg1-path="$B/r2" restore; t1=$(now)
	record pgbackrest restore "$(echo "$t1 - $t0" | bc)"
	rm -rf "$B/r2"
done

# WAL drain after the backups (its bulk table must not enlarge them).
for run in $(seq 1 "$RUNS"); do
	read -r n secs <<<"$(wal_drain "$B/data" psql_b "ALTER SYSTEM SET archive_library = 'pgbk'")"
	record pgbk drain "$(echo "$secs / $n" | bc -l)"
	read -r n secs <<<"$(wal_drain "$B/data" psql_b "ALTER SYSTEM RESET archive_library" \
		"ALTER SYSTEM SET archive_command = 'pgbackrest --config=$B/pgbackrest.conf --stanza=bench --archive-async archive-push %p'")"
	record pgbackrest drain "$(echo "$secs / $n" | bc -l)"
	psql_b -c "ALTER SYSTEM RESET archive_command" -c "ALTER SYSTEM SET archive_library = 'pgbk'" \
		-c "SELECT pg_reload_conf()" -c "DROP TABLE bulk" >/dev/null
done
psql_b -c "ALTER SYSTEM RESET archive_command" -c "ALTER SYSTEM SET archive_library = 'pgbk'" -c "SELECT pg_reload_conf()" >/dev/null

echo
echo "== results: median of $RUNS runs, ${data_mb} MB of data, pgbench scale $SCALE, S3 = radosgw over TLS on loopback"
printf '%-12s %-8s %9s\n' tool phase "wall s (drain: s per segment)"
for phase in backup restore drain; do
	for tool in pgbk pgbackrest; do
		secs=$(awk -F'\t' -v t=$tool -v p=$phase '$1 == t && $2 == p {print $3}' "$results" | median)
		eval "${tool}_${phase}=$secs"
		extra=""
		[ "$phase" = drain ] && extra=$(printf '(%.1f segments/s)' "$(echo "1 / $secs" | bc -l)")
		printf '%-12s %-8s %9.3f %s\n' $tool $phase "$secs" "$extra"
	done
done
for phase in backup restore drain; do
	eval "p=\$pgbackrest_$phase; k=\$pgbk_$phase"
	printf '%-8s pgbk is %.2fx pgBackRest (>1 = faster)\n' $phase "$(echo "$p / $k" | bc -l)"
done
echo "raw results: $results"
