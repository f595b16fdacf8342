#include "pgbk/manifest.hpp"

#include <gtest/gtest.h>

using namespace pgbk;

namespace {

ManifestHeader
SampleHeader()
{
	ManifestHeader h;
	h.label = "20261121-010000F";
	h.system_identifier = 7309281234567890123ull;
	h.pg_version_num = 150020;
	h.timeline = 3;
	h.start_lsn = 0x1000000028ull;
	h.data_checksums = true;
	h.started_at = 1790000000;
	return h;
}

} // namespace

TEST(Manifest, RoundTripStreamedInPieces)
{
	ManifestHeader h = SampleHeader();
	std::vector<ManifestEntry> entries;
	ManifestEntry d;
	d.type = ManifestEntry::Type::Directory;
	d.path = "base/5";
	d.mode = 0700;
	entries.push_back(d);
	ManifestEntry f;
	f.path = "base/5/16384.1";
	f.mode = 0600;
	f.mtime = 1790000001;
	f.size = 1ull << 30;
	f.stored_size = 12345;
	f.sha256 = Sha256Of("x");
	f.bad_blocks = {131072, 131080};
	entries.push_back(f);
	ManifestEntry l;
	l.type = ManifestEntry::Type::Link;
	l.path = "pg_tblspc/16400";
	l.link_target = "/mnt/ts \"quoted\"";
	entries.push_back(l);
	ManifestTotals t{1, f.size, f.stored_size, 2};

	std::string text = EncodeManifestHeader(h);
	for (auto &e : entries)
		text += EncodeManifestEntry(e);
	text += EncodeManifestEnd(t);

	ManifestHeader got_h;
	std::vector<ManifestEntry> got;
	ManifestParser p;
	p.on_header = [&](const ManifestHeader &x) { got_h = x; };
	p.on_entry = [&](const ManifestEntry &x) { got.push_back(x); };
	for (size_t i = 0; i < text.size(); i += 7) // arbitrary chunking
		p.Feed(text.data() + i, std::min<size_t>(7, text.size() - i));
	ManifestTotals got_t = p.Finish();

	EXPECT_EQ(got_h.label, h.label);
	EXPECT_EQ(got_h.system_identifier, h.system_identifier);
	EXPECT_EQ(got_h.start_lsn, h.start_lsn);
	EXPECT_EQ(got_h.timeline, 3u);
	EXPECT_TRUE(got_h.data_checksums);
	ASSERT_EQ(got.size(), 3u);
	EXPECT_EQ(got[0].type, ManifestEntry::Type::Directory);
	EXPECT_EQ(got[0].mode, 0700u);
	EXPECT_EQ(got[1].size, f.size);
	EXPECT_EQ(got[1].sha256, f.sha256);
	EXPECT_EQ(got[1].bad_blocks, f.bad_blocks);
	EXPECT_EQ(got[2].link_target, l.link_target);
	EXPECT_EQ(got_t.files, 1u);
	EXPECT_EQ(got_t.bad_blocks, 2u);
}

TEST(Manifest, TruncationAndDamageAreErrors)
{
	std::string head = EncodeManifestHeader(SampleHeader());
	ManifestEntry f;
	f.path = "PG_VERSION";
	std::string entry = EncodeManifestEntry(f);
	auto parse = [](const std::string &text) {
		ManifestParser p;
		p.Feed(text.data(), text.size());
		p.Finish();
	};
	EXPECT_THROW(parse(head + entry), Error); // no end line
	EXPECT_THROW(parse(head + entry.substr(0, 10)), Error); // cut mid-line
	EXPECT_THROW(parse(entry + EncodeManifestEnd({})), Error); // no header
	EXPECT_THROW(parse(head + "{not json}\n" + EncodeManifestEnd({})), Error);
	ManifestEntry evil;
	evil.path = "../../etc/passwd";
	EXPECT_THROW(parse(head + EncodeManifestEntry(evil) + EncodeManifestEnd({})), Error);
	EXPECT_NO_THROW(parse(head + entry + EncodeManifestEnd({})));
	// Found by fuzzing: a header number that is not one is refused as damage (pgbk::Error), not
	// with std::invalid_argument escaping to the caller.
	for (std::string bad_identifier : {"\"x\"", "\"\"", "\"-1\"", "\"99999999999999999999\""}) {
		std::string damaged = head;
		auto at = damaged.find("\"system_identifier\":");
		ASSERT_NE(at, std::string::npos);
		auto value_end = damaged.find(',', at);
		damaged.replace(at, value_end - at, "\"system_identifier\":" + bad_identifier);
		EXPECT_THROW(parse(damaged + entry + EncodeManifestEnd({})), Error) << damaged;
	}
	// Also found by fuzzing: a fractional number where a size belongs (reading 1e40 as an
	// integer is undefined behaviour) is damage.
	std::string sized = EncodeManifestEntry(f);
	auto size_at = sized.find("\"s\":");
	ASSERT_NE(size_at, std::string::npos);
	sized.replace(size_at, sized.find(',', size_at) - size_at, "\"s\":1e40");
	EXPECT_THROW(parse(head + sized + EncodeManifestEnd({})), Error) << sized;
}

