#include "pgbk/object.hpp"

#include <algorithm>
#include <cstring>
#include <sodium.h>
#include <zstd.h>

namespace pgbk {
namespace {

constexpr char kHeaderMagic[4] = {'P', 'G', 'B', 'K'};
constexpr char kTrailerMagic[4] = {'P', 'G', 'B', 'E'};
constexpr size_t kChunk = 256 * 1024;

// Encryption: plaintext bytes per secretstream message, and the cipher header.
constexpr size_t kCipherChunk = 64 * 1024;
constexpr size_t kCipherMessage = kCipherChunk + crypto_secretstream_xchacha20poly1305_ABYTES;
constexpr size_t kStreamHeaderSize = crypto_secretstream_xchacha20poly1305_HEADERBYTES;
constexpr size_t kCipherHeaderSize = kKeyIdBytes + kStreamHeaderSize;
static_assert(kCipherMessage + kObjectTrailerSize <= kChunk, "a message must fit the read buffer");

void
PutU64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t
GetU64(const uint8_t *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

// What the trailer stores as the checksum: the SHA-256 itself, or, for an encrypted
// object, a MAC of it so the stored object does not reveal a checksum of its content.
Digest
TrailerDigest(const Digest &sha256, const EncryptionKey *key)
{
	if (key == nullptr)
		return sha256;
	Digest out;
	crypto_generichash(out.data(), out.size(), sha256.data(), sha256.size(), key->trailer_key(), kKeyBytes);
	return out;
}

void
EncodeTrailer(uint8_t *t, uint64_t raw_size, const Digest &digest)
{
	std::memset(t, 0, kObjectTrailerSize);
	PutU64(t, raw_size);
	std::memcpy(t + 8, digest.data(), 32);
	std::memcpy(t + 44, kTrailerMagic, 4);
}

ObjectSummary
DecodeTrailer(const uint8_t *t, const std::string &name)
{
	if (std::memcmp(t + 44, kTrailerMagic, 4) != 0)
		throw Error(ErrorKind::Corrupt,
					"object \"" + name + "\" has no valid trailer (truncated or not a pgbk object)");
	ObjectSummary s;
	s.raw_size = GetU64(t);
	std::memcpy(s.sha256.data(), t + 8, 32);
	return s;
}

// Additional data of an encrypted object's first message: its fixed header, key id and
// name, so that none of them can be changed, nor the object moved, undetected.
std::string
FirstMessageAd(const uint8_t *header, const KeyId &id, const std::string &name)
{
	std::string ad(reinterpret_cast<const char *>(header), kObjectHeaderSize);
	ad.append(reinterpret_cast<const char *>(id.data()), id.size());
	ad += name;
	return ad;
}

// Parses the fixed header; returns the cipher and codec or throws naming the object.
struct HeaderFields {
	Codec codec;
	Cipher cipher;
};

HeaderFields
ParseHeader(const uint8_t *h, size_t len, const std::string &name)
{
	if (len < kObjectHeaderSize + kObjectTrailerSize || std::memcmp(h, kHeaderMagic, 4) != 0)
		throw Error(ErrorKind::Corrupt, "object \"" + name + "\" is truncated or not a pgbk object");
	uint8_t version = h[4], codec = h[5], cipher = h[6];
	if (version != kObjectFormatVersion)
		throw Error(ErrorKind::Corrupt,
					"object \"" + name + "\" has format version " + std::to_string(version) + ", expected 1");
	if (codec > 1)
		throw Error(ErrorKind::Corrupt, "object \"" + name + "\" has unknown codec " + std::to_string(codec));
	if (cipher > 1)
		throw Error(ErrorKind::Corrupt, "object \"" + name + "\" has unknown cipher " + std::to_string(cipher));
	return HeaderFields{static_cast<Codec>(codec), static_cast<Cipher>(cipher)};
}

// The key an object with this header needs, enforcing the keyring policy.
const EncryptionKey *
KeyForObject(Cipher cipher, const uint8_t *key_id, const Keyring *keyring, const std::string &name)
{
	bool have_key = keyring != nullptr && keyring->current() != nullptr;
	if (cipher == Cipher::None) {
		if (have_key)
			throw Error(ErrorKind::Corrupt, "object \"" + name +
												"\" is not encrypted, but the repository is (pgbk never writes a "
												"plaintext object there: it was replaced)");
		return nullptr;
	}
	KeyId id;
	std::memcpy(id.data(), key_id, kKeyIdBytes);
	if (!have_key)
		throw Error(ErrorKind::Config, "object \"" + name + "\" is encrypted (key " + KeyIdHex(id) +
										   "): set pgbk.encryption_key_file (pgbk --encryption-key-file) to its key");
	const EncryptionKey *key = keyring->Find(id);
	if (key == nullptr)
		throw Error(ErrorKind::Config, "object \"" + name + "\" is encrypted with key " + KeyIdHex(id) +
										   ", which is neither pgbk.encryption_key_file's key nor in "
										   "pgbk.encryption_keyring (configured: " +
										   keyring->Describe() +
										   "); add the file of the key it was written with to pgbk.encryption_keyring");
	return key;
}

} // namespace

struct ObjectWriter::Impl {
	StorageWriter &out;
	CodecOptions opts;
	std::string name;
	ZSTD_CCtx *cctx = nullptr;
	Sha256 hash;
	ObjectSummary summary;
	std::vector<uint8_t> buf;
	bool finished = false;
	// Encryption: the stream state, the plaintext of the message being filled, the
	// first message's additional data.
	crypto_secretstream_xchacha20poly1305_state state;
	std::vector<uint8_t> plain, sealed;
	std::string first_ad;

