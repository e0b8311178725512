//! `--container` / `--container-seq` on the real engine (SPEC §8, issue 6): statuses, the
//! hardening seen from inside, one-at-a-time mode, no container left after SIGKILL or SIGINT of
//! warden, `warden clean`, and configuration errors before anything runs. Needs a working
//! docker; the busybox test image is built from local files on first use.

mod common;

use std::collections::BTreeMap;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use common::*;

/// Builds the test image once (see `common::test_image`).
fn image() -> &'static str {
    test_image()
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Ids of every container, running or not, labelled with `run_id`.
fn containers_of(run_id: &str) -> Vec<String> {
    let filter = format!("label=warden.run={run_id}");
    docker(&["ps", "--all", "--quiet", "--filter", &filter])
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

fn running_of(run_id: &str) -> usize {
    let filter = format!("label=warden.run={run_id}");
    docker(&[
        "ps",
        "--quiet",
        "--filter",
        &filter,
        "--filter",
        "status=running",
    ])
    .split_whitespace()
    .count()
}

/// Every run sweeps the containers of dead wardens: the test that plants one for `warden clean`
/// to find holds this exclusively, every test that starts warden holds it shared.
static SWEEPS: RwLock<()> = RwLock::new(());

fn runs_may_sweep() -> RwLockReadGuard<'static, ()> {
    SWEEPS.read().unwrap_or_else(|e| e.into_inner())
}

/// A sandbox whose registry of runs is its own, so nothing here meets other tests' runs.
fn sandbox() -> Sandbox {
    let s = Sandbox::new();
    s.mkdir("registry");
    s
}

fn warden(s: &Sandbox) -> Warden {
    Warden::new(s.path()).env("WARDEN_REGISTRY_DIR", s.path().join("registry"))
}

