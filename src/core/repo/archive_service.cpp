#include "pgbk/archive_service.hpp"

#include "pgbk/timeline_fence.hpp"
#include "pgbk/wal.hpp"
#include "pgbk/wal_archiver.hpp"

#include <sys/stat.h>

namespace pgbk {

const char *const kArchiveResumeHint =
	"Find which server wrote the repository's copy (another server with this system identifier: a copy of this data "
	"directory, or a former primary) and stop it; then run SELECT pgbk_archive_resume() as a superuser (or remove "
	"the file pgbk.archive_stopped from the data directory). WAL stays in pg_wal meanwhile.";

namespace {

// After a direct attempt found the repository away, WAL goes straight to the spool for a
// while: each attempt on an unreachable store costs the whole retry timeout.
constexpr std::chrono::seconds kRepositoryDownFor{30};

// Whether an error means the repository is away (it refused or did not answer), not
// that this file or this server is wrong: only then is the file kept elsewhere.
bool
IsOutage(const Error &e)
{
	return e.kind() == ErrorKind::Io || e.kind() == ErrorKind::Timeout;
}

ArchiveOutcome
Refusal(RefusalCause cause, const Error &e)
{
	ArchiveOutcome out;
	out.cause = cause;
	out.kind = e.kind();
	out.message = e.what();
	out.hint = e.hint();
	return out;
}

} // namespace

struct ArchiveService::State {
	explicit State(ArchiveEnvironment e) : env(std::move(e)) {}

	ArchiveEnvironment env;
	std::string
	pg_wal() const
	{
		return env.data_directory + "/pg_wal";
	}

	// The repository, what it was opened with, and whether it was checked for this cluster.
	std::unique_ptr<Repository> repo;
	std::string repo_signature;
	bool repo_checked = false;
	// The look-ahead archiver over repo, and what it was made with.
	std::unique_ptr<WalArchiver> archiver;
	CodecOptions archiver_codec;
	int archiver_threads = 0;
	// The repository's history files as last read (over repo).
	std::unique_ptr<TimelineFence> fence;
	// The spool, what it was opened with, and its drain (over repo).
	std::unique_ptr<ArchiveSpool> spool;
	std::string spool_signature;
	std::unique_ptr<ArchiveSpoolDrainer> drainer;
	bool spool_looked_at = false; // whether an earlier archiver's spooled files were looked for
	// The breaker: no direct attempt before this, and why the last one failed (the reason
	// shown for files kept until the drain has tried the repository itself).
	std::chrono::steady_clock::time_point down_until{};
	std::string down_reason;
	// Where dropped segments are recorded, beside the spool.
	std::unique_ptr<ArchiveGapLedger> gaps;
	// The last segment stored or spooled and when it was last written: the WAL of a gap
	// that opens right after it was written after that.
	std::string last_kept_segment;
	int64_t last_kept_written = 0;

	ArchiveOutcome Archive(const std::string &name, const std::string &path, const settings::Values &values,
						   std::optional<uint32_t> server_timeline);

	// The phases of one file.
	void OpenRepository(const settings::Values &values);
	bool RepositoryAway() const;
	ArchiveOutcome StoreInRepository(const std::string &name, const std::string &path, const settings::Values &values,
									 const TimelineLineage &own);
	ArchiveOutcome KeepDuringOutage(const std::string &name, const std::string &path, const settings::Values &values,
									const std::string &why, std::optional<uint32_t> server_timeline);
	void DrainWhatTheSpoolHolds(const settings::Values &values);

