// The storage contract pgbk relies on, run against a real store (pgbk check-store,
// test/s3/contract.sh): what an operator runs before trusting a store pgbk was never
// tested on. Every check works under one scratch prefix it removes afterwards.
#pragma once
#include "pgbk/storage.hpp"

#include <functional>
#include <string>

namespace pgbk {

struct ContractCheck {
	std::string name; // "put and get", "create-only write", ...
	bool passed = false;
	std::string detail; // what was seen (a failure's error; how create-only is enforced)
};

struct ContractOptions {
	size_t multipart_size = 0; // bytes written to exercise a multipart upload (0: skip)
	size_t list_keys = 1005; // keys listed (more than one page of 1000)
};

// Runs each check and reports it as it finishes; returns how many failed. Never throws
// for a check that fails (only when the scratch prefix cannot be cleaned up).
int RunStorageContract(Storage &storage, const ContractOptions &options,
					   const std::function<void(const ContractCheck &)> &report);

} // namespace pgbk
