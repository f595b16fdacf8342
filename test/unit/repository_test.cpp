#include "pgbk/backup.hpp"
#include "pgbk/backup_lease.hpp"
#include "pgbk/s3_client.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/restore.hpp"

#include "test_util.hpp"

#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/time.h>
#include <sys/stat.h>
#include <thread>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

Repository
MakeRepo(const TempDir &dir)
{
	return Repository(OpenLocalStorage(dir / "repo"));
}

} // namespace

TEST(Repository, IdentityIsRecordedAndEnforced)
{
	TempDir dir;
	Repository repo = MakeRepo(dir);
	repo.CheckOrInit(ClusterIdentity{42, 15});
	repo.CheckOrInit(ClusterIdentity{42, 15});
	try {
		repo.CheckOrInit(ClusterIdentity{43, 15});
		FAIL() << "accepted another cluster";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Conflict);
		EXPECT_NE(std::string(e.what()).find("another cluster"), std::string::npos);
	}
	// An upgraded cluster (a new system identifier and major version) is told what to do.
	try {
		repo.CheckOrInit(ClusterIdentity{44, 18});
		FAIL() << "accepted a cluster of another major version";
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("PostgreSQL 15); this cluster is 44, PostgreSQL 18"), std::string::npos)
			<< e.what();
		EXPECT_NE(e.hint().find("pg_upgrade"), std::string::npos) << e.hint();
		EXPECT_NE(e.hint().find("restore --pg-version 15"), std::string::npos) << e.hint();
	}
	EXPECT_THROW(repo.CheckOrInit(ClusterIdentity{42, 16}), Error);
}

TEST(Repository, WalArchiveIsIdempotentAndNeverOverwrites)
{
	TempDir dir;
	Repository repo = MakeRepo(dir);
	std::string name = "000000010000000000000003";
	std::string content = test::RandomBytes(1 << 20, 1) + std::string(15 << 20, '\0');
	test::WriteFile(dir / ("pg_wal/" + name), content);
	CodecOptions zstd{Codec::Zstd, 3};
	EXPECT_EQ(repo.ArchiveWalFile(name, dir / ("pg_wal/" + name), zstd), Repository::ArchiveOutcome::Stored);
	EXPECT_EQ(repo.ArchiveWalFile(name, dir / ("pg_wal/" + name), zstd), Repository::ArchiveOutcome::AlreadyPresent);
	EXPECT_TRUE(repo.HasWalFile(name));

	std::string other = content;
	other[100] ^= 1;
	test::WriteFile(dir / "other", other);
	try {
		repo.ArchiveWalFile(name, dir / "other", zstd);
		FAIL() << "different content accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Conflict);
	}
	ASSERT_TRUE(repo.FetchWalFile(name, dir / "fetched"));
	EXPECT_EQ(test::ReadFile(dir / "fetched"), content) << "stored object must be untouched";
	EXPECT_FALSE(repo.FetchWalFile("000000010000000000000004", dir / "missing"));
	struct stat st;
	EXPECT_NE(::stat((dir / "missing").c_str(), &st), 0);
}

TEST(Repository, HistoryFiles)
{
	TempDir dir;
	Repository repo = MakeRepo(dir);
	test::WriteFile(dir / "00000002.history", "1\t0/3000000\tno recovery target specified\n");
	repo.ArchiveWalFile("00000002.history", dir / "00000002.history", CodecOptions{});
	ASSERT_TRUE(repo.FetchWalFile("00000002.history", dir / "h"));
	EXPECT_EQ(test::ReadFile(dir / "h"), test::ReadFile(dir / "00000002.history"));
}

