// S3 client and driver against a real S3-compatible server (radosgw started by
// scripts/test.sh via test/s3/radosgw.sh). Skipped when PGBK_TEST_S3_ENDPOINT is unset.
#include "pgbk/backup.hpp"
#include "pgbk/restore.hpp"
#include "pgbk/s3_client.hpp"

#include "test_util.hpp"

#include <atomic>
#include <cstdlib>
#include <gtest/gtest.h>

using namespace pgbk;

namespace {

const char *
Env(const char *name)
{
	const char *v = std::getenv(name);
	return v && *v ? v : nullptr;
}

class S3Test : public ::testing::Test {
protected:
	void
	SetUp() override
	{
		if (!Env("PGBK_TEST_S3_ENDPOINT"))
			GTEST_SKIP() << "PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)";
		opts_.endpoint = Env("PGBK_TEST_S3_ENDPOINT");
		opts_.region = Env("PGBK_TEST_S3_REGION") ? Env("PGBK_TEST_S3_REGION") : "us-east-1";
		opts_.path_style = true;
		opts_.credentials = {Env("PGBK_TEST_S3_ACCESS_KEY"), Env("PGBK_TEST_S3_SECRET_KEY"), ""};
		opts_.part_size = 5 << 20;
		opts_.retry_budget = std::chrono::seconds(10);
		static std::atomic<int> n{0};
		bucket_ = "pgbk-unit-" + std::to_string(::getpid()) + "-" + std::to_string(n++);
		s3::S3Client(opts_, bucket_).CreateBucket();
	}
	s3::S3Options opts_;
	std::string bucket_;
};

std::string
ReadAll(Storage &s, const std::string &key, uint64_t offset = 0)
{
	auto r = s.OpenRead(key, offset);
	std::string out;
	char buf[100000];
	while (size_t n = r->Read(buf, sizeof buf))
		out.append(buf, n);
	return out;
}

} // namespace

TEST_F(S3Test, ObjectsRoundTripAndCreateOnly)
{
	auto s = OpenS3Storage(opts_, bucket_, "cluster1");
	PutBytes(*s, "a/b c+d", "hello", WriteMode::CreateOnly);
	EXPECT_EQ(s->Size("a/b c+d"), 5u);
	EXPECT_EQ(GetBytes(*s, "a/b c+d"), "hello");
	EXPECT_EQ(ReadAll(*s, "a/b c+d", 3), "lo");
	EXPECT_FALSE(s->Size("missing"));
	try {
		PutBytes(*s, "a/b c+d", "other", WriteMode::CreateOnly);
		FAIL() << "create-only overwrote an object";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::AlreadyExists) << e.what();
	}
	EXPECT_EQ(GetBytes(*s, "a/b c+d"), "hello");
	try {
		s->OpenRead("missing");
		FAIL();
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::NotFound) << e.what();
	}
	PutBytes(*s, "empty", "", WriteMode::Replace);
	EXPECT_EQ(ReadAll(*s, "empty"), "");
	s->Remove("a/b c+d");
	EXPECT_FALSE(s->Size("a/b c+d"));
}

TEST_F(S3Test, MultipartStreamingAndAbort)
{
	auto s = OpenS3Storage(opts_, bucket_, "");
	std::string data = test::RandomBytes(12 << 20, 4) + std::string(3 << 20, 'z'); // 3 parts of 5 MiB
	{
		auto w = s->OpenWrite("big", WriteMode::CreateOnly);
		for (size_t i = 0; i < data.size(); i += 777777)
			w->Write(data.data() + i, std::min<size_t>(777777, data.size() - i));
		w->Commit();
	}
	EXPECT_EQ(s->Size("big"), data.size());
	EXPECT_EQ(ReadAll(*s, "big"), data); // several 8 MiB ranged GETs
	EXPECT_EQ(ReadAll(*s, "big", data.size() - 10), data.substr(data.size() - 10));
	{
		auto w = s->OpenWrite("abandoned", WriteMode::CreateOnly);
		w->Write(data.data(), 6 << 20); // starts a multipart upload
		// destroyed without Commit
	}
	s3::S3Client c(opts_, bucket_);
	EXPECT_TRUE(c.ListMultipartUploads("").empty()) << "an abandoned upload must be aborted";
	EXPECT_FALSE(s->Size("abandoned"));
}

