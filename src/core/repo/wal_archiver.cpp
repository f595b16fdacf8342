#include "pgbk/wal_archiver.hpp"

#include "pgbk/threads.hpp"

#include "pgbk/fileio.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <condition_variable>
#include <dirent.h>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

namespace pgbk {

struct WalArchiver::Impl {
	enum class State { Queued, Running, Stored, Failed };
	struct Entry {
		State state = State::Queued;
		std::string path;
		Repository::ArchiveOutcome outcome = Repository::ArchiveOutcome::Stored;
		std::string error;
	};

	Repository &repo;
	CodecOptions codec;
	size_t max_in_flight;
	mutable std::mutex mu;
	std::condition_variable work, done;
	std::map<std::string, Entry> entries; // bounded by max_in_flight
	std::deque<std::string> queue;
	std::deque<std::string> ready_cache; // ReadyAfter's last scan, in archiver order
	std::vector<std::thread> threads;
	bool stopping = false;
	// A content conflict in the background: nothing more is started (the archiver's
	// own call for that file reports it and stops archiving).
	bool conflicted = false;

	Impl(Repository &r, CodecOptions c, int n)
		: repo(r), codec(c), max_in_flight(static_cast<size_t>(std::max(1, n)) * 2)
	{
	}

	void
	Work()
	{
		for (;;) {
			std::string name, path;
			{
				std::unique_lock<std::mutex> lk(mu);
				work.wait(lk, [&] { return stopping || !queue.empty(); });
				if (stopping)
					return;
				if (conflicted) {
					for (const std::string &n : queue)
						entries.erase(n);
					queue.clear();
					continue;
				}
				name = queue.front();
				queue.pop_front();
				Entry &e = entries[name];
				e.state = State::Running;
				path = e.path;
			}
			Entry result;
			try {
				result.outcome = repo.ArchiveWalFile(name, path, codec);
				result.state = State::Stored;
			} catch (const WalContentConflict &ex) {
				result.state = State::Failed;
				result.error = ex.what();
				std::lock_guard<std::mutex> g(mu);
				conflicted = true;
			} catch (const std::exception &ex) {
				result.state = State::Failed;
				result.error = ex.what();
			}
			{
				std::lock_guard<std::mutex> g(mu);
				Entry &e = entries[name];
				e.state = result.state;
				e.outcome = result.outcome;
				e.error = result.error;
			}
			done.notify_all();
		}
	}
};

WalArchiver::WalArchiver(Repository &repo, CodecOptions codec, int threads)
	: impl_(std::make_unique<Impl>(repo, codec, threads))
{
	for (int i = 0; i < std::max(1, threads); i++)
		impl_->threads.push_back(StartSignalFreeThread([this] { impl_->Work(); }));
}

WalArchiver::~WalArchiver()
{
	{
		std::lock_guard<std::mutex> g(impl_->mu);
		impl_->stopping = true;
	}
	impl_->work.notify_all();
	for (auto &t : impl_->threads)
		t.join();
}

size_t
WalArchiver::InFlight() const
{
	std::lock_guard<std::mutex> g(impl_->mu);
	return impl_->entries.size();
}

Repository::ArchiveOutcome
WalArchiver::Archive(const std::string &name, const std::string &path,
					 const std::vector<std::pair<std::string, std::string>> &ahead)
{
	Impl &m = *impl_;
	{
		std::unique_lock<std::mutex> lk(m.mu);
		// A finished result that is neither asked for now nor still waiting is stale
		// (its .ready file is gone): drop it so the window stays open.
		for (auto e = m.entries.begin(); e != m.entries.end();) {
			bool finished = e->second.state == Impl::State::Stored || e->second.state == Impl::State::Failed;
			bool wanted = e->first == name ||
						  std::any_of(ahead.begin(), ahead.end(), [&](const auto &a) { return a.first == e->first; });
			e = finished && !wanted ? m.entries.erase(e) : std::next(e);
		}
		// Start the look-ahead first, so it overlaps with this segment.
		for (const auto &[n, p] : ahead) {
			if (m.conflicted)
				break;
			if (m.entries.size() >= m.max_in_flight)
				break;
			if (n == name || m.entries.count(n))
				continue;
			m.entries[n].path = p;
			m.queue.push_back(n);
		}
		m.work.notify_all();
		auto it = m.entries.find(name);
		if (it != m.entries.end()) {
			// Queued but not started: take it back and do it here.
			auto q = std::find(m.queue.begin(), m.queue.end(), name);
			if (q != m.queue.end()) {
				m.queue.erase(q);
				m.entries.erase(it);
			} else {
				m.done.wait(lk, [&] {
					auto e = m.entries.find(name);
					return e->second.state == Impl::State::Stored || e->second.state == Impl::State::Failed;
				});
				Impl::Entry e = m.entries[name];
				m.entries.erase(name); // consumed exactly once
				if (e.state == Impl::State::Stored)
					return e.outcome;
				// failed in the background: retry here, so the error reaches the caller
			}
		}
	}
	return m.repo.ArchiveWalFile(name, path, m.codec);
}

namespace {

// PostgreSQL's archiver order: timeline history files first, then by name.
bool
ArchivedBefore(const std::string &a, const std::string &b)
{
	bool ha = ClassifyWalFileName(a) == WalFileKind::TimelineHistory;
	bool hb = ClassifyWalFileName(b) == WalFileKind::TimelineHistory;
	return ha != hb ? ha : a < b;
}

// The first `max` names with a .ready file other than `except` (with `only_after`: after
// it in archiver order), in archiver order. One
// pass over the directory keeping only `max` names (a heap), so a backlog of a million
// segments costs a directory read, not a million names in memory.
std::vector<std::string>
ScanReady(const std::string &pg_wal, const std::string &except, size_t max, bool only_after)
{
	std::vector<std::string> heap; // max-heap by archiver order: the last kept on top
	DIR *d = ::opendir((pg_wal + "/archive_status").c_str());
	if (d == nullptr || max == 0) {
		if (d != nullptr)
			::closedir(d);
		return {};
	}
	while (struct dirent *e = ::readdir(d)) {
		std::string f = e->d_name;
		if (f.size() <= 6 || f.compare(f.size() - 6, 6, ".ready") != 0)
			continue;
		f.resize(f.size() - 6);
		if (f == except || ClassifyWalFileName(f) == WalFileKind::Unknown || (only_after && !ArchivedBefore(except, f)))
			continue;
		if (heap.size() < max) {
			heap.push_back(std::move(f));
			std::push_heap(heap.begin(), heap.end(), ArchivedBefore);
		} else if (ArchivedBefore(f, heap.front())) {
			std::pop_heap(heap.begin(), heap.end(), ArchivedBefore);
			heap.back() = std::move(f);
			std::push_heap(heap.begin(), heap.end(), ArchivedBefore);
		}
	}
	::closedir(d);
	std::sort_heap(heap.begin(), heap.end(), ArchivedBefore);
	return heap;
}

bool
IsReady(const std::string &pg_wal, const std::string &name)
{
	struct stat st;
	return ::stat((pg_wal + "/archive_status/" + name + ".ready").c_str(), &st) == 0;
}

} // namespace

std::vector<std::pair<std::string, std::string>>
WalArchiver::ListReady(const std::string &pg_wal, const std::string &except, size_t max)
{
	std::vector<std::pair<std::string, std::string>> out;
	for (std::string &n : ScanReady(pg_wal, except, max, false))
		out.emplace_back(n, pg_wal + "/" + n);
	return out;
}

std::vector<std::pair<std::string, std::string>>
WalArchiver::ReadyAfter(const std::string &pg_wal, const std::string &current, size_t max)
{
	// A directory scan per segment would make a backlog of N segments cost N scans of N
	// names: one scan remembers the next kReadyScanFactor × max names, reused (checked
	// still .ready) until fewer than max remain.
	constexpr size_t kReadyScanFactor = 8;
	std::deque<std::string> &cache = impl_->ready_cache;
	auto collect = [&] {
		std::vector<std::pair<std::string, std::string>> out;
		for (auto it = cache.begin(); it != cache.end() && out.size() < max;) {
			if (!ArchivedBefore(current, *it) || !IsReady(pg_wal, *it)) {
				it = cache.erase(it); // done, or at or before the segment asked for now
				continue;
			}
			out.emplace_back(*it, pg_wal + "/" + *it);
			++it;
		}
		return out;
	};
	auto out = collect();
	if (out.size() < max) {
		auto scanned = ScanReady(pg_wal, current, max * kReadyScanFactor, true);
		cache.assign(scanned.begin(), scanned.end());
		out = collect();
	}
	return out;
}

namespace {

std::string
StopFilePath(const std::string &data_directory)
{
	return data_directory + "/" + kArchiveStopFile;
}

} // namespace

std::optional<std::string>
ArchiveStopReason(const std::string &data_directory)
{
	std::string path = StopFilePath(data_directory);
	int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0) {
		if (errno == ENOENT)
			return std::nullopt;
		// Unreadable is not "not stopped": keep archiving stopped and say why.
		return "the stop file \"" + path + "\" cannot be read: " + std::strerror(errno);
	}
	UniqueFd owned(fd);
	std::string text(4096, '\0');
	ssize_t n = ::read(fd, text.data(), text.size());
	text.resize(n > 0 ? static_cast<size_t>(n) : 0);
	while (!text.empty() && (text.back() == '\n' || text.back() == '\0'))
		text.pop_back();
	return text.empty() ? std::string("(no reason recorded)") : text;
}

void
StopArchiving(const std::string &data_directory, const std::string &reason)
{
	ReplaceFile(StopFilePath(data_directory), reason + "\n", true);
}

std::optional<std::string>
ResumeArchiving(const std::string &data_directory)
{
	auto reason = ArchiveStopReason(data_directory);
	if (reason) {
		std::string path = StopFilePath(data_directory);
		if (::unlink(path.c_str()) != 0 && errno != ENOENT)
			ThrowErrno("could not remove \"" + path + "\"", errno);
	}
	return reason;
}

bool
WalFileAcknowledged(const std::string &pg_wal, const std::string &name)
{
	struct stat st;
	auto exists = [&](const std::string &p) { return ::lstat(p.c_str(), &st) == 0; };
	if (exists(pg_wal + "/archive_status/" + name + ".ready"))
		return false;
	if (exists(pg_wal + "/archive_status/" + name + ".done"))
		return true;
	// Neither: not complete yet (the file is still there), or archived and removed
	// since (PostgreSQL removes a segment only after its .done).
	return !exists(pg_wal + "/" + name);
}

} // namespace pgbk
