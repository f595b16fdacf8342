#include "pgbk/threads.hpp"

#include <csignal>
#include <pthread.h>

namespace pgbk {

std::thread
StartSignalFreeThread(std::function<void()> fn)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	// The new thread inherits the full mask; restore ours even if creation throws.
	struct Restore {
		sigset_t *old;
		~Restore() { pthread_sigmask(SIG_SETMASK, old, nullptr); }
	} restore{&old};
	return std::thread(std::move(fn));
}

} // namespace pgbk
