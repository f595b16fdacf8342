#include "pgbk/wal_fetch_policy.hpp"

#include "pgbk/error.hpp"
#include "pgbk/fileio.hpp"
#include "pgbk/numbers.hpp"

#include <unistd.h>

namespace pgbk {

RecoveryMode
RecoveryModeOf(const std::string &data_directory)
{
	// standby.signal wins when both exist, as in PostgreSQL.
	if (::access((data_directory + "/standby.signal").c_str(), F_OK) == 0)
		return RecoveryMode::Standby;
	if (::access((data_directory + "/recovery.signal").c_str(), F_OK) == 0)
		return RecoveryMode::ArchiveRecovery;
	return RecoveryMode::None;
}

std::optional<StoreOutage>
ReadStoreOutage(const std::string &path)
{
	std::string text;
	try {
		text = ReadSmallFile(path, 4096);
	} catch (const Error &) {
		return std::nullopt;
	}
	auto nl = text.find('\n');
	auto at = ParseDecimal(text.substr(0, nl));
	if (!at)
		return std::nullopt;
	return StoreOutage{static_cast<int64_t>(*at), nl == std::string::npos ? "" : text.substr(nl + 1)};
}

void
RecordStoreOutage(const std::string &path, const StoreOutage &outage)
{
	// Not durable: a crash forgets an outage, and the next call simply asks again.
	ReplaceFile(path, std::to_string(outage.at) + "\n" + outage.error, false);
}

void
ClearStoreOutage(const std::string &path)
{
	::unlink(path.c_str());
}

bool
AnswerMissingDuringOutage(RecoveryMode mode, const std::optional<StoreOutage> &outage, int64_t now, int64_t hold)
{
	return mode == RecoveryMode::Standby && outage && outage->at <= now && now - outage->at < hold;
}

bool
RetryAfterOutage(RecoveryMode mode)
{
	return mode == RecoveryMode::ArchiveRecovery;
}

} // namespace pgbk
