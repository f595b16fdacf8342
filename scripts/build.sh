#!/usr/bin/env bash
# Builds and installs the extension and the pgbk command into the system PostgreSQL 15.
set -euo pipefail
cd "$(dirname "$0")/.."
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
make -s -j"$(nproc)" PG_CONFIG="$PG_CONFIG"
make -s install PG_CONFIG="$PG_CONFIG" >/dev/null
echo "installed pgbk.so into $($PG_CONFIG --pkglibdir) and pgbk into $($PG_CONFIG --bindir)"
