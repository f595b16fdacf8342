// PostgreSQL heap/index page header fields and the page checksum algorithm (the FNV-1a
// variant of storage/checksum_impl.h), so the core can verify pages without PG headers.
#pragma once
#include <cstddef>
#include <cstdint>

namespace pgbk {

constexpr size_t kBlockSize = 8192;
constexpr uint32_t kRelSegBlocks = 131072; // RELSEG_SIZE: 1 GiB segments of 8 KiB pages

struct PageHeaderView {
	uint64_t lsn;
	uint16_t checksum;
	uint16_t lower, upper;
};

PageHeaderView ReadPageHeader(const uint8_t *page);
inline bool
PageIsNew(const PageHeaderView &h)
{
	return h.upper == 0;
}
// pg_checksum_page(page, blkno) for an 8 KiB page; blkno is the absolute block number.
uint16_t PageChecksum(const uint8_t *page, uint32_t blkno);

} // namespace pgbk
