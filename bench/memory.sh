#!/usr/bin/env bash
# Memory: one test writing 200 MB to stdout; warden's peak RSS must stay under 32 MB (issue 2).
source "$(dirname "$0")/common.sh"
build_warden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/suite"
cat >"$WORK/suite/flood_test.sh" <<'T'
#!/bin/sh
# 200 MB of output: 200 * 1 MiB blocks of text
head -c 209715200 /dev/zero | tr '\0' 'x' | fold -w 100
T
chmod +x "$WORK/suite/flood_test.sh"
cd "$WORK"
# Peak RSS of the largest waited-for process: warden itself (the test's processes are tiny).
rss_kb=$(python3 -c '
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)' "$WARDEN" run -q --state-dir "$WORK/state" suite)
log=$(find "$WORK/state" -name '*flood_test.sh.log' | head -1)
echo "warden peak RSS: $((rss_kb / 1024)) MiB ($rss_kb KiB); log size: $(stat -c %s "$log") bytes"
[ "$rss_kb" -lt $((32 * 1024)) ] && echo "OK: under 32 MiB" || { echo "FAIL: over 32 MiB"; exit 1; }
