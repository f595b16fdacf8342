#include "pgbk/backup.hpp"
#include "pgbk/node_identity.hpp"
#include "pgbk/wal_archiver.hpp"

#include "pgbk/page.hpp"
#include "pgbk/pgconf.hpp"
#include "pgbk/parallel.hpp"

#include <algorithm>
#include <bit>
#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <fstream>
#include <sstream>
#include <map>
#include <optional>
#include <dirent.h>
#include <fcntl.h>
#include <mutex>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>
#include <vector>

static_assert(std::endian::native == std::endian::little, "page header parsing assumes little-endian");

namespace pgbk {
namespace {

// Directories whose contents are never backed up (basebackup.c excludeDirContents).
const char *const kExcludeDirContents[] = {"pg_stat_tmp", "pg_replslot",  "pg_dynshmem", "pg_notify",
										   "pg_serial",   "pg_snapshots", "pg_subtrans"};
// Files never backed up, by name at any depth (basebackup.c excludeFiles).
const char *const kExcludeFiles[] = {"postgresql.auto.conf.tmp", "current_logfiles.tmp", "backup_label",
									 "tablespace_map",           "backup_manifest",      "postmaster.pid",
									 "postmaster.opts",          kArchiveStopFile};
// Files whose pages carry no checksum (basebackup.c noChecksumFiles).
const char *const kNoChecksumFiles[] = {"pg_control", "pg_filenode.map", "pg_internal.init", "PG_VERSION"};

std::string
BaseName(const std::string &p)
{
	auto s = p.find_last_of('/');
	return s == std::string::npos ? p : p.substr(s + 1);
}

std::string
DirName(const std::string &p)
{
	auto s = p.find_last_of('/');
	return s == std::string::npos ? "" : p.substr(0, s);
}

bool
AllDigits(const std::string &s)
{
	return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

// base/<db>, or pg_tblspc/<oid>/<version dir>/<db>
bool
IsDatabaseDir(const std::string &dir)
{
	if (dir.rfind("base/", 0) == 0)
		return AllDigits(dir.substr(5));
	if (dir.rfind("pg_tblspc/", 0) == 0) {
		auto parts = dir.substr(10);
		auto a = parts.find('/');
		if (a == std::string::npos)
			return false;
		auto b = parts.find('/', a + 1);
		return b != std::string::npos && AllDigits(parts.substr(b + 1));
	}
	return false;
}

bool
IsRelationDir(const std::string &dir)
{
	return dir == "global" || IsDatabaseDir(dir);
}

ManifestEntry
DirEntry(const std::string &path, uint32_t mode)
{
	ManifestEntry e;
	e.type = ManifestEntry::Type::Directory;
	e.path = path;
	e.mode = mode;
	return e;
}

// A file stored in several parts: the manifest entry is written when the last part
// is stored.
struct PartedFile {
	std::mutex mu;
	ManifestEntry entry;
	size_t remaining = 0;
};

// How a file is stored: whole (or in parts); compared with the prior backup's copy by
// size and checksum first (kept by reference when equal); or as a page delta.
enum class CopyMode { Full, Compare, Delta };

struct FileJob {
	std::string relpath, abspath;
	uint32_t mode;
	int64_t mtime;
	size_t part = 0, nparts = 1;
	std::shared_ptr<PartedFile> parted; // set when nparts > 1
	uint64_t seq = 0; // position of its manifest entry
	CopyMode copy = CopyMode::Full;
	std::shared_ptr<const ManifestEntry> prior; // the prior backup's entry (Compare, Delta)
};

// The prior backup's manifest, read alongside the walk: both are in walk order, so
// looking a path up only ever moves forward and memory stays bounded.
class PriorManifest {
public:
	PriorManifest(Repository &repo, const BackupRecord &prior) : prior_(prior)
	{
		reader_ = repo.OpenObject(Repository::BackupKey(prior.label, "manifest"));
		parser_.on_header = [this](const ManifestHeader &h) {
			header_ = h;
			have_header_ = true;
		};
		parser_.on_entry = [this](const ManifestEntry &e) {
			if (e.type == ManifestEntry::Type::File)
				queue_.push_back(e);
		};
		buf_.resize(64 * 1024);
	}
	// The prior's manifest header (its first line).
	const ManifestHeader &
	Header()
	{
		while (!have_header_ && !eof_)
			ReadMore();
		if (!have_header_)
			throw Error(ErrorKind::Corrupt, "manifest of backup " + prior_.label + " has no header");
		return header_;
	}
	// The prior's entry for `path`; paths must be asked in walk order.
	std::shared_ptr<const ManifestEntry>
	Find(const std::string &path)
	{
		for (;;) {
			while (queue_.empty() && !eof_)
				ReadMore();
			if (queue_.empty())
				return nullptr;
			const ManifestEntry &f = queue_.front();
			if (WalkOrderLess(f.path, path)) {
				queue_.pop_front();
				continue;
			}
			if (f.path != path)
				return nullptr;
			auto out = std::make_shared<const ManifestEntry>(f);
			queue_.pop_front();
			return out;
		}
	}
	// Reads to the end, checking the prior manifest against its completion marker.
	void
	Finish()
	{
		while (!eof_) {
			queue_.clear();
			ReadMore();
		}
	}

private:
	void
	ReadMore()
	{
		size_t n = reader_->Read(buf_.data(), buf_.size());
		if (n > 0) {
			parser_.Feed(buf_.data(), n);
			return;
		}
		eof_ = true;
		parser_.Finish();
		if (ToHex(reader_->Summary().sha256) != prior_.manifest_sha256)
			throw Error(ErrorKind::Corrupt,
						"manifest of backup " + prior_.label + " does not match its completion marker");
	}

	BackupRecord prior_;
	ManifestHeader header_;
	bool have_header_ = false;
	std::unique_ptr<ObjectReader> reader_;
	ManifestParser parser_;
	std::deque<ManifestEntry> queue_;
	std::vector<char> buf_;
	bool eof_ = false;
};

// The entry of a file whose content is the prior backup's: the same recipe, with the
// backup holding the base named explicitly.
ManifestEntry
RecipeOf(const ManifestEntry &prior, const std::string &prior_label, const FileJob &job)
{
	ManifestEntry e = prior;
	e.base_label = prior.BaseLabel(prior_label);
	e.stored_size = 0;
	e.bad_blocks.clear();
	e.mode = job.mode;
	e.mtime = job.mtime;
	return e;
}

FileJob
WholeFileJob(const std::string &relpath, const std::string &abspath, const struct stat &st)
{
	FileJob job;
	job.relpath = relpath;
	job.abspath = abspath;
	job.mode = static_cast<uint32_t>(st.st_mode & 07777);
	job.mtime = static_cast<int64_t>(st.st_mtime);
	return job;
}

} // namespace

bool
WalkOrderLess(const std::string &a, const std::string &b)
{
	size_t n = std::min(a.size(), b.size());
	for (size_t i = 0; i < n; i++) {
		unsigned char ca = a[i] == '/' ? 0 : static_cast<unsigned char>(a[i]);
		unsigned char cb = b[i] == '/' ? 0 : static_cast<unsigned char>(b[i]);
		if (ca != cb)
			return ca < cb;
	}
	return a.size() < b.size();
}

bool
ParseRelationFileName(const std::string &name, uint64_t *relfilenode, std::string *fork, uint32_t *segno)
{
	size_t i = 0;
	while (i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])))
		i++;
	if (i == 0 || i > 10)
		return false;
	*relfilenode = std::stoull(name.substr(0, i));
	fork->clear();
	*segno = 0;
	if (i < name.size() && name[i] == '_') {
		size_t j = name.find('.', i);
		std::string f = name.substr(i + 1, j == std::string::npos ? std::string::npos : j - i - 1);
		if (f != "fsm" && f != "vm" && f != "init")
			return false;
		*fork = f;
		i = j == std::string::npos ? name.size() : j;
	}
	if (i < name.size()) {
		if (name[i] != '.' || !AllDigits(name.substr(i + 1)) || name.size() - i - 1 > 10)
			return false;
		*segno = static_cast<uint32_t>(std::stoul(name.substr(i + 1)));
	}
	return true;
}

