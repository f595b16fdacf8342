/*
 * sqlfuncs.cpp
 *
 * SQL surface: pgbk_backup_now(), the set-returning functions behind the views
 * (pgbk_backups, pgbk_jobs, pgbk_schedule, pgbk_archive_status), pgbk_verify(),
 * pgbk_expire(), and the functions that persist settings (pgbk_set_target,
 * pgbk_set_retention).
 */
#include "pgbk/backup_type.hpp"
#include "pgbk/continuity.hpp"
#include "pgbk/cron.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/target.hpp"
#include "pgbk/verify.hpp"
#include "pgbk/wal_archiver.hpp"
#include "pgbk/archive_gaps.hpp"
#include "pgbk/archive_spool.hpp"

#include <optional>
#include <sys/stat.h>
#include <vector>

#include "boundary.hpp"
#include "glue.hpp"
#include "job_kinds.hpp"
#include "jobs.hpp"
#include "srf.hpp"

using pgbk::glue::CppResult;
using pgbk::glue::RunCpp;

extern "C" {
PG_FUNCTION_INFO_V1(pgbk_backup_now);
PG_FUNCTION_INFO_V1(pgbk_list_backups);
PG_FUNCTION_INFO_V1(pgbk_list_jobs);
PG_FUNCTION_INFO_V1(pgbk_list_schedule);
PG_FUNCTION_INFO_V1(pgbk_archive_status);
PG_FUNCTION_INFO_V1(pgbk_set_target);
PG_FUNCTION_INFO_V1(pgbk_verify);
PG_FUNCTION_INFO_V1(pgbk_expire);
PG_FUNCTION_INFO_V1(pgbk_set_retention);
PG_FUNCTION_INFO_V1(pgbk_archive_resume);
PG_FUNCTION_INFO_V1(pgbk_archive_holes);
PG_FUNCTION_INFO_V1(pgbk_archive_gaps);
PG_FUNCTION_INFO_V1(pgbk_keep);
PG_FUNCTION_INFO_V1(pgbk_backup);
PGDLLEXPORT Datum pgbk_archive_resume(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_expire(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_set_retention(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_verify(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_set_target(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_archive_status(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_backup_now(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_list_backups(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_list_jobs(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_list_schedule(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_archive_holes(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_archive_gaps(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_keep(PG_FUNCTION_ARGS);
PGDLLEXPORT Datum pgbk_backup(PG_FUNCTION_ARGS);
}

static void
require_shared_state(void)
{
	if (pgbk_shared == NULL)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("pgbk is not loaded in shared_preload_libraries"),
						errhint("Add pgbk to shared_preload_libraries and restart the server.")));
}

static Datum
time_datum(int64 unix_seconds, bool *isnull)
{
	*isnull = unix_seconds == 0;
	return *isnull ? (Datum)0 : TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t)unix_seconds));
}

static Datum
tstz_datum(TimestampTz t, bool *isnull)
{
	*isnull = t == 0;
	return TimestampTzGetDatum(t);
}

static Datum
text_or_null(const char *s, bool *isnull)
{
	*isnull = s == NULL || s[0] == '\0';
	return *isnull ? (Datum)0 : CStringGetTextDatum(s);
}

/* Raises an ERROR naming the choices unless `type` is a backup type. */
static void
require_backup_type(const char *type)
{
	if (!pgbk::ParseBackupType(type)) {
		char hint[512] = "";

		/* Use type => 'full', 'diff' (changes since the last full backup) or 'incr' (...). */
		(void)RunCpp([&] {
			std::vector<std::string> choices;
			for (const pgbk::BackupTypeRules &t : pgbk::kBackupTypes)
				choices.push_back("'" + std::string(t.name) + "'" +
								  (t.explanation.empty() ? "" : " (" + std::string(t.explanation) + ")"));
			strlcpy(hint, ("Use type => " + pgbk::settings::JoinAlternatives(choices) + ".").c_str(), sizeof(hint));
		});
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE), errmsg("pgbk: unknown backup type \"%s\"", type),
						errhint("%s", hint)));
	}
}

/* Queues a manual backup; on a standby it is taken there (the worker runs on hot standbys too). */
static int64
enqueue_manual_backup(const char *type, char *label)
{
	int64 id;

	pgbk_jobs_enqueue(type, PGBK_TRIGGER_MANUAL, label, &id);
	if (pgbk_shared->worker_pid == 0)
		ereport(NOTICE, (errmsg("pgbk: the backup worker is not running yet; the backup is queued")));
	return id;
}

/*
 * pgbk_backup_now(type text, wait boolean) returns text
 */
Datum
pgbk_backup_now(PG_FUNCTION_ARGS)
{
	char *type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	bool wait = PG_GETARG_BOOL(1);
	char label[PGBK_LABEL_LEN];
	int64 id;

	require_shared_state();
	require_backup_type(type);
	/*
	 * A function waits inside its query's snapshot. On a standby that snapshot holds
	 * back replay, and recovery cancels the query (max_standby_streaming_delay) while
	 * the backup goes on: the caller would be told it failed. Refused before anything
	 * starts; the procedure waits without a snapshot.
	 */
	if (wait && RecoveryInProgress())
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("pgbk: on a standby a function cannot wait for a backup: its snapshot would hold back "
							   "replay until recovery cancels it"),
						errhint("CALL pgbk_backup('%s') waits without a snapshot; or call pgbk_backup_now('%s') "
								"without wait and watch pgbk_jobs.",
								type, type)));
	id = enqueue_manual_backup(type, label);
	if (wait)
		pgbk_jobs_wait(id, label);
	PG_RETURN_TEXT_P(cstring_to_text(label));
}

/*
 * pgbk_backup(type text): a procedure
 *
 * Takes a backup and waits for it holding no snapshot, so that on a standby recovery
 * never cancels the wait (a snapshot would conflict with replayed cleanup). A CALL of
 * its own is non-atomic: the snapshot the CALL statement took can be popped. It has no
 * output argument: a CALL returning a row keeps a registered snapshot for the row
 * (PORTAL_UTIL_SELECT), so the label comes as a NOTICE and in pgbk_jobs.
 */
Datum
pgbk_backup(PG_FUNCTION_ARGS)
{
	char *type = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char label[PGBK_LABEL_LEN];
	int64 id;

	require_shared_state();
	require_backup_type(type);
	if (fcinfo->context == NULL || !IsA(fcinfo->context, CallContext) || castNode(CallContext, fcinfo->context)->atomic)
		ereport(ERROR, (errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
						errmsg("pgbk: pgbk_backup must be CALLed on its own, outside a transaction block, function "
							   "or procedure"),
						errdetail("It waits for the backup holding no snapshot, which it can only give up there."),
						errhint("Run CALL pgbk_backup('%s'); alone, or SELECT pgbk_backup_now('%s') without waiting.",
								type, type)));
	if (ActiveSnapshotSet())
		PopActiveSnapshot();
	InvalidateCatalogSnapshot();
	if (MyProc->xmin != InvalidTransactionId)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE), errmsg("pgbk: pgbk_backup still holds a snapshot"),
				 errhint("CALL it on its own, in READ COMMITTED, outside a transaction block.")));
	id = enqueue_manual_backup(type, label);
	pgbk_jobs_wait(id, label);
	ereport(NOTICE, (errmsg("pgbk: backup %s complete", label)));
	PG_RETURN_VOID();
}

