#include "pgbk/storage_driver.hpp"

#include <algorithm>
#include <mutex>

namespace pgbk {
namespace {

struct Registry {
	std::mutex mu;
	std::vector<const StorageDriver *> drivers;
};

// Built on first use: drivers register from their files' static initialisers, in
// whatever order the linker chose.
Registry &
TheRegistry()
{
	static Registry registry;
	return registry;
}

} // namespace

bool
StorageDriver::Accepts(std::string_view url) const
{
	std::string prefix = std::string(Scheme()) + "://";
	return url.substr(0, prefix.size()) == prefix;
}

void
StorageDriver::CreateContainer(const RepositoryLocation &location, const settings::Values &,
							   const StorageOpenOptions &) const
{
	throw Error(ErrorKind::Config, "a " + std::string(Scheme()) + " repository (" + location.url +
									   ") has no container to create; writers create it themselves");
}

void
RegisterStorageDriver(const StorageDriver &driver)
{
	Registry &r = TheRegistry();
	std::lock_guard<std::mutex> lock(r.mu);
	r.drivers.push_back(&driver);
	std::sort(r.drivers.begin(), r.drivers.end(),
			  [](const StorageDriver *a, const StorageDriver *b) { return a->Scheme() < b->Scheme(); });
}

std::vector<const StorageDriver *>
StorageDrivers()
{
	Registry &r = TheRegistry();
	std::lock_guard<std::mutex> lock(r.mu);
	return r.drivers;
}

std::string
RepositorySyntaxes()
{
	std::vector<std::string> syntaxes;
	for (const StorageDriver *d : StorageDrivers())
		syntaxes.emplace_back(d->Syntax());
	return settings::JoinAlternatives(syntaxes);
}

RepositoryLocation
ParseRepositoryLocation(const std::string &url, const std::string &data_directory)
{
	auto drivers = StorageDrivers();
	if (url.empty()) {
		for (const StorageDriver *d : drivers)
			if (auto location = d->DefaultLocation(data_directory))
				return *location;
		throw Error(ErrorKind::Config, "pgbk.repository is empty and no storage driver provides a default");
	}
	for (const StorageDriver *d : drivers)
		if (d->Accepts(url))
			return d->Parse(url, data_directory);
	throw Error(ErrorKind::Config, "unknown repository scheme in \"" + url + "\"; use " + RepositorySyntaxes());
}

std::unique_ptr<Storage>
OpenStorage(const RepositoryLocation &location, const settings::Values &values, const StorageOpenOptions &options)
{
	return location.driver->Open(location, values, options);
}

// The checks of repository URLs, beside the drivers that parse them (settings.hpp's table names them).
namespace settings {

void
CheckRepository(const std::string &value, const CheckContext &context)
{
	if (value.empty())
		return;
	if (!context.filesystem) {
		ParseRepositoryLocation(value, ""); // its syntax only
		return;
	}
	RepositoryLocation location = ParseRepositoryLocation(value, context.data_directory);
	location.driver->CheckUsable(location);
}

void
CheckAllowedTargets(const std::string &value, const CheckContext &context)
{
	for (const auto &prefix : SplitList(value))
		try {
			ParseRepositoryLocation(prefix, context.filesystem ? context.data_directory : "");
		} catch (const Error &e) {
			throw Error(ErrorKind::Config, "\"" + prefix + "\" is not a repository URL prefix: " + e.what());
		}
}

bool
TargetAllowed(const std::string &url, const std::string &allowed, const std::string &data_directory)
{
	std::string target = ParseRepositoryLocation(url, data_directory).url;
	for (const auto &prefix : SplitList(allowed)) {
		std::string p = ParseRepositoryLocation(prefix, data_directory).url; // canonical, no trailing '/'
		if (target == p || target.rfind(p + "/", 0) == 0)
			return true;
	}
	return false;
}

} // namespace settings

} // namespace pgbk
