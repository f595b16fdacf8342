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
#include "pgbk/archive_gaps.hpp"
#include "pgbk/archive_spool.hpp"

#include "boundary.hpp"
#include "glue.hpp"

#include <chrono>
#include <csetjmp>
#include <cstring>
#include <sys/stat.h>

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
/* The spool for repository outages (null: none yet, or pgbk.spool_limit = 0), what it was
 * opened with, and its drain thread (over archive_repo). */
pgbk::ArchiveSpool *archive_spool = nullptr;
std::string *archive_spool_signature = nullptr;
pgbk::ArchiveSpoolDrainer *spool_drainer = nullptr;
bool spool_looked_at = false; // whether this archiver checked for files left in the spool
/* After an outage, WAL goes straight to the spool for a while: each attempt on an
 * unreachable store costs the whole retry timeout. */
std::chrono::steady_clock::time_point repository_down_until{};
constexpr std::chrono::seconds kRepositoryDownFor{30};
/* Why the last direct attempt failed: the reason shown for files spooled after it until
 * the drain has tried the repository itself. */
std::string *repository_down_reason = nullptr;
/* Where dropped segments are recorded (pgbk.archive_overflow = drop), beside the spool. */
pgbk::ArchiveGapLedger *gap_ledger = nullptr;
/* The last segment stored or spooled and when it was last written: the WAL of a gap
 * that opens right after it was written after that (a time target is checked against it). */
std::string *last_kept_segment = nullptr;
time_t last_kept_written = 0;

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

/* Whether an error means the repository is away (it refused or did not answer), not
 * that this file or this server is wrong: only then does the spool take the file. */
bool
IsOutage(const pgbk::Error &e)
{
	return e.kind() == pgbk::ErrorKind::Io || e.kind() == pgbk::ErrorKind::Timeout;
}

/* Opens (or reopens, after a change of pgbk.spool_directory or pgbk.spool_limit) the
 * spool; null when spooling is off and the spool is empty. Turned off while it holds
 * acknowledged WAL, it stays open with a limit of 0: it takes nothing more, and what it
 * holds still drains (those files are in no pg_wal any more). */
