// Differential and incremental backups in the core: page deltas on synthetic relation
// files (new file, new page, LSN 0, LSN before and after the prior's start), unchanged
// files kept by reference, a chain of incrementals, and restore of every backup in it.
#include "pgbk/backup.hpp"
#include "pgbk/page.hpp"
#include "pgbk/restore.hpp"
#include "pgbk/retention.hpp"
#include "pgbk/verify.hpp"

#include "test_util.hpp"

#include <cstring>
#include <filesystem>
#include <gtest/gtest.h>
#include <map>

using namespace pgbk;
using pgbk::test::TempDir;

namespace {

// An 8 KiB page with this LSN and a valid checksum (block number within segment 0).
std::string
Page(uint64_t lsn, uint32_t blkno, char fill)
{
	std::string p(kBlockSize, fill);
	auto *b = reinterpret_cast<uint8_t *>(p.data());
	uint32_t hi = static_cast<uint32_t>(lsn >> 32), lo = static_cast<uint32_t>(lsn);
	std::memcpy(b, &hi, 4);
	std::memcpy(b + 4, &lo, 4);
	b[8] = b[9] = 0;
	uint16_t lower = 24, upper = 8000;
	std::memcpy(b + 12, &lower, 2);
	std::memcpy(b + 14, &upper, 2);
	uint16_t sum = PageChecksum(b, blkno);
	std::memcpy(b + 8, &sum, 2);
	return p;
}

std::map<std::string, std::string>
Snapshot(const std::string &dir)
{
	std::map<std::string, std::string> out;
	for (auto &e : std::filesystem::recursive_directory_iterator(dir))
		if (e.is_regular_file())
			out[std::filesystem::relative(e.path(), dir).string()] = test::ReadFile(e.path().string());
	return out;
}

class DeltaTest : public ::testing::Test {
protected:
	void
	SetUp() override
	{
		test::WriteFile(pg_ + "/PG_VERSION", "15\n");
		test::WriteFile(pg_ + "/global/pg_control", std::string(8192, 'c'));
		test::WriteFile(pg_ + "/pg_xact/0000", std::string(8192, 'x'));
		std::string rel;
		for (uint32_t b = 0; b < 4; b++)
			rel += Page(0x100, b, static_cast<char>('a' + b));
		test::WriteFile(pg_ + "/base/5/16384", rel);
		std::string big;
		for (uint32_t b = 0; b < 300; b++) // more than one 1 MiB part
			big += Page(0x200, b, static_cast<char>(b));
		test::WriteFile(pg_ + "/base/5/16385", big);
		test::WriteFile(pg_ + "/base/5/16384_fsm", std::string(8192, 'f'));
		test::WriteFile(pg_ + "/base/5/99999", Page(0x100, 0, 'z'));
		repo_ = std::make_unique<Repository>(OpenLocalStorage(dir_ / "repo"));
	}

	// A backup of pg_ at start LSN `lsn`; returns its label.
	std::string
	Backup(const std::string &label, const std::string &type, const std::string &prior, Lsn lsn, int64_t at)
	{
		BackupStartInfo start;
		start.label = label;
		start.type = type;
		start.prior = prior;
		start.started_at = at;
		start.start_lsn = lsn;
		start.timeline = 1;
		start.wal_start = WalSegmentName(WalSegment{1, lsn / (16 << 20)}, 16 << 20);
		start.host = node_;
		start.pgdata = node_.empty() ? "" : "/data";
		start.pg_version_num = pg_version_num_;
		repo_->WriteBackupStart(start);
		ManifestHeader h;
		h.label = label;
		h.type = type;
		h.start_lsn = lsn;
		h.part_size = 1 << 20;
		h.data_checksums = true;
		h.taken_on = node_.empty() ? "" : node_ + ":/data";
		if (!prior.empty()) {
			h.prior = prior;
			h.prior_start_lsn = repo_->ReadBackup(prior)->start_lsn;
			h.page_delta = true;
		}
		h.pg_version_num = pg_version_num_;
		BackupSession s(*repo_, h);
		BackupOptions o;
		o.pgdata = pg_;
		o.verify_checksums = true;
		o.tablespace_version_dir = tablespace_version_dir_;
		s.CopyDataDirectory(o, {});
		test::WriteFile(dir_ / start.wal_start, "wal");
		try {
			repo_->ArchiveWalFile(start.wal_start, dir_ / start.wal_start, CodecOptions{});
		} catch (const Error &) {
		}
		BackupStopInfo stop;
		stop.stop_lsn = lsn + 0x100;
		stop.timeline = 1;
		stop.finished_at = at + 1;
		s.WaitForWal(1, lsn, stop.stop_lsn, 16 << 20, std::chrono::seconds(1), {}, &stop.wal_stop);
		s.Complete(stop);
		states_[label] = Snapshot(pg_);
		return label;
	}

	std::map<std::string, ManifestEntry>
	Entries(const std::string &label)
	{
		std::map<std::string, ManifestEntry> out;
		repo_->ReadManifest(*repo_->ReadBackup(label), {}, [&](const ManifestEntry &e) {
			if (e.type == ManifestEntry::Type::File)
				out[e.path] = e;
		});
		return out;
	}

	void
	ExpectRestoresItsState(const std::string &label)
	{
		RestoreOptions ro;
		ro.pgdata = dir_ / ("restored-" + label);
		ro.label = label;
		RestoreBackup(*repo_, ro, {});
		EXPECT_EQ(Snapshot(ro.pgdata), states_[label]) << "restore of " << label;
	}

