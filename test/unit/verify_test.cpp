#include "pgbk/backup.hpp"
#include "pgbk/restore.hpp"
#include "pgbk/verify.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>
#include <map>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

const char *kKeyA = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
const char *kKeyB = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

// A complete backup of a small data directory (with a file in parts) and its WAL, in a
// plaintext repository or (parameter true) an encrypted one.
class VerifyTest : public ::testing::TestWithParam<bool> {
protected:
	void
	SetUp() override
	{
		std::string pg = dir_ / "pgdata";
		test::WriteFile(pg + "/PG_VERSION", "15\n");
		test::WriteFile(pg + "/global/pg_control", std::string(8192, 'c'));
		test::WriteFile(pg + "/base/5/16384", test::RandomBytes(40000, 1));
		test::WriteFile(pg + "/base/5/16385", test::RandomBytes(3 << 20, 2)); // 3 parts
		repo_ = std::make_unique<Repository>(OpenLocalStorage(dir_ / "repo"),
											 GetParam() ? Keyring::FromText(kKeyA) : nullptr);
		repo_->CheckOrInit(ClusterIdentity{42, 15});
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
	Verify(VerifyResult *result = nullptr)
	{
		std::map<std::string, std::string> problems;
		VerifyResult r = VerifyBackup(*repo_, *repo_->ReadBackup(label_), VerifyOptions{},
									  [&](const VerifyProblem &p) { problems[p.object] = p.problem; });
		if (result)
			*result = r;
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

TEST_P(VerifyTest, IntactBackupHasNoProblem)
{
	EXPECT_TRUE(Verify().empty());
}

TEST_P(VerifyTest, FlippedByteIsNamed)
{
	std::string key = Repository::BackupDataKey(label_, "base/5/16384");
	std::string data = test::ReadFile(Path(key));
	data[100] ^= 0x01;
	test::WriteFile(Path(key), data);
	auto p = Verify();
	ASSERT_EQ(p.size(), 1u);
	EXPECT_TRUE(p.count(key)) << p.begin()->first;
}

TEST_P(VerifyTest, TruncatedAndDeletedObjectsAreNamed)
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

TEST_P(VerifyTest, ObjectCopiedFromAnotherBackupIsNamed)
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
	// Encrypted objects are bound to their name: the copy does not even authenticate.
	EXPECT_NE(p[key].find(GetParam() ? "another name" : "differs from the manifest"), std::string::npos) << p[key];
}

TEST_P(VerifyTest, WalGapIsNamed)
{
	std::string key = WalArchiveKey("000000010000000000000002");
	std::filesystem::remove(Path(key));
	auto p = Verify();
	ASSERT_EQ(p.size(), 1u);
	EXPECT_NE(p[key].find("000000010000000000000002 needed by the backup is missing"), std::string::npos) << p[key];
}

TEST_P(VerifyTest, ManifestThatDoesNotMatchTheMarkerIsNamed)
{
	std::string key = Repository::BackupKey(label_, "manifest");
	std::string data = test::ReadFile(Path(key));
	data[20] ^= 0x01;
	test::WriteFile(Path(key), data);
	auto p = Verify();
	ASSERT_TRUE(p.count(key));
}

// Only an encrypted repository can tell a plaintext object from its own.
class EncryptedVerifyTest : public VerifyTest {};

TEST_P(EncryptedVerifyTest, ReplacedByAPlaintextOrForeignObjectIsNamed)
{
	std::string key = Repository::BackupDataKey(label_, "base/5/16384");
	std::string plain_key = Repository::BackupDataKey(label_, "PG_VERSION");
	// A well-formed plaintext object and one under another key, at the objects' names.
	auto storage = OpenLocalStorage(dir_ / "repo");
	storage->Remove(key);
	PutObject(*storage, key, "forged", CodecOptions{}, WriteMode::CreateOnly);
	storage->Remove(plain_key);
	auto other = Keyring::FromText(kKeyB);
	PutObject(*storage, plain_key, "15\n", CodecOptions{Codec::Zstd, 3, other->current()}, WriteMode::CreateOnly);
	auto p = Verify();
	ASSERT_EQ(p.size(), 2u);
	EXPECT_NE(p[key].find("is not encrypted, but the repository is"), std::string::npos) << p[key];
	EXPECT_NE(p[plain_key].find(other->current()->IdHex()), std::string::npos) << p[plain_key];
	EXPECT_NE(p[plain_key].find("pgbk.encryption_keyring"), std::string::npos) << p[plain_key];
}

INSTANTIATE_TEST_SUITE_P(Encryption, VerifyTest, ::testing::Values(false, true),
						 [](const ::testing::TestParamInfo<bool> &i) { return i.param ? "Encrypted" : "Plain"; });
INSTANTIATE_TEST_SUITE_P(Encryption, EncryptedVerifyTest, ::testing::Values(true),
						 [](const ::testing::TestParamInfo<bool> &) { return "Encrypted"; });

TEST(Encryption, WrongOrMissingKeyIsRefusedUpFront)
{
	TempDir dir;
	Repository encrypted(OpenLocalStorage(dir / "repo"), Keyring::FromText(kKeyA));
	encrypted.CheckOrInit(ClusterIdentity{42, 15});
	auto enc = encrypted.ReadEncryption();
	ASSERT_TRUE(enc && enc->encrypted);
	EXPECT_EQ(enc->key_id, Keyring::FromText(kKeyA)->current()->IdHex());
	std::string pgbk_repo = test::ReadFile(dir / "repo/pgbk.repo");
	EXPECT_EQ(pgbk_repo.find(kKeyA), std::string::npos) << "the key itself is never stored";

	auto expect_config = [](Repository &r, bool writer, const std::string &needle) {
		try {
			r.CheckKeys(writer);
			ADD_FAILURE() << "accepted: " << needle;
		} catch (const Error &e) {
			EXPECT_EQ(e.kind(), ErrorKind::Config);
			EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
		}
	};
	Repository no_key(OpenLocalStorage(dir / "repo"));
	expect_config(no_key, false, "is encrypted");
	Repository wrong(OpenLocalStorage(dir / "repo"), Keyring::FromText(kKeyB));
	expect_config(wrong, false, "wrong encryption key");
	expect_config(wrong, true, "wrong encryption key");

	TempDir plain_dir;
	Repository plain(OpenLocalStorage(plain_dir / "repo"));
	plain.CheckOrInit(ClusterIdentity{42, 15});
	Repository keyed(OpenLocalStorage(plain_dir / "repo"), Keyring::FromText(kKeyA));
	expect_config(keyed, true, "is not encrypted");
}

TEST(Encryption, RotationKeepsOldBackupsReadableAndNamesTheOldKey)
{
	TempDir dir;
	std::string pg = dir / "pgdata";
	test::WriteFile(pg + "/PG_VERSION", "15\n");
	test::WriteFile(pg + "/global/pg_control", std::string(8192, 'c'));
	test::WriteFile(pg + "/base/5/16384", test::RandomBytes(200000, 1));
	auto backup = [&](Repository &repo, const std::string &label, int64_t at, const std::string &seg) {
		BackupStartInfo start;
		start.label = label;
		start.started_at = at;
		start.start_lsn = ParseLsn("0/" + seg.substr(23) + "000028");
		start.timeline = 1;
		start.wal_start = seg;
		repo.WriteBackupStart(start);
		ManifestHeader h;
		h.label = label;
		h.start_lsn = start.start_lsn;
		BackupSession s(repo, h);
		BackupOptions o;
		o.pgdata = pg;
		s.CopyDataDirectory(o, {});
		test::WriteFile(dir / seg, test::RandomBytes(5000, 3));
		repo.ArchiveWalFile(seg, dir / seg, CodecOptions{});
		BackupStopInfo stop;
		stop.stop_lsn = start.start_lsn + 0x100;
		stop.timeline = 1;
		stop.finished_at = at + 10;
		s.WaitForWal(1, start.start_lsn, stop.stop_lsn, 16 << 20, std::chrono::seconds(1), {}, &stop.wal_stop);
		s.Complete(stop);
	};
	{
		Repository a(OpenLocalStorage(dir / "repo"), Keyring::FromText(kKeyA));
		a.CheckOrInit(ClusterIdentity{42, 15});
		backup(a, "20260101-000000F", 1767225600, "000000010000000000000001");
	}
	// Rotate: the new key writes, the old one stays in the keyring.
	Repository b(OpenLocalStorage(dir / "repo"), Keyring::FromText(kKeyB, {kKeyA}));
	b.CheckOrInit(ClusterIdentity{42, 15});
	auto enc = b.ReadEncryption();
	std::string id_a = Keyring::FromText(kKeyA)->current()->IdHex(),
				id_b = Keyring::FromText(kKeyB)->current()->IdHex();
	EXPECT_EQ(enc->key_id, id_b);
	EXPECT_EQ(enc->previous_key_ids, std::vector<std::string>{id_a});
	backup(b, "20260102-000000F", 1767312000, "000000010000000000000002");

	auto backups = b.ListBackups();
	ASSERT_EQ(backups.size(), 2u);
	EXPECT_EQ(backups[0].key_id, id_a);
	EXPECT_EQ(backups[1].key_id, id_b);
	for (const auto &bk : backups) {
		VerifyResult r = VerifyBackup(b, bk, VerifyOptions{},
									  [](const VerifyProblem &p) { ADD_FAILURE() << p.object << ": " << p.problem; });
		EXPECT_EQ(r.problems, 0u);
		ASSERT_EQ(r.keys.size(), 1u);
		EXPECT_EQ(r.keys[0].current, bk.label == "20260102-000000F");
		EXPECT_EQ(r.OldKeys().empty(), bk.label == "20260102-000000F") << r.OldKeys();
	}
	// The old backup restores with the keyring...
	RestoreOptions ro;
	ro.pgdata = dir / "restored";
	ro.label = "20260101-000000F";
	RestoreBackup(b, ro, {});
	EXPECT_EQ(test::ReadFile(dir / "restored/base/5/16384"), test::ReadFile(pg + "/base/5/16384"));
	// ...and without the old key the failure names the key it needs.
	Repository only_b(OpenLocalStorage(dir / "repo"), Keyring::FromText(kKeyB));
	only_b.CheckKeys(true); // the repository's current key is configured
	try {
		only_b.ReadBackup("20260101-000000F");
		ADD_FAILURE() << "an object under a missing key was read";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Config);
		EXPECT_NE(std::string(e.what()).find(id_a), std::string::npos) << e.what();
	}
}
