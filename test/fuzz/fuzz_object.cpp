// Stored objects (header, zstd body, trailer), as restore, wal-fetch and verify read
// them from a repository others may write to.
#include "pgbk/object.hpp"
#include "pgbk/storage.hpp"

#include "fuzz.hpp"

#include <vector>

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static auto storage = pgbk::OpenLocalStorage(pgbk::fuzz::ScratchDirectory() + "/objects");
	pgbk::PutBytes(*storage, "object", pgbk::fuzz::Bytes(data, size), pgbk::WriteMode::Replace);
	pgbk::fuzz::RefusesOnlyWithPgbkErrors([&] {
		pgbk::ObjectReader reader(storage->OpenRead("object"), "object", nullptr);
		std::vector<char> buf(64 * 1024);
		while (reader.Read(buf.data(), buf.size()) > 0) {
		}
	});
	return 0;
}
