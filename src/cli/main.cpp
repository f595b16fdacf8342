// pgbk command-line tool: works with nothing but the repository (the server may be gone).
#include "pgbk/crypto.hpp"
#include "pgbk/pgconf.hpp"
#include "pgbk/recovery_target.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/restore.hpp"
#include "pgbk/s3_client.hpp"
#include "pgbk/verify.hpp"
#include "pgbk/wal_prefetch.hpp"

#include <chrono>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace {

const char *kUsage = R"(pgbk - PostgreSQL backups from inside the server

Usage:
  pgbk [--repo URL | --config FILE] list [--json]
  pgbk [--repo URL | --config FILE] restore --pgdata DIR [--backup LABEL] [--parallel N]
       [--target-time TIMESTAMPTZ | --target-lsn LSN | --target-xid XID | --target-name NAME |
        --target-immediate] [--target-inclusive true|false] [--target-action promote|pause|shutdown]
       [--target-timeline latest|current|N] [--clone] [--delta]
  pgbk [--repo URL | --config FILE] wal-fetch WALNAME DEST
  pgbk [--repo URL | --config FILE] verify [LABEL] [--json] [--parallel N]
  pgbk [--repo URL | --config FILE] create-bucket
  pgbk generate-key FILE

Options:
  --repo URL       repository: an absolute directory, file:///directory or s3://bucket/prefix
                   (S3 settings from the AWS_* environment variables: AWS_ENDPOINT_URL,
                   AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
                   AWS_CA_BUNDLE)
  --config FILE    read pgbk.* settings from this postgresql.conf instead of --repo
  --encryption-key-file FILE
                   key of an encrypted repository (else pgbk.encryption_key_file of
                   --config, else $PGBK_ENCRYPTION_KEY_FILE)
  --encryption-keyring FILE[,FILE...]
                   keys from before a rotation (else pgbk.encryption_keyring)
  --help           show this help

Restore:
  Without a target the restored server replays every archived WAL segment and promotes.
  --target-time '2026-11-21 10:15:00+00' (a time zone is required), --target-lsn 0/16B3748,
  --target-xid 1234, --target-name RESTORE_POINT, --target-immediate (the backup's end):
  recovery stops there and performs --target-action (default promote). Without --backup,
  the newest complete backup that can reach the target is restored.
  The restored server archives into the same repository, on its new timeline, as in-place
  recovery needs. --clone makes a copy that archives nowhere (archive_mode = off, no
  backup schedules) until it is given its own pgbk.repository.
  --delta updates an existing data directory (server stopped) in place: files whose size
  and checksum match the backup are kept, others rewritten, the rest removed.

Exit status: 0 success, 1 WAL file not in the repository (wal-fetch) or a problem found
(verify), 2 usage error, 3 any other error.
)";

struct UsageError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

std::string
FormatTime(int64_t t)
{
	if (t == 0)
		return "";
	time_t tt = static_cast<time_t>(t);
	struct tm tm;
	gmtime_r(&tt, &tm);
	char buf[40];
	std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S+00", &tm);
	return buf;
}

std::string
HumanBytes(uint64_t b)
{
	const char *units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = static_cast<double>(b);
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	char buf[32];
	std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
	return buf;
}

std::string
SelfPath()
{
	char buf[PATH_MAX];
	ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return "pgbk";
	buf[n] = '\0';
	return buf;
}

// One shell word of a restore_command: quoted for the shell, and '%' doubled, which
// PostgreSQL would otherwise read as an escape (%f, %p).
std::string
RestoreCommandWord(const std::string &word)
{
	std::string out;
	for (char c : pgbk::ShellQuote(word))
		out += c == '%' ? std::string("%%") : std::string(1, c);
	return out;
}

