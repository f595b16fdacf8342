#include "pgbk/object.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

std::string
ReadAll(ObjectReader &r)
{
	std::string out;
	char buf[7000]; // odd size to exercise partial reads
	while (size_t n = r.Read(buf, sizeof buf))
		out.append(buf, n);
	return out;
}

void
ExpectCorrupt(Storage &s, const std::string &key)
{
	try {
		ObjectReader r(s.OpenRead(key), key);
		ReadAll(r);
		FAIL() << "damaged object was accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
		EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << "error must name the object";
	}
}

} // namespace

class ObjectCodecTest : public ::testing::TestWithParam<Codec> {};

TEST_P(ObjectCodecTest, RoundTripSizes)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	for (size_t size : {size_t{0}, size_t{1}, size_t{48}, size_t{8192}, size_t{3 << 20}}) {
		// Half random, half zeros: both compressible and incompressible content.
		std::string data =
			test::RandomBytes(size / 2, static_cast<uint32_t>(size)) + std::string(size - size / 2, '\0');
		std::string key = "obj/" + std::to_string(size);
		ObjectSummary w = PutObject(*s, key, data, CodecOptions{GetParam(), 3}, WriteMode::CreateOnly);
		EXPECT_EQ(w.raw_size, size);
		EXPECT_EQ(w.sha256, Sha256Of(data));
		ObjectReader r(s->OpenRead(key), key);
		EXPECT_EQ(ReadAll(r), data);
		EXPECT_EQ(r.Summary().sha256, w.sha256);
		ObjectSummary t = ReadObjectTrailer(*s, key);
		EXPECT_EQ(t.raw_size, size);
		EXPECT_EQ(t.sha256, w.sha256);
		EXPECT_EQ(t.stored_size, w.stored_size);
	}
}

TEST_P(ObjectCodecTest, DamageIsDetected)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	std::string data = test::RandomBytes(100000, 7) + std::string(100000, 'x');
	PutObject(*s, "a", data, CodecOptions{GetParam(), 3}, WriteMode::CreateOnly);
	std::string stored = test::ReadFile(dir / "a");

	std::string flipped = stored;
	flipped[stored.size() / 2] ^= 0x01;
	test::WriteFile(dir / "flipped", flipped);
	ExpectCorrupt(*s, "flipped");

	test::WriteFile(dir / "truncated", stored.substr(0, stored.size() - 100));
	ExpectCorrupt(*s, "truncated");

	test::WriteFile(dir / "short", stored.substr(0, 20));
	ExpectCorrupt(*s, "short");

	std::string badsum = stored;
	badsum[badsum.size() - 30] ^= 0xff; // inside the trailer's digest
	test::WriteFile(dir / "badsum", badsum);
	ExpectCorrupt(*s, "badsum");

	test::WriteFile(dir / "garbage", test::RandomBytes(5000, 3));
	ExpectCorrupt(*s, "garbage");
}

INSTANTIATE_TEST_SUITE_P(Codecs, ObjectCodecTest, ::testing::Values(Codec::None, Codec::Zstd));

TEST(Object, ZstdCompresses)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	ObjectSummary w = PutObject(*s, "z", std::string(1 << 20, 'a'), CodecOptions{Codec::Zstd, 3}, WriteMode::Replace);
	EXPECT_LT(w.stored_size, 1000u);
}
