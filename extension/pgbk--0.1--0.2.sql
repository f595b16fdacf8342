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

REVOKE ALL ON FUNCTION pgbk_archive_status() FROM PUBLIC;
REVOKE ALL ON pgbk_archive_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_archive_status() TO pgbk_operator;
GRANT SELECT ON pgbk_archive_status TO pgbk_operator;
