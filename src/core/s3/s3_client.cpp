#include "pgbk/s3_client.hpp"

#include "pgbk/fileio.hpp"
#include "pgbk/hash.hpp"
#include "pgbk/http_transport.hpp"
#include "pgbk/numbers.hpp"
#include "s3_xml.hpp"

#include "pgbk/notices.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <cstring>
#include <mutex>
#include <openssl/evp.h>
#include <random>
#include <thread>

namespace pgbk::s3 {
namespace {

using detail::Shown;
using detail::XmlDoc;

std::string
Base64(const unsigned char *data, size_t len)
{
	std::string out(4 * ((len + 2) / 3) + 1, '\0');
	int n = EVP_EncodeBlock(reinterpret_cast<unsigned char *>(out.data()), data, static_cast<int>(len));
	out.resize(static_cast<size_t>(n));
	return out;
}

std::string
Md5Base64(const std::string &data)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	if (EVP_Digest(data.data(), data.size(), md, &len, EVP_md5(), nullptr) != 1)
		throw Error(ErrorKind::Io, "MD5 failed");
	return Base64(md, len);
}

std::string
XmlEscape(const std::string &s)
{
	std::string out;
	for (char c : s) {
		switch (c) {
		case '&':
			out += "&amp;";
			break;
		case '<':
			out += "&lt;";
			break;
		case '>':
			out += "&gt;";
			break;
		case '"':
			out += "&quot;";
			break;
		case '\'':
			out += "&apos;";
			break;
		default:
			out += c;
		}
	}
	return out;
}

using HttpResult = http::Response;

// The object length after the '/' of a Content-Range header.
uint64_t
ObjectLengthOf(const std::string &bucket, const std::string &key, const std::string &length)
{
	auto n = ParseDecimal(length);
	if (!n)
		throw Error(ErrorKind::Io, "S3 GET " + bucket + "/" + key +
									   " answered with a Content-Range length that is not a number: " + Shown(length));
	return *n;
}

struct StoreFeatures {
	std::atomic<bool> conditional_put_missing{false};
	std::atomic<bool> conditional_complete_missing{false};
	std::atomic<bool> probed{false};
};

StoreFeatures &
FeaturesOf(const std::string &store)
{
	static std::mutex mu;
	static std::map<std::string, std::unique_ptr<StoreFeatures>> stores; // bounded by the stores a process uses
	std::lock_guard<std::mutex> g(mu);
	auto &f = stores[store];
	if (!f)
		f = std::make_unique<StoreFeatures>();
	return *f;
}

// What a store's error code means for the operator, and what to do.
std::string
AdviceFor(long status, const std::string &code)
{
	if (code == "NotImplemented" || status == 501)
		return "the store does not implement this request; pgbk cannot use it for this operation";
	if (code == "AuthorizationHeaderMalformed" || code == "PermanentRedirect" || status == 301)
		return "the bucket is in another region or at another endpoint: check pgbk.s3_region and "
			   "pgbk.s3_endpoint";
	if (code == "InvalidArgument" || code == "InvalidRequest" || code == "InvalidStorageClass" ||
		code == "InvalidEncryptionAlgorithmError" || code == "KMS.NotFoundException")
		return "the store refused a setting pgbk sent: check pgbk.s3_sse, pgbk.s3_sse_kms_key_id and "
			   "pgbk.s3_storage_class for this store";
	if (code == "EntityTooLarge" || status == 413)
		return "the store takes smaller objects or parts: lower pgbk.s3_part_size";
	if (code == "InvalidBucketName" || code == "InvalidURI")
		return "the store did not accept the address: check pgbk.repository and pgbk.s3_uri_style";
	if (code == "ExpiredToken" || code == "InvalidToken" || code == "TokenRefreshRequired")
		return "the session token was refused: give fresh credentials (pgbk.s3_session_token) or let "
			   "pgbk.s3_credentials = auto refresh them";
	if (status == 405 || status == 400)
		return "the store refused the request; run pgbk check-store against it to see which part of S3 it "
			   "lacks";
	return "";
}

} // namespace

