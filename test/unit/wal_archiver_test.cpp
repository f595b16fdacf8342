#include "pgbk/wal_archiver.hpp"

#include "test_util.hpp"

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
