-- Nothing is usable by PUBLIC; pgbk_operator may use all of it without superuser.
CREATE ROLE pgbk_regress_nobody LOGIN;
CREATE ROLE pgbk_regress_op LOGIN IN ROLE pgbk_operator;

SET ROLE pgbk_regress_nobody;
SELECT pgbk_backup_now();
SELECT count(*) FROM pgbk_backups;
SELECT count(*) FROM pgbk_jobs;
SELECT count(*) FROM pgbk_schedule;
SELECT count(*) FROM pgbk_archive_status;
SELECT count(*) FROM pgbk_archive_gaps;
SELECT pgbk_set_retention(1);
SELECT count(*) FROM pgbk_expire();
SELECT pgbk_keep('20000101-000000F');
CALL pgbk_backup('full');
RESET ROLE;

SET ROLE pgbk_regress_op;
SELECT rolsuper FROM pg_roles WHERE rolname = current_user;
SELECT pgbk_backup_now(wait => true) IS NOT NULL AS backed_up;
SELECT count(*) > 0 AS sees_backups FROM pgbk_backups WHERE status = 'complete';
SELECT count(*) > 0 AS sees_jobs FROM pgbk_jobs;
SELECT count(*) AS schedules FROM pgbk_schedule;
SELECT count(*) AS archive_status_rows FROM pgbk_archive_status;
SELECT count(*) AS archive_gaps FROM pgbk_archive_gaps;
-- Retention is the operator's to set and apply (pgbk_set_retention writes the three
-- retention settings itself; it reloads only for roles that may run pg_reload_conf()).
SELECT pgbk_set_retention(0, 'time');
SELECT count(*) AS expired FROM pgbk_expire();
SELECT pgbk_set_retention(0);
-- Waiting for a backup without a snapshot (the way to wait on a standby).
SET client_min_messages = warning; -- its NOTICE names the label
CALL pgbk_backup('incr');
RESET client_min_messages;
SELECT state, label ~ '^[0-9]{8}-[0-9]{6}I$' AS incremental FROM pgbk_jobs ORDER BY id DESC LIMIT 1;
-- Keeping a backup from retention is the operator's too.
SELECT pgbk_keep(label) ~ '^kept backup ' AS kept FROM pgbk_backups WHERE status = 'complete' LIMIT 1;
-- Resuming archiving after a content conflict is a superuser's decision.
SELECT pgbk_archive_resume();
RESET ROLE;
-- A role granted pg_reload_conf() gets the reload from pgbk_set_retention too.
GRANT EXECUTE ON FUNCTION pg_reload_conf() TO pgbk_regress_op;
SET ROLE pgbk_regress_op;
SELECT pgbk_set_retention(0);
RESET ROLE;
REVOKE EXECUTE ON FUNCTION pg_reload_conf() FROM pgbk_regress_op;
-- After DROP EXTENSION nothing of pgbk's stays on the operator role: it holds no
-- ALTER SYSTEM grant on any parameter.
SELECT count(*) AS operator_parameter_grants FROM pg_parameter_acl a, aclexplode(a.paracl) e
WHERE e.grantee = 'pgbk_operator'::regrole;

DROP ROLE pgbk_regress_nobody;
DROP ROLE pgbk_regress_op;
