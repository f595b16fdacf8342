#include "pgbk/retention.hpp"

#include "pgbk/archive_gaps.hpp"
#include "pgbk/schedule_slot.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <set>

namespace pgbk {

namespace {

constexpr const char *kInterruptedExpiry = "an earlier expiry of it was interrupted";

// A backup an expiry began to remove (re-marked failed) and did not finish.
bool
ExpiryInterrupted(const BackupRecord &b)
{
	return b.status == BackupStatus::Failed && b.error.rfind(kExpiredPrefix, 0) == 0;
}

} // namespace

RetentionPlan
PlanRetention(const std::vector<BackupRecord> &backups, const RetentionPolicy &policy, int64_t now,
			  uint64_t segment_size, const TimelineLineage *history)
{
	RetentionPlan plan;
	auto off_history = [history](const BackupRecord &b) {
		return history && b.status == BackupStatus::Complete && !history->Reaches(b.timeline, b.stop_lsn);
	};
	std::map<std::string, const BackupRecord *> by_label;
	std::vector<const BackupRecord *> fulls;
	for (const auto &b : backups) {
		by_label[b.label] = &b;
		if (b.status == BackupStatus::Complete && IsBackupType(b.type, BackupType::Full) && !off_history(b))
			fulls.push_back(&b);
	}
	if (policy.full <= 0 || fulls.empty()) {
		// No policy, or nothing restorable yet: keep everything but what an interrupted
		// expiry already began to remove.
		for (size_t i = backups.size(); i-- > 0;)
			if (ExpiryInterrupted(backups[i]))
				plan.expire.push_back(ExpiryItem{backups[i].label, backups[i].type, kInterruptedExpiry});
		return plan;
	}

	// Fulls kept: the newest `full`, or those started within `full` days plus the newest
	// older one (so every point of the window stays reachable); always the newest.
	std::set<std::string> kept;
	if (policy.full_type == RetentionPolicy::FullType::Count) {
		size_t keep = std::min(fulls.size(), static_cast<size_t>(policy.full));
		for (size_t i = fulls.size() - keep; i < fulls.size(); i++)
			kept.insert(fulls[i]->label);
	} else {
		int64_t cutoff = now - static_cast<int64_t>(policy.full) * 86400;
		for (size_t i = fulls.size(); i-- > 0;) {
			kept.insert(fulls[i]->label);
			if (fulls[i]->started_at < cutoff)
				break; // the newest full before the window covers its start
		}
	}

	// A differential or incremental is kept when its prior is kept; walking in time
	// order, every prior has been decided before its dependents.
	std::map<std::string, std::string> reason;
	std::vector<const BackupRecord *> diffs;
	for (const auto &b : backups) {
		if (b.status != BackupStatus::Complete || IsBackupType(b.type, BackupType::Full) || off_history(b))
			continue;
		if (!by_label.count(b.prior))
			reason[b.label] = "its prior backup " + b.prior + " is gone";
		else if (!kept.count(b.prior))
			reason[b.label] = "depends on expired backup " + b.prior;
		else {
			kept.insert(b.label);
			if (IsBackupType(b.type, BackupType::Diff))
				diffs.push_back(&b);
		}
	}
	if (policy.diff > 0 && diffs.size() > static_cast<size_t>(policy.diff)) {
		// Oldest differentials beyond the count go, and with them what depends on them.
		std::set<std::string> dropped;
		for (size_t i = 0; i + static_cast<size_t>(policy.diff) < diffs.size(); i++) {
			dropped.insert(diffs[i]->label);
			kept.erase(diffs[i]->label);
			reason[diffs[i]->label] = "beyond pgbk.retention_diff = " + std::to_string(policy.diff);
		}
		for (const auto &b : backups)
			if (b.status == BackupStatus::Complete && IsBackupType(b.type, BackupType::Incr) && kept.count(b.label) &&
				dropped.count(b.prior)) {
				kept.erase(b.label);
				dropped.insert(b.label);
				reason[b.label] = "depends on expired backup " + b.prior;
			}
	}

	// Keeps `label` and every backup it depends on, whatever the policy says of them.
	auto keep_chain_from = [&](const std::string &label) {
		for (auto it = by_label.find(label); it != by_label.end(); it = by_label.find(it->second->prior)) {
			if (!kept.insert(it->first).second)
				break;
			reason.erase(it->first);
		}
	};
	// A backup being taken keeps its whole chain (one whose lease expired is no longer
	// being taken by anyone); one kept with pgbk_keep stays, with its chain.
	for (const auto &b : backups) {
		if (b.status == BackupStatus::Incomplete && !LeaseExpired(b, now))
			keep_chain_from(b.prior);
		if (b.kept)
			keep_chain_from(b.label);
	}

	// The oldest kept backup bounds everything else: older failed backups go too.
	const BackupRecord *oldest_kept = nullptr;
	for (const auto &b : backups)
		if (kept.count(b.label)) {
			oldest_kept = &b;
			break;
		}
	for (size_t i = backups.size(); i-- > 0;) {
		const BackupRecord &b = backups[i];
		if (kept.count(b.label) || b.status == BackupStatus::Incomplete)
			continue;
		std::string why;
		if (ExpiryInterrupted(b))
			why = kInterruptedExpiry;
		else if (b.status == BackupStatus::Failed || off_history(b)) {
			if (oldest_kept == nullptr || i >= static_cast<size_t>(oldest_kept - backups.data()))
				continue; // after the oldest kept backup: kept (for its error, or a rescue) until older
			why = off_history(b) ? "not on the history of timeline " + std::to_string(history->timeline) +
									   ", older than every kept backup"
								 : "failed, older than every kept backup";
		} else if (reason.count(b.label))
			why = reason[b.label];
		else
			why = policy.full_type == RetentionPolicy::FullType::Count
					  ? "beyond pgbk.retention_full = " + std::to_string(policy.full)
					  : "older than pgbk.retention_full = " + std::to_string(policy.full) + " days";
		plan.expire.push_back(ExpiryItem{b.label, b.type, why});
	}

	// WAL: what the oldest kept backup needs from its start on.
	uint64_t min_segno = UINT64_MAX;
	std::string min_name;
	for (const auto &b : backups) {
		if (!kept.count(b.label) && (b.status != BackupStatus::Incomplete || LeaseExpired(b, now)))
			continue; // a backup being taken needs its WAL too
		auto seg = ParseWalSegmentName(b.wal_start, segment_size);
		if (seg && seg->segno < min_segno) {
			min_segno = seg->segno;
			min_name = b.wal_start;
		}
	}
	plan.oldest_wal_kept = min_name;
	return plan;
}

bool
MarkOnHistory(const ExpiryMark &mark, const TimelineLineage &history)
{
	return mark.timeline != 0 && history.Reaches(mark.timeline, mark.lsn);
}

const ExpiryMark *
ValidExpiryMark(const BackupRecord &b, const TimelineLineage &history)
{
	auto it = std::find_if(b.expiry_marks.begin(), b.expiry_marks.end(), // oldest first
						   [&](const ExpiryMark &m) { return MarkOnHistory(m, history); });
	return it == b.expiry_marks.end() ? nullptr : &*it;
}

std::optional<int64_t>
ExpiryDueAt(const BackupRecord &b, const TimelineLineage &history, int64_t delay)
{
	const ExpiryMark *mark = ValidExpiryMark(b, history);
	return mark ? std::optional<int64_t>(mark->marked_at + delay) : std::nullopt;
}

ExpiryItem
MarkedExpiryItem(const ExpiryDecision::Waiting &w)
{
	return ExpiryItem{w.item.label, std::string(kMarkedTypePrefix) + w.item.type,
					  w.item.reason + "; removed after " + FormatUtcTime(w.due_at) + " (pgbk.expire_delay)"};
}

ExpiryDecision
DecideExpiry(const std::vector<BackupRecord> &backups, const RetentionPlan &plan, const TimelineLineage &history,
			 int64_t now, int64_t delay, uint64_t segment_size)
{
	ExpiryDecision d;
	std::map<std::string, const BackupRecord *> by_label;
	for (const auto &b : backups)
		by_label[b.label] = &b;
	std::set<std::string> removing;
	for (const auto &item : plan.expire) { // dependents first
		auto it = by_label.find(item.label);
		if (it == by_label.end())
			continue;
		const BackupRecord &b = *it->second;
		// What an earlier expiry began to remove is already failed and half gone.
		bool due = item.reason == kInterruptedExpiry;
		d.void_marks += std::count_if(b.expiry_marks.begin(), b.expiry_marks.end(),
									  [&](const ExpiryMark &m) { return !MarkOnHistory(m, history); });
		std::optional<int64_t> due_at = ExpiryDueAt(b, history, delay);
		if ((due_at && *due_at <= now) || delay <= 0)
			due = true; // no delay: this run's own decision is the mark
		// A prior goes only with every backup that depends on it.
		bool dependents_go = std::all_of(backups.begin(), backups.end(), [&](const BackupRecord &other) {
			return other.prior != b.label || removing.count(other.label);
		});
		if (due && dependents_go) {
			removing.insert(b.label);
			d.remove.push_back(item);
			continue;
		}
		if (!due_at && !due)
			d.mark.push_back(item);
		d.waiting.push_back({item, due_at ? *due_at : now + delay});
	}
	// WAL: what every backup that stays needs, from its start on (failed ones need none;
	// one being taken does).
	uint64_t min_segno = UINT64_MAX;
	for (const auto &b : backups) {
		if (removing.count(b.label) || b.status == BackupStatus::Failed ||
			(b.status == BackupStatus::Incomplete && LeaseExpired(b, now)))
			continue;
		auto seg = ParseWalSegmentName(b.wal_start, segment_size);
		if (seg && seg->segno < min_segno) {
			min_segno = seg->segno;
			d.oldest_wal_kept = b.wal_start;
		}
	}
	// Nothing goes past what retention itself keeps (with no policy it keeps all WAL).
	if (plan.oldest_wal_kept.empty())
		d.oldest_wal_kept.clear();
	return d;
}

PriorChoice
ChoosePrior(const std::vector<BackupRecord> &backups, BackupType type, const TimelineLineage &lineage,
			int pg_version_num)
{
	PriorChoice c;
	const BackupTypeRules &rules = RulesOf(type);
	if (rules.prior == PriorRule::None)
		return c;
	bool any = rules.prior == PriorRule::NewestAny;
	const BackupRecord *newest = nullptr, *newest_off_history = nullptr;
	for (const auto &b : backups) // ordered by position: the last match is the newest
		if (b.status == BackupStatus::Complete && (any || IsBackupType(b.type, BackupType::Full)))
			(lineage.Reaches(b.timeline, b.stop_lsn) ? newest : newest_off_history) = &b;
	std::string what = any ? "complete backup" : "complete full backup";
	if (newest == nullptr) {
		c.why_full = newest_off_history == nullptr
						 ? "there is no " + what + " in the repository to take the " + std::string(rules.adjective) +
							   " backup against"
						 : "no " + what + " lies on this server's history (timeline " + lineage.Describe() +
							   "); the newest, " + newest_off_history->label + ", is on timeline " +
							   std::to_string(newest_off_history->timeline) +
							   (lineage.EndOf(newest_off_history->timeline) ? " after this server left it" : "");
		return c;
	}
	if (newest->pg_version_num / 10000 != pg_version_num / 10000) {
		c.why_full = "the newest " + what + ", " + newest->label + ", was taken by PostgreSQL " +
					 std::to_string(newest->pg_version_num / 10000);
		return c;
	}
	c.label = newest->label;
	c.start_lsn = newest->start_lsn;
	return c;
}

ExpiryReport
Expire(Repository &repo, const RetentionPolicy &policy, int64_t now, uint64_t segment_size,
	   const std::function<void(const ExpiryItem &)> &on_backup, const ExpiryOptions &options)
{
	ExpiryReport report;
	std::vector<std::string> orphans;
	std::vector<BackupRecord> backups = repo.ListBackups(&orphans);
	// What an interrupted removal left is finished; anything else without backup.info is
	// not pgbk's to remove, and is reported and left alone.
	for (const auto &label : orphans) {
		if (!repo.IsRemainderOfRemoval(label)) {
			report.left_alone.push_back(Repository::BackupKey(label, ""));
			continue;
		}
		repo.storage().RemovePrefix(Repository::BackupKey(label, ""));
		ExpiryItem item{label, "", kInterruptedExpiry};
		report.backups.push_back(item);
		if (on_backup)
			on_backup(item);
	}
	TimelineSet timelines = repo.ReadTimelines();
	TimelineLineage history = timelines.LineageOf(timelines.Authoritative());
	RetentionPlan plan = PlanRetention(backups, policy, now, segment_size, &history);
	ExpiryDecision decision = DecideExpiry(backups, plan, history, now, options.delay, segment_size);
	// Phase one: what retention newly selects is marked, with where this server is.
	for (const auto &item : decision.mark) {
		ExpiryMark mark = options.marker;
		mark.marked_at = now;
		mark.reason = item.reason;
		repo.MarkForExpiry(item.label, mark);
		report.marked.push_back({item, now + options.delay});
	}
	// Phase two: what was marked on the authoritative line long enough ago.
	for (const auto &item : decision.remove) {
		repo.RemoveBackup(item.label, kExpiredPrefix + item.reason, now);
		report.backups.push_back(item);
		if (on_backup)
			on_backup(item);
	}
	report.waiting = decision.waiting;
	report.void_marks = decision.void_marks;
	if (auto oldest = ParseWalSegmentName(decision.oldest_wal_kept, segment_size)) {
		report.wal_removed = repo.RemoveWalBefore(oldest->segno, segment_size, &report.wal_first, &report.wal_last);
		// A gap wholly before the oldest WAL kept no longer limits any restore.
		report.gaps_removed = RemoveRepositoryGapsBefore(repo, oldest->segno, segment_size);
	}
	// A week of schedule claims is kept: what took each recent run stays readable.
	report.schedule_claims_removed = RemoveScheduleClaimsBefore(repo, now - kScheduleClaimsKept.count());
	return report;
}

} // namespace pgbk
