// A backup's phases against a fake server (backup_run.hpp): what a run decides, without
// PostgreSQL. The glue's PostgresBackupServer is the real server (TAP tests).
#include "pgbk/archive_gaps.hpp"
#include "pgbk/backup_run.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/restore.hpp"
#include "pgbk/retention.hpp"

#include "memory_storage.hpp"
#include "test_util.hpp"

#include <algorithm>
#include <functional>
#include <gtest/gtest.h>
#include <sys/time.h>
#include <thread>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

constexpr uint64_t kSeg = 16 << 20;
const ClusterIdentity kCluster{42, 15};
const std::string kFirstWal = "000000010000000000000003";

// A server whose backup starts in segment 3 of timeline 1 and stops in the same segment.
class FakeServer : public BackupServer {
public:
	ServerPosition position{1, 0x5000000};
	std::vector<std::string> calls;
	std::function<void()> on_start; // runs inside StartBackup (a race, a failure)
	std::function<void()> on_stop;

	ServerPosition
	StartBackup(const std::string &label) override
	{
		calls.push_back("start " + label);
		if (on_start)
			on_start();
		return ServerPosition{1, 0x3000028};
	}
	BackupStopPoint
	StopBackup() override
	{
		calls.push_back("stop");
		if (on_stop)
			on_stop();
		BackupStopPoint stop;
		stop.position = ServerPosition{1, 0x3000100};
		stop.backup_label = "START WAL LOCATION: 0/3000028 (file 000000010000000000000003)\n";
		stop.next_xid = 740;
		return stop;
	}
	ServerPosition
	Position() override
	{
		return position;
	}
};

class BackupRunTest : public ::testing::Test {
protected:
	TempDir dir;
	FakeServer server;
	std::string pgdata = dir / "pgdata";
	std::string spool = dir / "spool";
	std::string label = MakeBackupLabel(1790000000, BackupType::Full);

	void
	SetUp() override
	{
		test::WriteFile(pgdata + "/PG_VERSION", "15\n");
		test::WriteFile(pgdata + "/global/pg_control", std::string(8192, 'c'));
		test::WriteFile(pgdata + "/base/5/16384", test::RandomBytes(8192 * 2, 3));
		test::WriteFile(pgdata + "/standby.signal", "");
		std::filesystem::create_directories(pgdata + "/pg_wal/archive_status");
	}

	std::unique_ptr<Repository>
	Repo()
	{
		return std::make_unique<Repository>(OpenLocalStorage(dir / "repo"));
	}

	std::unique_ptr<BackupRun>
	NewRun(BackupType type, const std::string &run_label, std::chrono::seconds wal_timeout = std::chrono::seconds(5))
	{
		BackupServerFacts facts;
		facts.pgdata = pgdata;
		facts.node = NodeIdentity{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "node-a", pgdata};
		facts.cluster = kCluster;
		facts.pg_version_num = 150000;
		facts.segment_size = kSeg;
		facts.spool_directory = spool;
		BackupRunOptions options;
		options.label = run_label;
		options.type = type;
		options.wal_timeout = wal_timeout;
		BackupCallbacks callbacks;
		callbacks.should_cancel = [] { return false; };
		return std::make_unique<BackupRun>(Repo(), server, facts, options, callbacks);
	}

	// A full backup of `run_label` through its first phases: prior, start, copy.
	std::unique_ptr<BackupRun>
	CopiedRun(const std::string &run_label, std::chrono::seconds wal_timeout = std::chrono::seconds(5))
	{
		auto run = NewRun(BackupType::Full, run_label, wal_timeout);
		run->ChoosePrior();
		run->Start();
		run->CopyFiles();
		return run;
	}

	// This server's archiver stored the segment and acknowledged it (.done).
	void
	ArchiveOwnWal(const std::string &name)
	{
		test::WriteFile(dir / "seg", std::string(1000, 'w'));
		Repo()->ArchiveWalFile(name, dir / "seg", CodecOptions{});
		test::WriteFile(pgdata + "/pg_wal/" + name, std::string(1000, 'w'));
		test::WriteFile(pgdata + "/pg_wal/archive_status/" + name + ".done", "");
	}