	void
	SetPage(const std::string &rel, uint32_t blk, const std::string &page)
	{
		std::string data = test::ReadFile(pg_ + "/" + rel);
		if (data.size() < (blk + 1) * kBlockSize)
			data.resize((blk + 1) * kBlockSize);
		data.replace(blk * kBlockSize, kBlockSize, page);
		test::WriteFile(pg_ + "/" + rel, data);
	}

	TempDir dir_;
	std::string pg_ = dir_ / "pgdata";
	int pg_version_num_ = 0;
	std::string tablespace_version_dir_;
	std::string node_; // the host backups are taken on ("" = not recorded)
	std::unique_ptr<Repository> repo_;
	std::map<std::string, std::map<std::string, std::string>> states_;
};

} // namespace

TEST_F(DeltaTest, PageDeltasAndReferencesAcrossAChain)
{
	std::string full = Backup("20260101-000000F", "full", "", 0x1000000, 1767225600);

	// Page 1: LSN before the full's start but content changed (must not happen with
	// checksums: it keeps the old page). Page 2: LSN after the start. Page 4: new.
	// Page 5: all zero (LSN 0). pg_xact changed, 99999 dropped, 16386 new.
	SetPage("base/5/16384", 2, Page(0x1000100, 2, 'N'));
	SetPage("base/5/16384", 4, Page(0x100, 4, 'n'));
	SetPage("base/5/16384", 5, std::string(kBlockSize, '\0'));
	test::WriteFile(pg_ + "/pg_xact/0000", std::string(8192, 'y'));
	std::filesystem::remove(pg_ + "/base/5/99999");
	test::WriteFile(pg_ + "/base/5/16386", Page(0x100, 0, 'q'));
	std::string incr = Backup("20260102-000000I", "incr", full, 0x3000000, 1767312000);

	auto e = Entries(incr);
	ASSERT_EQ(e["base/5/16384"].deltas.size(), 1u);
	EXPECT_EQ(e["base/5/16384"].deltas[0].blocks, 3u) << "pages 2 (LSN after), 4 (new), 5 (LSN 0)";
	EXPECT_EQ(e["base/5/16384"].BaseLabel(incr), full);
	EXPECT_TRUE(e["base/5/16385"].deltas.empty()) << "unchanged relation file";
	EXPECT_EQ(e["base/5/16385"].BaseLabel(incr), full);
	EXPECT_EQ(e["base/5/16385"].stored_size, 0u);
	EXPECT_EQ(e["base/5/16384_fsm"].BaseLabel(incr), full) << "unchanged FSM, compared whole";
	EXPECT_EQ(e["pg_xact/0000"].BaseLabel(incr), incr) << "changed file stored whole";
	EXPECT_EQ(e["base/5/16386"].BaseLabel(incr), incr) << "new file stored whole";
	EXPECT_FALSE(e.count("base/5/99999")) << "dropped file gone";
	auto b = repo_->ReadBackup(incr);
	EXPECT_EQ(b->prior, full);

	// A second incremental on the first: the recipe grows by one delta.
	SetPage("base/5/16384", 0, Page(0x3000100, 0, 'M'));
	SetPage("base/5/16385", 299, Page(0x3000200, 299, 'L'));
	std::string incr2 = Backup("20260103-000000I", "incr", incr, 0x5000000, 1767398400);
	e = Entries(incr2);
	ASSERT_EQ(e["base/5/16384"].deltas.size(), 2u);
	EXPECT_EQ(e["base/5/16384"].deltas[0].label, incr);
	EXPECT_EQ(e["base/5/16384"].deltas[1].label, incr2);
	EXPECT_EQ(e["base/5/16384"].deltas[1].blocks, 2u) << "page 0 (LSN after) and the all-zero page 5 (LSN 0)";
	ASSERT_EQ(e["base/5/16385"].deltas.size(), 1u) << "a delta over a base stored in parts";
	EXPECT_EQ(e["base/5/16385"].parts.size(), 3u);
	EXPECT_EQ(e["pg_xact/0000"].BaseLabel(incr2), incr) << "unchanged since the first incremental";

	// A differential is relative to the full: pages changed since the full, in one delta.
	std::string diff = Backup("20260104-000000D", "diff", full, 0x7000000, 1767484800);
	e = Entries(diff);
	ASSERT_EQ(e["base/5/16384"].deltas.size(), 1u);
	EXPECT_EQ(e["base/5/16384"].deltas[0].blocks, 4u) << "pages 0, 2, 4 and 5 changed since the full";

	// Truncation: the file shrinks to two pages.
	std::string data = test::ReadFile(pg_ + "/base/5/16384");
	test::WriteFile(pg_ + "/base/5/16384", data.substr(0, 2 * kBlockSize));
	std::string incr3 = Backup("20260105-000000I", "incr", diff, 0x9000000, 1767571200);
	EXPECT_EQ(Entries(incr3)["base/5/16384"].size, 2 * kBlockSize);

	for (const auto &label : {full, incr, incr2, diff, incr3})
		ExpectRestoresItsState(label);
}

