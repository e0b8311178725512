//! Test cases and the tests' own JUnit reports with `--container`, on the real engines:
//! - a suite's `list` runs on the host (as for a process run), each case then runs in a
//!   container of its own, a failing case fails, and nothing of the run is left;
//! - `{junit}` (whole, inside an argument, `$WARDEN_JUNIT`) names one path, writable in the
//!   container and read by warden afterwards (fixtures/cases-container);
//! - `--cargo --container`: an image that cannot start the host-built test binaries is a clear
//!   error before anything runs (exit 2); one that can (the busybox image plus the host's C
//!   library) runs every case in a container.
//!
//! The project tests run on every engine (`per_engine!`, common/engines.rs); the cargo one on
//! docker only, since the image it needs is built from this host's libraries.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use common::*;

per_engine!(listed_cases_and_junit_reports_run_in_containers);

/// warden in `dir` with `e`, the sandbox's own registry of runs.
fn warden(e: &Engine, s: &Sandbox, dir: &Path) -> Warden {
    e.own(s.path());
    e.warden(dir)
        .env("WARDEN_REGISTRY_DIR", s.path().join("registry"))
}

fn listed_cases_and_junit_reports_run_in_containers(e: &Engine) {
    let s = Sandbox::with_fixture("cases-container");
    s.mkdir("registry");
    let project = s.path().join("cases-container");
    let out = warden(e, &s, &project)
        .args(["--container", "--container-image", IMAGE, "-j3"])
        .args(e.choice())
        .args(["--timeout", "30s", "--json", "events.jsonl"])
        .run();
    assert_no_panic(&out);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = parse_json_lines(&std::fs::read_to_string(project.join("events.jsonl")).unwrap())
        .unwrap_or_else(|e| panic!("{e}\n{}", out.describe()));
    let want: BTreeMap<String, String> = [
        // Listed on the host: the case named by the listing says so, and passes only in a
        // container (workspace mount, user 65534), like the other passing case.
        ("t/listed_cases.sh listed on host", "pass"),
        ("t/listed_cases.sh passes", "pass"),
        ("t/listed_cases.sh fails", "fail"),
        ("t/report_junit.sh", "fail"),
        ("t/clean_junit.sh", "pass"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(statuses(&events).unwrap(), want, "{}", out.describe());
    let finished = finished_by_id(&events).unwrap();
    assert_eq!(finished["t/listed_cases.sh fails"]["exit_code"], 3);
    // Each case in a container of its own: three container hostnames, none of them this host's.
    let hostnames: BTreeSet<String> = [
        "t/listed_cases.sh listed on host",
        "t/listed_cases.sh passes",
        "t/listed_cases.sh fails",
    ]
    .iter()
    .map(|id| {
        let log = finished[*id]["log"]
            .as_str()
            .unwrap_or_else(|| panic!("{id}: no log"));
        let text = std::fs::read_to_string(log).unwrap();
        let line = text.lines().find_map(|l| l.strip_prefix("container "));
        line.unwrap_or_else(|| panic!("{id}: {text}")).to_string()
    })
    .collect();
    assert_eq!(hostnames.len(), 3, "{hostnames:?}");
    let here = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert!(!hostnames.contains(here.trim()), "{hostnames:?}");
    // The reports were written in the containers and read by warden.
    let report = &finished["t/report_junit.sh"];
    assert_eq!(report["subtests"]["passed"], 1, "{report}");
    assert_eq!(report["subtests"]["failed"], 1, "{report}");
    assert!(
        out.stderr
            .contains("failed: report.breaks (arithmetic broke)"),
        "{}",
        out.describe()
    );
    assert_eq!(finished["t/clean_junit.sh"]["subtests"]["passed"], 2);
    // Nothing of the run is left: no container, no process.
    let run = run_id(&events).unwrap();
    assert!(e.containers_of(&run).is_empty(), "containers left");
    assert!(out.left_behind.is_empty(), "{:?}", out.left_behind);
}

const CARGO_TOML: &str = r#"[package]
name = "boxed"
version = "0.1.0"
edition = "2021"

[workspace]
"#;

const LIB_RS: &str = r#"#[cfg(test)]
mod tests {
    #[test]
    fn in_the_container() {
        assert_eq!(std::env::current_dir().unwrap(), std::path::Path::new("/workspace"));
    }

    #[test]
    fn breaks() { assert_eq!(1 + 1, 3, "arithmetic broke"); }
}
"#;

/// Containers labelled as warden's pre-run probe (of any warden process).
fn probe_containers(e: &Engine) -> String {
    e.cli_ok(&[
        "ps",
        "--all",
        "--quiet",
        "--filter",
        "label=warden.test=warden-probe",
    ])
}

#[test]
fn cargo_binaries_need_an_image_that_can_run_them() {
    let e = Engine::get(Variant::Docker).expect("docker");
    let s = Sandbox::new();
    s.mkdir("registry");
    s.write("Cargo.toml", CARGO_TOML);
    s.write("src/lib.rs", LIB_RS);
    let cargo_warden = |image: &str| {
        warden(&e, &s, s.path())
            .env("CARGO_TARGET_DIR", s.path().join("target"))
            .env("CARGO_NET_OFFLINE", "true")
            .limit(std::time::Duration::from_secs(300))
            .args(["run", "--cargo", "--container", "--container-image", image])
            .args(e.choice())
            .args(["--timeout", "30s", "--json", "events.jsonl"])
            .run()
    };
    // busybox has no C library: refused before anything runs, saying why and what to do.
    let out = cargo_warden(IMAGE);
    assert_no_panic(&out);
    assert_eq!(out.code, Some(2), "{}", out.describe());
    for said in [
        "error: --cargo with --container: the test binaries are built and listed on this host",
        &format!("a container of image `{IMAGE}` cannot run them"),
        "/workspace/target/debug/deps/boxed-",
        "use an image with the host's C library",
        "or run without --container",
    ] {
        assert!(
            out.stderr.contains(said),
            "{said:?} not in {}",
            out.describe()
        );
    }
    assert!(
        !s.path().join("events.jsonl").exists(),
        "a test ran: {}",
        out.describe()
    );
    assert!(out.left_behind.is_empty(), "{:?}", out.left_behind);
    assert_eq!(probe_containers(&e), "", "the probe's container is left");

    // The same binaries in an image with the host's C library: every case in a container.
    let binary = std::fs::read_dir(s.path().join("target/debug/deps"))
        .unwrap()
        .flatten()
        .map(|d| d.path())
        .find(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            name.starts_with("boxed-") && !name.contains('.')
        })
        .expect("the test binary cargo built");
    let image = host_libc_image(&binary);
    // (A failing Rust test panics, in its own output: no `assert_no_panic` here.)
    let out = cargo_warden(&image);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = read_events(&s, "events.jsonl", &out);
    let want: BTreeMap<String, String> = [
        ("boxed tests::in_the_container", "pass"),
        ("boxed tests::breaks", "fail"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(statuses(&events).unwrap(), want, "{}", out.describe());
    assert!(
        out.stderr.contains("arithmetic broke"),
        "{}",
        out.describe()
    );
    let run = run_id(&events).unwrap();
    assert!(e.containers_of(&run).is_empty(), "containers left");
    assert!(out.left_behind.is_empty(), "{:?}", out.left_behind);
    assert_eq!(probe_containers(&e), "", "the probe's container is left");
}

/// The busybox test image plus the shared libraries `ldd` names for `binary` (its loader
/// included) at their host paths: an image that can run this host's dynamically linked test
/// binaries, built from local files only.
fn host_libc_image(binary: &Path) -> String {
    const TAG: &str = "warden-test-hostlibc:1";
    let ldd = Command::new("ldd").arg(binary).output().expect("run ldd");
    assert!(ldd.status.success(), "ldd {}", binary.display());
    let ctx = tempfile::tempdir().unwrap();
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)` or `/lib64/ld-linux... (0x...)`
        let path = line
            .split("=>")
            .last()
            .unwrap()
            .split(" (")
            .next()
            .unwrap()
            .trim();
        if !path.starts_with('/') {
            continue; // the vDSO
        }
        let to = ctx.path().join("root").join(path.trim_start_matches('/'));
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(path, &to).unwrap_or_else(|e| panic!("copy {path}: {e}"));
    }
    std::fs::write(
        ctx.path().join("Dockerfile"),
        format!("FROM {IMAGE}\nCOPY root/ /\n"),
    )
    .unwrap();
    let out = Command::new("docker")
        .env("DOCKER_BUILDKIT", "0")
        .args(["build", "--quiet", "--tag", TAG])
        .arg(ctx.path())
        .output()
        .expect("run docker build");
    assert!(
        out.status.success(),
        "building {TAG}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    TAG.to_string()
}