	BackupStatus
	StatusOf(const std::string &l)
	{
		auto b = Repo()->ReadBackup(l);
		return b ? b->status : BackupStatus::Incomplete;
	}
};

} // namespace

TEST_F(BackupRunTest, PhasesTakeACompleteBackupBracketedByTheServer)
{
	ArchiveOwnWal(kFirstWal);
	auto run = NewRun(BackupType::Full, label);
	EXPECT_EQ(run->ChoosePrior(), "");
	run->Start();
	EXPECT_EQ(StatusOf(label), BackupStatus::Incomplete) << "recorded, not complete";
	run->CopyFiles();
	run->StopAndComplete();
	EXPECT_EQ(server.calls, (std::vector<std::string>{"start " + label, "stop"}));

	auto b = Repo()->ReadBackup(label);
	ASSERT_TRUE(b);
	EXPECT_EQ(b->status, BackupStatus::Complete);
	EXPECT_EQ(b->start_lsn, 0x3000028u);
	EXPECT_EQ(b->stop_lsn, 0x3000100u);
	EXPECT_EQ(b->next_xid, 740u);
	EXPECT_EQ(b->wal_start, kFirstWal);
	EXPECT_EQ(b->wal_stop, kFirstWal);
	EXPECT_EQ(b->host, "node-a");
	EXPECT_EQ(b->node_id, std::string(32, 'a'));
	auto nodes = Repo()->ListNodes();
	ASSERT_EQ(nodes.size(), 1u) << "a node that stores into the repository is recorded once";
	EXPECT_EQ(nodes[0].host, "node-a");
	EXPECT_EQ(run->StopPosition().lsn, 0x3000100u);

	// The label file is the server's, and the copy's other files are there.
	std::vector<std::string> paths;
	Repo()->ReadManifest(*b, nullptr, [&](const ManifestEntry &e) { paths.push_back(e.path); });
	EXPECT_NE(std::find(paths.begin(), paths.end(), "backup_label"), paths.end());
	EXPECT_NE(std::find(paths.begin(), paths.end(), "base/5/16384"), paths.end());
}

// A file of the same name in the repository may be another server's (a former
// primary's): a backup completes only once this server acknowledged its WAL.
TEST_F(BackupRunTest, CompletesOnlyOnThisServersOwnWal)
{
	test::WriteFile(dir / "seg", std::string(1000, 'x'));
	Repo()->ArchiveWalFile(kFirstWal, dir / "seg", CodecOptions{});
	test::WriteFile(pgdata + "/pg_wal/" + kFirstWal, std::string(1000, 'w'));
	test::WriteFile(pgdata + "/pg_wal/archive_status/" + kFirstWal + ".ready", "");
	auto run = CopiedRun(label, std::chrono::seconds(0));
	try {
		run->StopAndComplete();
		FAIL() << "completed on WAL this server never archived";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Timeout);
		EXPECT_NE(std::string(e.what()).find(kFirstWal), std::string::npos) << e.what();
	}
	run->Abandon("the WAL wait timed out");
	auto b = Repo()->ReadBackup(label);
	ASSERT_TRUE(b);
	EXPECT_EQ(b->status, BackupStatus::Failed);
	EXPECT_EQ(b->error, "the WAL wait timed out");
}

TEST_F(BackupRunTest, WalDroppedDuringAnOutageFailsTheBackupAtOnce)
{
	// Acknowledged (.done) but never stored: the spool dropped it and the ledger says so.
	test::WriteFile(pgdata + "/pg_wal/" + kFirstWal, std::string(1000, 'w'));
	test::WriteFile(pgdata + "/pg_wal/archive_status/" + kFirstWal + ".done", "");
	ArchiveGapLedger(spool, "node-a:" + pgdata).RecordDropped(kFirstWal, kSeg, 1000, 0);
	auto run = CopiedRun(label, std::chrono::seconds(60));
	try {
		run->StopAndComplete();
		FAIL() << "completed without its WAL";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Corrupt);
		EXPECT_NE(std::string(e.what()).find("dropped while the repository was away"), std::string::npos) << e.what();
	}
}

