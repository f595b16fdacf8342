#include "pgbk/hash.hpp"

#include <openssl/evp.h>

namespace pgbk {

struct Sha256::Impl {
	EVP_MD_CTX *ctx = nullptr;
};

Sha256::Sha256() : impl_(std::make_unique<Impl>())
{
	impl_->ctx = EVP_MD_CTX_new();
	if (impl_->ctx == nullptr || EVP_DigestInit_ex(impl_->ctx, EVP_sha256(), nullptr) != 1)
		throw Error(ErrorKind::Io, "could not initialise SHA-256");
}

Sha256::~Sha256()
{
	EVP_MD_CTX_free(impl_->ctx);
}

void
Sha256::Update(const void *data, size_t len)
{
	if (len > 0 && EVP_DigestUpdate(impl_->ctx, data, len) != 1)
		throw Error(ErrorKind::Io, "SHA-256 update failed");
}

Digest
Sha256::Final()
{
	Digest d{};
	unsigned int n = 0;
	if (EVP_DigestFinal_ex(impl_->ctx, d.data(), &n) != 1 || n != d.size())
		throw Error(ErrorKind::Io, "SHA-256 final failed");
	return d;
}

std::string
ToHex(const uint8_t *data, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	std::string out(len * 2, '0');
	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[data[i] >> 4];
		out[2 * i + 1] = digits[data[i] & 15];
	}
	return out;
}

Digest
DigestFromHex(std::string_view hex)
{
	auto nibble = [&](char c) -> int {
		if (c >= '0' && c <= '9')
			return c - '0';
		if (c >= 'a' && c <= 'f')
			return c - 'a' + 10;
		if (c >= 'A' && c <= 'F')
			return c - 'A' + 10;
		throw Error(ErrorKind::Corrupt, "invalid hex digit in checksum \"" + std::string(hex) + "\"");
	};
	Digest d{};
	if (hex.size() != d.size() * 2)
		throw Error(ErrorKind::Corrupt, "checksum \"" + std::string(hex) + "\" is not 64 hex digits");
	for (size_t i = 0; i < d.size(); i++)
		d[i] = static_cast<uint8_t>(nibble(hex[2 * i]) << 4 | nibble(hex[2 * i + 1]));
	return d;
}

Digest
Sha256Of(std::string_view data)
{
	Sha256 h;
	h.Update(data.data(), data.size());
	return h.Final();
}

} // namespace pgbk
