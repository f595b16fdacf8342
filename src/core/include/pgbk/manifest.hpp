// Backup manifest, format 1 (docs/repository-format.md): JSON Lines, one header line,
// one line per directory/file/link, and an end line with totals. It is written and
// read streaming, so a backup of millions of files never needs the list in memory.
#pragma once
#include "pgbk/hash.hpp"
#include "pgbk/wal.hpp"

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace pgbk {

constexpr int kManifestFormat = 1;

// Files larger than the part size are stored as several objects ("parts") of
// kPartSize bytes each (the last may be shorter), so that backup and restore can work
// on one large file with several threads. Part k holds bytes [k * kPartSize, ...).
constexpr uint64_t kPartSize = 64ull << 20;

struct ManifestHeader {
	std::string label;
	std::string type = "full";
	std::string prior; // differential/incremental: the backup this one is relative to
	Lsn prior_start_lsn = 0;
	bool page_delta = false; // relation files stored as page deltas (needs data checksums)
	uint64_t system_identifier = 0;
	int pg_version_num = 0;
	uint32_t timeline = 0;
	Lsn start_lsn = 0;
	uint64_t segment_size = 16 << 20;
	uint64_t part_size = kPartSize;
	bool data_checksums = false;
	int64_t started_at = 0; // unix seconds
	std::string taken_on; // host:data directory of the node that took it ("" = unknown)
	// The chain of priors spans nodes (a primary's full, a standby's incremental, a new
	// primary's after a failover). Nodes' copies of a page unchanged since the prior are
	// the same rows but may differ in bytes WAL never carries (hint bits), so a file
	// rebuilt from such a chain is checked page by page (data checksums) rather than
	// against the whole-file checksum of this node's copy.
	bool mixed_nodes = false;
};

struct ManifestPart {
	uint64_t size = 0, stored_size = 0;
	Digest sha256{};
};

// Pages of a file changed since a prior backup, stored by a differential or incremental
// backup as one object of records (u32 block number, u32 length, that many bytes; little
// endian) that overwrite the file's content from its base, in order.
// A page-delta record's header: block number and length, both u32 little endian.
constexpr size_t kDeltaRecordHeader = 8;
inline void
EncodeDeltaRecordHeader(uint8_t *out, uint32_t block, uint32_t len)
{
	for (int i = 0; i < 4; i++) {
		out[i] = static_cast<uint8_t>(block >> (8 * i));
		out[4 + i] = static_cast<uint8_t>(len >> (8 * i));
	}
}
inline void
DecodeDeltaRecordHeader(const uint8_t *in, uint32_t *block, uint32_t *len)
{
	*block = *len = 0;
	for (int i = 0; i < 4; i++) {
		*block |= static_cast<uint32_t>(in[i]) << (8 * i);
		*len |= static_cast<uint32_t>(in[4 + i]) << (8 * i);
	}
}

struct ManifestDelta {
	std::string label; // the backup holding the delta object
	uint64_t size = 0, stored_size = 0, blocks = 0;
	Digest sha256{};
};

struct ManifestEntry {
	enum class Type { Directory, File, Link } type = Type::File;
	std::string path; // relative to the data directory
	uint32_t mode = 0600;
	int64_t mtime = 0;
	uint64_t size = 0; // raw bytes (files)
	uint64_t stored_size = 0;
	Digest sha256{};
	std::string link_target; // links
	std::vector<uint32_t> bad_blocks; // blocks that failed page-checksum verification
	// The base content: one object (parts empty) or one object per part, held by this
	// backup or, when base_label is set, by an earlier one. Without deltas the base is the
	// file (size, sha256 above; for parts, size is their sum and sha256 is unused).
	std::vector<ManifestPart> parts;
	std::string base_label;
	// With deltas: the base's size and (single object) SHA-256; size and sha256 above are
	// the file's after the deltas are applied in order. stored_size counts only what this
	// backup stored for the file.
	uint64_t base_size = 0;
	Digest base_sha256{};
	std::vector<ManifestDelta> deltas;
	// The label of the backup holding the base, given this entry's own backup label.
	const std::string &
	BaseLabel(const std::string &own) const
	{
		return base_label.empty() ? own : base_label;
	}
};

struct ManifestTotals {
	uint64_t files = 0, database_bytes = 0, stored_bytes = 0, bad_blocks = 0;
};

std::string EncodeManifestHeader(const ManifestHeader &h);
std::string EncodeManifestEntry(const ManifestEntry &e);
std::string EncodeManifestEnd(const ManifestTotals &t);

// Parses a manifest stream line by line; throws Corrupt on a malformed line, a missing
// header, or a missing end line.
// A link restore creates a directory for and writes through: pg_tblspc/<oid>.
bool IsTablespaceLinkPath(const std::string &path);
// An absolute, normalized path ("/a/b", no ".", ".." or empty components).
bool IsSafeTablespaceTarget(const std::string &target);

// Reads a manifest line by line. Refuses unsafe paths: absolute or with "..", a
// tablespace link whose target is not a safe absolute path, and any entry behind a link
// other than a tablespace's (such links are restored as links, never written through).
class ManifestParser {
public:
	std::function<void(const ManifestHeader &)> on_header;
	std::function<void(const ManifestEntry &)> on_entry;
	void Feed(const char *data, size_t len);
	ManifestTotals Finish();

private:
	void Line(const std::string &line);
	std::string pending_;
	bool have_header_ = false, have_end_ = false;
	ManifestTotals totals_;
	uint64_t line_no_ = 0;
	// The links seen that are not tablespaces (bounded: a data directory has few).
	static constexpr size_t kMaxPlainLinks = 65536;
	std::set<std::string> links_;
};

} // namespace pgbk
