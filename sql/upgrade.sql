-- Every upgrade script applies in turn: an installation of 0.1 updated to the current
-- version has the objects a fresh installation has.
DROP EXTENSION pgbk;
CREATE EXTENSION pgbk VERSION '0.1';
ALTER EXTENSION pgbk UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'pgbk';
SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_name IN ('pgbk_backups', 'pgbk_schedule', 'pgbk_archive_holes', 'pgbk_archive_status', 'pgbk_archive_gaps')
ORDER BY table_name, ordinal_position;
-- No backup yet: no hole to report.
SELECT count(*) FROM pgbk_archive_holes;
-- No overflow yet: no gap, nothing dropped, the recovery point intact.
SELECT count(*) FROM pgbk_archive_gaps;
SELECT dropped_segments, rpo_broken FROM pgbk_archive_status;
