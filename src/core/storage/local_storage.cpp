// Local directory driver: temp file + fsync + link/rename + directory fsync, so that a
// key appears only complete and durable.
#include "pgbk/storage.hpp"
#include "pgbk/storage_driver.hpp"

#include "pgbk/cluster.hpp"
#include "pgbk/fileio.hpp"

#include <algorithm>
#include <atomic>
#include <climits>
#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <filesystem>
#include <sys/stat.h>
#include <unistd.h>
#include <vector>

namespace pgbk {
namespace {

std::atomic<uint64_t> temp_counter{0};

// mkdir -p, fsyncing each parent that gained an entry so new directories are durable.
void
MakeDirs(const std::string &dir)
{
	struct stat st;
	if (::stat(dir.c_str(), &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			throw Error(ErrorKind::Io, "\"" + dir + "\" exists and is not a directory");
		return;
	}
	auto slash = dir.find_last_of('/');
	std::string parent = slash == 0 ? "/" : dir.substr(0, slash);
	if (slash != std::string::npos && parent != dir)
		MakeDirs(parent);
	if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST)
		ThrowErrno("could not create directory \"" + dir + "\"", errno);
	FsyncPath(parent, true);
}

// Whether the pre-0.5 shared default repository `shared` holds the identity record of
// the cluster in `data_directory`. Anything unreadable or unexpected means no.
bool
SharedDefaultIsOwnedBy(const std::string &shared, const std::string &data_directory)
{
	try {
		uint64_t system_identifier = ReadSystemIdentifier(data_directory);
		UniqueFd record(::open((shared + "/pgbk.repo").c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
		if (record.get() < 0)
			return false;
		std::string text(64 * 1024, '\0');
		ssize_t n = ::pread(record.get(), text.data(), text.size(), 0);
		if (n <= 0)
			return false;
		text.resize(static_cast<size_t>(n));
		auto j = nlohmann::json::parse(text, nullptr, false);
		return j.is_object() && j.contains("system_identifier") && j["system_identifier"].is_string() &&
			   j["system_identifier"].get<std::string>() == std::to_string(system_identifier);
	} catch (const std::exception &) {
		return false;
	}
}

class LocalWriter final : public StorageWriter {
public:
	LocalWriter(std::string final_path, WriteMode mode, Durability durability)
		: final_(std::move(final_path)), mode_(mode), durability_(durability)
	{
		auto slash = final_.find_last_of('/');
		dir_ = final_.substr(0, slash);
		temp_ = dir_ + "/." + final_.substr(slash + 1) + ".tmp." + std::to_string(::getpid()) + "." +
				std::to_string(temp_counter.fetch_add(1));
		// A removal elsewhere may drop the directory once empty, between our mkdir and
		// open: make it again and retry.
		for (int attempt = 0; fd_ < 0 && attempt < 5; attempt++) {
			MakeDirs(dir_);
			fd_ = ::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
			if (fd_ < 0 && errno != ENOENT)
				break;
		}
		if (fd_ < 0)
			ThrowErrno("could not create \"" + temp_ + "\"", errno);
	}
	~LocalWriter() override
	{
		if (fd_ >= 0)
			::close(fd_);
		if (!committed_)
			::unlink(temp_.c_str());
	}
	void
	Write(const void *data, size_t len) override
	{
		WriteFully(fd_, data, len, temp_);
	}
	void
	Commit() override
	{
		if (durability_ == Durability::Immediate && ::fsync(fd_) != 0)
			ThrowErrno("could not fsync \"" + temp_ + "\"", errno);
		if (::close(fd_) != 0) {
			fd_ = -1;
			ThrowErrno("could not close \"" + temp_ + "\"", errno);
		}
		fd_ = -1;
		if (mode_ == WriteMode::CreateOnly) {
			// link() fails with EEXIST instead of replacing: never overwrite.
			if (::link(temp_.c_str(), final_.c_str()) != 0)
				ThrowErrno("could not store \"" + final_ + "\"", errno);
			::unlink(temp_.c_str());
		} else if (::rename(temp_.c_str(), final_.c_str()) != 0)
			ThrowErrno("could not rename \"" + temp_ + "\" to \"" + final_ + "\"", errno);
		committed_ = true;
		if (durability_ == Durability::Immediate)
			FsyncPath(dir_, true);
	}

private:
	std::string final_, dir_, temp_;
	WriteMode mode_;
	Durability durability_;
	int fd_ = -1;
	bool committed_ = false;
};

class LocalReader final : public StorageReader {
public:
	LocalReader(const std::string &path, uint64_t offset) : path_(path)
	{
		fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
		if (fd_ < 0)
			ThrowErrno("could not open \"" + path + "\"", errno);
		if (offset > 0 && ::lseek(fd_, static_cast<off_t>(offset), SEEK_SET) < 0) {
			int err = errno;
			::close(fd_);
			ThrowErrno("could not seek in \"" + path + "\"", err);
		}
	}
	~LocalReader() override { ::close(fd_); }
	size_t
	Read(void *buf, size_t len) override
	{
		for (;;) {
			ssize_t n = ::read(fd_, buf, len);
			if (n >= 0)
				return static_cast<size_t>(n);
			if (errno != EINTR)
				ThrowErrno("could not read \"" + path_ + "\"", errno);
		}
	}

private:
	std::string path_;
	int fd_ = -1;
};

bool
IsTempName(const char *name)
{
	return name[0] == '.';
}

class LocalStorage final : public Storage {
public:
	explicit LocalStorage(std::string root) : root_(std::move(root)) {}

	bool
	Exists() override
	{
		struct stat st;
		return ::stat(root_.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
	}

	std::unique_ptr<StorageWriter>
	OpenWrite(const std::string &key, WriteMode mode, Durability durability) override
	{
		return std::make_unique<LocalWriter>(PathOf(key), mode, durability);
	}
	void
	Sync() override
	{
		// syncfs: every file and directory entry on the repository's file system, in
		// one call and with no list of written files to keep.
		SyncFileSystem(root_);
	}
	std::unique_ptr<StorageReader>
	OpenRead(const std::string &key, uint64_t offset) override
	{
		return std::make_unique<LocalReader>(PathOf(key), offset);
	}
	std::optional<uint64_t>
	Size(const std::string &key) override
	{
		struct stat st;
		if (::stat(PathOf(key).c_str(), &st) != 0) {
			if (errno == ENOENT || errno == ENOTDIR)
				return std::nullopt;
			ThrowErrno("could not stat \"" + PathOf(key) + "\"", errno);
		}
		if (!S_ISREG(st.st_mode))
			return std::nullopt;
		return static_cast<uint64_t>(st.st_size);
	}
	void
	List(const std::string &prefix, bool recursive, const std::function<void(const ListEntry &)> &fn) override
	{
		// The prefix is split into a directory part and a name filter.
		auto slash = prefix.find_last_of('/');
		std::string dir = slash == std::string::npos ? "" : prefix.substr(0, slash + 1);
		std::string filter = slash == std::string::npos ? prefix : prefix.substr(slash + 1);
		ListDir(dir, filter, recursive, fn);
	}
	void
	RemovePrefix(const std::string &prefix) override
	{
		if (prefix.empty() || prefix.back() != '/')
			throw Error(ErrorKind::Config, "RemovePrefix needs a prefix ending in '/'");
		std::string key = prefix.substr(0, prefix.size() - 1);
		RemoveTree(PathOf(key));
		PruneParents(key);
	}
	void
	Remove(const std::string &key) override
	{
		std::string path = PathOf(key);
		if (::unlink(path.c_str()) != 0 && errno != ENOENT)
			ThrowErrno("could not remove \"" + path + "\"", errno);
		PruneParents(key);
	}
	// Files get their modification times from this machine's clock (from the server's on
	// a network file system whose clients keep time with it).
	std::optional<int64_t>
	StoreNow() override
	{
		return static_cast<int64_t>(::time(nullptr));
	}
	std::string
	Describe() const override
	{
		return root_;
	}

private:
	// Drops now-empty parent directories of key below the root, best effort.
	void
	PruneParents(const std::string &key)
	{
		for (auto pos = key.find_last_of('/'); pos != std::string::npos && pos > 0;
			 pos = key.find_last_of('/', pos - 1)) {
			if (::rmdir(PathOf(key.substr(0, pos)).c_str()) != 0)
				break;
		}
	}
	std::string
	PathOf(const std::string &key) const
	{
		if (key.empty() || key[0] == '/' || key.find("..") != std::string::npos)
			throw Error(ErrorKind::Config, "invalid repository key \"" + key + "\"");
		return root_ + "/" + key;
	}

	// Lists one directory level sorted by name; directory names sort as "name/" so the
	// stream stays in key order. Memory: one directory's names at a time.
	void
	ListDir(const std::string &dir, const std::string &filter, bool recursive,
			const std::function<void(const ListEntry &)> &fn)
	{
		std::string path = dir.empty() ? root_ : root_ + "/" + dir.substr(0, dir.size() - 1);
		DIR *d = ::opendir(path.c_str());
		if (d == nullptr) {
			if (errno == ENOENT)
				return;
			ThrowErrno("could not open directory \"" + path + "\"", errno);
		}
		std::vector<std::pair<std::string, bool>> names;
		try {
			errno = 0;
			while (struct dirent *e = ::readdir(d)) {
				if (IsTempName(e->d_name) || std::strncmp(e->d_name, filter.c_str(), filter.size()) != 0)
					continue;
				bool is_dir = e->d_type == DT_DIR;
				if (e->d_type == DT_UNKNOWN) {
					struct stat st;
					is_dir = ::stat((path + "/" + e->d_name).c_str(), &st) == 0 && S_ISDIR(st.st_mode);
				}
				names.emplace_back(is_dir ? std::string(e->d_name) + "/" : std::string(e->d_name), is_dir);
			}
		} catch (...) {
			::closedir(d);
			throw;
		}
		::closedir(d);
		std::sort(names.begin(), names.end());
		for (auto &[name, is_dir] : names) {
			if (is_dir) {
				if (recursive)
					ListDir(dir + name, "", true, fn);
				else
					fn(ListEntry{dir + name, 0, true});
			} else {
				struct stat st;
				if (::stat((path + "/" + name).c_str(), &st) != 0)
					continue; // removed meanwhile
				fn(ListEntry{dir + name, static_cast<uint64_t>(st.st_size), false, static_cast<int64_t>(st.st_mtime)});
			}
		}
	}

	std::string root_;
};

} // namespace

std::unique_ptr<Storage>
OpenLocalStorage(const std::string &root)
{
	return std::make_unique<LocalStorage>(root);
}

std::string
CheckLocalRepositoryUsable(const std::string &path)
{
	struct stat st;
	if (::stat(path.c_str(), &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return "\"" + path + "\" exists and is not a directory";
		if (::access(path.c_str(), W_OK | X_OK) != 0)
			return "directory \"" + path + "\" is not writable by this server's user";
		return "";
	}
	if (errno != ENOENT)
		return "cannot access \"" + path + "\": " + std::to_string(errno);
	// Missing: the nearest existing ancestor must let us create it.
	std::string parent = path;
	for (;;) {
		auto slash = parent.find_last_of('/');
		parent = slash == 0 ? "/" : parent.substr(0, slash);
		if (::stat(parent.c_str(), &st) == 0)
			break;
		if (parent == "/")
			break;
	}
	if (!S_ISDIR(st.st_mode) || ::access(parent.c_str(), W_OK | X_OK) != 0)
		return "directory \"" + path + "\" does not exist and cannot be created in \"" + parent + "\"";
	return "";
}

namespace {

// Absolute directories and file:///directory; the default repository beside the data
// directory.
class LocalDriver final : public StorageDriver {
public:
	std::string_view
	Scheme() const override
	{
		return "file";
	}
	std::string_view
	Syntax() const override
	{
		return "an absolute directory path, file:///absolute/path";
	}
	bool
	Accepts(std::string_view url) const override
	{
		return StorageDriver::Accepts(url) || url.find("://") == std::string_view::npos;
	}
	RepositoryLocation
	Parse(const std::string &url, const std::string &data_directory) const override
	{
		std::string path = url.rfind("file://", 0) == 0 ? url.substr(7) : url;
		if (path.empty() || path[0] != '/')
			throw Error(ErrorKind::Config,
						"repository path \"" + path + "\" is not absolute; use an absolute directory path");
		path = StripTrailingSlashes(path);
		if (path == "/")
			throw Error(ErrorKind::Config, "the root directory cannot be a repository; choose a dedicated directory");
		CheckOutsideDataDirectory(path, StripTrailingSlashes(data_directory));
		return Location(path);
	}
	std::optional<RepositoryLocation>
	DefaultLocation(const std::string &data_directory) const override
	{
		std::string dd = StripTrailingSlashes(data_directory);
		if (dd.empty() || dd[0] != '/')
			throw Error(ErrorKind::Config, "cannot derive the default repository: data directory \"" + data_directory +
											   "\" is not an absolute path; set pgbk.repository to an absolute path");
		auto slash = dd.find_last_of('/');
		std::string parent = slash == 0 ? std::string("") : dd.substr(0, slash);
		// One repository per cluster: two clusters beside each other (Debian's 15/main and
		// 15/second) must never share one, so the name carries the data directory's.
		std::string own = parent + "/pgbk_repo-" + dd.substr(slash + 1);
		// Before 0.5 the default was pgbk_repo, shared by every cluster in the parent:
		// a cluster keeps using it only when its identity record is this cluster's.
		std::string shared = parent + "/pgbk_repo";
		struct stat st;
		if (::lstat(own.c_str(), &st) != 0 && errno == ENOENT && SharedDefaultIsOwnedBy(shared, dd))
			return Location(shared);
		return Location(own);
	}
	void
	CheckUsable(const RepositoryLocation &location) const override
	{
		if (std::string why = CheckLocalRepositoryUsable(location.root); !why.empty())
			throw Error(ErrorKind::Config, why);
	}
	std::unique_ptr<Storage>
	Open(const RepositoryLocation &location, const settings::Values &, const StorageOpenOptions &) const override
	{
		return OpenLocalStorage(location.root);
	}

	std::string
	LocalDirectory(const RepositoryLocation &location) const override
	{
		return location.root;
	}

private:
	// A repository inside the data directory or a tablespace would be backed up into
	// itself until the volume fills. Paths are compared resolved (links, "//", "/./",
	// ".."), against the data directory and every tablespace's location.
	static void
	CheckOutsideDataDirectory(const std::string &path, const std::string &dd)
	{
		if (dd.empty())
			return;
		auto refuse = [&](const std::string &what, const std::string &where) {
			std::string resolved = ResolvedPath(path);
			throw Error(ErrorKind::Config, "repository \"" + path + "\" is inside the " + what +
											   (resolved != path ? " (it resolves to \"" + resolved + "\")" : "") +
											   "; choose a directory outside it" +
											   (where.empty() ? "" : " (" + where + ")"));
		};
		if (PathIsWithin(path, dd))
			refuse("data directory", "");
		std::vector<std::string> tablespaces;
		ListDirectory(dd + "/pg_tblspc", &tablespaces);
		for (const auto &oid : tablespaces) {
			char target[PATH_MAX];
			ssize_t n = ::readlink((dd + "/pg_tblspc/" + oid).c_str(), target, sizeof target - 1);
			if (n <= 0)
				continue;
			target[n] = '\0';
			if (PathIsWithin(path, target))
				refuse("tablespace " + oid, std::string("located at ") + target);
		}
	}

	RepositoryLocation
	Location(const std::string &path) const
	{
		RepositoryLocation l;
		l.driver = this;
		l.url = path;
		l.root = path;
		return l;
	}
};

const LocalDriver local_driver;
const StorageDriverRegistration local_registration(local_driver);

} // namespace

void
StoreClock::Observe(int64_t store_seconds)
{
	std::lock_guard<std::mutex> g(mu_);
	seen_ = store_seconds;
	seen_at_ = std::chrono::steady_clock::now();
}

std::optional<int64_t>
StoreClock::Now() const
{
	std::lock_guard<std::mutex> g(mu_);
	if (seen_ == 0)
		return std::nullopt;
	return seen_ +
		   std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - seen_at_).count();
}

void
Storage::RemovePrefix(const std::string &prefix)
{
	BatchRemover rm(*this);
	List(prefix, true, [&](const ListEntry &e) { rm.Add(e.key); });
	rm.Flush();
}

void
PutBytes(Storage &s, const std::string &key, const std::string &data, WriteMode mode)
{
	auto w = s.OpenWrite(key, mode);
	w->Write(data.data(), data.size());
	w->Commit();
}

std::string
GetBytes(Storage &s, const std::string &key, size_t limit)
{
	auto r = s.OpenRead(key);
	std::string out;
	char buf[65536];
	while (size_t n = r->Read(buf, sizeof buf)) {
		out.append(buf, n);
		if (out.size() > limit)
			throw Error(ErrorKind::Corrupt, "object \"" + key + "\" is larger than expected");
	}
	return out;
}

} // namespace pgbk
