#include "pgbk/settings.hpp"
#include "pgbk/repository.hpp"
#include "pgbk/storage_driver.hpp"
#include "pgbk/target.hpp"

#include "test_util.hpp"

#include <fstream>
#include <gtest/gtest.h>
#include <set>
#include <sstream>
#include <sys/stat.h>

using namespace pgbk;
using namespace pgbk::settings;

namespace {

std::string
Normalized(std::string_view name, const std::string &text)
{
	CheckContext context;
	context.types_only = true;
	return Normalize(*Find(name), text, context);
}

std::string
RefusalOf(std::string_view name, const std::string &text)
{
	try {
		Normalized(name, text);
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Config);
		return e.what();
	}
	return "";
}

} // namespace

TEST(Settings, TableIsConsistent)
{
	std::set<std::string_view> names;
	for (const auto &d : kDefinitions) {
		EXPECT_EQ(d.name.rfind("pgbk.", 0), 0u) << d.name;
		EXPECT_TRUE(names.insert(d.name).second) << d.name << " is defined twice";
		EXPECT_FALSE(TextOf(d).summary.empty()) << d.name;
		if ((d.flags & kTesting) == 0) {
			EXPECT_FALSE(TextOf(d).doc.empty()) << d.name << " has no documentation";
		}
		if (!d.group.empty()) {
			EXPECT_EQ(d.name.rfind("pgbk." + std::string(d.group) + "_", 0), 0u) << d.name;
		}
		// The default is a valid value of its own setting.
		CheckContext context;
		context.types_only = true;
		EXPECT_NO_THROW(Normalize(d, std::string(d.default_value), context)) << d.name;
		if (d.type == Type::Enum) {
			EXPECT_FALSE(d.choices.empty()) << d.name;
		}
	}
	// Every group is a registered storage driver's scheme.
	for (const auto &d : kDefinitions)
		if (!d.group.empty()) {
			bool driver = false;
			for (const StorageDriver *s : StorageDrivers())
				driver = driver || s->Scheme() == d.group;
			EXPECT_TRUE(driver) << d.name << ": no storage driver \"" << d.group << "\"";
		}
}

TEST(Settings, IntegersTakeUnitsAsPostgresDoes)
{
	EXPECT_EQ(Normalized("pgbk.s3_part_size", "16"), "16");
	EXPECT_EQ(Normalized("pgbk.s3_part_size", "5MB"), "5");
	EXPECT_EQ(Normalized("pgbk.s3_part_size", "64 MB"), "64");
	EXPECT_EQ(Normalized("pgbk.s3_part_size", "1GB"), "1024");
	EXPECT_EQ(Normalized("pgbk.s3_part_size", "8192kB"), "8");
	EXPECT_EQ(Normalized("pgbk.s3_retry_timeout", "2min"), "120");
	EXPECT_EQ(Normalized("pgbk.s3_retry_timeout", "90s"), "90");
	EXPECT_EQ(Normalized("pgbk.archive_timeout", "1h"), "3600");
	EXPECT_EQ(Normalized("pgbk.test_file_delay", "2s"), "2000");
	EXPECT_NE(RefusalOf("pgbk.s3_part_size", "1MB").find("outside the valid range 5MB .. 5120MB"), std::string::npos);
	EXPECT_NE(RefusalOf("pgbk.s3_part_size", "5XB").find("unknown unit; valid units are B, kB, MB, GB or TB"),
			  std::string::npos);
	EXPECT_NE(RefusalOf("pgbk.s3_part_size", "lots").find("pgbk.s3_part_size: \"lots\" is not a number"),
			  std::string::npos);
	EXPECT_NE(RefusalOf("pgbk.parallel", "2.5").find("is not a whole number"), std::string::npos);
	EXPECT_NE(RefusalOf("pgbk.parallel", "0").find("outside the valid range 1 .. 64"), std::string::npos);
	EXPECT_NE(RefusalOf("pgbk.parallel", "99999999999999999999").find("outside"), std::string::npos);
}

