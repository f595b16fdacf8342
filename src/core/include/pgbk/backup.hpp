// Copies a data directory into a backup: the walk (with pg_basebackup's exclusions),
// page-checksum verification, the parallel store of every file through the object
// pipeline, and the streaming manifest. Runs entirely outside PostgreSQL: the glue
// brackets it with the backup API and supplies cancellation and progress callbacks,
// which are only ever invoked on the calling thread.
#pragma once
#include "pgbk/repository.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

namespace pgbk {

struct BackupProgress {
	uint64_t bytes_read = 0, bytes_written = 0, files = 0, bad_blocks = 0;
};

struct BackupCallbacks {
	// Polled on the calling thread (at least every 100 ms); true stops the backup with
	// ErrorKind::Cancelled.
	std::function<bool()> should_cancel;
	std::function<void(const BackupProgress &)> progress;
	// Whether this server's archiver has acknowledged WAL file `name` (may throw to fail
	// the backup). A backup completes only on its own server's WAL: a file of the same
	// name in the repository may be another server's. Unset (unit tests): the
	// repository holding the file is enough.
	std::function<bool(const std::string &name)> wal_acknowledged;
};

struct BackupOptions {
	std::string pgdata;
	CodecOptions codec;
	int parallel = 2;
	bool verify_checksums = false;
	// Test hook: pause before each file so tests can interrupt a running backup.
	std::chrono::milliseconds file_delay{0};
	// A directory the walk never enters (the repository, when it is local): even one
	// reached through a link or a mount is not copied into itself.
	std::string skip_directory;
	// The tablespace directory of this server's version (PG_15_202209061): of a
	// tablespace location shared with other major versions only it is backed up. Empty:
	// everything under the location.
	std::string tablespace_version_dir;
};

// Files at the top of a data directory that belong to that one node, never to a copy of
// it: standby.signal and recovery.signal (a standby's backup would otherwise restore into
// a server that never leaves recovery; a restore writes the one its mode needs) and
// pgbk.node (the node's identity: a restored copy is a new node). No backup carries them,
// a restore leaves out an older backup's, and --delta removes the target's.
bool IsNodeLocalFile(const std::string &relpath);

// What the walk decides about one directory entry (exposed for unit tests).
enum class WalkDecision { Include, Skip, IncludeDirOnly };
WalkDecision ClassifyDataDirEntry(const std::string &relpath, bool is_dir);
// The order of the walk (and of manifest entries): depth first, names in byte order,
// i.e. paths compared with '/' below every other character.
bool WalkOrderLess(const std::string &a, const std::string &b);
// Parses "<relfilenode>[_fork][.segno]"; returns false if the name is not a relation file.
bool ParseRelationFileName(const std::string &name, uint64_t *relfilenode, std::string *fork, uint32_t *segno);

class BackupSession {
public:
	BackupSession(Repository &repo, const ManifestHeader &header);
	~BackupSession();
	// Stores every file of the data directory (global/pg_control last).
	void CopyDataDirectory(const BackupOptions &opts, const BackupCallbacks &cb);
	// Stores a file whose content PostgreSQL gave us (backup_label, tablespace_map).
	void AddFile(const std::string &path, const std::string &content, const CodecOptions &codec);
	// Waits until every WAL segment from first to last (inclusive) is in the repository.
	void WaitForWal(uint32_t timeline, Lsn start, Lsn stop, uint64_t segment_size, std::chrono::seconds timeout,
					const BackupCallbacks &cb, std::string *wal_stop);
	// Commits the manifest, then writes the completion marker.
	ManifestTotals Complete(const BackupStopInfo &stop);
	const BackupProgress &Progress() const;
	// "base/5/16384 block 3, ..." for the first pages that failed verification.
	std::string BadPagesSummary() const;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

} // namespace pgbk
