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
}
