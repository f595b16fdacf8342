// Where the S3 client's keys come from: static keys (pgbk.s3_access_key_id, ...) or,
// with pgbk.s3_credentials = auto and no static keys, the providers of the AWS SDKs in
// their order: web identity (IRSA, GKE workload identity: a token file and a role, STS
// AssumeRoleWithWebIdentity), container credentials (ECS, EKS Pod Identity) and the EC2
// instance metadata service (IMDSv2). Temporary credentials are fetched again before
// they expire; every request asks for the current ones, so no reload is needed.
#pragma once
#include "pgbk/error.hpp"
#include "pgbk/sigv4.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

namespace pgbk::s3 {

using WallClock = std::chrono::system_clock;

struct ExpiringCredentials {
	Credentials keys;
	std::optional<WallClock::time_point> expires; // none: they do not expire
};

// One provider of the chain.
class CredentialSource {
public:
	virtual ~CredentialSource() = default;
	// Throws Error: Config when the provider's own settings are wrong, Io when it did
	// not answer or refused.
	virtual ExpiringCredentials Fetch() = 0;
	// For messages: "web identity (role arn:aws:iam::1:role/db, STS https://...)".
	virtual std::string Describe() const = 0;
};

// Shared by every client (and thread) of a store: hands out the current credentials,
// fetching new ones 5 minutes before they expire (half-way through a shorter life).
// A failed refresh keeps the old credentials while they are valid and is tried again
// after 10 s; once they expired, the failure is thrown.
class CredentialsProvider {
public:
	explicit CredentialsProvider(std::unique_ptr<CredentialSource> source);
	Credentials Current();
	// The store said these credentials expired or are unknown (a revoked session): the
	// next Current() fetches new ones, unless another thread already did.
	void Rejected(const Credentials &used);
	std::string Describe() const;
	// How many times the source was asked (tests, and pgbk check-store).
	uint64_t Fetches() const;
	// Whether the credentials can change (a refreshed session) or are static keys.
	bool Temporary() const;

private:
	std::unique_ptr<CredentialSource> source_;
	mutable std::mutex mu_; // guards the fields below
	std::mutex fetch_mu_; // one fetch at a time
	std::optional<ExpiringCredentials> current_;
	WallClock::time_point fetched_at_{}, retry_at_{};
	uint64_t fetches_ = 0;
};

// Everything a credential provider reads that does not come from pgbk's settings.
struct CredentialContext {
	std::string region; // for the regional STS endpoint
	std::string ca_file; // pgbk.s3_ca_file: also trusted for STS and container endpoints
	bool verify_tls = true;
	// The environment (getenv by default; tests give their own).
	std::function<std::string(const char *)> env;
};

enum class CredentialMode { Static, Auto };

// The provider pgbk.s3_credentials asks for: static keys when given (or mode Static),
// else the first provider of the chain whose environment is set (web identity,
// container), else IMDSv2 (unless AWS_EC2_METADATA_DISABLED=true). Providers are
// shared within the process, so reopening a repository reuses what was fetched.
// Throws Config when nothing provides credentials.
std::shared_ptr<CredentialsProvider> ResolveCredentials(CredentialMode mode, const Credentials &static_keys,
														const CredentialContext &context);

// Parses an ISO 8601 UTC time as the providers write it ("2026-12-03T16:00:00Z", with or
// without fractional seconds). Throws Io.
WallClock::time_point ParseProviderTime(const std::string &text);

} // namespace pgbk::s3
