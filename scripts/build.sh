#!/usr/bin/env bash
# Builds and installs the extension into one PostgreSQL (PG_CONFIG, default Debian 12's 15) and
# the pgbk command onto the PATH (/usr/local/bin). Another version:
#   PG_CONFIG=$(scripts/build-pg.sh 18) scripts/build.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
bindir=${PGBK_BINDIR-/usr/local/bin}
make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
make -s install PG_CONFIG="$PG_CONFIG" PGBK_BINDIR="$bindir" >/dev/null
echo "installed pgbk.so into $($PG_CONFIG --pkglibdir) ($($PG_CONFIG --version))${bindir:+ and pgbk into $bindir}"