std::string
AbsolutePath(const std::string &p)
{
	if (!p.empty() && p[0] == '/')
		return p;
	char cwd[PATH_MAX];
	if (::getcwd(cwd, sizeof cwd) == nullptr)
		throw pgbk::Error(pgbk::ErrorKind::Io, "could not get the current directory");
	return std::string(cwd) + "/" + p;
}

// Fills the S3 options: the standard AWS environment variables first, then any
// pgbk.s3_* setting of the --config file.
void S3FromEnvironmentAndSettings(const pgbk::ServerSettings &settings, struct Target *target);

int
CmdList(pgbk::Repository &repo, bool json)
{
	auto backups = repo.ListBackups();
	if (json) {
		nlohmann::json arr = nlohmann::json::array();
		for (auto &b : backups)
			arr.push_back({{"label", b.label},
						   {"type", b.type},
						   {"status", pgbk::BackupStatusName(b.status)},
						   {"started_at", FormatTime(b.started_at)},
						   {"finished_at", FormatTime(b.finished_at)},
						   {"start_lsn", pgbk::FormatLsn(b.start_lsn)},
						   {"stop_lsn", b.stop_lsn ? pgbk::FormatLsn(b.stop_lsn) : ""},
						   {"timeline", b.timeline},
						   {"wal_start", b.wal_start},
						   {"wal_stop", b.wal_stop},
						   {"database_bytes", b.database_bytes},
						   {"stored_bytes", b.stored_bytes},
						   {"files", b.files},
						   {"prior", b.prior},
						   {"consistent_at", FormatTime(b.stop_time_us / 1000000)},
						   {"next_xid", b.next_xid},
						   {"error", b.error}});
		std::cout << arr.dump(2) << "\n";
		return 0;
	}
	std::printf("repository: %s\n", repo.Describe().c_str());
	if (auto timelines = repo.ListTimelines(); !timelines.empty()) {
		std::printf("timelines: 1");
		for (const auto &t : timelines)
			std::printf(", %u (from %u at %s)", t.timeline, t.parent, pgbk::FormatLsn(t.switch_lsn).c_str());
		std::printf("\n");
	}
	if (backups.empty()) {
		std::printf("no backups\n");
		return 0;
	}
	std::printf("%-18s %-5s %-10s %-22s %-22s %-12s %-12s %-4s %10s %10s\n", "label", "type", "status", "started",
				"finished", "start_lsn", "stop_lsn", "tli", "size", "stored");
	for (auto &b : backups) {
		std::printf("%-18s %-5s %-10s %-22s %-22s %-12s %-12s %-4u %10s %10s\n", b.label.c_str(), b.type.c_str(),
					pgbk::BackupStatusName(b.status), FormatTime(b.started_at).c_str(),
					FormatTime(b.finished_at).c_str(), pgbk::FormatLsn(b.start_lsn).c_str(),
					b.stop_lsn ? pgbk::FormatLsn(b.stop_lsn).c_str() : "", b.timeline,
					HumanBytes(b.database_bytes).c_str(), HumanBytes(b.stored_bytes).c_str());
		if (!b.prior.empty())
			std::printf("    prior: %s\n", b.prior.c_str());
		if (!b.error.empty())
			std::printf("    error: %s\n", b.error.c_str());
	}
	return 0;
}

// Where the repository is and how to reach it: the URL and, for S3, the pgbk.s3_*
// settings in effect (from --config, else the standard AWS environment variables).
struct Target {
	pgbk::RepositoryUrl url;
	pgbk::s3::S3Options s3;
	std::vector<std::pair<std::string, std::string>> s3_settings; // to carry into a restore
	std::vector<std::pair<std::string, std::string>> key_settings; // likewise (paths, not keys)
};

