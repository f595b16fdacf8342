// --delta restore: the existing data directory walked alongside the manifest (both in
// walk order), so that what the backup does not have is removed and what it has is
// compared instead of rewritten.
#include "restore_internal.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/backup.hpp"
#include "pgbk/hash.hpp"

#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <unistd.h>

namespace pgbk::restore {

LocalTree::LocalTree(std::string root) : root_(std::move(root))
{
	Push("");
}

bool
LocalTree::Current(std::string *rel, struct stat *st)
{
	Settle();
	if (stack_.empty())
		return false;
	*rel = cur_;
	*st = cur_st_;
	return true;
}

void
LocalTree::Advance(bool descend)
{
	Settle();
	if (stack_.empty())
		return;
	bool dir = S_ISDIR(cur_st_.st_mode) || (S_ISLNK(cur_st_.st_mode) && IsFollowedLink(cur_));
	std::string rel = cur_;
	stack_.back().next++;
	settled_ = false;
	if (descend && dir)
		Push(rel);
}

bool
LocalTree::IsFollowedLink(const std::string &rel)
{
	return rel == "pg_wal" || (rel.rfind("pg_tblspc/", 0) == 0 && rel.find('/', 10) == std::string::npos);
}

void
LocalTree::Push(const std::string &rel)
{
	Frame f;
	f.dir = rel;
	std::string path = rel.empty() ? root_ : root_ + "/" + rel;
	if (!ListDirectory(path, &f.names))
		ThrowErrno("could not open directory \"" + path + "\"", ENOENT);
	std::sort(f.names.begin(), f.names.end());
	stack_.push_back(std::move(f));
	settled_ = false;
}

void
LocalTree::Settle()
{
	while (!settled_ && !stack_.empty()) {
		Frame &f = stack_.back();
		if (f.next >= f.names.size()) {
			stack_.pop_back();
			continue;
		}
		cur_ = f.dir.empty() ? f.names[f.next] : f.dir + "/" + f.names[f.next];
		if (::lstat((root_ + "/" + cur_).c_str(), &cur_st_) != 0) {
			if (errno == ENOENT) { // gone meanwhile
				f.next++;
				continue;
			}
			ThrowErrno("could not stat \"" + root_ + "/" + cur_ + "\"", errno);
		}
		settled_ = true;
	}
}

// pg_tblspc/<oid>/PG_<major>_<catversion> of another major version: a tablespace
// location shared with another server's, which a delta restore must not touch.
static bool
IsOtherVersionsTablespaceDir(const std::string &rel, int pg_version_num)
{
	auto slash = rel.rfind('/');
	if (slash == std::string::npos || !IsTablespaceLinkPath(rel.substr(0, slash)))
		return false;
	std::string name = rel.substr(slash + 1);
	return name.rfind("PG_", 0) == 0 && name.rfind("PG_" + std::to_string(pg_version_num / 10000) + "_", 0) != 0;
}

std::optional<struct stat>
MatchExisting(RestoreState &state, const std::string &rel)
{
	std::string have;
	struct stat st;
	while (state.local && state.local->Current(&have, &st)) {
		if (!rel.empty() && !WalkOrderLess(have, rel)) {
			if (have != rel)
				return std::nullopt;
			state.local->Advance(true);
			return st;
		}
		if (!IsOtherVersionsTablespaceDir(have, state.pg_version_num)) {
			RemoveTree(state.PathOf(have));
			state.removed++;
		}
		state.local->Advance(false);
	}
	return std::nullopt;
}

bool
ExistingRangeMatches(const std::string &path, uint64_t offset, uint64_t size, const Digest &sha256)
{
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	if (fd.get() < 0)
		return false;
	struct stat st;
	if (::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_size) < offset + size)
		return false;
	Sha256 h;
	std::vector<char> buf(256 * 1024);
	uint64_t done = 0;
	while (done < size) {
		size_t want = static_cast<size_t>(std::min<uint64_t>(buf.size(), size - done));
		ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(offset + done));
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		h.Update(buf.data(), static_cast<size_t>(n));
		done += static_cast<uint64_t>(n);
	}
	return h.Final() == sha256;
}

} // namespace pgbk::restore
