// AWS Signature Version 4 for S3 requests, computed by pgbk with OpenSSL. libcurl's own
// SigV4 (7.88) signs some requests wrongly (unsorted query, header order, no payload
// hash): see docs/s3.md. The canonical request is built here from scratch.
#pragma once
#include "pgbk/error.hpp"

#include <ctime>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgbk::s3 {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct Credentials {
	std::string access_key_id, secret_access_key, session_token;
};

struct RequestToSign {
	std::string method; // "GET", "PUT", ...
	std::string canonical_uri; // URI-encoded path, e.g. "/bucket/key%20name"
	HeaderList query; // raw (not encoded) names and values; a flag has an empty value
	HeaderList headers; // must include "host"; names in any case
	std::string payload_sha256; // lower-case hex digest of the body, or "UNSIGNED-PAYLOAD"
};

// RFC 3986 encoding as SigV4 wants it: everything but A-Z a-z 0-9 - _ . ~ is %XX
// (upper-case hex); '/' is kept when encode_slash is false (object key paths).
std::string UriEncode(std::string_view s, bool encode_slash);
// "20130524T000000Z" for a UTC time.
std::string AmzDate(time_t t);

class SigV4Signer {
public:
	explicit SigV4Signer(std::string region, std::string service = "s3");
	// Returns the headers to send in addition to the request's own: x-amz-date,
	// x-amz-content-sha256, x-amz-security-token (with a session token) and
	// Authorization. The added x-amz-* headers are signed too.
	HeaderList Sign(const RequestToSign &req, const Credentials &creds, time_t now);
	// Pieces of the computation, exposed for tests.
	static std::string CanonicalQuery(const HeaderList &query);
	static std::string CanonicalRequest(const RequestToSign &req, std::string *signed_headers);
	std::string StringToSign(const std::string &amz_date, const std::string &canonical_request) const;

private:
	std::string SigningKey(const std::string &date, const std::string &secret);
	std::string region_, service_;
	std::mutex mu_;
	// Deriving the key takes four HMACs: cache it for the current date and secret.
	std::string key_date_, key_secret_digest_, key_;
};

} // namespace pgbk::s3
