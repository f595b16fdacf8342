#include "pgbk/timeline.hpp"
#include "pgbk/continuity.hpp"
#include "pgbk/retention.hpp"
#include "pgbk/timeline_fence.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <limits>
#include <map>
#include <random>

using namespace pgbk;

namespace {

constexpr Lsn kSeg = 16ull << 20;

// A history file as PostgreSQL writes it: one line per ancestor.
std::string
History(std::initializer_list<std::pair<uint32_t, Lsn>> steps)
{
	std::string text;
	for (auto [tli, end] : steps)
		text += std::to_string(tli) + "\t" + FormatLsn(end) + "\tno recovery target specified\n\n";
	return text;
}

TimelineLineage
Lineage(uint32_t tli, std::initializer_list<std::pair<uint32_t, Lsn>> steps)
{
	return ParseTimelineHistory(tli, History(steps), "test");
}

} // namespace

TEST(Timeline, HistoryFilesParseAndBadOnesAreRefused)
{
	TimelineLineage l = Lineage(3, {{1, 5 * kSeg + 40}, {2, 9 * kSeg}});
	ASSERT_EQ(l.ancestors.size(), 2u);
	EXPECT_EQ(l.ChildOf(1), 2u);
	EXPECT_EQ(l.ChildOf(2), 3u);
	EXPECT_TRUE(l.Reaches(1, 5 * kSeg + 40)) << "the switch point itself is on the history";
	EXPECT_FALSE(l.Reaches(1, 5 * kSeg + 41));
	EXPECT_TRUE(l.Reaches(3, std::numeric_limits<Lsn>::max()));
	EXPECT_FALSE(l.Reaches(4, 0));
	EXPECT_EQ(l.Describe(), "1 until 0/5000028, then 2 until 0/9000000, then 3");
	EXPECT_THROW(ParseTimelineHistory(2, "", "2.history"), Error);
	EXPECT_THROW(ParseTimelineHistory(2, "2\t0/5000000\tx\n", "2.history"), Error) << "a parent below the child";
	EXPECT_THROW(ParseTimelineHistory(3, "2\t0/5000000\n1\t0/6000000\n", "3.history"), Error) << "out of order";
	EXPECT_THROW(ParseTimelineHistory(2, "1\tzz\n", "2.history"), Error);
	EXPECT_NO_THROW(ParseTimelineHistory(2, "# comment\n1\t0/5000000\treason\n", "2.history"));
}

// Failover: the standby is promoted to 2 at F; the old primary keeps running on 1.
TEST(Timeline, AnOldPrimaryPastTheForkIsSuperseded)
{
	const Lsn fork = 5 * kSeg + 0x100;
	TimelineSet set;
	set.Add(Lineage(2, {{1, fork}}));
	TimelineLineage old_primary = set.LineageOf(1);
	// Segments that end before the fork may still be stored (the old primary's backlog).
	EXPECT_FALSE(set.Superseding(old_primary, 1, 5 * kSeg));
	EXPECT_FALSE(set.Superseding(old_primary, 1, fork)) << "a clean switchover ends exactly at the fork";
	auto past = set.Superseding(old_primary, 1, 6 * kSeg);
	ASSERT_TRUE(past);
	EXPECT_EQ(past->child, 2u);
	EXPECT_EQ(past->switch_lsn, fork);
	EXPECT_NE(
		SupersededMessage(old_primary, *past).find("timeline 2 in the repository forked off timeline 1 at 0/5000100"),
		std::string::npos);
	// The new primary is never superseded by its own history, even for files of timeline 1
	// (its .partial is checked at the switch point).
	TimelineLineage new_primary = set.LineageOf(2);
	EXPECT_FALSE(set.Superseding(new_primary, 2, std::numeric_limits<Lsn>::max()));
	EXPECT_FALSE(set.Superseding(new_primary, 1, fork));
	EXPECT_TRUE(set.Superseding(new_primary, 1, 6 * kSeg)) << "timeline 1's WAL past the fork is not its own";
	EXPECT_EQ(set.Authoritative(), 2u);
}