bool
IsNodeLocalFile(const std::string &relpath)
{
	return relpath == "standby.signal" || relpath == "recovery.signal" || relpath == kNodeIdentityFile;
}

WalkDecision
ClassifyDataDirEntry(const std::string &relpath, bool is_dir)
{
	std::string base = BaseName(relpath), dir = DirName(relpath);
	if (base == "." || base == ".." || base == ".DS_Store" || base.rfind("pgsql_tmp", 0) == 0)
		return WalkDecision::Skip;
	if (is_dir) {
		if (dir.empty()) {
			if (base == "pg_wal")
				return WalkDecision::IncludeDirOnly;
			for (const char *d : kExcludeDirContents)
				if (base == d)
					return WalkDecision::IncludeDirOnly;
		}
		return WalkDecision::Include;
	}
	for (const char *f : kExcludeFiles)
		if (base == f)
			return WalkDecision::Skip;
	if (IsNodeLocalFile(relpath))
		return WalkDecision::Skip;
	if (base.rfind("pg_internal.init", 0) == 0)
		return WalkDecision::Skip;
	if (relpath == "global/pg_control" || relpath == "postgresql.auto.conf")
		return WalkDecision::Skip; // stored separately (last; without its secrets)
	if (IsDatabaseDir(dir) && base.size() > 1 && base[0] == 't') {
		// Temporary relation: t<backend>_<relfilenode>...
		auto us = base.find('_');
		if (us != std::string::npos && AllDigits(base.substr(1, us - 1)))
			return WalkDecision::Skip;
	}
	return WalkDecision::Include;
}