TEST_F(BackupRunTest, AnIncrementalWithoutAPriorIsTakenAsAFullBackup)
{
	ArchiveOwnWal(kFirstWal);
	std::string incr = MakeBackupLabel(1790000000, BackupType::Incr);
	auto run = NewRun(BackupType::Incr, incr);
	std::string why = run->ChoosePrior();
	EXPECT_NE(why, "");
	EXPECT_EQ(run->Type(), BackupType::Full);
	EXPECT_EQ(run->Label(), label) << "the label's letter follows the type";
	run->Start();
	run->CopyFiles();
	run->StopAndComplete();
	EXPECT_EQ(Repo()->ReadBackup(label)->type, "full");

	// The next incremental has its prior.
	ArchiveOwnWal(kFirstWal);
	std::string next = MakeBackupLabel(1790000100, BackupType::Incr);
	auto second = NewRun(BackupType::Incr, next);
	EXPECT_EQ(second->ChoosePrior(), "");
	EXPECT_EQ(second->Prior(), label);
	EXPECT_EQ(second->Label(), next);
}

// A former primary whose timeline another server took over (a history file in the
// repository forks its timeline at a point it went past) starts no backup at all.
TEST_F(BackupRunTest, ASupersededServerStartsNoBackup)
{
	test::WriteFile(dir / "h", "1\t0/4000000\tno recovery target specified\n");
	Repo()->ArchiveWalFile("00000002.history", dir / "h", CodecOptions{});
	server.position = ServerPosition{1, 0x5000000};
	auto run = NewRun(BackupType::Full, label);
	try {
		run->ChoosePrior();
		FAIL() << "a superseded server chose a prior";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Conflict);
		EXPECT_NE(std::string(e.what()).find("this server takes no backup"), std::string::npos) << e.what();
	}
	EXPECT_TRUE(server.calls.empty()) << "the server's backup was never started";

	// Before the fork it is the primary that the new timeline came from: not superseded.
	server.position = ServerPosition{1, 0x3000000};
	EXPECT_EQ(NewRun(BackupType::Full, label)->ChoosePrior(), "");
}

// Two nodes took the same label in the same second: the one whose create-only record
// lost leaves the other's backup alone, even when it abandons its own run.
TEST_F(BackupRunTest, ALabelAnotherNodeTookIsLeftAlone)
{
	server.on_start = [&] {
		BackupStartInfo other;
		other.label = label;
		other.cluster = kCluster;
		other.host = "node-b";
		other.pgdata = "/data";
		Repo()->WriteBackupStart(other);
	};
	auto run = NewRun(BackupType::Full, label);
	run->ChoosePrior();
	try {
		run->Start();
		FAIL() << "took a label another node holds";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Conflict);
		EXPECT_NE(std::string(e.what()).find("already taken"), std::string::npos) << e.what();
	}
	run->Abandon("the label was taken");
	auto b = Repo()->ReadBackup(label);
	ASSERT_TRUE(b);
	EXPECT_EQ(b->status, BackupStatus::Incomplete) << "not marked failed: node-b owns it";
	EXPECT_EQ(b->host, "node-b");

	// An existing label is refused before the server starts a backup.
	server.calls.clear();
	server.on_start = nullptr;
	EXPECT_THROW(NewRun(BackupType::Full, label)->Start(), Error);
	EXPECT_TRUE(server.calls.empty());
}

// A failure of the server's stop leaves nothing that looks valid.
TEST_F(BackupRunTest, AServerFailureLeavesAFailedBackupWithoutData)
{
	ArchiveOwnWal(kFirstWal);
	server.on_stop = [] { throw Error(ErrorKind::Conflict, "the standby was promoted during online backup"); };
	auto run = CopiedRun(label);
	EXPECT_THROW(run->StopAndComplete(), Error);
	run->Abandon("the standby was promoted during online backup");
	auto b = Repo()->ReadBackup(label);
	ASSERT_TRUE(b);
	EXPECT_EQ(b->status, BackupStatus::Failed);
	EXPECT_THROW(SelectBackup(*Repo(), label), Error) << "a failed backup is never restored";
}