// The old primary's own standby is promoted later (timeline 3 off 1 at a later point):
// the earlier fork wins although 3 is the higher id, and a restore must follow 2.
// Two failovers in a row: a standby promoted to timeline 2 dies right after storing its
// history file; another is promoted off timeline 1 further on, to timeline 3. The live
// leader on 3 is authoritative and archives everything; the dead branch is fenced.
TEST(Timeline, TheNewestPromotionWinsOverAnEarlierForkOfADeadBranch)
{
	TimelineSet set;
	set.Add(Lineage(2, {{1, 5 * kSeg}}));
	set.Add(Lineage(3, {{1, 8 * kSeg}}));
	EXPECT_EQ(set.Authoritative(), 3u);
	EXPECT_FALSE(set.Superseding(set.LineageOf(3), 3, 100 * kSeg));
	EXPECT_FALSE(set.Superseding(set.LineageOf(3), 1, 8 * kSeg)) << "its own history on timeline 1";
	auto dead = set.Superseding(set.LineageOf(2), 2, 6 * kSeg);
	ASSERT_TRUE(dead);
	EXPECT_EQ(dead->child, 3u);
	EXPECT_EQ(dead->parent, 1u);
	EXPECT_NE(SupersededMessage(set.LineageOf(2), *dead).find("is the newest promotion"), std::string::npos)
		<< SupersededMessage(set.LineageOf(2), *dead);
	// The dead branch's WAL before its fork is shared history and may be stored.
	EXPECT_FALSE(set.Superseding(set.LineageOf(2), 1, 5 * kSeg));
	// The old primary of timeline 1 is fenced past the newest promotion's fork, not before.
	TimelineLineage old_primary;
	EXPECT_FALSE(set.Superseding(old_primary, 1, 8 * kSeg));
	EXPECT_TRUE(set.Superseding(old_primary, 1, 8 * kSeg + 1));
}

// A new promotion archives its history file first: until it is stored, the new line is
// newer than anything the repository holds, and nothing of it is fenced.
TEST(Timeline, ANewPromotionIsNeverFencedBeforeItsHistoryIsStored)
{
	TimelineSet set; // only timeline 1 so far
	TimelineLineage promoted = Lineage(2, {{1, 5 * kSeg}});
	EXPECT_FALSE(set.Superseding(promoted, 2, 0)) << "its history file";
	EXPECT_FALSE(set.Superseding(promoted, 2, 9 * kSeg));
	EXPECT_FALSE(set.Superseding(promoted, 1, 5 * kSeg));
	set.Add(Lineage(2, {{1, 3 * kSeg}})); // another promotion stored 2 first (a race it lost)
	TimelineLineage third = Lineage(3, {{1, 5 * kSeg}});
	EXPECT_FALSE(set.Superseding(third, 3, 0));
}

// A skipped id (the promotion to 2 never stored its history file): 3 is the authority.
TEST(Timeline, ASkippedTimelineIdNeverFencesTheLeader)
{
	TimelineSet set;
	set.Add(Lineage(3, {{1, 8 * kSeg}}));
	EXPECT_EQ(set.Authoritative(), 3u);
	EXPECT_FALSE(set.Superseding(set.LineageOf(3), 3, 100 * kSeg));
	EXPECT_TRUE(set.Superseding(TimelineLineage{}, 1, 9 * kSeg));
}

// Two standbys promoted at the same point: the higher timeline wins, deterministically.
TEST(Timeline, SameSwitchPointTheHigherChildWins)
{
	TimelineSet set;
	set.Add(Lineage(2, {{1, 5 * kSeg}}));
	set.Add(Lineage(3, {{1, 5 * kSeg}}));
	EXPECT_EQ(set.Authoritative(), 3u);
	EXPECT_TRUE(set.Superseding(set.LineageOf(2), 2, 6 * kSeg));
	EXPECT_FALSE(set.Superseding(set.LineageOf(3), 3, 6 * kSeg));
}

