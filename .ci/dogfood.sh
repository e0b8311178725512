#!/usr/bin/env bash
# Dogfood: warden runs its own engine's unit tests through `warden run --cargo`, one process per
# #[test], and must count as many passes as `cargo test` does on the same tests.
# Scope: `-p warden --lib` (~450 tests, ~2 min at -j2). The workspace's integration tests are
# left out: they start warden, containers and VMs themselves and take ~10 min under cargo test
# alone; running them a second time per case would double CI.
set -euo pipefail
cd "$(dirname "$0")/.."

warden="${CARGO_TARGET_DIR:-target}/debug/warden"
cargo build -q -p warden-cli

expected=$(cargo test -q -p warden --lib 2>&1 |
    sed -n 's/^test result: ok\. \([0-9]*\) passed.*/\1/p' | tail -1)
if [ -z "$expected" ]; then
    echo "dogfood: cargo test -p warden --lib did not pass" >&2
    exit 1
fi

events=$(mktemp)
trap 'rm -f "$events"' EXIT
# Retried once: a few timing-sensitive tests share the machine with the run itself.
status=0
"$warden" run --cargo -q -j 2 --retries 1 --json "$events" -- -p warden --lib || status=$?
passed=$(python3 - "$events" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e.get("type") == "run-finished":
        print(e["passed"] + e["flaky"])
PY
)
echo "dogfood: cargo test passed $expected; warden run --cargo passed $passed (exit $status)"
if [ "$status" -ne 0 ] || [ "$passed" != "$expected" ]; then
    exit 1
fi
