// JSON that pgbk reads back from a repository others may write to (records, markers,
// manifest lines). pgbk writes whole numbers only; nlohmann's get<integer>() of a
// fractional number out of the integer's range is undefined behaviour, so one is refused
// while parsing (found by fuzzing).
#pragma once
#include "pgbk/error.hpp"

#include <nlohmann/json.hpp>
#include <string>

namespace pgbk {

inline nlohmann::json
ParseStoredJson(const std::string &text, const std::string &what)
{
	using json = nlohmann::json;
	return json::parse(text, [&what](int, json::parse_event_t event, json &value) {
		if (event == json::parse_event_t::value && value.is_number_float())
			throw Error(ErrorKind::Corrupt, what + " is damaged: a fractional number where pgbk writes whole numbers");
		return true;
	});
}

} // namespace pgbk