namespace {

// A small synthetic data directory with the shapes the walk must handle.
void
MakeDataDir(const std::string &pg)
{
	test::WriteFile(pg + "/PG_VERSION", "15\n");
	test::WriteFile(pg + "/postgresql.conf", "port = 5432\n");
	test::WriteFile(pg + "/postmaster.pid", "123\n");
	test::WriteFile(pg + "/global/pg_control", std::string(8192, 'c'));
	test::WriteFile(pg + "/global/1262", test::RandomBytes(8192 * 3, 5));
	test::WriteFile(pg + "/base/5/16384", test::RandomBytes(8192 * 4, 6));
	test::WriteFile(pg + "/base/5/16384_fsm", std::string(8192, 'f'));
	// Larger than the 1 MiB part size used below: stored as 4 parts.
	test::WriteFile(pg + "/base/5/16384.1", test::RandomBytes(3 << 20, 9) + std::string(512 << 10, 'z'));
	test::WriteFile(pg + "/base/5/16390", "unlogged main fork");
	test::WriteFile(pg + "/base/5/16390_init", "");
	test::WriteFile(pg + "/base/5/t3_16400", "temp relation");
	test::WriteFile(pg + "/base/5/pgsql_tmp/pgsql_tmp123.0", "spill");
	test::WriteFile(pg + "/pg_wal/000000010000000000000001", std::string(1000, 'w'));
	test::WriteFile(pg + "/pg_wal/archive_status/000000010000000000000001.ready", "");
	test::WriteFile(pg + "/pg_stat_tmp/global.stat", "stats");
	std::filesystem::create_directories(pg + "/pg_notify");
	test::WriteFile(pg + "/empty_file", "");
}

} // namespace

