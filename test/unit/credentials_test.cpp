// The credential chain against the endpoints' own small HTTP protocols, served by
// test/s3/credential-endpoints.py (started here): web identity through STS, container
// credentials with an authorization token file, IMDSv2; temporary credentials are
// fetched again before they expire. With radosgw running (scripts/test.sh), requests
// signed with what the chain fetched are accepted by a real store.
#include "pgbk/s3_client.hpp"
#include "pgbk/s3_credentials.hpp"
#include "test_util.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <map>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

using namespace pgbk;
using namespace pgbk::s3;

namespace {

const char *
EnvOr(const char *name, const char *fallback)
{
	const char *v = std::getenv(name);
	return v && *v ? v : fallback;
}

// The endpoints, on a free loopback port, for the life of the test.
class CredentialEndpoints {
public:
	explicit CredentialEndpoints(int lifetime_seconds)
	{
		int out[2];
		if (pipe(out) != 0)
			throw std::runtime_error("pipe");
		pid_ = fork();
		if (pid_ == 0) {
			dup2(out[1], 1);
			close(out[0]);
			std::string script = std::string(PGBK_SOURCE_DIR) + "/test/s3/credential-endpoints.py";
			std::string life = std::to_string(lifetime_seconds);
			execl("/usr/bin/python3", "python3", script.c_str(), EnvOr("PGBK_TEST_S3_ACCESS_KEY", "AKIDTEST"),
				  EnvOr("PGBK_TEST_S3_SECRET_KEY", "secret"), life.c_str(), nullptr);
			_exit(127);
		}
		close(out[1]);
		char line[32] = "";
		FILE *f = fdopen(out[0], "r");
		if (f == nullptr || fgets(line, sizeof line, f) == nullptr)
			throw std::runtime_error("the credential endpoints did not start");
		fclose(f);
		url_ = "http://127.0.0.1:" + std::string(line, strcspn(line, "\n"));
	}
	~CredentialEndpoints()
	{
		kill(pid_, SIGTERM);
		waitpid(pid_, nullptr, 0);
	}
	const std::string &
	url() const
	{
		return url_;
	}

private:
	pid_t pid_ = -1;
	std::string url_;
};

CredentialContext
ContextOf(std::map<std::string, std::string> env)
{
	CredentialContext c;
	c.region = "us-east-1";
	c.env = [env](const char *name) {
		auto it = env.find(name);
		return it == env.end() ? std::string() : it->second;
	};
	return c;
}

const std::string kAccess = EnvOr("PGBK_TEST_S3_ACCESS_KEY", "AKIDTEST");

} // namespace

