// One backup as named phases against the server interface (backup_run.hpp).
#include "pgbk/backup_run.hpp"

#include "pgbk/archive_gaps.hpp"
#include "pgbk/error.hpp"
#include "pgbk/retention.hpp"
#include "pgbk/timeline_fence.hpp"
#include "pgbk/wal_archiver.hpp"

#include <algorithm>

namespace pgbk {

struct BackupRun::Impl {
	std::unique_ptr<Repository> repo;
	BackupServer &server;
	BackupServerFacts facts;
	BackupRunOptions options;
	BackupCallbacks callbacks;
	std::string prior;
	Lsn prior_start = 0;
	ServerPosition start, stop;
	int64_t started_at = 0;
	// Whether this run wrote its backup's record (create-only). Only then may its failure
	// mark the label failed and remove data: a node that took the label first owns it.
	bool record_written = false;
	// Declared after the repository, so destroyed before it (the lease renews on its own
	// thread, the session's writers use it too).
	std::unique_ptr<BackupLease> lease;
	std::unique_ptr<BackupSession> session;

	Impl(std::unique_ptr<Repository> r, BackupServer &s, BackupServerFacts f, BackupRunOptions o, BackupCallbacks c)
		: repo(std::move(r)), server(s), facts(std::move(f)), options(std::move(o)), callbacks(std::move(c))
	{
	}

	std::string
	Node() const
	{
		return facts.node.Describe();
	}

	TimelineLineage
	Lineage(TimelineFence &fence, uint32_t timeline) const
	{
		return fence.ServerLineage(facts.pgdata + "/pg_wal", timeline);
	}

	// A run goes on only while its backup is still its own: a holder stalled past its
	// lease (a GC pause, a SIGSTOP, a partition) may find that another node marked the
	// backup failed and removed its data. Checked before each phase and right before the
	// completion marker; a failure record written after the check still wins in every
	// reader (Repository::ReadBackup).
	void
	CheckStillHeld()
	{
		if (lease && lease->Lost())
			throw Error(ErrorKind::Conflict,
						"backup " + options.label + " lost its lease: it was not renewed for four fifths of its " +
							std::to_string(options.lease_term.count()) +
							" s term, so other nodes may take it for interrupted; the backup is abandoned",
						"Take the backup again; see the server log for why the repository or this process stalled.");
		auto record = repo->ReadBackup(options.label);
		if (record && record->status == BackupStatus::Failed)
			throw Error(ErrorKind::Conflict,
						"backup " + options.label + " was marked failed while it was being taken (" + record->error +
							"); it is abandoned",
						"Take the backup again; a backup whose lease lapsed is never completed.");
	}