	Impl(StorageWriter &o, const CodecOptions &op, std::string n) : out(o), opts(op), name(std::move(n)) {}
	~Impl() { sodium_memzero(&state, sizeof state); }

	void
	Store(const void *p, size_t n)
	{
		out.Write(p, n);
		summary.stored_size += n;
	}
	void
	Seal(unsigned char tag)
	{
		unsigned long long len = 0;
		const auto *ad = reinterpret_cast<const unsigned char *>(first_ad.data());
		crypto_secretstream_xchacha20poly1305_push(&state, sealed.data(), &len, plain.data(), plain.size(), ad,
												   first_ad.size(), tag);
		first_ad.clear();
		plain.clear();
		Store(sealed.data(), static_cast<size_t>(len));
	}
	// Body bytes (after the codec) go out directly or through the cipher.
	void
	Emit(const void *p, size_t n)
	{
		if (opts.key == nullptr) {
			Store(p, n);
			return;
		}
		const auto *b = static_cast<const uint8_t *>(p);
		while (n > 0) {
			size_t take = std::min(n, kCipherChunk - plain.size());
			plain.insert(plain.end(), b, b + take);
			b += take;
			n -= take;
			if (plain.size() == kCipherChunk)
				Seal(0);
		}
	}
	void
	Compress(const void *data, size_t len, ZSTD_EndDirective mode)
	{
		ZSTD_inBuffer in{data, len, 0};
		for (;;) {
			ZSTD_outBuffer ob{buf.data(), buf.size(), 0};
			size_t rem = ZSTD_compressStream2(cctx, &ob, &in, mode);
			if (ZSTD_isError(rem))
				throw Error(ErrorKind::Io, std::string("zstd compression failed: ") + ZSTD_getErrorName(rem));
			if (ob.pos > 0)
				Emit(buf.data(), ob.pos);
			bool done = mode == ZSTD_e_end ? rem == 0 : in.pos == in.size;
			if (done)
				break;
		}
	}
};

ObjectWriter::ObjectWriter(StorageWriter &out, const CodecOptions &opts, const std::string &name)
	: impl_(std::make_unique<Impl>(out, opts, name))
{
	if (opts.codec == Codec::Zstd) {
		impl_->cctx = ZSTD_createCCtx();
		if (impl_->cctx == nullptr)
			throw Error(ErrorKind::Io, "could not allocate zstd context");
		ZSTD_CCtx_setParameter(impl_->cctx, ZSTD_c_compressionLevel, opts.level);
		ZSTD_CCtx_setParameter(impl_->cctx, ZSTD_c_checksumFlag, 0);
		impl_->buf.resize(ZSTD_CStreamOutSize());
	}
	uint8_t header[kObjectHeaderSize] = {0};
	std::memcpy(header, kHeaderMagic, 4);
	header[4] = kObjectFormatVersion;
	header[5] = static_cast<uint8_t>(opts.codec);
	header[6] = static_cast<uint8_t>(opts.key ? Cipher::XChaCha20Poly1305 : Cipher::None);
	impl_->Store(header, sizeof header);
	if (opts.key != nullptr) {
		uint8_t stream_header[kStreamHeaderSize];
		crypto_secretstream_xchacha20poly1305_init_push(&impl_->state, stream_header, opts.key->object_key());
		impl_->Store(opts.key->id().data(), kKeyIdBytes);
		impl_->Store(stream_header, sizeof stream_header);
		impl_->first_ad = FirstMessageAd(header, opts.key->id(), name);
		impl_->plain.reserve(kCipherChunk);
		impl_->sealed.resize(kCipherMessage);
	}
}

ObjectWriter::~ObjectWriter()
{
	ZSTD_freeCCtx(impl_->cctx);
}

void
ObjectWriter::Write(const void *data, size_t len)
{
	impl_->hash.Update(data, len);
	impl_->summary.raw_size += len;
	if (impl_->opts.codec == Codec::Zstd)
		impl_->Compress(data, len, ZSTD_e_continue);
	else
		impl_->Emit(data, len);
}

ObjectSummary
ObjectWriter::Finish()
{
	Impl &m = *impl_;
	if (m.finished)
		throw Error(ErrorKind::Io, "object already finished");
	if (m.opts.codec == Codec::Zstd)
		m.Compress(nullptr, 0, ZSTD_e_end);
	if (m.opts.key != nullptr)
		m.Seal(crypto_secretstream_xchacha20poly1305_TAG_FINAL); // possibly empty
	m.summary.sha256 = m.hash.Final();
	uint8_t trailer[kObjectTrailerSize];
	EncodeTrailer(trailer, m.summary.raw_size, TrailerDigest(m.summary.sha256, m.opts.key));
	m.Store(trailer, sizeof trailer);
	m.finished = true;
	return m.summary;
}

struct ObjectReader::Impl {
	std::unique_ptr<StorageReader> in;
	std::string name;
	Codec codec = Codec::None;
	const EncryptionKey *key = nullptr;
	ZSTD_DCtx *dctx = nullptr;
	// Stored bytes not yet consumed; the last kObjectTrailerSize bytes read so far are
	// always held back because they may be the trailer.
	std::vector<uint8_t> stored;
	size_t stored_pos = 0, stored_len = 0;
	bool eof = false, done = false, frame_ended = true;
	Sha256 hash;
	ObjectSummary summary;
	uint64_t stored_total = 0;
	// Encryption: stream state, the current decrypted message, whether the final one
	// was seen, the first message's additional data.
	crypto_secretstream_xchacha20poly1305_state state;
	std::vector<uint8_t> plain;
	size_t plain_pos = 0, plain_len = 0;
	bool final_seen = false;
	std::string first_ad;

