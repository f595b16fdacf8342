// WAL prefetch for recovery (pgbk wal-fetch): PostgreSQL's restore_command asks for one
// segment at a time, so a background prefetcher fetches the next segments in parallel
// into a bounded spool inside pg_wal, and wal-fetch takes a spooled segment with a rename.
// Prefetching is only an optimisation: whatever goes wrong with it, wal-fetch falls back
// to fetching the segment itself (which reports a missing or damaged segment by name).
#pragma once
#include "pgbk/repository.hpp"

#include <cstdint>
#include <string>

namespace pgbk {

class WalSpool {
public:
	// Creates the directory if needed.
	explicit WalSpool(std::string dir);
	const std::string &
	dir() const
	{
		return dir_;
	}
	// Moves the spooled segment to dest (same file system); false if it is not spooled.
	bool Take(const std::string &name, const std::string &dest);
	// What recovery asked for last (written by wal-fetch, read by the prefetcher).
	void SetWanted(const std::string &name);
	std::string Wanted() const;
	// Spooled segment files (complete ones, not temporary files).
	std::vector<std::string> Segments() const;
	// Removes spooled segments recovery is past, beyond the window, or of another
	// timeline than `wanted`'s.
	void Prune(const std::string &wanted, size_t depth, uint64_t segment_size);
	// Removes every spooled segment (and the directory, if nothing else is in it).
	void Clear();

private:
	std::string dir_;
};

// The segment after `name` (same timeline), by segment size.
std::string NextWalSegment(const std::string &name, uint64_t segment_size);

struct PrefetchRound {
	size_t fetched = 0; // segments newly spooled
	bool reached_end = false; // a segment in the window is not in the repository (yet)
	size_t failed = 0; // fetches that failed (left for wal-fetch to report)
};

// Brings the spool to the `depth` segments after the wanted one, `parallel` fetches at a
// time. Stops at the first segment missing from the repository (the end of the archive).
PrefetchRound PrefetchOnce(Repository &repo, WalSpool &spool, size_t depth, int parallel, uint64_t segment_size);

} // namespace pgbk
