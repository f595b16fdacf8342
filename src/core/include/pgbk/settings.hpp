// Every pgbk.* setting, defined once: name, type, default, unit, range or choices, when
// a change applies, who may see it, the check of its value and its documentation.
// The server registers its GUCs from this table (src/pg/settings.cpp), the CLI reads
// --config files and PGBK_* variables through it, pgbk_set_target validates its JSON
// with it, and docs/operator-guide.md's settings tables are generated from it (a unit
// test keeps them equal).
#pragma once
#include "pgbk/error.hpp"

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace pgbk::settings {

enum class Type { String, Integer, Boolean, Enum };
// The base unit an integer is held in; values may be written with any unit of its kind
// ("64MB", "1GB"; "30s", "2min"), as in postgresql.conf.
enum class Unit { None, Megabytes, Seconds, Milliseconds };
enum class Applies { Reload, Restart };

enum Flag : unsigned {
	kSuperuserOnly = 1u << 0, // hidden from pg_settings for roles other than superusers
	kSecret = 1u << 1, // never shown or logged: SHOW and pg_settings say "(hidden)"
	kTesting = 1u << 2, // for pgbk's own tests: not shown, not documented
	kOpensRepository = 1u << 3, // used to open the repository: a change reopens it
	// A value that fails its check while the server starts is kept (guc.c would fall back
	// to the default silently), and whatever uses it fails naming it until it is fixed.
	kKeptInvalidAtStart = 1u << 4,
	kPaths = 1u << 5, // file paths (comma-separated): the CLI makes relative ones absolute
	// Where backups go, or how the server trusts it: only a superuser sets it, even
	// through pgbk_set_target (whoever controls the target can read all data).
	kTargetSuperuserOnly = 1u << 6,
};

// What a check may need besides the value.
struct CheckContext {
	std::string data_directory; // absolute; empty when unknown
	// Readers (the CLI) only need values of the right type: a repository they may not
	// write, or a schedule they never run, must not stop a restore. What they use is
	// checked when used.
	bool types_only = false;
	// False in the postmaster: a hung mount (NFS, a stuck S3 FUSE) must not hang it on a
	// reload, so checks that read the file system (paths resolved, key files read) are
	// left to the backends and to the moment the repository is opened.
	bool filesystem = true;
};
// Throws Error(Config) with the reason (shown as the DETAIL of a refused SET).
using Check = void (*)(const std::string &value, const CheckContext &context);

void CheckRepository(const std::string &value, const CheckContext &context);
void CheckSchedule(const std::string &value, const CheckContext &context);
void CheckTimeZone(const std::string &value, const CheckContext &context);
void CheckKeyFile(const std::string &value, const CheckContext &context);
void CheckKeyring(const std::string &value, const CheckContext &context);
void CheckEndpoint(const std::string &value, const CheckContext &context);
void CheckHeaderValue(const std::string &value, const CheckContext &context);
void CheckAllowedTargets(const std::string &value, const CheckContext &context);
void CheckSpoolDirectory(const std::string &value, const CheckContext &context);

inline constexpr std::string_view kCompressionChoices[] = {"none", "zstd"};
inline constexpr std::string_view kRetentionTypeChoices[] = {"count", "time"};
inline constexpr std::string_view kUriStyleChoices[] = {"host", "path"};
inline constexpr std::string_view kSseChoices[] = {"none", "AES256", "aws:kms"};
inline constexpr std::string_view kBackupStandbyChoices[] = {"off", "prefer", "only"};
inline constexpr std::string_view kArchiveOverflowChoices[] = {"wait", "drop"};
inline constexpr std::string_view kS3CredentialsChoices[] = {"auto", "static"};
inline constexpr std::string_view kAutoOnOffChoices[] = {"auto", "on", "off"};

struct Definition {
	std::string_view name;
	Type type;
	std::string_view default_value; // as written in postgresql.conf
	Unit unit = Unit::None;
	int64_t min = 0, max = 0; // Integer, in the base unit
	std::span<const std::string_view> choices = {}; // Enum
	Applies applies = Applies::Reload;
	unsigned flags = 0;
	// Settings of one storage driver carry its scheme ("s3"); the driver reads them and
	// pgbk_set_target manages them, as JSON keys without the "pgbk.<group>_" prefix.
	std::string_view group = {};
	std::string_view summary = {}; // pg_settings.short_desc
	std::string_view detail = {}; // pg_settings.extra_desc
	std::string_view hint = {}; // the HINT of a refused value
	Check check = nullptr;
	std::string_view doc = {}; // the docs table's "meaning" column (Markdown)
	std::string_view doc_default = {}; // the docs table's default, when not the value
};

// clang-format off
inline constexpr Definition kDefinitions[] = {
	{.name = "pgbk.repository", .type = Type::String, .default_value = "", .flags = kOpensRepository | kKeptInvalidAtStart,
	 .summary = "Location of the pgbk repository.",
	 .detail = "An absolute directory or file:///directory. Empty means the directory pgbk_repo-<name of the data directory> beside the data directory.",
	 .hint = "Set pgbk.repository to an absolute path of a directory the server can write, to s3://bucket/prefix, or leave it empty for the default directory pgbk_repo-<name of the data directory> beside it.",
	 .check = CheckRepository,
	 .doc = "Where backups and WAL go: an absolute directory or `file:///directory`, or `s3://bucket/prefix` (see S3 repositories). Empty means this cluster's own directory beside the data directory, named after it: `pgbk_repo-<name>` (for `/var/lib/postgresql/15/main` that is `/var/lib/postgresql/15/pgbk_repo-main`), so that clusters side by side never share one; a cluster already archiving into the shared default of pgbk 0.4 and earlier, `pgbk_repo`, keeps using it while its identity record names this cluster and `pgbk_repo-<name>` does not exist. A relative path, an unknown scheme, a directory inside the data directory or a tablespace (compared resolved: links, `//`, `.` and `..` do not hide it), or one the server cannot create or write is refused when set, naming the reason. A value that is unusable when the server starts is kept, not replaced by the default: every archive fails naming it (WAL stays in `pg_wal`) until it can be used."},
	{.name = "pgbk.allowed_targets", .type = Type::String, .default_value = "", .flags = kSuperuserOnly,
	 .summary = "Repository URL prefixes pgbk_operator may choose with pgbk_set_target (comma-separated; empty: none).",
	 .hint = "List repository URL prefixes such as 's3://corp-backups/' or '/backups/', separated by commas.",
	 .check = CheckAllowedTargets,
	 .doc = "Comma-separated repository URL prefixes (`s3://corp-backups/`, `/backups/`) among which members of `pgbk_operator` may choose with `pgbk_set_target`; empty: none (only a superuser sets a target). The endpoint, TLS verification and CA file stay a superuser's: whoever controls the target can read every backup. Superuser-only."},
	{.name = "pgbk.compression", .type = Type::Enum, .default_value = "zstd", .choices = kCompressionChoices,
	 .summary = "Compression of stored WAL and backup files.",
	 .doc = "`zstd` or `none`, for WAL and backup files."},
	{.name = "pgbk.compression_level", .type = Type::Integer, .default_value = "3", .min = 1, .max = 19,
	 .summary = "zstd compression level.",
	 .doc = "zstd level, 1–19."},
	{.name = "pgbk.full_schedule", .type = Type::String, .default_value = "",
	 .summary = "Cron schedule of full backups (5 fields; empty = none).",
	 .detail = "Read in the time zone pgbk.schedule_timezone.",
	 .hint = "Use a standard 5-field cron expression (minute hour day-of-month month day-of-week), for example '0 1 * * *' for 01:00 every day, or '' for no schedule.",
	 .check = CheckSchedule,
	 .doc = "Full backups on a standard 5-field cron schedule (`minute hour day-of-month month day-of-week`; ranges, lists, steps, `jan`–`dec`, `sun`–`sat`, `@daily`, `@hourly`, …). Empty: no schedule. An invalid or never-firing expression is refused when set, with the reason."},
	{.name = "pgbk.diff_schedule", .type = Type::String, .default_value = "",
	 .summary = "Cron schedule of differential backups (changes since the last full; empty = none).",
	 .detail = "Read in the time zone pgbk.schedule_timezone.",
	 .hint = "Use a standard 5-field cron expression (minute hour day-of-month month day-of-week), for example '0 1 * * *' for 01:00 every day, or '' for no schedule.",
	 .check = CheckSchedule,
	 .doc = "Differential backups (changes since the last complete full backup), same syntax."},
	{.name = "pgbk.incr_schedule", .type = Type::String, .default_value = "",
	 .summary = "Cron schedule of incremental backups (changes since the last backup; empty = none).",
	 .detail = "Read in the time zone pgbk.schedule_timezone.",
	 .hint = "Use a standard 5-field cron expression (minute hour day-of-month month day-of-week), for example '0 1 * * *' for 01:00 every day, or '' for no schedule.",
	 .check = CheckSchedule,
	 .doc = "Incremental backups (changes since the last complete backup of any type), same syntax. When several schedules are due at the same minute only the biggest runs (full > diff > incr); a schedule that fires while a backup is already queued is skipped and logged."},
	{.name = "pgbk.backup_standby", .type = Type::Enum, .default_value = "off", .choices = kBackupStandbyChoices,
	 .summary = "Where scheduled backups run: off (the primary), prefer (a standby, else the primary) or only (a standby).",
	 .detail = "Every node evaluates the schedules; the node that claims a run in the repository takes it.",
	 .doc = "Where scheduled backups run. Every node evaluates the same schedules and each run is taken by exactly one node, the one whose create-only claim `schedule/<type>/<time>` lands in the repository first. `off`: the primary. `prefer`: a streaming standby whose replay lag is under `pgbk.backup_standby_max_lag` claims the run at once; the primary claims it after 120 s if no standby did. `only`: standbys only (a run no standby qualifies for is skipped and logged there). `pgbk_backup_now()` runs on the node it is called on, primary or standby."},
	{.name = "pgbk.backup_standby_max_lag", .type = Type::Integer, .default_value = "60", .unit = Unit::Seconds, .min = 0, .max = 86400,
	 .summary = "Largest replay lag at which a standby takes a scheduled backup (pgbk.backup_standby).",
	 .doc = "A standby whose replay lag is over this when a run is due leaves it to the other nodes (`pgbk.backup_standby`)."},
	{.name = "pgbk.test_primary_grace", .type = Type::Integer, .default_value = "0", .unit = Unit::Seconds, .min = 0, .max = 3600,
	 .flags = kTesting,
	 .summary = "Testing only: the primary's grace period with pgbk.backup_standby = prefer (0 = 120 s)."},
	{.name = "pgbk.retention_full", .type = Type::Integer, .default_value = "0", .min = 0, .max = 9999999,
	 .summary = "Full backups to keep (pgbk.retention_full_type = count) or days to keep them (time).",
	 .detail = "0 keeps every backup. Expiry runs after each backup and on pgbk_expire().",
	 .doc = "Full backups to keep (`count`) or days to keep them (`time`); 0 keeps every backup. See Retention."},
	{.name = "pgbk.retention_full_type", .type = Type::Enum, .default_value = "count", .choices = kRetentionTypeChoices,
	 .summary = "How pgbk.retention_full counts: count or time (days).",
	 .doc = "`count` or `time`."},
	{.name = "pgbk.retention_diff", .type = Type::Integer, .default_value = "0", .min = 0, .max = 9999999,
	 .summary = "Differential backups to keep (0 = as long as their full backup is kept).",
	 .doc = "Differential backups to keep (with what depends on them); 0 keeps them as long as their full backup."},
	{.name = "pgbk.schedule_timezone", .type = Type::String, .default_value = "UTC",
	 .summary = "Time zone in which backup schedules are read.",
	 .detail = "An IANA time zone name such as UTC or Europe/Berlin.",
	 .check = CheckTimeZone,
	 .doc = "The IANA time zone schedules are read in (`Europe/Berlin`, …). Across DST changes: a time skipped by the spring-forward gap runs one hour later (02:30 → 03:30); a fixed time that occurs twice at fall-back runs once, at its first occurrence; a schedule with hour `*` runs every real hour."},
	{.name = "pgbk.database", .type = Type::String, .default_value = "postgres", .applies = Applies::Restart,
	 .summary = "Database the pgbk worker connects to.",
	 .doc = "Database the worker connects to."},
	{.name = "pgbk.parallel", .type = Type::Integer, .default_value = "2", .min = 1, .max = 64,
	 .summary = "Threads the pgbk worker uses to copy files.",
	 .doc = "Threads copying files during a backup, WAL segments archived at once (and the CLI's restore, verify and prefetch default with `--config`)."},
	{.name = "pgbk.archive_timeout", .type = Type::Integer, .default_value = "300", .unit = Unit::Seconds, .min = 1, .max = 86400,
	 .summary = "How long a backup waits for the WAL it needs to reach the repository.",
	 .doc = "How long a backup waits for the WAL it needs to reach the repository before it fails."},
	{.name = "pgbk.spool_directory", .type = Type::String, .default_value = "", .flags = kPaths | kSuperuserOnly,
	 .summary = "Where WAL is spooled while the repository is unreachable (empty: pgbk_spool-<name of the data directory> beside it).",
	 .hint = "Set pgbk.spool_directory to an absolute directory the server can write, outside the data directory, or leave it empty.",
	 .check = CheckSpoolDirectory,
	 .doc = "Where the archive module keeps WAL while the repository refuses or does not answer: each file stored there durably (compressed, encrypted with the repository's key, checksummed) is acknowledged, so `pg_wal` can recycle it, and drains into the repository once it answers. Empty: the cluster's own `pgbk_spool-<name>` beside the data directory. Like a local repository it must be absolute, outside the data directory and tablespaces, and writable."},
	{.name = "pgbk.spool_limit", .type = Type::Integer, .default_value = "1024", .unit = Unit::Megabytes, .min = 0, .max = 1048576,
	 .summary = "Most WAL the spool holds (0 disables spooling).",
	 .doc = "Most WAL (stored size) the spool holds; once it is full, `pgbk.archive_overflow` decides. `0` disables spooling; WAL already in the spool still drains."},
	{.name = "pgbk.archive_overflow", .type = Type::Enum, .default_value = "wait", .choices = kArchiveOverflowChoices,
	 .summary = "When WAL fits neither the repository nor the spool: wait (it stays in pg_wal) or drop (acknowledged unstored, recorded as a gap).",
	 .detail = "drop keeps the server up through a long outage; a catch-up backup heals the gap once the repository answers.",
	 .doc = "What happens to a WAL segment that fits neither the repository (away) nor the spool (full or off). `wait`: it stays in `pg_wal` and the archiver retries, as without pgbk; `pg_wal` grows until the repository answers. `drop`: it is acknowledged without being stored and the range is recorded as a gap (`pgbk_archive_gaps`), so `pg_wal` stays within `max_wal_size` and the server stays up; once the repository answers the worker takes a catch-up backup that covers the gap. Point-in-time recovery into a gap is impossible, and refused. History files are never dropped."},
	{.name = "pgbk.test_file_delay", .type = Type::Integer, .default_value = "0", .unit = Unit::Milliseconds, .min = 0, .max = 60000,
	 .flags = kTesting,
	 .summary = "Testing only: pause before copying each file."},
	{.name = "pgbk.test_backup_lease", .type = Type::Integer, .default_value = "0", .unit = Unit::Seconds, .min = 0, .max = 3600,
	 .flags = kTesting,
	 .summary = "Testing only: the term of a backup's lease (0: 10 minutes)."},
	{.name = "pgbk.s3_endpoint", .type = Type::String, .default_value = "", .flags = kTargetSuperuserOnly | kOpensRepository, .group = "s3",
	 .summary = "S3 endpoint URL (default: AWS for pgbk.s3_region).",
	 .detail = "http:// or https://host[:port]; plain http is allowed for stores that need it.",
	 .hint = "Give the endpoint as https://host[:port] (or http:// for stores without TLS), or leave it empty for AWS.",
	 .check = CheckEndpoint,
	 .doc = "`https://host[:port]` or `http://…` (plain HTTP is allowed for stores that need it)",
	 .doc_default = "AWS for the region"},
	{.name = "pgbk.s3_region", .type = Type::String, .default_value = "us-east-1", .flags = kOpensRepository, .group = "s3",
	 .summary = "S3 region used for signing.",
	 .check = CheckHeaderValue,
	 .doc = "region used in the signature"},
	{.name = "pgbk.s3_access_key_id", .type = Type::String, .default_value = "", .flags = kSuperuserOnly | kOpensRepository,
	 .group = "s3",
	 .summary = "S3 access key id.",
	 .check = CheckHeaderValue,
	 .doc = "access key (superuser-only)"},
	{.name = "pgbk.s3_secret_access_key", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kSecret | kOpensRepository, .group = "s3",
	 .summary = "S3 secret access key (never shown or logged).",
	 .check = CheckHeaderValue,
	 .doc = "secret: `SHOW` and `pg_settings` always say `(hidden)`, and a reload never logs it"},
	{.name = "pgbk.s3_session_token", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kSecret | kOpensRepository, .group = "s3",
	 .summary = "S3 session token (never shown or logged).",
	 .check = CheckHeaderValue,
	 .doc = "secret, like the secret access key (temporary credentials)"},
	{.name = "pgbk.s3_credentials", .type = Type::Enum, .default_value = "auto", .choices = kS3CredentialsChoices,
	 .flags = kOpensRepository, .group = "s3",
	 .summary = "Where S3 credentials come from: auto (static keys when set, else web identity, container credentials or instance metadata) or static.",
	 .doc = "`auto`: the static keys when `pgbk.s3_access_key_id` is set, else the AWS SDKs' chain from the server's environment: web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, STS `AssumeRoleWithWebIdentity`: IRSA, GKE), container credentials (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or `_RELATIVE_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: EKS Pod Identity, ECS), then IMDSv2 (unless `AWS_EC2_METADATA_DISABLED=true`). Temporary credentials are renewed 5 minutes before they expire, with no reload. `static`: only the keys"},
	{.name = "pgbk.s3_conditional_writes", .type = Type::Enum, .default_value = "auto", .choices = kAutoOnOffChoices,
	 .flags = kOpensRepository, .group = "s3",
	 .summary = "Create-only writes with If-None-Match: * (auto: until the store answers NotImplemented, then a HEAD check first).",
	 .detail = "off (or auto on such a store) cannot exclude two writers racing for one key.",
	 .doc = "`auto`: create-only writes (WAL, backup records, claims) send `If-None-Match: *`; a store that answers NotImplemented (Swift's S3 layer before 2.36) is detected once, logged once, and from then on a HEAD checks before a plain write. `on`: always conditional (such a store fails). `off`: always the HEAD check. Without conditional writes two writers racing for one key are not excluded (see \"Stores without conditional writes\")"},
	{.name = "pgbk.s3_uri_style", .type = Type::Enum, .default_value = "host", .choices = kUriStyleChoices,
	 .flags = kTargetSuperuserOnly | kOpensRepository, .group = "s3",
	 .summary = "S3 addressing: host (bucket.endpoint) or path (endpoint/bucket).",
	 .doc = "`host` (`bucket.endpoint`) or `path` (`endpoint/bucket`; most self-hosted stores)"},
	{.name = "pgbk.s3_ca_file", .type = Type::String, .default_value = "", .flags = kTargetSuperuserOnly | kOpensRepository | kPaths, .group = "s3",
	 .summary = "CA bundle (PEM) that signs the S3 endpoint's certificate.",
	 .doc = "PEM bundle that signs the endpoint's certificate"},
	{.name = "pgbk.s3_verify_tls", .type = Type::Boolean, .default_value = "on", .flags = kTargetSuperuserOnly | kOpensRepository, .group = "s3",
	 .summary = "Verify the S3 endpoint's TLS certificate.",
	 .doc = "off only for testing"},
	{.name = "pgbk.s3_sse", .type = Type::Enum, .default_value = "none", .choices = kSseChoices, .flags = kOpensRepository,
	 .group = "s3",
	 .summary = "S3 server-side encryption.",
	 .doc = "server-side encryption: `AES256` or `aws:kms` (with `pgbk.s3_sse_kms_key_id`)"},
	{.name = "pgbk.s3_sse_kms_key_id", .type = Type::String, .default_value = "", .flags = kOpensRepository, .group = "s3",
	 .summary = "KMS key for pgbk.s3_sse = 'aws:kms'.",
	 .check = CheckHeaderValue,
	 .doc = "the KMS key id for `aws:kms`"},
	{.name = "pgbk.s3_storage_class", .type = Type::String, .default_value = "", .flags = kOpensRepository, .group = "s3",
	 .summary = "S3 storage class of stored objects (empty: the bucket's).",
	 .check = CheckHeaderValue,
	 .doc = "storage class of stored objects", .doc_default = "bucket default"},
	{.name = "pgbk.s3_part_size", .type = Type::Integer, .default_value = "16", .unit = Unit::Megabytes, .min = 5, .max = 5120,
	 .flags = kOpensRepository, .group = "s3",
	 .summary = "Multipart upload part size.",
	 .doc = "multipart part size (objects larger than one part are uploaded in parts, streaming, with bounded memory; a failed upload is aborted)"},
	{.name = "pgbk.s3_retry_timeout", .type = Type::Integer, .default_value = "60", .unit = Unit::Seconds, .min = 1, .max = 3600,
	 .flags = kOpensRepository, .group = "s3",
	 .summary = "How long one S3 request is retried before it fails.",
	 .doc = "how long one request is retried (exponential backoff with jitter on 5xx but 501, 429/SlowDown, timeouts and resets); permanent answers (501, other 4xx, bad credentials) are never retried"},
	{.name = "pgbk.encryption_key_file", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kOpensRepository | kKeptInvalidAtStart | kPaths,
	 .summary = "File holding the key that encrypts everything pgbk stores (empty: no encryption).",
	 .detail = "An absolute path to a file of mode 600 with a 32-byte key (64 hex digits or base64).",
	 .hint = "Point pgbk.encryption_key_file at a file (absolute path, mode 600, owned by the server's user) holding a 32-byte key as 64 hexadecimal digits or base64; create one with: pgbk generate-key FILE.",
	 .check = CheckKeyFile,
	 .doc = "Key file: everything pgbk stores is encrypted with its key (see Encryption). Superuser-only."},
	{.name = "pgbk.encryption_keyring", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kOpensRepository | kKeptInvalidAtStart | kPaths,
	 .summary = "Comma-separated key files of earlier keys, to read objects written before a rotation.",
	 .hint = "Point pgbk.encryption_keyring at a file (absolute path, mode 600, owned by the server's user) holding a 32-byte key as 64 hexadecimal digits or base64; create one with: pgbk generate-key FILE.",
	 .check = CheckKeyring,
	 .doc = "Comma-separated key files of earlier keys, to read what was written before a rotation. Superuser-only."},
};
// clang-format on

inline constexpr size_t kCount = std::size(kDefinitions);

// The index of a setting by name, or kCount if there is none.
constexpr size_t
IndexOf(std::string_view name)
{
	for (size_t i = 0; i < kCount; i++)
		if (kDefinitions[i].name == name)
			return i;
	return kCount;
}

// The index of a setting by name, at compile time: a misspelt name does not build.
consteval size_t
Id(std::string_view name)
{
	if (IndexOf(name) == kCount)
		throw "no such pgbk setting"; // not a constant expression: a compile error
	return IndexOf(name);
}

// The definition of a setting by name at run time (nullptr if there is none).
const Definition *Find(std::string_view name);

// A value as PostgreSQL would read it, in canonical form: integers in their base unit
// ("1GB" -> "1024" for a MB setting), booleans "on"/"off", enum choices as defined.
// Runs the setting's check (unless context.types_only). Throws Config naming the
// setting, the value and the fix.
std::string Normalize(const Definition &def, const std::string &text, const CheckContext &context);

// The value of every setting: the default unless set.
class Values {
public:
	Values();
	// Normalizes and checks the value (throws Config naming the setting).
	void Set(std::string_view name, const std::string &text, const CheckContext &context = {});
	// Takes a value already in canonical form (the server's, checked by the GUC).
	void SetCanonical(size_t id, std::string text);
	const std::string &
	Text(size_t id) const
	{
		return text_[id];
	}
	int64_t Integer(size_t id) const;
	bool Boolean(size_t id) const;
	// The index of an Enum setting's value among its choices.
	bool IsSet(size_t id) const;

private:
	std::vector<std::string> text_;
	std::vector<bool> set_;
};

// Changes whenever what opening the repository depends on changes: every
// kOpensRepository setting and each key file's identity and modification time (a key
// replaced in place).
std::string RepositorySignature(const Values &values);

// A comma-separated list, items trimmed of `whitespace`, empty ones dropped.
std::vector<std::string> SplitList(const std::string &list, std::string_view whitespace = " \t");
// Whether a repository URL is one of pgbk.allowed_targets' prefixes or below one
// (compared canonical, at path boundaries: "s3://b/x" allows "s3://b/x/y", not "s3://b/xy").
bool TargetAllowed(const std::string &url, const std::string &allowed, const std::string &data_directory);

// The settings of a group (a storage driver's), in definition order.
std::vector<const Definition *> GroupSettings(std::string_view group);

// The docs' settings tables (Markdown), one for the general settings and one per group.
std::string MarkdownTable(std::string_view group);

} // namespace pgbk::settings
