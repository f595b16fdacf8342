// Retention planning: properties over random backup histories and policies, and the
// cases operators meet (count, time window, differential count, failed backups).
#include "pgbk/retention.hpp"

#include <gtest/gtest.h>
#include <map>
#include <random>
#include <set>

using namespace pgbk;

namespace {

constexpr uint64_t kSeg = 16 << 20;

// A full backup on `tli` starting in segment `seg` (and ending just after).
BackupRecord
FullBackup(const std::string &label, uint32_t tli, BackupStatus status, int64_t t, uint64_t seg)
{
	BackupRecord b;
	b.label = label;
	b.type = "full";
	b.started_at = t;
	b.status = status;
	b.timeline = tli;
	b.start_lsn = seg * kSeg;
	b.stop_lsn = seg * kSeg + 100;
	b.wal_start = WalSegmentName(WalSegment{tli, seg}, kSeg);
	return b;
}

// A history the way the worker makes one: a diff is relative to the newest complete full,
// an incr to the newest complete backup; without one either becomes a full.
std::vector<BackupRecord>
RandomHistory(std::mt19937 &rng, int n)
{
	std::vector<BackupRecord> out;
	int64_t t = 1767225600;
	uint64_t segno = 1;
	std::string last_full, last_any;
	for (int i = 0; i < n; i++) {
		BackupRecord b;
		t += 3600 * static_cast<int64_t>(1 + rng() % 30);
		segno += 1 + rng() % 5;
		b.started_at = t;
		b.start_lsn = segno * kSeg + 40;
		b.label = MakeBackupLabel(t, BackupType::Full) + std::to_string(i);
		b.wal_start = WalSegmentName(WalSegment{1, segno}, kSeg);
		int kind = static_cast<int>(rng() % 3);
		b.type = kind == 0 ? "full" : kind == 1 ? "diff" : "incr";
		if (b.type == "diff" && !last_full.empty())
			b.prior = last_full;
		else if (b.type == "incr" && !last_any.empty())
			b.prior = last_any;
		else
			b.type = "full";
		int st = static_cast<int>(rng() % 10);
		b.status = st == 0 ? BackupStatus::Failed : BackupStatus::Complete;
		if (i == n - 1 && rng() % 4 == 0)
			b.status = BackupStatus::Incomplete; // still running
		if (b.status == BackupStatus::Complete) {
			last_any = b.label;
			if (b.type == "full")
				last_full = b.label;
		}
		out.push_back(b);
	}
	return out;
}

} // namespace

TEST(Retention, PropertiesHoldOverRandomHistories)
{
	std::mt19937 rng(20261121);
	for (int round = 0; round < 3000; round++) {
		auto history = RandomHistory(rng, 1 + static_cast<int>(rng() % 25));
		RetentionPolicy policy;
		policy.full = static_cast<int>(rng() % 4);
		policy.full_type = rng() % 2 ? RetentionPolicy::FullType::Count : RetentionPolicy::FullType::Time;
		policy.diff = static_cast<int>(rng() % 3);
		int64_t now = history.back().started_at + 3600;
		RetentionPlan plan = PlanRetention(history, policy, now, kSeg);
		SCOPED_TRACE("round " + std::to_string(round));

		std::map<std::string, const BackupRecord *> by_label;
		for (const auto &b : history)
			by_label[b.label] = &b;
		std::set<std::string> expired;
		for (const auto &e : plan.expire) {
			ASSERT_TRUE(by_label.count(e.label));
			EXPECT_TRUE(expired.insert(e.label).second) << "expired twice: " << e.label;
			EXPECT_FALSE(e.reason.empty());
		}
		const BackupRecord *newest_full = nullptr;
		for (const auto &b : history)
			if (b.status == BackupStatus::Complete && b.type == "full")
				newest_full = &b;
		if (newest_full) {
			EXPECT_FALSE(expired.count(newest_full->label)) << "the newest complete full is always kept";
		}
		if (policy.full == 0) {
			EXPECT_TRUE(plan.expire.empty()) << "no policy, no expiry";
		}

		for (const auto &b : history) {
			if (b.status == BackupStatus::Incomplete) {
				EXPECT_FALSE(expired.count(b.label)) << "a running backup is never touched";
			}
			if (expired.count(b.label) || b.status == BackupStatus::Failed)
				continue;
			// A kept backup's whole chain is kept (and so is a running backup's).
			for (std::string p = b.prior; !p.empty(); p = by_label.count(p) ? by_label[p]->prior : "") {
				ASSERT_TRUE(by_label.count(p)) << b.label << " depends on a missing backup";
				EXPECT_FALSE(expired.count(p)) << b.label << " is kept but its prior " << p << " expires";
			}
			// Its WAL is kept (an empty bound removes no WAL at all).
			if (auto kept_from = ParseWalSegmentName(plan.oldest_wal_kept, kSeg)) {
				EXPECT_LE(kept_from->segno, ParseWalSegmentName(b.wal_start, kSeg)->segno);
			} else {
				EXPECT_TRUE(plan.oldest_wal_kept.empty());
			}
		}
		// Dependents go before what they depend on.
		std::set<std::string> gone;
		for (const auto &e : plan.expire) {
			for (const auto &b : history) {
				if (b.prior == e.label && expired.count(b.label)) {
					EXPECT_TRUE(gone.count(b.label)) << b.label << " must be expired before its prior " << e.label;
				}
			}
			gone.insert(e.label);
		}
		// Count policy keeps exactly that many fulls (or all there are).
		if (policy.full > 0 && policy.full_type == RetentionPolicy::FullType::Count) {
			size_t fulls = 0, kept = 0;
			for (const auto &b : history)
				if (b.status == BackupStatus::Complete && b.type == "full") {
					fulls++;
					kept += !expired.count(b.label);
				}
			EXPECT_EQ(kept, std::min<size_t>(fulls, static_cast<size_t>(policy.full)));
		}
		// Time policy keeps every full inside the window.
		if (policy.full > 0 && policy.full_type == RetentionPolicy::FullType::Time) {
			for (const auto &b : history) {
				if (b.status == BackupStatus::Complete && b.type == "full" &&
					b.started_at >= now - policy.full * 86400) {
					EXPECT_FALSE(expired.count(b.label));
				}
			}
		}
	}
}