TEST_F(DeltaTest, ARebuiltFileThatDoesNotMatchIsRefused)
{
	std::string full = Backup("20260101-000000F", "full", "", 0x1000000, 1767225600);
	SetPage("base/5/16384", 2, Page(0x1000100, 2, 'N'));
	std::string incr = Backup("20260102-000000I", "incr", full, 0x3000000, 1767312000);
	// Replace the full's copy of the file with different content of the same shape: its
	// object is intact, so only the check of the rebuilt file can notice.
	std::string key = Repository::BackupDataKey(full, "base/5/16384");
	std::filesystem::remove(dir_ / ("repo/" + key));
	std::string other;
	for (uint32_t b = 0; b < 4; b++)
		other += Page(0x100, b, 'w');
	PutObject(repo_->storage(), key, other, CodecOptions{}, WriteMode::CreateOnly);
	RestoreOptions ro;
	ro.pgdata = dir_ / "restored";
	ro.label = incr;
	try {
		RestoreBackup(*repo_, ro, {});
		FAIL() << "a wrong base was accepted";
	} catch (const Error &err) {
		EXPECT_EQ(err.kind(), ErrorKind::Corrupt);
		EXPECT_NE(std::string(err.what()).find(key), std::string::npos) << err.what();
	}
}

// A chain across nodes (a primary's full, a standby's or a new primary's incremental):
// the nodes' copies of a page unchanged since the prior are the same rows but may differ
// in bytes WAL never carries (a hint bit set on one node only), under the same LSN. The
// rebuilt file holds the prior's page; it is checked page by page, not against the
// whole-file checksum of the other node's copy.
TEST_F(DeltaTest, AChainAcrossNodesIsCheckedPageByPage)
{
	node_ = "node-a";
	std::string full = Backup("20260101-000000F", "full", "", 0x1000000, 1767225600);
	node_ = "node-b";
	SetPage("base/5/16384", 1, Page(0x100, 1, 'B')); // same LSN, other bytes
	SetPage("base/5/16384", 2, Page(0x1000100, 2, 'N')); // changed since the full
	std::string incr = Backup("20260102-000000I", "incr", full, 0x3000000, 1767312000);
	EXPECT_TRUE(repo_->ReadManifestHeader(*repo_->ReadBackup(incr)).mixed_nodes);
	EXPECT_FALSE(repo_->ReadManifestHeader(*repo_->ReadBackup(full)).mixed_nodes);
	RestoreOptions ro;
	ro.pgdata = dir_ / "restored";
	ro.label = incr;
	ASSERT_NO_THROW(RestoreBackup(*repo_, ro, {}));
	std::string rebuilt = test::ReadFile(ro.pgdata + "/base/5/16384");
	EXPECT_EQ(rebuilt.substr(1 * kBlockSize, kBlockSize), Page(0x100, 1, 'b')) << "the prior's copy of the page";
	EXPECT_EQ(rebuilt.substr(2 * kBlockSize, kBlockSize), Page(0x1000100, 2, 'N'));
	// A later incremental on node B inherits the mark: its chain still starts on node A.
	std::string next = Backup("20260103-000000I", "incr", incr, 0x5000000, 1767398400);
	EXPECT_TRUE(repo_->ReadManifestHeader(*repo_->ReadBackup(next)).mixed_nodes);

	// A base whose page fails its data checksum is refused all the same.
	std::string key = Repository::BackupDataKey(full, "base/5/16384");
	std::filesystem::remove(dir_ / ("repo/" + key));
	std::string damaged;
	for (uint32_t b = 0; b < 4; b++)
		damaged += Page(0x100, b, 'w');
	damaged[3 * kBlockSize + 100] ^= 1;
	PutObject(repo_->storage(), key, damaged, CodecOptions{}, WriteMode::CreateOnly);
	ro.pgdata = dir_ / "restored-damaged";
	try {
		RestoreBackup(*repo_, ro, {});
		FAIL() << "a damaged page was accepted";
	} catch (const Error &err) {
		EXPECT_EQ(err.kind(), ErrorKind::Corrupt);
		EXPECT_NE(std::string(err.what()).find("block 3 fails its data checksum"), std::string::npos) << err.what();
	}
}

TEST_F(DeltaTest, VerifyChecksEveryObjectAnIncrementalNeeds)
{
	std::string full = Backup("20260101-000000F", "full", "", 0x1000000, 1767225600);
	SetPage("base/5/16384", 2, Page(0x1000100, 2, 'N'));
	std::string incr = Backup("20260102-000000I", "incr", full, 0x3000000, 1767312000);
	auto problems = [&]() {
		std::map<std::string, std::string> out;
		VerifyBackup(*repo_, *repo_->ReadBackup(incr), VerifyOptions{},
					 [&](const VerifyProblem &p) { out[p.object] = p.problem; });
		return out;
	};
	EXPECT_TRUE(problems().empty());
	// An object of the full that the incremental refers to, and the incremental's delta.
	std::filesystem::remove(dir_ / ("repo/" + Repository::BackupDataKey(full, "base/5/16385#1")));
	std::string delta = Repository::BackupDeltaKey(incr, "base/5/16384");
	std::string d = test::ReadFile(dir_ / ("repo/" + delta));
	d[d.size() / 2] ^= 1;
	test::WriteFile(dir_ / ("repo/" + delta), d);
	auto p = problems();
	EXPECT_EQ(p[Repository::BackupDataKey(full, "base/5/16385#1")], "missing");
	EXPECT_TRUE(p.count(delta));
}

namespace {

std::vector<std::string>
KeysUnder(Storage &s, const std::string &prefix)
{
	std::vector<std::string> keys;
	s.List(prefix, true, [&](const ListEntry &e) { keys.push_back(e.key); });
	return keys;
}

} // namespace

