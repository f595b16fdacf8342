// SHA-256 (OpenSSL EVP) and hex helpers.
#pragma once
#include "pgbk/error.hpp"

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace pgbk {

using Digest = std::array<uint8_t, 32>;

class Sha256 {
public:
	Sha256();
	~Sha256();
	Sha256(const Sha256 &) = delete;
	Sha256 &operator=(const Sha256 &) = delete;
	void Update(const void *data, size_t len);
	Digest Final();

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
};

std::string ToHex(const uint8_t *data, size_t len);
inline std::string
ToHex(const Digest &d)
{
	return ToHex(d.data(), d.size());
}
// Parses exactly 64 hex characters; throws Corrupt otherwise.
Digest DigestFromHex(std::string_view hex);
Digest Sha256Of(std::string_view data);

} // namespace pgbk
