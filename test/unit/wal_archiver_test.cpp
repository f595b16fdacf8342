#include "pgbk/wal_archiver.hpp"

#include "test_util.hpp"

#include <filesystem>
#include <gtest/gtest.h>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

std::string
Seg(int i)
{
	return WalSegmentName(WalSegment{1, static_cast<uint64_t>(i)}, 16 << 20);
}

} // namespace

TEST(WalArchiver, LookAheadStoresEverySegmentOnceInOrder)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	for (int i = 1; i <= 12; i++)
		test::WriteFile(dir / Seg(i), test::RandomBytes(200000, static_cast<uint32_t>(i)));
	WalArchiver archiver(repo, CodecOptions{Codec::Zstd, 1}, 3);
	for (int i = 1; i <= 12; i++) {
		std::vector<std::pair<std::string, std::string>> ahead;
		for (int j = i + 1; j <= 12; j++)
			ahead.emplace_back(Seg(j), dir / Seg(j));
		archiver.Archive(Seg(i), dir / Seg(i), ahead);
		// Acknowledged means durable and intact.
		ASSERT_TRUE(repo.FetchWalFile(Seg(i), dir / "check"));
		EXPECT_EQ(test::ReadFile(dir / "check"), test::ReadFile(dir / Seg(i)));
	}
	EXPECT_EQ(archiver.InFlight(), 0u);
}

TEST(WalArchiver, BackgroundFailureIsRetriedAndReportedByTheCaller)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	test::WriteFile(dir / Seg(1), "one");
	WalArchiver archiver(repo, CodecOptions{}, 2);
	// Segment 2's file is not there yet when the look-ahead tries it.
	archiver.Archive(Seg(1), dir / Seg(1), {{Seg(2), dir / Seg(2)}});
	try {
		archiver.Archive(Seg(2), dir / Seg(2), {});
		FAIL() << "a missing file was acknowledged";
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find(Seg(2)), std::string::npos) << e.what();
	}
	test::WriteFile(dir / Seg(2), "two");
	EXPECT_EQ(archiver.Archive(Seg(2), dir / Seg(2), {}), Repository::ArchiveOutcome::Stored);
	EXPECT_TRUE(repo.HasWalFile(Seg(2)));
}

TEST(WalArchiver, StaleResultsDoNotCloseTheWindow)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	for (int i = 1; i <= 8; i++)
		test::WriteFile(dir / Seg(i), "x" + std::to_string(i));
	WalArchiver archiver(repo, CodecOptions{}, 1); // window of 2
	archiver.Archive(Seg(1), dir / Seg(1), {{Seg(7), dir / Seg(7)}, {Seg(8), dir / Seg(8)}});
	// 7 and 8 finish in the background but are never asked for; later calls still
	// look ahead.
	for (int i = 2; i <= 6; i++) {
		std::vector<std::pair<std::string, std::string>> ahead;
		for (int j = i + 1; j <= 6; j++)
			ahead.emplace_back(Seg(j), dir / Seg(j));
		archiver.Archive(Seg(i), dir / Seg(i), ahead);
	}
	for (int i = 1; i <= 8; i++)
		EXPECT_TRUE(repo.HasWalFile(Seg(i))) << Seg(i);
	EXPECT_LE(archiver.InFlight(), 2u);
}

// After a file is found archived with other content, nothing more is started in the
// background: the conflict comes back to the caller, which stops archiving.
TEST(WalArchiver, ContentConflictStopsTheLookAhead)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	test::WriteFile(dir / "other", "another server's segment 2");
	repo.ArchiveWalFile(Seg(2), dir / "other", CodecOptions{});
	for (int i = 1; i <= 8; i++)
		test::WriteFile(dir / Seg(i), "this server's segment " + std::to_string(i));
	WalArchiver archiver(repo, CodecOptions{}, 1); // one thread: segment 2 goes first
	std::vector<std::pair<std::string, std::string>> ahead;
	for (int j = 2; j <= 8; j++)
		ahead.emplace_back(Seg(j), dir / Seg(j));
	archiver.Archive(Seg(1), dir / Seg(1), ahead);
	EXPECT_THROW(archiver.Archive(Seg(2), dir / Seg(2), {}), WalContentConflict);
	archiver.Archive(Seg(3), dir / Seg(3), {{Seg(4), dir / Seg(4)}}); // the caller may still ask
	for (int j = 5; j <= 8; j++)
		EXPECT_FALSE(repo.HasWalFile(Seg(j))) << Seg(j) << " was stored in the background after the conflict";
}

