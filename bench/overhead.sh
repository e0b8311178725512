#!/usr/bin/env bash
# Per-test overhead: 500 trivial shell tests at -j2, warden against xargs -P2 and GNU parallel -j2.
# Target (issues 2 and 3): warden <= 1.3x xargs wall time, with containment (a cgroup per
# worker slot, leak sweep after every test) on. The variants without cgroups (process group +
# environment token) and without journal/history show what each part costs.
source "$(dirname "$0")/common.sh"
need hyperfine hyperfine
need parallel parallel
build_warden
N=${N:-500}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/suite"
for i in $(seq -w 1 "$N"); do
  printf '#!/bin/sh\nexit 0\n' >"$WORK/suite/t${i}_test.sh"
done
ls "$WORK"/suite/*_test.sh >"$WORK/list"
cd "$WORK"
hyperfine --warmup 2 --runs "${RUNS:-10}" --export-markdown "$WORK/result.md" \
  -n "xargs -P2" "xargs -P2 -n1 sh <list" \
  -n "parallel -j2" "parallel -j2 sh <list" \
  -n "warden -j2" "$WARDEN run -j2 -q --state-dir $WORK/state suite" \
  -n "warden -j2, no cgroup" "WARDEN_NO_CGROUP=1 $WARDEN run -j2 -q --state-dir $WORK/state3 suite" \
  -n "warden -j2, no journal/history" "WARDEN_NO_STATE=1 $WARDEN run -j2 -q --state-dir $WORK/state2 suite" \
  "$@"
cat "$WORK/result.md"