ResponseClass
ClassifyResponse(long status, const std::string &code)
{
	if (status >= 200 && status < 300)
		return ResponseClass::Done;
	if (code == "RequestTimeTooSkewed")
		return ResponseClass::ClockSkew;
	if (code == "ExpiredToken" || code == "TokenRefreshRequired")
		return ResponseClass::CredentialsExpired;
	// Throttling and the store's own trouble pass; everything else is an answer.
	if (code == "SlowDown" || code == "Throttling" || code == "ThrottlingException" || code == "RequestTimeout" ||
		code == "InternalError" || code == "ServiceUnavailable" || code == "ConditionalRequestConflict" ||
		code == "OperationAborted" || status == 429 || status == 408)
		return ResponseClass::Retry;
	if (status >= 500 && status != 501 && status != 505)
		return ResponseClass::Retry;
	return ResponseClass::Final;
}

struct S3Client::Impl {
	// One request: the operation's S3 name (for messages) and its HTTP form.
	struct Request {
		const char *op;
		const char *method;
		std::string key;
		HeaderList query, headers;
		const std::string *body = nullptr;
	};

	S3Options opts;
	std::string scheme, authority, base_path;
	SigV4Signer signer;
	http::Transport transport;
	// The store's clock minus ours, learnt from a RequestTimeTooSkewed answer.
	time_t clock_offset = 0;
	StoreFeatures *features = nullptr;

	explicit Impl(S3Options o) : opts(std::move(o)), signer(opts.region), transport(TransportOptionsOf(opts)) {}

	static http::TransportOptions
	TransportOptionsOf(const S3Options &o)
	{
		http::TransportOptions t;
		t.connect_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(o.connect_timeout);
		t.low_speed_time = o.low_speed_time;
		t.verify_tls = o.verify_tls;
		t.ca_file = o.ca_file;
		t.should_cancel = o.should_cancel;
		return t;
	}

	// Host, URL path and canonical URI for a key ("" = the bucket itself).
	void
	Target(const std::string &bucket, const std::string &key, std::string *host, std::string *path) const
	{
		std::string k = UriEncode(key, false);
		if (opts.path_style) {
			*host = authority;
			*path = base_path + "/" + UriEncode(bucket, true) + (key.empty() ? "" : "/" + k);
		} else {
			*host = bucket + "." + authority;
			*path = base_path + "/" + k;
		}
	}

	Credentials
	CurrentCredentials() const
	{
		return opts.credentials_provider ? opts.credentials_provider->Current() : opts.credentials;
	}

	// The HTTP form of a request, signed with `creds` now (each attempt is signed anew).
	http::Request
	Signed(const std::string &bucket, const Request &rq, const Credentials &creds)
	{
		std::string host, path;
		Target(bucket, rq.key, &host, &path);
		std::string qs = SigV4Signer::CanonicalQuery(rq.query);
		static const std::string empty;
		const std::string &payload = rq.body ? *rq.body : empty;

		RequestToSign req;
		req.method = rq.method;
		req.canonical_uri = path;
		req.query = rq.query;
		req.headers = rq.headers;
		req.headers.emplace_back("host", host);
		req.payload_sha256 = ToHex(Sha256Of(payload));
		HeaderList signed_add = signer.Sign(req, creds, time(nullptr) + clock_offset);

		http::Request out;
		out.method = rq.method;
		out.url = scheme + "://" + host + path + (qs.empty() ? "" : "?" + qs);
		out.headers.emplace_back("Host", host);
		for (const auto &[k, v] : rq.headers)
			out.headers.emplace_back(k, v);
		for (const auto &[k, v] : signed_add)
			out.headers.emplace_back(k, v);
		out.body = &payload;
		return out;
	}

	static std::string
	CodeOf(const HttpResult &r)
	{
		XmlDoc doc(r.body);
		return XmlDoc::ChildText(doc.Root(), "Code");
	}

