// What wal-fetch (recovery's restore_command) does when the repository does not answer.
// PostgreSQL reads any ordinary non-zero exit of restore_command as "no such file":
//   - a standby then streams from its primary and asks again later, and at promotion it
//     asks for the next segment and several history files; each call that waits out a
//     store outage delays the promotion by the whole retry budget;
//   - archive recovery (recovery.signal: a restore, PITR) takes it for the end of the
//     archive and promotes there, silently short of the WAL it never got.
// So an outage is answered by mode: a standby answers "missing" after one budget and,
// for a hold time after, at once (the first call records the outage); archive recovery
// never answers "missing" for an outage: it retries until the repository answers.
#pragma once
#include <cstdint>
#include <optional>
#include <string>

namespace pgbk {

enum class RecoveryMode {
	Standby, // standby.signal: streaming serves it; the archive is a second source
	ArchiveRecovery, // recovery.signal: the archive is the only source
	None, // run by hand (no signal file in the working directory)
};

// The mode of the data directory recovery runs in (restore_command's working directory).
RecoveryMode RecoveryModeOf(const std::string &data_directory);

// The last outage wal-fetch saw: this small file in the prefetch spool.
inline constexpr char kStoreOutageFile[] = ".store-unreachable";
struct StoreOutage {
	int64_t at = 0; // unix seconds of the failed request
	std::string error;
};
std::optional<StoreOutage> ReadStoreOutage(const std::string &path);
void RecordStoreOutage(const std::string &path, const StoreOutage &outage);
void ClearStoreOutage(const std::string &path);

// Before asking the repository: whether to answer "missing" at once because an outage
// was seen less than `hold` seconds ago (standby only).
bool AnswerMissingDuringOutage(RecoveryMode mode, const std::optional<StoreOutage> &outage, int64_t now, int64_t hold);
// After a request failed for an outage (I/O, timeout): whether to try again (archive
// recovery) rather than answer.
bool RetryAfterOutage(RecoveryMode mode);

} // namespace pgbk
