-- pgbk 0.6 -> 0.7: surviving long repository outages. pgbk_archive_status says how many
-- WAL files (and bytes) wait in the spool for the repository, how many segments were
-- dropped on overflow (pgbk.archive_overflow = drop) and whether a gap is still open
-- (the recovery point objective is broken until a backup after it completes);
-- pgbk_archive_gaps lists the gaps this server recorded.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.7'" to load this file. \quit

DROP VIEW pgbk_archive_status;
DROP FUNCTION pgbk_archive_status();
CREATE FUNCTION pgbk_archive_status(
    OUT last_archived_wal text, OUT last_archived_at timestamptz,
    OUT last_failed_wal text, OUT last_failed_at timestamptz, OUT last_failure text,
    OUT pending_segments bigint, OUT lag_bytes bigint, OUT lag_seconds double precision,
    OUT stopped_reason text, OUT spool_segments bigint, OUT spool_bytes bigint,
    OUT dropped_segments bigint, OUT rpo_broken boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_archive_status'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_archive_status AS SELECT * FROM pgbk_archive_status();
COMMENT ON VIEW pgbk_archive_status IS
    'WAL archiving into the repository: last success and failure, backlog and lag, why archiving is stopped, what waits in the spool during an outage, what was dropped on overflow and whether a gap is still uncovered';
REVOKE ALL ON FUNCTION pgbk_archive_status() FROM PUBLIC;
REVOKE ALL ON pgbk_archive_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_archive_status() TO pgbk_operator;
GRANT SELECT ON pgbk_archive_status TO pgbk_operator;

CREATE FUNCTION pgbk_archive_gaps(
    OUT timeline integer, OUT first_wal text, OUT last_wal text, OUT segments bigint,
    OUT opened_at timestamptz, OUT closed_at timestamptz, OUT covered_by text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_archive_gaps'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_archive_gaps AS SELECT * FROM pgbk_archive_gaps();
COMMENT ON VIEW pgbk_archive_gaps IS
    'Ranges of WAL this server acknowledged without storing them (pgbk.archive_overflow = drop while the repository was away): point-in-time recovery into them is impossible; covered_by is the backup after the gap that restores reach again';
REVOKE ALL ON FUNCTION pgbk_archive_gaps() FROM PUBLIC;
REVOKE ALL ON pgbk_archive_gaps FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_archive_gaps() TO pgbk_operator;
GRANT SELECT ON pgbk_archive_gaps TO pgbk_operator;
