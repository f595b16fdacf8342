/*
 * module.cpp
 *
 * Library entry: settings (registered in settings.cpp), shared memory, the background
 * worker registration, and the glue helpers every other glue file uses.
 */
#include "pgbk/node_identity.hpp"
#include "pgbk/notices.hpp"
#include "pgbk/retention.hpp"
#include "pgbk/storage_driver.hpp"
#include "pgbk/timeline_fence.hpp"

#include <limits>
#include <optional>

#include "boundary.hpp"
#include "glue.hpp"

#include <atomic>

#include "pgbk/archive_spool.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

PgbkShared *pgbk_shared = NULL;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

namespace pgbk::glue {

CodecOptions
CurrentCodec()
{
	return CodecOf(CurrentSettings());
}

std::string
DataDirectory()
{
	return DataDir ? std::string(DataDir) : std::string();
}

std::string
AbsoluteDataDirectory()
{
	std::string dd = DataDirectory();
	if (dd.empty() || dd[0] != '/') {
		char cwd[MAXPGPATH];
		if (getcwd(cwd, sizeof cwd) != NULL)
			return std::string(cwd);
	}
	return dd;
}

std::string
HostName()
{
	return LocalHostName();
}

/* Set once this process exits: requests in flight on pgbk's threads give up. */
std::atomic<bool> background_work_stopping{false};

/*
 * Made once per process: by the postmaster at preload (children inherit it), else by the
 * archiver on first use. Renewal of a copied id is deterministic, so processes that make
 * it at once agree (node_identity.hpp).
 */
static std::optional<NodeIdentity> current_node;

const NodeIdentity &
CurrentNode()
{
	if (!current_node)
		current_node = LoadOrCreateNodeIdentity(AbsoluteDataDirectory(), HostName());
	return *current_node;
}

std::string
NodeName()
{
	return CurrentNode().Describe();
}

std::string
SpoolDirectory()
{
	return ResolveSpoolDirectory(StringSetting(settings::Id("pgbk.spool_directory")), AbsoluteDataDirectory());
}

ClusterIdentity
CurrentClusterIdentity()
{
	return ClusterIdentity{GetSystemIdentifier(), PG_VERSION_NUM / 10000};
}

/*
 * Whether PostgreSQL asked this process to stop: a shutdown (archiver, worker) or a
 * cancel/terminate (backends). Only flags set by signal handlers are read, so S3
 * requests on pgbk's own threads may call it too; it calls nothing in PostgreSQL.
 */
bool
StopRequested()
{
	return ShutdownRequestPending || ProcDiePending || QueryCancelPending ||
		   background_work_stopping.load(std::memory_order_relaxed);
}

void
StopBackgroundWork()
{
	background_work_stopping.store(true, std::memory_order_relaxed);
}

void
LogCoreNotices()
{
	/* One at a time, copied out first: no ereport runs while a C++ object lives. */
	for (int i = 0; i < 100; i++) {
		char text[PGBK_ERROR_LEN] = "";
		bool any = false;
		RunCpp([&] {
			if (auto n = TakeNotice()) {
				strlcpy(text, n->c_str(), sizeof(text));
				any = true;
			}
		});
		if (!any)
			return;
		ereport(WARNING, (errmsg("%s", text)));
	}
}

ServerPosition
CurrentServerPosition()
{
	ServerPosition p;
	if (RecoveryInProgress()) {
		TimeLineID tli = 0;
		p.lsn = GetXLogReplayRecPtr(&tli);
		p.timeline = tli;
	} else {
		p.lsn = GetXLogInsertRecPtr();
		p.timeline = GetWALInsertionTimeLine();
	}
	return p;
}

NodeRole
CurrentNodeRole()
{
	NodeRole role;
	role.standby = RecoveryInProgress();
	if (!role.standby)
		return role;
	role.streaming = WalRcvStreaming();

	StandbyReplication r;
	r.streaming = role.streaming;
	r.replayed_all_received = GetXLogReplayRecPtr(NULL) >= GetWalRcvFlushRecPtr(NULL, NULL);
	TimestampTz sent, received;
	SpinLockAcquire(&WalRcv->mutex);
	sent = WalRcv->lastMsgSendTime;
	received = WalRcv->lastMsgReceiptTime;
	SpinLockRelease(&WalRcv->mutex);
	/* The primary's clock (WAL and its messages carry it), in TimestampTz microseconds. */
	r.last_replayed_commit_us = GetLatestXTime();
	r.primary_sent_us = sent;
	if (received != 0) {
		long secs = 0;
		int usecs = 0;
		TimestampDifference(received, GetCurrentTimestamp(), &secs, &usecs);
		r.since_last_message = std::chrono::seconds(secs);
	}
	if (wal_receiver_timeout > 0)
		r.allowed_silence = std::chrono::seconds(wal_receiver_timeout / 1000);
	role.replay_lag = StandbyReplayLag(r);
	return role;
}

BackupStandby
BackupStandbyMode()
{
	return static_cast<BackupStandby>(IntSetting(settings::Id("pgbk.backup_standby")));
}

std::optional<Superseded>
SupersededBy(Repository &repo)
{
	ServerPosition position = CurrentServerPosition();
	TimelineFence fence(repo, wal_segment_size);
	TimelineLineage own = fence.ServerLineage(AbsoluteDataDirectory() + "/pg_wal", position.timeline);
	if (auto fork = fence.SupersedingServer(own, position.lsn))
		return Superseded{SupersededMessage(own, *fork), fork->child};
	return std::nullopt;
}

void
RefuseIfSuperseded(Repository &repo, const std::string &what)
{
	ServerPosition position = CurrentServerPosition();
	TimelineFence fence(repo, wal_segment_size);
	fence.RefuseIfSuperseded(fence.ServerLineage(AbsoluteDataDirectory() + "/pg_wal", position.timeline), position.lsn,
							 what);
}

std::unique_ptr<Repository>
OpenConfiguredRepository()
{
	StorageOpenOptions options;
	options.should_cancel = StopRequested;
	return OpenRepository(CurrentSettings(), AbsoluteDataDirectory(), options);
}

ExpiryReport
ExpireConfigured(const std::function<void(const ExpiryItem &)> &on_backup)
{
	RetentionPolicy policy;
	policy.full = IntSetting(settings::Id("pgbk.retention_full"));
	policy.full_type = settings::kRetentionTypeChoices[IntSetting(settings::Id("pgbk.retention_full_type"))] == "time"
						   ? RetentionPolicy::FullType::Time
						   : RetentionPolicy::FullType::Count;
	policy.diff = IntSetting(settings::Id("pgbk.retention_diff"));
	auto repo = OpenConfiguredRepository();
	// Removes only from this cluster's own repository, and never as a superseded server
	// (a former primary's retention must not remove the new primary's backups).
	repo->CheckOwner(CurrentClusterIdentity());
	RefuseIfSuperseded(*repo, "this server removes nothing");
	// Marks carry where this server is: a removal later checks that it was on the
	// authoritative line when it marked.
	ExpiryOptions options;
	options.delay = IntSetting(settings::Id("pgbk.expire_delay"));
	ServerPosition position = CurrentServerPosition();
	options.marker.node_id = CurrentNode().id;
	options.marker.node = CurrentNode().Describe();
	options.marker.timeline = position.timeline;
	options.marker.lsn = position.lsn;
	return Expire(*repo, policy, static_cast<int64_t>(time(nullptr)), wal_segment_size, on_backup, options);
}

std::string
RepositoryConfigSignature()
{
	return settings::RepositorySignature(CurrentSettings());
}

} // namespace pgbk::glue