	// A backup completes only on its own server's WAL: a file of the same name in the
	// repository may be another server's (a former primary's, a promoted copy's).
	bool
	WalArchivedByThisServer(const std::string &name)
	{
		if (auto reason = ArchiveStopReason(facts.pgdata))
			throw Error(ErrorKind::Conflict, "archiving is stopped: " + *reason,
						"A backup completes only on this server's own WAL. Resolve the conflict, then run SELECT "
						"pgbk_archive_resume() as a superuser.");
		std::string pg_wal = facts.pgdata + "/pg_wal";
		if (!WalFileAcknowledged(pg_wal, name))
			// The status file is not the only proof. pg_basebackup -X stream leaves its
			// WAL without one, and a standby's segment may be stored by the primary
			// first: the repository holding this server's very bytes is archived. A
			// segment still being received differs and is waited for.
			return repo->HoldsWalFileAs(name, pg_wal + "/" + name);
		if (repo->HasWalFile(name))
			return true;
		// Acknowledged but not stored: in the spool (it drains), or dropped on overflow.
		ArchiveGapLedger ledger(facts.spool_directory, Node());
		if (auto gap = ledger.Holding(name, facts.segment_size))
			throw Error(ErrorKind::Corrupt,
						"WAL segment " + name + " this backup needs was dropped while the repository was away (gap " +
							DescribeGap(*gap) + "); the backup could never be restored",
						"Once the repository takes WAL again, the worker's catch-up backup covers the gap; see "
						"pgbk_archive_gaps.");
		return false;
	}
};

BackupRun::BackupRun(std::unique_ptr<Repository> repo, BackupServer &server, BackupServerFacts facts,
					 BackupRunOptions options, BackupCallbacks callbacks)
	: impl_(std::make_unique<Impl>(std::move(repo), server, std::move(facts), std::move(options), std::move(callbacks)))
{
	impl_->callbacks.wal_acknowledged = [m = impl_.get()](const std::string &name) {
		return m->WalArchivedByThisServer(name);
	};
}

// The session and the lease (declared after the repository) go first.
BackupRun::~BackupRun() = default;

std::string
BackupRun::ChoosePrior()
{
	Impl &m = *impl_;
	m.repo->CheckOrInit(m.facts.cluster);
	m.repo->RegisterNode(
		NodeRecord{m.facts.node.id, m.facts.node.host, m.facts.node.pgdata, static_cast<int64_t>(time(nullptr))});
	ServerPosition now = m.server.Position();
	TimelineFence fence(*m.repo, m.facts.segment_size);
	TimelineLineage lineage = m.Lineage(fence, now.timeline);
	fence.RefuseIfSuperseded(lineage, now.lsn, "this server takes no backup");
	if (RulesOf(m.options.type).prior == PriorRule::None)
		return "";
	PriorChoice choice = pgbk::ChoosePrior(m.repo->ListBackups(), m.options.type, lineage, m.facts.pg_version_num);
	if (choice.label.empty()) {
		m.options.type = BackupType::Full;
		m.options.label.back() = RulesOf(BackupType::Full).label_suffix;
		return choice.why_full;
	}
	m.prior = choice.label;
	m.prior_start = choice.start_lsn;
	return "";
}

void
BackupRun::Start()
{
	Impl &m = *impl_;
	if (m.repo->ReadBackup(m.options.label))
		throw Error(ErrorKind::AlreadyExists, "backup " + m.options.label + " already exists");
	m.start = m.server.StartBackup(m.options.label);
	m.started_at = static_cast<int64_t>(time(nullptr));

	BackupStartInfo info;
	info.label = m.options.label;
	info.type = RulesOf(m.options.type).name;
	info.prior = m.prior;
	info.started_at = m.started_at;
	info.start_lsn = m.start.lsn;
	info.timeline = m.start.timeline;
	info.wal_start =
		WalSegmentName(SegmentOfLsn(m.start.timeline, m.start.lsn, m.facts.segment_size), m.facts.segment_size);
	info.cluster = m.facts.cluster;
	info.pg_version_num = m.facts.pg_version_num;
	info.host = m.facts.node.host;
	info.pgdata = m.facts.pgdata;
	info.node_id = m.facts.node.id;
	info.standby = m.facts.standby;
	try {
		m.repo->WriteBackupStart(info);
	} catch (const Error &e) {
		if (e.kind() != ErrorKind::AlreadyExists)
			throw;
		throw Error(ErrorKind::Conflict,
					"backup label " + info.label +
						" is already taken in the repository (another server started a backup in the same second); "
						"this backup is not taken and the other one is left alone",
					"Run pgbk_backup_now() again for a new label; if two servers take backups into one repository, "
					"only the primary should (pgbk fences a former primary).");
	}
	m.record_written = true;
	m.lease = std::make_unique<BackupLease>(
		*m.repo, info.label, m.Node(), m.options.lease_term,
		std::min<std::chrono::milliseconds>(kBackupLeaseRenewal, m.options.lease_term / 10));

	ManifestHeader h;
	h.label = info.label;
	h.type = info.type;
	h.prior = m.prior;
	h.prior_start_lsn = m.prior_start;
	// Page deltas trust page LSNs, which only data checksums make cover every change
	// (hint bits included); without them changed relation files are stored whole.
	h.page_delta = !m.prior.empty() && m.facts.data_checksums;
	h.system_identifier = m.facts.cluster.system_identifier;
	h.pg_version_num = m.facts.pg_version_num;
	h.timeline = m.start.timeline;
	h.start_lsn = m.start.lsn;
	h.segment_size = m.facts.segment_size;
	h.data_checksums = m.facts.data_checksums;
	h.started_at = m.started_at;
	h.taken_on = m.Node();
	m.session = std::make_unique<BackupSession>(*m.repo, h);
}

void
BackupRun::CopyFiles()
{
	Impl &m = *impl_;
	m.CheckStillHeld();
	BackupOptions copy;
	copy.pgdata = m.facts.pgdata;
	copy.codec = m.options.codec;
	copy.parallel = m.options.parallel;
	copy.verify_checksums = m.facts.data_checksums;
	copy.file_delay = m.options.file_delay;
	copy.skip_directory = m.repo->local_directory();
	copy.tablespace_version_dir = m.facts.tablespace_version_dir;
	m.session->CopyDataDirectory(copy, m.callbacks);
}

void
BackupRun::StopAndComplete()
{
	Impl &m = *impl_;
	m.CheckStillHeld();
	BackupStopPoint stopped = m.server.StopBackup();
	m.stop = stopped.position;
	BackupStopInfo stop;
	stop.stop_lsn = stopped.position.lsn;
	stop.timeline = stopped.position.timeline;
	// Read once the backup API returned, so after its end record and every commit before
	// it: what a point-in-time target is checked against.
	stop.stop_time_us =
		std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::system_clock::now().time_since_epoch())
			.count();
	stop.next_xid = stopped.next_xid;