TEST(WalArchiver, StopFileRoundTrip)
{
	TempDir dir;
	EXPECT_FALSE(ArchiveStopReason(dir.path()));
	EXPECT_FALSE(ResumeArchiving(dir.path()));
	StopArchiving(dir.path(), "WAL file X differs");
	EXPECT_EQ(ArchiveStopReason(dir.path()).value_or(""), "WAL file X differs");
	EXPECT_EQ(ResumeArchiving(dir.path()).value_or(""), "WAL file X differs");
	EXPECT_FALSE(ArchiveStopReason(dir.path()));
}

TEST(WalArchiver, AcknowledgedMeansDoneOrRemovedAfterDone)
{
	TempDir dir;
	std::filesystem::create_directories(dir / "pg_wal/archive_status");
	test::WriteFile(dir / ("pg_wal/" + Seg(1)), "x");
	EXPECT_FALSE(WalFileAcknowledged(dir / "pg_wal", Seg(1))) << "still being written";
	test::WriteFile(dir / ("pg_wal/archive_status/" + Seg(1) + ".ready"), "");
	EXPECT_FALSE(WalFileAcknowledged(dir / "pg_wal", Seg(1))) << "waiting for the archiver";
	std::filesystem::rename(dir / ("pg_wal/archive_status/" + Seg(1) + ".ready"),
							dir / ("pg_wal/archive_status/" + Seg(1) + ".done"));
	EXPECT_TRUE(WalFileAcknowledged(dir / "pg_wal", Seg(1)));
	std::filesystem::remove(dir / ("pg_wal/archive_status/" + Seg(1) + ".done"));
	std::filesystem::remove(dir / ("pg_wal/" + Seg(1)));
	EXPECT_TRUE(WalFileAcknowledged(dir / "pg_wal", Seg(1))) << "removed, which PostgreSQL does only after .done";
}

// The look-ahead keeps memory to what it returns and reads the directory once per many
// segments, in the archiver's order (history files first).
TEST(WalArchiver, ReadyAfterUsesOneScanForManySegments)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	std::filesystem::create_directories(dir / "pg_wal/archive_status");
	auto ready = [&](const std::string &n) { test::WriteFile(dir / ("pg_wal/archive_status/" + n + ".ready"), ""); };
	for (int i = 1; i <= 40; i++)
		ready(Seg(i));
	ready("00000002.history");
	auto top = WalArchiver::ListReady(dir / "pg_wal", Seg(1), 3);
	ASSERT_EQ(top.size(), 3u);
	EXPECT_EQ(top[0].first, "00000002.history");
	EXPECT_EQ(top[1].first, Seg(2));
	EXPECT_EQ(top[2].first, Seg(3));
	std::filesystem::remove(dir / "pg_wal/archive_status/00000002.history.ready");

	WalArchiver archiver(repo, CodecOptions{}, 1);
	auto first = archiver.ReadyAfter(dir / "pg_wal", Seg(1), 2);
	ASSERT_EQ(first.size(), 2u);
	EXPECT_EQ(first[0].first, Seg(2));
	// A new name that sorts early appears only at the next scan: the cached one is used.
	ready(Seg(0));
	std::filesystem::rename(dir / ("pg_wal/archive_status/" + Seg(2) + ".ready"),
							dir / ("pg_wal/archive_status/" + Seg(2) + ".done"));
	auto next = archiver.ReadyAfter(dir / "pg_wal", Seg(2), 2);
	ASSERT_EQ(next.size(), 2u);
	EXPECT_EQ(next[0].first, Seg(3));
	EXPECT_EQ(next[1].first, Seg(4));
	auto near_end = archiver.ReadyAfter(dir / "pg_wal", Seg(39), 2);
	ASSERT_EQ(near_end.size(), 1u) << "rescanned when fewer than asked remain";
	EXPECT_EQ(near_end[0].first, Seg(40));
}
