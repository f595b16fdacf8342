#include "pgbk/verify.hpp"

#include "pgbk/parallel.hpp"

#include <map>
#include <mutex>
#include <vector>

namespace pgbk {
namespace {

struct ObjectCheck {
	std::string key;
	uint64_t size = 0;
	Digest sha256{};
};

// Reads an object to its end; returns "" when it matches, else what is wrong. `key_id`
// receives the id of the key it is encrypted with.
std::string
CheckObject(Repository &repo, const ObjectCheck &c, std::string *key_id)
{
	try {
		auto r = repo.OpenObject(c.key);
		*key_id = r->KeyIdHex();
		std::vector<char> buf(256 * 1024);
		while (r->Read(buf.data(), buf.size()) > 0) {
		}
		const ObjectSummary &s = r->Summary();
		if (s.raw_size != c.size)
			return "holds " + std::to_string(s.raw_size) + " bytes, the manifest says " + std::to_string(c.size) +
				   " (replaced by another object?)";
		if (s.sha256 != c.sha256)
			return "content differs from the manifest's checksum (replaced by another object?)";
		return "";
	} catch (const Error &e) {
		if (e.kind() == ErrorKind::NotFound)
			return "missing";
		return e.what();
	}
}

} // namespace

std::vector<BackupRecord>
SelectBackupsToVerify(Repository &repo, const std::string &label)
{
	std::vector<BackupRecord> all = repo.ListBackups(), out;
	std::string available;
	for (auto &b : all) {
		available += (available.empty() ? "" : ", ") + b.label;
		if (label.empty() ? b.status == BackupStatus::Complete : b.label == label)
			out.push_back(std::move(b));
	}
	if (!label.empty() && out.empty())
		throw Error(ErrorKind::NotFound,
					"no backup \"" + label + "\" in " + repo.Describe() + "; available: " + available);
	return out;
}

std::string
VerifyResult::OldKeys() const
{
	std::string out;
	for (const auto &k : keys)
		if (!k.current)
			out += (out.empty() ? "" : ", ") + k.key_id + " (" + std::to_string(k.objects) + " objects)";
	return out;
}

VerifyResult
VerifyBackup(Repository &repo, const BackupRecord &b, const VerifyOptions &opts,
			 const std::function<void(const VerifyProblem &)> &report)
{
	size_t problems = 0;
	std::mutex mu;
	std::vector<VerifyProblem> pending; // filled by pool threads, reported by this one
	std::map<std::string, uint64_t> key_use;
	auto add = [&](const std::string &object, const std::string &what) {
		std::lock_guard<std::mutex> g(mu);
		pending.push_back(VerifyProblem{b.label, object, what});
	};
	auto count_key = [&](const std::string &id) {
		if (id.empty())
			return;
		std::lock_guard<std::mutex> g(mu);
		key_use[id]++;
	};
	auto result = [&]() {
		VerifyResult r;
		r.problems = problems;
		const EncryptionKey *current = repo.keyring() ? repo.keyring()->current() : nullptr;
		for (const auto &[id, n] : key_use)
			r.keys.push_back(VerifyKeyUse{id, n, current != nullptr && current->IdHex() == id});
		return r;
	};
	auto flush = [&]() {
		std::vector<VerifyProblem> out;
		{
			std::lock_guard<std::mutex> g(mu);
			out.swap(pending);
		}
		for (const auto &p : out) {
			problems++;
			report(p);
		}
	};

	if (b.status != BackupStatus::Complete) {
		add(Repository::BackupKey(b.label, "complete"),
			"the backup is not complete" + (b.error.empty() ? std::string() : ": " + b.error));
		flush();
		return result();
	}

	ParallelRunner<ObjectCheck> runner(opts.parallel, static_cast<size_t>(opts.parallel) * 8,
									   [&](ObjectCheck &c, const std::atomic<bool> &) {
										   std::string key_id;
										   std::string why = CheckObject(repo, c, &key_id);
										   count_key(key_id);
										   if (!why.empty())
											   add(c.key, why);
									   });
	uint64_t segment_size = 16ull << 20;
	try {
		ManifestTotals totals = repo.ReadManifest(
			b, [&](const ManifestHeader &h) { segment_size = h.segment_size; },
			[&](const ManifestEntry &e) {
				if (e.type != ManifestEntry::Type::File)
					return;
				// Every object the file is restored from: its base (held by this backup or
				// an earlier one) and the page deltas of differential/incremental backups.
				std::string holder = e.BaseLabel(b.label);
				if (e.parts.empty())
					runner.Submit(ObjectCheck{Repository::BackupDataKey(holder, e.path), e.base_size, e.base_sha256},
								  flush);
				for (size_t k = 0; k < e.parts.size(); k++)
					runner.Submit(
						ObjectCheck{Repository::BackupPartKey(holder, e.path, k), e.parts[k].size, e.parts[k].sha256},
						flush);
				for (const auto &d : e.deltas)
					runner.Submit(ObjectCheck{Repository::BackupDeltaKey(d.label, e.path), d.size, d.sha256}, flush);
			});
		if (totals.files != b.files || totals.database_bytes != b.database_bytes)
			add(Repository::BackupKey(b.label, "complete"),
				"the completion marker's totals (" + std::to_string(b.files) + " files) differ from the manifest's (" +
					std::to_string(totals.files) + " files)");
	} catch (const Error &e) {
		add(Repository::BackupKey(b.label, "manifest"), e.what());
	}
	runner.Finish(flush);

	// The WAL the backup needs to become consistent: every segment, intact.
	try {
		ForEachBackupWalSegment(b, segment_size, [&](const std::string &name) {
			std::string key = WalArchiveKey(name);
			try {
				auto r = repo.OpenObject(key);
				count_key(r->KeyIdHex());
				std::vector<char> buf(256 * 1024);
				while (r->Read(buf.data(), buf.size()) > 0) {
				}
			} catch (const Error &e) {
				add(key, e.kind() == ErrorKind::NotFound ? "WAL segment " + name + " needed by the backup is missing"
														 : std::string(e.what()));
			}
		});
	} catch (const Error &e) {
		add(Repository::BackupKey(b.label, "backup.info"), e.what());
	}
	flush();
	count_key(b.key_id); // backup.info, manifest and marker are written with the data's key
	return result();
}

} // namespace pgbk
