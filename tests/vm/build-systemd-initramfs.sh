#!/usr/bin/env bash
# The systemd VM's initramfs: the rootfs archive of build-systemd-rootfs.sh followed by a
# second archive (the kernel unpacks both) with the given warden, fixtures/vm, the test
# script tests/vm/systemd-test.sh and the unit that runs it once the system is up.
#
# usage: tests/vm/build-systemd-initramfs.sh WARDEN_BINARY ROOTFS.cpio.gz OUTPUT.cpio.gz
set -euo pipefail

warden=${1:?usage: build-systemd-initramfs.sh WARDEN_BINARY ROOTFS.cpio.gz OUTPUT}
base=${2:?usage: build-systemd-initramfs.sh WARDEN_BINARY ROOTFS.cpio.gz OUTPUT}
out=${3:?usage: build-systemd-initramfs.sh WARDEN_BINARY ROOTFS.cpio.gz OUTPUT}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

extra=$(mktemp -d)
trap 'rm -rf "$extra"' EXIT
chmod 755 "$extra"
mkdir -p "$extra/usr/local/bin" "$extra/fixtures" "$extra/etc/systemd/system/multi-user.target.wants"
strip -o "$extra/usr/local/bin/warden" "$warden" 2>/dev/null || cp "$warden" "$extra/usr/local/bin/warden"
cp "$here/systemd-test.sh" "$extra/usr/local/bin/vm-test"
chmod 755 "$extra/usr/local/bin/vm-test"
cp -r "$repo/fixtures/vm" "$extra/fixtures/vm"
cat >"$extra/etc/systemd/system/vm-test.service" <<'UNIT'
[Unit]
Description=warden's systemd VM test
After=systemd-logind.service systemd-user-sessions.service

[Service]
Type=oneshot
ExecStart=/usr/local/bin/vm-test
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
UNIT
ln -s /etc/systemd/system/vm-test.service "$extra/etc/systemd/system/multi-user.target.wants/vm-test.service"
{
    cat "$base"
    (cd "$extra" && find . -mindepth 1 | cpio -o -H newc --quiet) | gzip -1
} >"$out"