TEST(Credentials, StaticKeysWinAndStaticModeNeedsThem)
{
	auto p = ResolveCredentials(CredentialMode::Auto, {"AK", "SK", ""}, ContextOf({{"AWS_ROLE_ARN", "arn:x"}}));
	EXPECT_EQ(p->Current().access_key_id, "AK");
	EXPECT_FALSE(p->Temporary());
	try {
		ResolveCredentials(CredentialMode::Static, {}, ContextOf({}));
		FAIL();
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Config);
		EXPECT_NE(std::string(e.what()).find("pgbk.s3_access_key_id"), std::string::npos) << e.what();
	}
	try {
		ResolveCredentials(CredentialMode::Auto, {}, ContextOf({{"AWS_EC2_METADATA_DISABLED", "true"}}));
		FAIL();
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("no S3 credentials"), std::string::npos) << e.what();
	}
	// Plain HTTP to another machine is refused, as the SDKs refuse it.
	EXPECT_THROW(ResolveCredentials(CredentialMode::Auto, {},
									ContextOf({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", "http://10.1.2.3/creds"}})),
				 Error);
	EXPECT_EQ(WallClock::to_time_t(ParseProviderTime("2026-12-03T16:00:00Z")), 1796313600);
	EXPECT_EQ(WallClock::to_time_t(ParseProviderTime("2026-12-03T16:00:00.123Z")), 1796313600);
	EXPECT_THROW(ParseProviderTime("tomorrow"), Error);
}

TEST(Credentials, WebIdentityContainerAndInstanceMetadataAreFetchedAndRenewed)
{
	CredentialEndpoints endpoints(4); // a 4 s life: renewed 2 s before it ends
	test::TempDir dir;
	test::WriteFile(dir / "token", "the-projected-service-account-token\n");
	test::WriteFile(dir / "container-token", "container-authorization-token");
	std::map<std::string, std::map<std::string, std::string>> chains = {
		{"web identity",
		 {{"AWS_WEB_IDENTITY_TOKEN_FILE", dir / "token"},
		  {"AWS_ROLE_ARN", "arn:aws:iam::123456789012:role/db"},
		  {"AWS_ENDPOINT_URL_STS", endpoints.url() + "/sts"}}},
		{"container credentials",
		 {{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoints.url() + "/container"},
		  {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir / "container-token"}}},
		{"instance metadata", {{"AWS_EC2_METADATA_SERVICE_ENDPOINT", endpoints.url()}}},
	};
	for (const auto &[name, env] : chains) {
		SCOPED_TRACE(name);
		auto provider = ResolveCredentials(CredentialMode::Auto, {}, ContextOf(env));
		EXPECT_TRUE(provider->Temporary());
		EXPECT_EQ(provider->Current().access_key_id, kAccess);
		EXPECT_EQ(provider->Fetches(), 1u);
		EXPECT_EQ(provider->Current().access_key_id, kAccess);
		EXPECT_EQ(provider->Fetches(), 1u) << "valid credentials are reused";
		// Renewed before they expire: wait (bounded) until the provider fetched anew.
		auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
		while (provider->Fetches() < 2 && std::chrono::steady_clock::now() < deadline) {
			provider->Current();
			std::this_thread::sleep_for(std::chrono::milliseconds(100));
		}
		EXPECT_EQ(provider->Fetches(), 2u) << "renewed once, before expiry";
		// A store that rejects them makes the next request fetch again.
		provider->Rejected(provider->Current());
		provider->Current();
		EXPECT_EQ(provider->Fetches(), 3u);
		// Providers are shared in the process: reopening reuses what was fetched.
		EXPECT_EQ(ResolveCredentials(CredentialMode::Auto, {}, ContextOf(env)).get(), provider.get());
	}
	// A wrong token is the provider's refusal, named.
	test::WriteFile(dir / "container-token", "wrong");
	auto wrong =
		ResolveCredentials(CredentialMode::Auto, {},
						   ContextOf({{"AWS_CONTAINER_CREDENTIALS_FULL_URI", endpoints.url() + "/container?wrong"},
									  {"AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE", dir / "container-token"}}));
	try {
		wrong->Current();
		FAIL();
	} catch (const Error &e) {
		EXPECT_NE(std::string(e.what()).find("no S3 credentials from container credentials"), std::string::npos)
			<< e.what();
	}
	// A real store accepts requests signed with what the chain fetched.
	if (!std::getenv("PGBK_TEST_S3_ENDPOINT"))
		GTEST_SKIP() << "PGBK_TEST_S3_ENDPOINT not set (scripts/test.sh starts radosgw)";
	S3Options opts;
	opts.endpoint = std::getenv("PGBK_TEST_S3_ENDPOINT");
	opts.path_style = true;
	opts.retry_budget = std::chrono::seconds(10);
	opts.credentials_provider = ResolveCredentials(CredentialMode::Auto, {}, ContextOf(chains["instance metadata"]));
	S3Client client(opts, "pgbk-unit-credentials-" + std::to_string(getpid()));
	client.CreateBucket();
	client.PutObject("fetched-credentials", "signed with IMDS credentials", false);
	std::string out;
	client.GetRange("fetched-credentials", 0, 100, out);
	EXPECT_EQ(out, "signed with IMDS credentials");
	client.DeleteObject("fetched-credentials");
}

TEST(S3Answers, OnlyWhatMayPassIsRetried)
{
	EXPECT_EQ(ClassifyResponse(200, ""), ResponseClass::Done);
	EXPECT_EQ(ClassifyResponse(503, "SlowDown"), ResponseClass::Retry);
	EXPECT_EQ(ClassifyResponse(500, ""), ResponseClass::Retry);
	EXPECT_EQ(ClassifyResponse(429, ""), ResponseClass::Retry);
	EXPECT_EQ(ClassifyResponse(400, "RequestTimeout"), ResponseClass::Retry);
	EXPECT_EQ(ClassifyResponse(409, "ConditionalRequestConflict"), ResponseClass::Retry);
	EXPECT_EQ(ClassifyResponse(403, "RequestTimeTooSkewed"), ResponseClass::ClockSkew);
	EXPECT_EQ(ClassifyResponse(400, "ExpiredToken"), ResponseClass::CredentialsExpired);
	// Permanent: never retried (a 501 used to spend the whole retry budget).
	EXPECT_EQ(ClassifyResponse(501, "NotImplemented"), ResponseClass::Final);
	EXPECT_EQ(ClassifyResponse(400, "InvalidArgument"), ResponseClass::Final);
	EXPECT_EQ(ClassifyResponse(403, "SignatureDoesNotMatch"), ResponseClass::Final);
	EXPECT_EQ(ClassifyResponse(404, "NoSuchKey"), ResponseClass::Final);
	EXPECT_EQ(ClassifyResponse(412, "PreconditionFailed"), ResponseClass::Final);
}