	// Runs a request through the transport's retries; returns the final answer (success,
	// or a final error status the caller classifies). Only what may pass is retried
	// (transport errors, 5xx but 501, throttling); a skewed clock and expired temporary
	// credentials are mended once and the request sent again.
	HttpResult
	Call(const std::string &bucket, const Request &rq)
	{
		bool clock_mended = false, credentials_renewed = false;
		Credentials creds;
		auto make = [&] {
			creds = CurrentCredentials();
			return Signed(bucket, rq, creds);
		};
		auto judge = [&](const HttpResult &r, std::string *why) {
			if (r.server_date > 0 && opts.clock)
				opts.clock->Observe(static_cast<int64_t>(r.server_date));
			std::string code = r.status >= 300 ? CodeOf(r) : "";
			switch (ClassifyResponse(r.status, code)) {
			case ResponseClass::Done:
			case ResponseClass::Final:
				return http::Verdict::Done;
			case ResponseClass::ClockSkew:
				if (clock_mended || r.server_date == 0)
					return http::Verdict::Done;
				clock_offset = r.server_date - time(nullptr);
				clock_mended = true;
				return http::Verdict::SendAgainNow;
			case ResponseClass::CredentialsExpired:
				if (credentials_renewed || !opts.credentials_provider || !opts.credentials_provider->Temporary())
					return http::Verdict::Done;
				opts.credentials_provider->Rejected(creds);
				credentials_renewed = true;
				return http::Verdict::SendAgainNow;
			case ResponseClass::Retry:
				*why = "HTTP " + std::to_string(r.status) + ErrorSuffix(r);
				return http::Verdict::RetryLater;
			}
			return http::Verdict::Done;
		};
		http::CallNames names;
		names.what = std::string("S3 ") + rq.op + " " + Describe(bucket) + "/" + rq.key;
		names.endpoint = Describe(bucket);
		names.tls_hint = "set pgbk.s3_ca_file to the CA that signed the endpoint's certificate (or "
						 "pgbk.s3_verify_tls = off for testing)";
		http::RetryPolicy policy;
		policy.budget = opts.retry_budget;
		return transport.Call(make, judge, names, policy);
	}

	static std::string
	ErrorSuffix(const HttpResult &r)
	{
		XmlDoc doc(r.body);
		std::string code = XmlDoc::ChildText(doc.Root(), "Code");
		std::string msg = XmlDoc::ChildText(doc.Root(), "Message");
		return code.empty() ? "" : " " + Shown(code) + (msg.empty() ? "" : ": " + Shown(msg));
	}

	std::string
	Describe(const std::string &bucket) const
	{
		return "s3://" + bucket + " at " + scheme + "://" + authority + base_path;
	}

	std::string
	CredentialSetting() const
	{
		return opts.credentials_provider && opts.credentials_provider->Temporary()
				   ? "the credentials from " + opts.credentials_provider->Describe()
				   : std::string("pgbk.s3_access_key_id");
	}

	// Turns a final non-2xx answer into the right error: the operation, the store's
	// code and what to do.
	[[noreturn]] void
	Fail(const std::string &bucket, const Request &rq, const HttpResult &r)
	{
		std::string code = CodeOf(r);
		std::string where = Describe(bucket) + (rq.key.empty() ? "" : "/" + rq.key);
		if (code == "InvalidAccessKeyId")
			throw Error(ErrorKind::Config, where + ": the store does not know access key \"" +
											   CurrentCredentials().access_key_id + "\" (InvalidAccessKeyId); check " +
											   CredentialSetting());
		if (code == "SignatureDoesNotMatch")
			throw Error(ErrorKind::Config, where + ": the store rejected the request signature "
												   "(SignatureDoesNotMatch); check pgbk.s3_secret_access_key and "
												   "pgbk.s3_region");
		if (code == "RequestTimeTooSkewed")
			throw Error(ErrorKind::Config, std::string("S3 ") + rq.op + " " + where +
											   ": the store refused this machine's clock (RequestTimeTooSkewed), "
											   "also after adjusting to the store's Date; check that the clock is "
											   "synchronised (NTP)");
		if (code == "NoSuchBucket")
			throw Error(ErrorKind::Config, "bucket \"" + bucket + "\" does not exist at " + scheme + "://" + authority +
											   "; create it or fix pgbk.repository");
		if (r.status == 403)
			throw Error(ErrorKind::Config, std::string("S3 ") + rq.op + " " + where + ": access denied (" +
											   (code.empty() ? "403" : Shown(code)) + "); check the rights of " +
											   CredentialSetting());
		if (r.status == 404)
			throw Error(ErrorKind::NotFound, where + " does not exist");
		if (r.status == 412)
			throw Error(ErrorKind::AlreadyExists, where + " already exists");
		// What Call returns unretried is an answer retrying cannot change: a configuration
		// to fix (an error of kind Config), never an outage to wait out in the spool.
		std::string advice = AdviceFor(r.status, code);
		throw Error(ErrorKind::Config, std::string("S3 ") + rq.op + " " + where + ": HTTP " + std::to_string(r.status) +
										   ErrorSuffix(r) + " (permanent, not retried)" +
										   (advice.empty() ? "" : "; " + advice));
	}

