// The HTTP transport against a store that takes the connection and never answers (a
// hung endpoint, a blackholing proxy): a call gives up within its retry budget, not
// after the 30 s stall limit of one attempt.
#include "pgbk/error.hpp"
#include "pgbk/http_transport.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <string>
#include <sys/socket.h>
#include <unistd.h>

using namespace pgbk;

namespace {

// A listening socket nobody accepts from: the kernel completes the handshake, the
// request is sent, and no answer ever comes.
class SilentListener {
public:
	SilentListener()
	{
		fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
		sockaddr_in addr{};
		addr.sin_family = AF_INET;
		addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		socklen_t len = sizeof addr;
		if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr *>(&addr), len) != 0 || ::listen(fd_, 8) != 0 ||
			::getsockname(fd_, reinterpret_cast<sockaddr *>(&addr), &len) != 0)
			throw std::runtime_error("could not listen on the loopback");
		port_ = ntohs(addr.sin_port);
	}
	~SilentListener() { ::close(fd_); }
	std::string
	Url() const
	{
		return "http://127.0.0.1:" + std::to_string(port_) + "/wal/000000010000000000000003";
	}

private:
	int fd_ = -1;
	int port_ = 0;
};

} // namespace

TEST(HttpTransport, AStoreThatNeverAnswersCostsTheBudgetNotTheStallLimit)
{
	SilentListener silent;
	http::TransportOptions options; // production defaults: 30 s stall limit
	ASSERT_EQ(options.low_speed_time, std::chrono::seconds(30));
	http::Transport transport(options);
	http::RetryPolicy policy;
	policy.budget = std::chrono::seconds(2);
	try {
		transport.Call(
			[&] {
				return http::Request{"GET", silent.Url(), {}, nullptr};
			},
			[](const http::Response &, std::string *) { return http::Verdict::Done; },
			http::CallNames{"GET " + silent.Url(), "http://127.0.0.1", ""}, policy);
		FAIL() << "a store that never answered answered";
	} catch (const Error &e) {
		EXPECT_EQ(e.kind(), ErrorKind::Io) << e.what();
		// "... failed after N attempt(s) in S s: ..." as the transport measured it.
		std::string what = e.what();
		auto at = what.find(" attempt(s) in ");
		ASSERT_NE(at, std::string::npos) << what;
		int seconds = std::stoi(what.substr(at + 15));
		EXPECT_LT(seconds, 30) << "an attempt waited out the stall limit instead of the budget: " << what;
	}
}
