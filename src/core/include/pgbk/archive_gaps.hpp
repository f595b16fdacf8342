// Gaps in the WAL archive that pgbk made on purpose: with pgbk.archive_overflow = drop,
// a segment that fits neither the repository (away) nor the spool (full) is acknowledged
// to PostgreSQL without being stored, so the database stays up. Each such range is a gap:
// recorded durably on the server first (the ledger, beside the spool: the repository is
// away when it opens), then written to the repository once it answers, so restores see
// it. A backup taken after the gap (the worker's catch-up backup) covers it: restores
// reach every point after that backup again. What lies inside a gap is lost for
// point-in-time recovery; a target there is refused, naming the gap and the nearest
// points that can be reached on each side.
#pragma once
#include "pgbk/repository.hpp"
#include "pgbk/wal.hpp"

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace pgbk {

struct ArchiveGap {
	uint32_t timeline = 0;
	std::string first_wal, last_wal; // the first and last segment dropped (inclusive)
	uint64_t segments = 0;
	int64_t opened_at = 0; // unix seconds: the first segment was dropped
	int64_t closed_at = 0; // a backup after the gap completed (0: open)
	std::string covered_by; // that backup's label
	// Every WAL record in the gap was written after `wal_after` and before `wal_before`
	// (unix seconds): what a time target is checked against. wal_after 0: unknown (the
	// segment before the gap was not seen by this archiver).
	int64_t wal_after = 0, wal_before = 0;
	std::string node; // host:data directory of the server that dropped it

	// The LSN range the gap's segments cover: [StartLsn, EndLsn).
	Lsn StartLsn(uint64_t segment_size) const;
	Lsn EndLsn(uint64_t segment_size) const;
	bool
	Open() const
	{
		return closed_at == 0;
	}
};

// "timeline 1: 00000001000000000000000A to 00000001000000000000000F (6 segments,
// dropped 2026-12-03 10:01:02 UTC .. 10:04:00 UTC), covered by backup 20261203T101500F"
std::string DescribeGap(const ArchiveGap &gap);
// A time of a gap record (unix seconds) as messages show it: "YYYY-MM-DD HH:MM:SS UTC".
std::string FormatUtcTime(int64_t unix_seconds);

// The repository's copy of a gap: gaps/<first_wal>-<writer>.json (the writer's id keeps
// two servers that dropped the same range from ever replacing each other's record).
std::string ArchiveGapKey(const ArchiveGap &gap);
// Every gap recorded in `repo` (any server's), streamed in key order (first segment).
void ListRepositoryGaps(Repository &repo, const std::function<void(const ArchiveGap &)> &fn);
// Removes the repository's gap records that end before segment `segno` of every
// timeline (retention removed the WAL around them); returns how many.
uint64_t RemoveRepositoryGapsBefore(Repository &repo, uint64_t segno, uint64_t segment_size);

// The server's own ledger: one small file per gap under `directory` (the spool
// directory's gaps/), each replaced atomically and durably on every change.
class ArchiveGapLedger {
public:
	ArchiveGapLedger(std::string spool_directory, std::string node);

	// Records WAL segment `name` as acknowledged without being stored: it extends the
	// open gap it directly follows, or opens a new one. `wal_after`: the time the
	// segment before it was last written (0 if unknown). Durable on return.
	ArchiveGap RecordDropped(const std::string &name, uint64_t segment_size, int64_t now, int64_t wal_after);
	// Every gap in the ledger, oldest first (there are few: one per outage).
	std::vector<ArchiveGap> List() const;
	// The ledger's gap holding segment `name`, if any.
	std::optional<ArchiveGap> Holding(const std::string &name, uint64_t segment_size) const;
	// Closes every open gap on `timeline` (or an ancestor: any timeline up to it) that
	// ends at or before `start_lsn`: a complete backup `label` started there. Returns the
	// gaps closed.
	std::vector<ArchiveGap> Cover(const std::string &label, uint32_t timeline, Lsn start_lsn, uint64_t segment_size,
								  int64_t now);
	// Writes each gap the repository does not hold as recorded here (new, grown or
	// closed since) into `repo`; returns how many were written.
	size_t Publish(Repository &repo);
	// Segments dropped in all (every gap, open or closed).
	uint64_t DroppedSegments() const;
	// Whether any gap is open (not yet covered by a backup).
	bool AnyOpen() const;
	// Whether any gap changed since it was last written to the repository.
	bool NeedsPublishing() const;

	const std::string &
	directory() const
	{
		return directory_;
	}
	// The gaps in a ledger directory, without creating it (SQL views, other processes).
	static std::vector<ArchiveGap> ListIn(const std::string &spool_directory);

private:
	void Write(const ArchiveGap &gap, bool published);

	std::string directory_;
	std::string node_;
	mutable std::mutex mu_;
};

} // namespace pgbk
