#include "pgbk/cluster.hpp"

#include "pgbk/error.hpp"
#include "pgbk/fileio.hpp"

#include <cerrno>
#include <cstdlib>
#include <fcntl.h>
#include <unistd.h>

namespace pgbk {

uint64_t
ReadSystemIdentifier(const std::string &data_directory)
{
	uint64_t system_identifier = 0;
	std::string control = data_directory + "/global/pg_control";
	UniqueFd fd(::open(control.c_str(), O_RDONLY | O_CLOEXEC));
	if (fd.get() < 0)
		ThrowErrno("could not open " + control + " (is it a PostgreSQL data directory?)", errno);
	if (::pread(fd.get(), &system_identifier, sizeof system_identifier, 0) !=
		static_cast<ssize_t>(sizeof system_identifier))
		throw Error(ErrorKind::Corrupt, "could not read the system identifier from " + control);
	return system_identifier;
}

ClusterIdentity
ReadClusterIdentity(const std::string &data_directory)
{
	ClusterIdentity id;
	id.system_identifier = ReadSystemIdentifier(data_directory);
	std::string version = ReadSmallFile(data_directory + "/PG_VERSION", 64);
	id.pg_major = std::atoi(version.c_str());
	if (id.pg_major <= 0)
		throw Error(ErrorKind::Corrupt, data_directory + "/PG_VERSION does not hold a PostgreSQL version");
	return id;
}

} // namespace pgbk
