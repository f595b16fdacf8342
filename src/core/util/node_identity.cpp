#include "pgbk/node_identity.hpp"

#include "pgbk/error.hpp"
#include "pgbk/fileio.hpp"
#include "pgbk/hash.hpp"
#include "pgbk/stored_json.hpp"

#include <atomic>
#include <cerrno>
#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgbk {
namespace {

using nlohmann::json;

constexpr int kNodeFileFormat = 1;

std::string
RandomNodeId()
{
	if (sodium_init() < 0)
		throw Error(ErrorKind::Io, "could not initialise libsodium");
	uint8_t bytes[16];
	randombytes_buf(bytes, sizeof bytes);
	return ToHex(bytes, sizeof bytes);
}

std::string
NodeFileText(const std::string &id, const DirectoryFingerprint &fp)
{
	json j = {{"format", kNodeFileFormat},
			  {"id", id},
			  {"made_for", {{"host", fp.host}, {"pgdata", fp.pgdata}, {"device", fp.device}, {"inode", fp.inode}}}};
	return j.dump() + "\n";
}

struct NodeFile {
	std::string id;
	DirectoryFingerprint made_for;
};

// The file's content; nullopt when it is missing or unreadable as a node file (then it
// is made again: an id is nothing a node must keep across damage).
std::optional<NodeFile>
ReadNodeFile(const std::string &path)
{
	std::string text;
	try {
		text = ReadSmallFile(path, 64 * 1024);
	} catch (const Error &) {
		return std::nullopt;
	}
	try {
		json j = ParseStoredJson(text, path);
		NodeFile f;
		f.id = j.at("id").get<std::string>();
		const json &m = j.at("made_for");
		f.made_for.host = m.at("host").get<std::string>();
		f.made_for.pgdata = m.at("pgdata").get<std::string>();
		f.made_for.device = m.at("device").get<unsigned long long>();
		f.made_for.inode = m.at("inode").get<unsigned long long>();
		if (f.id.size() != 32 || f.id.find_first_not_of("0123456789abcdef") != std::string::npos)
			return std::nullopt;
		return f;
	} catch (const std::exception &) {
		return std::nullopt;
	}
}

// Creates the file only if none exists (link of a private temporary file): of several
// processes making a first id at once, one wins and all read its id.
void
CreateExclusively(const std::string &pgdata, const std::string &path, const std::string &text)
{
	static std::atomic<uint64_t> counter{0};
	std::string tmp = path + ".new." + std::to_string(::getpid()) + "." + std::to_string(counter++);
	UniqueFd fd = OpenOrThrow(tmp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	WriteFully(fd.get(), text.data(), text.size(), tmp);
	if (::fsync(fd.get()) != 0)
		ThrowErrno("could not fsync \"" + tmp + "\"", errno);
	fd.Close(tmp);
	int rc = ::link(tmp.c_str(), path.c_str());
	int err = errno;
	::unlink(tmp.c_str());
	if (rc != 0 && err != EEXIST)
		ThrowErrno("could not create \"" + path + "\"", err);
	FsyncPath(pgdata, true);
}

} // namespace

std::string
LocalHostName()
{
	char name[256] = "";
	if (::gethostname(name, sizeof name - 1) != 0)
		return "";
	return name;
}

std::string
NodeIdentity::Describe() const
{
	return host + ":" + pgdata + " [" + id.substr(0, 8) + "]";
}

DirectoryFingerprint
FingerprintOf(const std::string &pgdata, const std::string &host)
{
	DirectoryFingerprint fp;
	fp.host = host;
	fp.pgdata = pgdata;
	struct stat st;
	if (::stat(pgdata.c_str(), &st) != 0)
		ThrowErrno("could not stat data directory \"" + pgdata + "\"", errno);
	fp.device = static_cast<unsigned long long>(st.st_dev);
	fp.inode = static_cast<unsigned long long>(st.st_ino);
	return fp;
}

std::string
RenewedNodeId(const std::string &copied_id, const DirectoryFingerprint &here)
{
	std::string seed = copied_id + "\n" + here.host + "\n" + here.pgdata + "\n" + std::to_string(here.device) + "\n" +
					   std::to_string(here.inode);
	return ToHex(Sha256Of(seed)).substr(0, 32);
}

NodeIdentity
LoadOrCreateNodeIdentity(const std::string &pgdata, const std::string &host)
{
	std::string path = pgdata + "/" + kNodeIdentityFile;
	DirectoryFingerprint here = FingerprintOf(pgdata, host);
	std::optional<NodeFile> file = ReadNodeFile(path);
	if (!file) {
		// Missing (a new or restored directory) or damaged: a damaged one is replaced.
		if (::access(path.c_str(), F_OK) == 0)
			ReplaceFile(path, NodeFileText(RandomNodeId(), here), true);
		else
			CreateExclusively(pgdata, path, NodeFileText(RandomNodeId(), here));
		file = ReadNodeFile(path);
	} else if (!(file->made_for == here)) {
		// Copied from another directory (pg_basebackup, pg_rewind, a file copy).
		ReplaceFile(path, NodeFileText(RenewedNodeId(file->id, here), here), true);
		FsyncPath(pgdata, true);
		file = ReadNodeFile(path);
	}
	if (!file)
		throw Error(ErrorKind::Io, "could not read back \"" + path + "\" after writing it");
	return NodeIdentity{file->id, host, pgdata};
}

} // namespace pgbk
