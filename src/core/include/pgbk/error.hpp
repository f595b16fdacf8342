// Error type of the Postgres-free core. Every core failure is a pgbk::Error with a
// category, so that glue and CLI can map it (WARNING vs ERROR, exit codes) without
// parsing messages.
#pragma once
#ifdef POSTGRES_H
#error "pgbk core headers must be included before any PostgreSQL header"
#endif

#include <stdexcept>
#include <string>
#include <utility>

namespace pgbk {

enum class ErrorKind {
	Io, // the operating system or the store refused an operation
	NotFound, // an object or file does not exist
	AlreadyExists, // create-only write found an existing object
	Corrupt, // stored data failed a size, checksum or format check
	Conflict, // the repository belongs to another cluster, or content differs
	Config, // bad setting or argument
	Cancelled, // the caller asked us to stop
	Timeout, // a deadline passed
};

class Error : public std::runtime_error {
public:
	// message: what failed and why; hint: what to do about it (may be empty).
	Error(ErrorKind kind, const std::string &message, std::string hint = {})
		: std::runtime_error(message), kind_(kind), hint_(std::move(hint))
	{
	}
	ErrorKind
	kind() const noexcept
	{
		return kind_;
	}
	const std::string &
	hint() const noexcept
	{
		return hint_;
	}

private:
	ErrorKind kind_;
	std::string hint_;
};

// How the pgbk command exits after a failure of this kind (documented in its --help):
// 3 configuration or argument, 4 I/O or timeout, 5 corrupt data, 6 conflict (another
// cluster's repository, different content), 7 not found, 8 cancelled. 0 is success, 1
// "WAL file not in the repository" (wal-fetch) or a problem found (verify), 2 usage.
int ExitCodeOf(ErrorKind kind);

// Throws Io with "what: strerror(errno)".
[[noreturn]] void ThrowErrno(const std::string &what, int err);

} // namespace pgbk
