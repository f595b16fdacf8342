#!/usr/bin/env bash
# src/sources.list is the one list of sources both builds read: it must name exactly
# the .cpp files under src/, each once, in a section that matches its folder.
set -euo pipefail
cd "$(dirname "$0")/.."
listed=$(grep -v '^#' src/sources.list | awk 'NF { print $2 }' | sort)
present=$(find src -name '*.cpp' | sort)
if [ "$listed" != "$present" ]; then
	echo "src/sources.list differs from the .cpp files under src/ (< listed, > present):" >&2
	diff <(echo "$listed") <(echo "$present") >&2 || true
	exit 1
fi
if [ -n "$(echo "$listed" | uniq -d)" ]; then
	echo "src/sources.list names a file twice: $(echo "$listed" | uniq -d)" >&2
	exit 1
fi
grep -v '^#' src/sources.list | awk 'NF && index($2, "src/" $1 "/") != 1 { print "src/sources.list: " $2 " is not in section " $1 "\047s folder"; bad = 1 } END { exit bad }' >&2
