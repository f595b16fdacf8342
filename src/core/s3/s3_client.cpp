#include "pgbk/s3_client.hpp"

#include "pgbk/hash.hpp"
#include "pgbk/numbers.hpp"

#include <algorithm>
#include <cstring>
#include <curl/curl.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <mutex>
#include <openssl/evp.h>
#include <random>
#include <thread>

namespace pgbk::s3 {
namespace {

std::once_flag global_init;

void
GlobalInit()
{
	std::call_once(global_init, [] {
		curl_global_init(CURL_GLOBAL_DEFAULT);
		xmlInitParser();
	});
}

// A parsed XML response; finds elements by local name anywhere below the root.
class XmlDoc {
public:
	explicit XmlDoc(const std::string &text)
	{
		if (!text.empty())
			doc_ = xmlReadMemory(text.data(), static_cast<int>(text.size()), "s3.xml", nullptr,
								 XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	}
	~XmlDoc() { xmlFreeDoc(doc_); }
	XmlDoc(const XmlDoc &) = delete;
	XmlDoc &operator=(const XmlDoc &) = delete;
	xmlNode *
	Root() const
	{
		return doc_ ? xmlDocGetRootElement(doc_) : nullptr;
	}

	static std::string
	Text(xmlNode *n)
	{
		if (n == nullptr)
			return "";
		xmlChar *c = xmlNodeGetContent(n);
		std::string s = c ? reinterpret_cast<const char *>(c) : "";
		xmlFree(c);
		return s;
	}
	static xmlNode *
	Child(xmlNode *parent, const char *name)
	{
		for (xmlNode *c = parent ? parent->children : nullptr; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char *>(c->name), name) == 0)
				return c;
		return nullptr;
	}
	static std::string
	ChildText(xmlNode *parent, const char *name)
	{
		return Text(Child(parent, name));
	}
	template <typename F>
	static void
	ForEachChild(xmlNode *parent, const char *name, F fn)
	{
		for (xmlNode *c = parent ? parent->children : nullptr; c; c = c->next)
			if (c->type == XML_ELEMENT_NODE && std::strcmp(reinterpret_cast<const char *>(c->name), name) == 0)
				fn(c);
	}

private:
	xmlDoc *doc_ = nullptr;
};

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

struct HttpResult {
	CURLcode curl = CURLE_OK;
	long status = 0;
	std::string body;
	std::string content_range, etag, retry_after;
	char error[CURL_ERROR_SIZE] = "";
};

// No response pgbk asks for is larger than a read chunk or a listing page: a store that
// sends more (a hostile endpoint) is cut off instead of filling memory.
constexpr size_t kMaxResponseBody = 64 << 20;

size_t
OnBody(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	auto *body = static_cast<std::string *>(userdata);
	if (body->size() + size * nmemb > kMaxResponseBody)
		return 0; // CURLE_WRITE_ERROR
	body->append(ptr, size * nmemb);
	return size * nmemb;
}

// Text from the store, shown in messages: printable, and short.
std::string
Shown(const std::string &text)
{
	std::string out;
	for (unsigned char c : text.substr(0, 200))
		out += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
	return out + (text.size() > 200 ? "..." : "");
}

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

size_t
OnHeader(char *buffer, size_t size, size_t nitems, void *userdata)
{
	auto *r = static_cast<HttpResult *>(userdata);
	std::string line(buffer, size * nitems);
	auto colon = line.find(':');
	if (colon != std::string::npos) {
		std::string name = line.substr(0, colon);
		std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
		std::string value = line.substr(colon + 1);
		value.erase(0, value.find_first_not_of(" \t"));
		value.erase(value.find_last_not_of(" \t\r\n") + 1);
		if (name == "content-range")
			r->content_range = value;
		else if (name == "etag")
			r->etag = value;
		else if (name == "retry-after")
			r->retry_after = value;
	}
	return size * nitems;
}

struct UploadSource {
	const std::string *body;
	size_t pos;
};

size_t
OnRead(char *buffer, size_t size, size_t nitems, void *userdata)
{
	auto *src = static_cast<UploadSource *>(userdata);
	size_t n = std::min(size * nitems, src->body->size() - src->pos);
	std::memcpy(buffer, src->body->data() + src->pos, n);
	src->pos += n;
	return n;
}

int
OnProgress(void *clientp, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
	auto cancel = reinterpret_cast<bool (*)()>(clientp);
	return cancel != nullptr && cancel() ? 1 : 0; // non-zero aborts the transfer
}

bool
RetryableCurl(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_WEIRD_SERVER_REPLY:
		return true;
	default:
		return false;
	}
}

bool
IsTlsTrustError(CURLcode c)
{
	return c == CURLE_PEER_FAILED_VERIFICATION || c == CURLE_SSL_CACERT_BADFILE || c == CURLE_SSL_CERTPROBLEM ||
		   c == CURLE_SSL_ISSUER_ERROR;
}

} // namespace

