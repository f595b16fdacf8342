// Storage drivers register themselves here: a driver owns a URL scheme, parses its
// pgbk.repository values, reads its own settings (the settings group named after it)
// and opens its Storage. Nothing outside a driver names a scheme: adding a driver is
// one file that defines a StorageDriver and a StorageDriverRegistration.
#pragma once
#include "pgbk/settings.hpp"
#include "pgbk/storage.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pgbk {

class StorageDriver;

// What a pgbk.repository value names.
struct RepositoryLocation {
	const StorageDriver *driver = nullptr;
	std::string url; // canonical: as shown, and as carried into a restored cluster
	std::string root; // the driver's container: a local directory, a bucket
	std::string prefix; // inside the container (may be empty)
};

struct StorageOpenOptions {
	// Polled by requests that may wait (on any thread): true stops them with Cancelled.
	bool (*should_cancel)() = nullptr;
};

class StorageDriver {
public:
	virtual ~StorageDriver() = default;
	// The URL scheme ("file", "s3"), also the settings group the driver reads.
	virtual std::string_view Scheme() const = 0;
	// How its URLs are written, for messages ("s3://bucket/prefix").
	virtual std::string_view Syntax() const = 0;
	// Whether the value is this driver's.
	virtual bool Accepts(std::string_view url) const;
	// Throws Config with a message for operators.
	virtual RepositoryLocation Parse(const std::string &url, const std::string &data_directory) const = 0;
	// The repository an empty pgbk.repository means, if this driver provides it.
	virtual std::optional<RepositoryLocation>
	DefaultLocation(const std::string &) const
	{
		return std::nullopt;
	}
	// A check without network I/O, when the setting changes (Config on failure).
	virtual void
	CheckUsable(const RepositoryLocation &) const
	{
	}
	// The directory on this machine the repository is, if it is one: a backup walk skips
	// it, wherever it is.
	virtual std::string
	LocalDirectory(const RepositoryLocation &) const
	{
		return "";
	}
	virtual std::unique_ptr<Storage> Open(const RepositoryLocation &location, const settings::Values &values,
										  const StorageOpenOptions &options) const = 0;
	// Creates the container (a bucket) where the store needs one (pgbk create-bucket).
	virtual void CreateContainer(const RepositoryLocation &location, const settings::Values &values,
								 const StorageOpenOptions &options) const;
	// Environment variables the driver's users already have, as fallbacks for its
	// settings (the AWS_* variables for S3): setting name, variable names in order.
	virtual std::vector<std::pair<std::string_view, std::vector<std::string_view>>>
	EnvironmentAliases() const
	{
		return {};
	}
};

void RegisterStorageDriver(const StorageDriver &driver);
// Every registered driver, ordered by scheme.
std::vector<const StorageDriver *> StorageDrivers();

// Defined at namespace scope in a driver's file, it registers the driver at start-up.
struct StorageDriverRegistration {
	explicit StorageDriverRegistration(const StorageDriver &driver) { RegisterStorageDriver(driver); }
};

// How repository URLs may be written, every driver's syntax ("an absolute directory
// path, file:///absolute/path or s3://bucket/prefix").
std::string RepositorySyntaxes();

// Parses a pgbk.repository value with the driver that accepts it; empty means the
// default repository beside the data directory. Throws Config naming every syntax.
RepositoryLocation ParseRepositoryLocation(const std::string &url, const std::string &data_directory);
std::unique_ptr<Storage> OpenStorage(const RepositoryLocation &location, const settings::Values &values,
									 const StorageOpenOptions &options = {});

namespace settings {
// Whether a repository URL is one of pgbk.allowed_targets' prefixes or below one
// (compared canonical, at path boundaries: "s3://b/x" allows "s3://b/x/y", not "s3://b/xy").
bool TargetAllowed(const std::string &url, const std::string &allowed, const std::string &data_directory);
} // namespace settings

} // namespace pgbk
