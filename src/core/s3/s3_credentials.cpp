#include "pgbk/s3_credentials.hpp"

#include "pgbk/fileio.hpp"

#include "s3_xml.hpp"

#include "pgbk/http_transport.hpp"
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

namespace pgbk::s3 {
namespace {

using detail::Shown;
using detail::XmlDoc;

// One small HTTP exchange with a credential endpoint (STS, the container agent, IMDS).
struct HttpReply {
	long status = 0;
	std::string body;
};

struct HttpCall {
	std::string method = "GET", url, body;
	http::Headers headers;
	std::chrono::milliseconds connect_timeout{2000}, total_timeout{10000};
	std::string ca_file;
	bool verify_tls = true;
};

// One exchange through the HTTP transport, on a connection of its own (credentials are
// fetched rarely, from whichever thread renews them). Throws Io when the endpoint does
// not answer.
HttpReply
Exchange(const HttpCall &call, const std::string &what)
{
	http::TransportOptions options;
	options.connect_timeout = call.connect_timeout;
	options.total_timeout = call.total_timeout;
	options.low_speed_time = std::chrono::seconds(0);
	options.verify_tls = call.verify_tls;
	options.ca_file = call.ca_file;
	options.max_response_body = 1 << 20; // no credential answer is that large
	http::Transport transport(options);
	http::Request request;
	request.method = call.method;
	request.url = call.url;
	request.headers = call.headers;
	if (call.method == "POST" || call.method == "PUT")
		request.body = &call.body;
	http::Attempt a = transport.Perform(request);
	if (a.failure != http::TransportFailure::None)
		throw Error(ErrorKind::Io, what + " did not answer at " + call.url + ": " + a.error);
	return HttpReply{a.response.status, std::move(a.response.body)};
}

std::string
ReadTokenFile(const std::string &path, const char *variable)
{
	std::ifstream in(path);
	if (!in)
		throw Error(ErrorKind::Config, std::string("cannot read the token file ") + variable + " = " + path,
					"The file is mounted by the platform (a projected service account token); check the pod's "
					"volume and that the server's user can read it.");
	std::stringstream ss;
	ss << in.rdbuf();
	std::string token = ss.str();
	while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' '))
		token.pop_back();
	if (token.empty())
		throw Error(ErrorKind::Config, std::string("the token file ") + variable + " = " + path + " is empty");
	return token;
}

std::string
FormEncode(const std::string &s)
{
	return UriEncode(s, true);
}

// The JSON both the container agent and IMDS answer with.
ExpiringCredentials
FromJson(const std::string &body, const std::string &what)
{
	nlohmann::json j;
	try {
		j = nlohmann::json::parse(body);
	} catch (const nlohmann::json::exception &) {
		throw Error(ErrorKind::Io, what + " answered with something that is not JSON: " + Shown(body));
	}
	if (!j.is_object() || !j.contains("AccessKeyId") || !j.contains("SecretAccessKey"))
		throw Error(ErrorKind::Io, what + " answered without AccessKeyId and SecretAccessKey");
	if (j.contains("Code") && j["Code"].is_string() && j["Code"] != "Success")
		throw Error(ErrorKind::Io, what + " answered " + Shown(j["Code"].get<std::string>()));
	ExpiringCredentials c;
	try {
		c.keys.access_key_id = j["AccessKeyId"].get<std::string>();
		c.keys.secret_access_key = j["SecretAccessKey"].get<std::string>();
		if (j.contains("Token") && j["Token"].is_string())
			c.keys.session_token = j["Token"].get<std::string>();
		if (j.contains("Expiration") && j["Expiration"].is_string())
			c.expires = ParseProviderTime(j["Expiration"].get<std::string>());
	} catch (const nlohmann::json::exception &) {
		throw Error(ErrorKind::Io, what + " answered with credentials that are not strings");
	}
	return c;
}

class StaticSource final : public CredentialSource {
public:
	explicit StaticSource(Credentials keys) : keys_(std::move(keys)) {}
	ExpiringCredentials
	Fetch() override
	{
		return {keys_, std::nullopt};
	}
	std::string
	Describe() const override
	{
		return "static keys (pgbk.s3_access_key_id)";
	}

private:
	Credentials keys_;
};

