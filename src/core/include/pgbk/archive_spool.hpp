// A bounded local spool for WAL while the repository is away (a network or credential
// outage, a full or missing local repository). The archive module stores a WAL file
// here, durably and in the repository's own object format (compressed, encrypted when a
// key is set, checksummed), and acknowledges it to PostgreSQL, so pg_wal can recycle it
// and the database keeps running. Once the repository answers, the spool drains into it
// oldest first: a file leaves the spool only after the repository holds it (stored, or
// found stored with identical content), so a crash at any point loses nothing and never
// stores a file twice with different content.
#pragma once
#include "pgbk/cluster.hpp"
#include "pgbk/crypto.hpp"
#include "pgbk/object.hpp"
#include "pgbk/repository.hpp"

#include <atomic>
#include <condition_variable>
#include <thread>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace pgbk {

// pgbk.spool_directory as a directory: the value, absolute and outside the data
// directory (checked like a local pgbk.repository), or when empty the cluster's own
// `pgbk_spool-<name of the data directory>` beside the data directory. Throws Config.
std::string ResolveSpoolDirectory(const std::string &value, const std::string &data_directory);

class ArchiveSpool {
public:
	// `directory` is created on first use; `limit` bounds what it holds (stored bytes).
	ArchiveSpool(std::string directory, uint64_t limit, std::shared_ptr<const Keyring> keyring);

	const std::string &
	directory() const
	{
		return directory_;
	}
	// 0: the spool takes nothing more, but what it holds still drains.
	uint64_t
	limit() const
	{
		return limit_;
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
	// (one process at a time: a drain that finds another process draining the same
	// directory, the archiver and the backup worker around a promotion, moves nothing),
	// in name order, `parallel` at once, each removed from the spool once `repo` holds
	// it. `admit` may throw to keep a file in the spool (the fence: WAL past a fork never
	// leaves it). Returns how many moved; throws the first failure after the files in
	// flight finished (what moved stays moved). Streams the spool one WAL directory at a
	// time.
	// `moved`, when given, is told of each file once it left the spool. Both callbacks
	// are called from the drain's threads, one call at a time.
	uint64_t Drain(Repository &repo, const CodecOptions &codec, int parallel,
				   const std::function<void(const std::string &)> &admit, const std::function<bool()> &stop,
				   const std::function<void(const std::string &)> &moved = nullptr);
	// Restores a spooled file to `dest` (wal-fetch on the same host); false if absent.
	bool Fetch(const std::string &name, const std::string &dest);
	// The same for a reader that does not own the spool (wal-fetch while the server
	// drains it): nothing of the spool is touched.
	static bool FetchFrom(const std::string &directory, std::shared_ptr<const Keyring> keyring, const std::string &name,
						  const std::string &dest);
	// What the spool at `directory` holds, without opening (or creating) it.
	static Usage UsageOf(const std::string &directory);

private:
	void DrainOne(Repository &repo, const CodecOptions &codec, const std::string &name);

	std::string directory_;
	uint64_t limit_;
	Repository spool_; // the spool itself: a local repository without an identity record
	mutable std::mutex mu_;
	Usage usage_;
	std::mutex drain_mu_; // one drain at a time
};

// One fenced drain of `spool` into `repo`, as the archive module's drainer does it: the
// repository checked (or created) for `cluster` first (once: *checked), each file fenced
// (TimelineFence, with the lineage pg_wal shows for its timeline) so WAL past a fork never
// leaves the spool; a content conflict stops archiving (StopArchiving) and is rethrown.
// Also what the backup worker runs for a spool no archiver drains (a standby with
// archive_mode = on: a primary demoted during a repository outage). Returns files moved.
uint64_t DrainSpoolFenced(ArchiveSpool &spool, Repository &repo, const ClusterIdentity &cluster, bool *checked,
						  const CodecOptions &codec, int parallel, const std::string &data_directory,
						  uint64_t segment_size, const std::function<bool()> &stop,
						  const std::function<void(const std::string &)> &moved = nullptr);

// Drains a spool on a signal-free thread: every few seconds while the spool holds files,
// and at once on Wake(). Each file is fenced on the way (TimelineFence, with the lineage
// pg_wal shows for its timeline), so WAL past a fork never leaves the spool. A content
// conflict stops archiving (StopArchiving: the archive module then refuses every file)
// and the drain until a superuser resumes.
class ArchiveSpoolDrainer {
public:
	// `cluster`: the server's identity, checked against the repository (CheckOrInit,
	// which creates it if it is not there yet) before the first drain.
	ArchiveSpoolDrainer(ArchiveSpool &spool, Repository &repo, ClusterIdentity cluster, CodecOptions codec,
						int parallel, std::string data_directory, uint64_t segment_size, std::function<bool()> stop);
	~ArchiveSpoolDrainer(); // stops and joins
	ArchiveSpoolDrainer(const ArchiveSpoolDrainer &) = delete;
	ArchiveSpoolDrainer &operator=(const ArchiveSpoolDrainer &) = delete;
	void Wake();
	// The last drain attempt failed and no file has moved since (the repository still
	// does not answer): new WAL goes to the spool, or is dropped, without the archiver
	// trying the repository itself (each try on a paused store costs the whole timeout).
	bool RepositoryDown() const;
	std::string LastError() const;

private:
	void Run();

	ArchiveSpool &spool_;
	Repository &repo_;
	ClusterIdentity cluster_;
	bool checked_ = false; // repo_ checked (or created) for cluster_ by this drainer
	CodecOptions codec_;
	int parallel_;
	std::string data_directory_;
	uint64_t segment_size_;
	std::function<bool()> stop_;
	mutable std::mutex mu_;
	std::condition_variable cv_;
	bool stopping_ = false, woken_ = false, down_ = false;
	std::string last_error_;
	std::thread thread_;
};

} // namespace pgbk