	// Helpers.
	TimelineLineage Lineage(std::optional<uint32_t> server_timeline, const std::string &name);
	ArchiveSpool *ConfiguredSpool(const settings::Values &values);
	void EnsureDrainer(const settings::Values &values);
	void RefuseIfFencedAsLastRead(const std::string &name, std::optional<uint32_t> server_timeline);
	ArchiveGapLedger &GapLedger(const settings::Values &values);
	void RememberKept(const std::string &name, const std::string &path);
	void StopDrainAndArchiver();
	std::string
	SpoolDirectory(const settings::Values &values) const
	{
		return ResolveSpoolDirectory(values.Text(settings::Id("pgbk.spool_directory")), env.data_directory);
	}
};

void
ArchiveService::State::StopDrainAndArchiver()
{
	drainer.reset(); // drains into the repository: stopped first
	archiver.reset(); // waits for its background work on the repository
}

// Any change to what opening the repository reads (a reload with a new secret, endpoint
// or key file) reopens it, for this file on.
void
ArchiveService::State::OpenRepository(const settings::Values &values)
{
	std::string signature = settings::RepositorySignature(values);
	if (repo == nullptr || repo_signature != signature) {
		StopDrainAndArchiver();
		fence.reset();
		repo.reset();
		repo_checked = false;
		if (env.open_repository)
			repo = env.open_repository(values);
		else {
			StorageOpenOptions options;
			options.should_cancel = env.should_stop;
			repo = pgbk::OpenRepository(values, env.data_directory, options);
		}
		repo_signature = signature;
	}
	if (!repo_checked) {
		repo->CheckOrInit(env.cluster);
		if (!env.node.id.empty())
			repo->RegisterNode(NodeRecord{env.node.id, env.node.host, env.node.pgdata, env.unix_now()});
		repo_checked = true;
	} else if (!repo->storage().Exists())
		// Checked before and gone now (an unmounted volume): an outage, never a new
		// repository created in its place.
		throw Error(ErrorKind::Io, "the repository " + repo->Describe() + " is missing",
					"Mount or restore it; WAL is spooled meanwhile.");
}

// A direct attempt on a paused store costs the whole request timeout, and a shutdown
// waits for it: none while the drain finds the repository away, and one every
// kRepositoryDownFor at most otherwise.
bool
ArchiveService::State::RepositoryAway() const
{
	if (!env.keep_during_outage)
		return false;
	return env.now() < down_until || (drainer != nullptr && drainer->RepositoryDown());
}

TimelineLineage
ArchiveService::State::Lineage(std::optional<uint32_t> server_timeline, const std::string &name)
{
	if (server_timeline)
		return fence->ServerLineage(pg_wal(), *server_timeline);
	uint32_t tli = 1;
	if (ClassifyWalFileName(name) == WalFileKind::TimelineHistory)
		tli = TimelineOfHistoryFileName(name);
	else if (auto segment = ParseWalSegmentName(name, env.segment_size))
		tli = segment->timeline;
	return fence->LineageForFile(pg_wal(), tli);
}

ArchiveOutcome
ArchiveService::State::StoreInRepository(const std::string &name, const std::string &path,
										 const settings::Values &values, const TimelineLineage &own)
{
	CodecOptions codec = CodecOf(values);
	int threads = static_cast<int>(values.Integer(settings::Id("pgbk.parallel")));
	if (archiver != nullptr &&
		(archiver_codec.codec != codec.codec || archiver_codec.level != codec.level || archiver_threads != threads))
		archiver.reset();
	if (archiver == nullptr) {
		archiver = std::make_unique<WalArchiver>(*repo, codec, env.look_ahead ? threads : 1);
		archiver_codec = codec;
		archiver_threads = threads;
	}
	// Segments waiting after this one are stored in the background meanwhile, unless the
	// fence refuses them too.
	std::vector<std::pair<std::string, std::string>> ahead;
	if (env.look_ahead) {
		ahead = archiver->ReadyAfter(pg_wal(), name, static_cast<size_t>(threads) * 2);
		std::erase_if(ahead, [&](const auto &next) { return fence->Refuses(own, next.first); });
	}
	Repository::ArchiveOutcome stored;
	try {
		stored = archiver->Archive(name, path, ahead);
	} catch (const WalContentConflict &conflict) {
		// Not one more file from this server until a superuser has looked: its history
		// disagrees with the repository's.
		StopArchiving(env.data_directory,
					  std::string(conflict.what()) + " (stopped at " + FormatUtcTime(env.unix_now()) + ")");
		archiver.reset(); // and nothing more in the background
		repo_checked = false;
		return Refusal(
			RefusalCause::ContentConflict,
			Error(ErrorKind::Conflict, std::string(conflict.what()) + "; archiving is stopped", kArchiveResumeHint));
	}
	ArchiveOutcome out;
	out.disposition = stored == Repository::ArchiveOutcome::AlreadyPresent ? ArchiveDisposition::AlreadyPresent
																		   : ArchiveDisposition::Stored;
	return out;
}

// Opens (or reopens, after a change of pgbk.spool_directory or pgbk.spool_limit) the
// spool; null when spooling is off and the spool is empty. Turned off while it holds
// acknowledged WAL, it stays open with a limit of 0: it takes nothing more, and what it
// holds still drains (those files are in no pg_wal any more).
ArchiveSpool *
ArchiveService::State::ConfiguredSpool(const settings::Values &values)
{
	uint64_t limit = static_cast<uint64_t>(values.Integer(settings::Id("pgbk.spool_limit"))) << 20;
	std::string dir = SpoolDirectory(values);
	std::string signature = dir + "\n" + std::to_string(limit) + "\n" + settings::RepositorySignature(values);
	if (spool != nullptr && spool_signature == signature)
		return spool.get();
	drainer.reset();
	spool.reset();
	if (limit == 0 && ArchiveSpool::UsageOf(dir).files == 0)
		return nullptr;
	spool_signature = signature;
	spool = std::make_unique<ArchiveSpool>(dir, limit, KeyringOf(values));
	return spool.get();
}

// Starts draining the spool into the repository once both are open.
void
ArchiveService::State::EnsureDrainer(const settings::Values &values)
{
	if (drainer != nullptr || spool == nullptr || repo == nullptr)
		return;
	drainer = std::make_unique<ArchiveSpoolDrainer>(
		*spool, *repo, env.cluster, CodecOf(values), static_cast<int>(values.Integer(settings::Id("pgbk.parallel"))),
		env.data_directory, env.segment_size, [stop = env.should_stop] { return stop != nullptr && stop(); });
}

// Refuses a file the history files as last read fence (the repository cannot be asked
// now; the drain checks again): a superseded server's WAL is never acknowledged.
void
ArchiveService::State::RefuseIfFencedAsLastRead(const std::string &name, std::optional<uint32_t> server_timeline)
{
	if (fence == nullptr)
		return;
	try {
		// The lineage from pg_wal alone: asking the repository could fail and let a fenced
		// file in.
		uint32_t tli = server_timeline.value_or(1);
		if (!server_timeline)
			if (auto segment = ParseWalSegmentName(name, env.segment_size))
				tli = segment->timeline;
		TimelineLineage own = LocalLineage(pg_wal(), tli);
		if (fence->Refuses(own, name))
			throw WalFenced(ErrorKind::Conflict,
							"WAL file " + name +
								" is not stored: it holds WAL past a fork another timeline in the repository made "
								"(this server is superseded)",
							"This server's WAL stays in pg_wal, unacknowledged.");
	} catch (const WalFenced &) {
		throw;
	} catch (const Error &) {
		// Unknown here: the drain decides.
	}
}

ArchiveGapLedger &
ArchiveService::State::GapLedger(const settings::Values &values)
{
	std::string dir = SpoolDirectory(values);
	if (gaps == nullptr || gaps->directory() != dir + "/gaps")
		gaps = std::make_unique<ArchiveGapLedger>(dir, env.node.Describe());
	return *gaps;
}

// A segment stored or spooled: remembered with its last write, for the next gap.
void
ArchiveService::State::RememberKept(const std::string &name, const std::string &path)
{
	struct stat st;
	if (ClassifyWalFileName(name) != WalFileKind::Segment || ::stat(path.c_str(), &st) != 0)
		return;
	last_kept_segment = name;
	last_kept_written = st.st_mtime;
}

// Keeps `name` while the repository is away (`why`): in the spool, or, when it fits
// neither and pgbk.archive_overflow = drop, nowhere (a segment only: the range is
// recorded as a gap); otherwise it is refused and waits in pg_wal.
ArchiveOutcome
ArchiveService::State::KeepDuringOutage(const std::string &name, const std::string &path,
										const settings::Values &values, const std::string &why,
										std::optional<uint32_t> server_timeline)
{
	ArchiveOutcome out;
	out.outage = why;
	if (!env.keep_during_outage) {
		out.cause = RefusalCause::SpoolOff;
		out.kind = ErrorKind::Io;
		out.message = why;
		out.hint = "The file stays in pg_wal; the server retries once the repository answers.";
		return out;
	}
	RefuseIfFencedAsLastRead(name, server_timeline);
	ArchiveSpool *kept_in = ConfiguredSpool(values);
	if (kept_in != nullptr) {
		// A spool that takes nothing more (limit 0) still drains what it holds.
		EnsureDrainer(values);
		out.first_spooled = kept_in->CurrentUsage().files == 0;
		if (kept_in->Store(name, path, CodecOf(values))) {
			out.disposition = ArchiveDisposition::Spooled;
			out.spool = kept_in->CurrentUsage();
			RememberKept(name, path);
			if (drainer != nullptr)
				drainer->Wake();
			return out;
		}
		out.first_spooled = false;
		out.spool = kept_in->CurrentUsage();
	}
	bool spool_off = kept_in == nullptr || kept_in->limit() == 0;
	bool drop = values.Text(settings::Id("pgbk.archive_overflow")) == "drop";
	if (!drop || ClassifyWalFileName(name) != WalFileKind::Segment) {
		std::string where;
		if (spool_off) {
			where = "; the spool is off (pgbk.spool_limit = 0)";
			if (out.spool.files > 0)
				where += "; the " + std::to_string(out.spool.files) +
						 " files it still holds drain once the repository answers";
		} else
			where = "; the spool " + kept_in->directory() + " is full (" + std::to_string(out.spool.files) +
					" files, " + std::to_string(out.spool.bytes >> 20) + " MB)";
		out.cause = spool_off ? RefusalCause::SpoolOff : RefusalCause::SpoolFull;
		out.kind = ErrorKind::Io;
		out.message = why + where;
		out.hint = "WAL stays in pg_wal until the repository answers (the spool drains into it then); raise "
				   "pgbk.spool_limit, or set pgbk.archive_overflow = drop to keep the server up at the cost of a gap "
				   "in point-in-time recovery.";
		return out;
	}
	int64_t wal_after = 0;
	auto segment = ParseWalSegmentName(name, env.segment_size);
	if (segment && segment->segno > 0 &&
		last_kept_segment == WalSegmentName({segment->timeline, segment->segno - 1}, env.segment_size))
		wal_after = last_kept_written - 1; // WAL writes trail inserts a little
	out.gap = GapLedger(values).RecordDropped(name, env.segment_size, env.unix_now(), wal_after);
	out.disposition = ArchiveDisposition::Dropped;
	return out;
}

// Stored directly: whatever the spool holds can follow. An archiver started after the
// outage (a restart) looks once whether an earlier one left files there, and a
// repository reopened with new settings (its drainer stopped) gets a new drainer.
void
ArchiveService::State::DrainWhatTheSpoolHolds(const settings::Values &values)
{
	if (!env.keep_during_outage)
		return;
	bool holds_files = spool != nullptr ? spool->CurrentUsage().files > 0
										: !spool_looked_at && ArchiveSpool::UsageOf(SpoolDirectory(values)).files > 0;
	spool_looked_at = true;
	if (holds_files && ConfiguredSpool(values) != nullptr) {
		EnsureDrainer(values);
		if (drainer != nullptr)
			drainer->Wake();
	}
}

ArchiveOutcome
ArchiveService::State::Archive(const std::string &name, const std::string &path, const settings::Values &values,
							   std::optional<uint32_t> server_timeline)
{
	if (auto reason = ArchiveStopReason(env.data_directory))
		return Refusal(RefusalCause::Stopped,
					   Error(ErrorKind::Conflict, "archiving is stopped: " + *reason, kArchiveResumeHint));
	try {
		if (RepositoryAway()) {
			// The spool is looked at only during an outage: nothing of it on the usual path.
			std::string why = drainer != nullptr ? drainer->LastError() : std::string();
			if (why.empty())
				why = down_reason.empty() ? std::string("the repository did not answer") : down_reason;
			return KeepDuringOutage(name, path, values, why, server_timeline);
		}
		ArchiveOutcome out;
		try {
			OpenRepository(values);
			// Nothing past a fork that superseded this server (a former primary after a
			// failover): the repository's history files decide, re-read when a new one
			// appears.
			if (fence == nullptr)
				fence = std::make_unique<TimelineFence>(*repo, env.segment_size);
			TimelineLineage own = Lineage(server_timeline, name);
			fence->CheckFile(own, name);
			out = StoreInRepository(name, path, values, own);
		} catch (const WalFenced &) {
			throw;
		} catch (const Error &e) {
			if (!IsOutage(e))
				throw;
			if (env.keep_during_outage) {
				down_until = env.now() + kRepositoryDownFor;
				down_reason = e.what();
			}
			return KeepDuringOutage(name, path, values, e.what(), server_timeline);
		}
		if (out.Acknowledged()) {
			RememberKept(name, path);
			DrainWhatTheSpoolHolds(values);
		}
		return out;
	} catch (const WalFenced &e) {
		return Refusal(RefusalCause::Fenced, e);
	} catch (const Error &e) {
		// A foreign repository or a conflict must be checked again next time.
		if (e.kind() == ErrorKind::Conflict)
			repo_checked = false;
		return Refusal(RefusalCause::Failed, e);
	} catch (const std::exception &e) {
		return Refusal(RefusalCause::Failed, Error(ErrorKind::Io, e.what()));
	}
}

ArchiveService::ArchiveService(ArchiveEnvironment environment) : state_(std::make_unique<State>(std::move(environment)))
{
}

ArchiveService::~ArchiveService()
{
	Shutdown();
}

ArchiveOutcome
ArchiveService::Archive(const std::string &name, const std::string &path, const settings::Values &values,
						std::optional<uint32_t> server_timeline)
{
	return state_->Archive(name, path, values, server_timeline);
}

void
ArchiveService::Shutdown()
{
	state_->StopDrainAndArchiver();
}

bool
ArchiveService::RepositoryTakenAsDown() const
{
	return state_->RepositoryAway();
}

} // namespace pgbk
