// Numbers read from text that pgbk did not write itself (a repository others may write
// to, an S3 response): whole-string decimal only, never an exception of the standard
// library (std::stoull accepts "12abc", " 12" and "-1" and throws on the rest).
#pragma once
#include <charconv>
#include <cstdint>
#include <optional>
#include <string_view>

namespace pgbk {

inline std::optional<uint64_t>
ParseDecimal(std::string_view text)
{
	uint64_t value = 0;
	auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
	if (text.empty() || ec != std::errc() || end != text.data() + text.size())
		return std::nullopt;
	return value;
}

} // namespace pgbk
