// The archive service's policy, driven against an in-memory store with faults: every
// outcome (stored, already present, spooled, dropped, refused and why), the breaker, the
// drain after an outage, a content conflict, the fence, a settings change, and the
// one-shot front end (wal-push) that never spools.
#include "pgbk/archive_service.hpp"
#include "pgbk/wal_archiver.hpp"

#include "memory_storage.hpp"
#include "test_util.hpp"

#include <chrono>
#include <filesystem>
#include <gtest/gtest.h>
#include <thread>

using namespace pgbk;
using pgbk::test::MemoryStorage;
using pgbk::test::MemoryStore;
using pgbk::test::TempDir;

namespace {

constexpr uint64_t kSegmentSize = 1u << 20;
const ClusterIdentity kCluster{7000000000000000001ull, 15};

std::string
Seg(uint64_t segno, uint32_t tli = 1)
{
	return WalSegmentName(WalSegment{tli, segno}, kSegmentSize);
}

// A data directory with a pg_wal, a spool beside it, and an in-memory repository.
struct Fixture {
	TempDir dir;
	std::shared_ptr<MemoryStore> store = std::make_shared<MemoryStore>();
	int opened = 0; // how many times the service opened the repository
	std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now();
	settings::Values values;

	Fixture()
	{
		std::filesystem::create_directories(dir / "pgdata/pg_wal/archive_status");
		Set("pgbk.repository", dir / "repo");
		Set("pgbk.spool_directory", dir / "spool");
		Set("pgbk.compression_level", "1");
	}
	void
	Set(const std::string &name, const std::string &value)
	{
		settings::CheckContext types_only;
		types_only.types_only = true;
		values.Set(name, value, types_only);
	}
	ArchiveEnvironment
	Environment(bool keep_during_outage = true)
	{
		ArchiveEnvironment env;
		env.data_directory = dir / "pgdata";
		env.segment_size = kSegmentSize;
		env.node = NodeIdentity{"0123456789abcdef0123456789abcdef", "test", env.data_directory};
		env.cluster = kCluster;
		env.keep_during_outage = keep_during_outage;
		env.now = [this] { return now; };
		env.open_repository = [this](const settings::Values &) {
			opened++;
			return std::make_unique<Repository>(std::make_unique<MemoryStorage>(store));
		};
		return env;
	}
	// A WAL segment in pg_wal: compressible unless `random`.
	std::string
	Wal(const std::string &name, uint32_t seed, bool random = false)
	{
		std::string content = random ? test::RandomBytes(kSegmentSize, seed) : std::string(kSegmentSize, '\0');
		content.replace(0, 4, reinterpret_cast<const char *>(&seed), 4);
		std::string path = dir / ("pgdata/pg_wal/" + name);
		test::WriteFile(path, content);
		return path;
	}
	ArchiveOutcome
	Archive(ArchiveService &service, const std::string &name, uint32_t seed, bool random = false)
	{
		return service.Archive(name, Wal(name, seed, random), values, 1);
	}
	bool
	InRepository(const std::string &name)
	{
		Repository repo(std::make_unique<MemoryStorage>(store));
		return repo.HasWalFile(name);
	}
	// The same, read without a request (while the store is down).
	bool
	Stored(const std::string &name)
	{
		for (const auto &[key, content] : store->Objects())
			if (key.size() > name.size() && key.ends_with("/" + name))
				return true;
		return false;
	}
	ArchiveSpool::Usage
	Spooled()
	{
		return ArchiveSpool::UsageOf(dir / "spool");
	}
};

// Waits for a condition, up to a generous deadline (the drain runs on its own thread).
template <typename F>
bool
WaitFor(F condition)
{
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
	while (!condition()) {
		if (std::chrono::steady_clock::now() > deadline)
			return false;
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	}
	return true;
}

} // namespace

