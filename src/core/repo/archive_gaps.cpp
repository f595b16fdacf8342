#include "pgbk/archive_gaps.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/hash.hpp"
#include "pgbk/object.hpp"
#include "pgbk/stored_json.hpp"

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>

namespace pgbk {

namespace {

using json = nlohmann::json;

constexpr const char *kGapPrefix = "gaps/";
constexpr const char *kLedgerDirectory = "/gaps";
constexpr size_t kGapRecordLimit = 1 << 16;

json
ToJson(const ArchiveGap &g)
{
	return json{{"format", kRepositoryFormat},
				{"timeline", g.timeline},
				{"first_wal", g.first_wal},
				{"last_wal", g.last_wal},
				{"segments", g.segments},
				{"opened_at", g.opened_at},
				{"closed_at", g.closed_at},
				{"covered_by", g.covered_by},
				{"wal_after", g.wal_after},
				{"wal_before", g.wal_before},
				{"node", g.node}};
}

ArchiveGap
GapFromJson(const std::string &text, const std::string &what)
{
	try {
		json j = ParseStoredJson(text, what);
		ArchiveGap g;
		g.timeline = j.at("timeline").get<uint32_t>();
		g.first_wal = j.at("first_wal").get<std::string>();
		g.last_wal = j.at("last_wal").get<std::string>();
		g.segments = j.at("segments").get<uint64_t>();
		g.opened_at = j.at("opened_at").get<int64_t>();
		g.closed_at = j.value("closed_at", int64_t{0});
		g.covered_by = j.value("covered_by", std::string());
		g.wal_after = j.value("wal_after", int64_t{0});
		g.wal_before = j.value("wal_before", int64_t{0});
		g.node = j.value("node", std::string());
		// The names are what restores compare LSNs with: a damaged one must not pass.
		if (ClassifyWalFileName(g.first_wal) != WalFileKind::Segment ||
			ClassifyWalFileName(g.last_wal) != WalFileKind::Segment || g.last_wal < g.first_wal)
			throw Error(ErrorKind::Corrupt, what + " is damaged: no valid segment range");
		return g;
	} catch (const json::exception &e) {
		throw Error(ErrorKind::Corrupt, what + " is damaged: " + e.what());
	}
}

// The segment number a segment name stands for (throws on anything else).
uint64_t
SegnoOf(const std::string &name, uint64_t segment_size)
{
	auto seg = ParseWalSegmentName(name, segment_size);
	if (!seg)
		throw Error(ErrorKind::Corrupt, "not a WAL segment name: " + name);
	return seg->segno;
}

// A lock file serialises the ledger's writers across processes (the archiver drops,
// the worker covers and publishes).
class LedgerLock {
public:
	explicit LedgerLock(const std::string &dir)
	{
		std::string path = dir + "/.lock";
		fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
		if (fd_ < 0)
			ThrowErrno("could not open \"" + path + "\"", errno);
		while (::flock(fd_, LOCK_EX) != 0)
			if (errno != EINTR) {
				int err = errno;
				::close(fd_);
				ThrowErrno("could not lock \"" + path + "\"", err);
			}
	}
	~LedgerLock() { ::close(fd_); }
	LedgerLock(const LedgerLock &) = delete;
	LedgerLock &operator=(const LedgerLock &) = delete;

private:
	int fd_ = -1;
};

bool
DirectoryExists(const std::string &dir)
{
	struct stat st;
	return ::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

struct LedgerEntry {
	ArchiveGap gap;
	bool published = false;
};

std::vector<LedgerEntry>
ReadLedger(const std::string &dir)
{
	std::vector<std::string> names;
	std::vector<LedgerEntry> out;
	if (!ListDirectory(dir, &names))
		return out;
	std::sort(names.begin(), names.end());
	for (const auto &n : names) {
		if (n.size() < 6 || n.compare(n.size() - 5, 5, ".json") != 0)
			continue;
		std::string path = dir + "/" + n;
		std::string text;
		try {
			text = ReadSmallFile(path, kGapRecordLimit);
		} catch (const Error &e) {
			if (e.kind() == ErrorKind::NotFound)
				continue;
			throw;
		}
		LedgerEntry e;
		e.gap = GapFromJson(text, "gap record " + path);
		e.published = ParseStoredJson(text, path).value("published", false);
		out.push_back(std::move(e));
	}
	return out;
}

} // namespace

Lsn
ArchiveGap::StartLsn(uint64_t segment_size) const
{
	return SegnoOf(first_wal, segment_size) * segment_size;
}

Lsn
ArchiveGap::EndLsn(uint64_t segment_size) const
{
	return (SegnoOf(last_wal, segment_size) + 1) * segment_size;
}

std::string
FormatUtcTime(int64_t unix_seconds)
{
	char buf[32];
	time_t t = static_cast<time_t>(unix_seconds);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
	return buf;
}

std::string
DescribeGap(const ArchiveGap &g)
{
	std::string text = "timeline " + std::to_string(g.timeline) + ": " + g.first_wal +
					   (g.last_wal != g.first_wal ? " to " + g.last_wal : "") + " (" + std::to_string(g.segments) +
					   (g.segments == 1 ? " segment" : " segments");
	if (g.opened_at != 0)
		text += ", dropped from " + FormatUtcTime(g.opened_at);
	if (!g.node.empty())
		text += " by " + g.node;
	text += ")";
	text += g.Open() ? ", not yet covered by a backup" : ", covered by backup " + g.covered_by;
	return text;
}

std::string
ArchiveGapKey(const ArchiveGap &gap)
{
	return std::string(kGapPrefix) + gap.first_wal + "-" + ToHex(Sha256Of(gap.node)).substr(0, 12) + ".json";
}

void
ListRepositoryGaps(Repository &repo, const std::function<void(const ArchiveGap &)> &fn)
{
	repo.storage().List(kGapPrefix, false, [&](const ListEntry &e) {
		if (e.is_prefix || e.key.size() < 6 || e.key.compare(e.key.size() - 5, 5, ".json") != 0)
			return;
		fn(GapFromJson(GetObject(repo.storage(), e.key, repo.keyring(), kGapRecordLimit), "gap record " + e.key));
	});
}

uint64_t
RemoveRepositoryGapsBefore(Repository &repo, uint64_t segno, uint64_t segment_size)
{
	uint64_t removed = 0;
	BatchRemover rm(repo.storage());
	repo.storage().List(kGapPrefix, false, [&](const ListEntry &e) {
		std::string name = e.key.substr(std::string(kGapPrefix).size());
		// <24-character segment name>-<writer>.json: the name alone says where it ends.
		if (e.is_prefix || name.size() < 25 || ClassifyWalFileName(name.substr(0, 24)) != WalFileKind::Segment)
			return;
		ArchiveGap g =
			GapFromJson(GetObject(repo.storage(), e.key, repo.keyring(), kGapRecordLimit), "gap record " + e.key);
		if (SegnoOf(g.last_wal, segment_size) < segno) {
			rm.Add(e.key);
			removed++;
		}
	});
	rm.Flush();
	return removed;
}

ArchiveGapLedger::ArchiveGapLedger(std::string spool_directory, std::string node)
	: directory_(std::move(spool_directory) + kLedgerDirectory), node_(std::move(node))
{
}

void
ArchiveGapLedger::Write(const ArchiveGap &gap, bool published)
{
	json j = ToJson(gap);
	j["published"] = published;
	ReplaceFile(directory_ + "/" + gap.first_wal + ".json", j.dump() + "\n", true);
}

ArchiveGap
ArchiveGapLedger::RecordDropped(const std::string &name, uint64_t segment_size, int64_t now, int64_t wal_after)
{
	auto seg = ParseWalSegmentName(name, segment_size);
	if (!seg || ClassifyWalFileName(name) != WalFileKind::Segment)
		throw Error(ErrorKind::Config, "only WAL segments are dropped, not " + name);
	std::lock_guard<std::mutex> g(mu_);
	std::string parent = directory_.substr(0, directory_.size() - std::string(kLedgerDirectory).size());
	::mkdir(parent.c_str(), 0700);
	if (::mkdir(directory_.c_str(), 0700) != 0 && errno != EEXIST)
		ThrowErrno("could not create \"" + directory_ + "\"", errno);
	LedgerLock lock(directory_);
	std::optional<ArchiveGap> extend;
	for (auto &e : ReadLedger(directory_)) {
		if (e.gap.timeline != seg->timeline || !e.gap.Open())
			continue;
		uint64_t first = SegnoOf(e.gap.first_wal, segment_size), last = SegnoOf(e.gap.last_wal, segment_size);
		if (seg->segno >= first && seg->segno <= last)
			return e.gap; // dropped before (the archiver retried after a crash)
		if (seg->segno == last + 1)
			extend = e.gap;
	}
	ArchiveGap gap;
	if (extend) {
		gap = *extend;
		gap.last_wal = name;
		gap.segments++;
	} else {
		gap.timeline = seg->timeline;
		gap.first_wal = gap.last_wal = name;
		gap.segments = 1;
		gap.opened_at = now;
		gap.wal_after = wal_after;
		gap.node = node_;
	}
	gap.wal_before = now;
	Write(gap, false);
	return gap;
}

std::vector<ArchiveGap>
ArchiveGapLedger::ListIn(const std::string &spool_directory)
{
	std::vector<ArchiveGap> out;
	for (auto &e : ReadLedger(spool_directory + kLedgerDirectory))
		out.push_back(std::move(e.gap));
	return out;
}

std::vector<ArchiveGap>
ArchiveGapLedger::List() const
{
	std::vector<ArchiveGap> out;
	for (auto &e : ReadLedger(directory_))
		out.push_back(std::move(e.gap));
	return out;
}

std::optional<ArchiveGap>
ArchiveGapLedger::Holding(const std::string &name, uint64_t segment_size) const
{
	auto seg = ParseWalSegmentName(name, segment_size);
	if (!seg)
		return std::nullopt;
	for (auto &g : List())
		if (g.timeline == seg->timeline && seg->segno >= SegnoOf(g.first_wal, segment_size) &&
			seg->segno <= SegnoOf(g.last_wal, segment_size))
			return g;
	return std::nullopt;
}

std::vector<ArchiveGap>
ArchiveGapLedger::Cover(const std::string &label, uint32_t timeline, Lsn start_lsn, uint64_t segment_size, int64_t now)
{
	std::vector<ArchiveGap> closed;
	std::lock_guard<std::mutex> g(mu_);
	if (!DirectoryExists(directory_))
		return closed;
	LedgerLock lock(directory_);
	for (auto &e : ReadLedger(directory_)) {
		// Timelines only grow along a history: a gap on this timeline or an earlier one
		// that ends before the backup started lies behind it.
		if (!e.gap.Open() || e.gap.timeline > timeline || e.gap.EndLsn(segment_size) > start_lsn)
			continue;
		e.gap.closed_at = now;
		e.gap.covered_by = label;
		Write(e.gap, false);
		closed.push_back(e.gap);
	}
	return closed;
}

size_t
ArchiveGapLedger::Publish(Repository &repo)
{
	std::lock_guard<std::mutex> g(mu_);
	if (!DirectoryExists(directory_))
		return 0;
	size_t written = 0;
	for (auto &e : ReadLedger(directory_)) {
		if (e.published)
			continue;
		// The writer's own key: replacing it updates this server's record, never another's.
		PutObject(repo.storage(), ArchiveGapKey(e.gap), ToJson(e.gap).dump() + "\n",
				  repo.WithKey(CodecOptions{Codec::None, 0}), WriteMode::Replace);
		written++;
		// Marked published only if nothing changed it meanwhile (a drop extending it).
		LedgerLock lock(directory_);
		for (auto &now : ReadLedger(directory_))
			if (now.gap.first_wal == e.gap.first_wal && ToJson(now.gap) == ToJson(e.gap))
				Write(now.gap, true);
	}
	return written;
}

uint64_t
ArchiveGapLedger::DroppedSegments() const
{
	uint64_t n = 0;
	for (auto &g : List())
		n += g.segments;
	return n;
}

bool
ArchiveGapLedger::NeedsPublishing() const
{
	auto entries = ReadLedger(directory_);
	return std::any_of(entries.begin(), entries.end(), [](const LedgerEntry &e) { return !e.published; });
}

bool
ArchiveGapLedger::AnyOpen() const
{
	auto gaps = List();
	return std::any_of(gaps.begin(), gaps.end(), [](const ArchiveGap &g) { return g.Open(); });
}

} // namespace pgbk
