#include "pgbk/archive_gaps.hpp"
#include "pgbk/continuity.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

constexpr uint64_t kSeg = 16 << 20;

std::string
Seg(uint64_t i, uint32_t tli = 1)
{
	return WalSegmentName(WalSegment{tli, i}, kSeg);
}

BackupRecord
Backup(const std::string &label, uint64_t start_seg, uint64_t stop_seg, int64_t stop_time)
{
	BackupRecord b;
	b.label = label;
	b.status = BackupStatus::Complete;
	b.timeline = 1;
	b.start_lsn = start_seg * kSeg + 40;
	b.stop_lsn = stop_seg * kSeg + 4000;
	b.wal_start = Seg(start_seg);
	b.wal_stop = Seg(stop_seg);
	b.stop_time_us = stop_time * 1000000;
	b.finished_at = stop_time;
	return b;
}

RecoveryTarget
Target(RecoveryTarget::Kind kind, const std::string &value)
{
	RecoveryTarget t;
	t.kind = kind;
	t.value = value;
	ValidateRecoveryTarget(t);
	return t;
}

} // namespace

// Consecutive drops make one gap; a stored segment in between starts a new one; a drop
// seen twice (the archiver retried after a crash) counts once; each change is on disk
// for the next process to read.
TEST(ArchiveGapLedger, ConsecutiveDropsMakeOneGapAndEveryChangeIsDurable)
{
	TempDir dir;
	ArchiveGapLedger ledger(dir / "spool", "host:/data");
	ArchiveGap g = ledger.RecordDropped(Seg(10), kSeg, 1000, 990);
	EXPECT_EQ(g.segments, 1u);
	ledger.RecordDropped(Seg(11), kSeg, 1010, 0);
	ledger.RecordDropped(Seg(11), kSeg, 1011, 0); // retried
	g = ledger.RecordDropped(Seg(12), kSeg, 1020, 0);
	EXPECT_EQ(g.first_wal, Seg(10));
	EXPECT_EQ(g.last_wal, Seg(12));
	EXPECT_EQ(g.segments, 3u);
	EXPECT_EQ(g.opened_at, 1000);
	EXPECT_EQ(g.wal_after, 990) << "the first drop's bound stays";
	EXPECT_EQ(g.wal_before, 1020);
	ledger.RecordDropped(Seg(20), kSeg, 1100, 1090); // 13..19 were stored
	auto gaps = ArchiveGapLedger::ListIn(dir / "spool"); // another process's view
	ASSERT_EQ(gaps.size(), 2u);
	EXPECT_EQ(gaps[0].last_wal, Seg(12));
	EXPECT_EQ(gaps[1].first_wal, Seg(20));
	EXPECT_EQ(ledger.DroppedSegments(), 4u);
	EXPECT_TRUE(ledger.AnyOpen());
	ASSERT_TRUE(ledger.Holding(Seg(11), kSeg));
	EXPECT_FALSE(ledger.Holding(Seg(13), kSeg));
	EXPECT_THROW(ledger.RecordDropped("00000002.history", kSeg, 1, 0), Error) << "only segments are dropped";
}

// A backup covers the gaps that end before it started, not those after; the repository
// gets each gap once per change, under the writer's own key.
TEST(ArchiveGapLedger, ABackupCoversOnlyTheGapsBeforeItAndPublishingIsIdempotent)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	ArchiveGapLedger ledger(dir / "spool", "host-a:/data");
	for (uint64_t i = 10; i <= 12; i++)
		ledger.RecordDropped(Seg(i), kSeg, 1000 + static_cast<int64_t>(i), 0);
	ledger.RecordDropped(Seg(30), kSeg, 2000, 0);
	EXPECT_TRUE(ledger.NeedsPublishing());
	EXPECT_EQ(ledger.Publish(repo), 2u);
	EXPECT_FALSE(ledger.NeedsPublishing());
	EXPECT_EQ(ledger.Publish(repo), 0u) << "nothing changed";

	auto closed = ledger.Cover("20261203T100000I", 1, 20 * kSeg + 40, kSeg, 3000);
	ASSERT_EQ(closed.size(), 1u);
	EXPECT_EQ(closed[0].first_wal, Seg(10));
	EXPECT_TRUE(ledger.Cover("20261203T100000I", 1, 20 * kSeg, kSeg, 3000).empty()) << "covered once";
	EXPECT_EQ(ledger.Publish(repo), 1u) << "the closed gap is written again";

	std::vector<ArchiveGap> stored;
	ListRepositoryGaps(repo, [&](const ArchiveGap &g) { stored.push_back(g); });
	ASSERT_EQ(stored.size(), 2u);
	EXPECT_EQ(stored[0].covered_by, "20261203T100000I");
	EXPECT_EQ(stored[0].closed_at, 3000);
	EXPECT_TRUE(stored[1].Open());
	EXPECT_NE(DescribeGap(stored[0]).find("covered by backup 20261203T100000I"), std::string::npos);

	// Another server that dropped the same first segment writes beside it, never over it.
	ArchiveGapLedger other(dir / "spool-b", "host-b:/data");
	other.RecordDropped(Seg(10), kSeg, 5000, 0);
	other.Publish(repo);
	stored.clear();
	ListRepositoryGaps(repo, [&](const ArchiveGap &g) { stored.push_back(g); });
	EXPECT_EQ(stored.size(), 3u);

	// Retention: gaps wholly before the oldest WAL kept go.
	EXPECT_EQ(RemoveRepositoryGapsBefore(repo, 13, kSeg), 2u);
	stored.clear();
	ListRepositoryGaps(repo, [&](const ArchiveGap &g) { stored.push_back(g); });
	ASSERT_EQ(stored.size(), 1u);
	EXPECT_EQ(stored[0].first_wal, Seg(30));
}

