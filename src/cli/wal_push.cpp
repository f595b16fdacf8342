// pgbk wal-push: an archive_command that stores a WAL file exactly as the archive module
// does (same object format, same identical-content rule, same stop after a conflict,
// fenced the same way), for servers that archive through archive_command and for
// Patroni, which archives an old primary's .ready files before pg_rewind.
#include "cli.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/timeline_fence.hpp"
#include "pgbk/wal.hpp"
#include "pgbk/wal_archiver.hpp"

#include <cstdio>
#include <dirent.h>
#include <sys/stat.h>
#include <fcntl.h>
#include <unistd.h>

namespace pgbk::cli {
namespace {

struct PushRequest {
	std::string path; // as archive_command's %p gives it: relative to the data directory
	std::string name; // the WAL file's name
	std::string pgdata;
};

PushRequest
ParsePushArguments(const Context &context, const std::vector<std::string> &args)
{
	PushRequest r;
	for (size_t i = 0; i < args.size(); i++) {
		if (args[i] == "--pgdata" && i + 1 < args.size())
			r.pgdata = args[++i];
		else if (args[i].rfind("--", 0) == 0 || !r.path.empty())
			throw UsageError("unknown wal-push argument " + args[i]);
		else
			r.path = args[i];
	}
	if (r.path.empty())
		throw UsageError("wal-push needs the WAL file's path (archive_command's %p)");
	r.name = r.path.substr(r.path.find_last_of('/') + 1);
	// The data directory: given; or the one holding the file's pg_wal (Patroni passes
	// <data directory>/pg_wal/<name>, from its own working directory); or the --config
	// file's server's; or the working directory (archive_command runs in the data
	// directory and passes pg_wal/<name>).
	std::string dir = r.path.substr(0, r.path.size() - r.name.size());
	if (r.pgdata.empty() && dir.size() > 8 && dir[0] == '/' && dir.ends_with("/pg_wal/"))
		r.pgdata = dir.substr(0, dir.size() - 8);
	if (r.pgdata.empty())
		r.pgdata = context.data_directory.empty() ? "." : context.data_directory;
	r.pgdata = AbsolutePath(r.pgdata);
	switch (ClassifyWalFileName(r.name)) {
	case WalFileKind::Segment:
	case WalFileKind::Partial:
	case WalFileKind::TimelineHistory:
	case WalFileKind::BackupHistory:
		break;
	default:
		throw Error(ErrorKind::Config, "\"" + r.name + "\" is not the name of a WAL file",
					"Use archive_command = 'pgbk --config /path/to/postgresql.conf wal-push %p'.");
	}
	if (r.path[0] != '/')
		r.path = r.pgdata + "/" + r.path;
	return r;
}

// The server's WAL segment size: a segment's (or a partial segment's) own size, else
// that of a segment in pg_wal, else PostgreSQL's default (only a backup history file's
// name then needs it).
uint64_t
WalSegmentSizeOf(const PushRequest &r)
{
	auto size_of = [](const std::string &path) -> uint64_t {
		struct stat st;
		return ::stat(path.c_str(), &st) == 0 && IsValidWalSegmentSize(static_cast<uint64_t>(st.st_size))
				   ? static_cast<uint64_t>(st.st_size)
				   : 0;
	};
	WalFileKind kind = ClassifyWalFileName(r.name);
	if (kind == WalFileKind::Segment || kind == WalFileKind::Partial)
		if (uint64_t size = size_of(r.path))
			return size;
	uint64_t found = 0;
	if (DIR *d = ::opendir((r.pgdata + "/pg_wal").c_str())) {
		while (struct dirent *e = ::readdir(d))
			if (ClassifyWalFileName(e->d_name) == WalFileKind::Segment &&
				(found = size_of(r.pgdata + "/pg_wal/" + e->d_name)) != 0)
				break;
		::closedir(d);
	}
	return found != 0 ? found : uint64_t{16} << 20;
}

CodecOptions
ConfiguredCodec(const settings::Values &values)
{
	CodecOptions c;
	c.codec = values.Text(settings::Id("pgbk.compression")) == "none" ? Codec::None : Codec::Zstd;
	c.level = static_cast<int>(values.Integer(settings::Id("pgbk.compression_level")));
	return c;
}

int
RunWalPush(Context &context, const std::vector<std::string> &args)
{
	PushRequest request = ParsePushArguments(context, args);
	Repository &repo = *context.repo;
	if (auto reason = ArchiveStopReason(request.pgdata))
		throw Error(ErrorKind::Conflict, "archiving is stopped: " + *reason,
					"Find which server wrote the repository's copy and stop it; then remove " + request.pgdata + "/" +
						kArchiveStopFile + " (or run SELECT pgbk_archive_resume()).");
	repo.CheckOrInit(ReadClusterIdentity(request.pgdata));
	// Nothing past a fork that superseded this server: the repository's history decides.
	auto segment = ParseWalSegmentName(request.name, WalSegmentSizeOf(request));
	uint32_t tli = ClassifyWalFileName(request.name) == WalFileKind::TimelineHistory
					   ? TimelineOfHistoryFileName(request.name)
					   : (segment ? segment->timeline : 1);
	uint64_t segment_size = WalSegmentSizeOf(request);
	TimelineFence fence(repo, segment_size);
	std::string pg_wal = request.pgdata + "/pg_wal";
	fence.CheckFile(fence.LineageForFile(pg_wal, tli), request.name);
	Repository::ArchiveOutcome outcome;
	try {
		outcome = repo.ArchiveWalFile(request.name, request.path, ConfiguredCodec(context.values));
	} catch (const WalContentConflict &conflict) {
		StopArchiving(request.pgdata, conflict.what());
		throw Error(ErrorKind::Conflict, std::string(conflict.what()) + "; archiving is stopped",
					"Find which server wrote the repository's copy and stop it; WAL stays in pg_wal meanwhile.");
	}
	if (outcome == Repository::ArchiveOutcome::AlreadyPresent)
		std::fprintf(stderr, "pgbk: %s was already archived with identical content\n", request.name.c_str());
	return 0;
}

const CommandRegistration registration({"wal-push", "wal-push [--pgdata DIR] WAL_PATH   (archive_command: wal-push %p)",
										RepositoryUse::Raw, RunWalPush});

} // namespace
} // namespace pgbk::cli
