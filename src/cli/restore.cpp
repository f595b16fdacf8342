// pgbk restore: a backup into a new directory (or --delta into an existing one), with
// recovery configured to replay the archived WAL to the end or to a target.
#include "cli.hpp"

#include "pgbk/continuity.hpp"
#include "pgbk/recovery_target.hpp"
#include "pgbk/restore.hpp"
#include "pgbk/restore_role.hpp"
#include "pgbk/node_identity.hpp"

#include "pgbk/fileio.hpp"

#include <chrono>
#include <optional>
#include <fcntl.h>
#include <fstream>
#include <sys/stat.h>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace pgbk::cli {
namespace {

struct RestoreRequest {
	RestoreOptions options;
	RecoveryTarget target;
	RestoreRoleRequest role_request; // --standby, --takeover, --clone
	RestoreRoleChoice role; // what the copy becomes (restore_role.hpp)
	std::string primary_conninfo; // --standby: where it streams from (--connstring from Patroni)
	// The repository's secrets (S3 keys) go to a file outside the data directory, never
	// into postgresql.auto.conf: every later base backup would carry them in plain text.
	std::string secrets_file; // --secrets-file; default beside the data directory
	std::string secrets; // its content, empty when no secret is carried
};

RestoreRequest
ParseRestoreArgs(const std::vector<std::string> &args, int parallel)
{
	RestoreRequest req;
	req.options.parallel = parallel;
	int targets = 0;
	auto set_target = [&](RecoveryTarget::Kind kind, const std::string &value) {
		req.target.kind = kind;
		req.target.value = value;
		targets++;
	};
	for (size_t i = 0; i < args.size(); i++) {
		// "--option=value" as well (how Patroni passes a replica method's parameters).
		std::string a = args[i];
		std::optional<std::string> inline_value;
		if (auto eq = a.find('='); a.rfind("--", 0) == 0 && eq != std::string::npos) {
			inline_value = a.substr(eq + 1);
			a.resize(eq);
		}
		auto value = [&]() {
			if (inline_value)
				return *inline_value;
			if (i + 1 >= args.size())
				throw UsageError(a + " needs a value");
			return args[++i];
		};
		if (a == "--pgdata" || a == "--datadir")
			req.options.pgdata = AbsolutePath(value());
		else if (a == "--standby")
			req.role_request.standby = true;
		else if (a == "--primary-conninfo" || a == "--connstring")
			req.primary_conninfo = value();
		else if (a == "--scope")
			value(); // Patroni's cluster name: the repository already says which cluster
		else if (a == "--role") {
			if (std::string role = value(); role != "replica")
				throw UsageError("--role " + role + ": pgbk restore builds a replica only");
			req.role_request.standby = true;
		} else if (a == "--backup")
			req.options.label = value();
		else if (a == "--parallel")
			req.options.parallel = ParseParallel(value(), "--parallel");
		else if (a == "--target-time")
			set_target(RecoveryTarget::Kind::Time, value());
		else if (a == "--target-lsn")
			set_target(RecoveryTarget::Kind::Lsn, value());
		else if (a == "--target-xid")
			set_target(RecoveryTarget::Kind::Xid, value());
		else if (a == "--target-name")
			set_target(RecoveryTarget::Kind::Name, value());
		else if (a == "--target-immediate")
			set_target(RecoveryTarget::Kind::Immediate, "");
		else if (a == "--target-inclusive") {
			std::string v = value();
			if (v != "true" && v != "false")
				throw UsageError("--target-inclusive takes true or false");
			req.target.inclusive = v == "true";
		} else if (a == "--target-action")
			req.target.action = value();
		else if (a == "--target-timeline")
			req.target.timeline = value();
		else if (a == "--clone")
			req.role_request.copy = true;
		else if (a == "--takeover")
			req.role_request.takeover = true;
		else if (a == "--delta")
			req.options.delta = true;
		else if (a == "--pg-version") {
			std::string v = value();
			req.options.pg_major = std::atoi(v.c_str());
			if (req.options.pg_major < 10 || std::to_string(req.options.pg_major) != v)
				throw UsageError("--pg-version " + v + ": give the major version that will start the copy, e.g. 18");
		} else if (a == "--secrets-file")
			req.secrets_file = AbsolutePath(value());
		else
			throw UsageError("unknown restore option " + a);
	}
	if (targets > 1)
		throw UsageError("give one target: --target-time, --target-lsn, --target-xid, --target-name or "
						 "--target-immediate");
	try {
		ValidateRecoveryTarget(req.target);
	} catch (const Error &e) {
		throw UsageError(e.what());
	}
	if (req.options.pgdata.empty())
		throw UsageError("restore needs --pgdata DIR");
	const RestoreRoleRequest &role = req.role_request;
	if (role.standby && req.target.kind != RecoveryTarget::Kind::None)
		throw UsageError("--standby follows the primary to its newest WAL: it takes no recovery target");
	if (!req.primary_conninfo.empty() && !role.standby)
		throw UsageError("--primary-conninfo needs --standby");
	req.options.standby = role.standby;
	req.role_request.pgdata = StripTrailingSlashes(req.options.pgdata);
	req.role_request.host = LocalHostName();
	return req;
}

// The backup: the one named (it must reach the target), or the newest that does; both
// on the history of the timeline the restore follows.
void
ChooseBackup(Repository &repo, RestoreRequest &req)
{
	auto backups = repo.ListBackups();
	TimelineSet timelines = repo.ReadTimelines();
	std::string followed = req.target.timeline;
	std::optional<TimelineLineage> history = RestoreHistory(timelines, req.target);
	if (history && req.target.timeline != followed)
		std::printf("following timeline %s, not the highest (%u): that one forks off a line another timeline "
					"superseded earlier (timelines: %s)\n",
					req.target.timeline.c_str(), timelines.Highest(),
					timelines.LineageOf(timelines.Highest()).Describe().c_str());
	if (req.options.label.empty()) {
		std::string excluded;
		if (history)
			std::erase_if(backups, [&](const BackupRecord &b) {
				std::string why = b.status == BackupStatus::Complete ? OffHistoryReason(b, *history) : "";
				if (!why.empty() && excluded.empty())
					excluded = why;
				return !why.empty();
			});
		try {
			req.options.backup = SelectBackupForTarget(backups, req.target, repo.Describe());
		} catch (const Error &e) {
			if (excluded.empty())
				throw;
			throw Error(e.kind(), std::string(e.what()) + " on the history of timeline " +
									  std::to_string(history->timeline) + " (" + excluded + ")");
		}
		if (req.target.kind == RecoveryTarget::Kind::Name)
			std::printf("a restore point's position is only known by replaying WAL: restoring the oldest backup, "
						"%s, which reaches every restore point after it (name a newer one with --backup to replay "
						"less)\n",
						req.options.backup->label.c_str());
	} else {
		req.options.backup = SelectBackup(backups, req.options.label, repo.Describe());
		if (history)
			if (std::string why = OffHistoryReason(*req.options.backup, *history); !why.empty())
				throw Error(ErrorKind::Config,
							why +
								"; restore a backup on that history, or name the backup's line with --target-timeline");
		if (req.target.kind != RecoveryTarget::Kind::None)
			SelectBackupForTarget({*req.options.backup}, req.target, "backup " + req.options.label);
	}
	// Before a byte is restored: a target past a gap in the archive is refused here, not
	// by the restored server hours later.
	const BackupRecord &chosen = *req.options.backup;
	TimelineLineage line = history ? *history : timelines.LineageOf(chosen.timeline);
	TargetReach reach =
		CheckTargetReachable(repo, chosen, backups, req.target, line, repo.ReadManifestHeader(chosen).segment_size);
	if (!reach.refusal.empty())
		throw Error(ErrorKind::Config, reach.refusal);
	for (const auto &warning : reach.warnings)
		std::printf("warning: %s\n", warning.c_str());
}

// One shell word of a restore_command: quoted for the shell, and '%' doubled, which
// PostgreSQL would otherwise read as an escape (%f, %p).
std::string
RestoreCommandWord(const std::string &word)
{
	std::string out;
	for (char c : ShellQuote(word))
		out += c == '%' ? std::string("%%") : std::string(1, c);
	return out;
}

// <parent>/<name of the data directory>.pgbk-secrets.conf
std::string
DefaultSecretsFile(const std::string &pgdata)
{
	std::string dir = StripTrailingSlashes(pgdata);
	auto slash = dir.find_last_of('/');
	return dir.substr(0, slash == 0 ? 1 : slash) + (slash == 0 ? "" : "/") + dir.substr(slash + 1) +
		   ".pgbk-secrets.conf";
}

// Writes the secrets file (0600) and makes the restored server read it: an
// include_if_exists line in the data directory's postgresql.conf, when it has one.
void
WriteSecretsFile(const RestoreRequest &req)
{
	if (req.secrets.empty())
		return;
	ReplaceFile(req.secrets_file, req.secrets, true, 0600);
	std::string conf = req.options.pgdata + "/postgresql.conf";
	struct stat st;
	if (::stat(conf.c_str(), &st) == 0) {
		std::string include = "include_if_exists = " + QuoteConfValue(req.secrets_file);
		std::ifstream in(conf);
		for (std::string l; std::getline(in, l);)
			if (l.rfind(include, 0) == 0)
				return; // a delta restore into a directory restored the same way before
		std::string line = include + " # pgbk restore: the repository's secrets, kept out of the data directory\n";
		UniqueFd fd = OpenOrThrow(conf, O_WRONLY | O_APPEND);
		WriteFully(fd.get(), line.data(), line.size(), conf);
		if (::fsync(fd.get()) != 0)
			ThrowErrno("could not fsync \"" + conf + "\"", errno);
		fd.Close(conf);
	}
}

// What the restored cluster needs to reach the repository: pgbk.repository, and every
// other setting opening it read that was given (the driver's, key files). wal-fetch
// reads them back from the restored postgresql.auto.conf, which only its owner can
// read, or, when one of them is a secret, from a file outside the data directory.
void
ConfigureRecovery(const Context &context, RestoreRequest &req)
{
	RestoreOptions &opts = req.options;
	opts.settings.emplace_back("pgbk.repository", context.location.url);
	for (auto &kv : RecoverySettings(req.target))
		opts.settings.push_back(kv);
	if (!req.primary_conninfo.empty())
		opts.settings.emplace_back("primary_conninfo", req.primary_conninfo);
	if (req.role.role == RestoreRole::Copy) {
		// A copy that keeps the source's settings would archive its WAL, and take its
		// backups, into the source's repository and history: its promotion would be the
		// newest line there and fence the running primary.
		opts.settings.emplace_back("archive_mode", "off");
		for (const auto &t : kBackupTypes)
			opts.settings.emplace_back(std::string(t.schedule_setting), "");
	}
	std::vector<std::pair<std::string, std::string>> carried;
	bool secret = false;
	for (size_t i = 0; i < settings::kCount; i++) {
		const settings::Definition &d = settings::kDefinitions[i];
		bool ours = d.group.empty() || d.group == context.location.driver->Scheme();
		if ((d.flags & settings::kOpensRepository) && ours && i != settings::Id("pgbk.repository") &&
			context.values.IsSet(i) && !context.values.Text(i).empty()) {
			carried.emplace_back(std::string(d.name), context.values.Text(i));
			secret = secret || (d.flags & settings::kSecret);
		}
	}
	if (secret) {
		// Everything wal-fetch needs, in one file only the owner reads, outside the data
		// directory; the restored postgresql.conf includes it (RunRestore).
		if (req.secrets_file.empty())
			req.secrets_file = DefaultSecretsFile(opts.pgdata);
		if (PathIsWithin(req.secrets_file, opts.pgdata))
			throw UsageError("--secrets-file " + req.secrets_file +
							 " is inside the data directory, whose every base backup would carry it; choose a file "
							 "outside it");
		req.secrets = "# Written by pgbk restore of " + context.location.url +
					  ": the settings that open the repository, secrets included,\n# kept out of the data "
					  "directory (and so out of its backups). Only its owner may read it.\n";
		req.secrets += "pgbk.repository = " + QuoteConfValue(context.location.url) + "\n";
		for (const auto &[name, value] : carried)
			req.secrets += name + " = " + QuoteConfValue(value) + "\n";
		opts.restore_command = RestoreCommandWord(SelfPath()) + " --config " + RestoreCommandWord(req.secrets_file);
	} else if (!carried.empty()) {
		opts.settings.insert(opts.settings.end(), carried.begin(), carried.end());
		opts.restore_command =
			RestoreCommandWord(SelfPath()) + " --config " + RestoreCommandWord(opts.pgdata + "/postgresql.auto.conf");
	} else
		opts.restore_command = RestoreCommandWord(SelfPath()) + " --repo " + RestoreCommandWord(context.location.url);
	opts.restore_command += std::string(" wal-fetch --segment-size ") + kSegmentSizeToken + " %f %p";
}

RestoreResult
RestoreWithProgress(Repository &repo, const RestoreOptions &opts)
{
	bool tty = ::isatty(2);
	auto last = std::chrono::steady_clock::now();
	auto result = RestoreBackup(repo, opts, [&](const RestoreProgress &p) {
		auto now = std::chrono::steady_clock::now();
		if (!tty || now - last < std::chrono::milliseconds(200))
			return;
		last = now;
		double pct = p.total_bytes ? 100.0 * static_cast<double>(p.bytes) / static_cast<double>(p.total_bytes) : 0;
		std::fprintf(stderr, "\rrestoring: %5.1f%%  %s of %s, %llu of %llu files   ", pct, HumanBytes(p.bytes).c_str(),
					 HumanBytes(p.total_bytes).c_str(), static_cast<unsigned long long>(p.files),
					 static_cast<unsigned long long>(p.total_files));
	});
	if (tty)
		std::fprintf(stderr, "\r%80s\r", "");
	return result;
}

void
ReportRestore(const Repository &repo, const RestoreRequest &req, const RestoreResult &result, double secs)
{
	const RestoreOptions &opts = req.options;
	std::printf("restored backup %s (%s, %llu files) into %s in %.1f s\n", result.backup.label.c_str(),
				HumanBytes(result.bytes + result.kept_bytes).c_str(), static_cast<unsigned long long>(result.files),
				opts.pgdata.c_str(), secs);
	if (opts.delta)
		std::printf("delta: %s in %llu files already matched and were kept, %s rewritten, %llu entries the backup "
					"does not have removed\n",
					HumanBytes(result.kept_bytes).c_str(), static_cast<unsigned long long>(result.kept_files),
					HumanBytes(result.bytes).c_str(), static_cast<unsigned long long>(result.removed));
	if (opts.standby)
		std::printf("standby is configured: start the server and it follows the primary (%s), replaying the "
					"archived WAL from %s where streaming cannot serve it; it never promotes by itself\n",
					req.primary_conninfo.empty() ? "archive only: no primary_conninfo given"
												 : "streaming from primary_conninfo",
					repo.Describe().c_str());
	else if (req.target.kind == RecoveryTarget::Kind::None)
		std::printf("recovery is configured: start the server and it replays the archived WAL from %s, then "
					"promotes\n",
					repo.Describe().c_str());
	else
		std::printf("recovery is configured: start the server and it replays the archived WAL from %s up to the "
					"target, then does: %s\n",
					repo.Describe().c_str(), req.target.action.c_str());
	if (!req.secrets.empty())
		std::printf("the repository's secrets are in %s (outside the data directory, so never in its backups)%s\n",
					req.secrets_file.c_str(),
					::access((opts.pgdata + "/postgresql.conf").c_str(), F_OK) == 0
						? ", included by its postgresql.conf"
						: "; the server's own configuration must set them for archiving after promotion");
	switch (req.role.role) {
	case RestoreRole::Copy:
		std::printf("restored as a copy: %s; it archives nowhere (archive_mode = off) and takes no scheduled "
					"backups; give it its own pgbk.repository before turning archiving on\n",
					req.role.why.c_str());
		break;
	case RestoreRole::Takeover:
		std::printf("restored to take the cluster over: %s; after promotion it archives into %s on a new "
					"timeline, which fences any older primary still running\n",
					req.role.why.c_str(), repo.Describe().c_str());
		break;
	case RestoreRole::Standby:
		break;
	}
}

int
RunRestore(Context &context, const std::vector<std::string> &args)
{
	RestoreRequest req = ParseRestoreArgs(args, context.parallel);
	req.role = ChooseRestoreRole(req.role_request, context.repo->ListNodes());
	ChooseBackup(*context.repo, req);
	ConfigureRecovery(context, req);
	auto start = std::chrono::steady_clock::now();
	RestoreResult result = RestoreWithProgress(*context.repo, req.options);
	WriteSecretsFile(req);
	ReportRestore(*context.repo, req, result,
				  std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
	return 0;
}

const CommandRegistration registration(
	{"restore",
	 "restore --pgdata DIR [--backup LABEL] [--parallel N]\n"
	 "       [--target-time TIMESTAMPTZ | --target-lsn LSN | --target-xid XID | --target-name NAME |\n"
	 "        --target-immediate] [--target-inclusive true|false] [--target-action promote|pause|shutdown]\n"
	 "       [--target-timeline latest|current|N] [--delta] [--pg-version MAJOR]\n"
	 "       [--clone | --takeover | --standby [--primary-conninfo CONNINFO]] [--secrets-file FILE]\n"
	 "       (a copy that archives nothing unless --takeover, or the directory is a node of the cluster)\n"
	 "       (a Patroni create_replica_methods command: restore --standby, given --datadir= --connstring=)",
	 RepositoryUse::Read, RunRestore});

} // namespace
} // namespace pgbk::cli