TEST(BackupRestore, RoundTripOfSyntheticDataDirectory)
{
	TempDir dir;
	std::string pg = dir / "pgdata";
	MakeDataDir(pg);
	Repository repo = MakeRepo(dir);
	repo.CheckOrInit(ClusterIdentity{42, 15});

	BackupStartInfo start;
	start.label = MakeBackupLabel(1790000000, BackupType::Full);
	start.started_at = 1790000000;
	start.start_lsn = 0x3000028;
	start.timeline = 1;
	start.wal_start = "000000010000000000000003";
	start.cluster = ClusterIdentity{42, 15};
	repo.WriteBackupStart(start);
	ManifestHeader h;
	h.label = start.label;
	h.start_lsn = start.start_lsn;
	h.timeline = 1;
	h.part_size = 1 << 20;
	BackupSession session(repo, h);
	BackupOptions opts;
	opts.pgdata = pg;
	opts.parallel = 3;
	int progress_calls = 0;
	BackupCallbacks cb;
	cb.should_cancel = [] { return false; };
	cb.progress = [&](const BackupProgress &) { progress_calls++; };
	session.CopyDataDirectory(opts, cb);
	session.AddFile("backup_label", "START WAL LOCATION: 0/3000028\n", CodecOptions{});

	// Not listed as complete before the marker.
	auto before = repo.ReadBackup(start.label);
	ASSERT_TRUE(before);
	EXPECT_EQ(before->status, BackupStatus::Incomplete);
	EXPECT_THROW(SelectBackup(repo, ""), Error);

	// The WAL wait sees what is archived and times out naming what is missing.
	test::WriteFile(dir / "seg", "wal");
	repo.ArchiveWalFile("000000010000000000000003", dir / "seg", CodecOptions{});
	BackupStopInfo stop;
	stop.stop_lsn = 0x3000100;
	stop.timeline = 1;
	session.WaitForWal(1, start.start_lsn, stop.stop_lsn, 16 << 20, std::chrono::seconds(5), cb, &stop.wal_stop);
	EXPECT_EQ(stop.wal_stop, "000000010000000000000003");
	std::string unused;
	try {
		session.WaitForWal(1, start.start_lsn, 0x4000100, 16 << 20, std::chrono::seconds(0), cb, &unused);
		FAIL();
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Timeout);
		EXPECT_NE(std::string(e.what()).find("000000010000000000000004"), std::string::npos);
	}
	stop.finished_at = 1790000100;
	ManifestTotals totals = session.Complete(stop);
	EXPECT_GT(progress_calls, 0);

	struct stat st0;
	auto done = repo.ReadBackup(start.label);
	ASSERT_TRUE(done);
	EXPECT_EQ(done->status, BackupStatus::Complete);
	EXPECT_EQ(done->files, totals.files);
	// PG_VERSION, postgresql.conf, pg_control, 1262, 16384, 16384.1, 16384_fsm,
	// 16390_init, empty_file, backup_label
	EXPECT_EQ(done->files, 10u);
	std::string data_dir = dir / ("repo/backup/" + start.label + "/data/");
	EXPECT_EQ(::stat((data_dir + "base/5/16384.1#3").c_str(), &st0), 0) << "large file stored in parts";
	EXPECT_NE(::stat((data_dir + "base/5/16384.1#4").c_str(), &st0), 0);

	RestoreOptions ropts;
	ropts.pgdata = dir / "restored";
	ropts.restore_command = "pgbk wal-fetch %f %p";
	ropts.settings = {{"pgbk.repository", "/backups/it's here"}};
	RestoreResult r = RestoreBackup(repo, ropts, nullptr);
	EXPECT_EQ(r.backup.label, start.label);
	std::string out = ropts.pgdata;
	for (const char *f : {"PG_VERSION", "global/pg_control", "global/1262", "base/5/16384", "base/5/16384.1",
						  "base/5/16384_fsm", "base/5/16390_init", "empty_file"})
		EXPECT_EQ(test::ReadFile(out + "/" + f), test::ReadFile(pg + "/" + f)) << f;
	struct stat st;
	for (const char *absent : {"postmaster.pid", "base/5/16390", "base/5/t3_16400", "base/5/pgsql_tmp",
							   "pg_wal/000000010000000000000001", "pg_stat_tmp/global.stat"})
		EXPECT_NE(::stat((out + "/" + absent).c_str(), &st), 0) << absent << " must not be restored";
	for (const char *present : {"pg_wal/archive_status", "pg_stat_tmp", "pg_notify", "recovery.signal"})
		EXPECT_EQ(::stat((out + "/" + present).c_str(), &st), 0) << present << " must exist";
	EXPECT_NE(test::ReadFile(out + "/postgresql.auto.conf").find("restore_command = 'pgbk wal-fetch %f %p'"),
			  std::string::npos);
	EXPECT_NE(test::ReadFile(out + "/postgresql.auto.conf").find("pgbk.repository = '/backups/it''s here'"),
			  std::string::npos);
	EXPECT_EQ(test::ReadFile(out + "/backup_label"), "START WAL LOCATION: 0/3000028\n");

	// A second restore into a non-empty directory is refused.
	EXPECT_THROW(RestoreBackup(repo, ropts, nullptr), Error);

	// A missing part is detected and named.
	std::string part2 = dir / ("repo/backup/" + start.label + "/data/base/5/16384.1#2");
	std::string saved = test::ReadFile(part2);
	::unlink(part2.c_str());
	ropts.pgdata = dir / "restored_missing_part";
	try {
		RestoreBackup(repo, ropts, nullptr);
		FAIL() << "restore with a missing part succeeded";
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("16384.1#2"), std::string::npos) << e.what();
	}
	test::WriteFile(part2, saved);

	// Damage one stored file: restore fails naming it and leaves no pg_control.
	std::string victim = dir / ("repo/backup/" + start.label + "/data/base/5/16384");
	std::string stored = test::ReadFile(victim);
	stored[20] ^= 0x40;
	test::WriteFile(victim, stored);
	ropts.pgdata = dir / "restored2";
	try {
		RestoreBackup(repo, ropts, nullptr);
		FAIL() << "damaged backup restored";
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("base/5/16384"), std::string::npos) << e.what();
	}
	EXPECT_NE(::stat((ropts.pgdata + "/global/pg_control").c_str(), &st), 0);
}

TEST(BackupRestore, CancelStopsTheCopy)
{
	TempDir dir;
	std::string pg = dir / "pgdata";
	MakeDataDir(pg);
	Repository repo = MakeRepo(dir);
	ManifestHeader h;
	h.label = "20260101-000000F";
	BackupSession session(repo, h);
	BackupOptions opts;
	opts.pgdata = pg;
	opts.file_delay = std::chrono::milliseconds(50);
	BackupCallbacks cb;
	cb.should_cancel = [] { return true; };
	try {
		session.CopyDataDirectory(opts, cb);
		FAIL();
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Cancelled);
	}
}

