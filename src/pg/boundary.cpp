/*
 * boundary.cpp
 *
 * Core failures as PostgreSQL errors: one place chooses the SQLSTATE and the hint.
 */
#include "boundary.hpp"

#include "glue.hpp"

namespace pgbk::glue {

int
SqlStateOf(ErrorKind kind)
{
	switch (kind) {
	case ErrorKind::Config:
		return ERRCODE_INVALID_PARAMETER_VALUE;
	case ErrorKind::Corrupt:
		return ERRCODE_DATA_CORRUPTED;
	case ErrorKind::Io:
	case ErrorKind::Timeout:
		return ERRCODE_IO_ERROR;
	case ErrorKind::NotFound:
		return ERRCODE_UNDEFINED_OBJECT;
	case ErrorKind::Conflict:
		return ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE;
	case ErrorKind::AlreadyExists:
		return ERRCODE_DUPLICATE_OBJECT;
	case ErrorKind::Cancelled:
		return ERRCODE_QUERY_CANCELED;
	}
	return ERRCODE_INTERNAL_ERROR;
}

ErrorKind
KindOfSqlState(int sqlstate)
{
	for (ErrorKind kind : {ErrorKind::Config, ErrorKind::Corrupt, ErrorKind::NotFound, ErrorKind::Conflict,
						   ErrorKind::AlreadyExists, ErrorKind::Cancelled})
		if (SqlStateOf(kind) == sqlstate)
			return kind;
	return ErrorKind::Io;
}

void
CallPostgres(const char *what, void (*fn)(void *arg), void *arg)
{
	MemoryContext caller_context = CurrentMemoryContext;
	volatile uint32 holdoff = InterruptHoldoffCount;
	volatile bool failed = false;
	volatile int sqlstate = 0;
	char message[1024] = "", hint[512] = "";

	HOLD_INTERRUPTS();
	PG_TRY();
	{
		fn(arg);
	}
	PG_CATCH();
	{
		ErrorData *edata;

		MemoryContextSwitchTo(caller_context);
		edata = CopyErrorData();
		FlushErrorState();
		/* What the failed call held (no caller of this one holds any: it runs under RunCpp). */
		LWLockReleaseAll();
		ConditionVariableCancelSleep();
		sqlstate = edata->sqlerrcode;
		strlcpy(message, edata->message != NULL ? edata->message : "unknown error", sizeof(message));
		strlcpy(hint, edata->hint != NULL ? edata->hint : "", sizeof(hint));
		FreeErrorData(edata);
		failed = true;
	}
	PG_END_TRY();
	/* As before the call, however deep the error left the holdoff count. */
	InterruptHoldoffCount = holdoff;
	if (failed)
		throw Error(KindOfSqlState(sqlstate), std::string(what) + ": " + message, hint);
}

void
ReportFailure(const CppResult &r, int elevel, const char *what, const char *hint, const char *detail)
{
	const char *shown_hint = r.hint[0] != '\0' ? r.hint : hint;

	if (r.ok)
		return;
	if (r.cancelled && elevel >= ERROR)
		CHECK_FOR_INTERRUPTS();
	ereport(elevel, (errcode(SqlStateOf(r.kind)),
					 what != NULL ? errmsg("pgbk: %s: %s", what, r.message) : errmsg("pgbk: %s", r.message),
					 shown_hint != NULL && shown_hint[0] != '\0' ? errhint("%s", shown_hint) : 0,
					 detail != NULL ? errdetail("%s", detail) : 0));
}

void
RaiseIfFailed(const CppResult &r, const char *what, const char *hint)
{
	ReportFailure(r, ERROR, what, hint);
}

} // namespace pgbk::glue