TEST_F(S3Test, ListingPagesAndPrefixes)
{
	auto s = OpenS3Storage(opts_, bucket_, "p");
	std::vector<std::string> keys;
	for (int i = 0; i < 17; i++)
		keys.push_back("backup/l" + std::to_string(i % 3) + "/f" + std::to_string(i));
	for (const auto &k : keys)
		PutBytes(*s, k, "x", WriteMode::Replace);
	PutBytes(*s, "backup.txt", "x", WriteMode::Replace);
	std::vector<std::string> flat, grouped;
	s->List("backup/", true, [&](const ListEntry &e) { flat.push_back(e.key); });
	s->List("backup/", false, [&](const ListEntry &e) { grouped.push_back(e.key + (e.is_prefix ? "(p)" : "")); });
	EXPECT_EQ(flat.size(), 17u);
	EXPECT_TRUE(std::is_sorted(flat.begin(), flat.end()));
	EXPECT_EQ(grouped, (std::vector<std::string>{"backup/l0/(p)", "backup/l1/(p)", "backup/l2/(p)"}));
	// Small pages exercise continuation tokens.
	s3::S3Client c(opts_, bucket_);
	int n = 0;
	c.ListObjects(
		"p/backup/", "", [&](const s3::S3Object &) { n++; }, 4);
	EXPECT_EQ(n, 17);
	s->RemoveMany(flat);
	int left = 0;
	s->List("backup/", true, [&](const ListEntry &) { left++; });
	EXPECT_EQ(left, 0);
}

TEST_F(S3Test, ErrorsAreDistinct)
{
	auto expect_config = [](const std::function<void()> &fn, const std::string &needle) {
		try {
			fn();
			FAIL() << "no error";
		} catch (const Error &e) {
			EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
			EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
		}
	};
	s3::S3Options wrong_secret = opts_;
	wrong_secret.credentials.secret_access_key = "wrong";
	expect_config([&] { s3::S3Client(wrong_secret, bucket_).CheckBucket(); }, "SignatureDoesNotMatch");
	s3::S3Options unknown_key = opts_;
	unknown_key.credentials.access_key_id = "NOSUCHKEY";
	expect_config([&] { s3::S3Client(unknown_key, bucket_).CheckBucket(); }, "InvalidAccessKeyId");
	expect_config([&] { s3::S3Client(opts_, bucket_ + "-missing").CheckBucket(); }, "does not exist");
	s3::S3Options nowhere = opts_;
	nowhere.endpoint = "http://127.0.0.1:1"; // nothing listens
	nowhere.retry_budget = std::chrono::milliseconds(500);
	try {
		s3::S3Client(nowhere, bucket_).CheckBucket();
		FAIL();
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Io);
		EXPECT_NE(std::string(e.what()).find("attempt"), std::string::npos) << e.what();
	}
}