// A restored copy promoted into the same repository (PITR to an earlier point, without
// --clone) forks the production timeline: the history files are the authority, so the
// production server is fenced from there and the copy's line is the one restores follow.
TEST(Timeline, APromotedPointInTimeCopySupersedesTheLineItLeft)
{
	TimelineSet set;
	set.Add(Lineage(2, {{1, 5 * kSeg}}));
	set.Add(Lineage(3, {{1, 5 * kSeg}, {2, 20 * kSeg}}));
	set.Add(Lineage(4, {{1, 5 * kSeg}, {2, 12 * kSeg}})); // restored to 12 and promoted
	EXPECT_EQ(set.Authoritative(), 4u);
	auto production = set.Superseding(set.LineageOf(3), 3, 30 * kSeg);
	ASSERT_TRUE(production);
	EXPECT_EQ(production->child, 4u);
	EXPECT_EQ(production->parent, 2u);
	EXPECT_EQ(production->switch_lsn, 12 * kSeg);
	// A lagging standby on 2 that has not reached 12 is not fenced.
	EXPECT_FALSE(set.Superseding(set.LineageOf(2), 2, 11 * kSeg));
}

// Generated chains of clean failovers: the newest timeline is authoritative and no
// server on it, nor a standby that has not passed a fork, is ever fenced.
TEST(Timeline, CleanFailoverChainsNeverFenceTheCurrentPrimary)
{
	for (uint32_t length = 1; length <= 12; length++) {
		TimelineSet set;
		std::vector<std::pair<uint32_t, Lsn>> steps;
		for (uint32_t tli = 2; tli <= length + 1; tli++) {
			steps.emplace_back(tli - 1, (tli * 7 + length) * kSeg + tli);
			TimelineLineage l;
			l.timeline = tli;
			for (auto [t, e] : steps)
				l.ancestors.push_back({t, e});
			set.Add(l);
		}
		uint32_t newest = length + 1;
		EXPECT_EQ(set.Authoritative(), newest) << length;
		TimelineLineage primary = set.LineageOf(newest);
		EXPECT_FALSE(set.Superseding(primary, newest, std::numeric_limits<Lsn>::max())) << length;
		for (const auto &step : primary.ancestors) {
			EXPECT_FALSE(set.Superseding(primary, step.timeline, step.end)) << length;
			TimelineLineage older = set.LineageOf(step.timeline);
			EXPECT_FALSE(set.Superseding(older, step.timeline, step.end)) << "at the fork: not past it";
			EXPECT_TRUE(set.Superseding(older, step.timeline, step.end + 1)) << "one byte past the fork";
		}
	}
}

