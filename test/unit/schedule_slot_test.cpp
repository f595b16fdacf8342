#include "pgbk/schedule_slot.hpp"
#include "pgbk/settings.hpp"
#include "pgbk/storage_driver.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

using namespace pgbk;
using namespace std::chrono_literals;

TEST(ScheduleSlot, ChoicesFollowTheEnum)
{
	EXPECT_EQ(settings::kBackupStandbyChoices[static_cast<int>(BackupStandby::Off)], "off");
	EXPECT_EQ(settings::kBackupStandbyChoices[static_cast<int>(BackupStandby::Prefer)], "prefer");
	EXPECT_EQ(settings::kBackupStandbyChoices[static_cast<int>(BackupStandby::Only)], "only");
}

TEST(ScheduleSlot, WhoClaimsARun)
{
	NodeRole primary;
	NodeRole standby{true, true, 5s};
	NodeRole lagging{true, true, 300s};
	NodeRole cut_off{true, false, 0s};
	auto action = [](BackupStandby mode, const NodeRole &node) { return PlanScheduledRun(mode, node, 60s).action; };
	EXPECT_EQ(action(BackupStandby::Off, primary), SlotAction::Claim);
	EXPECT_EQ(action(BackupStandby::Off, standby), SlotAction::Leave);
	EXPECT_EQ(action(BackupStandby::Prefer, primary), SlotAction::ClaimAfterGrace);
	EXPECT_EQ(action(BackupStandby::Prefer, standby), SlotAction::Claim);
	EXPECT_EQ(action(BackupStandby::Prefer, lagging), SlotAction::Leave);
	EXPECT_EQ(action(BackupStandby::Prefer, cut_off), SlotAction::Leave);
	EXPECT_EQ(action(BackupStandby::Only, primary), SlotAction::Leave);
	EXPECT_EQ(action(BackupStandby::Only, standby), SlotAction::Claim);
	EXPECT_EQ(action(BackupStandby::Only, lagging), SlotAction::Leave);
	SlotPlan why = PlanScheduledRun(BackupStandby::Prefer, lagging, 60s);
	EXPECT_NE(why.reason.find("replay lag (300 s) is over pgbk.backup_standby_max_lag (60 s)"), std::string::npos)
		<< why.reason;
	EXPECT_NE(ExpectedRunner(BackupStandby::Off, true, 60s).find("the primary"), std::string::npos);
	EXPECT_NE(ExpectedRunner(BackupStandby::Prefer, false, 60s).find("else this server (the primary) after 120 s"),
			  std::string::npos);
	EXPECT_NE(ExpectedRunner(BackupStandby::Only, false, 60s).find("never the primary"), std::string::npos);
}

// A standby's lag is measured on one clock at a time: replay behind the primary by the
// primary's clock, silence by the standby's. Clocks that disagree change nothing.
TEST(ScheduleSlot, StandbyLagNeverComparesTheTwoNodesClocks)
{
	const int64_t hour = 3600LL * 1000000;
	StandbyReplication caught_up;
	caught_up.streaming = true;
	caught_up.replayed_all_received = true;
	caught_up.since_last_message = 5s;
	EXPECT_EQ(StandbyReplayLag(caught_up), 0s);

	// Replay 90 s behind what the primary sent, whatever the standby's clock says.
	StandbyReplication behind = caught_up;
	behind.replayed_all_received = false;
	behind.last_replayed_commit_us = 10 * hour;
	behind.primary_sent_us = 10 * hour + 90LL * 1000000;
	EXPECT_EQ(StandbyReplayLag(behind), 90s);
	// The same primary an hour ahead of or behind the standby: the same lag (the inputs
	// carry no standby time at all).
	StandbyReplication skewed = behind;
	skewed.last_replayed_commit_us += hour;
	skewed.primary_sent_us += hour;
	EXPECT_EQ(StandbyReplayLag(skewed), 90s);
	// Nothing replayed yet: no measure, far behind.
	StandbyReplication fresh = behind;
	fresh.last_replayed_commit_us = 0;
	EXPECT_GT(StandbyReplayLag(fresh), 86400s);

	// Replay caught up with what arrived, but nothing arrived for five minutes: the
	// receiver stalled, and the standby is behind by what it missed beyond the silence an
	// idle primary is allowed.
	StandbyReplication stalled = caught_up;
	stalled.since_last_message = 300s;
	stalled.allowed_silence = 60s;
	EXPECT_EQ(StandbyReplayLag(stalled), 240s);
	EXPECT_EQ(PlanScheduledRun(BackupStandby::Prefer, NodeRole{true, true, StandbyReplayLag(stalled)}, 60s).action,
			  SlotAction::Leave);
	// An idle primary's keepalive gap is no lag.
	stalled.since_last_message = 40s;
	EXPECT_EQ(StandbyReplayLag(stalled), 0s);

	StandbyReplication cut_off = caught_up;
	cut_off.streaming = false;
	EXPECT_GT(StandbyReplayLag(cut_off), 86400s);
}

