// Retention (pgbk.retention_full, pgbk.retention_full_type, pgbk.retention_diff): which
// backups and which WAL may go. A pure function of the backup list and the policy, so it
// is property-tested on its own; Repository::Expire carries a plan out.
#pragma once
#include "pgbk/repository.hpp"

#include <optional>
#include <string>
#include <vector>

namespace pgbk {

struct RetentionPolicy {
	enum class FullType { Count, Time };
	int full = 0; // complete full backups to keep (Count) or days (Time); 0 = keep every backup
	FullType full_type = FullType::Count;
	int diff = 0; // differential backups to keep; 0 = no limit beyond their full's
};

struct ExpiryItem {
	std::string label, type, reason;
};

struct RetentionPlan {
	// Backups to remove, each after every backup that depends on it (newest first).
	std::vector<ExpiryItem> expire;
	// WAL segments numbered below this one's (on any timeline) are needed by no kept
	// backup; empty when no WAL may be removed.
	std::string oldest_wal_kept;
};

// `backups` ordered by start time then LSN (Repository::ListBackups). Never expires the
// newest complete full backup, anything a kept backup depends on, or a backup that is
// still being taken (incomplete).
RetentionPlan PlanRetention(const std::vector<BackupRecord> &backups, const RetentionPolicy &policy, int64_t now,
							uint64_t segment_size);

} // namespace pgbk
