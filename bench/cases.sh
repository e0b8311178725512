#!/usr/bin/env bash
# Rust test cases (issue 13): `warden run --cargo` side by side with cargo-nextest, in one run.
#  1. A generated crate, 500 trivial #[test]s over 5 binaries, warm build, -j2: wall time of
#     both (hyperfine) and their counts. Target: warden <= 0.8x nextest.
#  2. The same with 5000 tests (1000 a binary): per-test time stays flat.
#  3. Listing 5000 cases: `warden list --cargo` against the binaries' own `--list` calls.
#  4. A crate where 3 tests leak a `sleep` each and 1 hangs: what each runner leaves alive.
# Needs cargo-nextest on PATH (`cargo install cargo-nextest --locked`). The crates have no
# dependencies and build offline. RUNS=N sets hyperfine's runs (default 5).
source "$(dirname "$0")/common.sh"
need hyperfine hyperfine
command -v cargo-nextest >/dev/null || { echo "cargo-nextest is not installed" >&2; exit 1; }
build_warden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
export CARGO_NET_OFFLINE=true
RUNS=${RUNS:-5}

# gen_crate DIR BINARIES TESTS_PER_BINARY
gen_crate() {
  mkdir -p "$1/src" "$1/tests"
  printf '[package]\nname = "gen"\nversion = "0.1.0"\nedition = "2021"\n\n[lib]\ntest = false\n' >"$1/Cargo.toml"
  echo 'pub fn one() -> u32 { 1 }' >"$1/src/lib.rs"
  for b in $(seq 1 "$2"); do
    for t in $(seq 1 "$3"); do
      printf '#[test]\nfn case_%d() { assert_eq!(gen::one(), 1); }\n' "$t"
    done >"$1/tests/bin$b.rs"
  done
  (cd "$1" && CARGO_TARGET_DIR="$1/target" cargo test -q --no-run 2>/dev/null)
}

