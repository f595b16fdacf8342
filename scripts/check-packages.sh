#!/usr/bin/env bash
# scripts/check-packages.sh DEBDIR MAJOR...: installs the Debian packages built into DEBDIR
# (dpkg-buildpackage) into a clean root that holds nothing but each server's own files and
# ours, and checks that they work from there: the server of each MAJOR loads pgbk, CREATE
# EXTENSION pgbk and a backup succeed, and the packaged pgbk command runs and lists it.
# PostgreSQL finds its libraries and extension files relative to its programs, so a server
# copied into the root reads only the root's pgbk files, never the ones make install left.
set -euo pipefail
debdir=${1:?usage: scripts/check-packages.sh DEBDIR MAJOR...}
shift
cd "$(dirname "$0")/.."

root=$(mktemp -d /tmp/pgbk-clean-root.XXXXXX)
run=$(mktemp -d /tmp/pgbk-package-check.XXXXXX)
chown postgres "$run"
cleanup() {
	for major in "$@"; do
		[ -f "$run/$major/postmaster.pid" ] && runuser -u postgres -- "$root/usr/lib/postgresql/$major/bin/pg_ctl" \
			-D "$run/$major" -m immediate stop >/dev/null 2>&1 || true
	done
	rm -rf "$root" "$run"
}
trap 'cleanup "$@"' EXIT

dpkg -x "$(ls "$debdir"/pgbk_*.deb | head -1)" "$root"
for major in "$@"; do
	# The server's own files, without anything of pgbk's.
	tar -C / --exclude='*pgbk*' -cf - "usr/lib/postgresql/$major" "usr/share/postgresql/$major" | tar -C "$root" -xf -
	deb=$(ls "$debdir"/postgresql-"$major"-pgbk_*.deb 2>/dev/null | head -1)
	[ -n "$deb" ] || {
		echo "no postgresql-$major-pgbk package in $debdir" >&2
		exit 1
	}
	dpkg -x "$deb" "$root"
	bin=$root/usr/lib/postgresql/$major/bin
	echo "== PostgreSQL $major from the clean root: $(dpkg-deb -f "$deb" Package) $(dpkg-deb -f "$deb" Version)"
	[ "$("$bin/pg_config" --pkglibdir)" = "$root/usr/lib/postgresql/$major/lib" ] || {
		echo "the copied server does not read its libraries from the clean root" >&2
		exit 1
	}
	runuser -u postgres -- "$bin/initdb" -D "$run/$major" -A trust >/dev/null
	cat >>"$run/$major/postgresql.conf" <<CONF
listen_addresses = ''
unix_socket_directories = '$run'
port = 54$major
shared_preload_libraries = 'pgbk'
wal_level = replica
archive_mode = on
archive_library = 'pgbk'
pgbk.repository = '$run/repo-$major'
CONF
	runuser -u postgres -- "$bin/pg_ctl" -D "$run/$major" -l "$run/$major.log" -w start >/dev/null
	psql() { runuser -u postgres -- "$bin/psql" -h "$run" -p "54$major" -d postgres -X -At -v ON_ERROR_STOP=1 "$@"; }
	psql -c "CREATE EXTENSION pgbk" >/dev/null
	label=$(psql -c "SELECT pgbk_backup_now(wait => true)")
	echo "CREATE EXTENSION pgbk and backup $label: $(psql -c "SELECT status FROM pgbk_backups WHERE label = '$label'")"
	runuser -u postgres -- "$bin/pg_ctl" -D "$run/$major" -m fast -w stop >/dev/null
	runuser -u postgres -- "$root/usr/bin/pgbk" --repo "$run/repo-$major" list | grep -q "^$label .* complete " || {
		echo "the packaged pgbk does not list backup $label" >&2
		exit 1
	}
done
# sed reads to the end: head would close the pipe early and pgbk die of SIGPIPE under pipefail.
"$root/usr/bin/pgbk" --help | sed -n 1p
echo "== the packages work from a clean root"
