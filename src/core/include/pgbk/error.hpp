// Error type of the Postgres-free core. Every core failure is a pgbk::Error with a
// category, so that glue and CLI can map it (WARNING vs ERROR, exit codes) without
// parsing messages.
#pragma once
#ifdef POSTGRES_H
#error "pgbk core headers must be included before any PostgreSQL header"
#endif

#include <stdexcept>
#include <string>

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
	Error(ErrorKind kind, const std::string &message) : std::runtime_error(message), kind_(kind) {}
	ErrorKind
	kind() const noexcept
	{
		return kind_;
	}

private:
	ErrorKind kind_;
};

// Throws Io with "what: strerror(errno)".
[[noreturn]] void ThrowErrno(const std::string &what, int err);

} // namespace pgbk
