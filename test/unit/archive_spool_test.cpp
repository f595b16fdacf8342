#include "pgbk/archive_spool.hpp"
#include "pgbk/wal_archiver.hpp"

#include "test_util.hpp"

#include <fcntl.h>
#include <filesystem>
#include <sys/file.h>
#include <unistd.h>
#include <gtest/gtest.h>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

std::string
Seg(int i)
{
	return WalSegmentName(WalSegment{1, static_cast<uint64_t>(i)}, 16 << 20);
}

const CodecOptions kCodec{Codec::Zstd, 1};

} // namespace

// An outage: segments go to the spool up to its limit, then the spool refuses; when the
// repository is back each drains there intact and leaves the spool.
TEST(ArchiveSpool, HoldsUpToItsLimitAndDrainsEverythingIntact)
{
	TempDir dir;
	for (int i = 1; i <= 6; i++)
		test::WriteFile(dir / Seg(i), test::RandomBytes(100000, static_cast<uint32_t>(i)));
	test::WriteFile(dir / "00000002.history", "1\t0/5000000\tno recovery target specified\n");
	ArchiveSpool spool(dir / "spool", 450000, nullptr);
	for (int i = 1; i <= 4; i++)
		ASSERT_TRUE(spool.Store(Seg(i), dir / Seg(i), kCodec)) << i;
	EXPECT_FALSE(spool.Store(Seg(5), dir / Seg(5), kCodec)) << "full: 4 random 100 kB segments do not compress";
	EXPECT_TRUE(spool.Store(Seg(4), dir / Seg(4), kCodec)) << "spooled before: no-op";
	EXPECT_EQ(spool.CurrentUsage().files, 4u);
	// Reopened (a restarted archiver) it counts the same.
	ArchiveSpool again(dir / "spool", 450000, nullptr);
	EXPECT_EQ(again.CurrentUsage().files, 4u);
	EXPECT_EQ(again.CurrentUsage().bytes, spool.CurrentUsage().bytes);
	// wal-fetch on the same host finds a spooled segment.
	ASSERT_TRUE(again.Fetch(Seg(2), dir / "fetched"));
	EXPECT_EQ(test::ReadFile(dir / "fetched"), test::ReadFile(dir / Seg(2)));
	EXPECT_FALSE(again.Fetch(Seg(6), dir / "fetched"));
	ASSERT_TRUE(ArchiveSpool::FetchFrom(dir / "spool", nullptr, Seg(3), dir / "fetched")) << "a reader's fetch";
	EXPECT_EQ(test::ReadFile(dir / "fetched"), test::ReadFile(dir / Seg(3)));

	Repository repo(OpenLocalStorage(dir / "repo"));
	std::vector<std::string> order;
	EXPECT_EQ(again.Drain(
				  repo, kCodec, 2, [&](const std::string &name) { order.push_back(name); }, nullptr),
			  4u);
	EXPECT_EQ(order.size(), 4u);
	EXPECT_EQ(again.CurrentUsage().files, 0u);
	EXPECT_EQ(again.CurrentUsage().bytes, 0u);
	for (int i = 1; i <= 4; i++) {
		ASSERT_TRUE(repo.FetchWalFile(Seg(i), dir / "check")) << i;
		EXPECT_EQ(test::ReadFile(dir / "check"), test::ReadFile(dir / Seg(i)));
	}
	EXPECT_TRUE(again.Store(Seg(5), dir / Seg(5), kCodec)) << "room again";
}

// Spooling turned off (pgbk.spool_limit = 0) while the spool holds acknowledged WAL:
// reopened with a limit of 0 it takes nothing more, and what it holds still drains.
TEST(ArchiveSpool, ALimitOfZeroTakesNothingButStillDrains)
{
	TempDir dir;
	for (int i = 1; i <= 3; i++)
		test::WriteFile(dir / Seg(i), test::RandomBytes(100000, static_cast<uint32_t>(i)));
	{
		ArchiveSpool spool(dir / "spool", 1 << 20, nullptr);
		ASSERT_TRUE(spool.Store(Seg(1), dir / Seg(1), kCodec));
		ASSERT_TRUE(spool.Store(Seg(2), dir / Seg(2), kCodec));
	}
	ArchiveSpool off(dir / "spool", 0, nullptr);
	EXPECT_EQ(off.limit(), 0u);
	EXPECT_EQ(off.CurrentUsage().files, 2u);
	EXPECT_FALSE(off.Store(Seg(3), dir / Seg(3), kCodec));
	Repository repo(OpenLocalStorage(dir / "repo"));
	EXPECT_EQ(off.Drain(repo, kCodec, 2, nullptr, nullptr), 2u);
	EXPECT_EQ(ArchiveSpool::UsageOf(dir / "spool").files, 0u);
	ASSERT_TRUE(repo.FetchWalFile(Seg(2), dir / "check"));
	EXPECT_EQ(test::ReadFile(dir / "check"), test::ReadFile(dir / Seg(2)));
	EXPECT_FALSE(off.Store(Seg(3), dir / Seg(3), kCodec)) << "empty, it still takes nothing";
}

