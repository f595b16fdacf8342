#include "pgbk/page.hpp"

#include <cstring>

namespace pgbk {
namespace {

constexpr int kSums = 32;
constexpr uint32_t kFnvPrime = 16777619;
// Initial values of the 32 parallel sums, part of the on-disk checksum definition.
constexpr uint32_t kBaseOffsets[kSums] = {
	0x5B1F36E9, 0xB8525960, 0x02AB50AA, 0x1DE66D2A, 0x79FF467A, 0x9BB9F8A3, 0x217E7CD2, 0x83E13D2C,
	0xF8D4474F, 0xE39EB970, 0x42C6AE16, 0x993216FA, 0x7B093B5D, 0x98DAFF3C, 0xF718902A, 0x0B1C9CDB,
	0xE58F764B, 0x187636BC, 0x5D7B3BB1, 0xE73DE7DE, 0x92BEC979, 0xCCA6C0B2, 0x304A0979, 0x85AA43D4,
	0x783125BB, 0x6CA8EAA2, 0xE407EAC6, 0x4B5CFC3E, 0x9FBF8C76, 0x15CA20BE, 0xF2CA9FD3, 0x959BD756};

inline uint32_t
Mix(uint32_t sum, uint32_t value)
{
	uint32_t tmp = sum ^ value;
	return tmp * kFnvPrime ^ (tmp >> 17);
}

uint16_t
Load16(const uint8_t *p)
{
	uint16_t v;
	std::memcpy(&v, p, 2);
	return v;
}

uint32_t
Load32(const uint8_t *p)
{
	uint32_t v;
	std::memcpy(&v, p, 4);
	return v;
}

} // namespace

PageHeaderView
ReadPageHeader(const uint8_t *page)
{
	// pd_lsn is {xlogid, xrecoff} in native byte order, then pd_checksum, pd_flags,
	// pd_lower, pd_upper.
	PageHeaderView h;
	h.lsn = static_cast<uint64_t>(Load32(page)) << 32 | Load32(page + 4);
	h.checksum = Load16(page + 8);
	h.lower = Load16(page + 12);
	h.upper = Load16(page + 14);
	return h;
}

uint16_t
PageChecksum(const uint8_t *page, uint32_t blkno)
{
	uint32_t sums[kSums];
	std::memcpy(sums, kBaseOffsets, sizeof sums);
	constexpr size_t rows = kBlockSize / (sizeof(uint32_t) * kSums);
	for (size_t i = 0; i < rows; i++)
		for (int j = 0; j < kSums; j++) {
			size_t off = (i * kSums + static_cast<size_t>(j)) * 4;
			// The stored checksum field counts as zero.
			uint32_t word = Load32(page + off);
			if (off == 8)
				word &= 0xFFFF0000u; // little-endian: pd_checksum is the low half of word 2
			sums[j] = Mix(sums[j], word);
		}
	for (int r = 0; r < 2; r++)
		for (int j = 0; j < kSums; j++)
			sums[j] = Mix(sums[j], 0);
	uint32_t result = 0;
	for (int j = 0; j < kSums; j++)
		result ^= sums[j];
	result ^= blkno;
	return static_cast<uint16_t>(result % 65535 + 1);
}

} // namespace pgbk
