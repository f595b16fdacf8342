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
	repo_.WriteBackupLease(label_, holder_, static_cast<int64_t>(std::time(nullptr)) + term_.count());
}

int
BackupLease::FailedRenewals() const
{
	std::lock_guard lock(mutex_);
	return failed_renewals_;
}

} // namespace pgbk
