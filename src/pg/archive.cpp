/*
 * archive.cpp
 *
 * Archive module (archive_library = 'pgbk'): stores each WAL segment and history file
 * in the repository, compressed and checksummed, and reports success only once the
 * object is durable. Failures are WARNINGs and return false so the archiver retries;
 * nothing here may take the archiver down.
 */
#include "pgbk/timeline_fence.hpp"
#include "pgbk/wal_archiver.hpp"

#include "boundary.hpp"
#include "glue.hpp"

#include <csetjmp>

namespace {

/* Leaked on purpose: no C++ destructor runs at archiver exit (shutdown_cb joins). */
pgbk::Repository *archive_repo = nullptr;
pgbk::WalArchiver *archiver = nullptr;
/* The repository's history files as the archiver last read them (with archive_repo). */
pgbk::TimelineFence *archive_fence = nullptr;
/* What the archiver was created with: a reload that changes them recreates it (the
 * repository is reopened when its settings or keys change: RepositoryConfigSignature). */
pgbk::CodecOptions archiver_codec;
int archiver_threads = 0;
std::string *archive_repo_signature = nullptr;
bool archive_repo_checked = false;

constexpr const char *kResumeHint =
	"Find which server wrote the repository's copy (another server with this system identifier: a copy of this data "
	"directory, or a former primary) and stop it; then run SELECT pgbk_archive_resume() as a superuser. WAL stays in "
	"pg_wal meanwhile.";

std::string
CurrentTimeText()
{
	char buf[32];
	time_t now = time(nullptr);
	struct tm tm;
	gmtime_r(&now, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

/*
 * Archives one file. Returns a result; never throws.
 */
pgbk::glue::CppResult
ArchiveOne(const char *file, const char *path, pgbk::ClusterIdentity id, pgbk::glue::ServerPosition position,
		   bool *already)
{
	return pgbk::glue::RunCpp([&] {
		// The archiver's working directory is the data directory.
		if (auto reason = pgbk::ArchiveStopReason("."))
			throw pgbk::Error(pgbk::ErrorKind::Conflict, "archiving is stopped: " + *reason, kResumeHint);
		// Any change to what opening the repository reads (a reload with a new secret,
		// endpoint or key file) reopens it for this segment.
		std::string signature = pgbk::glue::RepositoryConfigSignature();
		if (archive_repo == nullptr || archive_repo_signature == nullptr || *archive_repo_signature != signature) {
			delete archiver; // waits for its background work on the old repository
			archiver = nullptr;
			delete archive_fence;
			archive_fence = nullptr;
			delete archive_repo;
			archive_repo = nullptr;
			archive_repo_checked = false;
			archive_repo = pgbk::glue::OpenConfiguredRepository().release();
			if (archive_repo_signature == nullptr)
				archive_repo_signature = new std::string();
			*archive_repo_signature = signature;
		}
		if (!archive_repo_checked) {
			archive_repo->CheckOrInit(id);
			archive_repo_checked = true;
		}
		pgbk::CodecOptions codec = pgbk::glue::CurrentCodec();
		int threads = pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.parallel"));
		if (archiver != nullptr && (archiver_codec.codec != codec.codec || archiver_codec.level != codec.level ||
									archiver_threads != threads)) {
			delete archiver;
			archiver = nullptr;
		}
		if (archiver == nullptr) {
			archiver = new pgbk::WalArchiver(*archive_repo, codec, threads);
			archiver_codec = codec;
			archiver_threads = threads;
		}
		// Nothing past a fork that superseded this server (a former primary after a
		// failover): the repository's history files decide, re-read when a new one appears.
		if (archive_fence == nullptr)
			archive_fence = new pgbk::TimelineFence(*archive_repo, wal_segment_size);
		pgbk::TimelineLineage own = archive_fence->ServerLineage("pg_wal", position.timeline);
		archive_fence->CheckFile(own, file);
		// Segments waiting after this one are stored in the background meanwhile.
		auto ahead = archiver->ReadyAfter("pg_wal", file, static_cast<size_t>(threads) * 2);
		std::erase_if(ahead, [&](const auto &next) { return archive_fence->Refuses(own, next.first); });
		pgbk::Repository::ArchiveOutcome outcome;
		try {
			outcome = archiver->Archive(file, path, ahead);
		} catch (const pgbk::WalContentConflict &conflict) {
			// Not one more segment from this server until a superuser has looked: its
			// history disagrees with the repository's.
			pgbk::StopArchiving(".", std::string(conflict.what()) + " (stopped at " + CurrentTimeText() + ")");
			delete archiver; // and nothing more in the background
			archiver = nullptr;
			throw pgbk::Error(pgbk::ErrorKind::Conflict, std::string(conflict.what()) + "; archiving is stopped",
							  kResumeHint);
		}
		*already = outcome == pgbk::Repository::ArchiveOutcome::AlreadyPresent;
	});
}

void
RunCppShutdown()
{
	pgbk::glue::RunCpp([] {
		delete archiver;
		archiver = nullptr;
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
	bool already = false;
	pgbk::ClusterIdentity id = pgbk::glue::CurrentClusterIdentity();
	pgbk::glue::CppResult r = ArchiveOne(file, path, id, pgbk::glue::CurrentServerPosition(), &already);

	if (!r.ok) {
		char what[MAXFNAMELEN + 32];

		/* A different-content conflict or a foreign repository must be re-checked. */
		if (r.kind == pgbk::ErrorKind::Conflict)
			archive_repo_checked = false;
		snprintf(what, sizeof(what), "could not archive \"%s\"", file);
		pgbk::glue::ReportFailure(r, WARNING, what,
								  "The archiver retries; WAL stays in pg_wal until the repository accepts it.");
		RecordArchiveResult(file, false, r.message);
		return false;
	}
	if (already)
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
