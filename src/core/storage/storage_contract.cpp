#include "pgbk/storage_contract.hpp"

#include "pgbk/hash.hpp"

#include <chrono>
#include <random>

namespace pgbk {
namespace {

std::string
PseudoRandom(size_t n, uint64_t seed)
{
	std::mt19937_64 rng(seed);
	std::string out(n, '\0');
	for (size_t i = 0; i < n; i += 8) {
		uint64_t v = rng();
		for (size_t j = 0; j < 8 && i + j < n; j++)
			out[i + j] = static_cast<char>(v >> (8 * j));
	}
	return out;
}

std::string
ReadFrom(Storage &s, const std::string &key, uint64_t offset, size_t limit)
{
	auto r = s.OpenRead(key, offset);
	std::string out;
	char buf[65536];
	for (size_t n; out.size() < limit && (n = r->Read(buf, sizeof buf)) > 0;)
		out.append(buf, n);
	return out;
}

void
Expect(bool condition, const std::string &what)
{
	if (!condition)
		throw Error(ErrorKind::Io, what);
}

} // namespace

int
RunStorageContract(Storage &storage, const ContractOptions &options,
				   const std::function<void(const ContractCheck &)> &report)
{
	std::mt19937_64 rng{std::random_device{}()};
	const std::string scratch = "pgbk-contract/" + ToHex(Sha256Of(std::to_string(rng()))).substr(0, 12) + "/";
	int failed = 0;
	auto check = [&](const char *name, const std::function<std::string()> &fn) {
		ContractCheck c;
		c.name = name;
		auto start = std::chrono::steady_clock::now();
		try {
			c.detail = fn();
			c.passed = true;
		} catch (const std::exception &e) {
			c.detail = e.what();
			failed++;
		}
		auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
		c.detail += (c.detail.empty() ? "" : "; ") + std::to_string(ms.count()) + " ms";
		report(c);
	};
	const std::string small = PseudoRandom(100000, 1);

	check("put and get", [&] {
		PutBytes(storage, scratch + "object", small, WriteMode::Replace);
		Expect(GetBytes(storage, scratch + "object") == small, "the object read back differs");
		PutBytes(storage, scratch + "empty", "", WriteMode::Replace);
		Expect(GetBytes(storage, scratch + "empty").empty(), "an empty object read back is not empty");
		Expect(storage.Size(scratch + "object") == small.size(), "the size differs from what was written");
		PutBytes(storage, scratch + "object", "replaced", WriteMode::Replace);
		Expect(GetBytes(storage, scratch + "object") == "replaced", "a replaced object reads as the old one");
		return std::string();
	});
	check("create-only write", [&] {
		PutBytes(storage, scratch + "once", "first", WriteMode::CreateOnly);
		try {
			PutBytes(storage, scratch + "once", "second", WriteMode::CreateOnly);
			throw Error(ErrorKind::Io, "a second create-only write of one key succeeded");
		} catch (const Error &e) {
			if (e.kind() != ErrorKind::AlreadyExists)
				throw;
		}
		Expect(GetBytes(storage, scratch + "once") == "first", "a refused create-only write changed the object");
		auto support = storage.CreateOnlyWrites(true);
		return support ? support->how : std::string();
	});
	check("ranged read", [&] {
		PutBytes(storage, scratch + "ranged", small, WriteMode::Replace);
		Expect(ReadFrom(storage, scratch + "ranged", 99900, 1 << 20) == small.substr(99900),
			   "a read from an offset returned other bytes");
		Expect(ReadFrom(storage, scratch + "ranged", small.size(), 1 << 20).empty(), "a read at the end is not empty");
		Expect(ReadFrom(storage, scratch + "ranged", small.size() + 10, 1 << 20).empty(),
			   "a read past the end is not empty");
		return std::string();
	});
	check("missing object", [&] {
		Expect(!storage.Size(scratch + "absent"), "a missing object has a size");
		try {
			ReadFrom(storage, scratch + "absent", 0, 1);
			throw Error(ErrorKind::Io, "a missing object could be read");
		} catch (const Error &e) {
			if (e.kind() != ErrorKind::NotFound)
				throw;
		}
		storage.Remove(scratch + "absent"); // absent is not an error
		return std::string();
	});
	check("keys with special characters", [&] {
		const std::string odd = scratch + "odd/sp ace+plus&amp=eq%pct~tilde/\xc3\xbc.bin";
		PutBytes(storage, odd, "odd", WriteMode::Replace);
		Expect(GetBytes(storage, odd) == "odd", "the object read back differs");
		bool listed = false;
		storage.List(scratch + "odd/", true, [&](const ListEntry &e) { listed = listed || e.key == odd; });
		Expect(listed, "the listing does not name the key as written");
		return std::string();
	});
	check("listing (pages, order, prefixes)", [&] {
		for (size_t i = 0; i < options.list_keys; i++) {
			char name[32];
			snprintf(name, sizeof name, "k%05zu", i);
			PutBytes(storage, scratch + "list/" + (i % 2 ? "a/" : "b/") + name, "x", WriteMode::Replace);
		}
		size_t seen = 0;
		std::string last;
		storage.List(scratch + "list/", true, [&](const ListEntry &e) {
			Expect(e.key > last, "the listing is not in key order at " + e.key);
			last = e.key;
			seen++;
		});
		Expect(seen == options.list_keys,
			   "the listing gave " + std::to_string(seen) + " keys of " + std::to_string(options.list_keys));
		std::vector<std::string> prefixes;
		storage.List(scratch + "list/", false, [&](const ListEntry &e) {
			if (e.is_prefix)
				prefixes.push_back(e.key);
		});
		Expect(prefixes == std::vector<std::string>{scratch + "list/a/", scratch + "list/b/"},
			   "a listing by '/' does not give the two prefixes");
		return std::to_string(seen) + " keys";
	});
	check("batch delete", [&] {
		BatchRemover remover(storage);
		storage.List(scratch + "list/", true, [&](const ListEntry &e) { remover.Add(e.key); });
		remover.Flush();
		size_t left = 0;
		storage.List(scratch + "list/", true, [&](const ListEntry &) { left++; });
		Expect(left == 0, std::to_string(left) + " keys are left after the delete");
		return std::string();
	});
	if (options.multipart_size > 0) {
		const std::string big = PseudoRandom(options.multipart_size, 2);
		check("multipart upload", [&] {
			auto w = storage.OpenWrite(scratch + "big", WriteMode::CreateOnly);
			for (size_t at = 0; at < big.size(); at += 1 << 20)
				w->Write(big.data() + at, std::min<size_t>(1 << 20, big.size() - at));
			w->Commit();
			Expect(storage.Size(scratch + "big") == big.size(), "the object's size differs");
			Expect(ToHex(Sha256Of(ReadFrom(storage, scratch + "big", 0, big.size() + 1))) == ToHex(Sha256Of(big)),
				   "the object read back differs");
			return std::to_string(big.size() >> 20) + " MiB";
		});
		check("abandoned upload is aborted", [&] {
			{
				auto w = storage.OpenWrite(scratch + "abandoned", WriteMode::CreateOnly);
				w->Write(big.data(), big.size());
			} // dropped before Commit
			Expect(!storage.Size(scratch + "abandoned"), "an upload dropped before its commit is visible");
			auto pending = storage.PendingUploads(scratch);
			Expect(!pending || *pending == 0, std::to_string(pending.value_or(0)) + " uploads were left open");
			return std::string(pending ? "no upload left open" : "");
		});
	}
	storage.RemovePrefix(scratch);
	size_t left = 0;
	storage.List(scratch, true, [&](const ListEntry &) { left++; });
	if (left > 0)
		throw Error(ErrorKind::Io, std::to_string(left) + " objects of the check are left under " + scratch);
	return failed;
}

} // namespace pgbk