	~Impl() { sodium_memzero(&state, sizeof state); }

	// Ensures that at least `need` bytes besides the trailer are buffered, unless the
	// input ended.
	void
	Fill(size_t need)
	{
		while (!eof && stored_len - stored_pos < need + kObjectTrailerSize) {
			if (stored_pos > 0) {
				std::memmove(stored.data(), stored.data() + stored_pos, stored_len - stored_pos);
				stored_len -= stored_pos;
				stored_pos = 0;
			}
			size_t n = in->Read(stored.data() + stored_len, stored.size() - stored_len);
			if (n == 0)
				eof = true;
			stored_len += n;
			stored_total += n;
		}
	}
	size_t
	Available() const
	{
		size_t have = stored_len - stored_pos;
		return have > kObjectTrailerSize ? have - kObjectTrailerSize : 0;
	}
	// Opens the next secretstream message into `plain`.
	void
	OpenMessage()
	{
		Fill(kCipherMessage);
		size_t len = std::min(Available(), kCipherMessage);
		if (len == 0)
			throw Error(ErrorKind::Corrupt, "object \"" + name + "\" is truncated (its final block is missing)");
		unsigned long long plen = 0;
		unsigned char tag = 0;
		const auto *ad = reinterpret_cast<const unsigned char *>(first_ad.data());
		if (crypto_secretstream_xchacha20poly1305_pull(&state, plain.data(), &plen, &tag, stored.data() + stored_pos,
													   len, ad, first_ad.size()) != 0)
			throw Error(ErrorKind::Corrupt, "object \"" + name +
												"\" fails authentication: damaged, truncated, written under "
												"another name, or not encrypted with key " +
												key->IdHex());
		first_ad.clear();
		stored_pos += len;
		plain_pos = 0;
		plain_len = static_cast<size_t>(plen);
		if (tag == crypto_secretstream_xchacha20poly1305_TAG_FINAL)
			final_seen = true;
		else if (len < kCipherMessage)
			throw Error(ErrorKind::Corrupt, "object \"" + name + "\" is truncated (its final block is missing)");
	}
	// The next body bytes (the codec's stream, decrypted); false at the end of the body.
	bool
	BodySpan(const uint8_t **p, size_t *n)
	{
		if (key == nullptr) {
			Fill(1);
			*p = stored.data() + stored_pos;
			*n = Available();
			return *n > 0;
		}
		while (plain_pos == plain_len) {
			if (final_seen) {
				Fill(1);
				if (Available() > 0)
					throw Error(ErrorKind::Corrupt, "object \"" + name + "\" has data after its final block");
				*n = 0;
				return false;
			}
			OpenMessage();
		}
		*p = plain.data() + plain_pos;
		*n = plain_len - plain_pos;
		return true;
	}
	void
	Consume(size_t n)
	{
		if (key == nullptr)
			stored_pos += n;
		else
			plain_pos += n;
	}
};

ObjectReader::ObjectReader(std::unique_ptr<StorageReader> in, std::string name, const Keyring *keyring)
	: impl_(std::make_unique<Impl>())
{
	Impl &m = *impl_;
	m.in = std::move(in);
	m.name = std::move(name);
	m.stored.resize(kChunk + kObjectTrailerSize);
	m.Fill(kObjectHeaderSize + kCipherHeaderSize);
	HeaderFields h = ParseHeader(m.stored.data(), m.stored_len, m.name);
	m.codec = h.codec;
	m.stored_pos = kObjectHeaderSize;
	if (h.cipher != Cipher::None && m.Available() < kCipherHeaderSize)
		throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" is truncated");
	m.key = KeyForObject(h.cipher, m.stored.data() + kObjectHeaderSize, keyring, m.name);
	if (m.key != nullptr) {
		const uint8_t *stream_header = m.stored.data() + kObjectHeaderSize + kKeyIdBytes;
		if (crypto_secretstream_xchacha20poly1305_init_pull(&m.state, stream_header, m.key->object_key()) != 0)
			throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" has an invalid encryption header");
		m.first_ad = FirstMessageAd(m.stored.data(), m.key->id(), m.name);
		m.stored_pos += kCipherHeaderSize;
		m.plain.resize(kCipherChunk);
	}
	if (m.codec == Codec::Zstd) {
		m.dctx = ZSTD_createDCtx();
		if (m.dctx == nullptr)
			throw Error(ErrorKind::Io, "could not allocate zstd context");
	}
}

