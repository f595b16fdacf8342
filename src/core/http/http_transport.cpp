#include "pgbk/http_transport.hpp"

#include "pgbk/numbers.hpp"

#include <algorithm>
#include <cstring>
#include <curl/curl.h>
#include <mutex>
#include <random>
#include <thread>

namespace pgbk::http {
namespace {

struct Sink {
	Response *response;
	size_t limit;
};

size_t
OnBody(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	auto *sink = static_cast<Sink *>(userdata);
	if (sink->response->body.size() + size * nmemb > sink->limit)
		return 0; // CURLE_WRITE_ERROR
	sink->response->body.append(ptr, size * nmemb);
	return size * nmemb;
}

size_t
OnHeader(char *buffer, size_t size, size_t nitems, void *userdata)
{
	auto *r = static_cast<Response *>(userdata);
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
		else if (name == "date") {
			time_t date = curl_getdate(value.c_str(), nullptr);
			r->server_date = date > 0 ? date : 0;
		}
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

TransportFailure
Classify(CURLcode c)
{
	switch (c) {
	case CURLE_OK:
		return TransportFailure::None;
	case CURLE_ABORTED_BY_CALLBACK:
		return TransportFailure::Cancelled;
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
		return TransportFailure::Transient;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_ISSUER_ERROR:
		return TransportFailure::TlsTrust;
	default:
		return TransportFailure::Permanent;
	}
}

[[noreturn]] void
ThrowCancelled(const CallNames &names)
{
	throw Error(ErrorKind::Cancelled, names.what + " cancelled");
}

} // namespace

void
GlobalInit()
{
	static std::once_flag once;
	std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

struct Transport::Impl {
	CURL *curl = nullptr;
	std::mt19937_64 rng{std::random_device{}()};
};

Transport::Transport(TransportOptions options) : options_(std::move(options)), impl_(std::make_unique<Impl>())
{
	GlobalInit();
	impl_->curl = curl_easy_init();
	if (impl_->curl == nullptr)
		throw Error(ErrorKind::Io, "could not initialise libcurl");
}

Transport::~Transport()
{
	curl_easy_cleanup(impl_->curl);
}

Attempt
Transport::Perform(const Request &request, std::chrono::milliseconds within)
{
	Attempt a;
	CURL *curl = impl_->curl;
	char error[CURL_ERROR_SIZE] = "";
	struct curl_slist *headers = nullptr;
	for (const auto &[k, v] : request.headers)
		headers = curl_slist_append(headers, (k + ": " + v).c_str());
	static const std::string empty;
	const std::string &payload = request.body ? *request.body : empty;
	Sink sink{&a.response, options_.max_response_body};

	curl_easy_reset(curl); // keeps the connection cache: keep-alive across requests
	curl_easy_setopt(curl, CURLOPT_URL, request.url.c_str());
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, error);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, OnBody);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, OnHeader);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &a.response);
	auto connect_timeout = options_.connect_timeout;
	auto low_speed_time = options_.low_speed_time;
	if (within.count() > 0) {
		connect_timeout = std::min(connect_timeout, within);
		// Whole seconds, at least one: libcurl measures a stall in seconds.
		low_speed_time = std::max(std::chrono::seconds(1),
								  std::min(low_speed_time, std::chrono::ceil<std::chrono::seconds>(within)));
	}
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(connect_timeout.count()));
	if (options_.total_timeout.count() > 0)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, static_cast<long>(options_.total_timeout.count()));
	if (options_.should_cancel != nullptr) {
		curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, OnProgress);
		curl_easy_setopt(curl, CURLOPT_XFERINFODATA, reinterpret_cast<void *>(options_.should_cancel));
	}
	if (options_.low_speed_time.count() > 0) {
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
		curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(low_speed_time.count()));
	}
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, options_.verify_tls ? 1L : 0L);
	curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, options_.verify_tls ? 2L : 0L);
	if (options_.http_only)
		curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	if (!options_.ca_file.empty())
		curl_easy_setopt(curl, CURLOPT_CAINFO, options_.ca_file.c_str());
	UploadSource src{&payload, 0};
	if (request.method == "PUT") {
		curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
		curl_easy_setopt(curl, CURLOPT_READFUNCTION, OnRead);
		curl_easy_setopt(curl, CURLOPT_READDATA, &src);
		curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(payload.size()));
	} else if (request.method == "POST") {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload.data());
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
	} else if (request.method == "HEAD") {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (request.method == "DELETE") {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, "DELETE");
	} else {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	}
	CURLcode rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &a.response.status);
	curl_off_t length = -1;
	curl_easy_getinfo(curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &length);
	a.response.content_length = static_cast<int64_t>(length);
	curl_slist_free_all(headers);
	a.failure = Classify(rc);
	if (a.failure != TransportFailure::None)
		a.error = error[0] ? error : curl_easy_strerror(rc);
	return a;
}

