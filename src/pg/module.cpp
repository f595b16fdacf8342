/*
 * module.cpp
 *
 * Library entry: settings (pgbk.* GUCs with validating check hooks), shared memory
 * and the background worker registration.
 */
#include "pgbk/cron.hpp"
#include "pgbk/storage.hpp"

#include "boundary.hpp"
#include "glue.hpp"

extern "C" {
PG_MODULE_MAGIC;
PGDLLEXPORT void _PG_init(void);
}

PgbkShared *pgbk_shared = NULL;

char *pgbk_repository = NULL;
int pgbk_compression = PGBK_COMPRESSION_ZSTD;
int pgbk_compression_level = 3;
char *pgbk_full_schedule = NULL;
char *pgbk_schedule_timezone = NULL;
char *pgbk_database = NULL;
int pgbk_parallel = 2;
int pgbk_archive_timeout = 300;
int pgbk_test_file_delay = 0;

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static const struct config_enum_entry compression_options[] = {
	{"none", PGBK_COMPRESSION_NONE, false},
	{"zstd", PGBK_COMPRESSION_ZSTD, false},
	{NULL, 0, false},
};

namespace pgbk::glue {

CodecOptions
CurrentCodec()
{
	CodecOptions c;
	c.codec = pgbk_compression == PGBK_COMPRESSION_NONE ? Codec::None : Codec::Zstd;
	c.level = pgbk_compression_level;
	return c;
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
	char name[256] = "";
	if (gethostname(name, sizeof name - 1) != 0)
		return "";
	return name;
}

ClusterIdentity
CurrentClusterIdentity()
{
	return ClusterIdentity{GetSystemIdentifier(), PG_VERSION_NUM / 10000};
}

std::unique_ptr<Repository>
OpenConfiguredRepository()
{
	return OpenRepository(pgbk_repository ? pgbk_repository : "", AbsoluteDataDirectory());
}

} // namespace pgbk::glue

using namespace pgbk::glue;

/*
 * check_repository
 *
 * Refuses an unknown scheme, a relative path or an unusable directory when the
 * setting is changed (ALTER SYSTEM, reload) rather than on the first archive.
 */
static bool
check_repository(char **newval, void **extra, GucSource source)
{
	const char *value = *newval ? *newval : "";
	CppResult r = RunCpp([&] {
		if (value[0] == '\0')
			return;
		auto url = pgbk::ParseRepositoryUrl(value, DataDir ? DataDir : "");
		std::string why = pgbk::CheckLocalRepositoryUsable(url.path);
		if (!why.empty())
			throw pgbk::Error(pgbk::ErrorKind::Config, why);
	});
	if (!r.ok) {
		GUC_check_errdetail("%s", r.message);
		GUC_check_errhint("Set pgbk.repository to an absolute path of a directory the server can write, or leave it "
						  "empty for the default directory pgbk_repo beside the data directory.");
		return false;
	}
	return true;
}

static bool
check_schedule(char **newval, void **extra, GucSource source)
{
	const char *value = *newval ? *newval : "";
	CppResult r = RunCpp([&] {
		if (value[0] != '\0')
			pgbk::CronSchedule::Parse(value);
	});
	if (!r.ok) {
		GUC_check_errdetail("%s", r.message);
		GUC_check_errhint("Use a standard 5-field cron expression (minute hour day-of-month month day-of-week), for "
						  "example '0 1 * * *' for 01:00 every day, or '' for no schedule.");
		return false;
	}
	return true;
}

static bool
check_timezone(char **newval, void **extra, GucSource source)
{
	const char *value = *newval ? *newval : "";
	std::string why;
	CppResult r = RunCpp([&] { why = pgbk::CheckTimeZoneName(value); });
	if (!r.ok || !why.empty()) {
		GUC_check_errdetail("%s", r.ok ? why.c_str() : r.message);
		return false;
	}
	return true;
}

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

static void
define_settings(void)
{
	DefineCustomStringVariable("pgbk.repository", "Location of the pgbk repository.",
							   "An absolute directory or file:///directory. Empty means the directory pgbk_repo beside "
							   "the data directory.",
							   &pgbk_repository, "", PGC_SIGHUP, 0, check_repository, NULL, NULL);
	DefineCustomEnumVariable("pgbk.compression", "Compression of stored WAL and backup files.", NULL, &pgbk_compression,
							 PGBK_COMPRESSION_ZSTD, compression_options, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbk.compression_level", "zstd compression level.", NULL, &pgbk_compression_level, 3, 1,
							19, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.full_schedule", "Cron schedule of full backups (5 fields; empty = none).",
							   "Read in the time zone pgbk.schedule_timezone.", &pgbk_full_schedule, "", PGC_SIGHUP, 0,
							   check_schedule, NULL, NULL);
	DefineCustomStringVariable("pgbk.schedule_timezone", "Time zone in which backup schedules are read.",
							   "An IANA time zone name such as UTC or Europe/Berlin.", &pgbk_schedule_timezone, "UTC",
							   PGC_SIGHUP, 0, check_timezone, NULL, NULL);
	DefineCustomStringVariable("pgbk.database", "Database the pgbk worker connects to.", NULL, &pgbk_database,
							   "postgres", PGC_POSTMASTER, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbk.parallel", "Threads the pgbk worker uses to copy files.", NULL, &pgbk_parallel, 2, 1,
							64, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbk.archive_timeout",
							"How long a backup waits for the WAL it needs to reach the repository.", NULL,
							&pgbk_archive_timeout, 300, 1, 86400, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbk.test_file_delay", "Testing only: pause before copying each file.", NULL,
							&pgbk_test_file_delay, 0, 0, 60000, PGC_SIGHUP,
							GUC_UNIT_MS | GUC_NO_SHOW_ALL | GUC_NOT_IN_SAMPLE, NULL, NULL, NULL);
	MarkGUCPrefixReserved("pgbk");
}

void
_PG_init(void)
{
	define_settings();
	/*
	 * Loaded by the archiver alone (archive_library without preloading): settings only,
	 * no shared memory and no worker.
	 */
	if (!process_shared_preload_libraries_in_progress)
		return;
	prev_shmem_request_hook = shmem_request_hook;
	shmem_request_hook = pgbk_shmem_request;
	prev_shmem_startup_hook = shmem_startup_hook;
	shmem_startup_hook = pgbk_shmem_startup;
	pgbk_register_worker();
}
