#!/usr/bin/env bash
# Discovery: `warden list` over 10 000 generated test files must take under 1 s (issue 2).
source "$(dirname "$0")/common.sh"
need hyperfine hyperfine
build_warden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
for d in $(seq 1 100); do
  mkdir -p "$WORK/suite/unit/d$d" "$WORK/suite/integration/d$d"
  for i in $(seq 1 50); do
    printf '#!/bin/sh\n# @tags: t%s\nexit 0\n' "$i" >"$WORK/suite/unit/d$d/t${i}_test.sh"
    printf '#!/bin/sh\nexit 0\n' >"$WORK/suite/integration/d$d/t${i}_test.sh"
  done
done
cd "$WORK"
echo "files: $(find suite -name '*_test.sh' | wc -l)"
hyperfine --warmup 2 --runs 10 -n "warden list (10k files)" "$WARDEN list suite >/dev/null 2>&1" \
  -n "find (same tree)" "find suite -name '*_test.*' >/dev/null"
