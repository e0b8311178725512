//! Issue 12 on a real pure cgroup v2 kernel: a qemu VM (Debian's `qemu-system-x86` and
//! `linux-image-amd64`) boots the host's kernel with `cgroup_no_v1=all` and a busybox initramfs
//! holding this build's `warden` (`tests/vm/build-initramfs.sh`). Its init (`tests/vm/init.sh`)
//! makes the placements users have — the root cgroup, a busy login scope, a subtree delegated
//! to a user as systemd chowns it, a delegated scope warden is alone in, and a user with nothing
//! delegated — runs warden on `fixtures/vm` in each, as root and as a normal user, and reports
//! every fact on a serial port. This test asserts them: OOM status with the peak measured by
//! the cgroup under `--test-mem-limit`, the pids cap, leaks killed, Ctrl-Z freezing through
//! `cgroup.freeze`, nothing left after a SIGKILL of warden, the guard's exit 42, and the one
//! warning line where containment is degraded.
//!
//! SLOW: one boot runs every scenario; with software emulation (no usable KVM) on a loaded
//! two-core machine it takes one to a few minutes. Skipped when qemu or a kernel is missing,
//! unless `WARDEN_REQUIRE_VM=1` (CI sets it, and `.ci/run` installs both).

mod common;

use std::fmt::Write as _;
use std::process::Command;
use std::time::Instant;

use common::*;

const MIB: u64 = 1 << 20;

/// Where the run's cgroups go, per row (`warden -v`'s note), or `None` for the degraded row.
const ROWS: [(&str, Option<&str>); 6] = [
    ("root-cgroup/root", Some("in the root cgroup")),
    (
        "session/root",
        Some("under the nearest cgroup above warden's"),
    ),
    ("session/user", None),
    (
        "scope/root",
        Some("warden moved into a leaf of its own cgroup"),
    ),
    (
        "delegated/user",
        Some("under the nearest cgroup above warden's"),
    ),
    (
        "scope/user",
        Some("warden moved into a leaf of its own cgroup"),
    ),
];

