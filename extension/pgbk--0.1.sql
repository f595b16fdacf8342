-- pgbk 0.1: the SQL control surface.
\echo Use "CREATE EXTENSION pgbk" to load this file. \quit

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'pgbk_operator') THEN
        CREATE ROLE pgbk_operator NOLOGIN;
    END IF;
END
$$;

CREATE FUNCTION pgbk_backup_now(type text DEFAULT 'full', wait boolean DEFAULT false)
RETURNS text
AS 'MODULE_PATHNAME', 'pgbk_backup_now'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION pgbk_backup_now(text, boolean) IS
    'Queue a backup and return its label; with wait => true, return once it is complete';

CREATE FUNCTION pgbk_list_backups(
    OUT label text, OUT type text, OUT status text,
    OUT started_at timestamptz, OUT finished_at timestamptz,
    OUT start_lsn pg_lsn, OUT stop_lsn pg_lsn, OUT timeline integer,
    OUT wal_start text, OUT wal_stop text,
    OUT database_bytes bigint, OUT stored_bytes bigint, OUT files bigint,
    OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_backups'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION pgbk_list_jobs(
    OUT id bigint, OUT kind text, OUT trigger text, OUT label text, OUT state text,
    OUT requested_at timestamptz, OUT started_at timestamptz, OUT finished_at timestamptz,
    OUT bytes_read bigint, OUT bytes_written bigint, OUT error text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_jobs'
LANGUAGE C STRICT VOLATILE;

CREATE FUNCTION pgbk_list_schedule(
    OUT kind text, OUT schedule text, OUT timezone text, OUT next_run timestamptz)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_schedule'
LANGUAGE C STRICT VOLATILE;

CREATE VIEW pgbk_backups AS SELECT * FROM pgbk_list_backups();
COMMENT ON VIEW pgbk_backups IS 'Backups in the repository (read from the repository itself)';
CREATE VIEW pgbk_jobs AS SELECT * FROM pgbk_list_jobs();
COMMENT ON VIEW pgbk_jobs IS 'Backup jobs of this server since it started, manual and scheduled';
CREATE VIEW pgbk_schedule AS SELECT * FROM pgbk_list_schedule();
COMMENT ON VIEW pgbk_schedule IS 'Configured backup schedules and their next run';

REVOKE ALL ON FUNCTION pgbk_backup_now(text, boolean) FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbk_list_backups() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbk_list_jobs() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbk_list_schedule() FROM PUBLIC;
REVOKE ALL ON pgbk_backups, pgbk_jobs, pgbk_schedule FROM PUBLIC;

GRANT EXECUTE ON FUNCTION pgbk_backup_now(text, boolean) TO pgbk_operator;
GRANT EXECUTE ON FUNCTION pgbk_list_backups() TO pgbk_operator;
GRANT EXECUTE ON FUNCTION pgbk_list_jobs() TO pgbk_operator;
GRANT EXECUTE ON FUNCTION pgbk_list_schedule() TO pgbk_operator;
GRANT SELECT ON pgbk_backups, pgbk_jobs, pgbk_schedule TO pgbk_operator;
