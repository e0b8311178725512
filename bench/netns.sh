#!/usr/bin/env bash
# What `--net private` costs (issue 16). Two measurements:
#  1. namespace set-up per test: warden's own spawn path (`os::spawn`, the clone + exec every
#     test's main process goes through) starting /bin/true on the host's network and in a new
#     network namespace with `lo` up, alternating (crates/warden/examples/netns_cost.rs); as
#     the invoking user and, when that is root, also as a normal user (BENCH_USER, default
#     nobody), who needs a user namespace as well. Target: under 2 ms a test.
#  2. a trivial suite (N tests `exit 0`, -j2) with --net host against --net private, and xargs
#     as the floor: hyperfine when it is installed, else RUNS alternating timed runs each.
source "$(dirname "$0")/common.sh"
build_warden
(cd "$ROOT" && cargo build --release -q -p warden --example netns_cost)
COST="$ROOT/target/release/examples/netns_cost"
SPAWNS=${SPAWNS:-1000}
N=${N:-500}
RUNS=${RUNS:-10}

echo "== 1. namespace set-up per test ($SPAWNS spawns each)"
"$COST" "$SPAWNS"
if [ "$(id -u)" = 0 ]; then
  echo
  setpriv --reuid="${BENCH_USER:-nobody}" --regid="${BENCH_USER:-nogroup}" --clear-groups \
    "$COST" "$SPAWNS"
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/suite"
for i in $(seq -w 1 "$N"); do
  printf '#!/bin/sh\nexit 0\n' >"$WORK/suite/t${i}_test.sh"
done
ls "$WORK"/suite/*_test.sh >"$WORK/list"
cd "$WORK"
echo
echo "== 2. $N trivial tests at -j2"
host="$WARDEN run -j2 -q --state-dir $WORK/state-host --net host suite"
private="$WARDEN run -j2 -q --state-dir $WORK/state-private --net private suite"
if command -v hyperfine >/dev/null 2>&1; then
  hyperfine --warmup 2 --runs "$RUNS" --export-markdown "$WORK/result.md" \
    -n "xargs -P2" "xargs -P2 -n1 sh <list" \
    -n "warden -j2 --net host" "$host" \
    -n "warden -j2 --net private" "$private"
  cat "$WORK/result.md"
else
  # No hyperfine: time each command RUNS times, alternating so that load changes on a shared
  # machine hit all three alike; wall time in ms from date +%s%N.
  time_ms() { local t0 t1; t0=$(date +%s%N); bash -c "$1" >/dev/null 2>&1 || true; t1=$(date +%s%N); echo $(((t1 - t0) / 1000000)); }
  for cmd in "xargs -P2 -n1 sh <list" "$host" "$private"; do time_ms "$cmd" >/dev/null; done
  : >"$WORK/xargs"; : >"$WORK/host"; : >"$WORK/private"
  for _ in $(seq "$RUNS"); do
    time_ms "xargs -P2 -n1 sh <list" >>"$WORK/xargs"
    time_ms "$host" >>"$WORK/host"
    time_ms "$private" >>"$WORK/private"
  done
  stats() { sort -n "$1" | awk '{a[NR]=$1; s+=$1} END {printf "%.0f ms | %d ms | %d–%d ms", s/NR, a[int((NR+1)/2)], a[1], a[NR]}'; }
  echo "(hyperfine not installed: $RUNS alternating runs each, timed by this script)"
  echo "| command | mean | median | range |"
  echo "|---|---|---|---|"
  echo "| xargs -P2 | $(stats "$WORK/xargs") |"
  echo "| warden -j2 --net host | $(stats "$WORK/host") |"
  echo "| warden -j2 --net private | $(stats "$WORK/private") |"
  h=$(awk '{s+=$1} END {print s/NR}' "$WORK/host")
  p=$(awk '{s+=$1} END {print s/NR}' "$WORK/private")
  awk -v h="$h" -v p="$p" -v n="$N" 'BEGIN {printf "private − host: %.0f ms for %d tests, %.2f ms a test (wall, 2 at a time)\n", p - h, n, (p - h) / n}'
fi