struct BackupSession::Impl {
	Repository &repo;
	ManifestHeader header;
	std::unique_ptr<StorageWriter> manifest_out;
	std::unique_ptr<ObjectWriter> manifest;
	std::mutex manifest_mu;
	ManifestTotals totals;
	std::string bad_pages; // first few, for operators
	BackupProgress progress;
	std::atomic<uint64_t> bytes_read{0}, bytes_written{0}, files{0}, bad_blocks{0};

	// Manifest entries are written in walk order: each gets a sequence number when it is
	// walked and is written once every earlier one has been (the next backup reads this
	// manifest alongside its own walk). The walk waits while too many finished entries
	// wait for an earlier, slower one, which bounds `waiting`.
	static constexpr size_t kMaxWaiting = 4096;
	uint64_t next_seq = 0, next_emit = 0;
	std::map<uint64_t, std::optional<ManifestEntry>> waiting;
	std::condition_variable emitted;
	std::unique_ptr<PriorManifest> prior;

	Impl(Repository &r, const ManifestHeader &h) : repo(r), header(h) {}

	class Copy; // one CopyDataDirectory
	void CopyControlFile(const BackupOptions &opts);

	// Records the entry (or, nullopt, the absence of one: a vanished file) at `seq`.
	void
	Emit(uint64_t seq, std::optional<ManifestEntry> e)
	{
		std::lock_guard<std::mutex> g(manifest_mu);
		waiting.emplace(seq, std::move(e));
		while (!waiting.empty() && waiting.begin()->first == next_emit) {
			auto node = waiting.extract(waiting.begin());
			if (node.mapped())
				WriteEntryLocked(*node.mapped());
			next_emit++;
		}
		emitted.notify_all();
	}

	// An entry known on the walking thread (directories, links, files PostgreSQL gave).
	void
	AddEntry(const ManifestEntry &e)
	{
		Emit(next_seq++, e);
	}

	void
	WriteEntryLocked(const ManifestEntry &e)
	{
		std::string line = EncodeManifestEntry(e);
		manifest->Write(line.data(), line.size());
		if (e.type == ManifestEntry::Type::File) {
			totals.files++;
			totals.database_bytes += e.size;
			totals.stored_bytes += e.stored_size;
			totals.bad_blocks += e.bad_blocks.size();
			for (uint32_t blk : e.bad_blocks)
				if (bad_pages.size() < 400)
					bad_pages += (bad_pages.empty() ? "" : ", ") + e.path + " block " + std::to_string(blk);
		}
	}

	void
	Snapshot()
	{
		progress.bytes_read = bytes_read;
		progress.bytes_written = bytes_written;
		progress.files = files;
		progress.bad_blocks = bad_blocks;
	}