// Generated histories with split brains and cascades: timelines fork off random
// timelines at random points (a standby promoted while its primary kept running, a
// promotion that died and was promoted over, a standby of a standby promoted, a restored
// copy promoted into the repository). The newest promotion is authoritative and never
// fenced, every other leaf is fenced, fencing never lifts as a server advances, and the
// prior an incremental on the authoritative line is taken against lies on its history.
TEST(Timeline, GeneratedSplitBrainsLeaveOneAuthoritativeLine)
{
	std::mt19937 rng(20261203);
	for (int round = 0; round < 300; round++) {
		TimelineSet set;
		std::map<uint32_t, TimelineLineage> lineages;
		std::map<uint32_t, Lsn> starts; // where each timeline begins
		lineages[1] = TimelineLineage{};
		starts[1] = 0;
		int forks = 1 + static_cast<int>(rng() % 6);
		for (uint32_t child = 2; child <= static_cast<uint32_t>(forks) + 1; child++) {
			uint32_t parent = 1 + rng() % (child - 1);
			Lsn at = starts[parent] + 1 + rng() % (40 * kSeg);
			TimelineLineage l = lineages[parent];
			l.ancestors.push_back({parent, at});
			l.timeline = child;
			lineages[child] = l;
			starts[child] = at;
			set.Add(l);
		}
		uint32_t authoritative = set.Authoritative();
		EXPECT_EQ(authoritative, static_cast<uint32_t>(forks) + 1)
			<< "the newest promotion, as recovery_target_timeline = 'latest' replays: round " << round;
		const TimelineLineage &line = lineages[authoritative];
		EXPECT_FALSE(set.Superseding(line, authoritative, std::numeric_limits<Lsn>::max())) << round;
		for (const auto &entry : lineages) {
			// Named copies: C++20 lambdas may capture structured bindings, but clang 14 refuses.
			const uint32_t tli = entry.first;
			const TimelineLineage &lineage = entry.second;
			bool leaf = std::none_of(lineages.begin(), lineages.end(),
									 [&](const auto &other) { return other.second.ChildOf(tli) != 0; });
			if (!leaf)
				continue;
			auto fork = set.Superseding(lineage, tli, std::numeric_limits<Lsn>::max());
			EXPECT_EQ(fork.has_value(), tli != authoritative) << "round " << round << " leaf " << tli;
			// Monotonic: once fenced at a position, fenced at every later one.
			bool fenced = false;
			for (Lsn pos = starts[tli]; pos < starts[tli] + 50 * kSeg; pos += kSeg / 2) {
				bool now = set.Superseding(lineage, tli, pos).has_value();
				EXPECT_TRUE(now || !fenced) << "round " << round << " leaf " << tli << " at " << FormatLsn(pos);
				fenced = fenced || now;
			}
		}
		// Backups on random timelines and positions: the prior chosen for an incremental
		// on the authoritative line lies on its history.
		std::vector<BackupRecord> backups;
		for (int b = 0; b < 8; b++) {
			uint32_t tli = 1 + rng() % static_cast<uint32_t>(lineages.size());
			BackupRecord r;
			r.label = "B" + std::to_string(b);
			r.type = b == 0 || rng() % 3 == 0 ? "full" : "incr";
			r.status = BackupStatus::Complete;
			r.timeline = tli;
			r.start_lsn = starts[tli] + rng() % (30 * kSeg);
			r.stop_lsn = r.start_lsn + kSeg;
			r.started_at = 1000 + b;
			r.pg_version_num = 150008;
			r.system_identifier = 1;
			backups.push_back(r);
		}
		PriorChoice c = ChoosePrior(backups, BackupType::Incr, line, 150008);
		if (!c.label.empty()) {
			auto chosen =
				std::find_if(backups.begin(), backups.end(), [&](const BackupRecord &r) { return r.label == c.label; });
			ASSERT_NE(chosen, backups.end());
			EXPECT_TRUE(line.Reaches(chosen->timeline, chosen->stop_lsn)) << "round " << round << " " << c.label;
		}
	}
}