// A damaged record is named, never read as a range.
TEST(ArchiveGapLedger, ADamagedRecordIsRefused)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	PutObject(repo.storage(), "gaps/" + Seg(5) + "-x.json",
			  R"({"timeline":1,"first_wal":"junk","last_wal":"junk","segments":1,"opened_at":1})",
			  CodecOptions{Codec::None, 0}, WriteMode::CreateOnly);
	EXPECT_THROW(ListRepositoryGaps(repo, [](const ArchiveGap &) {}), Error);
}

// Restores against a gap: a target past its start is refused naming both sides; one
// before it, a time before the WAL before it was written, and the catch-up backup after
// it are fine; latest warns where recovery ends.
TEST(ArchiveGaps, ATargetPastAGapIsRefusedNamingWhatCanBeReached)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	test::WriteFile(dir / "seg", "wal");
	for (uint64_t i = 2; i <= 30; i++)
		if (i < 10 || i > 14)
			repo.ArchiveWalFile(Seg(i), dir / "seg", CodecOptions{Codec::None, 0});
	ArchiveGapLedger ledger(dir / "spool", "host:/data");
	for (uint64_t i = 10; i <= 14; i++)
		ledger.RecordDropped(Seg(i), kSeg, 5000 + static_cast<int64_t>(i), 4000);
	ledger.Publish(repo);

	BackupRecord before = Backup("20261203T010000F", 2, 3, 1000);
	BackupRecord after = Backup("20261203T020000I", 20, 21, 6000);
	std::vector<BackupRecord> backups{before, after};
	TimelineLineage history;
	history.timeline = 1;

	auto lsn_past = Target(RecoveryTarget::Kind::Lsn, FormatLsn(12 * kSeg));
	TargetReach r = CheckTargetReachable(repo, before, backups, lsn_past, history, kSeg);
	ASSERT_FALSE(r.refusal.empty());
	EXPECT_NE(r.refusal.find(Seg(10) + " to " + Seg(14)), std::string::npos) << r.refusal;
	EXPECT_NE(r.refusal.find("up to LSN " + FormatLsn(10 * kSeg)), std::string::npos) << r.refusal;
	EXPECT_NE(r.refusal.find("backup 20261203T020000I"), std::string::npos) << "the side after: " << r.refusal;

	EXPECT_TRUE(CheckTargetReachable(repo, before, backups, Target(RecoveryTarget::Kind::Lsn, FormatLsn(9 * kSeg)),
									 history, kSeg)
					.refusal.empty());
	// Times: the WAL before the gap was written until 4000 (unix seconds).
	auto at = [](int64_t t) { return Target(RecoveryTarget::Kind::Time, FormatTargetTimeUtc(t * 1000000)); };
	EXPECT_TRUE(CheckTargetReachable(repo, before, backups, at(3999), history, kSeg).refusal.empty());
	EXPECT_FALSE(CheckTargetReachable(repo, before, backups, at(4001), history, kSeg).refusal.empty());
	EXPECT_TRUE(CheckTargetReachable(repo, after, backups, at(7000), history, kSeg).refusal.empty())
		<< "from the catch-up backup";
	// A backup whose own WAL crosses it is refused whatever the target.
	BackupRecord across = Backup("20261203T013000F", 8, 11, 1500);
	EXPECT_NE(
		CheckTargetReachable(repo, across, backups, RecoveryTarget{}, history, kSeg).refusal.find("cannot be restored"),
		std::string::npos);
	// Latest: restored, with a warning where recovery ends.
	TargetReach latest = CheckTargetReachable(repo, before, backups, RecoveryTarget{}, history, kSeg);
	EXPECT_TRUE(latest.refusal.empty());
	ASSERT_EQ(latest.warnings.size(), 1u);
	EXPECT_NE(latest.warnings[0].find("recovery ends at LSN " + FormatLsn(10 * kSeg)), std::string::npos);
	// A transaction id: its position is unknown, so a warning, not a refusal.
	TargetReach xid =
		CheckTargetReachable(repo, before, backups, Target(RecoveryTarget::Kind::Xid, "1234"), history, kSeg);
	EXPECT_TRUE(xid.refusal.empty());
	EXPECT_EQ(xid.warnings.size(), 1u);
}
