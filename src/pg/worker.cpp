/*
 * worker.cpp
 *
 * The pgbk background worker: runs queued and scheduled jobs one at a time, each by its
 * kind (job_kinds.hpp). Its main loop is a list of named phases (pgbk_worker_main).
 */
#include "pgbk/archive_gaps.hpp"
#include "pgbk/archive_spool.hpp"
#include "pgbk/cron.hpp"
#include "pgbk/schedule_slot.hpp"

#include "boundary.hpp"
#include "glue.hpp"
#include "job_kinds.hpp"
#include "jobs.hpp"

#include <chrono>

using pgbk::glue::CppResult;
using pgbk::glue::RunCpp;

static void
worker_detach_shmem(int code, Datum arg)
{
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	pgbk_shared->worker_pid = 0;
	pgbk_shared->worker_latch = NULL;
	LWLockRelease(pgbk_shared->lock);
	/* Jobs this worker was running die with it. */
	pgbk_jobs_fail_running("the backup worker exited during the backup");
}

void
pgbk_register_worker(void)
{
	BackgroundWorker worker;

	memset(&worker, 0, sizeof(worker));
	worker.bgw_flags = BGWORKER_SHMEM_ACCESS | BGWORKER_BACKEND_DATABASE_CONNECTION;
	/* On hot standbys too: they take backups (pgbk_backup_now(), pgbk.backup_standby). */
	worker.bgw_start_time = BgWorkerStart_ConsistentState;
	worker.bgw_restart_time = 10;
	strlcpy(worker.bgw_library_name, "pgbk", BGW_MAXLEN);
	strlcpy(worker.bgw_function_name, "pgbk_worker_main", BGW_MAXLEN);
	strlcpy(worker.bgw_name, "pgbk backup worker", BGW_MAXLEN);
	strlcpy(worker.bgw_type, "pgbk backup worker", BGW_MAXLEN);
	RegisterBackgroundWorker(&worker);
}

/* The kind of a claimed job; an unknown one is an error, never a default. */
static const PgbkJobKind *
job_kind_of(PgbkJob *job)
{
	const PgbkJobKind *kind = pgbk_job_kind(job->kind);

	if (kind == NULL)
		ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						errmsg("pgbk: job %s is of unknown kind \"%s\"", job->label, job->kind)));
	return kind;
}

/*
 * run_job
 *
 * Runs a claimed job and records its outcome; an ERROR fails the job, not the worker.
 */