TEST_F(DeltaTest, ExpiryRemovesWholeChainsAndOlderWalAndKeepsTheRestRestorable)
{
	const uint64_t seg = 16 << 20;
	std::string f1 = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	SetPage("base/5/16384", 1, Page(3 * seg, 1, 'q'));
	std::string i1 = Backup("20260101-000100I", "incr", f1, 3 * seg + 0x28, 1100);
	std::string d1 = Backup("20260101-000200D", "diff", f1, 5 * seg + 0x28, 1200);
	SetPage("base/5/16384", 2, Page(7 * seg, 2, 'r'));
	std::string f2 = Backup("20260101-000300F", "full", "", 7 * seg + 0x28, 1300);
	SetPage("base/5/16385", 9, Page(9 * seg, 9, 's'));
	std::string i2 = Backup("20260101-000400I", "incr", f2, 9 * seg + 0x28, 1400);
	// A history file (a promotion after these backups) is never expired; an extra segment
	// of the same log lies in between.
	test::WriteFile(dir_ / "00000002.history", "1\t0/20000000\tno reason\n");
	repo_->ArchiveWalFile("00000002.history", dir_ / "00000002.history", CodecOptions{});
	test::WriteFile(dir_ / "seg", "wal");
	repo_->ArchiveWalFile("000000010000000000000006", dir_ / "seg", CodecOptions{});

	RetentionPolicy policy;
	policy.full = 1;
	std::vector<std::string> told;
	ExpiryReport r = Expire(*repo_, policy, 2000, seg, [&](const ExpiryItem &e) { told.push_back(e.label); });
	// Dependents before what they depend on.
	ASSERT_EQ(told, (std::vector<std::string>{d1, i1, f1}));
	ASSERT_EQ(r.backups.size(), 3u);
	for (const auto &label : told)
		EXPECT_TRUE(KeysUnder(repo_->storage(), "backup/" + label + "/").empty()) << label;
	EXPECT_EQ(r.wal_removed, 4u); // segments 1, 3, 5, 6
	EXPECT_EQ(r.wal_first, "000000010000000000000001");
	EXPECT_EQ(r.wal_last, "000000010000000000000006");
	EXPECT_FALSE(repo_->HasWalFile("000000010000000000000006"));
	EXPECT_TRUE(repo_->HasWalFile("000000010000000000000007"));
	EXPECT_TRUE(repo_->HasWalFile("00000002.history"));

	auto left = repo_->ListBackups();
	ASSERT_EQ(left.size(), 2u);
	EXPECT_EQ(left[0].label, f2);
	EXPECT_EQ(left[1].label, i2);
	for (const auto &b : left)
		EXPECT_EQ(VerifyBackup(*repo_, b, VerifyOptions{}, [](const VerifyProblem &p) { ADD_FAILURE() << p.problem; })
					  .problems,
				  0u)
			<< b.label;
	ExpectRestoresItsState(f2);
	ExpectRestoresItsState(i2);

	// Nothing more to do: a second expiry removes nothing.
	ExpiryReport again = Expire(*repo_, policy, 2000, seg);
	EXPECT_TRUE(again.backups.empty());
	EXPECT_EQ(again.wal_removed, 0u);
}

TEST_F(DeltaTest, AnInterruptedExpiryIsNeverCompleteAndIsFinishedNextTime)
{
	const uint64_t seg = 16 << 20;
	std::string f1 = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	std::string f2 = Backup("20260101-000100F", "full", "", 3 * seg + 0x28, 1100);
	// An expiry of f1 stopped right after its first steps (failure record, marker gone).
	repo_->MarkBackupFailed(f1, std::string(kExpiredPrefix) + "beyond pgbk.retention_full = 1", 1200);
	repo_->storage().Remove(Repository::BackupKey(f1, "complete"));
	auto b = repo_->ReadBackup(f1);
	ASSERT_TRUE(b);
	EXPECT_EQ(b->status, BackupStatus::Failed);
	// An expiry stopped after backup.info went leaves an invisible prefix, still holding
	// its failure record.
	std::string f0 = Backup("20251231-000000F", "full", "", 1 * seg + 0x28, 900);
	repo_->MarkBackupFailed(f0, std::string(kExpiredPrefix) + "beyond pgbk.retention_full = 1", 1200);
	repo_->storage().Remove(Repository::BackupKey(f0, "complete"));
	repo_->RemoveBackupData(f0);
	repo_->storage().Remove(Repository::BackupKey(f0, "backup.info"));
	// What pgbk did not write is never removed: a prefix without a pgbk failure record,
	// or not named like a backup.
	PutBytes(repo_->storage(), "backup/20250101-000000F/failed", "x", WriteMode::Replace);
	PutBytes(repo_->storage(), "backup/notes/readme.txt", "someone's notes", WriteMode::Replace);

	RetentionPolicy keep_all; // no policy: only the unfinished removals are finished
	ExpiryReport r = Expire(*repo_, keep_all, 2000, seg);
	ASSERT_EQ(r.backups.size(), 2u) << "every removal is reported";
	EXPECT_EQ(r.backups[0].label, f0);
	EXPECT_EQ(r.backups[1].label, f1);
	EXPECT_TRUE(KeysUnder(repo_->storage(), "backup/" + f1 + "/").empty());
	EXPECT_TRUE(KeysUnder(repo_->storage(), "backup/" + f0 + "/").empty());
	EXPECT_FALSE(KeysUnder(repo_->storage(), "backup/20250101-000000F/").empty()) << "not pgbk's: left alone";
	EXPECT_FALSE(KeysUnder(repo_->storage(), "backup/notes/").empty()) << "not pgbk's: left alone";
	EXPECT_EQ(r.left_alone, (std::vector<std::string>{"backup/20250101-000000F/", "backup/notes/"}));
	ASSERT_EQ(repo_->ListBackups().size(), 1u);
	ExpectRestoresItsState(f2);
}