TEST(Settings, BooleansAndEnums)
{
	for (const char *on : {"on", "true", "yes", "1", "TRUE", "t", "y"})
		EXPECT_EQ(Normalized("pgbk.s3_verify_tls", on), "on") << on;
	for (const char *off : {"off", "false", "no", "0", "of", "f", "n"})
		EXPECT_EQ(Normalized("pgbk.s3_verify_tls", off), "off") << off;
	EXPECT_NE(RefusalOf("pgbk.s3_verify_tls", "o").find("is not a boolean"), std::string::npos);
	EXPECT_EQ(Normalized("pgbk.s3_uri_style", "PATH"), "path");
	EXPECT_EQ(Normalized("pgbk.s3_sse", "aes256"), "AES256");
	EXPECT_NE(RefusalOf("pgbk.s3_uri_style", "sideways").find("available values: host, path"), std::string::npos);
}

TEST(Settings, ChecksRunUnlessTypesOnly)
{
	CheckContext context;
	EXPECT_THROW(Normalize(*Find("pgbk.full_schedule"), "61 * * * *", context), Error);
	EXPECT_THROW(Normalize(*Find("pgbk.s3_endpoint"), "ftp://x", context), Error);
	EXPECT_THROW(Normalize(*Find("pgbk.repository"), "relative", context), Error);
	context.types_only = true;
	EXPECT_NO_THROW(Normalize(*Find("pgbk.full_schedule"), "61 * * * *", context));
}

// Values that end up in requests are checked before any request is made (issue 12).
TEST(Settings, S3ValuesAreSafeForRequests)
{
	CheckContext context;
	auto refused = [&](std::string_view name, const std::string &value) {
		try {
			Normalize(*Find(name), value, context);
		} catch (const Error &e) {
			return std::string(e.what());
		}
		return std::string();
	};
	EXPECT_EQ(refused("pgbk.s3_endpoint", "https://s3.eu-west-1.amazonaws.com"), "");
	EXPECT_EQ(refused("pgbk.s3_endpoint", "http://127.0.0.1:7480"), "");
	EXPECT_EQ(refused("pgbk.s3_endpoint", "http://[::1]:7480"), "");
	EXPECT_NE(refused("pgbk.s3_endpoint", "ftp://x").find("must start with http:// or https://"), std::string::npos);
	EXPECT_NE(refused("pgbk.s3_endpoint", "http://host:99999").find("port \"99999\""), std::string::npos);
	EXPECT_NE(refused("pgbk.s3_endpoint", "http://host:").find("port"), std::string::npos);
	EXPECT_NE(refused("pgbk.s3_endpoint", "http://user@host").find("no query, user"), std::string::npos);
	EXPECT_NE(refused("pgbk.s3_endpoint", "http://:80").find("names no host"), std::string::npos);
	for (std::string_view name : {"pgbk.s3_region", "pgbk.s3_storage_class", "pgbk.s3_sse_kms_key_id",
								  "pgbk.s3_access_key_id", "pgbk.s3_secret_access_key", "pgbk.s3_session_token"}) {
		std::string why = refused(name, "STANDARD\r\nX-Injected: 1");
		EXPECT_NE(why.find("control character"), std::string::npos) << name;
		EXPECT_EQ(why.find("Injected"), std::string::npos) << name << ": the value is not echoed";
	}
	for (const char *url : {"s3://bucket/./p", "s3://bucket/a/./b", "s3://bucket/a/.", "s3://bucket/."})
		EXPECT_THROW(ParseRepositoryLocation(url, "/data"), Error) << url;
	EXPECT_NO_THROW(ParseRepositoryLocation("s3://bucket/a.b/.c", "/data"));
}

TEST(Settings, ValuesStartAtTheDefaults)
{
	Values v;
	EXPECT_EQ(v.Integer(Id("pgbk.parallel")), 2);
	EXPECT_TRUE(v.Boolean(Id("pgbk.s3_verify_tls")));
	EXPECT_EQ(v.Text(Id("pgbk.compression")), "zstd");
	EXPECT_FALSE(v.IsSet(Id("pgbk.parallel")));
	v.Set("pgbk.parallel", "8");
	EXPECT_TRUE(v.IsSet(Id("pgbk.parallel")));
	EXPECT_EQ(v.Integer(Id("pgbk.parallel")), 8);
	EXPECT_THROW(v.Set("pgbk.no_such_setting", "1"), Error);
}