TEST(BackupRestore, UnknownLabelListsAvailable)
{
	TempDir dir;
	Repository repo = MakeRepo(dir);
	try {
		SelectBackup(repo, "nope");
		FAIL();
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("no complete backup"), std::string::npos);
	}
}

TEST(Labels, UniqueAndIncreasing)
{
	EXPECT_EQ(MakeBackupLabel(1790000000, BackupType::Full), "20260921-141320F"); // 2026-09-21 14:13:20 UTC
	EXPECT_EQ(NextBackupLabel(1790000000, "", BackupType::Full), "20260921-141320F");
	EXPECT_EQ(NextBackupLabel(1790000000, "20260921-141320F", BackupType::Full), "20260921-141321F");
	// The clock went back: still after the newest label.
	EXPECT_EQ(NextBackupLabel(1790000000, "20270101-000000F", BackupType::Full), "20270101-000001F");
	EXPECT_EQ(NextBackupLabel(1790000005, "20260921-141320F", BackupType::Full), "20260921-141325F");
	// Another job kind's letter: the same order, shared with the backups' labels.
	EXPECT_EQ(NextLabel(1790000000, "20260921-141320F", 'L'), "20260921-141321L");
	EXPECT_EQ(NextBackupLabel(1790000000, "20260921-141321L", BackupType::Incr), "20260921-141322I");
}

TEST(Repository, BackupWalRangeUsesTheClusterSegmentSize)
{
	BackupRecord b;
	b.label = "20260101-000000F";
	b.wal_start = "000000010000000000000003";
	b.wal_stop = "000000010000000100000001";
	std::vector<std::string> names;
	ForEachBackupWalSegment(b, 1ull << 30, [&](const std::string &n) { names.push_back(n); });
	EXPECT_EQ(names, (std::vector<std::string>{"000000010000000000000003", "000000010000000100000000",
											   "000000010000000100000001"}));
	b.wal_stop = "000000020000000000000004"; // another timeline
	EXPECT_THROW(ForEachBackupWalSegment(b, 16 << 20, [](const std::string &) {}), Error);
	b.wal_stop = "";
	EXPECT_THROW(ForEachBackupWalSegment(b, 16 << 20, [](const std::string &) {}), Error);
}

// The lease of a backup being taken is written at once, renewed while it runs, and read
// back with the record; it stops being renewed when its holder goes.
TEST(BackupLease, WrittenRenewedAndReadBack)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	BackupStartInfo info;
	info.label = "20260101-000000F";
	info.started_at = 100;
	info.timeline = 1;
	info.wal_start = "000000010000000000000002";
	repo.WriteBackupStart(info);
	EXPECT_EQ(repo.ReadBackup(info.label)->lease_expires_at, 0) << "no lease yet";
	int64_t expires = 0;
	{
		BackupLease lease(repo, info.label, "node-a:/data", std::chrono::seconds(600), std::chrono::milliseconds(20));
		BackupRecord b = *repo.ReadBackup(info.label);
		EXPECT_EQ(b.lease_holder, "node-a:/data");
		EXPECT_GE(b.lease_expires_at, static_cast<int64_t>(time(nullptr)) + 590);
		EXPECT_FALSE(LeaseExpired(b, static_cast<int64_t>(time(nullptr))));
		EXPECT_EQ(b.lease_term, 600);
		EXPECT_GT(b.lease_written_at, 0) << "the store's time of its last write (the file's modification time)";
		EXPECT_FALSE(LeaseExpired(b, b.lease_expires_at + 1)) << "a reader whose clock runs ahead judges nothing";
		BackupRecord later = b;
		later.store_now = b.lease_written_at + 601;
		EXPECT_TRUE(LeaseExpired(later, 0)) << "the store's clock past the last write plus the term";
		// Renewed: the object is rewritten (its modification time moves) while the lease lives.
		std::string key = dir / "repo/backup/20260101-000000F/lease";
		struct stat first {};
		ASSERT_EQ(::stat(key.c_str(), &first), 0);
		auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
		struct stat now {};
		do {
			std::this_thread::sleep_for(std::chrono::milliseconds(5));
			ASSERT_EQ(::stat(key.c_str(), &now), 0);
		} while (now.st_mtim.tv_nsec == first.st_mtim.tv_nsec && now.st_mtim.tv_sec == first.st_mtim.tv_sec &&
				 std::chrono::steady_clock::now() < deadline);
		EXPECT_TRUE(now.st_mtim.tv_nsec != first.st_mtim.tv_nsec || now.st_mtim.tv_sec != first.st_mtim.tv_sec);
		EXPECT_EQ(lease.FailedRenewals(), 0);
		expires = b.lease_expires_at;
	}
	EXPECT_GE(repo.ReadBackup(info.label)->lease_expires_at, expires) << "kept after its holder went, to expire";
	repo.MarkBackupFailed(info.label, "interrupted", 200);
	EXPECT_EQ(repo.ReadBackup(info.label)->status, BackupStatus::Failed);
}

