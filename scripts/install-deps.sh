#!/usr/bin/env bash
# Installs every Debian 12 package that pgbk's build, tests, demo and benchmark need.
# Idempotent; run as root.
set -euo pipefail

packages=(
	# build
	g++ make cmake pkg-config clang-format
	postgresql-15 postgresql-server-dev-15 postgresql-client-15
	libzstd-dev libssl-dev libsodium-dev libcurl4-openssl-dev libxml2-dev nlohmann-json3-dev
	# PostgreSQL 17 and 18 from Debian's source packages (scripts/build-pg.sh)
	bison flex liblz4-dev zlib1g-dev debian-keyring curl
	# Debian packages (debian/, pg_buildext)
	debhelper dpkg-dev fakeroot postgresql-server-dev-all
	# the package builds reuse the test builds' compilations
	ccache
	# tests
	libgtest-dev libipc-run-perl perl tzdata
	# high availability (TAP 021): Patroni with etcd on loopback
	patroni etcd-server
	# fuzzing (libFuzzer with ASan and UBSan)
	clang-14 libclang-rt-14-dev
	# demo and benchmark
	pgbackrest time zstd util-linux bc
)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Debian's postgresql package starts a cluster of its own; pgbk's tests and demo use
# throwaway clusters and do not need it.
echo "dependencies installed"