// What the archiver compares to decide whether to reopen the repository after a reload.
TEST(Settings, RepositorySignatureCoversEverythingOpeningReads)
{
	test::TempDir dir;
	Values base;
	std::string sig = RepositorySignature(base);
	for (const auto &[name, value] :
		 std::vector<std::pair<std::string, std::string>>{{"pgbk.s3_secret_access_key", "new-secret"},
														  {"pgbk.s3_endpoint", "http://127.0.0.1:7480"},
														  {"pgbk.s3_region", "eu-west-1"},
														  {"pgbk.s3_ca_file", "/etc/ssl/ca.pem"},
														  {"pgbk.s3_access_key_id", "AKIA"},
														  {"pgbk.repository", "/backups"}}) {
		Values v;
		v.SetCanonical(IndexOf(name), value);
		EXPECT_NE(RepositorySignature(v), sig) << name;
	}
	Values schedule;
	schedule.SetCanonical(Id("pgbk.full_schedule"), "@daily");
	EXPECT_EQ(RepositorySignature(schedule), sig) << "a schedule does not reopen the repository";
	// A key file replaced in place.
	std::string key = dir / "k";
	test::WriteFile(key, "a");
	Values keyed;
	keyed.SetCanonical(Id("pgbk.encryption_key_file"), key);
	std::string before = RepositorySignature(keyed);
	::unlink(key.c_str());
	test::WriteFile(key, "b");
	EXPECT_NE(RepositorySignature(keyed), before);
}

TEST(Settings, DocumentationTablesAreGeneratedFromTheDefinitions)
{
	std::string path = std::string(PGBK_SOURCE_DIR) + "/docs/operator-guide.md";
	std::ifstream in(path);
	ASSERT_TRUE(in) << path;
	std::stringstream ss;
	ss << in.rdbuf();
	std::string doc = ss.str();
	for (std::string group : {"", "s3"}) {
		std::string begin = "<!-- settings table" + (group.empty() ? "" : " " + group) + ": generated -->\n";
		std::string end = "<!-- end of settings table -->";
		auto at = doc.find(begin);
		ASSERT_NE(at, std::string::npos) << "no marker " << begin << " in " << path;
		auto stop = doc.find(end, at);
		ASSERT_NE(stop, std::string::npos);
		std::string table = doc.substr(at + begin.size(), stop - at - begin.size());
		if (std::getenv("PGBK_UPDATE_DOCS") != nullptr) { // regenerate: PGBK_UPDATE_DOCS=1 ctest -R Documentation
			doc.replace(at + begin.size(), table.size(), MarkdownTable(group));
			std::ofstream(path) << doc;
			continue;
		}
		EXPECT_EQ(table, MarkdownTable(group))
			<< "regenerate the table in " << path << " from src/core/include/pgbk/settings.hpp:\n"
			<< MarkdownTable(group);
	}
}

TEST(StorageDrivers, LocalAndS3RegisterThemselves)
{
	std::vector<std::string> schemes;
	for (const StorageDriver *d : StorageDrivers())
		schemes.emplace_back(d->Scheme());
	EXPECT_EQ(schemes, (std::vector<std::string>{"file", "s3"}));
}

