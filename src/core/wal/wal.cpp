#include "pgbk/wal.hpp"

#include <cinttypes>
#include <cstdio>

namespace pgbk {
namespace {

bool
IsHex(const std::string &s, size_t from, size_t len)
{
	if (s.size() < from + len)
		return false;
	for (size_t i = from; i < from + len; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
			return false;
	}
	return true;
}

bool
EndsWith(const std::string &s, const std::string &suffix)
{
	return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

} // namespace

std::string
FormatLsn(Lsn lsn)
{
	char buf[32];
	std::snprintf(buf, sizeof buf, "%X/%X", static_cast<uint32_t>(lsn >> 32), static_cast<uint32_t>(lsn));
	return buf;
}

Lsn
ParseLsn(const std::string &text)
{
	unsigned int hi = 0, lo = 0;
	int consumed = 0;
	if (std::sscanf(text.c_str(), "%X/%X%n", &hi, &lo, &consumed) != 2 || static_cast<size_t>(consumed) != text.size())
		throw Error(ErrorKind::Config, "invalid LSN \"" + text + "\"; expected the form 0/16B3748");
	return static_cast<Lsn>(hi) << 32 | lo;
}

WalFileKind
ClassifyWalFileName(const std::string &name)
{
	if (name.size() == 24 && IsHex(name, 0, 24))
		return WalFileKind::Segment;
	if (name.size() == 24 + 8 && IsHex(name, 0, 24) && EndsWith(name, ".partial"))
		return WalFileKind::Partial;
	if (name.size() == 24 + 1 + 8 + 7 && IsHex(name, 0, 24) && name[24] == '.' && IsHex(name, 25, 8) &&
		EndsWith(name, ".backup"))
		return WalFileKind::BackupHistory;
	if (name.size() == 8 + 8 && IsHex(name, 0, 8) && EndsWith(name, ".history"))
		return WalFileKind::TimelineHistory;
	return WalFileKind::Unknown;
}

std::string
TimelineHistoryFileName(uint32_t timeline)
{
	char name[32];
	std::snprintf(name, sizeof name, "%08X.history", timeline);
	return name;
}

uint32_t
TimelineOfHistoryFileName(const std::string &name)
{
	return static_cast<uint32_t>(std::stoul(name.substr(0, 8), nullptr, 16));
}

bool
IsValidWalSegmentSize(uint64_t bytes)
{
	return bytes >= (1u << 20) && bytes <= (1ull << 30) && (bytes & (bytes - 1)) == 0;
}

std::string
WalSegmentName(const WalSegment &seg, uint64_t segment_size)
{
	uint64_t per_id = 0x100000000ull / segment_size;
	char buf[32];
	std::snprintf(buf, sizeof buf, "%08X%08X%08X", seg.timeline, static_cast<uint32_t>(seg.segno / per_id),
				  static_cast<uint32_t>(seg.segno % per_id));
	return buf;
}

std::optional<WalSegment>
ParseWalSegmentName(const std::string &name, uint64_t segment_size)
{
	if (!IsHex(name, 0, 24))
		return std::nullopt;
	auto part = [&](size_t at) { return static_cast<uint32_t>(std::stoul(name.substr(at, 8), nullptr, 16)); };
	uint64_t per_id = 0x100000000ull / segment_size;
	uint32_t log = part(8), seg = part(16);
	if (seg >= per_id)
		return std::nullopt;
	return WalSegment{part(0), static_cast<uint64_t>(log) * per_id + seg};
}

WalSegment
SegmentOfLsn(uint32_t timeline, Lsn lsn, uint64_t segment_size)
{
	return WalSegment{timeline, lsn / segment_size};
}

std::string
WalArchiveKey(const std::string &name)
{
	switch (ClassifyWalFileName(name)) {
	case WalFileKind::Segment:
	case WalFileKind::Partial:
	case WalFileKind::BackupHistory:
		return "wal/" + name.substr(0, 16) + "/" + name;
	case WalFileKind::TimelineHistory:
		return "wal/" + name;
	case WalFileKind::Unknown:
		break;
	}
	throw Error(ErrorKind::Config, "\"" + name + "\" is not a WAL file name");
}

} // namespace pgbk
