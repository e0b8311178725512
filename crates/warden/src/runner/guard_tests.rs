//! The runner under the host guard and per-test caps, on real processes and this host's real
//! readings (thresholds are set relative to what the host shows now).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use super::tests::{run_plan, script};
use super::*;
use crate::events::{Event, EventKind, ExitCode, GuardAction, Status, StopReason};
use crate::monitor::{GuardConfig, HostSampler};
use crate::supervise::Limits;
use crate::test_case::TestCase;

/// Each test its own run id: the environment token that finds a test's processes holds it, and
/// the tests of this file run at once in one process with the same test ids.
fn plan(dir: &Path, tests: Vec<TestCase>, guard: Option<GuardConfig>) -> RunPlan {
    let name = dir.file_name().unwrap_or_default().to_string_lossy();
    RunPlan {
        run_id: format!("unit-guard-{}-{name}", std::process::id()),
        default_timeout: Duration::from_secs(20),
        guard,
        ..super::tests::plan(dir, tests)
    }
}

fn guard_events(events: &[Event]) -> Vec<(GuardAction, Option<String>, String)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Guard {
                action, id, reason, ..
            } => Some((*action, id.clone(), reason.clone())),
            _ => None,
        })
        .collect()
}

fn mem_now() -> f64 {
    HostSampler::new().sample().unwrap().mem_used_percent
}

/// Memory above the threshold from the start (it is set below what the host uses): the host
/// is looked at before anything starts, so nothing does; with nothing to requeue the run shuts
/// down after hold + grace with exit 42, every test reported once (as not run).
#[test]
fn memory_over_the_threshold_from_the_start_runs_nothing_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let started = d.join("started");
    let body = format!("echo $$ >> '{}'; sleep 30", started.display());
    let tests = (0..4)
        .map(|i| script(d, &format!("t{i}_test.sh"), &body))
        .collect();
    let threshold = (mem_now() - 5.0).max(0.1);
    let mut config = GuardConfig::new(2, 100.0, threshold, Duration::from_millis(500));
    config.hold = Duration::from_millis(150);
    let t0 = std::time::Instant::now();
    let (outcome, events) = run_plan(plan(d, tests, Some(config)));

    assert_eq!(outcome.exit_code, ExitCode::GUARD);
    assert_eq!(outcome.stopped, Some(StopReason::Guard));
    assert!(
        t0.elapsed() >= Duration::from_millis(650),
        "{:?}",
        t0.elapsed()
    );
    let reason = outcome.guard_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("with no test to requeue"), "{reason}");
    let actions = guard_events(&events);
    let kinds: Vec<GuardAction> = actions.iter().map(|a| a.0).collect();
    assert_eq!(
        kinds,
        [GuardAction::Throttle, GuardAction::Shutdown],
        "{actions:?}"
    );
    assert!(actions[0].2.contains("starting no tests"), "{actions:?}");
    assert!(!started.exists(), "a test started while memory was high");
    assert!(!events.iter().any(|e| matches!(
        e.kind,
        EventKind::TestStarted { .. }
            | EventKind::TestFinished(_)
            | EventKind::TestCancelled { .. }
    )));
    assert_eq!(outcome.totals.not_run, 4);
    match &events.last().unwrap().kind {
        EventKind::RunFinished {
            exit_code, stopped, ..
        } => assert_eq!(
            (*exit_code, *stopped),
            (ExitCode::GUARD, Some(StopReason::Guard))
        ),
        other => panic!("{other:?}"),
    }
}

/// A guard that never has reason to act changes nothing but adds host samples.
#[test]
fn a_calm_guard_only_samples() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let tests = (0..3)
        .map(|i| script(d, &format!("t{i}_test.sh"), "sleep 0.4"))
        .collect();
    let config = GuardConfig::new(2, 100.0, 100.0, Duration::from_secs(5));
    let (outcome, events) = run_plan(plan(d, tests, Some(config)));
    assert_eq!(outcome.exit_code, 0);
    assert_eq!(outcome.totals.passed, 3);
    assert!(guard_events(&events).is_empty());
    let samples: Vec<usize> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ResourceSample { running, .. } => Some(*running),
            _ => None,
        })
        .collect();
    // About 0.8 s of running tests: a sample once the first CPU window ended, at 2 Hz.
    assert!(!samples.is_empty(), "no samples");
    assert!(samples.iter().all(|r| *r <= 2), "{samples:?}");
}

/// A test's own memory limit (marker or suite) wins over the run's; without a memory cgroup
/// here (none given to the plan) it is enforced as an rlimit, with a warning.
#[test]
fn per_test_memory_limit_reaches_the_test() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let alloc = "python3 -c 'b = bytearray(b\"x\") * (150 << 20)'";
    let mut small = script(d, "small_test.sh", alloc);
    small.mem_limit = Some(100 << 20);
    let big = script(d, "big_test.sh", alloc);
    let mut p = plan(d, vec![small, big], None);
    p.limits = Limits {
        mem_bytes: Some(1 << 30),
        pids: None,
        safe_mode: true,
    };
    let (outcome, events) = run_plan(p);
    let results: BTreeMap<String, Status> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TestFinished(r) => Some((r.id.clone(), r.status)),
            _ => None,
        })
        .collect();
    assert_eq!(results["small_test.sh"], Status::Fail);
    assert_eq!(results["big_test.sh"], Status::Pass);
    assert_eq!(outcome.exit_code, 1);
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::Warning(w) if w.contains("RLIMIT_AS")
    )));
}
