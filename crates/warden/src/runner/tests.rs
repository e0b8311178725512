//! The runner on real processes: statuses, retries, fail-fast, timeouts and what is left behind.
//! Timing and the scheduler's decisions are checked on a paused clock in `scripted_tests.rs`.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use tokio::sync::watch;

use super::*;
use crate::events::{Event, EventKind, ExitCode, Status, TestResult};
use crate::test_case::TestCase;

/// An executable `#!/bin/sh` test with `body`, written into `dir`. Shared with caps_tests.
pub(super) fn script(dir: &Path, name: &str, body: &str) -> TestCase {
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut t = TestCase::for_test(name);
    t.command = Ok(vec![path.to_string_lossy().into_owned()]);
    t.path = path;
    t
}

/// A plan with this file's defaults; shared with caps_tests.
pub(super) fn plan(dir: &Path, tests: Vec<TestCase>) -> RunPlan {
    RunPlan {
        run_id: format!("unit-{}", std::process::id()),
        tests,
        workers: 2,
        default_timeout: Duration::from_secs(10),
        grace: Duration::from_millis(300),
        max_fail: None,
        fail_fast: false,
        retries: 0,
        capture: true,
        run_skipped: false,
        leak_fails: false,
        root: dir.to_path_buf(),
        run_dir: None,
        carried: Vec::new(),
        resumed_from: None,
        cgroup: None,
        controllers: None,
        limits: crate::supervise::Limits::default(),
        guard: None,
        temp_root: dir.join("tmp"),
        container: None,
        sample_host: false,
        argv: Vec::new(),
        exit_when_empty: ExitCode::PASSED,
        slow_after: None,
        alone: Default::default(),
        partition: None,
        coverage: None,
    }
}

/// Run `p` on a fresh runtime and collect its events; shared with caps_tests.
pub(super) fn run_plan(p: RunPlan) -> (RunOutcome, Vec<Event>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (_tx, rx) = watch::channel(None);
    let mut events = Vec::new();
    let outcome = rt.block_on(run(p, rx, |e| events.push(e)));
    (outcome, events)
}

pub(super) fn finished(events: &[Event]) -> BTreeMap<String, TestResult> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TestFinished(r) => Some((r.id.clone(), (**r).clone())),
            _ => None,
        })
        .collect()
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .map(|s| !s.contains(") Z "))
        .unwrap_or(false)
}

#[test]
fn statuses_from_exit_codes_and_output() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mut skip = script(d, "marked_test.sh", "exit 1");
    skip.skip = Some("not today".into());
    let mut broken = script(d, "broken_test.sh", "exit 0");
    broken.command = Err("broken_test.sh: no interpreter".into());
    let tests = vec![
        script(d, "pass_test.sh", "echo hello; echo oops >&2"),
        script(d, "fail_test.sh", "exit 3"),
        script(d, "skip_test.sh", "exit 77"),
        script(d, "signal_test.sh", "kill -SEGV $$"),
        script(d, "env_test.sh", "test \"$WARDEN_TEST_ID\" = env_test.sh && test -d \"$TMPDIR\" && test \"$WARDEN_ATTEMPT\" = 1"),
        script(d, "stdin_test.sh", "read x && exit 1; exit 0"),
        skip,
        broken,
    ];
    let (outcome, events) = run_plan(plan(d, tests));
    let r = finished(&events);
    assert_eq!(r["pass_test.sh"].status, Status::Pass);
    assert_eq!(r["pass_test.sh"].output.head, b"hello\noops\n");
    assert_eq!(r["fail_test.sh"].status, Status::Fail);
    assert_eq!(r["fail_test.sh"].exit_code, Some(3));
    assert_eq!(r["skip_test.sh"].status, Status::Skip);
    assert_eq!(r["signal_test.sh"].status, Status::Fail);
    assert_eq!(r["signal_test.sh"].signal.as_deref(), Some("SIGSEGV"));
    assert_eq!(
        r["env_test.sh"].status,
        Status::Pass,
        "{:?}",
        r["env_test.sh"]
    );
    assert_eq!(r["stdin_test.sh"].status, Status::Pass);
    assert_eq!(r["marked_test.sh"].status, Status::Skip);
    assert_eq!(r["marked_test.sh"].message.as_deref(), Some("not today"));
    assert_eq!(r["broken_test.sh"].status, Status::Error);
    assert_eq!(outcome.exit_code, 1);
    assert_eq!(
        (
            outcome.totals.passed,
            outcome.totals.failed,
            outcome.totals.skipped
        ),
        (3, 2, 2)
    );
    assert_eq!(outcome.totals.errors, 1);
    assert!(!d.join("tmp").exists(), "private temp dirs are removed");
}

