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

// What a standby reads about its replication, for its replay lag. Each duration is
// measured on one clock only: commit and send times are the primary's (WAL carries them),
// the age of the last message is the standby's own.
struct StandbyReplication {
	bool streaming = false;
	bool replayed_all_received = false; // replay caught up with what the receiver flushed
	// The primary's clock, in microseconds from any one epoch: the newest commit replayed
	// (0: none yet), and when the primary sent its newest message (0: none yet).
	int64_t last_replayed_commit_us = 0;
	int64_t primary_sent_us = 0;
	// The standby's clock: how long since that message arrived, and how long an idle
	// primary may stay silent (wal_receiver_timeout: the receiver asks for a keepalive at
	// half of it, and gives the connection up after all of it).
	std::chrono::seconds since_last_message{0};
	std::chrono::seconds allowed_silence{60};
};

// How far a standby is behind its primary: replay behind what was received, by the
// primary's clock (its last message's send time minus the newest commit replayed), or how
// long nothing arrived beyond the silence an idle primary is allowed (a receiver that
// stalled is behind however caught up its replay is). Never compares the two nodes'
// clocks.
std::chrono::seconds StandbyReplayLag(const StandbyReplication &r);

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
