#!/usr/bin/env bash
# Shard balance (issue 7): a skewed suite of 100 tests (5 x 4 s, 14 x 1 s, 81 x 0.1 s; the long
# ones sort last by name) cut into 4 shards by hash, count and duration. For each, the largest
# shard's time over the ideal (total / 4), predicted from the recorded durations and measured by
# running the 4 shards side by side, each with one worker (one CI machine per shard).
# Target: duration <= 1.1x. WARDEN_BIN=path/to/warden skips the release build.
source "$(dirname "$0")/common.sh"
need python3 python3
if [ -n "${WARDEN_BIN:-}" ]; then WARDEN=$WARDEN_BIN; else build_warden; fi
SHARDS=4
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
cd "$WORK"
mkdir -p suite
make_tests() { # make_tests PREFIX COUNT SECONDS
  for i in $(seq -w 1 "$2"); do printf '#!/bin/sh\nsleep %s\n' "$3" >"suite/$1${i}_test.sh"; done
}
make_tests a 81 0.1
make_tests m 14 1
make_tests z 5 4

echo "recording durations (one run of the whole suite)..." >&2
"$WARDEN" run suite -j10 -q --state-dir rec >/dev/null 2>&1 || { echo "recording run failed" >&2; exit 1; }
"$WARDEN" history export durations.jsonl --state-dir rec 2>/dev/null

for kind in hash count duration; do
  for k in $(seq 1 $SHARDS); do
    "$WARDEN" list suite --json --partition "$kind:$k/$SHARDS" --history durations.jsonl \
      >"list-$kind-$k.json" 2>/dev/null
  done
  echo "running the $SHARDS $kind shards side by side..." >&2
  for k in $(seq 1 $SHARDS); do
    (
      start=$(date +%s.%N)
      "$WARDEN" run suite -j1 -q --partition "$kind:$k/$SHARDS" --history durations.jsonl \
        --state-dir "state-$kind-$k" --json "run-$kind-$k.jsonl" >/dev/null 2>&1
      end=$(date +%s.%N)
      echo "$start $end" >"wall-$kind-$k"
    ) &
  done
  wait
done

python3 - "$SHARDS" <<'EOF'
import json, sys
shards = int(sys.argv[1])
recorded = {}
for line in open("durations.jsonl"):
    if line.strip():
        d = json.loads(line)
        recorded[d["id"]] = d["duration_ms"] / 1000
total = sum(recorded.values())
print(f"suite: {len(recorded)} tests, {total:.1f} s recorded in all; ideal shard: {total / shards:.2f} s\n")
print("| partition | tests per shard | predicted shard times (s) | largest / ideal | measured shard times (s) | largest / ideal |")
print("|---|---|---|---|---|---|")
for kind in ["hash", "count", "duration"]:
    sizes, predicted, measured, ran = [], [], [], set()
    for k in range(1, shards + 1):
        ids = [t["id"] for t in json.load(open(f"list-{kind}-{k}.json"))]
        sizes.append(len(ids))
        predicted.append(sum(recorded[i] for i in ids))
        start, end = map(float, open(f"wall-{kind}-{k}").read().split())
        measured.append(end - start)
        finished = [json.loads(l) for l in open(f"run-{kind}-{k}.jsonl") if l.strip()]
        got = {e["id"] for e in finished if e["type"] == "test-finished"}
        assert got == set(ids), f"{kind} {k}: ran {len(got)} tests, listed {len(ids)}"
        assert not (ran & got), f"{kind}: a test ran in two shards"
        ran |= got
    assert ran == set(recorded), f"{kind}: {len(ran)} of {len(recorded)} tests ran"
    ideal_p = total / shards
    ideal_m = sum(measured) / shards
    fmt = lambda xs: " / ".join(f"{x:.1f}" for x in xs)
    print(f"| {kind} | {' / '.join(map(str, sizes))} | {fmt(predicted)} | "
          f"{max(predicted) / ideal_p:.2f}x | {fmt(measured)} | {max(measured) / ideal_m:.2f}x |")
EOF
