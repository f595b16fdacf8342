#include "pgbk/backup_lease.hpp"

#include "pgbk/threads.hpp"

#include <ctime>

namespace pgbk {

BackupLease::BackupLease(Repository &repo, std::string label, std::string holder, std::chrono::seconds term,
						 std::chrono::milliseconds renew_every)
	: repo_(repo), label_(std::move(label)), holder_(std::move(holder)), term_(term), renew_every_(renew_every)
{
	Renew();
	thread_ = StartSignalFreeThread([this] {
		std::unique_lock lock(mutex_);
		while (!wake_.wait_for(lock, renew_every_, [this] { return stopping_; })) {
			lock.unlock();
			bool ok = true;
			try {
				Renew();
			} catch (const std::exception &) {
				ok = false; // retried at the next renewal; the term covers several misses
			}
			lock.lock();
			failed_renewals_ = ok ? 0 : failed_renewals_ + 1;
		}
	});
}

BackupLease::~BackupLease()
{
	{
		std::lock_guard lock(mutex_);
		stopping_ = true;
	}
	wake_.notify_all();
	if (thread_.joinable())
		thread_.join();
}

void
BackupLease::Renew()
{
	// Timed before the write: the term other nodes see runs from no earlier than this.
	auto started = std::chrono::steady_clock::now();
	repo_.WriteBackupLease(label_, holder_, static_cast<int64_t>(std::time(nullptr)) + term_.count(), term_.count());
	std::lock_guard lock(mutex_);
	renewed_at_ = started;
}

bool
BackupLease::Lost() const
{
	std::lock_guard lock(mutex_);
	return std::chrono::steady_clock::now() - renewed_at_ >
		   std::chrono::duration_cast<std::chrono::milliseconds>(term_) * 4 / 5;
}

int
BackupLease::FailedRenewals() const
{
	std::lock_guard lock(mutex_);
	return failed_renewals_;
}

} // namespace pgbk
