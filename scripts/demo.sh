#!/usr/bin/env bash
# The whole pgbk loop on a throwaway cluster: install, load pgbench data, back up from
# SQL, write more, restore with the pgbk CLI into a new directory, start the restored
# server and show that its data equals the source's. Run as root on Debian 12.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
./scripts/install-deps.sh
# Any supported server: PG_CONFIG=/usr/lib/postgresql/18/bin/pg_config ./scripts/demo.sh builds
# PostgreSQL 18 from Debian's source package first when it is not there (scripts/build-pg.sh).
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
if [ ! -x "$PG_CONFIG" ] && [[ $PG_CONFIG =~ ^/usr/lib/postgresql/([0-9]+)/bin/pg_config$ ]]; then
	./scripts/build-pg.sh "${BASH_REMATCH[1]}" >/dev/null
fi
./scripts/build.sh

demo=${PGBK_DEMO_DIR:-/tmp/pgbk-demo}
port=${PGBK_DEMO_PORT:-54321}
scale=${PGBK_DEMO_SCALE:-10}

. scripts/lib.sh
stop_all() {
	stop_cluster "$demo/data"
	stop_cluster "$demo/restored"
}
trap stop_all EXIT
stop_all
fresh_pg_dir "$demo"

echo "== a throwaway $("$PG_CONFIG" --version) cluster with pgbk (WAL archived by the archive module)"
new_pgbk_cluster "$demo/data" "$demo" "$port"
cat >>"$demo/data/postgresql.conf" <<CONF
# pgbk.repository is empty: the repository is $demo/pgbk_repo-data, beside the data directory
CONF
as_pg pg_ctl -D "$demo/data" -l "$demo/source.log" -w start >/dev/null
psql_src() { as_pg psql -h "$demo" -p "$port" -d postgres -X -A -t -v ON_ERROR_STOP=1 "$@"; }
psql_src -c "CREATE EXTENSION pgbk"

echo "== pgbench data, scale $scale"
as_pg pgbench -h "$demo" -p "$port" -i -s "$scale" -q postgres 2>&1 | tail -1

echo "== SELECT pgbk_backup_now(wait => true)"
label=$(psql_src -c "SELECT pgbk_backup_now(wait => true)")
echo "backup $label complete"
as_pg psql -h "$demo" -p "$port" -d postgres -X -c \
	"SELECT label, type, status, pg_size_pretty(database_bytes) AS size, pg_size_pretty(stored_bytes) AS stored, files, finished_at - started_at AS took FROM pgbk_backups"

echo "== more writes after the backup (they come back through WAL replay)"
as_pg pgbench -h "$demo" -p "$port" -t 2000 -c 2 -j 2 postgres >/dev/null 2>&1
psql_src -c "CREATE TABLE written_after_backup AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 100000) g"
# Each permanent table of public, one line each: "name rows md5-of-its-rows" (plain SQL
# per table: no xpath, which a server built without libxml lacks).
table_digests() {
	local psql=$1 t
	for t in $($psql -c "SELECT relname FROM pg_class WHERE relkind = 'r' AND relpersistence = 'p' AND relnamespace = 'public'::regnamespace ORDER BY relname"); do
		echo "$t $($psql -F ' ' -c "SELECT count(*), coalesce(md5(string_agg(t::text, '|' ORDER BY t::text)), '-') FROM public.\"$t\" t")"
	done
}
before=$(table_digests psql_src)
walfile=$(psql_src -c "SELECT pg_walfile_name(pg_switch_wal())")
for _ in $(seq 1 600); do
	[ "$(psql_src -c "SELECT coalesce(last_archived_wal >= '$walfile', false) FROM pg_stat_archiver")" = t ] && break
	sleep 0.1
done
echo "WAL up to $walfile archived"

echo "== pgbk list (from nothing but the repository)"
as_pg pgbk --repo "$demo/pgbk_repo-data" list

echo "== pgbk restore into a new directory (--clone: a copy beside the running source archives nowhere)"
as_pg pgbk --repo "$demo/pgbk_repo-data" restore --pgdata "$demo/restored" --clone
cat >>"$demo/restored/postgresql.conf" <<CONF
port = $((port + 1))
CONF
as_pg pg_ctl -D "$demo/restored" -l "$demo/restored.log" -w start >/dev/null
psql_dst() { as_pg psql -h "$demo" -p "$((port + 1))" -d postgres -X -A -t -v ON_ERROR_STOP=1 "$@"; }
for _ in $(seq 1 600); do
	[ "$(psql_dst -c "SELECT NOT pg_is_in_recovery()" 2>/dev/null)" = t ] && break
	sleep 0.1
done
after=$(table_digests psql_dst)

echo "== every table: rows and digest, source vs restored"
join <(echo "$before") <(echo "$after") |
	awk 'BEGIN { print "table source_rows restored_rows content" } { print $1, $2, $4, ($3 == $5 ? "identical" : "DIFFERENT") }' |
	column -t
if [ "$before" = "$after" ]; then
	echo "RESULT: restored data is identical to the source ($(echo "$before" | wc -l) tables)"
else
	echo "RESULT: MISMATCH"
	diff <(echo "$before") <(echo "$after") || true
	exit 1
fi
