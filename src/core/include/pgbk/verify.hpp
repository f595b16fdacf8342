// Verification of backups and the WAL they need (pgbk verify, pgbk_verify()): every
// object of the backup is re-read from the repository, decompressed and checked against
// the manifest (size and SHA-256, so damage, truncation and an object copied over from
// another backup are all caught), the manifest against the completion marker, and the
// WAL from the backup's start to its stop for gaps and damage.
#pragma once
#include "pgbk/repository.hpp"

#include <functional>
#include <string>
#include <vector>

namespace pgbk {

struct VerifyProblem {
	std::string label; // backup
	std::string object; // repository key (or "manifest", "complete")
	std::string problem;
};

struct VerifyOptions {
	int parallel = 2;
};

// The backups to verify: the one labelled (NotFound listing the available labels if
// there is none), or every complete backup when label is empty.
std::vector<BackupRecord> SelectBackupsToVerify(Repository &repo, const std::string &label);

// How many of a backup's objects (its files, manifest and WAL) one key encrypts.
struct VerifyKeyUse {
	std::string key_id;
	uint64_t objects = 0;
	bool current = false; // the key new objects are written with
};

struct VerifyResult {
	size_t problems = 0;
	std::vector<VerifyKeyUse> keys; // empty for a plaintext repository
	// Keys other than the current one that this backup still needs, for messages.
	std::string OldKeys() const;
};

// Reports each problem through `report` (called on the calling thread) and counts them.
// No problem means the backup is intact and restorable.
VerifyResult VerifyBackup(Repository &repo, const BackupRecord &backup, const VerifyOptions &opts,
						  const std::function<void(const VerifyProblem &)> &report);

} // namespace pgbk
