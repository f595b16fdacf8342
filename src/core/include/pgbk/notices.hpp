// Notices for the operator from anywhere in the core, on any thread (a store found to
// lack a feature, said once). pgbk's threads never call PostgreSQL, so notices are
// queued: the glue logs them from the process's own thread, the CLI prints them.
#pragma once
#include <optional>
#include <string>

namespace pgbk {

// Queues a notice (at most 100 wait; more are counted, not kept).
void PostNotice(std::string text);
// The oldest notice queued, if any (one at a time: the glue logs each before it takes
// the next, holding no C++ object across the log call).
std::optional<std::string> TakeNotice();

} // namespace pgbk
