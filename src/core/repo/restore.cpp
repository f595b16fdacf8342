#include "pgbk/restore.hpp"

#include "pgbk/backup.hpp"
#include "pgbk/fileio.hpp"
#include "pgbk/page.hpp"
#include "pgbk/parallel.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <set>
#include <atomic>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <cstring>
#include <sys/time.h>
#include <unistd.h>
#include <vector>

namespace pgbk {
namespace {

constexpr uint64_t kFlushAfter = 8 << 20;
// The chunk a file rebuilt from page deltas is assembled, hashed and written in.
constexpr size_t kRecipeChunk = 256 * 1024;

// Reads until len bytes or the end of the object; returns how many were read.
size_t
ReadUpTo(ObjectReader &r, void *out, size_t len)
{
	size_t got = 0;
	while (got < len) {
		size_t n = r.Read(static_cast<char *>(out) + got, len - got);
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

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

void
AppendToFile(const std::string &path, const std::string &text)
{
	UniqueFd fd = OpenOrThrow(path, O_WRONLY | O_CREAT | O_APPEND);
	WriteFully(fd.get(), text.data(), text.size(), path);
	if (::fsync(fd.get()) != 0)
		ThrowErrno("could not fsync \"" + path + "\"", errno);
	fd.Close(path);
}

// The entries of an existing data directory in the manifest's walk order (depth first,
// names in byte order), one directory listing in memory at a time. Links are not
// followed, except a tablespace link (pg_tblspc/<oid>) and a pg_wal link (WAL on another
// disk), whose targets are walked as the backup walked them.
class LocalTree {
public:
	explicit LocalTree(std::string root) : root_(std::move(root)) { Push(""); }
	// The current entry (relative path), or false at the end.
	bool
	Current(std::string *rel, struct stat *st)
	{
		Settle();
		if (stack_.empty())
			return false;
		*rel = cur_;
		*st = cur_st_;
		return true;
	}
	// Moves past the current entry; with descend, into it when it is a directory.
	void
	Advance(bool descend)
	{
		Settle();
		if (stack_.empty())
			return;
		bool dir = S_ISDIR(cur_st_.st_mode) || (S_ISLNK(cur_st_.st_mode) && IsFollowedLink(cur_));
		std::string rel = cur_;
		stack_.back().next++;
		settled_ = false;
		if (descend && dir)
			Push(rel);
	}

private:
	struct Frame {
		std::string dir;
		std::vector<std::string> names;
		size_t next = 0;
	};
	static bool
	IsFollowedLink(const std::string &rel)
	{
		return rel == "pg_wal" || (rel.rfind("pg_tblspc/", 0) == 0 && rel.find('/', 10) == std::string::npos);
	}
	void
	Push(const std::string &rel)
	{
		Frame f;
		f.dir = rel;
		std::string path = rel.empty() ? root_ : root_ + "/" + rel;
		if (!ListDirectory(path, &f.names))
			ThrowErrno("could not open directory \"" + path + "\"", ENOENT);
		std::sort(f.names.begin(), f.names.end());
		stack_.push_back(std::move(f));
		settled_ = false;
	}
	void
	Settle()
	{
		while (!settled_ && !stack_.empty()) {
			Frame &f = stack_.back();
			if (f.next >= f.names.size()) {
				stack_.pop_back();
				continue;
			}
			cur_ = f.dir.empty() ? f.names[f.next] : f.dir + "/" + f.names[f.next];
			if (::lstat((root_ + "/" + cur_).c_str(), &cur_st_) != 0) {
				if (errno == ENOENT) { // gone meanwhile
					f.next++;
					continue;
				}
				ThrowErrno("could not stat \"" + root_ + "/" + cur_ + "\"", errno);
			}
			settled_ = true;
		}
	}

	std::string root_;
	std::vector<Frame> stack_;
	std::string cur_;
	struct stat cur_st_ {};
	bool settled_ = false;
};

// The setting a postgresql.conf line sets ("" for comments and blank lines).
std::string
SettingOfLine(const std::string &line)
{
	size_t i = line.find_first_not_of(" \t");
	if (i == std::string::npos || line[i] == '#')
		return "";
	size_t end = line.find_first_of(" \t=", i);
	std::string name = line.substr(i, end == std::string::npos ? std::string::npos : end - i);
	for (auto &c : name)
		c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return name;
}

// Rewrites postgresql.auto.conf with this restore's settings. What an earlier restore
// left there goes first: a cluster restored, promoted and backed up carries its old
// recovery target in the backup, and PostgreSQL refuses two targets.
void
WriteRestoreSettings(const std::string &path, const std::vector<std::pair<std::string, std::string>> &settings,
					 const std::string &label)
{
	std::set<std::string> replaced = {"restore_command"};
	for (const auto &kv : settings)
		replaced.insert(kv.first);
	std::string kept, line;
	{
		std::ifstream in(path);
		while (std::getline(in, line)) {
			std::string name = SettingOfLine(line);
			if (replaced.count(name) || name.rfind("recovery_target", 0) == 0 ||
				line.rfind("# Added by pgbk restore", 0) == 0)
				continue;
			kept += line + "\n";
		}
	}
	kept += "# Added by pgbk restore of backup " + label + "\n";
	for (const auto &[name, value] : settings)
		kept += name + " = " + QuoteConfValue(value) + "\n";
	ReplaceFile(path, kept, true);
}

// Whether bytes [offset, offset + size) of an existing file have this SHA-256.
bool
ExistingRangeMatches(const std::string &path, uint64_t offset, uint64_t size, const Digest &sha256)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	if (fd.get() < 0)
		return false;
	struct stat st;
	if (::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) < offset + size)
		return false;
	Sha256 h;
	std::vector<char> buf(256 * 1024);
	uint64_t done = 0;
	while (done < size) {
		size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
		ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		h.Update(buf.data(), static_cast<size_t>(n));
		done += static_cast<uint64_t>(n);
	}
	return h.Final() == sha256;
}

} // namespace

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
	if (opts.pgdata.empty() || opts.pgdata[0] != '/')
		throw Error(ErrorKind::Config, "--pgdata must be an absolute path");
	struct stat pgdata_st;
	if (opts.delta) {
		if (::stat(opts.pgdata.c_str(), &pgdata_st) != 0 || !S_ISDIR(pgdata_st.st_mode))
			throw Error(ErrorKind::Config, "--delta needs an existing data directory; \"" + opts.pgdata +
											   "\" is not one (restore without --delta into a new directory)");
		if (::access((opts.pgdata + "/postmaster.pid").c_str(), F_OK) == 0)
			throw Error(ErrorKind::Config, "\"" + opts.pgdata +
											   "/postmaster.pid\" exists: stop the server first (pg_ctl stop); if no "
											   "server is running, remove the stale file");
	} else if (!DirectoryIsEmptyOrMissing(opts.pgdata))
		throw Error(ErrorKind::Config, "directory \"" + opts.pgdata +
										   "\" is not empty; restore needs an empty or missing directory (or --delta "
										   "to update an existing copy in place)");
	RestoreResult result;
	result.backup = opts.backup ? *opts.backup : SelectBackup(repo, opts.label);
	const BackupRecord &b = result.backup;
	MakeDir(opts.pgdata, 0700);
	std::unique_ptr<LocalTree> local;
	if (opts.delta) {
		// First of all: a delta restore stopped half-way must not look startable.
		if (::unlink((opts.pgdata + "/global/pg_control").c_str()) != 0 && errno != ENOENT)
			ThrowErrno("could not remove \"" + opts.pgdata + "/global/pg_control\"", errno);
		SyncFileSystem(opts.pgdata);
		local = std::make_unique<LocalTree>(opts.pgdata);
	}

