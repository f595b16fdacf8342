// pgbk command-line tool: works with nothing but the repository (the server may be gone).
// Resolves the pgbk.* settings (defaults, environment, --config, options), opens the
// repository they name and runs the command (each command is a file of its own).
#include "cli.hpp"

#include "pgbk/notices.hpp"

#include "pgbk/pgconf.hpp"

#include <algorithm>
#include <climits>
#include <ctime>
#include <cstdio>
#include <cstdlib>
#include <unistd.h>

namespace pgbk::cli {

namespace {

std::vector<Command> &
Registry()
{
	static std::vector<Command> commands;
	return commands;
}

} // namespace

void
RegisterCommand(const Command &command)
{
	auto &r = Registry();
	r.push_back(command);
	std::sort(r.begin(), r.end(), [](const Command &a, const Command &b) { return std::string(a.name) < b.name; });
}

const std::vector<Command> &
Commands()
{
	return Registry();
}

std::string
FormatTime(int64_t t)
{
	if (t == 0)
		return "";
	time_t tt = static_cast<time_t>(t);
	struct tm tm;
	gmtime_r(&tt, &tm);
	char buf[40];
	std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S+00", &tm);
	return buf;
}

std::string
HumanBytes(uint64_t b)
{
	const char *units[] = {"B", "kB", "MB", "GB", "TB"};
	double v = static_cast<double>(b);
	int u = 0;
	while (v >= 1000 && u < 4) {
		v /= 1000;
		u++;
	}
	char buf[32];
	std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
	return buf;
}

std::string
SelfPath()
{
	char buf[PATH_MAX];
	ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
	if (n <= 0)
		return "pgbk";
	buf[n] = '\0';
	return buf;
}

std::string
AbsolutePath(const std::string &p)
{
	if (p.empty() || p[0] == '/')
		return p;
	char cwd[PATH_MAX];
	if (::getcwd(cwd, sizeof cwd) == nullptr)
		throw Error(ErrorKind::Io, "could not get the current directory");
	return std::string(cwd) + "/" + p;
}

int
ParseParallel(const std::string &text, const char *option)
{
	char *end = nullptr;
	long n = std::strtol(text.c_str(), &end, 10);
	if (text.empty() || *end != '\0' || n < 1 || n > 64)
		throw UsageError(std::string(option) + " must be between 1 and 64");
	return static_cast<int>(n);
}

namespace {

// The settings the command line and the environment may give: those that reach a
// repository (the server's other settings do not concern the CLI).
bool
IsRepositorySetting(const settings::Definition &d)
{
	return (d.flags & settings::kOpensRepository) != 0;
}

// "pgbk.s3_uri_style" -> "--s3-uri-style"; "pgbk.repository" -> "--repo".
std::string
OptionOf(const settings::Definition &d)
{
	if (d.name == "pgbk.repository")
		return "--repo";
	std::string o = "--" + std::string(d.name.substr(5));
	std::replace(o.begin(), o.end(), '_', '-');
	return o;
}

// "pgbk.s3_uri_style" -> "PGBK_S3_URI_STYLE".
std::string
EnvironmentOf(const settings::Definition &d)
{
	std::string e(d.name);
	for (auto &c : e)
		c = c == '.' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
	return e;
}

std::string
Usage()
{
	std::string u = "pgbk - PostgreSQL backups from inside the server\n\nUsage:\n";
	for (const Command &c : Commands())
		if (c.usage != nullptr)
			u += std::string("  pgbk ") + (c.repository == RepositoryUse::None ? "" : "[--repo URL | --config FILE] ") +
				 c.usage + "\n";
	u += "\nOptions:\n  --repo URL       repository: " + RepositorySyntaxes() + "\n";
	u += R"(  --config FILE    read the pgbk.* settings of this postgresql.conf (its includes, and the
                   postgresql.auto.conf of its data directory), as the server does
  --help           show this help

Each setting that reaches a repository can also be given as an option or an environment
variable (lowest first: the environment, --config, options); values take what the
setting takes in postgresql.conf, units included:
)";
	for (const auto &d : settings::kDefinitions) {
		if (!IsRepositorySetting(d) || d.name == "pgbk.repository")
			continue;
		std::string line = "  " + OptionOf(d) + " / " + EnvironmentOf(d);
		u += line + (line.size() < 48 ? std::string(48 - line.size(), ' ') : "\n" + std::string(48, ' ')) +
			 std::string(settings::TextOf(d).summary) + "\n";
	}
	for (const StorageDriver *driver : StorageDrivers())
		for (const auto &[setting, names] : driver->EnvironmentAliases()) {
			std::string vars;
			for (auto n : names)
				vars += (vars.empty() ? "" : " or ") + std::string(n);
			u += "  " + std::string(setting) + " also from " + vars + "\n";
		}
	u += R"(  PGBK_REPOSITORY gives the repository when neither --repo nor --config does.
  Secrets are better given in the environment or --config than as options, which other
  users of the machine can see in the process list.

Restore:
  Without a target the restored server replays every archived WAL segment and promotes.
  --target-time '2026-11-21 10:15:00+00' (a time zone is required), --target-lsn 0/16B3748,
  --target-xid 1234, --target-name RESTORE_POINT, --target-immediate (the backup's end):
  recovery stops there and performs --target-action (default promote). Without --backup,
  the newest complete backup that can reach the target is restored.
  The restored server archives into the same repository, on its new timeline, as in-place
  recovery needs. --clone makes a copy that archives nowhere (archive_mode = off, no
  backup schedules) until it is given its own pgbk.repository.
  --delta updates an existing data directory (server stopped) in place: files whose size
  and checksum match the backup are kept, others rewritten, the rest removed.

Exit status:
  0 success
  1 WAL file not in the repository (wal-fetch), or a problem found (verify)
  2 usage error
  3 configuration or argument error
  4 I/O error or timeout (the file system or the store refused, or did not answer)
  5 corrupt data (a checksum, size or format check failed)
  6 conflict (the repository belongs to another cluster, or stored content differs)
  7 not found (no such repository, backup or object)
  8 cancelled
)";
	return u;
}

