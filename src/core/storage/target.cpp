#include "pgbk/target.hpp"

#include "pgbk/hash.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

namespace pgbk {

const std::vector<std::string> &
TargetSettingNames()
{
	static const std::vector<std::string> names = {
		"pgbk.s3_endpoint",      "pgbk.s3_region",         "pgbk.s3_access_key_id", "pgbk.s3_secret_access_key",
		"pgbk.s3_session_token", "pgbk.s3_uri_style",      "pgbk.s3_ca_file",       "pgbk.s3_verify_tls",
		"pgbk.s3_sse",           "pgbk.s3_sse_kms_key_id", "pgbk.s3_storage_class", "pgbk.s3_part_size",
		"pgbk.s3_retry_timeout"};
	return names;
}

std::vector<std::pair<std::string, std::string>>
ParseTargetOptions(const std::string &json_object)
{
	nlohmann::json j;
	try {
		j = nlohmann::json::parse(json_object.empty() ? "{}" : json_object);
	} catch (const nlohmann::json::exception &e) {
		throw Error(ErrorKind::Config, std::string("options are not valid JSON: ") + e.what());
	}
	if (!j.is_object())
		throw Error(ErrorKind::Config, "options must be a JSON object such as '{\"endpoint\": \"https://...\"}'");
	std::vector<std::pair<std::string, std::string>> out;
	std::string valid;
	for (const auto &n : TargetSettingNames())
		valid += (valid.empty() ? "" : ", ") + n.substr(8);
	for (const auto &[key, value] : j.items()) {
		std::string name = "pgbk.s3_" + key;
		bool known = false;
		for (const auto &n : TargetSettingNames())
			known = known || n == name;
		if (!known)
			throw Error(ErrorKind::Config, "unknown option \"" + key + "\"; valid options: " + valid);
		std::string v = value.is_string() ? value.get<std::string>() : value.dump();
		auto bad = [&](const std::string &why) { return Error(ErrorKind::Config, "option \"" + key + "\": " + why); };
		if (key == "endpoint" && !v.empty() && v.rfind("http://", 0) != 0 && v.rfind("https://", 0) != 0)
			throw bad("\"" + v + "\" must start with http:// or https://");
		if (key == "uri_style" && v != "host" && v != "path")
			throw bad("must be \"host\" or \"path\"");
		if (key == "verify_tls" && v != "true" && v != "false" && v != "on" && v != "off")
			throw bad("must be true or false");
		if (key == "sse" && v != "none" && v != "AES256" && v != "aws:kms")
			throw bad("must be \"none\", \"AES256\" or \"aws:kms\"");
		if (key == "part_size" || key == "retry_timeout") {
			if (v.empty() || v.find_first_not_of("0123456789") != std::string::npos)
				throw bad("must be a whole number (" + std::string(key == "part_size" ? "MB" : "seconds") + ")");
			long n = std::stol(v);
			if (key == "part_size" && (n < 5 || n > 5120))
				throw bad("must be between 5 and 5120 (MB)");
			if (key == "retry_timeout" && (n < 1 || n > 3600))
				throw bad("must be between 1 and 3600 (seconds)");
		}
		out.emplace_back(name, v);
	}
	return out;
}

s3::S3Options
S3OptionsFromSettings(const std::vector<std::pair<std::string, std::string>> &settings)
{
	s3::S3Options o;
	for (const auto &[name, v] : settings) {
		if (name == "pgbk.s3_endpoint")
			o.endpoint = v;
		else if (name == "pgbk.s3_region" && !v.empty())
			o.region = v;
		else if (name == "pgbk.s3_access_key_id")
			o.credentials.access_key_id = v;
		else if (name == "pgbk.s3_secret_access_key")
			o.credentials.secret_access_key = v;
		else if (name == "pgbk.s3_session_token")
			o.credentials.session_token = v;
		else if (name == "pgbk.s3_uri_style")
			o.path_style = v == "path";
		else if (name == "pgbk.s3_ca_file")
			o.ca_file = v;
		else if (name == "pgbk.s3_verify_tls")
			o.verify_tls = !(v == "false" || v == "off");
		else if (name == "pgbk.s3_sse")
			o.sse = v == "none" ? "" : v;
		else if (name == "pgbk.s3_sse_kms_key_id")
			o.sse_kms_key_id = v;
		else if (name == "pgbk.s3_storage_class")
			o.storage_class = v;
		else if (name == "pgbk.s3_part_size")
			o.part_size = static_cast<size_t>(std::stol(v)) << 20;
		else if (name == "pgbk.s3_retry_timeout")
			o.retry_budget = std::chrono::seconds(std::stol(v));
	}
	return o;
}

void
ProbeStorage(Storage &storage)
{
	std::mt19937_64 rng{std::random_device{}()};
	std::string key = "pgbk-probe/" + ToHex(Sha256Of(std::to_string(rng()))).substr(0, 16);
	std::string content = "pgbk probe " + key;
	auto step = [&](const char *what, const auto &fn) {
		try {
			fn();
		} catch (const Error &e) {
			throw Error(e.kind(), std::string("probe ") + what + " of " + storage.Describe() + " failed: " + e.what());
		}
	};
	step("write", [&] { PutBytes(storage, key, content, WriteMode::CreateOnly); });
	step("read", [&] {
		if (GetBytes(storage, key, 1 << 20) != content)
			throw Error(ErrorKind::Corrupt, "the object read back differs from the one written");
	});
	step("list", [&] {
		bool seen = false;
		storage.List("pgbk-probe/", true, [&](const ListEntry &e) { seen = seen || e.key == key; });
		if (!seen)
			throw Error(ErrorKind::Io, "the object written is missing from the listing");
	});
	step("delete", [&] {
		storage.Remove(key);
		if (storage.Size(key))
			throw Error(ErrorKind::Io, "the object is still there after the delete");
	});
}

} // namespace pgbk
