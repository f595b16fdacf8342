// Encryption: keys and key files, and the encrypted object stream (truncation,
// reordering, tampering, moving, wrong and rotated keys).
#include "pgbk/crypto.hpp"
#include "pgbk/object.hpp"

#include "test_util.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

const char *kHexKey = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
// The same 32 bytes in base64.
const char *kBase64Key = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const char *kOtherKey = "1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100";

constexpr size_t kHeader = 8 + 8 + 24; // fixed header, key id, secretstream header
constexpr size_t kMessage = 65536 + 17; // one full encrypted block
constexpr size_t kTrailer = 48;

std::string
ReadAll(Storage &s, const std::string &key, const Keyring *keyring)
{
	ObjectReader r(s.OpenRead(key), key, keyring);
	std::string out;
	char buf[5000];
	while (size_t n = r.Read(buf, sizeof buf))
		out.append(buf, n);
	return out;
}

// The error reading `key` raises, or "" if it reads.
std::string
ReadError(Storage &s, const std::string &key, const Keyring *keyring, ErrorKind *kind = nullptr)
{
	try {
		ReadAll(s, key, keyring);
		return "";
	} catch (const Error &e) {
		if (kind)
			*kind = e.kind();
		return e.what();
	}
}

std::string
WriteKeyFile(const TempDir &dir, const std::string &name, const std::string &content, mode_t mode)
{
	std::string path = dir / name;
	test::WriteFile(path, content);
	::chmod(path.c_str(), mode);
	return path;
}

} // namespace

TEST(Keys, HexAndBase64AreTheSameKey)
{
	EncryptionKey hex(kHexKey, "hex"), b64(std::string("  ") + kBase64Key + "\n", "b64");
	EXPECT_EQ(hex.IdHex(), b64.IdHex());
	EXPECT_EQ(hex.IdHex().size(), 16u);
	EncryptionKey other(kOtherKey, "other");
	EXPECT_NE(hex.IdHex(), other.IdHex());
	// The id reveals nothing of the key: it is not a prefix of it.
	EXPECT_EQ(std::string(kHexKey).find(hex.IdHex()), std::string::npos);
}

TEST(Keys, BadKeyMaterialIsRefusedWithoutEchoingIt)
{
	for (std::string bad :
		 std::vector<std::string>{"", "abc", std::string(kHexKey).substr(2), std::string(kHexKey) + "00",
								  "not a key at all", std::string(kBase64Key).substr(4)}) {
		try {
			EncryptionKey k(bad, "file \"/k\"");
			ADD_FAILURE() << "accepted \"" << bad << "\"";
		} catch (const Error &e) {
			EXPECT_EQ(e.kind(), ErrorKind::Config);
			std::string msg = e.what();
			EXPECT_NE(msg.find("/k"), std::string::npos) << msg;
			EXPECT_NE(msg.find("pgbk generate-key"), std::string::npos) << msg;
			if (bad.size() > 8) {
				EXPECT_EQ(msg.find(bad), std::string::npos) << "the key material must not be echoed";
			}
		}
	}
}

TEST(Keys, KeyFilesAreCheckedLikePostgresSslKeyFile)
{
	TempDir dir;
	std::string good = WriteKeyFile(dir, "good", std::string(kHexKey) + "\n", 0600);
	EXPECT_EQ(LoadKeyFile(good, "pgbk.encryption_key_file")->IdHex(), EncryptionKey(kHexKey, "k").IdHex());

	auto expect_refused = [](const std::string &path, const std::string &needle) {
		try {
			LoadKeyFile(path, "pgbk.encryption_key_file");
			ADD_FAILURE() << "accepted " << path;
		} catch (const Error &e) {
			std::string msg = e.what();
			EXPECT_NE(msg.find("pgbk.encryption_key_file"), std::string::npos) << msg;
			EXPECT_NE(msg.find(needle), std::string::npos) << msg;
		}
	};
	if (::geteuid() != 0) // root owns the file: 0640 is allowed then
		expect_refused(WriteKeyFile(dir, "group", kHexKey, 0640), "chmod 600");
	expect_refused(WriteKeyFile(dir, "world", kHexKey, 0604), "chmod 600");
	expect_refused(dir / "missing", "missing");
	expect_refused("relative/key", "absolute path");
	expect_refused(dir.path(), "not a regular file");
}

