// The one HTTP transport every HTTP store and credential source uses: a libcurl handle
// per Transport (its connection kept alive across requests; one Transport per thread),
// TLS options, timeouts, a bound on what an answer may hold, cancellation polled during
// transfers and backoffs, the classification of transport failures, and the retry loop
// with jittered exponential backoff and Retry-After within a time budget. A store adds
// only its own requests, signing and reading of answers (s3_client.cpp: SigV4 and S3's
// error codes): the caller builds each attempt's request (a fresh signature) and judges
// each answer.
#pragma once
#include "pgbk/error.hpp"

#include <chrono>
#include <cstdint>
#include <ctime>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace pgbk::http {

using Headers = std::vector<std::pair<std::string, std::string>>;

struct TransportOptions {
	std::chrono::milliseconds connect_timeout{10000};
	// The whole exchange (0: none; the low-speed limit bounds a long transfer instead).
	std::chrono::milliseconds total_timeout{0};
	// A transfer slower than 1 KiB/s for this long fails as transient (0: no limit).
	std::chrono::seconds low_speed_time{30};
	bool verify_tls = true;
	std::string ca_file; // an extra CA bundle (PEM)
	// Polled during transfers and between retries (on whichever thread runs the request):
	// true aborts with ErrorKind::Cancelled. Must be thread-safe and cheap.
	bool (*should_cancel)() = nullptr;
	// An answer larger than this is cut off (a hostile endpoint must not fill memory).
	size_t max_response_body = 64u << 20;
	// Follow no redirect into other protocols: only http and https.
	bool http_only = true;
};

struct Request {
	std::string method = "GET"; // GET, HEAD, PUT, POST, DELETE
	std::string url;
	Headers headers;
	const std::string *body = nullptr; // PUT and POST
};

struct Response {
	long status = 0;
	std::string body;
	// The headers stores are read for.
	std::string content_range, etag, retry_after;
	int64_t content_length = -1; // -1: not sent
	time_t server_date = 0; // the Date header (0: none)
};

// How an exchange failed before any answer.
enum class TransportFailure {
	None, // an answer came (any status)
	Transient, // connection refused or reset, timeout, a stalled transfer: worth another try
	TlsTrust, // the endpoint's certificate is not trusted: a setting to fix
	Permanent, // anything else retrying cannot change (a malformed URL, an answer too large)
	Cancelled, // should_cancel said so
};

struct Attempt {
	TransportFailure failure = TransportFailure::None;
	std::string error; // the transport's words for a failure
	Response response;
};

// What the caller makes of an answer.
enum class Verdict {
	Done, // the answer is final (success or an error the caller reports)
	RetryLater, // the store's trouble or throttling: again after a backoff
	SendAgainNow, // the caller mended something (its clock, its credentials): again at once
};

struct RetryPolicy {
	std::chrono::milliseconds budget{std::chrono::seconds(60)};
	std::chrono::milliseconds first_delay{100}, max_delay{4000};
	int max_sent_again = 2; // SendAgainNow at most this often per call
};

// How errors name the exchange: "<what> failed ...", "<what> cancelled"; a TLS failure
// names `endpoint` and says what to set (`tls_hint`).
struct CallNames {
	std::string what; // "S3 GetObject s3://bucket at http://host/key"
	std::string endpoint; // "s3://bucket at http://host"
	std::string tls_hint; // "set pgbk.s3_ca_file to ..."
};

class Transport {
public:
	explicit Transport(TransportOptions options);
	~Transport();
	Transport(const Transport &) = delete;
	Transport &operator=(const Transport &) = delete;

	const TransportOptions &
	options() const
	{
		return options_;
	}

	// One exchange, no retry (the connection is reused when the server keeps it open).
	// `within`, when set, bounds how long connecting may take and how long the transfer
	// may stall (below 1 kB/s): the rest of a Call's budget.
	Attempt Perform(const Request &request, std::chrono::milliseconds within = std::chrono::milliseconds(0));

	// Runs a request until it is done: `make` builds each attempt (a fresh signature),
	// `judge` reads each answer and may explain a RetryLater in `why`. Transient transport
	// failures and RetryLater answers are retried with jittered exponential backoff
	// (Retry-After in seconds honoured) while the budget lasts, and no attempt waits for
	// a store that does not answer longer than the budget has left (a transfer that
	// moves is never cut); the backoff sleeps in
	// short steps polling cancellation. Returns the final answer; throws Cancelled,
	// Config (an untrusted certificate) or Io (a permanent transport failure, or the
	// budget spent: "<what> failed after N attempt(s) in S s: <why>").
	Response Call(const std::function<Request()> &make,
				  const std::function<Verdict(const Response &, std::string *why)> &judge, const CallNames &names,
				  const RetryPolicy &policy = {});

private:
	struct Impl;
	TransportOptions options_;
	std::unique_ptr<Impl> impl_;
};

// Prepares libcurl (and anything else process-wide the transport needs) once.
void GlobalInit();

} // namespace pgbk::http
