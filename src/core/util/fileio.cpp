#include "pgbk/fileio.hpp"

#include <climits>
#include <cstdlib>

#include <atomic>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgbk {

UniqueFd::~UniqueFd()
{
	if (fd_ >= 0)
		::close(fd_);
}

void
UniqueFd::Close(const std::string &path)
{
	int fd = fd_;
	fd_ = -1;
	if (fd >= 0 && ::close(fd) != 0)
		ThrowErrno("could not close \"" + path + "\"", errno);
}

UniqueFd
OpenOrThrow(const std::string &path, int flags, unsigned mode)
{
	int fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
	if (fd < 0)
		ThrowErrno("could not open \"" + path + "\"", errno);
	return UniqueFd(fd);
}

void
WriteFully(int fd, const void *data, size_t len, const std::string &path, int64_t offset)
{
	const char *p = static_cast<const char *>(data);
	while (len > 0) {
		ssize_t n = offset < 0 ? ::write(fd, p, len) : ::pwrite(fd, p, len, static_cast<off_t>(offset));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ThrowErrno("could not write \"" + path + "\"", errno);
		}
		p += n;
		len -= static_cast<size_t>(n);
		if (offset >= 0)
			offset += n;
	}
}

std::string
ReadSmallFile(const std::string &path, size_t max)
{
	UniqueFd fd = OpenOrThrow(path, O_RDONLY | O_CLOEXEC);
	std::vector<char> buf(64 * 1024);
	std::string out;
	ReadChunks(fd.get(), path, buf, [&](const char *data, size_t n) {
		if (out.size() + n > max)
			throw Error(ErrorKind::Corrupt, "\"" + path + "\" is larger than " + std::to_string(max) + " bytes");
		out.append(data, n);
	});
	return out;
}

void
ReadChunks(int fd, const std::string &path, std::vector<char> &buf, const std::function<void(const char *, size_t)> &fn)
{
	for (;;) {
		ssize_t n = ::read(fd, buf.data(), buf.size());
		if (n < 0) {
			if (errno == EINTR)
				continue;
			ThrowErrno("could not read \"" + path + "\"", errno);
		}
		if (n == 0)
			return;
		fn(buf.data(), static_cast<size_t>(n));
	}
}

void
SyncFileSystem(const std::string &path)
{
	UniqueFd fd = OpenOrThrow(path, O_RDONLY);
	if (::syncfs(fd.get()) != 0)
		ThrowErrno("could not sync the file system of \"" + path + "\"", errno);
}

bool
ListDirectory(const std::string &path, std::vector<std::string> *names)
{
	names->clear();
	DIR *d = ::opendir(path.c_str());
	if (d == nullptr) {
		if (errno == ENOENT)
			return false;
		ThrowErrno("could not open directory \"" + path + "\"", errno);
	}
	while (struct dirent *e = ::readdir(d)) {
		std::string name = e->d_name;
		if (name != "." && name != "..")
			names->push_back(std::move(name));
	}
	::closedir(d);
	return true;
}

void
RemoveTree(const std::string &path)
{
	struct stat st;
	if (::lstat(path.c_str(), &st) != 0) {
		if (errno == ENOENT)
			return;
		ThrowErrno("could not stat \"" + path + "\"", errno);
	}
	if (!S_ISDIR(st.st_mode)) {
		if (::unlink(path.c_str()) != 0 && errno != ENOENT)
			ThrowErrno("could not remove \"" + path + "\"", errno);
		return;
	}
	std::vector<std::string> names;
	ListDirectory(path, &names);
	for (const auto &n : names)
		RemoveTree(path + "/" + n);
	if (::rmdir(path.c_str()) != 0 && errno != ENOENT)
		ThrowErrno("could not remove directory \"" + path + "\"", errno);
}

void
FsyncPath(const std::string &path, bool directory)
{
	UniqueFd fd(::open(path.c_str(), (directory ? O_RDONLY | O_DIRECTORY : O_RDONLY) | O_CLOEXEC));
	if (fd.get() < 0)
		ThrowErrno("could not open \"" + path + "\" for fsync", errno);
	if (::fsync(fd.get()) != 0)
		ThrowErrno("could not fsync \"" + path + "\"", errno);
}

void
ReplaceFile(const std::string &path, const std::string &content, bool durable, unsigned mode)
{
	// Unique per process and call: threads (and processes) replacing one file at once
	// each write their own temporary file.
	static std::atomic<uint64_t> counter{0};
	std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
	try {
		UniqueFd fd = OpenOrThrow(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
		WriteFully(fd.get(), content.data(), content.size(), tmp);
		if (durable && ::fsync(fd.get()) != 0)
			ThrowErrno("could not fsync \"" + tmp + "\"", errno);
		fd.Close(tmp);
		if (::rename(tmp.c_str(), path.c_str()) != 0)
			ThrowErrno("could not rename \"" + tmp + "\" to \"" + path + "\"", errno);
	} catch (...) {
		::unlink(tmp.c_str());
		throw;
	}
}

std::string
StripTrailingSlashes(std::string text, bool keep_root)
{
	while (text.size() > (keep_root ? 1u : 0u) && text.back() == '/')
		text.pop_back();
	return text;
}

std::string
ResolvedPath(const std::string &path)
{
	// Split into components; the resolution starts at the longest existing prefix.
	std::vector<std::string> parts;
	for (size_t at = 0; at <= path.size();) {
		size_t slash = path.find('/', at);
		std::string part = path.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
		if (!part.empty())
			parts.push_back(part);
		if (slash == std::string::npos)
			break;
		at = slash + 1;
	}
	std::string base = path.empty() || path[0] != '/' ? "." : "/";
	size_t existing = parts.size();
	std::string resolved;
	for (;; existing--) {
		std::string prefix = base;
		for (size_t i = 0; i < existing; i++)
			prefix += (prefix.back() == '/' ? "" : "/") + parts[i];
		char buf[PATH_MAX];
		if (::realpath(prefix.c_str(), buf) != nullptr) {
			resolved = buf;
			break;
		}
		if (existing == 0)
			return path; // not even the start exists
	}
	for (size_t i = existing; i < parts.size(); i++) {
		if (parts[i] == ".")
			continue;
		if (parts[i] == "..") {
			auto slash = resolved.find_last_of('/');
			resolved = slash == 0 || slash == std::string::npos ? "/" : resolved.substr(0, slash);
			continue;
		}
		resolved += (resolved.back() == '/' ? "" : "/") + parts[i];
	}
	return resolved;
}

bool
PathIsWithin(const std::string &path, const std::string &dir)
{
	std::string p = ResolvedPath(path), d = ResolvedPath(dir);
	return p == d || (d == "/" ? true : p.rfind(d + "/", 0) == 0);
}

} // namespace pgbk
