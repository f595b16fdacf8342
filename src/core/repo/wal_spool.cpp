#include "pgbk/wal_spool.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/threads.hpp"
#include "pgbk/wal.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <thread>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace pgbk {

namespace {

constexpr const char *kWalPrefix = "wal/";

// The WAL file name a spool key holds ("" for anything else).
std::string
NameOfKey(const std::string &key)
{
	std::string name = key.substr(key.find_last_of('/') + 1);
	return ClassifyWalFileName(name) == WalFileKind::Unknown || WalArchiveKey(name) != key ? "" : name;
}

} // namespace

WalSpool::WalSpool(std::string directory, uint64_t limit, std::shared_ptr<const Keyring> keyring)
	: directory_(std::move(directory)), limit_(limit), spool_(OpenLocalStorage(directory_), std::move(keyring))
{
	// A drain interrupted by a crash leaves its decoded copy: the spooled object stays.
	if (DIR *d = ::opendir(directory_.c_str())) {
		while (struct dirent *e = ::readdir(d))
			if (std::string(e->d_name).rfind("drain-", 0) == 0)
				::unlink((directory_ + "/" + e->d_name).c_str());
		::closedir(d);
	}
	spool_.storage().List(kWalPrefix, true, [&](const ListEntry &e) {
		if (e.is_prefix || NameOfKey(e.key).empty())
			return;
		usage_.files++;
		usage_.bytes += e.size;
	});
}

WalSpool::Usage
WalSpool::CurrentUsage() const
{
	std::lock_guard<std::mutex> g(mu_);
	return usage_;
}

bool
WalSpool::Store(const std::string &name, const std::string &path, const CodecOptions &codec)
{
	std::string key = WalArchiveKey(name);
	if (spool_.storage().Size(key))
		return true; // spooled before (the archiver retried after a crash)
	struct stat st;
	if (::stat(path.c_str(), &st) != 0)
		ThrowErrno("could not stat \"" + path + "\"", errno);
	{
		// The raw size bounds what is stored (compression only shrinks WAL).
		std::lock_guard<std::mutex> g(mu_);
		if (usage_.bytes + static_cast<uint64_t>(st.st_size) > limit_)
			return false;
	}
	spool_.ArchiveWalFile(name, path, codec);
	uint64_t stored = spool_.storage().Size(key).value_or(0);
	std::lock_guard<std::mutex> g(mu_);
	usage_.files++;
	usage_.bytes += stored;
	return true;
}

void
WalSpool::DrainOne(Repository &repo, const CodecOptions &codec, const std::string &name)
{
	std::string key = WalArchiveKey(name);
	uint64_t size = spool_.storage().Size(key).value_or(0);
	// Decoded and checked against its own checksum first, then stored the way the
	// archive module stores (create-only; identical content already there counts).
	std::string plain = directory_ + "/drain-" + name;
	if (!spool_.FetchWalFile(name, plain))
		return; // drained meanwhile
	try {
		repo.ArchiveWalFile(name, plain, codec);
	} catch (...) {
		::unlink(plain.c_str());
		throw;
	}
	::unlink(plain.c_str());
	spool_.storage().Remove(key);
	std::lock_guard<std::mutex> g(mu_);
	usage_.files -= std::min<uint64_t>(usage_.files, 1);
	usage_.bytes -= std::min(usage_.bytes, size);
}

uint64_t
WalSpool::Drain(Repository &repo, const CodecOptions &codec, int parallel,
				const std::function<void(const std::string &)> &admit, const std::function<bool()> &stop)
{
	std::lock_guard<std::mutex> one(drain_mu_);
	// History files first (a later segment's fence needs them), then one WAL directory
	// (at most 4 GiB of WAL) at a time, in name order.
	std::vector<std::string> history, dirs;
	spool_.storage().List(kWalPrefix, false, [&](const ListEntry &e) {
		if (e.is_prefix)
			dirs.push_back(e.key);
		else if (ClassifyWalFileName(NameOfKey(e.key)) == WalFileKind::TimelineHistory)
			history.push_back(NameOfKey(e.key));
	});
	std::sort(history.begin(), history.end());
	std::sort(dirs.begin(), dirs.end());
	uint64_t moved = 0;
	auto drain_batch = [&](const std::vector<std::string> &names) {
		std::atomic<size_t> next{0};
		std::atomic<uint64_t> done{0};
		std::mutex err_mu;
		std::exception_ptr first;
		auto work = [&] {
			for (size_t i; (i = next++) < names.size();) {
				if (stop && stop())
					return;
				{
					std::lock_guard<std::mutex> g(err_mu);
					if (first)
						return;
				}
				try {
					if (admit)
						admit(names[i]);
					DrainOne(repo, codec, names[i]);
					done++;
				} catch (...) {
					std::lock_guard<std::mutex> g(err_mu);
					if (!first)
						first = std::current_exception();
				}
			}
		};
		std::vector<std::thread> threads;
		for (int t = 1; t < std::max(1, parallel); t++)
			threads.push_back(StartSignalFreeThread(work));
		work();
		for (auto &t : threads)
			t.join();
		moved += done;
		if (first)
			std::rethrow_exception(first);
	};
	drain_batch(history);
	for (const auto &dir : dirs) {
		if (stop && stop())
			break;
		std::vector<std::string> names;
		spool_.storage().List(dir, true, [&](const ListEntry &e) {
			if (std::string name = NameOfKey(e.key); !e.is_prefix && !name.empty())
				names.push_back(name);
		});
		std::sort(names.begin(), names.end());
		drain_batch(names);
	}
	return moved;
}

bool
WalSpool::Fetch(const std::string &name, const std::string &dest)
{
	return spool_.FetchWalFile(name, dest);
}

} // namespace pgbk
