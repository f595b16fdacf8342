// What a restored copy becomes towards the repository it came from. A copy that
// archives its promotion into that repository becomes the newest line there and fences
// the live primary (timeline.hpp), so a restore is a copy unless told otherwise:
//   copy      (the default; --clone names it) archives nothing and takes no scheduled
//             backups: a drill, an audit, a clone beside the running cluster;
//   takeover  (--takeover, or implied when the directory is one of the cluster's own
//             nodes, recorded in the repository) archives into it after promotion: the
//             disaster recovery of a cluster whose primary is gone;
//   standby   (--standby) a replica of the cluster: it follows the primary and archives
//             only what its role lets it, as any member does.
#pragma once
#include "pgbk/repository.hpp"

#include <string>
#include <vector>

namespace pgbk {

enum class RestoreRole { Copy, Takeover, Standby };

struct RestoreRoleRequest {
	bool standby = false, takeover = false, copy = false; // the flags given
	std::string host, pgdata; // where the restore writes (absolute path)
};

struct RestoreRoleChoice {
	RestoreRole role = RestoreRole::Copy;
	std::string why; // one sentence for the operator
};

// Throws Config when the flags contradict each other.
RestoreRoleChoice ChooseRestoreRole(const RestoreRoleRequest &request, const std::vector<NodeRecord> &nodes);

} // namespace pgbk
