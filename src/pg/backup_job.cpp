/*
 * backup_job.cpp
 *
 * The backup job (backup_job.hpp): the phases of a core BackupRun (backup_run.hpp), one
 * RunCpp each on the worker's (main) thread, then retention. The run calls PostgreSQL's
 * non-exclusive backup API through PostgresBackupServer; the core's own threads do the
 * I/O. Only this thread ever calls PostgreSQL.
 */
#include "pgbk/backup_run.hpp"

#include "backup_job.hpp"
#include "boundary.hpp"
#include "jobs.hpp"

#include <chrono>

using pgbk::glue::CppResult;
using pgbk::glue::RunCpp;

/*
 * The server's side of a backup (pgbk::BackupServer): PostgreSQL's non-exclusive backup
 * API, PostgreSQL 15 and 16+ (16 moved the state into BackupState and builds
 * backup_label with build_backup_content). Each call runs through CallPostgres, so an
 * ERROR reaches the core as a pgbk::Error. Plain data only: it lives in the job's
 * memory context between the calls.
 */
typedef struct PostgresBackupCall {
	const char *label; /* in: StartBackup's label */
	TimeLineID tli; /* out: start or stop timeline */
	XLogRecPtr lsn; /* out: start or stop point */
	char *backup_label; /* out (stop): palloc'd */
	char *tablespace_map; /* out (stop): palloc'd */
	uint64 next_xid; /* out (stop) */
} PostgresBackupCall;

#if PG_VERSION_NUM >= 160000
static BackupState *backup_state = NULL;
#else
static StringInfo backup_labelfile = NULL;
#endif
static StringInfo backup_tblspcmap = NULL;

static void
start_backup_in_postgres(void *arg)
{
	PostgresBackupCall *call = (PostgresBackupCall *)arg;

	backup_tblspcmap = makeStringInfo();
#if PG_VERSION_NUM >= 160000
	backup_state = (BackupState *)palloc0(sizeof(BackupState));
	do_pg_backup_start(call->label, true, NULL, backup_state, backup_tblspcmap);
	call->tli = backup_state->starttli;
	call->lsn = backup_state->startpoint;
#else
	backup_labelfile = makeStringInfo();
	call->lsn = do_pg_backup_start(call->label, true, &call->tli, backup_labelfile, NULL, backup_tblspcmap);
#endif
}

static void
stop_backup_in_postgres(void *arg)
{
	PostgresBackupCall *call = (PostgresBackupCall *)arg;

#if PG_VERSION_NUM >= 160000
	do_pg_backup_stop(backup_state, false);
	call->backup_label = build_backup_content(backup_state, false);
	call->tli = backup_state->stoptli;
	call->lsn = backup_state->stoppoint;
#else
	call->lsn = do_pg_backup_stop(backup_labelfile->data, false, &call->tli);
	call->backup_label = backup_labelfile->data;
#endif
	call->tablespace_map = backup_tblspcmap->data;
	call->next_xid = U64FromFullTransactionId(ReadNextFullTransactionId());
}

class PostgresBackupServer final : public pgbk::BackupServer {
public:
	pgbk::ServerPosition
	StartBackup(const std::string &label) override
	{
		PostgresBackupCall call = {};

		call.label = label.c_str();
		pgbk::glue::CallPostgres("could not start the backup in PostgreSQL", start_backup_in_postgres, &call);
		return pgbk::ServerPosition{call.tli, call.lsn};
	}

	pgbk::BackupStopPoint
	StopBackup() override
	{
		PostgresBackupCall call = {};

		pgbk::glue::CallPostgres("could not stop the backup in PostgreSQL", stop_backup_in_postgres, &call);
		pgbk::BackupStopPoint stop;
		stop.position = pgbk::ServerPosition{call.tli, call.lsn};
		stop.backup_label = call.backup_label;
		stop.tablespace_map = call.tablespace_map;
		stop.next_xid = call.next_xid;
		return stop;
	}

	pgbk::ServerPosition
	Position() override
	{
		return pgbk::glue::CurrentServerPosition();
	}
};

/* The running backup; plain pointers so that ERROR paths can free them. */
static PostgresBackupServer *current_server = NULL;
static pgbk::BackupRun *current_run = NULL;

static void
free_current_backup(void)
{
	RunCpp([&] {
		delete current_run;
		current_run = NULL;
		delete current_server;
		current_server = NULL;
	});
}

/* True when PostgreSQL wants this process to stop what it is doing. */
static bool
interrupt_requested(void)
{
	return ProcDiePending || QueryCancelPending || ShutdownRequestPending;
}

/*
 * cleanup_interrupted_backups
 *
 * Marks backups interrupted by a crash, a kill or a failover failed
 * (CleanUpInterruptedBackups), and keeps new labels after every label in the repository.
 */
