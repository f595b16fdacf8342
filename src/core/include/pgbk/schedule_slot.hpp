// Which node takes a scheduled backup. Every node of a cluster has the same settings and
// evaluates the same schedules against one repository; each scheduled run (a "slot": the
// schedule's type and the time it fires) is taken by exactly one node: the one whose
// create-only write of schedule/<type>/<slot> succeeds. Configuration that differs
// between nodes never decides it, so a switchover or a failover needs no change.
#pragma once
#include "pgbk/repository.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pgbk {

// pgbk.backup_standby (settings::kBackupStandbyChoices, in this order): where scheduled
// backups run.
enum class BackupStandby { Off, Prefer, Only };

// How long the primary leaves a slot to the standbys with pgbk.backup_standby = prefer
// before it claims the slot itself: a standby claims at once when its lag allows.
constexpr std::chrono::seconds kPrimaryGrace{120};

// What a node knows about itself when a slot fires.
struct NodeRole {
	bool standby = false;
	bool streaming = false; // a standby whose WAL receiver streams from a primary
	std::chrono::seconds replay_lag{0}; // a standby's replay lag (0 when caught up)
};

enum class SlotAction {
	Claim, // try to claim the slot now
	ClaimAfterGrace, // the primary with `prefer`: claim after kPrimaryGrace unless a standby did
	Leave, // this node never takes it (the reason says why)
};

struct SlotPlan {
	SlotAction action = SlotAction::Leave;
	std::string reason; // for Leave: why, for the log
};

SlotPlan PlanScheduledRun(BackupStandby mode, const NodeRole &node, std::chrono::seconds max_lag);
// Where a run of the schedule is expected to be taken, seen from this node (pgbk_schedule).
std::string ExpectedRunner(BackupStandby mode, bool this_is_standby, std::chrono::seconds max_lag);

struct ScheduleSlotClaim {
	std::string type; // "full", "diff", "incr"
	int64_t slot = 0; // unix seconds the schedule fired at
	std::string holder; // host:data directory of the node that claimed it
	bool standby = false; // whether it was a standby then
	int64_t claimed_at = 0;
};

// schedule/<type>/<YYYYMMDDTHHMMSSZ>
std::string ScheduleSlotKey(std::string_view type, int64_t slot);

// Claims the slot with a create-only write: true when this node got it; false when
// another node had (its claim in *winner when readable).
bool ClaimScheduleSlot(Repository &repo, const ScheduleSlotClaim &claim,
					   std::optional<ScheduleSlotClaim> *winner = nullptr);
// Whether some node claimed the slot (the primary asks after its grace period).
std::optional<ScheduleSlotClaim> ReadScheduleSlot(Repository &repo, std::string_view type, int64_t slot);
// Removes claims of slots before `before` (expiry keeps a week of them); streamed.
uint64_t RemoveScheduleClaimsBefore(Repository &repo, int64_t before);

} // namespace pgbk