# counts: passed of a warden --json stream / of nextest's summary line
warden_passed() { python3 -c 'import json,sys
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e["type"]=="run-finished": print(e["passed"], "passed,", e["failed"]+e["timed_out"]+e["errors"], "failed")' "$1"; }

compare() { # compare NAME DIR
  local dir=$1/crate
  echo "== $2: warden run --cargo -j2 vs cargo nextest run -j2 (warm build)"
  (cd "$dir" && export CARGO_TARGET_DIR="$dir/target" &&
    hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$1/result.md" \
      -n "cargo nextest run -j2" "cargo nextest run -j2 --no-fail-fast --status-level none --final-status-level none >/dev/null 2>&1" \
      -n "warden run --cargo -j2" "$WARDEN run --cargo -j2 -q --state-dir $1/state >/dev/null 2>&1" \
      -n "warden run --cargo -j2, no journal/history" "WARDEN_NO_STATE=1 $WARDEN run --cargo -j2 -q --state-dir $1/state2 >/dev/null 2>&1")
  cat "$1/result.md"
  (cd "$dir" && export CARGO_TARGET_DIR="$dir/target" &&
    echo "nextest: $(cargo nextest run -j2 2>&1 | grep -E 'tests run' | sed 's/^ *//')" &&
    $WARDEN run --cargo -j2 -q --state-dir "$1/state" --json "$1/events.jsonl" >/dev/null 2>&1;
    echo "warden:  $(warden_passed "$1/events.jsonl")")
}

mkdir -p "$WORK/small" "$WORK/big"
gen_crate "$WORK/small/crate" 5 100
compare "$WORK/small" "500 tests over 5 binaries"
gen_crate "$WORK/big/crate" 5 1000
compare "$WORK/big" "5000 tests over 5 binaries"

echo "== listing 5000 cases"
(cd "$WORK/big/crate" && export CARGO_TARGET_DIR="$WORK/big/crate/target" &&
  bins=$(cargo test --no-run --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["profile"]["test"] and m.get("executable"): print(m["executable"])') &&
  printf '%s\n' $bins >"$WORK/bins" &&
  hyperfine --warmup 1 --runs "$RUNS" --export-markdown "$WORK/list.md" \
    -n "the binaries' own --list (+ --ignored), one after another" \
    "while read -r b; do \"\$b\" --list --format terse >/dev/null; \"\$b\" --list --format terse --ignored >/dev/null; done <$WORK/bins" \
    -n "cargo test --no-run (warm, the build step alone)" "cargo test -q --no-run >/dev/null 2>&1" \
    -n "warden list --cargo" "$WARDEN list --cargo --state-dir $WORK/big/state >/dev/null 2>&1" \
    -n "cargo nextest list" "cargo nextest list >/dev/null 2>&1")
cat "$WORK/list.md"

echo "== leaks: 3 tests leak a sleep each, 1 hangs"
LEAK="$WORK/leak"
mkdir -p "$LEAK/src" "$LEAK/.config"
printf '[package]\nname = "leaky"\nversion = "0.1.0"\nedition = "2021"\n' >"$LEAK/Cargo.toml"
{
  echo '#[cfg(test)] mod tests {'
  for i in 1 2 3; do
    printf '    #[test] fn leak_%d() { std::process::Command::new("sleep").arg("86%d.5").spawn().unwrap(); }\n' "$i" "$i"
  done
  echo '    #[test] fn hangs() { std::thread::sleep(std::time::Duration::from_secs(3600)); }'
  echo '    #[test] fn fine() {}'
  echo '}'
} >"$LEAK/src/lib.rs"
# nextest has no timeout by default: give it the same 5 s as warden's --timeout.
printf '[profile.default]\nslow-timeout = { period = "5s", terminate-after = 1 }\nleak-timeout = "100ms"\n' \
  >"$LEAK/.config/nextest.toml"
export CARGO_TARGET_DIR="$LEAK/target"
(cd "$LEAK" && cargo test -q --no-run 2>/dev/null)
alive() { # pids of our leaked sleeps still running (by their unique arguments)
  python3 -c 'import os
pids = []
for p in os.listdir("/proc"):
    try:
        cmd = open(f"/proc/{p}/cmdline", "rb").read().split(b"\0")
        state = open(f"/proc/{p}/stat").read().rsplit(")", 1)[1].split()[0]
    except (OSError, ValueError, IndexError):
        continue
    if cmd[:2] in ([b"sleep", b"861.5"], [b"sleep", b"862.5"], [b"sleep", b"863.5"]) and state != "Z":
        pids.append(p)
print(" ".join(sorted(pids, key=int)))'
}
kill_alive() { for p in $(alive); do kill "$p" 2>/dev/null || true; done; }
kill_alive
start=$(date +%s.%N)
(cd "$LEAK" && cargo nextest run -j2 --no-fail-fast >"$WORK/nextest-leak.txt" 2>&1) || true
end=$(date +%s.%N)
sleep 1
survivors=$(alive)
echo "nextest: $(grep -E 'tests run' "$WORK/nextest-leak.txt" | sed 's/^ *//'); $(grep -cE 'LEAK' "$WORK/nextest-leak.txt") LEAK lines; wall $(python3 -c "print(round($end-$start,2))") s; leaked sleeps alive after it: $(echo "$survivors" | wc -w) ($survivors)"
kill_alive
start=$(date +%s.%N)
(cd "$LEAK" && $WARDEN run --cargo -j2 --timeout 5s --grace 1s --state-dir "$WORK/leak-state" \
  --json "$WORK/leak.jsonl" >"$WORK/warden-leak.txt" 2>&1) || true
end=$(date +%s.%N)
sleep 1
survivors=$(alive)
echo "warden:  $(warden_passed "$WORK/leak.jsonl"); $(python3 -c 'import json,sys
n=0
for l in open(sys.argv[1]):
    e=json.loads(l)
    if e["type"]=="test-finished": n+=len(e["leaked"])
print(n)' "$WORK/leak.jsonl") leaked processes reported; $(grep -c '^TIMEOUT' "$WORK/warden-leak.txt") timeout; wall $(python3 -c "print(round($end-$start,2))") s; leaked sleeps alive after it: $(echo "$survivors" | wc -w) ($survivors)"
kill_alive
