#!/usr/bin/env bash
# WAL replay of a restore that needs about 2 GB of archived WAL: pgbk wal-fetch with
# prefetch (8 segments ahead, 2 at a time) vs pgBackRest archive-get --archive-async
# (process-max 2), same WAL, same run. Both back up an almost empty cluster, then
# pgbench -i -s 130 writes ~2 GB of WAL; each restores its backup and the time from
# server start to the end of recovery (promotion) is measured. With pgbk's prefetch off
# (--prefetch 0) too, to show what prefetching buys.
# MODE=s3 puts both repositories on a local radosgw over TLS (as bench/run-s3.sh).
# Not a test: run by hand, as root, on Debian 12.   WAL_SCALE=160 [MODE=s3] bench/run-wal-replay.sh
set -euo pipefail
cd "$(dirname "$0")/.."

WAL_SCALE=${WAL_SCALE:-160}
MODE=${MODE:-local}
PARALLEL=${PARALLEL:-2}
B=${BENCH_DIR:-/tmp/pgbk-bench-replay}
PORT=${BENCH_PORT:-55460}

. bench/common.sh
psql_at() { as_pg psql -h "$B" -p "$1" -d postgres -X -A -t -v ON_ERROR_STOP=1 -c "$2"; }
export RGW_DIR=$B/radosgw
cleanup() {
	for d in data r_pgbk r_pgbk_noprefetch r_pgbr; do stop_cluster "$B/$d"; done
	[ "$MODE" = s3 ] && test/s3/radosgw.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup
fresh_pg_dir "$B"

pgbk_repo=(--repo "$B/pgbk_repo-data")
pgbr_repo="repo1-path=$B/pgbr_repo"
s3_conf=""
if [ "$MODE" = s3 ]; then
	echo "== radosgw with TLS on localhost:7443 (test CA)"
	start_bench_radosgw "$B"
	s3_conf=$(bench_s3_settings s3://pgbk-replay/pgbk)
	pgbk_repo=(--config "$B/data/postgresql.conf")
	pgbr_repo=$(bench_pgbackrest_s3_repo pgbk-replay)
fi
echo "== cluster (WAL archived by pgbk, kept in pg_wal for pgBackRest's archive too; $MODE repositories)"
new_pgbk_cluster "$B/data" "$B" "$PORT"
cat >>"$B/data/postgresql.conf" <<CONF
$s3_conf
pgbk.parallel = $PARALLEL
max_wal_size = 16GB
wal_keep_size = 8GB
checkpoint_timeout = 30min
shared_buffers = 512MB
CONF
[ "$MODE" = s3 ] && as_pg pgbk "${pgbk_repo[@]}" create-bucket >/dev/null
as_pg pg_ctl -D "$B/data" -l "$B/server.log" -w start >/dev/null
psql_at "$PORT" "CREATE EXTENSION pgbk" >/dev/null

pgbackrest_conf "$B" "$PORT" "$PARALLEL" "$pgbr_repo" "archive-async=y"

echo "== backups of the empty cluster"
label=$(psql_at "$PORT" "SELECT pgbk_backup_now(wait => true)")
as_pg "${PBR[@]}" --type=full backup
pbr_label=$(as_pg "${PBR[@]}" info --output=json | grep -oE '"label":"[0-9]{8}-[0-9]{6}F"' | tail -1 | cut -d'"' -f4)
start_lsn=$(psql_at "$PORT" "SELECT start_lsn FROM pgbk_backups WHERE label = '$label'")

echo "== pgbench -i -s $WAL_SCALE: the WAL to replay"
as_pg pgbench -h "$B" -p "$PORT" -i -s "$WAL_SCALE" -q postgres 2>&1 | tail -1
last=$(psql_at "$PORT" "SELECT pg_walfile_name(pg_switch_wal())")
wal_mb=$(psql_at "$PORT" "SELECT round((pg_current_wal_lsn() - '$start_lsn') / 1048576)")
until [ "$(psql_at "$PORT" "SELECT coalesce(last_archived_wal >= '$last', false) FROM pg_stat_archiver")" = t ]; do sleep 0.2; done
echo "   ${wal_mb} MB of WAL since the backups; archived by pgbk up to $last"
# The same segments into pgBackRest's archive (outside the measurement).
for f in $(ls "$B/data/pg_wal" | grep -E '^[0-9A-F]{24}$' | sort); do
	[[ "$f" > "$last" ]] && break
	as_pg "${PBR[@]}" --archive-async=n archive-push "$B/data/pg_wal/$f"
done
as_pg pg_ctl -D "$B/data" -m fast -w stop >/dev/null

results="$B/results.tsv"
: >"$results"
# replay NAME PORT: starts the restored cluster in $B/NAME and prints the seconds until
# recovery has ended (promoted).
replay() {
	local dir=$B/$1 port=$2 t0 t1
	cat >>"$dir/postgresql.auto.conf" <<CONF
port = $port
unix_socket_directories = '$B'
archive_mode = off
shared_buffers = 512MB
CONF
	t0=$(now)
	as_pg pg_ctl -D "$dir" -l "$B/$1.log" start >/dev/null
	until [ "$(psql_at "$port" "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" = t ]; do sleep 0.05; done
	t1=$(now)
	echo "$t1 - $t0" | bc
	stop_cluster "$dir"
}

echo "== restore and replay: pgbk (prefetch 8, $PARALLEL at a time)"
as_pg pgbk "${pgbk_repo[@]}" restore --pgdata "$B/r_pgbk" --backup "$label" --clone >/dev/null
printf 'pgbk\t%s\n' "$(replay r_pgbk $((PORT + 1)))" >>"$results"
echo "== restore and replay: pgbk without prefetch"
as_pg pgbk "${pgbk_repo[@]}" restore --pgdata "$B/r_pgbk_noprefetch" --backup "$label" --clone >/dev/null
sed -i 's/ wal-fetch / wal-fetch --prefetch 0 /' "$B/r_pgbk_noprefetch/postgresql.auto.conf"
printf 'pgbk-no-prefetch\t%s\n' "$(replay r_pgbk_noprefetch $((PORT + 2)))" >>"$results"
echo "== restore and replay: pgBackRest archive-get --archive-async"
as_pg "${PBR[@]}" --pg1-path="$B/r_pgbr" --set="$pbr_label" --archive-mode=off restore
printf 'pgbackrest\t%s\n' "$(replay r_pgbr $((PORT + 3)))" >>"$results"

echo
echo "== results: replay of ${wal_mb} MB of WAL (zstd 3 in both repositories, $MODE)"
get() { awk -F'\t' -v t="$1" '$1 == t {print $2}' "$results"; }
for tool in pgbk pgbk-no-prefetch pgbackrest; do
	printf '%-18s %7.2f s  %6.0f MB/s of WAL\n' "$tool" "$(get $tool)" "$(echo "$wal_mb / $(get $tool)" | bc -l)"
done
printf 'pgbk with prefetch is %.2fx pgBackRest archive-get async, %.2fx pgbk without prefetch\n' \
	"$(echo "$(get pgbackrest) / $(get pgbk)" | bc -l)" "$(echo "$(get pgbk-no-prefetch) / $(get pgbk)" | bc -l)"
