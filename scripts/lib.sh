# Shared shell helpers for scripts/demo.sh and bench/*.sh (sourced, not run).
# The server's programs: those of $PG_CONFIG (default Debian 12's PostgreSQL 15).
PGBIN=$("${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}" --bindir)

# Runs a command as the postgres user with PostgreSQL's programs on PATH.
as_pg() { runuser -u postgres -- env PATH="$PGBIN:$PATH" "$@"; }

now() { date +%s.%N; }

# fresh_pg_dir DIR: DIR empty and the postgres user's.
fresh_pg_dir() {
	rm -rf "$1"
	mkdir -p "$1"
	chown postgres "$1"
}

# Median of the numbers on stdin.
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# new_pgbk_cluster DATADIR SOCKETDIR PORT: initdb (data checksums) and the settings that
# load pgbk and archive WAL through it. Callers append their own settings.
new_pgbk_cluster() {
	as_pg initdb -D "$1" --data-checksums -A trust >/dev/null
	cat >>"$1/postgresql.conf" <<CONF
port = $3
unix_socket_directories = '$2'
listen_addresses = ''
shared_preload_libraries = 'pgbk'
wal_level = replica
archive_mode = on
archive_library = 'pgbk'
CONF
}

# stop_cluster DATADIR: fast shutdown if it runs.
stop_cluster() { [ -f "$1/postmaster.pid" ] && as_pg pg_ctl -D "$1" -m fast -w stop >/dev/null 2>&1 || true; }

# wal_drain DATADIR PSQL_FUNCTION RESUME_SQL...: pauses archiving, writes about 1.5 GB
# of WAL at pgbench scale 100 (a copy of pgbench_accounts), runs the RESUME_SQL
# statements and a reload, and prints "<segments> <seconds>": the segments left once the
# first was archived, and the time from then until none is left. The clock starts at the
# first archived segment because switching archive_library restarts PostgreSQL's
# archiver, which it does at most every 10 s and only on a postmaster wake-up: that
# delay is not archiving speed.
wal_drain() {
	local data=$1 psql=$2
	shift 2
	ready() { ls "$data/pg_wal/archive_status" | grep -c '\.ready$' || true; }
	"$psql" -c "ALTER SYSTEM SET archive_library = ''" -c "ALTER SYSTEM SET archive_command = ''" \
		-c "SELECT pg_reload_conf()" >/dev/null
	sleep 1 # the archiver restarts on an archive_library change; let it settle idle
	"$psql" -c "DROP TABLE IF EXISTS bulk" -c "CREATE TABLE bulk AS SELECT * FROM pgbench_accounts" \
		-c "SELECT pg_switch_wal()" >/dev/null
	local n left t0 t1 stmt
	n=$(ready)
	for stmt in "$@"; do "$psql" -c "$stmt" >/dev/null; done
	"$psql" -c "SELECT pg_reload_conf()" >/dev/null
	while [ "$(ready)" -ge "$n" ]; do
		sleep 0.02
		"$psql" -c "SELECT 1" >/dev/null # a connection wakes the postmaster
	done
	t0=$(now)
	left=$(ready)
	while [ "$(ready)" -gt 0 ]; do sleep 0.02; done
	t1=$(now)
	echo "$left $(echo "$t1 - $t0" | bc)"
}

# pgbackrest_conf BENCHDIR PORT PARALLEL [REPO_LINES [EXTRA_GLOBAL_LINES]]: writes
# BENCHDIR/pgbackrest.conf for stanza "bench" (zst 3, process-max PARALLEL, cluster
# BENCHDIR/data; repository BENCHDIR/pgbr_repo unless REPO_LINES say otherwise) and
# creates the stanza. Sets PBR to the pgbackrest command line.
pgbackrest_conf() {
	local b=$1 port=$2 parallel=$3 repo=${4:-repo1-path=$1/pgbr_repo} extra=${5:-}
	cat >"$b/pgbackrest.conf" <<CONF
[global]
$repo
repo1-retention-full=9999999
log-path=$b/pgbr_log
lock-path=$b/pgbr_lock
spool-path=$b/pgbr_spool
log-level-console=warn
log-level-file=off
compress-type=zst
compress-level=3
process-max=$parallel
start-fast=y
archive-check=n
$extra
[bench]
pg1-path=$b/data
pg1-port=$port
pg1-socket-path=$b
CONF
	chown postgres "$b/pgbackrest.conf"
	PBR=(pgbackrest --config="$b/pgbackrest.conf" --stanza=bench)
	as_pg "${PBR[@]}" stanza-create >/dev/null
}

