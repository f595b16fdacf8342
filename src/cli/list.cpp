// pgbk list: the backups and timelines of a repository, and the holes in its archive.
#include "cli.hpp"

#include "pgbk/continuity.hpp"
#include "pgbk/retention.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <iostream>
#include <nlohmann/json.hpp>

namespace pgbk::cli {
namespace {

// Every hole in the archive from the oldest complete backup on the history restores
// follow to the newest WAL on it.
void
PrintContinuity(Repository &repo, const std::vector<BackupRecord> &backups)
{
	RepositoryContinuity c;
	try {
		c = CheckRepositoryContinuity(repo, backups);
	} catch (const Error &e) {
		std::printf("archive: not checked (%s)\n", e.what());
		return;
	}
	for (const auto &gap : c.gaps)
		std::printf("archive gap: %s\n", DescribeGap(gap).c_str());
	if (!c.checked)
		return;
	if (c.archive.hole_count == 0) {
		std::printf("archive: continuous from %s (backup %s) to %s\n", c.from_wal.c_str(), c.from_backup.c_str(),
					c.archive.last.c_str());
		return;
	}
	std::printf("archive: %llu hole(s), %llu segment(s) missing after backup %s (no point-in-time recovery past "
				"the first):\n",
				static_cast<unsigned long long>(c.archive.hole_count),
				static_cast<unsigned long long>(c.archive.missing_segments), c.from_backup.c_str());
	for (const auto &hole : c.archive.holes)
		std::printf("    %s\n", DescribeHole(hole, c.segment_size, c.gaps).c_str());
	if (c.archive.hole_count > c.archive.holes.size())
		std::printf("    ... and %llu more\n",
					static_cast<unsigned long long>(c.archive.hole_count - c.archive.holes.size()));
}

int
RunList(Context &context, const std::vector<std::string> &args)
{
	bool json = false;
	for (const auto &a : args) {
		if (a == "--json")
			json = true;
		else
			throw UsageError("unknown list option " + a);
	}
	Repository &repo = *context.repo;
	auto backups = repo.ListBackups();
	TimelineSet timelines = repo.ReadTimelines();
	TimelineLineage history = timelines.LineageOf(timelines.Authoritative());
	int64_t delay = context.values.Integer(settings::Id("pgbk.expire_delay"));
	// Each mark of a backup retention selected, and whether it counts (made on the line
	// restores follow) and when its removal is due.
	auto marks_json = [&](const BackupRecord &b) {
		nlohmann::json marks = nlohmann::json::array();
		for (const auto &m : b.expiry_marks)
			marks.push_back({{"marked_at", FormatTime(m.marked_at)},
							 {"node", m.node},
							 {"timeline", m.timeline},
							 {"lsn", FormatLsn(m.lsn)},
							 {"reason", m.reason},
							 {"void", !MarkOnHistory(m, history)}});
		return marks;
	};
	if (json) {
		nlohmann::json arr = nlohmann::json::array();
		for (auto &b : backups)
			arr.push_back({{"label", b.label},
						   {"type", b.type},
						   {"status", BackupStatusName(b.status)},
						   {"started_at", FormatTime(b.started_at)},
						   {"finished_at", FormatTime(b.finished_at)},
						   {"start_lsn", FormatLsn(b.start_lsn)},
						   {"stop_lsn", b.stop_lsn ? FormatLsn(b.stop_lsn) : ""},
						   {"timeline", b.timeline},
						   {"pg_version", b.pg_version_num},
						   {"host", b.host},
						   {"pgdata", b.pgdata},
						   {"standby", b.standby},
						   {"wal_start", b.wal_start},
						   {"wal_stop", b.wal_stop},
						   {"database_bytes", b.database_bytes},
						   {"stored_bytes", b.stored_bytes},
						   {"files", b.files},
						   {"prior", b.prior},
						   {"consistent_at", FormatTime(b.stop_time_us / 1000000)},
						   {"next_xid", b.next_xid},
						   {"error", b.error},
						   {"expiry_marks", marks_json(b)},
						   {"expire_after", FormatTime(ExpiryDueAt(b, history, delay).value_or(0))},
						   {"kept", b.kept}});
		std::cout << arr.dump(2) << "\n";
		return 0;
	}
	std::printf("repository: %s\n", repo.Describe().c_str());
	// Whose it is: a repository belongs to one cluster and its major version; after
	// pg_upgrade the old one stays readable here whatever server runs now.
	if (std::optional<ClusterIdentity> id = repo.ReadIdentity())
		std::printf("cluster: system identifier %llu, PostgreSQL %d\n",
					static_cast<unsigned long long>(id->system_identifier), id->pg_major);
	if (!timelines.lineages().empty()) {
		std::printf("timelines: 1");
		for (const auto &[tli, lineage] : timelines.lineages())
			std::printf(", %u (from %u at %s)", tli, lineage.ancestors.back().timeline,
						FormatLsn(lineage.ancestors.back().end).c_str());
		std::printf("; restores follow timeline %u\n", timelines.Authoritative());
	}
	PrintContinuity(repo, backups);
	if (backups.empty()) {
		std::printf("no backups\n");
		return 0;
	}
	std::printf("%-18s %-5s %-10s %-22s %-22s %-12s %-12s %-4s %10s %10s\n", "label", "type", "status", "started",
				"finished", "start_lsn", "stop_lsn", "tli", "size", "stored");
	for (auto &b : backups) {
		std::printf("%-18s %-5s %-10s %-22s %-22s %-12s %-12s %-4u %10s %10s\n", b.label.c_str(), b.type.c_str(),
					BackupStatusName(b.status), FormatTime(b.started_at).c_str(), FormatTime(b.finished_at).c_str(),
					FormatLsn(b.start_lsn).c_str(), b.stop_lsn ? FormatLsn(b.stop_lsn).c_str() : "", b.timeline,
					HumanBytes(b.database_bytes).c_str(), HumanBytes(b.stored_bytes).c_str());
		if (!b.host.empty())
			std::printf("    taken on: %s:%s%s\n", b.host.c_str(), b.pgdata.c_str(), b.standby ? " (a standby)" : "");
		if (!b.prior.empty())
			std::printf("    prior: %s\n", b.prior.c_str());
		if (!b.error.empty())
			std::printf("    error: %s\n", b.error.c_str());
		if (b.kept)
			std::printf("    kept: pgbk_keep (retention never selects it)\n");
		if (const ExpiryMark *valid = ValidExpiryMark(b, history))
			std::printf("    expiry: marked by %s (%s); removed by the first expiry after %s\n", valid->node.c_str(),
						valid->reason.c_str(), FormatTime(valid->marked_at + delay).c_str());
		for (const auto &m : b.expiry_marks)
			if (!MarkOnHistory(m, history))
				std::printf("    expiry: a mark by %s at %s is void: its server was on timeline %u at %s, off the "
							"line restores follow\n",
							m.node.c_str(), FormatTime(m.marked_at).c_str(), m.timeline, FormatLsn(m.lsn).c_str());
	}
	return 0;
}

const CommandRegistration registration({"list", "list [--json]", RepositoryUse::Read, RunList});

} // namespace
} // namespace pgbk::cli
