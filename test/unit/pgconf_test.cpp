#include "pgbk/pgconf.hpp"

#include "test_util.hpp"

#include <filesystem>
#include <gtest/gtest.h>

using namespace pgbk;
using pgbk::test::TempDir;
using pgbk::test::WriteFile;

// Debian's layout: postgresql.conf in /etc/postgresql/<version>/<cluster>, with
// include_dir = 'conf.d' and the cluster's data directory elsewhere.
TEST(PostgresConf, ReadsIncludesAsPostgresDoes)
{
	TempDir dir;
	std::filesystem::create_directories(dir / "etc/conf.d/sub");
	std::filesystem::create_directories(dir / "data");
	WriteFile(dir / "etc/postgresql.conf", "data_directory = '" + (dir / "data") +
											   "'\n"
											   "pgbk.parallel = 3\n"
											   "include_dir = 'conf.d'\n"
											   "include_if_exists = 'missing.conf'\n"
											   "include = 'extra.conf'   # relative to this file\n"
											   "pgbk.compression_level = 7\n");
	WriteFile(dir / "etc/extra.conf", "pgbk.s3_region = 'eu-west-1'\n");
	WriteFile(dir / "etc/conf.d/pgbk.conf", "pgbk.repository = '/backups/main'\npgbk.parallel = 4\n");
	WriteFile(dir / "etc/conf.d/zz-later.conf", "pgbk.parallel = 6\ncompression_level_note = 1\n");
	WriteFile(dir / "etc/conf.d/.hidden.conf", "pgbk.parallel = 99\n");
	WriteFile(dir / "etc/conf.d/notes.txt", "pgbk.parallel = 98\n");
	WriteFile(dir / "etc/conf.d/sub/deeper.conf", "pgbk.parallel = 97\n");
	WriteFile(dir / "data/postgresql.auto.conf", "pgbk.compression_level = 9\n");

	ServerSettings s = LoadServerSettings(dir / "etc/postgresql.conf");
	EXPECT_EQ(s.Get("pgbk.repository"), "/backups/main") << "include_dir is read";
	EXPECT_EQ(s.Get("pgbk.parallel"), "6") << "in name order, later files winning; dot files, other names and "
											  "subdirectories skipped";
	EXPECT_EQ(s.Get("pgbk.s3_region"), "eu-west-1") << "include is relative to the including file";
	EXPECT_EQ(s.Get("pgbk.compression_level"), "9") << "postgresql.auto.conf is read last";
	EXPECT_EQ(s.data_directory, dir / "data");
}

TEST(PostgresConf, MissingIncludesAreErrors)
{
	TempDir dir;
	WriteFile(dir / "a.conf", "include = 'nope.conf'\n");
	EXPECT_THROW(LoadServerSettings(dir / "a.conf"), Error);
	WriteFile(dir / "b.conf", "include_dir = 'nodir'\n");
	EXPECT_THROW(LoadServerSettings(dir / "b.conf"), Error);
	WriteFile(dir / "c.conf", "include = 'c.conf'\n");
	EXPECT_THROW(LoadServerSettings(dir / "c.conf"), Error) << "an include loop ends";
}
