// Threads started by pgbk block every signal: PostgreSQL's handlers must only ever run
// on the process's main thread.
#pragma once
#include <functional>
#include <thread>

namespace pgbk {

std::thread StartSignalFreeThread(std::function<void()> fn);

} // namespace pgbk
