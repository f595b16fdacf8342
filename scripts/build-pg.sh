#!/usr/bin/env bash
# scripts/build-pg.sh MAJOR [server|headers]: prints the pg_config of PostgreSQL MAJOR, building it
# first when it is not there yet: the whole server (the default), or only what building an
# extension needs (headers, pg_config and PGXS: about a minute instead of a few).
#   15      Debian 12's own binaries (postgresql-15, installed by scripts/install-deps.sh).
#   17, 18  built once from Debian's own source package and reused afterwards: Debian 12 ships
#           no binaries for them. The sources come from Debian 13 (17) or unstable (18) on the
#           same mirror as the machine's own Debian entry, through a private apt state
#           directory, so the machine's package lists stay as they are.
# The prefix is Debian's own layout (programs and libraries in /usr/lib/postgresql/MAJOR,
# extension files in /usr/share/postgresql/MAJOR), so extensions built against it, and
# pg_buildext's packages, install as they would into Debian's postgresql-MAJOR package.
# PGBK_PG_PREFIX=DIR builds into DIR/MAJOR instead.
# Progress goes to stderr; stdout is only the pg_config path.
set -euo pipefail
major=${1:?usage: scripts/build-pg.sh MAJOR (15, 17 or 18) [server|headers]}
part=${2:-server}
case $part in server | headers) ;; *)
	echo "scripts/build-pg.sh: build 'server' or 'headers', not '$part'" >&2
	exit 2
	;;
esac

if [ "$major" = 15 ]; then
	echo /usr/lib/postgresql/15/bin/pg_config
	exit 0
fi
case $major in
17) suite=trixie ;;
18) suite=sid ;;
*)
	echo "scripts/build-pg.sh: no Debian source package known for PostgreSQL $major (use 15, 17 or 18)" >&2
	exit 2
	;;
esac

if [ -n "${PGBK_PG_PREFIX:-}" ]; then
	prefix=$PGBK_PG_PREFIX/$major layout=()
else
	prefix=/usr/lib/postgresql/$major layout=(--datadir="/usr/share/postgresql/$major")
	if [ -x "$prefix/bin/pg_config" ] && [ ! -f "$prefix/.pgbk-built" ] && dpkg -S "$prefix/bin/pg_config" >/dev/null 2>&1; then
		echo "$prefix/bin/pg_config" # Debian's own package (e.g. on Debian 13)
		exit 0
	fi
fi
# The stamp is written last, so a build cut short is redone rather than trusted; a whole
# server also serves for headers.
if [ -x "$prefix/bin/pg_config" ] && grep -qx -e server -e "$part" "$prefix/.pgbk-built" 2>/dev/null; then
	echo "$prefix/bin/pg_config"
	exit 0
fi

