// The pgbk command's pieces: each subcommand is a file of its own that registers a
// Command; main.cpp resolves the settings, opens the repository and dispatches.
#pragma once
#include "pgbk/repository.hpp"
#include "pgbk/settings.hpp"
#include "pgbk/storage_driver.hpp"

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace pgbk::cli {

// A malformed command line: exit 2 with the usage.
struct UsageError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

// What a command works with.
struct Context {
	settings::Values values; // the resolved pgbk.* settings
	RepositoryLocation location; // the repository they name
	std::unique_ptr<Repository> repo; // opened unless the command needs none
	std::vector<std::string> global_args; // the options before the command (for a child pgbk)
	int parallel = 2; // pgbk.parallel
	std::string data_directory; // the --config file's server's ("" without --config)
};

enum class RepositoryUse {
	None, // the command needs no repository
	Read, // it must exist, and the keys must fit it
	Raw, // opened, nothing checked first (wal-fetch: a missing repository is "not found")
};

struct Command {
	const char *name;
	const char *usage; // the command's line(s) in the help, after "pgbk [--repo URL | --config FILE] "
	RepositoryUse repository;
	int (*run)(Context &context, const std::vector<std::string> &args);
};

void RegisterCommand(const Command &command);
const std::vector<Command> &Commands();

// Defined at namespace scope in a command's file, it registers the command at start-up.
struct CommandRegistration {
	explicit CommandRegistration(const Command &command) { RegisterCommand(command); }
};

// Helpers shared by commands.
std::string FormatTime(int64_t unix_seconds);
std::string HumanBytes(uint64_t bytes);
std::string SelfPath();
std::string AbsolutePath(const std::string &path);
int ParseParallel(const std::string &text, const char *option);

} // namespace pgbk::cli