struct S3Client::Impl {
	S3Options opts;
	std::string scheme, authority, base_path;
	SigV4Signer signer;
	CURL *curl = nullptr;
	std::mt19937_64 rng{std::random_device{}()};

	explicit Impl(S3Options o) : opts(std::move(o)), signer(opts.region) {}

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

	HttpResult
	Perform(const std::string &bucket, const std::string &method, const std::string &key, const HeaderList &query,
			const HeaderList &extra, const std::string *body)
	{
		HttpResult r;
		std::string host, path;
		Target(bucket, key, &host, &path);
		std::string qs = SigV4Signer::CanonicalQuery(query);
		std::string url = scheme + "://" + host + path + (qs.empty() ? "" : "?" + qs);
		static const std::string empty;
		const std::string &payload = body ? *body : empty;

		RequestToSign req;
		req.method = method;
		req.canonical_uri = path;
		req.query = query;
		req.headers = extra;
		req.headers.emplace_back("host", host);
		req.payload_sha256 = ToHex(Sha256Of(payload));
		HeaderList signed_add = signer.Sign(req, opts.credentials, time(nullptr));

		struct curl_slist *headers = nullptr;
		auto add = [&](const std::string &k, const std::string &v) {
			headers = curl_slist_append(headers, (k + ": " + v).c_str());
		};
		add("Host", host);
		for (const auto &[k, v] : extra)
			add(k, v);
		for (const auto &[k, v] : signed_add)
			add(k, v);

		curl_easy_reset(curl); // keeps the connection cache: keep-alive across requests
		curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
		curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, r.error);
		curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
		curl_easy_setopt(curl, CURLOPT_WRITEDATA, &r.body);
		curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
		curl_easy_setopt(curl, CURLOPT_HEADERDATA, &r);
		curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(opts.connect_timeout.count() * 1000));
		if (opts.should_cancel != nullptr) {
			curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
			curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
			curl_easy_setopt(curl, CURLOPT_XFERINFODATA, reinterpret_cast<void *>(opts.should_cancel));
		}
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(opts.low_speed_time.count()));
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, opts.verify_tls ? 1L : 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, opts.verify_tls ? 2L : 0L);
		if (!opts.ca_file.empty())
			curl_easy_setopt(curl, CURLOPT_CAINFO, opts.ca_file.c_str());
		UploadSource src{&payload, 0};
		if (method == "PUT") {
			curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
			curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
			curl_easy_setopt(curl, CURLOPT_READDATA, &src);
			curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(payload.size()));
		} else if (method == "POST") {
			curl_easy_setopt(curl, CURLOPT_POST, 1L);
			curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
			curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
		} else if (method == "HEAD") {
			curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
		} else if (method == "DELETE") {
			curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
		} else {
			curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
		}
		r.curl = curl_easy_perform(curl);
		curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &r.status);
		curl_slist_free_all(headers);
		return r;
	}

	// Runs a request with retries; returns the final result (status < 300, or a final
	// error status the caller classifies). Throws when retries are exhausted or on a
	// transport error that retrying cannot fix.
	HttpResult
	Call(const std::string &bucket, const std::string &method, const std::string &key, const HeaderList &query,
		 const HeaderList &extra, const std::string *body)
	{
		auto start = std::chrono::steady_clock::now();
		std::chrono::milliseconds delay(100);
		for (int attempt = 1;; attempt++) {
			HttpResult r = Perform(bucket, method, key, query, extra, body);
			std::string why;
			if (r.curl == CURLE_ABORTED_BY_CALLBACK || (opts.should_cancel && opts.should_cancel()))
				throw Error(ErrorKind::Cancelled, "S3 " + method + " " + key + " cancelled");
			if (r.curl != CURLE_OK) {
				if (IsTlsTrustError(r.curl))
					throw Error(ErrorKind::Config, "TLS verification of " + Describe(bucket) + " failed: " +
													   std::string(r.error[0] ? r.error : curl_easy_strerror(r.curl)) +
													   "; set pgbk.s3_ca_file to the CA that signed the endpoint's "
													   "certificate (or pgbk.s3_verify_tls = off for testing)");
				if (!RetryableCurl(r.curl))
					throw Error(ErrorKind::Io, "S3 " + method + " " + Describe(bucket) + "/" + key +
												   " failed: " + (r.error[0] ? r.error : curl_easy_strerror(r.curl)));
				why = r.error[0] ? r.error : curl_easy_strerror(r.curl);
			} else if (r.status >= 500 || r.status == 429 || r.status == 408 ||
					   (r.status == 400 && r.body.find("<Code>RequestTimeout</Code>") != std::string::npos)) {
				why = "HTTP " + std::to_string(r.status) + ErrorSuffix(r);
			} else
				return r;
			auto elapsed = std::chrono::steady_clock::now() - start;
			std::chrono::milliseconds wait(std::uniform_int_distribution<long>(delay.count() / 2, delay.count())(rng));
			// Retry-After in seconds (an HTTP date is ignored), capped so that no answer overflows the wait
			if (auto seconds = ParseDecimal(r.retry_after))
				wait = std::max(wait, std::chrono::milliseconds(std::min<uint64_t>(*seconds, 3600) * 1000));
			if (elapsed + wait > opts.retry_budget)
				throw Error(ErrorKind::Io,
							"S3 " + method + " " + Describe(bucket) + "/" + key + " failed after " +
								std::to_string(attempt) + " attempt(s) in " +
								std::to_string(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count()) +
								" s: " + why);
			std::this_thread::sleep_for(wait);
			delay = std::min(delay * 2, std::chrono::milliseconds(4000));
		}
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

	// Turns a final non-2xx status into the right error.
	[[noreturn]] void
	Fail(const std::string &bucket, const std::string &method, const std::string &key, const HttpResult &r)
	{
		XmlDoc doc(r.body);
		std::string code = XmlDoc::ChildText(doc.Root(), "Code");
		std::string where = Describe(bucket) + (key.empty() ? "" : "/" + key);
		if (code == "InvalidAccessKeyId")
			throw Error(ErrorKind::Config, where + ": the store does not know access key \"" +
											   opts.credentials.access_key_id +
											   "\" (InvalidAccessKeyId); check pgbk.s3_access_key_id");
		if (code == "SignatureDoesNotMatch")
			throw Error(ErrorKind::Config, where + ": the store rejected the request signature "
												   "(SignatureDoesNotMatch); check pgbk.s3_secret_access_key and "
												   "pgbk.s3_region");
		if (code == "NoSuchBucket")
			throw Error(ErrorKind::Config, "bucket \"" + bucket + "\" does not exist at " + scheme + "://" + authority +
											   "; create it or fix pgbk.repository");
		if (r.status == 403)
			throw Error(ErrorKind::Config, where + ": access denied (" + (code.empty() ? "403" : Shown(code)) +
											   "); check the credentials' rights");
		if (r.status == 404)
			throw Error(ErrorKind::NotFound, where + " does not exist");
		if (r.status == 412)
			throw Error(ErrorKind::AlreadyExists, where + " already exists");
		throw Error(ErrorKind::Io,
					"S3 " + method + " " + where + ": HTTP " + std::to_string(r.status) + ErrorSuffix(r));
	}

	HttpResult
	Must(const std::string &bucket, const std::string &method, const std::string &key, const HeaderList &query,
		 const HeaderList &extra, const std::string *body)
	{
		HttpResult r = Call(bucket, method, key, query, extra, body);
		if (r.status >= 300)
			Fail(bucket, method, key, r);
		return r;
	}

	HeaderList
	WriteHeaders(bool create_only) const
	{
		HeaderList h;
		if (create_only)
			h.emplace_back("If-None-Match", "*");
		if (!opts.sse.empty())
			h.emplace_back("x-amz-server-side-encryption", opts.sse);
		if (opts.sse == "aws:kms" && !opts.sse_kms_key_id.empty())
			h.emplace_back("x-amz-server-side-encryption-aws-kms-key-id", opts.sse_kms_key_id);
		if (!opts.storage_class.empty())
			h.emplace_back("x-amz-storage-class", opts.storage_class);
		return h;
	}
};

