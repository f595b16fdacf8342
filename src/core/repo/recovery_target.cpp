#include "pgbk/recovery_target.hpp"
#include "pgbk/numbers.hpp"

#include <cctype>
#include <cstdio>
#include <ctime>

namespace pgbk {

namespace {

bool
ParseDigits(const std::string &s, size_t &at, size_t n, int *out)
{
	if (at + n > s.size())
		return false;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (!std::isdigit(static_cast<unsigned char>(s[at + i])))
			return false;
		v = v * 10 + (s[at + i] - '0');
	}
	at += n;
	*out = v;
	return true;
}

[[noreturn]] void
BadTime(const std::string &text, const std::string &why)
{
	throw Error(ErrorKind::Config, "--target-time \"" + text + "\": " + why +
									   "; write it like '2026-11-21 10:15:00+00' (a time zone is required)");
}

// When a backup is surely consistent, in microseconds: its stop, or for a backup that
// did not record it, the second after it finished.
int64_t
ConsistentAtUs(const BackupRecord &b)
{
	if (b.stop_time_us)
		return b.stop_time_us;
	return b.finished_at ? (b.finished_at + 1) * 1000000 : 0;
}

} // namespace

int64_t
ParseTargetTime(const std::string &text)
{
	size_t at = 0;
	int year, mon, day, hour, min, sec;
	auto expect = [&](char c) {
		if (at >= text.size() || text[at] != c)
			BadTime(text, "not a date and time");
		at++;
	};
	if (!ParseDigits(text, at, 4, &year))
		BadTime(text, "not a date and time");
	expect('-');
	if (!ParseDigits(text, at, 2, &mon))
		BadTime(text, "not a date and time");
	expect('-');
	if (!ParseDigits(text, at, 2, &day))
		BadTime(text, "not a date and time");
	if (at >= text.size() || (text[at] != ' ' && text[at] != 'T'))
		BadTime(text, "a time of day is required");
	at++;
	if (!ParseDigits(text, at, 2, &hour))
		BadTime(text, "not a time of day");
	expect(':');
	if (!ParseDigits(text, at, 2, &min))
		BadTime(text, "not a time of day");
	expect(':');
	if (!ParseDigits(text, at, 2, &sec))
		BadTime(text, "not a time of day");
	int64_t usec = 0;
	if (at < text.size() && text[at] == '.') {
		at++;
		int64_t scale = 100000;
		size_t start = at;
		while (at < text.size() && std::isdigit(static_cast<unsigned char>(text[at]))) {
			if (scale > 0)
				usec += (text[at] - '0') * scale;
			scale /= 10;
			at++;
		}
		if (at == start)
			BadTime(text, "no digits after the decimal point");
	}
	while (at < text.size() && text[at] == ' ')
		at++;
	int64_t offset = 0; // seconds east of UTC
	std::string zone = text.substr(at);
	if (zone == "Z" || zone == "UTC" || zone == "GMT" || zone == "z")
		offset = 0;
	else if (!zone.empty() && (zone[0] == '+' || zone[0] == '-')) {
		size_t z = 1;
		int oh = 0, om = 0;
		if (!ParseDigits(zone, z, 2, &oh))
			BadTime(text, "bad time zone offset");
		if (z < zone.size() && zone[z] == ':')
			z++;
		if (z < zone.size() && !ParseDigits(zone, z, 2, &om))
			BadTime(text, "bad time zone offset");
		if (z != zone.size() || oh > 15 || om > 59)
			BadTime(text, "bad time zone offset");
		offset = (zone[0] == '-' ? -1 : 1) * (oh * 3600 + om * 60);
	} else if (zone.empty())
		BadTime(text, "no time zone given");
	else
		BadTime(text, "unknown time zone \"" + zone + "\" (give an offset such as +01:00, or Z)");
	if (mon < 1 || mon > 12 || day < 1 || day > 31 || hour > 23 || min > 59 || sec > 60)
		BadTime(text, "a field is out of range");
	struct tm tm {};
	tm.tm_year = year - 1900;
	tm.tm_mon = mon - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = min;
	tm.tm_sec = sec;
	time_t t = timegm(&tm);
	struct tm check;
	gmtime_r(&t, &check);
	if (check.tm_mday != day && sec != 60)
		BadTime(text, "no such day");
	return (static_cast<int64_t>(t) - offset) * 1000000 + usec;
}