	// One file, or one part of a file stored in parts (written at its offset).
	struct Job {
		std::string path;
		uint32_t mode;
		int64_t mtime;
		uint64_t size;
		Digest sha256;
		size_t part = 0;
		uint64_t offset = 0;
		std::string label; // the backup holding the object
		// A file rebuilt from a base and page deltas (differential/incremental backups).
		std::shared_ptr<const ManifestEntry> recipe;
		bool existing = false; // --delta: a file is there; keep what already matches
	};
	std::atomic<uint64_t> bytes{0}, files{0}, kept_files{0}, kept_bytes{0};
	RestoreProgress prog;
	prog.total_bytes = b.database_bytes;
	prog.total_files = b.files;
	std::optional<Job> control;
	std::vector<std::string> tablespace_targets;
	uint64_t segment_size = 16ull << 20;

	auto open_object = [&](const std::string &key) {
		try {
			return repo.OpenObject(key);
		} catch (const Error &e) {
			if (e.kind() == ErrorKind::NotFound)
				throw Error(ErrorKind::Corrupt, "backup " + b.label + " needs object " + key + ", which is missing");
			throw;
		}
	};
	// Rebuilds a file from its base and page deltas in one sequential pass: each chunk is
	// the base's bytes (zeros beyond the base) with every delta's pages for it laid over
	// in order (delta objects list pages in ascending order, so each is one forward
	// stream). Written and hashed once; the file's checksum must match the manifest's.
	auto restore_recipe = [&](const Job &j, const std::atomic<bool> &stop) {
		const ManifestEntry &e = *j.recipe;
		std::string base_label = e.BaseLabel(b.label);
		std::string path = opts.pgdata + "/" + j.path;
		if (j.existing && ExistingRangeMatches(path, 0, e.size, e.sha256)) {
			kept_files++;
			kept_bytes += e.size;
			files++;
			return;
		}
		UniqueFd fd = OpenOrThrow(path, O_WRONLY | O_CREAT | O_TRUNC, j.mode & 0777);

		// The base, part after part.
		struct BasePiece {
			std::string key;
			uint64_t size;
			Digest sha256;
		};
		std::vector<BasePiece> pieces;
		if (e.parts.empty())
			pieces.push_back({Repository::BackupPartKey(base_label, e.path, 0), e.base_size, e.base_sha256});
		for (size_t k = 0; k < e.parts.size(); k++)
			pieces.push_back({Repository::BackupPartKey(base_label, e.path, k), e.parts[k].size, e.parts[k].sha256});
		size_t piece = 0;
		std::unique_ptr<ObjectReader> base;
		auto check = [&](ObjectReader &r, const std::string &key, uint64_t size, const Digest &sha) {
			if (r.Summary().raw_size != size || r.Summary().sha256 != sha)
				throw Error(ErrorKind::Corrupt, "object " + key + " does not match the manifest of backup " + b.label +
													" (size or checksum differs)");
		};
		// Reads up to len base bytes; fewer only at the base's end.
		auto read_base = [&](char *out, size_t len) {
			size_t got = 0;
			while (got < len && piece < pieces.size()) {
				if (!base)
					base = open_object(pieces[piece].key);
				size_t n = base->Read(out + got, len - got);
				if (n == 0) {
					check(*base, pieces[piece].key, pieces[piece].size, pieces[piece].sha256);
					base.reset();
					piece++;
				}
				got += n;
			}
			return got;
		};

		struct DeltaStream {
			std::string key;
			const ManifestDelta *meta;
			std::unique_ptr<ObjectReader> r;
			bool have = false; // a record is loaded
			uint32_t blk = 0, len = 0;
			std::vector<char> page = std::vector<char>(kBlockSize);
		};
		std::vector<DeltaStream> deltas(e.deltas.size());
		auto next_record = [&](DeltaStream &d) {
			uint8_t rec[kDeltaRecordHeader];
			size_t got = ReadUpTo(*d.r, rec, sizeof rec);
			d.have = false;
			if (got == 0)
				return;
			DecodeDeltaRecordHeader(rec, &d.blk, &d.len);
			if (got != sizeof rec || d.len > kBlockSize || ReadUpTo(*d.r, d.page.data(), d.len) != d.len)
				throw Error(ErrorKind::Corrupt, "page delta " + d.key + " is malformed");
			d.have = true;
		};
		for (size_t i = 0; i < e.deltas.size(); i++) {
			deltas[i].key = Repository::BackupDeltaKey(e.deltas[i].label, e.path);
			deltas[i].meta = &e.deltas[i];
			deltas[i].r = open_object(deltas[i].key);
			next_record(deltas[i]);
		}

		Sha256 h;
		std::vector<char> buf(kRecipeChunk);
		uint64_t offset = 0, flushed = 0;
		while (offset < e.size) {
			if (stop)
				throw Error(ErrorKind::Cancelled, "restore stopped");
			size_t n = static_cast<size_t>(std::min<uint64_t>(buf.size(), e.size - offset));
			size_t got = read_base(buf.data(), n);
			std::memset(buf.data() + got, 0, n - got);
			for (auto &d : deltas)
				for (; d.have && uint64_t{d.blk} * kBlockSize < offset + n; next_record(d)) {
					uint64_t at = uint64_t{d.blk} * kBlockSize;
					if (at < offset)
						throw Error(ErrorKind::Corrupt, "page delta " + d.key + " is not in block order");
					size_t len = static_cast<size_t>(std::min<uint64_t>(d.len, offset + n - at));
					std::memcpy(buf.data() + (at - offset), d.page.data(), len);
				}
			h.Update(buf.data(), n);
			WriteFully(fd.get(), buf.data(), n, path, static_cast<int64_t>(offset));
			bytes += n;
			offset += n;
			if (offset - flushed >= kFlushAfter) {
				::sync_file_range(fd.get(), static_cast<off_t>(flushed), static_cast<off_t>(offset - flushed),
								  SYNC_FILE_RANGE_WRITE);
				flushed = offset;
			}
		}
		// Beyond the file's end (it shrank): read the rest so every object is verified.
		while (read_base(buf.data(), buf.size()) > 0) {
		}
		for (auto &d : deltas) {
			while (d.have)
				next_record(d);
			check(*d.r, d.key, d.meta->size, d.meta->sha256);
		}
		if (h.Final() != e.sha256)
			throw Error(ErrorKind::Corrupt, "file " + e.path + " rebuilt for backup " + b.label + " from " +
												base_label + " and " + std::to_string(e.deltas.size()) +
												" page deltas does not match its checksum");
		struct timeval tv[2] = {{static_cast<time_t>(j.mtime), 0}, {static_cast<time_t>(j.mtime), 0}};
		::futimes(fd.get(), tv);
		fd.Close(path);
		files++;
	};
	std::function<void(const Job &, const std::atomic<bool> &)> restore_file;
	restore_file = [&](const Job &j, const std::atomic<bool> &stop) {
		if (j.recipe) {
			restore_recipe(j, stop);
			return;
		}
		std::string key = Repository::BackupPartKey(j.label, j.path, j.part);
		std::string path = opts.pgdata + "/" + j.path;
		if (j.existing && ExistingRangeMatches(path, j.offset, j.size, j.sha256)) {
			kept_bytes += j.size;
			if (j.part == 0) {
				files++;
				kept_files++;
			}
			return;
		}
		auto r = open_object(key);
		// Parts of one file share it: create, never truncate (the directory was empty).
		UniqueFd fd = OpenOrThrow(path, O_WRONLY | O_CREAT, j.mode & 0777);
		std::vector<char> buf(256 * 1024);
		uint64_t written = 0, flushed = 0;
		while (size_t n = r->Read(buf.data(), buf.size())) {
			if (stop)
				throw Error(ErrorKind::Cancelled, "restore stopped");
			WriteFully(fd.get(), buf.data(), n, path, static_cast<int64_t>(j.offset + written));
			bytes += n;
			written += n;
			// Start writeback early (as PostgreSQL's *_flush_after do): the final sync
			// then has little left, and dirty memory stays bounded.
			if (written - flushed >= kFlushAfter) {
				::sync_file_range(fd.get(), static_cast<off_t>(j.offset + flushed),
								  static_cast<off_t>(written - flushed), SYNC_FILE_RANGE_WRITE);
				flushed = written;
			}
		}
		const ObjectSummary &s = r->Summary();
		if (s.raw_size != j.size || s.sha256 != j.sha256)
			throw Error(ErrorKind::Corrupt, "object " + key + " does not match the manifest of backup " + b.label +
												" (size or checksum differs)");
		struct timeval tv[2] = {{static_cast<time_t>(j.mtime), 0}, {static_cast<time_t>(j.mtime), 0}};
		::futimes(fd.get(), tv);
		fd.Close(path);
		if (j.part == 0)
			files++;
	};

