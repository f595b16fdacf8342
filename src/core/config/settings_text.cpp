// The documentation of every setting: what pg_settings shows (summary, detail), the HINT
// of a refused value, and the docs table's meaning and default column. Kept apart from
// the table in settings.hpp, which most of the tree includes: editing a text recompiles
// this file alone. settings_test.cpp checks that every setting has its text here.
#include "pgbk/settings.hpp"

#include <map>

namespace pgbk::settings {
namespace {

// clang-format off
const std::map<std::string_view, Text> kTexts = {
	{"pgbk.repository", {.summary = "Location of the pgbk repository.",
	  .detail = "An absolute directory or file:///directory. Empty means the directory pgbk_repo-<name of the data directory> beside the data directory.",
	  .hint = "Set pgbk.repository to an absolute path of a directory the server can write, to s3://bucket/prefix, or leave it empty for the default directory pgbk_repo-<name of the data directory> beside it.",
	  .doc = "Where backups and WAL go: an absolute directory or `file:///directory`, or `s3://bucket/prefix` (see S3 repositories). Empty means this cluster's own directory beside the data directory, named after it: `pgbk_repo-<name>` (for `/var/lib/postgresql/15/main` that is `/var/lib/postgresql/15/pgbk_repo-main`), so that clusters side by side never share one; a cluster already archiving into the shared default of pgbk 0.4 and earlier, `pgbk_repo`, keeps using it while its identity record names this cluster and `pgbk_repo-<name>` does not exist. A relative path, an unknown scheme, a directory inside the data directory or a tablespace (compared resolved: links, `//`, `.` and `..` do not hide it), or one the server cannot create or write is refused when set, naming the reason. A value that is unusable when the server starts is kept, not replaced by the default: every archive fails naming it (WAL stays in `pg_wal`) until it can be used."}},
	{"pgbk.allowed_targets", {.summary = "Repository URL prefixes pgbk_operator may choose with pgbk_set_target (comma-separated; empty: none).",
	  .hint = "List repository URL prefixes such as 's3://corp-backups/' or '/backups/', separated by commas.",
	  .doc = "Comma-separated repository URL prefixes (`s3://corp-backups/`, `/backups/`) among which members of `pgbk_operator` may choose with `pgbk_set_target`; empty: none (only a superuser sets a target). The endpoint, TLS verification and CA file stay a superuser's: whoever controls the target can read every backup. Superuser-only."}},
	{"pgbk.compression", {.summary = "Compression of stored WAL and backup files.",
	  .doc = "`zstd` or `none`, for WAL and backup files."}},
	{"pgbk.compression_level", {.summary = "zstd compression level.",
	  .doc = "zstd level, 1–19."}},
	{"pgbk.full_schedule", {.summary = "Cron schedule of full backups (5 fields; empty = none).",
	  .detail = "Read in the time zone pgbk.schedule_timezone.",
	  .hint = "Use a standard 5-field cron expression (minute hour day-of-month month day-of-week), for example '0 1 * * *' for 01:00 every day, or '' for no schedule.",
	  .doc = "Full backups on a standard 5-field cron schedule (`minute hour day-of-month month day-of-week`; ranges, lists, steps, `jan`–`dec`, `sun`–`sat`, `@daily`, `@hourly`, …). Empty: no schedule. An invalid or never-firing expression is refused when set, with the reason."}},
	{"pgbk.diff_schedule", {.summary = "Cron schedule of differential backups (changes since the last full; empty = none).",
	  .detail = "Read in the time zone pgbk.schedule_timezone.",
	  .hint = "Use a standard 5-field cron expression (minute hour day-of-month month day-of-week), for example '0 1 * * *' for 01:00 every day, or '' for no schedule.",
	  .doc = "Differential backups (changes since the last complete full backup), same syntax."}},
	{"pgbk.incr_schedule", {.summary = "Cron schedule of incremental backups (changes since the last backup; empty = none).",
	  .detail = "Read in the time zone pgbk.schedule_timezone.",
	  .hint = "Use a standard 5-field cron expression (minute hour day-of-month month day-of-week), for example '0 1 * * *' for 01:00 every day, or '' for no schedule.",
	  .doc = "Incremental backups (changes since the last complete backup of any type), same syntax. When several schedules are due at the same minute only the biggest runs (full > diff > incr); a schedule that fires while a backup is already queued is skipped and logged."}},
	{"pgbk.backup_standby", {.summary = "Where scheduled backups run: off (the primary), prefer (a standby, else the primary) or only (a standby).",
	  .detail = "Every node evaluates the schedules; the node that claims a run in the repository takes it.",
	  .doc = "Where scheduled backups run. Every node evaluates the same schedules and each run is taken by exactly one node, the one whose create-only claim `schedule/<type>/<time>` lands in the repository first. `off`: the primary. `prefer`: a streaming standby whose replay lag is under `pgbk.backup_standby_max_lag` claims the run at once; the primary claims it after 120 s if no standby did. `only`: standbys only (a run no standby qualifies for is skipped and logged there). `pgbk_backup_now()` runs on the node it is called on, primary or standby."}},
	{"pgbk.backup_standby_max_lag", {.summary = "Largest replay lag at which a standby takes a scheduled backup (pgbk.backup_standby).",
	  .doc = "A standby whose replay lag is over this when a run is due leaves it to the other nodes (`pgbk.backup_standby`). The lag never compares the two nodes' clocks: it is how far replay trails the primary's last message by the primary's clock, or how long the standby heard nothing from the primary beyond `wal_receiver_timeout`, by its own."}},
	{"pgbk.test_primary_grace", {.summary = "Testing only: the primary's grace period with pgbk.backup_standby = prefer (0 = 120 s)."}},
	{"pgbk.retention_full", {.summary = "Full backups to keep (pgbk.retention_full_type = count) or days to keep them (time).",
	  .detail = "0 keeps every backup. Expiry runs after each backup and on pgbk_expire().",
	  .hint = "Set how many full backups to keep (pgbk.retention_full_type = 'count') or for how many days ('time'): 0 or more, 0 keeping every backup.",
	  .doc = "Full backups to keep (`count`) or days to keep them (`time`); 0 keeps every backup. See Retention."}},
	{"pgbk.retention_full_type", {.summary = "How pgbk.retention_full counts: count or time (days).",
	  .hint = "Use 'count' (keep that many full backups) or 'time' (keep them for that many days).",
	  .doc = "`count` or `time`."}},
	{"pgbk.retention_diff", {.summary = "Differential backups to keep (0 = as long as their full backup is kept).",
	  .hint = "Set how many differential backups to keep: 0 or more, 0 keeping them as long as their full backup.",
	  .doc = "Differential backups to keep (with what depends on them); 0 keeps them as long as their full backup."}},
	{"pgbk.expire_delay", {.summary = "How long a backup retention selects waits, marked, before it is removed (0 = at once).",
	  .detail = "Expiry marks first and removes later: a mistaken retention setting, or a node that was not on the newest timeline when it marked, removes nothing in the meantime.",
	  .hint = "Give a duration such as '1d' or '12h' (0 removes in the same run that selects).",
	  .doc = "Expiry is two-phase: what retention selects is marked first (listed in `pgbk_backups.expire_after` and by `pgbk list`) and removed by a later expiry once the mark is this old, if retention still selects it and nobody kept it (`pgbk_keep`). A mark made by a node whose server was not on the authoritative line when it marked (a former primary that had not yet seen the new primary's history file) is void and removes nothing. The WAL a marked backup needs stays until it is removed. 0 removes in the run that selects, as before 0.8."}},
	{"pgbk.schedule_timezone", {.summary = "Time zone in which backup schedules are read.",
	  .detail = "An IANA time zone name such as UTC or Europe/Berlin.",
	  .doc = "The IANA time zone schedules are read in (`Europe/Berlin`, …). Across DST changes: a time skipped by the spring-forward gap runs one hour later (02:30 → 03:30); a fixed time that occurs twice at fall-back runs once, at its first occurrence; a schedule with hour `*` runs every real hour."}},
	{"pgbk.database", {.summary = "Database the pgbk worker connects to.",
	  .doc = "Database the worker connects to."}},
	{"pgbk.parallel", {.summary = "Threads the pgbk worker uses to copy files.",
	  .doc = "Threads copying files during a backup, WAL segments archived at once (and the CLI's restore, verify and prefetch default with `--config`)."}},
	{"pgbk.archive_timeout", {.summary = "How long a backup waits for the WAL it needs to reach the repository.",
	  .doc = "How long a backup waits for the WAL it needs to reach the repository before it fails."}},
	{"pgbk.spool_directory", {.summary = "Where WAL is spooled while the repository is unreachable (empty: pgbk_spool-<name of the data directory> beside it).",
	  .hint = "Set pgbk.spool_directory to an absolute directory the server can write, outside the data directory, or leave it empty.",
	  .doc = "Where the archive module keeps WAL while the repository refuses or does not answer: each file stored there durably (compressed, encrypted with the repository's key, checksummed) is acknowledged, so `pg_wal` can recycle it, and drains into the repository once it answers. Empty: the cluster's own `pgbk_spool-<name>` beside the data directory. Like a local repository it must be absolute, outside the data directory and tablespaces, and writable."}},
	{"pgbk.spool_limit", {.summary = "Most WAL the spool holds (0 disables spooling).",
	  .doc = "Most WAL (stored size) the spool holds; once it is full, `pgbk.archive_overflow` decides. `0` disables spooling; WAL already in the spool still drains."}},
	{"pgbk.archive_overflow", {.summary = "When WAL fits neither the repository nor the spool: wait (it stays in pg_wal) or drop (acknowledged unstored, recorded as a gap).",
	  .detail = "drop keeps the server up through a long outage; a catch-up backup heals the gap once the repository answers.",
	  .doc = "What happens to a WAL segment that fits neither the repository (away) nor the spool (full or off). `wait`: it stays in `pg_wal` and the archiver retries, as without pgbk; `pg_wal` grows until the repository answers. `drop`: it is acknowledged without being stored and the range is recorded as a gap (`pgbk_archive_gaps`), so `pg_wal` stays within `max_wal_size` and the server stays up; once the repository answers the worker takes a catch-up backup that covers the gap. Point-in-time recovery into a gap is impossible, and refused. History files are never dropped."}},
	{"pgbk.test_file_delay", {.summary = "Testing only: pause before copying each file."}},
	{"pgbk.test_backup_lease", {.summary = "Testing only: the term of a backup's lease (0: 10 minutes)."}},
	{"pgbk.s3_endpoint", {.summary = "S3 endpoint URL (default: AWS for pgbk.s3_region).",
	  .detail = "http:// or https://host[:port]; plain http is allowed for stores that need it.",
	  .hint = "Give the endpoint as https://host[:port] (or http:// for stores without TLS), or leave it empty for AWS.",
	  .doc = "`https://host[:port]` or `http://…` (plain HTTP is allowed for stores that need it)",
	  .doc_default = "AWS for the region"}},
	{"pgbk.s3_region", {.summary = "S3 region used for signing.",
	  .doc = "region used in the signature"}},
	{"pgbk.s3_access_key_id", {.summary = "S3 access key id.",
	  .doc = "access key (superuser-only)"}},
	{"pgbk.s3_secret_access_key", {.summary = "S3 secret access key (never shown or logged).",
	  .doc = "secret: `SHOW` and `pg_settings` always say `(hidden)`, and a reload never logs it"}},
	{"pgbk.s3_session_token", {.summary = "S3 session token (never shown or logged).",
	  .doc = "secret, like the secret access key (temporary credentials)"}},
	{"pgbk.s3_credentials", {.summary = "Where S3 credentials come from: auto (static keys when set, else web identity, container credentials or instance metadata) or static.",
	  .doc = "`auto`: the static keys when `pgbk.s3_access_key_id` is set, else the AWS SDKs' chain from the server's environment: web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`, STS `AssumeRoleWithWebIdentity`: IRSA, GKE), container credentials (`AWS_CONTAINER_CREDENTIALS_FULL_URI` or `_RELATIVE_URI`, with `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE`: EKS Pod Identity, ECS), then IMDSv2 (unless `AWS_EC2_METADATA_DISABLED=true`). Temporary credentials are renewed 5 minutes before they expire, with no reload. `static`: only the keys"}},
	{"pgbk.s3_conditional_writes", {.summary = "Create-only writes with If-None-Match: * (auto: until the store answers NotImplemented, then a HEAD check first).",
	  .detail = "off (or auto on such a store) cannot exclude two writers racing for one key.",
	  .doc = "`auto`: create-only writes (WAL, backup records, claims) send `If-None-Match: *`; a store that answers NotImplemented (Swift's S3 layer before 2.36) is detected once, logged once, and from then on a HEAD checks before a plain write. `on`: always conditional (such a store fails). `off`: always the HEAD check. Without conditional writes two writers racing for one key are not excluded (see \"Stores without conditional writes\")"}},
	{"pgbk.s3_uri_style", {.summary = "S3 addressing: host (bucket.endpoint) or path (endpoint/bucket).",
	  .doc = "`host` (`bucket.endpoint`) or `path` (`endpoint/bucket`; most self-hosted stores)"}},
	{"pgbk.s3_ca_file", {.summary = "CA bundle (PEM) that signs the S3 endpoint's certificate.",
	  .doc = "PEM bundle that signs the endpoint's certificate"}},
	{"pgbk.s3_verify_tls", {.summary = "Verify the S3 endpoint's TLS certificate.",
	  .doc = "off only for testing"}},
	{"pgbk.s3_sse", {.summary = "S3 server-side encryption.",
	  .doc = "server-side encryption: `AES256` or `aws:kms` (with `pgbk.s3_sse_kms_key_id`)"}},
	{"pgbk.s3_sse_kms_key_id", {.summary = "KMS key for pgbk.s3_sse = 'aws:kms'.",
	  .doc = "the KMS key id for `aws:kms`"}},
	{"pgbk.s3_storage_class", {.summary = "S3 storage class of stored objects (empty: the bucket's).",
	  .doc = "storage class of stored objects",
	  .doc_default = "bucket default"}},
	{"pgbk.s3_part_size", {.summary = "Multipart upload part size.",
	  .doc = "multipart part size (objects larger than one part are uploaded in parts, streaming, with bounded memory; a failed upload is aborted)"}},
	{"pgbk.s3_retry_timeout", {.summary = "How long one S3 request is retried before it fails.",
	  .doc = "how long one request is retried (exponential backoff with jitter on 5xx but 501, 429/SlowDown, timeouts and resets); permanent answers (501, other 4xx, bad credentials) are never retried"}},
	{"pgbk.encryption_key_file", {.summary = "File holding the key that encrypts everything pgbk stores (empty: no encryption).",
	  .detail = "An absolute path to a file of mode 600 with a 32-byte key (64 hex digits or base64).",
	  .hint = "Point pgbk.encryption_key_file at a file (absolute path, mode 600, owned by the server's user) holding a 32-byte key as 64 hexadecimal digits or base64; create one with: pgbk generate-key FILE.",
	  .doc = "Key file: everything pgbk stores is encrypted with its key (see Encryption). Superuser-only."}},
	{"pgbk.encryption_keyring", {.summary = "Comma-separated key files of earlier keys, to read objects written before a rotation.",
	  .hint = "Point pgbk.encryption_keyring at a file (absolute path, mode 600, owned by the server's user) holding a 32-byte key as 64 hexadecimal digits or base64; create one with: pgbk generate-key FILE.",
	  .doc = "Comma-separated key files of earlier keys, to read what was written before a rotation. Superuser-only."}},
};
// clang-format on

} // namespace

const Text &
TextOf(const Definition &def)
{
	static const Text none;
	auto it = kTexts.find(def.name);
	return it == kTexts.end() ? none : it->second;
}

bool
HasText(std::string_view name)
{
	return kTexts.count(name) != 0;
}

size_t
TextCount()
{
	return kTexts.size();
}

} // namespace pgbk::settings