TEST(Manifest, RecipesOfDifferentialAndIncrementalEntriesRoundTrip)
{
	ManifestHeader h;
	h.label = "20260103-000000I";
	h.type = "incr";
	h.prior = "20260102-000000D";
	h.prior_start_lsn = 0x5000028;
	h.page_delta = true;
	ManifestEntry unchanged; // a file held whole by an older backup, in parts
	unchanged.path = "base/5/16384";
	unchanged.base_label = "20260101-000000F";
	unchanged.parts = {ManifestPart{64 << 20, 1000, Sha256Of("a")}, ManifestPart{10, 20, Sha256Of("b")}};
	unchanged.size = (64 << 20) + 10;
	ManifestEntry delta = unchanged; // the same file with two page deltas on top
	delta.path = "base/5/16385";
	delta.base_size = unchanged.size;
	delta.size = 3 * 8192;
	delta.sha256 = Sha256Of("final");
	delta.deltas = {ManifestDelta{"20260102-000000D", 8200, 300, 1, Sha256Of("d1")},
					ManifestDelta{"20260103-000000I", 16400, 500, 2, Sha256Of("d2")}};
	ManifestEntry single = delta; // a base that is one object
	single.path = "base/5/16386";
	single.parts.clear();
	single.base_size = 8192;
	single.base_sha256 = Sha256Of("base");

	std::string text = EncodeManifestHeader(h) + EncodeManifestEntry(unchanged) + EncodeManifestEntry(delta) +
					   EncodeManifestEntry(single) + EncodeManifestEnd(ManifestTotals{3, 0, 0, 0});
	ManifestHeader got_h;
	std::vector<ManifestEntry> got;
	ManifestParser p;
	p.on_header = [&](const ManifestHeader &x) { got_h = x; };
	p.on_entry = [&](const ManifestEntry &e) { got.push_back(e); };
	p.Feed(text.data(), text.size());
	p.Finish();
	EXPECT_EQ(got_h.prior, h.prior);
	EXPECT_EQ(got_h.prior_start_lsn, h.prior_start_lsn);
	EXPECT_TRUE(got_h.page_delta);
	ASSERT_EQ(got.size(), 3u);
	EXPECT_EQ(got[0].BaseLabel(h.label), "20260101-000000F");
	EXPECT_EQ(got[0].parts.size(), 2u);
	EXPECT_TRUE(got[0].deltas.empty());
	EXPECT_EQ(got[1].base_size, unchanged.size);
	EXPECT_EQ(got[1].sha256, Sha256Of("final"));
	ASSERT_EQ(got[1].deltas.size(), 2u);
	EXPECT_EQ(got[1].deltas[1].label, "20260103-000000I");
	EXPECT_EQ(got[1].deltas[1].blocks, 2u);
	EXPECT_EQ(got[1].deltas[0].sha256, Sha256Of("d1"));
	EXPECT_EQ(got[2].base_sha256, Sha256Of("base"));
	EXPECT_EQ(got[2].BaseLabel(h.label), "20260101-000000F");
}

// A forged manifest must not make a restore write outside --pgdata: nothing lies behind a
// link but a tablespace's, and a tablespace's target is a plain absolute path.
TEST(Manifest, NothingIsWrittenThroughALinkButATablespace)
{
	std::string head = EncodeManifestHeader(SampleHeader()), end = EncodeManifestEnd({});
	auto link = [](const std::string &path, const std::string &target) {
		ManifestEntry e;
		e.type = ManifestEntry::Type::Link;
		e.path = path;
		e.link_target = target;
		return EncodeManifestEntry(e);
	};
	auto dir = [](const std::string &path) {
		ManifestEntry e;
		e.type = ManifestEntry::Type::Directory;
		e.path = path;
		e.mode = 0700;
		return EncodeManifestEntry(e);
	};
	auto file = [](const std::string &path) {
		ManifestEntry e;
		e.path = path;
		return EncodeManifestEntry(e);
	};
	auto refusal = [&](const std::string &body) {
		try {
			ManifestParser p;
			std::string text = head + body + end;
			p.Feed(text.data(), text.size());
			p.Finish();
		} catch (const Error &e) {
			EXPECT_EQ(e.kind(), ErrorKind::Corrupt);
			return std::string(e.what());
		}
		return std::string();
	};
	EXPECT_NE(
		refusal(link("ssh", "/home/alice/.ssh") + file("ssh/authorized_keys")).find("lies behind the link \"ssh\""),
		std::string::npos);
	EXPECT_NE(refusal(link("log", "/var/log") + dir("log/x") + file("log/x/y")).find("lies behind"), std::string::npos);
	EXPECT_NE(refusal(link("pg_tblspc/16400", "relative/ts")).find("unsafe target"), std::string::npos);
	EXPECT_NE(refusal(link("pg_tblspc/16400", "/ts/../home/alice")).find("unsafe target"), std::string::npos);
	EXPECT_NE(refusal(link("pg_tblspc/16400", "/")).find("unsafe target"), std::string::npos);
	// What a real data directory has stays readable: a tablespace with files through it,
	// and other links (a log directory, a certificate) with nothing behind them.
	EXPECT_EQ(refusal(dir("pg_tblspc") + link("pg_tblspc/16400", "/srv/ts") + dir("pg_tblspc/16400/PG_15_202209061") +
					  file("pg_tblspc/16400/PG_15_202209061/1") + link("log", "/var/log/postgresql") + file("logfile") +
					  link("server.crt", "/etc/ssl/certs/db.pem")),
			  "");
	EXPECT_FALSE(IsTablespaceLinkPath("pg_tblspc/"));
	EXPECT_FALSE(IsTablespaceLinkPath("pg_tblspc/16400/x"));
	EXPECT_FALSE(IsTablespaceLinkPath("pg_tblspc/x1"));
	EXPECT_TRUE(IsTablespaceLinkPath("pg_tblspc/16400"));
}
