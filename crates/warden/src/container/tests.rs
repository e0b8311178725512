//! Containers on the real engines with the busybox test image: statuses, hardening as the
//! engine reports it, timeouts and cancellation, OOM, and that nothing is left behind. Each
//! test runs on docker, podman and podman through its service (`per_engine!`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;

use super::cleanup::list_containers;
use super::config::ContainerConfig;
use super::engine::{Engine, EngineKind};
use super::run::{engine_cmd, run_test_in_container};
use super::spec::ContainerRun;
use super::testing::{per_engine, test_image, variant_name};
use crate::supervise::{
    Cancel, CaptureSpec, Exit, Limits, MemCapBy, ProcessOutcome, SpawnSpec, TapMode,
};

/// A project with one test script `test/<name>` and a container run over it; the run id is
/// unique so the label queries below see only this test's containers.
struct Project {
    dir: tempfile::TempDir,
    run: ContainerRun,
    /// Never sent on: a dropped sender would count as a cancellation.
    idle: watch::Sender<Cancel>,
}

fn project(engine: &Engine, tag: &str, config: ContainerConfig) -> Project {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("test")).unwrap();
    let variant = variant_name(engine);
    let run = ContainerRun {
        engine: engine.clone(),
        config: Arc::new(config),
        image: test_image(),
        run_id: format!("ctest-{}-{tag}-{variant}", std::process::id()),
        project: dir.path().to_path_buf(),
        cid_dir: dir.path().join("cids"),
        coverage_root: None,
    };
    Project {
        dir,
        run,
        idle: watch::channel(Cancel::No).0,
    }
}

impl Project {
    /// A `sh` script under test/ and the spec the scheduler would make for it.
    fn script(&self, name: &str, body: &str, timeout: Duration) -> SpawnSpec {
        let path = self.dir.path().join("test").join(name);
        std::fs::write(&path, format!("{body}\n")).unwrap();
        SpawnSpec {
            argv: vec!["sh".into(), path.to_string_lossy().into_owned()],
            cwd: path.parent().unwrap().to_path_buf(),
            env: vec![
                ("WARDEN_RUN_ID".into(), self.run.run_id.clone()),
                ("WARDEN_TEST_ID".into(), format!("test/{name}")),
                ("WARDEN_WORKER".into(), "0".into()),
                ("TMPDIR".into(), "/host/tmp/w0".into()),
            ],
            timeout,
            grace: Duration::from_secs(1),
            capture: Some(CaptureSpec {
                log_path: Some(self.dir.path().join(format!("{name}.log"))),
                tap: TapMode::Detect,
                echo: None,
            }),
            cgroup: None,
            token: Vec::new(),
            mark: None,
            controllers: None,
            limits: Limits::default(),
            net: crate::supervise::Network::Host,
        }
    }

    async fn run(&self, spec: &SpawnSpec, cancel: watch::Receiver<Cancel>) -> ProcessOutcome {
        let id = spec.env[1].1.clone();
        run_test_in_container(&self.run, spec, &id, 1, cancel).await
    }

    fn no_cancel(&self) -> watch::Receiver<Cancel> {
        self.idle.subscribe()
    }

    /// Nothing of this run is left in the engine, and no cidfile on disk.
    fn assert_nothing_left(&self) {
        let left = list_containers(&self.run.engine, Some(&self.run.run_id)).unwrap();
        assert!(left.is_empty(), "containers left: {left:?}");
        let cids = std::fs::read_dir(&self.run.cid_dir)
            .map(|d| d.count())
            .unwrap_or(0);
        assert_eq!(cids, 0, "cidfiles left in {}", self.run.cid_dir.display());
    }
}

fn text(o: &ProcessOutcome) -> String {
    let mut b = o.output.head.clone();
    b.extend_from_slice(&o.output.tail);
    String::from_utf8_lossy(&b).into_owned()
}

per_engine!(
    async pass_and_fail_with_output_and_environment,
    runs_hardened_and_the_engine_says_so,
    timeout_kills_and_removes_the_container,
    cancel_at_any_moment_leaves_nothing,
    over_the_memory_limit_is_oom,
    commands_that_cannot_start_are_errors,
);

