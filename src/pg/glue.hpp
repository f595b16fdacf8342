// Declarations shared by the glue files: settings, shared memory, helpers.
#pragma once
#include "pgbk/backup_type.hpp"
#include "pgbk/node_identity.hpp"
#include "pgbk/object.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/retention.hpp"
#include "pgbk/schedule_slot.hpp"
#include "pgbk/settings.hpp"
#include "pgbk/timeline.hpp"

#include <memory>
#include <string>

#include "pg_includes.hpp"

#define PGBK_MAX_JOBS 64
#define PGBK_LABEL_LEN 64
#define PGBK_ERROR_LEN 1024

typedef enum PgbkJobState {
	PGBK_JOB_FREE = 0,
	PGBK_JOB_QUEUED,
	PGBK_JOB_RUNNING,
	PGBK_JOB_SUCCEEDED,
	PGBK_JOB_FAILED
} PgbkJobState;
/* Why a job runs: pgbk_backup_now(), a schedule, or a gap in the archive to cover. */
typedef enum PgbkTrigger { PGBK_TRIGGER_MANUAL = 0, PGBK_TRIGGER_SCHEDULE, PGBK_TRIGGER_CATCH_UP } PgbkTrigger;

/* pgbk_jobs.trigger: "manual", "schedule" or "catch-up". */
static inline const char *
pgbk_trigger_name(int trigger)
{
	return trigger == PGBK_TRIGGER_SCHEDULE ? "schedule" : trigger == PGBK_TRIGGER_CATCH_UP ? "catch-up" : "manual";
}

typedef struct PgbkJob {
	int64 id;
	int state; /* PgbkJobState */
	int trigger; /* PgbkTrigger */
	char kind[16];
	char label[PGBK_LABEL_LEN];
	TimestampTz requested_at, started_at, finished_at;
	pg_atomic_uint64 bytes_read, bytes_written, bad_blocks;
	char error[PGBK_ERROR_LEN];
	char note[PGBK_ERROR_LEN]; /* e.g. why a differential became a full backup */
} PgbkJob;

typedef struct PgbkShared {
	LWLock *lock;
	pid_t worker_pid;
	Latch *worker_latch;
	int64 next_job_id;
	char last_label[PGBK_LABEL_LEN];
	ConditionVariable job_done_cv;
	PgbkJob jobs[PGBK_MAX_JOBS];
	pid_t expiry_pid; /* the process running an expiry, 0 if none */
	/* archive status, written by the archiver */
	char last_archived_wal[MAXFNAMELEN];
	char last_archived_segment[MAXFNAMELEN]; /* last plain segment, for the lag */
	TimestampTz last_archived_at;
	char last_failed_wal[MAXFNAMELEN];
	TimestampTz last_failed_at;
	char last_failure[PGBK_ERROR_LEN];
} PgbkShared;

extern PgbkShared *pgbk_shared;

/* Registers the pgbk.* GUCs from the core's table of settings (settings.cpp). */
void pgbk_define_settings(void);

namespace pgbk::glue {

// The value of a setting, by its index (settings::Id("pgbk.parallel")): strings (a
// secret's real value), integers in their base unit, enums as the index of their choice.
const char *StringSetting(size_t id);
int IntSetting(size_t id);
bool BoolSetting(size_t id);
// Every setting's current value, for the core (builds C++ objects: call inside RunCpp).
settings::Values CurrentSettings();

CodecOptions CurrentCodec();
std::string DataDirectory();
// The data directory as an absolute path (DataDir may be relative to the cwd).
std::string AbsoluteDataDirectory();
std::string HostName();
// This node (node_identity.hpp): made or renewed on first use. Throws Io.
const NodeIdentity &CurrentNode();
// This node for humans (claims, gaps): host:data directory [id prefix].
std::string NodeName();
// pgbk.spool_directory resolved (its default beside the data directory); the gap
// ledger lives in it too (archive_gaps.hpp). Throws Config.
std::string SpoolDirectory();
ClusterIdentity CurrentClusterIdentity();
// This server's timeline and WAL position (timeline.hpp). Reads shared memory only
// (never ereports).
ServerPosition CurrentServerPosition();
// Whether this server is a standby, streaming, and how far its replay lags (for which
// node takes a scheduled backup: schedule_slot.hpp). Reads shared memory only.
NodeRole CurrentNodeRole();
// pgbk.backup_standby.
BackupStandby BackupStandbyMode();
// Why this server is superseded, if it is: the repository's history files show that
// another server took over from a point this server went past (timeline_fence.hpp).
struct Superseded {
	std::string reason; // both timelines and the fork (SupersededMessage)
	uint32_t by_timeline = 0; // the timeline that took over
};
std::optional<Superseded> SupersededBy(Repository &repo);
// Throws Conflict (`what`: what is refused, e.g. "this server takes no backup") when it
// is: a former primary or a promoted copy stores, backs up and removes nothing.
void RefuseIfSuperseded(Repository &repo, const std::string &what);
// True once PostgreSQL asked this process to stop or cancel, or it is exiting (reads
// flags only: safe on pgbk's threads). Repository requests poll it and give up.
bool StopRequested();
// Logs (WARNING) what the core noticed on any thread since the last call (notices.hpp):
// called from the process's own thread, between pieces of work.
void LogCoreNotices();
// This process exits: requests in flight on pgbk's threads give up (a paused store
// must not hold the archiver's exit for a request timeout).
void StopBackgroundWork();
// Opens the configured repository with the configured keys (throws pgbk::Error).
std::unique_ptr<Repository> OpenConfiguredRepository();
// Applies the configured retention to the configured repository (throws pgbk::Error);
// on_backup is told of each backup once it is removed. Callers hold the expiry slot.
ExpiryReport ExpireConfigured(const std::function<void(const ExpiryItem &)> &on_backup);
// Changes whenever what OpenConfiguredRepository() opens would change: any setting it
// reads, or a key file replaced in place (settings::RepositorySignature).
std::string RepositoryConfigSignature();

} // namespace pgbk::glue

/* worker and archive entry points (the archive module API changed in PostgreSQL 16) */
extern "C" {
PGDLLEXPORT void pgbk_worker_main(Datum main_arg);
#if PG_VERSION_NUM >= 160000
PGDLLEXPORT const ArchiveModuleCallbacks *_PG_archive_module_init(void);
#else
PGDLLEXPORT void _PG_archive_module_init(ArchiveModuleCallbacks *cb);
#endif
}
void pgbk_register_worker(void);
/* One expiry at a time (the worker's after a backup, or pgbk_expire()). */
bool pgbk_expiry_begin(void);
void pgbk_expiry_end(void);
