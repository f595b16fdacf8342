// The pieces of a restore (restore.cpp reads as their list): the state one restore
// shares between its phases, the file writers that run on its threads, the --delta
// walk of an existing directory, and the recovery configuration.
#pragma once
#include "pgbk/restore.hpp"

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <sys/stat.h>
#include <vector>

namespace pgbk::restore {

// One file, or one part of a file stored in parts (written at its offset), or a file
// rebuilt from a base and page deltas (differential/incremental backups).
struct FileJob {
	std::string path;
	uint32_t mode = 0;
	int64_t mtime = 0;
	uint64_t size = 0;
	Digest sha256{};
	size_t part = 0;
	uint64_t offset = 0;
	std::string label; // the backup holding the object
	std::shared_ptr<const ManifestEntry> recipe; // set: rebuilt from base and deltas
	bool existing = false; // --delta: a file is there; keep what already matches
};

// The entries of an existing data directory in the manifest's walk order (depth first,
// names in byte order), one directory listing in memory at a time. Links are not
// followed, except a tablespace link (pg_tblspc/<oid>) and a pg_wal link (WAL on another
// disk), whose targets are walked as the backup walked them.
class LocalTree {
public:
	explicit LocalTree(std::string root);
	// The current entry (relative path), or false at the end.
	bool Current(std::string *rel, struct stat *st);
	// Moves past the current entry; with descend, into it when it is a directory.
	void Advance(bool descend);

private:
	struct Frame {
		std::string dir;
		std::vector<std::string> names;
		size_t next = 0;
	};
	static bool IsFollowedLink(const std::string &rel);
	void Push(const std::string &rel);
	void Settle();

	std::string root_;
	std::vector<Frame> stack_;
	std::string cur_;
	struct stat cur_st_ {};
	bool settled_ = false;
};

// What one restore shares between its phases and its threads.
struct RestoreState {
	RestoreState(Repository &r, const RestoreOptions &o, const BackupRecord &b,
				 const std::function<void(const RestoreProgress &)> &p)
		: repo(r), opts(o), backup(b), progress(p)
	{
	}
	Repository &repo;
	const RestoreOptions &opts;
	const BackupRecord &backup;
	const std::function<void(const RestoreProgress &)> &progress;

	std::atomic<uint64_t> bytes{0}, files{0}, kept_files{0}, kept_bytes{0};
	uint64_t removed = 0; // --delta: entries the backup does not have
	uint64_t segment_size = 16ull << 20; // from the manifest
	int pg_version_num = 0; // from the manifest: the server version the backup is of
	Lsn start_lsn = 0; // from the manifest
	bool mixed_nodes = false; // from the manifest: rebuilt files are checked page by page
	std::optional<FileJob> control; // global/pg_control, written last
	std::vector<std::string> tablespace_targets; // synced before pg_control
	std::unique_ptr<LocalTree> local; // --delta: the existing directory

	std::string
	PathOf(const std::string &rel) const
	{
		return opts.pgdata + "/" + rel;
	}
	// An object the backup needs; a missing one is corruption of the backup.
	std::unique_ptr<ObjectReader> OpenObject(const std::string &key);
	void Report();
	RestoreResult Result() const;
};

// Writes one job's file (or part): runs on a restore thread.
void RestoreFile(RestoreState &state, const FileJob &job, const std::atomic<bool> &stop);

// --delta: moves the walk of the existing directory up to `rel` (the next manifest
// entry), removing everything before it the backup does not have; returns what is at
// `rel`, if anything. An empty rel removes whatever is left.
std::optional<struct stat> MatchExisting(RestoreState &state, const std::string &rel);

// Whether bytes [offset, offset + size) of an existing file have this SHA-256.
bool ExistingRangeMatches(const std::string &path, uint64_t offset, uint64_t size, const Digest &sha256);

// postgresql.auto.conf with this restore's settings (replacing what an earlier restore
// left) and recovery.signal.
void WriteRecoveryConfiguration(RestoreState &state);

bool DirectoryIsEmptyOrMissing(const std::string &path);
void MakeDir(const std::string &path, mode_t mode);

} // namespace pgbk::restore