TEST_F(DeltaTest, ExpiryKeepsTheChainOfABackupBeingTaken)
{
	const uint64_t seg = 16 << 20;
	std::string f1 = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	std::string i1 = Backup("20260101-000100I", "incr", f1, 3 * seg + 0x28, 1100);
	std::string f2 = Backup("20260101-000200F", "full", "", 5 * seg + 0x28, 1200);
	// An incremental against i1 has started (a backup.info and no marker).
	BackupStartInfo start;
	start.label = "20260101-000300I";
	start.type = "incr";
	start.prior = i1;
	start.started_at = 1300;
	start.start_lsn = 7 * seg;
	start.timeline = 1;
	start.wal_start = WalSegmentName(WalSegment{1, 7}, seg);
	repo_->WriteBackupStart(start);

	RetentionPolicy policy;
	policy.full = 1;
	ExpiryReport r = Expire(*repo_, policy, 2000, seg);
	EXPECT_TRUE(r.backups.empty());
	EXPECT_EQ(r.wal_removed, 0u);
	EXPECT_TRUE(repo_->ReadBackup(f1));
	EXPECT_TRUE(repo_->ReadBackup(i1));
	(void)f2;
}

TEST_F(DeltaTest, DeltaRestoreUpdatesAStaleCopyInPlace)
{
	const uint64_t seg = 16 << 20;
	std::string full = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	SetPage("base/5/16385", 7, Page(3 * seg, 7, 'n'));
	std::string incr = Backup("20260101-000100I", "incr", full, 3 * seg + 0x28, 1100);

	// A stale copy: the full backup restored, then changed the ways a cluster drifts.
	RestoreOptions ro;
	ro.pgdata = dir_ / "stale";
	ro.label = full;
	RestoreBackup(*repo_, ro, {});
	std::string stale = ro.pgdata;
	test::WriteFile(stale + "/base/5/16384", "overwritten and shorter");
	test::WriteFile(stale + "/base/5/77777", "a relation the backup does not have");
	test::WriteFile(stale + "/base/9/1", "a whole database the backup does not have");
	test::WriteFile(stale + "/pg_wal/000000010000000000000009", "stale WAL");
	std::filesystem::remove(stale + "/pg_xact/0000");
	std::string big = test::ReadFile(stale + "/base/5/16385");
	test::WriteFile(stale + "/base/5/16385", big + std::string(3 * kBlockSize, 'g')); // grew

	ro.delta = true;
	ro.label = incr;
	RestoreResult r = RestoreBackup(*repo_, ro, {});
	EXPECT_EQ(Snapshot(stale), states_[incr]) << "the same files and content as the backup";
	EXPECT_FALSE(std::filesystem::exists(stale + "/base/9")) << "a directory the backup does not have is removed";
	EXPECT_FALSE(std::filesystem::exists(stale + "/pg_wal")) << "stale WAL goes (this backup has no pg_wal)";
	EXPECT_GT(r.kept_files, 0u) << "unchanged files are kept";
	EXPECT_GE(r.removed, 3u);
	EXPECT_GT(r.kept_bytes, 0u);
	EXPECT_GT(r.bytes, 0u) << "changed files are rewritten";

	// A delta restore that fails half-way leaves no pg_control behind.
	test::WriteFile(stale + "/base/5/16384", "changed again");
	std::filesystem::remove(dir_ / ("repo/" + Repository::BackupDataKey(full, "base/5/16384")));
	EXPECT_THROW(RestoreBackup(*repo_, ro, {}), Error);
	EXPECT_FALSE(std::filesystem::exists(stale + "/global/pg_control"));

	// Refused on a running server's directory and on a missing one.
	test::WriteFile(stale + "/postmaster.pid", "4242\n");
	try {
		RestoreBackup(*repo_, ro, {});
		ADD_FAILURE() << "delta restore over a running server";
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("stop the server first"), std::string::npos) << e.what();
	}
	ro.pgdata = dir_ / "missing";
	EXPECT_THROW(RestoreBackup(*repo_, ro, {}), Error);
}

