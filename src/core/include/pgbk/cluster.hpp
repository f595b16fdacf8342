// Which cluster a data directory or a repository belongs to.
#pragma once
#include <cstdint>
#include <string>

namespace pgbk {

struct ClusterIdentity {
	uint64_t system_identifier = 0;
	int pg_major = 0;
};

// pg_control's system identifier (its first field in every version). Throws Io, Corrupt.
uint64_t ReadSystemIdentifier(const std::string &data_directory);
// The identity of the cluster in `data_directory`, read without the server: pg_control's
// system identifier (its first field in every version) and PG_VERSION's major version.
// Throws Io naming the file, Corrupt when it holds no identity.
ClusterIdentity ReadClusterIdentity(const std::string &data_directory);

} // namespace pgbk
