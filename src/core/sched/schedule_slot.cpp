#include "pgbk/schedule_slot.hpp"

#include <algorithm>
#include <limits>

#include "pgbk/object.hpp"
#include "pgbk/stored_json.hpp"

#include <ctime>

namespace pgbk {

namespace {

using json = nlohmann::json;
constexpr const char *kSchedulePrefix = "schedule/";

std::string
SlotName(int64_t slot)
{
	time_t t = static_cast<time_t>(slot);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
	return buf;
}

std::string
LagText(std::chrono::seconds lag)
{
	return std::to_string(lag.count()) + " s";
}

ScheduleSlotClaim
ParseClaim(const std::string &text, const std::string &key)
{
	json j = ParseStoredJson(text, key);
	if (!j.is_object())
		throw Error(ErrorKind::Corrupt, key + " is not a JSON object");
	ScheduleSlotClaim c;
	try {
		c.type = j.at("type").get<std::string>();
		c.slot = j.at("slot").get<int64_t>();
		c.holder = j.at("holder").get<std::string>();
		c.standby = j.at("standby").get<bool>();
		c.claimed_at = j.at("claimed_at").get<int64_t>();
	} catch (const json::exception &e) {
		throw Error(ErrorKind::Corrupt, key + " is damaged: " + e.what());
	}
	return c;
}

} // namespace

std::chrono::seconds
StandbyReplayLag(const StandbyReplication &r)
{
	constexpr std::chrono::seconds kFarBehind{std::numeric_limits<int32_t>::max()};
	if (!r.streaming)
		return kFarBehind;
	std::chrono::seconds replay{0};
	if (!r.replayed_all_received) {
		// Nothing replayed yet, or the primary never spoke: no measure, so far behind.
		if (r.last_replayed_commit_us == 0 || r.primary_sent_us == 0)
			return kFarBehind;
		replay = std::chrono::duration_cast<std::chrono::seconds>(
			std::chrono::microseconds(std::max<int64_t>(0, r.primary_sent_us - r.last_replayed_commit_us)));
	}
	// A receiver that heard nothing for longer than an idle primary stays silent: the
	// primary or the network stalled, and the standby falls behind unseen.
	return std::max(replay, r.since_last_message - std::min(r.since_last_message, r.allowed_silence));
}

SlotPlan
PlanScheduledRun(BackupStandby mode, const NodeRole &node, std::chrono::seconds max_lag)
{
	if (!node.standby) {
		switch (mode) {
		case BackupStandby::Off:
			return {SlotAction::Claim, ""};
		case BackupStandby::Prefer:
			return {SlotAction::ClaimAfterGrace, ""};
		case BackupStandby::Only:
			return {SlotAction::Leave, "pgbk.backup_standby = only leaves scheduled backups to the standbys"};
		}
	}
	if (mode == BackupStandby::Off)
		return {SlotAction::Leave, "pgbk.backup_standby = off: the primary takes scheduled backups"};
	if (!node.streaming)
		return {SlotAction::Leave, "this standby is not streaming from a primary"};
	if (node.replay_lag > max_lag)
		return {SlotAction::Leave, "this standby's replay lag (" + LagText(node.replay_lag) +
									   ") is over pgbk.backup_standby_max_lag (" + LagText(max_lag) + ")"};
	return {SlotAction::Claim, ""};
}

std::string
ExpectedRunner(BackupStandby mode, bool this_is_standby, std::chrono::seconds max_lag)
{
	std::string standby = "a streaming standby with replay lag under " + LagText(max_lag);
	switch (mode) {
	case BackupStandby::Off:
		return this_is_standby ? "the primary" : "this server (the primary)";
	case BackupStandby::Prefer:
		return (this_is_standby ? standby + " (this server if it qualifies), else the primary"
								: standby + ", else this server (the primary) after " +
									  std::to_string(kPrimaryGrace.count()) + " s");
	case BackupStandby::Only:
		return standby + (this_is_standby ? " (this server if it qualifies)" : " (never the primary)");
	}
	return "";
}

std::string
ScheduleSlotKey(std::string_view type, int64_t slot)
{
	return std::string(kSchedulePrefix) + std::string(type) + "/" + SlotName(slot);
}

bool
ClaimScheduleSlot(Repository &repo, const ScheduleSlotClaim &claim, std::optional<ScheduleSlotClaim> *winner)
{
	json j = {{"format", kRepositoryFormat}, {"type", claim.type},       {"slot", claim.slot},
			  {"holder", claim.holder},      {"standby", claim.standby}, {"claimed_at", claim.claimed_at}};
	try {
		PutObject(repo.storage(), ScheduleSlotKey(claim.type, claim.slot), j.dump() + "\n",
				  repo.WithKey(CodecOptions{Codec::None, 0}), WriteMode::CreateOnly);
		return true;
	} catch (const Error &e) {
		if (e.kind() != ErrorKind::AlreadyExists)
			throw;
	}
	if (winner != nullptr) {
		try {
			*winner = ReadScheduleSlot(repo, claim.type, claim.slot);
		} catch (const Error &) {
			winner->reset(); // the claim stands either way
		}
	}
	return false;
}

std::optional<ScheduleSlotClaim>
ReadScheduleSlot(Repository &repo, std::string_view type, int64_t slot)
{
	std::string key = ScheduleSlotKey(type, slot);
	if (!repo.storage().Size(key))
		return std::nullopt;
	return ParseClaim(GetObject(repo.storage(), key, repo.keyring(), 1 << 16), key);
}

uint64_t
RemoveScheduleClaimsBefore(Repository &repo, int64_t before)
{
	std::string cutoff = SlotName(before);
	uint64_t removed = 0;
	std::vector<std::string> types;
	repo.storage().List(kSchedulePrefix, false, [&](const ListEntry &e) {
		if (e.is_prefix)
			types.push_back(e.key);
	});
	for (const auto &dir : types) {
		BatchRemover rm(repo.storage());
		repo.storage().List(dir, true, [&](const ListEntry &e) {
			std::string name = e.key.substr(dir.size());
			// Names sort as times; anything else under schedule/ is not pgbk's to remove.
			if (name.size() == cutoff.size() && name.back() == 'Z' && name < cutoff) {
				rm.Add(e.key);
				removed++;
			}
		});
		rm.Flush();
	}
	return removed;
}

} // namespace pgbk
