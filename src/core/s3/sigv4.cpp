#include "pgbk/sigv4.hpp"

#include "pgbk/hash.hpp"

#include <algorithm>
#include <cctype>
#include <openssl/hmac.h>

namespace pgbk::s3 {
namespace {

std::string
HmacSha256(const std::string &key, const std::string &data)
{
	unsigned char out[32];
	unsigned int len = 0;
	if (HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
			 reinterpret_cast<const unsigned char *>(data.data()), data.size(), out, &len) == nullptr ||
		len != sizeof out)
		throw Error(ErrorKind::Io, "HMAC-SHA256 failed");
	return std::string(reinterpret_cast<char *>(out), len);
}

std::string
Lower(std::string s)
{
	std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
	return s;
}

// Trims and collapses runs of spaces, as the canonical header format requires.
std::string
CanonicalHeaderValue(const std::string &v)
{
	std::string out;
	bool space = false;
	for (char c : v) {
		if (c == ' ' || c == '\t') {
			space = !out.empty();
			continue;
		}
		if (space)
			out += ' ';
		space = false;
		out += c;
	}
	return out;
}

} // namespace

std::string
UriEncode(std::string_view s, bool encode_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	std::string out;
	out.reserve(s.size());
	for (unsigned char c : s) {
		if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~' || (c == '/' && !encode_slash))
			out += static_cast<char>(c);
		else {
			out += '%';
			out += hex[c >> 4];
			out += hex[c & 15];
		}
	}
	return out;
}

std::string
AmzDate(time_t t)
{
	struct tm tm;
	gmtime_r(&t, &tm);
	char buf[20];
	std::strftime(buf, sizeof buf, "%Y%m%dT%H%M%SZ", &tm);
	return buf;
}

SigV4Signer::SigV4Signer(std::string region, std::string service)
	: region_(std::move(region)), service_(std::move(service))
{
}

std::string
SigV4Signer::CanonicalQuery(const HeaderList &query)
{
	std::vector<std::pair<std::string, std::string>> enc;
	for (const auto &[k, v] : query)
		enc.emplace_back(UriEncode(k, true), UriEncode(v, true));
	std::sort(enc.begin(), enc.end());
	std::string out;
	for (const auto &[k, v] : enc)
		out += (out.empty() ? "" : "&") + k + "=" + v;
	return out;
}

std::string
SigV4Signer::CanonicalRequest(const RequestToSign &req, std::string *signed_headers)
{
	// Sorted by header name (not by "name:value", which misorders prefixes).
	std::vector<std::pair<std::string, std::string>> headers;
	for (const auto &[k, v] : req.headers)
		headers.emplace_back(Lower(k), CanonicalHeaderValue(v));
	std::stable_sort(headers.begin(), headers.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
	std::string canon_headers;
	signed_headers->clear();
	for (size_t i = 0; i < headers.size(); i++) {
		if (i > 0 && headers[i].first == headers[i - 1].first) {
			canon_headers.back() = ','; // repeated header: comma-joined values
			canon_headers += headers[i].second + "\n";
			continue;
		}
		canon_headers += headers[i].first + ":" + headers[i].second + "\n";
		*signed_headers += (signed_headers->empty() ? "" : ";") + headers[i].first;
	}
	return req.method + "\n" + req.canonical_uri + "\n" + CanonicalQuery(req.query) + "\n" + canon_headers + "\n" +
		   *signed_headers + "\n" + req.payload_sha256;
}

std::string
SigV4Signer::StringToSign(const std::string &amz_date, const std::string &canonical_request) const
{
	return "AWS4-HMAC-SHA256\n" + amz_date + "\n" + amz_date.substr(0, 8) + "/" + region_ + "/" + service_ +
		   "/aws4_request\n" + ToHex(Sha256Of(canonical_request));
}

std::string
SigV4Signer::SigningKey(const std::string &date, const std::string &secret)
{
	std::string secret_digest = ToHex(Sha256Of(secret));
	std::lock_guard<std::mutex> g(mu_);
	if (key_date_ != date || key_secret_digest_ != secret_digest) {
		std::string k = HmacSha256("AWS4" + secret, date);
		k = HmacSha256(k, region_);
		k = HmacSha256(k, service_);
		key_ = HmacSha256(k, "aws4_request");
		key_date_ = date;
		key_secret_digest_ = secret_digest;
	}
	return key_;
}

HeaderList
SigV4Signer::Sign(const RequestToSign &req, const Credentials &creds, time_t now)
{
	std::string amz_date = AmzDate(now);
	HeaderList added = {{"x-amz-date", amz_date}, {"x-amz-content-sha256", req.payload_sha256}};
	if (!creds.session_token.empty())
		added.emplace_back("x-amz-security-token", creds.session_token);
	RequestToSign full = req;
	full.headers.insert(full.headers.end(), added.begin(), added.end());
	std::string signed_headers;
	std::string canonical = CanonicalRequest(full, &signed_headers);
	std::string key = SigningKey(amz_date.substr(0, 8), creds.secret_access_key);
	std::string sig = HmacSha256(key, StringToSign(amz_date, canonical));
	added.emplace_back("Authorization",
					   "AWS4-HMAC-SHA256 Credential=" + creds.access_key_id + "/" + amz_date.substr(0, 8) + "/" +
						   region_ + "/" + service_ + "/aws4_request,SignedHeaders=" + signed_headers +
						   ",Signature=" + ToHex(reinterpret_cast<const uint8_t *>(sig.data()), sig.size()));
	return added;
}

} // namespace pgbk::s3
