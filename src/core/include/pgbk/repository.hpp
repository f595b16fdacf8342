// Repository layout and catalog (docs/repository-format.md):
//   pgbk.repo                       repository identity (format, system id, PG major,
//                                   encryption and key ids; plain JSON)
//   wal/<TLI+LOG>/<segment>         archived WAL segments (objects)
//   wal/<TLI>.history               timeline history files (objects)
//   backup/<label>/backup.info      written when a backup starts
//   backup/<label>/data/<path>      one object per file (or per 64 MiB part: <path>#1, ...)
//   backup/<label>/manifest         written after every file is stored
//   backup/<label>/complete         completion marker, written last
//   backup/<label>/failed           written when a backup failed or was interrupted
#pragma once
#include "pgbk/cluster.hpp"
#include "pgbk/backup_type.hpp"
#include "pgbk/manifest.hpp"
#include "pgbk/object.hpp"
#include "pgbk/storage.hpp"
#include "pgbk/timeline.hpp"
#include "pgbk/storage_driver.hpp"
#include "pgbk/wal.hpp"

#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgbk {

constexpr int kRepositoryFormat = 1;

// What pgbk.repo records about encryption: whether objects are encrypted, the id of the
// key new objects are written with, and the ids of keys used before a rotation.
struct RepositoryEncryption {
	bool encrypted = false;
	std::string key_id;
	std::vector<std::string> previous_key_ids;
};

enum class BackupStatus { Complete, Failed, Incomplete };
const char *BackupStatusName(BackupStatus s);

// A node's decision that retention removes a backup (backup/<label>/expiry-<marked_at>-<node
// id>): the first phase of expiry. The backup is removed only once a mark is older than
// pgbk.expire_delay and the marker was on the authoritative line when it marked (its
// server's timeline and position, checked again at removal against the history known
// then), and only if retention still selects it and nobody kept it (pgbk_keep).
struct ExpiryMark {
	int64_t marked_at = 0; // unix seconds, the marker's clock
	std::string node_id, node; // who marked (the id, and for humans)
	uint32_t timeline = 0; // where the marker's server was when it marked
	Lsn lsn = 0;
	std::string reason; // retention's
};

struct BackupRecord {
	std::string label, type = "full", error;
	std::string prior; // differential/incremental: the backup it is relative to
	BackupStatus status = BackupStatus::Incomplete;
	int64_t started_at = 0, finished_at = 0; // unix seconds; 0 = unknown
	int64_t stop_time_us = 0; // consistency point (unix microseconds); 0 = unknown (older backups)
	uint64_t next_xid = 0; // next full transaction id at the stop; 0 = unknown
	Lsn start_lsn = 0, stop_lsn = 0;
	uint32_t timeline = 0;
	std::string wal_start, wal_stop;
	uint64_t database_bytes = 0, stored_bytes = 0, files = 0, bad_blocks = 0;
	std::string manifest_sha256;
	uint64_t system_identifier = 0;
	int pg_version_num = 0;
	std::string host, pgdata; // who took it
	std::string node_id; // the taker's node id (node_identity.hpp); "" = older pgbk
	bool standby = false; // taken on a standby
	std::string key_id; // the key its objects are encrypted with ("" = none)
	// An incomplete backup's lease (backup/<label>/lease), renewed while it is being
	// taken: once expired, any node knows it was interrupted. 0 = none (older pgbk).
	int64_t lease_expires_at = 0; // by the holder's clock (what older pgbk judged by)
	std::string lease_holder;
	// The lease's term, when it was last written and what time it is, both by the
	// store's clock (0: unknown; an older pgbk's lease, a store that gives no times).
	int64_t lease_term = 0, lease_written_at = 0, store_now = 0;
	std::vector<ExpiryMark> expiry_marks; // oldest first
	bool kept = false; // pgbk_keep: retention never selects it (backup/<label>/keep)
};

// Whether a backup was interrupted as far as any node can tell: incomplete, with a lease
// that expired (its taker died, or a failover or a rescheduled pod left it behind).
// Judged by the store's clock, which every node shares: the lease lapsed when the store's
// time is past its last write plus its term, whatever the holder's or the reader's clock
// says. Only a lease without those times (an older pgbk's) goes by its holder's
// expires_at against the reader's `now`.
inline bool
LeaseExpired(const BackupRecord &b, int64_t now)
{
	if (b.status != BackupStatus::Incomplete || b.lease_expires_at == 0)
		return false;
	if (b.lease_term > 0 && b.lease_written_at > 0 && b.store_now > 0)
		return b.store_now > b.lease_written_at + b.lease_term;
	return b.lease_expires_at < now;
}

struct BackupStartInfo {
	std::string label, type = "full";
	std::string prior; // differential/incremental: the backup it is relative to
	int64_t started_at = 0;
	Lsn start_lsn = 0;
	uint32_t timeline = 0;
	std::string wal_start;
	ClusterIdentity cluster;
	int pg_version_num = 0;
	std::string host, pgdata, node_id;
	bool standby = false;
};

