#!/bin/busybox sh
# PID 1 of the pure cgroup v2 VM (built by tests/vm/build-initramfs.sh, booted by
# crates/warden-cli/tests/vm_cgroup_v2.rs). It mounts cgroup2 (the kernel has no v1), makes
# the placements users really have, runs warden on the fixture suites of fixtures/vm in each,
# as root and as a normal user, and writes what happened to the second serial port, one fact
# a line: `VM <row> <scenario> <key> <value...>`. The Rust test decides what is right.
#
# Rows (placement/user):
#   root-cgroup/root  warden in the root cgroup (a VM or a container's init, CI)
#   session/root      a busy scope of root's, as an SSH login's session-N.scope
#   session/user      the same for a normal user: nothing delegated (degraded)
#   scope/root        alone in a delegated scope (systemd-run --scope -p Delegate=yes)
#   delegated/user    a busy scope in a subtree delegated to the user, chowned as systemd does
#                     (user@1000.service/app.slice/term.scope: a desktop terminal)
#   scope/user        alone in a delegated scope of the user's (systemd-run --user --scope)
# Scenarios: caps (oom + peak, pids cap, leak), pause (SIGTSTP/SIGCONT), sigkill (watchdog),
# guard (--self-protect, exit 42).

/bin/busybox --install -s /bin
export PATH=/bin:/usr/local/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
mount -t tmpfs run /run
mount -t cgroup2 cgroup2 /sys/fs/cgroup
chmod 1777 /tmp
CG=/sys/fs/cgroup
OUT=/dev/ttyS1

say() { echo "VM $*" > "$OUT"; }

say boot kernel "$(uname -r)"
say boot controllers "$(cat $CG/cgroup.controllers)"
say boot v1 "$(grep -c ' - cgroup ' /proc/self/mountinfo)"

USER_UID=1000
NODELEG_UID=1001
BUSY=""

# A cgroup directory; with an owner, chowned as systemd delegates (the directory and its
# cgroup.procs, cgroup.subtree_control, cgroup.threads).
mkcg() {
    mkdir -p "$1"
    if [ -n "$2" ]; then
        chown "$2:$2" "$1" "$1/cgroup.procs" "$1/cgroup.subtree_control" "$1/cgroup.threads"
    fi
}

# Controllers for the children of each cgroup named, as systemd does for a delegated unit.
enable() {
    for d in "$@"; do
        echo "+memory +pids +cpu" > "$d/cgroup.subtree_control"
    done
}

# `as UID PROG ARGS...`: exec PROG with the ids of UID, the environment kept (busybox's
# setpriv cannot change ids; its su can).
cat > /bin/as <<'EOF2'
#!/bin/sh
uid=$1
shift
case $uid in
0) exec "$@" ;;
1000) exec su -p -s /bin/sh -c 'exec "$@"' -- alice sh "$@" ;;
1001) exec su -p -s /bin/sh -c 'exec "$@"' -- bob sh "$@" ;;
esac
echo "as: unknown uid $uid" >&2
exit 97
EOF2
chmod 755 /bin/as

# A process of someone else's in cgroup $1 (as uid $2), so that the cgroup is busy. Placed
# first, as root (a login manager does that), then the ids are dropped.
busy() {
    sh -c 'echo $$ > "$1/cgroup.procs" && exec as "$2" sleep 100000' sh "$1" "$2" &
    BUSY="$BUSY $!"
}

# run ROW SCENARIO CGROUP UID SUITE ARGS...: warden in CGROUP as UID on a copy of the suite,
# in the background; WPID is its pid, WORK its directory.
start() {
    row=$1 scen=$2 cg=$3 uid=$4 suite=$5
    shift 5
    WORK=/tmp/work/$row-$scen
    mkdir -p "$WORK/probe"
    cp -r "/fixtures/vm/$suite" "$WORK/t"
    chown -R "$uid:$uid" "$WORK"
    # Placed first (as root, as a login manager would), then the ids are dropped.
    VM_PROBE=$WORK/probe HOME=$WORK sh -c '
        echo $$ > "$1/cgroup.procs" || exit 99
        cd "$2" || exit 98
        uid=$3; shift 3
        exec as "$uid" warden "$@"
    ' sh "$cg" "$WORK" "$uid" run t --state-dir "$WORK/state" --json "$WORK/events.jsonl" \
        "$@" >"$WORK/stdout" 2>"$WORK/stderr" &
    WPID=$!
}

# After warden exited with $1: its events, its exit code and its warnings.
report() {
    say "$row" "$scen" exit "$1"
    [ -f "$WORK/events.jsonl" ] &&
        while read -r l; do say "$row" "$scen" event "$l"; done < "$WORK/events.jsonl"
    while read -r l; do say "$row" "$scen" stderr "$l"; done < "$WORK/stderr"
}

# Processes carrying a WARDEN_RUN_ID, and warden-* cgroups: what a run may leave behind.
leftovers() {
    n=0
    for e in /proc/[0-9]*/environ; do
        if grep -q WARDEN_RUN_ID= "$e" 2>/dev/null; then n=$((n + 1)); fi
    done
    echo "$n $(find $CG -type d -name 'warden-*' | wc -l)"
}

