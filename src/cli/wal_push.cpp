// pgbk wal-push: an archive_command that stores a WAL file through the archive module's
// own service (archive_service.hpp: same object format, same identical-content rule, same
// stop after a conflict, fenced the same way), for servers that archive through archive_command and for
// Patroni, which archives an old primary's .ready files before pg_rewind.
#include "cli.hpp"

#include "pgbk/archive_service.hpp"
#include "pgbk/fileio.hpp"
#include "pgbk/wal.hpp"

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

int
RunWalPush(Context &context, const std::vector<std::string> &args)
{
	PushRequest request = ParsePushArguments(context, args);
	// The archive module's own service, for one file: no spool, no drop and no breaker
	// (the file stays in pg_wal and the server asks again), no look-ahead.
	ArchiveEnvironment env;
	env.data_directory = request.pgdata;
	env.segment_size = WalSegmentSizeOf(request);
	env.cluster = ReadClusterIdentity(request.pgdata);
	env.keep_during_outage = false;
	env.look_ahead = false;
	env.open_repository = [&](const settings::Values &) { return std::move(context.repo); };
	ArchiveService service(std::move(env));
	// The server cannot be asked for its timeline: the fence reads pg_wal's history.
	ArchiveOutcome outcome = service.Archive(request.name, request.path, context.values, std::nullopt);
	if (!outcome.Acknowledged())
		throw Error(outcome.kind, outcome.message, outcome.hint);
	if (outcome.disposition == ArchiveDisposition::AlreadyPresent)
		std::fprintf(stderr, "pgbk: %s was already archived with identical content\n", request.name.c_str());
	return 0;
}

const CommandRegistration registration({"wal-push", "wal-push [--pgdata DIR] WAL_PATH   (archive_command: wal-push %p)",
										RepositoryUse::Raw, RunWalPush});

} // namespace
} // namespace pgbk::cli
