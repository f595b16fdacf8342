// pgbk create-bucket and pgbk generate-key: setting a repository up.
#include "cli.hpp"

#include "pgbk/crypto.hpp"

#include <cstdio>

namespace pgbk::cli {
namespace {

int
RunCreateBucket(Context &context, const std::vector<std::string> &args)
{
	if (!args.empty())
		throw UsageError("create-bucket takes no arguments");
	context.location.driver->CreateContainer(context.location, context.values, {});
	std::printf("bucket %s is ready\n", context.location.root.c_str());
	return 0;
}

int
RunGenerateKey(Context &, const std::vector<std::string> &args)
{
	if (args.size() != 1)
		throw UsageError("generate-key needs FILE");
	GenerateKeyFile(args[0]);
	std::printf("wrote a new key to %s (mode 600); keep a copy somewhere safe: without it the backups it encrypts "
				"cannot be restored\n",
				args[0].c_str());
	return 0;
}

const CommandRegistration create_bucket({"create-bucket", "create-bucket", RepositoryUse::Raw, RunCreateBucket});
const CommandRegistration generate_key({"generate-key", "generate-key FILE", RepositoryUse::None, RunGenerateKey});

} // namespace
} // namespace pgbk::cli