TEST(Retention, CountKeepsChainsAndOrdersByTimeNotLabel)
{
	auto mk = [](const std::string &label, const std::string &type, const std::string &prior, int64_t t, uint64_t seg) {
		BackupRecord b;
		b.label = label;
		b.type = type;
		b.prior = prior;
		b.started_at = t;
		b.status = BackupStatus::Complete;
		b.wal_start = WalSegmentName(WalSegment{1, seg}, kSeg);
		return b;
	};
	// Labels that sort the wrong way round (a clock reset): time order decides.
	std::vector<BackupRecord> h = {mk("z-full", "full", "", 100, 1), mk("y-incr", "incr", "z-full", 200, 2),
								   mk("b-full", "full", "", 300, 3), mk("a-diff", "diff", "b-full", 400, 4)};
	RetentionPolicy p;
	p.full = 1;
	RetentionPlan plan = PlanRetention(h, p, 500, kSeg);
	ASSERT_EQ(plan.expire.size(), 2u);
	EXPECT_EQ(plan.expire[0].label, "y-incr");
	EXPECT_EQ(plan.expire[1].label, "z-full");
	EXPECT_EQ(plan.oldest_wal_kept, WalSegmentName(WalSegment{1, 3}, kSeg));

	// Differential count: the older diff goes with the incr that depends on it.
	h = {mk("f", "full", "", 100, 1), mk("d1", "diff", "f", 200, 2), mk("i1", "incr", "d1", 300, 3),
		 mk("d2", "diff", "f", 400, 4)};
	p.diff = 1;
	plan = PlanRetention(h, p, 500, kSeg);
	ASSERT_EQ(plan.expire.size(), 2u);
	EXPECT_EQ(plan.expire[0].label, "i1");
	EXPECT_EQ(plan.expire[1].label, "d1");
	EXPECT_EQ(plan.oldest_wal_kept, WalSegmentName(WalSegment{1, 1}, kSeg)) << "the full's WAL stays";
}

// Split brain: after the failover to timeline 2 at segment 5, the former primary kept
// taking backups on timeline 1. With retention 1 they must neither displace the new
// primary's backup nor protect themselves from expiry once older than it.
TEST(Retention, BackupsOffTheAuthoritativeHistoryNeverCount)
{
	auto mk = [](const std::string &label, uint32_t tli, int64_t t, uint64_t seg) {
		return FullBackup(label, tli, BackupStatus::Complete, t, seg);
	};
	TimelineLineage history{2, {{1, 5 * kSeg}}};
	std::vector<BackupRecord> h = {mk("before-fork", 1, 100, 2), mk("new-primary", 2, 200, 6),
								   mk("old-primary", 1, 300, 7), mk("old-primary-2", 1, 400, 9)};
	RetentionPolicy p;
	p.full = 1;
	RetentionPlan plan = PlanRetention(h, p, 500, kSeg, &history);
	ASSERT_EQ(plan.expire.size(), 1u);
	EXPECT_EQ(plan.expire[0].label, "before-fork");
	EXPECT_EQ(plan.oldest_wal_kept, WalSegmentName(WalSegment{2, 6}, kSeg));
	// Without the history the former primary's newest would have been the one kept.
	EXPECT_EQ(PlanRetention(h, p, 500, kSeg).expire.size(), 3u);
	// Once a newer backup exists on the history, the former primary's older ones go.
	h.push_back(mk("new-primary-2", 2, 600, 12));
	plan = PlanRetention(h, p, 700, kSeg, &history);
	ASSERT_EQ(plan.expire.size(), 4u);
	for (const auto &e : plan.expire)
		EXPECT_NE(e.label, "new-primary-2");
	EXPECT_NE(plan.expire[0].reason.find("not on the history of timeline 2"), std::string::npos)
		<< plan.expire[0].reason;
}