// A node that stored into the repository (nodes/<id>), written once per node id: what
// tells restore whether a directory is one of the cluster's own.
struct NodeRecord {
	std::string id, host, pgdata;
	int64_t registered_at = 0;
};

struct BackupStopInfo {
	Lsn stop_lsn = 0;
	uint32_t timeline = 0;
	std::string wal_stop;
	int64_t finished_at = 0;
	// When the backup stopped (read after the backup API returned, so after its end
	// record and every commit before it; finished_at comes after the WAL wait), in unix
	// microseconds, and the next transaction id then: what a point-in-time target is
	// checked against. 0 = unknown.
	int64_t stop_time_us = 0;
	uint64_t next_xid = 0;
};

class Repository {
public:
	// `keyring` (may be null: no encryption) encrypts every object this repository writes
	// with its current key and decrypts what it reads.
	explicit Repository(std::unique_ptr<Storage> storage, std::shared_ptr<const Keyring> keyring = nullptr);
	Storage &
	storage()
	{
		return *storage_;
	}
	std::string
	Describe() const
	{
		return storage_->Describe();
	}

	const Keyring *
	keyring() const
	{
		return keyring_.get();
	}
	// The directory on this machine that holds the repository ("" for a remote store):
	// a backup walk skips it. Set by OpenRepository from the location it opened.
	const std::string &
	local_directory() const
	{
		return local_directory_;
	}
	void
	set_local_directory(std::string directory)
	{
		local_directory_ = std::move(directory);
	}
	// The codec options with this repository's current key (every object pgbk writes is
	// encrypted when the repository has a key).
	CodecOptions WithKey(CodecOptions codec) const;
	// Opens a stored object for reading through the keyring (NotFound if missing).
	std::unique_ptr<ObjectReader> OpenObject(const std::string &key);

	// Creates pgbk.repo on first use; refuses a repository of another cluster, and
	// checks the keys (CheckKeys for a writer).
	void CheckOrInit(const ClusterIdentity &id);
	std::optional<ClusterIdentity> ReadIdentity();
	// For removals (expiry): the identity record must exist and be this cluster's, else
	// Conflict naming both. Nothing is removed from a repository pgbk cannot recognise.
	void CheckOwner(const ClusterIdentity &id);
	// Whether a backup prefix without backup.info is what an interrupted removal left
	// (a pgbk label holding a readable failure record): only then may it be removed.
	bool IsRemainderOfRemoval(const std::string &label);
	std::optional<RepositoryEncryption> ReadEncryption();
	// Refuses a keyring that does not fit the repository: a key for a plaintext
	// repository, none for an encrypted one, or (wrong key) keys the repository never
	// used. A writer must also hold the repository's current key; when its own current
	// key is a new one, pgbk.repo records the rotation.
	void CheckKeys(bool writer);
	// For readers: throws NotFound when the repository does not exist at all (a path
	// mistyped must not read as an empty repository), then checks the keys.
	void CheckReadable();

	// WAL archive. Storing the same content again is a no-op success; different
	// content under an existing name throws Conflict and leaves the stored object.
	enum class ArchiveOutcome { Stored, AlreadyPresent };
	ArchiveOutcome ArchiveWalFile(const std::string &name, const std::string &path, const CodecOptions &codec);
	// Restores an archived file to dest (via a temp file and rename). Returns false if
	// it is not in the repository; throws Corrupt if it fails verification.
	bool FetchWalFile(const std::string &name, const std::string &dest);
	bool HasWalFile(const std::string &name);
	// Whether the repository holds WAL file `name` with exactly the bytes of the local file
	// at `path` (false when either is missing or they differ).
	bool HoldsWalFileAs(const std::string &name, const std::string &path);

	// Records the node (nodes/<id>, create-only; a node already recorded is left as it is).
	void RegisterNode(const NodeRecord &node);
	// Every node recorded, in id order.
	std::vector<NodeRecord> ListNodes();

	// The timelines whose history files the archive holds (timeline 1 has none).
	TimelineSet ReadTimelines();