// AWS_WEB_IDENTITY_TOKEN_FILE + AWS_ROLE_ARN: the token (re-read at every refresh, the
// platform rotates it) is exchanged for a session at STS. The call is not signed.
class WebIdentitySource final : public CredentialSource {
public:
	WebIdentitySource(const CredentialContext &c, std::string token_file, std::string role_arn)
		: token_file_(std::move(token_file)), role_arn_(std::move(role_arn)), ca_file_(c.ca_file),
		  verify_tls_(c.verify_tls)
	{
		session_name_ = c.env("AWS_ROLE_SESSION_NAME");
		if (session_name_.empty())
			session_name_ = "pgbk-" + std::to_string(time(nullptr));
		endpoint_ = c.env("AWS_ENDPOINT_URL_STS");
		if (endpoint_.empty())
			endpoint_ = "https://sts." + (c.region.empty() ? std::string("us-east-1") : c.region) + ".amazonaws.com";
		endpoint_ = StripTrailingSlashes(endpoint_, false);
	}
	ExpiringCredentials
	Fetch() override
	{
		HttpCall call;
		call.method = "POST";
		call.url = endpoint_ + "/";
		call.headers = {{"Content-Type", "application/x-www-form-urlencoded"}, {"Accept", "application/xml"}};
		call.body = "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=" + FormEncode(role_arn_) +
					"&RoleSessionName=" + FormEncode(session_name_) +
					"&WebIdentityToken=" + FormEncode(ReadTokenFile(token_file_, "AWS_WEB_IDENTITY_TOKEN_FILE"));
		call.ca_file = ca_file_;
		call.verify_tls = verify_tls_;
		HttpReply r = Exchange(call, "STS");
		XmlDoc doc(r.body);
		if (r.status != 200) {
			xmlNode *err = XmlDoc::Child(doc.Root(), "Error");
			std::string code = XmlDoc::ChildText(err, "Code"), message = XmlDoc::ChildText(err, "Message");
			throw Error(r.status >= 500 ? ErrorKind::Io : ErrorKind::Config,
						"STS AssumeRoleWithWebIdentity for " + role_arn_ + " at " + endpoint_ + " refused: HTTP " +
							std::to_string(r.status) + (code.empty() ? "" : " " + Shown(code)) +
							(message.empty() ? "" : ": " + Shown(message)),
						"Check that AWS_ROLE_ARN's trust policy accepts the token's issuer and subject (the "
						"service account).");
		}
		xmlNode *result = XmlDoc::Child(doc.Root(), "AssumeRoleWithWebIdentityResult");
		xmlNode *creds = XmlDoc::Child(result, "Credentials");
		ExpiringCredentials c;
		c.keys.access_key_id = XmlDoc::ChildText(creds, "AccessKeyId");
		c.keys.secret_access_key = XmlDoc::ChildText(creds, "SecretAccessKey");
		c.keys.session_token = XmlDoc::ChildText(creds, "SessionToken");
		std::string expiration = XmlDoc::ChildText(creds, "Expiration");
		if (c.keys.access_key_id.empty() || c.keys.secret_access_key.empty())
			throw Error(ErrorKind::Io, "STS at " + endpoint_ + " answered without credentials: " + Shown(r.body));
		if (!expiration.empty())
			c.expires = ParseProviderTime(expiration);
		return c;
	}
	std::string
	Describe() const override
	{
		return "web identity (role " + role_arn_ + ", STS " + endpoint_ + ")";
	}

private:
	std::string token_file_, role_arn_, session_name_, endpoint_, ca_file_;
	bool verify_tls_;
};

bool
HostAllowedForPlainHttp(const std::string &host)
{
	// The SDKs' rule: over plain HTTP only the machine itself, or the link-local agents
	// of ECS and EKS Pod Identity.
	return host == "localhost" || host.rfind("127.", 0) == 0 || host == "[::1]" || host == "169.254.170.2" ||
		   host == "169.254.170.23" || host == "[fd00:ec2::23]";
}

std::string
HostOf(const std::string &url)
{
	auto sep = url.find("://");
	std::string rest = sep == std::string::npos ? url : url.substr(sep + 3);
	rest = rest.substr(0, rest.find('/'));
	if (!rest.empty() && rest.front() == '[')
		return rest.substr(0, rest.find(']') + 1);
	return rest.substr(0, rest.find(':'));
}

