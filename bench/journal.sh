#!/usr/bin/env bash
# Journal + history overhead (issue 4): 500 trivial tests at -j2 with the checkpoint journal and
# the history database on (the default) and off (WARDEN_NO_STATE=1). Target: <= 10% more.
source "$(dirname "$0")/common.sh"
need hyperfine hyperfine
build_warden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/suite"
for i in $(seq -w 1 500); do printf '#!/bin/sh\nexit 0\n' >"$WORK/suite/t${i}_test.sh"; done
chmod +x "$WORK"/suite/*
cd "$WORK"
hyperfine --warmup 2 --runs "${RUNS:-10}" \
  -n "warden -j2 (journal + history)" "$WARDEN run -j2 -q --state-dir $WORK/state suite" \
  -n "warden -j2 (WARDEN_NO_STATE=1)" "WARDEN_NO_STATE=1 $WARDEN run -j2 -q --state-dir $WORK/state2 suite"