TEST(InterruptedBackups, OwnLeftoversAndExpiredLeasesOnlyAndNothingWhenSuperseded)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	repo.CheckOrInit(kCluster);
	auto start = [&](const std::string &l, const std::string &host, const std::string &node_id) {
		BackupStartInfo info;
		info.label = l;
		info.cluster = kCluster;
		info.host = host;
		info.pgdata = "/data";
		info.node_id = node_id;
		repo.WriteBackupStart(info);
	};
	const NodeIdentity self{std::string(32, 'a'), "node-a", "/data"};
	const int64_t now = 1790001000;
	std::string own = MakeBackupLabel(1790000000, BackupType::Full);
	std::string live = MakeBackupLabel(1790000001, BackupType::Full);
	std::string expired = MakeBackupLabel(1790000002, BackupType::Full);
	std::string unleased = MakeBackupLabel(1790000003, BackupType::Full);
	std::string twin = MakeBackupLabel(1790000004, BackupType::Full);
	std::string older_own = MakeBackupLabel(1790000005, BackupType::Full);
	start(own, "node-a", self.id);
	start(live, "node-b", std::string(32, 'b'));
	repo.WriteBackupLease(live, "node-b:/data", now + 600, 600);
	start(expired, "node-c", std::string(32, 'c'));
	repo.WriteBackupLease(expired, "node-c:/data", now - 1, 600);
	// Last written 700 s ago by the store's clock (the file's modification time): lapsed.
	std::string expired_lease = dir / ("repo/backup/" + expired + "/lease");
	struct timeval long_ago[2] = {{::time(nullptr) - 700, 0}, {::time(nullptr) - 700, 0}};
	ASSERT_EQ(::utimes(expired_lease.c_str(), long_ago), 0);
	start(unleased, "node-d", ""); // an older pgbk's: no lease, never judged
	// A pod of the same template: the same host name and data directory, another node.
	start(twin, "node-a", std::string(32, 'e'));
	repo.WriteBackupLease(twin, "node-a:/data", now + 600, 600);
	start(older_own, "node-a", ""); // this directory's, by an older pgbk (no id, no lease)

	InterruptedBackups superseded = CleanUpInterruptedBackups(repo, self, true, now);
	EXPECT_EQ(superseded.marked_failed, 0) << "a former primary touches nothing";
	EXPECT_EQ(superseded.newest_label, older_own);

	InterruptedBackups r = CleanUpInterruptedBackups(repo, self, false, now);
	EXPECT_EQ(r.marked_failed, 3);
	EXPECT_EQ(repo.ReadBackup(own)->status, BackupStatus::Failed);
	EXPECT_EQ(repo.ReadBackup(live)->status, BackupStatus::Incomplete) << "node-b is still taking it";
	EXPECT_EQ(repo.ReadBackup(expired)->status, BackupStatus::Failed);
	EXPECT_NE(repo.ReadBackup(expired)->error.find("node-c:/data"), std::string::npos);
	EXPECT_EQ(repo.ReadBackup(unleased)->status, BackupStatus::Incomplete);
	EXPECT_EQ(repo.ReadBackup(twin)->status, BackupStatus::Incomplete)
		<< "a node sharing host name and data directory is still another node";
	EXPECT_EQ(repo.ReadBackup(older_own)->status, BackupStatus::Failed);
	// The same directory on another host is another node.
	EXPECT_EQ(CleanUpInterruptedBackups(repo, NodeIdentity{std::string(32, 'f'), "node-b", "/elsewhere"}, false, now)
				  .marked_failed,
			  0);
}