#[test]
fn timeout_kills_the_whole_group_within_grace() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pidfile = d.join("pids");
    let mut hang = script(
        d,
        "hang_test.sh",
        &format!(
            "trap '' TERM; sleep 300 & echo $! > '{}'; echo $$ >> '{}'; wait",
            pidfile.display(),
            pidfile.display()
        ),
    );
    hang.timeout = Some(Duration::from_millis(500));
    let (outcome, events) = run_plan(plan(d, vec![hang]));
    let r = finished(&events);
    // (When TERM and KILL come is the driver's, checked on a paused clock in its tests.)
    assert_eq!(r["hang_test.sh"].status, Status::Timeout);
    assert_eq!(outcome.exit_code, 1);
    let pids: Vec<i32> = std::fs::read_to_string(&pidfile)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(pids.len(), 2);
    for pid in pids {
        assert!(!alive(pid), "pid {pid} survived the timeout");
    }
}

#[test]
fn leftover_in_group_is_reported_and_killed() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let pidfile = d.join("pid");
    let leaky = script(
        d,
        "leaky_test.sh",
        &format!("sleep 300 & echo $! > '{}'", pidfile.display()),
    );
    let (outcome, events) = run_plan(plan(d, vec![leaky]));
    let r = finished(&events);
    let res = &r["leaky_test.sh"];
    assert_eq!(res.status, Status::Pass);
    assert_eq!(res.leaked.len(), 1, "{res:?}");
    assert_eq!(res.leaked[0].cmd, "sleep 300");
    assert_eq!(outcome.totals.leaky, 1);
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!alive(pid));

    let mut p = plan(d, vec![script(d, "leaky2_test.sh", "sleep 300 &")]);
    p.leak_fails = true;
    let (outcome, events) = run_plan(p);
    assert_eq!(finished(&events)["leaky2_test.sh"].status, Status::Leak);
    assert_eq!(outcome.exit_code, 1);
}

#[test]
fn retries_make_flaky_and_fail_fast_stops() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let marker = d.join("seen");
    let flaky = script(
        d,
        "flaky_test.sh",
        &format!(
            "[ -e '{0}' ] && exit 0; touch '{0}'; exit 1",
            marker.display()
        ),
    );
    let mut p = plan(d, vec![flaky]);
    p.retries = 2;
    let (outcome, events) = run_plan(p);
    assert_eq!(finished(&events)["flaky_test.sh"].status, Status::Flaky);
    assert_eq!(finished(&events)["flaky_test.sh"].attempt, 2);
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::TestRetrying(_)))
            .count(),
        1
    );
    assert_eq!(
        (outcome.totals.flaky, outcome.exit_code),
        (1, ExitCode::PASSED)
    );

    let mut tests = vec![
        script(d, "a_fail_test.sh", "exit 1"),
        script(d, "b_slow_test.sh", "sleep 30"),
    ];
    tests.extend((0..5).map(|i| script(d, &format!("c{i}_test.sh"), "exit 0")));
    let mut p = plan(d, tests);
    p.fail_fast = true;
    p.workers = 2;
    let (outcome, _) = run_plan(p);
    assert_eq!(outcome.stopped, Some(crate::events::StopReason::FailFast));
    assert_eq!(outcome.totals.failed, 1);
    assert_eq!(outcome.totals.cancelled, 1);
    assert_eq!(outcome.totals.not_run, 5);
}

#[test]
fn serial_tests_run_alone() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let lock = d.join("lock");
    let body = format!(
        "if ! mkdir '{0}' 2>/dev/null; then exit 9; fi; sleep 0.2; rmdir '{0}'",
        lock.display()
    );
    let mut tests: Vec<TestCase> = Vec::new();
    for i in 0..3 {
        let mut t = script(d, &format!("s{i}_test.sh"), &body);
        t.serial = true;
        tests.push(t);
    }
    // Parallel tests take the lock too: a serial test overlapping one of them would fail.
    tests.push(script(d, "p_test.sh", &body));
    let (outcome, events) = run_plan(plan(d, tests));
    assert_eq!(outcome.exit_code, 0, "{:?}", finished(&events));
    assert_eq!(outcome.totals.passed, 4);
}

/// `--no-capture`: the output comes as `test-output` events while the test runs, all before
/// its result, and is still captured in the result.
#[test]
fn no_capture_output_comes_as_events_before_the_result() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let t = script(d, "live_test.sh", "echo first; sleep 0.1; echo second >&2");
    let mut p = plan(d, vec![t]);
    p.capture = false;
    let (_, events) = run_plan(p);
    let mut said = Vec::new();
    let mut finished_at = None;
    for (i, e) in events.iter().enumerate() {
        match &e.kind {
            EventKind::TestOutput {
                id, attempt, chunk, ..
            } => {
                assert_eq!((id.as_str(), *attempt), ("live_test.sh", 1));
                assert!(finished_at.is_none(), "output after the result");
                said.extend_from_slice(chunk);
            }
            EventKind::TestFinished(r) => {
                finished_at = Some(i);
                assert_eq!(r.output.total_bytes, 13);
            }
            _ => {}
        }
    }
    assert_eq!(String::from_utf8_lossy(&said), "first\nsecond\n");
    assert!(finished_at.is_some());
}