	HttpResult
	Must(const std::string &bucket, const Request &rq)
	{
		HttpResult r = Call(bucket, rq);
		if (r.status >= 300)
			Fail(bucket, rq, r);
		return r;
	}

	HeaderList
	WriteHeaders() const
	{
		HeaderList h;
		if (!opts.sse.empty())
			h.emplace_back("x-amz-server-side-encryption", opts.sse);
		if (opts.sse == "aws:kms" && !opts.sse_kms_key_id.empty())
			h.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", opts.sse_kms_key_id);
		if (!opts.storage_class.empty())
			h.emplace_back("x-amz-storage-class", opts.storage_class);
		return h;
	}

	// A store lacks conditional writes when it answers If-None-Match with NotImplemented
	// (Swift's S3 layer before 2.36) or refuses the header as unsupported.
	static bool
	RefusesCondition(const HttpResult &r)
	{
		if (r.status == 501)
			return true;
		std::string code = CodeOf(r);
		return r.status == 400 && (code == "NotImplemented" || code == "InvalidArgument") &&
			   r.body.find("If-None-Match") != std::string::npos;
	}

	// Whether a create-only write of this kind sends If-None-Match: * now.
	bool
	SendsCondition(const std::atomic<bool> &missing) const
	{
		return opts.conditional_writes == ConditionalWrites::On ||
			   (opts.conditional_writes == ConditionalWrites::Auto && !missing.load());
	}

	// The store answered a conditional write with NotImplemented: with `on` that is the
	// error; with `auto` it is remembered (and said once) and the write falls back.
	void
	ConditionRefused(const std::string &bucket, const Request &rq, const HttpResult &r, std::atomic<bool> &missing)
	{
		if (opts.conditional_writes == ConditionalWrites::On)
			throw Error(ErrorKind::Config,
						std::string("S3 ") + rq.op + " " + Describe(bucket) + "/" + rq.key +
							": the store does not implement conditional writes (If-None-Match: *, HTTP " +
							std::to_string(r.status) + ErrorSuffix(r) + ") and pgbk.s3_conditional_writes = on",
						"Set pgbk.s3_conditional_writes = auto (or off): pgbk then checks with a HEAD request before "
						"each create-only write.");
		if (!missing.exchange(true))
			PostNotice("pgbk: " + Describe(bucket) + " does not implement conditional writes (" + rq.op +
					   " with If-None-Match: * answered HTTP " + std::to_string(r.status) + ErrorSuffix(r) +
					   "); create-only writes check with HEAD first from now on, which does not exclude two "
					   "writers racing for the same key (pgbk.s3_conditional_writes)");
	}

	// Create-only without the store's help: absent now, then a plain write.
	void
	RefuseIfPresent(const std::string &bucket, const std::string &key)
	{
		HttpResult head = Call(bucket, Request{"HeadObject", "HEAD", key, {}, {}, nullptr});
		if (head.status < 300)
			throw Error(ErrorKind::AlreadyExists, Describe(bucket) + "/" + key + " already exists");
		if (head.status != 404)
			Fail(bucket, Request{"HeadObject", "HEAD", key, {}, {}, nullptr}, head);
	}

