#!/usr/bin/env bash
# The HTML report at scale: a real run of 10,000 tests (2% of them failing with 40 lines of
# output each) at -j2, then
#   - the page's size (target < 5 MB),
#   - `warden report EVENTS --html OUT` rendering and writing it (target < 1 s), against
#     junit2html (PyPI) rendering the same run's JUnit XML, the usual peer,
#   - what --html adds to the run itself (host sampling, collecting the events, the page),
#   - headless Chromium loading the page and running its script, against an empty page.
source "$(dirname "$0")/common.sh"
need hyperfine hyperfine
need chromium chromium
build_warden
N=${N:-10000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/suite"
for i in $(seq -w 1 "$N"); do
  if [ $((10#$i % 50)) -eq 7 ]; then
    printf '#!/bin/sh\nfor n in $(seq 40); do echo "step $n: checking invariants of case %s"; done\necho "assertion failed: expected 42, got 41" >&2\nexit 1\n' "$i" \
      >"$WORK/suite/case_${i}_test.sh"
  else
    printf '#!/bin/sh\nexit 0\n' >"$WORK/suite/case_${i}_test.sh"
  fi
done
chmod +x "$WORK"/suite/*.sh
cd "$WORK"

echo "== one run of $N tests with --json, --junit and --html"
start=$(date +%s.%N)
"$WARDEN" run -j2 -q --state-dir "$WORK/state" suite \
  --json events.jsonl --junit junit.xml --html run.html >/dev/null 2>&1 || true
end=$(date +%s.%N)
echo "run: $(echo "$end - $start" | bc) s; events.jsonl $(stat -c %s events.jsonl) bytes," \
  "junit.xml $(stat -c %s junit.xml) bytes, run.html $(stat -c %s run.html) bytes"

if [ ! -x "$WORK/venv/bin/junit2html" ]; then
  python3 -m venv "$WORK/venv" >/dev/null && "$WORK/venv/bin/pip" install -q junit2html >/dev/null
fi
peer=()
if [ -x "$WORK/venv/bin/junit2html" ]; then
  peer=(-n "junit2html junit.xml (peer)" "$WORK/venv/bin/junit2html junit.xml peer.html")
else
  echo "junit2html could not be installed: no peer in this run" >&2
fi

echo "== rendering the page from the saved stream"
hyperfine --warmup 1 --runs "${RUNS:-10}" --export-markdown "$WORK/render.md" \
  -n "warden report events.jsonl --html" \
  "$WARDEN report events.jsonl --html out.html --state-dir $WORK/state" \
  -n "warden report events.jsonl --html, no history" \
  "$WARDEN report events.jsonl --html out2.html --no-history" \
  "${peer[@]}"
cat "$WORK/render.md"
echo "out.html: $(stat -c %s out.html) bytes"
[ -f peer.html ] && echo "peer.html (junit2html): $(stat -c %s peer.html) bytes"

echo "== what --html adds to the run"
hyperfine --runs "${RUN_RUNS:-3}" --export-markdown "$WORK/run.md" \
  -n "warden run -j2 --json" "$WARDEN run -j2 -q --state-dir $WORK/s1 suite --json e1.jsonl" \
  -n "warden run -j2 --json --html" "$WARDEN run -j2 -q --state-dir $WORK/s2 suite --json e2.jsonl --html r2.html" \
  -i
cat "$WORK/run.md"

echo "== headless Chromium loading the page (DOM after its script ran)"
printf '<!DOCTYPE html><title>empty</title>\n' >empty.html
chrome() {
  chromium --headless --no-sandbox --disable-gpu --user-data-dir="$WORK/profile" \
    --dump-dom "file://$WORK/$1" 2>/dev/null
}
hyperfine --warmup 1 --runs "${RUNS:-5}" --export-markdown "$WORK/chrome.md" \
  -n "chromium --dump-dom empty page" "chromium --headless --no-sandbox --disable-gpu --user-data-dir=$WORK/profile --dump-dom file://$WORK/empty.html" \
  -n "chromium --dump-dom run.html ($N tests)" "chromium --headless --no-sandbox --disable-gpu --user-data-dir=$WORK/profile --dump-dom file://$WORK/run.html"
cat "$WORK/chrome.md"
echo "DOM of run.html: $(chrome run.html | grep -o '<rect class="b ' | wc -l) bars," \
  "$(chrome run.html | grep -o '<tr class="row" data-i="[0-9]' | wc -l) table rows drawn (the first page of 500)"
