#include "pgbk/storage.hpp"
#include "pgbk/storage_driver.hpp"
#include "pgbk/fileio.hpp"

#include "test_util.hpp"

#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <vector>

using namespace pgbk;
using pgbk::test::TempDir;

TEST(LocalStorage, WriteIsInvisibleUntilCommit)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir / "repo");
	{
		auto w = s->OpenWrite("a/b/c", WriteMode::CreateOnly);
		w->Write("hello", 5);
		EXPECT_FALSE(s->Size("a/b/c"));
		// destroyed without Commit: nothing left, not even the temp file
	}
	EXPECT_FALSE(s->Size("a/b/c"));
	int entries = 0;
	s->List("a/", true, [&](const ListEntry &) { entries++; });
	EXPECT_EQ(entries, 0);
	PutBytes(*s, "a/b/c", "hello", WriteMode::CreateOnly);
	EXPECT_EQ(s->Size("a/b/c"), 5u);
	EXPECT_EQ(GetBytes(*s, "a/b/c"), "hello");
}

TEST(LocalStorage, CreateOnlyNeverOverwrites)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	PutBytes(*s, "k", "first", WriteMode::CreateOnly);
	try {
		PutBytes(*s, "k", "second", WriteMode::CreateOnly);
		FAIL() << "overwrote an object";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::AlreadyExists);
	}
	EXPECT_EQ(GetBytes(*s, "k"), "first");
	PutBytes(*s, "k", "third", WriteMode::Replace);
	EXPECT_EQ(GetBytes(*s, "k"), "third");
}

TEST(LocalStorage, ListIsOrderedAndGroupsPrefixes)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	for (const char *k : {"backup/b/x", "backup/a/y", "backup/a/x", "backup/file", "wal/1"})
		PutBytes(*s, k, "v", WriteMode::Replace);
	std::vector<std::string> flat, grouped;
	s->List("backup/", true, [&](const ListEntry &e) { flat.push_back(e.key); });
	s->List("backup/", false, [&](const ListEntry &e) { grouped.push_back(e.key + (e.is_prefix ? "(p)" : "")); });
	EXPECT_EQ(flat, (std::vector<std::string>{"backup/a/x", "backup/a/y", "backup/b/x", "backup/file"}));
	EXPECT_EQ(grouped, (std::vector<std::string>{"backup/a/(p)", "backup/b/(p)", "backup/file"}));
	std::vector<std::string> filtered;
	s->List("backup/fi", true, [&](const ListEntry &e) { filtered.push_back(e.key); });
	EXPECT_EQ(filtered, (std::vector<std::string>{"backup/file"}));
}

TEST(LocalStorage, ReadMissingAndRemove)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	try {
		s->OpenRead("nope");
		FAIL();
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::NotFound);
	}
	PutBytes(*s, "d/e/f", "v", WriteMode::Replace);
	s->Remove("d/e/f");
	s->Remove("d/e/f"); // absent is fine
	EXPECT_FALSE(s->Size("d/e/f"));
	struct stat st;
	EXPECT_NE(::stat((dir / "d").c_str(), &st), 0) << "empty parent directories are removed";
	EXPECT_THROW(s->OpenWrite("../escape", WriteMode::Replace), Error);
}

TEST(LocalStorage, RangedRead)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	PutBytes(*s, "r", "0123456789", WriteMode::Replace);
	auto r = s->OpenRead("r", 7);
	char buf[16];
	size_t n = r->Read(buf, sizeof buf);
	EXPECT_EQ(std::string(buf, n), "789");
}

// The shared default of pgbk 0.4 (pgbk_repo beside the data directories) stays in use
// only by the cluster whose identity record it holds.
TEST(RepositoryLocation, SharedDefaultKeptOnlyByItsOwner)
{
	TempDir dir;
	auto make_cluster = [&](const std::string &name, uint64_t system_identifier) {
		std::filesystem::create_directories(dir / (name + "/global"));
		std::string control(8192, '\0');
		std::memcpy(control.data(), &system_identifier, sizeof system_identifier);
		test::WriteFile(dir / (name + "/global/pg_control"), control);
		return dir / name;
	};
	std::string main = make_cluster("main", 7000000000000000001ULL);
	std::string second = make_cluster("second", 7000000000000000002ULL);
	std::string shared = dir / "pgbk_repo";
	EXPECT_EQ(ParseRepositoryLocation("", main).root, shared + "-main") << "no shared repository: its own";

	std::filesystem::create_directories(shared);
	test::WriteFile(dir / "pgbk_repo/pgbk.repo",
					R"({"format": 1, "system_identifier": "7000000000000000001", "pg_major": 15})");
	EXPECT_EQ(ParseRepositoryLocation("", main).root, shared) << "the owner keeps its repository";
	EXPECT_EQ(ParseRepositoryLocation("", second).root, shared + "-second") << "another cluster never shares it";

	std::filesystem::create_directories(shared + "-main");
	EXPECT_EQ(ParseRepositoryLocation("", main).root, shared + "-main") << "once its own exists, that one";

	std::filesystem::remove_all(shared + "-main");
	test::WriteFile(dir / "pgbk_repo/pgbk.repo", "{not json");
	EXPECT_EQ(ParseRepositoryLocation("", main).root, shared + "-main") << "an unreadable record is nobody's";
}