async fn pass_and_fail_with_output_and_environment(engine: Engine) {
    let p = project(&engine, "passfail", ContainerConfig::default());
    let pass = p.script(
        "pass_test.sh",
        "echo \"id=$WARDEN_TEST_ID run=$WARDEN_RUN_ID pwd=$PWD tmp=$TMPDIR\"; echo to-stderr >&2",
        Duration::from_secs(60),
    );
    let o = p.run(&pass, p.no_cancel()).await;
    assert_eq!(o.exit, Exit::Code(0), "{}", text(&o));
    let out = text(&o);
    assert!(
        out.contains(&format!(
            "id=test/pass_test.sh run={} pwd=/workspace/test tmp=/tmp",
            p.run.run_id
        )),
        "{out}"
    );
    assert!(out.contains("to-stderr"), "{out}");
    let log = std::fs::read_to_string(o.log.as_ref().unwrap()).unwrap();
    assert_eq!(log, out);

    let fail = p.script(
        "fail_test.sh",
        "echo failing; exit 3",
        Duration::from_secs(60),
    );
    let o = p.run(&fail, p.no_cancel()).await;
    assert_eq!(o.exit, Exit::Code(3));
    assert!(text(&o).contains("failing"));

    let tap = p.script(
        "tap_test.sh",
        "echo 1..2; echo ok 1; echo 'not ok 2'",
        Duration::from_secs(60),
    );
    let o = p.run(&tap, p.no_cancel()).await;
    let report = o.tap.expect("TAP parsed");
    assert!(report.is_tap && report.failure_reason().is_some());

    let killed = p.script("signal_test.sh", "kill -9 $$", Duration::from_secs(60));
    assert_eq!(p.run(&killed, p.no_cancel()).await.exit, Exit::Signal(9));
    p.assert_nothing_left();
}

