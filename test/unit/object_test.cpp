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
ExpectCorrupt(Storage &s, const Keyring *keyring, const std::string &key)
{
	try {
		ObjectReader r(s.OpenRead(key), key, keyring);
		ReadAll(r);
		FAIL() << "damaged object was accepted";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Corrupt) << e.what();
		EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << "error must name the object";
	}
}

} // namespace

const char *kKey = "6a09e667f3bcc908b2fb1366ea957d3e3adec17512775099da2f590b0667322a";

// Every codec, plaintext and encrypted.
class ObjectCodecTest : public ::testing::TestWithParam<std::tuple<Codec, bool>> {
protected:
	CodecOptions
	Options() const
	{
		return CodecOptions{std::get<0>(GetParam()), 3, keyring_ ? keyring_->current() : nullptr};
	}
	std::shared_ptr<const Keyring> keyring_ = std::get<1>(GetParam()) ? Keyring::FromText(kKey) : nullptr;
};

TEST_P(ObjectCodecTest, RoundTripSizes)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	// Sizes around the 64 KiB encryption block, including exact multiples.
	for (size_t size : {size_t{0}, size_t{1}, size_t{48}, size_t{8192}, size_t{65535}, size_t{65536}, size_t{65537},
						size_t{131072}, size_t{3 << 20}}) {
		// Half random, half zeros: both compressible and incompressible content.
		std::string data =
			test::RandomBytes(size / 2, static_cast<uint32_t>(size)) + std::string(size - size / 2, '\0');
		std::string key = "obj/" + std::to_string(size);
		ObjectSummary w = PutObject(*s, key, data, Options(), WriteMode::CreateOnly);
		EXPECT_EQ(w.raw_size, size);
		EXPECT_EQ(w.sha256, Sha256Of(data));
		ObjectReader r(s->OpenRead(key), key, keyring_.get());
		EXPECT_EQ(ReadAll(r), data);
		EXPECT_EQ(r.Summary().sha256, w.sha256);
		EXPECT_EQ(r.Summary().stored_size, w.stored_size);
		EXPECT_EQ(r.KeyIdHex().empty(), keyring_ == nullptr);
		EXPECT_TRUE(StoredObjectMatches(*s, key, keyring_.get(), size, w.sha256));
		EXPECT_FALSE(StoredObjectMatches(*s, key, keyring_.get(), size, Sha256Of(data + "x")));
		EXPECT_FALSE(StoredObjectMatches(*s, key, keyring_.get(), size + 1, w.sha256));
	}
}

TEST_P(ObjectCodecTest, DamageIsDetected)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	std::string data = test::RandomBytes(100000, 7) + std::string(100000, 'x');
	PutObject(*s, "a", data, Options(), WriteMode::CreateOnly);
	std::string stored = test::ReadFile(dir / "a");
	// Each damaged copy is put under the object's own name (an encrypted object read
	// under another name fails for that reason alone).
	auto expect_damage_detected = [&](const std::string &damaged, const char *what) {
		SCOPED_TRACE(what);
		test::WriteFile(dir / "a", damaged);
		ExpectCorrupt(*s, keyring_.get(), "a");
	};
	std::string flipped = stored;
	flipped[stored.size() / 2] ^= 0x01;
	expect_damage_detected(flipped, "flipped byte");
	expect_damage_detected(stored.substr(0, stored.size() - 100), "truncated");
	expect_damage_detected(stored.substr(0, 20), "short");
	std::string badsum = stored;
	badsum[badsum.size() - 30] ^= 0xff; // inside the trailer's digest
	expect_damage_detected(badsum, "trailer digest");
	std::string badsize = stored;
	badsize[badsize.size() - 48] ^= 0x01; // the trailer's raw size
	expect_damage_detected(badsize, "trailer size");
	expect_damage_detected(test::RandomBytes(5000, 3), "garbage");
	test::WriteFile(dir / "a", stored);
	ObjectReader r(s->OpenRead("a"), "a", keyring_.get());
	EXPECT_EQ(ReadAll(r), data) << "the undamaged object still reads";
}

INSTANTIATE_TEST_SUITE_P(Codecs, ObjectCodecTest,
						 ::testing::Combine(::testing::Values(Codec::None, Codec::Zstd), ::testing::Bool()),
						 [](const auto &i) {
							 return std::string(std::get<0>(i.param) == Codec::None ? "None" : "Zstd") +
									(std::get<1>(i.param) ? "Encrypted" : "Plain");
						 });

TEST(Object, ZstdCompresses)
{
	TempDir dir;
	auto s = OpenLocalStorage(dir.path());
	ObjectSummary w = PutObject(*s, "z", std::string(1 << 20, 'a'), CodecOptions{Codec::Zstd, 3}, WriteMode::Replace);
	EXPECT_LT(w.stored_size, 1000u);
}
