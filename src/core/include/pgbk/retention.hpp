// Retention (pgbk.retention_full, pgbk.retention_full_type, pgbk.retention_diff): which
// backups and which WAL may go. A pure function of the backup list and the policy, so it
// is property-tested on its own; Repository::Expire carries a plan out.
#pragma once
#include "pgbk/backup_type.hpp"
#include "pgbk/repository.hpp"

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
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

// The failure record of a backup being expired starts with this: an expiry interrupted
// half-way leaves the backup listed as failed (never as complete), and the next expiry
// finishes removing it.
inline constexpr const char *kExpiredPrefix = "expired: ";

// `backups` ordered by position (Repository::ListBackups). Never expires the
// newest complete full backup, anything a kept backup depends on, a backup that is still
// being taken (incomplete) or the chain it is being taken against, or a backup kept with
// pgbk_keep and its chain.
//
// With `history` (the authoritative timeline's lineage), only backups on it count: one a
// superseded line took (a former primary's after a failover) is never kept in place of
// one on the history, and goes like a failed backup once older than every kept one.
RetentionPlan PlanRetention(const std::vector<BackupRecord> &backups, const RetentionPolicy &policy, int64_t now,
							uint64_t segment_size, const TimelineLineage *history = nullptr);

// The backup a differential ("diff": the newest complete full backup) or incremental
// ("incr": the newest complete backup of any type) is taken against, among those on the
// server's history (`lineage`: its own timeline, or an ancestor it left after the backup
// ended, so the first incremental after a promotion is an incremental). Empty label with
// a reason when there is none that fits this server (none complete, none on its history,
// another PostgreSQL major version): the backup is then taken as a full one.
struct PriorChoice {
	std::string label;
	Lsn start_lsn = 0;
	std::string why_full; // set when label is empty
};
PriorChoice ChoosePrior(const std::vector<BackupRecord> &backups, BackupType type, const TimelineLineage &lineage,
						int pg_version_num);

// Expiry is two-phase. What retention selects is first marked (ExpiryMark, with where the
// marking server was); it is removed only by a later run that finds a mark older than
// the delay made on the authoritative line (the history known at removal reaches the
// marker's position), while retention still selects it. A mark made by a node that was
// not on that line (a former primary that had not yet seen the new history file) is
// void: the backup stays, and a node on the line marks it afresh.
struct ExpiryDecision {
	std::vector<ExpiryItem> mark; // selected without a valid mark: to be marked now
	std::vector<ExpiryItem> remove; // selected with a valid mark past the delay: dependents first
	struct Waiting {
		ExpiryItem item;
		int64_t due_at = 0; // when its removal is due (unknown marks: now + delay)
	};
	std::vector<Waiting> waiting; // selected and not removed by this run
	uint64_t void_marks = 0; // marks ignored: made off the authoritative line
	// WAL numbered below this one's is needed by no backup that stays (empty: none goes).
	std::string oldest_wal_kept;
};

// Whether a mark was made on `history`: the marker's server position lies on it.
bool MarkOnHistory(const ExpiryMark &mark, const TimelineLineage &history);
// The oldest of a backup's marks made on `history` (null: none; the others are void).
const ExpiryMark *ValidExpiryMark(const BackupRecord &b, const TimelineLineage &history);
// When a marked backup's removal is due: its valid mark's time plus the delay (nullopt:
// no valid mark).
std::optional<int64_t> ExpiryDueAt(const BackupRecord &b, const TimelineLineage &history, int64_t delay);

ExpiryDecision DecideExpiry(const std::vector<BackupRecord> &backups, const RetentionPlan &plan,
							const TimelineLineage &history, int64_t now, int64_t delay, uint64_t segment_size);

struct ExpiryOptions {
	int64_t delay = 0; // pgbk.expire_delay in seconds (0: marked and removed in one run)
	// Who marks (node id and name) and where its server is (timeline, LSN); marked_at
	// and reason are filled in per backup.
	ExpiryMark marker;
};

// A backup an expiry marked, as pgbk_expire() rows and job notes list it: its type
// prefixed with kMarkedTypePrefix, its reason followed by when it goes.
inline constexpr std::string_view kMarkedTypePrefix = "marked ";
ExpiryItem MarkedExpiryItem(const ExpiryDecision::Waiting &w);

struct ExpiryReport {
	std::vector<ExpiryItem> backups; // removed, in the order removed
	std::vector<ExpiryDecision::Waiting> marked; // marked by this run, removed later
	std::vector<ExpiryDecision::Waiting> waiting; // every selected backup that stays for now
	uint64_t void_marks = 0;
	uint64_t wal_removed = 0; // WAL files removed (segments, partial segments, backup history)
	std::string wal_first, wal_last; // the lowest and highest removed names
	// Prefixes under backup/ that are no backup and not what a pgbk removal left:
	// never removed, only reported.
	std::vector<std::string> left_alone;
	uint64_t schedule_claims_removed = 0; // schedule/ claims older than kScheduleClaimsKept
	uint64_t gaps_removed = 0; // gaps/ records wholly before the oldest WAL kept
};

constexpr std::chrono::seconds kScheduleClaimsKept{7 * 24 * 3600};

// Plans retention over the repository and carries it out in two phases (DecideExpiry):
// marks what retention newly selects; removes what is due, each backup first re-marked
// failed ("expired: ..."), then its objects with backup.info last; then the WAL no
// staying backup needs. `on_backup` is told of each backup once removed. Throws on the
// first storage error (what was removed stays reported through on_backup).
ExpiryReport Expire(Repository &repo, const RetentionPolicy &policy, int64_t now, uint64_t segment_size,
					const std::function<void(const ExpiryItem &)> &on_backup = nullptr,
					const ExpiryOptions &options = {});

} // namespace pgbk
