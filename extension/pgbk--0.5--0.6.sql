-- pgbk 0.5 -> 0.6: high availability. pgbk_backups says where each backup was taken
-- (host:data directory) and whether on a standby; pgbk_schedule where each schedule's
-- next run is expected to be taken (pgbk.backup_standby); pgbk_archive_holes lists the
-- WAL missing from the archive along the history restores follow.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.6'" to load this file. \quit

DROP VIEW pgbk_backups;
DROP FUNCTION pgbk_list_backups();
CREATE FUNCTION pgbk_list_backups(
    OUT label text, OUT type text, OUT status text,
    OUT started_at timestamptz, OUT finished_at timestamptz,
    OUT start_lsn pg_lsn, OUT stop_lsn pg_lsn, OUT timeline integer,
    OUT wal_start text, OUT wal_stop text,
    OUT database_bytes bigint, OUT stored_bytes bigint, OUT files bigint,
    OUT error text, OUT prior text, OUT taken_on text, OUT from_standby boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_backups'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_backups AS SELECT * FROM pgbk_list_backups();
COMMENT ON VIEW pgbk_backups IS
    'Backups in the repository (read from the repository itself); prior is the backup a diff or incr depends on, taken_on the host:data directory that took it';

DROP VIEW pgbk_schedule;
DROP FUNCTION pgbk_list_schedule();
CREATE FUNCTION pgbk_list_schedule(
    OUT kind text, OUT schedule text, OUT timezone text, OUT next_run timestamptz, OUT runs_on text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_schedule'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_schedule AS SELECT * FROM pgbk_list_schedule();
COMMENT ON VIEW pgbk_schedule IS
    'Configured backup schedules, their next run and which node is expected to take it (pgbk.backup_standby)';

CREATE FUNCTION pgbk_archive_holes(
    OUT timeline integer, OUT first_wal text, OUT last_wal text, OUT segments bigint, OUT after_backup text)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_archive_holes'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_archive_holes AS SELECT * FROM pgbk_archive_holes();
COMMENT ON VIEW pgbk_archive_holes IS
    'WAL segments missing from the archive from the oldest backup on the history restores follow to the newest WAL (empty: continuous)';

REVOKE ALL ON FUNCTION pgbk_list_backups() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbk_list_schedule() FROM PUBLIC;
REVOKE ALL ON FUNCTION pgbk_archive_holes() FROM PUBLIC;
REVOKE ALL ON pgbk_backups, pgbk_schedule, pgbk_archive_holes FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_list_backups() TO pgbk_operator;
GRANT EXECUTE ON FUNCTION pgbk_list_schedule() TO pgbk_operator;
GRANT EXECUTE ON FUNCTION pgbk_archive_holes() TO pgbk_operator;
GRANT SELECT ON pgbk_backups, pgbk_schedule, pgbk_archive_holes TO pgbk_operator;