// Interrupted drains: a file the repository already holds with identical content (a
// crash after storing, before removing it from the spool) leaves the spool; one it
// holds with other content (another server's) stays, and the conflict is reported.
TEST(ArchiveSpool, ADrainCrashedHalfWayResumesAndAConflictKeepsTheFile)
{
	TempDir dir;
	for (int i = 1; i <= 3; i++)
		test::WriteFile(dir / Seg(i), test::RandomBytes(50000, static_cast<uint32_t>(i)));
	auto ring = Keyring::FromText("6a09e667f3bcc908b2fb1366ea957d3e3adec17512775099da2f590b0667322a");
	ArchiveSpool spool(dir / "spool", 1 << 20, ring);
	for (int i = 1; i <= 3; i++)
		ASSERT_TRUE(spool.Store(Seg(i), dir / Seg(i), kCodec));
	test::WriteFile(dir / "spool/drain-" + Seg(1), "left by a crash");
	Repository repo(OpenLocalStorage(dir / "repo"), ring);
	repo.ArchiveWalFile(Seg(1), dir / Seg(1), kCodec); // stored before the crash
	test::WriteFile(dir / "other", "another server's segment 2");
	repo.ArchiveWalFile(Seg(2), dir / "other", kCodec);
	ArchiveSpool reopened(dir / "spool", 1 << 20, ring);
	EXPECT_TRUE(std::filesystem::exists(dir / "spool/drain-" + Seg(1)))
		<< "opening a spool removes nothing: another process may be draining it";
	EXPECT_THROW(reopened.Drain(repo, kCodec, 1, nullptr, nullptr), WalContentConflict);
	EXPECT_FALSE(std::filesystem::exists(dir / "spool/drain-" + Seg(1))) << "the drain removed the crash's leftover";
	EXPECT_EQ(reopened.CurrentUsage().files, 2u) << "1 left (already stored); 2 conflicts, and nothing after it moves";
	EXPECT_TRUE(reopened.Fetch(Seg(2), dir / "kept")) << "the conflicting file stays spooled";
	EXPECT_EQ(test::ReadFile(dir / "kept"), test::ReadFile(dir / Seg(2)));
}

// The fence (admit) keeps a file in the spool: WAL past a fork never reaches the repository.
TEST(ArchiveSpool, AFileTheFenceRefusesStaysSpooled)
{
	TempDir dir;
	test::WriteFile(dir / Seg(1), "one");
	test::WriteFile(dir / Seg(2), "two");
	ArchiveSpool spool(dir / "spool", 1 << 20, nullptr);
	spool.Store(Seg(1), dir / Seg(1), kCodec);
	spool.Store(Seg(2), dir / Seg(2), kCodec);
	Repository repo(OpenLocalStorage(dir / "repo"));
	auto fence = [&](const std::string &name) {
		if (name == Seg(2))
			throw Error(ErrorKind::Conflict, "past the fork");
	};
	EXPECT_THROW(spool.Drain(repo, kCodec, 1, fence, nullptr), Error);
	EXPECT_TRUE(repo.HasWalFile(Seg(1)));
	EXPECT_FALSE(repo.HasWalFile(Seg(2)));
	EXPECT_EQ(spool.CurrentUsage().files, 1u);
}

// One process drains a spool at a time (the backup worker on a standby, the archiver once
// promoted): a drain that finds another holding the lock moves nothing and removes
// nothing; once the lock is free it drains.
TEST(ArchiveSpool, ADrainWaitsForAnotherProcessDrainingTheSameSpool)
{
	TempDir dir;
	for (int i = 1; i <= 2; i++)
		test::WriteFile(dir / Seg(i), test::RandomBytes(50000, static_cast<uint32_t>(i)));
	ArchiveSpool archiver(dir / "spool", 1 << 20, nullptr);
	for (int i = 1; i <= 2; i++)
		ASSERT_TRUE(archiver.Store(Seg(i), dir / Seg(i), kCodec));
	test::WriteFile(dir / "spool/drain-" + Seg(1), "another process's copy in flight");
	Repository repo(OpenLocalStorage(dir / "repo"));
	{
		// Another process holds the lock (a separate open file description, as flock sees one).
		int other = ::open((dir / "spool/.drain.lock").c_str(), O_RDWR | O_CREAT, 0600);
		ASSERT_GE(other, 0);
		ASSERT_EQ(::flock(other, LOCK_EX | LOCK_NB), 0);
		ArchiveSpool worker(dir / "spool", 0, nullptr);
		EXPECT_EQ(worker.Drain(repo, kCodec, 2, nullptr, nullptr), 0u);
		EXPECT_EQ(worker.CurrentUsage().files, 2u);
		EXPECT_TRUE(std::filesystem::exists(dir / "spool/drain-" + Seg(1))) << "its copy in flight is untouched";
		::close(other);
	}
	ArchiveSpool worker(dir / "spool", 0, nullptr);
	EXPECT_EQ(worker.Drain(repo, kCodec, 2, nullptr, nullptr), 2u);
	EXPECT_EQ(archiver.Drain(repo, kCodec, 2, nullptr, nullptr), 0u);
	EXPECT_EQ(archiver.CurrentUsage().files, 0u) << "the archiver counts again what another process drained";
	for (int i = 1; i <= 2; i++)
		EXPECT_TRUE(repo.HasWalFile(Seg(i))) << i;
}
