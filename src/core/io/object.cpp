#include "pgbk/object.hpp"

#include <cstring>
#include <zstd.h>

namespace pgbk {
namespace {

constexpr char kHeaderMagic[4] = {'P', 'G', 'B', 'K'};
constexpr char kTrailerMagic[4] = {'P', 'G', 'B', 'E'};
constexpr size_t kChunk = 256 * 1024;

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

void
EncodeTrailer(uint8_t *t, const ObjectSummary &s)
{
	std::memset(t, 0, kObjectTrailerSize);
	PutU64(t, s.raw_size);
	std::memcpy(t + 8, s.sha256.data(), 32);
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

} // namespace

struct ObjectWriter::Impl {
	StorageWriter &out;
	CodecOptions opts;
	ZSTD_CCtx *cctx = nullptr;
	Sha256 hash;
	ObjectSummary summary;
	std::vector<uint8_t> buf;
	bool finished = false;

	Impl(StorageWriter &o, const CodecOptions &op) : out(o), opts(op) {}

	void
	Emit(const void *p, size_t n)
	{
		out.Write(p, n);
		summary.stored_size += n;
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

ObjectWriter::ObjectWriter(StorageWriter &out, const CodecOptions &opts) : impl_(std::make_unique<Impl>(out, opts))
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
	header[6] = 0; // cipher: none
	impl_->Emit(header, sizeof header);
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
	if (impl_->finished)
		throw Error(ErrorKind::Io, "object already finished");
	if (impl_->opts.codec == Codec::Zstd)
		impl_->Compress(nullptr, 0, ZSTD_e_end);
	impl_->summary.sha256 = impl_->hash.Final();
	uint8_t trailer[kObjectTrailerSize];
	EncodeTrailer(trailer, impl_->summary);
	impl_->Emit(trailer, sizeof trailer);
	impl_->finished = true;
	return impl_->summary;
}

struct ObjectReader::Impl {
	std::unique_ptr<StorageReader> in;
	std::string name;
	Codec codec = Codec::None;
	ZSTD_DCtx *dctx = nullptr;
	// Stored bytes not yet consumed; the last kObjectTrailerSize bytes read so far are
	// always held back because they may be the trailer.
	std::vector<uint8_t> stored;
	size_t stored_pos = 0, stored_len = 0;
	bool eof = false, done = false, frame_ended = true;
	Sha256 hash;
	ObjectSummary summary;
	uint64_t stored_total = 0;

	// Ensures that more than the trailer is buffered, unless the input ended.
	void
	Fill()
	{
		if (stored_pos > 0 && stored_pos == stored_len) {
			stored_pos = stored_len = 0;
		}
		while (!eof && stored_len - stored_pos <= kObjectTrailerSize) {
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
};

ObjectReader::ObjectReader(std::unique_ptr<StorageReader> in, std::string name) : impl_(std::make_unique<Impl>())
{
	impl_->in = std::move(in);
	impl_->name = std::move(name);
	impl_->stored.resize(kChunk + kObjectTrailerSize);
	impl_->Fill();
	if (impl_->stored_len < kObjectHeaderSize + kObjectTrailerSize ||
		std::memcmp(impl_->stored.data(), kHeaderMagic, 4) != 0)
		throw Error(ErrorKind::Corrupt, "object \"" + impl_->name + "\" is truncated or not a pgbk object");
	uint8_t version = impl_->stored[4], codec = impl_->stored[5], cipher = impl_->stored[6];
	if (version != kObjectFormatVersion)
		throw Error(ErrorKind::Corrupt,
					"object \"" + impl_->name + "\" has format version " + std::to_string(version) + ", expected 1");
	if (cipher != 0)
		throw Error(ErrorKind::Config, "object \"" + impl_->name + "\" is encrypted and this build has no key");
	if (codec > 1)
		throw Error(ErrorKind::Corrupt, "object \"" + impl_->name + "\" has unknown codec " + std::to_string(codec));
	impl_->codec = static_cast<Codec>(codec);
	impl_->stored_pos = kObjectHeaderSize;
	if (impl_->codec == Codec::Zstd) {
		impl_->dctx = ZSTD_createDCtx();
		if (impl_->dctx == nullptr)
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
		m.Fill();
		size_t avail = m.Available();
		size_t produced = 0;
		if (m.codec == Codec::None) {
			produced = std::min(avail, len);
			std::memcpy(buf, m.stored.data() + m.stored_pos, produced);
			m.stored_pos += produced;
		} else if (avail > 0 || !m.frame_ended) {
			ZSTD_inBuffer in{m.stored.data() + m.stored_pos, avail, 0};
			ZSTD_outBuffer out{buf, len, 0};
			size_t rc = ZSTD_decompressStream(m.dctx, &out, &in);
			if (ZSTD_isError(rc))
				throw Error(ErrorKind::Corrupt,
							"object \"" + m.name + "\" does not decompress: " + ZSTD_getErrorName(rc));
			m.frame_ended = rc == 0;
			m.stored_pos += in.pos;
			produced = out.pos;
			if (produced == 0 && in.pos == 0 && m.eof && !m.frame_ended)
				throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" is truncated (incomplete zstd frame)");
		}
		if (produced > 0) {
			m.hash.Update(buf, produced);
			m.summary.raw_size += produced;
			return produced;
		}
		if (m.eof && m.Available() == 0) {
			if (m.stored_len - m.stored_pos != kObjectTrailerSize || !m.frame_ended)
				throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" is truncated");
			ObjectSummary t = DecodeTrailer(m.stored.data() + m.stored_pos, m.name);
			Digest actual = m.hash.Final();
			if (t.raw_size != m.summary.raw_size)
				throw Error(ErrorKind::Corrupt, "object \"" + m.name + "\" holds " +
													std::to_string(m.summary.raw_size) +
													" bytes but its trailer says " + std::to_string(t.raw_size));
			if (t.sha256 != actual)
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

ObjectSummary
ReadObjectTrailer(Storage &s, const std::string &key)
{
	auto size = s.Size(key);
	if (!size)
		throw Error(ErrorKind::NotFound, "object \"" + key + "\" does not exist");
	if (*size < kObjectHeaderSize + kObjectTrailerSize)
		throw Error(ErrorKind::Corrupt, "object \"" + key + "\" is truncated");
	auto r = s.OpenRead(key, *size - kObjectTrailerSize);
	uint8_t t[kObjectTrailerSize];
	size_t got = 0;
	while (got < sizeof t) {
		size_t n = r->Read(t + got, sizeof t - got);
		if (n == 0)
			throw Error(ErrorKind::Corrupt, "object \"" + key + "\" is truncated");
		got += n;
	}
	ObjectSummary out = DecodeTrailer(t, key);
	out.stored_size = *size;
	return out;
}

ObjectSummary
PutObject(Storage &s, const std::string &key, const std::string &content, const CodecOptions &opts, WriteMode mode)
{
	auto w = s.OpenWrite(key, mode);
	ObjectWriter ow(*w, opts);
	ow.Write(content.data(), content.size());
	ObjectSummary sum = ow.Finish();
	w->Commit();
	return sum;
}

std::string
GetObject(Storage &s, const std::string &key, size_t limit)
{
	ObjectReader r(s.OpenRead(key), key);
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
