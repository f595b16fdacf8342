/*
 * archive.cpp
 *
 * Archive module (archive_library = 'pgbk'): stores each WAL segment and history file
 * in the repository, compressed and checksummed, and reports success only once the
 * object is durable. Failures are WARNINGs and return false so the archiver retries;
 * nothing here may take the archiver down.
 */
#include "pgbk/archive_service.hpp"

#include "boundary.hpp"
#include "glue.hpp"

#include <csetjmp>
#include <cstring>

namespace {

/* Leaked on purpose: no C++ destructor runs at archiver exit (shutdown_cb stops it). */
pgbk::ArchiveService *archive_service = nullptr;

/* An outcome copied out of C++ (plain data: the frames that ereport own no C++ object). */
struct ArchiveReport {
	pgbk::ArchiveDisposition disposition;
	pgbk::RefusalCause cause;
	pgbk::glue::CppResult refusal; /* the refusal as the boundary reports failures */
	char outage[PGBK_ERROR_LEN];
	bool first_spooled;
	uint64 spool_files, spool_bytes;
	char gap_first[MAXFNAMELEN], gap_last[MAXFNAMELEN];
	uint64 gap_segments;
};

pgbk::ArchiveService &
Service()
{
	if (archive_service == nullptr) {
		pgbk::ArchiveEnvironment env;
		env.data_directory = pgbk::glue::AbsoluteDataDirectory();
		env.segment_size = wal_segment_size;
		env.node = pgbk::glue::CurrentNode();
		env.cluster = pgbk::glue::CurrentClusterIdentity();
		env.should_stop = pgbk::glue::StopRequested;
		archive_service = new pgbk::ArchiveService(std::move(env));
	}
	return *archive_service;
}

/* Archives one file through the service; the outcome lands in *report. */
pgbk::glue::CppResult
ArchiveOne(const char *file, const char *path, uint32_t timeline, ArchiveReport *report)
{
	return pgbk::glue::RunCpp([&] {
		pgbk::ArchiveOutcome out = Service().Archive(file, path, pgbk::glue::CurrentSettings(), timeline);
		report->disposition = out.disposition;
		report->cause = out.cause;
		report->refusal.ok = out.Acknowledged();
		report->refusal.kind = out.kind;
		strlcpy(report->refusal.message, out.message.c_str(), sizeof(report->refusal.message));
		strlcpy(report->refusal.hint, out.hint.c_str(), sizeof(report->refusal.hint));
		strlcpy(report->outage, out.outage.c_str(), sizeof(report->outage));
		report->first_spooled = out.first_spooled;
		report->spool_files = out.spool.files;
		report->spool_bytes = out.spool.bytes;
		strlcpy(report->gap_first, out.gap.first_wal.c_str(), sizeof(report->gap_first));
		strlcpy(report->gap_last, out.gap.last_wal.c_str(), sizeof(report->gap_last));
		report->gap_segments = out.gap.segments;
	});
}

void
RunCppShutdown()
{
	pgbk::glue::RunCpp([] {
		pgbk::glue::StopBackgroundWork();
		if (archive_service != nullptr)
			archive_service->Shutdown();
	});
}

void
RecordArchiveResult(const char *file, bool ok, const char *message)
{
	if (pgbk_shared == NULL)
		return;
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	if (ok) {
		strlcpy(pgbk_shared->last_archived_wal, file, sizeof(pgbk_shared->last_archived_wal));
		if (IsXLogFileName(file) && strcmp(file, pgbk_shared->last_archived_segment) > 0)
			strlcpy(pgbk_shared->last_archived_segment, file, sizeof(pgbk_shared->last_archived_segment));
		pgbk_shared->last_archived_at = GetCurrentTimestamp();
	} else {
		strlcpy(pgbk_shared->last_failed_wal, file, sizeof(pgbk_shared->last_failed_wal));
		pgbk_shared->last_failed_at = GetCurrentTimestamp();
		strlcpy(pgbk_shared->last_failure, message, sizeof(pgbk_shared->last_failure));
	}
	LWLockRelease(pgbk_shared->lock);
}

} // namespace

/*
 * pgbk_archive_shutdown
 *
 * Waits for the look-ahead threads before the archiver exits.
 */
static void
pgbk_archive_shutdown(void)
{
	RunCppShutdown();
}

static bool
pgbk_archive_configured(void)
{
	return true;
}

/*
 * pgbk_archive_file_internal
 *
 * The body of the archive callback; may ereport (the caller catches it).
 */
