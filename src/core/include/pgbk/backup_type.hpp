// The backup types and their rules, in one table: what each is taken against, its label
// suffix, its schedule setting and how messages name it. Records and manifests store
// the name ("full", "diff", "incr"), which is part of the repository format.
#pragma once
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace pgbk {

enum class BackupType { Full, Diff, Incr };

enum class PriorRule {
	None, // self-contained
	NewestFull, // the newest complete full backup
	NewestAny, // the newest complete backup of any type
};

struct BackupTypeRules {
	BackupType type;
	std::string_view name; // as stored, and as pgbk_backup_now() takes it
	char label_suffix; // YYYYMMDD-HHMMSS<suffix>
	PriorRule prior;
	std::string_view schedule_setting;
	std::string_view adjective; // "a <adjective> backup"
	std::string_view article; // "a" or "an"
	std::string_view explanation; // for hints
};

// Biggest first: when several schedules are due at once, the first one due runs.
inline constexpr BackupTypeRules kBackupTypes[] = {
	{BackupType::Full, "full", 'F', PriorRule::None, "pgbk.full_schedule", "full", "a", ""},
	{BackupType::Diff, "diff", 'D', PriorRule::NewestFull, "pgbk.diff_schedule", "differential", "a",
	 "changes since the last full backup"},
	{BackupType::Incr, "incr", 'I', PriorRule::NewestAny, "pgbk.incr_schedule", "incremental", "an",
	 "changes since the last backup of any type"},
};

constexpr const BackupTypeRules &
RulesOf(BackupType type)
{
	return kBackupTypes[static_cast<size_t>(type)];
}

// The type a stored or requested name means, if any.
constexpr std::optional<BackupType>
ParseBackupType(std::string_view name)
{
	for (const auto &r : kBackupTypes)
		if (r.name == name)
			return r.type;
	return std::nullopt;
}

constexpr bool
IsBackupType(std::string_view name, BackupType type)
{
	return RulesOf(type).name == name;
}

} // namespace pgbk