Response
Transport::Call(const std::function<Request()> &make,
				const std::function<Verdict(const Response &, std::string *why)> &judge, const CallNames &names,
				const RetryPolicy &policy)
{
	auto cancelled = [&] { return options_.should_cancel != nullptr && options_.should_cancel(); };
	auto start = std::chrono::steady_clock::now();
	std::chrono::milliseconds delay = policy.first_delay;
	int sent_again = 0;
	for (int attempt = 1;; attempt++) {
		// A store that does not answer holds an attempt no longer than the budget has left
		// (a promotion's wal-fetch waits pgbk.s3_retry_timeout, not a 30 s stall).
		auto left = std::chrono::duration_cast<std::chrono::milliseconds>(policy.budget -
																		  (std::chrono::steady_clock::now() - start));
		Attempt a = Perform(make(), std::max(left, std::chrono::milliseconds(1000)));
		std::string why;
		if (a.failure == TransportFailure::Cancelled || cancelled())
			ThrowCancelled(names);
		switch (a.failure) {
		case TransportFailure::TlsTrust:
			throw Error(ErrorKind::Config, "TLS verification of " + names.endpoint + " failed: " + a.error +
											   (names.tls_hint.empty() ? "" : "; " + names.tls_hint));
		case TransportFailure::Permanent:
			throw Error(ErrorKind::Io, names.what + " failed: " + a.error);
		case TransportFailure::Transient:
			why = a.error;
			break;
		case TransportFailure::None:
		case TransportFailure::Cancelled:
			switch (judge(a.response, &why)) {
			case Verdict::Done:
				return std::move(a.response);
			case Verdict::SendAgainNow:
				if (++sent_again > policy.max_sent_again)
					return std::move(a.response);
				continue;
			case Verdict::RetryLater:
				if (why.empty())
					why = "HTTP " + std::to_string(a.response.status);
				break;
			}
			break;
		}
		auto elapsed = std::chrono::steady_clock::now() - start;
		std::chrono::milliseconds wait(
			std::uniform_int_distribution<long>(delay.count() / 2, delay.count())(impl_->rng));
		// Retry-After in seconds (an HTTP date is ignored), capped so that no answer overflows the wait.
		if (auto seconds = ParseDecimal(a.response.retry_after))
			wait = std::max(wait, std::chrono::milliseconds(std::min<uint64_t>(*seconds, 3600) * 1000));
		if (elapsed + wait > policy.budget)
			throw Error(ErrorKind::Io,
						names.what + " failed after " + std::to_string(attempt) + " attempt(s) in " +
							std::to_string(std::chrono::duration_cast<std::chrono::seconds>(elapsed).count()) +
							" s: " + why);
		// Sleep in short steps: a shutdown does not wait out a backoff.
		for (auto until = std::chrono::steady_clock::now() + wait; std::chrono::steady_clock::now() < until;) {
			if (cancelled())
				ThrowCancelled(names);
			std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
				until - std::chrono::steady_clock::now(), std::chrono::milliseconds(100)));
		}
		delay = std::min(delay * 2, policy.max_delay);
	}
}

} // namespace pgbk::http