TEST_F(DeltaTest, ABackupIsRestoredOnlyForItsOwnMajorVersion)
{
	pg_version_num_ = 150010;
	std::string full = Backup("20260101-000000F", "full", "", 1 * (16 << 20) + 0x28, 1000);
	auto refusal = [&](const RestoreOptions &ro) {
		try {
			RestoreBackup(*repo_, ro, {});
		} catch (const Error &e) {
			EXPECT_EQ(e.kind(), ErrorKind::Config) << e.what();
			return std::string(e.what()) + " / " + e.hint();
		}
		return std::string();
	};

	RestoreOptions ro;
	ro.pgdata = dir_ / "for18";
	ro.pg_major = 18;
	std::string why = refusal(ro);
	EXPECT_NE(why.find("taken by PostgreSQL 15, and PostgreSQL 18 (--pg-version) cannot start it"), std::string::npos)
		<< why;
	EXPECT_NE(why.find("--pg-version 15"), std::string::npos) << why;
	EXPECT_FALSE(std::filesystem::exists(ro.pgdata)) << "refused before anything is written";

	ro.pg_major = 15;
	RestoreBackup(*repo_, ro, {});
	EXPECT_EQ(Snapshot(ro.pgdata), states_[full]);

	// --delta onto another version's data directory, with or without --pg-version.
	ro.pg_major = 0;
	ro.delta = true;
	test::WriteFile(ro.pgdata + "/PG_VERSION", "18\n");
	why = refusal(ro);
	EXPECT_NE(why.find("is a PostgreSQL 18 data directory"), std::string::npos) << why;
	EXPECT_TRUE(std::filesystem::exists(ro.pgdata + "/global/pg_control")) << "the copy is left as it was";
	test::WriteFile(ro.pgdata + "/PG_VERSION", "15\n");
	RestoreBackup(*repo_, ro, {});
	EXPECT_EQ(Snapshot(ro.pgdata), states_[full]);
}

TEST_F(DeltaTest, RestoreReplacesRecoverySettingsAnEarlierRestoreLeft)
{
	// A cluster restored, promoted and backed up carries its old recovery settings.
	test::WriteFile(pg_ + "/postgresql.auto.conf",
					"work_mem = '8MB'\n# Added by pgbk restore of backup 20250101-000000F\n"
					"pgbk.repository = '/old'\nrecovery_target_name = 'before_b'\nRestore_Command = 'old %f %p'\n"
					"recovery_target_action = 'pause'\n");
	std::string full = Backup("20260101-000000F", "full", "", 1 * (16 << 20) + 0x28, 1000);
	RestoreOptions ro;
	ro.pgdata = dir_ / "restored";
	ro.label = full;
	ro.restore_command = std::string("pgbk wal-fetch --segment-size ") + kSegmentSizeToken + " %f %p";
	ro.settings = {{"pgbk.repository", "/new"}, {"recovery_target_lsn", "0/3000000"}};
	RestoreBackup(*repo_, ro, {});
	std::string conf = test::ReadFile(ro.pgdata + "/postgresql.auto.conf");
	EXPECT_EQ(conf, "work_mem = '8MB'\n# Added by pgbk restore of backup " + full +
						"\npgbk.repository = '/new'\nrecovery_target_lsn = '0/3000000'\n"
						"restore_command = 'pgbk wal-fetch --segment-size 16777216 %f %p'\n");
}

TEST_F(DeltaTest, DeltaRestoreKeepsPgWalOnItsOtherDiskAndCleansIt)
{
	std::filesystem::create_directories(pg_ + "/pg_wal/archive_status");
	std::string full = Backup("20260101-000000F", "full", "", 1 * (16 << 20) + 0x28, 1000);
	RestoreOptions ro;
	ro.pgdata = dir_ / "stale";
	ro.label = full;
	RestoreBackup(*repo_, ro, {});
	// The copy keeps its WAL on another disk, where stale segments lie.
	std::string other = dir_ / "waldisk";
	std::filesystem::create_directories(other + "/archive_status");
	test::WriteFile(other + "/000000010000000000000007", "stale WAL");
	std::filesystem::remove_all(ro.pgdata + "/pg_wal");
	std::filesystem::create_directory_symlink(other, ro.pgdata + "/pg_wal");

	ro.delta = true;
	RestoreBackup(*repo_, ro, {});
	EXPECT_TRUE(std::filesystem::is_symlink(ro.pgdata + "/pg_wal")) << "the link to the WAL disk is kept";
	EXPECT_FALSE(std::filesystem::exists(other + "/000000010000000000000007")) << "its stale WAL is removed";
	EXPECT_TRUE(std::filesystem::is_directory(other + "/archive_status"));
	EXPECT_EQ(Snapshot(ro.pgdata), states_[full]);
}

// Links in the data directory other than tablespaces (a log directory, a certificate
// kept elsewhere) are restored as the links they were, as pg_basebackup does, with
// nothing made or written at their targets; the backup verifies and restores.
TEST_F(DeltaTest, OtherLinksAreRestoredAsLinks)
{
	std::string logs = dir_ / "var-log", cert = dir_ / "db.pem";
	std::filesystem::create_directories(logs);
	test::WriteFile(logs + "/postgresql.log", "log lines");
	test::WriteFile(cert, "certificate");
	std::filesystem::create_directory_symlink(logs, pg_ + "/log");
	std::filesystem::create_symlink(cert, pg_ + "/server.crt");
	std::string full = Backup("20260101-000000F", "full", "", 1 * (16 << 20) + 0x28, 1000);
	EXPECT_EQ(VerifyBackup(*repo_, *repo_->ReadBackup(full), {}, {}).problems, 0u);

	std::filesystem::remove_all(logs);
	RestoreOptions ro;
	ro.pgdata = dir_ / "restored";
	ro.label = full;
	RestoreBackup(*repo_, ro, {});
	EXPECT_EQ(std::filesystem::read_symlink(ro.pgdata + "/log"), logs);
	EXPECT_EQ(std::filesystem::read_symlink(ro.pgdata + "/server.crt"), cert);
	EXPECT_FALSE(std::filesystem::exists(logs)) << "a plain link's target is never made";
}