TEST(ArchiveService, StoresThenFindsIdenticalContentAlreadyPresent)
{
	Fixture f;
	ArchiveService service(f.Environment());
	ArchiveOutcome first = f.Archive(service, Seg(1), 1);
	EXPECT_EQ(first.disposition, ArchiveDisposition::Stored) << first.message;
	EXPECT_TRUE(f.InRepository(Seg(1)));
	ArchiveOutcome again = f.Archive(service, Seg(1), 1);
	EXPECT_EQ(again.disposition, ArchiveDisposition::AlreadyPresent) << again.message;
	EXPECT_TRUE(again.Acknowledged());
	EXPECT_EQ(f.opened, 1);
}

TEST(ArchiveService, AnOutageSpoolsTheBreakerSparesTheStoreAndTheSpoolDrainsWhenItAnswers)
{
	Fixture f;
	ArchiveService service(f.Environment());
	ASSERT_EQ(f.Archive(service, Seg(1), 1).disposition, ArchiveDisposition::Stored);

	f.store->down = true;
	ArchiveOutcome spooled = f.Archive(service, Seg(2), 2);
	ASSERT_EQ(spooled.disposition, ArchiveDisposition::Spooled) << spooled.message;
	EXPECT_TRUE(spooled.first_spooled);
	EXPECT_EQ(spooled.spool.files, 1u);
	EXPECT_NE(spooled.outage.find("did not answer"), std::string::npos) << spooled.outage;
	EXPECT_TRUE(service.RepositoryTakenAsDown());

	// The breaker is open: the next file goes to the spool without a request to the store.
	ArchiveOutcome next = f.Archive(service, Seg(3), 3);
	EXPECT_EQ(next.disposition, ArchiveDisposition::Spooled);
	EXPECT_FALSE(next.first_spooled);
	EXPECT_EQ(next.spool.files, 2u);
	EXPECT_FALSE(f.Stored(Seg(2)));

	// The store answers again: the drain moves what the spool holds, oldest first.
	f.store->down = false;
	ASSERT_TRUE(WaitFor([&] { return f.Spooled().files == 0; })) << "the spool never drained";
	EXPECT_TRUE(f.InRepository(Seg(2)));
	EXPECT_TRUE(f.InRepository(Seg(3)));
	// Once the breaker's time has passed, files are stored directly again.
	f.now += std::chrono::seconds(31);
	EXPECT_EQ(f.Archive(service, Seg(4), 4).disposition, ArchiveDisposition::Stored);
}

TEST(ArchiveService, ASpoolFullWithWaitRefusesAndSaysSo)
{
	Fixture f;
	f.Set("pgbk.spool_limit", "2MB");
	ArchiveService service(f.Environment());
	f.store->down = true;
	// Incompressible segments: the first fits the spool, the second does not.
	ASSERT_EQ(f.Archive(service, Seg(1), 1, true).disposition, ArchiveDisposition::Spooled);
	ArchiveOutcome full = f.Archive(service, Seg(2), 2, true);
	EXPECT_EQ(full.disposition, ArchiveDisposition::Refused);
	EXPECT_EQ(full.cause, RefusalCause::SpoolFull);
	EXPECT_EQ(full.kind, ErrorKind::Io);
	EXPECT_EQ(full.spool.files, 1u);
	EXPECT_NE(full.message.find("is full (1 files"), std::string::npos) << full.message;
	EXPECT_NE(full.hint.find("pgbk.archive_overflow = drop"), std::string::npos) << full.hint;
	EXPECT_EQ(f.Spooled().files, 1u);
}

