// One backup from start to completion, as named phases, against a small interface to the
// server it copies. Everything a backup decides lives here, where unit tests reach it
// with a fake server: whether this server may take one, the prior it is taken against,
// the create-only record and the lease that tell other nodes it runs, which WAL
// completes it, and which archive gaps it covers. The glue implements the server with
// PostgreSQL's non-exclusive backup API (src/pg/backup_job.cpp) and runs one phase at a
// time; a future remote backup over libpq would implement it again.
#pragma once
#include "pgbk/backup.hpp"
#include "pgbk/backup_lease.hpp"
#include "pgbk/backup_type.hpp"
#include "pgbk/cluster.hpp"
#include "pgbk/node_identity.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/timeline.hpp"

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace pgbk {

struct BackupStopPoint {
	ServerPosition position;
	// What PostgreSQL gave for the copy: restore writes them into the data directory.
	std::string backup_label, tablespace_map;
	uint64_t next_xid = 0; // the next transaction id once the backup stopped
};

// What a backup asks of the server it copies. Called only on the thread that runs the
// BackupRun's phases; a failure throws pgbk::Error.
class BackupServer {
public:
	virtual ~BackupServer() = default;
	// Starts a backup named `label` with a fast checkpoint; returns where it starts. From
	// here until StopBackup a copy of the files is consistent once WAL to the stop point
	// is replayed.
	virtual ServerPosition StartBackup(const std::string &label) = 0;
	// Ends the backup started last; where it stopped and the label files.
	virtual BackupStopPoint StopBackup() = 0;
	// Where the server is now.
	virtual ServerPosition Position() = 0;
};

// The server and node a run backs up, fixed for the run.
struct BackupServerFacts {
	std::string pgdata; // absolute
	NodeIdentity node; // who takes it (node_identity.hpp)
	ClusterIdentity cluster;
	int pg_version_num = 0;
	uint64_t segment_size = 16 << 20;
	bool data_checksums = false;
	bool standby = false;
	// The tablespace directory of this server's version (BackupOptions).
	std::string tablespace_version_dir;
	// pgbk.spool_directory resolved: the archive gap ledger's home (archive_gaps.hpp).
	std::string spool_directory;
};

struct BackupRunOptions {
	std::string label;
	BackupType type = BackupType::Full;
	CodecOptions codec;
	int parallel = 2;
	// How long the stop waits for its WAL to be archived (pgbk.archive_timeout).
	std::chrono::seconds wal_timeout{60};
	std::chrono::seconds lease_term = kBackupLeaseTerm;
	std::chrono::milliseconds file_delay{0}; // test hook (BackupOptions)
};

class BackupRun {
public:
	// `callbacks` supplies cancellation and progress; the run decides which WAL counts as
	// archived (its own wal_acknowledged replaces any given).
	BackupRun(std::unique_ptr<Repository> repo, BackupServer &server, BackupServerFacts facts, BackupRunOptions options,
			  BackupCallbacks callbacks);
	~BackupRun();
	BackupRun(const BackupRun &) = delete;
	BackupRun &operator=(const BackupRun &) = delete;

	// Phase 1. The repository is this cluster's (made on first use) and this server is
	// not superseded (a former primary or a promoted copy takes no backup). A
	// differential or incremental without a usable prior becomes a full backup, its
	// label's letter too: returns why, "" when the requested type stands.
	std::string ChoosePrior();
	// Phase 2. Starts the backup on the server, then writes its create-only record (a
	// label another node took first is refused and left alone) and its lease.
	void Start();
	// Phase 3. Copies the data directory on the core's threads.
	void CopyFiles();
	// Phase 4. Stops the backup on the server, stores the label files, waits until this
	// server archived its WAL up to the stop point, then commits the manifest and the
	// completion marker.
	void StopAndComplete();
	// Phase 5. Closes the archive gaps this backup covers and publishes them; returns
	// each one described. The backup is complete whether this succeeds or not.
	std::vector<std::string> CoverArchiveGaps();
	// After a failure in any phase (the server's backup already aborted): marks the
	// backup failed and removes its data, but only when this run wrote its record.
	void Abandon(const std::string &message);

	const std::string &Label() const;
	BackupType Type() const;
	const std::string &Prior() const; // "" for a full backup
	ServerPosition StartPosition() const;
	ServerPosition StopPosition() const;
	const BackupProgress &Progress() const;
	// "base/5/16384 block 3, ..." for the first pages that failed verification.
	std::string BadPagesSummary() const;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

// What CleanUpInterruptedBackups did.
struct InterruptedBackups {
	int marked_failed = 0;
	std::string newest_label; // the newest label in the repository (new ones sort after it)
};

// A backup with neither a completion marker nor a failure record was interrupted (a
// crash, a kill, a shutdown). Marks failed, and removes the data of, this node's own (by
// node id: no backup of its runs while this is called) and any node's whose lease
// expired (its taker is gone); an older pgbk's record without node id or lease is this
// node's when host and data directory match. Never one another node is still taking: a restored
// copy sharing the repository must not touch its source's. A superseded server (a
// former primary) touches nothing.
InterruptedBackups CleanUpInterruptedBackups(Repository &repo, const NodeIdentity &self, bool superseded, int64_t now);

} // namespace pgbk
