// The file writers of a restore, run on its threads: a file (or one part of it) streamed
// out of its object, or a file rebuilt from its base and page deltas. Each is checked
// against the manifest's size and SHA-256 as it is written.
#include "restore_internal.hpp"

#include "pgbk/backup.hpp"
#include "pgbk/fileio.hpp"
#include "pgbk/page.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

namespace pgbk::restore {
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

// Rebuilds a file from its base and page deltas in one sequential pass: each chunk is
// the base's bytes (zeros beyond the base) with every delta's pages for it laid over in
// order (delta objects list pages in ascending order, so each is one forward stream).
// Written and hashed once; the file's checksum must match the manifest's.
void
RebuildFromDeltas(RestoreState &state, const FileJob &j, const std::atomic<bool> &stop)
{
	const ManifestEntry &e = *j.recipe;
	std::string base_label = e.BaseLabel(state.backup.label);
	std::string path = state.PathOf(j.path);
	if (j.existing && ExistingRangeMatches(path, 0, e.size, e.sha256)) {
		state.kept_files++;
		state.kept_bytes += e.size;
		state.files++;
		return;
	}
	UniqueFd fd = OpenOrThrow(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, j.mode & 0777);

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
			throw Error(ErrorKind::Corrupt, "object " + key + " does not match the manifest of backup " +
												state.backup.label + " (size or checksum differs)");
	};
	// Reads up to len base bytes; fewer only at the base's end.
	auto read_base = [&](char *out, size_t len) {
		size_t got = 0;
		while (got < len && piece < pieces.size()) {
			if (!base)
				base = state.OpenObject(pieces[piece].key);
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
		deltas[i].r = state.OpenObject(deltas[i].key);
		next_record(deltas[i]);
	}

	Sha256 h;
	std::vector<char> buf(kRecipeChunk);
	uint64_t offset = 0, flushed = 0;
	// A chain across nodes: every complete page older than this backup's start must pass
	// its data checksum (newer ones may be torn; WAL replay rewrites them), except those
	// the backup already found bad.
	uint64_t relnode = 0;
	std::string fork;
	uint32_t segno = 0;
	std::string name = e.path.substr(e.path.find_last_of('/') + 1);
	bool check_pages = state.mixed_nodes && ParseRelationFileName(name, &relnode, &fork, &segno);
	auto check_page = [&](const char *page, uint64_t at) {
		uint32_t blkno = static_cast<uint32_t>(uint64_t{segno} * kRelSegBlocks + at / kBlockSize);
		const auto *p = reinterpret_cast<const uint8_t *>(page);
		PageHeaderView ph = ReadPageHeader(p);
		if (PageIsNew(ph) || ph.lsn >= state.start_lsn || PageChecksum(p, blkno) == ph.checksum ||
			std::find(e.bad_blocks.begin(), e.bad_blocks.end(), blkno) != e.bad_blocks.end())
			return;
		throw Error(ErrorKind::Corrupt, "file " + e.path + " rebuilt for backup " + state.backup.label + " from " +
											base_label + " and " + std::to_string(e.deltas.size()) +
											" page deltas: block " + std::to_string(blkno) +
											" fails its data checksum");
	};
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
		if (check_pages)
			for (size_t at = 0; at + kBlockSize <= n; at += kBlockSize)
				check_page(buf.data() + at, offset + at);
		WriteFully(fd.get(), buf.data(), n, path, static_cast<int64_t>(offset));
		state.bytes += n;
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
	if (!check_pages && h.Final() != e.sha256)
		throw Error(ErrorKind::Corrupt, "file " + e.path + " rebuilt for backup " + state.backup.label + " from " +
											base_label + " and " + std::to_string(e.deltas.size()) +
											" page deltas does not match its checksum");
	struct timeval tv[2] = {{static_cast<time_t>(j.mtime), 0}, {static_cast<time_t>(j.mtime), 0}};
	::futimes(fd.get(), tv);
	fd.Close(path);
	state.files++;
}

// A file, or one part of it, streamed out of its object at its offset.
void
RestorePart(RestoreState &state, const FileJob &j, const std::atomic<bool> &stop)
{
	std::string key = Repository::BackupPartKey(j.label, j.path, j.part);
	std::string path = state.PathOf(j.path);
	if (j.existing && ExistingRangeMatches(path, j.offset, j.size, j.sha256)) {
		state.kept_bytes += j.size;
		if (j.part == 0) {
			state.files++;
			state.kept_files++;
		}
		return;
	}
	auto r = state.OpenObject(key);
	// Parts of one file share it: create, never truncate (the directory was empty).
	UniqueFd fd = OpenOrThrow(path, O_WRONLY | O_CREAT | O_NOFOLLOW, j.mode & 0777);
	std::vector<char> buf(256 * 1024);
	uint64_t written = 0, flushed = 0;
	while (size_t n = r->Read(buf.data(), buf.size())) {
		if (stop)
			throw Error(ErrorKind::Cancelled, "restore stopped");
		WriteFully(fd.get(), buf.data(), n, path, static_cast<int64_t>(j.offset + written));
		state.bytes += n;
		written += n;
		// Start writeback early (as PostgreSQL's *_flush_after do): the final sync
		// then has little left, and dirty memory stays bounded.
		if (written - flushed >= kFlushAfter) {
			::sync_file_range(fd.get(), static_cast<off_t>(j.offset + flushed), static_cast<off_t>(written - flushed),
							  SYNC_FILE_RANGE_WRITE);
			flushed = written;
		}
	}
	const ObjectSummary &s = r->Summary();
	if (s.raw_size != j.size || s.sha256 != j.sha256)
		throw Error(ErrorKind::Corrupt, "object " + key + " does not match the manifest of backup " +
											state.backup.label + " (size or checksum differs)");
	struct timeval tv[2] = {{static_cast<time_t>(j.mtime), 0}, {static_cast<time_t>(j.mtime), 0}};
	::futimes(fd.get(), tv);
	fd.Close(path);
	if (j.part == 0)
		state.files++;
}

} // namespace

void
RestoreFile(RestoreState &state, const FileJob &job, const std::atomic<bool> &stop)
{
	if (job.recipe)
		RebuildFromDeltas(state, job, stop);
	else
		RestorePart(state, job, stop);
}

} // namespace pgbk::restore
