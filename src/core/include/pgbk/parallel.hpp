// A bounded queue of jobs run by signal-free threads: the one pool behind backup and
// restore. The producer (the calling thread) blocks while the queue is full and runs a
// poll callback at least every 100 ms meanwhile, so it can notice cancellation and
// report progress. The first failure stops everything and is rethrown to the producer.
#pragma once
#include "pgbk/error.hpp"
#include "pgbk/threads.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace pgbk {

template <typename Job> class ParallelRunner {
public:
	// fn runs on a pool thread; `stop` turns true when the run is failing or cancelled.
	using Fn = std::function<void(Job &job, const std::atomic<bool> &stop)>;
	using Poll = std::function<void()>;

	ParallelRunner(int threads, size_t capacity, Fn fn) : capacity_(capacity == 0 ? 1 : capacity), fn_(std::move(fn))
	{
		try {
			for (int i = 0; i < (threads < 1 ? 1 : threads); i++)
				threads_.push_back(StartSignalFreeThread([this] { Work(); }));
		} catch (...) {
			Fail(std::current_exception());
			Join();
			throw;
		}
	}
	~ParallelRunner()
	{
		Fail(std::make_exception_ptr(Error(ErrorKind::Cancelled, "stopped")));
		Join();
	}
	ParallelRunner(const ParallelRunner &) = delete;
	ParallelRunner &operator=(const ParallelRunner &) = delete;

	// Queues a job; throws the first failure if the run has stopped.
	void
	Submit(Job job, const Poll &poll)
	{
		std::unique_lock<std::mutex> lk(mu_);
		while (queue_.size() >= capacity_ && !stop_) {
			space_.wait_for(lk, kPollInterval);
			lk.unlock();
			if (poll)
				poll();
			lk.lock();
		}
		if (stop_) {
			std::exception_ptr e = error_;
			lk.unlock();
			std::rethrow_exception(e ? e : std::make_exception_ptr(Error(ErrorKind::Cancelled, "stopped")));
		}
		queue_.push_back(std::move(job));
		lk.unlock();
		work_.notify_one();
	}

	// Waits until every queued job ran, then joins the threads; rethrows the first failure.
	void
	Finish(const Poll &poll)
	{
		{
			std::lock_guard<std::mutex> g(mu_);
			closed_ = true;
		}
		work_.notify_all();
		for (;;) {
			std::unique_lock<std::mutex> lk(mu_);
			if (space_.wait_for(lk, kPollInterval, [&] { return (queue_.empty() || stop_) && active_ == 0; }))
				break;
			lk.unlock();
			if (poll)
				poll();
		}
		Join();
		if (error_)
			std::rethrow_exception(error_);
	}

	// Stops the run with this failure (the first one wins).
	void
	Fail(std::exception_ptr e)
	{
		{
			std::lock_guard<std::mutex> g(mu_);
			if (!error_)
				error_ = e;
			stop_ = true;
		}
		work_.notify_all();
		space_.notify_all();
	}

private:
	static constexpr std::chrono::milliseconds kPollInterval{100};

	void
	Work()
	{
		for (;;) {
			Job job;
			{
				std::unique_lock<std::mutex> lk(mu_);
				work_.wait(lk, [&] { return !queue_.empty() || closed_ || stop_; });
				if (stop_ || queue_.empty())
					return;
				job = std::move(queue_.front());
				queue_.pop_front();
				active_++;
			}
			space_.notify_all();
			try {
				fn_(job, stop_);
			} catch (...) {
				Fail(std::current_exception());
			}
			{
				std::lock_guard<std::mutex> g(mu_);
				active_--;
			}
			space_.notify_all();
		}
	}

	void
	Join()
	{
		{
			std::lock_guard<std::mutex> g(mu_);
			closed_ = true;
		}
		work_.notify_all();
		for (auto &t : threads_)
			if (t.joinable())
				t.join();
		threads_.clear();
	}

	const size_t capacity_;
	Fn fn_;
	std::mutex mu_;
	std::condition_variable work_, space_;
	std::deque<Job> queue_;
	std::vector<std::thread> threads_;
	std::atomic<bool> stop_{false};
	bool closed_ = false;
	int active_ = 0;
	std::exception_ptr error_;
};

} // namespace pgbk
