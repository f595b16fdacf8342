#include "pgbk/continuity.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>

namespace pgbk {

namespace {

// The segment range of one timeline of the history: [first, last], last unbounded for
// the history's own timeline.
struct Span {
	uint32_t timeline = 0;
	uint64_t first = 0;
	std::optional<uint64_t> last;
};

std::vector<Span>
SpansFrom(const TimelineLineage &history, const WalSegment &from, uint64_t segment_size)
{
	std::vector<Span> spans;
	uint64_t begin = 0;
	auto add = [&](uint32_t tli, std::optional<Lsn> end) {
		Span s{tli, begin, std::nullopt};
		if (end) {
			uint64_t switch_segno = *end / segment_size;
			if (switch_segno == 0)
				s.first = 1, s.last = 0; // empty
			else
				s.last = switch_segno - 1;
			begin = switch_segno;
		}
		spans.push_back(s);
	};
	for (const auto &step : history.ancestors)
		add(step.timeline, step.end);
	add(history.timeline, std::nullopt);
	// Start at `from`: drop the spans before its timeline, and the segments before it.
	auto at = std::find_if(spans.begin(), spans.end(), [&](const Span &s) { return s.timeline == from.timeline; });
	if (at == spans.end())
		return {};
	spans.erase(spans.begin(), at);
	spans.front().first = std::max(spans.front().first, from.segno);
	return spans;
}

} // namespace

ArchiveContinuity
CheckArchiveContinuity(Repository &repo, const TimelineLineage &history, const WalSegment &from, uint64_t segment_size)
{
	ArchiveContinuity out;
	auto hole = [&](uint32_t tli, uint64_t first, uint64_t last) {
		out.hole_count++;
		out.missing_segments += last - first + 1;
		if (out.holes.size() < kMaxHolesReported)
			out.holes.push_back(WalHole{tli, first, last});
	};
	for (const Span &span : SpansFrom(history, from, segment_size)) {
		if (span.last && *span.last < span.first)
			continue;
		char tli_hex[16];
		std::snprintf(tli_hex, sizeof tli_hex, "%08X", span.timeline);
		// The WAL directories of this timeline (one per 4 GiB), in order.
		std::vector<std::string> dirs;
		repo.storage().List(std::string("wal/") + tli_hex, false, [&](const ListEntry &e) {
			if (e.is_prefix)
				dirs.push_back(e.key);
		});
		std::sort(dirs.begin(), dirs.end());
		uint64_t expected = span.first;
		for (const auto &dir : dirs) {
			std::vector<uint64_t> segnos; // one directory: at most 4 GiB / segment size
			repo.storage().List(dir, false, [&](const ListEntry &e) {
				std::string name = e.key.substr(e.key.find_last_of('/') + 1);
				if (e.is_prefix || ClassifyWalFileName(name) != WalFileKind::Segment)
					return;
				if (auto seg = ParseWalSegmentName(name, segment_size); seg && seg->timeline == span.timeline)
					segnos.push_back(seg->segno);
			});
			std::sort(segnos.begin(), segnos.end());
			for (uint64_t segno : segnos) {
				if (segno < expected || (span.last && segno > *span.last))
					continue;
				if (segno > expected)
					hole(span.timeline, expected, segno - 1);
				if (out.first.empty())
					out.first = WalSegmentName(WalSegment{span.timeline, segno}, segment_size);
				out.last = WalSegmentName(WalSegment{span.timeline, segno}, segment_size);
				expected = segno + 1;
			}
		}
		if (span.last && expected <= *span.last)
			hole(span.timeline, expected, *span.last); // the WAL up to a switch point never arrived
	}
	return out;
}

std::string
DescribeHole(const WalHole &hole, uint64_t segment_size)
{
	uint64_t n = hole.last_segno - hole.first_segno + 1;
	return "timeline " + std::to_string(hole.timeline) + ": " +
		   WalSegmentName(WalSegment{hole.timeline, hole.first_segno}, segment_size) +
		   (n > 1 ? " to " + WalSegmentName(WalSegment{hole.timeline, hole.last_segno}, segment_size) : "") + " (" +
		   std::to_string(n) + (n == 1 ? " segment)" : " segments)");
}

namespace {

// The recorded gap that explains a hole (same timeline, overlapping segments), if any.
const ArchiveGap *
GapOfHole(const WalHole &hole, uint64_t segment_size, const std::vector<ArchiveGap> &gaps)
{
	for (const auto &g : gaps) {
		if (g.timeline != hole.timeline)
			continue;
		uint64_t first = g.StartLsn(segment_size) / segment_size, last = g.EndLsn(segment_size) / segment_size - 1;
		if (first <= hole.last_segno && last >= hole.first_segno)
			return &g;
	}
	return nullptr;
}

} // namespace

std::string
DescribeHole(const WalHole &hole, uint64_t segment_size, const std::vector<ArchiveGap> &gaps)
{
	std::string text = DescribeHole(hole, segment_size);
	if (const ArchiveGap *g = GapOfHole(hole, segment_size, gaps))
		text += "; dropped on overflow: " + DescribeGap(*g);
	return text;
}

TargetReach
CheckTargetReachable(Repository &repo, const BackupRecord &backup, const std::vector<BackupRecord> &backups,
					 const RecoveryTarget &target, const TimelineLineage &history, uint64_t segment_size)
{
	TargetReach reach;
	auto from = ParseWalSegmentName(backup.wal_start, segment_size);
	if (!from)
		return reach;
	ArchiveContinuity c = CheckArchiveContinuity(repo, history, *from, segment_size);
	if (c.holes.empty())
		return reach;
	const WalHole &hole = c.holes.front(); // recovery stops at the first
	std::vector<ArchiveGap> gaps;
	ListRepositoryGaps(repo, [&](const ArchiveGap &g) { gaps.push_back(g); });
	const ArchiveGap *gap = GapOfHole(hole, segment_size, gaps);
	Lsn hole_start = hole.first_segno * segment_size, hole_end = (hole.last_segno + 1) * segment_size;
	std::string where = DescribeHole(hole, segment_size, gaps);
	if (hole_start < backup.stop_lsn) {
		reach.refusal =
			"backup " + backup.label + " cannot be restored: WAL it needs is missing from the archive (" + where + ")";
		return reach;
	}
	// The nearest points on each side: the end of the WAL before the hole, and the
	// consistency point of the first backup after it.
	std::string before = "up to LSN " + FormatLsn(hole_start);
	if (gap != nullptr && gap->wal_after > 0)
		before += " (WAL written until about " + FormatUtcTime(gap->wal_after) + ")";
	before += " from backup " + backup.label;
	const BackupRecord *first_after = nullptr;
	for (const auto &b : backups)
		if (b.status == BackupStatus::Complete && b.start_lsn >= hole_end && history.Reaches(b.timeline, b.stop_lsn) &&
			(first_after == nullptr || b.stop_lsn < first_after->stop_lsn))
			first_after = &b;
	std::string after =
		first_after == nullptr
			? "no point after it yet: no complete backup starts after the gap (the worker takes a catch-up backup "
			  "once the repository takes WAL again)"
			: "from " +
				  (first_after->stop_time_us > 0 ? FormatTargetTimeUtc(first_after->stop_time_us) : std::string("")) +
				  " on (backup " + first_after->label + ", consistent at LSN " + FormatLsn(first_after->stop_lsn) + ")";
	std::string reachable = "reachable: " + before + "; or " + after;
	bool past = false, unknown = false;
	switch (target.kind) {
	case RecoveryTarget::Kind::Immediate:
		return reach;
	case RecoveryTarget::Kind::None:
		reach.warnings.push_back("recovery ends at LSN " + FormatLsn(hole_start) + ": the archive has a hole there (" +
								 where + "); what was written after it is not restored");
		return reach;
	case RecoveryTarget::Kind::Lsn:
		past = target.lsn > hole_start;
		break;
	case RecoveryTarget::Kind::Time:
		if (gap != nullptr && gap->wal_after > 0)
			past = target.time_usec > gap->wal_after * 1000000;
		else
			unknown = true;
		break;
	case RecoveryTarget::Kind::Xid:
	case RecoveryTarget::Kind::Name:
		unknown = true;
		break;
	}
	if (past)
		reach.refusal = "target " + target.value + " lies past the start of a gap in the archive (" + where +
						"): no recovery from backup " + backup.label + " reaches it; " + reachable;
	else if (unknown)
		reach.warnings.push_back("the archive has a hole after backup " + backup.label + " (" + where +
								 "): if the target lies past LSN " + FormatLsn(hole_start) +
								 ", PostgreSQL ends recovery there (\"recovery ended before configured recovery "
								 "target was reached\"); " +
								 reachable);
	return reach;
}

RepositoryContinuity
CheckRepositoryContinuity(Repository &repo, const std::vector<BackupRecord> &backups)
{
	RepositoryContinuity r;
	ListRepositoryGaps(repo, [&](const ArchiveGap &g) { r.gaps.push_back(g); });
	TimelineSet timelines = repo.ReadTimelines();
	TimelineLineage history = timelines.LineageOf(timelines.Authoritative());
	auto oldest = std::find_if(backups.begin(), backups.end(), [&](const BackupRecord &b) {
		return b.status == BackupStatus::Complete && history.Reaches(b.timeline, b.stop_lsn);
	});
	if (oldest == backups.end())
		return r;
	r.segment_size = repo.ReadManifestHeader(*oldest).segment_size;
	auto from = ParseWalSegmentName(oldest->wal_start, r.segment_size);
	if (!from)
		throw Error(ErrorKind::Corrupt, "backup " + oldest->label + " has no valid WAL start");
	r.archive = CheckArchiveContinuity(repo, history, *from, r.segment_size);
	r.from_backup = oldest->label;
	r.from_wal = oldest->wal_start;
	r.checked = true;
	return r;
}

} // namespace pgbk