// A standby's backup restores like any other: it carries no signal file, and a restore
// writes only the one its mode asks for, also from an older backup that carried one.
TEST_F(BackupRunTest, BackupsCarryNoSignalFileAndRestoreWritesOnlyItsOwn)
{
	test::WriteFile(pgdata + "/recovery.signal", "");
	test::WriteFile(pgdata + "/base/5/standby.signal", "a relation-directory file of that name is data");
	ArchiveOwnWal(kFirstWal);
	auto run = CopiedRun(label);
	run->StopAndComplete();
	auto b = Repo()->ReadBackup(label);
	std::vector<std::string> paths;
	Repo()->ReadManifest(*b, nullptr, [&](const ManifestEntry &e) { paths.push_back(e.path); });
	for (const char *signal : {"standby.signal", "recovery.signal"})
		EXPECT_EQ(std::find(paths.begin(), paths.end(), signal), paths.end()) << signal << " was backed up";
	EXPECT_NE(std::find(paths.begin(), paths.end(), "base/5/standby.signal"), paths.end());

	// An older pgbk's backup of a standby, which stored standby.signal.
	std::string older = MakeBackupLabel(1790000200, BackupType::Full);
	{
		auto repo = Repo();
		BackupStartInfo info;
		info.label = older;
		info.cluster = kCluster;
		info.start_lsn = 0x3000028;
		info.timeline = 1;
		info.wal_start = kFirstWal;
		repo->WriteBackupStart(info);
		ManifestHeader h;
		h.label = older;
		h.timeline = 1;
		h.start_lsn = info.start_lsn;
		BackupSession session(*repo, h);
		BackupOptions copy;
		copy.pgdata = pgdata;
		BackupCallbacks cb;
		session.CopyDataDirectory(copy, cb);
		session.AddFile("standby.signal", "", CodecOptions{});
		session.AddFile("backup_label", "START WAL LOCATION: 0/3000028\n", CodecOptions{});
		BackupStopInfo stop;
		stop.stop_lsn = 0x3000100;
		stop.timeline = 1;
		stop.wal_stop = kFirstWal;
		session.Complete(stop);
	}
	for (const std::string &l : {label, older})
		for (bool standby : {false, true}) {
			RestoreOptions opts;
			opts.pgdata = dir / ("restored-" + l + (standby ? "-standby" : "-primary"));
			opts.label = l;
			opts.restore_command = "pgbk wal-fetch %f %p";
			opts.standby = standby;
			RestoreBackup(*Repo(), opts, nullptr);
			EXPECT_EQ(std::filesystem::exists(opts.pgdata + "/standby.signal"), standby) << opts.pgdata;
			EXPECT_EQ(std::filesystem::exists(opts.pgdata + "/recovery.signal"), !standby) << opts.pgdata;
		}
}

// pg_basebackup -X stream leaves a new standby's WAL without a status file: the
// repository holding the same bytes is proof enough, and different bytes never are.
TEST_F(BackupRunTest, WalTheRepositoryHoldsByteForByteCountsAsArchived)
{
	std::string ours = std::string(1000, 'w');
	test::WriteFile(dir / "seg", ours);
	Repo()->ArchiveWalFile(kFirstWal, dir / "seg", CodecOptions{});
	test::WriteFile(pgdata + "/pg_wal/" + kFirstWal, ours); // no status file at all
	auto run = CopiedRun(label, std::chrono::seconds(0));
	run->StopAndComplete();
	EXPECT_EQ(StatusOf(label), BackupStatus::Complete);

	// A segment still being received (or another server's) differs: not archived.
	std::string next = MakeBackupLabel(1790000300, BackupType::Full);
	test::WriteFile(pgdata + "/pg_wal/" + kFirstWal, ours.substr(0, 500) + std::string(500, '\0'));
	auto second = CopiedRun(next, std::chrono::seconds(0));
	EXPECT_THROW(second->StopAndComplete(), Error);
}

// A holder stalled past its lease finds its backup marked failed by another node (its
// data removed): it never writes the completion marker, and the other node's record
// stays as written.
TEST_F(BackupRunTest, ABackupAnotherNodeMarkedFailedIsNeverCompleted)
{
	ArchiveOwnWal(kFirstWal);
	auto run = CopiedRun(label);
	server.on_stop = [&] {
		auto repo = Repo();
		repo->MarkBackupFailed(label, "interrupted: its lease (held by node-a) expired", 1790000500);
		repo->RemoveBackupData(label);
	};
	try {
		run->StopAndComplete();
		FAIL() << "completed a backup another node marked failed";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Conflict);
		EXPECT_NE(std::string(e.what()).find("was marked failed while it was being taken"), std::string::npos)
			<< e.what();
	}
	run->Abandon("abandoned");
	auto b = Repo()->ReadBackup(label);
	EXPECT_EQ(b->status, BackupStatus::Failed);
	EXPECT_EQ(b->error, "interrupted: its lease (held by node-a) expired");
}

