#include "pgbk/repository.hpp"
#include "pgbk/wal_archiver.hpp"

#include "pgbk/crypto.hpp"
#include "pgbk/fileio.hpp"
#include "pgbk/numbers.hpp"
#include "pgbk/stored_json.hpp"

#include <algorithm>
#include <set>
#include <tuple>
#include <cerrno>
#include <cstdio>
#include <ctime>
#include <sys/stat.h>
#include <sstream>
#include <fcntl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

namespace pgbk {

using nlohmann::json;

namespace {

const CodecOptions kMetaCodec{Codec::None, 0};
constexpr const char *kIdentityKey = "pgbk.repo";

json
ParseJsonObject(const std::string &text, const std::string &what)
{
	try {
		json j = ParseStoredJson(text, what);
		if (!j.is_object())
			throw Error(ErrorKind::Corrupt, what + " is not a JSON object");
		return j;
	} catch (const json::exception &e) {
		throw Error(ErrorKind::Corrupt, what + " is not valid JSON: " + e.what());
	}
}

} // namespace

const char *
BackupStatusName(BackupStatus s)
{
	switch (s) {
	case BackupStatus::Complete:
		return "complete";
	case BackupStatus::Failed:
		return "failed";
	case BackupStatus::Incomplete:
		return "incomplete";
	}
	return "?";
}

Repository::Repository(std::unique_ptr<Storage> storage, std::shared_ptr<const Keyring> keyring)
	: storage_(std::move(storage)), keyring_(std::move(keyring))
{
}

CodecOptions
Repository::WithKey(CodecOptions codec) const
{
	codec.key = keyring_ ? keyring_->current() : nullptr;
	return codec;
}

std::unique_ptr<ObjectReader>
Repository::OpenObject(const std::string &key)
{
	return std::make_unique<ObjectReader>(storage_->OpenRead(key), key, keyring_.get());
}

namespace {

std::optional<json>
ReadIdentityJson(Storage &s)
{
	if (!s.Size(kIdentityKey))
		return std::nullopt;
	return ParseJsonObject(GetBytes(s, kIdentityKey, 1 << 20), "repository file pgbk.repo");
}

} // namespace

std::optional<RepositoryEncryption>
Repository::ReadEncryption()
{
	auto j = ReadIdentityJson(*storage_);
	if (!j)
		return std::nullopt;
	RepositoryEncryption enc;
	try {
		if (j->contains("encryption")) {
			const json &e = j->at("encryption");
			enc.encrypted = true;
			enc.key_id = e.at("key_id").get<std::string>();
			enc.previous_key_ids = e.value("previous_key_ids", std::vector<std::string>{});
		}
	} catch (const json::exception &e) {
		throw Error(ErrorKind::Corrupt, std::string("repository file pgbk.repo is damaged: ") + e.what());
	}
	return enc;
}

void
Repository::CheckReadable()
{
	if (!storage_->Exists())
		throw Error(ErrorKind::NotFound, "repository " + Describe() + " does not exist",
					"Check the repository (--repo, or pgbk.repository in --config); a repository is created by the "
					"server when it first archives WAL or takes a backup.");
	CheckKeys(false);
}

void
Repository::CheckKeys(bool writer)
{
	auto enc = ReadEncryption();
	if (!enc)
		return;
	const EncryptionKey *current = keyring_ ? keyring_->current() : nullptr;
	if (enc->encrypted && current == nullptr)
		throw Error(ErrorKind::Config, "repository " + Describe() + " is encrypted (key " + enc->key_id +
										   "): set pgbk.encryption_key_file (pgbk --encryption-key-file) to the "
										   "file of that key");
	if (!enc->encrypted && current != nullptr)
		throw Error(ErrorKind::Config, "repository " + Describe() +
										   " is not encrypted, but pgbk.encryption_key_file is set (key " +
										   current->IdHex() +
										   "): encryption is chosen when a repository is created; use a new, "
										   "empty repository for encrypted backups, or unset pgbk.encryption_key_file");
	if (!enc->encrypted)
		return;
	std::string ids = enc->key_id;
	for (const auto &id : enc->previous_key_ids)
		ids += ", " + id;
	bool any_known = keyring_->Find(enc->key_id) != nullptr;
	for (const auto &id : enc->previous_key_ids)
		any_known = any_known || keyring_->Find(id) != nullptr;
	if (!any_known || (writer && keyring_->Find(enc->key_id) == nullptr))
		throw Error(ErrorKind::Config,
					"wrong encryption key for repository " + Describe() + ": it is written with key " + enc->key_id +
						(enc->previous_key_ids.empty() ? "" : " (earlier keys: " + ids + ")") + ", configured is " +
						keyring_->Describe() + ". Set pgbk.encryption_key_file to the file of key " + enc->key_id +
						", or, to rotate keys, set it to the new key and list the file of key " + enc->key_id +
						" in pgbk.encryption_keyring");
	if (writer && current->IdHex() != enc->key_id) {
		// Rotation: new objects use the new key from now on; pgbk.repo remembers the old.
		json j = *ReadIdentityJson(*storage_);
		auto previous = enc->previous_key_ids;
		previous.push_back(enc->key_id);
		j["encryption"]["key_id"] = current->IdHex();
		j["encryption"]["previous_key_ids"] = previous;
		PutBytes(*storage_, kIdentityKey, j.dump(2) + "\n", WriteMode::Replace);
	}
}

std::optional<ClusterIdentity>
Repository::ReadIdentity()
{
	auto ij = ReadIdentityJson(*storage_);
	if (!ij)
		return std::nullopt;
	const json &j = *ij;
	try {
		int format = j.at("format").get<int>();
		if (format != kRepositoryFormat)
			throw Error(ErrorKind::Conflict, "repository " + Describe() + " has format " + std::to_string(format) +
												 "; this pgbk reads format " + std::to_string(kRepositoryFormat));
		auto system_identifier = ParseDecimal(j.at("system_identifier").get<std::string>());
		if (!system_identifier)
			throw Error(ErrorKind::Corrupt,
						"repository file pgbk.repo is damaged: system_identifier is not a decimal number");
		return ClusterIdentity{*system_identifier, j.at("pg_major").get<int>()};
	} catch (const json::exception &e) {
		throw Error(ErrorKind::Corrupt, std::string("repository file pgbk.repo is damaged: ") + e.what());
	}
}

void
Repository::CheckOrInit(const ClusterIdentity &id)
{
	auto existing = ReadIdentity();
	if (!existing) {
		json j = {{"format", kRepositoryFormat},
				  {"system_identifier", std::to_string(id.system_identifier)},
				  {"pg_major", id.pg_major},
				  {"created_at", static_cast<int64_t>(::time(nullptr))}};
		if (const EncryptionKey *key = keyring_ ? keyring_->current() : nullptr)
			j["encryption"] = {{"cipher", "xchacha20poly1305-secretstream"},
							   {"key_id", key->IdHex()},
							   {"previous_key_ids", json::array()}};
		try {
			PutBytes(*storage_, kIdentityKey, j.dump(2) + "\n", WriteMode::CreateOnly);
		} catch (const Error &e) {
			if (e.kind() != ErrorKind::AlreadyExists)
				throw;
		}
		existing = ReadIdentity(); // a concurrent creator may have won
	}
	RefuseUnlessOwnedBy(existing, id);
	CheckKeys(true);
}

void
Repository::RefuseUnlessOwnedBy(const std::optional<ClusterIdentity> &existing, const ClusterIdentity &id)
{
	if (!existing)
		throw Error(ErrorKind::Conflict,
					"repository " + Describe() +
						" has no identity record (pgbk.repo): it is not a pgbk repository of "
						"this cluster (" +
						std::to_string(id.system_identifier) + ", PostgreSQL " + std::to_string(id.pg_major) +
						"), so nothing is removed from it",
					"Point pgbk.repository at this cluster's own repository; a repository gets its identity record "
					"when the server first archives WAL into it.");
	if (existing->system_identifier != id.system_identifier || existing->pg_major != id.pg_major)
		throw Error(ErrorKind::Conflict,
					"repository " + Describe() + " belongs to another cluster (system identifier " +
						std::to_string(existing->system_identifier) + ", PostgreSQL " +
						std::to_string(existing->pg_major) + "); this cluster is " +
						std::to_string(id.system_identifier) + ", PostgreSQL " + std::to_string(id.pg_major) +
						": point pgbk.repository at this cluster's own repository",
					existing->pg_major == id.pg_major
						? ""
						: "A cluster moved to another major version (pg_upgrade) is a new cluster: give it a "
						  "repository of its own and take a full backup there. The old repository stays "
						  "readable by pgbk list and pgbk verify, and pgbk restore --pg-version " +
							  std::to_string(existing->pg_major) + " restores its backups for PostgreSQL " +
							  std::to_string(existing->pg_major) + ".");
}

void
Repository::CheckOwner(const ClusterIdentity &id)
{
	RefuseUnlessOwnedBy(ReadIdentity(), id);
}

bool
Repository::IsRemainderOfRemoval(const std::string &label)
{
	// A removal writes the failure record first and removes it last: a prefix without
	// backup.info is pgbk's only while that record is there and reads as one.
	if (!IsBackupLabel(label))
		return false;
	try {
		json f = ParseJsonObject(GetObject(*storage_, BackupKey(label, "failed"), keyring_.get(), 1 << 20),
								 BackupKey(label, "failed"));
		return f.contains("error");
	} catch (const Error &) {
		return false;
	}
}

namespace {

// Whether the object at `key` holds exactly the bytes of the open file (read from its
// start).
bool
StoredObjectMatchesFile(Storage &storage, const std::string &key, const Keyring *keyring, int fd,
						const std::string &path, std::vector<char> &buf)
{
	Sha256 h;
	uint64_t size = 0;
	if (::lseek(fd, 0, SEEK_SET) < 0)
		ThrowErrno("could not seek \"" + path + "\"", errno);
	ReadChunks(fd, path, buf, [&](const char *data, size_t n) {
		h.Update(data, n);
		size += n;
	});
	return StoredObjectMatches(storage, key, keyring, size, h.Final());
}

} // namespace

Repository::ArchiveOutcome
Repository::ArchiveWalFile(const std::string &name, const std::string &path, const CodecOptions &codec)
{
	std::string key = WalArchiveKey(name);
	UniqueFd fd = OpenOrThrow(path, O_RDONLY);
	std::vector<char> buf(1 << 20);

	auto compare_existing = [&]() {
		if (!StoredObjectMatchesFile(*storage_, key, keyring_.get(), fd.get(), path, buf))
			throw WalContentConflict(ErrorKind::Conflict,
									 "WAL file " + name + " is already archived in " + Describe() +
										 " with different content; refusing to overwrite it. Another server with "
										 "this system identifier (a copy of this data directory, or a former "
										 "primary) is archiving into this repository");
		return ArchiveOutcome::AlreadyPresent;
	};

	if (storage_->Size(key))
		return compare_existing();

	auto w = storage_->OpenWrite(key, WriteMode::CreateOnly);
	ObjectWriter ow(*w, WithKey(codec), key);
	ReadChunks(fd.get(), path, buf, [&](const char *data, size_t n) { ow.Write(data, n); });
	ow.Finish();
	try {
		w->Commit();
	} catch (const Error &e) {
		if (e.kind() == ErrorKind::AlreadyExists)
			return compare_existing(); // raced with another archiver of the same file
		throw;
	}
	return ArchiveOutcome::Stored;
}

bool
Repository::HasWalFile(const std::string &name)
{
	return storage_->Size(WalArchiveKey(name)).has_value();
}

bool
Repository::HoldsWalFileAs(const std::string &name, const std::string &path)
{
	std::string key = WalArchiveKey(name);
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	if (fd.get() < 0 || !storage_->Size(key))
		return false;
	std::vector<char> buf(1 << 20);
	return StoredObjectMatchesFile(*storage_, key, keyring_.get(), fd.get(), path, buf);
}

bool
Repository::FetchWalFile(const std::string &name, const std::string &dest)
{
	std::string key = WalArchiveKey(name);
	std::unique_ptr<StorageReader> in;
	try {
		in = storage_->OpenRead(key);
	} catch (const Error &e) {
		if (e.kind() == ErrorKind::NotFound)
			return false;
		throw;
	}
	ObjectReader r(std::move(in), key, keyring_.get());
	std::string temp = dest + ".pgbk.tmp";
	try {
		UniqueFd fd = OpenOrThrow(temp, O_WRONLY | O_CREAT | O_TRUNC);
		std::vector<char> buf(1 << 20);
		while (size_t n = r.Read(buf.data(), buf.size()))
			WriteFully(fd.get(), buf.data(), n, temp);
		fd.Close(temp);
		if (::rename(temp.c_str(), dest.c_str()) != 0)
			ThrowErrno("could not rename \"" + temp + "\" to \"" + dest + "\"", errno);
	} catch (...) {
		::unlink(temp.c_str());
		throw;
	}
	return true;
}

TimelineSet
Repository::ReadTimelines()
{
	TimelineSet set;
	std::vector<std::string> names; // one per timeline: few
	storage_->List("wal/", false, [&](const ListEntry &e) {
		std::string name = e.key.substr(4);
		if (!e.is_prefix && ClassifyWalFileName(name) == WalFileKind::TimelineHistory)
			names.push_back(name);
	});
	for (const auto &name : names) {
		set.Add(ParseTimelineHistory(TimelineOfHistoryFileName(name),
									 GetObject(*storage_, WalArchiveKey(name), keyring_.get(), 1 << 20),
									 "wal/" + name));
	}
	return set;
}

std::string
Repository::BackupKey(const std::string &label, const std::string &leaf)
{
	return "backup/" + label + "/" + leaf;
}

std::string
Repository::BackupDataKey(const std::string &label, const std::string &path)
{
	return "backup/" + label + "/data/" + path;
}

std::string
Repository::BackupDeltaKey(const std::string &label, const std::string &path)
{
	return BackupDataKey(label, path) + "#delta";
}

std::string
Repository::BackupPartKey(const std::string &label, const std::string &path, size_t part)
{
	return BackupDataKey(label, path) + (part == 0 ? "" : "#" + std::to_string(part));
}

void
Repository::WriteBackupStart(const BackupStartInfo &info)
{
	json j = {{"format", kRepositoryFormat},
			  {"label", info.label},
			  {"type", info.type},
			  {"prior", info.prior},
			  {"started_at", info.started_at},
			  {"start_lsn", FormatLsn(info.start_lsn)},
			  {"timeline", info.timeline},
			  {"wal_start", info.wal_start},
			  {"system_identifier", std::to_string(info.cluster.system_identifier)},
			  {"pg_version_num", info.pg_version_num},
			  {"host", info.host},
			  {"pgdata", info.pgdata},
			  {"node_id", info.node_id},
			  {"standby", info.standby}};
	PutObject(*storage_, BackupKey(info.label, "backup.info"), j.dump(2) + "\n", WithKey(kMetaCodec),
			  WriteMode::CreateOnly);
}

namespace {
constexpr char kNodesPrefix[] = "nodes/";
constexpr char kExpiryMarkLeaf[] = "expiry-";
} // namespace

void
Repository::CreateRecordOnce(const std::string &key, const std::string &text)
{
	try {
		PutObject(*storage_, key, text, WithKey(kMetaCodec), WriteMode::CreateOnly);
	} catch (const Error &e) {
		if (e.kind() != ErrorKind::AlreadyExists)
			throw;
	}
}

void
Repository::RegisterNode(const NodeRecord &node)
{
	json j = {{"format", kRepositoryFormat},
			  {"id", node.id},
			  {"host", node.host},
			  {"pgdata", node.pgdata},
			  {"registered_at", node.registered_at}};
	CreateRecordOnce(std::string(kNodesPrefix) + node.id, j.dump() + "\n");
}

std::vector<NodeRecord>
Repository::ListNodes()
{
	std::vector<NodeRecord> nodes;
	storage_->List(kNodesPrefix, false, [&](const ListEntry &e) {
		if (e.is_prefix)
			return;
		try {
			json j = ParseJsonObject(GetObject(*storage_, e.key, keyring_.get(), 1 << 20), e.key);
			nodes.push_back(NodeRecord{j.at("id").get<std::string>(), j.at("host").get<std::string>(),
									   j.at("pgdata").get<std::string>(), j.value("registered_at", int64_t{0})});
		} catch (const json::exception &ex) {
			throw Error(ErrorKind::Corrupt, e.key + " is damaged: " + ex.what());
		}
	});
	std::sort(nodes.begin(), nodes.end(), [](const NodeRecord &a, const NodeRecord &b) { return a.id < b.id; });
	return nodes;
}

void
Repository::MarkForExpiry(const std::string &label, const ExpiryMark &mark)
{
	json j = {{"format", kRepositoryFormat}, {"label", label},       {"marked_at", mark.marked_at},
			  {"node_id", mark.node_id},     {"node", mark.node},    {"timeline", mark.timeline},
			  {"lsn", FormatLsn(mark.lsn)},  {"reason", mark.reason}};
	char stamp[24];
	std::snprintf(stamp, sizeof stamp, "%010lld", static_cast<long long>(mark.marked_at));
	CreateRecordOnce(BackupKey(label, std::string(kExpiryMarkLeaf) + stamp + "-" + mark.node_id), j.dump() + "\n");
}

void
Repository::KeepBackup(const std::string &label, int64_t when, const std::string &by)
{
	json j = {{"format", kRepositoryFormat}, {"label", label}, {"kept_at", when}, {"by", by}};
	CreateRecordOnce(BackupKey(label, "keep"), j.dump() + "\n");
}

void
Repository::WriteBackupLease(const std::string &label, const std::string &holder, int64_t expires_at, int64_t term)
{
	json j = {{"format", kRepositoryFormat},
			  {"label", label},
			  {"holder", holder},
			  {"expires_at", expires_at},
			  {"term", term}};
	PutObject(*storage_, BackupKey(label, "lease"), j.dump() + "\n", WithKey(kMetaCodec), WriteMode::Replace);
}

void
Repository::WriteBackupComplete(const std::string &label, const BackupStopInfo &stop, const ManifestTotals &totals,
								const ObjectSummary &manifest)
{
	json j = {{"format", kRepositoryFormat},
			  {"label", label},
			  {"stop_lsn", FormatLsn(stop.stop_lsn)},
			  {"stop_timeline", stop.timeline},
			  {"wal_stop", stop.wal_stop},
			  {"finished_at", stop.finished_at},
			  {"stop_time_us", stop.stop_time_us},
			  {"next_xid", std::to_string(stop.next_xid)},
			  {"files", totals.files},
			  {"database_bytes", totals.database_bytes},
			  {"stored_bytes", totals.stored_bytes},
			  {"bad_blocks", totals.bad_blocks},
			  {"manifest_sha256", ToHex(manifest.sha256)},
			  {"manifest_size", manifest.raw_size}};
	PutObject(*storage_, BackupKey(label, "complete"), j.dump(2) + "\n", WithKey(kMetaCodec), WriteMode::CreateOnly);
}

void
Repository::MarkBackupFailed(const std::string &label, const std::string &error, int64_t when)
{
	json j = {{"format", kRepositoryFormat}, {"label", label}, {"error", error}, {"failed_at", when}};
	PutObject(*storage_, BackupKey(label, "failed"), j.dump(2) + "\n", WithKey(kMetaCodec), WriteMode::Replace);
}

void
Repository::RemoveBackupData(const std::string &label)
{
	storage_->RemovePrefix(BackupKey(label, "data/"));
	storage_->Remove(BackupKey(label, "manifest"));
}

void
Repository::RemoveBackup(const std::string &label, const std::string &reason, int64_t when)
{
	try {
		MarkBackupFailed(label, reason, when);
		storage_->Remove(BackupKey(label, "complete"));
		RemoveBackupData(label);
	} catch (const Error &) {
		// A full repository cannot take the failure record, and deletion must still free
		// it. Without the record the completion marker goes first: a crash then leaves
		// a backup that is never complete (interrupted), not one that looks restorable.
		// The data frees the space the record then needs.
		storage_->Remove(BackupKey(label, "complete"));
		RemoveBackupData(label);
		MarkBackupFailed(label, reason, when);
	}
	storage_->Remove(BackupKey(label, "backup.info"));
	// Anything else under the prefix (a newer pgbk's objects), the failure record last.
	BatchRemover rm(*storage_);
	std::string failed = BackupKey(label, "failed");
	storage_->List(BackupKey(label, ""), true, [&](const ListEntry &e) {
		if (e.key != failed)
			rm.Add(e.key);
	});
	rm.Flush();
	storage_->Remove(failed);
}

uint64_t
Repository::RemoveWalBefore(uint64_t segno, uint64_t segment_size, std::string *first, std::string *last)
{
	uint64_t removed = 0;
	std::string lowest, highest;
	// wal/<timeline><log>/ holds segments log * per_id ... (log + 1) * per_id - 1.
	std::vector<std::string> dirs;
	storage_->List("wal/", false, [&](const ListEntry &e) {
		if (!e.is_prefix || e.key.size() != 4 + 16 + 1)
			return;
		auto seg = ParseWalSegmentName(e.key.substr(4, 16) + "00000000", segment_size);
		if (seg && seg->segno < segno)
			dirs.push_back(e.key);
	});
	for (const auto &dir : dirs) {
		BatchRemover rm(*storage_);
		storage_->List(dir, true, [&](const ListEntry &e) {
			std::string name = e.key.substr(dir.size());
			auto seg = ParseWalSegmentName(name, segment_size);
			if (!seg || seg->segno >= segno)
				return;
			if (lowest.empty() || name < lowest)
				lowest = name;
			if (name > highest)
				highest = name;
			rm.Add(e.key);
			removed++;
		});
		rm.Flush();
	}
	if (first)
		*first = lowest;
	if (last)
		*last = highest;
	return removed;
}

std::optional<BackupRecord>
Repository::ReadBackup(const std::string &label)
{
	BackupRecord b;
	b.label = label;
	// One listing of the backup's own objects (its data is one common prefix) answers
	// which records exist: one request on S3 where a probe per record took four.
	std::string prefix = BackupKey(label, "");
	std::set<std::string> leaves;
	std::vector<std::string> mark_keys;
	storage_->List(prefix, false, [&](const ListEntry &e) {
		if (e.is_prefix)
			return;
		std::string leaf = e.key.substr(prefix.size());
		leaves.insert(leaf);
		if (leaf == "lease")
			b.lease_written_at = e.modified;
		if (leaf.rfind(kExpiryMarkLeaf, 0) == 0)
			mark_keys.push_back(e.key);
	});
	std::string info_key = BackupKey(label, "backup.info");
	if (!leaves.count("backup.info"))
		return std::nullopt;
	try {
		json s = ParseJsonObject(GetObject(*storage_, info_key, keyring_.get(), 1 << 20, &b.key_id), info_key);
		b.type = s.at("type").get<std::string>();
		b.prior = s.value("prior", "");
		b.started_at = s.at("started_at").get<int64_t>();
		b.start_lsn = ParseLsn(s.at("start_lsn").get<std::string>());
		b.timeline = s.at("timeline").get<uint32_t>();
		b.wal_start = s.at("wal_start").get<std::string>();
		auto system_identifier = ParseDecimal(s.at("system_identifier").get<std::string>());
		if (!system_identifier)
			throw Error(ErrorKind::Corrupt, info_key + " is damaged: system_identifier is not a decimal number");
		b.system_identifier = *system_identifier;
		b.pg_version_num = s.at("pg_version_num").get<int>();
		b.host = s.value("host", "");
		b.pgdata = s.value("pgdata", "");
		b.node_id = s.value("node_id", "");
		b.standby = s.value("standby", false);
	} catch (const json::exception &e) {
		throw Error(ErrorKind::Corrupt, info_key + " is damaged: " + e.what());
	}
	std::string complete_key = BackupKey(label, "complete");
	std::string failed_key = BackupKey(label, "failed");
	// A failure record wins over a completion marker, in every reader: a holder that lost
	// its lease (stalled past it while another node marked the backup failed and removed
	// its data) may still write the marker on waking.
	if (leaves.count("failed")) {
		b.status = BackupStatus::Failed;
		try {
			json f = ParseJsonObject(GetObject(*storage_, failed_key, keyring_.get(), 1 << 20), failed_key);
			b.error = f.value("error", "");
			b.finished_at = f.value("failed_at", int64_t{0});
		} catch (const std::exception &e) {
			b.error = std::string("failure record is damaged: ") + e.what();
		}
	} else if (leaves.count("complete")) {
		try {
			json c = ParseJsonObject(GetObject(*storage_, complete_key, keyring_.get(), 1 << 20), complete_key);
			b.stop_lsn = ParseLsn(c.at("stop_lsn").get<std::string>());
			b.wal_stop = c.at("wal_stop").get<std::string>();
			b.finished_at = c.at("finished_at").get<int64_t>();
			b.stop_time_us = c.value("stop_time_us", int64_t{0});
			auto next_xid = ParseDecimal(c.value("next_xid", std::string("0")));
			if (!next_xid)
				throw Error(ErrorKind::Corrupt, "next_xid is not a decimal number");
			b.next_xid = *next_xid;
			b.files = c.at("files").get<uint64_t>();
			b.database_bytes = c.at("database_bytes").get<uint64_t>();
			b.stored_bytes = c.at("stored_bytes").get<uint64_t>();
			b.bad_blocks = c.value("bad_blocks", uint64_t{0});
			b.manifest_sha256 = c.at("manifest_sha256").get<std::string>();
			b.status = BackupStatus::Complete;
		} catch (const json::exception &e) {
			b.status = BackupStatus::Failed;
			b.error = "completion marker is damaged: " + std::string(e.what());
		} catch (const Error &e) {
			b.status = BackupStatus::Failed;
			b.error = std::string("completion marker is damaged: ") + e.what();
		}
	} else if (std::string lease_key = BackupKey(label, "lease"); leaves.count("lease")) {
		try {
			json l = ParseJsonObject(GetObject(*storage_, lease_key, keyring_.get(), 1 << 20), lease_key);
			b.lease_expires_at = l.at("expires_at").get<int64_t>();
			b.lease_holder = l.value("holder", "");
			b.lease_term = l.value("term", int64_t{0});
			// The store's time, just after the listing that gave the lease's write time.
			b.store_now = storage_->StoreNow().value_or(0);
		} catch (const std::exception &) {
			// A damaged lease is no lease: the backup counts as still being taken.
		}
	}
	b.kept = leaves.count("keep") > 0;
	for (const auto &key : mark_keys) {
		try {
			json m = ParseJsonObject(GetObject(*storage_, key, keyring_.get(), 1 << 20), key);
			ExpiryMark mark;
			mark.marked_at = m.at("marked_at").get<int64_t>();
			mark.node_id = m.value("node_id", "");
			mark.node = m.value("node", "");
			mark.timeline = m.at("timeline").get<uint32_t>();
			mark.lsn = ParseLsn(m.at("lsn").get<std::string>());
			mark.reason = m.value("reason", "");
			b.expiry_marks.push_back(std::move(mark));
		} catch (const std::exception &) {
			// A damaged mark marks nothing: the backup stays until a readable one ages.
		}
	}
	std::sort(b.expiry_marks.begin(), b.expiry_marks.end(),
			  [](const ExpiryMark &x, const ExpiryMark &y) { return x.marked_at < y.marked_at; });
	return b;
}

std::vector<BackupRecord>
Repository::ListBackups(std::vector<std::string> *orphans)
{
	std::vector<BackupRecord> out;
	storage_->List("backup/", false, [&](const ListEntry &e) {
		if (!e.is_prefix)
			return;
		std::string label = e.key.substr(7, e.key.size() - 8);
		if (auto b = ReadBackup(label))
			out.push_back(std::move(*b));
		else if (orphans)
			orphans->push_back(label);
	});
	// By position in WAL, not by the taking nodes' clocks: along one line of timelines
	// LSNs only grow, so a node whose clock is slow never sorts its backup before its
	// prior (where retention would count it older). Backups that start at the same point
	// (a quiet standby's, at one restartpoint) go by where they stopped, then by clock.
	std::sort(out.begin(), out.end(), [](const BackupRecord &a, const BackupRecord &b) {
		return std::tie(a.start_lsn, a.stop_lsn, a.started_at, a.label) <
			   std::tie(b.start_lsn, b.stop_lsn, b.started_at, b.label);
	});
	return out;
}

ManifestTotals
Repository::ReadManifest(const BackupRecord &b, const std::function<void(const ManifestHeader &)> &on_header,
						 const std::function<void(const ManifestEntry &)> &on_entry)
{
	if (b.status != BackupStatus::Complete)
		throw Error(ErrorKind::Config, "backup " + b.label + " is not complete");
	std::string key = BackupKey(b.label, "manifest");
	std::unique_ptr<StorageReader> in;
	try {
		in = storage_->OpenRead(key);
	} catch (const Error &e) {
		if (e.kind() == ErrorKind::NotFound)
			throw Error(ErrorKind::Corrupt,
						"backup " + b.label + " has a completion marker but no manifest (" + key + ")");
		throw;
	}
	ObjectReader r(std::move(in), key, keyring_.get());
	ManifestParser p;
	p.on_header = on_header;
	p.on_entry = on_entry;
	std::vector<char> buf(256 * 1024);
	while (size_t n = r.Read(buf.data(), buf.size()))
		p.Feed(buf.data(), n);
	ManifestTotals t = p.Finish();
	if (ToHex(r.Summary().sha256) != b.manifest_sha256)
		throw Error(ErrorKind::Corrupt, "manifest of backup " + b.label + " does not match its completion marker");
	return t;
}

ManifestHeader
Repository::ReadManifestHeader(const BackupRecord &b)
{
	std::string key = BackupKey(b.label, "manifest");
	ObjectReader r(storage_->OpenRead(key), key, keyring_.get());
	ManifestParser p;
	std::optional<ManifestHeader> header;
	p.on_header = [&](const ManifestHeader &h) { header = h; };
	std::vector<char> buf(64 * 1024);
	while (!header)
		if (size_t n = r.Read(buf.data(), buf.size()))
			p.Feed(buf.data(), n);
		else
			throw Error(ErrorKind::Corrupt, "manifest of backup " + b.label + " has no header");
	return *header;
}

void
ForEachBackupWalSegment(const BackupRecord &b, uint64_t segment_size,
						const std::function<void(const std::string &)> &fn)
{
	auto first = ParseWalSegmentName(b.wal_start, segment_size), last = ParseWalSegmentName(b.wal_stop, segment_size);
	if (!first || !last || first->timeline != last->timeline || last->segno < first->segno)
		throw Error(ErrorKind::Corrupt, "backup " + b.label + " has no valid WAL range (\"" + b.wal_start + "\" to \"" +
											b.wal_stop + "\")");
	for (uint64_t seg = first->segno; seg <= last->segno; seg++)
		fn(WalSegmentName(WalSegment{first->timeline, seg}, segment_size));
}

std::shared_ptr<const Keyring>
KeyringOf(const settings::Values &values)
{
	using settings::Id;
	return Keyring::Load(values.Text(Id("pgbk.encryption_key_file")),
						 SplitKeyFileList(values.Text(Id("pgbk.encryption_keyring"))));
}

CodecOptions
CodecOf(const settings::Values &values)
{
	CodecOptions codec;
	codec.codec = values.Text(settings::Id("pgbk.compression")) == "none" ? Codec::None : Codec::Zstd;
	codec.level = static_cast<int>(values.Integer(settings::Id("pgbk.compression_level")));
	return codec;
}

std::unique_ptr<Repository>
OpenRepository(const RepositoryLocation &location, const settings::Values &values, const StorageOpenOptions &options)
{
	auto repo = std::make_unique<Repository>(OpenStorage(location, values, options), KeyringOf(values));
	repo->set_local_directory(location.driver->LocalDirectory(location));
	return repo;
}

std::unique_ptr<Repository>
OpenRepository(const settings::Values &values, const std::string &data_directory, const StorageOpenOptions &options)
{
	return OpenRepository(ParseRepositoryLocation(values.Text(settings::Id("pgbk.repository")), data_directory), values,
						  options);
}

std::string
MakeBackupLabel(int64_t unix_seconds, BackupType type)
{
	return MakeLabel(unix_seconds, RulesOf(type).label_suffix);
}

std::string
MakeLabel(int64_t unix_seconds, char suffix)
{
	time_t t = static_cast<time_t>(unix_seconds);
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[32];
	std::strftime(buf, sizeof buf, "%Y%m%d-%H%M%S", &tm);
	return std::string(buf) + suffix;
}

} // namespace pgbk

