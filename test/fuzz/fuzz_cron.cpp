// Cron expressions (pgbk.*_schedule) and the next run they give.
#include "pgbk/cron.hpp"

#include "fuzz.hpp"

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pgbk::fuzz::RefusesOnlyWithPgbkErrors([&] {
		auto schedule = pgbk::CronSchedule::Parse(pgbk::fuzz::Bytes(data, size));
		schedule.NextAfter(1798761600, "UTC");
		schedule.NextAfter(1798761600, "Europe/Berlin");
	});
	return 0;
}
