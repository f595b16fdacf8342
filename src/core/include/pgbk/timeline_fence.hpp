// Timeline fencing on a server writing to a shared repository: the repository's history
// files decide (timeline.hpp). A superseded server stores no WAL past the fork (its WAL
// stays in pg_wal, unacknowledged, for an operator to rescue), starts no backup and
// removes nothing.
#pragma once
#include "pgbk/repository.hpp"
#include "pgbk/timeline.hpp"

#include <chrono>
#include <optional>
#include <string>

namespace pgbk {

// Refused because the server has been superseded: not a conflict that stops archiving
// (the files before the fork may still be stored), re-evaluated for every file.
class WalFenced : public Error {
public:
	using Error::Error;
};

// The lineage of timeline `tli` as this server knows it: <pg_wal>/<tli>.history (which
// PostgreSQL writes before it uses the timeline); timeline 1 has none. Throws Corrupt.
TimelineLineage LocalLineage(const std::string &pg_wal, uint32_t tli);

class TimelineFence {
public:
	TimelineFence(Repository &repo, uint64_t segment_size) : repo_(repo), segment_size_(segment_size) {}

	// The server's lineage: its own history file in pg_wal (LocalLineage), or the
	// repository's copy when pg_wal no longer has it.
	TimelineLineage ServerLineage(const std::string &pg_wal, uint32_t tli);
	// The lineage a WAL file on timeline `file_tli` belongs to when the server cannot be
	// asked (pgbk wal-push, run by archive_command or by Patroni before pg_rewind): the
	// newest timeline with a history file in pg_wal whose lineage includes `file_tli`
	// (the one the server runs on, or heard of from its primary), else `file_tli`'s own.
	TimelineLineage LineageForFile(const std::string &pg_wal, uint32_t file_tli);
	// Throws WalFenced (naming both timelines and the fork) if WAL file `name` holds WAL
	// past a fork that supersedes `own`, the server's lineage.
	void CheckFile(const TimelineLineage &own, const std::string &name);
	// The same answer without an error, from the history as last read (by CheckFile: the
	// look-ahead asks about the files after the one just checked, with no new request).
	bool Refuses(const TimelineLineage &own, const std::string &name);
	// The fork that supersedes the server at `position` on its own timeline, if any (for
	// backups and expiry).
	std::optional<TimelineBranch> SupersedingServer(const TimelineLineage &own, Lsn position);
	// Throws Conflict ("<what>: " and the fork, with what to do) when it is: a former
	// primary or a promoted copy stores, backs up and removes nothing.
	void RefuseIfSuperseded(const TimelineLineage &own, Lsn position, const std::string &what);

private:
	const TimelineSet &Current();
	// The end of the WAL a file holds on its timeline (as far as the fence cares).
	std::optional<std::pair<uint32_t, Lsn>> EndOf(const TimelineLineage &own, const std::string &name) const;

	Repository &repo_;
	uint64_t segment_size_;
	std::optional<TimelineSet> set_;
	std::chrono::steady_clock::time_point read_at_{};
};

} // namespace pgbk
