# PGXS build of the extension (pgbk.so, control file, SQL) and the pgbk command.
#   make && make install        build and install into the PostgreSQL of $(PG_CONFIG) (once per
#                               server version: make PG_CONFIG=/usr/lib/postgresql/18/bin/pg_config install),
#                               and pgbk into $(PGBK_BINDIR)
#   make installcheck           pg_regress (sql/) and TAP end-to-end tests (test/t/)
# The core unit tests build with CMake: see scripts/test.sh.

MODULE_big = pgbk
# The one source list (CMake reads it too; scripts/check-sources.sh keeps it complete).
sources = $(shell awk '$$1 == "$(1)" { print $$2 }' src/sources.list)
CORE_SRCS = $(call sources,core)
GLUE_SRCS = $(call sources,pg)
CLI_SRCS = $(call sources,cli)
CORE_OBJS = $(CORE_SRCS:.cpp=.o)
CLI_OBJS = $(CLI_SRCS:.cpp=.o)
OBJS = $(CORE_OBJS) $(GLUE_SRCS:.cpp=.o)

MODULEDIR = extension
DATA = control/pgbk.control $(wildcard extension/pgbk--*.sql)

REGRESS = $(patsubst sql/%.sql,%,$(sort $(wildcard sql/*.sql)))
REGRESS_OPTS = --temp-instance=./tmp_check --temp-config=test/conf/regress.conf --load-extension=pgbk
TAP_TESTS = 1
PROVE_TESTS = $(sort $(wildcard test/t/*.pl))

# Every library's flags come from pkg-config, never from the server's own build flags (a
# server built without libxml has no libxml2 include path in them).
PGBK_LIBS = libzstd libcrypto libsodium libcurl libxml-2.0
PG_CPPFLAGS = -Isrc/core/include $(shell pkg-config --cflags $(PGBK_LIBS))
# -MMD -MP: PGXS tracks no header dependencies; without them a changed header leaves
# stale objects (and mismatched vtables) behind.
PG_CXXFLAGS = -MMD -MP -std=c++20 -Wno-register -Wextra -Wno-unused-parameter -Wno-missing-field-initializers \
	-Wno-cast-function-type -Wno-volatile $(PGBK_WERROR)
PGBK_WERROR ?= -Werror
SHLIB_LINK += -lstdc++ -lpthread $(shell pkg-config --libs $(PGBK_LIBS))
EXTRA_CLEAN = src/cli/pgbk $(CLI_OBJS) $(OBJS:.o=.d) $(CLI_OBJS:.o=.d) .pgbk-built-for

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
# Debian's PostgreSQL enables LLVM bitcode, which compiles C++ without our flags.
override with_llvm = no
include $(PGXS)
# After the include: Makefile.global resets PROVE_FLAGS.
PROVE_FLAGS += -I ./test/perl

-include $(OBJS:.o=.d) $(CLI_OBJS:.o=.d)

# The objects live in the source tree, and those built against one server's headers must
# never be linked for another (PostgreSQL 15's glue in an 18 pgbk.so fails to load:
# "undefined symbol: pqsignal"). The stamp names the server they were built for; when
# PG_CONFIG names another, it changes and everything rebuilds.
SERVER_STAMP = .pgbk-built-for
server_built_for := $(shell $(PG_CONFIG) --version) $(shell $(PG_CONFIG) --includedir-server)
ifneq ($(server_built_for),$(shell cat $(SERVER_STAMP) 2>/dev/null))
$(shell echo '$(server_built_for)' >$(SERVER_STAMP))
endif
$(OBJS) $(CLI_OBJS): $(SERVER_STAMP)

all: src/cli/pgbk

src/cli/pgbk: $(CLI_OBJS) $(CORE_OBJS)
	$(CXX) -o $@ $^ $(LDFLAGS) -lpthread $(shell pkg-config --libs $(PGBK_LIBS))

# The pgbk command is the same for every server version and goes onto the PATH, not into
# the server's bindir (which is not on it). PGBK_BINDIR= (empty) leaves it out, as the
# Debian packages do: their version-independent package "pgbk" carries it.
PGBK_BINDIR ?= /usr/local/bin
install: install-cli
install-cli: src/cli/pgbk
ifneq ($(PGBK_BINDIR),)
	$(MKDIR_P) '$(DESTDIR)$(PGBK_BINDIR)'
	$(INSTALL_PROGRAM) src/cli/pgbk '$(DESTDIR)$(PGBK_BINDIR)/pgbk'
endif
.PHONY: install-cli
