#!/bin/bash
# Runs in the systemd VM (vm-test.service, started by build-systemd-initramfs.sh's unit). The
# service's cgroup is systemd's, not delegated, and holds this script too: like an SSH login's
# session scope. warden, as root and as alice (who has a user manager), must get a delegated
# scope from systemd itself. Facts go to the second serial port: `VM <who> <scenario> <key> ...`.
OUT=/dev/ttyS1
say() { echo "VM $*" >"$OUT"; }
say boot systemd "$(systemctl --version | head -1)"
say boot own "$(cat /proc/self/cgroup)"

as() { # WHO CMD...: run CMD as WHO, with the user manager's runtime dir for a user
    local who=$1
    shift
    if [ "$who" = root ]; then
        "$@"
    else
        runuser -u "$who" -- env XDG_RUNTIME_DIR="/run/user/$(id -u "$who")" "$@"
    fi
}

# Processes with a WARDEN_RUN_ID and warden-* cgroups: what a run may leave behind.
leftovers() {
    local n=0 e
    for e in /proc/[0-9]*/environ; do
        grep -q WARDEN_RUN_ID= "$e" 2>/dev/null && n=$((n + 1))
    done
    echo "$n $(find /sys/fs/cgroup -type d -name 'warden-*' | wc -l)"
}

prepare() { # WHO SCENARIO SUITE: a copy of the suite owned by WHO; cd there
    work=/tmp/work/$1-$2
    rm -rf "$work"
    mkdir -p "$work/probe"
    cp -r "/fixtures/vm/$3" "$work/t"
    chown -R "$1:" "$work"
    cd "$work" || exit 1
}

report() { # WHO SCENARIO EXIT
    say "$1" "$2" exit "$3"
    while read -r l; do say "$1" "$2" stderr "$l"; done <err
    [ -f ev.jsonl ] && grep test-finished ev.jsonl | while read -r l; do say "$1" "$2" event "$l"; done
    say "$1" "$2" leftovers "$(leftovers)"
}

for who in root alice; do
    if [ "$who" = alice ]; then
        for _ in $(seq 150); do systemctl is-active -q user@1000.service && break; sleep 0.2; done
        say alice manager "$(systemctl is-active user@1000.service)"
    fi
    prepare "$who" caps caps
    as "$who" warden run t -v -j 1 --test-mem-limit 64M --test-pids-limit 8 --json ev.jsonl >out 2>err
    report "$who" caps $?

    # SIGKILL of warden inside the scope: its watchdog ends the tests and leaves the scope.
    prepare "$who" sigkill hangs
    if [ "$who" = root ]; then
        VM_PROBE=$work/probe warden run t -j 2 --json ev.jsonl >out 2>err &
    else
        VM_PROBE=$work/probe runuser -u "$who" -- env XDG_RUNTIME_DIR="/run/user/$(id -u "$who")" \
            warden run t -j 2 --json ev.jsonl >out 2>err &
    fi
    wpid=$!
    for _ in $(seq 300); do [ -f probe/ready1 ] && [ -f probe/ready2 ] && break; sleep 0.1; done
    say "$who" sigkill alive_before "$(leftovers)"
    # runuser stays as warden's parent: kill warden itself, its child.
    target=$wpid
    [ "$who" = root ] || read -r target _ <"/proc/$wpid/task/$wpid/children"
    kill -KILL "$target"
    t=0
    while [ "$(leftovers)" != "0 0" ] && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
    wait "$wpid"
    report "$who" sigkill killed
    say "$who" sigkill tenths "$t"
done
say done
systemctl poweroff --no-block
