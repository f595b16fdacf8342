// Point-in-time targets: parsing and refusal of bad input, the settings written for
// PostgreSQL, and which backup a target picks (or why none can reach it).
#include "pgbk/recovery_target.hpp"

#include <gtest/gtest.h>

using namespace pgbk;
using K = RecoveryTarget::Kind;

namespace {

std::string
ConfigError(RecoveryTarget t)
{
	try {
		ValidateRecoveryTarget(t);
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Config);
		return e.what();
	}
	return "";
}

BackupRecord
Backup(const std::string &label, int64_t stop_time, Lsn stop_lsn, uint64_t next_xid)
{
	BackupRecord b;
	b.label = label;
	b.status = BackupStatus::Complete;
	b.started_at = stop_time - 10;
	b.stop_time_us = stop_time * 1000000;
	b.finished_at = stop_time + 5;
	b.stop_lsn = stop_lsn;
	b.next_xid = next_xid;
	return b;
}

} // namespace

TEST(RecoveryTarget, TimesNeedAZoneAndMeanOneInstant)
{
	int64_t utc = ParseTargetTime("2026-11-21 10:15:00+00");
	EXPECT_EQ(utc, int64_t{1795256100} * 1000000);
	EXPECT_EQ(ParseTargetTime("2026-11-21T10:15:00Z"), utc);
	EXPECT_EQ(ParseTargetTime("2026-11-21 11:15:00+01:00"), utc);
	EXPECT_EQ(ParseTargetTime("2026-11-21 05:45:00-0430"), utc);
	EXPECT_EQ(ParseTargetTime("2026-11-21 10:15:00.25 UTC"), utc + 250000);
	EXPECT_EQ(FormatTargetTimeUtc(utc + 250000), "2026-11-21 10:15:00.250000+00");
	for (const char *bad : {"2026-11-21 10:15:00", "yesterday", "2026-11-21", "2026-13-01 00:00:00+00",
							"2026-02-30 00:00:00+00", "2026-11-21 10:15:00 CET", "2026-11-21 10:15:00+1"}) {
		RecoveryTarget t;
		t.kind = K::Time;
		t.value = bad;
		std::string why = ConfigError(t);
		EXPECT_NE(why.find("--target-time"), std::string::npos) << bad << ": " << why;
		EXPECT_NE(why.find("2026-11-21 10:15:00+00"), std::string::npos) << "the fix is shown: " << why;
	}
}

TEST(RecoveryTarget, BadTargetsAreRefusedNamingTheOption)
{
	RecoveryTarget lsn;
	lsn.kind = K::Lsn;
	lsn.value = "16B3748";
	EXPECT_NE(ConfigError(lsn).find("--target-lsn"), std::string::npos);
	RecoveryTarget xid;
	xid.kind = K::Xid;
	xid.value = "-5";
	EXPECT_NE(ConfigError(xid).find("--target-xid"), std::string::npos);
	xid.value = "99999999999999999999"; // 20 digits past 2^64: refused, not std::out_of_range
	EXPECT_NE(ConfigError(xid).find("--target-xid"), std::string::npos);
	RecoveryTarget name;
	name.kind = K::Name;
	name.value = std::string(64, 'n');
	EXPECT_NE(ConfigError(name).find("--target-name"), std::string::npos);
	RecoveryTarget incl;
	incl.kind = K::Name;
	incl.value = "before_delete";
	incl.inclusive = false;
	EXPECT_NE(ConfigError(incl).find("--target-inclusive"), std::string::npos);
	RecoveryTarget action;
	action.kind = K::Immediate;
	action.action = "stop";
	EXPECT_NE(ConfigError(action).find("promote, pause or shutdown"), std::string::npos);
	RecoveryTarget no_target;
	no_target.action = "pause";
	EXPECT_NE(ConfigError(no_target).find("needs a target"), std::string::npos);
	RecoveryTarget tl;
	tl.timeline = "newest";
	EXPECT_NE(ConfigError(tl).find("--target-timeline"), std::string::npos);
	tl.timeline = "0";
	EXPECT_NE(ConfigError(tl).find("--target-timeline"), std::string::npos);
}

TEST(RecoveryTarget, SettingsForPostgreSQL)
{
	RecoveryTarget t;
	t.kind = K::Time;
	t.value = "2026-11-21 11:15:00+01";
	t.inclusive = false;
	t.action = "pause";
	t.timeline = "current";
	ValidateRecoveryTarget(t);
	auto s = RecoverySettings(t);
	ASSERT_EQ(s.size(), 4u);
	EXPECT_EQ(s[0], (std::pair<std::string, std::string>{"recovery_target_time", "2026-11-21 10:15:00.000000+00"}));
	EXPECT_EQ(s[1].second, "off");
	EXPECT_EQ(s[2], (std::pair<std::string, std::string>{"recovery_target_action", "pause"}));
	EXPECT_EQ(s[3], (std::pair<std::string, std::string>{"recovery_target_timeline", "current"}));

	RecoveryTarget none;
	ValidateRecoveryTarget(none);
	EXPECT_TRUE(RecoverySettings(none).empty()) << "no target: replay everything, PostgreSQL's defaults";
	RecoveryTarget imm;
	imm.kind = K::Immediate;
	ValidateRecoveryTarget(imm);
	EXPECT_EQ(RecoverySettings(imm)[0], (std::pair<std::string, std::string>{"recovery_target", "immediate"}));
}

