// Restores a complete backup into an empty directory: every file is streamed out of
// its object, checked against the object's trailer and the manifest, written and
// fsynced. global/pg_control is written last, so an interrupted restore leaves a
// directory PostgreSQL refuses to start.
#pragma once
#include "pgbk/repository.hpp"

#include <optional>

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace pgbk {

inline constexpr const char *kSegmentSizeToken = "@SEGMENT_SIZE@";

struct RestoreOptions {
	std::string pgdata;
	std::string label; // empty: newest complete backup
	// The backup, when the caller already chose it from a listing (label is then not
	// looked up again: on S3 a listing costs requests per backup).
	std::optional<BackupRecord> backup;
	int parallel = 2;
	// Update an existing data directory in place (the server stopped): files whose size
	// and checksum already match the backup are kept, others rewritten, and everything
	// the backup does not have (stale WAL included) removed. pg_control is removed first
	// and written last, so an interrupted delta restore never looks startable.
	bool delta = false;
	// The PostgreSQL major version that will start the restored directory (0: not said).
	// A backup of another major version is refused before anything is written, as is a
	// --delta onto a data directory of another version: no server reads another major's files.
	int pg_major = 0;
	// restore_command written into postgresql.auto.conf; empty: none. kSegmentSizeToken
	// in it becomes the backup's WAL segment size in bytes (known once its manifest is read).
	std::string restore_command;
	// Start as a standby (standby.signal instead of recovery.signal): the copy follows
	// a primary, streaming when primary_conninfo is among the settings, else replaying
	// the archive through restore_command, and never promotes by itself.
	bool standby = false;
	// Settings appended to postgresql.auto.conf (pgbk.repository and, for S3, the
	// pgbk.s3_* settings): the restored cluster archives into the repository it came
	// from, and its restore_command reaches it.
	std::vector<std::pair<std::string, std::string>> settings;
};

struct RestoreProgress {
	uint64_t bytes = 0, total_bytes = 0, files = 0, total_files = 0;
};

struct RestoreResult {
	BackupRecord backup;
	uint64_t files = 0, bytes = 0;
	// --delta: files and bytes found already matching, entries removed.
	uint64_t kept_files = 0, kept_bytes = 0, removed = 0;
};

// Picks the backup to restore; throws Config listing the available labels if `label`
// is unknown or not complete.
BackupRecord SelectBackup(Repository &repo, const std::string &label);
// The same over a listing already read (ListBackups); `where` names the repository.
BackupRecord SelectBackup(const std::vector<BackupRecord> &backups, const std::string &label, const std::string &where);

RestoreResult RestoreBackup(Repository &repo, const RestoreOptions &opts,
							const std::function<void(const RestoreProgress &)> &progress);

// Quotes a value for postgresql.conf.
std::string QuoteConfValue(const std::string &v);
// Quotes one shell word with single quotes.
std::string ShellQuote(const std::string &v);

} // namespace pgbk
