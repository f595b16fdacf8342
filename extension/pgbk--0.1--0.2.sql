-- pgbk 0.2: archive status.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.2'" to load this file. \quit

CREATE FUNCTION pgbk_archive_status(
    OUT last_archived_wal text, OUT last_archived_at timestamptz,
    OUT last_failed_wal text, OUT last_failed_at timestamptz, OUT last_failure text,
    OUT pending_segments bigint, OUT lag_bytes bigint, OUT lag_seconds double precision)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_archive_status'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW pgbk_archive_status AS SELECT * FROM pgbk_archive_status();
COMMENT ON VIEW pgbk_archive_status IS 'WAL archiving into the repository: last success and failure, backlog and lag';

CREATE FUNCTION pgbk_set_target(url text, options jsonb DEFAULT '{}')
RETURNS text
AS 'MODULE_PATHNAME', 'pgbk_set_target'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION pgbk_set_target(text, jsonb) IS
    'Prove a repository (probe write, read, list, delete), then persist it and its S3 options like ALTER SYSTEM and reload';

REVOKE ALL ON FUNCTION pgbk_set_target(text, jsonb) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_set_target(text, jsonb) TO pgbk_operator;
-- pgbk_set_target persists settings as ALTER SYSTEM does: let the operator role do that
-- for pgbk's repository settings, and no others.
GRANT ALTER SYSTEM ON PARAMETER
    pgbk.repository, pgbk.s3_endpoint, pgbk.s3_region, pgbk.s3_access_key_id, pgbk.s3_secret_access_key,
    pgbk.s3_session_token, pgbk.s3_uri_style, pgbk.s3_ca_file, pgbk.s3_verify_tls, pgbk.s3_sse,
    pgbk.s3_sse_kms_key_id, pgbk.s3_storage_class, pgbk.s3_part_size, pgbk.s3_retry_timeout
    TO pgbk_operator;

CREATE FUNCTION pgbk_verify(label text DEFAULT NULL, OUT backup text, OUT object text, OUT problem text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_verify'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbk_verify(text) IS
    'Re-read a backup (all complete backups when NULL) and its WAL; one row per problem, none when intact';
REVOKE ALL ON FUNCTION pgbk_verify(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_verify(text) TO pgbk_operator;

REVOKE ALL ON FUNCTION pgbk_archive_status() FROM PUBLIC;
REVOKE ALL ON pgbk_archive_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_archive_status() TO pgbk_operator;
GRANT SELECT ON pgbk_archive_status TO pgbk_operator;
