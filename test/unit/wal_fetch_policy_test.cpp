// What wal-fetch does when the repository does not answer: a standby answers "missing"
// (at once while a recent outage is recorded), archive recovery waits for an answer.
#include "pgbk/wal_fetch_policy.hpp"
#include "pgbk/wal_prefetch.hpp"

#include "test_util.hpp"

#include <filesystem>
#include <gtest/gtest.h>

using namespace pgbk;
using pgbk::test::TempDir;

TEST(WalFetchPolicy, TheModeIsReadFromTheSignalFiles)
{
	TempDir dir;
	EXPECT_EQ(RecoveryModeOf(dir.path()), RecoveryMode::None);
	test::WriteFile(dir / "recovery.signal", "");
	EXPECT_EQ(RecoveryModeOf(dir.path()), RecoveryMode::ArchiveRecovery);
	test::WriteFile(dir / "standby.signal", "");
	EXPECT_EQ(RecoveryModeOf(dir.path()), RecoveryMode::Standby) << "standby.signal wins, as in PostgreSQL";
}

TEST(WalFetchPolicy, AStandbyWaitsOutOneOutageNotOnePerCall)
{
	std::optional<StoreOutage> none;
	StoreOutage seen{1000, "connection refused"};
	EXPECT_FALSE(AnswerMissingDuringOutage(RecoveryMode::Standby, none, 1000, 60)) << "no outage seen: ask";
	EXPECT_TRUE(AnswerMissingDuringOutage(RecoveryMode::Standby, seen, 1001, 60)) << "just seen: answer at once";
	EXPECT_TRUE(AnswerMissingDuringOutage(RecoveryMode::Standby, seen, 1059, 60));
	EXPECT_FALSE(AnswerMissingDuringOutage(RecoveryMode::Standby, seen, 1060, 60)) << "the hold is over: ask again";
	EXPECT_FALSE(AnswerMissingDuringOutage(RecoveryMode::Standby, StoreOutage{2000, ""}, 1000, 60))
		<< "an outage recorded in the future (a clock set back) holds nothing";
	EXPECT_FALSE(RetryAfterOutage(RecoveryMode::Standby)) << "streaming serves a standby";
}

TEST(WalFetchPolicy, ArchiveRecoveryNeverTakesAnOutageForTheEndOfTheArchive)
{
	StoreOutage seen{1000, "timeout"};
	EXPECT_FALSE(AnswerMissingDuringOutage(RecoveryMode::ArchiveRecovery, seen, 1001, 60));
	EXPECT_TRUE(RetryAfterOutage(RecoveryMode::ArchiveRecovery));
	EXPECT_FALSE(AnswerMissingDuringOutage(RecoveryMode::None, seen, 1001, 60));
	EXPECT_FALSE(RetryAfterOutage(RecoveryMode::None)) << "by hand: the error is reported";
}

TEST(WalFetchPolicy, TheOutageRecordRoundTripsAndGoesWithTheSpool)
{
	TempDir dir;
	std::string spool_dir = dir / "pgbk_prefetch";
	WalSpool spool(spool_dir);
	std::string path = spool_dir + "/" + kStoreOutageFile;
	EXPECT_FALSE(ReadStoreOutage(path));
	RecordStoreOutage(path, StoreOutage{1234, "HTTP 503 Slow Down"});
	auto back = ReadStoreOutage(path);
	ASSERT_TRUE(back);
	EXPECT_EQ(back->at, 1234);
	EXPECT_EQ(back->error, "HTTP 503 Slow Down");
	test::WriteFile(path, "garbage");
	EXPECT_FALSE(ReadStoreOutage(path)) << "a damaged record is no outage";
	spool.Clear();
	EXPECT_FALSE(std::filesystem::exists(spool_dir)) << "the spool goes with its outage record";
	ClearStoreOutage(path); // nothing left: no error
}
