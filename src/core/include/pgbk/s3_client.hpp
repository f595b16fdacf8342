// A small S3 client on libcurl: one keep-alive connection per client (use one client per
// thread), SigV4 by pgbk, the payload hash always sent, retries with exponential backoff
// and jitter on 5xx, 429/SlowDown, timeouts and resets within a bounded total time, and
// distinct errors for bad credentials, bad signature, missing bucket and TLS failures.
#pragma once
#include "pgbk/error.hpp"
#include "pgbk/s3_credentials.hpp"
#include "pgbk/sigv4.hpp"
#include "pgbk/storage.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace pgbk::s3 {

// pgbk.s3_conditional_writes: how create-only writes are made. Auto sends If-None-Match: *
// and, once the store answers it with NotImplemented, checks with HEAD before a plain
// write instead (for this store, in this process); On always sends it; Off never does.
enum class ConditionalWrites { Auto, On, Off };

struct S3Options {
	std::string endpoint; // "https://s3.eu-west-1.amazonaws.com" or "http://127.0.0.1:7480"; empty: AWS
	std::string region = "us-east-1";
	bool path_style = false; // pgbk.s3_uri_style = 'path'
	Credentials credentials; // used when credentials_provider is not set
	// Asked before each request (shared by every client of a store; refreshes itself).
	std::shared_ptr<CredentialsProvider> credentials_provider;
	ConditionalWrites conditional_writes = ConditionalWrites::Auto;
	std::string ca_file; // extra CA bundle (PEM)
	bool verify_tls = true;
	std::string sse; // "", "AES256" or "aws:kms"
	std::string sse_kms_key_id;
	std::string storage_class; // "", "STANDARD", "STANDARD_IA", ...
	size_t part_size = 16 << 20; // multipart part size (>= 5 MiB)
	std::chrono::milliseconds retry_budget{std::chrono::seconds(60)};
	// Told the store's time from every answer's Date header (shared by a store's clients).
	std::shared_ptr<StoreClock> clock;
	std::chrono::seconds connect_timeout{10};
	// A transfer slower than 1 KiB/s for this long is retried.
	std::chrono::seconds low_speed_time{30};
	// Polled during transfers and between retries (on whichever thread runs the request):
	// true aborts the request with ErrorKind::Cancelled. Must be thread-safe and cheap.
	bool (*should_cancel)() = nullptr;
};

struct S3Object {
	std::string key;
	uint64_t size = 0;
	bool is_prefix = false;
	int64_t last_modified = 0; // LastModified, unix seconds (0: absent or unreadable)
};

// An ISO 8601 time as S3 writes LastModified ("2026-12-07T21:15:04.000Z"), in unix seconds;
// nullopt for anything else.
std::optional<int64_t> ParseS3Time(const std::string &text);

// One page of a ListObjectsV2 response: keys and common prefixes in key order, and the
// token of the next page when it is truncated. Throws Io on a response that is not one
// (no XML, a size that is not a number, truncated without a token).
struct ListPage {
	std::vector<S3Object> entries;
	bool truncated = false;
	std::string next_token;
};
ListPage ParseListObjectsPage(const std::string &body, const std::string &described);

// What an answer means for the request: done; sent again after a pause (the store's
// trouble, throttling); sent again once after mending the clock or the credentials;
// or final (everything else: retrying cannot change it, so it is never retried).
enum class ResponseClass { Done, Retry, ClockSkew, CredentialsExpired, Final };
ResponseClass ClassifyResponse(long status, const std::string &error_code);

class S3Client {
public:
	S3Client(S3Options options, std::string bucket);
	~S3Client();
	S3Client(const S3Client &) = delete;
	S3Client &operator=(const S3Client &) = delete;

	// Create-only writes send If-None-Match: * and throw AlreadyExists on 412; on a store
	// without conditional writes (pgbk.s3_conditional_writes) a HEAD checks first.
	void PutObject(const std::string &key, const std::string &body, bool create_only);
	std::string CreateMultipartUpload(const std::string &key);
	std::string UploadPart(const std::string &key, const std::string &upload_id, int part_number,
						   const std::string &body); // returns the ETag
	void CompleteMultipartUpload(const std::string &key, const std::string &upload_id,
								 const std::vector<std::string> &etags, bool create_only);
	void AbortMultipartUpload(const std::string &key, const std::string &upload_id);
	std::optional<uint64_t> HeadObject(const std::string &key);
	// Reads [offset, offset + length) into `out`; returns the object's total size.
	// Throws NotFound for a missing key; reading at or past the end returns empty.
	uint64_t GetRange(const std::string &key, uint64_t offset, uint64_t length, std::string &out);
	// Streams every key under prefix (one page of at most page_size, max 1000, in memory
	// at a time).
	void ListObjects(const std::string &prefix, const std::string &delimiter,
					 const std::function<void(const S3Object &)> &fn, int page_size = 1000);
	// Keys of multipart uploads in progress under prefix (to check that failed ones are
	// aborted).
	std::vector<std::string> ListMultipartUploads(const std::string &prefix);
	// Creates the bucket (tests and first-time setup).
	void CreateBucket();
	void DeleteObject(const std::string &key);
	// Up to 1000 keys per request (DeleteObjects); throws if any key failed.
	void DeleteObjects(const std::vector<std::string> &keys);
	// The bucket exists and these credentials can list it.
	void CheckBucket();
	// Writes `probe_key` create-only twice (and removes it) to learn whether the store
	// enforces If-None-Match: * (a store that ignores it, replacing the object, is then
	// treated like one without). Throws Config when pgbk.s3_conditional_writes = on and
	// the store lacks them.
	CreateOnlySupport ProbeCreateOnly(const std::string &probe_key);
	// Whether create-only writes are conditional, as far as this process knows (nullopt:
	// not known before a probe).
	std::optional<bool> CreateOnlyIsConditional() const;

	const std::string &
	bucket() const
	{
		return bucket_;
	}
	std::string Describe() const;

private:
	struct Impl;
	std::unique_ptr<Impl> impl_;
	std::string bucket_;
};

} // namespace pgbk::s3

namespace pgbk {

class Storage;
namespace settings {
class Values;
}

// The S3 storage driver (also reached through the registry, storage_driver.hpp).
std::unique_ptr<Storage> OpenS3Storage(const s3::S3Options &opts, const std::string &bucket, const std::string &prefix);
// The S3 options the pgbk.s3_* settings describe.
s3::S3Options S3OptionsFromSettings(const settings::Values &values, bool (*should_cancel)() = nullptr);

} // namespace pgbk