	// A write that, when `create_only`, must not replace an object: If-None-Match: *
	// where the store has it (`missing`: it was found not to, for this kind of write),
	// else absent by HEAD and then a plain write. The answer of the write that stored.
	HttpResult
	Write(const std::string &bucket, const Request &rq, bool create_only, std::atomic<bool> &missing)
	{
		if (create_only && SendsCondition(missing)) {
			Request conditional = rq;
			conditional.headers.emplace_back("If-None-Match", "*");
			HttpResult r = Call(bucket, conditional);
			if (r.status < 300)
				return r;
			if (!RefusesCondition(r))
				Fail(bucket, conditional, r);
			ConditionRefused(bucket, conditional, r, missing);
		}
		if (create_only)
			RefuseIfPresent(bucket, rq.key);
		return Must(bucket, rq);
	}
};

S3Client::S3Client(S3Options options, std::string bucket)
	: impl_(std::make_unique<Impl>(std::move(options))), bucket_(std::move(bucket))
{
	detail::GlobalInit();
	std::string ep =
		impl_->opts.endpoint.empty() ? "https://s3." + impl_->opts.region + ".amazonaws.com" : impl_->opts.endpoint;
	auto sep = ep.find("://");
	if (sep == std::string::npos)
		throw Error(ErrorKind::Config, "S3 endpoint \"" + ep + "\" needs a scheme: http:// or https://");
	impl_->scheme = ep.substr(0, sep);
	if (impl_->scheme != "http" && impl_->scheme != "https")
		throw Error(ErrorKind::Config, "S3 endpoint \"" + ep + "\" must start with http:// or https://");
	std::string rest = ep.substr(sep + 3);
	auto slash = rest.find('/');
	impl_->authority = rest.substr(0, slash);
	impl_->base_path = slash == std::string::npos ? "" : rest.substr(slash);
	impl_->base_path = StripTrailingSlashes(impl_->base_path, false);
	if (impl_->authority.empty())
		throw Error(ErrorKind::Config, "S3 endpoint \"" + ep + "\" has no host");
	impl_->features = &FeaturesOf(impl_->Describe(bucket_));
}

S3Client::~S3Client() = default;

std::string
S3Client::Describe() const
{
	return impl_->Describe(bucket_);
}

void
S3Client::PutObject(const std::string &key, const std::string &body, bool create_only)
{
	Impl &m = *impl_;
	m.Write(bucket_, Impl::Request{"PutObject", "PUT", key, {}, m.WriteHeaders(), &body}, create_only,
			m.features->conditional_put_missing);
}

std::string
S3Client::CreateMultipartUpload(const std::string &key)
{
	static const std::string empty;
	HttpResult r = impl_->Must(
		bucket_, Impl::Request{"CreateMultipartUpload", "POST", key, {{"uploads", ""}}, impl_->WriteHeaders(), &empty});
	XmlDoc doc(r.body);
	std::string id = XmlDoc::ChildText(doc.Root(), "UploadId");
	if (id.empty())
		throw Error(ErrorKind::Io, "S3 CreateMultipartUpload for " + key + " returned no UploadId");
	return id;
}

std::string
S3Client::UploadPart(const std::string &key, const std::string &upload_id, int part_number, const std::string &body)
{
	HttpResult r =
		impl_->Must(bucket_, Impl::Request{"UploadPart",
										   "PUT",
										   key,
										   {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}},
										   {},
										   &body});
	if (r.etag.empty())
		throw Error(ErrorKind::Io, "S3 UploadPart for " + key + " returned no ETag");
	return r.etag;
}

void
S3Client::CompleteMultipartUpload(const std::string &key, const std::string &upload_id,
								  const std::vector<std::string> &etags, bool create_only)
{
	Impl &m = *impl_;
	std::string xml = "<CompleteMultipartUpload>";
	for (size_t i = 0; i < etags.size(); i++)
		xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + XmlEscape(etags[i]) +
			   "</ETag></Part>";
	xml += "</CompleteMultipartUpload>";
	Impl::Request rq{"CompleteMultipartUpload", "POST", key, {{"uploadId", upload_id}}, {}, &xml};
	HttpResult r = m.Write(bucket_, rq, create_only, m.features->conditional_complete_missing);
	// A 200 may still carry an error document (S3 reports late failures this way).
	if (r.body.find("<Error>") != std::string::npos)
		throw Error(ErrorKind::Io, "S3 CompleteMultipartUpload for " + key + " failed:" + Impl::ErrorSuffix(r));
}

