// libFuzzer targets for the parsers that read untrusted bytes (a repository or a bucket
// anyone may write to, an S3 endpoint, configuration files). A parser may refuse its
// input only with pgbk::Error; any other exception, a crash, a leak or undefined
// behaviour (the targets build with ASan and UBSan) is a finding.
#pragma once
#include "pgbk/error.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace pgbk::fuzz {

inline std::string
Bytes(const uint8_t *data, size_t size)
{
	return std::string(reinterpret_cast<const char *>(data), size);
}

template <typename F>
void
RefusesOnlyWithPgbkErrors(F &&body)
{
	try {
		body();
	} catch (const pgbk::Error &) {
		// a clear refusal is what bad input should get
	}
}

// A directory for the targets that read files, made once per process.
std::string ScratchDirectory();

} // namespace pgbk::fuzz
