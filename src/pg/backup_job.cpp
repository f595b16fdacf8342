/*
 * backup_job.cpp
 *
 * The backup job (backup_job.hpp): a backup of the job's type, bracketed by the
 * non-exclusive backup API, then retention. The file copy, the WAL wait and the manifest
 * are core code run through RunCpp on the worker's (main) thread, with the core's own
 * threads doing the I/O. Only this thread ever calls PostgreSQL.
 */
#include "pgbk/archive_gaps.hpp"
#include "pgbk/archive_spool.hpp"
#include "pgbk/backup.hpp"
#include "pgbk/backup_lease.hpp"
#include "pgbk/timeline_fence.hpp"
#include "pgbk/wal_archiver.hpp"

#include "backup_job.hpp"
#include "boundary.hpp"
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
	char label[PGBK_LABEL_LEN];
	bool record_written = current_record_written;

	if (get_backup_status() == SESSION_BACKUP_RUNNING)
		do_pg_abort_backup(0, BoolGetDatum(false));
	strlcpy(label, job->label, sizeof(label));
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
}

void
pgbk_backup_jobs_start(void)
{
	/* A FATAL (shutdown) during a backup must end the backup in PostgreSQL too. */
	register_persistent_abort_backup_handler();
	cleanup_interrupted_backups();
}
