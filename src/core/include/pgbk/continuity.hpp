// Continuity of the WAL archive along a timeline's history: every segment a recovery
// from a point onward would read must be in the repository. A hole is WAL lost for
// point-in-time recovery past it (an old primary that had not archived everything at a
// failover, an overflow): verify and list report each one.
#pragma once
#include "pgbk/archive_gaps.hpp"
#include "pgbk/recovery_target.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/timeline.hpp"

#include <cstdint>
#include <string>
#include <vector>

namespace pgbk {

struct WalHole {
	uint32_t timeline = 0;
	uint64_t first_segno = 0, last_segno = 0; // inclusive
};

struct ArchiveContinuity {
	std::string first, last; // the first and last segment found along the history
	std::vector<WalHole> holes; // the first kMaxHolesReported
	uint64_t hole_count = 0;
	uint64_t missing_segments = 0;
};

constexpr size_t kMaxHolesReported = 100;

// Checks the segments from `from` (a backup's wal_start) along `history`: on each
// ancestor up to the segment before the one holding its switch point (the next timeline
// holds that one), on the history's own timeline up to the newest archived segment.
// Streams the listing one WAL directory (at most 4 GiB of WAL) at a time.
ArchiveContinuity CheckArchiveContinuity(Repository &repo, const TimelineLineage &history, const WalSegment &from,
										 uint64_t segment_size);

// The archive's continuity as restores see it: from the oldest complete backup on the
// history restores follow (the authoritative timeline's) to the newest WAL on it.
struct RepositoryContinuity {
	bool checked = false; // false: no complete backup on that history
	std::string from_backup; // the oldest backup on it
	std::string from_wal; // its wal_start
	uint64_t segment_size = 0;
	ArchiveContinuity archive;
	std::vector<ArchiveGap> gaps; // every gap recorded in the repository (gaps/), oldest first
};
// `backups` as ListBackups returns them (oldest first). Throws the repository's errors.
RepositoryContinuity CheckRepositoryContinuity(Repository &repo, const std::vector<BackupRecord> &backups);

// "timeline 1: 000000010000000000000007 to 000000010000000000000009 (3 segments)"
std::string DescribeHole(const WalHole &hole, uint64_t segment_size);
// The same, followed by why, when a recorded gap explains the hole ("; dropped on
// overflow: <DescribeGap>").
std::string DescribeHole(const WalHole &hole, uint64_t segment_size, const std::vector<ArchiveGap> &gaps);

// Whether a recovery from `backup` along `history` can reach `target`, judged by the
// first hole in the archive after the backup. A hole inside the backup's own WAL, and
// a target past the start of a recorded gap (an LSN past it; a time after the WAL before
// it was written) are refused: `refusal` names the gap and the nearest points reachable
// on each side. Where a hole's position in time is unknown (no gap record: WAL lost at
// a failover) or the target's position is (a transaction id, a restore point), and for
// a restore of the latest, `warnings` says where recovery will end.
struct TargetReach {
	std::string refusal; // "" when the target is reachable
	std::vector<std::string> warnings;
};
TargetReach CheckTargetReachable(Repository &repo, const BackupRecord &backup, const std::vector<BackupRecord> &backups,
								 const RecoveryTarget &target, const TimelineLineage &history, uint64_t segment_size);

} // namespace pgbk
