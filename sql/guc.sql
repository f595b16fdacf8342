-- Settings are validated when they are set, with the reason and the fix.
ALTER SYSTEM SET pgbk.full_schedule = '61 * * * *';
ALTER SYSTEM SET pgbk.full_schedule = '0 1 * *';
ALTER SYSTEM SET pgbk.full_schedule = '0 0 30 2 *';
ALTER SYSTEM SET pgbk.diff_schedule = '0 25 * * *';
ALTER SYSTEM SET pgbk.incr_schedule = 'hourly';
ALTER SYSTEM SET pgbk.retention_full = -1;
ALTER SYSTEM SET pgbk.retention_full_type = 'weeks';
ALTER SYSTEM SET pgbk.retention_diff = 'two';
ALTER SYSTEM SET pgbk.schedule_timezone = 'Mars/Olympus_Mons';
ALTER SYSTEM SET pgbk.repository = 'relative/dir';
ALTER SYSTEM SET pgbk.repository = 'ftp://example.com/backups';
ALTER SYSTEM SET pgbk.repository = '/proc/pgbk_repo';
ALTER SYSTEM SET pgbk.repository = 's3://Not_A_Bucket/prefix';
ALTER SYSTEM SET pgbk.repository = 's3://bucket/a/../b';
ALTER SYSTEM SET pgbk.s3_uri_style = 'sideways';
ALTER SYSTEM SET pgbk.s3_sse = 'rot13';
ALTER SYSTEM SET pgbk.compression = 'lz5';
ALTER SYSTEM SET pgbk.compression_level = 30;
ALTER SYSTEM SET pgbk.parallel = 0;
ALTER SYSTEM SET pgbk.encryption_key_file = 'relative/key';
ALTER SYSTEM SET pgbk.encryption_key_file = '/nonexistent/pgbk.key';
ALTER SYSTEM SET pgbk.encryption_keyring = '/etc/hostname';
-- Reload-time settings cannot be changed in a session.
SET pgbk.compression = 'none';
-- The pgbk prefix is reserved: a typo is an error, not a silent no-op.
SET pgbk.full_schedul = '0 1 * * *';
-- Valid values are accepted (and removed again).
ALTER SYSTEM SET pgbk.full_schedule = '@daily';
ALTER SYSTEM SET pgbk.full_schedule = '*/30 1-5 * jan-mar mon,fri';
ALTER SYSTEM SET pgbk.schedule_timezone = 'America/New_York';
ALTER SYSTEM SET pgbk.diff_schedule = '0 13 * * 1-5';
ALTER SYSTEM SET pgbk.incr_schedule = '@hourly';
ALTER SYSTEM SET pgbk.retention_full = 14;
ALTER SYSTEM SET pgbk.retention_full_type = 'time';
ALTER SYSTEM SET pgbk.repository = 'file:///tmp/pgbk_regress_repo';
ALTER SYSTEM SET pgbk.repository = 's3://pgbk-backups/clusters/main';
ALTER SYSTEM SET pgbk.s3_secret_access_key = 'not shown anywhere';
ALTER SYSTEM RESET ALL;
SELECT name, setting, context FROM pg_settings WHERE name LIKE 'pgbk.%' AND name <> 'pgbk.full_schedule'
  AND name <> 'pgbk.schedule_timezone' ORDER BY name;
