//! `--container` / `--container-seq` on the real engines (SPEC §8, issues 6 and 18): statuses,
//! the hardening seen from inside and by `inspect`, one-at-a-time mode, no container left after
//! SIGKILL or SIGINT of warden, `warden clean`, and configuration errors before anything runs.
//! Each test runs on docker, podman, podman as a normal user (rootless) and podman through its
//! service (`per_engine!`, common/engines.rs); the busybox test image is built from local files
//! in each engine's store on first use.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use common::*;

per_engine!(
    statuses_and_hardening_in_containers,
    container_seq_runs_one_at_a_time,
    sigkill_of_warden_leaves_no_container,
    sigint_exits_130_and_leaves_no_container,
    missing_image_or_engine_is_exit_2_before_anything_runs,
    clean_removes_containers_of_dead_wardens,
    project_is_mounted_at_the_root_of_the_config,
    sigtstp_pauses_containers_and_their_usage_is_measured,
);

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

fn warden(e: &Engine, s: &Sandbox) -> Warden {
    e.own(s.path());
    e.warden(s.path())
        .env("WARDEN_REGISTRY_DIR", s.path().join("registry"))
}

fn statuses_and_hardening_in_containers(e: &Engine) {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    s.write("test/pass_test.sh", "echo \"in $PWD as $(id -u)\"\n");
    s.write("test/fail_test.sh", "echo failing >&2\nexit 3\n");
    s.write("test/skip_test.sh", "exit 77\n");
    // Only the hang has a short timeout: a rootless podman container takes over 2 s just to
    // start on a loaded 2-core host, which a run-wide 3 s timed out (a passing test reported
    // TIMEOUT in CI).
    s.write(
        "test/hang_test.sh",
        "# @timeout: 3s\necho hanging\nsleep 60\n",
    );
    s.write("test/signal_test.sh", "kill -9 $$\n");
    // Reclaim before the OOM kill can be slow on a busy host: more than the hang's 3 s. One
    // read of 100 MiB goes over the cap inside the kernel; a hog that grows between its own
    // instructions can make a v1 memory cgroup refault its program text for minutes instead.
    s.write(
        "test/oom_test.sh",
        "# @timeout: 60s\n# @mem-limit: 32M\ndd if=/dev/zero of=/dev/null bs=100M count=1\n",
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
grep -q '^CapEff:[[:space:]]*0*$' /proc/self/status
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/self/status
"#,
    );
    let out = warden(e, &s)
        .args(["--container", "--container-image", IMAGE, "-j4"])
        .args(e.choice())
        .args([
            "--timeout",
            "30s",
            "--grace",
            "1s",
            "--json",
            "events.jsonl",
        ])
        .run();
    assert_no_panic(&out);
    assert_eq!(out.code, Some(1), "{}", out.describe());
    let events = read_events(&s, "events.jsonl", &out);
    let got = statuses(&events).unwrap();
    // Rootless podman on cgroup v1 cannot enforce a memory limit: the test that asks for one
    // is an error saying so, never a silent run without it.
    let limits = e.enforces_limits();
    let want: BTreeMap<String, String> = [
        ("test/pass_test.sh", "pass"),
        ("test/fail_test.sh", "fail"),
        ("test/skip_test.sh", "skip"),
        ("test/hang_test.sh", "timeout"),
        ("test/signal_test.sh", "fail"),
        ("test/oom_test.sh", if limits { "oom" } else { "error" }),
        ("test/tap_test.sh", "pass"),
        ("test/unit/hardened_test.sh", "pass"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(got, want, "{}", out.describe());
    let finished = finished_by_id(&events).unwrap();
    assert_eq!(finished["test/signal_test.sh"]["signal"], "SIGKILL");
    let oom_said = match limits {
        // (with the peak when warden read the container's cgroup before the kill: a container
        // killed within its first ~100 ms may end before the first look, see containers.md)
        true => "test/oom_test.sh (killed by the memory limit of 32M",
        false => "rootless podman on cgroup v1 cannot enforce a per-test memory or pids limit",
    };
    assert!(out.stderr.contains(oom_said), "{}", out.describe());
    assert_eq!(finished["test/tap_test.sh"]["subtests"]["skipped"], 1);
    assert!(
        out.stderr.contains("--- FAIL test/fail_test.sh") && out.stderr.contains("failing"),
        "{}",
        out.describe()
    );
    let run = run_id(&events).unwrap();
    assert!(e.containers_of(&run).is_empty(), "containers left");
    assert!(out.left_behind.is_empty(), "{:?}", out.left_behind);
    let pass_log = finished["test/pass_test.sh"]["log"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(pass_log).unwrap(),
        "in /workspace/test as 65534\n"
    );
    // Nothing of the engine's was written into the project (local podman's conmon writes an
    // `oom` marker into its working directory).
    let mut top: Vec<String> = std::fs::read_dir(s.path())
        .unwrap()
        .map(|d| d.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    assert_eq!(top, [".warden", "events.jsonl", "registry", "test"]);
}

fn container_seq_runs_one_at_a_time(e: &Engine) {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    for i in 0..3 {
        s.write(&format!("test/t{i}_test.sh"), "sleep 0.3\n");
    }
    let out = warden(e, &s)
        .args(["--container-sequential", "--container-image", IMAGE])
        .args(e.choice())
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

/// A warden in the background; killed and waited for if a test ends before it did.
struct Background(Option<Running>);

impl Background {
    fn take(&mut self) -> Running {
        self.0.take().expect("warden still running")
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.signal(libc::SIGKILL);
            let _ = r.wait();
        }
    }
}

/// warden started in the background on three 60 s tests; returns it once the engine shows their
/// three containers running, with the run id, after checking the hardening of one of them as
/// the engine reports it.
fn start_three(e: &Engine, s: &Sandbox) -> (Background, String) {
    for i in 0..3 {
        s.write(&format!("test/long{i}_test.sh"), "sleep 60\n");
    }
    let running = warden(e, s)
        .args(["--container", "--container-image", IMAGE, "-j3"])
        .args(e.choice())
        .args(["--json", "events.jsonl"])
        .limit(Duration::from_secs(120))
        .spawn()
        .expect("start warden");
    let bg = Background(Some(running));
    let deadline = Instant::now() + Duration::from_secs(60);
    let run = loop {
        let run = s
            .read("events.jsonl")
            .ok()
            .and_then(|t| parse_json_lines(&t).ok())
            .and_then(|e| run_id(&e));
        if let Some(run) = run {
            if e.running_of(&run) == 3 {
                break run;
            }
        }
        assert!(Instant::now() < deadline, "three containers never ran");
        std::thread::sleep(Duration::from_millis(100));
    };
    let (format, expected) = e.hardening();
    let one = e.containers_of(&run).remove(0);
    let seen = e.cli_ok(&["inspect", "--format", &format, &one]);
    assert_eq!(seen.trim(), expected, "inspect --format {format}");
    let labels = e.cli_ok(&["inspect", "--format", "{{json .Config.Labels}}", &one]);
    assert!(
        labels.contains(&format!("\"warden.run\":\"{run}\""))
            && labels.contains("\"warden.test\":\"test/long"),
        "{labels}"
    );
    (bg, run)
}

fn wait_gone(e: &Engine, run: &str, within: Duration) -> Duration {
    let started = Instant::now();
    while !e.containers_of(run).is_empty() {
        assert!(
            started.elapsed() < within,
            "containers of {run} still there after {within:?}: {:?}",
            e.containers_of(run)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    started.elapsed()
}

fn sigkill_of_warden_leaves_no_container(e: &Engine) {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    let (mut bg, run) = start_three(e, &s);
    let warden = bg.take();
    let mark = warden.mark_entry();
    warden.signal(libc::SIGKILL);
    let out = warden.wait_unswept().expect("warden ends");
    assert_eq!(out.signal, Some(libc::SIGKILL));
    // The watchdog notices at once and removes the run's containers by label.
    let took = wait_gone(e, &run, Duration::from_secs(20));
    eprintln!("containers gone {took:?} after SIGKILL");
    // And the engine CLIs that were attached to them are gone too, and so is the watchdog.
    let token = format!("WARDEN_RUN_ID={run}");
    let left = settle_and_kill(&token, Duration::from_secs(2));
    assert!(left.is_empty(), "{left:?}");
    let left = settle_and_kill(&mark, Duration::from_secs(5));
    assert!(left.is_empty(), "{left:?}");
}

fn sigint_exits_130_and_leaves_no_container(e: &Engine) {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    let (mut bg, run) = start_three(e, &s);
    let warden = bg.take();
    let sent = warden.signal(libc::SIGINT);
    let out = warden.wait().expect("warden ends");
    assert!(
        out.exited_at - sent < Duration::from_secs(30),
        "warden took {:?} to stop after SIGINT",
        out.exited_at - sent
    );
    assert_eq!(out.code, Some(130), "{}", out.describe());
    // Removed before warden exited, not later by someone else.
    assert!(
        e.containers_of(&run).is_empty(),
        "{:?}",
        e.containers_of(&run)
    );
    assert!(out.left_behind.is_empty(), "{:?}", out.left_behind);
}

fn missing_image_or_engine_is_exit_2_before_anything_runs(e: &Engine) {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    s.write("test/a_test.sh", "exit 0\n");
    let out = warden(e, &s)
        .args([
            "--container",
            "--container-image",
            "warden-test-no-such-image:0",
        ])
        .args(e.choice())
        .run();
    out.assert_usage_error(&["warden-test-no-such-image:0", "not present"]);
    assert!(
        !s.path().join(".warden/runs").exists(),
        "a run was started\n{}",
        out.describe()
    );

    // A daemon or service that is not there.
    let (var, answer) = match e.variant {
        Variant::Docker => ("DOCKER_HOST", "`docker version` failed"),
        _ => ("CONTAINER_HOST", "`podman info` failed"),
    };
    let out = warden(e, &s)
        .args(["--container", "--container-image", IMAGE])
        .args(e.choice())
        .env(var, "unix:///nonexistent/engine.sock")
        .run();
    out.assert_usage_error(&["does not answer", answer, "nonexistent/engine.sock"]);

    let empty = s.mkdir("empty-path");
    let out = warden(e, &s)
        .args(["--container-seq", "--container-image", IMAGE])
        .args(e.choice())
        .env("PATH", &empty)
        .run();
    out.assert_usage_error(&[&format!("`{}` is not in PATH", e.name())]);

    let out = warden(e, &s).args(["--container-image", "x"]).run();
    out.assert_usage_error(&["--container-image: only used with --container"]);

    s.write("warden.toml", "[container]\nimage = \"x\"\nnetwork = 1\n");
    let out = warden(e, &s).arg("--container").args(e.choice()).run();
    out.assert_usage_error(&["warden.toml:3: [container] network: expected a string"]);
    assert!(!s.path().join(".warden/runs").exists());
}

fn clean_removes_containers_of_dead_wardens(e: &Engine) {
    let _alone = SWEEPS.write().unwrap_or_else(|e| e.into_inner());
    let s = sandbox();
    let run = format!("itest-orphan-{}-{:?}", std::process::id(), e.variant).to_lowercase();
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap();
    // A warden that cannot be alive: pid above the kernel's maximum, this boot.
    let owner = format!("warden.owner={}/{}/1", boot.trim(), i32::MAX);
    let label = format!("warden.run={run}");
    let mut args = vec!["run", "--detach", "--name", &run];
    let bare = e.bare_run_args();
    args.extend(bare.iter().map(String::as_str));
    args.extend(["--label", &label, "--label", &owner, "--network", "none"]);
    args.extend([IMAGE, "sleep", "300"]);
    e.cli_ok(&args);
    let out = warden(e, &s).args(["clean", "--dry-run"]).run();
    assert!(
        out.stdout
            .contains(&format!("would remove 1 container ({run})")),
        "{}",
        out.describe()
    );
    assert_eq!(e.containers_of(&run).len(), 1);
    let out = warden(e, &s).arg("clean").run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stdout.contains(&format!("removed 1 container ({run})")),
        "{}",
        out.describe()
    );
    assert!(e.containers_of(&run).is_empty());
}

fn project_is_mounted_at_the_root_of_the_config(e: &Engine) {
    let _sweeps = runs_may_sweep();
    // Tests below the project root see the same tree at /workspace, read-only; a suite command
    // relative to the root works inside too. `-v` says which engine runs them.
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
    let out = warden(e, &s)
        .args(["--container", "--container-image", IMAGE, "-v"])
        .args(e.choice())
        .args(["--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    // `container engine: podman 4.3.1 (/usr/bin/podman, local, rootful, cgroup v1)`; the
    // tests' own podman is rootless when they run as a normal user.
    let rootless = e.variant == Variant::PodmanRootless || !is_root();
    let how = match e.variant {
        Variant::Docker => String::new(),
        v => format!(
            "podman, {}, {}, cgroup v",
            if v == Variant::PodmanRemote {
                "remote"
            } else {
                "local"
            },
            if rootless { "rootless" } else { "rootful" },
        ),
    };
    let line = out
        .stderr
        .lines()
        .find(|l| l.starts_with(&format!("container engine: {} ", e.name())));
    assert!(
        line.is_some_and(|l| l.contains(&how)),
        "{how}\n{}",
        out.describe()
    );
    let events = read_events(&s, "events.jsonl", &out);
    let finished = finished_by_id(&events).unwrap();
    let log = finished["test/deep/x.t"]["log"].as_str().unwrap();
    assert_eq!(
        std::fs::read_to_string(Path::new(log)).unwrap(),
        "runner got /workspace/test/deep/x.t\n"
    );
}

/// `--container-engine auto` takes docker when both are there, and says so with `-v`.
#[test]
fn auto_prefers_docker_and_says_so() {
    let _sweeps = runs_may_sweep();
    let e = Engine::get(Variant::Docker).expect("docker");
    let s = sandbox();
    s.write("test/a_test.sh", "exit 0\n");
    let out = warden(&e, &s)
        .args(["--container", "--container-image", IMAGE, "-v"])
        .args(["--container-engine", "auto"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.contains("container engine: docker "),
        "{}",
        out.describe()
    );
}

/// `--container-engine auto` takes podman when docker is not there.
#[test]
fn auto_takes_podman_without_docker() {
    let _sweeps = runs_may_sweep();
    let Some(e) = Engine::get(Variant::Podman) else {
        return;
    };
    let s = sandbox();
    s.write("test/a_test.sh", "exit 0\n");
    // A PATH with podman and nothing else of the engines'.
    let bin = s.mkdir("bin");
    std::os::unix::fs::symlink(which("podman"), bin.join("podman")).unwrap();
    let out = warden(&e, &s)
        .args(["--container", "--container-image", IMAGE, "-v"])
        .env("PATH", &bin)
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    assert!(
        out.stderr.contains("container engine: podman "),
        "{}",
        out.describe()
    );
}

/// The absolute path of `program` in PATH.
fn which(program: &str) -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("{program} is not in PATH"))
}

/// How long the container pause test keeps warden stopped: longer than the test's timeout.
const PAUSE: Duration = Duration::from_millis(4500);

/// Ctrl-Z pauses containers as it freezes process trees (`pause` / `unpause`): the test's
/// clock ticks (the host's uptime, seen from inside) stand still while warden is stopped, and
/// a test paused for longer than its timeout still passes. Its peak memory and CPU time come
/// from its cgroup, as a process's do.
fn sigtstp_pauses_containers_and_their_usage_is_measured(e: &Engine) {
    let _sweeps = runs_may_sweep();
    let s = sandbox();
    s.write(
        "test/ticker_test.sh",
        "i=0\nwhile [ $i -lt 8 ]; do cut -d' ' -f1 /proc/uptime; i=$((i+1)); sleep 0.2; done\n\
         head -c 20000000 /dev/zero | tail -c 1 >/dev/null\n",
    );
    let running = warden(e, &s)
        .args(["--container", "--container-image", IMAGE])
        .args(e.choice())
        .args(["--timeout", "4s", "--json", "events.jsonl"])
        .limit(Duration::from_secs(120))
        .spawn()
        .expect("start warden");
    let mut bg = Background(Some(running));
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let run = s
            .read("events.jsonl")
            .ok()
            .and_then(|t| parse_json_lines(&t).ok())
            .and_then(|e| run_id(&e));
        if run.is_some_and(|r| e.running_of(&r) == 1) {
            break;
        }
        assert!(Instant::now() < deadline, "the container never ran");
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    let warden = bg.take();
    warden.signal(libc::SIGTSTP);
    std::thread::sleep(PAUSE);
    warden.signal(libc::SIGCONT);
    let out = warden.wait().expect("warden ends");
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let events = read_events(&s, "events.jsonl", &out);
    let finished = finished_by_id(&events).unwrap();
    let t = &finished["test/ticker_test.sh"];
    let ticks: Vec<f64> = std::fs::read_to_string(t["log"].as_str().expect("a log"))
        .unwrap()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    let longest = ticks.windows(2).map(|w| w[1] - w[0]).fold(0.0, f64::max);
    assert_eq!(ticks.len(), 8, "{}", out.describe());
    assert!(t["duration_ms"].as_u64() < Some(4000), "{t}");
    // Rootless podman on cgroup v1 has no cgroup of the container's own: nothing to freeze
    // or to measure (`podman pause` refuses), so the test runs through the pause.
    if !e.enforces_limits() {
        return;
    }
    assert!(
        longest >= PAUSE.as_secs_f64() - 0.5,
        "{} ticks, longest gap {longest} s: the container was not paused",
        ticks.len()
    );
    assert!(t["peak_rss_bytes"].as_u64() > Some(0), "{t}");
    assert!(t["cpu_ms"].as_u64().is_some(), "{t}");
}

/// `@net: private` in a container is `--network none` whatever `[container] network` says
/// (issue 16), and the events say which network each test had.
#[test]
fn net_private_is_network_none_in_a_container() {
    let _sweeps = runs_may_sweep();
    let e = Engine::get(Variant::Docker).expect("docker");
    let s = sandbox();
    s.write("warden.toml", "[container]\nnetwork = \"bridge\"\n");
    s.write(
        "test/own_test.sh",
        "# @net: private\nls /sys/class/net\n[ \"$(ls /sys/class/net)\" = lo ]\n",
    );
    s.write(
        "test/bridged_test.sh",
        "ls /sys/class/net\n[ \"$(ls /sys/class/net)\" != lo ]\n",
    );
    let out = warden(&e, &s)
        .args(["--container", "--container-image", IMAGE])
        .args(e.choice())
        .args(["--json", "events.jsonl"])
        .run();
    assert_eq!(out.code, Some(0), "{}", out.describe());
    let events = read_events(&s, "events.jsonl", &out);
    let nets: BTreeMap<String, String> = of_type(&events, "test-started")
        .into_iter()
        .map(|e| {
            (
                e["id"].as_str().unwrap().to_string(),
                e["net"].as_str().unwrap_or("<none>").to_string(),
            )
        })
        .collect();
    assert_eq!(nets["test/own_test.sh"], "private");
    assert_eq!(nets["test/bridged_test.sh"], "bridge");
}