pgbk::ArchiveSpool *
ConfiguredSpool()
{
	uint64_t limit = static_cast<uint64_t>(pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.spool_limit"))) << 20;
	std::string dir = pgbk::glue::SpoolDirectory();
	std::string signature = dir + "\n" + std::to_string(limit) + "\n" + pgbk::glue::RepositoryConfigSignature();
	if (archive_spool != nullptr && *archive_spool_signature == signature)
		return archive_spool;
	delete spool_drainer;
	spool_drainer = nullptr;
	delete archive_spool;
	archive_spool = nullptr;
	if (limit == 0 && pgbk::ArchiveSpool::UsageOf(dir).files == 0)
		return nullptr;
	if (archive_spool_signature == nullptr)
		archive_spool_signature = new std::string();
	*archive_spool_signature = signature;
	archive_spool = new pgbk::ArchiveSpool(dir, limit, pgbk::KeyringOf(pgbk::glue::CurrentSettings()));
	return archive_spool;
}

/* Starts draining the spool into the repository once both are open. */
void
EnsureSpoolDrainer()
{
	if (spool_drainer != nullptr || archive_spool == nullptr || archive_repo == nullptr)
		return;
	spool_drainer = new pgbk::ArchiveSpoolDrainer(
		*archive_spool, *archive_repo, pgbk::glue::CurrentClusterIdentity(), pgbk::glue::CurrentCodec(),
		pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.parallel")), pgbk::glue::AbsoluteDataDirectory(),
		wal_segment_size, pgbk::glue::StopRequested);
}

/* What happened to a file the repository could not take. */
struct SpoolOutcome {
	bool spooled = false;
	bool first = false; // the first file spooled since the spool was last empty
	pgbk::ArchiveSpool::Usage usage;
	bool dropped = false; // acknowledged unstored (pgbk.archive_overflow = drop)
	pgbk::ArchiveGap gap; // the gap it is part of
};

/* Refuses a file the history files as last read fence (the repository cannot be asked
 * now; the drain checks again): a superseded server's WAL is never acknowledged. */
void
RefuseIfFencedAsLastRead(const char *file, pgbk::glue::ServerPosition position)
{
	if (archive_fence == nullptr)
		return;
	try {
		pgbk::TimelineLineage own = pgbk::LocalLineage("pg_wal", position.timeline);
		// CheckFile would ask the repository, whose failure must not let a fenced file in.
		if (archive_fence->Refuses(own, file))
			throw pgbk::WalFenced(pgbk::ErrorKind::Conflict,
								  std::string("WAL file ") + file +
									  " is not stored: it holds WAL past a fork another timeline in the "
									  "repository made (this server is superseded)",
								  "This server's WAL stays in pg_wal, unacknowledged.");
	} catch (const pgbk::WalFenced &) {
		throw;
	} catch (const pgbk::Error &) {
		// Unknown here: the drain decides.
	}
}

bool
DropOnOverflow()
{
	return pgbk::glue::IntSetting(pgbk::settings::Id("pgbk.archive_overflow")) == 1;
}

/* The ledger of dropped ranges, beside the (configured or default) spool directory. */
pgbk::ArchiveGapLedger &
GapLedger()
{
	std::string dir = pgbk::glue::SpoolDirectory();
	if (gap_ledger == nullptr || gap_ledger->directory() != dir + "/gaps") {
		delete gap_ledger;
		gap_ledger = new pgbk::ArchiveGapLedger(dir, pgbk::glue::NodeName());
	}
	return *gap_ledger;
}

/*
 * Keeps `file` while the repository is away (`why`): in the spool, or, when it fits
 * neither and pgbk.archive_overflow = drop, nowhere (a segment only: the range is
 * recorded as a gap). `spool` is null when spooling is off. Throws when the file must
 * wait in pg_wal.
 */
SpoolOutcome
KeepDuringOutage(pgbk::ArchiveSpool *spool, const char *file, const char *path, const std::string &why,
				 pgbk::glue::ServerPosition position)
{
	SpoolOutcome out;
	RefuseIfFencedAsLastRead(file, position);
	if (spool != nullptr) {
		// A spool that takes nothing more (limit 0) still drains what it holds.
		EnsureSpoolDrainer();
		out.first = spool->CurrentUsage().files == 0;
		if (spool->Store(file, path, pgbk::glue::CurrentCodec())) {
			out.spooled = true;
			out.usage = spool->CurrentUsage();
			if (spool_drainer != nullptr)
				spool_drainer->Wake();
			return out;
		}
	}
	std::string where;
	pgbk::ArchiveSpool::Usage held = spool != nullptr ? spool->CurrentUsage() : pgbk::ArchiveSpool::Usage{};
	if (spool == nullptr || spool->limit() == 0) {
		where = "; the spool is off (pgbk.spool_limit = 0)";
		if (held.files > 0)
			where += "; the " + std::to_string(held.files) + " files it still holds drain once the repository answers";
	} else
		where = "; the spool " + spool->directory() + " is full (" + std::to_string(held.files) + " files, " +
				std::to_string(held.bytes >> 20) + " MB)";
	if (!DropOnOverflow() || pgbk::ClassifyWalFileName(file) != pgbk::WalFileKind::Segment)
		throw pgbk::Error(pgbk::ErrorKind::Io, why + where,
						  "WAL stays in pg_wal until the repository answers (the spool drains into it then); raise "
						  "pgbk.spool_limit, or set pgbk.archive_overflow = drop to keep the server up at the cost "
						  "of a gap in point-in-time recovery.");
	int64_t wal_after = 0;
	if (last_kept_segment != nullptr) {
		auto seg = pgbk::ParseWalSegmentName(file, wal_segment_size);
		if (seg && seg->segno > 0 &&
			*last_kept_segment == pgbk::WalSegmentName({seg->timeline, seg->segno - 1}, wal_segment_size))
			wal_after = static_cast<int64_t>(last_kept_written) - 1; // WAL writes trail inserts a little
	}
	out.gap = GapLedger().RecordDropped(file, wal_segment_size, static_cast<int64_t>(time(nullptr)), wal_after);
	out.dropped = true;
	return out;
}

/* A segment stored or spooled: remembered with its last write, for the next gap. */
void
RememberKept(const char *file, const char *path)
{
	struct stat st;

	if (pgbk::ClassifyWalFileName(file) != pgbk::WalFileKind::Segment || stat(path, &st) != 0)
		return;
	if (last_kept_segment == nullptr)
		last_kept_segment = new std::string();
	*last_kept_segment = file;
	last_kept_written = st.st_mtime;
}

/*
 * Stores one file in the repository (throws pgbk::Error).
 */
void
StoreInRepository(const char *file, const char *path, pgbk::ClusterIdentity id, pgbk::glue::ServerPosition position,
				  bool *already)
{
	{
		// Any change to what opening the repository reads (a reload with a new secret,
		// endpoint or key file) reopens it for this segment.
		std::string signature = pgbk::glue::RepositoryConfigSignature();
		if (archive_repo == nullptr || archive_repo_signature == nullptr || *archive_repo_signature != signature) {
			delete spool_drainer; // drains into the old repository: stopped first
			spool_drainer = nullptr;
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
		} else if (!archive_repo->storage().Exists())
			// Checked before and gone now (an unmounted volume): an outage, never a new
			// repository created in its place.
			throw pgbk::Error(pgbk::ErrorKind::Io, "the repository " + archive_repo->Describe() + " is missing",
							  "Mount or restore it; WAL is spooled meanwhile.");
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
	}
}

/*
 * Archives one file: into the repository, or into the spool while the repository is
 * away. Returns a result; never throws.
 */
pgbk::glue::CppResult
ArchiveOne(const char *file, const char *path, pgbk::ClusterIdentity id, pgbk::glue::ServerPosition position,
		   bool *already, SpoolOutcome *spooled, char *outage, size_t outage_len)
{
	return pgbk::glue::RunCpp([&] {
		// The archiver's working directory is the data directory.
		if (auto reason = pgbk::ArchiveStopReason("."))
			throw pgbk::Error(pgbk::ErrorKind::Conflict, "archiving is stopped: " + *reason, kResumeHint);
		auto keep_during_outage = [&](const std::string &why) {
			strlcpy(outage, why.c_str(), outage_len);
			*spooled = KeepDuringOutage(ConfiguredSpool(), file, path, why, position);
			if (spooled->spooled)
				RememberKept(file, path);
		};
		// A direct attempt on a paused store costs the whole request timeout, and a
		// shutdown waits for it: none while the drain finds the repository away, and one
		// every kRepositoryDownFor at most without a spool.
		bool tried_lately = std::chrono::steady_clock::now() < repository_down_until;
		bool draining_fails = spool_drainer != nullptr && spool_drainer->RepositoryDown();
		if (tried_lately || draining_fails) {
			// The spool is looked at only during an outage: nothing of it on the usual path.
			std::string why = spool_drainer != nullptr ? spool_drainer->LastError() : std::string();
			if (why.empty() && repository_down_reason != nullptr)
				why = *repository_down_reason;
			keep_during_outage(why.empty() ? std::string("the repository did not answer") : why);
			return;
		}
		try {
			StoreInRepository(file, path, id, position, already);
		} catch (const pgbk::Error &e) {
			if (!IsOutage(e))
				throw;
			repository_down_until = std::chrono::steady_clock::now() + kRepositoryDownFor;
			if (repository_down_reason == nullptr)
				repository_down_reason = new std::string();
			*repository_down_reason = e.what();
			keep_during_outage(e.what());
			return;
		}
		RememberKept(file, path);
		// Stored directly: whatever the spool holds can follow. An archiver started after
		// the outage (a restart) looks once whether an earlier one left files there, and a
		// repository reopened with new settings (its drainer stopped) gets a new drainer.
		bool spool_holds_files =
			archive_spool != nullptr
				? archive_spool->CurrentUsage().files > 0
				: !spool_looked_at && pgbk::ArchiveSpool::UsageOf(pgbk::glue::SpoolDirectory()).files > 0;
		spool_looked_at = true;
		if (spool_holds_files && ConfiguredSpool() != nullptr) {
			EnsureSpoolDrainer();
			if (spool_drainer != nullptr)
				spool_drainer->Wake();
		}
	});
}

void
RunCppShutdown()
{
	pgbk::glue::RunCpp([] {
		pgbk::glue::StopBackgroundWork();
		delete spool_drainer;
		spool_drainer = nullptr;
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
	SpoolOutcome spooled;
	char outage[PGBK_ERROR_LEN] = "";
	pgbk::ClusterIdentity id = pgbk::glue::CurrentClusterIdentity();
	pgbk::glue::CppResult r =
		ArchiveOne(file, path, id, pgbk::glue::CurrentServerPosition(), &already, &spooled, outage, sizeof(outage));
	static bool spool_full_warned = false;
	static bool dropping = false;

	pgbk::glue::LogCoreNotices();
	if (!r.ok) {
		char what[MAXFNAMELEN + 32];

		/* A different-content conflict or a foreign repository must be re-checked. */
		if (r.kind == pgbk::ErrorKind::Conflict)
			archive_repo_checked = false;
		snprintf(what, sizeof(what), "could not archive \"%s\"", file);
		/* A full spool is reported once, not once per segment. */
		bool spool_full = strstr(r.message, "the spool ") != NULL && strstr(r.message, " is full (") != NULL;
		if (!spool_full || !spool_full_warned)
			pgbk::glue::ReportFailure(r, WARNING, what,
									  "The archiver retries; WAL stays in pg_wal until the repository accepts it.");
		spool_full_warned = spool_full_warned || spool_full;
		RecordArchiveResult(file, false, r.message);
		return false;
	}
	spool_full_warned = false;
	if (spooled.dropped) {
		char message[PGBK_ERROR_LEN];

		/* One WARNING as overflow begins, not one per segment. */
		if (!dropping)
			ereport(WARNING,
					(errmsg("pgbk: the repository is unreachable and the spool cannot take more; WAL is dropped from "
							"\"%s\" on (pgbk.archive_overflow = drop)",
							file),
					 errdetail("%s", outage),
					 errhint("Point-in-time recovery into the gap is lost; once the repository answers, the worker "
							 "takes a catch-up backup that covers it. See pgbk_archive_gaps.")));
		dropping = true;
		snprintf(message, sizeof(message), "dropped (gap %s .. %s, %llu segments): %s", spooled.gap.first_wal.c_str(),
				 spooled.gap.last_wal.c_str(), (unsigned long long)spooled.gap.segments, outage);
		RecordArchiveResult(file, false, message);
		return true;
	}
	dropping = false;
	if (spooled.spooled) {
		char message[PGBK_ERROR_LEN];

		if (spooled.first)
			ereport(WARNING,
					(errmsg("pgbk: the repository is unreachable; WAL is spooled from \"%s\" on", file),
					 errdetail("%s", outage),
					 errhint("Each file is stored durably in the spool (pgbk.spool_directory, up to pgbk.spool_limit) "
							 "and drains into the repository once it answers; see pgbk_archive_status.")));
		/* Acknowledged (durable in the spool), and the outage shown in pgbk_archive_status. */
		snprintf(message, sizeof(message), "spooled (%llu files, %llu MB in the spool): %s",
				 (unsigned long long)spooled.usage.files, (unsigned long long)(spooled.usage.bytes >> 20), outage);
		RecordArchiveResult(file, false, message);
		return true;
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