// AWS_CONTAINER_CREDENTIALS_RELATIVE_URI (ECS) or _FULL_URI (EKS Pod Identity), with the
// authorization token from AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (re-read each time)
// or AWS_CONTAINER_AUTHORIZATION_TOKEN.
class ContainerSource final : public CredentialSource {
public:
	explicit ContainerSource(const CredentialContext &c) : ca_file_(c.ca_file), verify_tls_(c.verify_tls)
	{
		std::string relative = c.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI");
		url_ = relative.empty() ? c.env("AWS_CONTAINER_CREDENTIALS_FULL_URI") : "http://169.254.170.2" + relative;
		token_file_ = c.env("AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
		token_ = c.env("AWS_CONTAINER_AUTHORIZATION_TOKEN");
		if (url_.rfind("http://", 0) == 0 && !HostAllowedForPlainHttp(HostOf(url_)))
			throw Error(ErrorKind::Config,
						"AWS_CONTAINER_CREDENTIALS_FULL_URI = " + url_ +
							" uses plain HTTP to another machine; only loopback and the ECS/EKS agent "
							"addresses may be reached without TLS",
						"Use an https:// URI, or the agent's address.");
		if (url_.rfind("http://", 0) != 0 && url_.rfind("https://", 0) != 0)
			throw Error(ErrorKind::Config,
						"AWS_CONTAINER_CREDENTIALS_FULL_URI = " + url_ + " must start with http:// or https://");
	}
	ExpiringCredentials
	Fetch() override
	{
		HttpCall call;
		call.url = url_;
		std::string token =
			token_file_.empty() ? token_ : ReadTokenFile(token_file_, "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE");
		if (!token.empty())
			call.headers.emplace_back("Authorization", token);
		call.ca_file = ca_file_;
		call.verify_tls = verify_tls_;
		HttpReply r = Exchange(call, "the container credential endpoint");
		if (r.status != 200)
			throw Error(r.status >= 500 ? ErrorKind::Io : ErrorKind::Config,
						"the container credential endpoint " + url_ + " refused: HTTP " + std::to_string(r.status) +
							" " + Shown(r.body),
						"Check the pod's association with a role (EKS Pod Identity) or the task role (ECS).");
		return FromJson(r.body, "the container credential endpoint " + url_);
	}
	std::string
	Describe() const override
	{
		return "container credentials (" + url_ + ")";
	}

private:
	std::string url_, token_file_, token_, ca_file_;
	bool verify_tls_;
};

// IMDSv2: a session token first (PUT), then the role's name and its credentials. Short
// timeouts: off EC2 nothing answers at the link-local address.
class InstanceMetadataSource final : public CredentialSource {
public:
	explicit InstanceMetadataSource(const CredentialContext &c)
	{
		endpoint_ = c.env("AWS_EC2_METADATA_SERVICE_ENDPOINT");
		if (endpoint_.empty())
			endpoint_ = "http://169.254.169.254";
		endpoint_ = StripTrailingSlashes(endpoint_, false);
	}
	ExpiringCredentials
	Fetch() override
	{
		HttpCall put;
		put.method = "PUT";
		put.url = endpoint_ + "/latest/api/token";
		put.headers = {{"X-aws-ec2-metadata-token-ttl-seconds", "21600"}};
		put.connect_timeout = std::chrono::milliseconds(1000);
		put.total_timeout = std::chrono::milliseconds(3000);
		HttpReply token = Exchange(put, "the instance metadata service");
		if (token.status != 200 || token.body.empty())
			throw Error(ErrorKind::Io, "the instance metadata service at " + endpoint_ +
										   " gave no session token (HTTP " + std::to_string(token.status) + ")");
		HttpCall get = put;
		get.method = "GET";
		get.headers = {{"X-aws-ec2-metadata-token", token.body}};
		get.url = endpoint_ + "/latest/meta-data/iam/security-credentials/";
		HttpReply roles = Exchange(get, "the instance metadata service");
		std::string role = roles.body.substr(0, roles.body.find('\n'));
		if (roles.status != 200 || role.empty())
			throw Error(ErrorKind::Config,
						"the instance metadata service at " + endpoint_ + " names no IAM role (HTTP " +
							std::to_string(roles.status) + ")",
						"Attach an instance profile with a role to this instance, or set pgbk.s3_access_key_id.");
		get.url += UriEncode(role, true);
		HttpReply creds = Exchange(get, "the instance metadata service");
		if (creds.status != 200)
			throw Error(ErrorKind::Io, "the instance metadata service at " + endpoint_ +
										   " refused the credentials of role " + Shown(role) + " (HTTP " +
										   std::to_string(creds.status) + ")");
		return FromJson(creds.body, "the instance metadata service at " + endpoint_);
	}
	std::string
	Describe() const override
	{
		return "the EC2 instance metadata service (" + endpoint_ + ")";
	}

private:
	std::string endpoint_;
};

std::string
ProcessEnv(const char *name)
{
	const char *v = std::getenv(name);
	return v ? v : "";
}

} // namespace

WallClock::time_point
ParseProviderTime(const std::string &text)
{
	struct tm tm = {};
	int consumed = 0;
	if (sscanf(text.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour, &tm.tm_min,
			   &tm.tm_sec, &consumed) != 6)
		throw Error(ErrorKind::Io, "credential expiration \"" + Shown(text) + "\" is not an ISO 8601 time");
	std::string rest = text.substr(static_cast<size_t>(consumed));
	if (!rest.empty() && rest[0] == '.')
		rest.erase(0, rest.find_first_not_of("0123456789", 1));
	if (rest != "Z" && rest != "+00:00")
		throw Error(ErrorKind::Io, "credential expiration \"" + Shown(text) + "\" is not in UTC");
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return WallClock::from_time_t(timegm(&tm));
}