TEST(ArchiveService, ASpoolFullWithDropAcknowledgesSegmentsAndRecordsOneGap)
{
	Fixture f;
	f.Set("pgbk.spool_limit", "2MB");
	f.Set("pgbk.archive_overflow", "drop");
	ArchiveService service(f.Environment());
	f.store->down = true;
	ASSERT_EQ(f.Archive(service, Seg(1), 1, true).disposition, ArchiveDisposition::Spooled);
	ArchiveOutcome dropped = f.Archive(service, Seg(2), 2, true);
	ASSERT_EQ(dropped.disposition, ArchiveDisposition::Dropped) << dropped.message;
	EXPECT_TRUE(dropped.Acknowledged());
	EXPECT_EQ(dropped.gap.first_wal, Seg(2));
	// The segment before the gap was kept by this service: the gap knows when its WAL began.
	EXPECT_NE(dropped.gap.wal_after, 0);
	ArchiveOutcome more = f.Archive(service, Seg(3), 3, true);
	ASSERT_EQ(more.disposition, ArchiveDisposition::Dropped);
	EXPECT_EQ(more.gap.first_wal, Seg(2));
	EXPECT_EQ(more.gap.last_wal, Seg(3));
	EXPECT_EQ(more.gap.segments, 2u);
	auto ledger = ArchiveGapLedger::ListIn(f.dir / "spool");
	ASSERT_EQ(ledger.size(), 1u);
	EXPECT_EQ(ledger[0].segments, 2u);
	EXPECT_FALSE(f.Stored(Seg(2)));
}

TEST(ArchiveService, OnlySegmentsAreDroppedAHistoryFileWaits)
{
	Fixture f;
	f.Set("pgbk.spool_limit", "0");
	f.Set("pgbk.archive_overflow", "drop");
	ArchiveService service(f.Environment());
	f.store->down = true;
	EXPECT_EQ(f.Archive(service, Seg(1), 1).disposition, ArchiveDisposition::Dropped);
	test::WriteFile(f.dir / "pgdata/pg_wal/00000002.history", "1\t0/500000\tno recovery target specified\n");
	ArchiveOutcome history = service.Archive("00000002.history", f.dir / "pgdata/pg_wal/00000002.history", f.values, 1);
	EXPECT_EQ(history.disposition, ArchiveDisposition::Refused);
	EXPECT_EQ(history.cause, RefusalCause::SpoolOff);
}

TEST(ArchiveService, WithoutASpoolAnOutageRefusesAndKeepsNothing)
{
	Fixture f;
	f.Set("pgbk.spool_limit", "0");
	ArchiveService service(f.Environment());
	f.store->down = true;
	ArchiveOutcome out = f.Archive(service, Seg(1), 1);
	EXPECT_EQ(out.disposition, ArchiveDisposition::Refused);
	EXPECT_EQ(out.cause, RefusalCause::SpoolOff);
	EXPECT_NE(out.message.find("the spool is off (pgbk.spool_limit = 0)"), std::string::npos) << out.message;
	EXPECT_FALSE(std::filesystem::exists(f.dir / "spool/wal"));
}

TEST(ArchiveService, AContentConflictStopsArchivingUntilResumed)
{
	Fixture f;
	ArchiveService service(f.Environment());
	ASSERT_EQ(f.Archive(service, Seg(1), 1).disposition, ArchiveDisposition::Stored);
	// The same name with other content: another server writes this history.
	ArchiveOutcome conflict = f.Archive(service, Seg(1), 99);
	EXPECT_EQ(conflict.disposition, ArchiveDisposition::Refused);
	EXPECT_EQ(conflict.cause, RefusalCause::ContentConflict);
	EXPECT_EQ(conflict.kind, ErrorKind::Conflict);
	EXPECT_TRUE(ArchiveStopReason(f.dir / "pgdata").has_value());
	// Every file after it is refused, without a request, until a superuser resumes.
	int before = f.store->operations;
	ArchiveOutcome stopped = f.Archive(service, Seg(2), 2);
	EXPECT_EQ(stopped.cause, RefusalCause::Stopped);
	EXPECT_NE(stopped.hint.find("pgbk_archive_resume()"), std::string::npos) << stopped.hint;
	EXPECT_EQ(f.store->operations, before);
	ASSERT_TRUE(ResumeArchiving(f.dir / "pgdata").has_value());
	EXPECT_EQ(f.Archive(service, Seg(2), 2).disposition, ArchiveDisposition::Stored);
}

