// The one skeleton of a set-returning function whose rows core code builds: the rows are
// built inside RunCpp into an object on the heap, behind a plain pointer, and written out
// in PG_TRY, where writing a tuple may raise an ERROR; the object is deleted in
// PG_FINALLY either way, so an ERROR never skips a destructor and never leaks.
#pragma once
#include "boundary.hpp"
#include "glue.hpp"

namespace pgbk::glue {

// Writes the rows of `held` (made with new, owned from here on) with `emit`, then
// deletes it, also when `emit` raises an ERROR.
// (PG_CATCH and a rethrow rather than PG_FINALLY, whose flag gcc's -Wclobbered flags
// once this is inlined.)
template <typename T, typename Emit>
void
EmitThenDelete(T *held, Emit &&emit)
{
	T *volatile rows = held;

	PG_TRY();
	{
		emit(*rows);
	}
	PG_CATCH();
	{
		RunCpp([&] { delete rows; });
		PG_RE_THROW();
	}
	PG_END_TRY();
	RunCpp([&] { delete rows; });
}

// A materialized set-returning function: `build()` (core code, in RunCpp) returns the
// rows' source as a T; its failure is raised as "pgbk: <what>: ..."; `emit(const T &,
// ReturnSetInfo *)` writes the tuples.
template <typename T, typename Build, typename Emit>
Datum
MaterializeRows(FunctionCallInfo fcinfo, const char *what, Build &&build, Emit &&emit)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *)fcinfo->resultinfo;
	T *held = NULL;

	InitMaterializedSRF(fcinfo, 0);
	CppResult r = RunCpp([&] { held = new T(build()); });
	RaiseIfFailed(r, what);
	EmitThenDelete(held, [&](const T &rows) { emit(rows, rsinfo); });
	return (Datum)0;
}

} // namespace pgbk::glue
