/*
 * module.cpp
 *
 * Library entry: settings (pgbk.* GUCs with validating check hooks), shared memory
 * and the background worker registration.
 */
#include "pgbk/cron.hpp"
#include "pgbk/crypto.hpp"
#include "pgbk/retention.hpp"
#include "pgbk/storage.hpp"

#include <sys/stat.h>

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
char *pgbk_diff_schedule = NULL;
char *pgbk_incr_schedule = NULL;
int pgbk_retention_full = 0;
int pgbk_retention_full_type = PGBK_RETENTION_COUNT;
int pgbk_retention_diff = 0;
char *pgbk_schedule_timezone = NULL;
char *pgbk_database = NULL;
int pgbk_parallel = 2;
int pgbk_archive_timeout = 300;
int pgbk_test_file_delay = 0;

/* S3 settings (used when pgbk.repository is s3://...) */
static char *s3_endpoint = NULL;
static char *s3_region = NULL;
static char *s3_access_key_id = NULL;
static int s3_uri_style = 0; /* 0 host, 1 path */
static char *s3_ca_file = NULL;
static bool s3_verify_tls = true;
static int s3_sse = 0; /* 0 none, 1 AES256, 2 aws:kms */
static char *s3_sse_kms_key_id = NULL;
static char *s3_storage_class = NULL;
static int s3_part_size_mb = 16;
static int s3_retry_seconds = 60;

/* Encryption: paths of key files (the keys themselves are never in a setting). */
static char *encryption_key_file = NULL;
static char *encryption_keyring = NULL;

/*
 * True while _PG_init defines the settings. A value from postgresql.conf that fails its
 * check then would silently fall back to the default (guc.c only warns), which for a key
 * file means "no encryption"; so during definition a key file that cannot be loaded is
 * accepted, and every archive and backup fails naming it until it is fixed.
 */
static bool defining_settings = false;

/*
 * Secrets. The GUC variable only ever holds a fixed mask, set or not; the value lives in
 * the GUC's "extra" (kept and freed by guc.c) and is reached through these pointers.
 * pg_settings and SHOW show the mask, and since the shown value never changes, a reload
 * never logs the secret (the postmaster logs "parameter changed to <new text>" only when
 * the shown value changes).
 */
static char *s3_secret_access_key_shown = NULL;
static char *s3_session_token_shown = NULL;
static const char *s3_secret_access_key = "";
static const char *s3_session_token = "";
static const char *const kSecretMask = "(hidden)";

static const struct config_enum_entry uri_style_options[] = {
	{"host", 0, false},
	{"path", 1, false},
	{NULL, 0, false},
};
static const struct config_enum_entry sse_options[] = {
	{"none", 0, false},
	{"AES256", 1, false},
	{"aws:kms", 2, false},
	{NULL, 0, false},
};

static shmem_request_hook_type prev_shmem_request_hook = NULL;
static shmem_startup_hook_type prev_shmem_startup_hook = NULL;

static const struct config_enum_entry retention_full_type_options[] = {
	{"count", PGBK_RETENTION_COUNT, false},
	{"time", PGBK_RETENTION_TIME, false},
	{NULL, 0, false},
};

/* Biggest first: when several are due at once, the first one due runs. */
const PgbkScheduleSetting pgbk_schedules[PGBK_SCHEDULE_COUNT] = {
	{"full", "pgbk.full_schedule", &pgbk_full_schedule},
	{"diff", "pgbk.diff_schedule", &pgbk_diff_schedule},
	{"incr", "pgbk.incr_schedule", &pgbk_incr_schedule},
};

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

/*
 * Whether PostgreSQL asked this process to stop: a shutdown (archiver, worker) or a
 * cancel/terminate (backends). Only flags set by signal handlers are read, so S3
 * requests on pgbk's own threads may call it too; it calls nothing in PostgreSQL.
 */
bool
StopRequested()
{
	return ShutdownRequestPending || ProcDiePending || QueryCancelPending;
}

s3::S3Options
CurrentS3Options()
{
	s3::S3Options o;
	o.should_cancel = StopRequested;
	o.endpoint = s3_endpoint ? s3_endpoint : "";
	o.region = s3_region && s3_region[0] ? s3_region : "us-east-1";
	o.path_style = s3_uri_style == 1;
	o.credentials = {s3_access_key_id ? s3_access_key_id : "", s3_secret_access_key, s3_session_token};
	o.ca_file = s3_ca_file ? s3_ca_file : "";
	o.verify_tls = s3_verify_tls;
	o.sse = s3_sse == 1 ? "AES256" : s3_sse == 2 ? "aws:kms" : "";
	o.sse_kms_key_id = s3_sse_kms_key_id ? s3_sse_kms_key_id : "";
	o.storage_class = s3_storage_class ? s3_storage_class : "";
	o.part_size = static_cast<size_t>(s3_part_size_mb) << 20;
	o.retry_budget = std::chrono::seconds(s3_retry_seconds);
	return o;
}

