-- pgbk 0.6 -> 0.7: the WAL spool for repository outages. pgbk_archive_status says how
-- many WAL files (and bytes) wait in the spool for the repository.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.7'" to load this file. \quit

DROP VIEW pgbk_archive_status;
DROP FUNCTION pgbk_archive_status();
CREATE FUNCTION pgbk_archive_status(
    OUT last_archived_wal text, OUT last_archived_at timestamptz,
    OUT last_failed_wal text, OUT last_failed_at timestamptz, OUT last_failure text,
    OUT pending_segments bigint, OUT lag_bytes bigint, OUT lag_seconds double precision,
    OUT stopped_reason text, OUT spool_segments bigint, OUT spool_bytes bigint)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_archive_status'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_archive_status AS SELECT * FROM pgbk_archive_status();
COMMENT ON VIEW pgbk_archive_status IS
    'WAL archiving into the repository: last success and failure, backlog and lag, why archiving is stopped, and what waits in the spool during an outage';
REVOKE ALL ON FUNCTION pgbk_archive_status() FROM PUBLIC;
REVOKE ALL ON pgbk_archive_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_archive_status() TO pgbk_operator;
GRANT SELECT ON pgbk_archive_status TO pgbk_operator;
