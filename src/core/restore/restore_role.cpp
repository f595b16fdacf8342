#include "pgbk/restore_role.hpp"

#include "pgbk/error.hpp"

namespace pgbk {

RestoreRoleChoice
ChooseRestoreRole(const RestoreRoleRequest &request, const std::vector<NodeRecord> &nodes)
{
	if (request.standby + request.takeover + request.copy > 1)
		throw Error(ErrorKind::Config,
					"give one of --standby (a replica of the cluster), --takeover (the cluster's new primary after "
					"recovery) and --clone (an independent copy)");
	if (request.standby)
		return {RestoreRole::Standby, "--standby: a replica that follows the cluster's primary"};
	if (request.takeover)
		return {RestoreRole::Takeover, "--takeover: after recovery this server is the cluster's primary and archives "
									   "into the repository on a new timeline"};
	if (request.copy)
		return {RestoreRole::Copy, "--clone: an independent copy"};
	for (const auto &n : nodes)
		if (n.host == request.host && n.pgdata == request.pgdata)
			return {RestoreRole::Takeover,
					"the directory is one of the cluster's own nodes (" + n.host + ":" + n.pgdata + " [" +
						n.id.substr(0, 8) +
						"] stored into the repository), so it takes the cluster over after recovery (give --clone for "
						"a copy)"};
	return {RestoreRole::Copy,
			"the directory is none of the cluster's nodes that stored into the repository, so it is restored as a copy "
			"that archives nothing: a drill or a clone must never fence the running primary (give --takeover to "
			"make it the cluster's primary after the old one is gone)"};
}

} // namespace pgbk
