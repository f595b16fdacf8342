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
	auto drivers = StorageDrivers();
	std::string out;
	for (size_t i = 0; i < drivers.size(); i++)
		out += std::string(i == 0 ? "" : i + 1 == drivers.size() ? " or " : ", ") + std::string(drivers[i]->Syntax());
	return out;
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
	std::string syntaxes;
	for (size_t i = 0; i < drivers.size(); i++)
		syntaxes += std::string(i == 0                    ? ""
								: i + 1 == drivers.size() ? " or "
														  : ", ") +
					std::string(drivers[i]->Syntax());
	throw Error(ErrorKind::Config, "unknown repository scheme in \"" + url + "\"; use " + syntaxes);
}

std::unique_ptr<Storage>
OpenStorage(const RepositoryLocation &location, const settings::Values &values, const StorageOpenOptions &options)
{
	return location.driver->Open(location, values, options);
}

} // namespace pgbk