#[test]
fn pure_cgroup_v2_placements_as_root_and_as_a_user() {
    let Some(vm) = Vm::find() else { return };
    let dir = vm_tempdir("cgroup-v2");
    let initrd = dir.join("initrd.cpio.gz");
    let script = repo_root().join("tests/vm/build-initramfs.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg(warden_bin())
        .arg(&initrd)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script.display()));
    if out.status.code() == Some(3) && !required() {
        eprintln!(
            "skipping the VM test: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    assert!(
        out.status.success(),
        "{} failed:\n{}",
        script.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let started = Instant::now();
    let results = vm.boot(&initrd, &dir, 768, "loglevel=1");
    eprintln!("VM ({}) done in {:?}", vm.accel, started.elapsed());
    let facts = Facts::parse(&results);
    let _ = std::fs::remove_dir_all(&dir);

    let mut problems = Vec::new();
    let mut table = String::from(
        "| placement/user | oom + peak | pids cap | freezer | nothing left after SIGKILL | guard 42 |\n|---|---|---|---|---|---|\n",
    );
    for (row, placement) in ROWS {
        let r = check_row(&facts, row, placement, &mut problems);
        let _ = writeln!(table, "| {row} | {} |", r.join(" | "));
    }
    eprintln!("{table}");
    assert!(
        facts.get("boot", "controllers").contains("memory"),
        "the VM's cgroup2 root offers no memory controller:\n{results}"
    );
    assert_eq!(facts.get("boot", "v1"), "0", "v1 hierarchies in the VM");
    assert!(
        facts.lines.iter().any(|l| l == "VM done"),
        "init did not finish:\n{results}"
    );
    assert!(problems.is_empty(), "{}\n\n{table}", problems.join("\n"));
}

/// Checks one row's scenarios; returns its cells for the table.
fn check_row(
    facts: &Facts,
    row: &str,
    placement: Option<&str>,
    problems: &mut Vec<String>,
) -> Vec<String> {
    let full = placement.is_some();
    let mut check = |ok: bool, what: String| {
        if !ok {
            problems.push(format!("{row}: {what}"));
        }
        ok
    };

    // caps: OOM with the cgroup's peak, the pids cap, the leak; run with -v.
    let caps = facts.run(row, "caps");
    let status = |id: &str| {
        caps.finished(id)
            .and_then(|e| e["status"].as_str().map(str::to_string))
            .unwrap_or_default()
    };
    let peak = caps
        .finished("t/hog_test.sh")
        .and_then(|e| e["peak_rss_bytes"].as_u64());
    let oom = if full {
        // memory.peak or memory.current of a cgroup never exceeds its memory.max: a peak over
        // 64 MiB would be the process's own maxrss, not the cgroup's measurement.
        let peak_ok = peak.is_some_and(|p| (32 * MIB..=64 * MIB).contains(&p));
        check(
            status("t/hog_test.sh") == "oom" && peak_ok,
            format!(
                "hog: {} peak {peak:?} (want oom, peak 32..=64 MiB)",
                status("t/hog_test.sh")
            ),
        )
    } else {
        // Degraded: the cap is RLIMIT_AS, the allocation fails.
        check(
            status("t/hog_test.sh") == "fail",
            format!(
                "hog: {} (want fail under RLIMIT_AS)",
                status("t/hog_test.sh")
            ),
        )
    };
    let pids = check(
        status("t/pids_test.sh") == if full { "pass" } else { "fail" },
        format!("pids test: {}", status("t/pids_test.sh")),
    );
    let leaked = caps.finished("t/leak_test.sh").is_some_and(|e| {
        e["status"] == "pass" && e["leaked"].as_array().is_some_and(|l| !l.is_empty())
    });
    check(leaked, "the leak was not reported".into());
    check(
        facts.get(&format!("{row} caps"), "leftovers") == "0 0",
        format!(
            "after caps: left (processes, cgroups) {}",
            facts.get(&format!("{row} caps"), "leftovers")
        ),
    );
    if let Some(want) = placement {
        check(
            caps.stderr
                .iter()
                .any(|l| l.starts_with("note: cgroup v2: ") && l.contains(want)),
            format!(
                "no `note: cgroup v2: ... ({want})` in -v output: {:?}",
                caps.stderr
            ),
        );
    }

    // pause: SIGTSTP to warden freezes the test's cgroup (or SIGSTOPs it, degraded).
    let p = |k: &str| facts.get(&format!("{row} pause"), k);
    let ticks_held = p("ticks")
        .split(" -> ")
        .collect::<Vec<_>>()
        .windows(2)
        .all(|w| w[0] == w[1])
        && p("ticks").contains(" -> ");
    let frozen_ok = if full {
        p("frozen") == "1"
    } else {
        p("test_state") == "T"
    };
    let pause = facts.run(row, "pause");
    let freezer = check(
        p("warden_state") == "T"
            && frozen_ok
            && ticks_held
            && pause.exit == Some(0)
            && p("final_ticks") == "12 12",
        format!(
            "pause: warden {} test {} frozen {:?} ticks {} exit {:?} final {}",
            p("warden_state"),
            p("test_state"),
            p("frozen"),
            p("ticks"),
            pause.exit,
            p("final_ticks")
        ),
    );

    // sigkill: the watchdog leaves nothing, within 2 s.
    let k = |key: &str| facts.get(&format!("{row} sigkill"), key);
    let before_ok = k("alive_before")
        .split(' ')
        .next()
        .and_then(|n| n.parse::<u32>().ok())
        >= Some(4);
    let tenths: u32 = k("tenths").parse().unwrap_or(u32::MAX);
    let nothing_left = check(
        before_ok && k("leftovers") == "0 0" && tenths <= 20,
        format!(
            "SIGKILL: alive before {}, left after {} ({} tenths of a second)",
            k("alive_before"),
            k("leftovers"),
            k("tenths")
        ),
    );

    // guard: --self-protect stops the run with 42, nothing left.
    let guard = facts.run(row, "guard");
    let g42 = check(
        guard.exit == Some(42) && facts.get(&format!("{row} guard"), "leftovers") == "0 0",
        format!(
            "guard: exit {:?}, left {}",
            guard.exit,
            facts.get(&format!("{row} guard"), "leftovers")
        ),
    );

    // Degraded is loud, once; full containment says nothing.
    for run in [&pause, &guard] {
        let warnings: Vec<&String> = run
            .stderr
            .iter()
            .filter(|l| l.contains("degraded containment"))
            .collect();
        if full {
            check(
                warnings.is_empty(),
                format!("{}: unexpected {warnings:?}", run.scenario),
            );
        } else {
            check(
                warnings.len() == 1
                    && warnings[0].starts_with("warning: ")
                    && warnings[0].contains("docs/cgroups.md")
                    && warnings[0].contains("--test-mem-limit"),
                format!(
                    "{}: want one degraded-containment warning, got {warnings:?}",
                    run.scenario
                ),
            );
        }
    }

    let cell = |ok: bool, text: String| {
        if ok {
            text
        } else {
            format!("**FAILED** {text}")
        }
    };
    vec![
        cell(
            oom,
            match (full, peak) {
                (true, Some(p)) => format!("oom, peak {:.1} MiB", p as f64 / MIB as f64),
                _ => format!("{} (RLIMIT_AS)", status("t/hog_test.sh")),
            },
        ),
        cell(
            pids,
            if full {
                "capped".into()
            } else {
                "not enforced".into()
            },
        ),
        cell(
            freezer,
            if full {
                "cgroup.freeze".into()
            } else {
                "SIGSTOP".into()
            },
        ),
        // Polled every 100 ms from the moment `kill -9` returned.
        cell(
            nothing_left,
            format!("yes (< {} ms)", (tenths.saturating_add(1)) * 100),
        ),
        cell(g42, "42".into()),
    ]
}