// A tablespace location shared with another major version: only this version's
// directory is backed up, and a delta restore leaves the other version's alone.
TEST_F(DeltaTest, ATablespaceSharedWithAnotherVersionIsLimitedToOurs)
{
	std::string ts = dir_ / "ts";
	std::filesystem::create_directories(ts + "/PG_15_202209061/5");
	std::filesystem::create_directories(ts + "/PG_18_202506291/5");
	test::WriteFile(ts + "/PG_15_202209061/5/16500", Page(0x100, 0, 't'));
	test::WriteFile(ts + "/PG_18_202506291/5/16600", "the other server's");
	std::filesystem::create_directories(pg_ + "/pg_tblspc");
	std::filesystem::create_directory_symlink(ts, pg_ + "/pg_tblspc/16400");
	pg_version_num_ = 150008;
	tablespace_version_dir_ = "PG_15_202209061";
	std::string full = Backup("20260101-000000F", "full", "", 1 * (16 << 20) + 0x28, 1000);
	auto entries = Entries(full);
	EXPECT_TRUE(entries.count("pg_tblspc/16400/PG_15_202209061/5/16500"));
	for (const auto &[path, e] : entries)
		EXPECT_EQ(path.find("PG_18"), std::string::npos) << path << ": another version's file was backed up";

	// --delta in place: ours is restored, the other version's untouched.
	test::WriteFile(ts + "/PG_15_202209061/5/16500", "drifted");
	RestoreOptions ro;
	ro.pgdata = pg_;
	ro.label = full;
	ro.delta = true;
	RestoreBackup(*repo_, ro, {});
	EXPECT_EQ(test::ReadFile(ts + "/PG_15_202209061/5/16500"), Page(0x100, 0, 't'));
	EXPECT_EQ(test::ReadFile(ts + "/PG_18_202506291/5/16600"), "the other server's");
}

namespace {

// A repository on a full disk: nothing can be written until something is removed.
class FullDisk final : public Storage {
public:
	explicit FullDisk(std::unique_ptr<Storage> inner) : inner_(std::move(inner)) {}
	std::unique_ptr<StorageWriter>
	OpenWrite(const std::string &key, WriteMode mode, Durability durability) override
	{
		if (full_)
			throw Error(ErrorKind::Io, "could not create \"" + key + "\": No space left on device");
		return inner_->OpenWrite(key, mode, durability);
	}
	void
	Sync() override
	{
		inner_->Sync();
	}
	std::unique_ptr<StorageReader>
	OpenRead(const std::string &key, uint64_t offset) override
	{
		return inner_->OpenRead(key, offset);
	}
	std::optional<uint64_t>
	Size(const std::string &key) override
	{
		return inner_->Size(key);
	}
	void
	List(const std::string &prefix, bool recursive, const std::function<void(const ListEntry &)> &fn) override
	{
		inner_->List(prefix, recursive, fn);
	}
	void
	Remove(const std::string &key) override
	{
		inner_->Remove(key);
	}
	void
	RemovePrefix(const std::string &prefix) override
	{
		inner_->RemovePrefix(prefix);
		full_ = false; // data removed: space again
	}
	std::string
	Describe() const override
	{
		return inner_->Describe();
	}

private:
	std::unique_ptr<Storage> inner_;
	bool full_ = true;
};

} // namespace

// Deletion must work on a full disk: expiry's first step used to be writing a marker.
TEST_F(DeltaTest, ExpiryFreesAFullRepository)
{
	const uint64_t seg = 16 << 20;
	std::string f1 = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	std::string f2 = Backup("20260101-000100F", "full", "", 3 * seg + 0x28, 1100);
	Repository full(std::make_unique<FullDisk>(OpenLocalStorage(dir_ / "repo")));
	RetentionPolicy policy;
	policy.full = 1;
	ExpiryReport r = Expire(full, policy, 2000, seg);
	ASSERT_EQ(r.backups.size(), 1u);
	EXPECT_EQ(r.backups[0].label, f1);
	EXPECT_TRUE(KeysUnder(repo_->storage(), "backup/" + f1 + "/").empty());
	ASSERT_EQ(repo_->ListBackups().size(), 1u);
	ExpectRestoresItsState(f2);
}

// Two-phase expiry: retention marks, and a later run removes once the mark is older than
// pgbk.expire_delay; a backup kept with pgbk_keep is never selected; the WAL a marked
// backup needs stays while it waits.
TEST_F(DeltaTest, ExpiryMarksFirstAndRemovesOnlyAfterTheDelay)
{
	const uint64_t seg = 16 << 20;
	std::string f1 = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	std::string f2 = Backup("20260101-000300F", "full", "", 7 * seg + 0x28, 1300);
	RetentionPolicy policy;
	policy.full = 1;
	ExpiryOptions options;
	options.delay = 3600;
	options.marker = ExpiryMark{0, std::string(32, 'a'), "node-a:/data [aaaaaaaa]", 1, 9 * seg, ""};

	ExpiryReport first = Expire(*repo_, policy, 2000, seg, nullptr, options);
	EXPECT_TRUE(first.backups.empty()) << "nothing is removed by the run that selects it";
	ASSERT_EQ(first.marked.size(), 1u);
	EXPECT_EQ(first.marked[0].item.label, f1);
	EXPECT_EQ(first.marked[0].due_at, 2000 + 3600);
	EXPECT_EQ(first.wal_removed, 0u) << "the WAL a marked backup needs stays while it waits";
	auto marked = repo_->ReadBackup(f1);
	ASSERT_TRUE(marked);
	EXPECT_EQ(marked->status, BackupStatus::Complete) << "a marked backup stays readable and listed";
	ASSERT_EQ(marked->expiry_marks.size(), 1u);
	EXPECT_EQ(marked->expiry_marks[0].node, "node-a:/data [aaaaaaaa]");

	ExpiryReport early = Expire(*repo_, policy, 2000 + 3599, seg, nullptr, options);
	EXPECT_TRUE(early.backups.empty());
	EXPECT_TRUE(early.marked.empty()) << "marked once";
	ASSERT_EQ(early.waiting.size(), 1u);

	ExpiryReport due = Expire(*repo_, policy, 2000 + 3600, seg, nullptr, options);
	ASSERT_EQ(due.backups.size(), 1u);
	EXPECT_EQ(due.backups[0].label, f1);
	EXPECT_FALSE(repo_->ReadBackup(f1));
	EXPECT_TRUE(repo_->ReadBackup(f2));
}