struct CommandLine {
	std::vector<std::pair<const settings::Definition *, std::string>> options; // settings given as options
	std::string config;
	const Command *command = nullptr;
	std::vector<std::string> global, rest;
	bool help = false;
};

CommandLine
ParseCommandLine(const std::vector<std::string> &args)
{
	CommandLine cl;
	size_t i = 0;
	for (; i < args.size() && args[i].rfind("--", 0) == 0; i++) {
		if (args[i] == "--help") {
			cl.help = true;
			return cl;
		}
		if (i + 1 >= args.size())
			throw UsageError(args[i] + " needs a value");
		if (args[i] == "--config") {
			cl.config = AbsolutePath(args[++i]);
			continue;
		}
		const settings::Definition *def = nullptr;
		for (const auto &d : settings::kDefinitions)
			if (IsRepositorySetting(d) && OptionOf(d) == args[i])
				def = &d;
		if (def == nullptr)
			throw UsageError("unknown option " + args[i]);
		cl.options.emplace_back(def, args[++i]);
	}
	if (i >= args.size())
		throw UsageError("no command given");
	std::string name = args[i++];
	for (const Command &c : Commands())
		if (name == c.name)
			cl.command = &c;
	if (cl.command == nullptr)
		throw UsageError("unknown command \"" + name + "\"");
	cl.global.assign(args.begin(), args.begin() + static_cast<long>(i - 1));
	cl.rest.assign(args.begin() + static_cast<long>(i), args.end());
	return cl;
}

// Relative file paths given on the command line or in the environment are relative to
// where pgbk runs; the settings are carried into restored clusters that run elsewhere.
std::string
Absolutized(const settings::Definition &d, const std::string &value)
{
	if ((d.flags & settings::kPaths) == 0)
		return value;
	std::string out;
	for (const auto &item : settings::SplitList(value))
		out += (out.empty() ? "" : ",") + AbsolutePath(item);
	return out;
}

