// S3 driver of the Storage interface. Writes stream through a bounded buffer: an object
// up to one part is a single PUT, a larger one a multipart upload of part_size pieces
// (aborted if the writer is dropped before Commit). Reads are ranged GETs of one chunk
// at a time. Each thread gets its own client (and keep-alive connection) from a pool.
#include "pgbk/fileio.hpp"
#include "pgbk/s3_client.hpp"
#include "pgbk/storage.hpp"
#include "pgbk/storage_driver.hpp"

#include <atomic>
#include <chrono>
#include <random>

#include <cstring>
#include <mutex>
#include <vector>

namespace pgbk {
namespace {

constexpr size_t kReadChunk = 8 << 20;

// A probe key no other writer picks.
std::string
ProbeSuffix()
{
	static std::atomic<uint64_t> n{0};
	std::mt19937_64 rng{std::random_device{}()};
	return std::to_string(rng()) + "-" + std::to_string(n++);
}

class ClientPool {
public:
	ClientPool(s3::S3Options opts, std::string bucket) : opts_(std::move(opts)), bucket_(std::move(bucket))
	{
		if (!opts_.clock)
			opts_.clock = std::make_shared<StoreClock>();
	}

	// A client for the duration of one operation, returned to the pool afterwards.
	class Lease {
	public:
		Lease(ClientPool &pool, std::unique_ptr<s3::S3Client> c) : pool_(pool), client_(std::move(c)) {}
		~Lease() { pool_.Return(std::move(client_)); }
		s3::S3Client *
		operator->()
		{
			return client_.get();
		}

	private:
		ClientPool &pool_;
		std::unique_ptr<s3::S3Client> client_;
	};

