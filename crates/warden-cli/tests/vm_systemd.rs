//! Issue 12's systemd path on a real systemd host: a qemu VM boots Debian 12 (a debootstrap
//! rootfs, `tests/vm/build-systemd-rootfs.sh`) with systemd as init on a pure cgroup v2 kernel.
//! Its test service (`tests/vm/systemd-test.sh`) runs warden from the service's own cgroup,
//! which systemd did not delegate and which holds the script too — an SSH login's situation —
//! as root and as a user with a user manager. warden must run itself again in a delegated
//! scope (`systemd-run --scope -p Delegate=yes`, `--user` for the user), move into a leaf of
//! it, and then give OOM with the cgroup's peak, the pids cap and leak kills; a SIGKILL of
//! warden inside the scope leaves nothing, and no `warden-*` cgroup is left.
//!
//! SLOW (a systemd boot under software emulation: a few minutes). Needs qemu, a kernel and the
//! rootfs (`tests/vm/build-systemd-rootfs.sh target/vm-rootfs`, which `.ci/run` makes);
//! skipped without them unless `WARDEN_REQUIRE_VM=1`.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use common::*;

const MIB: u64 = 1 << 20;

fn rootfs_archive() -> PathBuf {
    if let Some(p) = std::env::var_os("WARDEN_VM_ROOTFS") {
        return PathBuf::from(p);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("vm-rootfs.cpio.gz")
}

#[test]
fn systemd_gives_warden_a_delegated_scope_as_root_and_as_a_user() {
    let Some(vm) = Vm::find() else { return };
    let rootfs = rootfs_archive();
    if !rootfs.is_file() {
        let why = format!(
            "no systemd rootfs at {} (make it with tests/vm/build-systemd-rootfs.sh {})",
            rootfs.display(),
            rootfs.with_extension("").with_extension("").display()
        );
        assert!(!required(), "WARDEN_REQUIRE_VM=1 but {why}");
        eprintln!("skipping the systemd VM test: {why}");
        return;
    }
    let dir = vm_tempdir("systemd");
    let initrd = dir.join("initrd.cpio.gz");
    let script = repo_root().join("tests/vm/build-systemd-initramfs.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(warden_bin())
        .arg(&rootfs)
        .arg(&initrd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let results = vm.boot(
        &initrd,
        &dir,
        2048,
        "loglevel=3 systemd.show_status=0 rdinit=/lib/systemd/systemd",
    );
    eprintln!("systemd VM ({}) done in {:?}", vm.accel, started.elapsed());
    let facts = Facts::parse(&results);
    let _ = std::fs::remove_dir_all(&dir);

    let mut problems = Vec::new();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(what);
        }
    };
    check(
        facts.get("boot", "own") == "0::/system.slice/vm-test.service",
        format!("the test service's cgroup: {:?}", facts.get("boot", "own")),
    );
    check(
        facts.get("alice", "manager") == "active",
        format!("alice's user manager: {:?}", facts.get("alice", "manager")),
    );
    for (who, scope_under) in [
        ("root", "/sys/fs/cgroup/system.slice/run-"),
        (
            "alice",
            "/sys/fs/cgroup/user.slice/user-1000.slice/user@1000.service/app.slice/run-",
        ),
    ] {
        let caps = facts.run(who, "caps");
        let note = caps
            .stderr
            .iter()
            .find(|l| l.starts_with("note: cgroup v2: "))
            .cloned()
            .unwrap_or_default();
        check(
            note.contains(scope_under) && note.contains("warden moved into a leaf"),
            format!("{who}: placement note {note:?}, want a leaf of a scope under {scope_under}"),
        );
        let status = |id: &str| {
            caps.finished(id)
                .and_then(|e| e["status"].as_str().map(str::to_string))
                .unwrap_or_default()
        };
        let peak = caps
            .finished("t/hog_test.sh")
            .and_then(|e| e["peak_rss_bytes"].as_u64());
        check(
            status("t/hog_test.sh") == "oom"
                && peak.is_some_and(|p| (32 * MIB..=64 * MIB).contains(&p)),
            format!("{who}: hog {} peak {peak:?}", status("t/hog_test.sh")),
        );
        check(
            status("t/pids_test.sh") == "pass",
            format!("{who}: pids test {}", status("t/pids_test.sh")),
        );
        check(
            caps.finished("t/leak_test.sh").is_some_and(|e| {
                e["status"] == "pass" && e["leaked"].as_array().is_some_and(|l| !l.is_empty())
            }),
            format!("{who}: the leak was not reported"),
        );
        check(
            !caps
                .stderr
                .iter()
                .any(|l| l.contains("degraded containment")),
            format!("{who}: degraded warning {:?}", caps.stderr),
        );
        check(
            facts.get(&format!("{who} caps"), "leftovers") == "0 0",
            format!(
                "{who}: after the run, (processes, warden-* cgroups) left: {}",
                facts.get(&format!("{who} caps"), "leftovers")
            ),
        );
        let k = |key: &str| facts.get(&format!("{who} sigkill"), key);
        let alive = k("alive_before")
            .split(' ')
            .next()
            .and_then(|n| n.parse::<u32>().ok());
        check(
            alive >= Some(4)
                && k("leftovers") == "0 0"
                && k("tenths").parse::<u32>().is_ok_and(|t| t <= 20),
            format!(
                "{who}: SIGKILL of warden: alive before {}, left after {} ({} tenths of a second)",
                k("alive_before"),
                k("leftovers"),
                k("tenths")
            ),
        );
        eprintln!(
            "{who}: {note}; hog {} peak {peak:?}; SIGKILL: left {} after {} tenths",
            status("t/hog_test.sh"),
            k("leftovers"),
            k("tenths")
        );
    }
    assert!(
        facts.lines.iter().any(|l| l == "VM done"),
        "the test service did not finish:\n{results}"
    );
    assert!(problems.is_empty(), "{}\n\n{results}", problems.join("\n"));
}
