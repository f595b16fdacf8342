# Sourced by each bench/run-*.sh from the top of the checkout, once it has set B (its
# directory) and PORT (its server's): as root, with the dependencies installed and pgbk
# built, scripts/lib.sh loaded, and psql_b for that server.
[ "$(id -u)" -eq 0 ] || { echo "run as root" >&2; exit 1; }
./scripts/install-deps.sh >/dev/null
./scripts/build.sh >/dev/null
. scripts/lib.sh
psql_b() { as_pg psql -h "$B" -p "$PORT" -d postgres -X -A -t -v ON_ERROR_STOP=1 "$@"; }