TEST(RecoveryTarget, PicksTheNewestBackupThatReachesTheTarget)
{
	std::vector<BackupRecord> backups = {Backup("A", 1000, 0x1000000, 700), Backup("B", 2000, 0x3000000, 900),
										 Backup("C", 3000, 0x5000000, 1200)};
	backups.push_back(Backup("D", 4000, 0x7000000, 1500));
	backups.back().status = BackupStatus::Failed;

	RecoveryTarget t;
	t.kind = K::Time;
	t.value = "1970-01-01 00:41:40+00"; // 2500 s
	ValidateRecoveryTarget(t);
	EXPECT_EQ(SelectBackupForTarget(backups, t, "repo").label, "B");
	t.value = "1970-01-01 00:33:20+00"; // 2000 s: B's stop itself
	ValidateRecoveryTarget(t);
	EXPECT_EQ(SelectBackupForTarget(backups, t, "repo").label, "B");
	t.value = "1970-01-01 00:33:19.999999+00"; // a microsecond before it
	ValidateRecoveryTarget(t);
	EXPECT_EQ(SelectBackupForTarget(backups, t, "repo").label, "A");
	// A backup that recorded no stop time counts from the second after it finished.
	std::vector<BackupRecord> legacy = {Backup("L", 1000, 0x1000000, 700)};
	legacy[0].stop_time_us = 0; // finished_at = 1005
	t.value = "1970-01-01 00:16:45.5+00";
	ValidateRecoveryTarget(t);
	EXPECT_THROW(SelectBackupForTarget(legacy, t, "repo"), Error);
	t.value = "1970-01-01 00:16:46+00";
	ValidateRecoveryTarget(t);
	EXPECT_EQ(SelectBackupForTarget(legacy, t, "repo").label, "L");

	RecoveryTarget lsn;
	lsn.kind = K::Lsn;
	lsn.value = "0/5000000";
	ValidateRecoveryTarget(lsn);
	EXPECT_EQ(SelectBackupForTarget(backups, lsn, "repo").label, "C");

	RecoveryTarget xid;
	xid.kind = K::Xid;
	xid.value = "1000";
	ValidateRecoveryTarget(xid);
	EXPECT_EQ(SelectBackupForTarget(backups, xid, "repo").label, "B");

	RecoveryTarget name;
	name.kind = K::Name;
	name.value = "p";
	ValidateRecoveryTarget(name);
	EXPECT_EQ(SelectBackupForTarget(backups, name, "repo").label, "A") << "the oldest reaches every restore point";
	RecoveryTarget imm;
	imm.kind = K::Immediate;
	ValidateRecoveryTarget(imm);
	EXPECT_EQ(SelectBackupForTarget(backups, imm, "repo").label, "C") << "the newest complete";

	// Before every backup's consistency point: refused, saying what is restorable.
	t.value = "1970-01-01 00:10:00+00";
	ValidateRecoveryTarget(t);
	try {
		SelectBackupForTarget(backups, t, "repo");
		ADD_FAILURE() << "an unreachable target was accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::NotFound);
		EXPECT_NE(
			std::string(e.what()).find("earliest restorable time is 1970-01-01 00:16:40.000000+00 (end of backup A)"),
			std::string::npos)
			<< e.what();
	}
}

// A restore follows the authoritative timeline, the newest promotion (what PostgreSQL's
// latest replays), even when an older branch forked earlier, and refuses backups off its
// history, naming the fork.
TEST(RecoveryTarget, RestoresFollowTheAuthoritativeHistory)
{
	constexpr Lsn seg = 16ull << 20;
	TimelineSet timelines;
	timelines.Add(TimelineLineage{2, {{1, 5 * seg}}}); // a promotion that died at once
	timelines.Add(TimelineLineage{3, {{1, 8 * seg}}}); // the next one, further on: the live leader
	RecoveryTarget latest;
	auto history = RestoreHistory(timelines, latest);
	ASSERT_TRUE(history);
	EXPECT_EQ(history->timeline, 3u);
	RecoveryTarget named;
	named.timeline = "2";
	EXPECT_EQ(RestoreHistory(timelines, named)->timeline, 2u);
	named.timeline = "7";
	EXPECT_THROW(RestoreHistory(timelines, named), Error);
	RecoveryTarget current;
	current.timeline = "current";
	EXPECT_FALSE(RestoreHistory(timelines, current));

	BackupRecord on, off;
	on.label = "20260101-000000F";
	on.timeline = 1;
	on.stop_lsn = 6 * seg; // past the dead branch's fork, before the leader's
	off = on;
	off.label = "20260102-000000F";
	off.stop_lsn = 9 * seg;
	EXPECT_EQ(OffHistoryReason(on, *history), "");
	EXPECT_NE(
		OffHistoryReason(off, *history).find("timeline 3 forked off timeline 1 at 0/8000000, before the backup ended"),
		std::string::npos)
		<< OffHistoryReason(off, *history);
	off.timeline = 2;
	off.stop_lsn = 6 * seg;
	EXPECT_NE(OffHistoryReason(off, *history).find("not on the history of timeline 3 (1 until 0/8000000, then 3)"),
			  std::string::npos)
		<< OffHistoryReason(off, *history);
}
