// Timeline histories (PostgreSQL's <TLI>.history files) and what they decide in a
// repository that several servers share: which timeline's history is authoritative,
// whether a server has been superseded (fencing: it stores no WAL past the fork, starts
// no backup, removes nothing), and which backups lie on a timeline's history.
//
// The rule. Every history file lists, for each ancestor of its timeline, where that
// ancestor was left; each such step is a branch (parent, switch LSN, child). A server on
// a lineage is superseded by a branch whose child is not on its lineage and which leaves
// a timeline of its lineage at a point the server's lineage went past: the repository
// records that another server took over from there. When two lineages leave the same
// timeline at the same point, the higher child timeline wins (it was created later, by
// a promotion that already saw the other). Exactly one leaf timeline is then
// unsuperseded: the authoritative one, which a restore follows by default.
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
	// server's: `tli` its timeline and `end` its position; or a file's), if any: the
	// earliest such fork.
	std::optional<TimelineBranch> Superseding(const TimelineLineage &own, uint32_t tli, Lsn end) const;
	// The authoritative timeline: the leaf no branch supersedes.
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
