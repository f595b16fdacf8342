// Manifests (backup/<label>/manifest): fed in pieces, as restore and verify read them.
#include "pgbk/manifest.hpp"

#include "fuzz.hpp"

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pgbk::fuzz::RefusesOnlyWithPgbkErrors([&] {
		pgbk::ManifestParser parser;
		parser.on_entry = [](const pgbk::ManifestEntry &) {};
		size_t half = size / 2;
		parser.Feed(reinterpret_cast<const char *>(data), half);
		parser.Feed(reinterpret_cast<const char *>(data) + half, size - half);
		parser.Finish();
	});
	return 0;
}
