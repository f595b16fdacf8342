#include "pgbk/backup.hpp"
#include "pgbk/verify.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>
#include <map>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

// A complete backup of a small data directory (with a file in parts) and its WAL.
class VerifyTest : public ::testing::Test {
protected:
	void
	SetUp() override
	{
		std::string pg = dir_ / "pgdata";
		test::WriteFile(pg + "/PG_VERSION", "15\n");
		test::WriteFile(pg + "/global/pg_control", std::string(8192, 'c'));
		test::WriteFile(pg + "/base/5/16384", test::RandomBytes(40000, 1));
		test::WriteFile(pg + "/base/5/16385", test::RandomBytes(3 << 20, 2)); // 3 parts
		repo_ = std::make_unique<Repository>(OpenLocalStorage(dir_ / "repo"));
		label_ = Backup(pg, "20260101-000000F", 1767225600);
	}

	std::string
	Backup(const std::string &pg, const std::string &label, int64_t at)
	{
		BackupStartInfo start;
		start.label = label;
		start.started_at = at;
		start.start_lsn = 0x1000028;
		start.timeline = 1;
		start.wal_start = "000000010000000000000001";
		repo_->WriteBackupStart(start);
		ManifestHeader h;
		h.label = label;
		h.start_lsn = start.start_lsn;
		h.part_size = 1 << 20;
		BackupSession s(*repo_, h);
		BackupOptions o;
		o.pgdata = pg;
		s.CopyDataDirectory(o, {});
		for (const char *seg : {"000000010000000000000001", "000000010000000000000002", "000000010000000000000003"}) {
			test::WriteFile(dir_ / seg, std::string(seg) + test::RandomBytes(1000, 3));
			try {
				repo_->ArchiveWalFile(seg, dir_ / seg, CodecOptions{});
			} catch (const Error &) {
				// archived by the first backup already
			}
		}
		BackupStopInfo stop;
		stop.stop_lsn = 0x3000100;
		stop.timeline = 1;
		stop.finished_at = at + 10;
		s.WaitForWal(1, start.start_lsn, stop.stop_lsn, 16 << 20, std::chrono::seconds(1), {}, &stop.wal_stop);
		s.Complete(stop);
		return label;
	}

	std::map<std::string, std::string>
	Verify()
	{
		std::map<std::string, std::string> problems;
		VerifyBackup(*repo_, *repo_->ReadBackup(label_), VerifyOptions{},
					 [&](const VerifyProblem &p) { problems[p.object] = p.problem; });
		return problems;
	}

	std::string
	Path(const std::string &key)
	{
		return dir_ / ("repo/" + key);
	}

	TempDir dir_;
	std::unique_ptr<Repository> repo_;
	std::string label_;
};

} // namespace

TEST_F(VerifyTest, IntactBackupHasNoProblem)
{
	EXPECT_TRUE(Verify().empty());
}

TEST_F(VerifyTest, FlippedByteIsNamed)
{
	std::string key = Repository::BackupDataKey(label_, "base/5/16384");
	std::string data = test::ReadFile(Path(key));
	data[100] ^= 0x01;
	test::WriteFile(Path(key), data);
	auto p = Verify();
	ASSERT_EQ(p.size(), 1u);
	EXPECT_TRUE(p.count(key)) << p.begin()->first;
}

TEST_F(VerifyTest, TruncatedAndDeletedObjectsAreNamed)
{
	std::string part = Repository::BackupPartKey(label_, "base/5/16385", 1);
	std::string data = test::ReadFile(Path(part));
	test::WriteFile(Path(part), data.substr(0, data.size() / 2));
	std::string gone = Repository::BackupDataKey(label_, "PG_VERSION");
	std::filesystem::remove(Path(gone));
	auto p = Verify();
	ASSERT_EQ(p.size(), 2u);
	EXPECT_NE(p[part].find("truncated"), std::string::npos) << p[part];
	EXPECT_EQ(p[gone], "missing");
}

TEST_F(VerifyTest, ObjectCopiedFromAnotherBackupIsNamed)
{
	// Another backup of different data; copy one of its objects over ours.
	std::string pg2 = dir_ / "pgdata2";
	test::WriteFile(pg2 + "/PG_VERSION", "15\n");
	test::WriteFile(pg2 + "/global/pg_control", std::string(8192, 'd'));
	test::WriteFile(pg2 + "/base/5/16384", test::RandomBytes(40000, 99));
	std::string other = Backup(pg2, "20260102-000000F", 1767312000);
	std::string key = Repository::BackupDataKey(label_, "base/5/16384");
	std::filesystem::copy_file(Path(Repository::BackupDataKey(other, "base/5/16384")), Path(key),
							   std::filesystem::copy_options::overwrite_existing);
	auto p = Verify();
	ASSERT_EQ(p.size(), 1u);
	EXPECT_NE(p[key].find("differs from the manifest"), std::string::npos) << p[key];
}

TEST_F(VerifyTest, WalGapIsNamed)
{
	std::string key = WalArchiveKey("000000010000000000000002");
	std::filesystem::remove(Path(key));
	auto p = Verify();
	ASSERT_EQ(p.size(), 1u);
	EXPECT_NE(p[key].find("000000010000000000000002 needed by the backup is missing"), std::string::npos) << p[key];
}

TEST_F(VerifyTest, ManifestThatDoesNotMatchTheMarkerIsNamed)
{
	std::string key = Repository::BackupKey(label_, "manifest");
	std::string data = test::ReadFile(Path(key));
	data[20] ^= 0x01;
	test::WriteFile(Path(key), data);
	auto p = Verify();
	ASSERT_TRUE(p.count(key));
}