	// Stores one file, or one part of a large file. A file that vanished (dropped
	// relation) is skipped; a vanished part is stored empty so the file's entry stays
	// whole (WAL replay removes the file anyway).
	void
	CopyFile(const FileJob &job, const BackupOptions &opts, const std::atomic<bool> &stop)
	{
		int fd = ::open(job.abspath.c_str(), O_RDONLY | O_CLOEXEC);
		if (fd < 0 && (errno != ENOENT || job.nparts > 1))
			ThrowErrno("could not open \"" + job.abspath + "\"", errno);
		if (fd < 0 && job.nparts == 1) {
			Emit(job.seq, std::nullopt);
			return;
		}
		struct Closer {
			int fd;
			~Closer()
			{
				if (fd >= 0)
					::close(fd);
			}
		} closer{fd};
		// Read what exists now; growth after the backup start is replayed from WAL.
		uint64_t start = job.part * header.part_size, end = start;
		if (fd >= 0) {
			struct stat st;
			if (::fstat(fd, &st) != 0)
				ThrowErrno("could not stat \"" + job.abspath + "\"", errno);
			end = job.part + 1 < job.nparts ? start + header.part_size : static_cast<uint64_t>(st.st_size);
			end = std::max(end, start);
		}

		std::string base = BaseName(job.relpath);
		uint64_t relnode;
		std::string fork;
		uint32_t segno = 0;
		bool verify = opts.verify_checksums && IsRelationDir(DirName(job.relpath)) &&
					  ParseRelationFileName(base, &relnode, &fork, &segno);
		for (const char *f : kNoChecksumFiles)
			if (base == f)
				verify = false;

		if (job.copy == CopyMode::Delta) {
			CopyDelta(job, fd, end, segno, verify, opts.codec, stop);
			return;
		}
		if (job.copy == CopyMode::Compare && SameAsPrior(job, fd, end, stop)) {
			files++;
			Emit(job.seq, RecipeOf(*job.prior, header.prior, job));
			return;
		}

		std::vector<uint32_t> bad;
		// Deferred: a backup's files need to be durable only before its manifest and
		// completion marker, which Complete() orders with one Storage::Sync().
		std::string key = Repository::BackupPartKey(header.label, job.relpath, job.part);
		auto out = repo.storage().OpenWrite(key, WriteMode::CreateOnly, Durability::Deferred);
		ObjectWriter ow(*out, repo.WithKey(opts.codec), key);
		std::vector<uint8_t> buf(32 * kBlockSize);
		uint64_t offset = start;
		while (offset < end) {
			if (stop)
				throw Error(ErrorKind::Cancelled, "backup cancelled");
			size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - offset));
			ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
			if (n < 0) {
				if (errno == EINTR)
					continue;
				ThrowErrno("could not read \"" + job.abspath + "\"", errno);
			}
			if (n == 0)
				break; // truncated meanwhile: fine, WAL replay restores it
			if (verify)
				VerifyPages(fd, buf.data(), static_cast<size_t>(n), offset, segno, bad);
			ow.Write(buf.data(), static_cast<size_t>(n));
			offset += static_cast<uint64_t>(n);
			bytes_read += static_cast<uint64_t>(n);
		}
		ObjectSummary sum = ow.Finish();
		out->Commit();
		bytes_written += sum.stored_size;
		bad_blocks += bad.size();

		ManifestEntry e;
		if (job.nparts == 1) {
			e.path = job.relpath;
			e.mode = job.mode;
			e.mtime = job.mtime;
			e.size = sum.raw_size;
			e.sha256 = sum.sha256;
			e.stored_size = sum.stored_size;
			e.bad_blocks = std::move(bad);
		} else {
			PartedFile &f = *job.parted;
			std::lock_guard<std::mutex> g(f.mu);
			f.entry.parts[job.part] = ManifestPart{sum.raw_size, sum.stored_size, sum.sha256};
			f.entry.bad_blocks.insert(f.entry.bad_blocks.end(), bad.begin(), bad.end());
			if (--f.remaining > 0)
				return;
			e = std::move(f.entry);
			for (const auto &p : e.parts) {
				e.size += p.size;
				e.stored_size += p.stored_size;
			}
			std::sort(e.bad_blocks.begin(), e.bad_blocks.end());
		}
		e.base_size = e.size;
		e.base_sha256 = e.sha256;
		files++;
		Emit(job.seq, std::move(e));
	}

	// Whether the file still has the size and checksum of the prior backup's copy.
	bool
	SameAsPrior(const FileJob &job, int fd, uint64_t end, const std::atomic<bool> &stop)
	{
		if (end != job.prior->size)
			return false;
		Sha256 h;
		std::vector<uint8_t> buf(256 * 1024);
		uint64_t offset = 0;
		while (offset < end) {
			if (stop)
				throw Error(ErrorKind::Cancelled, "backup cancelled");
			ssize_t n =
				::pread(fd, buf.data(), std::min<uint64_t>(buf.size(), end - offset), static_cast<off_t>(offset));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				ThrowErrno("could not read \"" + job.abspath + "\"", errno);
			if (n == 0)
				return false;
			h.Update(buf.data(), static_cast<size_t>(n));
			offset += static_cast<uint64_t>(n);
			bytes_read += static_cast<uint64_t>(n);
		}
		return h.Final() == job.prior->sha256;
	}

	// Stores the pages of a relation file that may differ from the prior backup's copy:
	// new pages (beyond its size, all-zero or LSN 0), pages whose LSN is at or after the
	// prior backup's start, and pages that fail their checksum (torn by a concurrent
	// write, or damaged). Every other page has been unchanged since before the prior
	// started: with data checksums every change, hint bits included, moves the LSN, so
	// the prior holds exactly these bytes. The file's SHA-256 is therefore also that of
	// the file restore rebuilds, and restore checks it (page by page instead when the
	// chain spans nodes: ManifestHeader::mixed_nodes).
	void
	CopyDelta(const FileJob &job, int fd, uint64_t end, uint32_t segno, bool verify, const CodecOptions &codec,
			  const std::atomic<bool> &stop)
	{
		const ManifestEntry &prior_entry = *job.prior;
		Sha256 whole;
		std::string key = Repository::BackupDeltaKey(header.label, job.relpath);
		// Opened at the first changed page: most files of an incremental store nothing.
		std::unique_ptr<StorageWriter> out;
		std::unique_ptr<ObjectWriter> ow;
		auto open = [&]() {
			if (!ow) {
				out = repo.storage().OpenWrite(key, WriteMode::CreateOnly, Durability::Deferred);
				ow = std::make_unique<ObjectWriter>(*out, repo.WithKey(codec), key);
			}
		};
		std::vector<uint8_t> buf(32 * kBlockSize);
		std::vector<uint32_t> bad;
		uint64_t offset = 0, blocks = 0;
		while (offset < end) {
			if (stop)
				throw Error(ErrorKind::Cancelled, "backup cancelled");
			size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), end - offset));
			ssize_t n = ::pread(fd, buf.data(), want, static_cast<off_t>(offset));
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0)
				ThrowErrno("could not read \"" + job.abspath + "\"", errno);
			if (n == 0)
				break; // truncated meanwhile: WAL replay restores it
			whole.Update(buf.data(), static_cast<size_t>(n));
			bytes_read += static_cast<uint64_t>(n);
			for (size_t at = 0; at < static_cast<size_t>(n); at += kBlockSize) {
				size_t len = std::min(kBlockSize, static_cast<size_t>(n) - at);
				const uint8_t *page = buf.data() + at;
				uint64_t blk = (offset + at) / kBlockSize;
				bool include = len < kBlockSize || (blk + 1) * kBlockSize > prior_entry.size;
				if (!include) {
					PageHeaderView h = ReadPageHeader(page);
					uint32_t absblk = static_cast<uint32_t>(segno * kRelSegBlocks + blk);
					bool fresh = PageIsNew(h) || h.lsn == 0;
					bool needs_checksum =
						!fresh && (h.lsn < header.prior_start_lsn || (verify && h.lsn < header.start_lsn));
					bool checksum_fails = needs_checksum && PageChecksum(page, absblk) != h.checksum;
					include = fresh || h.lsn >= header.prior_start_lsn || checksum_fails;
					if (checksum_fails && verify && h.lsn < header.start_lsn) {
						// Re-read once: a concurrent write may have been caught half-way.
						uint8_t again[kBlockSize];
						if (::pread(fd, again, kBlockSize, static_cast<off_t>(offset + at)) !=
								static_cast<ssize_t>(kBlockSize) ||
							PageChecksum(again, absblk) != ReadPageHeader(again).checksum)
							if (bad.size() < 1000)
								bad.push_back(absblk);
					}
				}
				if (!include)
					continue;
				uint8_t rec[kDeltaRecordHeader];
				EncodeDeltaRecordHeader(rec, static_cast<uint32_t>(blk), static_cast<uint32_t>(len));
				open();
				ow->Write(rec, sizeof rec);
				ow->Write(page, len);
				blocks++;
			}
			offset += static_cast<uint64_t>(n);
		}
		bad_blocks += bad.size();
		files++;
		if (blocks == 0 && offset == prior_entry.size) {
			// Unchanged: nothing stored.
			ManifestEntry e = RecipeOf(prior_entry, header.prior, job);
			e.bad_blocks = std::move(bad);
			Emit(job.seq, std::move(e));
			return;
		}
		open(); // a file that only shrank has an empty delta
		ObjectSummary sum = ow->Finish();
		out->Commit();
		bytes_written += sum.stored_size;
		ManifestEntry e = RecipeOf(prior_entry, header.prior, job);
		e.deltas.push_back(ManifestDelta{header.label, sum.raw_size, sum.stored_size, blocks, sum.sha256});
		e.size = offset;
		e.sha256 = whole.Final();
		e.stored_size = sum.stored_size;
		e.bad_blocks = std::move(bad);
		Emit(job.seq, std::move(e));
	}

	// Checks every complete page older than the backup start. A page whose LSN is at or
	// after the start may be torn mid-write; WAL replay repairs it, so it is not checked.
	void
	VerifyPages(int fd, const uint8_t *data, size_t len, uint64_t offset, uint32_t segno, std::vector<uint32_t> &bad)
	{
		for (size_t at = 0; at + kBlockSize <= len; at += kBlockSize) {
			const uint8_t *page = data + at;
			uint32_t blkno = static_cast<uint32_t>(segno * kRelSegBlocks + (offset + at) / kBlockSize);
			PageHeaderView h = ReadPageHeader(page);
			if (PageIsNew(h) || h.lsn >= header.start_lsn)
				continue;
			if (PageChecksum(page, blkno) == h.checksum)
				continue;
			// Re-read once: a concurrent write may have been caught half-way.
			uint8_t again[kBlockSize];
			if (::pread(fd, again, kBlockSize, static_cast<off_t>(offset + at)) == static_cast<ssize_t>(kBlockSize)) {
				PageHeaderView h2 = ReadPageHeader(again);
				if (PageIsNew(h2) || h2.lsn >= header.start_lsn || PageChecksum(again, blkno) == h2.checksum)
					continue;
			}
			if (bad.size() < 1000)
				bad.push_back(blkno);
		}
	}
};

