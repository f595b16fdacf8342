// Shared helpers for the core unit tests.
#pragma once
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <unistd.h>

namespace pgbk::test {

// A fresh directory under $PGBK_TEST_TMP (or /tmp), removed when the test ends.
class TempDir {
public:
	TempDir()
	{
		const char *base = std::getenv("PGBK_TEST_TMP");
		std::string root = base ? base : "/tmp";
		std::filesystem::create_directories(root);
		std::string tmpl = root + "/pgbk-unit-XXXXXX";
		path_ = ::mkdtemp(tmpl.data());
	}
	~TempDir() { std::filesystem::remove_all(path_); }
	const std::string &
	path() const
	{
		return path_;
	}
	std::string
	operator/(const std::string &rel) const
	{
		return path_ + "/" + rel;
	}

private:
	std::string path_;
};

inline void
WriteFile(const std::string &path, const std::string &content)
{
	std::filesystem::create_directories(std::filesystem::path(path).parent_path());
	std::ofstream f(path, std::ios::binary);
	f << content;
}

inline std::string
ReadFile(const std::string &path)
{
	std::ifstream f(path, std::ios::binary);
	return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

inline std::string
RandomBytes(size_t n, uint32_t seed)
{
	std::mt19937 rng(seed);
	std::string s(n, '\0');
	for (auto &c : s)
		c = static_cast<char>(rng() & 0xff);
	return s;
}

} // namespace pgbk::test