namespace pgbk {

bool
IsBackupLabel(const std::string &label)
{
	if (label.size() != 16 || label[8] != '-')
		return false;
	for (size_t i = 0; i < 15; i++)
		if (i != 8 && (label[i] < '0' || label[i] > '9'))
			return false;
	for (const auto &t : kBackupTypes)
		if (label[15] == t.label_suffix)
			return true;
	return false;
}

std::string
NextBackupLabel(int64_t now, const std::string &last, BackupType type)
{
	return NextLabel(now, last, RulesOf(type).label_suffix);
}

std::string
NextLabel(int64_t now, const std::string &last, char suffix)
{
	int64_t t = now;
	struct tm tm {};
	if (last.size() >= 15 && strptime(last.substr(0, 15).c_str(), "%Y%m%d-%H%M%S", &tm) != nullptr) {
		int64_t last_t = static_cast<int64_t>(timegm(&tm));
		if (t <= last_t)
			t = last_t + 1;
	}
	return MakeLabel(t, suffix);
}

// What opening the repository reads, beside the opening.
namespace settings {

std::string
RepositorySignature(const Values &values)
{
	std::string sig;
	for (size_t i = 0; i < kCount; i++)
		if (kDefinitions[i].flags & kOpensRepository)
			sig += std::string(kDefinitions[i].name) + "=" + values.Text(i) + "\n";
	std::vector<std::string> files = SplitKeyFileList(values.Text(Id("pgbk.encryption_keyring")));
	if (const std::string &key = values.Text(Id("pgbk.encryption_key_file")); !key.empty())
		files.insert(files.begin(), key);
	for (const auto &f : files) {
		struct stat st;
		sig += f + "@";
		if (::stat(f.c_str(), &st) == 0)
			sig += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "." +
				   std::to_string(st.st_ino);
		sig += "\n";
	}
	return sig;
}

} // namespace settings

} // namespace pgbk
