#include "pgbk/archive_spool.hpp"
#include "pgbk/settings.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/threads.hpp"
#include "pgbk/timeline_fence.hpp"
#include "pgbk/wal_archiver.hpp"
#include "pgbk/wal.hpp"

#include <algorithm>
#include <cerrno>
#include <exception>
#include <thread>
#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
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

std::string
ResolveSpoolDirectory(const std::string &value, const std::string &data_directory)
{
	if (value.empty()) {
		std::string dd = StripTrailingSlashes(data_directory);
		if (dd.empty() || dd[0] != '/')
			throw Error(ErrorKind::Config,
						"cannot derive the default pgbk.spool_directory: data directory \"" + data_directory +
							"\" is not an absolute path",
						"Set pgbk.spool_directory to an absolute directory outside the data directory.");
		auto slash = dd.find_last_of('/');
		// One spool per cluster, beside the data directory (never inside: a base backup
		// would copy it), named after it like the default repository.
		return (slash == 0 ? std::string("") : dd.substr(0, slash)) + "/pgbk_spool-" + dd.substr(slash + 1);
	}
	RepositoryLocation location;
	try {
		location = ParseRepositoryLocation(value, data_directory);
	} catch (const Error &e) {
		throw Error(ErrorKind::Config, std::string(e.what()).replace(0, 0, "pgbk.spool_directory: "),
					"Set pgbk.spool_directory to an absolute directory outside the data directory, or leave it empty.");
	}
	// The driver says whether its location is a directory on this machine.
	if (location.driver->LocalDirectory(location).empty())
		throw Error(ErrorKind::Config, "pgbk.spool_directory must be a local directory, not " + value,
					"The spool holds WAL while the repository is away: give it a directory on this machine.");
	return location.root;
}

ArchiveSpool::ArchiveSpool(std::string directory, uint64_t limit, std::shared_ptr<const Keyring> keyring)
	: directory_(std::move(directory)), limit_(limit), spool_(OpenLocalStorage(directory_), std::move(keyring))
{
	usage_ = UsageOf(directory_);
}

ArchiveSpool::Usage
ArchiveSpool::CurrentUsage() const
{
	std::lock_guard<std::mutex> g(mu_);
	return usage_;
}

