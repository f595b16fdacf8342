// Stored object format v1 (docs/repository-format.md): every object pgbk writes is
//   header  (8 bytes)  "PGBK", version, codec, cipher, reserved
//   body               the raw content through the codec (zstd frame or verbatim)
//   trailer (48 bytes) raw size (u64 LE), SHA-256 of the raw content, "PGBE" magic
// so any object can be verified on its own, streaming, without its manifest.
//
// This is the one pipeline: read -> checksum -> compress -> [encrypt] -> store.
#pragma once
#include "pgbk/hash.hpp"
#include "pgbk/storage.hpp"

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pgbk {

enum class Codec : uint8_t { None = 0, Zstd = 1 };

struct CodecOptions {
	Codec codec = Codec::Zstd;
	int level = 3;
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
// does not commit: the caller decides when the object becomes visible.
class ObjectWriter {
public:
	ObjectWriter(StorageWriter &out, const CodecOptions &opts);
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
// Corrupt naming `name`.
class ObjectReader {
public:
	ObjectReader(std::unique_ptr<StorageReader> in, std::string name);
	~ObjectReader();
	ObjectReader(const ObjectReader &) = delete;
	ObjectReader &operator=(const ObjectReader &) = delete;
	size_t Read(void *buf, size_t len);
	// Valid after Read() returned 0.
	const ObjectSummary &Summary() const;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

// Reads only the trailer of a stored object (size and checksum of its raw content).
ObjectSummary ReadObjectTrailer(Storage &s, const std::string &key);

// Whole-object helpers for small objects (metadata).
ObjectSummary PutObject(Storage &s, const std::string &key, const std::string &content, const CodecOptions &opts,
						WriteMode mode);
std::string GetObject(Storage &s, const std::string &key, size_t limit = 64 << 20);

} // namespace pgbk
