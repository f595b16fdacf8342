#include "pgbk/wal_prefetch.hpp"
#include "pgbk/wal_fetch_policy.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/parallel.hpp"

#include <algorithm>
#include <cerrno>
#include <dirent.h>
#include <fcntl.h>
#include <fstream>
#include <mutex>
#include <sys/stat.h>
#include <unistd.h>

namespace pgbk {

namespace {

bool
IsSegmentName(const std::string &name)
{
	return name.size() == 24 && ParseWalSegmentName(name, 16 << 20).has_value();
}

} // namespace

WalSpool::WalSpool(std::string dir) : dir_(std::move(dir))
{
	if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST)
		ThrowErrno("could not create the prefetch spool \"" + dir_ + "\"", errno);
}

bool
WalSpool::Take(const std::string &name, const std::string &dest)
{
	if (::rename((dir_ + "/" + name).c_str(), dest.c_str()) == 0)
		return true;
	if (errno == ENOENT)
		return false;
	ThrowErrno("could not move the prefetched \"" + name + "\" to \"" + dest + "\"", errno);
}

void
WalSpool::SetWanted(const std::string &name)
{
	ReplaceFile(dir_ + "/.want", name, false); // a hint: a crash may lose it
}

std::string
WalSpool::Wanted() const
{
	std::ifstream in(dir_ + "/.want");
	std::string name;
	std::getline(in, name);
	return IsSegmentName(name) ? name : "";
}

std::vector<std::string>
WalSpool::Segments() const
{
	std::vector<std::string> names, out;
	ListDirectory(dir_, &names);
	for (auto &n : names)
		if (IsSegmentName(n))
			out.push_back(std::move(n));
	std::sort(out.begin(), out.end());
	return out;
}

void
WalSpool::Prune(const std::string &wanted, size_t depth, uint64_t segment_size)
{
	auto want = ParseWalSegmentName(wanted, segment_size);
	for (const auto &name : Segments()) {
		auto seg = ParseWalSegmentName(name, segment_size);
		bool keep = want && seg && seg->timeline == want->timeline && seg->segno > want->segno &&
					seg->segno <= want->segno + depth;
		if (!keep)
			::unlink((dir_ + "/" + name).c_str());
	}
}

void
WalSpool::Clear()
{
	std::vector<std::string> names;
	if (!ListDirectory(dir_, &names))
		return;
	for (const auto &n : names)
		if (IsSegmentName(n) || n.find(".pgbk.tmp") != std::string::npos || n == ".want" || n == kStoreOutageFile)
			::unlink((dir_ + "/" + n).c_str());
	::rmdir(dir_.c_str()); // fails while another file (the lock) is there: fine
}

std::string
NextWalSegment(const std::string &name, uint64_t segment_size)
{
	auto seg = ParseWalSegmentName(name, segment_size);
	if (!seg)
		throw Error(ErrorKind::Config, "\"" + name + "\" is not a WAL segment name");
	return WalSegmentName(WalSegment{seg->timeline, seg->segno + 1}, segment_size);
}

PrefetchRound
PrefetchOnce(Repository &repo, WalSpool &spool, size_t depth, int parallel, uint64_t segment_size)
{
	PrefetchRound round;
	std::string wanted = spool.Wanted();
	if (wanted.empty())
		return round;
	spool.Prune(wanted, depth, segment_size);
	auto have = spool.Segments();
	std::vector<std::string> todo;
	std::string name = wanted;
	for (size_t i = 0; i < depth; i++) {
		name = NextWalSegment(name, segment_size);
		if (!std::binary_search(have.begin(), have.end(), name))
			todo.push_back(name);
	}
	if (todo.empty())
		return round;
	// In window order: a missing segment ends the archive, so later ones are not fetched.
	std::mutex mu;
	std::string end_at; // the first missing segment
	struct Job {
		std::string name;
	};
	{
		ParallelRunner<Job> runner(parallel, static_cast<size_t>(parallel), [&](Job &job, const std::atomic<bool> &) {
			{
				std::lock_guard<std::mutex> lk(mu);
				if (!end_at.empty() && job.name > end_at)
					return;
			}
			try {
				bool found = repo.FetchWalFile(job.name, spool.dir() + "/" + job.name);
				std::lock_guard<std::mutex> lk(mu);
				if (found)
					round.fetched++;
				else if (end_at.empty() || job.name < end_at)
					end_at = job.name;
			} catch (const Error &) {
				std::lock_guard<std::mutex> lk(mu);
				round.failed++;
			}
		});
		for (auto &n : todo)
			runner.Submit(Job{n}, nullptr);
		runner.Finish(nullptr);
	}
	round.reached_end = !end_at.empty();
	// Segments fetched beyond a missing one (racing it) are kept: they are genuine.
	return round;
}

} // namespace pgbk