TEST(Keys, GeneratedKeyFilesLoadAndDiffer)
{
	TempDir dir;
	GenerateKeyFile(dir / "k1");
	GenerateKeyFile(dir / "k2");
	struct stat st;
	ASSERT_EQ(::stat((dir / "k1").c_str(), &st), 0);
	EXPECT_EQ(st.st_mode & 0777, 0600u);
	EXPECT_NE(LoadKeyFile(dir / "k1", "k")->IdHex(), LoadKeyFile(dir / "k2", "k")->IdHex());
	EXPECT_THROW(GenerateKeyFile(dir / "k1"), Error) << "an existing key file is never overwritten";
}

TEST(Keys, KeyringFindsEveryKeyAndNeedsACurrentOne)
{
	TempDir dir;
	std::string a = WriteKeyFile(dir, "a", kHexKey, 0600), b = WriteKeyFile(dir, "b", kOtherKey, 0600);
	auto ring = Keyring::Load(b, SplitKeyFileList(" " + a + " , " + b + ","));
	EXPECT_EQ(ring->current()->IdHex(), EncryptionKey(kOtherKey, "k").IdHex());
	EXPECT_NE(ring->Find(EncryptionKey(kHexKey, "k").IdHex()), nullptr);
	EXPECT_EQ(Keyring::Load("", {})->current(), nullptr);
	EXPECT_THROW(Keyring::Load("", {a}), Error) << "a keyring without a current key";
}

class EncryptedObject : public ::testing::Test {
protected:
	void
	SetUp() override
	{
		storage_ = OpenLocalStorage(dir_.path());
		// Incompressible, uncompressed: four full blocks and a partial final one.
		data_ = test::RandomBytes(4 * 65536 + 1000, 11);
		PutObject(*storage_, "obj", data_, CodecOptions{Codec::None, 0, ring_->current()}, WriteMode::CreateOnly);
		stored_ = test::ReadFile(dir_ / "obj");
		ASSERT_EQ(stored_.size(), kHeader + 4 * kMessage + (1000 + 17) + kTrailer);
	}
	void
	Put(const std::string &bytes)
	{
		test::WriteFile(dir_ / "obj", bytes);
	}
	std::string
	Block(size_t i) const
	{
		return stored_.substr(kHeader + i * kMessage, kMessage);
	}

	TempDir dir_;
	std::unique_ptr<Storage> storage_;
	std::shared_ptr<const Keyring> ring_ = Keyring::FromText(kHexKey);
	std::string data_, stored_;
};

TEST_F(EncryptedObject, ContentIsNotVisible)
{
	EXPECT_EQ(ReadAll(*storage_, "obj", ring_.get()), data_);
	EXPECT_EQ(stored_.find(data_.substr(1000, 32)), std::string::npos);
	// Nor is the content's checksum: the trailer holds a keyed digest of it.
	Digest sha = Sha256Of(data_);
	EXPECT_EQ(stored_.find(std::string(reinterpret_cast<const char *>(sha.data()), sha.size())), std::string::npos);
	// Two objects of the same content differ (fresh nonce per object).
	PutObject(*storage_, "obj2", data_, CodecOptions{Codec::None, 0, ring_->current()}, WriteMode::CreateOnly);
	EXPECT_NE(test::ReadFile(dir_ / "obj2").substr(kHeader, 64), stored_.substr(kHeader, 64));
}

TEST_F(EncryptedObject, TruncationAtABlockBoundaryIsDetected)
{
	// Whole blocks dropped from the end, trailer kept: every block authenticates, but the
	// final one is missing.
	Put(stored_.substr(0, kHeader + 2 * kMessage) + stored_.substr(stored_.size() - kTrailer));
	EXPECT_NE(ReadError(*storage_, "obj", ring_.get()).find("final block is missing"), std::string::npos);
	Put(stored_.substr(0, stored_.size() - kTrailer)); // trailer gone
	EXPECT_NE(ReadError(*storage_, "obj", ring_.get()), "");
}

