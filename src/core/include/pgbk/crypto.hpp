// Encryption keys (docs/repository-format.md, "Encryption"): a key file holds one 32-byte
// master key (64 hexadecimal digits or base64). From it pgbk derives, with libsodium's
// KDF, the key that encrypts objects, the key that authenticates object trailers and an
// 8-byte key identifier; the master key itself is never used directly, stored or shown.
#pragma once
#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace pgbk {

constexpr size_t kKeyBytes = 32;
constexpr size_t kKeyIdBytes = 8;
using KeyId = std::array<uint8_t, kKeyIdBytes>;

std::string KeyIdHex(const KeyId &id);

class EncryptionKey {
public:
	// Parses key material (hex or base64, surrounding whitespace ignored); `source` names
	// it in errors (a file, never the content).
	EncryptionKey(const std::string &text, std::string source);
	~EncryptionKey();
	EncryptionKey(const EncryptionKey &) = delete;
	EncryptionKey &operator=(const EncryptionKey &) = delete;

	const KeyId &
	id() const
	{
		return id_;
	}
	std::string
	IdHex() const
	{
		return KeyIdHex(id_);
	}
	const std::string &
	source() const
	{
		return source_;
	}
	const uint8_t *
	object_key() const
	{
		return object_key_.data();
	}
	const uint8_t *
	trailer_key() const
	{
		return trailer_key_.data();
	}

private:
	std::array<uint8_t, kKeyBytes> object_key_{}, trailer_key_{};
	KeyId id_{};
	std::string source_;
};

// The key new objects are written with (pgbk.encryption_key_file) and older keys that
// still read objects written before a rotation (pgbk.encryption_keyring).
class Keyring {
public:
	// Loads the key files. `key_file` empty means no encryption (then `old_files` must be
	// empty too). Throws Config naming the file and the setting on any problem.
	static std::shared_ptr<const Keyring> Load(const std::string &key_file, const std::vector<std::string> &old_files);
	// Builds a keyring from key material directly (tests, generated keys).
	static std::shared_ptr<const Keyring> FromText(const std::string &current,
												   const std::vector<std::string> &old = {});

	// The key new objects are encrypted with; nullptr when encryption is off.
	const EncryptionKey *
	current() const
	{
		return keys_.empty() ? nullptr : keys_.front().get();
	}
	const EncryptionKey *Find(const KeyId &id) const;
	const EncryptionKey *Find(const std::string &id_hex) const;
	// Every key id, current first, for messages.
	std::string Describe() const;

private:
	std::vector<std::unique_ptr<EncryptionKey>> keys_;
};

// Reads one key file, refusing files others can read (the rule PostgreSQL applies to
// ssl_key_file: 0600, or 0640 when owned by root). `setting` names it in errors.
std::unique_ptr<EncryptionKey> LoadKeyFile(const std::string &path, const std::string &setting);
// Splits a comma-separated list of key files (pgbk.encryption_keyring).
std::vector<std::string> SplitKeyFileList(const std::string &list);
// Writes a new random key (hex) to a file created with mode 0600; refuses to overwrite.
void GenerateKeyFile(const std::string &path);

} // namespace pgbk
