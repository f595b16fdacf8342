-- The SQL surface: objects, columns, a backup taken by the worker, jobs.
SELECT extname, extversion FROM pg_extension WHERE extname = 'pgbk';

SELECT table_name, column_name, data_type
FROM information_schema.columns
WHERE table_name IN ('pgbk_backups', 'pgbk_jobs', 'pgbk_schedule', 'pgbk_archive_status')
ORDER BY table_name, ordinal_position;

-- The worker is a visible backend.
SELECT backend_type FROM pg_stat_activity WHERE backend_type LIKE 'pgbk%';

-- A backup, waited for.
SELECT pgbk_backup_now(wait => true) ~ '^[0-9]{8}-[0-9]{6}F$' AS label_ok;
SELECT type, status, timeline, files > 100 AS has_files,
       stored_bytes < database_bytes AS compressed,
       start_lsn < stop_lsn AS lsn_order, finished_at >= started_at AS time_order,
       wal_start <= wal_stop AS wal_order, error
FROM pgbk_backups;
SELECT id, kind, trigger, state, bytes_read > 0 AS read_some, bytes_written > 0 AS wrote_some,
       finished_at >= started_at AND started_at >= requested_at AS times_ordered, error
FROM pgbk_jobs;

-- A request made while another is queued is queued too, not lost.
SELECT pgbk_backup_now() AS first_label \gset
SELECT pgbk_backup_now(wait => true) AS second_label \gset
SELECT :'first_label' < :'second_label' AS labels_increase;
SELECT label = :'first_label' AS is_first, status FROM pgbk_backups
WHERE label IN (:'first_label', :'second_label') ORDER BY label;
SELECT count(*) AS complete_backups FROM pgbk_backups WHERE status = 'complete';
SELECT id, state FROM pgbk_jobs ORDER BY id;

-- The archive module stored the WAL the backups needed, with no failure.
SELECT last_archived_wal ~ '^[0-9A-F]{24}' AS archived_wal, last_archived_at <= now() AS archived_at,
       last_failed_wal, last_failure, pending_segments >= 0 AS pending_ok, lag_bytes >= 0 AS lag_bytes_ok,
       lag_seconds >= 0 AS lag_seconds_ok
FROM pgbk_archive_status;

-- Every backup verifies: no problem rows.
SELECT count(*) AS problems FROM pgbk_verify();
-- An unknown label is an error naming it (the message also names the repository path).
DO $$
BEGIN
    PERFORM * FROM pgbk_verify('19990101-000000F');
EXCEPTION WHEN OTHERS THEN
    RAISE NOTICE 'refused, naming the label: %', SQLERRM ~ 'no backup "19990101-000000F" in ';
END
$$;

-- Unknown backup types are refused with the reason.
SELECT pgbk_backup_now('weekly');

-- The configured schedule and its next run.
SELECT kind, schedule, timezone, next_run > now() AS in_future,
       extract(month FROM next_run AT TIME ZONE 'Europe/Berlin') AS month,
       extract(day FROM next_run AT TIME ZONE 'Europe/Berlin') AS day,
       extract(hour FROM next_run AT TIME ZONE 'Europe/Berlin') AS hour
FROM pgbk_schedule;
