#!/usr/bin/env bash
# Runs pgbk's storage contract against any S3-compatible store before trusting it:
# put, create-only put, get, ranged get, listing (more than one page, order, '/'
# prefixes, special characters), multipart upload and abort, batch delete, errors.
#
#   PGBK_S3_ENDPOINT=https://store:443 PGBK_S3_ACCESS_KEY_ID=... PGBK_S3_SECRET_ACCESS_KEY=... \
#   [PGBK_S3_URI_STYLE=path] [PGBK_S3_REGION=...] [PGBK_S3_CA_FILE=...] test/s3/contract.sh s3://bucket/prefix
#
# Every pgbk.s3_* setting is read from its PGBK_S3_* variable (pgbk --help lists them).
# The bucket is created if it is missing. Objects go under <prefix>/pgbk-contract/ and
# are removed afterwards. Exit status 0 when every check passed.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 s3://bucket/prefix" >&2; exit 2; }
pgbk=$(command -v pgbk || echo "$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)/pgbk")
"$pgbk" --repo "$1" create-bucket
exec "$pgbk" --repo "$1" check-store
