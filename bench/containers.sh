#!/usr/bin/env bash
# Containers (issue 6), two figures against the real engine:
#  1. 20 tests of 1 s each: `--container -j4` against `--container-seq`. Target: >= 3x faster.
#  2. Per-container overhead: 20 trivial tests with `--container-seq` against 20 bare
#     `docker run --rm IMAGE` of the same image and command, one after the other.
#     Target: within 1.2x.
# Needs docker (or ENGINE=podman); the image is built from local files, nothing is pulled.
source "$(dirname "$0")/common.sh"
need hyperfine hyperfine
ENGINE=${ENGINE:-docker}
IMAGE=${IMAGE:-warden-test-busybox:1}
N=${N:-20}
"$ROOT/fixtures/container/build-image.sh" "$IMAGE" "$ENGINE"
build_warden
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/sleepy/test" "$WORK/trivial/test"
for i in $(seq -w 1 "$N"); do
  printf 'sleep 1\n' >"$WORK/sleepy/test/t${i}_test.sh"
  printf 'exit 0\n' >"$WORK/trivial/test/t${i}_test.sh"
done
run="$WARDEN run -q --container-image $IMAGE --container-engine $ENGINE"

echo "== $N tests of 1 s: --container -j4 vs --container-seq"
cd "$WORK/sleepy"
hyperfine --warmup 1 --runs "${RUNS:-3}" --export-json "$WORK/parallel.json" \
  -n "container -j4" "$run --container -j4 --state-dir $WORK/st1 test" \
  -n "container-seq" "$run --container-seq --state-dir $WORK/st2 test"

echo "== per-container overhead: $N trivial tests, warden --container-seq vs bare $ENGINE run --rm"
cd "$WORK/trivial"
# The bare loop runs the same command on the same image, with the project mounted the same way.
# podman needs the nofile/nproc limits warden gives it (its defaults cannot be set here without
# CAP_SYS_RESOURCE; docs/containers.md, "What differs").
limits=""
if [ "$(basename "$ENGINE")" = podman ]; then
  pid_max=$(cat /proc/sys/kernel/pid_max)
  cap() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
  nproc_hard=$(cap "$(ulimit -Hu)" "$pid_max")
  nproc_soft=$(cap "$(ulimit -Su)" "$nproc_hard")
  nofile_hard=$(cap "$(ulimit -Hn)" 1048576)
  nofile_soft=$(cap "$(ulimit -Sn)" "$nofile_hard")
  limits="--ulimit nofile=$nofile_soft:$nofile_hard --ulimit nproc=$nproc_soft:$nproc_hard"
fi
bare="for f in test/*_test.sh; do $ENGINE run --rm $limits --mount type=bind,source=$WORK/trivial,target=/workspace,readonly $IMAGE sh /workspace/\$f >/dev/null || exit 1; done"
hyperfine --warmup 1 --runs "${RUNS:-3}" --export-json "$WORK/overhead.json" \
  -n "bare $ENGINE run --rm" "sh -c '$bare'" \
  -n "warden --container-seq" "$run --container-seq --state-dir $WORK/st3 test"

ratio() { # ratio FILE: the second command's mean over the first's
  python3 - "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, b = r[0]["mean"], r[1]["mean"]
print(f"{r[1]['command']} {b:.2f}s / {r[0]['command']} {a:.2f}s = {b / a:.2f}x")
PY
}
echo
echo "== results"
echo "-seq over -j4 (target >= 3):  $(ratio "$WORK/parallel.json")"
echo "warden over bare (target <= 1.2): $(ratio "$WORK/overhead.json")"