S3Client::S3Client(S3Options options, std::string bucket)
	: impl_(std::make_unique<Impl>(std::move(options))), bucket_(std::move(bucket))
{
	GlobalInit();
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
	while (!impl_->base_path.empty() && impl_->base_path.back() == '/')
		impl_->base_path.pop_back();
	if (impl_->authority.empty())
		throw Error(ErrorKind::Config, "S3 endpoint \"" + ep + "\" has no host");
	impl_->curl = curl_easy_init();
	if (impl_->curl == nullptr)
		throw Error(ErrorKind::Io, "could not initialise libcurl");
}

S3Client::~S3Client()
{
	curl_easy_cleanup(impl_->curl);
}

std::string
S3Client::Describe() const
{
	return impl_->Describe(bucket_);
}

void
S3Client::PutObject(const std::string &key, const std::string &body, bool create_only)
{
	impl_->Must(bucket_, "PUT", key, {}, impl_->WriteHeaders(create_only), &body);
}

std::string
S3Client::CreateMultipartUpload(const std::string &key)
{
	static const std::string empty;
	HttpResult r = impl_->Must(bucket_, "POST", key, {{"uploads", ""}}, impl_->WriteHeaders(false), &empty);
	XmlDoc doc(r.body);
	std::string id = XmlDoc::ChildText(doc.Root(), "UploadId");
	if (id.empty())
		throw Error(ErrorKind::Io, "S3 CreateMultipartUpload for " + key + " returned no UploadId");
	return id;
}

