// Backup records (backup/<label>/backup.info and its completion marker), read by list,
// restore, expiry and the worker from a repository others may write to.
#include "pgbk/object.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/storage.hpp"

#include "fuzz.hpp"

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static auto storage = pgbk::OpenLocalStorage(pgbk::fuzz::ScratchDirectory() + "/repo");
	static pgbk::Repository repo(pgbk::OpenLocalStorage(pgbk::fuzz::ScratchDirectory() + "/repo"));
	const std::string label = "20260101-000000F";
	std::string text = pgbk::fuzz::Bytes(data, size);
	// Up to the first NUL byte the record, after it the completion marker (absent without one).
	size_t split = text.find('\0');
	pgbk::PutObject(*storage, pgbk::Repository::BackupKey(label, "backup.info"), text.substr(0, split),
					pgbk::CodecOptions{pgbk::Codec::None}, pgbk::WriteMode::Replace);
	if (split == std::string::npos)
		storage->Remove(pgbk::Repository::BackupKey(label, "complete"));
	else
		pgbk::PutObject(*storage, pgbk::Repository::BackupKey(label, "complete"), text.substr(split + 1),
						pgbk::CodecOptions{pgbk::Codec::None}, pgbk::WriteMode::Replace);
	pgbk::fuzz::RefusesOnlyWithPgbkErrors([&] { repo.ReadBackup(label); });
	pgbk::fuzz::RefusesOnlyWithPgbkErrors([&] { repo.ListBackups(); });
	return 0;
}