TEST(Retention, PriorOfDifferentialAndIncremental)
{
	auto rec = [](const std::string &label, const std::string &type, BackupStatus st, int64_t t, uint32_t tli) {
		BackupRecord b;
		b.label = label;
		b.type = type;
		b.status = st;
		b.started_at = t;
		b.start_lsn = static_cast<Lsn>(t) << 24;
		b.timeline = tli;
		b.pg_version_num = 150008;
		return b;
	};
	std::vector<BackupRecord> none;
	EXPECT_NE(ChoosePrior(none, BackupType::Diff, TimelineLineage{}, 150008).why_full.find("no complete full backup"),
			  std::string::npos);

	std::vector<BackupRecord> h = {rec("A", "full", BackupStatus::Complete, 1, 1),
								   rec("B", "incr", BackupStatus::Complete, 2, 1),
								   rec("C", "full", BackupStatus::Failed, 3, 1)};
	EXPECT_EQ(ChoosePrior(h, BackupType::Diff, TimelineLineage{}, 150008).label, "A"); // the failed full does not count
	EXPECT_EQ(ChoosePrior(h, BackupType::Incr, TimelineLineage{}, 150008).label, "B");
	EXPECT_EQ(ChoosePrior(h, BackupType::Incr, TimelineLineage{}, 150008).start_lsn, Lsn{2} << 24);

	// After a promotion the newest backup is on the old timeline, before the fork: it is
	// on the new primary's history, so the incremental stays incremental.
	for (auto &b : h)
		b.stop_lsn = b.start_lsn + 100;
	TimelineLineage promoted{2, {{1, Lsn{5} << 24}}};
	EXPECT_EQ(ChoosePrior(h, BackupType::Incr, promoted, 150008).label, "B");
	// A backup the old timeline took after the fork (a former primary's) is not.
	TimelineLineage early{2, {{1, (Lsn{2} << 24) + 50}}};
	EXPECT_EQ(ChoosePrior(h, BackupType::Incr, early, 150008).label, "A");
	TimelineLineage before_all{2, {{1, 10}}};
	PriorChoice other = ChoosePrior(h, BackupType::Incr, before_all, 150008);
	EXPECT_TRUE(other.label.empty());
	EXPECT_NE(other.why_full.find("lies on this server's history"), std::string::npos) << other.why_full;
	PriorChoice upgraded = ChoosePrior(h, BackupType::Diff, TimelineLineage{}, 160002);
	EXPECT_TRUE(upgraded.label.empty());
	EXPECT_NE(upgraded.why_full.find("PostgreSQL 15"), std::string::npos) << upgraded.why_full;
}

// A backup left incomplete by a failover holds the WAL floor only while its lease runs.
TEST(Retention, AnExpiredLeaseNoLongerHoldsWal)
{
	auto mk = [](const std::string &label, BackupStatus status, int64_t t, uint64_t seg) {
		return FullBackup(label, 1, status, t, seg);
	};
	std::vector<BackupRecord> h = {mk("interrupted", BackupStatus::Incomplete, 100, 2),
								   mk("complete", BackupStatus::Complete, 200, 6)};
	h[0].lease_expires_at = 1000;
	RetentionPolicy p;
	p.full = 1;
	EXPECT_EQ(PlanRetention(h, p, 900, kSeg).oldest_wal_kept, WalSegmentName(WalSegment{1, 2}, kSeg))
		<< "still being taken: its WAL stays";
	EXPECT_EQ(PlanRetention(h, p, 1001, kSeg).oldest_wal_kept, WalSegmentName(WalSegment{1, 6}, kSeg))
		<< "the lease expired: nobody takes it any more";
	h[0].lease_expires_at = 0; // no lease (an older pgbk): held as before
	EXPECT_EQ(PlanRetention(h, p, 5000, kSeg).oldest_wal_kept, WalSegmentName(WalSegment{1, 2}, kSeg));
}
