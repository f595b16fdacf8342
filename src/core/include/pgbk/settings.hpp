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

// Each check is defined beside what it checks (the repository URLs in storage_driver.cpp,
// schedules in cron.cpp, keys in crypto.cpp, the S3 endpoint in s3_storage.cpp, the spool
// in archive_spool.cpp): the table only names them, so this layer depends on none of them.
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
	Check check = nullptr;
};

// A setting's documentation, kept in settings_text.cpp (editing it recompiles that file
// alone).
struct Text {
	std::string_view summary = {}; // pg_settings.short_desc
	std::string_view detail = {}; // pg_settings.extra_desc
	std::string_view hint = {}; // the HINT of a refused value
	std::string_view doc = {}; // the docs table's "meaning" column (Markdown)
	std::string_view doc_default = {}; // the docs table's default, when not the value
};
const Text &TextOf(const Definition &def);
// Whether a setting has its text, and how many texts there are (a unit test keeps the two
// tables equal).
bool HasText(std::string_view name);
size_t TextCount();

// clang-format off
inline constexpr Definition kDefinitions[] = {
	{.name = "pgbk.repository", .type = Type::String, .default_value = "", .flags = kOpensRepository | kKeptInvalidAtStart,
	 .check = CheckRepository},
	{.name = "pgbk.allowed_targets", .type = Type::String, .default_value = "", .flags = kSuperuserOnly,
	 .check = CheckAllowedTargets},
	{.name = "pgbk.compression", .type = Type::Enum, .default_value = "zstd", .choices = kCompressionChoices},
	{.name = "pgbk.compression_level", .type = Type::Integer, .default_value = "3", .min = 1, .max = 19},
	{.name = "pgbk.full_schedule", .type = Type::String, .default_value = "",
	 .check = CheckSchedule},
	{.name = "pgbk.diff_schedule", .type = Type::String, .default_value = "",
	 .check = CheckSchedule},
	{.name = "pgbk.incr_schedule", .type = Type::String, .default_value = "",
	 .check = CheckSchedule},
	{.name = "pgbk.backup_standby", .type = Type::Enum, .default_value = "off", .choices = kBackupStandbyChoices},
	{.name = "pgbk.backup_standby_max_lag", .type = Type::Integer, .default_value = "60", .unit = Unit::Seconds, .min = 0, .max = 86400},
	{.name = "pgbk.test_primary_grace", .type = Type::Integer, .default_value = "0", .unit = Unit::Seconds, .min = 0, .max = 3600,
	 .flags = kTesting},
	{.name = "pgbk.retention_full", .type = Type::Integer, .default_value = "0", .min = 0, .max = 9999999},
	{.name = "pgbk.retention_full_type", .type = Type::Enum, .default_value = "count", .choices = kRetentionTypeChoices},
	{.name = "pgbk.retention_diff", .type = Type::Integer, .default_value = "0", .min = 0, .max = 9999999},
	{.name = "pgbk.expire_delay", .type = Type::Integer, .default_value = "86400", .unit = Unit::Seconds, .min = 0, .max = 31536000},
	{.name = "pgbk.schedule_timezone", .type = Type::String, .default_value = "UTC",
	 .check = CheckTimeZone},
	{.name = "pgbk.database", .type = Type::String, .default_value = "postgres", .applies = Applies::Restart},
	{.name = "pgbk.parallel", .type = Type::Integer, .default_value = "2", .min = 1, .max = 64},
	{.name = "pgbk.archive_timeout", .type = Type::Integer, .default_value = "300", .unit = Unit::Seconds, .min = 1, .max = 86400},
	{.name = "pgbk.spool_directory", .type = Type::String, .default_value = "", .flags = kPaths | kSuperuserOnly,
	 .check = CheckSpoolDirectory},
	{.name = "pgbk.spool_limit", .type = Type::Integer, .default_value = "1024", .unit = Unit::Megabytes, .min = 0, .max = 1048576},
	{.name = "pgbk.archive_overflow", .type = Type::Enum, .default_value = "wait", .choices = kArchiveOverflowChoices},
	{.name = "pgbk.test_file_delay", .type = Type::Integer, .default_value = "0", .unit = Unit::Milliseconds, .min = 0, .max = 60000,
	 .flags = kTesting},
	{.name = "pgbk.test_backup_lease", .type = Type::Integer, .default_value = "0", .unit = Unit::Seconds, .min = 0, .max = 3600,
	 .flags = kTesting},
	{.name = "pgbk.s3_endpoint", .type = Type::String, .default_value = "", .flags = kTargetSuperuserOnly | kOpensRepository, .group = "s3",
	 .check = CheckEndpoint},
	{.name = "pgbk.s3_region", .type = Type::String, .default_value = "us-east-1", .flags = kOpensRepository, .group = "s3",
	 .check = CheckHeaderValue},
	{.name = "pgbk.s3_access_key_id", .type = Type::String, .default_value = "", .flags = kSuperuserOnly | kOpensRepository,
	 .group = "s3",
	 .check = CheckHeaderValue},
	{.name = "pgbk.s3_secret_access_key", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kSecret | kOpensRepository, .group = "s3",
	 .check = CheckHeaderValue},
	{.name = "pgbk.s3_session_token", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kSecret | kOpensRepository, .group = "s3",
	 .check = CheckHeaderValue},
	{.name = "pgbk.s3_credentials", .type = Type::Enum, .default_value = "auto", .choices = kS3CredentialsChoices,
	 .flags = kOpensRepository, .group = "s3"},
	{.name = "pgbk.s3_conditional_writes", .type = Type::Enum, .default_value = "auto", .choices = kAutoOnOffChoices,
	 .flags = kOpensRepository, .group = "s3"},
	{.name = "pgbk.s3_uri_style", .type = Type::Enum, .default_value = "host", .choices = kUriStyleChoices,
	 .flags = kTargetSuperuserOnly | kOpensRepository, .group = "s3"},
	{.name = "pgbk.s3_ca_file", .type = Type::String, .default_value = "", .flags = kTargetSuperuserOnly | kOpensRepository | kPaths, .group = "s3"},
	{.name = "pgbk.s3_verify_tls", .type = Type::Boolean, .default_value = "on", .flags = kTargetSuperuserOnly | kOpensRepository, .group = "s3"},
	{.name = "pgbk.s3_sse", .type = Type::Enum, .default_value = "none", .choices = kSseChoices, .flags = kOpensRepository,
	 .group = "s3"},
	{.name = "pgbk.s3_sse_kms_key_id", .type = Type::String, .default_value = "", .flags = kOpensRepository, .group = "s3",
	 .check = CheckHeaderValue},
	{.name = "pgbk.s3_storage_class", .type = Type::String, .default_value = "", .flags = kOpensRepository, .group = "s3",
	 .check = CheckHeaderValue},
	{.name = "pgbk.s3_part_size", .type = Type::Integer, .default_value = "16", .unit = Unit::Megabytes, .min = 5, .max = 5120,
	 .flags = kOpensRepository, .group = "s3"},
	{.name = "pgbk.s3_retry_timeout", .type = Type::Integer, .default_value = "60", .unit = Unit::Seconds, .min = 1, .max = 3600,
	 .flags = kOpensRepository, .group = "s3"},
	{.name = "pgbk.encryption_key_file", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kOpensRepository | kKeptInvalidAtStart | kPaths,
	 .check = CheckKeyFile},
	{.name = "pgbk.encryption_keyring", .type = Type::String, .default_value = "",
	 .flags = kSuperuserOnly | kOpensRepository | kKeptInvalidAtStart | kPaths,
	 .check = CheckKeyring},
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

// "a", "a or b", "a, b or c": alternatives as messages list them.
std::string JoinAlternatives(const std::vector<std::string> &items);

// A comma-separated list, items trimmed of `whitespace`, empty ones dropped.
std::vector<std::string> SplitList(const std::string &list, std::string_view whitespace = " \t");

// The settings of a group (a storage driver's), in definition order.
std::vector<const Definition *> GroupSettings(std::string_view group);

// The docs' settings tables (Markdown), one for the general settings and one per group.
std::string MarkdownTable(std::string_view group);

} // namespace pgbk::settings