BackupSession::BackupSession(Repository &repo, const ManifestHeader &header)
	: impl_(std::make_unique<Impl>(repo, header))
{
	if (!header.prior.empty()) {
		auto prior = repo.ReadBackup(header.prior);
		if (!prior || prior->status != BackupStatus::Complete)
			throw Error(ErrorKind::NotFound, "prior backup " + header.prior + " is not a complete backup");
		impl_->prior = std::make_unique<PriorManifest>(repo, *prior);
		const ManifestHeader &ph = impl_->prior->Header();
		if (ph.system_identifier != header.system_identifier || ph.segment_size != header.segment_size)
			throw Error(ErrorKind::Config, "prior backup " + header.prior + " is of another cluster");
		// Page deltas trust that every change since the prior moved the page LSN, which
		// holds only if the prior's pages were already checksummed (pg_checksums --enable
		// rewrites every page and keeps its LSN): otherwise compare whole files.
		if (!ph.data_checksums)
			impl_->header.page_delta = false;
		std::string prior_node = prior->host.empty() ? ph.taken_on : prior->host + ":" + prior->pgdata;
		if (ph.mixed_nodes || (!header.taken_on.empty() && prior_node != header.taken_on))
			impl_->header.mixed_nodes = true;
	}
	std::string key = Repository::BackupKey(header.label, "manifest");
	impl_->manifest_out = repo.storage().OpenWrite(key, WriteMode::CreateOnly);
	impl_->manifest =
		std::make_unique<ObjectWriter>(*impl_->manifest_out, repo.WithKey(CodecOptions{Codec::Zstd, 3}), key);
	std::string h = EncodeManifestHeader(impl_->header);
	impl_->manifest->Write(h.data(), h.size());
}

