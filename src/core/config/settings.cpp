#include "pgbk/settings.hpp"

#include "pgbk/cron.hpp"
#include "pgbk/crypto.hpp"
#include "pgbk/storage.hpp"
#include "pgbk/storage_driver.hpp"
#include "pgbk/archive_spool.hpp"

#include <cmath>
#include <cstdlib>
#include <strings.h>
#include <sys/stat.h>

namespace pgbk::settings {
namespace {

std::string
Lower(std::string s)
{
	for (auto &c : s)
		c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
	return s;
}

std::string
Trimmed(const std::string &s)
{
	auto a = s.find_first_not_of(" \t");
	if (a == std::string::npos)
		return "";
	return s.substr(a, s.find_last_not_of(" \t") - a + 1);
}

struct UnitScale {
	const char *name;
	double per_base; // how many base units one of this unit is
};

// The units a value may be written in, as PostgreSQL accepts them for the base unit.
std::vector<UnitScale>
UnitsOf(Unit unit)
{
	switch (unit) {
	case Unit::Megabytes:
		return {{"B", 1.0 / (1024 * 1024)}, {"kB", 1.0 / 1024}, {"MB", 1}, {"GB", 1024}, {"TB", 1024.0 * 1024}};
	case Unit::Seconds:
		return {{"us", 1e-6}, {"ms", 1e-3}, {"s", 1}, {"min", 60}, {"h", 3600}, {"d", 86400}};
	case Unit::Milliseconds:
		return {{"us", 1e-3}, {"ms", 1}, {"s", 1000}, {"min", 60000}, {"h", 3600000}, {"d", 86400000}};
	case Unit::None:
		break;
	}
	return {};
}

const char *
BaseUnitName(Unit unit)
{
	switch (unit) {
	case Unit::Megabytes:
		return "MB";
	case Unit::Seconds:
		return "s";
	case Unit::Milliseconds:
		return "ms";
	case Unit::None:
		break;
	}
	return "";
}

std::string
WithUnit(int64_t n, Unit unit)
{
	return std::to_string(n) + BaseUnitName(unit);
}

std::string
UnitList(Unit unit)
{
	std::string out;
	auto units = UnitsOf(unit);
	for (size_t i = 0; i < units.size(); i++)
		out += std::string(i == 0 ? "" : i + 1 == units.size() ? " or " : ", ") + units[i].name;
	return out;
}

std::string
NormalizeInteger(const Definition &def, const std::string &text)
{
	std::string name(def.name);
	std::string t = Trimmed(text);
	char *end = nullptr;
	double v = std::strtod(t.c_str(), &end);
	std::string unit = Trimmed(std::string(end ? end : ""));
	auto bad = [&](const std::string &why) { return Error(ErrorKind::Config, name + ": \"" + text + "\" " + why); };
	if (t.empty() || end == t.c_str() || !std::isfinite(v))
		throw bad(def.unit == Unit::None ? "is not a whole number"
										 : "is not a number; write it as a number with a unit (" + UnitList(def.unit) +
											   "), such as " + WithUnit(def.max < 16 ? def.max : 16, def.unit));
	if (!unit.empty()) {
		bool known = false;
		for (const auto &u : UnitsOf(def.unit))
			if (unit == u.name) {
				v *= u.per_base;
				known = true;
			}
		if (!known)
			throw bad(def.unit == Unit::None ? "is not a whole number"
											 : "has an unknown unit; valid units are " + UnitList(def.unit));
	} else if (def.unit == Unit::None && v != std::floor(v))
		throw bad("is not a whole number");
	v = std::rint(v);
	if (v < static_cast<double>(def.min) || v > static_cast<double>(def.max))
		throw Error(ErrorKind::Config, name + ": " + text + " is outside the valid range " +
										   WithUnit(def.min, def.unit) + " .. " + WithUnit(def.max, def.unit));
	return std::to_string(static_cast<int64_t>(v));
}

std::string
NormalizeBoolean(const Definition &def, const std::string &text)
{
	std::string t = Lower(Trimmed(text));
	auto prefix_of = [&](const char *word, size_t min_len) {
		return t.size() >= min_len && std::string(word).rfind(t, 0) == 0;
	};
	if (t == "1" || prefix_of("true", 1) || prefix_of("yes", 1) || prefix_of("on", 2))
		return "on";
	if (t == "0" || prefix_of("false", 1) || prefix_of("no", 1) || prefix_of("off", 2))
		return "off";
	throw Error(ErrorKind::Config, std::string(def.name) + ": \"" + text + "\" is not a boolean; use on or off");
}

std::string
NormalizeEnum(const Definition &def, const std::string &text)
{
	std::string t = Trimmed(text), valid;
	for (auto c : def.choices) {
		if (::strcasecmp(std::string(c).c_str(), t.c_str()) == 0)
			return std::string(c);
		valid += (valid.empty() ? "" : ", ") + std::string(c);
	}
	throw Error(ErrorKind::Config,
				std::string(def.name) + ": \"" + text + "\" is not valid; available values: " + valid);
}

} // namespace

void
CheckRepository(const std::string &value, const CheckContext &context)
{
	if (value.empty())
		return;
	if (!context.filesystem) {
		ParseRepositoryLocation(value, ""); // its syntax only
		return;
	}
	RepositoryLocation location = ParseRepositoryLocation(value, context.data_directory);
	location.driver->CheckUsable(location);
}

void
CheckSchedule(const std::string &value, const CheckContext &)
{
	if (!value.empty())
		CronSchedule::Parse(value);
}

void
CheckTimeZone(const std::string &value, const CheckContext &)
{
	if (std::string why = CheckTimeZoneName(value); !why.empty())
		throw Error(ErrorKind::Config, why);
}

void
CheckKeyFile(const std::string &value, const CheckContext &context)
{
	if (!value.empty() && context.filesystem)
		LoadKeyFile(value, "pgbk.encryption_key_file");
}

void
CheckKeyring(const std::string &value, const CheckContext &context)
{
	for (const auto &f : SplitKeyFileList(value))
		if (context.filesystem)
			LoadKeyFile(f, "pgbk.encryption_keyring");
}

void
CheckEndpoint(const std::string &value, const CheckContext &context)
{
	if (value.empty())
		return;
	CheckHeaderValue(value, context);
	size_t scheme = value.rfind("https://", 0) == 0 ? 8 : value.rfind("http://", 0) == 0 ? 7 : 0;
	if (scheme == 0)
		throw Error(ErrorKind::Config, "\"" + value + "\" must start with http:// or https://");
	std::string authority = value.substr(scheme, value.find('/', scheme) - scheme);
	auto colon = authority.rfind(':');
	bool bracketed = authority.find(']') != std::string::npos;
	if (authority.empty() || authority[0] == ':')
		throw Error(ErrorKind::Config, "\"" + value + "\" names no host");
	if (colon != std::string::npos && (!bracketed || colon > authority.find(']'))) {
		std::string port = authority.substr(colon + 1);
		char *end = nullptr;
		long n = std::strtol(port.c_str(), &end, 10);
		if (port.empty() || *end != '\0' || n < 1 || n > 65535)
			throw Error(ErrorKind::Config, "\"" + value + "\": port \"" + port + "\" is not a number from 1 to 65535");
	}
	if (value.find_first_of("?#@ ", scheme) != std::string::npos)
		throw Error(ErrorKind::Config,
					"\"" + value + "\" must be scheme://host[:port][/path] (no query, user or spaces)");
}

void
CheckHeaderValue(const std::string &value, const CheckContext &)
{
	// These values go into HTTP request headers or signatures: a CR or LF would add a
	// header of its own. The value is not echoed (it may be a credential).
	for (unsigned char c : value)
		if (c < 0x20 || c == 0x7f)
			throw Error(ErrorKind::Config, "the value contains a control character (such as a line break); remove it");
}

void
CheckSpoolDirectory(const std::string &value, const CheckContext &context)
{
	if (!context.filesystem || context.types_only)
		return;
	if (value.empty() && context.data_directory.empty())
		return;
	std::string dir = ResolveSpoolDirectory(value, context.data_directory);
	if (std::string why = CheckLocalRepositoryUsable(dir); !why.empty())
		throw Error(ErrorKind::Config, "pgbk.spool_directory: " + why);
}

void
CheckAllowedTargets(const std::string &value, const CheckContext &context)
{
	for (const auto &prefix : SplitList(value))
		try {
			ParseRepositoryLocation(prefix, context.filesystem ? context.data_directory : "");
		} catch (const Error &e) {
			throw Error(ErrorKind::Config, "\"" + prefix + "\" is not a repository URL prefix: " + e.what());
		}
}

std::vector<std::string>
SplitList(const std::string &list, std::string_view whitespace)
{
	std::vector<std::string> out;
	size_t start = 0;
	while (start <= list.size()) {
		size_t comma = list.find(',', start);
		std::string item = list.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
		size_t b = item.find_first_not_of(whitespace), e = item.find_last_not_of(whitespace);
		item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
		if (!item.empty())
			out.push_back(item);
		if (comma == std::string::npos)
			break;
		start = comma + 1;
	}
	return out;
}

bool
TargetAllowed(const std::string &url, const std::string &allowed, const std::string &data_directory)
{
	std::string target = ParseRepositoryLocation(url, data_directory).url;
	for (const auto &prefix : SplitList(allowed)) {
		std::string p = ParseRepositoryLocation(prefix, data_directory).url; // canonical, no trailing '/'
		if (target == p || target.rfind(p + "/", 0) == 0)
			return true;
	}
	return false;
}

const Definition *
Find(std::string_view name)
{
	for (const auto &d : kDefinitions)
		if (d.name == name)
			return &d;
	return nullptr;
}

std::string
Normalize(const Definition &def, const std::string &text, const CheckContext &context)
{
	std::string canonical;
	switch (def.type) {
	case Type::String:
		canonical = text;
		break;
	case Type::Integer:
		canonical = NormalizeInteger(def, text);
		break;
	case Type::Boolean:
		canonical = NormalizeBoolean(def, text);
		break;
	case Type::Enum:
		canonical = NormalizeEnum(def, text);
		break;
	}
	if (def.check && !context.types_only)
		def.check(canonical, context);
	return canonical;
}

Values::Values() : set_(kCount, false)
{
	for (const auto &d : kDefinitions)
		text_.emplace_back(d.default_value);
}

void
Values::Set(std::string_view name, const std::string &text, const CheckContext &context)
{
	const Definition *def = Find(name);
	if (def == nullptr)
		throw Error(ErrorKind::Config, "unknown setting \"" + std::string(name) + "\"");
	SetCanonical(static_cast<size_t>(def - kDefinitions), Normalize(*def, text, context));
}

void
Values::SetCanonical(size_t id, std::string text)
{
	text_.at(id) = std::move(text);
	set_.at(id) = true;
}

int64_t
Values::Integer(size_t id) const
{
	return std::strtoll(text_.at(id).c_str(), nullptr, 10);
}

bool
Values::Boolean(size_t id) const
{
	return text_.at(id) == "on";
}

bool
Values::IsSet(size_t id) const
{
	return set_.at(id);
}

std::string
RepositorySignature(const Values &values)
{
	std::string sig;
	for (size_t i = 0; i < kCount; i++)
		if (kDefinitions[i].flags & kOpensRepository)
			sig += std::string(kDefinitions[i].name) + "=" + values.Text(i) + "\n";
	std::vector<std::string> files = SplitKeyFileList(values.Text(Id("pgbk.encryption_keyring")));
	if (const std::string &key = values.Text(Id("pgbk.encryption_key_file")); !key.empty())
		files.insert(files.begin(), key);
	for (const auto &f : files) {
		struct stat st;
		sig += f + "@";
		if (::stat(f.c_str(), &st) == 0)
			sig += std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + "." +
				   std::to_string(st.st_ino);
		sig += "\n";
	}
	return sig;
}

std::vector<const Definition *>
GroupSettings(std::string_view group)
{
	std::vector<const Definition *> out;
	for (const auto &d : kDefinitions)
		if (d.group == group)
			out.push_back(&d);
	return out;
}

std::string
MarkdownTable(std::string_view group)
{
	std::string out = "| setting | default | reload | meaning |\n|---|---|---|---|\n";
	for (const Definition *d : GroupSettings(group)) {
		if (d->flags & kTesting)
			continue;
		std::string def;
		if (!d->doc_default.empty())
			def = std::string(d->doc_default);
		else if (d->default_value.empty())
			def = "empty";
		else if (d->type == Type::Integer && d->unit != Unit::None)
			def = "`" + std::string(d->default_value) + BaseUnitName(d->unit) + "`";
		else
			def = "`" + std::string(d->default_value) + "`";
		std::string meaning(d->doc);
		if ((d->flags & kSecret) == 0 && (d->flags & kSuperuserOnly) &&
			meaning.find("uperuser-only") == std::string::npos)
			meaning += " Superuser-only.";
		out += "| `" + std::string(d->name) + "` | " + def + " | " +
			   (d->applies == Applies::Reload ? "yes" : "restart") + " | " + meaning + " |\n";
	}
	return out;
}

} // namespace pgbk::settings
