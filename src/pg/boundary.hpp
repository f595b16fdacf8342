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
	char hint[512] = ""; // what to do, when the core said
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
		std::strncpy(r.hint, e.hint().c_str(), sizeof r.hint - 1);
	} catch (const std::exception &e) {
		r.ok = false;
		std::strncpy(r.message, e.what(), sizeof r.message - 1);
	} catch (...) {
		r.ok = false;
		std::strncpy(r.message, "unknown C++ exception", sizeof r.message - 1);
	}
	return r;
}

// The reverse direction: core code running under RunCpp calls PostgreSQL through an
// interface the glue implements (a BackupServer). `fn(arg)` runs under PG_TRY; an ERROR
// lands here, where no C++ object lives between this frame and PostgreSQL's, and is
// thrown on as a pgbk::Error ("what: message", the kind of its SQLSTATE) once PostgreSQL's
// error state is flushed. Interrupts are held meanwhile: a cancel or a shutdown acts once
// the core returns, never as an exit from under it. `fn` must hold only plain data.
void CallPostgres(const char *what, void (*fn)(void *arg), void *arg);

// The SQLSTATE a failure of this kind is raised with: configuration -> invalid
// parameter value, corrupt data -> data corrupted, I/O and timeouts -> I/O error,
// missing object -> undefined object, conflict -> object not in prerequisite state,
// already exists -> duplicate object, cancelled -> query canceled.
int SqlStateOf(ErrorKind kind);
// The kind of a PostgreSQL error, by its SQLSTATE (the inverse of SqlStateOf; Io for any
// other code).
ErrorKind KindOfSqlState(int sqlstate);

// Reports a failed core call at elevel, the one way core failures reach PostgreSQL:
// "pgbk: <what>: <message>" (or "pgbk: <message>" without what), the SQLSTATE of its
// kind, the core's hint or else `hint`, and `detail`. A cancellation first lets
// CHECK_FOR_INTERRUPTS act on the pending interrupt. Call it only from frames that own
// no C++ objects: at ERROR it does not return.
void ReportFailure(const CppResult &r, int elevel, const char *what, const char *hint = nullptr,
				   const char *detail = nullptr);

// Raises a failed core call as an ERROR; does nothing when it succeeded.
void RaiseIfFailed(const CppResult &r, const char *what, const char *hint = nullptr);

} // namespace pgbk::glue
