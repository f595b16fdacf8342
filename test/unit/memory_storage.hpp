// An in-memory Storage with faults, for driving policy (the archive service, the spool's
// drain) through outages without a real store: while `down` is set every operation fails
// as an unreachable store does (Io), and each operation is counted.
#pragma once
#include "pgbk/storage.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace pgbk::test {

class MemoryStore {
public:
	std::atomic<bool> down{false};
	std::atomic<int> operations{0};

	std::map<std::string, std::string>
	Objects() const
	{
		std::lock_guard<std::mutex> g(mu);
		return objects;
	}
	bool
	Has(const std::string &key) const
	{
		std::lock_guard<std::mutex> g(mu);
		return objects.count(key) != 0;
	}

	void
	Touch() // every operation: counted, and refused while the store is down
	{
		operations++;
		if (down)
			throw Error(ErrorKind::Io, "the store did not answer (test outage)");
	}

	mutable std::mutex mu;
	std::map<std::string, std::string> objects;
};

class MemoryStorage final : public Storage {
public:
	explicit MemoryStorage(std::shared_ptr<MemoryStore> store) : store_(std::move(store)) {}

	std::unique_ptr<StorageWriter>
	OpenWrite(const std::string &key, WriteMode mode, Durability) override
	{
		store_->Touch();
		return std::make_unique<Writer>(store_, key, mode);
	}
	void
	Sync() override
	{
		store_->Touch();
	}
	std::unique_ptr<StorageReader>
	OpenRead(const std::string &key, uint64_t offset) override
	{
		store_->Touch();
		std::lock_guard<std::mutex> g(store_->mu);
		auto it = store_->objects.find(key);
		if (it == store_->objects.end())
			throw Error(ErrorKind::NotFound, "no object " + key);
		return std::make_unique<Reader>(offset < it->second.size() ? it->second.substr(offset) : std::string());
	}
	std::optional<uint64_t>
	Size(const std::string &key) override
	{
		store_->Touch();
		std::lock_guard<std::mutex> g(store_->mu);
		auto it = store_->objects.find(key);
		if (it == store_->objects.end())
			return std::nullopt;
		return it->second.size();
	}
	void
	List(const std::string &prefix, bool recursive, const std::function<void(const ListEntry &)> &fn) override
	{
		store_->Touch();
		std::vector<ListEntry> entries;
		{
			std::lock_guard<std::mutex> g(store_->mu);
			std::string last_prefix;
			for (auto it = store_->objects.lower_bound(prefix);
				 it != store_->objects.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
				size_t slash = recursive ? std::string::npos : it->first.find('/', prefix.size());
				if (slash == std::string::npos)
					entries.push_back({it->first, it->second.size(), false});
				else if (std::string p = it->first.substr(0, slash + 1); p != last_prefix) {
					entries.push_back({p, 0, true});
					last_prefix = p;
				}
			}
		}
		for (const auto &e : entries)
			fn(e);
	}
	void
	Remove(const std::string &key) override
	{
		store_->Touch();
		std::lock_guard<std::mutex> g(store_->mu);
		store_->objects.erase(key);
	}
	std::string
	Describe() const override
	{
		return "memory://test";
	}

private:
	class Writer final : public StorageWriter {
	public:
		Writer(std::shared_ptr<MemoryStore> store, std::string key, WriteMode mode)
			: store_(std::move(store)), key_(std::move(key)), mode_(mode)
		{
		}
		void
		Write(const void *data, size_t len) override
		{
			data_.append(static_cast<const char *>(data), len);
		}
		void
		Commit() override
		{
			store_->Touch();
			std::lock_guard<std::mutex> g(store_->mu);
			if (mode_ == WriteMode::CreateOnly && store_->objects.count(key_))
				throw Error(ErrorKind::AlreadyExists, key_ + " exists");
			store_->objects[key_] = data_;
		}

	private:
		std::shared_ptr<MemoryStore> store_;
		std::string key_, data_;
		WriteMode mode_;
	};
	class Reader final : public StorageReader {
	public:
		explicit Reader(std::string data) : data_(std::move(data)) {}
		size_t
		Read(void *buf, size_t len) override
		{
			size_t n = std::min(len, data_.size() - pos_);
			std::memcpy(buf, data_.data() + pos_, n);
			pos_ += n;
			return n;
		}

	private:
		std::string data_;
		size_t pos_ = 0;
	};

	std::shared_ptr<MemoryStore> store_;
};

} // namespace pgbk::test