ObjectReader::~ObjectReader()
{
	ZSTD_freeDCtx(impl_->dctx);
}

size_t
ObjectReader::Read(void *buf, size_t len)
{
	Impl &m = *impl_;
	if (m.done || len == 0)
		return 0;
	for (;;) {
		const uint8_t *p = nullptr;
		size_t avail = 0;
		bool more = m.BodySpan(&p, &avail);
		size_t produced = 0;
		if (m.codec == Codec::None) {
			produced = std::min(avail, len);
			if (produced > 0) // p is null at the end of an encrypted body
				std::memcpy(buf, p, produced);
			m.Consume(produced);
		} else if (avail > 0 || !m.frame_ended) {
			ZSTD_inBuffer in{p, avail, 0};
			ZSTD_outBuffer out{buf, len, 0};
			size_t rc = ZSTD_decompressStream(m.dctx, &out, &in);
			if (ZSTD_isError(rc))
				throw Error(ErrorKind::Corrupt,
							"object \"" + m.name + "\" does not decompress: " + ZSTD_getErrorName(rc));
			m.frame_ended = rc == 0;
			m.Consume(in.pos);
			produced = out.pos;
			if (produced == 0 && in.pos == 0 && !more && !m.frame_ended)
				throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" is truncated (incomplete zstd frame)");
		}
		if (produced > 0) {
			m.hash.Update(buf, produced);
			m.summary.raw_size += produced;
			return produced;
		}
		if (!more) {
			if (m.stored_len - m.stored_pos != kObjectTrailerSize || !m.frame_ended)
				throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" is truncated");
			ObjectSummary t = DecodeTrailer(m.stored.data() + m.stored_pos, m.name);
			Digest actual = m.hash.Final();
			if (t.raw_size != m.summary.raw_size)
				throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" holds " +
													std::to_string(m.summary.raw_size) +
													" bytes but its trailer says " + std::to_string(t.raw_size));
			if (t.sha256 != TrailerDigest(actual, m.key))
				throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" fails its checksum");
			m.summary.sha256 = actual;
			m.summary.stored_size = m.stored_total;
			m.done = true;
			return 0;
		}
	}
}

