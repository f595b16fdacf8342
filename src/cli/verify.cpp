// pgbk verify: re-reads backups and their WAL; one line (or JSON object) per problem.
#include "cli.hpp"

#include "pgbk/continuity.hpp"
#include "pgbk/verify.hpp"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <nlohmann/json.hpp>

namespace pgbk::cli {
namespace {

int
RunVerify(Context &context, const std::vector<std::string> &args)
{
	std::string label;
	bool json = false;
	VerifyOptions opts;
	opts.parallel = context.parallel;
	for (size_t i = 0; i < args.size(); i++) {
		if (args[i] == "--json")
			json = true;
		else if (args[i] == "--parallel" && i + 1 < args.size())
			opts.parallel = ParseParallel(args[++i], "--parallel");
		else if (args[i].rfind("--", 0) == 0 || !label.empty())
			throw UsageError("unknown verify argument " + args[i]);
		else
			label = args[i];
	}
	Repository &repo = *context.repo;
	std::vector<BackupRecord> backups = SelectBackupsToVerify(repo, label);
	nlohmann::json out = {{"problems", nlohmann::json::array()}, {"backups", nlohmann::json::array()}};
	size_t problems = 0;
	for (const auto &b : backups) {
		VerifyResult r = VerifyBackup(repo, b, opts, [&](const VerifyProblem &p) {
			if (json)
				out["problems"].push_back({{"label", p.label}, {"object", p.object}, {"problem", p.problem}});
			else
				std::printf("%s: %s: %s\n", p.label.c_str(), p.object.c_str(), p.problem.c_str());
		});
		problems += r.problems;
		nlohmann::json keys = nlohmann::json::array();
		for (const auto &k : r.keys)
			keys.push_back({{"key_id", k.key_id}, {"objects", k.objects}, {"current", k.current}});
		out["backups"].push_back({{"label", b.label}, {"intact", r.problems == 0}, {"keys", keys}});
		if (json)
			continue;
		if (r.problems == 0)
			std::printf("%s: intact (%llu files, WAL %s to %s)\n", b.label.c_str(),
						static_cast<unsigned long long>(b.files), b.wal_start.c_str(), b.wal_stop.c_str());
		if (std::string old = r.OldKeys(); !old.empty())
			std::printf("%s: needs old key %s: keep its file in pgbk.encryption_keyring while this backup is kept\n",
						b.label.c_str(), old.c_str());
	}
	// The archive between the backups: a hole is WAL no restore can replay past.
	if (label.empty()) {
		RepositoryContinuity c = CheckRepositoryContinuity(repo, repo.ListBackups());
		nlohmann::json holes = nlohmann::json::array();
		for (const auto &hole : c.archive.holes) {
			std::string where = DescribeHole(hole, c.segment_size, c.gaps);
			holes.push_back(where);
			if (!json)
				std::printf("archive: missing %s (after backup %s)\n", where.c_str(), c.from_backup.c_str());
		}
		problems += c.archive.hole_count;
		// A gap no backup covers yet breaks the recovery point objective even before WAL
		// after it arrives (then it is also a hole, counted above).
		nlohmann::json gaps = nlohmann::json::array();
		for (const auto &gap : c.gaps) {
			gaps.push_back({{"timeline", gap.timeline},
							{"first_wal", gap.first_wal},
							{"last_wal", gap.last_wal},
							{"segments", gap.segments},
							{"opened_at", FormatTime(gap.opened_at)},
							{"closed_at", gap.Open() ? "" : FormatTime(gap.closed_at)},
							{"covered_by", gap.covered_by},
							{"node", gap.node}});
			if (!json)
				std::printf("archive gap: %s\n", DescribeGap(gap).c_str());
			if (gap.Open())
				problems++;
		}
		if (!json && c.checked && c.archive.hole_count == 0)
			std::printf("archive: continuous from %s (backup %s) to %s\n", c.from_wal.c_str(), c.from_backup.c_str(),
						c.archive.last.c_str());
		if (!json && c.archive.hole_count > c.archive.holes.size())
			std::printf("archive: ... and %llu more hole(s)\n",
						static_cast<unsigned long long>(c.archive.hole_count - c.archive.holes.size()));
		out["archive"] = {{"checked", c.checked},
						  {"from_backup", c.from_backup},
						  {"last_wal", c.archive.last},
						  {"hole_count", c.archive.hole_count},
						  {"missing_segments", c.archive.missing_segments},
						  {"holes", holes},
						  {"gaps", gaps}};
	}
	if (json)
		std::cout << out.dump(2) << "\n";
	return problems == 0 ? 0 : 1;
}

const CommandRegistration registration({"verify", "verify [LABEL] [--json] [--parallel N]", RepositoryUse::Read,
										RunVerify});

} // namespace
} // namespace pgbk::cli