TEST_F(DeltaTest, AMistakenRetentionIsUndoneByRaisingItOrByKeepingTheBackup)
{
	const uint64_t seg = 16 << 20;
	std::string f1 = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	std::string f2 = Backup("20260101-000300F", "full", "", 7 * seg + 0x28, 1300);
	std::string f3 = Backup("20260101-000600F", "full", "", 9 * seg + 0x28, 1600);
	ExpiryOptions options;
	options.delay = 3600;
	options.marker = ExpiryMark{0, std::string(32, 'a'), "node-a", 1, 10 * seg, ""};
	RetentionPolicy mistaken;
	mistaken.full = 1; // meant 3
	EXPECT_EQ(Expire(*repo_, mistaken, 2000, seg, nullptr, options).marked.size(), 2u);
	// Kept with pgbk_keep, f1 is never selected; raising the policy spares f2.
	repo_->KeepBackup(f1, 2100, "alice");
	EXPECT_TRUE(repo_->ReadBackup(f1)->kept);
	RetentionPolicy fixed;
	fixed.full = 2;
	ExpiryReport r = Expire(*repo_, fixed, 2000 + 7200, seg, nullptr, options);
	EXPECT_TRUE(r.backups.empty()) << "what retention no longer selects is not removed, marked or not";
	for (const auto &label : {f1, f2, f3})
		EXPECT_TRUE(repo_->ReadBackup(label)) << label;
	// Back to one full: f2 goes (its old mark is long due), f1 stays kept.
	r = Expire(*repo_, mistaken, 2000 + 7200, seg, nullptr, options);
	ASSERT_EQ(r.backups.size(), 1u);
	EXPECT_EQ(r.backups[0].label, f2);
	EXPECT_TRUE(repo_->ReadBackup(f1));
}

// The split brain of issue 26: a former primary that has not yet seen the new primary's
// history file marks the fulls from before the fork. When the history arrives (the fork
// lies before the marker's position), its marks are void: nothing goes on them, and the
// new primary's own retention marks afresh what it selects.
TEST_F(DeltaTest, AMarkMadeOffTheAuthoritativeLineRemovesNothing)
{
	const uint64_t seg = 16 << 20;
	std::string oldest = Backup("20260101-000000F", "full", "", 1 * seg + 0x28, 1000);
	std::string before_fork = Backup("20260101-000100F", "full", "", 3 * seg + 0x28, 1100);
	// Taken by the former primary past the fork (timeline 1 beyond 0/5000000).
	std::string old_primary = Backup("20260101-000300F", "full", "", 9 * seg + 0x28, 1300);
	RetentionPolicy policy;
	policy.full = 1;
	ExpiryOptions stale;
	stale.delay = 3600;
	stale.marker = ExpiryMark{0, std::string(32, 'a'), "old-primary", 1, 10 * seg, ""}; // past the fork
	ASSERT_EQ(Expire(*repo_, policy, 2000, seg, nullptr, stale).marked.size(), 2u);

	// The new primary's history: timeline 2 left timeline 1 at 0/5000000.
	test::WriteFile(dir_ / "00000002.history", "1\t0/5000000\tno reason\n");
	repo_->ArchiveWalFile("00000002.history", dir_ / "00000002.history", CodecOptions{});
	ExpiryOptions live = stale;
	live.marker = ExpiryMark{0, std::string(32, 'b'), "new-primary", 2, 5 * seg + 0x100, ""};
	ExpiryReport r = Expire(*repo_, policy, 2000 + 7200, seg, nullptr, live);
	EXPECT_TRUE(r.backups.empty()) << "the stale marks are void: nothing is removed on them";
	EXPECT_EQ(r.void_marks, 1u) << "the oldest full, still selected, carries a void mark";
	ASSERT_EQ(r.marked.size(), 1u) << "and the new primary marks it afresh";
	EXPECT_EQ(r.marked[0].item.label, oldest);
	for (const auto &w : r.waiting)
		EXPECT_NE(w.item.label, before_fork) << "the newest full on the new line is not selected";
	EXPECT_EQ(r.wal_removed, 0u);

	r = Expire(*repo_, policy, 2000 + 7200 + 3600, seg, nullptr, live);
	ASSERT_EQ(r.backups.size(), 1u);
	EXPECT_EQ(r.backups[0].label, oldest);
	EXPECT_TRUE(repo_->ReadBackup(before_fork)) << "the full the new primary's line needs survives";
	EXPECT_TRUE(repo_->ReadBackup(old_primary)) << "and the former primary's stays (for a rescue) until older";
}