CreateOnlySupport
S3Client::ProbeCreateOnly(const std::string &probe_key)
{
	Impl &m = *impl_;
	CreateOnlySupport out;
	if (m.opts.conditional_writes == ConditionalWrites::Off) {
		out.conditional = false;
		out.how = "checked with HEAD before each write (pgbk.s3_conditional_writes = off)";
		return out;
	}
	PutObject(probe_key, "pgbk create-only probe", true);
	bool ignored = false;
	try {
		if (m.SendsCondition(m.features->conditional_put_missing)) {
			Impl::Request again{"PutObject", "PUT", probe_key, {}, m.WriteHeaders(), nullptr};
			static const std::string body = "pgbk create-only probe, second write";
			again.body = &body;
			again.headers.emplace_back("If-None-Match", "*");
			HttpResult r = m.Call(bucket_, again);
			if (r.status < 300)
				ignored = true; // the store overwrote an existing object
			else if (Impl::RefusesCondition(r))
				m.ConditionRefused(bucket_, again, r, m.features->conditional_put_missing);
			else if (r.status != 412)
				m.Fail(bucket_, again, r);
		}
	} catch (...) {
		try {
			DeleteObject(probe_key);
		} catch (...) {
		}
		throw;
	}
	DeleteObject(probe_key);
	m.features->probed = true;
	if (ignored) {
		if (m.opts.conditional_writes == ConditionalWrites::On)
			throw Error(ErrorKind::Config,
						Describe() + " ignores If-None-Match: * (a second create-only write replaced the object) and "
									 "pgbk.s3_conditional_writes = on",
						"Set pgbk.s3_conditional_writes = auto or off: pgbk then checks with HEAD before each "
						"create-only write.");
		if (!m.features->conditional_put_missing.exchange(true))
			PostNotice("pgbk: " + Describe() +
					   " ignores If-None-Match: * (it replaced an existing object); create-only writes check with "
					   "HEAD first from now on (pgbk.s3_conditional_writes)");
		m.features->conditional_complete_missing = true;
	}
	out.conditional = !m.features->conditional_put_missing.load();
	out.how = out.conditional ? "conditional writes (If-None-Match: *): the store decides between racing writers"
							  : "checked with HEAD before each write: the store lacks conditional writes, so two "
								"writers racing for one key are not excluded (pgbk.s3_conditional_writes = auto "
								"detected it; off skips the detection)";
	return out;
}

std::optional<bool>
S3Client::CreateOnlyIsConditional() const
{
	Impl &m = *impl_;
	if (m.opts.conditional_writes == ConditionalWrites::Off || m.features->conditional_put_missing.load())
		return false;
	if (m.opts.conditional_writes == ConditionalWrites::On || m.features->probed.load())
		return true;
	return std::nullopt;
}

void
S3Client::AbortMultipartUpload(const std::string &key, const std::string &upload_id)
{
	Impl::Request rq{"AbortMultipartUpload", "DELETE", key, {{"uploadId", upload_id}}, {}, nullptr};
	HttpResult r = impl_->Call(bucket_, rq);
	if (r.status >= 300 && r.status != 404)
		impl_->Fail(bucket_, rq, r);
}

std::optional<uint64_t>
S3Client::HeadObject(const std::string &key)
{
	Impl::Request rq{"HeadObject", "HEAD", key, {}, {}, nullptr};
	HttpResult r = impl_->Call(bucket_, rq);
	if (r.status == 404) {
		// HEAD has no body: tell a missing bucket from a missing key with a list call.
		return std::nullopt;
	}
	if (r.status >= 300)
		impl_->Fail(bucket_, rq, r);
	return r.content_length < 0 ? 0 : static_cast<uint64_t>(r.content_length);
}