TEST(RepositoryLocation, Parsing)
{
	EXPECT_EQ(ParseRepositoryLocation("", "/var/lib/postgresql/15/main").root, "/var/lib/postgresql/15/pgbk_repo-main");
	EXPECT_EQ(ParseRepositoryLocation("", "/var/lib/postgresql/15/second").root,
			  "/var/lib/postgresql/15/pgbk_repo-second");
	EXPECT_EQ(ParseRepositoryLocation("", "/data/").root, "/pgbk_repo-data");
	EXPECT_EQ(ParseRepositoryLocation("/backups/pg/", "/data").root, "/backups/pg");
	EXPECT_EQ(ParseRepositoryLocation("file:///backups/pg", "/data").root, "/backups/pg");
	EXPECT_EQ(ParseRepositoryLocation("file:///backups/pg", "/data").url, "/backups/pg");
	EXPECT_EQ(ParseRepositoryLocation("s3://bucket/a/b/", "/data").url, "s3://bucket/a/b");
	EXPECT_EQ(ParseRepositoryLocation("s3://bucket/a/b/", "/data").driver->Scheme(), "s3");
	auto config_error = [](const std::string &url) {
		try {
			ParseRepositoryLocation(url, "/data");
		} catch (const Error &e) {
			EXPECT_EQ(e.kind(), ErrorKind::Config);
			return std::string(e.what());
		}
		return std::string();
	};
	EXPECT_NE(config_error("ftp://host/x").find("unknown repository scheme"), std::string::npos);
	// Every registered driver's syntax is offered.
	EXPECT_NE(config_error("ftp://host/x").find("file:///absolute/path or s3://bucket/prefix"), std::string::npos);
	EXPECT_NE(config_error("relative/dir").find("not absolute"), std::string::npos);
	EXPECT_NE(config_error("/data/repo").find("inside the data directory"), std::string::npos);
	EXPECT_NE(config_error("/").find("root directory"), std::string::npos);
}

// The repository must not be inside the data directory or a tablespace however the path
// is written: compared resolved, not as strings.
TEST(RepositoryLocation, InsideTheDataDirectoryHoweverWritten)
{
	TempDir dir;
	std::string dd = dir / "data";
	::mkdir(dd.c_str(), 0700);
	::mkdir((dd + "/pg_tblspc").c_str(), 0700);
	::mkdir((dir / "ts").c_str(), 0700);
	::mkdir((dir / "other").c_str(), 0700);
	ASSERT_EQ(::symlink((dir / "ts").c_str(), (dd + "/pg_tblspc/16400").c_str()), 0);
	ASSERT_EQ(::symlink(dd.c_str(), (dir / "alias").c_str()), 0);
	auto refusal = [&](const std::string &url) {
		try {
			ParseRepositoryLocation(url, dd);
		} catch (const Error &e) {
			EXPECT_EQ(e.kind(), ErrorKind::Config);
			return std::string(e.what());
		}
		return std::string();
	};
	for (const std::string &inside :
		 {dd + "/repo", "/" + dd + "/repo", dir.path() + "/./data/repo", dir.path() + "//data/repo",
		  dir / "other/../data/repo", dir / "missing/../data/repo", dir / "alias/repo", dir / "alias", dd + "/"})
		EXPECT_NE(refusal(inside).find("is inside the data directory"), std::string::npos) << inside;
	EXPECT_NE(refusal(dir / "ts/repo").find("is inside the tablespace 16400"), std::string::npos);
	EXPECT_NE(refusal(dir / "alias/repo").find("it resolves to"), std::string::npos) << "the message shows why";
	EXPECT_EQ(refusal(dir / "other/repo"), "");
	EXPECT_EQ(refusal(dir / "data-backups"), "") << "a sibling with the same prefix is outside";
	EXPECT_EQ(refusal(dd + "/../backups"), "") << "written through the data directory, but outside it";
	EXPECT_EQ(ResolvedPath(dir / "alias/./x/../y"), ResolvedPath(dd) + "/y");
}

TEST(RepositoryLocation, Usability)
{
	TempDir dir;
	EXPECT_EQ(CheckLocalRepositoryUsable(dir / "new/deeper"), "");
	EXPECT_EQ(CheckLocalRepositoryUsable(dir.path()), "");
	test::WriteFile(dir / "file", "x");
	EXPECT_NE(CheckLocalRepositoryUsable(dir / "file"), "");
	if (::geteuid() != 0) { // root may write anywhere
		::mkdir((dir / "ro").c_str(), 0500);
		EXPECT_NE(CheckLocalRepositoryUsable(dir / "ro"), "");
		EXPECT_NE(CheckLocalRepositoryUsable(dir / "ro/sub"), "");
	}
}

TEST(LocalStorage, RemovePrefixTakesWhatADeadWriterLeftToo)
{
	pgbk::test::TempDir dir;
	auto s = OpenLocalStorage(dir / "root");
	PutBytes(*s, "backup/L/data/base/5/1", "a", WriteMode::Replace);
	PutBytes(*s, "backup/L/data/global/2", "b", WriteMode::Replace);
	PutBytes(*s, "backup/L/backup.info", "c", WriteMode::Replace);
	// A writer killed mid-write leaves a temporary file no listing shows.
	test::WriteFile(dir / "root/backup/L/data/base/5/.3.tmp.99999.1", "partial");
	s->RemovePrefix("backup/L/data/");
	EXPECT_FALSE(std::filesystem::exists(dir / "root/backup/L/data"));
	EXPECT_TRUE(s->Size("backup/L/backup.info")) << "nothing outside the prefix";
	EXPECT_THROW(s->RemovePrefix("backup/L"), Error) << "a prefix must end in '/'";
}