// Every node of a cluster fires the same slot at the same second: exactly one claim wins,
// and every loser reads who won.
TEST(ScheduleSlot, ExactlyOneNodeClaimsEachSlot)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	const int64_t slot = 1796083200; // 2026-12-01 00:00:00 UTC
	EXPECT_EQ(ScheduleSlotKey("full", slot), "schedule/full/20261201T000000Z");
	std::atomic<int> winners{0};
	std::vector<std::thread> nodes;
	std::vector<std::optional<ScheduleSlotClaim>> seen(8);
	for (int n = 0; n < 8; n++)
		nodes.emplace_back([&, n] {
			ScheduleSlotClaim c{"full", slot, "node" + std::to_string(n) + ":/data", n % 2 == 1, slot + 1};
			if (ClaimScheduleSlot(repo, c, &seen[n]))
				winners++;
		});
	for (auto &t : nodes)
		t.join();
	EXPECT_EQ(winners.load(), 1);
	auto claim = ReadScheduleSlot(repo, "full", slot);
	ASSERT_TRUE(claim);
	for (const auto &s : seen) {
		if (s) {
			EXPECT_EQ(s->holder, claim->holder) << "a loser reads the winner";
		}
	}
	EXPECT_FALSE(ReadScheduleSlot(repo, "incr", slot)) << "slots are per schedule";
	ScheduleSlotClaim incr{"incr", slot, "node9:/data", false, slot};
	EXPECT_TRUE(ClaimScheduleSlot(repo, incr));
	EXPECT_TRUE(ClaimScheduleSlot(repo, ScheduleSlotClaim{"full", slot + 3600, "node1:/data", true, slot}));
	// Expiry keeps recent claims and leaves what is not a claim alone.
	pgbk::test::WriteFile(dir / "repo/schedule/full/notes.txt", "operator's");
	EXPECT_EQ(RemoveScheduleClaimsBefore(repo, slot + 1), 2u);
	EXPECT_FALSE(ReadScheduleSlot(repo, "full", slot));
	EXPECT_TRUE(ReadScheduleSlot(repo, "full", slot + 3600));
	EXPECT_EQ(pgbk::test::ReadFile(dir / "repo/schedule/full/notes.txt"), "operator's");
}

TEST(ScheduleSlot, ADamagedClaimStillHoldsTheSlot)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	pgbk::test::WriteFile(dir / "repo/schedule/full/20261201T000000Z", "{\"type\": 1.5}");
	std::optional<ScheduleSlotClaim> winner;
	EXPECT_FALSE(ClaimScheduleSlot(repo, ScheduleSlotClaim{"full", 1796083200, "n:/d", false, 0}, &winner));
	EXPECT_FALSE(winner);
	EXPECT_THROW(ReadScheduleSlot(repo, "full", 1796083200), Error);
}