// A lease is judged by the store's clock alone: a holder whose clock runs far ahead cannot
// keep a lapsed lease alive, and one whose clock runs far behind does not lose a fresh one.
TEST(BackupLease, JudgedByTheStoresClockNotTheHolders)
{
	pgbk::test::TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	const int64_t real_now = static_cast<int64_t>(time(nullptr));
	auto start = [&](const std::string &label, int64_t holder_expires_at, int64_t written_ago) {
		BackupStartInfo info;
		info.label = label;
		info.wal_start = "000000010000000000000002";
		repo.WriteBackupStart(info);
		repo.WriteBackupLease(label, "node-x:/data", holder_expires_at, 600);
		std::string key = dir / ("repo/backup/" + label + "/lease");
		struct timeval times[2] = {{static_cast<time_t>(real_now - written_ago), 0},
								   {static_cast<time_t>(real_now - written_ago), 0}};
		ASSERT_EQ(::utimes(key.c_str(), times), 0);
	};
	start("20260101-000000F", real_now + 10 * 365 * 86400, 700); // clock far ahead, last renewed 700 s ago
	start("20260101-000001F", 1, 10); // clock far behind, renewed 10 s ago
	EXPECT_TRUE(LeaseExpired(*repo.ReadBackup("20260101-000000F"), real_now))
		<< "lapsed by the store's clock, whatever its holder wrote";
	EXPECT_FALSE(LeaseExpired(*repo.ReadBackup("20260101-000001F"), real_now))
		<< "fresh by the store's clock, whatever its holder wrote";
	// An older pgbk's lease (no term) still goes by its holder's expiry time.
	BackupRecord older = *repo.ReadBackup("20260101-000001F");
	older.lease_term = 0;
	EXPECT_TRUE(LeaseExpired(older, real_now));
}

TEST(S3Time, LastModifiedIsReadAsS3WritesIt)
{
	EXPECT_EQ(s3::ParseS3Time("2026-12-07T21:15:04.000Z"), 1796678104);
	EXPECT_EQ(s3::ParseS3Time("2026-12-07T21:15:04Z"), 1796678104);
	EXPECT_FALSE(s3::ParseS3Time("2026-12-07 21:15:04Z"));
	EXPECT_FALSE(s3::ParseS3Time("2026-13-07T21:15:04Z"));
	EXPECT_FALSE(s3::ParseS3Time("2026-12-07T21:15:04.0x0Z"));
	EXPECT_FALSE(s3::ParseS3Time(""));
}

TEST(ClusterIdentity, ReadFromADataDirectoryWithoutTheServer)
{
	pgbk::test::TempDir dir;
	uint64_t id = 7441234567890123456ull;
	std::string control(8192, '\0');
	std::memcpy(control.data(), &id, sizeof id);
	pgbk::test::WriteFile(dir / "global/pg_control", control);
	pgbk::test::WriteFile(dir / "PG_VERSION", "15\n");
	ClusterIdentity c = ReadClusterIdentity(dir.path());
	EXPECT_EQ(c.system_identifier, id);
	EXPECT_EQ(c.pg_major, 15);
	pgbk::test::WriteFile(dir / "PG_VERSION", "x\n");
	EXPECT_THROW(ReadClusterIdentity(dir.path()), Error);
	EXPECT_THROW(ReadClusterIdentity(dir / "missing"), Error);
}