#[test]
fn statuses_and_hardening_in_containers() {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    s.write("test/pass_test.sh", "echo \"in $PWD as $(id -u)\"\n");
    s.write("test/fail_test.sh", "echo failing >&2\nexit 3\n");
    s.write("test/skip_test.sh", "exit 77\n");
    s.write("test/hang_test.sh", "echo hanging\nsleep 60\n");
    s.write("test/signal_test.sh", "kill -9 $$\n");
    // Reclaim before the OOM kill can be slow on a busy host: more than the hang's 3 s.
    s.write(
        "test/oom_test.sh",
        "# @timeout: 60s\nhead -c 100m /dev/zero | tail\n",
    );
    s.write(
        "test/tap_test.sh",
        "echo 1..3\necho ok 1\necho 'ok 2 # SKIP no db'\necho ok 3\n",
    );
    s.write(
        "test/unit/hardened_test.sh",
        r#"set -e
[ "$(id -u):$(id -g)" = "65534:65534" ]
! touch /root-write 2>/dev/null
! touch /workspace/ws-write 2>/dev/null
[ "$(ls /sys/class/net)" = "lo" ]
echo ok > "$TMPDIR/x"
[ "$PWD" = /workspace/test/unit ]
[ -n "$WARDEN_RUN_ID" ] && [ "$WARDEN_TEST_ID" = test/unit/hardened_test.sh ]
"#,
    );
    let out = warden(&s)
        .args(["--container", "--container-image", image(), "-j4"])
        .args(["--timeout", "3s", "--grace", "1s", "--json", "events.jsonl"])
        .args(["--test-mem-limit", "32M"])
        .run();
    assert_no_panic(&out);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = read_events(&s, "events.jsonl", &out);
    let got = statuses(&events).unwrap();
    let want: BTreeMap<String, String> = [
        ("test/pass_test.sh", "pass"),
        ("test/fail_test.sh", "fail"),
        ("test/skip_test.sh", "skip"),
        ("test/hang_test.sh", "timeout"),
        ("test/signal_test.sh", "fail"),
        ("test/oom_test.sh", "oom"),
        ("test/tap_test.sh", "pass"),
        ("test/unit/hardened_test.sh", "pass"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, want, "{}", out.describe());
    let finished = finished_by_id(&events).unwrap();
    assert_eq!(finished["test/signal_test.sh"]["signal"], "SIGKILL");
    assert!(
        out.stderr
            .contains("test/oom_test.sh (killed by the memory limit of 32M)"),
        "{}",
        out.describe()
    );
    assert_eq!(finished["test/tap_test.sh"]["subtests"]["skipped"], 1);
    assert!(
        out.stderr.contains("--- FAIL test/fail_test.sh") && out.stderr.contains("failing"),
        "{}",
        out.describe()
    );
    let run = run_id(&events).unwrap();
    assert!(containers_of(&run).is_empty(), "containers left");
    assert!(out.left_behind.is_empty(), "{:?}", out.left_behind);
    let pass_log = finished["test/pass_test.sh"]["log"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(pass_log).unwrap(),
        "in /workspace/test as 65534\n"
    );
}

#[test]
fn container_seq_runs_one_at_a_time() {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    for i in 0..3 {
        s.write(&format!("test/t{i}_test.sh"), "sleep 0.3\n");
    }
    let out = warden(&s)
        .args(["--container-sequential", "--container-image", image()])
        .args(["--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let events = read_events(&s, "events.jsonl", &out);
    assert_eq!(of_type(&events, "run-started")[0]["workers"], 1);
    // Strictly alternating: every start is followed by its own finish.
    let kinds: Vec<&str> = events
        .iter()
        .filter_map(|e| e["type"].as_str())
        .filter(|t| *t == "test-started" || *t == "test-finished")
        .collect();
    assert_eq!(
        kinds,
        ["test-started", "test-finished"].repeat(3),
        "{}",
        out.describe()
    );
}

/// A warden in the background; killed and reaped if a test ends before it did.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// warden started in the background on three 60 s tests; returns it once the engine shows their
/// three containers running, with the run id.
fn start_three(s: &Sandbox) -> (Running, String) {
    for i in 0..3 {
        s.write(&format!("test/long{i}_test.sh"), "sleep 60\n");
    }
    let child = Running(
        Command::new(warden_bin())
            .args(["--container", "--container-image", image(), "-j3"])
            .args(["--json", "events.jsonl"])
            .current_dir(s.path())
            .env("WARDEN_REGISTRY_DIR", s.path().join("registry"))
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("start warden"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = s
            .read("events.jsonl")
            .ok()
            .and_then(|t| parse_json_lines(&t).ok())
            .and_then(|e| run_id(&e));
        if let Some(run) = run {
            if running_of(&run) == 3 {
                return (child, run);
            }
        }
        assert!(Instant::now() < deadline, "three containers never ran");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_gone(run: &str, within: Duration) -> Duration {
    let started = Instant::now();
    while !containers_of(run).is_empty() {
        assert!(
            started.elapsed() < within,
            "containers of {run} still there after {within:?}: {:?}",
            containers_of(run)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

#[test]
fn sigkill_of_warden_leaves_no_container() {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    let (mut warden, run) = start_three(&s);
    warden.0.kill().expect("SIGKILL warden");
    let _ = warden.0.wait();
    // The watchdog notices at once and removes the run's containers by label.
    let took = wait_gone(&run, Duration::from_secs(10));
    eprintln!("containers gone {took:?} after SIGKILL");
    // And the engine CLIs that were attached to them are gone too.
    let token = format!("WARDEN_RUN_ID={run}");
    let left = settle_and_kill(&token, Duration::from_secs(2));
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn sigint_exits_130_and_leaves_no_container() {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    let (mut warden, run) = start_three(&s);
    let child = &mut warden.0;
    // SAFETY: kill(2) on the warden we started.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGINT);
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        assert!(
            Instant::now() < deadline,
            "warden did not stop within 30 s of SIGINT"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(130));
    // Removed before warden exited, not later by someone else.
    assert!(containers_of(&run).is_empty(), "{:?}", containers_of(&run));
}

#[test]
fn missing_image_or_engine_is_exit_2_before_anything_runs() {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    s.write("test/a_test.sh", "exit 0\n");
    let out = warden(&s)
        .args([
            "--container",
            "--container-image",
            "warden-test-no-such-image:0",
        ])
        .run();
    out.assert_usage_error(&["warden-test-no-such-image:0", "not present"]);
    assert!(
        !s.path().join(".warden/runs").exists(),
        "a run was started\n{}",
        out.describe()
    );

    let out = warden(&s)
        .args(["--container", "--container-image", image()])
        .args(["--container-engine", "docker"])
        .env("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    out.assert_usage_error(&["does not answer", "nonexistent/docker.sock"]);

    let empty = s.mkdir("empty-path");
    let out = warden(&s)
        .args(["--container-seq", "--container-image", image()])
        .args(["--container-engine", "podman"])
        .env("PATH", &empty)
        .run();
    out.assert_usage_error(&["`podman` is not in PATH"]);

    let out = warden(&s).args(["--container-image", "x"]).run();
    out.assert_usage_error(&["--container-image: only used with --container"]);

    s.write("warden.toml", "[container]\nimage = \"x\"\nnetwork = 1\n");
    let out = warden(&s).arg("--container").run();
    out.assert_usage_error(&["warden.toml:3: [container] network: expected a string"]);
    assert!(!s.path().join(".warden/runs").exists());
}

#[test]
fn clean_removes_containers_of_dead_wardens() {
    let _alone = SWEEPS.write().unwrap_or_else(|e| e.into_inner());
    let s = sandbox();
    let run = format!("itest-orphan-{}", std::process::id());
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    // A warden that cannot be alive: pid above the kernel's maximum, this boot.
    let owner = format!("warden.owner={}/{}/1", boot.trim(), i32::MAX);
    let label = format!("warden.run={run}");
    docker(&[
        "run",
        "--detach",
        "--name",
        &run,
        "--label",
        &label,
        "--label",
        &owner,
        "--network",
        "none",
        image(),
        "sleep",
        "300",
    ]);
    let out = warden(&s).args(["clean", "--dry-run"]).run();
    assert!(
        out.stdout
            .contains(&format!("would remove 1 container ({run})")),
        "{}",
        out.describe()
    );
    assert_eq!(containers_of(&run).len(), 1);
    let out = warden(&s).arg("clean").run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains(&format!("removed 1 container ({run})")),
        "{}",
        out.describe()
    );
    assert!(containers_of(&run).is_empty());
}

#[test]
fn project_is_mounted_at_the_root_of_the_config() {
    let _sweeps = runs_may_sweep();
    // Tests below the project root see the same tree at /workspace, read-only; a suite command
    // relative to the root works inside too.
    let s = sandbox();
    s.write(
        "warden.toml",
        "[[suite]]\nname = \"tool\"\ninclude = [\"**/*.t\"]\ncommand = [\"bin/runner\", \"{path}\"]\n",
    );
    s.write_executable(
        "bin/runner",
        "#!/bin/sh\necho \"runner got $1\"\n[ -f \"$1\" ]\n",
    );
    s.write("test/deep/x.t", "");
    let out = warden(&s)
        .args(["--container", "--container-image", image(), "-v"])
        .args(["--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let events = read_events(&s, "events.jsonl", &out);
    let finished = finished_by_id(&events).unwrap();
    let log = finished["test/deep/x.t"]["log"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(Path::new(log)).unwrap(),
        "runner got /workspace/test/deep/x.t\n"
    );
}