	ParallelRunner<Job> runner(opts.parallel, 64, restore_file);
	auto report = [&]() {
		if (progress) {
			prog.bytes = bytes;
			prog.files = files;
			progress(prog);
		}
	};
	// --delta: walk the existing directory alongside the manifest (both in walk order):
	// what the backup does not have is removed; what it has is reported for comparison.
	uint64_t removed = 0;
	auto match_local = [&](const std::string &rel) -> std::optional<struct stat>
	{
		std::string have;
		struct stat st;
		while (local && local->Current(&have, &st)) {
			if (!rel.empty() && !WalkOrderLess(have, rel)) {
				if (have != rel)
					return std::nullopt;
				local->Advance(true);
				return st;
			}
			RemoveTree(opts.pgdata + "/" + have);
			removed++;
			local->Advance(false);
		}
		return std::nullopt;
	};
	repo.ReadManifest(
		b, [&](const ManifestHeader &h) { segment_size = h.segment_size; },
		[&](const ManifestEntry &e) {
			std::string path = opts.pgdata + "/" + e.path;
			std::optional<struct stat> have = match_local(e.path);
			bool is_dir = have && S_ISDIR(have->st_mode), is_file = have && S_ISREG(have->st_mode);
			struct stat target;
			if (have && S_ISLNK(have->st_mode) && e.path == "pg_wal" && ::stat(path.c_str(), &target) == 0 &&
				S_ISDIR(target.st_mode))
				is_dir = true; // --delta keeps WAL on its other disk (its content is still cleaned)
			bool is_link = have && S_ISLNK(have->st_mode);
			// Something else by that name goes (its children were not walked).
			if (have && !((e.type == ManifestEntry::Type::Directory && is_dir) ||
						  (e.type == ManifestEntry::Type::File && is_file) ||
						  (e.type == ManifestEntry::Type::Link && is_link))) {
				RemoveTree(path);
				have.reset();
			}
			switch (e.type) {
			case ManifestEntry::Type::Directory:
				MakeDir(path, static_cast<mode_t>(e.mode & 07777));
				break;
			case ManifestEntry::Type::Link: {
				if (have) {
					// --delta: the same tablespace link is kept (its files are compared
					// like the rest); a link elsewhere is replaced.
					std::vector<char> target(4096);
					ssize_t n = ::readlink(path.c_str(), target.data(), target.size() - 1);
					if (n > 0 && std::string(target.data(), static_cast<size_t>(n)) == e.link_target) {
						tablespace_targets.push_back(e.link_target);
						break;
					}
					RemoveTree(path);
				}
				// Tablespace or other link: recreate the target directory (which must be
				// empty) and the link, as the original cluster had them.
				if (!DirectoryIsEmptyOrMissing(e.link_target))
					throw Error(ErrorKind::Config, "tablespace directory \"" + e.link_target +
													   "\" is not empty; remove it or restore on another machine");
				MakeDir(e.link_target, 0700);
				tablespace_targets.push_back(e.link_target);
				if (::symlink(e.link_target.c_str(), path.c_str()) != 0)
					ThrowErrno("could not create symbolic link \"" + path + "\"", errno);
				break;
			}
			case ManifestEntry::Type::File: {
				std::string holder = e.BaseLabel(b.label);
				if (e.path == "global/pg_control") {
					control = Job{e.path, e.mode, e.mtime, e.size, e.sha256, 0, 0, holder, nullptr};
					break;
				}
				if (is_file && static_cast<uint64_t>(have->st_size) > e.size &&
					::truncate(path.c_str(), static_cast<off_t>(e.size)) != 0)
					ThrowErrno("could not truncate \"" + path + "\"", errno);
				std::vector<Job> jobs;
				if (!e.deltas.empty()) {
					Job j{e.path, e.mode, e.mtime, e.size, e.sha256, 0, 0, holder, nullptr};
					j.recipe = std::make_shared<const ManifestEntry>(e);
					jobs.push_back(std::move(j));
				} else if (e.parts.empty())
					jobs.push_back(Job{e.path, e.mode, e.mtime, e.size, e.sha256, 0, 0, holder, nullptr});
				for (size_t k = 0, offset = 0; e.deltas.empty() && k < e.parts.size(); offset += e.parts[k].size, k++)
					jobs.push_back(
						Job{e.path, e.mode, e.mtime, e.parts[k].size, e.parts[k].sha256, k, offset, holder, nullptr});
				for (auto &j : jobs) {
					j.existing = is_file;
					runner.Submit(std::move(j), report);
				}
				report();
				break;
			}
			}
		});
	runner.Finish(report);
	match_local(""); // --delta: whatever is left after the last entry goes too
	// The WAL from the backup's start to its stop must all be there, or recovery can
	// never make the restored files consistent.
	ForEachBackupWalSegment(b, segment_size, [&](const std::string &name) {
		if (!repo.HasWalFile(name))
			throw Error(ErrorKind::Corrupt, "WAL segment " + name + " needed by backup " + b.label +
												" is missing from " + repo.Describe() + "; run pgbk verify");
	});
	if (!control)
		throw Error(ErrorKind::Corrupt, "backup " + b.label + " has no global/pg_control");