TEST_F(EncryptedObject, ReorderedOrDuplicatedBlocksAreRejected)
{
	std::string tail = stored_.substr(kHeader + 4 * kMessage);
	Put(stored_.substr(0, kHeader) + Block(0) + Block(2) + Block(1) + Block(3) + tail);
	EXPECT_NE(ReadError(*storage_, "obj", ring_.get()).find("fails authentication"), std::string::npos);
	Put(stored_.substr(0, kHeader) + Block(0) + Block(1) + Block(1) + Block(3) + tail);
	EXPECT_NE(ReadError(*storage_, "obj", ring_.get()).find("fails authentication"), std::string::npos);
}

TEST_F(EncryptedObject, TamperingAnywhereIsRejected)
{
	// The codec byte, the key id's neighbour (stream header), a ciphertext byte, a tag.
	for (size_t at : {size_t{5}, size_t{20}, kHeader + 100, kHeader + kMessage - 1, stored_.size() - kTrailer - 1}) {
		std::string t = stored_;
		t[at] ^= 0x04;
		Put(t);
		EXPECT_NE(ReadError(*storage_, "obj", ring_.get()), "") << "flip at " << at;
	}
	// Data appended after the final block (before the trailer).
	Put(stored_.substr(0, stored_.size() - kTrailer) + "xx" + stored_.substr(stored_.size() - kTrailer));
	EXPECT_NE(ReadError(*storage_, "obj", ring_.get()), "");
}

TEST_F(EncryptedObject, AnObjectMovedToAnotherNameDoesNotAuthenticate)
{
	test::WriteFile(dir_ / "elsewhere", stored_);
	EXPECT_NE(ReadError(*storage_, "elsewhere", ring_.get()).find("another name"), std::string::npos);
}

TEST_F(EncryptedObject, WrongMissingAndRotatedKeys)
{
	ErrorKind kind = ErrorKind::Io;
	auto other = Keyring::FromText(kOtherKey);
	std::string msg = ReadError(*storage_, "obj", other.get(), &kind);
	EXPECT_EQ(kind, ErrorKind::Config);
	EXPECT_NE(msg.find(ring_->current()->IdHex()), std::string::npos) << "names the key it needs: " << msg;
	msg = ReadError(*storage_, "obj", nullptr, &kind);
	EXPECT_EQ(kind, ErrorKind::Config);
	EXPECT_NE(msg.find("pgbk.encryption_key_file"), std::string::npos) << msg;
	// After a rotation the old key, kept in the keyring, still reads it.
	auto rotated = Keyring::FromText(kOtherKey, {kHexKey});
	EXPECT_EQ(ReadAll(*storage_, "obj", rotated.get()), data_);
	EXPECT_TRUE(StoredObjectMatches(*storage_, "obj", rotated.get(), data_.size(), Sha256Of(data_)));
	// A key id that matches but key bytes that do not cannot happen by accident; a forged
	// id with another key's ciphertext fails authentication.
	PutObject(*storage_, "forged", data_, CodecOptions{Codec::None, 0, other->current()}, WriteMode::CreateOnly);
	std::string forged = test::ReadFile(dir_ / "forged");
	forged.replace(8, 8, stored_.substr(8, 8));
	test::WriteFile(dir_ / "forged", forged);
	EXPECT_NE(ReadError(*storage_, "forged", ring_.get()).find("fails authentication"), std::string::npos);
}

TEST_F(EncryptedObject, APlaintextObjectIsRefusedWhenAKeyIsConfigured)
{
	PutObject(*storage_, "plain", "hello", CodecOptions{}, WriteMode::CreateOnly);
	ErrorKind kind = ErrorKind::Io;
	EXPECT_NE(ReadError(*storage_, "plain", ring_.get(), &kind).find("is not encrypted"), std::string::npos);
	EXPECT_EQ(kind, ErrorKind::Corrupt);
}
