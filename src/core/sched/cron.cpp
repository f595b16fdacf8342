#include "pgbk/cron.hpp"
#include "pgbk/settings.hpp"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <mutex>
#include <sstream>
#include <vector>

namespace pgbk {
namespace {

struct FieldSpec {
	const char *name;
	int lo, hi;
	const char *const *names; // optional names, index = value - names_base
	int names_base;
};

const char *const kMonthNames[] = {"jan", "feb", "mar", "apr", "may", "jun",  "jul",
								   "aug", "sep", "oct", "nov", "dec", nullptr};
const char *const kDayNames[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat", nullptr};

int
ParseValue(const std::string &tok, const FieldSpec &f)
{
	if (tok.empty())
		throw Error(ErrorKind::Config, std::string(f.name) + " field: empty value");
	if (f.names != nullptr && std::isalpha(static_cast<unsigned char>(tok[0]))) {
		for (int i = 0; f.names[i] != nullptr; i++)
			if (strcasecmp(tok.c_str(), f.names[i]) == 0)
				return i + f.names_base;
		throw Error(ErrorKind::Config, std::string(f.name) + " field: unknown name \"" + tok + "\"");
	}
	int v = 0;
	for (char c : tok) {
		if (c < '0' || c > '9')
			throw Error(ErrorKind::Config, std::string(f.name) + " field: \"" + tok + "\" is not a number");
		v = v * 10 + (c - '0');
		if (v > 1000)
			break;
	}
	if (v < f.lo || v > f.hi)
		throw Error(ErrorKind::Config, std::string(f.name) + " field: " + tok + " is out of range " +
										   std::to_string(f.lo) + "-" + std::to_string(f.hi));
	return v;
}

// Parses one field into a bit vector indexed by value; returns whether it was "*".
template <size_t N>
bool
ParseField(const std::string &text, const FieldSpec &f, std::bitset<N> &bits)
{
	std::stringstream items(text);
	std::string item;
	bool any = false;
	while (std::getline(items, item, ',')) {
		any = true;
		int step = 1;
		auto slash = item.find('/');
		std::string range = item;
		if (slash != std::string::npos) {
			std::string s = item.substr(slash + 1);
			range = item.substr(0, slash);
			FieldSpec stepspec{f.name, 1, f.hi - f.lo + 1 > 1 ? f.hi - f.lo + 1 : 1, nullptr, 0};
			step = ParseValue(s, stepspec);
		}
		int a, b;
		if (range == "*") {
			a = f.lo;
			b = f.hi;
		} else {
			auto dash = range.find('-');
			if (dash == std::string::npos) {
				a = ParseValue(range, f);
				b = slash != std::string::npos ? f.hi : a;
			} else {
				a = ParseValue(range.substr(0, dash), f);
				b = ParseValue(range.substr(dash + 1), f);
				if (b < a)
					throw Error(ErrorKind::Config, std::string(f.name) + " field: range " + range + " is reversed");
			}
		}
		for (int v = a; v <= b; v += step)
			bits.set(static_cast<size_t>(v));
	}
	if (!any || (text.size() > 0 && text.back() == ','))
		throw Error(ErrorKind::Config, std::string(f.name) + " field: empty list item");
	return text == "*" || text == "*/1";
}

std::mutex tz_mutex;

// Sets TZ for the lifetime of the object, restoring the previous value afterwards.
// libc's zone state is process-global, hence the lock.
class ScopedTimeZone {
public:
	explicit ScopedTimeZone(const std::string &tz) : lock_(tz_mutex)
	{
		const char *old = std::getenv("TZ");
		had_ = old != nullptr;
		if (had_)
			old_ = old;
		::setenv("TZ", tz.c_str(), 1);
		::tzset();
	}
	~ScopedTimeZone()
	{
		if (had_)
			::setenv("TZ", old_.c_str(), 1);
		else
			::unsetenv("TZ");
		::tzset();
	}

private:
	std::lock_guard<std::mutex> lock_;
	bool had_ = false;
	std::string old_;
};

LocalTime
ToLocalLocked(time_t t)
{
	struct tm tm;
	localtime_r(&t, &tm);
	return LocalTime{tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, tm.tm_wday};
}

bool
SameLocal(const LocalTime &a, const LocalTime &b)
{
	return a.year == b.year && a.month == b.month && a.mday == b.mday && a.hour == b.hour && a.minute == b.minute &&
		   a.second == b.second;
}

time_t
MakeTime(const LocalTime &lt, int isdst)
{
	struct tm tm {};
	tm.tm_year = lt.year - 1900;
	tm.tm_mon = lt.month - 1;
	tm.tm_mday = lt.mday;
	tm.tm_hour = lt.hour;
	tm.tm_min = lt.minute;
	tm.tm_sec = lt.second;
	tm.tm_isdst = isdst;
	return mktime(&tm);
}

int
FromLocalLocked(const LocalTime &lt, time_t out[2])
{
	int n = 0;
	for (int isdst : {1, 0}) {
		time_t t = MakeTime(lt, isdst);
		if (t == static_cast<time_t>(-1) || !SameLocal(ToLocalLocked(t), lt))
			continue;
		if (n == 1 && out[0] == t)
			continue;
		out[n++] = t;
	}
	if (n == 2 && out[1] < out[0])
		std::swap(out[0], out[1]);
	return n;
}

} // namespace

CronSchedule
CronSchedule::Parse(const std::string &input)
{
	std::string expr = input;
	static const std::pair<const char *, const char *> macros[] = {
		{"@yearly", "0 0 1 1 *"}, {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"}, {"@weekly", "0 0 * * 0"},
		{"@daily", "0 0 * * *"},  {"@midnight", "0 0 * * *"}, {"@hourly", "0 * * * *"}};
	for (auto &[m, e] : macros)
		if (expr == m)
			expr = e;
	std::stringstream ss(expr);
	std::vector<std::string> fields;
	std::string f;
	while (ss >> f)
		fields.push_back(f);
	if (fields.size() != 5)
		throw Error(ErrorKind::Config, "expected 5 fields (minute hour day-of-month month day-of-week), got " +
										   std::to_string(fields.size()));
	CronSchedule c;
	c.text_ = input;
	ParseField(fields[0], FieldSpec{"minute", 0, 59, nullptr, 0}, c.minutes_);
	c.hour_star_ = ParseField(fields[1], FieldSpec{"hour", 0, 23, nullptr, 0}, c.hours_);
	c.mday_star_ = ParseField(fields[2], FieldSpec{"day-of-month", 1, 31, nullptr, 0}, c.mdays_);
	ParseField(fields[3], FieldSpec{"month", 1, 12, kMonthNames, 1}, c.months_);
	std::bitset<8> wd;
	c.wday_star_ = ParseField(fields[4], FieldSpec{"day-of-week", 0, 7, kDayNames, 0}, wd);
	for (size_t i = 0; i < 7; i++)
		c.wdays_[i] = wd[i];
	if (wd[7])
		c.wdays_[0] = true;
	if (!c.NextAfter(0, "UTC"))
		throw Error(ErrorKind::Config, "the schedule never fires (no such date)");
	return c;
}

bool
CronSchedule::DayMatches(int mday, int month, int wday) const
{
	if (!months_[static_cast<size_t>(month)])
		return false;
	bool md = mdays_[static_cast<size_t>(mday)], wd = wdays_[static_cast<size_t>(wday)];
	if (mday_star_ || wday_star_)
		return md && wd;
	return md || wd;
}

std::optional<time_t>
CronSchedule::NextAfter(time_t after, const std::string &tz) const
{
	using namespace std::chrono;
	ScopedTimeZone zone(tz);
	LocalTime start = ToLocalLocked(after);
	sys_days day = sys_days{year{start.year} / month{static_cast<unsigned>(start.month)} / start.mday};
	// Begin a day early: a fall-back day can map `after` to a local date whose first
	// hours are still ahead in UTC terms.
	day -= days{1};
	for (int i = 0; i < 366 * 8 + 2; i++, day += days{1}) {
		year_month_day ymd{day};
		int y = static_cast<int>(ymd.year()), m = static_cast<int>(static_cast<unsigned>(ymd.month())),
			d = static_cast<int>(static_cast<unsigned>(ymd.day()));
		int wday = static_cast<int>(weekday{day}.c_encoding());
		if (!DayMatches(d, m, wday))
			continue;
		for (int h = 0; h < 24; h++) {
			if (!hours_[static_cast<size_t>(h)])
				continue;
			for (int mi = 0; mi < 60; mi++) {
				if (!minutes_[static_cast<size_t>(mi)])
					continue;
				LocalTime lt{y, m, d, h, mi, 0, wday};
				time_t out[2];
				int n = FromLocalLocked(lt, out);
				time_t t;
				if (n == 2 && hour_star_ && out[0] <= after)
					t = out[1]; // hourly schedules run in both copies of a repeated hour
				else if (n > 0)
					t = out[0]; // fixed times run once, at the first occurrence
				else {
					t = MakeTime(lt, 0); // in a DST gap: standard-time reading lands after the gap
					if (t == static_cast<time_t>(-1))
						continue;
				}
				if (t > after)
					return t;
			}
		}
	}
	return std::nullopt;
}

std::string
CheckTimeZoneName(const std::string &tz)
{
	if (tz == "UTC" || tz == "GMT")
		return "";
	if (tz.empty())
		return "time zone name is empty";
	for (char c : tz)
		if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '_' || c == '-' || c == '+'))
			return "\"" + tz + "\" is not an IANA time zone name such as UTC or Europe/Berlin";
	if (tz[0] == '/' || tz.find("..") != std::string::npos)
		return "\"" + tz + "\" is not an IANA time zone name such as UTC or Europe/Berlin";
	const char *dir = std::getenv("TZDIR");
	std::ifstream f(std::string(dir ? dir : "/usr/share/zoneinfo") + "/" + tz, std::ios::binary);
	char magic[4] = {0};
	if (!f.read(magic, 4) || std::memcmp(magic, "TZif", 4) != 0)
		return "unknown time zone \"" + tz + "\"; use an IANA name such as UTC or Europe/Berlin (package tzdata)";
	return "";
}

LocalTime
ToLocal(time_t t, const std::string &tz)
{
	ScopedTimeZone zone(tz);
	return ToLocalLocked(t);
}

int
FromLocal(const LocalTime &lt, const std::string &tz, time_t out[2])
{
	ScopedTimeZone zone(tz);
	return FromLocalLocked(lt, out);
}

// The checks of the schedule settings, beside cron.
namespace settings {

void
CheckSchedule(const std::string &value, const CheckContext &)
{
	if (!value.empty())
		CronSchedule::Parse(value);
}

void
CheckTimeZone(const std::string &value, const CheckContext &)
{
	if (std::string why = CheckTimeZoneName(value); !why.empty())
		throw Error(ErrorKind::Config, why);
}

} // namespace settings

} // namespace pgbk
