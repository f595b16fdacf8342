#include "pgbk/backup.hpp"
#include "pgbk/page.hpp"

#include <cstring>
#include <gtest/gtest.h>

using namespace pgbk;

namespace {

// A deterministic page whose checksums were computed with PostgreSQL 15's own
// pg_checksum_page (storage/checksum_impl.h).
std::vector<uint8_t>
ReferencePage()
{
	std::vector<uint8_t> page(kBlockSize);
	for (size_t i = 0; i < kBlockSize; i++)
		page[i] = static_cast<uint8_t>((i * 7 + 3) % 251);
	uint32_t xlogid = 1, xrecoff = 0x2000;
	uint16_t checksum = 0xBEEF, lower = 64, upper = 8000;
	std::memcpy(&page[0], &xlogid, 4);
	std::memcpy(&page[4], &xrecoff, 4);
	std::memcpy(&page[8], &checksum, 2);
	std::memcpy(&page[12], &lower, 2);
	std::memcpy(&page[14], &upper, 2);
	return page;
}

} // namespace

TEST(Page, ChecksumMatchesPostgres)
{
	auto page = ReferencePage();
	EXPECT_EQ(PageChecksum(page.data(), 0), 3024);
	EXPECT_EQ(PageChecksum(page.data(), 7), 3029);
	EXPECT_EQ(PageChecksum(page.data(), kRelSegBlocks * 2 + 5), 3023);
	// The stored checksum field does not feed into the checksum.
	page[8] = 0;
	page[9] = 0;
	EXPECT_EQ(PageChecksum(page.data(), 0), 3024);
	page[100] ^= 1;
	EXPECT_NE(PageChecksum(page.data(), 0), 3024);
}

TEST(Page, Header)
{
	auto page = ReferencePage();
	PageHeaderView h = ReadPageHeader(page.data());
	EXPECT_EQ(h.lsn, 0x100002000ull);
	EXPECT_EQ(h.checksum, 0xBEEF);
	EXPECT_EQ(h.lower, 64);
	EXPECT_EQ(h.upper, 8000);
	EXPECT_FALSE(PageIsNew(h));
	std::vector<uint8_t> zero(kBlockSize);
	EXPECT_TRUE(PageIsNew(ReadPageHeader(zero.data())));
}

TEST(DataDirWalk, Exclusions)
{
	EXPECT_EQ(ClassifyDataDirEntry("pg_wal", true), WalkDecision::IncludeDirOnly);
	EXPECT_EQ(ClassifyDataDirEntry("pg_stat_tmp", true), WalkDecision::IncludeDirOnly);
	EXPECT_EQ(ClassifyDataDirEntry("pg_replslot", true), WalkDecision::IncludeDirOnly);
	EXPECT_EQ(ClassifyDataDirEntry("pg_subtrans", true), WalkDecision::IncludeDirOnly);
	EXPECT_EQ(ClassifyDataDirEntry("base", true), WalkDecision::Include);
	EXPECT_EQ(ClassifyDataDirEntry("base/pgsql_tmp", true), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("postmaster.pid", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("postmaster.opts", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("backup_label", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("tablespace_map", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("postgresql.auto.conf.tmp", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("global/pg_internal.init", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("base/5/pg_internal.init.123", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("global/pg_control", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("base/5/t3_16384", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("pg_tblspc/16400/PG_15_202209061/5/t3_16384_fsm", false), WalkDecision::Skip);
	EXPECT_EQ(ClassifyDataDirEntry("base/5/16384", false), WalkDecision::Include);
	EXPECT_EQ(ClassifyDataDirEntry("postgresql.conf", false), WalkDecision::Include);
	EXPECT_EQ(ClassifyDataDirEntry("tmpfile", false), WalkDecision::Include);
}

TEST(DataDirWalk, RelationFileNames)
{
	uint64_t node;
	std::string fork;
	uint32_t seg;
	ASSERT_TRUE(ParseRelationFileName("16384", &node, &fork, &seg));
	EXPECT_EQ(node, 16384u);
	EXPECT_EQ(fork, "");
	EXPECT_EQ(seg, 0u);
	ASSERT_TRUE(ParseRelationFileName("16384_vm.3", &node, &fork, &seg));
	EXPECT_EQ(fork, "vm");
	EXPECT_EQ(seg, 3u);
	ASSERT_TRUE(ParseRelationFileName("16384.12", &node, &fork, &seg));
	EXPECT_EQ(seg, 12u);
	EXPECT_FALSE(ParseRelationFileName("PG_VERSION", &node, &fork, &seg));
	EXPECT_FALSE(ParseRelationFileName("16384_foo", &node, &fork, &seg));
	EXPECT_FALSE(ParseRelationFileName("16384.", &node, &fork, &seg));
	EXPECT_FALSE(ParseRelationFileName("pg_filenode.map", &node, &fork, &seg));
}
