#!/usr/bin/env bash
# Scheduling from history (issue 4): 100 tests (5 x 4 s, 14 x 1 s, 81 x 0.1 s; the long ones
# sort last by name) at -j8. Lower bound max(42.1 s / 8, 4 s) = 5.26 s. Peers run the files in
# name order; warden's first run knows nothing, its second run orders by recorded durations.
# Target: warden's second run <= 1.05x the bound (<= 5.5 s).
source "$(dirname "$0")/common.sh"
need parallel parallel
build_warden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/suite"
n=0
mk() { # mk COUNT SECONDS PREFIX
  for i in $(seq 1 "$1"); do
    n=$((n + 1))
    printf '#!/bin/sh\nsleep %s\n' "$2" >"$WORK/suite/$3$(printf %03d "$n")_test.sh"
  done
}
mk 81 0.1 a
mk 14 1 m
mk 5 4 z
chmod +x "$WORK"/suite/*
ls "$WORK"/suite/*_test.sh >"$WORK/list"
cd "$WORK"
t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N); awk "BEGIN{printf \"%.2f\", $e - $s}"; }
echo "lower bound: 5.26 s"
echo "xargs -P8:         $(t sh -c 'xargs -P8 -n1 sh <list') s"
echo "parallel -j8:      $(t sh -c 'parallel -j8 sh <list') s"
echo "warden, 1st run:   $(t "$WARDEN" run -j8 -q --state-dir "$WORK/state" suite) s"
echo "warden, 2nd run:   $(t "$WARDEN" run -j8 -q --state-dir "$WORK/state" suite) s"
echo "warden, 3rd run:   $(t "$WARDEN" run -j8 -q --state-dir "$WORK/state" suite) s"
