#include "pgbk/pgconf.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/settings.hpp"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <sstream>
#include <sys/stat.h>
#include <vector>

namespace pgbk {

static std::string
Trim(const std::string &s)
{
	auto a = s.find_first_not_of(" \t\r");
	if (a == std::string::npos)
		return "";
	auto b = s.find_last_not_of(" \t\r");
	return s.substr(a, b - a + 1);
}

// include_dir: the files ending in ".conf" (not starting with '.'), in name order (byte
// order, as PostgreSQL sorts them); subdirectories are not read.
static void
ParseConfDirectory(const std::string &dir, std::map<std::string, std::string> &out, int depth)
{
	std::vector<std::string> names;
	if (!ListDirectory(dir, &names))
		throw Error(ErrorKind::NotFound, "could not open configuration directory \"" + dir + "\"");
	std::sort(names.begin(), names.end());
	for (const auto &name : names) {
		if (name.empty() || name[0] == '.' || name.size() < 5 || name.compare(name.size() - 5, 5, ".conf") != 0)
			continue;
		struct stat st;
		std::string file = dir + "/" + name;
		if (::stat(file.c_str(), &st) == 0 && S_ISREG(st.st_mode))
			ParsePostgresConf(file, out, depth);
	}
}

void
ParsePostgresConf(const std::string &path, std::map<std::string, std::string> &out, int depth)
{
	if (depth > 10)
		throw Error(ErrorKind::Config, "configuration include depth exceeded at \"" + path + "\"");
	std::ifstream in(path);
	if (!in)
		throw Error(ErrorKind::NotFound, "could not read configuration file \"" + path + "\"");
	std::string dir = path.substr(0, path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/'));
	std::string line;
	int lineno = 0;
	while (std::getline(in, line)) {
		lineno++;
		std::string name, value;
		size_t i = 0;
		auto skip_ws = [&]() {
			while (i < line.size() && (line[i] == ' ' || line[i] == '\t'))
				i++;
		};
		skip_ws();
		if (i >= line.size() || line[i] == '#')
			continue;
		while (i < line.size() &&
			   (std::isalnum(static_cast<unsigned char>(line[i])) || line[i] == '_' || line[i] == '.'))
			name += line[i++];
		skip_ws();
		if (i < line.size() && line[i] == '=') {
			i++;
			skip_ws();
		}
		if (i < line.size() && line[i] == '\'') {
			i++;
			bool closed = false;
			while (i < line.size()) {
				if (line[i] == '\'') {
					if (i + 1 < line.size() && line[i + 1] == '\'') {
						value += '\'';
						i += 2;
						continue;
					}
					closed = true;
					i++;
					break;
				}
				if (line[i] == '\\' && i + 1 < line.size()) {
					value += line[i + 1];
					i += 2;
					continue;
				}
				value += line[i++];
			}
			if (!closed)
				throw Error(ErrorKind::Config, path + ":" + std::to_string(lineno) + ": unterminated quoted string");
		} else {
			auto hash = line.find('#', i);
			value = Trim(line.substr(i, hash == std::string::npos ? std::string::npos : hash - i));
		}
		if (name.empty())
			throw Error(ErrorKind::Config, path + ":" + std::to_string(lineno) + ": syntax error");
		std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
		if (name == "include" || name == "include_if_exists" || name == "include_dir") {
			if (value.empty())
				throw Error(ErrorKind::Config,
							path + ":" + std::to_string(lineno) + ": " + name + " needs a file name");
			// Relative to the including file's directory, as PostgreSQL reads them.
			std::string inc = value[0] == '/' ? value : dir + "/" + value;
			struct stat st;
			if (name == "include_if_exists" && ::stat(inc.c_str(), &st) != 0)
				continue;
			if (name == "include_dir")
				ParseConfDirectory(inc, out, depth + 1);
			else
				ParsePostgresConf(inc, out, depth + 1);
			continue;
		}
		out[name] = value;
	}
}

std::string
ServerSettings::Get(const std::string &name, const std::string &fallback) const
{
	auto it = values.find(name);
	return it == values.end() ? fallback : it->second;
}

ServerSettings
LoadServerSettings(const std::string &config_path)
{
	ServerSettings s;
	ParsePostgresConf(config_path, s.values);
	std::string dir = config_path.substr(0, config_path.find_last_of('/'));
	s.data_directory = s.Get("data_directory", dir);
	struct stat st;
	std::string autoconf = s.data_directory + "/postgresql.auto.conf";
	if (::stat(autoconf.c_str(), &st) == 0)
		ParsePostgresConf(autoconf, s.values);
	return s;
}

std::string
WithoutSecretSettings(const std::string &conf_text)
{
	std::string out, line;
	std::istringstream in(conf_text);
	while (std::getline(in, line)) {
		size_t i = line.find_first_not_of(" \t");
		size_t end = i == std::string::npos ? i : line.find_first_of(" \t=", i);
		std::string name = i == std::string::npos ? "" : line.substr(i, end == std::string::npos ? end : end - i);
		std::transform(name.begin(), name.end(), name.begin(),
					   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
		size_t id = name.empty() ? settings::kCount : settings::IndexOf(name);
		if (id < settings::kCount && (settings::kDefinitions[id].flags & settings::kSecret))
			out += "# " + name + ": left out of the backup (a secret; pgbk restore supplies it again)\n";
		else
			out += line + "\n";
	}
	return out;
}

} // namespace pgbk