TEST_F(S3Test, BackupAndRestoreThroughS3)
{
	test::TempDir dir;
	std::string pg = dir / "pgdata";
	test::WriteFile(pg + "/PG_VERSION", "15\n");
	test::WriteFile(pg + "/global/pg_control", std::string(8192, 'c'));
	test::WriteFile(pg + "/base/5/16384", test::RandomBytes(3 << 20, 8)); // 3 parts of 1 MiB
	test::WriteFile(pg + "/base/5/16385", test::RandomBytes(5000, 9));
	Repository repo(OpenS3Storage(opts_, bucket_, "cluster"));
	repo.CheckOrInit(ClusterIdentity{7, 15});
	BackupStartInfo start;
	start.label = "20260101-000000F";
	start.started_at = 1767225600;
	start.timeline = 1;
	start.wal_start = "000000010000000000000000";
	start.cluster = ClusterIdentity{7, 15};
	repo.WriteBackupStart(start);
	ManifestHeader h;
	h.label = start.label;
	h.part_size = 1 << 20;
	BackupSession session(repo, h);
	BackupOptions bo;
	bo.pgdata = pg;
	session.CopyDataDirectory(bo, {});
	test::WriteFile(dir / "seg", "wal");
	repo.ArchiveWalFile("000000010000000000000000", dir / "seg", CodecOptions{});
	BackupStopInfo stop;
	stop.stop_lsn = 0x100;
	stop.timeline = 1;
	session.WaitForWal(1, 0, stop.stop_lsn, 16 << 20, std::chrono::seconds(5), {}, &stop.wal_stop);
	session.Complete(stop);

	auto listed = repo.ListBackups();
	ASSERT_EQ(listed.size(), 1u);
	EXPECT_EQ(listed[0].status, BackupStatus::Complete);
	RestoreOptions ro;
	ro.pgdata = dir / "restored";
	RestoreBackup(repo, ro, nullptr);
	for (const char *f : {"PG_VERSION", "global/pg_control", "base/5/16384", "base/5/16385"})
		EXPECT_EQ(test::ReadFile(ro.pgdata + "/" + f), test::ReadFile(pg + "/" + f)) << f;
	ASSERT_TRUE(repo.FetchWalFile("000000010000000000000000", dir / "fetched"));
	EXPECT_EQ(test::ReadFile(dir / "fetched"), "wal");
	EXPECT_EQ(repo.ArchiveWalFile("000000010000000000000000", dir / "seg", CodecOptions{}),
			  Repository::ArchiveOutcome::AlreadyPresent);
}

namespace {
std::atomic<bool> cancel_now{false};
bool
CancelNow()
{
	return cancel_now;
}
} // namespace

TEST_F(S3Test, CancelStopsRetrying)
{
	// Nothing listens: without cancellation this retries for the whole budget.
	s3::S3Options o = opts_;
	o.endpoint = "http://127.0.0.1:1";
	o.retry_budget = std::chrono::seconds(30);
	o.should_cancel = CancelNow;
	cancel_now = true;
	auto start = std::chrono::steady_clock::now();
	try {
		s3::S3Client(o, bucket_).CheckBucket();
		FAIL();
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Cancelled) << e.what();
	}
	EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
	cancel_now = false;
}

TEST_F(S3Test, HttpsThroughAPrivateCa)
{
	if (!Env("PGBK_TEST_S3_TLS_ENDPOINT"))
		GTEST_SKIP() << "no TLS endpoint (scripts/test.sh serves one with a test CA)";
	s3::S3Options tls = opts_;
	tls.endpoint = Env("PGBK_TEST_S3_TLS_ENDPOINT");
	tls.ca_file = Env("PGBK_TEST_S3_CA_FILE");
	auto s = OpenS3Storage(tls, bucket_, "tls");
	PutBytes(*s, "k", "over TLS", WriteMode::CreateOnly);
	EXPECT_EQ(GetBytes(*s, "k"), "over TLS");

	s3::S3Options untrusted = tls;
	untrusted.ca_file.clear(); // the system store does not know the test CA
	try {
		s3::S3Client(untrusted, bucket_).CheckBucket();
		FAIL() << "an untrusted certificate was accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
		EXPECT_NE(std::string(e.what()).find("TLS verification"), std::string::npos) << e.what();
		EXPECT_NE(std::string(e.what()).find("pgbk.s3_ca_file"), std::string::npos) << e.what();
	}
	s3::S3Options unverified = untrusted;
	unverified.verify_tls = false;
	EXPECT_NO_THROW(s3::S3Client(unverified, bucket_).CheckBucket());
}
