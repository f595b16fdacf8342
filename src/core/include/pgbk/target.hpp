// Proving a repository target before it is adopted (pgbk_set_target): the options are
// validated and a probe object is written, read back, listed and deleted, so a wrong
// credential, signature, bucket, certificate or network fails here, naming the step,
// and nothing changes.
#pragma once
#include "pgbk/storage.hpp"

#include <map>
#include <string>
#include <utility>
#include <vector>

namespace pgbk {

// The target's settings as "pgbk.<name>" = value pairs, from the JSON options of
// pgbk_set_target (keys: endpoint, region, access_key_id, secret_access_key,
// session_token, uri_style, ca_file, verify_tls, sse, sse_kms_key_id, storage_class,
// part_size, retry_timeout). Throws Config naming a bad key or value.
std::vector<std::pair<std::string, std::string>> ParseTargetOptions(const std::string &json_object);

// S3 options from such settings (defaults for the rest).
s3::S3Options S3OptionsFromSettings(const std::vector<std::pair<std::string, std::string>> &settings);

// The S3 setting names pgbk_set_target manages (those not given are reset).
const std::vector<std::string> &TargetSettingNames();

// Writes, reads back, lists and deletes a probe object. Throws with the failing step.
void ProbeStorage(Storage &storage);

} // namespace pgbk
