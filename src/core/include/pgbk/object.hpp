// Stored object format v1 (docs/repository-format.md): every object pgbk writes is
//   header  (8 bytes)  "PGBK", version, codec, cipher, reserved
//   [cipher header]    when encrypted: key id (8 bytes), secretstream header (24 bytes)
//   body               the raw content through the codec (zstd frame or verbatim); when
//                      encrypted, that stream cut into 64 KiB secretstream messages
//                      (XChaCha20-Poly1305, the last one tagged final)
//   trailer (48 bytes) raw size (u64 LE), SHA-256 of the raw content (keyed BLAKE2b of
//                      it when encrypted), "PGBE" magic
// so any object can be verified on its own, streaming, without its manifest. An
// encrypted object is bound to its name: moved or copied to another name it no longer
// authenticates.
//
// This is the one pipeline: read -> checksum -> compress -> [encrypt] -> store.
#pragma once
#include "pgbk/crypto.hpp"
#include "pgbk/hash.hpp"
#include "pgbk/storage.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pgbk {

enum class Codec : uint8_t { None = 0, Zstd = 1 };

enum class Cipher : uint8_t { None = 0, XChaCha20Poly1305 = 1 };

struct CodecOptions {
	Codec codec = Codec::Zstd;
	int level = 3;
	// Encrypts with this key when set (owned by the repository's keyring).
	const EncryptionKey *key = nullptr;
};

constexpr size_t kObjectHeaderSize = 8;
constexpr size_t kObjectTrailerSize = 48;
constexpr uint8_t kObjectFormatVersion = 1;

struct ObjectSummary {
	uint64_t raw_size = 0;
	Digest sha256{};
	uint64_t stored_size = 0;
};

// Streams raw bytes into an object on a StorageWriter. Finish() writes the trailer but
// does not commit: the caller decides when the object becomes visible. `name` is the
// object's key in the repository (an encrypted object authenticates only under it).
class ObjectWriter {
public:
	ObjectWriter(StorageWriter &out, const CodecOptions &opts, const std::string &name);
	~ObjectWriter();
	ObjectWriter(const ObjectWriter &) = delete;
	ObjectWriter &operator=(const ObjectWriter &) = delete;
	void Write(const void *data, size_t len);
	ObjectSummary Finish();

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

// Streams the raw content back out of an object, verifying format, size and checksum.
// Read() returns 0 at the end only after the trailer checked out; any mismatch throws
// Corrupt naming `name`. With a keyring holding a key, only encrypted objects are
// accepted (a plaintext object there was not written by pgbk); without one, an
// encrypted object is a Config error asking for the key.
class ObjectReader {
public:
	ObjectReader(std::unique_ptr<StorageReader> in, std::string name, const Keyring *keyring);
	~ObjectReader();
	ObjectReader(const ObjectReader &) = delete;
	ObjectReader &operator=(const ObjectReader &) = delete;
	size_t Read(void *buf, size_t len);
	// Valid after Read() returned 0.
	const ObjectSummary &Summary() const;
	// The id of the key the object is encrypted with; empty when it is not encrypted.
	std::string KeyIdHex() const;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

// Whether a stored object holds exactly this raw content, from its header and trailer
// alone (the whole object is not read). Throws NotFound, Corrupt, or Config when the key
// the object needs is not in the keyring.
bool StoredObjectMatches(Storage &s, const std::string &key, const Keyring *keyring, uint64_t raw_size,
						 const Digest &sha256);

// Whole-object helpers for small objects (metadata).
ObjectSummary PutObject(Storage &s, const std::string &key, const std::string &content, const CodecOptions &opts,
						WriteMode mode);
// `key_id`, when given, receives the id of the key the object is encrypted with.
std::string GetObject(Storage &s, const std::string &key, const Keyring *keyring, size_t limit = 64 << 20,
					  std::string *key_id = nullptr);

} // namespace pgbk