	m.session->AddFile("backup_label", stopped.backup_label, m.options.codec);
	if (!stopped.tablespace_map.empty())
		m.session->AddFile("tablespace_map", stopped.tablespace_map, m.options.codec);
	m.session->WaitForWal(m.start.timeline, m.start.lsn, m.stop.lsn, m.facts.segment_size, m.options.wal_timeout,
						  m.callbacks, &stop.wal_stop);
	stop.finished_at = static_cast<int64_t>(time(nullptr));
	m.CheckStillHeld();
	m.session->Complete(stop);
	// Done: the lease's work is over (a complete backup needs none).
	m.lease.reset();
}

std::vector<std::string>
BackupRun::CoverArchiveGaps()
{
	Impl &m = *impl_;
	std::vector<std::string> closed;
	ArchiveGapLedger ledger(m.facts.spool_directory, m.Node());
	for (const auto &gap : ledger.Cover(m.options.label, m.start.timeline, m.start.lsn, m.facts.segment_size,
										static_cast<int64_t>(time(nullptr))))
		closed.push_back(DescribeGap(gap));
	if (!closed.empty())
		ledger.Publish(*m.repo);
	return closed;
}

void
BackupRun::Abandon(const std::string &message)
{
	Impl &m = *impl_;
	// Stop renewing first: a renewal after the failure record would look alive.
	m.lease.reset();
	m.session.reset();
	if (!m.record_written)
		return;
	auto record = m.repo->ReadBackup(m.options.label);
	if (!record || record->status == BackupStatus::Complete)
		return;
	// A failure another node recorded (it judged the lease lapsed) stays as it wrote it.
	if (record->status != BackupStatus::Failed)
		m.repo->MarkBackupFailed(m.options.label, message, static_cast<int64_t>(time(nullptr)));
	m.repo->RemoveBackupData(m.options.label);
}

const std::string &
BackupRun::Label() const
{
	return impl_->options.label;
}

BackupType
BackupRun::Type() const
{
	return impl_->options.type;
}

const std::string &
BackupRun::Prior() const
{
	return impl_->prior;
}

ServerPosition
BackupRun::StartPosition() const
{
	return impl_->start;
}

ServerPosition
BackupRun::StopPosition() const
{
	return impl_->stop;
}

const BackupProgress &
BackupRun::Progress() const
{
	static const BackupProgress none;
	return impl_->session ? impl_->session->Progress() : none;
}

std::string
BackupRun::BadPagesSummary() const
{
	return impl_->session ? impl_->session->BadPagesSummary() : "";
}

InterruptedBackups
CleanUpInterruptedBackups(Repository &repo, const NodeIdentity &self, bool superseded, int64_t now)
{
	InterruptedBackups result;
	for (auto &b : repo.ListBackups()) {
		if (b.label > result.newest_label)
			result.newest_label = b.label;
		if (b.status != BackupStatus::Incomplete)
			continue;
		// By id: pods of one template may share host name and data directory.
		bool own = !b.node_id.empty() ? b.node_id == self.id
									  : b.lease_expires_at == 0 && b.host == self.host && b.pgdata == self.pgdata;
		if (superseded || (!own && !LeaseExpired(b, now)))
			continue;
		repo.MarkBackupFailed(b.label,
							  own ? "interrupted: the server or the backup worker stopped before the backup completed"
								  : "interrupted: its lease (held by " + b.lease_holder +
										") expired without the backup completing",
							  now);
		repo.RemoveBackupData(b.label);
		result.marked_failed++;
	}
	return result;
}

} // namespace pgbk
