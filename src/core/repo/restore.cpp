#include "pgbk/restore.hpp"

#include "pgbk/threads.hpp"

#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <sys/time.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace pgbk {
namespace {

constexpr uint64_t kFlushAfter = 8 << 20;

void
MakeDir(const std::string &path, mode_t mode)
{
	if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
		ThrowErrno("could not create directory \"" + path + "\"", errno);
	::chmod(path.c_str(), mode);
}

bool
DirectoryIsEmptyOrMissing(const std::string &path)
{
	DIR *d = ::opendir(path.c_str());
	if (d == nullptr)
		return errno == ENOENT;
	bool empty = true;
	while (struct dirent *e = ::readdir(d)) {
		if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") {
			empty = false;
			break;
		}
	}
	::closedir(d);
	return empty;
}

void
WriteAll(int fd, const void *data, size_t len, const std::string &path)
{
	const char *p = static_cast<const char *>(data);
	while (len > 0) {
		ssize_t n = ::write(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ThrowErrno("could not write \"" + path + "\"", errno);
		}
		p += n;
		len -= static_cast<size_t>(n);
	}
}

void
PwriteAll(int fd, const void *data, size_t len, uint64_t offset, const std::string &path)
{
	const char *p = static_cast<const char *>(data);
	while (len > 0) {
		ssize_t n = ::pwrite(fd, p, len, static_cast<off_t>(offset));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ThrowErrno("could not write \"" + path + "\"", errno);
		}
		p += n;
		len -= static_cast<size_t>(n);
		offset += static_cast<uint64_t>(n);
	}
}

void
AppendToFile(const std::string &path, const std::string &text)
{
	int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		ThrowErrno("could not open \"" + path + "\"", errno);
	WriteAll(fd, text.data(), text.size(), path);
	if (::fsync(fd) != 0 || ::close(fd) != 0)
		ThrowErrno("could not write \"" + path + "\"", errno);
}

} // namespace

std::string
QuoteConfValue(const std::string &v)
{
	std::string out = "'";
	for (char c : v) {
		if (c == '\'')
			out += "''";
		else
			out += c;
	}
	return out + "'";
}

std::string
ShellQuote(const std::string &v)
{
	std::string out = "'";
	for (char c : v) {
		if (c == '\'')
			out += "'\\''";
		else
			out += c;
	}
	return out + "'";
}

BackupRecord
SelectBackup(Repository &repo, const std::string &label)
{
	auto all = repo.ListBackups();
	std::string available;
	const BackupRecord *pick = nullptr;
	for (auto &b : all) {
		if (b.status != BackupStatus::Complete)
			continue;
		available += (available.empty() ? "" : ", ") + b.label;
		if (label.empty()) {
			// Newest by consistency point: stop time, then stop LSN.
			if (pick == nullptr || b.finished_at > pick->finished_at ||
				(b.finished_at == pick->finished_at && b.stop_lsn > pick->stop_lsn))
				pick = &b;
		} else if (b.label == label)
			pick = &b;
	}
	if (pick == nullptr) {
		if (available.empty())
			throw Error(ErrorKind::NotFound, "repository " + repo.Describe() + " holds no complete backup");
		throw Error(ErrorKind::NotFound,
					"no complete backup \"" + label + "\" in " + repo.Describe() + "; available: " + available);
	}
	return *pick;
}

