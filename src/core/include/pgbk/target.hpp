// Proving a repository target before it is adopted (pgbk_set_target): the options are
// validated and a probe object is written, read back, listed and deleted, so a wrong
// credential, signature, bucket, certificate or network fails here, naming the step,
// and nothing changes.
#pragma once
#include "pgbk/settings.hpp"
#include "pgbk/storage_driver.hpp"

#include <string>
#include <vector>

namespace pgbk {

// The settings a target's driver reads (its settings group): pgbk_set_target persists
// those given and resets the others.
std::vector<const settings::Definition *> TargetSettings(const RepositoryLocation &location);

// The JSON options of pgbk_set_target as settings: each key is one of the target's
// settings without its "pgbk.<scheme>_" prefix, and takes exactly what the setting
// takes (units included). Those given are marked set. Throws Config naming a bad key or
// value.
settings::Values ParseTargetOptions(const RepositoryLocation &location, const std::string &json_object,
									const settings::CheckContext &context);

// Writes, reads back, lists and deletes a probe object. Throws with the failing step.
void ProbeStorage(Storage &storage);

} // namespace pgbk
