// postgresql.conf as the CLI reads it (--config), and what a backup stores of
// postgresql.auto.conf.
#include "pgbk/pgconf.hpp"

#include "fuzz.hpp"

#include <fstream>
#include <map>

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	std::string path = pgbk::fuzz::ScratchDirectory() + "/postgresql.conf";
	{
		std::ofstream out(path, std::ios::binary | std::ios::trunc);
		out.write(reinterpret_cast<const char *>(data), static_cast<std::streamsize>(size));
	}
	pgbk::fuzz::RefusesOnlyWithPgbkErrors([&] {
		std::map<std::string, std::string> settings;
		pgbk::ParsePostgresConf(path, settings);
	});
	pgbk::fuzz::RefusesOnlyWithPgbkErrors([&] { pgbk::WithoutSecretSettings(pgbk::fuzz::Bytes(data, size)); });
	return 0;
}