wait_for() { # TEST TENTHS: false as soon as warden is gone
    i=0
    while ! eval "$1"; do
        i=$((i + 1))
        [ $i -ge "$2" ] && return 1
        kill -0 $WPID 2>/dev/null || return 1
        usleep 100000
    done
}

lines() { [ -f "$1" ] && wc -l < "$1" || echo 0; }

scenarios() { # ROW CGROUP UID
    row=$1 cg=$2 uid=$3
    # `vm_only=ROW` on the kernel command line (an environment variable of init) runs one row.
    if [ -n "$vm_only" ] && [ "$vm_only" != "$row" ]; then return; fi

    start "$row" caps "$cg" "$uid" caps -j 1 --test-mem-limit 64M --test-pids-limit 8 -v
    wait $WPID; code=$?
    report $code
    say "$row" caps leftovers "$(leftovers)"

    start "$row" pause "$cg" "$uid" pause --grace 1s
    if wait_for '[ "$(lines $WORK/probe/main.ticks)" -ge 2 ] && [ -s $WORK/probe/child.ticks ]' 300; then
        kill -TSTP $WPID
        usleep 600000
        tpid=$(cat "$WORK/probe/pid")
        tcg=$(sed -n 's/^0:://p' "/proc/$tpid/cgroup")
        say "$row" pause warden_state "$(sed 's/^.*) //' /proc/$WPID/stat | cut -d' ' -f1)"
        say "$row" pause test_state "$(sed 's/^.*) //' /proc/$tpid/stat | cut -d' ' -f1)"
        say "$row" pause test_cgroup "$tcg"
        say "$row" pause frozen "$(grep '^frozen' "$CG$tcg/cgroup.events" 2>/dev/null | cut -d' ' -f2)"
        before="$(lines $WORK/probe/main.ticks) $(lines $WORK/probe/child.ticks)"
        sleep 2
        after="$(lines $WORK/probe/main.ticks) $(lines $WORK/probe/child.ticks)"
        say "$row" pause ticks "$before -> $after"
        kill -CONT $WPID
    else
        say "$row" pause error "the ticker never started"
    fi
    wait $WPID; code=$?
    report $code
    say "$row" pause final_ticks "$(lines $WORK/probe/main.ticks) $(lines $WORK/probe/child.ticks)"

    start "$row" sigkill "$cg" "$uid" hangs -j 2
    if wait_for '[ -f $WORK/probe/ready1 ] && [ -f $WORK/probe/ready2 ]' 300; then
        say "$row" sigkill alive_before "$(leftovers)"
        kill -KILL $WPID
        wait $WPID
        t=0
        while [ "$(leftovers)" != "0 0" ] && [ $t -lt 50 ]; do usleep 100000; t=$((t + 1)); done
        say "$row" sigkill leftovers "$(leftovers)"
        say "$row" sigkill tenths "$t"
    else
        say "$row" sigkill error "the hangs never started"
        kill -KILL $WPID
        wait $WPID
    fi

    used=$(awk '/^MemTotal/ {t=$2} /^MemAvailable/ {a=$2} END {printf "%d", (t-a)*100/t + 8}' /proc/meminfo)
    start "$row" guard "$cg" "$uid" guard -j 1 --self-protect --cpu-threshold 100 \
        --mem-threshold "$used" --grace 1s
    wait $WPID; code=$?
    report $code
    say "$row" guard threshold "$used"
    say "$row" guard leftovers "$(leftovers)"
}

# --- the rows ------------------------------------------------------------------------------

scenarios root-cgroup/root $CG 0

mkcg $CG/user.slice
mkcg $CG/user.slice/user-0.slice
mkcg $CG/user.slice/user-0.slice/session-1.scope
busy $CG/user.slice/user-0.slice/session-1.scope 0
scenarios session/root $CG/user.slice/user-0.slice/session-1.scope 0

mkcg $CG/user.slice/user-$NODELEG_UID.slice
mkcg $CG/user.slice/user-$NODELEG_UID.slice/session-2.scope
busy $CG/user.slice/user-$NODELEG_UID.slice/session-2.scope $NODELEG_UID
scenarios session/user $CG/user.slice/user-$NODELEG_UID.slice/session-2.scope $NODELEG_UID

mkcg $CG/system.slice
mkcg $CG/system.slice/run-r1.scope
enable $CG $CG/system.slice
scenarios scope/root $CG/system.slice/run-r1.scope 0

U=$CG/user.slice/user-$USER_UID.slice/user@$USER_UID.service
mkcg $CG/user.slice/user-$USER_UID.slice
mkcg "$U" $USER_UID
enable $CG $CG/user.slice $CG/user.slice/user-$USER_UID.slice
mkcg "$U/app.slice" $USER_UID
mkcg "$U/app.slice/term.scope" $USER_UID
busy "$U/app.slice/term.scope" $USER_UID
scenarios delegated/user "$U/app.slice/term.scope" $USER_UID

# The user manager enables the controllers for a scope it delegates.
enable "$U" "$U/app.slice"
mkcg "$U/app.slice/run-u1.scope" $USER_UID
scenarios scope/user "$U/app.slice/run-u1.scope" $USER_UID

for p in $BUSY; do kill "$p"; done
say done
sync
poweroff -f
