-- pgbk 0.7 -> 0.8: two-phase expiry. What retention selects is marked first and removed
-- only after pgbk.expire_delay: pgbk_backups shows when each marked backup's removal is
-- due (expire_after) and whether it was kept for good (kept), which pgbk_keep(label) does.
-- CALL pgbk_backup(type) takes a backup and waits for it holding no snapshot: on a
-- standby a waiting function's snapshot is cancelled by recovery conflicts.
\echo Use "ALTER EXTENSION pgbk UPDATE TO '0.8'" to load this file. \quit

DROP VIEW pgbk_backups;
DROP FUNCTION pgbk_list_backups();
CREATE FUNCTION pgbk_list_backups(
    OUT label text, OUT type text, OUT status text,
    OUT started_at timestamptz, OUT finished_at timestamptz,
    OUT start_lsn pg_lsn, OUT stop_lsn pg_lsn, OUT timeline integer,
    OUT wal_start text, OUT wal_stop text,
    OUT database_bytes bigint, OUT stored_bytes bigint, OUT files bigint,
    OUT error text, OUT prior text, OUT taken_on text, OUT from_standby boolean,
    OUT expire_after timestamptz, OUT kept boolean)
RETURNS SETOF record
AS 'MODULE_PATHNAME', 'pgbk_list_backups'
LANGUAGE C STRICT VOLATILE;
CREATE VIEW pgbk_backups AS SELECT * FROM pgbk_list_backups();
COMMENT ON VIEW pgbk_backups IS
    'Backups in the repository (read from the repository itself); prior is the backup a diff or incr depends on, taken_on the host:data directory that took it, expire_after when the removal of a backup retention marked is due (pgbk.expire_delay), kept whether pgbk_keep keeps it for good';
REVOKE ALL ON FUNCTION pgbk_list_backups() FROM PUBLIC;
REVOKE ALL ON pgbk_backups FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_list_backups() TO pgbk_operator;
GRANT SELECT ON pgbk_backups TO pgbk_operator;

CREATE FUNCTION pgbk_keep(label text) RETURNS text
AS 'MODULE_PATHNAME', 'pgbk_keep'
LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION pgbk_keep(text) IS
    'Keeps a backup (and the chain it depends on) from retention for good';
REVOKE ALL ON FUNCTION pgbk_keep(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION pgbk_keep(text) TO pgbk_operator;

CREATE PROCEDURE pgbk_backup(type text DEFAULT 'full')
AS 'MODULE_PATHNAME', 'pgbk_backup'
LANGUAGE C;
COMMENT ON PROCEDURE pgbk_backup(text) IS
    'Takes a backup and waits for it without holding a snapshot (on a standby recovery never cancels the wait); CALL it on its own; the label comes as a NOTICE and in pgbk_jobs';
REVOKE ALL ON PROCEDURE pgbk_backup(text) FROM PUBLIC;
GRANT EXECUTE ON PROCEDURE pgbk_backup(text) TO pgbk_operator;