	// Recovery settings, then pg_control last.
	if (!opts.restore_command.empty() || !opts.settings.empty()) {
		auto settings = opts.settings;
		if (!opts.restore_command.empty()) {
			std::string cmd = opts.restore_command;
			const std::string token = kSegmentSizeToken;
			for (auto at = cmd.find(token); at != std::string::npos; at = cmd.find(token))
				cmd.replace(at, token.size(), std::to_string(segment_size));
			settings.emplace_back("restore_command", cmd);
		}
		WriteRestoreSettings(opts.pgdata + "/postgresql.auto.conf", settings, b.label);
	}
	if (!opts.restore_command.empty())
		AppendToFile(opts.pgdata + "/recovery.signal", "");
	// Everything else durable first (tablespaces may live on other file systems), then
	// pg_control: a crash in between leaves a directory PostgreSQL refuses to start.
	SyncFileSystem(opts.pgdata);
	for (const auto &ts : tablespace_targets)
		SyncFileSystem(ts);
	std::atomic<bool> no_stop{false};
	restore_file(*control, no_stop);
	SyncFileSystem(opts.pgdata);
	report();
	result.files = files;
	result.bytes = bytes;
	result.kept_files = kept_files;
	result.kept_bytes = kept_bytes;
	result.removed = removed;
	return result;
}

} // namespace pgbk
