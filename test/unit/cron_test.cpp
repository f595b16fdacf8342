#include "pgbk/cron.hpp"

#include <gtest/gtest.h>

using pgbk::CronSchedule;

namespace {

// UTC instant of a calendar time, for readable expectations.
time_t
Utc(int y, int mo, int d, int h, int mi)
{
	time_t out[2];
	EXPECT_EQ(pgbk::FromLocal(pgbk::LocalTime{y, mo, d, h, mi, 0, 0}, "UTC", out), 1);
	return out[0];
}

time_t
Next(const std::string &expr, time_t after, const std::string &tz = "UTC")
{
	auto n = CronSchedule::Parse(expr).NextAfter(after, tz);
	EXPECT_TRUE(n.has_value()) << expr;
	return n.value_or(0);
}

std::string
ParseError(const std::string &expr)
{
	try {
		CronSchedule::Parse(expr);
	} catch (const pgbk::Error &e) {
		EXPECT_EQ(e.kind(), pgbk::ErrorKind::Config);
		return e.what();
	}
	return "";
}

} // namespace

TEST(Cron, EveryMinuteIsStrictlyAfter)
{
	EXPECT_EQ(Next("* * * * *", Utc(2026, 1, 1, 0, 0)), Utc(2026, 1, 1, 0, 1));
	EXPECT_EQ(Next("* * * * *", Utc(2026, 1, 1, 0, 0) + 30), Utc(2026, 1, 1, 0, 1));
}

TEST(Cron, DailyAndSteps)
{
	EXPECT_EQ(Next("0 1 * * *", Utc(2026, 3, 10, 1, 0)), Utc(2026, 3, 11, 1, 0));
	EXPECT_EQ(Next("*/15 * * * *", Utc(2026, 3, 10, 1, 7)), Utc(2026, 3, 10, 1, 15));
	EXPECT_EQ(Next("5-10/5 3 * * *", Utc(2026, 3, 10, 3, 6)), Utc(2026, 3, 10, 3, 10));
	EXPECT_EQ(Next("@daily", Utc(2026, 3, 10, 1, 0)), Utc(2026, 3, 11, 0, 0));
	EXPECT_EQ(Next("@hourly", Utc(2026, 3, 10, 1, 0)), Utc(2026, 3, 10, 2, 0));
}

TEST(Cron, MonthEndsSkipShortMonths)
{
	// The 31st: April has 30 days, so after March 31 comes May 31.
	EXPECT_EQ(Next("0 0 31 * *", Utc(2026, 3, 31, 0, 0)), Utc(2026, 5, 31, 0, 0));
	EXPECT_EQ(Next("30 23 30 * *", Utc(2026, 1, 31, 0, 0)), Utc(2026, 3, 30, 23, 30));
}

TEST(Cron, LeapDay)
{
	EXPECT_EQ(Next("0 12 29 2 *", Utc(2026, 3, 1, 0, 0)), Utc(2028, 2, 29, 12, 0));
	EXPECT_EQ(Next("0 12 29 2 *", Utc(2028, 2, 29, 12, 0)), Utc(2032, 2, 29, 12, 0));
}

TEST(Cron, DayOfWeekAndNames)
{
	// 2026-11-21 is a Saturday.
	EXPECT_EQ(Next("0 2 * * sun", Utc(2026, 11, 21, 0, 0)), Utc(2026, 11, 22, 2, 0));
	EXPECT_EQ(Next("0 2 * * 7", Utc(2026, 11, 21, 0, 0)), Utc(2026, 11, 22, 2, 0));
	EXPECT_EQ(Next("0 2 * * MON-FRI", Utc(2026, 11, 21, 0, 0)), Utc(2026, 11, 23, 2, 0));
	EXPECT_EQ(Next("0 0 1 jan *", Utc(2026, 11, 21, 0, 0)), Utc(2027, 1, 1, 0, 0));
}

