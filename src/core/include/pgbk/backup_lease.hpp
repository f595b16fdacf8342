// The lease of a backup being taken (backup/<label>/lease): renewed on a signal-free
// thread while the backup runs, so that any node sharing the repository can tell a
// backup still being taken from one whose taker is gone (a crash, a failover, a pod
// rescheduled under another host name) and clean the latter up. Retention ignores an
// expired one's WAL floor.
#pragma once
#include "pgbk/repository.hpp"

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace pgbk {

// How long a lease lasts without renewal, and how often it is renewed: a taker that
// misses nine renewals in a row (an S3 outage of over nine minutes) loses its backup.
constexpr std::chrono::seconds kBackupLeaseTerm{600};
constexpr std::chrono::seconds kBackupLeaseRenewal{60};

class BackupLease {
public:
	// Writes the lease at once (throws its error), then renews it every `renew_every`.
	BackupLease(Repository &repo, std::string label, std::string holder, std::chrono::seconds term = kBackupLeaseTerm,
				std::chrono::milliseconds renew_every = kBackupLeaseRenewal);
	// Stops renewing; the lease then expires unless the backup completed or failed.
	~BackupLease();
	BackupLease(const BackupLease &) = delete;
	BackupLease &operator=(const BackupLease &) = delete;
	// How many renewals failed in a row (the backup goes on: a later one may succeed).
	int FailedRenewals() const;
	// Whether the holder must give the backup up: no renewal succeeded for four fifths of
	// the term, by this process's monotonic clock (which runs on while it is stopped).
	// The fifth left over absorbs the difference between its clock and the judges'.
	bool Lost() const;

private:
	void Renew();

	Repository &repo_;
	std::string label_, holder_;
	std::chrono::seconds term_;
	std::chrono::milliseconds renew_every_;
	mutable std::mutex mutex_;
	std::condition_variable wake_;
	bool stopping_ = false;
	int failed_renewals_ = 0;
	std::chrono::steady_clock::time_point renewed_at_;
	std::thread thread_;
};

} // namespace pgbk
