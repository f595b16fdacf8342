-- pgbk 0.3: differential and incremental backups, retention.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.3'" to load this file. \quit

-- pgbk_backups gains the label each backup depends on, pgbk_jobs a note (why a
-- differential became a full backup, what the expiry after it removed).
DROP VIEW pgbk_backups;
DROP FUNCTION pgbk_list_backups();
CREATE FUNCTION pgbk_list_backups(
    OUT label text, OUT type text, OUT status text,
    OUT started_at timestamptz, OUT finished_at timestamptz,
    OUT start_lsn pg_lsn, OUT stop_lsn pg_lsn, OUT timeline integer,
    OUT wal_start text, OUT wal_stop text,
    OUT database_bytes bigint, OUT stored_bytes bigint, OUT files bigint,
    OUT error text, OUT prior text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_backups'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_backups AS SELECT * FROM pgbk_list_backups();
COMMENT ON VIEW pgbk_backups IS
    'Backups in the repository (read from the repository itself); prior is the backup a diff or incr depends on';

DROP VIEW pgbk_jobs;
DROP FUNCTION pgbk_list_jobs();
CREATE FUNCTION pgbk_list_jobs(
    OUT id bigint, OUT kind text, OUT trigger text, OUT label text, OUT state text,
    OUT requested_at timestamptz, OUT started_at timestamptz, OUT finished_at timestamptz,
    OUT bytes_read bigint, OUT bytes_written bigint, OUT error text, OUT note text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_jobs'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_jobs AS SELECT * FROM pgbk_list_jobs();
COMMENT ON VIEW pgbk_jobs IS 'Backup jobs of this server since it started, manual and scheduled';

REVOKE ALL ON FUNCTION pgbk_list_backups() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbk_list_jobs() FROM PUBLIC;
REVOKE ALL ON pgbk_backups, pgbk_jobs FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_list_backups() TO pgbk_operator;
GRANT EXECUTE ON FUNCTION pgbk_list_jobs() TO pgbk_operator;
GRANT SELECT ON pgbk_backups, pgbk_jobs TO pgbk_operator;

CREATE FUNCTION pgbk_expire(OUT kind text, OUT name text, OUT type text, OUT reason text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_expire'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION pgbk_expire() IS
    'Apply the retention settings now; one row per backup removed and one for the WAL removed';

CREATE FUNCTION pgbk_set_retention(full integer, full_type text DEFAULT 'count', diff integer DEFAULT NULL)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbk_set_retention'
LANGUAGE C VOLATILE;
COMMENT ON FUNCTION pgbk_set_retention(integer, text, integer) IS
    'Persist pgbk.retention_full, pgbk.retention_full_type and pgbk.retention_diff like ALTER SYSTEM and reload';

REVOKE ALL ON FUNCTION pgbk_expire() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbk_set_retention(integer, text, integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_expire() TO pgbk_operator;
GRANT EXECUTE ON FUNCTION pgbk_set_retention(integer, text, integer) TO pgbk_operator;
GRANT ALTER SYSTEM ON PARAMETER pgbk.retention_full, pgbk.retention_full_type, pgbk.retention_diff
    TO pgbk_operator;
