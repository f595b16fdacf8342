// pgbk check-store: the storage contract pgbk relies on, run against the repository's
// store before it is trusted (storage_contract.hpp).
#include "cli.hpp"

#include "pgbk/notices.hpp"
#include "pgbk/storage_contract.hpp"

#include <cstdio>

namespace pgbk::cli {
namespace {

int
RunCheckStore(Context &context, const std::vector<std::string> &args)
{
	ContractOptions options;
	options.multipart_size = 33 << 20; // more than two parts at the default part size
	for (size_t i = 0; i < args.size(); i++) {
		if (args[i] == "--large-object-mb" && i + 1 < args.size()) {
			char *end = nullptr;
			long mb = std::strtol(args[++i].c_str(), &end, 10);
			if (*end != '\0' || mb < 0 || mb > 1024)
				throw UsageError("--large-object-mb takes 0 .. 1024");
			options.multipart_size = static_cast<size_t>(mb) << 20;
		} else
			throw UsageError("check-store: unknown argument " + args[i]);
	}
	auto storage = OpenStorage(context.location, context.values);
	std::printf("checking %s (objects under pgbk-contract/, removed afterwards)\n", storage->Describe().c_str());
	int failed = RunStorageContract(*storage, options, [](const ContractCheck &c) {
		std::printf("%-4s %-36s %s\n", c.passed ? "ok" : "FAIL", c.name.c_str(), c.detail.c_str());
		std::fflush(stdout);
		while (auto n = TakeNotice())
			std::fprintf(stderr, "%s\n", n->c_str());
	});
	std::printf(failed == 0 ? "the store passed every check\n" : "%d check(s) failed\n", failed);
	return failed == 0 ? 0 : 1;
}

const CommandRegistration check_store({"check-store",
									   "check-store [--large-object-mb N]   (objects under pgbk-contract/)",
									   RepositoryUse::Raw, RunCheckStore});

} // namespace
} // namespace pgbk::cli
