# Shared shell helpers for scripts/demo.sh and bench/*.sh (sourced, not run).
PGBIN=/usr/lib/postgresql/15/bin

# Runs a command as the postgres user with PostgreSQL's programs on PATH.
as_pg() { runuser -u postgres -- env PATH="$PGBIN:$PATH" "$@"; }

now() { date +%s.%N; }

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
