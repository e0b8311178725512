#!/usr/bin/env bash
# Build the initramfs of the pure cgroup v2 VM test: a static busybox, the given warden binary
# (stripped) with the shared libraries ldd lists for it, the fixture suites of fixtures/vm,
# two users (1000: a delegated subtree; 1001: nothing delegated) and tests/vm/init.sh as /init.
#
# usage: tests/vm/build-initramfs.sh WARDEN_BINARY OUTPUT.cpio.gz
set -euo pipefail

warden=${1:?usage: build-initramfs.sh WARDEN_BINARY OUTPUT.cpio.gz}
out=${2:?usage: build-initramfs.sh WARDEN_BINARY OUTPUT.cpio.gz}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

busybox=""
for b in /bin/busybox /usr/bin/busybox; do
    # Only a static busybox runs without the host's libraries.
    if [ -x "$b" ] && ! ldd "$b" >/dev/null 2>&1; then
        busybox=$b
        break
    fi
done
if [ -z "$busybox" ]; then
    echo "build-initramfs: no static busybox (Debian: busybox-static)" >&2
    exit 3
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
# mktemp made it 0700: it becomes /, which every user must be able to walk through.
chmod 755 "$root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,run,etc,usr/local/bin,fixtures}
cp "$busybox" "$root/bin/busybox"
if command -v strip >/dev/null 2>&1; then
    strip -o "$root/usr/local/bin/warden" "$warden"
else
    cp "$warden" "$root/usr/local/bin/warden"
fi
# The libraries and the loader, at the paths the binary asks for.
ldd "$warden" | awk '/=> \// {print $3} /^\t\// {print $1}' | while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
done
cp -r "$repo/fixtures/vm" "$root/fixtures/vm"
cp "$here/init.sh" "$root/init"
chmod 755 "$root/init"
cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
alice:x:1000:1000:delegated user:/tmp:/bin/sh
bob:x:1001:1001:user with nothing delegated:/tmp:/bin/sh
EOF
cat >"$root/etc/group" <<'EOF'
root:x:0:
alice:x:1000:
bob:x:1001:
EOF
(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$out"
