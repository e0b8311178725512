//! The scheduler on tokio's paused clock, with a scripted launcher in place of processes and
//! containers and scripted host readings in place of `/proc`: parallelism, retries, fail-fast,
//! slow-test reports and the host guard's decisions, checked against virtual time. Nothing is
//! spawned and no wall clock is read; `tests.rs` and `guard_tests.rs` keep the real-process
//! cases beside these.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::host_watch::HostSource;
use super::launch::{Launched, Launcher};
use super::tests::finished;
use super::*;
use crate::events::{Event, EventKind, GuardAction, Status, StopReason};
use crate::exit_code::ExitCode;
use crate::monitor::{GuardConfig, MonitorError, Reading};
use crate::supervise::{Cancel, Exit, ProcessOutcome, SpawnSpec, Usage};
use crate::test_case::TestCase;

/// What one attempt of a test does.
#[derive(Debug, Clone)]
pub(super) enum Step {
    /// Runs for this long, then exits with this code.
    Exit(Duration, i32),
    /// The supervisor task panics with this message.
    Panic(&'static str),
}

/// How long a scripted test takes to go once cancelled (its TERM → exit).
const GOES_IN: Duration = Duration::from_millis(100);

/// Attempts by test id; a test without a script passes after a second, and the last step
/// of a script repeats.
#[derive(Default)]
pub(super) struct Scripted(pub HashMap<String, Vec<Step>>);

impl Launcher for Scripted {
    fn launch(
        &self,
        _spec: SpawnSpec,
        id: &str,
        attempt: u32,
        mut cancel: watch::Receiver<Cancel>,
    ) -> Launched {
        let steps = self.0.get(id).cloned().unwrap_or_default();
        let step = steps
            .get(attempt as usize - 1)
            .or(steps.last())
            .cloned()
            .unwrap_or(Step::Exit(Duration::from_secs(1), 0));
        Box::pin(async move {
            let t0 = Instant::now();
            let (after, code) = match step {
                Step::Panic(msg) => panic!("{msg}"),
                Step::Exit(after, code) => (after, code),
            };
            let cancelled = async {
                while *cancel.borrow() == Cancel::No {
                    if cancel.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
            };
            let exit = tokio::select! {
                _ = sleep(after) => Exit::Code(code),
                _ = cancelled => {
                    sleep(GOES_IN).await;
                    Exit::Cancelled
                }
            };
            outcome(exit, t0.elapsed())
        })
    }
}

fn outcome(exit: Exit, duration: Duration) -> ProcessOutcome {
    ProcessOutcome {
        exit,
        duration,
        output: Default::default(),
        log: None,
        tap: None,
        leaked: Vec::new(),
        notes: Vec::new(),
        usage: Usage::default(),
    }
}

/// Host readings in order; the last one repeats.
struct Host(VecDeque<Reading>);

impl HostSource for Host {
    fn sample(&mut self) -> Result<Reading, MonitorError> {
        let r = match self.0.len() {
            0 | 1 => self.0.front().cloned().unwrap_or_else(|| mem(50.0)),
            _ => self.0.pop_front().unwrap_or_else(|| mem(50.0)),
        };
        Ok(r)
    }
}

/// A reading with this much memory in use and a calm CPU.
fn mem(percent: f64) -> Reading {
    Reading {
        cpu_percent: Some(10.0),
        mem_used_percent: percent,
        mem_total_bytes: 16 << 30,
        mem_available_bytes: ((100.0 - percent) / 100.0 * (16u64 << 30) as f64) as u64,
        cpu_pressure: None,
        mem_pressure: None,
    }
}

/// A test that is never run for real (the launcher is scripted).
fn test(id: &str) -> TestCase {
    let mut t = TestCase::for_test(id);
    t.command = Ok(vec![format!("./{id}")]);
    t
}

fn plan(dir: &Path, ids: &[&str]) -> RunPlan {
    super::tests::plan(dir, ids.iter().map(|id| test(id)).collect())
}

pub(super) async fn run_scripted(
    plan: RunPlan,
    script: Scripted,
    readings: Vec<Reading>,
) -> (RunOutcome, Vec<Event>) {
    let seams = Seams {
        launcher: Arc::new(script),
        host: Box::new(move || Box::new(Host(readings.into()))),
    };
    let (_tx, rx) = watch::channel(None);
    let mut events = Vec::new();
    let outcome = run_with(plan, seams, rx, |e| events.push(e)).await;
    (outcome, events)
}

fn script(steps: &[(&str, Vec<Step>)]) -> Scripted {
    Scripted(
        steps
            .iter()
            .map(|(id, s)| (id.to_string(), s.clone()))
            .collect(),
    )
}

fn secs(s: f64) -> Duration {
    Duration::from_secs_f64(s)
}

#[tokio::test(start_paused = true)]
async fn two_workers_run_four_one_second_tests_in_two_seconds() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), &["a", "b", "c", "d"]);
    let (outcome, events) = run_scripted(p, Scripted::default(), Vec::new()).await;
    assert_eq!(
        (outcome.exit_code, outcome.totals.passed),
        (ExitCode::PASSED, 4)
    );
    assert!(
        outcome.duration >= secs(2.0) && outcome.duration < secs(2.1),
        "{:?}",
        outcome.duration
    );
    // Never more than two at once.
    let mut running = 0i32;
    for e in &events {
        match e.kind {
            EventKind::TestStarted { .. } => running += 1,
            EventKind::TestFinished(_) => running -= 1,
            _ => {}
        }
        assert!(running <= 2);
    }
}

