#include "pgbk/storage.hpp"

#include <cerrno>
#include <sys/stat.h>
#include <unistd.h>

namespace pgbk {

std::string
RepositoryUrl::ToString() const
{
	if (scheme == Scheme::S3)
		return "s3://" + bucket + (prefix.empty() ? "" : "/" + prefix);
	return path;
}

static std::string
StripTrailingSlashes(std::string p)
{
	while (p.size() > 1 && p.back() == '/')
		p.pop_back();
	return p;
}

RepositoryUrl
ParseRepositoryUrl(const std::string &url, const std::string &data_directory)
{
	RepositoryUrl out;
	if (url.empty()) {
		std::string dd = StripTrailingSlashes(data_directory);
		if (dd.empty() || dd[0] != '/')
			throw Error(ErrorKind::Config, "cannot derive the default repository: data directory \"" + data_directory +
											   "\" is not an absolute path; set pgbk.repository to an absolute path");
		auto slash = dd.find_last_of('/');
		out.path = (slash == 0 ? std::string("") : dd.substr(0, slash)) + "/pgbk_repo";
		return out;
	}
	std::string path;
	if (url.rfind("s3://", 0) == 0) {
		std::string rest = url.substr(5);
		auto slash = rest.find('/');
		out.scheme = RepositoryUrl::Scheme::S3;
		out.bucket = rest.substr(0, slash);
		out.prefix = slash == std::string::npos ? "" : rest.substr(slash + 1);
		while (!out.prefix.empty() && out.prefix.back() == '/')
			out.prefix.pop_back();
		while (!out.prefix.empty() && out.prefix.front() == '/')
			out.prefix.erase(0, 1);
		bool ok = out.bucket.size() >= 3 && out.bucket.size() <= 63;
		for (char c : out.bucket)
			ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.');
		if (!ok)
			throw Error(ErrorKind::Config, "\"" + out.bucket +
											   "\" is not a valid S3 bucket name (3-63 lower-case letters, digits, "
											   "'-' and '.'); use s3://bucket/prefix");
		if (out.prefix.find("..") != std::string::npos || out.prefix.find("//") != std::string::npos)
			throw Error(ErrorKind::Config, "S3 prefix \"" + out.prefix + "\" must not contain \"..\" or \"//\"");
		return out;
	}
	if (url.rfind("file://", 0) == 0)
		path = url.substr(7);
	else if (url.find("://") != std::string::npos)
		throw Error(ErrorKind::Config,
					"unknown repository scheme in \"" + url +
						"\"; use an absolute directory path, file:///absolute/path or s3://bucket/prefix");
	else
		path = url;
	if (path.empty() || path[0] != '/')
		throw Error(ErrorKind::Config,
					"repository path \"" + path + "\" is not absolute; use an absolute directory path");
	path = StripTrailingSlashes(path);
	if (path == "/")
		throw Error(ErrorKind::Config, "the root directory cannot be a repository; choose a dedicated directory");
	std::string dd = StripTrailingSlashes(data_directory);
	if (!dd.empty() && (path == dd || path.rfind(dd + "/", 0) == 0))
		throw Error(ErrorKind::Config,
					"repository \"" + path + "\" is inside the data directory; choose a directory outside it");
	out.path = path;
	return out;
}

std::string
CheckLocalRepositoryUsable(const std::string &path)
{
	struct stat st;
	if (::stat(path.c_str(), &st) == 0) {
		if (!S_ISDIR(st.st_mode))
			return "\"" + path + "\" exists and is not a directory";
		if (::access(path.c_str(), W_OK | X_OK) != 0)
			return "directory \"" + path + "\" is not writable by this server's user";
		return "";
	}
	if (errno != ENOENT)
		return "cannot access \"" + path + "\": " + std::to_string(errno);
	// Missing: the nearest existing ancestor must let us create it.
	std::string parent = path;
	for (;;) {
		auto slash = parent.find_last_of('/');
		parent = slash == 0 ? "/" : parent.substr(0, slash);
		if (::stat(parent.c_str(), &st) == 0)
			break;
		if (parent == "/")
			break;
	}
	if (!S_ISDIR(st.st_mode) || ::access(parent.c_str(), W_OK | X_OK) != 0)
		return "directory \"" + path + "\" does not exist and cannot be created in \"" + parent + "\"";
	return "";
}

} // namespace pgbk