RestoreResult
RestoreBackup(Repository &repo, const RestoreOptions &opts,
			  const std::function<void(const RestoreProgress &)> &progress)
{
	if (opts.pgdata.empty() || opts.pgdata[0] != '/')
		throw Error(ErrorKind::Config, "--pgdata must be an absolute path");
	if (!DirectoryIsEmptyOrMissing(opts.pgdata))
		throw Error(ErrorKind::Config,
					"directory \"" + opts.pgdata + "\" is not empty; restore needs an empty or missing directory");
	RestoreResult result;
	result.backup = SelectBackup(repo, opts.label);
	const BackupRecord &b = result.backup;
	MakeDir(opts.pgdata, 0700);

	// One file, or one part of a file stored in parts (written at its offset).
	struct Job {
		std::string path;
		uint32_t mode;
		int64_t mtime;
		uint64_t size;
		Digest sha256;
		size_t part = 0;
		uint64_t offset = 0;
	};
	std::mutex mu;
	std::condition_variable cv;
	std::deque<Job> queue;
	bool closed = false;
	std::atomic<bool> stop{false};
	std::exception_ptr first_error;
	std::atomic<uint64_t> bytes{0}, files{0};
	RestoreProgress prog;
	prog.total_bytes = b.database_bytes;
	prog.total_files = b.files;
	std::optional<Job> control;
	std::vector<std::string> tablespace_targets;
	uint64_t part_size = kPartSize;

	// Files are flushed by one syncfs before pg_control is written, not one by one.
	auto sync_target = [&]() {
		int dfd = ::open(opts.pgdata.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			ThrowErrno("could not open \"" + opts.pgdata + "\"", errno);
		int rc = ::syncfs(dfd);
		int err = errno;
		::close(dfd);
		if (rc != 0)
			ThrowErrno("could not sync the file system of \"" + opts.pgdata + "\"", err);
	};
	auto restore_file = [&](const Job &j) {
		std::string key = Repository::BackupPartKey(b.label, j.path, j.part);
		std::unique_ptr<StorageReader> in;
		try {
			in = repo.storage().OpenRead(key);
		} catch (const Error &e) {
			if (e.kind() == ErrorKind::NotFound)
				throw Error(ErrorKind::Corrupt, "backup " + b.label + " is missing object " + key);
			throw;
		}
		ObjectReader r(std::move(in), key);
		std::string path = opts.pgdata + "/" + j.path;
		int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC, j.mode & 0777);
		if (fd < 0)
			ThrowErrno("could not create \"" + path + "\"", errno);
		struct Closer {
			int fd;
			~Closer()
			{
				if (fd >= 0)
					::close(fd);
			}
		} closer{fd};
		std::vector<char> buf(256 * 1024);
		uint64_t written = 0, flushed = 0;
		while (size_t n = r.Read(buf.data(), buf.size())) {
			if (stop)
				throw Error(ErrorKind::Cancelled, "restore stopped");
			PwriteAll(fd, buf.data(), n, j.offset + written, path);
			bytes += n;
			written += n;
			// Start writeback early (as PostgreSQL's *_flush_after do): the final sync
			// then has little left, and dirty memory stays bounded.
			if (written - flushed >= kFlushAfter) {
				::sync_file_range(fd, static_cast<off_t>(j.offset + flushed), static_cast<off_t>(written - flushed),
								  SYNC_FILE_RANGE_WRITE);
				flushed = written;
			}
		}
		const ObjectSummary &s = r.Summary();
		if (s.raw_size != j.size || s.sha256 != j.sha256)
			throw Error(ErrorKind::Corrupt, "object " + key + " does not match the manifest of backup " + b.label +
												" (size or checksum differs)");
		struct timeval tv[2] = {{static_cast<time_t>(j.mtime), 0}, {static_cast<time_t>(j.mtime), 0}};
		::futimes(fd, tv);
		closer.fd = -1;
		if (::close(fd) != 0)
			ThrowErrno("could not close \"" + path + "\"", errno);
		if (j.part == 0)
			files++;
	};

	auto worker = [&]() {
		for (;;) {
			Job j;
			{
				std::unique_lock<std::mutex> lk(mu);
				cv.wait(lk, [&] { return !queue.empty() || closed || stop; });
				if (stop || (queue.empty() && closed))
					return;
				j = std::move(queue.front());
				queue.pop_front();
			}
			cv.notify_all();
			try {
				restore_file(j);
			} catch (...) {
				std::lock_guard<std::mutex> g(mu);
				if (!first_error)
					first_error = std::current_exception();
				stop = true;
				cv.notify_all();
			}
		}
	};

	std::vector<std::thread> threads;
	for (int i = 0; i < std::max(1, opts.parallel); i++)
		threads.push_back(StartSignalFreeThread(worker));
	auto report = [&]() {
		if (progress) {
			prog.bytes = bytes;
			prog.files = files;
			progress(prog);
		}
	};
	try {
		repo.ReadManifest(
			b, [&](const ManifestHeader &h) { part_size = h.part_size; },
			[&](const ManifestEntry &e) {
				std::string path = opts.pgdata + "/" + e.path;
				switch (e.type) {
				case ManifestEntry::Type::Directory:
					MakeDir(path, static_cast<mode_t>(e.mode & 07777));
					break;
				case ManifestEntry::Type::Link: {
					// Tablespace or other link: recreate the target directory (which must be
					// empty) and the link, as the original cluster had them.
					if (!DirectoryIsEmptyOrMissing(e.link_target))
						throw Error(ErrorKind::Config, "tablespace directory \"" + e.link_target +
														   "\" is not empty; remove it or restore on another machine");
					MakeDir(e.link_target, 0700);
					tablespace_targets.push_back(e.link_target);
					if (::symlink(e.link_target.c_str(), path.c_str()) != 0)
						ThrowErrno("could not create symbolic link \"" + path + "\"", errno);
					break;
				}
				case ManifestEntry::Type::File: {
					if (e.path == "global/pg_control") {
						control = Job{e.path, e.mode, e.mtime, e.size, e.sha256};
						break;
					}
					std::vector<Job> jobs;
					if (e.parts.empty())
						jobs.push_back(Job{e.path, e.mode, e.mtime, e.size, e.sha256});
					for (size_t k = 0; k < e.parts.size(); k++)
						jobs.push_back(
							Job{e.path, e.mode, e.mtime, e.parts[k].size, e.parts[k].sha256, k, k * part_size});
					for (auto &j : jobs) {
						std::unique_lock<std::mutex> lk(mu);
						while (queue.size() >= 64 && !stop)
							cv.wait_for(lk, std::chrono::milliseconds(200));
						if (stop)
							throw Error(ErrorKind::Cancelled, "restore stopped");
						queue.push_back(std::move(j));
						lk.unlock();
						cv.notify_all();
					}
					report();
					break;
				}
				}
			});
		{
			std::lock_guard<std::mutex> g(mu);
			closed = true;
		}
		cv.notify_all();
	} catch (...) {
		std::lock_guard<std::mutex> g(mu);
		if (!first_error)
			first_error = std::current_exception();
		stop = true;
		cv.notify_all();
	}
	for (auto &t : threads)
		t.join();
	if (first_error)
		std::rethrow_exception(first_error);
	if (!control)
		throw Error(ErrorKind::Corrupt, "backup " + b.label + " has no global/pg_control");

	// Recovery settings, then pg_control last.
	if (!opts.restore_command.empty() || !opts.repository.empty()) {
		std::string conf = "\n# Added by pgbk restore of backup " + b.label + "\n";
		if (!opts.repository.empty())
			conf += "pgbk.repository = " + QuoteConfValue(opts.repository) + "\n";
		if (!opts.restore_command.empty())
			conf += "restore_command = " + QuoteConfValue(opts.restore_command) + "\n";
		AppendToFile(opts.pgdata + "/postgresql.auto.conf", conf);
	}
	if (!opts.restore_command.empty())
		AppendToFile(opts.pgdata + "/recovery.signal", "");
	// Everything else durable first (tablespaces may live on other file systems), then
	// pg_control: a crash in between leaves a directory PostgreSQL refuses to start.
	sync_target();
	for (const auto &ts : tablespace_targets) {
		int tfd = ::open(ts.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tfd >= 0) {
			::syncfs(tfd);
			::close(tfd);
		}
	}
	restore_file(*control);
	sync_target();
	report();
	result.files = files;
	result.bytes = bytes;
	return result;
}

} // namespace pgbk
