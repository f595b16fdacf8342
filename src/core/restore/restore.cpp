// Restore of a complete backup into an empty directory (or, with --delta, over an
// existing copy). RestoreBackup reads as its phases; the file writers, the --delta walk
// and the recovery configuration are files of their own in this folder.
#include "restore_internal.hpp"

#include "pgbk/backup.hpp"
#include "pgbk/fileio.hpp"
#include "pgbk/parallel.hpp"

#include <cerrno>
#include <cstdlib>
#include <dirent.h>
#include <unistd.h>

namespace pgbk {
namespace restore {

void
MakeDir(const std::string &path, mode_t mode)
{
	if (::mkdir(path.c_str(), mode) != 0 && errno != EEXIST)
		ThrowErrno("could not create directory \"" + path + "\"", errno);
	::chmod(path.c_str(), mode);
}

bool
DirectoryIsEmptyOrMissing(const std::string &path)
{
	DIR *d = ::opendir(path.c_str());
	if (d == nullptr)
		return errno == ENOENT;
	bool empty = true;
	while (struct dirent *e = ::readdir(d)) {
		if (std::string(e->d_name) != "." && std::string(e->d_name) != "..") {
			empty = false;
			break;
		}
	}
	::closedir(d);
	return empty;
}

std::unique_ptr<ObjectReader>
RestoreState::OpenObject(const std::string &key)
{
	try {
		return repo.OpenObject(key);
	} catch (const Error &e) {
		if (e.kind() == ErrorKind::NotFound)
			throw Error(ErrorKind::Corrupt, "backup " + backup.label + " needs object " + key + ", which is missing");
		throw;
	}
}

void
RestoreState::Report()
{
	if (!progress)
		return;
	RestoreProgress p;
	p.total_bytes = backup.database_bytes;
	p.total_files = backup.files;
	p.bytes = bytes;
	p.files = files;
	progress(p);
}

RestoreResult
RestoreState::Result() const
{
	RestoreResult r;
	r.backup = backup;
	r.files = files;
	r.bytes = bytes;
	r.kept_files = kept_files;
	r.kept_bytes = kept_bytes;
	r.removed = removed;
	return r;
}

namespace {

// An empty or missing directory; for --delta an existing one with no server running.
void
CheckTargetDirectory(const RestoreOptions &opts)
{
	if (opts.pgdata.empty() || opts.pgdata[0] != '/')
		throw Error(ErrorKind::Config, "--pgdata must be an absolute path");
	if (!opts.delta) {
		if (!DirectoryIsEmptyOrMissing(opts.pgdata))
			throw Error(ErrorKind::Config, "directory \"" + opts.pgdata +
											   "\" is not empty; restore needs an empty or missing directory (or "
											   "--delta to update an existing copy in place)");
		return;
	}
	struct stat st;
	if (::stat(opts.pgdata.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
		throw Error(ErrorKind::Config, "--delta needs an existing data directory; \"" + opts.pgdata +
										   "\" is not one (restore without --delta into a new directory)");
	if (::access((opts.pgdata + "/postmaster.pid").c_str(), F_OK) == 0)
		throw Error(ErrorKind::Config, "\"" + opts.pgdata +
										   "/postmaster.pid\" exists: stop the server first (pg_ctl stop); if no "
										   "server is running, remove the stale file");
}

// The backup's major version against the one that will start it: said with --pg-version,
// and, for --delta, the target directory's own PG_VERSION.
void
CheckServerVersion(const RestoreOptions &opts, const BackupRecord &backup)
{
	int backup_major = backup.pg_version_num / 10000;
	if (backup_major == 0)
		return; // not recorded: nothing to compare
	if (opts.pg_major != 0 && opts.pg_major != backup_major)
		throw Error(ErrorKind::Config,
					"backup " + backup.label + " was taken by PostgreSQL " + std::to_string(backup_major) +
						", and PostgreSQL " + std::to_string(opts.pg_major) +
						" (--pg-version) cannot start it: no server reads another major version's files",
					"Restore it with --pg-version " + std::to_string(backup_major) + " and start it with PostgreSQL " +
						std::to_string(backup_major) + "'s programs (pg_upgrade can then move the copy to " +
						std::to_string(opts.pg_major) + "), or choose a backup taken by PostgreSQL " +
						std::to_string(opts.pg_major) + " (pgbk list shows each backup's version).");
	if (!opts.delta)
		return;
	std::string version_file = opts.pgdata + "/PG_VERSION";
	if (::access(version_file.c_str(), F_OK) != 0)
		return; // not a data directory yet: the restore makes it one
	int target_major = std::atoi(ReadSmallFile(version_file, 64).c_str());
	if (target_major != backup_major)
		throw Error(ErrorKind::Config,
					"--delta: \"" + opts.pgdata + "\" is a PostgreSQL " + std::to_string(target_major) +
						" data directory (its PG_VERSION), and backup " + backup.label + " was taken by PostgreSQL " +
						std::to_string(backup_major) +
						": a delta restore only updates a copy of the same major version",
					"Restore into an empty directory instead (without --delta).");
}

// Creates the directory. --delta, first of all: a delta restore stopped half-way must
// not look startable, so pg_control goes before anything else changes.
void
PrepareTargetDirectory(RestoreState &state)
{
	MakeDir(state.opts.pgdata, 0700);
	if (!state.opts.delta)
		return;
	std::string control = state.PathOf("global/pg_control");
	if (::unlink(control.c_str()) != 0 && errno != ENOENT)
		ThrowErrno("could not remove \"" + control + "\"", errno);
	SyncFileSystem(state.opts.pgdata);
	state.local = std::make_unique<LocalTree>(state.opts.pgdata);
}

// A link as the original cluster had it. A tablespace's (pg_tblspc/<oid>) gets its
// directory made (never its parents) and its files written through it; --delta keeps the
// same link (its files are compared like the rest) and replaces one pointing elsewhere.
// Any other link (a log directory, a certificate file elsewhere) is only made again, as
// pg_basebackup does: nothing is written through it (the manifest reader refuses entries
// behind it).
void
RestoreLink(RestoreState &state, const ManifestEntry &e, bool exists)
{
	std::string path = state.PathOf(e.path);
	if (!IsTablespaceLinkPath(e.path)) {
		if (exists)
			RemoveTree(path);
		if (::symlink(e.link_target.c_str(), path.c_str()) != 0)
			ThrowErrno("could not create symbolic link \"" + path + "\"", errno);
		return;
	}
	if (exists) {
		std::vector<char> target(4096);
		ssize_t n = ::readlink(path.c_str(), target.data(), target.size() - 1);
		if (n > 0 && std::string(target.data(), static_cast<size_t>(n)) == e.link_target) {
			state.tablespace_targets.push_back(e.link_target);
			return;
		}
		RemoveTree(path);
	}
	// The target directory must be empty: it is made again, then the link.
	if (!DirectoryIsEmptyOrMissing(e.link_target))
		throw Error(ErrorKind::Config, "tablespace directory \"" + e.link_target +
										   "\" is not empty; remove it or restore on another machine");
	MakeDir(e.link_target, 0700);
	state.tablespace_targets.push_back(e.link_target);
	if (::symlink(e.link_target.c_str(), path.c_str()) != 0)
		ThrowErrno("could not create symbolic link \"" + path + "\"", errno);
}

// The jobs of a file: one rebuild from deltas, one whole object, or one per stored part.
// pg_control is kept for last.
void
QueueFile(RestoreState &state, ParallelRunner<FileJob> &runner, const ManifestEntry &e,
		  const std::optional<struct stat> &existing)
{
	FileJob base;
	base.path = e.path;
	base.mode = e.mode;
	base.mtime = e.mtime;
	base.size = e.size;
	base.sha256 = e.sha256;
	base.label = e.BaseLabel(state.backup.label);
	if (e.path == "global/pg_control") {
		state.control = base;
		return;
	}
	bool is_file = existing && S_ISREG(existing->st_mode);
	if (is_file && static_cast<uint64_t>(existing->st_size) > e.size &&
		::truncate(state.PathOf(e.path).c_str(), static_cast<off_t>(e.size)) != 0)
		ThrowErrno("could not truncate \"" + state.PathOf(e.path) + "\"", errno);
	base.existing = is_file;
	std::vector<FileJob> jobs;
	if (!e.deltas.empty()) {
		base.recipe = std::make_shared<const ManifestEntry>(e);
		jobs.push_back(base);
	} else if (e.parts.empty())
		jobs.push_back(base);
	for (size_t k = 0, offset = 0; e.deltas.empty() && k < e.parts.size(); offset += e.parts[k].size, k++) {
		FileJob j = base;
		j.size = e.parts[k].size;
		j.sha256 = e.parts[k].sha256;
		j.part = k;
		j.offset = offset;
		jobs.push_back(std::move(j));
	}
	for (auto &j : jobs)
		runner.Submit(std::move(j), [&] { state.Report(); });
	state.Report();
}

// One manifest entry: a directory or link made now, a file queued to the threads.
// --delta: whatever is in the way by that name (of another type) goes first.
void
RestoreEntry(RestoreState &state, ParallelRunner<FileJob> &runner, const ManifestEntry &e)
{
	std::string path = state.PathOf(e.path);
	std::optional<struct stat> have = MatchExisting(state, e.path);
	bool is_dir = have && S_ISDIR(have->st_mode), is_file = have && S_ISREG(have->st_mode);
	struct stat target;
	if (have && S_ISLNK(have->st_mode) && e.path == "pg_wal" && ::stat(path.c_str(), &target) == 0 &&
		S_ISDIR(target.st_mode))
		is_dir = true; // --delta keeps WAL on its other disk (its content is still cleaned)
	bool is_link = have && S_ISLNK(have->st_mode);
	if (have &&
		!((e.type == ManifestEntry::Type::Directory && is_dir) || (e.type == ManifestEntry::Type::File && is_file) ||
		  (e.type == ManifestEntry::Type::Link && is_link))) {
		RemoveTree(path);
		have.reset();
	}
	switch (e.type) {
	case ManifestEntry::Type::Directory:
		MakeDir(path, static_cast<mode_t>(e.mode & 07777));
		break;
	case ManifestEntry::Type::Link:
		RestoreLink(state, e, have.has_value());
		break;
	case ManifestEntry::Type::File:
		QueueFile(state, runner, e, have);
		break;
	}
}

// Walks the manifest: directories and links are made as they come, files are written by
// opts.parallel threads; --delta removes what the backup does not have.
void
RestoreEntries(RestoreState &state)
{
	ParallelRunner<FileJob> runner(state.opts.parallel, 64, [&state](const FileJob &j, const std::atomic<bool> &stop) {
		RestoreFile(state, j, stop);
	});
	state.repo.ReadManifest(
		state.backup,
		[&](const ManifestHeader &h) {
			state.segment_size = h.segment_size;
			state.pg_version_num = h.pg_version_num;
			state.start_lsn = h.start_lsn;
			state.mixed_nodes = h.mixed_nodes;
		},
		[&](const ManifestEntry &e) {
			// An older backup of a standby carries standby.signal, and older backups
			// pgbk.node: the restore writes the signal its own mode needs
			// (WriteRecoveryConfiguration) and the copy makes its own identity; --delta
			// removes the target's like anything else the backup does not have.
			if (!IsNodeLocalFile(e.path))
				RestoreEntry(state, runner, e);
		});
	runner.Finish([&] { state.Report(); });
	MatchExisting(state, ""); // --delta: whatever is left after the last entry goes too
	if (!state.control)
		throw Error(ErrorKind::Corrupt, "backup " + state.backup.label + " has no global/pg_control");
}

// The WAL from the backup's start to its stop must all be there, or recovery can never
// make the restored files consistent.
void
CheckWalRange(RestoreState &state)
{
	ForEachBackupWalSegment(state.backup, state.segment_size, [&](const std::string &name) {
		if (!state.repo.HasWalFile(name))
			throw Error(ErrorKind::Corrupt, "WAL segment " + name + " needed by backup " + state.backup.label +
												" is missing from " + state.repo.Describe() + "; run pgbk verify");
	});
}

// Everything else durable first (tablespaces may live on other file systems), then
// pg_control: a crash in between leaves a directory PostgreSQL refuses to start.
void
WriteControlFileLast(RestoreState &state)
{
	SyncFileSystem(state.opts.pgdata);
	for (const auto &ts : state.tablespace_targets)
		SyncFileSystem(ts);
	std::atomic<bool> no_stop{false};
	RestoreFile(state, *state.control, no_stop);
	SyncFileSystem(state.opts.pgdata);
	state.Report();
}

} // namespace
} // namespace restore

std::string
QuoteConfValue(const std::string &v)
{
	std::string out = "'";
	for (char c : v) {
		if (c == '\'')
			out += "''";
		else
			out += c;
	}
	return out + "'";
}

std::string
ShellQuote(const std::string &v)
{
	std::string out = "'";
	for (char c : v) {
		if (c == '\'')
			out += "'\\''";
		else
			out += c;
	}
	return out + "'";
}

BackupRecord
SelectBackup(Repository &repo, const std::string &label)
{
	return SelectBackup(repo.ListBackups(), label, repo.Describe());
}

BackupRecord
SelectBackup(const std::vector<BackupRecord> &all, const std::string &label, const std::string &where)
{
	std::string available;
	const BackupRecord *pick = nullptr;
	for (auto &b : all) {
		if (b.status != BackupStatus::Complete)
			continue;
		available += (available.empty() ? "" : ", ") + b.label;
		if (label.empty()) {
			// Newest by consistency point: stop time, then stop LSN.
			if (pick == nullptr || b.finished_at > pick->finished_at ||
				(b.finished_at == pick->finished_at && b.stop_lsn > pick->stop_lsn))
				pick = &b;
		} else if (b.label == label)
			pick = &b;
	}
	if (pick == nullptr) {
		if (available.empty())
			throw Error(ErrorKind::NotFound, "repository " + where + " holds no complete backup");
		throw Error(ErrorKind::NotFound,
					"no complete backup \"" + label + "\" in " + where + "; available: " + available);
	}
	return *pick;
}

RestoreResult
RestoreBackup(Repository &repo, const RestoreOptions &opts,
			  const std::function<void(const RestoreProgress &)> &progress)
{
	using namespace restore;
	CheckTargetDirectory(opts);
	BackupRecord backup = opts.backup ? *opts.backup : SelectBackup(repo, opts.label);
	CheckServerVersion(opts, backup);
	RestoreState state(repo, opts, backup, progress);
	PrepareTargetDirectory(state);
	RestoreEntries(state);
	CheckWalRange(state);
	WriteRecoveryConfiguration(state);
	WriteControlFileLast(state);
	return state.Result();
}

} // namespace pgbk
