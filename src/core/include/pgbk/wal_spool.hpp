// A bounded local spool for WAL while the repository is away (a network or credential
// outage, a full or missing local repository). The archive module stores a WAL file
// here, durably and in the repository's own object format (compressed, encrypted when a
// key is set, checksummed), and acknowledges it to PostgreSQL, so pg_wal can recycle it
// and the database keeps running. Once the repository answers, the spool drains into it
// oldest first: a file leaves the spool only after the repository holds it (stored, or
// found stored with identical content), so a crash at any point loses nothing and never
// stores a file twice with different content.
#pragma once
#include "pgbk/crypto.hpp"
#include "pgbk/object.hpp"
#include "pgbk/repository.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace pgbk {

class WalSpool {
public:
	// `directory` is created on first use; `limit` bounds what it holds (stored bytes).
	WalSpool(std::string directory, uint64_t limit, std::shared_ptr<const Keyring> keyring);

	const std::string &
	directory() const
	{
		return directory_;
	}
	// Stores WAL file `name` (at `path`) durably. False, storing nothing, when it would
	// not fit the limit (the spool is full). Storing a file already spooled is a no-op.
	bool Store(const std::string &name, const std::string &path, const CodecOptions &codec);
	struct Usage {
		uint64_t files = 0, bytes = 0;
	};
	// Counted when the spool is opened (a scan), kept up to date since.
	Usage CurrentUsage() const;
	// Moves every spooled file into `repo`, timeline history files first, then segments
	// in name order, `parallel` at once, each removed from the spool once `repo` holds
	// it. `admit` may throw to keep a file in the spool (the fence: WAL past a fork never
	// leaves it). Returns how many moved; throws the first failure after the files in
	// flight finished (what moved stays moved). Streams the spool one WAL directory at a
	// time.
	uint64_t Drain(Repository &repo, const CodecOptions &codec, int parallel,
				   const std::function<void(const std::string &)> &admit, const std::function<bool()> &stop);
	// Restores a spooled file to `dest` (wal-fetch on the same host); false if absent.
	bool Fetch(const std::string &name, const std::string &dest);

private:
	void DrainOne(Repository &repo, const CodecOptions &codec, const std::string &name);

	std::string directory_;
	uint64_t limit_;
	Repository spool_; // the spool itself: a local repository without an identity record
	mutable std::mutex mu_;
	Usage usage_;
	std::mutex drain_mu_; // one drain at a time
};

} // namespace pgbk