# start_bench_radosgw BENCHDIR: radosgw with TLS on localhost:7443 (a throwaway CA:
# pgBackRest refuses plain HTTP); sets S3_ENDPOINT, RGW_TLS_CA and the test keys.
start_bench_radosgw() {
	export RGW_DIR=$1/radosgw
	test/s3/radosgw.sh install
	test/s3/make-test-ca.sh "$1/tls"
	chmod 644 "$1/tls/ca.pem"
	export RGW_TLS_PEM=$1/tls/server.pem RGW_TLS_CA=$1/tls/ca.pem
	test/s3/radosgw.sh start
	eval "$(test/s3/radosgw.sh env)"
	S3_ENDPOINT=https://localhost:7443
}

# bench_s3_settings URL: pgbk's settings for the bench radosgw.
bench_s3_settings() {
	cat <<CONF
pgbk.repository = '$1'
pgbk.s3_endpoint = '$S3_ENDPOINT'
pgbk.s3_uri_style = 'path'
pgbk.s3_ca_file = '$RGW_TLS_CA'
pgbk.s3_access_key_id = '$PGBK_TEST_S3_ACCESS_KEY'
pgbk.s3_secret_access_key = '$PGBK_TEST_S3_SECRET_KEY'
CONF
}

# bench_pgbackrest_s3_repo BUCKET: pgBackRest's repository lines for the bench radosgw.
bench_pgbackrest_s3_repo() {
	cat <<CONF
repo1-type=s3
repo1-path=/pgbackrest
repo1-s3-bucket=$1
repo1-s3-endpoint=localhost
repo1-storage-port=7443
repo1-storage-ca-file=$RGW_TLS_CA
repo1-s3-region=us-east-1
repo1-s3-uri-style=path
repo1-s3-key=$PGBK_TEST_S3_ACCESS_KEY
repo1-s3-key-secret=$PGBK_TEST_S3_SECRET_KEY
CONF
}

# start_pgbench_cluster BENCHDIR PORT SCALE PARALLEL: a fresh cluster in BENCHDIR/data
# (data checksums, WAL archived by pgbk, settings for a bulk benchmark), started, with
# the extension and pgbench data at SCALE, checkpointed.
start_pgbench_cluster() {
	local b=$1 port=$2 scale=$3 parallel=$4
	stop_cluster "$b/data"
	fresh_pg_dir "$b"
	echo "== cluster: pgbench scale $scale, data checksums, WAL archived by pgbk"
	new_pgbk_cluster "$b/data" "$b" "$port"
	cat >>"$b/data/postgresql.conf" <<CONF
pgbk.parallel = $parallel
pgbk.compression_level = 3
max_wal_size = 16GB
min_wal_size = 80MB
checkpoint_timeout = 30min
shared_buffers = 1GB
CONF
	as_pg pg_ctl -D "$b/data" -l "$b/server.log" -w start >/dev/null
	as_pg psql -h "$b" -p "$port" -d postgres -X -q -c "CREATE EXTENSION pgbk" >/dev/null
	as_pg pgbench -h "$b" -p "$port" -i -s "$scale" -q postgres 2>&1 | tail -1
	as_pg psql -h "$b" -p "$port" -d postgres -X -q -c "VACUUM ANALYZE" -c "CHECKPOINT" >/dev/null
}