// The fence over a real (local) repository: it sees a history file stored after it was
// created at its next check, and refuses exactly the WAL past the fork.
TEST(TimelineFence, RefusesWalPastTheForkOnceTheHistoryIsStored)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	TimelineFence fence(repo, kSeg);
	TimelineLineage old_primary = LocalLineage(dir / "pg_wal", 1);
	auto segment = [](uint32_t tli, uint64_t segno) { return WalSegmentName(WalSegment{tli, segno}, kSeg); };
	EXPECT_FALSE(fence.Refuses(old_primary, segment(1, 7)));
	// The standby is promoted to timeline 2 at 0/5000100 and archives its history file.
	pgbk::test::WriteFile(dir / "00000002.history", History({{1, 5 * kSeg + 0x100}}));
	repo.ArchiveWalFile("00000002.history", dir / "00000002.history", CodecOptions{});
	// The next check reads the new history file (Refuses alone answers from the last read).
	EXPECT_NO_THROW(fence.CheckFile(old_primary, segment(1, 4))) << "the old primary's backlog before the fork";
	EXPECT_TRUE(fence.Refuses(old_primary, segment(1, 5))) << "holds WAL past the fork";
	EXPECT_TRUE(fence.Refuses(old_primary, segment(1, 7)));
	try {
		fence.CheckFile(old_primary, segment(1, 7));
		ADD_FAILURE() << "not refused";
	} catch (const WalFenced &e) {
		EXPECT_NE(std::string(e.what()).find("timeline 2 in the repository forked off timeline 1 at 0/5000100"),
				  std::string::npos)
			<< e.what();
		EXPECT_NE(e.hint().find("wal/00000002.history"), std::string::npos) << e.hint();
	}
	// A later promotion off timeline 1 (its standby, promoted after timeline 2's server
	// died) is the newest line, as PostgreSQL's latest would replay: its history file is
	// stored, never refused (the earliest fork used to win and fenced the live leader).
	TimelineLineage later = Lineage(3, {{1, 9 * kSeg}});
	EXPECT_FALSE(fence.Refuses(later, "00000003.history"));
	// The new primary stores its own WAL and the .partial of timeline 1's last segment.
	pgbk::test::WriteFile(dir / "pg_wal/00000002.history", History({{1, 5 * kSeg + 0x100}}));
	TimelineLineage new_primary = LocalLineage(dir / "pg_wal", 2);
	EXPECT_FALSE(fence.Refuses(new_primary, segment(2, 5)));
	EXPECT_FALSE(fence.Refuses(new_primary, segment(1, 5) + ".partial"));
	EXPECT_FALSE(fence.Refuses(new_primary, "00000002.history"));
	EXPECT_FALSE(fence.SupersedingServer(new_primary, 50 * kSeg));
	// Without its history file in pg_wal, the repository's copy serves.
	EXPECT_EQ(fence.ServerLineage(dir / "elsewhere", 2).Describe(), new_primary.Describe());
	EXPECT_THROW(fence.ServerLineage(dir / "elsewhere", 5), Error) << "a timeline nobody has a history of";
	EXPECT_TRUE(fence.SupersedingServer(old_primary, 6 * kSeg));
}

// pgbk wal-push cannot ask the server its timeline: pg_wal's newest history file that
// includes the file's timeline tells.
// A promotion whose history never reached the repository (timeline 3: its server was cut
// off from the store and died) leaves the next promotion to take timeline 4. The fence
// sees 4 at the next file, not at its next full re-read a minute later.
TEST(TimelineFence, ASkippedTimelineIdIsSeenAtOnce)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	TimelineFence fence(repo, kSeg);
	auto segment = [](uint32_t tli, uint64_t segno) { return WalSegmentName(WalSegment{tli, segno}, kSeg); };
	pgbk::test::WriteFile(dir / "00000002.history", History({{1, 5 * kSeg + 0x100}}));
	repo.ArchiveWalFile("00000002.history", dir / "00000002.history", CodecOptions{});
	TimelineLineage on_two = Lineage(2, {{1, 5 * kSeg + 0x100}});
	EXPECT_NO_THROW(fence.CheckFile(on_two, segment(2, 9))) << "timeline 2 is the newest line";
	pgbk::test::WriteFile(dir / "00000004.history", History({{1, 5 * kSeg + 0x100}, {2, 8 * kSeg}}));
	repo.ArchiveWalFile("00000004.history", dir / "00000004.history", CodecOptions{});
	EXPECT_THROW(fence.CheckFile(on_two, segment(2, 9)), WalFenced)
		<< "timeline 2 past 0/8000000 is fenced by timeline 4 at once";
	EXPECT_NO_THROW(fence.CheckFile(on_two, segment(2, 7))) << "its WAL before the fork is not";
}