TEST(Target, OptionsTakeWhatTheSettingsTake)
{
	RepositoryLocation s3 = ParseRepositoryLocation("s3://bucket/main", "/data");
	CheckContext context;
	Values v = ParseTargetOptions(
		s3, R"({"endpoint": "http://127.0.0.1:7480", "part_size": "5MB", "retry_timeout": 2, "verify_tls": false})",
		context);
	EXPECT_EQ(v.Text(Id("pgbk.s3_part_size")), "5");
	EXPECT_EQ(v.Text(Id("pgbk.s3_retry_timeout")), "2");
	EXPECT_EQ(v.Text(Id("pgbk.s3_verify_tls")), "off");
	EXPECT_TRUE(v.IsSet(Id("pgbk.s3_endpoint")));
	EXPECT_FALSE(v.IsSet(Id("pgbk.s3_region")));
	auto refusal = [&](const RepositoryLocation &l, const std::string &json) {
		try {
			ParseTargetOptions(l, json, context);
		} catch (const Error &e) {
			return std::string(e.what());
		}
		return std::string();
	};
	EXPECT_NE(refusal(s3, R"({"endpiont": "x"})").find("unknown option \"endpiont\"; valid options: endpoint, region"),
			  std::string::npos);
	EXPECT_NE(refusal(s3, R"({"endpoint": "ftp://x"})").find("option \"endpoint\""), std::string::npos);
	EXPECT_NE(refusal(s3, R"({"part_size": "1MB"})").find("outside the valid range"), std::string::npos);
	EXPECT_NE(refusal(s3, "[1]").find("JSON object"), std::string::npos);
	RepositoryLocation local = ParseRepositoryLocation("/backups", "/data");
	EXPECT_NE(refusal(local, R"({"endpoint": "http://x"})").find("takes no options"), std::string::npos);
	EXPECT_TRUE(TargetSettings(local).empty());
	EXPECT_EQ(TargetSettings(s3).size(), 15u);
}

TEST(Settings, AllowedTargetsArePrefixesAtPathBoundaries)
{
	const std::string allowed = "s3://corp-backups/pg, /backups/";
	EXPECT_TRUE(TargetAllowed("s3://corp-backups/pg", allowed, "/data"));
	EXPECT_TRUE(TargetAllowed("s3://corp-backups/pg/main", allowed, "/data"));
	EXPECT_TRUE(TargetAllowed("s3://corp-backups/pg/main/", allowed, "/data"));
	EXPECT_FALSE(TargetAllowed("s3://corp-backups/pgx", allowed, "/data"));
	EXPECT_FALSE(TargetAllowed("s3://corp-backups", allowed, "/data"));
	EXPECT_FALSE(TargetAllowed("s3://evil/pg", allowed, "/data"));
	EXPECT_TRUE(TargetAllowed("/backups/main", allowed, "/data"));
	EXPECT_TRUE(TargetAllowed("file:///backups/main", allowed, "/data"));
	EXPECT_FALSE(TargetAllowed("/backups-other/main", allowed, "/data"));
	EXPECT_FALSE(TargetAllowed("/backups/main", "", "/data")) << "empty allows nothing";
	CheckContext context;
	EXPECT_THROW(Normalize(*Find("pgbk.allowed_targets"), "ftp://x", context), Error);
	EXPECT_NE(Find("pgbk.allowed_targets")->flags & kSuperuserOnly, 0u);
	for (const char *name : {"pgbk.s3_endpoint", "pgbk.s3_verify_tls", "pgbk.s3_ca_file"})
		EXPECT_NE(Find(name)->flags & kTargetSuperuserOnly, 0u) << name;
}

// In the postmaster (filesystem = false) checks never touch the file system: a hung
// mount must not hang a reload. The syntax is still checked; the rest when used.
TEST(Settings, PostmasterChecksDoNoFileSystemIo)
{
	settings::CheckContext postmaster;
	postmaster.data_directory = "/data";
	postmaster.filesystem = false;
	EXPECT_NO_THROW(settings::CheckRepository("/etc/passwd/pgbk_repo", postmaster)) << "not created nor resolved";
	EXPECT_NO_THROW(settings::CheckKeyFile("/nonexistent/key", postmaster)) << "not read";
	EXPECT_THROW(settings::CheckRepository("relative/dir", postmaster), Error) << "the syntax still is checked";
	EXPECT_THROW(settings::CheckRepository("ftp://x/y", postmaster), Error);
	settings::CheckContext backend = postmaster;
	backend.filesystem = true;
	EXPECT_THROW(settings::CheckRepository("/etc/passwd/pgbk_repo", backend), Error);
	EXPECT_THROW(settings::CheckKeyFile("/nonexistent/key", backend), Error);
}

TEST(Settings, EverySettingHasItsTextAndNoTextIsLeftOver)
{
	for (const auto &d : kDefinitions) {
		EXPECT_TRUE(HasText(d.name)) << d.name << " has no text in settings_text.cpp";
		if ((d.flags & kTesting) == 0) {
			EXPECT_FALSE(TextOf(d).summary.empty()) << d.name << " has no summary";
		}
	}
	EXPECT_EQ(TextCount(), kCount) << "settings_text.cpp documents a setting the table does not define";
}
