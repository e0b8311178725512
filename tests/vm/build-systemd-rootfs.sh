#!/usr/bin/env bash
# The Debian rootfs of the systemd VM test (crates/warden-cli/tests/vm_systemd.rs), made once
# with debootstrap from Debian's archive: systemd as init, logind, a user manager for `alice`
# (uid 1000, lingering, so that user@1000.service runs without a login). Packed as a gzipped
# cpio next to it, which the test extends with warden and its test script.
#
# usage: tests/vm/build-systemd-rootfs.sh DIR   (writes DIR/ and DIR.cpio.gz; idempotent)
set -euo pipefail

dir=${1:?usage: build-systemd-rootfs.sh DIR}
# debootstrap changes directory before it writes: a relative DIR (the default target/vm-rootfs,
# with no target/ yet on a fresh checkout) must become absolute first.
mkdir -p "$(dirname "$dir")"
dir="$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")"
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
if [ -s "$dir.cpio.gz" ]; then
    exit 0
fi
if ! command -v debootstrap >/dev/null 2>&1; then
    echo "build-systemd-rootfs: debootstrap is missing (Debian: debootstrap)" >&2
    exit 3
fi
if [ ! -f "$dir/etc/os-release" ]; then
    rm -rf "$dir"
    debootstrap --variant=minbase \
        --include=systemd,systemd-sysv,dbus,libpam-systemd,dbus-user-session \
        bookworm "$dir" "$mirror"
fi
chroot "$dir" id alice >/dev/null 2>&1 || chroot "$dir" useradd -m -u 1000 -s /bin/bash alice
mkdir -p "$dir/var/lib/systemd/linger"
touch "$dir/var/lib/systemd/linger/alice"
# No login prompts on the consoles: the test's service is all that runs.
ln -sf /dev/null "$dir/etc/systemd/system/serial-getty@ttyS0.service"
ln -sf /dev/null "$dir/etc/systemd/system/getty@tty1.service"
ln -sf /lib/systemd/systemd "$dir/init"
(cd "$dir" && find . | cpio -o -H newc --quiet) | gzip -1 >"$dir.cpio.gz.part"
mv "$dir.cpio.gz.part" "$dir.cpio.gz"
