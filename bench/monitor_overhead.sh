#!/usr/bin/env bash
# Host monitor overhead (issue 5): warden's own CPU time (user + system of the warden process
# alone: not its tests, not its watchdog) over 200 tests of 0.05 s at -j2, with --self-protect
# on and off. Target: the difference is < 1% of one core over the run's wall time.
# The thresholds are 100% so the guard samples and decides but never throttles: the run is the
# same work either way.
source "$(dirname "$0")/common.sh"
build_warden
N=${N:-200}
RUNS=${RUNS:-5}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/suite"
for i in $(seq -w 1 "$N"); do
  printf '#!/bin/sh\nsleep 0.05\n' >"$WORK/suite/t${i}_test.sh"
  chmod +x "$WORK/suite/t${i}_test.sh"
done

# Runs warden, waits for it to exit without reaping it (so its /proc entry still holds its own
# CPU times, apart from its children's), prints "cpu_seconds wall_seconds".
measure() {
  python3 - "$WARDEN" "$@" <<'EOF'
import os, sys, time
argv = sys.argv[1:]
tick = os.sysconf("SC_CLK_TCK")
start = time.monotonic()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1); os.dup2(fd, 2)
    os.execv(argv[0], argv)
os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)
wall = time.monotonic() - start
stat = open(f"/proc/{pid}/stat").read()
fields = stat[stat.rfind(")") + 2:].split()
# utime and stime are fields 14 and 15; fields[0] is field 3 (state).
cpu = (int(fields[11]) + int(fields[12])) / tick
os.waitpid(pid, 0)
print(f"{cpu:.3f} {wall:.3f}")
EOF
}

cd "$WORK"
declare -A cpu wall
for mode in off on; do
  cpu[$mode]=0; wall[$mode]=0
done
for run in $(seq 1 "$RUNS"); do
  for mode in off on; do
    extra=()
    [ "$mode" = on ] && extra=(--self-protect --cpu-threshold 100 --mem-threshold 100)
    read -r c w < <(measure run -j2 -q --state-dir "$WORK/state" "${extra[@]}" suite)
    echo "run $run, --self-protect $mode: warden cpu ${c}s over ${w}s wall" >&2
    cpu[$mode]=$(python3 -c "print(${cpu[$mode]} + $c)")
    wall[$mode]=$(python3 -c "print(${wall[$mode]} + $w)")
  done
done
python3 - "${cpu[off]}" "${wall[off]}" "${cpu[on]}" "${wall[on]}" "$RUNS" "$N" <<'EOF'
import sys
cpu_off, wall_off, cpu_on, wall_on, runs, n = map(float, sys.argv[1:])
cpu_off /= runs; wall_off /= runs; cpu_on /= runs; wall_on /= runs
diff = cpu_on - cpu_off
share = 100 * diff / wall_on
print(f"| {int(n)} tests of 0.05 s, -j2, mean of {int(runs)} runs | warden CPU | wall |")
print("|---|---|---|")
print(f"| --self-protect off | {cpu_off:.3f} s | {wall_off:.3f} s |")
print(f"| --self-protect on  | {cpu_on:.3f} s | {wall_on:.3f} s |")
print(f"\nmonitor overhead: {diff*1000:+.0f} ms of CPU over a {wall_on:.1f} s run = {share:+.2f}% of one core (target < 1%)")
EOF