// The race the check cannot close (the marker written just after another node's failure
// record): every reader takes the failure record.
TEST(BackupRecords, AFailureRecordWinsOverACompletionMarker)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	repo.CheckOrInit(kCluster);
	BackupStartInfo info;
	info.label = MakeBackupLabel(1790000000, BackupType::Full);
	info.cluster = kCluster;
	info.wal_start = kFirstWal;
	repo.WriteBackupStart(info);
	repo.MarkBackupFailed(info.label, "interrupted: its lease expired", 1790000100);
	BackupStopInfo stop;
	stop.wal_stop = kFirstWal;
	repo.WriteBackupComplete(info.label, stop, ManifestTotals{}, ObjectSummary{});
	EXPECT_EQ(repo.ReadBackup(info.label)->status, BackupStatus::Failed);
	auto all = repo.ListBackups();
	ASSERT_EQ(all.size(), 1u);
	EXPECT_EQ(all[0].status, BackupStatus::Failed);
	EXPECT_THROW(SelectBackup(repo, ""), Error) << "nothing to restore";
}

// A holder that cannot renew its lease for four fifths of the term gives the backup up
// (by its own monotonic clock), and holds it again once a renewal succeeds.
TEST(BackupLease, LostWhenNotRenewedForMostOfItsTerm)
{
	auto store = std::make_shared<test::MemoryStore>();
	Repository repo(std::make_unique<test::MemoryStorage>(store));
	BackupStartInfo info;
	info.label = MakeBackupLabel(1790000000, BackupType::Full);
	info.wal_start = kFirstWal;
	repo.WriteBackupStart(info);
	BackupLease lease(repo, info.label, "node-a:/data", std::chrono::seconds(1), std::chrono::milliseconds(50));
	EXPECT_FALSE(lease.Lost());
	store->down = true;
	auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
	while (!lease.Lost() && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	EXPECT_TRUE(lease.Lost());
	EXPECT_GT(lease.FailedRenewals(), 0);
	store->down = false;
	while (lease.Lost() && std::chrono::steady_clock::now() < deadline)
		std::this_thread::sleep_for(std::chrono::milliseconds(20));
	EXPECT_FALSE(lease.Lost());
}

// Backups are ordered by where they start in WAL, not by the taking nodes' clocks: an
// incremental from a node whose clock is an hour slow still sorts after its prior, and
// is what the next incremental builds on.
TEST(BackupRecords, OrderedByPositionNotByTheTakersClocks)
{
	TempDir dir;
	Repository repo(OpenLocalStorage(dir / "repo"));
	repo.CheckOrInit(kCluster);
	auto take = [&](const std::string &label, const std::string &type, const std::string &prior, int64_t clock,
					Lsn start) {
		BackupStartInfo info;
		info.label = label;
		info.type = type;
		info.prior = prior;
		info.cluster = kCluster;
		info.pg_version_num = 150000;
		info.started_at = clock;
		info.start_lsn = start;
		info.timeline = 1;
		info.wal_start = WalSegmentName(SegmentOfLsn(1, start, kSeg), kSeg);
		repo.WriteBackupStart(info);
		BackupStopInfo stop;
		stop.stop_lsn = start + 0x100;
		stop.timeline = 1;
		stop.wal_stop = info.wal_start;
		stop.finished_at = clock + 10;
		repo.WriteBackupComplete(label, stop, ManifestTotals{}, ObjectSummary{});
	};
	take("20261207-100000F", "full", "", 1790003600, 0x3000028);
	// Taken later, on a node whose clock is an hour behind.
	take("20261207-090500I", "incr", "20261207-100000F", 1790000300, 0x5000028);
	auto all = repo.ListBackups();
	ASSERT_EQ(all.size(), 2u);
	EXPECT_EQ(all[0].label, "20261207-100000F");
	EXPECT_EQ(all[1].label, "20261207-090500I");
	TimelineLineage lineage;
	lineage.timeline = 1;
	PriorChoice prior = ChoosePrior(all, BackupType::Incr, lineage, 150000);
	EXPECT_EQ(prior.label, "20261207-090500I") << "the newest in WAL, whatever its clock said";
}