int
CmdRestore(pgbk::Repository &repo, const Target &target, const std::vector<std::string> &args, int parallel)
{
	pgbk::RestoreOptions opts;
	opts.parallel = parallel;
	pgbk::RecoveryTarget target_point;
	bool clone = false;
	int targets = 0;
	auto set_target = [&](pgbk::RecoveryTarget::Kind kind, const std::string &value) {
		target_point.kind = kind;
		target_point.value = value;
		targets++;
	};
	for (size_t i = 0; i < args.size(); i++) {
		auto value = [&]() {
			if (i + 1 >= args.size())
				throw UsageError(args[i] + " needs a value");
			return args[++i];
		};
		if (args[i] == "--pgdata")
			opts.pgdata = AbsolutePath(value());
		else if (args[i] == "--backup")
			opts.label = value();
		else if (args[i] == "--parallel")
			opts.parallel = std::atoi(value().c_str());
		else if (args[i] == "--target-time")
			set_target(pgbk::RecoveryTarget::Kind::Time, value());
		else if (args[i] == "--target-lsn")
			set_target(pgbk::RecoveryTarget::Kind::Lsn, value());
		else if (args[i] == "--target-xid")
			set_target(pgbk::RecoveryTarget::Kind::Xid, value());
		else if (args[i] == "--target-name")
			set_target(pgbk::RecoveryTarget::Kind::Name, value());
		else if (args[i] == "--target-immediate")
			set_target(pgbk::RecoveryTarget::Kind::Immediate, "");
		else if (args[i] == "--target-inclusive") {
			std::string v = value();
			if (v != "true" && v != "false")
				throw UsageError("--target-inclusive takes true or false");
			target_point.inclusive = v == "true";
		} else if (args[i] == "--target-action")
			target_point.action = value();
		else if (args[i] == "--target-timeline")
			target_point.timeline = value();
		else if (args[i] == "--clone")
			clone = true;
		else if (args[i] == "--delta")
			opts.delta = true;
		else
			throw UsageError("unknown restore option " + args[i]);
	}
	if (targets > 1)
		throw UsageError("give one target: --target-time, --target-lsn, --target-xid, --target-name or "
						 "--target-immediate");
	try {
		pgbk::ValidateRecoveryTarget(target_point);
	} catch (const pgbk::Error &e) {
		throw UsageError(e.what());
	}
	if (opts.pgdata.empty())
		throw UsageError("restore needs --pgdata DIR");
	if (opts.parallel < 1 || opts.parallel > 64)
		throw UsageError("--parallel must be between 1 and 64");
	// The backup: the one named (it must reach the target), or the newest that does.
	{
		auto backups = repo.ListBackups();
		if (opts.label.empty()) {
			opts.backup = pgbk::SelectBackupForTarget(backups, target_point, repo.Describe());
			if (target_point.kind == pgbk::RecoveryTarget::Kind::Name)
				std::printf("a restore point's position is only known by replaying WAL: restoring the oldest backup, "
							"%s, which reaches every restore point after it (name a newer one with --backup to "
							"replay less)\n",
							opts.backup->label.c_str());
		} else {
			opts.backup = pgbk::SelectBackup(backups, opts.label, repo.Describe());
			if (target_point.kind != pgbk::RecoveryTarget::Kind::None)
				pgbk::SelectBackupForTarget({*opts.backup}, target_point, "backup " + opts.label);
		}
	}

	std::string repo_url = target.url.ToString();
	opts.settings.emplace_back("pgbk.repository", repo_url);
	for (auto &kv : pgbk::RecoverySettings(target_point))
		opts.settings.push_back(kv);
	if (clone) {
		// A copy that keeps the source's settings would archive its WAL, and take its
		// backups, into the source's repository and history.
		opts.settings.emplace_back("archive_mode", "off");
		for (const char *s : {"pgbk.full_schedule", "pgbk.diff_schedule", "pgbk.incr_schedule"})
			opts.settings.emplace_back(s, "");
	}
	opts.settings.insert(opts.settings.end(), target.key_settings.begin(), target.key_settings.end());
	if (target.url.scheme == pgbk::RepositoryUrl::Scheme::S3 || !target.key_settings.empty()) {
		// wal-fetch needs the S3 settings (credentials included) and key files: it reads
		// them from the restored cluster's postgresql.auto.conf, which only its owner can
		// read.
		if (target.url.scheme == pgbk::RepositoryUrl::Scheme::S3)
			opts.settings.insert(opts.settings.end(), target.s3_settings.begin(), target.s3_settings.end());
		opts.restore_command =
			RestoreCommandWord(SelfPath()) + " --config " + RestoreCommandWord(opts.pgdata + "/postgresql.auto.conf");
	} else
		opts.restore_command = RestoreCommandWord(SelfPath()) + " --repo " + RestoreCommandWord(repo_url);
	opts.restore_command += std::string(" wal-fetch --segment-size ") + pgbk::kSegmentSizeToken + " %f %p";
	bool tty = ::isatty(2);
	auto start = std::chrono::steady_clock::now();
	auto last = start;
	auto result = pgbk::RestoreBackup(repo, opts, [&](const pgbk::RestoreProgress &p) {
		auto now = std::chrono::steady_clock::now();
		if (!tty || now - last < std::chrono::milliseconds(200))
			return;
		last = now;
		double pct = p.total_bytes ? 100.0 * static_cast<double>(p.bytes) / static_cast<double>(p.total_bytes) : 0;
		std::fprintf(stderr, "\rrestoring: %5.1f%%  %s of %s, %llu of %llu files   ", pct, HumanBytes(p.bytes).c_str(),
					 HumanBytes(p.total_bytes).c_str(), static_cast<unsigned long long>(p.files),
					 static_cast<unsigned long long>(p.total_files));
	});
	double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
	if (tty)
		std::fprintf(stderr, "\r%80s\r", "");
	std::printf("restored backup %s (%s, %llu files) into %s in %.1f s\n", result.backup.label.c_str(),
				HumanBytes(result.bytes + result.kept_bytes).c_str(), static_cast<unsigned long long>(result.files),
				opts.pgdata.c_str(), secs);
	if (opts.delta)
		std::printf("delta: %s in %llu files already matched and were kept, %s rewritten, %llu entries the backup "
					"does not have removed\n",
					HumanBytes(result.kept_bytes).c_str(), static_cast<unsigned long long>(result.kept_files),
					HumanBytes(result.bytes).c_str(), static_cast<unsigned long long>(result.removed));
	if (target_point.kind == pgbk::RecoveryTarget::Kind::None)
		std::printf("recovery is configured: start the server and it replays the archived WAL from %s, then "
					"promotes\n",
					repo.Describe().c_str());
	else
		std::printf("recovery is configured: start the server and it replays the archived WAL from %s up to the "
					"target, then does: %s\n",
					repo.Describe().c_str(), target_point.action.c_str());
	if (clone)
		std::printf("--clone: this copy archives nowhere (archive_mode = off) and takes no scheduled backups; give it "
					"its own pgbk.repository before turning archiving on\n");
	else
		std::printf("after promotion it archives into %s on a new timeline (use --clone for an independent copy)\n",
					repo.Describe().c_str());
	return 0;
}

