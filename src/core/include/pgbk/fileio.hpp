// Small POSIX file helpers shared by the storage driver, the WAL archive and restore.
#pragma once
#include "pgbk/error.hpp"

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace pgbk {

// Owns a file descriptor; closes it on destruction (errors on that close are ignored:
// call Close() where they matter).
class UniqueFd {
public:
	explicit UniqueFd(int fd = -1) : fd_(fd) {}
	UniqueFd(UniqueFd &&other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
	~UniqueFd();
	UniqueFd(const UniqueFd &) = delete;
	UniqueFd &operator=(const UniqueFd &) = delete;
	int
	get() const
	{
		return fd_;
	}
	// Closes now; throws Io naming `path` if close fails.
	void Close(const std::string &path);

private:
	int fd_;
};

// Opens or throws ThrowErrno("could not open \"path\"").
UniqueFd OpenOrThrow(const std::string &path, int flags, unsigned mode = 0600);
// Writes all of data at the current position (offset < 0) or at offset.
void WriteFully(int fd, const void *data, size_t len, const std::string &path, int64_t offset = -1);
// Calls fn for each chunk read from the current position to the end of the file.
void ReadChunks(int fd, const std::string &path, std::vector<char> &buf,
				const std::function<void(const char *, size_t)> &fn);
// The whole of a small file (a history file, a marker); throws Corrupt past `max` bytes.
std::string ReadSmallFile(const std::string &path, size_t max);
// fsync(2) of a file or (directory = true) of a directory's entries.
void FsyncPath(const std::string &path, bool directory);
// syncfs(2) of the file system holding path: every dirty file and directory entry.
void SyncFileSystem(const std::string &path);
// The names in a directory, without "." and "..", in no particular order; false (and
// nothing) if it does not exist. Other errors throw.
bool ListDirectory(const std::string &path, std::vector<std::string> *names);
// Removes a file, link or whole directory tree, never following links; absent is fine.
void RemoveTree(const std::string &path);
// Replaces path's content atomically (a temporary file beside it, then a rename), made
// durable first when `durable`.
void ReplaceFile(const std::string &path, const std::string &content, bool durable, unsigned mode = 0600);

// The path with every link, "." and ".." resolved, as far as it exists: the nearest
// existing ancestor through realpath(3), the rest appended with "." and ".." applied.
// "//data/x", "/./data/x", "/repo/../data/x" and a link to /data all become "/data/x".
std::string ResolvedPath(const std::string &path);
// The text without the slashes it ends with: "/a/b//" is "/a/b". `keep_root` for a
// file path, where "/" is the root and stays; a URL's path or a key prefix drops it.
std::string StripTrailingSlashes(std::string text, bool keep_root = true);
// Whether `path` is `dir` or inside it, both resolved.
bool PathIsWithin(const std::string &path, const std::string &dir);

} // namespace pgbk
