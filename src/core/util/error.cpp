#include "pgbk/error.hpp"

#include <cstring>

namespace pgbk {

void
ThrowErrno(const std::string &what, int err)
{
	ErrorKind kind = err == ENOENT ? ErrorKind::NotFound : err == EEXIST ? ErrorKind::AlreadyExists : ErrorKind::Io;
	throw Error(kind, what + ": " + std::strerror(err));
}

int
ExitCodeOf(ErrorKind kind)
{
	switch (kind) {
	case ErrorKind::Config:
		return 3;
	case ErrorKind::Io:
	case ErrorKind::Timeout:
		return 4;
	case ErrorKind::Corrupt:
		return 5;
	case ErrorKind::Conflict:
	case ErrorKind::AlreadyExists:
		return 6;
	case ErrorKind::NotFound:
		return 7;
	case ErrorKind::Cancelled:
		return 8;
	}
	return 4;
}

} // namespace pgbk
