// S3 ListObjectsV2 responses: whatever the endpoint sends back.
#include "pgbk/s3_client.hpp"

#include "fuzz.hpp"

extern "C" int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	pgbk::fuzz::RefusesOnlyWithPgbkErrors(
		[&] { pgbk::s3::ParseListObjectsPage(pgbk::fuzz::Bytes(data, size), "s3://fuzz"); });
	return 0;
}