uint64_t
S3Client::GetRange(const std::string &key, uint64_t offset, uint64_t length, std::string &out)
{
	out.clear();
	if (length == 0)
		return 0;
	Impl::Request rq{"GetObject",
					 "GET",
					 key,
					 {},
					 {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}},
					 nullptr};
	HttpResult r = impl_->Call(bucket_, rq);
	if (r.status == 416) { // at or past the end (or an empty object)
		auto slash = r.content_range.find('/');
		return slash == std::string::npos ? 0 : ObjectLengthOf(bucket_, key, r.content_range.substr(slash + 1));
	}
	if (r.status >= 300)
		impl_->Fail(bucket_, rq, r);
	out = std::move(r.body);
	uint64_t total = offset + out.size();
	auto slash = r.content_range.find('/');
	if (slash != std::string::npos && r.content_range.substr(slash + 1) != "*")
		total = ObjectLengthOf(bucket_, key, r.content_range.substr(slash + 1));
	else if (r.status == 200) // server ignored the range: whole object
	{
		total = out.size();
		out = offset < out.size() ? out.substr(offset, length) : std::string();
	}
	if (out.size() > length)
		throw Error(ErrorKind::Io, "S3 GET " + key + " returned more than the requested range");
	return total;
}

void
S3Client::ListObjects(const std::string &prefix, const std::string &delimiter,
					  const std::function<void(const S3Object &)> &fn, int page_size)
{
	std::string token;
	for (;;) {
		HeaderList q = {{"list-type", "2"}, {"prefix", prefix}, {"max-keys", std::to_string(page_size)}};
		if (!delimiter.empty())
			q.emplace_back("delimiter", delimiter);
		if (!token.empty())
			q.emplace_back("continuation-token", token);
		HttpResult r = impl_->Must(bucket_, Impl::Request{"ListObjectsV2", "GET", "", q, {}, nullptr});
		ListPage page = ParseListObjectsPage(r.body, Describe());
		for (const auto &o : page.entries)
			fn(o);
		if (!page.truncated)
			return;
		token = page.next_token;
	}
}

std::optional<int64_t>
ParseS3Time(const std::string &text)
{
	// YYYY-MM-DDTHH:MM:SS, then optional fraction, then Z.
	if (text.size() < 20 || text[4] != '-' || text[7] != '-' || text[10] != 'T' || text[13] != ':' || text[16] != ':' ||
		text.back() != 'Z')
		return std::nullopt;
	auto number = [&](size_t at, size_t len) -> std::optional<int> {
		int v = 0;
		for (size_t i = at; i < at + len; i++) {
			if (text[i] < '0' || text[i] > '9')
				return std::nullopt;
			v = v * 10 + (text[i] - '0');
		}
		return v;
	};
	for (size_t i = 19; i + 1 < text.size(); i++)
		if (!(i == 19 ? text[i] == '.' : text[i] >= '0' && text[i] <= '9'))
			return std::nullopt;
	auto y = number(0, 4), mo = number(5, 2), d = number(8, 2), h = number(11, 2), mi = number(14, 2),
		 sec = number(17, 2);
	if (!y || !mo || !d || !h || !mi || !sec || *mo < 1 || *mo > 12 || *d < 1 || *d > 31 || *h > 23 || *mi > 59 ||
		*sec > 60 || *y < 1970)
		return std::nullopt;
	struct tm tm {};
	tm.tm_year = *y - 1900;
	tm.tm_mon = *mo - 1;
	tm.tm_mday = *d;
	tm.tm_hour = *h;
	tm.tm_min = *mi;
	tm.tm_sec = *sec;
	return static_cast<int64_t>(timegm(&tm));
}