	Lease
	Get()
	{
		{
			std::lock_guard<std::mutex> g(mu_);
			if (!free_.empty()) {
				auto c = std::move(free_.back());
				free_.pop_back();
				return Lease(*this, std::move(c));
			}
		}
		return Lease(*this, std::make_unique<s3::S3Client>(opts_, bucket_));
	}
	const s3::S3Options &
	options() const
	{
		return opts_;
	}
	const std::string &
	bucket() const
	{
		return bucket_;
	}

private:
	void
	Return(std::unique_ptr<s3::S3Client> c)
	{
		std::lock_guard<std::mutex> g(mu_);
		if (c && free_.size() < 16)
			free_.push_back(std::move(c));
	}
	s3::S3Options opts_;
	std::string bucket_;
	std::mutex mu_;
	std::vector<std::unique_ptr<s3::S3Client>> free_;
};

class S3Writer final : public StorageWriter {
public:
	S3Writer(ClientPool &pool, std::string key, WriteMode mode) : pool_(pool), key_(std::move(key)), mode_(mode) {}
	~S3Writer() override
	{
		if (!upload_id_.empty() && !committed_) {
			try {
				pool_.Get()->AbortMultipartUpload(key_, upload_id_);
			} catch (...) {
				// Best effort: a lifecycle rule for incomplete uploads cleans up the rest.
			}
		}
	}
	void
	Write(const void *data, size_t len) override
	{
		const char *p = static_cast<const char *>(data);
		size_t part = pool_.options().part_size;
		while (len > 0) {
			size_t n = std::min(len, part - buffer_.size());
			buffer_.append(p, n);
			p += n;
			len -= n;
			if (buffer_.size() == part)
				FlushPart();
		}
	}
	void
	Commit() override
	{
		bool create_only = mode_ == WriteMode::CreateOnly;
		if (upload_id_.empty())
			pool_.Get()->PutObject(key_, buffer_, create_only);
		else {
			if (!buffer_.empty() || etags_.empty())
				FlushPart();
			pool_.Get()->CompleteMultipartUpload(key_, upload_id_, etags_, create_only);
		}
		committed_ = true;
		buffer_.clear();
		buffer_.shrink_to_fit();
	}

private:
	void
	FlushPart()
	{
		auto client = pool_.Get();
		if (upload_id_.empty())
			upload_id_ = client->CreateMultipartUpload(key_);
		etags_.push_back(client->UploadPart(key_, upload_id_, static_cast<int>(etags_.size()) + 1, buffer_));
		buffer_.clear();
	}
	ClientPool &pool_;
	std::string key_;
	WriteMode mode_;
	std::string buffer_, upload_id_;
	std::vector<std::string> etags_;
	bool committed_ = false;
};

class S3Reader final : public StorageReader {
public:
	S3Reader(ClientPool &pool, std::string key, uint64_t offset) : pool_(pool), key_(std::move(key)), next_(offset)
	{
		Fill(); // a missing object fails here, as the interface promises
	}
	size_t
	Read(void *buf, size_t len) override
	{
		if (pos_ == chunk_.size()) {
			if (eof_)
				return 0;
			Fill();
			if (chunk_.empty())
				return 0;
		}
		size_t n = std::min(len, chunk_.size() - pos_);
		std::memcpy(buf, chunk_.data() + pos_, n);
		pos_ += n;
		return n;
	}

private:
	void
	Fill()
	{
		uint64_t total = pool_.Get()->GetRange(key_, next_, kReadChunk, chunk_);
		pos_ = 0;
		next_ += chunk_.size();
		eof_ = next_ >= total || chunk_.empty();
	}
	ClientPool &pool_;
	std::string key_;
	uint64_t next_;
	std::string chunk_;
	size_t pos_ = 0;
	bool eof_ = false;
};

class S3Storage final : public Storage {
public:
	S3Storage(s3::S3Options opts, std::string bucket, std::string prefix)
		: pool_(std::move(opts), std::move(bucket)), prefix_(std::move(prefix))
	{
	}
	std::unique_ptr<StorageWriter>
	OpenWrite(const std::string &key, WriteMode mode, Durability) override
	{
		return std::make_unique<S3Writer>(pool_, Full(key), mode);
	}
	// The Date of the store's last answer, advanced since: LastModified's clock.
	std::optional<int64_t>
	StoreNow() override
	{
		return pool_.options().clock->Now();
	}
	void
	Sync() override
	{
		// A successful PUT or CompleteMultipartUpload is already durable.
	}
	std::unique_ptr<StorageReader>
	OpenRead(const std::string &key, uint64_t offset) override
	{
		return std::make_unique<S3Reader>(pool_, Full(key), offset);
	}
	std::optional<uint64_t>
	Size(const std::string &key) override
	{
		return pool_.Get()->HeadObject(Full(key));
	}
	void
	List(const std::string &prefix, bool recursive, const std::function<void(const ListEntry &)> &fn) override
	{
		size_t strip = prefix_.empty() ? 0 : prefix_.size() + 1;
		pool_.Get()->ListObjects(Full(prefix), recursive ? "" : "/", [&](const s3::S3Object &o) {
			fn(ListEntry{o.key.substr(std::min(strip, o.key.size())), o.size, o.is_prefix, o.last_modified});
		});
	}
	void
	Remove(const std::string &key) override
	{
		pool_.Get()->DeleteObject(Full(key));
	}
	void
	RemoveMany(const std::vector<std::string> &keys) override
	{
		std::vector<std::string> full;
		full.reserve(keys.size());
		for (const auto &k : keys)
			full.push_back(Full(k));
		pool_.Get()->DeleteObjects(full);
	}
	std::string
	Describe() const override
	{
		return "s3://" + pool_.bucket() + (prefix_.empty() ? "" : "/" + prefix_);
	}
	std::optional<size_t>
	PendingUploads(const std::string &prefix) override
	{
		return pool_.Get()->ListMultipartUploads(Full(prefix)).size();
	}
	std::optional<CreateOnlySupport>
	CreateOnlyWrites(bool probe) override
	{
		auto client = pool_.Get();
		std::optional<bool> known = client->CreateOnlyIsConditional();
		if (!known)
			return probe ? std::optional<CreateOnlySupport>(
							   client->ProbeCreateOnly(Full("pgbk-probe/create-only-" + ProbeSuffix())))
						 : std::nullopt;
		if (*known)
			return CreateOnlySupport{true, "conditional writes (If-None-Match: *)"};
		return CreateOnlySupport{false, "checked with HEAD before each write (the store lacks conditional writes, "
										"or pgbk.s3_conditional_writes = off)"};
	}

private:
	std::string
	Full(const std::string &key) const
	{
		if (key.find("..") != std::string::npos)
			throw Error(ErrorKind::Config, "invalid repository key \"" + key + "\"");
		return prefix_.empty() ? key : prefix_ + "/" + key;
	}
	ClientPool pool_;
	std::string prefix_;
};

} // namespace

std::unique_ptr<Storage>
OpenS3Storage(const s3::S3Options &opts, const std::string &bucket, const std::string &prefix)
{
	return std::make_unique<S3Storage>(opts, bucket, prefix);
}

s3::S3Options
S3OptionsFromSettings(const settings::Values &v, bool (*should_cancel)())
{
	using settings::Id;
	s3::S3Options o;
	o.should_cancel = should_cancel;
	o.endpoint = v.Text(Id("pgbk.s3_endpoint"));
	if (!v.Text(Id("pgbk.s3_region")).empty())
		o.region = v.Text(Id("pgbk.s3_region"));
	o.credentials = {v.Text(Id("pgbk.s3_access_key_id")), v.Text(Id("pgbk.s3_secret_access_key")),
					 v.Text(Id("pgbk.s3_session_token"))};
	o.path_style = v.Text(Id("pgbk.s3_uri_style")) == "path";
	o.ca_file = v.Text(Id("pgbk.s3_ca_file"));
	o.verify_tls = v.Boolean(Id("pgbk.s3_verify_tls"));
	s3::CredentialContext context;
	context.region = o.region;
	context.ca_file = o.ca_file;
	context.verify_tls = o.verify_tls;
	o.credentials_provider = s3::ResolveCredentials(
		v.Text(Id("pgbk.s3_credentials")) == "static" ? s3::CredentialMode::Static : s3::CredentialMode::Auto,
		o.credentials, context);
	std::string conditional = v.Text(Id("pgbk.s3_conditional_writes"));
	o.conditional_writes = conditional == "on"    ? s3::ConditionalWrites::On
						   : conditional == "off" ? s3::ConditionalWrites::Off
												  : s3::ConditionalWrites::Auto;
	o.sse = v.Text(Id("pgbk.s3_sse")) == "none" ? "" : v.Text(Id("pgbk.s3_sse"));
	o.sse_kms_key_id = v.Text(Id("pgbk.s3_sse_kms_key_id"));
	o.storage_class = v.Text(Id("pgbk.s3_storage_class"));
	o.part_size = static_cast<size_t>(v.Integer(Id("pgbk.s3_part_size"))) << 20;
	o.retry_budget = std::chrono::seconds(v.Integer(Id("pgbk.s3_retry_timeout")));
	return o;
}

namespace {

// s3://bucket[/prefix] on any S3-compatible store, with the pgbk.s3_* settings.
class S3Driver final : public StorageDriver {
public:
	std::string_view
	Scheme() const override
	{
		return "s3";
	}
	std::string_view
	Syntax() const override
	{
		return "s3://bucket/prefix";
	}
	RepositoryLocation
	Parse(const std::string &url, const std::string &) const override
	{
		std::string rest = url.substr(5);
		auto slash = rest.find('/');
		RepositoryLocation out;
		out.driver = this;
		out.root = rest.substr(0, slash);
		out.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
		out.prefix = StripTrailingSlashes(out.prefix, false);
		while (!out.prefix.empty() && out.prefix.front() == '/')
			out.prefix.erase(0, 1);
		bool ok = out.root.size() >= 3 && out.root.size() <= 63;
		for (char c : out.root)
			ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
		if (!ok)
			throw Error(ErrorKind::Config, "\"" + out.root +
											   "\" is not a valid S3 bucket name (3-63 lower-case letters, digits, "
											   "'-' and '.'); use s3://bucket/prefix");
		// Signed paths must be canonical: "." and ".." components and empty ones break the
		// signature or escape the prefix.
		bool dot_part = out.prefix == "." || out.prefix.rfind("./", 0) == 0 ||
						out.prefix.find("/./") != std::string::npos ||
						(out.prefix.size() >= 2 && out.prefix.compare(out.prefix.size() - 2, 2, "/.") == 0);
		if (dot_part)
			throw Error(ErrorKind::Config, "S3 prefix \"" + out.prefix + "\" must not contain \".\" components");
		if (out.prefix.find("..") != std::string::npos || out.prefix.find("//") != std::string::npos)
			throw Error(ErrorKind::Config, "S3 prefix \"" + out.prefix + "\" must not contain \"..\" or \"//\"");
		out.url = "s3://" + out.root + (out.prefix.empty() ? "" : "/" + out.prefix);
		return out;
	}
	std::unique_ptr<Storage>
	Open(const RepositoryLocation &location, const settings::Values &values,
		 const StorageOpenOptions &options) const override
	{
		return OpenS3Storage(S3OptionsFromSettings(values, options.should_cancel), location.root, location.prefix);
	}
	void
	CreateContainer(const RepositoryLocation &location, const settings::Values &values,
					const StorageOpenOptions &options) const override
	{
		s3::S3Client(S3OptionsFromSettings(values, options.should_cancel), location.root).CreateBucket();
	}
	std::vector<std::pair<std::string_view, std::vector<std::string_view>>>
	EnvironmentAliases() const override
	{
		return {{"pgbk.s3_endpoint", {"AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"}},
				{"pgbk.s3_region", {"AWS_REGION", "AWS_DEFAULT_REGION"}},
				{"pgbk.s3_access_key_id", {"AWS_ACCESS_KEY_ID"}},
				{"pgbk.s3_secret_access_key", {"AWS_SECRET_ACCESS_KEY"}},
				{"pgbk.s3_session_token", {"AWS_SESSION_TOKEN"}},
				{"pgbk.s3_ca_file", {"AWS_CA_BUNDLE"}}};
	}
};

const S3Driver s3_driver;
const StorageDriverRegistration s3_registration(s3_driver);

} // namespace

// The checks of the S3 driver's settings (settings.hpp's table names them).
namespace settings {

void
CheckEndpoint(const std::string &value, const CheckContext &context)
{
	if (value.empty())
		return;
	CheckHeaderValue(value, context);
	size_t scheme = value.rfind("https://", 0) == 0 ? 8 : value.rfind("http://", 0) == 0 ? 7 : 0;
	if (scheme == 0)
		throw Error(ErrorKind::Config, "\"" + value + "\" must start with http:// or https://");
	std::string authority = value.substr(scheme, value.find('/', scheme) - scheme);
	auto colon = authority.rfind(':');
	bool bracketed = authority.find(']') != std::string::npos;
	if (authority.empty() || authority[0] == ':')
		throw Error(ErrorKind::Config, "\"" + value + "\" names no host");
	if (colon != std::string::npos && (!bracketed || colon > authority.find(']'))) {
		std::string port = authority.substr(colon + 1);
		char *end = nullptr;
		long n = std::strtol(port.c_str(), &end, 10);
		if (port.empty() || *end != '\0' || n < 1 || n > 65535)
			throw Error(ErrorKind::Config, "\"" + value + "\": port \"" + port + "\" is not a number from 1 to 65535");
	}
	if (value.find_first_of("?#@ ", scheme) != std::string::npos)
		throw Error(ErrorKind::Config,
					"\"" + value + "\" must be scheme://host[:port][/path] (no query, user or spaces)");
}

void
CheckHeaderValue(const std::string &value, const CheckContext &)
{
	// These values go into HTTP request headers or signatures: a CR or LF would add a
	// header of its own. The value is not echoed (it may be a credential).
	for (unsigned char c : value)
		if (c < 0x20 || c == 0x7f)
			throw Error(ErrorKind::Config, "the value contains a control character (such as a line break); remove it");
}

} // namespace settings

} // namespace pgbk
