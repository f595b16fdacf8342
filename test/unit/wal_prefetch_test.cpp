// WAL prefetch: the spool holds the segments after the one recovery asked for, at most
// the window, taken with a rename; the end of the archive stops it; a damaged segment is
// never spooled (a direct fetch names it); stale and other-timeline entries are pruned.
#include "pgbk/wal_prefetch.hpp"

#include "test_util.hpp"

#include <filesystem>
#include <gtest/gtest.h>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

constexpr uint64_t kSeg = 16 << 20;

std::string
Seg(uint64_t n, uint32_t tli = 1)
{
	return WalSegmentName(WalSegment{tli, n}, kSeg);
}

class PrefetchTest : public ::testing::Test {
protected:
	void
	SetUp() override
	{
		repo_ = std::make_unique<Repository>(OpenLocalStorage(dir_ / "repo"));
		for (uint64_t n = 1; n <= 12; n++) {
			std::string src = dir_ / "src";
			test::WriteFile(src, "segment " + std::to_string(n) + std::string(100000, 'w'));
			repo_->ArchiveWalFile(Seg(n), src, CodecOptions{});
		}
	}
	TempDir dir_;
	std::unique_ptr<Repository> repo_;
};

} // namespace

TEST_F(PrefetchTest, FillsTheWindowAfterTheWantedSegment)
{
	WalSpool spool(dir_ / "spool");
	spool.SetWanted(Seg(2));
	PrefetchRound r = PrefetchOnce(*repo_, spool, 4, 2, kSeg);
	EXPECT_EQ(r.fetched, 4u);
	EXPECT_FALSE(r.reached_end);
	EXPECT_EQ(spool.Segments(), (std::vector<std::string>{Seg(3), Seg(4), Seg(5), Seg(6)}));
	EXPECT_EQ(PrefetchOnce(*repo_, spool, 4, 2, kSeg).fetched, 0u) << "the window is full";

	// Recovery takes 3: a rename, with the content archived.
	std::string dest = dir_ / "RECOVERYXLOG";
	spool.SetWanted(Seg(3));
	ASSERT_TRUE(spool.Take(Seg(3), dest));
	EXPECT_EQ(test::ReadFile(dest).substr(0, 9), "segment 3");
	EXPECT_FALSE(spool.Take(Seg(3), dest)) << "taken once";
	r = PrefetchOnce(*repo_, spool, 4, 2, kSeg);
	EXPECT_EQ(r.fetched, 1u);
	EXPECT_EQ(spool.Segments().back(), Seg(7));
}

TEST_F(PrefetchTest, StopsAtTheEndOfTheArchive)
{
	WalSpool spool(dir_ / "spool");
	spool.SetWanted(Seg(10));
	PrefetchRound r = PrefetchOnce(*repo_, spool, 8, 2, kSeg);
	EXPECT_TRUE(r.reached_end);
	EXPECT_EQ(spool.Segments(), (std::vector<std::string>{Seg(11), Seg(12)}));
	// The archive grows (a standby): the next round fetches the new segment.
	test::WriteFile(dir_ / "src", "segment 13");
	repo_->ArchiveWalFile(Seg(13), dir_ / "src", CodecOptions{});
	EXPECT_EQ(PrefetchOnce(*repo_, spool, 8, 2, kSeg).fetched, 1u);
}

TEST_F(PrefetchTest, ADamagedSegmentIsNeverSpooledAndADirectFetchNamesIt)
{
	std::string key = (dir_ / "repo/") + WalArchiveKey(Seg(5));
	std::string bytes = test::ReadFile(key);
	bytes[bytes.size() / 2] ^= 0x40;
	test::WriteFile(key, bytes);
	WalSpool spool(dir_ / "spool");
	spool.SetWanted(Seg(3));
	PrefetchRound r = PrefetchOnce(*repo_, spool, 4, 2, kSeg);
	EXPECT_EQ(r.failed, 1u);
	EXPECT_EQ(spool.Segments(), (std::vector<std::string>{Seg(4), Seg(6), Seg(7)}));
	try {
		repo_->FetchWalFile(Seg(5), dir_ / "direct");
		ADD_FAILURE() << "a damaged segment was fetched";
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find(Seg(5)), std::string::npos) << e.what();
	}
}

TEST_F(PrefetchTest, PrunesWhatRecoveryIsPastAndOtherTimelines)
{
	WalSpool spool(dir_ / "spool");
	for (const auto &name : {Seg(1), Seg(2), Seg(9), Seg(3, 2)})
		test::WriteFile(spool.dir() + "/" + name, "x");
	spool.Prune(Seg(2), 4, kSeg);
	EXPECT_TRUE(spool.Segments().empty()) << "at or before the wanted one, beyond the window, or another timeline";
	spool.SetWanted(Seg(4));
	PrefetchOnce(*repo_, spool, 2, 1, kSeg);
	spool.Clear();
	EXPECT_FALSE(std::filesystem::exists(spool.dir()));
}