TEST(Cron, RestrictedDayFieldsMatchEither)
{
	// Vixie semantics: the 1st of the month OR any Monday.
	EXPECT_EQ(Next("0 0 1 * 1", Utc(2026, 11, 21, 0, 0)), Utc(2026, 11, 23, 0, 0));
	EXPECT_EQ(Next("0 0 1 * 1", Utc(2026, 11, 30, 0, 0)), Utc(2026, 12, 1, 0, 0));
}

TEST(Cron, DstSpringForwardGapRunsAfterTheGap)
{
	// America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 02:30 does not exist.
	// It runs at 03:30 EDT = 07:30 UTC.
	EXPECT_EQ(Next("30 2 * * *", Utc(2026, 3, 8, 0, 0), "America/New_York"), Utc(2026, 3, 8, 7, 30));
	// The next day 02:30 EDT exists again = 06:30 UTC.
	EXPECT_EQ(Next("30 2 * * *", Utc(2026, 3, 8, 7, 30), "America/New_York"), Utc(2026, 3, 9, 6, 30));
}

TEST(Cron, DstFallBackRunsOnce)
{
	// America/New_York: 2026-11-01 02:00 EDT -> 01:00 EST; 01:30 happens twice
	// (05:30 and 06:30 UTC). It runs at the first only.
	time_t first = Next("30 1 * * *", Utc(2026, 11, 1, 0, 0), "America/New_York");
	EXPECT_EQ(first, Utc(2026, 11, 1, 5, 30));
	EXPECT_EQ(Next("30 1 * * *", first, "America/New_York"), Utc(2026, 11, 2, 6, 30));
	// Hourly jobs still run every real hour across the change.
	EXPECT_EQ(Next("0 * * * *", Utc(2026, 11, 1, 5, 0), "America/New_York"), Utc(2026, 11, 1, 6, 0));
}

TEST(Cron, TimeZoneShiftsWallClock)
{
	// 01:00 in Europe/Berlin (CET, UTC+1 in January) is 00:00 UTC.
	EXPECT_EQ(Next("0 1 * * *", Utc(2026, 1, 10, 12, 0), "Europe/Berlin"), Utc(2026, 1, 11, 0, 0));
}

TEST(Cron, InvalidInputIsExplained)
{
	EXPECT_NE(ParseError("61 * * * *").find("minute field: 61 is out of range 0-59"), std::string::npos);
	EXPECT_NE(ParseError("* * *").find("expected 5 fields"), std::string::npos);
	EXPECT_NE(ParseError("* 24 * * *").find("hour field"), std::string::npos);
	EXPECT_NE(ParseError("* * 0 * *").find("day-of-month field"), std::string::npos);
	EXPECT_NE(ParseError("* * * 13 *").find("month field"), std::string::npos);
	EXPECT_NE(ParseError("* * * * 8").find("day-of-week field"), std::string::npos);
	EXPECT_NE(ParseError("* * * foo *").find("unknown name"), std::string::npos);
	EXPECT_NE(ParseError("10-5 * * * *").find("reversed"), std::string::npos);
	EXPECT_NE(ParseError("1, * * * *").find("empty"), std::string::npos);
	EXPECT_NE(ParseError("*/0 * * * *").find("out of range"), std::string::npos);
	EXPECT_NE(ParseError("0 0 30 2 *").find("never fires"), std::string::npos);
	EXPECT_NE(ParseError("").find("expected 5 fields"), std::string::npos);
}

TEST(Cron, TimeZoneNames)
{
	EXPECT_EQ(pgbk::CheckTimeZoneName("UTC"), "");
	EXPECT_EQ(pgbk::CheckTimeZoneName("Europe/Berlin"), "");
	EXPECT_NE(pgbk::CheckTimeZoneName("Mars/Olympus"), "");
	EXPECT_NE(pgbk::CheckTimeZoneName("../etc/passwd"), "");
	EXPECT_NE(pgbk::CheckTimeZoneName(""), "");
}