static void
run_job(PgbkJob *job)
{
	MemoryContext job_context = AllocSetContextCreate(TopMemoryContext, "pgbk job", ALLOCSET_DEFAULT_SIZES);
	MemoryContext oldcontext = MemoryContextSwitchTo(job_context);

	pgstat_report_activity(STATE_RUNNING, psprintf("pgbk: %s", job->kind));
	PG_TRY();
	{
		job_kind_of(job)->run(job);
		pgbk_jobs_succeed(job);
	}
	PG_CATCH();
	{
		ErrorData *edata;
		char message[PGBK_ERROR_LEN];

		MemoryContextSwitchTo(job_context);
		edata = CopyErrorData();
		FlushErrorState();
		strlcpy(message, edata->message, sizeof(message));
		FreeErrorData(edata);
		/* What the kind left behind first, then the job's outcome. */
		if (const PgbkJobKind *kind = pgbk_job_kind(job->kind))
			kind->abandon(job, message);
		pgbk_jobs_fail(job, message);
		ereport(WARNING, (errmsg("pgbk: %s %s failed: %s", pgbk_job_noun(job->kind), job->label, message)));
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(oldcontext);
	MemoryContextDelete(job_context);
}

/*
 * next_scheduled_run
 *
 * Next run of the schedule of pgbk_job_kinds[i] after `after`, or 0 when there is none.
 */
static time_t
next_scheduled_run(int i, time_t after)
{
	time_t next = 0;
	const PgbkJobKind *kind = &pgbk_job_kinds[i];
	const char *expr = pgbk_job_kind_schedule(kind);
	const char *tz = pgbk::glue::StringSetting(pgbk::settings::Id("pgbk.schedule_timezone"));
	CppResult r;

	if (expr[0] == '\0')
		return 0;
	r = RunCpp([&] {
		auto n = pgbk::CronSchedule::Parse(expr).NextAfter(after, tz);
		next = n ? *n : 0;
	});
	pgbk::glue::ReportFailure(r, WARNING, kind->schedule_setting.data()); /* a literal: NUL-terminated */
	return next;
}

/* The primary's wait before it takes a run left to the standbys (pgbk.backup_standby = prefer). */
static long
primary_grace_seconds(void)
{
	int test = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.test_primary_grace"));

	return test > 0 ? test : (long)pgbk::kPrimaryGrace.count();
}

/*
 * take_scheduled_slot
 *
 * Claims the run of schedule i that fired at `slot` in the repository and queues its
 * backup; another node's claim means that node takes it. A superseded server (a
 * former primary) claims nothing: it would take the run from the real primary.
 */
static void
take_scheduled_slot(int i, time_t slot)
{
	const char *kind = pgbk_job_kinds[i].name.data(); /* a literal: NUL-terminated */
	bool claimed = false;
	char winner[PGBK_ERROR_LEN] = "";
	char label[PGBK_LABEL_LEN];
	int64 id;
	CppResult r;

	if (pgbk_jobs_any_queued()) {
		ereport(LOG, (errmsg("pgbk: scheduled %s backup skipped: a backup is already queued", kind)));
		return;
	}
	r = RunCpp([&] {
		auto repo = pgbk::glue::OpenConfiguredRepository();
		pgbk::glue::RefuseIfSuperseded(*repo, "this server takes no scheduled backup");
		/*
		 * With standbys in the running, one node per run is chosen by a create-only
		 * claim: only a store that decides between racing writers can do that.
		 */
		if (pgbk::glue::BackupStandbyMode() != pgbk::BackupStandby::Off) {
			auto support = repo->storage().CreateOnlyWrites(true);
			if (support && !support->conditional)
				throw pgbk::Error(
					pgbk::ErrorKind::Config,
					std::string("pgbk.backup_standby = ") +
						pgbk::settings::kBackupStandbyChoices[static_cast<int>(pgbk::glue::BackupStandbyMode())]
							.data() +
						" needs a store with conditional writes: the claim that picks one node per "
						"run is a create-only write, and " +
						repo->Describe() + " enforces those with a check before the write (" + support->how +
						"), so two nodes could both take the run",
					"Set pgbk.backup_standby = off on every node (the primary takes the runs), or use "
					"a store with conditional writes.");
		}
		pgbk::ScheduleSlotClaim claim;
		claim.type = kind;
		claim.slot = static_cast<int64_t>(slot);
		claim.holder = pgbk::glue::NodeName();
		claim.standby = pgbk::glue::CurrentNodeRole().standby;
		claim.claimed_at = static_cast<int64_t>(time(nullptr));
		std::optional<pgbk::ScheduleSlotClaim> other;
		claimed = pgbk::ClaimScheduleSlot(*repo, claim, &other);
		if (!claimed && other)
			strlcpy(winner, (other->holder + (other->standby ? " (a standby)" : " (the primary)")).c_str(),
					sizeof(winner));
	});
	if (!r.ok) {
		char what[128];

		snprintf(what, sizeof(what), "scheduled %s backup not taken", kind);
		pgbk::glue::ReportFailure(r, WARNING, what);
		return;
	}
	if (!claimed) {
		ereport(LOG,
				(errmsg("pgbk: scheduled %s backup taken by another node%s%s", kind, winner[0] ? ": " : "", winner)));
		return;
	}
	pgbk_jobs_enqueue(kind, PGBK_TRIGGER_SCHEDULE, label, &id);
	ereport(LOG, (errmsg("pgbk: scheduled %s backup %s queued", kind, label)));
}

/*
 * dispatch_one_node_per_run
 *
 * Schedule i fired at `slot`: this node claims the run now, after the grace period
 * (*claim_at), or leaves it to the other nodes (pgbk.backup_standby).
 */
static void
dispatch_one_node_per_run(int i, time_t slot, time_t *claim_at)
{
	const char *kind = pgbk_job_kinds[i].name.data(); /* a literal: NUL-terminated */
	pgbk::BackupStandby mode = pgbk::glue::BackupStandbyMode();
	pgbk::NodeRole role = pgbk::glue::CurrentNodeRole();
	auto max_lag = std::chrono::seconds(pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.backup_standby_max_lag")));
	pgbk::SlotAction action = pgbk::SlotAction::Leave;
	char reason[PGBK_ERROR_LEN] = "";
	CppResult r = RunCpp([&] {
		pgbk::SlotPlan plan = pgbk::PlanScheduledRun(mode, role, max_lag);
		action = plan.action;
		strlcpy(reason, plan.reason.c_str(), sizeof(reason));
	});

	*claim_at = 0;
	if (!r.ok) {
		pgbk::glue::ReportFailure(r, WARNING, "scheduled backup not taken");
		return;
	}
	switch (action) {
	case pgbk::SlotAction::Claim:
		take_scheduled_slot(i, slot);
		break;
	case pgbk::SlotAction::ClaimAfterGrace:
		*claim_at = slot + primary_grace_seconds();
		break;
	case pgbk::SlotAction::Leave:
		/* A standby with the default leaves every run to the primary: not news. */
		ereport(mode == pgbk::BackupStandby::Off ? DEBUG1 : LOG,
				(errmsg("pgbk: scheduled %s backup left to another node: %s", kind, reason)));
		break;
	}
}

/* Schedule i fired at `slot`: shared between the nodes as its kind says. */
static void
dispatch_scheduled_run(int i, time_t slot, time_t *claim_at)
{
	switch (pgbk_job_kinds[i].claim) {
	case PGBK_CLAIM_ONE_NODE_PER_RUN:
		dispatch_one_node_per_run(i, slot, claim_at);
		break;
	}
}

/*
 * claim_after_grace
 *
 * The primary's turn on a run no standby claimed in the grace period.
 */
static void
claim_after_grace(int i, time_t slot)
{
	const char *kind = pgbk_job_kinds[i].name.data(); /* a literal: NUL-terminated */
	bool taken = false;
	CppResult r = RunCpp([&] {
		auto repo = pgbk::glue::OpenConfiguredRepository();
		taken = pgbk::ReadScheduleSlot(*repo, kind, static_cast<int64_t>(slot)).has_value();
	});

	if (r.ok && taken) {
		ereport(LOG, (errmsg("pgbk: scheduled %s backup taken by a standby", kind)));
		return;
	}
	/* Unreadable: the create-only claim decides anyway. */
	take_scheduled_slot(i, slot);
}

/* The catch-up backup last queued, and when a failed one may be tried again. */
static int64 catch_up_job_id = 0;
static time_t catch_up_retry_at = 0;
constexpr int kCatchUpRetrySeconds = 60;

/*
 * heal_archive_gaps
 *
 * The gaps this server dropped (pgbk.archive_overflow = drop) are written to the
 * repository once it answers, and covered by a backup taken after them: once the
 * archiver stores into the repository again past an open gap, the worker queues that
 * backup itself (trigger 'catch-up': an incremental, a full without a valid prior).
 * Nothing here waits on an unreachable repository for long: it runs between jobs.
 */
static void
heal_archive_gaps(void)
{
	bool open = false, answered = false, spool_empty = false;
	char last_dropped[MAXFNAMELEN] = "", last_stored[MAXFNAMELEN];
	char label[PGBK_LABEL_LEN];
	int64 id;
	CppResult r = RunCpp([&] {
		pgbk::ArchiveGapLedger ledger(pgbk::glue::SpoolDirectory(), pgbk::glue::NodeName());
		for (const auto &g : ledger.List()) {
			if (g.Open()) {
				open = true;
				if (g.last_wal > last_dropped)
					strlcpy(last_dropped, g.last_wal.c_str(), sizeof(last_dropped));
			}
		}
		if (open || ledger.NeedsPublishing()) {
			auto repo = pgbk::glue::OpenConfiguredRepository();
			ledger.Publish(*repo);
			// One small read: whether the repository answers now.
			repo->ReadIdentity();
			answered = true;
			spool_empty = pgbk::ArchiveSpool::UsageOf(pgbk::glue::SpoolDirectory()).files == 0;
		}
	});

	if (!r.ok)
		/* The repository is still away: the next pass tries again. */
		ereport(DEBUG1, (errmsg("pgbk: archive gaps not written to the repository yet: %s", r.message)));
	if (!open)
		return;
	LWLockAcquire(pgbk_shared->lock, LW_SHARED);
	strlcpy(last_stored, pgbk_shared->last_archived_segment, sizeof(last_stored));
	LWLockRelease(pgbk_shared->lock);
	/* The repository answers, and WAL reaches it again: the spool is drained or WAL past
	 * the gap is stored directly (a backup started earlier would wait for WAL in vain). */
	if (!answered || (!spool_empty && strcmp(last_stored, last_dropped) <= 0))
		return;
	if (catch_up_job_id != 0) {
		int state = pgbk_jobs_state(catch_up_job_id);

		if (state == PGBK_JOB_QUEUED || state == PGBK_JOB_RUNNING)
			return;
		if (state == PGBK_JOB_FAILED && catch_up_retry_at == 0)
			catch_up_retry_at = time(NULL) + kCatchUpRetrySeconds;
		if (catch_up_retry_at != 0 && time(NULL) < catch_up_retry_at)
			return;
	}
	catch_up_retry_at = 0;
	pgbk_jobs_enqueue(pgbk::RulesOf(pgbk::BackupType::Incr).name.data(), PGBK_TRIGGER_CATCH_UP, label, &id);
	catch_up_job_id = id;
	ereport(LOG, (errmsg("pgbk: catch-up backup %s queued: the archive has a gap up to %s that no backup covers yet",
						 label, last_dropped)));
}

/* What the main loop keeps between its passes. */
constexpr int kSchedules = pgbk_job_kind_count;
typedef struct WorkerState {
	time_t next_run[kSchedules]; /* each schedule's next run (0: none) */
	/* A run this node claims once its grace period is over: when, and the slot. */
	time_t claim_at[kSchedules];
	time_t claim_slot[kSchedules];
	char schedule_seen[kSchedules][256];
	char timezone_seen[128];
	time_t next_gap_check;
} WorkerState;

/* Gaps are looked at every few seconds: a directory listing beside the spool. */
constexpr int kGapCheckSeconds = 5;

/* Counts each schedule from now whose expression or time zone changed (all at start). */
static void
count_changed_schedules_from_now(WorkerState *ws, bool all)
{
	const char *tz = pgbk::glue::StringSetting(pgbk::settings::Id("pgbk.schedule_timezone"));
	bool tz_changed = all || strcmp(ws->timezone_seen, tz) != 0;

	strlcpy(ws->timezone_seen, tz, sizeof(ws->timezone_seen));
	for (int i = 0; i < kSchedules; i++) {
		const char *value = pgbk_job_kind_schedule(&pgbk_job_kinds[i]);
		if (tz_changed || strcmp(ws->schedule_seen[i], value) != 0) {
			strlcpy(ws->schedule_seen[i], value, sizeof(ws->schedule_seen[i]));
			ws->next_run[i] = next_scheduled_run(i, time(NULL));
		}
	}
}

/* Phase: a reload (SIGHUP) rereads the settings; a changed schedule counts from now. */
static void
reload_settings(WorkerState *ws)
{
	if (!ConfigReloadPending)
		return;
	ConfigReloadPending = false;
	ProcessConfigFile(PGC_SIGHUP);
	count_changed_schedules_from_now(ws, false);
}

/* Phase: schedules that fired are dispatched (several at once, a full and an
 * incremental at 01:00: the biggest runs), and runs whose grace period is over claimed. */
static void
start_due_runs(WorkerState *ws)
{
	time_t now = time(NULL);
	int due = -1;
	time_t due_slot = 0;

	for (int i = 0; i < kSchedules; i++)
		if (ws->next_run[i] != 0 && now >= ws->next_run[i]) {
			if (due < 0) {
				due = i;
				due_slot = ws->next_run[i];
			}
			ws->next_run[i] = next_scheduled_run(i, now);
		}
	if (due >= 0) {
		dispatch_scheduled_run(due, due_slot, &ws->claim_at[due]);
		ws->claim_slot[due] = due_slot;
	}
	for (int i = 0; i < kSchedules; i++)
		if (ws->claim_at[i] != 0 && time(NULL) >= ws->claim_at[i]) {
			ws->claim_at[i] = 0;
			claim_after_grace(i, ws->claim_slot[i]);
		}
}

/*
 * drain_stranded_spool
 *
 * Moves what the archive spool holds into the repository when no archiver runs to do it:
 * this server is in recovery and archive_mode is not 'always' (a primary demoted during
 * a repository outage, its acknowledged WAL still spooled). Fenced as the archiver's drain
 * is; one process drains a spool at a time (the archiver after a promotion).
 */
static void
drain_stranded_spool(void)
{
	static char last_error[PGBK_ERROR_LEN] = "";
	uint64 moved = 0;
	char error[PGBK_ERROR_LEN] = "";
	CppResult r;

	if (!RecoveryInProgress() || XLogArchiveMode == ARCHIVE_MODE_ALWAYS)
		return;
	r = RunCpp([&] {
		std::string dir = pgbk::glue::SpoolDirectory();
		if (pgbk::ArchiveSpool::UsageOf(dir).files == 0)
			return;
		pgbk::settings::Values values = pgbk::glue::CurrentSettings();
		pgbk::ArchiveSpool spool(dir, 0, pgbk::KeyringOf(values));
		auto repo = pgbk::glue::OpenConfiguredRepository();
		bool checked = false;
		moved =
			pgbk::DrainSpoolFenced(spool, *repo, pgbk::glue::CurrentClusterIdentity(), &checked, pgbk::CodecOf(values),
								   static_cast<int>(values.Integer(pgbk::settings::Id("pgbk.parallel"))),
								   pgbk::glue::AbsoluteDataDirectory(), wal_segment_size, pgbk::glue::StopRequested);
	});
	if (!r.ok)
		strlcpy(error, r.message, sizeof(error));
	if (moved > 0)
		ereport(LOG, (errmsg("pgbk: moved %llu WAL file(s) from the spool into the repository (no archiver runs on "
							 "this standby)",
							 (unsigned long long)moved)));
	/* A refusal that persists (a fenced file, an outage) is logged once, not every few seconds. */
	if (error[0] != '\0' && strcmp(error, last_error) != 0)
		ereport(WARNING, (errmsg("pgbk: the spool could not be drained: %s", error),
						  errdetail("No archiver runs on a standby with archive_mode = on: the backup worker "
									"drains the spool, and tries again every few seconds.")));
	strlcpy(last_error, error, sizeof(last_error));
}

/* Phase: checks that run every few seconds (the archive's gaps, a stranded spool). */
static void
run_periodic_checks(WorkerState *ws)
{
	if (time(NULL) < ws->next_gap_check)
		return;
	ws->next_gap_check = time(NULL) + kGapCheckSeconds;
	heal_archive_gaps();
	drain_stranded_spool();
}

/* Phase: runs the oldest queued job; false when none waits. */
static bool
run_next_job(void)
{
	PgbkJob *job = pgbk_jobs_claim_next();

	if (job == NULL)
		return false;
	run_job(job);
	return true;
}

/* Phase: sleeps until the next schedule, claim or periodic check, or a wake-up. */
static void
wait_until_next_wakeup(WorkerState *ws)
{
	long timeout_ms = kGapCheckSeconds * 1000L;

	for (int i = 0; i < kSchedules; i++)
		for (time_t at : {ws->next_run[i], ws->claim_at[i]})
			if (at != 0) {
				long until = (long)(at - time(NULL)) * 1000L;
				timeout_ms = Max(Min(until, timeout_ms), 10);
			}
	pgbk::glue::LogCoreNotices();
	(void)WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, timeout_ms, PG_WAIT_EXTENSION);
	ResetLatch(MyLatch);
}

void
pgbk_worker_main(Datum main_arg)
{
	WorkerState ws;

	memset(&ws, 0, sizeof(ws));
	pqsignal(SIGHUP, SignalHandlerForConfigReload);
	pqsignal(SIGTERM, die);
	BackgroundWorkerUnblockSignals();
	BackgroundWorkerInitializeConnection(pgbk::glue::StringSetting(pgbk::settings::Id("pgbk.database")), NULL, 0);

	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	pgbk_shared->worker_pid = MyProcPid;
	pgbk_shared->worker_latch = MyLatch;
	LWLockRelease(pgbk_shared->lock);
	before_shmem_exit(worker_detach_shmem, 0);

	ereport(LOG, (errmsg("pgbk: backup worker started")));
	pgbk_backup_jobs_start();
	count_changed_schedules_from_now(&ws, true);

	for (;;) {
		CHECK_FOR_INTERRUPTS();
		reload_settings(&ws);
		start_due_runs(&ws);
		run_periodic_checks(&ws);
		if (run_next_job())
			continue;
		wait_until_next_wakeup(&ws);
	}
}
