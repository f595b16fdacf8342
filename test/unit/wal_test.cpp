#include "pgbk/wal.hpp"

#include <gtest/gtest.h>

using namespace pgbk;

TEST(Wal, SegmentNamesRoundTrip)
{
	const uint64_t seg16 = 16ull << 20;
	EXPECT_EQ(WalSegmentName(WalSegment{1, 1}, seg16), "000000010000000000000001");
	EXPECT_EQ(WalSegmentName(WalSegment{1, 256}, seg16), "000000010000000100000000");
	EXPECT_EQ(WalSegmentName(WalSegment{0x1A, 0x2FF}, seg16), "0000001A00000002000000FF");
	auto s = ParseWalSegmentName("0000001A00000002000000FF", seg16);
	ASSERT_TRUE(s);
	EXPECT_EQ(s->timeline, 0x1Au);
	EXPECT_EQ(s->segno, 0x2FFu);
	// 1 GiB segments: 4 per xlogid.
	EXPECT_EQ(WalSegmentName(WalSegment{2, 5}, 1ull << 30), "000000020000000100000001");
	EXPECT_FALSE(ParseWalSegmentName("000000010000000000000100", seg16)); // seg part >= 256
	EXPECT_FALSE(ParseWalSegmentName("00000001000000000000000g", seg16));
}

TEST(Wal, SegmentOfLsn)
{
	const uint64_t seg16 = 16ull << 20;
	EXPECT_EQ(SegmentOfLsn(3, 0x2000028, seg16).segno, 2u);
	EXPECT_EQ(WalSegmentName(SegmentOfLsn(3, 0x1FF000000ull, seg16), seg16), "0000000300000001000000FF");
}

TEST(Wal, Classify)
{
	EXPECT_EQ(ClassifyWalFileName("000000010000000000000001"), WalFileKind::Segment);
	EXPECT_EQ(ClassifyWalFileName("000000010000000000000001.partial"), WalFileKind::Partial);
	EXPECT_EQ(ClassifyWalFileName("000000010000000000000002.00000028.backup"), WalFileKind::BackupHistory);
	EXPECT_EQ(ClassifyWalFileName("00000002.history"), WalFileKind::TimelineHistory);
	EXPECT_EQ(ClassifyWalFileName("00000002.histor"), WalFileKind::Unknown);
	EXPECT_EQ(ClassifyWalFileName("../etc/passwd"), WalFileKind::Unknown);
	EXPECT_EQ(ClassifyWalFileName("000000010000000000000001x"), WalFileKind::Unknown);
	EXPECT_EQ(ClassifyWalFileName("00000001000000000000000a"), WalFileKind::Unknown); // lower case
}

TEST(Wal, ArchiveKeys)
{
	EXPECT_EQ(WalArchiveKey("000000010000000000000001"), "wal/0000000100000000/000000010000000000000001");
	EXPECT_EQ(WalArchiveKey("00000002.history"), "wal/00000002.history");
	EXPECT_EQ(WalArchiveKey("000000010000000000000002.00000028.backup"),
			  "wal/0000000100000000/000000010000000000000002.00000028.backup");
	EXPECT_THROW(WalArchiveKey("pg_control"), Error);
}

TEST(Wal, Lsn)
{
	EXPECT_EQ(FormatLsn(0x16B3748), "0/16B3748");
	EXPECT_EQ(FormatLsn(0x1000000002ull), "10/2");
	EXPECT_EQ(ParseLsn("10/2"), 0x1000000002ull);
	EXPECT_EQ(ParseLsn("0/16B3748"), 0x16B3748u);
	EXPECT_THROW(ParseLsn("16B3748"), Error);
	EXPECT_THROW(ParseLsn("0/16B3748x"), Error);
}

TEST(Wal, SegmentSizes)
{
	EXPECT_TRUE(IsValidWalSegmentSize(16 << 20));
	EXPECT_TRUE(IsValidWalSegmentSize(1 << 30));
	EXPECT_FALSE(IsValidWalSegmentSize(3 << 20));
	EXPECT_FALSE(IsValidWalSegmentSize(512 << 10));
}