CredentialsProvider::CredentialsProvider(std::unique_ptr<CredentialSource> source) : source_(std::move(source)) {}

Credentials
CredentialsProvider::Current()
{
	auto now = WallClock::now();
	auto needs_fetch = [&] {
		if (!current_)
			return true;
		if (!current_->expires)
			return false;
		auto life = *current_->expires - fetched_at_;
		auto window = std::min<WallClock::duration>(std::chrono::minutes(5), life / 2);
		return now + window >= *current_->expires && now >= retry_at_;
	};
	{
		std::lock_guard<std::mutex> g(mu_);
		if (!needs_fetch())
			return current_->keys;
	}
	std::lock_guard<std::mutex> one(fetch_mu_);
	{
		std::lock_guard<std::mutex> g(mu_);
		now = WallClock::now();
		if (!needs_fetch()) // another thread fetched meanwhile
			return current_->keys;
	}
	try {
		ExpiringCredentials fresh = source_->Fetch();
		std::lock_guard<std::mutex> g(mu_);
		current_ = std::move(fresh);
		fetched_at_ = WallClock::now();
		fetches_++;
		return current_->keys;
	} catch (const Error &e) {
		std::lock_guard<std::mutex> g(mu_);
		fetches_++;
		if (current_ && current_->expires && WallClock::now() < *current_->expires) {
			retry_at_ = WallClock::now() + std::chrono::seconds(10);
			return current_->keys; // still valid: use them, try again soon
		}
		throw Error(e.kind(), "no S3 credentials from " + source_->Describe() + ": " + e.what(), e.hint());
	}
}

void
CredentialsProvider::Rejected(const Credentials &used)
{
	std::lock_guard<std::mutex> g(mu_);
	if (current_ && current_->expires && current_->keys.access_key_id == used.access_key_id &&
		current_->keys.session_token == used.session_token) {
		current_.reset();
		retry_at_ = {};
	}
}

std::string
CredentialsProvider::Describe() const
{
	return source_->Describe();
}

uint64_t
CredentialsProvider::Fetches() const
{
	std::lock_guard<std::mutex> g(mu_);
	return fetches_;
}

bool
CredentialsProvider::Temporary() const
{
	return dynamic_cast<const StaticSource *>(source_.get()) == nullptr;
}

std::shared_ptr<CredentialsProvider>
ResolveCredentials(CredentialMode mode, const Credentials &static_keys, const CredentialContext &given)
{
	CredentialContext c = given;
	if (!c.env)
		c.env = ProcessEnv;
	std::unique_ptr<CredentialSource> source;
	if (mode == CredentialMode::Static || !static_keys.access_key_id.empty()) {
		if (static_keys.access_key_id.empty() || static_keys.secret_access_key.empty())
			throw Error(ErrorKind::Config,
						"pgbk.s3_credentials = static needs pgbk.s3_access_key_id and pgbk.s3_secret_access_key",
						"Set both, or set pgbk.s3_credentials = auto to use the platform's credentials (web "
						"identity, container credentials, instance metadata).");
		return std::make_shared<CredentialsProvider>(std::make_unique<StaticSource>(static_keys));
	}
	std::string token_file = c.env("AWS_WEB_IDENTITY_TOKEN_FILE"), role_arn = c.env("AWS_ROLE_ARN");
	if (!token_file.empty() && !role_arn.empty())
		source = std::make_unique<WebIdentitySource>(c, token_file, role_arn);
	else if (!c.env("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI").empty() ||
			 !c.env("AWS_CONTAINER_CREDENTIALS_FULL_URI").empty())
		source = std::make_unique<ContainerSource>(c);
	else if (c.env("AWS_EC2_METADATA_DISABLED") != "true")
		source = std::make_unique<InstanceMetadataSource>(c);
	else
		throw Error(ErrorKind::Config,
					"no S3 credentials: pgbk.s3_access_key_id is empty, no web identity or container credentials "
					"are configured and AWS_EC2_METADATA_DISABLED=true",
					"Set pgbk.s3_access_key_id and pgbk.s3_secret_access_key, or give the server the platform's "
					"credentials (AWS_WEB_IDENTITY_TOKEN_FILE and AWS_ROLE_ARN, or "
					"AWS_CONTAINER_CREDENTIALS_FULL_URI).");
	// One provider per source within the process: what it fetched survives reopening.
	static std::mutex registry_mu;
	static std::map<std::string, std::shared_ptr<CredentialsProvider>> registry;
	std::string id = source->Describe() + "|" + c.ca_file + "|" + (c.verify_tls ? "1" : "0");
	std::lock_guard<std::mutex> g(registry_mu);
	auto &slot = registry[id];
	if (!slot)
		slot = std::make_shared<CredentialsProvider>(std::move(source));
	return slot;
}

} // namespace pgbk::s3