std::string
S3Client::UploadPart(const std::string &key, const std::string &upload_id, int part_number, const std::string &body)
{
	HttpResult r = impl_->Must(bucket_, "PUT", key,
							   {{"partNumber", std::to_string(part_number)}, {"uploadId", upload_id}}, {}, &body);
	if (r.etag.empty())
		throw Error(ErrorKind::Io, "S3 UploadPart for " + key + " returned no ETag");
	return r.etag;
}

void
S3Client::CompleteMultipartUpload(const std::string &key, const std::string &upload_id,
								  const std::vector<std::string> &etags, bool create_only)
{
	std::string xml = "<CompleteMultipartUpload>";
	for (size_t i = 0; i < etags.size(); i++)
		xml += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + XmlEscape(etags[i]) +
			   "</ETag></Part>";
	xml += "</CompleteMultipartUpload>";
	HeaderList h;
	if (create_only)
		h.emplace_back("If-None-Match", "*");
	HttpResult r = impl_->Must(bucket_, "POST", key, {{"uploadId", upload_id}}, h, &xml);
	// A 200 may still carry an error document (S3 reports late failures this way).
	if (r.body.find("<Error>") != std::string::npos)
		throw Error(ErrorKind::Io, "S3 CompleteMultipartUpload for " + key + " failed:" + Impl::ErrorSuffix(r));
}

