#include "pgbk/target.hpp"

#include "pgbk/hash.hpp"

#include <chrono>
#include <nlohmann/json.hpp>
#include <random>

namespace pgbk {

std::vector<const settings::Definition *>
TargetSettings(const RepositoryLocation &location)
{
	return settings::GroupSettings(location.driver->Scheme());
}

settings::Values
ParseTargetOptions(const RepositoryLocation &location, const std::string &json_object,
				   const settings::CheckContext &context)
{
	nlohmann::json j;
	try {
		j = nlohmann::json::parse(json_object.empty() ? "{}" : json_object);
	} catch (const nlohmann::json::exception &e) {
		throw Error(ErrorKind::Config, std::string("options are not valid JSON: ") + e.what());
	}
	if (!j.is_object())
		throw Error(ErrorKind::Config, "options must be a JSON object such as '{\"endpoint\": \"https://...\"}'");
	std::string prefix = "pgbk." + std::string(location.driver->Scheme()) + "_";
	auto names = TargetSettings(location);
	std::string valid;
	for (const auto *d : names)
		valid += (valid.empty() ? "" : ", ") + std::string(d->name.substr(prefix.size()));
	settings::Values values;
	for (const auto &[key, value] : j.items()) {
		std::string name = prefix + key;
		bool known = false;
		for (const auto *d : names)
			known = known || d->name == name;
		if (!known && names.empty())
			throw Error(ErrorKind::Config, "option \"" + key + "\": a " + std::string(location.driver->Scheme()) +
											   " target (" + location.url + ") takes no options");
		if (!known)
			throw Error(ErrorKind::Config, "unknown option \"" + key + "\"; valid options: " + valid);
		std::string text = value.is_string() ? value.get<std::string>() : value.dump();
		try {
			values.Set(name, text, context);
		} catch (const Error &e) {
			throw Error(ErrorKind::Config, "option \"" + key + "\": " + e.what());
		}
	}
	return values;
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
