// The only place PostgreSQL headers are included. Core (pgbk/...) and standard headers
// must be included before this file: port.h redefines printf-family names.
#pragma once

#include <type_traits>

extern "C" {
#include "postgres.h"

#include "access/htup_details.h"
#include "access/xlog.h"
#include "access/xlog_internal.h"
#include "access/xlogrecovery.h"
#include "catalog/pg_authid.h"
#include "catalog/pg_proc.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "nodes/makefuncs.h"
#include "nodes/parsenodes.h"
#include "postmaster/postmaster.h"
#include "pgstat.h"
#include "postmaster/bgworker.h"
#include "postmaster/interrupt.h"
#if PG_VERSION_NUM >= 160000
#include "access/xlogbackup.h"
#include "archive/archive_module.h"
#else
#include "postmaster/pgarch.h"
#endif
#include "replication/walreceiver.h"
#include "storage/condition_variable.h"
#include "storage/fd.h"
#include "storage/ipc.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "storage/proc.h"
#include "storage/shmem.h"
#include "tcop/tcopprot.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/guc.h"
#include "utils/jsonb.h"
#include "utils/pg_lsn.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"
#include "utils/tuplestore.h"
#include "utils/wait_event.h"
}

// PG15's type-compatibility assertions use a C-only builtin; restate them for C++.
#undef AssertVariableIsOfType
#undef AssertVariableIsOfTypeMacro
#define PGBK_SAME_TYPE(v, T) std::is_same<std::remove_cv_t<std::remove_reference_t<decltype(v)>>, T>::value
#define AssertVariableIsOfType(v, T)                                                                                   \
	static_assert(PGBK_SAME_TYPE(v, T), CppAsString(v) " does not have type " CppAsString(T))
#define AssertVariableIsOfTypeMacro(v, T) ((void)sizeof(char[PGBK_SAME_TYPE(v, T) ? 1 : -1]))