/* pgbk_list_backups' rows: the backups and when each marked one's removal is due (0: not marked). */
struct BackupRows {
	std::vector<pgbk::BackupRecord> list;
	std::vector<int64_t> expire_after;
};

/*
 * pgbk_list_backups
 *
 * One row per backup, read from the repository. The C++ list lives behind a plain
 * pointer so an ERROR while building tuples cannot skip a destructor.
 */
Datum
pgbk_list_backups(PG_FUNCTION_ARGS)
{
	return pgbk::glue::MaterializeRows<BackupRows>(
		fcinfo, "could not read the repository",
		[] {
			auto repo = pgbk::glue::OpenConfiguredRepository();
			BackupRows rows;
			rows.list = repo->ListBackups();
			/* When a marked backup's removal is due: its oldest mark made on the line restores follow. */
			pgbk::TimelineSet timelines = repo->ReadTimelines();
			pgbk::TimelineLineage history = timelines.LineageOf(timelines.Authoritative());
			int64_t delay = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.expire_delay"));
			for (const auto &b : rows.list)
				rows.expire_after.push_back(pgbk::ExpiryDueAt(b, history, delay).value_or(0));
			return rows;
		},
		[](const BackupRows &rows, ReturnSetInfo *rsinfo) {
			const std::vector<pgbk::BackupRecord> &list = rows.list;
			for (size_t i = 0; i < list.size(); i++) {
				const pgbk::BackupRecord &b = list[i];
				Datum values[19];
				bool nulls[19];
				const char *status = pgbk::BackupStatusName(b.status);
				const char *error = b.error.c_str();

				memset(nulls, 0, sizeof(nulls));
				if (b.status == pgbk::BackupStatus::Incomplete) {
					/* Running here, or on another node that still renews its lease. */
					if (pgbk_jobs_label_in_progress(b.label.c_str()) ||
						(b.lease_expires_at != 0 && !pgbk::LeaseExpired(b, static_cast<int64_t>(time(nullptr)))))
						status = "running";
					else {
						status = "failed";
						error = "interrupted before completion";
					}
				}
				values[0] = CStringGetTextDatum(b.label.c_str());
				values[1] = CStringGetTextDatum(b.type.c_str());
				values[2] = CStringGetTextDatum(status);
				values[3] = time_datum(b.started_at, &nulls[3]);
				values[4] = time_datum(b.finished_at, &nulls[4]);
				values[5] = LSNGetDatum(b.start_lsn);
				values[6] = LSNGetDatum(b.stop_lsn);
				nulls[6] = b.stop_lsn == 0;
				values[7] = Int32GetDatum((int32)b.timeline);
				values[8] = text_or_null(b.wal_start.c_str(), &nulls[8]);
				values[9] = text_or_null(b.wal_stop.c_str(), &nulls[9]);
				bool complete = b.status == pgbk::BackupStatus::Complete;
				values[10] = Int64GetDatum((int64)b.database_bytes);
				nulls[10] = !complete;
				values[11] = Int64GetDatum((int64)b.stored_bytes);
				nulls[11] = !complete;
				values[12] = Int64GetDatum((int64)b.files);
				nulls[12] = !complete;
				values[13] = text_or_null(error, &nulls[13]);
				/* Since 0.3; the row has the columns the installed SQL version declares. */
				values[14] = text_or_null(b.prior.c_str(), &nulls[14]);
				/* Where it was taken (host:data directory), and whether on a standby (0.6). */
				char taken_on[MAXPGPATH + 256] = "";
				if (!b.host.empty())
					snprintf(taken_on, sizeof(taken_on), "%s:%s", b.host.c_str(), b.pgdata.c_str());
				values[15] = text_or_null(taken_on, &nulls[15]);
				values[16] = BoolGetDatum(b.standby);
				/* Two-phase expiry (0.8): when the removal of a marked backup is due, and pgbk_keep. */
				values[17] = time_datum(rows.expire_after[i], &nulls[17]);
				values[18] = BoolGetDatum(b.kept);
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		});
}

/*
 * pgbk_list_jobs
 *
 * Every job this server has run since it started (the newest PGBK_MAX_JOBS).
 */
Datum
pgbk_list_jobs(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	PgbkJob *copy;
	int n = 0;

	require_shared_state();
	InitMaterializedSRF(fcinfo, 0);
	copy = (PgbkJob *)palloc(sizeof(PgbkJob) * PGBK_MAX_JOBS);
	n = pgbk_jobs_snapshot(copy);
	for (int i = 0; i < n; i++) {
		PgbkJob *job = &copy[i];
		Datum values[12];
		bool nulls[12];

		memset(nulls, 0, sizeof(nulls));
		values[0] = Int64GetDatum(job->id);
		values[1] = CStringGetTextDatum(job->kind);
		values[2] = CStringGetTextDatum(pgbk_trigger_name(job->trigger));
		values[3] = CStringGetTextDatum(job->label);
		values[4] = CStringGetTextDatum(pgbk_job_state_name(job->state));
		values[5] = tstz_datum(job->requested_at, &nulls[5]);
		values[6] = tstz_datum(job->started_at, &nulls[6]);
		values[7] = tstz_datum(job->finished_at, &nulls[7]);
		values[8] = Int64GetDatum((int64)pg_atomic_read_u64(&job->bytes_read));
		values[9] = Int64GetDatum((int64)pg_atomic_read_u64(&job->bytes_written));
		values[10] = text_or_null(job->error, &nulls[10]);
		values[11] = text_or_null(job->note, &nulls[11]); /* since 0.3 */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum)0;
}

/*
 * pgbk_list_schedule
 *
 * Each configured schedule with its next run.
 */
Datum
pgbk_list_schedule(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	const char *tz = pgbk::glue::StringSetting(pgbk::settings::Id("pgbk.schedule_timezone"));
	pgbk::BackupStandby mode = pgbk::glue::BackupStandbyMode();
	bool standby = RecoveryInProgress();
	auto max_lag = std::chrono::seconds(pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.backup_standby_max_lag")));

	InitMaterializedSRF(fcinfo, 0);
	for (const PgbkJobKind &kind : pgbk_job_kinds) {
		const PgbkJobKind *t = &kind;
		const char *expr = pgbk_job_kind_schedule(t);
		time_t next = 0;
		char runs_on[PGBK_ERROR_LEN] = "";
		Datum values[5];
		bool nulls[5];
		CppResult r;

		if (expr[0] == '\0')
			continue;
		r = RunCpp([&] {
			auto n = pgbk::CronSchedule::Parse(expr).NextAfter(time(nullptr), tz);
			next = n ? *n : 0;
			strlcpy(runs_on, pgbk::ExpectedRunner(mode, standby, max_lag).c_str(), sizeof(runs_on));
		});
		pgbk::glue::RaiseIfFailed(r, t->schedule_setting.data()); /* a literal: NUL-terminated */
		memset(nulls, 0, sizeof(nulls));
		values[0] = PointerGetDatum(cstring_to_text_with_len(t->name.data(), (int)t->name.size()));
		values[1] = CStringGetTextDatum(expr);
		values[2] = CStringGetTextDatum(tz);
		values[3] = time_datum((int64)next, &nulls[3]);
		values[4] = CStringGetTextDatum(runs_on); /* 0.6 */
		tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	}
	return (Datum)0;
}

/*
 * pgbk_archive_status
 *
 * One row: what the archive module last stored or failed to store (since this server
 * started), how many segments wait in pg_wal, and how far behind the archive is:
 * lag_bytes from the end of the last archived segment to the flushed WAL, lag_seconds
 * the age of the oldest segment still waiting.
 */
Datum
pgbk_archive_status(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	char last_archived[MAXFNAMELEN] = "", last_segment[MAXFNAMELEN] = "", last_failed[MAXFNAMELEN] = "";
	char failure[PGBK_ERROR_LEN] = "";
	TimestampTz archived_at = 0, failed_at = 0;
	int64 pending = 0;
	time_t oldest_ready = 0;
	DIR *dir;
	struct dirent *de;
	Datum values[13];
	bool nulls[13];

	require_shared_state();
	InitMaterializedSRF(fcinfo, 0);
	LWLockAcquire(pgbk_shared->lock, LW_SHARED);
	strlcpy(last_archived, pgbk_shared->last_archived_wal, sizeof(last_archived));
	strlcpy(last_segment, pgbk_shared->last_archived_segment, sizeof(last_segment));
	strlcpy(last_failed, pgbk_shared->last_failed_wal, sizeof(last_failed));
	strlcpy(failure, pgbk_shared->last_failure, sizeof(failure));
	archived_at = pgbk_shared->last_archived_at;
	failed_at = pgbk_shared->last_failed_at;
	LWLockRelease(pgbk_shared->lock);

	dir = AllocateDir(XLOGDIR "/archive_status");
	while ((de = ReadDir(dir, XLOGDIR "/archive_status")) != NULL) {
		size_t len = strlen(de->d_name);
		char path[MAXPGPATH];
		struct stat st;

		if (len <= 6 || strcmp(de->d_name + len - 6, ".ready") != 0)
			continue;
		pending++;
		snprintf(path, sizeof(path), XLOGDIR "/archive_status/%s", de->d_name);
		if (::stat(path, &st) == 0 && (oldest_ready == 0 || st.st_mtime < oldest_ready))
			oldest_ready = st.st_mtime;
	}
	FreeDir(dir);

	memset(nulls, 0, sizeof(nulls));
	values[0] = text_or_null(last_archived, &nulls[0]);
	values[1] = tstz_datum(archived_at, &nulls[1]);
	values[2] = text_or_null(last_failed, &nulls[2]);
	values[3] = tstz_datum(failed_at, &nulls[3]);
	values[4] = text_or_null(failure, &nulls[4]);
	values[5] = Int64GetDatum(pending);
	nulls[6] = true;
	if (IsXLogFileName(last_segment) && !RecoveryInProgress()) {
		TimeLineID tli;
		XLogSegNo segno;
		XLogRecPtr archived_end, flushed = GetFlushRecPtr(NULL);

		XLogFromFileName(last_segment, &tli, &segno, wal_segment_size);
		archived_end = (segno + 1) * (XLogRecPtr)wal_segment_size;
		values[6] = Int64GetDatum(flushed > archived_end ? (int64)(flushed - archived_end) : 0);
		nulls[6] = false;
	}
	values[7] = Float8GetDatum(pending > 0 && oldest_ready > 0 ? difftime(time(NULL), oldest_ready) : 0.0);
	/* Extension 0.5 added stopped_reason; a 0.4 catalog still has eight columns. */
	if (rsinfo->setDesc->natts > 8) {
		char reason[PGBK_ERROR_LEN] = "";

		RunCpp([&] {
			if (auto why = pgbk::ArchiveStopReason("."))
				strlcpy(reason, why->c_str(), sizeof(reason));
		});
		values[8] = text_or_null(reason, &nulls[8]);
	}
	/* Extension 0.7: what the spool holds (read from the spool directory itself). */
	if (rsinfo->setDesc->natts > 10) {
		pgbk::ArchiveSpool::Usage usage;
		CppResult sr = RunCpp([&] { usage = pgbk::ArchiveSpool::UsageOf(pgbk::glue::SpoolDirectory()); });
		values[9] = Int64GetDatum((int64)usage.files);
		values[10] = Int64GetDatum((int64)usage.bytes);
		nulls[9] = nulls[10] = !sr.ok;
	}
	/* Extension 0.7: WAL dropped on overflow, and whether a gap is still uncovered (the
	 * recovery point objective is broken until a backup after the gap completes). */
	if (rsinfo->setDesc->natts > 12) {
		uint64_t dropped = 0;
		bool open_gap = false;
		CppResult gr = RunCpp([&] {
			for (const auto &g : pgbk::ArchiveGapLedger::ListIn(pgbk::glue::SpoolDirectory())) {
				dropped += g.segments;
				open_gap = open_gap || g.Open();
			}
		});
		values[11] = Int64GetDatum((int64)dropped);
		values[12] = BoolGetDatum(open_gap);
		nulls[11] = nulls[12] = !gr.ok;
	}
	tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
	return (Datum)0;
}

/*
 * alter_system
 *
 * Persists one setting the way ALTER SYSTEM does (value NULL: RESET). The caller must
 * be superuser or hold ALTER SYSTEM on the parameter (granted to pgbk_operator).
 */
static void
alter_system(const char *name, const char *value)
{
	AlterSystemStmt *stmt = makeNode(AlterSystemStmt);
	VariableSetStmt *set = makeNode(VariableSetStmt);

	set->name = pstrdup(name);
	if (value == NULL)
		set->kind = VAR_RESET;
	else {
		A_Const *arg = makeNode(A_Const);

		arg->val.sval.type = T_String;
		arg->val.sval.sval = pstrdup(value);
		arg->location = -1;
		set->kind = VAR_SET_VALUE;
		set->args = list_make1(arg);
	}
	stmt->setstmt = set;
	AlterSystemSetConfigFile(stmt);
}

/* The settings pgbk_set_target persists: name, and value (NULL: reset). */
typedef std::vector<std::pair<std::string, std::optional<std::string>>> SettingList;

static void
delete_settings(SettingList *list)
{
	RunCpp([&] { delete list; });
}

/* A setting to persist: value NULL resets it. */
struct PersistedSetting {
	const char *name;
	const char *value;
};

/*
 * persist_as_bootstrap_superuser
 *
 * Writes settings the way ALTER SYSTEM does, as the bootstrap superuser: pgbk_operator
 * holds no ALTER SYSTEM grant, and the calling function has checked every value (a
 * target against pgbk.allowed_targets) first. Only these settings are written.
 */
static void
persist_as_bootstrap_superuser(const PersistedSetting *settings, int count)
{
	Oid save_userid;
	int save_sec_context;

	GetUserIdAndSecContext(&save_userid, &save_sec_context);
	PG_TRY();
	{
		SetUserIdAndSecContext(BOOTSTRAP_SUPERUSERID, save_sec_context | SECURITY_LOCAL_USERID_CHANGE);
		for (int i = 0; i < count; i++)
			alter_system(settings[i].name, settings[i].value);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
}

/*
 * reload_if_permitted
 *
 * Signals the postmaster to reload the configuration when the caller may do that
 * itself (a superuser, or a role granted EXECUTE on pg_reload_conf()): these functions
 * must not hand the operator role a reload of everything pending in the configuration
 * files. Returns how the function's result ends.
 */
static const char *
reload_if_permitted(void)
{
#if PG_VERSION_NUM >= 160000
	bool may_reload = object_aclcheck(ProcedureRelationId, F_PG_RELOAD_CONF, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#else
	bool may_reload = pg_proc_aclcheck(F_PG_RELOAD_CONF, GetUserId(), ACL_EXECUTE) == ACLCHECK_OK;
#endif

	if (!superuser() && !may_reload)
		return "it takes effect at the next configuration reload (pg_reload_conf() by a superuser, or GRANT "
			   "EXECUTE ON FUNCTION pg_reload_conf() TO pgbk_operator to let this function reload)";
	if (kill(PostmasterPid, SIGHUP) != 0)
		ereport(WARNING, (errmsg("pgbk: could not signal the postmaster to reload: %m")));
	return "configuration reloaded";
}

/*
 * pgbk_set_target(url text, options jsonb) returns text
 *
 * Proves a repository target with a probe round trip, then persists it (and the
 * settings of its driver: those in options are set, the others reset) like ALTER
 * SYSTEM and reloads. A failed probe changes nothing and says why.
 */
Datum
pgbk_set_target(PG_FUNCTION_ARGS)
{
	char *url = text_to_cstring(PG_GETARG_TEXT_PP(0));
	Jsonb *jb = PG_GETARG_JSONB_P(1);
	char *json = JsonbToCString(NULL, &jb->root, VARSIZE(jb));
	char described[1024] = "";
	char create_only[512] = "";
	char what[1200];
	SettingList *volatile settings = NULL;
	bool is_superuser = superuser();
	const char *allowed = pgbk::glue::StringSetting(pgbk::settings::Id("pgbk.allowed_targets"));
	CppResult r;

	r = RunCpp([&] {
		pgbk::settings::CheckContext context;
		context.data_directory = pgbk::glue::AbsoluteDataDirectory();
		pgbk::RepositoryLocation location = pgbk::ParseRepositoryLocation(url, context.data_directory);
		pgbk::settings::Values values = pgbk::ParseTargetOptions(location, json, context);
		/*
		 * Where backups go is a superuser's decision: an operator chooses among the
		 * targets a superuser allowed, and never the endpoint or how it is trusted.
		 */
		if (!is_superuser) {
			if (!pgbk::settings::TargetAllowed(location.url, allowed, context.data_directory))
				throw pgbk::Error(
					pgbk::ErrorKind::Config,
					"\"" + location.url + "\" is not among the targets a superuser allowed (pgbk.allowed_targets" +
						(allowed[0] ? std::string(" = '") + allowed + "'" : std::string(" is empty")) + ")",
					"A superuser lists the repository URL prefixes operators may choose in "
					"pgbk.allowed_targets.");
			for (const pgbk::settings::Definition *d : pgbk::TargetSettings(location))
				if ((d->flags & pgbk::settings::kTargetSuperuserOnly) && values.IsSet(pgbk::settings::IndexOf(d->name)))
					throw pgbk::Error(pgbk::ErrorKind::Config, "only a superuser sets " + std::string(d->name) +
																   " (whoever controls the target can read all data)");
			// The superuser's choices stay as configured.
			pgbk::settings::Values current = pgbk::glue::CurrentSettings();
			for (const pgbk::settings::Definition *d : pgbk::TargetSettings(location))
				if (d->flags & pgbk::settings::kTargetSuperuserOnly) {
					size_t id = pgbk::settings::IndexOf(d->name);
					values.SetCanonical(id, current.Text(id));
				}
		}
		location.driver->CheckUsable(location);
		pgbk::StorageOpenOptions options;
		options.should_cancel = pgbk::glue::StopRequested;
		auto storage = pgbk::OpenStorage(location, values, options);
		pgbk::ProbeStorage(*storage);
		strlcpy(described, storage->Describe().c_str(), sizeof(described));
		if (auto support = storage->CreateOnlyWrites(true))
			strlcpy(create_only, support->how.c_str(), sizeof(create_only));
		// A repository of another cluster is never adopted (a new, empty one is).
		pgbk::Repository target(std::move(storage));
		if (target.ReadIdentity())
			target.CheckOwner(pgbk::glue::CurrentClusterIdentity());
		settings = new SettingList();
		for (const pgbk::settings::Definition *d : pgbk::TargetSettings(location)) {
			size_t id = pgbk::settings::IndexOf(d->name);
			settings->emplace_back(std::string(d->name),
								   values.IsSet(id) ? std::optional<std::string>(values.Text(id)) : std::nullopt);
		}
		settings->emplace_back("pgbk.repository", location.url);
	});
	/* errhidestmt: the statement's arguments may hold a secret */
	snprintf(what, sizeof(what), "target \"%s\" was not set", url);
	if (!r.ok) {
		if (r.cancelled)
			CHECK_FOR_INTERRUPTS();
		ereport(ERROR, (errcode(pgbk::glue::SqlStateOf(r.kind)), errmsg("pgbk: %s: %s", what, r.message),
						errhint("Nothing was changed."), errhidestmt(true)));
	}

	{
		int count = static_cast<int>(settings->size());
		PersistedSetting *persisted = (PersistedSetting *)palloc(sizeof(PersistedSetting) * count);

		for (int i = 0; i < count; i++) {
			persisted[i].name = pstrdup((*settings)[i].first.c_str());
			persisted[i].value = (*settings)[i].second ? pstrdup((*settings)[i].second->c_str()) : NULL;
		}
		delete_settings(settings);
		persist_as_bootstrap_superuser(persisted, count);
	}
	PG_RETURN_TEXT_P(cstring_to_text(
		psprintf("%s verified (write, read, list, delete) and saved; create-only writes: %s; %s", described,
				 create_only[0] ? create_only : "as the store gives them", reload_if_permitted())));
}

typedef std::vector<pgbk::VerifyProblem> ProblemList;

static void
delete_problems(ProblemList *list)
{
	RunCpp([&] { delete list; });
}

/*
 * pgbk_verify(label text DEFAULT NULL)
 *
 * Re-reads a backup (every complete backup when label is NULL) and the WAL it needs;
 * one row per problem, none when intact.
 */
Datum
pgbk_verify(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	char *label = PG_ARGISNULL(0) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(0));
	ProblemList *volatile problems = NULL;
	ProblemList *volatile notes = NULL;
	CppResult r;

	InitMaterializedSRF(fcinfo, 0);
	r = RunCpp([&] {
		auto repo = pgbk::glue::OpenConfiguredRepository();
		repo->CheckKeys(false);
		std::vector<pgbk::BackupRecord> backups = pgbk::SelectBackupsToVerify(*repo, label ? label : "");
		problems = new ProblemList();
		notes = new ProblemList();
		pgbk::VerifyOptions opts;
		opts.parallel = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.parallel"));
		for (const auto &b : backups) {
			pgbk::VerifyResult v =
				pgbk::VerifyBackup(*repo, b, opts, [&](const pgbk::VerifyProblem &p) { problems->push_back(p); });
			if (std::string old = v.OldKeys(); !old.empty())
				notes->push_back(pgbk::VerifyProblem{b.label, "", old});
		}
		// The archive between and after the backups: each hole is WAL no restore replays past.
		if (label == NULL) {
			pgbk::RepositoryContinuity c = pgbk::CheckRepositoryContinuity(*repo, repo->ListBackups());
			for (const auto &hole : c.archive.holes)
				problems->push_back(pgbk::VerifyProblem{"archive", pgbk::DescribeHole(hole, c.segment_size, c.gaps),
														"missing from the archive (after backup " + c.from_backup +
															"): no restore replays past it"});
			for (const auto &gap : c.gaps)
				if (gap.Open())
					problems->push_back(pgbk::VerifyProblem{"archive", pgbk::DescribeGap(gap),
															"dropped on overflow and not yet covered by a backup"});
		}
	});
	/* Not problems: which backups still need a key from before a rotation. */
	if (r.ok)
		for (size_t i = 0; i < notes->size(); i++)
			ereport(NOTICE,
					(errmsg("pgbk: backup %s needs old key %s", (*notes)[i].label.c_str(), (*notes)[i].problem.c_str()),
					 errhint("Keep the key's file in pgbk.encryption_keyring while the backup is kept.")));
	delete_problems(notes);
	if (!r.ok) {
		delete_problems(problems);
		pgbk::glue::RaiseIfFailed(r, "could not verify");
	}
	pgbk::glue::EmitThenDelete(static_cast<ProblemList *>(problems), [&](const ProblemList &rows) {
		for (size_t i = 0; i < rows.size(); i++) {
			Datum values[3];
			bool nulls[3] = {false, false, false};

			values[0] = CStringGetTextDatum(rows[i].label.c_str());
			values[1] = CStringGetTextDatum(rows[i].object.c_str());
			values[2] = CStringGetTextDatum(rows[i].problem.c_str());
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	});
	return (Datum)0;
}

/*
 * pgbk_archive_holes()
 *
 * The WAL missing from the archive along the history restores follow, from the oldest
 * backup on it to the newest WAL (CheckRepositoryContinuity): one row per hole.
 */
Datum
pgbk_archive_holes(PG_FUNCTION_ARGS)
{
	return pgbk::glue::MaterializeRows<pgbk::RepositoryContinuity>(
		fcinfo, "could not check the archive",
		[] {
			auto repo = pgbk::glue::OpenConfiguredRepository();
			return pgbk::CheckRepositoryContinuity(*repo, repo->ListBackups());
		},
		[](const pgbk::RepositoryContinuity &c, ReturnSetInfo *rsinfo) {
			const pgbk::RepositoryContinuity *report = &c;
			for (size_t i = 0; i < report->archive.holes.size(); i++) {
				const pgbk::WalHole &h = report->archive.holes[i];
				char first[MAXFNAMELEN], last[MAXFNAMELEN];
				Datum values[5];
				bool nulls[5] = {false, false, false, false, false};

				XLogFileName(first, h.timeline, h.first_segno, report->segment_size);
				XLogFileName(last, h.timeline, h.last_segno, report->segment_size);
				values[0] = Int32GetDatum((int32)h.timeline);
				values[1] = CStringGetTextDatum(first);
				values[2] = CStringGetTextDatum(last);
				values[3] = Int64GetDatum((int64)(h.last_segno - h.first_segno + 1));
				values[4] = CStringGetTextDatum(report->from_backup.c_str());
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		});
}

/*
 * pgbk_archive_gaps()
 *
 * The ranges of WAL this server dropped (pgbk.archive_overflow = drop), from its ledger
 * beside the spool: read without the repository, which may be the reason for them.
 */
Datum
pgbk_archive_gaps(PG_FUNCTION_ARGS)
{
	return pgbk::glue::MaterializeRows<std::vector<pgbk::ArchiveGap>>(
		fcinfo, "could not read the gap ledger",
		[] { return pgbk::ArchiveGapLedger::ListIn(pgbk::glue::SpoolDirectory()); },
		[](const std::vector<pgbk::ArchiveGap> &gaps, ReturnSetInfo *rsinfo) {
			for (const pgbk::ArchiveGap &g : gaps) {
				Datum values[7];
				bool nulls[7] = {false, false, false, false, false, false, false};

				values[0] = Int32GetDatum((int32)g.timeline);
				values[1] = CStringGetTextDatum(g.first_wal.c_str());
				values[2] = CStringGetTextDatum(g.last_wal.c_str());
				values[3] = Int64GetDatum((int64)g.segments);
				values[4] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t)g.opened_at));
				values[5] = TimestampTzGetDatum(time_t_to_timestamptz((pg_time_t)g.closed_at));
				nulls[5] = g.Open();
				values[6] = CStringGetTextDatum(g.covered_by.c_str());
				nulls[6] = g.covered_by.empty();
				tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
			}
		});
}

typedef std::vector<pgbk::ExpiryItem> ExpiryList;

static void
delete_expiry_list(ExpiryList *list)
{
	RunCpp([&] { delete list; });
}

/*
 * pgbk_expire()
 *
 * Applies the retention settings now: one row per backup removed (with why), and one
 * for the range of WAL removed.
 */
Datum
pgbk_expire(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	ExpiryList *volatile removed = NULL;
	CppResult r;

	require_shared_state();
	InitMaterializedSRF(fcinfo, 0);
	if (!pgbk_expiry_begin())
		ereport(ERROR, (errcode(ERRCODE_OBJECT_IN_USE), errmsg("pgbk: another expiry is running"),
						errhint("The backup worker expires after each backup; try again when it is done.")));
	r = RunCpp([&] {
		removed = new ExpiryList();
		pgbk::ExpiryReport report =
			pgbk::glue::ExpireConfigured([&](const pgbk::ExpiryItem &e) { removed->push_back(e); });
		for (const auto &m : report.marked)
			removed->push_back(pgbk::MarkedExpiryItem(m));
		if (report.wal_removed > 0)
			removed->push_back(
				pgbk::ExpiryItem{report.wal_first + " .. " + report.wal_last, "wal",
								 std::to_string(report.wal_removed) + " WAL file(s) older than every kept backup"});
		for (const auto &prefix : report.left_alone)
			removed->push_back(pgbk::ExpiryItem{prefix, "left alone",
												"not a pgbk backup and not what a pgbk removal left: not removed"});
	});
	pgbk_expiry_end();
	if (!r.ok) {
		char detail[256];

		snprintf(detail, sizeof(detail),
				 "%zu backup(s) had been removed; the repository stays consistent and the next expiry finishes the "
				 "work.",
				 removed ? removed->size() : 0);
		delete_expiry_list(removed);
		pgbk::glue::ReportFailure(r, ERROR, "expiry stopped", NULL, detail);
	}
	pgbk::glue::EmitThenDelete(static_cast<ExpiryList *>(removed), [&](const ExpiryList &rows) {
		for (size_t i = 0; i < rows.size(); i++) {
			const pgbk::ExpiryItem &e = rows[i];
			bool wal = e.type == "wal", left_alone = e.type == "left alone";
			bool marked = e.type.rfind(pgbk::kMarkedTypePrefix, 0) == 0;
			const char *type = marked ? e.type.c_str() + pgbk::kMarkedTypePrefix.size() : e.type.c_str();
			Datum values[4];
			bool nulls[4] = {false, false, wal || left_alone || e.type.empty(), false};
			const char *kind = wal ? "wal" : left_alone ? "left alone" : marked ? "marked" : "backup";

			/* Every removal (and every mark) is in the log too, not only in the rows. */
			ereport(left_alone ? WARNING : LOG, (errmsg("pgbk: expiry: %s %s %s: %s",
														left_alone ? "left"
														: marked   ? "marked for removal:"
																   : "removed",
														marked ? "backup" : kind, e.label.c_str(), e.reason.c_str())));
			values[0] = CStringGetTextDatum(kind);
			values[1] = CStringGetTextDatum(e.label.c_str());
			values[2] = nulls[2] ? (Datum)0 : CStringGetTextDatum(type);
			values[3] = CStringGetTextDatum(e.reason.c_str());
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	});
	return (Datum)0;
}

/*
 * pgbk_set_retention(full integer, full_type text, diff integer) returns text
 *
 * Persists the retention policy like ALTER SYSTEM (diff NULL resets pgbk.retention_diff)
 * and reloads. Expiry applies it after the next backup or on pgbk_expire().
 */
Datum
pgbk_set_retention(PG_FUNCTION_ARGS)
{
	int32 full;
	char *full_type;
	char full_text[32], diff_text[32];
	const char *reloaded;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		ereport(ERROR, (errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED), errmsg("pgbk: full and full_type must not be null"),
						errhint("Use full => 0 to keep every backup.")));
	full = PG_GETARG_INT32(0);
	full_type = text_to_cstring(PG_GETARG_TEXT_PP(1));
	snprintf(full_text, sizeof(full_text), "%d", full);
	if (!PG_ARGISNULL(2))
		snprintf(diff_text, sizeof(diff_text), "%d", PG_GETARG_INT32(2));
	/* Each value checked by the settings table, as ALTER SYSTEM would. */
	{
		CppResult r = RunCpp([&] {
			pgbk::settings::Values checked;
			checked.Set("pgbk.retention_full", full_text);
			checked.Set("pgbk.retention_full_type", full_type);
			if (!PG_ARGISNULL(2))
				checked.Set("pgbk.retention_diff", diff_text);
		});
		pgbk::glue::RaiseIfFailed(r, NULL);
	}
	{
		PersistedSetting retention[] = {{"pgbk.retention_full", full_text},
										{"pgbk.retention_full_type", full_type},
										{"pgbk.retention_diff", PG_ARGISNULL(2) ? NULL : diff_text}};
		persist_as_bootstrap_superuser(retention, lengthof(retention));
	}
	reloaded = reload_if_permitted();
	/* This session too, at once: a pgbk_expire() right after applies the new policy. */
	ProcessConfigFile(PGC_SIGHUP);
	{
		const char *kept = full == 0                        ? "every backup"
						   : strcmp(full_type, "time") == 0 ? psprintf("full backups for %d day(s)", full)
															: psprintf("%d full backup(s)", full);
		const char *diffs = PG_ARGISNULL(2) || PG_GETARG_INT32(2) == 0
								? ""
								: psprintf(", at most %d differential backup(s)", PG_GETARG_INT32(2));
		PG_RETURN_TEXT_P(cstring_to_text(psprintf("retention saved: keep %s%s; %s", kept, diffs, reloaded)));
	}
}

/*
 * pgbk_archive_resume() returns text
 *
 * Superuser only: ends the stop of WAL archiving that a content conflict started (the
 * superuser has found and stopped the other server). Returns why archiving was
 * stopped, or NULL when it was not. The archiver retries the waiting WAL at once; a
 * conflict that remains stops it again.
 */
Datum
pgbk_archive_resume(PG_FUNCTION_ARGS)
{
	char reason[PGBK_ERROR_LEN] = "";
	bool was_stopped = false;
	CppResult r;

	if (!superuser())
		ereport(ERROR, (errcode(ERRCODE_INSUFFICIENT_PRIVILEGE), errmsg("pgbk: only a superuser may resume archiving"),
						errhint("Archiving stopped because another server wrote different WAL under the same name: "
								"a superuser decides which server's history is the real one.")));
	r = RunCpp([&] {
		if (auto why = pgbk::ResumeArchiving(".")) {
			was_stopped = true;
			strlcpy(reason, why->c_str(), sizeof(reason));
		}
	});
	pgbk::glue::RaiseIfFailed(r, "could not resume archiving");
	if (!was_stopped)
		PG_RETURN_NULL();
	ereport(LOG, (errmsg("pgbk: archiving resumed by %s; it was stopped: %s", GetUserNameFromId(GetUserId(), false),
						 reason)));
	/* The archiver retries now rather than after its next timeout. */
	PgArchWakeup();
	PG_RETURN_TEXT_P(cstring_to_text(reason));
}

/*
 * pgbk_keep(label text) returns text
 *
 * Keeps a backup from retention for good (backup/<label>/keep, create-only), with the
 * chain it depends on: what a mistaken pgbk_set_retention marked stays.
 */
Datum
pgbk_keep(PG_FUNCTION_ARGS)
{
	char label[PGBK_LABEL_LEN];
	char repo_name[MAXPGPATH] = "";
	char by[NAMEDATALEN + 8];
	bool found = false;
	CppResult r;

	text_to_cstring_buffer(PG_GETARG_TEXT_PP(0), label, sizeof(label));
	snprintf(by, sizeof(by), "%s", GetUserNameFromId(GetUserId(), false));
	r = RunCpp([&] {
		auto repo = pgbk::glue::OpenConfiguredRepository();
		strlcpy(repo_name, repo->Describe().c_str(), sizeof(repo_name));
		if (!pgbk::IsBackupLabel(label) || !repo->ReadBackup(label))
			return;
		found = true;
		repo->KeepBackup(label, static_cast<int64_t>(time(nullptr)), by);
	});
	pgbk::glue::RaiseIfFailed(r, "could not keep the backup");
	if (!found)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("pgbk: there is no backup \"%s\" in %s", label, repo_name),
						errhint("pgbk_backups lists the backups.")));
	PG_RETURN_TEXT_P(
		cstring_to_text(psprintf("kept backup %s: retention never selects it or what it depends on", label)));
}