const ObjectSummary &
ObjectReader::Summary() const
{
	return impl_->summary;
}

std::string
ObjectReader::KeyIdHex() const
{
	return impl_->key ? impl_->key->IdHex() : std::string();
}

namespace {

void
ReadExactly(StorageReader &r, uint8_t *out, size_t len, const std::string &key)
{
	size_t got = 0;
	while (got < len) {
		size_t n = r.Read(out + got, len - got);
		if (n == 0)
			throw Error(ErrorKind::Corrupt, "object \"" + key + "\" is truncated");
		got += n;
	}
}

} // namespace

bool
StoredObjectMatches(Storage &s, const std::string &key, const Keyring *keyring, uint64_t raw_size, const Digest &sha256)
{
	auto size = s.Size(key);
	if (!size)
		throw Error(ErrorKind::NotFound, "object \"" + key + "\" does not exist");
	uint8_t header[kObjectHeaderSize + kKeyIdBytes] = {0};
	size_t header_len =
		*size >= kObjectHeaderSize + kCipherHeaderSize + kObjectTrailerSize ? sizeof header : kObjectHeaderSize;
	if (*size < kObjectHeaderSize + kObjectTrailerSize)
		throw Error(ErrorKind::Corrupt, "object \"" + key + "\" is truncated");
	ReadExactly(*s.OpenRead(key, 0), header, header_len, key);
	HeaderFields h = ParseHeader(header, *size, key);
	if (h.cipher != Cipher::None && header_len < sizeof header)
		throw Error(ErrorKind::Corrupt, "object \"" + key + "\" is truncated");
	const EncryptionKey *k = KeyForObject(h.cipher, header + kObjectHeaderSize, keyring, key);
	uint8_t t[kObjectTrailerSize];
	ReadExactly(*s.OpenRead(key, *size - kObjectTrailerSize), t, sizeof t, key);
	ObjectSummary stored = DecodeTrailer(t, key);
	return stored.raw_size == raw_size && stored.sha256 == TrailerDigest(sha256, k);
}

ObjectSummary
PutObject(Storage &s, const std::string &key, const std::string &content, const CodecOptions &opts, WriteMode mode)
{
	auto w = s.OpenWrite(key, mode);
	ObjectWriter ow(*w, opts, key);
	ow.Write(content.data(), content.size());
	ObjectSummary sum = ow.Finish();
	w->Commit();
	return sum;
}

std::string
GetObject(Storage &s, const std::string &key, const Keyring *keyring, size_t limit, std::string *key_id)
{
	ObjectReader r(s.OpenRead(key), key, keyring);
	if (key_id)
		*key_id = r.KeyIdHex();
	std::string out;
	char buf[65536];
	while (size_t n = r.Read(buf, sizeof buf)) {
		out.append(buf, n);
		if (out.size() > limit)
			throw Error(ErrorKind::Corrupt, "object \"" + key + "\" is larger than expected");
	}
	return out;
}

} // namespace pgbk
