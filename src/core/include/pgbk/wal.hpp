// WAL file names, LSNs and timelines (mirrors access/xlog_internal.h without PG headers).
#pragma once
#include "pgbk/error.hpp"

#include <cstdint>
#include <optional>
#include <string>

namespace pgbk {

using Lsn = uint64_t;

std::string FormatLsn(Lsn lsn); // "X/X" as PostgreSQL prints it
Lsn ParseLsn(const std::string &text); // throws Config

struct WalSegment {
	uint32_t timeline = 0;
	uint64_t segno = 0; // segment number (LSN / segment size)
};

enum class WalFileKind { Segment, Partial, BackupHistory, TimelineHistory, Unknown };

WalFileKind ClassifyWalFileName(const std::string &name);
bool IsValidWalSegmentSize(uint64_t bytes);
std::string WalSegmentName(const WalSegment &seg, uint64_t segment_size);
// Parses a 24-character segment name (also the prefix of .partial/.backup names).
std::optional<WalSegment> ParseWalSegmentName(const std::string &name, uint64_t segment_size);
WalSegment SegmentOfLsn(uint32_t timeline, Lsn lsn, uint64_t segment_size);
// "<TLI>.history", and the timeline of such a name (ClassifyWalFileName: TimelineHistory).
std::string TimelineHistoryFileName(uint32_t timeline);
uint32_t TimelineOfHistoryFileName(const std::string &name);
// Repository key of a WAL-archive file: "wal/<TLI+LOG>/<name>" for segment-like names,
// "wal/<name>" for timeline history files.
std::string WalArchiveKey(const std::string &name);

} // namespace pgbk