async fn runs_hardened_and_the_engine_says_so(engine: Engine) {
    let p = project(&engine, "hardened", ContainerConfig::default());
    // Each check prints its verdict; the test then stays up so its container can be inspected.
    let spec = p.script(
        "hardened_test.sh",
        r#"
fail=0
[ "$(id -u):$(id -g)" = "65534:65534" ] && echo uid-ok || { echo "uid: $(id)"; fail=1; }
touch /root-write 2>/dev/null && { echo "root fs writable"; fail=1; } || echo rootfs-ro
touch /workspace/ws-write 2>/dev/null && { echo "workspace writable"; fail=1; } || echo ws-ro
[ "$(ls /sys/class/net)" = "lo" ] && echo net-lo-only || { echo "net: $(ls /sys/class/net)"; fail=1; }
echo x > /tmp/t && echo tmp-writable || { echo "tmp not writable"; fail=1; }
grep -q '^CapBnd:[[:space:]]*0*$' /proc/self/status && echo no-caps || { grep Cap /proc/self/status; fail=1; }
grep -q '^NoNewPrivs:[[:space:]]*1' /proc/self/status && echo nnp || { echo "NoNewPrivs off"; fail=1; }
sleep 4
exit $fail
"#,
        Duration::from_secs(60),
    );
    let name = super::spec::container_name(&p.run.run_id, "test/hardened_test.sh", 1);
    let (format, expected) = hardening_seen_by(&engine);
    let inspect = async {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let out = engine_cmd(&engine, &["inspect", "--format", &format, &name]).await;
            if let Some(o) = out.filter(|o| o.success) {
                return o.stdout;
            }
            assert!(
                Instant::now() < deadline,
                "container {name} never showed up"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    let (o, seen) = tokio::join!(p.run(&spec, p.no_cancel()), inspect);
    let out = text(&o);
    assert_eq!(o.exit, Exit::Code(0), "{out}");
    for word in [
        "uid-ok",
        "rootfs-ro",
        "ws-ro",
        "net-lo-only",
        "tmp-writable",
        "no-caps",
        "nnp",
    ] {
        assert!(out.contains(word), "{word} missing: {out}");
    }
    assert!(seen.starts_with(&expected), "{seen}\nexpected: {expected}");
    assert!(
        seen.contains(&format!("\"warden.run\":\"{}\"", p.run.run_id)),
        "{seen}"
    );
    assert!(
        seen.contains("\"warden.test\":\"test/hardened_test.sh\""),
        "{seen}"
    );
    p.assert_nothing_left();
}

/// The `inspect` format that shows the hardening, and how its answer starts. docker keeps
/// `CapDrop` as given (`["ALL"]`); podman expands it to the capabilities it dropped and reports
/// what is left in `EffectiveCaps` (`null`: none).
fn hardening_seen_by(engine: &Engine) -> (String, String) {
    let caps = match engine.kind {
        EngineKind::Docker => ("{{json .HostConfig.CapDrop}}", "[\"ALL\"]"),
        EngineKind::Podman => ("{{json .EffectiveCaps}}", "null"),
    };
    let format = format!(
        "{} {{{{.HostConfig.ReadonlyRootfs}}}} {{{{.HostConfig.NetworkMode}}}} \
         {{{{json .HostConfig.SecurityOpt}}}} {{{{.Config.User}}}} {{{{.HostConfig.PidsLimit}}}} \
         {{{{.HostConfig.Init}}}} {{{{json .Config.Labels}}}}",
        caps.0
    );
    let expected = format!(
        "{} true none [\"no-new-privileges\"] 65534:65534 512 true {{",
        caps.1
    );
    (format, expected)
}

async fn timeout_kills_and_removes_the_container(engine: Engine) {
    let p = project(&engine, "timeout", ContainerConfig::default());
    let spec = p.script(
        "hang_test.sh",
        "echo started; trap '' TERM; sleep 300",
        Duration::from_secs(2),
    );
    let started = Instant::now();
    let o = p.run(&spec, p.no_cancel()).await;
    assert_eq!(o.exit, Exit::TimedOut);
    assert!(text(&o).contains("started"));
    // 2 s timeout + 1 s grace (TERM is ignored) + engine overhead.
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "{:?}",
        started.elapsed()
    );
    p.assert_nothing_left();
}

async fn cancel_at_any_moment_leaves_nothing(engine: Engine) {
    let p = project(&engine, "cancel", ContainerConfig::default());
    let spec = p.script("long_test.sh", "sleep 300", Duration::from_secs(120));
    // Cancelled before the container exists, while it is being created, and while it runs.
    for delay_ms in [0u64, 150, 2000] {
        let (tx, rx) = watch::channel(Cancel::No);
        let cancel = async {
            tokio::time::sleep(Duration::from_millis(delay_ms)).await;
            tx.send(Cancel::Now).unwrap();
        };
        let started = Instant::now();
        let (o, ()) = tokio::join!(p.run(&spec, rx), cancel);
        assert_eq!(o.exit, Exit::Cancelled, "after {delay_ms} ms");
        assert!(started.elapsed() < Duration::from_secs(30));
        p.assert_nothing_left();
    }
}

async fn over_the_memory_limit_is_oom(engine: Engine) {
    let config = ContainerConfig {
        memory: Some(32 << 20),
        ..ContainerConfig::default()
    };
    let p = project(&engine, "oom", config);
    // Over the limit at once: one read(2) of /dev/zero into a 100 MiB buffer takes the memory
    // inside the kernel, with no return to user code between pages. A hog that grows between
    // its own instructions (`head -c 100m /dev/zero | tail`) can make a v1 memory cgroup evict
    // and refault its program text for minutes instead of killing it (seen with docker: 4
    // containers of 12 still running after 30 s; with dd, 48 of 48 killed at once).
    let spec = p.script(
        "oom_test.sh",
        "dd if=/dev/zero of=/dev/null bs=100M count=1",
        Duration::from_secs(60),
    );
    let o = p.run(&spec, p.no_cancel()).await;
    assert!(o.usage.oom_killed, "{:?} {}", o.exit, text(&o));
    assert_eq!(o.usage.mem_limit, Some((32 << 20, MemCapBy::Cgroup)));
    assert_eq!(o.exit, Exit::Signal(9));
    p.assert_nothing_left();
}

async fn commands_that_cannot_start_are_errors(engine: Engine) {
    let p = project(&engine, "nostart", ContainerConfig::default());
    let mut spec = p.script("x_test.sh", "true", Duration::from_secs(60));
    spec.argv = vec!["no-such-program".into()];
    match p.run(&spec, p.no_cancel()).await.exit {
        Exit::SpawnFailed(msg) => assert!(msg.contains("no-such-program"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // A test outside the mounted project cannot be run in it.
    spec.cwd = "/".into();
    match p.run(&spec, p.no_cancel()).await.exit {
        Exit::SpawnFailed(msg) => assert!(msg.contains("outside the project"), "{msg}"),
        other => panic!("{other:?}"),
    }
    // An image that is not there: the engine's own error, not a crash.
    let mut missing = project(&engine, "noimage", ContainerConfig::default());
    missing.run.image = "warden-test-no-such-image:0".into();
    let spec = missing.script("y_test.sh", "true", Duration::from_secs(60));
    match missing.run(&spec, missing.no_cancel()).await.exit {
        Exit::SpawnFailed(msg) => assert!(msg.starts_with("cannot start the container: "), "{msg}"),
        other => panic!("{other:?}"),
    }
    p.assert_nothing_left();
    missing.assert_nothing_left();
}