BackupSession::~BackupSession() = default;

const BackupProgress &
BackupSession::Progress() const
{
	impl_->Snapshot();
	return impl_->progress;
}

// One CopyDataDirectory: the copy threads, the poll that cancels and reports progress,
// and the walk that feeds them in walk order.
class BackupSession::Impl::Copy {
public:
	Copy(Impl &m, const BackupOptions &opts, const BackupCallbacks &cb)
		: m_(m), opts_(opts), cb_(cb), runner_(opts.parallel, static_cast<size_t>(std::max(1, opts.parallel)) * 4,
											   [this](FileJob &job, const std::atomic<bool> &stop) {
												   if (opts_.file_delay.count() > 0)
													   std::this_thread::sleep_for(opts_.file_delay);
												   m_.CopyFile(job, opts_, stop);
											   })
	{
	}

	// Cancels on request and reports progress (on the caller's thread).
	void
	Poll()
	{
		if (cb_.should_cancel && cb_.should_cancel())
			runner_.Fail(std::make_exception_ptr(Error(ErrorKind::Cancelled, "backup cancelled")));
		if (cb_.progress) {
			m_.Snapshot();
			cb_.progress(m_.progress);
		}
	}

	// Walks a directory: entries in name order, one open directory per level. On an error
	// the runner's destructor stops and joins the threads.
	void
	Walk(const std::string &rel, const std::string &abs)
	{
		std::vector<std::string> names;
		if (!SortedNames(rel, abs, &names))
			return;
		for (const std::string &name : names)
			WalkEntry(rel, abs, name);
	}

	// Waits for every file to be copied.
	void
	Finish()
	{
		runner_.Finish([this] { Poll(); });
	}

private:
	// Names sorted: the manifest comes out in walk order, which the next differential or
	// incremental backup relies on to read it alongside its walk. False: a directory
	// dropped meanwhile (a database).
	bool
	SortedNames(const std::string &rel, const std::string &abs, std::vector<std::string> *names)
	{
		DIR *d = ::opendir(abs.c_str());
		if (d == nullptr) {
			if (errno == ENOENT && !rel.empty())
				return false;
			ThrowErrno("could not open directory \"" + abs + "\"", errno);
		}
		struct DirCloser {
			DIR *d;
			~DirCloser() { ::closedir(d); }
		} closer{d};
		for (;;) {
			errno = 0;
			struct dirent *de = ::readdir(d);
			if (de == nullptr) {
				if (errno != 0)
					ThrowErrno("could not read directory \"" + abs + "\"", errno);
				break;
			}
			std::string name = de->d_name;
			if (name != "." && name != "..")
				names->push_back(std::move(name));
		}
		std::sort(names->begin(), names->end());
		return true;
	}