// The settings in effect, lowest first: defaults, the environment (drivers' aliases such
// as AWS_*, then PGBK_*), the --config file, the options.
settings::Values
ResolveSettings(const CommandLine &cl, std::string *data_directory)
{
	settings::Values values;
	settings::CheckContext context;
	context.types_only = true;
	auto from = [&](const std::string &where, const settings::Definition &d, const std::string &text) {
		try {
			values.Set(d.name, text, context);
		} catch (const Error &e) {
			throw Error(ErrorKind::Config, where + ": " + e.what());
		}
	};
	for (const StorageDriver *driver : StorageDrivers())
		for (const auto &[setting, names] : driver->EnvironmentAliases()) {
			const settings::Definition &d = *settings::Find(setting);
			for (auto it = names.rbegin(); it != names.rend(); ++it) // the first named wins
				if (const char *v = std::getenv(std::string(*it).c_str()); v && *v)
					from("$" + std::string(*it), d, Absolutized(d, v));
		}
	for (const auto &d : settings::kDefinitions) {
		// With --config the file says where its server's repository is (empty: the
		// default beside its data directory).
		if (!IsRepositorySetting(d) || (d.name == "pgbk.repository" && !cl.config.empty()))
			continue;
		if (const char *v = std::getenv(EnvironmentOf(d).c_str()); v && *v)
			from("$" + EnvironmentOf(d), d, Absolutized(d, v));
	}
	if (!cl.config.empty()) {
		ServerSettings server = LoadServerSettings(cl.config);
		*data_directory = server.data_directory;
		context.data_directory = server.data_directory;
		for (const auto &[name, text] : server.values)
			if (const settings::Definition *d = settings::Find(name))
				from(cl.config, *d, text);
	}
	for (const auto &[d, text] : cl.options)
		from(OptionOf(*d), *d, Absolutized(*d, text));
	return values;
}

int
Run(const std::vector<std::string> &args)
{
	CommandLine cl = ParseCommandLine(args);
	if (cl.help) {
		std::fputs(Usage().c_str(), stdout);
		return 0;
	}
	Context context;
	context.global_args = cl.global;
	if (cl.command->repository == RepositoryUse::None)
		return cl.command->run(context, cl.rest);
	bool repo_given = !cl.config.empty() || std::getenv("PGBK_REPOSITORY") != nullptr;
	for (const auto &o : cl.options)
		repo_given = repo_given || o.first->name == "pgbk.repository";
	for (const auto &o : cl.options)
		if (o.first->name == "pgbk.repository" && !cl.config.empty())
			throw UsageError("give either --repo or --config, not both");
	if (!repo_given)
		throw UsageError("no repository: give --repo URL or --config FILE");
	std::string data_directory;
	context.values = ResolveSettings(cl, &data_directory);
	context.parallel = static_cast<int>(context.values.Integer(settings::Id("pgbk.parallel")));
	context.data_directory = data_directory;
	context.location = ParseRepositoryLocation(context.values.Text(settings::Id("pgbk.repository")), data_directory);
	context.repo = OpenRepository(context.location, context.values);
	if (cl.command->repository == RepositoryUse::Read)
		context.repo->CheckReadable(); // a missing repository or a wrong key is named before anything is read
	return cl.command->run(context, cl.rest);
}

} // namespace
} // namespace pgbk::cli

int
main(int argc, char **argv)
{
	std::vector<std::string> args(argv + 1, argv + argc);
	// What the core noticed on the way (a store found to lack a feature), said once.
	struct PrintNotices {
		~PrintNotices()
		{
			while (auto n = pgbk::TakeNotice())
				std::fprintf(stderr, "%s\n", n->c_str());
		}
	} print_notices;
	try {
		return pgbk::cli::Run(args);
	} catch (const pgbk::cli::UsageError &e) {
		std::fprintf(stderr, "pgbk: %s\n\n%s", e.what(), pgbk::cli::Usage().c_str());
		return 2;
	} catch (const pgbk::Error &e) {
		std::fprintf(stderr, "pgbk: error: %s\n", e.what());
		if (!e.hint().empty())
			std::fprintf(stderr, "pgbk: hint: %s\n", e.hint().c_str());
		return pgbk::ExitCodeOf(e.kind());
	} catch (const std::exception &e) {
		std::fprintf(stderr, "pgbk: error: %s\n", e.what());
		return pgbk::ExitCodeOf(pgbk::ErrorKind::Io);
	}
}