void
S3Client::AbortMultipartUpload(const std::string &key, const std::string &upload_id)
{
	HttpResult r = impl_->Call(bucket_, "DELETE", key, {{"uploadId", upload_id}}, {}, nullptr);
	if (r.status >= 300 && r.status != 404)
		impl_->Fail(bucket_, "DELETE", key, r);
}

std::optional<uint64_t>
S3Client::HeadObject(const std::string &key)
{
	HttpResult r = impl_->Call(bucket_, "HEAD", key, {}, {}, nullptr);
	if (r.status == 404) {
		// HEAD has no body: tell a missing bucket from a missing key with a list call.
		return std::nullopt;
	}
	if (r.status >= 300)
		impl_->Fail(bucket_, "HEAD", key, r);
	curl_off_t len = -1;
	curl_easy_getinfo(impl_->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	return len < 0 ? 0 : static_cast<uint64_t>(len);
}

uint64_t
S3Client::GetRange(const std::string &key, uint64_t offset, uint64_t length, std::string &out)
{
	out.clear();
	if (length == 0)
		return 0;
	HeaderList h = {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}};
	HttpResult r = impl_->Call(bucket_, "GET", key, {}, h, nullptr);
	if (r.status == 416) { // at or past the end (or an empty object)
		auto slash = r.content_range.find('/');
		return slash == std::string::npos ? 0 : ObjectLengthOf(bucket_, key, r.content_range.substr(slash + 1));
	}
	if (r.status >= 300)
		impl_->Fail(bucket_, "GET", key, r);
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
		HttpResult r = impl_->Must(bucket_, "GET", "", q, {}, nullptr);
		ListPage page = ParseListObjectsPage(r.body, Describe());
		for (const auto &o : page.entries)
			fn(o);
		if (!page.truncated)
			return;
		token = page.next_token;
	}
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
		page.entries.push_back(S3Object{XmlDoc::ChildText(c, "Key"), *n, false});
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
	HttpResult r = impl_->Must(bucket_, "GET", "", {{"uploads", ""}, {"prefix", prefix}}, {}, nullptr);
	XmlDoc doc(r.body);
	std::vector<std::string> keys;
	XmlDoc::ForEachChild(doc.Root(), "Upload", [&](xmlNode *u) { keys.push_back(XmlDoc::ChildText(u, "Key")); });
	return keys;
}

void
S3Client::CreateBucket()
{
	static const std::string empty;
	HttpResult r = impl_->Call(bucket_, "PUT", "", {}, {}, &empty);
	if (r.status >= 300 && r.body.find("BucketAlreadyOwnedByYou") == std::string::npos)
		impl_->Fail(bucket_, "PUT", "", r);
}

void
S3Client::DeleteObject(const std::string &key)
{
	HttpResult r = impl_->Call(bucket_, "DELETE", key, {}, {}, nullptr);
	if (r.status >= 300 && r.status != 404)
		impl_->Fail(bucket_, "DELETE", key, r);
}

void
S3Client::DeleteObjects(const std::vector<std::string> &keys)
{
	for (size_t start = 0; start < keys.size(); start += 1000) {
		std::string xml = "<Delete><Quiet>true</Quiet>";
		for (size_t i = start; i < std::min(keys.size(), start + 1000); i++)
			xml += "<Object><Key>" + XmlEscape(keys[i]) + "</Key></Object>";
		xml += "</Delete>";
		HttpResult r = impl_->Must(bucket_, "POST", "", {{"delete", ""}}, {{"Content-MD5", Md5Base64(xml)}}, &xml);
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
	HttpResult r = impl_->Call(bucket_, "GET", "", {{"list-type", "2"}, {"max-keys", "1"}}, {}, nullptr);
	if (r.status >= 300)
		impl_->Fail(bucket_, "GET", "", r);
}

} // namespace pgbk::s3