	void
	WalkEntry(const std::string &rel, const std::string &abs, const std::string &name)
	{
		// Another major version's directory in a shared tablespace location is not ours.
		if (!opts_.tablespace_version_dir.empty() && IsTablespaceLinkPath(rel) && name != opts_.tablespace_version_dir)
			return;
		std::string crel = rel.empty() ? name : rel + "/" + name;
		std::string cabs = abs + "/" + name;
		struct stat st;
		if (::lstat(cabs.c_str(), &st) != 0) {
			if (errno == ENOENT)
				return;
			ThrowErrno("could not stat \"" + cabs + "\"", errno);
		}
		if (S_ISLNK(st.st_mode)) {
			WalkLink(rel, crel, cabs);
			return;
		}
		bool is_dir = S_ISDIR(st.st_mode);
		if (is_dir && skip_ && skip_->first == st.st_dev && skip_->second == st.st_ino)
			return; // the repository itself
		WalkDecision dec = ClassifyDataDirEntry(crel, is_dir);
		if (dec == WalkDecision::Skip)
			return;
		if (is_dir) {
			m_.AddEntry(DirEntry(crel, st.st_mode & 07777));
			if (crel == "pg_wal")
				m_.AddEntry(DirEntry("pg_wal/archive_status", 0700));
			if (dec == WalkDecision::Include)
				Walk(crel, cabs);
			return;
		}
		if (!S_ISREG(st.st_mode) || (IsDatabaseDir(rel) && IsUnloggedNonInitFork(abs, name)))
			return;
		SubmitParts(PlanFile(rel, crel, cabs, name, st));
	}

	// pg_wal on another disk is recorded as a directory (WAL comes from the archive); a
	// tablespace link is recorded and backed up through.
	void
	WalkLink(const std::string &rel, const std::string &crel, const std::string &cabs)
	{
		char target[4096];
		ssize_t n = ::readlink(cabs.c_str(), target, sizeof target - 1);
		if (n < 0)
			ThrowErrno("could not read symbolic link \"" + cabs + "\"", errno);
		target[n] = '\0';
		if (crel == "pg_wal") {
			m_.AddEntry(DirEntry("pg_wal", 0700));
			m_.AddEntry(DirEntry("pg_wal/archive_status", 0700));
			return;
		}
		ManifestEntry link;
		link.type = ManifestEntry::Type::Link;
		link.path = crel;
		link.link_target = target;
		m_.AddEntry(link);
		if (rel == "pg_tblspc")
			Walk(crel, cabs);
	}

	// Of an unlogged relation only the init fork is backed up.
	static bool
	IsUnloggedNonInitFork(const std::string &abs, const std::string &name)
	{
		uint64_t relnode;
		std::string fork;
		uint32_t segno;
		if (!ParseRelationFileName(name, &relnode, &fork, &segno) || fork == "init")
			return false;
		struct stat ist;
		return ::stat((abs + "/" + std::to_string(relnode) + "_init").c_str(), &ist) == 0;
	}

	// How the file is stored: whole (in parts when large), as page deltas against the
	// prior, or compared with the prior's copy and referenced when unchanged.
	FileJob
	PlanFile(const std::string &rel, const std::string &crel, const std::string &cabs, const std::string &name,
			 const struct stat &st)
	{
		FileJob job = WholeFileJob(crel, cabs, st);
		job.seq = m_.next_seq++;
		uint64_t size = static_cast<uint64_t>(st.st_size);
		job.nparts = size > m_.header.part_size
						 ? static_cast<size_t>((size + m_.header.part_size - 1) / m_.header.part_size)
						 : 1;
		if (m_.prior && (job.prior = m_.prior->Find(crel))) {
			uint64_t relnode;
			std::string fork;
			uint32_t segno;
			bool relation = IsRelationDir(rel) && ParseRelationFileName(name, &relnode, &fork, &segno);
			if (m_.header.page_delta && relation && fork != "fsm") {
				// Not reliably WAL-logged, free space maps are compared whole.
				job.copy = CopyMode::Delta;
				job.nparts = 1;
			} else if (job.nparts == 1 && job.prior->parts.empty() && size == job.prior->size)
				job.copy = CopyMode::Compare;
		}
		if (job.nparts > 1) {
			job.parted = std::make_shared<PartedFile>();
			job.parted->entry.path = crel;
			job.parted->entry.mode = job.mode;
			job.parted->entry.mtime = job.mtime;
			job.parted->entry.parts.resize(job.nparts);
			job.parted->remaining = job.nparts;
		}
		return job;
	}

	// Queues each part; waits first while too many finished entries wait for an earlier
	// one to be written to the manifest (which bounds that queue).
	void
	SubmitParts(const FileJob &job)
	{
		for (size_t part = 0; part < job.nparts; part++) {
			{
				std::unique_lock<std::mutex> g(m_.manifest_mu);
				while (m_.waiting.size() >= Impl::kMaxWaiting) {
					m_.emitted.wait_for(g, std::chrono::milliseconds(100));
					g.unlock();
					Poll();
					g.lock();
				}
			}
			FileJob p = job;
			p.part = part;
			runner_.Submit(std::move(p), [this] { Poll(); });
		}
	}

