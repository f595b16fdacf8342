// Reads settings from a postgresql.conf (and the postgresql.auto.conf beside the data
// directory), so the CLI can reach the same repository the server uses.
#pragma once
#include "pgbk/error.hpp"

#include <map>
#include <string>

namespace pgbk {

// Parses name = value lines (quotes, '' escapes, comments; include, include_if_exists
// and include_dir relative to the including file, include_dir's *.conf files in name
// order). Later settings win, as in PostgreSQL.
void ParsePostgresConf(const std::string &path, std::map<std::string, std::string> &out, int depth = 0);

struct ServerSettings {
	std::map<std::string, std::string> values;
	std::string data_directory;
	std::string Get(const std::string &name, const std::string &fallback = "") const;
};

// Loads a config file; data_directory comes from the file or, failing that, is the
// file's directory. postgresql.auto.conf in the data directory is read last.
ServerSettings LoadServerSettings(const std::string &config_path);

// The text of a configuration file with every line that sets a secret setting (an S3
// key: settings flagged kSecret) replaced by a comment naming it: what a base backup
// stores of postgresql.auto.conf, so that no backup carries a secret in plain text.
std::string WithoutSecretSettings(const std::string &conf_text);

} // namespace pgbk
