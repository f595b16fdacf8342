#!/usr/bin/env bash
# pgbench against a paused bucket (radosgw stopped with SIGSTOP: connections are
# accepted and never answered) for DURATION seconds, three ways: without the spool
# (pgbk.spool_limit = 0: WAL waits in pg_wal, as with every archive_command tool), with
# the spool (its default 1GB), and with a small spool and pgbk.archive_overflow = drop.
# Reports the peak size of pg_wal and of the spool, how long a fast shutdown and a start
# (to the first write) take while the bucket is still paused (no request to the paused
# store may hold either: the timing goals TAP 023 only bounds loosely), the drain time
# once the bucket returns, and the time from its return to a closed gap (drop).
# Not a test: run by hand, as root, on Debian 12.   DURATION=600 SCALE=20 [CASES='no-spool spool drop'] bench/run-outage.sh
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-600}
SCALE=${SCALE:-20}
B=${BENCH_DIR:-/tmp/pgbk-bench-outage}
PORT=${BENCH_PORT:-55460}
export RGW_DIR=$B/radosgw

. bench/common.sh
rgw_pid() { sed -n 3p "$RGW_DIR/pids"; } # mon, osd, radosgw (test/s3/radosgw.sh)
cleanup() {
	[ -f "$RGW_DIR/pids" ] && kill -CONT "$(rgw_pid)" 2>/dev/null || true
	stop_cluster "$B/data"
	test/s3/radosgw.sh stop || true
}
trap cleanup EXIT
cleanup
fresh_pg_dir "$B"

echo "== radosgw with TLS on localhost:7443 (test CA)"
start_bench_radosgw "$B"

echo "== cluster: pgbench scale $SCALE, max_wal_size = 256MB"
new_pgbk_cluster "$B/data" "$B" "$PORT"
cat >>"$B/data/postgresql.conf" <<CONF
$(bench_s3_settings s3://pgbk-bench-outage/pgbk)
max_wal_size = 256MB
pgbk.s3_retry_timeout = 10
CONF
as_pg pgbk --config "$B/data/postgresql.conf" create-bucket >/dev/null
as_pg pg_ctl -D "$B/data" -l "$B/server.log" -w start >/dev/null
psql_b -c "CREATE EXTENSION pgbk" >/dev/null
as_pg pgbench -h "$B" -p "$PORT" -i -s "$SCALE" -q postgres 2>&1 | tail -1
psql_b -c "SELECT pgbk_backup_now(wait => true)" >/dev/null
spool=$B/pgbk_spool-data

# wait_until SQL TIMEOUT: seconds it took for SQL to return t (fails past TIMEOUT).
wait_until() {
	local t0 t
	t0=$(now)
	for _ in $(seq 1 $(($2 * 5))); do
		[ "$(psql_b -c "$1")" = t ] && { t=$(now); echo "$t - $t0" | bc; return 0; }
		sleep 0.2
	done
	echo "timed out waiting for: $1" >&2
	return 1
}

results=$B/results.tsv
: >"$results"
run_case() {
	local name=$1 limit=$2 overflow=$3
	echo "== $name: spool_limit $limit, archive_overflow $overflow, $DURATION s of pgbench against the paused bucket"
	psql_b -c "ALTER SYSTEM SET pgbk.spool_limit = '$limit'" -c "ALTER SYSTEM SET pgbk.archive_overflow = '$overflow'" \
		-c "SELECT pg_reload_conf()" >/dev/null
	psql_b -c "SELECT pg_switch_wal()" >/dev/null
	wait_until "SELECT pending_segments = 0 AND coalesce(spool_segments, 0) = 0 FROM pgbk_archive_status" 300 >/dev/null
	kill -STOP "$(rgw_pid)"
	as_pg pgbench -h "$B" -p "$PORT" -T "$DURATION" -c 2 -j 2 -n postgres >"$B/pgbench-$name.log" 2>&1 &
	local bench=$! peak_wal=0 peak_spool=0 w s
	while kill -0 "$bench" 2>/dev/null; do
		# Files vanish while du walks (recycled segments, drained spool files): du still
		# prints the total, and exits 1.
		w=$(du -sm "$B/data/pg_wal" 2>/dev/null | cut -f1 || true)
		s=$( [ -d "$spool" ] && du -sm "$spool" 2>/dev/null | cut -f1 || true)
		w=${w:-0} s=${s:-0}
		[ "$w" -gt "$peak_wal" ] && peak_wal=$w
		[ "$s" -gt "$peak_spool" ] && peak_spool=$s
		sleep 1
	done
	wait "$bench"
	local tps t0 stop_s start_s
	tps=$(grep -Eo 'tps = [0-9.]+' "$B/pgbench-$name.log" | head -1 | cut -d' ' -f3)
	# A restart while the bucket is still paused.
	t0=$(now)
	as_pg pg_ctl -D "$B/data" -m fast -w stop >/dev/null
	stop_s=$(echo "$(now) - $t0" | bc)
	t0=$(now)
	as_pg pg_ctl -D "$B/data" -l "$B/server.log" -w start >/dev/null
	psql_b -c "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (1, 1, 1, 1, now())" >/dev/null
	start_s=$(echo "$(now) - $t0" | bc)
	kill -CONT "$(rgw_pid)"
	local drain closed=-
	psql_b -c "SELECT pg_switch_wal()" >/dev/null
	drain=$(wait_until "SELECT pending_segments <= 1 AND coalesce(spool_segments, 0) = 0 FROM pgbk_archive_status" 3600)
	if [ "$overflow" = drop ]; then
		closed=$(wait_until "SELECT NOT rpo_broken FROM pgbk_archive_status" 3600)
		closed=$(echo "$drain + $closed" | bc)
	fi
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$tps" "$peak_wal" "$peak_spool" "$stop_s" "$start_s" "$drain" \
		"$closed" | tee -a "$results"
}

# CASES="spool drop" runs some of them.
for c in ${CASES:-no-spool spool drop}; do
	case $c in
	no-spool) run_case no-spool 0 wait ;;
	spool) run_case spool 1GB wait ;;
	drop) run_case drop 64MB drop ;;
	esac
done

echo
echo "| $DURATION s of pgbench (2 clients), bucket paused | tps | peak pg_wal | peak spool | fast stop, paused | start to first write, paused | drain after return | return -> gap closed |"
echo "|---|---|---|---|---|---|---|---|"
while IFS=$'\t' read -r name tps wal sp stop_s start_s drain closed; do
	printf '| %s | %s | %s MB | %s MB | %.1f s | %.1f s | %.1f s | %s |\n' "$name" "$tps" "$wal" "$sp" "$stop_s" "$start_s" "$drain" \
		"$([ "$closed" = - ] && echo - || printf '%.1f s' "$closed")"
done <"$results"
