// Standard 5-field cron expressions (minute hour day-of-month month day-of-week) and
// their next run in an IANA time zone.
//
// Semantics follow Vixie cron: names (jan, mon) and ranges/steps/lists are accepted;
// 7 means Sunday; when both day fields are restricted a day matching either runs.
// DST: a local time skipped by a spring-forward gap runs at the same offset after the
// gap (02:30 becomes 03:30); a fixed local time that occurs twice in a fall-back runs
// once, at its first occurrence, while a schedule with hour '*' runs in both copies of
// the repeated hour (every real hour), as Vixie cron does.
#pragma once
#include "pgbk/error.hpp"

#include <bitset>
#include <ctime>
#include <optional>
#include <string>

namespace pgbk {

class CronSchedule {
public:
	// Throws Config with the reason ("minute field: 61 is out of range 0-59").
	static CronSchedule Parse(const std::string &expr);
	const std::string &
	Text() const
	{
		return text_;
	}
	// First run strictly after `after` (UTC seconds) in time zone `tz`, or nullopt if
	// the schedule never fires within the next 8 years (e.g. "0 0 30 2 *").
	std::optional<time_t> NextAfter(time_t after, const std::string &tz) const;

private:
	std::string text_;
	std::bitset<60> minutes_;
	std::bitset<24> hours_;
	std::bitset<32> mdays_;
	std::bitset<13> months_;
	std::bitset<7> wdays_;
	bool mday_star_ = false, wday_star_ = false, hour_star_ = false;
	bool DayMatches(int mday, int month, int wday) const;
};

// Validates an IANA zone name ("UTC", "Europe/Berlin"); returns "" or the reason.
std::string CheckTimeZoneName(const std::string &tz);

// Local <-> UTC conversions in a named zone (libc tz database under a process-wide lock).
struct LocalTime {
	int year, month, mday, hour, minute, second, wday; // month 1-12, wday 0=Sunday
};
LocalTime ToLocal(time_t t, const std::string &tz);
// All UTC instants (0, 1 or 2) whose local time in tz is exactly `lt` (wday ignored),
// earliest first.
int FromLocal(const LocalTime &lt, const std::string &tz, time_t out[2]);

} // namespace pgbk
