// Which node of a cluster this is: an id made once per data directory, kept in the
// directory itself, and renewed whenever the directory turns out to be a copy.
//
// host:data directory does not tell nodes apart (pods of one StatefulSet template can
// share both), and a file alone does not either (pg_basebackup and pg_rewind copy it).
// So the file also records what it was made for (host, path, device, inode of the
// directory); a file read in a directory it was not made for is a copy's, and the id is
// renewed. Renewal is deterministic (a digest of the copied id and the new directory),
// so the archiver, the worker and backends that renew at once agree without a lock.
#pragma once
#include <string>

namespace pgbk {

// The file, in the data directory. pgbk's backups never carry it and restore removes it,
// so a restored copy starts with a new id.
inline constexpr char kNodeIdentityFile[] = "pgbk.node";

struct NodeIdentity {
	std::string id; // 32 hex digits
	std::string host, pgdata;
	// For humans: host:data directory and the id's first 8 digits.
	std::string Describe() const;
};

// This machine's host name ("" when it has none).
std::string LocalHostName();

// Where a data directory lives, as the file records it.
struct DirectoryFingerprint {
	std::string host, pgdata;
	unsigned long long device = 0, inode = 0;
	bool operator==(const DirectoryFingerprint &) const = default;
};
DirectoryFingerprint FingerprintOf(const std::string &pgdata, const std::string &host);

// Reads the data directory's id, making it when missing and renewing it when the file
// was made for another directory. Throws Io when the file cannot be written.
NodeIdentity LoadOrCreateNodeIdentity(const std::string &pgdata, const std::string &host);

// The id a copy made from `copied_id` and found in `here` takes (exposed for tests).
std::string RenewedNodeId(const std::string &copied_id, const DirectoryFingerprint &here);

} // namespace pgbk
