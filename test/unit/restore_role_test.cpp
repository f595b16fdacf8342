// What a restore becomes: a copy unless told (or the directory is a node of the cluster).
#include "pgbk/error.hpp"
#include "pgbk/restore_role.hpp"

#include <gtest/gtest.h>

using namespace pgbk;

namespace {

const std::vector<NodeRecord> kNodes = {{std::string(32, 'a'), "db-0", "/pgdata/data", 1790000000},
										{std::string(32, 'b'), "db-1", "/pgdata/data", 1790000100}};

RestoreRoleRequest
Into(const std::string &host, const std::string &pgdata)
{
	RestoreRoleRequest r;
	r.host = host;
	r.pgdata = pgdata;
	return r;
}

} // namespace

TEST(RestoreRole, ADrillBesideTheClusterIsACopy)
{
	// The README's first example: a scratch directory on one of the cluster's hosts.
	RestoreRoleChoice c = ChooseRestoreRole(Into("db-0", "/scratch/drill"), kNodes);
	EXPECT_EQ(c.role, RestoreRole::Copy);
	EXPECT_NE(c.why.find("--takeover"), std::string::npos) << "it names the word that takes over";
	// Another machine, at the path the cluster's nodes use: still not one of them.
	EXPECT_EQ(ChooseRestoreRole(Into("laptop", "/pgdata/data"), kNodes).role, RestoreRole::Copy);
	// A repository that never saw a node (an older pgbk's): a copy.
	EXPECT_EQ(ChooseRestoreRole(Into("db-0", "/pgdata/data"), {}).role, RestoreRole::Copy);
}

TEST(RestoreRole, TheClustersOwnDirectoryTakesOver)
{
	RestoreRoleChoice c = ChooseRestoreRole(Into("db-1", "/pgdata/data"), kNodes);
	EXPECT_EQ(c.role, RestoreRole::Takeover);
	EXPECT_NE(c.why.find("db-1:/pgdata/data [bbbbbbbb]"), std::string::npos) << c.why;
	// --clone still makes a copy there.
	RestoreRoleRequest r = Into("db-1", "/pgdata/data");
	r.copy = true;
	EXPECT_EQ(ChooseRestoreRole(r, kNodes).role, RestoreRole::Copy);
}

TEST(RestoreRole, TheWordsAreObeyedAndExclusive)
{
	RestoreRoleRequest r = Into("dr-site", "/new/data");
	r.takeover = true;
	EXPECT_EQ(ChooseRestoreRole(r, kNodes).role, RestoreRole::Takeover);
	r.takeover = false;
	r.standby = true;
	EXPECT_EQ(ChooseRestoreRole(r, kNodes).role, RestoreRole::Standby);
	r.copy = true;
	EXPECT_THROW(ChooseRestoreRole(r, kNodes), Error);
	r.standby = false;
	r.takeover = true;
	EXPECT_THROW(ChooseRestoreRole(r, kNodes), Error);
}