static void
cleanup_interrupted_backups(void)
{
	int cleaned = 0;
	char newest[PGBK_LABEL_LEN] = "";
	CppResult r = RunCpp([&] {
		auto repo = pgbk::glue::OpenConfiguredRepository();
		pgbk::InterruptedBackups result = pgbk::CleanUpInterruptedBackups(*repo, pgbk::glue::CurrentNode(),
																		  pgbk::glue::SupersededBy(*repo).has_value(),
																		  static_cast<int64_t>(time(nullptr)));
		cleaned = result.marked_failed;
		strlcpy(newest, result.newest_label.c_str(), sizeof(newest));
	});
	/* New labels must sort after every label in the repository, even after a crash. */
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	if (strcmp(newest, pgbk_shared->last_label) > 0)
		strlcpy(pgbk_shared->last_label, newest, sizeof(pgbk_shared->last_label));
	LWLockRelease(pgbk_shared->lock);
	if (!r.ok)
		pgbk::glue::ReportFailure(r, WARNING, "could not check the repository for interrupted backups");
	else if (cleaned > 0)
		ereport(LOG, (errmsg("pgbk: marked %d interrupted backup(s) as failed", cleaned)));
}

static void
progress_to_job(PgbkJob *job, const pgbk::BackupProgress &p)
{
	pg_atomic_write_u64(&job->bytes_read, p.bytes_read);
	pg_atomic_write_u64(&job->bytes_written, p.bytes_written);
	pg_atomic_write_u64(&job->bad_blocks, p.bad_blocks);
}

/*
 * check_backup_possible
 *
 * A backup needs a server whose WAL goes to the repository: the primary's archiving
 * (a standby's backup waits for the primary to archive the WAL it needs), or a
 * standby's own with archive_mode = always.
 */
static void
check_backup_possible(void)
{
	if (!XLogArchivingActive() || XLogArchiveLibrary == NULL || strcmp(XLogArchiveLibrary, "pgbk") != 0)
		ereport(ERROR, (errmsg("pgbk: WAL archiving to the repository is not enabled"),
						errhint("Set archive_mode = on and archive_library = 'pgbk' in postgresql.conf; a backup "
								"cannot be restored without its WAL.")));
}

/*
 * open_run
 *
 * The core run of the job's backup type, on this server, with the current settings.
 */