mirror=$(awk '/^URIs:/ && $2 !~ /security/ && $2 ~ /debian/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
if [ -z "$mirror" ]; then
	mirror=$(awk '$1 == "deb" && $2 !~ /security/ && $2 ~ /debian/ { print $2; exit }' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null || true)
fi
if [ -z "$mirror" ]; then
	echo "scripts/build-pg.sh: no Debian mirror found in /etc/apt/sources.list.d (needed for the deb-src entry)" >&2
	exit 2
fi

security=$(awk '/^URIs:/ && $2 ~ /security/ { print $2; exit }' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)

work=${PGBK_PG_SRC:-/var/tmp/pgbk-pg-src}/$major
mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial" "$work/apt/sources"
cat >"$work/apt/sources/debian-src.sources" <<SOURCES
Types: deb-src
URIs: $mirror
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
# A stable release's newest sources may be in its security suite.
if [ -n "$security" ] && [ "$suite" != sid ]; then
	cat >>"$work/apt/sources/debian-src.sources" <<SOURCES

Types: deb-src
URIs: $security
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
fi
private_apt=(-o "APT::Sandbox::User=root" -o "Dir::Etc::SourceList=/dev/null" -o "Dir::Etc::SourceParts=$work/apt/sources"
	-o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache")

# A mirror may list a newer point release of a stable suite than its pool carries. Then an
# earlier one from the same pool is used: its .dsc must carry a good signature of a Debian
# developer (debian-keyring), and the upstream tarball the checksum that signed .dsc gives.
earlier_point_release() {
	local listed upstream revision minor m dsc orig sum
	listed=$(apt-cache "${private_apt[@]}" showsrc "postgresql-$major" | awk '/^Version:/ { print $2; exit }')
	upstream=${listed%%-*} revision=${listed#*-}
	minor=${upstream#*.}
	[[ $minor =~ ^[0-9]+$ ]] || return 1
	for ((m = minor - 1; m >= 0 && m >= minor - 4; m--)); do
		dsc=postgresql-${major}_$major.$m-$revision.dsc
		curl -fsS -o "$dsc.signed" "$mirror/pool/main/p/postgresql-$major/${dsc//+/%2b}" 2>/dev/null || continue
		gpgv --quiet --keyring /usr/share/keyrings/debian-keyring.gpg --output "$dsc" "$dsc.signed" 2>/dev/null || {
			echo "scripts/build-pg.sh: $dsc has no good signature of a Debian developer; not used" >&2
			rm -f "$dsc" "$dsc.signed"
			return 1
		}
		read -r sum _ orig < <(awk '/^Checksums-Sha256:/ { on = 1; next } /^[^ ]/ { on = 0 } on && $3 ~ /\.orig\.tar\./' "$dsc")
		curl -fsS -o "$orig" "$mirror/pool/main/p/postgresql-$major/$orig" &&
			echo "$sum  $orig" | sha256sum --quiet -c - || {
			echo "scripts/build-pg.sh: $orig does not match the checksum in $dsc" >&2
			rm -f "$orig"
			return 1
		}
		echo "== PostgreSQL $major: $listed is listed but not on the mirror; using $major.$m-$revision (signed .dsc, checksum matched)" >&2
		return 0
	done
	return 1
}

cd "$work"
if ! ls postgresql-"$major"_*.orig.tar.* >/dev/null 2>&1; then
	echo "== PostgreSQL $major: source package from $mirror $suite (private apt state in $work/apt)" >&2
	apt-get "${private_apt[@]}" -qq update >&2
	# --download-only and our own tar: dpkg-source would apply Debian's patches, which target
	# Debian's own build layout, not a plain prefix.
	if ! apt-get "${private_apt[@]}" -qq source --download-only "postgresql-$major" >&2 && ! earlier_point_release; then
		# Exit 3: the source cannot be had here; callers may go on without this version.
		echo "scripts/build-pg.sh: the source package postgresql-$major cannot be downloaded from $mirror${security:+ or $security}" >&2
		exit 3
	fi
fi
# A fresh tree each time: a tree configured for another prefix keeps its old paths.
rm -rf "$work/tree"
mkdir "$work/tree"
tar -xf "$(ls postgresql-"$major"_*.orig.tar.* | head -1)" -C "$work/tree" --strip-components=1
cd "$work/tree"
version=$(sed -n 's/^PACKAGE_VERSION=.\(.*\).$/\1/p' configure)

echo "== PostgreSQL $major: building $version ($part) into $prefix" >&2
rm -rf "$prefix" "${layout[@]#--datadir=}"
# --enable-tap-tests installs the TAP modules PGXS's installcheck needs; ICU and readline are not
# needed by the tests and would add build dependencies.
./configure --prefix="$prefix" "${layout[@]}" --with-openssl --with-zstd --with-lz4 --enable-tap-tests \
	--without-icu --without-readline >configure.log 2>&1 || {
	tail -30 configure.log >&2
	exit 1
}
build() { make -j"$(nproc)" "$@" >>make.log 2>&1 || {
	tail -40 make.log >&2
	exit 1
}; }
: >make.log
if [ "$part" = server ]; then
	build
	build install
	build -C contrib/amcheck install
	build -C contrib/pg_walinspect install
	build -C src/test/perl install
else
	# What PGXS and pg_config need: generated and installed headers, the make files, the
	# install scripts, pg_config itself (with the libraries it links).
	build -C src/backend generated-headers
	for dir in src/include src/common src/port src/bin/pg_config src/makefiles config; do
		build -C "$dir" install
	done
	build -C src install-local
fi
echo "$part" >"$prefix/.pgbk-built"
echo "$prefix/bin/pg_config"