std::unique_ptr<Repository>
OpenConfiguredRepository()
{
	auto keyring = Keyring::Load(encryption_key_file ? encryption_key_file : "",
								 SplitKeyFileList(encryption_keyring ? encryption_keyring : ""));
	return OpenRepository(pgbk_repository ? pgbk_repository : "", AbsoluteDataDirectory(), CurrentS3Options(),
						  std::move(keyring));
}

ExpiryReport
ExpireConfigured(const std::function<void(const ExpiryItem &)> &on_backup)
{
	RetentionPolicy policy;
	policy.full = pgbk_retention_full;
	policy.full_type = pgbk_retention_full_type == PGBK_RETENTION_TIME ? RetentionPolicy::FullType::Time
																	   : RetentionPolicy::FullType::Count;
	policy.diff = pgbk_retention_diff;
	auto repo = OpenConfiguredRepository();
	return Expire(*repo, policy, static_cast<int64_t>(time(nullptr)), wal_segment_size, on_backup);
}

std::string
RepositoryConfigSignature()
{
	std::string sig = std::string(pgbk_repository ? pgbk_repository : "") + "\n";
	std::vector<std::string> files = SplitKeyFileList(encryption_keyring ? encryption_keyring : "");
	if (encryption_key_file && encryption_key_file[0])
		files.insert(files.begin(), encryption_key_file);
	for (const auto &f : files) {
		struct stat st;
		sig += f + "@";
		if (::stat(f.c_str(), &st) == 0)
			sig += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "." +
				   std::to_string(st.st_ino);
		sig += "\n";
	}
	return sig;
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
		if (url.scheme != pgbk::RepositoryUrl::Scheme::Local)
			return; // reachability of a bucket is proven by pgbk_set_target(), not here
		std::string why = pgbk::CheckLocalRepositoryUsable(url.path);
		if (!why.empty())
			throw pgbk::Error(pgbk::ErrorKind::Config, why);
	});
	if (!r.ok) {
		GUC_check_errdetail("%s", r.message);
		GUC_check_errhint("Set pgbk.repository to an absolute path of a directory the server can write, to "
						  "s3://bucket/prefix, or leave it empty for the default directory pgbk_repo beside the data "
						  "directory.");
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

/*
 * check_key_file / check_keyring
 *
 * Load the key files when the setting changes, so a missing, unreadable, badly formed or
 * too widely readable key file is refused at ALTER SYSTEM/reload time with the reason.
 */
static bool
check_key_files(const char *value, bool is_list, const char *setting)
{
	CppResult r = RunCpp([&] {
		if (!is_list) {
			if (value[0] != '\0')
				pgbk::LoadKeyFile(value, setting);
			return;
		}
		for (const auto &f : pgbk::SplitKeyFileList(value))
			pgbk::LoadKeyFile(f, setting);
	});
	if (!r.ok && !defining_settings) {
		GUC_check_errdetail("%s", r.message);
		GUC_check_errhint("Point %s at a file (absolute path, mode 600, owned by the server's user) holding a "
						  "32-byte key as 64 hexadecimal digits or base64; create one with: pgbk generate-key FILE.",
						  setting);
		return false;
	}
	return true;
}

static bool
check_key_file(char **newval, void **extra, GucSource source)
{
	return check_key_files(*newval ? *newval : "", false, "pgbk.encryption_key_file");
}

static bool
check_keyring(char **newval, void **extra, GucSource source)
{
	return check_key_files(*newval ? *newval : "", true, "pgbk.encryption_keyring");
}

/*
 * check_secret / assign_*
 *
 * Keep the real value in "extra" (one malloc'd string, freed by guc.c) and replace the
 * visible value with the mask.
 */
static bool
check_secret(char **newval, void **extra, GucSource source)
{
	const char *value = *newval ? *newval : "";
	char *copy;
	char *masked;

	if (strcmp(value, kSecretMask) == 0) {
		/* re-applying the shown value (e.g. RESET to a masked reset value) */
		copy = (char *)malloc(1);
		if (copy == NULL)
			return false;
		copy[0] = '\0';
	} else {
		copy = strdup(value);
		if (copy == NULL)
			return false;
	}
	/* Shown even when unset: a shown value that never changes is never logged. */
	masked = strdup(kSecretMask);
	if (masked == NULL) {
		free(copy);
		return false;
	}
	free(*newval);
	*newval = masked;
	*extra = copy;
	return true;
}

static void
assign_secret_key(const char *newval, void *extra)
{
	s3_secret_access_key = extra ? (const char *)extra : "";
}

static void
assign_session_token(const char *newval, void *extra)
{
	s3_session_token = extra ? (const char *)extra : "";
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
	DefineCustomStringVariable("pgbk.diff_schedule",
							   "Cron schedule of differential backups (changes since the last full; empty = none).",
							   "Read in the time zone pgbk.schedule_timezone.", &pgbk_diff_schedule, "", PGC_SIGHUP, 0,
							   check_schedule, NULL, NULL);
	DefineCustomStringVariable("pgbk.incr_schedule",
							   "Cron schedule of incremental backups (changes since the last backup; empty = none).",
							   "Read in the time zone pgbk.schedule_timezone.", &pgbk_incr_schedule, "", PGC_SIGHUP, 0,
							   check_schedule, NULL, NULL);
	DefineCustomIntVariable("pgbk.retention_full",
							"Full backups to keep (pgbk.retention_full_type = count) or days to keep them (time).",
							"0 keeps every backup. Expiry runs after each backup and on pgbk_expire().",
							&pgbk_retention_full, 0, 0, 9999999, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("pgbk.retention_full_type", "How pgbk.retention_full counts: count or time (days).", NULL,
							 &pgbk_retention_full_type, PGBK_RETENTION_COUNT, retention_full_type_options, PGC_SIGHUP,
							 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbk.retention_diff",
							"Differential backups to keep (0 = as long as their full backup is kept).", NULL,
							&pgbk_retention_diff, 0, 0, 9999999, PGC_SIGHUP, 0, NULL, NULL, NULL);
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
	DefineCustomStringVariable("pgbk.s3_endpoint", "S3 endpoint URL (default: AWS for pgbk.s3_region).",
							   "http:// or https://host[:port]; plain http is allowed for stores that need it.",
							   &s3_endpoint, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.s3_region", "S3 region used for signing.", NULL, &s3_region, "us-east-1",
							   PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.s3_access_key_id", "S3 access key id.", NULL, &s3_access_key_id, "", PGC_SIGHUP,
							   GUC_SUPERUSER_ONLY, NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.s3_secret_access_key", "S3 secret access key (never shown or logged).", NULL,
							   &s3_secret_access_key_shown, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_secret,
							   assign_secret_key, NULL);
	DefineCustomStringVariable("pgbk.s3_session_token", "S3 session token (never shown or logged).", NULL,
							   &s3_session_token_shown, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_secret,
							   assign_session_token, NULL);
	DefineCustomEnumVariable("pgbk.s3_uri_style", "S3 addressing: host (bucket.endpoint) or path (endpoint/bucket).",
							 NULL, &s3_uri_style, 0, uri_style_options, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.s3_ca_file", "CA bundle (PEM) that signs the S3 endpoint's certificate.", NULL,
							   &s3_ca_file, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomBoolVariable("pgbk.s3_verify_tls", "Verify the S3 endpoint's TLS certificate.", NULL, &s3_verify_tls,
							 true, PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomEnumVariable("pgbk.s3_sse", "S3 server-side encryption.", NULL, &s3_sse, 0, sse_options, PGC_SIGHUP, 0,
							 NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.s3_sse_kms_key_id", "KMS key for pgbk.s3_sse = 'aws:kms'.", NULL,
							   &s3_sse_kms_key_id, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.s3_storage_class", "S3 storage class of stored objects (empty: the bucket's).",
							   NULL, &s3_storage_class, "", PGC_SIGHUP, 0, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbk.s3_part_size", "Multipart upload part size.", NULL, &s3_part_size_mb, 16, 5, 5120,
							PGC_SIGHUP, GUC_UNIT_MB, NULL, NULL, NULL);
	DefineCustomIntVariable("pgbk.s3_retry_timeout", "How long one S3 request is retried before it fails.", NULL,
							&s3_retry_seconds, 60, 1, 3600, PGC_SIGHUP, GUC_UNIT_S, NULL, NULL, NULL);
	DefineCustomStringVariable("pgbk.encryption_key_file",
							   "File holding the key that encrypts everything pgbk stores (empty: no encryption).",
							   "An absolute path to a file of mode 600 with a 32-byte key (64 hex digits or base64).",
							   &encryption_key_file, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_key_file, NULL, NULL);
	DefineCustomStringVariable("pgbk.encryption_keyring",
							   "Comma-separated key files of earlier keys, to read objects written before a rotation.",
							   NULL, &encryption_keyring, "", PGC_SIGHUP, GUC_SUPERUSER_ONLY, check_keyring, NULL,
							   NULL);
	MarkGUCPrefixReserved("pgbk");
}

void
_PG_init(void)
{
	defining_settings = true;
	define_settings();
	defining_settings = false;
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
