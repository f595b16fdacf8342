// Look-ahead parallel WAL archiving. PostgreSQL's archiver hands over one segment at a
// time; when it asks for X, the segments waiting after X (their .ready files) are stored
// in the background by signal-free threads, so the archiver's next calls find them
// already durable and return at once. A segment is still acknowledged only after its
// object is durable: a background result is consumed exactly once, and a background
// failure is retried on the caller's thread, where its error is reported.
#pragma once
#include "pgbk/repository.hpp"

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace pgbk {

// A WAL file whose name is already archived with other content: another server (a copy
// of this data directory, an old primary) writes the same history. Archiving stops.
class WalContentConflict : public Error {
public:
	using Error::Error;
};

// Archiving after a content conflict stops, for every segment, until a superuser has
// looked and resumes it (pgbk_archive_resume()): a server whose WAL disagrees with the
// repository must not add more of it. The stop is a file in the data directory, so it
// survives restarts; backups never copy it.
constexpr const char *kArchiveStopFile = "pgbk.archive_stopped";
// Why archiving is stopped, if it is (the file's text).
std::optional<std::string> ArchiveStopReason(const std::string &data_directory);
// Stops archiving, durably, recording why.
void StopArchiving(const std::string &data_directory, const std::string &reason);
// Removes the stop; returns the reason it had, if it was stopped.
std::optional<std::string> ResumeArchiving(const std::string &data_directory);
// Whether PostgreSQL's archiver has had WAL file `name` acknowledged by the archive
// module (pgbk stored it, or found it stored with identical content): its .ready is
// gone and it is marked .done, or was already removed after that.
bool WalFileAcknowledged(const std::string &pg_wal, const std::string &name);

class WalArchiver {
public:
	WalArchiver(Repository &repo, CodecOptions codec, int threads);
	~WalArchiver(); // waits for the background work
	WalArchiver(const WalArchiver &) = delete;
	WalArchiver &operator=(const WalArchiver &) = delete;

	// Stores `name` (at `path`) and returns once it is durable; throws its error.
	// `ahead` lists (name, path) of segments waiting after it, oldest first; up to
	// 2 × threads of them are started in the background.
	Repository::ArchiveOutcome Archive(const std::string &name, const std::string &path,
									   const std::vector<std::pair<std::string, std::string>> &ahead);
	// How many segments are stored or being stored in the background.
	size_t InFlight() const;

	// The WAL files waiting in <pg_wal>/archive_status (".ready"), other than `except`,
	// in the archiver's order (timeline history files first, then by name), at most
	// `max`: (name, path) pairs.
	static std::vector<std::pair<std::string, std::string>> ListReady(const std::string &pg_wal,
																	  const std::string &except, size_t max);
	// The same for the segments after `current` in that order, from a remembered scan
	// where it still holds: what the archive callback starts in the background.
	std::vector<std::pair<std::string, std::string>> ReadyAfter(const std::string &pg_wal, const std::string &current,
																size_t max);

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace pgbk