bool
ArchiveSpool::Store(const std::string &name, const std::string &path, const CodecOptions &codec)
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
ArchiveSpool::DrainOne(Repository &repo, const CodecOptions &codec, const std::string &name)
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
ArchiveSpool::Drain(Repository &repo, const CodecOptions &codec, int parallel,
					const std::function<void(const std::string &)> &admit, const std::function<bool()> &stop,
					const std::function<void(const std::string &)> &moved_fn)
{
	std::lock_guard<std::mutex> one(drain_mu_);
	// One process at a time: two drainers of one file would share its decoded copy.
	UniqueFd lock(::open((directory_ + "/.drain.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
	if (lock.get() < 0)
		ThrowErrno("could not open \"" + directory_ + "/.drain.lock\"", errno);
	if (::flock(lock.get(), LOCK_EX | LOCK_NB) != 0) {
		if (errno == EWOULDBLOCK)
			return 0; // another process is draining this spool
		ThrowErrno("could not lock \"" + directory_ + "/.drain.lock\"", errno);
	}
	// A drain interrupted by a crash leaves its decoded copy (the spooled object stays):
	// removed under the lock, never another process's copy in flight.
	if (DIR *d = ::opendir(directory_.c_str())) {
		while (struct dirent *e = ::readdir(d))
			if (std::string(e->d_name).rfind("drain-", 0) == 0)
				::unlink((directory_ + "/" + e->d_name).c_str());
		::closedir(d);
	}
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
		// The callbacks run one at a time: the archiver's fence keeps a cache of the
		// repository's history that is not safe to share between threads.
		std::mutex callback_mu;
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
					if (admit) {
						std::lock_guard<std::mutex> g(callback_mu);
						admit(names[i]);
					}
					DrainOne(repo, codec, names[i]);
					done++;
					if (moved_fn) {
						std::lock_guard<std::mutex> g(callback_mu);
						moved_fn(names[i]);
					}
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
	// Another process may have drained this spool too (the worker on a standby, before a
	// promotion started the archiver): counted again from what is there.
	Usage now = UsageOf(directory_);
	std::lock_guard<std::mutex> g(mu_);
	usage_ = now;
	return moved;
}

bool
ArchiveSpool::Fetch(const std::string &name, const std::string &dest)
{
	return spool_.FetchWalFile(name, dest);
}

bool
ArchiveSpool::FetchFrom(const std::string &directory, std::shared_ptr<const Keyring> keyring, const std::string &name,
						const std::string &dest)
{
	return Repository(OpenLocalStorage(directory), std::move(keyring)).FetchWalFile(name, dest);
}

ArchiveSpool::Usage
ArchiveSpool::UsageOf(const std::string &directory)
{
	Usage u;
	struct stat st;
	if (::stat(directory.c_str(), &st) != 0)
		return u;
	OpenLocalStorage(directory)->List(kWalPrefix, true, [&](const ListEntry &e) {
		if (!e.is_prefix && !NameOfKey(e.key).empty()) {
			u.files++;
			u.bytes += e.size;
		}
	});
	return u;
}

ArchiveSpoolDrainer::ArchiveSpoolDrainer(ArchiveSpool &spool, Repository &repo, ClusterIdentity cluster,
										 CodecOptions codec, int parallel, std::string data_directory,
										 uint64_t segment_size, std::function<bool()> stop)
	: spool_(spool), repo_(repo), cluster_(cluster), codec_(codec), parallel_(parallel),
	  data_directory_(std::move(data_directory)), segment_size_(segment_size), stop_(std::move(stop))
{
	thread_ = StartSignalFreeThread([this] { Run(); });
}

ArchiveSpoolDrainer::~ArchiveSpoolDrainer()
{
	{
		std::lock_guard<std::mutex> g(mu_);
		stopping_ = true;
	}
	cv_.notify_all();
	thread_.join();
}

void
ArchiveSpoolDrainer::Wake()
{
	{
		std::lock_guard<std::mutex> g(mu_);
		woken_ = true;
	}
	cv_.notify_all();
}

bool
ArchiveSpoolDrainer::RepositoryDown() const
{
	std::lock_guard<std::mutex> g(mu_);
	return down_;
}

std::string
ArchiveSpoolDrainer::LastError() const
{
	std::lock_guard<std::mutex> g(mu_);
	return last_error_;
}

uint64_t
DrainSpoolFenced(ArchiveSpool &spool, Repository &repo, const ClusterIdentity &cluster, bool *checked,
				 const CodecOptions &codec, int parallel, const std::string &data_directory, uint64_t segment_size,
				 const std::function<bool()> &stop, const std::function<void(const std::string &)> &moved)
{
	// Checked (or created) once, as the archive module does at its first file; a local
	// repository that went away after that (an unmounted volume) is an outage, never
	// recreated empty.
	if (!*checked) {
		repo.CheckOrInit(cluster);
		*checked = true;
	} else if (!repo.storage().Exists())
		throw Error(ErrorKind::Io, "the repository " + repo.Describe() + " is missing");
	TimelineFence fence(repo, segment_size);
	std::string pg_wal = data_directory + "/pg_wal";
	auto admit = [&](const std::string &name) {
		uint32_t tli = ClassifyWalFileName(name) == WalFileKind::TimelineHistory
						   ? TimelineOfHistoryFileName(name)
						   : ParseWalSegmentName(name, segment_size).value_or(WalSegment{1, 0}).timeline;
		fence.CheckFile(fence.LineageForFile(pg_wal, tli), name);
	};
	try {
		return spool.Drain(repo, codec, parallel, admit, stop, moved);
	} catch (const WalContentConflict &conflict) {
		StopArchiving(data_directory, std::string(conflict.what()) + " (while draining the spool)");
		throw;
	}
}

void
ArchiveSpoolDrainer::Run()
{
	auto stop = [&] {
		std::lock_guard<std::mutex> g(mu_);
		return stopping_ || (stop_ && stop_());
	};
	for (;;) {
		{
			std::unique_lock<std::mutex> lk(mu_);
			cv_.wait_for(lk, std::chrono::seconds(5), [&] { return stopping_ || woken_; });
			if (stopping_)
				return;
			woken_ = false;
		}
		if (spool_.CurrentUsage().files == 0 || ArchiveStopReason(data_directory_))
			continue;
		try {
			// The repository answers as soon as one file moves: the archiver may store
			// directly again while the rest drains.
			DrainSpoolFenced(spool_, repo_, cluster_, &checked_, codec_, parallel_, data_directory_, segment_size_,
							 stop, [&](const std::string &) {
								 std::lock_guard<std::mutex> g(mu_);
								 down_ = false;
							 });
			std::lock_guard<std::mutex> g(mu_);
			down_ = false;
			last_error_.clear();
		} catch (const WalContentConflict &conflict) {
			std::lock_guard<std::mutex> g(mu_);
			last_error_ = conflict.what();
		} catch (const std::exception &e) {
			std::lock_guard<std::mutex> g(mu_);
			// Down only when it refused or did not answer: a fenced file stays while the
			// repository answered, and any other refusal (another cluster's repository, a
			// key) is the archive module's to report, on its next direct attempt.
			const auto *error = dynamic_cast<const Error *>(&e);
			down_ = dynamic_cast<const WalFenced *>(&e) == nullptr && error != nullptr &&
					(error->kind() == ErrorKind::Io || error->kind() == ErrorKind::Timeout);
			last_error_ = e.what();
		}
	}
}

// The check of pgbk.spool_directory, beside the spool.
namespace settings {

void
CheckSpoolDirectory(const std::string &value, const CheckContext &context)
{
	if (!context.filesystem || context.types_only)
		return;
	if (value.empty() && context.data_directory.empty())
		return;
	std::string dir = ResolveSpoolDirectory(value, context.data_directory);
	if (std::string why = CheckLocalRepositoryUsable(dir); !why.empty())
		throw Error(ErrorKind::Config, "pgbk.spool_directory: " + why);
}

} // namespace settings

} // namespace pgbk