	// Backups.
	static std::string BackupKey(const std::string &label, const std::string &leaf);
	static std::string BackupDataKey(const std::string &label, const std::string &path);
	// Part k of a file stored in parts: part 0 is the file's own key, part k > 0 has
	// "#k" appended ('#' never occurs in a PostgreSQL data file name).
	static std::string BackupPartKey(const std::string &label, const std::string &path, size_t part);
	// The page delta of a file stored by a differential or incremental backup.
	static std::string BackupDeltaKey(const std::string &label, const std::string &path);
	void WriteBackupStart(const BackupStartInfo &info);
	void WriteBackupComplete(const std::string &label, const BackupStopInfo &stop, const ManifestTotals &totals,
							 const ObjectSummary &manifest);
	void MarkBackupFailed(const std::string &label, const std::string &error, int64_t when);
	// The first phase of expiry (create-only; one object per mark).
	void MarkForExpiry(const std::string &label, const ExpiryMark &mark);
	// Keeps a backup from retention for good (create-only; keeping it again is a no-op).
	void KeepBackup(const std::string &label, int64_t when, const std::string &by);
	// Writes (replaces) the lease of a backup being taken.
	void WriteBackupLease(const std::string &label, const std::string &holder, int64_t expires_at, int64_t term);
	// Removes the data objects of a backup that did not complete (keeps its record).
	void RemoveBackupData(const std::string &label);
	// Removes a backup entirely (expiry): a failure record carrying `reason` first, so
	// that it is never listed as complete again, then its completion marker, data and
	// manifest, then backup.info, and the failure record last. A prefix left without
	// backup.info by an interruption is invisible (ListBackups reports it as an orphan).
	void RemoveBackup(const std::string &label, const std::string &reason, int64_t when);
	// Removes archived WAL segments (and their partial and backup-history files) numbered
	// below `segno` on every timeline; timeline history files stay. Lists only the WAL
	// directories that can hold such segments. Returns how many files went and reports
	// the lowest and highest names.
	uint64_t RemoveWalBefore(uint64_t segno, uint64_t segment_size, std::string *first, std::string *last);
	std::optional<BackupRecord> ReadBackup(const std::string &label);
	// Every backup, ordered by position: start LSN, then stop LSN (never by a node's clock
	// or by label). With orphans, also the labels of backup/ prefixes without backup.info:
	// every backup writes it first, so such a prefix is what an interrupted removal left.
	std::vector<BackupRecord> ListBackups(std::vector<std::string> *orphans = nullptr);
	// Streams the manifest of a complete backup, checking it against the marker.
	ManifestTotals ReadManifest(const BackupRecord &b, const std::function<void(const ManifestHeader &)> &on_header,
								const std::function<void(const ManifestEntry &)> &on_entry);
	// Only the manifest's header line (the first part of the object), unchecked against
	// the marker: for what a listing needs (the WAL segment size).
	ManifestHeader ReadManifestHeader(const BackupRecord &b);

private:
	// Writes a small record (metadata codec) create-only; one already there, written by
	// an earlier or a concurrent call, is left as it is.
	void CreateRecordOnce(const std::string &key, const std::string &text);
	void WriteIdentity(const ClusterIdentity &id, const RepositoryEncryption &enc, WriteMode mode);
	void RefuseUnlessOwnedBy(const std::optional<ClusterIdentity> &existing, const ClusterIdentity &id);

	std::unique_ptr<Storage> storage_;
	std::shared_ptr<const Keyring> keyring_;
	std::string local_directory_;
};

// Calls fn with each WAL segment name a backup needs to become consistent, from its
// wal_start to its wal_stop (segment_size from its manifest). Throws Corrupt naming the
// backup if the range is not valid.
void ForEachBackupWalSegment(const BackupRecord &b, uint64_t segment_size,
							 const std::function<void(const std::string &)> &fn);

// The keys the settings name (null: no encryption); throws Config naming a bad key file.
std::shared_ptr<const Keyring> KeyringOf(const settings::Values &values);
// The compression the settings name (pgbk.compression, pgbk.compression_level).
CodecOptions CodecOf(const settings::Values &values);
// Opens the repository at `location` with the keys the settings name (throws Config
// naming a bad key file).
std::unique_ptr<Repository> OpenRepository(const RepositoryLocation &location, const settings::Values &values,
										   const StorageOpenOptions &options = {});
// The same for the repository pgbk.repository names (the default one beside the data
// directory when it is empty).
std::unique_ptr<Repository> OpenRepository(const settings::Values &values, const std::string &data_directory,
										   const StorageOpenOptions &options = {});

// A backup label for a start time: YYYYMMDD-HHMMSSF (UTC; D and I for later types).
std::string MakeBackupLabel(int64_t unix_seconds, BackupType type);
// The label for a backup requested at `now` that sorts after `last` (the newest label
// already used, may be empty): labels stay unique even within one second or after the
// clock went back.
std::string NextBackupLabel(int64_t now, const std::string &last, BackupType type);
// The same for any job's label (a backup's type letter, or another kind's): YYYYMMDD-HHMMSS<suffix>.
std::string MakeLabel(int64_t unix_seconds, char suffix);
std::string NextLabel(int64_t now, const std::string &last, char suffix);
// Whether a name has the form of a label pgbk makes (YYYYMMDD-HHMMSS and a type letter).
bool IsBackupLabel(const std::string &label);

namespace settings {
// Changes whenever what opening the repository depends on changes: every
// kOpensRepository setting and each key file's identity and modification time (a key
// replaced in place).
std::string RepositorySignature(const Values &values);
} // namespace settings

} // namespace pgbk
