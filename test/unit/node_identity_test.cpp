// The node id: made once per data directory, kept across restarts, renewed for a copy
// (pg_basebackup, pg_rewind, a restore), and the same for processes that renew at once.
#include "pgbk/backup.hpp"
#include "pgbk/node_identity.hpp"

#include "test_util.hpp"

#include <filesystem>
#include <gtest/gtest.h>
#include <set>
#include <thread>
#include <vector>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

std::string
MakeDataDirectory(const TempDir &dir, const std::string &name)
{
	std::string pgdata = dir / name;
	std::filesystem::create_directories(pgdata);
	return pgdata;
}

} // namespace

TEST(NodeIdentity, MadeOnceAndKeptAcrossRestarts)
{
	TempDir dir;
	std::string pgdata = MakeDataDirectory(dir, "data");
	NodeIdentity first = LoadOrCreateNodeIdentity(pgdata, "node-a");
	EXPECT_EQ(first.id.size(), 32u);
	EXPECT_EQ(first.host, "node-a");
	EXPECT_EQ(LoadOrCreateNodeIdentity(pgdata, "node-a").id, first.id) << "a restart keeps the id";
	EXPECT_NE(first.Describe().find("node-a:" + pgdata + " [" + first.id.substr(0, 8) + "]"), std::string::npos);

	// Another directory made the same way is another node, even on the same host name.
	std::string other = MakeDataDirectory(dir, "other");
	EXPECT_NE(LoadOrCreateNodeIdentity(other, "node-a").id, first.id);
}

TEST(NodeIdentity, ACopiedFileIsRenewedForTheCopy)
{
	TempDir dir;
	std::string source = MakeDataDirectory(dir, "source");
	NodeIdentity original = LoadOrCreateNodeIdentity(source, "node-a");

	// pg_basebackup or pg_rewind copies the file into another directory ...
	std::string copy = MakeDataDirectory(dir, "copy");
	std::filesystem::copy_file(source + "/" + kNodeIdentityFile, copy + "/" + kNodeIdentityFile);
	NodeIdentity renewed = LoadOrCreateNodeIdentity(copy, "node-a");
	EXPECT_NE(renewed.id, original.id);
	EXPECT_EQ(LoadOrCreateNodeIdentity(copy, "node-a").id, renewed.id) << "renewed once, then kept";
	EXPECT_EQ(LoadOrCreateNodeIdentity(source, "node-a").id, original.id) << "the source keeps its own";

	// ... or onto another host at the same path.
	std::filesystem::copy_file(source + "/" + kNodeIdentityFile, copy + "/" + kNodeIdentityFile,
							   std::filesystem::copy_options::overwrite_existing);
	EXPECT_NE(LoadOrCreateNodeIdentity(copy, "node-b").id, original.id);
}

TEST(NodeIdentity, ProcessesRenewingAtOnceAgree)
{
	TempDir dir;
	std::string source = MakeDataDirectory(dir, "source");
	NodeIdentity original = LoadOrCreateNodeIdentity(source, "node-a");
	std::string copy = MakeDataDirectory(dir, "copy");
	std::filesystem::copy_file(source + "/" + kNodeIdentityFile, copy + "/" + kNodeIdentityFile);
	DirectoryFingerprint here = FingerprintOf(copy, "node-a");
	// Renewal depends on the copied id and the directory only: the archiver and the
	// worker that both find the copy renew it to the same id.
	EXPECT_EQ(RenewedNodeId(original.id, here), RenewedNodeId(original.id, here));
	EXPECT_EQ(LoadOrCreateNodeIdentity(copy, "node-a").id, RenewedNodeId(original.id, here));
}

TEST(NodeIdentity, FirstIdMadeByRacingThreadsIsOne)
{
	TempDir dir;
	std::string pgdata = MakeDataDirectory(dir, "data");
	std::vector<std::string> ids(8);
	std::vector<std::thread> threads;
	for (size_t i = 0; i < ids.size(); i++)
		threads.emplace_back([&, i] { ids[i] = LoadOrCreateNodeIdentity(pgdata, "node-a").id; });
	for (auto &t : threads)
		t.join();
	EXPECT_EQ(std::set<std::string>(ids.begin(), ids.end()).size(), 1u);
}

TEST(NodeIdentity, ADamagedFileIsReplaced)
{
	TempDir dir;
	std::string pgdata = MakeDataDirectory(dir, "data");
	test::WriteFile(pgdata + "/" + kNodeIdentityFile, "{not json");
	EXPECT_EQ(LoadOrCreateNodeIdentity(pgdata, "node-a").id.size(), 32u);
}

TEST(NodeIdentity, NoBackupCarriesIt)
{
	EXPECT_TRUE(IsNodeLocalFile(kNodeIdentityFile));
	EXPECT_EQ(ClassifyDataDirEntry(kNodeIdentityFile, false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry(std::string("base/") + kNodeIdentityFile, false), WalkDecision::Include);
}