#[tokio::test(start_paused = true)]
async fn a_failure_then_a_pass_is_flaky_after_one_retry() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(dir.path(), &["flaky"]);
    p.retries = 2;
    let steps = vec![Step::Exit(secs(1.0), 1), Step::Exit(secs(1.0), 0)];
    let (outcome, events) = run_scripted(p, script(&[("flaky", steps)]), Vec::new()).await;
    let r = &finished(&events)["flaky"];
    assert_eq!((r.status, r.attempt), (Status::Flaky, 2));
    let retries = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::TestRetrying(_)))
        .count();
    assert_eq!(retries, 1);
    assert_eq!(
        (outcome.totals.flaky, outcome.exit_code),
        (1, ExitCode::PASSED)
    );

    // Failing every attempt: one result, the last attempt's.
    let mut p = plan(dir.path(), &["broken"]);
    p.retries = 2;
    let steps = vec![Step::Exit(secs(0.5), 3)];
    let (outcome, events) = run_scripted(p, script(&[("broken", steps)]), Vec::new()).await;
    let r = &finished(&events)["broken"];
    assert_eq!(
        (r.status, r.attempt, r.exit_code),
        (Status::Fail, 3, Some(3))
    );
    assert_eq!(outcome.exit_code, 1);
    assert_eq!(outcome.duration, secs(1.5));
}

#[tokio::test(start_paused = true)]
async fn fail_fast_cancels_what_runs_and_starts_nothing_more() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(dir.path(), &["a_fail", "b_slow", "c0", "c1", "c2"]);
    p.fail_fast = true;
    let steps = [
        ("a_fail", vec![Step::Exit(secs(1.0), 1)]),
        ("b_slow", vec![Step::Exit(secs(30.0), 0)]),
    ];
    let (outcome, events) = run_scripted(p, script(&steps), Vec::new()).await;
    assert_eq!(outcome.stopped, Some(StopReason::FailFast));
    assert_eq!(outcome.exit_code, 1);
    let t = &outcome.totals;
    assert_eq!((t.failed, t.cancelled, t.not_run), (1, 1, 3));
    // Stopped when the failure came, plus the time the slow one took to go.
    assert_eq!(outcome.duration, secs(1.0) + GOES_IN);
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::TestCancelled { id, reason: StopReason::FailFast, .. } if id == "b_slow"
    )));
}

#[tokio::test(start_paused = true)]
async fn a_slow_test_is_reported_at_each_multiple() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(dir.path(), &["slow"]);
    p.slow_after = Some(secs(1.0));
    let steps = [("slow", vec![Step::Exit(secs(2.5), 0)])];
    let (_, events) = run_scripted(p, script(&steps), Vec::new()).await;
    let slow: Vec<Duration> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::TestSlow { elapsed, .. } => Some(*elapsed),
            _ => None,
        })
        .collect();
    assert_eq!(slow, [secs(1.0), secs(2.0)]);
}

fn guard_events(events: &[Event]) -> Vec<(GuardAction, Option<String>)> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Guard { action, id, .. } => Some((*action, id.clone())),
            _ => None,
        })
        .collect()
}

