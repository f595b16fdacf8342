// The recovery configuration a restore writes: its settings in postgresql.auto.conf
// (replacing what an earlier restore left there) and recovery.signal (standby.signal
// for a standby).
#include "restore_internal.hpp"

#include "pgbk/fileio.hpp"

#include <cctype>
#include <fcntl.h>
#include <fstream>
#include <set>
#include <unistd.h>

namespace pgbk::restore {
namespace {

void
AppendToFile(const std::string &path, const std::string &text)
{
	UniqueFd fd = OpenOrThrow(path, O_WRONLY | O_CREAT | O_APPEND);
	WriteFully(fd.get(), text.data(), text.size(), path);
	if (::fsync(fd.get()) != 0)
		ThrowErrno("could not fsync \"" + path + "\"", errno);
	fd.Close(path);
}

// The setting a postgresql.conf line sets ("" for comments and blank lines).
std::string
SettingOfLine(const std::string &line)
{
	size_t i = line.find_first_not_of(" \t");
	if (i == std::string::npos || line[i] == '#')
		return "";
	size_t end = line.find_first_of(" \t=", i);
	std::string name = line.substr(i, end == std::string::npos ? std::string::npos : end - i);
	for (auto &c : name)
		c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return name;
}

// Rewrites postgresql.auto.conf with this restore's settings. What an earlier restore
// left there goes first: a cluster restored, promoted and backed up carries its old
// recovery target in the backup, and PostgreSQL refuses two targets.
void
WriteRestoreSettings(const std::string &path, const std::vector<std::pair<std::string, std::string>> &settings,
					 const std::string &label)
{
	std::set<std::string> replaced = {"restore_command"};
	for (const auto &kv : settings)
		replaced.insert(kv.first);
	std::string kept, line;
	{
		std::ifstream in(path);
		while (std::getline(in, line)) {
			std::string name = SettingOfLine(line);
			if (replaced.count(name) || name.rfind("recovery_target", 0) == 0 ||
				line.rfind("# Added by pgbk restore", 0) == 0)
				continue;
			kept += line + "\n";
		}
	}
	kept += "# Added by pgbk restore of backup " + label + "\n";
	for (const auto &[name, value] : settings)
		kept += name + " = " + QuoteConfValue(value) + "\n";
	ReplaceFile(path, kept, true);
}

} // namespace

void
WriteRecoveryConfiguration(RestoreState &state)
{
	const RestoreOptions &opts = state.opts;
	if (opts.restore_command.empty() && opts.settings.empty())
		return;
	auto settings = opts.settings;
	if (!opts.restore_command.empty()) {
		// The WAL segment size is known once the manifest was read.
		std::string cmd = opts.restore_command;
		const std::string token = kSegmentSizeToken;
		for (auto at = cmd.find(token); at != std::string::npos; at = cmd.find(token))
			cmd.replace(at, token.size(), std::to_string(state.segment_size));
		settings.emplace_back("restore_command", cmd);
	}
	WriteRestoreSettings(state.PathOf("postgresql.auto.conf"), settings, state.backup.label);
	if (!opts.restore_command.empty())
		AppendToFile(state.PathOf(opts.standby ? "standby.signal" : "recovery.signal"), "");
}

} // namespace pgbk::restore
