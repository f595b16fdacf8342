#include "pgbk/wal_archiver.hpp"

#include "pgbk/threads.hpp"

#include <algorithm>
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
	std::vector<std::thread> threads;
	bool stopping = false;

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

std::vector<std::pair<std::string, std::string>>
WalArchiver::ListReady(const std::string &pg_wal, const std::string &except, size_t max)
{
	std::vector<std::string> names;
	DIR *d = ::opendir((pg_wal + "/archive_status").c_str());
	if (d == nullptr)
		return {};
	while (struct dirent *e = ::readdir(d)) {
		std::string f = e->d_name;
		if (f.size() <= 6 || f.compare(f.size() - 6, 6, ".ready") != 0)
			continue;
		f.resize(f.size() - 6);
		if (f != except && ClassifyWalFileName(f) != WalFileKind::Unknown)
			names.push_back(f);
	}
	::closedir(d);
	auto history_first = [](const std::string &a, const std::string &b) {
		bool ha = ClassifyWalFileName(a) == WalFileKind::TimelineHistory;
		bool hb = ClassifyWalFileName(b) == WalFileKind::TimelineHistory;
		return ha != hb ? ha : a < b;
	};
	std::sort(names.begin(), names.end(), history_first);
	std::vector<std::pair<std::string, std::string>> out;
	for (size_t i = 0; i < names.size() && i < max; i++)
		out.emplace_back(names[i], pg_wal + "/" + names[i]);
	return out;
}

} // namespace pgbk
