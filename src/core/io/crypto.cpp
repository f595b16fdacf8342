#include "pgbk/crypto.hpp"

#include "pgbk/settings.hpp"

#include "pgbk/error.hpp"
#include "pgbk/fileio.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <mutex>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pgbk {
namespace {

void
EnsureSodium()
{
	static std::once_flag once;
	static bool ok = false;
	std::call_once(once, [] { ok = sodium_init() >= 0; });
	if (!ok)
		throw Error(ErrorKind::Io, "could not initialise libsodium");
}

// Subkey ids and the KDF context: changing them changes every derived key (format).
constexpr char kKdfContext[crypto_kdf_CONTEXTBYTES + 1] = "pgbk-key";
constexpr uint64_t kObjectKeyId = 1, kTrailerKeyId = 2, kIdentifierId = 3;

std::string
Trim(const std::string &s)
{
	size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
	return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool
DecodeKey(const std::string &text, uint8_t *out)
{
	size_t len = 0;
	if (text.size() == 2 * kKeyBytes &&
		sodium_hex2bin(out, kKeyBytes, text.data(), text.size(), nullptr, &len, nullptr) == 0 && len == kKeyBytes)
		return true;
	for (int variant : {sodium_base64_VARIANT_ORIGINAL, sodium_base64_VARIANT_ORIGINAL_NO_PADDING}) {
		uint8_t buf[kKeyBytes + 3];
		if (sodium_base642bin(buf, sizeof buf, text.data(), text.size(), nullptr, &len, nullptr, variant) == 0 &&
			len == kKeyBytes) {
			std::memcpy(out, buf, kKeyBytes);
			sodium_memzero(buf, sizeof buf);
			return true;
		}
		sodium_memzero(buf, sizeof buf);
	}
	return false;
}

} // namespace

std::string
KeyIdHex(const KeyId &id)
{
	char hex[2 * kKeyIdBytes + 1];
	sodium_bin2hex(hex, sizeof hex, id.data(), id.size());
	return hex;
}

EncryptionKey::EncryptionKey(const std::string &text, std::string source) : source_(std::move(source))
{
	EnsureSodium();
	std::string trimmed = Trim(text);
	uint8_t master[kKeyBytes];
	bool ok = DecodeKey(trimmed, master);
	sodium_memzero(trimmed.data(), trimmed.size());
	if (!ok)
		throw Error(ErrorKind::Config, source_ +
										   " does not hold a 32-byte key as 64 hexadecimal digits or base64 (create "
										   "one with: pgbk generate-key FILE, or openssl rand -hex 32 > FILE)");
	uint8_t id[crypto_kdf_BYTES_MIN];
	crypto_kdf_derive_from_key(object_key_.data(), object_key_.size(), kObjectKeyId, kKdfContext, master);
	crypto_kdf_derive_from_key(trailer_key_.data(), trailer_key_.size(), kTrailerKeyId, kKdfContext, master);
	crypto_kdf_derive_from_key(id, sizeof id, kIdentifierId, kKdfContext, master);
	std::memcpy(id_.data(), id, kKeyIdBytes);
	sodium_memzero(master, sizeof master);
}

EncryptionKey::~EncryptionKey()
{
	sodium_memzero(object_key_.data(), object_key_.size());
	sodium_memzero(trailer_key_.data(), trailer_key_.size());
}

std::unique_ptr<EncryptionKey>
LoadKeyFile(const std::string &path, const std::string &setting)
{
	std::string what = setting + " file \"" + path + "\"";
	if (path.empty() || path[0] != '/')
		throw Error(ErrorKind::Config, setting + " must be an absolute path to a key file (got \"" + path + "\")");
	UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
	if (fd.get() < 0)
		ThrowErrno("could not open " + what, errno);
	struct stat st;
	if (::fstat(fd.get(), &st) != 0)
		ThrowErrno("could not stat " + what, errno);
	if (!S_ISREG(st.st_mode))
		throw Error(ErrorKind::Config, what + " is not a regular file");
	if ((st.st_uid == 0 && (st.st_mode & 0037) != 0) || (st.st_uid != 0 && (st.st_mode & 0077) != 0))
		throw Error(ErrorKind::Config, what + " is readable by other users; make it accessible to its owner only "
											  "(chmod 600, or chmod 640 when owned by root)");
	if (st.st_size > 4096)
		throw Error(ErrorKind::Config, what + " is too large to be a key file");
	std::string text(static_cast<size_t>(st.st_size), '\0');
	size_t got = 0;
	while (got < text.size()) {
		ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			ThrowErrno("could not read " + what, n < 0 ? errno : EIO);
		got += static_cast<size_t>(n);
	}
	try {
		auto key = std::make_unique<EncryptionKey>(text, what);
		sodium_memzero(text.data(), text.size());
		return key;
	} catch (...) {
		sodium_memzero(text.data(), text.size());
		throw;
	}
}

std::vector<std::string>
SplitKeyFileList(const std::string &list)
{
	return settings::SplitList(list, " \t\r\n");
}

std::shared_ptr<const Keyring>
Keyring::Load(const std::string &key_file, const std::vector<std::string> &old_files)
{
	auto ring = std::make_shared<Keyring>();
	if (key_file.empty()) {
		if (!old_files.empty())
			throw Error(ErrorKind::Config, "pgbk.encryption_keyring is set but pgbk.encryption_key_file is not: "
										   "set the key that encrypts new objects too");
		return ring;
	}
	ring->keys_.push_back(LoadKeyFile(key_file, "pgbk.encryption_key_file"));
	for (const auto &f : old_files) {
		auto key = LoadKeyFile(f, "pgbk.encryption_keyring");
		if (ring->Find(key->id()) == nullptr) // the same key listed twice is harmless
			ring->keys_.push_back(std::move(key));
	}
	return ring;
}

std::shared_ptr<const Keyring>
Keyring::FromText(const std::string &current, const std::vector<std::string> &old)
{
	auto ring = std::make_shared<Keyring>();
	ring->keys_.push_back(std::make_unique<EncryptionKey>(current, "key"));
	for (const auto &t : old)
		ring->keys_.push_back(std::make_unique<EncryptionKey>(t, "old key"));
	return ring;
}

const EncryptionKey *
Keyring::Find(const KeyId &id) const
{
	for (const auto &k : keys_)
		if (sodium_memcmp(k->id().data(), id.data(), kKeyIdBytes) == 0)
			return k.get();
	return nullptr;
}

const EncryptionKey *
Keyring::Find(const std::string &id_hex) const
{
	for (const auto &k : keys_)
		if (k->IdHex() == id_hex)
			return k.get();
	return nullptr;
}

std::string
Keyring::Describe() const
{
	if (keys_.empty())
		return "no key";
	std::string out = "key " + keys_.front()->IdHex();
	if (keys_.size() > 1) {
		out += " (keyring:";
		for (size_t i = 1; i < keys_.size(); i++)
			out += " " + keys_[i]->IdHex();
		out += ")";
	}
	return out;
}

void
GenerateKeyFile(const std::string &path)
{
	EnsureSodium();
	uint8_t key[kKeyBytes];
	randombytes_buf(key, sizeof key);
	char hex[2 * kKeyBytes + 2];
	sodium_bin2hex(hex, sizeof hex - 1, key, sizeof key);
	sodium_memzero(key, sizeof key);
	std::string text = std::string(hex) + "\n";
	sodium_memzero(hex, sizeof hex);
	UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
	if (fd.get() < 0)
		ThrowErrno("could not create key file \"" + path + "\"", errno);
	WriteFully(fd.get(), text.data(), text.size(), path);
	sodium_memzero(text.data(), text.size());
	if (::fsync(fd.get()) != 0)
		ThrowErrno("could not sync key file \"" + path + "\"", errno);
	fd.Close(path);
}

// The checks of the key settings, beside the keys.
namespace settings {

void
CheckKeyFile(const std::string &value, const CheckContext &context)
{
	if (!value.empty() && context.filesystem)
		LoadKeyFile(value, "pgbk.encryption_key_file");
}

void
CheckKeyring(const std::string &value, const CheckContext &context)
{
	for (const auto &f : SplitKeyFileList(value))
		if (context.filesystem)
			LoadKeyFile(f, "pgbk.encryption_keyring");
}

} // namespace settings

} // namespace pgbk
