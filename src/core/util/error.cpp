#include "pgbk/error.hpp"

#include <cstring>

namespace pgbk {

void
ThrowErrno(const std::string &what, int err)
{
	ErrorKind kind = err == ENOENT ? ErrorKind::NotFound : err == EEXIST ? ErrorKind::AlreadyExists : ErrorKind::Io;
	throw Error(kind, what + ": " + std::strerror(err));
}

} // namespace pgbk