std::string
FormatTargetTimeUtc(int64_t usec)
{
	int64_t secs = usec / 1000000, frac = usec % 1000000;
	if (frac < 0) {
		secs--;
		frac += 1000000;
	}
	time_t t = static_cast<time_t>(secs);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[64];
	std::snprintf(buf, sizeof buf, "%04d-%02d-%02d %02d:%02d:%02d.%06lld+00", tm.tm_year + 1900, tm.tm_mon + 1,
				  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<long long>(frac));
	return buf;
}

void
ValidateRecoveryTarget(RecoveryTarget &t)
{
	using K = RecoveryTarget::Kind;
	switch (t.kind) {
	case K::None:
	case K::Immediate:
		break;
	case K::Time:
		t.time_usec = ParseTargetTime(t.value);
		break;
	case K::Lsn:
		try {
			t.lsn = ParseLsn(t.value);
		} catch (const Error &) {
			throw Error(ErrorKind::Config, "--target-lsn \"" + t.value + "\" is not an LSN; write it like 0/16B3748");
		}
		break;
	case K::Xid: {
		auto xid = ParseDecimal(t.value);
		if (!xid || (t.xid = *xid) < 3)
			throw Error(ErrorKind::Config, "--target-xid \"" + t.value +
											   "\" is not a transaction id; give the decimal id of the transaction "
											   "(txid_current() or pg_current_xact_id())");
		break;
	}
	case K::Name:
		if (t.value.empty() || t.value.size() >= 64)
			throw Error(ErrorKind::Config,
						"--target-name must name a restore point (pg_create_restore_point; at most 63 bytes)");
		break;
	}
	if (t.inclusive && t.kind != K::Time && t.kind != K::Lsn && t.kind != K::Xid)
		throw Error(ErrorKind::Config, "--target-inclusive applies to --target-time, --target-lsn and --target-xid");
	if (t.action != "promote" && t.action != "pause" && t.action != "shutdown")
		throw Error(ErrorKind::Config, "--target-action \"" + t.action + "\": use promote, pause or shutdown");
	if (t.kind == K::None && t.action != "promote")
		throw Error(ErrorKind::Config, "--target-action needs a target (--target-time, --target-lsn, --target-xid, "
									   "--target-name or --target-immediate)");
	if (!t.timeline.empty() && t.timeline != "latest" && t.timeline != "current") {
		auto timeline = ParseDecimal(t.timeline);
		if (!timeline || *timeline < 1 || *timeline > 0xFFFFFFFFull)
			throw Error(ErrorKind::Config,
						"--target-timeline \"" + t.timeline + "\": use latest, current or a timeline id such as 2");
	}
}

std::vector<std::pair<std::string, std::string>>
RecoverySettings(const RecoveryTarget &t)
{
	using K = RecoveryTarget::Kind;
	std::vector<std::pair<std::string, std::string>> out;
	switch (t.kind) {
	case K::None:
		break;
	case K::Immediate:
		out.emplace_back("recovery_target", "immediate");
		break;
	case K::Time:
		out.emplace_back("recovery_target_time", FormatTargetTimeUtc(t.time_usec));
		break;
	case K::Lsn:
		out.emplace_back("recovery_target_lsn", FormatLsn(t.lsn));
		break;
	case K::Xid:
		out.emplace_back("recovery_target_xid", t.value);
		break;
	case K::Name:
		out.emplace_back("recovery_target_name", t.value);
		break;
	}
	if (t.inclusive)
		out.emplace_back("recovery_target_inclusive", *t.inclusive ? "on" : "off");
	if (t.kind != K::None)
		out.emplace_back("recovery_target_action", t.action);
	if (!t.timeline.empty())
		out.emplace_back("recovery_target_timeline", t.timeline);
	return out;
}

