// The one storage interface every repository driver implements (local directory now,
// S3 next). Keys are '/'-separated relative paths; drivers never interpret them.
//
// Durability contract: a write is invisible under its key until Commit() returns, and
// once Commit() returns it survives a crash (for Deferred writes: once Sync() returns).
// A writer destroyed without Commit() leaves nothing behind under the key.
#pragma once
#include "pgbk/error.hpp"

#include <cstdint>
#include <chrono>
#include <mutex>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgbk {

class StorageWriter {
public:
	virtual ~StorageWriter() = default;
	virtual void Write(const void *data, size_t len) = 0;
	virtual void Commit() = 0;
};

class StorageReader {
public:
	virtual ~StorageReader() = default;
	// Returns the number of bytes read; 0 only at the end of the object.
	virtual size_t Read(void *buf, size_t len) = 0;
};

enum class WriteMode {
	Replace, // atomically replace any existing object
	CreateOnly, // fail with AlreadyExists if the key exists (never overwrite)
};

enum class Durability {
	Immediate, // durable when Commit() returns
	Deferred, // visible when Commit() returns, durable after the next Storage::Sync()
};

struct ListEntry {
	std::string key; // full key (for a common prefix: ends with '/')
	uint64_t size = 0; // object size; 0 for prefixes
	bool is_prefix = false;
	// When the object was last written, unix seconds by the store's clock (S3
	// LastModified, a file's modification time); 0: unknown.
	int64_t modified = 0;
};

// The store's clock as its last answer gave it (the S3 Date header), advanced by the
// time elapsed since on this machine's steady clock. Shared by every client of a store.
class StoreClock {
public:
	void Observe(int64_t store_seconds);
	std::optional<int64_t> Now() const;

private:
	mutable std::mutex mu_;
	int64_t seen_ = 0;
	std::chrono::steady_clock::time_point seen_at_;
};

// How a store enforces create-only writes: decided by the store itself between writers
// racing for one key (exactly one wins), or a check before the write (both may "win").
struct CreateOnlySupport {
	bool conditional = true;
	std::string how; // for messages
};

class Storage {
public:
	virtual ~Storage() = default;
	virtual std::unique_ptr<StorageWriter> OpenWrite(const std::string &key, WriteMode mode,
													 Durability durability = Durability::Immediate) = 0;
	// Makes every Deferred write committed so far durable. Used before a backup's
	// manifest and completion marker: one barrier instead of one flush per file.
	virtual void Sync() = 0;
	// Throws NotFound if the key does not exist. offset > size reads nothing.
	virtual std::unique_ptr<StorageReader> OpenRead(const std::string &key, uint64_t offset = 0) = 0;
	// Size of the object, or nullopt if absent.
	virtual std::optional<uint64_t> Size(const std::string &key) = 0;
	// Streams the entries under prefix in key order. Non-recursive listing groups
	// deeper keys into one prefix entry per next '/' (like S3's delimiter).
	virtual void List(const std::string &prefix, bool recursive, const std::function<void(const ListEntry &)> &fn) = 0;
	// Removes the object; absent is not an error.
	virtual void Remove(const std::string &key) = 0;
	// Removes many objects (one request per 1000 keys on S3).
	virtual void
	RemoveMany(const std::vector<std::string> &keys)
	{
		for (const auto &k : keys)
			Remove(k);
	}
	// Removes every object under a prefix ending in '/', streaming the listing. Only for
	// prefixes nobody writes to any more: the local driver also removes what writers that
	// died left behind (temporary files a listing never shows).
	virtual void RemovePrefix(const std::string &prefix);
	// How create-only writes are enforced. With `probe` the driver may ask the store
	// (a few requests, once per process); without, it answers from what it knows and
	// nullopt when it does not know yet.
	virtual std::optional<CreateOnlySupport>
	CreateOnlyWrites(bool)
	{
		return CreateOnlySupport{true, "atomic in the file system (a link that never replaces)"};
	}
	// Uploads begun under `prefix` and neither completed nor aborted (S3 multipart), if
	// the store can tell; a writer dropped before Commit must leave none.
	virtual std::optional<size_t>
	PendingUploads(const std::string &)
	{
		return std::nullopt;
	}
	// The store's clock now, in the terms of ListEntry::modified: a lease is judged by
	// one clock every node shares, never by a node's own. nullopt: unknown yet.
	virtual std::optional<int64_t>
	StoreNow()
	{
		return std::nullopt;
	}
	// Human-readable location for messages.
	virtual std::string Describe() const = 0;
	// False when the repository certainly does not exist (a local directory that is not
	// there). Readers say so instead of reporting an empty repository; only writers
	// create one.
	virtual bool
	Exists()
	{
		return true;
	}
};

// Removes keys in batches of up to 1000 (RemoveMany) while a listing streams them:
// memory stays bounded. Flush() sends the last batch.
class BatchRemover {
public:
	explicit BatchRemover(Storage &s) : s_(s) {}
	void
	Add(std::string key)
	{
		batch_.push_back(std::move(key));
		if (batch_.size() >= 1000)
			Flush();
	}
	void
	Flush()
	{
		s_.RemoveMany(batch_);
		batch_.clear();
	}

private:
	Storage &s_;
	std::vector<std::string> batch_;
};

// Convenience helpers on top of the interface.
void PutBytes(Storage &s, const std::string &key, const std::string &data, WriteMode mode);
std::string GetBytes(Storage &s, const std::string &key, size_t limit = 64 << 20);

// Local directory driver (also reached through the registry, storage_driver.hpp).
std::unique_ptr<Storage> OpenLocalStorage(const std::string &root);
// Checks that a local repository directory is usable (exists and writable, or can be
// created). Returns an empty string when usable, otherwise the reason.
std::string CheckLocalRepositoryUsable(const std::string &path);

} // namespace pgbk
