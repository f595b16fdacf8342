// Point-in-time recovery targets (pgbk restore --target-*): validation, the recovery
// settings PostgreSQL reads, and the choice of the backup that can reach a target.
#pragma once
#include "pgbk/repository.hpp"

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgbk {

struct RecoveryTarget {
	enum class Kind { None, Immediate, Time, Lsn, Xid, Name };
	Kind kind = Kind::None; // None: replay every archived WAL segment
	std::string value; // the time, LSN, transaction id or restore point name as given
	std::optional<bool> inclusive; // recovery_target_inclusive (time, LSN, xid)
	std::string action = "promote"; // promote | pause | shutdown
	std::string timeline; // latest | current | a timeline id; empty: PostgreSQL's default (latest)

	// Parsed forms (set by ValidateRecoveryTarget).
	int64_t time_usec = 0; // Time: microseconds since the epoch, UTC
	Lsn lsn = 0; // Lsn
	uint64_t xid = 0; // Xid (as given: 32 bits or epoch-qualified 64)
};

// Checks and parses a target; throws Config naming the option and the fix.
void ValidateRecoveryTarget(RecoveryTarget &t);

// Parses "YYYY-MM-DD HH:MM:SS[.ffffff]" followed by a zone ("Z", "UTC", "+HH",
// "+HH:MM", "+HHMM", "-..."; 'T' may separate date and time) into microseconds since
// the epoch. A time without a zone is refused: the restored server would read it in its
// own time zone, which may not be the operator's. Throws Config.
int64_t ParseTargetTime(const std::string &text);
// The same instant as PostgreSQL reads it unambiguously: "YYYY-MM-DD HH:MM:SS.ffffff+00".
std::string FormatTargetTimeUtc(int64_t usec);

// The recovery settings for postgresql.auto.conf (empty for Kind::None beyond action
// and timeline, which apply only with a target).
std::vector<std::pair<std::string, std::string>> RecoverySettings(const RecoveryTarget &t);

// The newest complete backup that can reach the target: its consistency point (stop
// time, stop LSN, next transaction id at the stop) is at or before it. Immediate (and
// no target) takes the newest backup; a restore point name, whose position is unknown
// before replay, the oldest (name a newer one with --backup to replay less). A target no backup reaches throws NotFound
// saying which range is restorable. `backups` as ListBackups returns them.
// The history a restore follows: the timeline named by --target-timeline, or by default
// (and "latest") the repository's authoritative timeline (timeline.hpp), which is not the
// highest one when that one forks off a superseded line; then `t.timeline` is set to it,
// so the restored server follows it too. "current": none (the backup's own timeline).
// Throws NotFound for a timeline without a history file.
std::optional<TimelineLineage> RestoreHistory(const TimelineSet &timelines, RecoveryTarget &t);
// Why a backup cannot start a recovery along `history` ("" when it can): its timeline is
// not on that history, or the history left it before the backup ended.
std::string OffHistoryReason(const BackupRecord &b, const TimelineLineage &history);

BackupRecord SelectBackupForTarget(const std::vector<BackupRecord> &backups, const RecoveryTarget &t,
								   const std::string &where);

} // namespace pgbk