// Re-reads backups and their WAL; one line (or JSON object) per problem.
int
CmdVerify(pgbk::Repository &repo, const std::vector<std::string> &args, int parallel)
{
	std::string label;
	bool json = false;
	for (size_t i = 0; i < args.size(); i++) {
		if (args[i] == "--json")
			json = true;
		else if (args[i] == "--parallel" && i + 1 < args.size())
			parallel = std::atoi(args[++i].c_str());
		else if (args[i].rfind("--", 0) == 0 || !label.empty())
			throw UsageError("unknown verify argument " + args[i]);
		else
			label = args[i];
	}
	std::vector<pgbk::BackupRecord> backups = pgbk::SelectBackupsToVerify(repo, label);
	nlohmann::json out = {{"problems", nlohmann::json::array()}, {"backups", nlohmann::json::array()}};
	size_t problems = 0;
	pgbk::VerifyOptions opts;
	opts.parallel = std::max(1, parallel);
	for (const auto &b : backups) {
		pgbk::VerifyResult r = pgbk::VerifyBackup(repo, b, opts, [&](const pgbk::VerifyProblem &p) {
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
	if (json)
		std::cout << out.dump(2) << "\n";
	return problems == 0 ? 0 : 1;
}

constexpr const char *kSpoolDir = "pg_wal/pgbk_prefetch";

// True when a prefetcher holds the spool's lock (it is running).
bool
PrefetcherRunning(const std::string &spool)
{
	int fd = ::open((spool + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return true; // cannot tell: do not start another
	bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0;
	::close(fd); // releases our lock, if we got it
	return held;
}

// Starts `pgbk <global> wal-prefetch ...` detached from recovery: PostgreSQL waits for
// restore_command to exit, and this must not keep it waiting.
void
SpawnPrefetcher(const std::vector<std::string> &global, const std::vector<std::string> &prefetch_args)
{
	std::vector<std::string> argv_s = {"pgbk"};
	argv_s.insert(argv_s.end(), global.begin(), global.end());
	argv_s.push_back("wal-prefetch");
	argv_s.insert(argv_s.end(), prefetch_args.begin(), prefetch_args.end());
	std::vector<char *> argv;
	for (auto &a : argv_s)
		argv.push_back(a.data());
	argv.push_back(nullptr);
	std::string self = SelfPath();
	pid_t pid = ::fork();
	if (pid < 0)
		return;
	if (pid == 0) {
		::setsid();
		if (::fork() != 0)
			::_exit(0);
		int null = ::open("/dev/null", O_RDWR);
		if (null >= 0) {
			::dup2(null, 0);
			::dup2(null, 1);
			::dup2(null, 2);
		}
		// Nothing of the server's (log pipes, sockets) stays open in the prefetcher.
		::close_range(3, ~0U, 0);
		::execv(self.c_str(), argv.data());
		::_exit(127);
	}
	::waitpid(pid, nullptr, 0);
}

// restore_command: the segment from the prefetch spool when it is there, else from the
// repository; then makes sure a prefetcher is fetching the next ones.
int
CmdWalFetch(pgbk::Repository &repo, const std::vector<std::string> &args, const std::vector<std::string> &global,
			int parallel)
{
	size_t depth = 8;
	uint64_t segment_size = 16 << 20;
	std::vector<std::string> pos;
	for (size_t i = 0; i < args.size(); i++) {
		if (args[i] == "--prefetch" && i + 1 < args.size())
			depth = static_cast<size_t>(std::strtoul(args[++i].c_str(), nullptr, 10));
		else if (args[i] == "--segment-size" && i + 1 < args.size())
			segment_size = std::strtoull(args[++i].c_str(), nullptr, 10);
		else if (args[i].rfind("--", 0) == 0)
			throw UsageError("unknown wal-fetch option " + args[i]);
		else
			pos.push_back(args[i]);
	}
	if (pos.size() != 2)
		throw UsageError("wal-fetch needs WALNAME DEST");
	if (!pgbk::IsValidWalSegmentSize(segment_size))
		throw UsageError("--segment-size must be a power of two from 1 MB to 1 GB");
	const std::string &name = pos[0], &dest = pos[1];
	// Only segments are prefetched, and only when run by recovery in a data directory.
	bool prefetch = depth > 0 && name.size() == 24 && pgbk::ParseWalSegmentName(name, segment_size) &&
					::access("PG_VERSION", F_OK) == 0 && ::access("pg_wal", F_OK) == 0;
	std::unique_ptr<pgbk::WalSpool> spool;
	auto ensure_prefetcher = [&] {
		if (!PrefetcherRunning(spool->dir()))
			SpawnPrefetcher(global, {"--depth", std::to_string(depth), "--segment-size", std::to_string(segment_size),
									 "--parallel", std::to_string(parallel)});
	};
	if (prefetch) {
		try {
			spool = std::make_unique<pgbk::WalSpool>(kSpoolDir);
			spool->SetWanted(name);
			if (spool->Take(name, dest)) {
				ensure_prefetcher();
				return 0;
			}
		} catch (const pgbk::Error &) {
			spool.reset(); // prefetching is an optimisation: fetch directly
		}
	}
	if (!repo.FetchWalFile(name, dest)) {
		std::fprintf(stderr, "pgbk: WAL file %s is not in the repository\n", name.c_str());
		return 1;
	}
	if (spool)
		ensure_prefetcher();
	return 0;
}

// The prefetcher started by wal-fetch: keeps the spool filled with the segments after
// the one recovery asked for last; exits after 30 s without a new request, removing
// what it spooled.
int
CmdWalPrefetch(pgbk::Repository &repo, const std::vector<std::string> &args)
{
	size_t depth = 8;
	uint64_t segment_size = 16 << 20;
	int parallel = 2;
	for (size_t i = 0; i + 1 < args.size(); i += 2) {
		if (args[i] == "--depth")
			depth = static_cast<size_t>(std::strtoul(args[i + 1].c_str(), nullptr, 10));
		else if (args[i] == "--segment-size")
			segment_size = std::strtoull(args[i + 1].c_str(), nullptr, 10);
		else if (args[i] == "--parallel")
			parallel = std::atoi(args[i + 1].c_str());
		else
			throw UsageError("unknown wal-prefetch option " + args[i]);
	}
	if (depth < 1 || depth > 256 || parallel < 1 || parallel > 64 || !pgbk::IsValidWalSegmentSize(segment_size))
		throw UsageError("wal-prefetch: bad --depth, --parallel or --segment-size");
	pgbk::WalSpool spool(kSpoolDir);
	int lock = ::open((spool.dir() + "/.lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (lock < 0 || ::flock(lock, LOCK_EX | LOCK_NB) != 0)
		return 0; // another prefetcher is running
	auto idle_since = std::chrono::steady_clock::now();
	std::string last_wanted;
	// Only while this data directory's server is recovering: it removes recovery.signal
	// when recovery ends, and postmaster.pid when it stops.
	auto recovering = [] {
		return ::access("postmaster.pid", F_OK) == 0 &&
			   (::access("recovery.signal", F_OK) == 0 || ::access("standby.signal", F_OK) == 0);
	};
	while (recovering()) {
		std::string wanted = spool.Wanted();
		if (wanted != last_wanted) {
			last_wanted = wanted;
			idle_since = std::chrono::steady_clock::now();
		}
		pgbk::PrefetchRound r = pgbk::PrefetchOnce(repo, spool, depth, parallel, segment_size);
		if (r.fetched > 0)
			continue;
		if (std::chrono::steady_clock::now() - idle_since > std::chrono::seconds(30))
			break;
		// Nothing to fetch now: the window is full, or the archive ends (a standby's
		// archive grows) -- look again shortly.
		std::this_thread::sleep_for(std::chrono::milliseconds(r.reached_end || r.failed ? 1000 : 20));
	}
	spool.Clear();
	::unlink((spool.dir() + "/.lock").c_str());
	::rmdir(spool.dir().c_str());
	::close(lock);
	return 0;
}

void
S3FromEnvironmentAndSettings(const pgbk::ServerSettings &settings, Target *target)
{
	auto env = [](const char *name) -> std::string {
		const char *v = std::getenv(name);
		return v ? v : "";
	};
	std::map<std::string, std::string> v = {
		{"pgbk.s3_endpoint",
		 !env("AWS_ENDPOINT_URL_S3").empty() ? env("AWS_ENDPOINT_URL_S3") : env("AWS_ENDPOINT_URL")},
		{"pgbk.s3_region", !env("AWS_REGION").empty() ? env("AWS_REGION") : env("AWS_DEFAULT_REGION")},
		{"pgbk.s3_access_key_id", env("AWS_ACCESS_KEY_ID")},
		{"pgbk.s3_secret_access_key", env("AWS_SECRET_ACCESS_KEY")},
		{"pgbk.s3_session_token", env("AWS_SESSION_TOKEN")},
		{"pgbk.s3_ca_file", env("AWS_CA_BUNDLE")},
	};
	for (const auto &[name, value] : settings.values)
		if (name.rfind("pgbk.s3_", 0) == 0)
			v[name] = value;
	pgbk::s3::S3Options &o = target->s3;
	o.endpoint = v["pgbk.s3_endpoint"];
	if (!v["pgbk.s3_region"].empty())
		o.region = v["pgbk.s3_region"];
	o.credentials = {v["pgbk.s3_access_key_id"], v["pgbk.s3_secret_access_key"], v["pgbk.s3_session_token"]};
	o.path_style = v["pgbk.s3_uri_style"] == "path";
	o.ca_file = v["pgbk.s3_ca_file"];
	std::string verify = v["pgbk.s3_verify_tls"];
	o.verify_tls = !(verify == "off" || verify == "false" || verify == "0" || verify == "no");
	o.sse = v["pgbk.s3_sse"] == "none" ? "" : v["pgbk.s3_sse"];
	o.sse_kms_key_id = v["pgbk.s3_sse_kms_key_id"];
	o.storage_class = v["pgbk.s3_storage_class"];
	// Numbers as postgresql.conf writes them: "16", "16MB", "64 MB"; "60", "60s", "2min".
	auto number = [](const std::string &text, const char *name) -> long {
		size_t used = 0;
		long n = 0;
		try {
			n = std::stol(text, &used);
		} catch (const std::exception &) {
			throw pgbk::Error(pgbk::ErrorKind::Config, std::string(name) + ": \"" + text + "\" is not a number");
		}
		std::string unit = text.substr(used);
		unit.erase(0, unit.find_first_not_of(' '));
		if (unit == "GB")
			n *= 1024;
		else if (unit == "min")
			n *= 60;
		else if (!(unit.empty() || unit == "MB" || unit == "s"))
			throw pgbk::Error(pgbk::ErrorKind::Config, std::string(name) + ": unknown unit \"" + unit + "\"");
		return n;
	};
	if (!v["pgbk.s3_part_size"].empty())
		o.part_size = static_cast<size_t>(number(v["pgbk.s3_part_size"], "pgbk.s3_part_size")) << 20;
	if (!v["pgbk.s3_retry_timeout"].empty())
		o.retry_budget = std::chrono::seconds(number(v["pgbk.s3_retry_timeout"], "pgbk.s3_retry_timeout"));
	for (const auto &[name, value] : v)
		if (!value.empty())
			target->s3_settings.emplace_back(name, value);
}

} // namespace

int
main(int argc, char **argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);
	std::string repo_url, config, key_file, keyring;
	bool key_file_given = false, keyring_given = false;
	size_t i = 0;
	try {
		for (; i < args.size() && args[i].rfind("--", 0) == 0; i++) {
			if (args[i] == "--help") {
				std::fputs(kUsage, stdout);
				return 0;
			}
			if (i + 1 >= args.size())
				throw UsageError(args[i] + " needs a value");
			if (args[i] == "--repo")
				repo_url = args[++i];
			else if (args[i] == "--config")
				config = args[++i];
			else if (args[i] == "--encryption-key-file") {
				key_file = AbsolutePath(args[++i]);
				key_file_given = true;
			} else if (args[i] == "--encryption-keyring") {
				for (const auto &f : pgbk::SplitKeyFileList(args[++i]))
					keyring += (keyring.empty() ? "" : ",") + AbsolutePath(f);
				keyring_given = true;
			} else
				throw UsageError("unknown option " + args[i]);
		}
		if (i >= args.size())
			throw UsageError("no command given");
		std::string cmd = args[i++];
		std::vector<std::string> rest(args.begin() + static_cast<long>(i), args.end());
		std::vector<std::string> global(args.begin(), args.begin() + static_cast<long>(i - 1));
		if (cmd == "generate-key") {
			if (rest.size() != 1)
				throw UsageError("generate-key needs FILE");
			pgbk::GenerateKeyFile(rest[0]);
			std::printf("wrote a new key to %s (mode 600); keep a copy somewhere safe: without it the backups it "
						"encrypts cannot be restored\n",
						rest[0].c_str());
			return 0;
		}
		if (repo_url.empty() && config.empty()) {
			if (const char *env = std::getenv("PGBK_REPOSITORY"))
				repo_url = env;
		}
		if (!repo_url.empty() && !config.empty())
			throw UsageError("give either --repo or --config, not both");
		int parallel = 2;
		std::string data_directory;
		pgbk::ServerSettings settings;
		if (!config.empty()) {
			settings = pgbk::LoadServerSettings(AbsolutePath(config));
			repo_url = settings.Get("pgbk.repository");
			data_directory = settings.data_directory;
			parallel = std::atoi(settings.Get("pgbk.parallel", "2").c_str());
			if (parallel < 1)
				parallel = 2;
		} else if (repo_url.empty())
			throw UsageError("no repository: give --repo URL or --config FILE");
		Target target;
		target.url = pgbk::ParseRepositoryUrl(repo_url, data_directory);
		S3FromEnvironmentAndSettings(settings, &target);
		if (!key_file_given)
			key_file = settings.Get("pgbk.encryption_key_file");
		if (!key_file_given && key_file.empty())
			if (const char *env = std::getenv("PGBK_ENCRYPTION_KEY_FILE"))
				key_file = env;
		if (!keyring_given)
			keyring = settings.Get("pgbk.encryption_keyring");
		if (!key_file.empty())
			target.key_settings.emplace_back("pgbk.encryption_key_file", key_file);
		if (!keyring.empty())
			target.key_settings.emplace_back("pgbk.encryption_keyring", keyring);
		pgbk::Repository repo(pgbk::OpenStorage(target.url, target.s3),
							  pgbk::Keyring::Load(key_file, pgbk::SplitKeyFileList(keyring)));
		if (cmd != "wal-fetch" && cmd != "wal-prefetch" && cmd != "create-bucket")
			repo.CheckKeys(false); // a wrong or missing key is named before anything is read
		if (cmd == "list") {
			bool json = false;
			for (auto &a : rest) {
				if (a == "--json")
					json = true;
				else
					throw UsageError("unknown list option " + a);
			}
			return CmdList(repo, json);
		}
		if (cmd == "restore")
			return CmdRestore(repo, target, rest, parallel);
		if (cmd == "create-bucket") {
			if (target.url.scheme != pgbk::RepositoryUrl::Scheme::S3)
				throw UsageError("create-bucket needs an s3:// repository");
			pgbk::s3::S3Client(target.s3, target.url.bucket).CreateBucket();
			std::printf("bucket %s is ready\n", target.url.bucket.c_str());
			return 0;
		}
		if (cmd == "wal-fetch")
			return CmdWalFetch(repo, rest, global, parallel);
		if (cmd == "wal-prefetch")
			return CmdWalPrefetch(repo, rest);
		if (cmd == "verify")
			return CmdVerify(repo, rest, parallel);
		throw UsageError("unknown command \"" + cmd + "\"");
	} catch (const UsageError &e) {
		std::fprintf(stderr, "pgbk: %s\n\n%s", e.what(), kUsage);
		return 2;
	} catch (const std::exception &e) {
		std::fprintf(stderr, "pgbk: error: %s\n", e.what());
		return 3;
	}
}
