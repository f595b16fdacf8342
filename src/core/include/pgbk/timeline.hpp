// Timeline histories (PostgreSQL's <TLI>.history files) and what they decide in a
// repository that several servers share: which timeline's history is authoritative,
// whether a server has been superseded (fencing: it stores no WAL past the fork, starts
// no backup, removes nothing), and which backups lie on a timeline's history.
//
// The rule. The authoritative timeline is the newest promotion: the highest timeline id
// whose history file the repository holds, which is what PostgreSQL's
// recovery_target_timeline = 'latest' replays. Ids are taken in increasing order (a
// promotion probes the archive for the next free one), so the highest was created last,
// by the server the cluster's manager promoted after every other. WAL at a position is
// on the authoritative history when the authoritative lineage reaches it; a server whose
// position it does not reach is superseded (fenced: it stores no WAL there, starts no
// backup, removes nothing). That fences a former primary once it went past the point
// where a standby was promoted, and every server of an older branch (a promotion that
// died, or was promoted over, before the newest), but never the newest promotion,
// whatever earlier forks, dead branches or skipped ids the repository holds. A copy
// promoted into the repository (restored without --clone by an older pgbk) is a newest
// promotion too: restores refuse to write one by default (issue 26).
#pragma once
#include "pgbk/wal.hpp"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace pgbk {

// Where a server is in WAL: where it inserts on a primary, where it has replayed on a
// standby.
struct ServerPosition {
	uint32_t timeline = 1;
	Lsn lsn = 0;
};

struct TimelineBranch {
	uint32_t parent = 0;
	Lsn switch_lsn = 0;
	uint32_t child = 0;
	bool operator==(const TimelineBranch &) const = default;
};

// Where a timeline comes from: its ancestors, oldest first, each with the LSN where it
// was left for the next (timeline 1 has none).
struct TimelineLineage {
	struct Step {
		uint32_t timeline = 0;
		Lsn end = 0; // the switch point to the next timeline of the lineage
	};
	uint32_t timeline = 1;
	std::vector<Step> ancestors;

	bool Includes(uint32_t tli) const;
	// Where this lineage leaves `tli` (nullopt for its own timeline or one not on it).
	std::optional<Lsn> EndOf(uint32_t tli) const;
	// Whether WAL at `lsn` on timeline `tli` is part of this lineage's history: on its
	// own timeline, or on an ancestor before the lineage left it. `lsn` is an end (of a
	// backup, of a segment): reaching exactly the switch point is still on it.
	bool Reaches(uint32_t tli, Lsn lsn) const;
	// The next timeline after `tli` on this lineage (0 if none).
	uint32_t ChildOf(uint32_t tli) const;
	// The branches this lineage is made of.
	std::vector<TimelineBranch> Branches() const;
	std::string Describe() const; // "1 until 0/5000000, then 2"
};

// Parses a history file's text. Throws Corrupt naming `what` if it is not one PostgreSQL
// writes (ancestors increasing, each below `timeline`, switch points not decreasing).
TimelineLineage ParseTimelineHistory(uint32_t timeline, const std::string &text, const std::string &what);

// Every timeline the repository knows of.
class TimelineSet {
public:
	void Add(const TimelineLineage &lineage);
	bool Knows(uint32_t tli) const;
	uint32_t Highest() const; // 1 when there are no history files
	// The lineage of `tli` as its history file says (timeline 1 and unknown ones: none).
	TimelineLineage LineageOf(uint32_t tli) const;
	// The branch that supersedes WAL up to `end` on timeline `tli` of lineage `own` (a
	// server's: `tli` its timeline and `end` its position; or a file's), if any: where
	// the authoritative lineage leaves the path to that point.
	std::optional<TimelineBranch> Superseding(const TimelineLineage &own, uint32_t tli, Lsn end) const;
	// The authoritative timeline: the newest promotion (the rule above).
	uint32_t Authoritative() const;
	const std::map<uint32_t, TimelineLineage> &
	lineages() const
	{
		return lineages_;
	}

private:
	std::map<uint32_t, TimelineLineage> lineages_;
	std::vector<TimelineBranch> branches_;
};

// The message for a superseded server, in pgBackRest's tone.
std::string SupersededMessage(const TimelineLineage &own, const TimelineBranch &fork);

} // namespace pgbk