ListPage
ParseListObjectsPage(const std::string &body, const std::string &described)
{
	XmlDoc doc(body);
	xmlNode *root = doc.Root();
	if (root == nullptr)
		throw Error(ErrorKind::Io, "S3 ListObjectsV2 of " + described + " returned no XML");
	ListPage page;
	XmlDoc::ForEachChild(root, "Contents", [&](xmlNode *c) {
		std::string size = XmlDoc::ChildText(c, "Size");
		auto n = ParseDecimal(size);
		if (!n)
			throw Error(ErrorKind::Io,
						"S3 ListObjectsV2 of " + described + " gave a size that is not a number: " + Shown(size));
		page.entries.push_back(S3Object{XmlDoc::ChildText(c, "Key"), *n, false,
										ParseS3Time(XmlDoc::ChildText(c, "LastModified")).value_or(0)});
	});
	XmlDoc::ForEachChild(root, "CommonPrefixes", [&](xmlNode *c) {
		page.entries.push_back(S3Object{XmlDoc::ChildText(c, "Prefix"), 0, true});
	});
	// Keys and common prefixes interleave in key order.
	std::sort(page.entries.begin(), page.entries.end(),
			  [](const S3Object &a, const S3Object &b) { return a.key < b.key; });
	page.truncated = XmlDoc::ChildText(root, "IsTruncated") == "true";
	page.next_token = XmlDoc::ChildText(root, "NextContinuationToken");
	if (page.truncated && page.next_token.empty())
		throw Error(ErrorKind::Io, "S3 ListObjectsV2 of " + described + " is truncated without a token");
	return page;
}

std::vector<std::string>
S3Client::ListMultipartUploads(const std::string &prefix)
{
	HttpResult r = impl_->Must(
		bucket_, Impl::Request{"ListMultipartUploads", "GET", "", {{"uploads", ""}, {"prefix", prefix}}, {}, nullptr});
	XmlDoc doc(r.body);
	std::vector<std::string> keys;
	XmlDoc::ForEachChild(doc.Root(), "Upload", [&](xmlNode *u) { keys.push_back(XmlDoc::ChildText(u, "Key")); });
	return keys;
}

void
S3Client::CreateBucket()
{
	static const std::string empty;
	Impl::Request rq{"CreateBucket", "PUT", "", {}, {}, &empty};
	HttpResult r = impl_->Call(bucket_, rq);
	if (r.status >= 300 && r.body.find("BucketAlreadyOwnedByYou") == std::string::npos)
		impl_->Fail(bucket_, rq, r);
}

void
S3Client::DeleteObject(const std::string &key)
{
	Impl::Request rq{"DeleteObject", "DELETE", key, {}, {}, nullptr};
	HttpResult r = impl_->Call(bucket_, rq);
	if (r.status >= 300 && r.status != 404)
		impl_->Fail(bucket_, rq, r);
}

void
S3Client::DeleteObjects(const std::vector<std::string> &keys)
{
	for (size_t start = 0; start < keys.size(); start += 1000) {
		std::string xml = "<Delete><Quiet>true</Quiet>";
		for (size_t i = start; i < std::min(keys.size(), start + 1000); i++)
			xml += "<Object><Key>" + XmlEscape(keys[i]) + "</Key></Object>";
		xml += "</Delete>";
		HttpResult r = impl_->Must(
			bucket_,
			Impl::Request{"DeleteObjects", "POST", "", {{"delete", ""}}, {{"Content-MD5", Md5Base64(xml)}}, &xml});
		XmlDoc doc(r.body);
		xmlNode *err = XmlDoc::Child(doc.Root(), "Error");
		if (err != nullptr)
			throw Error(ErrorKind::Io, "S3 DeleteObjects failed for " + XmlDoc::ChildText(err, "Key") + ": " +
										   XmlDoc::ChildText(err, "Code") + " " + XmlDoc::ChildText(err, "Message"));
	}
}

void
S3Client::CheckBucket()
{
	Impl::Request rq{"ListObjectsV2", "GET", "", {{"list-type", "2"}, {"max-keys", "1"}}, {}, nullptr};
	HttpResult r = impl_->Call(bucket_, rq);
	if (r.status >= 300)
		impl_->Fail(bucket_, rq, r);
}

namespace detail {

std::string
Shown(const std::string &text)
{
	std::string out;
	for (unsigned char c : text.substr(0, 200))
		out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
	return out + (text.size() > 200 ? "..." : "");
}

void
GlobalInit()
{
	static std::once_flag once;
	std::call_once(once, [] {
		http::GlobalInit();
		xmlInitParser();
	});
}

} // namespace detail

} // namespace pgbk::s3