	Impl &m_;
	const BackupOptions &opts_;
	const BackupCallbacks &cb_;
	ParallelRunner<FileJob> runner_;
	std::optional<std::pair<dev_t, ino_t>> skip_; // the directory not to enter
};

// pg_control last, as pg_basebackup does.
void
BackupSession::Impl::CopyControlFile(const BackupOptions &opts)
{
	struct stat st;
	std::string control = opts.pgdata + "/global/pg_control";
	if (::stat(control.c_str(), &st) != 0)
		ThrowErrno("could not stat \"" + control + "\"", errno);
	std::atomic<bool> no_stop{false};
	BackupOptions plain = opts;
	plain.verify_checksums = false;
	FileJob control_job = WholeFileJob("global/pg_control", control, st);
	control_job.seq = next_seq++;
	CopyFile(control_job, plain, no_stop);
}

void
BackupSession::CopyDataDirectory(const BackupOptions &opts, const BackupCallbacks &cb)
{
	Impl &m = *impl_;
	Impl::Copy copy(m, opts, cb);
	copy.Walk("", opts.pgdata);
	copy.Finish();
	// An S3 key set with ALTER SYSTEM (or pgbk_set_target) lives in postgresql.auto.conf:
	// stored as it is, every base backup would carry it in plain text.
	std::ifstream auto_conf(opts.pgdata + "/postgresql.auto.conf");
	if (auto_conf) {
		std::stringstream text;
		text << auto_conf.rdbuf();
		AddFile("postgresql.auto.conf", WithoutSecretSettings(text.str()), opts.codec);
	}
	m.CopyControlFile(opts);
	if (m.prior)
		m.prior->Finish(); // the prior's manifest was read to its end
	copy.Poll();
}

std::string
BackupSession::BadPagesSummary() const
{
	std::lock_guard<std::mutex> g(impl_->manifest_mu);
	return impl_->bad_pages;
}

void
BackupSession::AddFile(const std::string &path, const std::string &content, const CodecOptions &codec)
{
	ObjectSummary sum = PutObject(impl_->repo.storage(), Repository::BackupDataKey(impl_->header.label, path), content,
								  impl_->repo.WithKey(codec), WriteMode::CreateOnly);
	ManifestEntry e;
	e.type = ManifestEntry::Type::File;
	e.path = path;
	e.mode = 0600;
	e.mtime = impl_->header.started_at;
	e.size = sum.raw_size;
	e.sha256 = sum.sha256;
	e.stored_size = sum.stored_size;
	impl_->AddEntry(e);
}

void
BackupSession::WaitForWal(uint32_t timeline, Lsn start, Lsn stop, uint64_t segment_size, std::chrono::seconds timeout,
						  const BackupCallbacks &cb, std::string *wal_stop)
{
	uint64_t first = start / segment_size;
	uint64_t last = (stop == 0 ? 0 : stop - 1) / segment_size; // segment holding the byte before stop
	if (last < first)
		last = first;
	auto deadline = std::chrono::steady_clock::now() + timeout;
	// The archiver usually stores the last segment within milliseconds: poll fast
	// first, then back off to 200 ms so a slow archive costs little.
	auto pause = std::chrono::milliseconds(5);
	for (uint64_t seg = first; seg <= last; seg++) {
		std::string name = WalSegmentName(WalSegment{timeline, seg}, segment_size);
		auto arrived = [&] { return cb.wal_acknowledged ? cb.wal_acknowledged(name) : impl_->repo.HasWalFile(name); };
		while (!arrived()) {
			if (cb.should_cancel && cb.should_cancel())
				throw Error(ErrorKind::Cancelled, "backup cancelled while waiting for WAL");
			if (std::chrono::steady_clock::now() > deadline)
				throw Error(ErrorKind::Timeout,
							"WAL segment " + name + " needed by the backup was not archived within " +
								std::to_string(timeout.count()) +
								" s; check archive_mode, archive_library = 'pgbk' and the server log");
			std::this_thread::sleep_for(pause);
			pause = std::min(pause * 2, std::chrono::milliseconds(200));
		}
		*wal_stop = name;
	}
}

ManifestTotals
BackupSession::Complete(const BackupStopInfo &stop)
{
	Impl &m = *impl_;
	if (!m.waiting.empty() || m.next_emit != m.next_seq)
		throw Error(ErrorKind::Io, "backup manifest is incomplete (an entry was never written)");
	m.repo.storage().Sync(); // every data object durable before the manifest says so
	std::string end = EncodeManifestEnd(m.totals);
	m.manifest->Write(end.data(), end.size());
	ObjectSummary sum = m.manifest->Finish();
	m.manifest_out->Commit();
	m.repo.WriteBackupComplete(m.header.label, stop, m.totals, sum);
	return m.totals;
}

} // namespace pgbk
