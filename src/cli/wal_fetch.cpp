// pgbk wal-fetch (recovery's restore_command) and the detached wal-prefetch process it
// starts to keep the next segments ready.
#include "cli.hpp"

#include "pgbk/archive_spool.hpp"
#include "pgbk/wal.hpp"
#include "pgbk/wal_fetch_policy.hpp"
#include "pgbk/wal_prefetch.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

namespace pgbk::cli {
namespace {

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

// A file archived during a repository outage may still be only in the server's archive
// spool (archive_spool.hpp): on the same host, a standby or a restore reads it there. The
// spool is pgbk.spool_directory, or the default beside the --config file's data directory.
bool
FetchFromArchiveSpool(const Context &context, const std::string &name, const std::string &dest)
{
	std::string setting = context.values.Text(settings::Id("pgbk.spool_directory"));
	if (setting.empty() && context.data_directory.empty())
		return false;
	try {
		std::string dir = ResolveSpoolDirectory(setting, context.data_directory);
		if (ArchiveSpool::UsageOf(dir).files == 0)
			return false;
		// The repository's keys open the spool's objects (the archive module writes both).
		std::shared_ptr<const Keyring> keys(std::shared_ptr<const Keyring>{}, context.repo->keyring());
		return ArchiveSpool::FetchFrom(dir, keys, name, dest);
	} catch (const Error &e) {
		std::fprintf(stderr, "pgbk: the archive spool could not be read: %s\n", e.what());
		return false;
	}
}

// Whether the repository holds `name` (fetched into dest), answering a store outage by
// recovery mode (wal_fetch_policy.hpp): a standby answers "missing" after one retry budget
// and, while the outage recorded in `outage_file` is fresh, at once (a promotion during
// an outage waits one budget, not one per call); archive recovery retries until the
// repository answers, never taking an outage for the end of the archive.
bool
FetchFromRepository(const Context &context, const std::string &name, const std::string &dest,
					const std::string &outage_file)
{
	// Run by recovery: in the data directory (restore_command's working directory).
	bool in_data_directory = ::access("PG_VERSION", F_OK) == 0 && ::access("pg_wal", F_OK) == 0;
	RecoveryMode mode = in_data_directory ? RecoveryModeOf(".") : RecoveryMode::None;
	int64_t hold = context.values.Integer(settings::Id("pgbk.s3_retry_timeout"));
	auto now = [] { return static_cast<int64_t>(::time(nullptr)); };
	if (!outage_file.empty())
		if (auto outage = ReadStoreOutage(outage_file); AnswerMissingDuringOutage(mode, outage, now(), hold)) {
			std::fprintf(stderr,
						 "pgbk: WAL file %s not asked for: the repository did not answer %lld s ago (%s); until %lld s "
						 "have passed this standby asks again at once, streaming serves it meanwhile\n",
						 name.c_str(), static_cast<long long>(now() - outage->at), outage->error.c_str(),
						 static_cast<long long>(hold));
			return false;
		}
	for (int wait = 1;; wait = std::min(wait * 2, 30)) {
		try {
			bool found = context.repo->FetchWalFile(name, dest);
			if (!outage_file.empty())
				ClearStoreOutage(outage_file);
			return found;
		} catch (const Error &e) {
			if (mode == RecoveryMode::None || (e.kind() != ErrorKind::Io && e.kind() != ErrorKind::Timeout))
				throw;
			if (!outage_file.empty())
				RecordStoreOutage(outage_file, StoreOutage{now(), e.what()});
			if (!RetryAfterOutage(mode))
				throw;
			std::fprintf(stderr,
						 "pgbk: WAL file %s: the repository did not answer (%s); archive recovery would take that for "
						 "the end of the archive and stop short, so this waits: retrying in %d s\n",
						 name.c_str(), e.what(), wait);
			std::this_thread::sleep_for(std::chrono::seconds(wait));
		}
	}
}

// restore_command: the segment from the prefetch spool when it is there, else from the
// repository; then makes sure a prefetcher is fetching the next ones.
int
RunWalFetch(Context &context, const std::vector<std::string> &args)
{
	const std::vector<std::string> &global = context.global_args;
	int parallel = context.parallel;
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
	if (!IsValidWalSegmentSize(segment_size))
		throw UsageError("--segment-size must be a power of two from 1 MB to 1 GB");
	const std::string &name = pos[0], &dest = pos[1];
	// Only segments are prefetched, and only when run by recovery in a data directory.
	bool prefetch = depth > 0 && name.size() == 24 && ParseWalSegmentName(name, segment_size) &&
					::access("PG_VERSION", F_OK) == 0 && ::access("pg_wal", F_OK) == 0;
	std::unique_ptr<WalSpool> spool;
	auto ensure_prefetcher = [&] {
		if (!PrefetcherRunning(spool->dir()))
			SpawnPrefetcher(global, {"--depth", std::to_string(depth), "--segment-size", std::to_string(segment_size),
									 "--parallel", std::to_string(parallel)});
	};
	if (prefetch) {
		try {
			spool = std::make_unique<WalSpool>(kSpoolDir);
			spool->SetWanted(name);
			if (spool->Take(name, dest)) {
				ensure_prefetcher();
				return 0;
			}
		} catch (const Error &) {
			spool.reset(); // prefetching is an optimisation: fetch directly
		}
	}
	if (!FetchFromRepository(context, name, dest, spool ? spool->dir() + "/" + kStoreOutageFile : "") &&
		!FetchFromArchiveSpool(context, name, dest)) {
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
RunWalPrefetch(Context &context, const std::vector<std::string> &args)
{
	Repository &repo = *context.repo;
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
	if (depth < 1 || depth > 256 || parallel < 1 || parallel > 64 || !IsValidWalSegmentSize(segment_size))
		throw UsageError("wal-prefetch: bad --depth, --parallel or --segment-size");
	WalSpool spool(kSpoolDir);
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
		PrefetchRound r = PrefetchOnce(repo, spool, depth, parallel, segment_size);
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

const CommandRegistration wal_fetch({"wal-fetch", "wal-fetch [--prefetch N] [--segment-size BYTES] WALNAME DEST",
									 RepositoryUse::Raw, RunWalFetch});
// Started by wal-fetch only: not in the help.
const CommandRegistration wal_prefetch({"wal-prefetch", nullptr, RepositoryUse::Raw, RunWalPrefetch});

} // namespace
} // namespace pgbk::cli
