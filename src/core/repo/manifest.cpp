#include "pgbk/manifest.hpp"
#include "pgbk/numbers.hpp"
#include "pgbk/stored_json.hpp"

#include <nlohmann/json.hpp>

namespace pgbk {

using nlohmann::json;

std::string
EncodeManifestHeader(const ManifestHeader &h)
{
	json j = {{"pgbk_manifest", kManifestFormat},
			  {"label", h.label},
			  {"type", h.type},
			  {"prior", h.prior},
			  {"prior_start_lsn", FormatLsn(h.prior_start_lsn)},
			  {"page_delta", h.page_delta},
			  {"system_identifier", std::to_string(h.system_identifier)},
			  {"pg_version_num", h.pg_version_num},
			  {"timeline", h.timeline},
			  {"start_lsn", FormatLsn(h.start_lsn)},
			  {"segment_size", h.segment_size},
			  {"part_size", h.part_size},
			  {"data_checksums", h.data_checksums},
			  {"started_at", h.started_at},
			  {"taken_on", h.taken_on},
			  {"mixed_nodes", h.mixed_nodes}};
	return j.dump() + "\n";
}

std::string
EncodeManifestEntry(const ManifestEntry &e)
{
	json j;
	switch (e.type) {
	case ManifestEntry::Type::Directory:
		j = {{"t", "d"}, {"p", e.path}, {"m", e.mode}};
		break;
	case ManifestEntry::Type::Link:
		j = {{"t", "l"}, {"p", e.path}, {"target", e.link_target}};
		break;
	case ManifestEntry::Type::File:
		j = {{"t", "f"}, {"p", e.path}, {"m", e.mode}, {"mt", e.mtime}, {"s", e.size}, {"z", e.stored_size}};
		if (e.parts.empty() || !e.deltas.empty())
			j["h"] = ToHex(e.sha256);
		if (!e.parts.empty()) {
			json parts = json::array();
			for (const auto &p : e.parts)
				parts.push_back(json::array({p.size, p.stored_size, ToHex(p.sha256)}));
			j["parts"] = std::move(parts);
		}
		if (!e.base_label.empty())
			j["b"] = e.base_label;
		if (!e.deltas.empty()) {
			j["bs"] = e.base_size;
			if (e.parts.empty())
				j["bh"] = ToHex(e.base_sha256);
			json deltas = json::array();
			for (const auto &d : e.deltas)
				deltas.push_back(json::array({d.label, d.size, d.stored_size, ToHex(d.sha256), d.blocks}));
			j["d"] = std::move(deltas);
		}
		if (!e.bad_blocks.empty())
			j["bad"] = e.bad_blocks;
		break;
	}
	return j.dump(-1, ' ', false, json::error_handler_t::replace) + "\n";
}

std::string
EncodeManifestEnd(const ManifestTotals &t)
{
	json j = {{"end", true},
			  {"files", t.files},
			  {"database_bytes", t.database_bytes},
			  {"stored_bytes", t.stored_bytes},
			  {"bad_blocks", t.bad_blocks}};
	return j.dump() + "\n";
}

void
ManifestParser::Feed(const char *data, size_t len)
{
	pending_.append(data, len);
	size_t start = 0;
	for (size_t nl; (nl = pending_.find('\n', start)) != std::string::npos; start = nl + 1)
		Line(pending_.substr(start, nl - start));
	pending_.erase(0, start);
}

void
ManifestParser::Line(const std::string &line)
{
	line_no_++;
	auto bad = [&](const std::string &why) {
		return Error(ErrorKind::Corrupt, "manifest line " + std::to_string(line_no_) + ": " + why);
	};
	if (have_end_)
		throw bad("data after the end line");
	json j;
	try {
		j = ParseStoredJson(line, "manifest line " + std::to_string(line_no_));
		if (!have_header_) {
			if (!j.contains("pgbk_manifest"))
				throw bad("missing manifest header");
			if (j.at("pgbk_manifest").get<int>() != kManifestFormat)
				throw bad("unsupported manifest format " + j.at("pgbk_manifest").dump());
			ManifestHeader h;
			h.label = j.at("label").get<std::string>();
			h.type = j.at("type").get<std::string>();
			h.prior = j.value("prior", "");
			h.prior_start_lsn = ParseLsn(j.value("prior_start_lsn", "0/0"));
			h.page_delta = j.value("page_delta", false);
			auto system_identifier = ParseDecimal(j.at("system_identifier").get<std::string>());
			if (!system_identifier)
				throw bad("system_identifier is not a decimal number");
			h.system_identifier = *system_identifier;
			h.pg_version_num = j.at("pg_version_num").get<int>();
			h.timeline = j.at("timeline").get<uint32_t>();
			h.start_lsn = ParseLsn(j.at("start_lsn").get<std::string>());
			h.segment_size = j.at("segment_size").get<uint64_t>();
			h.part_size = j.at("part_size").get<uint64_t>();
			if (h.part_size < (1 << 20))
				throw bad("invalid part size " + std::to_string(h.part_size));
			h.data_checksums = j.at("data_checksums").get<bool>();
			h.started_at = j.at("started_at").get<int64_t>();
			h.taken_on = j.value("taken_on", "");
			h.mixed_nodes = j.value("mixed_nodes", false);
			have_header_ = true;
			if (on_header)
				on_header(h);
			return;
		}
		if (j.contains("end")) {
			totals_.files = j.at("files").get<uint64_t>();
			totals_.database_bytes = j.at("database_bytes").get<uint64_t>();
			totals_.stored_bytes = j.at("stored_bytes").get<uint64_t>();
			totals_.bad_blocks = j.value("bad_blocks", uint64_t{0});
			have_end_ = true;
			return;
		}
		ManifestEntry e;
		std::string t = j.at("t").get<std::string>();
		e.path = j.at("p").get<std::string>();
		if (e.path.empty() || e.path[0] == '/' || e.path.find("..") != std::string::npos)
			throw bad("unsafe path \"" + e.path + "\"");
		if (t == "d") {
			e.type = ManifestEntry::Type::Directory;
			e.mode = j.at("m").get<uint32_t>();
		} else if (t == "l") {
			e.type = ManifestEntry::Type::Link;
			e.link_target = j.at("target").get<std::string>();
			if (IsTablespaceLinkPath(e.path) && !IsSafeTablespaceTarget(e.link_target))
				throw bad("tablespace link \"" + e.path + "\" has an unsafe target \"" + e.link_target +
						  "\" (it must be an absolute path without \".\" or \"..\")");
		} else if (t == "f") {
			e.type = ManifestEntry::Type::File;
			e.mode = j.at("m").get<uint32_t>();
			e.mtime = j.at("mt").get<int64_t>();
			e.size = j.at("s").get<uint64_t>();
			e.stored_size = j.at("z").get<uint64_t>();
			e.base_label = j.value("b", "");
			if (j.contains("d")) {
				for (const auto &d : j.at("d"))
					e.deltas.push_back(ManifestDelta{d.at(0).get<std::string>(), d.at(1).get<uint64_t>(),
													 d.at(2).get<uint64_t>(), d.at(4).get<uint64_t>(),
													 DigestFromHex(d.at(3).get<std::string>())});
				e.base_size = j.at("bs").get<uint64_t>();
			}
			if (j.contains("parts")) {
				uint64_t size = 0;
				for (const auto &p : j.at("parts")) {
					ManifestPart part{p.at(0).get<uint64_t>(), p.at(1).get<uint64_t>(),
									  DigestFromHex(p.at(2).get<std::string>())};
					size += part.size;
					e.parts.push_back(part);
				}
				if (e.parts.empty() || size != (e.deltas.empty() ? e.size : e.base_size))
					throw bad("parts of \"" + e.path + "\" do not add up to its size");
			}
			if (e.parts.empty() || !e.deltas.empty())
				e.sha256 = DigestFromHex(j.at("h").get<std::string>());
			if (e.deltas.empty()) {
				e.base_size = e.size;
				e.base_sha256 = e.sha256;
			} else if (e.parts.empty())
				e.base_sha256 = DigestFromHex(j.at("bh").get<std::string>());
			if (j.contains("bad"))
				e.bad_blocks = j.at("bad").get<std::vector<uint32_t>>();
		} else
			throw bad("unknown entry type \"" + t + "\"");
		// Nothing is restored through a link but a tablespace's: an entry behind any other
		// link would be written wherever the link points.
		for (auto slash = e.path.find('/'); slash != std::string::npos; slash = e.path.find('/', slash + 1))
			if (links_.count(e.path.substr(0, slash)))
				throw bad("\"" + e.path + "\" lies behind the link \"" + e.path.substr(0, slash) + "\"");
		if (e.type == ManifestEntry::Type::Link && !IsTablespaceLinkPath(e.path)) {
			if (links_.size() >= kMaxPlainLinks)
				throw bad("more than " + std::to_string(kMaxPlainLinks) + " links");
			links_.insert(e.path);
		}
		if (on_entry)
			on_entry(e);
	} catch (const json::exception &ex) {
		throw bad(ex.what());
	}
}

bool
IsTablespaceLinkPath(const std::string &path)
{
	if (path.rfind("pg_tblspc/", 0) != 0 || path.size() == 10)
		return false;
	return path.find_first_not_of("0123456789", 10) == std::string::npos;
}

bool
IsSafeTablespaceTarget(const std::string &target)
{
	if (target.empty() || target[0] != '/' || target == "/")
		return false;
	for (size_t at = 1; at <= target.size();) {
		size_t slash = target.find('/', at);
		std::string part = target.substr(at, slash == std::string::npos ? std::string::npos : slash - at);
		if (part.empty() || part == "." || part == "..")
			return false;
		if (slash == std::string::npos)
			break;
		at = slash + 1;
	}
	return true;
}

ManifestTotals
ManifestParser::Finish()
{
	if (!pending_.empty())
		throw Error(ErrorKind::Corrupt, "manifest ends in the middle of a line");
	if (!have_header_)
		throw Error(ErrorKind::Corrupt, "manifest is empty");
	if (!have_end_)
		throw Error(ErrorKind::Corrupt, "manifest has no end line (truncated)");
	return totals_;
}

} // namespace pgbk
