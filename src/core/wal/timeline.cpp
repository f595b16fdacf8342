#include "pgbk/timeline.hpp"

#include <algorithm>
#include <cstdio>
#include <limits>
#include <sstream>

namespace pgbk {

bool
TimelineLineage::Includes(uint32_t tli) const
{
	return tli == timeline ||
		   std::any_of(ancestors.begin(), ancestors.end(), [tli](const Step &s) { return s.timeline == tli; });
}

std::optional<Lsn>
TimelineLineage::EndOf(uint32_t tli) const
{
	for (const auto &s : ancestors)
		if (s.timeline == tli)
			return s.end;
	return std::nullopt;
}

bool
TimelineLineage::Reaches(uint32_t tli, Lsn lsn) const
{
	if (tli == timeline)
		return true;
	auto end = EndOf(tli);
	return end && lsn <= *end;
}

uint32_t
TimelineLineage::ChildOf(uint32_t tli) const
{
	for (size_t i = 0; i < ancestors.size(); i++)
		if (ancestors[i].timeline == tli)
			return i + 1 < ancestors.size() ? ancestors[i + 1].timeline : timeline;
	return 0;
}

std::vector<TimelineBranch>
TimelineLineage::Branches() const
{
	std::vector<TimelineBranch> out;
	for (const auto &s : ancestors)
		out.push_back(TimelineBranch{s.timeline, s.end, ChildOf(s.timeline)});
	return out;
}

std::string
TimelineLineage::Describe() const
{
	std::string out;
	for (const auto &s : ancestors)
		out += std::to_string(s.timeline) + " until " + FormatLsn(s.end) + ", then ";
	return out + std::to_string(timeline);
}

TimelineLineage
ParseTimelineHistory(uint32_t timeline, const std::string &text, const std::string &what)
{
	TimelineLineage l;
	l.timeline = timeline;
	std::istringstream in(text);
	std::string line;
	while (std::getline(in, line)) {
		// "parentTLI<TAB>switchpoint<TAB>reason"; comments and blank lines are allowed.
		size_t start = line.find_first_not_of(" \t");
		if (start == std::string::npos || line[start] == '#')
			continue;
		unsigned long parent = 0;
		char lsn[32] = "";
		if (std::sscanf(line.c_str() + start, "%lu %31s", &parent, lsn) != 2 || parent == 0 || parent >= timeline)
			throw Error(ErrorKind::Corrupt, what + " is not a timeline history: \"" + line.substr(0, 80) + "\"");
		Lsn end;
		try {
			end = ParseLsn(lsn);
		} catch (const Error &) {
			throw Error(ErrorKind::Corrupt, what + " has an invalid switch point \"" + std::string(lsn) + "\"");
		}
		if (!l.ancestors.empty() && (parent <= l.ancestors.back().timeline || end < l.ancestors.back().end))
			throw Error(ErrorKind::Corrupt, what + " lists its ancestors out of order");
		l.ancestors.push_back(TimelineLineage::Step{static_cast<uint32_t>(parent), end});
	}
	if (timeline > 1 && l.ancestors.empty())
		throw Error(ErrorKind::Corrupt, what + " names no parent timeline");
	return l;
}

void
TimelineSet::Add(const TimelineLineage &lineage)
{
	lineages_[lineage.timeline] = lineage;
	for (const auto &b : lineage.Branches())
		if (std::find(branches_.begin(), branches_.end(), b) == branches_.end())
			branches_.push_back(b);
}

bool
TimelineSet::Knows(uint32_t tli) const
{
	return tli == 1 || lineages_.count(tli) > 0;
}

uint32_t
TimelineSet::Highest() const
{
	return lineages_.empty() ? 1 : lineages_.rbegin()->first;
}

TimelineLineage
TimelineSet::LineageOf(uint32_t tli) const
{
	auto it = lineages_.find(tli);
	if (it != lineages_.end())
		return it->second;
	TimelineLineage l;
	l.timeline = tli;
	return l;
}

std::optional<TimelineBranch>
TimelineSet::Superseding(const TimelineLineage &own, uint32_t tli, Lsn end) const
{
	if (!own.Includes(tli))
		return std::nullopt;
	// WAL of one timeline is written by one server: whether (tli, end) is on the newest
	// promotion's history does not depend on how `own` got there. A lineage newer than
	// every stored history is itself the newest promotion (its history file is on its
	// way: the first file it archives).
	uint32_t newest = Authoritative();
	TimelineLineage authority = own.timeline > newest ? own : LineageOf(newest);
	if (authority.Reaches(tli, end))
		return std::nullopt;
	// Where the authoritative line leaves the path asked about: the newest timeline the
	// two share (timeline 1 at least), and the authority's step off it.
	uint32_t shared = 1;
	for (const auto &step : own.ancestors)
		if (step.timeline <= tli && authority.Includes(step.timeline))
			shared = std::max(shared, step.timeline);
	if (tli <= own.timeline && authority.Includes(tli))
		shared = std::max(shared, tli);
	return TimelineBranch{shared, authority.EndOf(shared).value_or(0), authority.ChildOf(shared)};
}

uint32_t
TimelineSet::Authoritative() const
{
	// The newest promotion: timeline ids are taken in increasing order (a promotion
	// probes the archive for the next free one), so the highest id was created last,
	// by a server that the cluster's manager promoted after every other. It is what
	// recovery_target_timeline = 'latest' replays. Earlier forks, dead branches and
	// skipped ids never outrank it.
	return Highest();
}

std::string
SupersededMessage(const TimelineLineage &own, const TimelineBranch &fork)
{
	std::string server = "this server (timeline " + std::to_string(own.timeline) +
						 (own.ancestors.empty() ? "" : ": " + own.Describe()) + ")";
	auto left = own.EndOf(fork.parent);
	if (left && *left <= fork.switch_lsn && own.ChildOf(fork.parent) != fork.child)
		// A branch off an earlier point than the newest promotion's: a dead or older line.
		return "timeline " + std::to_string(fork.child) + " in the repository (off timeline " +
			   std::to_string(fork.parent) + " at " + FormatLsn(fork.switch_lsn) + ") is the newest promotion, and " +
			   server +
			   " is not on its history: it was promoted before that and is a former primary (split brain) or a "
			   "copy; was timeline " +
			   std::to_string(fork.child) + " created by promoting another server while this one kept running?";
	return "timeline " + std::to_string(fork.child) + " in the repository forked off timeline " +
		   std::to_string(fork.parent) + " at " + FormatLsn(fork.switch_lsn) + ", and " + server +
		   " went past that point: another server was promoted there, so this one is a former primary (split "
		   "brain) or a copy; was timeline " +
		   std::to_string(fork.child) + " created by promoting a standby while this server kept running?";
}

} // namespace pgbk
