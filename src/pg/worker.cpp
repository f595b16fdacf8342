/*
 * worker.cpp
 *
 * The pgbk background worker: runs queued and scheduled backup jobs one at a time.
 * A backup is bracketed by the non-exclusive backup API; the file copy, the WAL wait
 * and the manifest are core code run through RunCpp on this (main) thread, with the
 * core's own threads doing the I/O. Only this thread ever calls PostgreSQL.
 */
#include "pgbk/archive_gaps.hpp"
#include "pgbk/archive_spool.hpp"
#include "pgbk/backup.hpp"
#include "pgbk/backup_lease.hpp"
#include "pgbk/cron.hpp"
#include "pgbk/timeline_fence.hpp"
#include "pgbk/wal_archiver.hpp"

#include "boundary.hpp"
#include "glue.hpp"
#include "jobs.hpp"

#include <chrono>

using pgbk::glue::CppResult;
using pgbk::glue::RunCpp;

/* The running backup's core session; a plain pointer so ERROR paths can free it. */
static pgbk::BackupSession *current_session = NULL;
static pgbk::Repository *current_repo = NULL;
static pgbk::BackupCallbacks *current_callbacks = NULL;
/*
 * Whether this job wrote its backup's record (backup.info, create-only). Only then may
 * its failure mark the label failed and remove data: another node that claimed the same
 * label first owns everything under it.
 */
static bool current_record_written = false;
/* Renews the running backup's lease on its own thread; freed before the repository. */
static pgbk::BackupLease *current_lease = NULL;

static void
free_current_backup(void)
{
	RunCpp([&] {
		delete current_lease;
		current_lease = NULL;
		delete current_session;
		current_session = NULL;
		delete current_repo;
		current_repo = NULL;
		delete current_callbacks;
		current_callbacks = NULL;
	});
	current_record_written = false;
}

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

/* True when PostgreSQL wants this process to stop what it is doing. */
static bool
interrupt_requested(void)
{
	return ProcDiePending || QueryCancelPending || ShutdownRequestPending;
}

/*
 * cleanup_interrupted_backups
 *
 * A backup with neither a completion marker nor a failure record was interrupted (crash,
 * kill, shutdown). Mark it failed and drop its data objects.
 */