TEST(ArchiveService, WalPastAForkThatSupersededThisServerIsFenced)
{
	Fixture f;
	ArchiveService service(f.Environment());
	ASSERT_EQ(f.Archive(service, Seg(1), 1).disposition, ArchiveDisposition::Stored);
	// Another server promoted at 0/300000 (the start of segment 3 with 1 MB segments) and
	// archived its history file.
	{
		test::WriteFile(f.dir / "00000002.history", "1\t0/300000\tno recovery target specified\n");
		Repository repo(std::make_unique<MemoryStorage>(f.store));
		repo.ArchiveWalFile("00000002.history", f.dir / "00000002.history", CodecOptions{});
	}
	// Before the fork: still this server's to store. Past it: refused, every time.
	EXPECT_EQ(f.Archive(service, Seg(2), 2).disposition, ArchiveDisposition::Stored);
	ArchiveOutcome fenced = f.Archive(service, Seg(4), 4);
	EXPECT_EQ(fenced.disposition, ArchiveDisposition::Refused);
	EXPECT_EQ(fenced.cause, RefusalCause::Fenced);
	EXPECT_FALSE(f.Stored(Seg(4)));
	// Fenced is not a conflict: archiving is not stopped.
	EXPECT_FALSE(ArchiveStopReason(f.dir / "pgdata").has_value());
	// And not while the repository is away either: the spool never takes it.
	f.store->down = true;
	f.now += std::chrono::seconds(1);
	ArchiveOutcome away = f.Archive(service, Seg(5), 5);
	EXPECT_EQ(away.cause, RefusalCause::Fenced) << away.message;
	EXPECT_EQ(f.Spooled().files, 0u);
}

TEST(ArchiveService, ASettingsChangeReopensTheRepository)
{
	Fixture f;
	ArchiveService service(f.Environment());
	ASSERT_EQ(f.Archive(service, Seg(1), 1).disposition, ArchiveDisposition::Stored);
	ASSERT_EQ(f.Archive(service, Seg(2), 2).disposition, ArchiveDisposition::Stored);
	EXPECT_EQ(f.opened, 1);
	f.Set("pgbk.repository", f.dir / "elsewhere");
	ASSERT_EQ(f.Archive(service, Seg(3), 3).disposition, ArchiveDisposition::Stored);
	EXPECT_EQ(f.opened, 2);
	// A setting that does not open the repository leaves it open.
	f.Set("pgbk.compression_level", "5");
	ASSERT_EQ(f.Archive(service, Seg(4), 4).disposition, ArchiveDisposition::Stored);
	EXPECT_EQ(f.opened, 2);
}

TEST(ArchiveService, AForeignRepositoryIsRefusedAndCheckedAgain)
{
	Fixture f;
	{
		Repository other(std::make_unique<MemoryStorage>(f.store));
		other.CheckOrInit(ClusterIdentity{42, 15});
	}
	ArchiveService service(f.Environment());
	ArchiveOutcome out = f.Archive(service, Seg(1), 1);
	EXPECT_EQ(out.cause, RefusalCause::Failed);
	EXPECT_EQ(out.kind, ErrorKind::Conflict);
	EXPECT_FALSE(f.InRepository(Seg(1)));
	// Not an outage: nothing spooled.
	EXPECT_EQ(f.Spooled().files, 0u);
	// Checked again on the next file (not taken as checked once it failed).
	EXPECT_EQ(f.Archive(service, Seg(1), 1).kind, ErrorKind::Conflict);
}

TEST(ArchiveService, TheOneShotFrontEndNeverSpoolsOrDrops)
{
	Fixture f;
	f.Set("pgbk.archive_overflow", "drop");
	ArchiveService service(f.Environment(false));
	f.store->down = true;
	ArchiveOutcome out = f.Archive(service, Seg(1), 1);
	EXPECT_EQ(out.disposition, ArchiveDisposition::Refused);
	EXPECT_EQ(out.cause, RefusalCause::SpoolOff);
	EXPECT_EQ(out.kind, ErrorKind::Io);
	EXPECT_EQ(f.Spooled().files, 0u);
	EXPECT_TRUE(ArchiveGapLedger::ListIn(f.dir / "spool").empty());
	// No breaker: the next call tries the store again.
	f.store->down = false;
	EXPECT_EQ(f.Archive(service, Seg(1), 1).disposition, ArchiveDisposition::Stored);
}