/// Memory above the threshold from the first reading: nothing starts, and with nothing to
/// requeue the run shuts down after the hold, exit 42, every test counted as not run.
#[tokio::test(start_paused = true)]
async fn memory_high_from_the_start_runs_nothing_and_shuts_down() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(dir.path(), &["t0", "t1", "t2", "t3"]);
    let mut config = GuardConfig::new(2, 100.0, 80.0, secs(0.5));
    config.hold = secs(0.15);
    p.guard = Some(config);
    let (outcome, events) = run_scripted(p, Scripted::default(), vec![mem(90.0)]).await;
    assert_eq!(outcome.exit_code, ExitCode::GUARD);
    assert_eq!(outcome.stopped, Some(StopReason::Guard));
    let reason = outcome.guard_reason.as_deref().unwrap_or_default();
    assert!(reason.contains("with no test to requeue"), "{reason}");
    let actions: Vec<GuardAction> = guard_events(&events).iter().map(|a| a.0).collect();
    assert_eq!(actions, [GuardAction::Throttle, GuardAction::Shutdown]);
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, EventKind::TestStarted { .. })));
    assert_eq!(outcome.totals.not_run, 4);
    // Shut down at the first sample past hold + grace (samples every 100 ms when near).
    assert!(outcome.duration >= secs(0.65) && outcome.duration <= secs(0.8));
}

/// Memory fills while two tests run: the youngest is terminated and requeued; once memory is
/// back it runs again and passes, reported once.
#[tokio::test(start_paused = true)]
async fn memory_filling_up_requeues_the_youngest_test() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(dir.path(), &["old", "young"]);
    p.workers = 2;
    p.guard = Some(GuardConfig::new(2, 100.0, 80.0, secs(5.0)));
    let steps = [
        ("old", vec![Step::Exit(secs(3.0), 0)]),
        ("young", vec![Step::Exit(secs(3.0), 0)]),
    ];
    // The first reading lets both start (the older one first); memory is high for a second
    // from the fifth sample (1 s in), then calm for good.
    let mut readings: Vec<Reading> = (0..4).map(|_| mem(50.0)).collect();
    readings.extend((0..10).map(|_| mem(90.0)));
    readings.push(mem(50.0));
    let (outcome, events) = run_scripted(p, script(&steps), readings).await;
    assert_eq!(outcome.exit_code, 0, "{:?}", guard_events(&events));
    assert_eq!(outcome.totals.passed, 2);
    let requeues: Vec<Option<String>> = guard_events(&events)
        .into_iter()
        .filter(|a| a.0 == GuardAction::Requeue)
        .map(|a| a.1)
        .collect();
    assert!(!requeues.is_empty(), "{:?}", guard_events(&events));
    assert!(events.iter().any(|e| matches!(
        &e.kind,
        EventKind::TestRequeued { id, .. } if requeues.contains(&Some(id.clone()))
    )));
    assert_eq!(finished(&events).len(), 2, "each test reported once");
}

/// A panic in one test's supervisor task is that test's error, with the panic's message; the
/// other tests run and the run ends as usual, with `run-finished`.
#[tokio::test(start_paused = true)]
async fn a_panicking_supervisor_is_an_error_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let p = plan(dir.path(), &["a", "boom", "c", "d"]);
    let steps = [("boom", vec![Step::Panic("driver bug at phase 2")])];
    let (outcome, events) = run_scripted(p, script(&steps), Vec::new()).await;
    let results = finished(&events);
    assert_eq!(results["boom"].status, Status::Error);
    let msg = results["boom"].message.clone().unwrap_or_default();
    assert!(msg.contains("panicked: driver bug at phase 2"), "{msg}");
    for id in ["a", "c", "d"] {
        assert_eq!(results[id].status, Status::Pass, "{id}");
    }
    assert_eq!(
        (outcome.exit_code, outcome.totals.errors),
        (ExitCode::FAILED, 1)
    );
    assert!(matches!(
        events.last().map(|e| &e.kind),
        Some(EventKind::RunFinished {
            exit_code: ExitCode::FAILED,
            ..
        })
    ));
}

/// A guard that never has reason to act changes nothing but adds host samples: one every
/// half second at most once the first CPU window ended, each counting the running tests.
#[tokio::test(start_paused = true)]
async fn a_calm_guard_only_samples() {
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(dir.path(), &["t0", "t1", "t2"]);
    p.guard = Some(GuardConfig::new(2, 100.0, 100.0, secs(5.0)));
    let (outcome, events) = run_scripted(p, Scripted::default(), vec![mem(50.0)]).await;
    assert_eq!(
        (outcome.exit_code, outcome.totals.passed),
        (ExitCode::PASSED, 3)
    );
    assert!(guard_events(&events).is_empty());
    let running: Vec<usize> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ResourceSample { running, .. } => Some(*running),
            _ => None,
        })
        .collect();
    // Two seconds of tests at 2 Hz: samples at 0 (before any started), 0.5, 1, 1.5 and 2 s
    // (a sample due as tests end is taken first).
    assert_eq!(running, [0, 2, 2, 1, 1], "{running:?}");
}
