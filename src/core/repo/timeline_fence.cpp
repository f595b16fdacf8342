#include "pgbk/timeline_fence.hpp"

#include "pgbk/fileio.hpp"

#include <algorithm>
#include <dirent.h>
#include <limits>

namespace pgbk {

namespace {

// A full re-read of the history files at least this often (a timeline created with an
// id below one already read is a race the probe of the next id does not see).
constexpr std::chrono::seconds kFullRefresh{60};

} // namespace

TimelineLineage
LocalLineage(const std::string &pg_wal, uint32_t tli)
{
	if (tli <= 1) {
		TimelineLineage l;
		l.timeline = 1;
		return l;
	}
	std::string path = pg_wal + "/" + TimelineHistoryFileName(tli);
	return ParseTimelineHistory(tli, ReadSmallFile(path, 1 << 20), path);
}

TimelineLineage
TimelineFence::ServerLineage(const std::string &pg_wal, uint32_t tli)
{
	try {
		return LocalLineage(pg_wal, tli);
	} catch (const Error &e) {
		if (e.kind() != ErrorKind::NotFound || !Current().Knows(tli))
			throw;
		return Current().LineageOf(tli);
	}
}

TimelineLineage
TimelineFence::LineageForFile(const std::string &pg_wal, uint32_t file_tli)
{
	uint32_t newest = file_tli;
	// Streamed: pg_wal may hold many thousands of segments during an outage.
	if (DIR *d = ::opendir(pg_wal.c_str())) {
		while (struct dirent *e = ::readdir(d))
			if (ClassifyWalFileName(e->d_name) == WalFileKind::TimelineHistory)
				newest = std::max(newest, TimelineOfHistoryFileName(e->d_name));
		::closedir(d);
	}
	if (newest != file_tli) {
		TimelineLineage lineage = LocalLineage(pg_wal, newest);
		if (lineage.Includes(file_tli))
			return lineage;
	}
	return ServerLineage(pg_wal, file_tli);
}

const TimelineSet &
TimelineFence::Current()
{
	auto now = std::chrono::steady_clock::now();
	// New timelines take the next free id (PostgreSQL's promotion probes the archive for
	// it), so existence checks per file see a new one at once: the next id, and the one
	// after it, which a promotion takes when the next one's history never reached the
	// repository (its server was cut off from the store, or died before archiving it).
	auto stored = [&](uint32_t tli) {
		return repo_.storage().Size(WalArchiveKey(TimelineHistoryFileName(tli))).has_value();
	};
	bool stale = !set_ || now - read_at_ >= kFullRefresh || stored(set_->Highest() + 1) || stored(set_->Highest() + 2);
	if (stale) {
		set_ = repo_.ReadTimelines();
		read_at_ = now;
	}
	return *set_;
}

std::optional<std::pair<uint32_t, Lsn>>
TimelineFence::EndOf(const TimelineLineage &own, const std::string &name) const
{
	switch (ClassifyWalFileName(name)) {
	case WalFileKind::TimelineHistory: {
		// A history file extends the lineage from its parent's switch point on.
		return std::make_pair(TimelineOfHistoryFileName(name), Lsn{0});
	}
	case WalFileKind::Partial: {
		auto seg = ParseWalSegmentName(name, segment_size_);
		if (!seg)
			return std::nullopt;
		// What a promotion leaves of the old timeline's last segment: WAL up to the
		// switch point only.
		if (auto end = own.EndOf(seg->timeline))
			return std::make_pair(seg->timeline, *end);
		return std::make_pair(seg->timeline, (seg->segno + 1) * segment_size_);
	}
	case WalFileKind::Segment:
	case WalFileKind::BackupHistory: {
		auto seg = ParseWalSegmentName(name, segment_size_);
		if (!seg)
			return std::nullopt;
		return std::make_pair(seg->timeline, (seg->segno + 1) * segment_size_);
	}
	default:
		return std::nullopt;
	}
}

void
TimelineFence::CheckFile(const TimelineLineage &own, const std::string &name)
{
	auto end = EndOf(own, name);
	if (!end)
		return;
	if (auto fork = Current().Superseding(own, end->first, end->second))
		throw WalFenced(ErrorKind::Conflict, "WAL file " + name + " is not stored: " + SupersededMessage(own, *fork),
						"This server's WAL stays in pg_wal, unacknowledged. If timeline " +
							std::to_string(fork->child) +
							" is the real primary's, stop this server (or rejoin it as a standby with pg_rewind); "
							"if it was created by mistake (a restored copy promoted into this repository without "
							"--clone), move wal/" +
							TimelineHistoryFileName(fork->child) + " out of the repository.");
}

bool
TimelineFence::Refuses(const TimelineLineage &own, const std::string &name)
{
	auto end = EndOf(own, name);
	const TimelineSet &set = set_ ? *set_ : Current();
	return end && set.Superseding(own, end->first, end->second).has_value();
}

std::optional<TimelineBranch>
TimelineFence::SupersedingServer(const TimelineLineage &own, Lsn position)
{
	return Current().Superseding(own, own.timeline, position);
}

void
TimelineFence::RefuseIfSuperseded(const TimelineLineage &own, Lsn position, const std::string &what)
{
	if (auto fork = SupersedingServer(own, position))
		throw Error(ErrorKind::Conflict, what + ": " + SupersededMessage(own, *fork),
					"This server may not write to the repository any more. Stop it, or rejoin it as a standby of the "
					"primary on timeline " +
						std::to_string(fork->child) + " (pg_rewind), then take backups there.");
}

} // namespace pgbk
