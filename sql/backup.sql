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

-- The archive module stored the WAL the backups needed, with no failure: each backup
-- waited for its last segment to be archived, so at most the segment being written is
-- behind, by less than a segment and well under ten minutes.
SELECT last_archived_wal ~ '^[0-9A-F]{24}' AS archived_wal, last_archived_at <= now() AS archived_at,
       last_failed_wal, last_failure, pending_segments BETWEEN 0 AND 1 AS pending_ok,
       lag_bytes BETWEEN 0 AND pg_size_bytes(current_setting('wal_segment_size')) AS lag_bytes_ok,
       lag_seconds BETWEEN 0 AND 600 AS lag_seconds_ok
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

-- A differential and an incremental against the backups above (the regress cluster has
-- no data checksums: changed files are compared whole, which is still a differential).
SELECT pgbk_backup_now('incr', wait => true) AS incr_label \gset
SELECT pgbk_backup_now('diff', wait => true) AS diff_label \gset
SELECT type, prior = :'second_label' AS prior_is_newest, status, stored_bytes < database_bytes / 2 AS smaller
FROM pgbk_backups WHERE label IN (:'incr_label', :'diff_label') ORDER BY started_at;
SELECT right(:'incr_label', 1) AS incr_suffix, right(:'diff_label', 1) AS diff_suffix;
SELECT kind, state, note FROM pgbk_jobs WHERE label IN (:'incr_label', :'diff_label') ORDER BY id;
SELECT count(*) AS problems FROM pgbk_verify();

-- Retention: bad policies are refused with the reason and the fix.
SELECT pgbk_set_retention(-1);
SELECT pgbk_set_retention(2, 'weeks');
SELECT pgbk_set_retention(2, 'count', -3);
SELECT pgbk_set_retention(NULL);
-- Keep one full backup: retention marks the older fulls for removal after
-- pgbk.expire_delay (a day by default); until then they stay listed and restorable, and
-- so does the WAL they need.
SELECT pgbk_set_retention(1);
SELECT current_setting('pgbk.retention_full') AS retention_full,
       current_setting('pgbk.retention_full_type') AS full_type,
       current_setting('pgbk.expire_delay') AS expire_delay;
SELECT kind, type,
       CASE WHEN kind = 'wal' THEN reason ~ '^[0-9]+ WAL file\(s\) older than every kept backup$'
            ELSE reason ~ '^beyond pgbk.retention_full = 1; removed after [-0-9: ]+ UTC \(pgbk.expire_delay\)$'
       END AS reason_ok
FROM pgbk_expire() ORDER BY kind, name;
SELECT type, status, expire_after > now() + interval '23 hours' AS removed_in_a_day, kept
FROM pgbk_backups ORDER BY started_at;
SELECT count(*) AS problems FROM pgbk_verify();
-- Marked once: a second expiry neither marks again nor removes before the delay.
SELECT * FROM pgbk_expire();
-- A mistaken retention is undone by keeping the backup: never selected again.
SELECT pgbk_keep(label) ~ '^kept backup [0-9]{8}-[0-9]{6}F: ' AS kept
FROM pgbk_backups WHERE expire_after IS NOT NULL ORDER BY started_at LIMIT 1;
SELECT type, kept FROM pgbk_backups ORDER BY started_at;
\set VERBOSITY sqlstate
SELECT pgbk_keep('not-a-label');
\set VERBOSITY default
SELECT pgbk_set_retention(0);