std::optional<TimelineLineage>
RestoreHistory(const TimelineSet &timelines, RecoveryTarget &t)
{
	if (t.timeline == "current")
		return std::nullopt;
	if (t.timeline.empty() || t.timeline == "latest") // the newest promotion, as PostgreSQL's latest
		return timelines.LineageOf(timelines.Authoritative());
	auto tli = static_cast<uint32_t>(*ParseDecimal(t.timeline)); // validated
	if (!timelines.Knows(tli))
		throw Error(ErrorKind::NotFound, "--target-timeline " + t.timeline +
											 ": the repository holds no history file for timeline " + t.timeline);
	return timelines.LineageOf(tli);
}

std::string
OffHistoryReason(const BackupRecord &b, const TimelineLineage &history)
{
	if (history.Reaches(b.timeline, b.stop_lsn))
		return "";
	std::string backup =
		"backup " + b.label + " (timeline " + std::to_string(b.timeline) + ", ending at " + FormatLsn(b.stop_lsn) + ")";
	if (auto left = history.EndOf(b.timeline))
		return backup + " is not on the history of timeline " + std::to_string(history.timeline) + ": timeline " +
			   std::to_string(history.ChildOf(b.timeline)) + " forked off timeline " + std::to_string(b.timeline) +
			   " at " + FormatLsn(*left) + ", before the backup ended";
	return backup + " is not on the history of timeline " + std::to_string(history.timeline) + " (" +
		   history.Describe() + ")";
}

BackupRecord
SelectBackupForTarget(const std::vector<BackupRecord> &backups, const RecoveryTarget &t, const std::string &where)
{
	using K = RecoveryTarget::Kind;
	const BackupRecord *pick = nullptr, *oldest = nullptr;
	for (const auto &b : backups) {
		if (b.status != BackupStatus::Complete)
			continue;
		if (!oldest)
			oldest = &b;
		bool reaches = true;
		switch (t.kind) {
		case K::None:
		case K::Immediate:
			break;
		case K::Name:
			// Where a restore point lies is only known by replaying WAL: the oldest
			// backup reaches every restore point the archive holds after it.
			reaches = &b == oldest;
			break;
		case K::Time:
			reaches = ConsistentAtUs(b) > 0 && ConsistentAtUs(b) <= t.time_usec;
			break;
		case K::Lsn:
			reaches = b.stop_lsn <= t.lsn;
			break;
		case K::Xid: {
			uint64_t target = t.xid;
			if (target <= 0xFFFFFFFFull) // no epoch given: the backup's
				target |= b.next_xid & ~0xFFFFFFFFull;
			reaches = b.next_xid != 0 && b.next_xid <= target;
			break;
		}
		}
		if (reaches)
			pick = &b; // ordered by position: the last one is the newest
	}
	if (!oldest)
		throw Error(ErrorKind::NotFound, "repository " + where + " holds no complete backup");
	if (pick)
		return *pick;
	std::string range;
	switch (t.kind) {
	case K::Time:
		range = "the earliest restorable time is " + FormatTargetTimeUtc(ConsistentAtUs(*oldest)) + " (end of backup " +
				oldest->label + ")";
		break;
	case K::Lsn:
		range =
			"the earliest restorable LSN is " + FormatLsn(oldest->stop_lsn) + " (end of backup " + oldest->label + ")";
		break;
	case K::Xid:
		range =
			"the oldest backup, " + oldest->label + ", ends before transaction " +
			(oldest->next_xid ? std::to_string(oldest->next_xid) : std::string("(unknown: taken by an older pgbk)"));
		break;
	default:
		break;
	}
	throw Error(ErrorKind::NotFound, "no backup in " + where + " can reach the target: " + range +
										 "; the archive extends from there to its newest WAL");
}

} // namespace pgbk