TEST(TimelineFence, WalPushFindsTheServersLineageInPgWal)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	TimelineFence fence(repo, kSeg);
	auto segment = [](uint32_t tli, uint64_t segno) { return WalSegmentName(WalSegment{tli, segno}, kSeg); };
	pgbk::test::WriteFile(dir / "pg_wal/" + segment(1, 3), "");
	EXPECT_EQ(fence.LineageForFile(dir / "pg_wal", 1).timeline, 1u) << "no history file: the file's own";
	pgbk::test::WriteFile(dir / "00000002.history", History({{1, 5 * kSeg + 0x100}}));
	repo.ArchiveWalFile("00000002.history", dir / "00000002.history", CodecOptions{});
	// An old primary that never saw timeline 2 pushing its WAL past the fork is refused.
	TimelineLineage old_primary = fence.LineageForFile(dir / "pg_wal", 1);
	EXPECT_EQ(old_primary.timeline, 1u);
	EXPECT_NO_THROW(fence.CheckFile(old_primary, segment(1, 4)));
	EXPECT_THROW(fence.CheckFile(old_primary, segment(1, 6)), WalFenced);
	// The new primary pushing timeline 1's last segment as .partial: its lineage is 2's.
	pgbk::test::WriteFile(dir / "pg_wal/00000002.history", History({{1, 5 * kSeg + 0x100}}));
	TimelineLineage new_primary = fence.LineageForFile(dir / "pg_wal", 1);
	EXPECT_EQ(new_primary.timeline, 2u);
	EXPECT_NO_THROW(fence.CheckFile(new_primary, segment(1, 5) + ".partial"));
	EXPECT_THROW(fence.CheckFile(old_primary, segment(1, 5) + ".partial"), WalFenced)
		<< "without timeline 2's history its partial would run to the segment's end";
	// A history file in pg_wal that does not include the file's timeline is not its lineage.
	pgbk::test::WriteFile(dir / "pg_wal/00000004.history", History({{1, 5 * kSeg + 0x100}, {2, 9 * kSeg}}));
	EXPECT_EQ(fence.LineageForFile(dir / "pg_wal", 2).timeline, 4u);
	EXPECT_THROW(fence.LineageForFile(dir / "pg_wal", 3), Error) << "timeline 3 has no history anywhere";
}

// Holes in the archive along the history: on the old timeline up to the segment before
// the switch (the WAL an old primary never archived), and between segments.
TEST(ArchiveContinuity, ReportsEveryHoleAlongTheHistory)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	pgbk::test::WriteFile(dir / "seg", "wal");
	auto store = [&](uint32_t tli, uint64_t segno) {
		repo.ArchiveWalFile(WalSegmentName(WalSegment{tli, segno}, kSeg), dir / "seg", CodecOptions{});
	};
	for (uint64_t segno : {2, 3, 5})
		store(1, segno);
	store(1, 7); // past the fork: the old primary's, not on the history
	for (uint64_t segno : {7, 8, 10})
		store(2, segno);
	TimelineLineage history = Lineage(2, {{1, 7 * kSeg + 0x100}});
	ArchiveContinuity c = CheckArchiveContinuity(repo, history, WalSegment{1, 2}, kSeg);
	ASSERT_EQ(c.holes.size(), 3u);
	EXPECT_EQ(DescribeHole(c.holes[0], kSeg), "timeline 1: 000000010000000000000004 (1 segment)");
	EXPECT_EQ(DescribeHole(c.holes[1], kSeg), "timeline 1: 000000010000000000000006 (1 segment)")
		<< "the old timeline up to the switch segment";
	EXPECT_EQ(DescribeHole(c.holes[2], kSeg), "timeline 2: 000000020000000000000009 (1 segment)");
	EXPECT_EQ(c.missing_segments, 3u);
	EXPECT_EQ(c.first, "000000010000000000000002");
	EXPECT_EQ(c.last, "00000002000000000000000A");
	// Complete from a later start; a segment of another log directory counts too.
	store(1, 4);
	store(1, 6);
	store(2, 9);
	store(2, 256); // 00000002 00000001 00000000
	for (uint64_t segno = 11; segno < 256; segno++)
		store(2, segno);
	c = CheckArchiveContinuity(repo, history, WalSegment{1, 2}, kSeg);
	EXPECT_EQ(c.hole_count, 0u) << (c.holes.empty() ? "" : DescribeHole(c.holes[0], kSeg));
	EXPECT_EQ(c.last, "000000020000000100000000");
}