static bool
pgbk_archive_file_internal(const char *file, const char *path)
{
	ArchiveReport report = {};
	pgbk::glue::CppResult r = ArchiveOne(file, path, pgbk::glue::CurrentServerPosition().timeline, &report);
	static bool spool_full_warned = false;
	static bool dropping = false;

	pgbk::glue::LogCoreNotices();
	if (!r.ok)
		report.refusal = r; /* the service itself never throws: this is the boundary's own failure */
	if (!r.ok || report.disposition == pgbk::ArchiveDisposition::Refused) {
		char what[MAXFNAMELEN + 32];
		bool spool_full = report.cause == pgbk::RefusalCause::SpoolFull;

		snprintf(what, sizeof(what), "could not archive \"%s\"", file);
		/* A full spool is reported once, not once per segment. */
		if (!spool_full || !spool_full_warned)
			pgbk::glue::ReportFailure(report.refusal, WARNING, what,
									  "The archiver retries; WAL stays in pg_wal until the repository accepts it.");
		spool_full_warned = spool_full_warned || spool_full;
		RecordArchiveResult(file, false, report.refusal.message);
		return false;
	}
	spool_full_warned = false;
	if (report.disposition == pgbk::ArchiveDisposition::Dropped) {
		char message[PGBK_ERROR_LEN];

		/* One WARNING as overflow begins, not one per segment. */
		if (!dropping)
			ereport(WARNING,
					(errmsg("pgbk: the repository is unreachable and the spool cannot take more; WAL is dropped from "
							"\"%s\" on (pgbk.archive_overflow = drop)",
							file),
					 errdetail("%s", report.outage),
					 errhint("Point-in-time recovery into the gap is lost; once the repository answers, the worker "
							 "takes a catch-up backup that covers it. See pgbk_archive_gaps.")));
		dropping = true;
		snprintf(message, sizeof(message), "dropped (gap %s .. %s, %llu segments): %s", report.gap_first,
				 report.gap_last, (unsigned long long)report.gap_segments, report.outage);
		RecordArchiveResult(file, false, message);
		return true;
	}
	dropping = false;
	if (report.disposition == pgbk::ArchiveDisposition::Spooled) {
		char message[PGBK_ERROR_LEN];

		if (report.first_spooled)
			ereport(WARNING,
					(errmsg("pgbk: the repository is unreachable; WAL is spooled from \"%s\" on", file),
					 errdetail("%s", report.outage),
					 errhint("Each file is stored durably in the spool (pgbk.spool_directory, up to pgbk.spool_limit) "
							 "and drains into the repository once it answers; see pgbk_archive_status.")));
		/* Acknowledged (durable in the spool), and the outage shown in pgbk_archive_status. */
		snprintf(message, sizeof(message), "spooled (%llu files, %llu MB in the spool): %s",
				 (unsigned long long)report.spool_files, (unsigned long long)(report.spool_bytes >> 20), report.outage);
		RecordArchiveResult(file, false, message);
		return true;
	}
	if (report.disposition == pgbk::ArchiveDisposition::AlreadyPresent)
		ereport(DEBUG1, (errmsg("pgbk: \"%s\" was already archived with identical content", file)));
	RecordArchiveResult(file, true, NULL);
	return true;
}

/*
 * pgbk_archive_file
 *
 * PG15's archiver has no error handler around this callback: an ERROR would become
 * FATAL. Catch it here (as contrib/basic_archive does), log it, and return false.
 */
static bool
pgbk_archive_file(const char *file, const char *path)
{
	sigjmp_buf local_sigjmp_buf;
	MemoryContext oldcontext = CurrentMemoryContext;
	volatile bool result = false;

	if (sigsetjmp(local_sigjmp_buf, 1) != 0) {
		error_context_stack = NULL;
		HOLD_INTERRUPTS();
		EmitErrorReport();
		FlushErrorState();
		MemoryContextSwitchTo(oldcontext);
		PG_exception_stack = NULL;
		RESUME_INTERRUPTS();
		return false;
	}
	PG_exception_stack = &local_sigjmp_buf;
	result = pgbk_archive_file_internal(file, path);
	PG_exception_stack = NULL;
	return result;
}

#if PG_VERSION_NUM >= 160000
/* PostgreSQL 16+: callbacks take a state pointer and are returned as a const struct. */
static bool
pgbk_archive_configured_16(ArchiveModuleState *state)
{
	return pgbk_archive_configured();
}

static bool
pgbk_archive_file_16(ArchiveModuleState *state, const char *file, const char *path)
{
	return pgbk_archive_file(file, path);
}

static void
pgbk_archive_shutdown_16(ArchiveModuleState *state)
{
	pgbk_archive_shutdown();
}

static const ArchiveModuleCallbacks pgbk_archive_callbacks = {
	.startup_cb = NULL,
	.check_configured_cb = pgbk_archive_configured_16,
	.archive_file_cb = pgbk_archive_file_16,
	.shutdown_cb = pgbk_archive_shutdown_16,
};

const ArchiveModuleCallbacks *
_PG_archive_module_init(void)
{
	return &pgbk_archive_callbacks;
}
#else
void
_PG_archive_module_init(ArchiveModuleCallbacks *cb)
{
	AssertVariableIsOfType(&_PG_archive_module_init, ArchiveModuleInit);
	cb->check_configured_cb = pgbk_archive_configured;
	cb->archive_file_cb = pgbk_archive_file;
	cb->shutdown_cb = pgbk_archive_shutdown;
}
#endif