static void
open_run(PgbkJob *job, pgbk::BackupType type)
{
	CppResult r = RunCpp([&] {
		pgbk::BackupServerFacts facts;
		facts.pgdata = pgbk::glue::AbsoluteDataDirectory();
		facts.node = pgbk::glue::CurrentNode();
		facts.cluster = pgbk::glue::CurrentClusterIdentity();
		facts.pg_version_num = PG_VERSION_NUM;
		facts.segment_size = wal_segment_size;
		facts.data_checksums = DataChecksumsEnabled();
		facts.standby = RecoveryInProgress();
		facts.tablespace_version_dir = TABLESPACE_VERSION_DIRECTORY;
		facts.spool_directory = pgbk::glue::SpoolDirectory();

		pgbk::BackupRunOptions options;
		options.label = job->label;
		options.type = type;
		options.codec = pgbk::glue::CurrentCodec();
		options.parallel = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.parallel"));
		options.wal_timeout = std::chrono::seconds(pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.archive_timeout")));
		int lease_seconds = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.test_backup_lease"));
		if (lease_seconds > 0)
			options.lease_term = std::chrono::seconds(lease_seconds);
		options.file_delay =
			std::chrono::milliseconds(pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.test_file_delay")));

		/* Callbacks run on this thread, inside core code: they must not ereport. */
		pgbk::BackupCallbacks callbacks;
		callbacks.should_cancel = interrupt_requested;
		callbacks.progress = [job](const pgbk::BackupProgress &p) { progress_to_job(job, p); };

		current_server = new PostgresBackupServer();
		current_run =
			new pgbk::BackupRun(pgbk::glue::OpenConfiguredRepository(), *current_server, facts, options, callbacks);
	});
	pgbk::glue::RaiseIfFailed(r, "cannot start the backup");
}

/*
 * choose_prior
 *
 * The prior a differential or incremental is taken against; without one the backup is
 * taken as a full one, relabelled, and the job's note says why.
 */
static void
choose_prior(PgbkJob *job, pgbk::BackupType requested_type)
{
	char why_full[PGBK_ERROR_LEN] = "";
	char label[PGBK_LABEL_LEN] = "";
	CppResult r = RunCpp([&] {
		strlcpy(why_full, current_run->ChoosePrior().c_str(), sizeof(why_full));
		strlcpy(label, current_run->Label().c_str(), sizeof(label));
	});
	pgbk::glue::RaiseIfFailed(r, "cannot start the backup");
	if (why_full[0] != '\0') {
		const pgbk::BackupTypeRules &requested = pgbk::RulesOf(requested_type);

		LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
		strlcpy(job->kind, pgbk::RulesOf(pgbk::BackupType::Full).name.data(), sizeof(job->kind));
		strlcpy(job->label, label, sizeof(job->label));
		snprintf(job->note, sizeof(job->note), "requested %.*s %.*s; taken as a full backup because %s",
				 (int)requested.article.size(), requested.article.data(), (int)requested.adjective.size(),
				 requested.adjective.data(), why_full);
		LWLockRelease(pgbk_shared->lock);
		ereport(LOG, (errmsg("pgbk: backup %s: %s", job->label, job->note)));
	}
}

/* Starts the backup in PostgreSQL and records it in the repository. */
static void
start_backup(void)
{
	pgbk::glue::RaiseIfFailed(RunCpp([&] { current_run->Start(); }), "cannot start the backup");
}

/* Copies the data directory on the core's threads; this thread feeds them and polls for
 * interrupts. */
static void
copy_files(void)
{
	pgbk::glue::RaiseIfFailed(RunCpp([&] { current_run->CopyFiles(); }), "could not copy the data directory");
}

/* Stops the backup in PostgreSQL, waits for its WAL and writes the completion marker. */
static void
stop_and_complete(PgbkJob *job)
{
	pgbk::glue::RaiseIfFailed(RunCpp([&] {
								  current_run->StopAndComplete();
								  progress_to_job(job, current_run->Progress());
							  }),
							  "could not complete the backup");
}

/*
 * cover_archive_gaps
 *
 * A complete backup that started after a gap this server dropped covers it: restores
 * reach every point after the backup again. A failure here is reported, never the
 * backup's: it is complete either way, and the next backup covers the gap too.
 */
static void
cover_archive_gaps(PgbkJob *job)
{
	std::vector<std::string> *closed = NULL;
	CppResult r = RunCpp([&] { closed = new std::vector<std::string>(current_run->CoverArchiveGaps()); });
	for (size_t i = 0; closed != NULL && i < closed->size(); i++)
		ereport(LOG, (errmsg("pgbk: backup %s covers the archive gap %s", job->label, (*closed)[i].c_str())));
	RunCpp([&] { delete closed; });
	pgbk::glue::ReportFailure(r, WARNING, "could not record which archive gaps the backup covers");
}

/*
 * report_bad_pages
 *
 * Pages that failed checksum verification are reported, not fatal: the backup holds
 * them as they are on disk.
 */
static void
report_bad_pages(PgbkJob *job)
{
	uint64 bad_count = pg_atomic_read_u64(&job->bad_blocks);
	char bad_pages[PGBK_ERROR_LEN] = "";

	if (bad_count == 0)
		return;
	RunCpp([&] { strlcpy(bad_pages, current_run->BadPagesSummary().c_str(), sizeof(bad_pages)); });
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	snprintf(job->error, sizeof(job->error), "backup complete, but %llu page(s) failed checksum verification: %s",
			 (unsigned long long)bad_count, bad_pages);
	LWLockRelease(pgbk_shared->lock);
	ereport(WARNING, (errcode(ERRCODE_DATA_CORRUPTED),
					  errmsg("pgbk: backup %s: %llu page(s) failed checksum verification", job->label,
							 (unsigned long long)bad_count),
					  errdetail("%s", bad_pages)));
}

/* The log line of a completed backup. */
static void
report_complete(PgbkJob *job)
{
	pgbk::ServerPosition start, stop;
	char prior[PGBK_LABEL_LEN] = "";

	RunCpp([&] {
		start = current_run->StartPosition();
		stop = current_run->StopPosition();
		strlcpy(prior, current_run->Prior().c_str(), sizeof(prior));
	});
	ereport(LOG, (errmsg("pgbk: %s backup %s complete (start %X/%X, stop %X/%X)%s%s", job->kind, job->label,
						 LSN_FORMAT_ARGS(start.lsn), LSN_FORMAT_ARGS(stop.lsn), prior[0] ? ", prior " : "", prior)));
}

/*
 * run_backup
 *
 * Takes one backup of the job's type. Raises ERROR on failure (the caller records it).
 */
static void
run_backup(PgbkJob *job)
{
	std::optional<pgbk::BackupType> type = pgbk::ParseBackupType(job->kind);

	if (!type)
		ereport(ERROR, (errmsg("pgbk: job %s is of kind \"%s\", which is not a backup type", job->label, job->kind)));
	check_backup_possible();
	/* Leftovers of a failover or a crash are found by any node, not only at our start. */
	cleanup_interrupted_backups();
	open_run(job, *type);
	choose_prior(job, *type);
	pgstat_report_activity(STATE_RUNNING, psprintf("pgbk: %s backup %s", job->kind, job->label));
	start_backup();
	copy_files();
	stop_and_complete(job);
	cover_archive_gaps(job);
	report_bad_pages(job);
	report_complete(job);
	free_current_backup();
}

/*
 * run_expiry_after_backup
 *
 * Applies retention after a successful backup. Its failure is reported (log and the
 * job's note), never the backup's: the backup is complete either way.
 */
static void
run_expiry_after_backup(PgbkJob *job)
{
	std::vector<pgbk::ExpiryItem> *removed = NULL;
	uint64 wal_removed = 0;
	char wal_range[2 * MAXFNAMELEN + 8] = "";
	CppResult r;

	if (!pgbk_expiry_begin()) {
		pgbk_jobs_append_note(job, "expiry skipped: pgbk_expire() was running");
		return;
	}
	pgstat_report_activity(STATE_RUNNING, "pgbk: expiry");
	r = RunCpp([&] {
		removed = new std::vector<pgbk::ExpiryItem>();
		pgbk::ExpiryReport rep =
			pgbk::glue::ExpireConfigured([&](const pgbk::ExpiryItem &e) { removed->push_back(e); });
		wal_removed = rep.wal_removed;
		for (const auto &m : rep.marked)
			removed->push_back(pgbk::MarkedExpiryItem(m));
		for (const auto &prefix : rep.left_alone)
			removed->push_back(pgbk::ExpiryItem{prefix, "left alone", "not a pgbk backup: not removed"});
		snprintf(wal_range, sizeof(wal_range), "%s .. %s", rep.wal_first.c_str(), rep.wal_last.c_str());
	});
	pgbk_expiry_end();
	/* Only plain C data below: logging may not throw, but it may longjmp. */
	for (size_t i = 0; removed != NULL && i < removed->size(); i++) {
		char what[PGBK_ERROR_LEN];

		if ((*removed)[i].type == "left alone")
			snprintf(what, sizeof(what), "left %s alone (%s)", (*removed)[i].label.c_str(),
					 (*removed)[i].reason.c_str());
		else if ((*removed)[i].type.rfind(pgbk::kMarkedTypePrefix, 0) == 0)
			snprintf(what, sizeof(what), "marked %s backup %s for expiry (%s)",
					 (*removed)[i].type.c_str() + pgbk::kMarkedTypePrefix.size(), (*removed)[i].label.c_str(),
					 (*removed)[i].reason.c_str());
		else
			snprintf(what, sizeof(what), "expired %s backup %s (%s)", (*removed)[i].type.c_str(),
					 (*removed)[i].label.c_str(), (*removed)[i].reason.c_str());
		pgbk_jobs_append_note(job, what);
	}
	RunCpp([&] { delete removed; });
	if (wal_removed > 0) {
		char what[PGBK_ERROR_LEN];

		snprintf(what, sizeof(what), "expired %llu WAL file(s) %s", (unsigned long long)wal_removed, wal_range);
		pgbk_jobs_append_note(job, what);
	}
	if (!r.ok) {
		char what[PGBK_ERROR_LEN];

		snprintf(what, sizeof(what), "expiry failed: %s", r.message);
		pgbk_jobs_append_note(job, what);
		snprintf(what, sizeof(what), "expiry after backup %s failed", job->label);
		pgbk::glue::ReportFailure(r, WARNING, what,
								  "The backup is complete; the next expiry (after a backup or on pgbk_expire()) "
								  "finishes the work.");
	} else if (job->note[0] != '\0')
		ereport(LOG, (errmsg("pgbk: backup %s: %s", job->label, job->note)));
}

void
pgbk_run_backup_job(PgbkJob *job)
{
	run_backup(job);
	/* Before the job reports success: a caller waiting on it sees the expiry done. */
	run_expiry_after_backup(job);
}

void
pgbk_abandon_backup_job(PgbkJob *job, const char *message)
{
	CppResult r;
	char what[PGBK_LABEL_LEN + 64];

	if (get_backup_status() == SESSION_BACKUP_RUNNING)
		do_pg_abort_backup(0, BoolGetDatum(false));
	r = RunCpp([&] {
		if (current_run != NULL)
			current_run->Abandon(message);
	});
	free_current_backup();
	snprintf(what, sizeof(what), "could not record the failure of backup %s", job->label);
	pgbk::glue::ReportFailure(r, WARNING, what);
}

void
pgbk_backup_jobs_start(void)
{
	/* A FATAL (shutdown) during a backup must end the backup in PostgreSQL too. */
	register_persistent_abort_backup_handler();
	cleanup_interrupted_backups();
}
