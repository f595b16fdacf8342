// The archive service: everything pgbk decides about one WAL file handed over for
// archiving, in one PostgreSQL-free place that both front ends call (the archive module
// and `pgbk wal-push`) and unit tests drive against a faulty in-memory store.
//
// For each file it decides, in order:
//   1. refuse while archiving is stopped (a content conflict was found earlier);
//   2. open the repository, or reopen it when what opening it reads changed (a reload);
//   3. during an outage (the breaker is open, or the spool's drain finds the repository
//      away), keep the file without trying the repository;
//   4. otherwise fence it (no WAL past a fork that superseded this server), store it with
//      the look-ahead archiver, and stop archiving on a content conflict;
//   5. when the repository is away: spool the file, or (pgbk.archive_overflow = drop, the
//      spool full or off) acknowledge a segment unstored and record the gap, or refuse
//      it so that it waits in pg_wal;
//   6. after a direct store, let the drainer move whatever the spool still holds.
// The answer is a typed outcome; the caller maps it to its log and status, and never
// reads message text.
#pragma once
#include "pgbk/archive_gaps.hpp"
#include "pgbk/archive_spool.hpp"
#include "pgbk/cluster.hpp"
#include "pgbk/error.hpp"
#include "pgbk/node_identity.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/settings.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace pgbk {

// What the service is built from: where it runs and how it reaches the world.
struct ArchiveEnvironment {
	std::string data_directory; // absolute; its pg_wal holds the files
	uint64_t segment_size = 16u << 20;
	NodeIdentity node; // recorded in the repository and with a gap
	ClusterIdentity cluster; // checked against (or recorded in) the repository
	// False for a one-shot front end (wal-push): no spool, no drop, no breaker; an
	// outage is a refusal and the file waits in pg_wal.
	bool keep_during_outage = true;
	// Whether to store the segments waiting after the requested one in the background
	// (the archive module, whose archiver asks again at once).
	bool look_ahead = true;
	// Polled by requests that may wait and by the drain (on any thread): true gives up.
	bool (*should_stop)() = nullptr;
	// The breaker's clock and the wall clock of gap records (tests move them).
	std::function<std::chrono::steady_clock::time_point()> now = [] { return std::chrono::steady_clock::now(); };
	std::function<int64_t()> unix_now = [] { return static_cast<int64_t>(::time(nullptr)); };
	// Opens the repository the settings name (tests: an in-memory store with faults).
	// Empty: OpenRepository(values, data_directory).
	std::function<std::unique_ptr<Repository>(const settings::Values &)> open_repository;
};

// What happened to a WAL file.
enum class ArchiveDisposition {
	Stored, // durable in the repository
	AlreadyPresent, // the repository held it with identical content
	Spooled, // durable in the spool; it drains into the repository once it answers
	Dropped, // acknowledged unstored (pgbk.archive_overflow = drop); a gap records it
	Refused, // not acknowledged: it waits in pg_wal and PostgreSQL asks again
};

// Why a file was refused.
enum class RefusalCause {
	None,
	Stopped, // archiving is stopped until a superuser resumes it
	ContentConflict, // the repository holds this name with other content: archiving stops now
	Fenced, // WAL past a fork that superseded this server
	SpoolFull, // the repository is away and the spool is full
	SpoolOff, // the repository is away and there is no spool (pgbk.spool_limit = 0, or wal-push)
	Failed, // anything else (a bad setting, corrupt data, a foreign repository)
};

struct ArchiveOutcome {
	ArchiveDisposition disposition = ArchiveDisposition::Refused;
	RefusalCause cause = RefusalCause::None;
	// Refused: the error as operators read it.
	ErrorKind kind = ErrorKind::Io;
	std::string message, hint;
	// Spooled, Dropped, SpoolFull, SpoolOff: why the repository is taken to be away.
	std::string outage;
	// Spooled: the first file since the spool was last empty (an outage begins).
	bool first_spooled = false;
	// Spooled, SpoolFull, SpoolOff: what the spool holds now.
	ArchiveSpool::Usage spool;
	// Dropped: the gap the file is part of.
	ArchiveGap gap;

	bool
	Acknowledged() const
	{
		return disposition != ArchiveDisposition::Refused;
	}
};

// The hint of every refusal while archiving is stopped.
extern const char *const kArchiveResumeHint;

class ArchiveService {
public:
	explicit ArchiveService(ArchiveEnvironment environment);
	~ArchiveService(); // stops the drain and waits for the background work
	ArchiveService(const ArchiveService &) = delete;
	ArchiveService &operator=(const ArchiveService &) = delete;

	// Archives WAL file `name` at `path` under the current settings. `server_timeline`:
	// the timeline the server runs on (its lineage decides the fence); without it, the
	// lineage pg_wal shows for the file's own timeline (a server that cannot be asked).
	// Never throws.
	ArchiveOutcome Archive(const std::string &name, const std::string &path, const settings::Values &values,
						   std::optional<uint32_t> server_timeline);
	// Stops the drain and the look-ahead (the process exits).
	void Shutdown();

	// For tests and status: whether the breaker is open (the repository failed lately).
	bool RepositoryTakenAsDown() const;

private:
	struct State;
	std::unique_ptr<State> state_;
};

} // namespace pgbk
