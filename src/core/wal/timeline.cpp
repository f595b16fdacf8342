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
	// The path asked about: own's timelines up to `tli` (ids increase along a lineage),
	// each as far as own went on it, `tli` itself up to `end`.
	if (!own.Includes(tli))
		return std::nullopt;
	std::optional<TimelineBranch> earliest;
	for (const auto &b : branches_) {
		if (!own.Includes(b.parent) || b.parent > tli)
			continue; // leaves a timeline this path is not on
		if (b.parent != tli && b.child == own.ChildOf(b.parent) && b.switch_lsn == *own.EndOf(b.parent))
			continue; // a step of the path itself
		Lsn reach = b.parent == tli ? end : *own.EndOf(b.parent);
		bool passed = b.switch_lsn < reach;
		// The same switch point: a lineage that left there too loses to the higher child.
		// On `tli` itself the point is not past it (a clean switchover ends exactly there).
		if (!passed && b.switch_lsn == reach && b.parent != tli)
			passed = b.child > own.ChildOf(b.parent);
		if (passed && (!earliest || b.switch_lsn < earliest->switch_lsn))
			earliest = b;
	}
	return earliest;
}

uint32_t
TimelineSet::Authoritative() const
{
	uint32_t best = 1;
	for (const auto &[tli, lineage] : lineages_) {
		bool has_child = std::any_of(branches_.begin(), branches_.end(),
									 [tli = tli](const TimelineBranch &b) { return b.parent == tli; });
		if (has_child)
			continue;
		if (!Superseding(lineage, tli, std::numeric_limits<Lsn>::max()))
			best = std::max(best, tli);
	}
	return best;
}

std::string
SupersededMessage(const TimelineLineage &own, const TimelineBranch &fork)
{
	return "timeline " + std::to_string(fork.child) + " in the repository forked off timeline " +
		   std::to_string(fork.parent) + " at " + FormatLsn(fork.switch_lsn) + ", and this server (timeline " +
		   std::to_string(own.timeline) + (own.ancestors.empty() ? "" : ": " + own.Describe()) +
		   ") went past that point: another server was promoted there, so this one is a former primary (split "
		   "brain) or a copy; was timeline " +
		   std::to_string(fork.child) + " created by promoting a standby while this server kept running?";
}

} // namespace pgbk
