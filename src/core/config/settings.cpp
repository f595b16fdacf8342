#include "pgbk/settings.hpp"

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
	std::vector<std::string> names;
	for (const auto &u : UnitsOf(unit))
		names.emplace_back(u.name);
	return JoinAlternatives(names);
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

std::string
JoinAlternatives(const std::vector<std::string> &items)
{
	std::string out;
	for (size_t i = 0; i < items.size(); i++)
		out += (i == 0 ? "" : i + 1 == items.size() ? " or " : ", ") + items[i];
	return out;
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
	try {
		SetCanonical(static_cast<size_t>(def - kDefinitions), Normalize(*def, text, context));
	} catch (const Error &e) {
		// The fix the table gives for this setting, unless the check named one.
		if (!e.hint().empty() || TextOf(*def).hint.empty())
			throw;
		throw Error(e.kind(), e.what(), std::string(TextOf(*def).hint));
	}
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
		if (!TextOf(*d).doc_default.empty())
			def = std::string(TextOf(*d).doc_default);
		else if (d->default_value.empty())
			def = "empty";
		else if (d->type == Type::Integer && d->unit != Unit::None)
			def = "`" + std::string(d->default_value) + BaseUnitName(d->unit) + "`";
		else
			def = "`" + std::string(d->default_value) + "`";
		std::string meaning(TextOf(*d).doc);
		if ((d->flags & kSecret) == 0 && (d->flags & kSuperuserOnly) &&
			meaning.find("uperuser-only") == std::string::npos)
			meaning += " Superuser-only.";
		out += "| `" + std::string(d->name) + "` | " + def + " | " +
			   (d->applies == Applies::Reload ? "yes" : "restart") + " | " + meaning + " |\n";
	}
	return out;
}

} // namespace pgbk::settings