static void
cleanup_interrupted_backups(void)
{
	int cleaned = 0;
	char newest[PGBK_LABEL_LEN] = "";
	CppResult r = RunCpp([&] {
		auto repo = pgbk::glue::OpenConfiguredRepository();
		std::string host = pgbk::glue::HostName(), pgdata = pgbk::glue::AbsoluteDataDirectory();
		// A superseded server (a former primary) touches nothing of the others'.
		bool superseded = pgbk::glue::SupersededBy(*repo).has_value();
		auto now = static_cast<int64_t>(time(nullptr));
		for (auto &b : repo->ListBackups()) {
			if (b.label.compare(newest) > 0)
				strlcpy(newest, b.label.c_str(), sizeof(newest));
			if (b.status != pgbk::BackupStatus::Incomplete)
				continue;
			/*
			 * This data directory's own leftovers (no backup of ours runs while the worker
			 * starts), and any node's whose lease expired (its taker is gone: a failover,
			 * a pod rescheduled under another name). Never one another node is still
			 * taking: a restored copy sharing the repository must not touch its source's.
			 */
			bool own = b.host == host && b.pgdata == pgdata;
			if (superseded || (!own && !pgbk::LeaseExpired(b, now)))
				continue;
			repo->MarkBackupFailed(b.label,
								   own ? "interrupted: the server or the backup worker stopped before the backup "
										 "completed"
									   : "interrupted: its lease (held by " + b.lease_holder +
											 ") expired without the backup completing",
								   now);
			repo->RemoveBackupData(b.label);
			cleaned++;
		}
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
 * Non-exclusive backup API, PostgreSQL 15 and 16+ (16 moved the state into BackupState
 * and builds backup_label with build_backup_content).
 */
#if PG_VERSION_NUM >= 160000
static BackupState *backup_state = NULL;
#endif

static XLogRecPtr
backup_start_compat(const char *label, TimeLineID *starttli, StringInfo labelfile, StringInfo tblspcmap)
{
#if PG_VERSION_NUM >= 160000
	backup_state = (BackupState *)palloc0(sizeof(BackupState));
	do_pg_backup_start(label, true, NULL, backup_state, tblspcmap);
	*starttli = backup_state->starttli;
	return backup_state->startpoint;
#else
	return do_pg_backup_start(label, true, starttli, labelfile, NULL, tblspcmap);
#endif
}

static XLogRecPtr
backup_stop_compat(StringInfo labelfile, TimeLineID *stoptli)
{
#if PG_VERSION_NUM >= 160000
	do_pg_backup_stop(backup_state, false);
	appendStringInfoString(labelfile, build_backup_content(backup_state, false));
	*stoptli = backup_state->stoptli;
	return backup_state->stoppoint;
#else
	return do_pg_backup_stop(labelfile->data, false, stoptli);
#endif
}

/*
 * The state of the backup being taken, passed from phase to phase (plain data: every
 * phase may ereport).
 */
typedef struct BackupRun {
	PgbkJob *job;
	char label[PGBK_LABEL_LEN];
	pgbk::BackupType type;
	char prior[PGBK_LABEL_LEN];
	XLogRecPtr prior_start;
	TimeLineID starttli, stoptli;
	XLogRecPtr startptr, stopptr;
	int64 stop_time_us;
	uint64 next_xid;
	StringInfo labelfile, tblspcmap;
	char bad_pages[PGBK_ERROR_LEN];
} BackupRun;

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
 * choose_prior
 *
 * Opens the repository and picks the backup a differential or incremental is taken
 * against; without one, the backup becomes a full one (relabelled, the job's note says
 * why).
 */
static void
choose_prior(BackupRun *run)
{
	char why_full[PGBK_ERROR_LEN] = "";
	CppResult r = RunCpp([&] {
		current_repo = pgbk::glue::OpenConfiguredRepository().release();
		current_repo->CheckOrInit(pgbk::glue::CurrentClusterIdentity());
		// A former primary (or a promoted copy) whose timeline another server took over
		// takes no backup: a restore would pick it and fail.
		pgbk::glue::RefuseIfSuperseded(*current_repo, "this server takes no backup");
		if (pgbk::RulesOf(run->type).prior == pgbk::PriorRule::None)
			return;
		pgbk::TimelineLineage lineage = pgbk::TimelineFence(*current_repo, wal_segment_size)
											.ServerLineage(pgbk::glue::AbsoluteDataDirectory() + "/pg_wal",
														   pgbk::glue::CurrentServerPosition().timeline);
		pgbk::PriorChoice c = pgbk::ChoosePrior(current_repo->ListBackups(), run->type, lineage, PG_VERSION_NUM);
		strlcpy(run->prior, c.label.c_str(), sizeof(run->prior));
		run->prior_start = c.start_lsn;
		strlcpy(why_full, c.why_full.c_str(), sizeof(why_full));
	});
	pgbk::glue::RaiseIfFailed(r, "cannot start the backup");
	if (why_full[0] != '\0') {
		const pgbk::BackupTypeRules &requested = pgbk::RulesOf(run->type);
		const pgbk::BackupTypeRules &full = pgbk::RulesOf(pgbk::BackupType::Full);

		run->type = pgbk::BackupType::Full;
		run->label[strlen(run->label) - 1] = full.label_suffix;
		LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
		strlcpy(run->job->kind, full.name.data(), sizeof(run->job->kind));
		strlcpy(run->job->label, run->label, sizeof(run->job->label));
		snprintf(run->job->note, sizeof(run->job->note), "requested %.*s %.*s; taken as a full backup because %s",
				 (int)requested.article.size(), requested.article.data(), (int)requested.adjective.size(),
				 requested.adjective.data(), why_full);
		LWLockRelease(pgbk_shared->lock);
		ereport(LOG, (errmsg("pgbk: backup %s: %s", run->label, run->job->note)));
	}
}

/*
 * start_backup
 *
 * Starts the backup in PostgreSQL, records its start in the repository and opens the
 * core session that stores its files.
 */
static void
start_backup(BackupRun *run)
{
	CppResult r = RunCpp([&] {
		if (current_repo->ReadBackup(run->label))
			throw pgbk::Error(pgbk::ErrorKind::AlreadyExists, std::string("backup ") + run->label + " already exists");
	});
	pgbk::glue::RaiseIfFailed(r, "cannot start the backup");

	run->labelfile = makeStringInfo();
	run->tblspcmap = makeStringInfo();
	run->startptr = backup_start_compat(run->label, &run->starttli, run->labelfile, run->tblspcmap);

	r = RunCpp([&] {
		pgbk::BackupStartInfo info;
		info.label = run->label;
		info.type = pgbk::RulesOf(run->type).name;
		info.prior = run->prior;
		info.started_at = static_cast<int64_t>(time(nullptr));
		info.start_lsn = run->startptr;
		info.timeline = run->starttli;
		info.wal_start =
			pgbk::WalSegmentName(pgbk::SegmentOfLsn(run->starttli, run->startptr, wal_segment_size), wal_segment_size);
		info.cluster = pgbk::glue::CurrentClusterIdentity();
		info.pg_version_num = PG_VERSION_NUM;
		info.host = pgbk::glue::HostName();
		info.pgdata = pgbk::glue::AbsoluteDataDirectory();
		info.standby = RecoveryInProgress();
		try {
			current_repo->WriteBackupStart(info);
		} catch (const pgbk::Error &e) {
			if (e.kind() != pgbk::ErrorKind::AlreadyExists)
				throw;
			throw pgbk::Error(pgbk::ErrorKind::Conflict,
							  "backup label " + info.label +
								  " is already taken in the repository (another server started a backup in the same "
								  "second); this backup is not taken and the other one is left alone",
							  "Run pgbk_backup_now() again for a new label; if two servers take backups into one "
							  "repository, only the primary should (pgbk fences a former primary).");
		}
		current_record_written = true;
		int lease_seconds = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.test_backup_lease"));
		auto term = lease_seconds > 0 ? std::chrono::seconds(lease_seconds) : pgbk::kBackupLeaseTerm;
		current_lease =
			new pgbk::BackupLease(*current_repo, info.label, info.host + ":" + info.pgdata, term,
								  std::min<std::chrono::milliseconds>(pgbk::kBackupLeaseRenewal, term / 10));
		pgbk::ManifestHeader h;
		h.label = run->label;
		h.type = info.type;
		h.prior = run->prior;
		h.prior_start_lsn = run->prior_start;
		/*
		 * Page deltas trust page LSNs, which only data checksums make cover every change
		 * (hint bits included); without them changed relation files are stored whole.
		 */
		h.page_delta = run->prior[0] != '\0' && DataChecksumsEnabled();
		h.system_identifier = info.cluster.system_identifier;
		h.pg_version_num = PG_VERSION_NUM;
		h.timeline = run->starttli;
		h.start_lsn = run->startptr;
		h.segment_size = wal_segment_size;
		h.data_checksums = DataChecksumsEnabled();
		h.started_at = info.started_at;
		h.taken_on = info.host + ":" + info.pgdata;
		current_session = new pgbk::BackupSession(*current_repo, h);
	});
	pgbk::glue::RaiseIfFailed(r, "cannot start the backup");
}

/*
 * copy_files
 *
 * Copies the data directory on the core's threads; this thread feeds them and polls
 * for interrupts.
 */
static void
copy_files(BackupRun *run)
{
	PgbkJob *job = run->job;
	CppResult r = RunCpp([&] {
		/* Callbacks run on this thread, inside core code: they must not ereport. */
		current_callbacks = new pgbk::BackupCallbacks();
		current_callbacks->should_cancel = interrupt_requested;
		current_callbacks->progress = [job](const pgbk::BackupProgress &p) { progress_to_job(job, p); };
		current_callbacks->wal_acknowledged = [](const std::string &name) {
			// The worker's working directory is the data directory.
			if (auto reason = pgbk::ArchiveStopReason("."))
				throw pgbk::Error(pgbk::ErrorKind::Conflict, "archiving is stopped: " + *reason,
								  "A backup completes only on this server's own WAL. Resolve the conflict, then "
								  "run SELECT pgbk_archive_resume() as a superuser.");
			if (!pgbk::WalFileAcknowledged("pg_wal", name))
				return false;
			if (current_repo->HasWalFile(name))
				return true;
			// Acknowledged but not stored: in the spool (it drains), or dropped on overflow.
			pgbk::ArchiveGapLedger ledger(pgbk::glue::SpoolDirectory(), pgbk::glue::NodeName());
			if (auto gap = ledger.Holding(name, wal_segment_size))
				throw pgbk::Error(pgbk::ErrorKind::Corrupt,
								  "WAL segment " + name +
									  " this backup needs was dropped while the repository was away (gap " +
									  pgbk::DescribeGap(*gap) + "); the backup could never be restored",
								  "Once the repository takes WAL again, the worker's catch-up backup covers the gap; "
								  "see pgbk_archive_gaps.");
			return false;
		};
		pgbk::BackupOptions opts;
		opts.pgdata = pgbk::glue::AbsoluteDataDirectory();
		opts.codec = pgbk::glue::CurrentCodec();
		opts.parallel = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.parallel"));
		opts.verify_checksums = DataChecksumsEnabled();
		opts.file_delay = std::chrono::milliseconds(pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.test_file_delay")));
		opts.skip_directory = current_repo->local_directory();
		opts.tablespace_version_dir = TABLESPACE_VERSION_DIRECTORY;
		current_session->CopyDataDirectory(opts, *current_callbacks);
	});
	pgbk::glue::RaiseIfFailed(r, "could not copy the data directory");
}

/*
 * stop_and_complete
 *
 * Stops the backup in PostgreSQL, stores backup_label and tablespace_map, waits for the
 * WAL up to the stop point to be archived, and writes the completion marker.
 */
static void
stop_and_complete(BackupRun *run)
{
	CppResult r;

	run->stopptr = backup_stop_compat(run->labelfile, &run->stoptli);
	run->stop_time_us =
		std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
			.count();
	run->next_xid = U64FromFullTransactionId(ReadNextFullTransactionId());

	r = RunCpp([&] {
		current_session->AddFile("backup_label", run->labelfile->data, pgbk::glue::CurrentCodec());
		if (run->tblspcmap->len > 0)
			current_session->AddFile("tablespace_map", run->tblspcmap->data, pgbk::glue::CurrentCodec());
		pgbk::BackupStopInfo stop;
		stop.stop_lsn = run->stopptr;
		stop.timeline = run->stoptli;
		stop.stop_time_us = run->stop_time_us;
		stop.next_xid = run->next_xid;
		current_session->WaitForWal(
			run->starttli, run->startptr, run->stopptr, wal_segment_size,
			std::chrono::seconds(pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.archive_timeout"))),
			*current_callbacks, &stop.wal_stop);
		stop.finished_at = static_cast<int64_t>(time(nullptr));
		progress_to_job(run->job, current_session->Progress());
		current_session->Complete(stop);
		strlcpy(run->bad_pages, current_session->BadPagesSummary().c_str(), sizeof(run->bad_pages));
	});
	pgbk::glue::RaiseIfFailed(r, "could not complete the backup");
}

/*
 * report_bad_pages
 *
 * Pages that failed checksum verification are reported, not fatal: the backup holds
 * them as they are on disk.
 */
static void
report_bad_pages(BackupRun *run)
{
	uint64 bad_count = pg_atomic_read_u64(&run->job->bad_blocks);

	if (bad_count == 0)
		return;
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	snprintf(run->job->error, sizeof(run->job->error),
			 "backup complete, but %llu page(s) failed checksum verification: %s", (unsigned long long)bad_count,
			 run->bad_pages);
	LWLockRelease(pgbk_shared->lock);
	ereport(WARNING, (errcode(ERRCODE_DATA_CORRUPTED),
					  errmsg("pgbk: backup %s: %llu page(s) failed checksum verification", run->label,
							 (unsigned long long)bad_count),
					  errdetail("%s", run->bad_pages)));
}

/*
 * cover_archive_gaps
 *
 * A complete backup that started after a gap this server dropped covers it: restores
 * reach every point after the backup again. The ledger and the repository's copy say
 * so. A failure here is reported, never the backup's: it is complete either way, and
 * the next backup covers the gap too.
 */
static void
cover_archive_gaps(BackupRun *run)
{
	std::vector<std::string> *closed = NULL;
	CppResult r = RunCpp([&] {
		closed = new std::vector<std::string>();
		pgbk::ArchiveGapLedger ledger(pgbk::glue::SpoolDirectory(), pgbk::glue::NodeName());
		for (const auto &gap : ledger.Cover(run->label, run->starttli, run->startptr, wal_segment_size,
											static_cast<int64_t>(time(nullptr))))
			closed->push_back(pgbk::DescribeGap(gap));
		if (!closed->empty())
			ledger.Publish(*current_repo);
	});
	for (size_t i = 0; closed != NULL && i < closed->size(); i++)
		ereport(LOG, (errmsg("pgbk: backup %s covers the archive gap %s", run->label, (*closed)[i].c_str())));
	RunCpp([&] { delete closed; });
	pgbk::glue::ReportFailure(r, WARNING, "could not record which archive gaps the backup covers");
}

/*
 * run_backup
 *
 * Takes one backup of the job's type. Raises ERROR on failure (the caller records it).
 */
static void
run_backup(PgbkJob *job)
{
	BackupRun run;

	memset(&run, 0, sizeof(run));
	run.job = job;
	strlcpy(run.label, job->label, sizeof(run.label));
	{
		std::optional<pgbk::BackupType> type = pgbk::ParseBackupType(job->kind);
		if (!type)
			ereport(ERROR,
					(errmsg("pgbk: job %s is of kind \"%s\", which is not a backup type", job->label, job->kind)));
		run.type = *type;
	}

	check_backup_possible();
	/* Leftovers of a failover or a crash are found by any node, not only at our start. */
	cleanup_interrupted_backups();
	choose_prior(&run);
	pgstat_report_activity(STATE_RUNNING,
						   psprintf("pgbk: %s backup %s", pgbk::RulesOf(run.type).name.data(), run.label));
	start_backup(&run);
	copy_files(&run);
	stop_and_complete(&run);
	cover_archive_gaps(&run);
	report_bad_pages(&run);
	free_current_backup();
	ereport(LOG, (errmsg("pgbk: %s backup %s complete (start %X/%X, stop %X/%X)%s%s",
						 pgbk::RulesOf(run.type).name.data(), run.label, LSN_FORMAT_ARGS(run.startptr),
						 LSN_FORMAT_ARGS(run.stopptr), run.prior[0] ? ", prior " : "", run.prior)));
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

/* A backup job: the backup, then retention (before the job reports success, so that a
 * caller waiting on it sees the expiry done). */
static void
run_backup_job(PgbkJob *job)
{
	run_backup(job);
	run_expiry_after_backup(job);
}

/*
 * The kinds of job the worker runs: the name pgbk_jobs shows and what runs a claimed job
 * of that kind (raising ERROR on failure). Backups are one kind per backup type. A new
 * kind (a dump, a drill) is a row here and the file that runs it.
 */
typedef struct JobKind {
	bool (*matches)(const char *kind);
	void (*run)(PgbkJob *job);
} JobKind;

static bool
is_backup_kind(const char *kind)
{
	bool known = false;

	(void)RunCpp([&] { known = pgbk::ParseBackupType(kind).has_value(); });
	return known;
}

static const JobKind job_kinds[] = {
	{is_backup_kind, run_backup_job},
};

/* The kind of a job; an unknown one is an error, never a default. */
static const JobKind *
job_kind_of(PgbkJob *job)
{
	for (const JobKind &k : job_kinds)
		if (k.matches(job->kind))
			return &k;
	ereport(ERROR, (errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					errmsg("pgbk: job %s is of unknown kind \"%s\"", job->label, job->kind)));
	return NULL; /* not reached */
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
		char label[PGBK_LABEL_LEN];
		char message[PGBK_ERROR_LEN];

		MemoryContextSwitchTo(job_context);
		edata = CopyErrorData();
		FlushErrorState();
		if (get_backup_status() == SESSION_BACKUP_RUNNING)
			do_pg_abort_backup(0, BoolGetDatum(false));
		strlcpy(label, job->label, sizeof(label));
		strlcpy(message, edata->message, sizeof(message));
		bool record_written = current_record_written;
		free_current_backup();
		if (record_written) {
			CppResult r = RunCpp([&] {
				auto repo = pgbk::glue::OpenConfiguredRepository();
				if (repo->ReadBackup(label)) {
					repo->MarkBackupFailed(label, message, static_cast<int64_t>(time(nullptr)));
					repo->RemoveBackupData(label);
				}
			});
			char what[PGBK_LABEL_LEN + 64];

			snprintf(what, sizeof(what), "could not record the failure of backup %s", label);
			pgbk::glue::ReportFailure(r, WARNING, what);
		}
		pgbk_jobs_fail(job, message);
		ereport(WARNING, (errmsg("pgbk: backup %s failed: %s", label, message)));
		FreeErrorData(edata);
	}
	PG_END_TRY();
	pgstat_report_activity(STATE_IDLE, NULL);
	MemoryContextSwitchTo(oldcontext);
	MemoryContextDelete(job_context);
}

/*
 * next_scheduled_run
 *
 * Next run of the schedule of kBackupTypes[i] after `after`, or 0 when there is none.
 */
static time_t
next_scheduled_run(int i, time_t after)
{
	time_t next = 0;
	pgbk::BackupType type = pgbk::kBackupTypes[i].type;
	const char *expr = pgbk::glue::ScheduleOf(type);
	const char *tz = pgbk::glue::StringSetting(pgbk::settings::Id("pgbk.schedule_timezone"));
	CppResult r;

	if (expr[0] == '\0')
		return 0;
	r = RunCpp([&] {
		auto n = pgbk::CronSchedule::Parse(expr).NextAfter(after, tz);
		next = n ? *n : 0;
	});
	pgbk::glue::ReportFailure(r, WARNING, pgbk::glue::ScheduleSettingName(type));
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
	const char *kind = pgbk::kBackupTypes[i].name.data();
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
 * dispatch_scheduled_run
 *
 * Schedule i fired at `slot`: this node claims the run now, after the grace period
 * (*claim_at), or leaves it to the other nodes (pgbk.backup_standby).
 */
static void
dispatch_scheduled_run(int i, time_t slot, time_t *claim_at)
{
	const char *kind = pgbk::kBackupTypes[i].name.data();
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

/*
 * claim_after_grace
 *
 * The primary's turn on a run no standby claimed in the grace period.
 */
static void
claim_after_grace(int i, time_t slot)
{
	const char *kind = pgbk::kBackupTypes[i].name.data();
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
constexpr int kSchedules = (int)std::size(pgbk::kBackupTypes);
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
		const char *value = pgbk::glue::ScheduleOf(pgbk::kBackupTypes[i].type);
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

/* Phase: checks that run every few seconds (the archive's gaps). */
static void
run_periodic_checks(WorkerState *ws)
{
	if (time(NULL) < ws->next_gap_check)
		return;
	ws->next_gap_check = time(NULL) + kGapCheckSeconds;
	heal_archive_gaps();
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
	/* A FATAL (shutdown) during a backup must end the backup in PostgreSQL too. */
	register_persistent_abort_backup_handler();

	ereport(LOG, (errmsg("pgbk: backup worker started")));
	cleanup_interrupted_backups();
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
