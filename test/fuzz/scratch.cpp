#include "fuzz.hpp"

#include <cstdlib>
#include <stdexcept>

namespace pgbk::fuzz {

std::string
ScratchDirectory()
{
	static const std::string dir = [] {
		std::string tmpl = "/tmp/pgbk-fuzz-XXXXXX";
		if (::mkdtemp(tmpl.data()) == nullptr)
			throw std::runtime_error("mkdtemp failed");
		return tmpl;
	}();
	return dir;
}

} // namespace pgbk::fuzz