static void
pgbk_shmem_request(void)
{
	if (prev_shmem_request_hook)
		prev_shmem_request_hook();
	RequestAddinShmemSpace(MAXALIGN(sizeof(PgbkShared)));
	RequestNamedLWLockTranche("pgbk", 1);
}

static void
pgbk_shmem_startup(void)
{
	bool found;

	if (prev_shmem_startup_hook)
		prev_shmem_startup_hook();
	LWLockAcquire(AddinShmemInitLock, LW_EXCLUSIVE);
	pgbk_shared = (PgbkShared *)ShmemInitStruct("pgbk", sizeof(PgbkShared), &found);
	if (!found) {
		memset(pgbk_shared, 0, sizeof(PgbkShared));
		pgbk_shared->lock = &(GetNamedLWLockTranche("pgbk"))->lock;
		pgbk_shared->next_job_id = 1;
		ConditionVariableInit(&pgbk_shared->job_done_cv);
		for (int i = 0; i < PGBK_MAX_JOBS; i++) {
			pg_atomic_init_u64(&pgbk_shared->jobs[i].bytes_read, 0);
			pg_atomic_init_u64(&pgbk_shared->jobs[i].bytes_written, 0);
			pg_atomic_init_u64(&pgbk_shared->jobs[i].bad_blocks, 0);
		}
	}
	LWLockRelease(AddinShmemInitLock);
}

void
_PG_init(void)
{
	pgbk_define_settings();
	/*
	 * Loaded by the archiver alone (archive_library without preloading): settings only,
	 * no shared memory and no worker.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;
	if (!IsUnderPostmaster) {
		/* The postmaster, the data directory locked: the node's id before any child. */
		pgbk::glue::CppResult r = pgbk::glue::RunCpp([] { pgbk::glue::CurrentNode(); });
		if (!r.ok)
			ereport(WARNING, (errmsg("pgbk: %s", r.message),
							  errdetail("The node id is made again when archiving or a backup first needs it.")));
	}
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgbk_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgbk_shmem_startup;
	pgbk_register_worker();
}

/*
 * pgbk_expiry_begin / pgbk_expiry_end
 *
 * Claims the one expiry slot; a slot held by a process that no longer exists is free.
 */
bool
pgbk_expiry_begin(void)
{
	bool ok = false;

	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	if (pgbk_shared->expiry_pid == 0 || pgbk_shared->expiry_pid == MyProcPid ||
		(kill(pgbk_shared->expiry_pid, 0) != 0 && errno == ESRCH)) {
		pgbk_shared->expiry_pid = MyProcPid;
		ok = true;
	}
	LWLockRelease(pgbk_shared->lock);
	return ok;
}

void
pgbk_expiry_end(void)
{
	LWLockAcquire(pgbk_shared->lock, LW_EXCLUSIVE);
	if (pgbk_shared->expiry_pid == MyProcPid)
		pgbk_shared->expiry_pid = 0;
	LWLockRelease(pgbk_shared->lock);
}
