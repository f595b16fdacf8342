// The C++/PostgreSQL boundary. RunCpp runs core code and never lets an exception out;
// the caller raises any PostgreSQL error afterwards, once every C++ object is gone.
// Glue frames that can ereport hold only plain-old-data locals.
#pragma once
#include "pgbk/error.hpp"

#include <cstddef>
#include <cstring>
#include <exception>

namespace pgbk::glue {

struct CppResult {
	bool ok = true;
	bool cancelled = false;
	ErrorKind kind = ErrorKind::Io;
	char message[1024] = "";
};

template <typename F>
CppResult
RunCpp(F &&fn) noexcept
{
	CppResult r;
	try {
		fn();
	} catch (const Error &e) {
		r.ok = false;
		r.kind = e.kind();
		r.cancelled = e.kind() == ErrorKind::Cancelled;
		std::strncpy(r.message, e.what(), sizeof r.message - 1);
	} catch (const std::exception &e) {
		r.ok = false;
		std::strncpy(r.message, e.what(), sizeof r.message - 1);
	} catch (...) {
		r.ok = false;
		std::strncpy(r.message, "unknown C++ exception", sizeof r.message - 1);
	}
	return r;
}

} // namespace pgbk::glue
