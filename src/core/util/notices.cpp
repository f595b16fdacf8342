#include "pgbk/notices.hpp"

#include <deque>
#include <mutex>

namespace pgbk {
namespace {

std::mutex notices_mu;
std::deque<std::string> notices;
size_t notices_lost = 0;
constexpr size_t kMaxQueuedNotices = 100;

} // namespace

void
PostNotice(std::string text)
{
	std::lock_guard<std::mutex> g(notices_mu);
	if (notices.size() < kMaxQueuedNotices)
		notices.push_back(std::move(text));
	else
		notices_lost++;
}

std::optional<std::string>
TakeNotice()
{
	std::lock_guard<std::mutex> g(notices_mu);
	if (notices.empty()) {
		if (notices_lost == 0)
			return std::nullopt;
		std::string lost = "pgbk: " + std::to_string(notices_lost) + " more notices were not kept";
		notices_lost = 0;
		return lost;
	}
	std::string first = std::move(notices.front());
	notices.pop_front();
	return first;
}

} // namespace pgbk
