-- pgbk 0.4 -> 0.5: archiving stops after a content conflict (another server with this
-- system identifier wrote a WAL file of the same name) until a superuser resumes it;
-- pgbk_archive_status says why it stopped. The operator role holds no ALTER SYSTEM
-- grant any more (pgbk_set_retention writes its three settings as the bootstrap
-- superuser), so nothing of pgbk's is left on it after DROP EXTENSION.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.5'" to load this file. \quit

DROP VIEW pgbk_archive_status;
DROP FUNCTION pgbk_archive_status();
CREATE FUNCTION pgbk_archive_status(
    OUT last_archived_wal text, OUT last_archived_at timestamptz,
    OUT last_failed_wal text, OUT last_failed_at timestamptz, OUT last_failure text,
    OUT pending_segments bigint, OUT lag_bytes bigint, OUT lag_seconds double precision,
    OUT stopped_reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_archive_status'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_archive_status AS SELECT * FROM pgbk_archive_status();
COMMENT ON VIEW pgbk_archive_status IS
    'WAL archiving into the repository: last success and failure, backlog and lag, and why archiving is stopped (after a content conflict)';
REVOKE ALL ON FUNCTION pgbk_archive_status() FROM PUBLIC;
REVOKE ALL ON pgbk_archive_status FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_archive_status() TO pgbk_operator;
GRANT SELECT ON pgbk_archive_status TO pgbk_operator;

CREATE FUNCTION pgbk_archive_resume()
RETURNS text
AS 'MODULE_PATHNAME', 'pgbk_archive_resume'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION pgbk_archive_resume() IS
    'Superuser only: resume WAL archiving stopped after a content conflict; returns why it was stopped';
REVOKE ALL ON FUNCTION pgbk_archive_resume() FROM PUBLIC;

REVOKE ALTER SYSTEM ON PARAMETER pgbk.retention_full, pgbk.retention_full_type, pgbk.retention_diff
    FROM pgbk_operator;
COMMENT ON FUNCTION pgbk_set_retention(integer, text, integer) IS
    'Persist pgbk.retention_full, pgbk.retention_full_type and pgbk.retention_diff like ALTER SYSTEM; reloads when the caller may run pg_reload_conf()';
