// Look-ahead parallel WAL archiving. PostgreSQL's archiver hands over one segment at a
// time; when it asks for X, the segments waiting after X (their .ready files) are stored
// in the background by signal-free threads, so the archiver's next calls find them
// already durable and return at once. A segment is still acknowledged only after its
// object is durable: a background result is consumed exactly once, and a background
// failure is retried on the caller's thread, where its error is reported.
#pragma once
#include "pgbk/repository.hpp"

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pgbk {

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

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace pgbk
